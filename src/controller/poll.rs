//! When the EcsService reconcile polls.
//!
//! DescribeServices is batched across reconciles (`crate::aws::ServiceBatcher`);
//! polls are aligned to the same wall-clock ticks (see `aligned_poll`), so the
//! number of calls grows with clusters, not with services.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A requeue delay that lands on the next multiple of `poll` (plus a little),
/// so services polling at the same interval are described in one batch.
pub fn aligned_poll(poll: Duration) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    aligned_from(poll, now)
}

/// The wait from `now_ms` (Unix milliseconds) to 20 ms past the next
/// multiple of `poll`.
fn aligned_from(poll: Duration, now_ms: u128) -> Duration {
    let p = poll.as_millis().max(1);
    Duration::from_millis((p - now_ms % p) as u64 + 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_polls_land_on_the_grid() {
        let poll = Duration::from_secs(5);
        // Reconciles that asked at different moments wake together, 20 ms
        // past the same multiple of the poll interval.
        for now in [1_000_000_000_000u128, 1_000_000_001_234, 1_000_000_004_999] {
            let wake = now + aligned_from(poll, now).as_millis();
            assert_eq!(wake % 5000, 20, "asked at {now}");
            assert_eq!(wake, 1_000_000_005_020);
        }
        // Exactly on the grid: the next tick, not now.
        assert_eq!(
            aligned_from(poll, 1_000_000_005_000),
            Duration::from_millis(5020)
        );
    }
}
