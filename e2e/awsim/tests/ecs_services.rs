//! ECS services through the real aws-sdk-ecs client: rolling updates, scale
//! only updates, the circuit breaker with rollback, delete, and lookups.

mod common;

use std::time::Duration;

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition,
    DeploymentCircuitBreaker, DeploymentConfiguration, HealthCheck, LaunchType,
    NetworkConfiguration, NetworkMode, Service,
};
use aws_sdk_ecs::Client;
use common::{ecs, start_fast, wait_for};

const CLUSTER: &str = "prod";

fn network() -> NetworkConfiguration {
    NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .subnets("subnet-a")
                .subnets("subnet-b")
                .security_groups("sg-1")
                .assign_public_ip(AssignPublicIp::Disabled)
                .build()
                .unwrap(),
        )
        .build()
}

async fn register(ecs: &Client, image: &str) -> String {
    let c = ContainerDefinition::builder()
        .name("web")
        .image(image)
        .health_check(
            HealthCheck::builder()
                .command("CMD-SHELL")
                .command("curl -f http://localhost/ || exit 1")
                .interval(5)
                .retries(2)
                .build()
                .unwrap(),
        )
        .build();
    ecs.register_task_definition()
        .family("web")
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .cpu("512")
        .memory("1024")
        .container_definitions(c)
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap()
}

async fn describe(ecs: &Client, name: &str) -> Service {
    ecs.describe_services()
        .cluster(CLUSTER)
        .services(name)
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone()
}

/// Waits until the service's only deployment runs `td` with COMPLETED
/// rollout and `count` running tasks.
async fn wait_completed(ecs: &Client, name: &str, td: &str, count: i32) -> Service {
    wait_for("rollout COMPLETED", Duration::from_secs(15), || async {
        let s = describe(ecs, name).await;
        let d = s.deployments();
        let done = d.len() == 1
            && d[0].task_definition() == Some(td)
            && d[0].rollout_state().map(|r| r.as_str()) == Some("COMPLETED")
            && s.running_count() == count
            && s.pending_count() == 0;
        done.then_some(s)
    })
    .await
}

async fn create(
    ecs: &Client,
    name: &str,
    td: &str,
    desired: i32,
    circuit_breaker: bool,
) -> Service {
    ecs.create_service()
        .cluster(CLUSTER)
        .service_name(name)
        .task_definition(td)
        .desired_count(desired)
        .launch_type(LaunchType::Fargate)
        .network_configuration(network())
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .minimum_healthy_percent(50)
                .maximum_percent(200)
                .deployment_circuit_breaker(
                    DeploymentCircuitBreaker::builder()
                        .enable(circuit_breaker)
                        .rollback(circuit_breaker)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .service
        .unwrap()
}

async fn setup() -> (awsim::Handle, Client) {
    let h = start_fast().await;
    let client = ecs(&h);
    client
        .create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .unwrap();
    (h, client)
}

#[tokio::test]
async fn rolling_update_from_revision_one_to_two() {
    let (h, ecs) = setup().await;
    let rev1 = register(&ecs, "nginx:1.27").await;
    let rev2 = register(&ecs, "nginx:1.28").await;
    assert!(rev1.ends_with("task-definition/web:1") && rev2.ends_with("task-definition/web:2"));

    let created = create(&ecs, "web-svc", &rev1, 2, false).await;
    assert_eq!(created.status(), Some("ACTIVE"));
    let first = created.deployments()[0].id().unwrap().to_string();
    assert!(first.starts_with("ecs-svc/"));
    let s = wait_completed(&ecs, "web-svc", &rev1, 2).await;
    assert_eq!(
        s.deployments()[0].rollout_state_reason(),
        Some(format!("ECS deployment {first} completed.").as_str())
    );

    let updated = ecs
        .update_service()
        .cluster(CLUSTER)
        .service("web-svc")
        .task_definition(&rev2)
        .send()
        .await
        .unwrap()
        .service
        .unwrap();
    let deployments = updated.deployments();
    assert_eq!(deployments.len(), 2);
    assert_eq!(deployments[0].status(), Some("PRIMARY"));
    assert_eq!(
        deployments[0].rollout_state().map(|r| r.as_str()),
        Some("IN_PROGRESS")
    );
    assert_eq!(deployments[1].status(), Some("ACTIVE"));
    let second = deployments[0].id().unwrap().to_string();

    // Never more than maxPercent (200% of 2) tasks at once.
    let max_seen = std::cell::Cell::new(0);
    let s = wait_for("rollout to revision 2", Duration::from_secs(15), || async {
        let s = describe(&ecs, "web-svc").await;
        max_seen.set(max_seen.get().max(s.running_count() + s.pending_count()));
        let d = s.deployments();
        (d.len() == 1
            && d[0].task_definition() == Some(rev2.as_str())
            && d[0].rollout_state().map(|r| r.as_str()) == Some("COMPLETED")
            && s.running_count() == 2)
            .then_some(s)
    })
    .await;
    assert!(max_seen.get() <= 4, "{} tasks at once", max_seen.get());
    assert_eq!(s.task_definition(), Some(rev2.as_str()));
    let events: Vec<&str> = s.events().iter().filter_map(|e| e.message()).collect();
    assert!(
        events[0].contains("has reached a steady state"),
        "{events:?}"
    );
    assert!(events
        .iter()
        .any(|e| *e == format!("(service web-svc) (deployment {second}) deployment completed.")));
    assert!(events
        .iter()
        .any(|e| e.starts_with("(service web-svc) has started 2 tasks: (task ")));
    assert!(events
        .iter()
        .any(|e| e.starts_with("(service web-svc) has stopped")));

    // Old tasks were replaced by the scheduler.
    let stopped = ecs
        .list_tasks()
        .cluster(CLUSTER)
        .service_name("web-svc")
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
        .send()
        .await
        .unwrap();
    let tasks = ecs
        .describe_tasks()
        .cluster(CLUSTER)
        .set_tasks(Some(stopped.task_arns().to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(tasks.tasks().len(), 2);
    for t in tasks.tasks() {
        assert_eq!(
            t.stop_code().map(|c| c.as_str()),
            Some("ServiceSchedulerInitiated")
        );
        assert_eq!(
            t.stopped_reason(),
            Some(format!("Scaling activity initiated by (deployment {first})").as_str())
        );
        assert_eq!(t.group(), Some("service:web-svc"));
    }

    // desiredCount alone scales without a new deployment.
    ecs.update_service()
        .cluster(CLUSTER)
        .service("web-svc")
        .desired_count(3)
        .send()
        .await
        .unwrap();
    let s = wait_completed(&ecs, "web-svc", &rev2, 3).await;
    assert_eq!(s.deployments()[0].id(), Some(second.as_str()));

    // forceNewDeployment starts a deployment with the same revision.
    let forced = ecs
        .update_service()
        .cluster(CLUSTER)
        .service("web-svc")
        .force_new_deployment(true)
        .send()
        .await
        .unwrap()
        .service
        .unwrap();
    assert_ne!(forced.deployments()[0].id(), Some(second.as_str()));
    wait_completed(&ecs, "web-svc", &rev2, 3).await;
    assert!(h.call_count("ecs", "DescribeServices") > 0);
}

#[tokio::test]
async fn circuit_breaker_rolls_back_unhealthy_deployment() {
    let (h, ecs) = setup().await;
    let good = register(&ecs, "nginx:1.27").await;
    let bad = register(&ecs, "ghcr.io/acme/web:unhealthy").await;
    create(&ecs, "api", &good, 2, true).await;
    wait_completed(&ecs, "api", &good, 2).await;

    let updated = ecs
        .update_service()
        .cluster(CLUSTER)
        .service("api")
        .task_definition(&bad)
        .send()
        .await
        .unwrap()
        .service
        .unwrap();
    let failed_id = updated.deployments()[0].id().unwrap().to_string();

    // The failed deployment is visible only until its tasks drain: step a
    // frozen clock one virtual second at a time so the test cannot miss it.
    h.set_time_scale(0.0);
    let mut seen = None;
    for _ in 0..600 {
        h.advance_clock(1.0);
        let s = describe(&ecs, "api").await;
        let failed = s.deployments().iter().any(|d| {
            d.id() == Some(failed_id.as_str())
                && d.rollout_state().map(|r| r.as_str()) == Some("FAILED")
        });
        if failed {
            seen = Some(s);
            break;
        }
    }
    let s = seen.expect("circuit breaker never tripped");
    h.set_time_scale(100.0);
    let failed = s
        .deployments()
        .iter()
        .find(|d| d.id() == Some(failed_id.as_str()))
        .unwrap();
    assert!(failed.failed_tasks() >= 3, "threshold is 3 for 2 tasks");
    assert_eq!(
        failed.rollout_state_reason(),
        Some("ECS deployment circuit breaker: tasks failed to start.")
    );
    let primary = &s.deployments()[0];
    assert_eq!(primary.status(), Some("PRIMARY"));
    assert_eq!(primary.task_definition(), Some(good.as_str()));
    assert!(primary
        .rollout_state_reason()
        .unwrap()
        .starts_with("ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/"));

    let s = wait_completed(&ecs, "api", &good, 2).await;
    assert_eq!(s.task_definition(), Some(good.as_str()));
    let events: Vec<&str> = s.events().iter().filter_map(|e| e.message()).collect();
    assert!(events.iter().any(|e| *e
        == format!(
            "(service api) (deployment {failed_id}) deployment failed: tasks failed to start."
        )));
    assert!(events
        .iter()
        .any(|e| e.ends_with("failed container health checks.")));

    let stopped = ecs
        .list_tasks()
        .cluster(CLUSTER)
        .service_name("api")
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
        .send()
        .await
        .unwrap();
    let tasks = ecs
        .describe_tasks()
        .cluster(CLUSTER)
        .set_tasks(Some(
            stopped.task_arns().iter().take(100).cloned().collect(),
        ))
        .send()
        .await
        .unwrap();
    assert!(tasks
        .tasks()
        .iter()
        .any(|t| t.stopped_reason() == Some("Task failed container health checks")));
}

#[tokio::test]
async fn lookups_and_errors() {
    let (_h, ecs) = setup().await;
    let td = register(&ecs, "nginx:1.27").await;
    create(&ecs, "one", &td, 1, false).await;

    // Cluster names are case-sensitive.
    let err = ecs
        .describe_services()
        .cluster("Prod")
        .services("one")
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .unwrap()
        .is_cluster_not_found_exception());

    let out = ecs
        .describe_services()
        .cluster(CLUSTER)
        .services("one")
        .services("two")
        .send()
        .await
        .unwrap();
    assert_eq!(out.services().len(), 1);
    assert_eq!(out.failures()[0].reason(), Some("MISSING"));
    assert_eq!(
        out.failures()[0].arn(),
        Some("arn:aws:ecs:us-east-1:000000000000:service/prod/two")
    );

    let too_many = (0..11).map(|i| format!("s{i}")).collect::<Vec<_>>();
    let err = ecs
        .describe_services()
        .cluster(CLUSTER)
        .set_services(Some(too_many))
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .unwrap()
        .is_invalid_parameter_exception());

    let err = ecs
        .update_service()
        .cluster(CLUSTER)
        .service("two")
        .desired_count(1)
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .unwrap()
        .is_service_not_found_exception());

    let err = ecs
        .create_service()
        .cluster(CLUSTER)
        .service_name("three")
        .task_definition(&td)
        .desired_count(1)
        .launch_type(LaunchType::Fargate)
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .unwrap()
        .is_invalid_parameter_exception());
    assert!(err
        .message()
        .unwrap()
        .contains("Network Configuration must be provided"));

    // Delete without force refuses a scaled service; with force it drains.
    let err = ecs
        .delete_service()
        .cluster(CLUSTER)
        .service("one")
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .unwrap()
        .is_invalid_parameter_exception());
    let s = ecs
        .delete_service()
        .cluster(CLUSTER)
        .service("one")
        .force(true)
        .send()
        .await
        .unwrap()
        .service
        .unwrap();
    assert_eq!(s.status(), Some("DRAINING"));
    wait_for("INACTIVE", Duration::from_secs(10), || async {
        (describe(&ecs, "one").await.status() == Some("INACTIVE")).then_some(())
    })
    .await;
    let err = ecs
        .update_service()
        .cluster(CLUSTER)
        .service("one")
        .desired_count(1)
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .unwrap()
        .is_service_not_active_exception());
}

#[tokio::test]
async fn crash_loop_without_circuit_breaker_keeps_retrying() {
    let (_h, ecs) = setup().await;
    let td = register(&ecs, "acme/worker:crashloop").await;
    let created = create(&ecs, "worker", &td, 1, false).await;
    let id = created.deployments()[0].id().unwrap().to_string();
    let s = wait_for("3 failed tasks", Duration::from_secs(15), || async {
        let s = describe(&ecs, "worker").await;
        (s.deployments()[0].failed_tasks() >= 3).then_some(s)
    })
    .await;
    let d = &s.deployments()[0];
    assert_eq!(d.id(), Some(id.as_str()));
    assert_eq!(d.rollout_state().map(|r| r.as_str()), Some("IN_PROGRESS"));
    let stopped = ecs
        .list_tasks()
        .cluster(CLUSTER)
        .service_name("worker")
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
        .send()
        .await
        .unwrap();
    let tasks = ecs
        .describe_tasks()
        .cluster(CLUSTER)
        .tasks(&stopped.task_arns()[0])
        .send()
        .await
        .unwrap();
    let t = &tasks.tasks()[0];
    assert_eq!(
        t.stop_code().map(|c| c.as_str()),
        Some("EssentialContainerExited")
    );
    assert_eq!(t.containers()[0].exit_code(), Some(1));
    assert_eq!(t.started_by(), Some(id.as_str()));
}
