//! RDS (awsQuery): DB subnet groups, Aurora clusters, instances, proxies.
//! Owned by the RDS/Cloud Map work stream; the server calls only
//! [`RdsState::handle`] and [`RdsState::tick`].
//!
//! Element and parameter names follow aws-sdk-rds's (de)serializers: most
//! lists are wrapped in named members (`DBClusters/DBCluster`,
//! `VpcSecurityGroupIds.VpcSecurityGroupId.N`) but the proxy API uses plain
//! `member` (`DBProxies/member`, `Auth.member.N`).
//!
//! Each operation group is its own file adding methods to [`RdsState`]
//! (`subnet_groups`, `clusters`, `instances`, `proxies`, `tags`,
//! `snapshots`); the helpers several groups share (`validate`, `naming`,
//! renderers) are glob-imported below so that every file reaches them, and
//! the state types, through one `use super::*`.

mod clusters;
mod instances;
mod naming;
mod params;
mod proxies;
mod snapshots;
mod subnet_groups;
mod tags;
#[cfg(test)]
mod tests;
mod validate;
mod xml;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::{AwsError, AwsResult, Ctx, SecretStore};
use crate::util::page;
use instances::*;
use naming::*;
use params::{combination, invalid, merge_tags, Params};
use snapshots::*;
use subnet_groups::*;
use validate::*;
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
}
