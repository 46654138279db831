//! Leader election on a coordination.k8s.io/v1 Lease: only the holder
//! reconciles and writes (AWS, status, Events).
//!
//! Safety rests on fencing, not on noticing a loss: every write path checks
//! [`check`], and a watchdog clears that gate once the last successful
//! renew is older than the lease duration minus [`SAFETY_MARGIN`], i.e.
//! before any other replica may consider the lease expired, then ends the
//! process. A replica that cannot reach the API server therefore stops
//! writing on its own; the pod restarts as a standby.
//!
//! Why not `kube-lease-manager` (0.13 supports kube 5): its `watch()` keeps
//! reporting "leader" through renew errors (it logs and backs off) and
//! neither API tells when the last renew succeeded, which the fence needs;
//! it also renews only `grace` seconds before expiry, leaving one attempt.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::Client;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The Lease berth elects its leader on unless `--lease-name` says otherwise
/// (the chart names it after the release, so two releases never share one).
pub const DEFAULT_LEASE_NAME: &str = "berth-controller";
pub const LEASE_SECONDS: i32 = 15;
/// Several renews fit in one fence window, so one slow or failed request
/// never costs the leadership.
const RENEW_EVERY: Duration = Duration::from_secs(2);
const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(500);
/// A renew that hangs must not eat the whole window.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Writes stop this long before the lease could look expired to another
/// replica: room for clock skew between nodes (the standby judges expiry by
/// the renewTime this process wrote) and for a request sent just before the
/// fence to land.
pub const SAFETY_MARGIN: Duration = Duration::from_secs(5);

/// The process-wide write gate. Open by default: without leader election
/// (and in unit tests) the single process always writes; `run()` closes it
/// before anything starts when election is on.
static LEADING: AtomicBool = AtomicBool::new(true);

pub fn is_leading() -> bool {
    LEADING.load(Ordering::SeqCst)
}

pub fn set_leading(leading: bool) {
    LEADING.store(leading, Ordering::SeqCst);
}

/// Why a write was refused.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error(
    "not the leader: this replica does not hold the leader lease (lost, not yet won \
     or shutting down), so it makes no writes"
)]
pub struct NotLeading;

/// Every write (AWS call, status, Event) asks first.
pub fn check() -> Result<(), NotLeading> {
    if is_leading() {
        Ok(())
    } else {
        Err(NotLeading)
    }
}

/// `berth_leader`: 1 while this replica leads, 0 while it stands by.
pub fn register_gauge(registry: &mut Registry) -> Gauge {
    let gauge = Gauge::default();
    registry.register(
        "berth_leader",
        "1 while this replica holds the leader lease and writes, 0 while it stands by",
        gauge.clone(),
    );
    gauge
}

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

/// When the last successful renew was sent, as milliseconds since `origin`
/// (an atomic, so the watchdog thread reads it without the runtime).
struct Fence {
    origin: Instant,
    renewed_ms: AtomicU64,
}

impl Fence {
    fn renewed(&self, sent: Instant) {
        let ms = sent.saturating_duration_since(self.origin).as_millis() as u64;
        self.renewed_ms.fetch_max(ms, Ordering::SeqCst);
    }

    /// Time left before writes must stop.
    fn left(&self) -> Duration {
        let renewed = Duration::from_millis(self.renewed_ms.load(Ordering::SeqCst));
        time_left(renewed, self.origin.elapsed())
    }
}

/// The fence window, measured from when the last successful renew was sent
/// (its renewTime was read from the clock before the request went out).
fn time_left(renewed: Duration, now: Duration) -> Duration {
    let window = Duration::from_secs(LEASE_SECONDS as u64).saturating_sub(SAFETY_MARGIN);
    (renewed + window).saturating_sub(now)
}

/// Closes the gate and ends the process: in-flight work must not race the
/// next leader, and a restarted pod comes back as a clean standby.
fn fence_and_exit(why: &str) -> ! {
    set_leading(false);
    tracing::error!(
        why,
        "stopped all writes; exiting so the pod restarts as a standby"
    );
    eprintln!("berth: {why}: stopped all writes, exiting");
    std::process::exit(1);
}

pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    gauge: Gauge,
    fence: Arc<Fence>,
}

impl Elector {
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: String,
        gauge: Gauge,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity,
            gauge,
            fence: Arc::new(Fence {
                origin: Instant::now(),
                renewed_ms: AtomicU64::new(0),
            }),
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Waits until this replica holds the lease, then opens the write gate
    /// and starts the watchdog.
    pub async fn acquire(&self) {
        set_leading(false);
        self.gauge.set(0);
        let sent = loop {
            let sent = Instant::now();
            match tokio::time::timeout(REQUEST_TIMEOUT, self.try_acquire()).await {
                Ok(Ok(true)) => break sent,
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "reading the leader lease failed"),
                Err(_) => tracing::warn!("reading the leader lease timed out"),
            }
            tokio::time::sleep(RENEW_EVERY).await;
        };
        self.fence.renewed(sent);
        set_leading(true);
        self.gauge.set(1);
        self.spawn_watchdog();
        tracing::info!(identity = %self.identity, "acquired leadership");
    }

    /// Renews the lease until leadership is lost; returns (with the gate
    /// closed) when another replica holds it. A lease that cannot be
    /// renewed in time ends the process (see the module doc).
    pub async fn hold(&self) -> anyhow::Error {
        let mut wait = RENEW_EVERY;
        loop {
            tokio::time::sleep(wait).await;
            let sent = Instant::now();
            let outcome = tokio::time::timeout(REQUEST_TIMEOUT, self.try_acquire()).await;
            wait = RETRY_AFTER_FAILURE;
            match outcome {
                Ok(Ok(true)) => {
                    self.fence.renewed(sent);
                    wait = RENEW_EVERY;
                }
                Ok(Ok(false)) => {
                    set_leading(false);
                    self.gauge.set(0);
                    return anyhow::anyhow!("lost the leader lease to another replica");
                }
                Ok(Err(e)) => tracing::warn!(
                    error = %e,
                    writes_stop_in = ?self.fence.left(),
                    "renewing the leader lease failed"
                ),
                Err(_) => tracing::warn!(
                    writes_stop_in = ?self.fence.left(),
                    "renewing the leader lease timed out"
                ),
            }
            if self.fence.left().is_zero() {
                fence_and_exit("the leader lease could not be renewed in time");
            }
        }
    }

    /// Hands the lease over at once (graceful shutdown): closes the gate
    /// first, then clears the holder so the standby's next poll takes it.
    pub async fn release(&self) {
        set_leading(false);
        self.gauge.set(0);
        let released = async {
            let Some(mut lease) = self.api.get_opt(&self.name).await? else {
                return anyhow::Ok(false);
            };
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
                return Ok(false);
            }
            spec.holder_identity = None;
            spec.renew_time = None;
            // resourceVersion makes this conditional: never clear a lease
            // someone else already took.
            self.api
                .replace(&self.name, &PostParams::default(), &lease)
                .await?;
            Ok(true)
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, released).await {
            Ok(Ok(true)) => tracing::info!("released the leader lease"),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "releasing the leader lease failed"),
            Err(_) => tracing::warn!("releasing the leader lease timed out"),
        }
    }

    /// An OS thread, so a wedged async runtime cannot keep writes going.
    fn spawn_watchdog(&self) {
        let fence = self.fence.clone();
        std::thread::spawn(move || loop {
            let left = fence.left();
            if left.is_zero() {
                fence_and_exit(
                    "the leader lease was not renewed within its duration minus the safety margin",
                );
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        });
    }

    async fn try_acquire(&self) -> anyhow::Result<bool> {
        let now = Timestamp::now();
        let existing = self.api.get_opt(&self.name).await?;
        let mut lease = existing.clone().unwrap_or_else(|| {
            let mut l = Lease::default();
            l.metadata.name = Some(self.name.clone());
            l
        });
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone();
        let expired = spec
            .renew_time
            .as_ref()
            .map(|t| {
                now.as_millisecond() - t.0.as_millisecond()
                    > 1000 * i64::from(spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS))
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
            Some(_) => self.api.replace(&self.name, &pp, &lease).await,
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

    #[test]
    fn writes_stop_a_safety_margin_before_the_lease_expires() {
        let s = Duration::from_secs;
        let window = s(LEASE_SECONDS as u64) - SAFETY_MARGIN;
        assert_eq!(time_left(s(100), s(100)), window);
        assert_eq!(time_left(s(100), s(100) + window - s(1)), s(1));
        assert!(time_left(s(100), s(100) + window).is_zero());
        assert!(time_left(s(100), s(200)).is_zero());
        assert!(
            window >= RENEW_EVERY * 3,
            "several renews fit in the window"
        );
    }
}
