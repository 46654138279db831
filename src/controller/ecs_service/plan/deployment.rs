//! Rollout outcome from the ECS service deployment record
//! (DescribeServiceDeployments): rollbacks by the circuit breaker, by
//! alarms or on request, failed rollbacks and the lifecycle stage, read
//! from the record's fields rather than from the service's event text,
//! which is only the fallback when a service has no record.

use std::collections::BTreeSet;

use k8s_openapi::jiff::Timestamp;

use crate::api::conditions::{self, Desired, Reason, DEGRADED};
use crate::api::ecs_service::{
    CircuitBreakerStatus, DeploymentStrategy, EcsService, EcsServiceStatus, ServiceDeploymentStatus,
};
use crate::api::migration_job::{Hook, MigrationJob, Phase};
use crate::aws::ecs::deployments::CircuitBreakerView;
use crate::aws::ecs::{DeploymentView, ServiceDeploymentView, ServiceView};

/// Whether the service's deployment configuration differs from the spec:
/// the rolling bounds and circuit breaker always; strategy settings the
/// spec leaves to ECS's defaults are not compared.
pub fn config_differs(obj: &EcsService, svc: &ServiceView, pause_post_test: bool) -> bool {
    let d = &obj.spec.deployment;
    let want_pause = pause_post_test && d.strategy != DeploymentStrategy::Rolling;
    if want_pause != has_post_test_pause(svc) {
        return true;
    }
    let Some(have) = &svc.deployment else {
        return true;
    };
    let strategy = have.strategy.as_deref().unwrap_or("ROLLING");
    let linear = d.linear.as_ref().is_some_and(|l| {
        let (p, b) = have.linear.unwrap_or_default();
        l.step_percent.is_some_and(|w| p != Some(w))
            || l.step_bake_time_in_minutes.is_some_and(|w| b != Some(w))
    });
    let canary = d.canary.as_ref().is_some_and(|c| {
        let (p, b) = have.canary.unwrap_or_default();
        c.canary_percent.is_some_and(|w| p != Some(w))
            || c.canary_bake_time_in_minutes.is_some_and(|w| b != Some(w))
    });
    let alarms = match (&d.alarms, &have.alarms) {
        (None, None) => false,
        (None, Some((_, enable, _))) => *enable,
        (Some(_), None) => true,
        (Some(w), Some((names, enable, rollback))) => {
            let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
            set(&w.names) != set(names) || !enable || w.rollback != *rollback
        }
    };
    have.minimum_healthy_percent != Some(d.minimum_healthy_percent)
        || have.maximum_percent != Some(d.maximum_percent)
        || have.circuit_breaker != Some((d.circuit_breaker.enable, d.circuit_breaker.rollback))
        || strategy != d.strategy.as_aws()
        || d.bake_time_in_minutes
            .is_some_and(|b| have.bake_time_in_minutes != Some(b))
        || linear
        || canary
        || alarms
}

/// Whether the service's network configuration differs from the spec.
pub fn network_differs(obj: &EcsService, svc: &ServiceView) -> bool {
    let want = obj.spec.network_configuration.as_ref();
    let have = svc.network.as_ref();
    match (want, have) {
        (None, None) => false,
        (None, Some(_)) | (Some(_), None) => true,
        (Some(w), Some(h)) => {
            let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
            set(&w.subnets) != set(&h.subnets)
                || set(&w.security_groups) != set(&h.security_groups)
                || w.assign_public_ip != h.assign_public_ip
        }
    }
}

/// Whether the service's capacity provider strategy differs from the spec.
pub fn capacity_differs(obj: &EcsService, svc: &ServiceView) -> bool {
    let have: BTreeSet<(String, i32, i32)> =
        svc.capacity_provider_strategy.iter().cloned().collect();
    let want: BTreeSet<(String, i32, i32)> = obj
        .spec
        .capacity_provider_strategy
        .iter()
        .map(|c| {
            (
                c.capacity_provider.clone(),
                c.weight.unwrap_or(0),
                c.base.unwrap_or(0),
            )
        })
        .collect();
    have != want
}

type LbKey = (
    String,
    String,
    i32,
    Option<(String, String, Option<String>, String)>,
);

/// Whether the service has the PAUSE hook at POST_TEST_TRAFFIC_SHIFT.
pub fn has_post_test_pause(svc: &ServiceView) -> bool {
    svc.deployment.as_ref().is_some_and(|d| {
        d.hooks.iter().any(|(target, stages)| {
            target == "PAUSE" && stages.iter().any(|s| s == "POST_TEST_TRAFFIC_SHIFT")
        })
    })
}

/// Whether the service's load balancers (with their advanced
/// configuration) differ from the spec.
pub fn load_balancers_differ(obj: &EcsService, svc: &ServiceView) -> bool {
    let have: BTreeSet<LbKey> = svc
        .load_balancers
        .iter()
        .map(|l| {
            (
                l.target_group_arn.clone(),
                l.container_name.clone(),
                l.container_port,
                l.advanced.clone(),
            )
        })
        .collect();
    let want: BTreeSet<LbKey> = obj
        .spec
        .load_balancers
        .iter()
        .map(|l| {
            (
                l.target_group_arn.clone(),
                l.container_name.clone(),
                l.container_port,
                l.advanced_configuration.as_ref().map(|a| {
                    (
                        a.alternate_target_group_arn.clone(),
                        a.production_listener_rule.clone(),
                        a.test_listener_rule.clone(),
                        a.role_arn.clone(),
                    )
                }),
            )
        })
        .collect();
    have != want
}

/// The state of a rollback as the ROLLOUT column shows it, in the words of
/// ECS service deployments: the record's own (ROLLBACK_REQUESTED,
/// ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL, ROLLBACK_FAILED) when ECS
/// rolls back; for berth's own rollback (an UpdateService to the previous
/// revision, `starting` now) the same words from the deployment that
/// serves the previous revision.
pub fn rollback_state(
    record: Option<&ServiceDeploymentView>,
    primary: Option<&DeploymentView>,
    starting: bool,
) -> String {
    if let Some(r) = record.filter(|r| r.status.starts_with("ROLLBACK_")) {
        return r.status.clone();
    }
    let done = !starting && primary.is_some_and(|d| d.is("COMPLETED"));
    match done {
        true => "ROLLBACK_SUCCESSFUL",
        false => "ROLLBACK_IN_PROGRESS",
    }
    .into()
}

/// The record as status shows it.
pub fn record_status(r: &ServiceDeploymentView) -> ServiceDeploymentStatus {
    ServiceDeploymentStatus {
        arn: Some(r.arn.clone()),
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
        awaiting_hook: r.awaiting_hook().map(|h| h.hook_id.clone()),
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
    let arn = d.arn.clone()?;
    finished.then(|| ServiceDeploymentView {
        arn,
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

/// The PostTestTraffic MigrationJobs naming service `service`.
pub fn post_test_jobs<'a>(jobs: &'a [MigrationJob], service: &str) -> Vec<&'a MigrationJob> {
    jobs.iter()
        .filter(|j| {
            j.is_hook_of(Hook::PostTestTraffic, service) && j.metadata.deletion_timestamp.is_none()
        })
        .collect()
}

/// The failure of a PostTestTraffic job for deployment `arn`, if one failed.
pub fn post_test_failure(jobs: &[&MigrationJob], arn: &str) -> Option<String> {
    jobs.iter().find_map(|j| {
        let st = j.status.as_ref()?;
        (st.phase == Some(Phase::Failed) && st.service_deployment.as_deref() == Some(arn)).then(
            || {
                format!(
                    "PostTestTraffic MigrationJob {} failed{} while deployment {arn} paused after test traffic; \
                     berth asked ECS to roll it back and the previous revision keeps serving",
                    j.metadata.name.as_deref().unwrap_or_default(),
                    st.exit_code
                        .map(|c| format!(" with exit code {c}"))
                        .unwrap_or_default()
                )
            },
        )
    })
}

/// What to answer a PAUSE hook awaiting action: `Some(true)` continue
/// (every PostTestTraffic job succeeded for this deployment), `Some(false)`
/// roll back (one failed), `None` wait. Without jobs (one was deleted
/// while the deployment paused) the deployment continues.
pub fn post_test_answer(jobs: &[&MigrationJob], record: &ServiceDeploymentView) -> Option<bool> {
    record.awaiting_hook()?;
    if post_test_failure(jobs, &record.arn).is_some() {
        return Some(false);
    }
    let done = jobs.iter().all(|j| {
        j.status.as_ref().is_some_and(|st| {
            st.phase == Some(Phase::Succeeded)
                && st.service_deployment.as_deref() == Some(record.arn.as_str())
        })
    });
    done.then_some(true)
}

/// The annotation that asks berth to roll back the current deployment.
pub const ROLLBACK_ANNOTATION: &str = "berth.dev/rollback";

/// What to do about the `berth.dev/rollback` annotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManualRollback {
    /// No new value.
    Nothing,
    /// StopServiceDeployment(ROLLBACK) on deployment `arn` for `value`.
    Stop { arn: String, value: String },
    /// A new value with no deployment to roll back: say why, once.
    NotPossible { value: String, why: String },
}

/// A new `berth.dev/rollback` value (one berth has not handled yet, as
/// status remembers) rolls back the current deployment while it is
/// ongoing; once ECS finished it, StopServiceDeployment cannot.
pub fn manual_rollback(
    value: Option<&str>,
    handled: Option<&str>,
    record: Option<&ServiceDeploymentView>,
) -> ManualRollback {
    let Some(value) = value.filter(|v| !v.is_empty() && Some(*v) != handled) else {
        return ManualRollback::Nothing;
    };
    let value = value.to_string();
    match record {
        Some(r) if r.ongoing() => ManualRollback::Stop {
            arn: r.arn.clone(),
            value,
        },
        Some(r) => ManualRollback::NotPossible {
            value,
            why: format!(
                "the current deployment is {}, not in progress: only a deployment in progress can be rolled back; \
                 to return to an older revision, change the spec",
                r.status
            ),
        },
        None => ManualRollback::NotPossible {
            value,
            why: "the service has no deployment in progress".into(),
        },
    }
}

/// What made ECS roll back, from the record.
fn cause(r: &ServiceDeploymentView, requested: Option<&str>) -> String {
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
    if let Some(v) = requested {
        return format!("rolled back as requested by {ROLLBACK_ANNOTATION}: \"{v}\"");
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
    requested: Option<&str>,
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
                cause(r, requested)
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
/// `failing` says why the revision's tasks stopped, if they did (the
/// record only says that they did).
pub fn failed_conditions(
    record: Option<&ServiceDeploymentView>,
    revision: i64,
    failing: Option<&str>,
) -> Option<Vec<Desired>> {
    let r = record?;
    let failing = failing.map(|f| format!("; {f}")).unwrap_or_default();
    let message = match r.status.as_str() {
        "ROLLBACK_FAILED" => format!(
            "the rollout of revision {revision} failed and ECS could not roll back: {}{failing}",
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
        let (reason, m) = degraded_message(&rolled_back_conditions(Some(&r), 2, None, None));
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
        let (_, m) = degraded_message(&rolled_back_conditions(Some(&r), 2, None, None));
        assert!(m.contains("api-5xx") && m.contains("returning"), "{m}");
    }

    #[test]
    fn a_new_rollback_value_stops_the_ongoing_deployment_once() {
        let r = record("IN_PROGRESS");
        assert_eq!(
            manual_rollback(Some("1"), None, Some(&r)),
            ManualRollback::Stop {
                arn: r.arn.clone(),
                value: "1".into()
            }
        );
        assert_eq!(
            manual_rollback(Some("1"), Some("1"), Some(&r)),
            ManualRollback::Nothing
        );
        assert_eq!(
            manual_rollback(None, None, Some(&r)),
            ManualRollback::Nothing
        );
        assert!(matches!(
            manual_rollback(Some("2"), Some("1"), Some(&record("SUCCESSFUL"))),
            ManualRollback::NotPossible { why, .. } if why.contains("SUCCESSFUL")
        ));
        let mut done = record("ROLLBACK_SUCCESSFUL");
        done.rollback_reason = Some("Service deployment stopped by StopServiceDeployment.".into());
        let (_, m) = degraded_message(&rolled_back_conditions(Some(&done), 2, None, Some("1")));
        assert!(m.contains("berth.dev/rollback"), "{m}");
    }

    #[test]
    fn rollback_failed_is_rollout_failed() {
        let mut r = record("ROLLBACK_FAILED");
        r.status_reason = Some("nothing to roll back to".into());
        let (reason, m) = degraded_message(&failed_conditions(Some(&r), 2, None).unwrap());
        assert_eq!(reason, Reason::RolloutFailed);
        assert!(m.contains("nothing to roll back to"), "{m}");
        assert!(failed_conditions(Some(&record("IN_PROGRESS")), 2, None).is_none());
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
