//! RDS (awsQuery): DB subnet groups, Aurora clusters, instances, proxies.
//! Owned by the RDS/Cloud Map work stream; the server calls only
//! [`RdsState::handle`] and [`RdsState::tick`].
//!
//! Element and parameter names follow aws-sdk-rds's (de)serializers: most
//! lists are wrapped in named members (`DBClusters/DBCluster`,
//! `VpcSecurityGroupIds.VpcSecurityGroupId.N`) but the proxy API uses plain
//! `member` (`DBProxies/member`, `Auth.member.N`).

mod params;
mod xml;

use std::collections::BTreeMap;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::core::{AwsError, AwsResult, Ctx, SecretStore};
use params::{combination, invalid, merge_tags, Params};
use xml::Xml;

/// Virtual seconds each lifecycle step takes. Real Aurora takes minutes; these
/// are long enough for a controller to observe every state and short enough
/// for tests that run the clock fast.
const CLUSTER_CREATE_SECS: f64 = 60.0;
const INSTANCE_CREATE_SECS: f64 = 90.0;
const PROXY_CREATE_SECS: f64 = 60.0;
const MODIFY_SECS: f64 = 15.0;
const DELETE_SECS: f64 = 30.0;
const SNAPSHOT_SECS: f64 = 30.0;
/// A registered proxy target reports REGISTERING this long before AWS's
/// first health check marks it AVAILABLE.
const TARGET_REGISTER_SECS: f64 = 20.0;

const DEFAULT_TARGET_GROUP: &str = "default";

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct RdsState {
    subnet_groups: BTreeMap<String, SubnetGroup>,
    clusters: BTreeMap<String, Cluster>,
    instances: BTreeMap<String, Instance>,
    /// Keyed by lowercased name (AWS looks proxies up case-insensitively).
    proxies: BTreeMap<String, Proxy>,
    snapshots: BTreeMap<String, Snapshot>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SubnetGroup {
    name: String,
    description: String,
    subnets: Vec<String>,
    vpc_id: String,
    arn: String,
    tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct MasterSecret {
    arn: String,
    kms_key_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cluster {
    id: String,
    arn: String,
    resource_id: String,
    engine: String,
    engine_version: String,
    database_name: Option<String>,
    master_username: String,
    master_password: Option<String>,
    master_secret: Option<MasterSecret>,
    iam_auth: bool,
    scaling: Option<(f64, f64)>,
    subnet_group: String,
    vpc_id: String,
    security_groups: Vec<String>,
    storage_encrypted: bool,
    kms_key_id: Option<String>,
    backup_retention: i64,
    deletion_protection: bool,
    copy_tags_to_snapshot: bool,
    port: i64,
    tags: Vec<(String, String)>,
    status: String,
    /// When the current transitional status ends.
    until: f64,
    created: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Instance {
    id: String,
    arn: String,
    resource_id: String,
    cluster_id: String,
    class: String,
    engine: String,
    promotion_tier: i64,
    publicly_accessible: bool,
    availability_zone: String,
    tags: Vec<(String, String)>,
    status: String,
    until: f64,
    created: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ProxyAuth {
    description: Option<String>,
    user_name: Option<String>,
    auth_scheme: String,
    secret_arn: Option<String>,
    iam_auth: String,
    client_password_auth_type: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TargetGroup {
    arn: String,
    max_connections_percent: i64,
    max_idle_connections_percent: i64,
    connection_borrow_timeout: i64,
    init_query: Option<String>,
    session_pinning_filters: Vec<String>,
    /// The registered Aurora cluster (at most one per target group).
    cluster_id: Option<String>,
    #[serde(default)]
    registered_at: f64,
    created: f64,
    updated: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Proxy {
    name: String,
    arn: String,
    engine_family: String,
    default_auth_scheme: Option<String>,
    auth: Vec<ProxyAuth>,
    role_arn: String,
    subnets: Vec<String>,
    security_groups: Vec<String>,
    vpc_id: String,
    require_tls: bool,
    idle_client_timeout: i64,
    debug_logging: bool,
    tags: Vec<(String, String)>,
    target_group: TargetGroup,
    status: String,
    until: f64,
    created: f64,
    updated: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Snapshot {
    id: String,
    arn: String,
    cluster_id: String,
    cluster_resource_id: String,
    cluster_created: f64,
    engine: String,
    engine_version: String,
    master_username: String,
    port: i64,
    vpc_id: String,
    storage_encrypted: bool,
    kms_key_id: Option<String>,
    iam_auth: bool,
    snapshot_type: String,
    tags: Vec<(String, String)>,
    status: String,
    until: f64,
    created: f64,
}

impl RdsState {
    /// Handles one awsQuery action. `params` are the decoded form fields
    /// (`Action` and `Version` included, lists flattened as AWS sends them,
    /// e.g. `VpcSecurityGroupIds.VpcSecurityGroupId.1`). Returns the inner XML
    /// of `<{Action}Result>`; the server adds the envelope and RequestId.
    pub fn handle(
        &mut self,
        ctx: &Ctx,
        action: &str,
        params: &BTreeMap<String, String>,
        secrets: &mut dyn SecretStore,
    ) -> AwsResult<String> {
        // Lifecycles advance before every call so that a describe right after
        // the clock moved never shows a stale status, whatever the tick rate.
        self.tick(ctx, secrets);
        let p = Params(params);
        let mut x = Xml::new();
        match action {
            "CreateDBSubnetGroup" => self.create_subnet_group(ctx, &p, &mut x)?,
            "DescribeDBSubnetGroups" => self.describe_subnet_groups(ctx, &p, &mut x)?,
            "ModifyDBSubnetGroup" => self.modify_subnet_group(ctx, &p, &mut x)?,
            "DeleteDBSubnetGroup" => self.delete_subnet_group(&p)?,
            "CreateDBCluster" => self.create_cluster(ctx, &p, secrets, &mut x)?,
            "DescribeDBClusters" => self.describe_clusters(ctx, &p, &mut x)?,
            "ModifyDBCluster" => self.modify_cluster(ctx, &p, secrets, &mut x)?,
            "DeleteDBCluster" => self.delete_cluster(ctx, &p, &mut x)?,
            "CreateDBInstance" => self.create_instance(ctx, &p, &mut x)?,
            "DescribeDBInstances" => self.describe_instances(ctx, &p, &mut x)?,
            "ModifyDBInstance" => self.modify_instance(ctx, &p, &mut x)?,
            "DeleteDBInstance" => self.delete_instance(ctx, &p, &mut x)?,
            "CreateDBProxy" => self.create_proxy(ctx, &p, &mut x)?,
            "DescribeDBProxies" => self.describe_proxies(ctx, &p, &mut x)?,
            "ModifyDBProxy" => self.modify_proxy(ctx, &p, &mut x)?,
            "DeleteDBProxy" => self.delete_proxy(ctx, &p, &mut x)?,
            "RegisterDBProxyTargets" => self.register_targets(ctx, &p, &mut x)?,
            "DeregisterDBProxyTargets" => self.deregister_targets(&p)?,
            "DescribeDBProxyTargets" => self.describe_targets(ctx, &p, &mut x)?,
            "DescribeDBProxyTargetGroups" => self.describe_target_groups(&p, &mut x)?,
            "ModifyDBProxyTargetGroup" => self.modify_target_group(ctx, &p, &mut x)?,
            "AddTagsToResource" => self.add_tags(ctx, &p)?,
            "RemoveTagsFromResource" => self.remove_tags(ctx, &p)?,
            "ListTagsForResource" => self.list_tags(ctx, &p, &mut x)?,
            "CreateDBClusterSnapshot" => self.create_snapshot(ctx, &p, &mut x)?,
            "DescribeDBClusterSnapshots" => self.describe_snapshots(ctx, &p, &mut x)?,
            "DeleteDBClusterSnapshot" => self.delete_snapshot(ctx, &p, &mut x)?,
            _ => {
                return Err(AwsError::client(
                    "InvalidAction",
                    format!("awsim does not implement RDS {action}"),
                ))
            }
        }
        Ok(x.finish())
    }

    /// Advances lifecycles (creating -> available, ...) to `ctx.now`.
    pub fn tick(&mut self, ctx: &Ctx, secrets: &mut dyn SecretStore) {
        let now = ctx.now;
        let settle = |status: &mut String, until: f64| {
            if now >= until && matches!(status.as_str(), "creating" | "modifying" | "upgrading") {
                *status = "available".to_string();
            }
        };
        for c in self.clusters.values_mut() {
            settle(&mut c.status, c.until);
        }
        for i in self.instances.values_mut() {
            // An instance cannot come up before the cluster it belongs to.
            let cluster_creating = self
                .clusters
                .get(&i.cluster_id)
                .is_some_and(|c| c.status == "creating");
            if !cluster_creating {
                settle(&mut i.status, i.until);
            }
        }
        for p in self.proxies.values_mut() {
            settle(&mut p.status, p.until);
        }
        for s in self.snapshots.values_mut() {
            settle(&mut s.status, s.until);
        }
        self.instances
            .retain(|_, i| !(i.status == "deleting" && now >= i.until));
        self.proxies
            .retain(|_, p| !(p.status == "deleting" && now >= p.until));
        let gone: Vec<String> = self
            .clusters
            .values()
            .filter(|c| c.status == "deleting" && now >= c.until)
            .map(|c| c.id.clone())
            .collect();
        for id in gone {
            if let Some(c) = self.clusters.remove(&id) {
                // AWS deletes the managed master secret with its cluster.
                if let Some(s) = c.master_secret {
                    secrets.delete_secret(&s.arn);
                }
            }
            for p in self.proxies.values_mut() {
                if p.target_group.cluster_id.as_deref() == Some(id.as_str()) {
                    p.target_group.cluster_id = None;
                }
            }
        }
    }

    // ---- DB subnet groups -------------------------------------------------

    fn create_subnet_group(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let raw = p.required("DBSubnetGroupName")?;
        validate_subnet_group_name(raw)?;
        // AWS stores subnet group names in lowercase and matches them so.
        let name = raw.to_ascii_lowercase();
        let description = p.required("DBSubnetGroupDescription")?.to_string();
        let subnets = p.list("SubnetIds", "SubnetIdentifier").unwrap_or_default();
        validate_subnets(&subnets)?;
        let tags = p.tags()?;
        if self.subnet_groups.contains_key(&name) {
            return Err(AwsError::client(
                "DBSubnetGroupAlreadyExists",
                format!("The DB subnet group '{name}' already exists."),
            ));
        }
        let group = SubnetGroup {
            arn: ctx.arn("rds", &format!("subgrp:{name}")),
            vpc_id: vpc_of(ctx),
            name: name.clone(),
            description,
            subnets,
            tags,
        };
        render_subnet_group(ctx, x, "DBSubnetGroup", &group);
        self.subnet_groups.insert(name, group);
        Ok(())
    }

    fn describe_subnet_groups(&self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let (start, max) = p.page()?;
        let groups: Vec<&SubnetGroup> = match p.str("DBSubnetGroupName") {
            Some(name) => vec![self.subnet_group(name)?],
            None => self.subnet_groups.values().collect(),
        };
        let page = paginate(&groups, start, max);
        x.open("DBSubnetGroups");
        for g in page.items {
            render_subnet_group(ctx, x, "DBSubnetGroup", g);
        }
        x.close("DBSubnetGroups");
        x.opt("Marker", page.marker.as_deref());
        Ok(())
    }

    fn modify_subnet_group(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let name = self
            .subnet_group(p.required("DBSubnetGroupName")?)?
            .name
            .clone();
        let subnets = p.list("SubnetIds", "SubnetIdentifier").unwrap_or_default();
        validate_subnets(&subnets)?;
        let group = self.subnet_groups.get_mut(&name).expect("looked up above");
        if let Some(d) = p.string("DBSubnetGroupDescription") {
            group.description = d;
        }
        group.subnets = subnets;
        render_subnet_group(ctx, x, "DBSubnetGroup", group);
        Ok(())
    }

    fn delete_subnet_group(&mut self, p: &Params) -> AwsResult<()> {
        let name = self
            .subnet_group(p.required("DBSubnetGroupName")?)?
            .name
            .clone();
        if let Some(c) = self.clusters.values().find(|c| c.subnet_group == name) {
            return Err(AwsError::client(
                "InvalidDBSubnetGroupStateFault",
                format!(
                    "Cannot delete the subnet group '{name}' because at least one database cluster: {} is still using it.",
                    c.id
                ),
            ));
        }
        self.subnet_groups.remove(&name);
        Ok(())
    }

    fn subnet_group(&self, name: &str) -> AwsResult<&SubnetGroup> {
        let key = last_arn_segment(name, "subgrp:").to_ascii_lowercase();
        self.subnet_groups.get(&key).ok_or_else(|| {
            AwsError::not_found(
                "DBSubnetGroupNotFoundFault",
                format!("DBSubnetGroup {name} not found."),
            )
        })
    }

    // ---- DB clusters --------------------------------------------------------

    fn create_cluster(
        &mut self,
        ctx: &Ctx,
        p: &Params,
        secrets: &mut dyn SecretStore,
        x: &mut Xml,
    ) -> AwsResult<()> {
        // "This parameter is stored as a lowercase string."
        let id = p.required("DBClusterIdentifier")?.to_ascii_lowercase();
        validate_identifier("DBClusterIdentifier", &id, 63)?;
        let engine = p.required("Engine")?.to_string();
        let (default_version, default_port) = match engine.as_str() {
            "aurora-postgresql" => ("16.4", 5432),
            "aurora-mysql" => ("8.0.mysql_aurora.3.08.0", 3306),
            other => {
                return Err(invalid(format!(
                    "Invalid DB engine: {other}. awsim supports aurora-postgresql and aurora-mysql."
                )))
            }
        };
        let engine_version = p
            .string("EngineVersion")
            .unwrap_or_else(|| default_version.to_string());
        validate_engine_version(&engine, &engine_version)?;
        if self.clusters.contains_key(&id) {
            return Err(AwsError::client(
                "DBClusterAlreadyExistsFault",
                format!("DB Cluster {id} already exists"),
            ));
        }
        let master_username = match p.str("MasterUsername") {
            Some(u) if !u.is_empty() => u.to_string(),
            _ => {
                return Err(invalid(
                    "The parameter MasterUsername must be provided and must not be blank.",
                ))
            }
        };
        validate_master_username(&master_username)?;
        let manage = p.bool("ManageMasterUserPassword")?.unwrap_or(false);
        let password = p.string("MasterUserPassword");
        match (&password, manage) {
            (Some(_), true) => {
                return Err(combination(
                    "You can't specify MasterUserPassword and ManageMasterUserPassword together.",
                ))
            }
            (None, false) => {
                return Err(invalid(
                    "The parameter MasterUserPassword must be provided and must not be blank, unless ManageMasterUserPassword is true.",
                ))
            }
            (Some(pw), false) => validate_password(pw)?,
            (None, true) => {}
        }
        if p.str("MasterUserSecretKmsKeyId").is_some() && !manage {
            return Err(combination(
                "MasterUserSecretKmsKeyId requires ManageMasterUserPassword to be true.",
            ));
        }
        let database_name = p.string("DatabaseName");
        if let Some(db) = &database_name {
            validate_database_name(db)?;
        }
        let subnet_group = match p.str("DBSubnetGroupName") {
            Some(name) => self.subnet_group(name)?.name.clone(),
            None => "default".to_string(),
        };
        let scaling = scaling_config(p)?;
        let backup_retention = p.int("BackupRetentionPeriod")?.unwrap_or(1);
        if !(1..=35).contains(&backup_retention) {
            return Err(invalid(format!(
                "Invalid backup retention period {backup_retention}: must be between 1 and 35 days."
            )));
        }
        let port = p.int("Port")?.unwrap_or(default_port);
        if !(1150..=65535).contains(&port) {
            return Err(invalid(format!(
                "Invalid port {port}: must be between 1150 and 65535."
            )));
        }
        let tags = p.tags()?;
        let kms_key_id = p.string("KmsKeyId");
        let storage_encrypted =
            p.bool("StorageEncrypted")?.unwrap_or(false) || kms_key_id.is_some();
        let kms_key_id = match (storage_encrypted, kms_key_id) {
            (true, None) => Some(default_kms_key(ctx, "rds")),
            (_, k) => k,
        };
        let security_groups = p
            .list("VpcSecurityGroupIds", "VpcSecurityGroupId")
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| vec![default_security_group(ctx)]);
        let arn = ctx.arn("rds", &format!("cluster:{id}"));
        let master_secret = if manage {
            let kms_key_id = p
                .string("MasterUserSecretKmsKeyId")
                .unwrap_or_else(|| default_kms_key(ctx, "secretsmanager"));
            Some(create_master_secret(
                ctx,
                secrets,
                &arn,
                &master_username,
                kms_key_id,
            ))
        } else {
            None
        };
        let vpc_id = self
            .subnet_groups
            .get(&subnet_group)
            .map(|g| g.vpc_id.clone())
            .unwrap_or_else(|| vpc_of(ctx));
        let cluster = Cluster {
            id: id.clone(),
            arn,
            resource_id: format!("cluster-{}", random_upper(26)),
            engine,
            engine_version,
            database_name,
            master_username,
            master_password: password,
            master_secret,
            iam_auth: p.bool("EnableIAMDatabaseAuthentication")?.unwrap_or(false),
            scaling,
            subnet_group,
            vpc_id,
            security_groups,
            storage_encrypted,
            kms_key_id,
            backup_retention,
            deletion_protection: p.bool("DeletionProtection")?.unwrap_or(false),
            copy_tags_to_snapshot: p.bool("CopyTagsToSnapshot")?.unwrap_or(false),
            port,
            tags,
            status: "creating".to_string(),
            until: ctx.now + CLUSTER_CREATE_SECS,
            created: ctx.now,
        };
        self.render_cluster(ctx, x, &cluster);
        self.clusters.insert(id, cluster);
        Ok(())
    }

    fn describe_clusters(&self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let (start, max) = p.page()?;
        let filters = p.filters()?;
        let mut clusters: Vec<&Cluster> = match p.str("DBClusterIdentifier") {
            Some(id) => vec![self.cluster(id)?],
            None => self.clusters.values().collect(),
        };
        for (name, values) in &filters {
            clusters.retain(|c| match name.as_str() {
                "db-cluster-id" => values
                    .iter()
                    .any(|v| last_arn_segment(v, "cluster:").eq_ignore_ascii_case(&c.id)),
                "db-cluster-resource-id" => values.contains(&c.resource_id),
                "engine" => values.contains(&c.engine),
                _ => true,
            });
            if !matches!(
                name.as_str(),
                "db-cluster-id" | "db-cluster-resource-id" | "engine" | "clone-group-id" | "domain"
            ) {
                return Err(invalid(format!("Unrecognized filter name: {name}")));
            }
        }
        let page = paginate(&clusters, start, max);
        x.open("DBClusters");
        for c in page.items {
            self.render_cluster(ctx, x, c);
        }
        x.close("DBClusters");
        x.opt("Marker", page.marker.as_deref());
        Ok(())
    }

    fn modify_cluster(
        &mut self,
        ctx: &Ctx,
        p: &Params,
        secrets: &mut dyn SecretStore,
        x: &mut Xml,
    ) -> AwsResult<()> {
        let id = self.cluster(p.required("DBClusterIdentifier")?)?.id.clone();
        if p.str("NewDBClusterIdentifier").is_some() {
            return Err(invalid(
                "awsim does not simulate renaming DB clusters (NewDBClusterIdentifier).",
            ));
        }
        let scaling = scaling_config(p)?;
        let backup_retention = p.int("BackupRetentionPeriod")?;
        if let Some(b) = backup_retention {
            if !(1..=35).contains(&b) {
                return Err(invalid(format!(
                    "Invalid backup retention period {b}: must be between 1 and 35 days."
                )));
            }
        }
        let manage = p.bool("ManageMasterUserPassword")?;
        let password = p.string("MasterUserPassword");
        if let Some(pw) = &password {
            validate_password(pw)?;
        }
        let rotate = p.bool("RotateMasterUserPassword")?.unwrap_or(false);
        let apply_immediately = p.bool("ApplyImmediately")?.unwrap_or(false);
        let security_groups = p.list("VpcSecurityGroupIds", "VpcSecurityGroupId");
        let iam_auth = p.bool("EnableIAMDatabaseAuthentication")?;
        let deletion_protection = p.bool("DeletionProtection")?;
        let copy_tags = p.bool("CopyTagsToSnapshot")?;
        let engine_version = p.string("EngineVersion");
        let allow_major = p.bool("AllowMajorVersionUpgrade")?.unwrap_or(false);
        let port = p.int("Port")?;

        let c = self.clusters.get(&id).expect("looked up above");
        if c.status != "available" {
            return Err(AwsError::client(
                "InvalidDBClusterStateFault",
                format!(
                    "DB cluster {id} is not available for modification with status {}",
                    c.status
                ),
            ));
        }
        let managed = c.master_secret.is_some();
        if password.is_some() && (manage == Some(true) || (managed && manage != Some(false))) {
            return Err(combination(
                "You can't specify MasterUserPassword for a DB cluster whose master user password is managed by Secrets Manager (ManageMasterUserPassword).",
            ));
        }
        if manage == Some(false) && managed && password.is_none() {
            return Err(combination(
                "You must specify MasterUserPassword when you turn off ManageMasterUserPassword.",
            ));
        }
        if rotate && (!apply_immediately || !(managed || manage == Some(true))) {
            return Err(combination(
                "RotateMasterUserPassword requires ApplyImmediately and a master user password managed by Secrets Manager.",
            ));
        }
        if let Some(v) = &engine_version {
            validate_engine_version(&c.engine, v)?;
            let (cur, new) = (version_key(&c.engine_version), version_key(v));
            if new < cur {
                return Err(combination(format!(
                    "Cannot upgrade {} from {} to {v}",
                    c.engine, c.engine_version
                )));
            }
            if new.first() != cur.first() && !allow_major {
                return Err(combination(
                    "The AllowMajorVersionUpgrade flag must be present when upgrading to a new major version.",
                ));
            }
        }
        if let Some(port) = port {
            if !(1150..=65535).contains(&port) {
                return Err(invalid(format!(
                    "Invalid port {port}: must be between 1150 and 65535."
                )));
            }
        }
        let cluster_arn = c.arn.clone();
        let username = c.master_username.clone();

        let c = self.clusters.get_mut(&id).expect("looked up above");
        let mut changed = false;
        if let Some(s) = scaling {
            if c.scaling != Some(s) {
                c.scaling = Some(s);
                changed = true;
            }
        }
        if let Some(b) = backup_retention {
            if c.backup_retention != b {
                c.backup_retention = b;
                changed = true;
            }
        }
        if let Some(sgs) = security_groups {
            let sgs = if sgs.is_empty() {
                vec![default_security_group(ctx)]
            } else {
                sgs
            };
            if c.security_groups != sgs {
                c.security_groups = sgs;
                changed = true;
            }
        }
        if let Some(v) = iam_auth {
            if c.iam_auth != v {
                c.iam_auth = v;
                changed = true;
            }
        }
        if let Some(v) = deletion_protection {
            c.deletion_protection = v;
        }
        if let Some(v) = copy_tags {
            c.copy_tags_to_snapshot = v;
        }
        if let Some(v) = port {
            if c.port != v {
                c.port = v;
                changed = true;
            }
        }
        if let Some(v) = engine_version {
            // Without ApplyImmediately AWS waits for the maintenance window;
            // awsim has none, so the upgrade starts now either way.
            if c.engine_version != v {
                c.engine_version = v;
                changed = true;
            }
        }
        if let Some(pw) = password {
            c.master_password = Some(pw);
            changed = true;
        }
        match manage {
            Some(true) if c.master_secret.is_none() => {
                let kms_key_id = p
                    .string("MasterUserSecretKmsKeyId")
                    .unwrap_or_else(|| default_kms_key(ctx, "secretsmanager"));
                c.master_secret = Some(create_master_secret(
                    ctx,
                    secrets,
                    &cluster_arn,
                    &username,
                    kms_key_id,
                ));
                c.master_password = None;
                changed = true;
            }
            Some(false) => {
                if let Some(s) = c.master_secret.take() {
                    secrets.delete_secret(&s.arn);
                    changed = true;
                }
            }
            _ => {}
        }
        if changed {
            c.status = "modifying".to_string();
            c.until = ctx.now + MODIFY_SECS;
        }
        let c = self.clusters.get(&id).expect("looked up above");
        self.render_cluster(ctx, x, c);
        Ok(())
    }

    fn delete_cluster(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let id = self.cluster(p.required("DBClusterIdentifier")?)?.id.clone();
        let skip = p.bool("SkipFinalSnapshot")?.unwrap_or(false);
        let final_id = p
            .str("FinalDBSnapshotIdentifier")
            .map(str::to_ascii_lowercase);
        let c = &self.clusters[&id];
        if c.status == "deleting" {
            return Err(AwsError::client(
                "InvalidDBClusterStateFault",
                format!("DB cluster {id} is already being deleted."),
            ));
        }
        if c.deletion_protection {
            return Err(combination(
                "Cannot delete protected Cluster, please disable deletion protection and try again.",
            ));
        }
        if let Some(i) = self
            .instances
            .values()
            .find(|i| i.cluster_id == id && i.status != "deleting")
        {
            return Err(AwsError::client(
                "InvalidDBClusterStateFault",
                format!(
                    "Cluster cannot be deleted, it still contains DB instances in non-deleting state ({}).",
                    i.id
                ),
            ));
        }
        match (skip, &final_id) {
            (true, Some(_)) => {
                return Err(combination(
                    "FinalDBSnapshotIdentifier can not be specified when deleting a cluster with SkipFinalSnapshot enabled.",
                ))
            }
            (false, None) => {
                return Err(invalid(
                    "FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.",
                ))
            }
            _ => {}
        }
        if let Some(sid) = &final_id {
            validate_identifier("FinalDBSnapshotIdentifier", sid, 255)?;
            if self.snapshots.contains_key(sid) {
                return Err(AwsError::client(
                    "DBClusterSnapshotAlreadyExistsFault",
                    format!("Cannot create the cluster snapshot because one with the identifier {sid} already exists."),
                ));
            }
            let tags = if c.copy_tags_to_snapshot {
                c.tags.clone()
            } else {
                Vec::new()
            };
            let snap = snapshot_of(ctx, c, sid, tags);
            self.snapshots.insert(sid.clone(), snap);
        }
        let c = self.clusters.get_mut(&id).expect("looked up above");
        c.status = "deleting".to_string();
        c.until = ctx.now + DELETE_SECS;
        let c = &self.clusters[&id];
        self.render_cluster(ctx, x, c);
        Ok(())
    }

    fn cluster(&self, id: &str) -> AwsResult<&Cluster> {
        let key = last_arn_segment(id, "cluster:").to_ascii_lowercase();
        self.clusters.get(&key).ok_or_else(|| {
            AwsError::not_found(
                "DBClusterNotFoundFault",
                format!("DBCluster {id} not found."),
            )
        })
    }

    fn members(&self, cluster_id: &str) -> Vec<&Instance> {
        let mut members: Vec<&Instance> = self
            .instances
            .values()
            .filter(|i| i.cluster_id == cluster_id)
            .collect();
        members.sort_by(|a, b| a.created.total_cmp(&b.created).then(a.id.cmp(&b.id)));
        members
    }

    /// The writer is the oldest member; AWS fails over similarly when the
    /// writer goes away.
    fn writer_of(&self, cluster_id: &str) -> Option<String> {
        self.members(cluster_id)
            .into_iter()
            .find(|i| i.status != "deleting")
            .map(|i| i.id.clone())
    }

    fn render_cluster(&self, ctx: &Ctx, x: &mut Xml, c: &Cluster) {
        let h = account_hash(ctx);
        let writer = self.writer_of(&c.id);
        let members = self.members(&c.id);
        x.open("DBCluster");
        x.val("AllocatedStorage", 1);
        x.strings("AvailabilityZones", "AvailabilityZone", &azs(ctx));
        x.val("BackupRetentionPeriod", c.backup_retention);
        x.opt("DatabaseName", c.database_name.as_deref());
        x.text("DBClusterIdentifier", &c.id);
        x.text("DBClusterParameterGroup", &parameter_group_family(c));
        x.text("DBSubnetGroup", &c.subnet_group);
        x.text("Status", &c.status);
        x.time("EarliestRestorableTime", c.created);
        x.text(
            "Endpoint",
            &format!("{}.cluster-{h}.{}.rds.amazonaws.com", c.id, ctx.region),
        );
        x.text(
            "ReaderEndpoint",
            &format!("{}.cluster-ro-{h}.{}.rds.amazonaws.com", c.id, ctx.region),
        );
        x.val("MultiAZ", members.len() > 1);
        x.text("Engine", &c.engine);
        x.text("EngineVersion", &c.engine_version);
        x.time("LatestRestorableTime", ctx.now);
        x.val("Port", c.port);
        x.text("MasterUsername", &c.master_username);
        x.text("PreferredBackupWindow", "07:00-07:30");
        x.text("PreferredMaintenanceWindow", "sun:05:00-sun:05:30");
        x.open("ReadReplicaIdentifiers")
            .close("ReadReplicaIdentifiers");
        x.list("DBClusterMembers", "DBClusterMember", members, |x, i| {
            x.text("DBInstanceIdentifier", &i.id)
                .val("IsClusterWriter", writer.as_deref() == Some(i.id.as_str()))
                .text("DBClusterParameterGroupStatus", "in-sync")
                .val("PromotionTier", i.promotion_tier);
        });
        render_security_groups(x, &c.security_groups);
        x.text("HostedZoneId", hosted_zone(ctx));
        x.val("StorageEncrypted", c.storage_encrypted);
        x.opt("KmsKeyId", c.kms_key_id.as_deref());
        x.text("DbClusterResourceId", &c.resource_id);
        x.text("DBClusterArn", &c.arn);
        x.open("AssociatedRoles").close("AssociatedRoles");
        x.val("IAMDatabaseAuthenticationEnabled", c.iam_auth);
        x.time("ClusterCreateTime", c.created);
        x.text("EngineMode", "provisioned");
        x.val("DeletionProtection", c.deletion_protection);
        x.val("HttpEndpointEnabled", false);
        x.val("CopyTagsToSnapshot", c.copy_tags_to_snapshot);
        x.val("CrossAccountClone", false);
        x.open("DomainMemberships").close("DomainMemberships");
        x.tags("TagList", &c.tags);
        x.val("AutoMinorVersionUpgrade", true);
        x.text("NetworkType", "IPV4");
        if let Some((min, max)) = c.scaling {
            x.open("ServerlessV2ScalingConfiguration")
                .val("MinCapacity", min)
                .val("MaxCapacity", max)
                .close("ServerlessV2ScalingConfiguration");
            x.text("ServerlessV2PlatformVersion", "2");
        }
        if let Some(s) = &c.master_secret {
            x.open("MasterUserSecret")
                .text("SecretArn", &s.arn)
                .text("SecretStatus", "active")
                .text("KmsKeyId", &s.kms_key_id)
                .close("MasterUserSecret");
        }
        x.text("EngineLifecycleSupport", "open-source-rds-extended-support");
        x.close("DBCluster");
    }

    // ---- DB instances -------------------------------------------------------

    fn create_instance(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let id = p.required("DBInstanceIdentifier")?.to_ascii_lowercase();
        validate_identifier("DBInstanceIdentifier", &id, 63)?;
        let class = p.required("DBInstanceClass")?.to_string();
        validate_instance_class(&class)?;
        let engine = p.required("Engine")?.to_string();
        if !engine.starts_with("aurora") {
            return Err(invalid(format!(
                "awsim simulates Aurora only; engine {engine} is not supported."
            )));
        }
        let Some(cluster_id) = p.str("DBClusterIdentifier") else {
            return Err(combination(format!(
                "DBClusterIdentifier is required for {engine} DB instances."
            )));
        };
        let cluster = self.cluster(cluster_id)?;
        if self.instances.contains_key(&id) {
            return Err(AwsError::client(
                "DBInstanceAlreadyExists",
                format!("DB instance already exists: {id}"),
            ));
        }
        if cluster.status == "deleting" {
            return Err(AwsError::client(
                "InvalidDBClusterStateFault",
                format!("DB cluster {} is being deleted.", cluster.id),
            ));
        }
        if engine != cluster.engine {
            return Err(combination(format!(
                "The engine name requested for your DB instance ({engine}) doesn't match the engine name of your DB cluster ({}).",
                cluster.engine
            )));
        }
        for (field, what) in [
            ("MasterUsername", "master username"),
            ("MasterUserPassword", "master user password"),
        ] {
            if p.str(field).is_some() {
                return Err(combination(format!(
                    "The requested DB instance will be a member of a DB cluster. Set the {what} on the DB cluster."
                )));
            }
        }
        if class == "db.serverless" && cluster.scaling.is_none() {
            return Err(combination(format!(
                "The DB cluster {} has no ServerlessV2ScalingConfiguration, so it can't contain db.serverless DB instances.",
                cluster.id
            )));
        }
        let promotion_tier = p.int("PromotionTier")?.unwrap_or(1);
        if !(0..=15).contains(&promotion_tier) {
            return Err(invalid("PromotionTier must be between 0 and 15."));
        }
        let azs = azs(ctx);
        let instance = Instance {
            arn: ctx.arn("rds", &format!("db:{id}")),
            resource_id: format!("db-{}", random_upper(26)),
            cluster_id: cluster.id.clone(),
            class,
            engine,
            promotion_tier,
            publicly_accessible: p.bool("PubliclyAccessible")?.unwrap_or(false),
            availability_zone: p
                .string("AvailabilityZone")
                .unwrap_or_else(|| azs[self.instances.len() % azs.len()].clone()),
            tags: p.tags()?,
            status: "creating".to_string(),
            until: ctx.now + INSTANCE_CREATE_SECS,
            created: ctx.now,
            id: id.clone(),
        };
        self.instances.insert(id.clone(), instance);
        self.render_instance(ctx, x, &self.instances[&id]);
        Ok(())
    }

    fn describe_instances(&self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let (start, max) = p.page()?;
        let filters = p.filters()?;
        let mut instances: Vec<&Instance> = match p.str("DBInstanceIdentifier") {
            Some(id) => vec![self.instance(id)?],
            None => self.instances.values().collect(),
        };
        for (name, values) in &filters {
            let keep: Box<dyn Fn(&Instance) -> bool> = match name.as_str() {
                "db-cluster-id" => Box::new(|i: &Instance| {
                    values.iter().any(|v| {
                        last_arn_segment(v, "cluster:").eq_ignore_ascii_case(&i.cluster_id)
                    })
                }),
                "db-instance-id" => Box::new(|i: &Instance| {
                    values
                        .iter()
                        .any(|v| last_arn_segment(v, "db:").eq_ignore_ascii_case(&i.id))
                }),
                "dbi-resource-id" => Box::new(|i: &Instance| values.contains(&i.resource_id)),
                "engine" => Box::new(|i: &Instance| values.contains(&i.engine)),
                "domain" => Box::new(|_: &Instance| false),
                _ => return Err(invalid(format!("Unrecognized filter name: {name}"))),
            };
            instances.retain(|i| keep(i));
        }
        let page = paginate(&instances, start, max);
        x.open("DBInstances");
        for i in page.items {
            self.render_instance(ctx, x, i);
        }
        x.close("DBInstances");
        x.opt("Marker", page.marker.as_deref());
        Ok(())
    }

    fn modify_instance(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let id = self
            .instance(p.required("DBInstanceIdentifier")?)?
            .id
            .clone();
        let class = p.string("DBInstanceClass");
        let tier = p.int("PromotionTier")?;
        let public = p.bool("PubliclyAccessible")?;
        let i = &self.instances[&id];
        if i.status != "available" {
            return Err(AwsError::client(
                "InvalidDBInstanceState",
                format!(
                    "Database instance {id} is not in available state ({}).",
                    i.status
                ),
            ));
        }
        if let Some(class) = &class {
            validate_instance_class(class)?;
            let scaling = self.clusters.get(&i.cluster_id).and_then(|c| c.scaling);
            if class == "db.serverless" && scaling.is_none() {
                return Err(combination(format!(
                    "The DB cluster {} has no ServerlessV2ScalingConfiguration, so it can't contain db.serverless DB instances.",
                    i.cluster_id
                )));
            }
        }
        if let Some(t) = tier {
            if !(0..=15).contains(&t) {
                return Err(invalid("PromotionTier must be between 0 and 15."));
            }
        }
        let i = self.instances.get_mut(&id).expect("looked up above");
        let mut changed = false;
        if let Some(class) = class {
            if i.class != class {
                i.class = class;
                changed = true;
            }
        }
        if let Some(t) = tier {
            i.promotion_tier = t;
        }
        if let Some(v) = public {
            i.publicly_accessible = v;
        }
        if changed {
            i.status = "modifying".to_string();
            i.until = ctx.now + MODIFY_SECS;
        }
        self.render_instance(ctx, x, &self.instances[&id]);
        Ok(())
    }

    fn delete_instance(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let id = self
            .instance(p.required("DBInstanceIdentifier")?)?
            .id
            .clone();
        if p.str("FinalDBSnapshotIdentifier").is_some() {
            return Err(combination(
                "FinalDBSnapshotIdentifier can't be specified for a DB instance in an Aurora DB cluster; snapshot the cluster instead.",
            ));
        }
        let i = self.instances.get_mut(&id).expect("looked up above");
        if i.status == "deleting" {
            return Err(AwsError::client(
                "InvalidDBInstanceState",
                format!("Instance {id} is already being deleted."),
            ));
        }
        i.status = "deleting".to_string();
        i.until = ctx.now + DELETE_SECS;
        self.render_instance(ctx, x, &self.instances[&id]);
        Ok(())
    }

    fn instance(&self, id: &str) -> AwsResult<&Instance> {
        let key = last_arn_segment(id, "db:").to_ascii_lowercase();
        self.instances.get(&key).ok_or_else(|| {
            AwsError::not_found("DBInstanceNotFound", format!("DBInstance {id} not found."))
        })
    }

    fn render_instance(&self, ctx: &Ctx, x: &mut Xml, i: &Instance) {
        let cluster = self.clusters.get(&i.cluster_id);
        x.open("DBInstance");
        x.text("DBInstanceIdentifier", &i.id);
        x.text("DBInstanceClass", &i.class);
        x.text("Engine", &i.engine);
        x.text("DBInstanceStatus", &i.status);
        if let Some(c) = cluster {
            x.text("MasterUsername", &c.master_username);
            x.opt("DBName", c.database_name.as_deref());
            // AWS assigns the instance endpoint once the instance exists.
            if i.status != "creating" {
                x.open("Endpoint")
                    .text(
                        "Address",
                        &format!(
                            "{}.{}.{}.rds.amazonaws.com",
                            i.id,
                            account_hash(ctx),
                            ctx.region
                        ),
                    )
                    .val("Port", c.port)
                    .text("HostedZoneId", hosted_zone(ctx))
                    .close("Endpoint");
                x.time("InstanceCreateTime", i.created);
            }
        }
        x.val("AllocatedStorage", 1);
        x.text("PreferredBackupWindow", "07:00-07:30");
        if let Some(c) = cluster {
            x.val("BackupRetentionPeriod", c.backup_retention);
        }
        x.open("DBSecurityGroups").close("DBSecurityGroups");
        if let Some(c) = cluster {
            render_security_groups(x, &c.security_groups);
        }
        x.text("AvailabilityZone", &i.availability_zone);
        if let Some(g) = cluster.and_then(|c| self.subnet_groups.get(&c.subnet_group)) {
            render_subnet_group(ctx, x, "DBSubnetGroup", g);
        }
        x.text("PreferredMaintenanceWindow", "sun:05:00-sun:05:30");
        x.val("MultiAZ", false);
        if let Some(c) = cluster {
            x.text("EngineVersion", &c.engine_version);
        }
        x.val("AutoMinorVersionUpgrade", true);
        x.text(
            "LicenseModel",
            if i.engine == "aurora-postgresql" {
                "postgresql-license"
            } else {
                "general-public-license"
            },
        );
        x.val("PubliclyAccessible", i.publicly_accessible);
        x.text("StorageType", "aurora");
        x.val("DbInstancePort", 0);
        x.text("DBClusterIdentifier", &i.cluster_id);
        if let Some(c) = cluster {
            x.val("StorageEncrypted", c.storage_encrypted);
            x.opt("KmsKeyId", c.kms_key_id.as_deref());
        }
        x.text("DbiResourceId", &i.resource_id);
        x.text("CACertificateIdentifier", "rds-ca-rsa2048-g1");
        x.val("CopyTagsToSnapshot", false);
        x.val("MonitoringInterval", 0);
        x.val("PromotionTier", i.promotion_tier);
        x.text("DBInstanceArn", &i.arn);
        if let Some(c) = cluster {
            x.val("IAMDatabaseAuthenticationEnabled", c.iam_auth);
        }
        x.val("PerformanceInsightsEnabled", false);
        x.val("DeletionProtection", false);
        x.tags("TagList", &i.tags);
        x.text("NetworkType", "IPV4");
        x.close("DBInstance");
    }

    // ---- DB proxies ---------------------------------------------------------

    fn create_proxy(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let name = p.required("DBProxyName")?.to_string();
        validate_proxy_name(&name)?;
        let key = name.to_ascii_lowercase();
        let engine_family = p.required("EngineFamily")?.to_string();
        if !matches!(engine_family.as_str(), "MYSQL" | "POSTGRESQL" | "SQLSERVER") {
            return Err(invalid(format!(
                "Invalid EngineFamily {engine_family}: must be MYSQL, POSTGRESQL or SQLSERVER."
            )));
        }
        let role_arn = p.required("RoleArn")?.to_string();
        validate_role_arn(&role_arn)?;
        let subnets = p.list("VpcSubnetIds", "member").unwrap_or_default();
        if subnets.len() < 2 {
            return Err(invalid(
                "VpcSubnetIds must contain at least two subnets in different Availability Zones.",
            ));
        }
        let default_auth_scheme = p.string("DefaultAuthScheme");
        if let Some(s) = &default_auth_scheme {
            if !matches!(s.as_str(), "IAM_AUTH" | "NONE") {
                return Err(invalid(format!(
                    "Invalid DefaultAuthScheme {s}: must be IAM_AUTH or NONE."
                )));
            }
        }
        let auth = proxy_auth(p, &engine_family)?;
        if auth.as_ref().is_none_or(|a| a.is_empty())
            && default_auth_scheme.as_deref() != Some("IAM_AUTH")
        {
            return Err(invalid(
                "Auth must contain at least one entry unless DefaultAuthScheme is IAM_AUTH.",
            ));
        }
        let idle_client_timeout = p.int("IdleClientTimeout")?.unwrap_or(1800);
        validate_idle_timeout(idle_client_timeout)?;
        let tags = p.tags()?;
        if self.proxies.contains_key(&key) {
            return Err(AwsError::client(
                "DBProxyAlreadyExistsFault",
                format!("DB proxy {name} already exists."),
            ));
        }
        let resource = format!("prx-{}", random_hex(17));
        let proxy = Proxy {
            arn: ctx.arn("rds", &format!("db-proxy:{resource}")),
            engine_family,
            default_auth_scheme,
            auth: auth.unwrap_or_default(),
            role_arn,
            subnets,
            security_groups: p
                .list("VpcSecurityGroupIds", "member")
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| vec![default_security_group(ctx)]),
            vpc_id: vpc_of(ctx),
            require_tls: p.bool("RequireTLS")?.unwrap_or(false),
            idle_client_timeout,
            debug_logging: p.bool("DebugLogging")?.unwrap_or(false),
            tags,
            target_group: TargetGroup {
                arn: ctx.arn("rds", &format!("target-group:prx-tg-{}", random_hex(17))),
                max_connections_percent: 100,
                max_idle_connections_percent: 50,
                connection_borrow_timeout: 120,
                init_query: None,
                session_pinning_filters: Vec::new(),
                cluster_id: None,
                registered_at: 0.0,
                created: ctx.now,
                updated: ctx.now,
            },
            status: "creating".to_string(),
            until: ctx.now + PROXY_CREATE_SECS,
            created: ctx.now,
            updated: ctx.now,
            name,
        };
        render_proxy(ctx, x, "DBProxy", &proxy);
        self.proxies.insert(key, proxy);
        Ok(())
    }

    fn describe_proxies(&self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let (start, max) = p.page()?;
        if !p.filters()?.is_empty() {
            return Err(invalid("DescribeDBProxies does not support filters."));
        }
        let proxies: Vec<&Proxy> = match p.str("DBProxyName") {
            Some(name) => vec![self.proxy(name)?],
            None => self.proxies.values().collect(),
        };
        let page = paginate(&proxies, start, max);
        x.open("DBProxies");
        for proxy in page.items {
            render_proxy(ctx, x, "member", proxy);
        }
        x.close("DBProxies");
        x.opt("Marker", page.marker.as_deref());
        Ok(())
    }

    fn modify_proxy(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let key = self
            .proxy(p.required("DBProxyName")?)?
            .name
            .to_ascii_lowercase();
        let proxy = &self.proxies[&key];
        if proxy.status != "available" {
            return Err(proxy_state_error(proxy));
        }
        let auth = proxy_auth(p, &proxy.engine_family)?;
        let new_name = p.string("NewDBProxyName");
        if let Some(n) = &new_name {
            validate_proxy_name(n)?;
            let new_key = n.to_ascii_lowercase();
            if new_key != key && self.proxies.contains_key(&new_key) {
                return Err(AwsError::client(
                    "DBProxyAlreadyExistsFault",
                    format!("DB proxy {n} already exists."),
                ));
            }
        }
        let idle = p.int("IdleClientTimeout")?;
        if let Some(t) = idle {
            validate_idle_timeout(t)?;
        }
        let role_arn = p.string("RoleArn");
        if let Some(r) = &role_arn {
            validate_role_arn(r)?;
        }
        let default_auth_scheme = p.string("DefaultAuthScheme");
        let require_tls = p.bool("RequireTLS")?;
        let debug_logging = p.bool("DebugLogging")?;
        let security_groups = p.list("SecurityGroups", "member");

        let mut proxy = self.proxies.remove(&key).expect("looked up above");
        if let Some(a) = auth {
            proxy.auth = a;
        }
        if let Some(t) = idle {
            proxy.idle_client_timeout = t;
        }
        if let Some(r) = role_arn {
            proxy.role_arn = r;
        }
        if let Some(s) = default_auth_scheme {
            proxy.default_auth_scheme = Some(s);
        }
        if let Some(v) = require_tls {
            proxy.require_tls = v;
        }
        if let Some(v) = debug_logging {
            proxy.debug_logging = v;
        }
        if let Some(sgs) = security_groups.filter(|s| !s.is_empty()) {
            proxy.security_groups = sgs;
        }
        if let Some(n) = new_name {
            proxy.name = n;
        }
        proxy.status = "modifying".to_string();
        proxy.until = ctx.now + MODIFY_SECS;
        proxy.updated = ctx.now;
        render_proxy(ctx, x, "DBProxy", &proxy);
        self.proxies.insert(proxy.name.to_ascii_lowercase(), proxy);
        Ok(())
    }

    fn delete_proxy(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let key = self
            .proxy(p.required("DBProxyName")?)?
            .name
            .to_ascii_lowercase();
        let proxy = self.proxies.get_mut(&key).expect("looked up above");
        if proxy.status == "deleting" {
            return Err(proxy_state_error(proxy));
        }
        proxy.status = "deleting".to_string();
        proxy.until = ctx.now + DELETE_SECS;
        render_proxy(ctx, x, "DBProxy", proxy);
        Ok(())
    }

    fn proxy(&self, name: &str) -> AwsResult<&Proxy> {
        let key = name.to_ascii_lowercase();
        self.proxies
            .get(&key)
            .or_else(|| self.proxies.values().find(|p| p.arn == name))
            .ok_or_else(|| {
                AwsError::not_found("DBProxyNotFoundFault", format!("DBProxy {name} not found."))
            })
    }

    fn proxy_and_group(&self, p: &Params) -> AwsResult<&Proxy> {
        let proxy = self.proxy(p.required("DBProxyName")?)?;
        if let Some(tg) = p.str("TargetGroupName") {
            if tg != DEFAULT_TARGET_GROUP {
                return Err(AwsError::not_found(
                    "DBProxyTargetGroupNotFoundFault",
                    format!("Target group {tg} not found for DB proxy {}.", proxy.name),
                ));
            }
        }
        Ok(proxy)
    }

    fn register_targets(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let proxy = self.proxy_and_group(p)?;
        let key = proxy.name.to_ascii_lowercase();
        let clusters = p.list("DBClusterIdentifiers", "member").unwrap_or_default();
        let instances = p
            .list("DBInstanceIdentifiers", "member")
            .unwrap_or_default();
        if clusters.is_empty() && instances.is_empty() {
            return Err(invalid(
                "Specify DBClusterIdentifiers or DBInstanceIdentifiers to register.",
            ));
        }
        if !instances.is_empty() {
            return Err(combination(
                "Aurora DB instances can't be registered individually; register their DB cluster.",
            ));
        }
        if clusters.len() > 1 {
            return Err(invalid(
                "A DB proxy target group can contain only one DB cluster.",
            ));
        }
        if proxy.status != "available" {
            return Err(proxy_state_error(proxy));
        }
        let cluster = self.cluster(&clusters[0])?;
        let family = match cluster.engine.as_str() {
            "aurora-postgresql" => "POSTGRESQL",
            _ => "MYSQL",
        };
        if family != proxy.engine_family {
            return Err(invalid(format!(
                "The engine family of DB cluster {} ({family}) doesn't match the DB proxy's engine family {}.",
                cluster.id, proxy.engine_family
            )));
        }
        if cluster.status != "available" {
            return Err(AwsError::client(
                "InvalidDBClusterStateFault",
                format!(
                    "DB cluster {} must be available to be registered (status {}).",
                    cluster.id, cluster.status
                ),
            ));
        }
        if let Some(existing) = &proxy.target_group.cluster_id {
            return Err(AwsError::client(
                "DBProxyTargetAlreadyRegisteredFault",
                format!(
                    "DB cluster {existing} is already registered with DB proxy {}.",
                    proxy.name
                ),
            ));
        }
        let cluster_id = cluster.id.clone();
        let proxy = self.proxies.get_mut(&key).expect("looked up above");
        proxy.target_group.cluster_id = Some(cluster_id);
        proxy.target_group.registered_at = ctx.now;
        proxy.target_group.updated = ctx.now;
        let proxy = &self.proxies[&key];
        x.open("DBProxyTargets");
        self.render_targets(ctx, x, proxy);
        x.close("DBProxyTargets");
        Ok(())
    }

    fn deregister_targets(&mut self, p: &Params) -> AwsResult<()> {
        let proxy = self.proxy_and_group(p)?;
        let key = proxy.name.to_ascii_lowercase();
        let clusters = p.list("DBClusterIdentifiers", "member").unwrap_or_default();
        let instances = p
            .list("DBInstanceIdentifiers", "member")
            .unwrap_or_default();
        if clusters.is_empty() && instances.is_empty() {
            return Err(invalid(
                "Specify DBClusterIdentifiers or DBInstanceIdentifiers to deregister.",
            ));
        }
        let registered = proxy.target_group.cluster_id.clone();
        for c in clusters.iter().chain(instances.iter()) {
            let c = last_arn_segment(c, "cluster:").to_ascii_lowercase();
            if registered.as_deref() != Some(c.as_str()) {
                return Err(AwsError::not_found(
                    "DBProxyTargetNotFoundFault",
                    format!("{c} is not registered with DB proxy {}.", proxy.name),
                ));
            }
        }
        self.proxies
            .get_mut(&key)
            .expect("looked up above")
            .target_group
            .cluster_id = None;
        Ok(())
    }

    fn describe_targets(&self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let proxy = self.proxy_and_group(p)?;
        x.open("Targets");
        self.render_targets(ctx, x, proxy);
        x.close("Targets");
        Ok(())
    }

    /// AWS lists a `TRACKED_CLUSTER` entry for the registered cluster and one
    /// `RDS_INSTANCE` entry per member. awsim also gives the cluster entry a
    /// `TargetHealth`, so that a controller can wait on the cluster alone.
    fn render_targets(&self, ctx: &Ctx, x: &mut Xml, proxy: &Proxy) {
        let Some(cluster) = proxy
            .target_group
            .cluster_id
            .as_ref()
            .and_then(|id| self.clusters.get(id))
        else {
            return;
        };
        let h = account_hash(ctx);
        let registering = proxy.status == "creating"
            || ctx.now < proxy.target_group.registered_at + TARGET_REGISTER_SECS;
        // A modifying database still serves connections; a new one is still
        // registering; anything else (deleting, ...) is unreachable.
        let health = |x: &mut Xml, status: &str| {
            x.open("TargetHealth");
            match status {
                "creating" => {
                    x.text("State", "REGISTERING");
                }
                _ if registering => {
                    x.text("State", "REGISTERING");
                }
                "available" | "modifying" | "upgrading" => {
                    x.text("State", "AVAILABLE");
                }
                _ => {
                    x.text("State", "UNAVAILABLE")
                        .text("Reason", "UNREACHABLE")
                        .text("Description", &format!("The target is {status}."));
                }
            }
            x.close("TargetHealth");
        };
        x.open("member")
            .text(
                "Endpoint",
                &format!(
                    "{}.cluster-{h}.{}.rds.amazonaws.com",
                    cluster.id, ctx.region
                ),
            )
            .text("TrackedClusterId", &cluster.id)
            .text("RdsResourceId", &cluster.id)
            .val("Port", cluster.port)
            .text("Type", "TRACKED_CLUSTER");
        health(x, &cluster.status);
        x.close("member");
        let writer = self.writer_of(&cluster.id);
        for i in self.members(&cluster.id) {
            x.open("member")
                .text("TargetArn", &i.arn)
                .text(
                    "Endpoint",
                    &format!("{}.{h}.{}.rds.amazonaws.com", i.id, ctx.region),
                )
                .text("TrackedClusterId", &cluster.id)
                .text("RdsResourceId", &i.id)
                .val("Port", cluster.port)
                .text("Type", "RDS_INSTANCE")
                .text(
                    "Role",
                    if writer.as_deref() == Some(i.id.as_str()) {
                        "READ_WRITE"
                    } else {
                        "READ_ONLY"
                    },
                );
            health(x, &i.status);
            x.close("member");
        }
    }

    fn describe_target_groups(&self, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let proxy = self.proxy_and_group(p)?;
        x.open("TargetGroups");
        render_target_group(x, "member", proxy);
        x.close("TargetGroups");
        Ok(())
    }

    fn modify_target_group(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        p.required("TargetGroupName")?;
        let key = self.proxy_and_group(p)?.name.to_ascii_lowercase();
        if p.str("NewName").is_some() {
            return Err(invalid("The default target group can't be renamed."));
        }
        let pct = |k: &str| -> AwsResult<Option<i64>> {
            let v = p.int(&format!("ConnectionPoolConfig.{k}"))?;
            if let Some(n) = v {
                if !(0..=100).contains(&n) {
                    return Err(invalid(format!("{k} must be between 0 and 100.")));
                }
            }
            Ok(v)
        };
        let max_conn = pct("MaxConnectionsPercent")?;
        let max_idle = pct("MaxIdleConnectionsPercent")?;
        let borrow = p.int("ConnectionPoolConfig.ConnectionBorrowTimeout")?;
        let init_query = p.string("ConnectionPoolConfig.InitQuery");
        let pinning = p.list("ConnectionPoolConfig.SessionPinningFilters", "member");
        let proxy = self.proxies.get_mut(&key).expect("looked up above");
        let tg = &mut proxy.target_group;
        let max_conn = max_conn.unwrap_or(tg.max_connections_percent);
        let max_idle = max_idle.unwrap_or(tg.max_idle_connections_percent);
        if max_idle > max_conn {
            return Err(invalid(
                "MaxIdleConnectionsPercent can't be greater than MaxConnectionsPercent.",
            ));
        }
        tg.max_connections_percent = max_conn;
        tg.max_idle_connections_percent = max_idle;
        if let Some(v) = borrow {
            tg.connection_borrow_timeout = v;
        }
        if let Some(v) = init_query {
            tg.init_query = Some(v);
        }
        if let Some(v) = pinning {
            tg.session_pinning_filters = v;
        }
        tg.updated = ctx.now;
        render_target_group(x, "DBProxyTargetGroup", proxy);
        Ok(())
    }

    // ---- Tags ---------------------------------------------------------------

    fn tags_mut(&mut self, ctx: &Ctx, arn: &str) -> AwsResult<&mut Vec<(String, String)>> {
        let prefix = format!("arn:aws:rds:{}:{}:", ctx.region, ctx.account_id);
        let rest = arn.strip_prefix(&prefix).ok_or_else(|| {
            invalid(format!(
                "The specified resource name {arn} does not match an RDS resource in this region."
            ))
        })?;
        let (kind, id) = rest.split_once(':').unwrap_or((rest, ""));
        let missing =
            |code: &str, what: &str| AwsError::not_found(code, format!("{what} {id} not found."));
        match kind {
            "cluster" => self
                .clusters
                .get_mut(id)
                .map(|c| &mut c.tags)
                .ok_or_else(|| missing("DBClusterNotFoundFault", "DBCluster")),
            "db" => self
                .instances
                .get_mut(id)
                .map(|i| &mut i.tags)
                .ok_or_else(|| missing("DBInstanceNotFound", "DBInstance")),
            "subgrp" => self
                .subnet_groups
                .get_mut(id)
                .map(|g| &mut g.tags)
                .ok_or_else(|| missing("DBSubnetGroupNotFoundFault", "DBSubnetGroup")),
            "db-proxy" => self
                .proxies
                .values_mut()
                .find(|p| p.arn == arn)
                .map(|p| &mut p.tags)
                .ok_or_else(|| missing("DBProxyNotFoundFault", "DBProxy")),
            "cluster-snapshot" => self
                .snapshots
                .get_mut(id)
                .map(|s| &mut s.tags)
                .ok_or_else(|| missing("DBClusterSnapshotNotFoundFault", "DBClusterSnapshot")),
            _ => Err(invalid(format!(
                "The specified resource name {arn} does not match an RDS resource in this region."
            ))),
        }
    }

    fn add_tags(&mut self, ctx: &Ctx, p: &Params) -> AwsResult<()> {
        let arn = p.required("ResourceName")?.to_string();
        let new = p.tags()?;
        let tags = self.tags_mut(ctx, &arn)?;
        let mut merged = tags.clone();
        merge_tags(&mut merged, new);
        // A rejected request must leave the existing tags untouched.
        if merged.len() > 50 {
            return Err(AwsError::client(
                "TagQuotaPerResourceExceeded",
                "A resource can have at most 50 tags.",
            ));
        }
        *tags = merged;
        Ok(())
    }

    fn remove_tags(&mut self, ctx: &Ctx, p: &Params) -> AwsResult<()> {
        let arn = p.required("ResourceName")?.to_string();
        let keys = p.list("TagKeys", "member").unwrap_or_default();
        let tags = self.tags_mut(ctx, &arn)?;
        tags.retain(|(k, _)| !keys.contains(k));
        Ok(())
    }

    fn list_tags(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let arn = p.required("ResourceName")?.to_string();
        let tags = self.tags_mut(ctx, &arn)?;
        x.tags("TagList", tags);
        Ok(())
    }

    // ---- Cluster snapshots --------------------------------------------------

    fn create_snapshot(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let sid = p
            .required("DBClusterSnapshotIdentifier")?
            .to_ascii_lowercase();
        validate_identifier("DBClusterSnapshotIdentifier", &sid, 63)?;
        let c = self.cluster(p.required("DBClusterIdentifier")?)?;
        if c.status != "available" {
            return Err(AwsError::client(
                "InvalidDBClusterStateFault",
                format!(
                    "Cannot create a snapshot because DB cluster {} is in {} state.",
                    c.id, c.status
                ),
            ));
        }
        if self.snapshots.contains_key(&sid) {
            return Err(AwsError::client(
                "DBClusterSnapshotAlreadyExistsFault",
                format!("Cannot create the cluster snapshot because one with the identifier {sid} already exists."),
            ));
        }
        let mut tags = if c.copy_tags_to_snapshot {
            c.tags.clone()
        } else {
            Vec::new()
        };
        merge_tags(&mut tags, p.tags()?);
        let snap = snapshot_of(ctx, c, &sid, tags);
        render_snapshot(ctx, x, &snap);
        self.snapshots.insert(sid, snap);
        Ok(())
    }

    fn describe_snapshots(&self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let (start, max) = p.page()?;
        let mut snaps: Vec<&Snapshot> = match p.str("DBClusterSnapshotIdentifier") {
            Some(sid) => vec![self.snapshot(sid)?],
            None => self.snapshots.values().collect(),
        };
        if let Some(cid) = p.str("DBClusterIdentifier") {
            let cid = last_arn_segment(cid, "cluster:").to_ascii_lowercase();
            snaps.retain(|s| s.cluster_id == cid);
        }
        if let Some(t) = p.str("SnapshotType") {
            snaps.retain(|s| s.snapshot_type == t);
        }
        for (name, values) in p.filters()? {
            match name.as_str() {
                "db-cluster-id" => snaps.retain(|s| {
                    values.iter().any(|v| {
                        last_arn_segment(v, "cluster:").eq_ignore_ascii_case(&s.cluster_id)
                    })
                }),
                "db-cluster-snapshot-id" => snaps.retain(|s| values.contains(&s.id)),
                "snapshot-type" => snaps.retain(|s| values.contains(&s.snapshot_type)),
                "engine" => snaps.retain(|s| values.contains(&s.engine)),
                _ => return Err(invalid(format!("Unrecognized filter name: {name}"))),
            }
        }
        let page = paginate(&snaps, start, max);
        x.open("DBClusterSnapshots");
        for s in page.items {
            render_snapshot(ctx, x, s);
        }
        x.close("DBClusterSnapshots");
        x.opt("Marker", page.marker.as_deref());
        Ok(())
    }

    fn delete_snapshot(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let sid = self
            .snapshot(p.required("DBClusterSnapshotIdentifier")?)?
            .id
            .clone();
        let mut s = self.snapshots.remove(&sid).expect("looked up above");
        s.status = "deleted".to_string();
        render_snapshot(ctx, x, &s);
        Ok(())
    }

    fn snapshot(&self, sid: &str) -> AwsResult<&Snapshot> {
        let key = last_arn_segment(sid, "cluster-snapshot:").to_ascii_lowercase();
        self.snapshots.get(&key).ok_or_else(|| {
            AwsError::not_found(
                "DBClusterSnapshotNotFoundFault",
                format!("DBClusterSnapshot {sid} not found."),
            )
        })
    }
}

// ---- Rendering --------------------------------------------------------------

fn render_subnet_group(ctx: &Ctx, x: &mut Xml, tag: &str, g: &SubnetGroup) {
    let azs = azs(ctx);
    x.open(tag)
        .text("DBSubnetGroupName", &g.name)
        .text("DBSubnetGroupDescription", &g.description)
        .text("VpcId", &g.vpc_id)
        .text("SubnetGroupStatus", "Complete");
    x.list(
        "Subnets",
        "Subnet",
        g.subnets.iter().enumerate(),
        |x, (n, s)| {
            x.text("SubnetIdentifier", s)
                .open("SubnetAvailabilityZone")
                .text("Name", &azs[n % azs.len()])
                .close("SubnetAvailabilityZone")
                .text("SubnetStatus", "Active");
        },
    );
    x.text("DBSubnetGroupArn", &g.arn);
    x.strings("SupportedNetworkTypes", "member", &["IPV4".to_string()]);
    x.close(tag);
}

fn render_security_groups(x: &mut Xml, sgs: &[String]) {
    x.list(
        "VpcSecurityGroups",
        "VpcSecurityGroupMembership",
        sgs,
        |x, sg| {
            x.text("VpcSecurityGroupId", sg).text("Status", "active");
        },
    );
}

fn render_proxy(ctx: &Ctx, x: &mut Xml, tag: &str, p: &Proxy) {
    x.open(tag)
        .text("DBProxyName", &p.name)
        .text("DBProxyArn", &p.arn)
        .text("Status", &p.status)
        .text("EngineFamily", &p.engine_family)
        .text("VpcId", &p.vpc_id)
        .strings("VpcSecurityGroupIds", "member", &p.security_groups)
        .strings("VpcSubnetIds", "member", &p.subnets)
        .opt("DefaultAuthScheme", p.default_auth_scheme.as_deref());
    x.list("Auth", "member", &p.auth, |x, a| {
        x.opt("Description", a.description.as_deref())
            .opt("UserName", a.user_name.as_deref())
            .text("AuthScheme", &a.auth_scheme)
            .opt("SecretArn", a.secret_arn.as_deref())
            .text("IAMAuth", &a.iam_auth)
            .opt(
                "ClientPasswordAuthType",
                a.client_password_auth_type.as_deref(),
            );
    });
    x.text("RoleArn", &p.role_arn)
        .text(
            "Endpoint",
            &format!(
                "{}.proxy-{}.{}.rds.amazonaws.com",
                p.name.to_ascii_lowercase(),
                account_hash(ctx),
                ctx.region
            ),
        )
        .val("RequireTLS", p.require_tls)
        .val("IdleClientTimeout", p.idle_client_timeout)
        .val("DebugLogging", p.debug_logging)
        .time("CreatedDate", p.created)
        .time("UpdatedDate", p.updated)
        .text("EndpointNetworkType", "IPV4")
        .text("TargetConnectionNetworkType", "IPV4")
        .close(tag);
}

fn render_target_group(x: &mut Xml, tag: &str, p: &Proxy) {
    let tg = &p.target_group;
    x.open(tag)
        .text("DBProxyName", &p.name)
        .text("TargetGroupName", DEFAULT_TARGET_GROUP)
        .text("TargetGroupArn", &tg.arn)
        .val("IsDefault", true)
        .text("Status", "available")
        .open("ConnectionPoolConfig")
        .val("MaxConnectionsPercent", tg.max_connections_percent)
        .val("MaxIdleConnectionsPercent", tg.max_idle_connections_percent)
        .val("ConnectionBorrowTimeout", tg.connection_borrow_timeout)
        .strings(
            "SessionPinningFilters",
            "member",
            &tg.session_pinning_filters,
        )
        .opt("InitQuery", tg.init_query.as_deref())
        .close("ConnectionPoolConfig")
        .time("CreatedDate", tg.created)
        .time("UpdatedDate", tg.updated)
        .close(tag);
}

fn snapshot_of(ctx: &Ctx, c: &Cluster, sid: &str, tags: Vec<(String, String)>) -> Snapshot {
    Snapshot {
        id: sid.to_string(),
        arn: ctx.arn("rds", &format!("cluster-snapshot:{sid}")),
        cluster_id: c.id.clone(),
        cluster_resource_id: c.resource_id.clone(),
        cluster_created: c.created,
        engine: c.engine.clone(),
        engine_version: c.engine_version.clone(),
        master_username: c.master_username.clone(),
        port: c.port,
        vpc_id: c.vpc_id.clone(),
        storage_encrypted: c.storage_encrypted,
        kms_key_id: c.kms_key_id.clone(),
        iam_auth: c.iam_auth,
        snapshot_type: "manual".to_string(),
        tags,
        status: "creating".to_string(),
        until: ctx.now + SNAPSHOT_SECS,
        created: ctx.now,
    }
}

fn render_snapshot(ctx: &Ctx, x: &mut Xml, s: &Snapshot) {
    x.open("DBClusterSnapshot")
        .strings("AvailabilityZones", "AvailabilityZone", &azs(ctx))
        .text("DBClusterSnapshotIdentifier", &s.id)
        .text("DBClusterIdentifier", &s.cluster_id)
        .time("SnapshotCreateTime", s.created)
        .text("Engine", &s.engine)
        .text("EngineMode", "provisioned")
        .val("AllocatedStorage", 0)
        .text("Status", &s.status)
        .val("Port", s.port)
        .text("VpcId", &s.vpc_id)
        .time("ClusterCreateTime", s.cluster_created)
        .text("MasterUsername", &s.master_username)
        .text("EngineVersion", &s.engine_version)
        .text(
            "LicenseModel",
            if s.engine == "aurora-postgresql" {
                "postgresql-license"
            } else {
                "general-public-license"
            },
        )
        .text("SnapshotType", &s.snapshot_type)
        .val(
            "PercentProgress",
            if s.status == "creating" { 0 } else { 100 },
        )
        .val("StorageEncrypted", s.storage_encrypted)
        .opt("KmsKeyId", s.kms_key_id.as_deref())
        .text("DBClusterSnapshotArn", &s.arn)
        .val("IAMDatabaseAuthenticationEnabled", s.iam_auth)
        .tags("TagList", &s.tags)
        .text("DbClusterResourceId", &s.cluster_resource_id)
        .close("DBClusterSnapshot");
}

fn proxy_state_error(p: &Proxy) -> AwsError {
    AwsError::client(
        "InvalidDBProxyStateFault",
        format!("DB proxy {} is in {} state.", p.name, p.status),
    )
}

fn parameter_group_family(c: &Cluster) -> String {
    match c.engine.as_str() {
        "aurora-postgresql" => {
            let major = c.engine_version.split('.').next().unwrap_or("16");
            format!("default.aurora-postgresql{major}")
        }
        _ => "default.aurora-mysql8.0".to_string(),
    }
}

// ---- Validation ---------------------------------------------------------------

/// RDS identifiers: "Must contain from 1 to `max` letters, numbers, or
/// hyphens. First character must be a letter. Can't end with a hyphen or
/// contain two consecutive hyphens." Either case is valid: callers lowercase
/// the identifier first, as RDS stores it ("stored as a lowercase string").
fn validate_identifier(param: &str, id: &str, max: usize) -> AwsResult<()> {
    let well_formed = !id.is_empty()
        && id.len() <= max
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !id.ends_with('-')
        && !id.contains("--");
    if !well_formed {
        return Err(invalid(format!(
            "The parameter {param} is not a valid identifier. Identifiers must begin with a letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens."
        )));
    }
    Ok(())
}

fn validate_proxy_name(name: &str) -> AwsResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "The parameter DBProxyName is not a valid identifier: {name:?}. It must begin with a letter; contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens."
        )))
    }
}

fn validate_subnet_group_name(name: &str) -> AwsResult<()> {
    // "First character must be a letter."
    let ok = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ' ' | '-'))
        && !name.eq_ignore_ascii_case("default");
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "The parameter DBSubnetGroupName is not a valid identifier: {name:?}. It must begin with a letter, contain only letters, digits, periods, underscores, spaces, or hyphens, and must not be \"default\"."
        )))
    }
}

fn validate_subnets(subnets: &[String]) -> AwsResult<()> {
    for s in subnets {
        if !s.starts_with("subnet-") {
            return Err(AwsError::client(
                "InvalidSubnet",
                format!("The subnet ID '{s}' is not valid."),
            ));
        }
    }
    let mut unique = subnets.to_vec();
    unique.sort();
    unique.dedup();
    if unique.len() < 2 {
        // awsim places subnets in distinct AZs, so "two distinct subnets" is
        // AWS's "cover at least two AZs".
        return Err(AwsError::client(
            "DBSubnetGroupDoesNotCoverEnoughAZs",
            format!(
                "The DB subnet group doesn't meet Availability Zone (AZ) coverage requirement. Current AZ coverage: {}. Add subnets to cover at least 2 AZs.",
                unique.len()
            ),
        ));
    }
    Ok(())
}

fn validate_engine_version(engine: &str, v: &str) -> AwsResult<()> {
    let ok = match engine {
        "aurora-postgresql" => {
            let parts: Vec<&str> = v.split('.').collect();
            parts.len() == 2
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
                && parts[0]
                    .parse::<u32>()
                    .is_ok_and(|m| (11..=17).contains(&m))
        }
        _ => v.starts_with("8.0.mysql_aurora.3.") || v.starts_with("5.7.mysql_aurora.2."),
    };
    if ok {
        Ok(())
    } else {
        Err(combination(format!("Cannot find version {v} for {engine}")))
    }
}

fn version_key(v: &str) -> Vec<u64> {
    v.split('.').filter_map(|p| p.parse().ok()).collect()
}

fn validate_master_username(u: &str) -> AwsResult<()> {
    let ok = u.len() <= 63
        && u.starts_with(|c: char| c.is_ascii_alphabetic())
        && u.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !u.eq_ignore_ascii_case("rdsadmin");
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "MasterUsername {u} is not valid: it must be 1 to 63 letters, digits or underscores, begin with a letter, and not be a reserved word."
        )))
    }
}

fn validate_password(pw: &str) -> AwsResult<()> {
    let ok = (8..=128).contains(&pw.len())
        && pw
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '/' | '"' | '@'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "The parameter MasterUserPassword is not a valid password. It must be 8 to 128 printable ASCII characters other than '/', '\"', '@' and space.",
        ))
    }
}

fn validate_database_name(db: &str) -> AwsResult<()> {
    let ok = !db.is_empty()
        && db.len() <= 63
        && db.starts_with(|c: char| c.is_ascii_alphabetic())
        && db.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "DatabaseName {db} is not valid: it must be 1 to 63 letters, digits or underscores and begin with a letter."
        )))
    }
}

fn validate_instance_class(class: &str) -> AwsResult<()> {
    let parts: Vec<&str> = class.split('.').collect();
    let ok = class == "db.serverless"
        || (parts.len() == 3
            && parts[0] == "db"
            && parts[1..].iter().all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            }));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("Invalid DB instance class: {class}")))
    }
}

fn validate_role_arn(arn: &str) -> AwsResult<()> {
    if arn.starts_with("arn:aws:iam::") && arn.contains(":role/") {
        Ok(())
    } else {
        Err(invalid(format!(
            "RoleArn {arn} is not a valid IAM role ARN."
        )))
    }
}

fn validate_idle_timeout(t: i64) -> AwsResult<()> {
    if (1..=28800).contains(&t) {
        Ok(())
    } else {
        Err(invalid(format!(
            "IdleClientTimeout {t} is not valid: it must be between 1 and 28800 seconds."
        )))
    }
}

/// `ServerlessV2ScalingConfiguration.{MinCapacity,MaxCapacity}`: ACUs in
/// steps of 0.5, 0 <= min <= max, 1 <= max <= 256.
fn scaling_config(p: &Params) -> AwsResult<Option<(f64, f64)>> {
    let min = p.float("ServerlessV2ScalingConfiguration.MinCapacity")?;
    let max = p.float("ServerlessV2ScalingConfiguration.MaxCapacity")?;
    let (min, max) = match (min, max) {
        (None, None) => return Ok(None),
        (Some(min), Some(max)) => (min, max),
        _ => {
            return Err(invalid(
                "ServerlessV2ScalingConfiguration requires both MinCapacity and MaxCapacity.",
            ))
        }
    };
    let half_step = |v: f64| (v * 2.0).fract() == 0.0;
    if !(0.0..=256.0).contains(&min) || !half_step(min) {
        return Err(invalid(format!(
            "Serverless v2 MinCapacity {min} isn't valid: it must be between 0 and 256 ACUs in increments of 0.5."
        )));
    }
    if !(1.0..=256.0).contains(&max) || !half_step(max) {
        return Err(invalid(format!(
            "Serverless v2 MaxCapacity {max} isn't valid: it must be between 1 and 256 ACUs in increments of 0.5."
        )));
    }
    if min > max {
        return Err(invalid(format!(
            "Serverless v2 MinCapacity {min} must be less than or equal to MaxCapacity {max}."
        )));
    }
    Ok(Some((min, max)))
}

/// `Auth.member.N.*`; `None` when the list was not sent.
fn proxy_auth(p: &Params, family: &str) -> AwsResult<Option<Vec<ProxyAuth>>> {
    let Some(entries) = p.struct_list("Auth", "member") else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for e in entries {
        let auth_scheme = e
            .get("AuthScheme")
            .cloned()
            .unwrap_or_else(|| "SECRETS".into());
        if auth_scheme != "SECRETS" {
            return Err(invalid(format!(
                "Invalid AuthScheme {auth_scheme}: must be SECRETS."
            )));
        }
        let secret_arn = e.get("SecretArn").cloned();
        match &secret_arn {
            Some(a) if a.starts_with("arn:aws:secretsmanager:") => {}
            Some(a) => {
                return Err(invalid(format!(
                    "SecretArn {a} is not a valid Secrets Manager secret ARN."
                )))
            }
            None => return Err(invalid("Each Auth entry needs a SecretArn.")),
        }
        let iam_auth = e
            .get("IAMAuth")
            .cloned()
            .unwrap_or_else(|| "DISABLED".into());
        match iam_auth.as_str() {
            "DISABLED" | "REQUIRED" => {}
            "ENABLED" if family == "SQLSERVER" => {}
            "ENABLED" => {
                return Err(combination(
                    "IAMAuth ENABLED is only supported for the SQLSERVER engine family.",
                ))
            }
            other => {
                return Err(invalid(format!(
                    "Invalid IAMAuth {other}: must be DISABLED, REQUIRED or ENABLED."
                )))
            }
        }
        let client_password_auth_type = match e.get("ClientPasswordAuthType") {
            Some(t) => {
                let fits = match family {
                    "POSTGRESQL" => t.starts_with("POSTGRES_"),
                    "MYSQL" => t.starts_with("MYSQL_"),
                    _ => t == "SQL_SERVER_AUTHENTICATION",
                };
                if !fits {
                    return Err(invalid(format!(
                        "ClientPasswordAuthType {t} is not valid for engine family {family}."
                    )));
                }
                Some(t.clone())
            }
            None => Some(
                match family {
                    "POSTGRESQL" => "POSTGRES_SCRAM_SHA_256",
                    "MYSQL" => "MYSQL_NATIVE_PASSWORD",
                    _ => "SQL_SERVER_AUTHENTICATION",
                }
                .to_string(),
            ),
        };
        out.push(ProxyAuth {
            description: e.get("Description").cloned(),
            user_name: e.get("UserName").cloned(),
            auth_scheme,
            secret_arn,
            iam_auth,
            client_password_auth_type,
        });
    }
    Ok(Some(out))
}

// ---- Identity and naming ------------------------------------------------------

fn create_master_secret(
    ctx: &Ctx,
    secrets: &mut dyn SecretStore,
    cluster_arn: &str,
    username: &str,
    kms_key_id: String,
) -> MasterSecret {
    let name = format!("rds!cluster-{}", uuid::Uuid::new_v4());
    let secret = serde_json::json!({
        "username": username,
        "password": random_password(32),
    });
    let tags = vec![
        (
            "aws:rds:primaryDBClusterArn".to_string(),
            cluster_arn.to_string(),
        ),
        (
            "aws:secretsmanager:owningService".to_string(),
            "rds".to_string(),
        ),
    ];
    let arn = secrets.create_managed_secret(ctx, &name, &secret.to_string(), &tags);
    MasterSecret { arn, kms_key_id }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The per-account, per-region part of RDS host names (`cluster-<hash>`).
fn account_hash(ctx: &Ctx) -> String {
    let mut v = fnv(&format!("{}/{}", ctx.account_id, ctx.region));
    let alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = String::from("c");
    for _ in 0..11 {
        out.push(alphabet[(v % 36) as usize] as char);
        v /= 36;
    }
    out
}

fn hex_of(seed: &str, len: usize) -> String {
    let mut out = String::new();
    let mut n = 0u32;
    while out.len() < len {
        out.push_str(&format!("{:016x}", fnv(&format!("{seed}#{n}"))));
        n += 1;
    }
    out.truncate(len);
    out
}

/// RDS in awsim knows nothing of EC2, so every resource lives in one
/// stable, account-derived VPC.
fn vpc_of(ctx: &Ctx) -> String {
    format!(
        "vpc-{}",
        hex_of(&format!("vpc/{}/{}", ctx.account_id, ctx.region), 17)
    )
}

fn default_security_group(ctx: &Ctx) -> String {
    format!(
        "sg-{}",
        hex_of(&format!("sg/{}/{}", ctx.account_id, ctx.region), 17)
    )
}

/// The ARN of the AWS-managed key `aws/<service>`.
fn default_kms_key(ctx: &Ctx, service: &str) -> String {
    let h = hex_of(
        &format!("kms/{service}/{}/{}", ctx.account_id, ctx.region),
        32,
    );
    format!(
        "arn:aws:kms:{}:{}:key/{}-{}-{}-{}-{}",
        ctx.region,
        ctx.account_id,
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn hosted_zone(_ctx: &Ctx) -> &'static str {
    "Z2R2ITUGPM61AM"
}

fn azs(ctx: &Ctx) -> Vec<String> {
    ["a", "b", "c"]
        .iter()
        .map(|s| format!("{}{s}", ctx.region))
        .collect()
}

/// Accepts a bare identifier or an ARN whose resource part is `marker<id>`.
fn last_arn_segment<'s>(s: &'s str, marker: &str) -> &'s str {
    if s.starts_with("arn:") {
        if let Some(pos) = s.rfind(marker) {
            return &s[pos + marker.len()..];
        }
    }
    s
}

struct Page<'a, T> {
    items: &'a [T],
    marker: Option<String>,
}

fn paginate<T>(items: &[T], start: usize, max: usize) -> Page<'_, T> {
    let start = start.min(items.len());
    let end = (start + max).min(items.len());
    Page {
        items: &items[start..end],
        marker: (end < items.len()).then(|| end.to_string()),
    }
}

fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

fn random_upper(len: usize) -> String {
    random_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", len)
}

fn random_hex(len: usize) -> String {
    random_from(b"0123456789abcdef", len)
}

fn random_password(len: usize) -> String {
    random_from(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%^&*()-_=+",
        len,
    )
}

#[cfg(test)]
mod tests {
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
}
