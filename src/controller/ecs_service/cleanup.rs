//! Deleting an EcsService: its ECS service, task definition revisions and
//! the Cloud Map service berth created for it go, unless
//! `deletionPolicy: Retain`. Only what berth's tags say is this object's
//! is deleted: an ECS service of the same name that is another object's
//! (or was never adopted) is left as it is.

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::ResourceExt;

use super::claim;
use crate::api::common::DeletionPolicy;
use crate::api::ecs_service::EcsService;
use crate::aws::cloudmap;
use crate::aws::ecs::services as act;
use crate::aws::tags::{owner_of, TAG_OWNER};
use crate::aws::{taskdef, AwsFailure, FailureKind};
use crate::controller::context::{is_paused, Context};
use crate::controller::error::{Error, Result};

pub async fn cleanup(obj: &EcsService, ctx: &Context) -> Result<Action> {
    if let Some(uid) = &obj.metadata.uid {
        ctx.memos.forget(uid);
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
    let left = format!(
        "ECS service {} in cluster {}, its task definitions (family {}) and the Cloud Map service berth created",
        obj.service_name(),
        obj.spec.cluster,
        obj.family()
    );
    let Some(clients) = ctx.aws_for_cleanup(obj, &left).await? else {
        return Ok(Action::await_change());
    };
    let service = match clients
        .batches
        .services
        .get(&clients, &obj.spec.cluster, &obj.service_name())
        .await
    {
        Ok(service) => service,
        // Nothing of a cluster that is gone is left to delete.
        Err(f) if f.is_code("ClusterNotFoundException") => None,
        Err(f) => return Err(f.into()),
    };
    let ours = match service {
        Some(svc) if !claim::may_delete(obj, &svc.tags) => {
            let whose = match svc.tags.get(TAG_OWNER) {
                Some(owner) => format!("belongs to {owner} by its berth.dev/owner tag"),
                None => "is not managed by berth (this object never adopted it)".into(),
            };
            ctx.event(
                obj,
                EventType::Warning,
                "NotOwned",
                "Delete",
                format!(
                    "ECS service {} in cluster {} {whose}: left as it is, not scaled down or deleted",
                    svc.name, obj.spec.cluster
                ),
            )
            .await;
            false
        }
        Some(_) => true,
        None => false,
    };
    if ours && act::delete_service(&clients, obj).await? {
        ctx.event(
            obj,
            EventType::Normal,
            "ServiceDeleted",
            "DeleteService",
            format!("deleted ECS service {}", obj.service_name()),
        )
        .await;
    }
    // Only this object's revisions (owner tag), wherever its family is.
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
