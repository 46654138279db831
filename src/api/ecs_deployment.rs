//! How an `EcsService` rolls out: `spec.deployment` (strategy, bake times,
//! linear and canary steps, circuit breaker, alarms) and the load balancer
//! resources of BLUE_GREEN, LINEAR and CANARY deployments.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The load balancer resources of a BLUE_GREEN, LINEAR or CANARY
/// deployment: ECS moves traffic between the two target groups by changing
/// the listener rules.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdvancedConfiguration {
    /// The target group the new revision's tasks register in.
    pub alternate_target_group_arn: String,
    /// The listener rule (or listener) that routes production traffic.
    pub production_listener_rule: String,
    /// The listener rule (or listener) that routes test traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_listener_rule: Option<String>,
    /// The IAM role that lets ECS change the load balancer.
    pub role_arn: String,
}

/// How ECS replaces the running revision.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentStrategy {
    /// Replace tasks in place, within minimumHealthyPercent and maximumPercent.
    #[default]
    Rolling,
    /// Start the new revision beside the old one and shift all traffic at once.
    BlueGreen,
    /// Shift traffic in equal steps (`linear`).
    Linear,
    /// Shift a small share first (`canary`), then the rest.
    Canary,
}

impl DeploymentStrategy {
    pub fn as_aws(self) -> &'static str {
        match self {
            DeploymentStrategy::Rolling => "ROLLING",
            DeploymentStrategy::BlueGreen => "BLUE_GREEN",
            DeploymentStrategy::Linear => "LINEAR",
            DeploymentStrategy::Canary => "CANARY",
        }
    }
}

/// LINEAR: the share of traffic each step shifts, and the wait after each.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinearSpec {
    /// Percent of traffic per step: a multiple of 0.1 from 3.0 to 100.0
    /// (ECS's default is 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 3.0, max = 100.0))]
    pub step_percent: Option<f64>,
    /// Minutes between steps (ECS's default is 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1440))]
    pub step_bake_time_in_minutes: Option<i32>,
}

/// CANARY: the share of traffic shifted first, and the wait before the rest.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanarySpec {
    /// Percent of traffic the canary gets: a multiple of 0.1 from 0.1 to
    /// 100.0 (ECS's default is 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.1, max = 100.0))]
    pub canary_percent: Option<f64>,
    /// Minutes before the rest of the traffic shifts (ECS's default is 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1440))]
    pub canary_bake_time_in_minutes: Option<i32>,
}

/// CloudWatch alarms that fail a deployment when one goes into ALARM.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentAlarms {
    /// Alarm names.
    #[schemars(length(min = 1, max = 10))]
    pub names: Vec<String>,
    /// Roll back to the previous revision when an alarm fires.
    #[serde(default = "default_true")]
    pub rollback: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    /// Lower bound of running tasks during a deployment, percent of desired.
    #[serde(default = "default_min_healthy")]
    #[schemars(range(min = 0, max = 100))]
    pub minimum_healthy_percent: i32,
    /// Upper bound of running tasks during a deployment, percent of desired.
    #[serde(default = "default_max_percent")]
    #[schemars(range(min = 0, max = 200))]
    pub maximum_percent: i32,
    #[serde(default)]
    pub circuit_breaker: CircuitBreaker,
    /// A rollout not complete after this long is `Degraded`/`ProgressDeadlineExceeded`.
    #[serde(default = "default_progress_deadline")]
    #[schemars(range(min = 30, max = 86400))]
    pub progress_deadline_seconds: i32,
    /// ROLLING (default), BLUE_GREEN, LINEAR or CANARY. The last three need
    /// `loadBalancers[].advancedConfiguration` when the service has load
    /// balancers.
    #[serde(default)]
    pub strategy: DeploymentStrategy,
    /// Minutes the new revision serves all traffic with the old one still
    /// running, before the old one stops (required with BLUE_GREEN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1440))]
    pub bake_time_in_minutes: Option<i32>,
    /// Only with strategy LINEAR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear: Option<LinearSpec>,
    /// Only with strategy CANARY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanarySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<DeploymentAlarms>,
}

impl Default for DeploymentSpec {
    fn default() -> Self {
        Self {
            minimum_healthy_percent: default_min_healthy(),
            maximum_percent: default_max_percent(),
            circuit_breaker: CircuitBreaker::default(),
            progress_deadline_seconds: default_progress_deadline(),
            strategy: DeploymentStrategy::Rolling,
            bake_time_in_minutes: None,
            linear: None,
            canary: None,
            alarms: None,
        }
    }
}

fn default_min_healthy() -> i32 {
    100
}
fn default_max_percent() -> i32 {
    200
}
fn default_progress_deadline() -> i32 {
    600
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CircuitBreaker {
    #[serde(default = "default_true")]
    pub enable: bool,
    /// Roll back to the last completed deployment when the breaker trips.
    #[serde(default = "default_true")]
    pub rollback: bool,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self {
            enable: true,
            rollback: true,
        }
    }
}

fn default_true() -> bool {
    true
}
