//! Reconciliation of `AuroraCluster`: validate, observe RDS, plan the one
//! next mutation, act (an Event each), write the connection Secret (only
//! into a Secret berth created for this object) and one status. Every step
//! AWS takes minutes for is waited on by requeue.

pub mod connection_secret;
pub mod plan;
#[cfg(test)]
mod plan_tests;
#[cfg(test)]
mod plan_tests_delete;
#[cfg(test)]
mod plan_tests_instances;
#[cfg(test)]
mod plan_tests_proxy;
#[cfg(test)]
mod plan_tests_states;
#[cfg(test)]
pub(crate) use plan_tests_states::rows as states;

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use super::context::{is_paused, Context};
use super::error::{Error, Result};
use super::ownership;
use super::shell::{self, Deleted, Kind, Outcome, Target};
use crate::api::aurora_cluster::{AuroraCluster, AuroraClusterStatus, AuroraDeletionPolicy};
use crate::api::roles::PassesRoles;
use crate::aws::rds::{self, Created};
use crate::aws::tags::owner_of;
use crate::aws::{AwsFailure, Clients};
use connection_secret::Written;
use plan::{DeleteStep, Observed, RdsAction};

impl Kind for AuroraCluster {
    type Status = AuroraClusterStatus;

    fn status(&self) -> Option<&AuroraClusterStatus> {
        self.status.as_ref()
    }

    fn invalid(&self) -> Option<String> {
        self.validate().err().map(|e| e.to_string())
    }

    fn failure(&self, f: &AwsFailure) -> Option<Outcome<AuroraClusterStatus>> {
        plan::failure(f)
    }

    async fn converge(
        &self,
        ctx: &Context,
        target: &Target<'_>,
        prev: &AuroraClusterStatus,
    ) -> Result<Outcome<AuroraClusterStatus>> {
        let clients = target.clients(&self.passed_roles()).await?;
        converge(self, ctx, &clients, prev).await
    }

    fn left_in_aws(&self) -> Option<String> {
        Some(plan::what_stays(self))
    }

    fn retained(&self) -> Option<(&'static str, String)> {
        let retain = self.spec.deletion_policy == AuroraDeletionPolicy::Retain;
        retain
            .then(|| plan::retained(self))
            .map(|e| (e.reason, e.note))
    }

    async fn delete(&self, ctx: &Context, clients: &Arc<Clients>) -> Result<Deleted> {
        delete(self, ctx, clients).await
    }
}

/// Reads what RDS has for the object; each describe only when the plan
/// can use it. `known_proxy`: the proxy ARN status records as berth's,
/// whose tags need no listing; deleting, every tag is listed.
async fn observe(
    obj: &AuroraCluster,
    clients: &Clients,
    deleting: bool,
    known_proxy: Option<&str>,
) -> Result<Observed> {
    let id = obj.cluster_identifier();
    let owner = owner_of(obj);
    let mut o = Observed {
        cluster: rds::describe_cluster(clients, &id).await?,
        ..Default::default()
    };
    if o.cluster.is_some() {
        o.instances = rds::describe_instances(clients, &id).await?;
    }
    if plan::proxy_enabled(obj) || deleting {
        o.proxy = rds::describe_proxy(clients, &plan::proxy_name(obj), |arn| {
            deleting || known_proxy != Some(arn)
        })
        .await?;
    }
    if o.proxy
        .as_ref()
        .is_some_and(|p| p.status == "available" && plan::proxy_is_ours(p, &owner))
        && !deleting
    {
        o.target = rds::describe_proxy_target(clients, &plan::proxy_name(obj)).await?;
    }
    // Before the cluster exists (berth creates it first), or when the proxy
    // takes its subnets from an existing group, or to delete berth's group.
    let proxy_needs_group = plan::proxy_enabled(obj)
        && o.proxy.is_none()
        && obj.spec.subnet_ids.is_empty()
        && obj
            .spec
            .proxy
            .as_ref()
            .is_some_and(|p| p.subnet_ids.is_empty());
    if o.cluster.is_none() || proxy_needs_group {
        if let Some(name) = plan::subnet_group_name(obj) {
            o.subnet_group = rds::describe_subnet_group(clients, &name).await?;
        }
    }
    // Only a group carrying berth's owner tag is deleted.
    if deleting {
        if let Some(g) = o.subnet_group.as_mut() {
            g.tags = Some(rds::list_tags(clients, &g.arn).await?);
        }
    }
    Ok(o)
}

/// Which AuroraClusters named by the berth tags of the observed cluster,
/// instances and proxy (other than `obj`) still exist.
async fn owners(ctx: &Context, obj: &AuroraCluster, o: &Observed) -> Result<ownership::Owners> {
    let (owner, uid) = (owner_of(obj), obj.metadata.uid.clone().unwrap_or_default());
    let me = ownership::Claimant::new(&owner, &uid, obj.spec.adopt);
    let tags = o
        .cluster
        .iter()
        .map(|c| &c.tags)
        .chain(o.instances.iter().map(|i| &i.tags))
        .chain(o.proxy.iter().filter_map(|p| p.tags.as_ref()));
    let others: Vec<String> = tags
        .filter_map(|t| ownership::other_owner(t, &me))
        .map(str::to_string)
        .collect();
    ownership::observe::<AuroraCluster>(ctx, None, others).await
}

async fn converge(
    obj: &AuroraCluster,
    ctx: &Context,
    clients: &Clients,
    prev: &AuroraClusterStatus,
) -> Result<Outcome<AuroraClusterStatus>> {
    let (owner, uid) = (owner_of(obj), obj.metadata.uid.clone().unwrap_or_default());
    let observed = observe(obj, clients, false, prev.proxy_arn.as_deref()).await?;
    let owners = owners(ctx, obj, &observed).await?;
    let inputs = plan::Inputs {
        obj,
        owner: &owner,
        uid: &uid,
        observed: &observed,
        owners: &owners,
        paused: is_paused(obj.annotations()),
    };
    let p = plan::plan(&inputs);
    act(obj, ctx, clients, &p.action).await?;

    let now = Timestamp::now();
    let mut next = plan::status(&inputs, prev, &p, false, now);
    if plan::writes_secret(&inputs, prev, &next) {
        let written = connection_secret::write(obj, ctx, &next).await?;
        if written == Some(Written::NotOurs) {
            next = plan::status(&inputs, prev, &p, true, now);
        }
    }
    shell::announce(obj, ctx, &prev.conditions, &next.conditions, "Reconcile").await;
    let then = p.then();
    Ok(Outcome::status(next, then))
}

/// Sends the plan's one mutation and publishes the plan's Event for it.
async fn act(
    obj: &AuroraCluster,
    ctx: &Context,
    clients: &Clients,
    action: &RdsAction,
) -> Result<()> {
    let id = obj.cluster_identifier();
    let engine = obj.spec.engine.as_aws();
    let created = match action {
        RdsAction::Nothing => return Ok(()),
        RdsAction::CreateSubnetGroup {
            name,
            subnet_ids,
            tags,
        } => rds::create_subnet_group(clients, name, subnet_ids, tags).await?,
        RdsAction::CreateCluster(c) => rds::create_cluster(clients, c).await?,
        RdsAction::AdoptCluster { arn, tags }
        | RdsAction::TagCluster { arn, tags }
        | RdsAction::AdoptInstance { arn, tags, .. }
        | RdsAction::AdoptProxy { arn, tags, .. } => {
            rds::add_tags(clients, arn, tags).await?;
            Created::Created
        }
        RdsAction::ModifyCluster(m) => {
            rds::modify_cluster(clients, &id, m).await?;
            Created::Created
        }
        RdsAction::CreateInstance {
            id: iid,
            class,
            tags,
        } => rds::create_instance(clients, iid, &id, engine, class, tags).await?,
        RdsAction::ModifyInstance { id: iid, class } => {
            rds::modify_instance(clients, iid, class).await?;
            Created::Created
        }
        RdsAction::DeleteInstance { id: iid } => {
            rds::delete_instance(clients, iid).await?;
            Created::Created
        }
        RdsAction::CreateProxy(p) => rds::create_proxy(clients, p).await?,
        RdsAction::ModifyProxy { name, modify } => {
            rds::modify_proxy(clients, name, modify).await?;
            Created::Created
        }
        RdsAction::RegisterTarget { proxy, cluster } => {
            rds::register_proxy_target(clients, proxy, cluster).await?;
            Created::Created
        }
    };
    match created {
        Created::Created => publish(obj, ctx, action.event(obj)).await,
        // A create whose response was lost: already done.
        Created::AlreadyOurs => {}
        Created::Foreign => return Err(Error::Aws(action.name_taken(obj))),
    }
    Ok(())
}

async fn publish(obj: &AuroraCluster, ctx: &Context, event: Option<plan::Event>) {
    if let Some(e) = event {
        ctx.event(obj, e.type_, e.reason, e.action, e.note).await;
    }
}

/// One deletion step per look, in the order RDS allows.
async fn delete(obj: &AuroraCluster, ctx: &Context, clients: &Clients) -> Result<Deleted> {
    let observed = observe(obj, clients, true, None).await?;
    let step = plan::delete_step(obj, &observed, &owner_of(obj));
    match &step {
        DeleteStep::Done => return Ok(Deleted::Gone),
        DeleteStep::Leave(_) => {
            publish(obj, ctx, step.event()).await;
            return Ok(Deleted::Gone);
        }
        DeleteStep::Wait(_) => return Ok(Deleted::Waiting(step.waiting_for())),
        DeleteStep::DeletionProtected => {
            return Ok(Deleted::Refused(plan::deletion_protected(obj)));
        }
        DeleteStep::LiftDeletionProtection(id) => {
            rds::modify_cluster(clients, id, &plan::lift_deletion_protection()).await?;
        }
        DeleteStep::DeleteProxy(name) => {
            rds::delete_proxy(clients, name).await?;
        }
        DeleteStep::DeleteInstances(ids) => {
            for iid in ids {
                rds::delete_instance(clients, iid).await?;
            }
        }
        DeleteStep::DeleteCluster { id, final_snapshot } => {
            rds::delete_cluster(clients, id, final_snapshot.as_deref()).await?;
        }
        DeleteStep::DeleteSubnetGroup(name) => {
            rds::delete_subnet_group(clients, name).await?;
        }
    }
    publish(obj, ctx, step.event()).await;
    // The finalizer stays until the next look finds everything gone.
    Ok(Deleted::Waiting(step.waiting_for()))
}
