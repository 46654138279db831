//! Renders `charts/berth` without Helm: Go templates through the `gtmpl`
//! crate, with the few Helm/Sprig functions the chart uses implemented here
//! (include, toYaml, indent, nindent, default, quote, required, trunc,
//! trimSuffix, contains; printf, eq, and, or, not are gtmpl's). A template
//! that calls anything else fails to parse, so the chart stays within them.
//!
//! Shared by the root crate's `tests/chart.rs` and the end-to-end
//! `tests/rbac.rs` (both include this file with `#[path]`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use gtmpl::{Context, Func, FuncError, Template, Value};

/// One release of the chart.
pub struct Release<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    /// Merged over `values.yaml` (objects key by key, anything else replaced).
    pub values: serde_json::Value,
}

/// A rendered template file: its name under `templates/` and its text.
pub struct Rendered {
    pub template: String,
    pub text: String,
}

thread_local! {
    /// The `_*.tpl` sources `include` parses with its named template.
    static HELPERS: RefCell<String> = const { RefCell::new(String::new()) };
}

/// `charts/berth` of this workspace.
pub fn chart_dir() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // The root crate or e2e/tests: walk up to the workspace root.
    while !dir.join("charts/berth/Chart.yaml").exists() {
        assert!(dir.pop(), "charts/berth not found above CARGO_MANIFEST_DIR");
    }
    dir.join("charts/berth")
}

/// `values.yaml` of `chart` with `overrides` merged over it.
pub fn values(chart: &Path, overrides: &serde_json::Value) -> serde_json::Value {
    let text = fs::read_to_string(chart.join("values.yaml")).expect("reading values.yaml");
    let mut values: serde_json::Value = serde_yaml::from_str(&text).expect("parsing values.yaml");
    merge(&mut values, overrides);
    values
}

fn merge(base: &mut serde_json::Value, over: &serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Renders every file of `templates/` except helpers (`_*`), NOTES.txt included.
pub fn render(chart: &Path, release: &Release) -> Result<Vec<Rendered>, String> {
    let meta: serde_json::Value = serde_yaml::from_str(
        &fs::read_to_string(chart.join("Chart.yaml")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let field = |k: &str| meta[k].as_str().unwrap_or_default().to_string();
    let root = serde_json::json!({
        "Values": values(chart, &release.values),
        "Release": {
            "Name": release.name,
            "Namespace": release.namespace,
            "Service": "Helm",
            "IsInstall": true,
        },
        "Chart": {
            "Name": field("name"),
            "Version": field("version"),
            "AppVersion": field("appVersion"),
        },
    });
    let mut entries: Vec<PathBuf> = fs::read_dir(chart.join("templates"))
        .map_err(|e| e.to_string())?
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let name_of = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().into_owned();
    let helpers: String = entries
        .iter()
        .filter(|p| name_of(p).starts_with('_'))
        .map(|p| fs::read_to_string(p).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    HELPERS.with(|h| *h.borrow_mut() = helpers.clone());
    let mut out = Vec::new();
    for path in entries.iter().filter(|p| !name_of(p).starts_with('_')) {
        let name = name_of(path);
        let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
        let mut t = template(&name);
        t.add_template("_helpers", helpers.clone())
            .map_err(|e| format!("{name}: helpers: {e}"))?;
        t.parse(text).map_err(|e| format!("{name}: {e}"))?;
        let text = t
            .render(&Context::from(to_value(&root)))
            .map_err(|e| format!("{name}: {e}"))?;
        out.push(Rendered {
            template: name,
            text,
        });
    }
    Ok(out)
}

/// Every non-empty YAML document of the rendered manifests (not NOTES.txt),
/// with the template it came from.
pub fn documents(rendered: &[Rendered]) -> Result<Vec<(String, serde_yaml::Value)>, String> {
    let mut docs = Vec::new();
    for r in rendered.iter().filter(|r| r.template.ends_with(".yaml")) {
        for doc in serde_yaml::Deserializer::from_str(&r.text) {
            let value = <serde_yaml::Value as serde::Deserialize>::deserialize(doc)
                .map_err(|e| format!("{}: {e}\n{}", r.template, r.text))?;
            if !value.is_null() {
                docs.push((r.template.clone(), value));
            }
        }
    }
    Ok(docs)
}

fn template(name: &str) -> Template {
    let mut t = Template::with_name(name);
    t.add_funcs(&[
        ("include", include as Func),
        ("toYaml", to_yaml as Func),
        ("indent", indent as Func),
        ("nindent", nindent as Func),
        ("default", default as Func),
        ("quote", quote as Func),
        ("required", required as Func),
        ("trunc", trunc as Func),
        ("trimSuffix", trim_suffix as Func),
        ("contains", contains as Func),
    ]);
    t
}

pub fn to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                Value::from(n.as_f64().unwrap_or_default())
            }
        }
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(to_value).collect()),
        serde_json::Value::Object(o) => Value::Map(
            o.iter()
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::String(s) => s.clone().into(),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u.into()
            } else if let Some(i) = n.as_i64() {
                i.into()
            } else {
                n.as_f64().unwrap_or_default().into()
            }
        }
        Value::Array(a) => a.iter().map(to_json).collect(),
        // serde_json's map is ordered: toYaml prints keys sorted, as Helm does.
        Value::Map(m) | Value::Object(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), to_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}

/// Go's `fmt.Sprint` of a scalar (what Sprig's string functions see).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::NoValue | Value::Nil => String::new(),
        other => match to_json(other) {
            serde_json::Value::String(s) => s,
            j => j.to_string(),
        },
    }
}

fn args<const N: usize>(name: &str, a: &[Value]) -> Result<[Value; N], FuncError> {
    <[Value; N]>::try_from(a.to_vec()).map_err(|_| FuncError::ExactlyXArgs(name.into(), N))
}

fn int(v: &Value) -> Result<usize, FuncError> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .map(|u| u as usize)
            .ok_or(FuncError::UnableToConvertFromValue),
        _ => Err(FuncError::UnableToConvertFromValue),
    }
}

/// `include NAME CONTEXT`: the named template's output, as a string.
fn include(a: &[Value]) -> Result<Value, FuncError> {
    let [name, ctx] = args("include", a)?;
    let name = text(&name);
    let helpers = HELPERS.with(|h| h.borrow().clone());
    let mut t = template("include");
    t.add_template("_helpers", helpers)
        .map_err(|e| FuncError::Generic(format!("include {name}: {e}")))?;
    t.parse(format!("{{{{ template {name:?} . }}}}"))
        .map_err(|e| FuncError::Generic(format!("include {name}: {e}")))?;
    t.render(&Context::from(ctx))
        .map(Value::String)
        .map_err(|e| FuncError::Generic(format!("include {name}: {e}")))
}

/// Helm's `toYaml`: YAML without the trailing newline.
fn to_yaml(a: &[Value]) -> Result<Value, FuncError> {
    let [v] = args("toYaml", a)?;
    let yaml =
        serde_yaml::to_string(&to_json(&v)).map_err(|e| FuncError::Generic(e.to_string()))?;
    Ok(Value::String(yaml.trim_end_matches('\n').to_string()))
}

fn indent_by(n: usize, s: &str) -> String {
    let pad = " ".repeat(n);
    s.split('\n')
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn indent(a: &[Value]) -> Result<Value, FuncError> {
    let [n, s] = args("indent", a)?;
    Ok(Value::String(indent_by(int(&n)?, &text(&s))))
}

fn nindent(a: &[Value]) -> Result<Value, FuncError> {
    let [n, s] = args("nindent", a)?;
    Ok(Value::String(format!(
        "\n{}",
        indent_by(int(&n)?, &text(&s))
    )))
}

/// Sprig's emptiness: nil, false, 0, "", and empty lists and maps.
fn empty(v: &Value) -> bool {
    match v {
        Value::NoValue | Value::Nil => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Map(m) | Value::Object(m) => m.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Function(_) => false,
    }
}

/// `default DEFAULT VALUE`: VALUE unless it is empty.
fn default(a: &[Value]) -> Result<Value, FuncError> {
    match a {
        [d] => Ok(d.clone()),
        [d, v] => Ok(if empty(v) { d.clone() } else { v.clone() }),
        _ => Err(FuncError::ExactlyXArgs("default".into(), 2)),
    }
}

/// `quote VALUE`: a double-quoted string (JSON escaping equals Go's %q for
/// the text a chart holds).
fn quote(a: &[Value]) -> Result<Value, FuncError> {
    let [v] = args("quote", a)?;
    Ok(Value::String(
        serde_json::Value::String(text(&v)).to_string(),
    ))
}

/// `required MESSAGE VALUE`: VALUE, or the render fails with MESSAGE.
fn required(a: &[Value]) -> Result<Value, FuncError> {
    let [msg, v] = args("required", a)?;
    if matches!(v, Value::NoValue | Value::Nil) || matches!(&v, Value::String(s) if s.is_empty()) {
        return Err(FuncError::Generic(text(&msg)));
    }
    Ok(v)
}

fn trunc(a: &[Value]) -> Result<Value, FuncError> {
    let [n, s] = args("trunc", a)?;
    Ok(Value::String(text(&s).chars().take(int(&n)?).collect()))
}

fn trim_suffix(a: &[Value]) -> Result<Value, FuncError> {
    let [suffix, s] = args("trimSuffix", a)?;
    let (suffix, s) = (text(&suffix), text(&s));
    Ok(Value::String(
        s.strip_suffix(suffix.as_str()).unwrap_or(&s).to_string(),
    ))
}

/// `contains SUBSTRING STRING`.
fn contains(a: &[Value]) -> Result<Value, FuncError> {
    let [sub, s] = args("contains", a)?;
    Ok(Value::Bool(text(&s).contains(&text(&sub))))
}
