//! The one reconcile shell of every kind. A kind implements [`Kind`]: its
//! spec's validation, `converge` (observe, plan, act; AWS through a
//! [`Target`] that checks the roles it hands over) and deletion. The shell runs the finalizer, the prelude every kind
//! shares (an invalid spec or a namespace that refuses the object makes no
//! AWS call), turns a failure a human must fix into `Degraded`, and makes
//! the one status write of the reconcile.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{finalizer, Event as Finalizer};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::context::{is_paused, Context, FINALIZER};
use super::error::{Error, Result};
use super::metrics::KindLabel;
use super::status::{self, Conditioned};
use crate::api::conditions::{self, Desired, Reason};
use crate::api::roles::PassedRole;
use crate::aws::{AwsFailure, Clients, FailureKind, TargetError};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// A kind berth reconciles.
pub trait Kind:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + Serialize
    + DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    type Status: Conditioned + Default + Send + Sync;

    fn status(&self) -> Option<&Self::Status>;

    /// The spec's own validation; the message names the field.
    fn invalid(&self) -> Option<String>;

    /// Observe, plan, act: what to write and when to look again. AWS is
    /// reached through `target`, which refuses before any call what the
    /// namespace does not allow.
    fn converge(
        &self,
        ctx: &Context,
        target: &Target<'_>,
        prev: &Self::Status,
    ) -> impl Future<Output = Result<Outcome<Self::Status>>> + Send;

    /// After the status write of `Outcome::Status` landed: what the kind
    /// remembers of its own write until the watch shows it.
    fn written(&self, _ctx: &Context, _status: &Self::Status) {}

    /// What an AWS failure from `converge` means for this kind (pure; the
    /// kind's plan decides). `None`: an error to retry with backoff.
    fn failure(&self, f: &AwsFailure) -> Option<Outcome<Self::Status>> {
        terminal(f).map(Outcome::Failed)
    }

    /// What deleting the object would delete or stop in AWS, in the words
    /// of an Event that says it stays; `None`: nothing (the finalizer goes).
    fn left_in_aws(&self) -> Option<String>;

    /// `deletionPolicy: Retain`: the Event (reason, note) saying what
    /// stays in AWS; `None` deletes.
    fn retained(&self) -> Option<(&'static str, String)> {
        None
    }

    /// A retained object's own bookkeeping before it goes.
    fn retain(&self, _ctx: &Context) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Deletes what is the object's in AWS; `Ok` releases the finalizer.
    fn delete(
        &self,
        ctx: &Context,
        clients: &Arc<Clients>,
    ) -> impl Future<Output = Result<Action>> + Send;
}

/// The one status write a reconcile makes, and when it looks again.
#[derive(Debug)]
pub enum Outcome<S> {
    /// The whole next status, written when it differs from the stored one.
    Status(Box<S>, Then),
    /// These conditions onto the stored status.
    Conditions(Vec<Desired>, Then),
    /// A failure a human must fix: `Degraded` with this reason.
    Failed(Failed),
    /// Nothing to write.
    Quiet(Then),
}

impl<S> Outcome<S> {
    pub fn status(status: S, then: Then) -> Self {
        Outcome::Status(Box::new(status), then)
    }
}

/// When the object is looked at again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Then {
    After(Duration),
    /// At the resync interval.
    Resync,
    /// At the poll interval (something converges in AWS).
    Poll,
    /// At the poll interval, on the grid of this ECS cluster
    /// (`super::poll::aligned`): the objects of one cluster polling
    /// together are described in one batched call.
    PollOn(String),
    /// At the resync interval, on the cluster's grid.
    ResyncOn(String),
    /// Only when the object changes.
    Change,
}

impl Then {
    pub fn action(self, ctx: &Context) -> Action {
        match self {
            Then::After(d) => Action::requeue(d),
            Then::Resync => Action::requeue(ctx.resync),
            Then::Poll => Action::requeue(ctx.poll),
            Then::PollOn(cluster) => Action::requeue(super::poll::aligned(ctx.poll, &cluster)),
            Then::ResyncOn(cluster) => Action::requeue(super::poll::aligned(ctx.resync, &cluster)),
            Then::Change => Action::await_change(),
        }
    }
}

/// A failure a human must fix, as the conditions say it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failed {
    pub reason: Reason,
    pub message: String,
    pub then: Then,
}

impl Failed {
    pub fn new(reason: Reason, message: impl Into<String>, then: Then) -> Self {
        Failed {
            reason,
            message: message.into(),
            then,
        }
    }
}

/// A terminal AWS failure, in AWS's words; anything else is retried.
pub fn terminal(f: &AwsFailure) -> Option<Failed> {
    (f.kind == FailureKind::Terminal)
        .then(|| Failed::new(Reason::AwsError, f.to_string(), Then::Resync))
}

/// What the shell reports for an error of the prelude or of `converge`:
/// a namespace that refuses the object (no region, no role, a role it does
/// not allow) is read again at the next resync (its annotations decide);
/// an AWS failure is the kind's to judge. `None`: retried with backoff.
pub fn failed<K: Kind>(obj: &K, err: &Error) -> Option<Outcome<K::Status>> {
    match err {
        Error::Aws(f) => obj.failure(f),
        _ => refused(err).map(Outcome::Failed),
    }
}

/// The prelude's refusals, before any AWS call: a role the namespace does
/// not allow (named by its field), no region, no role for the namespace.
pub fn refused(err: &Error) -> Option<Failed> {
    let (reason, message) = match err {
        Error::InvalidSpec(invalid) => (Reason::InvalidSpec, invalid.to_string()),
        Error::Target(t @ TargetError::NoRegion) => (Reason::AwsConfiguration, t.to_string()),
        Error::Target(t @ TargetError::NoNamespaceRole { .. }) => {
            (Reason::NamespaceRoleRequired, t.to_string())
        }
        _ => return None,
    };
    Some(Failed::new(reason, message, Then::Resync))
}

/// The reconcile of every kind: the finalizer around [`apply`] and the
/// kind's cleanup.
pub async fn reconcile<K: Kind>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action> {
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalizer::Apply(obj) => apply(obj.as_ref(), &ctx, &api).await,
            Finalizer::Cleanup(obj) => cleanup(obj.as_ref(), &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// The deletion every kind shares: nothing left, retained, paused (the
/// finalizer stays: a paused object changes nothing in AWS, deleting
/// included), or no identity for the namespace (the resources stay, an
/// Event says so); then the kind deletes.
async fn cleanup<K: Kind>(obj: &K, ctx: &Context) -> Result<Action> {
    if let Some(uid) = &obj.meta().uid {
        ctx.memos.forget(uid);
    }
    let Some(left) = obj.left_in_aws() else {
        return Ok(Action::await_change());
    };
    if let Some((reason, note)) = obj.retained() {
        ctx.event(obj, EventType::Normal, reason, "Delete", note)
            .await;
        obj.retain(ctx).await;
        return Ok(Action::await_change());
    }
    if is_paused(obj.annotations()) {
        return Err(Error::Config(format!(
            "berth.dev/paused is \"true\": not deleting {left} until the annotation is removed"
        )));
    }
    let ns = obj.namespace().unwrap_or_default();
    match ctx.aws_for(&ns).await {
        Ok(clients) => obj.delete(ctx, &clients).await,
        // No identity berth may use for the namespace: the resources stay
        // and the object goes (a finalizer waiting for a role that may
        // never come would hold it, and its namespace, in deletion forever).
        Err(Error::Target(t @ TargetError::NoNamespaceRole { .. })) => {
            let note = format!(
                "{left} stay in AWS: {t}. Delete them with the account's own tools \
                 if they are not wanted."
            );
            let reason = Reason::NamespaceRoleRequired.as_str();
            ctx.event(obj, EventType::Warning, reason, "Delete", note)
                .await;
            Ok(Action::await_change())
        }
        Err(e) => Err(e),
    }
}

async fn apply<K: Kind>(obj: &K, ctx: &Context, api: &Api<K>) -> Result<Action> {
    let prev = obj.status().cloned().unwrap_or_default();
    let outcome = match converge(obj, ctx, &prev).await {
        Ok(outcome) => outcome,
        Err(e) => match failed(obj, &e) {
            Some(outcome) => outcome,
            None => return Err(e),
        },
    };
    write(obj, ctx, api, &prev, outcome).await
}

/// The object's AWS target: the clients of its namespace's region and role,
/// resolved only when the kind asks (a MigrationJob with a finished run
/// never does). A namespace without a region, without
/// the role `--require-namespace-role` asks for, or whose
/// `berth.dev/allowed-role-arns` does not allow a role the object passes
/// refuses here, before any AWS call ([`refused`] reports it).
pub struct Target<'a> {
    ctx: &'a Context,
    namespace: String,
}

impl Target<'_> {
    pub async fn clients(&self, roles: &[PassedRole]) -> Result<Arc<Clients>> {
        self.ctx.aws_passing(&self.namespace, roles).await
    }
}

async fn converge<K: Kind>(obj: &K, ctx: &Context, prev: &K::Status) -> Result<Outcome<K::Status>> {
    if let Some(invalid) = obj.invalid() {
        return Ok(Outcome::Failed(Failed::new(
            Reason::InvalidSpec,
            invalid,
            Then::Change,
        )));
    }
    let target = Target {
        ctx,
        namespace: obj.namespace().unwrap_or_default(),
    };
    obj.converge(ctx, &target, prev).await
}

/// The one status write, and a write the API server refused reported.
async fn write<K: Kind>(
    obj: &K,
    ctx: &Context,
    api: &Api<K>,
    prev: &K::Status,
    outcome: Outcome<K::Status>,
) -> Result<Action> {
    match write_outcome(obj, ctx, api, prev, outcome).await {
        Err(Error::StatusRefused { field, message }) => {
            Err(write_refused(obj, ctx, api, prev, field, message).await)
        }
        other => other,
    }
}

/// A status write the API server refused is never a silently kept old
/// status: the metric and a Warning Event say so, the log names the field,
/// and the conditions alone are written onto the stored status (Ready
/// False, Degraded True) so the object stops showing what it showed. The
/// error goes to the error policy: the reconcile runs again after a backoff.
async fn write_refused<K: Kind>(
    obj: &K,
    ctx: &Context,
    api: &Api<K>,
    prev: &K::Status,
    field: String,
    message: String,
) -> Error {
    let kind = K::kind(&()).to_string();
    ctx.metrics
        .status_writes_refused
        .get_or_create(&KindLabel { kind: kind.clone() })
        .inc();
    let name = obj.name_any();
    tracing::warn!(%kind, %name, %field, error = %message, "the API server refused the status write");
    let f = refused_write(&message);
    ctx.event(
        obj,
        EventType::Warning,
        f.reason.as_str(),
        "WriteStatus",
        f.message.clone(),
    )
    .await;
    let desired = conditions::failed(f.reason, f.message);
    if let Err(e) = status::write_conditions(api, obj, prev, &desired).await {
        tracing::warn!(%kind, %name, error = %e, "the conditions saying so were not written either");
    }
    Error::StatusRefused { field, message }
}

/// What the conditions say after the API server refused a status write
/// with `message` (which names the field).
pub fn refused_write(message: &str) -> Failed {
    Failed::new(
        Reason::StatusWriteRefused,
        format!(
            "the API server refused berth's status write ({message}); berth retries with backoff"
        ),
        Then::Resync,
    )
}

/// The one status write: a status that learned nothing is not written; a
/// failure gets one Warning Event when it first appears or changes
/// (`status::write_failed`).
async fn write_outcome<K: Kind>(
    obj: &K,
    ctx: &Context,
    api: &Api<K>,
    prev: &K::Status,
    outcome: Outcome<K::Status>,
) -> Result<Action> {
    let then = match outcome {
        Outcome::Status(next, then) => {
            if *next != *prev {
                status::apply(api, obj, next.as_ref()).await?;
            }
            obj.written(ctx, &next);
            then
        }
        Outcome::Conditions(desired, then) => {
            status::write_conditions(api, obj, prev, &desired).await?;
            then
        }
        Outcome::Failed(f) => {
            status::write_failed(ctx, api, obj, prev, f.reason, &f.message).await?;
            f.then
        }
        Outcome::Quiet(then) => then,
    };
    Ok(then.action(ctx))
}

/// Writes `failed` outside a reconcile's own write (a deletion that waits
/// for a human).
pub async fn write_failed<K: Kind>(obj: &K, ctx: &Context, failed: Failed) -> Result<()> {
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let prev = obj.status().cloned().unwrap_or_default();
    status::write_failed(ctx, &api, obj, &prev, failed.reason, &failed.message).await
}

/// An Event for each of Ready and Degraded that turned True with a new
/// reason (a phase change): Normal for Ready, Warning for Degraded.
pub async fn announce<K: Kind>(
    obj: &K,
    ctx: &Context,
    prev: &[Condition],
    next: &[Condition],
    action: &str,
) {
    for (c, warning) in conditions::turned_true(prev, next) {
        let type_ = if warning {
            EventType::Warning
        } else {
            EventType::Normal
        };
        ctx.event(obj, type_, &c.reason, action, c.message.clone())
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(kind: FailureKind) -> AwsFailure {
        AwsFailure {
            kind,
            action: "ecs:CreateService",
            code: Some("InvalidParameterException".into()),
            message: "no".into(),
        }
    }

    /// The prelude's failures, as every kind reports them.
    #[test]
    fn prelude_failures() {
        let invalid = Error::InvalidSpec(crate::api::InvalidSpec(vec![
            crate::api::validation::FieldError {
                field: "spec.taskDefinition.taskRoleArn".into(),
                message: "is not allowed in this namespace".into(),
            },
        ]));
        let cases: Vec<(Error, Option<(Reason, Then)>)> = vec![
            (invalid, Some((Reason::InvalidSpec, Then::Resync))),
            (
                Error::Target(TargetError::NoRegion),
                Some((Reason::AwsConfiguration, Then::Resync)),
            ),
            (
                Error::Target(TargetError::NoNamespaceRole {
                    namespace: "team-a".into(),
                }),
                Some((Reason::NamespaceRoleRequired, Then::Resync)),
            ),
            (Error::StaleRead("behind".into()), None),
        ];
        for (err, want) in cases {
            let got = refused(&err).map(|f| {
                let _ = conditions::failed(f.reason, f.message.clone());
                (f.reason, f.then)
            });
            assert_eq!(got, want, "{err}");
        }
    }

    /// A refused status write is reported in the API server's words, which
    /// name the field.
    #[test]
    fn a_refused_status_write_names_the_field() {
        let message = "EcsService.berth.dev \"api\" is invalid: \
                       status.rollout.serviceDeployment.arn: Required value";
        let f = refused_write(message);
        let desired = conditions::failed(f.reason, f.message.clone());
        assert_eq!(f.reason, Reason::StatusWriteRefused);
        assert!(desired
            .iter()
            .all(|d| d.message.contains("serviceDeployment.arn")));
        assert_eq!(
            status::refused_field(message),
            "status.rollout.serviceDeployment.arn"
        );
        let several = "MigrationJob.berth.dev \"m\" is invalid: [status.phase: Unsupported value: \"X\", status.attempts: Invalid value]";
        assert_eq!(status::refused_field(several), "status.phase");
    }

    #[test]
    fn a_terminal_aws_failure_is_reported_in_aws_words_and_the_rest_retried() {
        let f = terminal(&aws(FailureKind::Terminal)).unwrap();
        let _ = conditions::failed(f.reason, f.message.clone());
        assert_eq!((f.reason, f.then), (Reason::AwsError, Then::Resync));
        assert!(
            f.message.contains("InvalidParameterException"),
            "{}",
            f.message
        );
        assert_eq!(terminal(&aws(FailureKind::Transient)), None);
        assert_eq!(terminal(&aws(FailureKind::Throttled)), None);
    }
}
