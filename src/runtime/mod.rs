//! Process-level machinery: the `run` command (`run.rs`) and the kinds'
//! watches and Controllers (`controllers.rs`), CRD installation, leader
//! election, the admin server and the per-object reconcile log it serves.

pub mod admin;
mod controllers;
pub mod crds;
pub mod kube_requests;
pub mod leader;
pub mod reconciles;
mod run;
pub mod synced;

pub use run::run;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A pseudo-random wait of 0 to `max` (millisecond steps), from the clock's
/// nanoseconds: enough to keep callers that failed together from retrying
/// together, without a random number generator.
pub fn jitter(max: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos() as u64;
    Duration::from_millis(nanos % (max.as_millis() as u64 + 1))
}

/// Resolves on SIGTERM (the kubelet stopping the pod) or SIGINT.
pub async fn terminated() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
