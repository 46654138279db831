//! Deletion (policy Snapshot/Delete): proxy, instances, cluster, subnet
//! group, each only after RDS reports the previous gone, and only what
//! carries berth's owner tag.

use super::{proxy_is_ours, Observed};
use crate::api::aurora_cluster::{AuroraCluster, AuroraDeletionPolicy};
use crate::aws::rds::{ClusterModify, ClusterView, InstanceView};
use crate::aws::tags::TAG_OWNER;

/// One deletion step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeleteStep {
    /// Everything is gone: release the finalizer.
    Done,
    /// berth deleted what is its own; the rest (named in the message)
    /// stays in AWS. Release the finalizer with a warning.
    Leave(String),
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
    /// What the deletion waits for after this step, in a clause the
    /// status shows ("deleting DB instance(s) orders-db-1").
    pub fn waiting_for(&self) -> String {
        match self {
            DeleteStep::Done | DeleteStep::Leave(_) => "nothing".into(),
            DeleteStep::Wait(what) => what.clone(),
            DeleteStep::DeletionProtected => {
                "spec.deletionProtection: false before deleting the cluster".into()
            }
            DeleteStep::LiftDeletionProtection(id) => {
                format!("lifting the deletion protection of cluster {id}")
            }
            DeleteStep::DeleteProxy(name) => format!("deleting RDS Proxy {name}"),
            DeleteStep::DeleteInstances(ids) => {
                format!("deleting DB instance(s) {}", ids.join(", "))
            }
            DeleteStep::DeleteCluster {
                id,
                final_snapshot: Some(snapshot),
            } => format!("deleting cluster {id} (final snapshot {snapshot})"),
            DeleteStep::DeleteCluster { id, .. } => format!("deleting cluster {id}"),
            DeleteStep::DeleteSubnetGroup(name) => format!("deleting DB subnet group {name}"),
        }
    }
}

fn owned(tags: &std::collections::BTreeMap<String, String>, owner: &str) -> bool {
    tags.get(TAG_OWNER).map(String::as_str) == Some(owner)
}

/// What a deletion that stops early leaves in AWS.
pub fn what_stays(obj: &AuroraCluster) -> String {
    format!(
        "cluster {} with its instances, proxy and subnet group",
        obj.cluster_identifier()
    )
}

/// The one change `LiftDeletionProtection` sends.
pub fn lift_deletion_protection() -> ClusterModify {
    ClusterModify {
        deletion_protection: Some(false),
        ..Default::default()
    }
}

pub fn delete_step(obj: &AuroraCluster, o: &Observed, owner: &str) -> DeleteStep {
    let id = obj.cluster_identifier();
    // Before anything is deleted: a half-deleted database (proxy gone,
    // cluster protected) would serve no one.
    if let Some(step) = protection_step(obj, o, owner) {
        return step;
    }
    // Never someone else's proxy, whatever the policy.
    if let Some(p) = o.proxy.as_ref().filter(|p| proxy_is_ours(p, owner)) {
        if p.status == "deleting" {
            return DeleteStep::Wait(format!("RDS Proxy {} is being deleted", p.name));
        }
        return DeleteStep::DeleteProxy(p.name.clone());
    }
    let Some(cluster) = &o.cluster else {
        return subnet_group_step(obj, o, owner);
    };
    // Never delete someone else's cluster; say whose it is when berth's
    // tags name another object.
    if !owned(&cluster.tags, owner) {
        return match cluster.tags.get(TAG_OWNER) {
            Some(other) => DeleteStep::Leave(format!(
                "cluster {id} belongs to {other} by its berth.dev/owner tag, so berth leaves it, \
                 its instances and its subnet group in AWS"
            )),
            None => DeleteStep::Done,
        };
    }
    instances_step(&id, &o.instances, owner).unwrap_or_else(|| cluster_step(obj, cluster))
}

/// berth's cluster is protected: lifted once the spec no longer asks for
/// it and RDS can change the cluster.
fn protection_step(obj: &AuroraCluster, o: &Observed, owner: &str) -> Option<DeleteStep> {
    let c = o
        .cluster
        .as_ref()
        .filter(|c| owned(&c.tags, owner) && c.deletion_protection)?;
    let id = obj.cluster_identifier();
    Some(if obj.spec.deletion_protection {
        DeleteStep::DeletionProtected
    } else if c.status == "available" {
        DeleteStep::LiftDeletionProtection(id)
    } else {
        DeleteStep::Wait(format!("cluster {id} is {}", c.status))
    })
}

/// The cluster is gone: berth's own subnet group (made from `subnetIds`)
/// goes last.
fn subnet_group_step(obj: &AuroraCluster, o: &Observed, owner: &str) -> DeleteStep {
    match &o.subnet_group {
        Some(g)
            if !obj.spec.subnet_ids.is_empty()
                && g.tags.as_ref().is_some_and(|t| owned(t, owner)) =>
        {
            DeleteStep::DeleteSubnetGroup(g.name.clone())
        }
        _ => DeleteStep::Done,
    }
}

/// berth's instances go before the cluster; instances berth does not
/// manage keep it, since RDS refuses to delete a cluster that still has
/// instances. `None` once no instance is left.
fn instances_step(id: &str, instances: &[InstanceView], owner: &str) -> Option<DeleteStep> {
    let (mine, foreign): (Vec<_>, Vec<_>) = instances.iter().partition(|i| owned(&i.tags, owner));
    let live: Vec<String> = mine
        .iter()
        .filter(|i| i.status != "deleting")
        .map(|i| i.id.clone())
        .collect();
    if !live.is_empty() {
        return Some(DeleteStep::DeleteInstances(live));
    }
    if !mine.is_empty() {
        let ids: Vec<&str> = mine.iter().map(|i| i.id.as_str()).collect();
        return Some(DeleteStep::Wait(format!(
            "DB instance(s) {} of cluster {id} are being deleted",
            ids.join(", ")
        )));
    }
    let kept: Vec<&str> = foreign
        .iter()
        .filter(|i| i.status != "deleting")
        .map(|i| i.id.as_str())
        .collect();
    if !kept.is_empty() {
        return Some(DeleteStep::Leave(format!(
            "cluster {id} keeps DB instance(s) {} that berth does not manage, so berth leaves \
             the cluster and its subnet group in AWS",
            kept.join(", ")
        )));
    }
    if !foreign.is_empty() {
        let ids: Vec<&str> = foreign.iter().map(|i| i.id.as_str()).collect();
        return Some(DeleteStep::Wait(format!(
            "DB instance(s) {} of cluster {id} are being deleted",
            ids.join(", ")
        )));
    }
    None
}

/// berth's cluster without instances: deleted (with the final snapshot
/// the policy asks for) once RDS is not changing it.
fn cluster_step(obj: &AuroraCluster, cluster: &ClusterView) -> DeleteStep {
    let id = obj.cluster_identifier();
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
