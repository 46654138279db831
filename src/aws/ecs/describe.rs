//! Batched ECS reads: DescribeServices (10 per call), DescribeTasks (100
//! per call) and DescribeServiceDeployments (20 per call). Every reconcile asks its target's [`Batches`], which collect
//! the keys asked for one cluster during a short window and describe them
//! together. Nothing is cached beyond the window: a refresh must see what
//! AWS says now. Polls are aligned to the same wall-clock ticks
//! (`controller::poll`), so the number of calls grows with clusters, not
//! with objects.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ecs::types::{ServiceField, Task, TaskField};
use tokio::sync::{oneshot, Mutex};

use super::deployments::ServiceDeploymentView;
use super::views::ServiceView;
use crate::aws::{AwsFailure, Clients, FailureKind};

/// How long reconciles wait for others of the same cluster before one
/// call serves them all.
const BATCH_WINDOW: Duration = Duration::from_millis(1000);

/// One batched read: the keys of one cluster in, what AWS knows of each out
/// (a key without an answer is absent from the map).
pub trait Describe: Send + Sync + 'static {
    type Out: Clone + Send + 'static;
    const ACTION: &'static str;
    /// The API's documented maximum of keys per call.
    const LIMIT: usize;
    fn describe(
        clients: Clients,
        cluster: String,
        keys: Vec<String>,
    ) -> impl Future<Output = Result<HashMap<String, Self::Out>, AwsFailure>> + Send;
}

type Reply<T> = oneshot::Sender<Result<Option<T>, AwsFailure>>;

/// The keys of one cluster waiting for the call; `id` tells a window's
/// timer whether the batch it was started for is still the one waiting.
struct ClusterBatch<T> {
    id: u64,
    pending: Vec<(String, Reply<T>)>,
}

struct State<T> {
    clusters: HashMap<String, ClusterBatch<T>>,
    next_id: u64,
}

pub struct Batcher<D: Describe> {
    state: Arc<Mutex<State<D::Out>>>,
}

impl<D: Describe> Default for Batcher<D> {
    fn default() -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                clusters: HashMap::new(),
                next_id: 0,
            })),
        }
    }
}

impl<D: Describe> Clone for Batcher<D> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
        }
    }
}

impl<D: Describe> Batcher<D> {
    /// What AWS says of `key` in `cluster`, described together with every
    /// other key asked for in the same window. A full batch goes at once:
    /// the reconciles waiting on it hold concurrency slots that the rest of
    /// the cluster's objects need to join the next one.
    pub async fn get(
        &self,
        clients: &Clients,
        cluster: &str,
        key: &str,
    ) -> Result<Option<D::Out>, AwsFailure> {
        let (tx, rx) = oneshot::channel();
        {
            let mut state = self.state.lock().await;
            let id = state.next_id;
            let batch = match state.clusters.get_mut(cluster) {
                Some(batch) => batch,
                None => {
                    state.next_id += 1;
                    let this = self.clone();
                    let (clients, name) = (clients.clone(), cluster.to_string());
                    tokio::spawn(async move {
                        tokio::time::sleep(BATCH_WINDOW).await;
                        if let Some(pending) = this.take(&name, id).await {
                            describe::<D>(clients, name, pending).await;
                        }
                    });
                    state
                        .clusters
                        .entry(cluster.to_string())
                        .or_insert(ClusterBatch {
                            id,
                            pending: Vec::new(),
                        })
                }
            };
            batch.pending.push((key.to_string(), tx));
            let mut keys: Vec<&str> = batch.pending.iter().map(|(k, _)| k.as_str()).collect();
            keys.sort_unstable();
            keys.dedup();
            if keys.len() >= D::LIMIT {
                let pending = state
                    .clusters
                    .remove(cluster)
                    .map(|b| b.pending)
                    .unwrap_or_default();
                tokio::spawn(describe::<D>(clients.clone(), cluster.to_string(), pending));
            }
        }
        rx.await.unwrap_or_else(|_| {
            Err(AwsFailure {
                kind: FailureKind::Transient,
                action: D::ACTION,
                code: None,
                message: "batch dropped".into(),
            })
        })
    }

    /// Removes the cluster's waiting batch (when it is batch `id`): a
    /// cluster nobody asks about again holds nothing.
    async fn take(&self, cluster: &str, id: u64) -> Option<Vec<(String, Reply<D::Out>)>> {
        let mut state = self.state.lock().await;
        if state.clusters.get(cluster)?.id != id {
            return None;
        }
        state.clusters.remove(cluster).map(|b| b.pending)
    }
}

/// One call per `D::LIMIT` distinct keys; every waiting reconcile gets its
/// key's answer (or the call's failure).
async fn describe<D: Describe>(
    clients: Clients,
    cluster: String,
    pending: Vec<(String, Reply<D::Out>)>,
) {
    let mut keys: Vec<String> = pending.iter().map(|(k, _)| k.clone()).collect();
    keys.sort();
    keys.dedup();
    let mut results: HashMap<String, Result<Option<D::Out>, AwsFailure>> = HashMap::new();
    for chunk in keys.chunks(D::LIMIT) {
        match D::describe(clients.clone(), cluster.clone(), chunk.to_vec()).await {
            Ok(mut found) => {
                for key in chunk {
                    results.insert(key.clone(), Ok(found.remove(key)));
                }
            }
            Err(failure) => {
                for key in chunk {
                    results.insert(key.clone(), Err(failure.clone()));
                }
            }
        }
    }
    for (key, tx) in pending {
        let result = results.get(&key).cloned().unwrap_or(Ok(None));
        let _ = tx.send(result);
    }
}

/// DescribeServices by service name; INACTIVE services count as absent.
pub struct Services;

impl Describe for Services {
    type Out = ServiceView;
    const ACTION: &'static str = "ecs:DescribeServices";
    const LIMIT: usize = 10;

    async fn describe(
        clients: Clients,
        cluster: String,
        keys: Vec<String>,
    ) -> Result<HashMap<String, ServiceView>, AwsFailure> {
        let out = clients
            .call(Self::ACTION, || {
                clients
                    .ecs
                    .describe_services()
                    .cluster(&cluster)
                    .set_services(Some(keys.clone()))
                    .include(ServiceField::Tags)
                    .send()
            })
            .await?;
        Ok(out
            .services()
            .iter()
            .filter(|s| s.status() != Some("INACTIVE"))
            .filter_map(|s| Some((s.service_name()?.to_string(), ServiceView::from(s))))
            .collect())
    }
}

/// DescribeTasks by task ARN, with tags (the attempt is one).
pub struct Tasks;

impl Describe for Tasks {
    type Out = Task;
    const ACTION: &'static str = "ecs:DescribeTasks";
    const LIMIT: usize = 100;

    async fn describe(
        clients: Clients,
        cluster: String,
        keys: Vec<String>,
    ) -> Result<HashMap<String, Task>, AwsFailure> {
        let out = clients
            .call(Self::ACTION, || {
                clients
                    .ecs
                    .describe_tasks()
                    .cluster(&cluster)
                    .set_tasks(Some(keys.clone()))
                    .include(TaskField::Tags)
                    .send()
            })
            .await?;
        Ok(out
            .tasks()
            .iter()
            .filter_map(|t| Some((t.task_arn()?.to_string(), t.clone())))
            .collect())
    }
}

/// DescribeServiceDeployments by service deployment ARN (the services'
/// `currentServiceDeployment`); unknown ARNs (in `failures`) are absent.
pub struct ServiceDeployments;

impl Describe for ServiceDeployments {
    type Out = ServiceDeploymentView;
    const ACTION: &'static str = "ecs:DescribeServiceDeployments";
    const LIMIT: usize = 20;

    async fn describe(
        clients: Clients,
        _cluster: String,
        keys: Vec<String>,
    ) -> Result<HashMap<String, ServiceDeploymentView>, AwsFailure> {
        let out = clients
            .call(Self::ACTION, || {
                clients
                    .ecs
                    .describe_service_deployments()
                    .set_service_deployment_arns(Some(keys.clone()))
                    .send()
            })
            .await?;
        Ok(out
            .service_deployments()
            .iter()
            .map(ServiceDeploymentView::from)
            .map(|d| (d.arn.clone(), d))
            .collect())
    }
}

/// The batched reads of one target.
#[derive(Default, Clone)]
pub struct Batches {
    pub services: Batcher<Services>,
    pub tasks: Batcher<Tasks>,
    pub service_deployments: Batcher<ServiceDeployments>,
}
