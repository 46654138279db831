//! AuroraCluster end to end against awsim's RDS: the example reaches Ready
//! with its proxy, a spec change is one ModifyDBCluster, Retain leaves AWS
//! alone, Snapshot deletes in order, and an invalid spec makes no RDS call.
//! Instance and proxy changes: `aurora/changes.rs`; adoption:
//! `aurora/adoption.rs`.

#[path = "aurora/adoption.rs"]
mod adoption;
#[path = "aurora/changes.rs"]
mod changes;

use std::time::{Duration, Instant};

use berth::api::aurora_cluster::ProxyTargetHealth;
use berth::api::conditions::{is_true, READY};
use berth::api::migration_job::{MigrationJob, Phase};
use berth::api::AuroraCluster;
use berth_e2e::conditions::{message_of, true_because};
use berth_e2e::examples::file;
use berth_e2e::{condition, Env};
use k8s_openapi::api::core::v1::Secret;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(120);

fn ready(a: &AuroraCluster) -> bool {
    a.status
        .as_ref()
        .is_some_and(|s| is_true(&s.conditions, READY))
}

async fn rds(env: &Env) -> aws_sdk_rds::Client {
    aws_sdk_rds::Client::new(&env.aws().await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_reaches_ready_with_proxy_and_connection_secret() {
    let env = Env::new("aurora-ok").await;
    env.apply_yaml(&file("orders-db.yaml")).await.unwrap();
    let db: AuroraCluster = env.wait_for("orders-db", "Ready", TIMEOUT, ready).await;
    let st = db.status.clone().unwrap();
    assert_eq!(st.status.as_deref(), Some("available"));
    assert_eq!(st.instances_ready, 1);
    assert_eq!(st.port, Some(5432));
    let endpoint = st.endpoint.clone().unwrap();
    let proxy = st.proxy_endpoint.clone().unwrap();
    assert!(endpoint.starts_with("orders-db.cluster-"), "{endpoint}");
    assert!(st.reader_endpoint.is_some() && st.cluster_resource_id.is_some());
    assert!(st.master_user_secret_arn.is_some());
    assert_eq!(condition(&st.conditions, READY).unwrap().1, "Available");
    berth_e2e::assert_conditions_readable(&db);

    let secret = env
        .api::<Secret>()
        .get("orders-db-connection")
        .await
        .unwrap();
    let data = secret.data.unwrap();
    let get = |k: &str| String::from_utf8(data[k].0.clone()).unwrap();
    assert_eq!(get("host"), endpoint);
    assert_eq!(get("proxyHost"), proxy);
    assert_eq!(get("port"), "5432");
    assert_eq!(get("dbname"), "orders");
    assert_eq!(get("username"), "orders_admin");
    assert_eq!(get("iamAuth"), "true");
    assert!(!get("readerHost").is_empty());
    assert_eq!(Some(get("masterUserSecretArn")), st.master_user_secret_arn);
    assert!(
        data.keys().all(|k| !k.to_lowercase().contains("password")),
        "no password in the Secret: {:?}",
        data.keys()
    );
    // The master password RDS generated (in Secrets Manager) appears in no
    // key or value of the Secret, nor in the status or berth's log.
    let password = master_password(&env, st.master_user_secret_arn.as_deref().unwrap()).await;
    assert!(password.len() >= 8, "awsim generated a password");
    for (k, v) in &data {
        let v = String::from_utf8_lossy(&v.0);
        assert!(
            !k.contains(&password) && !v.contains(&password),
            "the master password is in the Secret's {k}"
        );
    }
    let status_json = serde_json::to_string(&st).unwrap();
    assert!(
        !status_json.contains(&password),
        "the password is in the status"
    );
    assert!(
        !env.berth_log().contains(&password),
        "the password is in berth's log"
    );
    assert_eq!(
        st.proxy_target_health,
        Some(ProxyTargetHealth {
            state: Some("AVAILABLE".into()),
            reason: None,
            description: None,
        })
    );
    assert!(st.proxy_arn.is_some());
    let owner = &secret.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("AuroraCluster", "orders-db")
    );

    // STATUS, ENDPOINT and PROXY columns.
    let out = env.kubectl(&["get", "aurora", "orders-db", "--no-headers"]);
    let cols: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(
        &cols[1..5],
        ["True", "available", &endpoint, &proxy],
        "{cols:?}"
    );

    // The cluster in RDS carries what the spec asked for.
    let c = describe(&rds(&env).await, "orders-db").await.unwrap();
    assert_eq!(c.iam_database_authentication_enabled(), Some(true));
    assert_eq!(c.storage_encrypted(), Some(true));
    assert_eq!(c.deletion_protection(), Some(true));
    assert_eq!(c.db_subnet_group(), Some("orders-db"));
    let scaling = c.serverless_v2_scaling_configuration().unwrap();
    assert_eq!(
        (scaling.min_capacity(), scaling.max_capacity()),
        (Some(0.5), Some(8.0))
    );
    assert!(c
        .tag_list()
        .iter()
        .any(|t| t.key() == Some("berth.dev/owner")
            && t.value() == Some(format!("{}/orders-db", env.ns).as_str())));
    assert_eq!(env.berth_calls("rds", "CreateDBCluster"), 1);
    assert_eq!(env.berth_calls("rds", "CreateDBProxy"), 1);
    assert_eq!(env.berth_calls("rds", "RegisterDBProxyTargets"), 1);

    // Paused: every condition says so; Ready stays True (the cluster is
    // available), and the message still says what berth sees.
    let db: AuroraCluster = env.pause("orders-db", true, false, TIMEOUT).await;
    let message = message_of(&db, READY);
    assert!(
        message.starts_with("berth.dev/paused is \"true\"") && message.contains("are available"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_capacity_change_is_one_modify_after_available() {
    let env = Env::new("aurora-modify").await;
    ready_without_proxy(&env).await;
    assert_eq!(env.berth_calls("rds", "ModifyDBCluster"), 0);

    env.merge_patch::<AuroraCluster>(
        "orders-db",
        json!({"spec": {"serverlessV2": {"minCapacity": 0.5, "maxCapacity": 16}}}),
    )
    .await;
    env.wait_for(
        "orders-db",
        "Ready at generation 2",
        TIMEOUT,
        |a: &AuroraCluster| {
            ready(a)
                && a.status
                    .as_ref()
                    .is_some_and(|s| s.observed_generation == Some(2))
        },
    )
    .await;
    let scaling = describe(&rds(&env).await, "orders-db")
        .await
        .unwrap()
        .serverless_v2_scaling_configuration()
        .cloned()
        .unwrap();
    assert_eq!(scaling.max_capacity(), Some(16.0));
    assert_eq!(env.berth_calls("rds", "ModifyDBCluster"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_leaves_the_cluster_in_aws() {
    let env = Env::new("aurora-retain").await;
    ready_without_proxy(&env).await;
    env.delete_and_wait::<AuroraCluster>("orders-db", TIMEOUT)
        .await;
    let c = rds(&env)
        .await
        .describe_db_clusters()
        .db_cluster_identifier("orders-db")
        .send()
        .await
        .unwrap();
    assert_eq!(c.db_clusters()[0].status(), Some("available"));
    for action in [
        "DeleteDBCluster",
        "DeleteDBInstance",
        "DeleteDBProxy",
        "DeleteDBSubnetGroup",
    ] {
        assert_eq!(env.berth_calls("rds", action), 0, "{action}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_identifier_is_invalid_spec_without_rds_calls() {
    let env = Env::new("aurora-invalid").await;
    // An uppercase identifier never gets past the schema.
    let upper = file("orders-db.yaml").replace(
        "  engine: aurora-postgresql\n",
        "  engine: aurora-postgresql\n  clusterIdentifier: Orders-DB\n",
    );
    assert!(env.apply_yaml(&upper).await.is_err(), "uppercase rejected");
    // A valid Kubernetes name RDS refuses (a dot) is berth's to reject.
    let dotted = file("orders-db.yaml").replace("name: orders-db\n", "name: orders.db\n");
    env.apply_yaml(&dotted).await.unwrap();
    let db: AuroraCluster = env.wait_degraded("orders.db", "InvalidSpec", TIMEOUT).await;
    let (_, _, message) = condition(&db.status.unwrap().conditions, "Degraded").unwrap();
    assert!(message.contains("metadata.name"), "{message}");
    // A proxy name ({id}-proxy) over RDS's 63 characters, and proxy IAM
    // auth the cluster does not match: refused by the CRD's CEL rules
    // where the API server evaluates them (1.25+), else by berth.
    let long = format!("o{}", "a".repeat(57));
    let too_long = file("orders-db.yaml")
        .replace("name: orders-db\n", "name: orders-long\n")
        .replace(
            "  engine: aurora-postgresql\n",
            &format!("  engine: aurora-postgresql\n  clusterIdentifier: {long}\n"),
        );
    let mismatch = file("orders-db.yaml")
        .replace("name: orders-db\n", "name: orders-iam\n")
        .replace("iamAuthentication: true", "iamAuthentication: false");
    for (name, manifest, field) in [
        ("orders-long", too_long, "spec.clusterIdentifier"),
        ("orders-iam", mismatch, "spec.proxy.iamAuth"),
    ] {
        let message = match env.apply_yaml(&manifest).await {
            Err(e) => e.to_string(),
            Ok(_) => {
                let db: AuroraCluster = env
                    .wait_degraded::<AuroraCluster>(name, "InvalidSpec", TIMEOUT)
                    .await;
                message_of(&db, "Degraded")
            }
        };
        assert!(message.contains(field), "{name}: {message}");
    }
    assert_eq!(env.berth_service_calls("rds"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_create_responses_create_nothing_twice() {
    let env = Env::new("aurora-lost").await;
    for action in [
        "rds:CreateDBSubnetGroup",
        "rds:CreateDBCluster",
        "rds:CreateDBInstance",
        "rds:CreateDBProxy",
    ] {
        env.awsim.lose_responses(action, 1);
    }
    env.apply_yaml(&file("orders-db.yaml")).await.unwrap();
    env.wait_for("orders-db", "Ready", TIMEOUT, ready).await;
    let lost = env.berth_lost_calls().len();
    assert_eq!(lost, 4, "every fault fired once");
    let rds = env.rds_counts().await;
    assert_eq!(rds.clusters, 1);
    assert_eq!(rds.instances, 1);
    assert_eq!(rds.proxies, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_policy_waits_for_deletion_protection_then_deletes_in_order() {
    let env = Env::new("aurora-delete").await;
    let manifest =
        file("orders-db.yaml").replace("deletionPolicy: Retain", "deletionPolicy: Snapshot");
    env.apply_yaml(&manifest).await.unwrap();
    let db: AuroraCluster = env.wait_for("orders-db", "Ready", TIMEOUT, ready).await;
    // Warned before anyone deletes it.
    let (st, reason, _) = condition(&db.status.unwrap().conditions, "Degraded").unwrap();
    assert_eq!(
        (st.as_str(), reason.as_str()),
        ("True", "DeletionProtected")
    );

    env.api::<AuroraCluster>()
        .delete("orders-db", &Default::default())
        .await
        .unwrap();
    env.wait_for(
        "orders-db",
        "a deletion attempt",
        TIMEOUT,
        |a: &AuroraCluster| a.metadata.deletion_timestamp.is_some(),
    )
    .await;
    // Nothing is deleted while the cluster is protected, and the object
    // stays: wait for a cleanup reconcile that began after the deletion.
    let (started, _) = env.reconciles("AuroraCluster", "orders-db").await;
    env.wait_reconciled_since("AuroraCluster", "orders-db", started, TIMEOUT)
        .await;
    assert!(env
        .api::<AuroraCluster>()
        .get_opt("orders-db")
        .await
        .unwrap()
        .is_some());
    for action in ["DeleteDBCluster", "DeleteDBInstance", "DeleteDBProxy"] {
        assert_eq!(env.berth_calls("rds", action), 0, "{action}");
    }
    let db = env
        .wait_for(
            "orders-db",
            "DeletionProtected while deleting",
            TIMEOUT,
            true_because::<AuroraCluster>("Degraded", "DeletionProtected"),
        )
        .await;
    assert_eq!(
        condition(&db.status.unwrap().conditions, READY).unwrap().1,
        "DeletionProtected"
    );

    // Paused while being deleted: the conditions say Paused (the failure
    // stays Degraded), and that the deletion waits for the annotation.
    let db: AuroraCluster = env.pause("orders-db", false, true, TIMEOUT).await;
    let message = message_of(&db, READY);
    assert!(
        message.contains("being deleted") && message.contains("once the annotation is removed"),
        "{message}"
    );
    env.annotate::<AuroraCluster>("orders-db", "berth.dev/paused", json!("false"))
        .await;

    env.merge_patch::<AuroraCluster>("orders-db", json!({"spec": {"deletionProtection": false}}))
        .await;
    // While RDS deletes them, the status names the step it waits for.
    let db = env
        .wait_for(
            "orders-db",
            "Deleting, waiting for the instance",
            TIMEOUT,
            |a: &AuroraCluster| {
                a.status.as_ref().is_some_and(|s| {
                    condition(&s.conditions, READY).is_some_and(|c| {
                        c.0 == "False"
                            && c.1 == "Deleting"
                            && c.2.contains("DB instance(s) orders-db-1")
                    })
                })
            },
        )
        .await;
    let conditions = db.status.unwrap().conditions;
    let (st, reason, message) = condition(&conditions, "Progressing").unwrap();
    assert_eq!(
        (st.as_str(), reason.as_str()),
        ("True", "Deleting"),
        "{message}"
    );
    assert!(
        message.starts_with("the AuroraCluster is being deleted: "),
        "{message}"
    );
    let (st, reason, _) = condition(&conditions, "Degraded").unwrap();
    assert_eq!((st.as_str(), reason.as_str()), ("False", "AsExpected"));
    // When the object was last seen (real epoch seconds, as awsim logs).
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut last_seen = 0.0;
    while env
        .api::<AuroraCluster>()
        .get_opt("orders-db")
        .await
        .unwrap()
        .is_some()
    {
        last_seen = epoch_seconds();
        assert!(
            Instant::now() < deadline,
            "orders-db was never released\n--- berth log (tail) ---\n{}",
            berth_e2e::tail(&env.berth_log(), 25)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Proxy, instances, cluster (with its final snapshot), subnet group:
    // each sent only after the previous was gone, the object released
    // only after the last.
    let deletes: Vec<serde_json::Value> = env
        .berth_call_log()
        .iter()
        .filter(|c| c["service"] == "rds" && c["outcome"] == "ok")
        .filter(|c| {
            c["action"]
                .as_str()
                .is_some_and(|a| a.starts_with("Delete"))
        })
        .cloned()
        .collect();
    let order: Vec<&str> = deletes
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "DeleteDBProxy",
            "DeleteDBInstance",
            "DeleteDBCluster",
            "DeleteDBSubnetGroup"
        ],
        "{deletes:#?}"
    );
    let final_snapshot = deletes[2]["params"]["FinalDBSnapshotIdentifier"]
        .as_str()
        .unwrap_or_default();
    assert!(
        final_snapshot.starts_with("orders-db-final-"),
        "{:?}",
        deletes[2]
    );
    let last_delete = deletes[3]["time"].as_f64().unwrap();
    assert!(
        last_seen > last_delete,
        "released at {last_seen}, before DeleteDBSubnetGroup at {last_delete}"
    );
    let rds = rds(&env).await;
    assert!(rds
        .describe_db_clusters()
        .send()
        .await
        .unwrap()
        .db_clusters()
        .is_empty());
    assert!(rds
        .describe_db_proxies()
        .send()
        .await
        .unwrap()
        .db_proxies()
        .is_empty());
    let groups = rds.describe_db_subnet_groups().send().await.unwrap();
    assert!(
        !groups
            .db_subnet_groups()
            .iter()
            .any(|g| g.db_subnet_group_name() == Some("orders-db")),
        "{groups:?}"
    );
    let snapshots = rds.describe_db_cluster_snapshots().send().await.unwrap();
    assert_eq!(
        snapshots.db_cluster_snapshots().len(),
        1,
        "one final snapshot"
    );
    let sid = snapshots.db_cluster_snapshots()[0]
        .db_cluster_snapshot_identifier()
        .unwrap()
        .to_string();
    assert!(sid.starts_with("orders-db-final-"), "{sid}");
    assert_eq!(env.berth_calls("rds", "DeleteDBCluster"), 1);
}

/// The demo's chain: the API waits for its migration, the migration for
/// the database; once the database is Ready the migration runs with the
/// proxy endpoint berth reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_migration_resolves_its_database_ref() {
    let env = Env::new("aurora-demo").await;
    for example in ["orders-db.yaml", "api-migrate.yaml", "api.yaml"] {
        env.apply_yaml(&file(example)).await.unwrap();
    }
    let job: MigrationJob = env
        .wait_phase("api-migrate", Phase::Succeeded, TIMEOUT)
        .await;
    let db: AuroraCluster = env.api().get("orders-db").await.unwrap();
    let proxy = db.status.unwrap().proxy_endpoint.unwrap();
    let task = env.ecs_task(job.status.unwrap().task_arn.unwrap()).await;
    let db_host = task
        .overrides()
        .unwrap()
        .container_overrides()
        .iter()
        .flat_map(|c| c.environment())
        .find(|kv| kv.name() == Some("DB_HOST"))
        .and_then(|kv| kv.value())
        .map(str::to_string);
    assert_eq!(db_host, Some(proxy));
}

/// The example without its proxy (the tests below are about the cluster).
fn without_proxy() -> String {
    file("orders-db.yaml").replace(
        "  proxy:\n    enabled: true",
        "  proxy:\n    enabled: false",
    )
}

/// Applies the example without its proxy and waits until it is Ready.
async fn ready_without_proxy(env: &Env) {
    env.apply_yaml(&without_proxy()).await.unwrap();
    env.wait_for("orders-db", "Ready", TIMEOUT, ready).await;
}

fn ready_at(generation: i64) -> impl Fn(&AuroraCluster) -> bool {
    move |a: &AuroraCluster| {
        ready(a)
            && a.status
                .as_ref()
                .is_some_and(|s| s.observed_generation == Some(generation))
    }
}

/// Berth's calls to `rds:action` as awsim logged them, by outcome.
fn outcomes(env: &Env, action: &str) -> Vec<String> {
    env.berth_outcomes("rds", action)
}

/// Berth's calls that change something in RDS (any outcome).
fn rds_mutations(env: &Env) -> Vec<String> {
    env.berth_call_log()
        .iter()
        .filter(|c| c["service"] == "rds")
        .filter_map(|c| c["action"].as_str())
        .filter(|a| !a.starts_with("Describe") && !a.starts_with("List"))
        .map(str::to_string)
        .collect()
}

async fn describe(rds: &aws_sdk_rds::Client, id: &str) -> Option<aws_sdk_rds::types::DbCluster> {
    rds.describe_db_clusters()
        .db_cluster_identifier(id)
        .send()
        .await
        .ok()
        .and_then(|o| o.db_clusters().first().cloned())
}

/// Polls RDS until the cluster satisfies `pred`; panics with berth's log
/// on timeout.
async fn wait_cluster(
    env: &Env,
    what: &str,
    pred: impl Fn(&aws_sdk_rds::types::DbCluster) -> bool,
) -> aws_sdk_rds::types::DbCluster {
    let rds = rds(env).await;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(c) = describe(&rds, "orders-db").await.filter(|c| pred(c)) {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "RDS cluster orders-db never was {what}\n--- berth log (tail) ---\n{}",
            berth_e2e::tail(&env.berth_log(), 25)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn max_capacity(c: &aws_sdk_rds::types::DbCluster) -> Option<f64> {
    c.serverless_v2_scaling_configuration()
        .and_then(|s| s.max_capacity())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_capacity_edit_while_modifying_waits_then_applies() {
    let env = Env::new("aurora-modify2").await;
    env.apply_yaml(&without_proxy()).await.unwrap();
    env.wait_for("orders-db", "Ready", TIMEOUT, ready).await;
    assert_eq!(env.berth_calls("rds", "ModifyDBCluster"), 0);
    // Real time from here: RDS stays `modifying` for 15 s after a change,
    // long enough for a second edit to land while it is.
    env.awsim.set_time_scale(1.0);

    env.merge_patch::<AuroraCluster>(
        "orders-db",
        json!({"spec": {"serverlessV2": {"maxCapacity": 16}}}),
    )
    .await;
    let c = wait_cluster(&env, "modifying to 16 ACU", |c| {
        c.status() == Some("modifying") && max_capacity(c) == Some(16.0)
    })
    .await;
    assert_eq!(max_capacity(&c), Some(16.0));
    assert_eq!(env.berth_calls("rds", "ModifyDBCluster"), 1);

    // The second edit, seen by berth while RDS still reports `modifying`.
    let (started, _) = env.reconciles("AuroraCluster", "orders-db").await;
    env.merge_patch::<AuroraCluster>(
        "orders-db",
        json!({"spec": {"serverlessV2": {"maxCapacity": 32}}}),
    )
    .await;
    env.wait_reconciled_since("AuroraCluster", "orders-db", started, TIMEOUT)
        .await;
    let c = describe(&rds(&env).await, "orders-db").await.unwrap();
    assert_eq!(
        (c.status(), max_capacity(&c)),
        (Some("modifying"), Some(16.0)),
        "berth saw the second edit while RDS was modifying"
    );
    assert_eq!(
        env.berth_calls("rds", "ModifyDBCluster"),
        1,
        "no modification stacked on a modifying cluster"
    );

    env.awsim.set_time_scale(30.0);
    env.wait_for("orders-db", "Ready at generation 3", TIMEOUT, ready_at(3))
        .await;
    let c = describe(&rds(&env).await, "orders-db").await.unwrap();
    assert_eq!(max_capacity(&c), Some(32.0));
    assert_eq!(
        outcomes(&env, "ModifyDBCluster"),
        ["ok", "ok"],
        "two ModifyDBCluster calls, none rejected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_above_max_capacity_is_invalid_spec_without_rds_calls() {
    let env = Env::new("aurora-minmax").await;
    let manifest = file("orders-db.yaml").replace(
        "    minCapacity: 0.5\n    maxCapacity: 8\n",
        "    minCapacity: 16\n    maxCapacity: 8\n",
    );
    assert!(manifest.contains("minCapacity: 16"));
    env.apply_yaml(&manifest).await.unwrap();
    let db: AuroraCluster = env
        .wait_degraded::<AuroraCluster>("orders-db", "InvalidSpec", TIMEOUT)
        .await;
    let (_, _, message) = condition(&db.status.unwrap().conditions, "Degraded").unwrap();
    assert!(
        message.contains("spec.serverlessV2.minCapacity"),
        "{message}"
    );
    assert_eq!(env.berth_service_calls("rds"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_creation_creates_nothing_twice() {
    let mut env = Env::new("aurora-restart").await;
    // Real time while berth is killed: the cluster stays `creating` for a minute.
    env.awsim.set_time_scale(1.0);
    env.apply_yaml(&file("orders-db.yaml")).await.unwrap();
    wait_cluster(&env, "creating", |c| c.status() == Some("creating")).await;
    env.kill_berth();
    env.start_berth();
    env.awsim.set_time_scale(30.0);
    env.wait_for("orders-db", "Ready", TIMEOUT, ready).await;

    for action in ["CreateDBCluster", "CreateDBInstance", "CreateDBProxy"] {
        let ok = outcomes(&env, action).iter().filter(|o| *o == "ok").count();
        assert_eq!(ok, 1, "{action}: {:?}", outcomes(&env, action));
    }
    let rds = env.rds_counts().await;
    assert_eq!(rds.clusters, 1);
    assert_eq!(rds.instances, 1);
    assert_eq!(rds.proxies, 1);
}

/// The master password RDS keeps in Secrets Manager (read as a user could).
async fn master_password(env: &Env, secret_arn: &str) -> String {
    let sm = aws_sdk_secretsmanager::Client::new(&env.aws().await);
    let value = sm
        .get_secret_value()
        .secret_id(secret_arn)
        .send()
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    json["password"].as_str().unwrap().to_string()
}

fn epoch_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}
