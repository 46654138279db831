//! The AuroraCluster plan: from the spec and what RDS reports to the one
//! next mutation (with its values) and the conditions. Pure: every branch
//! is a table test in `plan_tests.rs`.

use std::collections::BTreeMap;

use crate::api::aurora_cluster::{AuroraCluster, AuroraDeletionPolicy, ProxyIamAuth};
use crate::api::conditions::{not_degraded, Desired, Reason, DEGRADED, PROGRESSING, READY};
use crate::aws::rds::{
    ClusterCreate, ClusterModify, ClusterView, InstanceView, ProxyCreate, ProxyView,
    SubnetGroupView, TargetView,
};
use crate::aws::tags::{TAG_OWNER, TAG_UID};

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
    CreateProxy(Box<ProxyCreate>),
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

pub struct Inputs<'a> {
    pub obj: &'a AuroraCluster,
    pub owner: &'a str,
    pub uid: &'a str,
    pub observed: &'a Observed,
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
    p
}

pub fn deletion_protected_message(obj: &AuroraCluster) -> String {
    format!(
        "deletionPolicy {:?} cannot delete cluster {} while deletionProtection is true; \
         set spec.deletionProtection: false (berth lifts it in RDS) or deletionPolicy: Retain",
        obj.spec.deletion_policy,
        obj.cluster_identifier()
    )
}

fn plan_resources(i: &Inputs) -> Plan {
    let obj = i.obj;
    let spec = &obj.spec;
    let id = obj.cluster_identifier();
    let tags = resource_tags(obj, i.owner, i.uid);
    let o = i.observed;

    let Some(cluster) = &o.cluster else {
        if !spec.subnet_ids.is_empty() && o.subnet_group.is_none() {
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
        return step(
            RdsAction::CreateCluster(Box::new(cluster_create(obj, tags))),
            Reason::Creating,
            format!("creating Aurora cluster {id}"),
        );
    };

    if cluster.tags.get(TAG_OWNER).map(String::as_str) != Some(i.owner) {
        if !spec.adopt {
            let message = format!(
                "RDS cluster {id} already exists and is not managed by berth; set spec.adopt: true \
                 to take it over, or choose another clusterIdentifier"
            );
            return Plan {
                action: RdsAction::Nothing,
                conditions: crate::api::conditions::failed(Reason::AdoptionRequired, message),
                busy: false,
            };
        }
        return step(
            RdsAction::AdoptCluster {
                arn: cluster.arn.clone(),
                tags,
            },
            Reason::Creating,
            format!("adopting the existing cluster {id} (spec.adopt: true)"),
        );
    }

    match cluster.status.as_str() {
        "available" => {}
        "creating" => return wait(Reason::Creating, format!("cluster {id} is being created")),
        "modifying" | "upgrading" | "resetting-master-credentials" | "backing-up" => {
            return wait(
                Reason::Modifying,
                format!(
                    "cluster {id} is {}; waiting for it to be available",
                    cluster.status
                ),
            )
        }
        other => {
            return wait(
                Reason::Creating,
                format!("cluster {id} is {other}; waiting for it to be available"),
            )
        }
    }

    let modify = cluster_modify(obj, cluster);
    if !modify.is_empty() {
        // RDS queues a change it cannot apply yet; a second request would
        // stack on it.
        if cluster.pending_modifications {
            return wait(
                Reason::Modifying,
                format!("cluster {id} has pending modifications; waiting before changing it"),
            );
        }
        let message = format!("applying to cluster {id}: {}", modify.describe());
        return step(RdsAction::ModifyCluster(modify), Reason::Modifying, message);
    }

    let missing: BTreeMap<String, String> = tags
        .iter()
        .filter(|(k, v)| cluster.tags.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !missing.is_empty() {
        let keys: Vec<&str> = missing.keys().map(String::as_str).collect();
        let message = format!("tagging cluster {id}: {}", keys.join(", "));
        return step(
            RdsAction::TagCluster {
                arn: cluster.arn.clone(),
                tags: missing,
            },
            Reason::Modifying,
            message,
        );
    }

    for n in 1..=spec.instances.count {
        let iid = instance_id(obj, n);
        if !o.instances.iter().any(|x| x.id == iid) {
            return step(
                RdsAction::CreateInstance {
                    id: iid.clone(),
                    class: spec.instances.class.clone(),
                    tags,
                },
                Reason::Creating,
                format!("creating DB instance {iid} ({})", spec.instances.class),
            );
        }
    }
    let ready = instances_ready(o);
    if ready < spec.instances.count {
        return wait(
            Reason::Creating,
            format!("{ready} of {} DB instances available", spec.instances.count),
        );
    }

    if let Some(ps) = spec.proxy.as_ref().filter(|p| p.enabled) {
        let name = proxy_name(obj);
        let Some(proxy) = &o.proxy else {
            let Some(secret_arn) = cluster.master_user_secret_arn.clone() else {
                return wait(
                    Reason::Creating,
                    format!("waiting for RDS to report the master user secret of {id}"),
                );
            };
            let subnet_ids = if !ps.subnet_ids.is_empty() {
                ps.subnet_ids.clone()
            } else if !spec.subnet_ids.is_empty() {
                spec.subnet_ids.clone()
            } else {
                o.subnet_group
                    .as_ref()
                    .map(|g| g.subnet_ids.clone())
                    .unwrap_or_default()
            };
            let security_group_ids = if ps.security_group_ids.is_empty() {
                spec.security_group_ids.clone()
            } else {
                ps.security_group_ids.clone()
            };
            return step(
                RdsAction::CreateProxy(Box::new(ProxyCreate {
                    name: name.clone(),
                    engine_family: spec.engine.proxy_family().into(),
                    require_tls: ps.require_tls,
                    iam_auth_required: ps.iam_auth == ProxyIamAuth::Required,
                    idle_client_timeout: ps.idle_client_timeout,
                    role_arn: ps.role_arn.clone(),
                    subnet_ids,
                    security_group_ids,
                    secret_arn,
                    tags,
                })),
                Reason::Creating,
                format!("creating RDS Proxy {name}"),
            );
        };
        if proxy.status != "available" {
            return wait(
                Reason::Creating,
                format!("RDS Proxy {name} is {}", proxy.status),
            );
        }
        let Some(target) = &o.target else {
            return step(
                RdsAction::RegisterTarget {
                    proxy: name.clone(),
                    cluster: id.clone(),
                },
                Reason::Creating,
                format!("registering cluster {id} as the target of RDS Proxy {name}"),
            );
        };
        if target.state != "AVAILABLE" {
            let why = target
                .description
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            return wait(
                Reason::Creating,
                format!(
                    "RDS Proxy {name}: target {} is {}{why}",
                    target.cluster_id, target.state
                ),
            );
        }
    }

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

/// The settings that differ from the spec. The engine version is not
/// among them: AWS applies minor upgrades itself and berth never reverts
/// them.
pub fn cluster_modify(obj: &AuroraCluster, c: &ClusterView) -> ClusterModify {
    let spec = &obj.spec;
    let mut m = ClusterModify::default();
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

/// One deletion step (policy Snapshot/Delete): proxy, instances, cluster,
/// subnet group, each only after the previous is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeleteStep {
    /// Everything is gone: release the finalizer.
    Done,
    /// Something is being deleted: look again later.
    Wait(String),
    DeletionProtected,
    /// The spec no longer asks for deletion protection: lift it in RDS
    /// so that the cluster can be deleted.
    LiftDeletionProtection(String),
    DeleteProxy(String),
    DeleteInstances(Vec<String>),
    DeleteCluster {
        id: String,
        final_snapshot: Option<String>,
    },
    DeleteSubnetGroup(String),
}

impl DeleteStep {
    /// What berth waits for after this step, for logs.
    pub fn waiting_for(&self) -> String {
        match self {
            DeleteStep::Done => "nothing".into(),
            DeleteStep::Wait(what) => what.clone(),
            DeleteStep::DeletionProtected => {
                "spec.deletionProtection: false before deleting the cluster".into()
            }
            DeleteStep::LiftDeletionProtection(id) => {
                format!("RDS to lift deletion protection of cluster {id}")
            }
            DeleteStep::DeleteProxy(name) => format!("RDS Proxy {name} to be deleted"),
            DeleteStep::DeleteInstances(ids) => {
                format!("DB instance(s) {} to be deleted", ids.join(", "))
            }
            DeleteStep::DeleteCluster { id, .. } => format!("cluster {id} to be deleted"),
            DeleteStep::DeleteSubnetGroup(name) => format!("DB subnet group {name} to be deleted"),
        }
    }
}

pub fn delete_step(obj: &AuroraCluster, o: &Observed, owner: &str) -> DeleteStep {
    let id = obj.cluster_identifier();
    let ours = |c: &ClusterView| c.tags.get(TAG_OWNER).map(String::as_str) == Some(owner);
    // Before anything is deleted: a half-deleted database (proxy gone,
    // cluster protected) would serve no one.
    if let Some(c) = o
        .cluster
        .as_ref()
        .filter(|c| ours(c) && c.deletion_protection)
    {
        if obj.spec.deletion_protection {
            return DeleteStep::DeletionProtected;
        }
        if c.status == "available" {
            return DeleteStep::LiftDeletionProtection(id);
        }
        return DeleteStep::Wait(format!("cluster {id} is {}", c.status));
    }
    if let Some(p) = &o.proxy {
        if p.status == "deleting" {
            return DeleteStep::Wait(format!("RDS Proxy {} is being deleted", p.name));
        }
        return DeleteStep::DeleteProxy(p.name.clone());
    }
    let Some(cluster) = &o.cluster else {
        return match (&o.subnet_group, obj.spec.subnet_ids.is_empty()) {
            (Some(g), false) => DeleteStep::DeleteSubnetGroup(g.name.clone()),
            _ => DeleteStep::Done,
        };
    };
    // Never delete someone else's cluster.
    if !ours(cluster) {
        return DeleteStep::Done;
    }
    let live: Vec<String> = o
        .instances
        .iter()
        .filter(|i| i.status != "deleting")
        .map(|i| i.id.clone())
        .collect();
    if !live.is_empty() {
        return DeleteStep::DeleteInstances(live);
    }
    if !o.instances.is_empty() {
        return DeleteStep::Wait(format!(
            "{} DB instance(s) of {id} are being deleted",
            o.instances.len()
        ));
    }
    match cluster.status.as_str() {
        "deleting" => return DeleteStep::Wait(format!("cluster {id} is being deleted")),
        // RDS refuses to delete a cluster in the middle of a change.
        s @ ("creating" | "modifying" | "upgrading" | "backing-up") => {
            return DeleteStep::Wait(format!("cluster {id} is {s}"))
        }
        _ => {}
    }
    let final_snapshot = (obj.spec.deletion_policy == AuroraDeletionPolicy::Snapshot)
        .then(|| format!("{id}-final-{}", short_uid(obj)));
    DeleteStep::DeleteCluster { id, final_snapshot }
}

/// Distinguishes the final snapshots of clusters re-created under one name.
fn short_uid(obj: &AuroraCluster) -> String {
    obj.metadata
        .uid
        .as_deref()
        .unwrap_or("0")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase()
}
