//! Semantic validation shared by every kind.
//!
//! The CRD schema rejects wrong types, enums, ranges and patterns, and its CEL
//! rules reject cross-field mistakes on clusters >= 1.25. Older clusters ignore
//! CEL, so the controller re-checks everything here before any AWS call and
//! reports `Degraded`/`InvalidSpec` with the field path.

use std::fmt;

/// One problem with one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Path from the object root, e.g. `spec.deployment.maximumPercent`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every problem found in a spec (never empty).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct InvalidSpec(pub Vec<FieldError>);

impl fmt::Display for InvalidSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

impl InvalidSpec {
    /// True when some error is about `field` (or a field below it).
    pub fn names(&self, field: &str) -> bool {
        self.0.iter().any(|e| e.field.starts_with(field))
    }
}

/// Collects errors while walking a spec.
#[derive(Default, Debug)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Records `message` at `field` when `ok` is false.
    pub fn check(&mut self, ok: bool, field: impl Into<String>, message: impl Into<String>) {
        if !ok {
            self.push(field, message);
        }
    }

    pub fn finish(self) -> Result<(), InvalidSpec> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(InvalidSpec(self.0))
        }
    }
}

/// RDS identifiers: 1-63 lowercase letters, digits or hyphens, starting with
/// a letter, no trailing hyphen and no two consecutive hyphens. AWS stores
/// them lowercased, so an uppercase one would never match what berth reads back.
pub fn is_rds_identifier(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// ECS names (cluster, service, family, container): letters, digits,
/// hyphens and underscores, 1-255.
pub fn is_ecs_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A syntactically valid ARN of the given service (`iam`, `secretsmanager`, …).
pub fn is_arn_of(s: &str, service: &str) -> bool {
    let mut parts = s.splitn(6, ':');
    parts.next() == Some("arn")
        && matches!(parts.next(), Some(p) if p.starts_with("aws"))
        && parts.next() == Some(service)
        && parts.next().is_some()
        && parts.next().is_some()
        && matches!(parts.next(), Some(r) if !r.is_empty())
}

/// The memory sizes (MiB) Fargate accepts for a task CPU size, as AWS
/// documents them; `None` for a CPU size Fargate does not offer.
pub fn fargate_memory_options(cpu: i32) -> Option<Vec<i32>> {
    let range = |from: i32, to: i32, step: i32| (from..=to).step_by(step as usize).collect();
    Some(match cpu {
        256 => vec![512, 1024, 2048],
        512 => range(1024, 4096, 1024),
        1024 => range(2048, 8192, 1024),
        2048 => range(4096, 16384, 1024),
        4096 => range(8192, 30720, 1024),
        8192 => range(16384, 61440, 4096),
        16384 => range(32768, 122880, 8192),
        _ => return None,
    })
}

/// Tags berth adds to every resource it creates (owner, uid and, on task
/// definitions, the spec hash): they count against AWS's 50-tag limit.
pub const BERTH_TAGS: usize = 3;
/// "Maximum number of tags per resource: 50."
/// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Tag.html>
pub const MAX_TAGS: usize = 50;

/// A character AWS allows in a tag key or value: "letters, numbers, and
/// spaces representable in UTF-8, and the following characters: + - = . _ : / @"
/// (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Tag.html>).
fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c)
}

/// User tags: berth's own `berth.dev/` keys and AWS's `aws:` keys (any
/// case) are reserved; lengths, characters and count as AWS documents them.
pub fn validate_tags(tags: &super::common::Tags, e: &mut Errors) {
    e.check(
        tags.len() + BERTH_TAGS <= MAX_TAGS,
        "spec.tags",
        format!(
            "at most {} tags: AWS allows {MAX_TAGS} per resource and berth adds {BERTH_TAGS}",
            MAX_TAGS - BERTH_TAGS
        ),
    );
    for (k, v) in tags {
        let field = format!("spec.tags.{k}");
        // "Do not use aws:, AWS:, or any upper or lowercase combination of
        // such as a prefix for either keys or values" (API_Tag.html).
        let aws = |s: &str| s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:"));
        e.check(
            !k.starts_with("berth.dev/") && !aws(k) && !aws(v),
            &field,
            "the berth.dev/ and aws: prefixes are reserved (aws: for values too)",
        );
        e.check(
            !k.is_empty() && k.chars().count() <= 128,
            &field,
            "a tag key has 1 to 128 characters",
        );
        e.check(
            v.chars().count() <= 256,
            &field,
            format!(
                "a tag value has at most 256 characters (this one has {})",
                v.chars().count()
            ),
        );
        e.check(
            k.chars().chain(v.chars()).all(is_tag_char),
            &field,
            "tag keys and values hold letters, digits, spaces and + - = . _ : / @ only",
        );
    }
}

pub const FARGATE_CPU: [i32; 7] = [256, 512, 1024, 2048, 4096, 8192, 16384];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rds_identifiers() {
        assert!(is_rds_identifier("orders-db"));
        assert!(!is_rds_identifier("Orders-db"));
        assert!(!is_rds_identifier("1orders"));
        assert!(!is_rds_identifier("orders-"));
        assert!(!is_rds_identifier("orders--db"));
        assert!(!is_rds_identifier(&"a".repeat(64)));
    }

    #[test]
    fn fargate_pairs() {
        assert!(fargate_memory_options(256).unwrap().contains(&512));
        assert!(!fargate_memory_options(256).unwrap().contains(&4096));
        assert!(fargate_memory_options(8192).unwrap().contains(&20480));
        assert!(!fargate_memory_options(8192).unwrap().contains(&17408));
        assert!(fargate_memory_options(300).is_none());
    }

    #[test]
    fn arns() {
        assert!(is_arn_of("arn:aws:iam::123456789012:role/x", "iam"));
        assert!(!is_arn_of(
            "arn:aws:iam::123456789012:role/x",
            "secretsmanager"
        ));
        assert!(!is_arn_of("role/x", "iam"));
    }
}
