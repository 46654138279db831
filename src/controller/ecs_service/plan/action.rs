//! The one ECS service mutation a reconcile makes.

use crate::aws::ecs::services::ServiceUpdate;
use crate::aws::ecs::views::RegistryView;

#[derive(Clone, Debug, PartialEq)]
pub enum ServiceAction {
    Nothing,
    /// The CreateService to send, with everything the plan decided for it.
    Create {
        task_definition: String,
        /// spec.desiredCount, or one task for a service whose count
        /// autoscaling owns.
        desired_count: i32,
        /// The Cloud Map registries (none without serviceDiscovery).
        registries: Vec<RegistryView>,
        /// A PostTestTraffic MigrationJob names the service: its first
        /// deployment already pauses after test traffic shifts.
        pause_post_test: bool,
    },
    /// The UpdateService to send; `drift` names the fields changed outside berth.
    Update {
        update: Box<ServiceUpdate>,
        drift: Vec<String>,
    },
}

/// The names of the fields `u` sets, as the plan names drift.
pub fn fields_of(u: &ServiceUpdate) -> Vec<&'static str> {
    // Destructured whole: a new field does not compile until it is named.
    let ServiceUpdate {
        task_definition,
        rollback: _,
        desired_count,
        deployment,
        pause_post_test: _,
        network,
        registries,
        load_balancers,
        health_check_grace_period_seconds,
        enable_execute_command,
        platform_version,
        capacity_provider_strategy,
        force_new_deployment: _,
    } = u;
    [
        (task_definition.is_some(), "taskDefinition"),
        (desired_count.is_some(), "desiredCount"),
        (deployment.is_some(), "deploymentConfiguration"),
        (network.is_some(), "networkConfiguration"),
        (registries.is_some(), "serviceRegistries"),
        (load_balancers.is_some(), "loadBalancers"),
        (
            health_check_grace_period_seconds.is_some(),
            "healthCheckGracePeriodSeconds",
        ),
        (enable_execute_command.is_some(), "enableExecuteCommand"),
        (platform_version.is_some(), "platformVersion"),
        (
            capacity_provider_strategy.is_some(),
            "capacityProviderStrategy",
        ),
    ]
    .into_iter()
    .filter_map(|(set, name)| set.then_some(name))
    .collect()
}
