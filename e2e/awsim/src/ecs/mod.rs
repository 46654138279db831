//! ECS (awsJson1_1, `AmazonEC2ContainerServiceV20141113`): clusters, task
//! definitions, tasks, services and tags. The lifecycles live in `tasks`
//! and `scheduler`; this module parses requests and renders answers.

pub mod idempotency;
pub mod scheduler;
pub mod services;
pub mod taskdef;
pub mod tasks;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::cloudmap::CloudMapState;
use crate::core::{AwsError, AwsResult, Ctx};
use crate::ecr::EcrState;
use crate::logs::LogsState;
use crate::secrets::SecretsState;
use crate::util::{bool_field, int_field, obj, paginate, str_field, str_list};
use crate::world::Faults;

use services::Service;
use taskdef::TaskDef;
use tasks::Task;

/// The other services an ECS simulation step touches.
pub struct EcsEnv<'a> {
    pub ecr: &'a mut EcrState,
    pub secrets: &'a SecretsState,
    pub logs: &'a mut LogsState,
    pub cloudmap: &'a mut CloudMapState,
    pub faults: &'a Faults,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub name: String,
    pub arn: String,
    pub status: String,
    pub tags: Vec<Value>,
    pub settings: Value,
    pub capacity_providers: Vec<String>,
    pub created_at: f64,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EcsState {
    pub clusters: BTreeMap<String, Cluster>,
    /// family -> revisions in order (revision N at index N-1).
    pub task_definitions: BTreeMap<String, Vec<TaskDef>>,
    pub services: Vec<Service>,
    pub tasks: BTreeMap<String, Task>,
    /// Feeds ENI addresses.
    pub launches: u64,
    /// CreateService client tokens (cluster ARN + token).
    pub service_tokens: BTreeMap<String, idempotency::TokenRecord>,
    /// RunTask client tokens (cluster ARN + token).
    pub run_task_tokens: BTreeMap<String, idempotency::TokenRecord>,
}

fn client(msg: impl Into<String>) -> AwsError {
    AwsError::client("ClientException", msg)
}

fn invalid(msg: impl Into<String>) -> AwsError {
    AwsError::client("InvalidParameterException", msg)
}

fn cluster_not_found() -> AwsError {
    AwsError::client("ClusterNotFoundException", "Cluster not found.")
}

fn service_not_found() -> AwsError {
    AwsError::client("ServiceNotFoundException", "Service not found.")
}

/// `name` or `arn:aws:ecs:REGION:ACCOUNT:cluster/NAME` -> NAME.
fn cluster_name(id: &str) -> &str {
    match id.split_once(":cluster/") {
        Some((_, n)) if id.starts_with("arn:") => n,
        _ => id,
    }
}

fn include_tags(body: &Value) -> bool {
    str_list(body, "include").iter().any(|i| i == "TAGS")
}

fn tags_of(body: &Value) -> Vec<Value> {
    body.get("tags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn merge_tags(existing: &mut Vec<Value>, new: &[Value]) {
    for t in new {
        let key = t.get("key").cloned();
        existing.retain(|e| e.get("key") != key.as_ref());
        existing.push(t.clone());
    }
}

impl EcsState {
    pub fn ensure_cluster(&mut self, ctx: &Ctx, name: &str) -> String {
        self.clusters
            .entry(name.to_string())
            .or_insert_with(|| Cluster {
                name: name.to_string(),
                arn: ctx.arn("ecs", &format!("cluster/{name}")),
                status: "ACTIVE".into(),
                tags: vec![],
                settings: json!([{"name": "containerInsights", "value": "disabled"}]),
                capacity_providers: vec![],
                created_at: ctx.now,
            })
            .arn
            .clone()
    }

    fn cluster(&self, body: &Value) -> AwsResult<&Cluster> {
        let id = str_field(body, "cluster").unwrap_or("default");
        self.clusters
            .get(cluster_name(id))
            .filter(|c| c.status == "ACTIVE")
            .ok_or_else(cluster_not_found)
    }

    /// Resolves `family`, `family:revision` or an ARN. A bare family means
    /// the latest ACTIVE revision.
    pub fn resolve_taskdef(&self, id: &str) -> Option<&TaskDef> {
        let id = id
            .rsplit_once(":task-definition/")
            .map(|(_, r)| r)
            .unwrap_or(id);
        match id.rsplit_once(':') {
            Some((family, rev)) => {
                let rev: usize = rev.parse().ok()?;
                self.task_definitions.get(family)?.get(rev.checked_sub(1)?)
            }
            None => self
                .task_definitions
                .get(id)?
                .iter()
                .rev()
                .find(|t| t.status == "ACTIVE"),
        }
    }

    fn taskdef_mut(&mut self, arn: &str) -> Option<&mut TaskDef> {
        let id = arn
            .rsplit_once(":task-definition/")
            .map(|(_, r)| r)
            .unwrap_or(arn);
        let (family, rev) = id.rsplit_once(':')?;
        let rev: usize = rev.parse().ok()?;
        self.task_definitions
            .get_mut(family)?
            .get_mut(rev.checked_sub(1)?)
    }

    fn find_service(&self, cluster: &str, id: &str) -> Option<usize> {
        let name = id.rsplit('/').next().unwrap_or(id);
        // The newest record wins: a re-created service shadows its INACTIVE
        // predecessor.
        self.services.iter().rposition(|s| {
            s.cluster_name == cluster && s.name == name && (!id.starts_with("arn:") || s.arn == id)
        })
    }

    pub fn tick(&mut self, ctx: &Ctx, env: &mut EcsEnv) {
        scheduler::tick(self, ctx, env);
    }

    pub fn handle(
        &mut self,
        ctx: &Ctx,
        op: &str,
        body: &Value,
        env: &mut EcsEnv,
    ) -> AwsResult<Value> {
        match op {
            "CreateCluster" => {
                let name = str_field(body, "clusterName").unwrap_or("default");
                if !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    || name.len() > 255
                {
                    return Err(invalid(
                        "Cluster name can only contain letters, numbers, hyphens and underscores (up to 255).",
                    ));
                }
                self.ensure_cluster(ctx, name);
                let c = self.clusters.get_mut(name).ok_or_else(cluster_not_found)?;
                c.status = "ACTIVE".into();
                merge_tags(&mut c.tags, &tags_of(body));
                if let Some(s) = body.get("settings") {
                    c.settings = s.clone();
                }
                c.capacity_providers = str_list(body, "capacityProviders");
                let c = c.clone();
                Ok(json!({"cluster": self.cluster_json(&c, true)}))
            }
            "DescribeClusters" => {
                let mut ids = str_list(body, "clusters");
                if ids.is_empty() {
                    ids.push("default".into());
                }
                let tags = include_tags(body);
                let mut clusters = vec![];
                let mut failures = vec![];
                for id in ids {
                    match self.clusters.get(cluster_name(&id)) {
                        Some(c) => clusters.push(self.cluster_json(c, tags)),
                        None => failures.push(json!({
                            "arn": if id.starts_with("arn:") { id.clone() } else { ctx.arn("ecs", &format!("cluster/{id}")) },
                            "reason": "MISSING",
                        })),
                    }
                }
                Ok(json!({"clusters": clusters, "failures": failures}))
            }
            "ListClusters" => {
                let arns: Vec<String> = self
                    .clusters
                    .values()
                    .filter(|c| c.status == "ACTIVE")
                    .map(|c| c.arn.clone())
                    .collect();
                let (page, next) = paginate(&arns, body, 100);
                Ok(obj(vec![
                    ("clusterArns", json!(page)),
                    ("nextToken", json!(next)),
                ]))
            }
            "DeleteCluster" => {
                let name = self.cluster(body)?.name.clone();
                if self
                    .services
                    .iter()
                    .any(|s| s.cluster_name == name && s.status != "INACTIVE")
                {
                    return Err(AwsError::client(
                        "ClusterContainsServicesException",
                        "The Cluster cannot be deleted while Services are active.",
                    ));
                }
                if self
                    .tasks
                    .values()
                    .any(|t| t.cluster_name == name && t.is_active())
                {
                    return Err(AwsError::client(
                        "ClusterContainsTasksException",
                        "The Cluster cannot be deleted while Tasks are active.",
                    ));
                }
                let c = self.clusters.get_mut(&name).ok_or_else(cluster_not_found)?;
                c.status = "INACTIVE".into();
                let c = c.clone();
                Ok(json!({"cluster": self.cluster_json(&c, false)}))
            }
            "RegisterTaskDefinition" => self.register_taskdef(ctx, body),
            "DescribeTaskDefinition" => {
                let id = str_field(body, "taskDefinition")
                    .ok_or_else(|| client("Unable to describe task definition."))?;
                let td = self
                    .resolve_taskdef(id)
                    .filter(|t| t.status != "DELETE_IN_PROGRESS" || id.contains(':'))
                    .ok_or_else(|| client("Unable to describe task definition."))?;
                Ok(obj(vec![
                    ("taskDefinition", td.to_json()),
                    (
                        "tags",
                        if include_tags(body) {
                            json!(td.tags)
                        } else {
                            Value::Null
                        },
                    ),
                ]))
            }
            "ListTaskDefinitions" => {
                let family = str_field(body, "familyPrefix");
                let status = str_field(body, "status").unwrap_or("ACTIVE");
                let mut arns: Vec<(String, u32, String)> = self
                    .task_definitions
                    .iter()
                    .filter(|(f, _)| family.is_none_or(|p| f.as_str() == p))
                    .flat_map(|(f, revs)| {
                        revs.iter()
                            .filter(|t| t.status == status)
                            .map(move |t| (f.clone(), t.revision, t.arn.clone()))
                    })
                    .collect();
                arns.sort();
                if str_field(body, "sort") == Some("DESC") {
                    arns.reverse();
                }
                let arns: Vec<String> = arns.into_iter().map(|(_, _, a)| a).collect();
                let (page, next) = paginate(&arns, body, 100);
                Ok(obj(vec![
                    ("taskDefinitionArns", json!(page)),
                    ("nextToken", json!(next)),
                ]))
            }
            "ListTaskDefinitionFamilies" => {
                let prefix = str_field(body, "familyPrefix").unwrap_or("");
                let status = str_field(body, "status").unwrap_or("ACTIVE");
                let families: Vec<String> = self
                    .task_definitions
                    .iter()
                    .filter(|(f, revs)| {
                        f.starts_with(prefix)
                            && (status == "ALL" || revs.iter().any(|t| t.status == status))
                    })
                    .map(|(f, _)| f.clone())
                    .collect();
                let (page, next) = paginate(&families, body, 100);
                Ok(obj(vec![
                    ("families", json!(page)),
                    ("nextToken", json!(next)),
                ]))
            }
            "DeregisterTaskDefinition" => {
                let id = str_field(body, "taskDefinition").unwrap_or("");
                if !id.contains(':') {
                    return Err(client("The specified task definition identifier is invalid. Specify a valid name or ARN and try again."));
                }
                let arn = self
                    .resolve_taskdef(id)
                    .map(|t| t.arn.clone())
                    .ok_or_else(|| client("The specified task definition does not exist. Specify a valid account, family, revision and try again."))?;
                let td = self
                    .taskdef_mut(&arn)
                    .ok_or_else(|| client("Unable to describe task definition."))?;
                if td.status == "ACTIVE" {
                    td.status = "INACTIVE".into();
                    td.deregistered_at = Some(ctx.now);
                }
                Ok(json!({"taskDefinition": td.to_json()}))
            }
            "DeleteTaskDefinitions" => {
                let ids = str_list(body, "taskDefinitions");
                if ids.is_empty() || ids.len() > 10 {
                    return Err(invalid(
                        "taskDefinitions must contain between 1 and 10 items.",
                    ));
                }
                let mut out = vec![];
                let mut failures = vec![];
                for id in ids {
                    let arn = self.resolve_taskdef(&id).map(|t| t.arn.clone());
                    match arn.and_then(|a| self.taskdef_mut(&a)) {
                        Some(td) if td.status == "INACTIVE" || td.status == "DELETE_IN_PROGRESS" => {
                            td.status = "DELETE_IN_PROGRESS".into();
                            out.push(td.to_json());
                        }
                        Some(td) => failures.push(json!({
                            "arn": td.arn,
                            "reason": "The specified task definition is not in INACTIVE status. Deregister the task definition and try again.",
                        })),
                        None => failures.push(json!({"arn": id, "reason": "The specified task definition does not exist."})),
                    }
                }
                Ok(json!({"taskDefinitions": out, "failures": failures}))
            }
            "RunTask" => self.run_task(ctx, body, env),
            "StartTask" => Err(invalid(
                "awsim does not simulate container instances; use RunTask.",
            )),
            "DescribeTasks" => {
                let cluster = self.cluster(body)?.name.clone();
                let ids = str_list(body, "tasks");
                if ids.is_empty() {
                    return Err(invalid("Tasks cannot be empty."));
                }
                if ids.len() > 100 {
                    return Err(invalid("tasks can have at most 100 items."));
                }
                let tags = include_tags(body);
                let mut out = vec![];
                let mut failures = vec![];
                for id in ids {
                    let tid = id.rsplit('/').next().unwrap_or(&id);
                    let arn = ctx.arn("ecs", &format!("task/{cluster}/{tid}"));
                    match self.tasks.get(&arn) {
                        Some(t) => out.push(t.to_json(tags)),
                        None => failures.push(json!({"arn": if id.starts_with("arn:") { id.clone() } else { arn }, "reason": "MISSING"})),
                    }
                }
                Ok(json!({"tasks": out, "failures": failures}))
            }
            "ListTasks" => {
                let cluster = self.cluster(body)?.name.clone();
                let service = match str_field(body, "serviceName") {
                    Some(s) => {
                        let i = self
                            .find_service(&cluster, s)
                            .ok_or_else(service_not_found)?;
                        Some(self.services[i].name.clone())
                    }
                    None => None,
                };
                let family = str_field(body, "family");
                let started_by = str_field(body, "startedBy");
                let launch_type = str_field(body, "launchType");
                let desired = str_field(body, "desiredStatus").unwrap_or("RUNNING");
                let mut tasks: Vec<&Task> = self
                    .tasks
                    .values()
                    .filter(|t| t.cluster_name == cluster)
                    .filter(|t| {
                        service
                            .as_ref()
                            .is_none_or(|s| t.group == format!("service:{s}"))
                    })
                    .filter(|t| family.is_none_or(|f| t.family == f))
                    .filter(|t| started_by.is_none_or(|s| t.started_by.as_deref() == Some(s)))
                    .filter(|t| launch_type.is_none_or(|l| t.launch_type.as_deref() == Some(l)))
                    .filter(|t| t.desired_status == desired)
                    .collect();
                tasks.sort_by(|a, b| {
                    a.created_at
                        .total_cmp(&b.created_at)
                        .then(a.arn.cmp(&b.arn))
                });
                let arns: Vec<String> = tasks.iter().map(|t| t.arn.clone()).collect();
                let (page, next) = paginate(&arns, body, 100);
                Ok(obj(vec![
                    ("taskArns", json!(page)),
                    ("nextToken", json!(next)),
                ]))
            }
            "StopTask" => {
                let cluster = self.cluster(body)?.name.clone();
                let id =
                    str_field(body, "task").ok_or_else(|| invalid("task must be specified."))?;
                let tid = id.rsplit('/').next().unwrap_or(id);
                let arn = ctx.arn("ecs", &format!("task/{cluster}/{tid}"));
                let reason = str_field(body, "reason")
                    .unwrap_or("Task stopped by user")
                    .to_string();
                let t = self
                    .tasks
                    .get_mut(&arn)
                    .ok_or_else(|| invalid("The referenced task was not found."))?;
                if t.is_active() {
                    t.stop(ctx.now, "UserInitiated", &reason, false);
                }
                let out = t.to_json(false);
                // Let the scheduler see the stop now.
                scheduler::tick(self, ctx, env);
                Ok(json!({"task": out}))
            }
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
                if let Some(p) = s.primary_mut() {
                    p.desired_count = 0;
                }
                let out = s.to_json(false);
                Ok(json!({"service": out}))
            }
            "TagResource" => {
                let arn = str_field(body, "resourceArn")
                    .ok_or_else(|| invalid("resourceArn must be specified."))?;
                let new = tags_of(body);
                let tags = self.tags_mut(arn)?;
                let mut merged = tags.clone();
                merge_tags(&mut merged, &new);
                // "Maximum number of tags per resource - 50", existing ones
                // included (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_TagResource.html).
                if merged.len() > crate::rules::ecs::TAGS.max {
                    return Err(invalid(format!(
                        "The resource can have at most {} tags.",
                        crate::rules::ecs::TAGS.max
                    )));
                }
                *tags = merged;
                Ok(json!({}))
            }
            "UntagResource" => {
                let arn = str_field(body, "resourceArn")
                    .ok_or_else(|| invalid("resourceArn must be specified."))?;
                let keys = str_list(body, "tagKeys");
                let tags = self.tags_mut(arn)?;
                tags.retain(|t| {
                    !t.get("key")
                        .and_then(Value::as_str)
                        .is_some_and(|k| keys.iter().any(|x| x == k))
                });
                Ok(json!({}))
            }
            "ListTagsForResource" => {
                let arn = str_field(body, "resourceArn")
                    .ok_or_else(|| invalid("resourceArn must be specified."))?;
                let tags = self.tags_mut(arn)?.clone();
                Ok(json!({"tags": tags}))
            }
            _ => Err(AwsError::client(
                "UnknownOperationException",
                format!("awsim does not implement ECS {op}"),
            )),
        }
    }

    fn tags_mut(&mut self, arn: &str) -> AwsResult<&mut Vec<Value>> {
        let not_found = || {
            AwsError::client(
                "InvalidParameterException",
                "The specified resource could not be found.",
            )
        };
        let resource = arn.splitn(6, ':').nth(5).ok_or_else(not_found)?;
        if let Some(name) = resource.strip_prefix("cluster/") {
            return self
                .clusters
                .get_mut(name)
                .map(|c| &mut c.tags)
                .ok_or_else(not_found);
        }
        if let Some(rest) = resource.strip_prefix("service/") {
            let (cluster, name) = rest.split_once('/').ok_or_else(not_found)?;
            let i = self.find_service(cluster, name).ok_or_else(not_found)?;
            return Ok(&mut self.services[i].tags);
        }
        if resource.starts_with("task-definition/") {
            return self
                .taskdef_mut(arn)
                .map(|t| &mut t.tags)
                .ok_or_else(not_found);
        }
        if resource.starts_with("task/") {
            return self
                .tasks
                .get_mut(arn)
                .map(|t| &mut t.tags)
                .ok_or_else(not_found);
        }
        Err(not_found())
    }

    fn cluster_json(&self, c: &Cluster, include_tags: bool) -> Value {
        let running = self
            .tasks
            .values()
            .filter(|t| t.cluster_name == c.name && t.is_running())
            .count();
        let pending = self
            .tasks
            .values()
            .filter(|t| t.cluster_name == c.name && t.is_pending())
            .count();
        let services = self
            .services
            .iter()
            .filter(|s| s.cluster_name == c.name && s.status == "ACTIVE")
            .count();
        obj(vec![
            ("clusterArn", json!(c.arn)),
            ("clusterName", json!(c.name)),
            ("status", json!(c.status)),
            ("registeredContainerInstancesCount", json!(0)),
            ("runningTasksCount", json!(running)),
            ("pendingTasksCount", json!(pending)),
            ("activeServicesCount", json!(services)),
            ("statistics", json!([])),
            (
                "tags",
                if include_tags {
                    json!(c.tags)
                } else {
                    Value::Null
                },
            ),
            ("settings", c.settings.clone()),
            ("capacityProviders", json!(c.capacity_providers)),
            ("defaultCapacityProviderStrategy", json!([])),
        ])
    }

    fn register_taskdef(&mut self, ctx: &Ctx, body: &Value) -> AwsResult<Value> {
        let normalised = taskdef::validate_and_normalise(body)?;
        let family = str_field(body, "family").unwrap_or_default().to_string();
        let revs = self.task_definitions.entry(family.clone()).or_default();
        let revision = revs.len() as u32 + 1;
        let td = TaskDef {
            arn: ctx.arn("ecs", &format!("task-definition/{family}:{revision}")),
            family,
            revision,
            body: normalised,
            status: "ACTIVE".into(),
            registered_at: ctx.now,
            registered_by: taskdef::registered_by(ctx),
            deregistered_at: None,
            tags: tags_of(body),
        };
        let out = obj(vec![
            ("taskDefinition", td.to_json()),
            (
                "tags",
                if td.tags.is_empty() {
                    Value::Null
                } else {
                    json!(td.tags)
                },
            ),
        ]);
        revs.push(td);
        Ok(out)
    }

    /// Shared by RunTask, CreateService and UpdateService.
    fn check_launch(
        td: &TaskDef,
        launch_type: Option<&str>,
        capacity: Option<&Value>,
        network: Option<&Value>,
    ) -> AwsResult<()> {
        if launch_type.is_some()
            && capacity.is_some_and(|c| c.as_array().is_some_and(|a| !a.is_empty()))
        {
            return Err(invalid(
                "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
            ));
        }
        let fargate = launch_type == Some("FARGATE")
            || capacity.and_then(Value::as_array).is_some_and(|a| {
                a.iter().any(|c| {
                    c.get("capacityProvider")
                        .and_then(Value::as_str)
                        .is_some_and(|p| p.starts_with("FARGATE"))
                })
            });
        if fargate && !td.supports_fargate() {
            return Err(client(
                "Task definition does not support launch_type FARGATE.",
            ));
        }
        if td.network_mode() == "awsvpc" {
            let cfg = network
                .and_then(|n| n.get("awsvpcConfiguration"))
                .ok_or_else(|| invalid("Network Configuration must be provided when networkMode 'awsvpc' is specified."))?;
            let subnets = cfg.get("subnets").and_then(Value::as_array);
            if subnets.is_none_or(|s| s.is_empty()) {
                return Err(invalid("subnets can not be empty."));
            }
            if subnets.is_some_and(|s| s.len() > 16) {
                return Err(invalid("subnets can have at most 16 items."));
            }
            if cfg
                .get("securityGroups")
                .and_then(Value::as_array)
                .is_some_and(|s| s.len() > 5)
            {
                return Err(invalid("securityGroups can have at most 5 items."));
            }
        } else if network.is_some() {
            return Err(invalid(
                "Network Configuration is not valid for the given networkMode of this task definition.",
            ));
        }
        Ok(())
    }

    fn run_task(&mut self, ctx: &Ctx, body: &Value, env: &mut EcsEnv) -> AwsResult<Value> {
        let cluster_arn = self.cluster(body)?.arn.clone();
        let Some(token) = str_field(body, "clientToken") else {
            return self.run_task_once(ctx, body, env);
        };
        let key = idempotency::key(&cluster_arn, token);
        if let idempotency::Replay::Same(result) = idempotency::replay(
            &mut self.run_task_tokens,
            ctx,
            &key,
            body,
            idempotency::run_task_conflict,
        )? {
            return Ok(result.clone());
        }
        let result = self.run_task_once(ctx, body, env)?;
        self.run_task_tokens.insert(
            key,
            idempotency::TokenRecord {
                request: body.clone(),
                result: result.clone(),
                at: ctx.now,
            },
        );
        Ok(result)
    }

    fn run_task_once(&mut self, ctx: &Ctx, body: &Value, env: &mut EcsEnv) -> AwsResult<Value> {
        let cluster = self.cluster(body)?.clone();
        let td_id = str_field(body, "taskDefinition")
            .ok_or_else(|| invalid("taskDefinition must be specified."))?;
        let td = self
            .resolve_taskdef(td_id)
            .ok_or_else(|| client("Unable to describe task definition."))?
            .clone();
        if td.status != "ACTIVE" {
            return Err(client("TaskDefinition is inactive"));
        }
        let count = int_field(body, "count").unwrap_or(1);
        if !(1..=10).contains(&count) {
            return Err(invalid("count must be between 1 and 10."));
        }
        let started_by = str_field(body, "startedBy").map(str::to_string);
        if started_by.as_ref().is_some_and(|s| s.len() > 128) {
            return Err(invalid("startedBy must be at most 128 characters."));
        }
        let launch_type = str_field(body, "launchType");
        let capacity = body
            .get("capacityProviderStrategy")
            .filter(|c| c.as_array().is_some_and(|a| !a.is_empty()));
        let network = body.get("networkConfiguration");
        Self::check_launch(&td, launch_type, capacity, network)?;
        let tags = tags_of(body);
        let mut out = vec![];
        for _ in 0..count {
            self.launches += 1;
            let launch = tasks::Launch {
                ctx,
                cluster_name: &cluster.name,
                cluster_arn: &cluster.arn,
                taskdef: &td,
                group: str_field(body, "group")
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("family:{}", td.family)),
                started_by: started_by.clone(),
                launch_type: launch_type
                    .map(str::to_string)
                    .or_else(|| capacity.is_none().then(|| "EC2".to_string())),
                capacity_provider: capacity
                    .and_then(|c| c.pointer("/0/capacityProvider"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                platform_version: str_field(body, "platformVersion").map(str::to_string),
                network,
                overrides: body.get("overrides").cloned().unwrap_or_else(|| json!({})),
                tags: tags.clone(),
                service: None,
                deployment_id: None,
                grace_seconds: 0.0,
                load_balancers: vec![],
                registries: vec![],
                enable_execute_command: bool_field(body, "enableExecuteCommand").unwrap_or(false),
                one_off: true,
            };
            let t = tasks::create(&launch, env, self.launches);
            out.push(t.to_json(false));
            self.tasks.insert(t.arn.clone(), t);
        }
        Ok(json!({"tasks": out, "failures": []}))
    }

    fn service_registries(body: &Value, env: &EcsEnv) -> AwsResult<Option<Value>> {
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

    fn create_service(&mut self, ctx: &Ctx, body: &Value, env: &mut EcsEnv) -> AwsResult<Value> {
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

    fn create_service_once(
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
        };
        svc.new_deployment(ctx.now, None);
        let out = svc.to_json(false);
        self.services.push(svc);
        Ok(json!({"service": out}))
    }

    fn update_service(&mut self, ctx: &Ctx, body: &Value, env: &mut EcsEnv) -> AwsResult<Value> {
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
            s.new_deployment(ctx.now, None);
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
