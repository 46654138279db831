//! The service settings an UpdateService sets back to the spec: one check
//! per field, each naming the field when it drifted outside berth.

use super::{deployment, Inputs};
use crate::aws::ecs::services::{wanted_registries, ServiceUpdate};
use crate::aws::ecs::ServiceView;

/// Adds to `update` every setting of the spec that `svc` lacks. A field
/// that differs while the spec did not change (`generation_changed`
/// false) changed outside berth: it is named in `drift`.
pub(super) fn differences(
    i: &Inputs<'_>,
    svc: &ServiceView,
    generation_changed: bool,
    update: &mut ServiceUpdate,
    drift: &mut Vec<String>,
) {
    let spec = &i.obj.spec;
    let mut changed = |name: &str| {
        if !generation_changed {
            drift.push(name.to_string());
        }
    };
    if let Some(n) = spec.desired_count.filter(|n| *n != svc.desired_count) {
        update.desired_count = Some(n);
        changed("desiredCount");
    }
    if deployment::config_differs(i.obj, svc, i.pause_post_test) {
        update.deployment = Some(spec.deployment.clone());
        update.pause_post_test = i.pause_post_test;
        changed("deploymentConfiguration");
    }
    if deployment::network_differs(i.obj, svc) {
        update.network = spec.network_configuration.clone();
        changed("networkConfiguration");
    }
    let registries = wanted_registries(i.obj, i.registry_arn);
    if registries != svc.registries {
        update.registries = Some(registries);
        changed("serviceRegistries");
    }
    if deployment::load_balancers_differ(i.obj, svc) {
        update.load_balancers = Some(spec.load_balancers.clone());
        changed("loadBalancers");
    }
    if let Some(g) = spec
        .health_check_grace_period_seconds
        .filter(|g| svc.health_check_grace_period_seconds != Some(*g))
    {
        update.health_check_grace_period_seconds = Some(g);
        changed("healthCheckGracePeriodSeconds");
    }
    if svc.enable_execute_command != spec.enable_execute_command {
        update.enable_execute_command = Some(spec.enable_execute_command);
        changed("enableExecuteCommand");
    }
    if let Some(p) = spec
        .platform_version
        .as_ref()
        .filter(|p| svc.platform_version.as_deref() != Some(p.as_str()))
    {
        update.platform_version = Some(p.clone());
        changed("platformVersion");
    }
    if !spec.capacity_provider_strategy.is_empty() && deployment::capacity_differs(i.obj, svc) {
        update.capacity_provider_strategy = Some(spec.capacity_provider_strategy.clone());
        changed("capacityProviderStrategy");
    }
}
