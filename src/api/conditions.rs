//! The shared status contract: `Ready`, `Progressing` and `Degraded`
//! conditions in a list-map keyed by `type`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

pub const READY: &str = "Ready";
pub const PROGRESSING: &str = "Progressing";
pub const DEGRADED: &str = "Degraded";

/// The three condition types every kind reports, in display order.
pub const TYPES: [&str; 3] = [READY, PROGRESSING, DEGRADED];

/// Ready and Progressing False, Degraded True, all for one reason: the
/// shape of every failure a human has to look at.
pub fn failed(reason: impl Into<String>, message: impl Into<String>) -> Vec<Desired> {
    let (reason, message) = (reason.into(), message.into());
    vec![
        Desired::new(READY, false, reason.clone(), message.clone()),
        Desired::new(PROGRESSING, false, reason.clone(), message.clone()),
        Desired::new(DEGRADED, true, reason, message),
    ]
}

/// A condition as a plan decides it; `lastTransitionTime` is filled in by
/// [`merge`], which keeps the old time when the status did not change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub type_: &'static str,
    pub status: bool,
    pub reason: String,
    pub message: String,
}

impl Desired {
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason: reason.into(),
            message: message.into(),
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
                reason: d.reason.clone(),
                // An empty message is legal, but API servers seen here (1.20)
                // turn "" into null under server-side apply and then reject it.
                message: if d.message.is_empty() {
                    d.reason.clone()
                } else {
                    d.message.clone()
                },
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

/// The condition of `type_`, if present.
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
            &[Desired::new(READY, false, "Creating", "creating")],
            Some(1),
            at(100),
        );
        let second = merge(
            &first,
            &[Desired::new(READY, false, "RollingOut", "rolling out")],
            Some(2),
            at(200),
        );
        assert_eq!(second[0].last_transition_time, Time(at(100)));
        assert_eq!(second[0].reason, "RollingOut");
        assert_eq!(second[0].observed_generation, Some(2));

        let third = merge(
            &second,
            &[Desired::new(READY, true, "Available", "ok")],
            Some(2),
            at(300),
        );
        assert_eq!(third[0].last_transition_time, Time(at(300)));
        assert!(is_true(&third, READY));
    }
}
