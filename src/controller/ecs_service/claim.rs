//! Whose the ECS service, the Cloud Map service and the task definition
//! family an EcsService names are (`ownership`): decided before berth
//! registers a revision or changes anything, so an object refused a
//! service (another namespace's, say) leaves no trace in AWS.

use std::collections::BTreeMap;

use crate::api::ecs_service::EcsService;
use crate::aws::tags::owner_of;
use crate::controller::context::Context;
use crate::controller::error::Result;
use crate::controller::ownership::{self, Claimant, Owners, Ownership};

/// This object as a claimant of its resources.
pub struct Me {
    owner: String,
    uid: String,
    adopt: bool,
}

impl Me {
    pub fn of(obj: &EcsService) -> Self {
        Self {
            owner: owner_of(obj),
            uid: obj.metadata.uid.clone().unwrap_or_default(),
            adopt: obj.spec.adopt,
        }
    }

    pub fn claimant(&self) -> Claimant<'_> {
        Claimant::new(&self.owner, &self.uid, self.adopt)
    }

    /// The same object, asking without `spec.adopt` (a deletion only
    /// removes what is its own).
    pub fn owner_only(&self) -> Claimant<'_> {
        Claimant::new(&self.owner, &self.uid, false)
    }
}

/// Which of the EcsServices named by `tags` (other than `obj`) exist.
pub async fn owners(
    ctx: &Context,
    obj: &EcsService,
    tags: &[&BTreeMap<String, String>],
) -> Result<Owners> {
    let me = Me::of(obj);
    let others: Vec<String> = tags
        .iter()
        .filter_map(|t| ownership::other_owner(t, &me.claimant()))
        .map(str::to_string)
        .collect();
    ownership::observe::<EcsService>(ctx, Some(&ctx.stores.services), others).await
}

/// Whether the EcsService being deleted may delete the ECS service with
/// `tags`: only its own, never one it did not tag (someone else's, or one
/// it was refused).
pub fn may_delete(obj: &EcsService, tags: &BTreeMap<String, String>) -> bool {
    ownership::decide(tags, &Me::of(obj).owner_only(), &Owners::default()) == Ownership::Ours
}
