//! Reconciliation of `EcsService`: validate, observe ECS (batched), render
//! the task definition (register only on a new hash), plan the one service
//! mutation, act, and write status by server-side apply.

mod act_deployment;
pub mod deployment;
pub mod plan;
#[cfg(test)]
mod plan_tests;

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{finalizer, Event as Finalizer};
use kube::{Api, ResourceExt};

use super::context::{is_paused, Context, FINALIZER};
use super::error::{Error, Result};
use super::{poll, status};
use crate::api::common::DeletionPolicy;
use crate::api::conditions::{self, Desired, Reason, DEGRADED, PROGRESSING, READY};
use crate::api::ecs_service::{EcsService, EcsServiceStatus, ServiceDeploymentStatus};
use crate::aws::cloudmap;
use crate::aws::ecs::{services as act, ServiceView};
use crate::aws::tags::owner_of;
use crate::aws::{taskdef, AwsFailure, Clients, FailureKind};
use plan::ServiceAction;

/// Stopped tasks kept in status.
const STOPPED_IN_STATUS: usize = 5;

pub async fn reconcile(obj: Arc<EcsService>, ctx: Arc<Context>) -> Result<Action> {
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<EcsService> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalizer::Apply(obj) => apply(&obj, &ctx, &api).await,
            Finalizer::Cleanup(obj) => cleanup(&obj, &ctx).await,
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
    let clients = match ctx.aws_for(&obj.namespace().unwrap_or_default()).await {
        Ok(c) => c,
        Err(Error::Config(message)) => {
            status::write_failed(ctx, api, obj, &prev, Reason::AwsConfiguration, &message).await?;
            return Ok(Action::requeue(ctx.resync));
        }
        Err(e) => return Err(e),
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
    let owner = owner_of(obj);
    let uid = obj.metadata.uid.clone().unwrap_or_default();

    // Observe.
    let secret_arns = taskdef::secret_arns(&spec.task_definition);
    let versions = crate::aws::secrets::secret_versions(clients, &secret_arns).await?;
    let rendered = taskdef::register_request(&taskdef::RenderInput {
        spec: &spec.task_definition,
        family: obj.family(),
        region: clients.target.region.clone(),
        owner: owner.clone(),
        uid: uid.clone(),
        user_tags: &spec.tags,
        secret_versions: &versions,
    });
    let hash = rendered.hash.clone();
    let name = obj.service_name();
    let service = clients
        .batches
        .services
        .get(clients, &spec.cluster, &name)
        .await?;
    let record =
        act_deployment::current_record(clients, &spec.cluster, service.as_ref(), prev).await?;

    let Some((desired_arn, revision)) =
        desired_revision(obj, ctx, clients, prev, &rendered, paused).await?
    else {
        return write_paused_without_revision(obj, ctx, api, prev, &hash).await;
    };

    // Cloud Map: reuse what status knows while the service points at it.
    let registry = match registry(obj, ctx, clients, prev, service.as_ref(), paused).await? {
        Ok(registry) => registry,
        Err(message) => {
            status::write_failed(ctx, api, obj, prev, Reason::AdoptionRequired, &message).await?;
            return Ok(Action::requeue(ctx.resync));
        }
    };

    let stopped = match &service {
        // Also after a rollback: ECS is settled on the old revision, and the
        // stopped tasks of the new one say why.
        Some(svc)
            if needs_stopped_tasks(svc)
                || svc.task_definition.as_deref() != Some(desired_arn.as_str()) =>
        {
            act::stopped_tasks(clients, &spec.cluster, &name, STOPPED_IN_STATUS).await?
        }
        _ => Vec::new(),
    };

    // The pre-rollout gate: MigrationJobs of this namespace naming us.
    let job_list = ctx.jobs_in(&obj.namespace().unwrap_or_default());
    let post_check = plan::post_check(&job_list, &obj.name_any(), &hash);
    let post_test = deployment::post_test_jobs(&job_list, &obj.name_any());
    let post_test_failed = record
        .as_ref()
        .and_then(|r| deployment::post_test_failure(&post_test, &r.arn));
    let gate = plan::gate(&job_list, &obj.name_any(), &hash);

    // Plan.
    let now = Timestamp::now();
    let p = plan::plan(&plan::Inputs {
        obj,
        hash: &hash,
        desired_arn: &desired_arn,
        desired_revision: revision,
        service: service.as_ref(),
        record: record.as_ref(),
        registry_arn: registry.as_deref(),
        stopped: &stopped,
        gate,
        post_check,
        paused,
        pause_post_test: !post_test.is_empty(),
        post_test_failed,
        now,
    });

    // The PullThroughCache serving an image in this account's ECR; a failed
    // pull says what state its rule is in.
    let failure = stopped.iter().find_map(|t| {
        t.stopped_reason
            .as_deref()
            .filter(|r| r.contains("CannotPullContainerError"))
    });
    let serving = super::pull_through::for_task_definition(
        ctx,
        &obj.namespace().unwrap_or_default(),
        &clients.target.region,
        &spec.task_definition,
        failure,
    );
    let mut p = p;
    for c in &mut p.conditions {
        c.message = super::pull_through::explain(&c.message, serving.as_ref());
    }

    let rollback_requested = if paused {
        prev.rollback_requested.clone()
    } else {
        act_deployment::manual_rollback(obj, ctx, clients, prev, record.as_ref()).await?
    };

    if let (Some(r), false) = (record.as_ref(), paused) {
        act_deployment::answer_hook(obj, ctx, clients, &post_test, r).await?;
    }

    let current = act_on(
        obj,
        ctx,
        clients,
        &p,
        service,
        &desired_arn,
        revision,
        registry.as_deref(),
    )
    .await?;

    // Status.
    let mut rollout = p.rollout.clone();
    if let (Some(r), Some(svc)) = (rollout.as_mut(), &current) {
        // A new deployment's id is known from the create/update response.
        if p.action != ServiceAction::Nothing {
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
        }
    }
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
        rollout,
        last_stopped_tasks: if p.last_stopped.is_empty() {
            prev.last_stopped_tasks.clone()
        } else {
            p.last_stopped.clone()
        },
        cloud_map_service_arn: registry.clone(),
        previous_task_definition_arn: p.previous_arn.clone(),
        pull_through_cache: serving.and_then(|s| s.object),
        rollback_requested,
    };
    announce_transitions(obj, ctx, prev, &next).await;
    let ready = conditions::is_true(&next.conditions, READY);
    let was_ready = conditions::is_true(&prev.conditions, READY)
        && prev.task_definition_arn.as_deref() == Some(desired_arn.as_str());
    // Prune before reporting Ready: a user who sees Ready sees the history
    // as it will stay.
    if ready && !was_ready && !paused {
        prune_revisions(
            obj,
            ctx,
            clients,
            &desired_arn,
            p.previous_arn.as_deref(),
            current.as_ref(),
        )
        .await?;
    }
    // A poll that learned nothing writes nothing.
    if next != *prev {
        status::apply(api, obj, &next).await?;
    }

    // An ECS deployment still moving (also one berth asked to roll back
    // after a failed check, which leaves Progressing false) is followed at
    // the poll interval until it ends.
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
    Ok(if busy {
        Action::requeue(poll::aligned(ctx.poll, &obj.spec.cluster))
    } else {
        // Resyncs on the grid too: a steady state of N services costs
        // ceil(N / 10) DescribeServices per cluster and resync.
        Action::requeue(poll::aligned(ctx.resync, &obj.spec.cluster))
    })
}
/// The revision for the rendering's hash: known from status (survives
/// restarts), or found by its hash tag, or registered now. `None` while
/// paused and not registered yet.
async fn desired_revision(
    obj: &EcsService,
    ctx: &Context,
    clients: &Clients,
    prev: &EcsServiceStatus,
    rendered: &taskdef::RenderedTaskDefinition,
    paused: bool,
) -> Result<Option<(String, i64)>> {
    let hash = &rendered.hash;
    if let (Some(h), Some(arn)) = (&prev.spec_hash, &prev.task_definition_arn) {
        if h == hash {
            return Ok(Some((arn.clone(), prev.revision.unwrap_or(0))));
        }
    }
    let uid = obj.metadata.uid.clone().unwrap_or_default();
    let remembered = ctx
        .revisions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&uid)
        .filter(|(h, _, _)| h == hash)
        .map(|(_, arn, revision)| (arn.clone(), *revision));
    if let Some(known) = remembered {
        return Ok(Some(known));
    }
    let remember = |arn: &str, revision: i64| {
        ctx.revisions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uid.clone(), (hash.clone(), arn.to_string(), revision));
    };
    if let Some((arn, revision)) = taskdef::latest_with_hash(clients, &obj.family(), hash).await? {
        remember(&arn, revision);
        return Ok(Some((arn, revision)));
    }
    if paused {
        return Ok(None);
    }
    let (arn, revision) = rendered.register(clients).await?;
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
    Ok(Some((arn, revision)))
}

/// The Cloud Map service to register in (with `serviceDiscovery`): known
/// from status while the spec is unchanged and the ECS service (if it
/// exists yet) still points at it, so there is no Cloud Map lookup per poll,
/// also while the service waits for its gate; else found, adopted or
/// created. `Err` says why someone else's service cannot be used.
async fn registry(
    obj: &EcsService,
    ctx: &Context,
    clients: &Clients,
    prev: &EcsServiceStatus,
    service: Option<&ServiceView>,
    paused: bool,
) -> Result<std::result::Result<Option<String>, String>> {
    let Some(sd) = &obj.spec.service_discovery else {
        return Ok(Ok(None));
    };
    let sd_name = sd
        .service_name
        .clone()
        .unwrap_or_else(|| obj.service_name());
    let known = prev.cloud_map_service_arn.clone().filter(|arn| {
        prev.observed_generation == obj.metadata.generation
            && service.is_none_or(|s| {
                s.registries
                    .iter()
                    .any(|r| r.registry_arn.as_deref() == Some(arn.as_str()))
            })
    });
    if let Some(arn) = known {
        return Ok(Ok(Some(arn)));
    }
    if paused {
        return Ok(Ok(prev.cloud_map_service_arn.clone()));
    }
    let uid = obj.metadata.uid.clone().unwrap_or_default();
    let ensured =
        cloudmap::ensure_service(clients, sd, &sd_name, &owner_of(obj), &uid, obj.spec.adopt)
            .await?;
    let (arn, note) = match ensured {
        cloudmap::Ensured::Owned(arn) => (arn, None),
        cloudmap::Ensured::Created(arn) => {
            let note = format!("created Cloud Map service {sd_name} ({arn})");
            (arn, Some(("CloudMapServiceCreated", "CreateService", note)))
        }
        cloudmap::Ensured::Adopted(arn) => {
            let note = format!(
                "adopted the existing Cloud Map service {sd_name} ({arn}) (spec.adopt: true)"
            );
            (arn, Some(("CloudMapServiceAdopted", "TagResource", note)))
        }
        cloudmap::Ensured::AdoptionRequired(arn) => {
            return Ok(Err(format!(
                "Cloud Map service {sd_name} ({arn}) already exists and is not managed by berth; \
                 set spec.adopt: true to register this service's tasks in it"
            )));
        }
    };
    if let Some((reason, action, note)) = note {
        ctx.event(obj, EventType::Normal, reason, action, note)
            .await;
    }
    Ok(Ok(Some(arn)))
}

/// Executes the plan: tags first (an adopted service gets berth's tags
/// before any other change, so ownership is visible in AWS and survives the
/// loss of this object's status), then the one service mutation; an Event
/// for each. Returns the service as AWS last reported it.
#[allow(clippy::too_many_arguments)]
async fn act_on(
    obj: &EcsService,
    ctx: &Context,
    clients: &Clients,
    p: &plan::Plan,
    service: Option<ServiceView>,
    desired_arn: &str,
    revision: i64,
    registry: Option<&str>,
) -> Result<Option<ServiceView>> {
    let spec = &obj.spec;
    let name = obj.service_name();
    if let (Some(change), Some(svc)) = (&p.tags, service.as_ref()) {
        let arn = svc.arn.as_str();
        act::set_tags(clients, arn, change).await?;
        let (kind, reason, note) = if change.set.contains_key(crate::aws::tags::TAG_OWNER) {
            (
                EventType::Normal,
                "Adopted",
                format!("adopted the existing ECS service {name} (spec.adopt: true)"),
            )
        } else if p.tags_drifted {
            (
                EventType::Warning,
                "DriftCorrected",
                format!(
                    "changed outside berth, set back: tags ({})",
                    change.describe()
                ),
            )
        } else {
            (
                EventType::Normal,
                "TagsUpdated",
                format!("updated the service's tags: {}", change.describe()),
            )
        };
        ctx.event(obj, kind, reason, "TagResource", note).await;
    }
    let mut current = service;
    match &p.action {
        ServiceAction::Nothing => {}
        ServiceAction::Create => {
            let pause = !deployment::post_test_jobs(
                &ctx.jobs_in(&obj.namespace().unwrap_or_default()),
                &obj.name_any(),
            )
            .is_empty();
            let svc = act::create_service(clients, obj, desired_arn, registry, pause).await?;
            ctx.event(
                obj,
                EventType::Normal,
                "ServiceCreated",
                "CreateService",
                format!(
                    "created ECS service {name} in cluster {} with revision {revision}",
                    spec.cluster
                ),
            )
            .await;
            current = Some(svc);
        }
        ServiceAction::Update { update, drift } => {
            if !drift.is_empty() {
                ctx.event(
                    obj,
                    EventType::Warning,
                    "DriftCorrected",
                    "UpdateService",
                    format!("changed outside berth, set back: {}", drift.join(", ")),
                )
                .await;
            }
            let svc = act::update_service(clients, obj, update).await?;
            // Distinct reasons: the Event recorder folds events with the same
            // reason into one series and keeps the first note.
            let (reason, what) =
                if let Some(target) = update.task_definition.as_ref().filter(|_| update.rollback) {
                    (
                        "RollingBack",
                        format!("rolling back to {target} after a failed post-rollout check"),
                    )
                } else if update.pushes_revision() {
                    ("RolloutStarted", format!("rolling out revision {revision}"))
                } else {
                    ("ServiceUpdated", "updated service settings".to_string())
                };
            ctx.event(obj, EventType::Normal, reason, "UpdateService", what)
                .await;
            current = Some(svc);
        }
    }

    Ok(current)
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

/// Deregisters berth's revisions beyond `revisionHistoryLimit`, never the
/// one in use nor the rollback target (the revision of the newest other
/// deployment, or the newest older revision).
async fn prune_revisions(
    obj: &EcsService,
    ctx: &Context,
    clients: &Clients,
    in_use: &str,
    previous: Option<&str>,
    service: Option<&ServiceView>,
) -> Result<()> {
    let limit = obj.spec.revision_history_limit.max(1) as usize;
    // ECS numbers a family's revisions from 1: up to revision `limit` there
    // cannot be more than `limit` of them, so nothing is listed.
    let in_use_revision = in_use
        .rsplit_once(':')
        .and_then(|(_, r)| r.parse::<usize>().ok());
    if in_use_revision.is_some_and(|r| r <= limit) {
        return Ok(());
    }
    let owned = taskdef::owned_revisions(clients, &obj.family(), &owner_of(obj)).await?;
    let mut protected: Vec<String> = vec![in_use.to_string()];
    protected.extend(previous.map(str::to_string));
    if let Some(svc) = service {
        protected.extend(
            svc.deployments
                .iter()
                .filter_map(|d| d.task_definition.clone()),
        );
    }
    // The newest revision other than the one in use is the rollback target.
    if let Some(previous) = owned.iter().find(|a| a.as_str() != in_use) {
        protected.push(previous.clone());
    }
    let mut kept = 0;
    for arn in &owned {
        if protected.contains(arn) || kept < limit {
            kept += 1;
            continue;
        }
        act::deregister(clients, arn).await?;
        ctx.event(
            obj,
            EventType::Normal,
            "TaskDefinitionDeregistered",
            "DeregisterTaskDefinition",
            format!("deregistered {arn} (beyond revisionHistoryLimit {limit})"),
        )
        .await;
    }
    Ok(())
}

async fn cleanup(obj: &EcsService, ctx: &Context) -> Result<Action> {
    if let Some(uid) = &obj.metadata.uid {
        ctx.revisions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
    }
    if obj.spec.deletion_policy == DeletionPolicy::Retain {
        ctx.event(
            obj,
            EventType::Normal,
            "Retained",
            "Delete",
            "deletionPolicy Retain: the ECS service, its task definitions and Cloud Map service stay in AWS".into(),
        )
        .await;
        return Ok(Action::await_change());
    }
    if is_paused(obj.annotations()) {
        return Err(Error::Config(
            "berth.dev/paused is \"true\": not deleting AWS resources".into(),
        ));
    }
    let clients = ctx.aws_for(&obj.namespace().unwrap_or_default()).await?;
    if act::delete_service(&clients, obj).await? {
        ctx.event(
            obj,
            EventType::Normal,
            "ServiceDeleted",
            "DeleteService",
            format!("deleted ECS service {}", obj.service_name()),
        )
        .await;
    }
    for arn in taskdef::owned_revisions(&clients, &obj.family(), &owner_of(obj)).await? {
        act::deregister(&clients, &arn).await?;
    }
    let created = obj
        .status
        .as_ref()
        .and_then(|s| s.cloud_map_service_arn.clone());
    let created = match created {
        Some(arn) if cloudmap::created_by(&clients, &arn, &owner_of(obj)).await? => Some(arn),
        _ => None,
    };
    if let Some(arn) = created {
        if !cloudmap::delete_service(&clients, &arn).await? {
            // Instances drain after the ECS service is gone; try again soon.
            return Err(Error::Aws(AwsFailure {
                kind: FailureKind::Transient,
                action: "servicediscovery:DeleteService",
                code: Some("ResourceInUse".into()),
                message: "waiting for ECS to deregister the service's instances".into(),
            }));
        }
        ctx.event(
            obj,
            EventType::Normal,
            "CloudMapServiceDeleted",
            "DeleteService",
            format!("deleted Cloud Map service {arn}"),
        )
        .await;
    }
    Ok(Action::await_change())
}
