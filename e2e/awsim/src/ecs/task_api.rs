//! The task API: RunTask (idempotent on `clientToken`), StartTask,
//! DescribeTasks, ListTasks, StopTask. The task model and its lifecycle
//! are in `tasks`.

use serde_json::{json, Value};

use crate::core::{AwsResult, Ctx};
use crate::util::{bool_field, int_field, obj, paginate, str_field, str_list};

use super::tags::tags_of;
use super::tasks::{self, Task};
use super::{
    client, idempotency, include_tags, invalid, scheduler, service_not_found, unknown_op, EcsEnv,
    EcsState,
};

impl EcsState {
    pub(super) fn task_op(
        &mut self,
        ctx: &Ctx,
        op: &str,
        body: &Value,
        env: &mut EcsEnv,
    ) -> AwsResult<Value> {
        match op {
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
            _ => Err(unknown_op(op)),
        }
    }

    pub(super) fn run_task(
        &mut self,
        ctx: &Ctx,
        body: &Value,
        env: &mut EcsEnv,
    ) -> AwsResult<Value> {
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

    pub(super) fn run_task_once(
        &mut self,
        ctx: &Ctx,
        body: &Value,
        env: &mut EcsEnv,
    ) -> AwsResult<Value> {
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
}
