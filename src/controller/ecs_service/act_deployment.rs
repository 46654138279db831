//! The EcsService reconcile's acts on ECS service deployments: reading
//! the current deployment record, a manual rollback (`berth.dev/rollback`)
//! and answering the PAUSE hook of PostTestTraffic MigrationJobs.

use kube::runtime::events::EventType;
use kube::ResourceExt;

use super::deployment;
use crate::api::ecs_service::{EcsService, EcsServiceStatus};
use crate::aws::ecs::{deployments, ServiceDeploymentView, ServiceView};
use crate::aws::Clients;
use crate::controller::context::Context;
use crate::controller::error::Result;

/// Answers the deployment's PAUSE hook once every PostTestTraffic job ran
/// for it: ContinueServiceDeployment CONTINUE, or ROLLBACK after a
/// failure. Once answered the hook no longer awaits action, so each
/// deployment is answered once (also across restarts).
pub async fn answer_hook(
    obj: &EcsService,
    ctx: &Context,
    clients: &Clients,
    jobs: &[&crate::api::MigrationJob],
    record: &ServiceDeploymentView,
) -> Result<()> {
    let (Some(proceed), Some(hook)) = (
        deployment::post_test_answer(jobs, record),
        record.awaiting_hook(),
    ) else {
        return Ok(());
    };
    match deployments::continue_hook(clients, &record.arn, &hook.hook_id, proceed).await {
        Ok(()) => {}
        // Answered meanwhile (by a previous process, or the hook timed out).
        Err(f) if f.is_code("InvalidParameterException") => return Ok(()),
        Err(f) => return Err(f.into()),
    }
    let (kind, reason, note) = if proceed {
        (
            EventType::Normal,
            "PostTestTrafficCheckPassed",
            format!(
                "PostTestTraffic checks passed: deployment {} continues",
                record.arn
            ),
        )
    } else {
        (
            EventType::Warning,
            "PostTestTrafficRollback",
            deployment::post_test_failure(jobs, &record.arn).unwrap_or_default(),
        )
    };
    ctx.event(obj, kind, reason, "ContinueServiceDeployment", note)
        .await;
    Ok(())
}

/// Acts on a new `berth.dev/rollback` value: StopServiceDeployment
/// (ROLLBACK) on the ongoing deployment, or an Event saying why not; the
/// value to remember as handled.
pub async fn manual_rollback(
    obj: &EcsService,
    ctx: &Context,
    clients: &Clients,
    prev: &EcsServiceStatus,
    record: Option<&ServiceDeploymentView>,
) -> Result<Option<String>> {
    let value = obj
        .annotations()
        .get(deployment::ROLLBACK_ANNOTATION)
        .map(String::as_str);
    let handled = prev.rollback_requested.as_deref();
    let not_possible = |value: String, why: String| async move {
        ctx.event(
            obj,
            EventType::Warning,
            "RollbackNotPossible",
            "StopServiceDeployment",
            format!(
                "{} \"{value}\": not rolled back: {why}",
                deployment::ROLLBACK_ANNOTATION
            ),
        )
        .await;
        Ok(Some(value))
    };
    match deployment::manual_rollback(value, handled, record) {
        deployment::ManualRollback::Nothing => Ok(prev.rollback_requested.clone()),
        deployment::ManualRollback::NotPossible { value, why } => not_possible(value, why).await,
        deployment::ManualRollback::Stop { arn, value } => {
            match deployments::roll_back(clients, &arn).await {
                Ok(()) => {}
                // Finished between the describe and the stop.
                Err(f) if f.is_code("ConflictException") => {
                    return not_possible(value, f.message.clone()).await;
                }
                Err(f) => return Err(f.into()),
            }
            ctx.event(
                obj,
                EventType::Normal,
                "RollbackRequested",
                "StopServiceDeployment",
                format!(
                    "{} \"{value}\": asked ECS to roll back deployment {arn} to the previous revision",
                    deployment::ROLLBACK_ANNOTATION
                ),
            )
            .await;
            Ok(Some(value))
        }
    }
}

/// The service's current deployment record, described in the cluster's
/// batch (20 per call). A record status already shows as finished is not
/// described again: a finished record does not change, so a steady
/// service costs no DescribeServiceDeployments per poll.
pub async fn current_record(
    clients: &Clients,
    cluster: &str,
    service: Option<&ServiceView>,
    prev: &EcsServiceStatus,
) -> Result<Option<ServiceDeploymentView>> {
    let Some(arn) = service.and_then(|s| s.current_service_deployment.as_deref()) else {
        return Ok(None);
    };
    let known = prev
        .rollout
        .as_ref()
        .and_then(|r| r.service_deployment.as_ref())
        .filter(|d| d.arn.as_deref() == Some(arn));
    if let Some(finished) = known.and_then(deployment::finished_view) {
        return Ok(Some(finished));
    }
    Ok(clients
        .batches
        .service_deployments
        .get(clients, cluster, arn)
        .await?)
}
