//! ECS services: create, update (exactly the fields a plan names), delete,
//! tags, revision deregistration, and the service's recently stopped tasks.
//! Each mutation is one decision of the EcsService plan.

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, DeploymentCircuitBreaker,
    DeploymentConfiguration, LaunchType, LoadBalancer, NetworkConfiguration, PropagateTags,
    ServiceRegistry, Tag, Task,
};

use super::views::ServiceView;

use super::service_tags::TagChange;
use crate::api::ecs_service::StoppedTask;
use crate::api::ecs_service::{DnsRecordType, EcsService};
use crate::aws::token::{token, ECS_CREATE_SERVICE_MAX};
use crate::aws::{AwsFailure, Clients};

/// Which fields an UpdateService must set (each to the spec's value).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateFields {
    pub task_definition: bool,
    /// Roll back to this revision instead of rolling out the desired one.
    pub rollback_to: Option<String>,
    pub desired_count: bool,
    pub deployment: bool,
    pub network: bool,
    pub registries: bool,
    pub load_balancers: bool,
    pub grace_period: bool,
    pub execute_command: bool,
    pub platform_version: bool,
    pub capacity_providers: bool,
}

impl UpdateFields {
    pub fn any(&self) -> bool {
        *self != UpdateFields::default()
    }
}

/// Tasks a new service starts with when `spec.desiredCount` is absent: ECS
/// needs a number at creation; afterwards berth never sets it.
pub const INITIAL_DESIRED_COUNT: i32 = 1;

pub async fn create_service(
    clients: &Clients,
    obj: &EcsService,
    task_definition: &str,
    registry: Option<&str>,
) -> Result<ServiceView, AwsFailure> {
    let spec = &obj.spec;
    let mut req = clients
        .ecs
        .create_service()
        .cluster(&spec.cluster)
        .service_name(obj.service_name())
        .task_definition(task_definition)
        .desired_count(spec.desired_count.unwrap_or(INITIAL_DESIRED_COUNT))
        .deployment_configuration(deployment(obj))
        .enable_execute_command(spec.enable_execute_command)
        .enable_ecs_managed_tags(true)
        .propagate_tags(PropagateTags::Service)
        .set_tags(Some(tags(obj)))
        .set_network_configuration(network(obj))
        .set_load_balancers(Some(load_balancers(obj)).filter(|l| !l.is_empty()))
        .set_service_registries(Some(registries(obj, registry)).filter(|r| !r.is_empty()))
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
        req = req.set_capacity_provider_strategy(Some(capacity(obj)));
    }
    let out = clients
        .call("ecs:CreateService", || req.clone().send())
        .await?;
    Ok(out.service().map(ServiceView::from).unwrap_or_default())
}

pub async fn update_service(
    clients: &Clients,
    obj: &EcsService,
    fields: &UpdateFields,
    task_definition: &str,
    registry: Option<&str>,
) -> Result<ServiceView, AwsFailure> {
    let spec = &obj.spec;
    let mut req = clients
        .ecs
        .update_service()
        .cluster(&spec.cluster)
        .service(obj.service_name());
    if let Some(target) = &fields.rollback_to {
        req = req.task_definition(target);
    } else if fields.task_definition {
        req = req.task_definition(task_definition);
    }
    if fields.desired_count {
        req = req.set_desired_count(spec.desired_count);
    }
    if fields.deployment {
        req = req.deployment_configuration(deployment(obj));
    }
    if fields.network {
        req = req.set_network_configuration(network(obj));
    }
    if fields.registries {
        // An empty list removes the registries, as the API documents.
        req = req.set_service_registries(Some(registries(obj, registry)));
    }
    if fields.load_balancers {
        req = req.set_load_balancers(Some(load_balancers(obj)));
    }
    if fields.grace_period {
        req = req.set_health_check_grace_period_seconds(spec.health_check_grace_period_seconds);
    }
    if fields.execute_command {
        req = req.enable_execute_command(spec.enable_execute_command);
    }
    if fields.platform_version {
        req = req.set_platform_version(spec.platform_version.clone());
    }
    if fields.capacity_providers {
        req = req
            .set_capacity_provider_strategy(Some(capacity(obj)))
            .force_new_deployment(true);
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

fn deployment(obj: &EcsService) -> DeploymentConfiguration {
    let d = &obj.spec.deployment;
    DeploymentConfiguration::builder()
        .minimum_healthy_percent(d.minimum_healthy_percent)
        .maximum_percent(d.maximum_percent)
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(d.circuit_breaker.enable)
                .rollback(d.circuit_breaker.rollback)
                .build(),
        )
        .build()
}

pub(crate) fn network(obj: &EcsService) -> Option<NetworkConfiguration> {
    let n = obj.spec.network_configuration.as_ref()?;
    let vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(n.subnets.clone()))
        .set_security_groups(Some(n.security_groups.clone()).filter(|s| !s.is_empty()))
        .assign_public_ip(if n.assign_public_ip {
            AssignPublicIp::Enabled
        } else {
            AssignPublicIp::Disabled
        })
        .build()
        .expect("subnets are set");
    Some(
        NetworkConfiguration::builder()
            .awsvpc_configuration(vpc)
            .build(),
    )
}

fn load_balancers(obj: &EcsService) -> Vec<LoadBalancer> {
    obj.spec
        .load_balancers
        .iter()
        .map(|l| {
            LoadBalancer::builder()
                .target_group_arn(&l.target_group_arn)
                .container_name(&l.container_name)
                .container_port(l.container_port)
                .build()
        })
        .collect()
}

pub(crate) fn registries(obj: &EcsService, registry: Option<&str>) -> Vec<ServiceRegistry> {
    let (Some(arn), Some(sd)) = (registry, &obj.spec.service_discovery) else {
        return Vec::new();
    };
    let mut r = ServiceRegistry::builder().registry_arn(arn);
    if sd.dns_record_type == DnsRecordType::Srv {
        r = r
            .set_container_name(sd.container_name.clone())
            .set_container_port(sd.container_port);
    }
    vec![r.build()]
}

fn capacity(obj: &EcsService) -> Vec<CapacityProviderStrategyItem> {
    obj.spec
        .capacity_provider_strategy
        .iter()
        .map(|c| {
            CapacityProviderStrategyItem::builder()
                .capacity_provider(&c.capacity_provider)
                .weight(c.weight.unwrap_or(0))
                .base(c.base.unwrap_or(0))
                .build()
                .expect("capacity provider is set")
        })
        .collect()
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
