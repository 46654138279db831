//! Installing the CRDs into a cluster (`berth crds --install`, the demo and
//! the end-to-end tests): create or replace each CRD (CEL rules stripped on
//! API servers older than 1.25), then wait until every CRD is Established.
//!
//! Not server-side apply: a 1.20 API server refuses to build the typed patch
//! of a v1 CRD ("per-version schemas may not all be set to identical
//! values"), while create and update work on every version.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};

use crate::api;

pub const FIELD_MANAGER: &str = "berth-crds";

pub async fn install(client: &Client) -> anyhow::Result<()> {
    let version = client
        .apiserver_version()
        .await
        .context("asking the API server for its version")?;
    let cel = api::server_supports_cel(&version.major, &version.minor);
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let pp = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    for crd in api::crds() {
        let crd = if cel { crd } else { api::without_cel(&crd) };
        let name = crd.name_any();
        // Another installer (a second replica, a parallel test) may write
        // between our read and write: read again and retry.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = match crds.get_opt(&name).await? {
                None => crds.create(&pp, &crd).await.map(|_| ()),
                Some(live) => {
                    let mut next = crd.clone();
                    next.metadata.resource_version = live.metadata.resource_version;
                    crds.replace(&name, &pp, &next).await.map(|_| ())
                }
            };
            match result {
                Ok(()) => break,
                Err(kube::Error::Api(e)) if e.code == 409 && attempt < 5 => continue,
                Err(e) => return Err(e).with_context(|| format!("installing CRD {name}")),
            }
        }
        tracing::info!(crd = %name, cel, "CRD installed");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for crd in api::crds() {
        let name = crd.name_any();
        loop {
            let live = crds.get(&name).await?;
            let established = live
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            if Instant::now() > deadline {
                bail!("CRD {name} is not Established after 60s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}
