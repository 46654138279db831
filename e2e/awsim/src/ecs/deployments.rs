//! Service deployments and service revisions
//! (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-deployment.html>,
//! <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-revision.html>):
//! the records ECS keeps of every deployment of a service, and their API:
//! DescribeServiceDeployments, ListServiceDeployments,
//! DescribeServiceRevisions, ContinueServiceDeployment and
//! StopServiceDeployment. The records live in their service ("When you
//! delete a service, Amazon ECS deletes the service deployments"); their
//! progression on the virtual clock is in `rollout`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::core::{AwsError, AwsResult, Ctx};
use crate::util::{obj, paginate, str_field, str_list};

use super::services::Service;
use super::{invalid, service_not_found, unknown_op, EcsState};

/// A service revision: the workload configuration one deployment deploys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRevision {
    pub arn: String,
    pub task_definition: String,
    pub launch_type: Option<String>,
    pub capacity_provider_strategy: Option<Value>,
    pub platform_version: Option<String>,
    pub network_configuration: Option<Value>,
    pub load_balancers: Value,
    pub service_registries: Value,
    pub created_at: f64,
}

/// One service deployment record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceDeployment {
    pub arn: String,
    /// The `ecs-svc/…` deployment (in `Service::deployments`) it runs.
    pub deployment_id: String,
    /// The deployment a rollback started, if any.
    pub rollback_deployment_id: Option<String>,
    pub created_at: f64,
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    pub stopped_at: Option<f64>,
    pub updated_at: f64,
    pub source_revisions: Vec<String>,
    pub target_revision: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub strategy: String,
    pub lifecycle_stage: Option<String>,
    pub hooks: Vec<HookDetail>,
    pub deployment_configuration: Value,
    pub rollback: Option<Value>,
    pub circuit_breaker_status: String,
    pub failure_count: i64,
    pub threshold: i64,
    pub alarms_status: String,
    pub alarm_names: Vec<String>,
    pub triggered_alarm_names: Vec<String>,
    /// Rollout bookkeeping (see `rollout`).
    pub stage_index: usize,
    pub stage_since: f64,
    pub stage_hooks_done: bool,
    pub production_weight: f64,
    pub test_weight: f64,
    /// "ROLLBACK" or "ABORT", requested by the API, applied on the next tick.
    pub requested: Option<(String, String)>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HookDetail {
    pub hook_id: String,
    pub target_type: String,
    pub target_arn: Option<String>,
    pub status: String,
    pub stage: String,
    pub expires_at: Option<f64>,
    pub timeout_action: Option<String>,
}

/// Statuses of the "Ongoing" stage (service-deployment.html).
pub const ONGOING: &[&str] = &[
    "IN_PROGRESS",
    "STOP_REQUESTED",
    "ROLLBACK_REQUESTED",
    "ROLLBACK_IN_PROGRESS",
];

impl ServiceDeployment {
    pub fn is_ongoing(&self) -> bool {
        self.status == "PENDING" || ONGOING.contains(&self.status.as_str())
    }

    /// Ongoing and moving forward (not being stopped or rolled back).
    pub fn is_forward(&self) -> bool {
        matches!(self.status.as_str(), "PENDING" | "IN_PROGRESS")
    }

    pub fn paused_hook(&self) -> Option<&HookDetail> {
        self.hooks.iter().find(|h| h.status == "AWAITING_ACTION")
    }

    fn summary(&self, svc: &Service, arn: &str, target: bool) -> Value {
        let d = svc
            .deployments
            .iter()
            .find(|d| d.service_revision_arn.as_deref() == Some(arn));
        let (prod, test) = if target {
            (self.production_weight, self.test_weight)
        } else {
            (100.0 - self.production_weight, 100.0 - self.test_weight)
        };
        json!({
            "arn": arn,
            "requestedTaskCount": d.map_or(0, |d| d.desired_count),
            "runningTaskCount": d.map_or(0, |d| d.running_count),
            "pendingTaskCount": d.map_or(0, |d| d.pending_count),
            "requestedProductionTrafficWeight": prod,
            "requestedTestTrafficWeight": test,
        })
    }

    pub fn to_json(&self, svc: &Service) -> Value {
        let sources: Vec<Value> = self
            .source_revisions
            .iter()
            .map(|a| self.summary(svc, a, false))
            .collect();
        let hooks: Vec<Value> = self
            .hooks
            .iter()
            .map(|h| {
                obj(vec![
                    ("hookId", json!(h.hook_id)),
                    ("targetType", json!(h.target_type)),
                    ("targetArn", json!(h.target_arn)),
                    ("status", json!(h.status)),
                    ("expiresAt", json!(h.expires_at)),
                    ("timeoutAction", json!(h.timeout_action)),
                ])
            })
            .collect();
        obj(vec![
            ("serviceDeploymentArn", json!(self.arn)),
            ("serviceArn", json!(svc.arn)),
            ("clusterArn", json!(svc.cluster_arn)),
            ("createdAt", json!(self.created_at)),
            ("startedAt", json!(self.started_at)),
            ("finishedAt", json!(self.finished_at)),
            ("stoppedAt", json!(self.stopped_at)),
            ("updatedAt", json!(self.updated_at)),
            ("sourceServiceRevisions", json!(sources)),
            (
                "targetServiceRevision",
                self.summary(svc, &self.target_revision, true),
            ),
            ("status", json!(self.status)),
            ("statusReason", json!(self.status_reason)),
            ("lifecycleStage", json!(self.lifecycle_stage)),
            (
                "lifecycleHookDetails",
                if hooks.is_empty() {
                    Value::Null
                } else {
                    json!(hooks)
                },
            ),
            (
                "deploymentConfiguration",
                self.deployment_configuration.clone(),
            ),
            ("rollback", json!(self.rollback)),
            (
                "deploymentCircuitBreaker",
                json!({
                    "status": self.circuit_breaker_status,
                    "failureCount": self.failure_count,
                    "threshold": self.threshold,
                }),
            ),
            (
                "alarms",
                obj(vec![
                    ("status", json!(self.alarms_status)),
                    (
                        "alarmNames",
                        if self.alarm_names.is_empty() {
                            Value::Null
                        } else {
                            json!(self.alarm_names)
                        },
                    ),
                    (
                        "triggeredAlarmNames",
                        if self.triggered_alarm_names.is_empty() {
                            Value::Null
                        } else {
                            json!(self.triggered_alarm_names)
                        },
                    ),
                ]),
            ),
        ])
    }

    pub fn brief(&self, svc: &Service) -> Value {
        obj(vec![
            ("serviceDeploymentArn", json!(self.arn)),
            ("serviceArn", json!(svc.arn)),
            ("clusterArn", json!(svc.cluster_arn)),
            ("startedAt", json!(self.started_at)),
            ("createdAt", json!(self.created_at)),
            ("finishedAt", json!(self.finished_at)),
            ("targetServiceRevisionArn", json!(self.target_revision)),
            ("status", json!(self.status)),
            ("statusReason", json!(self.status_reason)),
        ])
    }
}

impl ServiceRevision {
    pub fn to_json(&self, svc: &Service, images: Value) -> Value {
        let fargate = self.launch_type.as_deref() == Some("FARGATE")
            || self.capacity_provider_strategy.is_some();
        obj(vec![
            ("serviceRevisionArn", json!(self.arn)),
            ("serviceArn", json!(svc.arn)),
            ("clusterArn", json!(svc.cluster_arn)),
            ("taskDefinition", json!(self.task_definition)),
            (
                "capacityProviderStrategy",
                json!(self.capacity_provider_strategy),
            ),
            ("launchType", json!(self.launch_type)),
            ("platformVersion", json!(self.platform_version)),
            (
                "platformFamily",
                if fargate { json!("Linux") } else { Value::Null },
            ),
            ("loadBalancers", self.load_balancers.clone()),
            ("serviceRegistries", self.service_registries.clone()),
            ("networkConfiguration", json!(self.network_configuration)),
            ("containerImages", images),
            ("guardDutyEnabled", json!(false)),
            ("createdAt", json!(self.created_at)),
        ])
    }
}

/// `arn:aws:ecs:R:A:service/C/S` -> `arn:aws:ecs:R:A:KIND/C/S/ID`.
fn child_arn(service_arn: &str, kind: &str, id: &str) -> String {
    format!(
        "{}/{id}",
        service_arn.replacen(":service/", &format!(":{kind}/"), 1)
    )
}

impl Service {
    pub fn revision(&self, arn: &str) -> Option<&ServiceRevision> {
        self.service_revisions.iter().find(|r| r.arn == arn)
    }

    pub fn current_record(&self) -> Option<&ServiceDeployment> {
        let arn = self.current_service_deployment.as_deref()?;
        self.service_deployments.iter().find(|d| d.arn == arn)
    }

    pub fn current_record_mut(&mut self) -> Option<&mut ServiceDeployment> {
        let arn = self.current_service_deployment.clone()?;
        self.service_deployments.iter_mut().find(|d| d.arn == arn)
    }

    /// Records a service deployment (and the revision it deploys) for the
    /// deployment `deployment_id` just started: CreateService, or an
    /// UpdateService that starts a deployment (service-deployment.html,
    /// "Service deployment lifecycle"). It starts PENDING; an ongoing one it
    /// replaces is STOPPED.
    pub fn record_deployment(&mut self, now: f64, deployment_id: &str) {
        let rev = ServiceRevision {
            arn: child_arn(&self.arn, "service-revision", &crate::util::digits(19)),
            task_definition: self.task_definition.clone(),
            launch_type: self.launch_type.clone(),
            capacity_provider_strategy: self.capacity_provider_strategy.clone(),
            platform_version: self.platform_version.clone(),
            network_configuration: self.network_configuration.clone(),
            load_balancers: self.load_balancers.clone(),
            service_registries: self.service_registries.clone(),
            created_at: now,
        };
        let mut sources: Vec<String> = self
            .deployments
            .iter()
            .filter(|d| d.id != deployment_id)
            .filter_map(|d| d.service_revision_arn.clone())
            .collect();
        sources.dedup();
        if let Some(prev) = self.current_record_mut() {
            if prev.is_ongoing() {
                prev.status = "STOPPED".into();
                prev.status_reason = Some("Superseded by a new service deployment.".into());
                prev.stopped_at = Some(now);
                prev.updated_at = now;
            }
        }
        if let Some(d) = self.deployments.iter_mut().find(|d| d.id == deployment_id) {
            d.service_revision_arn = Some(rev.arn.clone());
        }
        let alarms = self.alarms.clone().unwrap_or(Value::Null);
        let alarms_on = alarms.get("enable").and_then(Value::as_bool) == Some(true);
        let record = ServiceDeployment {
            arn: child_arn(&self.arn, "service-deployment", &crate::util::alnum(21)),
            deployment_id: deployment_id.to_string(),
            created_at: now,
            updated_at: now,
            source_revisions: sources,
            target_revision: rev.arn.clone(),
            status: "PENDING".into(),
            strategy: self.strategy().to_string(),
            deployment_configuration: self.deployment_configuration_json(),
            circuit_breaker_status: if self.circuit_breaker_enable {
                "MONITORING"
            } else {
                "DISABLED"
            }
            .into(),
            threshold: self.failure_threshold(),
            alarms_status: if alarms_on { "MONITORING" } else { "DISABLED" }.into(),
            alarm_names: str_list(&alarms, "alarmNames"),
            stage_since: now,
            ..Default::default()
        };
        self.current_service_deployment = Some(record.arn.clone());
        self.service_deployments.push(record);
        self.service_revisions.push(rev);
    }

    /// `currentServiceRevisions` of DescribeServices: the revisions that
    /// have tasks or are being deployed.
    pub fn current_revisions_json(&self) -> Value {
        let list: Vec<Value> = self
            .deployments
            .iter()
            .filter_map(|d| {
                Some(json!({
                    "arn": d.service_revision_arn.clone()?,
                    "requestedTaskCount": d.desired_count,
                    "runningTaskCount": d.running_count,
                    "pendingTaskCount": d.pending_count,
                }))
            })
            .collect();
        json!(list)
    }
}

fn not_found() -> AwsError {
    AwsError::client(
        "ServiceDeploymentNotFoundException",
        "The service deployment does not exist.",
    )
}

impl EcsState {
    fn find_record(&self, arn: &str) -> Option<(usize, usize)> {
        self.services.iter().enumerate().rev().find_map(|(i, s)| {
            s.service_deployments
                .iter()
                .position(|d| d.arn == arn)
                .map(|j| (i, j))
        })
    }

    fn images_of(&self, td_arn: &str) -> Value {
        let Some(td) = self.resolve_taskdef(td_arn) else {
            return json!([]);
        };
        let list: Vec<Value> = td
            .body
            .get("containerDefinitions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                json!({
                    "containerName": c.get("name"),
                    "image": c.get("image"),
                    "imageDigest": format!("sha256:{:0>64}", crate::util::hex_id(12)),
                })
            })
            .collect();
        json!(list)
    }

    pub(super) fn deployment_op(&mut self, _ctx: &Ctx, op: &str, body: &Value) -> AwsResult<Value> {
        match op {
            "DescribeServiceDeployments" => {
                let arns = str_list(body, "serviceDeploymentArns");
                let mut out = vec![];
                let mut failures = vec![];
                for arn in arns {
                    match self.find_record(&arn) {
                        Some((i, j)) => {
                            let s = &self.services[i];
                            out.push(s.service_deployments[j].to_json(s));
                        }
                        None => failures.push(json!({"arn": arn, "reason": "MISSING"})),
                    }
                }
                Ok(json!({"serviceDeployments": out, "failures": failures}))
            }
            "DescribeServiceRevisions" => {
                let arns = str_list(body, "serviceRevisionArns");
                let mut out = vec![];
                let mut failures = vec![];
                for arn in arns {
                    let found = self.services.iter().rev().find_map(|s| {
                        s.revision(&arn).map(|r| {
                            let images = self.images_of(&r.task_definition);
                            r.to_json(s, images)
                        })
                    });
                    match found {
                        Some(r) => out.push(r),
                        None => failures.push(json!({"arn": arn, "reason": "MISSING"})),
                    }
                }
                Ok(json!({"serviceRevisions": out, "failures": failures}))
            }
            "ListServiceDeployments" => {
                let cluster = self.cluster(body)?.name.clone();
                let id = str_field(body, "service")
                    .ok_or_else(|| invalid("service must be specified."))?;
                let i = self
                    .find_service(&cluster, id)
                    .ok_or_else(service_not_found)?;
                let s = &self.services[i];
                let statuses = str_list(body, "status");
                let after = body.pointer("/createdAt/after").and_then(Value::as_f64);
                let before = body.pointer("/createdAt/before").and_then(Value::as_f64);
                let briefs: Vec<Value> = s
                    .service_deployments
                    .iter()
                    .rev()
                    .filter(|d| statuses.is_empty() || statuses.contains(&d.status))
                    .filter(|d| after.is_none_or(|a| d.created_at >= a))
                    .filter(|d| before.is_none_or(|b| d.created_at <= b))
                    .map(|d| d.brief(s))
                    .collect();
                // "If this parameter isn't used, then ListServiceDeployments
                // returns up to 20 results".
                let (page, next) = paginate(&briefs, body, 20);
                Ok(obj(vec![
                    ("serviceDeployments", json!(page)),
                    ("nextToken", json!(next)),
                ]))
            }
            "ContinueServiceDeployment" => {
                let arn = str_field(body, "serviceDeploymentArn").unwrap_or_default();
                let hook_id = str_field(body, "hookId").unwrap_or_default();
                // "If no value is specified, the default action is CONTINUE."
                let action = str_field(body, "action").unwrap_or("CONTINUE").to_string();
                let (i, j) = self.find_record(arn).ok_or_else(not_found)?;
                let rec = &mut self.services[i].service_deployments[j];
                // continue-service-deployment.html: "The pause hook must be
                // in AWAITING_ACTION status" and "The deployment must be in
                // the IN_PROGRESS state."
                if rec.status != "IN_PROGRESS" {
                    return Err(invalid(format!(
                        "The service deployment is in {} status. Only a deployment in IN_PROGRESS status can be continued.",
                        rec.status
                    )));
                }
                let hook = rec
                    .hooks
                    .iter_mut()
                    .find(|h| h.hook_id == hook_id)
                    .ok_or_else(|| invalid(format!("The hook {hook_id} was not found.")))?;
                if hook.status != "AWAITING_ACTION" {
                    return Err(invalid(format!(
                        "The hook {hook_id} is in {} status, not AWAITING_ACTION.",
                        hook.status
                    )));
                }
                hook.status = if action == "ROLLBACK" {
                    "FAILED"
                } else {
                    "SUCCEEDED"
                }
                .into();
                if action == "ROLLBACK" {
                    rec.status = "ROLLBACK_REQUESTED".into();
                    rec.requested = Some((
                        "ROLLBACK".into(),
                        format!(
                            "Rollback requested by ContinueServiceDeployment on hook {hook_id}."
                        ),
                    ));
                } else {
                    rec.stage_hooks_done = true;
                }
                Ok(json!({"serviceDeploymentArn": arn}))
            }
            "StopServiceDeployment" => {
                let arn = str_field(body, "serviceDeploymentArn").unwrap_or_default();
                let stop_type = str_field(body, "stopType")
                    .unwrap_or("ROLLBACK")
                    .to_string();
                let (i, j) = self.find_record(arn).ok_or_else(not_found)?;
                let rec = &mut self.services[i].service_deployments[j];
                // stop-service-deployment.html: PENDING and IN_PROGRESS move
                // to ROLLBACK_REQUESTED; STOP_REQUESTED, ROLLBACK_REQUESTED
                // and ROLLBACK_IN_PROGRESS continue; a completed deployment
                // cannot be stopped.
                match rec.status.as_str() {
                    "PENDING" | "IN_PROGRESS" => {
                        rec.status = if stop_type == "ABORT" {
                            "STOP_REQUESTED"
                        } else {
                            "ROLLBACK_REQUESTED"
                        }
                        .into();
                        rec.requested = Some((
                            stop_type,
                            "Service deployment stopped by StopServiceDeployment.".into(),
                        ));
                    }
                    s if ONGOING.contains(&s) => {}
                    s => {
                        return Err(AwsError::client(
                            "ConflictException",
                            format!(
                                "The service deployment is in {s} status and cannot be stopped."
                            ),
                        ))
                    }
                }
                Ok(json!({"serviceDeploymentArn": arn}))
            }
            _ => Err(unknown_op(op)),
        }
    }
}
