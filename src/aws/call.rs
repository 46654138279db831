//! The one pipeline every AWS request goes through: a token from the
//! client-side limiter, the call, its metrics (service, action, outcome),
//! classification of a failure, and retries of throttled and transient
//! failures with jittered backoff. The SDK's own retries are off, so each
//! attempt takes a token and is counted.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::error::{classify, AwsFailure, FailureKind};
use super::limiter::{Limiter, Ticket};
use super::Target;

/// Attempts per call: the first and two retries.
const ATTEMPTS: u32 = 3;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub service: String,
    pub action: String,
    /// ok, throttled, transient, error.
    pub outcome: String,
}

/// AWS call metrics; every label has a bounded set of values.
pub struct AwsMetrics {
    pub calls: Family<CallLabels, Counter>,
    pub limiter_wait: Histogram,
}

impl AwsMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            calls: Family::default(),
            limiter_wait: Histogram::new(exponential_buckets(0.001, 4.0, 10)),
        };
        registry.register(
            "berth_aws_calls",
            "AWS API calls (each attempt), by service, action and outcome",
            m.calls.clone(),
        );
        registry.register(
            "berth_aws_limiter_wait_seconds",
            "Time a call waited for a token of berth's client-side rate limiter",
            m.limiter_wait.clone(),
        );
        m
    }

    pub fn unregistered() -> Self {
        Self::register(&mut Registry::default())
    }
}

/// The limiter and metrics shared by every target's clients.
pub struct Pipeline {
    pub limiter: Limiter,
    pub metrics: AwsMetrics,
}

impl Pipeline {
    pub fn new(limiter: Limiter, metrics: AwsMetrics) -> Arc<Self> {
        Arc::new(Self { limiter, metrics })
    }

    /// No limiter, metrics nobody reads: for tests that build clients.
    pub fn unlimited() -> Arc<Self> {
        Self::new(Limiter::new(None), AwsMetrics::unregistered())
    }

    /// Sends a request built by `send` (called once per attempt). A request
    /// that failed throttled or transiently is sent again unless
    /// `idempotent` is false and AWS may have executed it: a lost response
    /// must not create a second resource. A `prepaid` ticket pays for the
    /// first attempt (retries take tokens of their own).
    pub async fn call<T, E, Fut>(
        &self,
        target: &Target,
        action: &'static str,
        idempotent: bool,
        mut prepaid: Option<Ticket>,
        send: impl Fn() -> Fut,
    ) -> Result<T, AwsFailure>
    where
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (service, op) = action.split_once(':').unwrap_or(("", action));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let ticket = match prepaid.take() {
                Some(ticket) => ticket,
                None => self.limiter.ticket(target, action),
            };
            let waited = ticket.at.saturating_duration_since(Instant::now());
            if !waited.is_zero() {
                tokio::time::sleep(waited).await;
            }
            self.metrics.limiter_wait.observe(waited.as_secs_f64());
            // Checked right before sending (a limiter wait can outlast the
            // leadership): a replica that is not the leader must not touch AWS.
            if let Err(e) = crate::runtime::leader::check() {
                return Err(AwsFailure {
                    kind: FailureKind::Transient,
                    action,
                    code: Some("NotLeader".into()),
                    message: e.to_string(),
                });
            }
            let result = send().await.map_err(|e| classify(action, e));
            let outcome = match &result {
                Ok(_) => "ok",
                Err(f) => match f.kind {
                    FailureKind::Throttled => "throttled",
                    FailureKind::Transient => "transient",
                    FailureKind::Terminal => "error",
                },
            };
            self.metrics
                .calls
                .get_or_create(&CallLabels {
                    service: service.to_string(),
                    action: op.to_string(),
                    outcome: outcome.to_string(),
                })
                .inc();
            let retry = match &result {
                Ok(_) => false,
                // A throttled request was not executed.
                Err(f) if f.kind == FailureKind::Throttled => true,
                Err(f) if f.kind == FailureKind::Transient => idempotent,
                Err(_) => false,
            };
            if !retry || attempt >= ATTEMPTS {
                return result;
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
    }
}

/// 100 ms, 200 ms, ... with up to 100% jitter, so callers that failed
/// together do not retry together.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(100u64 << attempt.min(6));
    base + crate::runtime::jitter(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_within_bounds() {
        for attempt in 1..5 {
            let base = 100u64 << attempt;
            let d = backoff(attempt).as_millis() as u64;
            assert!(d >= base && d <= 2 * base, "attempt {attempt}: {d} ms");
        }
    }
}
