//! Drives every RDS and ECR request berth builds: the AuroraCluster plan is
//! walked from nothing to a cluster with its instances and proxy (each
//! action sent through the adapter, the views updated as RDS would report
//! them), then a modification, tags and the deletions; the PullThroughCache
//! rule through create, update, validate, diagnosis and delete.

use std::sync::Arc;

use berth::api::{AuroraCluster, PullThroughCache};
use berth::aws::rds::{ClusterView, InstanceView, ProxyView, SubnetGroupView, TargetView};
use berth::aws::{ecr, rds, Clients};
use berth::controller::aurora_cluster::plan::{self as aurora, Observed, RdsAction};
use berth::controller::pull_through_cache::plan as ptc;

const ACCOUNT: &str = "123456789012";

pub async fn aurora_requests(clients: &Arc<Clients>, obj: &AuroraCluster) {
    let owner = format!("shop/{}", obj.metadata.name.as_deref().unwrap());
    let uid = obj.metadata.uid.clone().unwrap();
    let id = obj.cluster_identifier();
    let mut o = Observed::default();
    for _ in 0..20 {
        let p = aurora::plan(&aurora::Inputs {
            obj,
            owner: &owner,
            uid: &uid,
            observed: &o,
        });
        match p.action {
            RdsAction::Nothing => break,
            RdsAction::CreateSubnetGroup {
                name,
                subnet_ids,
                tags,
            } => {
                rds::create_subnet_group(clients, &name, &subnet_ids, &tags)
                    .await
                    .unwrap();
                o.subnet_group = Some(SubnetGroupView {
                    name,
                    arn: format!("arn:aws:rds:us-east-1:{ACCOUNT}:subgrp:x"),
                    subnet_ids,
                });
            }
            RdsAction::CreateCluster(c) => {
                rds::create_cluster(clients, &c).await.unwrap();
                o.cluster = Some(ClusterView {
                    id: c.id.clone(),
                    arn: format!("arn:aws:rds:us-east-1:{ACCOUNT}:cluster:{}", c.id),
                    status: "available".into(),
                    endpoint: Some(format!("{}.cluster-x.us-east-1.rds.amazonaws.com", c.id)),
                    reader_endpoint: Some(format!(
                        "{}.cluster-ro-x.us-east-1.rds.amazonaws.com",
                        c.id
                    )),
                    port: Some(5432),
                    resource_id: Some("cluster-ABCDEFGHIJKL".into()),
                    master_user_secret_arn: Some(format!(
                        "arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:rds!cluster-x-AbCdEf"
                    )),
                    engine_version: c.engine_version.clone().unwrap_or("16.4".into()),
                    serverless_v2: c.serverless_v2,
                    deletion_protection: c.deletion_protection,
                    backup_retention_days: Some(c.backup_retention_days),
                    iam_auth: c.iam_auth,
                    security_group_ids: c.security_group_ids.clone(),
                    pending_modifications: false,
                    tags: c.tags.clone(),
                });
            }
            RdsAction::CreateInstance { id, class, tags } => {
                rds::create_instance(
                    clients,
                    &id,
                    &obj.cluster_identifier(),
                    obj.spec.engine.as_aws(),
                    &class,
                    &tags,
                )
                .await
                .unwrap();
                o.instances.push(InstanceView {
                    id,
                    status: "available".into(),
                    class,
                    tags,
                });
            }
            RdsAction::CreateProxy(p) => {
                rds::create_proxy(clients, &p).await.unwrap();
                o.proxy = Some(ProxyView {
                    name: p.name.clone(),
                    arn: format!("arn:aws:rds:us-east-1:{ACCOUNT}:db-proxy:prx-x"),
                    status: "available".into(),
                    endpoint: Some(format!("{}.proxy-x.us-east-1.rds.amazonaws.com", p.name)),
                    subnet_ids: p.subnet_ids.clone(),
                });
            }
            RdsAction::RegisterTarget { proxy, cluster } => {
                rds::register_proxy_target(clients, &proxy, &cluster)
                    .await
                    .unwrap();
                o.target = Some(TargetView {
                    cluster_id: cluster,
                    state: "AVAILABLE".into(),
                    description: None,
                });
            }
            RdsAction::AdoptCluster { arn, tags } | RdsAction::TagCluster { arn, tags } => {
                rds::add_tags(clients, &arn, &tags).await.unwrap();
                if let Some(c) = o.cluster.as_mut() {
                    c.tags.extend(tags);
                }
            }
            RdsAction::ModifyCluster(m) => {
                rds::modify_cluster(clients, &id, &m).await.unwrap();
                break;
            }
        }
    }
    // A modification of every field the plan can change.
    if let Some(c) = &o.cluster {
        let drifted = ClusterView {
            serverless_v2: Some((0.5, 1.0)),
            backup_retention_days: Some(1),
            deletion_protection: !c.deletion_protection,
            iam_auth: !c.iam_auth,
            security_group_ids: vec!["sg-0a1b2c3d4e5f6ffff".into()],
            ..c.clone()
        };
        let m = aurora::cluster_modify(obj, &drifted);
        rds::modify_cluster(clients, &id, &m).await.unwrap();
        rds::list_tags(clients, &c.arn).await.unwrap();
        rds::add_tags(clients, &c.arn, &c.tags).await.unwrap();
    }
    // What observe and cleanup send.
    rds::describe_cluster(clients, &id).await.unwrap();
    rds::describe_instances(clients, &id).await.unwrap();
    let proxy = aurora::proxy_name(obj);
    rds::describe_proxy(clients, &proxy).await.unwrap();
    rds::describe_proxy_target(clients, &proxy).await.unwrap();
    rds::delete_proxy(clients, &proxy).await.unwrap();
    for i in &o.instances {
        rds::delete_instance(clients, &i.id).await.unwrap();
    }
    let snapshot = format!("{id}-final-0b6a1f3e");
    rds::delete_cluster(clients, &id, Some(&snapshot))
        .await
        .unwrap();
    rds::delete_cluster(clients, &id, None).await.unwrap();
    if let Some(name) = aurora::subnet_group_name(obj) {
        rds::describe_subnet_group(clients, &name).await.unwrap();
        rds::delete_subnet_group(clients, &name).await.unwrap();
    }
}

pub async fn ptc_requests(clients: &Arc<Clients>, obj: &PullThroughCache) {
    let r = ptc::request(&obj.spec);
    let registry = obj.spec.registry_id.as_deref();
    ecr::rules(clients, registry).await.unwrap();
    ecr::create_rule(clients, &r).await.unwrap();
    ecr::update_rule(clients, &r).await.unwrap();
    ecr::validate_rule(clients, &r.prefix, registry)
        .await
        .unwrap();
    ecr::repositories_under(clients, &r.prefix, registry, None)
        .await
        .unwrap();
    ecr::templates(clients).await.unwrap();
    ecr::delete_rule(clients, &r.prefix, registry)
        .await
        .unwrap();
}
