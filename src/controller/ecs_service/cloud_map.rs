//! The Cloud Map service an EcsService's tasks register in
//! (`spec.serviceDiscovery`): berth's own, adopted, or created; never one
//! berth's tags say belongs to another existing object.

use kube::runtime::events::EventType;

use super::{claim, plan};
use crate::api::conditions::Reason;
use crate::api::ecs_service::{EcsService, EcsServiceStatus};
use crate::aws::cloudmap;
use crate::aws::ecs::ServiceView;
use crate::aws::tags::owner_of;
use crate::aws::Clients;
use crate::controller::context::Context;
use crate::controller::error::Result;
use crate::controller::ownership::Ownership;

/// The Cloud Map service to register in (with `serviceDiscovery`): known
/// from status while the spec is unchanged and the ECS service (if it
/// exists yet) still points at it, so there is no Cloud Map lookup per poll,
/// also while the service waits for its gate; else found, adopted or
/// created. `Err` says why an existing one cannot be used (reason, message).
pub async fn registry(
    obj: &EcsService,
    ctx: &Context,
    clients: &Clients,
    prev: &EcsServiceStatus,
    service: Option<&ServiceView>,
    paused: bool,
) -> Result<std::result::Result<Option<String>, (Reason, String)>> {
    let Some(sd) = &obj.spec.service_discovery else {
        return Ok(Ok(None));
    };
    let sd_name = sd
        .service_name
        .clone()
        .unwrap_or_else(|| obj.service_name());
    let known = prev.cloud_map_service_arn.clone().filter(|arn| {
        prev.observed_generation == obj.metadata.generation
            && service.is_none_or(|s| {
                s.registries
                    .iter()
                    .any(|r| r.registry_arn.as_deref() == Some(arn.as_str()))
            })
    });
    if let Some(arn) = known {
        return Ok(Ok(Some(arn)));
    }
    if paused {
        return Ok(Ok(prev.cloud_map_service_arn.clone()));
    }
    let uid = obj.metadata.uid.clone().unwrap_or_default();
    let owner = owner_of(obj);
    let (ns, existing) = cloudmap::find_service(clients, sd, &sd_name).await?;
    let (arn, note) = match existing {
        None => {
            let arn = cloudmap::create_service(clients, sd, &ns, &sd_name, &owner, &uid).await?;
            let note = format!("created Cloud Map service {sd_name} ({arn})");
            (arn, Some(("CloudMapServiceCreated", "CreateService", note)))
        }
        Some((arn, tags)) => {
            let owners = claim::owners(ctx, obj, &[&tags]).await?;
            let what = format!("Cloud Map service {sd_name} ({arn})");
            match plan::registry_use(obj, &what, &tags, &owners) {
                Ok(Ownership::Adopt) => {
                    cloudmap::adopt_service(clients, &arn, &owner, &uid).await?;
                    let note = format!(
                        "adopted the existing Cloud Map service {sd_name} ({arn}) (spec.adopt: true)"
                    );
                    (arn, Some(("CloudMapServiceAdopted", "TagResource", note)))
                }
                Ok(_) => (arn, None),
                Err(refused) => return Ok(Err(refused)),
            }
        }
    };
    if let Some((reason, action, note)) = note {
        ctx.event(obj, EventType::Normal, reason, action, note)
            .await;
    }
    Ok(Ok(Some(arn)))
}
