//! `docs/api-reference.md`, rendered from the CRD schemas that API servers
//! enforce rather than written by hand, so the reference cannot promise a
//! default or a limit the schema does not have. `tests/docs.rs` fails when
//! the checked-in file differs from [`markdown`].

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

/// The whole of `docs/api-reference.md`.
pub fn markdown() -> String {
    let crds = super::crds();
    let mut out = format!(
        "# API reference\n\n\
         <!-- Generated from the CRD schemas by berth::api::reference::markdown. \
         Do not edit: run BERTH_UPDATE_DOCS=1 cargo test -p berth --test docs -->\n\n\
         Group `{}`, version `{}`; every kind is namespaced and in the `{}` category \
         (`kubectl get {}` lists them all). This page lists every field of `spec` and \
         `status` as the CRDs in [`crds/`](../crds/) declare it. Paths use `[]` for the \
         items of a list. The validation column is what the API server checks when an \
         object is applied; the CEL rules under each kind need Kubernetes 1.25 or newer, \
         and berth checks the same rules itself before any AWS call (reason `InvalidSpec`, \
         see [conditions](conditions.md)). berth never writes `spec`; it writes only `status`.\n\n",
        super::GROUP,
        super::VERSION,
        super::CATEGORY,
        super::CATEGORY,
    );
    for crd in &crds {
        let kind = &crd.spec.names.kind;
        out.push_str(&format!("- [{kind}](#{})\n", kind.to_lowercase()));
    }
    for crd in &crds {
        out.push('\n');
        out.push_str(&kind_section(crd));
    }
    out
}

fn kind_section(crd: &CustomResourceDefinition) -> String {
    let names = &crd.spec.names;
    let version = &crd.spec.versions[0];
    let schema = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .map(|s| serde_json::to_value(s).expect("a schema always serializes"))
        .unwrap_or_default();
    let short = names.short_names.clone().unwrap_or_default().join("`, `");
    let mut out = format!("## {}\n\n", names.kind);
    if let Some(description) = schema["description"].as_str() {
        out.push_str(&format!("{}.\n\n", one_line(description)));
    }
    out.push_str(&format!(
        "`kubectl get {}` (short name `{short}`).",
        names.plural
    ));
    if let Some(columns) = &version.additional_printer_columns {
        let columns: Vec<String> = columns
            .iter()
            .map(|c| format!("{} (`{}`)", c.name.to_uppercase(), c.json_path))
            .collect();
        out.push_str(&format!(" Columns: {}.", columns.join(", ")));
    }
    out.push('\n');
    let mut rules = Vec::new();
    for part in ["spec", "status"] {
        let Some(sub) = schema["properties"].get(part) else {
            continue;
        };
        let mut rows = Vec::new();
        walk(part, sub, is_required(&schema, part), &mut rows, &mut rules);
        out.push_str(&format!(
            "\n### {part}\n\n| field | type | default | validation | description |\n|---|---|---|---|---|\n"
        ));
        for row in rows {
            out.push_str(&row);
        }
    }
    if !rules.is_empty() {
        out.push_str("\n### CEL rules\n\n");
        for rule in rules {
            out.push_str(&rule);
        }
    }
    out
}

/// Appends a table row for `schema` at `path` and for everything under it;
/// its CEL rules go to `rules`, which render better as a list than in a cell.
fn walk(
    path: &str,
    schema: &Value,
    required: bool,
    rows: &mut Vec<String>,
    rules: &mut Vec<String>,
) {
    let items = &schema["items"];
    let mut checks = Vec::new();
    if required {
        checks.push("required".to_string());
    }
    checks.extend(limits(schema));
    if items.is_object() && items["properties"].is_null() {
        checks.extend(limits(items).into_iter().map(|c| format!("each: {c}")));
    }
    if let Some(values) = schema["additionalProperties"].as_object() {
        let values = Value::Object(values.clone());
        checks.extend(
            limits(&values)
                .into_iter()
                .map(|c| format!("each value: {c}")),
        );
    }
    let before = rules.len();
    rules.extend(rule_list(path, schema));
    rules.extend(rule_list(&format!("{path}[]"), items));
    if rules.len() > before {
        checks.push("CEL rules below".into());
    }
    let default = match &schema["default"] {
        Value::Null => String::new(),
        Value::String(s) => code(s),
        other => code(&other.to_string()),
    };
    rows.push(format!(
        "| `{path}` | {} | {default} | {} | {} |\n",
        type_name(schema),
        checks.join("; "),
        schema["description"]
            .as_str()
            .map(one_line)
            .unwrap_or_default()
            .replace('|', "\\|"),
    ));
    let (inner, prefix) = if items["properties"].is_object() {
        (items, format!("{path}[]"))
    } else {
        (schema, path.to_string())
    };
    if let Some(properties) = inner["properties"].as_object() {
        for (name, child) in properties {
            let child_path = format!("{prefix}.{name}");
            walk(&child_path, child, is_required(inner, name), rows, rules);
        }
    }
}

fn is_required(schema: &Value, field: &str) -> bool {
    schema["required"]
        .as_array()
        .is_some_and(|r| r.iter().any(|f| f == field))
}

fn type_name(schema: &Value) -> String {
    match schema["type"].as_str() {
        Some("array") => format!("[]{}", type_name(&schema["items"])),
        Some("object") if schema["additionalProperties"].is_object() => {
            format!("map[string]{}", type_name(&schema["additionalProperties"]))
        }
        Some(t) => match schema["format"].as_str() {
            Some(format) => format!("{t} ({format})"),
            None => t.to_string(),
        },
        None if schema["x-kubernetes-int-or-string"] == true => "int-or-string".into(),
        None => "any".into(),
    }
}

/// The schema's own checks, one short phrase each.
fn limits(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values
            .iter()
            .map(|v| code(v.as_str().map_or(v.to_string(), str::to_string).as_str()))
            .collect();
        out.push(format!("one of {}", values.join(", ")));
    }
    for (key, phrase) in [
        ("minimum", "min"),
        ("maximum", "max"),
        ("minLength", "minLength"),
        ("maxLength", "maxLength"),
        ("minItems", "minItems"),
        ("maxItems", "maxItems"),
        ("minProperties", "minProperties"),
        ("maxProperties", "maxProperties"),
    ] {
        // The schema types bounds as floats; `min 1` reads better than `min 1.0`.
        if let Some(n) = schema.get(key).and_then(Value::as_f64) {
            let n = if n.fract() == 0.0 && n.abs() < 1e15 {
                (n as i64).to_string()
            } else {
                n.to_string()
            };
            out.push(format!("{phrase} {n}"));
        }
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        out.push(format!("pattern {}", code(pattern)));
    }
    if let Some(keys) = schema["x-kubernetes-list-map-keys"].as_array() {
        let keys: Vec<String> = keys.iter().filter_map(Value::as_str).map(code).collect();
        out.push(format!("unique by {}", keys.join(", ")));
    }
    out
}

fn rule_list(path: &str, schema: &Value) -> Vec<String> {
    schema["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            let field = v["fieldPath"]
                .as_str()
                .map(|f| format!(" (reported on `{path}{f}`)"))
                .unwrap_or_default();
            format!(
                "- on `{path}`{field}: {}\n  ```\n  {}\n  ```\n",
                v["message"].as_str().unwrap_or("rule failed"),
                v["rule"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A code span that stays one table cell: `|` escaped (GitHub tables split
/// on it even inside backticks), and a longer fence around inner backticks.
fn code(text: &str) -> String {
    let text = text.replace('|', "\\|");
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_and_field_is_listed() {
        let doc = markdown();
        for kind in [
            "EcsService",
            "MigrationJob",
            "AuroraCluster",
            "PullThroughCache",
        ] {
            assert!(doc.contains(&format!("## {kind}\n")), "{kind}");
        }
        assert!(doc.contains("| `spec.ecrRepositoryPrefix` | string |"));
        assert!(doc.contains("| `spec.taskDefinition.containers[].name` |"));
        assert!(doc.contains("| `status.conditions[].reason` |"));
        assert!(doc.contains("credentialArn is required for this upstream registry"));
    }

    #[test]
    fn cells_never_split_a_table_row() {
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("a`b"), "`` a`b ``");
        for line in markdown().lines().filter(|l| l.starts_with("| `")) {
            let cells = line.replace("\\|", "").matches('|').count();
            assert_eq!(cells, 6, "{line}");
        }
    }
}
