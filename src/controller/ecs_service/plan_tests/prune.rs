//! Which of berth's task definition revisions are deregistered once a
//! rollout is Ready.

use crate::controller::ecs_service::plan::{may_prune, revisions_to_prune};

fn arn(revision: i64) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:task-definition/shop-api:{revision}")
}

fn arns(revisions: &[i64]) -> Vec<String> {
    revisions.iter().map(|r| arn(*r)).collect()
}

struct Case {
    name: &'static str,
    /// berth's ACTIVE revisions, in the order ListTaskDefinitions gives.
    owned: &'static [i64],
    desired: i64,
    previous: Option<i64>,
    /// Revisions a deployment of the service still runs.
    in_use: &'static [i64],
    limit: i32,
    /// Deregistered, in this order.
    pruned: &'static [i64],
}

const CASES: &[Case] = &[
    Case {
        name: "within the limit nothing goes",
        owned: &[3, 2, 1],
        desired: 3,
        previous: Some(2),
        in_use: &[3],
        limit: 5,
        pruned: &[],
    },
    Case {
        name: "beyond the limit, oldest first",
        owned: &[8, 7, 6, 5, 4, 3, 2, 1],
        desired: 8,
        previous: Some(7),
        in_use: &[8],
        limit: 5,
        pruned: &[1, 2, 3],
    },
    Case {
        name: "the listing order does not matter",
        owned: &[1, 5, 3, 8, 2, 7, 4, 6],
        desired: 8,
        previous: Some(7),
        in_use: &[8],
        limit: 5,
        pruned: &[1, 2, 3],
    },
    Case {
        name: "never the revision in use, also when it is old",
        owned: &[6, 5, 4, 3, 2, 1],
        desired: 2,
        previous: None,
        in_use: &[2],
        limit: 1,
        // 6 is the newest other than the desired: the rollback target.
        pruned: &[1, 3, 4, 5],
    },
    Case {
        name: "never the rollback target recorded in status",
        owned: &[6, 5, 4, 3, 2, 1],
        desired: 6,
        previous: Some(2),
        in_use: &[6],
        limit: 1,
        pruned: &[1, 3, 4],
    },
    Case {
        name: "never a revision an unfinished deployment runs",
        owned: &[6, 5, 4, 3, 2, 1],
        desired: 6,
        previous: Some(5),
        in_use: &[6, 3],
        limit: 2,
        pruned: &[1, 2, 4],
    },
    Case {
        name: "a limit below 1 keeps one",
        owned: &[4, 3, 2, 1],
        desired: 4,
        previous: None,
        in_use: &[4],
        limit: 0,
        pruned: &[1, 2],
    },
];

#[test]
fn revisions_beyond_the_limit_go_but_never_the_protected_ones() {
    for c in CASES {
        let pruned = revisions_to_prune(
            &arns(c.owned),
            &arn(c.desired),
            c.previous.map(arn).as_deref(),
            &arns(c.in_use),
            c.limit,
        );
        assert_eq!(pruned, arns(c.pruned), "{}", c.name);
    }
}

#[test]
fn the_family_is_listed_only_past_revision_limit() {
    assert!(!may_prune(&arn(5), 5));
    assert!(may_prune(&arn(6), 5));
    assert!(!may_prune(&arn(1), 0), "a limit below 1 keeps one");
    assert!(may_prune("not-an-arn", 5), "unknown: list to be sure");
}
