//! Status writes: server-side apply of the status subresource only, so
//! berth never touches `spec` and never fights another field manager.
//! Every write is bounded in size first (`super::bounds`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde_json::json;

use super::bounds;
use super::context::{Context, MANAGER};
use super::error::{Error, Result};
use crate::api::conditions::{self, Desired, Reason, DEGRADED};

/// Writes `status`, computed from `obj` as read, only if the object did not
/// change since: the read's `resourceVersion` is a precondition of the
/// apply. A reconcile that read a stale object (a watch store a step
/// behind) gets [`Error::StaleRead`] and runs again on a fresh read, so it
/// can never overwrite a newer status, e.g. turn a Succeeded run back to
/// Running.
///
/// The status is cut to [`bounds::STATUS_BYTES`] first, whatever AWS said;
/// a status that differs from the stored one only by what was cut is not
/// written again.
pub async fn apply<K, S>(api: &Api<K>, obj: &K, status: &S) -> Result<()>
where
    K: Resource<DynamicType = ()>
        + Clone
        + Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    S: Serialize,
{
    crate::runtime::leader::check().map_err(|e| Error::Kube(kube::Error::Service(Box::new(e))))?;
    let whole = serde_json::to_value(status).map_err(kube::Error::SerdeError)?;
    let mut status = whole.clone();
    bounds::status(&mut status);
    // A caller compares the status it computed, uncut, with the stored
    // one, which was cut: only for a cut status does "unchanged" need the
    // comparison here, or every reconcile would write it again. Any other
    // status is sent, so that a write computed from a stale read is
    // refused below even when it equals what that read saw.
    if status != whole {
        let stored = serde_json::to_value(obj).map_err(kube::Error::SerdeError)?;
        if stored.get("status") == Some(&status) {
            return Ok(());
        }
    }
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": { "resourceVersion": obj.meta().resource_version },
        "status": status,
    });
    match api
        .patch_status(
            &obj.name_any(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Err(Error::StaleRead(format!(
            "{} {} changed since it was read (resourceVersion {})",
            K::kind(&()),
            obj.name_any(),
            obj.meta().resource_version.as_deref().unwrap_or("unknown")
        ))),
        Err(kube::Error::Api(e)) if e.code == 422 => Err(Error::StatusRefused {
            field: refused_field(&e.message),
            message: e.message,
        }),
        Err(e) => Err(e.into()),
    }
}

/// The field an API server's 422 names: `KIND "NAME" is invalid: FIELD:
/// DETAIL` (or `[FIELD: DETAIL, ...]` for several).
pub fn refused_field(message: &str) -> String {
    let detail = message
        .split_once("is invalid: ")
        .map_or(message, |(_, d)| d)
        .trim_start_matches('[');
    detail
        .split_once(": ")
        .map_or(detail, |(field, _)| field)
        .to_string()
}

/// A status with the shared contract: conditions and observedGeneration.
pub trait Conditioned: Clone + Serialize + PartialEq {
    fn conditions(&self) -> &[Condition];
    fn set_conditions(&mut self, conditions: Vec<Condition>, generation: Option<i64>);
}

macro_rules! conditioned {
    ($($t:ty),*) => {$(
        impl Conditioned for $t {
            fn conditions(&self) -> &[Condition] {
                &self.conditions
            }
            fn set_conditions(&mut self, conditions: Vec<Condition>, generation: Option<i64>) {
                self.conditions = conditions;
                self.observed_generation = generation;
            }
        }
    )*};
}

conditioned!(
    crate::api::EcsServiceStatus,
    crate::api::MigrationJobStatus,
    crate::api::AuroraClusterStatus,
    crate::api::PullThroughCacheStatus
);

/// Writes `desired` onto the previous status, everything else as it was.
pub async fn write_conditions<K, S>(
    api: &Api<K>,
    obj: &K,
    prev: &S,
    desired: &[Desired],
) -> Result<()>
where
    K: Resource<DynamicType = ()>
        + Clone
        + Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    S: Conditioned,
{
    let generation = obj.meta().generation;
    let mut next = prev.clone();
    next.set_conditions(
        conditions::merge(prev.conditions(), desired, generation, Timestamp::now()),
        generation,
    );
    if next == *prev {
        return Ok(());
    }
    apply(api, obj, &next).await
}

/// A failure a human must fix (`conditions::failed`), with a Warning Event
/// when its reason or message is new; the rest of the status stays.
pub async fn write_failed<K, S>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    prev: &S,
    reason: Reason,
    message: &str,
) -> Result<()>
where
    K: Resource<DynamicType = ()>
        + Clone
        + Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    S: Conditioned,
{
    // The stored message may be the cut form of this one.
    let changed = !conditions::find(prev.conditions(), DEGRADED)
        .is_some_and(|c| c.reason == reason.as_str() && bounds::is_cut_of(&c.message, message));
    write_conditions(api, obj, prev, &conditions::failed(reason, message)).await?;
    if changed {
        ctx.event(
            obj,
            EventType::Warning,
            reason.as_str(),
            "Reconcile",
            message.to_string(),
        )
        .await;
    }
    Ok(())
}
