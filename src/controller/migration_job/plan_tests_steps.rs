//! What a planned step sends, and the plan once it was carried out
//! (`plan::started`, `plan::queued`); what a finished run records.

use std::time::Duration;

use super::plan::*;
use super::plan_tests::{finished, ready_db, with_database, world, World, NOW, TD};
use super::plan_tests_run::{at, task};
use crate::api::conditions::Reason;
use crate::api::migration_job::{LogTail, Phase};
use crate::aws::ecs::tasks::TaskView;

fn planned(w: &World) -> Plan {
    plan(&Inputs {
        job: &w.job,
        observed: &w.observed,
        now: at(NOW),
    })
    .unwrap()
}

fn run_of(p: &Plan) -> RunTask {
    match &p.step {
        Step::Run(r) => (**r).clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn run_task_sends_the_command_and_the_database_environment() {
    let mut w = world();
    with_database(&mut w);
    w.job.spec.command = vec!["migrate".into()];
    w.observed.database = Some(ready_db());
    let run = run_of(&planned(&w));
    assert_eq!(run.command, ["migrate"]);
    assert_eq!(run.run_hash, w.run_hash());
    assert_eq!(run.task_definition, TaskDefinition::Arn(TD.into()));
    let host = run
        .environment
        .iter()
        .find(|e| e.name == "DB_HOST")
        .unwrap();
    assert_eq!(host.value, "writer.example");
}

#[test]
fn a_started_task_is_followed_from_its_arn() {
    let w = world();
    let p = planned(&w);
    let run = run_of(&p);
    let started_task = task(1, "PROVISIONING", None, None);
    let p = started(p, &w.job, &run, &started_task, TD, at(NOW));
    let Report::Run {
        status,
        phase,
        reason,
        message,
        ..
    } = &p.report
    else {
        panic!("{:?}", p.report);
    };
    assert_eq!((*phase, *reason), (Phase::Running, Reason::Running));
    assert_eq!(status.attempts, 1);
    assert_eq!(status.task_arn.as_deref(), Some(started_task.arn.as_str()));
    assert_eq!(status.started_at, Some(at(NOW).to_string()));
    assert!(message.contains(TD), "{message}");
    assert_eq!(p.then, Then::Poll);
    assert_eq!(p.events.last().unwrap().reason, "TaskStarted");
}

#[test]
fn a_registration_not_yet_due_is_queued_with_its_turn() {
    let mut w = world();
    w.rendered(true);
    let p = planned(&w);
    let run = run_of(&p);
    let wait = Duration::from_secs(40);
    let p = queued(p, &w.job, &run, wait, at(NOW));
    let Report::Run {
        status,
        phase,
        reason,
        message,
        ..
    } = &p.report
    else {
        panic!("{:?}", p.report);
    };
    assert_eq!(
        (*phase, *reason),
        (Phase::Pending, Reason::RegistrationQueued)
    );
    assert_eq!(status.attempts, 0, "nothing started");
    assert!(message.contains("attempt 1 of 3"), "{message}");
    assert_eq!(p.then, Then::After(wait));
    assert!(p.events.is_empty());
}

#[test]
fn a_finished_tail_is_kept_and_cut_to_spec() {
    let mut w = world();
    w.job.spec.log_tail = Some(LogTail { lines: 5 });
    w.attempt(1);
    w.observed.task = Some(Some(task(1, "STOPPED", Some(0), Some(5))));
    w.observed.log_tail = Some(vec!["migrated".into()]);
    let p = planned(&w);
    assert_eq!(p.status().unwrap().log_tail, ["migrated"]);
    // Lowered to none: the kept tail goes.
    w.job.spec.log_tail = None;
    finished(
        &mut w,
        Phase::Succeeded,
        Reason::Succeeded,
        "attempt 1 of 3 exited 0",
    );
    w.observed.prev.log_tail = vec!["migrated".into()];
    assert!(planned(&w).status().unwrap().log_tail.is_empty());
}

#[test]
fn a_stopped_task_is_recorded() {
    let mut w = world();
    w.attempt(1);
    let t: TaskView = task(1, "STOPPED", Some(1), Some(5));
    w.observed.task = Some(Some(t));
    let s = planned(&w).status().unwrap().clone();
    assert_eq!(s.exit_code, Some(1));
    assert_eq!(s.finished_at, Some(at(NOW).to_string()));
    assert!(s.stopped_reason.is_some());
}

/// `ttlSecondsAfterFinished`: a finished standalone job goes once its TTL
/// has passed since it finished; a hook job (its service owns it), a job
/// without a TTL or without a finish time stays.
#[test]
fn a_finished_standalone_job_expires_after_its_ttl() {
    use crate::api::migration_job::{Hook, MigrationJobStatus};
    let finished = MigrationJobStatus {
        finished_at: Some(at(0).to_string()),
        ..Default::default()
    };
    let mut w = world();
    w.job.spec.hook = Hook::None;
    w.job.spec.ttl_seconds_after_finished = Some(60);
    assert_eq!(
        expiry(&w.job, &finished, at(20)),
        Expiry::After(Duration::from_secs(40))
    );
    assert_eq!(expiry(&w.job, &finished, at(60)), Expiry::Due);
    assert_eq!(
        expiry(&w.job, &MigrationJobStatus::default(), at(60)),
        Expiry::Never,
        "no finish time"
    );
    w.job.spec.hook = Hook::PreRollout;
    assert_eq!(
        expiry(&w.job, &finished, at(600)),
        Expiry::Never,
        "a hook job"
    );
    w.job.spec.hook = Hook::None;
    w.job.spec.ttl_seconds_after_finished = None;
    assert_eq!(expiry(&w.job, &finished, at(600)), Expiry::Never, "no TTL");
}

/// The plan's report while paused, as the shell writes it: every
/// condition says `Paused`, Ready keeps what the run found, the phase is
/// the run's.
fn paused_shown(w: &World) -> (Vec<(String, String)>, Option<Phase>) {
    use crate::controller::shell::{self, Outcome, Then as Requeue};
    use crate::controller::status::Conditioned;
    let prev = w.observed.prev.clone();
    let outcome = match planned(w).report {
        Report::Run {
            status,
            phase,
            reason,
            message,
            cannot_start,
        } => {
            let cannot_start = cannot_start.as_deref();
            let next = super::plan::status(
                &w.job,
                &prev,
                *status,
                phase,
                reason,
                &message,
                cannot_start,
                None,
                at(NOW),
            );
            Outcome::status(next, Requeue::Resync)
        }
        Report::Nothing => Outcome::Quiet(Requeue::Resync),
        other => panic!("{other:?}"),
    };
    let shown = match shell::paused("MigrationJob", &prev, outcome, None, at(NOW)) {
        Outcome::Status(next, _) => next.conditions().to_vec(),
        Outcome::Conditions(desired, _) => {
            crate::api::conditions::merge(&[], &desired, None, at(NOW))
        }
        other => panic!("{other:?}"),
    };
    let rows = shown
        .iter()
        .map(|c| (c.status.clone(), c.reason.clone()))
        .collect();
    (rows, prev.phase.or(Some(Phase::Pending)))
}

#[test]
fn paused_jobs_say_paused_and_a_succeeded_one_stays_ready() {
    let paused = |ready: &str| {
        [ready, "False", "False"]
            .iter()
            .map(|s| (s.to_string(), "Paused".to_string()))
            .collect::<Vec<_>>()
    };
    let mut w = world();
    w.observed.paused = true;
    assert_eq!(planned(&w).step, Step::Wait, "nothing starts");
    assert_eq!(paused_shown(&w), (paused("False"), Some(Phase::Pending)));

    // A succeeded run: Ready stays True (Healthy in Argo CD while paused).
    finished(
        &mut w,
        Phase::Succeeded,
        Reason::Succeeded,
        "attempt 1 of 3 exited 0",
    );
    w.observed.paused = true;
    assert_eq!(paused_shown(&w), (paused("True"), Some(Phase::Succeeded)));
}
