//! How large a status can get, whatever AWS returns. Text from AWS (stopped
//! reasons, rollout reasons, error messages, a task's log lines) is copied
//! into status; one status over etcd's request limit (about 1.5 MiB) fails
//! every write of the object, so the reconcile can never record anything
//! again. Every status write goes through [`status`]; strings are cut with
//! a visible [`MARKER`], never silently.

use std::borrow::Cow;

use serde_json::Value;

use crate::api::migration_job::{LOG_LINE_BYTES, LOG_TAIL_BYTES};

/// Appended to every string that was cut.
pub const MARKER: &str = "… [cut]";
/// Any one string of a status (a condition message, a stopped reason).
pub const STRING_BYTES: usize = 2048;
/// A whole status, as JSON.
pub const STATUS_BYTES: usize = 32 * 1024;
/// Strings are cut shorter, down to this, while the status is still over
/// [`STATUS_BYTES`]; only then are list items dropped.
const MIN_STRING_BYTES: usize = 256;

/// `s` in at most `max` bytes, the marker included, cut on a character
/// boundary.
pub fn cut(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    if max <= MARKER.len() {
        return Cow::Owned(s[..floor_boundary(s, max)].to_string());
    }
    let keep = floor_boundary(s, max - MARKER.len());
    Cow::Owned(format!("{}{MARKER}", &s[..keep]))
}

fn floor_boundary(s: &str, mut at: usize) -> usize {
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Whether `stored` is `full` as [`cut`] left it (at any length): a
/// message that was cut before it was written is the same message.
pub fn is_cut_of(stored: &str, full: &str) -> bool {
    stored == full
        || stored.strip_suffix(MARKER).is_some_and(|prefix| {
            full.len() > stored.len() - MARKER.len() && full.starts_with(prefix)
        })
}

/// The newest lines of a log tail that fit its caps: each line cut to
/// [`LOG_LINE_BYTES`], at most [`LOG_TAIL_BYTES`] together (the oldest
/// lines go first). `lines` are oldest first, as CloudWatch returns them.
pub fn log_tail(lines: &[String]) -> Vec<String> {
    let mut kept = Vec::new();
    let mut total = 0;
    for line in lines.iter().rev() {
        let line = cut(line.trim_end(), LOG_LINE_BYTES);
        if total + line.len() > LOG_TAIL_BYTES {
            break;
        }
        total += line.len();
        kept.push(line.into_owned());
    }
    kept.reverse();
    kept
}

/// `status` (as JSON) within [`STATUS_BYTES`]: every string cut to
/// [`STRING_BYTES`]; while still too large, every string shorter (to 256
/// bytes), then the last items of the longest lists dropped. A status
/// berth writes for a sane object never reaches the second step.
pub fn status(status: &mut Value) {
    let mut cap = STRING_BYTES;
    cut_strings(status, cap);
    let mut size = json_len(status);
    while size > STATUS_BYTES && cap > MIN_STRING_BYTES {
        cap /= 2;
        cut_strings(status, cap);
        size = json_len(status);
    }
    while size > STATUS_BYTES {
        let Some(pointer) = longest_list(status, String::new()).map(|(_, p)| p) else {
            break;
        };
        let Some(dropped) = status
            .pointer_mut(&pointer)
            .and_then(Value::as_array_mut)
            .and_then(Vec::pop)
        else {
            break;
        };
        // The item and the comma before it (or nothing, for the last one:
        // counting one byte more only drops one item less).
        size = size.saturating_sub(json_len(&dropped) + 1);
    }
}

fn json_len(v: &Value) -> usize {
    serde_json::to_vec(v).map(|b| b.len()).unwrap_or(0)
}

fn cut_strings(v: &mut Value, max: usize) {
    match v {
        Value::String(s) => {
            if let Cow::Owned(c) = cut(s, max) {
                *s = c;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| cut_strings(i, max)),
        Value::Object(fields) => fields.values_mut().for_each(|f| cut_strings(f, max)),
        _ => {}
    }
}

/// The non-empty list with the most items, as (items, JSON pointer).
fn longest_list(v: &Value, at: String) -> Option<(usize, String)> {
    let (own, children): (Option<(usize, String)>, Vec<(String, &Value)>) = match v {
        Value::Array(items) => (
            (!items.is_empty()).then(|| (items.len(), at.clone())),
            items
                .iter()
                .enumerate()
                .map(|(i, item)| (format!("{at}/{i}"), item))
                .collect(),
        ),
        Value::Object(fields) => (
            None,
            fields
                .iter()
                .map(|(k, f)| {
                    let key = k.replace('~', "~0").replace('/', "~1");
                    (format!("{at}/{key}"), f)
                })
                .collect(),
        ),
        _ => return None,
    };
    children
        .into_iter()
        .filter_map(|(p, child)| longest_list(child, p))
        .chain(own)
        .max_by_key(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn short_text_stays_as_it_is() {
        assert!(matches!(cut("exit 1", 512), Cow::Borrowed("exit 1")));
        let exact = "x".repeat(512);
        assert_eq!(cut(&exact, 512), exact);
    }

    #[test]
    fn long_text_is_cut_with_the_marker_within_the_cap() {
        let long = "x".repeat(10_000);
        let c = cut(&long, 512);
        assert_eq!(c.len(), 512);
        assert!(c.ends_with(MARKER));
        assert!(c.starts_with("xxxx"));
    }

    #[test]
    fn multibyte_characters_are_never_split() {
        // 2, 3 and 4 bytes per character: every cut position lands inside
        // one of them somewhere in the range.
        for text in ["é".repeat(600), "日本".repeat(300), "🦀".repeat(300)] {
            for max in 10..40 {
                let c = cut(&text, max);
                assert!(c.len() <= max, "{max}: {} bytes", c.len());
                assert!(c.ends_with(MARKER));
                // Still valid UTF-8 of whole characters of the input.
                let kept = c.strip_suffix(MARKER).unwrap();
                assert!(text.starts_with(kept));
            }
        }
        // A cap below the marker's size: no marker, still on a boundary.
        let short = "é".repeat(10);
        assert_eq!(cut(&short, 5), "éé");
    }

    #[test]
    fn a_cut_message_is_the_same_message() {
        let full = format!("task stopped: {}", "y".repeat(5000));
        let stored = cut(&full, STRING_BYTES);
        assert!(is_cut_of(&stored, &full));
        assert!(is_cut_of(&full, &full));
        assert!(!is_cut_of(
            &stored,
            &format!("another: {}", "y".repeat(5000))
        ));
        assert!(!is_cut_of("short", "shorter"));
        // A message that ends with the marker by itself is not a cut of a
        // message no longer than its text.
        assert!(!is_cut_of("abc… [cut]", "abc"));
    }

    #[test]
    fn a_log_tail_keeps_the_newest_lines_within_its_caps() {
        // 20 events of 256 KiB, as a task printing that much leaves them.
        let lines: Vec<String> = (0..20)
            .map(|i| format!("{i:02} {}", "z".repeat(256 * 1024)))
            .collect();
        let tail = log_tail(&lines);
        assert!(tail
            .iter()
            .all(|l| l.len() <= LOG_LINE_BYTES && l.ends_with(MARKER)));
        let total: usize = tail.iter().map(String::len).sum();
        assert!(total <= LOG_TAIL_BYTES, "{total}");
        assert_eq!(tail.len(), LOG_TAIL_BYTES / LOG_LINE_BYTES);
        assert!(tail.last().unwrap().starts_with("19 "), "newest last");
        assert!(tail[0].starts_with("04 "), "oldest dropped first");

        let short = vec!["migrating".to_string(), "done  \n".to_string()];
        assert_eq!(log_tail(&short), ["migrating", "done"]);
        assert!(log_tail(&[]).is_empty());
    }

    #[test]
    fn a_status_of_huge_aws_text_stays_within_its_cap() {
        let huge = "r".repeat(1024 * 1024);
        let mut s = json!({
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "RolloutFailed", "message": huge},
                {"type": "Degraded", "status": "True", "reason": "RolloutFailed", "message": "日本".repeat(100_000)},
            ],
            "rollout": {"state": "FAILED", "reason": huge},
            "lastStoppedTasks": (0..10).map(|i| json!({
                "taskArn": format!("arn:aws:ecs:us-east-1:123456789012:task/shop/{i}"),
                "stoppedReason": huge,
                "containers": [{"name": "app", "reason": huge, "exitCode": 1}],
            })).collect::<Vec<_>>(),
            "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/api:7",
        });
        status(&mut s);
        assert!(json_len(&s) <= STATUS_BYTES, "{}", json_len(&s));
        let message = s["conditions"][0]["message"].as_str().unwrap();
        assert!(message.ends_with(MARKER) && message.len() <= STRING_BYTES);
        assert!(s["conditions"][1]["message"]
            .as_str()
            .unwrap()
            .ends_with(MARKER));
        // Short identifiers are untouched.
        assert_eq!(
            s["taskDefinitionArn"],
            "arn:aws:ecs:us-east-1:123456789012:task-definition/api:7"
        );
        assert_eq!(s["lastStoppedTasks"].as_array().unwrap().len(), 10);
    }

    #[test]
    fn endless_lists_lose_their_last_items() {
        let mut s = json!({
            "phase": "Failed",
            "logTail": (0..100_000).map(|i| format!("line {i}")).collect::<Vec<_>>(),
        });
        status(&mut s);
        let size = json_len(&s);
        assert!(size <= STATUS_BYTES && size > STATUS_BYTES - 100, "{size}");
        assert_eq!(s["phase"], "Failed");
        assert_eq!(s["logTail"][0], "line 0");
    }

    #[test]
    fn a_small_status_is_left_alone() {
        let before =
            json!({"phase": "Succeeded", "exitCode": 0, "logTail": ["ok"], "conditions": []});
        let mut after = before.clone();
        status(&mut after);
        assert_eq!(after, before);
    }
}
