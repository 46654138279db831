//! The capturing endpoint of the request-shape test: records every request
//! (awsJson and awsQuery) and answers with a minimal valid response, so every
//! code path that builds a request runs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use berth::aws::{Clients, Target};
use serde_json::{json, Value};

/// One captured request.
#[derive(Clone, Debug)]
pub struct Captured {
    pub service: &'static str,
    pub op: String,
    pub body: Value,
}

#[derive(Default)]
pub struct Recorder {
    pub requests: Mutex<Vec<Captured>>,
    /// `service:Op` -> response body; an operation not listed gets `{}`.
    pub responses: Mutex<BTreeMap<String, Value>>,
}

fn service_of(prefix: &str) -> Option<&'static str> {
    Some(match prefix {
        "AmazonEC2ContainerServiceV20141113" => "ecs",
        "AmazonEC2ContainerRegistry_V20150921" => "ecr",
        "secretsmanager" => "secretsmanager",
        "Logs_20140328" => "logs",
        "Route53AutoNaming_v20170314" => "servicediscovery",
        _ => return None,
    })
}

async fn record(
    State(rec): State<Arc<Recorder>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if target.is_empty() {
        return query(&rec, &body).into_response();
    }
    let (prefix, op) = target.split_once('.').unwrap_or((&target, ""));
    let Some(service) = service_of(prefix) else {
        return (StatusCode::BAD_REQUEST, "unexpected request".to_string()).into_response();
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    rec.requests.lock().unwrap().push(Captured {
        service,
        op: op.to_string(),
        body,
    });
    let reply = rec
        .responses
        .lock()
        .unwrap()
        .get(&format!("{service}:{op}"))
        .cloned()
        .unwrap_or(json!({}));
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.1")],
        reply.to_string(),
    )
        .into_response()
}

pub async fn start() -> (Arc<Recorder>, SocketAddr) {
    let rec = Arc::new(Recorder::default());
    let app = axum::Router::new().fallback(record).with_state(rec.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (rec, addr)
}

pub fn clients(addr: SocketAddr) -> Arc<Clients> {
    let conf = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(format!("http://{addr}"))
        .credentials_provider(aws_sdk_ecs::config::SharedCredentialsProvider::new(
            aws_sdk_ecs::config::Credentials::new("AKID", "secret", None, None, "test"),
        ))
        .build();
    Arc::new(Clients {
        pipeline: berth::aws::Pipeline::unlimited(),
        target: Target {
            region: "us-east-1".into(),
            role_arn: None,
        },
        ecs: aws_sdk_ecs::Client::new(&conf),
        ecr: aws_sdk_ecr::Client::new(&conf),
        rds: aws_sdk_rds::Client::new(&conf),
        cloudmap: aws_sdk_servicediscovery::Client::new(&conf),
        secrets: aws_sdk_secretsmanager::Client::new(&conf),
        logs: aws_sdk_cloudwatchlogs::Client::new(&conf),
        sts: berth::aws::sts::Sts::new(&conf),
        batches: Default::default(),
    })
}

/// An awsQuery request (RDS): recorded with its form fields, answered with
/// an empty result of the action.
fn query(rec: &Recorder, body: &[u8]) -> impl IntoResponse {
    let params: BTreeMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let action = params.get("Action").cloned().unwrap_or_default();
    rec.requests.lock().unwrap().push(Captured {
        service: "rds",
        op: action.clone(),
        body: serde_json::to_value(&params).unwrap(),
    });
    let xml = format!(
        "<{action}Response xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><{action}Result></{action}Result><ResponseMetadata><RequestId>0</RequestId></ResponseMetadata></{action}Response>"
    );
    (StatusCode::OK, [("content-type", "text/xml")], xml)
}

/// Whether a captured request obeys awsim's rule table for its operation.
pub fn check(r: &Captured) -> Result<(), awsim::core::AwsError> {
    if r.service == "rds" {
        let params: BTreeMap<String, String> = serde_json::from_value(r.body.clone()).unwrap();
        awsim::rules::check_query("rds", &r.op, &params)
    } else {
        awsim::rules::check_json(r.service, &r.op, &r.body)
    }
}
