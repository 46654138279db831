//! Deployment strategies (`deploymentConfiguration.strategy`): ROLLING,
//! BLUE_GREEN, LINEAR and CANARY, their settings, and the checks across
//! members that AWS documents for them. Member-level limits (enums, ranges)
//! are in the rules table (`rules/ecs.rs`); the checks here relate several
//! members, so each is a row of [`CROSS_RULES`] with the page it follows.

use serde_json::{json, Map, Value};

use crate::core::AwsResult;

use super::invalid;

/// The `deploymentConfiguration` members a strategy uses, kept apart from
/// the rolling ones the service already models.
pub const STRATEGY_MEMBERS: &[&str] = &[
    "strategy",
    "bakeTimeInMinutes",
    "lifecycleHooks",
    "linearConfiguration",
    "canaryConfiguration",
];

/// The lifecycle stages of a BLUE_GREEN, LINEAR or CANARY deployment in
/// order (API_ServiceDeployment.html `lifecycleStage`;
/// deployment-type-blue-green.html "Deployment lifecycle stages").
/// RECONCILE_SERVICE only happens "when you start a new service deployment
/// with more than 1 service revision in an ACTIVE state". The hook stage
/// PRE_PRODUCTION_TRAFFIC_SHIFT (API_DeploymentLifecycleHook.html) is not a
/// `lifecycleStage` value: while in it, the record shows
/// PRODUCTION_TRAFFIC_SHIFT.
pub const STAGES: &[&str] = &[
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
];

pub fn stage_index(name: &str) -> usize {
    STAGES.iter().position(|s| *s == name).unwrap_or(0)
}

/// What `lifecycleStage` shows for an internal stage.
pub fn shown_stage(index: usize) -> &'static str {
    match STAGES[index.min(STAGES.len() - 1)] {
        "PRE_PRODUCTION_TRAFFIC_SHIFT" => "PRODUCTION_TRAFFIC_SHIFT",
        s => s,
    }
}

/// The strategy members of a request merged over the service's current
/// ones; `None` when neither has any (a plain rolling service).
pub fn config(dc: Option<&Value>, current: Option<&Value>) -> Option<Value> {
    let mut out: Map<String, Value> = current
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(dc) = dc.and_then(Value::as_object) {
        for m in STRATEGY_MEMBERS {
            if let Some(v) = dc.get(*m) {
                out.insert((*m).to_string(), v.clone());
            }
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

const DEP_CONFIG: &str =
    "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentConfiguration.html";
const HOOK: &str =
    "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentLifecycleHook.html";
const LINEAR: &str =
    "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_LinearConfiguration.html";
const CANARY: &str =
    "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CanaryConfiguration.html";
const ALB_BLUE_GREEN: &str =
    "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/alb-resources-for-blue-green.html";

/// A check across members: `violated(strategy config, load balancers)`.
pub struct CrossRule {
    pub violated: fn(&Value, &Value) -> bool,
    pub message: &'static str,
    pub source: &'static str,
}

fn strategy(c: &Value) -> &str {
    c.get("strategy")
        .and_then(Value::as_str)
        .unwrap_or("ROLLING")
}

fn hooks(c: &Value) -> impl Iterator<Item = &Value> {
    c.get("lifecycleHooks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn target_type(h: &Value) -> &str {
    // "If not specified, the default value is AWS_LAMBDA."
    h.get("targetType")
        .and_then(Value::as_str)
        .unwrap_or("AWS_LAMBDA")
}

/// A multiple of 0.1 within `lo..=hi`.
fn tenths_outside(v: Option<&Value>, lo: f64, hi: f64) -> bool {
    let Some(x) = v.and_then(Value::as_f64) else {
        return false;
    };
    let tenths = x * 10.0;
    x < lo || x > hi || (tenths - tenths.round()).abs() > 1e-6
}

pub static CROSS_RULES: &[CrossRule] = &[
    // linearConfiguration: "Only valid when the deployment strategy is
    // LINEAR."
    CrossRule {
        violated: |c, _| c.get("linearConfiguration").is_some() && strategy(c) != "LINEAR",
        message: "linearConfiguration is only valid when the deployment strategy is LINEAR.",
        source: DEP_CONFIG,
    },
    // canaryConfiguration: "Only valid when the deployment strategy is
    // CANARY."
    CrossRule {
        violated: |c, _| c.get("canaryConfiguration").is_some() && strategy(c) != "CANARY",
        message: "canaryConfiguration is only valid when the deployment strategy is CANARY.",
        source: DEP_CONFIG,
    },
    // bakeTimeInMinutes: "You must provide this parameter when you use the
    // BLUE_GREEN deployment strategy."
    CrossRule {
        violated: |c, _| strategy(c) == "BLUE_GREEN" && c.get("bakeTimeInMinutes").is_none(),
        message: "bakeTimeInMinutes must be specified for the BLUE_GREEN deployment strategy.",
        source: DEP_CONFIG,
    },
    // lifecycleStages: "You must provide this parameter when configuring a
    // deployment lifecycle hook."
    CrossRule {
        violated: |c, _| {
            hooks(c).any(|h| {
                h.get("lifecycleStages")
                    .and_then(Value::as_array)
                    .is_none_or(|a| a.is_empty())
            })
        },
        message: "lifecycleStages must be specified for a deployment lifecycle hook.",
        source: HOOK,
    },
    // hookTargetArn: "You must provide this parameter when configuring an
    // AWS_LAMBDA lifecycle hook."
    CrossRule {
        violated: |c, _| {
            hooks(c).any(|h| target_type(h) == "AWS_LAMBDA" && h.get("hookTargetArn").is_none())
        },
        message: "hookTargetArn must be specified for an AWS_LAMBDA lifecycle hook.",
        source: HOOK,
    },
    // "PAUSE hooks cannot be configured at TEST_TRAFFIC_SHIFT or
    // PRODUCTION_TRAFFIC_SHIFT stages."
    CrossRule {
        violated: |c, _| {
            hooks(c).any(|h| {
                target_type(h) == "PAUSE"
                    && h.get("lifecycleStages")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|s| {
                            s.as_str()
                                .is_some_and(|s| s == "TEST_TRAFFIC_SHIFT" || s == "PRODUCTION_TRAFFIC_SHIFT")
                        })
            })
        },
        message: "PAUSE hooks cannot be configured at TEST_TRAFFIC_SHIFT or PRODUCTION_TRAFFIC_SHIFT stages.",
        source: HOOK,
    },
    // stepPercent: "Valid values are multiples of 0.1 from 3.0 to 100.0."
    CrossRule {
        violated: |c, _| tenths_outside(c.pointer("/linearConfiguration/stepPercent"), 3.0, 100.0),
        message: "linearConfiguration.stepPercent must be a multiple of 0.1 from 3.0 to 100.0.",
        source: LINEAR,
    },
    // canaryPercent: "Valid values are multiples of 0.1 from 0.1 to 100.0."
    CrossRule {
        violated: |c, _| tenths_outside(c.pointer("/canaryConfiguration/canaryPercent"), 0.1, 100.0),
        message: "canaryConfiguration.canaryPercent must be a multiple of 0.1 from 0.1 to 100.0.",
        source: CANARY,
    },
    // Managed traffic shifting with a load balancer needs the alternate
    // target group and the production listener rule (and the
    // infrastructure role that lets ECS change them): the load balancer's
    // `advancedConfiguration`.
    CrossRule {
        violated: |c, lbs| {
            strategy(c) != "ROLLING"
                && lbs.as_array().into_iter().flatten().any(|lb| {
                    lb.get("targetGroupArn").is_some()
                        && ["alternateTargetGroupArn", "productionListenerRule", "roleArn"]
                            .iter()
                            .any(|m| lb.pointer(&format!("/advancedConfiguration/{m}")).is_none())
                })
        },
        message: "advancedConfiguration with alternateTargetGroupArn, productionListenerRule and roleArn is required on load balancers for BLUE_GREEN, LINEAR and CANARY deployments.",
        source: ALB_BLUE_GREEN,
    },
];

/// Applies [`CROSS_RULES`]; ECS answers `InvalidParameterException`.
pub fn validate(config: Option<&Value>, load_balancers: &Value) -> AwsResult<()> {
    let empty = json!({});
    let c = config.unwrap_or(&empty);
    for r in CROSS_RULES {
        if (r.violated)(c, load_balancers) {
            return Err(invalid(r.message));
        }
    }
    Ok(())
}

/// Minutes of a setting, with the documented default.
pub fn minutes(c: &Value, pointer: &str, default: f64) -> f64 {
    c.pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or(default)
}

/// The production traffic percentage after the next shift step from `w`:
/// BLUE_GREEN shifts everything at once; LINEAR by `stepPercent` (default
/// 10.0); CANARY `canaryPercent` (default 5.0) first, then the rest
/// (API_LinearConfiguration.html, API_CanaryConfiguration.html).
pub fn next_weight(c: &Value, w: f64) -> f64 {
    match strategy(c) {
        "LINEAR" => (w + minutes(c, "/linearConfiguration/stepPercent", 10.0)).min(100.0),
        "CANARY" if w == 0.0 => minutes(c, "/canaryConfiguration/canaryPercent", 5.0).min(100.0),
        _ => 100.0,
    }
}

/// Seconds to wait after a shift step that left `w` < 100: LINEAR
/// `stepBakeTimeInMinutes` (default 6), CANARY `canaryBakeTimeInMinutes`
/// (default 10). "This bake time is not applied after reaching 100
/// percent traffic."
pub fn step_bake_seconds(c: &Value) -> f64 {
    60.0 * match strategy(c) {
        "LINEAR" => minutes(c, "/linearConfiguration/stepBakeTimeInMinutes", 6.0),
        "CANARY" => minutes(c, "/canaryConfiguration/canaryBakeTimeInMinutes", 10.0),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cross_rule_cites_a_page() {
        for r in CROSS_RULES {
            assert!(r.source.starts_with("https://docs.aws.amazon.com/"));
        }
    }

    #[test]
    fn linear_and_canary_steps() {
        let l = json!({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 25.0}});
        assert_eq!(next_weight(&l, 0.0), 25.0);
        assert_eq!(next_weight(&l, 75.0), 100.0);
        let c = json!({"strategy": "CANARY"});
        assert_eq!(next_weight(&c, 0.0), 5.0);
        assert_eq!(next_weight(&c, 5.0), 100.0);
        assert!(tenths_outside(Some(&json!(2.9)), 3.0, 100.0));
        assert!(!tenths_outside(Some(&json!(12.5)), 3.0, 100.0));
        assert!(tenths_outside(Some(&json!(12.55)), 3.0, 100.0));
    }
}
