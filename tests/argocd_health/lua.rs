//! Argo CD's health script runner, shared by `tests/argocd_health.rs` and
//! the state table test in `src/controller/state_table.rs`.

use mlua::{Lua, LuaOptions, StdLib};
use serde::Deserialize;
use serde_json::Value;

/// What a health script returns.
#[derive(Deserialize, Debug, PartialEq, Eq, Clone)]
pub struct HealthStatus {
    pub status: String,
    pub message: String,
}

/// A JSON value as Argo CD hands it to Lua: objects and arrays become tables
/// (arrays 1-based), numbers Lua numbers, null nil.
pub fn to_lua(lua: &Lua, v: &Value) -> mlua::Result<mlua::Value> {
    Ok(match v {
        Value::Null => mlua::Value::Nil,
        Value::Bool(b) => mlua::Value::Boolean(*b),
        Value::Number(n) => mlua::Value::Number(n.as_f64().expect("a JSON number")),
        Value::String(s) => mlua::Value::String(lua.create_string(s)?),
        Value::Array(items) => {
            let t = lua.create_table()?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            mlua::Value::Table(t)
        }
        Value::Object(map) => {
            let t = lua.create_table()?;
            for (k, item) in map {
                t.raw_set(k.as_str(), to_lua(lua, item)?)?;
            }
            mlua::Value::Table(t)
        }
    })
}

/// Runs a health script on `obj` the way Argo CD does, in a fresh state with
/// the base and table libraries only.
pub fn run_health(script: &str, name: &str, obj: &Value) -> Result<HealthStatus, String> {
    let lua = Lua::new_with(StdLib::TABLE, LuaOptions::default()).map_err(|e| e.to_string())?;
    let value = to_lua(&lua, obj).map_err(|e| e.to_string())?;
    lua.globals().set("obj", value).map_err(|e| e.to_string())?;
    let table: mlua::Table = lua
        .load(script)
        .set_name(name)
        .eval()
        .map_err(|e| e.to_string())?;
    let field = |key: &str| -> Result<String, String> {
        match table.get::<mlua::Value>(key).map_err(|e| e.to_string())? {
            mlua::Value::String(s) => Ok(s.to_str().map_err(|e| e.to_string())?.to_string()),
            other => Err(format!("{key} is {}, not a string", other.type_name())),
        }
    };
    Ok(HealthStatus {
        status: field("status")?,
        message: field("message")?,
    })
}
