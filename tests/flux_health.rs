//! The Flux `healthCheckExprs` in `integrations/flux/health-check-exprs.yaml`,
//! evaluated with a CEL interpreter over the Argo CD testdata in
//! `integrations/argocd/resource_customizations/berth.dev/*/testdata`, the
//! way kustomize-controller evaluates them (fluxcd/pkg runtime/cel
//! `StatusEvaluator`):
//!
//! 1. `status.observedGeneration` present and different from
//!    `metadata.generation`: InProgress, no expression is evaluated;
//! 2. `inProgress`, then `failed`, then `current`: the first true wins;
//! 3. none true: InProgress.
//!
//! The object's top-level fields are the CEL variables. An expression that
//! fails (a brand-new object has no `status` variable at all) makes the
//! status reader report Unknown, and Flux polls again until its timeout.
//!
//! The expected Flux status follows from the Argo CD one (Healthy: Current,
//! Degraded: Failed, Progressing and Suspended: InProgress) except where
//! Flux's own rules differ, listed in [`EXCEPTIONS`].

use std::fs;
use std::path::{Path, PathBuf};

use cel::{Context, Program, Value as CelValue};
use serde::Deserialize;
use serde_json::Value;

const KINDS: [&str; 4] = [
    "EcsService",
    "MigrationJob",
    "AuroraCluster",
    "PullThroughCache",
];

/// Cases where Flux ends up elsewhere than the Argo CD mapping, and why.
const EXCEPTIONS: &[(&str, &str, &str)] = &[
    // No status yet: `status` is not a variable, every expression fails.
    ("EcsService", "progressing_noStatus.yaml", "Unknown"),
    ("MigrationJob", "progressing_noStatus.yaml", "Unknown"),
    ("AuroraCluster", "progressing_noStatus.yaml", "Unknown"),
    ("PullThroughCache", "progressing_noStatus.yaml", "Unknown"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let yaml: serde_yaml::Value = serde_yaml::from_str(&read(path))
        .unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()));
    serde_json::from_value(serde_json::to_value(yaml).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Exprs {
    health_check_exprs: Vec<Expr>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Expr {
    api_version: String,
    kind: String,
    current: String,
    in_progress: Option<String>,
    failed: Option<String>,
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

#[derive(Deserialize)]
struct HealthStatus {
    status: String,
}

fn exprs() -> Vec<Expr> {
    load_yaml::<Exprs>(&root().join("integrations/flux/health-check-exprs.yaml")).health_check_exprs
}

/// One expression on one object: true, false or an evaluation error.
fn eval(expr: &str, obj: &Value) -> Result<bool, String> {
    let program = Program::compile(expr).map_err(|e| format!("does not parse: {e}"))?;
    let mut context = Context::default();
    for (name, value) in obj.as_object().expect("an object") {
        context
            .add_variable(name.as_str(), value)
            .map_err(|e| e.to_string())?;
    }
    match program.execute(&context).map_err(|e| e.to_string())? {
        CelValue::Bool(b) => Ok(b),
        other => Err(format!("not a bool: {other:?}")),
    }
}

/// kstatus status of `obj` as kustomize-controller computes it.
fn flux_status(e: &Expr, obj: &Value) -> String {
    let observed = &obj["status"]["observedGeneration"];
    if !observed.is_null() && observed != &obj["metadata"]["generation"] {
        return "InProgress".into();
    }
    let ordered = [
        (e.in_progress.as_deref(), "InProgress"),
        (e.failed.as_deref(), "Failed"),
        (Some(e.current.as_str()), "Current"),
    ];
    for (expr, status) in ordered {
        let Some(expr) = expr else { continue };
        match eval(expr, obj) {
            Ok(true) => return status.into(),
            Ok(false) => {}
            Err(_) => return "Unknown".into(),
        }
    }
    "InProgress".into()
}

fn expected(kind: &str, file: &str, argocd: &str) -> String {
    if let Some((_, _, flux)) = EXCEPTIONS.iter().find(|(k, f, _)| *k == kind && *f == file) {
        return flux.to_string();
    }
    match argocd {
        "Healthy" => "Current",
        "Degraded" => "Failed",
        "Progressing" | "Suspended" => "InProgress",
        other => panic!("unexpected Argo CD status {other}"),
    }
    .into()
}

#[test]
fn every_kind_has_expressions_that_parse() {
    let exprs = exprs();
    let kinds: Vec<&str> = exprs.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.len(), KINDS.len(), "{kinds:?}");
    for kind in KINDS {
        let e = exprs
            .iter()
            .find(|e| e.kind == kind)
            .unwrap_or_else(|| panic!("no healthCheckExprs entry for {kind}"));
        assert_eq!(e.api_version, "berth.dev/v1alpha1");
        for expr in [Some(&e.current), e.in_progress.as_ref(), e.failed.as_ref()] {
            let expr = expr.unwrap_or_else(|| panic!("{kind}: all three expressions are set"));
            Program::compile(expr).unwrap_or_else(|err| panic!("{kind}: {expr}: {err}"));
        }
    }
}

#[test]
fn expressions_match_the_argocd_health_cases() {
    let exprs = exprs();
    let mut failures = Vec::new();
    let mut count = 0;
    let mut exceptions_used = 0;
    for kind in KINDS {
        let e = exprs.iter().find(|e| e.kind == kind).unwrap();
        let dir = root()
            .join("integrations/argocd/resource_customizations/berth.dev")
            .join(kind);
        let tests: HealthTests = load_yaml(&dir.join("health_test.yaml"));
        for case in tests.tests {
            count += 1;
            let file = case.input_path.trim_start_matches("testdata/");
            if EXCEPTIONS.iter().any(|(k, f, _)| *k == kind && *f == file) {
                exceptions_used += 1;
            }
            let obj: Value = load_yaml(&dir.join(&case.input_path));
            let want = expected(kind, file, &case.health_status.status);
            let got = flux_status(e, &obj);
            if got != want {
                failures.push(format!("{kind} {file}: want {want}, got {got}"));
            }
            // Every object that has a status evaluates without an error:
            // an error would leave Flux waiting for its timeout.
            if obj.get("status").is_some() {
                for expr in [Some(&e.current), e.in_progress.as_ref(), e.failed.as_ref()]
                    .into_iter()
                    .flatten()
                {
                    if let Err(err) = eval(expr, &obj) {
                        failures.push(format!("{kind} {file}: {expr}: {err}"));
                    }
                }
            }
        }
    }
    assert_eq!(
        exceptions_used,
        EXCEPTIONS.len(),
        "an exception names no case"
    );
    assert!(count >= 24, "only {count} cases");
    assert!(
        failures.is_empty(),
        "{} of {count} cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
