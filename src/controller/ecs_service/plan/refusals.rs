//! Whose the ECS service, the Cloud Map service and the task definition
//! family are, as the plan reads it: a resource another existing object
//! owns is refused (Conflict), an orphan needs `spec.adopt`.

use std::collections::BTreeMap;

use super::super::claim::Me;
use crate::api::conditions::Reason;
use crate::api::ecs_service::EcsService;
use crate::aws::ecs::ServiceView;
use crate::controller::ownership::{self, Owners, Ownership};

/// Why berth may not touch the existing ECS service `svc` for `obj`
/// (reason and message), or `None` when it is ours or adopted.
pub fn service_refused(
    obj: &EcsService,
    svc: &ServiceView,
    owners: &Owners,
) -> Option<(Reason, String)> {
    let me = Me::of(obj);
    let what = format!("ECS service {} in cluster {}", svc.name, obj.spec.cluster);
    match ownership::decide(&svc.tags, &me.claimant(), owners) {
        Ownership::Ours | Ownership::Adopt => None,
        Ownership::AdoptionRequired(orphan) => Some((
            Reason::AdoptionRequired,
            orphan.message(&what, "take it over"),
        )),
        Ownership::Conflict(c) => Some((
            Reason::Conflict,
            c.message(&what, "EcsService", "spec.serviceName"),
        )),
    }
}

/// Why berth may not register a revision in the family whose newest
/// revision carries `tags`: it is another existing object's family
/// (revisions are immutable and each object prunes only its own, but a
/// revision on top changes what the family's newest revision is). An
/// untagged or orphaned family is registered in as before.
pub fn family_refused(
    obj: &EcsService,
    tags: &BTreeMap<String, String>,
    owners: &Owners,
) -> Option<(Reason, String)> {
    let me = Me::of(obj);
    match ownership::decide(tags, &me.claimant(), owners) {
        Ownership::Conflict(c) => Some((
            Reason::Conflict,
            c.message(
                &format!("task definition family {}", obj.family()),
                "EcsService",
                "spec.taskDefinition.family",
            ),
        )),
        _ => None,
    }
}

/// What berth may do with the existing Cloud Map service `what` carrying
/// `tags`: use it, adopt it, or neither (reason and message).
pub fn registry_use(
    obj: &EcsService,
    what: &str,
    tags: &BTreeMap<String, String>,
    owners: &Owners,
) -> Result<Ownership, (Reason, String)> {
    match ownership::decide(tags, &Me::of(obj).claimant(), owners) {
        o @ (Ownership::Ours | Ownership::Adopt) => Ok(o),
        Ownership::AdoptionRequired(orphan) => Err((
            Reason::AdoptionRequired,
            orphan.message(what, "register this service's tasks in it"),
        )),
        Ownership::Conflict(c) => Err((
            Reason::Conflict,
            c.message(what, "EcsService", "spec.serviceDiscovery.serviceName"),
        )),
    }
}
