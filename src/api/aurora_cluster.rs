//! `AuroraCluster`: an Aurora (PostgreSQL by default) cluster with its
//! instances, subnet group, RDS Proxy and a connection Secret.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::Tags;
use super::validation::{is_arn_of, is_rds_identifier, validate_tags, Errors, InvalidSpec};

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "berth.dev",
    version = "v1alpha1",
    kind = "AuroraCluster",
    namespaced,
    status = "AuroraClusterStatus",
    shortname = "aurora",
    category = "berth",
    doc = "An Amazon Aurora cluster with its instances, DB subnet group, RDS Proxy and connection Secret",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.status"),
    printcolumn(name = "Endpoint", type_ = "string", json_path = ".status.endpoint"),
    printcolumn(name = "Proxy", type_ = "string", json_path = ".status.proxyEndpoint"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "(has(self.subnetIds) && size(self.subnetIds) > 0) != has(self.dbSubnetGroupName)",
        "message": "set exactly one of subnetIds and dbSubnetGroupName",
        "fieldPath": ".subnetIds"
    },
    {
        "rule": "!has(self.serverlessV2) || self.serverlessV2.minCapacity <= self.serverlessV2.maxCapacity",
        "message": "serverlessV2.minCapacity must not exceed maxCapacity",
        "fieldPath": ".serverlessV2.minCapacity"
    },
    {
        "rule": "!has(self.instances) || !has(self.instances.class) || self.instances.class != 'db.serverless' || has(self.serverlessV2)",
        "message": "instance class db.serverless needs serverlessV2 capacity",
        "fieldPath": ".serverlessV2"
    },
    {
        "rule": "!has(self.manageMasterUserPassword) || self.manageMasterUserPassword || (has(self.adopt) && self.adopt)",
        "message": "manageMasterUserPassword: false only describes an adopted cluster (adopt: true): berth creates clusters with an RDS-managed master password and never handles a password",
        "fieldPath": ".manageMasterUserPassword"
    },
    {
        "rule": "!has(self.proxy) || !self.proxy.enabled || !has(self.manageMasterUserPassword) || self.manageMasterUserPassword",
        "message": "an RDS Proxy needs manageMasterUserPassword (it reads the Secrets Manager secret)",
        "fieldPath": ".proxy"
    },
    {
        "rule": "!has(self.clusterIdentifier) || !has(self.proxy) || !self.proxy.enabled || size(self.clusterIdentifier) <= 57",
        "message": "with a proxy, clusterIdentifier is at most 57 characters (the proxy is named {clusterIdentifier}-proxy, at most 63)",
        "fieldPath": ".clusterIdentifier"
    },
    {
        "rule": "!has(self.proxy) || !self.proxy.enabled || (self.proxy.iamAuth == 'Required') == self.iamAuthentication",
        "message": "proxy.iamAuth Required goes with iamAuthentication true, Disabled with false (the connection Secret's iamAuth describes both host and proxyHost)",
        "fieldPath": ".proxy.iamAuth"
    }
]))]
pub struct AuroraClusterSpec {
    /// RDS DB cluster identifier; defaults to `metadata.name`. Lowercase,
    /// at most 60 characters so that the instance identifiers
    /// (`{clusterIdentifier}-N`, N up to 16) fit RDS's 63; at most 57 with a
    /// proxy (`{clusterIdentifier}-proxy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z](-?[a-z0-9])*$"), length(max = 60))]
    pub cluster_identifier: Option<String>,
    #[serde(default)]
    pub engine: Engine,
    /// e.g. `16.4`. A newer version here is an upgrade (ModifyDBCluster,
    /// with AllowMajorVersionUpgrade across majors); a newer minor version
    /// AWS applied itself is kept, never reverted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)*$"))]
    pub engine_version: Option<String>,
    /// Initial database created in the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z][A-Za-z0-9_]{0,62}$"))]
    pub database_name: Option<String>,
    #[serde(default = "default_master_username")]
    #[schemars(regex(pattern = r"^[A-Za-z][A-Za-z0-9_]{0,62}$"))]
    pub master_username: String,
    /// Keep the master password in Secrets Manager, managed by RDS. berth
    /// creates clusters only this way and never reads, sets or stores a
    /// password; `false` only describes an adopted cluster (`adopt: true`)
    /// whose password is managed elsewhere.
    #[serde(default = "default_true")]
    pub manage_master_user_password: bool,
    /// IAM database authentication (`rds-db:connect`).
    #[serde(default = "default_true")]
    pub iam_authentication: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serverless_v2: Option<ServerlessV2>,
    #[serde(default)]
    pub instances: Instances,
    /// berth creates a DB subnet group from these subnets (at least two AZs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), inner(regex(pattern = r"^subnet-[0-9a-f]{8,17}$")))]
    pub subnet_ids: Vec<String>,
    /// An existing DB subnet group instead of `subnetIds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9 ._-]{0,254}$"))]
    pub db_subnet_group_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(regex(pattern = r"^sg-[0-9a-f]{8,17}$")))]
    pub security_group_ids: Vec<String>,
    #[serde(default = "default_true")]
    pub storage_encrypted: bool,
    #[serde(default = "default_backup_retention")]
    #[schemars(range(min = 1, max = 35))]
    pub backup_retention_days: i32,
    #[serde(default)]
    pub deletion_protection: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxySpec>,
    /// A Kubernetes Secret berth writes with host, port, dbname, username,
    /// readerHost, proxyHost, masterUserSecretArn and iamAuth (never a password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_secret: Option<ConnectionSecret>,
    /// Default Retain: a database is never deleted unless asked for.
    #[serde(default)]
    pub deletion_policy: AuroraDeletionPolicy,
    /// Take over an existing cluster, its instances and proxy when they
    /// carry no berth tags, or berth's tags for an object that no longer
    /// exists. Never ones whose tags name another AuroraCluster that
    /// exists (`Conflict`).
    #[serde(default)]
    pub adopt: bool,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

fn default_true() -> bool {
    true
}
fn default_master_username() -> String {
    "postgres".to_string()
}
fn default_backup_retention() -> i32 {
    7
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    #[default]
    AuroraPostgresql,
    AuroraMysql,
}

impl Engine {
    pub fn as_aws(self) -> &'static str {
        match self {
            Engine::AuroraPostgresql => "aurora-postgresql",
            Engine::AuroraMysql => "aurora-mysql",
        }
    }
    pub fn default_port(self) -> i32 {
        match self {
            Engine::AuroraPostgresql => 5432,
            Engine::AuroraMysql => 3306,
        }
    }
    /// RDS Proxy engine family.
    pub fn proxy_family(self) -> &'static str {
        match self {
            Engine::AuroraPostgresql => "POSTGRESQL",
            Engine::AuroraMysql => "MYSQL",
        }
    }
}

/// Aurora Serverless v2 capacity in ACUs (steps of 0.5).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerlessV2 {
    #[schemars(range(min = 0.0, max = 256.0))]
    pub min_capacity: f64,
    #[schemars(range(min = 1.0, max = 256.0))]
    pub max_capacity: f64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Instances {
    /// Lowered, berth deletes the highest-numbered instance first, one at a
    /// time, never the writer while readers remain.
    #[serde(default = "default_instance_count")]
    #[schemars(range(min = 0, max = 16))]
    pub count: i32,
    /// `db.serverless` or a provisioned class such as `db.r6g.large`.
    /// Changed, berth modifies one instance at a time, readers first.
    #[serde(default = "default_instance_class")]
    #[schemars(regex(pattern = r"^db\.[a-z0-9]+(\.[a-z0-9]+)?$"))]
    pub class: String,
}

impl Default for Instances {
    fn default() -> Self {
        Self {
            count: default_instance_count(),
            class: default_instance_class(),
        }
    }
}

fn default_instance_count() -> i32 {
    1
}
fn default_instance_class() -> String {
    "db.serverless".to_string()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxySpec {
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_true")]
    pub require_tls: bool,
    #[serde(default)]
    pub iam_auth: ProxyIamAuth,
    /// Seconds an idle client connection is kept.
    #[serde(default = "default_idle_timeout")]
    #[schemars(range(min = 1, max = 28800))]
    pub idle_client_timeout: i32,
    /// IAM role the proxy uses to read the master user secret.
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"))]
    pub role_arn: String,
    /// Defaults to the cluster's subnets. RDS cannot change the subnets of
    /// an existing proxy (the other proxy settings berth modifies in place).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = r"^subnet-[0-9a-f]{8,17}$")))]
    pub subnet_ids: Vec<String>,
    /// Defaults to the cluster's security groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = r"^sg-[0-9a-f]{8,17}$")))]
    pub security_group_ids: Vec<String>,
}

fn default_idle_timeout() -> i32 {
    1800
}

/// IAM authentication of client connections to the proxy; the proxy itself
/// logs in to the database with the master user secret.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ProxyIamAuth {
    #[default]
    Required,
    Disabled,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionSecret {
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"))]
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AuroraDeletionPolicy {
    /// Leave the cluster, instances and proxy in AWS.
    #[default]
    Retain,
    /// Take a final snapshot, then delete.
    Snapshot,
    /// Delete without a final snapshot.
    Delete,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuroraClusterStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The cluster status as RDS reports it (creating, available, modifying, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_user_secret_arn: Option<String>,
    /// For `rds-db:connect` IAM policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_resource_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    #[serde(default)]
    pub instances_ready: i32,
    /// The RDS Proxy berth manages (created or adopted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_arn: Option<String>,
    /// The health of the cluster as the proxy's target
    /// (DescribeDBProxyTargets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_target_health: Option<ProxyTargetHealth>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxyTargetHealth {
    /// REGISTERING, AVAILABLE or UNAVAILABLE (absent when RDS reports
    /// none: no status member is required, so a status write can never be
    /// refused for one RDS left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Why the target is not AVAILABLE (UNREACHABLE, CONNECTION_FAILED,
    /// AUTH_FAILURE, PENDING_PROXY_CAPACITY, INVALID_REPLICATION_STATE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// RDS identifiers: "1 to 63 letters, numbers, or hyphens"
/// (CreateDBCluster, CreateDBInstance; DBProxyName 1-63 too). The
/// instances (`{id}-N`, N <= 16) and the proxy (`{id}-proxy`) must fit.
pub const MAX_IDENTIFIER: usize = 60;
pub const MAX_IDENTIFIER_WITH_PROXY: usize = 57;

impl AuroraCluster {
    /// The RDS identifier: `spec.clusterIdentifier` or `metadata.name`.
    pub fn cluster_identifier(&self) -> String {
        self.spec
            .cluster_identifier
            .clone()
            .or_else(|| self.metadata.name.clone())
            .unwrap_or_default()
    }

    pub fn validate(&self) -> Result<(), InvalidSpec> {
        let mut e = Errors::default();
        let id = self.cluster_identifier();
        let field = if self.spec.cluster_identifier.is_some() {
            "spec.clusterIdentifier"
        } else {
            "metadata.name"
        };
        let hint = if field == "metadata.name" {
            " (set spec.clusterIdentifier)"
        } else {
            ""
        };
        e.check(
            is_rds_identifier(&id),
            field,
            format!(
                "{id:?} is not a valid RDS identifier: 1-63 lowercase letters, digits and \
                 hyphens, starting with a letter, no trailing or double hyphen{hint}"
            ),
        );
        let proxy = self.spec.proxy.as_ref().is_some_and(|p| p.enabled);
        let (max, what) = if proxy {
            (MAX_IDENTIFIER_WITH_PROXY, format!("the proxy {id}-proxy"))
        } else {
            (MAX_IDENTIFIER, format!("the instances {id}-1 to {id}-16"))
        };
        if is_rds_identifier(&id) {
            e.check(
                id.len() <= max,
                field,
                format!(
                    "{id:?} has {} characters; at most {max} so that {what} fits RDS's \
                     63-character identifiers{hint}",
                    id.len()
                ),
            );
        }
        self.spec.validate_fields(&mut e);
        e.finish()
    }
}

impl AuroraClusterSpec {
    fn validate_fields(&self, e: &mut Errors) {
        match (self.subnet_ids.is_empty(), &self.db_subnet_group_name) {
            (true, None) => e.push("spec.subnetIds", "set subnetIds or dbSubnetGroupName"),
            (false, Some(_)) => e.push(
                "spec.subnetIds",
                "set exactly one of subnetIds and dbSubnetGroupName, not both",
            ),
            (false, None) => e.check(
                self.subnet_ids.len() >= 2,
                "spec.subnetIds",
                "RDS needs subnets in at least two availability zones (give at least two)",
            ),
            (true, Some(_)) => {}
        }
        if let Some(s) = &self.serverless_v2 {
            let half_steps = |v: f64| (v * 2.0).fract() == 0.0;
            e.check(
                (0.0..=256.0).contains(&s.min_capacity) && half_steps(s.min_capacity),
                "spec.serverlessV2.minCapacity",
                "must be 0 to 256 in steps of 0.5",
            );
            e.check(
                (1.0..=256.0).contains(&s.max_capacity) && half_steps(s.max_capacity),
                "spec.serverlessV2.maxCapacity",
                "must be 1 to 256 in steps of 0.5",
            );
            e.check(
                s.min_capacity <= s.max_capacity,
                "spec.serverlessV2.minCapacity",
                format!(
                    "{} must not exceed maxCapacity ({})",
                    s.min_capacity, s.max_capacity
                ),
            );
        }
        if self.instances.class == "db.serverless" {
            e.check(
                self.serverless_v2.is_some(),
                "spec.serverlessV2",
                "instance class db.serverless needs serverlessV2 {minCapacity, maxCapacity}",
            );
        }
        e.check(
            (0..=16).contains(&self.instances.count),
            "spec.instances.count",
            "must be between 0 and 16",
        );
        e.check(
            (1..=35).contains(&self.backup_retention_days),
            "spec.backupRetentionDays",
            "must be between 1 and 35",
        );
        // A password in a Kubernetes Secret would pass through berth: it
        // creates clusters only with RDS managing the password.
        e.check(
            self.manage_master_user_password || self.adopt,
            "spec.manageMasterUserPassword",
            "false only describes an adopted cluster (adopt: true): berth creates clusters with an RDS-managed master password and never handles a password",
        );
        if self.engine == Engine::AuroraPostgresql {
            e.check(
                !["postgres_", "rds"]
                    .iter()
                    .any(|p| self.master_username.starts_with(p)),
                "spec.masterUsername",
                "names starting with rds or postgres_ are reserved by RDS",
            );
        }
        if let Some(p) = &self.proxy {
            if p.enabled {
                e.check(
                    self.manage_master_user_password,
                    "spec.proxy",
                    "an RDS Proxy needs manageMasterUserPassword: true (it reads that secret)",
                );
                e.check(
                    is_arn_of(&p.role_arn, "iam") && p.role_arn.contains(":role/"),
                    "spec.proxy.roleArn",
                    "must be an IAM role ARN",
                );
                e.check(
                    p.subnet_ids.is_empty() || p.subnet_ids.len() >= 2,
                    "spec.proxy.subnetIds",
                    "an RDS Proxy needs subnets in at least two availability zones",
                );
                // RDS itself does not tie them: the proxy's IAM auth covers
                // client-to-proxy connections only and the proxy logs in
                // with the secret ("The connection from RDS Proxy to the
                // underlying database doesn't go through IAM",
                // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-connecting.html).
                // The connection Secret has one iamAuth for host and
                // proxyHost, so berth keeps the two consistent.
                let required = p.iam_auth == ProxyIamAuth::Required;
                e.check(
                    required == self.iam_authentication,
                    "spec.proxy.iamAuth",
                    format!(
                        "{:?} with spec.iamAuthentication {}: applications read one iamAuth \
                         from the connection Secret for host and proxyHost alike; use Required \
                         with iamAuthentication true, or Disabled with false",
                        p.iam_auth, self.iam_authentication
                    ),
                );
            }
        }
        validate_tags(&self.tags, e);
    }
}
