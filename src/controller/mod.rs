//! The controller process. For now it watches the four kinds and logs what
//! it sees; the reconcilers (observe -> plan -> act -> status) come per kind.

use std::fmt::Debug;

use anyhow::Context;
use futures::StreamExt;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::{info, warn};

use crate::api::{AuroraCluster, EcsService, MigrationJob, PullThroughCache};
use crate::cli::RunArgs;

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let client = Client::try_default()
        .await
        .context("no Kubernetes configuration (KUBECONFIG, ~/.kube/config or in-cluster)")?;
    info!(
        namespace = args.namespace.as_deref().unwrap_or("(all)"),
        "berth controller starting"
    );
    let ns = args.namespace.as_deref();
    tokio::select! {
        r = watch_and_log::<EcsService>(client.clone(), ns) => r,
        r = watch_and_log::<MigrationJob>(client.clone(), ns) => r,
        r = watch_and_log::<AuroraCluster>(client.clone(), ns) => r,
        r = watch_and_log::<PullThroughCache>(client.clone(), ns) => r,
        _ = tokio::signal::ctrl_c() => {
            info!("interrupted, shutting down");
            Ok(())
        }
    }
}

async fn watch_and_log<K>(client: Client, namespace: Option<&str>) -> anyhow::Result<()>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let api: Api<K> = match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let kind = K::kind(&());
    watcher(api, watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .for_each(|event| {
            match event {
                Ok(obj) => info!(
                    kind = %kind,
                    namespace = obj.namespace().unwrap_or_default(),
                    name = obj.name_any(),
                    generation = obj.meta().generation,
                    "observed"
                ),
                Err(err) => warn!(kind = %kind, error = %err, "watch error"),
            }
            futures::future::ready(())
        })
        .await;
    Ok(())
}
