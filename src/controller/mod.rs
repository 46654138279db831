//! What the kinds share: one reconcile shell (`instrumented`) and one error
//! policy for every kind. The process around them (watches, Controllers,
//! leader election, shutdown) is `crate::runtime`.

pub mod aurora_cluster;
pub mod bookkeeping;
pub mod bounds;
pub mod claims;
pub mod context;
pub mod ecs_service;
pub mod error;
pub mod memo;
pub mod metrics;
pub mod migration_job;
pub mod ownership;
pub mod pacing;
pub mod poll;
pub mod pull_through;
pub mod pull_through_cache;
pub mod shell;
#[cfg(test)]
pub(crate) mod state_table;
pub mod status;

use std::sync::Arc;
use std::time::Instant;

use kube::runtime::controller::Action;
use kube::Resource;
use tracing::warn;

use crate::api::{AuroraCluster, EcsService, MigrationJob, PullThroughCache};
use context::Context;
use error::Error;
use metrics::{ErrorLabels, KindLabel};

pub(crate) async fn reconcile_ecs(
    obj: Arc<EcsService>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    instrumented(obj, ctx, shell::reconcile).await
}

pub(crate) async fn reconcile_mj(
    obj: Arc<MigrationJob>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    instrumented(obj, ctx, shell::reconcile).await
}

pub(crate) async fn reconcile_ptc(
    obj: Arc<PullThroughCache>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    instrumented(obj, ctx, shell::reconcile).await
}

pub(crate) async fn reconcile_aurora(
    obj: Arc<AuroraCluster>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    instrumented(obj, ctx, shell::reconcile).await
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

/// Transient failures (throttling, outages) back off with jitter; the last
/// known status stays as it is.
pub(crate) fn error_policy<K>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action
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
