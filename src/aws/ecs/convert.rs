//! berth's API types in ECS's request form, one conversion each, shared by
//! services and one-off tasks.

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, DeploymentCircuitBreaker,
    DeploymentConfiguration, LoadBalancer, NetworkConfiguration, ServiceRegistry,
};

use super::views::RegistryView;
use crate::api::common::{
    CapacityProviderStrategyItem as CapacityItem, NetworkConfiguration as Network,
};
use crate::api::ecs_service::{DeploymentSpec, LoadBalancer as LoadBalancerSpec};

pub fn network(n: &Network) -> NetworkConfiguration {
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
    NetworkConfiguration::builder()
        .awsvpc_configuration(vpc)
        .build()
}

pub fn capacity(items: &[CapacityItem]) -> Vec<CapacityProviderStrategyItem> {
    items
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

pub fn deployment(d: &DeploymentSpec) -> DeploymentConfiguration {
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

pub fn load_balancers(lbs: &[LoadBalancerSpec]) -> Vec<LoadBalancer> {
    lbs.iter()
        .map(|l| {
            LoadBalancer::builder()
                .target_group_arn(&l.target_group_arn)
                .container_name(&l.container_name)
                .container_port(l.container_port)
                .build()
        })
        .collect()
}

pub fn registries(registries: &[RegistryView]) -> Vec<ServiceRegistry> {
    registries
        .iter()
        .map(|r| {
            ServiceRegistry::builder()
                .set_registry_arn(r.registry_arn.clone())
                .set_container_name(r.container_name.clone())
                .set_container_port(r.container_port)
                .build()
        })
        .collect()
}
