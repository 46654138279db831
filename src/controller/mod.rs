//! The controller process: one kube-runtime Controller per implemented kind
//! (each a thin shell around `finalizer()`), the admin server, and leader
//! election gating every write.

pub mod aurora_cluster;
pub mod bookkeeping;
pub mod bounds;
pub mod claims;
pub mod context;
pub mod ecs_service;
pub mod error;
pub mod metrics;
pub mod migration_job;
pub mod ownership;
pub mod pacing;
pub mod poll;
pub mod pull_through;
pub mod pull_through_cache;
pub mod status;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Api, Client, Resource, ResourceExt};
use prometheus_client::registry::Registry;
use tracing::{info, warn};

use crate::api::{AuroraCluster, EcsService, MigrationJob, PullThroughCache};
use crate::aws;
use crate::cli::RunArgs;
use crate::runtime::kube_requests::KubeRequests;
use crate::runtime::reconciles::ReconcileLog;
use crate::runtime::{admin, leader};
use context::Context;
use error::Error;
use metrics::{ErrorLabels, KindLabel, Metrics};

/// Reconcile failures are logged by `error_policy`; what is left to say is
/// that a watch failed (e.g. RBAC refuses the list): kube-runtime retries it
/// with backoff, and `/readyz` stays false until it has listed.
async fn log_watch_errors<T, E: std::fmt::Debug + std::fmt::Display>(
    result: Result<T, kube::runtime::controller::Error<E, watcher::Error>>,
) {
    if let Err(kube::runtime::controller::Error::QueueError(e)) = result {
        warn!(error = %e, "watch failed; retrying");
    }
}

/// Stored objects without their managedFields: berth never reads them, and
/// under server-side apply they are often the largest part of an object.
fn drop_managed_fields<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
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
    let memos = Arc::new(context::Memos::tracked(tracked.memos));
    let bound = admin::serve(
        &args.admin_addr,
        admin::AdminState {
            ready: ready.clone(),
            standby: standby.clone(),
            registry: Arc::new(Mutex::new(registry)),
        },
    )
    .await
    .with_context(|| format!("binding the admin server to {}", args.admin_addr))?;
    if let Some(addr) = args.debug_addr {
        let on = admin::serve_debug(addr, reconciles.clone())
            .await
            .with_context(|| format!("binding the debug server to {addr}"))?;
        info!(addr = %on, "debug endpoints on loopback");
    }
    info!(
        namespace = args.namespace.as_deref().unwrap_or("(all)"),
        admin = %bound,
        "berth controller starting"
    );

    // SIGTERM: stop taking reconciles, let in-flight ones finish (bounded
    // by SHUTDOWN_DRAIN), then hand the lease over at once.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop = stop_rx.map(|_| ()).shared();
    tokio::spawn(async move {
        crate::runtime::terminated().await;
        info!("termination signal: finishing in-flight reconciles, then releasing leadership");
        let _ = stop_tx.send(());
    });

    let elector = if args.leader_election {
        let ns = lease_namespace(&args);
        let identity = leader::identity(
            std::env::var("POD_NAME").ok(),
            std::env::var("HOSTNAME")
                .ok()
                .or_else(|| std::fs::read_to_string("/etc/hostname").ok()),
        );
        let elector = leader::Elector::new(
            client.clone(),
            &ns,
            &args.lease_name,
            identity,
            leader_gauge,
        );
        info!(identity = elector.identity(), lease_namespace = %ns, "standing by for the leader lease");
        tokio::select! {
            _ = elector.acquire() => {}
            _ = stop.clone() => {
                info!("stopped while standing by");
                return Ok(());
            }
        }
        standby.store(false, Ordering::Relaxed);
        Some(elector)
    } else {
        None
    };

    let pipeline = aws::Pipeline::new(
        aws::Limiter::new(Some(args.aws_rate_fraction).filter(|f| *f > 0.0)),
        aws_metrics,
    );
    let aws = aws::Factory::new(
        aws::Settings {
            default_region: args.aws_region.clone(),
            default_role_arn: args.aws_role_arn.clone(),
            endpoint_url: args.aws_endpoint_url.clone(),
            require_namespace_role: args.require_namespace_role,
        },
        pipeline,
    );
    let synced = crate::runtime::synced::Synced::default();
    let (ecs_store, writer) = reflector::store();
    let (mj_store, mj_writer) = reflector::store();
    let (services_store, services_writer) = reflector::store();
    let (ns_store, ns_writer) = reflector::store();
    let (ptc_store, ptc_writer) = reflector::store();
    let (aurora_store, aurora_writer) = reflector::store();
    let mut ctx = Context::new(
        client.clone(),
        aws,
        args.resync_interval,
        metrics,
        reconciles.clone(),
        context::Stores {
            services: services_store.clone(),
            jobs: mj_store.clone(),
            namespaces: ns_store.clone(),
            caches: ptc_store.clone(),
            databases: aurora_store.clone(),
        },
    );
    ctx.memos = memos.clone();
    let ctx = Arc::new(
        ctx.with_claims(claims::Claims::new(client.clone(), &lease_namespace(&args)))
            .watching(args.namespace.clone()),
    );
    // Per-object bookkeeping goes with its object (each kind's own watch).
    let book = bookkeeping::Bookkeeping {
        reconciles,
        memos,
        live: Arc::new(bookkeeping::Live {
            services: ecs_store.clone(),
            jobs: mj_store.clone(),
            caches: ptc_store.clone(),
            databases: aurora_store.clone(),
        }),
    };
    let ns = args.namespace.as_deref();

    // Namespaces' annotations name their AWS region and role; a metadata
    // watch keeps them at hand (only the one namespace when scoped).
    let ns_config = match ns {
        Some(name) => watcher::Config::default().fields(&format!("metadata.name={name}")),
        None => watcher::Config::default(),
    };
    let ns_watch = watcher(
        Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
        ns_config,
    )
    .default_backoff()
    .modify(drop_managed_fields)
    .inspect(synced.watch("Namespace"))
    .reflect(ns_writer)
    .for_each(|_| async {});

    let ecs_api: Api<EcsService> = scoped(client.clone(), ns);
    let ecs_changes = watcher(ecs_api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(drop_managed_fields)
        .inspect(synced.watch("EcsService"))
        .reflect(writer)
        .inspect(book.watch(ecs_store.clone()))
        .applied_objects()
        .predicate_filter(intent::<EcsService>, Default::default());
    // A MigrationJob's status (success, failure) releases or closes the
    // gate of the EcsService it names.
    let ecs = Controller::for_stream(ecs_changes, ecs_store.clone()).watches(
        scoped::<MigrationJob>(client.clone(), ns),
        watcher::Config::default(),
        |job| {
            let ns = job.namespace()?;
            let service = job.spec.service_ref.as_ref()?.name.clone();
            Some(reflector::ObjectRef::new(&service).within(&ns))
        },
    );
    // A PullThroughCache that became Ready may let a rollout that failed to
    // pull be retried (ECS never retries a FAILED deployment).
    let failed_pulls = ecs_store.clone();
    let ecs = ecs.watches(
        scoped::<PullThroughCache>(client.clone(), ns),
        watcher::Config::default(),
        move |cache| ecs_service::retry::waiting_for_cache(&failed_pulls.state(), &cache),
    );
    let bounded =
        || kube::runtime::controller::Config::default().concurrency(args.max_concurrent_reconciles);
    let ecs_run = ecs
        .with_config(bounded())
        .graceful_shutdown_on(stop.clone())
        .run(reconcile_ecs, error_policy::<EcsService>, ctx.clone())
        // error_policy already logged each failure.
        .for_each(log_watch_errors);

    let mj_api: Api<MigrationJob> = scoped(client.clone(), ns);
    let mj_changes = watcher(mj_api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(drop_managed_fields)
        .inspect(synced.watch("MigrationJob"))
        .reflect(mj_writer)
        .inspect(book.watch(mj_store.clone()))
        .applied_objects()
        .predicate_filter(intent::<MigrationJob>, Default::default());
    // A new service revision (or the service appearing) is a new run for
    // the jobs that name it; only what they read counts, not every status
    // write of a rollout.
    let services_for_jobs = watcher(
        scoped::<EcsService>(client.clone(), ns),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .modify(drop_managed_fields)
    .inspect(synced.watch("EcsService (for jobs)"))
    .reflect(services_writer)
    .applied_objects()
    .predicate_filter(service_revision, Default::default());
    let jobs = mj_store.clone();
    let mj_run = Controller::for_stream(mj_changes, mj_store.clone())
        .watches_stream(services_for_jobs, move |svc: EcsService| {
            let ns = svc.namespace();
            let name = svc.name_any();
            jobs.state()
                .into_iter()
                .filter(|j| ns.as_deref().is_some_and(|ns| j.names_service(ns, &name)))
                .map(|j| reflector::ObjectRef::from_obj(j.as_ref()))
                .collect::<Vec<_>>()
        })
        .with_config(bounded())
        .graceful_shutdown_on(stop.clone())
        .run(reconcile_mj, error_policy::<MigrationJob>, ctx.clone())
        .for_each(log_watch_errors);

    let ptc_changes = watcher(
        scoped::<PullThroughCache>(client.clone(), ns),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .modify(drop_managed_fields)
    .inspect(synced.watch("PullThroughCache"))
    .reflect(ptc_writer)
    .inspect(book.watch(ptc_store.clone()))
    .applied_objects()
    .predicate_filter(intent::<PullThroughCache>, Default::default());
    let ptc_run = Controller::for_stream(ptc_changes, ptc_store.clone())
        .with_config(bounded())
        .graceful_shutdown_on(stop.clone())
        .run(reconcile_ptc, error_policy::<PullThroughCache>, ctx.clone())
        .for_each(log_watch_errors);

    let aurora_changes = watcher(
        scoped::<AuroraCluster>(client.clone(), ns),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .modify(drop_managed_fields)
    .inspect(synced.watch("AuroraCluster"))
    .reflect(aurora_writer)
    .inspect(book.watch(aurora_store.clone()))
    .applied_objects()
    .predicate_filter(intent::<AuroraCluster>, Default::default());
    let aurora_run = Controller::for_stream(aurora_changes, aurora_store.clone())
        .with_config(bounded())
        .graceful_shutdown_on(stop.clone())
        .run(reconcile_aurora, error_policy::<AuroraCluster>, ctx.clone())
        .for_each(log_watch_errors);

    // /readyz turns true once every watch has listed its objects.
    tokio::spawn(async move {
        while !synced.pending().is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ready.store(true, Ordering::Relaxed);
        info!("all watches synced");
    });

    let lost = async {
        match &elector {
            Some(e) => e.hold().await,
            None => std::future::pending().await,
        }
    };
    // The controllers end only on shutdown, once their in-flight reconciles
    // (and so AWS mutations) are done; the lease is renewed meanwhile.
    let controllers = async {
        futures::join!(ecs_run, mj_run, ptc_run, aurora_run);
        info!("in-flight reconciles finished");
    };
    let drain_limit = async {
        stop.clone().await;
        tokio::time::sleep(SHUTDOWN_DRAIN).await;
        warn!(limit = ?SHUTDOWN_DRAIN, "in-flight reconciles did not finish in time; stopping anyway");
    };
    tokio::select! {
        _ = controllers => {}
        _ = drain_limit => {}
        _ = ns_watch => {}
        e = lost => return Err(e),
    }
    leader::set_leading(false);
    if let Some(e) = &elector {
        e.release().await;
    }
    Ok(())
}

/// berth's own namespace: the leader election Lease's and the claims'.
fn lease_namespace(args: &RunArgs) -> String {
    args.lease_namespace
        .clone()
        .or_else(|| args.namespace.clone())
        .unwrap_or_else(|| "default".into())
}

/// How long a stopping leader lets in-flight reconciles finish: within the
/// pod's default terminationGracePeriodSeconds (30 s), with room to release
/// the lease.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(20);

/// What the user asked for: spec (generation), the refresh and pause
/// annotations, deletion and finalizers. berth's own status writes do not
/// change it, so they do not trigger a reconcile of their own; everything
/// else is noticed on the next poll or resync.
fn intent<K: Resource>(obj: &K) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let meta = obj.meta();
    let annotations = meta.annotations.as_ref();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    meta.generation.hash(&mut h);
    for key in [context::REFRESH_ANNOTATION, context::PAUSED_ANNOTATION] {
        annotations.and_then(|a| a.get(key)).hash(&mut h);
    }
    meta.deletion_timestamp.is_some().hash(&mut h);
    meta.finalizers.hash(&mut h);
    Some(h.finish())
}

fn scoped<K>(client: Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    }
}

async fn reconcile_ecs(obj: Arc<EcsService>, ctx: Arc<Context>) -> Result<Action, Error> {
    instrumented(obj, ctx, ecs_service::reconcile).await
}

async fn reconcile_mj(obj: Arc<MigrationJob>, ctx: Arc<Context>) -> Result<Action, Error> {
    instrumented(obj, ctx, migration_job::reconcile).await
}

async fn reconcile_ptc(obj: Arc<PullThroughCache>, ctx: Arc<Context>) -> Result<Action, Error> {
    instrumented(obj, ctx, pull_through_cache::reconcile).await
}

async fn reconcile_aurora(obj: Arc<AuroraCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    instrumented(obj, ctx, aurora_cluster::reconcile).await
}

/// The one reconcile shell of every kind: counts the reconcile (metrics and
/// the per-object log tests wait on) and times it around the kind's own.
async fn instrumented<K, F, Fut>(
    obj: Arc<K>,
    ctx: Arc<Context>,
    reconcile: F,
) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()>,
    F: FnOnce(Arc<K>, Arc<Context>) -> Fut,
    Fut: std::future::Future<Output = Result<Action, Error>>,
{
    let kind = K::kind(&());
    let labels = KindLabel {
        kind: kind.to_string(),
    };
    ctx.metrics.reconciles.get_or_create(&labels).inc();
    let reconciling = ctx.reconciles.begin(
        &kind,
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.meta().name.as_deref().unwrap_or_default(),
    );
    let in_flight = ctx.metrics.in_flight.get_or_create(&labels).clone();
    in_flight.inc();
    let started = Instant::now();
    let result = reconcile(obj, ctx.clone()).await;
    in_flight.dec();
    drop(reconciling);
    ctx.metrics
        .duration
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    result
}

/// What a MigrationJob reads from its EcsService: the revision it would
/// roll out (and the spec, which decides cluster and network).
fn service_revision(svc: &EcsService) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    svc.metadata.generation.hash(&mut h);
    let status = svc.status.as_ref();
    status.and_then(|s| s.spec_hash.as_deref()).hash(&mut h);
    status
        .and_then(|s| s.task_definition_arn.as_deref())
        .hash(&mut h);
    // PostRollout jobs start when the rollout completes.
    status
        .is_some_and(|s| {
            crate::api::conditions::is_true(&s.conditions, crate::api::conditions::READY)
        })
        .hash(&mut h);
    Some(h.finish())
}

/// Transient failures (throttling, outages) back off with jitter; the last
/// known status stays as it is.
fn error_policy<K>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action
where
    K: Resource<DynamicType = ()>,
{
    ctx.metrics
        .failures
        .get_or_create(&ErrorLabels {
            kind: K::kind(&()).to_string(),
            category: err.category().into(),
        })
        .inc();
    warn!(
        kind = %K::kind(&()),
        name = %obj.meta().name.as_deref().unwrap_or_default(),
        category = err.category(),
        error = %err,
        "reconcile failed"
    );
    let base = match err.category() {
        // The watch store catches up within moments.
        "StaleRead" => 1,
        "AwsThrottled" => 10,
        _ if err.is_transient() => 5,
        _ => 30,
    };
    // Jittered: reconciles that failed together (an outage, throttling)
    // must not retry together. Polls and resyncs stay aligned so that
    // DescribeServices batches fill; a retry joins the grid on its next poll.
    Action::requeue(jittered(std::time::Duration::from_secs(base)))
}

/// `base` plus up to half of it.
fn jittered(base: std::time::Duration) -> std::time::Duration {
    base + crate::runtime::jitter(base / 2)
}
