//! The control API (`/_awsim/...`, JSON): call accounting, state dumps,
//! seeding, the virtual clock, image behaviour and fault injection.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::faults::Faults;
use crate::images::ImageRule;
use crate::throttle::{aws, Rate, ThrottleProfile};
use crate::world::Seed;
use crate::Shared;

type S = State<Arc<Shared>>;

pub const ENDPOINTS: &str = "  GET  /_awsim/health                  liveness
  GET  /_awsim/calls[?caller=NAME]     call counts per service and action (and per caller)
  GET  /_awsim/calls/log[?caller=NAME&since=SEQ]  ordered call log with key parameters
  POST /_awsim/calls/reset             forget all recorded calls
  GET  /_awsim/state                   the whole simulated state as JSON
  POST /_awsim/seed                    {clusters, namespaces:[{name,vpc}], secrets:[{name,value}],
                                        repositories, subnetsWithoutEgress, imageRules}
  GET  /_awsim/clock                   {now, timeScale}
  POST /_awsim/clock/advance           {seconds}
  POST /_awsim/clock/scale             {timeScale}
  GET  /_awsim/images                  image behaviour rules
  POST /_awsim/images                  {image, prefix?, exitCode?, runSeconds?, unhealthy?, crashLoop?,
                                        pullFailure?, logLines?}
  POST /_awsim/images/reset            remove all image rules
  GET  /_awsim/faults                  fault settings and throttle overrides
  POST /_awsim/faults                  merge {pullFailures?, subnetsWithoutEgress?, errorRate?, latencyMs? (N | \"MIN-MAX\"),
                                        loseResponses?: {\"ecs:CreateService\": N},
                                        throttle?: {\"ecs:DescribeServices\": {rate, burst} | null}}
  POST /_awsim/faults/lose             {action: \"ecs:CreateService\", count}: commit the next COUNT successful
                                        calls, then answer them with the service's 5xx (outcome \"lost\")
  POST /_awsim/faults/reset            clear faults, image rules and throttle overrides
  GET  /_awsim/throttle                {enabled, profile, scale, overrides, categories}: the AWS profile's table
  POST /_awsim/throttle                {profile: \"default\" | \"aws\"}: switch profile (buckets start full)
  GET  /_awsim/alarms                  CloudWatch alarm states {name: state}
  POST /_awsim/alarms                  {name, state: \"ALARM\" | \"OK\"}: set an alarm that ECS deployment
                                        alarms (deploymentConfiguration.alarms) watch";

pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/health", get(|| async { Json(json!({"ok": true})) }))
        .route("/calls", get(calls))
        .route("/calls/log", get(call_log))
        .route("/calls/reset", post(reset_calls))
        .route("/state", get(state))
        .route("/seed", post(seed))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance))
        .route("/clock/scale", post(scale))
        .route("/images", get(images).post(add_image))
        .route("/images/reset", post(reset_images))
        .route("/faults", get(faults).post(set_faults))
        .route("/faults/lose", post(lose_responses))
        .route("/faults/reset", post(reset_faults))
        .route("/throttle", get(throttle).post(set_throttle))
        .route("/alarms", get(alarms).post(set_alarm))
}

#[derive(Deserialize)]
struct CallsQuery {
    caller: Option<String>,
    since: Option<u64>,
}

async fn calls(State(s): S, Query(q): Query<CallsQuery>) -> Json<Value> {
    Json(s.calls().counts(q.caller.as_deref()))
}

async fn call_log(State(s): S, Query(q): Query<CallsQuery>) -> Json<Value> {
    let calls = s.calls();
    let log = calls.log(q.caller.as_deref(), q.since.unwrap_or(0));
    Json(serde_json::to_value(log).unwrap_or(Value::Null))
}

async fn reset_calls(State(s): S) -> Json<Value> {
    s.calls().reset();
    Json(json!({"ok": true}))
}

async fn state(State(s): S) -> Response {
    let (world, _) = s.world_now(None);
    match serde_json::to_value(&*world) {
        Ok(v) => Json(v).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn seed(State(s): S, Json(seed): Json<Seed>) -> Json<Value> {
    let (mut world, ctx) = s.world_now(None);
    Json(serde_json::to_value(world.seed(&ctx, &seed)).unwrap_or(Value::Null))
}

fn clock_json(s: &Shared) -> Json<Value> {
    Json(json!({"now": s.clock.now(), "timeScale": s.clock.scale()}))
}

async fn clock(State(s): S) -> Json<Value> {
    clock_json(&s)
}

#[derive(Deserialize)]
struct Advance {
    seconds: f64,
}

async fn advance(State(s): S, Json(a): Json<Advance>) -> Json<Value> {
    s.clock.advance(a.seconds);
    drop(s.world_now(None));
    clock_json(&s)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Scale {
    time_scale: f64,
}

async fn scale(State(s): S, Json(a): Json<Scale>) -> Json<Value> {
    s.clock.set_scale(a.time_scale);
    clock_json(&s)
}

async fn images(State(s): S) -> Json<Value> {
    Json(serde_json::to_value(&s.world().faults.image_rules).unwrap_or(Value::Null))
}

async fn add_image(State(s): S, Json(rule): Json<ImageRule>) -> Json<Value> {
    let mut w = s.world();
    w.faults.image_rules.push(rule);
    Json(serde_json::to_value(&w.faults.image_rules).unwrap_or(Value::Null))
}

async fn reset_images(State(s): S) -> Json<Value> {
    s.world().faults.image_rules.clear();
    Json(json!({"ok": true}))
}

fn faults_json(s: &Shared) -> Json<Value> {
    let faults = serde_json::to_value(&s.world().faults).unwrap_or(Value::Null);
    let throttle = serde_json::to_value(s.throttle().overrides()).unwrap_or(Value::Null);
    Json(json!({"faults": faults, "throttle": throttle}))
}

async fn faults(State(s): S) -> Json<Value> {
    faults_json(&s)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct FaultPatch {
    pull_failures: Option<Vec<String>>,
    subnets_without_egress: Option<Vec<String>>,
    error_rate: Option<f64>,
    latency_ms: Option<crate::faults::Latency>,
    lose_responses: BTreeMap<String, u32>,
    throttle: BTreeMap<String, Option<Rate>>,
}

async fn set_faults(State(s): S, Json(p): Json<FaultPatch>) -> Json<Value> {
    {
        let mut w = s.world();
        let f = &mut w.faults;
        if let Some(v) = p.pull_failures {
            f.pull_failures = v;
        }
        if let Some(v) = p.subnets_without_egress {
            f.subnets_without_egress = v.into_iter().collect();
        }
        if let Some(v) = p.error_rate {
            f.error_rate = v.clamp(0.0, 1.0);
        }
        if let Some(v) = p.latency_ms {
            f.latency_ms = v;
        }
        for (k, n) in p.lose_responses {
            if n == 0 {
                f.lose_responses.remove(&k);
            } else {
                f.lose_responses.insert(k, n);
            }
        }
    }
    {
        let mut t = s.throttle();
        for (k, r) in p.throttle {
            t.set_override(&k, r);
        }
    }
    faults_json(&s)
}

#[derive(Deserialize)]
struct Lose {
    action: String,
    count: u32,
}

async fn lose_responses(State(s): S, Json(l): Json<Lose>) -> Json<Value> {
    {
        let mut w = s.world();
        if l.count == 0 {
            w.faults.lose_responses.remove(&l.action);
        } else {
            w.faults.lose_responses.insert(l.action, l.count);
        }
    }
    faults_json(&s)
}

async fn reset_faults(State(s): S) -> Json<Value> {
    s.world().faults = Faults::default();
    s.throttle().clear_overrides();
    faults_json(&s)
}

fn throttle_json(s: &Shared) -> Json<Value> {
    let t = s.throttle();
    Json(json!({
        "enabled": t.enabled,
        "profile": t.profile(),
        "scale": t.scale,
        "overrides": t.overrides(),
        "categories": aws::CATEGORIES,
    }))
}

async fn throttle(State(s): S) -> Json<Value> {
    throttle_json(&s)
}

#[derive(Deserialize)]
struct ThrottlePatch {
    profile: ThrottleProfile,
}

async fn set_throttle(State(s): S, Json(p): Json<ThrottlePatch>) -> Json<Value> {
    s.throttle().set_profile(p.profile);
    throttle_json(&s)
}

fn alarms_json(s: &Shared) -> Json<Value> {
    Json(json!(s.world().ecs.alarm_states))
}

async fn alarms(State(s): S) -> Json<Value> {
    alarms_json(&s)
}

#[derive(Deserialize)]
struct AlarmPatch {
    name: String,
    state: String,
}

async fn set_alarm(State(s): S, Json(p): Json<AlarmPatch>) -> Response {
    if !matches!(p.state.as_str(), "ALARM" | "OK" | "INSUFFICIENT_DATA") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "state must be ALARM, OK or INSUFFICIENT_DATA"})),
        )
            .into_response();
    }
    crate::set_alarm(&s, &p.name, &p.state);
    alarms_json(&s).into_response()
}
