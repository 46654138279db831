//! What a user pointing berth at a real AWS account relies on: requests AWS
//! accepts, idempotent creates when responses are lost, tags and Cloud Map
//! services that belong to berth only when they say so, a rollout deadline,
//! and a status that never goes back.

use std::collections::BTreeMap;
use std::time::Duration;

use berth::api::conditions::{is_true, PROGRESSING, READY};
use berth::api::migration_job::Phase;
use berth::api::{EcsService, MigrationJob};
use berth_e2e::examples::{degraded_message, file, migration, ready_on};
use berth_e2e::Env;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(150);

async fn service_tags(env: &Env) -> BTreeMap<String, String> {
    let svc = env.ecs_service_with_tags("shop-api").await;
    svc.tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Mutations berth made, by action.
const MUTATIONS: [&str; 8] = [
    "CreateService",
    "UpdateService",
    "DeleteService",
    "RegisterTaskDefinition",
    "DeregisterTaskDefinition",
    "TagResource",
    "UntagResource",
    "RunTask",
];

fn berth_mutations(env: &Env) -> u64 {
    MUTATIONS
        .iter()
        .map(|a| env.berth_calls("ecs", a))
        .sum::<u64>()
        + env.berth_calls("servicediscovery", "CreateService")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_follow_the_spec_and_drift_is_set_back() {
    let env = Env::new("tags").await;
    env.deploy(&file("api.yaml"), "api", 1, TIMEOUT).await;
    assert_eq!(
        service_tags(&env).await.get("team").map(String::as_str),
        Some("orders")
    );

    // A spec edit: set a new tag, change one, drop none.
    env.apply_yaml(&file("api.yaml").replace(
        "  tags:\n    team: orders\n",
        "  tags:\n    team: payments\n    cost-center: \"42\"\n",
    ))
    .await
    .unwrap();
    env.wait_for("api", "observed generation 2", TIMEOUT, |s: &EcsService| {
        s.status
            .as_ref()
            .is_some_and(|st| st.observed_generation == Some(2))
    })
    .await;
    let tags = service_tags(&env).await;
    assert_eq!(tags.get("team").map(String::as_str), Some("payments"));
    assert_eq!(tags.get("cost-center").map(String::as_str), Some("42"));
    assert_eq!(
        env.berth_calls("ecs", "UpdateService"),
        0,
        "tags are not an UpdateService field"
    );

    // Someone edits the tags in the console: berth sets them back on the
    // next look (the refresh annotation asks for one now).
    let ecs = aws_sdk_ecs::Client::new(&env.aws().await);
    let arn = env
        .api::<EcsService>()
        .get("api")
        .await
        .unwrap()
        .status
        .unwrap()
        .service_arn
        .unwrap();
    ecs.tag_resource()
        .resource_arn(&arn)
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("team")
                .value("hijacked")
                .build(),
        )
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("rogue")
                .value("1")
                .build(),
        )
        .send()
        .await
        .unwrap();
    env.annotate::<EcsService>("api", "berth.dev/refresh", serde_json::json!("tags"))
        .await;
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let tags = service_tags(&env).await;
        if tags.get("team").map(String::as_str) == Some("payments") && !tags.contains_key("rogue") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "tags never set back: {tags:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let events = env.events_for("api").await.join("\n");
    assert!(
        events.contains("DriftCorrected") && events.contains("tags (set team; removed rogue)"),
        "{events}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_tag_value_is_invalid_spec_without_aws_calls() {
    let env = Env::new("bad-tag").await;
    env.deploy(&file("api.yaml"), "api", 1, TIMEOUT).await;
    let before = env.awsim.calls(Some("berth"))["total"].as_u64();
    let mutations = berth_mutations(&env);

    let long = "x".repeat(300);
    env.apply_yaml(&file("api.yaml").replace("    team: orders\n", &format!("    team: {long}\n")))
        .await
        .unwrap();
    let svc = env
        .wait_degraded::<EcsService>("api", "InvalidSpec", TIMEOUT)
        .await;
    let message = degraded_message(&svc);
    assert!(message.contains("spec.tags.team"), "{message}");
    assert_eq!(berth_mutations(&env), mutations);
    assert_eq!(env.awsim.calls(Some("berth"))["total"].as_u64(), before);
    assert_eq!(
        service_tags(&env).await.get("team").map(String::as_str),
        Some("orders")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_map_service_of_someone_else_needs_adopt() {
    let env = Env::new("cloudmap-adopt").await;
    let theirs = env
        .create_cloud_map_service("api", 60)
        .await
        .arn()
        .unwrap()
        .to_string();
    let sd = aws_sdk_servicediscovery::Client::new(&env.aws().await);

    env.apply_yaml(&file("api.yaml")).await.unwrap();
    let svc = env
        .wait_degraded::<EcsService>("api", "AdoptionRequired", TIMEOUT)
        .await;
    let message = degraded_message(&svc);
    assert!(
        message.contains("Cloud Map") && message.contains("spec.adopt"),
        "{message}"
    );
    assert_eq!(env.berth_calls("servicediscovery", "CreateService"), 0);
    assert_eq!(env.berth_calls("ecs", "CreateService"), 0);

    env.merge_patch::<EcsService>("api", json!({"spec": {"adopt": true}}))
        .await;
    let svc = env.wait_ready_on("api", 1, TIMEOUT).await;
    assert_eq!(
        svc.status.unwrap().cloud_map_service_arn.as_deref(),
        Some(theirs.as_str())
    );
    assert_eq!(env.berth_calls("servicediscovery", "CreateService"), 0);
    let tags = sd
        .list_tags_for_resource()
        .resource_arn(&theirs)
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags().iter().any(|t| t.key() == "berth.dev/owner"),
        "{tags:?}"
    );
    assert!(env
        .events_for("api")
        .await
        .join("\n")
        .contains("CloudMapServiceAdopted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_past_its_deadline_is_degraded() {
    // berth measures progressDeadlineSeconds from the ECS deployment's
    // `createdAt` to its own clock. On AWS both are UTC wall clocks, which is
    // right; awsim's clock runs 30 times faster by default, so `createdAt`
    // would lie minutes ahead of berth's clock and the deadline would pass
    // only once real time caught up, after a load-dependent wait. At time
    // scale 1 awsim's clock is the wall clock, as AWS's is, and the deadline
    // passes 30 real seconds after the deployment started. (Advancing
    // awsim's clock would not help: it moves `createdAt` further ahead of
    // the clock berth reads.)
    let env = Env::with_time_scale("deadline", 1.0).await;
    let skew = env.awsim.now() - unix_now();
    assert!(
        skew.abs() < 2.0,
        "awsim's clock is {skew}s off the wall clock"
    );
    // Tasks that never pass their health checks, no circuit breaker to
    // end the rollout: only the deadline does (30 s, the least allowed).
    let manifest = file("api.yaml")
        .replace("shop/api:1.4.2", "shop/api:1.4.2-unhealthy")
        .replace(
            "      enable: true\n      rollback: true\n",
            "      enable: false\n      rollback: false\n",
        )
        .replace(
            "progressDeadlineSeconds: 600",
            "progressDeadlineSeconds: 30",
        );
    env.apply_yaml(&manifest).await.unwrap();
    let svc = env
        .wait_degraded::<EcsService>("api", "ProgressDeadlineExceeded", TIMEOUT)
        .await;
    let message = degraded_message(&svc);
    assert!(
        message.contains("progressDeadlineSeconds (30s)") && message.contains("health checks"),
        "{message}"
    );
    let conditions = svc.status.unwrap().conditions;
    assert!(!is_true(&conditions, READY));

    // Not before the deadline: ECS's deployment started at least 30 s
    // before berth gave up on it. Progressing turned False then (Degraded
    // may have been True since TasksFailing, keeping its older time).
    let gave_up_at = berth::api::conditions::find(&conditions, PROGRESSING)
        .unwrap()
        .last_transition_time
        .0
        .as_second() as f64;
    let deployment = env
        .ecs_service("shop-api")
        .await
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .cloned()
        .unwrap();
    assert_eq!(
        deployment.rollout_state(),
        Some(&aws_sdk_ecs::types::DeploymentRolloutState::InProgress)
    );
    let created = deployment.created_at().unwrap().as_secs_f64();
    assert!(
        gave_up_at - created >= 30.0,
        "ProgressDeadlineExceeded {:.1}s after the deployment was created",
        gave_up_at - created
    );
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Calls berth sent to `service:action` that AWS acted on or lost the
/// answer of, oldest first, as their outcomes: throttled attempts never
/// reach the operation, so they do not count.
fn sent(env: &Env, service: &str, action: &str) -> Vec<String> {
    env.berth_outcomes(service, action)
        .into_iter()
        .filter(|outcome| outcome != "throttled")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_responses_create_nothing_twice() {
    let env = Env::new("lost").await;
    for action in [
        "ecs:CreateService",
        "ecs:RunTask",
        "ecs:RegisterTaskDefinition",
        "servicediscovery:CreateService",
    ] {
        env.awsim.lose_responses(action, 1);
    }
    env.apply_yaml(&migration()).await.unwrap();
    env.deploy(&file("api.yaml"), "api", 1, TIMEOUT).await;
    env.wait_phase("api-migrate", Phase::Succeeded, TIMEOUT)
        .await;
    let lost = env.berth_lost_calls();
    assert_eq!(lost.len(), 4, "every fault fired once: {lost:?}");

    // What berth sent. A create with an idempotency token is sent again
    // right away with the same token, and AWS answers with what the lost
    // call made: the lost call and one retry. RegisterTaskDefinition has no
    // token, so it is sent once and never retried; the next reconcile finds
    // the revision by its hash tag instead of registering a second one.
    for (service, action, want) in [
        ("ecs", "CreateService", &["lost", "ok"][..]),
        ("ecs", "RunTask", &["lost", "ok"][..]),
        ("servicediscovery", "CreateService", &["lost", "ok"][..]),
        ("ecs", "RegisterTaskDefinition", &["lost"][..]),
    ] {
        assert_eq!(
            sent(&env, service, action),
            want,
            "{service}:{action} calls berth sent"
        );
    }

    let ecs = aws_sdk_ecs::Client::new(&env.aws().await);
    // One service.
    let services = ecs.list_services().cluster("shop").send().await.unwrap();
    assert_eq!(services.service_arns().len(), 1, "{services:?}");
    // One revision per hash in every family berth registered.
    let families = ecs.list_task_definition_families().send().await.unwrap();
    for family in families.families() {
        let arns = ecs
            .list_task_definitions()
            .family_prefix(family)
            .send()
            .await
            .unwrap();
        let mut hashes = Vec::new();
        for arn in arns.task_definition_arns() {
            let td = ecs
                .describe_task_definition()
                .task_definition(arn)
                .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
                .send()
                .await
                .unwrap();
            let hash = td
                .tags()
                .iter()
                .find(|t| t.key() == Some("berth.dev/spec-hash"))
                .and_then(|t| t.value())
                .unwrap_or_default()
                .to_string();
            assert!(
                !hashes.contains(&hash),
                "two revisions of {family} with hash {hash}"
            );
            hashes.push(hash);
        }
    }
    // One task per attempt of the migration.
    let job = env.api::<MigrationJob>().get("api-migrate").await.unwrap();
    let st = job.status.unwrap();
    assert_eq!(st.attempts, 1);
    let mut tasks = Vec::new();
    for status in [
        aws_sdk_ecs::types::DesiredStatus::Running,
        aws_sdk_ecs::types::DesiredStatus::Stopped,
    ] {
        let out = ecs
            .list_tasks()
            .cluster("shop")
            .started_by(berth::controller::migration_job::plan::started_by(
                st.run_hash.as_deref().unwrap(),
            ))
            .desired_status(status)
            .send()
            .await
            .unwrap();
        tasks.extend(out.task_arns().iter().cloned());
    }
    assert_eq!(tasks.len(), 1, "{tasks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_from_a_stale_read_cannot_undo_success() {
    let env = Env::new("stale").await;
    env.apply_yaml(&file("api.yaml")).await.unwrap();
    env.apply_yaml(&migration()).await.unwrap();
    let api = env.api::<MigrationJob>();
    let running = env
        .wait_for("api-migrate", "Running", TIMEOUT, |j: &MigrationJob| {
            j.status
                .as_ref()
                .is_some_and(|s| s.phase == Some(Phase::Running))
        })
        .await;
    env.wait_phase("api-migrate", Phase::Succeeded, TIMEOUT)
        .await;

    // What a reconcile holding the older read would write.
    let stale_status = running.status.clone().unwrap();
    let err = berth::controller::status::apply(&api, &running, &stale_status)
        .await
        .expect_err("a write computed from a stale read must be refused");
    assert!(
        matches!(err, berth::controller::error::Error::StaleRead(_)),
        "{err}"
    );
    let now = api.get("api-migrate").await.unwrap();
    assert_eq!(now.status.unwrap().phase, Some(Phase::Succeeded));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_on_immutable_change_is_not_offered() {
    // berth used to accept `replaceOnImmutableChange` and do nothing with
    // it. It is gone from the CRD: a server-side apply naming it is refused
    // with the field named, so nobody relies on a promise berth does not keep.
    let env = Env::new("no-replace").await;
    let err = env
        .apply_yaml(&file("api.yaml").replace(
            "  deletionPolicy: Delete\n",
            "  deletionPolicy: Delete\n  replaceOnImmutableChange: true\n",
        ))
        .await
        .expect_err("an unknown field is refused");
    assert!(
        format!("{err:#}").contains("replaceOnImmutableChange"),
        "{err:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_map_lookups_are_not_repeated_on_every_reconcile() {
    let env = Env::new("cloudmap-lookups").await;
    env.deploy(&file("api.yaml"), "api", 1, TIMEOUT).await;
    // A reconcile that began before Ready may still be looking the registry
    // up: one whole reconcile after it, and every earlier one has finished.
    env.refresh_and_wait::<EcsService>("api", TIMEOUT).await;
    let lookups = |env: &Env| {
        ["ListNamespaces", "ListServices", "GetNamespace"]
            .map(|action| (action, env.berth_calls("servicediscovery", action)))
    };
    let before = lookups(&env);
    assert!(
        before.iter().any(|(_, n)| *n > 0),
        "creating the registry looked its namespace up: {before:?}"
    );
    let describes = env.berth_calls("ecs", "DescribeServices");

    // The ids are in status: reconciles that change nothing do not look
    // them up again.
    for _ in 0..2 {
        env.refresh_and_wait::<EcsService>("api", TIMEOUT).await;
    }
    assert!(
        env.berth_calls("ecs", "DescribeServices") > describes,
        "the reconciles read the service from ECS"
    );
    assert_eq!(lookups(&env), before);
    let svc = env.api::<EcsService>().get("api").await.unwrap();
    assert!(ready_on(1)(&svc));
    assert!(svc.status.unwrap().cloud_map_service_arn.is_some());
}
