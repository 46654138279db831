//! Helpers shared by the integration tests: a fast simulator, SDK config
//! pointing at it, clients, and polling with a deadline.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use aws_config::{AppName, BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::config::{Credentials, SharedCredentialsProvider};

/// The app name the tests' SDK clients report (berth reports "berth").
pub const TEST_APP: &str = "awsim-tests";

/// A simulator running 100 virtual seconds per real second, unthrottled.
pub async fn start_fast() -> awsim::Handle {
    awsim::start(awsim::Config {
        time_scale: 100.0,
        throttle: false,
        ..Default::default()
    })
    .await
}

pub fn sdk_config(handle: &awsim::Handle) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(handle.endpoint())
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        )))
        .app_name(AppName::new(TEST_APP).expect("valid app name"))
        .build()
}

pub fn ecs(h: &awsim::Handle) -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::new(&sdk_config(h))
}

pub fn ecr(h: &awsim::Handle) -> aws_sdk_ecr::Client {
    aws_sdk_ecr::Client::new(&sdk_config(h))
}

pub fn secrets(h: &awsim::Handle) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&sdk_config(h))
}

pub fn logs(h: &awsim::Handle) -> aws_sdk_cloudwatchlogs::Client {
    aws_sdk_cloudwatchlogs::Client::new(&sdk_config(h))
}

pub fn sts(h: &awsim::Handle) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(&sdk_config(h))
}

/// Polls `f` every 20 ms until it returns `Some`, panicking with `what`
/// after `timeout` (real time).
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A control-API request (`/_awsim/...`) over a minimal HTTP/1.1 client, one
/// request per connection; panics unless the answer is 200 with JSON.
pub async fn control(
    h: &awsim::Handle,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
