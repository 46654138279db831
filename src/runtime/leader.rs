//! Leader election on a coordination.k8s.io/v1 Lease: only the holder
//! reconciles (and so writes to AWS and status). A replica that loses the
//! lease exits, so its in-flight work cannot race the new leader; the pod
//! restarts as a follower.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::Client;

pub const LEASE_NAME: &str = "berth-controller";
const LEASE_SECONDS: i32 = 15;
const RENEW_EVERY: Duration = Duration::from_secs(5);

/// This process's identity in the Lease: the pod name (the chart sets it from
/// the downward API), else the hostname, else "berth"; always with the pid
/// and the start time, so two processes never share one (two containers
/// both run as pid 1).
pub fn identity(pod_name: Option<String>, hostname: Option<String>) -> String {
    let base = pod_name
        .or(hostname)
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "berth".into());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{base}-{}-{started:x}", std::process::id())
}

pub struct Elector {
    api: Api<Lease>,
    identity: String,
}

impl Elector {
    pub fn new(client: Client, namespace: &str, identity: String) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            identity,
        }
    }

    /// Waits until this replica holds the lease.
    pub async fn acquire(&self) -> anyhow::Result<()> {
        loop {
            if self.try_acquire().await? {
                tracing::info!(identity = %self.identity, "acquired leadership");
                return Ok(());
            }
            tokio::time::sleep(RENEW_EVERY).await;
        }
    }

    /// Renews the lease forever; returns when leadership is lost.
    pub async fn hold(&self) -> anyhow::Error {
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            match self.try_acquire().await {
                Ok(true) => {}
                Ok(false) => return anyhow::anyhow!("lost the leader lease to another replica"),
                Err(e) => tracing::warn!(error = %e, "renewing the leader lease failed"),
            }
        }
    }

    async fn try_acquire(&self) -> anyhow::Result<bool> {
        let now = Timestamp::now();
        let existing = self.api.get_opt(LEASE_NAME).await?;
        let mut lease = existing.clone().unwrap_or_else(|| {
            let mut l = Lease::default();
            l.metadata.name = Some(LEASE_NAME.into());
            l
        });
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone();
        let expired = spec
            .renew_time
            .as_ref()
            .map(|t| {
                now.as_second() - t.0.as_second()
                    > i64::from(spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS))
            })
            .unwrap_or(true);
        let mine = holder.as_deref() == Some(self.identity.as_str());
        if !mine && !expired && holder.is_some() {
            return Ok(false);
        }
        if !mine {
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(self.identity.clone());
        spec.lease_duration_seconds = Some(LEASE_SECONDS);
        spec.renew_time = Some(MicroTime(now));
        // resourceVersion makes the write conditional: two replicas cannot
        // both win the same expired lease.
        let pp = PostParams::default();
        let result = match existing {
            None => self.api.create(&pp, &lease).await,
            Some(_) => self.api.replace(LEASE_NAME, &pp, &lease).await,
        };
        match result {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_name_the_pod_or_host_and_are_unique() {
        let a = identity(Some("berth-7d9f-abc".into()), Some("node".into()));
        assert!(a.starts_with("berth-7d9f-abc-"), "{a}");
        let b = identity(None, Some("host-1\n".into()));
        assert!(b.starts_with("host-1-"), "{b}");
        assert!(identity(None, None).starts_with("berth-"));
    }
}
