//! Reconcile errors, each with a static category used as the metrics label
//! and the Event reason.

use crate::api::conditions::Reason;
use crate::api::InvalidSpec;
use crate::aws::{AwsFailure, FailureKind, TargetError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid spec: {0}")]
    InvalidSpec(InvalidSpec),
    #[error("{0}")]
    Aws(AwsFailure),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("{0}")]
    Config(String),
    /// The namespace has no AWS target berth may use.
    #[error("{0}")]
    Target(TargetError),
    /// The status write's precondition failed: the object changed since the
    /// reconcile read it. Run again on a fresh read.
    #[error("stale read: {0}")]
    StaleRead(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// CamelCase, stable: metrics label and Event reason.
    pub fn category(&self) -> &'static str {
        match self {
            Error::InvalidSpec(_) => "InvalidSpec",
            Error::Aws(f) => match f.kind {
                FailureKind::Throttled => "AwsThrottled",
                FailureKind::Transient => "AwsUnavailable",
                FailureKind::Terminal => "AwsError",
            },
            Error::Kube(_) => "KubernetesError",
            Error::Finalizer(e) => match e.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(inner)
                | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner.category(),
                _ => "FinalizerError",
            },
            Error::Config(_) => "ConfigError",
            Error::Target(TargetError::NoRegion) => "ConfigError",
            Error::Target(TargetError::NoNamespaceRole { .. }) => "NamespaceRoleRequired",
            Error::StaleRead(_) => "StaleRead",
        }
    }

    /// The condition reason and message of an object berth refuses to
    /// call AWS for (its spec passes a role the namespace does not allow,
    /// or the namespace has no AWS target); `None` for any other failure.
    pub fn refusal(&self) -> Option<(Reason, String)> {
        match self {
            Error::InvalidSpec(invalid) => Some((Reason::InvalidSpec, invalid.to_string())),
            Error::Target(t @ TargetError::NoRegion) => {
                Some((Reason::AwsConfiguration, t.to_string()))
            }
            Error::Target(t @ TargetError::NoNamespaceRole { .. }) => {
                Some((Reason::NamespaceRoleRequired, t.to_string()))
            }
            _ => None,
        }
    }

    /// Throttling and outages only slow berth down; everything else is news.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Aws(f) => f.kind != FailureKind::Terminal,
            Error::Kube(_) | Error::StaleRead(_) => true,
            Error::Finalizer(e) => match e.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(inner)
                | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner.is_transient(),
                _ => true,
            },
            _ => false,
        }
    }
}

impl From<AwsFailure> for Error {
    fn from(f: AwsFailure) -> Self {
        Error::Aws(f)
    }
}
