//! Status writes land in every state. The statuses of each outcome of every
//! kind (an EcsService creating, rolling out, rolled back, its service
//! vanished mid-rollout, failed; a MigrationJob in each phase; an
//! AuroraCluster; a PullThroughCache) are server-side applied in turn, as
//! berth writes them, and the real API server accepts each. An ECS service
//! deleted behind berth's back in the middle of a rollout turns its
//! EcsService away from Ready at the next reconcile, and the API server
//! accepts every status write berth makes on the way (none refused).

use std::time::Duration;

use berth::api::aurora_cluster::{AuroraClusterStatus, ProxyTargetHealth};
use berth::api::conditions::{is_true, merge, Desired, READY};
use berth::api::ecs_service::{
    CircuitBreakerStatus, EcsServiceStatus, RolloutStatus, ServiceDeploymentStatus,
    StoppedContainer, StoppedTask,
};
use berth::api::migration_job::{MigrationJobStatus, Phase};
use berth::api::pull_through_cache::PullThroughCacheStatus;
use berth::api::reasons::Reason;
use berth::api::{AuroraCluster, EcsService, MigrationJob, PullThroughCache};
use berth_e2e::examples::file;
use berth_e2e::measure::sum;
use berth_e2e::Env;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(150);

/// Status writes the API server refused, as berth's metric counts them.
async fn refused_writes(env: &Env) -> f64 {
    let metrics = env.berth_metrics().await.expect("berth's /metrics");
    sum(&metrics, "berth_status_writes_refused_total", &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_deleted_behind_berths_back_mid_rollout_leaves_ready_and_every_status_write_lands(
) {
    let env = Env::new("vanished").await;
    env.deploy(&file("api.yaml"), "api", 1, TIMEOUT).await;
    // Revision 2 never passes its health checks: the rollout stays under
    // way until the circuit breaker trips, long after the service is gone.
    env.apply_yaml(&file("api.yaml").replace("shop/api:1.4.2", "shop/api:1.5.0-unhealthy"))
        .await
        .unwrap();
    env.wait_for(
        "api",
        "rolling out revision 2 with its record",
        TIMEOUT,
        |s: &EcsService| {
            s.status.as_ref().is_some_and(|st| {
                st.rollout.as_ref().is_some_and(|r| {
                    r.revision == Some(2)
                        && r.service_deployment
                            .as_ref()
                            .is_some_and(|d| d.arn.is_some())
                }) && is_true(&st.conditions, "Progressing")
            })
        },
    )
    .await;

    // Someone deletes the ECS service with the AWS CLI (`--force`).
    let (started, _) = env.reconciles("EcsService", "api").await;
    let ecs = aws_sdk_ecs::Client::new(&env.aws().await);
    ecs.delete_service()
        .cluster("shop")
        .service("shop-api")
        .force(true)
        .send()
        .await
        .expect("DeleteService");

    // The first reconcile that began after the delete no longer says Ready.
    env.wait_reconciled_since("EcsService", "api", started, TIMEOUT)
        .await;
    let svc: EcsService = env.api().get("api").await.unwrap();
    let status = svc.status.clone().unwrap();
    assert!(
        !is_true(&status.conditions, READY),
        "still Ready after the service was deleted: {:#?}",
        status.conditions
    );

    // berth re-creates the service; its rollout of revision 2 goes on and
    // every status write on the way was accepted.
    env.wait_for("api", "a new ECS service", TIMEOUT, |s: &EcsService| {
        s.status
            .as_ref()
            .and_then(|st| st.service_arn.as_deref())
            .is_some()
            && s.status.as_ref().is_some_and(|st| {
                st.conditions
                    .iter()
                    .any(|c| c.type_ == READY && c.reason != "RolloutComplete")
            })
    })
    .await;
    let recreated = env.ecs_service("shop-api").await;
    assert_eq!(recreated.status(), Some("ACTIVE"));
    assert_eq!(
        refused_writes(&env).await,
        0.0,
        "a status write was refused"
    );
    let log = env.berth_log();
    assert!(
        !log.contains("StatusWriteRefused") && !log.contains("is invalid"),
        "the API server refused a status write:\n{}",
        berth_e2e::tail(&log, 40)
    );
}

/// Conditions as a plan states them (type, status, reason, message).
fn conditions(desired: &[(&'static str, bool, Reason, &str)]) -> Vec<Condition> {
    let desired: Vec<Desired> = desired
        .iter()
        .map(|&(t, s, r, m)| Desired::new(t, s, r, m))
        .collect();
    merge(&[], &desired, Some(1), Timestamp::now())
}

/// The three conditions of a failure a human must fix.
fn failed(reason: Reason, message: &str) -> Vec<Condition> {
    conditions(&[
        (READY, false, reason, message),
        ("Progressing", false, reason, message),
        ("Degraded", true, reason, message),
    ])
}

const TD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/shop-api";
const RECORD: &str = "arn:aws:ecs:us-east-1:123456789012:service-deployment/shop/shop-api/r2";

/// The EcsService statuses of each outcome of a release, in the order a
/// service goes through them: creating, rolling out, rolled back, its
/// service vanished mid-rollout (no counts, no serving revision, a record
/// whose ARN is not known yet), failed.
fn ecs_service_statuses() -> Vec<(&'static str, EcsServiceStatus)> {
    let creating = EcsServiceStatus {
        observed_generation: Some(1),
        conditions: conditions(&[
            (READY, false, Reason::Creating, "creating the ECS service"),
            (
                "Progressing",
                true,
                Reason::Creating,
                "creating the ECS service",
            ),
            (
                "Degraded",
                false,
                Reason::AsExpected,
                "nothing needs a human",
            ),
        ]),
        task_definition_arn: Some(format!("{TD}:1")),
        revision: Some(1),
        spec_hash: Some("h1".into()),
        rollout: Some(RolloutStatus {
            state: Some("IN_PROGRESS".into()),
            reason: Some("creating the service".into()),
            started_at: Some(Timestamp::now().to_string()),
            revision: Some(1),
            ..Default::default()
        }),
        ..Default::default()
    };
    let rolling_out = EcsServiceStatus {
        conditions: conditions(&[
            (READY, false, Reason::RollingOut, "rolling out revision 2"),
            (
                "Progressing",
                true,
                Reason::RollingOut,
                "rolling out revision 2",
            ),
            (
                "Degraded",
                false,
                Reason::AsExpected,
                "nothing needs a human",
            ),
        ]),
        service_arn: Some("arn:aws:ecs:us-east-1:123456789012:service/shop/shop-api".into()),
        task_definition_arn: Some(format!("{TD}:2")),
        revision: Some(2),
        serving_revision: Some(2),
        desired_count: Some(2),
        running_count: Some(1),
        pending_count: Some(1),
        previous_task_definition_arn: Some(format!("{TD}:1")),
        rollout: Some(RolloutStatus {
            state: Some("IN_PROGRESS".into()),
            deployment_id: Some("ecs-svc/2".into()),
            revision: Some(2),
            failed_tasks: 1,
            service_deployment: Some(ServiceDeploymentStatus {
                arn: Some(RECORD.into()),
                status: Some("IN_PROGRESS".into()),
                lifecycle_stage: Some("BAKE_TIME".into()),
                circuit_breaker: Some(CircuitBreakerStatus {
                    status: Some("MONITORING".into()),
                    failure_count: 1,
                    threshold: 3,
                }),
                target_revision_arn: Some(
                    "arn:aws:ecs:us-east-1:123456789012:service-revision/shop/shop-api/2".into(),
                ),
                ..Default::default()
            }),
            ..creating.rollout.clone().unwrap()
        }),
        ..creating.clone()
    };
    let stopped = StoppedTask {
        task_arn: "arn:aws:ecs:us-east-1:123456789012:task/shop/0123".into(),
        task_definition_arn: Some(format!("{TD}:2")),
        stop_code: Some("TaskFailedToStart".into()),
        stopped_reason: Some("CannotPullContainerError: not found".into()),
        containers: vec![StoppedContainer {
            name: "api".into(),
            exit_code: None,
            reason: Some("CannotPullContainerError".into()),
        }],
        ..Default::default()
    };
    let rolled_back = EcsServiceStatus {
        conditions: failed(
            Reason::RolledBack,
            "the deployment circuit breaker rolled back revision 2",
        ),
        serving_revision: Some(1),
        last_stopped_tasks: vec![stopped],
        rollback_requested: Some("incident-42".into()),
        rollout: Some(RolloutStatus {
            state: Some("ROLLBACK_SUCCESSFUL".into()),
            service_deployment: Some(ServiceDeploymentStatus {
                status: Some("ROLLBACK_SUCCESSFUL".into()),
                triggered_alarms: vec!["shop-api-5xx".into()],
                rollback_reason: Some("circuit breaker".into()),
                ..rolling_out
                    .rollout
                    .clone()
                    .unwrap()
                    .service_deployment
                    .unwrap()
            }),
            ..rolling_out.rollout.clone().unwrap()
        }),
        ..rolling_out.clone()
    };
    let vanished = EcsServiceStatus {
        conditions: creating.conditions.clone(),
        desired_count: None,
        running_count: None,
        pending_count: None,
        serving_revision: None,
        rollout: Some(RolloutStatus {
            service_deployment: Some(ServiceDeploymentStatus::default()),
            ..creating.rollout.clone().unwrap()
        }),
        ..rolling_out.clone()
    };
    let failed_rollout = EcsServiceStatus {
        conditions: failed(Reason::RolloutFailed, "the rollout of revision 2 failed"),
        rollout: Some(RolloutStatus {
            state: Some("FAILED".into()),
            failed_tasks: 3,
            ..rolling_out.rollout.clone().unwrap()
        }),
        ..rolling_out.clone()
    };
    vec![
        ("creating", creating),
        ("rolling out", rolling_out),
        ("rolled back", rolled_back),
        ("vanished mid-rollout", vanished),
        ("failed", failed_rollout),
    ]
}

fn migration_job_statuses() -> Vec<(&'static str, MigrationJobStatus)> {
    let pending = MigrationJobStatus {
        observed_generation: Some(1),
        conditions: conditions(&[
            (
                READY,
                false,
                Reason::WaitingForService,
                "waiting for EcsService api",
            ),
            (
                "Progressing",
                true,
                Reason::WaitingForService,
                "waiting for EcsService api",
            ),
            (
                "Degraded",
                false,
                Reason::AsExpected,
                "nothing needs a human",
            ),
        ]),
        phase: Some(Phase::Pending),
        ..Default::default()
    };
    let running = MigrationJobStatus {
        conditions: conditions(&[
            (READY, false, Reason::Running, "task 0123 runs (attempt 1)"),
            (
                "Progressing",
                true,
                Reason::Running,
                "task 0123 runs (attempt 1)",
            ),
            (
                "Degraded",
                false,
                Reason::AsExpected,
                "nothing needs a human",
            ),
        ]),
        phase: Some(Phase::Running),
        run_hash: Some("abc".into()),
        service_hash: Some("h1".into()),
        service_deployment: Some(RECORD.into()),
        attempts: 1,
        start_failures: vec![1],
        task_arn: Some("arn:aws:ecs:us-east-1:123456789012:task/shop/0123".into()),
        started_at: Some(Timestamp::now().to_string()),
        ..pending.clone()
    };
    let succeeded = MigrationJobStatus {
        conditions: conditions(&[
            (READY, true, Reason::Succeeded, "the migration exited 0"),
            (
                "Progressing",
                false,
                Reason::Succeeded,
                "the migration exited 0",
            ),
            (
                "Degraded",
                false,
                Reason::AsExpected,
                "nothing needs a human",
            ),
        ]),
        phase: Some(Phase::Succeeded),
        exit_code: Some(0),
        finished_at: Some(Timestamp::now().to_string()),
        log_tail: vec!["migrated".into()],
        ..running.clone()
    };
    let failed_job = MigrationJobStatus {
        conditions: failed(Reason::BackoffLimitExceeded, "every attempt failed"),
        phase: Some(Phase::Failed),
        exit_code: Some(1),
        stopped_reason: Some("Essential container in task exited".into()),
        ..succeeded.clone()
    };
    vec![
        ("pending", pending),
        ("running", running),
        ("succeeded", succeeded),
        ("failed", failed_job),
    ]
}

/// Server-side applies `status` to `name` as berth does (field manager
/// `berth`, forced): the statuses of one kind in turn, so the API server
/// also merges each onto the one before.
async fn write_statuses<K, S>(env: &Env, name: &str, statuses: Vec<(&str, S)>)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    S: serde::Serialize,
{
    let api: kube::Api<K> = env.api();
    for (case, status) in statuses {
        let patch = json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "status": status,
        });
        let written = api
            .patch_status(
                name,
                &PatchParams::apply("berth").force(),
                &Patch::Apply(&patch),
            )
            .await;
        assert!(
            written.is_ok(),
            "the API server refused the {} status {case:?}: {:?}",
            K::kind(&()),
            written.err()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_of_every_outcome_is_accepted_by_the_api_server() {
    let env = Env::without_berth("status-schema").await;
    for example in [
        "api.yaml",
        "api-migrate.yaml",
        "orders-db.yaml",
        "pull-through-cache.yaml",
    ] {
        env.apply_yaml(&file(example)).await.unwrap();
    }
    write_statuses::<EcsService, _>(&env, "api", ecs_service_statuses()).await;
    write_statuses::<MigrationJob, _>(&env, "api-migrate", migration_job_statuses()).await;

    let available = AuroraClusterStatus {
        observed_generation: Some(1),
        conditions: conditions(&[
            (READY, true, Reason::Available, "the cluster is available"),
            (
                "Progressing",
                false,
                Reason::Available,
                "the cluster is available",
            ),
            (
                "Degraded",
                false,
                Reason::AsExpected,
                "nothing needs a human",
            ),
        ]),
        status: Some("available".into()),
        endpoint: Some("orders-db.cluster-x.us-east-1.rds.amazonaws.com".into()),
        port: Some(5432),
        instances_ready: 2,
        proxy_target_health: Some(ProxyTargetHealth {
            state: Some("AVAILABLE".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let registering = AuroraClusterStatus {
        conditions: conditions(&[
            (
                READY,
                false,
                Reason::Modifying,
                "the proxy registers its target",
            ),
            (
                "Progressing",
                true,
                Reason::Modifying,
                "the proxy registers its target",
            ),
            (
                "Degraded",
                false,
                Reason::AsExpected,
                "nothing needs a human",
            ),
        ]),
        // RDS reported no state for the target yet.
        proxy_target_health: Some(ProxyTargetHealth::default()),
        ..available.clone()
    };
    write_statuses::<AuroraCluster, _>(
        &env,
        "orders-db",
        vec![
            ("available", available),
            ("proxy target registering", registering),
        ],
    )
    .await;

    let ready = PullThroughCacheStatus {
        observed_generation: Some(1),
        conditions: conditions(&[
            (READY, true, Reason::RuleReady, "the rule is valid"),
            ("Progressing", false, Reason::RuleReady, "the rule is valid"),
            (
                "Degraded",
                false,
                Reason::AsExpected,
                "nothing needs a human",
            ),
        ]),
        registry_id: Some("123456789012".into()),
        valid: Some(true),
        ..Default::default()
    };
    let invalid = PullThroughCacheStatus {
        conditions: failed(Reason::RuleInvalid, "the upstream is unreachable"),
        valid: Some(false),
        validation_failure: Some("upstream unreachable".into()),
        ..ready.clone()
    };
    write_statuses::<PullThroughCache, _>(
        &env,
        "docker-hub",
        vec![("ready", ready), ("invalid", invalid)],
    )
    .await;

    // What was written last is what a user reads.
    let svc: EcsService = env.api().get("api").await.unwrap();
    let st = svc.status.unwrap();
    assert_eq!(st.rollout.unwrap().state.as_deref(), Some("FAILED"));
}
