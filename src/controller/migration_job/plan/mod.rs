//! The pure part of the MigrationJob reconcile: from the job and what the
//! reconcile observed, everything berth does and says next ([`Plan`]): the
//! one step and the values it sends, the Events, the status with its
//! phase, reason and message, and when to come back.

mod resolve;
mod run;
mod start;
mod status;

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::events::EventType;

use crate::api::aurora_cluster::AuroraCluster;
use crate::api::common::EnvVar;
use crate::api::conditions::{self, Desired, Reason, DEGRADED, PROGRESSING, READY};
use crate::api::migration_job::{MigrationJob, MigrationJobStatus, Phase};
use crate::aws::ecs::tasks::{RunTarget, TaskView, ToRun};
use crate::aws::tags::owner_of;
use crate::aws::taskdef::RenderedTaskDefinition;
use crate::controller::memo::LastWrite;
use crate::controller::pacing::Found;

pub use crate::aws::ecs::tasks::started_by;
pub use resolve::{database_vars, derived_family, resolve, run_hash, which_run, Unresolved};
pub use run::{
    backoff, cannot_start, needs_a_person, next, refresh_requested, seen_refresh, Next, RunInputs,
    Verdict, CANNOT_START_IN_A_ROW, MAX_START_FAILURES, POLL,
};
pub use start::{queued, registered, started};
pub use status::{expiry, status, Expiry};

/// Requeue while waiting on another object (EcsService changes also
/// trigger a reconcile through the watch; AuroraClusters are polled).
pub const WAIT_REQUEUE: Duration = Duration::from_secs(5);

/// What a reconcile observed. The watch stores and memos are read up
/// front; each AWS read is made only when the plan asks for it ([`Need`]),
/// so a reconcile makes exactly the calls its step needs (None: not read).
pub struct Observed {
    /// What runs: [`resolve`]d once, from the job and the EcsService of
    /// `serviceRef` in the watch store.
    pub target: Result<RunTarget, Unresolved>,
    /// The status as the watch shows it.
    pub prev: MigrationJobStatus,
    pub last_write: Option<LastWrite>,
    /// `berth.dev/paused`: no AWS mutation.
    pub paused: bool,
    /// The `berth.dev/refresh` annotation.
    pub refresh: Option<String>,
    /// The AuroraCluster of `spec.databaseRef`, from the watch store.
    pub database: Option<AuroraCluster>,
    /// The namespace's AWS clients were made (its role allow-list passed).
    pub aws: bool,
    /// The previous run's task, by the ARN the plan asked for.
    pub previous_task: Option<Option<TaskView>>,
    /// The run's current task (status `taskArn`).
    pub task: Option<Option<TaskView>>,
    /// What the attempt runs, and whether the job holds a registration
    /// ticket for its own task definition (`pacing::waiting`).
    pub to_run: Option<(ToRun, bool)>,
    /// The tasks ECS has with the run's `startedBy`.
    pub run_tasks: Option<Vec<TaskView>>,
    /// A revision with the job's task definition's hash tag.
    pub found: Option<Found>,
    /// The last lines of the finished task's log.
    pub log_tail: Option<Vec<String>>,
}

impl Observed {
    /// Nothing read from AWS yet.
    pub fn new(target: Result<RunTarget, Unresolved>, prev: MigrationJobStatus) -> Self {
        Self {
            target,
            prev,
            last_write: None,
            paused: false,
            refresh: None,
            database: None,
            aws: false,
            previous_task: None,
            task: None,
            to_run: None,
            run_tasks: None,
            found: None,
            log_tail: None,
        }
    }
}

pub struct Inputs<'a> {
    pub job: &'a MigrationJob,
    pub observed: &'a Observed,
    pub now: Timestamp,
}

/// What the plan must know before it decides, in the order a reconcile
/// asks: each is one AWS read (or none, for `Aws` and `ToRun`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Need {
    /// The namespace's AWS clients: any AWS read or call comes after them.
    Aws,
    /// The previous run's task: the new run waits until it has stopped.
    PreviousTask(String),
    /// The run's current task.
    Task(String),
    /// The attempt's task definition: the service's revision, or the job's
    /// own rendered (with whether it holds a registration ticket).
    ToRun,
    /// ListTasks by `startedBy`, right before a RunTask: a task a crash
    /// left behind is adopted, never started twice.
    RunTasks { started_by: String },
    /// The job's own task definition looked up by its hash tag.
    Found,
    /// GetLogEvents of the finished task (`spec.logTail`).
    LogTail {
        group: String,
        stream: String,
        lines: i32,
    },
}

/// Everything berth does and says in one reconcile.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub step: Step,
    pub report: Report,
    /// Published after the step.
    pub events: Vec<Note>,
    pub then: Then,
}

/// The one AWS mutation of the reconcile.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// None.
    Wait,
    /// StopTask: the run is past `activeDeadlineSeconds`.
    Stop { task_arn: String },
    /// RunTask, the job's task definition registered first if it must be.
    Run(Box<RunTask>),
}

/// What RunTask sends.
#[derive(Clone, Debug, PartialEq)]
pub struct RunTask {
    pub attempt: i32,
    pub run_hash: String,
    pub task_definition: TaskDefinition,
    /// `spec.environment` with what `databaseRef` injects.
    pub environment: Vec<EnvVar>,
    pub command: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TaskDefinition {
    /// This registered revision: the service's as is, or the job's own
    /// found by its hash tag.
    Arn(String),
    /// The job's own, registered at its turn (`pacing::register`).
    Register {
        rendered: Box<RenderedTaskDefinition>,
        found: Found,
    },
}

/// The status write.
#[derive(Clone, Debug, PartialEq)]
pub enum Report {
    /// The run's status, with the conditions of `phase`.
    Run {
        status: Box<MigrationJobStatus>,
        phase: Phase,
        reason: Reason,
        message: String,
        /// The run goes on, but its tasks cannot start until a person
        /// fixes the cause: `Degraded` (`TaskCannotStart`) says so.
        cannot_start: Option<String>,
    },
    /// A failure a human must fix (`Degraded`); the rest of the status stays.
    Failed { reason: Reason, message: String },
    /// Nothing new to say.
    Nothing,
}

/// An Event.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    pub type_: EventType,
    pub reason: &'static str,
    pub action: &'static str,
    pub message: String,
}

impl Note {
    fn normal(reason: &'static str, action: &'static str, message: String) -> Self {
        Self {
            type_: EventType::Normal,
            reason,
            action,
            message,
        }
    }
}

/// When to reconcile again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    After(Duration),
    /// On the poll grid: the tasks of every job polling then are described
    /// in one DescribeTasks call per cluster.
    Poll,
    Resync,
    /// The run is over: `ttlSecondsAfterFinished` decides.
    Expire,
    /// Not until the object changes.
    AwaitChange,
}

impl Plan {
    fn report(
        status: MigrationJobStatus,
        phase: Phase,
        reason: Reason,
        message: String,
        then: Then,
    ) -> Self {
        // Checked and recorded like a condition's (`Desired::new`).
        #[cfg(test)]
        crate::api::reasons::coverage::check(reason, &message);
        // Retrying and needing a person are not exclusive; a paused job
        // says Paused on every condition.
        let cannot_start = match phase {
            Phase::Pending | Phase::Running if reason != Reason::Paused => needs_a_person(&status),
            _ => None,
        };
        #[cfg(test)]
        if let Some(m) = &cannot_start {
            crate::api::reasons::coverage::check(Reason::TaskCannotStart, m);
        }
        Self {
            step: Step::Wait,
            report: Report::Run {
                status: Box::new(status),
                phase,
                reason,
                message,
                cannot_start,
            },
            events: Vec::new(),
            then,
        }
    }

    fn failed(reason: Reason, message: String, then: Then) -> Self {
        #[cfg(test)]
        crate::api::reasons::coverage::check(reason, &message);
        Self {
            step: Step::Wait,
            report: Report::Failed { reason, message },
            events: Vec::new(),
            then,
        }
    }

    fn quiet(then: Then) -> Self {
        Self {
            step: Step::Wait,
            report: Report::Nothing,
            events: Vec::new(),
            then,
        }
    }

    /// The status this plan writes, if it writes the run's.
    pub fn status(&self) -> Option<&MigrationJobStatus> {
        match &self.report {
            Report::Run { status, .. } => Some(status),
            _ => None,
        }
    }
}

/// The plan, or what must be observed first.
pub fn plan(i: &Inputs<'_>) -> Result<Plan, Need> {
    let mut p = decide(i)?;
    if let Report::Run { status, .. } = &mut p.report {
        // A tail kept before `spec.logTail` was lowered or removed goes.
        let keep = i.job.spec.log_tail_lines().max(0) as usize;
        let excess = status.log_tail.len().saturating_sub(keep);
        status.log_tail.drain(..excess);
    }
    Ok(p)
}

fn decide(i: &Inputs<'_>) -> Result<Plan, Need> {
    let o = i.observed;
    let target = match &o.target {
        Ok(t) => t,
        Err(u) => return Ok(unresolved(&o.prev, u)),
    };
    let run_hash = which_run(i.job, &owner_of(i.job), target);
    if behind_own_write(o.last_write.as_ref(), &o.prev, &run_hash) {
        return Ok(Plan::quiet(Then::After(Duration::from_millis(300))));
    }
    let mut cur = status_of_run(&o.prev, &run_hash, target);
    let refresh = o.refresh.as_deref();
    cur.refreshed_by = seen_refresh(&cur, refresh);
    if is_finished(&cur) && !refresh_requested(&cur, refresh) {
        // No AWS call for a finished run; only the TTL is left.
        let v = next(&run_inputs(i, &cur, None));
        return Ok(Plan::report(
            cur,
            v.phase,
            v.reason,
            v.message,
            Then::Expire,
        ));
    }
    if !o.aws {
        return Err(Need::Aws);
    }
    if let Some(waiting) = previous_run(o, &cur)? {
        return Ok(waiting);
    }
    let task = match (&cur.task_arn, &o.task) {
        (None, _) => None,
        (Some(_), Some(task)) => task.as_ref(),
        (Some(arn), None) => return Err(Need::Task(arn.clone())),
    };
    let v = next(&run_inputs(i, &cur, task));
    let mut events = Vec::new();
    if let Some(value) = &v.refresh {
        events.push(start_new_try(&mut cur, value));
    }
    let mut p = match v.next {
        Next::Run { attempt } => start::run_attempt(i, &run_hash, cur, attempt, &v)?,
        _ => recorded(i, target, cur, task, &v)?,
    };
    events.append(&mut p.events);
    p.events = events;
    Ok(p)
}

fn run_inputs<'a>(
    i: &Inputs<'a>,
    cur: &'a MigrationJobStatus,
    task: Option<&'a TaskView>,
) -> RunInputs<'a> {
    RunInputs {
        backoff_limit: i.job.spec.backoff_limit,
        active_deadline_seconds: i.job.spec.active_deadline_seconds,
        status: cur,
        task,
        refresh: i.observed.refresh.as_deref(),
        now: i.now,
    }
}

/// Nothing to run yet (or ever, until the spec changes).
fn unresolved(prev: &MigrationJobStatus, u: &Unresolved) -> Plan {
    let (reason, message) = match u {
        Unresolved::WaitingForService(m) => (Reason::WaitingForService, m),
        Unresolved::WaitingForRollout(m) => (Reason::WaitingForRollout, m),
        Unresolved::Invalid(m) => {
            return Plan::failed(Reason::InvalidSpec, m.clone(), Then::AwaitChange)
        }
    };
    if is_finished(prev) {
        // A finished run stays reported until there is a new one.
        return Plan::quiet(Then::Resync);
    }
    Plan::report(
        prev.clone(),
        pending_or_running(prev),
        reason,
        message.clone(),
        Then::After(WAIT_REQUEUE),
    )
}

/// Before the first attempt the run is Pending; after it, Running.
fn pending_or_running(s: &MigrationJobStatus) -> Phase {
    if s.attempts > 0 {
        Phase::Running
    } else {
        Phase::Pending
    }
}

pub fn is_finished(status: &MigrationJobStatus) -> bool {
    matches!(status.phase, Some(Phase::Succeeded | Phase::Failed))
}

/// The watch has not caught up with this process's own last status
/// write (a reconcile triggered by another object's change): acting on
/// it would look for, and adopt, the task this process just started.
fn behind_own_write(
    written: Option<&LastWrite>,
    prev: &MigrationJobStatus,
    run_hash: &str,
) -> bool {
    written.filter(|w| w.run_hash == run_hash).is_some_and(|w| {
        prev.run_hash.as_deref() != Some(w.run_hash.as_str()) || prev.attempts < w.attempts
    })
}

/// The status the run starts from: the previous one for the same run,
/// an empty one for a new run.
fn status_of_run(
    prev: &MigrationJobStatus,
    run_hash: &str,
    target: &RunTarget,
) -> MigrationJobStatus {
    if prev.run_hash.as_deref() == Some(run_hash) {
        return prev.clone();
    }
    MigrationJobStatus {
        run_hash: Some(run_hash.to_string()),
        service_hash: target.service_hash.clone(),
        service_deployment: target.service_deployment.clone(),
        ..Default::default()
    }
}

/// Two runs of one job never overlap (two migrations at once): a new run
/// starts once the previous run's task has stopped. Deleting the job
/// stops it, when waiting is not what the user wants. `Some` while the
/// previous run's task still runs.
fn previous_run(o: &Observed, cur: &MigrationJobStatus) -> Result<Option<Plan>, Need> {
    let prev = &o.prev;
    let superseded = prev.run_hash.is_some() && prev.run_hash != cur.run_hash;
    let Some(old) = prev
        .task_arn
        .as_deref()
        .filter(|_| superseded && !is_finished(prev))
    else {
        return Ok(None);
    };
    let Some(old_task) = &o.previous_task else {
        return Err(Need::PreviousTask(old.to_string()));
    };
    if old_task.as_ref().is_none_or(|t| t.stopped()) {
        return Ok(None);
    }
    let message = format!(
        "the spec or the service revision changed: the new run starts once task {old} of the previous run has stopped"
    );
    Ok(Some(Plan::report(
        prev.clone(),
        Phase::Running,
        Reason::Running,
        message,
        Then::Poll,
    )))
}

/// A new try of a Failed run: a fresh backoffLimit; attempts keep
/// counting, so no attempt's task or token is ever reused.
fn start_new_try(cur: &mut MigrationJobStatus, value: &str) -> Note {
    cur.refreshed_by = Some(value.to_string());
    cur.try_started_after = cur.attempts;
    cur.start_failures.clear();
    cur.cannot_start = None;
    cur.exit_code = None;
    cur.stopped_reason = None;
    cur.finished_at = None;
    Note::normal(
        "RunRefreshed",
        "Refresh",
        format!("berth.dev/refresh is \"{value}\": the failed run starts a new try"),
    )
}

/// The run as its task reported it (no new attempt): finishedAt is when
/// berth saw the newest attempt stop (the backoff counts from it).
fn recorded(
    i: &Inputs<'_>,
    target: &RunTarget,
    mut cur: MigrationJobStatus,
    task: Option<&TaskView>,
    v: &Verdict,
) -> Result<Plan, Need> {
    let now = i.now.to_string();
    let then = then_after(&v.next, &cur);
    let step = match &v.next {
        // Paused: the run is reported as planned, its task left running.
        Next::Stop { task_arn } if !i.observed.paused => Step::Stop {
            task_arn: task_arn.clone(),
        },
        _ => Step::Wait,
    };
    if let Some(t) = task.filter(|t| t.stopped()) {
        cur.exit_code = t.exit_code;
        cur.stopped_reason = t.stopped_reason.clone();
        cur.finished_at.get_or_insert_with(|| now.clone());
    }
    cur.start_failures.extend(v.start_failure);
    if let Some(t) = task {
        cur.cannot_start = cannot_start(cur.cannot_start.as_ref(), t);
    }
    let mut events = Vec::new();
    if v.finished {
        cur.finished_at.get_or_insert(now);
        if let Some(need) = log_to_keep(i.job, target, task) {
            let Some(lines) = &i.observed.log_tail else {
                return Err(need);
            };
            cur.log_tail = crate::controller::bounds::log_tail(lines);
        }
        events.push(Note {
            type_: if v.phase == Phase::Succeeded {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: v.reason.as_str(),
            action: "Run",
            message: v.message.clone(),
        });
    }
    let mut p = Plan::report(cur, v.phase, v.reason, v.message.clone(), then);
    p.step = step;
    p.events = events;
    Ok(p)
}

/// The log lines a finished run keeps: only on request (a task's output
/// can hold what its readers must not see), from a stopped task that logs
/// to CloudWatch.
fn log_to_keep(job: &MigrationJob, target: &RunTarget, task: Option<&TaskView>) -> Option<Need> {
    let lines = job.spec.log_tail_lines();
    let t = task.filter(|t| t.stopped() && lines > 0)?;
    let (_, id) = crate::aws::ecs::tasks::cluster_and_id(&t.arn)?;
    let (group, stream) = target.log_stream(id)?;
    Some(Need::LogTail {
        group,
        stream,
        lines,
    })
}

fn then_after(next: &Next, cur: &MigrationJobStatus) -> Then {
    match next {
        // A running task is polled on the grid, with the other jobs' tasks.
        Next::Wait(Some(d)) if *d == POLL => Then::Poll,
        Next::Wait(Some(d)) => Then::After(*d),
        _ if is_finished(cur) => Then::Expire,
        _ => Then::Poll,
    }
}

/// The shared status contract for a phase: Argo CD sees Healthy only when
/// the run succeeded.
pub fn conditions_for(phase: Phase, reason: Reason, message: &str) -> Vec<Desired> {
    conditions_with(phase, reason, message, None)
}

/// [`conditions_for`], with `Degraded` True (`TaskCannotStart`, message
/// `cannot_start`) for a run under way whose tasks cannot start until a
/// person fixes the cause: Progressing stays True, berth keeps retrying.
pub fn conditions_with(
    phase: Phase,
    reason: Reason,
    message: &str,
    cannot_start: Option<&str>,
) -> Vec<Desired> {
    let (ready, progressing) = match phase {
        Phase::Succeeded => (true, false),
        Phase::Pending | Phase::Running => (false, true),
        Phase::Failed => (false, false),
    };
    let degraded = match (phase, cannot_start) {
        (Phase::Failed, _) => Desired::new(DEGRADED, true, reason, message),
        (Phase::Pending | Phase::Running, Some(m)) => {
            Desired::new(DEGRADED, true, Reason::TaskCannotStart, m)
        }
        _ if reason == Reason::Paused => Desired::new(DEGRADED, false, reason, message),
        _ => conditions::not_degraded(),
    };
    vec![
        Desired::new(READY, ready, reason, message),
        Desired::new(PROGRESSING, progressing, reason, message),
        degraded,
    ]
}
