//! HTTP routing: the AWS endpoint (protocol detection, accounting, faults,
//! throttling, dispatch) and the control API under `/_awsim`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use rand::Rng;
use serde_json::Value;

use crate::calls::{key_params, CallRecord};
use crate::clock::real_epoch_seconds;
use crate::core::AwsError;
use crate::protocol::{caller_from_headers, json, query, region_from_auth, Service};
use crate::util::request_id;
use crate::Shared;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .nest("/_awsim", crate::control::router())
        .route("/", post(aws))
        .fallback(aws)
        .with_state(shared)
}

enum Request {
    Json {
        service: Service,
        op: String,
        body: Value,
    },
    Query {
        service: Service,
        action: String,
        version: String,
        params: std::collections::BTreeMap<String, String>,
    },
}

fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Request, AwsError> {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let (prefix, op) = target.split_once('.').unwrap_or((target, ""));
        let service = Service::from_target_prefix(prefix).ok_or_else(|| {
            AwsError::client(
                "UnknownOperationException",
                format!("unknown target {target}"),
            )
        })?;
        let body = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(body)
                .map_err(|e| AwsError::client("SerializationException", e.to_string()))?
        };
        return Ok(Request::Json {
            service,
            op: op.to_string(),
            body,
        });
    }
    let params = query::parse_form(body)
        .ok_or_else(|| AwsError::client("MalformedQueryString", "cannot parse form body"))?;
    let action = params.get("Action").cloned().unwrap_or_default();
    let version = params.get("Version").cloned().unwrap_or_default();
    let service = match version.as_str() {
        query::RDS_VERSION => Service::Rds,
        query::STS_VERSION => Service::Sts,
        _ => {
            return Err(AwsError::client(
                "InvalidAction",
                format!("unsupported request (Action={action}, Version={version})"),
            ))
        }
    };
    Ok(Request::Query {
        service,
        action,
        version,
        params,
    })
}

async fn aws(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let rid = request_id();
    let req = match parse(&headers, &body) {
        Ok(r) => r,
        Err(e) => {
            return if headers.contains_key("x-amz-target") {
                json::error(&e, &rid)
            } else {
                query::error(&e, query::RDS_VERSION, &rid)
            }
        }
    };
    let (service, action) = match &req {
        Request::Json { service, op, .. } => (*service, op.clone()),
        Request::Query {
            service, action, ..
        } => (*service, action.clone()),
    };
    let caller = caller_from_headers(&headers);
    let region = region_from_auth(&headers);
    let params = match &req {
        Request::Json { body, .. } => key_params(body),
        Request::Query { params, .. } => params
            .iter()
            .filter(|(k, _)| {
                k.ends_with("Identifier") || ["DBProxyName", "RoleArn"].contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    let seq = shared.calls().record(CallRecord {
        seq: 0,
        time: real_epoch_seconds(),
        virtual_time: shared.clock.now(),
        service: service.name().to_string(),
        action: action.clone(),
        caller,
        outcome: "ok".into(),
        params,
    });

    let (latency, error_rate) = {
        let w = shared.world();
        (w.faults.latency_ms.sample(), w.faults.error_rate)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let admitted = {
        let body = match &req {
            Request::Json { body, .. } => Some(body),
            Request::Query { .. } => None,
        };
        let region = region.as_deref().unwrap_or(&shared.config.region);
        shared
            .throttle()
            .admit_call(service.name(), &action, region, body)
    };
    let result: Result<ResponseBody, AwsError> = if !admitted {
        shared.calls().set_outcome(seq, "throttled".into());
        Err(AwsError::client(service.throttling_code(), "Rate exceeded"))
    } else if let Err(e) = check_rules(&req) {
        shared.calls().set_outcome(seq, format!("error:{}", e.code));
        Err(e)
    } else if error_rate > 0.0 && rand::rng().random_bool(error_rate.min(1.0)) {
        shared.calls().set_outcome(seq, "fault".into());
        Err(server_error(service))
    } else {
        let r = dispatch(&shared, &req, region.as_deref());
        match &r {
            Err(e) => shared.calls().set_outcome(seq, format!("error:{}", e.code)),
            Ok(_) if shared.world().faults.take_lost(service.name(), &action) => {
                // Committed above; only the answer goes missing, like a
                // connection reset after AWS did the work.
                shared.calls().set_outcome(seq, "lost".into());
                return respond(&req, Err(server_error(service)), &rid);
            }
            Ok(_) => {}
        }
        r
    };

    respond(&req, result, &rid)
}

fn server_error(service: Service) -> AwsError {
    AwsError::new(
        500,
        service.server_error_code(),
        "We encountered an internal error. Please try again.",
    )
}

/// The request rules of `crate::rules`, for every service that has tables.
fn check_rules(req: &Request) -> Result<(), AwsError> {
    match req {
        Request::Json { service, op, body } => crate::rules::check_json(service.name(), op, body),
        Request::Query {
            service,
            action,
            params,
            ..
        } => crate::rules::check_query(service.name(), action, params),
    }
}

fn respond(req: &Request, result: Result<ResponseBody, AwsError>, rid: &str) -> Response {
    match (req, result) {
        (Request::Json { .. }, Ok(ResponseBody::Json(v))) => json::ok(&v, rid),
        (Request::Json { .. }, Err(e)) => json::error(&e, rid),
        (
            Request::Query {
                action, version, ..
            },
            Ok(ResponseBody::Xml(x)),
        ) => query::ok(action, version, &x, rid),
        (Request::Query { version, .. }, Err(e)) => query::error(&e, version, rid),
        (Request::Json { .. }, Ok(ResponseBody::Xml(_)))
        | (Request::Query { .. }, Ok(ResponseBody::Json(_))) => json::error(
            &AwsError::new(500, "InternalFailure", "protocol mismatch"),
            rid,
        ),
    }
}

enum ResponseBody {
    Json(Value),
    Xml(String),
}

fn dispatch(
    shared: &Shared,
    req: &Request,
    region: Option<&str>,
) -> Result<ResponseBody, AwsError> {
    let (mut world, ctx) = shared.world_now(region);
    let world = &mut *world;
    match req {
        Request::Json { service, op, body } => {
            let v = match service {
                Service::Ecs => world.ecs_handle(&ctx, op, body),
                Service::Ecr => world.ecr.handle(&ctx, op, body, &world.secrets),
                Service::SecretsManager => world.secrets.handle(&ctx, op, body),
                Service::Logs => world.logs.handle(&ctx, op, body),
                Service::CloudMap => world.cloudmap.handle(&ctx, op, body),
                Service::Rds | Service::Sts => unreachable_service(*service),
            }?;
            Ok(ResponseBody::Json(v))
        }
        Request::Query {
            service,
            action,
            params,
            ..
        } => {
            let x = match service {
                Service::Rds => world.rds.handle(&ctx, action, params, &mut world.secrets),
                Service::Sts => crate::sts::handle(&ctx, action, params),
                _ => unreachable_service(*service),
            }?;
            Ok(ResponseBody::Xml(x))
        }
    }
}

fn unreachable_service<T>(service: Service) -> Result<T, AwsError> {
    Err(AwsError::new(
        500,
        "InternalFailure",
        format!("{} is not served over this protocol", service.name()),
    ))
}
