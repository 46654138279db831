//! `PullThroughCache`: an ECR pull-through cache rule.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::DeletionPolicy;
use super::validation::{is_arn_of, Errors, InvalidSpec};

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "berth.dev",
    version = "v1alpha1",
    kind = "PullThroughCache",
    namespaced,
    status = "PullThroughCacheStatus",
    shortname = "ptc",
    category = "berth",
    doc = "An Amazon ECR pull-through cache rule",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Prefix",
        type_ = "string",
        json_path = ".spec.ecrRepositoryPrefix"
    ),
    printcolumn(
        name = "Upstream",
        type_ = "string",
        json_path = ".spec.upstreamRegistry"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!(self.upstreamRegistry in ['docker-hub', 'github-container-registry', 'gitlab-container-registry', 'azure-container-registry']) || has(self.credentialArn)",
        "message": "credentialArn is required for this upstream registry",
        "fieldPath": ".credentialArn"
    },
    {
        "rule": "self.upstreamRegistry != 'ecr' || has(self.customRoleArn)",
        "message": "customRoleArn is required for upstream ecr",
        "fieldPath": ".customRoleArn"
    },
    {
        "rule": "!(self.upstreamRegistry in ['ecr', 'azure-container-registry']) || has(self.upstreamRegistryUrl)",
        "message": "upstreamRegistryUrl is required for this upstream registry",
        "fieldPath": ".upstreamRegistryUrl"
    }
]))]
pub struct PullThroughCacheSpec {
    /// Repository prefix in your registry (`docker-hub` caches
    /// `ACCOUNT.dkr.ecr.REGION.amazonaws.com/docker-hub/library/nginx`), or `ROOT`.
    #[schemars(
        regex(
            pattern = r"^((?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*|ROOT)$"
        ),
        length(min = 2, max = 30)
    )]
    pub ecr_repository_prefix: String,
    pub upstream_registry: UpstreamRegistry,
    /// Defaults to the registry's public URL (registry-1.docker.io, quay.io,
    /// ghcr.io, registry.gitlab.com, registry.k8s.io, public.ecr.aws);
    /// required for `ecr` and `azure-container-registry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9.-]+(:[0-9]+)?$"))]
    pub upstream_registry_url: Option<String>,
    /// Only cache upstream repositories under this prefix (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 30))]
    pub upstream_repository_prefix: Option<String>,
    /// Secrets Manager secret (name prefixed `ecr-pullthroughcache/`) with the
    /// upstream credentials. Required for docker-hub, GitHub, GitLab and Azure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:ecr-pullthroughcache/.+$"
    ))]
    pub credential_arn: Option<String>,
    /// IAM role ECR assumes to pull from an upstream ECR registry (required for `ecr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"))]
    pub custom_role_arn: Option<String>,
    /// The registry (account id) to create the rule in; default the caller's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{12}$"))]
    pub registry_id: Option<String>,
    /// Take over an existing rule for this prefix that berth did not create
    /// (ECR rules carry no tags, so nothing else can mark it as berth's), or
    /// one whose owning PullThroughCache was deleted with deletionPolicy
    /// Retain. Never a prefix another existing PullThroughCache (in any
    /// namespace) owns: that is `Conflict`.
    #[serde(default)]
    pub adopt: bool,
    /// Delete the rule and create it again when a field ECR cannot update in
    /// place changes (ecrRepositoryPrefix, upstreamRegistry,
    /// upstreamRegistryUrl, upstreamRepositoryPrefix). Pulls of images the
    /// cache does not hold yet fail until the new rule exists. Default
    /// false: such a change is refused with Degraded/ImmutableFieldChanged.
    #[serde(default)]
    pub replace_on_immutable_change: bool,
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UpstreamRegistry {
    Ecr,
    EcrPublic,
    DockerHub,
    Quay,
    GithubContainerRegistry,
    GitlabContainerRegistry,
    AzureContainerRegistry,
    K8s,
}

impl UpstreamRegistry {
    /// The value of ECR's `upstreamRegistry` field.
    pub fn as_aws(self) -> &'static str {
        match self {
            UpstreamRegistry::Ecr => "ecr",
            UpstreamRegistry::EcrPublic => "ecr-public",
            UpstreamRegistry::DockerHub => "docker-hub",
            UpstreamRegistry::Quay => "quay",
            UpstreamRegistry::GithubContainerRegistry => "github-container-registry",
            UpstreamRegistry::GitlabContainerRegistry => "gitlab-container-registry",
            UpstreamRegistry::AzureContainerRegistry => "azure-container-registry",
            UpstreamRegistry::K8s => "k8s",
        }
    }

    /// The upstream URL when the user gives none.
    pub fn default_url(self) -> Option<&'static str> {
        match self {
            UpstreamRegistry::EcrPublic => Some("public.ecr.aws"),
            UpstreamRegistry::DockerHub => Some("registry-1.docker.io"),
            UpstreamRegistry::Quay => Some("quay.io"),
            UpstreamRegistry::GithubContainerRegistry => Some("ghcr.io"),
            UpstreamRegistry::GitlabContainerRegistry => Some("registry.gitlab.com"),
            UpstreamRegistry::K8s => Some("registry.k8s.io"),
            UpstreamRegistry::Ecr | UpstreamRegistry::AzureContainerRegistry => None,
        }
    }

    /// AWS refuses these upstreams without a Secrets Manager credential.
    pub fn needs_credential(self) -> bool {
        matches!(
            self,
            UpstreamRegistry::DockerHub
                | UpstreamRegistry::GithubContainerRegistry
                | UpstreamRegistry::GitlabContainerRegistry
                | UpstreamRegistry::AzureContainerRegistry
        )
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullThroughCacheStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_id: Option<String>,
    /// The prefix of the rule berth created (or found it had created after
    /// a lost response): the rule this object owns and deletes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecr_repository_prefix: Option<String>,
    /// When the first rule this object created or took over for
    /// ecrRepositoryPrefix was created (RFC 3339), kept when the rule is
    /// deleted and created again: repositories under the prefix created
    /// since then count as the cache's, older ones as made by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_rule_created_at: Option<String>,
    /// ValidatePullThroughCacheRule's verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_failure: Option<String>,
    /// Other rules or repository creation templates whose prefix overlaps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
    /// Repositories under the prefix the cache did not create (older than
    /// the first rule berth knows for the prefix and without berth's
    /// record tag): ECR does not fetch into them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmanaged_repositories: Vec<String>,
    /// The creation time (RFC 3339) of the newest repository berth tagged
    /// `berth.dev/pull-through-cache` as the cache's: newer ones are
    /// tagged on the next reconcile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repositories_recorded_until: Option<String>,
}

/// Whether repository `name` lies under prefix `prefix` (ECR matches a
/// rule's or template's prefix followed by `/`; `ROOT` covers every
/// repository).
pub fn covers(prefix: &str, name: &str) -> bool {
    prefix == "ROOT" || name.starts_with(&format!("{prefix}/"))
}

/// Whether a warning of the cache for `prefix` (a `status.conflicts` entry
/// `rule/X` or `template/T`, or `repository/R` for an unmanaged
/// repository) makes pulls of `repository`, which the rule serves, fail: a
/// narrower rule takes the repositories it names or covers away from the
/// prefix rule, a template shapes every repository the cache creates under
/// it, and ECR does not fetch into a repository it did not create.
pub fn affects(warning: &str, prefix: &str, repository: &str) -> bool {
    match warning.split_once('/') {
        Some(("rule", x)) => {
            repository == x || (covers(x, repository) && x != prefix && covers(prefix, x))
        }
        Some(("template", t)) => covers(t, repository),
        Some(("repository", r)) => repository == r,
        _ => false,
    }
}

impl PullThroughCacheStatus {
    /// Every warning of this status (see [`affects`]).
    pub fn warnings(&self) -> impl Iterator<Item = String> + '_ {
        self.conflicts.iter().cloned().chain(
            self.unmanaged_repositories
                .iter()
                .map(|r| format!("repository/{r}")),
        )
    }

    /// The warnings that make pulls of `repository` fail.
    pub fn affecting(&self, repository: &str) -> Vec<String> {
        let prefix = self.ecr_repository_prefix.as_deref().unwrap_or_default();
        self.warnings()
            .filter(|w| affects(w, prefix, repository))
            .collect()
    }
}

impl PullThroughCacheSpec {
    pub fn validate(&self) -> Result<(), InvalidSpec> {
        let mut e = Errors::default();
        let prefix = &self.ecr_repository_prefix;
        e.check(
            prefix == "ROOT"
                || ((2..=30).contains(&prefix.len())
                    && prefix.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b)
                    })
                    && !prefix.starts_with(['.', '_', '-', '/'])
                    && !prefix.ends_with(['.', '_', '-', '/'])),
            "spec.ecrRepositoryPrefix",
            "must be 2-30 lowercase letters, digits, and . _ - / separators, or ROOT",
        );
        let upstream = self.upstream_registry;
        if upstream.needs_credential() {
            e.check(
                self.credential_arn.is_some(),
                "spec.credentialArn",
                format!(
                    "required for upstreamRegistry {}: a Secrets Manager secret named ecr-pullthroughcache/…",
                    upstream.as_aws()
                ),
            );
        }
        if let Some(arn) = &self.credential_arn {
            e.check(
                is_arn_of(arn, "secretsmanager") && arn.contains(":secret:ecr-pullthroughcache/"),
                "spec.credentialArn",
                "must be the ARN of a Secrets Manager secret whose name starts with ecr-pullthroughcache/",
            );
        }
        match upstream {
            UpstreamRegistry::Ecr => e.check(
                self.custom_role_arn.is_some(),
                "spec.customRoleArn",
                "required for upstreamRegistry ecr",
            ),
            _ => e.check(
                self.custom_role_arn.is_none(),
                "spec.customRoleArn",
                "only valid for upstreamRegistry ecr",
            ),
        }
        if upstream.default_url().is_none() {
            e.check(
                self.upstream_registry_url.is_some(),
                "spec.upstreamRegistryUrl",
                format!("required for upstreamRegistry {}", upstream.as_aws()),
            );
        }
        if let (UpstreamRegistry::Ecr, Some(url)) = (upstream, &self.upstream_registry_url) {
            e.check(
                url.contains(".dkr.ecr.") && url.ends_with(".amazonaws.com"),
                "spec.upstreamRegistryUrl",
                "must be an ECR registry, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com",
            );
        }
        if self.upstream_repository_prefix.is_some() {
            e.check(
                prefix != "ROOT",
                "spec.upstreamRepositoryPrefix",
                "cannot be combined with ecrRepositoryPrefix ROOT",
            );
        }
        e.finish()
    }

    /// The upstream URL berth sends to ECR.
    pub fn upstream_url(&self) -> Option<String> {
        self.upstream_registry_url
            .clone()
            .or_else(|| self.upstream_registry.default_url().map(str::to_string))
    }
}

#[cfg(test)]
mod tests {
    use super::affects;

    #[test]
    fn a_warning_affects_the_repositories_it_names_or_covers() {
        let cases = [
            // A per-repository rule under the prefix: its repository and
            // those under it, not its siblings.
            ("rule/docker-hub/team/api", "docker-hub/team/api", true),
            ("rule/docker-hub/team/api", "docker-hub/team/api/x", true),
            ("rule/docker-hub/team/api", "docker-hub/team/web", false),
            // A wider rule does not take the prefix's repositories away.
            ("rule/ROOT", "docker-hub/team/api", false),
            ("template/docker-hub", "docker-hub/team/api", true),
            (
                "template/docker-hub/team",
                "docker-hub/library/nginx",
                false,
            ),
            ("template/ROOT", "docker-hub/library/nginx", true),
            (
                "repository/docker-hub/team/web",
                "docker-hub/team/web",
                true,
            ),
            (
                "repository/docker-hub/team/web",
                "docker-hub/team/api",
                false,
            ),
            ("nonsense", "docker-hub/team/api", false),
        ];
        for (warning, repository, want) in cases {
            assert_eq!(
                affects(warning, "docker-hub", repository),
                want,
                "{warning} {repository}"
            );
        }
    }
}
