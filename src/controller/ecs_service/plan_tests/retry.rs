//! The retry of a rollout ECS failed: a new `berth.dev/refresh` value
//! retries once, the value the rollout already saw never does, and a
//! PullThroughCache that became Ready after the rollout started retries
//! once per Ready transition.

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;

use super::{reason_of, service, World, NEW_TD, NOW, OLD_TD};
use crate::api::conditions::{self, Reason, DEGRADED, READY};
use crate::api::ecs_service::{EcsService, StoppedTask};
use crate::api::pull_through_cache::PullThroughCache;
use crate::aws::ecs::deployments::CircuitBreakerView;
use crate::aws::ecs::services::ServiceUpdate;
use crate::aws::ecs::ServiceDeploymentView;
use crate::controller::ecs_service::plan::{Gate, ServiceAction};
use crate::controller::ecs_service::retry::{self, CacheReady, Why};
use crate::controller::pull_through::Serving;

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

fn record(status: &str, breaker: bool) -> ServiceDeploymentView {
    ServiceDeploymentView {
        arn: "arn:aws:ecs:us-east-1:123456789012:service-deployment/shop/shop-api/1".into(),
        status: status.into(),
        circuit_breaker: breaker.then(|| CircuitBreakerView {
            status: Some("TRIGGERED".into()),
            failure_count: 2,
            threshold: 2,
        }),
        ..Default::default()
    }
}

/// The first rollout of revision 2 FAILED: nothing to roll back to.
fn first_failed() -> World {
    let mut w = World::serving(NEW_TD);
    w.svc = Some(service(NEW_TD, "FAILED", 0));
    w.record = Some(record("ROLLBACK_FAILED", true));
    w
}

/// The circuit breaker rolled revision 2 back; revision 1 serves.
fn rolled_back() -> World {
    let mut w = World::serving(NEW_TD);
    w.svc = Some(service(OLD_TD, "COMPLETED", 2));
    w.record = Some(record("ROLLBACK_SUCCESSFUL", true));
    w
}

fn seen(w: &mut World, value: &str) {
    let rollout = w.obj.status.as_mut().unwrap().rollout.as_mut().unwrap();
    rollout.refreshed_by = Some(value.into());
}

fn cache(since: i64) -> Option<CacheReady> {
    Some(CacheReady {
        object: "docker-hub".into(),
        since: at(since),
    })
}

/// (case, world, refresh, the retry expected, refreshedBy after)
type Case = (
    &'static str,
    World,
    Option<&'static str>,
    Option<Why>,
    Option<&'static str>,
);

#[test]
fn a_failed_rollout_is_retried_once_per_new_refresh_or_cache_transition() {
    let cases: Vec<Case> = vec![
        (
            "first rollout FAILED, no refresh",
            first_failed(),
            None,
            None,
            None,
        ),
        (
            "first rollout FAILED, a new refresh",
            first_failed(),
            Some("1"),
            Some(Why::Refresh("1".into())),
            Some("1"),
        ),
        (
            "the value the rollout saw before it failed",
            {
                let mut w = first_failed();
                seen(&mut w, "1");
                w
            },
            Some("1"),
            None,
            Some("1"),
        ),
        (
            "a new value while paused waits for the resume",
            {
                let mut w = first_failed();
                seen(&mut w, "1");
                w.paused = true;
                w
            },
            Some("2"),
            None,
            Some("1"),
        ),
        (
            "rolled back by the circuit breaker, a new refresh",
            rolled_back(),
            Some("1"),
            Some(Why::Refresh("1".into())),
            Some("1"),
        ),
        (
            "rolled back on request (berth.dev/rollback) is no failure",
            {
                let mut w = rolled_back();
                w.record = Some(record("ROLLBACK_SUCCESSFUL", false));
                w.obj.status.as_mut().unwrap().rollback_requested = Some("incident".into());
                w
            },
            Some("1"),
            None,
            Some("1"),
        ),
        (
            "a failed PostRollout check is no failure",
            {
                let mut w = first_failed();
                w.post_check = Some(("PostRollout MigrationJob smoke failed".into(), false));
                w
            },
            Some("1"),
            None,
            Some("1"),
        ),
        (
            "a closed gate is no failure",
            {
                let mut w = first_failed();
                w.gate = Gate::Waiting("waiting for migrate".into());
                w
            },
            Some("1"),
            None,
            Some("1"),
        ),
        (
            "a rollout going on takes a new value as seen",
            {
                let mut w = World::serving(NEW_TD);
                w.svc().deployments[0].rollout_state = Some("IN_PROGRESS".into());
                w
            },
            Some("1"),
            None,
            Some("1"),
        ),
        (
            "the cache became Ready after the rollout started",
            {
                let mut w = first_failed();
                w.cache = cache(NOW - 30);
                w
            },
            None,
            Some(Why::Cache(cache(NOW - 30).unwrap())),
            None,
        ),
        (
            "the cache was Ready before the rollout started",
            {
                let mut w = first_failed();
                w.cache = cache(NOW - 90);
                w
            },
            None,
            None,
            None,
        ),
        (
            "the cache's transition was retried already",
            {
                let mut w = first_failed();
                w.cache = cache(NOW - 30);
                let record = Why::Cache(cache(NOW - 30).unwrap()).record();
                w.obj
                    .status
                    .as_mut()
                    .unwrap()
                    .rollout
                    .as_mut()
                    .unwrap()
                    .retried_for = Some(record);
                w
            },
            None,
            None,
            None,
        ),
        (
            "the cache while paused",
            {
                let mut w = first_failed();
                w.cache = cache(NOW - 30);
                w.paused = true;
                w
            },
            None,
            None,
            None,
        ),
    ];
    for (case, mut w, refresh, want, refreshed_by) in cases {
        w.refresh = refresh;
        let p = w.plan();
        assert_eq!(p.retry, want, "{case}");
        let rollout = p.rollout.as_ref().unwrap();
        assert_eq!(rollout.refreshed_by.as_deref(), refreshed_by, "{case}");
        let Some(why) = want else {
            assert!(
                !matches!(&p.action, ServiceAction::Update { update, .. } if update.force_new_deployment),
                "{case}: {:?}",
                p.action
            );
            continue;
        };
        let ServiceAction::Update { update, .. } = &p.action else {
            panic!("{case}: {:?}", p.action);
        };
        assert_eq!(
            **update,
            ServiceUpdate {
                task_definition: Some(NEW_TD.into()),
                force_new_deployment: true,
                ..Default::default()
            },
            "{case}"
        );
        assert_eq!(rollout.retried_for, Some(why.record()), "{case}");
        assert_eq!(rollout.started_at, Some(at(NOW).to_string()), "{case}");
        assert_eq!(reason_of(&p, READY), (false, Reason::RollingOut), "{case}");
        assert_eq!(
            reason_of(&p, DEGRADED),
            (false, Reason::AsExpected),
            "{case}"
        );
        let message = &p.conditions[0].message;
        assert!(
            message.contains("retrying the failed rollout of revision 2"),
            "{message}"
        );
        // A retry is no new revision: the rollback target stays.
        assert_ne!(p.previous_arn.as_deref(), Some(NEW_TD), "{case}");
    }
}

#[test]
fn without_a_retry_the_failure_stays_reported() {
    let mut w = first_failed();
    seen(&mut w, "1");
    w.refresh = Some("1");
    assert_eq!(
        reason_of(&w.plan(), DEGRADED),
        (true, Reason::RolloutFailed)
    );
    let mut w = rolled_back();
    w.refresh = None;
    assert_eq!(reason_of(&w.plan(), DEGRADED), (true, Reason::RolledBack));
}

#[test]
fn one_event_per_retry_names_the_cause_and_what_else_changed() {
    let update = ServiceUpdate {
        task_definition: Some(NEW_TD.into()),
        force_new_deployment: true,
        desired_count: Some(2),
        ..Default::default()
    };
    let cases = [
        (
            Why::Refresh("fixed".into()),
            vec![],
            "berth.dev/refresh is \"fixed\": retrying the failed rollout of revision 2 in a new deployment; \
             in the same update: updated desiredCount",
        ),
        (
            Why::Cache(cache(NOW).unwrap()),
            vec!["desiredCount".to_string()],
            "PullThroughCache docker-hub became Ready at 2027-01-15T08:00:00Z after the rollout of \
             revision 2 failed to pull its image: retrying the rollout once in a new deployment; \
             in the same update: changed outside berth, set back: desiredCount",
        ),
    ];
    for (why, drift, want) in cases {
        let (kind, reason, note) = retry::event(&why, &update, &drift, 2);
        assert_eq!(kind, kube::runtime::events::EventType::Normal);
        assert_eq!(reason, "RolloutRetried");
        assert_eq!(note, want);
        assert_eq!(crate::api::reasons::text_problem(reason, &note), None);
    }
}

fn ptc(ready: &str, transition: &str) -> Arc<PullThroughCache> {
    Arc::new(
        serde_yaml::from_str(&format!(
            r#"
apiVersion: berth.dev/v1alpha1
kind: PullThroughCache
metadata: {{name: docker-hub, namespace: shop}}
spec: {{ecrRepositoryPrefix: docker-hub, upstreamRegistry: quay}}
status:
  conditions:
  - {{type: Ready, status: "{ready}", reason: RuleReady, message: m, lastTransitionTime: "{transition}"}}
"#
        ))
        .unwrap(),
    )
}

fn pull_failure(td: &str) -> StoppedTask {
    StoppedTask {
        task_arn: "arn:aws:ecs:us-east-1:123456789012:task/shop/t1".into(),
        task_definition_arn: Some(td.into()),
        stop_code: Some("TaskFailedToStart".into()),
        stopped_reason: Some("CannotPullContainerError: pull image manifest: not found".into()),
        ..Default::default()
    }
}

#[test]
fn the_cache_counts_when_it_is_ready_and_the_desired_revision_could_not_pull() {
    let serving = Serving {
        image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27".into(),
        repository: "docker-hub/library/nginx".into(),
        object: Some("docker-hub".into()),
        state: "PullThroughCache docker-hub (prefix docker-hub) is Ready".into(),
    };
    let ready = [ptc("True", "2026-01-01T00:00:00Z")];
    let failed = [pull_failure(NEW_TD)];
    assert_eq!(
        retry::cache_ready(&ready, "shop", Some(&serving), &failed, NEW_TD),
        Some(CacheReady {
            object: "docker-hub".into(),
            since: "2026-01-01T00:00:00Z".parse().unwrap(),
        })
    );
    let not_ready = [ptc("False", "2026-01-01T00:00:00Z")];
    assert_eq!(
        retry::cache_ready(&not_ready, "shop", Some(&serving), &failed, NEW_TD),
        None
    );
    let older = [pull_failure(OLD_TD)];
    assert_eq!(
        retry::cache_ready(&ready, "shop", Some(&serving), &older, NEW_TD),
        None
    );
    let elsewhere = Serving {
        object: Some("infra/docker-hub".into()),
        ..serving.clone()
    };
    assert_eq!(
        retry::cache_ready(&ready, "shop", Some(&elsewhere), &failed, NEW_TD),
        None
    );
    let none = Serving {
        object: None,
        ..serving
    };
    assert_eq!(
        retry::cache_ready(&ready, "shop", Some(&none), &failed, NEW_TD),
        None
    );
}

#[test]
fn a_ready_cache_wakes_the_services_that_failed_to_pull() {
    let service = |name: &str, reason: Reason, message: &str| {
        let mut obj: EcsService = super::example(None);
        obj.metadata.name = Some(name.into());
        obj.status = Some(crate::api::ecs_service::EcsServiceStatus {
            conditions: conditions::merge(
                &[],
                &conditions::failed(reason, message),
                Some(2),
                at(NOW),
            ),
            ..Default::default()
        });
        Arc::new(obj)
    };
    let services = [
        service(
            "web",
            Reason::RolloutFailed,
            "the rollout of revision 1 failed: 2 task(s) stopped: CannotPullContainerError: not found",
        ),
        service(
            "api",
            Reason::RolloutFailed,
            "the rollout of revision 1 failed: 2 task(s) stopped: Essential container exited",
        ),
    ];
    let names = |cache: &PullThroughCache| -> Vec<String> {
        retry::waiting_for_cache(&services, cache)
            .into_iter()
            .map(|r| r.name)
            .collect()
    };
    assert_eq!(names(&ptc("True", "2026-01-01T00:00:00Z")), ["web"]);
    assert!(names(&ptc("False", "2026-01-01T00:00:00Z")).is_empty());
}
