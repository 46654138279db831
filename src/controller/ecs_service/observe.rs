//! Reading ECS, Secrets Manager and Cloud Map state for `EcsService`.
//!
//! DescribeServices is batched across reconciles (`crate::aws::ServiceBatcher`);
//! polls are aligned to the same wall-clock ticks (see `aligned_poll`), so the
//! number of calls grows with clusters, not with services.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_ecs::types::Task;

use crate::aws::{AwsFailure, Clients};

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

/// The AWSCURRENT version id of each Secrets Manager secret.
pub async fn secret_versions(
    clients: &Clients,
    arns: &[String],
) -> Result<std::collections::BTreeMap<String, String>, AwsFailure> {
    let mut versions = std::collections::BTreeMap::new();
    for arn in arns {
        let out = clients
            .call("secretsmanager:DescribeSecret", || {
                clients.secrets.describe_secret().secret_id(arn).send()
            })
            .await?;
        let current = out.version_ids_to_stages().and_then(|m| {
            m.iter()
                .find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT"))
                .map(|(id, _)| id.clone())
        });
        versions.insert(arn.clone(), current.unwrap_or_default());
    }
    Ok(versions)
}

/// The most recent stopped tasks of a service, newest first (at most `n`).
pub async fn stopped_tasks(
    clients: &Clients,
    cluster: &str,
    service: &str,
    n: usize,
) -> Result<Vec<Task>, AwsFailure> {
    let list = clients
        .call("ecs:ListTasks", || {
            clients
                .ecs
                .list_tasks()
                .cluster(cluster)
                .service_name(service)
                .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
                .max_results(100)
                .send()
        })
        .await?;
    let arns: Vec<String> = list.task_arns().to_vec();
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    let mut tasks = Vec::new();
    for chunk in arns.chunks(100) {
        let out = clients
            .call("ecs:DescribeTasks", || {
                clients
                    .ecs
                    .describe_tasks()
                    .cluster(cluster)
                    .set_tasks(Some(chunk.to_vec()))
                    .send()
            })
            .await?;
        tasks.extend(out.tasks().iter().cloned());
    }
    tasks.sort_by(|a, b| {
        let key = |t: &Task| t.stopped_at().map(|d| d.as_secs_f64()).unwrap_or(0.0);
        key(b).total_cmp(&key(a))
    });
    tasks.truncate(n);
    Ok(tasks)
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
