//! Reconciliation of `EcsService` ([`Kind`]): observe ECS (batched), the
//! desired task definition revision (registered only for a new hash), the
//! migrations and the pull-through caches; plan the one service mutation;
//! act; the shell writes the status.

mod act_deployment;
mod act_service;
mod claim;
mod cleanup;
mod cloud_map;
pub mod plan;
#[cfg(test)]
mod plan_tests;
#[cfg(test)]
pub(crate) use plan_tests::states::rows as states;
mod revision;
mod waiting;

pub use plan::{deployment, retry};

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use super::context::{is_paused, Context, REFRESH_ANNOTATION};
use super::error::Result;
use super::ownership::Owners;
use super::pacing;
use super::shell::{self, Deleted, Kind, Outcome, Target};
use crate::api::ecs_service::{EcsService, EcsServiceStatus, StoppedTask};
use crate::api::migration_job::MigrationJob;
use crate::api::roles::PassesRoles;
use crate::aws::ecs::{services as act, ServiceDeploymentView, ServiceView};
use crate::aws::tags::owner_of;
use crate::aws::{taskdef, AwsFailure, Clients};

/// Stopped tasks kept in status.
const STOPPED_IN_STATUS: usize = 5;

impl Kind for EcsService {
    type Status = EcsServiceStatus;

    fn status(&self) -> Option<&EcsServiceStatus> {
        self.status.as_ref()
    }

    fn invalid(&self) -> Option<String> {
        self.validate().err().map(|e| e.to_string())
    }

    fn failure(&self, f: &AwsFailure) -> Option<Outcome<EcsServiceStatus>> {
        plan::failure(self, f)
    }

    async fn converge(
        &self,
        ctx: &Context,
        target: &Target<'_>,
        prev: &EcsServiceStatus,
    ) -> Result<Outcome<EcsServiceStatus>> {
        let clients = target.clients(&self.passed_roles()).await?;
        converge(self, ctx, &clients, prev).await
    }

    fn left_in_aws(&self) -> Option<String> {
        Some(cleanup::left_in_aws(self))
    }

    fn retained(&self) -> Option<(&'static str, String)> {
        cleanup::retained(self)
    }

    async fn delete(&self, ctx: &Context, clients: &Arc<Clients>) -> Result<Deleted> {
        cleanup::delete(self, ctx, clients).await
    }
}

async fn converge(
    obj: &EcsService,
    ctx: &Context,
    clients: &Arc<Clients>,
    prev: &EcsServiceStatus,
) -> Result<Outcome<EcsServiceStatus>> {
    let paused = is_paused(obj.annotations());
    let rendered = render(obj, clients).await?;
    let hash = rendered.hash.clone();
    if !paused && waiting::still(obj, ctx, prev, &hash) {
        return Ok(plan::still_waiting(obj));
    }
    // A service holding a ticket for its registration (`pacing`) observed
    // ECS when it took it (a missing cluster stops it before it registers
    // anything): at its turn it registers and observes at the next poll.
    let uid = obj.metadata.uid.as_deref().unwrap_or_default();
    let held = pacing::waiting(&ctx.memos.services, uid, &hash);
    let mut seen = None;
    if !held {
        let (service, owners) = observe_service(obj, ctx, clients).await?;
        if let Some(refused) = service
            .as_ref()
            .and_then(|s| plan::not_ours(obj, s, &owners))
        {
            return Ok(refused);
        }
        seen = Some((service, owners));
    }
    let revision = revision::desired(obj, ctx, clients, prev, &rendered, paused, held).await?;
    let (desired_arn, revision) = match plan::without_revision(obj, revision, Timestamp::now()) {
        Ok(known) => known,
        Err(outcome) => return Ok(outcome),
    };
    let (service, owners) = match seen {
        Some(seen) => seen,
        None => observe_service(obj, ctx, clients).await?,
    };
    let desired = Desired {
        hash: &hash,
        arn: &desired_arn,
        revision,
    };
    let o = match observe(obj, ctx, clients, prev, service, owners, &desired, paused).await? {
        Ok(o) => o,
        Err(refused) => return Ok(refused),
    };
    act_and_report(obj, ctx, clients, prev, o, &desired, paused).await
}

/// The revision the spec renders to.
struct Desired<'a> {
    hash: &'a str,
    arn: &'a str,
    revision: i64,
}

/// What the plan reads besides the spec.
struct Observed {
    service: Option<ServiceView>,
    owners: Owners,
    record: Option<ServiceDeploymentView>,
    registry: Option<String>,
    stopped: Vec<StoppedTask>,
    /// The MigrationJobs naming the service: the pre-rollout gate and the
    /// checks.
    jobs: Vec<MigrationJob>,
    serving: Option<super::pull_through::Serving>,
}

/// The ECS service (batched DescribeServices) and, when it exists, which
/// objects its berth tags name.
async fn observe_service(
    obj: &EcsService,
    ctx: &Context,
    clients: &Arc<Clients>,
) -> Result<(Option<ServiceView>, Owners)> {
    let service = clients
        .batches
        .services
        .get(clients, &obj.spec.cluster, &obj.service_name())
        .await?;
    let owners = match &service {
        Some(svc) => claim::owners(ctx, obj, &[&svc.tags]).await?,
        None => Owners::default(),
    };
    Ok((service, owners))
}

#[allow(clippy::too_many_arguments)]
async fn observe(
    obj: &EcsService,
    ctx: &Context,
    clients: &Clients,
    prev: &EcsServiceStatus,
    service: Option<ServiceView>,
    owners: Owners,
    desired: &Desired<'_>,
    paused: bool,
) -> Result<std::result::Result<Observed, Outcome<EcsServiceStatus>>> {
    let spec = &obj.spec;
    let record =
        act_deployment::current_record(clients, &spec.cluster, service.as_ref(), prev).await?;
    // Cloud Map: reuse what status knows while the service points at it.
    let registry =
        match cloud_map::registry(obj, ctx, clients, prev, service.as_ref(), paused).await? {
            Ok(registry) => registry,
            Err((reason, message)) => return Ok(Err(plan::registry_refused(reason, message))),
        };
    let pushed = prev.rollout.as_ref().and_then(|r| r.revision) == Some(desired.revision);
    let stopped = stopped_tasks(obj, clients, service.as_ref(), desired.arn, pushed).await?;
    let ns = obj.namespace().unwrap_or_default();
    let serving = pull_through(obj, ctx, clients, &stopped);
    Ok(Ok(Observed {
        service,
        owners,
        record,
        registry,
        stopped,
        jobs: ctx.jobs_for(&ns, &obj.name_any()),
        serving,
    }))
}

/// Plan, act (the hook answer, a manual rollback, the tags and the one
/// service mutation, pruning), and the next status.
async fn act_and_report(
    obj: &EcsService,
    ctx: &Context,
    clients: &Clients,
    prev: &EcsServiceStatus,
    o: Observed,
    desired: &Desired<'_>,
    paused: bool,
) -> Result<Outcome<EcsServiceStatus>> {
    let name = obj.name_any();
    let now = Timestamp::now();
    let post_test = deployment::post_test_jobs(&o.jobs, &name);
    let mut p = plan::plan(&plan::Inputs {
        obj,
        hash: desired.hash,
        desired_arn: desired.arn,
        desired_revision: desired.revision,
        service: o.service.as_ref(),
        owners: &o.owners,
        record: o.record.as_ref(),
        registry_arn: o.registry.as_deref(),
        stopped: &o.stopped,
        gate: plan::gate(&o.jobs, &name, desired.hash),
        post_check: plan::post_check(&o.jobs, &name, desired.hash),
        paused,
        pause_post_test: !post_test.is_empty(),
        post_test_failed: o
            .record
            .as_ref()
            .and_then(|r| deployment::post_test_failure(&post_test, &r.arn)),
        refresh: obj
            .annotations()
            .get(REFRESH_ANNOTATION)
            .map(String::as_str),
        cache: o.serving.clone(),
        now,
    });
    for c in &mut p.conditions {
        c.message = super::pull_through::explain(&c.message, o.serving.as_ref());
    }
    let rollback_requested = match paused {
        true => prev.rollback_requested.clone(),
        false => {
            act_deployment::manual_rollback(obj, ctx, clients, prev, o.record.as_ref()).await?
        }
    };
    if let (Some(r), false) = (o.record.as_ref(), paused) {
        act_deployment::answer_hook(obj, ctx, clients, &post_test, r).await?;
    }
    let current = act_service::act_on(obj, ctx, clients, &p, o.service, desired.revision).await?;
    let next = plan::status(&plan::Answered {
        obj,
        prev,
        plan: &p,
        current: current.as_ref(),
        desired_arn: desired.arn,
        revision: desired.revision,
        hash: desired.hash,
        registry: o.registry,
        pull_through_cache: o.serving.and_then(|s| s.object),
        rollback_requested,
        now,
    });
    shell::announce(obj, ctx, &prev.conditions, &next.conditions, "Rollout").await;
    if plan::prunes(prev, &next, paused) {
        let previous = p.previous_arn.as_deref();
        act_service::prune_revisions(obj, ctx, clients, desired.arn, previous, current.as_ref())
            .await?;
    }
    waiting::remember(obj, ctx, &next);
    // While paused the shell writes Progressing=False (`shell::paused`):
    // only a deployment ECS itself runs is polled, not what berth holds back.
    let then = match paused {
        true => {
            let shown = EcsServiceStatus {
                conditions: Vec::new(),
                ..next.clone()
            };
            plan::requeue(&shown, &obj.spec.cluster)
        }
        false => plan::requeue(&next, &obj.spec.cluster),
    };
    Ok(Outcome::status(next, then))
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
        Some(svc) if plan::needs_stopped_tasks(svc) || reverted => Ok(act::stopped_tasks(
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
