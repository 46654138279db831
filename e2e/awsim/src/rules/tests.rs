//! Engine tests: paths, each check, the error shapes, query folding, and an
//! audit of every table (sources, patterns).

use std::collections::BTreeMap;

use serde_json::json;

use super::*;

fn code(r: Result<(), AwsError>) -> String {
    r.err().map(|e| e.code).unwrap_or_default()
}

#[test]
fn every_rule_cites_an_api_reference_page_and_compiles() {
    let rules = all_rules();
    assert!(rules.len() > 200, "{}", rules.len());
    for (service, op, r) in rules {
        assert!(
            r.source.starts_with("https://docs.aws.amazon.com/") && r.source.ends_with(".html"),
            "{service}:{op} {} has source {:?}",
            r.path,
            r.source
        );
        let patterns: Vec<&str> = match r.check {
            Check::Pattern(p) => vec![p],
            Check::Tags(TagSpec {
                pattern: Some(p), ..
            }) => vec![p],
            _ => vec![],
        };
        for p in patterns {
            assert!(
                regex(p).is_some(),
                "{service}:{op} {}: bad pattern {p}",
                r.path
            );
        }
    }
}

#[test]
fn covered_operations_lists_the_tables() {
    let ecs = covered_operations("ecs");
    for op in [
        "CreateService",
        "RunTask",
        "RegisterTaskDefinition",
        "TagResource",
    ] {
        assert!(ecs.contains(&op), "{op}");
    }
    assert!(covered_operations("rds").contains(&"CreateDBCluster"));
    assert!(covered_operations("sts").is_empty());
}

#[test]
fn length_counts_characters_and_names_the_path() {
    let ok = json!({"serviceName": "web", "clientToken": "a".repeat(36)});
    assert!(check_json("ecs", "CreateService", &ok).is_ok());
    let long = json!({"serviceName": "web", "clientToken": "a".repeat(42)});
    let err = check_json("ecs", "CreateService", &long).unwrap_err();
    assert_eq!(err.code, "InvalidParameterException");
    assert_eq!(err.message, "clientToken longer than 36.");
    // Multi-byte characters count once.
    let s = json!({"SecretId": "é".repeat(2048)});
    assert!(check_json("secretsmanager", "DescribeSecret", &s).is_ok());
}

#[test]
fn required_checks_nested_members_only_when_the_parent_exists() {
    let body = json!({"family": "f", "containerDefinitions": [{"name": "a"}, {"image": "x"}]});
    let err = check_json("ecs", "RegisterTaskDefinition", &body).unwrap_err();
    assert_eq!(err.code, "ClientException");
    assert_eq!(
        err.message,
        "containerDefinitions.2.member.name can not be blank."
    );
    let no_family = json!({"containerDefinitions": []});
    let err = check_json("ecs", "RegisterTaskDefinition", &no_family).unwrap_err();
    assert_eq!(err.message, "Family can not be blank.");
    // Absent optional parents need nothing.
    assert!(check_json("ecs", "RunTask", &json!({"taskDefinition": "t"})).is_ok());
}

#[test]
fn coral_messages_for_json_services() {
    let err = check_json(
        "logs",
        "CreateLogStream",
        &json!({"logGroupName": "g", "logStreamName": "a:b"}),
    )
    .unwrap_err();
    assert_eq!(err.code, "InvalidParameterException");
    assert_eq!(
        err.message,
        "1 validation error detected: Value 'a:b' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*"
    );
    let err = check_json("servicediscovery", "GetService", &json!({})).unwrap_err();
    assert_eq!(err.code, "InvalidInput");
    assert!(
        err.message.contains("Value null at 'Id'"),
        "{}",
        err.message
    );
}

#[test]
fn patterns_enums_ranges_and_list_sizes() {
    assert_eq!(
        code(check_json(
            "ecr",
            "CreatePullThroughCacheRule",
            &json!({"ecrRepositoryPrefix": "Docker-Hub", "upstreamRegistryUrl": "u"})
        )),
        "InvalidParameterException"
    );
    assert_eq!(
        code(check_json(
            "ecs",
            "CreateService",
            &json!({"serviceName": "s", "launchType": "LAMBDA"})
        )),
        "InvalidParameterException"
    );
    assert_eq!(
        code(check_json(
            "ecs",
            "RunTask",
            &json!({"taskDefinition": "t", "count": 11})
        )),
        "InvalidParameterException"
    );
    assert!(check_json(
        "ecs",
        "RunTask",
        &json!({"taskDefinition": "t", "count": 10})
    )
    .is_ok());
    let services: Vec<String> = (0..11).map(|i| format!("s{i}")).collect();
    assert_eq!(
        code(check_json(
            "ecs",
            "DescribeServices",
            &json!({"services": services})
        )),
        "InvalidParameterException"
    );
    assert!(check_json(
        "ecs",
        "DescribeServices",
        &json!({"services": &services[..10]})
    )
    .is_ok());
}

#[test]
fn tags_limits_and_reserved_prefix() {
    let tag = |k: &str, v: &str| json!({"key": k, "value": v});
    let ok = json!({"resourceArn": "a", "tags": [tag("team", "x")]});
    assert!(check_json("ecs", "TagResource", &ok).is_ok());
    for bad in [
        json!({"resourceArn": "a", "tags": [tag("AWS:x", "v")]}),
        json!({"resourceArn": "a", "tags": [tag("k", "aws:v")]}),
        json!({"resourceArn": "a", "tags": [tag(&"k".repeat(129), "v")]}),
        json!({"resourceArn": "a", "tags": [tag("k", &"v".repeat(257))]}),
        json!({"resourceArn": "a", "tags": [tag("k", "a,b")]}),
        json!({"resourceArn": "a", "tags": (0..51).map(|i| tag(&format!("k{i}"), "v")).collect::<Vec<_>>()}),
    ] {
        assert_eq!(
            code(check_json("ecs", "TagResource", &bad)),
            "InvalidParameterException",
            "{bad}"
        );
    }
    // ECR: too many is its own error.
    let many: Vec<_> = (0..51)
        .map(|i| json!({"Key": format!("k{i}"), "Value": "v"}))
        .collect();
    assert_eq!(
        code(check_json(
            "ecr",
            "CreateRepository",
            &json!({"repositoryName": "ab", "tags": many})
        )),
        "TooManyTagsException"
    );
    // Logs tags are a map.
    assert_eq!(
        code(check_json(
            "logs",
            "CreateLogGroup",
            &json!({"logGroupName": "g", "tags": {"aws:x": "v"}})
        )),
        "InvalidParameterException"
    );
}

#[test]
fn query_fields_fold_into_lists() {
    let f: BTreeMap<String, String> = [
        ("Action", "CreateDBCluster"),
        ("Tags.Tag.1.Key", "a"),
        ("Tags.Tag.1.Value", "1"),
        ("Tags.Tag.10.Key", "j"),
        ("Tags.Tag.2.Key", "b"),
        ("VpcSecurityGroupIds.VpcSecurityGroupId.1", "sg-1"),
        ("ServerlessV2ScalingConfiguration.MinCapacity", "0.5"),
        ("SubnetIds", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let v = fold_query(&f);
    assert_eq!(v["Tags"][0]["Key"], "a");
    assert_eq!(v["Tags"][1]["Key"], "b");
    assert_eq!(v["Tags"][2]["Key"], "j");
    assert_eq!(v["VpcSecurityGroupIds"], json!(["sg-1"]));
    assert_eq!(v["ServerlessV2ScalingConfiguration"]["MinCapacity"], "0.5");
    assert_eq!(v["SubnetIds"], "");
    assert!(v.get("Action").is_none());
}

#[test]
fn rds_identifiers_missing_parameters_and_tags() {
    let form = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let err = check_query(
        "rds",
        "CreateDBCluster",
        &form(&[("Engine", "aurora-postgresql")]),
    )
    .unwrap_err();
    assert_eq!(err.code, "MissingParameter");
    assert_eq!(
        err.message,
        "The request must contain the parameter DBClusterIdentifier"
    );
    // Mixed case is valid: RDS stores it lowercased.
    assert!(check_query(
        "rds",
        "CreateDBCluster",
        &form(&[("DBClusterIdentifier", "Orders-DB"), ("Engine", "e")])
    )
    .is_ok());
    for bad in ["1db", "db-", "d--b", "db_1"] {
        let err = check_query(
            "rds",
            "CreateDBCluster",
            &form(&[("DBClusterIdentifier", bad), ("Engine", "e")]),
        )
        .unwrap_err();
        assert_eq!(err.code, "InvalidParameterValue", "{bad}");
        assert!(err
            .message
            .starts_with("The parameter DBClusterIdentifier is not a valid identifier."));
    }
    let long = "a".repeat(64);
    assert!(check_query(
        "rds",
        "CreateDBCluster",
        &form(&[("DBClusterIdentifier", &long), ("Engine", "e")])
    )
    .is_err());
    let long_final = "a".repeat(255);
    assert!(check_query(
        "rds",
        "DeleteDBCluster",
        &form(&[
            ("DBClusterIdentifier", "c"),
            ("FinalDBSnapshotIdentifier", &long_final)
        ])
    )
    .is_ok());
    let err = check_query(
        "rds",
        "AddTagsToResource",
        &form(&[
            ("ResourceName", "arn"),
            ("Tags.Tag.1.Key", "rds:x"),
            ("Tags.Tag.1.Value", "v"),
        ]),
    )
    .unwrap_err();
    assert_eq!(err.code, "InvalidParameterValue");
    assert_eq!(
        code(check_query(
            "rds",
            "CreateDBSubnetGroup",
            &form(&[
                ("DBSubnetGroupName", "Default"),
                ("DBSubnetGroupDescription", "d"),
                ("SubnetIds.SubnetIdentifier.1", "subnet-1")
            ])
        )),
        "InvalidParameterValue"
    );
    assert_eq!(
        code(check_query(
            "rds",
            "DescribeDBClusters",
            &form(&[("MaxRecords", "10")])
        )),
        "InvalidParameterValue"
    );
}

#[test]
fn unknown_services_and_operations_pass() {
    assert!(check_json("sts", "GetCallerIdentity", &json!({})).is_ok());
    assert!(check_json("ecs", "NoSuchOperation", &json!({})).is_ok());
}
