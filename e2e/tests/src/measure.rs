//! What a scale test reads off the berth process: its Prometheus metrics,
//! every object's reconcile counts, and its peak memory.

use std::collections::BTreeMap;

use anyhow::Context as _;

use super::{http_get, Env};

/// One sample of berth's `/metrics`: `name{labels}` -> value.
pub type Metrics = BTreeMap<String, f64>;

impl Env {
    /// berth's `/metrics`, every sample line as `name{labels}` -> value.
    pub async fn berth_metrics(&self) -> anyhow::Result<Metrics> {
        let body = self.admin_get("/metrics").await?;
        Ok(parse_metrics(&body))
    }

    /// `(started, finished)` reconciles of every object berth has seen, by
    /// `Kind/namespace/name`.
    pub async fn all_reconciles(&self) -> anyhow::Result<BTreeMap<String, (u64, u64)>> {
        let body = http_get(self.debug_port, "/debug/reconciles").await?;
        let all: serde_json::Value = serde_json::from_str(&body).context("parsing the JSON")?;
        let mut out = BTreeMap::new();
        for (key, counts) in all.as_object().context("an object")? {
            out.insert(
                key.clone(),
                (
                    counts["started"].as_u64().unwrap_or(0),
                    counts["finished"].as_u64().unwrap_or(0),
                ),
            );
        }
        Ok(out)
    }

    /// The berth process's peak resident memory (VmHWM), in KiB.
    pub fn berth_peak_rss_kib(&self) -> Option<u64> {
        let pid = self.berth.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    }
}

/// Parses the Prometheus text format's sample lines.
pub fn parse_metrics(text: &str) -> Metrics {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The sum of every sample of `family` whose labels contain all of `labels`
/// (`key="value"` pairs).
pub fn sum(metrics: &Metrics, family: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .iter()
        .filter(|(k, _)| k.split('{').next() == Some(family))
        .filter(|(k, _)| {
            labels
                .iter()
                .all(|(key, value)| k.contains(&format!("{key}=\"{value}\"")))
        })
        .map(|(_, v)| v)
        .sum()
}
