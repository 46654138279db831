//! Deleting an EcsService: its ECS service, task definition revisions and
//! the Cloud Map service berth created for it go, unless
//! `deletionPolicy: Retain`. Only what berth's tags say is this object's
//! is deleted: an ECS service of the same name that is another object's
//! (or was never adopted) is left as it is.

use kube::runtime::events::EventType;

use super::claim;
use crate::api::common::DeletionPolicy;
use crate::api::ecs_service::EcsService;
use crate::aws::cloudmap;
use crate::aws::ecs::services as act;
use crate::aws::tags::{owner_of, TAG_OWNER};
use crate::aws::{taskdef, Clients};
use crate::controller::context::Context;
use crate::controller::error::Result;
use crate::controller::shell::Deleted;

/// What deleting the object deletes, as an Event names it.
pub fn left_in_aws(obj: &EcsService) -> String {
    format!(
        "ECS service {} in cluster {}, its task definitions (family {}) and the Cloud Map service berth created",
        obj.service_name(),
        obj.spec.cluster,
        obj.family()
    )
}

pub fn retained(obj: &EcsService) -> Option<(&'static str, String)> {
    (obj.spec.deletion_policy == DeletionPolicy::Retain).then(|| {
        (
            "Retained",
            "deletionPolicy Retain: the ECS service, its task definitions and Cloud Map service stay in AWS".into(),
        )
    })
}

/// The ECS service (if it is this object's), this object's revisions,
/// then the Cloud Map service berth created for it, once ECS deregistered
/// the service's instances from it.
pub async fn delete(obj: &EcsService, ctx: &Context, clients: &Clients) -> Result<Deleted> {
    delete_service(obj, ctx, clients).await?;
    // Only this object's revisions (owner tag), wherever its family is.
    for arn in taskdef::owned_revisions(clients, &obj.family(), &owner_of(obj)).await? {
        act::deregister(clients, &arn).await?;
    }
    delete_registry(obj, ctx, clients).await
}

async fn delete_service(obj: &EcsService, ctx: &Context, clients: &Clients) -> Result<()> {
    let service = match clients
        .batches
        .services
        .get(clients, &obj.spec.cluster, &obj.service_name())
        .await
    {
        Ok(service) => service,
        // Nothing of a cluster that is gone is left to delete.
        Err(f) if f.is_code("ClusterNotFoundException") => None,
        Err(f) => return Err(f.into()),
    };
    let Some(svc) = service else {
        return Ok(());
    };
    if !claim::may_delete(obj, &svc.tags) {
        let whose = match svc.tags.get(TAG_OWNER) {
            Some(owner) => format!("belongs to {owner} by its berth.dev/owner tag"),
            None => "is not managed by berth (this object never adopted it)".into(),
        };
        let note = format!(
            "ECS service {} in cluster {} {whose}: left as it is, not scaled down or deleted",
            svc.name, obj.spec.cluster
        );
        ctx.event(obj, EventType::Warning, "NotOwned", "Delete", note)
            .await;
        return Ok(());
    }
    if act::delete_service(clients, obj).await? {
        let note = format!("deleted ECS service {}", obj.service_name());
        ctx.event(
            obj,
            EventType::Normal,
            "ServiceDeleted",
            "DeleteService",
            note,
        )
        .await;
    }
    Ok(())
}

async fn delete_registry(obj: &EcsService, ctx: &Context, clients: &Clients) -> Result<Deleted> {
    let created = obj
        .status
        .as_ref()
        .and_then(|s| s.cloud_map_service_arn.clone());
    let Some(arn) = created else {
        return Ok(Deleted::Gone);
    };
    if !cloudmap::created_by(clients, &arn, &owner_of(obj)).await? {
        return Ok(Deleted::Gone);
    }
    if !cloudmap::delete_service(clients, &arn).await? {
        // Instances drain after the ECS service is gone; try again soon.
        return Ok(Deleted::Waiting(draining(&arn)));
    }
    let note = format!("deleted Cloud Map service {arn}");
    ctx.event(
        obj,
        EventType::Normal,
        "CloudMapServiceDeleted",
        "DeleteService",
        note,
    )
    .await;
    Ok(Deleted::Gone)
}

/// What the deletion waits for while Cloud Map still has instances.
pub fn draining(arn: &str) -> String {
    format!("deleting Cloud Map service {arn} once ECS has deregistered the service's instances")
}
