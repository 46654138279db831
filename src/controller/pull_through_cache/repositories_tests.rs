//! Which repositories are the cache's: by creation time, or by berth's
//! record tag once the object that knew the time is gone; and which get
//! tagged.

use super::repositories::{recorded_until, to_read, to_record, unmanaged};
use crate::aws::ecr::RepositoryView;

const RULE: f64 = 1_800_000_000.0;

fn repo(name: &str, created: f64, recorded_for: Option<&str>) -> RepositoryView {
    RepositoryView {
        name: name.into(),
        arn: format!("arn:aws:ecr:us-east-1:123456789012:repository/{name}"),
        created_at: Some(created),
        recorded_for: recorded_for.map(str::to_string),
    }
}

fn names(repos: &[&RepositoryView]) -> Vec<String> {
    repos.iter().map(|r| r.name.clone()).collect()
}

#[test]
fn a_repository_is_the_caches_by_time_or_by_a_record_for_exactly_the_prefix() {
    let repos = [
        repo("docker-hub/library/nginx", RULE + 10.0, None),
        // Created by an earlier rule's cache, recorded then: the object
        // was deleted and created again, so its first rule is newer.
        repo("docker-hub/library/redis", RULE - 100.0, Some("docker-hub")),
        // Made by hand before the rule.
        repo("docker-hub/team/web", RULE - 50.0, None),
        // Recorded for another prefix (another tenant's cache): not this
        // cache's, whatever its name.
        repo("docker-hub/team/api", RULE - 50.0, Some("docker-hub/team")),
    ];
    assert_eq!(
        names(&to_read(&repos, Some(RULE))),
        [
            "docker-hub/library/redis",
            "docker-hub/team/web",
            "docker-hub/team/api"
        ]
    );
    assert_eq!(
        unmanaged("docker-hub", &repos, Some(RULE)),
        ["docker-hub/team/web", "docker-hub/team/api"]
    );
    // Without a known rule, only records count.
    assert_eq!(
        unmanaged("docker-hub", &repos, None),
        [
            "docker-hub/library/nginx",
            "docker-hub/team/web",
            "docker-hub/team/api"
        ]
    );
}

#[test]
fn each_repository_of_the_cache_is_tagged_once() {
    let repos = [
        repo("docker-hub/a", RULE + 1.5, None),
        repo("docker-hub/b", RULE + 2.25, None),
        repo("docker-hub/hand", RULE - 1.0, None),
    ];
    let first = to_record(&repos, Some(RULE), None);
    assert_eq!(names(&first), ["docker-hub/a", "docker-hub/b"]);
    let until = recorded_until(None, &first);
    assert_eq!(until.as_deref(), Some("2027-01-15T08:00:02.25Z"));
    // The next reconcile tags nothing again, only what is newer.
    assert!(to_record(&repos, Some(RULE), until.as_deref()).is_empty());
    let more = [repos[1].clone(), repo("docker-hub/c", RULE + 3.0, None)];
    let next = to_record(&more, Some(RULE), until.as_deref());
    assert_eq!(names(&next), ["docker-hub/c"]);
    assert_eq!(
        recorded_until(until.as_deref(), &next).as_deref(),
        Some("2027-01-15T08:00:03Z")
    );
    assert_eq!(recorded_until(until.as_deref(), &[]), until);
}
