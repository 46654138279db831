//! Reconciliation of `MigrationJob`: resolve what runs (the EcsService's
//! revision or an inline task definition), key the run by its hash, follow
//! the run's newest task until it stops, retry with backoff, and report.
//! A run hash is never run twice: before any RunTask, ECS is asked for the
//! run's tasks by `startedBy`, so a restart adopts what a crash left behind.

mod act;
mod observe;
pub mod plan;
#[cfg(test)]
mod plan_tests;
#[cfg(test)]
mod plan_tests_run;
#[cfg(test)]
mod plan_tests_states;
#[cfg(test)]
mod plan_tests_steps;
#[cfg(test)]
pub(crate) use plan_tests_states::rows as states;

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::api::DeleteParams;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

use super::context::Context;
use super::error::{Error, Result};
use super::memo::LastWrite;
use super::shell::{self, Deleted, Failed, Kind, Outcome, Target};
use crate::api::migration_job::{MigrationJob, MigrationJobStatus};
use crate::aws::ecs::tasks::{self, RunTarget};
use crate::aws::tags::owner_of;
use crate::aws::{Clients, FailureKind};
use plan::{is_finished, Plan, Report, Then};

impl Kind for MigrationJob {
    type Status = MigrationJobStatus;

    fn status(&self) -> Option<&MigrationJobStatus> {
        self.status.as_ref()
    }

    fn invalid(&self) -> Option<String> {
        self.spec.validate().err().map(|e| e.to_string())
    }

    async fn converge(
        &self,
        ctx: &Context,
        target: &Target<'_>,
        prev: &MigrationJobStatus,
    ) -> Result<Outcome<MigrationJobStatus>> {
        converge(self, ctx, target, prev).await
    }

    /// The run this process wrote last: a reconcile that reads an older
    /// status from the watch waits for it instead of acting on it.
    fn written(&self, ctx: &Context, status: &MigrationJobStatus) {
        if let (Some(uid), Some(hash)) = (&self.metadata.uid, &status.run_hash) {
            let (run_hash, attempts) = (hash.clone(), status.attempts);
            let last_write = Some(LastWrite { run_hash, attempts });
            ctx.memos.jobs.update(uid, |m| m.last_write = last_write);
        }
    }

    /// The current run's task, if it still runs (the task definitions
    /// berth derived stay: ECS keeps inactive ones visible anyway).
    fn left_in_aws(&self) -> Option<String> {
        let status = self.status.as_ref()?;
        let arn = status
            .task_arn
            .as_deref()
            .filter(|_| !is_finished(status))?;
        Some(format!("task {arn}, which runs until it stops by itself,"))
    }

    async fn delete(&self, ctx: &Context, clients: &Arc<Clients>) -> Result<Deleted> {
        stop_task(self, ctx, clients).await
    }
}

/// The kind's reconcile: observe, plan (reading from AWS what the plan
/// asks for), act, and the status to write.
async fn converge(
    obj: &MigrationJob,
    ctx: &Context,
    aws: &Target<'_>,
    prev: &MigrationJobStatus,
) -> Result<Outcome<MigrationJobStatus>> {
    let now = Timestamp::now();
    let mut seen = observe::observe(obj, ctx, prev);
    let mut clients = None;
    let p = loop {
        let inputs = plan::Inputs {
            job: obj,
            observed: &seen,
            now,
        };
        match plan::plan(&inputs) {
            Ok(p) => break p,
            Err(need) => observe::read(obj, ctx, aws, &mut seen, &mut clients, need).await?,
        }
    };
    let target = seen.target.as_ref().ok();
    let env = act::Env {
        ctx,
        clients: clients.as_deref(),
        target,
        now,
    };
    let p = act::act(p, obj, &env).await?;
    report(obj, ctx, prev, p, target).await
}

/// The status the plan reports, and when to come back.
async fn report(
    obj: &MigrationJob,
    ctx: &Context,
    prev: &MigrationJobStatus,
    p: Plan,
    target: Option<&RunTarget>,
) -> Result<Outcome<MigrationJobStatus>> {
    let cluster = target.map_or("", |t| t.cluster.as_str());
    let then = match p.then {
        Then::After(d) => shell::Then::After(d),
        // A running task is polled on the grid, with the other jobs' tasks.
        Then::Poll => shell::Then::After(super::poll::aligned(plan::POLL, cluster)),
        Then::Resync => shell::Then::Resync,
        Then::AwaitChange => shell::Then::Change,
        Then::Expire => shell::Then::Resync,
    };
    let next = match p.report {
        Report::Run {
            status,
            phase,
            reason,
            message,
            cannot_start,
        } => {
            // The PullThroughCache serving the image; a failed pull says
            // what state its rule is in.
            let serving = serving(obj, ctx, target, &status).await;
            let explain = |m: &str| super::pull_through::explain(m, serving.as_ref());
            let message = explain(&message);
            let cannot_start = cannot_start.as_deref().map(explain);
            let object = serving.and_then(|s| s.object);
            let now = Timestamp::now();
            plan::status(
                obj,
                prev,
                *status,
                phase,
                reason,
                &message,
                cannot_start.as_deref(),
                object,
                now,
            )
        }
        Report::Failed { reason, message } => {
            return Ok(Outcome::Failed(Failed::new(reason, message, then)))
        }
        Report::Nothing if p.then == Then::Expire => prev.clone(),
        Report::Nothing => return Ok(Outcome::Quiet(then)),
    };
    if p.then == Then::Expire {
        return expire(obj, ctx, next).await;
    }
    Ok(Outcome::status(next, then))
}

/// The PullThroughCache serving the image the job runs (from the watch
/// stores: no API or AWS call).
async fn serving(
    obj: &MigrationJob,
    ctx: &Context,
    target: Option<&RunTarget>,
    status: &MigrationJobStatus,
) -> Option<super::pull_through::Serving> {
    let ns = obj.namespace().unwrap_or_default();
    let region = ctx.aws_for(&ns).await.ok()?.target.region.clone();
    super::pull_through::for_task_definition(
        ctx,
        &ns,
        &region,
        &target?.task_definition,
        status.stopped_reason.as_deref().or(status
            .cannot_start
            .as_ref()
            .map(|c| c.stopped_reason.as_str())),
    )
}

/// `ttlSecondsAfterFinished` (standalone jobs): the object is deleted once
/// it is due; until then the finished run's status stays.
async fn expire(
    obj: &MigrationJob,
    ctx: &Context,
    next: MigrationJobStatus,
) -> Result<Outcome<MigrationJobStatus>> {
    match plan::expiry(obj, &next, Timestamp::now()) {
        plan::Expiry::Due => {
            tracing::info!(job = %owner_of(obj), "ttlSecondsAfterFinished passed: deleting");
            let api: Api<MigrationJob> =
                Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
            api.delete(&obj.name_any(), &DeleteParams::default())
                .await?;
            Ok(Outcome::Quiet(shell::Then::Change))
        }
        plan::Expiry::After(left) => Ok(Outcome::status(
            next,
            shell::Then::After(left.min(ctx.resync)),
        )),
        plan::Expiry::Never => Ok(Outcome::status(next, shell::Then::Resync)),
    }
}

/// Stops the deleted job's running task (the object goes at once: the
/// task stops by itself).
async fn stop_task(obj: &MigrationJob, ctx: &Context, clients: &Clients) -> Result<Deleted> {
    let Some(arn) = obj.status.as_ref().and_then(|s| s.task_arn.as_deref()) else {
        return Ok(Deleted::Gone);
    };
    match tasks::stop_task(clients, arn, "berth: MigrationJob deleted").await {
        Ok(()) => {}
        Err(f) if f.kind == FailureKind::Terminal => {
            // Nothing a retry fixes; the object must still go.
            tracing::warn!(job = %owner_of(obj), error = %f, "stopping the task failed");
        }
        Err(f) => return Err(Error::Aws(f)),
    }
    let note = format!("stopped task {arn}: the MigrationJob was deleted");
    ctx.event(obj, EventType::Normal, "TaskStopped", "StopTask", note)
        .await;
    Ok(Deleted::Gone)
}
