//! The `aws` throttling profile: calls are charged to AWS's published
//! per-category buckets (burst and refill per account and region).

mod common;

use aws_sdk_ecs::config::retry::RetryConfig;
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::ContainerDefinition;
use common::{control, sdk_config, TEST_APP};
use serde_json::json;

async fn start_aws(scale: f64) -> awsim::Handle {
    awsim::start(awsim::Config {
        time_scale: 100.0,
        throttle_profile: awsim::ThrottleProfile::Aws,
        throttle_scale: scale,
        ..Default::default()
    })
    .await
}

/// An ECS client that surfaces every throttle instead of retrying it.
fn ecs_no_retry(h: &awsim::Handle) -> aws_sdk_ecs::Client {
    let conf = aws_sdk_ecs::config::Builder::from(&sdk_config(h))
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_ecs::Client::from_conf(conf)
}

fn throttled<E: ProvideErrorMetadata>(r: Result<impl Sized, E>) -> bool {
    match r {
        Ok(_) => false,
        Err(e) => {
            assert_eq!(e.code(), Some("ThrottlingException"));
            true
        }
    }
}

#[tokio::test]
async fn task_definition_modify_bursts_twenty() {
    let h = start_aws(1.0).await;
    let ecs = ecs_no_retry(&h);
    let mut count = 0;
    // Task definition modify actions: burst 20, refill 1/s, so the 21st call
    // in quick succession finds the bucket empty.
    for _ in 0..21 {
        let r = ecs
            .register_task_definition()
            .family("web")
            .container_definitions(
                ContainerDefinition::builder()
                    .name("app")
                    .image("nginx")
                    .memory(128)
                    .build(),
            )
            .send()
            .await;
        if throttled(r) {
            count += 1;
        }
    }
    assert_eq!(count, 1);
    assert_eq!(h.calls(Some(TEST_APP))["throttled"], 1);
    let log = h.call_log(Some(TEST_APP));
    let outcomes: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "throttled").count(), 1);
    // DeregisterTaskDefinition is in the same category.
    let r = ecs
        .deregister_task_definition()
        .task_definition("web:1")
        .send()
        .await;
    assert!(throttled(r));
    // Task definition reads are another bucket.
    ecs.describe_task_definition()
        .task_definition("web:1")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn describe_and_list_services_share_a_bucket() {
    // Scaled to 5% (Service read: burst 5, 1/s) so a handful of calls
    // empties the bucket well within a refill.
    let h = start_aws(0.05).await;
    h.seed(&awsim::Seed {
        clusters: vec!["default".into()],
        ..Default::default()
    });
    let ecs = ecs_no_retry(&h);
    for _ in 0..5 {
        ecs.describe_services()
            .cluster("default")
            .services("none")
            .send()
            .await
            .unwrap();
    }
    assert!(throttled(
        ecs.list_services().cluster("default").send().await
    ));
    assert!(throttled(
        ecs.describe_services()
            .cluster("default")
            .services("none")
            .send()
            .await
    ));
    // Cluster read actions have their own bucket (burst 50 * 0.05).
    ecs.describe_clusters()
        .clusters("default")
        .send()
        .await
        .unwrap();
    assert_eq!(h.calls(Some(TEST_APP))["throttled"], 2);
}

#[tokio::test]
async fn profile_switches_at_runtime() {
    let h = awsim::start(awsim::Config {
        throttle_scale: 0.05,
        ..Default::default()
    })
    .await;
    assert_eq!(h.throttle_profile(), awsim::ThrottleProfile::Default);
    let ecs = ecs_no_retry(&h);
    // Default profile: one bucket per action (reads: burst 50 * 0.05).
    for _ in 0..2 {
        ecs.list_clusters().send().await.unwrap();
    }
    ecs.describe_clusters().send().await.unwrap();

    let t = control(
        &h,
        "POST",
        "/_awsim/throttle",
        Some(json!({"profile": "aws"})),
    )
    .await;
    assert_eq!(t["profile"], "aws");
    assert_eq!(h.throttle_profile(), awsim::ThrottleProfile::Aws);
    let t = control(&h, "GET", "/_awsim/throttle", None).await;
    let service_read = t["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Service read actions")
        .unwrap();
    assert_eq!(
        service_read["actions"],
        json!(["DescribeServices", "ListServices"])
    );
    assert_eq!(
        (
            service_read["burst"].as_f64(),
            service_read["rate"].as_f64()
        ),
        (Some(100.0), Some(20.0))
    );

    // Cluster read actions: DescribeClusters and ListClusters share 2.5.
    ecs.list_clusters().send().await.unwrap();
    ecs.describe_clusters().send().await.unwrap();
    assert!(throttled(ecs.list_clusters().send().await));

    h.set_throttle_profile(awsim::ThrottleProfile::Default);
    ecs.list_clusters().send().await.unwrap();
}
