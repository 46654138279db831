//! Prometheus metrics served on /metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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

pub struct Metrics {
    pub reconciles: Family<KindLabel, Counter>,
    pub failures: Family<ErrorLabels, Counter>,
    pub duration: Family<KindLabel, Histogram>,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            reconciles: Family::default(),
            failures: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.01, 2.0, 12))
            }),
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
        m
    }

    pub fn unregistered() -> Self {
        Self::register(&mut Registry::default())
    }
}
