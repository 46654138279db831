//! The watches and the kube-runtime Controller of every implemented kind.
//! Every kind's own watch is built by [`Wiring::watch`] and every Controller
//! runs through [`Wiring::run`], so what one kind gets (readiness, per-object
//! bookkeeping, the intent filter, the drain on shutdown) all of them get.

use std::fmt::Debug;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::warn;

use super::reconciles::ReconcileLog;
use super::synced::Synced;
use crate::api::{EcsService, MigrationJob, PullThroughCache};
use crate::aws;
use crate::cli::RunArgs;
use crate::controller::bookkeeping::{self, Bookkeeping};
use crate::controller::context::{self, Context};
use crate::controller::metrics::Metrics;
use crate::controller::{
    claims, ecs_service, error::Error, error_policy, reconcile_aurora, reconcile_ecs, reconcile_mj,
    reconcile_ptc,
};

/// Resolves once the process is told to stop; every controller and the
/// drain limit wait on the same signal.
pub(crate) type Stop = futures::future::Shared<futures::future::BoxFuture<'static, ()>>;

/// What the process waits on once the controllers are started.
pub(crate) struct Running {
    /// Ends only on shutdown, once every controller's in-flight reconciles
    /// are done.
    pub controllers: BoxFuture<'static, ()>,
    /// Never ends: it keeps the namespaces' store current.
    pub namespaces: BoxFuture<'static, ()>,
    pub synced: Synced,
}

/// Starts the watches and the controllers of every kind (they make progress
/// once polled through [`Running`]).
pub(crate) fn start(
    args: &RunArgs,
    client: Client,
    aws: aws::Factory,
    metrics: Arc<Metrics>,
    reconciles: Arc<ReconcileLog>,
    memos: Arc<crate::controller::memo::Memos>,
    stop: Stop,
) -> Running {
    let synced = Synced::default();
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
        ctx.with_claims(claims::Claims::new(client.clone(), &args.lease_namespace()))
            .watching(args.namespace.clone()),
    );
    // Per-object bookkeeping goes with its object (each kind's own watch).
    let book = Bookkeeping {
        reconciles,
        memos,
        live: Arc::new(bookkeeping::Live {
            services: ecs_store.clone(),
            jobs: mj_store.clone(),
            caches: ptc_store.clone(),
            databases: aurora_store.clone(),
        }),
    };
    let w = Wiring {
        client,
        namespace: args.namespace.clone(),
        synced: synced.clone(),
        book,
        ctx,
        concurrency: args.max_concurrent_reconciles,
        stop,
    };
    let namespaces = namespace_watch(&w, ns_writer);
    let ecs_run = ecs_services(&w, ecs_store, writer);
    let mj_run = migration_jobs(&w, mj_store, mj_writer, services_writer);
    let ptc_run = w.run(
        w.controller("PullThroughCache", ptc_store, ptc_writer),
        reconcile_ptc,
    );
    let aurora_run = w.run(
        w.controller("AuroraCluster", aurora_store, aurora_writer),
        reconcile_aurora,
    );
    Running {
        controllers: async move {
            futures::join!(ecs_run, mj_run, ptc_run, aurora_run);
        }
        .boxed(),
        namespaces,
        synced,
    }
}

/// What every kind's watch and Controller is built from.
struct Wiring {
    client: Client,
    /// The one namespace watched, `None` for all.
    namespace: Option<String>,
    synced: Synced,
    book: Bookkeeping,
    ctx: Arc<Context>,
    /// Reconciles of one kind at once (`--max-concurrent-reconciles`).
    concurrency: u16,
    stop: Stop,
}

impl Wiring {
    fn api<K>(&self) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        scoped(self.client.clone(), self.namespace.as_deref())
    }

    /// A kind's own watch, as its Controller consumes it: stored, counted
    /// for readiness, its bookkeeping kept, and only changes of intent
    /// passed on.
    fn watch<K>(
        &self,
        name: &'static str,
        store: &Store<K>,
        writer: Writer<K>,
    ) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
        K: Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        let config = watcher::Config::default().any_semantic();
        reflected(self.api(), config, name, writer, &self.synced)
            .inspect(self.book.watch(store.clone()))
            .applied_objects()
            .predicate_filter(intent::<K>, Default::default())
    }

    /// A Controller of a kind triggered by its own watch alone.
    fn controller<K>(&self, name: &'static str, store: Store<K>, writer: Writer<K>) -> Controller<K>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
        K: Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        Controller::for_stream(self.watch(name, &store, writer), store)
    }

    /// Runs `controller` until shutdown: bounded concurrency, failures
    /// retried by `error_policy`, and no new reconcile once stopped.
    fn run<K, Fut>(
        &self,
        controller: Controller<K>,
        reconcile: fn(Arc<K>, Arc<Context>) -> Fut,
    ) -> impl std::future::Future<Output = ()> + Send + 'static
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Action, Error>> + Send + 'static,
    {
        let config = kube::runtime::controller::Config::default().concurrency(self.concurrency);
        controller
            .with_config(config)
            .graceful_shutdown_on(self.stop.clone())
            .run(reconcile, error_policy::<K>, self.ctx.clone())
            // error_policy already logged each failure.
            .for_each(log_watch_errors)
    }
}

/// The watch `name` filling `writer`, its managedFields dropped and its first
/// list reported to readiness.
fn reflected<K>(
    api: Api<K>,
    config: watcher::Config,
    name: &'static str,
    writer: Writer<K>,
    synced: &Synced,
) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    watcher(api, config)
        .default_backoff()
        .modify(drop_managed_fields)
        .inspect(synced.watch(name))
        .reflect(writer)
}

/// Namespaces' annotations name their AWS region and role; a metadata
/// watch keeps them at hand (only the one namespace when scoped).
fn namespace_watch(
    w: &Wiring,
    writer: Writer<PartialObjectMeta<Namespace>>,
) -> BoxFuture<'static, ()> {
    let config = match w.namespace.as_deref() {
        Some(name) => watcher::Config::default().fields(&format!("metadata.name={name}")),
        None => watcher::Config::default(),
    };
    let api = Api::<PartialObjectMeta<Namespace>>::all(w.client.clone());
    reflected(api, config, "Namespace", writer, &w.synced)
        .for_each(|_| async {})
        .boxed()
}

fn ecs_services(
    w: &Wiring,
    store: Store<EcsService>,
    writer: Writer<EcsService>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    // A MigrationJob's status (success, failure) releases or closes the
    // gate of the EcsService it names.
    let ecs = w.controller("EcsService", store.clone(), writer).watches(
        w.api::<MigrationJob>(),
        watcher::Config::default(),
        |job| {
            let ns = job.namespace()?;
            let service = job.spec.service_ref.as_ref()?.name.clone();
            Some(reflector::ObjectRef::new(&service).within(&ns))
        },
    );
    // A PullThroughCache whose warnings changed (or that became Ready) may
    // serve an image a failed rollout could not pull: that rollout is
    // retried once (ECS never retries a FAILED deployment).
    let ecs = ecs.watches(
        w.api::<PullThroughCache>(),
        watcher::Config::default(),
        move |_cache| ecs_service::retry::waiting_for_cache(&store.state()),
    );
    w.run(ecs, reconcile_ecs)
}

fn migration_jobs(
    w: &Wiring,
    store: Store<MigrationJob>,
    writer: Writer<MigrationJob>,
    services_writer: Writer<EcsService>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let changes = w.watch("MigrationJob", &store, writer);
    // A new service revision (or the service appearing) is a new run for
    // the jobs that name it; only what they read counts, not every status
    // write of a rollout.
    let config = watcher::Config::default().any_semantic();
    let services_for_jobs = reflected(
        w.api::<EcsService>(),
        config,
        "EcsService (for jobs)",
        services_writer,
        &w.synced,
    )
    .applied_objects()
    .predicate_filter(service_revision, Default::default());
    let jobs = store.clone();
    let controller = Controller::for_stream(changes, store).watches_stream(
        services_for_jobs,
        move |svc: EcsService| {
            let ns = svc.namespace();
            let name = svc.name_any();
            jobs.state()
                .into_iter()
                .filter(|j| ns.as_deref().is_some_and(|ns| j.names_service(ns, &name)))
                .map(|j| reflector::ObjectRef::from_obj(j.as_ref()))
                .collect::<Vec<_>>()
        },
    );
    w.run(controller, reconcile_mj)
}

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
