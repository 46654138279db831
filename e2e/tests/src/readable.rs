//! The readability rules of everything berth writes for a person: condition
//! messages and Event notes (`berth::api::reasons::text_problem`), checked
//! on whatever a test reads, so the suite walks the texts real reconciles
//! produce.

use k8s_openapi::api::events::v1::Event;
use serde::Serialize;

/// Every condition berth writes carries a reason of the closed set and a
/// message a person can read (not empty, not the reason echoed, no Rust
/// debug formatting, nothing said twice): checked on every object a test
/// waits on, so the whole suite walks the reasons real reconciles produce.
pub fn assert_conditions_readable<K: Serialize>(obj: &K) {
    let value = serde_json::to_value(obj).unwrap_or_default();
    let Some(conditions) = value["status"]["conditions"].as_array() else {
        return;
    };
    for c in conditions {
        let reason = c["reason"].as_str().unwrap_or_default();
        let message = c["message"].as_str().unwrap_or_default();
        let parsed = berth::api::reasons::Reason::parse(reason)
            .unwrap_or_else(|| panic!("condition reason {reason:?} is not in the closed set"));
        if let Some(problem) = berth::api::reasons::message_problem(parsed, message) {
            panic!("condition {}/{reason}: {problem}: {message:?}", c["type"]);
        }
    }
}

/// `type reason: note` of `events` about `name`, oldest first.
pub(crate) fn event_lines(mut events: Vec<Event>, name: &str) -> Vec<String> {
    events.retain(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name));
    events.sort_by_key(|e| e.metadata.creation_timestamp.clone().map(|t| t.0));
    events
        .iter()
        .map(|e| {
            format!(
                "{} {}: {}",
                e.type_.as_deref().unwrap_or("?"),
                e.reason.as_deref().unwrap_or("?"),
                e.note.as_deref().unwrap_or("")
            )
        })
        .collect()
}

/// Every Event note is read by the same people as condition messages (in
/// `kubectl describe`, next to the conditions), so it follows the same
/// rules: not empty, not its reason echoed, no Rust debug formatting,
/// nothing said twice.
pub fn assert_events_readable(events: &[Event]) {
    for e in events {
        let reason = e.reason.as_deref().unwrap_or_default();
        let note = e.note.as_deref().unwrap_or_default();
        if let Some(problem) = berth::api::reasons::text_problem(reason, note) {
            let about = e.regarding.as_ref().and_then(|r| r.name.as_deref());
            panic!(
                "Event {reason} about {}: {problem}: {note:?}",
                about.unwrap_or("?")
            );
        }
    }
}
