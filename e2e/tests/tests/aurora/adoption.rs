//! Adoption: an existing cluster, its instances and a proxy of berth's
//! name are taken over only with `spec.adopt: true`, never re-created.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_cluster_needs_adopt_then_is_adopted_without_recreation() {
    let env = Env::new("aurora-adopt").await;
    let rds = rds(&env).await;
    let created = rds
        .create_db_cluster()
        .db_cluster_identifier("orders-db")
        .engine("aurora-postgresql")
        .engine_version("16.4")
        .master_username("orders_admin")
        .manage_master_user_password(true)
        .send()
        .await
        .unwrap()
        .db_cluster()
        .cloned()
        .unwrap();
    let resource_id = created.db_cluster_resource_id().unwrap().to_string();

    env.apply_yaml(&without_proxy()).await.unwrap();
    let db: AuroraCluster = env
        .wait_degraded::<AuroraCluster>("orders-db", "AdoptionRequired", TIMEOUT)
        .await;
    let db_status = db.status;
    let (_, _, message) = condition(&db_status.as_ref().unwrap().conditions, "Degraded").unwrap();
    assert!(message.contains("spec.adopt"), "{message}");
    assert!(
        rds_mutations(&env).is_empty(),
        "nothing modified: {:?}",
        rds_mutations(&env)
    );
    let c = describe(&rds, "orders-db").await.unwrap();
    assert!(c.tag_list().is_empty(), "{:?}", c.tag_list());
    // Nor does the object lend out a database it does not manage.
    let st = db_status.unwrap();
    assert_eq!((st.endpoint, st.master_user_secret_arn), (None, None));
    assert!(env
        .api::<Secret>()
        .get_opt("orders-db-connection")
        .await
        .unwrap()
        .is_none());

    env.merge_patch::<AuroraCluster>("orders-db", json!({"spec": {"adopt": true}}))
        .await;
    env.wait_for("orders-db", "Ready", TIMEOUT, ready).await;
    assert_eq!(env.berth_calls("rds", "CreateDBCluster"), 0);
    let clusters = rds.describe_db_clusters().send().await.unwrap();
    assert_eq!(clusters.db_clusters().len(), 1);
    let c = &clusters.db_clusters()[0];
    assert_eq!(
        c.db_cluster_resource_id(),
        Some(resource_id.as_str()),
        "the same cluster, not a re-created one"
    );
    assert!(c
        .tag_list()
        .iter()
        .any(|t| t.key() == Some("berth.dev/owner")
            && t.value() == Some(format!("{}/orders-db", env.ns).as_str())));
    assert_eq!(max_capacity(c), Some(8.0));
}

/// A cluster made outside berth, with an instance of another name: adopted
/// with its instance, which counts toward `instances.count` (none created).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopting_a_cluster_adopts_its_instances() {
    let env = Env::new("aurora-adopt-inst").await;
    let rds = rds(&env).await;
    rds.create_db_cluster()
        .db_cluster_identifier("orders-db")
        .engine("aurora-postgresql")
        .engine_version("16.4")
        .master_username("orders_admin")
        .manage_master_user_password(true)
        .serverless_v2_scaling_configuration(
            aws_sdk_rds::types::ServerlessV2ScalingConfiguration::builder()
                .min_capacity(0.5)
                .max_capacity(8.0)
                .build(),
        )
        .send()
        .await
        .unwrap();
    rds.create_db_instance()
        .db_instance_identifier("legacy-writer")
        .db_cluster_identifier("orders-db")
        .engine("aurora-postgresql")
        .db_instance_class("db.serverless")
        .send()
        .await
        .unwrap();

    let manifest = without_proxy().replace(
        "  deletionPolicy: Retain",
        "  deletionPolicy: Retain\n  adopt: true",
    );
    assert!(manifest.contains("adopt: true"));
    env.apply_yaml(&manifest).await.unwrap();
    let db: AuroraCluster = env.wait_for("orders-db", "Ready", TIMEOUT, ready).await;
    assert_eq!(db.status.unwrap().instances_ready, 1);
    assert_eq!(env.berth_calls("rds", "CreateDBInstance"), 0);
    assert_eq!(env.berth_calls("rds", "CreateDBCluster"), 0);
    let instances = rds.describe_db_instances().send().await.unwrap();
    let ids: Vec<&str> = instances
        .db_instances()
        .iter()
        .filter_map(|i| i.db_instance_identifier())
        .collect();
    assert_eq!(ids, ["legacy-writer"]);
    let owner = format!("{}/orders-db", env.ns);
    assert!(
        instances.db_instances()[0]
            .tag_list()
            .iter()
            .any(|t| t.key() == Some("berth.dev/owner") && t.value() == Some(owner.as_str())),
        "{:?}",
        instances.db_instances()[0].tag_list()
    );
}

async fn proxy_tags(rds: &aws_sdk_rds::Client, arn: &str) -> Vec<aws_sdk_rds::types::Tag> {
    rds.list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .unwrap()
        .tag_list()
        .to_vec()
}

/// A proxy named like berth's (`{id}-proxy`) that berth did not create:
/// AdoptionRequired and untouched until `adopt: true`, then adopted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_proxy_of_berths_name_needs_adopt() {
    use aws_sdk_rds::types::{AuthScheme, EngineFamily, IamAuthMode, UserAuthConfig};
    let env = Env::new("aurora-adopt-proxy").await;
    env.apply_yaml(&without_proxy()).await.unwrap();
    let db: AuroraCluster = env.wait_for("orders-db", "Ready", TIMEOUT, ready).await;
    let secret = db.status.unwrap().master_user_secret_arn.unwrap();
    let rds = rds(&env).await;
    let created = rds
        .create_db_proxy()
        .db_proxy_name("orders-db-proxy")
        .engine_family(EngineFamily::Postgresql)
        .auth(
            UserAuthConfig::builder()
                .auth_scheme(AuthScheme::Secrets)
                .secret_arn(&secret)
                .iam_auth(IamAuthMode::Required)
                .build(),
        )
        .role_arn("arn:aws:iam::123456789012:role/orders-db-proxy")
        .vpc_subnet_ids("subnet-0a1b2c3d4e5f60001")
        .vpc_subnet_ids("subnet-0a1b2c3d4e5f60002")
        .vpc_security_group_ids("sg-0a1b2c3d4e5f60db1")
        .require_tls(true)
        .send()
        .await
        .unwrap();
    let arn = created
        .db_proxy()
        .unwrap()
        .db_proxy_arn()
        .unwrap()
        .to_string();
    let before = rds_mutations(&env);

    env.merge_patch::<AuroraCluster>("orders-db", json!({"spec": {"proxy": {"enabled": true}}}))
        .await;
    let db: AuroraCluster = env
        .wait_degraded::<AuroraCluster>("orders-db", "AdoptionRequired", TIMEOUT)
        .await;
    let st = db.status.unwrap();
    let (_, _, message) = condition(&st.conditions, "Degraded").unwrap();
    assert!(
        message.contains("RDS Proxy orders-db-proxy") && message.contains("spec.adopt"),
        "{message}"
    );
    assert_eq!(rds_mutations(&env), before, "nothing modified");
    assert_eq!((st.proxy_endpoint, st.proxy_arn), (None, None));
    assert!(proxy_tags(&rds, &arn).await.is_empty());

    env.merge_patch::<AuroraCluster>("orders-db", json!({"spec": {"adopt": true}}))
        .await;
    let db: AuroraCluster = env.wait_for("orders-db", "Ready", TIMEOUT, ready).await;
    assert_eq!(db.status.unwrap().proxy_arn.as_deref(), Some(arn.as_str()));
    assert_eq!(env.berth_calls("rds", "CreateDBProxy"), 0);
    assert_eq!(env.berth_calls("rds", "RegisterDBProxyTargets"), 1);
    let owner = format!("{}/orders-db", env.ns);
    assert!(
        proxy_tags(&rds, &arn)
            .await
            .iter()
            .any(|t| t.key() == Some("berth.dev/owner") && t.value() == Some(owner.as_str())),
        "the proxy carries berth's owner tag"
    );
}
