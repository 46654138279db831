//! The API a user applies: generated CRDs match what is checked in, every
//! example is accepted, and every fixture under tests/fixtures/*/invalid is
//! rejected by the layer it names with a message naming the field.
//!
//! Two layers reject bad input: the CRD's OpenAPI schema (what every API
//! server enforces; checked here with a JSON Schema validator) and berth's
//! own semantic validation (what the controller runs before any AWS call,
//! because clusters older than 1.25 ignore the CEL rules).

use std::fs;
use std::path::{Path, PathBuf};

use berth::api::{self, AuroraCluster, EcsService, MigrationJob, PullThroughCache};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every error a manifest gets, as `field: message`, from the schema of
/// its kind and from berth's validation.
struct Verdict {
    schema: Vec<String>,
    rust: Vec<String>,
}

fn schema_for(kind: &str) -> Value {
    let crd = api::crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD for kind {kind}"));
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("every version has a schema");
    serde_json::to_value(schema).unwrap()
}

/// `/spec/containers/0/name` -> `spec.containers[0].name`.
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.split('/').filter(|p| !p.is_empty()) {
        if part.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}

fn judge(manifest: &Value) -> Verdict {
    let kind = manifest["kind"].as_str().expect("manifest has a kind");
    let schema = schema_for(kind);
    let validator = jsonschema::draft7::new(&schema).expect("the CRD schema compiles");
    let schema_errors = validator
        .iter_errors(manifest)
        .map(|e| format!("{}: {}", dotted(e.instance_path().as_str()), e))
        .collect();

    let rust = |r: Result<(), api::InvalidSpec>| -> Vec<String> {
        r.err()
            .map(|e| e.0.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    };
    let from = manifest.clone();
    let rust_errors = match kind {
        "EcsService" => serde_json::from_value::<EcsService>(from)
            .map(|o| rust(o.validate()))
            .unwrap_or_else(|e| vec![format!("decode: {e}")]),
        "MigrationJob" => serde_json::from_value::<MigrationJob>(from)
            .map(|o| rust(o.spec.validate()))
            .unwrap_or_else(|e| vec![format!("decode: {e}")]),
        "AuroraCluster" => serde_json::from_value::<AuroraCluster>(from)
            .map(|o| rust(o.validate()))
            .unwrap_or_else(|e| vec![format!("decode: {e}")]),
        "PullThroughCache" => serde_json::from_value::<PullThroughCache>(from)
            .map(|o| rust(o.spec.validate()))
            .unwrap_or_else(|e| vec![format!("decode: {e}")]),
        other => panic!("unknown kind {other}"),
    };
    Verdict {
        schema: schema_errors,
        rust: rust_errors,
    }
}

fn load(path: &Path) -> (String, Value) {
    let text = fs::read_to_string(path).unwrap();
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()));
    (text, serde_json::to_value(yaml).unwrap())
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn assert_accepted(path: &Path) {
    let (_, manifest) = load(path);
    let v = judge(&manifest);
    assert!(
        v.schema.is_empty() && v.rust.is_empty(),
        "{} should be valid, but:\n  schema: {:?}\n  berth: {:?}",
        path.display(),
        v.schema,
        v.rust
    );
}

#[test]
fn every_example_validates() {
    let files = yaml_files(&root().join("examples"));
    assert!(
        files.len() >= 6,
        "examples/ should hold the whole example app"
    );
    let mut kinds: Vec<String> = Vec::new();
    for f in &files {
        assert_accepted(f);
        kinds.push(load(f).1["kind"].as_str().unwrap().to_string());
    }
    for kind in [
        "EcsService",
        "MigrationJob",
        "AuroraCluster",
        "PullThroughCache",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no example of {kind}");
    }
}

#[test]
fn valid_fixtures_validate() {
    for kind in fixture_kinds() {
        let files = yaml_files(&root().join("tests/fixtures").join(&kind).join("valid"));
        assert!(!files.is_empty(), "no valid fixture for {kind}");
        for f in files {
            assert_accepted(&f);
        }
    }
}

fn fixture_kinds() -> Vec<String> {
    let mut kinds: Vec<String> = fs::read_dir(root().join("tests/fixtures"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    kinds.sort();
    kinds
}

/// Each invalid fixture starts with `# expect: <schema|berth|both> <field>`.
#[test]
fn invalid_fixtures_are_rejected_naming_the_field() {
    let mut per_kind = Vec::new();
    for kind in fixture_kinds() {
        let files = yaml_files(&root().join("tests/fixtures").join(&kind).join("invalid"));
        per_kind.push((kind.clone(), files.len()));
        for f in files {
            let (text, manifest) = load(&f);
            let expect = text
                .lines()
                .find_map(|l| l.strip_prefix("# expect: "))
                .unwrap_or_else(|| panic!("{}: no `# expect:` line", f.display()));
            let (layer, field) = expect.split_once(' ').expect("layer and field");
            let v = judge(&manifest);
            let names = |errors: &[String]| errors.iter().any(|e| e.starts_with(field));
            let ok = match layer {
                "schema" => names(&v.schema),
                "berth" => names(&v.rust),
                "both" => names(&v.schema) && names(&v.rust),
                other => panic!("{}: unknown layer {other}", f.display()),
            };
            assert!(
                ok,
                "{}: expected the {layer} layer to reject {field}, got\n  schema: {:?}\n  berth: {:?}",
                f.display(),
                v.schema,
                v.rust
            );
        }
    }
    for (kind, n) in per_kind {
        assert!(n >= 5, "{kind} has {n} invalid fixtures; want at least 5");
    }
}

#[test]
fn checked_in_crds_match_the_types() {
    for dir in ["crds", "charts/berth/crds"] {
        let mut expected = Vec::new();
        for crd in api::crds() {
            let name = api::crd_file_name(&crd);
            expected.push(name.clone());
            let path = root().join(dir).join(&name);
            let on_disk = fs::read_to_string(&path).unwrap_or_else(|_| {
                panic!(
                    "{} is missing: run `cargo run -- crds --out {dir}`",
                    path.display()
                )
            });
            assert!(
                on_disk == api::crd_yaml(&crd),
                "{} differs from the Rust types: run `cargo run -- crds --out {dir}`",
                path.display()
            );
        }
        let mut present: Vec<String> = yaml_files(&root().join(dir))
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        present.sort();
        expected.sort();
        assert_eq!(present, expected, "{dir} holds exactly one file per kind");
    }
}

#[test]
fn checked_in_crds_parse_as_crds() {
    for path in yaml_files(&root().join("crds")) {
        let text = fs::read_to_string(&path).unwrap();
        let crd: CustomResourceDefinition = serde_yaml::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not a CRD: {e}", path.display()));
        assert_eq!(crd.spec.group, "berth.dev");
        assert_eq!(crd.spec.scope, "Namespaced");
        assert!(crd
            .spec
            .names
            .categories
            .as_ref()
            .unwrap()
            .contains(&"berth".to_string()));
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(version.subresources.as_ref().unwrap().status.is_some());
        let columns: Vec<&str> = version
            .additional_printer_columns
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(columns.last(), Some(&"Age"), "{}", path.display());
        let conditions = &version
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap()
            .properties
            .as_ref()
            .unwrap()["status"]
            .properties
            .as_ref()
            .unwrap()["conditions"];
        assert_eq!(conditions.x_kubernetes_list_type.as_deref(), Some("map"));
        assert_eq!(
            conditions.x_kubernetes_list_map_keys.as_deref(),
            Some(&["type".to_string()][..])
        );
    }
}

#[test]
fn printer_columns_answer_is_it_ok_and_where() {
    let columns = |kind: &str| -> Vec<String> {
        api::crds()
            .into_iter()
            .find(|c| c.spec.names.kind == kind)
            .unwrap()
            .spec
            .versions[0]
            .additional_printer_columns
            .clone()
            .unwrap()
            .into_iter()
            .map(|c| c.name.to_uppercase())
            .collect()
    };
    assert_eq!(
        columns("EcsService"),
        ["READY", "DESIRED", "RUNNING", "REVISION", "ROLLOUT", "AGE"]
    );
    assert_eq!(
        columns("MigrationJob"),
        ["PHASE", "EXIT", "ATTEMPTS", "SERVICE", "AGE"]
    );
    assert_eq!(
        columns("AuroraCluster"),
        ["READY", "STATUS", "ENDPOINT", "PROXY", "AGE"]
    );
    assert_eq!(
        columns("PullThroughCache"),
        ["READY", "PREFIX", "UPSTREAM", "AGE"]
    );
}

// The reason table lives in docs/conditions.md; tests/docs.rs checks it.
