//! The AuroraCluster's rows of the state table (`controller::state_table`),
//! each from the plan.

use std::collections::BTreeMap;

use super::plan::{delete_step, plan, Inputs, Observed};
use super::plan_tests::{all_up, cluster, example, run, OWNER, UID};
use crate::api::aurora_cluster::AuroraDeletionPolicy;
use crate::api::AuroraClusterStatus;
use crate::controller::ownership::Owners;
use crate::controller::shell::{Kind, Outcome, Then};
use crate::controller::state_table::{Row, State};

pub(crate) fn rows() -> Vec<Row> {
    let mut bigger = example();
    bigger.spec.serverless_v2.as_mut().unwrap().max_capacity = 16.0;
    let mut busy = all_up();
    busy.cluster = Some(cluster("modifying"));
    let mut foreign = all_up();
    foreign.cluster.as_mut().unwrap().tags = BTreeMap::from([("team".into(), "dba".into())]);
    let paused = plan(&Inputs {
        obj: &example(),
        owner: OWNER,
        uid: UID,
        observed: &all_up(),
        owners: &Owners::default(),
        paused: true,
    });
    let mut going = example();
    going.spec.deletion_protection = false;
    let mut instances_going = all_up();
    instances_going.proxy = None;
    instances_going.target = None;
    instances_going
        .cluster
        .as_mut()
        .unwrap()
        .deletion_protection = false;
    instances_going.instances[0].status = "deleting".into();
    let step = delete_step(&going, &instances_going, OWNER).waiting_for();
    let mut kept = example();
    kept.spec.deletion_policy = AuroraDeletionPolicy::Retain;
    assert!(kept.retained().is_some());
    vec![
        Row::new(
            State::Creating,
            "the subnet group, cluster, instances and proxy are being created",
            run(&example(), &Observed::default()).conditions,
        ),
        Row::new(
            State::Ready,
            "cluster, instances and proxy target available",
            run(&example(), &all_up()).conditions,
        ),
        Row::new(
            State::RollingOut,
            "berth applies a spec change (ModifyDBCluster)",
            run(&bigger, &all_up()).conditions,
        ),
        Row::new(
            State::Waiting,
            "RDS applies a change (berth's or its own); berth sends nothing until it is done",
            run(&example(), &busy).conditions,
        ),
        Row::never(
            State::Retrying,
            "RDS calls that fail for a while are retried with backoff; the conditions keep their state",
        ),
        Row::new(
            State::NeedsHuman,
            "a cluster of that name exists without berth's tags",
            run(&example(), &foreign).conditions,
        ),
        Row::paused_from::<AuroraClusterStatus>(
            "berth.dev/paused is \"true\" on an available cluster",
            "AuroraCluster",
            Outcome::Conditions(paused.conditions, Then::Resync),
        ),
        Row::deleting_for(
            "the proxy is gone; RDS deletes the instances",
            "AuroraCluster",
            &step,
        ),
        Row::gone(
            State::Retained,
            "deleted with `deletionPolicy: Retain`: the cluster, instances and proxy stay",
        ),
    ]
}
