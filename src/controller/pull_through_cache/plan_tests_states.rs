//! The PullThroughCache's rows of the state table
//! (`controller::state_table`), each from the plan.

use super::plan::{diagnose, held, status, Diagnosis, Report};
use super::plan_tests::example;
use crate::api::common::DeletionPolicy;
use crate::api::pull_through_cache::{PullThroughCache, PullThroughCacheStatus};
use crate::aws::ecr::{RuleView, Verdict};
use crate::controller::shell::Kind;
use crate::controller::state_table::{Row, State};

/// The status the reconcile writes for what ECR said (checked against the
/// CRD schema), as a row.
fn reported(
    state: State,
    when: &'static str,
    obj: &PullThroughCache,
    rule: &RuleView,
    verdict: &Verdict,
    diagnosis: &Diagnosis,
) -> Row {
    let next = status(&Report {
        obj,
        prev: &PullThroughCacheStatus::default(),
        rule: Some(rule),
        first_rule: rule.created_at,
        verdict,
        diagnosis,
        recorded_until: None,
        now: k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
    });
    crate::api::status_schema::assert_valid::<PullThroughCache>(&next, when);
    Row::new(state, when, Row::desired(&next.conditions))
}

pub(crate) fn rows() -> Vec<Row> {
    let obj = example(true);
    let prefix = obj.spec.ecr_repository_prefix.as_str();
    let rule = RuleView {
        prefix: prefix.into(),
        upstream_url: "registry-1.docker.io".into(),
        created_at: Some(1_800_000_000.0),
        ..Default::default()
    };
    let alone = diagnose(prefix, std::slice::from_ref(&rule), &[], Vec::new());
    let valid = Verdict {
        valid: true,
        failure: None,
    };
    let invalid = Verdict {
        valid: false,
        failure: Some("Unable to retrieve the secret from Secrets Manager".into()),
    };
    let mut kept = obj.clone();
    kept.spec.deletion_policy = DeletionPolicy::Retain;
    assert!(kept.retained().is_some());
    vec![
        Row::never(
            State::Creating,
            "the rule is created and validated in one reconcile: the first status says whether it works",
        ),
        reported(
            State::Ready,
            "the rule exists and ECR finds it valid",
            &obj,
            &rule,
            &valid,
            &alone,
        ),
        Row::never(State::RollingOut, "ECR updates a rule in place at once"),
        Row::never(State::Waiting, "a rule waits for nothing"),
        Row::never(
            State::Retrying,
            "ECR calls that fail for a while are retried with backoff; the conditions keep their state",
        ),
        reported(
            State::NeedsHuman,
            "ValidatePullThroughCacheRule finds the rule not valid",
            &obj,
            &rule,
            &invalid,
            &alone,
        ),
        Row::paused_from::<PullThroughCacheStatus>(
            "berth.dev/paused is \"true\" on a ready rule",
            "PullThroughCache",
            held(prefix, true),
        ),
        Row::never(
            State::Deleting,
            "deleting the rule is one call; the object goes at once",
        ),
        Row::gone(
            State::Retained,
            "deleted with `deletionPolicy: Retain`: the rule stays",
        ),
    ]
}
