use super::clusters::scaling_config;
use super::*;

#[derive(Default)]
struct Secrets {
    created: Vec<String>,
    deleted: Vec<String>,
}

impl SecretStore for Secrets {
    fn create_managed_secret(
        &mut self,
        ctx: &Ctx,
        name: &str,
        _secret_string: &str,
        _tags: &[(String, String)],
    ) -> String {
        let arn = ctx.arn("secretsmanager", &format!("secret:{name}"));
        self.created.push(arn.clone());
        arn
    }
    fn delete_secret(&mut self, arn: &str) {
        self.deleted.push(arn.to_string());
    }
}

fn ctx(now: f64) -> Ctx {
    Ctx {
        account_id: "123456789012".into(),
        region: "eu-west-1".into(),
        now,
    }
}

fn call(
    rds: &mut RdsState,
    secrets: &mut Secrets,
    now: f64,
    action: &str,
    pairs: &[(&str, &str)],
) -> AwsResult<String> {
    let params = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    rds.handle(&ctx(now), action, &params, secrets)
}

#[test]
fn identifiers_follow_aws_rules_in_either_case() {
    assert!(validate_identifier("DBClusterIdentifier", "orders-db-1", 63).is_ok());
    assert!(validate_identifier("DBClusterIdentifier", "Orders", 63).is_ok());
    for bad in ["1db", "db-", "d--b", "db_1", ""] {
        let err = validate_identifier("DBClusterIdentifier", bad, 63).unwrap_err();
        assert_eq!(err.code, "InvalidParameterValue", "{bad}");
    }
    let long = "a".repeat(64);
    assert!(validate_identifier("DBClusterIdentifier", &long, 63).is_err());
    assert!(validate_identifier("FinalDBSnapshotIdentifier", &long, 255).is_ok());
}

#[test]
fn scaling_limits() {
    let check = |min: &str, max: &str| {
        let f: BTreeMap<String, String> = [
            ("ServerlessV2ScalingConfiguration.MinCapacity", min),
            ("ServerlessV2ScalingConfiguration.MaxCapacity", max),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        scaling_config(&Params(&f))
    };
    assert_eq!(check("0", "1").unwrap(), Some((0.0, 1.0)));
    assert_eq!(check("0.5", "256").unwrap(), Some((0.5, 256.0)));
    assert!(check("0.25", "4").is_err());
    assert!(check("2", "1").is_err());
    assert!(check("0.5", "0.5").is_err());
    assert!(check("1", "256.5").is_err());
}

#[test]
fn cluster_lifecycle_and_managed_secret() {
    let mut rds = RdsState::default();
    let mut secrets = Secrets::default();
    let out = call(
        &mut rds,
        &mut secrets,
        1000.0,
        "CreateDBCluster",
        &[
            ("DBClusterIdentifier", "app"),
            ("Engine", "aurora-postgresql"),
            ("MasterUsername", "admin_user"),
            ("ManageMasterUserPassword", "true"),
        ],
    )
    .unwrap();
    assert!(out.contains("<Status>creating</Status>"));
    assert!(out.contains("<Endpoint>app.cluster-"));
    assert!(out.contains(".eu-west-1.rds.amazonaws.com</Endpoint>"));
    assert!(out.contains("<SecretStatus>active</SecretStatus>"));
    assert_eq!(secrets.created.len(), 1);

    rds.tick(&ctx(1000.0 + CLUSTER_CREATE_SECS), &mut secrets);
    assert_eq!(rds.clusters["app"].status, "available");

    call(
        &mut rds,
        &mut secrets,
        1100.0,
        "DeleteDBCluster",
        &[
            ("DBClusterIdentifier", "app"),
            ("SkipFinalSnapshot", "true"),
        ],
    )
    .unwrap();
    rds.tick(&ctx(1100.0 + DELETE_SECS), &mut secrets);
    assert!(rds.clusters.is_empty());
    assert_eq!(secrets.deleted, secrets.created);
}

#[test]
fn state_survives_a_snapshot_round_trip() {
    let mut rds = RdsState::default();
    let mut secrets = Secrets::default();
    call(
        &mut rds,
        &mut secrets,
        0.0,
        "CreateDBCluster",
        &[
            ("DBClusterIdentifier", "app"),
            ("Engine", "aurora-postgresql"),
            ("MasterUsername", "u"),
            ("MasterUserPassword", "password123"),
            ("ServerlessV2ScalingConfiguration.MinCapacity", "0.5"),
            ("ServerlessV2ScalingConfiguration.MaxCapacity", "2"),
        ],
    )
    .unwrap();
    let json = serde_json::to_string(&rds).unwrap();
    let back: RdsState = serde_json::from_str(&json).unwrap();
    assert_eq!(back.clusters["app"].scaling, Some((0.5, 2.0)));
}

#[test]
fn xml_text_is_escaped() {
    let mut rds = RdsState::default();
    let mut secrets = Secrets::default();
    let out = call(
        &mut rds,
        &mut secrets,
        0.0,
        "CreateDBSubnetGroup",
        &[
            ("DBSubnetGroupName", "g"),
            ("DBSubnetGroupDescription", "a<b & \"c\""),
            ("SubnetIds.SubnetIdentifier.1", "subnet-1"),
            ("SubnetIds.SubnetIdentifier.2", "subnet-2"),
        ],
    )
    .unwrap();
    assert!(out.contains("a&lt;b &amp; &quot;c&quot;"));
}

/// A cluster with one db.serverless instance and a proxy, all available.
fn available_stack(rds: &mut RdsState, secrets: &mut Secrets) {
    let up = |rds: &mut RdsState, secrets: &mut Secrets, action: &str, pairs: &[(&str, &str)]| {
        call(rds, secrets, 0.0, action, pairs).unwrap_or_else(|e| panic!("{action}: {e:?}"));
    };
    up(
        rds,
        secrets,
        "CreateDBCluster",
        &[
            ("DBClusterIdentifier", "app"),
            ("Engine", "aurora-postgresql"),
            ("MasterUsername", "admin_user"),
            ("ManageMasterUserPassword", "true"),
            ("ServerlessV2ScalingConfiguration.MinCapacity", "0.5"),
            ("ServerlessV2ScalingConfiguration.MaxCapacity", "4"),
        ],
    );
    up(
        rds,
        secrets,
        "CreateDBInstance",
        &[
            ("DBInstanceIdentifier", "app-1"),
            ("DBClusterIdentifier", "app"),
            ("Engine", "aurora-postgresql"),
            ("DBInstanceClass", "db.serverless"),
        ],
    );
    let secret = rds.clusters["app"].master_secret.clone().unwrap().arn;
    up(
        rds,
        secrets,
        "CreateDBProxy",
        &[
            ("DBProxyName", "app-proxy"),
            ("EngineFamily", "POSTGRESQL"),
            ("RoleArn", "arn:aws:iam::123456789012:role/proxy"),
            ("VpcSubnetIds.member.1", "subnet-1"),
            ("VpcSubnetIds.member.2", "subnet-2"),
            ("Auth.member.1.SecretArn", &secret),
            ("Auth.member.1.IAMAuth", "REQUIRED"),
        ],
    );
    rds.tick(&ctx(1000.0), secrets);
    assert_eq!(rds.clusters["app"].status, "available");
    assert_eq!(rds.instances["app-1"].status, "available");
    assert_eq!(rds.proxies["app-proxy"].status, "available");
}

/// The busy states refuse a second modification with RDS's error (the
/// "Errors" of ModifyDBCluster, ModifyDBInstance and ModifyDBProxy) until
/// the first one is applied; nothing is queued.
#[test]
fn a_second_modification_while_modifying_is_refused_until_applied() {
    let mut rds = RdsState::default();
    let mut secrets = Secrets::default();
    available_stack(&mut rds, &mut secrets);
    let t = 2000.0;
    // (action, first change, second change, error code)
    let cluster_16 = [
        ("DBClusterIdentifier", "app"),
        ("ServerlessV2ScalingConfiguration.MinCapacity", "0.5"),
        ("ServerlessV2ScalingConfiguration.MaxCapacity", "16"),
        ("ApplyImmediately", "true"),
    ];
    let cluster_32 = [
        ("DBClusterIdentifier", "app"),
        ("ServerlessV2ScalingConfiguration.MinCapacity", "0.5"),
        ("ServerlessV2ScalingConfiguration.MaxCapacity", "32"),
        ("ApplyImmediately", "true"),
    ];
    let instance_large = [
        ("DBInstanceIdentifier", "app-1"),
        ("DBInstanceClass", "db.r6g.large"),
        ("ApplyImmediately", "true"),
    ];
    let instance_xlarge = [
        ("DBInstanceIdentifier", "app-1"),
        ("DBInstanceClass", "db.r6g.xlarge"),
        ("ApplyImmediately", "true"),
    ];
    let proxy_900 = [("DBProxyName", "app-proxy"), ("IdleClientTimeout", "900")];
    let proxy_60 = [("DBProxyName", "app-proxy"), ("IdleClientTimeout", "60")];
    type Pairs<'a> = &'a [(&'a str, &'a str)];
    let cases: [(&str, Pairs, Pairs, &str); 3] = [
        (
            "ModifyDBCluster",
            &cluster_16,
            &cluster_32,
            "InvalidDBClusterStateFault",
        ),
        (
            "ModifyDBInstance",
            &instance_large,
            &instance_xlarge,
            "InvalidDBInstanceState",
        ),
        (
            "ModifyDBProxy",
            &proxy_900,
            &proxy_60,
            "InvalidDBProxyStateFault",
        ),
    ];
    for (k, (action, first, second, code)) in cases.into_iter().enumerate() {
        let t = t + 100.0 * k as f64;
        let out = call(&mut rds, &mut secrets, t, action, first).unwrap();
        assert!(out.contains("modifying</"), "{action}: {out}");
        let err = call(&mut rds, &mut secrets, t + 1.0, action, second).unwrap_err();
        assert_eq!(err.code, code, "{action}");
        assert!(
            err.message.contains("modifying"),
            "{action}: {}",
            err.message
        );
        // Applied once RDS is done; then a change is accepted again.
        rds.tick(&ctx(t + MODIFY_SECS), &mut secrets);
        call(&mut rds, &mut secrets, t + MODIFY_SECS, action, second)
            .unwrap_or_else(|e| panic!("{action} once available: {e:?}"));
        rds.tick(&ctx(t + 2.0 * MODIFY_SECS), &mut secrets);
    }
    assert_eq!(rds.clusters["app"].scaling, Some((0.5, 32.0)));
    assert_eq!(rds.instances["app-1"].class, "db.r6g.xlarge");
    assert_eq!(rds.proxies["app-proxy"].idle_client_timeout, 60);
}
