//! The shared status contract: `Ready`, `Progressing` and `Degraded`
//! conditions in a list-map keyed by `type`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

pub use super::reasons::Reason;

pub const READY: &str = "Ready";
pub const PROGRESSING: &str = "Progressing";
pub const DEGRADED: &str = "Degraded";

/// The three condition types every kind reports, in display order.
pub const TYPES: [&str; 3] = [READY, PROGRESSING, DEGRADED];

/// Ready and Progressing False, Degraded True, all for one reason: the
/// shape of every failure a human has to look at.
pub fn failed(reason: Reason, message: impl Into<String>) -> Vec<Desired> {
    let message = message.into();
    vec![
        Desired::new(READY, false, reason, message.clone()),
        Desired::new(PROGRESSING, false, reason, message.clone()),
        Desired::new(DEGRADED, true, reason, message),
    ]
}

/// `berth.dev/paused`: every condition says `Paused` and why; Ready and
/// Degraded keep what berth found (`ready`: what is in place works;
/// `degraded`: a person has to act even so), Progressing is False (berth
/// moves nothing forward).
pub fn paused(ready: bool, degraded: bool, message: impl Into<String>) -> Vec<Desired> {
    let message = message.into();
    vec![
        Desired::new(READY, ready, Reason::Paused, message.clone()),
        Desired::new(PROGRESSING, false, Reason::Paused, message.clone()),
        Desired::new(DEGRADED, degraded, Reason::Paused, message),
    ]
}

/// `Degraded=False`: nothing for a human to do. A condition message is
/// read by people, so it says so rather than repeating the reason.
pub fn not_degraded() -> Desired {
    Desired::new(
        DEGRADED,
        false,
        Reason::AsExpected,
        "no problem needs attention",
    )
}

/// A condition as a plan decides it; `lastTransitionTime` is filled in by
/// [`merge`], which keeps the old time when the status did not change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub type_: &'static str,
    pub status: bool,
    pub reason: Reason,
    pub message: String,
}

impl Desired {
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: Reason,
        message: impl Into<String>,
    ) -> Self {
        let message = message.into();
        // Every plan test checks the messages it produces.
        #[cfg(test)]
        if let Some(problem) = super::reasons::message_problem(reason, &message) {
            panic!("{type_}/{reason}: {problem}: {message:?}");
        }
        #[cfg(test)]
        super::reasons::coverage::record(reason);
        Self {
            type_,
            status,
            reason,
            message,
        }
    }
}

/// Builds the new condition list from the desired conditions, keeping
/// `lastTransitionTime` of every condition whose status is unchanged, so
/// `kubectl describe` shows how long something has been true.
pub fn merge(
    previous: &[Condition],
    desired: &[Desired],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    desired
        .iter()
        .map(|d| {
            let status = if d.status { "True" } else { "False" }.to_string();
            let last_transition_time = previous
                .iter()
                .find(|p| p.type_ == d.type_ && p.status == status)
                .map(|p| p.last_transition_time.clone())
                .unwrap_or(Time(now));
            Condition {
                type_: d.type_.to_string(),
                status,
                reason: d.reason.as_str().to_string(),
                message: d.message.clone(),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

/// The condition of `type_`, if present.
/// Ready and Degraded where they turned True with another reason since
/// `prev` (phase changes people want an Event for), each with whether it
/// is a warning (Degraded).
pub fn turned_true<'a>(prev: &[Condition], next: &'a [Condition]) -> Vec<(&'a Condition, bool)> {
    [READY, DEGRADED]
        .into_iter()
        .filter_map(|type_| {
            let now = find(next, type_).filter(|c| c.status == "True")?;
            let before = find(prev, type_);
            let same = before.is_some_and(|b| b.status == now.status && b.reason == now.reason);
            (!same).then_some((now, type_ == DEGRADED))
        })
        .collect()
}

pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// True when `type_` is present with status `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn keeps_transition_time_when_status_unchanged() {
        let first = merge(
            &[],
            &[Desired::new(
                READY,
                false,
                Reason::Creating,
                "creating the service",
            )],
            Some(1),
            at(100),
        );
        let second = merge(
            &first,
            &[Desired::new(
                READY,
                false,
                Reason::RollingOut,
                "rolling out revision 2",
            )],
            Some(2),
            at(200),
        );
        assert_eq!(second[0].last_transition_time, Time(at(100)));
        assert_eq!(second[0].reason, "RollingOut");
        assert_eq!(second[0].observed_generation, Some(2));

        let third = merge(
            &second,
            &[Desired::new(
                READY,
                true,
                Reason::RolloutComplete,
                "revision 2 is running",
            )],
            Some(2),
            at(300),
        );
        assert_eq!(third[0].last_transition_time, Time(at(300)));
        assert!(is_true(&third, READY));
    }
}
