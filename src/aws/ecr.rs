//! ECR pull-through cache: rules, their validation, and what can break them
//! (repositories under the prefix, repository creation templates).

use crate::aws::{AwsFailure, Clients};
use aws_sdk_ecr::types::UpstreamRegistry;

/// A pull-through cache rule as DescribePullThroughCacheRules reports it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleView {
    pub prefix: String,
    pub upstream_url: String,
    /// ECR's `upstreamRegistry` (`docker-hub`, `quay`, ...), when reported.
    pub upstream_registry: Option<String>,
    pub upstream_repository_prefix: Option<String>,
    pub credential_arn: Option<String>,
    pub custom_role_arn: Option<String>,
    pub registry_id: Option<String>,
    /// Seconds since the epoch.
    pub created_at: Option<f64>,
    pub updated_at: Option<f64>,
}

/// A repository under a cached prefix. ECR does not say who created a
/// repository: berth infers it from the creation time and records it in a
/// tag (see `controller::pull_through_cache::repositories`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RepositoryView {
    pub name: String,
    pub arn: String,
    /// Seconds since the epoch.
    pub created_at: Option<f64>,
    /// The value of the tag berth records the cache's repositories with,
    /// once read with ListTagsForResource (not read: None).
    pub recorded_for: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TemplateView {
    pub prefix: String,
    /// `appliedFor` includes PULL_THROUGH_CACHE: the template shapes the
    /// repositories the cache creates. One only for REPLICATION or
    /// CREATE_ON_PUSH does not
    /// (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepositoryCreationTemplate.html).
    pub for_cache: bool,
}

/// What berth sends to create a rule.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleRequest {
    pub prefix: String,
    pub upstream_registry: &'static str,
    pub upstream_url: String,
    pub upstream_repository_prefix: Option<String>,
    pub credential_arn: Option<String>,
    pub custom_role_arn: Option<String>,
    pub registry_id: Option<String>,
}

/// ValidatePullThroughCacheRule's verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub valid: bool,
    pub failure: Option<String>,
}

fn secs(t: Option<&aws_smithy_types::DateTime>) -> Option<f64> {
    t.map(|t| t.as_secs_f64())
}

/// Every rule of the registry: overlaps are only visible against all of them.
pub async fn rules(
    clients: &Clients,
    registry_id: Option<&str>,
) -> Result<Vec<RuleView>, AwsFailure> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = clients
            .call("ecr:DescribePullThroughCacheRules", || {
                clients
                    .ecr
                    .describe_pull_through_cache_rules()
                    .set_registry_id(registry_id.map(str::to_string))
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        out.extend(page.pull_through_cache_rules().iter().map(|r| RuleView {
            prefix: r.ecr_repository_prefix().unwrap_or_default().to_string(),
            upstream_url: r.upstream_registry_url().unwrap_or_default().to_string(),
            upstream_registry: r.upstream_registry().map(|u| u.as_str().to_string()),
            upstream_repository_prefix: r.upstream_repository_prefix().map(str::to_string),
            credential_arn: r.credential_arn().map(str::to_string),
            custom_role_arn: r.custom_role_arn().map(str::to_string),
            registry_id: r.registry_id().map(str::to_string),
            created_at: secs(r.created_at()),
            updated_at: secs(r.updated_at()),
        }));
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Creates a rule. Sent once: it has no idempotency token, and the next
/// reconcile finds a rule whose response was lost.
pub async fn create_rule(clients: &Clients, r: &RuleRequest) -> Result<(), AwsFailure> {
    clients
        .call_once("ecr:CreatePullThroughCacheRule", || {
            clients
                .ecr
                .create_pull_through_cache_rule()
                .ecr_repository_prefix(&r.prefix)
                .upstream_registry_url(&r.upstream_url)
                .upstream_registry(UpstreamRegistry::from(r.upstream_registry))
                .set_upstream_repository_prefix(r.upstream_repository_prefix.clone())
                .set_credential_arn(r.credential_arn.clone())
                .set_custom_role_arn(r.custom_role_arn.clone())
                .set_registry_id(r.registry_id.clone())
                .send()
        })
        .await
        .map(|_| ())
}

/// Sets the two fields UpdatePullThroughCacheRule can change (the same end
/// state when repeated).
pub async fn update_rule(clients: &Clients, r: &RuleRequest) -> Result<(), AwsFailure> {
    clients
        .call("ecr:UpdatePullThroughCacheRule", || {
            clients
                .ecr
                .update_pull_through_cache_rule()
                .ecr_repository_prefix(&r.prefix)
                .set_credential_arn(r.credential_arn.clone())
                .set_custom_role_arn(r.custom_role_arn.clone())
                .set_registry_id(r.registry_id.clone())
                .send()
        })
        .await
        .map(|_| ())
}

/// Deletes a rule; one already gone counts as deleted.
pub async fn delete_rule(
    clients: &Clients,
    prefix: &str,
    registry_id: Option<&str>,
) -> Result<(), AwsFailure> {
    match clients
        .call("ecr:DeletePullThroughCacheRule", || {
            clients
                .ecr
                .delete_pull_through_cache_rule()
                .ecr_repository_prefix(prefix)
                .set_registry_id(registry_id.map(str::to_string))
                .send()
        })
        .await
    {
        Ok(_) => Ok(()),
        Err(f) if f.is_code("PullThroughCacheRuleNotFoundException") => Ok(()),
        Err(f) => Err(f),
    }
}

pub async fn validate_rule(
    clients: &Clients,
    prefix: &str,
    registry_id: Option<&str>,
) -> Result<Verdict, AwsFailure> {
    let out = clients
        .call("ecr:ValidatePullThroughCacheRule", || {
            clients
                .ecr
                .validate_pull_through_cache_rule()
                .ecr_repository_prefix(prefix)
                .set_registry_id(registry_id.map(str::to_string))
                .send()
        })
        .await?;
    Ok(Verdict {
        valid: out.is_valid(),
        failure: out.failure().map(str::to_string),
    })
}

/// Repositories named `prefix/...` (DescribeRepositories has no prefix
/// filter, so every page is read; it reports no tags).
pub async fn repositories_under(
    clients: &Clients,
    prefix: &str,
    registry_id: Option<&str>,
) -> Result<Vec<RepositoryView>, AwsFailure> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = clients
            .call("ecr:DescribeRepositories", || {
                clients
                    .ecr
                    .describe_repositories()
                    .set_registry_id(registry_id.map(str::to_string))
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        for r in page.repositories() {
            let name = r.repository_name().unwrap_or_default();
            if crate::api::pull_through_cache::covers(prefix, name) {
                out.push(RepositoryView {
                    name: name.to_string(),
                    arn: r.repository_arn().unwrap_or_default().to_string(),
                    created_at: secs(r.created_at()),
                    recorded_for: None,
                });
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// The value of tag `key` on repository `arn` (ListTagsForResource); a
/// repository deleted meanwhile has none.
pub async fn repository_tag(
    clients: &Clients,
    arn: &str,
    key: &str,
) -> Result<Option<String>, AwsFailure> {
    match clients
        .call("ecr:ListTagsForResource", || {
            clients
                .ecr
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
        })
        .await
    {
        Ok(out) => Ok(out
            .tags()
            .iter()
            .find(|t| t.key() == key)
            .map(|t| t.value().to_string())),
        Err(f) if f.is_code("RepositoryNotFoundException") => Ok(None),
        Err(f) => Err(f),
    }
}

/// Sets tag `key` to `value` on repository `arn` (TagResource overwrites
/// an existing value: the same end state when repeated); a repository
/// deleted meanwhile needs none.
pub async fn tag_repository(
    clients: &Clients,
    arn: &str,
    key: &str,
    value: &str,
) -> Result<(), AwsFailure> {
    // Both members are set: the builder cannot fail.
    let tags: Vec<_> = aws_sdk_ecr::types::Tag::builder()
        .key(key)
        .value(value)
        .build()
        .into_iter()
        .collect();
    match clients
        .call("ecr:TagResource", || {
            clients
                .ecr
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await
    {
        Ok(_) => Ok(()),
        Err(f) if f.is_code("RepositoryNotFoundException") => Ok(()),
        Err(f) => Err(f),
    }
}

/// Repository creation templates (of the caller's registry: the API takes
/// no registry id).
pub async fn templates(clients: &Clients) -> Result<Vec<TemplateView>, AwsFailure> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = clients
            .call("ecr:DescribeRepositoryCreationTemplates", || {
                clients
                    .ecr
                    .describe_repository_creation_templates()
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        out.extend(page.repository_creation_templates().iter().filter_map(|t| {
            Some(TemplateView {
                prefix: t.prefix()?.to_string(),
                for_cache: t
                    .applied_for()
                    .contains(&aws_sdk_ecr::types::RctAppliedFor::PullThroughCache),
            })
        }));
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}
