//! RDS through the real aws-sdk-rds client. The virtual clock runs at real
//! speed and the tests jump it with `advance_clock`, so lifecycle steps are
//! deterministic (no polling against a racing clock).

mod common;

use aws_sdk_rds::error::ProvideErrorMetadata;
use aws_sdk_rds::types::{
    AuthScheme, EngineFamily, Filter, IamAuthMode, ServerlessV2ScalingConfiguration, Tag,
    TargetRole, TargetState, TargetType, UserAuthConfig,
};
use aws_sdk_rds::Client;
use common::{sdk_config, secrets};

/// Real-speed clock: the tests move it with `advance_clock`, so a status
/// read right after a call cannot race a fast clock on a slow machine.
async fn start() -> awsim::Handle {
    awsim::start(awsim::Config {
        throttle: false,
        ..Default::default()
    })
    .await
}

fn rds(h: &awsim::Handle) -> Client {
    Client::new(&sdk_config(h))
}

fn scaling(min: f64, max: f64) -> ServerlessV2ScalingConfiguration {
    ServerlessV2ScalingConfiguration::builder()
        .min_capacity(min)
        .max_capacity(max)
        .build()
}

async fn subnet_group(c: &Client, name: &str) {
    c.create_db_subnet_group()
        .db_subnet_group_name(name)
        .db_subnet_group_description("berth test")
        .subnet_ids("subnet-aaa")
        .subnet_ids("subnet-bbb")
        .send()
        .await
        .expect("create subnet group");
}

/// A serverless v2 aurora-postgresql cluster with a managed master password.
async fn cluster(c: &Client, id: &str, deletion_protection: bool) {
    c.create_db_cluster()
        .db_cluster_identifier(id)
        .engine("aurora-postgresql")
        .database_name("app")
        .master_username("berth")
        .manage_master_user_password(true)
        .enable_iam_database_authentication(true)
        .serverless_v2_scaling_configuration(scaling(0.5, 4.0))
        .db_subnet_group_name("berth-db")
        .vpc_security_group_ids("sg-0123")
        .storage_encrypted(true)
        .backup_retention_period(7)
        .deletion_protection(deletion_protection)
        .tags(
            Tag::builder()
                .key("berth.dev/owner")
                .value("ns/app")
                .build(),
        )
        .send()
        .await
        .expect("create cluster");
}

async fn instance(c: &Client, id: &str, cluster: &str) {
    c.create_db_instance()
        .db_instance_identifier(id)
        .db_cluster_identifier(cluster)
        .engine("aurora-postgresql")
        .db_instance_class("db.serverless")
        .send()
        .await
        .expect("create instance");
}

#[tokio::test]
async fn aurora_cluster_instance_and_proxy_become_available() {
    let h = start().await;
    let c = rds(&h);
    subnet_group(&c, "berth-db").await;
    cluster(&c, "orders", false).await;

    let described = c
        .describe_db_clusters()
        .db_cluster_identifier("orders")
        .send()
        .await
        .unwrap();
    let cl = &described.db_clusters()[0];
    assert_eq!(cl.status(), Some("creating"));
    assert_eq!(cl.engine(), Some("aurora-postgresql"));
    assert_eq!(cl.engine_version(), Some("16.4"));
    assert_eq!(cl.db_subnet_group(), Some("berth-db"));

    // Nothing can be registered with a proxy that is still being created.
    instance(&c, "orders-1", "orders").await;
    let proxy = c
        .create_db_proxy()
        .db_proxy_name("orders-proxy")
        .engine_family(EngineFamily::Postgresql)
        .auth(
            UserAuthConfig::builder()
                .auth_scheme(AuthScheme::Secrets)
                .secret_arn(cl.master_user_secret().unwrap().secret_arn().unwrap())
                .iam_auth(IamAuthMode::Required)
                .build(),
        )
        .role_arn("arn:aws:iam::000000000000:role/rds-proxy")
        .vpc_subnet_ids("subnet-aaa")
        .vpc_subnet_ids("subnet-bbb")
        .vpc_security_group_ids("sg-0123")
        .require_tls(true)
        .idle_client_timeout(900)
        .send()
        .await
        .expect("create proxy")
        .db_proxy
        .unwrap();
    assert_eq!(proxy.status().map(|s| s.as_str()), Some("creating"));
    let early = c
        .register_db_proxy_targets()
        .db_proxy_name("orders-proxy")
        .db_cluster_identifiers("orders")
        .send()
        .await
        .unwrap_err();
    assert_eq!(early.code(), Some("InvalidDBProxyStateFault"));

    h.advance_clock(120.0);

    let cl = c
        .describe_db_clusters()
        .db_cluster_identifier("orders")
        .send()
        .await
        .unwrap()
        .db_clusters()[0]
        .clone();
    assert_eq!(cl.status(), Some("available"));
    let endpoint = cl.endpoint().unwrap();
    assert!(
        endpoint.starts_with("orders.cluster-")
            && endpoint.ends_with(".us-east-1.rds.amazonaws.com"),
        "{endpoint}"
    );
    assert!(cl
        .reader_endpoint()
        .unwrap()
        .starts_with("orders.cluster-ro-"));
    assert_eq!(cl.port(), Some(5432));
    assert!(cl.db_cluster_resource_id().unwrap().starts_with("cluster-"));
    assert_eq!(
        cl.db_cluster_arn(),
        Some("arn:aws:rds:us-east-1:000000000000:cluster:orders")
    );
    assert_eq!(cl.iam_database_authentication_enabled(), Some(true));
    assert_eq!(cl.storage_encrypted(), Some(true));
    assert_eq!(cl.backup_retention_period(), Some(7));
    assert_eq!(cl.database_name(), Some("app"));
    let sv2 = cl.serverless_v2_scaling_configuration().unwrap();
    assert_eq!(
        (sv2.min_capacity(), sv2.max_capacity()),
        (Some(0.5), Some(4.0))
    );
    assert_eq!(
        cl.vpc_security_groups()[0].vpc_security_group_id(),
        Some("sg-0123")
    );
    assert_eq!(cl.tag_list()[0].key(), Some("berth.dev/owner"));
    let members = cl.db_cluster_members();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].db_instance_identifier(), Some("orders-1"));
    assert_eq!(members[0].is_cluster_writer(), Some(true));

    // The managed master password lives in Secrets Manager.
    let secret = cl.master_user_secret().unwrap();
    assert_eq!(secret.secret_status(), Some("active"));
    assert!(secret
        .kms_key_id()
        .unwrap()
        .starts_with("arn:aws:kms:us-east-1:"));
    let value = secrets(&h)
        .get_secret_value()
        .secret_id(secret.secret_arn().unwrap())
        .send()
        .await
        .expect("managed secret exists");
    let json: serde_json::Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    assert_eq!(json["username"], "berth");
    assert!(json["password"].as_str().unwrap().len() >= 16);

    let instances = c
        .describe_db_instances()
        .filters(
            Filter::builder()
                .name("db-cluster-id")
                .values("orders")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let inst = &instances.db_instances()[0];
    assert_eq!(inst.db_instance_status(), Some("available"));
    assert_eq!(inst.db_instance_class(), Some("db.serverless"));
    assert_eq!(inst.db_cluster_identifier(), Some("orders"));
    assert!(inst
        .endpoint()
        .unwrap()
        .address()
        .unwrap()
        .starts_with("orders-1."));
    assert_eq!(
        inst.db_subnet_group().unwrap().subnets().len(),
        2,
        "instance shows its cluster's subnet group"
    );

    let proxy = c
        .describe_db_proxies()
        .db_proxy_name("orders-proxy")
        .send()
        .await
        .unwrap()
        .db_proxies()[0]
        .clone();
    assert_eq!(proxy.status().map(|s| s.as_str()), Some("available"));
    assert!(proxy.endpoint().unwrap().starts_with("orders-proxy.proxy-"));
    assert_eq!(proxy.require_tls(), Some(true));
    assert_eq!(proxy.idle_client_timeout(), Some(900));
    assert_eq!(proxy.vpc_subnet_ids().len(), 2);
    assert_eq!(
        proxy.auth()[0].iam_auth().map(|a| a.as_str()),
        Some("REQUIRED")
    );

    let registered = c
        .register_db_proxy_targets()
        .db_proxy_name("orders-proxy")
        .db_cluster_identifiers("orders")
        .send()
        .await
        .expect("register targets");
    assert!(!registered.db_proxy_targets().is_empty());
    let again = c
        .register_db_proxy_targets()
        .db_proxy_name("orders-proxy")
        .db_cluster_identifiers("orders")
        .send()
        .await
        .unwrap_err();
    assert!(again
        .into_service_error()
        .is_db_proxy_target_already_registered_fault());

    let targets = c
        .describe_db_proxy_targets()
        .db_proxy_name("orders-proxy")
        .send()
        .await
        .unwrap();
    assert!(targets
        .targets()
        .iter()
        .all(|t| { t.target_health().and_then(|h| h.state()) == Some(&TargetState::Registering) }));
    h.advance_clock(30.0);
    let targets = c
        .describe_db_proxy_targets()
        .db_proxy_name("orders-proxy")
        .send()
        .await
        .unwrap();
    let tracked = targets
        .targets()
        .iter()
        .find(|t| t.r#type() == Some(&TargetType::TrackedCluster))
        .expect("tracked cluster target");
    assert_eq!(tracked.tracked_cluster_id(), Some("orders"));
    assert_eq!(
        tracked.target_health().and_then(|h| h.state()),
        Some(&TargetState::Available)
    );
    let writer = targets
        .targets()
        .iter()
        .find(|t| t.r#type() == Some(&TargetType::RdsInstance))
        .expect("instance target");
    assert_eq!(writer.role(), Some(&TargetRole::ReadWrite));
    assert_eq!(
        writer.target_health().and_then(|h| h.state()),
        Some(&TargetState::Available)
    );

    let groups = c
        .describe_db_proxy_target_groups()
        .db_proxy_name("orders-proxy")
        .send()
        .await
        .unwrap();
    assert_eq!(
        groups.target_groups()[0].target_group_name(),
        Some("default")
    );
    assert_eq!(groups.target_groups()[0].is_default(), Some(true));

    // Tags by ARN.
    c.add_tags_to_resource()
        .resource_name(cl.db_cluster_arn().unwrap())
        .tags(Tag::builder().key("team").value("orders").build())
        .send()
        .await
        .unwrap();
    let tags = c
        .list_tags_for_resource()
        .resource_name(cl.db_cluster_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_list().len(), 2);
    c.remove_tags_from_resource()
        .resource_name(cl.db_cluster_arn().unwrap())
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = c
        .list_tags_for_resource()
        .resource_name(proxy.db_proxy_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert!(tags.tag_list().is_empty());
}

#[tokio::test]
async fn identifiers_are_stored_lowercase_and_checked_against_aws_rules() {
    let h = start().await;
    let c = rds(&h);
    // "This parameter is stored as a lowercase string." (CreateDBCluster)
    let created = c
        .create_db_cluster()
        .db_cluster_identifier("Orders")
        .engine("aurora-postgresql")
        .master_username("berth")
        .manage_master_user_password(true)
        .send()
        .await
        .unwrap();
    let cl = created.db_cluster().unwrap();
    assert_eq!(cl.db_cluster_identifier(), Some("orders"));
    let dup = c
        .create_db_cluster()
        .db_cluster_identifier("ORDERS")
        .engine("aurora-postgresql")
        .master_username("berth")
        .manage_master_user_password(true)
        .send()
        .await
        .unwrap_err();
    assert!(dup
        .into_service_error()
        .is_db_cluster_already_exists_fault());
    let found = c
        .describe_db_clusters()
        .db_cluster_identifier("oRdErS")
        .send()
        .await
        .unwrap();
    assert_eq!(found.db_clusters().len(), 1);

    for bad in ["1orders", "orders-", "ord--ers", "orders_db"] {
        let err = c
            .create_db_cluster()
            .db_cluster_identifier(bad)
            .engine("aurora-postgresql")
            .master_username("berth")
            .manage_master_user_password(true)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("InvalidParameterValue"), "{bad}");
    }

    let missing = c
        .describe_db_clusters()
        .db_cluster_identifier("nope")
        .send()
        .await
        .unwrap_err();
    assert!(missing.into_service_error().is_db_cluster_not_found_fault());
}

#[tokio::test]
async fn deletion_protection_refuses_delete_until_disabled() {
    let h = start().await;
    let c = rds(&h);
    subnet_group(&c, "berth-db").await;
    cluster(&c, "billing", true).await;
    instance(&c, "billing-1", "billing").await;
    h.advance_clock(120.0);

    let err = c
        .delete_db_cluster()
        .db_cluster_identifier("billing")
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterCombination"));

    let modified = c
        .modify_db_cluster()
        .db_cluster_identifier("billing")
        .deletion_protection(false)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        modified.db_cluster().unwrap().deletion_protection(),
        Some(false)
    );

    // AWS refuses to delete a cluster that still has instances.
    let err = c
        .delete_db_cluster()
        .db_cluster_identifier("billing")
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_invalid_db_cluster_state_fault());

    let deleting = c
        .delete_db_instance()
        .db_instance_identifier("billing-1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        deleting.db_instance().unwrap().db_instance_status(),
        Some("deleting")
    );
    let err = c
        .delete_db_cluster()
        .db_cluster_identifier("billing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some("InvalidParameterValue"),
        "a final snapshot id is required without SkipFinalSnapshot"
    );
    let deleted = c
        .delete_db_cluster()
        .db_cluster_identifier("billing")
        .final_db_snapshot_identifier("billing-final")
        .send()
        .await
        .unwrap();
    let secret_arn = deleted
        .db_cluster()
        .unwrap()
        .master_user_secret()
        .unwrap()
        .secret_arn()
        .unwrap()
        .to_string();
    assert_eq!(deleted.db_cluster().unwrap().status(), Some("deleting"));

    h.advance_clock(60.0);
    let err = c
        .describe_db_clusters()
        .db_cluster_identifier("billing")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_db_cluster_not_found_fault());
    let err = c
        .describe_db_instances()
        .db_instance_identifier("billing-1")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_db_instance_not_found_fault());
    let snaps = c
        .describe_db_cluster_snapshots()
        .db_cluster_identifier("billing")
        .send()
        .await
        .unwrap();
    assert_eq!(
        snaps.db_cluster_snapshots()[0].db_cluster_snapshot_identifier(),
        Some("billing-final")
    );
    assert_eq!(snaps.db_cluster_snapshots()[0].status(), Some("available"));
    assert!(
        secrets(&h)
            .get_secret_value()
            .secret_id(&secret_arn)
            .send()
            .await
            .is_err(),
        "the managed secret goes with its cluster"
    );
}

#[tokio::test]
async fn aws_like_validation_errors() {
    let h = start().await;
    let c = rds(&h);

    let err = c
        .create_db_subnet_group()
        .db_subnet_group_name("one-az")
        .db_subnet_group_description("x")
        .subnet_ids("subnet-aaa")
        .send()
        .await
        .unwrap_err();
    assert!(err
        .into_service_error()
        .is_db_subnet_group_does_not_cover_enough_azs());
    subnet_group(&c, "berth-db").await;
    let err = c
        .create_db_subnet_group()
        .db_subnet_group_name("berth-db")
        .db_subnet_group_description("x")
        .subnet_ids("subnet-aaa")
        .subnet_ids("subnet-bbb")
        .send()
        .await
        .unwrap_err();
    assert!(err
        .into_service_error()
        .is_db_subnet_group_already_exists_fault());

    let err = c
        .create_db_cluster()
        .db_cluster_identifier("nosubnets")
        .engine("aurora-postgresql")
        .master_username("berth")
        .manage_master_user_password(true)
        .db_subnet_group_name("missing")
        .send()
        .await
        .unwrap_err();
    assert!(err
        .into_service_error()
        .is_db_subnet_group_not_found_fault());

    let err = c
        .create_db_cluster()
        .db_cluster_identifier("badscale")
        .engine("aurora-postgresql")
        .master_username("berth")
        .manage_master_user_password(true)
        .serverless_v2_scaling_configuration(scaling(0.3, 4.0))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    let err = c
        .create_db_cluster()
        .db_cluster_identifier("badscale")
        .engine("aurora-postgresql")
        .master_username("berth")
        .manage_master_user_password(true)
        .serverless_v2_scaling_configuration(scaling(8.0, 4.0))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    let err = c
        .create_db_cluster()
        .db_cluster_identifier("twopasswords")
        .engine("aurora-postgresql")
        .master_username("berth")
        .manage_master_user_password(true)
        .master_user_password("hunter2hunter2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterCombination"));

    // A provisioned cluster (no serverless v2 scaling) takes no db.serverless.
    c.create_db_cluster()
        .db_cluster_identifier("provisioned")
        .engine("aurora-postgresql")
        .master_username("berth")
        .master_user_password("hunter2hunter2")
        .db_subnet_group_name("berth-db")
        .send()
        .await
        .unwrap();
    let err = c
        .create_db_cluster()
        .db_cluster_identifier("provisioned")
        .engine("aurora-postgresql")
        .master_username("berth")
        .master_user_password("hunter2hunter2")
        .send()
        .await
        .unwrap_err();
    assert!(err
        .into_service_error()
        .is_db_cluster_already_exists_fault());
    let err = c
        .create_db_instance()
        .db_instance_identifier("provisioned-1")
        .db_cluster_identifier("provisioned")
        .engine("aurora-postgresql")
        .db_instance_class("db.serverless")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterCombination"));

    let err = c
        .create_db_instance()
        .db_instance_identifier("orphan-1")
        .db_cluster_identifier("no-such-cluster")
        .engine("aurora-postgresql")
        .db_instance_class("db.r6g.large")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_db_cluster_not_found_fault());

    // Modifying a cluster that is still being created is refused.
    let err = c
        .modify_db_cluster()
        .db_cluster_identifier("provisioned")
        .backup_retention_period(14)
        .apply_immediately(true)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_invalid_db_cluster_state_fault());

    let err = c
        .describe_db_proxies()
        .db_proxy_name("nope")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_db_proxy_not_found_fault());
}

#[tokio::test]
async fn modify_cluster_passes_through_modifying() {
    let h = start().await;
    let c = rds(&h);
    subnet_group(&c, "berth-db").await;
    cluster(&c, "ledger", false).await;
    h.advance_clock(70.0);

    let out = c
        .modify_db_cluster()
        .db_cluster_identifier("ledger")
        .serverless_v2_scaling_configuration(scaling(1.0, 16.0))
        .engine_version("16.6")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let cl = out.db_cluster().unwrap();
    assert_eq!(cl.status(), Some("modifying"));
    assert_eq!(cl.engine_version(), Some("16.6"));
    let err = c
        .modify_db_cluster()
        .db_cluster_identifier("ledger")
        .engine_version("17.2")
        .apply_immediately(true)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_invalid_db_cluster_state_fault());

    h.advance_clock(30.0);
    let err = c
        .modify_db_cluster()
        .db_cluster_identifier("ledger")
        .engine_version("17.2")
        .apply_immediately(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some("InvalidParameterCombination"),
        "a major upgrade needs AllowMajorVersionUpgrade"
    );
    let cl = c
        .describe_db_clusters()
        .filters(
            Filter::builder()
                .name("engine")
                .values("aurora-postgresql")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .db_clusters()[0]
        .clone();
    assert_eq!(cl.status(), Some("available"));
    let sv2 = cl.serverless_v2_scaling_configuration().unwrap();
    assert_eq!(
        (sv2.min_capacity(), sv2.max_capacity()),
        (Some(1.0), Some(16.0))
    );
}

#[tokio::test]
async fn describe_paginates_with_marker() {
    let h = start().await;
    let c = rds(&h);
    subnet_group(&c, "berth-db").await;
    for n in 0..25 {
        c.create_db_cluster()
            .db_cluster_identifier(format!("c{n:02}"))
            .engine("aurora-postgresql")
            .master_username("berth")
            .master_user_password("hunter2hunter2")
            .send()
            .await
            .unwrap();
    }
    let first = c
        .describe_db_clusters()
        .max_records(20)
        .send()
        .await
        .unwrap();
    assert_eq!(first.db_clusters().len(), 20);
    let marker = first.marker().expect("more pages").to_string();
    let second = c
        .describe_db_clusters()
        .max_records(20)
        .marker(marker)
        .send()
        .await
        .unwrap();
    assert_eq!(second.db_clusters().len(), 5);
    assert!(second.marker().is_none());
}
