//! The Argo CD health checks in `integrations/argocd/resource_customizations`
//! (argo-cd's own layout: `<group>/<Kind>/health.lua`, `health_test.yaml`,
//! `testdata/`), run as Argo CD runs them: every `health_test.yaml` case
//! through a real Lua 5.1 interpreter, the object as the global `obj`, and
//! the returned status and message compared exactly.
//!
//! Argo CD runs an argocd-cm health script in gopher-lua with only the base
//! and table libraries (unless `resource.customizations.useOpenLibs` is set),
//! so the scripts run here with exactly those: a script that calls
//! `string.*` fails.
//!
//! The testdata must look like what berth writes: every object matches its
//! CRD schema, its status survives a round trip through berth's status
//! struct unchanged (no misspelt or invented fields), every condition reason
//! is one of `Reason::ALL` and every message passes berth's message rules.
//!
//! The resource actions in `<group>/<Kind>/actions/` (`discovery.lua`,
//! `<action>/action.lua`, `action_test.yaml`, `testdata/`) run as argo-cd's
//! own `TestLuaResourceActionsScript` runs them, but with the libraries the
//! API server gives them (base, table, package and a safe `os` with only
//! `date` and `time`); the clock is stubbed so outputs are exact. The action
//! testdata is held to the same "what berth writes" rules.
//!
//! `integrations/argocd/argocd-cm.yaml` is generated from the scripts:
//! `BERTH_UPDATE_ARGOCD=1 cargo test --test argocd_health` rewrites it.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use berth::api::conditions::TYPES;
use berth::api::reasons::{message_problem, Reason};
use berth::api::{self, AuroraCluster, EcsService, MigrationJob, PullThroughCache};
use mlua::{Lua, LuaOptions, StdLib};
use serde::Deserialize;
use serde_json::Value;

#[path = "argocd_health/actions.rs"]
mod actions;
use actions::*;
#[path = "argocd_health/lua.rs"]
mod lua;
use lua::{run_health, to_lua, HealthStatus};

const KINDS: [&str; 4] = [
    "EcsService",
    "MigrationJob",
    "AuroraCluster",
    "PullThroughCache",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn kind_dir(kind: &str) -> PathBuf {
    root()
        .join("integrations/argocd/resource_customizations")
        .join(api::GROUP)
        .join(kind)
}

#[derive(Deserialize)]
struct HealthTests {
    tests: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Case {
    health_status: HealthStatus,
    input_path: String,
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load_yaml(path: &Path) -> Value {
    let yaml: serde_yaml::Value = serde_yaml::from_str(&read(path))
        .unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()));
    serde_json::to_value(yaml).unwrap()
}

fn cases(kind: &str) -> Vec<Case> {
    let path = kind_dir(kind).join("health_test.yaml");
    let tests: HealthTests =
        serde_yaml::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    tests.tests
}

#[test]
fn health_checks_match_their_test_cases() {
    let mut failures = Vec::new();
    let mut count = 0;
    for kind in KINDS {
        let dir = kind_dir(kind);
        let script = read(&dir.join("health.lua"));
        for case in cases(kind) {
            count += 1;
            let obj = load_yaml(&dir.join(&case.input_path));
            let name = format!("{kind}/health.lua");
            match run_health(&script, &name, &obj) {
                Ok(got) if got == case.health_status => {}
                Ok(got) => failures.push(format!(
                    "{kind} {}: want {:?}, got {:?}",
                    case.input_path, case.health_status, got
                )),
                Err(e) => failures.push(format!("{kind} {}: script failed: {e}", case.input_path)),
            }
        }
    }
    assert!(count >= 24, "only {count} health test cases");
    assert!(
        failures.is_empty(),
        "{} of {count} health cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The script fails loudly, not with a wrong answer, when it uses a library
/// Argo CD does not open for argocd-cm scripts.
#[test]
fn scripts_run_without_the_string_library() {
    let obj = serde_json::json!({"metadata": {"name": "x"}});
    let err = run_health("return { status = string.lower('Healthy') }", "t", &obj)
        .expect_err("string.lower must be missing");
    assert!(err.contains("string"), "{err}");
    for kind in KINDS {
        let script = read(&kind_dir(kind).join("health.lua"));
        for lib in [
            "string.", "os.", "io.", "math.", ":sub(", ":format(", ":find(",
        ] {
            assert!(!script.contains(lib), "{kind}/health.lua uses {lib}");
        }
    }
}

/// Every kind has a case for each state a user can see, and every testdata
/// file is used by a case.
#[test]
fn every_state_has_a_case() {
    for kind in KINDS {
        let cases = cases(kind);
        let statuses: BTreeSet<&str> = cases
            .iter()
            .map(|c| c.health_status.status.as_str())
            .collect();
        for want in ["Healthy", "Progressing", "Degraded", "Suspended"] {
            assert!(statuses.contains(want), "{kind}: no {want} case");
        }
        let used: BTreeSet<String> = cases
            .iter()
            .map(|c| c.input_path.trim_start_matches("testdata/").to_string())
            .collect();
        let mut files = BTreeSet::new();
        for entry in fs::read_dir(kind_dir(kind).join("testdata")).unwrap() {
            files.insert(entry.unwrap().file_name().to_string_lossy().into_owned());
        }
        assert_eq!(
            used, files,
            "{kind}: testdata files and health_test.yaml cases differ"
        );
        for c in &cases {
            assert!(
                !c.health_status.message.trim().is_empty(),
                "{kind} {}: empty expected message",
                c.input_path
            );
        }
        // The states the rules single out.
        let path_of = |status: &str, part: &str| {
            cases
                .iter()
                .any(|c| c.health_status.status == status && c.input_path.contains(part))
        };
        assert!(
            path_of("Progressing", "noStatus"),
            "{kind}: no case without status"
        );
        assert!(
            path_of("Progressing", "stale"),
            "{kind}: no case of a stale status"
        );
        // A fix just pushed for a Degraded object: Progressing until berth
        // has looked at it, as Argo CD's own Deployment check.
        assert!(
            path_of("Progressing", "degradedStale"),
            "{kind}: no case of a Degraded status of an older generation"
        );
    }
    let mj = cases("MigrationJob");
    for part in ["running", "succeeded", "failed", "invalidSpec"] {
        assert!(
            mj.iter().any(|c| c.input_path.contains(part)),
            "MigrationJob: no {part} case"
        );
    }
}

fn spec_problem(kind: &str, obj: &Value) -> Result<Option<String>, String> {
    let o = obj.clone();
    let invalid = match kind {
        "EcsService" => serde_json::from_value::<EcsService>(o)
            .map_err(|e| e.to_string())?
            .validate(),
        "MigrationJob" => serde_json::from_value::<MigrationJob>(o)
            .map_err(|e| e.to_string())?
            .spec
            .validate(),
        "AuroraCluster" => serde_json::from_value::<AuroraCluster>(o)
            .map_err(|e| e.to_string())?
            .validate(),
        "PullThroughCache" => serde_json::from_value::<PullThroughCache>(o)
            .map_err(|e| e.to_string())?
            .spec
            .validate(),
        other => panic!("unknown kind {other}"),
    };
    Ok(invalid.err().map(|e| e.to_string()))
}

fn status_round_trip(kind: &str, status: &Value) -> Result<Value, String> {
    fn again<S: serde::de::DeserializeOwned + serde::Serialize>(
        v: &Value,
    ) -> Result<Value, String> {
        let typed: S = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        serde_json::to_value(typed).map_err(|e| e.to_string())
    }
    match kind {
        "EcsService" => again::<api::EcsServiceStatus>(status),
        "MigrationJob" => again::<api::MigrationJobStatus>(status),
        "AuroraCluster" => again::<api::AuroraClusterStatus>(status),
        "PullThroughCache" => again::<api::PullThroughCacheStatus>(status),
        other => panic!("unknown kind {other}"),
    }
}

/// The testdata objects are what berth writes, not what a health check
/// author imagines it writes.
#[test]
fn testdata_is_what_berth_writes() {
    let mut problems = Vec::new();
    for kind in KINDS {
        let validator = crd_validator(kind);
        for case in cases(kind) {
            let at = format!("{kind} {}", case.input_path);
            let obj = load_yaml(&kind_dir(kind).join(&case.input_path));
            for p in object_problems(kind, &validator, &obj) {
                problems.push(format!("{at}: {p}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn crd_validator(kind: &str) -> jsonschema::Validator {
    let crd = api::crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap();
    let schema = serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .unwrap(),
    )
    .unwrap();
    jsonschema::draft7::new(&schema).expect("the CRD schema compiles")
}

/// What makes `obj` something berth would not have written: the schema,
/// the status round trip, condition types, reasons and messages, and
/// `InvalidSpec` exactly when berth's validation rejects the spec.
fn object_problems(kind: &str, validator: &jsonschema::Validator, obj: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if obj["apiVersion"] != format!("{}/{}", api::GROUP, api::VERSION) || obj["kind"] != kind {
        problems.push(format!(
            "apiVersion/kind {} {}",
            obj["apiVersion"], obj["kind"]
        ));
    }
    for e in validator.iter_errors(obj) {
        problems.push(format!("schema: {} at {}", e, e.instance_path()));
    }
    if !obj["metadata"]["generation"].is_i64() {
        problems.push("metadata.generation is missing".into());
    }
    let invalid = match spec_problem(kind, obj) {
        Ok(invalid) => invalid,
        Err(e) => {
            problems.push(format!("does not decode: {e}"));
            return problems;
        }
    };
    let Some(status) = obj.get("status") else {
        if invalid.is_some() {
            problems.push(format!("invalid spec: {invalid:?}"));
        }
        return problems;
    };
    match status_round_trip(kind, status) {
        Ok(again) if &again == status => {}
        Ok(again) => problems.push(format!(
            "status changes in a round trip through {kind}Status:\n  file: {status}\n  berth: {again}"
        )),
        Err(e) => problems.push(format!("status does not decode: {e}")),
    }
    let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
    let types: Vec<&str> = conditions
        .iter()
        .map(|c| c["type"].as_str().unwrap_or(""))
        .collect();
    if types != TYPES {
        problems.push(format!("condition types {types:?}, berth writes {TYPES:?}"));
    }
    for c in &conditions {
        let reason = c["reason"].as_str().unwrap_or("");
        let message = c["message"].as_str().unwrap_or("");
        match Reason::parse(reason) {
            None => problems.push(format!("reason {reason:?} is not in src/api/reasons.rs")),
            Some(r) => {
                if let Some(p) = message_problem(r, message) {
                    problems.push(format!("{reason}: {p}: {message:?}"));
                }
            }
        }
        if c["observedGeneration"] != status["observedGeneration"] {
            problems.push("a condition's observedGeneration differs from the status's".into());
        }
    }
    // InvalidSpec carries berth's own validation message; no other
    // object has an invalid spec.
    let degraded = conditions.iter().find(|c| c["type"] == "Degraded");
    let invalid_spec = degraded.is_some_and(|d| d["reason"] == "InvalidSpec");
    match (&invalid, invalid_spec) {
        (None, false) => {}
        (Some(message), true) => {
            if degraded.unwrap()["message"] != message.as_str() {
                problems.push(format!("InvalidSpec message is not berth's {message:?}"));
            }
        }
        (Some(message), false) => problems.push(format!("invalid spec: {message}")),
        (None, true) => problems.push("InvalidSpec, but the spec is valid".into()),
    }
    problems
}

/// The argocd-cm data keys, `resource.customizations.health.<group>_<Kind>`,
/// each holding its health.lua.
fn argocd_cm() -> String {
    let mut out = String::from(
        "# Generated by tests/argocd_health.rs from integrations/argocd/resource_customizations/\n\
         # berth.dev/*/health.lua and berth.dev/*/actions/. Do not edit:\n\
         # change the scripts, then run BERTH_UPDATE_ARGOCD=1 cargo test --test argocd_health.\n\
         # Merge into Argo CD's argocd-cm ConfigMap (docs/argocd-flux.md), e.g.\n\
         #   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file integrations/argocd/argocd-cm.yaml\n\
         apiVersion: v1\n\
         kind: ConfigMap\n\
         metadata:\n\
         \x20 name: argocd-cm\n\
         \x20 namespace: argocd\n\
         \x20 labels:\n\
         \x20   app.kubernetes.io/name: argocd-cm\n\
         \x20   app.kubernetes.io/part-of: argocd\n\
         data:\n",
    );
    for kind in KINDS {
        let script = read(&kind_dir(kind).join("health.lua"));
        assert!(
            script.ends_with('\n') && !script.ends_with("\n\n"),
            "{kind}/health.lua must end with exactly one newline"
        );
        assert!(
            !script.contains('\t') && script.lines().all(|l| l == l.trim_end()),
            "{kind}/health.lua: tabs or trailing spaces do not survive a YAML block"
        );
        out.push_str(&format!(
            "  resource.customizations.health.{}_{kind}: |\n",
            api::GROUP
        ));
        for line in script.lines() {
            if line.is_empty() {
                out.push('\n');
            } else {
                out.push_str(&format!("    {line}\n"));
            }
        }
    }
    for kind in KINDS {
        out.push_str(&format!(
            "  resource.customizations.actions.{}_{kind}: |\n",
            api::GROUP
        ));
        out.push_str("    discovery.lua: |\n");
        push_block(&mut out, &kind_dir(kind).join("actions/discovery.lua"), 6);
        out.push_str("    definitions:\n");
        for action in action_names(kind) {
            out.push_str(&format!("    - name: {action}\n      action.lua: |\n"));
            push_block(&mut out, &action_script_path(kind, &action), 8);
        }
    }
    out
}

/// Appends the script at `path` as a YAML block indented by `indent`.
fn push_block(out: &mut String, path: &Path, indent: usize) {
    let script = read(path);
    let at = path.display();
    assert!(
        script.ends_with('\n') && !script.ends_with("\n\n"),
        "{at} must end with exactly one newline"
    );
    assert!(
        !script.contains('\t') && script.lines().all(|l| l == l.trim_end()),
        "{at}: tabs or trailing spaces do not survive a YAML block"
    );
    for line in script.lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            out.push_str(&format!("{:indent$}{line}\n", ""));
        }
    }
}

#[test]
fn argocd_cm_snippet_is_up_to_date() {
    let want = argocd_cm();
    // The snippet parses back to exactly the scripts.
    let parsed: serde_yaml::Value = serde_yaml::from_str(&want).unwrap();
    for kind in KINDS {
        let key = format!("resource.customizations.health.{}_{kind}", api::GROUP);
        assert_eq!(
            parsed["data"][key.as_str()].as_str(),
            Some(read(&kind_dir(kind).join("health.lua")).as_str()),
            "{key} does not hold {kind}/health.lua"
        );
        // Argo CD's ResourceActions: `discovery.lua` and `definitions`.
        let key = format!("resource.customizations.actions.{}_{kind}", api::GROUP);
        let actions: serde_yaml::Value = serde_yaml::from_str(
            parsed["data"][key.as_str()]
                .as_str()
                .unwrap_or_else(|| panic!("no {key}")),
        )
        .unwrap_or_else(|e| panic!("{key} is not YAML: {e}"));
        assert_eq!(
            actions["discovery.lua"].as_str(),
            Some(read(&kind_dir(kind).join("actions/discovery.lua")).as_str()),
            "{key} does not hold {kind}/actions/discovery.lua"
        );
        let definitions = actions["definitions"]
            .as_sequence()
            .cloned()
            .unwrap_or_default();
        let names: Vec<&str> = definitions
            .iter()
            .map(|d| d["name"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(names, action_names(kind), "{key}: definitions");
        for d in &definitions {
            let name = d["name"].as_str().unwrap();
            assert_eq!(
                d["action.lua"].as_str(),
                Some(read(&action_script_path(kind, name)).as_str()),
                "{key} does not hold {kind}/actions/{name}/action.lua"
            );
        }
    }
    let path = root().join("integrations/argocd/argocd-cm.yaml");
    if std::env::var_os("BERTH_UPDATE_ARGOCD").is_some() {
        fs::write(&path, &want).unwrap();
        return;
    }
    let have = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "integrations/argocd/argocd-cm.yaml is out of date: run BERTH_UPDATE_ARGOCD=1 cargo test --test argocd_health"
    );
}
