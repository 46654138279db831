//! Wire helpers shared by every Cloud Map operation: errors, members,
//! tags, pagination and filters.

use super::*;
use crate::util::{page, random_from, LOWER_ALNUM};

pub(super) fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::client("InvalidInput", message)
}

pub(super) fn str_of<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str)
}

pub(super) fn required<'a>(body: &'a Value, key: &str) -> AwsResult<&'a str> {
    match str_of(body, key) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(invalid(format!("{key} is required."))),
    }
}

pub(super) fn tags_of(body: &Value, key: &str) -> AwsResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for t in body
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let k = str_of(t, "Key").unwrap_or_default();
        let v = str_of(t, "Value").unwrap_or_default();
        if k.is_empty() || k.len() > 128 || v.len() > 256 {
            return Err(invalid(
                "Tag keys must be 1 to 128 characters and values at most 256.",
            ));
        }
        match out
            .iter_mut()
            .find(|(ek, _): &&mut (String, String)| ek == k)
        {
            Some(slot) => slot.1 = v.to_string(),
            None => out.push((k.to_string(), v.to_string())),
        }
    }
    if out.len() > MAX_TAGS {
        return Err(AwsError::client(
            "TooManyTagsException",
            format!("A resource can have at most {MAX_TAGS} tags."),
        ));
    }
    Ok(out)
}

pub(super) fn tags_json(tags: &[(String, String)]) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    )
}

pub(super) fn random_id(len: usize) -> String {
    random_from(LOWER_ALNUM, len)
}

/// `MaxResults` (1..=100, default 100) and `NextToken` (an offset here).
pub(super) fn page_of(body: &Value) -> AwsResult<(usize, usize)> {
    let max = match body.get("MaxResults").and_then(Value::as_i64) {
        None => 100,
        Some(n) if (1..=100).contains(&n) => n as usize,
        Some(n) => {
            return Err(invalid(format!(
                "MaxResults {n} must be between 1 and 100."
            )))
        }
    };
    let start = match str_of(body, "NextToken") {
        None | Some("") => 0,
        Some(t) => t
            .parse()
            .map_err(|_| invalid(format!("Invalid NextToken {t}")))?,
    };
    Ok((start, max))
}

pub(super) fn paginate(
    items: Vec<Value>,
    start: usize,
    max: usize,
) -> (Vec<Value>, Option<String>) {
    let p = page(&items, start, max);
    (p.items.to_vec(), p.next)
}

pub(super) fn with_next(mut out: Map<String, Value>, next: Option<String>) -> Value {
    if let Some(n) = next {
        out.insert("NextToken".into(), Value::String(n));
    }
    Value::Object(out)
}

/// A filter `{Name, Values, Condition}` over a string attribute.
pub(super) fn filter_matches(filter: &Value, actual: &str) -> bool {
    let values: Vec<&str> = filter
        .get("Values")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match str_of(filter, "Condition").unwrap_or("EQ") {
        "BEGINS_WITH" => values.iter().any(|v| actual.starts_with(v)),
        _ => values.contains(&actual),
    }
}
