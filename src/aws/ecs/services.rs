//! ECS services: create, update (exactly the fields a plan names), delete,
//! tags, revision deregistration, and the service's recently stopped tasks.
//! Each mutation is one decision of the EcsService plan.

use aws_sdk_ecs::types::{LaunchType, PropagateTags, Tag, Task};

use super::views::ServiceView;

use super::convert;
use super::service_tags::TagChange;
use super::views::RegistryView;
use crate::api::common::{
    CapacityProviderStrategyItem as CapacityItem, NetworkConfiguration as Network,
};
use crate::api::ecs_service::StoppedTask;
use crate::api::ecs_service::{
    DeploymentSpec, DnsRecordType, EcsService, LoadBalancer as LoadBalancerSpec,
};
use crate::aws::token::{token, ECS_CREATE_SERVICE_MAX};
use crate::aws::{AwsFailure, Clients};

/// An UpdateService: each field set carries the value to set; `None`
/// leaves the field as it is (never a hard-coded desired count).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceUpdate {
    pub task_definition: Option<String>,
    /// `task_definition` is the previous revision (a rollback), not a new one.
    pub rollback: bool,
    pub desired_count: Option<i32>,
    pub deployment: Option<DeploymentSpec>,
    /// With `deployment`: add the PAUSE hook of PostTestTraffic jobs.
    pub pause_post_test: bool,
    pub network: Option<Network>,
    /// An empty list removes the registries, as the API documents.
    pub registries: Option<Vec<RegistryView>>,
    pub load_balancers: Option<Vec<LoadBalancerSpec>>,
    pub health_check_grace_period_seconds: Option<i32>,
    pub enable_execute_command: Option<bool>,
    pub platform_version: Option<String>,
    /// Changing the strategy needs a new deployment (forceNewDeployment).
    pub capacity_provider_strategy: Option<Vec<CapacityItem>>,
    /// A new deployment even when nothing else changes: the retry of a
    /// rollout ECS failed (ECS never retries a FAILED deployment itself).
    pub force_new_deployment: bool,
}

impl ServiceUpdate {
    pub fn any(&self) -> bool {
        *self != ServiceUpdate::default()
    }

    /// Rolls out a new revision (not a rollback).
    pub fn pushes_revision(&self) -> bool {
        self.task_definition.is_some() && !self.rollback
    }
}

/// The registries of `spec.serviceDiscovery` in Cloud Map service `arn`.
pub fn wanted_registries(obj: &EcsService, arn: Option<&str>) -> Vec<RegistryView> {
    let (Some(arn), Some(sd)) = (arn, &obj.spec.service_discovery) else {
        return Vec::new();
    };
    let srv = sd.dns_record_type == DnsRecordType::Srv;
    vec![RegistryView {
        registry_arn: Some(arn.to_string()),
        container_name: sd.container_name.clone().filter(|_| srv),
        container_port: sd.container_port.filter(|_| srv),
    }]
}

pub async fn create_service(
    clients: &Clients,
    obj: &EcsService,
    task_definition: &str,
    desired_count: i32,
    registries: &[RegistryView],
    pause_post_test: bool,
) -> Result<ServiceView, AwsFailure> {
    let spec = &obj.spec;
    let mut req = clients
        .ecs
        .create_service()
        .cluster(&spec.cluster)
        .service_name(obj.service_name())
        .task_definition(task_definition)
        .desired_count(desired_count)
        .deployment_configuration(convert::deployment(&spec.deployment, pause_post_test))
        .enable_execute_command(spec.enable_execute_command)
        .enable_ecs_managed_tags(true)
        .propagate_tags(PropagateTags::Service)
        .set_tags(Some(tags(obj)))
        .set_network_configuration(spec.network_configuration.as_ref().map(convert::network))
        .set_load_balancers(
            Some(convert::load_balancers(&spec.load_balancers)).filter(|l| !l.is_empty()),
        )
        .set_service_registries(Some(convert::registries(registries)).filter(|r| !r.is_empty()))
        .set_health_check_grace_period_seconds(spec.health_check_grace_period_seconds)
        .set_platform_version(spec.platform_version.clone())
        // Idempotent when a crash or a lost response hits between create
        // and the status write: the same intent always sends the same token.
        .client_token(token(
            ECS_CREATE_SERVICE_MAX,
            &[
                "ecs:CreateService",
                obj.metadata.uid.as_deref().unwrap_or_default(),
                &spec.cluster,
                &obj.service_name(),
                task_definition,
            ],
        ));
    if let Some(lt) = spec.launch_type {
        req = req.launch_type(LaunchType::from(lt.as_aws()));
    }
    if !spec.capacity_provider_strategy.is_empty() {
        req = req.set_capacity_provider_strategy(Some(convert::capacity(
            &spec.capacity_provider_strategy,
        )));
    }
    let out = clients
        .call("ecs:CreateService", || req.clone().send())
        .await?;
    Ok(out.service().map(ServiceView::from).unwrap_or_default())
}

pub async fn update_service(
    clients: &Clients,
    obj: &EcsService,
    u: &ServiceUpdate,
) -> Result<ServiceView, AwsFailure> {
    let spec = &obj.spec;
    let mut req = clients
        .ecs
        .update_service()
        .cluster(&spec.cluster)
        .service(obj.service_name())
        .set_task_definition(u.task_definition.clone())
        .set_desired_count(u.desired_count)
        .set_deployment_configuration(
            u.deployment
                .as_ref()
                .map(|d| convert::deployment(d, u.pause_post_test)),
        )
        .set_network_configuration(u.network.as_ref().map(convert::network))
        .set_service_registries(u.registries.as_deref().map(convert::registries))
        .set_load_balancers(u.load_balancers.as_deref().map(convert::load_balancers))
        .set_health_check_grace_period_seconds(u.health_check_grace_period_seconds)
        .set_enable_execute_command(u.enable_execute_command)
        .set_platform_version(u.platform_version.clone());
    if let Some(c) = &u.capacity_provider_strategy {
        req = req.set_capacity_provider_strategy(Some(convert::capacity(c)));
    }
    if u.force_new_deployment || u.capacity_provider_strategy.is_some() {
        req = req.force_new_deployment(true);
    }
    let out = clients
        .call("ecs:UpdateService", || req.clone().send())
        .await?;
    Ok(out.service().map(ServiceView::from).unwrap_or_default())
}

/// Scales to zero and deletes the service. `Ok(false)` when it is already gone.
pub async fn delete_service(clients: &Clients, obj: &EcsService) -> Result<bool, AwsFailure> {
    let cluster = &obj.spec.cluster;
    let name = obj.service_name();
    let scaled = clients
        .call("ecs:UpdateService", || {
            clients
                .ecs
                .update_service()
                .cluster(cluster)
                .service(&name)
                .desired_count(0)
                .send()
        })
        .await;
    if let Err(f) = scaled {
        if f.is_code("ServiceNotFoundException")
            || f.is_code("ServiceNotActiveException")
            || f.is_code("ClusterNotFoundException")
        {
            return Ok(false);
        }
        return Err(f);
    }
    clients
        .call("ecs:DeleteService", || {
            clients
                .ecs
                .delete_service()
                .cluster(cluster)
                .service(&name)
                .force(true)
                .send()
        })
        .await?;
    Ok(true)
}

pub async fn deregister(clients: &Clients, arn: &str) -> Result<(), AwsFailure> {
    clients
        .call("ecs:DeregisterTaskDefinition", || {
            clients
                .ecs
                .deregister_task_definition()
                .task_definition(arn)
                .send()
        })
        .await?;
    Ok(())
}

fn tags(obj: &EcsService) -> Vec<Tag> {
    super::service_tags::wanted(obj)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Sets and removes the service's tags (tags are not an UpdateService field).
pub async fn set_tags(clients: &Clients, arn: &str, change: &TagChange) -> Result<(), AwsFailure> {
    if !change.set.is_empty() {
        clients
            .call("ecs:TagResource", || {
                clients
                    .ecs
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(
                        change
                            .set
                            .iter()
                            .map(|(k, v)| Tag::builder().key(k).value(v).build())
                            .collect(),
                    ))
                    .send()
            })
            .await?;
    }
    if !change.remove.is_empty() {
        clients
            .call("ecs:UntagResource", || {
                clients
                    .ecs
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(change.remove.clone()))
                    .send()
            })
            .await?;
    }
    Ok(())
}

/// The most recent stopped tasks of a service, newest first (at most `n`).
pub async fn stopped_tasks(
    clients: &Clients,
    cluster: &str,
    service: &str,
    n: usize,
) -> Result<Vec<StoppedTask>, AwsFailure> {
    let list = clients
        .call("ecs:ListTasks", || {
            clients
                .ecs
                .list_tasks()
                .cluster(cluster)
                .service_name(service)
                .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
                .max_results(100)
                .send()
        })
        .await?;
    let arns: Vec<String> = list.task_arns().to_vec();
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    let mut tasks = Vec::new();
    for chunk in arns.chunks(100) {
        let out = clients
            .call("ecs:DescribeTasks", || {
                clients
                    .ecs
                    .describe_tasks()
                    .cluster(cluster)
                    .set_tasks(Some(chunk.to_vec()))
                    .send()
            })
            .await?;
        tasks.extend(out.tasks().iter().cloned());
    }
    tasks.sort_by(|a, b| {
        let key = |t: &Task| t.stopped_at().map(|d| d.as_secs_f64()).unwrap_or(0.0);
        key(b).total_cmp(&key(a))
    });
    tasks.truncate(n);
    Ok(tasks.iter().map(super::views::stopped_task).collect())
}
