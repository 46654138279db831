//! EcsService end to end: the example API service on a real kube-apiserver,
//! converged by the berth binary against awsim through the real AWS SDK.

use std::time::Duration;

use berth::api::conditions::READY;
use berth::api::EcsService;
use berth_e2e::examples::{degraded_message, file, ready_on};
use berth_e2e::{condition, task_definition_arn, workspace_root, Env};

const READY_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_service_converges_and_restarts_without_churn() {
    let mut env = Env::new("ecs-ready").await;
    let manifest = workspace_root().join("examples/api.yaml");
    env.apply_file(&manifest).await.unwrap();

    let svc: EcsService = env.wait_ready_on("api", 1, READY_TIMEOUT).await;
    let status = svc.status.clone().unwrap();
    assert_eq!(status.desired_count, Some(2));
    assert_eq!(status.running_count, Some(2));
    assert_eq!(
        status.rollout.as_ref().and_then(|r| r.state.as_deref()),
        Some("COMPLETED")
    );
    assert!(
        status.cloud_map_service_arn.is_some(),
        "Cloud Map service recorded"
    );

    // The columns a user reads.
    let out = env.kubectl(&["get", "ecssvc", "api", "--no-headers"]);
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&cols[1..6], ["True", "2", "2", "1", "COMPLETED"], "{line}");

    // AWS state: the service runs the rendered task definition, registered in Cloud Map.
    let service = &env.ecs_service("shop-api").await;
    assert_eq!(
        service.task_definition(),
        status.task_definition_arn.as_deref()
    );
    assert_eq!(service.service_registries().len(), 1);
    let ecs = aws_sdk_ecs::Client::new(&env.aws().await);
    let td = ecs
        .describe_task_definition()
        .task_definition(service.task_definition().unwrap())
        .send()
        .await
        .unwrap();
    let td = td.task_definition().unwrap();
    assert_eq!(td.family(), Some("shop-api"));
    assert_eq!(td.cpu(), Some("512"));
    let container = &td.container_definitions()[0];
    assert_eq!(
        container.image(),
        Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api:1.4.2")
    );
    assert_eq!(
        container.log_configuration().unwrap().options().unwrap()["awslogs-region"],
        "us-east-1"
    );

    assert_eq!(env.berth_calls("ecs", "RegisterTaskDefinition"), 1);
    assert_eq!(env.berth_calls("ecs", "CreateService"), 1);
    let updates_before = env.berth_calls("ecs", "UpdateService");

    // Re-apply the same manifest and restart berth: nothing new in AWS.
    env.apply_file(&manifest).await.unwrap();
    env.kill_berth();
    env.start_berth();
    // The restarted controller reconciles every object once at start (its
    // counts start at 0).
    env.wait_reconciled_since("EcsService", "api", 0, READY_TIMEOUT)
        .await;
    let svc: EcsService = env
        .wait_for(
            "api",
            "still Ready after restart",
            READY_TIMEOUT,
            ready_on(1),
        )
        .await;
    assert_eq!(
        env.berth_calls("ecs", "RegisterTaskDefinition"),
        1,
        "a restart must not register a new revision"
    );
    assert_eq!(
        env.berth_calls("ecs", "UpdateService"),
        updates_before,
        "a restart must not update an unchanged service"
    );
    assert_eq!(
        condition(&svc.status.unwrap().conditions, READY).unwrap().1,
        "RolloutComplete"
    );
    let events = env.events_for("api").await;
    assert!(
        events.iter().any(|e| e.contains("ServiceCreated")),
        "an Event for the creation: {events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_change_rolls_out_exactly_one_new_revision() {
    // A slower clock, so the rolling update is long enough to watch.
    let env = Env::with_time_scale("ecs-image", 3.0).await;
    env.apply_file(workspace_root().join("examples/api.yaml"))
        .await
        .unwrap();
    let first = task_definition_arn(env.wait_ready_on("api", 1, READY_TIMEOUT).await);

    let yaml = file("api.yaml").replace("shop/api:1.4.2", "shop/api:1.5.0");
    env.apply_yaml(&yaml).await.unwrap();
    env.wait_for(
        "api",
        "Progressing/RollingOut",
        READY_TIMEOUT,
        |s: &EcsService| {
            s.status.as_ref().is_some_and(|st| {
                st.revision == Some(2)
                    && condition(&st.conditions, "Progressing")
                        .is_some_and(|c| c.0 == "True" && c.1 == "RollingOut")
            })
        },
    )
    .await;
    let svc: EcsService = env.wait_ready_on("api", 2, READY_TIMEOUT).await;
    assert_eq!(env.berth_calls("ecs", "RegisterTaskDefinition"), 2);
    let status = svc.status.unwrap();
    assert_ne!(status.task_definition_arn.as_deref(), Some(first.as_str()));

    // The old revision stays ACTIVE for rollback.
    let ecs = aws_sdk_ecs::Client::new(&env.aws().await);
    let old = ecs
        .describe_task_definition()
        .task_definition(&first)
        .send()
        .await
        .unwrap();
    assert_eq!(
        old.task_definition().unwrap().status().map(|s| s.as_str()),
        Some("ACTIVE")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_spec_is_degraded_without_aws_calls() {
    let env = Env::new("ecs-invalid").await;
    // Valid for the schema, invalid for berth: Fargate has no 4096 MiB with 256 CPU.
    let yaml = file("api.yaml").replace("cpu: 512\n    memory: 1024", "cpu: 256\n    memory: 4096");
    env.apply_yaml(&yaml).await.unwrap();
    let svc: EcsService = env
        .wait_degraded::<EcsService>("api", "InvalidSpec", Duration::from_secs(30))
        .await;
    let message = degraded_message(&svc);
    assert!(message.contains("spec.taskDefinition.memory"), "{message}");
    let calls = env.awsim.calls(Some("berth"));
    assert_eq!(
        calls["total"].as_u64().unwrap_or(0),
        0,
        "no AWS call on an invalid spec: {calls}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_case_cluster_is_degraded_not_created() {
    let env = Env::new("ecs-cluster").await;
    let yaml = file("api.yaml").replace("cluster: shop", "cluster: Shop");
    env.apply_yaml(&yaml).await.unwrap();
    let svc: EcsService = env
        .wait_degraded::<EcsService>("api", "ClusterNotFound", Duration::from_secs(60))
        .await;
    let message = degraded_message(&svc);
    assert!(
        message.contains("\"Shop\"") && message.contains("spec.cluster"),
        "{message}"
    );
    for action in [
        "CreateCluster",
        "CreateService",
        "RegisterTaskDefinition",
        "UpdateService",
    ] {
        assert_eq!(
            env.berth_calls("ecs", action),
            0,
            "{action} on a missing cluster"
        );
    }
}
