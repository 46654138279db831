//! MigrationJob end to end: one-off ECS tasks run by the berth binary
//! against awsim, followed to completion, retried, stopped at the deadline,
//! and never run twice for the same run hash, not even across restarts.

use std::time::Duration;

use berth::api::conditions::{is_true, DEGRADED, READY};
use berth::api::migration_job::{MigrationJob, Phase};
use berth::api::AuroraCluster;
use berth_e2e::conditions::paused_with;
use berth_e2e::examples::{fargate_service, file, inline_job, running_task, service_job};
use berth_e2e::{condition, workspace_root, Env};

const TIMEOUT: Duration = Duration::from_secs(90);

fn phase_is(phase: Phase) -> impl Fn(&MigrationJob) -> bool {
    move |j: &MigrationJob| j.status.as_ref().and_then(|s| s.phase) == Some(phase)
}

/// Succeeded, in a run other than `run_hash`'s.
fn succeeded_other_than(run_hash: Option<String>) -> impl Fn(&MigrationJob) -> bool {
    move |j: &MigrationJob| {
        j.status
            .as_ref()
            .is_some_and(|s| s.phase == Some(Phase::Succeeded) && s.run_hash != run_hash)
    }
}

fn columns(env: &Env, name: &str) -> Vec<String> {
    let out = env.kubectl(&["get", "mj", name, "--no-headers"]);
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_job_succeeds_once_even_across_restarts() {
    let mut env = Env::new("mj-ok").await;
    // The log tail is opt-in (spec.logTail).
    let manifest = inline_job("migrate", "shop/migrate:1.0", "  logTail:\n    lines: 20\n");
    env.apply_yaml(&manifest).await.unwrap();

    let job: MigrationJob = env.wait_phase("migrate", Phase::Succeeded, TIMEOUT).await;
    let status = job.status.unwrap();
    assert_eq!(status.exit_code, Some(0));
    assert_eq!(status.attempts, 1);
    assert!(status.task_arn.is_some() && status.run_hash.is_some());
    assert!(status.started_at.is_some() && status.finished_at.is_some());
    assert!(is_true(&status.conditions, READY));
    assert_eq!(condition(&status.conditions, READY).unwrap().1, "Succeeded");
    assert!(!is_true(&status.conditions, DEGRADED));
    // awslogs: the default image rule writes a start line and the exit code.
    assert!(!status.log_tail.is_empty(), "log tail recorded: {status:?}");

    // PHASE, EXIT, ATTEMPTS columns.
    let cols = columns(&env, "migrate");
    assert_eq!(&cols[1..4], ["Succeeded", "0", "1"], "{cols:?}");
    assert_eq!(env.berth_calls("ecs", "RunTask"), 1);
    assert_eq!(env.berth_calls("ecs", "RegisterTaskDefinition"), 1);

    // A restart and a re-apply of the same manifest run nothing again.
    env.kill_berth();
    env.start_berth();
    env.apply_yaml(&manifest).await.unwrap();
    // The new process reconciles the job once at start (its counts start
    // at 0); the unchanged re-apply is a no-op for the API server.
    env.wait_reconciled_since("MigrationJob", "migrate", 0, TIMEOUT)
        .await;
    let job: MigrationJob = env
        .wait_for(
            "migrate",
            "still Succeeded",
            TIMEOUT,
            phase_is(Phase::Succeeded),
        )
        .await;
    assert_eq!(job.status.unwrap().attempts, 1);
    assert_eq!(env.berth_calls("ecs", "RunTask"), 1, "never run twice");
    assert_eq!(env.berth_calls("ecs", "RegisterTaskDefinition"), 1);

    // A changed spec is a new run, from attempt 1.
    let changed = manifest.replace(r#"["./migrate", "up"]"#, r#"["./migrate", "up", "--v2"]"#);
    env.apply_yaml(&changed).await.unwrap();
    let old_hash = status.run_hash.clone();
    let job: MigrationJob = env
        .wait_for(
            "migrate",
            "the new run Succeeded",
            TIMEOUT,
            succeeded_other_than(old_hash),
        )
        .await;
    assert_eq!(job.status.unwrap().attempts, 1);
    assert_eq!(env.berth_calls("ecs", "RunTask"), 2);

    // Paused after success: Paused on every condition, Ready stays True
    // (Healthy in Argo CD), the run is still Succeeded.
    let job: MigrationJob = env.pause("migrate", true, false, TIMEOUT).await;
    assert_eq!(job.status.unwrap().phase, Some(Phase::Succeeded));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_job_is_retried_backoff_limit_times_then_fails() {
    let env = Env::new("mj-fail").await;
    // Backoffs of 5 s and 10 s between the three attempts.
    let job: MigrationJob = env
        .run_job(
            &inline_job("migrate", "shop/migrate:exit-1", "  backoffLimit: 2\n"),
            "migrate",
            Phase::Failed,
            TIMEOUT,
        )
        .await;
    let status = job.status.unwrap();
    assert_eq!(status.exit_code, Some(1));
    assert_eq!(status.attempts, 3);
    let (degraded, reason, message) = condition(&status.conditions, DEGRADED).unwrap();
    assert_eq!(degraded, "True");
    assert_eq!(reason, "BackoffLimitExceeded");
    assert!(message.contains("exit code 1"), "{message}");
    assert!(!is_true(&status.conditions, READY));
    assert_eq!(env.berth_calls("ecs", "RunTask"), 3);

    let cols = columns(&env, "migrate");
    assert_eq!(&cols[1..4], ["Failed", "1", "3"], "{cols:?}");

    // Each attempt was tagged with its number.
    let log = env.awsim.call_log(Some("berth"));
    let runs: Vec<&serde_json::Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "RunTask")
        .collect();
    assert_eq!(runs.len(), 3);
    let started_by: Vec<&str> = runs
        .iter()
        .map(|c| c["params"]["startedBy"].as_str().unwrap_or_default())
        .collect();
    assert!(started_by
        .iter()
        .all(|s| *s == started_by[0] && s.starts_with("berth-")));

    // Nothing more happens afterwards, not even when berth looks again.
    look_again(&env, "look-1").await;
    assert_eq!(env.berth_calls("ecs", "RunTask"), 3);

    // A human fixed the cause: a new value of berth.dev/refresh starts one
    // new try of the same run, with a fresh backoffLimit (attempts 4 to 6;
    // no attempt number, task or idempotency token is reused).
    env.refresh_and_wait::<MigrationJob>("migrate", TIMEOUT)
        .await;
    let job: MigrationJob = env
        .wait_for(
            "migrate",
            "Failed again after 3 more attempts",
            TIMEOUT,
            |j: &MigrationJob| {
                j.status
                    .as_ref()
                    .is_some_and(|s| s.phase == Some(Phase::Failed) && s.attempts == 6)
            },
        )
        .await;
    assert_eq!(env.berth_calls("ecs", "RunTask"), 6);
    assert_eq!(job.status.unwrap().try_started_after, 3);
    assert!(env
        .events_for("migrate")
        .await
        .join("\n")
        .contains("RunRefreshed"));
    // And never otherwise.
    look_again(&env, "look-2").await;
    assert_eq!(env.berth_calls("ecs", "RunTask"), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_value_the_job_already_carried_never_reruns_it() {
    let env = Env::new("mj-stale-refresh").await;
    // Applied with the annotation (left by an earlier rerun, or in the
    // manifest): it asks for nothing.
    let annotated = "  name: migrate\n  annotations:\n    berth.dev/refresh: \"before\"\n";
    let manifest = inline_job("migrate", "shop/migrate:exit-1", "  backoffLimit: 0\n")
        .replace("  name: migrate\n", annotated);
    env.run_job(&manifest, "migrate", Phase::Failed, TIMEOUT)
        .await;
    // Reconciled again after it failed, the old value still runs nothing.
    look_again(&env, "look-1").await;
    env.apply_yaml(&manifest).await.unwrap();
    look_again(&env, "look-2").await;
    let job: MigrationJob = env.api().get("migrate").await.unwrap();
    assert_eq!(job.status.unwrap().phase, Some(Phase::Failed));
    assert_eq!(env.berth_calls("ecs", "RunTask"), 1, "backoffLimit + 1");

    // A new value after Failed: exactly one more try.
    env.apply_yaml(&manifest.replace("\"before\"", "\"after\""))
        .await
        .unwrap();
    env.wait_for("migrate", "Failed again", TIMEOUT, |j: &MigrationJob| {
        j.status
            .as_ref()
            .is_some_and(|s| s.phase == Some(Phase::Failed) && s.attempts == 2)
    })
    .await;
    look_again(&env, "look-3").await;
    assert_eq!(env.berth_calls("ecs", "RunTask"), 2);
}

/// Makes berth reconcile the job without asking for anything (the paused
/// annotation set to a value other than "true"), and waits until it did.
async fn look_again(env: &Env, value: &str) {
    let (started, _) = env.reconciles("MigrationJob", "migrate").await;
    env.annotate::<MigrationJob>("migrate", "berth.dev/paused", serde_json::json!(value))
        .await;
    env.wait_reconciled_since("MigrationJob", "migrate", started, TIMEOUT)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_follows_the_running_task() {
    let mut env = Env::new("mj-restart").await;
    // 300 virtual seconds at time scale 30: about 10 s of real time.
    env.apply_yaml(&inline_job("migrate", "shop/migrate:sleep-300", ""))
        .await
        .unwrap();
    let task_arn = running_task(&env, "migrate").await;
    env.kill_berth();
    env.start_berth();
    // The new process's first reconcile (its counts start at 0) finds the
    // running task instead of starting another.
    env.wait_reconciled_since("MigrationJob", "migrate", 0, TIMEOUT)
        .await;
    assert_eq!(env.berth_calls("ecs", "RunTask"), 1);

    let job: MigrationJob = env.wait_phase("migrate", Phase::Succeeded, TIMEOUT).await;
    let status = job.status.unwrap();
    assert_eq!(status.task_arn.as_deref(), Some(task_arn.as_str()));
    assert_eq!(status.attempts, 1);
    assert_eq!(status.exit_code, Some(0));
    assert_eq!(env.berth_calls("ecs", "RunTask"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_deadline_the_task_is_stopped() {
    let env = Env::new("mj-deadline").await;
    let job: MigrationJob = env
        .run_job(
            &inline_job(
                "migrate",
                "shop/migrate:sleep-3000",
                "  activeDeadlineSeconds: 4\n",
            ),
            "migrate",
            Phase::Failed,
            TIMEOUT,
        )
        .await;
    let status = job.status.unwrap();
    let (degraded, reason, _) = condition(&status.conditions, DEGRADED).unwrap();
    assert_eq!(
        (degraded.as_str(), reason.as_str()),
        ("True", "DeadlineExceeded")
    );
    assert_eq!(env.berth_calls("ecs", "StopTask"), 1);
    assert_eq!(env.berth_calls("ecs", "RunTask"), 1);

    // The task is really stopping in ECS.
    let out = env.ecs_task(status.task_arn.unwrap()).await;
    assert_eq!(out.desired_status(), Some("STOPPED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_ref_waits_for_ready_and_injects_the_proxy_endpoint() {
    let env = Env::new("mj-db").await;
    // Paused: berth creates nothing for the database until the test says so,
    // so the job is sure to find it not Ready first.
    let db = std::fs::read_to_string(workspace_root().join("examples/orders-db.yaml"))
        .unwrap()
        .replacen(
            "metadata:\n",
            "metadata:\n  annotations:\n    berth.dev/paused: \"true\"\n",
            1,
        );
    env.apply_yaml(&db).await.unwrap();
    env.apply_yaml(&inline_job(
        "migrate",
        "shop/migrate:1.0",
        "  databaseRef:\n    name: orders-db\n",
    ))
    .await
    .unwrap();

    let job: MigrationJob = env
        .wait_for(
            "migrate",
            "WaitingForDatabase",
            TIMEOUT,
            |j: &MigrationJob| {
                j.status.as_ref().is_some_and(|s| {
                    condition(&s.conditions, "Progressing")
                        .is_some_and(|c| c.0 == "True" && c.1 == "WaitingForDatabase")
                })
            },
        )
        .await;
    assert_eq!(job.status.unwrap().phase, Some(Phase::Pending));
    // The paused database says so on every condition; nothing created,
    // so it is not Ready.
    env.wait_for(
        "orders-db",
        "Paused",
        TIMEOUT,
        paused_with::<AuroraCluster>(false, false),
    )
    .await;
    // A waiting job is reconciled again every few seconds.
    let (started, _) = env.reconciles("MigrationJob", "migrate").await;
    env.wait_reconciled_since("MigrationJob", "migrate", started, TIMEOUT)
        .await;
    assert_eq!(
        env.berth_calls("ecs", "RunTask"),
        0,
        "no task before the database is Ready"
    );

    // The database goes ahead: berth creates it, and the job runs once it
    // is Ready, with the proxy endpoint berth reported.
    env.annotate::<AuroraCluster>("orders-db", "berth.dev/paused", serde_json::json!("false"))
        .await;
    let db = env
        .wait_for(
            "orders-db",
            "Ready",
            Duration::from_secs(240),
            |d: &AuroraCluster| {
                d.status
                    .as_ref()
                    .is_some_and(|s| is_true(&s.conditions, READY))
            },
        )
        .await;
    let proxy = db.status.unwrap().proxy_endpoint.expect("a proxy endpoint");

    let job: MigrationJob = env.wait_phase("migrate", Phase::Succeeded, TIMEOUT).await;
    assert_eq!(env.berth_calls("ecs", "RunTask"), 1);

    let out = env.ecs_task(job.status.unwrap().task_arn.unwrap()).await;
    let overrides = out.overrides().unwrap();
    let container = overrides
        .container_overrides()
        .iter()
        .find(|c| c.name() == Some("migrate"))
        .expect("an override for the deciding container");
    let env_of = |name: &str| {
        container
            .environment()
            .iter()
            .find(|kv| kv.name() == Some(name))
            .and_then(|kv| kv.value())
            .map(str::to_string)
    };
    assert_eq!(env_of("DB_HOST").as_deref(), Some(proxy.as_str()));
    assert_eq!(env_of("DB_PORT").as_deref(), Some("5432"));
    assert_eq!(env_of("DB_NAME").as_deref(), Some("orders"));
    assert_eq!(env_of("DB_USER").as_deref(), Some("orders_admin"));
    assert_eq!(env_of("DB_USE_IAM_AUTH").as_deref(), Some("true"));
    assert_eq!(container.command(), ["./migrate", "up"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_ref_job_runs_with_the_services_revision_and_reruns_on_a_new_one() {
    let env = Env::new("mj-svc").await;
    let api_yaml = file("api.yaml");
    env.apply_yaml(&api_yaml).await.unwrap();
    env.apply_yaml(&service_job(
        "smoke",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api-smoke:1.4.2",
        "  command: [\"smoke\"]\n  environment:\n    - name: TARGET\n      value: http://api.shop.internal:8080\n",
    ))
    .await
    .unwrap();
    let job: MigrationJob = env.wait_phase("smoke", Phase::Succeeded, TIMEOUT).await;
    let status = job.status.unwrap();
    let svc: berth::api::EcsService = env.api().get("api").await.unwrap();
    assert_eq!(
        status.service_hash,
        svc.status.as_ref().unwrap().spec_hash,
        "the run records the service revision it ran with"
    );
    let cols = columns(&env, "smoke");
    assert_eq!(&cols[1..5], ["Succeeded", "0", "1", "api"], "{cols:?}");

    // The task ran a derived revision: the service's definition with the
    // smoke image, in the service's network.
    let ecs = aws_sdk_ecs::Client::new(&env.aws().await);
    let task = ecs
        .describe_tasks()
        .cluster("shop")
        .tasks(status.task_arn.clone().unwrap())
        .send()
        .await
        .unwrap();
    let task = &task.tasks()[0];
    let td = ecs
        .describe_task_definition()
        .task_definition(task.task_definition_arn().unwrap())
        .send()
        .await
        .unwrap();
    let td = td.task_definition().unwrap();
    assert_eq!(td.family(), Some("shop-api-smoke"));
    assert_eq!(
        td.container_definitions()[0].image(),
        Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api-smoke:1.4.2")
    );
    assert_eq!(
        td.execution_role_arn(),
        Some("arn:aws:iam::123456789012:role/shop-api-execution")
    );
    assert_eq!(env.berth_calls("ecs", "RunTask"), 1);

    // A new service revision is a new run.
    env.apply_yaml(&api_yaml.replace("shop/api:1.4.2", "shop/api:1.5.0"))
        .await
        .unwrap();
    let first_hash = status.run_hash.clone();
    let job: MigrationJob = env
        .wait_for(
            "smoke",
            "a second run for the new revision",
            TIMEOUT,
            succeeded_other_than(first_hash),
        )
        .await;
    assert_ne!(job.status.unwrap().service_hash, status.service_hash);
    assert_eq!(env.berth_calls("ecs", "RunTask"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_running_job_stops_its_task() {
    let env = Env::new("mj-delete").await;
    env.apply_yaml(&inline_job("migrate", "shop/migrate:sleep-3000", ""))
        .await
        .unwrap();
    let job: MigrationJob = env
        .wait_for("migrate", "Running", TIMEOUT, |j: &MigrationJob| {
            j.status
                .as_ref()
                .is_some_and(|s| s.phase == Some(Phase::Running) && s.task_arn.is_some())
        })
        .await;
    env.delete_and_wait::<MigrationJob>("migrate", TIMEOUT)
        .await;
    assert_eq!(env.berth_calls("ecs", "StopTask"), 1);
    let out = env.ecs_task(job.status.unwrap().task_arn.unwrap()).await;
    assert_eq!(out.desired_status(), Some("STOPPED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_job_is_deleted_after_its_ttl() {
    let env = Env::new("mj-ttl").await;
    env.run_job(
        &inline_job(
            "migrate",
            "shop/migrate:1.0",
            "  ttlSecondsAfterFinished: 3\n",
        ),
        "migrate",
        Phase::Succeeded,
        TIMEOUT,
    )
    .await;
    // Deleted after its TTL.
    env.wait_gone::<MigrationJob>("migrate", Duration::from_secs(30))
        .await;
    assert_eq!(env.berth_calls("ecs", "RunTask"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_of_the_run_left_by_a_crash_is_adopted_not_run_again() {
    use aws_sdk_ecs::types::{
        AwsVpcConfiguration, Compatibility, ContainerDefinition, LaunchType, NetworkConfiguration,
        NetworkMode, Tag,
    };
    use berth::aws::tags::TAG_ATTEMPT;
    use berth::controller::migration_job::plan;

    let mut env = Env::without_berth("mj-adopt").await;
    let image = "shop/migrate:sleep-150";
    env.apply_yaml(&inline_job("migrate", image, ""))
        .await
        .unwrap();
    let job: MigrationJob = env.api().get("migrate").await.unwrap();
    let hash = plan::run_hash(&job, &format!("{}/migrate", env.ns), None);

    // What a berth that crashed right after RunTask leaves behind: a task
    // of attempt 1 of this run, and no status.
    let ecs = aws_sdk_ecs::Client::new(&env.aws().await);
    let td = ecs
        .register_task_definition()
        .family("migrate-crashed")
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(
            ContainerDefinition::builder()
                .name("migrate")
                .image(image)
                .essential(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let vpc = AwsVpcConfiguration::builder()
        .subnets("subnet-0a1b2c3d4e5f60001")
        .build()
        .unwrap();
    let run = ecs
        .run_task()
        .cluster("shop")
        .task_definition(td.task_definition().unwrap().task_definition_arn().unwrap())
        .launch_type(LaunchType::Fargate)
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(vpc)
                .build(),
        )
        .started_by(plan::started_by(&hash))
        .tags(Tag::builder().key(TAG_ATTEMPT).value("1").build())
        .send()
        .await
        .unwrap();
    let orphan = run.tasks()[0].task_arn().unwrap().to_string();

    env.start_berth();
    let job: MigrationJob = env.wait_phase("migrate", Phase::Succeeded, TIMEOUT).await;
    let status = job.status.unwrap();
    assert_eq!(status.task_arn.as_deref(), Some(orphan.as_str()));
    assert_eq!(status.attempts, 1);
    assert_eq!(
        env.berth_calls("ecs", "RunTask"),
        0,
        "the run's task was adopted"
    );
    let events = env.events_for("migrate").await;
    assert!(
        events.iter().any(|e| e.contains("TaskAdopted")),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_run_waits_for_the_previous_runs_task() {
    let env = Env::new("mj-overlap").await;
    // 240 virtual seconds at time scale 30: about 8 s of real time.
    let manifest = inline_job("migrate", "shop/migrate:sleep-240", "");
    env.apply_yaml(&manifest).await.unwrap();
    let job: MigrationJob = env
        .wait_for("migrate", "Running", TIMEOUT, |j: &MigrationJob| {
            j.status
                .as_ref()
                .is_some_and(|s| s.phase == Some(Phase::Running) && s.task_arn.is_some())
        })
        .await;
    let first = job.status.unwrap();

    env.apply_yaml(&manifest.replace(r#""up"]"#, r#""up", "--again"]"#))
        .await
        .unwrap();
    let job: MigrationJob = env
        .wait_for(
            "migrate",
            "waiting for the previous run",
            TIMEOUT,
            |j: &MigrationJob| {
                j.status.as_ref().is_some_and(|s| {
                    condition(&s.conditions, "Progressing")
                        .is_some_and(|c| c.2.contains("previous run"))
                })
            },
        )
        .await;
    assert_eq!(job.status.unwrap().run_hash, first.run_hash);
    assert_eq!(env.berth_calls("ecs", "RunTask"), 1);

    let job: MigrationJob = env
        .wait_for(
            "migrate",
            "the new run Succeeded",
            TIMEOUT,
            succeeded_other_than(first.run_hash.clone()),
        )
        .await;
    assert_ne!(job.status.unwrap().task_arn, first.task_arn);
    assert_eq!(env.berth_calls("ecs", "RunTask"), 2);
    assert_eq!(
        env.berth_calls("ecs", "StopTask"),
        0,
        "the old run finished on its own"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_cannot_start_is_retried_without_using_the_backoff_limit() {
    let env = Env::new("mj-pull").await;
    // The image cannot be pulled (a missing pull-through cache rule, no NAT
    // route): ECS stops the task with TaskFailedToStart, the migration never ran.
    env.awsim.fail_pulls("shop/migrate");
    env.apply_yaml(&inline_job(
        "migrate",
        "shop/migrate:1.0",
        "  backoffLimit: 0\n",
    ))
    .await
    .unwrap();
    let job: MigrationJob = env
        .wait_for(
            "migrate",
            "a start failure recorded",
            TIMEOUT,
            |j: &MigrationJob| {
                j.status
                    .as_ref()
                    .is_some_and(|s| !s.start_failures.is_empty())
            },
        )
        .await;
    let status = job.status.unwrap();
    assert_eq!(
        status.phase,
        Some(Phase::Running),
        "backoffLimit 0 is not used up"
    );
    let (_, reason, message) = condition(&status.conditions, READY).unwrap();
    assert_eq!(reason, "Retrying");
    assert!(
        message.contains("does not count against backoffLimit"),
        "{message}"
    );
    // One failed start may pass by itself: nothing needs a person yet.
    let (degraded, reason, _) = condition(&status.conditions, DEGRADED).unwrap();
    assert_eq!(
        (degraded.as_str(), reason.as_str()),
        ("False", "AsExpected")
    );

    // The cause is fixed: the next attempt runs by itself and succeeds, with
    // no spec edit and no refresh.
    env.awsim.set_faults(Default::default());
    let job: MigrationJob = env.wait_phase("migrate", Phase::Succeeded, TIMEOUT).await;
    let status = job.status.unwrap();
    assert!(status.attempts >= 2, "{status:?}");
    assert_eq!(env.berth_calls("ecs", "RunTask"), status.attempts as u64);
}

/// ECS forgets a stopped task after about an hour. A task that stopped and
/// was forgotten while berth was down never had its exit code recorded:
/// whether the migration ran is unknown, so berth does not run it again on
/// its own. It says so, and a refresh is what runs it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_forgotten_before_berth_saw_it_stop_is_reported_not_rerun() {
    let mut env = Env::new("mj-forgotten").await;
    // 60 virtual seconds: about 2 s of real time at time scale 30.
    env.apply_yaml(&inline_job("migrate", "shop/migrate:sleep-60", ""))
        .await
        .unwrap();
    let task_arn = running_task(&env, "migrate").await;
    env.kill_berth();
    // The task stops while berth is down, then ECS forgets it.
    let deadline = std::time::Instant::now() + TIMEOUT;
    while env.awsim.state()["ecs"]["tasks"][&task_arn]["lastStatus"] != "STOPPED" {
        assert!(
            std::time::Instant::now() < deadline,
            "the task never stopped"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    env.awsim.advance_clock(3700.0);
    assert!(
        env.awsim.state()["ecs"]["tasks"].get(&task_arn).is_none(),
        "awsim still knows the task an hour after it stopped"
    );
    env.start_berth();
    let job: MigrationJob = env
        .wait_for(
            "migrate",
            "Failed/TaskResultUnknown",
            TIMEOUT,
            |j: &MigrationJob| {
                j.status.as_ref().is_some_and(|s| {
                    s.phase == Some(Phase::Failed)
                        && condition(&s.conditions, DEGRADED)
                            .is_some_and(|c| c.1 == "TaskResultUnknown")
                })
            },
        )
        .await;
    let status = job.status.unwrap();
    let message = condition(&status.conditions, DEGRADED).unwrap().2;
    assert!(message.contains(&task_arn), "{message}");
    assert!(message.contains("berth.dev/refresh"), "{message}");
    assert_eq!(status.exit_code, None);
    assert_eq!(
        env.berth_calls("ecs", "RunTask"),
        1,
        "the migration was run again"
    );

    // The user decides: a refresh runs it again, as a new attempt.
    env.refresh_and_wait::<MigrationJob>("migrate", TIMEOUT)
        .await;
    let job: MigrationJob = env.wait_phase("migrate", Phase::Succeeded, TIMEOUT).await;
    assert_eq!(job.status.unwrap().attempts, 2);
    assert_eq!(env.berth_calls("ecs", "RunTask"), 2);
}

fn queued(conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> bool {
    condition(conditions, "Progressing")
        .is_some_and(|(_, reason, _)| reason == "RegistrationQueued")
}

/// AWS allows one RegisterTaskDefinition a second per account; berth at 5%
/// of that (one every 20 s) with one reconcile slot per kind. A service or
/// job whose turn is far off says so (RegistrationQueued, with the time)
/// and waits out of its slot: the other service, whose registration went
/// first, rolls out meanwhile in the only slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_waits_its_turn_out_of_the_reconcile_slot_and_says_so() {
    let env = Env::with_options(
        "mj-queue",
        berth_e2e::Options {
            berth_env: vec![
                ("BERTH_AWS_RATE_FRACTION".into(), "0.05".into()),
                ("BERTH_MAX_CONCURRENT_RECONCILES".into(), "1".into()),
            ],
            ..Default::default()
        },
    )
    .await;
    env.apply_yaml(&(fargate_service("alpha", "shop") + &fargate_service("beta", "shop")))
        .await
        .unwrap();
    let services: kube::Api<berth::api::EcsService> = env.api();
    let status_of = |s: &berth::api::EcsService| s.status.clone().unwrap_or_default();
    // The first Ready service: the other is still queued, and berth has
    // registered only one task definition (its turn is 20 s after the first).
    let deadline = std::time::Instant::now() + TIMEOUT;
    let (ready, other) = loop {
        let list = services.list(&Default::default()).await.unwrap();
        let ready = list
            .items
            .iter()
            .find(|s| is_true(&status_of(s).conditions, READY));
        if let Some(ready) = ready {
            let other = list
                .items
                .iter()
                .find(|s| s.metadata.name != ready.metadata.name);
            break (ready.clone(), other.unwrap().clone());
        }
        assert!(std::time::Instant::now() < deadline, "no service Ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (_, reason, message) = condition(&status_of(&other).conditions, "Progressing")
        .unwrap_or_else(|| panic!("{:?} has no Progressing condition", other.metadata.name));
    assert_eq!(
        reason, "RegistrationQueued",
        "{:?} Ready while {:?} says {message}",
        ready.metadata.name, other.metadata.name
    );
    assert!(message.contains("at its turn, about 20"), "{message}");
    assert_eq!(env.berth_calls("ecs", "RegisterTaskDefinition"), 1);
    let other_name = other.metadata.name.clone().unwrap();
    env.wait_for(
        &other_name,
        "Ready after its turn",
        TIMEOUT,
        |s: &berth::api::EcsService| {
            is_true(&s.status.clone().unwrap_or_default().conditions, READY)
        },
    )
    .await;

    // A job with its own image needs a registration of its own: queued too.
    env.apply_yaml(&format!(
        r#"apiVersion: berth.dev/v1alpha1
kind: MigrationJob
metadata:
  name: smoke
spec:
  serviceRef:
    name: {}
  image: public.ecr.aws/nginx/nginx:1.28
  command: ["smoke"]
"#,
        ready.metadata.name.as_deref().unwrap()
    ))
    .await
    .unwrap();
    env.wait_for(
        "smoke",
        "RegistrationQueued",
        TIMEOUT,
        |j: &MigrationJob| queued(&j.status.clone().unwrap_or_default().conditions),
    )
    .await;
    env.wait_phase("smoke", Phase::Succeeded, TIMEOUT).await;
    assert_eq!(env.berth_calls("ecs", "RegisterTaskDefinition"), 3);
    assert_eq!(env.berth_calls("ecs", "RunTask"), 1);
}
