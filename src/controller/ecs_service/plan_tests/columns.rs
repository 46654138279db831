//! The REVISION and ROLLOUT columns (`status.servingRevision`,
//! `status.rollout.state`) after each kind of rollback: the revision ECS
//! serves and the rollback's state, in ECS service deployment words.

use super::{reason_of, service, World, NEW_TD, OLD_TD};
use crate::api::conditions::{Reason, DEGRADED};
use crate::aws::ecs::deployments::CircuitBreakerView;
use crate::aws::ecs::ServiceDeploymentView;

fn record(status: &str) -> ServiceDeploymentView {
    ServiceDeploymentView {
        arn: "arn:aws:ecs:us-east-1:123456789012:service-deployment/shop/shop-api/2".into(),
        status: status.into(),
        ..Default::default()
    }
}

/// ECS rolled revision 2 back (`record`), revision 1 serving in `state`.
fn ecs_rolled_back(record: ServiceDeploymentView, state: &str) -> World {
    let mut w = World::serving(NEW_TD);
    w.svc = Some(service(OLD_TD, state, 2));
    w.record = Some(record);
    w
}

/// (revision, rollout) as `kubectl get ecssvc` shows them.
fn columns(w: &World) -> (Option<i64>, Option<String>) {
    let st = w.next_status();
    (st.serving_revision, st.rollout.and_then(|r| r.state))
}

#[test]
fn the_columns_show_what_ecs_serves_after_each_rollback() {
    let breaker = ServiceDeploymentView {
        circuit_breaker: Some(CircuitBreakerView {
            status: Some("TRIGGERED".into()),
            failure_count: 3,
            threshold: 3,
        }),
        ..record("ROLLBACK_SUCCESSFUL")
    };
    let alarm = ServiceDeploymentView {
        triggered_alarms: vec!["shop-api-5xx".into()],
        ..record("ROLLBACK_SUCCESSFUL")
    };
    let mut manual = ecs_rolled_back(record("ROLLBACK_SUCCESSFUL"), "COMPLETED");
    manual.obj.status.as_mut().unwrap().rollback_requested = Some("incident-42".into());

    let mut post_test = ecs_rolled_back(record("ROLLBACK_SUCCESSFUL"), "COMPLETED");
    post_test.post_test_failed =
        Some("PostTestTraffic MigrationJob smoke failed with exit code 1".into());
    // Before ECS began: the deployment of revision 2 still paused.
    let mut post_test_asked = World::serving(NEW_TD);
    post_test_asked.svc = Some(service(NEW_TD, "IN_PROGRESS", 2));
    post_test_asked.record = Some(record("IN_PROGRESS"));
    post_test_asked.post_test_failed = post_test.post_test_failed.clone();

    // berth's own rollback after a failed PostRollout check: the push of
    // revision 1, then its deployment completing.
    let check = Some((
        "PostRollout MigrationJob smoke failed with exit code 1".into(),
        true,
    ));
    let mut post_rollout = World::serving(NEW_TD);
    post_rollout
        .obj
        .status
        .as_mut()
        .unwrap()
        .previous_task_definition_arn = Some(OLD_TD.into());
    post_rollout.post_check = check.clone();
    let mut post_rollout_done = World::serving(NEW_TD);
    post_rollout_done.svc = Some(service(OLD_TD, "COMPLETED", 2));
    post_rollout_done
        .obj
        .status
        .as_mut()
        .unwrap()
        .previous_task_definition_arn = Some(OLD_TD.into());
    post_rollout_done.post_check = check;

    let cases: Vec<(&str, World, i64, &str, Reason)> = vec![
        (
            "circuit breaker, rolling back",
            ecs_rolled_back(record("ROLLBACK_IN_PROGRESS"), "IN_PROGRESS"),
            1,
            "ROLLBACK_IN_PROGRESS",
            Reason::RolledBack,
        ),
        (
            "circuit breaker",
            ecs_rolled_back(breaker, "COMPLETED"),
            1,
            "ROLLBACK_SUCCESSFUL",
            Reason::RolledBack,
        ),
        (
            "alarm",
            ecs_rolled_back(alarm, "COMPLETED"),
            1,
            "ROLLBACK_SUCCESSFUL",
            Reason::RolledBack,
        ),
        (
            "berth.dev/rollback",
            manual,
            1,
            "ROLLBACK_SUCCESSFUL",
            Reason::RolledBack,
        ),
        (
            "PostTestTraffic, asked",
            post_test_asked,
            2,
            "ROLLBACK_IN_PROGRESS",
            Reason::PostTestTrafficCheckFailed,
        ),
        (
            "PostTestTraffic",
            post_test,
            1,
            "ROLLBACK_SUCCESSFUL",
            Reason::PostTestTrafficCheckFailed,
        ),
        (
            "PostRollout, pushing revision 1",
            post_rollout,
            2,
            "ROLLBACK_IN_PROGRESS",
            Reason::PostRolloutCheckFailed,
        ),
        (
            "PostRollout",
            post_rollout_done,
            1,
            "ROLLBACK_SUCCESSFUL",
            Reason::PostRolloutCheckFailed,
        ),
    ];
    for (name, w, revision, rollout, reason) in cases {
        assert_eq!(reason_of(&w.plan(), DEGRADED), (true, reason), "{name}");
        assert_eq!(
            columns(&w),
            (Some(revision), Some(rollout.to_string())),
            "{name}"
        );
        // What berth wants stays in status.revision.
        assert_eq!(w.next_status().revision, Some(2), "{name}");
    }

    // No rollback: ECS's own rolloutState, the desired revision serving.
    let mut done = World::serving(NEW_TD);
    assert_eq!(columns(&done), (Some(2), Some("COMPLETED".into())));
    // The service vanished: no revision serves.
    done.svc = None;
    assert_eq!(columns(&done).0, None);
}
