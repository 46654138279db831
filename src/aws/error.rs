//! Sorting AWS failures into what the controller does about them.

use std::fmt;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// Slow down: requeue with backoff, keep the last known status.
    Throttled,
    /// Network, timeout or 5xx: requeue, keep the last known status.
    Transient,
    /// AWS refused the request: a human must act (Degraded with AWS's message).
    Terminal,
}

/// One failed AWS call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsFailure {
    pub kind: FailureKind,
    /// `ecs:UpdateService`.
    pub action: &'static str,
    /// AWS's error code (`ClientException`, `ClusterNotFoundException`, …).
    pub code: Option<String>,
    pub message: String,
}

impl AwsFailure {
    pub fn is_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

impl fmt::Display for AwsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} failed: {code}: {}", self.action, self.message),
            None => write!(f, "{} failed: {}", self.action, self.message),
        }
    }
}

impl std::error::Error for AwsFailure {}

const THROTTLING_CODES: [&str; 6] = [
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
];

pub fn classify<E>(action: &'static str, err: SdkError<E, HttpResponse>) -> AwsFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().map(str::to_string);
            let message = e.message().unwrap_or("no message").to_string();
            let status = service.raw().status().as_u16();
            let kind = if code
                .as_deref()
                .is_some_and(|c| THROTTLING_CODES.contains(&c))
            {
                FailureKind::Throttled
            } else if status >= 500 {
                FailureKind::Transient
            } else {
                FailureKind::Terminal
            };
            // The request id is what AWS support asks for; it stays out of
            // status (it changes on every attempt) and goes to the log, in
            // the reconcile's span (the object it was for).
            let request_id = e
                .meta()
                .extra("aws_request_id")
                .or_else(|| service.raw().headers().get("x-amzn-requestid"));
            let (code_, request_id) = (code.as_deref().unwrap_or(""), request_id.unwrap_or(""));
            if kind == FailureKind::Terminal {
                // Info, not warn: some are expected answers (a task
                // definition family that does not exist yet).
                tracing::info!(
                    action,
                    code = code_,
                    request_id,
                    status,
                    "AWS error response"
                );
            } else {
                tracing::debug!(
                    action,
                    code = code_,
                    request_id,
                    status,
                    "AWS error response"
                );
            }
            AwsFailure {
                kind,
                action,
                code,
                message,
            }
        }
        // The SDK could not build the request (a missing required member,
        // an invalid endpoint): its error chain says what, in words; its
        // Debug text would reach Degraded/AwsError as Rust syntax.
        SdkError::ConstructionFailure(_) => AwsFailure {
            kind: FailureKind::Terminal,
            action,
            code: None,
            message: error_chain(&err),
        },
        _ => AwsFailure {
            kind: FailureKind::Transient,
            action,
            code: None,
            message: error_chain(&err),
        },
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::operation::create_service::CreateServiceError;
    use aws_smithy_types::error::operation::BuildError;

    use super::*;
    use crate::api::reasons::{message_problem, Reason};

    #[test]
    fn a_request_the_sdk_cannot_build_is_described_in_words() {
        let err: SdkError<CreateServiceError, HttpResponse> = SdkError::construction_failure(
            BuildError::missing_field("cluster", "a cluster is required"),
        );
        let f = classify("ecs:CreateService", err);
        assert_eq!(f.kind, FailureKind::Terminal);
        assert!(f.message.contains("cluster"), "{}", f.message);
        let status = f.to_string();
        assert_eq!(message_problem(Reason::AwsError, &status), None, "{status}");
    }
}
