//! Executes what the EcsService plan decided for the ECS service and its
//! task definition history: the tag change, the one CreateService or
//! UpdateService, and the deregistration of revisions beyond the history
//! limit; one Event per AWS mutation.

use kube::runtime::events::EventType;

use super::plan::{self, Plan, ServiceAction};
use crate::api::ecs_service::EcsService;
use crate::aws::ecs::services::{self as act, ServiceUpdate};
use crate::aws::ecs::ServiceView;
use crate::aws::tags::{owner_of, TAG_OWNER};
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
        let (kind, reason, note) = if change.set.contains_key(TAG_OWNER) {
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
                Some(why) => super::retry::event(why, update, drift, revision),
                None => update_event(update, drift, revision),
            };
            ctx.event(obj, kind, reason, "UpdateService", note).await;
            Ok(Some(svc))
        }
    }
}

/// The one Event of an UpdateService: drift set back is the news (a
/// Warning naming the drifted fields and what else the same call changed);
/// otherwise what the update does. Distinct reasons: the Event recorder
/// folds events with the same reason into one series and keeps the first
/// note.
pub fn update_event(
    update: &ServiceUpdate,
    drift: &[String],
    revision: i64,
) -> (EventType, &'static str, String) {
    let drifted = |f: &str| drift.iter().any(|d| d == f);
    let revision_change = match update.task_definition.as_ref() {
        Some(target) if update.rollback => Some((
            "RollingBack",
            format!("rolling back to {target} after a failed post-rollout check"),
        )),
        Some(_) if !drifted("taskDefinition") => {
            Some(("RolloutStarted", format!("rolling out revision {revision}")))
        }
        _ => None,
    };
    let settings: Vec<&str> = plan::fields_of(update)
        .into_iter()
        .filter(|f| *f != "taskDefinition" && !drifted(f))
        .collect();
    let settings = (!settings.is_empty()).then(|| format!("updated {}", settings.join(", ")));
    if !drift.is_empty() {
        let also: Vec<String> = revision_change
            .map(|(_, what)| what)
            .into_iter()
            .chain(settings)
            .collect();
        let also = if also.is_empty() {
            String::new()
        } else {
            format!("; in the same update: {}", also.join("; "))
        };
        let note = format!(
            "changed outside berth, set back: {}{also}",
            drift.join(", ")
        );
        return (EventType::Warning, "DriftCorrected", note);
    }
    match (revision_change, settings) {
        (Some((reason, what)), Some(settings)) => {
            (EventType::Normal, reason, format!("{what}; {settings}"))
        }
        (Some((reason, what)), None) => (EventType::Normal, reason, what),
        (None, settings) => (
            EventType::Normal,
            "ServiceUpdated",
            settings.unwrap_or_else(|| "updated service settings".into()),
        ),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn drift(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    const TD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/shop-api:3";

    #[test]
    fn one_event_per_update_says_what_drifted_and_what_else_changed() {
        let rollout = ServiceUpdate {
            task_definition: Some(TD.into()),
            ..Default::default()
        };
        let scale = ServiceUpdate {
            desired_count: Some(2),
            ..Default::default()
        };
        let both = ServiceUpdate {
            desired_count: Some(2),
            platform_version: Some("1.4.0".into()),
            ..rollout.clone()
        };
        let rollback = ServiceUpdate {
            rollback: true,
            ..rollout.clone()
        };
        let cases: &[(&ServiceUpdate, &[&str], EventType, &str, &str)] = &[
            (
                &rollout,
                &[],
                EventType::Normal,
                "RolloutStarted",
                "rolling out revision 3",
            ),
            (
                &rollback,
                &[],
                EventType::Normal,
                "RollingBack",
                &format!("rolling back to {TD} after a failed post-rollout check"),
            ),
            (
                &scale,
                &[],
                EventType::Normal,
                "ServiceUpdated",
                "updated desiredCount",
            ),
            (
                &both,
                &[],
                EventType::Normal,
                "RolloutStarted",
                "rolling out revision 3; updated desiredCount, platformVersion",
            ),
            (
                &scale,
                &["desiredCount"],
                EventType::Warning,
                "DriftCorrected",
                "changed outside berth, set back: desiredCount",
            ),
            (
                &rollout,
                &["taskDefinition"],
                EventType::Warning,
                "DriftCorrected",
                "changed outside berth, set back: taskDefinition",
            ),
            (
                &both,
                &["desiredCount"],
                EventType::Warning,
                "DriftCorrected",
                "changed outside berth, set back: desiredCount; \
                 in the same update: rolling out revision 3; updated platformVersion",
            ),
        ];
        for (update, names, kind, reason, note) in cases {
            let got = update_event(update, &drift(names), 3);
            assert_eq!(
                got,
                (*kind, *reason, note.to_string()),
                "{update:?} {names:?}"
            );
        }
    }
}
