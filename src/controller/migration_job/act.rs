//! Executes what the MigrationJob plan decided: a new try of a Failed run,
//! the attempt's task started (or adopted when ECS already has it), the
//! task stopped past its deadline; an Event for each.

use std::time::Duration;

use kube::runtime::events::EventType;
use kube::ResourceExt;

use super::{database_env, plan, poll, report, Outcome, Run, Then, WAIT_REQUEUE};
use crate::api::common::EnvVar;
use crate::api::conditions::Reason;
use crate::api::migration_job::{MigrationJob, MigrationJobStatus, Phase};
use crate::aws::ecs::tasks::{self, TaskView, ToRun};
use crate::aws::taskdef::latest_with_hash;
use crate::aws::Clients;
use crate::controller::context::{is_paused, Context};
use crate::controller::error::Result;
use crate::controller::pacing;

/// A new try of a Failed run: a fresh backoffLimit; attempts keep
/// counting, so no attempt's task or token is ever reused.
pub(super) async fn start_new_try(
    obj: &MigrationJob,
    ctx: &Context,
    cur: &mut MigrationJobStatus,
    value: &str,
) {
    cur.refreshed_by = Some(value.to_string());
    cur.try_started_after = cur.attempts;
    cur.start_failures.clear();
    cur.exit_code = None;
    cur.stopped_reason = None;
    cur.finished_at = None;
    ctx.event(
        obj,
        EventType::Normal,
        "RunRefreshed",
        "Refresh",
        format!("berth.dev/refresh is \"{value}\": the failed run starts a new try"),
    )
    .await;
}

pub(super) async fn stop_past_deadline(
    obj: &MigrationJob,
    clients: &Clients,
    task_arn: &str,
) -> Result<()> {
    if !is_paused(obj.annotations()) {
        tasks::stop_task(clients, task_arn, "berth: activeDeadlineSeconds exceeded").await?;
    }
    Ok(())
}

/// Starts `attempt` of the run, unless paused or waiting for the database,
/// or adopts its task when ECS already has one.
pub(super) async fn run_attempt(
    run: &Run<'_>,
    cur: MigrationJobStatus,
    attempt: i32,
    phase: Phase,
) -> Result<Outcome> {
    let Run { obj, ctx, .. } = *run;
    if is_paused(obj.annotations()) {
        let message = format!(
            "berth.dev/paused is \"true\": attempt {attempt} of {} is not started",
            run.max_attempts()
        );
        return Ok(report(
            cur,
            phase,
            Reason::Paused,
            message,
            Then::Requeue(ctx.resync),
        ));
    }
    let mut environment = obj.spec.environment.clone();
    match database_env(obj, ctx, run.ns).await? {
        Ok(vars) => environment.extend(vars),
        Err(message) => {
            let phase = if cur.attempts > 0 {
                Phase::Running
            } else {
                Phase::Pending
            };
            return Ok(report(
                cur,
                phase,
                Reason::WaitingForDatabase,
                message,
                Then::Requeue(WAIT_REQUEUE),
            ));
        }
    }

    let td = tasks::task_definition(run.clients, run.target, run.owner, run.uid);
    // A job holding a registration ticket sent no RunTask since it took it.
    let queued = matches!(&td, ToRun::Rendered(r) if pacing::waiting(&ctx.memos, run.uid, &r.hash));
    if !queued {
        // ECS may know a task of this attempt that status does not (a
        // crash between RunTask and the status write): adopt it.
        let started_by = plan::started_by(run.run_hash);
        let target = run.target;
        let known =
            tasks::run_tasks(run.clients, &target.cluster, &started_by, &target.container).await?;
        if let Some(found) = known.into_iter().find(|t| t.attempt >= attempt) {
            return Ok(adopt(run, cur, found).await);
        }
    }
    let td_arn = match registered(run, td, queued).await? {
        Ok(arn) => arn,
        Err(wait) => {
            let what = format!(
                "attempt {attempt} of {}: its task definition (spec.image)",
                run.max_attempts()
            );
            let message = pacing::queued_message(&what, run.now, wait);
            return Ok(report(
                cur,
                phase,
                Reason::RegistrationQueued,
                message,
                Then::Requeue(wait),
            ));
        }
    };
    start_task(run, cur, attempt, &environment, &td_arn).await
}

/// The task definition's ARN: the service's revision, or the job's own
/// found by its hash tag (unless `queued`: it looked when it took its
/// ticket), or registered at its turn; `Err` with the wait until then.
async fn registered(
    run: &Run<'_>,
    td: ToRun,
    queued: bool,
) -> Result<std::result::Result<String, Duration>> {
    let rendered = match td {
        ToRun::Revision(arn) => return Ok(Ok(arn)),
        ToRun::Rendered(rendered) => rendered,
    };
    let family = rendered.family.clone();
    if !queued {
        if let Some((arn, _)) = latest_with_hash(run.clients, &family, &rendered.hash).await? {
            return Ok(Ok(arn));
        }
    }
    let ticket = match pacing::turn(
        &run.ctx.memos,
        run.clients,
        run.uid,
        &rendered.hash,
        "ecs:RegisterTaskDefinition",
    ) {
        pacing::Turn::Now(ticket) => ticket,
        pacing::Turn::Later(wait) => return Ok(Err(wait)),
    };
    let (arn, _) = rendered.register(run.clients, Some(ticket)).await?;
    run.ctx
        .event(
            run.obj,
            EventType::Normal,
            "TaskDefinitionRegistered",
            "RegisterTaskDefinition",
            match &run.obj.spec.image {
                Some(image) => format!("registered {arn} for image {image}"),
                None => format!("registered {arn}"),
            },
        )
        .await;
    Ok(Ok(arn))
}

async fn adopt(run: &Run<'_>, mut cur: MigrationJobStatus, found: TaskView) -> Outcome {
    cur.attempts = found.attempt;
    cur.task_arn = Some(found.arn.clone());
    cur.exit_code = None;
    cur.stopped_reason = None;
    cur.finished_at = None;
    cur.started_at
        .get_or_insert_with(|| found.created_at.unwrap_or(run.now).to_string());
    let message = format!(
        "attempt {} of {}: adopted task {} started before a restart",
        found.attempt,
        run.max_attempts(),
        found.arn
    );
    run.ctx
        .event(
            run.obj,
            EventType::Normal,
            "TaskAdopted",
            "RunTask",
            message.clone(),
        )
        .await;
    report(
        cur,
        Phase::Running,
        Reason::Running,
        message,
        Then::Requeue(Duration::from_millis(500)),
    )
}

/// RunTask for `attempt` of `td_arn`.
async fn start_task(
    run: &Run<'_>,
    mut cur: MigrationJobStatus,
    attempt: i32,
    environment: &[EnvVar],
    td_arn: &str,
) -> Result<Outcome> {
    let Run { obj, ctx, .. } = *run;
    let started = tasks::run_task(
        run.clients,
        &tasks::RunRequest {
            target: run.target,
            task_definition: td_arn,
            run_hash: run.run_hash,
            attempt,
            owner: run.owner,
            uid: run.uid,
            command: &obj.spec.command,
            environment,
        },
    )
    .await?;
    cur.attempts = attempt;
    cur.task_arn = Some(started.arn.clone());
    cur.started_at.get_or_insert_with(|| run.now.to_string());
    cur.exit_code = None;
    cur.stopped_reason = None;
    cur.finished_at = None;
    let message = format!(
        "attempt {attempt} of {}: started task {} ({td_arn})",
        run.max_attempts(),
        started.arn
    );
    ctx.event(
        obj,
        EventType::Normal,
        "TaskStarted",
        "RunTask",
        message.clone(),
    )
    .await;
    Ok(report(
        cur,
        Phase::Running,
        Reason::Running,
        message,
        Then::Requeue(poll(&run.target.cluster)),
    ))
}
