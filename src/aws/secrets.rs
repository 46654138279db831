//! Secrets Manager: the current version of each secret a task definition
//! references (part of the rendering's hash: a rotated secret rolls out
//! new tasks, which read secrets only when they start).

use crate::aws::{AwsFailure, Clients};

/// The AWSCURRENT version id of each Secrets Manager secret.
pub async fn secret_versions(
    clients: &Clients,
    arns: &[String],
) -> Result<std::collections::BTreeMap<String, String>, AwsFailure> {
    let mut versions = std::collections::BTreeMap::new();
    for arn in arns {
        let out = clients
            .call("secretsmanager:DescribeSecret", || {
                clients.secrets.describe_secret().secret_id(arn).send()
            })
            .await?;
        let current = out.version_ids_to_stages().and_then(|m| {
            m.iter()
                .find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT"))
                .map(|(id, _)| id.clone())
        });
        versions.insert(arn.clone(), current.unwrap_or_default());
    }
    Ok(versions)
}
