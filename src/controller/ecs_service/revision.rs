//! The desired task definition revision of an EcsService: known from
//! status, found by its hash tag, or registered at its turn (`pacing`).

use kube::runtime::events::EventType;

use super::{claim, plan};
use crate::api::ecs_service::{EcsService, EcsServiceStatus};
use crate::aws::{taskdef, Clients};
use crate::controller::context::Context;
use crate::controller::error::Result;
use crate::controller::memo::Registered;
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
    let memos = &ctx.memos.services;
    let remembered = memos.get(&uid).registered.filter(|r| r.hash == *hash);
    if let Some(r) = remembered {
        return Ok(Revision::Known(r.arn, r.revision));
    }
    let remember = |arn: &str, revision: i64| {
        let registered = Some(Registered {
            hash: hash.clone(),
            arn: arn.to_string(),
            revision,
        });
        memos.update(&uid, |m| m.registered = registered);
    };
    // A service holding a ticket looked for the hash when it took it, and
    // nothing registers its family meanwhile.
    let found = match held {
        true => pacing::Found::Held,
        false => match look(obj, ctx, clients, hash).await? {
            Ok(found) => found,
            Err(refused) => return Ok(refused),
        },
    };
    if let pacing::Found::Revision { arn, revision } = found {
        remember(&arn, revision);
        return Ok(Revision::Known(arn, revision));
    }
    if paused {
        return Ok(Revision::Paused(hash.clone()));
    }
    let (arn, revision) = match pacing::register(memos, clients, &uid, rendered, found).await? {
        pacing::Registration::Queued(wait) => return Ok(Revision::Queued(wait)),
        pacing::Registration::Found { arn, revision } => (arn, revision),
        pacing::Registration::Registered { arn, revision } => {
            let note = format!(
                "registered {} revision {revision} (hash {hash})",
                obj.family()
            );
            let (reason, action) = ("TaskDefinitionRegistered", "RegisterTaskDefinition");
            ctx.event(obj, EventType::Normal, reason, action, note)
                .await;
            (arn, revision)
        }
    };
    remember(&arn, revision);
    if held {
        // `Registered` remembers the revision for the next poll.
        return Ok(Revision::Later);
    }
    Ok(Revision::Known(arn, revision))
}

/// The family's newest revision: refused when it is another object's,
/// found when it carries the hash.
async fn look(
    obj: &EcsService,
    ctx: &Context,
    clients: &Clients,
    hash: &str,
) -> Result<std::result::Result<pacing::Found, Revision>> {
    let Some(latest) = taskdef::latest(clients, &obj.family()).await? else {
        return Ok(Ok(pacing::Found::Missing));
    };
    let owners = claim::owners(ctx, obj, &[&latest.tags]).await?;
    if let Some((reason, message)) = plan::family_refused(obj, &latest.tags, &owners) {
        return Ok(Err(Revision::Refused(reason, message)));
    }
    Ok(Ok(match latest.has_hash(hash) {
        true => pacing::Found::Revision {
            arn: latest.arn,
            revision: latest.revision,
        },
        false => pacing::Found::Missing,
    }))
}
