//! Claims of account-wide AWS names: at most one berth object manages a
//! name that AWS scopes to an account and region (a pull-through cache
//! prefix, and later a shared ECS service or a Cloud Map service), however
//! many namespaces ask for it.
//!
//! A claim is a `coordination.k8s.io/v1` Lease in berth's own namespace
//! (the leader election Lease's: `--lease-namespace`), named from a hash of
//! the key (`berth-claim-<kind>-<16 hex>`), whose `holderIdentity` is
//! `<Kind>/<namespace>/<name>/<uid>` of the owning object and whose
//! annotations carry the readable key. Why a Lease there:
//! - Creation is atomic (POST fails with 409 for the second claimant) and a
//!   takeover is an update conditional on the resourceVersion that was
//!   read, so two reconciles (or two replicas around a leader change) never
//!   both win; the claim lives in the API server, so it survives a restart
//!   and a new leader sees it at once.
//! - Tenants cannot touch it: it lives in the namespace the platform team
//!   installed berth into, where application teams have no rights, unlike
//!   anything kept on the tenant's own objects or namespace.
//! - Its RBAC stays namespaced and small: berth already writes Leases in
//!   that namespace for leader election. A ConfigMap would work the same
//!   way but grants on ConfigMaps are broader in practice (and mean
//!   "configuration", not "who holds what"); a cluster-scoped claim kind
//!   (or making the kinds cluster-scoped) would need a new CRD and cluster
//!   RBAC, and would take the objects out of their tenants' namespaces.
//!   A Lease's holder field says exactly "who holds this".
//!
//! A claim names one object by uid, not only by name: an object deleted and
//! created again under the same name is another claimant. A claim whose
//! object no longer exists (deleted without releasing it, e.g. its
//! finalizer removed by hand) is stale and taken over by the next
//! claimant, with an Event. Claims carry no lease duration: they never
//! expire by time, only by their object's end.
//!
//! The decision ([`standing`]) is pure; existence is the caller's answer
//! from its watch store, so this module names no kind.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::{Api, Client, Resource, ResourceExt};
use sha2::{Digest, Sha256};

/// Annotation prefix of a claim's readable key (`berth.dev/claim-prefix`, ...).
pub const KEY_ANNOTATION_PREFIX: &str = "berth.dev/claim-";
/// Label of every claim: which kind of name it claims (`kubectl get leases -l berth.dev/claim`).
pub const CLAIM_LABEL: &str = "berth.dev/claim";

/// What is claimed: a kind of AWS name and the fields that identify one in
/// AWS (account, region, the name itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// Short, DNS-safe: part of the Lease name and the label value.
    kind: &'static str,
    /// Field name (DNS-label-safe, part of an annotation key) and value.
    fields: Vec<(&'static str, String)>,
}

impl Key {
    pub fn new(kind: &'static str, fields: &[(&'static str, &str)]) -> Key {
        Key {
            kind,
            fields: fields.iter().map(|(k, v)| (*k, (*v).to_string())).collect(),
        }
    }

    /// `berth-claim-<kind>-<16 hex>`: a DNS-1123 name whatever the values
    /// hold (prefixes may contain `/`), and the same for the same key in
    /// every process.
    pub fn lease_name(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.kind.as_bytes());
        for (k, v) in &self.fields {
            // Separators that cannot occur in the values keep
            // ("a", "b/c") and ("a/b", "c") apart.
            h.update([0u8]);
            h.update(k.as_bytes());
            h.update([1u8]);
            h.update(v.as_bytes());
        }
        let digest = h.finalize();
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("berth-claim-{}-{hex}", self.kind)
    }

    /// `account 123456789012, region us-east-1, prefix docker-hub`.
    pub fn readable(&self) -> String {
        self.fields
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn annotations(&self) -> BTreeMap<String, String> {
        self.fields
            .iter()
            .map(|(k, v)| (format!("{KEY_ANNOTATION_PREFIX}{k}"), v.clone()))
            .collect()
    }
}

/// The object a claim is held for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl Holder {
    /// The claimant `obj` (`None` before the API server gave it a uid).
    pub fn of<K: Resource<DynamicType = ()>>(obj: &K) -> Option<Holder> {
        Some(Holder {
            kind: K::kind(&()).to_string(),
            namespace: obj.namespace().unwrap_or_default(),
            name: obj.name_any(),
            uid: obj.uid()?,
        })
    }

    /// `holderIdentity`: `Kind/namespace/name/uid`.
    pub fn identity(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.kind, self.namespace, self.name, self.uid
        )
    }

    /// The inverse of [`Holder::identity`]; `None` for anything else.
    pub fn parse(identity: &str) -> Option<Holder> {
        let mut parts = identity.split('/');
        let holder = Holder {
            kind: parts.next()?.to_string(),
            namespace: parts.next()?.to_string(),
            name: parts.next()?.to_string(),
            uid: parts.next()?.to_string(),
        };
        let complete = [&holder.kind, &holder.name, &holder.uid]
            .iter()
            .all(|p| !p.is_empty());
        (parts.next().is_none() && complete).then_some(holder)
    }
}

/// `PullThroughCache shop/docker-hub`: what a message names.
impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// What a claim means for a claimant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Nobody claims the name: the claimant may create the claim.
    Free,
    /// The claimant holds it.
    Mine,
    /// Held for an object that no longer exists (or for no readable
    /// object): the claimant may take it over. The former holder's
    /// identity, for the Event.
    Stale(String),
    /// Held for another object that exists (or may: berth cannot see it).
    Taken(Holder),
}

/// Who holds the claim whose Lease names `holder` (`None`: no Lease), as
/// seen by `me`. `exists` answers whether an object still exists; it must
/// say yes when it cannot tell.
pub fn standing(
    me: &Holder,
    holder: Option<Option<&str>>,
    exists: impl Fn(&Holder) -> bool,
) -> Standing {
    let Some(identity) = holder else {
        return Standing::Free;
    };
    let identity = identity.unwrap_or_default();
    match Holder::parse(identity) {
        Some(h) if h == *me => Standing::Mine,
        Some(h) if exists(&h) => Standing::Taken(h),
        // A claim released by clearing the holder, or an identity berth
        // never writes, names no object that could still need it.
        _ => Standing::Stale(identity.to_string()),
    }
}

/// Whether the object a claim names exists, from a watch store of its
/// kind: same namespace, name AND uid (a new object of the same name is
/// another object). Objects of another kind, or in a namespace the store
/// does not watch (`watched`: berth's `--namespace`), count as existing.
pub fn exists_in<K>(
    store: &kube::runtime::reflector::Store<K>,
    watched: Option<&str>,
    holder: &Holder,
) -> bool
where
    K: Resource<DynamicType = ()> + Clone,
{
    if holder.kind != K::kind(&()) || watched.is_some_and(|ns| ns != holder.namespace) {
        return true;
    }
    let key = kube::runtime::reflector::ObjectRef::new(&holder.name).within(&holder.namespace);
    store
        .get(&key)
        .is_some_and(|o| o.uid().as_deref() == Some(holder.uid.as_str()))
}

/// A claim as read: the Lease (if any) and what it means for the reader.
#[derive(Clone, Debug)]
pub struct Observed {
    pub key: Key,
    pub lease: Option<Lease>,
    pub standing: Standing,
}

/// The result of taking a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Taken {
    /// Now held (or already was); `Some(former holder)` after taking over
    /// a stale claim.
    Held(Option<String>),
    /// Another claimant won meanwhile: observe again.
    Lost,
}

/// The claims of one berth installation.
#[derive(Clone)]
pub struct Claims {
    api: Api<Lease>,
}

impl Claims {
    /// Claims in `namespace` (the leader election Lease's).
    pub fn new(client: Client, namespace: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
        }
    }

    /// Reads the claim of `key` (one GET).
    pub async fn observe(
        &self,
        key: Key,
        me: &Holder,
        exists: impl Fn(&Holder) -> bool,
    ) -> kube::Result<Observed> {
        let lease = self.api.get_opt(&key.lease_name()).await?;
        let holder = lease
            .as_ref()
            .map(|l| l.spec.as_ref().and_then(|s| s.holder_identity.as_deref()));
        let standing = standing(me, holder, exists);
        Ok(Observed {
            key,
            lease,
            standing,
        })
    }

    /// Takes the claim `observed` found free or stale: a POST (409: someone
    /// else created it first) or an update conditional on the
    /// resourceVersion read (409: changed since). Never takes a claim
    /// [`Standing::Taken`].
    pub async fn take(&self, observed: &Observed, me: &Holder) -> kube::Result<Taken> {
        crate::runtime::leader::check().map_err(not_leading)?;
        let now = MicroTime(Timestamp::now());
        let name = observed.key.lease_name();
        let pp = PostParams::default();
        let result = match (&observed.standing, &observed.lease) {
            (Standing::Mine, _) => return Ok(Taken::Held(None)),
            (Standing::Taken(_), _) => return Ok(Taken::Lost),
            (Standing::Free, _) | (Standing::Stale(_), None) => {
                let mut lease = Lease::default();
                lease.metadata.name = Some(name);
                lease.metadata.labels = Some(BTreeMap::from([
                    (CLAIM_LABEL.to_string(), observed.key.kind.to_string()),
                    ("app.kubernetes.io/managed-by".into(), "berth".into()),
                ]));
                lease.metadata.annotations = Some(observed.key.annotations());
                lease.spec = Some(LeaseSpec {
                    holder_identity: Some(me.identity()),
                    acquire_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                });
                self.api.create(&pp, &lease).await.map(|_| None)
            }
            (Standing::Stale(former), Some(read)) => {
                // `read` carries its resourceVersion: the update fails if
                // anyone changed the claim since it was judged stale.
                let mut lease = read.clone();
                let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
                spec.holder_identity = Some(me.identity());
                spec.acquire_time = Some(now);
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                self.api
                    .replace(&name, &pp, &lease)
                    .await
                    .map(|_| Some(former.clone()))
            }
        };
        match result {
            Ok(former) => Ok(Taken::Held(former)),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(Taken::Lost),
            Err(e) => Err(e),
        }
    }

    /// Gives up `key` if `me` holds it: a delete conditional on the uid and
    /// resourceVersion read, so a claim someone took over meanwhile stays.
    /// Nothing to release is not an error.
    pub async fn release(&self, key: &Key, me: &Holder) -> kube::Result<()> {
        crate::runtime::leader::check().map_err(not_leading)?;
        let name = key.lease_name();
        // A 409 means the claim changed between read and delete: read again.
        for _ in 0..3 {
            let Some(lease) = self.api.get_opt(&name).await? else {
                return Ok(());
            };
            let holder = lease
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.as_deref());
            if holder != Some(me.identity().as_str()) {
                return Ok(());
            }
            let dp = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: lease.metadata.uid.clone(),
                    resource_version: lease.metadata.resource_version.clone(),
                }),
                ..DeleteParams::default()
            };
            match self.api.delete(&name, &dp).await {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
                Err(kube::Error::Api(e)) if e.code == 409 => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A replica that stopped leading writes no claim (the client's gate lets
/// every Lease write through, for the leader election's own).
fn not_leading(e: crate::runtime::leader::NotLeading) -> kube::Error {
    kube::Error::Service(Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Holder {
        Holder::parse("PullThroughCache/shop/docker-hub/uid-1").unwrap()
    }

    #[test]
    fn identities_round_trip_and_name_the_object() {
        let h = me();
        assert_eq!(h.namespace, "shop");
        assert_eq!(Holder::parse(&h.identity()), Some(h.clone()));
        assert_eq!(h.to_string(), "PullThroughCache shop/docker-hub");
        for bad in [
            "",
            "PullThroughCache/shop/docker-hub",
            "a/b/c/d/e",
            "K/ns//uid",
        ] {
            assert_eq!(Holder::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn lease_names_are_dns_safe_stable_and_distinct() {
        let key = |prefix: &str| {
            Key::new(
                "ptc",
                &[
                    ("account", "123456789012"),
                    ("region", "us-east-1"),
                    ("prefix", prefix),
                ],
            )
        };
        let a = key("docker-hub/library").lease_name();
        assert_eq!(a, key("docker-hub/library").lease_name());
        assert_ne!(a, key("docker-hub").lease_name());
        assert!(a.starts_with("berth-claim-ptc-"), "{a}");
        assert_eq!(a.len(), "berth-claim-ptc-".len() + 16);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        // Field boundaries count: no two keys share a name by concatenation.
        assert_ne!(
            Key::new("ptc", &[("a", "xy"), ("b", "z")]).lease_name(),
            Key::new("ptc", &[("a", "x"), ("b", "yz")]).lease_name()
        );
        assert_eq!(
            key("docker-hub").readable(),
            "account 123456789012, region us-east-1, prefix docker-hub"
        );
        assert_eq!(
            key("x").annotations()["berth.dev/claim-prefix"],
            "x".to_string()
        );
    }

    #[test]
    fn who_holds_and_who_may_take_over() {
        let other = "PullThroughCache/team-b/cache/uid-2";
        let gone = |_: &Holder| false;
        let there = |_: &Holder| true;
        // (lease holder, does that object exist) => standing
        let cases: Vec<(Option<Option<&str>>, bool, Standing)> = vec![
            (None, true, Standing::Free),
            (
                Some(Some("PullThroughCache/shop/docker-hub/uid-1")),
                true,
                Standing::Mine,
            ),
            (
                Some(Some(other)),
                true,
                Standing::Taken(Holder::parse(other).unwrap()),
            ),
            (Some(Some(other)), false, Standing::Stale(other.into())),
            // Same name, another uid: the object was deleted and created
            // again; the new one is another claimant.
            (
                Some(Some("PullThroughCache/shop/docker-hub/uid-0")),
                true,
                Standing::Taken(Holder::parse("PullThroughCache/shop/docker-hub/uid-0").unwrap()),
            ),
            (Some(None), true, Standing::Stale(String::new())),
            (
                Some(Some("garbage")),
                true,
                Standing::Stale("garbage".into()),
            ),
        ];
        for (holder, exists, want) in cases {
            let got = if exists {
                standing(&me(), holder, there)
            } else {
                standing(&me(), holder, gone)
            };
            assert_eq!(got, want, "{holder:?} exists={exists}");
        }
    }

    #[test]
    fn existence_is_by_uid_and_unknown_namespaces_count_as_existing() {
        use crate::api::PullThroughCache;
        use kube::runtime::reflector::store::Writer;
        use kube::runtime::watcher::Event;
        let mut writer: Writer<PullThroughCache> = Writer::default();
        let store = writer.as_reader();
        let mut obj: PullThroughCache = serde_yaml::from_str(
            "apiVersion: berth.dev/v1alpha1\nkind: PullThroughCache\nmetadata: {name: cache, namespace: team-b, uid: uid-2}\nspec: {ecrRepositoryPrefix: quay, upstreamRegistry: quay}\n",
        )
        .unwrap();
        writer.apply_watcher_event(&Event::Apply(obj.clone()));
        let h = |ns: &str, uid: &str| Holder {
            kind: "PullThroughCache".into(),
            namespace: ns.into(),
            name: "cache".into(),
            uid: uid.into(),
        };
        assert!(exists_in(&store, None, &h("team-b", "uid-2")));
        assert!(!exists_in(&store, None, &h("team-b", "uid-3")));
        assert!(!exists_in(&store, None, &h("team-c", "uid-2")));
        // Watching only team-a, berth cannot see team-c: it may exist.
        assert!(exists_in(&store, Some("team-a"), &h("team-c", "uid-9")));
        assert!(!exists_in(&store, Some("team-b"), &h("team-b", "uid-3")));
        // Another kind is never judged from this store.
        let mut svc = h("team-b", "uid-3");
        svc.kind = "EcsService".into();
        assert!(exists_in(&store, None, &svc));
        obj.metadata.uid = Some("uid-4".into());
        writer.apply_watcher_event(&Event::Apply(obj));
        assert!(!exists_in(&store, None, &h("team-b", "uid-2")));
    }
}
