//! The cluster's instances: adopt, create up to `spec.instances.count`,
//! remove down to it (one per step, newest first, never the writer while
//! readers remain), then change their class one at a time.

use std::collections::BTreeMap;

use super::{claim, instance_id, refused, step, wait, Inputs, Plan, RdsAction};
use crate::api::aurora_cluster::AuroraCluster;
use crate::api::conditions::Reason;
use crate::aws::rds::{ClusterView, InstanceView};
use crate::controller::ownership::Ownership;

/// `N` of berth's instance `{clusterIdentifier}-N`.
pub fn instance_number(obj: &AuroraCluster, instance: &str) -> Option<i32> {
    instance
        .strip_prefix(&obj.cluster_identifier())?
        .strip_prefix('-')?
        .parse()
        .ok()
        .filter(|n| *n > 0)
}

/// Statuses in which RDS is changing the instance: berth waits instead of
/// deleting or modifying it.
fn transitional(status: &str) -> bool {
    matches!(
        status,
        "creating"
            | "modifying"
            | "upgrading"
            | "backing-up"
            | "rebooting"
            | "renaming"
            | "starting"
            | "stopping"
            | "maintenance"
            | "resetting-master-credentials"
            | "storage-optimization"
    ) || status.starts_with("configuring-")
}

pub(super) fn plan_instances(
    i: &Inputs,
    id: &str,
    cluster: &ClusterView,
    tags: &BTreeMap<String, String>,
) -> Option<Plan> {
    let o = i.observed;
    let want = i.obj.spec.instances.count;
    if let Some(p) = adopt_instance(i, id, tags) {
        return Some(p);
    }
    let live: Vec<&InstanceView> = o
        .instances
        .iter()
        .filter(|x| x.status != "deleting")
        .collect();
    let count = live.len() as i32;
    if count < want {
        return Some(add_instance(i, count, tags));
    }
    // One removal at a time, each waited on until RDS reports it gone.
    if let Some(x) = o.instances.iter().find(|x| x.status == "deleting") {
        return Some(wait(
            Reason::Modifying,
            format!("DB instance {} is being deleted", x.id),
        ));
    }
    if count > want {
        return Some(scale_down(
            i.obj,
            id,
            &live,
            cluster.writer.as_deref(),
            want,
        ));
    }
    not_ready(&live, want).or_else(|| change_class(cluster, &live, &i.obj.spec.instances.class))
}

/// An adopted cluster's instances count toward spec.instances.count;
/// one added by hand to berth's cluster is adopted the same way.
fn adopt_instance(i: &Inputs, id: &str, tags: &BTreeMap<String, String>) -> Option<Plan> {
    let (x, owned) = i
        .observed
        .instances
        .iter()
        .filter(|x| x.status != "deleting")
        .map(|x| (x, claim(i, &x.tags)))
        .find(|(_, owned)| *owned != Ownership::Ours)?;
    if let Some(p) = refused(
        &owned,
        &format!("DB instance {} of cluster {id}", x.id),
        "take it over (it then counts toward spec.instances.count), or delete it",
        "spec.clusterIdentifier",
    ) {
        return Some(p);
    }
    Some(step(
        RdsAction::AdoptInstance {
            id: x.id.clone(),
            arn: x.arn.clone(),
            tags: tags.clone(),
        },
        Reason::Creating,
        format!(
            "adopting DB instance {} of cluster {id} (spec.adopt: true)",
            x.id
        ),
    ))
}

/// Fewer than `spec.instances.count` live instances (`count`): create the
/// next one.
fn add_instance(i: &Inputs, count: i32, tags: &BTreeMap<String, String>) -> Plan {
    let obj = i.obj;
    let want = obj.spec.instances.count;
    let class = &obj.spec.instances.class;
    // The lowest free number: with fewer instances than wanted one of
    // 1..=want is free unless a deleting instance still holds it.
    let free = (1..=want)
        .map(|n| instance_id(obj, n))
        .find(|n| !i.observed.instances.iter().any(|x| x.id == *n));
    match free {
        Some(iid) => step(
            RdsAction::CreateInstance {
                id: iid.clone(),
                class: class.clone(),
                tags: tags.clone(),
            },
            Reason::Creating,
            format!("creating DB instance {iid} ({class})"),
        ),
        None => wait(
            Reason::Creating,
            format!(
                "{count} of {want} DB instances; waiting for the deleted ones to be gone \
                 before creating another"
            ),
        ),
    }
}

/// Waits for every live instance to be available.
fn not_ready(live: &[&InstanceView], want: i32) -> Option<Plan> {
    let not_ready: Vec<&&InstanceView> = live.iter().filter(|x| x.status != "available").collect();
    if not_ready.is_empty() {
        return None;
    }
    let reason = if not_ready.iter().any(|x| x.status == "creating") {
        Reason::Creating
    } else {
        Reason::Modifying
    };
    let list: Vec<String> = not_ready
        .iter()
        .map(|x| format!("{} is {}", x.id, x.status))
        .collect();
    let ready = live.len() as i32 - not_ready.len() as i32;
    Some(wait(
        reason,
        format!(
            "{ready} of {want} DB instances available ({})",
            list.join(", ")
        ),
    ))
}

/// Every instance is available: change the class of one, readers before
/// the writer so that the cluster keeps accepting writes the longest.
fn change_class(cluster: &ClusterView, live: &[&InstanceView], class: &str) -> Option<Plan> {
    let mut drifted: Vec<&&InstanceView> = live
        .iter()
        .filter(|x| x.class != class && x.pending_class.as_deref() != Some(class))
        .collect();
    drifted.sort_by_key(|x| {
        (
            cluster.writer.as_deref() == Some(x.id.as_str()),
            x.id.clone(),
        )
    });
    let x = drifted.first()?;
    Some(step(
        RdsAction::ModifyInstance {
            id: x.id.clone(),
            class: class.to_string(),
        },
        Reason::Modifying,
        format!(
            "changing the class of DB instance {} from {} to {class}",
            x.id, x.class
        ),
    ))
}

/// Deletes the newest instance: berth's highest-numbered first, instances
/// of other names (adopted ones, older than berth's) last; never the
/// writer while a reader remains.
fn scale_down(
    obj: &AuroraCluster,
    id: &str,
    live: &[&InstanceView],
    writer: Option<&str>,
    want: i32,
) -> Plan {
    let count = live.len();
    let Some(writer) = writer else {
        return wait(
            Reason::Modifying,
            format!(
                "RDS reports no writer for cluster {id} (failing over?); waiting before removing \
                 one of its {count} instances"
            ),
        );
    };
    let mut order: Vec<&InstanceView> = live.to_vec();
    order.sort_by_key(|x| {
        std::cmp::Reverse((instance_number(obj, &x.id).unwrap_or(0), x.id.clone()))
    });
    let victim = order
        .into_iter()
        .find(|x| count == 1 || x.id != writer)
        .expect("with two or more instances one is a reader");
    if transitional(&victim.status) {
        return wait(
            Reason::Modifying,
            format!(
                "DB instance {} is {}; removing it once RDS has finished",
                victim.id, victim.status
            ),
        );
    }
    step(
        RdsAction::DeleteInstance {
            id: victim.id.clone(),
        },
        Reason::Modifying,
        format!(
            "deleting DB instance {} (spec.instances.count {want}, {count} running)",
            victim.id
        ),
    )
}
