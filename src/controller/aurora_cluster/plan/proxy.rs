//! The RDS Proxy: create or adopt it, keep its settings as the spec says
//! (ModifyDBProxy, only while it is available), register the cluster as
//! its target and wait for the target to be healthy.

use std::collections::BTreeMap;

use super::{claim, proxy_name, refused, step, wait, Inputs, Plan, RdsAction};
use crate::api::aurora_cluster::{AuroraCluster, ProxyIamAuth, ProxySpec};
use crate::api::conditions::Reason;
use crate::aws::rds::{ClusterView, ProxyCreate, ProxyModify, ProxyView};
use crate::aws::tags::TAG_OWNER;
use crate::controller::ownership::Ownership;

/// Is the proxy berth's? Its tags carry the owner, or were not listed
/// because `status.proxyArn` already names this proxy.
pub fn proxy_is_ours(p: &ProxyView, owner: &str) -> bool {
    p.tags
        .as_ref()
        .is_none_or(|t| t.get(TAG_OWNER).map(String::as_str) == Some(owner))
}

fn security_groups(obj: &AuroraCluster, ps: &ProxySpec) -> Vec<String> {
    if ps.security_group_ids.is_empty() {
        obj.spec.security_group_ids.clone()
    } else {
        ps.security_group_ids.clone()
    }
}

fn iam_auth(ps: &ProxySpec) -> &'static str {
    match ps.iam_auth {
        ProxyIamAuth::Required => "REQUIRED",
        ProxyIamAuth::Disabled => "DISABLED",
    }
}

/// The settings ModifyDBProxy can change that differ from the spec.
pub fn proxy_modify(obj: &AuroraCluster, ps: &ProxySpec, p: &ProxyView) -> ProxyModify {
    let mut m = ProxyModify::default();
    if p.require_tls != ps.require_tls {
        m.require_tls = Some(ps.require_tls);
    }
    if p.idle_client_timeout
        .is_some_and(|t| t != ps.idle_client_timeout)
    {
        m.idle_client_timeout = Some(ps.idle_client_timeout);
    }
    if p.role_arn != ps.role_arn {
        m.role_arn = Some(ps.role_arn.clone());
    }
    let want = security_groups(obj, ps);
    if !want.is_empty() {
        let (mut w, mut have) = (want.clone(), p.security_group_ids.clone());
        w.sort();
        have.sort();
        if w != have {
            m.security_group_ids = Some(want);
        }
    }
    // Auth replaces the whole list: keep every entry (an adopted proxy may
    // log in as other users too), with the IAM mode the spec asks for.
    let mode = iam_auth(ps);
    if p.auth.iter().any(|a| a.iam_auth != mode) {
        m.auth = Some(
            p.auth
                .iter()
                .map(|a| {
                    let mut a = a.clone();
                    a.iam_auth = mode.to_string();
                    a
                })
                .collect(),
        );
    }
    m
}

pub(super) fn plan_proxy(
    i: &Inputs,
    ps: &ProxySpec,
    cluster: &ClusterView,
    tags: BTreeMap<String, String>,
) -> Option<Plan> {
    let Some(proxy) = &i.observed.proxy else {
        return Some(create_proxy(i, ps, cluster, tags));
    };
    if let Some(p) = claim_proxy(i, proxy, tags) {
        return Some(p);
    }
    let name = proxy_name(i.obj);
    if proxy.status != "available" {
        let reason = if proxy.status == "modifying" {
            Reason::Modifying
        } else {
            Reason::Creating
        };
        return Some(wait(
            reason,
            format!("RDS Proxy {name} is {}", proxy.status),
        ));
    }
    let modify = proxy_modify(i.obj, ps, proxy);
    if !modify.is_empty() {
        let message = format!("applying to RDS Proxy {name}: {}", modify.describe());
        return Some(step(
            RdsAction::ModifyProxy { name, modify },
            Reason::Modifying,
            message,
        ));
    }
    plan_target(i, &name, &cluster.id)
}

/// The proxy once RDS reports the master user secret it logs in with.
fn create_proxy(
    i: &Inputs,
    ps: &ProxySpec,
    cluster: &ClusterView,
    tags: BTreeMap<String, String>,
) -> Plan {
    let (obj, spec) = (i.obj, &i.obj.spec);
    let name = proxy_name(obj);
    let Some(secret_arn) = cluster.master_user_secret_arn.clone() else {
        return wait(
            Reason::Creating,
            format!(
                "waiting for RDS to report the master user secret of {}",
                cluster.id
            ),
        );
    };
    let subnet_ids = if !ps.subnet_ids.is_empty() {
        ps.subnet_ids.clone()
    } else if !spec.subnet_ids.is_empty() {
        spec.subnet_ids.clone()
    } else {
        i.observed
            .subnet_group
            .as_ref()
            .map(|g| g.subnet_ids.clone())
            .unwrap_or_default()
    };
    step(
        RdsAction::CreateProxy(Box::new(ProxyCreate {
            name: name.clone(),
            engine_family: spec.engine.proxy_family().into(),
            require_tls: ps.require_tls,
            iam_auth_required: ps.iam_auth == ProxyIamAuth::Required,
            idle_client_timeout: ps.idle_client_timeout,
            role_arn: ps.role_arn.clone(),
            subnet_ids,
            security_group_ids: security_groups(obj, ps),
            secret_arn,
            tags,
        })),
        Reason::Creating,
        format!("creating RDS Proxy {name}"),
    )
}

/// A proxy of berth's name that is not (yet) this object's: refused, or
/// adopted.
fn claim_proxy(i: &Inputs, proxy: &ProxyView, tags: BTreeMap<String, String>) -> Option<Plan> {
    let name = proxy_name(i.obj);
    // Tags not listed: status.proxyArn already names this proxy as berth's.
    let owned = proxy.tags.as_ref().map_or(Ownership::Ours, |t| claim(i, t));
    if let Some(p) = refused(
        &owned,
        &format!("RDS Proxy {name}"),
        "take it over, or delete it",
        "spec.clusterIdentifier (the proxy is named after it)",
    ) {
        return Some(p);
    }
    (owned == Ownership::Adopt).then(|| {
        step(
            RdsAction::AdoptProxy {
                name: name.clone(),
                arn: proxy.arn.clone(),
                tags,
            },
            Reason::Creating,
            format!("adopting the existing RDS Proxy {name} (spec.adopt: true)"),
        )
    })
}

/// The cluster registered as the proxy's target, and waited on until RDS
/// reports the target available.
fn plan_target(i: &Inputs, name: &str, id: &str) -> Option<Plan> {
    let Some(target) = &i.observed.target else {
        return Some(step(
            RdsAction::RegisterTarget {
                proxy: name.to_string(),
                cluster: id.to_string(),
            },
            Reason::Creating,
            format!("registering cluster {id} as the target of RDS Proxy {name}"),
        ));
    };
    if target.state == "AVAILABLE" {
        return None;
    }
    let why = [target.reason.as_deref(), target.description.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ");
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(" ({why})")
    };
    Some(wait(
        Reason::Creating,
        format!(
            "RDS Proxy {name}: target {} is {}{why}",
            target.cluster_id, target.state
        ),
    ))
}
