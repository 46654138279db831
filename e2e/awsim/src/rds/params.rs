//! Reading awsQuery form fields the way aws-sdk-rds writes them: scalars by
//! name, lists as `Prefix.Member.N` (`Prefix.member.N` when the model names no
//! member), structures as `Prefix.Field`, and an empty list as a bare
//! `Prefix=` so that "set to empty" differs from "not sent".

use std::collections::BTreeMap;

use crate::core::{AwsError, AwsResult};

pub(crate) struct Params<'a>(pub &'a BTreeMap<String, String>);

pub(crate) fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::client("InvalidParameterValue", message)
}

pub(crate) fn combination(message: impl Into<String>) -> AwsError {
    AwsError::client("InvalidParameterCombination", message)
}

impl<'a> Params<'a> {
    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn string(&self, key: &str) -> Option<String> {
        self.str(key).map(str::to_string)
    }

    pub fn required(&self, key: &str) -> AwsResult<&'a str> {
        match self.str(key) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(AwsError::client(
                "MissingParameter",
                format!("The request must contain the parameter {key}"),
            )),
        }
    }

    pub fn bool(&self, key: &str) -> AwsResult<Option<bool>> {
        match self.str(key) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(invalid(format!(
                "Invalid value {v} for parameter {key}: expected a boolean"
            ))),
        }
    }

    pub fn int(&self, key: &str) -> AwsResult<Option<i64>> {
        match self.str(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                invalid(format!(
                    "Invalid value {v} for parameter {key}: expected an integer"
                ))
            }),
        }
    }

    pub fn float(&self, key: &str) -> AwsResult<Option<f64>> {
        match self.str(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                invalid(format!(
                    "Invalid value {v} for parameter {key}: expected a number"
                ))
            }),
        }
    }

    /// A list of scalars `{base}.{member}.N`. `None` when the list was not
    /// sent at all; `Some(vec![])` for the bare `{base}=` of an empty list.
    pub fn list(&self, base: &str, member: &str) -> Option<Vec<String>> {
        let mut out = Vec::new();
        for n in 1.. {
            match self.0.get(&format!("{base}.{member}.{n}")) {
                Some(v) => out.push(v.clone()),
                None => break,
            }
        }
        if out.is_empty() && !self.0.contains_key(base) {
            None
        } else {
            Some(out)
        }
    }

    /// A list of structures `{base}.{member}.N.{Field}`: each entry maps the
    /// field path below the index (e.g. `Key`, `Values.Value.1`) to its value.
    pub fn struct_list(&self, base: &str, member: &str) -> Option<Vec<BTreeMap<String, String>>> {
        let mut out = Vec::new();
        for n in 1.. {
            let prefix = format!("{base}.{member}.{n}.");
            let entry: BTreeMap<String, String> = self
                .0
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(k, v)| (k[prefix.len()..].to_string(), v.clone()))
                .collect();
            if entry.is_empty() {
                break;
            }
            out.push(entry);
        }
        if out.is_empty() && !self.0.contains_key(base) {
            None
        } else {
            Some(out)
        }
    }

    /// `Tags.Tag.N.Key` / `.Value`.
    pub fn tags(&self) -> AwsResult<Vec<(String, String)>> {
        let mut tags = Vec::new();
        for t in self.struct_list("Tags", "Tag").unwrap_or_default() {
            let key = t.get("Key").cloned().unwrap_or_default();
            if key.is_empty() || key.len() > 128 {
                return Err(invalid("Tag keys must be 1 to 128 characters long"));
            }
            if key.starts_with("aws:") || key.starts_with("rds:") {
                return Err(invalid(format!(
                    "Tag key {key} uses a reserved prefix (aws:, rds:)"
                )));
            }
            let value = t.get("Value").cloned().unwrap_or_default();
            if value.len() > 256 {
                return Err(invalid(format!(
                    "Tag value for {key} exceeds 256 characters"
                )));
            }
            tags.push((key, value));
        }
        Ok(tags)
    }

    /// `Filters.Filter.N.Name` with `Values.Value.M`.
    pub fn filters(&self) -> AwsResult<Vec<(String, Vec<String>)>> {
        let mut out = Vec::new();
        for f in self.struct_list("Filters", "Filter").unwrap_or_default() {
            let name = f
                .get("Name")
                .cloned()
                .ok_or_else(|| invalid("A filter must have a Name"))?;
            let values: Vec<String> = (1..)
                .map_while(|n| f.get(&format!("Values.Value.{n}")).cloned())
                .collect();
            if values.is_empty() {
                return Err(invalid(format!(
                    "Filter {name} must have at least one value"
                )));
            }
            out.push((name, values));
        }
        Ok(out)
    }

    /// `MaxRecords` (20..=100, default 100) and `Marker` (an offset here).
    pub fn page(&self) -> AwsResult<(usize, usize)> {
        let max = match self.int("MaxRecords")? {
            None => 100,
            Some(n) if (20..=100).contains(&n) => n as usize,
            Some(n) => {
                return Err(invalid(format!(
                    "Invalid value {n} for MaxRecords: must be between 20 and 100"
                )))
            }
        };
        let start = match self.str("Marker") {
            None | Some("") => 0,
            Some(m) => m
                .parse()
                .map_err(|_| invalid(format!("Invalid Marker {m}")))?,
        };
        Ok((start, max))
    }
}

/// Upserts `new` into `tags`, keeping the first-set order.
pub(crate) fn merge_tags(tags: &mut Vec<(String, String)>, new: Vec<(String, String)>) {
    for (k, v) in new {
        match tags.iter_mut().find(|(tk, _)| *tk == k) {
            Some(slot) => slot.1 = v,
            None => tags.push((k, v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn lists_distinguish_absent_from_empty() {
        let f = form(&[
            ("VpcSecurityGroupIds", ""),
            ("SubnetIds.SubnetIdentifier.1", "subnet-a"),
            ("SubnetIds.SubnetIdentifier.2", "subnet-b"),
        ]);
        let p = Params(&f);
        assert_eq!(
            p.list("VpcSecurityGroupIds", "VpcSecurityGroupId"),
            Some(vec![])
        );
        assert_eq!(
            p.list("SubnetIds", "SubnetIdentifier"),
            Some(vec!["subnet-a".to_string(), "subnet-b".to_string()])
        );
        assert_eq!(p.list("Tags", "Tag"), None);
    }

    #[test]
    fn struct_lists_keep_entries_apart_past_nine() {
        let mut pairs = Vec::new();
        let keys: Vec<String> = (1..=11).map(|n| format!("Tags.Tag.{n}.Key")).collect();
        let values: Vec<String> = (1..=11).map(|n| format!("v{n}")).collect();
        for (k, v) in keys.iter().zip(&values) {
            pairs.push((k.as_str(), v.as_str()));
        }
        let f = form(&pairs);
        let tags = Params(&f).tags().unwrap();
        assert_eq!(tags.len(), 11);
        assert_eq!(tags[0], ("v1".to_string(), String::new()));
        assert_eq!(tags[10], ("v11".to_string(), String::new()));
    }

    #[test]
    fn filters_carry_their_values() {
        let f = form(&[
            ("Filters.Filter.1.Name", "db-cluster-id"),
            ("Filters.Filter.1.Values.Value.1", "a"),
            ("Filters.Filter.1.Values.Value.2", "b"),
        ]);
        assert_eq!(
            Params(&f).filters().unwrap(),
            vec![(
                "db-cluster-id".to_string(),
                vec!["a".to_string(), "b".to_string()]
            )]
        );
    }
}
