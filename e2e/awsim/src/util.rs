//! Small helpers shared by the service simulations: ids and JSON access.

use rand::Rng;
use serde_json::{Map, Value};

use crate::core::{AwsError, AwsResult};

/// Random identifiers: every generated id in awsim (task ids, service ids,
/// resource ids, passwords) draws from this one generator.
pub fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

pub const HEX: &[u8] = b"0123456789abcdef";
pub const DIGITS: &[u8] = b"0123456789";
pub const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
pub const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
pub const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

pub fn hex_id(len: usize) -> String {
    random_from(HEX, len)
}

pub fn digits(len: usize) -> String {
    random_from(DIGITS, len)
}

/// Letters only (STS key ids and tokens, secret ARN suffixes).
pub fn alnum(len: usize) -> String {
    random_from(LETTERS, len)
}

/// A random (v4) UUID, as AWS uses for request ids, version ids and more.
pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn request_id() -> String {
    uuid()
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

/// One page of a list. Every service's pagination ends here; the token is
/// the index of the next item, whatever the member is called on the wire
/// (`nextToken`, `NextToken`, `Marker`).
pub struct Page<'a, T> {
    pub items: &'a [T],
    pub next: Option<String>,
}

pub fn page<T>(items: &[T], start: usize, max: usize) -> Page<'_, T> {
    let start = start.min(items.len());
    let end = start.saturating_add(max).min(items.len());
    Page {
        items: &items[start..end],
        next: (end < items.len()).then(|| end.to_string()),
    }
}

/// Splits a list into a page for the awsJson services that take
/// `nextToken` and `maxResults` (or Logs' `limit`).
pub fn paginate<T: Clone>(
    items: &[T],
    body: &Value,
    default_max: usize,
) -> (Vec<T>, Option<String>) {
    let start = str_field(body, "nextToken")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0);
    let max = int_field(body, "maxResults")
        .or_else(|| int_field(body, "limit"))
        .filter(|m| *m > 0)
        .map(|m| m as usize)
        .unwrap_or(default_max);
    let p = page(items, start, max);
    (p.items.to_vec(), p.next)
}
