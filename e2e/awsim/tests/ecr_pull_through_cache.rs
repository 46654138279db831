//! ECR pull-through cache rules through the real aws-sdk-ecr client, and
//! their effect on ECS image pulls.

mod common;

use std::time::Duration;

use aws_sdk_ecr::error::ProvideErrorMetadata;
use aws_sdk_ecr::types::UpstreamRegistry;
use aws_sdk_ecs::types::{
    AwsVpcConfiguration, Compatibility, ContainerDefinition, LaunchType, NetworkConfiguration,
    NetworkMode, Task,
};
use common::{ecr, ecs, secrets, start_fast, wait_for};

const IMAGE: &str = "000000000000.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27";

async fn run_to_stop(ecs: &aws_sdk_ecs::Client, td: &str) -> Task {
    let arn = ecs
        .run_task()
        .cluster("default")
        .task_definition(td)
        .launch_type(LaunchType::Fargate)
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(
                    AwsVpcConfiguration::builder()
                        .subnets("subnet-a")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .tasks()[0]
        .task_arn()
        .unwrap()
        .to_string();
    wait_for("task STOPPED", Duration::from_secs(10), || async {
        let out = ecs
            .describe_tasks()
            .cluster("default")
            .tasks(&arn)
            .send()
            .await
            .unwrap();
        out.tasks()
            .first()
            .filter(|t| t.last_status() == Some("STOPPED"))
            .cloned()
    })
    .await
}

#[tokio::test]
async fn cache_rule_makes_private_pull_succeed() {
    let h = start_fast().await;
    let ecs = ecs(&h);
    let ecr = ecr(&h);
    ecs.create_cluster().send().await.unwrap();
    let td = ecs
        .register_task_definition()
        .family("cached")
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .execution_role_arn("arn:aws:iam::000000000000:role/exec")
        .container_definitions(
            ContainerDefinition::builder()
                .name("web")
                .image(IMAGE)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap();

    let t = run_to_stop(&ecs, &td).await;
    assert!(t
        .stopped_reason()
        .unwrap()
        .starts_with("CannotPullContainerError:"));

    // Docker Hub needs a credential in a secret named ecr-pullthroughcache/...
    let err = ecr
        .create_pull_through_cache_rule()
        .ecr_repository_prefix("docker-hub")
        .upstream_registry_url("registry-1.docker.io")
        .upstream_registry(UpstreamRegistry::DockerHub)
        .credential_arn(
            "arn:aws:secretsmanager:us-east-1:000000000000:secret:ecr-pullthroughcache/hub-AbCdEf",
        )
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_secret_not_found_exception(),
        "{err:?}"
    );
    let cred = secrets(&h)
        .create_secret()
        .name("ecr-pullthroughcache/hub")
        .secret_string("{\"username\":\"u\",\"accessToken\":\"t\"}")
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let rule = ecr
        .create_pull_through_cache_rule()
        .ecr_repository_prefix("docker-hub")
        .upstream_registry_url("registry-1.docker.io")
        .upstream_registry(UpstreamRegistry::DockerHub)
        .credential_arn(&cred)
        .send()
        .await
        .unwrap();
    assert_eq!(rule.registry_id(), Some("000000000000"));
    assert_eq!(rule.upstream_registry(), Some(&UpstreamRegistry::DockerHub));

    let err = ecr
        .create_pull_through_cache_rule()
        .ecr_repository_prefix("docker-hub")
        .upstream_registry_url("registry-1.docker.io")
        .credential_arn(&cred)
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .unwrap()
        .is_pull_through_cache_rule_already_exists_exception());
    let err = ecr
        .create_pull_through_cache_rule()
        .ecr_repository_prefix("other")
        .upstream_registry_url("registry.example.com")
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .unwrap()
        .is_unsupported_upstream_registry_exception());

    let valid = ecr
        .validate_pull_through_cache_rule()
        .ecr_repository_prefix("docker-hub")
        .send()
        .await
        .unwrap();
    assert!(valid.is_valid());

    let t = run_to_stop(&ecs, &td).await;
    assert_eq!(
        t.stop_code().map(|c| c.as_str()),
        Some("EssentialContainerExited")
    );
    assert_eq!(t.containers()[0].exit_code(), Some(0));

    // ECR created the repository on the first pull, as AWS does.
    let repos = ecr
        .describe_repositories()
        .repository_names("docker-hub/library/nginx")
        .send()
        .await
        .unwrap();
    assert_eq!(
        repos.repositories()[0].repository_uri(),
        Some("000000000000.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx")
    );

    let rules = ecr
        .describe_pull_through_cache_rules()
        .send()
        .await
        .unwrap();
    assert_eq!(rules.pull_through_cache_rules().len(), 1);
    let err = ecr
        .describe_pull_through_cache_rules()
        .ecr_repository_prefixes("nope")
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .unwrap()
        .is_pull_through_cache_rule_not_found_exception());
    assert_eq!(err.code(), Some("PullThroughCacheRuleNotFoundException"));

    ecr.update_pull_through_cache_rule()
        .ecr_repository_prefix("docker-hub")
        .credential_arn(&cred)
        .send()
        .await
        .unwrap();
    ecr.delete_pull_through_cache_rule()
        .ecr_repository_prefix("docker-hub")
        .send()
        .await
        .unwrap();
    let err = ecr
        .describe_repositories()
        .repository_names("missing")
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .unwrap()
        .is_repository_not_found_exception());
    let templates = ecr
        .describe_repository_creation_templates()
        .send()
        .await
        .unwrap();
    assert!(templates.repository_creation_templates().is_empty());
}
