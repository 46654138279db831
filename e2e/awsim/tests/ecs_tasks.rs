//! One-off ECS tasks through the real aws-sdk-ecs client: lifecycles, exit
//! codes, pull and secret failures, subnets without egress, awslogs.

mod common;

use std::time::Duration;

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition, LaunchType,
    LogConfiguration, LogDriver, NetworkConfiguration, NetworkMode, Secret, Tag, Task,
};
use aws_sdk_ecs::Client;
use common::{ecs, logs, secrets, start_fast, wait_for};

const CLUSTER: &str = "apps";

fn network(subnet: &str) -> NetworkConfiguration {
    NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .subnets(subnet)
                .security_groups("sg-1")
                .assign_public_ip(AssignPublicIp::Disabled)
                .build()
                .unwrap(),
        )
        .build()
}

async fn register(ecs: &Client, family: &str, container: ContainerDefinition) -> String {
    ecs.register_task_definition()
        .family(family)
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .execution_role_arn("arn:aws:iam::000000000000:role/exec")
        .container_definitions(container)
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap()
}

fn container(image: &str) -> ContainerDefinition {
    ContainerDefinition::builder()
        .name("app")
        .image(image)
        .essential(true)
        .build()
}

async fn run(ecs: &Client, td: &str, subnet: &str, started_by: &str) -> String {
    let out = ecs
        .run_task()
        .cluster(CLUSTER)
        .task_definition(td)
        .launch_type(LaunchType::Fargate)
        .network_configuration(network(subnet))
        .started_by(started_by)
        .tags(Tag::builder().key("run").value(started_by).build())
        .send()
        .await
        .unwrap();
    assert!(out.failures().is_empty());
    let task = &out.tasks()[0];
    assert_eq!(task.last_status(), Some("PROVISIONING"));
    assert_eq!(task.desired_status(), Some("RUNNING"));
    task.task_arn().unwrap().to_string()
}

async fn wait_stopped(ecs: &Client, arn: &str) -> Task {
    wait_for("task STOPPED", Duration::from_secs(10), || async {
        let out = ecs
            .describe_tasks()
            .cluster(CLUSTER)
            .tasks(arn)
            .include(aws_sdk_ecs::types::TaskField::Tags)
            .send()
            .await
            .unwrap();
        out.tasks()
            .first()
            .filter(|t| t.last_status() == Some("STOPPED"))
            .cloned()
    })
    .await
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
async fn tasks_exit_zero_and_three() {
    let (_h, ecs) = setup().await;
    let ok = register(
        &ecs,
        "job-ok",
        container("public.ecr.aws/docker/library/busybox:1.36"),
    )
    .await;
    let fail = register(&ecs, "job-fail", container("ghcr.io/acme/migrate:exit-3")).await;
    let ok_arn = run(&ecs, &ok, "subnet-a", "mj/ok").await;
    let fail_arn = run(&ecs, &fail, "subnet-a", "mj/fail").await;

    let t = wait_stopped(&ecs, &ok_arn).await;
    assert_eq!(
        t.stop_code().map(|c| c.as_str()),
        Some("EssentialContainerExited")
    );
    assert_eq!(
        t.stopped_reason(),
        Some("Essential container in task exited")
    );
    assert_eq!(t.containers()[0].exit_code(), Some(0));
    assert_eq!(t.started_by(), Some("mj/ok"));
    assert_eq!(t.group(), Some("family:job-ok"));
    assert!(t.started_at().is_some() && t.stopped_at().is_some());
    assert!(t.stopped_at().unwrap().secs() >= t.started_at().unwrap().secs());
    assert_eq!(t.tags()[0].value(), Some("mj/ok"));
    let eni = &t.attachments()[0];
    assert_eq!(eni.r#type(), Some("ElasticNetworkInterface"));
    assert!(eni
        .details()
        .iter()
        .any(|d| d.name() == Some("privateIPv4Address")
            && d.value().is_some_and(|v| v.starts_with("10."))));

    let t = wait_stopped(&ecs, &fail_arn).await;
    assert_eq!(t.containers()[0].exit_code(), Some(3));
    assert_eq!(
        t.stopped_reason(),
        Some("Essential container in task exited")
    );

    // Stopped tasks are listed under desiredStatus STOPPED, by startedBy.
    let listed = ecs
        .list_tasks()
        .cluster(CLUSTER)
        .started_by("mj/fail")
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.task_arns(), std::slice::from_ref(&fail_arn));
    let missing = ecs
        .describe_tasks()
        .cluster(CLUSTER)
        .tasks("0123456789abcdef0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.failures()[0].reason(), Some("MISSING"));
}

#[tokio::test]
async fn long_running_task_is_stopped_by_user() {
    let (_h, ecs) = setup().await;
    let td = register(&ecs, "sleeper", container("busybox:sleep-100000")).await;
    let arn = run(&ecs, &td, "subnet-a", "manual").await;
    wait_for("RUNNING", Duration::from_secs(10), || async {
        let out = ecs
            .describe_tasks()
            .cluster(CLUSTER)
            .tasks(&arn)
            .send()
            .await
            .unwrap();
        (out.tasks()[0].last_status() == Some("RUNNING")).then_some(())
    })
    .await;
    ecs.stop_task()
        .cluster(CLUSTER)
        .task(&arn)
        .reason("deadline exceeded")
        .send()
        .await
        .unwrap();
    let t = wait_stopped(&ecs, &arn).await;
    assert_eq!(t.stop_code().map(|c| c.as_str()), Some("UserInitiated"));
    assert_eq!(t.stopped_reason(), Some("deadline exceeded"));
}

#[tokio::test]
async fn image_pull_failures() {
    let (h, ecs) = setup().await;
    // By convention in the image name.
    let td = register(&ecs, "pull-conv", container("docker.io/acme/pullfail:1")).await;
    let t = wait_stopped(&ecs, &run(&ecs, &td, "subnet-a", "x").await).await;
    assert_eq!(t.stop_code().map(|c| c.as_str()), Some("TaskFailedToStart"));
    let reason = t.stopped_reason().unwrap();
    assert!(reason.starts_with("CannotPullContainerError:"), "{reason}");
    assert_eq!(t.containers()[0].reason(), Some(reason));
    assert_eq!(t.containers()[0].exit_code(), None);
    assert!(t.started_at().is_none());

    // Injected through the control API for an otherwise fine image.
    h.fail_pulls("docker.io/library/redis");
    let td = register(&ecs, "pull-fault", container("docker.io/library/redis:7")).await;
    let t = wait_stopped(&ecs, &run(&ecs, &td, "subnet-a", "x").await).await;
    assert!(t
        .stopped_reason()
        .unwrap()
        .starts_with("CannotPullContainerError:"));

    // A private ECR repository that does not exist.
    let td = register(
        &ecs,
        "pull-ecr",
        container("000000000000.dkr.ecr.us-east-1.amazonaws.com/nope:1"),
    )
    .await;
    let t = wait_stopped(&ecs, &run(&ecs, &td, "subnet-a", "x").await).await;
    let reason = t.stopped_reason().unwrap();
    assert!(reason.contains("nope:1: not found"), "{reason}");
}

#[tokio::test]
async fn secrets_and_subnets_without_egress() {
    let (h, ecs) = setup().await;
    let sm = secrets(&h);
    let secret_arn = sm
        .create_secret()
        .name("app/db")
        .secret_string("{\"password\":\"x\"}")
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let with_secret = |from: &str| {
        ContainerDefinition::builder()
            .name("app")
            .image("nginx:1.27")
            .secrets(
                Secret::builder()
                    .name("DB")
                    .value_from(from)
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let missing = format!("{}-gone", secret_arn.rsplit_once('-').unwrap().0);
    let td = register(&ecs, "missing-secret", with_secret(&missing)).await;
    let t = wait_stopped(&ecs, &run(&ecs, &td, "subnet-a", "x").await).await;
    let reason = t.stopped_reason().unwrap();
    assert!(
        reason.starts_with("ResourceInitializationError: unable to pull secrets or registry auth:"),
        "{reason}"
    );
    assert_eq!(t.stop_code().map(|c| c.as_str()), Some("TaskFailedToStart"));

    // The same task with an existing secret runs (one-off: exits 0).
    let td = register(&ecs, "good-secret", with_secret(&secret_arn)).await;
    let t = wait_stopped(&ecs, &run(&ecs, &td, "subnet-a", "x").await).await;
    assert_eq!(t.containers()[0].exit_code(), Some(0));

    // ...but not from a subnet without a route to Secrets Manager.
    h.set_subnet_without_egress("subnet-private");
    let t = wait_stopped(&ecs, &run(&ecs, &td, "subnet-private", "x").await).await;
    let reason = t.stopped_reason().unwrap();
    assert!(
        reason.contains("connection issue between the task and AWS Secrets Manager"),
        "{reason}"
    );
}

#[tokio::test]
async fn container_logs_reach_cloudwatch() {
    let (h, ecs) = setup().await;
    h.add_image_rule(awsim::ImageRule {
        image: "registry.example.com/migrate:".into(),
        prefix: true,
        behavior: awsim::ImageBehavior {
            exit_code: Some(0),
            log_lines: vec!["applying 0001_init".into(), "done".into()],
            ..Default::default()
        },
    });
    let c = ContainerDefinition::builder()
        .name("migrate")
        .image("registry.example.com/migrate:v7")
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", "/berth/migrations")
                .options("awslogs-stream-prefix", "mj")
                .options("awslogs-region", "us-east-1")
                .build()
                .unwrap(),
        )
        .build();
    let td = register(&ecs, "migrate", c).await;
    let arn = run(&ecs, &td, "subnet-a", "mj").await;
    wait_stopped(&ecs, &arn).await;
    let task_id = arn.rsplit('/').next().unwrap();
    let events = logs(&h)
        .get_log_events()
        .log_group_name("/berth/migrations")
        .log_stream_name(format!("mj/migrate/{task_id}"))
        .start_from_head(true)
        .send()
        .await
        .unwrap();
    let lines: Vec<&str> = events.events().iter().filter_map(|e| e.message()).collect();
    assert_eq!(&lines[..2], ["applying 0001_init", "done"]);
    let filtered = logs(&h)
        .filter_log_events()
        .log_group_name("/berth/migrations")
        .filter_pattern("0001")
        .send()
        .await
        .unwrap();
    assert_eq!(filtered.events().len(), 1);
    let streams = logs(&h)
        .describe_log_streams()
        .log_group_name("/berth/migrations")
        .log_stream_name_prefix("mj/")
        .send()
        .await
        .unwrap();
    assert_eq!(streams.log_streams().len(), 1);
}
