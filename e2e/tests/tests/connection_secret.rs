//! The connection Secret is berth's alone: berth creates it with POST
//! (label `berth.dev/owner-uid`, ownerReference to the AuroraCluster) and
//! updates it only through a JSON patch that first tests that label. A
//! Secret of the wanted name that berth did not create stays byte for byte
//! as it was and the AuroraCluster reports `SecretConflict`.
//!
//! The test cluster runs no garbage collector (no kube-controller-manager):
//! "deleting the AuroraCluster deletes berth's Secret but not a foreign
//! one" is shown by the ownerReferences the collector would follow.

use std::collections::BTreeMap;
use std::time::Duration;

use berth::api::conditions::{DEGRADED, READY};
use berth::api::AuroraCluster;
use berth::controller::aurora_cluster::connection_secret::{test_failed, OWNER_UID_LABEL};
use berth_e2e::examples::file;
use berth_e2e::{condition, Env};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::ByteString;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(120);
const API_KEY: &str = "sk_live_payments_5f3c9a1e7b2d4c6e";

/// The example cluster without its proxy, its connection Secret named `secret`.
fn manifest(secret: &str) -> String {
    file("orders-db.yaml")
        .replace(
            "  proxy:\n    enabled: true",
            "  proxy:\n    enabled: false",
        )
        .replace("name: orders-db-connection", &format!("name: {secret}"))
}

fn has(
    type_: &'static str,
    status: &'static str,
    reason: &'static str,
) -> impl Fn(&AuroraCluster) -> bool {
    move |a: &AuroraCluster| {
        a.status.as_ref().is_some_and(|s| {
            condition(&s.conditions, type_).is_some_and(|(st, r, _)| st == status && r == reason)
        })
    }
}

/// Waits for the AuroraCluster `orders-db` to be Ready (Available).
async fn available(env: &Env) -> AuroraCluster {
    env.wait_for(
        "orders-db",
        "Ready",
        TIMEOUT,
        has(READY, "True", "Available"),
    )
    .await
}

fn text(s: &Secret, key: &str) -> String {
    s.data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|v| String::from_utf8(v.0.clone()).unwrap())
        .unwrap_or_default()
}

/// A team's own Secret: data, a label, and an ownerReference to a ConfigMap.
async fn team_secret(env: &Env, name: &str) -> Secret {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("payments-config".into());
    let cm = env
        .api::<ConfigMap>()
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    let mut secret = Secret {
        data: Some(BTreeMap::from([(
            "API_KEY".to_string(),
            ByteString(API_KEY.as_bytes().to_vec()),
        )])),
        ..Default::default()
    };
    secret.metadata.name = Some(name.into());
    secret.metadata.labels = Some(BTreeMap::from([("team".into(), "payments".into())]));
    secret.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: "payments-config".into(),
        uid: cm.metadata.uid.unwrap(),
        ..Default::default()
    }]);
    env.api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .unwrap()
}

/// What berth may not leak: the team's key in its log, Events or status.
async fn assert_key_not_leaked(env: &Env, db: &AuroraCluster) {
    assert!(
        !env.berth_log().contains(API_KEY),
        "the key is in berth's log"
    );
    let events = env.events_for("orders-db").await;
    assert!(
        events.iter().all(|e| !e.contains(API_KEY)),
        "the key is in an Event: {events:?}"
    );
    let status = serde_json::to_string(&db.status).unwrap();
    assert!(!status.contains(API_KEY), "the key is in the status");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_secret_is_left_exactly_as_it_was_and_reported() {
    let env = Env::new("secret-foreign").await;
    let before = team_secret(&env, "payments-api-key").await;
    env.apply_yaml(&manifest("payments-api-key")).await.unwrap();

    // Evidence that berth tried to write it: the conflict itself, once the
    // database is available (Ready would otherwise be True).
    let db: AuroraCluster = env
        .wait_for(
            "orders-db",
            "Ready=False SecretConflict",
            TIMEOUT,
            |a: &AuroraCluster| {
                has(READY, "False", "SecretConflict")(a)
                    && has(DEGRADED, "True", "SecretConflict")(a)
            },
        )
        .await;
    let st = db.status.clone().unwrap();
    let (_, _, message) = condition(&st.conditions, DEGRADED).unwrap();
    assert!(
        message.contains("Secret payments-api-key (spec.connectionSecret.name)")
            && message.contains("Choose another spec.connectionSecret.name")
            && message.contains("delete Secret payments-api-key"),
        "{message}"
    );
    // The database itself is there: its endpoint is in status, and nothing
    // is in progress.
    assert_eq!(st.status.as_deref(), Some("available"));
    assert!(st.endpoint.is_some());
    assert_eq!(
        condition(&st.conditions, "Progressing").unwrap().1,
        "Available"
    );
    berth_e2e::assert_conditions_readable(&db);

    // Byte for byte: data, labels, ownerReferences, resourceVersion,
    // managedFields.
    let after = env.api::<Secret>().get("payments-api-key").await.unwrap();
    assert_eq!(after, before);
    assert!(env
        .events_for("orders-db")
        .await
        .iter()
        .any(|e| e.starts_with("Warning SecretConflict:")));
    assert_key_not_leaked(&env, &db).await;

    // Deleting the AuroraCluster (deletionPolicy Retain) leaves the Secret,
    // which never got an ownerReference to it.
    env.delete_and_wait::<AuroraCluster>("orders-db", TIMEOUT)
        .await;
    let after = env.api::<Secret>().get("payments-api-key").await.unwrap();
    assert_eq!(after, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_the_foreign_secret_is_deleted_berth_creates_its_own() {
    let env = Env::new("secret-retry").await;
    team_secret(&env, "payments-api-key").await;
    env.apply_yaml(&manifest("payments-api-key")).await.unwrap();
    env.wait_for(
        "orders-db",
        "Degraded SecretConflict",
        TIMEOUT,
        has(DEGRADED, "True", "SecretConflict"),
    )
    .await;

    env.api::<Secret>()
        .delete("payments-api-key", &Default::default())
        .await
        .unwrap();
    // berth does not watch Secrets: the next look (here a refresh) writes.
    env.annotate::<AuroraCluster>("orders-db", "berth.dev/refresh", serde_json::json!("1"))
        .await;
    let db = available(&env).await;
    assert_eq!(
        condition(&db.status.as_ref().unwrap().conditions, DEGRADED)
            .unwrap()
            .1,
        "AsExpected"
    );
    let secret = env.api::<Secret>().get("payments-api-key").await.unwrap();
    let uid = db.metadata.uid.clone().unwrap();
    assert_eq!(
        secret.metadata.labels.clone().unwrap().get(OWNER_UID_LABEL),
        Some(&uid)
    );
    assert_eq!(text(&secret, "host"), db.status.unwrap().endpoint.unwrap());
    assert!(text(&secret, "API_KEY").is_empty());
}

/// berth's own Secret: created with the label and ownerReference, then
/// updated in place (same Secret, new resourceVersion) by the JSON patch
/// when the proxy endpoint appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn berths_own_secret_is_created_then_updated_by_the_json_patch() {
    let env = Env::new("secret-own").await;
    env.apply_yaml(&manifest("orders-db-connection"))
        .await
        .unwrap();
    let db = available(&env).await;
    let uid = db.metadata.uid.clone().unwrap();
    let created = env
        .api::<Secret>()
        .get("orders-db-connection")
        .await
        .unwrap();
    assert_eq!(
        created
            .metadata
            .labels
            .clone()
            .unwrap()
            .get(OWNER_UID_LABEL),
        Some(&uid)
    );
    let owners = created.metadata.owner_references.clone().unwrap();
    assert_eq!(owners.len(), 1);
    assert_eq!(
        (
            owners[0].kind.as_str(),
            owners[0].uid.as_str(),
            owners[0].controller
        ),
        ("AuroraCluster", uid.as_str(), Some(true))
    );
    assert_eq!(text(&created, "proxyHost"), "");

    env.merge_patch::<AuroraCluster>("orders-db", json!({"spec": {"proxy": {"enabled": true}}}))
        .await;
    let db = env
        .wait_for(
            "orders-db",
            "Ready with its proxy",
            TIMEOUT,
            |a: &AuroraCluster| {
                has(READY, "True", "Available")(a)
                    && a.status
                        .as_ref()
                        .is_some_and(|s| s.proxy_endpoint.is_some())
            },
        )
        .await;
    let proxy = db.status.unwrap().proxy_endpoint.unwrap();
    let updated = env
        .api::<Secret>()
        .get("orders-db-connection")
        .await
        .unwrap();
    assert_eq!(text(&updated, "proxyHost"), proxy);
    assert_eq!(
        updated.metadata.uid, created.metadata.uid,
        "updated in place"
    );
    assert_ne!(
        updated.metadata.resource_version,
        created.metadata.resource_version
    );
    assert_eq!(updated.metadata.labels, created.metadata.labels);
    assert_eq!(
        updated.metadata.owner_references,
        created.metadata.owner_references
    );
}

/// A Secret an earlier berth wrote by server-side apply (ownerReference to
/// the AuroraCluster, no label) is still berth's and is updated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_an_earlier_berth_wrote_is_still_updated() {
    let mut env = Env::without_berth("secret-legacy").await;
    env.apply_yaml(&manifest("orders-db-connection"))
        .await
        .unwrap();
    let db = env.api::<AuroraCluster>().get("orders-db").await.unwrap();
    let uid = db.metadata.uid.clone().unwrap();
    let legacy = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "orders-db-connection",
            "ownerReferences": [{
                "apiVersion": "berth.dev/v1alpha1",
                "kind": "AuroraCluster",
                "name": "orders-db",
                "uid": uid,
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "type": "Opaque",
        "data": {"host": ""},
    });
    let before = env
        .api::<Secret>()
        .patch(
            "orders-db-connection",
            &PatchParams::apply("berth").force(),
            &Patch::Apply(&legacy),
        )
        .await
        .unwrap();
    env.start_berth();

    let db = available(&env).await;
    let after = env
        .api::<Secret>()
        .get("orders-db-connection")
        .await
        .unwrap();
    assert_eq!(after.metadata.uid, before.metadata.uid, "updated in place");
    assert_eq!(text(&after, "host"), db.status.unwrap().endpoint.unwrap());
    assert_eq!(
        after.metadata.owner_references,
        before.metadata.owner_references
    );
}

/// What kube-apiserver answers a JSON patch whose `test` fails (another
/// label value), whose tested label is absent, or whose Secret has no
/// labels at all: berth's classification says "not ours" for each, and
/// the Secret is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_server_refuses_a_failed_test_as_a_whole() {
    let env = Env::without_berth("secret-test-op").await;
    let api = env.api::<Secret>();
    team_secret(&env, "payments-api-key").await;
    let mut plain = Secret::default();
    plain.metadata.name = Some("plain".into());
    api.create(&PostParams::default(), &plain).await.unwrap();
    let label = format!("/metadata/labels/{}", OWNER_UID_LABEL.replace('/', "~1"));
    let uid = "0b6a1f3e-6a4f-4d2b-9c1e-2f6f0a1b2c3d";
    let cases = [
        // The team's own label, another value.
        ("payments-api-key", "/metadata/labels/team", "orders"),
        // berth's label, absent from the labels.
        ("payments-api-key", label.as_str(), uid),
        // berth's label on a Secret without labels.
        ("plain", label.as_str(), uid),
        // An older berth's ownerReference test on a Secret without any.
        ("plain", "/metadata/ownerReferences/0/uid", uid),
    ];
    for (name, path, value) in cases {
        let before = api.get(name).await.unwrap();
        let ops = json!([
            {"op": "test", "path": path, "value": value},
            {"op": "add", "path": "/data", "value": {"host": "aG9zdA=="}},
        ]);
        let err = api
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Json::<()>(serde_json::from_value(ops).unwrap()),
            )
            .await
            .expect_err("a failed test applies nothing");
        let kube::Error::Api(status) = &err else {
            panic!("{err:?}");
        };
        eprintln!("{name}, test of {path}: {status:?}");
        assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
        assert!(test_failed(&err), "{path} on {name}: {status:?}");
        assert_eq!(api.get(name).await.unwrap(), before);
    }
}
