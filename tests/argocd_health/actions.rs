//! Argo CD resource actions (`<group>/<Kind>/actions/`: `discovery.lua`,
//! `<action>/action.lua`, `action_test.yaml`, `testdata/`), run as argo-cd's
//! own `TestLuaResourceActionsScript` runs them; see the parent module.

use std::collections::BTreeMap;

use super::*;

/// The actions each kind offers (the directories under `actions/`).
pub(super) fn expected_actions(kind: &str) -> &'static [&'static str] {
    match kind {
        "EcsService" => &["pause", "refresh", "resume", "rollback"],
        "MigrationJob" => &["pause", "rerun", "resume"],
        "AuroraCluster" | "PullThroughCache" => &["pause", "refresh", "resume"],
        other => panic!("unknown kind {other}"),
    }
}

/// The action directories of `kind`, sorted: every directory under
/// `actions/` but `testdata`.
pub(super) fn action_names(kind: &str) -> Vec<String> {
    let mut names = Vec::new();
    for entry in fs::read_dir(kind_dir(kind).join("actions")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() && name != "testdata" {
            names.push(name);
        }
    }
    names.sort();
    names
}

pub(super) fn action_script_path(kind: &str, action: &str) -> PathBuf {
    kind_dir(kind)
        .join("actions")
        .join(action)
        .join("action.lua")
}

/// `actions/action_test.yaml`, argo-cd's `ActionTestStructure`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ActionTestFile {
    #[serde(default)]
    discovery_tests: Vec<DiscoveryTest>,
    #[serde(default)]
    action_tests: Vec<ActionTest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct DiscoveryTest {
    input_path: String,
    result: Vec<ResourceAction>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ActionTest {
    action: String,
    input_path: String,
    #[serde(default)]
    expected_output_path: Option<String>,
    #[serde(default)]
    expected_error_message: Option<String>,
    #[serde(default)]
    parameters: BTreeMap<String, String>,
}

/// argo-cd's `ResourceAction` as discovery returns it.
#[derive(Deserialize, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct ResourceAction {
    #[serde(default)]
    name: String,
    #[serde(default)]
    params: Vec<ResourceActionParam>,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    icon_class: String,
    #[serde(default)]
    display_name: String,
}

#[derive(Deserialize, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Clone)]
pub(super) struct ResourceActionParam {
    #[serde(default)]
    name: String,
}

pub(super) fn action_tests(kind: &str) -> ActionTestFile {
    let path = kind_dir(kind).join("actions/action_test.yaml");
    serde_yaml::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The clock the action tests run with: 2026-12-01T00:00:00Z.
pub(super) const TEST_NOW: i64 = 1_796_083_200;
pub(super) const TEST_NOW_TEXT: &str = "2026-12-01T00:00:00Z";

/// A Lua state as Argo CD's API server makes one for discovery and action
/// scripts (`runLuaWithResourceActionParameters`): the base, table and
/// package libraries, and a safe `os` with only `date` and `time`, also
/// what `require("os")` returns; `obj` and `actionParams` as globals. With
/// `now`, `os.date` and `os.time` without a time argument read that clock
/// instead of the real one (test harness only, as argo-cd's tests normalize
/// the timestamps away).
pub(super) fn action_state(
    obj: &Value,
    params: &BTreeMap<String, String>,
    now: Option<i64>,
) -> mlua::Result<Lua> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::PACKAGE | StdLib::OS,
        LuaOptions::default(),
    )?;
    lua.load(
        r#"
        local real_date, real_time, now = os.date, os.time, ...
        local safe = { date = real_date, time = real_time }
        if now ~= nil then
          safe.date = function(format, t)
            if t == nil then t = now end
            return real_date(format, t)
          end
          safe.time = function(t)
            if t == nil then return now end
            return real_time(t)
          end
        end
        os = safe
        package.loaded.os = safe
        "#,
    )
    .set_name("argocd-safe-os")
    .call::<()>(now)?;
    let action_params = lua.create_table()?;
    for (k, v) in params {
        action_params.raw_set(k.as_str(), v.as_str())?;
    }
    lua.globals().set("actionParams", action_params)?;
    lua.globals().set("obj", to_lua(&lua, obj)?)?;
    Ok(lua)
}

/// A Lua error as Argo CD reports it: the message without the traceback.
pub(super) fn lua_error(e: mlua::Error) -> String {
    let text = match &e {
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => cause.to_string(),
        other => other.to_string(),
    };
    text.split("\nstack traceback:")
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A Lua value as JSON, the way gopher-json encodes it for Argo CD: an
/// empty table is `[]`, a table with keys 1..n an array, one with string
/// keys an object, anything else an error; integral numbers are integers.
pub(super) fn from_lua(v: &mlua::Value) -> Result<Value, String> {
    Ok(match v {
        mlua::Value::Nil => Value::Null,
        mlua::Value::Boolean(b) => Value::Bool(*b),
        mlua::Value::Integer(i) => Value::from(*i),
        mlua::Value::Number(n) => {
            if n.fract() == 0.0 && n.abs() < 9.0e15 {
                Value::from(*n as i64)
            } else {
                serde_json::Number::from_f64(*n)
                    .map(Value::Number)
                    .ok_or_else(|| format!("{n} is not a JSON number"))?
            }
        }
        mlua::Value::String(s) => Value::String(s.to_str().map_err(|e| e.to_string())?.to_string()),
        mlua::Value::Table(t) => {
            let mut pairs = Vec::new();
            for pair in t.pairs::<mlua::Value, mlua::Value>() {
                pairs.push(pair.map_err(|e| e.to_string())?);
            }
            if pairs.is_empty() {
                return Ok(Value::Array(Vec::new()));
            }
            if pairs.iter().all(|(k, _)| k.is_string()) {
                let mut map = serde_json::Map::new();
                for (k, item) in &pairs {
                    let k = k.as_string().unwrap().to_str().map_err(|e| e.to_string())?;
                    map.insert(k.to_string(), from_lua(item)?);
                }
                return Ok(Value::Object(map));
            }
            let mut items = vec![Value::Null; pairs.len()];
            for (k, item) in &pairs {
                let index = match k {
                    mlua::Value::Integer(i) => Some(*i as f64),
                    mlua::Value::Number(n) => Some(*n),
                    _ => None,
                };
                match index {
                    Some(i) if i.fract() == 0.0 && i >= 1.0 && i <= pairs.len() as f64 => {
                        items[i as usize - 1] = from_lua(item)?;
                    }
                    _ => return Err("a table mixes keys or is not a sequence".into()),
                }
            }
            Value::Array(items)
        }
        other => return Err(format!("a {} cannot be encoded", other.type_name())),
    })
}

/// argo-cd's `cleanReturnedObj`: an empty object that came back as `[]`
/// (Lua cannot tell them apart) is an object again.
pub(super) fn clean_returned(new: &mut Value, old: &Value) {
    match (new, old) {
        (Value::Object(n), Value::Object(o)) => {
            for (k, old_v) in o {
                if let Some(new_v) = n.get_mut(k) {
                    if matches!((&*new_v, old_v), (Value::Array(a), Value::Object(_)) if a.is_empty())
                    {
                        *new_v = Value::Object(serde_json::Map::new());
                    } else {
                        clean_returned(new_v, old_v);
                    }
                }
            }
        }
        (Value::Array(n), Value::Array(o)) => {
            for (new_v, old_v) in n.iter_mut().zip(o) {
                clean_returned(new_v, old_v);
            }
        }
        _ => {}
    }
}

/// Runs a discovery script on `obj` as `ExecuteResourceActionDiscovery`
/// does.
pub(super) fn run_discovery(
    script: &str,
    name: &str,
    obj: &Value,
) -> Result<Vec<ResourceAction>, String> {
    let lua = action_state(obj, &BTreeMap::new(), Some(TEST_NOW)).map_err(lua_error)?;
    let ret: mlua::Value = lua.load(script).set_name(name).eval().map_err(lua_error)?;
    if !ret.is_table() {
        return Err(format!(
            "expect table output from Lua script, not {}",
            ret.type_name()
        ));
    }
    let mut actions = Vec::new();
    match from_lua(&ret)? {
        Value::Array(a) if a.is_empty() => {}
        Value::Object(map) => {
            for (key, value) in map {
                // An empty table is an enabled action without details.
                let mut action = match value {
                    Value::Array(a) if a.is_empty() => ResourceAction::default(),
                    Value::Object(_) => {
                        serde_json::from_value(value).map_err(|e| format!("action {key}: {e}"))?
                    }
                    other => return Err(format!("action {key} is {other}")),
                };
                action.name = key;
                actions.push(action);
            }
        }
        other => return Err(format!("discovery returned {other}, not an object")),
    }
    actions.sort();
    Ok(actions)
}

/// Runs an action script on `obj` as `ExecuteResourceAction` does for an
/// action that returns the changed object (a "patch").
pub(super) fn run_action(
    script: &str,
    name: &str,
    obj: &Value,
    params: &BTreeMap<String, String>,
    now: Option<i64>,
) -> Result<Value, String> {
    // Lua 5.1's os.date formats through C's gmtime(), one static buffer per
    // process: actions running on parallel test threads would read each
    // other's (stubbed) times.
    static OS_DATE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = OS_DATE.lock().unwrap_or_else(|e| e.into_inner());
    let lua = action_state(obj, params, now).map_err(lua_error)?;
    let ret: mlua::Value = lua.load(script).set_name(name).eval().map_err(lua_error)?;
    if !ret.is_table() {
        return Err(format!(
            "expect table output from Lua script, not {}",
            ret.type_name()
        ));
    }
    let mut out = from_lua(&ret)?;
    if !out.is_object() {
        return Err(format!("the action returned {out}, not the object"));
    }
    clean_returned(&mut out, obj);
    Ok(out)
}

pub(super) fn without_annotations(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("annotations");
    }
    obj
}

#[test]
fn actions_match_their_test_cases() {
    let mut failures = Vec::new();
    let (mut discoveries, mut runs) = (0, 0);
    for kind in KINDS {
        let dir = kind_dir(kind).join("actions");
        let tests = action_tests(kind);
        let discovery = read(&dir.join("discovery.lua"));
        for t in &tests.discovery_tests {
            discoveries += 1;
            let obj = load_yaml(&dir.join(&t.input_path));
            let mut want = t.result.clone();
            want.sort();
            match run_discovery(&discovery, &format!("{kind}/actions/discovery.lua"), &obj) {
                Ok(got) if got == want => {}
                Ok(got) => failures.push(format!(
                    "{kind} discovery {}:\n  want {want:?}\n  got  {got:?}",
                    t.input_path
                )),
                Err(e) => failures.push(format!("{kind} discovery {}: {e}", t.input_path)),
            }
        }
        for t in &tests.action_tests {
            runs += 1;
            let at = format!("{kind} {} {}", t.action, t.input_path);
            let script = read(&action_script_path(kind, &t.action));
            let input = load_yaml(&dir.join(&t.input_path));
            let name = format!("{kind}/actions/{}/action.lua", t.action);
            let got = run_action(&script, &name, &input, &t.parameters, Some(TEST_NOW));
            match (&t.expected_output_path, &t.expected_error_message, got) {
                (None, Some(want), Err(e)) if &e == want => {}
                (None, Some(want), Err(e)) => {
                    failures.push(format!("{at}: want error {want:?}, got {e:?}"))
                }
                (None, Some(want), Ok(_)) => {
                    failures.push(format!("{at}: want error {want:?}, it succeeded"))
                }
                (Some(path), None, Ok(got)) => {
                    let want = load_yaml(&dir.join(path));
                    if got != want {
                        failures.push(format!("{at}:\n  want {want}\n  got  {got}"));
                    }
                    // Argo CD patches the status subresource for a status
                    // change; berth's actions change annotations only.
                    if without_annotations(&got) != without_annotations(&input) {
                        failures.push(format!("{at}: changes more than metadata.annotations"));
                    }
                }
                (Some(_), None, Err(e)) => failures.push(format!("{at}: script failed: {e}")),
                _ => failures.push(format!(
                    "{at}: give exactly one of expectedOutputPath and expectedErrorMessage"
                )),
            }
        }
    }
    assert!(discoveries >= 20, "only {discoveries} discovery test cases");
    assert!(runs >= 20, "only {runs} action test cases");
    assert!(
        failures.is_empty(),
        "{} action cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Each kind offers exactly its actions, each discovery test lists all of
/// them, each action has a test that runs it, pause and resume are never
/// both offered, and every testdata file is used.
#[test]
fn every_action_has_tests() {
    let mut shared: BTreeMap<String, (String, String)> = BTreeMap::new();
    for kind in KINDS {
        let names = action_names(kind);
        assert_eq!(names, expected_actions(kind), "{kind}: action directories");
        let tests = action_tests(kind);
        assert!(
            tests.discovery_tests.len() >= 3,
            "{kind}: too few discovery tests"
        );
        let mut used = BTreeSet::new();
        for t in &tests.discovery_tests {
            used.insert(t.input_path.clone());
            let mut listed: Vec<&str> = t.result.iter().map(|a| a.name.as_str()).collect();
            listed.sort();
            assert_eq!(listed, names, "{kind} discovery {}", t.input_path);
            let disabled = |n: &str| t.result.iter().find(|a| a.name == n).unwrap().disabled;
            assert_ne!(
                disabled("pause"),
                disabled("resume"),
                "{kind} discovery {}: exactly one of pause and resume applies",
                t.input_path
            );
        }
        for name in &names {
            assert!(
                tests
                    .action_tests
                    .iter()
                    .any(|t| &t.action == name && t.expected_output_path.is_some()),
                "{kind}: no action test runs {name}"
            );
        }
        for t in &tests.action_tests {
            assert!(names.contains(&t.action), "{kind}: no action {}", t.action);
            used.insert(t.input_path.clone());
            used.extend(t.expected_output_path.clone());
        }
        let mut files = BTreeSet::new();
        for entry in fs::read_dir(kind_dir(kind).join("actions/testdata")).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            files.insert(format!("testdata/{name}"));
        }
        assert_eq!(
            used, files,
            "{kind}: actions/testdata files and action_test.yaml differ"
        );
        // The same action does the same on every kind.
        for name in ["pause", "resume", "refresh"] {
            let path = action_script_path(kind, name);
            if !path.exists() {
                continue;
            }
            let script = read(&path);
            match shared.get(name) {
                Some((first, text)) => {
                    assert_eq!(
                        &script, text,
                        "{kind}/actions/{name} differs from {first}'s"
                    )
                }
                None => {
                    shared.insert(name.to_string(), (kind.to_string(), script));
                }
            }
        }
        // Only what Argo CD gives action scripts.
        for name in &names {
            let script = read(&action_script_path(kind, name));
            for lib in [
                "string.", "io.", "math.", ":sub(", ":format(", ":find(", "os.exit",
            ] {
                assert!(!script.contains(lib), "{kind}/actions/{name} uses {lib}");
            }
        }
    }
}

/// Under the real clock the actions that need a new value write the UTC
/// time, to the second, in the form the tests expect.
#[test]
fn timestamped_actions_use_the_real_clock() {
    let cases = [
        ("EcsService", "rollback", "berth.dev/rollback"),
        ("EcsService", "refresh", "berth.dev/refresh"),
        ("AuroraCluster", "refresh", "berth.dev/refresh"),
        ("PullThroughCache", "refresh", "berth.dev/refresh"),
        ("MigrationJob", "rerun", "berth.dev/refresh"),
    ];
    for (kind, action, key) in cases {
        let tests = action_tests(kind);
        let t = tests
            .action_tests
            .iter()
            .find(|t| t.action == action && t.expected_output_path.is_some())
            .unwrap();
        let input = load_yaml(&kind_dir(kind).join("actions").join(&t.input_path));
        let before = chrono::Utc::now().timestamp();
        let out = run_action(
            &read(&action_script_path(kind, action)),
            action,
            &input,
            &BTreeMap::new(),
            None,
        )
        .unwrap_or_else(|e| panic!("{kind} {action}: {e}"));
        let after = chrono::Utc::now().timestamp();
        let value = out["metadata"]["annotations"][key].as_str().unwrap();
        let at = chrono::DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%SZ")
            .or_else(|_| chrono::DateTime::parse_from_rfc3339(value))
            .unwrap_or_else(|e| panic!("{kind} {action}: {value:?}: {e}"))
            .timestamp();
        assert!(
            value.len() == TEST_NOW_TEXT.len() && (before..=after).contains(&at),
            "{kind} {action}: {value:?} is not the time of the call"
        );
        // The stubbed clock gives the value the testdata holds.
        let stubbed = run_action(
            &read(&action_script_path(kind, action)),
            action,
            &input,
            &BTreeMap::new(),
            Some(TEST_NOW),
        )
        .unwrap();
        assert_eq!(stubbed["metadata"]["annotations"][key], TEST_NOW_TEXT);
    }
}

/// The harness gives actions what Argo CD gives them and nothing more.
#[test]
fn action_scripts_get_argocd_libraries_only() {
    let obj = serde_json::json!({"metadata": {"name": "x"}});
    let none = BTreeMap::new();
    let run = |script: &str| run_action(script, "t", &obj, &none, Some(TEST_NOW));
    for missing in [
        "string.lower('X')",
        "math.floor(1)",
        "io.write('x')",
        "os.getenv('HOME')",
        "os.exit(1)",
    ] {
        let script = format!("local x = {missing}\nreturn obj");
        assert!(run(&script).is_err(), "{missing} must be missing");
    }
    let ok = run("local os = require('os')\nobj.metadata.t = os.date('!%Y-%m-%dT%XZ') .. ' ' .. os.time()\nreturn obj")
        .unwrap();
    assert_eq!(ok["metadata"]["t"], format!("{TEST_NOW_TEXT} {TEST_NOW}"));
    assert_eq!(
        run("error('no', 0)").unwrap_err(),
        "no",
        "an error reaches the user as its message"
    );
}

/// The action testdata is what berth writes, like the health testdata.
#[test]
fn action_testdata_is_what_berth_writes() {
    let mut problems = Vec::new();
    for kind in KINDS {
        let validator = crd_validator(kind);
        let dir = kind_dir(kind).join("actions/testdata");
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for path in files {
            let obj = load_yaml(&path);
            for p in object_problems(kind, &validator, &obj) {
                problems.push(format!("{kind} {}: {p}", path.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
