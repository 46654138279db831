//! Services and the scheduler: rolling deployments within min/max percent,
//! scale-only updates, the deployment circuit breaker with rollback, events,
//! draining on delete; and their API: CreateService (idempotent on
//! `clientToken`), UpdateService, DescribeServices, ListServices,
//! DeleteService.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::core::{AwsError, AwsResult, Ctx};
use crate::util::{bool_field, int_field, obj, paginate, str_field, str_list};

use super::deployments::{ServiceDeployment, ServiceRevision};
use super::tags::tags_of;
use super::{
    client, idempotency, include_tags, invalid, service_not_found, strategies, taskdef, unknown_op,
    EcsEnv, EcsState,
};

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
    /// The service revision this deployment runs (`deployments`).
    #[serde(default)]
    pub service_revision_arn: Option<String>,
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
    /// `deploymentConfiguration` members beyond the rolling ones: strategy,
    /// bakeTimeInMinutes, lifecycleHooks, linearConfiguration,
    /// canaryConfiguration (see `strategies`).
    #[serde(default)]
    pub strategy_config: Option<Value>,
    #[serde(default)]
    pub current_service_deployment: Option<String>,
    #[serde(default)]
    pub service_deployments: Vec<ServiceDeployment>,
    #[serde(default)]
    pub service_revisions: Vec<ServiceRevision>,
}

pub const MAX_EVENTS: usize = 100;

impl Service {
    pub fn event(&mut self, now: f64, message: String) {
        self.events.insert(
            0,
            Event {
                id: crate::util::uuid(),
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
                service_revision_arn: None,
            },
        );
        self.steady = false;
        id
    }

    /// `deploymentConfiguration.strategy` (default ROLLING).
    pub fn strategy(&self) -> &str {
        self.strategy_config
            .as_ref()
            .and_then(|c| c.get("strategy"))
            .and_then(Value::as_str)
            .unwrap_or("ROLLING")
    }

    pub fn deployment_configuration_json(&self) -> Value {
        let mut dc = json!({
            "deploymentCircuitBreaker": {
                "enable": self.circuit_breaker_enable,
                "rollback": self.circuit_breaker_rollback,
            },
            "maximumPercent": self.maximum_percent,
            "minimumHealthyPercent": self.minimum_healthy_percent,
        });
        if let Some(o) = dc.as_object_mut() {
            if let Some(a) = &self.alarms {
                o.insert("alarms".into(), a.clone());
            }
            if let Some(extra) = self.strategy_config.as_ref().and_then(Value::as_object) {
                for (k, v) in extra {
                    o.insert(k.clone(), v.clone());
                }
            }
        }
        dc
    }

    pub fn to_json(&self, include_tags: bool) -> Value {
        let deployments: Vec<Value> = self.deployments.iter().map(Deployment::to_json).collect();
        let events: Vec<Value> = self
            .events
            .iter()
            .map(|e| json!({"id": e.id, "createdAt": e.created_at, "message": e.message}))
            .collect();
        let dc = self.deployment_configuration_json();
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
            (
                "currentServiceDeployment",
                json!(self.current_service_deployment),
            ),
            ("currentServiceRevisions", self.current_revisions_json()),
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

impl EcsState {
    pub(super) fn service_op(
        &mut self,
        ctx: &Ctx,
        op: &str,
        body: &Value,
        env: &mut EcsEnv,
    ) -> AwsResult<Value> {
        match op {
            "CreateService" => self.create_service(ctx, body, env),
            "UpdateService" => self.update_service(ctx, body, env),
            "DescribeServices" => {
                let cluster = self.cluster(body)?.name.clone();
                let ids = str_list(body, "services");
                if ids.is_empty() {
                    return Err(invalid("Services cannot be empty."));
                }
                if ids.len() > 10 {
                    return Err(invalid("services can have at most 10 items."));
                }
                let tags = include_tags(body);
                let mut out = vec![];
                let mut failures = vec![];
                for id in ids {
                    match self.find_service(&cluster, &id) {
                        Some(i) => out.push(self.services[i].to_json(tags)),
                        None => failures.push(json!({
                            "arn": if id.starts_with("arn:") { id.clone() } else { ctx.arn("ecs", &format!("service/{cluster}/{id}")) },
                            "reason": "MISSING",
                        })),
                    }
                }
                Ok(json!({"services": out, "failures": failures}))
            }
            "ListServices" => {
                let cluster = self.cluster(body)?.name.clone();
                let lt = str_field(body, "launchType");
                let arns: Vec<String> = self
                    .services
                    .iter()
                    .filter(|s| s.cluster_name == cluster && s.status != "INACTIVE")
                    .filter(|s| lt.is_none_or(|l| s.launch_type.as_deref() == Some(l)))
                    .map(|s| s.arn.clone())
                    .collect();
                let (page, next) = paginate(&arns, body, 10);
                Ok(obj(vec![
                    ("serviceArns", json!(page)),
                    ("nextToken", json!(next)),
                ]))
            }
            "DeleteService" => {
                let cluster = self.cluster(body)?.name.clone();
                let id = str_field(body, "service")
                    .ok_or_else(|| invalid("service must be specified."))?;
                let i = self
                    .find_service(&cluster, id)
                    .ok_or_else(service_not_found)?;
                let force = bool_field(body, "force").unwrap_or(false);
                let s = &mut self.services[i];
                if s.status == "INACTIVE" {
                    return Err(AwsError::client(
                        "ServiceNotActiveException",
                        "Service was not ACTIVE.",
                    ));
                }
                if s.desired_count > 0 && !force && s.scheduling_strategy == "REPLICA" {
                    return Err(invalid(
                        "The service cannot be stopped while it is scaled above 0.",
                    ));
                }
                s.status = "DRAINING".into();
                s.desired_count = 0;
                // service-deployment.html: "When you delete a service,
                // Amazon ECS deletes the service deployments."
                s.service_deployments.clear();
                s.service_revisions.clear();
                s.current_service_deployment = None;
                if let Some(p) = s.primary_mut() {
                    p.desired_count = 0;
                }
                let out = s.to_json(false);
                Ok(json!({"service": out}))
            }
            _ => Err(unknown_op(op)),
        }
    }

    pub(super) fn find_service(&self, cluster: &str, id: &str) -> Option<usize> {
        let name = id.rsplit('/').next().unwrap_or(id);
        // The newest record wins: a re-created service shadows its INACTIVE
        // predecessor.
        self.services.iter().rposition(|s| {
            s.cluster_name == cluster && s.name == name && (!id.starts_with("arn:") || s.arn == id)
        })
    }

    pub(super) fn service_registries(body: &Value, env: &EcsEnv) -> AwsResult<Option<Value>> {
        let Some(regs) = body.get("serviceRegistries") else {
            return Ok(None);
        };
        for r in regs.as_array().into_iter().flatten() {
            let arn = r.get("registryArn").and_then(Value::as_str).unwrap_or("");
            if !env.cloudmap.service_exists(arn) {
                return Err(invalid(format!(
                    "The service registry {arn} does not exist or is not accessible."
                )));
            }
        }
        if regs.as_array().is_some_and(|a| a.len() > 1) {
            return Err(invalid(
                "Only one service registry is supported per service.",
            ));
        }
        Ok(Some(regs.clone()))
    }

    pub(super) fn create_service(
        &mut self,
        ctx: &Ctx,
        body: &Value,
        env: &mut EcsEnv,
    ) -> AwsResult<Value> {
        let cluster_arn = self.cluster(body)?.arn.clone();
        let Some(token) = str_field(body, "clientToken") else {
            return self.create_service_once(ctx, body, env);
        };
        let key = idempotency::key(&cluster_arn, token);
        let replayed = match idempotency::replay(
            &mut self.service_tokens,
            ctx,
            &key,
            body,
            idempotency::create_service_conflict,
        )? {
            idempotency::Replay::Same(arn) => arn.as_str().map(str::to_string),
            idempotency::Replay::New => None,
        };
        if let Some(arn) = replayed {
            if let Some(s) = self.services.iter().rev().find(|s| s.arn == arn) {
                return Ok(json!({"service": s.to_json(false)}));
            }
        }
        let result = self.create_service_once(ctx, body, env)?;
        self.service_tokens.insert(
            key,
            idempotency::TokenRecord {
                request: body.clone(),
                result: result["service"]["serviceArn"].clone(),
                at: ctx.now,
            },
        );
        Ok(result)
    }

    pub(super) fn create_service_once(
        &mut self,
        ctx: &Ctx,
        body: &Value,
        env: &mut EcsEnv,
    ) -> AwsResult<Value> {
        let cluster = self.cluster(body)?.clone();
        let name = str_field(body, "serviceName")
            .ok_or_else(|| invalid("serviceName must be specified."))?;
        if name.len() > 255
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                "Service name can only contain letters, numbers, hyphens and underscores (up to 255).",
            ));
        }
        if let Some(i) = self.find_service(&cluster.name, name) {
            match self.services[i].status.as_str() {
                "ACTIVE" => return Err(invalid("Creation of service was not idempotent.")),
                "DRAINING" => {
                    return Err(invalid("Unable to Start a service that is still Draining."))
                }
                _ => {}
            }
        }
        let td_id = str_field(body, "taskDefinition")
            .ok_or_else(|| invalid("taskDefinition must be specified."))?;
        let td = self
            .resolve_taskdef(td_id)
            .ok_or_else(|| client("TaskDefinition not found."))?
            .clone();
        if td.status != "ACTIVE" {
            return Err(client("TaskDefinition is inactive"));
        }
        let launch_type = str_field(body, "launchType");
        let capacity = body
            .get("capacityProviderStrategy")
            .filter(|c| c.as_array().is_some_and(|a| !a.is_empty()));
        let network = body.get("networkConfiguration");
        Self::check_launch(&td, launch_type, capacity, network)?;
        let desired = int_field(body, "desiredCount").unwrap_or(0);
        if desired < 0 {
            return Err(invalid("desiredCount must be greater than or equal to 0."));
        }
        let registries = Self::service_registries(body, env)?;
        let dc = body.get("deploymentConfiguration");
        let (min, max) = deployment_percents(dc, None)?;
        let strategy_config = strategies::config(dc, None);
        strategies::validate(
            strategy_config.as_ref(),
            body.get("loadBalancers").unwrap_or(&Value::Null),
        )?;
        let fargate = launch_type == Some("FARGATE") || capacity.is_some();
        let mut svc = Service {
            arn: ctx.arn("ecs", &format!("service/{}/{name}", cluster.name)),
            name: name.to_string(),
            cluster_name: cluster.name.clone(),
            cluster_arn: cluster.arn.clone(),
            status: "ACTIVE".into(),
            desired_count: desired,
            running_count: 0,
            pending_count: 0,
            task_definition: td.arn.clone(),
            launch_type: launch_type
                .map(str::to_string)
                .or_else(|| capacity.is_none().then(|| "EC2".to_string())),
            capacity_provider_strategy: capacity.cloned(),
            platform_version: str_field(body, "platformVersion")
                .map(str::to_string)
                .or_else(|| fargate.then(|| "LATEST".to_string())),
            network_configuration: network.cloned(),
            load_balancers: body
                .get("loadBalancers")
                .cloned()
                .unwrap_or_else(|| json!([])),
            service_registries: registries.unwrap_or_else(|| json!([])),
            minimum_healthy_percent: min,
            maximum_percent: max,
            circuit_breaker_enable: dc
                .and_then(|d| d.pointer("/deploymentCircuitBreaker/enable"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            circuit_breaker_rollback: dc
                .and_then(|d| d.pointer("/deploymentCircuitBreaker/rollback"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            alarms: dc.and_then(|d| d.get("alarms")).cloned(),
            health_check_grace_period_seconds: int_field(body, "healthCheckGracePeriodSeconds"),
            enable_execute_command: bool_field(body, "enableExecuteCommand").unwrap_or(false),
            enable_ecs_managed_tags: bool_field(body, "enableECSManagedTags").unwrap_or(false),
            propagate_tags: str_field(body, "propagateTags").map(str::to_string),
            scheduling_strategy: str_field(body, "schedulingStrategy")
                .unwrap_or("REPLICA")
                .to_string(),
            placement_constraints: body
                .get("placementConstraints")
                .cloned()
                .unwrap_or_else(|| json!([])),
            placement_strategy: body
                .get("placementStrategy")
                .cloned()
                .unwrap_or_else(|| json!([])),
            role_arn: str_field(body, "role").map(str::to_string),
            created_at: ctx.now,
            created_by: taskdef::registered_by(ctx),
            tags: tags_of(body),
            deployments: vec![],
            events: vec![],
            last_completed: None,
            steady: false,
            inactive_since: None,
            strategy_config,
            current_service_deployment: None,
            service_deployments: vec![],
            service_revisions: vec![],
        };
        let id = svc.new_deployment(ctx.now, None);
        svc.record_deployment(ctx.now, &id);
        let out = svc.to_json(false);
        self.services.push(svc);
        Ok(json!({"service": out}))
    }

    pub(super) fn update_service(
        &mut self,
        ctx: &Ctx,
        body: &Value,
        env: &mut EcsEnv,
    ) -> AwsResult<Value> {
        let cluster = self.cluster(body)?.name.clone();
        let id = str_field(body, "service").ok_or_else(|| invalid("service must be specified."))?;
        let i = self
            .find_service(&cluster, id)
            .ok_or_else(service_not_found)?;
        if self.services[i].status != "ACTIVE" {
            return Err(AwsError::client(
                "ServiceNotActiveException",
                "Service was not ACTIVE.",
            ));
        }
        let td = match str_field(body, "taskDefinition") {
            Some(id) => {
                let td = self
                    .resolve_taskdef(id)
                    .ok_or_else(|| client("TaskDefinition not found."))?
                    .clone();
                if td.status != "ACTIVE" {
                    return Err(client("TaskDefinition is inactive"));
                }
                Some(td)
            }
            None => None,
        };
        let current_td = self
            .resolve_taskdef(&self.services[i].task_definition)
            .cloned()
            .ok_or_else(|| client("Unable to describe task definition."))?;
        let registries = Self::service_registries(body, env)?;
        let s = &self.services[i];
        let capacity = body
            .get("capacityProviderStrategy")
            .filter(|c| c.as_array().is_some_and(|a| !a.is_empty()))
            .or(s.capacity_provider_strategy.as_ref());
        let network = body
            .get("networkConfiguration")
            .or(s.network_configuration.as_ref());
        let launch_type = if body.get("capacityProviderStrategy").is_some() {
            None
        } else {
            s.launch_type.as_deref()
        };
        Self::check_launch(
            td.as_ref().unwrap_or(&current_td),
            launch_type,
            capacity,
            network,
        )?;
        let desired = int_field(body, "desiredCount");
        if desired.is_some_and(|d| d < 0) {
            return Err(invalid("desiredCount must be greater than or equal to 0."));
        }
        let dc = body.get("deploymentConfiguration");
        let (min, max) =
            deployment_percents(dc, Some((s.minimum_healthy_percent, s.maximum_percent)))?;
        let strategy_config = strategies::config(dc, s.strategy_config.as_ref());
        strategies::validate(
            strategy_config.as_ref(),
            body.get("loadBalancers").unwrap_or(&s.load_balancers),
        )?;

        let s = &mut self.services[i];
        let mut redeploy = bool_field(body, "forceNewDeployment").unwrap_or(false);
        let changed = |old: &mut Option<Value>, new: Option<&Value>| -> bool {
            match new {
                Some(n) if old.as_ref() != Some(n) => {
                    *old = Some(n.clone());
                    true
                }
                _ => false,
            }
        };
        redeploy |= changed(
            &mut s.network_configuration,
            body.get("networkConfiguration"),
        );
        if let Some(c) = body.get("capacityProviderStrategy") {
            let c = c.as_array().filter(|a| !a.is_empty()).map(|_| c.clone());
            if s.capacity_provider_strategy != c {
                s.capacity_provider_strategy = c;
                s.launch_type = None;
                redeploy = true;
            }
        }
        let mut lb = Some(s.load_balancers.clone());
        redeploy |= changed(&mut lb, body.get("loadBalancers"));
        s.load_balancers = lb.unwrap_or_else(|| json!([]));
        if let Some(r) = registries {
            if s.service_registries != r {
                s.service_registries = r;
                redeploy = true;
            }
        }
        if let Some(pv) = str_field(body, "platformVersion") {
            if s.platform_version.as_deref() != Some(pv) {
                s.platform_version = Some(pv.to_string());
                redeploy = true;
            }
        }
        if let Some(td) = &td {
            if td.arn != s.task_definition {
                s.task_definition = td.arn.clone();
                redeploy = true;
            }
        }
        if let Some(d) = desired {
            if d != s.desired_count {
                s.steady = false;
            }
            s.desired_count = d;
        }
        s.minimum_healthy_percent = min;
        s.maximum_percent = max;
        s.strategy_config = strategy_config;
        if let Some(cb) = dc.and_then(|d| d.get("deploymentCircuitBreaker")) {
            s.circuit_breaker_enable = bool_field(cb, "enable").unwrap_or(false);
            s.circuit_breaker_rollback = bool_field(cb, "rollback").unwrap_or(false);
        }
        if let Some(a) = dc.and_then(|d| d.get("alarms")) {
            s.alarms = Some(a.clone());
        }
        if let Some(g) = int_field(body, "healthCheckGracePeriodSeconds") {
            s.health_check_grace_period_seconds = Some(g);
        }
        if let Some(e) = bool_field(body, "enableExecuteCommand") {
            s.enable_execute_command = e;
        }
        if let Some(e) = bool_field(body, "enableECSManagedTags") {
            s.enable_ecs_managed_tags = e;
        }
        if let Some(p) = str_field(body, "propagateTags") {
            s.propagate_tags = Some(p.to_string());
        }
        if redeploy {
            let id = s.new_deployment(ctx.now, None);
            s.record_deployment(ctx.now, &id);
        } else if let Some(p) = s.primary_mut() {
            p.desired_count = desired.unwrap_or(p.desired_count);
            p.updated_at = ctx.now;
        }
        let out = s.to_json(false);
        Ok(json!({"service": out}))
    }
}

/// minimumHealthyPercent / maximumPercent with AWS's defaults (100/200).
fn deployment_percents(dc: Option<&Value>, current: Option<(i64, i64)>) -> AwsResult<(i64, i64)> {
    let (cur_min, cur_max) = current.unwrap_or((100, 200));
    let min = dc
        .and_then(|d| int_field(d, "minimumHealthyPercent"))
        .unwrap_or(cur_min);
    let max = dc
        .and_then(|d| int_field(d, "maximumPercent"))
        .unwrap_or(cur_max);
    if !(0..=100).contains(&min) {
        return Err(invalid("minimumHealthyPercent must be between 0 and 100."));
    }
    if max < 100 && min == 100 || max <= 0 {
        return Err(invalid(
            "maximumPercent must be greater than minimumHealthyPercent and at least 100 when minimumHealthyPercent is 100.",
        ));
    }
    Ok((min, max))
}
