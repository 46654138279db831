//! Reconcile errors, each with a static category used as the metrics label
//! and the Event reason.

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
    /// The API server refused the status write (422 Invalid): the status
    /// breaks the CRD schema at `field`.
    #[error("the API server refused the status write ({field}): {message}")]
    StatusRefused { field: String, message: String },
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
            Error::StatusRefused { .. } => "StatusWriteRefused",
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
