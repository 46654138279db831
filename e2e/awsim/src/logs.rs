//! CloudWatch Logs (awsJson1_1, `Logs_20140328`): groups, streams and
//! events, written by simulated containers using the awslogs driver.
//! Timestamps here are epoch milliseconds, as in the real API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::core::{AwsError, AwsResult, Ctx};
use crate::util::{int_field, obj, str_field};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub timestamp: i64,
    pub ingestion_time: i64,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stream {
    pub creation_time: i64,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub arn: String,
    pub creation_time: i64,
    pub retention_in_days: Option<i64>,
    pub streams: BTreeMap<String, Stream>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct LogsState {
    pub groups: BTreeMap<String, Group>,
}

/// The largest message one event holds: "Each log event can be no larger
/// than 256 KB", an event's size being its message in UTF-8 plus 26 bytes
/// (PutLogEvents,
/// https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html).
/// Docker's awslogs driver splits a longer line into events of this size.
pub const MAX_EVENT_MESSAGE_BYTES: usize = 256 * 1024 - 26;

/// `line` as the messages of the events the awslogs driver sends for it.
fn split_event(mut line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    while line.len() > MAX_EVENT_MESSAGE_BYTES {
        let mut at = MAX_EVENT_MESSAGE_BYTES;
        while !line.is_char_boundary(at) {
            at -= 1;
        }
        out.push(&line[..at]);
        line = &line[at..];
    }
    out.push(line);
    out
}

fn ms(t: f64) -> i64 {
    (t * 1000.0) as i64
}

fn group_not_found() -> AwsError {
    AwsError::client(
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    )
}

fn stream_not_found() -> AwsError {
    AwsError::client(
        "ResourceNotFoundException",
        "The specified log stream does not exist.",
    )
}

impl LogsState {
    pub fn ensure_group(&mut self, ctx: &Ctx, name: &str) -> &mut Group {
        self.groups
            .entry(name.to_string())
            .or_insert_with(|| Group {
                arn: ctx.arn("logs", &format!("log-group:{name}:*")),
                creation_time: ms(ctx.now),
                ..Default::default()
            })
    }

    /// Appends lines as a container would through the awslogs driver: a
    /// line longer than one event can hold becomes several events.
    pub fn append(&mut self, ctx: &Ctx, group: &str, stream: &str, lines: &[String]) {
        let now = ms(ctx.now);
        let g = self.ensure_group(ctx, group);
        let s = g
            .streams
            .entry(stream.to_string())
            .or_insert_with(|| Stream {
                creation_time: now,
                events: vec![],
            });
        let events = lines.iter().flat_map(|l| split_event(l));
        for (i, message) in events.enumerate() {
            s.events.push(Event {
                timestamp: now + i as i64,
                ingestion_time: now + i as i64 + 5,
                message: message.to_string(),
            });
        }
    }

    pub fn handle(&mut self, ctx: &Ctx, op: &str, body: &Value) -> AwsResult<Value> {
        let group_name = || {
            str_field(body, "logGroupName").ok_or_else(|| {
                AwsError::client(
                    "InvalidParameterException",
                    "logGroupName must be specified.",
                )
            })
        };
        match op {
            "CreateLogGroup" => {
                let name = group_name()?;
                if self.groups.contains_key(name) {
                    return Err(AwsError::client(
                        "ResourceAlreadyExistsException",
                        "The specified log group already exists",
                    ));
                }
                self.ensure_group(ctx, name);
                Ok(json!({}))
            }
            "DeleteLogGroup" => {
                self.groups
                    .remove(group_name()?)
                    .ok_or_else(group_not_found)?;
                Ok(json!({}))
            }
            "PutRetentionPolicy" => {
                let g = self
                    .groups
                    .get_mut(group_name()?)
                    .ok_or_else(group_not_found)?;
                g.retention_in_days = int_field(body, "retentionInDays");
                Ok(json!({}))
            }
            "DescribeLogGroups" => {
                let prefix = str_field(body, "logGroupNamePrefix").unwrap_or("");
                let groups: Vec<Value> = self
                    .groups
                    .iter()
                    .filter(|(n, _)| n.starts_with(prefix))
                    .map(|(n, g)| {
                        obj(vec![
                            ("logGroupName", json!(n)),
                            ("arn", json!(g.arn)),
                            ("creationTime", json!(g.creation_time)),
                            ("retentionInDays", json!(g.retention_in_days)),
                            ("storedBytes", json!(0)),
                        ])
                    })
                    .collect();
                Ok(json!({"logGroups": groups}))
            }
            "CreateLogStream" => {
                let g = self
                    .groups
                    .get_mut(group_name()?)
                    .ok_or_else(group_not_found)?;
                let stream = str_field(body, "logStreamName").ok_or_else(|| {
                    AwsError::client(
                        "InvalidParameterException",
                        "logStreamName must be specified.",
                    )
                })?;
                if g.streams.contains_key(stream) {
                    return Err(AwsError::client(
                        "ResourceAlreadyExistsException",
                        "The specified log stream already exists",
                    ));
                }
                g.streams.insert(
                    stream.to_string(),
                    Stream {
                        creation_time: ms(ctx.now),
                        events: vec![],
                    },
                );
                Ok(json!({}))
            }
            "PutLogEvents" => {
                let g = self
                    .groups
                    .get_mut(group_name()?)
                    .ok_or_else(group_not_found)?;
                let s = g
                    .streams
                    .get_mut(str_field(body, "logStreamName").unwrap_or(""))
                    .ok_or_else(stream_not_found)?;
                for e in body
                    .get("logEvents")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    s.events.push(Event {
                        timestamp: int_field(e, "timestamp").unwrap_or(ms(ctx.now)),
                        ingestion_time: ms(ctx.now),
                        message: str_field(e, "message").unwrap_or("").to_string(),
                    });
                }
                s.events.sort_by_key(|e| e.timestamp);
                Ok(json!({}))
            }
            "GetLogEvents" => self.get_log_events(body),
            "FilterLogEvents" => self.filter_log_events(body),
            "DescribeLogStreams" => self.describe_log_streams(body),
            _ => Err(AwsError::client(
                "UnknownOperationException",
                format!("awsim does not implement CloudWatch Logs {op}"),
            )),
        }
    }

    fn get_log_events(&self, body: &Value) -> AwsResult<Value> {
        let g = self
            .groups
            .get(str_field(body, "logGroupName").unwrap_or(""))
            .ok_or_else(group_not_found)?;
        let s = g
            .streams
            .get(str_field(body, "logStreamName").unwrap_or(""))
            .ok_or_else(stream_not_found)?;
        let start = int_field(body, "startTime").unwrap_or(i64::MIN);
        let end = int_field(body, "endTime").unwrap_or(i64::MAX);
        let events: Vec<&Event> = s
            .events
            .iter()
            .filter(|e| e.timestamp >= start && e.timestamp < end)
            .collect();
        let limit = int_field(body, "limit")
            .filter(|l| *l > 0)
            .unwrap_or(10_000) as usize;
        let from_head = body
            .get("startFromHead")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        // Tokens are `f/INDEX` and `b/INDEX` over the filtered events; the
        // SDK's paginator stops when a token repeats.
        let (lo, hi) = match str_field(body, "nextToken") {
            Some(t) if t.starts_with("f/") => {
                let lo = t[2..].parse::<usize>().unwrap_or(0).min(events.len());
                (lo, (lo + limit).min(events.len()))
            }
            Some(t) if t.starts_with("b/") => {
                let hi = t[2..].parse::<usize>().unwrap_or(0).min(events.len());
                (hi.saturating_sub(limit), hi)
            }
            _ if from_head => (0, limit.min(events.len())),
            _ => (events.len().saturating_sub(limit), events.len()),
        };
        let out: Vec<Value> = events[lo..hi]
            .iter()
            .map(|e| json!({"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion_time}))
            .collect();
        Ok(json!({
            "events": out,
            "nextForwardToken": format!("f/{hi}"),
            "nextBackwardToken": format!("b/{lo}"),
        }))
    }

    fn filter_log_events(&self, body: &Value) -> AwsResult<Value> {
        let g = self
            .groups
            .get(str_field(body, "logGroupName").unwrap_or(""))
            .ok_or_else(group_not_found)?;
        let names: Vec<String> = crate::util::str_list(body, "logStreamNames");
        let prefix = str_field(body, "logStreamNamePrefix").unwrap_or("");
        let start = int_field(body, "startTime").unwrap_or(i64::MIN);
        let end = int_field(body, "endTime").unwrap_or(i64::MAX);
        // Only plain-term patterns: every term must appear in the message.
        let terms: Vec<String> = str_field(body, "filterPattern")
            .unwrap_or("")
            .split_whitespace()
            .map(|t| t.trim_matches('"').to_string())
            .filter(|t| !t.is_empty())
            .collect();
        let mut all: Vec<(i64, &str, usize, &Event)> = vec![];
        for (name, s) in &g.streams {
            if (!names.is_empty() && !names.contains(name)) || !name.starts_with(prefix) {
                continue;
            }
            for (i, e) in s.events.iter().enumerate() {
                if e.timestamp >= start
                    && e.timestamp < end
                    && terms.iter().all(|t| e.message.contains(t.as_str()))
                {
                    all.push((e.timestamp, name.as_str(), i, e));
                }
            }
        }
        all.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        let (page, next) = crate::util::paginate(&all, body, 10_000);
        let events: Vec<Value> = page
            .iter()
            .map(|(_, stream, i, e)| {
                json!({
                    "logStreamName": stream,
                    "timestamp": e.timestamp,
                    "message": e.message,
                    "ingestionTime": e.ingestion_time,
                    "eventId": format!("{}{:020}", e.timestamp, i),
                })
            })
            .collect();
        Ok(obj(vec![
            ("events", json!(events)),
            ("nextToken", json!(next)),
        ]))
    }

    fn describe_log_streams(&self, body: &Value) -> AwsResult<Value> {
        let g = self
            .groups
            .get(str_field(body, "logGroupName").unwrap_or(""))
            .ok_or_else(group_not_found)?;
        let prefix = str_field(body, "logStreamNamePrefix").unwrap_or("");
        let mut streams: Vec<(&String, &Stream)> = g
            .streams
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .collect();
        if str_field(body, "orderBy") == Some("LastEventTime") {
            streams.sort_by_key(|(n, s)| (s.events.last().map(|e| e.timestamp), (*n).clone()));
        }
        if body
            .get("descending")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            streams.reverse();
        }
        let (page, next) = crate::util::paginate(&streams, body, 50);
        let out: Vec<Value> = page
            .iter()
            .map(|(n, s)| {
                obj(vec![
                    ("logStreamName", json!(n)),
                    ("creationTime", json!(s.creation_time)),
                    (
                        "firstEventTimestamp",
                        json!(s.events.first().map(|e| e.timestamp)),
                    ),
                    (
                        "lastEventTimestamp",
                        json!(s.events.last().map(|e| e.timestamp)),
                    ),
                    (
                        "lastIngestionTime",
                        json!(s.events.last().map(|e| e.ingestion_time)),
                    ),
                    (
                        "arn",
                        json!(format!("{}:log-stream:{n}", g.arn.trim_end_matches(":*"))),
                    ),
                    ("storedBytes", json!(0)),
                ])
            })
            .collect();
        Ok(obj(vec![
            ("logStreams", json!(out)),
            ("nextToken", json!(next)),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_longer_than_an_event_becomes_several_events() {
        assert_eq!(split_event("ok"), ["ok"]);
        let full = "a".repeat(MAX_EVENT_MESSAGE_BYTES);
        assert_eq!(split_event(&full), [full.as_str()]);
        let long = format!("{full}é{}", "b".repeat(10));
        let parts = split_event(&long);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.len() <= MAX_EVENT_MESSAGE_BYTES));
        assert_eq!(parts.concat(), long);
    }
}
