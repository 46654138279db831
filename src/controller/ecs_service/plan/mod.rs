//! The pure part of the EcsService reconcile: from the spec, what AWS
//! reports and what berth recorded last time, decide the one service
//! mutation to make (if any) and the conditions to report.

use k8s_openapi::jiff::Timestamp;

use crate::api::conditions::{self, Desired, Reason, PROGRESSING, READY};
use crate::api::ecs_service::{EcsService, RolloutStatus, StoppedTask};
use crate::aws::ecs::service_tags::{self as tags, TagChange};
use crate::aws::ecs::services::{wanted_registries, ServiceUpdate};
use crate::aws::ecs::{ServiceDeploymentView, ServiceView};

mod action;
pub mod deployment;
mod events;
mod gate;
mod next;
mod prune;
mod refusals;
pub mod retry;
mod rollout;
mod settings;

use crate::controller::ownership::Owners;
use crate::controller::pull_through::Serving;
pub use action::{fields_of, ServiceAction};
pub use events::{tags_event, update_event};
pub use gate::{gate, gate_unchanged, post_check, waiting_for_migrations, Gate};
pub use next::{
    failure, needs_stopped_tasks, not_ours, prunes, registry_refused, requeue, status,
    still_waiting, without_revision, Answered, Revision,
};
pub use prune::{may_prune, revisions_to_prune};
pub use refusals::{family_refused, registry_use, service_refused};
pub use rollout::registration_queued;
use rollout::{
    failure_summary, migration_cannot_start, migration_failed, rolling_out, rollout_conditions,
    rollout_status, waiting,
};

pub struct Inputs<'a> {
    pub obj: &'a EcsService,
    pub hash: &'a str,
    /// The ACTIVE revision carrying `hash`.
    pub desired_arn: &'a str,
    pub desired_revision: i64,
    pub service: Option<&'a ServiceView>,
    /// Which objects named by the service's berth tags still exist.
    pub owners: &'a Owners,
    /// The service's current deployment record (`currentServiceDeployment`).
    pub record: Option<&'a ServiceDeploymentView>,
    /// The Cloud Map service to register in, when serviceDiscovery is set.
    pub registry_arn: Option<&'a str>,
    /// The service's recently stopped tasks, newest first.
    pub stopped: &'a [StoppedTask],
    pub gate: Gate,
    /// A failed PostRollout check for this revision: (message, roll back?).
    pub post_check: Option<(String, bool)>,
    pub paused: bool,
    /// A PostTestTraffic MigrationJob names the service: its deployments
    /// pause after test traffic shifts.
    pub pause_post_test: bool,
    /// A PostTestTraffic MigrationJob failed for the current deployment.
    pub post_test_failed: Option<String>,
    /// The object's `berth.dev/refresh` annotation.
    pub refresh: Option<&'a str>,
    /// The PullThroughCache serving the image of the desired revision
    /// (the one that failed to pull first), or the lack of one; None for an
    /// image outside this account's private ECR.
    pub cache: Option<Serving>,
    pub now: Timestamp,
}

#[derive(Debug)]
pub struct Plan {
    pub action: ServiceAction,
    pub conditions: Vec<Desired>,
    pub rollout: Option<RolloutStatus>,
    pub last_stopped: Vec<StoppedTask>,
    /// A service exists that is not this object's and may not be adopted
    /// (AdoptionRequired or Conflict).
    pub adoption_required: bool,
    /// The spec changes a field AWS cannot update in place.
    pub immutable: Option<String>,
    /// The revision served before the current rollout (rollback target).
    pub previous_arn: Option<String>,
    /// Tags to set and remove on the service; `tags_drifted` when they
    /// changed outside berth (the spec did not change).
    pub tags: Option<TagChange>,
    pub tags_drifted: bool,
    /// The action retries a rollout ECS failed, for this reason.
    pub retry: Option<retry::Why>,
}

impl Plan {
    /// No mutation: `conditions` say why.
    fn hold(i: &Inputs<'_>, conditions: Vec<Desired>) -> Plan {
        Plan {
            action: ServiceAction::Nothing,
            conditions,
            rollout: None,
            last_stopped: i.stopped.to_vec(),
            adoption_required: false,
            immutable: None,
            previous_arn: previous_arn(i),
            tags: None,
            tags_drifted: false,
            retry: None,
        }
    }
}

fn previous_arn(i: &Inputs<'_>) -> Option<String> {
    i.obj
        .status
        .as_ref()
        .and_then(|s| s.previous_task_definition_arn.clone())
}

pub fn plan(i: &Inputs<'_>) -> Plan {
    let Some(svc) = i.service else {
        return create(i);
    };
    if let Some((reason, message)) = service_refused(i.obj, svc, i.owners) {
        return Plan {
            adoption_required: true,
            ..Plan::hold(i, conditions::failed(reason, message))
        };
    }
    if let Some(message) = launch_type_changed(i, svc) {
        let prev = i.obj.status.clone().unwrap_or_default();
        return Plan {
            rollout: prev.rollout,
            immutable: Some(message.clone()),
            ..Plan::hold(
                i,
                conditions::failed(Reason::ImmutableFieldChanged, message),
            )
        };
    }
    update(i, svc)
}

/// Tasks a new service starts with when `spec.desiredCount` is absent: ECS
/// needs a number at creation; afterwards berth never sets it (autoscaling
/// owns it).
pub const INITIAL_DESIRED_COUNT: i32 = 1;

/// No service yet: create it once the gate is open (and not paused: the
/// conditions say what berth would report, the shell says `Paused`).
fn create(i: &Inputs<'_>) -> Plan {
    let conditions = match &i.gate {
        // A service that does not exist yet has nothing to protect: its
        // first revision still waits for its migrations.
        Gate::Waiting(m) => waiting(m),
        Gate::CannotStart { waiting, cause } => migration_cannot_start(waiting, cause),
        Gate::Failed(m) => migration_failed(m),
        Gate::Open => {
            let creating = "creating the ECS service";
            vec![
                Desired::new(READY, false, Reason::Creating, creating),
                Desired::new(PROGRESSING, true, Reason::Creating, creating),
                conditions::not_degraded(),
            ]
        }
    };
    if i.paused || i.gate != Gate::Open {
        return Plan::hold(i, conditions);
    }
    Plan {
        action: ServiceAction::Create {
            task_definition: i.desired_arn.to_string(),
            desired_count: i.obj.spec.desired_count.unwrap_or(INITIAL_DESIRED_COUNT),
            registries: wanted_registries(i.obj, i.registry_arn),
            pause_post_test: i.pause_post_test,
        },
        rollout: Some(RolloutStatus {
            state: Some("IN_PROGRESS".into()),
            reason: Some("creating the service".into()),
            started_at: Some(i.now.to_string()),
            revision: Some(i.desired_revision),
            refreshed_by: i.refresh.map(str::to_string),
            pull_through_cache_warning: retry::cache_warning(i),
            ..RolloutStatus::default()
        }),
        ..Plan::hold(i, conditions)
    }
}

/// ECS cannot change a service's launch type.
fn launch_type_changed(i: &Inputs<'_>, svc: &ServiceView) -> Option<String> {
    let (want, have) = (i.obj.spec.launch_type?, svc.launch_type.as_deref()?);
    (want.as_aws() != have).then(|| {
        format!(
            "spec.launchType changed from {} to {}: ECS cannot change a service's launch type; \
             set it back, or delete the EcsService and create it again (the ECS service is replaced)",
            have,
            want.as_aws()
        )
    })
}

/// What the reconcile knows of the service and the revision it serves.
struct Facts {
    generation_changed: bool,
    hash_changed: bool,
    serving_desired: bool,
    /// ECS rolled the desired revision back (its circuit breaker).
    rolled_back: bool,
}

fn facts(i: &Inputs<'_>, svc: &ServiceView) -> Facts {
    let prev = i.obj.status.clone().unwrap_or_default();
    let hash_changed = prev.spec_hash.as_deref() != Some(i.hash);
    let serving_desired = svc.task_definition.as_deref() == Some(i.desired_arn);
    Facts {
        generation_changed: prev.observed_generation != i.obj.metadata.generation,
        hash_changed,
        serving_desired,
        rolled_back: !serving_desired
            && !hash_changed
            && deployment::rolled_back(i.record, svc, &prev, i.desired_revision),
    }
}

/// The service exists and is this object's: the one UpdateService (if
/// anything differs), the tags, the rollout and the conditions.
fn update(i: &Inputs<'_>, svc: &ServiceView) -> Plan {
    let prev = i.obj.status.clone().unwrap_or_default();
    let f = facts(i, svc);
    let (mut update, mut drift) = (ServiceUpdate::default(), Vec::new());
    revision_change(i, svc, &f, &mut update, &mut drift);
    settings::differences(i, svc, f.generation_changed, &mut update, &mut drift);
    let failed = retry::failed(i, svc, f.serving_desired, f.rolled_back, &prev);
    let retry = retry::decide(i, failed, prev.rollout.as_ref());
    if retry.is_some() {
        retry::apply(&mut update, i.desired_arn);
    }
    let tags = (!i.paused)
        .then(|| tags::change(&tags::wanted(i.obj), svc))
        .flatten();
    let action = if i.paused || !update.any() {
        ServiceAction::Nothing
    } else {
        ServiceAction::Update {
            update: Box::new(update),
            drift,
        }
    };
    let pushing =
        matches!(&action, ServiceAction::Update { update, .. } if update.pushes_revision());
    // Remember what served before a new revision, for a post-rollout
    // rollback (a retry pushes no new revision).
    let previous_arn = match pushing && retry.is_none() {
        true => svc.task_definition.clone().or(previous_arn(i)),
        false => previous_arn(i),
    };
    let mut rollout = rollout_status(svc.primary(), &prev.rollout);
    rollout.service_deployment = i.record.map(deployment::record_status);
    rollout.refreshed_by = retry::seen_refresh(i, failed, retry.as_ref(), prev.rollout.as_ref());
    rollout.pull_through_cache_warning = retry::cache_warning(i);
    if pushing {
        restart_rollout(i, &mut rollout, retry.as_ref());
    }
    if rolled_back(i, &f) && retry.is_none() {
        let starting = matches!(&action, ServiceAction::Update { update, .. } if update.rollback);
        rollout.state = Some(deployment::rollback_state(
            i.record,
            svc.primary(),
            starting,
        ));
    }
    let conditions = update_conditions(i, svc, &f, &rollout, pushing, retry.is_some());
    Plan {
        action,
        conditions,
        rollout: Some(rollout),
        previous_arn,
        tags_drifted: tags.is_some() && !f.generation_changed,
        tags,
        retry,
        ..Plan::hold(i, Vec::new())
    }
}

/// This rollout was rolled back, or is being rolled back: by ECS (circuit
/// breaker, alarm, `berth.dev/rollback`), after a failed PostTestTraffic
/// check, or by berth after a failed PostRollout check.
fn rolled_back(i: &Inputs<'_>, f: &Facts) -> bool {
    f.rolled_back || i.post_test_failed.is_some() || matches!(i.post_check, Some((_, true)))
}

/// The revision the service should run: back to the previous one after a
/// failed smoke test, else the desired one once the gate is open (unless
/// ECS rolled it back: a retry decides that).
fn revision_change(
    i: &Inputs<'_>,
    svc: &ServiceView,
    f: &Facts,
    update: &mut ServiceUpdate,
    drift: &mut Vec<String>,
) {
    if let Some((_, true)) = &i.post_check {
        let target = previous_arn(i).filter(|t| svc.task_definition.as_deref() != Some(t));
        if let (Some(target), true) = (target, f.serving_desired) {
            update.task_definition = Some(target);
            update.rollback = true;
        }
    } else if !f.serving_desired && !f.rolled_back && i.gate == Gate::Open {
        update.task_definition = Some(i.desired_arn.to_string());
        if !f.hash_changed && !f.generation_changed {
            drift.push("taskDefinition".into());
        }
    }
}

/// A new push restarts the rollout's clock and record.
fn restart_rollout(i: &Inputs<'_>, rollout: &mut RolloutStatus, retry: Option<&retry::Why>) {
    rollout.state = Some("IN_PROGRESS".into());
    rollout.reason = Some(rolling_message(i, retry.is_some()));
    rollout.retried_for = retry.map(retry::Why::record);
    rollout.started_at = Some(i.now.to_string());
    rollout.failed_tasks = 0;
    rollout.revision = Some(i.desired_revision);
    // The new deployment's record is known from the update's answer.
    rollout.service_deployment = None;
}

fn rolling_message(i: &Inputs<'_>, retrying: bool) -> String {
    match retrying {
        true => format!(
            "retrying the failed rollout of revision {}",
            i.desired_revision
        ),
        false => format!("rolling out revision {}", i.desired_revision),
    }
}

fn update_conditions(
    i: &Inputs<'_>,
    svc: &ServiceView,
    f: &Facts,
    rollout: &RolloutStatus,
    pushing: bool,
    retrying: bool,
) -> Vec<Desired> {
    let primary = svc.primary();
    if let Some((message, rollback)) = &i.post_check {
        let message = match rollback {
            true => format!("{message}; rolled back to the previous revision"),
            false => format!(
                "{message}; rollbackOnFailure is off, revision {} keeps serving",
                i.desired_revision
            ),
        };
        return conditions::failed(Reason::PostRolloutCheckFailed, message);
    }
    if let Some(message) = &i.post_test_failed {
        return conditions::failed(Reason::PostTestTrafficCheckFailed, message.clone());
    }
    if f.rolled_back && !retrying {
        let prev = i.obj.status.clone().unwrap_or_default();
        return deployment::rolled_back_conditions(
            i.record,
            i.desired_revision,
            failure_summary(i.stopped, None),
            prev.rollback_requested.as_deref(),
        );
    }
    if pushing {
        let rolling = rolling_message(i, retrying);
        return vec![
            Desired::new(READY, false, Reason::RollingOut, rolling.clone()),
            Desired::new(PROGRESSING, true, Reason::RollingOut, rolling),
            conditions::not_degraded(),
        ];
    }
    match &i.gate {
        _ if f.serving_desired => rollout_conditions(i, svc, primary, rollout, i.stopped),
        Gate::Waiting(m) => waiting(m),
        Gate::CannotStart { waiting, cause } => migration_cannot_start(waiting, cause),
        Gate::Failed(m) => migration_failed(m),
        Gate::Open => rolling_out(i.desired_revision, rollout, svc),
    }
}
