//! Cloud Map through the real aws-sdk-servicediscovery client. The tests
//! move the virtual clock with `advance_clock`, so async operations change
//! state exactly when the test says so.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_servicediscovery::error::ProvideErrorMetadata;
use aws_sdk_servicediscovery::types::{
    DnsConfig, DnsRecord, FilterCondition, HealthCheckCustomConfig, NamespaceFilter,
    NamespaceFilterName, NamespaceType, OperationStatus, OperationTargetType, RecordType,
    RoutingPolicy, ServiceFilter, ServiceFilterName, Tag,
};
use aws_sdk_servicediscovery::Client;
use common::{ecs, sdk_config, start_fast, wait_for};

/// Real-speed clock: the tests move it with `advance_clock`, so an
/// operation's status read right after a call cannot race a fast clock.
async fn start() -> awsim::Handle {
    awsim::start(awsim::Config {
        throttle: false,
        ..Default::default()
    })
    .await
}

fn client(h: &awsim::Handle) -> Client {
    Client::new(&sdk_config(h))
}

async fn op_status(c: &Client, op: &str) -> OperationStatus {
    c.get_operation()
        .operation_id(op)
        .send()
        .await
        .unwrap()
        .operation()
        .unwrap()
        .status()
        .unwrap()
        .clone()
}

/// Creates a private DNS namespace and lets its operation finish.
async fn namespace(h: &awsim::Handle, c: &Client, name: &str) -> String {
    let op = c
        .create_private_dns_namespace()
        .name(name)
        .vpc("vpc-0abc")
        .send()
        .await
        .unwrap()
        .operation_id
        .unwrap();
    h.advance_clock(30.0);
    let out = c.get_operation().operation_id(&op).send().await.unwrap();
    let operation = out.operation().unwrap();
    assert_eq!(operation.status(), Some(&OperationStatus::Success));
    operation.targets().unwrap()[&OperationTargetType::Namespace].clone()
}

fn a_record(ttl: i64) -> DnsConfig {
    DnsConfig::builder()
        .routing_policy(RoutingPolicy::Multivalue)
        .dns_records(
            DnsRecord::builder()
                .r#type(RecordType::A)
                .ttl(ttl)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn private_dns_namespace_operation_reaches_success() {
    let h = start().await;
    let c = client(&h);
    let op = c
        .create_private_dns_namespace()
        .name("internal.example")
        .vpc("vpc-0abc")
        .description("berth services")
        .tags(
            Tag::builder()
                .key("team")
                .value("platform")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .operation_id
        .unwrap();

    let out = c.get_operation().operation_id(&op).send().await.unwrap();
    let operation = out.operation().unwrap();
    assert_eq!(operation.status(), Some(&OperationStatus::Submitted));
    assert_eq!(
        operation.r#type().map(|t| t.as_str()),
        Some("CREATE_NAMESPACE")
    );
    let ns_id = operation.targets().unwrap()[&OperationTargetType::Namespace].clone();
    assert!(ns_id.starts_with("ns-"), "{ns_id}");
    // Not visible before the operation succeeds.
    let err = c.get_namespace().id(&ns_id).send().await.unwrap_err();
    assert!(err.into_service_error().is_namespace_not_found());

    h.advance_clock(1.5);
    assert_eq!(op_status(&c, &op).await, OperationStatus::Pending);
    h.advance_clock(10.0);
    assert_eq!(op_status(&c, &op).await, OperationStatus::Success);

    let ns = c.get_namespace().id(&ns_id).send().await.unwrap();
    let ns = ns.namespace().unwrap();
    assert_eq!(ns.name(), Some("internal.example"));
    assert_eq!(ns.r#type(), Some(&NamespaceType::DnsPrivate));
    assert_eq!(ns.description(), Some("berth services"));
    assert_eq!(
        ns.arn(),
        Some(format!("arn:aws:servicediscovery:us-east-1:000000000000:namespace/{ns_id}").as_str())
    );
    let hosted_zone = ns
        .properties()
        .and_then(|p| p.dns_properties())
        .and_then(|d| d.hosted_zone_id());
    assert!(hosted_zone.is_some_and(|z| z.starts_with('Z')));

    // Resubmitting the same CreatorRequestId is idempotent; another request
    // for the same name is refused.
    let err = c
        .create_private_dns_namespace()
        .name("internal.example")
        .vpc("vpc-0abc")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_namespace_already_exists());

    c.create_http_namespace()
        .name("http-only")
        .send()
        .await
        .unwrap();
    h.advance_clock(30.0);
    let listed = c
        .list_namespaces()
        .filters(
            NamespaceFilter::builder()
                .name(NamespaceFilterName::Type)
                .values("DNS_PRIVATE")
                .condition(FilterCondition::Eq)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let names: Vec<_> = listed
        .namespaces()
        .iter()
        .filter_map(|n| n.name())
        .collect();
    assert_eq!(names, ["internal.example"]);
    let listed = c
        .list_namespaces()
        .filters(
            NamespaceFilter::builder()
                .name(NamespaceFilterName::Name)
                .values("http-only")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(listed.namespaces().len(), 1);
    assert_eq!(listed.namespaces()[0].r#type(), Some(&NamespaceType::Http));

    let tags = c
        .list_tags_for_resource()
        .resource_arn(ns.arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags()[0].key(), "team");

    // Deleting is asynchronous too.
    let del = c
        .delete_namespace()
        .id(&ns_id)
        .send()
        .await
        .unwrap()
        .operation_id
        .unwrap();
    assert_eq!(op_status(&c, &del).await, OperationStatus::Submitted);
    h.advance_clock(30.0);
    assert_eq!(op_status(&c, &del).await, OperationStatus::Success);
    let err = c.get_namespace().id(&ns_id).send().await.unwrap_err();
    assert_eq!(err.code(), Some("NamespaceNotFound"));
    let err = c
        .get_operation()
        .operation_id("nope")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_operation_not_found());
}

#[tokio::test]
async fn services_and_registered_instances() {
    let h = start().await;
    let c = client(&h);
    let ns_id = namespace(&h, &c, "apps.local").await;

    let created = c
        .create_service()
        .name("orders")
        .namespace_id(&ns_id)
        .creator_request_id("req-1")
        .dns_config(a_record(10))
        .health_check_custom_config(HealthCheckCustomConfig::builder().build())
        .tags(
            Tag::builder()
                .key("berth.dev/owner")
                .value("ns/orders")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let svc = created.service().unwrap();
    let svc_id = svc.id().unwrap().to_string();
    assert!(svc_id.starts_with("srv-"));
    assert_eq!(
        svc.arn(),
        Some(format!("arn:aws:servicediscovery:us-east-1:000000000000:service/{svc_id}").as_str())
    );
    assert_eq!(svc.namespace_id(), Some(ns_id.as_str()));
    let dns = svc.dns_config().unwrap();
    assert_eq!(dns.dns_records()[0].r#type(), &RecordType::A);
    assert_eq!(dns.dns_records()[0].ttl(), 10);

    // A retry with the same CreatorRequestId returns the same service.
    let retried = c
        .create_service()
        .name("orders")
        .namespace_id(&ns_id)
        .creator_request_id("req-1")
        .dns_config(a_record(10))
        .send()
        .await
        .unwrap();
    assert_eq!(retried.service().unwrap().id(), Some(svc_id.as_str()));
    let err = c
        .create_service()
        .name("orders")
        .namespace_id(&ns_id)
        .dns_config(a_record(10))
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_service_already_exists());
    let err = c
        .create_service()
        .name("ghost")
        .namespace_id("ns-doesnotexist0000")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_namespace_not_found());

    let listed = c
        .list_services()
        .filters(
            ServiceFilter::builder()
                .name(ServiceFilterName::NamespaceId)
                .values(&ns_id)
                .condition(FilterCondition::Eq)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(listed.services().len(), 1);
    assert_eq!(listed.services()[0].name(), Some("orders"));

    // An A record needs an IPv4 address.
    let err = c
        .register_instance()
        .service_id(&svc_id)
        .instance_id("task-1")
        .attributes("AVAILABILITY_ZONE", "us-east-1a")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_invalid_input());

    let op = c
        .register_instance()
        .service_id(&svc_id)
        .instance_id("task-1")
        .attributes("AWS_INSTANCE_IPV4", "10.0.1.15")
        .send()
        .await
        .unwrap()
        .operation_id
        .unwrap();
    assert!(c
        .list_instances()
        .service_id(&svc_id)
        .send()
        .await
        .unwrap()
        .instances()
        .is_empty());
    h.advance_clock(10.0);
    assert_eq!(op_status(&c, &op).await, OperationStatus::Success);
    let instances = c.list_instances().service_id(&svc_id).send().await.unwrap();
    assert_eq!(instances.instances().len(), 1);
    assert_eq!(instances.instances()[0].id(), Some("task-1"));
    assert_eq!(
        instances.instances()[0].attributes().unwrap()["AWS_INSTANCE_IPV4"],
        "10.0.1.15"
    );
    let got = c
        .get_instance()
        .service_id(&svc_id)
        .instance_id("task-1")
        .send()
        .await
        .unwrap();
    assert_eq!(got.instance().unwrap().id(), "task-1");
    // DiscoverInstances is not exercised here: the SDK sends it to the
    // `data-` host prefix of the endpoint, which does not resolve locally.
    let svc = c.get_service().id(&svc_id).send().await.unwrap();
    assert_eq!(svc.service().unwrap().instance_count(), Some(1));

    let err = c.delete_service().id(&svc_id).send().await.unwrap_err();
    assert!(err.into_service_error().is_resource_in_use());
    let err = c.delete_namespace().id(&ns_id).send().await.unwrap_err();
    assert_eq!(err.code(), Some("ResourceInUse"));

    let update = c
        .update_service()
        .id(&svc_id)
        .service(
            aws_sdk_servicediscovery::types::ServiceChange::builder()
                .dns_config(
                    aws_sdk_servicediscovery::types::DnsConfigChange::builder()
                        .dns_records(
                            DnsRecord::builder()
                                .r#type(RecordType::A)
                                .ttl(60)
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .operation_id
        .unwrap();
    h.advance_clock(10.0);
    assert_eq!(op_status(&c, &update).await, OperationStatus::Success);
    let svc = c.get_service().id(&svc_id).send().await.unwrap();
    assert_eq!(
        svc.service().unwrap().dns_config().unwrap().dns_records()[0].ttl(),
        60
    );

    let dereg = c
        .deregister_instance()
        .service_id(&svc_id)
        .instance_id("task-1")
        .send()
        .await
        .unwrap()
        .operation_id
        .unwrap();
    h.advance_clock(10.0);
    assert_eq!(op_status(&c, &dereg).await, OperationStatus::Success);
    let err = c
        .get_instance()
        .service_id(&svc_id)
        .instance_id("task-1")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_instance_not_found());
    c.delete_service().id(&svc_id).send().await.unwrap();
    let err = c.get_service().id(&svc_id).send().await.unwrap_err();
    assert!(err.into_service_error().is_service_not_found());
}

/// What ECS calls for a RUNNING task of a service with `serviceRegistries`.
#[tokio::test]
async fn ecs_registration_is_visible_at_once() {
    let h = start().await;
    let c = client(&h);
    let ns_id = namespace(&h, &c, "ecs.local").await;
    let svc = c
        .create_service()
        .name("web")
        .namespace_id(&ns_id)
        .dns_config(a_record(10))
        .send()
        .await
        .unwrap();
    let arn = svc.service().unwrap().arn().unwrap().to_string();
    let svc_id = svc.service().unwrap().id().unwrap().to_string();

    {
        let (mut world, ctx) = h.shared().world_now(None);
        assert!(world.cloudmap.service_exists(&arn));
        assert!(!world
            .cloudmap
            .service_exists("arn:aws:servicediscovery:us-east-1:000000000000:service/srv-x"));
        let attrs = BTreeMap::from([
            ("AWS_INSTANCE_IPV4".to_string(), "10.0.2.7".to_string()),
            ("ECS_SERVICE_NAME".to_string(), "web".to_string()),
        ]);
        world
            .cloudmap
            .register_instance(&ctx, &arn, "task-abc", attrs)
            .unwrap();
        assert!(world
            .cloudmap
            .register_instance(&ctx, "arn:nope", "task-abc", BTreeMap::new())
            .is_err());
    }
    let instances = c.list_instances().service_id(&svc_id).send().await.unwrap();
    assert_eq!(instances.instances().len(), 1);
    assert_eq!(instances.instances()[0].id(), Some("task-abc"));

    {
        let (mut world, _) = h.shared().world_now(None);
        world.cloudmap.deregister_instance(&arn, "task-abc");
        world.cloudmap.deregister_instance(&arn, "task-abc");
    }
    let instances = c.list_instances().service_id(&svc_id).send().await.unwrap();
    assert!(instances.instances().is_empty());
}

#[tokio::test]
async fn seeded_namespace_is_ready_immediately() {
    let h = start().await;
    let c = client(&h);
    let id = {
        let (mut world, ctx) = h.shared().world_now(None);
        let id = world
            .cloudmap
            .seed_private_dns_namespace(&ctx, "seeded.local", "vpc-1");
        assert_eq!(
            world
                .cloudmap
                .seed_private_dns_namespace(&ctx, "seeded.local", "vpc-1"),
            id,
            "seeding is idempotent"
        );
        id
    };
    let ns = c.get_namespace().id(&id).send().await.unwrap();
    assert_eq!(ns.namespace().unwrap().name(), Some("seeded.local"));
}

/// ECS services with `serviceRegistries` register their RUNNING tasks and
/// deregister them when they stop.
#[tokio::test]
async fn ecs_service_tasks_appear_as_instances() {
    use aws_sdk_ecs::types::{
        AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition, LaunchType,
        NetworkConfiguration, NetworkMode, ServiceRegistry,
    };

    let h = start_fast().await;
    let sd = client(&h);
    let ecs = ecs(&h);
    let ns_op = sd
        .create_private_dns_namespace()
        .name("svc.local")
        .vpc("vpc-0abc")
        .send()
        .await
        .unwrap()
        .operation_id
        .unwrap();
    let ns_id = wait_for("namespace created", Duration::from_secs(10), || async {
        let out = sd
            .get_operation()
            .operation_id(&ns_op)
            .send()
            .await
            .unwrap();
        let op = out.operation().unwrap();
        (op.status() == Some(&OperationStatus::Success))
            .then(|| op.targets().unwrap()[&OperationTargetType::Namespace].clone())
    })
    .await;
    let svc = sd
        .create_service()
        .name("api")
        .namespace_id(&ns_id)
        .dns_config(a_record(10))
        .health_check_custom_config(HealthCheckCustomConfig::builder().build())
        .send()
        .await
        .unwrap();
    let registry_arn = svc.service().unwrap().arn().unwrap().to_string();
    let svc_id = svc.service().unwrap().id().unwrap().to_string();

    ecs.create_cluster()
        .cluster_name("prod")
        .send()
        .await
        .unwrap();
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
                .subnets("subnet-b")
                .assign_public_ip(AssignPublicIp::Disabled)
                .build()
                .unwrap(),
        )
        .build();
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

    let instances = wait_for("2 registered tasks", Duration::from_secs(15), || async {
        let out = sd
            .list_instances()
            .service_id(&svc_id)
            .send()
            .await
            .unwrap();
        (out.instances().len() == 2).then(|| out.instances().to_vec())
    })
    .await;
    for i in &instances {
        let attrs = i.attributes().unwrap();
        assert!(attrs.contains_key("AWS_INSTANCE_IPV4"), "{attrs:?}");
        assert_eq!(
            attrs.get("ECS_SERVICE_NAME").map(String::as_str),
            Some("api")
        );
    }
    let err = sd.delete_service().id(&svc_id).send().await.unwrap_err();
    assert!(err.into_service_error().is_resource_in_use());

    ecs.update_service()
        .cluster("prod")
        .service("api")
        .desired_count(0)
        .send()
        .await
        .unwrap();
    wait_for("tasks deregistered", Duration::from_secs(15), || async {
        let out = sd
            .list_instances()
            .service_id(&svc_id)
            .send()
            .await
            .unwrap();
        out.instances().is_empty().then_some(())
    })
    .await;
}
