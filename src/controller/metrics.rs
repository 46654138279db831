//! Prometheus metrics served on /metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: String,
    pub category: String,
}

/// An Event berth published: its reason is one of berth's own (a closed
/// set of literals in the code), so the label set stays bounded.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub kind: String,
    pub reason: String,
    /// `Normal` or `Warning`.
    pub r#type: String,
}

pub struct Metrics {
    pub reconciles: Family<KindLabel, Counter>,
    pub failures: Family<ErrorLabels, Counter>,
    pub duration: Family<KindLabel, Histogram>,
    /// Reconciles running now (kube-runtime does not expose its queue;
    /// a value pinned at `--max-concurrent-reconciles` means work queues).
    pub in_flight: Family<KindLabel, Gauge>,
    /// Rollout and migration outcomes, mutations and phase changes, as the
    /// Events that report them (e.g. RolloutComplete, RolledBack,
    /// Succeeded, Failed, TaskStarted).
    pub events: Family<EventLabels, Counter>,
    /// Status writes the API server refused (422): a status berth computed
    /// that breaks the CRD schema.
    pub status_writes_refused: Family<KindLabel, Counter>,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            reconciles: Family::default(),
            failures: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.01, 2.0, 12))
            }),
            in_flight: Family::default(),
            events: Family::default(),
            status_writes_refused: Family::default(),
        };
        registry.register(
            "berth_reconciles",
            "Reconciles started, by kind",
            m.reconciles.clone(),
        );
        registry.register(
            "berth_reconcile_failures",
            "Reconciles that failed, by kind and error category",
            m.failures.clone(),
        );
        registry.register(
            "berth_reconcile_duration_seconds",
            "Reconcile duration, by kind",
            m.duration.clone(),
        );
        registry.register(
            "berth_reconciles_in_flight",
            "Reconciles running now, by kind",
            m.in_flight.clone(),
        );
        registry.register(
            "berth_events",
            "Events berth published, by kind, reason and type: rollout and migration outcomes among them",
            m.events.clone(),
        );
        registry.register(
            "berth_status_writes_refused",
            "Status writes the API server refused (422: the status breaks the CRD schema), by kind",
            m.status_writes_refused.clone(),
        );
        m
    }

    pub fn unregistered() -> Self {
        Self::register(&mut Registry::default())
    }
}
