//! The chart's RBAC, proven against a real API server: berth runs with a
//! kubeconfig holding a token of the chart's ServiceAccount (TokenRequest
//! API), bound only to the rendered ClusterRole/Role, and the example
//! application converges. Without one rule, the specific failure shows.

#[path = "../src/chart.rs"]
mod chart;

use std::time::Duration;

use berth::api::conditions::{is_true, READY};
use berth::api::migration_job::Phase;
use berth::api::{AuroraCluster, EcsService, MigrationJob, PullThroughCache};
use berth_e2e::examples::file;
use berth_e2e::{tail, Env, Options};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::PostParams;
use kube::Api;
use serde_json::json;
use serde_yaml::Value;

const TIMEOUT: Duration = Duration::from_secs(180);
const RBAC_KINDS: &[&str] = &[
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
];

/// The chart's ServiceAccount and RBAC for a release named after the test
/// namespace, installed into it (`watchNamespace` = that namespace when
/// `scoped`, as berth runs `--namespace` there), after `edit` changed them.
async fn install_rbac(env: &Env, scoped: bool, edit: impl Fn(&mut Value)) -> String {
    let values = if scoped {
        json!({ "watchNamespace": env.ns })
    } else {
        json!({})
    };
    let rendered = chart::render(
        &chart::chart_dir(),
        &chart::Release {
            name: &env.ns,
            namespace: &env.ns,
            values,
        },
    )
    .expect("rendering the chart");
    let mut sa = None;
    for (_, mut doc) in chart::documents(&rendered).expect("parsing the chart") {
        let kind = doc["kind"].as_str().unwrap_or_default().to_string();
        if !RBAC_KINDS.contains(&kind.as_str()) {
            continue;
        }
        edit(&mut doc);
        if kind == "ServiceAccount" {
            sa = doc["metadata"]["name"].as_str().map(str::to_string);
        }
        env.apply_yaml(&serde_yaml::to_string(&doc).unwrap())
            .await
            .unwrap_or_else(|e| panic!("applying {kind}: {e:#}"));
    }
    sa.expect("the chart renders a ServiceAccount")
}

/// A kubeconfig like the test's own (server, CA) whose user is a fresh
/// token of `sa`.
async fn kubeconfig_for(env: &Env, sa: &str) -> std::path::PathBuf {
    let token = Api::<ServiceAccount>::namespaced(env.client.clone(), &env.ns)
        .create_token_request(
            sa,
            &PostParams::default(),
            &TokenRequest {
                spec: TokenRequestSpec {
                    expiration_seconds: Some(3600),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .expect(
            "TokenRequest for the chart's ServiceAccount (service-account signing key configured?)",
        )
        .status
        .expect("a token")
        .token;
    let admin = std::env::var("KUBECONFIG").expect("KUBECONFIG");
    let mut config: Value = serde_yaml::from_str(&std::fs::read_to_string(admin).unwrap()).unwrap();
    let users = config["users"].as_sequence_mut().unwrap();
    assert_eq!(users.len(), 1, "one user in the test kubeconfig");
    users[0]["user"] = serde_yaml::to_value(json!({ "token": token })).unwrap();
    let path = kubeconfig_path(env);
    std::fs::write(&path, serde_yaml::to_string(&config).unwrap()).unwrap();
    path
}

fn kubeconfig_path(env: &Env) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("berth-e2e-{}.kubeconfig", env.ns))
}

/// A client with berth's identity: the kubeconfig berth runs with.
async fn client_as_berth(env: &Env) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig_path(env)).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// berth's ServiceAccount can read no Secret: not the connection Secret it
/// wrote, not another Secret of the namespace, not a list or a watch.
async fn secrets_are_unreadable_as_berth(env: &Env) {
    let mut other = Secret::default();
    other.metadata.name = Some("payments-api-key".into());
    env.api::<Secret>()
        .create(&PostParams::default(), &other)
        .await
        .unwrap();
    let api: Api<Secret> = Api::namespaced(client_as_berth(env).await, &env.ns);
    let forbidden = |what: &str, r: kube::Result<()>| match r {
        Err(kube::Error::Api(s)) if s.code == 403 => {}
        other => panic!("{what} as berth: {other:?}"),
    };
    for name in ["orders-db-connection", "payments-api-key"] {
        forbidden(name, api.get(name).await.map(|_| ()));
    }
    forbidden("list", api.list(&Default::default()).await.map(|_| ()));
    let all: Api<Secret> = Api::all(client_as_berth(env).await);
    forbidden("list all", all.list(&Default::default()).await.map(|_| ()));
    // The identity is berth's and allowed something: the same client reads
    // the AuroraCluster (get, for databaseRef).
    let dbs: Api<AuroraCluster> = Api::namespaced(client_as_berth(env).await, &env.ns);
    dbs.get("orders-db")
        .await
        .expect("berth's identity gets AuroraClusters");
}

/// An environment whose berth runs as the chart's ServiceAccount, with
/// leader election on (the Lease role is part of what is proven).
async fn env_as_chart(name: &str, scoped: bool, edit: impl Fn(&mut Value)) -> Env {
    let mut env = Env::with_options(
        name,
        Options {
            start_berth: false,
            leader_election: true,
            ..Options::default()
        },
    )
    .await;
    let sa = install_rbac(&env, scoped, edit).await;
    let kubeconfig = kubeconfig_for(&env, &sa).await;
    env.options_mut().berth_env = vec![
        (
            "KUBECONFIG".into(),
            kubeconfig.to_string_lossy().into_owned(),
        ),
        ("POD_NAME".into(), format!("{}-pod", env.ns)),
        // As the chart's Deployment sets it: the Lease its Role names.
        ("BERTH_LEASE_NAME".into(), format!("{}-berth", env.ns)),
    ];
    env.start_berth();
    env
}

/// Removes `resource` from every rule of the chart's roles that names it.
fn without(resource: &'static str) -> impl Fn(&mut Value) {
    move |doc: &mut Value| {
        let Some(rules) = doc.get_mut("rules").and_then(Value::as_sequence_mut) else {
            return;
        };
        for rule in rules.iter_mut() {
            if let Some(resources) = rule["resources"].as_sequence_mut() {
                resources.retain(|r| r.as_str() != Some(resource));
            }
        }
        rules.retain(|r| r["resources"].as_sequence().is_some_and(|s| !s.is_empty()));
    }
}

/// Waits until berth's log has a line containing every one of `needles`.
async fn wait_for_log(env: &Env, what: &str, needles: &[&str]) -> String {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let log = env.berth_log();
        if let Some(line) = log.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
            return line.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for berth's log to show {what}\n--- berth log (tail) ---\n{}",
            tail(&log, 30)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The example application: the API with its database, its PreRollout
/// migration (which reads the AuroraCluster) and PostRollout smoke test.
async fn example_converges(env: &Env) {
    env.apply_yaml(&file("orders-db.yaml")).await.unwrap();
    env.apply_yaml(&file("api-migrate.yaml")).await.unwrap();
    env.apply_yaml(&file("api-smoke-test.yaml")).await.unwrap();
    env.apply_yaml(&file("api.yaml")).await.unwrap();
    env.wait_for::<AuroraCluster>("orders-db", "Ready", TIMEOUT, |a| {
        a.status
            .as_ref()
            .is_some_and(|s| is_true(&s.conditions, READY))
    })
    .await;
    // Created by POST, then updated by JSON patch (the proxy endpoint
    // appears after the cluster), with only create and patch on Secrets.
    let secret = env
        .api::<Secret>()
        .get("orders-db-connection")
        .await
        .expect("the connection Secret");
    let db = env.api::<AuroraCluster>().get("orders-db").await.unwrap();
    let proxy = db
        .status
        .and_then(|s| s.proxy_endpoint)
        .expect("a proxy endpoint");
    let data = secret.data.unwrap();
    assert!(data.contains_key("host"));
    assert_eq!(data["proxyHost"].0, proxy.into_bytes());
    secrets_are_unreadable_as_berth(env).await;
    env.wait_ready_on("api", 1, TIMEOUT).await;
    for job in ["api-migrate", "api-smoke-test"] {
        env.wait_for::<MigrationJob>(job, "Succeeded", TIMEOUT, |j| {
            j.status
                .as_ref()
                .is_some_and(|s| s.phase == Some(Phase::Succeeded))
        })
        .await;
    }
    // A pull-through cache claims its prefix (a Lease in berth's namespace:
    // create, get) and releases it when deleted (delete).
    env.apply_yaml(&file("pull-through-cache.yaml"))
        .await
        .unwrap();
    env.wait_for::<PullThroughCache>("docker-hub", "Ready", TIMEOUT, |p| {
        p.status
            .as_ref()
            .is_some_and(|s| is_true(&s.conditions, READY))
    })
    .await;
    let claims = || async {
        Api::<Lease>::namespaced(env.client.clone(), &env.ns)
            .list(&kube::api::ListParams::default().labels("berth.dev/claim=ptc"))
            .await
            .unwrap()
            .items
            .len()
    };
    assert_eq!(claims().await, 1, "the prefix's claim");
    env.delete_and_wait::<PullThroughCache>("docker-hub", TIMEOUT)
        .await;
    assert_eq!(claims().await, 0, "the claim was released");
    // Events went out (create on events.k8s.io).
    assert!(
        !env.events_for("api").await.is_empty(),
        "no Events about api"
    );
    // The Lease is held by this process (leader election permissions).
    let lease = Api::<Lease>::namespaced(env.client.clone(), &env.ns)
        .get(&format!("{}-berth", env.ns))
        .await
        .expect("berth's Lease");
    let holder = lease
        .spec
        .and_then(|s| s.holder_identity)
        .unwrap_or_default();
    assert!(holder.starts_with(&format!("{}-pod", env.ns)), "{holder}");
    let log = env.berth_log();
    assert!(
        !log.contains("forbidden"),
        "berth was denied something:\n{}",
        log.lines()
            .filter(|l| l.contains("forbidden"))
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_converges_with_the_namespaced_install() {
    let env = env_as_chart("rbac-ns", true, |_| {}).await;
    example_converges(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_converges_with_the_cluster_wide_install() {
    let env = env_as_chart("rbac-cw", false, |_| {}).await;
    example_converges(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_status_patch_rule_status_is_never_written() {
    let env = env_as_chart("rbac-nostatus", true, without("ecsservices/status")).await;
    env.apply_yaml(&file("api.yaml")).await.unwrap();
    let line = wait_for_log(
        &env,
        "the status write denied",
        &["forbidden", "cannot patch resource", "ecsservices/status"],
    )
    .await;
    assert!(line.contains("reconcile failed"), "{line}");
    // The denial came after the finalizer patch (still allowed) ...
    let api = env.api::<EcsService>();
    let svc = api.get("api").await.unwrap();
    assert!(
        svc.metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"berth.dev/cleanup".to_string()),
        "the finalizer patch is allowed"
    );
    // ... and the status berth computed never arrived.
    assert!(svc.status.is_none(), "{:?}", svc.status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_events_create_berth_still_converges_and_says_why() {
    let env = env_as_chart("rbac-noevents", true, without("events")).await;
    env.deploy(&file("api.yaml"), "api", 1, TIMEOUT).await;
    wait_for_log(
        &env,
        "the Event denied",
        &["publishing an Event failed", "forbidden", "events"],
    )
    .await;
    assert!(env.events_for("api").await.is_empty());
}

/// `/readyz` is false while a watch cannot list (here: RBAC refuses the
/// MigrationJobs) and turns true once it has, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_waits_until_every_watch_has_listed() {
    let env = env_as_chart("rbac-ready", true, without("migrationjobs")).await;
    // Evidence berth tried: its MigrationJob watch was refused.
    wait_for_log(
        &env,
        "the refused watch",
        &["watch failed", "migrationjobs"],
    )
    .await;
    let not_ready = env
        .admin_get("/readyz")
        .await
        .expect_err("ready without a MigrationJob watch");
    assert!(not_ready.to_string().contains("503"), "{not_ready:#}");

    install_rbac(&env, true, |_| {}).await;
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        match env.admin_get("/readyz").await {
            Ok(body) => {
                assert_eq!(body, "ok");
                break;
            }
            Err(e) => assert!(
                std::time::Instant::now() < deadline,
                "not ready after the permission came back: {e:#}\n{}",
                tail(&env.berth_log(), 20)
            ),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
