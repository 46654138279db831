//! The retry of a rollout ECS failed: a new `berth.dev/refresh` value
//! retries once, the value the rollout already saw never does, and the
//! PullThroughCache serving the image that failed to pull retries once each
//! time it goes from "pulls of this repository may fail" to "serves it".

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;

use super::{reason_of, service, World, NEW_TD, NOW, OLD_TD};
use crate::api::conditions::{self, Desired, Reason, DEGRADED, READY};
use crate::api::ecs_service::{EcsService, StoppedTask};
use crate::api::pull_through_cache::{PullThroughCache, PullThroughCacheStatus};
use crate::aws::ecs::deployments::CircuitBreakerView;
use crate::aws::ecs::services::ServiceUpdate;
use crate::aws::ecs::ServiceDeploymentView;
use crate::controller::ecs_service::plan::{Gate, ServiceAction};
use crate::controller::ecs_service::retry::{self, CacheServes, Why};
use crate::controller::pull_through::serving;

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

/// (case, world, refresh, the retry expected, refreshedBy after)
type Case = (
    &'static str,
    World,
    Option<&'static str>,
    Option<Why>,
    Option<&'static str>,
);

#[test]
fn a_failed_rollout_is_retried_once_per_new_refresh() {
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
            Why::Cache(CacheServes {
                object: "docker-hub".into(),
                repository: "docker-hub/library/nginx".into(),
                at: at(NOW).to_string(),
            }),
            vec!["desiredCount".to_string()],
            "PullThroughCache docker-hub serves repository docker-hub/library/nginx now, after the \
             rollout of revision 2 failed to pull its image while pulls of it could fail: retrying \
             the rollout once in a new deployment; in the same update: changed outside berth, set \
             back: desiredCount",
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

const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27";

/// The PullThroughCache docker-hub: Ready or not, and its warnings
/// (`status.conflicts` entries and unmanaged repositories).
fn ptc(ready: bool, conflicts: &[&str], unmanaged: &[&str]) -> PullThroughCache {
    let mut p: PullThroughCache = serde_yaml::from_str(
        r#"
apiVersion: berth.dev/v1alpha1
kind: PullThroughCache
metadata: {name: docker-hub, namespace: shop}
spec: {ecrRepositoryPrefix: docker-hub, upstreamRegistry: quay}
"#,
    )
    .unwrap();
    let warned = !conflicts.is_empty() || !unmanaged.is_empty();
    let reason = match (ready, warned) {
        (false, _) => Reason::RuleInvalid,
        (true, false) => Reason::RuleReady,
        (true, true) => Reason::PrefixOverlap,
    };
    p.status = Some(PullThroughCacheStatus {
        ecr_repository_prefix: Some("docker-hub".into()),
        conflicts: conflicts.iter().map(|c| c.to_string()).collect(),
        unmanaged_repositories: unmanaged.iter().map(|c| c.to_string()).collect(),
        conditions: conditions::merge(
            &[],
            &[
                Desired::new(READY, ready, reason, "m"),
                Desired::new(DEGRADED, !ready, reason, "m"),
            ],
            Some(1),
            at(NOW - 600),
        ),
        ..Default::default()
    });
    p
}

/// What each step of a sequence sees: the cache (None: no PullThroughCache
/// covers the image), and whether the rollout is retried.
type Step = (Option<PullThroughCache>, bool);

fn incident() -> PullThroughCache {
    ptc(
        true,
        &["rule/docker-hub/library/nginx", "template/docker-hub"],
        &["docker-hub/library/nginx"],
    )
}

#[test]
fn a_failed_pull_is_retried_once_when_the_cache_starts_serving_its_repository() {
    let cases: Vec<(&str, Vec<Step>)> = vec![
        (
            "the incident: the prefix rule becomes Ready still overlapping the repository \
             (no retry), the team's cleanup (one retry), a second reconcile (none)",
            vec![
                (None, false),
                (Some(ptc(false, &[], &[])), false),
                (Some(incident()), false),
                (Some(incident()), false),
                (Some(ptc(true, &[], &[])), true),
                (Some(ptc(true, &[], &[])), false),
            ],
        ),
        (
            "a part of the warnings clears, the repository still affected",
            vec![
                (Some(incident()), false),
                (Some(ptc(true, &["template/docker-hub"], &[])), false),
                (Some(ptc(true, &[], &[])), true),
            ],
        ),
        (
            "a warning about a different repository clears",
            vec![
                (
                    Some(ptc(
                        true,
                        &["rule/docker-hub/library/redis"],
                        &["docker-hub/team/web"],
                    )),
                    false,
                ),
                (Some(ptc(true, &[], &[])), false),
            ],
        ),
        (
            "the cache is created after the rollout failed, then warns and is fixed again",
            vec![
                (None, false),
                (Some(ptc(true, &[], &[])), true),
                (Some(ptc(true, &[], &[])), false),
                (Some(ptc(true, &[], &["docker-hub/library/nginx"])), false),
                (Some(ptc(true, &[], &[])), true),
            ],
        ),
    ];
    for (case, steps) in cases {
        let mut w = first_failed();
        w.stopped = vec![pull_failure(NEW_TD)];
        for (n, (cache, retried)) in steps.into_iter().enumerate() {
            let caches: Vec<PullThroughCache> = cache.into_iter().collect();
            w.cache = serving(&caches, "shop", "us-east-1", IMAGE);
            let p = w.plan();
            let rollout = p.rollout.clone().unwrap();
            assert_eq!(
                matches!(p.retry, Some(Why::Cache(_))),
                retried,
                "{case}, step {n}: {:?}",
                p.retry
            );
            if retried {
                let ServiceAction::Update { update, .. } = &p.action else {
                    panic!("{case}, step {n}: {:?}", p.action);
                };
                assert!(update.force_new_deployment, "{case}, step {n}");
                assert_eq!(
                    rollout.retried_for.as_deref(),
                    Some(
                        "PullThroughCache docker-hub serves docker-hub/library/nginx at \
                         2027-01-15T08:00:00Z"
                    ),
                    "{case}, step {n}"
                );
            }
            // The service stays failed (ECS is not simulated): the next
            // step is the next reconcile, with this one's status.
            w.obj.status.as_mut().unwrap().rollout = Some(rollout);
        }
    }
}

#[test]
fn the_cache_is_not_used_while_paused_nor_for_a_failure_that_was_no_pull() {
    let mut w = first_failed();
    w.cache = serving(&[ptc(true, &[], &[])], "shop", "us-east-1", IMAGE);
    w.obj
        .status
        .as_mut()
        .unwrap()
        .rollout
        .as_mut()
        .unwrap()
        .pull_through_cache_warning =
        Some("no PullThroughCache covers repository docker-hub/library/nginx".into());
    // No stopped task and no condition says the pull failed.
    assert_eq!(w.plan().retry, None);
    w.stopped = vec![pull_failure(OLD_TD)];
    assert_eq!(w.plan().retry, None, "an older revision's failure");
    w.stopped = vec![pull_failure(NEW_TD)];
    w.paused = true;
    assert_eq!(w.plan().retry, None, "paused");
    w.paused = false;
    assert!(matches!(w.plan().retry, Some(Why::Cache(_))));
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
fn a_cache_change_wakes_the_services_that_failed_to_pull() {
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
    let names: Vec<String> = retry::waiting_for_cache(&services)
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["web"]);
}
