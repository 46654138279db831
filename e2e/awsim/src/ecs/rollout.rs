//! Service deployment records on the virtual clock, run by the scheduler on
//! every tick: PENDING -> IN_PROGRESS, the lifecycle stages of BLUE_GREEN,
//! LINEAR and CANARY deployments with their traffic shift steps and bake
//! times, PAUSE hooks (ContinueServiceDeployment, timeouts), CloudWatch
//! alarm and circuit breaker failure detection, rollbacks and stops, and
//! the final status. ROLLING deployments keep the scheduler's behaviour;
//! only their records are updated here.

use serde_json::{json, Value};

use crate::ecs::deployments::{HookDetail, ServiceDeployment};
use crate::ecs::scheduler::Scheduler;
use crate::ecs::strategies::{self, next_weight, shown_stage, stage_index, step_bake_seconds};
use crate::ecs::tasks;

/// Default `timeoutInMinutes` of a hook: "Default: 1440 (24 hours)"
/// (API_DeploymentLifecycleHookTimeoutConfiguration.html).
const HOOK_TIMEOUT_MINUTES: f64 = 1440.0;

impl Scheduler<'_> {
    fn record(&mut self) -> Option<&mut ServiceDeployment> {
        self.svc.current_record_mut()
    }

    /// A BLUE_GREEN, LINEAR or CANARY deployment replacing running
    /// revisions, still moving forward: the one that runs lifecycle stages
    /// (a service's first deployment has nothing to shift traffic from).
    fn staged(&self) -> Option<&ServiceDeployment> {
        self.svc
            .current_record()
            .filter(|r| r.strategy != "ROLLING" && r.is_forward() && !r.source_revisions.is_empty())
    }

    /// Green scales up to the full desired count regardless of
    /// maximumPercent (deployment-type-blue-green.html: "SCALE_UP ... The
    /// green service revision scales up to 100%"), once past PRE_SCALE_UP.
    pub(crate) fn staged_launch(&self) -> Option<bool> {
        self.staged()
            .map(|r| r.stage_index >= stage_index("SCALE_UP"))
    }

    /// Blue keeps running until CLEAN_UP.
    pub(crate) fn holds_old(&self) -> bool {
        self.staged()
            .is_some_and(|r| r.stage_index < stage_index("CLEAN_UP"))
    }

    pub(crate) fn rollout(&mut self) {
        let now = self.ctx.now;
        let Some(rec) = self.svc.current_record().cloned() else {
            return;
        };
        if !rec.is_ongoing() {
            return;
        }
        let failed = self
            .svc
            .deployments
            .iter()
            .find(|d| d.id == rec.deployment_id)
            .map_or(rec.failure_count, |d| d.failed_tasks);
        let threshold = self.svc.failure_threshold();
        if let Some(r) = self.record() {
            if r.failure_count != failed {
                r.updated_at = now;
            }
            r.failure_count = failed;
            if r.circuit_breaker_status == "MONITORING" {
                r.threshold = threshold;
            }
            if r.status == "PENDING" {
                r.status = "IN_PROGRESS".into();
                r.started_at = Some(now);
                r.updated_at = now;
                if r.strategy != "ROLLING" && !r.source_revisions.is_empty() {
                    // RECONCILE_SERVICE "only happens when you start a new
                    // service deployment with more than 1 service revision
                    // in an ACTIVE state".
                    r.stage_index = if r.source_revisions.len() > 1 { 0 } else { 1 };
                    r.stage_since = now;
                    r.stage_hooks_done = false;
                }
            }
        }
        if let Some((kind, reason)) = self.record().and_then(|r| r.requested.take()) {
            if kind == "ABORT" {
                self.stop_deployment(&reason);
            } else {
                self.roll_back(&reason);
            }
            return;
        }
        if self.check_alarms() {
            return;
        }
        if self.staged().is_some() {
            self.advance_stages();
        }
    }

    /// Deployment alarms (API_DeploymentAlarms.html): an alarm of
    /// `alarmNames` in ALARM during the deployment fails it; with
    /// `rollback` ECS rolls back, otherwise the deployment stops.
    fn check_alarms(&mut self) -> bool {
        let Some(rec) = self.svc.current_record() else {
            return false;
        };
        if !rec.is_forward() || rec.alarms_status != "MONITORING" {
            return false;
        }
        let fired: Vec<String> = rec
            .alarm_names
            .iter()
            .filter(|a| self.alarms.get(*a).map(String::as_str) == Some("ALARM"))
            .cloned()
            .collect();
        if fired.is_empty() {
            return false;
        }
        let rollback = self
            .svc
            .alarms
            .as_ref()
            .and_then(|a| a.get("rollback"))
            .and_then(Value::as_bool)
            == Some(true);
        let reason = format!(
            "Service deployment failed: CloudWatch alarm(s) {} in ALARM state.",
            fired.join(", ")
        );
        if let Some(r) = self.record() {
            r.alarms_status = "TRIGGERED".into();
            r.triggered_alarm_names = fired;
        }
        if rollback {
            self.roll_back(&reason);
        } else {
            self.stop_deployment(&reason);
        }
        true
    }

    /// Stops the deployment where it is: STOPPED, no further launches
    /// (as the circuit breaker without rollback does).
    fn stop_deployment(&mut self, reason: &str) {
        let now = self.ctx.now;
        let Some(id) = self.record().map(|r| {
            r.status = "STOPPED".into();
            r.status_reason = Some(reason.to_string());
            r.stopped_at = Some(now);
            r.updated_at = now;
            r.deployment_id.clone()
        }) else {
            return;
        };
        if let Some(d) = self.svc.deployments.iter_mut().find(|d| d.id == id) {
            d.rollout_state = "FAILED".into();
            d.rollout_state_reason = reason.to_string();
            d.updated_at = now;
        }
    }

    /// Rolls the current deployment back to its source revision: the
    /// service takes the revision's configuration again, a deployment of it
    /// becomes PRIMARY and adopts the tasks still running it (blue keeps
    /// serving), and the record goes ROLLBACK_IN_PROGRESS with `rollback`.
    fn roll_back(&mut self, reason: &str) {
        let now = self.ctx.now;
        let Some(rec) = self.svc.current_record().cloned() else {
            return;
        };
        let Some(rev) = rec
            .source_revisions
            .first()
            .and_then(|a| self.svc.revision(a))
            .cloned()
        else {
            if let Some(r) = self.record() {
                r.status = "ROLLBACK_FAILED".into();
                r.status_reason = Some(format!("{reason} No service revision to roll back to."));
                r.finished_at = Some(now);
                r.updated_at = now;
            }
            return;
        };
        if let Some(d) = self
            .svc
            .deployments
            .iter_mut()
            .find(|d| d.id == rec.deployment_id)
        {
            d.rollout_state = "FAILED".into();
            d.rollout_state_reason = reason.to_string();
            d.updated_at = now;
        }
        let s = &mut *self.svc;
        s.task_definition = rev.task_definition.clone();
        s.launch_type = rev.launch_type.clone();
        s.capacity_provider_strategy = rev.capacity_provider_strategy.clone();
        s.platform_version = rev.platform_version.clone();
        s.network_configuration = rev.network_configuration.clone();
        s.load_balancers = rev.load_balancers.clone();
        s.service_registries = rev.service_registries.clone();
        let new_id = s.new_deployment(
            now,
            Some(format!(
                "ECS deployment rolling back to service revision {}.",
                rev.arn
            )),
        );
        if let Some(d) = s.deployments.iter_mut().find(|d| d.id == new_id) {
            d.service_revision_arn = Some(rev.arn.clone());
        }
        self.adopt(&rev.task_definition, &new_id);
        self.mark_rollback(reason, &rev.arn, &new_id);
    }

    /// Tasks still running `td` belong to the rollback deployment: ECS
    /// does not replace healthy tasks of the same revision.
    pub(crate) fn adopt(&mut self, td: &str, deployment: &str) {
        for arn in &self.task_arns {
            if let Some(t) = self.tasks.get_mut(arn) {
                if t.is_active() && t.task_definition_arn == td {
                    t.deployment_id = Some(deployment.to_string());
                }
            }
        }
    }

    fn mark_rollback(&mut self, reason: &str, revision: &str, new_id: &str) {
        let now = self.ctx.now;
        if let Some(r) = self.record() {
            r.status = "ROLLBACK_IN_PROGRESS".into();
            r.status_reason = Some(reason.to_string());
            r.rollback = Some(json!({
                "reason": reason,
                "startedAt": now,
                "serviceRevisionArn": revision,
            }));
            r.rollback_deployment_id = Some(new_id.to_string());
            r.production_weight = 0.0;
            r.test_weight = 0.0;
            r.updated_at = now;
        }
    }

    /// Called by the circuit breaker once it trips on `failed_id`;
    /// `rolled_back` is the rollback deployment it started, if any.
    pub(crate) fn circuit_breaker_tripped(&mut self, failed_id: &str, rolled_back: Option<&str>) {
        let now = self.ctx.now;
        let reason = "Service deployment failed: the deployment circuit breaker detected tasks that failed to start.";
        let rollback_td = self.svc.task_definition.clone();
        let Some(rec) = self.svc.current_record().cloned() else {
            return;
        };
        if rec.deployment_id != failed_id || !rec.is_ongoing() {
            return;
        }
        if let Some(r) = self.record() {
            r.circuit_breaker_status = "TRIGGERED".into();
        }
        match rolled_back {
            Some(new_id) => {
                let rev = self
                    .svc
                    .service_revisions
                    .iter()
                    .rev()
                    .find(|r| r.task_definition == rollback_td && r.arn != rec.target_revision)
                    .map(|r| r.arn.clone())
                    .or_else(|| rec.source_revisions.first().cloned())
                    .unwrap_or_default();
                if let Some(d) = self.svc.deployments.iter_mut().find(|d| d.id == new_id) {
                    d.service_revision_arn = Some(rev.clone());
                }
                self.mark_rollback(reason, &rev, new_id);
            }
            None if self.svc.circuit_breaker_rollback => {
                if let Some(r) = self.record() {
                    r.status = "ROLLBACK_FAILED".into();
                    r.status_reason =
                        Some(format!("{reason} No completed deployment to roll back to."));
                    r.finished_at = Some(now);
                    r.updated_at = now;
                }
            }
            None => {
                // API_ServiceDeployment.html `stoppedAt`: "The rollback
                // option is not in use for the failure detection mechanism
                // ... and the service fails."
                if let Some(r) = self.record() {
                    r.status = "STOPPED".into();
                    r.status_reason = Some(reason.to_string());
                    r.stopped_at = Some(now);
                    r.updated_at = now;
                }
            }
        }
    }

    /// Called when deployment `id` reaches COMPLETED.
    pub(crate) fn deployment_completed(&mut self, id: &str) {
        let now = self.ctx.now;
        for r in &mut self.svc.service_deployments {
            if r.deployment_id == id && r.is_forward() {
                r.status = "SUCCESSFUL".into();
                r.status_reason = Some("Service deployment completed successfully.".into());
                r.production_weight = 100.0;
                r.test_weight = 100.0;
            } else if r.rollback_deployment_id.as_deref() == Some(id)
                && r.status == "ROLLBACK_IN_PROGRESS"
            {
                r.status = "ROLLBACK_SUCCESSFUL".into();
            } else {
                continue;
            }
            r.finished_at = Some(now);
            r.updated_at = now;
            for s in [&mut r.circuit_breaker_status, &mut r.alarms_status] {
                if s == "MONITORING" {
                    *s = "MONITORING_COMPLETE".into();
                }
            }
        }
    }

    /// Whether the scheduler may declare the current deployment COMPLETED.
    pub(crate) fn may_complete(&self) -> bool {
        self.staged()
            .is_none_or(|r| r.stage_index >= stage_index("CLEAN_UP"))
    }

    fn green_ready(&self, deployment: &str) -> bool {
        let now = self.ctx.now;
        let ready = self
            .task_arns
            .iter()
            .filter_map(|a| self.tasks.get(a))
            .filter(|t| {
                t.deployment_id.as_deref() == Some(deployment)
                    && t.is_healthy(now)
                    && t.started_at
                        .is_some_and(|s| now >= s + tasks::STABLE_SECONDS)
            })
            .count() as i64;
        ready >= self.svc.desired_count
    }

    fn enter_stage(&mut self, index: usize) {
        let now = self.ctx.now;
        if let Some(r) = self.record() {
            r.stage_index = index;
            r.stage_since = now;
            r.stage_hooks_done = false;
            r.lifecycle_stage = Some(shown_stage(index).to_string());
            r.updated_at = now;
        }
    }

    /// Runs the hooks of the stage being entered; true while a PAUSE hook
    /// awaits action.
    fn run_hooks(&mut self, config: &Value) -> Option<bool> {
        let now = self.ctx.now;
        let r = self.svc.current_record_mut()?;
        if let Some(h) = r.hooks.iter_mut().find(|h| h.status == "AWAITING_ACTION") {
            if h.expires_at.is_some_and(|e| now >= e) {
                h.status = "TIMED_OUT".into();
                let action = h.timeout_action.clone().unwrap_or_default();
                let id = h.hook_id.clone();
                if action == "ROLLBACK" {
                    r.requested =
                        Some(("ROLLBACK".into(), format!("Lifecycle hook {id} timed out.")));
                    r.status = "ROLLBACK_REQUESTED".into();
                    return Some(true);
                }
                r.stage_hooks_done = true;
                return Some(false);
            }
            return Some(true);
        }
        if r.stage_hooks_done {
            return Some(false);
        }
        r.stage_hooks_done = true;
        let stage = strategies::STAGES[r.stage_index];
        let mut paused = false;
        let hooks = config
            .get("lifecycleHooks")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for h in hooks {
            let at_stage = h
                .get("lifecycleStages")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(stage)));
            if !at_stage {
                continue;
            }
            let pause = h.get("targetType").and_then(Value::as_str) == Some("PAUSE");
            let timeout = h
                .pointer("/timeoutConfiguration/timeoutInMinutes")
                .and_then(Value::as_f64)
                .unwrap_or(HOOK_TIMEOUT_MINUTES);
            // "Default: ROLLBACK".
            let action = h
                .pointer("/timeoutConfiguration/action")
                .and_then(Value::as_str)
                .unwrap_or("ROLLBACK");
            r.hooks.push(HookDetail {
                hook_id: format!(
                    "ecs-{}-{}",
                    if pause { "pause" } else { "lambda" },
                    crate::util::alnum(43)
                ),
                target_type: if pause { "PAUSE" } else { "AWS_LAMBDA" }.into(),
                target_arn: h
                    .get("hookTargetArn")
                    .and_then(Value::as_str)
                    .filter(|_| !pause)
                    .map(str::to_string),
                // awsim invokes no Lambda function: AWS_LAMBDA hooks succeed.
                status: if pause {
                    "AWAITING_ACTION"
                } else {
                    "SUCCEEDED"
                }
                .into(),
                stage: stage.to_string(),
                expires_at: Some(now + timeout * 60.0),
                timeout_action: Some(action.to_string()),
            });
            paused |= pause;
            r.updated_at = now;
        }
        if stage == "PRODUCTION_TRAFFIC_SHIFT" {
            r.production_weight = next_weight(config, r.production_weight);
        }
        Some(paused)
    }

    fn advance_stages(&mut self) {
        let now = self.ctx.now;
        let config = self
            .svc
            .strategy_config
            .clone()
            .unwrap_or_else(|| json!({}));
        for _ in 0..strategies::STAGES.len() * 2 {
            let Some(rec) = self.svc.current_record() else {
                return;
            };
            if rec.status != "IN_PROGRESS" {
                return;
            }
            let index = rec.stage_index;
            let since = rec.stage_since;
            let deployment = rec.deployment_id.clone();
            if let Some(r) = self.record() {
                r.lifecycle_stage = Some(shown_stage(index).to_string());
            }
            match self.run_hooks(&config) {
                Some(false) => {}
                _ => return,
            }
            let weight = self
                .svc
                .current_record()
                .map_or(0.0, |r| r.production_weight);
            let done = match strategies::STAGES[index] {
                "SCALE_UP" => self.green_ready(&deployment),
                "TEST_TRAFFIC_SHIFT" => {
                    if let Some(r) = self.record() {
                        r.test_weight = 100.0;
                    }
                    true
                }
                // A LINEAR or CANARY step short of 100%: bake, then the
                // next step (PRE_PRODUCTION_TRAFFIC_SHIFT "is invoked before
                // every traffic shift step").
                "PRODUCTION_TRAFFIC_SHIFT" if weight < 100.0 => {
                    if now < since + step_bake_seconds(&config) {
                        return;
                    }
                    self.enter_stage(stage_index("PRE_PRODUCTION_TRAFFIC_SHIFT"));
                    continue;
                }
                "BAKE_TIME" => {
                    now >= since + 60.0 * strategies::minutes(&config, "/bakeTimeInMinutes", 0.0)
                }
                "CLEAN_UP" => false,
                _ => true,
            };
            if !done {
                return;
            }
            self.enter_stage(index + 1);
        }
    }
}
