//! Whose an AWS resource is, by berth's tags: every kind asks the same
//! question before it changes or deletes a resource whose name is
//! account-wide (an ECS service in a shared cluster, a Cloud Map service,
//! an Aurora identifier, a task definition family). A resource tagged for
//! another object that still exists is never changed or deleted, even
//! with `spec.adopt: true`; one tagged for an object that is gone (deleted
//! with `deletionPolicy: Retain`) or not tagged at all may be adopted.
//!
//! [`decide`] is pure; [`observe`] finds out which of the owners named by
//! tags still exist.

use std::collections::BTreeMap;

use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use super::context::Context;
use super::error::Result;
use crate::aws::tags::{TAG_OWNER, TAG_UID};

/// Whether the object a resource's tags name still exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    Exists,
    /// Deleted (e.g. with `deletionPolicy: Retain`): its resources are orphans.
    Gone,
    /// In a namespace this berth does not watch (`--namespace`): berth
    /// cannot tell, so it acts as if the owner existed.
    Unseen,
}

/// The presence of every owner named by the tags of the resources an
/// object touches, keyed by the `berth.dev/owner` value
/// (`<namespace>/<name>`). An owner missing from the map counts as
/// existing: not knowing never hands a resource over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owners(BTreeMap<String, Presence>);

impl Owners {
    pub fn new(entries: impl IntoIterator<Item = (String, Presence)>) -> Self {
        Self(entries.into_iter().collect())
    }

    pub fn presence(&self, owner: &str) -> Presence {
        self.0.get(owner).copied().unwrap_or(Presence::Exists)
    }
}

/// The object asking: its `<namespace>/<name>`, uid and `spec.adopt`.
#[derive(Clone, Copy, Debug)]
pub struct Claimant<'a> {
    pub owner: &'a str,
    pub uid: &'a str,
    pub adopt: bool,
}

impl<'a> Claimant<'a> {
    pub fn new(owner: &'a str, uid: &'a str, adopt: bool) -> Self {
        Self { owner, uid, adopt }
    }
}

/// What the claimant may do with a resource that exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Tagged for this object (or for an earlier object of the same
    /// namespace and name: a re-created object).
    Ours,
    /// Untagged or orphaned, and `spec.adopt` is true: tag it and manage it.
    Adopt,
    /// Untagged or orphaned, and `spec.adopt` is false: not touched.
    AdoptionRequired(Orphan),
    /// Tagged for another object that exists: never changed or deleted.
    Conflict(Conflict),
}

/// Why a resource is not ours but could be adopted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Orphan {
    /// Carries no berth tags.
    Untagged,
    /// Tagged for this object, which no longer exists.
    Of(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// `<namespace>/<name>` of the owning object.
    pub owner: String,
    /// The owner is in a namespace this berth does not watch.
    pub unseen: bool,
}

/// The `berth.dev/owner` value of a resource's tags, when it names
/// another object than `me`.
pub fn other_owner<'t>(tags: &'t BTreeMap<String, String>, me: &Claimant<'_>) -> Option<&'t str> {
    let owner = tags.get(TAG_OWNER)?;
    let ours = owner == me.owner
        || (!me.uid.is_empty() && tags.get(TAG_UID).map(String::as_str) == Some(me.uid));
    (!ours).then_some(owner.as_str())
}

/// Whose the resource with `tags` is, for `me`, given which owners exist.
pub fn decide(tags: &BTreeMap<String, String>, me: &Claimant<'_>, owners: &Owners) -> Ownership {
    let owner = tags.get(TAG_OWNER);
    let same_uid = !me.uid.is_empty() && tags.get(TAG_UID).map(String::as_str) == Some(me.uid);
    if owner.is_some_and(|o| o == me.owner) || same_uid {
        return Ownership::Ours;
    }
    let orphan = match owner {
        None => Orphan::Untagged,
        Some(owner) => match owners.presence(owner) {
            Presence::Gone => Orphan::Of(owner.clone()),
            p => {
                return Ownership::Conflict(Conflict {
                    owner: owner.clone(),
                    unseen: p == Presence::Unseen,
                })
            }
        },
    };
    if me.adopt {
        Ownership::Adopt
    } else {
        Ownership::AdoptionRequired(orphan)
    }
}

impl Conflict {
    /// The condition message: `what` (e.g. "ECS service web in cluster
    /// prod") belongs to `kind` `owner`, and what the user can do.
    pub fn message(&self, what: &str, kind: &str, rename: &str) -> String {
        let unseen = if self.unseen {
            " (in a namespace this berth does not watch: it cannot see whether that object \
             still exists, so it treats it as existing)"
        } else {
            ""
        };
        format!(
            "{what} belongs to {kind} {owner}{unseen} by its berth.dev/owner tag; berth never \
             changes or deletes it for another object, not even with spec.adopt: true. Choose \
             another {rename}, or delete {owner} with deletionPolicy: Retain and then set \
             spec.adopt: true here to take it over",
            owner = self.owner
        )
    }
}

impl Orphan {
    /// The AdoptionRequired message for `what`.
    pub fn message(&self, what: &str, adopt_to: &str) -> String {
        match self {
            Orphan::Untagged => format!(
                "{what} already exists and is not managed by berth; set spec.adopt: true to {adopt_to}"
            ),
            Orphan::Of(owner) => format!(
                "{what} was berth's for {owner}, which no longer exists; set spec.adopt: true to {adopt_to}"
            ),
        }
    }
}

/// The presence of each owner in `owners` (values of `berth.dev/owner`)
/// of kind `K`: from `store` when it holds the object, else by a GET (the
/// store may not have listed yet; a false "gone" would hand the resource
/// over). With `--namespace`, an owner in another namespace is
/// [`Presence::Unseen`] without asking.
pub async fn observe<K>(
    ctx: &Context,
    store: Option<&Store<K>>,
    owners: Vec<String>,
) -> Result<Owners>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + 'static,
{
    let mut found = BTreeMap::new();
    for owner in owners {
        let owner = owner.as_str();
        if found.contains_key(owner) {
            continue;
        }
        let Some((ns, name)) = owner.split_once('/') else {
            // Not a value berth writes: whoever wrote it, keep off.
            found.insert(owner.to_string(), Presence::Exists);
            continue;
        };
        let presence = if ctx.watch_namespace().is_some_and(|w| w != ns) {
            Presence::Unseen
        } else if store.is_some_and(|s| s.get(&ObjectRef::new(name).within(ns)).is_some()) {
            Presence::Exists
        } else {
            let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
            match api.get_metadata_opt(name).await {
                Ok(Some(_)) => Presence::Exists,
                Ok(None) => Presence::Gone,
                Err(kube::Error::Api(e)) if e.code == 403 => Presence::Unseen,
                Err(e) => return Err(e.into()),
            }
        };
        found.insert(owner.to_string(), presence);
    }
    Ok(Owners(found))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(owner: Option<&str>, uid: Option<&str>) -> BTreeMap<String, String> {
        owner
            .map(|o| (TAG_OWNER.to_string(), o.to_string()))
            .into_iter()
            .chain(uid.map(|u| (TAG_UID.to_string(), u.to_string())))
            .collect()
    }

    #[test]
    fn decisions() {
        let gone = Owners::new([("team-a/web".to_string(), Presence::Gone)]);
        let exists = Owners::new([("team-a/web".to_string(), Presence::Exists)]);
        let unseen = Owners::new([("team-a/web".to_string(), Presence::Unseen)]);
        let unknown = Owners::default();
        let conflict = |unseen| {
            Ownership::Conflict(Conflict {
                owner: "team-a/web".into(),
                unseen,
            })
        };
        let a = tags(Some("team-a/web"), Some("uid-a"));
        // (case, tags, adopt, owners, decision)
        type Case<'a> = (
            &'a str,
            BTreeMap<String, String>,
            bool,
            &'a Owners,
            Ownership,
        );
        let cases: Vec<Case> = vec![
            (
                "ours",
                tags(Some("team-b/web"), Some("uid-b")),
                false,
                &unknown,
                Ownership::Ours,
            ),
            (
                "re-created object of the same name",
                tags(Some("team-b/web"), Some("uid-old")),
                false,
                &unknown,
                Ownership::Ours,
            ),
            (
                "our uid",
                tags(Some("renamed/web"), Some("uid-b")),
                false,
                &exists,
                Ownership::Ours,
            ),
            (
                "untagged",
                tags(None, None),
                false,
                &unknown,
                Ownership::AdoptionRequired(Orphan::Untagged),
            ),
            (
                "untagged, adopt",
                tags(None, None),
                true,
                &unknown,
                Ownership::Adopt,
            ),
            (
                "another object's",
                a.clone(),
                false,
                &exists,
                conflict(false),
            ),
            (
                "another object's, adopt",
                a.clone(),
                true,
                &exists,
                conflict(false),
            ),
            (
                "owner unknown counts as existing",
                a.clone(),
                true,
                &unknown,
                conflict(false),
            ),
            (
                "owner not watched",
                a.clone(),
                true,
                &unseen,
                conflict(true),
            ),
            (
                "orphaned",
                a.clone(),
                false,
                &gone,
                Ownership::AdoptionRequired(Orphan::Of("team-a/web".into())),
            ),
            ("orphaned, adopt", a.clone(), true, &gone, Ownership::Adopt),
        ];
        for (name, tags, adopt, owners, want) in cases {
            let me = Claimant::new("team-b/web", "uid-b", adopt);
            assert_eq!(decide(&tags, &me, owners), want, "{name}");
        }
    }

    #[test]
    fn other_owner_names_only_another_object() {
        let me = Claimant::new("team-b/web", "uid-b", false);
        assert_eq!(
            other_owner(&tags(Some("team-a/web"), Some("x")), &me),
            Some("team-a/web")
        );
        assert_eq!(other_owner(&tags(Some("team-b/web"), Some("x")), &me), None);
        assert_eq!(other_owner(&tags(None, None), &me), None);
    }

    #[test]
    fn messages_name_the_owner_and_what_to_do() {
        let c = Conflict {
            owner: "team-a/web".into(),
            unseen: true,
        };
        let m = c.message(
            "ECS service web in cluster prod",
            "EcsService",
            "spec.serviceName",
        );
        assert!(m.contains("EcsService team-a/web"), "{m}");
        assert!(m.contains("does not watch"), "{m}");
        assert!(m.contains("deletionPolicy: Retain"), "{m}");
        let m = Orphan::Of("team-a/web".into()).message("ECS service web", "take it over");
        assert!(m.contains("team-a/web, which no longer exists"), "{m}");
    }
}
