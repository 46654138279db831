//! What berth says after each step: the Event of every RDS mutation and
//! deletion step, from the values the step sends, so that the reconciler
//! only calls RDS and publishes what the plan says.

use kube::runtime::events::EventType;

use super::{what_stays, DeleteStep, RdsAction};
use crate::api::aurora_cluster::AuroraCluster;
use crate::aws::{AwsFailure, FailureKind};

/// One Event: its type, reason, the AWS action it reports and its note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub type_: EventType,
    pub reason: &'static str,
    pub action: &'static str,
    pub note: String,
}

impl Event {
    fn normal(reason: &'static str, action: &'static str, note: String) -> Event {
        Event {
            type_: EventType::Normal,
            reason,
            action,
            note,
        }
    }
}

impl RdsAction {
    /// The Event once RDS has done the action; `None` for `Nothing`.
    pub fn event(&self, obj: &AuroraCluster) -> Option<Event> {
        self.cluster_event(obj)
            .or_else(|| self.member_event(obj))
            .map(|(reason, action, note)| Event::normal(reason, action, note))
    }

    /// The subnet group's and the cluster's steps.
    fn cluster_event(&self, obj: &AuroraCluster) -> Option<(&'static str, &'static str, String)> {
        let id = obj.cluster_identifier();
        Some(match self {
            RdsAction::CreateSubnetGroup {
                name, subnet_ids, ..
            } => (
                "SubnetGroupCreated",
                "CreateDBSubnetGroup",
                format!("created DB subnet group {name} ({})", subnet_ids.join(", ")),
            ),
            RdsAction::CreateCluster(c) => (
                "ClusterCreated",
                "CreateDBCluster",
                format!(
                    "created Aurora cluster {id} ({} {})",
                    obj.spec.engine.as_aws(),
                    c.engine_version.as_deref().unwrap_or("default version")
                ),
            ),
            RdsAction::AdoptCluster { .. } => (
                "Adopted",
                "AddTagsToResource",
                format!("adopted the existing cluster {id} (spec.adopt: true)"),
            ),
            RdsAction::TagCluster { tags, .. } => {
                let keys: Vec<&str> = tags.keys().map(String::as_str).collect();
                (
                    "TagsUpdated",
                    "AddTagsToResource",
                    format!("set tags of cluster {id}: {}", keys.join(", ")),
                )
            }
            RdsAction::ModifyCluster(m) => (
                "ClusterModified",
                "ModifyDBCluster",
                format!("modified cluster {id}: {}", m.describe()),
            ),
            _ => return None,
        })
    }

    /// The steps of the cluster's instances and its proxy.
    fn member_event(&self, obj: &AuroraCluster) -> Option<(&'static str, &'static str, String)> {
        let id = obj.cluster_identifier();
        Some(match self {
            RdsAction::CreateInstance { id: iid, class, .. } => (
                "InstanceCreated",
                "CreateDBInstance",
                format!("created DB instance {iid} ({class}) in cluster {id}"),
            ),
            RdsAction::AdoptInstance { id: iid, .. } => (
                "Adopted",
                "AddTagsToResource",
                format!("adopted DB instance {iid} of cluster {id} (spec.adopt: true)"),
            ),
            RdsAction::ModifyInstance { id: iid, class } => (
                "InstanceModified",
                "ModifyDBInstance",
                format!("changing the class of DB instance {iid} to {class}"),
            ),
            RdsAction::DeleteInstance { id: iid } => (
                "InstanceDeleted",
                "DeleteDBInstance",
                format!(
                    "deleting DB instance {iid} (spec.instances.count {})",
                    obj.spec.instances.count
                ),
            ),
            RdsAction::CreateProxy(p) => (
                "ProxyCreated",
                "CreateDBProxy",
                format!("created RDS Proxy {}", p.name),
            ),
            RdsAction::AdoptProxy { name, .. } => (
                "Adopted",
                "AddTagsToResource",
                format!("adopted the existing RDS Proxy {name} (spec.adopt: true)"),
            ),
            RdsAction::ModifyProxy { name, modify } => (
                "ProxyModified",
                "ModifyDBProxy",
                format!("modified RDS Proxy {name}: {}", modify.describe()),
            ),
            RdsAction::RegisterTarget { proxy, cluster } => (
                "ProxyTargetRegistered",
                "RegisterDBProxyTargets",
                format!("registered cluster {cluster} with RDS Proxy {proxy}"),
            ),
            _ => return None,
        })
    }

    /// The failure when a create finds berth's name taken by a resource
    /// that is not berth's: a human has to choose another name or remove it.
    pub fn name_taken(&self, obj: &AuroraCluster) -> AwsFailure {
        let action = self.event(obj).map_or("", |e| e.action);
        AwsFailure {
            kind: FailureKind::Terminal,
            action: "rds:Create",
            code: Some("AlreadyExists".into()),
            message: format!(
                "{action}: a resource with berth's name for {} exists and is not managed by berth",
                obj.cluster_identifier()
            ),
        }
    }
}

impl DeleteStep {
    /// The Event of the step: a warning naming what stays in AWS for
    /// `Leave`, the deletion berth asked RDS for otherwise; `None` when
    /// the step sends nothing.
    pub fn event(&self) -> Option<Event> {
        let (reason, action, note) = match self {
            DeleteStep::Done | DeleteStep::Wait(_) | DeleteStep::DeletionProtected => return None,
            DeleteStep::Leave(message) => {
                return Some(Event {
                    type_: EventType::Warning,
                    reason: "LeftInAws",
                    action: "Delete",
                    note: message.clone(),
                })
            }
            DeleteStep::LiftDeletionProtection(id) => (
                "ClusterModified",
                "ModifyDBCluster",
                format!(
                    "lifted deletion protection of cluster {id} (spec.deletionProtection: false) to delete it"
                ),
            ),
            DeleteStep::DeleteProxy(name) => (
                "ProxyDeleted",
                "DeleteDBProxy",
                format!("deleting RDS Proxy {name}"),
            ),
            DeleteStep::DeleteInstances(ids) => (
                "InstancesDeleted",
                "DeleteDBInstance",
                format!("deleting DB instance(s) {}", ids.join(", ")),
            ),
            DeleteStep::DeleteCluster { id, final_snapshot } => {
                let how = match final_snapshot {
                    Some(s) => format!("with final snapshot {s}"),
                    None => "without a final snapshot (deletionPolicy Delete)".into(),
                };
                (
                    "ClusterDeleted",
                    "DeleteDBCluster",
                    format!("deleting cluster {id} {how}"),
                )
            }
            DeleteStep::DeleteSubnetGroup(name) => (
                "SubnetGroupDeleted",
                "DeleteDBSubnetGroup",
                format!("deleted DB subnet group {name}"),
            ),
        };
        Some(Event::normal(reason, action, note))
    }
}

/// deletionPolicy Retain: nothing is deleted, and the Event says what stays.
pub fn retained(obj: &AuroraCluster) -> Event {
    Event::normal(
        "Retained",
        "Delete",
        format!("deletionPolicy Retain: {} stays in AWS", what_stays(obj)),
    )
}
