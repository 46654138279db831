//! The admin server on `--admin-addr`: `/livez`, `/readyz` (200 `standby`
//! while this replica waits for the leader lease, so a rolling update never
//! waits on it; 200 `ok` for the leader once every watch has synced) and
//! `/metrics` (Prometheus text format). Nothing on it names a tenant's
//! object: it is reachable by whatever reaches the pod.
//!
//! The debug server, only with `--debug-addr` and only on a loopback
//! address: `/debug/reconciles` (per-object reconcile counts as JSON, see
//! `super::reconciles`), which lists the namespace and name of every
//! object berth holds.

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
}

pub async fn serve(addr: &str, state: AdminState) -> anyhow::Result<SocketAddr> {
    let app = Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state);
    listen(addr, app, "admin").await
}

/// Serves the debug endpoints on `addr`, a loopback address
/// ([`loopback_addr`]).
pub async fn serve_debug(addr: SocketAddr, log: Arc<ReconcileLog>) -> anyhow::Result<SocketAddr> {
    let app = Router::new()
        .route("/debug/reconciles", get(reconciles))
        .with_state(log);
    listen(&addr.to_string(), app, "debug").await
}

async fn listen(addr: &str, app: Router, what: &'static str) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, server = what, "server stopped");
        }
    });
    Ok(bound)
}

/// `--debug-addr`: an IP literal or `localhost`, with a port, on the
/// loopback interface only. The debug endpoints have no authentication,
/// so they must not be reachable from the pod network (`kubectl
/// port-forward` reaches a loopback port).
pub fn loopback_addr(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    let addr: SocketAddr = match s.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}").parse(),
        None => s.parse(),
    }
    .map_err(|_| format!("{s:?} is not an address like 127.0.0.1:9090"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address: the debug endpoints list every object's \
             namespace and name without authentication, so they listen only on 127.0.0.1, \
             [::1] or localhost (reach them with kubectl port-forward)"
        ));
    }
    Ok(addr)
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

async fn reconciles(State(log): State<Arc<ReconcileLog>>) -> Json<BTreeMap<String, Counts>> {
    Json(log.snapshot())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debug_address_is_loopback_only() {
        assert_eq!(
            loopback_addr("127.0.0.1:9090"),
            Ok("127.0.0.1:9090".parse().unwrap())
        );
        assert_eq!(
            loopback_addr("localhost:9090"),
            Ok("127.0.0.1:9090".parse().unwrap())
        );
        assert_eq!(loopback_addr("[::1]:0"), Ok("[::1]:0".parse().unwrap()));
        assert!(loopback_addr("127.0.0.2:1").is_ok(), "all of 127.0.0.0/8");
        for open in ["0.0.0.0:9090", "[::]:9090", "10.0.0.7:9090"] {
            let e = loopback_addr(open).unwrap_err();
            assert!(e.contains("not a loopback address"), "{e}");
        }
        assert!(loopback_addr("debug.example:9090")
            .unwrap_err()
            .contains("not an address like"));
        assert!(loopback_addr("127.0.0.1").is_err(), "a port is needed");
    }

    async fn get(addr: SocketAddr, path: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn the_admin_server_lists_no_object_and_the_debug_server_does() {
        let state = AdminState {
            ready: Arc::default(),
            standby: Arc::default(),
            registry: Arc::default(),
        };
        let admin = serve("127.0.0.1:0", state).await.unwrap();
        let log = Arc::new(ReconcileLog::default());
        drop(log.begin("MigrationJob", "team-a", "migrate"));
        let debug = serve_debug("127.0.0.1:0".parse().unwrap(), log)
            .await
            .unwrap();
        assert!(get(admin, "/debug/reconciles")
            .await
            .starts_with("HTTP/1.1 404"));
        assert!(get(admin, "/metrics").await.starts_with("HTTP/1.1 200"));
        let listed = get(debug, "/debug/reconciles").await;
        assert!(listed.starts_with("HTTP/1.1 200"), "{listed}");
        assert!(listed.contains("MigrationJob/team-a/migrate"), "{listed}");
        assert!(get(debug, "/metrics").await.starts_with("HTTP/1.1 404"));
    }
}
