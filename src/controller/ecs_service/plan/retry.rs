//! Trying a rollout ECS failed once more. ECS never retries a FAILED
//! deployment by itself, so a cause fixed outside the spec (a pull-through
//! cache rule created, an image pushed, IAM fixed) needs one UpdateService
//! with forceNewDeployment: asked for with a new `berth.dev/refresh` value,
//! or made by berth once when the PullThroughCache serving an image the
//! rollout could not pull goes from "pulls of this repository may fail" to
//! "serves it". What berth last saw of that cache is in
//! `status.rollout.pullThroughCacheWarning`, so each such change retries
//! once, across restarts and repeated reconciles.

use std::sync::Arc;

use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;

use super::deployment;
use super::{self as plan, Gate, Inputs};
use crate::api::conditions::{self, DEGRADED};
use crate::api::ecs_service::{EcsService, EcsServiceStatus, RolloutStatus};
use crate::aws::ecs::services::ServiceUpdate;
use crate::aws::ecs::ServiceView;
use crate::controller::context::REFRESH_ANNOTATION;

/// The reason of the Event of a retry.
pub const EVENT_REASON: &str = "RolloutRetried";

const PULL_ERROR: &str = "CannotPullContainerError";

/// The PullThroughCache that serves again the repository of an image the
/// failed rollout could not pull.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheServes {
    pub object: String,
    pub repository: String,
    /// When berth saw it serve (this reconcile).
    pub at: String,
}

/// Why berth retries a failed rollout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// `berth.dev/refresh` has a value the rollout has not seen.
    Refresh(String),
    /// The cache serving the image that failed to pull warned about its
    /// repository (or there was none) and now serves it.
    Cache(CacheServes),
}

impl Why {
    /// As `status.rollout.retriedFor` records it.
    pub fn record(&self) -> String {
        match self {
            Why::Refresh(v) => format!("{REFRESH_ANNOTATION}={v}"),
            Why::Cache(c) => format!(
                "PullThroughCache {} serves {} at {}",
                c.object, c.repository, c.at
            ),
        }
    }
}

/// Whether ECS failed the rollout of the desired revision, so that only a
/// new deployment tries it again: the PRIMARY deployment of the desired
/// revision is FAILED (a circuit breaker with nothing to roll back to or
/// without rollback), its record says the rollout failed (ROLLBACK_FAILED,
/// stopped by alarms), or ECS rolled it back (circuit breaker, alarms). A
/// rollback asked for with `berth.dev/rollback`, a failed check of a
/// MigrationJob and a closed gate are decisions, not failures to retry.
pub fn failed(
    i: &Inputs<'_>,
    svc: &ServiceView,
    serving_desired: bool,
    rolled_back: bool,
    prev: &EcsServiceStatus,
) -> bool {
    if i.gate != Gate::Open || i.post_check.is_some() || i.post_test_failed.is_some() {
        return false;
    }
    if rolled_back {
        let by_ecs = i.record.is_none_or(|r| {
            r.circuit_breaker
                .as_ref()
                .is_some_and(|c| c.status.as_deref() == Some("TRIGGERED"))
                || !r.triggered_alarms.is_empty()
        });
        return by_ecs || prev.rollback_requested.is_none();
    }
    serving_desired
        && (svc.primary().is_some_and(|d| d.is("FAILED"))
            || deployment::failed_conditions(i.record, i.desired_revision, None).is_some())
}

/// The retry to make now, if any (never while paused): a
/// `berth.dev/refresh` value the rollout has not seen, else the cache
/// serving the image that failed to pull serves its repository now while
/// the status recorded it warned (or no cache covered it) before.
pub fn decide(i: &Inputs<'_>, failed: bool, prev: Option<&RolloutStatus>) -> Option<Why> {
    if !failed || i.paused {
        return None;
    }
    let seen = prev.and_then(|r| r.refreshed_by.as_deref());
    if let Some(v) = i.refresh.filter(|v| !v.is_empty() && Some(*v) != seen) {
        return Some(Why::Refresh(v.to_string()));
    }
    let cache = i.cache.as_ref().filter(|c| c.serves)?;
    let object = cache.object.clone()?;
    prev?.pull_through_cache_warning.as_ref()?;
    pull_failed(i).then(|| {
        Why::Cache(CacheServes {
            object,
            repository: cache.repository.clone(),
            at: i.now.to_string(),
        })
    })
}

/// `status.rollout.pullThroughCacheWarning` after this reconcile: what
/// the PullThroughCache serving the service's image says may make its
/// pulls fail, or that none covers it; None when it serves the image's
/// repository (or the image is not in this account's private ECR).
pub fn cache_warning(i: &Inputs<'_>) -> Option<String> {
    i.cache
        .as_ref()
        .filter(|c| !c.serves)
        .map(|c| c.state.clone())
}

/// The desired revision failed to pull: a stopped task says so, or the
/// reported failure does (stopped tasks age out of ECS after about an
/// hour, the condition stays).
fn pull_failed(i: &Inputs<'_>) -> bool {
    let stopped = i.stopped.iter().any(|t| {
        t.task_definition_arn.as_deref() == Some(i.desired_arn)
            && t.stopped_reason
                .as_deref()
                .is_some_and(|r| r.contains(PULL_ERROR))
    });
    stopped
        || i.obj
            .status
            .as_ref()
            .is_some_and(|s| failed_to_pull(&s.conditions))
}

/// Degraded says the rollout ECS failed (or rolled back) could not pull.
fn failed_to_pull(conds: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> bool {
    conditions::find(conds, DEGRADED).is_some_and(|c| {
        c.status == "True"
            && matches!(c.reason.as_str(), "RolloutFailed" | "RolledBack")
            && c.message.contains(PULL_ERROR)
    })
}

/// The `berth.dev/refresh` value the rollout has seen after this
/// reconcile. Until the rollout failed, whatever value the object carries
/// (a "reconcile now", or the manifest's) asks for nothing and is taken as
/// seen; once failed, only a retry takes a new value.
pub fn seen_refresh(
    i: &Inputs<'_>,
    failed: bool,
    retry: Option<&Why>,
    prev: Option<&RolloutStatus>,
) -> Option<String> {
    if failed && retry.is_none() {
        prev.and_then(|r| r.refreshed_by.clone())
    } else {
        i.refresh.map(str::to_string)
    }
}

/// The update that retries: the desired revision in a new deployment.
pub fn apply(update: &mut ServiceUpdate, desired_arn: &str) {
    update.task_definition = Some(desired_arn.to_string());
    update.rollback = false;
    update.force_new_deployment = true;
}

/// The EcsServices to look at again when a PullThroughCache changes: those whose
/// rollout ECS failed on an image pull, in every namespace (a rule serves
/// its whole registry). The reconcile decides whether the cache serves
/// their image now.
pub fn waiting_for_cache(services: &[Arc<EcsService>]) -> Vec<ObjectRef<EcsService>> {
    services
        .iter()
        .filter(|s| {
            s.status
                .as_ref()
                .is_some_and(|st| failed_to_pull(&st.conditions))
        })
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

/// The one Event of a retry's UpdateService, naming what else the same
/// call changed.
pub fn event(
    why: &Why,
    update: &ServiceUpdate,
    drift: &[String],
    revision: i64,
) -> (EventType, &'static str, String) {
    let what = match why {
        Why::Refresh(v) => format!(
            "{REFRESH_ANNOTATION} is \"{v}\": retrying the failed rollout of revision {revision} \
             in a new deployment"
        ),
        Why::Cache(c) => format!(
            "PullThroughCache {} serves repository {} now, after the rollout of revision \
             {revision} failed to pull its image while pulls of it could fail: retrying the \
             rollout once in a new deployment",
            c.object, c.repository
        ),
    };
    let drifted: Vec<&str> = drift
        .iter()
        .map(String::as_str)
        .filter(|f| *f != "taskDefinition")
        .collect();
    let settings: Vec<&str> = plan::fields_of(update)
        .into_iter()
        .filter(|f| *f != "taskDefinition" && !drifted.contains(f))
        .collect();
    let mut also = Vec::new();
    if !drifted.is_empty() {
        also.push(format!(
            "changed outside berth, set back: {}",
            drifted.join(", ")
        ));
    }
    if !settings.is_empty() {
        also.push(format!("updated {}", settings.join(", ")));
    }
    let note = if also.is_empty() {
        what
    } else {
        format!("{what}; in the same update: {}", also.join("; "))
    };
    (EventType::Normal, EVENT_REASON, note)
}
