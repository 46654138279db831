//! Drives every RDS and ECR request berth builds: the AuroraCluster plan is
//! walked from nothing to a cluster with its instances and proxy (each
//! action sent through the adapter, the views updated as RDS would report
//! them), then the modifications of every field (cluster, engine upgrade,
//! instance class, proxy settings), adoption tags, a scale-down and the
//! deletions; the PullThroughCache rule through create, update, validate,
//! diagnosis and delete.

use std::sync::Arc;

use berth::api::{AuroraCluster, PullThroughCache};
use berth::aws::rds::{
    ClusterView, InstanceView, ProxyAuth, ProxyView, SubnetGroupView, TargetView,
};
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
            owners: &Default::default(),
            paused: false,
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
                    tags: None,
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
                    writer: None,
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
                if let Some(c) = o.cluster.as_mut() {
                    c.writer.get_or_insert(id.clone());
                }
                o.instances.push(InstanceView {
                    arn: format!("arn:aws:rds:us-east-1:{ACCOUNT}:db:{id}"),
                    id,
                    status: "available".into(),
                    class,
                    pending_class: None,
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
                    security_group_ids: p.security_group_ids.clone(),
                    require_tls: p.require_tls,
                    idle_client_timeout: Some(p.idle_client_timeout),
                    role_arn: p.role_arn.clone(),
                    auth: vec![ProxyAuth {
                        secret_arn: Some(p.secret_arn.clone()),
                        iam_auth: if p.iam_auth_required {
                            "REQUIRED"
                        } else {
                            "DISABLED"
                        }
                        .into(),
                        client_password_auth_type: Some("POSTGRES_SCRAM_SHA_256".into()),
                        ..Default::default()
                    }],
                    tags: Some(p.tags.clone()),
                });
            }
            RdsAction::RegisterTarget { proxy, cluster } => {
                rds::register_proxy_target(clients, &proxy, &cluster)
                    .await
                    .unwrap();
                o.target = Some(TargetView {
                    cluster_id: cluster,
                    state: "AVAILABLE".into(),
                    reason: None,
                    description: None,
                });
            }
            RdsAction::AdoptCluster { arn, tags } | RdsAction::TagCluster { arn, tags } => {
                rds::add_tags(clients, &arn, &tags).await.unwrap();
                if let Some(c) = o.cluster.as_mut() {
                    c.tags.extend(tags);
                }
            }
            RdsAction::AdoptInstance { arn, tags, .. }
            | RdsAction::AdoptProxy { arn, tags, .. } => {
                rds::add_tags(clients, &arn, &tags).await.unwrap();
                break;
            }
            RdsAction::ModifyCluster(m) => {
                rds::modify_cluster(clients, &id, &m).await.unwrap();
                break;
            }
            RdsAction::ModifyInstance { id, class } => {
                rds::modify_instance(clients, &id, &class).await.unwrap();
                break;
            }
            RdsAction::DeleteInstance { id } => {
                rds::delete_instance(clients, &id).await.unwrap();
                break;
            }
            RdsAction::ModifyProxy { name, modify } => {
                rds::modify_proxy(clients, &name, &modify).await.unwrap();
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
        // An engine upgrade across majors (AllowMajorVersionUpgrade).
        let older = ClusterView {
            engine_version: "1.0".into(),
            ..c.clone()
        };
        let mut upgrade = obj.clone();
        upgrade.spec.engine_version = Some("17.2".into());
        let m = aurora::cluster_modify(&upgrade, &older);
        assert!(m.allow_major_version_upgrade, "{m:?}");
        rds::modify_cluster(clients, &id, &m).await.unwrap();
        rds::list_tags(clients, &c.arn).await.unwrap();
        rds::add_tags(clients, &c.arn, &c.tags).await.unwrap();
    }
    // A class change of every instance.
    for i in &o.instances {
        rds::modify_instance(clients, &i.id, "db.r6g.large")
            .await
            .unwrap();
    }
    // A modification of every proxy setting the plan can change.
    if let (Some(ps), Some(p)) = (obj.spec.proxy.as_ref(), o.proxy.as_ref()) {
        let drifted = ProxyView {
            require_tls: !ps.require_tls,
            idle_client_timeout: Some(ps.idle_client_timeout + 1),
            role_arn: format!("arn:aws:iam::{ACCOUNT}:role/other"),
            security_group_ids: vec!["sg-0a1b2c3d4e5f6ffff".into()],
            auth: p
                .auth
                .iter()
                .map(|a| ProxyAuth {
                    iam_auth: "ENABLED".into(),
                    ..a.clone()
                })
                .collect(),
            ..p.clone()
        };
        let m = aurora::proxy_modify(obj, ps, &drifted);
        assert!(m.require_tls.is_some() && m.auth.is_some(), "{m:?}");
        rds::modify_proxy(clients, &p.name, &m).await.unwrap();
    }
    // What observe and cleanup send.
    rds::describe_cluster(clients, &id).await.unwrap();
    rds::describe_instances(clients, &id).await.unwrap();
    let proxy = aurora::proxy_name(obj);
    rds::describe_proxy(clients, &proxy, |_| true)
        .await
        .unwrap();
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
    ecr::repositories_under(clients, &r.prefix, registry)
        .await
        .unwrap();
    // A repository that does not exist: the shape is what counts, and both
    // calls take RepositoryNotFoundException as "nothing to record".
    let arn = format!(
        "arn:aws:ecr:us-east-1:123456789012:repository/{}/app",
        r.prefix
    );
    let key = berth::aws::tags::TAG_PULL_THROUGH_CACHE;
    ecr::tag_repository(clients, &arn, key, &r.prefix)
        .await
        .unwrap();
    ecr::repository_tag(clients, &arn, key).await.unwrap();
    ecr::templates(clients).await.unwrap();
    ecr::delete_rule(clients, &r.prefix, registry)
        .await
        .unwrap();
}
