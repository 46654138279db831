//! Carries out the step a MigrationJob plan decided, then publishes the
//! plan's Events. What follows from a RunTask or a registration's turn is
//! the plan's to say (`plan::started`, `plan::queued`).

use k8s_openapi::jiff::Timestamp;

use super::plan::{self, Plan, RunTask, Step, TaskDefinition};
use crate::api::migration_job::MigrationJob;
use crate::aws::ecs::tasks::{self, RunTarget};
use crate::aws::tags::owner_of;
use crate::aws::Clients;
use crate::controller::context::Context;
use crate::controller::error::{Error, Result};
use crate::controller::pacing::{self, Registration};

/// What the step needs from the observation.
pub(super) struct Env<'a> {
    pub ctx: &'a Context,
    pub clients: Option<&'a Clients>,
    pub target: Option<&'a RunTarget>,
    pub now: Timestamp,
}

/// Carries out `p`'s step; the plan as it ended up.
pub(super) async fn act(p: Plan, job: &MigrationJob, env: &Env<'_>) -> Result<Plan> {
    let p = match &p.step {
        Step::Wait => p,
        Step::Stop { task_arn } => {
            let reason = "berth: activeDeadlineSeconds exceeded";
            tasks::stop_task(aws(env)?.0, task_arn, reason).await?;
            p
        }
        Step::Run(run) => {
            let run = (**run).clone();
            run_task(p, &run, job, env).await?
        }
    };
    for e in &p.events {
        env.ctx
            .event(job, e.type_, e.reason, e.action, e.message.clone())
            .await;
    }
    Ok(p)
}

fn aws<'a>(env: &Env<'a>) -> Result<(&'a Clients, &'a RunTarget)> {
    match (env.clients, env.target) {
        (Some(c), Some(t)) => Ok((c, t)),
        _ => Err(Error::Config(
            "a step planned before its AWS clients".into(),
        )),
    }
}

/// RunTask for the attempt, its task definition registered at its turn
/// first when it must be.
async fn run_task(p: Plan, run: &RunTask, job: &MigrationJob, env: &Env<'_>) -> Result<Plan> {
    let (clients, target) = aws(env)?;
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let td_arn = match &run.task_definition {
        TaskDefinition::Arn(arn) => arn.clone(),
        TaskDefinition::Register { rendered, found } => {
            let memos = &env.ctx.memos.jobs;
            match pacing::register(memos, clients, &uid, rendered, found.clone()).await? {
                Registration::Found { arn, .. } => arn,
                Registration::Registered { arn, .. } => {
                    let e = plan::registered(job, &arn);
                    env.ctx
                        .event(job, e.type_, e.reason, e.action, e.message)
                        .await;
                    arn
                }
                Registration::Queued(wait) => return Ok(plan::queued(p, job, run, wait, env.now)),
            }
        }
    };
    let started = tasks::run_task(
        clients,
        &tasks::RunRequest {
            target,
            task_definition: &td_arn,
            run_hash: &run.run_hash,
            attempt: run.attempt,
            owner: &owner_of(job),
            uid: &uid,
            command: &run.command,
            environment: &run.environment,
        },
    )
    .await?;
    Ok(plan::started(p, job, run, &started, &td_arn, env.now))
}
