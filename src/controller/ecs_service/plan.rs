//! The pure part of the EcsService reconcile: from the spec, what AWS
//! reports and what berth recorded last time, decide the one service
//! mutation to make (if any) and the conditions to report.

use k8s_openapi::jiff::Timestamp;

use crate::api::conditions::{self, Desired, Reason, DEGRADED, PROGRESSING, READY};
use crate::api::ecs_service::{EcsService, RolloutStatus, StoppedTask};
use crate::api::migration_job::{Hook, MigrationJob, Phase};
use crate::aws::ecs::service_tags::{self as tags, TagChange};
use crate::aws::ecs::services::{wanted_registries, ServiceUpdate};
use crate::aws::ecs::views::RegistryView;
use crate::aws::ecs::{DeploymentView, ServiceDeploymentView, ServiceView};

use super::deployment;
use super::retry;
use crate::controller::ownership::Owners;

/// State of the pre-rollout gate (MigrationJobs with hook PreRollout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    Open,
    Waiting(String),
    Failed(String),
}

/// The gate for revision `hash` of service `service` from the MigrationJobs
/// of its namespace: every PreRollout job naming it must have succeeded
/// for exactly this hash. A failure for this hash closes the gate.
pub fn gate(jobs: &[MigrationJob], service: &str, hash: &str) -> Gate {
    let pre: Vec<&MigrationJob> = jobs
        .iter()
        .filter(|j| {
            j.spec.hook == Hook::PreRollout
                && j.spec
                    .service_ref
                    .as_ref()
                    .is_some_and(|r| r.name == service)
                && j.metadata.deletion_timestamp.is_none()
        })
        .collect();
    let mut waiting = Vec::new();
    for job in &pre {
        let name = job.metadata.name.clone().unwrap_or_default();
        let status = job.status.clone().unwrap_or_default();
        let for_this = status.service_hash.as_deref() == Some(hash);
        match (status.phase, for_this) {
            (Some(Phase::Succeeded), true) => {}
            (Some(Phase::Failed), true) => {
                return Gate::Failed(format!(
                    "MigrationJob {name} failed{}{}; the previous revision keeps serving",
                    status
                        .exit_code
                        .map(|c| format!(" with exit code {c}"))
                        .unwrap_or_default(),
                    status
                        .stopped_reason
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ));
            }
            // An attempt that could not start (a failed pull, say) is
            // retried by the job; the service says why it still waits.
            (_, true)
                if status.attempts > 0 && status.start_failures.contains(&status.attempts) =>
            {
                waiting.push(match status.stopped_reason.as_deref() {
                    Some(r) => format!("{name} (attempt {} could not start: {r})", status.attempts),
                    None => name,
                })
            }
            _ => waiting.push(name),
        }
    }
    if waiting.is_empty() {
        Gate::Open
    } else {
        waiting.sort();
        Gate::Waiting(format!(
            "waiting for PreRollout MigrationJob(s) {} to succeed for revision hash {hash}",
            waiting.join(", ")
        ))
    }
}

/// A failed PostRollout MigrationJob for revision `hash` of `service`:
/// (message, whether it asks for a rollback).
pub fn post_check(jobs: &[MigrationJob], service: &str, hash: &str) -> Option<(String, bool)> {
    jobs.iter()
        .filter(|j| {
            j.spec.hook == Hook::PostRollout
                && j.spec
                    .service_ref
                    .as_ref()
                    .is_some_and(|r| r.name == service)
        })
        .find_map(|j| {
            let st = j.status.as_ref()?;
            (st.phase == Some(Phase::Failed) && st.service_hash.as_deref() == Some(hash)).then(
                || {
                    (
                        format!(
                            "PostRollout MigrationJob {} failed{}",
                            j.metadata.name.as_deref().unwrap_or_default(),
                            st.exit_code
                                .map(|c| format!(" with exit code {c}"))
                                .unwrap_or_default()
                        ),
                        j.spec.rollback_on_failure,
                    )
                },
            )
        })
}

#[derive(Clone, Debug, PartialEq)]
pub enum ServiceAction {
    Nothing,
    /// The CreateService to send, with everything the plan decided for it.
    Create {
        task_definition: String,
        /// The Cloud Map registries (none without serviceDiscovery).
        registries: Vec<RegistryView>,
        /// A PostTestTraffic MigrationJob names the service: its first
        /// deployment already pauses after test traffic shifts.
        pause_post_test: bool,
    },
    /// The UpdateService to send; `drift` names the fields changed outside berth.
    Update {
        update: Box<ServiceUpdate>,
        drift: Vec<String>,
    },
}

/// The names of the fields `u` sets, as the plan names drift.
pub fn fields_of(u: &ServiceUpdate) -> Vec<&'static str> {
    // Destructured whole: a new field does not compile until it is named.
    let ServiceUpdate {
        task_definition,
        rollback: _,
        desired_count,
        deployment,
        pause_post_test: _,
        network,
        registries,
        load_balancers,
        health_check_grace_period_seconds,
        enable_execute_command,
        platform_version,
        capacity_provider_strategy,
        force_new_deployment: _,
    } = u;
    [
        (task_definition.is_some(), "taskDefinition"),
        (desired_count.is_some(), "desiredCount"),
        (deployment.is_some(), "deploymentConfiguration"),
        (network.is_some(), "networkConfiguration"),
        (registries.is_some(), "serviceRegistries"),
        (load_balancers.is_some(), "loadBalancers"),
        (
            health_check_grace_period_seconds.is_some(),
            "healthCheckGracePeriodSeconds",
        ),
        (enable_execute_command.is_some(), "enableExecuteCommand"),
        (platform_version.is_some(), "platformVersion"),
        (
            capacity_provider_strategy.is_some(),
            "capacityProviderStrategy",
        ),
    ]
    .into_iter()
    .filter_map(|(set, name)| set.then_some(name))
    .collect()
}

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
    /// The Ready PullThroughCache serving an image the desired revision's
    /// stopped tasks could not pull.
    pub cache: Option<retry::CacheReady>,
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

pub fn plan(i: &Inputs<'_>) -> Plan {
    let spec = &i.obj.spec;
    let prev = i.obj.status.clone().unwrap_or_default();
    let last_stopped = i.stopped.to_vec();

    let Some(svc) = i.service else {
        let (action, conditions) = if i.paused {
            (ServiceAction::Nothing, paused_conditions(false))
        } else {
            match &i.gate {
                // A service that does not exist yet has nothing to protect:
                // its first revision still waits for its migrations.
                Gate::Waiting(m) => (ServiceAction::Nothing, waiting(m)),
                Gate::Failed(m) => (ServiceAction::Nothing, migration_failed(m)),
                Gate::Open => (
                    ServiceAction::Create {
                        task_definition: i.desired_arn.to_string(),
                        registries: wanted_registries(i.obj, i.registry_arn),
                        pause_post_test: i.pause_post_test,
                    },
                    vec![
                        Desired::new(READY, false, Reason::Creating, "creating the ECS service"),
                        Desired::new(
                            PROGRESSING,
                            true,
                            Reason::Creating,
                            "creating the ECS service",
                        ),
                        conditions::not_degraded(),
                    ],
                ),
            }
        };
        let creating = matches!(action, ServiceAction::Create { .. });
        let rollout = creating.then(|| RolloutStatus {
            state: Some("IN_PROGRESS".into()),
            reason: Some("creating the service".into()),
            started_at: Some(i.now.to_string()),
            revision: Some(i.desired_revision),
            refreshed_by: i.refresh.map(str::to_string),
            ..RolloutStatus::default()
        });
        return Plan {
            action,
            conditions,
            rollout,
            last_stopped,
            adoption_required: false,
            immutable: None,
            previous_arn: prev.previous_task_definition_arn.clone(),
            tags: None,
            tags_drifted: false,
            retry: None,
        };
    };

    if let Some((reason, message)) = super::claim::service_refused(i.obj, svc, i.owners) {
        return Plan {
            action: ServiceAction::Nothing,
            conditions: conditions::failed(reason, message),
            rollout: None,
            last_stopped,
            adoption_required: true,
            immutable: None,
            previous_arn: prev.previous_task_definition_arn.clone(),
            tags: None,
            tags_drifted: false,
            retry: None,
        };
    }

    if let (Some(want), Some(have)) = (spec.launch_type, svc.launch_type.as_deref()) {
        if want.as_aws() != have {
            let message = format!(
                "spec.launchType changed from {} to {}: ECS cannot change a service's launch type; \
                 set it back, or delete the EcsService and create it again (the ECS service is replaced)",
                have,
                want.as_aws()
            );
            return Plan {
                action: ServiceAction::Nothing,
                conditions: conditions::failed(Reason::ImmutableFieldChanged, message.clone()),
                rollout: prev.rollout.clone(),
                last_stopped,
                adoption_required: false,
                immutable: Some(message),
                previous_arn: prev.previous_task_definition_arn.clone(),
                tags: None,
                tags_drifted: false,
                retry: None,
            };
        }
    }

    let generation_changed = prev.observed_generation != i.obj.metadata.generation;
    let hash_changed = prev.spec_hash.as_deref() != Some(i.hash);
    let serving_desired = svc.task_definition.as_deref() == Some(i.desired_arn);
    let rolled_back = !serving_desired
        && !hash_changed
        && deployment::rolled_back(i.record, svc, &prev, i.desired_revision);

    let mut update = ServiceUpdate::default();
    let mut drift = Vec::new();
    let changed = |name: &str, drift: &mut Vec<String>| {
        if !generation_changed {
            drift.push(name.to_string());
        }
    };

    let previous = prev.previous_task_definition_arn.clone();
    if let Some((_, true)) = &i.post_check {
        // A failed smoke test: back to the revision that served before.
        if let Some(target) = previous
            .as_deref()
            .filter(|t| svc.task_definition.as_deref() != Some(*t))
        {
            if serving_desired {
                update.task_definition = Some(target.to_string());
                update.rollback = true;
            }
        }
    } else if !serving_desired && !rolled_back {
        match &i.gate {
            Gate::Open => {
                update.task_definition = Some(i.desired_arn.to_string());
                if !hash_changed && !generation_changed {
                    drift.push("taskDefinition".into());
                }
            }
            Gate::Waiting(_) | Gate::Failed(_) => {}
        }
    }
    if let Some(n) = spec.desired_count.filter(|n| *n != svc.desired_count) {
        update.desired_count = Some(n);
        changed("desiredCount", &mut drift);
    }
    if deployment::config_differs(i.obj, svc, i.pause_post_test) {
        update.deployment = Some(spec.deployment.clone());
        update.pause_post_test = i.pause_post_test;
        changed("deploymentConfiguration", &mut drift);
    }
    if deployment::network_differs(i.obj, svc) {
        update.network = spec.network_configuration.clone();
        changed("networkConfiguration", &mut drift);
    }
    let registries = wanted_registries(i.obj, i.registry_arn);
    if registries != svc.registries {
        update.registries = Some(registries);
        changed("serviceRegistries", &mut drift);
    }
    if deployment::load_balancers_differ(i.obj, svc) {
        update.load_balancers = Some(spec.load_balancers.clone());
        changed("loadBalancers", &mut drift);
    }
    if let Some(g) = spec
        .health_check_grace_period_seconds
        .filter(|g| svc.health_check_grace_period_seconds != Some(*g))
    {
        update.health_check_grace_period_seconds = Some(g);
        changed("healthCheckGracePeriodSeconds", &mut drift);
    }
    if svc.enable_execute_command != spec.enable_execute_command {
        update.enable_execute_command = Some(spec.enable_execute_command);
        changed("enableExecuteCommand", &mut drift);
    }
    if let Some(p) = spec
        .platform_version
        .as_ref()
        .filter(|p| svc.platform_version.as_deref() != Some(p.as_str()))
    {
        update.platform_version = Some(p.clone());
        changed("platformVersion", &mut drift);
    }
    if !spec.capacity_provider_strategy.is_empty() && deployment::capacity_differs(i.obj, svc) {
        update.capacity_provider_strategy = Some(spec.capacity_provider_strategy.clone());
        changed("capacityProviderStrategy", &mut drift);
    }
    let failed = retry::failed(i, svc, serving_desired, rolled_back, &prev);
    let retry = retry::decide(i, failed, prev.rollout.as_ref());
    if retry.is_some() {
        retry::apply(&mut update, i.desired_arn);
    }

    let tag_change = if i.paused {
        None
    } else {
        tags::change(&tags::wanted(i.obj), svc)
    };
    let tags_drifted = tag_change.is_some() && !generation_changed;

    let action = if i.paused || !update.any() {
        ServiceAction::Nothing
    } else {
        ServiceAction::Update {
            update: Box::new(update),
            drift,
        }
    };

    // Rollout: a new push restarts the clock; otherwise follow ECS.
    let primary = svc.primary();
    let pushing_revision =
        matches!(&action, ServiceAction::Update { update, .. } if update.pushes_revision());
    // Remember what served before a new revision, for a post-rollout
    // rollback (a retry pushes no new revision).
    let previous_arn = if pushing_revision && retry.is_none() {
        svc.task_definition.clone().or(previous)
    } else {
        previous
    };
    let mut rollout = rollout_status(primary, &prev.rollout);
    rollout.service_deployment = i.record.map(deployment::record_status);
    rollout.refreshed_by = retry::seen_refresh(i, failed, retry.as_ref(), prev.rollout.as_ref());
    let rolling = match &retry {
        Some(_) => format!(
            "retrying the failed rollout of revision {}",
            i.desired_revision
        ),
        None => format!("rolling out revision {}", i.desired_revision),
    };
    if pushing_revision {
        rollout.state = Some("IN_PROGRESS".into());
        rollout.reason = Some(rolling.clone());
        rollout.retried_for = retry.as_ref().map(retry::Why::record);
        rollout.started_at = Some(i.now.to_string());
        rollout.failed_tasks = 0;
        rollout.revision = Some(i.desired_revision);
        // The new deployment's record is known from the update's answer.
        rollout.service_deployment = None;
    }

    let conditions = if i.paused {
        paused_conditions(serving_desired && is_complete(primary))
    } else if let Some((message, rollback)) = &i.post_check {
        let message = if *rollback {
            format!("{message}; rolled back to the previous revision")
        } else {
            format!(
                "{message}; rollbackOnFailure is off, revision {} keeps serving",
                i.desired_revision
            )
        };
        conditions::failed(Reason::PostRolloutCheckFailed, message)
    } else if let Some(message) = &i.post_test_failed {
        conditions::failed(Reason::PostTestTrafficCheckFailed, message.clone())
    } else if rolled_back && retry.is_none() {
        deployment::rolled_back_conditions(
            i.record,
            i.desired_revision,
            failure_summary(&last_stopped, None),
            prev.rollback_requested.as_deref(),
        )
    } else if !serving_desired && !pushing_revision {
        match &i.gate {
            Gate::Waiting(m) => waiting(m),
            Gate::Failed(m) => migration_failed(m),
            Gate::Open => rolling_out(i.desired_revision, &rollout, svc),
        }
    } else if pushing_revision {
        vec![
            Desired::new(READY, false, Reason::RollingOut, rolling.clone()),
            Desired::new(PROGRESSING, true, Reason::RollingOut, rolling),
            conditions::not_degraded(),
        ]
    } else {
        rollout_conditions(i, svc, primary, &rollout, &last_stopped)
    };

    Plan {
        action,
        conditions,
        rollout: Some(rollout),
        last_stopped,
        adoption_required: false,
        immutable: None,
        previous_arn,
        tags: tag_change,
        tags_drifted,
        retry,
    }
}

/// Whether revisions may be pruned at all: ECS numbers a family's
/// revisions from 1, so up to revision `limit` there cannot be more than
/// `limit` of them (and nothing needs listing).
pub fn may_prune(desired_arn: &str, revision_history_limit: i32) -> bool {
    let limit = revision_history_limit.max(1) as i64;
    revision_of(desired_arn).is_none_or(|r| r > limit)
}

/// berth's revisions to deregister, oldest first: the newest
/// `revisionHistoryLimit` of `owned` stay, and so do the desired revision,
/// the rollback target (`previous`, and the newest owned revision other
/// than the desired one) and every revision a deployment of the service
/// runs (`in_use`), wherever they are in the history.
pub fn revisions_to_prune(
    owned: &[String],
    desired_arn: &str,
    previous: Option<&str>,
    in_use: &[String],
    revision_history_limit: i32,
) -> Vec<String> {
    let limit = revision_history_limit.max(1) as usize;
    let mut newest_first: Vec<&String> = owned.iter().collect();
    newest_first.sort_by_key(|arn| std::cmp::Reverse(revision_of(arn)));
    let rollback_target = newest_first
        .iter()
        .find(|a| a.as_str() != desired_arn)
        .map(|a| a.as_str());
    let protected = |arn: &str| {
        arn == desired_arn
            || Some(arn) == previous
            || Some(arn) == rollback_target
            || in_use.iter().any(|u| u == arn)
    };
    let mut prune: Vec<String> = newest_first
        .iter()
        .enumerate()
        .filter(|(kept, arn)| *kept >= limit && !protected(arn))
        .map(|(_, arn)| arn.to_string())
        .collect();
    prune.reverse();
    prune
}

/// `...:task-definition/FAMILY:REV` -> `REV`.
fn revision_of(arn: &str) -> Option<i64> {
    arn.rsplit_once(':').and_then(|(_, r)| r.parse().ok())
}

fn is_complete(primary: Option<&DeploymentView>) -> bool {
    primary.is_some_and(|d| d.is("COMPLETED"))
}

fn rollout_status(primary: Option<&DeploymentView>, prev: &Option<RolloutStatus>) -> RolloutStatus {
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
            }
        }
    }
}

fn rollout_conditions(
    i: &Inputs<'_>,
    svc: &ServiceView,
    primary: Option<&DeploymentView>,
    rollout: &RolloutStatus,
    stopped: &[StoppedTask],
) -> Vec<Desired> {
    let spec = &i.obj.spec;
    let desired = svc.desired_count;
    let running = svc.running_count;
    let state = primary.and_then(|d| d.rollout_state.clone());
    let failing = failure_summary(stopped, Some(i.desired_arn));
    if let Some(failed) =
        deployment::failed_conditions(i.record, i.desired_revision, failing.as_deref())
    {
        return failed;
    }
    match state.as_deref() {
        Some("COMPLETED") if running >= desired => vec![
            Desired::new(
                READY,
                true,
                Reason::RolloutComplete,
                format!(
                    "revision {} is running {running}/{desired} tasks",
                    i.desired_revision
                ),
            ),
            Desired::new(
                PROGRESSING,
                false,
                Reason::RolloutComplete,
                "the last rollout completed",
            ),
            conditions::not_degraded(),
        ],
        Some("FAILED") => {
            let message = format!(
                "the rollout of revision {} failed: {}{}",
                i.desired_revision,
                rollout
                    .reason
                    .as_deref()
                    .unwrap_or("ECS marked the deployment FAILED"),
                failing
                    .as_deref()
                    .map(|f| format!("; {f}"))
                    .unwrap_or_default()
            );
            conditions::failed(Reason::RolloutFailed, message)
        }
        _ => {
            let deadline = i64::from(spec.deployment.progress_deadline_seconds);
            let started = rollout
                .started_at
                .as_deref()
                .and_then(|s| s.parse::<Timestamp>().ok());
            let elapsed = started.map(|s| i.now.as_second() - s.as_second());
            let progress = format!(
                "revision {}: {running}/{desired} running, {} pending",
                i.desired_revision, svc.pending_count
            );
            if elapsed.is_some_and(|e| e > deadline) {
                // Tasks can be RUNNING and still not healthy (health checks,
                // load balancer registration): say what did not happen.
                let message = format!(
                    "revision {} did not become stable within progressDeadlineSeconds ({deadline}s): \
                     ECS still reports the rollout IN_PROGRESS with {running} of {desired} tasks running \
                     and {} pending, so its tasks have not all started and passed their health checks{}",
                    i.desired_revision,
                    svc.pending_count,
                    failing.as_deref().map(|f| format!("; {f}")).unwrap_or_default()
                );
                conditions::failed(Reason::ProgressDeadlineExceeded, message)
            } else if let Some(f) = failing {
                vec![
                    Desired::new(
                        READY,
                        false,
                        Reason::TasksFailing,
                        format!("{progress}; {f}"),
                    ),
                    Desired::new(PROGRESSING, true, Reason::RollingOut, progress.clone()),
                    Desired::new(DEGRADED, true, Reason::TasksFailing, f),
                ]
            } else {
                rolling_out(i.desired_revision, rollout, svc)
            }
        }
    }
}

fn rolling_out(revision: i64, rollout: &RolloutStatus, svc: &ServiceView) -> Vec<Desired> {
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

fn waiting(message: &str) -> Vec<Desired> {
    vec![
        Desired::new(READY, false, Reason::WaitingForMigrations, message),
        Desired::new(PROGRESSING, true, Reason::WaitingForMigrations, message),
        conditions::not_degraded(),
    ]
}

fn migration_failed(message: &str) -> Vec<Desired> {
    conditions::failed(Reason::MigrationFailed, message)
}

fn paused_conditions(ready: bool) -> Vec<Desired> {
    let message = "berth.dev/paused is \"true\": berth makes no AWS changes for this service";
    vec![
        Desired::new(READY, ready, Reason::Paused, message),
        Desired::new(PROGRESSING, false, Reason::Paused, message),
        Desired::new(DEGRADED, false, Reason::Paused, message),
    ]
}

/// `N tasks stopped: <reason> (container exited with code X)` over the
/// failed stopped tasks (of `revision` when given).
fn failure_summary(stopped: &[StoppedTask], revision: Option<&str>) -> Option<String> {
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

fn is_failure(t: &StoppedTask) -> bool {
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
