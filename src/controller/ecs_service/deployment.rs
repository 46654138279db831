//! Rollout outcome from the ECS service deployment record
//! (DescribeServiceDeployments): rollbacks by the circuit breaker, by
//! alarms or on request, failed rollbacks and the lifecycle stage, read
//! from the record's fields rather than from the service's event text,
//! which is only the fallback when a service has no record.

use k8s_openapi::jiff::Timestamp;

use crate::api::conditions::{self, Desired, Reason, DEGRADED};
use crate::api::ecs_service::{CircuitBreakerStatus, EcsServiceStatus, ServiceDeploymentStatus};
use crate::aws::ecs::deployments::CircuitBreakerView;
use crate::aws::ecs::{ServiceDeploymentView, ServiceView};

/// The record as status shows it.
pub fn record_status(r: &ServiceDeploymentView) -> ServiceDeploymentStatus {
    ServiceDeploymentStatus {
        arn: r.arn.clone(),
        status: Some(r.status.clone()).filter(|s| !s.is_empty()),
        status_reason: r.status_reason.clone(),
        lifecycle_stage: r.lifecycle_stage.clone(),
        circuit_breaker: r.circuit_breaker.as_ref().map(|c| CircuitBreakerStatus {
            status: c.status.clone(),
            failure_count: c.failure_count,
            threshold: c.threshold,
        }),
        triggered_alarms: r.triggered_alarms.clone(),
        rollback_reason: r.rollback_reason.clone(),
        target_revision_arn: r.target_revision_arn.clone(),
    }
}

/// The view of a record status shows as finished (SUCCESSFUL, STOPPED,
/// ROLLBACK_SUCCESSFUL, ROLLBACK_FAILED): such a record no longer changes.
pub fn finished_view(d: &ServiceDeploymentStatus) -> Option<ServiceDeploymentView> {
    let status = d.status.clone()?;
    let finished = matches!(
        status.as_str(),
        "SUCCESSFUL" | "STOPPED" | "ROLLBACK_SUCCESSFUL" | "ROLLBACK_FAILED"
    );
    finished.then(|| ServiceDeploymentView {
        arn: d.arn.clone(),
        status,
        status_reason: d.status_reason.clone(),
        lifecycle_stage: d.lifecycle_stage.clone(),
        circuit_breaker: d.circuit_breaker.as_ref().map(|c| CircuitBreakerView {
            status: c.status.clone(),
            failure_count: c.failure_count,
            threshold: c.threshold,
        }),
        alarms_status: None,
        triggered_alarms: d.triggered_alarms.clone(),
        rollback_reason: d.rollback_reason.clone(),
        rollback_revision_arn: None,
        target_revision_arn: d.target_revision_arn.clone(),
        hooks: Vec::new(),
        created_at: None,
    })
}

/// True when ECS rolled back (or is rolling back) the rollout of
/// `revision`: once reported, a rollback stays reported until the spec
/// changes. The deployment record decides when there is one (its rollout
/// must be berth's rollout of `revision`); without one, the service's
/// events after berth's last rollout began.
pub fn rolled_back(
    record: Option<&ServiceDeploymentView>,
    svc: &ServiceView,
    prev: &EcsServiceStatus,
    revision: i64,
) -> bool {
    if conditions::find(&prev.conditions, DEGRADED)
        .is_some_and(|c| c.status == "True" && c.reason == Reason::RolledBack.as_str())
    {
        return true;
    }
    if let Some(r) = record {
        let ours = prev
            .rollout
            .as_ref()
            .and_then(|r| r.revision)
            .is_none_or(|v| v == revision);
        return ours && r.rolling_back() && !r.is("ROLLBACK_FAILED");
    }
    let since = prev
        .rollout
        .as_ref()
        .and_then(|r| r.started_at.as_deref())
        .and_then(|s| s.parse::<Timestamp>().ok())
        .map(|t| t.as_second())
        .unwrap_or(0);
    svc.events
        .iter()
        .any(|e| e.message.contains("rolling back to deployment") && e.created_at >= since)
}

/// What made ECS roll back, from the record.
fn cause(r: &ServiceDeploymentView) -> String {
    if let Some(c) = r
        .circuit_breaker
        .as_ref()
        .filter(|c| c.status.as_deref() == Some("TRIGGERED"))
    {
        return format!(
            "the deployment circuit breaker rolled back after {} failed tasks (threshold {})",
            c.failure_count, c.threshold
        );
    }
    if !r.triggered_alarms.is_empty() {
        return format!(
            "ECS rolled back because deployment alarm {} went into ALARM",
            r.triggered_alarms.join(", ")
        );
    }
    format!(
        "ECS rolled back the deployment ({})",
        r.rollback_reason
            .as_deref()
            .or(r.status_reason.as_deref())
            .unwrap_or("no reason given")
    )
}

/// `Degraded/RolledBack` for the rollout of `revision`: from the record
/// (cause, failure count and threshold, alarms), else from the events.
/// `summary` says why the revision's tasks stopped, if they did.
pub fn rolled_back_conditions(
    record: Option<&ServiceDeploymentView>,
    revision: i64,
    summary: Option<String>,
) -> Vec<Desired> {
    let summary = summary.map(|f| format!(": {f}")).unwrap_or_default();
    let message = match record.filter(|r| r.rolling_back()) {
        Some(r) => {
            let where_ = if r.is("ROLLBACK_SUCCESSFUL") {
                "ECS serves the previous revision"
            } else {
                "ECS is returning to the previous revision"
            };
            format!(
                "{}; revision {revision} is not serving and {where_}{summary}",
                cause(r)
            )
        }
        None => format!(
            "the deployment circuit breaker rolled revision {revision} back; ECS serves the previous revision{summary}"
        ),
    };
    conditions::failed(Reason::RolledBack, message)
}

/// `Degraded/RolloutFailed` when the record says the rollout of
/// `revision` failed without returning to the previous revision: the
/// rollback failed, or alarms stopped it (alarms without rollback).
pub fn failed_conditions(
    record: Option<&ServiceDeploymentView>,
    revision: i64,
) -> Option<Vec<Desired>> {
    let r = record?;
    let message = match r.status.as_str() {
        "ROLLBACK_FAILED" => format!(
            "the rollout of revision {revision} failed and ECS could not roll back: {}",
            r.status_reason.as_deref().unwrap_or("no reason given")
        ),
        "STOPPED" if !r.triggered_alarms.is_empty() => format!(
            "deployment alarm {} went into ALARM: ECS stopped the rollout of revision {revision} \
             (alarms.rollback is off)",
            r.triggered_alarms.join(", ")
        ),
        _ => return None,
    };
    Some(conditions::failed(Reason::RolloutFailed, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::ecs::views::EventView;

    fn record(status: &str) -> ServiceDeploymentView {
        ServiceDeploymentView {
            arn: "arn:aws:ecs:us-east-1:123456789012:service-deployment/shop/api/1".into(),
            status: status.into(),
            ..Default::default()
        }
    }

    fn degraded_message(c: &[Desired]) -> (Reason, String) {
        let d = c.iter().find(|c| c.type_ == DEGRADED).unwrap();
        (d.reason, d.message.clone())
    }

    #[test]
    fn circuit_breaker_rollback_names_count_and_threshold() {
        let mut r = record("ROLLBACK_SUCCESSFUL");
        r.circuit_breaker = Some(CircuitBreakerView {
            status: Some("TRIGGERED".into()),
            failure_count: 3,
            threshold: 3,
        });
        let (reason, m) = degraded_message(&rolled_back_conditions(Some(&r), 2, None));
        assert_eq!(reason, Reason::RolledBack);
        assert!(
            m.contains(
                "the deployment circuit breaker rolled back after 3 failed tasks (threshold 3)"
            ),
            "{m}"
        );
        assert!(m.contains("ECS serves the previous revision"), "{m}");
        assert!(crate::api::reasons::message_problem(reason, &m).is_none());
    }

    #[test]
    fn alarm_rollback_names_the_alarm() {
        let mut r = record("ROLLBACK_IN_PROGRESS");
        r.triggered_alarms = vec!["api-5xx".into()];
        let (_, m) = degraded_message(&rolled_back_conditions(Some(&r), 2, None));
        assert!(m.contains("api-5xx") && m.contains("returning"), "{m}");
    }

    #[test]
    fn rollback_failed_is_rollout_failed() {
        let mut r = record("ROLLBACK_FAILED");
        r.status_reason = Some("nothing to roll back to".into());
        let (reason, m) = degraded_message(&failed_conditions(Some(&r), 2).unwrap());
        assert_eq!(reason, Reason::RolloutFailed);
        assert!(m.contains("nothing to roll back to"), "{m}");
        assert!(failed_conditions(Some(&record("IN_PROGRESS")), 2).is_none());
    }

    #[test]
    fn the_record_decides_over_the_events() {
        let svc = ServiceView {
            events: vec![EventView {
                message: "(service api) rolling back to deployment ecs-svc/1.".into(),
                created_at: 10,
            }],
            ..Default::default()
        };
        let prev = EcsServiceStatus::default();
        // A record that is not rolling back wins over the event text...
        assert!(!rolled_back(Some(&record("IN_PROGRESS")), &svc, &prev, 2));
        assert!(rolled_back(
            Some(&record("ROLLBACK_SUCCESSFUL")),
            &svc,
            &prev,
            2
        ));
        // ...and without a record the events are the fallback.
        assert!(rolled_back(None, &svc, &prev, 2));
        assert!(!rolled_back(None, &ServiceView::default(), &prev, 2));
    }

    #[test]
    fn a_rollback_of_an_older_rollout_is_not_this_one() {
        let prev = EcsServiceStatus {
            rollout: Some(crate::api::ecs_service::RolloutStatus {
                revision: Some(2),
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = record("ROLLBACK_SUCCESSFUL");
        assert!(!rolled_back(Some(&r), &ServiceView::default(), &prev, 3));
        assert!(rolled_back(Some(&r), &ServiceView::default(), &prev, 2));
    }
}
