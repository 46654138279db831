//! berth's view of ECS: what the plans read, converted from the SDK's types
//! here so that no plan depends on the SDK (and plan tests build views, not
//! SDK structs).

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{AssignPublicIp, Deployment, Service, Task};
use k8s_openapi::jiff::Timestamp;

use crate::api::ecs_service::{StoppedContainer, StoppedTask};

/// An ECS service as DescribeServices reports it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceView {
    pub name: String,
    pub arn: String,
    /// ACTIVE, DRAINING (INACTIVE services are never returned as views).
    pub status: String,
    pub task_definition: Option<String>,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    /// FARGATE, EC2, EXTERNAL; none with a capacity provider strategy.
    pub launch_type: Option<String>,
    pub platform_version: Option<String>,
    pub deployment: Option<DeploymentConfigView>,
    pub network: Option<NetworkView>,
    pub registries: Vec<RegistryView>,
    pub load_balancers: Vec<LoadBalancerView>,
    pub health_check_grace_period_seconds: Option<i32>,
    pub enable_execute_command: bool,
    /// (capacity provider, weight, base).
    pub capacity_provider_strategy: Vec<(String, i32, i32)>,
    pub deployments: Vec<DeploymentView>,
    /// The ARN of the service deployment record of the newest rollout.
    pub current_service_deployment: Option<String>,
    /// Service events, newest first.
    pub events: Vec<EventView>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeploymentConfigView {
    pub minimum_healthy_percent: Option<i32>,
    pub maximum_percent: Option<i32>,
    /// (enable, rollback) of the deployment circuit breaker.
    pub circuit_breaker: Option<(bool, bool)>,
    /// ROLLING, BLUE_GREEN, LINEAR, CANARY (absent: ROLLING).
    pub strategy: Option<String>,
    pub bake_time_in_minutes: Option<i32>,
    /// (stepPercent, stepBakeTimeInMinutes).
    pub linear: Option<(Option<f64>, Option<i32>)>,
    /// (canaryPercent, canaryBakeTimeInMinutes).
    pub canary: Option<(Option<f64>, Option<i32>)>,
    /// (alarm names, enable, rollback).
    pub alarms: Option<(Vec<String>, bool, bool)>,
    /// The lifecycle hooks as (target type, stages).
    pub hooks: Vec<(String, Vec<String>)>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetworkView {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RegistryView {
    pub registry_arn: Option<String>,
    pub container_name: Option<String>,
    pub container_port: Option<i32>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadBalancerView {
    pub target_group_arn: String,
    pub container_name: String,
    pub container_port: i32,
    /// (alternateTargetGroupArn, productionListenerRule, testListenerRule, roleArn).
    pub advanced: Option<(String, String, Option<String>, String)>,
}

/// One of the service's deployments (PRIMARY, ACTIVE, ...).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeploymentView {
    pub id: Option<String>,
    pub status: Option<String>,
    pub task_definition: Option<String>,
    /// IN_PROGRESS, COMPLETED, FAILED.
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    pub failed_tasks: i32,
    /// Seconds since the epoch.
    pub created_at: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventView {
    pub message: String,
    /// Seconds since the epoch.
    pub created_at: i64,
}

impl ServiceView {
    /// The PRIMARY deployment: the one ECS is rolling out (or finished).
    pub fn primary(&self) -> Option<&DeploymentView> {
        self.deployments
            .iter()
            .find(|d| d.status.as_deref() == Some("PRIMARY"))
    }
}

impl DeploymentView {
    pub fn is(&self, rollout_state: &str) -> bool {
        self.rollout_state.as_deref() == Some(rollout_state)
    }
}

impl From<&Deployment> for DeploymentView {
    fn from(d: &Deployment) -> Self {
        Self {
            id: d.id().map(str::to_string),
            status: d.status().map(str::to_string),
            task_definition: d.task_definition().map(str::to_string),
            rollout_state: d.rollout_state().map(|s| s.as_str().to_string()),
            rollout_state_reason: d.rollout_state_reason().map(str::to_string),
            failed_tasks: d.failed_tasks(),
            created_at: d.created_at().map(|t| t.secs()),
        }
    }
}

impl From<&Service> for ServiceView {
    fn from(s: &Service) -> Self {
        Self {
            name: s.service_name().unwrap_or_default().to_string(),
            arn: s.service_arn().unwrap_or_default().to_string(),
            status: s.status().unwrap_or_default().to_string(),
            task_definition: s.task_definition().map(str::to_string),
            desired_count: s.desired_count(),
            running_count: s.running_count(),
            pending_count: s.pending_count(),
            launch_type: s.launch_type().map(|l| l.as_str().to_string()),
            platform_version: s.platform_version().map(str::to_string),
            deployment: s.deployment_configuration().map(|d| DeploymentConfigView {
                minimum_healthy_percent: d.minimum_healthy_percent(),
                maximum_percent: d.maximum_percent(),
                circuit_breaker: d
                    .deployment_circuit_breaker()
                    .map(|b| (b.enable(), b.rollback())),
                strategy: d.strategy().map(|s| s.as_str().to_string()),
                bake_time_in_minutes: d.bake_time_in_minutes(),
                linear: d
                    .linear_configuration()
                    .map(|l| (l.step_percent(), l.step_bake_time_in_minutes())),
                canary: d
                    .canary_configuration()
                    .map(|c| (c.canary_percent(), c.canary_bake_time_in_minutes())),
                alarms: d
                    .alarms()
                    .map(|a| (a.alarm_names().to_vec(), a.enable(), a.rollback())),
                hooks: d
                    .lifecycle_hooks()
                    .iter()
                    .map(|h| {
                        (
                            h.target_type()
                                .map(|t| t.as_str().to_string())
                                .unwrap_or_default(),
                            h.lifecycle_stages()
                                .iter()
                                .map(|s| s.as_str().to_string())
                                .collect(),
                        )
                    })
                    .collect(),
            }),
            network: s
                .network_configuration()
                .and_then(|n| n.awsvpc_configuration())
                .map(|v| NetworkView {
                    subnets: v.subnets().to_vec(),
                    security_groups: v.security_groups().to_vec(),
                    assign_public_ip: matches!(v.assign_public_ip(), Some(AssignPublicIp::Enabled)),
                }),
            registries: s
                .service_registries()
                .iter()
                .map(|r| RegistryView {
                    registry_arn: r.registry_arn().map(str::to_string),
                    container_name: r.container_name().map(str::to_string),
                    container_port: r.container_port(),
                })
                .collect(),
            load_balancers: s
                .load_balancers()
                .iter()
                .map(|l| LoadBalancerView {
                    target_group_arn: l.target_group_arn().unwrap_or_default().to_string(),
                    container_name: l.container_name().unwrap_or_default().to_string(),
                    container_port: l.container_port().unwrap_or_default(),
                    advanced: l.advanced_configuration().map(|a| {
                        (
                            a.alternate_target_group_arn()
                                .unwrap_or_default()
                                .to_string(),
                            a.production_listener_rule().unwrap_or_default().to_string(),
                            a.test_listener_rule().map(str::to_string),
                            a.role_arn().unwrap_or_default().to_string(),
                        )
                    }),
                })
                .collect(),
            health_check_grace_period_seconds: s.health_check_grace_period_seconds(),
            enable_execute_command: s.enable_execute_command(),
            capacity_provider_strategy: s
                .capacity_provider_strategy()
                .iter()
                .map(|c| (c.capacity_provider().to_string(), c.weight(), c.base()))
                .collect(),
            deployments: s.deployments().iter().map(DeploymentView::from).collect(),
            current_service_deployment: s.current_service_deployment().map(str::to_string),
            events: s
                .events()
                .iter()
                .map(|e| EventView {
                    message: e.message().unwrap_or_default().to_string(),
                    created_at: e.created_at().map(|t| t.secs()).unwrap_or(0),
                })
                .collect(),
            tags: s
                .tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_string(),
                        t.value().unwrap_or_default().to_string(),
                    ))
                })
                .collect(),
        }
    }
}

/// A stopped task as status reports it.
pub fn stopped_task(t: &Task) -> StoppedTask {
    StoppedTask {
        task_arn: t.task_arn().unwrap_or_default().to_string(),
        task_definition_arn: t.task_definition_arn().map(str::to_string),
        stopped_at: t
            .stopped_at()
            .and_then(|d| Timestamp::from_second(d.secs()).ok())
            .map(|t| t.to_string()),
        stop_code: t.stop_code().map(|c| c.as_str().to_string()),
        stopped_reason: t.stopped_reason().map(str::to_string),
        containers: t
            .containers()
            .iter()
            .map(|c| StoppedContainer {
                name: c.name().unwrap_or_default().to_string(),
                exit_code: c.exit_code(),
                reason: c.reason().map(str::to_string),
            })
            .collect(),
    }
}
