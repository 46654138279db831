//! The AWS mutations of the MigrationJob reconcile: register (or reuse) the
//! task definition to run, RunTask, StopTask.

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, ContainerOverride,
    KeyValuePair, LaunchType, NetworkConfiguration, Tag, TaskOverride,
};

use super::plan::{RunTarget, TaskView};
use super::{observe, TAG_ATTEMPT, TAG_RUN_HASH};
use crate::api::common::EnvVar;
use crate::aws::tags::{TAG_OWNER, TAG_UID};
use crate::aws::taskdef::{self as render, find_revision};
use crate::aws::token::{token, ECS_RUN_TASK_MAX};
use crate::aws::{AwsFailure, Clients};

/// Revisions of a derived family scanned for one with the same hash.
const REVISION_SCAN: usize = 10;

/// The ARN to run: the service's revision as is, or the rendered task
/// definition, reused by its hash tag or registered now. `true` when registered.
pub async fn task_definition(
    clients: &Clients,
    target: &RunTarget,
    owner: &str,
    uid: &str,
) -> Result<(String, bool), AwsFailure> {
    if let Some(arn) = &target.arn {
        return Ok((arn.clone(), false));
    }
    let rendered = render::register_request(&render::RenderInput {
        spec: &target.task_definition,
        family: target.family.clone(),
        region: clients.target.region.clone(),
        owner: owner.to_string(),
        uid: uid.to_string(),
        user_tags: &target.user_tags,
        // Secret versions only matter for service rollouts; a task reads
        // its secrets when it starts anyway.
        secret_versions: &Default::default(),
    });
    if let Some((arn, _)) =
        find_revision(clients, &target.family, &rendered.hash, REVISION_SCAN).await?
    {
        return Ok((arn, false));
    }
    let (arn, _) = rendered.register(clients).await?;
    Ok((arn, true))
}

pub struct RunRequest<'a> {
    pub target: &'a RunTarget,
    pub task_definition: &'a str,
    pub run_hash: &'a str,
    pub attempt: i32,
    pub owner: &'a str,
    pub uid: &'a str,
    pub command: &'a [String],
    pub environment: &'a [EnvVar],
}

pub async fn run_task(clients: &Clients, r: &RunRequest<'_>) -> Result<TaskView, AwsFailure> {
    let t = r.target;
    let mut container = ContainerOverride::builder().name(&t.container);
    if !r.command.is_empty() {
        container = container.set_command(Some(r.command.to_vec()));
    }
    for e in r.environment {
        container = container.environment(
            KeyValuePair::builder()
                .name(&e.name)
                .value(&e.value)
                .build(),
        );
    }
    let tags = vec![
        Tag::builder().key(TAG_OWNER).value(r.owner).build(),
        Tag::builder().key(TAG_UID).value(r.uid).build(),
        Tag::builder().key(TAG_RUN_HASH).value(r.run_hash).build(),
        Tag::builder()
            .key(TAG_ATTEMPT)
            .value(r.attempt.to_string())
            .build(),
    ];
    let mut req = clients
        .ecs
        .run_task()
        .cluster(&t.cluster)
        .task_definition(r.task_definition)
        .count(1)
        .started_by(super::plan::started_by(r.run_hash))
        .overrides(
            TaskOverride::builder()
                .container_overrides(container.build())
                .build(),
        )
        .set_tags(Some(tags))
        .enable_ecs_managed_tags(true)
        .set_network_configuration(network(t))
        .set_platform_version(t.platform_version.clone())
        // Idempotent when a crash hits between RunTask and the status write.
        .client_token(token(
            ECS_RUN_TASK_MAX,
            &["ecs:RunTask", r.run_hash, &r.attempt.to_string()],
        ));
    if let Some(lt) = t.launch_type {
        req = req.launch_type(LaunchType::from(lt.as_aws()));
    }
    if !t.capacity.is_empty() {
        req = req.set_capacity_provider_strategy(Some(capacity(t)));
    }
    // Retried with the same client token: ECS returns the task it started.
    let out = clients.call("ecs:RunTask", || req.clone().send()).await?;
    if let Some(task) = out.tasks().first() {
        let mut v = observe::view(task, &t.container);
        // The response may omit tags; the attempt is the one just started.
        v.attempt = r.attempt;
        return Ok(v);
    }
    let why: Vec<String> = out
        .failures()
        .iter()
        .map(|f| {
            format!(
                "{}: {}",
                f.reason().unwrap_or("failure"),
                f.detail().unwrap_or_default()
            )
        })
        .collect();
    Err(AwsFailure {
        kind: crate::aws::FailureKind::Terminal,
        action: "ecs:RunTask",
        code: Some("RunTaskFailure".into()),
        message: if why.is_empty() {
            "RunTask started no task".into()
        } else {
            why.join("; ")
        },
    })
}

/// Stops a task; one already gone is fine.
pub async fn stop_task(clients: &Clients, arn: &str, reason: &str) -> Result<(), AwsFailure> {
    let Some((cluster, _)) = observe::cluster_and_id(arn) else {
        return Ok(());
    };
    let out = clients
        .call("ecs:StopTask", || {
            clients
                .ecs
                .stop_task()
                .cluster(cluster)
                .task(arn)
                .reason(reason)
                .send()
        })
        .await;
    match out {
        Ok(_) => Ok(()),
        Err(f) => {
            if f.is_code("InvalidParameterException") || f.is_code("ClusterNotFoundException") {
                Ok(())
            } else {
                Err(f)
            }
        }
    }
}

fn network(t: &RunTarget) -> Option<NetworkConfiguration> {
    let n = t.network.as_ref()?;
    let vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(n.subnets.clone()))
        .set_security_groups(Some(n.security_groups.clone()).filter(|s| !s.is_empty()))
        .assign_public_ip(if n.assign_public_ip {
            AssignPublicIp::Enabled
        } else {
            AssignPublicIp::Disabled
        })
        .build()
        .ok()?;
    Some(
        NetworkConfiguration::builder()
            .awsvpc_configuration(vpc)
            .build(),
    )
}

fn capacity(t: &RunTarget) -> Vec<CapacityProviderStrategyItem> {
    t.capacity
        .iter()
        .filter_map(|c| {
            CapacityProviderStrategyItem::builder()
                .capacity_provider(&c.capacity_provider)
                .weight(c.weight.unwrap_or(0))
                .base(c.base.unwrap_or(0))
                .build()
                .ok()
        })
        .collect()
}
