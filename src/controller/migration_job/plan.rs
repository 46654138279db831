//! The pure part of the MigrationJob reconcile: the run's identity, what to
//! run (from the job and the EcsService it borrows from), and, from what ECS
//! reports about the run's newest task, the one step to take next and the
//! conditions to report.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::api::aurora_cluster::AuroraCluster;
use crate::api::common::{EnvVar, Tags};
use crate::api::conditions::{self, Desired, Reason, DEGRADED, PROGRESSING, READY};
use crate::api::ecs_service::EcsService;
use crate::api::migration_job::{Hook, MigrationJob, MigrationJobStatus, Phase};
pub use crate::aws::ecs::tasks::started_by;
use crate::aws::ecs::tasks::{RunTarget, TaskView};

/// How often a running task is described.
pub const POLL: Duration = Duration::from_secs(3);
const BACKOFF_BASE_SECS: i64 = 5;
const BACKOFF_CAP_SECS: i64 = 60;

/// Spec fields that say how to treat a run, not what runs: changing them
/// must not run a succeeded migration again.
const POLICY_FIELDS: [&str; 6] = [
    "backoffLimit",
    "activeDeadlineSeconds",
    "ttlSecondsAfterFinished",
    "hook",
    "rollbackOnFailure",
    // What status keeps of the output, not what runs.
    "logTail",
];

/// The identity of a run: what runs (the spec without its policy fields),
/// for which object (`<namespace>/<name>`: two jobs with the same spec are
/// two runs), and with `serviceRef` the service revision hash it runs with.
pub fn run_hash(job: &MigrationJob, owner: &str, service_hash: Option<&str>) -> String {
    let mut spec = serde_json::to_value(&job.spec).unwrap_or(Value::Null);
    if let Some(map) = spec.as_object_mut() {
        for key in POLICY_FIELDS {
            map.remove(key);
        }
    }
    let content = serde_json::json!({
        "owner": owner,
        "spec": spec,
        "serviceHash": service_hash,
    });
    crate::hash::content_hash(&content)
}

/// The family of the task definitions a job registers from its service's:
/// `<service family>-<job name>`, with the characters ECS does not allow in
/// a family (a Kubernetes name may hold dots) replaced, and cut to ECS's 255
/// characters with a hash of the whole name kept, so two long names differ.
pub fn derived_family(service_family: &str, job: &str) -> String {
    const MAX: usize = 255;
    let joined = if job.is_empty() {
        service_family.to_string()
    } else {
        format!("{service_family}-{job}")
    };
    let full: String = joined
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if full.len() <= MAX {
        return full;
    }
    let hash = crate::hash::content_hash(&Value::String(full.clone()));
    format!("{}-{hash}", &full[..MAX - hash.len() - 1])
}

/// Why there is nothing to run yet, or cannot be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unresolved {
    /// The EcsService is missing or has no revision yet.
    WaitingForService(String),
    /// A PostRollout job waits until its service runs the new revision.
    WaitingForRollout(String),
    /// A mistake only a human fixes (`spec.container` names no container).
    Invalid(String),
}

/// Resolves what runs. `service` is the EcsService named in `serviceRef`
/// (None when it does not exist).
pub fn resolve(job: &MigrationJob, service: Option<&EcsService>) -> Result<RunTarget, Unresolved> {
    let spec = &job.spec;
    let name = job.metadata.name.clone().unwrap_or_default();
    let mut service_deployment = None;
    let (
        mut td,
        cluster,
        network,
        launch_type,
        capacity,
        platform_version,
        arn,
        family,
        hash,
        tags,
    ) = match (&spec.service_ref, &spec.task_definition) {
        (Some(r), _) => {
            let Some(svc) = service else {
                return Err(Unresolved::WaitingForService(format!(
                    "EcsService {:?} (spec.serviceRef) does not exist",
                    r.name
                )));
            };
            let status = svc.status.clone().unwrap_or_default();
            let (Some(arn), Some(hash)) = (status.task_definition_arn, status.spec_hash) else {
                return Err(Unresolved::WaitingForService(format!(
                    "EcsService {:?} has not registered a task definition yet",
                    r.name
                )));
            };
            if spec.hook == Hook::PostRollout && !conditions::is_true(&status.conditions, READY) {
                return Err(Unresolved::WaitingForRollout(format!(
                    "waiting for EcsService {:?} to finish rolling out revision {}",
                    r.name,
                    status.revision.unwrap_or_default()
                )));
            }
            if spec.hook == Hook::PostTestTraffic {
                let paused = status
                    .rollout
                    .as_ref()
                    .and_then(|r| r.service_deployment.as_ref())
                    .filter(|d| d.awaiting_hook.is_some());
                match paused {
                    Some(d) => service_deployment = Some(d.arn.clone()),
                    None => {
                        return Err(Unresolved::WaitingForRollout(format!(
                        "waiting for a deployment of EcsService {:?} to pause after test traffic \
                             (strategy BLUE_GREEN, LINEAR or CANARY)",
                        r.name
                    )))
                    }
                }
            }
            let s = &svc.spec;
            let family = derived_family(&svc.family(), &name);
            (
                s.task_definition.clone(),
                s.cluster.clone(),
                s.network_configuration.clone(),
                s.launch_type,
                s.capacity_provider_strategy.clone(),
                s.platform_version.clone(),
                Some(arn),
                family,
                Some(hash),
                s.tags.clone(),
            )
        }
        (None, Some(td)) => (
            td.clone(),
            spec.cluster.clone().unwrap_or_default(),
            spec.network_configuration.clone(),
            spec.launch_type,
            spec.capacity_provider_strategy.clone(),
            spec.platform_version.clone(),
            None,
            td.family
                .clone()
                .unwrap_or_else(|| derived_family(&name, "")),
            None,
            Tags::new(),
        ),
        (None, None) => {
            return Err(Unresolved::Invalid(
                "set exactly one of serviceRef and taskDefinition".into(),
            ))
        }
    };
    let container = match &spec.container {
        Some(c) => {
            if !td.containers.iter().any(|x| &x.name == c) {
                return Err(Unresolved::Invalid(format!(
                    "spec.container {c:?} is not a container of the task definition"
                )));
            }
            c.clone()
        }
        None => td
            .first_essential()
            .or(td.containers.first())
            .map(|c| c.name.clone())
            .ok_or_else(|| Unresolved::Invalid("the task definition has no container".into()))?,
    };
    let mut arn = arn;
    if let Some(image) = &spec.image {
        // RunTask overrides cannot change an image: a derived revision is
        // registered (and reused by its hash tag) instead.
        for c in td.containers.iter_mut().filter(|c| c.name == container) {
            c.image = image.clone();
        }
        arn = None;
    }
    // The family is berth's choice, not the borrowed spec's.
    td.family = None;
    Ok(RunTarget {
        cluster,
        network,
        launch_type,
        capacity,
        platform_version,
        task_definition: td,
        arn,
        family,
        container,
        service_hash: hash,
        service_deployment,
        user_tags: tags,
    })
}

pub struct Inputs<'a> {
    pub backoff_limit: i32,
    pub active_deadline_seconds: Option<i64>,
    /// Status of this run (already reset when the run hash is new).
    pub status: &'a MigrationJobStatus,
    /// The run's newest task, if ECS knows one.
    pub task: Option<&'a TaskView>,
    /// The object's `berth.dev/refresh` annotation.
    pub refresh: Option<&'a str>,
    pub now: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do in AWS; reconcile again after this long (None: the
    /// run is over).
    Wait(Option<Duration>),
    /// Start this attempt (after making sure ECS has no task for it).
    Run { attempt: i32 },
    /// Past the deadline: stop the running task.
    Stop { task_arn: String },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub step: Step,
    pub phase: Phase,
    pub reason: Reason,
    pub message: String,
    /// The run ends with this reconcile (record finishedAt, logs, an Event).
    pub finished: bool,
    /// This attempt's task never started: record it (it does not count
    /// against backoffLimit).
    pub start_failure: Option<i32>,
    /// A Failed run starts a new try because `berth.dev/refresh` has this new value.
    pub refresh: Option<String>,
}

impl Plan {
    fn new(step: Step, phase: Phase, reason: Reason, message: String) -> Self {
        // Checked and recorded like a condition's (`Desired::new`).
        #[cfg(test)]
        crate::api::reasons::coverage::check(reason, &message);
        Self {
            step,
            phase,
            reason,
            message,
            finished: false,
            start_failure: None,
            refresh: None,
        }
    }

    fn finish(phase: Phase, reason: Reason, message: String) -> Self {
        Self {
            finished: true,
            ..Self::new(Step::Wait(None), phase, reason, message)
        }
    }
}

/// Wait before attempt `failed + 1`: 5 s doubling per failed attempt, at most 60 s.
pub fn backoff(failed: i32) -> Duration {
    let exp = (failed - 1).clamp(0, 10) as u32;
    Duration::from_secs(
        BACKOFF_BASE_SECS
            .saturating_mul(1 << exp)
            .min(BACKOFF_CAP_SECS) as u64,
    )
}

/// When the run must be over: from the first attempt's start.
fn deadline(i: &Inputs<'_>) -> Option<Timestamp> {
    let secs = i.active_deadline_seconds?;
    let started = i
        .status
        .started_at
        .as_deref()
        .and_then(|s| s.parse::<Timestamp>().ok())
        .or_else(|| i.task.and_then(|t| t.created_at))?;
    started.checked_add(SignedDuration::from_secs(secs)).ok()
}

fn until(now: Timestamp, then: Timestamp) -> Duration {
    let d = then.duration_since(now);
    if d.is_negative() {
        Duration::ZERO
    } else {
        d.unsigned_abs()
    }
}

/// Attempts of one try whose task could not start before the run fails
/// (`TaskNeverStarted`): bounded apart from `backoffLimit`, which counts only
/// attempts that ran the command.
pub const MAX_START_FAILURES: usize = 10;

/// A Failed run whose `berth.dev/refresh` has a value it has not honored yet:
/// the documented lever after a human fixed what made it fail.
pub fn refresh_requested(s: &MigrationJobStatus, refresh: Option<&str>) -> bool {
    s.phase == Some(Phase::Failed) && refresh.is_some_and(|r| s.refreshed_by.as_deref() != Some(r))
}

/// The `berth.dev/refresh` value the run has accounted for. Until the run
/// is Failed, whatever value the object carries (left by an earlier rerun, a
/// "reconcile now", or the manifest) asks for nothing and is taken as seen;
/// once Failed, only a value other than the last seen starts a new try.
pub fn seen_refresh(s: &MigrationJobStatus, refresh: Option<&str>) -> Option<String> {
    match s.phase {
        Some(Phase::Failed) => s.refreshed_by.clone(),
        _ => refresh.map(str::to_string),
    }
}

pub fn plan(i: &Inputs<'_>) -> Plan {
    let s = i.status;
    // A finished run keeps the reason and message it finished with.
    let reason_of = |type_, otherwise: Reason| {
        conditions::find(&s.conditions, type_)
            .map(|c| {
                (
                    Reason::parse(&c.reason).unwrap_or(otherwise),
                    c.message.clone(),
                )
            })
            .unwrap_or((
                otherwise,
                format!("the run {}", otherwise.as_str().to_lowercase()),
            ))
    };
    match s.phase {
        // A finished run stays finished: re-applying never runs it again.
        Some(Phase::Succeeded) => {
            let (reason, message) = reason_of(READY, Reason::Succeeded);
            return Plan::new(Step::Wait(None), Phase::Succeeded, reason, message);
        }
        Some(Phase::Failed) if refresh_requested(s, i.refresh) => {
            let attempt = s.attempts + 1;
            return Plan {
                refresh: i.refresh.map(str::to_string),
                ..Plan::new(
                    Step::Run { attempt },
                    Phase::Running,
                    Reason::Retrying,
                    format!(
                        "berth.dev/refresh changed: attempt {attempt} starts a new try with a fresh backoffLimit"
                    ),
                )
            };
        }
        Some(Phase::Failed) => {
            let (reason, message) = reason_of(DEGRADED, Reason::BackoffLimitExceeded);
            return Plan::new(Step::Wait(None), Phase::Failed, reason, message);
        }
        _ => {}
    }
    let max = i.backoff_limit + 1;
    let deadline = deadline(i);
    let past_deadline = deadline.is_some_and(|d| i.now >= d);
    let deadline_message = || {
        format!(
            "activeDeadlineSeconds ({}) exceeded",
            i.active_deadline_seconds.unwrap_or_default()
        )
    };
    let in_try = |a: &&i32| **a > s.try_started_after;
    // Attempts of this try through `attempt` that ran the command.
    let counted = |attempt: i32| {
        attempt
            - s.try_started_after
            - s.start_failures
                .iter()
                .filter(in_try)
                .filter(|a| **a <= attempt)
                .count() as i32
    };

    let recorded;
    let t = match i.task {
        Some(t) => t,
        None if s.attempts == s.try_started_after => {
            return Plan::new(
                Step::Run {
                    attempt: s.attempts + 1,
                },
                Phase::Pending,
                Reason::Starting,
                "starting the task".into(),
            );
        }
        // ECS forgot the task (about an hour after it stopped), but berth saw
        // it stop and recorded how: go on from the record.
        None if s.finished_at.is_some() => {
            recorded = TaskView {
                arn: s.task_arn.clone().unwrap_or_default(),
                attempt: s.attempts,
                last_status: "STOPPED".into(),
                exit_code: s.exit_code,
                stopped_reason: s.stopped_reason.clone(),
                stop_code: s
                    .start_failures
                    .contains(&s.attempts)
                    .then(|| "TaskFailedToStart".to_string()),
                container_reason: None,
                created_at: None,
                stopped_at: None,
            };
            &recorded
        }
        None if past_deadline => {
            return Plan::finish(Phase::Failed, Reason::DeadlineExceeded, deadline_message());
        }
        // Gone before berth saw it stop: it may have run. Never run a
        // migration twice silently; a human decides with berth.dev/refresh.
        None => {
            return Plan::finish(
                Phase::Failed,
                Reason::TaskResultUnknown,
                format!(
                    "task {} of attempt {} is no longer known to ECS and berth never saw it stop, so whether it ran is unknown; set berth.dev/refresh to a new value to run it again",
                    s.task_arn.as_deref().unwrap_or("(unrecorded)"),
                    s.attempts
                ),
            );
        }
    };

    if !t.stopped() {
        if past_deadline {
            return Plan {
                finished: true,
                ..Plan::new(
                    Step::Stop {
                        task_arn: t.arn.clone(),
                    },
                    Phase::Failed,
                    Reason::DeadlineExceeded,
                    format!(
                        "{}: stopped task {} (attempt {} of {max})",
                        deadline_message(),
                        t.arn,
                        counted(t.attempt)
                    ),
                )
            };
        }
        let wait = deadline.map_or(POLL, |d| POLL.min(until(i.now, d)));
        return Plan::new(
            Step::Wait(Some(wait.max(Duration::from_millis(200)))),
            Phase::Running,
            Reason::Running,
            format!(
                "attempt {} of {max}: task {} is {}",
                counted(t.attempt),
                t.arn,
                t.last_status
            ),
        );
    }

    if t.exit_code == Some(0) {
        return Plan::finish(
            Phase::Succeeded,
            Reason::Succeeded,
            format!("attempt {} of {max} exited 0", counted(t.attempt)),
        );
    }
    let failure = t.failure();
    let start_failure = t.failed_to_start().then_some(t.attempt);
    let start_failures = s
        .start_failures
        .iter()
        .filter(in_try)
        .filter(|a| Some(**a) != start_failure)
        .count()
        + usize::from(start_failure.is_some());
    let with_record = |p: Plan| Plan {
        start_failure: start_failure.filter(|a| !s.start_failures.contains(a)),
        ..p
    };
    let used = counted(t.attempt)
        - i32::from(start_failure.is_some() && !s.start_failures.contains(&t.attempt));
    if start_failure.is_some() && start_failures >= MAX_START_FAILURES {
        return with_record(Plan::finish(
            Phase::Failed,
            Reason::TaskNeverStarted,
            format!(
                "{start_failures} attempts could not start their task, the last with {failure}; fix the cause, then set berth.dev/refresh to a new value"
            ),
        ));
    }
    if start_failure.is_none() && used >= max {
        return Plan::finish(
            Phase::Failed,
            Reason::BackoffLimitExceeded,
            format!(
                "attempt {used} of {max} failed with {failure}; backoffLimit {} reached",
                i.backoff_limit
            ),
        );
    }
    if past_deadline {
        return with_record(Plan::finish(
            Phase::Failed,
            Reason::DeadlineExceeded,
            format!("{}; last attempt failed with {failure}", deadline_message()),
        ));
    }
    let what = if start_failure.is_some() {
        format!(
            "the task of attempt {} could not start ({failure}); it never ran the command, so it does not count against backoffLimit ({used} of {max} used, start failure {start_failures} of {MAX_START_FAILURES})",
            t.attempt
        )
    } else {
        format!("attempt {used} of {max} failed with {failure}")
    };
    // The backoff counts from when berth saw the attempt stopped (status
    // `finishedAt` until the next attempt starts), not from ECS's stoppedAt:
    // berth's own clock is the one the requeue runs on.
    let seen = s
        .finished_at
        .as_deref()
        .and_then(|f| f.parse::<Timestamp>().ok())
        .unwrap_or(i.now);
    let failures = if start_failure.is_some() {
        start_failures as i32
    } else {
        used
    };
    let next = seen
        .checked_add(SignedDuration::try_from(backoff(failures)).unwrap_or_default())
        .unwrap_or(i.now);
    if i.now >= next {
        return with_record(Plan::new(
            Step::Run {
                attempt: t.attempt + 1,
            },
            Phase::Running,
            Reason::Retrying,
            format!("{what}; starting the next attempt"),
        ));
    }
    let mut wait = until(i.now, next);
    if let Some(d) = deadline {
        wait = wait.min(until(i.now, d));
    }
    with_record(Plan::new(
        Step::Wait(Some(wait.max(Duration::from_millis(200)))),
        Phase::Running,
        Reason::Retrying,
        format!("{what}; next attempt in {}s", wait.as_secs()),
    ))
}

/// The variables `databaseRef` injects, from the AuroraCluster's spec and
/// status; `Err` says why there is nothing to inject yet.
pub fn database_vars(db: &AuroraCluster) -> Result<Vec<EnvVar>, String> {
    let name = db.metadata.name.clone().unwrap_or_default();
    let st = db.status.clone().unwrap_or_default();
    if !conditions::is_true(&st.conditions, READY) {
        return Err(format!(
            "AuroraCluster {name:?} (spec.databaseRef) is not Ready"
        ));
    }
    // The proxy pools connections and survives failovers: preferred.
    let Some(host) = st.proxy_endpoint.or(st.endpoint) else {
        return Err(format!("AuroraCluster {name:?} has no endpoint yet"));
    };
    let port = st.port.unwrap_or(db.spec.engine.default_port());
    let var = |name: &str, value: String| EnvVar {
        name: name.to_string(),
        value,
    };
    Ok(vec![
        var("DB_HOST", host),
        var("DB_PORT", port.to_string()),
        var("DB_NAME", db.spec.database_name.clone().unwrap_or_default()),
        var("DB_USER", db.spec.master_username.clone()),
        var("DB_USE_IAM_AUTH", db.spec.iam_authentication.to_string()),
    ])
}

/// The shared status contract for a phase: Argo CD sees Healthy only when
/// the run succeeded.
pub fn conditions_for(phase: Phase, reason: Reason, message: &str) -> Vec<Desired> {
    let (ready, progressing, degraded) = match phase {
        Phase::Succeeded => (true, false, false),
        Phase::Pending | Phase::Running => (false, true, false),
        Phase::Failed => (false, false, true),
    };
    vec![
        Desired::new(READY, ready, reason, message),
        Desired::new(PROGRESSING, progressing, reason, message),
        Desired::new(DEGRADED, degraded, reason, message),
    ]
}
