//! ECR (awsJson1_1, `AmazonEC2ContainerRegistry_V20150921`): repositories,
//! pull-through cache rules and repository creation templates, plus the
//! image-resolution rule ECS uses to decide whether a private image pulls.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::core::{AwsError, AwsResult, Ctx};
use crate::secrets::SecretsState;
use crate::util::{obj, paginate, str_field, str_list};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    pub name: String,
    pub arn: String,
    pub uri: String,
    pub created_at: f64,
    pub image_tag_mutability: String,
    pub scan_on_push: bool,
    pub tags: Vec<Value>,
    /// Created by a pull through a cache rule rather than CreateRepository.
    pub from_cache_rule: bool,
    /// The tags and digests the repository holds; `None` for repositories
    /// seeded by the test world, which hold every tag. awsim has no image
    /// push, so a repository made with CreateRepository holds none.
    #[serde(default)]
    pub images: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheRule {
    pub prefix: String,
    pub upstream_registry_url: String,
    pub upstream_registry: Option<String>,
    pub credential_arn: Option<String>,
    pub custom_role_arn: Option<String>,
    pub upstream_repository_prefix: Option<String>,
    pub created_at: f64,
    pub updated_at: f64,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EcrState {
    pub repositories: BTreeMap<String, Repository>,
    pub cache_rules: BTreeMap<String, CacheRule>,
    /// Raw templates, keyed by prefix (`ROOT` is the default template).
    pub creation_templates: BTreeMap<String, Value>,
}

/// A parsed private ECR image reference.
pub struct PrivateImage<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub repository: &'a str,
}

/// `ACCOUNT.dkr.ecr.REGION.amazonaws.com/repo[:tag|@digest]`.
pub fn parse_private(image: &str) -> Option<PrivateImage<'_>> {
    let (host, rest) = image.split_once('/')?;
    let mut parts = host.split('.');
    let account = parts.next()?;
    if parts.next()? != "dkr" || parts.next()? != "ecr" {
        return None;
    }
    let region = parts.next()?;
    let repository = rest.split('@').next()?;
    // A tag is after the last ':' that follows the last '/'.
    let repository = match repository.rfind(':') {
        Some(i) if i > repository.rfind('/').unwrap_or(0) => &repository[..i],
        _ => repository,
    };
    Some(PrivateImage {
        account,
        region,
        repository,
    })
}

/// The tag or digest of an image reference (`latest` when it has neither).
fn image_reference(image: &str) -> String {
    if let Some((_, digest)) = image.split_once('@') {
        return digest.to_string();
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) => tag.to_string(),
        None => "latest".to_string(),
    }
}

/// Upstream registries ECR accepts, with whether a credential is required.
fn upstream(url: &str) -> Option<(&'static str, bool)> {
    let host = url.trim_start_matches("https://").trim_end_matches('/');
    match host {
        "registry-1.docker.io" => Some(("docker-hub", true)),
        "public.ecr.aws" => Some(("ecr-public", false)),
        "quay.io" => Some(("quay", false)),
        "registry.k8s.io" => Some(("k8s", false)),
        "ghcr.io" => Some(("github-container-registry", true)),
        "registry.gitlab.com" => Some(("gitlab-container-registry", true)),
        h if h.ends_with(".azurecr.io") => Some(("azure-container-registry", true)),
        h if parse_private(&format!("{h}/x")).is_some() => Some(("ecr", false)),
        _ => None,
    }
}

fn rule_not_found(prefix: &str, registry: &str) -> AwsError {
    AwsError::client(
        "PullThroughCacheRuleNotFoundException",
        format!("The pull-through cache rule with the prefix '{prefix}' does not exist in the registry with id '{registry}'"),
    )
}

impl EcrState {
    pub fn ensure_repository(&mut self, ctx: &Ctx, name: &str) -> String {
        self.create_repository(ctx, name, false, vec![]);
        let r = self.repositories.get_mut(name).expect("just created");
        r.images = None;
        r.uri.clone()
    }

    fn create_repository(
        &mut self,
        ctx: &Ctx,
        name: &str,
        from_cache_rule: bool,
        tags: Vec<Value>,
    ) -> &Repository {
        self.repositories
            .entry(name.to_string())
            .or_insert_with(|| Repository {
                name: name.to_string(),
                arn: ctx.arn("ecr", &format!("repository/{name}")),
                uri: format!(
                    "{}.dkr.ecr.{}.amazonaws.com/{name}",
                    ctx.account_id, ctx.region
                ),
                created_at: ctx.now,
                image_tag_mutability: "MUTABLE".into(),
                scan_on_push: false,
                tags,
                from_cache_rule,
                images: Some(vec![]),
            })
    }

    /// Whether a private image of this account pulls, and what the pull
    /// does to the registry. Followed from ECR's user guide:
    /// - a rule's prefix always has an assumed trailing `/`, so a rule for
    ///   `docker-hub/team/api` serves `docker-hub/team/api/...`, never the
    ///   repository `docker-hub/team/api` itself; `ROOT` serves every
    ///   repository (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-private-wildcards.html);
    /// - the cache creates the repository on the first pull when it does not
    ///   exist (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-iam.html,
    ///   `ecr:CreateRepository`) and fetches tags it lacks from upstream
    ///   (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-working.html);
    /// - a repository created by hand is not a cache repository: a tag it
    ///   does not hold is not found, whatever rule covers its name. The
    ///   documentation does not say this. Its troubleshooting page
    ///   (https://docs.aws.amazon.com/AmazonECR/latest/userguide/error-pullthroughcache.html)
    ///   blames "Requested image not found" on an image missing upstream or
    ///   on a missing ecr:BatchImportUpstreamImage permission where the
    ///   repository already exists, and offers creating the repository
    ///   before the pull as a fix when ecr:CreateRepository is missing. What
    ///   awsim models instead is the incident of berth's issue 12: with
    ///   hand-made repositories under the prefix every task failed with
    ///   `CannotPullContainerError ... not found`, and pulls worked once
    ///   those repositories were deleted and the cache created them;
    /// - the repository creation template matching the new repository
    ///   applies to it, and one with resource tags or KMS encryption needs
    ///   a repository creation role (customRoleArn) to create it
    ///   (https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-creation-templates-create.html);
    ///   awsim models no IAM, so without one the repository is not created.
    ///
    /// `Err` is the pull error detail.
    pub fn resolve_pull(&mut self, ctx: &Ctx, image: &str) -> Result<(), String> {
        let Some(p) = parse_private(image) else {
            return Ok(());
        };
        if p.account != ctx.account_id {
            // Other accounts' registries are outside the simulation.
            return Ok(());
        }
        let repository = p.repository.to_string();
        let reference = image_reference(image);
        let has_rule = self
            .cache_rules
            .values()
            .any(|r| r.prefix == "ROOT" || repository.starts_with(&format!("{}/", r.prefix)));
        let not_found = || {
            format!(
                "pull image manifest has been retried 7 time(s): failed to resolve ref {image}: {image}: not found"
            )
        };
        if let Some(repo) = self.repositories.get_mut(&repository) {
            return match &mut repo.images {
                None => Ok(()),
                Some(held) if held.contains(&reference) => Ok(()),
                Some(held) if repo.from_cache_rule && has_rule => {
                    held.push(reference);
                    Ok(())
                }
                Some(_) => Err(not_found()),
            };
        }
        if has_rule && self.template_blocks_creation(&repository) {
            return Err(not_found());
        }
        if has_rule {
            self.create_repository(ctx, &repository, true, vec![]);
            if let Some(r) = self.repositories.get_mut(&repository) {
                r.images = Some(vec![reference]);
            }
            return Ok(());
        }
        Err(not_found())
    }

    /// Whether the template that applies to a repository the cache creates
    /// (longest matching prefix, else `ROOT`) cannot be applied. Only
    /// templates whose `appliedFor` lists PULL_THROUGH_CACHE apply to the
    /// cache's repositories; REPLICATION and CREATE_ON_PUSH are the other
    /// scenarios
    /// (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepositoryCreationTemplate.html).
    fn template_blocks_creation(&self, repository: &str) -> bool {
        let for_cache = |t: &Value| {
            t["appliedFor"]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == "PULL_THROUGH_CACHE"))
        };
        let templates = || self.creation_templates.iter().filter(|(_, t)| for_cache(t));
        let template = templates()
            .filter(|(p, _)| repository.starts_with(&format!("{p}/")))
            .max_by_key(|(p, _)| p.len())
            .or_else(|| templates().find(|(p, _)| *p == "ROOT"))
            .map(|(_, t)| t);
        let Some(t) = template else {
            return false;
        };
        let tags = t["resourceTags"].as_array().is_some_and(|a| !a.is_empty());
        let kms = t["encryptionConfiguration"]["encryptionType"]
            .as_str()
            .is_some_and(|e| e.starts_with("KMS"));
        (tags || kms) && t["customRoleArn"].as_str().is_none()
    }

    fn rule_json(r: &CacheRule, registry: &str, with_updated: bool) -> Value {
        obj(vec![
            ("ecrRepositoryPrefix", json!(r.prefix)),
            ("upstreamRegistryUrl", json!(r.upstream_registry_url)),
            ("createdAt", json!(r.created_at)),
            (
                "updatedAt",
                if with_updated {
                    json!(r.updated_at)
                } else {
                    Value::Null
                },
            ),
            ("registryId", json!(registry)),
            ("upstreamRegistry", json!(r.upstream_registry)),
            ("credentialArn", json!(r.credential_arn)),
            ("customRoleArn", json!(r.custom_role_arn)),
            (
                "upstreamRepositoryPrefix",
                json!(r.upstream_repository_prefix),
            ),
        ])
    }

    fn repo_json(r: &Repository, registry: &str) -> Value {
        json!({
            "repositoryArn": r.arn,
            "registryId": registry,
            "repositoryName": r.name,
            "repositoryUri": r.uri,
            "createdAt": r.created_at,
            "imageTagMutability": r.image_tag_mutability,
            "imageScanningConfiguration": {"scanOnPush": r.scan_on_push},
            "encryptionConfiguration": {"encryptionType": "AES256"},
        })
    }

    /// The repository `resourceArn` names (TagResource,
    /// ListTagsForResource): InvalidParameterException for an ARN that is
    /// not an ECR repository's, RepositoryNotFoundException for one that
    /// does not exist.
    fn repository_by_arn(&mut self, body: &Value, registry: &str) -> AwsResult<&mut Repository> {
        let arn = str_field(body, "resourceArn").unwrap_or("");
        let name = arn
            .split_once(":repository/")
            .filter(|(head, _)| head.starts_with("arn:aws:ecr:"))
            .map(|(_, name)| name.to_string())
            .ok_or_else(|| {
                AwsError::client(
                    "InvalidParameterException",
                    format!("Invalid parameter at 'resourceArn' failed to satisfy constraint: '{arn}' is not a valid Amazon ECR repository ARN"),
                )
            })?;
        self.repositories
            .get_mut(&name)
            .filter(|r| r.arn == arn)
            .ok_or_else(|| {
                AwsError::client(
                    "RepositoryNotFoundException",
                    format!("The repository with name '{name}' does not exist in the registry with id '{registry}'"),
                )
            })
    }

    fn check_credential(secrets: &SecretsState, arn: Option<&str>) -> AwsResult<()> {
        if let Some(arn) = arn {
            if !secrets.resolves(arn) {
                return Err(AwsError::client(
                    "SecretNotFoundException",
                    format!("The specified secret '{arn}' could not be found"),
                ));
            }
        }
        Ok(())
    }

    pub fn handle(
        &mut self,
        ctx: &Ctx,
        op: &str,
        body: &Value,
        secrets: &SecretsState,
    ) -> AwsResult<Value> {
        let registry = str_field(body, "registryId")
            .unwrap_or(&ctx.account_id)
            .to_string();
        let prefix_field = || {
            str_field(body, "ecrRepositoryPrefix").ok_or_else(|| {
                AwsError::client(
                    "InvalidParameterException",
                    "ecrRepositoryPrefix must be specified.",
                )
            })
        };
        match op {
            "CreatePullThroughCacheRule" => {
                let prefix = prefix_field()?;
                if prefix.len() < 2 || prefix.len() > 30 {
                    return Err(AwsError::client(
                        "InvalidParameterException",
                        "Invalid parameter at 'ecrRepositoryPrefix' failed to satisfy constraint: 'must have length between 2 and 30'",
                    ));
                }
                if self.cache_rules.contains_key(prefix) {
                    return Err(AwsError::client(
                        "PullThroughCacheRuleAlreadyExistsException",
                        format!("A pull-through cache rule with the prefix '{prefix}' already exists in the registry with id '{registry}'"),
                    ));
                }
                let url = str_field(body, "upstreamRegistryUrl").unwrap_or("");
                let (kind, needs_credential) = upstream(url).ok_or_else(|| {
                    AwsError::client(
                        "UnsupportedUpstreamRegistryException",
                        format!("The upstream registry URL '{url}' is not supported for pull through cache rules"),
                    )
                })?;
                let credential = str_field(body, "credentialArn");
                if needs_credential && credential.is_none() {
                    return Err(AwsError::client(
                        "InvalidParameterException",
                        format!("A credentialArn is required for upstream registry '{url}'"),
                    ));
                }
                if credential.is_some_and(|c| !c.contains(":secret:ecr-pullthroughcache/")) {
                    return Err(AwsError::client(
                        "InvalidParameterException",
                        "The secret name must begin with the 'ecr-pullthroughcache/' prefix",
                    ));
                }
                Self::check_credential(secrets, credential)?;
                let role = str_field(body, "customRoleArn");
                if kind == "ecr" && role.is_none() {
                    return Err(AwsError::client(
                        "InvalidParameterException",
                        "A customRoleArn is required when the upstream registry is Amazon ECR",
                    ));
                }
                let rule = CacheRule {
                    prefix: prefix.to_string(),
                    upstream_registry_url: url.to_string(),
                    upstream_registry: Some(
                        str_field(body, "upstreamRegistry")
                            .unwrap_or(kind)
                            .to_string(),
                    ),
                    credential_arn: credential.map(str::to_string),
                    custom_role_arn: role.map(str::to_string),
                    upstream_repository_prefix: str_field(body, "upstreamRepositoryPrefix")
                        .map(str::to_string),
                    created_at: ctx.now,
                    updated_at: ctx.now,
                };
                let out = Self::rule_json(&rule, &registry, false);
                self.cache_rules.insert(prefix.to_string(), rule);
                Ok(out)
            }
            "DescribePullThroughCacheRules" => {
                let prefixes = str_list(body, "ecrRepositoryPrefixes");
                let mut rules = vec![];
                if prefixes.is_empty() {
                    rules.extend(self.cache_rules.values());
                } else {
                    for p in &prefixes {
                        rules.push(
                            self.cache_rules
                                .get(p)
                                .ok_or_else(|| rule_not_found(p, &registry))?,
                        );
                    }
                }
                let all: Vec<Value> = rules
                    .iter()
                    .map(|r| Self::rule_json(r, &registry, true))
                    .collect();
                let (page, next) = paginate(&all, body, 100);
                Ok(obj(vec![
                    ("pullThroughCacheRules", json!(page)),
                    ("nextToken", json!(next)),
                ]))
            }
            "UpdatePullThroughCacheRule" => {
                let prefix = prefix_field()?;
                let credential = str_field(body, "credentialArn");
                Self::check_credential(secrets, credential)?;
                let r = self
                    .cache_rules
                    .get_mut(prefix)
                    .ok_or_else(|| rule_not_found(prefix, &registry))?;
                if let Some(c) = credential {
                    r.credential_arn = Some(c.to_string());
                }
                if let Some(role) = str_field(body, "customRoleArn") {
                    r.custom_role_arn = Some(role.to_string());
                }
                r.updated_at = ctx.now;
                Ok(obj(vec![
                    ("ecrRepositoryPrefix", json!(r.prefix)),
                    ("registryId", json!(registry)),
                    ("updatedAt", json!(r.updated_at)),
                    ("credentialArn", json!(r.credential_arn)),
                    ("customRoleArn", json!(r.custom_role_arn)),
                    (
                        "upstreamRepositoryPrefix",
                        json!(r.upstream_repository_prefix),
                    ),
                ]))
            }
            "DeletePullThroughCacheRule" => {
                let prefix = prefix_field()?;
                let r = self
                    .cache_rules
                    .remove(prefix)
                    .ok_or_else(|| rule_not_found(prefix, &registry))?;
                Ok(Self::rule_json(&r, &registry, false))
            }
            "ValidatePullThroughCacheRule" => {
                let prefix = prefix_field()?;
                let r = self
                    .cache_rules
                    .get(prefix)
                    .ok_or_else(|| rule_not_found(prefix, &registry))?;
                let failure = match &r.credential_arn {
                    Some(c) if !secrets.resolves(c) => Some(format!(
                        "Unable to retrieve the secret '{c}' for the upstream registry credentials"
                    )),
                    _ => None,
                };
                Ok(obj(vec![
                    ("ecrRepositoryPrefix", json!(r.prefix)),
                    ("registryId", json!(registry)),
                    ("upstreamRegistryUrl", json!(r.upstream_registry_url)),
                    ("credentialArn", json!(r.credential_arn)),
                    ("customRoleArn", json!(r.custom_role_arn)),
                    (
                        "upstreamRepositoryPrefix",
                        json!(r.upstream_repository_prefix),
                    ),
                    ("isValid", json!(failure.is_none())),
                    ("failure", json!(failure)),
                ]))
            }
            "CreateRepositoryCreationTemplate" => {
                let prefix = str_field(body, "prefix").ok_or_else(|| {
                    AwsError::client("InvalidParameterException", "prefix must be specified.")
                })?;
                if self.creation_templates.contains_key(prefix) {
                    return Err(AwsError::client(
                        "TemplateAlreadyExistsException",
                        format!("A repository creation template with the prefix '{prefix}' already exists"),
                    ));
                }
                let mut t = body.clone();
                if let Some(o) = t.as_object_mut() {
                    o.remove("registryId");
                    o.insert("createdAt".into(), json!(ctx.now));
                    o.insert("updatedAt".into(), json!(ctx.now));
                }
                self.creation_templates
                    .insert(prefix.to_string(), t.clone());
                Ok(json!({"registryId": registry, "repositoryCreationTemplate": t}))
            }
            "DeleteRepositoryCreationTemplate" => {
                let prefix = str_field(body, "prefix").unwrap_or("");
                let t = self.creation_templates.remove(prefix).ok_or_else(|| {
                    AwsError::client(
                        "TemplateNotFoundException",
                        format!("The repository creation template with the prefix '{prefix}' does not exist"),
                    )
                })?;
                Ok(json!({"registryId": registry, "repositoryCreationTemplate": t}))
            }
            "DescribeRepositoryCreationTemplates" => {
                let prefixes = str_list(body, "prefixes");
                let mut out = vec![];
                for (p, t) in &self.creation_templates {
                    if prefixes.is_empty() || prefixes.contains(p) {
                        out.push(t.clone());
                    }
                }
                let (page, next) = paginate(&out, body, 100);
                Ok(obj(vec![
                    ("registryId", json!(registry)),
                    ("repositoryCreationTemplates", json!(page)),
                    ("nextToken", json!(next)),
                ]))
            }
            "CreateRepository" => {
                let name = str_field(body, "repositoryName").ok_or_else(|| {
                    AwsError::client(
                        "InvalidParameterException",
                        "repositoryName must be specified.",
                    )
                })?;
                if self.repositories.contains_key(name) {
                    return Err(AwsError::client(
                        "RepositoryAlreadyExistsException",
                        format!("The repository with name '{name}' already exists in the registry with id '{registry}'"),
                    ));
                }
                let tags = body
                    .get("tags")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let mutability = str_field(body, "imageTagMutability")
                    .unwrap_or("MUTABLE")
                    .to_string();
                let scan = body
                    .pointer("/imageScanningConfiguration/scanOnPush")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                self.create_repository(ctx, name, false, tags);
                let r = self
                    .repositories
                    .get_mut(name)
                    .ok_or_else(|| AwsError::new(500, "ServerException", "lost repository"))?;
                r.image_tag_mutability = mutability;
                r.scan_on_push = scan;
                Ok(json!({"repository": Self::repo_json(r, &registry)}))
            }
            "DescribeRepositories" => {
                let names = str_list(body, "repositoryNames");
                let mut out = vec![];
                if names.is_empty() {
                    out.extend(
                        self.repositories
                            .values()
                            .map(|r| Self::repo_json(r, &registry)),
                    );
                } else {
                    for n in &names {
                        let r = self.repositories.get(n).ok_or_else(|| {
                            AwsError::client(
                                "RepositoryNotFoundException",
                                format!("The repository with name '{n}' does not exist in the registry with id '{registry}'"),
                            )
                        })?;
                        out.push(Self::repo_json(r, &registry));
                    }
                }
                let (page, next) = paginate(&out, body, 100);
                Ok(obj(vec![
                    ("repositories", json!(page)),
                    ("nextToken", json!(next)),
                ]))
            }
            "DeleteRepository" => {
                let name = str_field(body, "repositoryName").unwrap_or("");
                let r = self.repositories.remove(name).ok_or_else(|| {
                    AwsError::client(
                        "RepositoryNotFoundException",
                        format!("The repository with name '{name}' does not exist in the registry with id '{registry}'"),
                    )
                })?;
                Ok(json!({"repository": Self::repo_json(&r, &registry)}))
            }
            // https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_TagResource.html:
            // "Existing tags on a resource are not changed if they are not
            // specified"; "the only supported resource is an Amazon ECR
            // repository"; an empty body answers success; over 50 tags on
            // the repository is TooManyTagsException.
            "TagResource" => {
                let r = self.repository_by_arn(body, &registry)?;
                let new = body
                    .get("tags")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let mut tags = r.tags.clone();
                for t in new {
                    tags.retain(|old| old["Key"] != t["Key"]);
                    tags.push(t);
                }
                if tags.len() > 50 {
                    return Err(AwsError::client(
                        "TooManyTagsException",
                        "The list of tags on the repository is over the limit. The maximum number of tags that can be applied to a repository is 50.",
                    ));
                }
                r.tags = tags;
                Ok(json!({}))
            }
            // https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ListTagsForResource.html:
            // the tags of the repository named by resourceArn.
            "ListTagsForResource" => {
                let r = self.repository_by_arn(body, &registry)?;
                Ok(json!({"tags": r.tags}))
            }
            "GetAuthorizationToken" => Ok(json!({"authorizationData": [{
                "authorizationToken": "QVdTOmF3c2lt",
                "expiresAt": ctx.now + 43200.0,
                "proxyEndpoint": format!("https://{}.dkr.ecr.{}.amazonaws.com", ctx.account_id, ctx.region),
            }]})),
            _ => Err(AwsError::client(
                "UnknownOperationException",
                format!("awsim does not implement ECR {op}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_private_images() {
        let p =
            parse_private("000000000000.dkr.ecr.us-east-1.amazonaws.com/hub/library/nginx:1.27")
                .unwrap();
        assert_eq!(
            (p.account, p.region, p.repository),
            ("000000000000", "us-east-1", "hub/library/nginx")
        );
        let p = parse_private("1.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:abc").unwrap();
        assert_eq!(p.repository, "app");
        assert!(parse_private("nginx:1.27").is_none());
        assert!(parse_private("docker.io/library/nginx").is_none());
    }

    fn state_with_rule(prefix: &str) -> (EcrState, Ctx) {
        let ctx = Ctx {
            account_id: "000000000000".into(),
            region: "us-east-1".into(),
            now: 1.0,
        };
        let mut s = EcrState::default();
        s.cache_rules.insert(
            prefix.into(),
            CacheRule {
                prefix: prefix.into(),
                upstream_registry_url: "registry-1.docker.io".into(),
                upstream_registry: Some("docker-hub".into()),
                credential_arn: None,
                custom_role_arn: None,
                upstream_repository_prefix: None,
                created_at: 0.0,
                updated_at: 0.0,
            },
        );
        (s, ctx)
    }

    fn image(ctx: &Ctx, repo: &str) -> String {
        format!(
            "{}.dkr.ecr.{}.amazonaws.com/{repo}",
            ctx.account_id, ctx.region
        )
    }

    #[test]
    fn the_cache_creates_repositories_under_its_prefix_only() {
        let (mut s, ctx) = state_with_rule("docker-hub");
        s.resolve_pull(&ctx, &image(&ctx, "docker-hub/library/nginx:1.27"))
            .unwrap();
        assert!(s.repositories["docker-hub/library/nginx"].from_cache_rule);
        // A new tag is fetched into the cache's repository.
        s.resolve_pull(&ctx, &image(&ctx, "docker-hub/library/nginx:1.28"))
            .unwrap();
        assert!(s
            .resolve_pull(&ctx, &image(&ctx, "quay/x/y:1"))
            .unwrap_err()
            .contains("not found"));
    }

    #[test]
    fn per_repository_rules_do_not_serve_their_own_repository() {
        let (mut s, ctx) = state_with_rule("docker-hub/tonys-chips/api");
        assert!(s
            .resolve_pull(&ctx, &image(&ctx, "docker-hub/tonys-chips/api:v1"))
            .is_err());
    }

    #[test]
    fn hand_made_repositories_only_hold_what_was_pushed() {
        let (mut s, ctx) = state_with_rule("docker-hub");
        s.create_repository(&ctx, "docker-hub/tonys-chips/web", false, vec![]);
        assert!(s
            .resolve_pull(&ctx, &image(&ctx, "docker-hub/tonys-chips/web:v1"))
            .unwrap_err()
            .contains("not found"));
    }

    #[test]
    fn a_template_with_tags_and_no_role_blocks_the_cache() {
        let (mut s, ctx) = state_with_rule("docker-hub");
        s.creation_templates.insert(
            "docker-hub".into(),
            json!({"prefix": "docker-hub", "appliedFor": ["PULL_THROUGH_CACHE"],
                   "resourceTags": [{"Key": "team", "Value": "chips"}]}),
        );
        assert!(s
            .resolve_pull(&ctx, &image(&ctx, "docker-hub/library/nginx:1"))
            .is_err());
        s.creation_templates.get_mut("docker-hub").unwrap()["customRoleArn"] =
            json!("arn:aws:iam::000000000000:role/ecr-templates");
        s.resolve_pull(&ctx, &image(&ctx, "docker-hub/library/nginx:1"))
            .unwrap();
    }

    #[test]
    fn a_template_not_applied_for_the_cache_does_not_block_it() {
        let (mut s, ctx) = state_with_rule("docker-hub");
        // A longer prefix, but for replication only: the cache's template
        // is the PULL_THROUGH_CACHE one, which needs no role.
        s.creation_templates.insert(
            "docker-hub/library".into(),
            json!({"prefix": "docker-hub/library", "appliedFor": ["REPLICATION"],
                   "resourceTags": [{"Key": "team", "Value": "chips"}]}),
        );
        s.creation_templates.insert(
            "docker-hub".into(),
            json!({"prefix": "docker-hub", "appliedFor": ["PULL_THROUGH_CACHE"]}),
        );
        s.resolve_pull(&ctx, &image(&ctx, "docker-hub/library/nginx:1"))
            .unwrap();
    }

    #[test]
    fn tag_resource_merges_tags_of_an_existing_repository() {
        let (mut s, ctx) = state_with_rule("docker-hub");
        let secrets = SecretsState::default();
        s.create_repository(&ctx, "docker-hub/app", true, vec![]);
        let arn = s.repositories["docker-hub/app"].arn.clone();
        let tag = |k: &str, v: &str| json!({"resourceArn": arn, "tags": [{"Key": k, "Value": v}]});
        s.handle(&ctx, "TagResource", &tag("a", "1"), &secrets)
            .unwrap();
        s.handle(&ctx, "TagResource", &tag("b", "2"), &secrets)
            .unwrap();
        s.handle(&ctx, "TagResource", &tag("a", "3"), &secrets)
            .unwrap();
        let out = s
            .handle(
                &ctx,
                "ListTagsForResource",
                &json!({"resourceArn": arn}),
                &secrets,
            )
            .unwrap();
        assert_eq!(
            out["tags"],
            json!([{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "3"}])
        );
        let missing = arn.replace("docker-hub/app", "docker-hub/gone");
        let err = s
            .handle(
                &ctx,
                "ListTagsForResource",
                &json!({"resourceArn": missing}),
                &secrets,
            )
            .unwrap_err();
        assert_eq!(err.code, "RepositoryNotFoundException");
        let err = s
            .handle(
                &ctx,
                "TagResource",
                &json!({"resourceArn": "arn:aws:ecs:us-east-1:000000000000:cluster/x", "tags": []}),
                &secrets,
            )
            .unwrap_err();
        assert_eq!(err.code, "InvalidParameterException");
        for i in 0..48 {
            s.handle(&ctx, "TagResource", &tag(&format!("k{i}"), "v"), &secrets)
                .unwrap();
        }
        let err = s
            .handle(&ctx, "TagResource", &tag("one-too-many", "v"), &secrets)
            .unwrap_err();
        assert_eq!(err.code, "TooManyTagsException");
    }

    #[test]
    fn seeded_repositories_hold_every_tag() {
        let (mut s, ctx) = state_with_rule("docker-hub");
        s.ensure_repository(&ctx, "app");
        s.resolve_pull(&ctx, &image(&ctx, "app:v9")).unwrap();
    }
}
