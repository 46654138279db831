//! The one reconcile shell of every kind. A kind implements [`Kind`]: its
//! spec's validation, `converge` (observe, plan, act; AWS through a
//! [`Target`] that checks the roles it hands over) and deletion. The shell runs the finalizer, the prelude every kind
//! shares (an invalid spec or a namespace that refuses the object makes no
//! AWS call), turns a failure a human must fix into `Degraded`, decides the
//! conditions of every kind while it is paused ([`paused`]) or being
//! deleted ([`deleting`]), and makes the one status write of the reconcile.

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
use crate::api::conditions::{self, Desired, Reason, DEGRADED, READY};
use crate::api::roles::PassedRole;
use crate::aws::{AwsFailure, Clients, FailureKind, TargetError};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;

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

    /// One deletion step of what is the object's in AWS, and what is left
    /// to wait for ([`Deleted`]).
    fn delete(
        &self,
        ctx: &Context,
        clients: &Arc<Clients>,
    ) -> impl Future<Output = Result<Deleted>> + Send;
}

/// Where a kind's deletion stands after its step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deleted {
    /// Nothing of the object's is left to delete (or what is left stays on
    /// purpose, with an Event): the finalizer goes.
    Gone,
    /// Still deleting: what it waits for, a clause such as "deleting DB
    /// instance(s) orders-db-1". The finalizer stays.
    Waiting(String),
    /// A human must act before anything more is deleted: the conditions say
    /// so, and the finalizer stays.
    Refused(Failed),
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
    /// `berth.dev/paused` held back a change the kind would make; the
    /// shell reports it ([`paused`]). `ready`: what is in AWS is what the
    /// spec asks for; `held`: what is left as it is, in a clause.
    Held {
        ready: bool,
        held: String,
        then: Then,
    },
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
/// Event says so); then the kind deletes, step by step, and the status
/// says what the deletion waits for ([`deleting`]).
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
        let held =
            format!("it is being deleted, and berth deletes {left} once the annotation is removed");
        let outcome = Outcome::Held {
            ready: is_ready(obj),
            held,
            then: Then::Change,
        };
        write_aside(obj, ctx, outcome).await?;
        return Err(Error::Config(format!(
            "berth.dev/paused is \"true\": not deleting {left} until the annotation is removed"
        )));
    }
    let ns = obj.namespace().unwrap_or_default();
    let deleted = match ctx.aws_for(&ns).await {
        Ok(clients) => obj.delete(ctx, &clients).await?,
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
            return Ok(Action::await_change());
        }
        Err(e) => return Err(e),
    };
    match deleted {
        Deleted::Gone => Ok(Action::await_change()),
        Deleted::Waiting(what) => {
            let outcome = Outcome::Conditions(deleting(K::kind(&()).as_ref(), &what), Then::Poll);
            write_aside(obj, ctx, outcome).await?;
            // An error keeps the finalizer; the look after the transient
            // backoff takes the next step.
            Err(Error::Aws(AwsFailure {
                kind: FailureKind::Transient,
                action: "Delete",
                code: None,
                message: format!("still deleting: {what}"),
            }))
        }
        Deleted::Refused(failed) => {
            let message = failed.message.clone();
            write_aside(obj, ctx, Outcome::Failed(failed)).await?;
            // A human must act: look again at the slow pace (a spec edit
            // triggers a reconcile at once).
            Err(Error::Config(message))
        }
    }
}

/// The status says Ready=True.
fn is_ready<K: Kind>(obj: &K) -> bool {
    obj.status()
        .is_some_and(|s| conditions::is_true(s.conditions(), conditions::READY))
}

/// The conditions of an object being deleted: Ready is False, as what it
/// stood for is going; Progressing says what the deletion waits for;
/// nothing needs a human (a deletion that does says so with its own
/// reason, [`Deleted::Refused`]).
pub fn deleting(kind: &str, what: &str) -> Vec<Desired> {
    let message = format!("the {kind} is being deleted: {what}");
    vec![
        Desired::new(conditions::READY, false, Reason::Deleting, message.clone()),
        Desired::new(conditions::PROGRESSING, true, Reason::Deleting, message),
        conditions::not_degraded(),
    ]
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
    let outcome = match is_paused(obj.annotations()) || matches!(outcome, Outcome::Held { .. }) {
        true => paused(
            K::kind(&()).as_ref(),
            prev,
            outcome,
            obj.meta().generation,
            Timestamp::now(),
        ),
        false => outcome,
    };
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
        // `paused` turned it into conditions.
        Outcome::Held { then, .. } | Outcome::Quiet(then) => then,
    };
    Ok(then.action(ctx))
}

/// The one status write of a look that is not a reconcile's own (a
/// deletion step).
async fn write_aside<K: Kind>(obj: &K, ctx: &Context, outcome: Outcome<K::Status>) -> Result<()> {
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let prev = obj.status().cloned().unwrap_or_default();
    write(obj, ctx, &api, &prev, outcome).await.map(|_| ())
}

/// While `berth.dev/paused` is "true" the shell, not the kind, decides the
/// conditions, the same for every kind: all three say `Paused`; Ready and
/// Degraded keep the status the kind found (what is in AWS works, or not;
/// a person has to act, or not: a pause hides no failure), Progressing is
/// False (berth moves nothing forward until the annotation goes). The
/// message says what is left as it is, or what berth would report without
/// the annotation. A look that learned nothing new writes nothing.
pub fn paused<S: Conditioned>(
    kind: &str,
    prev: &S,
    outcome: Outcome<S>,
    generation: Option<i64>,
    now: Timestamp,
) -> Outcome<S> {
    let said = |c: &Condition| Said {
        status: c.status == "True",
        paused: c.reason == Reason::Paused.as_str(),
        message: c.message.clone(),
    };
    let wished = |d: &Desired| Said {
        status: d.status,
        paused: d.reason == Reason::Paused,
        message: d.message.clone(),
    };
    let of = |cs: &[Condition], t| conditions::find(cs, t).map(said);
    let of_desired = |ds: &[Desired], t| ds.iter().find(|d| d.type_ == t).map(wished);
    let (found, then) = match outcome {
        Outcome::Status(mut next, then) => {
            let cs = next.conditions();
            let desired = paused_conditions(kind, as_found(of(cs, READY), of(cs, DEGRADED)));
            let merged = conditions::merge(prev.conditions(), &desired, generation, now);
            next.set_conditions(merged, generation);
            return Outcome::Status(next, then);
        }
        Outcome::Conditions(ds, then) => {
            let ready = of_desired(&ds, READY).or_else(|| of(prev.conditions(), READY));
            let degraded = of_desired(&ds, DEGRADED).or_else(|| of(prev.conditions(), DEGRADED));
            (as_found(ready, degraded), then)
        }
        Outcome::Failed(f) => {
            let found = Found {
                ready: false,
                degraded: true,
                hold: Hold::Would(f.message),
            };
            (found, f.then)
        }
        Outcome::Held { ready, held, then } => {
            let degraded = of(prev.conditions(), DEGRADED).is_some_and(|d| d.status);
            let hold = Hold::Held(held);
            let found = Found {
                ready,
                degraded,
                hold,
            };
            (found, then)
        }
        Outcome::Quiet(then) => {
            let cs = prev.conditions();
            if of(cs, READY).is_some_and(|r| r.paused) {
                return Outcome::Quiet(then);
            }
            (as_found(of(cs, READY), of(cs, DEGRADED)), then)
        }
    };
    Outcome::Conditions(paused_conditions(kind, found), then)
}

/// One condition as the kind reported it.
struct Said {
    status: bool,
    paused: bool,
    message: String,
}

/// What the kind found, for the paused conditions.
struct Found {
    ready: bool,
    degraded: bool,
    hold: Hold,
}

/// What the paused message adds to "berth makes no AWS changes".
#[derive(Debug, PartialEq, Eq)]
enum Hold {
    /// What the kind would report.
    Would(String),
    /// What the kind leaves as it is.
    Held(String),
    Nothing,
}

/// Ready's and Degraded's status, and what the kind would report:
/// Degraded's message when it is True (what a person has to fix), else
/// Ready's. A condition that says `Paused` already adds nothing.
fn as_found(ready: Option<Said>, degraded: Option<Said>) -> Found {
    let (r, d) = (ready.as_ref(), degraded.as_ref());
    let (ready_status, degraded_status) =
        (r.is_some_and(|r| r.status), d.is_some_and(|d| d.status));
    let told = degraded
        .filter(|d| d.status)
        .or(ready)
        .filter(|c| !c.paused && !c.message.is_empty());
    Found {
        ready: ready_status,
        degraded: degraded_status,
        hold: told.map_or(Hold::Nothing, |c| Hold::Would(c.message)),
    }
}

fn paused_conditions(kind: &str, found: Found) -> Vec<Desired> {
    let base = format!("berth.dev/paused is \"true\": berth makes no AWS changes for this {kind}");
    let message = match found.hold {
        Hold::Would(m) => format!("{base}; without the annotation berth would report: {m}"),
        Hold::Held(m) => format!("{base}; {m}"),
        Hold::Nothing => base,
    };
    conditions::paused(found.ready, found.degraded, message)
}

/// An Event for each of Ready and Degraded that turned True with a new
/// reason (a phase change): Normal for Ready, Warning for Degraded. None
/// while paused: the kind's conditions are not the ones written
/// ([`paused`]), so every look would announce them again.
pub async fn announce<K: Kind>(
    obj: &K,
    ctx: &Context,
    prev: &[Condition],
    next: &[Condition],
    action: &str,
) {
    if is_paused(obj.annotations()) {
        return;
    }
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
#[path = "shell_tests.rs"]
mod tests;
