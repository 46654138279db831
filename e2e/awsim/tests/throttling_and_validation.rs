//! Throttling surfaces as the SDK's throttling error; AWS validation errors
//! carry AWS's codes.

mod common;

use aws_sdk_ecs::config::retry::RetryConfig;
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{Compatibility, ContainerDefinition, NetworkMode};
use common::{ecs, sdk_config, start_fast};

#[tokio::test]
async fn burst_is_throttled() {
    let h = start_fast().await;
    h.throttle(
        "ecs:DescribeClusters",
        Some(awsim::Rate {
            rate: 0.01,
            burst: 5.0,
        }),
    );
    let conf = aws_sdk_ecs::config::Builder::from(&sdk_config(&h))
        .retry_config(RetryConfig::disabled())
        .build();
    let client = aws_sdk_ecs::Client::from_conf(conf);
    let mut throttled = 0;
    for _ in 0..10 {
        match client.describe_clusters().clusters("default").send().await {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.code(), Some("ThrottlingException"), "{e:?}");
                assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(400));
                throttled += 1;
            }
        }
    }
    assert_eq!(throttled, 5);
    let counts = h.calls(Some(common::TEST_APP));
    assert_eq!(counts["throttled"], 5);
    // Other actions have their own buckets.
    client.list_clusters().send().await.unwrap();

    // STS (awsQuery) throttles with `Throttling`, from the default buckets.
    let h = awsim::start(awsim::Config {
        throttle_scale: 0.05,
        ..Default::default()
    })
    .await;
    let conf = aws_sdk_sts::config::Builder::from(&sdk_config(&h))
        .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
        .build();
    let sts = aws_sdk_sts::Client::from_conf(conf);
    let mut codes = vec![];
    for _ in 0..10 {
        if let Err(e) = sts.get_caller_identity().send().await {
            codes.push(aws_sdk_sts::error::ProvideErrorMetadata::code(&e).map(str::to_string));
        }
    }
    assert!(!codes.is_empty());
    assert!(
        codes.iter().all(|c| c.as_deref() == Some("Throttling")),
        "{codes:?}"
    );
}

#[tokio::test]
async fn fargate_validation() {
    let h = start_fast().await;
    let ecs = ecs(&h);
    let register = |cpu: &str, memory: &str, mode: NetworkMode| {
        ecs.register_task_definition()
            .family("v")
            .requires_compatibilities(Compatibility::Fargate)
            .network_mode(mode)
            .cpu(cpu)
            .memory(memory)
            .container_definitions(
                ContainerDefinition::builder()
                    .name("a")
                    .image("nginx")
                    .build(),
            )
            .send()
    };
    let err = register("256", "4096", NetworkMode::Awsvpc)
        .await
        .unwrap_err();
    let se = err.as_service_error().unwrap();
    assert!(se.is_client_exception(), "{err:?}");
    assert_eq!(
        se.message(),
        Some("No Fargate configuration exists for given values: 256 CPU, 4096 memory. See the Amazon ECS documentation for the valid values.")
    );
    let err = register("512", "1024", NetworkMode::Bridge)
        .await
        .unwrap_err();
    assert!(err.as_service_error().unwrap().is_client_exception());
    assert!(err.message().unwrap().contains("awsvpc"));

    let ok = register("1 vCPU", "3 GB", NetworkMode::Awsvpc)
        .await
        .unwrap();
    let td = ok.task_definition().unwrap();
    assert_eq!((td.cpu(), td.memory()), (Some("1024"), Some("3072")));
    assert_eq!(td.revision(), 1);
    assert_eq!(td.status().map(|s| s.as_str()), Some("ACTIVE"));
    assert!(td.compatibilities().contains(&Compatibility::Fargate));
    assert!(td.registered_at().is_some() && td.registered_by().is_some());
    assert!(!td.requires_attributes().is_empty());

    let err = ecs
        .describe_task_definition()
        .task_definition("nope:1")
        .send()
        .await
        .unwrap_err();
    assert!(err.as_service_error().unwrap().is_client_exception());
    assert_eq!(err.message(), Some("Unable to describe task definition."));
}
