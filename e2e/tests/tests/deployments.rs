//! EcsService rollouts read from ECS service deployments
//! (DescribeServiceDeployments): rollbacks reported from the deployment
//! record rather than the service's event text, deployment strategies,
//! alarms, manual rollbacks and PostTestTraffic hooks.

use std::time::Duration;

use berth::api::conditions::{is_true, READY};
use berth::api::EcsService;
use berth_e2e::examples::{degraded_message, file, service_job};
use berth_e2e::{condition, task_definition_arn, Env};

const TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_breaker_rollback_is_read_from_the_deployment_record() {
    let env = Env::new("dep-cb").await;
    // The service's events say nothing of a rollback: only the deployment
    // record does.
    let event = "(service shop-api) has reached a steady state.";
    env.awsim.set_rollback_event_text(Some(event));
    let (first, svc) = env.release_an_unhealthy_image(TIMEOUT).await;
    let message = degraded_message(&svc);
    assert!(
        message.contains("the deployment circuit breaker rolled back after ")
            && message.contains(" failed tasks (threshold 3)"),
        "count and threshold from the record: {message}"
    );
    let status = svc.status.clone().unwrap();
    assert!(!is_true(&status.conditions, READY));
    let record = status.rollout.unwrap().service_deployment.unwrap();
    let breaker = record.circuit_breaker.clone().unwrap();
    assert_eq!(breaker.status.as_deref(), Some("TRIGGERED"), "{record:?}");
    assert_eq!(breaker.threshold, 3);
    assert!(breaker.failure_count >= 3, "{record:?}");
    assert!(
        message.contains(&format!("after {} failed tasks", breaker.failure_count)),
        "{message}"
    );

    // ECS serves the old revision; its events never said "rolling back".
    let ecs = env.ecs_service("shop-api").await;
    assert_eq!(ecs.task_definition(), Some(first.as_str()));
    assert_eq!(ecs.current_service_deployment(), record.arn.as_deref());
    let events: Vec<&str> = ecs.events().iter().filter_map(|e| e.message()).collect();
    assert!(events.contains(&event), "{events:?}");
    assert!(
        !events.iter().any(|e| e.contains("rolling back")),
        "{events:?}"
    );
    assert!(env.berth_calls("ecs", "DescribeServiceDeployments") > 0);
    // The columns say what ECS serves and that the rollout rolled back.
    env.wait_rollback_finished("api", TIMEOUT).await;
    env.wait_columns("api", "1", "ROLLBACK_SUCCESSFUL", TIMEOUT)
        .await;
}

/// The example with `deployment` settings added after the circuit breaker.
fn with_deployment(image: &str, extra: &str) -> String {
    let text = file("api.yaml").replace("shop/api:1.4.2", image);
    let anchor = "      rollback: true\n";
    let at = text.find(anchor).expect("the example's circuit breaker") + anchor.len();
    format!("{}{extra}{}", &text[..at], &text[at..])
}

/// The ECS service deployment record berth reports in status.
fn deployment_record(svc: EcsService) -> berth::api::ecs_service::ServiceDeploymentStatus {
    svc.status
        .and_then(|s| s.rollout)
        .and_then(|r| r.service_deployment)
        .expect("a service deployment in status")
}

/// The Progressing message names `stage`.
fn progressing_in(stage: &'static str) -> impl Fn(&EcsService) -> bool {
    move |s: &EcsService| {
        s.status.as_ref().is_some_and(|st| {
            condition(&st.conditions, "Progressing")
                .is_some_and(|c| c.0 == "True" && c.2.contains(&format!("stage {stage}")))
        })
    }
}

/// Rolls out revision 1 of the example with deployment `settings`, then
/// bumps the image and waits until ECS shifts production traffic; the task
/// definition revision 1 runs.
async fn shifting_traffic(env: &Env, settings: &str) -> String {
    let first = task_definition_arn(
        env.deploy(
            &with_deployment("shop/api:1.4.2", settings),
            "api",
            1,
            TIMEOUT,
        )
        .await,
    );
    shift_traffic(env, settings).await;
    first
}

/// Bumps the image of the example with deployment `settings` and waits
/// until berth reports ECS shifting production traffic.
async fn shift_traffic(env: &Env, settings: &str) {
    env.apply_yaml(&with_deployment("shop/api:1.5.0", settings))
        .await
        .unwrap();
    env.wait_for(
        "api",
        "Progressing in stage PRODUCTION_TRAFFIC_SHIFT",
        TIMEOUT,
        progressing_in("PRODUCTION_TRAFFIC_SHIFT"),
    )
    .await;
}

async fn record_of(env: &Env) -> aws_sdk_ecs::types::ServiceDeployment {
    let ecs = aws_sdk_ecs::Client::new(&env.aws().await);
    let arn = env
        .ecs_service("shop-api")
        .await
        .current_service_deployment()
        .unwrap()
        .to_string();
    ecs.describe_service_deployments()
        .service_deployment_arns(arn)
        .send()
        .await
        .unwrap()
        .service_deployments()[0]
        .clone()
}

async fn progresses_to_ready(name: &str, settings: &str, strategy: &str) {
    let env = Env::new(name).await;
    env.deploy(
        &with_deployment("shop/api:1.4.2", settings),
        "api",
        1,
        TIMEOUT,
    )
    .await;
    let config = env
        .ecs_service("shop-api")
        .await
        .deployment_configuration()
        .cloned();
    assert_eq!(
        config
            .as_ref()
            .and_then(|c| c.strategy())
            .map(|s| s.as_str()),
        Some(strategy),
        "{config:?}"
    );

    // berth reports the deployment's steps while ECS shifts traffic.
    shift_traffic(&env, settings).await;
    let svc = env.wait_ready_on("api", 2, TIMEOUT).await;
    let record = deployment_record(svc);
    assert_eq!(record.status.as_deref(), Some("SUCCESSFUL"), "{record:?}");
    let aws = record_of(&env).await;
    assert_eq!(aws.service_deployment_arn(), record.arn.as_deref());
    assert_eq!(
        aws.status().map(|s| s.as_str()),
        Some("SUCCESSFUL"),
        "{aws:?}"
    );
    let events = env.events_for("api").await;
    assert!(
        !events.iter().any(|e| e.contains("DriftCorrected")),
        "the strategy settings read back as sent: {events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linear_deployment_progresses_through_its_steps_to_ready() {
    progresses_to_ready(
        "dep-linear",
        "    strategy: LINEAR\n    bakeTimeInMinutes: 1\n    linear: {stepPercent: 25, stepBakeTimeInMinutes: 2}\n",
        "LINEAR",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_deployment_progresses_through_its_steps_to_ready() {
    progresses_to_ready(
        "dep-canary",
        "    strategy: CANARY\n    bakeTimeInMinutes: 1\n    canary: {canaryPercent: 10, canaryBakeTimeInMinutes: 5}\n",
        "CANARY",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_during_the_bake_rolls_back_and_is_named() {
    let env = Env::new("dep-alarm").await;
    let settings = "    strategy: CANARY\n    bakeTimeInMinutes: 10\n    canary: {canaryPercent: 10, canaryBakeTimeInMinutes: 10}\n    alarms: {names: [shop-api-5xx], rollback: true}\n";
    let first = shifting_traffic(&env, settings).await;
    env.awsim.set_alarm("shop-api-5xx", "ALARM");
    let svc = env
        .wait_degraded::<EcsService>("api", "RolledBack", TIMEOUT)
        .await;
    let message = degraded_message(&svc);
    assert!(
        message.contains("deployment alarm shop-api-5xx went into ALARM"),
        "{message}"
    );
    let record = deployment_record(svc);
    assert_eq!(record.triggered_alarms, vec!["shop-api-5xx".to_string()]);
    env.wait_rollback_finished("api", TIMEOUT).await;
    assert_eq!(
        env.ecs_service("shop-api").await.task_definition(),
        Some(first.as_str())
    );
    env.wait_columns("api", "1", "ROLLBACK_SUCCESSFUL", TIMEOUT)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_annotation_rolls_back_the_ongoing_deployment_once() {
    let env = Env::new("dep-manual").await;
    // A canary that bakes long enough to be rolled back by hand.
    let settings = "    strategy: CANARY\n    bakeTimeInMinutes: 30\n    canary: {canaryPercent: 10, canaryBakeTimeInMinutes: 30}\n";
    let first = shifting_traffic(&env, settings).await;

    env.annotate::<EcsService>(
        "api",
        "berth.dev/rollback",
        serde_json::json!("incident-42"),
    )
    .await;
    let svc = env
        .wait_degraded::<EcsService>("api", "RolledBack", TIMEOUT)
        .await;
    let message = degraded_message(&svc);
    assert!(
        message.contains("berth.dev/rollback") && message.contains("incident-42"),
        "{message}"
    );
    let status = svc.status.unwrap();
    assert_eq!(status.rollback_requested.as_deref(), Some("incident-42"));
    env.wait_rollback_finished("api", TIMEOUT).await;
    assert_eq!(
        env.ecs_service("shop-api").await.task_definition(),
        Some(first.as_str())
    );
    let events = env.events_for("api").await;
    assert!(
        events
            .iter()
            .any(|e| e.contains("RollbackRequested") && e.contains("incident-42")),
        "{events:?}"
    );
    assert_eq!(env.berth_calls("ecs", "StopServiceDeployment"), 1);
    env.wait_columns("api", "1", "ROLLBACK_SUCCESSFUL", TIMEOUT)
        .await;

    // The handled value does not roll back again.
    env.refresh_and_wait::<EcsService>("api", TIMEOUT).await;
    assert_eq!(env.berth_calls("ecs", "StopServiceDeployment"), 1);
}

fn post_test_job(image_tag: &str) -> String {
    service_job(
        "smoke",
        &format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api:{image_tag}"),
        "  hook: PostTestTraffic\n  backoffLimit: 0\n",
    )
}

const BLUE_GREEN: &str = "    strategy: BLUE_GREEN\n    bakeTimeInMinutes: 1\n";

/// berth's ContinueServiceDeployment calls: (action, virtual time).
fn continue_calls(env: &Env) -> Vec<(String, f64)> {
    env.berth_call_log()
        .iter()
        .filter(|c| c["action"] == "ContinueServiceDeployment" && c["outcome"] == "ok")
        .map(|c| {
            (
                c["params"]["action"]
                    .as_str()
                    .unwrap_or("CONTINUE")
                    .to_string(),
                c["virtualTime"]
                    .as_f64()
                    .or(c["virtual_time"].as_f64())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

async fn paused_deployment_runs_the_job(name: &str, tag: &str) -> (Env, String) {
    let env = Env::new(name).await;
    env.apply_yaml(&with_deployment("shop/api:1.4.2", BLUE_GREEN))
        .await
        .unwrap();
    env.apply_yaml(&post_test_job(tag)).await.unwrap();
    let first = task_definition_arn(env.wait_ready_on("api", 1, TIMEOUT).await);
    let config = env
        .ecs_service("shop-api")
        .await
        .deployment_configuration()
        .cloned()
        .unwrap();
    assert!(
        config.lifecycle_hooks().iter().any(|h| h
            .target_type()
            .is_some_and(|t| t.as_str() == "PAUSE")
            && h.lifecycle_stages()
                .iter()
                .any(|s| s.as_str() == "POST_TEST_TRAFFIC_SHIFT")),
        "{config:?}"
    );
    env.apply_yaml(&with_deployment("shop/api:1.5.0", BLUE_GREEN))
        .await
        .unwrap();
    (env, first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_test_traffic_job_passes_and_the_deployment_continues() {
    let (env, _) = paused_deployment_runs_the_job("dep-ptt-pass", "smoke-sleep-5").await;
    let job: berth::api::MigrationJob = env
        .wait_phase(
            "smoke",
            berth::api::migration_job::Phase::Succeeded,
            TIMEOUT,
        )
        .await;
    let status = job.status.unwrap();
    assert_eq!(status.exit_code, Some(0));
    let checked = status.service_deployment.clone().unwrap();
    env.wait_ready_on("api", 2, TIMEOUT).await;
    let calls = continue_calls(&env);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].0, "CONTINUE");
    // The continue came after the job's task stopped with exit 0.
    let task = env.ecs_task(status.task_arn.unwrap()).await;
    let stopped = task.stopped_at().unwrap().as_secs_f64();
    assert!(
        calls[0].1 >= stopped,
        "continue at {} before the task stopped at {stopped}",
        calls[0].1
    );
    assert_eq!(
        record_of(&env).await.service_deployment_arn(),
        Some(checked.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_test_traffic_job_fails_and_the_deployment_rolls_back() {
    let (env, first) = paused_deployment_runs_the_job("dep-ptt-fail", "smoke-exit-1").await;
    let svc = env
        .wait_degraded::<EcsService>("api", "PostTestTrafficCheckFailed", TIMEOUT)
        .await;
    let message = degraded_message(&svc);
    assert!(
        message.contains("PostTestTraffic MigrationJob smoke failed with exit code 1"),
        "{message}"
    );
    env.wait_rollback_finished("api", TIMEOUT).await;
    let calls = continue_calls(&env);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].0, "ROLLBACK");
    assert_eq!(
        env.ecs_service("shop-api").await.task_definition(),
        Some(first.as_str())
    );
    let svc: EcsService = env.api().get("api").await.unwrap();
    assert_eq!(
        condition(&svc.status.unwrap().conditions, "Degraded")
            .unwrap()
            .1,
        "PostTestTrafficCheckFailed"
    );
    env.wait_columns("api", "1", "ROLLBACK_SUCCESSFUL", TIMEOUT)
        .await;
}

/// A PreRollout migration gates a BLUE_GREEN, LINEAR or CANARY rollout as it
/// gates a rolling one: the new revision's migration runs and succeeds
/// before berth starts the deployment (UpdateService).
async fn pre_rollout_migration_gates(name: &str, settings: &str) {
    let env = Env::new(name).await;
    env.apply_yaml(&berth_e2e::examples::migration())
        .await
        .unwrap();
    env.deploy(
        &with_deployment("shop/api:1.4.2", settings),
        "api",
        1,
        TIMEOUT,
    )
    .await;
    let mark = env.berth_call_mark();
    env.deploy(
        &with_deployment("shop/api:1.5.0", settings),
        "api",
        2,
        TIMEOUT,
    )
    .await;
    let job = env
        .api::<berth::api::MigrationJob>()
        .get("api-migrate")
        .await
        .unwrap()
        .status
        .unwrap();
    let finished: f64 = job
        .finished_at
        .as_deref()
        .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
        .map(|t| t.as_millisecond() as f64 / 1000.0)
        .expect("the migration's finishedAt");
    let calls = env.berth_call_log_since(mark);
    let time_of = |action: &str| {
        calls
            .iter()
            .find(|c| c["action"] == action && c["outcome"] == "ok")
            .and_then(|c| c["time"].as_f64())
            .unwrap_or_else(|| panic!("no {action} after the image bump"))
    };
    let (run, update) = (time_of("RunTask"), time_of("UpdateService"));
    assert!(
        run < update,
        "the deployment started before the migration ran"
    );
    assert!(
        finished <= update + 0.001,
        "the deployment started at {update} before the migration finished at {finished}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_rollout_migration_gates_blue_green() {
    pre_rollout_migration_gates("dep-gate-bg", BLUE_GREEN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_rollout_migration_gates_linear_and_canary() {
    pre_rollout_migration_gates(
        "dep-gate-linear",
        "    strategy: LINEAR\n    bakeTimeInMinutes: 1\n    linear: {stepPercent: 50, stepBakeTimeInMinutes: 1}\n",
    )
    .await;
    pre_rollout_migration_gates(
        "dep-gate-canary",
        "    strategy: CANARY\n    bakeTimeInMinutes: 1\n    canary: {canaryPercent: 10, canaryBakeTimeInMinutes: 1}\n",
    )
    .await;
}
