//! Table tests of the AuroraCluster plan: every action and reason, from the
//! example cluster and RDS views built the way the describes report them.
//! `Desired::new` checks every message the plan produces.

use std::collections::BTreeMap;

use kube::runtime::events::EventType;

use super::plan::{cluster_modify, delete_step, plan, DeleteStep, Inputs, Observed, RdsAction};
use crate::api::aurora_cluster::{AuroraCluster, AuroraDeletionPolicy};
use crate::api::conditions::{Desired, Reason, DEGRADED, PROGRESSING, READY};
use crate::api::reasons::text_problem;
use crate::aws::rds::{
    ClusterModify, ClusterView, InstanceView, ProxyAuth, ProxyView, SubnetGroupView, TargetView,
};
use crate::aws::tags::{TAG_OWNER, TAG_UID};
use crate::controller::ownership::{Owners, Presence};

pub(super) const OWNER: &str = "shop/orders-db";
pub(super) const UID: &str = "0b6a1f3e-6a4f-4d2b-9c1e-2f6f0a1b2c3d";
pub(super) const SECRET: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-1";

pub(super) fn example() -> AuroraCluster {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/orders-db.yaml"
    ))
    .unwrap();
    let mut obj: AuroraCluster = serde_yaml::from_str(&text).unwrap();
    obj.metadata.namespace = Some("shop".into());
    obj.metadata.uid = Some(UID.into());
    obj.metadata.generation = Some(1);
    obj
}

pub(super) fn owned_tags() -> BTreeMap<String, String> {
    BTreeMap::from([
        (TAG_OWNER.to_string(), OWNER.to_string()),
        (TAG_UID.to_string(), UID.to_string()),
        ("team".to_string(), "orders".to_string()),
    ])
}

/// The example's cluster as DescribeDBClusters reports it.
pub(super) fn cluster(status: &str) -> ClusterView {
    ClusterView {
        id: "orders-db".into(),
        arn: "arn:aws:rds:us-east-1:123456789012:cluster:orders-db".into(),
        status: status.into(),
        endpoint: Some("orders-db.cluster-abc.us-east-1.rds.amazonaws.com".into()),
        reader_endpoint: Some("orders-db.cluster-ro-abc.us-east-1.rds.amazonaws.com".into()),
        port: Some(5432),
        resource_id: Some("cluster-ABC".into()),
        master_user_secret_arn: Some(SECRET.into()),
        engine_version: "16.4".into(),
        serverless_v2: Some((0.5, 8.0)),
        deletion_protection: true,
        backup_retention_days: Some(7),
        iam_auth: true,
        security_group_ids: vec!["sg-0a1b2c3d4e5f60db1".into()],
        pending_modifications: false,
        writer: Some("orders-db-1".into()),
        tags: owned_tags(),
    }
}

pub(super) fn instance(status: &str) -> InstanceView {
    InstanceView {
        id: "orders-db-1".into(),
        arn: "arn:aws:rds:us-east-1:123456789012:db:orders-db-1".into(),
        status: status.into(),
        class: "db.serverless".into(),
        pending_class: None,
        tags: owned_tags(),
    }
}

pub(super) fn proxy(status: &str) -> ProxyView {
    ProxyView {
        name: "orders-db-proxy".into(),
        arn: "arn:aws:rds:us-east-1:123456789012:db-proxy:prx-1".into(),
        status: status.into(),
        endpoint: Some("orders-db-proxy.proxy-abc.us-east-1.rds.amazonaws.com".into()),
        subnet_ids: vec![],
        security_group_ids: vec!["sg-0a1b2c3d4e5f60db1".into()],
        require_tls: true,
        idle_client_timeout: Some(1800),
        role_arn: "arn:aws:iam::123456789012:role/orders-db-proxy".into(),
        auth: vec![ProxyAuth {
            secret_arn: Some(SECRET.into()),
            iam_auth: "REQUIRED".into(),
            client_password_auth_type: Some("POSTGRES_SCRAM_SHA_256".into()),
            ..Default::default()
        }],
        tags: Some(owned_tags()),
    }
}

pub(super) fn target(state: &str) -> TargetView {
    TargetView {
        cluster_id: "orders-db".into(),
        state: state.into(),
        reason: None,
        description: None,
    }
}

/// Everything up and healthy.
pub(super) fn all_up() -> Observed {
    Observed {
        subnet_group: None,
        cluster: Some(cluster("available")),
        instances: vec![instance("available")],
        proxy: Some(proxy("available")),
        target: Some(target("AVAILABLE")),
    }
}

pub(super) fn run(obj: &AuroraCluster, o: &Observed) -> super::plan::Plan {
    run_owned(obj, o, &Owners::default())
}

/// The plan when the AuroraClusters named by the resources' tags are as
/// `owners` says.
pub(super) fn run_owned(obj: &AuroraCluster, o: &Observed, owners: &Owners) -> super::plan::Plan {
    let i = Inputs {
        obj,
        owner: OWNER,
        uid: UID,
        observed: o,
        owners,
        paused: false,
    };
    let p = plan(&i);
    // The status the reconcile writes after it is one the API server
    // accepts.
    let now = k8s_openapi::jiff::Timestamp::UNIX_EPOCH;
    let next = super::plan::status(&i, &Default::default(), &p, false, now);
    crate::api::status_schema::assert_valid::<AuroraCluster>(&next, &format!("{:?}", p.action));
    p
}

pub(super) fn reason_of(conditions: &[Desired], type_: &str) -> (bool, Reason) {
    let c = conditions.iter().find(|c| c.type_ == type_).unwrap();
    (c.status, c.reason)
}

#[test]
fn creates_in_order_and_waits_on_each() {
    let obj = example();
    let group = SubnetGroupView {
        name: "orders-db".into(),
        arn: "arn:aws:rds:us-east-1:123456789012:subgrp:orders-db".into(),
        subnet_ids: obj.spec.subnet_ids.clone(),
        tags: None,
    };
    let with = |f: &dyn Fn(&mut Observed)| {
        let mut o = all_up();
        f(&mut o);
        o
    };
    type Case = (&'static str, Observed, fn(&RdsAction) -> bool, Reason);
    let cases: Vec<Case> = vec![
        (
            "nothing exists: the subnet group first",
            Observed::default(),
            |a| matches!(a, RdsAction::CreateSubnetGroup { name, subnet_ids, .. } if name == "orders-db" && subnet_ids.len() == 2),
            Reason::Creating,
        ),
        (
            "then the cluster",
            Observed {
                subnet_group: Some(group.clone()),
                ..Default::default()
            },
            |a| {
                matches!(a, RdsAction::CreateCluster(c)
                if c.id == "orders-db"
                    && c.engine == "aurora-postgresql"
                    && c.manage_master_user_password
                    && c.iam_auth
                    && c.serverless_v2 == Some((0.5, 8.0))
                    && c.subnet_group.as_deref() == Some("orders-db")
                    && c.tags.get(TAG_OWNER).map(String::as_str) == Some(OWNER)
                    && c.tags.get(TAG_UID).map(String::as_str) == Some(UID)
                    && c.tags.get("team").map(String::as_str) == Some("orders"))
            },
            Reason::Creating,
        ),
        (
            "a creating cluster is waited on",
            with(&|o| {
                o.cluster = Some(cluster("creating"));
                o.instances.clear();
                o.proxy = None;
                o.target = None;
            }),
            |a| *a == RdsAction::Nothing,
            Reason::Creating,
        ),
        (
            "then the instances",
            with(&|o| {
                o.instances.clear();
                o.proxy = None;
                o.target = None;
            }),
            |a| matches!(a, RdsAction::CreateInstance { id, class, .. } if id == "orders-db-1" && class == "db.serverless"),
            Reason::Creating,
        ),
        (
            "a creating instance is waited on",
            with(&|o| {
                o.instances = vec![instance("creating")];
                o.proxy = None;
                o.target = None;
            }),
            |a| *a == RdsAction::Nothing,
            Reason::Creating,
        ),
        (
            "then the proxy, authenticating with the managed secret",
            with(&|o| {
                o.proxy = None;
                o.target = None;
            }),
            |a| {
                matches!(a, RdsAction::CreateProxy(p)
                if p.name == "orders-db-proxy"
                    && p.engine_family == "POSTGRESQL"
                    && p.require_tls
                    && p.iam_auth_required
                    && p.idle_client_timeout == 1800
                    && p.secret_arn == SECRET
                    && p.subnet_ids.len() == 2
                    && p.security_group_ids == ["sg-0a1b2c3d4e5f60db1"])
            },
            Reason::Creating,
        ),
        (
            "a creating proxy is waited on",
            with(&|o| {
                o.proxy = Some(proxy("creating"));
                o.target = None;
            }),
            |a| *a == RdsAction::Nothing,
            Reason::Creating,
        ),
        (
            "then the cluster is registered as its target",
            with(&|o| o.target = None),
            |a| matches!(a, RdsAction::RegisterTarget { proxy, cluster } if proxy == "orders-db-proxy" && cluster == "orders-db"),
            Reason::Creating,
        ),
        (
            "a registering target is waited on",
            with(&|o| o.target = Some(target("REGISTERING"))),
            |a| *a == RdsAction::Nothing,
            Reason::Creating,
        ),
    ];
    for (name, observed, action, reason) in cases {
        let p = run(&obj, &observed);
        assert!(action(&p.action), "{name}: {:?}", p.action);
        assert_eq!(reason_of(&p.conditions, READY), (false, reason), "{name}");
        assert_eq!(
            reason_of(&p.conditions, PROGRESSING),
            (true, reason),
            "{name}"
        );
        assert!(p.busy, "{name}");
        assert_eq!(p.then(), crate::controller::shell::Then::Poll, "{name}");
    }
}

#[test]
fn ready_when_cluster_instances_and_proxy_target_are_available() {
    let p = run(&example(), &all_up());
    assert_eq!(p.action, RdsAction::Nothing);
    assert_eq!(reason_of(&p.conditions, READY), (true, Reason::Available));
    assert_eq!(
        reason_of(&p.conditions, PROGRESSING),
        (false, Reason::Available)
    );
    assert_eq!(
        reason_of(&p.conditions, DEGRADED),
        (false, Reason::AsExpected)
    );
    assert!(!p.busy);
    assert_eq!(p.then(), crate::controller::shell::Then::Resync);

    // Without a proxy, no proxy is needed.
    let mut obj = example();
    obj.spec.proxy.as_mut().unwrap().enabled = false;
    let mut o = all_up();
    o.proxy = None;
    o.target = None;
    assert_eq!(
        reason_of(&run(&obj, &o).conditions, READY),
        (true, Reason::Available)
    );
}

#[test]
fn a_changed_capacity_is_one_modify_only_while_available() {
    let mut obj = example();
    obj.spec.serverless_v2.as_mut().unwrap().max_capacity = 16.0;
    let p = run(&obj, &all_up());
    assert_eq!(
        p.action,
        RdsAction::ModifyCluster(ClusterModify {
            serverless_v2: Some((0.5, 16.0)),
            ..Default::default()
        })
    );
    assert_eq!(
        reason_of(&p.conditions, PROGRESSING),
        (true, Reason::Modifying)
    );

    // Busy: wait, never stack a second change.
    for status in ["modifying", "upgrading"] {
        let mut o = all_up();
        o.cluster = Some(cluster(status));
        let p = run(&obj, &o);
        assert_eq!(p.action, RdsAction::Nothing, "{status}");
        assert_eq!(reason_of(&p.conditions, READY), (false, Reason::Modifying));
    }
    let mut o = all_up();
    o.cluster.as_mut().unwrap().pending_modifications = true;
    assert_eq!(run(&obj, &o).action, RdsAction::Nothing);
}

#[test]
fn an_engine_minor_upgrade_by_aws_is_not_drift() {
    let obj = example();
    let mut c = cluster("available");
    c.engine_version = "16.6".into();
    assert!(cluster_modify(&obj, &c).is_empty());
    let mut o = all_up();
    o.cluster = Some(c);
    assert_eq!(run(&obj, &o).action, RdsAction::Nothing);
}

#[test]
fn a_newer_engine_version_in_the_spec_is_one_upgrade() {
    // (spec, RDS reports, expected ModifyDBCluster: version, major?)
    type Case = (&'static str, &'static str, Option<(&'static str, bool)>);
    let cases: &[Case] = &[
        ("16.6", "16.4", Some(("16.6", false))),
        ("17.2", "16.4", Some(("17.2", true))),
        ("16", "16.4", None),
        ("16.4", "16.4", None),
        // AWS upgraded the minor version itself: kept, never reverted.
        ("16.4", "16.8", None),
        // Older than RDS across majors: RDS cannot downgrade; left alone.
        ("15.8", "16.4", None),
        ("8.0", "8.0.mysql_aurora.3.08.0", None),
    ];
    for (spec, have, want) in cases {
        let mut obj = example();
        obj.spec.engine_version = Some(spec.to_string());
        let mut c = cluster("available");
        c.engine_version = have.to_string();
        let m = cluster_modify(&obj, &c);
        let got = m
            .engine_version
            .as_deref()
            .map(|v| (v, m.allow_major_version_upgrade));
        assert_eq!(got, *want, "spec {spec}, RDS {have}");
    }
    let mut obj = example();
    obj.spec.engine_version = Some("17.2".into());
    let p = run(&obj, &all_up());
    assert_eq!(
        p.action,
        RdsAction::ModifyCluster(ClusterModify {
            engine_version: Some("17.2".into()),
            allow_major_version_upgrade: true,
            ..Default::default()
        })
    );
    // Upgrading: waited on, not asked for again.
    let mut o = all_up();
    o.cluster.as_mut().unwrap().status = "upgrading".into();
    assert_eq!(run(&obj, &o).action, RdsAction::Nothing);
}

#[test]
fn drifted_settings_are_set_back_in_one_modify() {
    let obj = example();
    let mut c = cluster("available");
    c.backup_retention_days = Some(1);
    c.iam_auth = false;
    c.security_group_ids = vec!["sg-0000000000000000a".into()];
    let m = cluster_modify(&obj, &c);
    assert_eq!(m.backup_retention_days, Some(7));
    assert_eq!(m.iam_auth, Some(true));
    assert_eq!(
        m.security_group_ids,
        Some(vec!["sg-0a1b2c3d4e5f60db1".to_string()])
    );
    assert_eq!(m.serverless_v2, None);
    assert!(m.describe().contains("backup retention 7 days"));
}

#[test]
fn a_changed_tag_is_set_on_the_cluster() {
    let mut obj = example();
    obj.spec.tags.insert("cost-center".into(), "42".into());
    let p = run(&obj, &all_up());
    assert_eq!(
        p.action,
        RdsAction::TagCluster {
            arn: cluster("available").arn,
            tags: BTreeMap::from([("cost-center".into(), "42".into())]),
        }
    );
    assert_eq!(
        reason_of(&p.conditions, PROGRESSING),
        (true, Reason::Modifying)
    );
}

#[test]
fn a_foreign_cluster_needs_adopt() {
    let mut o = all_up();
    o.cluster.as_mut().unwrap().tags = BTreeMap::from([("team".into(), "dba".into())]);
    let p = run(&example(), &o);
    assert_eq!(p.action, RdsAction::Nothing);
    assert_eq!(
        reason_of(&p.conditions, DEGRADED),
        (true, Reason::AdoptionRequired)
    );

    let mut obj = example();
    obj.spec.adopt = true;
    let p = run(&obj, &o);
    assert!(
        matches!(&p.action, RdsAction::AdoptCluster { tags, .. }
            if tags.get(TAG_OWNER).map(String::as_str) == Some(OWNER)),
        "{:?}",
        p.action
    );
}

pub(super) fn all_up_without_proxy() -> Observed {
    let mut o = all_up();
    o.proxy = None;
    o.target = None;
    o
}

/// The cluster, an instance or the proxy tagged for another AuroraCluster
/// (`team-b/orders-db`): never changed while that object exists, even with
/// adopt or when berth cannot see its namespace; adoptable once it is gone;
/// and deleting this object leaves another's cluster.
#[test]
fn another_objects_resources_are_never_taken() {
    const OTHER: &str = "team-b/orders-db";
    let other = BTreeMap::from([
        (TAG_OWNER.to_string(), OTHER.to_string()),
        (TAG_UID.to_string(), "uid-b".to_string()),
    ]);
    let owners = |p: Presence| Owners::new([(OTHER.to_string(), p)]);
    let on_cluster = |o: &mut Observed| o.cluster.as_mut().unwrap().tags = other.clone();
    let on_instance = |o: &mut Observed| o.instances[0].tags = other.clone();
    let on_proxy = |o: &mut Observed| o.proxy.as_mut().unwrap().tags = Some(other.clone());
    type Tagging<'a> = &'a dyn Fn(&mut Observed);
    // (case, which resource is tagged, adopt, its owner's presence, the
    // reason (None: adopted), what the message or action says)
    type Case<'a> = (
        &'a str,
        Tagging<'a>,
        bool,
        Presence,
        Option<Reason>,
        &'a str,
    );
    let cases: &[Case] = &[
        (
            "cluster",
            &on_cluster,
            false,
            Presence::Exists,
            Some(Reason::Conflict),
            "RDS cluster orders-db",
        ),
        (
            "cluster, adopt",
            &on_cluster,
            true,
            Presence::Exists,
            Some(Reason::Conflict),
            "RDS cluster orders-db",
        ),
        (
            "cluster, unseen",
            &on_cluster,
            true,
            Presence::Unseen,
            Some(Reason::Conflict),
            "does not watch",
        ),
        (
            "cluster, gone",
            &on_cluster,
            false,
            Presence::Gone,
            Some(Reason::AdoptionRequired),
            "no longer exists",
        ),
        (
            "cluster, gone, adopt",
            &on_cluster,
            true,
            Presence::Gone,
            None,
            "AdoptCluster",
        ),
        (
            "instance",
            &on_instance,
            true,
            Presence::Exists,
            Some(Reason::Conflict),
            "DB instance orders-db-1",
        ),
        (
            "instance, gone, adopt",
            &on_instance,
            true,
            Presence::Gone,
            None,
            "AdoptInstance",
        ),
        (
            "proxy",
            &on_proxy,
            true,
            Presence::Exists,
            Some(Reason::Conflict),
            "RDS Proxy orders-db-proxy",
        ),
        (
            "proxy, gone, adopt",
            &on_proxy,
            true,
            Presence::Gone,
            None,
            "AdoptProxy",
        ),
    ];
    for (case, tagging, adopt, presence, want, says) in cases {
        let mut obj = example();
        obj.spec.adopt = *adopt;
        let mut o = all_up();
        tagging(&mut o);
        let p = run_owned(&obj, &o, &owners(*presence));
        match want {
            Some(reason) => {
                assert_eq!(p.action, RdsAction::Nothing, "{case}");
                assert_eq!(
                    reason_of(&p.conditions, DEGRADED),
                    (true, *reason),
                    "{case}"
                );
                let message = &p.conditions[0].message;
                assert!(message.contains(says), "{case}: {message}");
                if *reason == Reason::Conflict {
                    assert!(
                        message.contains("belongs to AuroraCluster team-b/orders-db"),
                        "{case}: {message}"
                    );
                }
            }
            None => {
                let action = format!("{:?}", p.action);
                assert!(action.starts_with(says), "{case}: {action}");
                assert!(action.contains(OWNER), "{case}: berth's tags: {action}");
            }
        }
    }

    // Deleting this object never deletes the other's cluster.
    let mut obj = example();
    obj.spec.deletion_policy = AuroraDeletionPolicy::Delete;
    obj.spec.deletion_protection = false;
    let mut o = all_up_without_proxy();
    on_cluster(&mut o);
    o.cluster.as_mut().unwrap().deletion_protection = false;
    match delete_step(&obj, &o, OWNER) {
        DeleteStep::Leave(message) => assert!(message.contains(OTHER), "{message}"),
        other => panic!("{other:?}"),
    }
}

/// `(reason, AWS action, note)` of a Normal Event.
pub(super) fn normal(e: Option<super::plan::Event>) -> (&'static str, &'static str, String) {
    let e = e.expect("an Event");
    assert_eq!(e.type_, EventType::Normal, "{}", e.note);
    assert_eq!(text_problem(e.reason, &e.note), None, "{}", e.note);
    (e.reason, e.action, e.note)
}

#[test]
fn each_step_says_what_rds_did() {
    let obj = example();
    let group = SubnetGroupView {
        name: "orders-db".into(),
        ..Default::default()
    };
    let mut capacity = example();
    capacity.spec.serverless_v2.as_mut().unwrap().max_capacity = 16.0;
    let mut tagged = example();
    tagged.spec.tags.insert("cost-center".into(), "42".into());
    let cases: Vec<(&AuroraCluster, Observed, (&str, &str, &str))> = vec![
        (
            &obj,
            Observed::default(),
            (
                "SubnetGroupCreated",
                "CreateDBSubnetGroup",
                "created DB subnet group orders-db (subnet-0a1b2c3d4e5f60001, subnet-0a1b2c3d4e5f60002)",
            ),
        ),
        (
            &obj,
            Observed {
                subnet_group: Some(group),
                ..Default::default()
            },
            (
                "ClusterCreated",
                "CreateDBCluster",
                "created Aurora cluster orders-db (aurora-postgresql 16.4)",
            ),
        ),
        (
            &capacity,
            all_up(),
            (
                "ClusterModified",
                "ModifyDBCluster",
                "modified cluster orders-db: serverless v2 capacity 0.5-16 ACUs",
            ),
        ),
        (
            &tagged,
            all_up(),
            (
                "TagsUpdated",
                "AddTagsToResource",
                "set tags of cluster orders-db: cost-center",
            ),
        ),
        (
            &obj,
            Observed {
                instances: vec![],
                ..all_up_without_proxy()
            },
            (
                "InstanceCreated",
                "CreateDBInstance",
                "created DB instance orders-db-1 (db.serverless) in cluster orders-db",
            ),
        ),
        (
            &obj,
            all_up_without_proxy(),
            (
                "ProxyCreated",
                "CreateDBProxy",
                "created RDS Proxy orders-db-proxy",
            ),
        ),
        (
            &obj,
            Observed {
                target: None,
                ..all_up()
            },
            (
                "ProxyTargetRegistered",
                "RegisterDBProxyTargets",
                "registered cluster orders-db with RDS Proxy orders-db-proxy",
            ),
        ),
    ];
    for (obj, o, (reason, action, note)) in cases {
        let said = normal(run(obj, &o).action.event(obj));
        assert_eq!(said, (reason, action, note.to_string()), "{note}");
    }
    assert_eq!(run(&obj, &all_up()).action.event(&obj), None);
}

#[test]
fn adopting_says_so_and_a_foreign_name_is_terminal() {
    let mut obj = example();
    obj.spec.adopt = true;
    let mut o = all_up_without_proxy();
    o.cluster.as_mut().unwrap().tags.clear();
    assert_eq!(
        normal(run(&obj, &o).action.event(&obj)),
        (
            "Adopted",
            "AddTagsToResource",
            "adopted the existing cluster orders-db (spec.adopt: true)".into()
        )
    );
    let create = run(&obj, &Observed::default()).action;
    let failure = create.name_taken(&obj);
    assert_eq!(failure.kind, crate::aws::FailureKind::Terminal);
    assert_eq!(failure.code.as_deref(), Some("AlreadyExists"));
    assert_eq!(
        failure.message,
        "CreateDBSubnetGroup: a resource with berth's name for orders-db exists and is not managed by berth"
    );
}

/// Paused: no RDS change, and the shell says `Paused` on all three
/// conditions; Ready keeps what RDS shows (an available cluster stays
/// Ready, one not created yet is not).
#[test]
fn paused_changes_nothing_and_says_paused() {
    use crate::controller::shell::{paused, Outcome, Then};
    let obj = example();
    for (name, o, ready) in [
        ("nothing created yet", Observed::default(), false),
        ("everything available", all_up(), true),
    ] {
        let p = plan(&Inputs {
            obj: &obj,
            owner: OWNER,
            uid: UID,
            observed: &o,
            owners: &Owners::default(),
            paused: true,
        });
        assert_eq!(p.action, RdsAction::Nothing, "{name}");
        let outcome = Outcome::Conditions(p.conditions.clone(), Then::Resync);
        let prev = crate::api::AuroraClusterStatus::default();
        let t = k8s_openapi::jiff::Timestamp::UNIX_EPOCH;
        let Outcome::Conditions(shown, _) = paused("AuroraCluster", &prev, outcome, Some(1), t)
        else {
            panic!("{name}: paused conditions");
        };
        let got: Vec<(bool, Reason)> = shown.iter().map(|c| (c.status, c.reason)).collect();
        let want = vec![
            (ready, Reason::Paused),
            (false, Reason::Paused),
            (false, Reason::Paused),
        ];
        assert_eq!(got, want, "{name}");
    }
}

/// While paused the stored conditions are the shell's, not the plan's: an
/// unchanged cluster does not rewrite the connection Secret on every look.
#[test]
fn paused_does_not_rewrite_the_connection_secret_every_look() {
    use crate::controller::shell::{paused, Outcome, Then};
    let (obj, o, owners) = (example(), all_up(), Owners::default());
    let inputs = |paused| Inputs {
        obj: &obj,
        owner: OWNER,
        uid: UID,
        observed: &o,
        owners: &owners,
        paused,
    };
    let (held, running) = (inputs(true), inputs(false));
    let t = k8s_openapi::jiff::Timestamp::UNIX_EPOCH;
    let prev = crate::api::AuroraClusterStatus::default();
    let next = super::plan::status(&held, &prev, &plan(&held), false, t);
    let outcome = Outcome::status(next.clone(), Then::Resync);
    let Outcome::Status(stored, _) =
        paused("AuroraCluster", &prev, outcome, obj.metadata.generation, t)
    else {
        panic!("a status");
    };
    assert!(!super::plan::writes_secret(&held, &stored, &next));
    assert!(super::plan::writes_secret(&running, &stored, &next));
}
