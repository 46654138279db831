//! Finding berth's task definition revisions by their tags: the revision of
//! a rendering's hash (reused instead of registering again, also after a
//! restart or a lost response), and the revisions one object owns.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{SortOrder, TaskDefinitionField, TaskDefinitionStatus};

use super::render::TAG_HASH;
use crate::aws::tags::TAG_OWNER;
use crate::aws::{AwsFailure, Clients};

/// Visits the ACTIVE revisions of exactly `family`, newest first (at most
/// `scan`), with their tags, until `visit` returns true.
async fn visit_revisions(
    clients: &Clients,
    family: &str,
    scan: usize,
    mut visit: impl FnMut(&str, i64, &[aws_sdk_ecs::types::Tag]) -> bool,
) -> Result<(), AwsFailure> {
    let list = clients
        .call("ecs:ListTaskDefinitions", || {
            clients
                .ecs
                .list_task_definitions()
                .family_prefix(family)
                .status(TaskDefinitionStatus::Active)
                .sort(SortOrder::Desc)
                .max_results(scan.clamp(1, 100) as i32)
                .send()
        })
        .await?;
    for arn in list.task_definition_arns() {
        // familyPrefix also matches longer families (`api` vs `api-worker`).
        if family_of(arn) != Some(family) {
            continue;
        }
        let out = clients
            .call("ecs:DescribeTaskDefinition", || {
                clients
                    .ecs
                    .describe_task_definition()
                    .task_definition(arn)
                    .include(TaskDefinitionField::Tags)
                    .send()
            })
            .await?;
        let revision = out.task_definition().map(|t| t.revision()).unwrap_or(0) as i64;
        if visit(arn, revision, out.tags()) {
            break;
        }
    }
    Ok(())
}

fn has_tag(tags: &[aws_sdk_ecs::types::Tag], key: &str, value: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == Some(key) && t.value() == Some(value))
}

/// The newest ACTIVE revision of a family, with its tags.
#[derive(Clone, Debug)]
pub struct Latest {
    pub arn: String,
    pub revision: i64,
    pub tags: BTreeMap<String, String>,
}

impl Latest {
    /// Its berth hash tag is `hash`.
    pub fn has_hash(&self, hash: &str) -> bool {
        self.tags.get(TAG_HASH).map(String::as_str) == Some(hash)
    }
}

/// The newest ACTIVE revision of `family` (one DescribeTaskDefinition):
/// whose the family is, and whether it already carries a rendering.
pub async fn latest(clients: &Clients, family: &str) -> Result<Option<Latest>, AwsFailure> {
    let out = clients
        .call("ecs:DescribeTaskDefinition", || {
            clients
                .ecs
                .describe_task_definition()
                .task_definition(family)
                .include(TaskDefinitionField::Tags)
                .send()
        })
        .await;
    let out = match out {
        Ok(out) => out,
        // "Unable to describe task definition.": the family has no ACTIVE
        // revision yet.
        Err(f) if f.is_code("ClientException") => return Ok(None),
        Err(f) => return Err(f),
    };
    let Some(td) = out.task_definition() else {
        return Ok(None);
    };
    Ok(td.task_definition_arn().map(|arn| Latest {
        arn: arn.to_string(),
        revision: td.revision() as i64,
        tags: out
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
    }))
}

/// The latest ACTIVE revision of `family` when its berth hash tag is
/// `hash`: one DescribeTaskDefinition per new rendering. berth registers on
/// top of its family, so a registration whose response was lost is the
/// latest revision; an older revision with the same content is not searched
/// for (registering it again costs less than scanning the family each time).
pub async fn latest_with_hash(
    clients: &Clients,
    family: &str,
    hash: &str,
) -> Result<Option<(String, i64)>, AwsFailure> {
    Ok(latest(clients, family)
        .await?
        .filter(|l| l.has_hash(hash))
        .map(|l| (l.arn, l.revision)))
}

/// berth's ACTIVE revisions of `family` (owner tag = `owner`), newest first.
pub async fn owned_revisions(
    clients: &Clients,
    family: &str,
    owner: &str,
) -> Result<Vec<String>, AwsFailure> {
    let mut owned = Vec::new();
    visit_revisions(clients, family, 100, |arn, _, tags| {
        if has_tag(tags, TAG_OWNER, owner) {
            owned.push(arn.to_string());
        }
        false
    })
    .await?;
    Ok(owned)
}

/// `arn:aws:ecs:r:a:task-definition/FAMILY:REV` -> `FAMILY`.
pub fn family_of(arn: &str) -> Option<&str> {
    arn.rsplit_once("task-definition/")
        .and_then(|(_, rest)| rest.rsplit_once(':'))
        .map(|(family, _)| family)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_from_arn() {
        assert_eq!(
            family_of("arn:aws:ecs:us-east-1:123456789012:task-definition/shop-api:12"),
            Some("shop-api")
        );
        assert_eq!(family_of("nonsense"), None);
    }
}
