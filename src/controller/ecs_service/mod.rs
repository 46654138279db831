//! Reconciliation of `EcsService`: validate, observe ECS (batched), render
//! the task definition (register only on a new hash), plan the one service
//! mutation, act, and write status by server-side apply.

mod act_deployment;
mod act_service;
mod claim;
mod cleanup;
mod cloud_map;
pub mod deployment;
pub mod plan;
#[cfg(test)]
mod plan_tests;
pub mod retry;

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{finalizer, Event as Finalizer};
use kube::{Api, ResourceExt};

use super::context::{is_paused, Context, FINALIZER, REFRESH_ANNOTATION};
use super::error::{Error, Result};
use super::{pacing, poll, status};
use crate::api::conditions::{self, Desired, Reason, DEGRADED, PROGRESSING, READY};
use crate::api::ecs_service::{
    EcsService, EcsServiceStatus, RolloutStatus, ServiceDeploymentStatus, StoppedTask,
};
use crate::api::roles::PassesRoles;
use crate::aws::ecs::{services as act, ServiceView};
use crate::aws::tags::owner_of;
use crate::aws::{taskdef, AwsFailure, Clients, FailureKind};
use crate::controller::ownership::Owners;
use plan::ServiceAction;

/// Stopped tasks kept in status.
const STOPPED_IN_STATUS: usize = 5;

pub async fn reconcile(obj: Arc<EcsService>, ctx: Arc<Context>) -> Result<Action> {
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<EcsService> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalizer::Apply(obj) => apply(&obj, &ctx, &api).await,
            Finalizer::Cleanup(obj) => cleanup::cleanup(&obj, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

async fn apply(obj: &EcsService, ctx: &Context, api: &Api<EcsService>) -> Result<Action> {
    let prev = obj.status.clone().unwrap_or_default();
    if let Err(invalid) = obj.validate() {
        let message = invalid.to_string();
        status::write_failed(ctx, api, obj, &prev, Reason::InvalidSpec, &message).await?;
        // Nothing to retry until the spec changes.
        return Ok(Action::await_change());
    }
    let namespace = obj.namespace().unwrap_or_default();
    let clients = match ctx.aws_passing(&namespace, &obj.passed_roles()).await {
        Ok(c) => c,
        Err(e) => match e.refusal() {
            // The namespace's annotations decide; they are read again at
            // the next resync (or any change of the object).
            Some((reason, message)) => {
                status::write_failed(ctx, api, obj, &prev, reason, &message).await?;
                return Ok(Action::requeue(ctx.resync));
            }
            None => return Err(e),
        },
    };
    match converge(obj, ctx, api, &clients, &prev).await {
        Ok(action) => Ok(action),
        Err(Error::Aws(f)) if f.kind == FailureKind::Terminal => {
            let (reason, message) = terminal_reason(obj, &f);
            status::write_failed(ctx, api, obj, &prev, reason, &message).await?;
            Ok(Action::requeue(ctx.resync))
        }
        Err(e) => Err(e),
    }
}

fn terminal_reason(obj: &EcsService, f: &AwsFailure) -> (Reason, String) {
    if f.is_code("ClusterNotFoundException") {
        return (
            Reason::ClusterNotFound,
            format!(
                "ECS cluster {:?} (spec.cluster) does not exist; berth never creates clusters (names are case-sensitive)",
                obj.spec.cluster
            ),
        );
    }
    if f.is_code("NamespaceNotFound") {
        return (Reason::NamespaceNotFound, f.message.clone());
    }
    if f.action == "secretsmanager:DescribeSecret" && f.is_code("ResourceNotFoundException") {
        return (
            Reason::SecretNotFound,
            format!(
                "a secret referenced in spec.taskDefinition does not exist: {}",
                f.message
            ),
        );
    }
    (Reason::AwsError, f.to_string())
}

async fn converge(
    obj: &EcsService,
    ctx: &Context,
    api: &Api<EcsService>,
    clients: &Arc<Clients>,
    prev: &EcsServiceStatus,
) -> Result<Action> {
    let spec = &obj.spec;
    let paused = is_paused(obj.annotations());

    // Observe.
    let rendered = render(obj, clients).await?;
    let hash = rendered.hash.clone();
    if !paused && still_waiting(obj, ctx, prev, &hash) {
        return Ok(Action::requeue(poll::aligned(ctx.poll, &spec.cluster)));
    }
    // A service holding a ticket for its registration (`pacing`) observed
    // ECS when it took it (a missing cluster stops it before it registers
    // anything): at its turn it registers and observes at the next poll.
    let uid = obj.metadata.uid.as_deref().unwrap_or_default();
    let held = pacing::waiting(&ctx.memos, uid, &hash);
    let observed = if held {
        None
    } else {
        Some(observe(obj, clients).await?)
    };
    // Whose the service is, before anything is registered for it: an
    // object refused the service (another's, or not adopted) leaves no
    // revision in its family and takes no registration ticket.
    let mut owners = Owners::default();
    if let Some(Some(svc)) = &observed {
        owners = claim::owners(ctx, obj, &[&svc.tags]).await?;
        if let Some((reason, message)) = claim::service_refused(obj, svc, &owners) {
            status::write_failed(ctx, api, obj, prev, reason, &message).await?;
            return Ok(Action::requeue(poll::aligned(ctx.resync, &spec.cluster)));
        }
    }
    let revision = desired_revision(obj, ctx, clients, prev, &rendered, paused, held).await?;
    let (desired_arn, revision) = match revision {
        Revision::Known(arn, revision) => (arn, revision),
        Revision::Refused(reason, message) => {
            status::write_failed(ctx, api, obj, prev, reason, &message).await?;
            return Ok(Action::requeue(ctx.resync));
        }
        Revision::Later(wait) => return Ok(Action::requeue(wait)),
        Revision::Queued(wait) => return write_queued(api, obj, prev, wait).await,
        Revision::Paused => return write_paused_without_revision(obj, ctx, api, prev, &hash).await,
    };
    let service = match observed {
        Some(service) => service,
        None => {
            let service = observe(obj, clients).await?;
            if let Some(svc) = &service {
                owners = claim::owners(ctx, obj, &[&svc.tags]).await?;
            }
            service
        }
    };
    let record =
        act_deployment::current_record(clients, &spec.cluster, service.as_ref(), prev).await?;
    // Cloud Map: reuse what status knows while the service points at it.
    let registry =
        match cloud_map::registry(obj, ctx, clients, prev, service.as_ref(), paused).await? {
            Ok(registry) => registry,
            Err((reason, message)) => {
                status::write_failed(ctx, api, obj, prev, reason, &message).await?;
                return Ok(Action::requeue(ctx.resync));
            }
        };
    let pushed = prev.rollout.as_ref().and_then(|r| r.revision) == Some(revision);
    let stopped = stopped_tasks(obj, clients, service.as_ref(), &desired_arn, pushed).await?;
    // The MigrationJobs naming us: the pre-rollout gate and the checks.
    let jobs = ctx.jobs_for(&obj.namespace().unwrap_or_default(), &obj.name_any());
    let post_test = deployment::post_test_jobs(&jobs, &obj.name_any());
    let serving = pull_through(obj, ctx, clients, &stopped);
    let cache = retry::cache_ready(
        &ctx.stores.caches.state(),
        &obj.namespace().unwrap_or_default(),
        serving.as_ref(),
        &stopped,
        &desired_arn,
    );

    // Plan.
    let now = Timestamp::now();
    let mut p = plan::plan(&plan::Inputs {
        obj,
        hash: &hash,
        desired_arn: &desired_arn,
        desired_revision: revision,
        service: service.as_ref(),
        owners: &owners,
        record: record.as_ref(),
        registry_arn: registry.as_deref(),
        stopped: &stopped,
        gate: plan::gate(&jobs, &obj.name_any(), &hash),
        post_check: plan::post_check(&jobs, &obj.name_any(), &hash),
        paused,
        pause_post_test: !post_test.is_empty(),
        post_test_failed: record
            .as_ref()
            .and_then(|r| deployment::post_test_failure(&post_test, &r.arn)),
        refresh: obj
            .annotations()
            .get(REFRESH_ANNOTATION)
            .map(String::as_str),
        cache,
        now,
    });
    for c in &mut p.conditions {
        c.message = super::pull_through::explain(&c.message, serving.as_ref());
    }

    // Act.
    let rollback_requested = if paused {
        prev.rollback_requested.clone()
    } else {
        act_deployment::manual_rollback(obj, ctx, clients, prev, record.as_ref()).await?
    };
    if let (Some(r), false) = (record.as_ref(), paused) {
        act_deployment::answer_hook(obj, ctx, clients, &post_test, r).await?;
    }
    let current = act_service::act_on(obj, ctx, clients, &p, service, revision).await?;

    // Status.
    let next = EcsServiceStatus {
        observed_generation: obj.metadata.generation,
        conditions: conditions::merge(
            &prev.conditions,
            &p.conditions,
            obj.metadata.generation,
            now,
        ),
        service_arn: current
            .as_ref()
            .map(|s| s.arn.clone())
            .or(prev.service_arn.clone()),
        task_definition_arn: Some(desired_arn.clone()),
        revision: Some(revision),
        spec_hash: Some(hash),
        desired_count: current.as_ref().map(|s| s.desired_count),
        running_count: current.as_ref().map(|s| s.running_count),
        pending_count: current.as_ref().map(|s| s.pending_count),
        rollout: rollout_after(&p, current.as_ref()),
        last_stopped_tasks: if p.last_stopped.is_empty() {
            prev.last_stopped_tasks.clone()
        } else {
            p.last_stopped.clone()
        },
        cloud_map_service_arn: registry,
        previous_task_definition_arn: p.previous_arn.clone(),
        pull_through_cache: serving.and_then(|s| s.object),
        rollback_requested,
    };
    announce_transitions(obj, ctx, prev, &next).await;
    let was_ready = conditions::is_true(&prev.conditions, READY)
        && prev.task_definition_arn.as_deref() == Some(desired_arn.as_str());
    // Prune before reporting Ready: a user who sees Ready sees the history
    // as it will stay.
    if conditions::is_true(&next.conditions, READY) && !was_ready && !paused {
        let previous = p.previous_arn.as_deref();
        act_service::prune_revisions(obj, ctx, clients, &desired_arn, previous, current.as_ref())
            .await?;
    }
    remember_waiting(obj, ctx, &next);
    // A poll that learned nothing writes nothing.
    if next != *prev {
        status::apply(api, obj, &next).await?;
    }
    Ok(requeue(obj, ctx, &next))
}

async fn observe(obj: &EcsService, clients: &Arc<Clients>) -> Result<Option<ServiceView>> {
    Ok(clients
        .batches
        .services
        .get(clients, &obj.spec.cluster, &obj.service_name())
        .await?)
}

/// The task definition berth registers for the spec, with the current
/// versions of the secrets it references in its hash.
async fn render(obj: &EcsService, clients: &Clients) -> Result<taskdef::RenderedTaskDefinition> {
    let spec = &obj.spec;
    let secret_arns = taskdef::secret_arns(&spec.task_definition);
    let versions = crate::aws::secrets::secret_versions(clients, &secret_arns).await?;
    Ok(taskdef::register_request(&taskdef::RenderInput {
        spec: &spec.task_definition,
        family: obj.family(),
        region: clients.target.region.clone(),
        owner: owner_of(obj),
        uid: obj.metadata.uid.clone().unwrap_or_default(),
        user_tags: &spec.tags,
        secret_versions: &versions,
    }))
}

/// The service's recently stopped tasks, read only when they can explain
/// something: a failure, or a service berth pushed the desired revision to
/// that is no longer on it (after a rollback ECS settles on the old one
/// while the stopped tasks of the new one say why).
async fn stopped_tasks(
    obj: &EcsService,
    clients: &Clients,
    service: Option<&ServiceView>,
    desired_arn: &str,
    pushed: bool,
) -> Result<Vec<StoppedTask>> {
    // A service waiting for its migrations is on the old revision because
    // berth has not pushed the new one yet: nothing to explain (listing on
    // every poll made a release of N gated services cost ~3N ListTasks).
    let reverted =
        pushed && service.is_some_and(|s| s.task_definition.as_deref() != Some(desired_arn));
    match service {
        Some(svc) if needs_stopped_tasks(svc) || reverted => Ok(act::stopped_tasks(
            clients,
            &obj.spec.cluster,
            &obj.service_name(),
            STOPPED_IN_STATUS,
        )
        .await?),
        _ => Ok(Vec::new()),
    }
}

/// The PullThroughCache serving an image in this account's ECR (an image
/// a stopped task could not pull first): a failed pull says in the
/// conditions what state its rule is in.
fn pull_through(
    obj: &EcsService,
    ctx: &Context,
    clients: &Clients,
    stopped: &[StoppedTask],
) -> Option<super::pull_through::Serving> {
    let failure = stopped.iter().find_map(|t| {
        t.stopped_reason
            .as_deref()
            .filter(|r| r.contains("CannotPullContainerError"))
    });
    super::pull_through::for_task_definition(
        ctx,
        &obj.namespace().unwrap_or_default(),
        &clients.target.region,
        &obj.spec.task_definition,
        failure,
    )
}

/// The plan's rollout, with the new deployment's id and record as the
/// create or update answered them.
fn rollout_after(p: &plan::Plan, current: Option<&ServiceView>) -> Option<RolloutStatus> {
    let mut rollout = p.rollout.clone();
    let (Some(r), Some(svc)) = (rollout.as_mut(), current) else {
        return rollout;
    };
    if p.action == ServiceAction::Nothing {
        return rollout;
    }
    if let Some(d) = svc.primary() {
        r.deployment_id = d.id.clone();
    }
    let known = r.service_deployment.as_ref().map(|d| d.arn.as_str());
    if let Some(arn) = svc
        .current_service_deployment
        .as_deref()
        .filter(|a| Some(*a) != known)
    {
        r.service_deployment = Some(ServiceDeploymentStatus {
            arn: arn.to_string(),
            ..ServiceDeploymentStatus::default()
        });
    }
    rollout
}

/// When this process last observed AWS for a service that was waiting for
/// its migrations, and the refresh value it had then.
#[derive(Clone)]
struct Waiting {
    at: std::time::Instant,
    refresh: Option<String>,
}

fn remember_waiting(obj: &EcsService, ctx: &Context, next: &EcsServiceStatus) {
    let uid = obj.metadata.uid.as_deref().unwrap_or_default();
    if conditions::find(&next.conditions, PROGRESSING)
        .is_some_and(|c| c.reason == Reason::WaitingForMigrations.as_str())
    {
        let refresh = obj.annotations().get(REFRESH_ANNOTATION).cloned();
        ctx.memos.set(
            uid,
            Waiting {
                at: std::time::Instant::now(),
                refresh,
            },
        );
    } else {
        ctx.memos.forget_one::<Waiting>(uid);
    }
}

/// Still waiting for the same migrations as the status says: ECS cannot
/// open the gate (the MigrationJob watch wakes the service when a job
/// finishes), so until the next resync or refresh a poll skips AWS. A
/// release of N gated services otherwise cost DescribeServices for every
/// poll of the whole wait, which grows with N (the migrations are paced by
/// RegisterTaskDefinition).
fn still_waiting(obj: &EcsService, ctx: &Context, prev: &EcsServiceStatus, hash: &str) -> bool {
    let uid = obj.metadata.uid.as_deref().unwrap_or_default();
    let Some(seen) = ctx.memos.get::<Waiting>(uid) else {
        return false;
    };
    let refresh = obj.annotations().get(REFRESH_ANNOTATION);
    let Some(progressing) = conditions::find(&prev.conditions, PROGRESSING) else {
        return false;
    };
    let jobs = ctx.jobs_for(&obj.namespace().unwrap_or_default(), &obj.name_any());
    seen.at.elapsed() < ctx.resync
        && seen.refresh.as_ref() == refresh
        && prev.observed_generation == obj.metadata.generation
        && prev.spec_hash.as_deref() == Some(hash)
        && progressing.status == "True"
        && progressing.reason == Reason::WaitingForMigrations.as_str()
        && matches!(
            plan::gate(&jobs, &obj.name_any(), hash),
            plan::Gate::Waiting(m) if m == progressing.message
        )
}

/// An ECS deployment still moving (also one berth asked to roll back after
/// a failed check, which leaves Progressing false) is followed at the poll
/// interval until it ends; a settled service waits for the next resync.
fn requeue(obj: &EcsService, ctx: &Context, next: &EcsServiceStatus) -> Action {
    let deployment_ongoing = next
        .rollout
        .as_ref()
        .and_then(|r| r.service_deployment.as_ref())
        .and_then(|d| d.status.as_deref())
        .is_some_and(|s| {
            matches!(
                s,
                "PENDING"
                    | "IN_PROGRESS"
                    | "STOP_REQUESTED"
                    | "ROLLBACK_REQUESTED"
                    | "ROLLBACK_IN_PROGRESS"
            )
        });
    let busy = conditions::is_true(&next.conditions, PROGRESSING)
        || deployment_ongoing
        || conditions::find(&next.conditions, DEGRADED)
            .is_some_and(|c| c.status == "True" && c.reason == "TasksFailing");
    if busy {
        Action::requeue(poll::aligned(ctx.poll, &obj.spec.cluster))
    } else {
        // Resyncs on the grid too: a steady state of N services costs
        // ceil(N / 10) DescribeServices per cluster and resync.
        Action::requeue(poll::aligned(ctx.resync, &obj.spec.cluster))
    }
}

/// The desired revision, or why there is none yet.
enum Revision {
    Known(String, i64),
    /// Paused and not registered yet.
    Paused,
    /// Its registration's turn comes after this wait.
    Queued(std::time::Duration),
    /// Registered after waiting for its turn: observed at the next poll,
    /// after this wait.
    Later(std::time::Duration),
    /// The family is another object's (`claim::family_refused`).
    Refused(Reason, String),
}

/// The revision for the rendering's hash: known from status (survives
/// restarts), or found by its hash tag, or registered now, or once its
/// ticket for RegisterTaskDefinition is due. `held`: the service holds
/// that ticket (`pacing::waiting`).
async fn desired_revision(
    obj: &EcsService,
    ctx: &Context,
    clients: &Clients,
    prev: &EcsServiceStatus,
    rendered: &taskdef::RenderedTaskDefinition,
    paused: bool,
    held: bool,
) -> Result<Revision> {
    let hash = &rendered.hash;
    if let (Some(h), Some(arn)) = (&prev.spec_hash, &prev.task_definition_arn) {
        if h == hash {
            return Ok(Revision::Known(arn.clone(), prev.revision.unwrap_or(0)));
        }
    }
    let uid = obj.metadata.uid.clone().unwrap_or_default();
    let remembered = ctx
        .memos
        .get::<Registered>(&uid)
        .filter(|r| r.hash == *hash)
        .map(|r| (r.arn, r.revision));
    if let Some((arn, revision)) = remembered {
        return Ok(Revision::Known(arn, revision));
    }
    let remember = |arn: &str, revision: i64| {
        ctx.memos.set(
            &uid,
            Registered {
                hash: hash.clone(),
                arn: arn.to_string(),
                revision,
            },
        );
    };
    // A service holding a ticket looked for the hash when it took it, and
    // nothing registers its family meanwhile.
    if !held {
        if let Some(latest) = taskdef::latest(clients, &obj.family()).await? {
            let owners = claim::owners(ctx, obj, &[&latest.tags]).await?;
            if let Some((reason, message)) = claim::family_refused(obj, &latest.tags, &owners) {
                return Ok(Revision::Refused(reason, message));
            }
            if latest.has_hash(hash) {
                remember(&latest.arn, latest.revision);
                return Ok(Revision::Known(latest.arn, latest.revision));
            }
        }
    }
    if paused {
        return Ok(Revision::Paused);
    }
    let ticket = match pacing::turn(&ctx.memos, clients, &uid, hash, REGISTER) {
        pacing::Turn::Now(ticket) => ticket,
        pacing::Turn::Later(wait) => return Ok(Revision::Queued(wait)),
    };
    let (arn, revision) = rendered.register(clients, Some(ticket)).await?;
    remember(&arn, revision);
    ctx.event(
        obj,
        EventType::Normal,
        "TaskDefinitionRegistered",
        "RegisterTaskDefinition",
        format!(
            "registered {} revision {revision} (hash {hash})",
            obj.family()
        ),
    )
    .await;
    if held {
        // Registrations come one a second: observing now would describe
        // this service alone. The next poll on the cluster's grid describes
        // it with the others (`Registered` remembers the revision).
        return Ok(Revision::Later(poll::aligned(ctx.poll, &obj.spec.cluster)));
    }
    Ok(Revision::Known(arn, revision))
}

const REGISTER: &str = "ecs:RegisterTaskDefinition";

/// The registration's turn comes after `wait`: status says when, and the
/// service comes back then.
async fn write_queued(
    api: &Api<EcsService>,
    obj: &EcsService,
    prev: &EcsServiceStatus,
    wait: std::time::Duration,
) -> Result<Action> {
    let desired = plan::registration_queued(Timestamp::now(), wait);
    status::write_conditions(api, obj, prev, &desired).await?;
    Ok(Action::requeue(wait))
}

async fn write_paused_without_revision(
    obj: &EcsService,
    ctx: &Context,
    api: &Api<EcsService>,
    prev: &EcsServiceStatus,
    hash: &str,
) -> Result<Action> {
    let message = format!(
        "berth.dev/paused is \"true\": the new task definition (hash {hash}) is not registered"
    );
    let desired = [
        Desired::new(READY, false, Reason::Paused, message.clone()),
        Desired::new(PROGRESSING, false, Reason::Paused, message.clone()),
        Desired::new(DEGRADED, false, Reason::Paused, message),
    ];
    status::write_conditions(api, obj, prev, &desired).await?;
    Ok(Action::requeue(ctx.resync))
}

/// Stopped tasks are read only when something failed: a rollout that goes
/// well costs no ListTasks/DescribeTasks per poll.
fn needs_stopped_tasks(svc: &ServiceView) -> bool {
    let primary = svc.primary();
    let failed = primary.is_some_and(|d| d.failed_tasks > 0 || d.is("FAILED"));
    let completed = primary.is_some_and(|d| d.is("COMPLETED"));
    // Tasks that died after the rollout completed.
    let lost = completed && svc.running_count < svc.desired_count && svc.pending_count == 0;
    failed || lost
}

/// An Event for each condition whose reason changed (phase changes).
async fn announce_transitions(
    obj: &EcsService,
    ctx: &Context,
    prev: &EcsServiceStatus,
    next: &EcsServiceStatus,
) {
    for type_ in [READY, DEGRADED] {
        let Some(now) = conditions::find(&next.conditions, type_) else {
            continue;
        };
        let before = conditions::find(&prev.conditions, type_);
        if before.is_some_and(|b| b.status == now.status && b.reason == now.reason) {
            continue;
        }
        // Types are only READY and DEGRADED here: both are news when they turn True.
        let interesting = now.status == "True";
        if !interesting {
            continue;
        }
        let kind = if type_ == DEGRADED {
            EventType::Warning
        } else {
            EventType::Normal
        };
        ctx.event(obj, kind, &now.reason, "Rollout", now.message.clone())
            .await;
    }
}

/// The task definition revision this process registered or found for an
/// EcsService: until the status write that records it lands (it may fail on
/// a stale read), the next reconcile knows it without asking ECS again.
#[derive(Clone)]
struct Registered {
    hash: String,
    arn: String,
    revision: i64,
}
