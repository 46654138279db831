//! When reconciles poll AWS: on a wall-clock grid of the interval, so every
//! object polling at that interval asks within the same batch window and
//! DescribeServices / DescribeTasks batches fill (`crate::aws::ecs::Batches`):
//! the number of calls grows with clusters, not with objects.
//!
//! Each cluster polls in its own slot of the interval: the reconciles
//! waiting for a batch hold concurrency slots, so clusters polled at the
//! same instant split the slots between them and fill none of their
//! batches; one cluster at a time fills every batch but the last.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One cluster's slot: the batch window (1 s) and the call.
const SLOT: Duration = Duration::from_millis(1500);
/// At most this many slots, and only in the first half of the interval.
const MAX_SLOTS: u128 = 16;

/// A requeue delay that lands on the next multiple of `poll` plus the slot
/// of `cluster`, so the objects of one cluster polling at the same
/// interval are described together.
pub fn aligned(poll: Duration, cluster: &str) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    aligned_from(poll, cluster, now)
}

/// The wait from `now_ms` (Unix milliseconds) to 20 ms past the next time
/// `now_ms` passes the multiple of `poll` plus `cluster`'s slot offset.
fn aligned_from(poll: Duration, cluster: &str, now_ms: u128) -> Duration {
    let p = poll.as_millis().max(1);
    let slots = (p / 2 / SLOT.as_millis()).clamp(1, MAX_SLOTS);
    // A stable hash (FNV-1a): the same cluster gets the same slot in every
    // process, also after a restart.
    let hash = cluster.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let offset = (hash as u128 % slots) * SLOT.as_millis();
    let shifted = now_ms + p - offset % p;
    Duration::from_millis((p - shifted % p) as u64 + 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_polls_land_on_the_grid() {
        // 5 s: one slot, every cluster on the grid itself.
        let poll = Duration::from_secs(5);
        // Reconciles that asked at different moments wake together, 20 ms
        // past the same multiple of the poll interval.
        for now in [1_000_000_000_000u128, 1_000_000_001_234, 1_000_000_004_999] {
            let wake = now + aligned_from(poll, "shop", now).as_millis();
            assert_eq!(wake % 5000, 20, "asked at {now}");
            assert_eq!(wake, 1_000_000_005_020);
        }
        // Exactly on the grid: the next tick, not now.
        assert_eq!(
            aligned_from(poll, "shop", 1_000_000_005_000),
            Duration::from_millis(5020)
        );
    }

    #[test]
    fn clusters_poll_in_their_own_slots() {
        let poll = Duration::from_secs(60);
        let wake = |cluster: &str, now: u128| now + aligned_from(poll, cluster, now).as_millis();
        let mut offsets = std::collections::BTreeSet::new();
        for cluster in ["shop", "shop-b", "shop-c", "shop-d"] {
            // The same wake-up wherever in the interval the object asked.
            let first = wake(cluster, 1_000_000_000_000);
            assert_eq!(first, wake(cluster, 1_000_000_000_000 + 7_777), "{cluster}");
            assert!(first > 1_000_000_000_000 && first <= 1_000_000_060_020);
            let offset = (first - 20) % 60_000;
            assert_eq!(offset % 1500, 0, "{cluster}: slots are 1.5 s apart");
            assert!(offset < 30_000, "{cluster}: in the first half");
            offsets.insert(offset);
        }
        assert!(
            offsets.len() > 1,
            "four clusters share one slot: {offsets:?}"
        );
    }
}
