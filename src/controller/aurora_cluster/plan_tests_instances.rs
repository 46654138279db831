//! Table tests of the instance steps: adoption, scale up and down (newest
//! first, never the writer while readers remain, one at a time) and class
//! changes (one ModifyDBInstance per instance, only while available).

use std::collections::BTreeMap;

use super::plan::{instance_number, RdsAction};
use super::plan_tests::{all_up, example, instance, normal, reason_of, run, OWNER};
use crate::api::conditions::{Reason, DEGRADED, PROGRESSING, READY};
use crate::aws::rds::InstanceView;
use crate::aws::tags::TAG_OWNER;

fn numbered(n: i32, status: &str) -> InstanceView {
    let mut i = instance(status);
    i.id = format!("orders-db-{n}");
    i.arn = format!("arn:aws:rds:us-east-1:123456789012:db:orders-db-{n}");
    i
}

#[test]
fn instance_numbers_are_berths_suffixes_only() {
    let obj = example();
    assert_eq!(instance_number(&obj, "orders-db-3"), Some(3));
    assert_eq!(instance_number(&obj, "orders-db-12"), Some(12));
    for other in ["orders-db-proxy", "orders-db", "orders-db-0", "legacy-1"] {
        assert_eq!(instance_number(&obj, other), None, "{other}");
    }
}

#[test]
fn scale_up_creates_the_lowest_free_number() {
    let mut obj = example();
    obj.spec.instances.count = 3;
    let mut o = all_up();
    o.instances = vec![numbered(1, "available"), numbered(3, "available")];
    let p = run(&obj, &o);
    assert!(
        matches!(&p.action, RdsAction::CreateInstance { id, class, tags }
            if id == "orders-db-2" && class == "db.serverless"
                && tags.get(TAG_OWNER).map(String::as_str) == Some(OWNER)),
        "{:?}",
        p.action
    );
    // The free number is held by an instance still being deleted: wait.
    obj.spec.instances.count = 2;
    o.instances = vec![numbered(1, "available"), numbered(2, "deleting")];
    let p = run(&obj, &o);
    assert_eq!(p.action, RdsAction::Nothing);
    assert!(p.busy);
}

#[test]
fn scale_down_removes_the_newest_one_at_a_time_never_the_writer() {
    let mut obj = example();
    obj.spec.instances.count = 1;
    let three = vec![
        numbered(1, "available"),
        numbered(2, "available"),
        numbered(3, "available"),
    ];
    type Case = (
        &'static str,
        Vec<InstanceView>,
        Option<&'static str>,
        RdsAction,
    );
    let delete = |id: &str| RdsAction::DeleteInstance { id: id.into() };
    let cases: Vec<Case> = vec![
        (
            "the highest number first",
            three.clone(),
            Some("orders-db-1"),
            delete("orders-db-3"),
        ),
        (
            "the writer is skipped while readers remain",
            three.clone(),
            Some("orders-db-3"),
            delete("orders-db-2"),
        ),
        (
            "the writer is kept even as the highest number",
            vec![numbered(1, "available"), numbered(2, "available")],
            Some("orders-db-2"),
            delete("orders-db-1"),
        ),
        (
            "one deletion at a time: wait for it to be gone",
            vec![
                numbered(1, "available"),
                numbered(2, "available"),
                numbered(3, "deleting"),
            ],
            Some("orders-db-1"),
            RdsAction::Nothing,
        ),
        (
            "an instance RDS is changing is removed once it is done",
            vec![numbered(1, "available"), numbered(2, "modifying")],
            Some("orders-db-1"),
            RdsAction::Nothing,
        ),
        (
            "no writer reported (failover): wait",
            three.clone(),
            None,
            RdsAction::Nothing,
        ),
    ];
    for (name, instances, writer, want) in cases {
        let mut o = all_up();
        o.instances = instances;
        o.cluster.as_mut().unwrap().writer = writer.map(str::to_string);
        let p = run(&obj, &o);
        assert_eq!(p.action, want, "{name}");
        assert_eq!(
            reason_of(&p.conditions, PROGRESSING),
            (true, Reason::Modifying),
            "{name}"
        );
        assert!(p.busy, "{name}");
    }

    // Down to zero: the writer goes last, as the only instance.
    obj.spec.instances.count = 0;
    let mut o = all_up();
    o.instances = vec![numbered(1, "available")];
    assert_eq!(run(&obj, &o).action, delete("orders-db-1"));
    // Adopted instances of other names predate berth's: berth's numbered
    // ones go first.
    obj.spec.instances.count = 2;
    let mut legacy = numbered(1, "available");
    legacy.id = "legacy-reader".into();
    let mut o = all_up();
    o.instances = vec![numbered(1, "available"), legacy, numbered(2, "available")];
    o.cluster.as_mut().unwrap().writer = Some("orders-db-2".into());
    assert_eq!(run(&obj, &o).action, delete("orders-db-1"));
}

#[test]
fn a_new_class_is_one_modify_per_instance_readers_first() {
    let mut obj = example();
    obj.spec.instances.count = 2;
    obj.spec.instances.class = "db.r6g.large".into();
    let mut o = all_up();
    o.instances = vec![numbered(1, "available"), numbered(2, "available")];
    let modify = |id: &str| RdsAction::ModifyInstance {
        id: id.into(),
        class: "db.r6g.large".into(),
    };
    let p = run(&obj, &o);
    assert_eq!(p.action, modify("orders-db-2"), "the reader first");
    assert_eq!(
        reason_of(&p.conditions, PROGRESSING),
        (true, Reason::Modifying)
    );
    // RDS is applying it: nothing stacked on it, and nothing else changed.
    o.instances[1].status = "modifying".into();
    let p = run(&obj, &o);
    assert_eq!(p.action, RdsAction::Nothing);
    assert_eq!(reason_of(&p.conditions, READY), (false, Reason::Modifying));
    // Accepted, not yet applied: not asked for again.
    o.instances[1].status = "available".into();
    o.instances[1].pending_class = Some("db.r6g.large".into());
    assert_eq!(run(&obj, &o).action, modify("orders-db-1"));
    o.instances[1].class = "db.r6g.large".into();
    o.instances[1].pending_class = None;
    assert_eq!(
        run(&obj, &o).action,
        modify("orders-db-1"),
        "then the writer"
    );
    o.instances[0].class = "db.r6g.large".into();
    let p = run(&obj, &o);
    assert_eq!(p.action, RdsAction::Nothing);
    assert_eq!(reason_of(&p.conditions, READY), (true, Reason::Available));
}

#[test]
fn instances_of_an_adopted_cluster_are_adopted_and_counted() {
    let mut obj = example();
    let mut legacy = numbered(1, "available");
    legacy.id = "legacy-writer".into();
    legacy.arn = "arn:aws:rds:us-east-1:123456789012:db:legacy-writer".into();
    legacy.tags = BTreeMap::from([("team".into(), "dba".into())]);
    let mut o = all_up();
    o.instances = vec![legacy.clone()];
    o.cluster.as_mut().unwrap().writer = Some("legacy-writer".into());

    let p = run(&obj, &o);
    assert_eq!(p.action, RdsAction::Nothing);
    let (degraded, reason) = reason_of(&p.conditions, DEGRADED);
    assert_eq!((degraded, reason), (true, Reason::AdoptionRequired));

    obj.spec.adopt = true;
    let p = run(&obj, &o);
    assert!(
        matches!(&p.action, RdsAction::AdoptInstance { id, arn, tags }
            if id == "legacy-writer" && *arn == legacy.arn
                && tags.get(TAG_OWNER).map(String::as_str) == Some(OWNER)),
        "{:?}",
        p.action
    );
    // Tagged, it counts toward spec.instances.count (1): none created.
    o.instances[0].tags = super::plan_tests::owned_tags();
    let p = run(&obj, &o);
    assert_eq!(p.action, RdsAction::Nothing);
    assert_eq!(reason_of(&p.conditions, READY), (true, Reason::Available));
}

#[test]
fn instance_steps_say_what_rds_did() {
    let mut obj = example();
    obj.spec.instances.count = 1;
    let mut o = all_up();
    o.instances = vec![
        numbered(1, "available"),
        numbered(2, "available"),
        numbered(3, "available"),
    ];
    assert_eq!(
        normal(run(&obj, &o).action.event(&obj)),
        (
            "InstanceDeleted",
            "DeleteDBInstance",
            "deleting DB instance orders-db-3 (spec.instances.count 1)".into()
        )
    );
    obj.spec.instances.class = "db.r6g.large".into();
    o.instances.truncate(1);
    assert_eq!(
        normal(run(&obj, &o).action.event(&obj)),
        (
            "InstanceModified",
            "ModifyDBInstance",
            "changing the class of DB instance orders-db-1 to db.r6g.large".into()
        )
    );
    obj.spec.adopt = true;
    o.instances[0].id = "legacy-writer".into();
    o.instances[0].tags.clear();
    assert_eq!(
        normal(run(&obj, &o).action.event(&obj)),
        (
            "Adopted",
            "AddTagsToResource",
            "adopted DB instance legacy-writer of cluster orders-db (spec.adopt: true)".into()
        )
    );
}
