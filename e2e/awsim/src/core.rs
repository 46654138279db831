//! Types shared by every simulated service: the request context (account,
//! region, virtual time) and the protocol-neutral error that the server turns
//! into each protocol's real error shape.

use serde::{Deserialize, Serialize};

/// What a service handler needs to know about the request it serves.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub account_id: String,
    pub region: String,
    /// Virtual time, seconds since the Unix epoch (fractional).
    pub now: f64,
}

impl Ctx {
    pub fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{resource}",
            self.region, self.account_id
        )
    }
}

/// A protocol-neutral AWS error. `code` is AWS's error code exactly as the
/// SDK expects it (`ClientException`, `DBClusterNotFoundFault`, ...).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AwsError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// awsQuery `<Type>`: true => `Sender`, false => `Receiver`.
    pub sender_fault: bool,
}

impl AwsError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            sender_fault: status < 500,
        }
    }
    /// 400 with the given code.
    pub fn client(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }
    /// 404 with the given code (RDS uses 404 for its *NotFound faults).
    pub fn not_found(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(404, code, message)
    }
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for AwsError {}

pub type AwsResult<T> = Result<T, AwsError>;

/// Lets RDS create the Secrets Manager secret of a managed master password
/// without knowing how the Secrets Manager simulation stores it.
pub trait SecretStore {
    /// Creates a secret and returns its ARN.
    fn create_managed_secret(
        &mut self,
        ctx: &Ctx,
        name: &str,
        secret_string: &str,
        tags: &[(String, String)],
    ) -> String;
    /// Deletes a secret by ARN (no error when it is already gone).
    fn delete_secret(&mut self, arn: &str);
}
