//! The run's own course, from what ECS reports about its newest task: the
//! attempt to start, the task to stop, or the wait, and the run's phase.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::api::conditions::{self, Reason, DEGRADED, READY};
use crate::api::migration_job::{CannotStart, MigrationJobStatus, Phase};
use crate::aws::ecs::tasks::{TaskView, START_FAILURES_NEEDING_A_PERSON};

/// How often a running task is described.
pub const POLL: Duration = Duration::from_secs(3);
const BACKOFF_BASE_SECS: i64 = 5;
const BACKOFF_CAP_SECS: i64 = 60;

pub struct RunInputs<'a> {
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
pub enum Next {
    /// Nothing to do in AWS; reconcile again after this long (None: the
    /// run is over).
    Wait(Option<Duration>),
    /// Start this attempt (after making sure ECS has no task for it).
    Run { attempt: i32 },
    /// Past the deadline: stop the running task.
    Stop { task_arn: String },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub next: Next,
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

impl Verdict {
    fn new(next: Next, phase: Phase, reason: Reason, message: String) -> Self {
        // Checked and recorded like a condition's (`Desired::new`).
        #[cfg(test)]
        crate::api::reasons::coverage::check(reason, &message);
        Self {
            next,
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
            ..Self::new(Next::Wait(None), phase, reason, message)
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
fn deadline(i: &RunInputs<'_>) -> Option<Timestamp> {
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

/// Attempts in a row that could not start for one cause a person must fix
/// before the run says so (`Degraded`, `TaskCannotStart`) while it retries:
/// one failed pull can be a registry's hiccup, two in a row for the same
/// cause rarely are.
pub const CANNOT_START_IN_A_ROW: i32 = 2;

/// The record of attempts in a row that could not start, once `t` (the
/// run's newest task) is seen: gone once a task ran; kept while a task is
/// still starting; counted on when `t` could not start for the cause of
/// the attempt before it.
pub fn cannot_start(prev: Option<&CannotStart>, t: &TaskView) -> Option<CannotStart> {
    if t.ran() {
        return None;
    }
    if !t.failed_to_start() {
        return prev.cloned();
    }
    // A failure to start without an error code is a cause of its own.
    let code = t.start_failure_code()?;
    if let Some(p) = prev.filter(|p| p.attempt == t.attempt) {
        return Some(p.clone());
    }
    let in_a_row = match prev {
        Some(p) if p.code == code && p.attempt + 1 == t.attempt => p.in_a_row + 1,
        _ => 1,
    };
    Some(CannotStart {
        code: code.to_string(),
        attempt: t.attempt,
        in_a_row,
        stopped_reason: t
            .stopped_reason
            .clone()
            .or_else(|| t.container_reason.clone())
            .unwrap_or_else(|| code.to_string()),
    })
}

/// The `Degraded` message of a run still under way whose latest attempts
/// could not start, in a row, for a cause a person must fix.
pub fn needs_a_person(s: &MigrationJobStatus) -> Option<String> {
    let c = s.cannot_start.as_ref().filter(|c| {
        c.in_a_row >= CANNOT_START_IN_A_ROW
            && START_FAILURES_NEEDING_A_PERSON.contains(&c.code.as_str())
    })?;
    let fix = match c.code.as_str() {
        "CannotPullContainerError" => {
            "the image, the access to its registry or the pull-through cache rule serving it"
        }
        _ => "the secrets, the registry credentials or the network route to them",
    };
    Some(format!(
        "{} attempts in a row could not start their task, the last (attempt {}) with {}; berth keeps retrying, but the task starts only once a person fixes {fix}",
        c.in_a_row, c.attempt, c.stopped_reason
    ))
}

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

/// What the run does next, from its status and its newest task.
pub fn next(i: &RunInputs<'_>) -> Verdict {
    if let Some(v) = finished(i) {
        return v;
    }
    let c = Course::new(i);
    match i.task {
        Some(t) if !t.stopped() => c.running(t),
        Some(t) => c.stopped(t),
        None => c.no_task(),
    }
}

/// A finished run stays finished: re-applying never runs it again. A
/// Failed one starts a new try when `berth.dev/refresh` asks for it.
fn finished(i: &RunInputs<'_>) -> Option<Verdict> {
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
        Some(Phase::Succeeded) => {
            let (reason, message) = reason_of(READY, Reason::Succeeded);
            Some(Verdict::new(
                Next::Wait(None),
                Phase::Succeeded,
                reason,
                message,
            ))
        }
        Some(Phase::Failed) if refresh_requested(s, i.refresh) => {
            let attempt = s.attempts + 1;
            Some(Verdict {
                refresh: i.refresh.map(str::to_string),
                ..Verdict::new(
                    Next::Run { attempt },
                    Phase::Running,
                    Reason::Retrying,
                    format!(
                        "berth.dev/refresh changed: attempt {attempt} starts a new try with a fresh backoffLimit"
                    ),
                )
            })
        }
        Some(Phase::Failed) => {
            let (reason, message) = reason_of(DEGRADED, Reason::BackoffLimitExceeded);
            Some(Verdict::new(
                Next::Wait(None),
                Phase::Failed,
                reason,
                message,
            ))
        }
        _ => None,
    }
}

/// A run under way: its limits, and how its attempts count.
struct Course<'a, 'i> {
    i: &'a RunInputs<'i>,
    max: i32,
    deadline: Option<Timestamp>,
    past_deadline: bool,
}

impl<'a, 'i> Course<'a, 'i> {
    fn new(i: &'a RunInputs<'i>) -> Self {
        let deadline = deadline(i);
        Self {
            i,
            max: i.backoff_limit + 1,
            deadline,
            past_deadline: deadline.is_some_and(|d| i.now >= d),
        }
    }

    fn deadline_message(&self) -> String {
        format!(
            "activeDeadlineSeconds ({}) exceeded",
            self.i.active_deadline_seconds.unwrap_or_default()
        )
    }

    fn in_try(&self, attempt: i32) -> bool {
        attempt > self.i.status.try_started_after
    }

    /// Attempts of this try through `attempt` that ran the command.
    fn counted(&self, attempt: i32) -> i32 {
        let s = self.i.status;
        attempt
            - s.try_started_after
            - s.start_failures
                .iter()
                .filter(|a| self.in_try(**a) && **a <= attempt)
                .count() as i32
    }

    fn no_task(&self) -> Verdict {
        let s = self.i.status;
        if s.attempts == s.try_started_after {
            return Verdict::new(
                Next::Run {
                    attempt: s.attempts + 1,
                },
                Phase::Pending,
                Reason::Starting,
                "starting the task".into(),
            );
        }
        // ECS forgot the task (about an hour after it stopped), but berth saw
        // it stop and recorded how: go on from the record.
        if s.finished_at.is_some() {
            return self.stopped(&recorded(s));
        }
        if self.past_deadline {
            return Verdict::finish(
                Phase::Failed,
                Reason::DeadlineExceeded,
                self.deadline_message(),
            );
        }
        // Gone before berth saw it stop: it may have run. Never run a
        // migration twice silently; a human decides with berth.dev/refresh.
        Verdict::finish(
            Phase::Failed,
            Reason::TaskResultUnknown,
            format!(
                "task {} of attempt {} is no longer known to ECS and berth never saw it stop, so whether it ran is unknown; set berth.dev/refresh to a new value to run it again",
                s.task_arn.as_deref().unwrap_or("(unrecorded)"),
                s.attempts
            ),
        )
    }

    fn running(&self, t: &TaskView) -> Verdict {
        let max = self.max;
        if self.past_deadline {
            return Verdict {
                finished: true,
                ..Verdict::new(
                    Next::Stop {
                        task_arn: t.arn.clone(),
                    },
                    Phase::Failed,
                    Reason::DeadlineExceeded,
                    format!(
                        "{}: stopped task {} (attempt {} of {max})",
                        self.deadline_message(),
                        t.arn,
                        self.counted(t.attempt)
                    ),
                )
            };
        }
        let wait = self
            .deadline
            .map_or(POLL, |d| POLL.min(until(self.i.now, d)));
        Verdict::new(
            Next::Wait(Some(wait.max(Duration::from_millis(200)))),
            Phase::Running,
            Reason::Running,
            format!(
                "attempt {} of {max}: task {} is {}",
                self.counted(t.attempt),
                t.arn,
                t.last_status
            ),
        )
    }

    fn stopped(&self, t: &TaskView) -> Verdict {
        let (s, max) = (self.i.status, self.max);
        if t.exit_code == Some(0) {
            return Verdict::finish(
                Phase::Succeeded,
                Reason::Succeeded,
                format!("attempt {} of {max} exited 0", self.counted(t.attempt)),
            );
        }
        let failure = t.failure();
        let start_failure = t.failed_to_start().then_some(t.attempt);
        let start_failures = s
            .start_failures
            .iter()
            .filter(|a| self.in_try(**a) && Some(**a) != start_failure)
            .count()
            + usize::from(start_failure.is_some());
        let with_record = |v: Verdict| Verdict {
            start_failure: start_failure.filter(|a| !s.start_failures.contains(a)),
            ..v
        };
        let used = self.counted(t.attempt)
            - i32::from(start_failure.is_some() && !s.start_failures.contains(&t.attempt));
        if start_failure.is_some() && start_failures >= MAX_START_FAILURES {
            return with_record(Verdict::finish(
                Phase::Failed,
                Reason::TaskNeverStarted,
                format!(
                    "{start_failures} attempts could not start their task, the last with {failure}; fix the cause, then set berth.dev/refresh to a new value"
                ),
            ));
        }
        if start_failure.is_none() && used >= max {
            return Verdict::finish(
                Phase::Failed,
                Reason::BackoffLimitExceeded,
                format!(
                    "attempt {used} of {max} failed with {failure}; backoffLimit {} reached",
                    self.i.backoff_limit
                ),
            );
        }
        if self.past_deadline {
            return with_record(Verdict::finish(
                Phase::Failed,
                Reason::DeadlineExceeded,
                format!(
                    "{}; last attempt failed with {failure}",
                    self.deadline_message()
                ),
            ));
        }
        let (what, failures) = if start_failure.is_some() {
            (format!(
                "the task of attempt {} could not start ({failure}); it never ran the command, so it does not count against backoffLimit ({used} of {max} used, start failure {start_failures} of {MAX_START_FAILURES})",
                t.attempt
            ), start_failures as i32)
        } else {
            (
                format!("attempt {used} of {max} failed with {failure}"),
                used,
            )
        };
        with_record(self.retry(t, &what, failures))
    }

    /// The next attempt after `failures` failed ones, once the backoff is over.
    fn retry(&self, t: &TaskView, what: &str, failures: i32) -> Verdict {
        let now = self.i.now;
        // The backoff counts from when berth saw the attempt stopped (status
        // `finishedAt` until the next attempt starts), not from ECS's stoppedAt:
        // berth's own clock is the one the requeue runs on.
        let seen = self
            .i
            .status
            .finished_at
            .as_deref()
            .and_then(|f| f.parse::<Timestamp>().ok())
            .unwrap_or(now);
        let next = seen
            .checked_add(SignedDuration::try_from(backoff(failures)).unwrap_or_default())
            .unwrap_or(now);
        if now >= next {
            return Verdict::new(
                Next::Run {
                    attempt: t.attempt + 1,
                },
                Phase::Running,
                Reason::Retrying,
                format!("{what}; starting the next attempt"),
            );
        }
        let mut wait = until(now, next);
        if let Some(d) = self.deadline {
            wait = wait.min(until(now, d));
        }
        Verdict::new(
            Next::Wait(Some(wait.max(Duration::from_millis(200)))),
            Phase::Running,
            Reason::Retrying,
            format!("{what}; next attempt in {}s", wait.as_secs()),
        )
    }
}

/// The stopped task as berth recorded it, once ECS has forgotten it.
fn recorded(s: &MigrationJobStatus) -> TaskView {
    TaskView {
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
    }
}
