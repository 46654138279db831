//! Services and the scheduler: rolling deployments within min/max percent,
//! scale-only updates, the deployment circuit breaker with rollback, events,
//! draining on delete.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::util::obj;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub id: String,
    pub status: String,
    pub task_definition: String,
    pub desired_count: i64,
    pub pending_count: i64,
    pub running_count: i64,
    pub failed_tasks: i64,
    pub created_at: f64,
    pub updated_at: f64,
    pub launch_type: Option<String>,
    pub capacity_provider_strategy: Option<Value>,
    pub platform_version: Option<String>,
    pub network_configuration: Option<Value>,
    pub rollout_state: String,
    pub rollout_state_reason: String,
}

impl Deployment {
    pub fn to_json(&self) -> Value {
        let fargate = self.launch_type.as_deref() == Some("FARGATE")
            || self.capacity_provider_strategy.is_some();
        obj(vec![
            ("id", json!(self.id)),
            ("status", json!(self.status)),
            ("taskDefinition", json!(self.task_definition)),
            ("desiredCount", json!(self.desired_count)),
            ("pendingCount", json!(self.pending_count)),
            ("runningCount", json!(self.running_count)),
            ("failedTasks", json!(self.failed_tasks)),
            ("createdAt", json!(self.created_at)),
            ("updatedAt", json!(self.updated_at)),
            ("launchType", json!(self.launch_type)),
            (
                "capacityProviderStrategy",
                json!(self.capacity_provider_strategy),
            ),
            ("platformVersion", json!(self.platform_version)),
            (
                "platformFamily",
                if fargate { json!("Linux") } else { Value::Null },
            ),
            ("networkConfiguration", json!(self.network_configuration)),
            ("rolloutState", json!(self.rollout_state)),
            ("rolloutStateReason", json!(self.rollout_state_reason)),
        ])
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    pub created_at: f64,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub arn: String,
    pub name: String,
    pub cluster_name: String,
    pub cluster_arn: String,
    pub status: String,
    pub desired_count: i64,
    pub running_count: i64,
    pub pending_count: i64,
    pub task_definition: String,
    pub launch_type: Option<String>,
    pub capacity_provider_strategy: Option<Value>,
    pub platform_version: Option<String>,
    pub network_configuration: Option<Value>,
    pub load_balancers: Value,
    pub service_registries: Value,
    pub minimum_healthy_percent: i64,
    pub maximum_percent: i64,
    pub circuit_breaker_enable: bool,
    pub circuit_breaker_rollback: bool,
    pub alarms: Option<Value>,
    pub health_check_grace_period_seconds: Option<i64>,
    pub enable_execute_command: bool,
    pub enable_ecs_managed_tags: bool,
    pub propagate_tags: Option<String>,
    pub scheduling_strategy: String,
    pub placement_constraints: Value,
    pub placement_strategy: Value,
    pub role_arn: Option<String>,
    pub created_at: f64,
    pub created_by: String,
    pub tags: Vec<Value>,
    pub deployments: Vec<Deployment>,
    pub events: Vec<Event>,
    /// The last deployment that completed: the circuit breaker's rollback
    /// target.
    pub last_completed: Option<(String, String)>,
    pub steady: bool,
    /// Real AWS keeps INACTIVE services describable for a while.
    pub inactive_since: Option<f64>,
}

pub const MAX_EVENTS: usize = 100;

impl Service {
    pub fn event(&mut self, now: f64, message: String) {
        self.events.insert(
            0,
            Event {
                id: uuid::Uuid::new_v4().to_string(),
                created_at: now,
                message,
            },
        );
        self.events.truncate(MAX_EVENTS);
    }

    pub fn primary(&self) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.status == "PRIMARY")
    }

    pub fn primary_mut(&mut self) -> Option<&mut Deployment> {
        self.deployments.iter_mut().find(|d| d.status == "PRIMARY")
    }

    /// The circuit breaker's failure threshold: half the desired count,
    /// bounded to 3..200.
    pub fn failure_threshold(&self) -> i64 {
        let half = (self.desired_count as f64 * 0.5).ceil() as i64;
        half.clamp(3, 200)
    }

    /// Replaces the PRIMARY deployment with a new one.
    pub fn new_deployment(&mut self, now: f64, reason: Option<String>) -> String {
        let id = format!("ecs-svc/{}", crate::util::digits(19));
        for d in &mut self.deployments {
            if d.status == "PRIMARY" {
                d.status = "ACTIVE".into();
                d.updated_at = now;
            }
        }
        self.deployments.insert(
            0,
            Deployment {
                id: id.clone(),
                status: "PRIMARY".into(),
                task_definition: self.task_definition.clone(),
                desired_count: self.desired_count,
                pending_count: 0,
                running_count: 0,
                failed_tasks: 0,
                created_at: now,
                updated_at: now,
                launch_type: self.launch_type.clone(),
                capacity_provider_strategy: self.capacity_provider_strategy.clone(),
                platform_version: self.platform_version.clone(),
                network_configuration: self.network_configuration.clone(),
                rollout_state: "IN_PROGRESS".into(),
                rollout_state_reason: reason
                    .unwrap_or_else(|| format!("ECS deployment {id} in progress.")),
            },
        );
        self.steady = false;
        id
    }

    pub fn to_json(&self, include_tags: bool) -> Value {
        let deployments: Vec<Value> = self.deployments.iter().map(Deployment::to_json).collect();
        let events: Vec<Value> = self
            .events
            .iter()
            .map(|e| json!({"id": e.id, "createdAt": e.created_at, "message": e.message}))
            .collect();
        let mut circuit_breaker = json!({
            "enable": self.circuit_breaker_enable,
            "rollback": self.circuit_breaker_rollback,
        });
        let mut dc = json!({
            "deploymentCircuitBreaker": circuit_breaker.take(),
            "maximumPercent": self.maximum_percent,
            "minimumHealthyPercent": self.minimum_healthy_percent,
        });
        if let (Some(a), Some(o)) = (&self.alarms, dc.as_object_mut()) {
            o.insert("alarms".into(), a.clone());
        }
        obj(vec![
            ("serviceArn", json!(self.arn)),
            ("serviceName", json!(self.name)),
            ("clusterArn", json!(self.cluster_arn)),
            ("loadBalancers", self.load_balancers.clone()),
            ("serviceRegistries", self.service_registries.clone()),
            ("status", json!(self.status)),
            ("desiredCount", json!(self.desired_count)),
            ("runningCount", json!(self.running_count)),
            ("pendingCount", json!(self.pending_count)),
            ("launchType", json!(self.launch_type)),
            (
                "capacityProviderStrategy",
                json!(self.capacity_provider_strategy),
            ),
            ("platformVersion", json!(self.platform_version)),
            (
                "platformFamily",
                if self.launch_type.as_deref() == Some("FARGATE") {
                    json!("Linux")
                } else {
                    Value::Null
                },
            ),
            ("taskDefinition", json!(self.task_definition)),
            ("deploymentConfiguration", dc),
            ("deployments", json!(deployments)),
            ("roleArn", json!(self.role_arn)),
            ("events", json!(events)),
            ("createdAt", json!(self.created_at)),
            ("placementConstraints", self.placement_constraints.clone()),
            ("placementStrategy", self.placement_strategy.clone()),
            ("networkConfiguration", json!(self.network_configuration)),
            (
                "healthCheckGracePeriodSeconds",
                json!(self.health_check_grace_period_seconds),
            ),
            ("schedulingStrategy", json!(self.scheduling_strategy)),
            ("deploymentController", json!({"type": "ECS"})),
            ("createdBy", json!(self.created_by)),
            ("enableECSManagedTags", json!(self.enable_ecs_managed_tags)),
            (
                "propagateTags",
                json!(self.propagate_tags.clone().unwrap_or_else(|| "NONE".into())),
            ),
            ("enableExecuteCommand", json!(self.enable_execute_command)),
            (
                "tags",
                if include_tags {
                    json!(self.tags)
                } else {
                    Value::Null
                },
            ),
        ])
    }
}
