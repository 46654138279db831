//! Task definitions: registration with AWS's validation, revisions, and the
//! read-only fields AWS adds on the way out; and their API: Register,
//! Describe, List, ListFamilies, Deregister and DeleteTaskDefinitions.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::core::{AwsResult, Ctx};
use crate::util::{obj, paginate, str_field, str_list};

use super::tags::tags_of;
use super::{client, include_tags, invalid, unknown_op, EcsState};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDef {
    pub arn: String,
    pub family: String,
    pub revision: u32,
    /// The registered definition as AWS echoes it (inputs plus defaults),
    /// without the read-only fields.
    pub body: Value,
    pub status: String,
    pub registered_at: f64,
    pub registered_by: String,
    pub deregistered_at: Option<f64>,
    pub tags: Vec<Value>,
}

impl TaskDef {
    pub fn to_json(&self) -> Value {
        let mut v = self.body.clone();
        if let Some(o) = v.as_object_mut() {
            o.insert("taskDefinitionArn".into(), json!(self.arn));
            o.insert("revision".into(), json!(self.revision));
            o.insert("status".into(), json!(self.status));
            o.insert("registeredAt".into(), json!(self.registered_at));
            o.insert("registeredBy".into(), json!(self.registered_by));
            if let Some(t) = self.deregistered_at {
                o.insert("deregisteredAt".into(), json!(t));
            }
        }
        v
    }

    pub fn network_mode(&self) -> &str {
        self.body
            .get("networkMode")
            .and_then(Value::as_str)
            .unwrap_or("bridge")
    }

    pub fn containers(&self) -> Vec<&Value> {
        self.body
            .get("containerDefinitions")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default()
    }

    pub fn supports_fargate(&self) -> bool {
        self.body
            .get("compatibilities")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|c| c == "FARGATE"))
    }

    /// Secrets Manager / SSM references of every container.
    pub fn secret_refs(&self) -> Vec<String> {
        self.containers()
            .iter()
            .flat_map(|c| {
                c.get("secrets")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.get("valueFrom").and_then(Value::as_str))
                    .map(str::to_string)
            })
            .collect()
    }
}

/// Parses task-level CPU ("256", "1 vCPU", "0.25 vcpu") to CPU units.
pub fn parse_cpu(s: &str) -> Option<u32> {
    let t = s.trim().to_ascii_lowercase();
    if let Some(v) = t.strip_suffix("vcpu") {
        return v
            .trim()
            .parse::<f64>()
            .ok()
            .map(|v| (v * 1024.0).round() as u32);
    }
    t.parse().ok()
}

/// Parses task-level memory ("512", "1 GB", "2gb") to MiB.
pub fn parse_memory(s: &str) -> Option<u32> {
    let t = s.trim().to_ascii_lowercase();
    if let Some(v) = t.strip_suffix("gb") {
        return v
            .trim()
            .parse::<f64>()
            .ok()
            .map(|v| (v * 1024.0).round() as u32);
    }
    if let Some(v) = t.strip_suffix("mb") {
        return v.trim().parse().ok();
    }
    t.parse().ok()
}

/// The Fargate CPU/memory table.
pub fn fargate_pair_valid(cpu: u32, memory: u32) -> bool {
    let (lo, hi, step) = match cpu {
        256 => return [512, 1024, 2048].contains(&memory),
        512 => (1024, 4096, 1024),
        1024 => (2048, 8192, 1024),
        2048 => (4096, 16384, 1024),
        4096 => (8192, 30720, 1024),
        8192 => (16384, 61440, 4096),
        16384 => (32768, 122880, 8192),
        _ => return false,
    };
    (lo..=hi).contains(&memory) && (memory - lo).is_multiple_of(step)
}

fn string_value(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Validates a RegisterTaskDefinition request as ECS does and returns the
/// body AWS would echo back (defaults filled in, CPU/memory normalised).
pub fn validate_and_normalise(req: &Value) -> AwsResult<Value> {
    let family = req.get("family").and_then(Value::as_str).unwrap_or("");
    if family.is_empty() {
        return Err(client("Family must be specified."));
    }
    if family.len() > 255
        || !family
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(client(
            "Family contains invalid characters: up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed.",
        ));
    }
    let containers = req
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if containers.is_empty() {
        return Err(client("Container list cannot be empty."));
    }
    let compat: Vec<String> = req
        .get("requiresCompatibilities")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let fargate = compat.iter().any(|c| c == "FARGATE");
    let network_mode = req.get("networkMode").and_then(Value::as_str);
    let cpu_s = string_value(req.get("cpu"));
    let memory_s = string_value(req.get("memory"));
    let cpu = match &cpu_s {
        Some(s) => Some(
            parse_cpu(s).ok_or_else(|| client(format!("Invalid 'cpu' setting for task: {s}")))?,
        ),
        None => None,
    };
    let memory = match &memory_s {
        Some(s) => Some(
            parse_memory(s)
                .ok_or_else(|| client(format!("Invalid 'memory' setting for task: {s}")))?,
        ),
        None => None,
    };
    if fargate {
        if network_mode != Some("awsvpc") {
            return Err(client(
                "Fargate only supports network mode \u{2018}awsvpc\u{2019}.",
            ));
        }
        let cpu =
            cpu.ok_or_else(|| client("Fargate requires that 'cpu' be defined at the task level."))?;
        let memory = memory.ok_or_else(|| {
            client("Fargate requires that 'memory' be defined at the task level.")
        })?;
        if !fargate_pair_valid(cpu, memory) {
            return Err(client(format!(
                "No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. See the Amazon ECS documentation for the valid values."
            )));
        }
    }
    let has_exec_role = req
        .get("executionRoleArn")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    let mut names = std::collections::BTreeSet::new();
    let mut out_containers = vec![];
    for c in &containers {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            return Err(client("Container.name should not be null or empty."));
        }
        if !names.insert(name.to_string()) {
            return Err(client(format!(
                "Duplicate container name '{name}' found in task definition."
            )));
        }
        if c.get("image")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            return Err(client("Container.image should not be null or empty."));
        }
        let has_secrets = c
            .get("secrets")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if has_secrets && !has_exec_role {
            return Err(client(
                "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.",
            ));
        }
        let awslogs = c
            .pointer("/logConfiguration/logDriver")
            .and_then(Value::as_str)
            == Some("awslogs");
        if awslogs && fargate && !has_exec_role {
            return Err(client(
                "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
            ));
        }
        if !fargate
            && memory.is_none()
            && c.get("memory").is_none()
            && c.get("memoryReservation").is_none()
        {
            return Err(client(format!(
                "Invalid setting for container '{name}'. At least one of 'memory' or 'memoryReservation' must be specified."
            )));
        }
        let mut c = c.as_object().cloned().unwrap_or_default();
        c.entry("cpu").or_insert(json!(0));
        c.entry("essential").or_insert(json!(true));
        for k in [
            "environment",
            "mountPoints",
            "volumesFrom",
            "systemControls",
        ] {
            c.entry(k).or_insert(json!([]));
        }
        let awsvpc = network_mode == Some("awsvpc");
        let ports: Vec<Value> = c
            .get("portMappings")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|mut p| {
                if let Some(o) = p.as_object_mut() {
                    o.entry("protocol").or_insert(json!("tcp"));
                    if awsvpc {
                        if let Some(cp) = o.get("containerPort").cloned() {
                            o.entry("hostPort").or_insert(cp);
                        }
                    }
                }
                p
            })
            .collect();
        c.insert("portMappings".into(), json!(ports));
        out_containers.push(Value::Object(c));
    }

    let mut body: Map<String, Value> = req.as_object().cloned().unwrap_or_default();
    body.remove("tags");
    body.insert("containerDefinitions".into(), json!(out_containers));
    if let Some(c) = cpu {
        body.insert("cpu".into(), json!(c.to_string()));
    }
    if let Some(m) = memory {
        body.insert("memory".into(), json!(m.to_string()));
    }
    body.entry("volumes").or_insert(json!([]));
    body.entry("placementConstraints").or_insert(json!([]));
    if let Some(n) = network_mode {
        body.insert("networkMode".into(), json!(n));
    }
    let mut compatibilities = vec!["EC2"];
    let fargate_ok = network_mode == Some("awsvpc")
        && matches!((cpu, memory), (Some(c), Some(m)) if fargate_pair_valid(c, m));
    if fargate_ok {
        compatibilities.push("FARGATE");
    }
    body.insert("compatibilities".into(), json!(compatibilities));
    body.insert(
        "requiresAttributes".into(),
        json!(required_attributes(&body)),
    );
    Ok(Value::Object(body))
}

fn required_attributes(body: &Map<String, Value>) -> Vec<Value> {
    let mut attrs = vec!["com.amazonaws.ecs.capability.docker-remote-api.1.18"];
    let containers = body
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let any = |f: &dyn Fn(&Value) -> bool| containers.iter().any(f);
    if body.get("networkMode").and_then(Value::as_str) == Some("awsvpc") {
        attrs.push("ecs.capability.task-eni");
    }
    if any(&|c| {
        c.pointer("/logConfiguration/logDriver")
            .and_then(Value::as_str)
            == Some("awslogs")
    }) {
        attrs.push("com.amazonaws.ecs.capability.logging-driver.awslogs");
        attrs.push("com.amazonaws.ecs.capability.docker-remote-api.1.19");
        if body.contains_key("executionRoleArn") {
            attrs.push("ecs.capability.execution-role-awslogs");
        }
    }
    if any(&|c| {
        c.get("secrets")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    }) {
        attrs.push("ecs.capability.secrets.asm.environment-variables");
    }
    if any(&|c| c.get("healthCheck").is_some()) {
        attrs.push("ecs.capability.container-health-check");
    }
    if any(&|c| {
        c.get("image")
            .and_then(Value::as_str)
            .is_some_and(|i| i.contains(".dkr.ecr."))
    }) {
        attrs.push("ecs.capability.execution-role-ecr-pull");
    }
    if body.contains_key("taskRoleArn") {
        attrs.push("com.amazonaws.ecs.capability.task-iam-role");
    }
    attrs.into_iter().map(|a| json!({"name": a})).collect()
}

pub fn registered_by(ctx: &Ctx) -> String {
    format!("arn:aws:iam::{}:user/awsim", ctx.account_id)
}

impl EcsState {
    pub(super) fn taskdef_op(&mut self, ctx: &Ctx, op: &str, body: &Value) -> AwsResult<Value> {
        match op {
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
            _ => Err(unknown_op(op)),
        }
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

    pub(super) fn taskdef_mut(&mut self, arn: &str) -> Option<&mut TaskDef> {
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

    pub(super) fn register_taskdef(&mut self, ctx: &Ctx, body: &Value) -> AwsResult<Value> {
        let normalised = validate_and_normalise(body)?;
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
            registered_by: registered_by(ctx),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fargate_table() {
        assert!(fargate_pair_valid(256, 512));
        assert!(!fargate_pair_valid(256, 4096));
        assert!(fargate_pair_valid(512, 3072));
        assert!(!fargate_pair_valid(512, 512));
        assert!(fargate_pair_valid(4096, 30720));
        assert!(!fargate_pair_valid(8192, 18432));
        assert!(fargate_pair_valid(8192, 24576));
        assert!(fargate_pair_valid(16384, 40960));
        assert_eq!(parse_cpu("0.25 vCPU"), Some(256));
        assert_eq!(parse_memory("2 GB"), Some(2048));
    }
}
