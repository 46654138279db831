//! CloudWatch Logs: the tail of a task's log stream for status.

use crate::aws::Clients;

/// Lines of the log stream kept in status.
pub const LOG_LINES: i32 = 20;

/// The last lines of a log stream, oldest first. A missing stream or
/// group is an empty tail: logs are a courtesy, never a failure.
pub async fn log_tail(clients: &Clients, group: &str, stream: &str) -> Vec<String> {
    let resp = clients
        .call("logs:GetLogEvents", || {
            clients
                .logs
                .get_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .limit(LOG_LINES)
                .start_from_head(false)
                .send()
        })
        .await;
    match resp {
        Ok(out) => out
            .events()
            .iter()
            .filter_map(|e| e.message().map(|m| m.trim_end().to_string()))
            .collect(),
        Err(f) => {
            tracing::debug!(error = %f, group, stream, "no log tail");
            Vec::new()
        }
    }
}
