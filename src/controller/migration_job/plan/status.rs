//! The status a run reports, and when a finished standalone job goes.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::conditions_with;
use crate::api::conditions::{self, Reason};
use crate::api::migration_job::{Hook, MigrationJob, MigrationJobStatus, Phase};

/// The next status: the run's, in `phase`, with the conditions of the
/// phase saying `reason` and `message` and, for a run whose tasks cannot
/// start, `Degraded` saying `cannot_start` ([`conditions_with`]), and the
/// PullThroughCache serving the image.
#[allow(clippy::too_many_arguments)]
pub fn status(
    obj: &MigrationJob,
    prev: &MigrationJobStatus,
    mut next: MigrationJobStatus,
    phase: Phase,
    reason: Reason,
    message: &str,
    cannot_start: Option<&str>,
    pull_through_cache: Option<String>,
    now: Timestamp,
) -> MigrationJobStatus {
    let generation = obj.metadata.generation;
    let desired = conditions_with(phase, reason, message, cannot_start);
    next.pull_through_cache = pull_through_cache;
    next.phase = Some(phase);
    next.observed_generation = generation;
    next.conditions = conditions::merge(&prev.conditions, &desired, generation, now);
    next
}

/// When a finished standalone job goes (`ttlSecondsAfterFinished`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// No TTL (or a hook job, whose service owns it), or no finish time.
    Never,
    After(Duration),
    Due,
}

pub fn expiry(obj: &MigrationJob, status: &MigrationJobStatus, now: Timestamp) -> Expiry {
    let (Some(ttl), Hook::None) = (obj.spec.ttl_seconds_after_finished, obj.spec.hook) else {
        return Expiry::Never;
    };
    let finished = status
        .finished_at
        .as_deref()
        .and_then(|s| s.parse::<Timestamp>().ok());
    let Some(finished) = finished else {
        return Expiry::Never;
    };
    let due = finished
        .checked_add(SignedDuration::from_secs(ttl))
        .unwrap_or(finished);
    if now < due {
        return Expiry::After(due.duration_since(now).unsigned_abs());
    }
    Expiry::Due
}
