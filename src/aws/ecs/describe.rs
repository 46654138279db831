//! DescribeServices, batched: every reconcile asks the shared
//! [`ServiceBatcher`], which collects the services of one cluster for a short
//! window and describes them 10 per call. Nothing is cached beyond the
//! window: a refresh must see what AWS says now. Polls are aligned to the same
//! wall-clock ticks, so the number of calls grows with clusters, not with
//! services.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ecs::types::ServiceField;
use tokio::sync::{oneshot, Mutex};

use super::views::ServiceView;
use crate::aws::{AwsFailure, Clients, Target};

/// How long reconciles wait for others of the same cluster before one
/// DescribeServices call serves them all.
const BATCH_WINDOW: Duration = Duration::from_millis(1000);
/// DescribeServices takes at most 10 services.
const DESCRIBE_LIMIT: usize = 10;

type Reply = oneshot::Sender<Result<Option<ServiceView>, AwsFailure>>;

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
    ) -> Result<Option<ServiceView>, AwsFailure> {
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
        let mut results: HashMap<String, Result<Option<ServiceView>, AwsFailure>> = HashMap::new();
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
                            .map(ServiceView::from);
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
