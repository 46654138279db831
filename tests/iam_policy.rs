//! `charts/berth/iam-policy.json` lists exactly the AWS actions berth calls:
//! every action string passed to `Clients::call`/`call_once` under
//! `src/aws/`, plus the few permissions AWS checks on berth's behalf for
//! them (IMPLIED). A new call without a policy entry, or an entry nothing
//! calls any more, fails here.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Permissions no call names but AWS requires of the caller.
const IMPLIED: &[(&str, &str)] = &[
    (
        "iam:PassRole",
        "RegisterTaskDefinition (taskRoleArn, executionRoleArn) and CreateDBProxy (RoleArn) pass roles",
    ),
    (
        "sts:AssumeRole",
        "the berth.dev/aws-role-arn namespace annotation and --aws-role-arn (aws::Factory::sdk_config)",
    ),
    (
        "secretsmanager:CreateSecret",
        "CreateDBCluster with ManageMasterUserPassword: RDS creates the secret as the caller",
    ),
    (
        "secretsmanager:TagResource",
        "CreateDBCluster with ManageMasterUserPassword tags the secret it creates",
    ),
];

/// Actions berth calls that AWS authorizes without any policy entry.
const NEED_NO_PERMISSION: &[(&str, &str)] = &[(
    "sts:GetCallerIdentity",
    "\"No permissions are required to perform this operation\" \
     (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html)",
)];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `.call(` / `.call_once(` / `.call_once_prepaid(` in `text` and the string literal it
/// starts with, or the values of the constant it names (empty: neither).
fn calls(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut found = Vec::new();
    for needle in [".call(", ".call_once(", ".call_once_prepaid("] {
        for (at, _) in text.match_indices(needle) {
            let rest = text[at + needle.len()..].trim_start();
            let literal = match rest.strip_prefix('"') {
                Some(r) => r
                    .split_once('"')
                    .map(|(s, _)| vec![s.to_string()])
                    .unwrap_or_default(),
                // A constant of the same file (`Self::ACTION`, `ACTION`).
                None => {
                    let path: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                        .collect();
                    let name = path.rsplit("::").next().unwrap_or_default();
                    constants(text, name)
                }
            };
            let line = text[..at].matches('\n').count() + 1;
            found.push((line, literal));
        }
    }
    found
}

/// Every value of `const NAME: &str = "...";` (or `&'static str`) in
/// `text`: a generic call through `Self::NAME` needs each impl's action.
fn constants(text: &str, name: &str) -> Vec<String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
        return Vec::new();
    }
    let decl = format!("const {name}: &");
    text.match_indices(&decl)
        .filter_map(|(at, _)| {
            let rest = &text[at..];
            let value = rest[..rest.find(';')?].split_once('=')?.1.trim();
            value
                .strip_prefix('"')?
                .strip_suffix('"')
                .map(str::to_string)
        })
        .collect()
}

fn called_actions() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src/aws"), &mut files);
    files.sort();
    let mut actions = BTreeSet::new();
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        for (line, found) in calls(&text) {
            // The clients forward the action they were given to the
            // pipeline (`Clients::call`, `call_once`, `call_once_prepaid`).
            let forwards = file.ends_with("src/aws/mod.rs")
                && text.lines().nth(line - 1).is_some_and(|l| {
                    l.contains(".call(&self.target, action,")
                        || l.contains(".call_once_prepaid(action, None, send)")
                });
            assert!(
                !found.is_empty() || forwards,
                "{}:{line}: an AWS call whose action is neither a string literal nor a \
                 constant of its file: this test cannot see which permission it needs",
                file.display()
            );
            for action in found {
                assert!(
                    action.split_once(':').is_some_and(|(s, a)| !s.is_empty()
                        && a.chars().next().is_some_and(|c| c.is_ascii_uppercase())),
                    "{}:{line}: {action:?} is not service:Action",
                    file.display()
                );
                actions.insert(action);
            }
        }
    }
    actions
}

fn policy_actions() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/berth/iam-policy.json");
    let policy: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).expect("iam-policy.json is JSON");
    assert_eq!(policy["Version"], "2012-10-17");
    let mut actions = BTreeSet::new();
    for statement in policy["Statement"].as_array().expect("Statement list") {
        assert_eq!(statement["Effect"], "Allow", "{statement}");
        for action in statement["Action"].as_array().expect("Action list") {
            let action = action.as_str().unwrap();
            assert!(
                !action.contains('*'),
                "{action}: no wildcards in a minimal policy"
            );
            assert!(
                actions.insert(action.to_string()),
                "{action} is listed twice"
            );
        }
    }
    actions
}

#[test]
fn scanner_sees_calls_split_over_lines() {
    let text = "x.call(\n    \"ecs:RunTask\", || f())\n.call_once(\"rds:CreateDBCluster\", g)\n.call(action, h)\n\
                const ACTION: &'static str = \"ecs:DescribeServices\";\n.call(Self::ACTION, i)";
    assert_eq!(
        calls(text),
        vec![
            (1, vec!["ecs:RunTask".to_string()]),
            (4, vec![]),
            (6, vec!["ecs:DescribeServices".to_string()]),
            (3, vec!["rds:CreateDBCluster".to_string()]),
        ]
    );
}

#[test]
fn policy_lists_exactly_the_actions_berth_calls() {
    let called = called_actions();
    assert!(called.len() > 30, "the scan found only {called:?}");
    let mut needed = called.clone();
    for (action, why) in NEED_NO_PERMISSION {
        assert!(!why.is_empty());
        assert!(
            needed.remove(*action),
            "{action} is no longer called: drop it from NEED_NO_PERMISSION"
        );
    }
    for (action, why) in IMPLIED {
        assert!(!why.is_empty());
        assert!(
            !called.contains(*action),
            "{action} is called directly now: drop it from IMPLIED"
        );
        needed.insert(action.to_string());
    }
    let policy = policy_actions();
    let missing: Vec<_> = needed.difference(&policy).collect();
    let unused: Vec<_> = policy.difference(&needed).collect();
    assert!(
        missing.is_empty() && unused.is_empty(),
        "charts/berth/iam-policy.json is out of date\n  missing (berth calls them): {missing:?}\n  \
         unused (berth never calls them): {unused:?}"
    );
}
