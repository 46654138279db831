//! EcsService rollouts read from ECS service deployments
//! (DescribeServiceDeployments): rollbacks reported from the deployment
//! record rather than the service's event text, deployment strategies,
//! alarms, manual rollbacks and PostTestTraffic hooks.

use std::time::Duration;

use berth::api::conditions::{is_true, READY};
use berth::api::EcsService;
use berth_e2e::examples::{degraded, degraded_message, ready_on};
use berth_e2e::{workspace_root, Env};

const TIMEOUT: Duration = Duration::from_secs(120);

fn example() -> String {
    std::fs::read_to_string(workspace_root().join("examples/api.yaml")).unwrap()
}

async fn ecs_service(env: &Env) -> aws_sdk_ecs::types::Service {
    let ecs = aws_sdk_ecs::Client::new(&env.aws().await);
    ecs.describe_services()
        .cluster("shop")
        .services("shop-api")
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_breaker_rollback_is_read_from_the_deployment_record() {
    let env = Env::new("dep-cb").await;
    // The service's events say nothing of a rollback: only the deployment
    // record does.
    let event = "(service shop-api) has reached a steady state.";
    env.awsim.set_rollback_event_text(Some(event));
    env.apply_yaml(&example()).await.unwrap();
    let first = env
        .wait_for("api", "Ready on revision 1", TIMEOUT, ready_on(1))
        .await
        .status
        .unwrap()
        .task_definition_arn
        .unwrap();

    env.apply_yaml(&example().replace("shop/api:1.4.2", "shop/api:1.5.0-unhealthy"))
        .await
        .unwrap();
    let svc = env
        .wait_for(
            "api",
            "Degraded/RolledBack",
            TIMEOUT,
            degraded("RolledBack"),
        )
        .await;
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
    let ecs = ecs_service(&env).await;
    assert_eq!(ecs.task_definition(), Some(first.as_str()));
    assert_eq!(ecs.current_service_deployment(), Some(record.arn.as_str()));
    let events: Vec<&str> = ecs.events().iter().filter_map(|e| e.message()).collect();
    assert!(events.contains(&event), "{events:?}");
    assert!(
        !events.iter().any(|e| e.contains("rolling back")),
        "{events:?}"
    );
    assert!(env.berth_calls("ecs", "DescribeServiceDeployments") > 0);
}
