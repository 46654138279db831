//! A service waiting for its migrations skips AWS until something can
//! have changed: what this process saw last, per object.

use kube::ResourceExt;

use super::plan;
use crate::api::ecs_service::{EcsService, EcsServiceStatus};
use crate::controller::context::{Context, REFRESH_ANNOTATION};
use crate::controller::memo::Waiting;

pub(super) fn remember(obj: &EcsService, ctx: &Context, next: &EcsServiceStatus) {
    let uid = obj.metadata.uid.as_deref().unwrap_or_default();
    if plan::waiting_for_migrations(next).is_some() {
        let refresh = obj.annotations().get(REFRESH_ANNOTATION).cloned();
        let at = std::time::Instant::now();
        ctx.memos
            .services
            .update(uid, |m| m.waiting = Some(Waiting { at, refresh }));
    } else {
        ctx.memos.services.update(uid, |m| m.waiting = None);
    }
}

/// Still waiting for the same migrations as the status says: ECS cannot
/// open the gate (the MigrationJob watch wakes the service when a job
/// finishes), so until the next resync or refresh a poll skips AWS. A
/// release of N gated services otherwise cost DescribeServices for every
/// poll of the whole wait, which grows with N (the migrations are paced by
/// RegisterTaskDefinition).
pub(super) fn still(obj: &EcsService, ctx: &Context, prev: &EcsServiceStatus, hash: &str) -> bool {
    let uid = obj.metadata.uid.as_deref().unwrap_or_default();
    let Some(seen) = ctx.memos.services.get(uid).waiting else {
        return false;
    };
    let refresh = obj.annotations().get(REFRESH_ANNOTATION);
    let jobs = ctx.jobs_for(&obj.namespace().unwrap_or_default(), &obj.name_any());
    seen.at.elapsed() < ctx.resync
        && seen.refresh.as_ref() == refresh
        && plan::gate_unchanged(obj, prev, hash, &jobs)
}
