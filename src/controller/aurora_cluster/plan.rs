//! The AuroraCluster plan: from the spec and what RDS reports to the one
//! next mutation (with its values) and the conditions. Pure: every branch
//! is a table test in `plan_tests*.rs`. The instance and proxy steps and
//! the deletion order are submodules.

mod delete;
mod events;
mod instances;
mod proxy;
mod status;

use std::collections::BTreeMap;

use crate::api::aurora_cluster::{AuroraCluster, AuroraDeletionPolicy};
use crate::api::conditions::{not_degraded, Desired, Reason, DEGRADED, PROGRESSING, READY};
use crate::aws::rds::{
    ClusterCreate, ClusterModify, ClusterView, InstanceView, ProxyCreate, ProxyModify, ProxyView,
    SubnetGroupView, TargetView,
};
use crate::aws::tags::{TAG_OWNER, TAG_UID};
use crate::controller::ownership::{self, Claimant, Owners, Ownership};

pub use delete::{delete_step, lift_deletion_protection, what_stays, DeleteStep};
pub use events::{retained, Event};
pub use instances::instance_number;
pub use proxy::{proxy_is_ours, proxy_modify};
pub use status::{failure, status, writes_secret};

/// What RDS reported for the object's resources.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub subnet_group: Option<SubnetGroupView>,
    pub cluster: Option<ClusterView>,
    pub instances: Vec<InstanceView>,
    pub proxy: Option<ProxyView>,
    pub target: Option<TargetView>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RdsAction {
    Nothing,
    CreateSubnetGroup {
        name: String,
        subnet_ids: Vec<String>,
        tags: BTreeMap<String, String>,
    },
    CreateCluster(Box<ClusterCreate>),
    /// spec.adopt: put berth's tags on an existing cluster.
    AdoptCluster {
        arn: String,
        tags: BTreeMap<String, String>,
    },
    /// Tags of the spec the cluster lacks (or has with another value).
    TagCluster {
        arn: String,
        tags: BTreeMap<String, String>,
    },
    ModifyCluster(ClusterModify),
    CreateInstance {
        id: String,
        class: String,
        tags: BTreeMap<String, String>,
    },
    /// spec.adopt: put berth's tags on an instance of the adopted cluster.
    AdoptInstance {
        id: String,
        arn: String,
        tags: BTreeMap<String, String>,
    },
    /// A new `spec.instances.class`, one instance at a time.
    ModifyInstance {
        id: String,
        class: String,
    },
    /// `spec.instances.count` lowered: one instance per step.
    DeleteInstance {
        id: String,
    },
    CreateProxy(Box<ProxyCreate>),
    /// spec.adopt: put berth's tags on an existing proxy of berth's name.
    AdoptProxy {
        name: String,
        arn: String,
        tags: BTreeMap<String, String>,
    },
    ModifyProxy {
        name: String,
        modify: ProxyModify,
    },
    RegisterTarget {
        proxy: String,
        cluster: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub action: RdsAction,
    pub conditions: Vec<Desired>,
    /// Something is converging in AWS: poll soon.
    pub busy: bool,
}

impl Plan {
    /// When to look again: soon while RDS converges, else at the resync.
    pub fn then(&self) -> crate::controller::shell::Then {
        use crate::controller::shell::Then;
        if self.busy {
            Then::Poll
        } else {
            Then::Resync
        }
    }
}

pub struct Inputs<'a> {
    pub obj: &'a AuroraCluster,
    pub owner: &'a str,
    pub uid: &'a str,
    pub observed: &'a Observed,
    /// Which AuroraClusters named by the resources' berth tags exist.
    pub owners: &'a Owners,
    /// `berth.dev/paused`: no RDS change.
    pub paused: bool,
}

/// Whose a resource with `tags` is for this object (`ownership`).
fn claim(i: &Inputs, tags: &BTreeMap<String, String>) -> Ownership {
    let me = Claimant::new(i.owner, i.uid, i.obj.spec.adopt);
    ownership::decide(tags, &me, i.owners)
}

/// The plan for a resource (`what`) berth may not touch: not adopted
/// (`adopt_to` says what adopting it does) or another object's (`rename`
/// names the field choosing another name). `None` when it is ours or is
/// to be adopted.
fn refused(claim: &Ownership, what: &str, adopt_to: &str, rename: &str) -> Option<Plan> {
    let (reason, message) = match claim {
        Ownership::Ours | Ownership::Adopt => return None,
        Ownership::AdoptionRequired(orphan) => {
            (Reason::AdoptionRequired, orphan.message(what, adopt_to))
        }
        Ownership::Conflict(c) => (Reason::Conflict, c.message(what, "AuroraCluster", rename)),
    };
    Some(Plan {
        action: RdsAction::Nothing,
        conditions: crate::api::conditions::failed(reason, message),
        busy: false,
    })
}

/// The DB subnet group berth creates from `subnetIds` (named like the cluster).
pub fn subnet_group_name(obj: &AuroraCluster) -> Option<String> {
    if obj.spec.subnet_ids.is_empty() {
        obj.spec.db_subnet_group_name.clone()
    } else {
        Some(obj.cluster_identifier())
    }
}

pub fn proxy_name(obj: &AuroraCluster) -> String {
    format!("{}-proxy", obj.cluster_identifier())
}

pub fn proxy_enabled(obj: &AuroraCluster) -> bool {
    obj.spec.proxy.as_ref().is_some_and(|p| p.enabled)
}

/// Instance `n` (1-based) of the cluster.
pub fn instance_id(obj: &AuroraCluster, n: i32) -> String {
    format!("{}-{n}", obj.cluster_identifier())
}

/// The user's tags plus berth's owner and uid tags.
pub fn resource_tags(obj: &AuroraCluster, owner: &str, uid: &str) -> BTreeMap<String, String> {
    let mut tags: BTreeMap<String, String> = obj
        .spec
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    tags.insert(TAG_OWNER.into(), owner.into());
    tags.insert(TAG_UID.into(), uid.into());
    tags
}

fn progressing(reason: Reason, message: String) -> Vec<Desired> {
    vec![
        Desired::new(READY, false, reason, message.clone()),
        Desired::new(PROGRESSING, true, reason, message),
        not_degraded(),
    ]
}

fn step(action: RdsAction, reason: Reason, message: String) -> Plan {
    Plan {
        action,
        conditions: progressing(reason, message),
        busy: true,
    }
}

fn wait(reason: Reason, message: String) -> Plan {
    step(RdsAction::Nothing, reason, message)
}

pub fn plan(i: &Inputs) -> Plan {
    let mut p = plan_resources(i);
    // Deleting this object would have to delete a protected cluster: say so
    // now, not only when someone deletes it.
    let spec = &i.obj.spec;
    if spec.deletion_protection && spec.deletion_policy != AuroraDeletionPolicy::Retain {
        let message = deletion_protected_message(i.obj);
        p.conditions.retain(|c| c.type_ != DEGRADED);
        p.conditions.push(Desired::new(
            DEGRADED,
            true,
            Reason::DeletionProtected,
            message,
        ));
    }
    if i.paused {
        return status::paused(p);
    }
    p
}

/// Deleting waits for a human: the cluster is protected and the policy
/// would delete it.
pub fn deletion_protected(obj: &AuroraCluster) -> crate::controller::shell::Failed {
    crate::controller::shell::Failed::new(
        Reason::DeletionProtected,
        deletion_protected_message(obj),
        crate::controller::shell::Then::Resync,
    )
}

pub fn deletion_protected_message(obj: &AuroraCluster) -> String {
    format!(
        "deletionPolicy {:?} cannot delete cluster {} while deletionProtection is true; \
         set spec.deletionProtection: false (berth lifts it in RDS) or deletionPolicy: Retain",
        obj.spec.deletion_policy,
        obj.cluster_identifier()
    )
}

/// The first step the resources need, each in RDS's order: subnet group,
/// cluster, its instances, the proxy; or all of them available.
fn plan_resources(i: &Inputs) -> Plan {
    let obj = i.obj;
    let id = obj.cluster_identifier();
    let tags = resource_tags(obj, i.owner, i.uid);
    let Some(cluster) = &i.observed.cluster else {
        return create_first(i, tags);
    };
    let proxy = || {
        let ps = obj.spec.proxy.as_ref().filter(|p| p.enabled)?;
        proxy::plan_proxy(i, ps, cluster, tags.clone())
    };
    claim_cluster(i, cluster, &tags)
        .or_else(|| cluster_busy(&id, cluster))
        .or_else(|| cluster_drift(obj, cluster, &tags))
        .or_else(|| instances::plan_instances(i, &id, cluster, &tags))
        .or_else(proxy)
        .unwrap_or_else(|| available(i))
}

/// No cluster yet: berth's subnet group (from `subnetIds`) first, then
/// the cluster.
fn create_first(i: &Inputs, tags: BTreeMap<String, String>) -> Plan {
    let spec = &i.obj.spec;
    let id = i.obj.cluster_identifier();
    if !spec.subnet_ids.is_empty() && i.observed.subnet_group.is_none() {
        return step(
            RdsAction::CreateSubnetGroup {
                name: id.clone(),
                subnet_ids: spec.subnet_ids.clone(),
                tags,
            },
            Reason::Creating,
            format!("creating DB subnet group {id}"),
        );
    }
    step(
        RdsAction::CreateCluster(Box::new(cluster_create(i.obj, tags))),
        Reason::Creating,
        format!("creating Aurora cluster {id}"),
    )
}

/// A cluster of berth's name that is not (yet) this object's: refused, or
/// adopted.
fn claim_cluster(
    i: &Inputs,
    cluster: &ClusterView,
    tags: &BTreeMap<String, String>,
) -> Option<Plan> {
    let id = i.obj.cluster_identifier();
    let owned = claim(i, &cluster.tags);
    if let Some(p) = refused(
        &owned,
        &format!("RDS cluster {id}"),
        "take it over, or choose another clusterIdentifier",
        "spec.clusterIdentifier",
    ) {
        return Some(p);
    }
    (owned == Ownership::Adopt).then(|| {
        step(
            RdsAction::AdoptCluster {
                arn: cluster.arn.clone(),
                tags: tags.clone(),
            },
            Reason::Creating,
            format!("adopting the existing cluster {id} (spec.adopt: true)"),
        )
    })
}

/// RDS is creating or changing the cluster: nothing else until it is
/// available.
fn cluster_busy(id: &str, cluster: &ClusterView) -> Option<Plan> {
    match cluster.status.as_str() {
        "available" => None,
        "creating" => Some(wait(
            Reason::Creating,
            format!("cluster {id} is being created"),
        )),
        "modifying" | "upgrading" | "resetting-master-credentials" | "backing-up" => Some(wait(
            Reason::Modifying,
            format!(
                "cluster {id} is {}; waiting for it to be available",
                cluster.status
            ),
        )),
        other => Some(wait(
            Reason::Creating,
            format!("cluster {id} is {other}; waiting for it to be available"),
        )),
    }
}

/// The cluster's settings, then its tags, brought to the spec.
fn cluster_drift(
    obj: &AuroraCluster,
    cluster: &ClusterView,
    tags: &BTreeMap<String, String>,
) -> Option<Plan> {
    let id = obj.cluster_identifier();
    let modify = cluster_modify(obj, cluster);
    if !modify.is_empty() {
        // RDS queues a change it cannot apply yet; a second request would
        // stack on it.
        if cluster.pending_modifications {
            return Some(wait(
                Reason::Modifying,
                format!("cluster {id} has pending modifications; waiting before changing it"),
            ));
        }
        let message = format!("applying to cluster {id}: {}", modify.describe());
        return Some(step(
            RdsAction::ModifyCluster(modify),
            Reason::Modifying,
            message,
        ));
    }
    let missing: BTreeMap<String, String> = tags
        .iter()
        .filter(|(k, v)| cluster.tags.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let keys: Vec<&str> = missing.keys().map(String::as_str).collect();
    let message = format!("tagging cluster {id}: {}", keys.join(", "));
    Some(step(
        RdsAction::TagCluster {
            arn: cluster.arn.clone(),
            tags: missing,
        },
        Reason::Modifying,
        message,
    ))
}

/// Everything is as the spec says.
fn available(i: &Inputs) -> Plan {
    let obj = i.obj;
    let id = obj.cluster_identifier();
    let ready = instances_ready(i.observed);
    let message = if proxy_enabled(obj) {
        format!(
            "cluster {id}, {ready} instance(s) and RDS Proxy {} are available",
            proxy_name(obj)
        )
    } else {
        format!("cluster {id} and {ready} instance(s) are available")
    };
    Plan {
        action: RdsAction::Nothing,
        conditions: vec![
            Desired::new(READY, true, Reason::Available, message.clone()),
            Desired::new(PROGRESSING, false, Reason::Available, message),
            not_degraded(),
        ],
        busy: false,
    }
}

pub fn instances_ready(o: &Observed) -> i32 {
    o.instances
        .iter()
        .filter(|i| i.status == "available")
        .count() as i32
}

fn cluster_create(obj: &AuroraCluster, tags: BTreeMap<String, String>) -> ClusterCreate {
    let spec = &obj.spec;
    ClusterCreate {
        id: obj.cluster_identifier(),
        engine: spec.engine.as_aws().into(),
        engine_version: spec.engine_version.clone(),
        database_name: spec.database_name.clone(),
        master_username: spec.master_username.clone(),
        manage_master_user_password: spec.manage_master_user_password,
        iam_auth: spec.iam_authentication,
        serverless_v2: spec
            .serverless_v2
            .as_ref()
            .map(|s| (s.min_capacity, s.max_capacity)),
        storage_encrypted: spec.storage_encrypted,
        backup_retention_days: spec.backup_retention_days,
        deletion_protection: spec.deletion_protection,
        subnet_group: subnet_group_name(obj),
        security_group_ids: spec.security_group_ids.clone(),
        tags,
    }
}

/// The numeric components of an engine version up to the first other one:
/// `16.4` is `[16, 4]`, AWS's `8.0.mysql_aurora.3.08.0` is `[8, 0]`.
fn version_key(v: &str) -> Vec<u64> {
    v.split('.').map_while(|p| p.parse().ok()).collect()
}

/// The settings that differ from the spec. The engine version only when
/// the spec asks for a newer one than RDS reports: AWS applies minor
/// upgrades itself (a version newer than the spec) and berth never
/// reverts them, which RDS could not do anyway.
pub fn cluster_modify(obj: &AuroraCluster, c: &ClusterView) -> ClusterModify {
    let spec = &obj.spec;
    let mut m = ClusterModify::default();
    if let Some(want) = &spec.engine_version {
        let (w, have) = (version_key(want), version_key(&c.engine_version));
        if !have.is_empty() && w > have {
            m.allow_major_version_upgrade = w.first() != have.first();
            m.engine_version = Some(want.clone());
        }
    }
    let want = spec
        .serverless_v2
        .as_ref()
        .map(|s| (s.min_capacity, s.max_capacity));
    if want.is_some() && want != c.serverless_v2 {
        m.serverless_v2 = want;
    }
    if c.backup_retention_days
        .is_some_and(|d| d != spec.backup_retention_days)
    {
        m.backup_retention_days = Some(spec.backup_retention_days);
    }
    if c.deletion_protection != spec.deletion_protection {
        m.deletion_protection = Some(spec.deletion_protection);
    }
    if c.iam_auth != spec.iam_authentication {
        m.iam_auth = Some(spec.iam_authentication);
    }
    if !spec.security_group_ids.is_empty() {
        let mut want = spec.security_group_ids.clone();
        let mut have = c.security_group_ids.clone();
        want.sort();
        have.sort();
        if want != have {
            m.security_group_ids = Some(spec.security_group_ids.clone());
        }
    }
    m
}
