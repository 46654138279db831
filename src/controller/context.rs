//! What every reconciler shares.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::core::PartialObjectMeta;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource};

use super::error::{Error, Result};
use super::metrics::Metrics;
use crate::api::roles::{AllowedRoles, PassedRole};
use crate::api::{AuroraCluster, EcsService, MigrationJob, PullThroughCache};
use crate::aws::{Clients, Factory};

/// Field manager of every status write (server-side apply).
pub const MANAGER: &str = "berth";
/// Finalizer on every berth object.
pub const FINALIZER: &str = "berth.dev/cleanup";
/// Changing this annotation's value reconciles at once.
pub const REFRESH_ANNOTATION: &str = "berth.dev/refresh";
/// `"true"` stops every AWS mutation for the object.
pub const PAUSED_ANNOTATION: &str = "berth.dev/paused";

/// The watch stores reconcilers read instead of asking the API server for
/// what a watch already holds.
pub struct Stores {
    /// EcsServices as the MigrationJob reconcile sees them (the same watch
    /// that triggers it, so a job never reads a service older than the
    /// change that woke it).
    pub services: Store<EcsService>,
    pub jobs: Store<MigrationJob>,
    /// Namespaces' metadata: their AWS target annotations.
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
    /// PullThroughCaches: which rule serves an EcsService's or
    /// MigrationJob's image (`super::pull_through`).
    pub caches: Store<PullThroughCache>,
    /// AuroraClusters: the database a MigrationJob's `databaseRef` names.
    pub databases: Store<AuroraCluster>,
}

pub struct Context {
    pub client: Client,
    pub aws: Factory,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub resync: Duration,
    /// Poll interval while something is converging in AWS.
    pub poll: Duration,
    /// Reconciles started and finished per object: the evidence tests wait on.
    pub reconciles: Arc<crate::runtime::reconciles::ReconcileLog>,
    pub stores: Stores,
    /// What a kind remembers about one of its objects until the status
    /// write that records it is visible in the watch (see [`Memos`]).
    pub memos: Arc<super::memo::Memos>,
    /// Claims of account-wide AWS names (`super::claims`).
    pub claims: super::claims::Claims,
    /// The one namespace berth watches (`--namespace`), if any.
    scope: Option<String>,
}

impl Context {
    pub fn new(
        client: Client,
        aws: Factory,
        resync: Duration,
        metrics: Arc<Metrics>,
        reconciles: Arc<crate::runtime::reconciles::ReconcileLog>,
        stores: Stores,
    ) -> Self {
        let reporter = Reporter {
            controller: "berth".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            // Replaced by `run` with berth's own namespace.
            claims: super::claims::Claims::new(client.clone(), "default"),
            client,
            aws,
            metrics,
            resync,
            poll: Duration::from_secs(5),
            reconciles,
            stores,
            memos: Arc::default(),
            scope: None,
        }
    }

    /// Watching only `namespace` (`--namespace`): objects elsewhere are
    /// not berth's to see (`super::ownership`).
    /// The context with its claims kept in `claims`' namespace.
    pub fn with_claims(mut self, claims: super::claims::Claims) -> Self {
        self.claims = claims;
        self
    }

    pub fn watching(mut self, namespace: Option<String>) -> Self {
        self.scope = namespace;
        self
    }

    pub fn watch_namespace(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The annotations of `namespace`, from the watch store.
    async fn namespace_annotations(&self, namespace: &str) -> Result<BTreeMap<String, String>> {
        Ok(
            match self.stores.namespaces.get(&ObjectRef::new(namespace)) {
                Some(ns) => ns.metadata.annotations.clone().unwrap_or_default(),
                // Only before the namespace watch has listed (or for a namespace
                // created a moment ago): ask once.
                None => Api::<Namespace>::all(self.client.clone())
                    .get_metadata_opt(namespace)
                    .await?
                    .and_then(|n| n.metadata.annotations)
                    .unwrap_or_default(),
            },
        )
    }

    /// The AWS clients for `namespace` (region and role from its annotations).
    pub async fn aws_for(&self, namespace: &str) -> Result<Arc<Clients>> {
        let annotations = self.namespace_annotations(namespace).await?;
        let target = self
            .aws
            .target(namespace, &annotations)
            .map_err(Error::Target)?;
        Ok(self.aws.clients(&target).await)
    }

    /// [`Context::aws_for`] for an object that hands `roles` to AWS: the
    /// namespace's allow-list (`berth.dev/allowed-role-arns`) must allow
    /// each of them, else `Error::InvalidSpec` naming the field. Either
    /// refusal ([`Error::refusal`]) comes before any AWS call.
    pub async fn aws_passing(&self, namespace: &str, roles: &[PassedRole]) -> Result<Arc<Clients>> {
        let annotations = self.namespace_annotations(namespace).await?;
        if let Some(allowed) = AllowedRoles::from_annotations(&annotations) {
            allowed
                .check(namespace, roles)
                .map_err(Error::InvalidSpec)?;
        }
        let target = self
            .aws
            .target(namespace, &annotations)
            .map_err(Error::Target)?;
        Ok(self.aws.clients(&target).await)
    }

    /// The MigrationJobs of `namespace` whose `serviceRef` names `service`,
    /// from the watch store.
    pub fn jobs_for(&self, namespace: &str, service: &str) -> Vec<MigrationJob> {
        // Only the jobs naming the service are cloned: a namespace of
        // thousands of jobs made every service resync clone all of them.
        self.stores
            .jobs
            .state()
            .iter()
            .filter(|j| j.names_service(namespace, service))
            .map(|j| j.as_ref().clone())
            .collect()
    }

    /// Publishes an events.k8s.io/v1 Event about `obj`; a failure to publish
    /// is logged, never fatal.
    pub async fn event<K>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) where
        K: Resource<DynamicType = ()>,
    {
        if let Err(e) = crate::runtime::leader::check() {
            tracing::debug!(reason, error = %e, "Event not published");
            return;
        }
        let type_label = match type_ {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        };
        self.metrics
            .events
            .get_or_create(&super::metrics::EventLabels {
                kind: K::kind(&()).to_string(),
                reason: reason.to_string(),
                r#type: type_label.to_string(),
            })
            .inc();
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(super::bounds::cut(&note, 1000).into_owned()),
            action: action.into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, reason, "publishing an Event failed");
        }
    }
}

pub fn is_paused(annotations: &BTreeMap<String, String>) -> bool {
    annotations.get(PAUSED_ANNOTATION).map(String::as_str) == Some("true")
}
