//! Starting an attempt: unless paused or waiting for the database, adopt
//! the attempt's task when ECS already has one, else RunTask with the task
//! definition at hand or registered at its turn; and the plan once that
//! happened (started, or queued for the registration).

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::{
    database_vars, pending_or_running, started_by, Inputs, Need, Note, Observed, Plan, Report,
    RunTask, Step, TaskDefinition, Then, Verdict, WAIT_REQUEUE,
};
use crate::api::common::EnvVar;
use crate::api::conditions::Reason;
use crate::api::migration_job::{MigrationJob, MigrationJobStatus, Phase};
use crate::aws::ecs::tasks::{TaskView, ToRun};
use crate::controller::pacing::{self, Found};

/// The plan for starting `attempt`, `v` being what the run's course said.
pub(super) fn run_attempt(
    i: &Inputs<'_>,
    run_hash: &str,
    cur: MigrationJobStatus,
    attempt: i32,
    v: &Verdict,
) -> Result<Plan, Need> {
    let o = i.observed;
    // Paused: nothing starts; the verdict stays what berth would report,
    // and the shell says `Paused` (`shell::paused`).
    if o.paused {
        let (phase, reason) = (v.phase, v.reason);
        return Ok(Plan::report(
            cur,
            phase,
            reason,
            v.message.clone(),
            Then::Resync,
        ));
    }
    let mut environment = i.job.spec.environment.clone();
    match database_env(i) {
        Ok(vars) => environment.extend(vars),
        Err(message) => {
            let phase = pending_or_running(&cur);
            let then = Then::After(WAIT_REQUEUE);
            return Ok(Plan::report(
                cur,
                phase,
                Reason::WaitingForDatabase,
                message,
                then,
            ));
        }
    }
    let Some((to_run, held)) = &o.to_run else {
        return Err(Need::ToRun);
    };
    // A job holding a registration ticket sent no RunTask since it took it.
    if !held {
        // ECS may know a task of this attempt that status does not (a
        // crash between RunTask and the status write): adopt it.
        let Some(known) = &o.run_tasks else {
            return Err(Need::RunTasks {
                started_by: started_by(run_hash),
            });
        };
        if let Some(found) = known.iter().find(|t| t.attempt >= attempt) {
            return Ok(adopt(i, cur, found));
        }
    }
    let task_definition = task_definition(o, to_run, *held)?;
    let mut p = Plan::report(cur, v.phase, v.reason, v.message.clone(), Then::Poll);
    p.step = Step::Run(Box::new(RunTask {
        attempt,
        run_hash: run_hash.to_string(),
        task_definition,
        environment,
        command: i.job.spec.command.clone(),
    }));
    Ok(p)
}

/// The attempt's task definition: the service's revision as is, the job's
/// own found by its hash tag, or the job's own registered at its turn.
fn task_definition(o: &Observed, to_run: &ToRun, held: bool) -> Result<TaskDefinition, Need> {
    Ok(match to_run {
        ToRun::Revision(arn) => TaskDefinition::Arn(arn.clone()),
        ToRun::Rendered(rendered) => {
            // It looked when it took its ticket.
            let found = match (held, &o.found) {
                (true, _) => Found::Held,
                (false, Some(found)) => found.clone(),
                (false, None) => return Err(Need::Found),
            };
            match found {
                Found::Revision { arn, .. } => TaskDefinition::Arn(arn),
                found => TaskDefinition::Register {
                    rendered: rendered.clone(),
                    found,
                },
            }
        }
    })
}

/// The job's environment additions from `databaseRef`; `Err` says what
/// the job waits for.
fn database_env(i: &Inputs<'_>) -> Result<Vec<EnvVar>, String> {
    let Some(r) = &i.job.spec.database_ref else {
        return Ok(Vec::new());
    };
    match &i.observed.database {
        Some(db) => database_vars(db),
        None => Err(format!(
            "AuroraCluster {:?} (spec.databaseRef) does not exist",
            r.name
        )),
    }
}

fn adopt(i: &Inputs<'_>, mut cur: MigrationJobStatus, found: &TaskView) -> Plan {
    cur.attempts = found.attempt;
    cur.task_arn = Some(found.arn.clone());
    cur.exit_code = None;
    cur.stopped_reason = None;
    cur.finished_at = None;
    cur.started_at
        .get_or_insert_with(|| found.created_at.unwrap_or(i.now).to_string());
    let message = format!(
        "attempt {} of {}: adopted task {} started before a restart",
        found.attempt,
        i.job.spec.backoff_limit + 1,
        found.arn
    );
    let then = Then::After(Duration::from_millis(500));
    let mut p = Plan::report(cur, Phase::Running, Reason::Running, message.clone(), then);
    p.events
        .push(Note::normal("TaskAdopted", "RunTask", message));
    p
}

/// The attempt's status before its RunTask, as `p` (a `Step::Run` plan)
/// carries it.
fn before_run(p: Plan) -> (MigrationJobStatus, Phase, Vec<Note>) {
    match p.report {
        Report::Run { status, phase, .. } => (*status, phase, p.events),
        // A Run step always reports the run.
        _ => (MigrationJobStatus::default(), Phase::Pending, p.events),
    }
}

/// The plan once RunTask started `task` for `run`, from `td_arn`.
pub fn started(
    p: Plan,
    job: &MigrationJob,
    run: &RunTask,
    task: &TaskView,
    td_arn: &str,
    now: Timestamp,
) -> Plan {
    let step = p.step.clone();
    let (mut cur, _, mut events) = before_run(p);
    cur.attempts = run.attempt;
    cur.task_arn = Some(task.arn.clone());
    cur.started_at.get_or_insert_with(|| now.to_string());
    cur.exit_code = None;
    cur.stopped_reason = None;
    cur.finished_at = None;
    let message = format!(
        "attempt {} of {}: started task {} ({td_arn})",
        run.attempt,
        job.spec.backoff_limit + 1,
        task.arn
    );
    events.push(Note::normal("TaskStarted", "RunTask", message.clone()));
    let mut p = Plan::report(cur, Phase::Running, Reason::Running, message, Then::Poll);
    p.step = step;
    p.events = events;
    p
}

/// The plan when the registration of the job's task definition waits
/// `wait` for its turn: nothing started, the job comes back then.
pub fn queued(p: Plan, job: &MigrationJob, run: &RunTask, wait: Duration, now: Timestamp) -> Plan {
    let step = p.step.clone();
    let (cur, phase, events) = before_run(p);
    let what = format!(
        "attempt {} of {}: its task definition (spec.image)",
        run.attempt,
        job.spec.backoff_limit + 1
    );
    let message = pacing::queued_message(&what, now, wait);
    let mut p = Plan::report(
        cur,
        phase,
        Reason::RegistrationQueued,
        message,
        Then::After(wait),
    );
    p.step = step;
    p.events = events;
    p
}

/// The Event of a task definition registered for the job.
pub fn registered(job: &MigrationJob, arn: &str) -> Note {
    Note::normal(
        "TaskDefinitionRegistered",
        "RegisterTaskDefinition",
        match &job.spec.image {
            Some(image) => format!("registered {arn} for image {image}"),
            None => format!("registered {arn}"),
        },
    )
}
