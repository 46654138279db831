//! A release the way teams script it today, with the AWS SDK, one call
//! after another: register-task-definition, run-task (the migration),
//! `aws ecs wait tasks-stopped` (describe-tasks every 6 s), the exit code,
//! update-service, `aws ecs wait services-stable` (describe-services every
//! 15 s). Its calls carry the app name `script`, so awsim counts them apart
//! from berth's.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use aws_sdk_ecs::config::{AppName, BehaviorVersion, Credentials, Region};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition, ContainerOverride,
    LaunchType, NetworkConfiguration, NetworkMode, TaskOverride,
};
use aws_sdk_ecs::Client;

pub const SUBNET: &str = "subnet-0a1b2c3d4e5f60001";

/// The CLI waiters' delays.
const TASKS_STOPPED_EVERY: Duration = Duration::from_secs(6);
const SERVICES_STABLE_EVERY: Duration = Duration::from_secs(15);

pub fn client(endpoint: &str) -> Client {
    let conf = aws_sdk_ecs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(berth_e2e::REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "AKIDSCRIPT",
            "script-secret",
            None,
            None,
            "bench",
        ))
        .app_name(AppName::new("script").expect("a valid app name"))
        .build();
    Client::from_conf(conf)
}

fn network() -> anyhow::Result<NetworkConfiguration> {
    Ok(NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .subnets(SUBNET)
                .assign_public_ip(AssignPublicIp::Disabled)
                .build()?,
        )
        .build())
}

async fn register(ecs: &Client, family: &str, image: &str) -> anyhow::Result<String> {
    let out = ecs
        .register_task_definition()
        .family(family)
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image(image)
                .essential(true)
                .build(),
        )
        .send()
        .await?;
    out.task_definition()
        .and_then(|t| t.task_definition_arn())
        .map(str::to_string)
        .context("no task definition ARN")
}

/// `aws ecs wait services-stable`: one deployment, running == desired.
async fn wait_stable(
    ecs: &Client,
    cluster: &str,
    service: &str,
    every: Duration,
) -> anyhow::Result<()> {
    for _ in 0..40 {
        let out = ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await?;
        if let Some(s) = out.services().first() {
            if s.deployments().len() == 1 && s.running_count() == s.desired_count() {
                return Ok(());
            }
        }
        tokio::time::sleep(every).await;
    }
    bail!("{service} never stable")
}

/// Creates `script-I` services (not timed): what the script releases.
pub async fn set_up(ecs: &Client, cluster: &str, count: usize) -> anyhow::Result<()> {
    for i in 0..count {
        let name = format!("script-{i}");
        let arn = register(ecs, &name, "public.ecr.aws/nginx/nginx:1.27").await?;
        ecs.create_service()
            .cluster(cluster)
            .service_name(&name)
            .task_definition(arn)
            .desired_count(1)
            .launch_type(LaunchType::Fargate)
            .network_configuration(network()?)
            .send()
            .await?;
    }
    for i in 0..count {
        wait_stable(ecs, cluster, &format!("script-{i}"), Duration::from_secs(1)).await?;
    }
    Ok(())
}

/// Releases `script-I` to `image`; returns the wall time it took.
pub async fn release(
    ecs: &Client,
    cluster: &str,
    i: usize,
    image: &str,
) -> anyhow::Result<Duration> {
    let name = format!("script-{i}");
    let started = Instant::now();
    let arn = register(ecs, &name, image).await?;
    let run = ecs
        .run_task()
        .cluster(cluster)
        .task_definition(&arn)
        .launch_type(LaunchType::Fargate)
        .network_configuration(network()?)
        .overrides(
            TaskOverride::builder()
                .container_overrides(
                    ContainerOverride::builder()
                        .name("app")
                        .command("./app")
                        .command("migrate")
                        .build(),
                )
                .build(),
        )
        .send()
        .await?;
    let task = run
        .tasks()
        .first()
        .and_then(|t| t.task_arn())
        .context("RunTask started no task")?
        .to_string();
    // aws ecs wait tasks-stopped
    let mut exit = None;
    for _ in 0..100 {
        let out = ecs
            .describe_tasks()
            .cluster(cluster)
            .tasks(&task)
            .send()
            .await?;
        let t = out.tasks().first().context("task gone")?;
        if t.last_status() == Some("STOPPED") {
            exit = Some(t.containers().first().and_then(|c| c.exit_code()));
            break;
        }
        tokio::time::sleep(TASKS_STOPPED_EVERY).await;
    }
    match exit {
        Some(Some(0)) => {}
        other => bail!("migration of {name}: exit {other:?}"),
    }
    ecs.update_service()
        .cluster(cluster)
        .service(&name)
        .task_definition(&arn)
        .send()
        .await?;
    wait_stable(ecs, cluster, &name, SERVICES_STABLE_EVERY).await?;
    Ok(started.elapsed())
}
