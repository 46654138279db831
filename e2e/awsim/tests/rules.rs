//! Request rules, idempotency and lost responses through the real SDK
//! clients: one test per rule family, each asserting AWS's error code.

mod common;

use aws_sdk_ecs::config::retry::RetryConfig;
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition, DesiredStatus,
    LaunchType, NetworkConfiguration, NetworkMode, Tag,
};
use common::{ecr, ecs, logs, sdk_config, secrets, start_fast};

const CLUSTER: &str = "prod";

async fn start() -> awsim::Handle {
    let h = start_fast().await;
    h.seed(&awsim::Seed {
        clusters: vec![CLUSTER.into()],
        ..Default::default()
    });
    h
}

/// An ECS client that surfaces the first answer (no SDK retries).
fn ecs_once(h: &awsim::Handle) -> aws_sdk_ecs::Client {
    let conf = aws_sdk_ecs::config::Builder::from(&sdk_config(h))
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_ecs::Client::from_conf(conf)
}

fn rds(h: &awsim::Handle) -> aws_sdk_rds::Client {
    let conf = aws_sdk_rds::config::Builder::from(&sdk_config(h))
        .retry_config(aws_sdk_rds::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_rds::Client::from_conf(conf)
}

fn cloudmap(h: &awsim::Handle) -> aws_sdk_servicediscovery::Client {
    aws_sdk_servicediscovery::Client::new(&sdk_config(h))
}

fn network() -> NetworkConfiguration {
    NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .subnets("subnet-a")
                .assign_public_ip(AssignPublicIp::Disabled)
                .build()
                .unwrap(),
        )
        .build()
}

async fn register(ecs: &aws_sdk_ecs::Client, family: &str) -> String {
    ecs.register_task_definition()
        .family(family)
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image("nginx")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap()
}

fn create_service(
    ecs: &aws_sdk_ecs::Client,
    name: &str,
    td: &str,
) -> aws_sdk_ecs::operation::create_service::builders::CreateServiceFluentBuilder {
    ecs.create_service()
        .cluster(CLUSTER)
        .service_name(name)
        .task_definition(td)
        .desired_count(1)
        .launch_type(LaunchType::Fargate)
        .network_configuration(network())
}

fn ecs_tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

async fn service_count(ecs: &aws_sdk_ecs::Client) -> usize {
    ecs.list_services()
        .cluster(CLUSTER)
        .send()
        .await
        .unwrap()
        .service_arns()
        .len()
}

#[tokio::test]
async fn required_members() {
    let h = start().await;
    let err = ecs(&h)
        .create_service()
        .cluster(CLUSTER)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterException"), "{err:?}");
    let err = ecs(&h).register_task_definition().send().await.unwrap_err();
    assert_eq!(err.code(), Some("ClientException"));
    assert_eq!(err.message(), Some("Family can not be blank."));

    let err = cloudmap(&h).get_service().send().await.unwrap_err();
    assert_eq!(
        aws_sdk_servicediscovery::error::ProvideErrorMetadata::code(&err),
        Some("InvalidInput")
    );
    let err = rds(&h)
        .create_db_cluster()
        .engine("aurora-postgresql")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_rds::error::ProvideErrorMetadata::code(&err),
        Some("MissingParameter")
    );
}

#[tokio::test]
async fn lengths_including_the_create_service_client_token() {
    let h = start().await;
    let ecs = ecs(&h);
    let td = register(&ecs, "web").await;
    // The token berth once sent: 42 characters, AWS allows 36.
    let long = "berth-default-web-0123456789abcdef01234567";
    assert_eq!(long.len(), 42);
    let err = create_service(&ecs, "web", &td)
        .client_token(long)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterException"), "{err:?}");
    assert_eq!(err.message(), Some("clientToken longer than 36."));
    assert_eq!(
        service_count(&ecs).await,
        0,
        "a rejected request creates nothing"
    );
    let ok = "berth-default-web-0123456789abcdef01";
    assert_eq!(ok.len(), 36);
    create_service(&ecs, "web", &td)
        .client_token(ok)
        .send()
        .await
        .unwrap();
    // Characters outside 33..=126 are not allowed either.
    let err = create_service(&ecs, "web2", &td)
        .client_token("with space")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterException"));

    // RunTask allows 64.
    let err = ecs
        .run_task()
        .cluster(CLUSTER)
        .task_definition(&td)
        .launch_type(LaunchType::Fargate)
        .network_configuration(network())
        .client_token("x".repeat(65))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterException"));

    let err = secrets(&h)
        .describe_secret()
        .secret_id("s".repeat(2049))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(&err),
        Some("ValidationException")
    );
}

#[tokio::test]
async fn patterns() {
    let h = start().await;
    let err = ecs(&h)
        .register_task_definition()
        .family("web.app")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image("nginx")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ClientException"));
    assert_eq!(err.message(), Some("Family contains invalid characters."));

    let err = logs(&h)
        .create_log_stream()
        .log_group_name("/ecs/web")
        .log_stream_name("a:b")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata::code(&err),
        Some("InvalidParameterException")
    );

    let err = ecr(&h)
        .create_pull_through_cache_rule()
        .ecr_repository_prefix("Docker-Hub")
        .upstream_registry_url("registry-1.docker.io")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_ecr::error::ProvideErrorMetadata::code(&err),
        Some("InvalidParameterException")
    );
    let err = ecr(&h)
        .create_pull_through_cache_rule()
        .ecr_repository_prefix("docker-hub")
        .upstream_registry_url("registry-1.docker.io")
        .credential_arn("arn:aws:secretsmanager:us-east-1:000000000000:secret:dockerhub-AbCdEf")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_ecr::error::ProvideErrorMetadata::code(&err),
        Some("InvalidParameterException"),
        "the credential secret must be named ecr-pullthroughcache/..."
    );

    // RDS identifiers: letters, digits, hyphens; a letter first.
    let err = rds(&h)
        .create_db_cluster()
        .db_cluster_identifier("orders_db")
        .engine("aurora-postgresql")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_rds::error::ProvideErrorMetadata::code(&err),
        Some("InvalidParameterValue")
    );
}

#[tokio::test]
async fn enums_ranges_and_list_sizes() {
    let h = start().await;
    let ecs = ecs(&h);
    let err = ecs
        .list_tasks()
        .cluster(CLUSTER)
        .desired_status(DesiredStatus::from("DONE"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterException"));

    let td = register(&ecs, "job").await;
    let err = ecs
        .run_task()
        .cluster(CLUSTER)
        .task_definition(&td)
        .count(11)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterException"));

    let mut describe = ecs.describe_services().cluster(CLUSTER);
    for i in 0..11 {
        describe = describe.services(format!("s{i}"));
    }
    let err = describe.send().await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterException"));

    let err = rds(&h)
        .describe_db_clusters()
        .max_records(10)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_rds::error::ProvideErrorMetadata::code(&err),
        Some("InvalidParameterValue")
    );
}

#[tokio::test]
async fn tags() {
    let h = start().await;
    let ecs = ecs(&h);
    let td = register(&ecs, "web").await;
    let arn = create_service(&ecs, "web", &td)
        .send()
        .await
        .unwrap()
        .service
        .unwrap()
        .service_arn
        .unwrap();

    for (k, v) in [("aws:owner", "x"), ("AWS:owner", "x"), ("owner", "aws:x")] {
        let err = ecs
            .tag_resource()
            .resource_arn(&arn)
            .tags(ecs_tag(k, v))
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("InvalidParameterException"), "{k}={v}");
    }
    let mut many = ecs.tag_resource().resource_arn(&arn);
    for i in 0..51 {
        many = many.tags(ecs_tag(&format!("k{i}"), "v"));
    }
    let err = many.send().await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterException"));
    // 50 in one request is fine; one more on top is not.
    let mut fifty = ecs.tag_resource().resource_arn(&arn);
    for i in 0..50 {
        fifty = fifty.tags(ecs_tag(&format!("k{i}"), "v"));
    }
    fifty.send().await.unwrap();
    let err = ecs
        .tag_resource()
        .resource_arn(&arn)
        .tags(ecs_tag("one-more", "v"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterException"));
    let listed = ecs
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.tags().len(), 50);

    let mut repo = ecr(&h).create_repository().repository_name("app");
    for i in 0..51 {
        repo = repo.tags(
            aws_sdk_ecr::types::Tag::builder()
                .key(format!("k{i}"))
                .value("v")
                .build()
                .unwrap(),
        );
    }
    let err = repo.send().await.unwrap_err();
    assert_eq!(
        aws_sdk_ecr::error::ProvideErrorMetadata::code(&err),
        Some("TooManyTagsException")
    );

    let err = rds(&h)
        .add_tags_to_resource()
        .resource_name("arn:aws:rds:us-east-1:000000000000:cluster:x")
        .tags(
            aws_sdk_rds::types::Tag::builder()
                .key("rds:x")
                .value("v")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_rds::error::ProvideErrorMetadata::code(&err),
        Some("InvalidParameterValue")
    );

    let err = cloudmap(&h)
        .tag_resource()
        .resource_arn("arn:aws:servicediscovery:us-east-1:000000000000:service/srv-x")
        .tags(
            aws_sdk_servicediscovery::types::Tag::builder()
                .key("aws:x")
                .value("v")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_servicediscovery::error::ProvideErrorMetadata::code(&err),
        Some("InvalidInput")
    );
}

#[tokio::test]
async fn create_service_client_token_is_idempotent() {
    let h = start().await;
    let ecs = ecs(&h);
    let td = register(&ecs, "web").await;
    let first = create_service(&ecs, "web", &td)
        .client_token("tok-1")
        .send()
        .await
        .unwrap();
    let again = create_service(&ecs, "web", &td)
        .client_token("tok-1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        first.service().unwrap().service_arn(),
        again.service().unwrap().service_arn()
    );
    assert_eq!(service_count(&ecs).await, 1);
    // Same token, different parameters.
    let err = create_service(&ecs, "web", &td)
        .client_token("tok-1")
        .desired_count(3)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterException"));
    assert_eq!(
        err.message(),
        Some("Creation of service was not idempotent.")
    );
    assert_eq!(service_count(&ecs).await, 1);
}

#[tokio::test]
async fn run_task_client_token_is_idempotent() {
    let h = start().await;
    let ecs = ecs(&h);
    let td = register(&ecs, "job").await;
    let run = |token: &str, started_by: &str| {
        ecs.run_task()
            .cluster(CLUSTER)
            .task_definition(&td)
            .launch_type(LaunchType::Fargate)
            .network_configuration(network())
            .started_by(started_by)
            .client_token(token)
            .send()
    };
    let first = run("run-1", "berth").await.unwrap();
    let again = run("run-1", "berth").await.unwrap();
    assert_eq!(
        first.tasks()[0].task_arn(),
        again.tasks()[0].task_arn(),
        "the original result"
    );
    let listed = ecs.list_tasks().cluster(CLUSTER).send().await.unwrap();
    assert_eq!(listed.task_arns().len(), 1);
    let err = run("run-1", "someone-else").await.unwrap_err();
    assert_eq!(err.code(), Some("ConflictException"));
}

#[tokio::test]
async fn cloud_map_creator_request_id_is_idempotent() {
    let h = start().await;
    let seeded = h.seed(&awsim::Seed {
        namespaces: vec![awsim::world::SeedNamespace {
            name: "internal.local".into(),
            vpc: "vpc-1".into(),
        }],
        ..Default::default()
    });
    let ns = seeded["namespaceIds"][0].as_str().unwrap().to_string();
    let sd = cloudmap(&h);
    let create = |crid: &str| {
        sd.create_service()
            .name("web")
            .namespace_id(&ns)
            .creator_request_id(crid)
            .send()
    };
    let first = create("req-1").await.unwrap();
    let again = create("req-1").await.unwrap();
    assert_eq!(first.service().unwrap().id(), again.service().unwrap().id());
    let err = create("req-2").await.unwrap_err();
    assert!(
        err.into_service_error().is_service_already_exists(),
        "a different request"
    );
    let err = create(&"r".repeat(65)).await.unwrap_err();
    assert_eq!(
        aws_sdk_servicediscovery::error::ProvideErrorMetadata::code(&err),
        Some("InvalidInput")
    );
}

#[tokio::test]
async fn lost_responses_commit_then_fail() {
    let h = start().await;
    let once = ecs_once(&h);
    let td = register(&once, "web").await;
    h.lose_responses("ecs:CreateService", 1);
    let err = create_service(&once, "web", &td)
        .client_token("lost-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ServerException"));
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));
    // It happened anyway; the retry with the same token gets the service.
    assert_eq!(service_count(&once).await, 1);
    let retried = create_service(&once, "web", &td)
        .client_token("lost-1")
        .send()
        .await
        .unwrap();
    assert_eq!(retried.service().unwrap().service_name(), Some("web"));
    assert_eq!(service_count(&once).await, 1);
    let log = h.call_log(None);
    let outcomes: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "CreateService")
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["lost", "ok"]);

    // The SDK's own retry of RunTask reuses its generated token: one task.
    h.lose_responses("ecs:RunTask", 1);
    let ran = ecs(&h)
        .run_task()
        .cluster(CLUSTER)
        .task_definition(&td)
        .launch_type(LaunchType::Fargate)
        .network_configuration(network())
        .started_by("lost-run")
        .send()
        .await
        .unwrap();
    assert_eq!(ran.tasks().len(), 1);
    // By startedBy (the service created above launches tasks of its own in
    // the same cluster), running or already stopped.
    let mut listed = Vec::new();
    for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
        let page = once
            .list_tasks()
            .cluster(CLUSTER)
            .started_by("lost-run")
            .desired_status(status)
            .send()
            .await
            .unwrap();
        listed.extend(page.task_arns().to_vec());
    }
    assert_eq!(listed.len(), 1, "{listed:?}");

    // awsQuery too: RDS answers InternalFailure, the subnet group exists.
    h.lose_responses("rds:CreateDBSubnetGroup", 1);
    let err = rds(&h)
        .create_db_subnet_group()
        .db_subnet_group_name("db")
        .db_subnet_group_description("d")
        .subnet_ids("subnet-a")
        .subnet_ids("subnet-b")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_rds::error::ProvideErrorMetadata::code(&err),
        Some("InternalFailure")
    );
    let groups = rds(&h).describe_db_subnet_groups().send().await.unwrap();
    assert_eq!(groups.db_subnet_groups().len(), 1);
    assert!(h.state()["faults"]["loseResponses"]
        .as_object()
        .unwrap()
        .is_empty());
}
