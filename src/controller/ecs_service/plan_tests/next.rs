//! What the EcsService reconcile reports around the plan: a terminal AWS
//! failure, the cases without a desired revision, the next status and the
//! requeue.

use std::time::Duration;

use super::*;
use crate::api::conditions::PROGRESSING;
use crate::api::ecs_service::ServiceDeploymentStatus;
use crate::aws::{AwsFailure, FailureKind};
use crate::controller::ecs_service::plan::{
    failure, needs_stopped_tasks, prunes, registry_refused, requeue, status, still_waiting,
    without_revision, Answered, Revision,
};
use crate::controller::shell::{Outcome, Then};

fn aws(action: &'static str, code: &str, kind: FailureKind) -> AwsFailure {
    AwsFailure {
        kind,
        action,
        code: Some(code.into()),
        message: "the request was refused".into(),
    }
}

/// The reason and requeue an outcome reports.
fn reported(o: Option<Outcome<EcsServiceStatus>>) -> Option<(Reason, Then)> {
    match o? {
        Outcome::Failed(f) => {
            assert!(!f.message.is_empty());
            let _ = conditions::failed(f.reason, f.message.clone());
            Some((f.reason, f.then))
        }
        Outcome::Conditions(c, then) => Some((c[0].reason, then)),
        // What the kind held back while paused, as the shell reports it.
        held @ Outcome::Held { .. } => reported(Some(crate::controller::shell::paused(
            "EcsService",
            &EcsServiceStatus::default(),
            held,
            Some(1),
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ))),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn terminal_failures_name_what_the_user_fixes() {
    let obj = example(None);
    let cases = [
        (
            aws(
                "ecs:CreateService",
                "ClusterNotFoundException",
                FailureKind::Terminal,
            ),
            Some((Reason::ClusterNotFound, Then::Resync)),
        ),
        (
            aws(
                "servicediscovery:GetNamespace",
                "NamespaceNotFound",
                FailureKind::Terminal,
            ),
            Some((Reason::NamespaceNotFound, Then::Resync)),
        ),
        (
            aws(
                "secretsmanager:DescribeSecret",
                "ResourceNotFoundException",
                FailureKind::Terminal,
            ),
            Some((Reason::SecretNotFound, Then::Resync)),
        ),
        (
            aws(
                "ecs:UpdateService",
                "InvalidParameterException",
                FailureKind::Terminal,
            ),
            Some((Reason::AwsError, Then::Resync)),
        ),
        // Throttling and outages are retried with backoff, status unchanged.
        (
            aws(
                "ecs:UpdateService",
                "ThrottlingException",
                FailureKind::Throttled,
            ),
            None,
        ),
        (
            aws(
                "ecs:CreateService",
                "ClusterNotFoundException",
                FailureKind::Transient,
            ),
            None,
        ),
    ];
    for (f, want) in cases {
        assert_eq!(reported(failure(&obj, &f)), want, "{f}");
    }
    let Some(Outcome::Failed(f)) = failure(
        &obj,
        &aws(
            "ecs:CreateService",
            "ClusterNotFoundException",
            FailureKind::Terminal,
        ),
    ) else {
        panic!("a missing cluster is a failure");
    };
    assert!(
        f.message.contains("(spec.cluster) does not exist"),
        "{}",
        f.message
    );
}

#[test]
fn without_a_desired_revision() {
    let obj = example(None);
    let now = Timestamp::from_second(NOW).unwrap();
    let wait = Duration::from_secs(40);
    let cluster = obj.spec.cluster.clone();
    let cases = [
        (Revision::Known(NEW_TD.into(), 2), None),
        (
            Revision::Refused(
                Reason::Conflict,
                "task definition family shop-api belongs to team-b/api".into(),
            ),
            Some((Reason::Conflict, Then::Resync)),
        ),
        (
            Revision::Queued(wait),
            Some((Reason::RegistrationQueued, Then::After(wait))),
        ),
        (
            Revision::Paused("abc123".into()),
            Some((Reason::Paused, Then::Resync)),
        ),
    ];
    for (revision, want) in cases {
        assert_eq!(
            reported(without_revision(&obj, revision.clone(), now).err()),
            want,
            "{revision:?}"
        );
    }
    let known = without_revision(&obj, Revision::Known(NEW_TD.into(), 2), now);
    assert_eq!(known.ok(), Some((NEW_TD.to_string(), 2)));
    let Err(Outcome::Quiet(then)) = without_revision(&obj, Revision::Later, now) else {
        panic!("registered at its turn: nothing to say until the next poll");
    };
    assert_eq!(then, Then::PollOn(cluster.clone()));
    // Still waiting for the same migrations: nothing written, next poll.
    let Outcome::Quiet(then) = still_waiting(&obj) else {
        panic!("a service still waiting writes nothing");
    };
    assert_eq!(then, Then::PollOn(cluster));
}

#[test]
fn a_foreign_cloud_map_service_is_reported_until_the_next_resync() {
    let refused = registry_refused(
        Reason::AdoptionRequired,
        "Cloud Map service api exists".into(),
    );
    assert_eq!(
        reported(Some(refused)),
        Some((Reason::AdoptionRequired, Then::Resync))
    );
}

#[test]
fn stopped_tasks_are_read_only_when_something_failed() {
    let mut svc = service(NEW_TD, "IN_PROGRESS", 1);
    assert!(!needs_stopped_tasks(&svc), "a rollout going well");
    svc.deployments[0].failed_tasks = 1;
    assert!(needs_stopped_tasks(&svc), "a task failed");
    let mut svc = service(NEW_TD, "FAILED", 0);
    assert!(needs_stopped_tasks(&svc), "the deployment failed");
    svc = service(NEW_TD, "COMPLETED", 2);
    assert!(!needs_stopped_tasks(&svc), "complete, all running");
    svc.running_count = 1;
    svc.pending_count = 0;
    assert!(needs_stopped_tasks(&svc), "tasks died after completion");
    svc.pending_count = 1;
    assert!(!needs_stopped_tasks(&svc), "a replacement is starting");
}

fn with_conditions(pairs: &[(&'static str, bool, Reason)]) -> EcsServiceStatus {
    let desired: Vec<Desired> = pairs
        .iter()
        .map(|(t, s, r)| Desired::new(t, *s, *r, "revision 2: 1/2 running, 1 pending"))
        .collect();
    EcsServiceStatus {
        conditions: conditions::merge(&[], &desired, Some(1), Timestamp::from_second(NOW).unwrap()),
        ..Default::default()
    }
}

#[test]
fn a_moving_deployment_is_polled_and_a_settled_one_resynced() {
    let c = "prod".to_string();
    let rolling = with_conditions(&[(PROGRESSING, true, Reason::RollingOut)]);
    assert_eq!(requeue(&rolling, &c), Then::PollOn(c.clone()));
    let failing = with_conditions(&[
        (PROGRESSING, false, Reason::RolloutComplete),
        (DEGRADED, true, Reason::TasksFailing),
    ]);
    assert_eq!(requeue(&failing, &c), Then::PollOn(c.clone()));
    let mut settled = with_conditions(&[
        (READY, true, Reason::RolloutComplete),
        (PROGRESSING, false, Reason::RolloutComplete),
    ]);
    assert_eq!(requeue(&settled, &c), Then::ResyncOn(c.clone()));
    // A rollback berth asked for leaves Progressing false but moves on.
    settled.rollout = Some(RolloutStatus {
        service_deployment: Some(ServiceDeploymentStatus {
            arn: Some("arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/api/1".into()),
            status: Some("ROLLBACK_IN_PROGRESS".into()),
            ..Default::default()
        }),
        ..Default::default()
    });
    assert_eq!(requeue(&settled, &c), Then::PollOn(c.clone()));
    // So does berth's own rollback after a failed PostRollout check, until
    // the previous revision's deployment is COMPLETED.
    settled.rollout = Some(RolloutStatus {
        state: Some("ROLLBACK_IN_PROGRESS".into()),
        ..Default::default()
    });
    assert_eq!(requeue(&settled, &c), Then::PollOn(c.clone()));
    settled.rollout = Some(RolloutStatus {
        state: Some("ROLLBACK_SUCCESSFUL".into()),
        ..Default::default()
    });
    assert_eq!(requeue(&settled, &c), Then::ResyncOn(c));
}

#[test]
fn the_next_status_records_the_answer_to_the_mutation() {
    let obj = example(Some(recorded(OLD_TD)));
    let prev = recorded(OLD_TD);
    let svc = service(OLD_TD, "COMPLETED", 2);
    let p = run(&obj, Some(&svc), Gate::Open, &[]);
    assert!(matches!(p.action, ServiceAction::Update { .. }));
    // UpdateService answered with a new primary deployment and record.
    let mut answered = service(NEW_TD, "IN_PROGRESS", 0);
    answered.deployments[0].id = Some("ecs-svc/2".into());
    answered.current_service_deployment =
        Some("arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/api/2".into());
    let now = Timestamp::from_second(NOW).unwrap();
    let next = status(&Answered {
        obj: &obj,
        prev: &prev,
        plan: &p,
        current: Some(&answered),
        desired_arn: NEW_TD,
        revision: 2,
        hash: "h2",
        registry: None,
        pull_through_cache: None,
        rollback_requested: None,
        now,
    });
    let rollout = next.rollout.clone().unwrap();
    assert_eq!(rollout.deployment_id.as_deref(), Some("ecs-svc/2"));
    assert_eq!(
        rollout.service_deployment.and_then(|d| d.arn),
        answered.current_service_deployment
    );
    assert_eq!(next.task_definition_arn.as_deref(), Some(NEW_TD));
    assert_eq!(next.spec_hash.as_deref(), Some("h2"));
    assert_eq!(next.previous_task_definition_arn.as_deref(), Some(OLD_TD));
    // Not Ready yet: nothing is pruned.
    assert!(!prunes(&prev, &next, false));
}

#[test]
fn revisions_are_pruned_once_when_ready_turns_true_and_never_paused() {
    let mut prev = with_conditions(&[(READY, false, Reason::RollingOut)]);
    prev.task_definition_arn = Some(NEW_TD.into());
    let mut next = with_conditions(&[(READY, true, Reason::RolloutComplete)]);
    next.task_definition_arn = Some(NEW_TD.into());
    assert!(prunes(&prev, &next, false));
    assert!(!prunes(&prev, &next, true), "paused");
    assert!(!prunes(&next, &next, false), "Ready already");
    let mut before = next.clone();
    before.task_definition_arn = Some(OLD_TD.into());
    assert!(prunes(&before, &next, false), "Ready for another revision");
}
