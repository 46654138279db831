//! Reading ECS, Secrets Manager and Cloud Map state for `EcsService`.
//!
//! DescribeServices is batched: every reconcile asks the shared
//! [`ServiceBatcher`], which collects the services of one cluster for a short
//! window and describes them 10 per call. Nothing is cached beyond the
//! window: a refresh must see what AWS says now. Polls are aligned to the same
//! wall-clock ticks (see `aligned_poll`), so the number of calls grows with
//! clusters, not with services.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_ecs::types::{
    Service, ServiceField, SortOrder, Task, TaskDefinitionField, TaskDefinitionStatus,
};
use tokio::sync::{oneshot, Mutex};

use super::render::{TAG_HASH, TAG_OWNER};
use crate::aws::{AwsFailure, Clients, Target};

/// How long reconciles wait for others of the same cluster before one
/// DescribeServices call serves them all.
const BATCH_WINDOW: Duration = Duration::from_millis(1000);
/// DescribeServices takes at most 10 services.
const DESCRIBE_LIMIT: usize = 10;

type Reply = oneshot::Sender<Result<Option<Service>, AwsFailure>>;

#[derive(Default)]
struct ClusterBatch {
    pending: Vec<(String, Reply)>,
    scheduled: bool,
}

#[derive(Default, Clone)]
pub struct ServiceBatcher {
    clusters: Arc<Mutex<HashMap<(Target, String), ClusterBatch>>>,
}

impl ServiceBatcher {
    /// The service `name` of `cluster` (None when absent or INACTIVE).
    pub async fn describe(
        &self,
        clients: &Arc<Clients>,
        cluster: &str,
        name: &str,
    ) -> Result<Option<Service>, AwsFailure> {
        let key = (clients.target.clone(), cluster.to_string());
        let rx = {
            let mut clusters = self.clusters.lock().await;
            let batch = clusters.entry(key.clone()).or_default();
            let (tx, rx) = oneshot::channel();
            batch.pending.push((name.to_string(), tx));
            if !batch.scheduled {
                batch.scheduled = true;
                let this = self.clone();
                let clients = clients.clone();
                tokio::spawn(async move { this.flush(clients, key).await });
            }
            rx
        };
        rx.await.unwrap_or_else(|_| {
            Err(AwsFailure {
                kind: crate::aws::FailureKind::Transient,
                action: "ecs:DescribeServices",
                code: None,
                message: "batch dropped".into(),
            })
        })
    }

    async fn flush(&self, clients: Arc<Clients>, key: (Target, String)) {
        tokio::time::sleep(BATCH_WINDOW).await;
        let pending = {
            let mut clusters = self.clusters.lock().await;
            let batch = clusters.entry(key.clone()).or_default();
            batch.scheduled = false;
            std::mem::take(&mut batch.pending)
        };
        let mut names: Vec<String> = pending.iter().map(|(n, _)| n.clone()).collect();
        names.sort();
        names.dedup();
        let mut results: HashMap<String, Result<Option<Service>, AwsFailure>> = HashMap::new();
        for chunk in names.chunks(DESCRIBE_LIMIT) {
            let out = clients
                .call("ecs:DescribeServices", || {
                    clients
                        .ecs
                        .describe_services()
                        .cluster(&key.1)
                        .set_services(Some(chunk.to_vec()))
                        .include(ServiceField::Tags)
                        .send()
                })
                .await;
            match out {
                Ok(out) => {
                    for name in chunk {
                        let svc = out
                            .services()
                            .iter()
                            .find(|s| s.service_name() == Some(name.as_str()))
                            .filter(|s| s.status() != Some("INACTIVE"))
                            .cloned();
                        results.insert(name.clone(), Ok(svc));
                    }
                }
                Err(failure) => {
                    for name in chunk {
                        results.insert(name.clone(), Err(failure.clone()));
                    }
                }
            }
        }
        for (name, tx) in pending {
            let result = results.get(&name).cloned().unwrap_or(Ok(None));
            let _ = tx.send(result);
        }
    }
}

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

/// Visits the ACTIVE revisions of exactly `family`, newest first (at most
/// `scan`), with their tags, until `visit` returns true.
async fn visit_revisions(
    clients: &Clients,
    family: &str,
    scan: usize,
    mut visit: impl FnMut(&str, i64, &[aws_sdk_ecs::types::Tag]) -> bool,
) -> Result<(), AwsFailure> {
    let list = clients
        .call("ecs:ListTaskDefinitions", || {
            clients
                .ecs
                .list_task_definitions()
                .family_prefix(family)
                .status(TaskDefinitionStatus::Active)
                .sort(SortOrder::Desc)
                .max_results(scan.clamp(1, 100) as i32)
                .send()
        })
        .await?;
    for arn in list.task_definition_arns() {
        // familyPrefix also matches longer families (`api` vs `api-worker`).
        if family_of(arn) != Some(family) {
            continue;
        }
        let out = clients
            .call("ecs:DescribeTaskDefinition", || {
                clients
                    .ecs
                    .describe_task_definition()
                    .task_definition(arn)
                    .include(TaskDefinitionField::Tags)
                    .send()
            })
            .await?;
        let revision = out.task_definition().map(|t| t.revision()).unwrap_or(0) as i64;
        if visit(arn, revision, out.tags()) {
            break;
        }
    }
    Ok(())
}

fn has_tag(tags: &[aws_sdk_ecs::types::Tag], key: &str, value: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == Some(key) && t.value() == Some(value))
}

/// The newest ACTIVE revision of `family` whose berth hash tag is `hash`.
/// Newest first, at most `scan` revisions: berth registers on top.
pub async fn find_revision(
    clients: &Clients,
    family: &str,
    hash: &str,
    scan: usize,
) -> Result<Option<(String, i64)>, AwsFailure> {
    let mut found = None;
    visit_revisions(clients, family, scan, |arn, revision, tags| {
        if has_tag(tags, TAG_HASH, hash) {
            found = Some((arn.to_string(), revision));
        }
        found.is_some()
    })
    .await?;
    Ok(found)
}

/// berth's ACTIVE revisions of `family` (owner tag = `owner`), newest first.
pub async fn owned_revisions(
    clients: &Clients,
    family: &str,
    owner: &str,
) -> Result<Vec<String>, AwsFailure> {
    let mut owned = Vec::new();
    visit_revisions(clients, family, 100, |arn, _, tags| {
        if has_tag(tags, TAG_OWNER, owner) {
            owned.push(arn.to_string());
        }
        false
    })
    .await?;
    Ok(owned)
}

/// `arn:aws:ecs:r:a:task-definition/FAMILY:REV` -> `FAMILY`.
pub fn family_of(arn: &str) -> Option<&str> {
    arn.rsplit_once("task-definition/")
        .and_then(|(_, rest)| rest.rsplit_once(':'))
        .map(|(family, _)| family)
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
    fn family_from_arn() {
        assert_eq!(
            family_of("arn:aws:ecs:us-east-1:123456789012:task-definition/shop-api:12"),
            Some("shop-api")
        );
        assert_eq!(family_of("nonsense"), None);
    }

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
