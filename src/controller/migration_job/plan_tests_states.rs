//! The MigrationJob's rows of the state table (`controller::state_table`),
//! each from the plan and the status it reports.

use super::plan::*;
use super::plan_tests::{with_database, world, World, NOW};
use super::plan_tests_run::{at, task};
use crate::api::conditions;
use crate::api::migration_job::MigrationJobStatus;
use crate::api::migration_job::Phase;
use crate::controller::shell::{Outcome, Then};
use crate::controller::state_table::{Row, Shown, State};

/// The status the reconcile would write, and its phase.
fn written(state: State, when: &'static str, w: &World) -> Row {
    let p = plan(&Inputs {
        job: &w.job,
        observed: &w.observed,
        now: at(NOW),
    })
    .unwrap_or_else(|need| panic!("{when}: the plan asks for {need:?}"));
    let (conditions, phase) = match p.report {
        Report::Run {
            status,
            phase,
            reason,
            message,
            cannot_start,
        } => {
            let s = super::plan::status(
                &w.job,
                &w.observed.prev,
                *status,
                phase,
                reason,
                &message,
                cannot_start.as_deref(),
                None,
                at(NOW),
            );
            (Row::desired(&s.conditions), phase)
        }
        Report::Failed { reason, message } => (conditions::failed(reason, message), Phase::Failed),
        Report::Nothing => panic!("{when}: nothing reported"),
    };
    let phase = match phase {
        Phase::Pending => "Pending",
        Phase::Running => "Running",
        Phase::Succeeded => "Succeeded",
        Phase::Failed => "Failed",
    };
    Row::new(state, when, conditions).phase(phase)
}

fn stopped(exit: i32) -> World {
    let mut w = world();
    w.attempt(1);
    w.observed.task = Some(Some(task(1, "STOPPED", Some(exit), Some(5))));
    w
}

pub(crate) fn rows() -> Vec<Row> {
    let mut failed = stopped(1);
    failed.job.spec.backoff_limit = 0;
    let mut waiting = world();
    with_database(&mut waiting);
    let succeeded = written(State::Ready, "the run succeeded", &stopped(0));
    let Shown::Conditions { conditions, .. } = &succeeded.shown else {
        unreachable!()
    };
    let paused = Row::paused_from::<MigrationJobStatus>(
        "berth.dev/paused is \"true\" after the run succeeded",
        "MigrationJob",
        Outcome::Conditions(conditions.clone(), Then::Resync),
    )
    .phase("Succeeded");
    vec![
        written(State::Creating, "the first task is being started", &world()),
        succeeded,
        Row::never(State::RollingOut, "a MigrationJob runs a task; it does not roll out"),
        written(
            State::Waiting,
            "spec.databaseRef names an AuroraCluster that is not Ready",
            &waiting,
        ),
        written(
            State::Retrying,
            "an attempt failed; the next starts after a backoff",
            &stopped(1),
        ),
        written(
            State::NeedsHuman,
            "every attempt spec.backoffLimit allows failed",
            &failed,
        ),
        paused,
        Row::never(
            State::Deleting,
            "deleting stops a running task with one call; the object goes at once",
        ),
        Row::never(
            State::Retained,
            "a MigrationJob has no deletionPolicy: a task still running when it is deleted runs until it stops",
        ),
    ]
}
