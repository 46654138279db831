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
