//! berth's `/metrics` after the example application converged: every
//! family an operator alerts on is there, and every label value comes from
//! a bounded set (kinds, error categories, AWS actions from the IAM policy,
//! outcomes, verbs, resource types, Event reasons), never an object's name,
//! a namespace or a message. Prints every label value seen.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use berth::api::conditions::{is_true, READY};
use berth::api::migration_job::Phase;
use berth::api::{AuroraCluster, EcsService, PullThroughCache};
use berth_e2e::examples::file;
use berth_e2e::{workspace_root, Env};

const TIMEOUT: Duration = Duration::from_secs(180);

/// `name{a="x",b="y"}` -> (name, {a: x, b: y}).
fn parse(sample: &str) -> (String, BTreeMap<String, String>) {
    let Some((name, rest)) = sample.split_once('{') else {
        return (sample.to_string(), BTreeMap::new());
    };
    let labels = rest
        .trim_end_matches('}')
        .split("\",")
        .filter_map(|kv| {
            let (k, v) = kv.split_once("=\"")?;
            Some((k.to_string(), v.trim_end_matches('"').to_string()))
        })
        .collect();
    (name.to_string(), labels)
}

fn iam_actions() -> BTreeSet<String> {
    let policy: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("charts/berth/iam-policy.json")).unwrap(),
    )
    .unwrap();
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_string))
        // Calls AWS allows every caller are in no policy, but are berth's.
        .chain(
            berth::aws::sts::NO_PERMISSION
                .iter()
                .map(|(action, _)| action.to_string()),
        )
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_cover_what_operators_alert_on_with_bounded_labels() {
    let env = Env::new("metrics").await;
    for example in [
        "pull-through-cache.yaml",
        "orders-db.yaml",
        "api-migrate.yaml",
        "api-smoke-test.yaml",
        "api.yaml",
        "web.yaml",
    ] {
        env.apply_yaml(&file(example)).await.unwrap();
    }
    env.wait_for::<PullThroughCache>("docker-hub", "Ready", TIMEOUT, |p| {
        p.status
            .as_ref()
            .is_some_and(|s| is_true(&s.conditions, READY))
    })
    .await;
    env.wait_for::<AuroraCluster>("orders-db", "Ready", TIMEOUT, |a| {
        a.status
            .as_ref()
            .is_some_and(|s| is_true(&s.conditions, READY))
    })
    .await;
    for name in ["api", "web"] {
        env.wait_for::<EcsService>(name, "Ready", TIMEOUT, |s| {
            s.status
                .as_ref()
                .is_some_and(|s| is_true(&s.conditions, READY))
        })
        .await;
    }
    env.wait_phase("api-migrate", Phase::Succeeded, TIMEOUT)
        .await;

    let metrics = env.berth_metrics().await.unwrap();
    let mut seen: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut families = BTreeSet::new();
    for sample in metrics.keys() {
        let (name, labels) = parse(sample);
        if !name.starts_with("berth_") {
            continue;
        }
        let family = name
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count")
            .to_string();
        families.insert(family.clone());
        for (k, v) in labels {
            if k != "le" {
                seen.entry((family.clone(), k)).or_default().insert(v);
            }
        }
    }
    println!("families: {families:?}");
    for ((family, label), values) in &seen {
        println!("{family} {label}: {values:?}");
    }

    for family in [
        "berth_reconciles_total",
        "berth_reconcile_duration_seconds",
        "berth_reconciles_in_flight",
        "berth_aws_calls_total",
        "berth_aws_limiter_wait_seconds",
        "berth_kube_requests_total",
        "berth_leader",
        "berth_events_total",
    ] {
        assert!(families.contains(family), "{family} missing: {families:?}");
    }

    let kinds: BTreeSet<&str> = [
        "EcsService",
        "MigrationJob",
        "AuroraCluster",
        "PullThroughCache",
    ]
    .into();
    let actions = iam_actions();
    let object_names = [
        "api",
        "web",
        "api-migrate",
        "api-smoke-test",
        "orders-db",
        "docker-hub",
    ];
    for ((family, label), values) in &seen {
        for v in values {
            assert!(
                !v.contains(&env.ns),
                "{family} {label}={v}: a namespace as a label"
            );
            assert!(
                !object_names.contains(&v.as_str()),
                "{family} {label}={v}: an object's name as a label"
            );
            assert!(
                v.len() <= 64 && !v.contains(' '),
                "{family} {label}={v:?}: a message as a label"
            );
            match label.as_str() {
                "kind" => assert!(kinds.contains(v.as_str()), "{family} kind={v}"),
                "action" if family == "berth_aws_calls_total" => assert!(
                    actions.iter().any(|a| a.ends_with(&format!(":{v}"))),
                    "{family} action={v}: not in the IAM policy"
                ),
                "outcome" => assert!(
                    ["ok", "throttled", "transient", "error"].contains(&v.as_str()),
                    "{family} outcome={v}"
                ),
                "verb" => assert!(
                    [
                        "get",
                        "list",
                        "watch",
                        "create",
                        "update",
                        "patch",
                        "delete",
                        "deletecollection",
                        "other"
                    ]
                    .contains(&v.as_str()),
                    "{family} verb={v}"
                ),
                "type" => assert!(["Normal", "Warning"].contains(&v.as_str())),
                _ => {}
            }
        }
    }
    // What a user would watch: the migration's success and the rollouts.
    let events = &seen[&("berth_events_total".to_string(), "reason".to_string())];
    assert!(events.contains("Succeeded"), "{events:?}");
    assert!(
        events.contains("RolloutComplete") || events.contains("Ready"),
        "{events:?}"
    );
}
