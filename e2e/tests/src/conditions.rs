//! Waiting on berth's objects by their status conditions: Ready, Ready on a
//! revision, Degraded for a reason, and the condition messages tests read.

use std::time::Duration;

use berth::api::conditions::{is_true, DEGRADED, PROGRESSING, READY};
use berth::api::migration_job::Phase;
use berth::api::{AuroraCluster, EcsService, MigrationJob, PullThroughCache};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde::Serialize;

use super::{condition, Env, Object};

/// A berth object with status conditions (none before its first status).
pub trait Conditioned {
    fn conditions(&self) -> &[Condition];
}

macro_rules! conditioned {
    ($($kind:ty),*) => {$(
        impl Conditioned for $kind {
            fn conditions(&self) -> &[Condition] {
                self.status
                    .as_ref()
                    .map(|s| s.conditions.as_slice())
                    .unwrap_or_default()
            }
        }
    )*};
}

conditioned!(EcsService, MigrationJob, AuroraCluster, PullThroughCache);

/// Condition `type_` is True with `reason`.
pub fn true_because<K: Conditioned>(
    type_: &'static str,
    reason: &'static str,
) -> impl Fn(&K) -> bool {
    move |k: &K| condition(k.conditions(), type_).is_some_and(|c| c.0 == "True" && c.1 == reason)
}

/// `berth.dev/paused` as berth reports it on every kind: all three
/// conditions say `Paused`, Ready and Degraded with the status berth found
/// (`ready`, `degraded`), Progressing False.
pub fn paused_with<K: Conditioned>(ready: bool, degraded: bool) -> impl Fn(&K) -> bool {
    move |k: &K| {
        let says = |type_: &str, status: bool| {
            let want = if status { "True" } else { "False" };
            condition(k.conditions(), type_).is_some_and(|c| c.0 == want && c.1 == "Paused")
        };
        says(READY, ready) && says(PROGRESSING, false) && says(DEGRADED, degraded)
    }
}

/// The message of condition `type_` (panics when there is none).
pub fn message_of<K: Conditioned>(k: &K, type_: &str) -> String {
    condition(k.conditions(), type_)
        .unwrap_or_else(|| panic!("no {type_} condition"))
        .2
}

/// Ready=True.
pub fn is_ready<K: Conditioned>(k: &K) -> bool {
    is_true(k.conditions(), READY)
}

/// The MigrationJob is in `phase`.
pub fn phase_is(phase: Phase) -> impl Fn(&MigrationJob) -> bool {
    move |j: &MigrationJob| j.status.as_ref().is_some_and(|s| s.phase == Some(phase))
}

impl Env {
    /// Sets `berth.dev/paused: "true"` on `name` and waits until berth
    /// reports `Paused` on all three conditions ([`paused_with`]).
    pub async fn pause<K>(&self, name: &str, ready: bool, degraded: bool, timeout: Duration) -> K
    where
        K: Object + Serialize + Conditioned,
    {
        self.annotate::<K>(name, "berth.dev/paused", serde_json::json!("true"))
            .await;
        let what = format!("Paused on every condition (Ready={ready}, Degraded={degraded})");
        self.wait_for(name, &what, timeout, paused_with::<K>(ready, degraded))
            .await
    }

    /// Waits until MigrationJob `name` is in `phase` (e.g. Succeeded).
    pub async fn wait_phase(&self, name: &str, phase: Phase, timeout: Duration) -> MigrationJob {
        self.wait_for(name, &format!("{phase:?}"), timeout, phase_is(phase))
            .await
    }

    /// Applies `manifest` and waits until MigrationJob `name` is in `phase`:
    /// one run of a job.
    pub async fn run_job(
        &self,
        manifest: &str,
        name: &str,
        phase: Phase,
        timeout: Duration,
    ) -> MigrationJob {
        self.apply_yaml(manifest).await.unwrap();
        self.wait_phase(name, phase, timeout).await
    }

    /// How many of the `K`s in the namespace are Ready.
    pub async fn count_ready<K>(&self) -> kube::Result<usize>
    where
        K: Object + Conditioned,
    {
        let list = self.api::<K>().list(&Default::default()).await?;
        Ok(list.items.iter().filter(|k| is_ready(*k)).count())
    }

    /// Waits until `name` is Ready; on timeout panics as [`Env::wait_for`].
    pub async fn wait_ready<K>(&self, name: &str, timeout: Duration) -> K
    where
        K: Object + Conditioned + Serialize,
    {
        self.wait_for(name, "Ready", timeout, is_ready::<K>).await
    }

    /// Waits until `name` is `Degraded=True` with `reason`.
    pub async fn wait_degraded<K>(&self, name: &str, reason: &'static str, timeout: Duration) -> K
    where
        K: Object + Conditioned + Serialize,
    {
        self.wait_for(
            name,
            &format!("Degraded/{reason}"),
            timeout,
            true_because::<K>("Degraded", reason),
        )
        .await
    }
}
