//! The admin server: `/livez`, `/readyz` (200 `standby` while this replica
//! waits for the leader lease, so a rolling update never waits on it; 200
//! `ok` for the leader once every watch has synced), `/metrics` (Prometheus text format) and `/debug/reconciles`
//! (per-object reconcile counts as JSON, see `super::reconciles`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::registry::Registry;

use super::reconciles::{Counts, ReconcileLog};

#[derive(Clone)]
pub struct AdminState {
    /// The leader's watches have all synced.
    pub ready: Arc<AtomicBool>,
    /// Waiting for the leader lease (with leader election only).
    pub standby: Arc<AtomicBool>,
    pub registry: Arc<Mutex<Registry>>,
    pub reconciles: Arc<ReconcileLog>,
}

pub async fn serve(addr: &str, state: AdminState) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/debug/reconciles", get(reconciles))
        .with_state(state);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "admin server stopped");
        }
    });
    Ok(bound)
}

async fn readyz(State(s): State<AdminState>) -> (StatusCode, &'static str) {
    if s.standby.load(Ordering::Relaxed) {
        (StatusCode::OK, "standby")
    } else if s.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "watches not synced")
    }
}

async fn metrics(State(s): State<AdminState>) -> (StatusCode, String) {
    let mut out = String::new();
    let registry = s.registry.lock().unwrap_or_else(|e| e.into_inner());
    match prometheus_client::encoding::text::encode(&mut out, &registry) {
        Ok(()) => (StatusCode::OK, out),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn reconciles(State(s): State<AdminState>) -> Json<BTreeMap<String, Counts>> {
    Json(s.reconciles.snapshot())
}
