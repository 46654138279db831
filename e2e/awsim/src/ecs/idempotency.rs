//! ECS client tokens (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/ECS_Idempotency.html):
//! "If you retry a request that completed successfully using the same client
//! token and the same parameters, the retry succeeds without performing any
//! further actions." Tokens are scoped to a cluster ("Requests with the same
//! token in the same cluster are idempotent"). For RunTask "the result of
//! the original request is returned"; a retry with "one or more parameters
//! changed ... fails with a ConflictException"; the token lives 24 hours.
//!
//! CreateService's page names no error for a changed retry; awsim answers
//! the `InvalidParameterException` "Creation of service was not idempotent."
//! that ECS gives for a non-identical re-creation of a service.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::{AwsError, AwsResult, Ctx};

/// "The client token TTL is 24 hours" (RunTask); awsim keeps CreateService
/// tokens as long.
pub const TOKEN_TTL_SECONDS: f64 = 24.0 * 3600.0;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    /// The request body, to tell a retry from a different request.
    pub request: Value,
    /// RunTask: the original answer. CreateService: the service ARN.
    pub result: Value,
    pub at: f64,
}

pub fn key(cluster_arn: &str, token: &str) -> String {
    format!("{cluster_arn}\n{token}")
}

pub enum Replay<'a> {
    /// No earlier request with this token.
    New,
    /// The same request again: answer with the recorded result.
    Same(&'a Value),
}

/// Looks `key` up among unexpired tokens; a different request with the same
/// token is `mismatch`.
pub fn replay<'a>(
    tokens: &'a mut std::collections::BTreeMap<String, TokenRecord>,
    ctx: &Ctx,
    key: &str,
    request: &Value,
    mismatch: impl FnOnce() -> AwsError,
) -> AwsResult<Replay<'a>> {
    tokens.retain(|_, r| ctx.now - r.at < TOKEN_TTL_SECONDS);
    match tokens.get(key) {
        None => Ok(Replay::New),
        Some(r) if r.request == *request => Ok(Replay::Same(&r.result)),
        Some(_) => Err(mismatch()),
    }
}

pub fn run_task_conflict() -> AwsError {
    AwsError::client(
        "ConflictException",
        "The request uses the same client token as a previous, but non-identical request. Do not reuse a client token with different requests, unless the requests are identical.",
    )
}

pub fn create_service_conflict() -> AwsError {
    AwsError::client(
        "InvalidParameterException",
        "Creation of service was not idempotent.",
    )
}
