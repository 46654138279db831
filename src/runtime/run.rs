//! The `run` command: the kube client, the admin and debug servers, leader
//! election, the AWS factory, the kinds' controllers (`controllers.rs`) and
//! the shutdown that drains them before the lease is handed over.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;

use futures::FutureExt;
use kube::Client;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tracing::{info, warn};

use super::controllers::{self, Running, Stop};
use super::kube_requests::KubeRequests;
use super::reconciles::ReconcileLog;
use super::{admin, leader};
use crate::aws;
use crate::cli::RunArgs;
use crate::controller::bookkeeping;
use crate::controller::metrics::Metrics;

/// How long a stopping leader lets in-flight reconciles finish: within the
/// pod's default terminationGracePeriodSeconds (30 s), with room to release
/// the lease.
pub(crate) const SHUTDOWN_DRAIN: Duration = Duration::from_secs(20);

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut registry = Registry::default();
    let client = kube_client(KubeRequests::register(&mut registry)).await?;
    let metrics = Arc::new(Metrics::register(&mut registry));
    let aws_metrics = aws::AwsMetrics::register(&mut registry);
    let leader_gauge = leader::register_gauge(&mut registry);
    let ready = Arc::new(AtomicBool::new(false));
    let standby = Arc::new(AtomicBool::new(args.leader_election));
    if args.leader_election {
        // Closed before anything that writes exists.
        leader::set_leading(false);
    } else {
        leader_gauge.set(1);
    }
    let tracked = bookkeeping::Tracked::register(&mut registry);
    let reconciles = Arc::new(ReconcileLog::tracked(tracked.reconciles));
    let memos = Arc::new(crate::controller::memo::Memos::tracked(tracked.memos));
    let admin = admin::AdminState {
        ready: ready.clone(),
        standby: standby.clone(),
        registry: Arc::new(Mutex::new(registry)),
    };
    serve_admin(&args, admin, reconciles.clone()).await?;

    let stop = stop_on_signal();
    let ControlFlow::Continue(elector) =
        stand_by(&args, client.clone(), leader_gauge, &standby, stop.clone()).await
    else {
        return Ok(());
    };

    let aws = aws_factory(&args, aws_metrics);
    let running = controllers::start(&args, client, aws, metrics, reconciles, memos, stop.clone());
    ready_when_synced(running.synced.clone(), ready);
    drain_then_release(running, elector, stop).await
}

/// The API server client, every request counted by verb and resource.
async fn kube_client(requests: KubeRequests) -> anyhow::Result<Client> {
    let config = kube::Config::infer()
        .await
        .context("no Kubernetes configuration (KUBECONFIG, ~/.kube/config or in-cluster)")?;
    let counting =
        tower::util::MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
            requests.count(&req);
            req
        });
    // Leadership gates every write, also those berth does not make itself
    // (kube-runtime's finalizer patches): only the Lease is written by a
    // replica that does not lead.
    let gate = tower::filter::FilterLayer::new(|req: http::Request<kube::client::Body>| {
        let write = !matches!(*req.method(), http::Method::GET | http::Method::HEAD);
        let lease = req.uri().path().contains("/leases");
        if write && !lease {
            leader::check()?;
        }
        Ok::<_, leader::NotLeading>(req)
    });
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&gate)
        .with_layer(&counting)
        .build())
}

/// The admin server, and the debug server when `--debug-addr` asks for it.
async fn serve_admin(
    args: &RunArgs,
    state: admin::AdminState,
    reconciles: Arc<ReconcileLog>,
) -> anyhow::Result<()> {
    let bound = admin::serve(&args.admin_addr, state)
        .await
        .with_context(|| format!("binding the admin server to {}", args.admin_addr))?;
    if let Some(addr) = args.debug_addr {
        let on = admin::serve_debug(addr, reconciles)
            .await
            .with_context(|| format!("binding the debug server to {addr}"))?;
        info!(addr = %on, "debug endpoints on loopback");
    }
    info!(
        namespace = args.namespace.as_deref().unwrap_or("(all)"),
        admin = %bound,
        "berth controller starting"
    );
    Ok(())
}

/// SIGTERM: stop taking reconciles, let in-flight ones finish (bounded
/// by SHUTDOWN_DRAIN), then hand the lease over at once.
fn stop_on_signal() -> Stop {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        super::terminated().await;
        info!("termination signal: finishing in-flight reconciles, then releasing leadership");
        let _ = stop_tx.send(());
    });
    stop_rx.map(|_| ()).boxed().shared()
}

/// Waits for the leader lease when leader election is on: `Continue` with
/// the elector holding it (`None` without leader election), `Break` when
/// stopped while standing by.
async fn stand_by(
    args: &RunArgs,
    client: Client,
    gauge: Gauge,
    standby: &AtomicBool,
    stop: Stop,
) -> ControlFlow<(), Option<leader::Elector>> {
    if !args.leader_election {
        return ControlFlow::Continue(None);
    }
    let ns = args.lease_namespace();
    let identity = leader::identity(
        std::env::var("POD_NAME").ok(),
        std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok()),
    );
    let elector = leader::Elector::new(client, &ns, &args.lease_name, identity, gauge);
    info!(identity = elector.identity(), lease_namespace = %ns, "standing by for the leader lease");
    tokio::select! {
        _ = elector.acquire() => {}
        _ = stop => {
            info!("stopped while standing by");
            return ControlFlow::Break(());
        }
    }
    standby.store(false, Ordering::Relaxed);
    ControlFlow::Continue(Some(elector))
}

fn aws_factory(args: &RunArgs, metrics: aws::AwsMetrics) -> aws::Factory {
    let pipeline = aws::Pipeline::new(
        aws::Limiter::new(Some(args.aws_rate_fraction).filter(|f| *f > 0.0)),
        metrics,
    );
    aws::Factory::new(
        aws::Settings {
            default_region: args.aws_region.clone(),
            default_role_arn: args.aws_role_arn.clone(),
            endpoint_url: args.aws_endpoint_url.clone(),
            require_namespace_role: args.require_namespace_role,
        },
        pipeline,
    )
}

/// /readyz turns true once every watch has listed its objects.
fn ready_when_synced(synced: super::synced::Synced, ready: Arc<AtomicBool>) {
    tokio::spawn(async move {
        while !synced.pending().is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ready.store(true, Ordering::Relaxed);
        info!("all watches synced");
    });
}

/// Runs until stopped (or the lease is lost), then closes the write gate and
/// hands the lease over.
async fn drain_then_release(
    running: Running,
    elector: Option<leader::Elector>,
    stop: Stop,
) -> anyhow::Result<()> {
    let lost = async {
        match &elector {
            Some(e) => e.hold().await,
            None => std::future::pending().await,
        }
    };
    // The controllers end only on shutdown, once their in-flight reconciles
    // (and so AWS mutations) are done; the lease is renewed meanwhile.
    let controllers = async {
        running.controllers.await;
        info!("in-flight reconciles finished");
    };
    let drain_limit = async {
        stop.await;
        tokio::time::sleep(SHUTDOWN_DRAIN).await;
        warn!(limit = ?SHUTDOWN_DRAIN, "in-flight reconciles did not finish in time; stopping anyway");
    };
    tokio::select! {
        _ = controllers => {}
        _ = drain_limit => {}
        _ = running.namespaces => {}
        e = lost => return Err(e),
    }
    leader::set_leading(false);
    if let Some(e) = &elector {
        e.release().await;
    }
    Ok(())
}
