//! ECR as a team leaves it by hand, for the PullThroughCache tests: rules
//! and repository creation templates berth did not make.

use crate::Env;

/// The Docker Hub credential secret the example caches name.
pub const CRED: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/docker-hub-AbCdEf";

pub async fn ecr(env: &Env) -> aws_sdk_ecr::Client {
    aws_sdk_ecr::Client::new(&env.aws().await)
}

/// A pull through cache rule for `prefix` made by hand (not by berth).
pub async fn hand_made_rule(ecr: &aws_sdk_ecr::Client, prefix: &str) {
    ecr.create_pull_through_cache_rule()
        .ecr_repository_prefix(prefix)
        .upstream_registry_url("registry-1.docker.io")
        .upstream_registry(aws_sdk_ecr::types::UpstreamRegistry::DockerHub)
        .credential_arn(CRED)
        .send()
        .await
        .unwrap();
}

/// A repository creation template for the cache's repositories with tags
/// but without a repository creation role: ECR cannot create the cache's
/// repositories.
pub async fn hand_made_template(ecr: &aws_sdk_ecr::Client) {
    ecr.create_repository_creation_template()
        .prefix("docker-hub")
        .applied_for(aws_sdk_ecr::types::RctAppliedFor::PullThroughCache)
        .resource_tags(
            aws_sdk_ecr::types::Tag::builder()
                .key("team")
                .value("tonys-chips")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// The registry's only pull through cache rule fetches from
/// `upstream_url` and is newer than repository `repository`: the rule was
/// replaced after the cache created the repository.
pub async fn assert_rule_newer_than(
    ecr: &aws_sdk_ecr::Client,
    upstream_url: &str,
    repository: &str,
) {
    let rules = ecr
        .describe_pull_through_cache_rules()
        .send()
        .await
        .unwrap();
    let rule = &rules.pull_through_cache_rules()[0];
    assert_eq!(rule.upstream_registry_url(), Some(upstream_url));
    let repos = ecr
        .describe_repositories()
        .repository_names(repository)
        .send()
        .await
        .unwrap();
    assert!(repos.repositories()[0].created_at() < rule.created_at());
}
