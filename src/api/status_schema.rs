//! Test-only: a status checked against its kind's generated CRD schema as
//! the API server validates it (required members, types, enums, lengths,
//! date-times; not regex patterns: status strings carry none berth does
//! not build itself), so every status a plan test produces is one the API server
//! accepts. The e2e test `status_schema` writes a representative set
//! through a real API server.

use kube::Resource;
use serde::Serialize;
use serde_json::{Map, Value};

/// Panics, naming each field, when `status` breaks the status schema of
/// kind `K`'s CRD.
pub fn assert_valid<K: Resource<DynamicType = ()>>(status: &impl Serialize, case: &str) {
    let kind = K::kind(&());
    let crd = super::crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .expect("a CRD for the kind");
    let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
    let schema = &schema["openAPIV3Schema"]["properties"]["status"];
    let status = serde_json::to_value(status).unwrap();
    let mut errors = Vec::new();
    check(schema, &status, "status", &mut errors);
    assert!(
        errors.is_empty(),
        "{kind} status of {case} breaks the CRD schema: {errors:#?}\n{status:#}"
    );
}

fn check(schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    if v.is_null() {
        if schema["nullable"] != Value::Bool(true) {
            errors.push(format!("{at}: null where the schema is not nullable"));
        }
        return;
    }
    if let Some(values) = schema["enum"].as_array() {
        if !values.contains(v) {
            errors.push(format!("{at}: {v} is not one of {values:?}"));
        }
    }
    match (schema["type"].as_str(), v) {
        (Some("object"), Value::Object(fields)) => object(schema, fields, at, errors),
        (Some("array"), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                check(&schema["items"], item, &format!("{at}[{i}]"), errors);
            }
        }
        (Some("string"), Value::String(s)) => string(schema, s, at, errors),
        (Some("integer"), Value::Number(n)) if n.is_i64() || n.is_u64() => {}
        (Some("number"), Value::Number(_)) | (Some("boolean"), Value::Bool(_)) => {}
        (None, _) => {}
        (Some(t), v) => errors.push(format!("{at}: {v} is not of type {t}")),
    }
}

fn object(schema: &Value, fields: &Map<String, Value>, at: &str, errors: &mut Vec<String>) {
    for name in schema["required"].as_array().into_iter().flatten() {
        let name = name.as_str().unwrap_or_default();
        if !fields.contains_key(name) {
            errors.push(format!("{at}.{name}: Required value"));
        }
    }
    for (name, v) in fields {
        let field = &schema["properties"][name];
        let member = match field.is_null() {
            true => &schema["additionalProperties"],
            false => field,
        };
        if member.is_null() && schema["x-kubernetes-preserve-unknown-fields"] != Value::Bool(true) {
            errors.push(format!(
                "{at}.{name}: not in the schema (the API server drops it)"
            ));
            continue;
        }
        check(member, v, &format!("{at}.{name}"), errors);
    }
}

fn string(schema: &Value, s: &str, at: &str, errors: &mut Vec<String>) {
    let chars = s.chars().count() as u64;
    if schema["maxLength"].as_u64().is_some_and(|max| chars > max) {
        errors.push(format!("{at}: longer than {}", schema["maxLength"]));
    }
    if schema["minLength"].as_u64().is_some_and(|min| chars < min) {
        errors.push(format!("{at}: shorter than {}", schema["minLength"]));
    }
    if schema["format"] == "date-time" && s.parse::<k8s_openapi::jiff::Timestamp>().is_err() {
        errors.push(format!("{at}: {s:?} is not a date-time"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ecs_service::{RolloutStatus, ServiceDeploymentStatus};
    use crate::api::EcsService;

    /// The checker catches what the API server refuses.
    #[test]
    fn the_checker_refuses_what_the_api_server_refuses() {
        let bad = serde_json::json!({
            "rollout": {"serviceDeployment": {"status": "IN_PROGRESS"}, "failedTasks": "two"},
            "conditions": [{"type": "Ready", "status": "True"}],
        });
        let schema_errors = std::panic::catch_unwind(|| assert_valid::<EcsService>(&bad, "bad"));
        let message = *schema_errors.unwrap_err().downcast::<String>().unwrap();
        for want in [
            "status.rollout.failedTasks",
            "status.conditions[0].reason: Required value",
            "status.conditions[0].lastTransitionTime: Required value",
        ] {
            assert!(message.contains(want), "{want} in {message}");
        }
        // A record whose ARN is not known yet is a valid status.
        let pending = crate::api::EcsServiceStatus {
            rollout: Some(RolloutStatus {
                service_deployment: Some(ServiceDeploymentStatus::default()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_valid::<EcsService>(&pending, "a record without its ARN");
    }
}
