//! The ECS service scheduler, run on every tick: advances tasks, then brings
//! each service towards its desired state the way ECS does (rolling
//! replacement within minimumHealthyPercent/maximumPercent, scale-only
//! updates, circuit breaker and rollback, draining).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::core::Ctx;
use crate::ecs::services::Service;
use crate::ecs::taskdef::TaskDef;
use crate::ecs::tasks::{self, Task, TaskEvent};
use crate::ecs::{EcsEnv, EcsState};

pub fn tick(state: &mut EcsState, ctx: &Ctx, env: &mut EcsEnv) {
    let mut events: BTreeMap<String, Vec<TaskEvent>> = BTreeMap::new();
    for t in state.tasks.values_mut() {
        if let Some(ev) = tasks::advance(t, ctx, env) {
            let TaskEvent::Stopped { service, .. } = &ev;
            events.entry(service.clone()).or_default().push(ev);
        }
    }
    state.tasks.retain(|_, t| {
        t.stopped_at
            .is_none_or(|s| ctx.now < s + tasks::STOPPED_RETENTION_SECONDS)
    });
    // One pass over all tasks, so each service's step costs only its own
    // tasks (benchmarks run thousands of services).
    let mut by_service: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in state.tasks.values() {
        if let Some(s) = &t.service {
            by_service.entry(s.clone()).or_default().push(t.arn.clone());
        }
    }
    let EcsState {
        services,
        tasks,
        task_definitions,
        clusters,
        launches,
        alarm_states,
        rollback_event_text,
        ..
    } = state;
    for svc in services.iter_mut() {
        if svc.status == "INACTIVE" {
            continue;
        }
        let evs = events.remove(&svc.arn).unwrap_or_default();
        let cluster_arn = clusters
            .get(&svc.cluster_name)
            .map(|c| c.arn.clone())
            .unwrap_or_else(|| svc.cluster_arn.clone());
        let task_arns = by_service.remove(&svc.arn).unwrap_or_default();
        let mut sched = Scheduler {
            task_arns,
            svc,
            tasks,
            tds: task_definitions,
            cluster_arn,
            launches,
            ctx,
            alarms: alarm_states,
            rollback_event_text: rollback_event_text.as_deref(),
        };
        sched.apply_events(evs);
        sched.circuit_breaker();
        sched.rollout();
        sched.step(env);
    }
}

pub(crate) struct Scheduler<'a> {
    /// This service's tasks (including stopped ones still retained).
    pub(crate) task_arns: Vec<String>,
    pub(crate) svc: &'a mut Service,
    pub(crate) tasks: &'a mut BTreeMap<String, Task>,
    tds: &'a BTreeMap<String, Vec<TaskDef>>,
    cluster_arn: String,
    launches: &'a mut u64,
    pub(crate) ctx: &'a Ctx,
    /// CloudWatch alarm states set through the control API.
    pub(crate) alarms: &'a BTreeMap<String, String>,
    /// Replaces the circuit breaker's rollback event text when set.
    rollback_event_text: Option<&'a str>,
}

fn find_td<'a>(tds: &'a BTreeMap<String, Vec<TaskDef>>, arn: &str) -> Option<&'a TaskDef> {
    let id = arn.rsplit_once(":task-definition/")?.1;
    let (family, rev) = id.rsplit_once(':')?;
    let rev: usize = rev.parse().ok()?;
    tds.get(family)?.get(rev.checked_sub(1)?)
}

fn task_list(ids: &[String]) -> String {
    ids.iter()
        .map(|i| format!("(task {i})"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Scheduler<'_> {
    fn now(&self) -> f64 {
        self.ctx.now
    }

    fn service_tasks(&self) -> Vec<&Task> {
        self.task_arns
            .iter()
            .filter_map(|a| self.tasks.get(a))
            .collect()
    }

    fn apply_events(&mut self, evs: Vec<TaskEvent>) {
        let name = self.svc.name.clone();
        for ev in evs {
            let TaskEvent::Stopped {
                deployment,
                task_id,
                failed,
                health_failure,
                ..
            } = ev;
            if let Some(h) = health_failure {
                self.svc.event(
                    self.now(),
                    format!("(service {name}) (task {task_id}) {h}."),
                );
            }
            if failed {
                if let Some(d) = self
                    .svc
                    .deployments
                    .iter_mut()
                    .find(|d| Some(&d.id) == deployment.as_ref())
                {
                    d.failed_tasks += 1;
                    d.updated_at = self.ctx.now;
                }
            }
            self.svc.steady = false;
        }
    }

    fn circuit_breaker(&mut self) {
        if !self.svc.circuit_breaker_enable {
            return;
        }
        let threshold = self.svc.failure_threshold();
        let name = self.svc.name.clone();
        let now = self.now();
        let Some(p) = self.svc.primary_mut() else {
            return;
        };
        if p.rollout_state != "IN_PROGRESS" || p.failed_tasks < threshold {
            return;
        }
        p.rollout_state = "FAILED".into();
        p.rollout_state_reason = "ECS deployment circuit breaker: tasks failed to start.".into();
        p.updated_at = now;
        let failed_id = p.id.clone();
        let failed_td = p.task_definition.clone();
        self.svc.event(
            now,
            format!("(service {name}) (deployment {failed_id}) deployment failed: tasks failed to start."),
        );
        if !self.svc.circuit_breaker_rollback {
            self.circuit_breaker_tripped(&failed_id, None);
            return;
        }
        let Some((target_id, target_td)) = self.svc.last_completed.clone() else {
            self.circuit_breaker_tripped(&failed_id, None);
            return;
        };
        if target_td == failed_td {
            self.circuit_breaker_tripped(&failed_id, None);
            return;
        }
        self.svc.task_definition = target_td.clone();
        let new_id = self.svc.new_deployment(
            now,
            Some(format!(
                "ECS deployment circuit breaker: rolling back to deploymentId {target_id}."
            )),
        );
        let text = match self.rollback_event_text {
            Some(t) => t.to_string(),
            None => format!("(service {name}) rolling back to deployment {target_id}."),
        };
        self.svc.event(now, text);
        // Tasks still running the rollback target belong to the new
        // deployment: ECS does not replace healthy tasks of the same revision.
        self.adopt(&target_td, &new_id);
        self.circuit_breaker_tripped(&failed_id, Some(&new_id));
    }

    fn stop_tasks(&mut self, arns: &[String], reason_for: impl Fn(&Task) -> String) {
        if arns.is_empty() {
            return;
        }
        let now = self.now();
        let mut ids = vec![];
        for arn in arns {
            if let Some(t) = self.tasks.get_mut(arn) {
                let reason = reason_for(t);
                t.stop(now, "ServiceSchedulerInitiated", &reason, false);
                ids.push(t.id.clone());
            }
        }
        let name = self.svc.name.clone();
        self.svc.event(
            now,
            format!(
                "(service {name}) has stopped {} running tasks: {}.",
                ids.len(),
                task_list(&ids)
            ),
        );
        self.svc.steady = false;
    }

    fn scaling_reason(t: &Task) -> String {
        format!(
            "Scaling activity initiated by (deployment {})",
            t.deployment_id.as_deref().unwrap_or("")
        )
    }

    fn launch(&mut self, n: i64, env: &mut EcsEnv) {
        if n <= 0 {
            return;
        }
        let Some(p) = self.svc.primary().cloned() else {
            return;
        };
        let Some(td) = find_td(self.tds, &p.task_definition).cloned() else {
            return;
        };
        let svc = &*self.svc;
        let load_balancers: Vec<String> = svc
            .load_balancers
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|lb| {
                lb.get("targetGroupArn")
                    .or_else(|| lb.get("loadBalancerName"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        let registries: Vec<String> = svc
            .service_registries
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                r.get("registryArn")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        let tags = match svc.propagate_tags.as_deref() {
            Some("SERVICE") => svc.tags.clone(),
            Some("TASK_DEFINITION") => td.tags.clone(),
            _ => vec![],
        };
        let mut ids = vec![];
        for _ in 0..n {
            *self.launches += 1;
            let launch = tasks::Launch {
                ctx: self.ctx,
                cluster_name: &svc.cluster_name,
                cluster_arn: &self.cluster_arn,
                taskdef: &td,
                group: format!("service:{}", svc.name),
                started_by: Some(p.id.clone()),
                launch_type: p.launch_type.clone(),
                capacity_provider: p
                    .capacity_provider_strategy
                    .as_ref()
                    .and_then(|c| c.pointer("/0/capacityProvider"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                platform_version: p.platform_version.clone(),
                network: p.network_configuration.as_ref(),
                overrides: serde_json::json!({}),
                tags: tags.clone(),
                service: Some(svc.arn.clone()),
                deployment_id: Some(p.id.clone()),
                grace_seconds: svc.health_check_grace_period_seconds.unwrap_or(0) as f64,
                load_balancers: load_balancers.clone(),
                registries: registries.clone(),
                enable_execute_command: svc.enable_execute_command,
                one_off: false,
            };
            let t = tasks::create(&launch, env, *self.launches);
            ids.push(t.id.clone());
            self.task_arns.push(t.arn.clone());
            self.tasks.insert(t.arn.clone(), t);
        }
        let name = self.svc.name.clone();
        let now = self.now();
        self.svc.event(
            now,
            format!(
                "(service {name}) has started {} tasks: {}.",
                ids.len(),
                task_list(&ids)
            ),
        );
        self.svc.steady = false;
    }

    fn step(&mut self, env: &mut EcsEnv) {
        let now = self.now();
        if self.svc.status == "DRAINING" {
            let arns: Vec<String> = self
                .service_tasks()
                .iter()
                .filter(|t| t.is_active())
                .map(|t| t.arn.clone())
                .collect();
            self.stop_tasks(&arns, Self::scaling_reason);
            let remaining = self
                .service_tasks()
                .iter()
                .any(|t| t.last_status != "STOPPED");
            self.update_counts();
            if !remaining {
                self.svc.status = "INACTIVE".into();
                self.svc.inactive_since = Some(now);
            }
            return;
        }
        let Some(primary) = self.svc.primary().cloned() else {
            return;
        };
        let desired = self.svc.desired_count;
        let max_total = desired * self.svc.maximum_percent / 100;
        let min_healthy = (desired * self.svc.minimum_healthy_percent + 99) / 100;

        let active: Vec<(String, bool, bool)> = self
            .service_tasks()
            .iter()
            .filter(|t| t.is_active())
            .map(|t| {
                (
                    t.arn.clone(),
                    t.deployment_id.as_deref() == Some(primary.id.as_str()),
                    t.is_healthy(now),
                )
            })
            .collect();
        let n_total = active.len() as i64;
        let n_primary = active.iter().filter(|a| a.1).count() as i64;
        let launching_allowed = primary.rollout_state != "FAILED";
        if launching_allowed {
            let n = match self.staged_launch() {
                // BLUE_GREEN, LINEAR, CANARY: green scales to 100% at SCALE_UP.
                Some(true) => desired - n_primary,
                Some(false) => 0,
                None => (desired - n_primary).min(max_total - n_total),
            };
            self.launch(n, env);
        }

        // Replace old tasks without dropping below the healthy minimum;
        // unhealthy old tasks can always go.
        let mut healthy_total = active.iter().filter(|a| a.2).count() as i64;
        let hold_old = self.holds_old();
        let mut old: Vec<&(String, bool, bool)> =
            active.iter().filter(|a| !a.1 && !hold_old).collect();
        old.sort_by_key(|a| a.2);
        let mut to_stop = vec![];
        for (arn, _, healthy) in old {
            if !healthy {
                to_stop.push(arn.clone());
            } else if healthy_total > min_healthy {
                healthy_total -= 1;
                to_stop.push(arn.clone());
            }
        }
        // Scale in: surplus primary tasks, the least advanced first.
        if n_primary > desired {
            let mut primary_tasks: Vec<&Task> = self
                .service_tasks()
                .into_iter()
                .filter(|t| {
                    t.is_active() && t.deployment_id.as_deref() == Some(primary.id.as_str())
                })
                .collect();
            primary_tasks.sort_by(|a, b| {
                a.is_healthy(now)
                    .cmp(&b.is_healthy(now))
                    .then(b.created_at.total_cmp(&a.created_at))
            });
            to_stop.extend(
                primary_tasks
                    .iter()
                    .take((n_primary - desired) as usize)
                    .map(|t| t.arn.clone()),
            );
        }
        self.stop_tasks(&to_stop, Self::scaling_reason);
        self.update_counts();
        self.complete(now);
    }

    fn update_counts(&mut self) {
        let mut running: BTreeMap<String, i64> = BTreeMap::new();
        let mut pending: BTreeMap<String, i64> = BTreeMap::new();
        let mut lingering: BTreeMap<String, bool> = BTreeMap::new();
        for t in self.service_tasks() {
            let d = t.deployment_id.clone().unwrap_or_default();
            if t.is_running() {
                *running.entry(d.clone()).or_default() += 1;
            }
            if t.is_pending() {
                *pending.entry(d.clone()).or_default() += 1;
            }
            if t.last_status != "STOPPED" {
                lingering.insert(d, true);
            }
        }
        let now = self.now();
        for d in &mut self.svc.deployments {
            let r = running.get(&d.id).copied().unwrap_or(0);
            let p = pending.get(&d.id).copied().unwrap_or(0);
            if r != d.running_count || p != d.pending_count {
                d.updated_at = now;
            }
            d.running_count = r;
            d.pending_count = p;
            if d.status == "PRIMARY" {
                d.desired_count = self.svc.desired_count;
            } else {
                d.desired_count = r + p;
            }
        }
        // Drained deployments disappear from the list, as in ECS.
        self.svc
            .deployments
            .retain(|d| d.status == "PRIMARY" || lingering.get(&d.id).copied().unwrap_or(false));
        self.svc.running_count = running.values().sum();
        self.svc.pending_count = pending.values().sum();
    }

    fn complete(&mut self, now: f64) {
        let desired = self.svc.desired_count;
        let Some(primary) = self.svc.primary().cloned() else {
            return;
        };
        if self.svc.deployments.len() != 1 || !self.may_complete() {
            return;
        }
        let healthy = self
            .service_tasks()
            .iter()
            .filter(|t| {
                t.deployment_id.as_deref() == Some(primary.id.as_str())
                    && t.is_healthy(now)
                    && t.started_at
                        .is_some_and(|s| now >= s + tasks::STABLE_SECONDS)
            })
            .count() as i64;
        let active = self
            .service_tasks()
            .iter()
            .filter(|t| t.is_active())
            .count() as i64;
        if healthy != desired || active != desired {
            return;
        }
        let name = self.svc.name.clone();
        if primary.rollout_state == "IN_PROGRESS" {
            if let Some(p) = self.svc.primary_mut() {
                p.rollout_state = "COMPLETED".into();
                p.rollout_state_reason = format!("ECS deployment {} completed.", p.id);
                p.updated_at = now;
            }
            self.svc.last_completed = Some((primary.id.clone(), primary.task_definition.clone()));
            self.deployment_completed(&primary.id);
            self.svc.event(
                now,
                format!(
                    "(service {name}) (deployment {}) deployment completed.",
                    primary.id
                ),
            );
        }
        if !self.svc.steady {
            self.svc.steady = true;
            self.svc
                .event(now, format!("(service {name}) has reached a steady state."));
        }
    }
}
