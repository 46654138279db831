//! Reconciliation of `MigrationJob`: resolve what runs (the EcsService's
//! revision or an inline task definition), key the run by its hash, follow
//! the run's newest task until it stops, retry with backoff, and report.
//! A run hash is never run twice: before any RunTask, ECS is asked for the
//! run's tasks by `startedBy`, so a restart adopts what a crash left behind.

mod act;
pub mod plan;
#[cfg(test)]
mod plan_tests;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::DeleteParams;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{finalizer, Event as Finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};

use super::context::{is_paused, Context, FINALIZER};
use super::error::{Error, Result};
use super::status;
use crate::api::aurora_cluster::AuroraCluster;
use crate::api::common::EnvVar;
use crate::api::conditions::{self, Reason};
use crate::api::ecs_service::EcsService;
use crate::api::migration_job::{Hook, MigrationJob, MigrationJobStatus, Phase};
use crate::aws::ecs::tasks::{self, RunTarget, TaskView};
use crate::aws::tags::owner_of;
use crate::aws::{Clients, FailureKind};
use plan::{Step, Unresolved};

/// Requeue while waiting on another object (EcsService changes also
/// trigger a reconcile through the watch; AuroraClusters are polled).
const WAIT_REQUEUE: Duration = Duration::from_secs(5);

/// The run hash and attempts of the last status this process wrote for a
/// MigrationJob: a reconcile that reads an older status from the watch
/// waits for it instead of acting on it.
#[derive(Clone)]
struct LastWrite {
    run_hash: String,
    attempts: i32,
}

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

/// The next poll of a running task: on the grid, so the tasks of every job
/// polling now are described in one DescribeTasks call per cluster.
fn poll(cluster: &str) -> Duration {
    super::poll::aligned(plan::POLL, cluster)
}

fn is_finished(status: &MigrationJobStatus) -> bool {
    matches!(status.phase, Some(Phase::Succeeded | Phase::Failed))
}

async fn apply(obj: &MigrationJob, ctx: &Context, api: &Api<MigrationJob>) -> Result<Action> {
    let prev = obj.status.clone().unwrap_or_default();
    if let Err(invalid) = obj.spec.validate() {
        status::write_failed(
            ctx,
            api,
            obj,
            &prev,
            Reason::InvalidSpec,
            &invalid.to_string(),
        )
        .await?;
        // Nothing to retry until the spec changes.
        return Ok(Action::await_change());
    }
    let outcome = match converge(obj, ctx, &prev).await {
        Ok(outcome) => outcome,
        Err(Error::Aws(f)) if f.kind == FailureKind::Terminal => Outcome::Failed {
            reason: Reason::AwsError,
            message: f.to_string(),
            then: Action::requeue(ctx.resync),
        },
        Err(e) => match e.refusal() {
            // The namespace's annotations decide; read again at the next resync.
            Some((reason, message)) => Outcome::Failed {
                reason,
                message,
                then: Action::requeue(ctx.resync),
            },
            None => return Err(e),
        },
    };
    // The one status write of the reconcile.
    match outcome {
        Outcome::Report {
            mut status,
            phase,
            reason,
            message,
            then,
        } => {
            // The PullThroughCache serving the image; a failed pull says
            // what state its rule is in.
            let serving = serving(obj, ctx, &status).await;
            let message = super::pull_through::explain(&message, serving.as_ref());
            status.pull_through_cache = serving.and_then(|s| s.object);
            // A tail kept before `spec.logTail` was lowered or removed goes.
            let keep = obj.spec.log_tail_lines().max(0) as usize;
            let excess = status.log_tail.len().saturating_sub(keep);
            status.log_tail.drain(..excess);
            let written = write(obj, api, &prev, *status, phase, reason, &message).await?;
            if let (Some(uid), Some(hash)) = (&obj.metadata.uid, &written.run_hash) {
                ctx.memos.set(
                    uid,
                    LastWrite {
                        run_hash: hash.clone(),
                        attempts: written.attempts,
                    },
                );
            }
            match then {
                Then::Requeue(d) => Ok(Action::requeue(d)),
                Then::Expire => expire(obj, ctx, api, &written, Timestamp::now()).await,
            }
        }
        Outcome::Failed {
            reason,
            message,
            then,
        } => {
            status::write_failed(ctx, api, obj, &prev, reason, &message).await?;
            Ok(then)
        }
        Outcome::Quiet(action) => Ok(action),
    }
}

/// The PullThroughCache serving the image the job runs (from the watch
/// stores: no API or AWS call).
async fn serving(
    obj: &MigrationJob,
    ctx: &Context,
    status: &MigrationJobStatus,
) -> Option<super::pull_through::Serving> {
    let ns = obj.namespace().unwrap_or_default();
    let service = borrowed_service(obj, ctx);
    let target = plan::resolve(obj, service.as_ref()).ok()?;
    let region = ctx.aws_for(&ns).await.ok()?.target.region.clone();
    super::pull_through::for_task_definition(
        ctx,
        &ns,
        &region,
        &target.task_definition,
        status.stopped_reason.as_deref(),
    )
}

/// What a reconcile found, for the one status write that follows it.
enum Outcome {
    /// The run's status in `phase`.
    Report {
        status: Box<MigrationJobStatus>,
        phase: Phase,
        reason: Reason,
        message: String,
        then: Then,
    },
    /// A failure a human must fix (`Degraded`).
    Failed {
        reason: Reason,
        message: String,
        then: Action,
    },
    /// Nothing to report.
    Quiet(Action),
}

enum Then {
    Requeue(Duration),
    /// The run is over: apply `ttlSecondsAfterFinished`.
    Expire,
}

fn report(
    status: MigrationJobStatus,
    phase: Phase,
    reason: Reason,
    message: impl Into<String>,
    then: Then,
) -> Outcome {
    Outcome::Report {
        status: Box::new(status),
        phase,
        reason,
        message: message.into(),
        then,
    }
}

/// Writes `next` with the conditions of `phase`, unless that is the status
/// the object already has (a poll that learned nothing writes nothing).
async fn write(
    obj: &MigrationJob,
    api: &Api<MigrationJob>,
    prev: &MigrationJobStatus,
    mut next: MigrationJobStatus,
    phase: Phase,
    reason: Reason,
    message: &str,
) -> Result<MigrationJobStatus> {
    next.phase = Some(phase);
    next.observed_generation = obj.metadata.generation;
    next.conditions = conditions::merge(
        &prev.conditions,
        &plan::conditions_for(phase, reason, message),
        obj.metadata.generation,
        Timestamp::now(),
    );
    if next != *prev {
        status::apply(api, obj, &next).await?;
    }
    Ok(next)
}

async fn converge(obj: &MigrationJob, ctx: &Context, prev: &MigrationJobStatus) -> Result<Outcome> {
    let ns = obj.namespace().unwrap_or_default();
    let owner = owner_of(obj);
    let uid = obj.metadata.uid.clone().unwrap_or_default();

    // Observe what runs, and which run.
    let target = match what_runs(obj, ctx, prev) {
        Ok(t) => t,
        Err(outcome) => return Ok(outcome),
    };
    let run_hash = which_run(obj, &owner, &target);
    if behind_own_write(ctx, &uid, prev, &run_hash) {
        return Ok(Outcome::Quiet(Action::requeue(Duration::from_millis(300))));
    }
    let mut cur = status_of_run(prev, &run_hash, &target, &owner);
    let now = Timestamp::now();

    let refresh = obj
        .annotations()
        .get(crate::controller::context::REFRESH_ANNOTATION)
        .map(String::as_str);
    cur.refreshed_by = plan::seen_refresh(&cur, refresh);
    if is_finished(&cur) && !plan::refresh_requested(&cur, refresh) {
        // No AWS call for a finished run; only the TTL is left.
        let p = plan_for(obj, &cur, None, refresh, now);
        return Ok(report(cur, p.phase, p.reason, p.message, Then::Expire));
    }

    let roles = crate::api::roles::job_roles(obj, &target.task_definition);
    let clients = ctx.aws_passing(&ns, &roles).await?;
    if let Some(waiting) = wait_for_previous_run(&clients, prev, &cur, &target).await? {
        return Ok(waiting);
    }
    let task = match &cur.task_arn {
        Some(arn) => tasks::task(&clients, &target.cluster, arn, &target.container).await?,
        None => None,
    };

    // Plan.
    let p = plan_for(obj, &cur, task.as_ref(), refresh, now);

    // Act.
    let run = Run {
        obj,
        ctx,
        ns: &ns,
        clients: &clients,
        target: &target,
        run_hash: &run_hash,
        owner: &owner,
        uid: &uid,
        now,
    };
    if let Some(value) = &p.refresh {
        act::start_new_try(obj, ctx, &mut cur, value).await;
    }
    match &p.step {
        Step::Wait(_) => {}
        Step::Stop { task_arn } => act::stop_past_deadline(obj, &clients, task_arn).await?,
        Step::Run { attempt } => return act::run_attempt(&run, cur, *attempt, p.phase).await,
    }

    // Status.
    record_task_result(&run, &mut cur, task.as_ref(), &p).await;
    let then = then_after(&p.step, &cur, &target.cluster);
    Ok(report(cur, p.phase, p.reason, p.message, then))
}

/// The run this reconcile acts on, once it needs AWS.
struct Run<'a> {
    obj: &'a MigrationJob,
    ctx: &'a Context,
    ns: &'a str,
    clients: &'a Clients,
    target: &'a RunTarget,
    run_hash: &'a str,
    owner: &'a str,
    uid: &'a str,
    now: Timestamp,
}

impl Run<'_> {
    fn max_attempts(&self) -> i32 {
        self.obj.spec.backoff_limit + 1
    }
}

/// The EcsService named in `serviceRef`, from the watch store.
fn borrowed_service(obj: &MigrationJob, ctx: &Context) -> Option<EcsService> {
    let ns = obj.namespace().unwrap_or_default();
    obj.spec.service_ref.as_ref().and_then(|r| {
        ctx.stores
            .services
            .get(&ObjectRef::new(&r.name).within(&ns))
            .map(|s| s.as_ref().clone())
    })
}

/// What runs; `Err` is what to report while there is nothing to run yet
/// (or cannot be).
fn what_runs(
    obj: &MigrationJob,
    ctx: &Context,
    prev: &MigrationJobStatus,
) -> std::result::Result<RunTarget, Outcome> {
    let service = borrowed_service(obj, ctx);
    match plan::resolve(obj, service.as_ref()) {
        Ok(t) => Ok(t),
        Err(waiting @ (Unresolved::WaitingForService(_) | Unresolved::WaitingForRollout(_))) => {
            let (reason, message) = match waiting {
                Unresolved::WaitingForRollout(m) => (Reason::WaitingForRollout, m),
                Unresolved::WaitingForService(m) | Unresolved::Invalid(m) => {
                    (Reason::WaitingForService, m)
                }
            };
            if is_finished(prev) {
                // A finished run stays reported until there is a new one.
                return Err(Outcome::Quiet(Action::requeue(ctx.resync)));
            }
            let phase = if prev.attempts > 0 {
                Phase::Running
            } else {
                Phase::Pending
            };
            Err(report(
                prev.clone(),
                phase,
                reason,
                message,
                Then::Requeue(WAIT_REQUEUE),
            ))
        }
        Err(Unresolved::Invalid(message)) => Err(Outcome::Failed {
            reason: Reason::InvalidSpec,
            message,
            then: Action::await_change(),
        }),
    }
}

/// Which run: a new hash starts over from attempt 1.
fn which_run(obj: &MigrationJob, owner: &str, target: &RunTarget) -> String {
    // A PostTestTraffic run is one per paused deployment.
    let key = match &target.service_deployment {
        Some(d) => Some(format!(
            "{}@{d}",
            target.service_hash.as_deref().unwrap_or_default()
        )),
        None => target.service_hash.clone(),
    };
    plan::run_hash(obj, owner, key.as_deref())
}

/// The watch has not caught up with this process's own last status
/// write (a reconcile triggered by another object's change): acting on
/// it would look for, and adopt, the task this process just started.
fn behind_own_write(ctx: &Context, uid: &str, prev: &MigrationJobStatus, run_hash: &str) -> bool {
    let written = ctx.memos.get::<LastWrite>(uid);
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
    owner: &str,
) -> MigrationJobStatus {
    if prev.run_hash.as_deref() == Some(run_hash) {
        return prev.clone();
    }
    if prev.run_hash.is_some() {
        tracing::info!(job = %owner, run_hash, "new run");
    }
    MigrationJobStatus {
        run_hash: Some(run_hash.to_string()),
        service_hash: target.service_hash.clone(),
        service_deployment: target.service_deployment.clone(),
        ..Default::default()
    }
}

fn plan_for(
    obj: &MigrationJob,
    cur: &MigrationJobStatus,
    task: Option<&TaskView>,
    refresh: Option<&str>,
    now: Timestamp,
) -> plan::Plan {
    plan::plan(&plan::Inputs {
        backoff_limit: obj.spec.backoff_limit,
        active_deadline_seconds: obj.spec.active_deadline_seconds,
        status: cur,
        task,
        refresh,
        now,
    })
}

/// Two runs of one job never overlap (two migrations at once): a new run
/// starts once the previous run's task has stopped. Deleting the job
/// stops it, when waiting is not what the user wants. `Some` while the
/// previous run's task still runs.
async fn wait_for_previous_run(
    clients: &Clients,
    prev: &MigrationJobStatus,
    cur: &MigrationJobStatus,
    target: &RunTarget,
) -> Result<Option<Outcome>> {
    let superseded = prev.run_hash.is_some() && prev.run_hash != cur.run_hash;
    let Some(old) = prev
        .task_arn
        .as_deref()
        .filter(|_| superseded && !is_finished(prev))
    else {
        return Ok(None);
    };
    let old_task = tasks::task(clients, &target.cluster, old, &target.container).await?;
    let still_running = old_task.is_some_and(|t| !t.stopped());
    if !still_running {
        return Ok(None);
    }
    let message = format!(
        "the spec or the service revision changed: the new run starts once task {old} of the previous run has stopped"
    );
    Ok(Some(report(
        prev.clone(),
        Phase::Running,
        Reason::Running,
        message,
        Then::Requeue(poll(&target.cluster)),
    )))
}

/// Status from what the task reported. finishedAt is when berth saw the
/// newest attempt stop (the backoff counts from it); a new attempt clears it.
async fn record_task_result(
    run: &Run<'_>,
    cur: &mut MigrationJobStatus,
    task: Option<&TaskView>,
    p: &plan::Plan,
) {
    let now = run.now;
    if let Some(t) = task.filter(|t| t.stopped()) {
        cur.exit_code = t.exit_code;
        cur.stopped_reason = t.stopped_reason.clone();
        cur.finished_at.get_or_insert_with(|| now.to_string());
    }
    cur.start_failures.extend(p.start_failure);
    if !p.finished {
        return;
    }
    cur.finished_at.get_or_insert_with(|| now.to_string());
    // Only on request: a task's output can hold what its readers must not see.
    let lines = run.obj.spec.log_tail_lines();
    if let Some(t) = task.filter(|t| t.stopped() && lines > 0) {
        let id = tasks::cluster_and_id(&t.arn).map(|(_, id)| id);
        if let Some((group, stream)) = id.and_then(|id| run.target.log_stream(id)) {
            let events = crate::aws::logs::log_tail(run.clients, &group, &stream, lines).await;
            cur.log_tail = super::bounds::log_tail(&events);
        }
    }
    let kind = if p.phase == Phase::Succeeded {
        EventType::Normal
    } else {
        EventType::Warning
    };
    run.ctx
        .event(run.obj, kind, p.reason.as_str(), "Run", p.message.clone())
        .await;
}

fn then_after(step: &Step, cur: &MigrationJobStatus, cluster: &str) -> Then {
    match step {
        // A running task is polled on the grid, with the other jobs' tasks.
        Step::Wait(Some(d)) if *d == plan::POLL => Then::Requeue(poll(cluster)),
        Step::Wait(Some(d)) => Then::Requeue(*d),
        _ if is_finished(cur) => Then::Expire,
        _ => Then::Requeue(poll(cluster)),
    }
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

/// The job's environment additions from `databaseRef`; `Err` says what
/// the job waits for.
async fn database_env(
    obj: &MigrationJob,
    ctx: &Context,
    ns: &str,
) -> Result<std::result::Result<Vec<EnvVar>, String>> {
    let Some(r) = &obj.spec.database_ref else {
        return Ok(Ok(Vec::new()));
    };
    let api: Api<AuroraCluster> = Api::namespaced(ctx.client.clone(), ns);
    let Some(db) = api.get_opt(&r.name).await? else {
        return Ok(Err(format!(
            "AuroraCluster {:?} (spec.databaseRef) does not exist",
            r.name
        )));
    };
    Ok(plan::database_vars(&db))
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
