//! The conditions of a service following ECS's rollout, and the rollout
//! status berth records.

use k8s_openapi::jiff::Timestamp;

use super::{deployment, Inputs};
use crate::api::conditions::{self, Desired, Reason, DEGRADED, PROGRESSING, READY};
use crate::api::ecs_service::{RolloutStatus, StoppedTask};
use crate::aws::ecs::{DeploymentView, ServiceView};

pub(super) fn rollout_status(
    primary: Option<&DeploymentView>,
    prev: &Option<RolloutStatus>,
) -> RolloutStatus {
    let prev = prev.clone().unwrap_or_default();
    match primary {
        None => prev,
        Some(d) => {
            let same = prev.deployment_id == d.id;
            RolloutStatus {
                state: d.rollout_state.clone(),
                reason: d.rollout_state_reason.clone(),
                deployment_id: d.id.clone(),
                failed_tasks: d.failed_tasks,
                // ECS knows when the deployment was created; keep berth's own
                // start when it is the same deployment (it survives restarts).
                started_at: if same && prev.started_at.is_some() {
                    prev.started_at
                } else {
                    d.created_at
                        .and_then(|t| Timestamp::from_second(t).ok())
                        .map(|t| t.to_string())
                        .or(prev.started_at)
                },
                revision: prev.revision,
                service_deployment: prev.service_deployment,
                refreshed_by: prev.refreshed_by,
                retried_for: prev.retried_for,
                pull_through_cache_warning: prev.pull_through_cache_warning,
            }
        }
    }
}

pub(super) fn rollout_conditions(
    i: &Inputs<'_>,
    svc: &ServiceView,
    primary: Option<&DeploymentView>,
    rollout: &RolloutStatus,
    stopped: &[StoppedTask],
) -> Vec<Desired> {
    let state = primary.and_then(|d| d.rollout_state.clone());
    let failing = failure_summary(stopped, Some(i.desired_arn));
    if let Some(failed) =
        deployment::failed_conditions(i.record, i.desired_revision, failing.as_deref())
    {
        return failed;
    }
    match state.as_deref() {
        Some("COMPLETED") if svc.running_count >= svc.desired_count => {
            complete(i.desired_revision, svc)
        }
        Some("FAILED") => {
            let message = format!(
                "the rollout of revision {} failed: {}{}",
                i.desired_revision,
                rollout
                    .reason
                    .as_deref()
                    .unwrap_or("ECS marked the deployment FAILED"),
                then_failing(failing.as_deref())
            );
            conditions::failed(Reason::RolloutFailed, message)
        }
        _ => in_progress(i, svc, rollout, failing),
    }
}

fn complete(revision: i64, svc: &ServiceView) -> Vec<Desired> {
    let (running, desired) = (svc.running_count, svc.desired_count);
    vec![
        Desired::new(
            READY,
            true,
            Reason::RolloutComplete,
            format!("revision {revision} is running {running}/{desired} tasks"),
        ),
        Desired::new(
            PROGRESSING,
            false,
            Reason::RolloutComplete,
            "the last rollout completed",
        ),
        conditions::not_degraded(),
    ]
}

/// `; <failing>` to append to a message, or nothing.
fn then_failing(failing: Option<&str>) -> String {
    failing.map(|f| format!("; {f}")).unwrap_or_default()
}

/// The rollout is under way: failed past its deadline, degraded while its
/// tasks fail, or rolling out.
fn in_progress(
    i: &Inputs<'_>,
    svc: &ServiceView,
    rollout: &RolloutStatus,
    failing: Option<String>,
) -> Vec<Desired> {
    let (running, desired) = (svc.running_count, svc.desired_count);
    let deadline = i64::from(i.obj.spec.deployment.progress_deadline_seconds);
    let started = rollout
        .started_at
        .as_deref()
        .and_then(|s| s.parse::<Timestamp>().ok());
    let elapsed = started.map(|s| i.now.as_second() - s.as_second());
    if elapsed.is_some_and(|e| e > deadline) {
        // Tasks can be RUNNING and still not healthy (health checks,
        // load balancer registration): say what did not happen.
        let message = format!(
            "revision {} did not become stable within progressDeadlineSeconds ({deadline}s): \
             ECS still reports the rollout IN_PROGRESS with {running} of {desired} tasks running \
             and {} pending, so its tasks have not all started and passed their health checks{}",
            i.desired_revision,
            svc.pending_count,
            then_failing(failing.as_deref())
        );
        return conditions::failed(Reason::ProgressDeadlineExceeded, message);
    }
    let Some(f) = failing else {
        return rolling_out(i.desired_revision, rollout, svc);
    };
    let progress = format!(
        "revision {}: {running}/{desired} running, {} pending",
        i.desired_revision, svc.pending_count
    );
    vec![
        Desired::new(
            READY,
            false,
            Reason::TasksFailing,
            format!("{progress}; {f}"),
        ),
        Desired::new(PROGRESSING, true, Reason::RollingOut, progress),
        Desired::new(DEGRADED, true, Reason::TasksFailing, f),
    ]
}

pub(super) fn rolling_out(
    revision: i64,
    rollout: &RolloutStatus,
    svc: &ServiceView,
) -> Vec<Desired> {
    let stage = rollout
        .service_deployment
        .as_ref()
        .and_then(|d| d.lifecycle_stage.as_deref())
        .map(|s| format!(", stage {s}"))
        .unwrap_or_default();
    let message = format!(
        "revision {revision}: {}/{} running, {} pending{}{stage}",
        svc.running_count,
        svc.desired_count,
        svc.pending_count,
        rollout
            .deployment_id
            .as_deref()
            .map(|d| format!(" (deployment {d})"))
            .unwrap_or_default()
    );
    vec![
        Desired::new(READY, false, Reason::RollingOut, message.clone()),
        Desired::new(PROGRESSING, true, Reason::RollingOut, message),
        conditions::not_degraded(),
    ]
}

/// The new revision's registration waits `wait` from `now` for its turn
/// (`pacing`); the old revision, if any, keeps serving.
pub fn registration_queued(now: Timestamp, wait: std::time::Duration) -> Vec<Desired> {
    let message = crate::controller::pacing::queued_message("the new task definition", now, wait);
    vec![
        Desired::new(READY, false, Reason::RegistrationQueued, message.clone()),
        Desired::new(PROGRESSING, true, Reason::RegistrationQueued, message),
        conditions::not_degraded(),
    ]
}

pub(super) fn waiting(message: &str) -> Vec<Desired> {
    vec![
        Desired::new(READY, false, Reason::WaitingForMigrations, message),
        Desired::new(PROGRESSING, true, Reason::WaitingForMigrations, message),
        conditions::not_degraded(),
    ]
}

/// Waiting for migrations (`waiting`) of which one cannot start its task
/// until a person fixes `cause`: the gate stays closed and the job keeps
/// retrying (Progressing), and Degraded names the cause.
pub(super) fn migration_cannot_start(waiting: &str, cause: &str) -> Vec<Desired> {
    vec![
        Desired::new(READY, false, Reason::WaitingForMigrations, waiting),
        Desired::new(PROGRESSING, true, Reason::WaitingForMigrations, waiting),
        Desired::new(DEGRADED, true, Reason::MigrationCannotStart, cause),
    ]
}

pub(super) fn migration_failed(message: &str) -> Vec<Desired> {
    conditions::failed(Reason::MigrationFailed, message)
}

/// `N tasks stopped: <reason> (container exited with code X)` over the
/// failed stopped tasks (of `revision` when given).
pub(super) fn failure_summary(stopped: &[StoppedTask], revision: Option<&str>) -> Option<String> {
    let failed: Vec<&StoppedTask> = stopped
        .iter()
        .filter(|t| revision.is_none() || t.task_definition_arn.as_deref() == revision)
        .filter(|t| is_failure(t))
        .collect();
    let newest = failed.first()?;
    let exit = newest
        .containers
        .iter()
        .find_map(|c| {
            c.exit_code
                .filter(|c| *c != 0)
                .map(|code| (c.name.clone(), code))
        })
        .map(|(name, code)| format!(" (container {name} exited with code {code})"))
        .unwrap_or_default();
    Some(format!(
        "{} task(s) stopped: {}{exit}",
        failed.len(),
        newest
            .stopped_reason
            .as_deref()
            .unwrap_or("no reason given")
    ))
}

pub(super) fn is_failure(t: &StoppedTask) -> bool {
    let reason = t.stopped_reason.as_deref().unwrap_or_default();
    // Tasks berth or ECS replaced on purpose are not failures.
    let deliberate = reason.starts_with("Scaling activity")
        || reason.contains("deployment")
        || t.stop_code.as_deref() == Some("UserInitiated");
    !deliberate
        && (t.stop_code.as_deref() == Some("TaskFailedToStart")
            || t.stop_code.as_deref() == Some("EssentialContainerExited")
            || reason.contains("Error")
            || reason.contains("health check")
            || t.containers
                .iter()
                .any(|c| c.exit_code.is_some_and(|e| e != 0)))
}
