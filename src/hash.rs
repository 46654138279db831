//! Content hashes: the identity of a task definition rendering and of a
//! MigrationJob run. Canonical JSON (sorted keys, no whitespace), so the
//! hash never depends on how a map happened to be ordered.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// How many hex characters of the SHA-256 digest are kept: short enough for a
/// tag and a status column, far beyond collisions among one family's revisions.
const HASH_LEN: usize = 16;

/// The first 16 hex characters of the sha256 of `value`'s canonical JSON:
/// the identity of a task definition rendering or of a MigrationJob run.
pub fn content_hash(value: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(value, &mut canonical);
    let digest = Sha256::digest(canonical.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex[..HASH_LEN].to_string()
}

/// Sorted keys, no whitespace: independent of how serde_json orders maps
/// (its `preserve_order` feature may be switched on by another crate).
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

    #[test]
    fn canonical_form_sorts_keys() {
        let mut a = Map::new();
        a.insert("b".into(), json!([{"y": 1, "x": "two"}]));
        a.insert("a".into(), json!(null));
        let mut out = String::new();
        write_canonical(&Value::Object(a), &mut out);
        assert_eq!(out, r#"{"a":null,"b":[{"x":"two","y":1}]}"#);
    }
}
