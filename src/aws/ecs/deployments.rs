//! ECS service deployments (the records DescribeServiceDeployments
//! returns): berth's view of one, and the two mutations berth makes on a
//! deployment, StopServiceDeployment (a manual rollback) and
//! ContinueServiceDeployment (resuming a PAUSE lifecycle hook).

use aws_sdk_ecs::types::{
    DeploymentLifecycleHookAction, ServiceDeployment, StopServiceDeploymentStopType,
};

use crate::aws::{AwsFailure, Clients};

/// A service deployment record: how ECS reports one rollout, independent
/// of the service's event text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceDeploymentView {
    pub arn: String,
    /// PENDING, IN_PROGRESS, SUCCESSFUL, STOPPED, STOP_REQUESTED,
    /// ROLLBACK_REQUESTED, ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL,
    /// ROLLBACK_FAILED.
    pub status: String,
    pub status_reason: Option<String>,
    /// RECONCILE_SERVICE, PRE_SCALE_UP, SCALE_UP, ..., BAKE_TIME, CLEAN_UP.
    pub lifecycle_stage: Option<String>,
    pub circuit_breaker: Option<CircuitBreakerView>,
    /// MONITORING, TRIGGERED, DISABLED.
    pub alarms_status: Option<String>,
    pub triggered_alarms: Vec<String>,
    pub rollback_reason: Option<String>,
    /// The service revision the rollback went back to.
    pub rollback_revision_arn: Option<String>,
    pub target_revision_arn: Option<String>,
    pub hooks: Vec<HookView>,
    /// Seconds since the epoch.
    pub created_at: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CircuitBreakerView {
    /// MONITORING, TRIGGERED, DISABLED.
    pub status: Option<String>,
    pub failure_count: i32,
    pub threshold: i32,
}

/// A lifecycle hook of the deployment (`lifecycleHookDetails`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HookView {
    pub hook_id: String,
    /// PAUSE, AWS_LAMBDA.
    pub target_type: Option<String>,
    /// AWAITING_ACTION, SUCCEEDED, FAILED, TIMED_OUT, ...
    pub status: Option<String>,
}

impl ServiceDeploymentView {
    pub fn is(&self, status: &str) -> bool {
        self.status == status
    }

    /// ECS is rolling the deployment back, or has (successfully or not).
    pub fn rolling_back(&self) -> bool {
        self.status.starts_with("ROLLBACK_")
    }

    /// Neither finished nor being stopped or rolled back.
    pub fn ongoing(&self) -> bool {
        matches!(self.status.as_str(), "PENDING" | "IN_PROGRESS")
    }

    /// The PAUSE hook waiting for ContinueServiceDeployment, if any.
    pub fn awaiting_hook(&self) -> Option<&HookView> {
        self.hooks.iter().find(|h| {
            h.status.as_deref() == Some("AWAITING_ACTION")
                && h.target_type.as_deref() == Some("PAUSE")
        })
    }
}

impl From<&ServiceDeployment> for ServiceDeploymentView {
    fn from(d: &ServiceDeployment) -> Self {
        Self {
            arn: d.service_deployment_arn().unwrap_or_default().to_string(),
            status: d
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            status_reason: d.status_reason().map(str::to_string),
            lifecycle_stage: d.lifecycle_stage().map(|s| s.as_str().to_string()),
            circuit_breaker: d.deployment_circuit_breaker().map(|c| CircuitBreakerView {
                status: c.status().map(|s| s.as_str().to_string()),
                failure_count: c.failure_count(),
                threshold: c.threshold(),
            }),
            alarms_status: d
                .alarms()
                .and_then(|a| a.status())
                .map(|s| s.as_str().to_string()),
            triggered_alarms: d
                .alarms()
                .map(|a| a.triggered_alarm_names().to_vec())
                .unwrap_or_default(),
            rollback_reason: d.rollback().and_then(|r| r.reason()).map(str::to_string),
            rollback_revision_arn: d
                .rollback()
                .and_then(|r| r.service_revision_arn())
                .map(str::to_string),
            target_revision_arn: d
                .target_service_revision()
                .and_then(|r| r.arn())
                .map(str::to_string),
            hooks: d
                .lifecycle_hook_details()
                .iter()
                .map(|h| HookView {
                    hook_id: h.hook_id().unwrap_or_default().to_string(),
                    target_type: h.target_type().map(|t| t.as_str().to_string()),
                    status: h.status().map(|s| s.as_str().to_string()),
                })
                .collect(),
            created_at: d.created_at().map(|t| t.secs()),
        }
    }
}

/// StopServiceDeployment with stopType ROLLBACK: ECS rolls the deployment
/// back to its source revision.
pub async fn roll_back(clients: &Clients, arn: &str) -> Result<(), AwsFailure> {
    clients
        .call("ecs:StopServiceDeployment", || {
            clients
                .ecs
                .stop_service_deployment()
                .service_deployment_arn(arn)
                .stop_type(StopServiceDeploymentStopType::Rollback)
                .send()
        })
        .await?;
    Ok(())
}

/// ContinueServiceDeployment: resumes the paused hook `hook_id` (CONTINUE)
/// or rolls the deployment back (ROLLBACK).
pub async fn continue_hook(
    clients: &Clients,
    arn: &str,
    hook_id: &str,
    proceed: bool,
) -> Result<(), AwsFailure> {
    let action = if proceed {
        DeploymentLifecycleHookAction::Continue
    } else {
        DeploymentLifecycleHookAction::Rollback
    };
    clients
        .call("ecs:ContinueServiceDeployment", || {
            clients
                .ecs
                .continue_service_deployment()
                .service_deployment_arn(arn)
                .hook_id(hook_id)
                .action(action.clone())
                .send()
        })
        .await?;
    Ok(())
}
