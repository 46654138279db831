//! awsQuery form fields folded into the JSON shape the rule paths address.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Folds awsQuery fields into JSON: `A.B.1.C` nests, numeric segments make
/// lists, and the member wrapper of a list (`Tags.Tag.N`) is dropped so the
/// list is addressed as `Tags[]`. A bare `Tags=` (an empty list) stays "".
pub fn fold_query(params: &BTreeMap<String, String>) -> Value {
    let mut root = Map::new();
    for (k, v) in params {
        if matches!(k.as_str(), "Action" | "Version") {
            continue;
        }
        let segs: Vec<&str> = k.split('.').collect();
        insert(&mut root, &segs, v);
    }
    normalize(Value::Object(root))
}

fn insert(node: &mut Map<String, Value>, segs: &[&str], v: &str) {
    let Some((first, rest)) = segs.split_first() else {
        return;
    };
    if rest.is_empty() {
        node.entry(first.to_string())
            .or_insert_with(|| Value::String(v.to_string()));
        return;
    }
    let child = node
        .entry(first.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !child.is_object() {
        *child = Value::Object(Map::new());
    }
    if let Value::Object(m) = child {
        insert(m, rest, v);
    }
}

fn normalize(v: Value) -> Value {
    let Value::Object(m) = v else { return v };
    let numeric = !m.is_empty() && m.keys().all(|k| k.parse::<usize>().is_ok());
    if numeric {
        let mut items: Vec<(usize, Value)> = m
            .into_iter()
            .map(|(k, v)| (k.parse().unwrap_or(0), normalize(v)))
            .collect();
        items.sort_by_key(|(i, _)| *i);
        return Value::Array(items.into_iter().map(|(_, v)| v).collect());
    }
    let mut out: Map<String, Value> = m.into_iter().map(|(k, v)| (k, normalize(v))).collect();
    if out.len() == 1 && out.values().all(Value::is_array) {
        if let Some(list) = out.values_mut().next() {
            return list.take();
        }
    }
    Value::Object(out)
}
