//! Executes what the EcsService plan decided for the ECS service and its
//! task definition history: the tag change, the one CreateService or
//! UpdateService, and the deregistration of revisions beyond the history
//! limit; one Event per AWS mutation.

use kube::runtime::events::EventType;

use super::plan::{self, Plan, ServiceAction};
use crate::api::ecs_service::EcsService;
use crate::aws::ecs::services as act;
use crate::aws::ecs::ServiceView;
use crate::aws::tags::owner_of;
use crate::aws::{taskdef, Clients};
use crate::controller::context::Context;
use crate::controller::error::Result;

/// Executes the plan: tags first (an adopted service gets berth's tags
/// before any other change, so ownership is visible in AWS and survives the
/// loss of this object's status), then the one service mutation. Returns
/// the service as AWS last reported it.
pub async fn act_on(
    obj: &EcsService,
    ctx: &Context,
    clients: &Clients,
    p: &Plan,
    service: Option<ServiceView>,
    revision: i64,
) -> Result<Option<ServiceView>> {
    let spec = &obj.spec;
    let name = obj.service_name();
    if let (Some(change), Some(svc)) = (&p.tags, service.as_ref()) {
        act::set_tags(clients, &svc.arn, change).await?;
        let (kind, reason, note) = plan::tags_event(change, p.tags_drifted, &name);
        ctx.event(obj, kind, reason, "TagResource", note).await;
    }
    match &p.action {
        ServiceAction::Nothing => Ok(service),
        ServiceAction::Create {
            task_definition,
            desired_count,
            registries,
            pause_post_test,
        } => {
            let svc = act::create_service(
                clients,
                obj,
                task_definition,
                *desired_count,
                registries,
                *pause_post_test,
            )
            .await?;
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
            Ok(Some(svc))
        }
        ServiceAction::Update { update, drift } => {
            let svc = act::update_service(clients, obj, update).await?;
            let (kind, reason, note) = match &p.retry {
                Some(why) => plan::retry::event(why, update, drift, revision),
                None => plan::update_event(update, drift, revision),
            };
            ctx.event(obj, kind, reason, "UpdateService", note).await;
            Ok(Some(svc))
        }
    }
}

/// Deregisters the revisions `plan::revisions_to_prune` picks from berth's
/// revisions of the family, an Event for each.
pub async fn prune_revisions(
    obj: &EcsService,
    ctx: &Context,
    clients: &Clients,
    desired_arn: &str,
    previous: Option<&str>,
    service: Option<&ServiceView>,
) -> Result<()> {
    let limit = obj.spec.revision_history_limit;
    if !plan::may_prune(desired_arn, limit) {
        return Ok(());
    }
    let owned = taskdef::owned_revisions(clients, &obj.family(), &owner_of(obj)).await?;
    let in_use: Vec<String> = service
        .map(|s| {
            s.deployments
                .iter()
                .filter_map(|d| d.task_definition.clone())
                .collect()
        })
        .unwrap_or_default();
    for arn in plan::revisions_to_prune(&owned, desired_arn, previous, &in_use, limit) {
        act::deregister(clients, &arn).await?;
        ctx.event(
            obj,
            EventType::Normal,
            "TaskDefinitionDeregistered",
            "DeregisterTaskDefinition",
            format!(
                "deregistered {arn} (beyond revisionHistoryLimit {})",
                limit.max(1)
            ),
        )
        .await;
    }
    Ok(())
}
