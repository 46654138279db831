//! berth's API types in ECS's request form, one conversion each, shared by
//! services and one-off tasks.

use aws_sdk_ecs::types::{
    AdvancedConfiguration, AssignPublicIp, AwsVpcConfiguration, CanaryConfiguration,
    CapacityProviderStrategyItem, DeploymentAlarms, DeploymentCircuitBreaker,
    DeploymentConfiguration, DeploymentLifecycleHook, DeploymentLifecycleHookStage,
    DeploymentLifecycleHookTargetType, DeploymentStrategy, LinearConfiguration, LoadBalancer,
    NetworkConfiguration, ServiceRegistry,
};

use super::views::RegistryView;
use crate::api::common::{
    CapacityProviderStrategyItem as CapacityItem, NetworkConfiguration as Network,
};
use crate::api::ecs_service::{
    DeploymentSpec, DeploymentStrategy as Strategy, LoadBalancer as LoadBalancerSpec,
};

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

/// The deployment configuration of `d`; `pause_post_test` adds a PAUSE
/// lifecycle hook at POST_TEST_TRAFFIC_SHIFT (PostTestTraffic
/// MigrationJobs), for the strategies that shift test traffic.
pub fn deployment(d: &DeploymentSpec, pause_post_test: bool) -> DeploymentConfiguration {
    let hooks = (pause_post_test && d.strategy != Strategy::Rolling).then(|| {
        vec![DeploymentLifecycleHook::builder()
            .target_type(DeploymentLifecycleHookTargetType::Pause)
            .lifecycle_stages(DeploymentLifecycleHookStage::PostTestTrafficShift)
            .build()]
    });
    DeploymentConfiguration::builder()
        .set_lifecycle_hooks(hooks)
        .minimum_healthy_percent(d.minimum_healthy_percent)
        .maximum_percent(d.maximum_percent)
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(d.circuit_breaker.enable)
                .rollback(d.circuit_breaker.rollback)
                .build(),
        )
        .strategy(DeploymentStrategy::from(d.strategy.as_aws()))
        .set_bake_time_in_minutes(d.bake_time_in_minutes)
        .set_linear_configuration(d.linear.as_ref().map(|l| {
            LinearConfiguration::builder()
                .set_step_percent(l.step_percent)
                .set_step_bake_time_in_minutes(l.step_bake_time_in_minutes)
                .build()
        }))
        .set_canary_configuration(d.canary.as_ref().map(|c| {
            CanaryConfiguration::builder()
                .set_canary_percent(c.canary_percent)
                .set_canary_bake_time_in_minutes(c.canary_bake_time_in_minutes)
                .build()
        }))
        .set_alarms(d.alarms.as_ref().map(|a| {
            DeploymentAlarms::builder()
                .set_alarm_names(Some(a.names.clone()))
                .enable(true)
                .rollback(a.rollback)
                .build()
                .expect("alarm names, enable and rollback are set")
        }))
        .build()
}

pub fn load_balancers(lbs: &[LoadBalancerSpec]) -> Vec<LoadBalancer> {
    lbs.iter()
        .map(|l| {
            LoadBalancer::builder()
                .target_group_arn(&l.target_group_arn)
                .container_name(&l.container_name)
                .container_port(l.container_port)
                .set_advanced_configuration(l.advanced_configuration.as_ref().map(|a| {
                    AdvancedConfiguration::builder()
                        .alternate_target_group_arn(&a.alternate_target_group_arn)
                        .production_listener_rule(&a.production_listener_rule)
                        .set_test_listener_rule(a.test_listener_rule.clone())
                        .role_arn(&a.role_arn)
                        .build()
                }))
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
