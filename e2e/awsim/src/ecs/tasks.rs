//! Tasks and their lifecycle: PROVISIONING -> PENDING (image pull, secrets,
//! registry auth) -> RUNNING (health, scripted exits, logs) ->
//! DEPROVISIONING/STOPPING -> STOPPED, with AWS's stop codes and reasons.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::core::Ctx;
use crate::ecr::parse_private;
use crate::ecs::EcsEnv;
use crate::images::{self, Plan};
use crate::util::obj;

/// Virtual seconds spent in each phase.
pub const PROVISION_SECONDS: f64 = 2.0;
pub const PULL_SECONDS: f64 = 3.0;
pub const STOP_SECONDS: f64 = 2.0;
/// Time for a passing health check (container or load balancer) to report.
pub const HEALTHY_SECONDS: f64 = 2.0;
/// How long a service's tasks must have run before ECS calls the service
/// stable: a task that crashes a few seconds after starting never completes
/// a deployment.
pub const STABLE_SECONDS: f64 = 10.0;
/// AWS keeps stopped tasks describable for about an hour.
pub const STOPPED_RETENTION_SECONDS: f64 = 3600.0;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    pub image: String,
    pub arn: String,
    pub runtime_id: String,
    pub essential: bool,
    pub plan: Plan,
    pub last_status: String,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub has_health_check: bool,
    /// (startPeriod, interval, retries) of the container health check.
    pub health_check: Option<(f64, f64, f64)>,
    pub health_status: Option<String>,
    /// (group, stream) when the container logs with awslogs.
    pub log: Option<(String, String)>,
    pub cpu: Option<Value>,
    pub memory: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Eni {
    pub attachment_id: String,
    pub eni_id: String,
    pub subnet: String,
    pub ip: String,
    pub mac: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub arn: String,
    pub id: String,
    pub cluster_name: String,
    pub cluster_arn: String,
    pub task_definition_arn: String,
    pub family: String,
    pub group: String,
    pub started_by: Option<String>,
    pub launch_type: Option<String>,
    pub capacity_provider: Option<String>,
    pub platform_version: Option<String>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub last_status: String,
    pub desired_status: String,
    pub created_at: f64,
    pub pull_started_at: Option<f64>,
    pub pull_stopped_at: Option<f64>,
    pub started_at: Option<f64>,
    pub stopping_at: Option<f64>,
    pub execution_stopped_at: Option<f64>,
    pub stopped_at: Option<f64>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub containers: Vec<Container>,
    pub overrides: Value,
    pub tags: Vec<Value>,
    pub eni: Option<Eni>,
    pub availability_zone: String,
    /// The owning service's ARN and deployment id.
    pub service: Option<String>,
    pub deployment_id: Option<String>,
    pub health_status: String,
    /// Secrets Manager / SSM references resolved at start.
    pub secret_refs: Vec<String>,
    /// Health-check failure schedule: when, and the AWS reason.
    pub unhealthy_at: Option<f64>,
    pub unhealthy_reason: Option<String>,
    pub grace_seconds: f64,
    pub load_balancers: Vec<String>,
    /// Cloud Map services this task is registered in.
    pub registries: Vec<String>,
    pub registered: bool,
    pub enable_execute_command: bool,
    /// Whether the stop counts as a failed task (circuit breaker).
    pub failed: bool,
    pub version: u64,
}

/// What a task did during a tick, for the service scheduler.
#[derive(Debug, Clone)]
pub enum TaskEvent {
    Stopped {
        service: String,
        deployment: Option<String>,
        task_id: String,
        failed: bool,
        health_failure: Option<String>,
    },
}

impl Task {
    pub fn is_active(&self) -> bool {
        self.desired_status != "STOPPED"
    }

    pub fn is_running(&self) -> bool {
        self.last_status == "RUNNING" && self.is_active()
    }

    pub fn is_pending(&self) -> bool {
        self.is_active()
            && matches!(
                self.last_status.as_str(),
                "PROVISIONING" | "PENDING" | "ACTIVATING"
            )
    }

    /// Running and passing its health checks (or having none).
    pub fn is_healthy(&self, now: f64) -> bool {
        if !self.is_running() {
            return false;
        }
        if self.unhealthy_at.is_some() {
            return false;
        }
        let needs_check =
            !self.load_balancers.is_empty() || self.containers.iter().any(|c| c.has_health_check);
        !needs_check || self.started_at.is_some_and(|s| now >= s + HEALTHY_SECONDS)
    }

    /// Starts stopping the task (no-op once it is stopping).
    pub fn stop(&mut self, now: f64, code: &str, reason: &str, failed: bool) {
        if !self.is_active() && self.stopping_at.is_some() {
            return;
        }
        self.desired_status = "STOPPED".into();
        self.stopping_at = Some(now);
        self.stop_code = Some(code.to_string());
        self.stopped_reason = Some(reason.to_string());
        self.failed = failed;
        self.version += 1;
        let was_running = self.last_status == "RUNNING";
        for c in &mut self.containers {
            if c.last_status == "RUNNING" {
                // Containers that did not exit on their own get SIGTERM.
                c.exit_code.get_or_insert(if was_running { 143 } else { 0 });
            }
            if c.last_status != "STOPPED" {
                c.last_status = "STOPPED".into();
            }
        }
        self.last_status = if self.eni.is_some() {
            "DEPROVISIONING"
        } else {
            "STOPPING"
        }
        .into();
    }

    pub fn to_json(&self, include_tags: bool) -> Value {
        let containers: Vec<Value> = self
            .containers
            .iter()
            .map(|c| {
                obj(vec![
                    ("containerArn", json!(c.arn)),
                    ("taskArn", json!(self.arn)),
                    ("name", json!(c.name)),
                    ("image", json!(c.image)),
                    ("runtimeId", if c.last_status == "PENDING" { Value::Null } else { json!(c.runtime_id) }),
                    ("lastStatus", json!(c.last_status)),
                    ("exitCode", json!(c.exit_code)),
                    ("reason", json!(c.reason)),
                    ("networkBindings", json!([])),
                    (
                        "networkInterfaces",
                        match &self.eni {
                            Some(e) => json!([{"attachmentId": e.attachment_id, "privateIpv4Address": e.ip}]),
                            None => json!([]),
                        },
                    ),
                    ("healthStatus", json!(c.health_status)),
                    ("cpu", json!(c.cpu.as_ref().map(|v| v.to_string().trim_matches('"').to_string()))),
                    ("memory", json!(c.memory.as_ref().map(|v| v.to_string().trim_matches('"').to_string()))),
                ])
            })
            .collect();
        let attachments = match &self.eni {
            Some(e) => {
                let status = match self.last_status.as_str() {
                    "PROVISIONING" => "PRECREATED",
                    "STOPPED" => "DELETED",
                    "DEPROVISIONING" => "DETACHING",
                    _ => "ATTACHED",
                };
                let host = e.ip.replace('.', "-");
                json!([{
                    "id": e.attachment_id,
                    "type": "ElasticNetworkInterface",
                    "status": status,
                    "details": [
                        {"name": "subnetId", "value": e.subnet},
                        {"name": "networkInterfaceId", "value": e.eni_id},
                        {"name": "macAddress", "value": e.mac},
                        {"name": "privateDNSName", "value": format!("ip-{host}.ec2.internal")},
                        {"name": "privateIPv4Address", "value": e.ip},
                    ],
                }])
            }
            None => json!([]),
        };
        let fargate =
            self.launch_type.as_deref() == Some("FARGATE") || self.capacity_provider.is_some();
        obj(vec![
            ("taskArn", json!(self.arn)),
            ("clusterArn", json!(self.cluster_arn)),
            ("taskDefinitionArn", json!(self.task_definition_arn)),
            ("group", json!(self.group)),
            ("startedBy", json!(self.started_by)),
            ("launchType", json!(self.launch_type)),
            ("capacityProviderName", json!(self.capacity_provider)),
            ("platformVersion", json!(self.platform_version)),
            (
                "platformFamily",
                if fargate { json!("Linux") } else { Value::Null },
            ),
            ("cpu", json!(self.cpu)),
            ("memory", json!(self.memory)),
            ("lastStatus", json!(self.last_status)),
            ("desiredStatus", json!(self.desired_status)),
            ("healthStatus", json!(self.health_status)),
            (
                "connectivity",
                if self.last_status == "PROVISIONING" {
                    Value::Null
                } else {
                    json!("CONNECTED")
                },
            ),
            (
                "connectivityAt",
                if self.last_status == "PROVISIONING" {
                    Value::Null
                } else {
                    json!(self.created_at + 1.0)
                },
            ),
            ("createdAt", json!(self.created_at)),
            ("pullStartedAt", json!(self.pull_started_at)),
            ("pullStoppedAt", json!(self.pull_stopped_at)),
            ("startedAt", json!(self.started_at)),
            ("stoppingAt", json!(self.stopping_at)),
            ("executionStoppedAt", json!(self.execution_stopped_at)),
            ("stoppedAt", json!(self.stopped_at)),
            ("stopCode", json!(self.stop_code)),
            ("stoppedReason", json!(self.stopped_reason)),
            ("containers", json!(containers)),
            ("overrides", self.overrides.clone()),
            ("attachments", attachments),
            ("availabilityZone", json!(self.availability_zone)),
            ("enableExecuteCommand", json!(self.enable_execute_command)),
            ("version", json!(self.version)),
            (
                "ephemeralStorage",
                if fargate {
                    json!({"sizeInGiB": 20})
                } else {
                    Value::Null
                },
            ),
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

/// Everything needed to create the tasks of one RunTask or one scheduler
/// launch.
pub struct Launch<'a> {
    pub ctx: &'a Ctx,
    pub cluster_name: &'a str,
    pub cluster_arn: &'a str,
    pub taskdef: &'a crate::ecs::taskdef::TaskDef,
    pub group: String,
    pub started_by: Option<String>,
    pub launch_type: Option<String>,
    pub capacity_provider: Option<String>,
    pub platform_version: Option<String>,
    pub network: Option<&'a Value>,
    pub overrides: Value,
    pub tags: Vec<Value>,
    pub service: Option<String>,
    pub deployment_id: Option<String>,
    pub grace_seconds: f64,
    pub load_balancers: Vec<String>,
    pub registries: Vec<String>,
    pub enable_execute_command: bool,
    pub one_off: bool,
}

fn ip_for(seq: u64, subnet: &str) -> String {
    let h = subnet
        .bytes()
        .fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
    format!("10.{}.{}.{}", h % 200, (seq / 250) % 250, 4 + seq % 250)
}

pub fn create(l: &Launch, env: &EcsEnv, seq: u64) -> Task {
    let ctx = l.ctx;
    let id = crate::util::hex_id(32);
    let arn = ctx.arn("ecs", &format!("task/{}/{id}", l.cluster_name));
    let overrides_by_name: BTreeMap<String, &Value> = l
        .overrides
        .get("containerOverrides")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| Some((o.get("name")?.as_str()?.to_string(), o)))
        .collect();
    let containers = l
        .taskdef
        .containers()
        .iter()
        .map(|c| {
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let image = c
                .get("image")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let plan = images::resolve(&env.faults.image_rules, &image, l.one_off);
            let hc = c.get("healthCheck").map(|h| {
                let f = |k: &str, d: f64| h.get(k).and_then(Value::as_f64).unwrap_or(d);
                (
                    f("startPeriod", 0.0),
                    f("interval", 30.0),
                    f("retries", 3.0),
                )
            });
            let log = (c
                .pointer("/logConfiguration/logDriver")
                .and_then(Value::as_str)
                == Some("awslogs"))
            .then(|| {
                let opts = c.pointer("/logConfiguration/options");
                let opt = |k: &str| opts.and_then(|o| o.get(k)).and_then(Value::as_str);
                let group = opt("awslogs-group")?.to_string();
                let stream = match opt("awslogs-stream-prefix") {
                    Some(p) => format!("{p}/{name}/{id}"),
                    None => format!("{name}/{id}"),
                };
                Some((group, stream))
            })
            .flatten();
            let ov = overrides_by_name.get(&name);
            Container {
                arn: ctx.arn(
                    "ecs",
                    &format!("container/{}/{id}/{}", l.cluster_name, crate::util::uuid()),
                ),
                runtime_id: format!("{id}-{}", crate::util::digits(10)),
                essential: c.get("essential").and_then(Value::as_bool).unwrap_or(true),
                plan,
                last_status: "PENDING".into(),
                exit_code: None,
                reason: None,
                has_health_check: hc.is_some(),
                health_check: hc,
                health_status: hc.map(|_| "UNKNOWN".to_string()),
                log,
                cpu: ov
                    .and_then(|o| o.get("cpu"))
                    .or_else(|| c.get("cpu"))
                    .cloned(),
                memory: ov
                    .and_then(|o| o.get("memory"))
                    .or_else(|| c.get("memory"))
                    .cloned(),
                name,
                image,
            }
        })
        .collect();
    let eni = (l.taskdef.network_mode() == "awsvpc").then(|| {
        let subnets: Vec<String> = l
            .network
            .and_then(|n| n.pointer("/awsvpcConfiguration/subnets"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let subnet = subnets
            .get(seq as usize % subnets.len().max(1))
            .cloned()
            .unwrap_or_else(|| "subnet-00000000".into());
        Eni {
            attachment_id: crate::util::uuid(),
            eni_id: format!("eni-{}", crate::util::hex_id(17)),
            ip: ip_for(seq, &subnet),
            mac: format!(
                "0e:{}:{}:{}:{}:{}",
                &id[0..2],
                &id[2..4],
                &id[4..6],
                &id[6..8],
                &id[8..10]
            ),
            subnet,
        }
    });
    let az_letter = ["a", "b", "c"][seq as usize % 3];
    let fargate = l.launch_type.as_deref() == Some("FARGATE") || l.capacity_provider.is_some();
    let pv = if fargate {
        Some(match l.platform_version.as_deref() {
            None | Some("LATEST") => "1.4.0".to_string(),
            Some(v) => v.to_string(),
        })
    } else {
        None
    };
    let cpu = l
        .overrides
        .get("cpu")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            l.taskdef
                .body
                .get("cpu")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let memory = l
        .overrides
        .get("memory")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            l.taskdef
                .body
                .get("memory")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let mut overrides = l.overrides.clone();
    if let Some(o) = overrides.as_object_mut() {
        o.entry("containerOverrides").or_insert(json!([]));
        o.entry("inferenceAcceleratorOverrides")
            .or_insert(json!([]));
    } else {
        overrides = json!({"containerOverrides": [], "inferenceAcceleratorOverrides": []});
    }
    Task {
        arn,
        cluster_name: l.cluster_name.to_string(),
        cluster_arn: l.cluster_arn.to_string(),
        task_definition_arn: l.taskdef.arn.clone(),
        family: l.taskdef.family.clone(),
        group: l.group.clone(),
        started_by: l.started_by.clone(),
        launch_type: l.launch_type.clone(),
        capacity_provider: l.capacity_provider.clone(),
        platform_version: pv,
        cpu,
        memory,
        last_status: "PROVISIONING".into(),
        desired_status: "RUNNING".into(),
        created_at: ctx.now,
        pull_started_at: None,
        pull_stopped_at: None,
        started_at: None,
        stopping_at: None,
        execution_stopped_at: None,
        stopped_at: None,
        stop_code: None,
        stopped_reason: None,
        containers,
        overrides,
        tags: l.tags.clone(),
        eni,
        availability_zone: format!("{}{az_letter}", ctx.region),
        service: l.service.clone(),
        deployment_id: l.deployment_id.clone(),
        health_status: "UNKNOWN".into(),
        secret_refs: l.taskdef.secret_refs(),
        unhealthy_at: None,
        unhealthy_reason: None,
        grace_seconds: l.grace_seconds,
        load_balancers: l.load_balancers.clone(),
        registries: l.registries.clone(),
        registered: false,
        enable_execute_command: l.enable_execute_command,
        failed: false,
        version: 1,
        id,
    }
}

/// Why a task cannot start, checked when its images are pulled: the
/// `(container, reason)` of a failed pull, or a task-level
/// ResourceInitializationError.
fn start_failure(t: &Task, ctx: &Ctx, env: &mut EcsEnv) -> Option<(Option<String>, String)> {
    let no_egress = t
        .eni
        .as_ref()
        .is_some_and(|e| env.faults.subnets_without_egress.contains(&e.subnet));
    if no_egress {
        let ip = t.eni.as_ref().map(|e| e.ip.clone()).unwrap_or_default();
        if t.containers
            .iter()
            .any(|c| parse_private(&c.image).is_some())
        {
            return Some((None, format!(
                "ResourceInitializationError: unable to pull secrets or registry auth: The task cannot pull registry auth from Amazon ECR: There is a connection issue between the task and Amazon ECR. Check your task network configuration. RequestError: send request failed caused by: Post \"https://api.ecr.{}.amazonaws.com/\": dial tcp {ip}:443: i/o timeout",
                ctx.region
            )));
        }
        if let Some(s) = t.secret_refs.first() {
            return Some((None, format!(
                "ResourceInitializationError: unable to pull secrets or registry auth: unable to retrieve secret from asm: There is a connection issue between the task and AWS Secrets Manager. Check your task network configuration. failed to fetch secret {s} from secrets manager: RequestCanceled: request context canceled caused by: context deadline exceeded"
            )));
        }
    }
    for s in &t.secret_refs {
        let is_asm = s.starts_with("arn:") && s.contains(":secretsmanager:");
        if is_asm && !env.secrets.resolves(s) {
            return Some((None, format!(
                "ResourceInitializationError: unable to pull secrets or registry auth: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret {s} from secrets manager: ResourceNotFoundException: Secrets Manager can't find the specified secret."
            )));
        }
    }
    for c in &t.containers {
        let injected = env
            .faults
            .pull_failures
            .iter()
            .any(|p| !p.is_empty() && c.image.starts_with(p.as_str()));
        let detail = if let Some(d) = &c.plan.pull_failure {
            Some(if d.is_empty() {
                not_found(&c.image)
            } else {
                d.clone()
            })
        } else if injected {
            Some(not_found(&c.image))
        } else {
            env.ecr.resolve_pull(ctx, &c.image).err()
        };
        if let Some(d) = detail {
            return Some((
                Some(c.name.clone()),
                format!("CannotPullContainerError: {d}"),
            ));
        }
    }
    None
}

fn not_found(image: &str) -> String {
    let full = if image.contains('/') && image.split('/').next().is_some_and(|h| h.contains('.')) {
        image.to_string()
    } else if image.contains('/') {
        format!("docker.io/{image}")
    } else {
        format!("docker.io/library/{image}")
    };
    format!("pull image manifest has been retried 7 time(s): failed to resolve ref {full}: {full}: not found")
}

/// Advances one task to `ctx.now`; returns what the scheduler must know.
pub fn advance(t: &mut Task, ctx: &Ctx, env: &mut EcsEnv) -> Option<TaskEvent> {
    let now = ctx.now;
    let was_active = t.is_active();
    if t.last_status == "PROVISIONING" && t.is_active() && now >= t.created_at + PROVISION_SECONDS {
        t.last_status = "PENDING".into();
        t.pull_started_at = Some(t.created_at + PROVISION_SECONDS);
        t.version += 1;
    }
    if t.last_status == "PENDING" && t.is_active() {
        let pulled_at = t.pull_started_at.unwrap_or(t.created_at) + PULL_SECONDS;
        if now >= pulled_at {
            if let Some((container, reason)) = start_failure(t, ctx, env) {
                for c in &mut t.containers {
                    if container.as_deref() == Some(c.name.as_str()) || container.is_none() {
                        c.reason = Some(reason.clone());
                    }
                }
                t.stop(pulled_at, "TaskFailedToStart", &reason, true);
            } else {
                t.pull_stopped_at = Some(pulled_at);
                t.started_at = Some(pulled_at);
                t.last_status = "RUNNING".into();
                t.version += 1;
                for c in &mut t.containers {
                    c.last_status = "RUNNING".into();
                }
                start_logging(t, ctx, env);
                schedule_health(t);
                if !t.registries.is_empty() {
                    register(t, ctx, env);
                }
            }
        }
    }
    if t.is_running() {
        let started = t.started_at.unwrap_or(now);
        if started + HEALTHY_SECONDS <= now {
            for c in &mut t.containers {
                if c.has_health_check
                    && c.health_status.as_deref() == Some("UNKNOWN")
                    && !c.plan.unhealthy
                {
                    c.health_status = Some("HEALTHY".into());
                }
            }
            let any_hc = t.containers.iter().any(|c| c.has_health_check);
            if any_hc && t.health_status == "UNKNOWN" && t.unhealthy_at.is_none() {
                t.health_status = "HEALTHY".into();
            }
        }
        // Scripted exits, earliest first.
        let mut exits: Vec<(f64, usize, i32)> = t
            .containers
            .iter()
            .enumerate()
            .filter(|(_, c)| c.last_status == "RUNNING")
            .filter_map(|(i, c)| c.plan.exit.map(|(code, after)| (started + after, i, code)))
            .filter(|(at, _, _)| *at <= now)
            .collect();
        exits.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (at, i, code) in exits {
            if !t.is_active() {
                break;
            }
            let c = &mut t.containers[i];
            c.last_status = "STOPPED".into();
            c.exit_code = Some(code);
            if let Some((group, stream)) = &c.log {
                env.logs.append(
                    ctx,
                    group,
                    stream,
                    &[format!("awsim: {} exited with code {code}", c.image)],
                );
            }
            if c.essential {
                t.execution_stopped_at = Some(at);
                t.stop(
                    at,
                    "EssentialContainerExited",
                    "Essential container in task exited",
                    true,
                );
            }
        }
        if t.is_active() {
            if let Some(at) = t.unhealthy_at.filter(|at| *at <= now) {
                for c in &mut t.containers {
                    if c.has_health_check {
                        c.health_status = Some("UNHEALTHY".into());
                    }
                }
                t.health_status = "UNHEALTHY".into();
                let reason = t.unhealthy_reason.clone().unwrap_or_default();
                t.stop(at, "ServiceSchedulerInitiated", &reason, true);
            }
        }
    }
    if !t.is_active() && t.last_status != "STOPPED" {
        if t.registered {
            for r in &t.registries {
                env.cloudmap.deregister_instance(r, &t.id);
            }
            t.registered = false;
        }
        let stopping = t.stopping_at.unwrap_or(now);
        if now >= stopping + STOP_SECONDS {
            t.last_status = "STOPPED".into();
            t.stopped_at = Some(stopping + STOP_SECONDS);
            t.execution_stopped_at
                .get_or_insert(stopping + STOP_SECONDS / 2.0);
            t.version += 1;
        }
    }
    if was_active && !t.is_active() {
        if let Some(service) = &t.service {
            return Some(TaskEvent::Stopped {
                service: service.clone(),
                deployment: t.deployment_id.clone(),
                task_id: t.id.clone(),
                failed: t.failed,
                health_failure: (t.health_status == "UNHEALTHY").then(|| {
                    if t.load_balancers.is_empty() {
                        "failed container health checks".to_string()
                    } else {
                        format!(
                            "failed ELB health checks in (target-group {})",
                            t.load_balancers[0]
                        )
                    }
                }),
            });
        }
    }
    None
}

fn schedule_health(t: &mut Task) {
    let unhealthy = t.containers.iter().any(|c| c.essential && c.plan.unhealthy);
    if !unhealthy {
        return;
    }
    let started = t.started_at.unwrap_or(0.0);
    if let Some(tg) = t.load_balancers.first() {
        // ELB: default 30 s interval, 2 failures, after the grace period.
        t.unhealthy_at = Some(started + t.grace_seconds + 60.0);
        t.unhealthy_reason = Some(format!(
            "Task failed ELB health checks in (target-group {tg})"
        ));
    } else {
        let (start_period, interval, retries) = t
            .containers
            .iter()
            .find_map(|c| c.health_check)
            .unwrap_or((0.0, 10.0, 3.0));
        t.unhealthy_at = Some(started + t.grace_seconds.max(start_period) + interval * retries);
        t.unhealthy_reason = Some("Task failed container health checks".into());
    }
}

fn start_logging(t: &Task, ctx: &Ctx, env: &mut EcsEnv) {
    for c in &t.containers {
        if let Some((group, stream)) = &c.log {
            let lines = if c.plan.log_lines.is_empty() {
                vec![format!("awsim: {} started", c.image)]
            } else {
                c.plan.log_lines.clone()
            };
            env.logs.append(ctx, group, stream, &lines);
        }
    }
}

fn register(t: &mut Task, ctx: &Ctx, env: &mut EcsEnv) {
    let service_name = t.group.strip_prefix("service:").unwrap_or("").to_string();
    for r in &t.registries {
        let mut attrs = BTreeMap::new();
        if let Some(e) = &t.eni {
            attrs.insert("AWS_INSTANCE_IPV4".to_string(), e.ip.clone());
        }
        attrs.insert("AVAILABILITY_ZONE".into(), t.availability_zone.clone());
        attrs.insert("AWS_INIT_HEALTH_STATUS".into(), "HEALTHY".into());
        attrs.insert("ECS_CLUSTER_NAME".into(), t.cluster_name.clone());
        attrs.insert("ECS_SERVICE_NAME".into(), service_name.clone());
        attrs.insert("ECS_TASK_DEFINITION_FAMILY".into(), t.family.clone());
        attrs.insert("REGION".into(), ctx.region.clone());
        if let Err(e) = env.cloudmap.register_instance(ctx, r, &t.id, attrs) {
            tracing::warn!("registering task {} in {r}: {e}", t.id);
        }
    }
    t.registered = true;
}
