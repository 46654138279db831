//! The tags that mark an AWS resource as berth's: created for (or adopted
//! by) one Kubernetes object.

use kube::ResourceExt;

/// `<namespace>/<name>` of the owning object.
pub const TAG_OWNER: &str = "berth.dev/owner";
/// `metadata.uid` of the owning object (a re-created object is another owner).
pub const TAG_UID: &str = "berth.dev/uid";

/// On every task berth runs for a MigrationJob: the run it belongs to.
pub const TAG_RUN_HASH: &str = "berth.dev/run-hash";
/// On every task berth runs for a MigrationJob: which attempt of the run.
pub const TAG_ATTEMPT: &str = "berth.dev/attempt";

/// On every ECR repository berth found a pull-through cache created: the
/// rule prefix whose cache created it. It outlives the PullThroughCache
/// object (and its status), so a re-created object still knows the
/// repository is the cache's.
pub const TAG_PULL_THROUGH_CACHE: &str = "berth.dev/pull-through-cache";

/// The [`TAG_OWNER`] value of `obj`.
pub fn owner_of<K: ResourceExt>(obj: &K) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}
