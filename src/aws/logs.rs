//! CloudWatch Logs: the tail of a task's log stream, for a MigrationJob
//! that asks for it (`spec.logTail`).

use crate::aws::Clients;

/// The last `lines` events of a log stream, oldest first, as CloudWatch
/// returns them (a single event can be up to 256 KiB: the caller cuts
/// them). A missing stream or group is an empty tail: logs are a courtesy,
/// never a failure. `lines` of 0 asks nothing.
pub async fn log_tail(clients: &Clients, group: &str, stream: &str, lines: i32) -> Vec<String> {
    if lines <= 0 {
        return Vec::new();
    }
    let resp = clients
        .call("logs:GetLogEvents", || {
            clients
                .logs
                .get_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .limit(lines)
                .start_from_head(false)
                .send()
        })
        .await;
    match resp {
        Ok(out) => out
            .events
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| e.message)
            .collect(),
        Err(f) => {
            tracing::debug!(error = %f, group, stream, "no log tail");
            Vec::new()
        }
    }
}
