//! The Helm chart, rendered without Helm (`e2e/tests/src/chart.rs`): every
//! document parses, names derive from the release, the Deployment is locked
//! down, and RBAC is exactly what berth uses.

#[path = "../e2e/tests/src/chart.rs"]
mod chart;

use std::collections::BTreeSet;

use serde_json::json;
use serde_yaml::Value;

fn render(release: &str, overrides: serde_json::Value) -> Vec<(String, Value)> {
    let rendered = chart::render(
        &chart::chart_dir(),
        &chart::Release {
            name: release,
            namespace: "berth-system",
            values: overrides,
        },
    )
    .unwrap_or_else(|e| panic!("rendering the chart: {e}"));
    // BERTH_CHART_DUMP=1 prints what Helm would install (with --nocapture).
    if std::env::var_os("BERTH_CHART_DUMP").is_some() {
        for r in &rendered {
            println!("# --- {release}: {} ---\n{}", r.template, r.text);
        }
    }
    let notes = rendered.iter().find(|r| r.template == "NOTES.txt");
    assert!(
        notes.is_some_and(|n| n.text.contains(release)),
        "NOTES.txt renders"
    );
    chart::documents(&rendered).unwrap_or_else(|e| panic!("{e}"))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str()
        .unwrap_or_else(|| panic!("{} is not a string in {v:?}", path.join(".")))
}

fn of_kind<'a>(docs: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    docs.iter()
        .map(|(_, d)| d)
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect()
}

fn one<'a>(docs: &'a [(String, Value)], kind: &str) -> &'a Value {
    let found = of_kind(docs, kind);
    assert_eq!(found.len(), 1, "exactly one {kind}");
    found[0]
}

/// Rules as (apiGroups, resources, resourceNames, verbs), each list sorted.
type Rule = (Vec<String>, Vec<String>, Vec<String>, Vec<String>);

fn rules(role: &Value) -> BTreeSet<Rule> {
    let list = |r: &Value, k: &str| -> Vec<String> {
        let mut v: Vec<String> = r[k]
            .as_sequence()
            .map(|s| s.iter().map(|x| x.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    role["rules"]
        .as_sequence()
        .expect("rules")
        .iter()
        .map(|r| {
            (
                list(r, "apiGroups"),
                list(r, "resources"),
                list(r, "resourceNames"),
                list(r, "verbs"),
            )
        })
        .collect()
}

fn rule(groups: &[&str], resources: &[&str], names: &[&str], verbs: &[&str]) -> Rule {
    let v = |s: &[&str]| {
        let mut v: Vec<String> = s.iter().map(|x| x.to_string()).collect();
        v.sort();
        v
    };
    (v(groups), v(resources), v(names), v(verbs))
}

/// What berth does in the namespaces it watches (see the comments in
/// `_helpers.tpl` for where in the code each comes from).
fn namespaced_rules() -> BTreeSet<Rule> {
    let kinds = [
        "auroraclusters",
        "ecsservices",
        "migrationjobs",
        "pullthroughcaches",
    ];
    let status: Vec<String> = kinds.iter().map(|k| format!("{k}/status")).collect();
    let status: Vec<&str> = status.iter().map(String::as_str).collect();
    BTreeSet::from([
        rule(&["berth.dev"], &kinds, &[], &["list", "watch", "patch"]),
        rule(&["berth.dev"], &["auroraclusters"], &[], &["get"]),
        rule(&["berth.dev"], &["migrationjobs"], &[], &["delete"]),
        rule(&["berth.dev"], &status, &[], &["patch"]),
        rule(
            &["berth.dev"],
            &["auroraclusters/finalizers"],
            &[],
            &["update"],
        ),
        rule(&[""], &["secrets"], &[], &["create"]),
        rule(&[""], &["secrets"], &[], &["patch"]),
        rule(&["events.k8s.io"], &["events"], &[], &["create", "patch"]),
    ])
}

/// The Lease is named after the release (`lease`, berth's `--lease-name`).
fn leader_rules(lease: &str) -> BTreeSet<Rule> {
    BTreeSet::from([
        rule(&["coordination.k8s.io"], &["leases"], &[], &["create"]),
        rule(
            &["coordination.k8s.io"],
            &["leases"],
            &[lease],
            &["get", "update"],
        ),
        // Claims of account-wide names: Leases named from a hash.
        rule(
            &["coordination.k8s.io"],
            &["leases"],
            &[],
            &["get", "update", "delete"],
        ),
    ])
}

fn check_names(release: &str, docs: &[(String, Value)]) {
    let mut seen = BTreeSet::new();
    for (template, d) in docs {
        let kind = str_at(d, &["kind"]);
        let name = str_at(d, &["metadata", "name"]);
        assert!(
            name.starts_with(release),
            "{template}: {kind} {name} is not prefixed by the release name {release}"
        );
        assert!(name.len() <= 63, "{kind} {name} is longer than 63");
        let ns = d["metadata"]["namespace"].as_str().unwrap_or("");
        assert!(
            seen.insert((kind.to_string(), ns.to_string(), name.to_string())),
            "{kind} {ns}/{name} is rendered twice"
        );
    }
}

fn check_deployment(docs: &[(String, Value)], sa: &str) {
    let d = one(docs, "Deployment");
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(str_at(pod, &["serviceAccountName"]), sa);
    let psc = &pod["securityContext"];
    assert_eq!(psc["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(str_at(psc, &["seccompProfile", "type"]), "RuntimeDefault");
    let containers = pod["containers"].as_sequence().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(
        sc["capabilities"]["drop"],
        serde_yaml::to_value(["ALL"]).unwrap()
    );
    assert_eq!(str_at(sc, &["seccompProfile", "type"]), "RuntimeDefault");
    assert!(c["resources"]["requests"]["cpu"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());

    let env = c["env"].as_sequence().unwrap();
    let var = |name: &str| env.iter().find(|e| e["name"].as_str() == Some(name));
    let pod_name = var("POD_NAME").expect("POD_NAME");
    assert_eq!(
        str_at(pod_name, &["valueFrom", "fieldRef", "fieldPath"]),
        "metadata.name"
    );
    let lease_ns = var("BERTH_LEASE_NAMESPACE").expect("BERTH_LEASE_NAMESPACE");
    assert_eq!(
        str_at(lease_ns, &["valueFrom", "fieldRef", "fieldPath"]),
        "metadata.namespace"
    );
    assert_eq!(
        str_at(var("BERTH_ADMIN_ADDR").unwrap(), &["value"]),
        "0.0.0.0:8080"
    );
    // The debug endpoints list every object: never served by the chart.
    assert!(var("BERTH_DEBUG_ADDR").is_none());
    assert!(!serde_yaml::to_string(c).unwrap().contains("debug-addr"));

    let ports = c["ports"].as_sequence().unwrap();
    assert!(ports
        .iter()
        .any(|p| p["name"].as_str() == Some("admin") && p["containerPort"].as_u64() == Some(8080)));
    assert_eq!(str_at(c, &["livenessProbe", "httpGet", "path"]), "/livez");
    assert_eq!(str_at(c, &["livenessProbe", "httpGet", "port"]), "admin");
    assert_eq!(str_at(c, &["readinessProbe", "httpGet", "path"]), "/readyz");
    assert_eq!(str_at(c, &["readinessProbe", "httpGet", "port"]), "admin");

    // The selector matches the pod labels, and the PDB and Service select them too.
    let selector = &d["spec"]["selector"]["matchLabels"];
    let labels = d["spec"]["template"]["metadata"]["labels"]
        .as_mapping()
        .unwrap();
    for (k, v) in selector.as_mapping().unwrap() {
        assert_eq!(labels.get(k), Some(v));
    }
    assert_eq!(
        &one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        selector
    );
    assert_eq!(&one(docs, "Service")["spec"]["selector"], selector);
}

/// The subjects of every binding: the chart's ServiceAccount.
fn check_bindings(docs: &[(String, Value)], sa: &str, ns: &str) {
    for kind in ["ClusterRoleBinding", "RoleBinding"] {
        for b in of_kind(docs, kind) {
            let subjects = b["subjects"].as_sequence().unwrap();
            assert_eq!(subjects.len(), 1);
            assert_eq!(str_at(&subjects[0], &["kind"]), "ServiceAccount");
            assert_eq!(str_at(&subjects[0], &["name"]), sa);
            assert_eq!(str_at(&subjects[0], &["namespace"]), ns);
            let role_kind = str_at(b, &["roleRef", "kind"]);
            let role = str_at(b, &["roleRef", "name"]);
            assert!(
                of_kind(docs, role_kind)
                    .iter()
                    .any(|r| str_at(r, &["metadata", "name"]) == role),
                "{kind} refers to a missing {role_kind} {role}"
            );
        }
    }
}

#[test]
fn default_install_is_cluster_wide() {
    let docs = render("prod", json!({}));
    check_names("prod", &docs);
    let sa = one(&docs, "ServiceAccount");
    assert_eq!(str_at(sa, &["metadata", "name"]), "prod-berth");
    assert!(
        sa["metadata"]["annotations"].is_null(),
        "no IRSA by default"
    );
    check_deployment(&docs, "prod-berth");
    check_bindings(&docs, "prod-berth", "berth-system");

    let mut expected = namespaced_rules();
    expected.insert(rule(&[""], &["namespaces"], &[], &["get", "list", "watch"]));
    assert_eq!(rules(one(&docs, "ClusterRole")), expected);
    assert_eq!(rules(one(&docs, "Role")), leader_rules("prod-berth"));
    assert_eq!(
        str_at(one(&docs, "Role"), &["metadata", "namespace"]),
        "berth-system"
    );
    assert!(of_kind(&docs, "ServiceMonitor").is_empty());
    let env = &one(&docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(!env
        .as_sequence()
        .unwrap()
        .iter()
        .any(|e| e["name"].as_str() == Some("BERTH_NAMESPACE")));
}

#[test]
fn watch_namespace_uses_a_role_in_that_namespace() {
    let docs = render("team-a", json!({"watchNamespace": "shop"}));
    check_names("team-a", &docs);
    check_deployment(&docs, "team-a-berth");
    check_bindings(&docs, "team-a-berth", "berth-system");
    let roles = of_kind(&docs, "Role");
    let watched = roles
        .iter()
        .find(|r| r["metadata"]["namespace"].as_str() == Some("shop"))
        .expect("a Role in the watched namespace");
    assert_eq!(rules(watched), namespaced_rules());
    let leader = roles
        .iter()
        .find(|r| r["metadata"]["namespace"].as_str() == Some("berth-system"))
        .expect("the leader election Role in the release namespace");
    assert_eq!(rules(leader), leader_rules("team-a-berth"));
    // Cluster-wide: only the watched Namespace itself.
    assert_eq!(
        rules(one(&docs, "ClusterRole")),
        BTreeSet::from([rule(
            &[""],
            &["namespaces"],
            &["shop"],
            &["get", "list", "watch"]
        )])
    );
    let rb = of_kind(&docs, "RoleBinding");
    assert!(rb
        .iter()
        .any(|b| b["metadata"]["namespace"].as_str() == Some("shop")));
    let env = &one(&docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(env.as_sequence().unwrap().iter().any(|e| {
        e["name"].as_str() == Some("BERTH_NAMESPACE") && e["value"].as_str() == Some("shop")
    }));
}

#[test]
fn two_releases_never_share_a_name() {
    let mut names = BTreeSet::new();
    for release in ["one", "two"] {
        for (_, d) in render(release, json!({})) {
            let key = format!(
                "{}/{}/{}",
                str_at(&d, &["kind"]),
                d["metadata"]["namespace"].as_str().unwrap_or(""),
                str_at(&d, &["metadata", "name"])
            );
            assert!(names.insert(key.clone()), "{key} collides");
        }
    }
}

#[test]
fn irsa_service_monitor_and_overrides() {
    let docs = render(
        "berth",
        json!({
            "serviceAccount": {"roleArn": "arn:aws:iam::123456789012:role/berth", "annotations": {"team": "platform"}},
            "metrics": {"serviceMonitor": {"enabled": true}},
            "image": {"tag": "1.2.3"},
            "aws": {"region": "eu-west-1"},
        }),
    );
    // A release named "berth" is not "berth-berth".
    check_names("berth", &docs);
    let sa = one(&docs, "ServiceAccount");
    assert_eq!(str_at(sa, &["metadata", "name"]), "berth");
    assert_eq!(
        str_at(
            sa,
            &["metadata", "annotations", "eks.amazonaws.com/role-arn"]
        ),
        "arn:aws:iam::123456789012:role/berth"
    );
    assert_eq!(str_at(sa, &["metadata", "annotations", "team"]), "platform");
    let sm = one(&docs, "ServiceMonitor");
    assert_eq!(sm["spec"]["endpoints"][0]["port"].as_str(), Some("admin"));
    assert_eq!(
        sm["spec"]["endpoints"][0]["path"].as_str(),
        Some("/metrics")
    );
    let image = &one(&docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"];
    assert_eq!(image.as_str(), Some("ghcr.io/berth-dev/berth:1.2.3"));
}

/// `BERTH_REQUIRE_NAMESPACE_ROLE` of the rendered Deployment.
fn require_namespace_role(docs: &[(String, Value)]) -> String {
    let env = &one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"];
    let var = env
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str() == Some("BERTH_REQUIRE_NAMESPACE_ROLE"))
        .expect("BERTH_REQUIRE_NAMESPACE_ROLE is always set");
    str_at(var, &["value"]).to_string()
}

#[test]
fn require_namespace_role_reaches_berth() {
    assert_eq!(require_namespace_role(&render("prod", json!({}))), "false");
    assert_eq!(
        require_namespace_role(&render(
            "prod",
            json!({"aws": {"requireNamespaceRole": true}})
        )),
        "true"
    );
}

#[test]
fn values_schema_is_valid_and_accepts_the_defaults() {
    let dir = chart::chart_dir();
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("values.schema.json")).unwrap())
            .expect("values.schema.json is JSON");
    jsonschema::meta::validate(&schema).expect("values.schema.json is a valid JSON Schema");
    let validator = jsonschema::validator_for(&schema).unwrap();
    let defaults = chart::values(&dir, &json!({}));
    let errors: Vec<String> = validator
        .iter_errors(&defaults)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "default values: {errors:?}");
    // And it can fail: a typo'd key, a wrong type.
    for bad in [
        json!({"watchNamespaces": "x"}),
        json!({"replicaCount": "two"}),
        json!({"logFormat": "xml"}),
        json!({"serviceAccount": {"roleArn": "not-an-arn"}}),
        json!({"aws": {"requireNamespaceRole": "yes"}}),
    ] {
        let values = chart::values(&dir, &bad);
        assert!(!validator.is_valid(&values), "{bad} validates");
    }
}
