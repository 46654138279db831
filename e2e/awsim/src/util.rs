//! Small helpers shared by the service simulations: ids and JSON access.

use rand::Rng;
use serde_json::{Map, Value};

use crate::core::{AwsError, AwsResult};

pub fn hex_id(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

pub fn digits(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..10), 10).unwrap_or('0'))
        .collect()
}

pub fn alnum(len: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn str_field<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

pub fn required<'a>(body: &'a Value, key: &str, code: &str) -> AwsResult<&'a str> {
    str_field(body, key).ok_or_else(|| AwsError::client(code, format!("{key} must be specified.")))
}

pub fn str_list(body: &Value, key: &str) -> Vec<String> {
    body.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn bool_field(body: &Value, key: &str) -> Option<bool> {
    body.get(key).and_then(Value::as_bool)
}

pub fn int_field(body: &Value, key: &str) -> Option<i64> {
    body.get(key).and_then(Value::as_i64)
}

/// Builds a JSON object leaving out `null` members, as AWS omits unset
/// fields rather than sending null.
pub fn obj(pairs: Vec<(&str, Value)>) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        if !v.is_null() {
            m.insert(k.to_string(), v);
        }
    }
    Value::Object(m)
}

/// Splits a list into a page: `nextToken` is the index of the next item.
pub fn paginate<T: Clone>(
    items: &[T],
    body: &Value,
    default_max: usize,
) -> (Vec<T>, Option<String>) {
    let start = str_field(body, "nextToken")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0)
        .min(items.len());
    let max = int_field(body, "maxResults")
        .or_else(|| int_field(body, "limit"))
        .filter(|m| *m > 0)
        .map(|m| m as usize)
        .unwrap_or(default_max);
    let end = (start + max).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    (items[start..end].to_vec(), next)
}
