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
mod plan_tests_steps;

use std::sync::Arc;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::DeleteParams;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{finalizer, Event as Finalizer};
use kube::{Api, ResourceExt};

use super::context::{is_paused, Context, FINALIZER};
use super::error::{Error, Result};
use super::status;
use crate::api::conditions;
use crate::api::migration_job::{Hook, MigrationJob, MigrationJobStatus};
use crate::aws::ecs::tasks::{self, RunTarget};
use crate::aws::tags::owner_of;
use crate::aws::FailureKind;
use plan::{is_finished, LastWrite, Plan, Report, Then};

pub async fn reconcile(obj: Arc<MigrationJob>, ctx: Arc<Context>) -> Result<Action> {
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<MigrationJob> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalizer::Apply(obj) => apply(&obj, &ctx, &api).await,
            Finalizer::Cleanup(obj) => cleanup(&obj, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

async fn apply(obj: &MigrationJob, ctx: &Context, api: &Api<MigrationJob>) -> Result<Action> {
    let prev = obj.status.clone().unwrap_or_default();
    if let Err(invalid) = obj.spec.validate() {
        let p = plan::invalid(invalid.to_string());
        return report(obj, ctx, api, &prev, p, None).await;
    }
    match converge(obj, ctx, api, &prev).await {
        Ok(action) => Ok(action),
        Err(e) => match plan::after_error(&e) {
            Some(p) => report(obj, ctx, api, &prev, p, None).await,
            None => Err(e),
        },
    }
}

/// The kind's reconcile: observe, plan, act, and the one status write.
async fn converge(
    obj: &MigrationJob,
    ctx: &Context,
    api: &Api<MigrationJob>,
    prev: &MigrationJobStatus,
) -> Result<Action> {
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
            Err(need) => observe::read(obj, ctx, &mut seen, &mut clients, need).await?,
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
    report(obj, ctx, api, prev, p, target).await
}

/// The one status write of the reconcile, and when to come back.
async fn report(
    obj: &MigrationJob,
    ctx: &Context,
    api: &Api<MigrationJob>,
    prev: &MigrationJobStatus,
    p: Plan,
    target: Option<&RunTarget>,
) -> Result<Action> {
    let cluster = target.map_or("", |t| t.cluster.as_str());
    let written = match p.report {
        Report::Run {
            status,
            phase,
            reason,
            message,
        } => {
            let mut next = *status;
            // The PullThroughCache serving the image; a failed pull says
            // what state its rule is in.
            let serving = serving(obj, ctx, target, &next).await;
            let message = super::pull_through::explain(&message, serving.as_ref());
            next.pull_through_cache = serving.and_then(|s| s.object);
            next.phase = Some(phase);
            next.observed_generation = obj.metadata.generation;
            next.conditions = conditions::merge(
                &prev.conditions,
                &plan::conditions_for(phase, reason, &message),
                obj.metadata.generation,
                Timestamp::now(),
            );
            // A poll that learned nothing writes nothing.
            if next != *prev {
                status::apply(api, obj, &next).await?;
            }
            if let (Some(uid), Some(hash)) = (&obj.metadata.uid, &next.run_hash) {
                let attempts = next.attempts;
                let run_hash = hash.clone();
                ctx.memos.set(uid, LastWrite { run_hash, attempts });
            }
            Some(next)
        }
        Report::Failed { reason, message } => {
            status::write_failed(ctx, api, obj, prev, reason, &message).await?;
            None
        }
        Report::Nothing => None,
    };
    Ok(match p.then {
        Then::After(d) => Action::requeue(d),
        // A running task is polled on the grid, with the other jobs' tasks.
        Then::Poll => Action::requeue(super::poll::aligned(plan::POLL, cluster)),
        Then::Resync => Action::requeue(ctx.resync),
        Then::AwaitChange => Action::await_change(),
        Then::Expire => {
            let written = written.unwrap_or_else(|| prev.clone());
            return expire(obj, ctx, api, &written, Timestamp::now()).await;
        }
    })
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
        status.stopped_reason.as_deref(),
    )
}

/// `ttlSecondsAfterFinished` (standalone jobs): delete the object once it is due.
async fn expire(
    obj: &MigrationJob,
    ctx: &Context,
    api: &Api<MigrationJob>,
    status: &MigrationJobStatus,
    now: Timestamp,
) -> Result<Action> {
    let (Some(ttl), Hook::None) = (obj.spec.ttl_seconds_after_finished, obj.spec.hook) else {
        return Ok(Action::requeue(ctx.resync));
    };
    let Some(finished) = status
        .finished_at
        .as_deref()
        .and_then(|s| s.parse::<Timestamp>().ok())
    else {
        return Ok(Action::requeue(ctx.resync));
    };
    let due = finished
        .checked_add(SignedDuration::from_secs(ttl))
        .unwrap_or(finished);
    if now < due {
        let left = due.duration_since(now).unsigned_abs();
        return Ok(Action::requeue(left.min(ctx.resync)));
    }
    tracing::info!(job = %owner_of(obj), "ttlSecondsAfterFinished passed: deleting");
    api.delete(&obj.name_any(), &DeleteParams::default())
        .await?;
    Ok(Action::await_change())
}

/// Stops the current run's task if it is still running; the task
/// definitions berth derived stay (ECS keeps inactive ones visible anyway).
async fn cleanup(obj: &MigrationJob, ctx: &Context) -> Result<Action> {
    if let Some(uid) = &obj.metadata.uid {
        ctx.memos.forget(uid);
    }
    let status = obj.status.clone().unwrap_or_default();
    let Some(arn) = status.task_arn.as_deref() else {
        return Ok(Action::await_change());
    };
    if is_finished(&status) {
        return Ok(Action::await_change());
    }
    if is_paused(obj.annotations()) {
        return Err(Error::Config(
            "berth.dev/paused is \"true\": not stopping the running task".into(),
        ));
    }
    let left = format!("task {arn}, which runs until it stops by itself,");
    let Some(clients) = ctx.aws_for_cleanup(obj, &left).await? else {
        return Ok(Action::await_change());
    };
    match tasks::stop_task(&clients, arn, "berth: MigrationJob deleted").await {
        Ok(()) => {}
        Err(f) if f.kind == FailureKind::Terminal => {
            // Nothing a retry fixes; the object must still go.
            tracing::warn!(job = %owner_of(obj), error = %f, "stopping the task failed");
        }
        Err(f) => return Err(Error::Aws(f)),
    }
    ctx.event(
        obj,
        EventType::Normal,
        "TaskStopped",
        "StopTask",
        format!("stopped task {arn}: the MigrationJob was deleted"),
    )
    .await;
    Ok(Action::await_change())
}
