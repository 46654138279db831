//! Instance and proxy changes: a lower `instances.count` removes the
//! newest instance (never the writer), one DeleteDBInstance; a new class
//! and new proxy settings are one ModifyDBInstance and one ModifyDBProxy,
//! each sent while RDS reports the resource available.

use super::*;

async fn instances(env: &Env) -> Vec<aws_sdk_rds::types::DbInstance> {
    rds(env)
        .await
        .describe_db_instances()
        .send()
        .await
        .unwrap()
        .db_instances()
        .to_vec()
}

/// The instance ids of berth's calls to `rds:action` that RDS accepted.
fn instance_calls(env: &Env, action: &str) -> Vec<String> {
    env.berth_call_log()
        .iter()
        .filter(|c| c["service"] == "rds" && c["action"] == action && c["outcome"] == "ok")
        .map(|c| {
            c["params"]["DBInstanceIdentifier"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lower_count_removes_the_newest_instance_never_the_writer() {
    let env = Env::new("aurora-scale").await;
    let manifest = without_proxy().replace("    count: 1\n", "    count: 2\n");
    assert!(manifest.contains("count: 2"));
    env.apply_yaml(&manifest).await.unwrap();
    let db: AuroraCluster = env.wait_for("orders-db", "Ready", TIMEOUT, ready).await;
    assert_eq!(db.status.unwrap().instances_ready, 2);
    assert_eq!(
        instance_calls(&env, "CreateDBInstance"),
        ["orders-db-1", "orders-db-2"]
    );

    env.merge_patch::<AuroraCluster>("orders-db", json!({"spec": {"instances": {"count": 1}}}))
        .await;
    let db: AuroraCluster = env
        .wait_for(
            "orders-db",
            "Ready at generation 2 with one instance",
            TIMEOUT,
            |a: &AuroraCluster| {
                ready_at(2)(a) && a.status.as_ref().is_some_and(|s| s.instances_ready == 1)
            },
        )
        .await;
    assert_eq!(db.status.unwrap().instances_ready, 1);
    assert_eq!(instance_calls(&env, "DeleteDBInstance"), ["orders-db-2"]);
    assert_eq!(
        outcomes(&env, "DeleteDBInstance"),
        ["ok"],
        "one DeleteDBInstance"
    );
    let left = instances(&env).await;
    assert_eq!(left.len(), 1, "RDS reports the removed instance gone");
    assert_eq!(left[0].db_instance_identifier(), Some("orders-db-1"));
    let c = describe(&rds(&env).await, "orders-db").await.unwrap();
    let writer = c
        .db_cluster_members()
        .iter()
        .find(|m| m.is_cluster_writer() == Some(true))
        .and_then(|m| m.db_instance_identifier());
    assert_eq!(writer, Some("orders-db-1"), "the writer stays");
    assert_eq!(env.berth_calls("rds", "CreateDBInstance"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_class_and_proxy_settings_are_one_modify_each() {
    let env = Env::new("aurora-modify-ip").await;
    env.apply_yaml(&file("orders-db.yaml")).await.unwrap();
    env.wait_for("orders-db", "Ready", TIMEOUT, ready).await;
    for action in ["ModifyDBInstance", "ModifyDBProxy", "ModifyDBCluster"] {
        assert_eq!(env.berth_calls("rds", action), 0, "{action}");
    }

    env.merge_patch::<AuroraCluster>(
        "orders-db",
        json!({"spec": {
            "instances": {"class": "db.r6g.large"},
            "proxy": {"idleClientTimeout": 900, "requireTls": false},
        }}),
    )
    .await;
    env.wait_for("orders-db", "Ready at generation 2", TIMEOUT, ready_at(2))
        .await;
    assert_eq!(outcomes(&env, "ModifyDBInstance"), ["ok"]);
    assert_eq!(outcomes(&env, "ModifyDBProxy"), ["ok"]);
    assert_eq!(env.berth_calls("rds", "ModifyDBCluster"), 0);
    assert_eq!(instance_calls(&env, "ModifyDBInstance"), ["orders-db-1"]);

    let rds = rds(&env).await;
    let i = &instances(&env).await[0];
    assert_eq!(
        (i.db_instance_class(), i.db_instance_status()),
        (Some("db.r6g.large"), Some("available"))
    );
    let p = rds
        .describe_db_proxies()
        .db_proxy_name("orders-db-proxy")
        .send()
        .await
        .unwrap()
        .db_proxies()[0]
        .clone();
    assert_eq!(
        (p.idle_client_timeout(), p.require_tls()),
        (Some(900), Some(false))
    );
    // Untouched: the IAM mode of its one auth entry, and its role.
    assert_eq!(p.auth()[0].iam_auth().map(|m| m.as_str()), Some("REQUIRED"));
    assert_eq!(
        p.role_arn(),
        Some("arn:aws:iam::123456789012:role/orders-db-proxy")
    );
}
