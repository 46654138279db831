//! `EcsService`: an ECS service, its task definition, rollout and Cloud Map
//! registration.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    CapacityProviderStrategyItem, DeletionPolicy, LaunchType, NetworkConfiguration, Tags,
};
use super::task_definition::{NetworkMode, TaskDefinitionSpec};
use super::validation::{is_arn_of, is_ecs_name, validate_tags, Errors, InvalidSpec};

pub use super::ecs_deployment::*;

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "berth.dev",
    version = "v1alpha1",
    kind = "EcsService",
    namespaced,
    status = "EcsServiceStatus",
    shortname = "ecssvc",
    category = "berth",
    doc = "An Amazon ECS service with its task definition, rollout tracking and Cloud Map registration",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Desired",
        type_ = "integer",
        json_path = ".status.desiredCount"
    ),
    printcolumn(
        name = "Running",
        type_ = "integer",
        json_path = ".status.runningCount"
    ),
    printcolumn(
        name = "Revision",
        type_ = "integer",
        json_path = ".status.servingRevision"
    ),
    printcolumn(
        name = "Rollout",
        type_ = "string",
        json_path = ".status.rollout.state"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!(has(self.launchType) && has(self.capacityProviderStrategy) && size(self.capacityProviderStrategy) > 0)",
        "message": "set launchType or capacityProviderStrategy, not both",
        "fieldPath": ".capacityProviderStrategy"
    },
    {
        "rule": "self.taskDefinition.networkMode != 'awsvpc' || has(self.networkConfiguration)",
        "message": "networkConfiguration is required with networkMode awsvpc",
        "fieldPath": ".networkConfiguration"
    },
    {
        "rule": "!has(self.deployment) || !has(self.deployment.minimumHealthyPercent) || !has(self.deployment.maximumPercent) || self.deployment.minimumHealthyPercent <= self.deployment.maximumPercent",
        "message": "minimumHealthyPercent must not exceed maximumPercent",
        "fieldPath": ".deployment.minimumHealthyPercent"
    },
    {
        "rule": "!has(self.serviceDiscovery) || has(self.serviceDiscovery.namespaceName) != has(self.serviceDiscovery.namespaceId)",
        "message": "serviceDiscovery needs exactly one of namespaceName and namespaceId",
        "fieldPath": ".serviceDiscovery"
    }
]))]
pub struct EcsServiceSpec {
    /// Name of an existing ECS cluster (case-sensitive). berth never creates clusters.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,255}$"))]
    pub cluster: String,
    /// ECS service name; defaults to `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,255}$"))]
    pub service_name: Option<String>,
    pub task_definition: TaskDefinitionSpec,
    /// Number of tasks. When absent berth never sets it, so autoscaling and
    /// manual scaling are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 5000))]
    pub desired_count: Option<i32>,
    /// Exclusive with `capacityProviderStrategy`; neither means the cluster's default strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<LaunchType>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    /// Fargate platform version, e.g. `LATEST` or `1.4.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(LATEST|[0-9]+\.[0-9]+\.[0-9]+)$"))]
    pub platform_version: Option<String>,
    /// Required with networkMode awsvpc (always on Fargate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub load_balancers: Vec<LoadBalancer>,
    /// Seconds ECS ignores failing load balancer health checks after a task starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub health_check_grace_period_seconds: Option<i32>,
    #[serde(default)]
    pub deployment: DeploymentSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_discovery: Option<ServiceDiscovery>,
    /// Tags on the service and its task definitions (berth adds its own
    /// `berth.dev/*` tags).
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    /// berth-registered task definition revisions kept for rollback.
    #[serde(default = "default_revision_history_limit")]
    #[schemars(range(min = 1, max = 100))]
    pub revision_history_limit: i32,
    #[serde(default)]
    pub enable_execute_command: bool,
    /// Take over an existing ECS service (and Cloud Map service) that
    /// carries no berth tags, or berth's tags for an object that no longer
    /// exists (deleted with deletionPolicy Retain). Never one whose tags
    /// name another object that exists (`Conflict`).
    #[serde(default)]
    pub adopt: bool,
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

fn default_revision_history_limit() -> i32 {
    5
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancer {
    #[schemars(regex(
        pattern = r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/.+$"
    ))]
    pub target_group_arn: String,
    pub container_name: String,
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: i32,
    /// What ECS needs to shift traffic itself in BLUE_GREEN, LINEAR and
    /// CANARY deployments (required with those strategies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advanced_configuration: Option<AdvancedConfiguration>,
}

/// Register the service's tasks in AWS Cloud Map. berth creates (and on
/// delete removes) the Cloud Map service; the namespace must exist.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDiscovery {
    /// Name of a Cloud Map namespace, e.g. `internal.example.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_name: Option<String>,
    /// Id of a Cloud Map namespace (`ns-…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^ns-[a-z0-9]{16,64}$"))]
    pub namespace_id: Option<String>,
    /// Cloud Map service name; defaults to the ECS service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"))]
    pub service_name: Option<String>,
    #[serde(default = "default_record_type")]
    pub dns_record_type: DnsRecordType,
    #[serde(default = "default_ttl")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub dns_ttl: i64,
    /// For SRV records: the container and port to publish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: Option<i32>,
}

fn default_record_type() -> DnsRecordType {
    DnsRecordType::A
}
fn default_ttl() -> i64 {
    10
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DnsRecordType {
    A,
    #[serde(rename = "SRV")]
    Srv,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EcsServiceStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_arn: Option<String>,
    /// The task definition berth wants running (may wait on migrations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    /// The revision of `taskDefinitionArn`, the one berth wants running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    /// The task definition revision the ECS service runs now (its
    /// `taskDefinition`): `revision` once a rollout completed, the previous
    /// one after a rollback, absent while there is no service. The
    /// REVISION column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_revision: Option<i64>,
    /// Hash of the rendered task definition (and secret versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutStatus>,
    /// The most recent stopped tasks of this service, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_stopped_tasks: Vec<StoppedTask>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_map_service_arn: Option<String>,
    /// The revision that served before the current rollout: the target of
    /// a rollback after a failed PostRollout check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_task_definition_arn: Option<String>,
    /// The PullThroughCache serving a container image that lives in this
    /// account's ECR under its prefix (`namespace/name` when in another
    /// namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_through_cache: Option<String>,
    /// The last value of the `berth.dev/rollback` annotation berth acted
    /// on: a new value asks for one more rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_requested: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// ECS rolloutState of the PRIMARY deployment (IN_PROGRESS, COMPLETED,
    /// FAILED); once this rollout was rolled back (circuit breaker, alarm,
    /// failed PostTestTraffic or PostRollout check, `berth.dev/rollback`),
    /// the rollback's state in the words of ECS service deployments:
    /// ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED. The
    /// ROLLOUT column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    #[serde(default)]
    pub failed_tasks: i32,
    /// When the current rollout started (for the progress deadline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// The task definition revision this rollout deploys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    /// The ECS service deployment record of this rollout
    /// (DescribeServiceDeployments), what berth reads its outcome from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_deployment: Option<ServiceDeploymentStatus>,
    /// The `berth.dev/refresh` value this rollout has seen: the object's
    /// value while the rollout had not failed, or the one that retried it.
    /// Only a different value retries a rollout ECS failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshed_by: Option<String>,
    /// Why berth retried this rollout after ECS failed it (one UpdateService
    /// with forceNewDeployment): `berth.dev/refresh=VALUE`, or
    /// `PullThroughCache NAME serves REPOSITORY at TIME` when the rule
    /// serving an image that could not be pulled went from warning about
    /// its repository to serving it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retried_for: Option<String>,
    /// What berth last saw may make pulls of the image's repository fail:
    /// the PullThroughCache serving it is not Ready or warns about it, or
    /// none covers it. A failed rollout is retried once when this clears.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_through_cache_warning: Option<String>,
}

/// An ECS service deployment as DescribeServiceDeployments reports it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDeploymentStatus {
    /// The service deployment ARN (no status member is required: a status
    /// write can never be refused for one left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// PENDING, IN_PROGRESS, SUCCESSFUL, STOPPED, STOP_REQUESTED,
    /// ROLLBACK_REQUESTED, ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL or
    /// ROLLBACK_FAILED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// The deployment's lifecycle stage (BLUE_GREEN, LINEAR, CANARY), e.g.
    /// PRODUCTION_TRAFFIC_SHIFT or BAKE_TIME.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_stage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreakerStatus>,
    /// Deployment alarms that went into ALARM.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggered_alarms: Vec<String>,
    /// Why ECS rolled the deployment back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_reason: Option<String>,
    /// The service revision the deployment rolls out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_revision_arn: Option<String>,
    /// The PAUSE lifecycle hook waiting for berth (PostTestTraffic
    /// MigrationJobs), and its stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaiting_hook: Option<String>,
}

/// The deployment circuit breaker of one service deployment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CircuitBreakerStatus {
    /// MONITORING, TRIGGERED or DISABLED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Tasks of the deployment that failed.
    #[serde(default)]
    pub failure_count: i32,
    /// Failed tasks that trip the breaker.
    #[serde(default)]
    pub threshold: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoppedTask {
    pub task_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<StoppedContainer>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoppedContainer {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl EcsService {
    /// The ECS service name: `spec.serviceName` or `metadata.name`.
    pub fn service_name(&self) -> String {
        self.spec
            .service_name
            .clone()
            .or_else(|| self.metadata.name.clone())
            .unwrap_or_default()
    }

    /// The task definition family: `spec.taskDefinition.family` or the service name.
    pub fn family(&self) -> String {
        self.spec
            .task_definition
            .family
            .clone()
            .unwrap_or_else(|| self.service_name())
    }
}

impl EcsService {
    /// [`EcsServiceSpec::validate`] plus the names berth derives from
    /// `metadata.name` when the spec leaves them out: a Kubernetes name may
    /// hold dots, which ECS and Cloud Map names may not.
    pub fn validate(&self) -> Result<(), InvalidSpec> {
        let mut errors = match self.spec.validate() {
            Ok(()) => Vec::new(),
            Err(InvalidSpec(v)) => v,
        };
        let mut e = Errors::default();
        if self.spec.service_name.is_none() {
            e.check(
                is_ecs_name(&self.service_name()),
                "spec.serviceName",
                "unset, so it defaults to metadata.name, which is not a valid ECS service name \
                 (1-255 letters, digits, hyphens or underscores): set spec.serviceName",
            );
        }
        if self
            .spec
            .service_discovery
            .as_ref()
            .is_some_and(|sd| sd.service_name.is_none())
        {
            let name = self.service_name();
            let label = !name.is_empty()
                && name.len() <= 63
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !name.starts_with('-')
                && !name.ends_with('-');
            e.check(
                label,
                "spec.serviceDiscovery.serviceName",
                "unset, so the Cloud Map service is named after the ECS service, which is not a \
                 DNS label (1-63 letters, digits or hyphens): set spec.serviceDiscovery.serviceName",
            );
        }
        if let Err(InvalidSpec(v)) = e.finish() {
            errors.extend(v);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(InvalidSpec(errors))
        }
    }
}

/// A multiple of 0.1 within `lo..=hi`.
fn tenths_within(x: f64, lo: f64, hi: f64) -> bool {
    let tenths = x * 10.0;
    (lo..=hi).contains(&x) && (tenths - tenths.round()).abs() < 1e-6
}

impl EcsServiceSpec {
    /// The combinations of deployment settings ECS accepts (the checks of
    /// API_DeploymentConfiguration.html, API_LinearConfiguration.html,
    /// API_CanaryConfiguration.html and alb-resources-for-blue-green.html).
    fn validate_strategy(&self, e: &mut Errors) {
        let d = &self.deployment;
        let s = d.strategy;
        if d.linear.is_some() {
            e.check(
                s == DeploymentStrategy::Linear,
                "spec.deployment.linear",
                format!(
                    "only valid with strategy LINEAR (strategy is {})",
                    s.as_aws()
                ),
            );
        }
        if d.canary.is_some() {
            e.check(
                s == DeploymentStrategy::Canary,
                "spec.deployment.canary",
                format!(
                    "only valid with strategy CANARY (strategy is {})",
                    s.as_aws()
                ),
            );
        }
        if s == DeploymentStrategy::BlueGreen {
            e.check(
                d.bake_time_in_minutes.is_some(),
                "spec.deployment.bakeTimeInMinutes",
                "required with strategy BLUE_GREEN (minutes both revisions run before the old one stops)",
            );
        }
        if let Some(b) = d.bake_time_in_minutes {
            e.check(
                (0..=1440).contains(&b),
                "spec.deployment.bakeTimeInMinutes",
                "must be between 0 and 1440",
            );
        }
        if let Some(p) = d.linear.as_ref().and_then(|l| l.step_percent) {
            e.check(
                tenths_within(p, 3.0, 100.0),
                "spec.deployment.linear.stepPercent",
                format!("{p} is not a multiple of 0.1 from 3.0 to 100.0"),
            );
        }
        if let Some(p) = d.canary.as_ref().and_then(|c| c.canary_percent) {
            e.check(
                tenths_within(p, 0.1, 100.0),
                "spec.deployment.canary.canaryPercent",
                format!("{p} is not a multiple of 0.1 from 0.1 to 100.0"),
            );
        }
        if let Some(a) = &d.alarms {
            e.check(
                (1..=10).contains(&a.names.len()),
                "spec.deployment.alarms.names",
                "must name 1 to 10 CloudWatch alarms",
            );
        }
        for (i, lb) in self.load_balancers.iter().enumerate() {
            let at = format!("spec.loadBalancers[{i}].advancedConfiguration");
            match &lb.advanced_configuration {
                None => e.check(
                    s == DeploymentStrategy::Rolling,
                    at,
                    format!(
                        "required with strategy {}: ECS shifts traffic between targetGroupArn and \
                         alternateTargetGroupArn through productionListenerRule, with roleArn",
                        s.as_aws()
                    ),
                ),
                Some(a) => {
                    e.check(
                        is_arn_of(&a.alternate_target_group_arn, "elasticloadbalancing"),
                        format!("{at}.alternateTargetGroupArn"),
                        "must be an Elastic Load Balancing target group ARN",
                    );
                    e.check(
                        a.alternate_target_group_arn != lb.target_group_arn,
                        format!("{at}.alternateTargetGroupArn"),
                        "must differ from targetGroupArn",
                    );
                    e.check(
                        is_arn_of(&a.production_listener_rule, "elasticloadbalancing"),
                        format!("{at}.productionListenerRule"),
                        "must be an Elastic Load Balancing listener or listener rule ARN",
                    );
                    if let Some(t) = &a.test_listener_rule {
                        e.check(
                            is_arn_of(t, "elasticloadbalancing"),
                            format!("{at}.testListenerRule"),
                            "must be an Elastic Load Balancing listener or listener rule ARN",
                        );
                    }
                    e.check(
                        is_arn_of(&a.role_arn, "iam"),
                        format!("{at}.roleArn"),
                        "must be an IAM role ARN",
                    );
                }
            }
        }
    }

    /// The cross-field rules the API server may not enforce (CEL needs >= 1.25).
    pub fn validate(&self) -> Result<(), InvalidSpec> {
        let mut e = Errors::default();
        e.check(
            is_ecs_name(&self.cluster),
            "spec.cluster",
            "must be 1-255 letters, digits, hyphens or underscores (case-sensitive)",
        );
        if let Some(name) = &self.service_name {
            e.check(
                is_ecs_name(name),
                "spec.serviceName",
                "must be 1-255 letters, digits, hyphens or underscores",
            );
        }
        self.task_definition.validate("spec.taskDefinition", &mut e);
        if self.launch_type.is_some() && !self.capacity_provider_strategy.is_empty() {
            e.push(
                "spec.capacityProviderStrategy",
                "set launchType or capacityProviderStrategy, not both",
            );
        }
        if self.launch_type == Some(LaunchType::Fargate) && !self.task_definition.is_fargate() {
            e.push(
                "spec.taskDefinition.requiresCompatibilities",
                "launchType FARGATE needs FARGATE in requiresCompatibilities",
            );
        }
        if self.task_definition.network_mode == NetworkMode::Awsvpc {
            e.check(
                self.network_configuration.is_some(),
                "spec.networkConfiguration",
                "required with networkMode awsvpc (subnets and security groups for the tasks)",
            );
        } else if self.network_configuration.is_some() {
            e.push(
                "spec.networkConfiguration",
                "only valid with taskDefinition.networkMode awsvpc",
            );
        }
        let d = &self.deployment;
        e.check(
            (0..=100).contains(&d.minimum_healthy_percent),
            "spec.deployment.minimumHealthyPercent",
            "must be between 0 and 100",
        );
        e.check(
            (0..=200).contains(&d.maximum_percent),
            "spec.deployment.maximumPercent",
            "must be between 0 and 200",
        );
        e.check(
            d.minimum_healthy_percent <= d.maximum_percent,
            "spec.deployment.minimumHealthyPercent",
            format!(
                "{} must not exceed maximumPercent ({})",
                d.minimum_healthy_percent, d.maximum_percent
            ),
        );
        e.check(
            !(d.minimum_healthy_percent == 100 && d.maximum_percent == 100),
            "spec.deployment.maximumPercent",
            "minimumHealthyPercent 100 with maximumPercent 100 leaves ECS no room to replace a task",
        );
        self.validate_strategy(&mut e);
        let containers: Vec<&str> = self
            .task_definition
            .containers
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        for (i, lb) in self.load_balancers.iter().enumerate() {
            let at = format!("spec.loadBalancers[{i}]");
            e.check(
                is_arn_of(&lb.target_group_arn, "elasticloadbalancing"),
                format!("{at}.targetGroupArn"),
                "must be an Elastic Load Balancing target group ARN",
            );
            match self
                .task_definition
                .containers
                .iter()
                .find(|c| c.name == lb.container_name)
            {
                None => e.push(
                    format!("{at}.containerName"),
                    format!(
                        "{:?} is not a container of the task definition (have {})",
                        lb.container_name,
                        containers.join(", ")
                    ),
                ),
                Some(c) => e.check(
                    c.port_mappings
                        .iter()
                        .any(|p| p.container_port == lb.container_port),
                    format!("{at}.containerPort"),
                    format!(
                        "container {:?} has no portMapping for {}",
                        c.name, lb.container_port
                    ),
                ),
            }
        }
        if let Some(sd) = &self.service_discovery {
            e.check(
                sd.namespace_name.is_some() != sd.namespace_id.is_some(),
                "spec.serviceDiscovery",
                "needs exactly one of namespaceName and namespaceId",
            );
            if sd.dns_record_type == DnsRecordType::Srv {
                e.check(
                    sd.container_name.is_some() && sd.container_port.is_some(),
                    "spec.serviceDiscovery.containerName",
                    "SRV records need containerName and containerPort",
                );
            }
            if let Some(name) = &sd.container_name {
                e.check(
                    containers.contains(&name.as_str()),
                    "spec.serviceDiscovery.containerName",
                    format!("{name:?} is not a container of the task definition"),
                );
            }
        }
        validate_tags(&self.tags, &mut e);
        e.finish()
    }
}
