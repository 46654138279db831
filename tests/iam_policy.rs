//! The IAM policies shipped with the chart list exactly the AWS actions
//! berth calls: every action string passed to `Clients::call`/`call_once`
//! under `src/aws/`, plus the few permissions AWS checks on berth's behalf
//! for them (IMPLIED), minus the calls AWS lets anyone make (NO_PERMISSION).
//! A new call without a policy entry, or an entry nothing calls any more,
//! fails here, in each of the three files:
//! - `iam-policy.json`: single-tenant, berth's own identity does everything;
//! - `iam-policy-multi-tenant.json`: berth's own identity in a shared
//!   cluster (`--require-namespace-role`), only the STS it needs to become
//!   a namespace's role;
//! - `iam-policy-namespace-role.json`: each namespace role, everything
//!   berth calls as that role, i.e. all but that STS.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

// Calls AWS authorizes for every caller: no policy lists them.
use berth::aws::sts::NO_PERMISSION;

/// Permissions no call names but AWS requires of the caller.
const IMPLIED: &[(&str, &str)] = &[
    (
        "iam:PassRole",
        "RegisterTaskDefinition (taskRoleArn, executionRoleArn), CreateService/UpdateService \
         (loadBalancers[].advancedConfiguration.roleArn), CreateDBProxy/ModifyDBProxy (RoleArn) \
         and CreatePullThroughCacheRule (customRoleArn) pass roles",
    ),
    (
        "sts:AssumeRole",
        "the berth.dev/aws-role-arn namespace annotation and --aws-role-arn (aws::Factory::sdk_config)",
    ),
    (
        "sts:TagSession",
        "the same AssumeRole: EKS Pod Identity's session tags are transitive and go along \
         (https://docs.aws.amazon.com/eks/latest/userguide/pod-id-abac.html)",
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

/// What berth does as the namespace's role is everything but becoming it.
const BECOMING_A_ROLE: &[&str] = &["sts:AssumeRole", "sts:TagSession"];

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

/// One file of `charts/berth/`: its statements by Sid.
fn policy(name: &str) -> BTreeMap<String, serde_json::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("charts/berth")
        .join(name);
    let policy: serde_json::Value = serde_json::from_str(&fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
    assert_eq!(policy["Version"], "2012-10-17", "{name}");
    let mut statements = BTreeMap::new();
    for statement in policy["Statement"].as_array().expect("Statement list") {
        assert_eq!(statement["Effect"], "Allow", "{name}: {statement}");
        // JSON has no comments: the Sid names what the statement is for,
        // and the chart README's table names the code path.
        let sid = statement["Sid"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: a statement without a Sid: {statement}"));
        assert!(
            statements
                .insert(sid.to_string(), statement.clone())
                .is_none(),
            "{name}: Sid {sid} twice"
        );
    }
    statements
}

/// Every action a policy grants; each once, none with a wildcard.
fn actions(name: &str, statements: &BTreeMap<String, serde_json::Value>) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    for statement in statements.values() {
        for action in statement["Action"].as_array().expect("Action list") {
            let action = action.as_str().unwrap();
            assert!(
                !action.contains('*'),
                "{name}: {action}: no wildcards in a minimal policy"
            );
            assert!(
                actions.insert(action.to_string()),
                "{name}: {action} is listed twice"
            );
        }
    }
    actions
}

/// The statement granting `action`.
fn granting<'a>(
    statements: &'a BTreeMap<String, serde_json::Value>,
    action: &str,
) -> &'a serde_json::Value {
    statements
        .values()
        .find(|s| s["Action"].as_array().unwrap().iter().any(|a| a == action))
        .unwrap_or_else(|| panic!("no statement grants {action}"))
}

/// What each action needs: called, plus implied, less free.
fn needed() -> BTreeSet<String> {
    let called = called_actions();
    assert!(called.len() > 30, "the scan found only {called:?}");
    let mut needed = called.clone();
    for (action, why) in IMPLIED {
        assert!(!why.is_empty());
        assert!(
            !called.contains(*action),
            "{action} is called directly now: drop it from IMPLIED"
        );
        needed.insert(action.to_string());
    }
    for (action, why) in NO_PERMISSION {
        assert!(
            why.contains("https://docs.aws.amazon.com/"),
            "{action}: cite AWS"
        );
        needed.remove(*action);
    }
    needed
}

/// `policy` grants exactly `needed`: both directions fail.
fn assert_exactly(name: &str, policy: &BTreeSet<String>, needed: &BTreeSet<String>) {
    let missing: Vec<_> = needed.difference(policy).collect();
    let unused: Vec<_> = policy.difference(needed).collect();
    assert!(
        missing.is_empty() && unused.is_empty(),
        "charts/berth/{name} is out of date\n  missing (berth needs them): {missing:?}\n  \
         unused (berth never needs them): {unused:?}"
    );
    for (action, _) in NO_PERMISSION {
        assert!(
            !policy.contains(*action),
            "{name}: {action} needs no permission: granting it only misleads"
        );
    }
}

/// `iam:PassRole` never on every role, and only to the services berth
/// hands roles to.
fn assert_pass_role_is_limited(name: &str, statements: &BTreeMap<String, serde_json::Value>) {
    let pass = granting(statements, "iam:PassRole");
    let resources: Vec<&str> = match &pass["Resource"] {
        serde_json::Value::String(r) => vec![r.as_str()],
        serde_json::Value::Array(rs) => rs.iter().filter_map(|r| r.as_str()).collect(),
        other => panic!("{name}: Resource {other}"),
    };
    for r in &resources {
        assert!(
            r.starts_with("arn:aws:iam::") && r.contains(":role/") && !r.ends_with(":role/*"),
            "{name}: iam:PassRole on {r}: limit it to the roles berth may pass (a path)"
        );
    }
    let services: BTreeSet<&str> = pass["Condition"]["StringEquals"]["iam:PassedToService"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: iam:PassRole without an iam:PassedToService condition"))
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert_eq!(
        services,
        BTreeSet::from([
            "ecs-tasks.amazonaws.com",
            "ecs.amazonaws.com",
            "rds.amazonaws.com",
            "pullthroughcache.ecr.amazonaws.com"
        ]),
        "{name}"
    );
    assert_eq!(
        pass["Action"].as_array().unwrap().len(),
        1,
        "{name}: iam:PassRole has a statement of its own (its own Resource)"
    );
}

/// No statement of any file grants anything on every resource of IAM or STS.
fn assert_no_identity_action_on_everything(
    name: &str,
    statements: &BTreeMap<String, serde_json::Value>,
) {
    for (sid, statement) in statements {
        let identity = statement["Action"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str())
            .any(|a| a.starts_with("iam:") || a.starts_with("sts:"));
        if identity {
            assert_ne!(statement["Resource"], "*", "{name}: {sid} on every role");
        }
    }
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
fn single_tenant_policy_lists_exactly_the_actions_berth_needs() {
    let name = "iam-policy.json";
    let statements = policy(name);
    assert_exactly(name, &actions(name, &statements), &needed());
    assert_pass_role_is_limited(name, &statements);
    assert_no_identity_action_on_everything(name, &statements);
}

#[test]
fn namespace_role_policy_lists_everything_but_becoming_a_role() {
    let name = "iam-policy-namespace-role.json";
    let statements = policy(name);
    let mut needed = needed();
    for action in BECOMING_A_ROLE {
        assert!(needed.remove(*action), "{action} is no longer needed");
    }
    assert_exactly(name, &actions(name, &statements), &needed);
    assert_pass_role_is_limited(name, &statements);
    assert_no_identity_action_on_everything(name, &statements);
    // The template names the team: its roles only, never another's.
    let pass = granting(&statements, "iam:PassRole");
    assert!(
        pass["Resource"]
            .as_str()
            .is_some_and(|r| r.contains("/NAMESPACE/")),
        "{pass}"
    );
}

#[test]
fn multi_tenant_policy_only_becomes_namespace_roles() {
    let name = "iam-policy-multi-tenant.json";
    let statements = policy(name);
    let expected: BTreeSet<String> = BECOMING_A_ROLE.iter().map(|a| a.to_string()).collect();
    assert!(expected.is_subset(&needed()));
    assert_exactly(name, &actions(name, &statements), &expected);
    assert_no_identity_action_on_everything(name, &statements);
}

/// The checks above can fail: each catches what it is for.
#[test]
fn the_checks_catch_what_they_are_for() {
    let run = |f: Box<dyn FnOnce() + std::panic::UnwindSafe>| std::panic::catch_unwind(f).is_err();
    let needed = needed();
    let mut extra = needed.clone();
    extra.insert("ecs:DeleteCluster".into());
    assert!(
        run(Box::new({
            let (extra, needed) = (extra.clone(), needed.clone());
            move || assert_exactly("x", &extra, &needed)
        })),
        "a granted action nothing calls"
    );
    let mut short = needed.clone();
    short.remove("ecs:RunTask");
    assert!(
        run(Box::new({
            let needed = needed.clone();
            move || assert_exactly("x", &short, &needed)
        })),
        "a called action the policy lacks"
    );
    let mut free = needed.clone();
    free.insert("sts:GetCallerIdentity".into());
    assert!(
        run(Box::new({
            let needed = needed.clone();
            move || assert_exactly("x", &free, &needed)
        })),
        "a grant of a call that needs no permission"
    );

    let mut statements = policy("iam-policy.json");
    let sid = statements
        .iter()
        .find(|(_, s)| {
            s["Action"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == "iam:PassRole")
        })
        .map(|(sid, _)| sid.clone())
        .unwrap();
    statements.get_mut(&sid).unwrap()["Resource"] = "*".into();
    assert!(
        run(Box::new({
            let statements = statements.clone();
            move || assert_pass_role_is_limited("x", &statements)
        })),
        "iam:PassRole on *"
    );
    assert!(run(Box::new(move || {
        assert_no_identity_action_on_everything("x", &statements)
    })));
}
