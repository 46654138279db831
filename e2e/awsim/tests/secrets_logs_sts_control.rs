//! Secrets Manager versions, CloudWatch Logs, STS, and the control API
//! (spoken over plain HTTP, as scripts and the e2e suite use it).

mod common;

use std::time::Duration;

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use common::{ecs, logs, secrets, start_fast, sts, TEST_APP};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A minimal HTTP/1.1 client: one request per connection.
async fn http(h: &awsim::Handle, method: &str, path: &str, body: Option<Value>) -> Value {
    let mut stream = tokio::net::TcpStream::connect(h.addr()).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    stream.read_to_string(&mut resp).await.unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn secret_versions_and_staging_labels() {
    let h = start_fast().await;
    let sm = secrets(&h);
    let created = sm
        .create_secret()
        .name("app/api-key")
        .secret_string("v1")
        .send()
        .await
        .unwrap();
    let v1 = created.version_id().unwrap().to_string();
    let err = sm
        .create_secret()
        .name("app/api-key")
        .secret_string("x")
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .unwrap()
        .is_resource_exists_exception());

    let v2 = sm
        .put_secret_value()
        .secret_id("app/api-key")
        .secret_string("v2")
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_string();
    assert_ne!(v1, v2);
    let arn = created.arn().unwrap();
    // Partial ARN (without the random suffix) works as in AWS.
    let partial = &arn[..arn.len() - 7];
    let got = sm
        .get_secret_value()
        .secret_id(partial)
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_string(), Some("v2"));
    assert_eq!(got.version_stages(), ["AWSCURRENT"]);
    let prev = sm
        .get_secret_value()
        .secret_id(arn)
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert_eq!(prev.secret_string(), Some("v1"));

    let d = sm
        .describe_secret()
        .secret_id("app/api-key")
        .send()
        .await
        .unwrap();
    let stages = d.version_ids_to_stages().unwrap();
    assert_eq!(stages[&v2], ["AWSCURRENT"]);
    assert_eq!(stages[&v1], ["AWSPREVIOUS"]);
    let versions = sm
        .list_secret_version_ids()
        .secret_id("app/api-key")
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 2);

    sm.delete_secret()
        .secret_id("app/api-key")
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let err = sm
        .get_secret_value()
        .secret_id("app/api-key")
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .unwrap()
        .is_resource_not_found_exception());
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn logs_sts_and_call_accounting() {
    let h = start_fast().await;
    let logs = logs(&h);
    logs.create_log_group()
        .log_group_name("/app")
        .send()
        .await
        .unwrap();
    logs.create_log_stream()
        .log_group_name("/app")
        .log_stream_name("s1")
        .send()
        .await
        .unwrap();
    let err = logs
        .create_log_stream()
        .log_group_name("/missing")
        .log_stream_name("s1")
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .unwrap()
        .is_resource_not_found_exception());

    let id = sts(&h).get_caller_identity().send().await.unwrap();
    assert_eq!(id.account(), Some("000000000000"));
    let assumed = sts(&h)
        .assume_role()
        .role_arn("arn:aws:iam::000000000000:role/deployer")
        .role_session_name("ci")
        .send()
        .await
        .unwrap();
    assert!(assumed
        .credentials()
        .unwrap()
        .access_key_id()
        .starts_with("ASIA"));
    assert_eq!(
        assumed.assumed_role_user().unwrap().arn(),
        "arn:aws:sts::000000000000:assumed-role/deployer/ci"
    );

    let counts = h.calls(Some(TEST_APP));
    assert_eq!(counts["byService"]["logs"]["CreateLogStream"], 2);
    assert_eq!(counts["byService"]["sts"]["AssumeRole"], 1);
    assert_eq!(h.calls(Some("berth"))["total"], 0);
    let log = h.call_log(None);
    assert_eq!(log[0]["action"], "CreateLogGroup");
    assert_eq!(log[0]["params"]["logGroupName"], "/app");
    assert_eq!(log[0]["caller"], TEST_APP);
}

#[tokio::test]
async fn control_api_over_http() {
    let h = awsim::start(awsim::Config {
        throttle: false,
        time_scale: 0.0,
        ..Default::default()
    })
    .await;
    let seeded = http(
        &h,
        "POST",
        "/_awsim/seed",
        Some(json!({
            "clusters": ["prod"],
            "secrets": [{"name": "db", "value": "pw"}],
            "repositories": ["app"],
            "subnetsWithoutEgress": ["subnet-private"],
        })),
    )
    .await;
    assert_eq!(
        seeded["clusters"][0],
        "arn:aws:ecs:us-east-1:000000000000:cluster/prod"
    );
    let faults = http(
        &h,
        "POST",
        "/_awsim/faults/lose",
        Some(json!({"action": "ecs:CreateService", "count": 2})),
    )
    .await;
    assert_eq!(faults["faults"]["loseResponses"]["ecs:CreateService"], 2);
    let faults = http(
        &h,
        "POST",
        "/_awsim/faults",
        Some(json!({"loseResponses": {"ecs:CreateService": 0, "rds:CreateDBCluster": 1}})),
    )
    .await;
    assert_eq!(
        faults["faults"]["loseResponses"],
        json!({"rds:CreateDBCluster": 1})
    );
    assert_eq!(
        seeded["repositories"][0],
        "000000000000.dkr.ecr.us-east-1.amazonaws.com/app"
    );

    let ecs = ecs(&h);
    let clusters = ecs
        .describe_clusters()
        .clusters("prod")
        .send()
        .await
        .unwrap();
    assert_eq!(clusters.clusters()[0].status(), Some("ACTIVE"));

    // A frozen clock moves only when told to.
    let before = http(&h, "GET", "/_awsim/clock", None).await["now"]
        .as_f64()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after = http(
        &h,
        "POST",
        "/_awsim/clock/advance",
        Some(json!({"seconds": 60})),
    )
    .await;
    let delta = after["now"].as_f64().unwrap() - before;
    assert!((59.9..60.1).contains(&delta), "{delta}");

    let rules = http(
        &h,
        "POST",
        "/_awsim/images",
        Some(json!({"image": "app:", "prefix": true, "exitCode": 2, "runSeconds": 10})),
    )
    .await;
    assert_eq!(rules[0]["exitCode"], 2);
    let faults = http(
        &h,
        "POST",
        "/_awsim/faults",
        Some(json!({"errorRate": 1.0, "throttle": {"ecs:ListClusters": {"rate": 1, "burst": 1}}})),
    )
    .await;
    assert_eq!(faults["faults"]["errorRate"], 1.0);
    assert_eq!(faults["throttle"]["ecs:ListClusters"]["burst"], 1.0);
    let conf = aws_sdk_ecs::config::Builder::from(&common::sdk_config(&h))
        .retry_config(aws_sdk_ecs::config::retry::RetryConfig::disabled())
        .build();
    let err = aws_sdk_ecs::Client::from_conf(conf)
        .describe_clusters()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_ecs::error::ProvideErrorMetadata::code(&err),
        Some("ServerException")
    );
    http(&h, "POST", "/_awsim/faults/reset", None).await;

    let calls = http(&h, "GET", &format!("/_awsim/calls?caller={TEST_APP}"), None).await;
    assert_eq!(calls["byService"]["ecs"]["DescribeClusters"], 2);
    let log = http(&h, "GET", "/_awsim/calls/log", None).await;
    assert_eq!(log.as_array().unwrap().len(), 2);
    http(&h, "POST", "/_awsim/calls/reset", None).await;
    assert_eq!(http(&h, "GET", "/_awsim/calls", None).await["total"], 0);
    let state = http(&h, "GET", "/_awsim/state", None).await;
    assert!(state["ecs"]["clusters"]["prod"].is_object());
    assert!(state["secrets"]["secrets"].as_object().unwrap().len() == 1);
}

#[tokio::test]
async fn state_file_survives_restart() {
    let dir = std::env::temp_dir().join(format!("awsim-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    let _ = std::fs::remove_file(&path);
    let config = awsim::Config {
        throttle: false,
        state_file: Some(path.clone()),
        ..Default::default()
    };
    let h = awsim::start(config.clone()).await;
    ecs(&h)
        .create_cluster()
        .cluster_name("kept")
        .send()
        .await
        .unwrap();
    h.shutdown().await;
    assert!(path.exists());
    let h = awsim::start(config).await;
    let out = ecs(&h)
        .describe_clusters()
        .clusters("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(out.clusters().len(), 1);
    h.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
