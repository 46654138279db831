//! The EcsService's rows of the state table (`controller::state_table`),
//! each from the plan.

use super::*;
use crate::controller::shell::{Outcome, Then};
use crate::controller::state_table::{Row, State};

fn migrating() -> Gate {
    Gate::Waiting("waiting for MigrationJob migrate to succeed".into())
}

pub(crate) fn rows() -> Vec<Row> {
    let new = example(Some(recorded(NEW_TD)));
    let old = example(Some(recorded(OLD_TD)));
    let going = service(NEW_TD, "IN_PROGRESS", 1);
    let pull = StoppedTask {
        task_arn: "arn:aws:ecs:us-east-1:123456789012:task/shop/t1".into(),
        task_definition_arn: Some(NEW_TD.into()),
        stop_code: Some("TaskFailedToStart".into()),
        stopped_reason: Some("CannotPullContainerError: pull image manifest: not found".into()),
        ..Default::default()
    };
    let mut kept = new.clone();
    kept.spec.deletion_policy = crate::api::common::DeletionPolicy::Retain;
    assert!(crate::controller::shell::Kind::retained(&kept).is_some());
    let serving = World::serving(NEW_TD).plan().conditions;
    vec![
        Row::new(
            State::Creating,
            "the ECS service is being created",
            run(&example(None), None, Gate::Open, &[]).conditions,
        ),
        Row::new(
            State::Ready,
            "the desired revision runs, rollout COMPLETED",
            World::serving(NEW_TD).plan().conditions,
        ),
        Row::new(
            State::RollingOut,
            "a new revision rolls out",
            run(&new, Some(&going), Gate::Open, &[]).conditions,
        ),
        Row::new(
            State::Waiting,
            "a new revision waits for its PreRollout MigrationJobs; the old one serves",
            run(
                &old,
                Some(&service(OLD_TD, "COMPLETED", 2)),
                migrating(),
                &[],
            )
            .conditions,
        ),
        Row::new(
            State::Retrying,
            "tasks of the new revision stop and ECS starts others",
            run(&new, Some(&going), Gate::Open, &[pull]).conditions,
        ),
        Row::new(
            State::NeedsHuman,
            "ECS marked the rollout FAILED",
            run(&new, Some(&service(NEW_TD, "FAILED", 0)), Gate::Open, &[]).conditions,
        ),
        Row::paused_from::<EcsServiceStatus>(
            "berth.dev/paused is \"true\" on a ready service",
            "EcsService",
            Outcome::Conditions(serving, Then::Resync),
        ),
        Row::deleting_for(
            "the ECS service is gone; its Cloud Map service still has instances",
            "EcsService",
            &crate::controller::ecs_service::cleanup::draining(REGISTRY),
        ),
        Row::gone(
            State::Retained,
            "deleted with `deletionPolicy: Retain`: the ECS service stays",
        ),
    ]
}
