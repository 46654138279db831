//! What the EcsService reconcile writes and when it looks again: the next
//! status from the plan and what AWS answered, the requeue, what a
//! terminal AWS failure means, and what is reported while there is no
//! desired revision yet.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::{registration_queued, Plan, ServiceAction};
use crate::api::conditions::{self, Reason, DEGRADED, PROGRESSING, READY};
use crate::api::ecs_service::{
    EcsService, EcsServiceStatus, RolloutStatus, ServiceDeploymentStatus, StoppedTask,
};
use crate::aws::ecs::ServiceView;
use crate::aws::{AwsFailure, FailureKind};
use crate::controller::ownership::Owners;
use crate::controller::shell::{self, Failed, Outcome, Then};

/// The desired revision, or why there is none yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revision {
    /// Its ARN and revision number.
    Known(String, i64),
    /// Paused and not registered yet (the spec's hash).
    Paused(String),
    /// Its registration's turn comes after this wait.
    Queued(Duration),
    /// Registered after waiting for its turn: observed at the next poll.
    Later,
    /// The family is another object's (`super::family_refused`).
    Refused(Reason, String),
}

/// The desired revision's ARN and number, or what is reported while it
/// is not known.
pub fn without_revision(
    obj: &EcsService,
    revision: Revision,
    now: Timestamp,
) -> Result<(String, i64), Outcome<EcsServiceStatus>> {
    let cluster = obj.spec.cluster.clone();
    Err(match revision {
        Revision::Known(arn, number) => return Ok((arn, number)),
        Revision::Refused(reason, message) => {
            Outcome::Failed(Failed::new(reason, message, Then::Resync))
        }
        // Registrations come one a second: observing now would describe
        // this service alone. The next poll on the cluster's grid
        // describes it with the others.
        Revision::Later => Outcome::Quiet(Then::PollOn(cluster)),
        Revision::Queued(wait) => {
            Outcome::Conditions(registration_queued(now, wait), Then::After(wait))
        }
        Revision::Paused(hash) => Outcome::Held {
            ready: false,
            held: format!("the new task definition (hash {hash}) is not registered"),
            then: Then::Resync,
        },
    })
}

/// Still waiting for the same migrations: nothing in AWS can open the
/// gate (the MigrationJob watch wakes the service when a job finishes), so
/// the poll writes nothing and comes back on the cluster's grid.
pub fn still_waiting(obj: &EcsService) -> Outcome<EcsServiceStatus> {
    Outcome::Quiet(Then::PollOn(obj.spec.cluster.clone()))
}

/// The existing ECS service is not this object's to change: decided
/// before anything is registered for it, so an object refused the service
/// leaves no revision in its family.
pub fn not_ours(
    obj: &EcsService,
    svc: &ServiceView,
    owners: &Owners,
) -> Option<Outcome<EcsServiceStatus>> {
    let (reason, message) = super::service_refused(obj, svc, owners)?;
    let then = Then::ResyncOn(obj.spec.cluster.clone());
    Some(Outcome::Failed(Failed::new(reason, message, then)))
}

/// The Cloud Map service is not this object's to use.
pub fn registry_refused(reason: Reason, message: String) -> Outcome<EcsServiceStatus> {
    Outcome::Failed(Failed::new(reason, message, Then::Resync))
}

/// What a terminal AWS failure means for an EcsService: the few a user
/// fixes in the spec are named; the rest are AWS's words.
pub fn failure(obj: &EcsService, f: &AwsFailure) -> Option<Outcome<EcsServiceStatus>> {
    if f.kind != FailureKind::Terminal {
        return None;
    }
    let named = if f.is_code("ClusterNotFoundException") {
        Some((
            Reason::ClusterNotFound,
            format!(
                "ECS cluster {:?} (spec.cluster) does not exist; berth never creates clusters (names are case-sensitive)",
                obj.spec.cluster
            ),
        ))
    } else if f.is_code("NamespaceNotFound") {
        Some((Reason::NamespaceNotFound, f.message.clone()))
    } else if f.action == "secretsmanager:DescribeSecret" && f.is_code("ResourceNotFoundException")
    {
        Some((
            Reason::SecretNotFound,
            format!(
                "a secret referenced in spec.taskDefinition does not exist: {}",
                f.message
            ),
        ))
    } else {
        None
    };
    match named {
        Some((reason, message)) => {
            Some(Outcome::Failed(Failed::new(reason, message, Then::Resync)))
        }
        None => shell::terminal(f).map(Outcome::Failed),
    }
}

/// Stopped tasks are read only when something failed: a rollout that goes
/// well costs no ListTasks/DescribeTasks per poll.
pub fn needs_stopped_tasks(svc: &ServiceView) -> bool {
    let primary = svc.primary();
    let failed = primary.is_some_and(|d| d.failed_tasks > 0 || d.is("FAILED"));
    let completed = primary.is_some_and(|d| d.is("COMPLETED"));
    // Tasks that died after the rollout completed.
    let lost = completed && svc.running_count < svc.desired_count && svc.pending_count == 0;
    failed || lost
}

/// The plan's rollout, with the new deployment's id and record as the
/// create or update answered them.
pub fn rollout_after(p: &Plan, current: Option<&ServiceView>) -> Option<RolloutStatus> {
    let mut rollout = p.rollout.clone();
    let (Some(r), Some(svc)) = (rollout.as_mut(), current) else {
        return rollout;
    };
    if p.action == ServiceAction::Nothing {
        return rollout;
    }
    if let Some(d) = svc.primary() {
        r.deployment_id = d.id.clone();
    }
    let known = r.service_deployment.as_ref().and_then(|d| d.arn.as_deref());
    if let Some(arn) = svc
        .current_service_deployment
        .as_deref()
        .filter(|a| Some(*a) != known)
    {
        r.service_deployment = Some(ServiceDeploymentStatus {
            arn: Some(arn.to_string()),
            ..ServiceDeploymentStatus::default()
        });
    }
    rollout
}

/// An ECS deployment still moving (also one berth asked to roll back after
/// a failed check, which leaves Progressing false) is followed at the poll
/// interval until it ends; a settled service waits for the next resync.
/// Both on the cluster's grid: a steady state of N services costs
/// ceil(N / 10) DescribeServices per cluster and resync.
pub fn requeue(next: &EcsServiceStatus, cluster: &str) -> Then {
    let deployment_ongoing = next
        .rollout
        .as_ref()
        .and_then(|r| r.service_deployment.as_ref())
        .and_then(|d| d.status.as_deref())
        .is_some_and(|s| {
            matches!(
                s,
                "PENDING"
                    | "IN_PROGRESS"
                    | "STOP_REQUESTED"
                    | "ROLLBACK_REQUESTED"
                    | "ROLLBACK_IN_PROGRESS"
            )
        });
    // berth's own rollback after a failed PostRollout check has no
    // service deployment record of its own: its ROLLOUT state says it.
    let rollback_ongoing = next
        .rollout
        .as_ref()
        .and_then(|r| r.state.as_deref())
        .is_some_and(|s| matches!(s, "ROLLBACK_REQUESTED" | "ROLLBACK_IN_PROGRESS"));
    let busy = conditions::is_true(&next.conditions, PROGRESSING)
        || deployment_ongoing
        || rollback_ongoing
        || conditions::find(&next.conditions, DEGRADED)
            .is_some_and(|c| c.status == "True" && c.reason == Reason::TasksFailing.as_str());
    match busy {
        true => Then::PollOn(cluster.into()),
        false => Then::ResyncOn(cluster.into()),
    }
}

/// What the reconcile learned, for the next status.
pub struct Answered<'a> {
    pub obj: &'a EcsService,
    pub prev: &'a EcsServiceStatus,
    pub plan: &'a Plan,
    /// The service as the create or update answered, or as observed.
    pub current: Option<&'a ServiceView>,
    pub desired_arn: &'a str,
    pub revision: i64,
    pub hash: &'a str,
    pub registry: Option<String>,
    pub pull_through_cache: Option<String>,
    pub rollback_requested: Option<String>,
    pub now: Timestamp,
}

pub fn status(a: &Answered<'_>) -> EcsServiceStatus {
    let (p, prev, current) = (a.plan, a.prev, a.current);
    let generation = a.obj.metadata.generation;
    EcsServiceStatus {
        observed_generation: generation,
        conditions: conditions::merge(&prev.conditions, &p.conditions, generation, a.now),
        service_arn: current.map(|s| s.arn.clone()).or(prev.service_arn.clone()),
        task_definition_arn: Some(a.desired_arn.to_string()),
        revision: Some(a.revision),
        serving_revision: current
            .and_then(|s| s.task_definition.as_deref())
            .and_then(super::prune::revision_of),
        spec_hash: Some(a.hash.to_string()),
        desired_count: current.map(|s| s.desired_count),
        running_count: current.map(|s| s.running_count),
        pending_count: current.map(|s| s.pending_count),
        rollout: rollout_after(p, current),
        last_stopped_tasks: last_stopped(prev, &p.last_stopped),
        cloud_map_service_arn: a.registry.clone(),
        previous_task_definition_arn: p.previous_arn.clone(),
        pull_through_cache: a.pull_through_cache.clone(),
        rollback_requested: a.rollback_requested.clone(),
    }
}

fn last_stopped(prev: &EcsServiceStatus, now: &[StoppedTask]) -> Vec<StoppedTask> {
    match now.is_empty() {
        true => prev.last_stopped_tasks.clone(),
        false => now.to_vec(),
    }
}

/// Revisions beyond the history limit are pruned when the service first
/// turns Ready for the desired revision (a user who sees Ready sees the
/// history as it will stay), never while paused.
pub fn prunes(prev: &EcsServiceStatus, next: &EcsServiceStatus, paused: bool) -> bool {
    let was_ready = conditions::is_true(&prev.conditions, READY)
        && prev.task_definition_arn == next.task_definition_arn;
    conditions::is_true(&next.conditions, READY) && !was_ready && !paused
}
