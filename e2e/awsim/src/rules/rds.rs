//! RDS request rules (awsQuery), from the RDS API reference ("Constraints:"
//! in each member's description) and the RDS service model.
//!
//! Codes: a missing parameter is `MissingParameter` ("The request must
//! contain the parameter X"), any other invalid value `InvalidParameterValue`
//! (both on the RDS "Common Errors" page,
//! https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/CommonErrors.html).
//! Identifiers are checked case-insensitively: RDS stores them in lowercase
//! ("This parameter is stored as a lowercase string").

use super::{
    length, list_size, one_of, pattern, range, required, tags, Check, OpRules, Rule, TagSpec,
};

macro_rules! page {
    ($name:literal) => {
        concat!(
            "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_",
            $name,
            ".html"
        )
    };
}

const CREATE_SUBNET_GROUP: &str = page!("CreateDBSubnetGroup");
const MODIFY_SUBNET_GROUP: &str = page!("ModifyDBSubnetGroup");
const DELETE_SUBNET_GROUP: &str = page!("DeleteDBSubnetGroup");
const DESCRIBE_SUBNET_GROUPS: &str = page!("DescribeDBSubnetGroups");
const CREATE_CLUSTER: &str = page!("CreateDBCluster");
const MODIFY_CLUSTER: &str = page!("ModifyDBCluster");
const DELETE_CLUSTER: &str = page!("DeleteDBCluster");
const DESCRIBE_CLUSTERS: &str = page!("DescribeDBClusters");
const CREATE_INSTANCE: &str = page!("CreateDBInstance");
const MODIFY_INSTANCE: &str = page!("ModifyDBInstance");
const DELETE_INSTANCE: &str = page!("DeleteDBInstance");
const DESCRIBE_INSTANCES: &str = page!("DescribeDBInstances");
const CREATE_PROXY: &str = page!("CreateDBProxy");
const MODIFY_PROXY: &str = page!("ModifyDBProxy");
const DELETE_PROXY: &str = page!("DeleteDBProxy");
const DESCRIBE_PROXIES: &str = page!("DescribeDBProxies");
const REGISTER_TARGETS: &str = page!("RegisterDBProxyTargets");
const DEREGISTER_TARGETS: &str = page!("DeregisterDBProxyTargets");
const DESCRIBE_TARGETS: &str = page!("DescribeDBProxyTargets");
const DESCRIBE_TARGET_GROUPS: &str = page!("DescribeDBProxyTargetGroups");
const MODIFY_TARGET_GROUP: &str = page!("ModifyDBProxyTargetGroup");
const CREATE_SNAPSHOT: &str = page!("CreateDBClusterSnapshot");
const DELETE_SNAPSHOT: &str = page!("DeleteDBClusterSnapshot");
const DESCRIBE_SNAPSHOTS: &str = page!("DescribeDBClusterSnapshots");
const ADD_TAGS: &str = page!("AddTagsToResource");
const REMOVE_TAGS: &str = page!("RemoveTagsFromResource");
const LIST_TAGS: &str = page!("ListTagsForResource");
const USER_AUTH: &str = page!("UserAuthConfig");
const TAG: &str = page!("Tag");

/// "Must contain from 1 to N letters, numbers, or hyphens. First character
/// must be a letter. Can't end with a hyphen or contain two consecutive
/// hyphens." (either case: the value is stored lowercased).
const IDENTIFIER: &str = "[a-zA-Z](-?[a-zA-Z0-9])*";
const IDENTIFIER_MESSAGE: &str = "The parameter {path} is not a valid identifier. Identifiers must begin with a letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens.";
/// The proxy name pattern of the model.
const PROXY_NAME: &str = "[a-zA-Z](?:-?[a-zA-Z0-9]+)*";

const fn ident_len(path: &'static str, max: usize, source: &'static str) -> Rule {
    length(path, 1, max, source).message(IDENTIFIER_MESSAGE)
}
const fn ident(path: &'static str, source: &'static str) -> Rule {
    pattern(path, IDENTIFIER, source).message(IDENTIFIER_MESSAGE)
}

/// RDS's `Tag`: "The string value can be from 1 to 128 Unicode characters
/// in length and can't be prefixed with aws: or rds:" (values: up to 256,
/// same prefixes, same characters); 50 tags per resource.
pub const TAGS: TagSpec = TagSpec {
    key: "Key",
    value: "Value",
    max: 50,
    key_max: 128,
    value_max: 256,
    reserved: &["aws:", "rds:"],
    values_reserved: true,
    pattern: Some(r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*"),
    too_many_code: None,
};

const ENGINE_FAMILIES: &[&str] = &["MYSQL", "POSTGRESQL", "SQLSERVER"];
const CLIENT_AUTH: &[&str] = &[
    "MYSQL_NATIVE_PASSWORD",
    "MYSQL_CACHING_SHA2_PASSWORD",
    "POSTGRES_SCRAM_SHA_256",
    "POSTGRES_MD5",
    "SQL_SERVER_AUTHENTICATION",
];

pub static TABLES: &[OpRules] = &[
    OpRules {
        op: "CreateDBSubnetGroup",
        rules: &[
            required("DBSubnetGroupName", CREATE_SUBNET_GROUP),
            // "Must contain no more than 255 letters, numbers, periods,
            // underscores, spaces, or hyphens. Must not be default. First
            // character must be a letter."
            length("DBSubnetGroupName", 1, 255, CREATE_SUBNET_GROUP),
            pattern(
                "DBSubnetGroupName",
                "[a-zA-Z][a-zA-Z0-9._ -]*",
                CREATE_SUBNET_GROUP,
            ),
            Rule::new(
                "DBSubnetGroupName",
                Check::NotOneOf(&["default"]),
                CREATE_SUBNET_GROUP,
            ),
            required("DBSubnetGroupDescription", CREATE_SUBNET_GROUP),
            required("SubnetIds", CREATE_SUBNET_GROUP),
            tags("Tags", TAGS, CREATE_SUBNET_GROUP),
        ],
    },
    OpRules {
        op: "ModifyDBSubnetGroup",
        rules: &[
            required("DBSubnetGroupName", MODIFY_SUBNET_GROUP),
            required("SubnetIds", MODIFY_SUBNET_GROUP),
        ],
    },
    OpRules {
        op: "DeleteDBSubnetGroup",
        rules: &[required("DBSubnetGroupName", DELETE_SUBNET_GROUP)],
    },
    OpRules {
        op: "DescribeDBSubnetGroups",
        rules: &[range("MaxRecords", 20, 100, DESCRIBE_SUBNET_GROUPS)],
    },
    OpRules {
        op: "CreateDBCluster",
        rules: &[
            required("DBClusterIdentifier", CREATE_CLUSTER),
            ident_len("DBClusterIdentifier", 63, CREATE_CLUSTER),
            ident("DBClusterIdentifier", CREATE_CLUSTER),
            required("Engine", CREATE_CLUSTER),
            // "Valid Values: 1150-65535"
            range("Port", 1150, 65535, CREATE_CLUSTER),
            // "Must be a value from 1 to 35."
            range("BackupRetentionPeriod", 1, 35, CREATE_CLUSTER),
            one_of(
                "DatabaseInsightsMode",
                &["standard", "advanced"],
                CREATE_CLUSTER,
            ),
            one_of(
                "ClusterScalabilityType",
                &["standard", "limitless"],
                CREATE_CLUSTER,
            ),
            one_of(
                "MasterUserAuthenticationType",
                &["password", "iam-db-auth"],
                CREATE_CLUSTER,
            ),
            list_size("AssociatedRoles", 0, 15, CREATE_CLUSTER),
            tags("Tags", TAGS, CREATE_CLUSTER),
        ],
    },
    OpRules {
        op: "ModifyDBCluster",
        rules: &[
            required("DBClusterIdentifier", MODIFY_CLUSTER),
            ident_len("NewDBClusterIdentifier", 63, MODIFY_CLUSTER),
            ident("NewDBClusterIdentifier", MODIFY_CLUSTER),
            range("Port", 1150, 65535, MODIFY_CLUSTER),
            range("BackupRetentionPeriod", 1, 35, MODIFY_CLUSTER),
            one_of(
                "DatabaseInsightsMode",
                &["standard", "advanced"],
                MODIFY_CLUSTER,
            ),
            one_of(
                "MasterUserAuthenticationType",
                &["password", "iam-db-auth"],
                MODIFY_CLUSTER,
            ),
        ],
    },
    OpRules {
        op: "DeleteDBCluster",
        rules: &[
            required("DBClusterIdentifier", DELETE_CLUSTER),
            // "Must be 1 to 255 letters, numbers, or hyphens. First character
            // must be a letter Can't end with a hyphen or contain two
            // consecutive hyphens"
            ident_len("FinalDBSnapshotIdentifier", 255, DELETE_CLUSTER),
            ident("FinalDBSnapshotIdentifier", DELETE_CLUSTER),
        ],
    },
    OpRules {
        op: "DescribeDBClusters",
        rules: &[
            range("MaxRecords", 20, 100, DESCRIBE_CLUSTERS),
            required("Filters[].Name", DESCRIBE_CLUSTERS),
            required("Filters[].Values", DESCRIBE_CLUSTERS),
        ],
    },
    OpRules {
        op: "CreateDBInstance",
        rules: &[
            required("DBInstanceIdentifier", CREATE_INSTANCE),
            ident_len("DBInstanceIdentifier", 63, CREATE_INSTANCE),
            ident("DBInstanceIdentifier", CREATE_INSTANCE),
            required("DBInstanceClass", CREATE_INSTANCE),
            required("Engine", CREATE_INSTANCE),
            one_of(
                "DatabaseInsightsMode",
                &["standard", "advanced"],
                CREATE_INSTANCE,
            ),
            one_of(
                "MasterUserAuthenticationType",
                &["password", "iam-db-auth"],
                CREATE_INSTANCE,
            ),
            tags("Tags", TAGS, CREATE_INSTANCE),
        ],
    },
    OpRules {
        op: "ModifyDBInstance",
        rules: &[
            required("DBInstanceIdentifier", MODIFY_INSTANCE),
            ident_len("NewDBInstanceIdentifier", 63, MODIFY_INSTANCE),
            ident("NewDBInstanceIdentifier", MODIFY_INSTANCE),
            one_of(
                "DatabaseInsightsMode",
                &["standard", "advanced"],
                MODIFY_INSTANCE,
            ),
            one_of(
                "MasterUserAuthenticationType",
                &["password", "iam-db-auth"],
                MODIFY_INSTANCE,
            ),
        ],
    },
    OpRules {
        op: "DeleteDBInstance",
        rules: &[
            required("DBInstanceIdentifier", DELETE_INSTANCE),
            ident_len("FinalDBSnapshotIdentifier", 255, DELETE_INSTANCE),
            ident("FinalDBSnapshotIdentifier", DELETE_INSTANCE),
        ],
    },
    OpRules {
        op: "DescribeDBInstances",
        rules: &[
            range("MaxRecords", 20, 100, DESCRIBE_INSTANCES),
            required("Filters[].Name", DESCRIBE_INSTANCES),
            required("Filters[].Values", DESCRIBE_INSTANCES),
        ],
    },
    OpRules {
        op: "CreateDBProxy",
        rules: &[
            required("DBProxyName", CREATE_PROXY),
            length("DBProxyName", 1, 63, CREATE_PROXY),
            pattern("DBProxyName", PROXY_NAME, CREATE_PROXY),
            required("EngineFamily", CREATE_PROXY),
            one_of("EngineFamily", ENGINE_FAMILIES, CREATE_PROXY),
            one_of("DefaultAuthScheme", &["IAM_AUTH", "NONE"], CREATE_PROXY),
            list_size("Auth", 0, 200, CREATE_PROXY),
            length("Auth[].Description", 1, 1000, USER_AUTH),
            length("Auth[].UserName", 1, 128, USER_AUTH),
            one_of("Auth[].AuthScheme", &["SECRETS"], USER_AUTH),
            length("Auth[].SecretArn", 20, 2048, USER_AUTH),
            one_of(
                "Auth[].IAMAuth",
                &["DISABLED", "REQUIRED", "ENABLED"],
                USER_AUTH,
            ),
            one_of("Auth[].ClientPasswordAuthType", CLIENT_AUTH, USER_AUTH),
            required("RoleArn", CREATE_PROXY),
            length("RoleArn", 20, 2048, CREATE_PROXY),
            required("VpcSubnetIds", CREATE_PROXY),
            one_of(
                "EndpointNetworkType",
                &["IPV4", "IPV6", "DUAL"],
                CREATE_PROXY,
            ),
            one_of(
                "TargetConnectionNetworkType",
                &["IPV4", "IPV6"],
                CREATE_PROXY,
            ),
            tags("Tags", TAGS, CREATE_PROXY),
        ],
    },
    OpRules {
        op: "ModifyDBProxy",
        rules: &[
            required("DBProxyName", MODIFY_PROXY),
            length("DBProxyName", 1, 63, MODIFY_PROXY),
            pattern("DBProxyName", PROXY_NAME, MODIFY_PROXY),
            length("NewDBProxyName", 1, 63, MODIFY_PROXY),
            pattern("NewDBProxyName", PROXY_NAME, MODIFY_PROXY),
            one_of("DefaultAuthScheme", &["IAM_AUTH", "NONE"], MODIFY_PROXY),
            list_size("Auth", 0, 200, MODIFY_PROXY),
            length("Auth[].Description", 1, 1000, USER_AUTH),
            length("Auth[].UserName", 1, 128, USER_AUTH),
            one_of("Auth[].AuthScheme", &["SECRETS"], USER_AUTH),
            length("Auth[].SecretArn", 20, 2048, USER_AUTH),
            one_of(
                "Auth[].IAMAuth",
                &["DISABLED", "REQUIRED", "ENABLED"],
                USER_AUTH,
            ),
            one_of("Auth[].ClientPasswordAuthType", CLIENT_AUTH, USER_AUTH),
            length("RoleArn", 20, 2048, MODIFY_PROXY),
        ],
    },
    OpRules {
        op: "DeleteDBProxy",
        rules: &[
            required("DBProxyName", DELETE_PROXY),
            length("DBProxyName", 1, 63, DELETE_PROXY),
            pattern("DBProxyName", PROXY_NAME, DELETE_PROXY),
        ],
    },
    OpRules {
        op: "DescribeDBProxies",
        rules: &[
            length("DBProxyName", 1, 63, DESCRIBE_PROXIES),
            pattern("DBProxyName", PROXY_NAME, DESCRIBE_PROXIES),
            range("MaxRecords", 20, 100, DESCRIBE_PROXIES),
        ],
    },
    OpRules {
        op: "RegisterDBProxyTargets",
        rules: &[
            required("DBProxyName", REGISTER_TARGETS),
            length("DBProxyName", 1, 63, REGISTER_TARGETS),
            pattern("DBProxyName", PROXY_NAME, REGISTER_TARGETS),
            length("TargetGroupName", 1, 63, REGISTER_TARGETS),
            pattern("TargetGroupName", PROXY_NAME, REGISTER_TARGETS),
        ],
    },
    OpRules {
        op: "DeregisterDBProxyTargets",
        rules: &[
            required("DBProxyName", DEREGISTER_TARGETS),
            length("DBProxyName", 1, 63, DEREGISTER_TARGETS),
            pattern("DBProxyName", PROXY_NAME, DEREGISTER_TARGETS),
            length("TargetGroupName", 1, 63, DEREGISTER_TARGETS),
            pattern("TargetGroupName", PROXY_NAME, DEREGISTER_TARGETS),
        ],
    },
    OpRules {
        op: "DescribeDBProxyTargets",
        rules: &[
            required("DBProxyName", DESCRIBE_TARGETS),
            length("DBProxyName", 1, 63, DESCRIBE_TARGETS),
            pattern("DBProxyName", PROXY_NAME, DESCRIBE_TARGETS),
            length("TargetGroupName", 1, 63, DESCRIBE_TARGETS),
            pattern("TargetGroupName", PROXY_NAME, DESCRIBE_TARGETS),
            range("MaxRecords", 20, 100, DESCRIBE_TARGETS),
        ],
    },
    OpRules {
        op: "DescribeDBProxyTargetGroups",
        rules: &[
            required("DBProxyName", DESCRIBE_TARGET_GROUPS),
            length("DBProxyName", 1, 63, DESCRIBE_TARGET_GROUPS),
            pattern("DBProxyName", PROXY_NAME, DESCRIBE_TARGET_GROUPS),
            length("TargetGroupName", 1, 63, DESCRIBE_TARGET_GROUPS),
            pattern("TargetGroupName", PROXY_NAME, DESCRIBE_TARGET_GROUPS),
            range("MaxRecords", 20, 100, DESCRIBE_TARGET_GROUPS),
        ],
    },
    OpRules {
        op: "ModifyDBProxyTargetGroup",
        rules: &[
            required("TargetGroupName", MODIFY_TARGET_GROUP),
            length("TargetGroupName", 1, 63, MODIFY_TARGET_GROUP),
            pattern("TargetGroupName", PROXY_NAME, MODIFY_TARGET_GROUP),
            required("DBProxyName", MODIFY_TARGET_GROUP),
            length("DBProxyName", 1, 63, MODIFY_TARGET_GROUP),
            pattern("DBProxyName", PROXY_NAME, MODIFY_TARGET_GROUP),
        ],
    },
    OpRules {
        op: "CreateDBClusterSnapshot",
        rules: &[
            required("DBClusterSnapshotIdentifier", CREATE_SNAPSHOT),
            // "Must contain from 1 to 63 letters, numbers, or hyphens."
            ident_len("DBClusterSnapshotIdentifier", 63, CREATE_SNAPSHOT),
            ident("DBClusterSnapshotIdentifier", CREATE_SNAPSHOT),
            required("DBClusterIdentifier", CREATE_SNAPSHOT),
            tags("Tags", TAGS, CREATE_SNAPSHOT),
        ],
    },
    OpRules {
        op: "DeleteDBClusterSnapshot",
        rules: &[required("DBClusterSnapshotIdentifier", DELETE_SNAPSHOT)],
    },
    OpRules {
        op: "DescribeDBClusterSnapshots",
        rules: &[range("MaxRecords", 20, 100, DESCRIBE_SNAPSHOTS)],
    },
    OpRules {
        op: "AddTagsToResource",
        rules: &[
            required("ResourceName", ADD_TAGS),
            required("Tags", ADD_TAGS),
            required("Tags[].Key", TAG),
            tags("Tags", TAGS, ADD_TAGS),
        ],
    },
    OpRules {
        op: "RemoveTagsFromResource",
        rules: &[
            required("ResourceName", REMOVE_TAGS),
            required("TagKeys", REMOVE_TAGS),
        ],
    },
    OpRules {
        op: "ListTagsForResource",
        rules: &[required("ResourceName", LIST_TAGS)],
    },
];
