//! The desired task definition revision of an EcsService: known from
//! status, found by its hash tag, or registered at its turn (`pacing`).

use kube::runtime::events::EventType;

use super::{claim, plan};
use crate::api::ecs_service::{EcsService, EcsServiceStatus};
use crate::aws::{taskdef, Clients};
use crate::controller::context::Context;
use crate::controller::error::Result;
use crate::controller::pacing;
use plan::Revision;

/// The revision for the rendering's hash: known from status (survives
/// restarts), or found by its hash tag, or registered now, or once its
/// ticket for RegisterTaskDefinition is due. `held`: the service holds
/// that ticket (`pacing::waiting`).
pub(super) async fn desired(
    obj: &EcsService,
    ctx: &Context,
    clients: &Clients,
    prev: &EcsServiceStatus,
    rendered: &taskdef::RenderedTaskDefinition,
    paused: bool,
    held: bool,
) -> Result<Revision> {
    let hash = &rendered.hash;
    if let (Some(h), Some(arn)) = (&prev.spec_hash, &prev.task_definition_arn) {
        if h == hash {
            return Ok(Revision::Known(arn.clone(), prev.revision.unwrap_or(0)));
        }
    }
    let uid = obj.metadata.uid.clone().unwrap_or_default();
    let remembered = ctx
        .memos
        .get::<Registered>(&uid)
        .filter(|r| r.hash == *hash)
        .map(|r| (r.arn, r.revision));
    if let Some((arn, revision)) = remembered {
        return Ok(Revision::Known(arn, revision));
    }
    let remember = |arn: &str, revision: i64| {
        ctx.memos.set(
            &uid,
            Registered {
                hash: hash.clone(),
                arn: arn.to_string(),
                revision,
            },
        );
    };
    // A service holding a ticket looked for the hash when it took it, and
    // nothing registers its family meanwhile.
    if !held {
        if let Some(latest) = taskdef::latest(clients, &obj.family()).await? {
            let owners = claim::owners(ctx, obj, &[&latest.tags]).await?;
            if let Some((reason, message)) = plan::family_refused(obj, &latest.tags, &owners) {
                return Ok(Revision::Refused(reason, message));
            }
            if latest.has_hash(hash) {
                remember(&latest.arn, latest.revision);
                return Ok(Revision::Known(latest.arn, latest.revision));
            }
        }
    }
    if paused {
        return Ok(Revision::Paused(hash.clone()));
    }
    let ticket = match pacing::turn(&ctx.memos, clients, &uid, hash, REGISTER) {
        pacing::Turn::Now(ticket) => ticket,
        pacing::Turn::Later(wait) => return Ok(Revision::Queued(wait)),
    };
    let (arn, revision) = rendered.register(clients, Some(ticket)).await?;
    remember(&arn, revision);
    ctx.event(
        obj,
        EventType::Normal,
        "TaskDefinitionRegistered",
        "RegisterTaskDefinition",
        format!(
            "registered {} revision {revision} (hash {hash})",
            obj.family()
        ),
    )
    .await;
    if held {
        // `Registered` remembers the revision for the next poll.
        return Ok(Revision::Later);
    }
    Ok(Revision::Known(arn, revision))
}

const REGISTER: &str = "ecs:RegisterTaskDefinition";

/// The task definition revision this process registered or found for an
/// EcsService: until the status write that records it lands (it may fail on
/// a stale read), the next reconcile knows it without asking ECS again.
#[derive(Clone)]
struct Registered {
    hash: String,
    arn: String,
    revision: i64,
}
