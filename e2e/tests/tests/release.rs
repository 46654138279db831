//! Release gating end to end: a PreRollout migration runs with the new
//! image in the service's network before the service rolls out; a
//! PostRollout smoke test runs after; a failing migration keeps the old
//! revision serving.

use std::time::Duration;

use berth::api::migration_job::Phase;
use berth::api::{EcsService, MigrationJob};
use berth_e2e::awsim::ThrottleProfile;
use berth_e2e::examples::{degraded_message, file, migration};
use berth_e2e::{task_definition_arn, Env};

const TIMEOUT: Duration = Duration::from_secs(150);

fn succeeded_for(hash: String) -> impl Fn(&MigrationJob) -> bool {
    move |j: &MigrationJob| {
        j.status.as_ref().is_some_and(|st| {
            st.phase == Some(Phase::Succeeded) && st.service_hash.as_deref() == Some(hash.as_str())
        })
    }
}

async fn service_hash(env: &Env) -> String {
    env.api::<EcsService>()
        .get("api")
        .await
        .unwrap()
        .status
        .unwrap()
        .spec_hash
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_gates_the_rollout_and_the_smoke_test_follows() {
    let env = Env::new("release").await;
    // AWS's published rates: berth's limiter must keep every call under them.
    env.awsim.set_throttle_profile(ThrottleProfile::Aws);
    env.apply_yaml(&migration()).await.unwrap();
    env.apply_yaml(&file("api-smoke-test.yaml")).await.unwrap();
    env.deploy(&file("api.yaml"), "api", 1, TIMEOUT).await;
    let h1 = service_hash(&env).await;
    env.wait_for(
        "api-migrate",
        "Succeeded for revision 1",
        TIMEOUT,
        succeeded_for(h1.clone()),
    )
    .await;
    env.wait_for(
        "api-smoke-test",
        "Succeeded for revision 1",
        TIMEOUT,
        succeeded_for(h1),
    )
    .await;

    // Bump the image: migration first, then the rollout, then the smoke test.
    let mark = env.berth_call_mark();
    env.deploy(
        &file("api.yaml").replace("shop/api:1.4.2", "shop/api:1.5.0"),
        "api",
        2,
        TIMEOUT,
    )
    .await;
    let h2 = service_hash(&env).await;
    let migrate = env
        .wait_for(
            "api-migrate",
            "Succeeded for revision 2",
            TIMEOUT,
            succeeded_for(h2.clone()),
        )
        .await;
    env.wait_for(
        "api-smoke-test",
        "Succeeded for revision 2",
        TIMEOUT,
        succeeded_for(h2),
    )
    .await;
    let migrate = migrate.status.unwrap();
    assert_eq!(migrate.exit_code, Some(0));

    // The migration ran inside the VPC: in the service's subnets.
    let ecs = aws_sdk_ecs::Client::new(&env.aws().await);
    let task = ecs
        .describe_tasks()
        .cluster("shop")
        .tasks(migrate.task_arn.unwrap())
        .send()
        .await
        .unwrap();
    let subnet = task.tasks()[0]
        .attachments()
        .iter()
        .flat_map(|a| a.details())
        .find(|d| d.name() == Some("subnetId"))
        .and_then(|d| d.value().map(str::to_string));
    assert!(
        subnet
            .as_deref()
            .is_some_and(|s| s.starts_with("subnet-0a1b2c3d4e5f6000")),
        "the migration task's subnet comes from the service: {subnet:?}"
    );

    let log = env.berth_call_log_since(mark);
    let calls: Vec<&serde_json::Value> = log.iter().filter(|c| c["outcome"] == "ok").collect();
    let position = |pred: &dyn Fn(&serde_json::Value) -> bool| calls.iter().position(|c| pred(c));
    let migration_run = position(&|c| {
        c["action"] == "RunTask"
            && c["params"]["taskDefinition"]
                .as_str()
                .is_some_and(|t| t.contains("task-definition/shop-api:2"))
    })
    .expect("the migration ran with the new revision");
    let rollout = position(&|c| {
        c["action"] == "UpdateService"
            && c["params"]["taskDefinition"]
                .as_str()
                .is_some_and(|t| t.contains("shop-api:2"))
    })
    .expect("the service rolled out revision 2");
    let smoke_run = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c["action"] == "RunTask")
        .map(|(i, _)| i)
        .find(|i| *i > rollout)
        .expect("the smoke test ran after the rollout");
    assert!(
        migration_run < rollout && rollout < smoke_run,
        "order: migration RunTask #{migration_run}, UpdateService #{rollout}, smoke RunTask #{smoke_run}\n{:#?}",
        calls.iter().map(|c| format!("{} {}", c["action"], c["params"])).collect::<Vec<_>>()
    );

    // Re-applying unchanged manifests never re-runs a succeeded migration.
    let runs = env.berth_calls("ecs", "RunTask");
    env.apply_yaml(&migration()).await.unwrap();
    env.apply_yaml(&file("api.yaml").replace("shop/api:1.4.2", "shop/api:1.5.0"))
        .await
        .unwrap();
    // Unchanged manifests change nothing berth watches: make it look again.
    for job in ["api-migrate", "api-smoke-test"] {
        env.refresh_and_wait::<MigrationJob>(job, TIMEOUT).await;
    }
    assert_eq!(env.berth_calls("ecs", "RunTask"), runs);
    assert_unthrottled(&env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_migration_keeps_the_old_revision_until_fixed() {
    let env = Env::new("release-fail").await;
    // AWS's published rates: berth's limiter must keep every call under them.
    env.awsim.set_throttle_profile(ThrottleProfile::Aws);
    env.apply_yaml(&migration()).await.unwrap();
    let first = task_definition_arn(env.deploy(&file("api.yaml"), "api", 1, TIMEOUT).await);

    env.apply_yaml(&file("api.yaml").replace("shop/api:1.4.2", "shop/api:1.5.0-exit-1"))
        .await
        .unwrap();
    let svc = env
        .wait_degraded::<EcsService>("api", "MigrationFailed", TIMEOUT)
        .await;
    let message = degraded_message(&svc);
    assert!(
        message.contains("api-migrate") && message.contains("exit code 1"),
        "{message}"
    );
    let job = env.api::<MigrationJob>().get("api-migrate").await.unwrap();
    let st = job.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Failed));
    assert_eq!(st.exit_code, Some(1));
    assert_eq!(st.attempts, 3, "backoffLimit 2 = three attempts");
    // ECS still serves revision 1.
    let served = env.ecs_service("shop-api").await;
    assert_eq!(served.task_definition(), Some(first.as_str()));

    // Fixing the image re-runs the migration and releases the rollout.
    env.deploy(
        &file("api.yaml").replace("shop/api:1.4.2", "shop/api:1.5.1"),
        "api",
        3,
        TIMEOUT,
    )
    .await;
    assert_unthrottled(&env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_smoke_test_rolls_the_service_back() {
    let env = Env::new("release-smoke").await;
    // AWS's published rates: berth's limiter must keep every call under them.
    env.awsim.set_throttle_profile(ThrottleProfile::Aws);
    env.apply_yaml(&migration()).await.unwrap();
    env.apply_yaml(&file("api-smoke-test.yaml")).await.unwrap();
    let first = task_definition_arn(env.deploy(&file("api.yaml"), "api", 1, TIMEOUT).await);
    let h1 = service_hash(&env).await;
    env.wait_for(
        "api-smoke-test",
        "Succeeded for revision 1",
        TIMEOUT,
        succeeded_for(h1.clone()),
    )
    .await;

    // A new API image whose smoke test fails.
    env.apply_yaml(&file("api.yaml").replace("shop/api:1.4.2", "shop/api:1.5.0"))
        .await
        .unwrap();
    env.wait_for("api", "revision 2 registered", TIMEOUT, |s: &EcsService| {
        s.status.as_ref().is_some_and(|st| st.revision == Some(2))
    })
    .await;
    env.apply_yaml(
        &file("api-smoke-test.yaml").replace("shop/api-smoke:1.4.2", "shop/api-smoke:1.5.0-exit-1"),
    )
    .await
    .unwrap();
    let svc = env
        .wait_degraded::<EcsService>("api", "PostRolloutCheckFailed", TIMEOUT)
        .await;
    let message = degraded_message(&svc);
    assert!(
        message.contains("api-smoke-test") && message.contains("rolled back"),
        "{message}"
    );

    // ECS is back on revision 1.
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let served = env.ecs_service("shop-api").await;
        if served.task_definition() == Some(first.as_str()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the service was not rolled back"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let events = env.events_for("api").await;
    assert!(
        events.iter().any(|e| e.contains("rolling back")),
        "{events:?}"
    );
    // berth's own rollback shows as ECS's would: revision 1 serves.
    env.wait_columns("api", "1", "ROLLBACK_SUCCESSFUL", TIMEOUT)
        .await;
    assert_unthrottled(&env);
}

/// No call of berth's was throttled by awsim's AWS-rate buckets.
fn assert_unthrottled(env: &Env) {
    let calls = env.awsim.calls(Some("berth"));
    assert_eq!(calls["throttled"].as_u64(), Some(0), "{calls}");
}
