//! Table tests of the AuroraCluster's deletion: the order (proxy,
//! instances, cluster, subnet group), what is never berth's to delete,
//! deletion protection, and the Event of each step.

use std::collections::BTreeMap;

use kube::runtime::events::EventType;

use super::plan::{
    delete_step, lift_deletion_protection, retained, DeleteStep, Observed, RdsAction,
};
use super::plan_tests::*;
use crate::api::aurora_cluster::AuroraDeletionPolicy;
use crate::api::conditions::{Reason, DEGRADED, READY};
use crate::aws::rds::{ClusterModify, SubnetGroupView};

#[test]
fn deletion_protection_with_a_deleting_policy_is_degraded() {
    let mut obj = example();
    obj.spec.deletion_policy = AuroraDeletionPolicy::Snapshot;
    let p = run(&obj, &all_up());
    assert_eq!(
        reason_of(&p.conditions, DEGRADED),
        (true, Reason::DeletionProtected)
    );
    // Still usable: Ready stays as RDS reports.
    assert_eq!(reason_of(&p.conditions, READY), (true, Reason::Available));
    assert_eq!(
        delete_step(&obj, &all_up_without_proxy(), OWNER),
        DeleteStep::DeletionProtected
    );
    // Once the spec lifts it, berth lifts it in RDS before deleting.
    obj.spec.deletion_protection = false;
    assert_eq!(
        run(&obj, &all_up()).action,
        RdsAction::ModifyCluster(ClusterModify {
            deletion_protection: Some(false),
            ..Default::default()
        })
    );
    assert_eq!(
        delete_step(&obj, &all_up_without_proxy(), OWNER),
        DeleteStep::LiftDeletionProtection("orders-db".into())
    );
    let mut modifying = all_up_without_proxy();
    modifying.instances.clear();
    let c = modifying.cluster.as_mut().unwrap();
    c.deletion_protection = false;
    c.status = "modifying".into();
    assert_eq!(
        delete_step(&obj, &modifying, OWNER),
        DeleteStep::Wait("cluster orders-db is modifying".into())
    );
}

#[test]
fn deletes_proxy_instances_cluster_subnet_group_in_order() {
    let mut obj = example();
    obj.spec.deletion_policy = AuroraDeletionPolicy::Snapshot;
    obj.spec.deletion_protection = false;
    let unprotected = |mut o: Observed| {
        if let Some(c) = o.cluster.as_mut() {
            c.deletion_protection = false;
        }
        o
    };
    let group = SubnetGroupView {
        name: "orders-db".into(),
        tags: Some(owned_tags()),
        ..Default::default()
    };
    let cases: Vec<(&str, Observed, DeleteStep)> = vec![
        (
            "proxy first",
            unprotected(all_up()),
            DeleteStep::DeleteProxy("orders-db-proxy".into()),
        ),
        (
            "wait for the proxy to go",
            unprotected(Observed {
                proxy: Some(proxy("deleting")),
                ..all_up()
            }),
            DeleteStep::Wait("RDS Proxy orders-db-proxy is being deleted".into()),
        ),
        (
            "then the instances",
            unprotected(all_up_without_proxy()),
            DeleteStep::DeleteInstances(vec!["orders-db-1".into()]),
        ),
        (
            "wait for the instances to go",
            unprotected(Observed {
                instances: vec![instance("deleting")],
                ..all_up_without_proxy()
            }),
            DeleteStep::Wait(
                "DB instance(s) orders-db-1 of cluster orders-db are being deleted".into(),
            ),
        ),
        (
            "then the cluster, with a final snapshot",
            unprotected(Observed {
                instances: vec![],
                ..all_up_without_proxy()
            }),
            DeleteStep::DeleteCluster {
                id: "orders-db".into(),
                final_snapshot: Some("orders-db-final-0b6a1f3e".into()),
            },
        ),
        (
            "then the subnet group",
            Observed {
                subnet_group: Some(group),
                ..Default::default()
            },
            DeleteStep::DeleteSubnetGroup("orders-db".into()),
        ),
        ("done", Observed::default(), DeleteStep::Done),
    ];
    for (name, o, want) in cases {
        let step = delete_step(&obj, &o, OWNER);
        assert_eq!(step, want, "{name}");
        if step == DeleteStep::Done {
            continue;
        }
        // What the status says while the deletion waits for the step: the
        // resource it deletes or waits for, by name.
        let conditions = crate::controller::shell::deleting("AuroraCluster", &step.waiting_for());
        let named = ["orders-db-proxy", "orders-db-1", "orders-db"];
        for c in &conditions[..2] {
            assert_eq!(c.reason, Reason::Deleting, "{name}");
            assert!(
                named.iter().any(|n| c.message.contains(n)),
                "{name}: {}",
                c.message
            );
        }
        assert_eq!(
            conditions.iter().map(|c| c.status).collect::<Vec<_>>(),
            [false, true, false],
            "{name}: Ready, Progressing, Degraded"
        );
    }

    obj.spec.deletion_policy = AuroraDeletionPolicy::Delete;
    let o = unprotected(Observed {
        instances: vec![],
        ..all_up_without_proxy()
    });
    assert_eq!(
        delete_step(&obj, &o, OWNER),
        DeleteStep::DeleteCluster {
            id: "orders-db".into(),
            final_snapshot: None
        }
    );
    // Someone else's cluster is never deleted.
    let mut foreign = o.clone();
    foreign.cluster.as_mut().unwrap().tags.clear();
    assert_eq!(delete_step(&obj, &foreign, OWNER), DeleteStep::Done);
}

#[test]
fn deletion_never_touches_what_is_not_berths() {
    let mut obj = example();
    obj.spec.deletion_policy = AuroraDeletionPolicy::Delete;
    obj.spec.deletion_protection = false;
    let mut o = all_up();
    o.cluster.as_mut().unwrap().deletion_protection = false;
    // A proxy of berth's name without berth's tags stays; the instances
    // are next.
    o.proxy.as_mut().unwrap().tags = Some(BTreeMap::new());
    assert_eq!(
        delete_step(&obj, &o, OWNER),
        DeleteStep::DeleteInstances(vec!["orders-db-1".into()])
    );
    // An instance without berth's tags stays, and with it the cluster
    // (RDS deletes no cluster that has instances): berth lets go.
    let mut foreign = instance("available");
    foreign.id = "orders-db-manual".into();
    foreign.tags.clear();
    o.instances = vec![instance("available"), foreign.clone()];
    assert_eq!(
        delete_step(&obj, &o, OWNER),
        DeleteStep::DeleteInstances(vec!["orders-db-1".into()])
    );
    o.instances = vec![foreign];
    match delete_step(&obj, &o, OWNER) {
        DeleteStep::Leave(message) => {
            assert!(message.contains("orders-db-manual"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // A subnet group of the cluster's name that berth did not create.
    let group = SubnetGroupView {
        name: "orders-db".into(),
        tags: Some(BTreeMap::new()),
        ..Default::default()
    };
    let gone = Observed {
        subnet_group: Some(group),
        ..Default::default()
    };
    assert_eq!(delete_step(&obj, &gone, OWNER), DeleteStep::Done);
}

#[test]
fn each_deletion_step_says_what_berth_asked_rds_for() {
    let obj = example();
    let cases: Vec<(DeleteStep, (&str, &str, &str))> = vec![
        (
            DeleteStep::LiftDeletionProtection("orders-db".into()),
            (
                "ClusterModified",
                "ModifyDBCluster",
                "lifted deletion protection of cluster orders-db (spec.deletionProtection: false) to delete it",
            ),
        ),
        (
            DeleteStep::DeleteProxy("orders-db-proxy".into()),
            ("ProxyDeleted", "DeleteDBProxy", "deleting RDS Proxy orders-db-proxy"),
        ),
        (
            DeleteStep::DeleteInstances(vec!["orders-db-1".into(), "orders-db-2".into()]),
            (
                "InstancesDeleted",
                "DeleteDBInstance",
                "deleting DB instance(s) orders-db-1, orders-db-2",
            ),
        ),
        (
            DeleteStep::DeleteCluster {
                id: "orders-db".into(),
                final_snapshot: Some("orders-db-final-0b6a1f3e".into()),
            },
            (
                "ClusterDeleted",
                "DeleteDBCluster",
                "deleting cluster orders-db with final snapshot orders-db-final-0b6a1f3e",
            ),
        ),
        (
            DeleteStep::DeleteCluster {
                id: "orders-db".into(),
                final_snapshot: None,
            },
            (
                "ClusterDeleted",
                "DeleteDBCluster",
                "deleting cluster orders-db without a final snapshot (deletionPolicy Delete)",
            ),
        ),
        (
            DeleteStep::DeleteSubnetGroup("orders-db".into()),
            (
                "SubnetGroupDeleted",
                "DeleteDBSubnetGroup",
                "deleted DB subnet group orders-db",
            ),
        ),
    ];
    for (step, (reason, action, note)) in cases {
        assert_eq!(normal(step.event()), (reason, action, note.to_string()));
    }
    for quiet in [
        DeleteStep::Done,
        DeleteStep::Wait("cluster orders-db is being deleted".into()),
        DeleteStep::DeletionProtected,
    ] {
        assert_eq!(quiet.event(), None, "{quiet:?}");
    }
    let left = "cluster orders-db belongs to shop/other-db by its berth.dev/owner tag";
    let e = DeleteStep::Leave(left.into()).event().unwrap();
    assert_eq!(
        (e.type_, e.reason, e.action, e.note.as_str()),
        (EventType::Warning, "LeftInAws", "Delete", left)
    );
    assert_eq!(
        normal(Some(retained(&obj))),
        (
            "Retained",
            "Delete",
            "deletionPolicy Retain: cluster orders-db with its instances, proxy and subnet group stays in AWS".into()
        )
    );
    assert_eq!(
        lift_deletion_protection(),
        ClusterModify {
            deletion_protection: Some(false),
            ..Default::default()
        }
    );
}
