//! STS: which AWS account a target's calls act in (GetCallerIdentity), for
//! claims of account-wide names. Asked once per target and kept: the
//! account behind a target's credentials (berth's own, or the namespace
//! role it assumes) does not change while berth runs.
//!
//! GetCallerIdentity needs no IAM permission: "No permissions are required
//! to perform this operation" (even an explicit Deny does not stop it)
//! <https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html>.

use tokio::sync::OnceCell;

/// The calls berth makes that AWS authorizes for every caller, with AWS's
/// words: no IAM policy lists them (granting them grants nothing, and a
/// deny would not stop them). `tests/iam_policy.rs` and the metrics e2e
/// test read this list.
pub const NO_PERMISSION: &[(&str, &str)] = &[(
    "sts:GetCallerIdentity",
    "\"No permissions are required to perform this operation\" \
     (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html)",
)];

use crate::aws::{AwsFailure, Clients};

/// The STS client of one target and the account it answered.
#[derive(Clone, Debug)]
pub struct Sts {
    client: aws_sdk_sts::Client,
    account: std::sync::Arc<OnceCell<String>>,
}

impl Sts {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_sts::Client::new(config),
            account: Default::default(),
        }
    }
}

/// The 12-digit account the target's credentials belong to. A failure is
/// not kept: the next reconcile asks again.
pub async fn account(clients: &Clients) -> Result<String, AwsFailure> {
    clients
        .sts
        .account
        .get_or_try_init(|| async {
            let out = clients
                .call("sts:GetCallerIdentity", || {
                    clients.sts.client.get_caller_identity().send()
                })
                .await?;
            Ok(out.account().unwrap_or_default().to_string())
        })
        .await
        .cloned()
}
