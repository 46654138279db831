//! ECS services with `serviceRegistries` register their RUNNING tasks in
//! Cloud Map and deregister them when they stop.

mod common;

use std::time::Duration;

use aws_sdk_ecs::types::{
    AwsVpcConfiguration, Compatibility, ContainerDefinition, LaunchType, NetworkConfiguration,
    NetworkMode, ServiceRegistry,
};
use aws_sdk_servicediscovery::types::{DnsConfig, DnsRecord, RecordType};
use common::{ecs, sdk_config, start_fast, wait_for};

#[tokio::test]
async fn service_tasks_register_in_cloud_map() {
    let h = start_fast().await;
    let seeded = h.seed(&awsim::Seed {
        clusters: vec!["prod".into()],
        namespaces: vec![awsim::world::SeedNamespace {
            name: "internal.local".into(),
            vpc: "vpc-1".into(),
        }],
        ..Default::default()
    });
    let namespace_id = seeded["namespaceIds"][0].as_str().unwrap().to_string();
    let sd = aws_sdk_servicediscovery::Client::new(&sdk_config(&h));
    let registry = sd
        .create_service()
        .name("api")
        .namespace_id(&namespace_id)
        .dns_config(
            DnsConfig::builder()
                .dns_records(
                    DnsRecord::builder()
                        .r#type(RecordType::A)
                        .ttl(10)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .service
        .unwrap();
    let registry_arn = registry.arn().unwrap().to_string();
    let registry_id = registry.id().unwrap().to_string();

    let ecs = ecs(&h);
    let td = ecs
        .register_task_definition()
        .family("api")
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .container_definitions(
            ContainerDefinition::builder()
                .name("api")
                .image("nginx:1.27")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap();
    let network = NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .subnets("subnet-a")
                .build()
                .unwrap(),
        )
        .build();

    let err = ecs
        .create_service()
        .cluster("prod")
        .service_name("api")
        .task_definition(&td)
        .desired_count(2)
        .launch_type(LaunchType::Fargate)
        .network_configuration(network.clone())
        .service_registries(
            ServiceRegistry::builder()
                .registry_arn(registry_arn.replace(&registry_id, "srv-doesnotexist"))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .unwrap()
        .is_invalid_parameter_exception());

    ecs.create_service()
        .cluster("prod")
        .service_name("api")
        .task_definition(&td)
        .desired_count(2)
        .launch_type(LaunchType::Fargate)
        .network_configuration(network)
        .service_registries(
            ServiceRegistry::builder()
                .registry_arn(&registry_arn)
                .build(),
        )
        .send()
        .await
        .unwrap();

    let instances = wait_for("2 instances", Duration::from_secs(10), || async {
        let out = sd
            .list_instances()
            .service_id(&registry_id)
            .send()
            .await
            .unwrap();
        (out.instances().len() == 2).then(|| out.instances().to_vec())
    })
    .await;
    for i in &instances {
        let attrs = i.attributes().unwrap();
        assert!(attrs["AWS_INSTANCE_IPV4"].starts_with("10."));
        assert_eq!(attrs["ECS_CLUSTER_NAME"], "prod");
        assert_eq!(attrs["ECS_SERVICE_NAME"], "api");
        assert_eq!(attrs["ECS_TASK_DEFINITION_FAMILY"], "api");
    }

    ecs.update_service()
        .cluster("prod")
        .service("api")
        .desired_count(0)
        .send()
        .await
        .unwrap();
    wait_for("instances gone", Duration::from_secs(10), || async {
        let out = sd
            .list_instances()
            .service_id(&registry_id)
            .send()
            .await
            .unwrap();
        out.instances().is_empty().then_some(())
    })
    .await;
}
