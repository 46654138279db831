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
const POLICY_FIELDS: [&str; 5] = [
    "backoffLimit",
    "activeDeadlineSeconds",
    "ttlSecondsAfterFinished",
    "hook",
    "rollbackOnFailure",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::common::LocalObjectReference;
    use crate::api::migration_job::MigrationJobSpec;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn job(yaml: &str) -> MigrationJob {
        let spec: MigrationJobSpec = serde_yaml::from_str(yaml).unwrap();
        let mut j = MigrationJob::new("migrate", spec);
        j.metadata.namespace = Some("shop".into());
        j
    }

    fn inline() -> MigrationJob {
        job(r#"
cluster: shop
networkConfiguration:
  subnets: [subnet-0a1b2c3d4e5f60001]
taskDefinition:
  containers:
    - name: sidecar
      image: envoy:1
      essential: false
    - name: app
      image: shop/api:1
      logConfiguration:
        logDriver: awslogs
        options:
          awslogs-group: /shop/api
          awslogs-stream-prefix: migrate
"#)
    }

    fn task(attempt: i32, status: &str, exit: Option<i32>, stopped_at: Option<i64>) -> TaskView {
        TaskView {
            arn: format!("arn:aws:ecs:us-east-1:1:task/shop/t{attempt}"),
            attempt,
            last_status: status.into(),
            exit_code: exit,
            stopped_reason: stopped_at.map(|_| "Essential container in task exited".into()),
            stop_code: stopped_at.map(|_| "EssentialContainerExited".into()),
            container_reason: None,
            created_at: Some(at(0)),
            stopped_at: stopped_at.map(at),
        }
    }

    fn status(attempts: i32) -> MigrationJobStatus {
        MigrationJobStatus {
            attempts,
            run_hash: Some("abc".into()),
            started_at: (attempts > 0).then(|| at(0).to_string()),
            ..Default::default()
        }
    }

    fn run(
        limit: i32,
        deadline: Option<i64>,
        s: &MigrationJobStatus,
        t: Option<&TaskView>,
        now: i64,
    ) -> Plan {
        run_refreshed(limit, deadline, s, t, now, None)
    }

    fn run_refreshed(
        limit: i32,
        deadline: Option<i64>,
        s: &MigrationJobStatus,
        t: Option<&TaskView>,
        now: i64,
        refresh: Option<&str>,
    ) -> Plan {
        plan(&Inputs {
            backoff_limit: limit,
            active_deadline_seconds: deadline,
            status: s,
            task: t,
            refresh,
            now: at(now),
        })
    }

    /// A task that stopped before its containers ran (an image pull failed).
    fn never_started(attempt: i32, stopped_at: i64) -> TaskView {
        TaskView {
            exit_code: None,
            stop_code: Some("TaskFailedToStart".into()),
            stopped_reason: Some(
                "CannotPullContainerError: pull image manifest has been retried 7 time(s): not found"
                    .into(),
            ),
            container_reason: Some(
                "CannotPullContainerError: pull image manifest has been retried 7 time(s): not found"
                    .into(),
            ),
            ..task(attempt, "STOPPED", None, Some(stopped_at))
        }
    }

    #[test]
    fn first_reconcile_starts_attempt_one() {
        let p = run(2, None, &status(0), None, 0);
        assert_eq!(p.step, Step::Run { attempt: 1 });
        assert_eq!(p.phase, Phase::Pending);
    }

    #[test]
    fn a_running_task_is_followed() {
        let t = task(1, "RUNNING", None, None);
        let p = run(2, None, &status(1), Some(&t), 10);
        assert_eq!(p.step, Step::Wait(Some(POLL)));
        assert_eq!(p.phase, Phase::Running);
        assert_eq!(p.reason, Reason::Running);
    }

    #[test]
    fn exit_zero_succeeds() {
        let t = task(1, "STOPPED", Some(0), Some(5));
        let p = run(2, None, &status(1), Some(&t), 10);
        assert_eq!(p.phase, Phase::Succeeded);
        assert!(p.finished);
        assert_eq!(p.step, Step::Wait(None));
        let c = conditions_for(p.phase, p.reason, &p.message);
        assert!(c.iter().any(|d| d.type_ == READY && d.status));
        assert!(c.iter().all(|d| d.type_ == READY || !d.status));
    }

    #[test]
    fn a_failure_waits_for_the_backoff_then_retries() {
        // ECS's stoppedAt (another clock) does not count; when berth saw it does.
        let t = task(1, "STOPPED", Some(1), Some(500));
        let p = run(2, None, &status(1), Some(&t), 10);
        assert_eq!(p.step, Step::Wait(Some(Duration::from_secs(5))));
        let s = seen_stopped(status(1), 10);
        let p = run(2, None, &s, Some(&t), 12);
        assert_eq!(p.step, Step::Wait(Some(Duration::from_secs(3))));
        assert_eq!(p.reason, Reason::Retrying);
        assert_eq!(p.phase, Phase::Running);
        let p = run(2, None, &s, Some(&t), 15);
        assert_eq!(p.step, Step::Run { attempt: 2 });
        // The second failure waits twice as long.
        let t = task(2, "STOPPED", Some(1), Some(20));
        let s = seen_stopped(status(2), 20);
        let p = run(2, None, &s, Some(&t), 29);
        assert_eq!(p.step, Step::Wait(Some(Duration::from_secs(1))));
        let p = run(2, None, &s, Some(&t), 30);
        assert_eq!(p.step, Step::Run { attempt: 3 });
    }

    fn seen_stopped(mut s: MigrationJobStatus, at_secs: i64) -> MigrationJobStatus {
        s.finished_at = Some(at(at_secs).to_string());
        s
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(5));
        assert_eq!(backoff(2), Duration::from_secs(10));
        assert_eq!(backoff(4), Duration::from_secs(40));
        assert_eq!(backoff(5), Duration::from_secs(60));
        assert_eq!(backoff(20), Duration::from_secs(60));
    }

    #[test]
    fn the_last_allowed_failure_fails_the_run() {
        let t = task(3, "STOPPED", Some(1), Some(40));
        let p = run(2, None, &status(3), Some(&t), 41);
        assert_eq!(p.phase, Phase::Failed);
        assert_eq!(p.reason, Reason::BackoffLimitExceeded);
        assert!(p.message.contains("exit code 1"), "{}", p.message);
        assert!(p.message.contains("Essential container"), "{}", p.message);
        assert!(p.finished);
        // backoffLimit 0: the first failure is final.
        let t = task(1, "STOPPED", Some(2), Some(4));
        let p = run(0, None, &status(1), Some(&t), 5);
        assert_eq!(p.reason, Reason::BackoffLimitExceeded);
        let c = conditions_for(p.phase, p.reason, &p.message);
        assert!(c.iter().any(|d| d.type_ == DEGRADED && d.status));
        assert!(c.iter().all(|d| d.type_ == DEGRADED || !d.status));
    }

    #[test]
    fn past_the_deadline_a_running_task_is_stopped() {
        let t = task(1, "RUNNING", None, None);
        let p = run(2, Some(30), &status(1), Some(&t), 29);
        assert_eq!(p.step, Step::Wait(Some(Duration::from_secs(1))));
        let p = run(2, Some(30), &status(1), Some(&t), 30);
        assert_eq!(
            p.step,
            Step::Stop {
                task_arn: t.arn.clone()
            }
        );
        assert_eq!(p.phase, Phase::Failed);
        assert_eq!(p.reason, Reason::DeadlineExceeded);
        assert!(p.finished);
    }

    #[test]
    fn past_the_deadline_no_retry_starts() {
        let t = task(1, "STOPPED", Some(1), Some(25));
        let p = run(2, Some(30), &status(1), Some(&t), 31);
        assert_eq!(p.reason, Reason::DeadlineExceeded);
        assert_eq!(p.step, Step::Wait(None));
    }

    #[test]
    fn finished_runs_never_run_again() {
        let mut s = status(1);
        s.phase = Some(Phase::Succeeded);
        s.conditions = conditions::merge(
            &[],
            &conditions_for(
                Phase::Succeeded,
                Reason::Succeeded,
                "attempt 1 of 3 exited 0",
            ),
            None,
            at(0),
        );
        let p = run(2, None, &s, None, 1000);
        assert_eq!(p.step, Step::Wait(None));
        assert_eq!(p.phase, Phase::Succeeded);
        assert!(!p.finished);
        s.phase = Some(Phase::Failed);
        let p = run(2, None, &s, None, 1000);
        assert_eq!(p.step, Step::Wait(None));
    }

    #[test]
    fn a_task_gone_before_berth_saw_it_stop_is_never_rerun_silently() {
        let mut s = status(1);
        s.task_arn = Some("arn:aws:ecs:us-east-1:1:task/shop/t1".into());
        let p = run(2, None, &s, None, 100);
        assert_eq!(p.step, Step::Wait(None));
        assert_eq!(p.phase, Phase::Failed);
        assert_eq!(p.reason, Reason::TaskResultUnknown);
        assert!(p.message.contains("berth.dev/refresh"), "{}", p.message);
    }

    #[test]
    fn a_task_gone_after_berth_recorded_its_stop_goes_on_from_the_record() {
        // Attempt 1 failed with exit 1, seen at t=10; ECS forgot it since.
        let mut s = seen_stopped(status(1), 10);
        s.exit_code = Some(1);
        let p = run(2, None, &s, None, 15);
        assert_eq!(p.step, Step::Run { attempt: 2 });
        assert_eq!(p.reason, Reason::Retrying);
        // Exit 0 recorded: it succeeded, whatever ECS forgot.
        s.exit_code = Some(0);
        let p = run(2, None, &s, None, 15);
        assert_eq!(p.phase, Phase::Succeeded);
    }

    #[test]
    fn tasks_that_never_started_do_not_use_up_the_backoff_limit() {
        // backoffLimit 0: one real failure would be final, but a task that
        // could not pull its image never ran the migration.
        let t = never_started(1, 5);
        let p = run(0, None, &seen_stopped(status(1), 5), Some(&t), 10);
        assert_eq!(p.phase, Phase::Running);
        assert_eq!(p.reason, Reason::Retrying);
        assert_eq!(p.start_failure, Some(1));
        assert_eq!(p.step, Step::Run { attempt: 2 });
        assert!(
            p.message.contains("does not count against backoffLimit"),
            "{}",
            p.message
        );
        // Recorded once: the next reconcile does not record it again.
        let mut s = seen_stopped(status(1), 5);
        s.start_failures = vec![1];
        assert_eq!(run(0, None, &s, Some(&t), 6).start_failure, None);
        // Attempt 2 ran and failed: now backoffLimit 0 is reached.
        let mut s = seen_stopped(status(2), 20);
        s.start_failures = vec![1];
        let t = task(2, "STOPPED", Some(1), Some(20));
        let p = run(0, None, &s, Some(&t), 21);
        assert_eq!(p.reason, Reason::BackoffLimitExceeded);
        assert!(p.message.contains("attempt 1 of 1"), "{}", p.message);
    }

    #[test]
    fn start_failures_are_bounded_on_their_own() {
        let n = MAX_START_FAILURES as i32;
        let mut s = seen_stopped(status(n), 100);
        s.start_failures = (1..n).collect();
        let p = run(2, None, &s, Some(&never_started(n, 100)), 101);
        assert_eq!(p.phase, Phase::Failed);
        assert_eq!(p.reason, Reason::TaskNeverStarted);
        assert_eq!(p.start_failure, Some(n));
    }

    #[test]
    fn a_refresh_restarts_a_failed_run_once() {
        let mut s = status(3);
        s.phase = Some(Phase::Failed);
        // No refresh, or the one already honored: nothing runs.
        assert_eq!(run(2, None, &s, None, 100).step, Step::Wait(None));
        s.refreshed_by = Some("fixed-1".into());
        let p = run_refreshed(2, None, &s, None, 100, Some("fixed-1"));
        assert_eq!(p.step, Step::Wait(None));
        // A new value: attempt 4 (never a reused attempt) with a fresh limit.
        let p = run_refreshed(2, None, &s, None, 100, Some("fixed-2"));
        assert_eq!(p.step, Step::Run { attempt: 4 });
        assert_eq!(p.refresh.as_deref(), Some("fixed-2"));
        assert_eq!(p.phase, Phase::Running);
        // In the new try, attempt 4 failing is attempt 1 of 3.
        let mut s = seen_stopped(status(4), 200);
        s.try_started_after = 3;
        s.refreshed_by = Some("fixed-2".into());
        let t = task(4, "STOPPED", Some(1), Some(200));
        let p = run(2, None, &s, Some(&t), 201);
        assert_eq!(p.reason, Reason::Retrying);
        assert!(p.message.contains("attempt 1 of 3"), "{}", p.message);
        // A Succeeded run never re-runs, refresh or not.
        let mut done = status(1);
        done.phase = Some(Phase::Succeeded);
        assert_eq!(
            run_refreshed(2, None, &done, None, 100, Some("again")).step,
            Step::Wait(None)
        );
    }

    #[test]
    fn derived_families_are_valid_ecs_families() {
        assert_eq!(
            derived_family("shop-api", "api-migrate"),
            "shop-api-api-migrate"
        );
        assert_eq!(derived_family("db.migrate", ""), "db-migrate");
        let long = derived_family(&"f".repeat(255), "job");
        assert_eq!(long.len(), 255);
        assert_ne!(long, derived_family(&"f".repeat(255), "other"));
        assert!(long
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    #[test]
    fn run_hash_ignores_policy_fields_and_follows_the_service() {
        let a = inline();
        let mut b = inline();
        b.spec.backoff_limit = 5;
        b.spec.ttl_seconds_after_finished = Some(60);
        assert_eq!(
            run_hash(&a, "shop/migrate", None),
            run_hash(&b, "shop/migrate", None)
        );
        b.spec.command = vec!["migrate".into()];
        assert_ne!(
            run_hash(&a, "shop/migrate", None),
            run_hash(&b, "shop/migrate", None)
        );
        assert_ne!(
            run_hash(&a, "shop/migrate", Some("h1")),
            run_hash(&a, "shop/migrate", Some("h2"))
        );
        assert_ne!(
            run_hash(&a, "shop/migrate", None),
            run_hash(&a, "shop/other", None)
        );
        let h = run_hash(&a, "shop/migrate", None);
        assert_eq!(h.len(), 16);
        assert!(started_by(&h).len() <= 36);
        assert_eq!(started_by(&h), format!("berth-{h}"));
    }

    #[test]
    fn resolve_inline_picks_the_first_essential_container() {
        let t = resolve(&inline(), None).unwrap();
        assert_eq!(t.container, "app");
        assert_eq!(t.family, "migrate");
        assert_eq!(t.cluster, "shop");
        assert_eq!(t.arn, None);
        assert_eq!(
            t.log_stream("abc"),
            Some(("/shop/api".into(), "migrate/app/abc".into()))
        );
    }

    fn service(with_status: bool) -> EcsService {
        let spec = serde_yaml::from_str(
            r#"
cluster: shop
networkConfiguration:
  subnets: [subnet-0a1b2c3d4e5f60001]
launchType: FARGATE
taskDefinition:
  family: shop-api
  containers:
    - name: api
      image: shop/api:2
"#,
        )
        .unwrap();
        let mut s = EcsService::new("api", spec);
        if with_status {
            s.status = Some(crate::api::EcsServiceStatus {
                task_definition_arn: Some("arn:td/shop-api:7".into()),
                spec_hash: Some("svchash".into()),
                ..Default::default()
            });
        }
        s
    }

    #[test]
    fn resolve_borrows_the_services_revision() {
        let mut j = job("serviceRef: {name: api}\ncommand: [migrate]");
        assert!(matches!(
            resolve(&j, None),
            Err(Unresolved::WaitingForService(_))
        ));
        assert!(matches!(
            resolve(&j, Some(&service(false))),
            Err(Unresolved::WaitingForService(_))
        ));
        let t = resolve(&j, Some(&service(true))).unwrap();
        assert_eq!(t.arn.as_deref(), Some("arn:td/shop-api:7"));
        assert_eq!(t.service_hash.as_deref(), Some("svchash"));
        assert_eq!(t.launch_type, Some(crate::api::common::LaunchType::Fargate));
        assert_eq!(t.container, "api");

        // A replaced image needs a derived revision.
        j.spec.image = Some("shop/api-smoke:2".into());
        let t = resolve(&j, Some(&service(true))).unwrap();
        assert_eq!(t.arn, None);
        assert_eq!(t.family, "shop-api-migrate");
        assert_eq!(t.task_definition.containers[0].image, "shop/api-smoke:2");

        j.spec.container = Some("nope".into());
        j.spec.service_ref = Some(LocalObjectReference { name: "api".into() });
        assert!(matches!(
            resolve(&j, Some(&service(true))),
            Err(Unresolved::Invalid(_))
        ));
    }

    #[test]
    fn database_vars_prefer_the_proxy_and_wait_for_ready() {
        let spec = serde_yaml::from_str(
            "databaseName: orders\nmasterUsername: orders_admin\nsubnetIds: [subnet-0a1b2c3d4e5f60001]",
        )
        .unwrap();
        let mut db = AuroraCluster::new("orders-db", spec);
        assert!(database_vars(&db).is_err());
        db.status = Some(crate::api::AuroraClusterStatus {
            conditions: conditions::merge(
                &[],
                &[Desired::new(
                    READY,
                    true,
                    Reason::RolloutComplete,
                    "the cluster is available",
                )],
                None,
                at(0),
            ),
            endpoint: Some("writer.example".into()),
            proxy_endpoint: Some("proxy.example".into()),
            port: Some(5432),
            ..Default::default()
        });
        let vars = database_vars(&db).unwrap();
        let get = |n: &str| vars.iter().find(|v| v.name == n).unwrap().value.clone();
        assert_eq!(get("DB_HOST"), "proxy.example");
        assert_eq!(get("DB_PORT"), "5432");
        assert_eq!(get("DB_NAME"), "orders");
        assert_eq!(get("DB_USER"), "orders_admin");
        assert_eq!(get("DB_USE_IAM_AUTH"), "true");
    }
}
