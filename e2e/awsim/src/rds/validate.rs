//! Parameter checks RDS makes beyond the request rules of
//! `crate::rules::rds` (values that depend on each other or on the engine).

use super::*;

/// RDS identifiers: "Must contain from 1 to `max` letters, numbers, or
/// hyphens. First character must be a letter. Can't end with a hyphen or
/// contain two consecutive hyphens." Either case is valid: callers lowercase
/// the identifier first, as RDS stores it ("stored as a lowercase string").
pub(super) fn validate_identifier(param: &str, id: &str, max: usize) -> AwsResult<()> {
    let well_formed = !id.is_empty()
        && id.len() <= max
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !id.ends_with('-')
        && !id.contains("--");
    if !well_formed {
        return Err(invalid(format!(
            "The parameter {param} is not a valid identifier. Identifiers must begin with a letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens."
        )));
    }
    Ok(())
}

pub(super) fn validate_engine_version(engine: &str, v: &str) -> AwsResult<()> {
    let ok = match engine {
        "aurora-postgresql" => {
            let parts: Vec<&str> = v.split('.').collect();
            parts.len() == 2
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
                && parts[0]
                    .parse::<u32>()
                    .is_ok_and(|m| (11..=17).contains(&m))
        }
        _ => v.starts_with("8.0.mysql_aurora.3.") || v.starts_with("5.7.mysql_aurora.2."),
    };
    if ok {
        Ok(())
    } else {
        Err(combination(format!("Cannot find version {v} for {engine}")))
    }
}

pub(super) fn version_key(v: &str) -> Vec<u64> {
    v.split('.').filter_map(|p| p.parse().ok()).collect()
}

pub(super) fn validate_master_username(u: &str) -> AwsResult<()> {
    let ok = u.len() <= 63
        && u.starts_with(|c: char| c.is_ascii_alphabetic())
        && u.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !u.eq_ignore_ascii_case("rdsadmin");
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "MasterUsername {u} is not valid: it must be 1 to 63 letters, digits or underscores, begin with a letter, and not be a reserved word."
        )))
    }
}

pub(super) fn validate_password(pw: &str) -> AwsResult<()> {
    let ok = (8..=128).contains(&pw.len())
        && pw
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '/' | '"' | '@'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "The parameter MasterUserPassword is not a valid password. It must be 8 to 128 printable ASCII characters other than '/', '\"', '@' and space.",
        ))
    }
}

pub(super) fn validate_database_name(db: &str) -> AwsResult<()> {
    let ok = !db.is_empty()
        && db.len() <= 63
        && db.starts_with(|c: char| c.is_ascii_alphabetic())
        && db.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "DatabaseName {db} is not valid: it must be 1 to 63 letters, digits or underscores and begin with a letter."
        )))
    }
}

pub(super) fn validate_instance_class(class: &str) -> AwsResult<()> {
    let parts: Vec<&str> = class.split('.').collect();
    let ok = class == "db.serverless"
        || (parts.len() == 3
            && parts[0] == "db"
            && parts[1..].iter().all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            }));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("Invalid DB instance class: {class}")))
    }
}
