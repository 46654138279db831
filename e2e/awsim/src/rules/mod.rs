//! Request rules: the constraints AWS documents for each request member
//! (required, length, pattern, enum, range, list size, tags), kept as data
//! tables per service and checked before dispatch, so awsim rejects exactly
//! what AWS rejects. Every rule cites the API reference page it comes from;
//! the constraints themselves are the ones AWS publishes in its service
//! models (botocore `service-2.json`: `min`, `max`, `pattern`, `enum`,
//! `required`) and in the member descriptions of the API reference.
//!
//! Paths name members the way the JSON body nests them: `serviceName`,
//! `tags[].key` (every element of a list), `tags{key}` / `tags{value}` (every
//! key / value of a map), `deploymentConfiguration.alarms.alarmNames`.
//! awsQuery (RDS) form fields are folded into the same shape first:
//! `Tags.Tag.1.Key` becomes `Tags[0].Key`, addressed as `Tags[].Key`.

pub mod cloudmap;
pub mod ecr;
pub mod ecs;
pub mod logs;
mod query;
pub mod rds;
pub mod secrets;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde_json::Value;

pub use query::fold_query;

use crate::core::AwsError;

/// One constraint on one member.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// The member must be present (not null).
    Required,
    /// String length in characters, inclusive.
    Length {
        min: usize,
        max: usize,
    },
    /// The whole string must match (Java-style pattern, anchored here).
    Pattern(&'static str),
    /// Every character's code point lies in `lo..=hi` (ECS client tokens:
    /// "ASCII characters in the range of 33-126").
    CharRange {
        lo: u32,
        hi: u32,
    },
    /// The string must not start with any of these (case-sensitive, like a
    /// Java `(?!arn:)` lookahead).
    NoPrefix(&'static [&'static str]),
    /// The string must not equal any of these (ASCII case-insensitive).
    NotOneOf(&'static [&'static str]),
    Enum(&'static [&'static str]),
    /// Numeric value, inclusive (awsQuery numbers arrive as strings).
    Range {
        min: i64,
        max: i64,
    },
    /// Number of list elements (or map entries), inclusive.
    ListSize {
        min: usize,
        max: usize,
    },
    /// A tag list (`[{key, value}]`) or tag map (`{key: value}`).
    Tags(TagSpec),
}

/// How a service's tags look and what it allows per request.
#[derive(Debug, Clone, Copy)]
pub struct TagSpec {
    /// Member names of a tag in a list (`key`/`value` or `Key`/`Value`).
    pub key: &'static str,
    pub value: &'static str,
    /// Most tags in one request.
    pub max: usize,
    pub key_max: usize,
    pub value_max: usize,
    /// Reserved prefixes (matched ignoring ASCII case).
    pub reserved: &'static [&'static str],
    /// Whether values are reserved too (ECS and RDS document so).
    pub values_reserved: bool,
    /// Allowed characters of keys and values, when documented.
    pub pattern: Option<&'static str>,
    /// Error code for a request with more than `max` tags, when it differs
    /// from the rule's code (ECR: `TooManyTagsException`).
    pub too_many_code: Option<&'static str>,
}

#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub path: &'static str,
    pub check: Check,
    /// The AWS API reference page the constraint comes from.
    pub source: &'static str,
    /// Overrides the service's error code for this rule.
    pub code: Option<&'static str>,
    /// Overrides the message; `{path}` and `{value}` are substituted.
    pub message: Option<&'static str>,
}

impl Rule {
    pub const fn new(path: &'static str, check: Check, source: &'static str) -> Self {
        Self {
            path,
            check,
            source,
            code: None,
            message: None,
        }
    }
    pub const fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }
    pub const fn message(mut self, message: &'static str) -> Self {
        self.message = Some(message);
        self
    }
}

pub const fn required(path: &'static str, source: &'static str) -> Rule {
    Rule::new(path, Check::Required, source)
}
pub const fn length(path: &'static str, min: usize, max: usize, source: &'static str) -> Rule {
    Rule::new(path, Check::Length { min, max }, source)
}
pub const fn pattern(path: &'static str, p: &'static str, source: &'static str) -> Rule {
    Rule::new(path, Check::Pattern(p), source)
}
pub const fn one_of(
    path: &'static str,
    values: &'static [&'static str],
    source: &'static str,
) -> Rule {
    Rule::new(path, Check::Enum(values), source)
}
pub const fn range(path: &'static str, min: i64, max: i64, source: &'static str) -> Rule {
    Rule::new(path, Check::Range { min, max }, source)
}
pub const fn list_size(path: &'static str, min: usize, max: usize, source: &'static str) -> Rule {
    Rule::new(path, Check::ListSize { min, max }, source)
}
pub const fn tags(path: &'static str, spec: TagSpec, source: &'static str) -> Rule {
    Rule::new(path, Check::Tags(spec), source)
}

/// The rules of one operation.
pub struct OpRules {
    pub op: &'static str,
    pub rules: &'static [Rule],
}

/// How a service words a rejected request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Style {
    /// Coral's `1 validation error detected: Value 'x' at 'p' failed to
    /// satisfy constraint: Member must ...` (Logs, Cloud Map, Secrets
    /// Manager, RDS).
    Coral,
    /// ECR: `Invalid parameter at 'p' failed to satisfy constraint: '...'`.
    Ecr,
    /// ECS words its own checks: `startedBy longer than 36.`, `Family
    /// contains invalid characters.`
    Ecs,
}

struct ServiceStyle {
    code: &'static str,
    /// Code for a missing required member.
    missing_code: &'static str,
    style: Style,
    tables: &'static [OpRules],
}

fn service_style(service: &str) -> Option<ServiceStyle> {
    Some(match service {
        "ecs" => ServiceStyle {
            code: "InvalidParameterException",
            missing_code: "InvalidParameterException",
            style: Style::Ecs,
            tables: ecs::TABLES,
        },
        "ecr" => ServiceStyle {
            code: "InvalidParameterException",
            missing_code: "InvalidParameterException",
            style: Style::Ecr,
            tables: ecr::TABLES,
        },
        "servicediscovery" => ServiceStyle {
            code: "InvalidInput",
            missing_code: "InvalidInput",
            style: Style::Coral,
            tables: cloudmap::TABLES,
        },
        "secretsmanager" => ServiceStyle {
            code: secrets::VALIDATION_CODE,
            missing_code: secrets::VALIDATION_CODE,
            style: Style::Coral,
            tables: secrets::TABLES,
        },
        "logs" => ServiceStyle {
            code: "InvalidParameterException",
            missing_code: "InvalidParameterException",
            style: Style::Coral,
            tables: logs::TABLES,
        },
        "rds" => ServiceStyle {
            code: "InvalidParameterValue",
            missing_code: "MissingParameter",
            style: Style::Coral,
            tables: rds::TABLES,
        },
        _ => return None,
    })
}

/// Checks an awsJson request body against the operation's table.
/// `service` is `Service::name()` (`ecs`, `ecr`, `servicediscovery`,
/// `secretsmanager`, `logs`), `op` the `X-Amz-Target` operation.
pub fn check_json(service: &str, op: &str, body: &Value) -> Result<(), AwsError> {
    let Some(style) = service_style(service) else {
        return Ok(());
    };
    let Some(table) = style.tables.iter().find(|t| t.op == op) else {
        return Ok(());
    };
    for rule in table.rules {
        check_rule(&style, rule, body)?;
    }
    Ok(())
}

/// Checks an awsQuery request (`service` `rds`) given its form fields
/// (`Tags.Tag.1.Key`, `VpcSecurityGroupIds.VpcSecurityGroupId.1`, ...).
pub fn check_query(
    service: &str,
    action: &str,
    params: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    if service_style(service).is_none() {
        return Ok(());
    }
    check_json(service, action, &fold_query(params))
}

/// The operations of `service` that have a rules table.
pub fn covered_operations(service: &str) -> Vec<&'static str> {
    service_style(service)
        .map(|s| s.tables.iter().map(|t| t.op).collect())
        .unwrap_or_default()
}

/// Every rule of every service, for tests that audit the tables.
pub fn all_rules() -> Vec<(&'static str, &'static str, &'static Rule)> {
    let mut out = Vec::new();
    for service in [
        "ecs",
        "ecr",
        "servicediscovery",
        "secretsmanager",
        "logs",
        "rds",
    ] {
        if let Some(s) = service_style(service) {
            for t in s.tables {
                for r in t.rules {
                    out.push((service, t.op, r));
                }
            }
        }
    }
    out
}

// ---- evaluation ---------------------------------------------------------------

enum Seg<'a> {
    Field(&'a str),
    Each(&'a str),
    MapKeys(&'a str),
    MapValues(&'a str),
}

fn parse_path(path: &str) -> Vec<Seg<'_>> {
    path.split('.')
        .map(|s| {
            if let Some(n) = s.strip_suffix("[]") {
                Seg::Each(n)
            } else if let Some(n) = s.strip_suffix("{key}") {
                Seg::MapKeys(n)
            } else if let Some(n) = s.strip_suffix("{value}") {
                Seg::MapValues(n)
            } else {
                Seg::Field(s)
            }
        })
        .collect()
}

/// A value found at a path, with the path AWS would print
/// (`containerDefinitions.1.member.name`).
struct Found<'a> {
    at: String,
    value: FoundValue<'a>,
}

enum FoundValue<'a> {
    Json(&'a Value),
    Key(&'a str),
}

fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_string()
    } else {
        format!("{at}.{name}")
    }
}

fn resolve<'a>(root: &'a Value, segs: &[Seg]) -> Vec<Found<'a>> {
    let mut cur = vec![Found {
        at: String::new(),
        value: FoundValue::Json(root),
    }];
    for seg in segs {
        let mut next = Vec::new();
        for f in cur {
            let FoundValue::Json(v) = f.value else {
                continue;
            };
            match seg {
                Seg::Field(n) => {
                    if let Some(c) = v.get(*n).filter(|c| !c.is_null()) {
                        next.push(Found {
                            at: join(&f.at, n),
                            value: FoundValue::Json(c),
                        });
                    }
                }
                Seg::Each(n) => {
                    if let Some(Value::Array(items)) = v.get(*n) {
                        for (i, c) in items.iter().enumerate() {
                            next.push(Found {
                                at: format!("{}.{}.member", join(&f.at, n), i + 1),
                                value: FoundValue::Json(c),
                            });
                        }
                    }
                }
                Seg::MapKeys(n) | Seg::MapValues(n) => {
                    if let Some(Value::Object(m)) = v.get(*n) {
                        for (k, c) in m {
                            let at = join(&f.at, n);
                            next.push(match seg {
                                Seg::MapKeys(_) => Found {
                                    at,
                                    value: FoundValue::Key(k),
                                },
                                _ => Found {
                                    at: format!("{at}.{k}"),
                                    value: FoundValue::Json(c),
                                },
                            });
                        }
                    }
                }
            }
        }
        cur = next;
    }
    cur
}

fn regex(p: &str) -> Option<Regex> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(p.to_string())
        .or_insert_with(|| Regex::new(&format!("^(?:{p})$")).ok())
        .clone()
}

/// A broken pattern must not silently accept everything: tests compile
/// every table pattern (see `every_pattern_compiles`).
fn matches(p: &str, s: &str) -> bool {
    regex(p).is_some_and(|r| r.is_match(s))
}

fn has_prefix(s: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| {
        s.get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    })
}

fn as_text(v: &FoundValue) -> Option<String> {
    match v {
        FoundValue::Key(k) => Some((*k).to_string()),
        FoundValue::Json(Value::String(s)) => Some(s.clone()),
        FoundValue::Json(Value::Number(n)) => Some(n.to_string()),
        FoundValue::Json(Value::Bool(b)) => Some(b.to_string()),
        FoundValue::Json(_) => None,
    }
}

fn as_number(v: &FoundValue) -> Option<f64> {
    match v {
        FoundValue::Json(Value::Number(n)) => n.as_f64(),
        FoundValue::Json(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
}

fn count(v: &FoundValue) -> Option<usize> {
    match v {
        FoundValue::Json(Value::Array(a)) => Some(a.len()),
        FoundValue::Json(Value::Object(m)) => Some(m.len()),
        // awsQuery's bare `List=` is an empty list.
        FoundValue::Json(Value::String(s)) if s.is_empty() => Some(0),
        _ => None,
    }
}

/// What was wrong, in Coral's words ("Member must ...").
struct Violation {
    at: String,
    value: Option<String>,
    constraint: String,
    ecs: String,
    missing: bool,
    code: Option<&'static str>,
}

fn check_rule(style: &ServiceStyle, rule: &Rule, body: &Value) -> Result<(), AwsError> {
    let Some(v) = violation(rule, body) else {
        return Ok(());
    };
    let code = v.code.or(rule.code).unwrap_or(if v.missing {
        style.missing_code
    } else {
        style.code
    });
    let shown = v.value.clone().unwrap_or_default();
    let message = match rule.message {
        Some(m) => m.replace("{path}", &v.at).replace("{value}", &shown),
        None if v.missing && style.missing_code == "MissingParameter" => {
            format!("The request must contain the parameter {}", v.at)
        }
        None => match style.style {
            Style::Ecs => v.ecs,
            Style::Ecr => format!(
                "Invalid parameter at '{}' failed to satisfy constraint: '{}'",
                v.at,
                v.constraint.trim_start_matches("Member ")
            ),
            Style::Coral => {
                let value = match &v.value {
                    Some(s) => format!("'{s}'"),
                    None => "null".to_string(),
                };
                format!(
                    "1 validation error detected: Value {value} at '{}' failed to satisfy constraint: {}",
                    v.at, v.constraint
                )
            }
        },
    };
    Err(AwsError::client(code, message))
}

fn violation(rule: &Rule, body: &Value) -> Option<Violation> {
    let segs = parse_path(rule.path);
    if let Check::Required = rule.check {
        let (last, parents) = segs.split_last()?;
        let Seg::Field(name) = last else { return None };
        for p in resolve(body, parents) {
            let FoundValue::Json(obj) = p.value else {
                continue;
            };
            if obj.get(*name).is_none_or(Value::is_null) {
                let at = join(&p.at, name);
                return Some(Violation {
                    ecs: format!("{at} can not be blank."),
                    at,
                    value: None,
                    constraint: "Member must not be null".into(),
                    missing: true,
                    code: None,
                });
            }
        }
        return None;
    }
    for f in resolve(body, &segs) {
        if let Some(v) = violation_at(&rule.check, &f) {
            return Some(v);
        }
    }
    None
}

fn simple(f: &Found, constraint: String, ecs: String) -> Option<Violation> {
    Some(Violation {
        at: f.at.clone(),
        value: as_text(&f.value),
        constraint,
        ecs,
        missing: false,
        code: None,
    })
}

fn violation_at(check: &Check, f: &Found) -> Option<Violation> {
    let at = &f.at;
    match *check {
        Check::Required => None,
        Check::Length { min, max } => {
            let n = as_text(&f.value)?.chars().count();
            if n < min {
                simple(
                    f,
                    format!("Member must have length greater than or equal to {min}"),
                    format!("{at} shorter than {min}."),
                )
            } else if n > max {
                simple(
                    f,
                    format!("Member must have length less than or equal to {max}"),
                    format!("{at} longer than {max}."),
                )
            } else {
                None
            }
        }
        Check::Pattern(p) => {
            let s = as_text(&f.value)?;
            (!matches(p, &s)).then_some(())?;
            simple(
                f,
                format!("Member must satisfy regular expression pattern: {p}"),
                format!("{at} contains invalid characters."),
            )
        }
        Check::CharRange { lo, hi } => {
            let s = as_text(&f.value)?;
            s.chars()
                .any(|c| !(lo..=hi).contains(&(c as u32)))
                .then_some(())?;
            simple(
                f,
                format!("Member must contain only characters in the range {lo}-{hi}"),
                format!("{at} contains invalid characters."),
            )
        }
        Check::NoPrefix(prefixes) => {
            let s = as_text(&f.value)?;
            prefixes.iter().any(|p| s.starts_with(p)).then_some(())?;
            simple(
                f,
                format!("Member must not start with {}", prefixes.join(" or ")),
                format!("{at} uses a reserved prefix ({}).", prefixes.join(", ")),
            )
        }
        Check::NotOneOf(values) => {
            let s = as_text(&f.value)?;
            values
                .iter()
                .any(|v| v.eq_ignore_ascii_case(&s))
                .then_some(())?;
            simple(
                f,
                format!("Member must not be {}", values.join(" or ")),
                format!("{at} must not be {}.", values.join(" or ")),
            )
        }
        Check::Enum(values) => {
            let s = as_text(&f.value)?;
            (!values.contains(&s.as_str())).then_some(())?;
            simple(
                f,
                format!(
                    "Member must satisfy enum value set: [{}]",
                    values.join(", ")
                ),
                format!(
                    "Invalid value for {at}: {s}. Valid values: {}.",
                    values.join(", ")
                ),
            )
        }
        Check::Range { min, max } => {
            let n = as_number(&f.value)?;
            if n < min as f64 {
                simple(
                    f,
                    format!("Member must have value greater than or equal to {min}"),
                    format!("{at} must be between {min} and {max}."),
                )
            } else if n > max as f64 {
                simple(
                    f,
                    format!("Member must have value less than or equal to {max}"),
                    format!("{at} must be between {min} and {max}."),
                )
            } else {
                None
            }
        }
        Check::ListSize { min, max } => {
            let n = count(&f.value)?;
            if n < min {
                simple(
                    f,
                    format!("Member must have length greater than or equal to {min}"),
                    format!("{at} must contain at least {min} elements."),
                )
            } else if n > max {
                simple(
                    f,
                    format!("Member must have length less than or equal to {max}"),
                    format!("{at} can have at most {max} elements."),
                )
            } else {
                None
            }
        }
        Check::Tags(spec) => tag_violation(&spec, f),
    }
}

/// The tags of a request as (path, key, value) triples.
fn tag_pairs(spec: &TagSpec, f: &Found) -> Option<Vec<(String, String, String)>> {
    let FoundValue::Json(v) = f.value else {
        return None;
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    match v {
        Value::Array(items) => Some(
            items
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    (
                        format!("{}.{}.member", f.at, i + 1),
                        text(t.get(spec.key)),
                        text(t.get(spec.value)),
                    )
                })
                .collect(),
        ),
        Value::Object(m) => Some(
            m.iter()
                .map(|(k, v)| (f.at.clone(), k.clone(), text(Some(v))))
                .collect(),
        ),
        Value::String(s) if s.is_empty() => Some(vec![]),
        _ => None,
    }
}

fn tag_violation(spec: &TagSpec, f: &Found) -> Option<Violation> {
    let pairs = tag_pairs(spec, f)?;
    let fail = |at: String, value: Option<String>, constraint: String, ecs: String| {
        Some(Violation {
            at,
            value,
            constraint,
            ecs,
            missing: false,
            code: None,
        })
    };
    if pairs.len() > spec.max {
        let mut v = fail(
            f.at.clone(),
            None,
            format!("Member must have length less than or equal to {}", spec.max),
            format!("{} can have at most {} tags.", f.at, spec.max),
        )?;
        v.code = spec.too_many_code;
        return Some(v);
    }
    for (at, key, value) in pairs {
        let key_at = format!("{at}.{}", spec.key);
        let value_at = format!("{at}.{}", spec.value);
        let n = key.chars().count();
        if n == 0 || n > spec.key_max {
            return fail(
                key_at,
                Some(key),
                format!(
                    "Member must have length between 1 and {} (inclusive)",
                    spec.key_max
                ),
                format!(
                    "Tag keys must be between 1 and {} characters.",
                    spec.key_max
                ),
            );
        }
        if value.chars().count() > spec.value_max {
            return fail(
                value_at,
                Some(value),
                format!(
                    "Member must have length less than or equal to {}",
                    spec.value_max
                ),
                format!("Tag values must be at most {} characters.", spec.value_max),
            );
        }
        if let Some(p) = spec.pattern {
            for (a, s) in [(&key_at, &key), (&value_at, &value)] {
                if !matches(p, s) {
                    return fail(
                        a.clone(),
                        Some(s.clone()),
                        format!("Member must satisfy regular expression pattern: {p}"),
                        format!("Tag {s:?} contains invalid characters."),
                    );
                }
            }
        }
        let reserved = spec.reserved.join(", ");
        if has_prefix(&key, spec.reserved) {
            return fail(
                key_at,
                Some(key),
                format!("Member must not start with a reserved prefix ({reserved})"),
                format!("Tag keys can not start with a reserved prefix ({reserved})."),
            );
        }
        if spec.values_reserved && has_prefix(&value, spec.reserved) {
            return fail(
                value_at,
                Some(value),
                format!("Member must not start with a reserved prefix ({reserved})"),
                format!("Tag values can not start with a reserved prefix ({reserved})."),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests;
