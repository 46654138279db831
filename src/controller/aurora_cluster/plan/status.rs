//! The AuroraCluster's next status from what RDS reported, and what a
//! failure or a foreign connection Secret means for the conditions.

use k8s_openapi::jiff::Timestamp;

use super::{instances_ready, proxy_is_ours, Inputs, Plan, RdsAction};
use crate::api::aurora_cluster::{AuroraClusterStatus, ProxyTargetHealth};
use crate::api::conditions::{self, Desired, Reason, DEGRADED, READY};
use crate::aws::AwsFailure;
use crate::controller::ownership::{self, Claimant, Ownership};
use crate::controller::shell::{self, Outcome, Then};

/// Paused: the plan's change is not made. Its conditions stay what berth
/// would report; the shell says `Paused` on them (`shell::paused`).
pub fn paused(mut p: Plan) -> Plan {
    p.action = RdsAction::Nothing;
    p
}

/// An RDS refusal because the resource is busy means the describe was a
/// moment behind RDS (a change just started): the next look waits for it,
/// with nothing to report. Any other terminal failure is AWS's words.
pub fn failure(f: &AwsFailure) -> Option<Outcome<AuroraClusterStatus>> {
    const BUSY: [&str; 4] = [
        "InvalidDBClusterStateFault",
        "InvalidDBInstanceState",
        "InvalidDBInstanceStateFault",
        "InvalidDBProxyStateFault",
    ];
    if f.code.as_deref().is_some_and(|c| BUSY.contains(&c)) {
        return Some(Outcome::Quiet(Then::Poll));
    }
    shell::terminal(f).map(Outcome::Failed)
}

/// The next status. A cluster berth does not manage (adoption required,
/// or another object's) lends the object neither its endpoints nor a
/// connection Secret. `secret_conflict`: the connection Secret's name is
/// taken by a Secret berth did not create for this object.
pub fn status(
    i: &Inputs,
    prev: &AuroraClusterStatus,
    p: &Plan,
    secret_conflict: bool,
    now: Timestamp,
) -> AuroraClusterStatus {
    let obj = i.obj;
    let o = i.observed;
    let c = managed_cluster(i);
    let proxy = o.proxy.as_ref().filter(|p| proxy_is_ours(p, i.owner));
    let desired = match (&obj.spec.connection_secret, secret_conflict) {
        (Some(cs), true) => with_conflict(p.conditions.clone(), &cs.name),
        _ => p.conditions.clone(),
    };
    AuroraClusterStatus {
        observed_generation: obj.metadata.generation,
        conditions: conditions::merge(&prev.conditions, &desired, obj.metadata.generation, now),
        status: c.map(|c| c.status.clone()),
        endpoint: c.and_then(|c| c.endpoint.clone()),
        reader_endpoint: c.and_then(|c| c.reader_endpoint.clone()),
        proxy_endpoint: proxy.and_then(|p| p.endpoint.clone()),
        port: c.and_then(|c| c.port),
        master_user_secret_arn: c.and_then(|c| c.master_user_secret_arn.clone()),
        cluster_resource_id: c.and_then(|c| c.resource_id.clone()),
        cluster_arn: c.map(|c| c.arn.clone()),
        instances_ready: instances_ready(o),
        proxy_arn: proxy.map(|p| p.arn.clone()),
        proxy_target_health: o.target.as_ref().map(|t| ProxyTargetHealth {
            state: Some(t.state.clone()).filter(|s| !s.is_empty()),
            reason: t.reason.clone(),
            description: t.description.clone(),
        }),
    }
}

/// The observed cluster, if it is this object's (or adopted now).
fn managed_cluster<'a>(i: &Inputs<'a>) -> Option<&'a crate::aws::rds::ClusterView> {
    let me = Claimant::new(i.owner, i.uid, i.obj.spec.adopt);
    i.observed.cluster.as_ref().filter(|c| {
        matches!(
            ownership::decide(&c.tags, &me, i.owners),
            Ownership::Ours | Ownership::Adopt
        )
    })
}

/// The connection Secret is written when something it holds may have
/// changed. A Secret that was not berth's is tried again on every look (it
/// may have been deleted since): the plan's conditions never say
/// SecretConflict, so the status computed before the write differs from
/// the recorded one. While paused the shell writes `Paused` conditions,
/// never the plan's, so only the rest of the status tells.
pub fn writes_secret(i: &Inputs, prev: &AuroraClusterStatus, next: &AuroraClusterStatus) -> bool {
    let without_conditions = |s: &AuroraClusterStatus| AuroraClusterStatus {
        conditions: Vec::new(),
        ..s.clone()
    };
    let changed = match i.paused {
        true => without_conditions(next) != without_conditions(prev),
        false => next != prev,
    };
    managed_cluster(i).is_some()
        && (changed || prev.observed_generation != i.obj.metadata.generation)
}

fn conflict_message(name: &str) -> String {
    format!(
        "Secret {name} (spec.connectionSecret.name) exists and was not created by berth for \
         this AuroraCluster; berth left it unchanged and wrote no connection details. Choose \
         another spec.connectionSecret.name, or delete Secret {name} so berth creates its own"
    )
}

/// The plan's conditions when the connection Secret is not berth's:
/// Degraded says so; Ready stops claiming the spec is in place (a plan
/// still converging keeps its own Ready, which is False and says what it
/// waits for); Progressing stays the plan's, as RDS work goes on.
fn with_conflict(conditions: Vec<Desired>, name: &str) -> Vec<Desired> {
    let message = conflict_message(name);
    conditions
        .into_iter()
        .map(|c| match c.type_ {
            DEGRADED => Desired::new(DEGRADED, true, Reason::SecretConflict, message.clone()),
            READY if c.status => {
                Desired::new(READY, false, Reason::SecretConflict, message.clone())
            }
            _ => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::conditions::{not_degraded, PROGRESSING};

    #[test]
    fn a_foreign_secret_degrades_and_ready_stops_claiming_it() {
        let available = "cluster orders-db and 1 instance(s) are available";
        let plan = vec![
            Desired::new(READY, true, Reason::Available, available),
            Desired::new(PROGRESSING, false, Reason::Available, available),
            not_degraded(),
        ];
        let got = with_conflict(plan, "payments-api-key");
        let message = conflict_message("payments-api-key");
        assert_eq!(
            got,
            vec![
                Desired::new(READY, false, Reason::SecretConflict, message.clone()),
                Desired::new(PROGRESSING, false, Reason::Available, available),
                Desired::new(DEGRADED, true, Reason::SecretConflict, message.clone()),
            ]
        );
        assert!(message.contains("Secret payments-api-key (spec.connectionSecret.name)"));
        assert!(message.contains("Choose another spec.connectionSecret.name"));
        assert!(message.contains("delete Secret payments-api-key"));

        // Still creating: Ready keeps saying what berth waits for.
        let creating = "cluster orders-db is being created";
        let plan = vec![
            Desired::new(READY, false, Reason::Creating, creating),
            Desired::new(PROGRESSING, true, Reason::Creating, creating),
            not_degraded(),
        ];
        let got = with_conflict(plan, "payments-api-key");
        assert_eq!(
            got[0],
            Desired::new(READY, false, Reason::Creating, creating)
        );
        assert_eq!(
            got[1],
            Desired::new(PROGRESSING, true, Reason::Creating, creating)
        );
        assert_eq!(got[2].reason, Reason::SecretConflict);
        assert!(got[2].status);
    }
}
