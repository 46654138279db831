//! RDS: the DB subnet group, Aurora cluster, its instances and RDS Proxy of
//! an AuroraCluster, as berth's own view types.
//!
//! RDS has no idempotency tokens: a create whose response was lost answers
//! `*AlreadyExists*` when sent again. Creates are therefore sent once
//! (`call_once`), and an existing resource that carries berth's owner tag
//! counts as created.

use std::collections::BTreeMap;

use aws_sdk_rds::types::{ServerlessV2ScalingConfiguration, Tag};

use super::tags::TAG_OWNER;
use super::{AwsFailure, Clients};

mod proxy;
pub use proxy::*;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterView {
    pub id: String,
    pub arn: String,
    pub status: String,
    pub endpoint: Option<String>,
    pub reader_endpoint: Option<String>,
    pub port: Option<i32>,
    pub resource_id: Option<String>,
    pub master_user_secret_arn: Option<String>,
    pub engine_version: String,
    pub serverless_v2: Option<(f64, f64)>,
    pub deletion_protection: bool,
    pub backup_retention_days: Option<i32>,
    pub iam_auth: bool,
    pub security_group_ids: Vec<String>,
    /// Modifications RDS accepted and has not applied yet.
    pub pending_modifications: bool,
    /// The member DBClusterMembers marks IsClusterWriter.
    pub writer: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceView {
    pub id: String,
    pub arn: String,
    pub status: String,
    pub class: String,
    /// The class a ModifyDBInstance asked for and RDS has not applied yet.
    pub pending_class: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubnetGroupView {
    pub name: String,
    pub arn: String,
    pub subnet_ids: Vec<String>,
    /// Listed only before deleting it (DescribeDBSubnetGroups has no tags).
    pub tags: Option<BTreeMap<String, String>>,
}

/// What CreateDBCluster sends.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterCreate {
    pub id: String,
    pub engine: String,
    pub engine_version: Option<String>,
    pub database_name: Option<String>,
    pub master_username: String,
    pub manage_master_user_password: bool,
    pub iam_auth: bool,
    pub serverless_v2: Option<(f64, f64)>,
    pub storage_encrypted: bool,
    pub backup_retention_days: i32,
    pub deletion_protection: bool,
    pub subnet_group: Option<String>,
    pub security_group_ids: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

/// What ModifyDBCluster sends: only the fields that changed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterModify {
    pub serverless_v2: Option<(f64, f64)>,
    pub backup_retention_days: Option<i32>,
    pub deletion_protection: Option<bool>,
    pub iam_auth: Option<bool>,
    pub security_group_ids: Option<Vec<String>>,
    pub engine_version: Option<String>,
    /// "You must allow major version upgrades when you specify a value for
    /// the EngineVersion parameter that is a different major version than
    /// the DB cluster's current version."
    /// <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBCluster.html>
    pub allow_major_version_upgrade: bool,
}

impl ClusterModify {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The changed fields, for an Event.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some((min, max)) = self.serverless_v2 {
            parts.push(format!("serverless v2 capacity {min}-{max} ACUs"));
        }
        if let Some(d) = self.backup_retention_days {
            parts.push(format!("backup retention {d} days"));
        }
        if let Some(p) = self.deletion_protection {
            parts.push(format!("deletion protection {p}"));
        }
        if let Some(i) = self.iam_auth {
            parts.push(format!("IAM authentication {i}"));
        }
        if let Some(sgs) = &self.security_group_ids {
            parts.push(format!("security groups {}", sgs.join(", ")));
        }
        if let Some(v) = &self.engine_version {
            let major = if self.allow_major_version_upgrade {
                " (major version upgrade)"
            } else {
                ""
            };
            parts.push(format!("engine version {v}{major}"));
        }
        parts.join(", ")
    }
}

/// The outcome of a create that may have been sent before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Created {
    Created,
    /// It exists already and carries berth's owner tag for this object.
    AlreadyOurs,
    /// It exists and is someone else's.
    Foreign,
}

fn tag_list(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn not_found(f: &AwsFailure) -> bool {
    f.code.as_deref().is_some_and(|c| {
        matches!(
            c,
            "DBClusterNotFoundFault"
                | "DBInstanceNotFound"
                | "DBInstanceNotFoundFault"
                | "DBProxyNotFoundFault"
                | "DBSubnetGroupNotFoundFault"
                | "DBProxyTargetGroupNotFoundFault"
        )
    })
}

fn already_exists(f: &AwsFailure) -> bool {
    f.code
        .as_deref()
        .is_some_and(|c| c.contains("AlreadyExists"))
}

pub async fn describe_cluster(
    clients: &Clients,
    id: &str,
) -> Result<Option<ClusterView>, AwsFailure> {
    let out = match clients
        .call("rds:DescribeDBClusters", || {
            clients
                .rds
                .describe_db_clusters()
                .db_cluster_identifier(id)
                .send()
        })
        .await
    {
        Ok(out) => out,
        Err(f) if not_found(&f) => return Ok(None),
        Err(f) => return Err(f),
    };
    Ok(out.db_clusters().first().map(|c| ClusterView {
        id: c.db_cluster_identifier().unwrap_or_default().to_string(),
        arn: c.db_cluster_arn().unwrap_or_default().to_string(),
        status: c.status().unwrap_or_default().to_string(),
        endpoint: c.endpoint().map(str::to_string),
        reader_endpoint: c.reader_endpoint().map(str::to_string),
        port: c.port(),
        resource_id: c.db_cluster_resource_id().map(str::to_string),
        master_user_secret_arn: c
            .master_user_secret()
            .and_then(|s| s.secret_arn())
            .map(str::to_string),
        engine_version: c.engine_version().unwrap_or_default().to_string(),
        serverless_v2: c
            .serverless_v2_scaling_configuration()
            .and_then(|s| Some((s.min_capacity()?, s.max_capacity()?))),
        deletion_protection: c.deletion_protection().unwrap_or(false),
        backup_retention_days: c.backup_retention_period(),
        iam_auth: c.iam_database_authentication_enabled().unwrap_or(false),
        security_group_ids: c
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
            .collect(),
        writer: c
            .db_cluster_members()
            .iter()
            .find(|m| m.is_cluster_writer() == Some(true))
            .and_then(|m| m.db_instance_identifier())
            .map(str::to_string),
        pending_modifications: c.pending_modified_values().is_some_and(|p| {
            p.pending_cloudwatch_logs_exports().is_some()
                || p.db_cluster_identifier().is_some()
                || p.master_user_password().is_some()
                || p.iam_database_authentication_enabled().is_some()
                || p.engine_version().is_some()
                || p.backup_retention_period().is_some()
                || p.allocated_storage().is_some()
                || p.iops().is_some()
                || p.storage_type().is_some()
        }),
        tags: tag_map(c.tag_list()),
    }))
}

/// The instances of cluster `id` (RDS filters by cluster).
pub async fn describe_instances(
    clients: &Clients,
    cluster_id: &str,
) -> Result<Vec<InstanceView>, AwsFailure> {
    let filter = aws_sdk_rds::types::Filter::builder()
        .name("db-cluster-id")
        .values(cluster_id)
        .build();
    let out = clients
        .call("rds:DescribeDBInstances", || {
            clients
                .rds
                .describe_db_instances()
                .filters(filter.clone())
                .send()
        })
        .await?;
    Ok(out
        .db_instances()
        .iter()
        .map(|i| InstanceView {
            id: i.db_instance_identifier().unwrap_or_default().to_string(),
            arn: i.db_instance_arn().unwrap_or_default().to_string(),
            status: i.db_instance_status().unwrap_or_default().to_string(),
            class: i.db_instance_class().unwrap_or_default().to_string(),
            pending_class: i
                .pending_modified_values()
                .and_then(|p| p.db_instance_class())
                .map(str::to_string),
            tags: tag_map(i.tag_list()),
        })
        .collect())
}

pub async fn describe_subnet_group(
    clients: &Clients,
    name: &str,
) -> Result<Option<SubnetGroupView>, AwsFailure> {
    let out = match clients
        .call("rds:DescribeDBSubnetGroups", || {
            clients
                .rds
                .describe_db_subnet_groups()
                .db_subnet_group_name(name)
                .send()
        })
        .await
    {
        Ok(out) => out,
        Err(f) if not_found(&f) => return Ok(None),
        Err(f) => return Err(f),
    };
    Ok(out.db_subnet_groups().first().map(|g| SubnetGroupView {
        name: g.db_subnet_group_name().unwrap_or_default().to_string(),
        arn: g.db_subnet_group_arn().unwrap_or_default().to_string(),
        subnet_ids: g
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_identifier().map(str::to_string))
            .collect(),
        tags: None,
    }))
}

pub async fn list_tags(
    clients: &Clients,
    arn: &str,
) -> Result<BTreeMap<String, String>, AwsFailure> {
    let out = clients
        .call("rds:ListTagsForResource", || {
            clients
                .rds
                .list_tags_for_resource()
                .resource_name(arn)
                .send()
        })
        .await?;
    Ok(tag_map(out.tag_list()))
}

pub async fn add_tags(
    clients: &Clients,
    arn: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsFailure> {
    let list = tag_list(tags);
    clients
        .call("rds:AddTagsToResource", || {
            clients
                .rds
                .add_tags_to_resource()
                .resource_name(arn)
                .set_tags(Some(list.clone()))
                .send()
        })
        .await?;
    Ok(())
}

/// After `*AlreadyExists*`: is the resource ours (its tags name `owner`)?
fn ours(tags: &BTreeMap<String, String>, owner: &str) -> Created {
    if tags.get(TAG_OWNER).map(String::as_str) == Some(owner) {
        Created::AlreadyOurs
    } else {
        Created::Foreign
    }
}

pub async fn create_subnet_group(
    clients: &Clients,
    name: &str,
    subnet_ids: &[String],
    tags: &BTreeMap<String, String>,
) -> Result<Created, AwsFailure> {
    let list = tag_list(tags);
    let owner = tags.get(TAG_OWNER).cloned().unwrap_or_default();
    match clients
        .call_once("rds:CreateDBSubnetGroup", || {
            clients
                .rds
                .create_db_subnet_group()
                .db_subnet_group_name(name)
                .db_subnet_group_description(format!("berth: {owner}"))
                .set_subnet_ids(Some(subnet_ids.to_vec()))
                .set_tags(Some(list.clone()))
                .send()
        })
        .await
    {
        Ok(_) => Ok(Created::Created),
        Err(f) if already_exists(&f) => {
            let Some(g) = describe_subnet_group(clients, name).await? else {
                return Err(f);
            };
            Ok(ours(&list_tags(clients, &g.arn).await?, &owner))
        }
        Err(f) => Err(f),
    }
}

pub async fn create_cluster(clients: &Clients, c: &ClusterCreate) -> Result<Created, AwsFailure> {
    let list = tag_list(&c.tags);
    let scaling = c.serverless_v2.map(|(min, max)| {
        ServerlessV2ScalingConfiguration::builder()
            .min_capacity(min)
            .max_capacity(max)
            .build()
    });
    match clients
        .call_once("rds:CreateDBCluster", || {
            clients
                .rds
                .create_db_cluster()
                .db_cluster_identifier(&c.id)
                .engine(&c.engine)
                .set_engine_version(c.engine_version.clone())
                .set_database_name(c.database_name.clone())
                .master_username(&c.master_username)
                .manage_master_user_password(c.manage_master_user_password)
                .enable_iam_database_authentication(c.iam_auth)
                .set_serverless_v2_scaling_configuration(scaling.clone())
                .storage_encrypted(c.storage_encrypted)
                .backup_retention_period(c.backup_retention_days)
                .deletion_protection(c.deletion_protection)
                .set_db_subnet_group_name(c.subnet_group.clone())
                .set_vpc_security_group_ids(Some(c.security_group_ids.clone()))
                .copy_tags_to_snapshot(true)
                .set_tags(Some(list.clone()))
                .send()
        })
        .await
    {
        Ok(_) => Ok(Created::Created),
        Err(f) if already_exists(&f) => {
            let Some(existing) = describe_cluster(clients, &c.id).await? else {
                return Err(f);
            };
            Ok(ours(
                &existing.tags,
                c.tags
                    .get(TAG_OWNER)
                    .map(String::as_str)
                    .unwrap_or_default(),
            ))
        }
        Err(f) => Err(f),
    }
}

pub async fn create_instance(
    clients: &Clients,
    id: &str,
    cluster_id: &str,
    engine: &str,
    class: &str,
    tags: &BTreeMap<String, String>,
) -> Result<Created, AwsFailure> {
    let list = tag_list(tags);
    match clients
        .call_once("rds:CreateDBInstance", || {
            clients
                .rds
                .create_db_instance()
                .db_instance_identifier(id)
                .db_cluster_identifier(cluster_id)
                .engine(engine)
                .db_instance_class(class)
                .set_tags(Some(list.clone()))
                .send()
        })
        .await
    {
        Ok(_) => Ok(Created::Created),
        Err(f) if already_exists(&f) => {
            let out = clients
                .call("rds:DescribeDBInstances", || {
                    clients
                        .rds
                        .describe_db_instances()
                        .db_instance_identifier(id)
                        .send()
                })
                .await?;
            let existing = out.db_instances().first().map(|i| tag_map(i.tag_list()));
            let owner = tags.get(TAG_OWNER).map(String::as_str).unwrap_or_default();
            Ok(ours(&existing.unwrap_or_default(), owner))
        }
        Err(f) => Err(f),
    }
}

/// ApplyImmediately: a change the user made is wanted now, not in the next
/// maintenance window.
pub async fn modify_cluster(
    clients: &Clients,
    id: &str,
    m: &ClusterModify,
) -> Result<(), AwsFailure> {
    let scaling = m.serverless_v2.map(|(min, max)| {
        ServerlessV2ScalingConfiguration::builder()
            .min_capacity(min)
            .max_capacity(max)
            .build()
    });
    clients
        .call("rds:ModifyDBCluster", || {
            clients
                .rds
                .modify_db_cluster()
                .db_cluster_identifier(id)
                .apply_immediately(true)
                .set_serverless_v2_scaling_configuration(scaling.clone())
                .set_backup_retention_period(m.backup_retention_days)
                .set_deletion_protection(m.deletion_protection)
                .set_enable_iam_database_authentication(m.iam_auth)
                .set_vpc_security_group_ids(m.security_group_ids.clone())
                .set_engine_version(m.engine_version.clone())
                .set_allow_major_version_upgrade(
                    Some(true).filter(|_| m.allow_major_version_upgrade),
                )
                .send()
        })
        .await?;
    Ok(())
}

/// A new instance class, applied now (ApplyImmediately) rather than in
/// the next maintenance window; RDS restarts the instance to apply it.
pub async fn modify_instance(clients: &Clients, id: &str, class: &str) -> Result<(), AwsFailure> {
    clients
        .call("rds:ModifyDBInstance", || {
            clients
                .rds
                .modify_db_instance()
                .db_instance_identifier(id)
                .db_instance_class(class)
                .apply_immediately(true)
                .send()
        })
        .await?;
    Ok(())
}

/// Deletes; `false` when it was gone already.
pub async fn delete_instance(clients: &Clients, id: &str) -> Result<bool, AwsFailure> {
    gone_is_ok(
        clients
            .call("rds:DeleteDBInstance", || {
                clients
                    .rds
                    .delete_db_instance()
                    .db_instance_identifier(id)
                    .send()
            })
            .await,
    )
}

/// With `final_snapshot` RDS takes that snapshot before deleting.
pub async fn delete_cluster(
    clients: &Clients,
    id: &str,
    final_snapshot: Option<&str>,
) -> Result<bool, AwsFailure> {
    gone_is_ok(
        clients
            .call("rds:DeleteDBCluster", || {
                clients
                    .rds
                    .delete_db_cluster()
                    .db_cluster_identifier(id)
                    .skip_final_snapshot(final_snapshot.is_none())
                    .set_final_db_snapshot_identifier(final_snapshot.map(str::to_string))
                    .send()
            })
            .await,
    )
}

pub async fn delete_subnet_group(clients: &Clients, name: &str) -> Result<bool, AwsFailure> {
    gone_is_ok(
        clients
            .call("rds:DeleteDBSubnetGroup", || {
                clients
                    .rds
                    .delete_db_subnet_group()
                    .db_subnet_group_name(name)
                    .send()
            })
            .await,
    )
}

fn gone_is_ok<T>(r: Result<T, AwsFailure>) -> Result<bool, AwsFailure> {
    match r {
        Ok(_) => Ok(true),
        Err(f) if not_found(&f) => Ok(false),
        Err(f) => Err(f),
    }
}
