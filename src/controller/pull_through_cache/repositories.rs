//! Which repositories under the prefix the cache created, and the durable
//! record of it.
//!
//! ECR does not say who created a repository (DescribeRepositories reports
//! no creator; CloudTrail keeps CreateRepository events for 90 days, in
//! another service). berth infers it: a repository created since the first
//! rule berth knows for the prefix (`status.firstRuleCreatedAt`) is the
//! cache's. That time lives in the object's status and is lost with it: a
//! PullThroughCache deleted and created again starts from the rule it finds,
//! newer than what the earlier rule's cache created. So berth records its
//! inference where it outlives the object: a tag on each such repository,
//! `berth.dev/pull-through-cache: <prefix>`. A repository older than the
//! first rule berth knows counts as the cache's only when that tag names
//! exactly the object's prefix: a record made for another prefix (another
//! tenant's cache) never makes a repository this cache's.
//! The tags are read (ListTagsForResource) only for those older
//! repositories, and written (TagResource) once per repository: each
//! reconcile tags the repositories created after the newest one already
//! tagged (`status.repositoriesRecordedUntil`).

use k8s_openapi::jiff::Timestamp;

use super::plan::timestamp;
use crate::aws::ecr::RepositoryView;

/// Whether the creation time alone makes `r` the cache's: created at or
/// after the first rule berth knows for the prefix.
pub fn created_since_rule(r: &RepositoryView, first_rule: Option<f64>) -> bool {
    matches!((r.created_at, first_rule), (Some(c), Some(t)) if c >= t)
}

/// The repositories whose record tag decides: older than the first rule
/// berth knows.
pub fn to_read(repos: &[RepositoryView], first_rule: Option<f64>) -> Vec<&RepositoryView> {
    repos
        .iter()
        .filter(|r| !created_since_rule(r, first_rule))
        .collect()
}

/// The repositories under `prefix` the cache did not create: older than the
/// first rule berth knows and not recorded for exactly `prefix`.
pub fn unmanaged(prefix: &str, repos: &[RepositoryView], first_rule: Option<f64>) -> Vec<String> {
    repos
        .iter()
        .filter(|r| !created_since_rule(r, first_rule))
        .filter(|r| r.recorded_for.as_deref() != Some(prefix))
        .map(|r| r.name.clone())
        .collect()
}

/// The cache's repositories (by creation time) not tagged yet: created
/// after `recorded_until` (`status.repositoriesRecordedUntil`).
pub fn to_record<'a>(
    repos: &'a [RepositoryView],
    first_rule: Option<f64>,
    recorded_until: Option<&str>,
) -> Vec<&'a RepositoryView> {
    let until = recorded_until
        .and_then(|t| t.parse::<Timestamp>().ok())
        .map(|t| t.as_duration().as_secs_f64());
    repos
        .iter()
        .filter(|r| created_since_rule(r, first_rule))
        // A millisecond of slack: the time went through RFC 3339 and back.
        .filter(|r| match (r.created_at, until) {
            (Some(c), Some(u)) => c > u + 0.001,
            _ => true,
        })
        .collect()
}

/// `status.repositoriesRecordedUntil` once `recorded` are tagged: the
/// newest creation time among them and the earlier value.
pub fn recorded_until(prev: Option<&str>, recorded: &[&RepositoryView]) -> Option<String> {
    let newest = recorded
        .iter()
        .filter_map(|r| r.created_at)
        .fold(None, |m: Option<f64>, c| Some(m.map_or(c, |m| m.max(c))));
    let prev_secs = prev
        .and_then(|t| t.parse::<Timestamp>().ok())
        .map(|t| t.as_duration().as_secs_f64());
    match (prev_secs, newest) {
        (Some(p), Some(n)) if n > p => timestamp(n),
        (None, Some(n)) => timestamp(n),
        _ => prev.map(str::to_string),
    }
}

/// The Event note of a tagging.
pub fn recorded_note(prefix: &str, recorded: &[&RepositoryView]) -> String {
    let names: Vec<&str> = recorded.iter().map(|r| r.name.as_str()).collect();
    format!(
        "recorded {} repositories the cache for prefix {prefix} created with tag {}: {}",
        names.len(),
        crate::aws::tags::TAG_PULL_THROUGH_CACHE,
        names.join(", ")
    )
}
