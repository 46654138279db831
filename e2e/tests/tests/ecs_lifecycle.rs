//! EcsService behaviour a user notices during releases and incidents:
//! rollbacks, tasks that cannot start, scaling and secrets changed outside
//! berth, Cloud Map changes, drift, pause and deletion.

use std::time::Duration;

use berth::api::conditions::{is_true, READY};
use berth::api::EcsService;
use berth_e2e::examples::{degraded, degraded_message, file, ready_on};
use berth_e2e::{Env, Options};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(120);

async fn refresh(env: &Env, value: &str) {
    env.annotate::<EcsService>("api", "berth.dev/refresh", json!(value))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_healthy_image_is_rolled_back_and_reported() {
    let mut env = Env::new("ecs-rollback").await;
    let (first, svc) = env.release_an_unhealthy_image(TIMEOUT).await;
    let message = degraded_message(&svc);
    assert!(
        message.contains("health checks"),
        "the stopped reason is surfaced: {message}"
    );
    assert!(!is_true(&svc.status.as_ref().unwrap().conditions, READY));
    // ECS serves the old revision, "stable" as far as ECS is concerned.
    assert_eq!(
        env.ecs_service("shop-api").await.task_definition(),
        Some(first.as_str())
    );
    let stopped = &svc.status.unwrap().last_stopped_tasks;
    assert!(
        stopped.iter().any(|t| t
            .stopped_reason
            .as_deref()
            .is_some_and(|r| r.contains("health checks"))),
        "lastStoppedTasks: {stopped:?}"
    );
    // berth does not push the failed revision again by itself (a new
    // berth.dev/refresh value would: see a_refresh_retries_a_failed_rollout_once_per_value).
    let updates = env.berth_calls("ecs", "UpdateService");
    env.kill_berth();
    env.start_berth();
    env.wait_reconciled_since("EcsService", "api", 0, TIMEOUT)
        .await;
    assert_eq!(env.berth_calls("ecs", "UpdateService"), updates);
}

/// ECS's minimumHealthyPercent of shop-api.
async fn minimum_healthy_percent(env: &Env) -> Option<i32> {
    env.ecs_service("shop-api")
        .await
        .deployment_configuration()
        .and_then(|d| d.minimum_healthy_percent())
}

/// Waits until shop-api's minimumHealthyPercent is the spec's 50 again;
/// past `within`, fails with `failure` of the last value read.
async fn wait_set_back(env: &Env, within: Duration, failure: impl Fn(Option<i32>) -> String) {
    let deadline = std::time::Instant::now() + within;
    loop {
        let min = minimum_healthy_percent(env).await;
        if min == Some(50) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", failure(min));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn image_rule(image: &str, unhealthy: bool) -> awsim::images::ImageRule {
    awsim::images::ImageRule {
        image: image.into(),
        prefix: false,
        behavior: awsim::images::ImageBehavior {
            unhealthy,
            ..Default::default()
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_retries_a_failed_rollout_once_per_value() {
    let mut env = Env::new("ecs-retry").await;
    env.deploy(&file("api.yaml"), "api", 1, TIMEOUT).await;
    // Revision 2's image never passes its health checks until someone fixes
    // it outside the spec (an awsim image rule; a later rule wins).
    let image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api:1.5.0";
    env.awsim.add_image_rule(image_rule(image, true));
    env.apply_yaml(&file("api.yaml").replace("shop/api:1.4.2", "shop/api:1.5.0"))
        .await
        .unwrap();
    let svc = env
        .wait_degraded::<EcsService>("api", "RolledBack", TIMEOUT)
        .await;
    let generation = svc.metadata.generation;
    assert!(env.rollout_retries().is_empty());

    // A new value retries the rollout once; still broken, it fails again.
    refresh(&env, "retry-1").await;
    let retried_for = |value: &'static str| {
        move |s: &EcsService| {
            degraded("RolledBack")(s)
                && s.status
                    .as_ref()
                    .and_then(|st| st.rollout.as_ref())
                    .is_some_and(|r| {
                        r.retried_for.as_deref() == Some(&format!("berth.dev/refresh={value}"))
                    })
        }
    };
    env.wait_for(
        "api",
        "retried for retry-1 and rolled back again",
        TIMEOUT,
        retried_for("retry-1"),
    )
    .await;
    assert_eq!(
        env.rollout_retries().len(),
        1,
        "{:?}",
        env.rollout_retries()
    );
    let events = env.events_for("api").await;
    assert!(
        events
            .iter()
            .any(|e| e.contains("RolloutRetried") && e.contains("retry-1")),
        "{events:?}"
    );

    // The value it acted on never retries again, after a restart too.
    env.kill_berth();
    env.start_berth();
    env.wait_reconciled_since("EcsService", "api", 0, TIMEOUT)
        .await;
    assert_eq!(
        env.rollout_retries().len(),
        1,
        "{:?}",
        env.rollout_retries()
    );

    // Fixed outside the spec: the next value rolls revision 2 out.
    env.awsim.add_image_rule(image_rule(image, false));
    refresh(&env, "retry-2").await;
    let svc = env.wait_ready_on("api", 2, TIMEOUT).await;
    assert_eq!(svc.metadata.generation, generation);
    let retried = env.rollout_retries();
    assert_eq!(retried.len(), 2, "one retry per value: {retried:?}");
    assert!(
        retried
            .iter()
            .all(|t| t.ends_with("task-definition/shop-api:2")),
        "{retried:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpullable_image_reports_tasks_failing_then_recovers() {
    let env = Env::new("ecs-pull").await;
    let broken = file("api.yaml")
        .replace("shop/api:1.4.2", "shop/api:1.4.2-pullfail")
        .replace(
            "      enable: true\n      rollback: true",
            "      enable: false\n      rollback: false",
        );
    env.apply_yaml(&broken).await.unwrap();
    let svc = env
        .wait_degraded::<EcsService>("api", "TasksFailing", TIMEOUT)
        .await;
    let message = degraded_message(&svc);
    assert!(message.contains("CannotPullContainerError"), "{message}");

    let fixed = file("api.yaml").replace(
        "      enable: true\n      rollback: true",
        "      enable: false\n      rollback: false",
    );
    env.deploy(&fixed, "api", 2, TIMEOUT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_outside_berth_is_kept_when_desired_count_is_absent() {
    let env = Env::new("ecs-scale").await;
    env.deploy(
        &file("api.yaml").replace("  desiredCount: 2\n", ""),
        "api",
        1,
        TIMEOUT,
    )
    .await;
    let updates = env.berth_calls("ecs", "UpdateService");

    // An autoscaler (or a human) scales the service to 4.
    let ecs = aws_sdk_ecs::Client::new(&env.aws().await);
    ecs.update_service()
        .cluster("shop")
        .service("shop-api")
        .desired_count(4)
        .send()
        .await
        .unwrap();
    refresh(&env, "after-scale").await;
    env.wait_for(
        "api",
        "4 tasks running, Ready",
        TIMEOUT,
        |s: &EcsService| {
            s.status
                .as_ref()
                .is_some_and(|st| st.running_count == Some(4) && is_true(&st.conditions, READY))
        },
    )
    .await;
    assert_eq!(env.ecs_service("shop-api").await.desired_count(), 4);
    assert_eq!(
        env.berth_calls("ecs", "UpdateService"),
        updates,
        "berth must not touch desiredCount when the spec leaves it out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_secret_rolls_out_new_tasks() {
    let env = Env::new("ecs-secret").await;
    env.deploy(&file("api.yaml"), "api", 1, TIMEOUT).await;
    let sm = aws_sdk_secretsmanager::Client::new(&env.aws().await);
    sm.put_secret_value()
        .secret_id("shop/stripe-api-key")
        .secret_string("sk_test_rotated")
        .send()
        .await
        .unwrap();
    refresh(&env, "after-rotation").await;
    env.wait_for(
        "api",
        "Ready on revision 2 after the rotation",
        TIMEOUT,
        ready_on(2),
    )
    .await;
    assert_eq!(env.berth_calls("ecs", "RegisterTaskDefinition"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_discovery_change_updates_registries_in_place() {
    let env = Env::new("ecs-cloudmap").await;
    let before = env
        .deploy(&file("api.yaml"), "api", 1, TIMEOUT)
        .await
        .status
        .unwrap()
        .cloud_map_service_arn
        .unwrap();
    env.apply_yaml(
        &file("api.yaml").replace("    serviceName: api\n", "    serviceName: api-v2\n"),
    )
    .await
    .unwrap();
    let svc = env
        .wait_for(
            "api",
            "a new Cloud Map service in use",
            TIMEOUT,
            |s: &EcsService| {
                s.status.as_ref().is_some_and(|st| {
                    st.cloud_map_service_arn
                        .as_deref()
                        .is_some_and(|a| a != before)
                        && is_true(&st.conditions, READY)
                })
            },
        )
        .await;
    let after = svc.status.unwrap().cloud_map_service_arn.unwrap();
    let service = env.ecs_service("shop-api").await;
    assert_eq!(
        service.service_registries()[0].registry_arn(),
        Some(after.as_str())
    );
    assert_eq!(
        env.berth_calls("ecs", "CreateService"),
        1,
        "the service is updated, not recreated"
    );
    assert_eq!(env.berth_calls("ecs", "DeleteService"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_set_back_and_pause_stops_it() {
    let env = Env::with_options(
        "ecs-drift",
        Options {
            resync_interval: "10s".into(),
            ..Options::default()
        },
    )
    .await;
    env.deploy(&file("api.yaml"), "api", 1, TIMEOUT).await;
    let ecs = aws_sdk_ecs::Client::new(&env.aws().await);
    let change_outside = || async {
        ecs.update_service()
            .cluster("shop")
            .service("shop-api")
            .deployment_configuration(
                aws_sdk_ecs::types::DeploymentConfiguration::builder()
                    .minimum_healthy_percent(0)
                    .maximum_percent(100)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    };
    change_outside().await;
    // Set back within one resync interval, with an Event naming the drift.
    wait_set_back(&env, Duration::from_secs(40), |min| {
        format!("drift was not set back: {min:?}")
    })
    .await;
    let events = env.events_for("api").await;
    assert!(
        events
            .iter()
            .any(|e| e.contains("DriftCorrected") && e.contains("deploymentConfiguration")),
        "{events:?}"
    );

    // Paused: the same drift stays.
    // Paused on every condition; the served revision keeps Ready True.
    env.pause::<EcsService>("api", true, false, TIMEOUT).await;
    change_outside().await;
    // Read after the change: a reconcile (the 10 s resync) that starts
    // later has seen the drift.
    let (started, _) = env.reconciles("EcsService", "api").await;
    env.wait_reconciled_since("EcsService", "api", started, Duration::from_secs(40))
        .await;
    let min = minimum_healthy_percent(&env).await;
    assert_eq!(min, Some(0), "a paused resource is not mutated");

    // Unpaused + refresh: set back at once.
    env.merge_patch::<EcsService>(
        "api",
        json!({"metadata": {"annotations": {"berth.dev/paused": null, "berth.dev/refresh": "now"}}}),
    )
    .await;
    wait_set_back(&env, Duration::from_secs(20), |_| {
        "refresh did not set drift back".to_string()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_service_revisions_and_cloud_map() {
    let env = Env::new("ecs-delete").await;
    let status = env
        .deploy(&file("api.yaml"), "api", 1, TIMEOUT)
        .await
        .status
        .unwrap();
    env.delete_and_wait::<EcsService>("api", TIMEOUT).await;
    let config = env.aws().await;
    let ecs = aws_sdk_ecs::Client::new(&config);
    let services = ecs
        .describe_services()
        .cluster("shop")
        .services("shop-api")
        .send()
        .await
        .unwrap();
    assert!(
        services
            .services()
            .iter()
            .all(|s| s.status() != Some("ACTIVE")),
        "ECS service deleted"
    );
    let td = ecs
        .describe_task_definition()
        .task_definition(status.task_definition_arn.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        td.task_definition().unwrap().status().map(|s| s.as_str()),
        Some("INACTIVE")
    );
    let cloudmap = aws_sdk_servicediscovery::Client::new(&config);
    let arn = status.cloud_map_service_arn.unwrap();
    let id = arn.rsplit('/').next().unwrap();
    assert!(
        cloudmap.get_service().id(id).send().await.is_err(),
        "the Cloud Map service berth created is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_leaves_everything_in_aws() {
    let env = Env::new("ecs-retain").await;
    env.deploy(
        &file("api.yaml").replace("deletionPolicy: Delete", "deletionPolicy: Retain"),
        "api",
        1,
        TIMEOUT,
    )
    .await;
    env.delete_and_wait::<EcsService>("api", TIMEOUT).await;
    assert_eq!(env.ecs_service("shop-api").await.status(), Some("ACTIVE"));
    assert_eq!(env.berth_calls("ecs", "DeleteService"), 0);
    assert_eq!(env.berth_calls("ecs", "DeregisterTaskDefinition"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_revisions_beyond_the_history_limit_are_deregistered() {
    let env = Env::new("ecs-prune").await;
    let with_limit = |tag: &str| {
        file("api.yaml")
            .replace("revisionHistoryLimit: 5", "revisionHistoryLimit: 2")
            .replace("shop/api:1.4.2", &format!("shop/api:{tag}"))
    };
    for (i, tag) in ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4"]
        .iter()
        .enumerate()
    {
        env.apply_yaml(&with_limit(tag)).await.unwrap();
        env.wait_for(
            "api",
            "Ready on the new revision",
            TIMEOUT,
            ready_on(i as i64 + 1),
        )
        .await;
    }
    let ecs = aws_sdk_ecs::Client::new(&env.aws().await);
    let active = ecs
        .list_task_definitions()
        .family_prefix("shop-api")
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    let revisions: Vec<String> = active.task_definition_arns().to_vec();
    // The limit (2), and never the one in use (5) nor the rollback target (4).
    assert_eq!(revisions.len(), 2, "{revisions:?}");
    assert!(revisions.iter().any(|a| a.ends_with(":5")), "{revisions:?}");
    assert!(revisions.iter().any(|a| a.ends_with(":4")), "{revisions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_service_needs_adopt() {
    let env = Env::new("ecs-adopt").await;
    // A service someone created by hand, without berth's tags.
    let ecs = aws_sdk_ecs::Client::new(&env.aws().await);
    let td = ecs
        .register_task_definition()
        .family("hand-made")
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("app")
                .image("nginx:1.27")
                .build(),
        )
        .send()
        .await
        .unwrap();
    ecs.create_service()
        .cluster("shop")
        .service_name("shop-api")
        .task_definition(td.task_definition().unwrap().task_definition_arn().unwrap())
        .desired_count(1)
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .network_configuration(
            aws_sdk_ecs::types::NetworkConfiguration::builder()
                .awsvpc_configuration(
                    aws_sdk_ecs::types::AwsVpcConfiguration::builder()
                        .subnets("subnet-0a1b2c3d4e5f60001")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    env.apply_yaml(&file("api.yaml")).await.unwrap();
    let svc = env
        .wait_degraded::<EcsService>("api", "AdoptionRequired", TIMEOUT)
        .await;
    assert!(degraded_message(&svc).contains("spec.adopt"));
    assert_eq!(
        env.berth_calls("ecs", "UpdateService"),
        0,
        "not touched before adoption"
    );
    assert_eq!(env.berth_calls("ecs", "CreateService"), 0);

    env.apply_yaml(&file("api.yaml").replace(
        "deletionPolicy: Delete",
        "deletionPolicy: Delete\n  adopt: true",
    ))
    .await
    .unwrap();
    env.wait_for(
        "api",
        "Ready on revision 1 after adoption",
        TIMEOUT,
        ready_on(1),
    )
    .await;
    let ecs = aws_sdk_ecs::Client::new(&env.aws().await);
    let arn = env
        .ecs_service("shop-api")
        .await
        .service_arn()
        .unwrap()
        .to_string();
    let tags = ecs
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == Some("berth.dev/owner")),
        "the adopted service carries berth's owner tag: {:?}",
        tags.tags()
    );
    let events = env.events_for("api").await;
    assert!(events.iter().any(|e| e.contains("Adopted")), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_map_service_berth_did_not_create_survives_delete() {
    let env = Env::new("ecs-cm-keep").await;
    // Someone else's Cloud Map service with the name the example uses.
    let theirs = env.create_cloud_map_service("api", 10).await;
    let id = theirs.id().unwrap().to_string();
    let cloudmap = aws_sdk_servicediscovery::Client::new(&env.aws().await);

    // Using it takes spec.adopt; berth still never deletes what it adopted.
    env.deploy(
        &file("api.yaml").replace(
            "  deletionPolicy: Delete\n",
            "  deletionPolicy: Delete\n  adopt: true\n",
        ),
        "api",
        1,
        TIMEOUT,
    )
    .await;
    env.delete_and_wait::<EcsService>("api", TIMEOUT).await;
    assert!(
        cloudmap.get_service().id(&id).send().await.is_ok(),
        "berth deleted a Cloud Map service it did not create"
    );
    assert_eq!(env.berth_calls("servicediscovery", "DeleteService"), 0);
}
