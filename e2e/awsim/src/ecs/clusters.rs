//! Clusters: CreateCluster, DescribeClusters, ListClusters, DeleteCluster.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::core::{AwsError, AwsResult, Ctx};
use crate::util::{obj, paginate, str_field, str_list};

use super::tags::{merge_tags, tags_of};
use super::{cluster_not_found, include_tags, invalid, unknown_op, EcsState};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub name: String,
    pub arn: String,
    pub status: String,
    pub tags: Vec<Value>,
    pub settings: Value,
    pub capacity_providers: Vec<String>,
    pub created_at: f64,
}

/// `name` or `arn:aws:ecs:REGION:ACCOUNT:cluster/NAME` -> NAME.
pub(super) fn cluster_name(id: &str) -> &str {
    match id.split_once(":cluster/") {
        Some((_, n)) if id.starts_with("arn:") => n,
        _ => id,
    }
}

impl EcsState {
    pub(super) fn cluster_op(&mut self, ctx: &Ctx, op: &str, body: &Value) -> AwsResult<Value> {
        match op {
            "CreateCluster" => {
                let name = str_field(body, "clusterName").unwrap_or("default");
                if !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    || name.len() > 255
                {
                    return Err(invalid(
                        "Cluster name can only contain letters, numbers, hyphens and underscores (up to 255).",
                    ));
                }
                self.ensure_cluster(ctx, name);
                let c = self.clusters.get_mut(name).ok_or_else(cluster_not_found)?;
                c.status = "ACTIVE".into();
                merge_tags(&mut c.tags, &tags_of(body));
                if let Some(s) = body.get("settings") {
                    c.settings = s.clone();
                }
                c.capacity_providers = str_list(body, "capacityProviders");
                let c = c.clone();
                Ok(json!({"cluster": self.cluster_json(&c, true)}))
            }
            "DescribeClusters" => {
                let mut ids = str_list(body, "clusters");
                if ids.is_empty() {
                    ids.push("default".into());
                }
                let tags = include_tags(body);
                let mut clusters = vec![];
                let mut failures = vec![];
                for id in ids {
                    match self.clusters.get(cluster_name(&id)) {
                        Some(c) => clusters.push(self.cluster_json(c, tags)),
                        None => failures.push(json!({
                            "arn": if id.starts_with("arn:") { id.clone() } else { ctx.arn("ecs", &format!("cluster/{id}")) },
                            "reason": "MISSING",
                        })),
                    }
                }
                Ok(json!({"clusters": clusters, "failures": failures}))
            }
            "ListClusters" => {
                let arns: Vec<String> = self
                    .clusters
                    .values()
                    .filter(|c| c.status == "ACTIVE")
                    .map(|c| c.arn.clone())
                    .collect();
                let (page, next) = paginate(&arns, body, 100);
                Ok(obj(vec![
                    ("clusterArns", json!(page)),
                    ("nextToken", json!(next)),
                ]))
            }
            "DeleteCluster" => {
                let name = self.cluster(body)?.name.clone();
                if self
                    .services
                    .iter()
                    .any(|s| s.cluster_name == name && s.status != "INACTIVE")
                {
                    return Err(AwsError::client(
                        "ClusterContainsServicesException",
                        "The Cluster cannot be deleted while Services are active.",
                    ));
                }
                if self
                    .tasks
                    .values()
                    .any(|t| t.cluster_name == name && t.is_active())
                {
                    return Err(AwsError::client(
                        "ClusterContainsTasksException",
                        "The Cluster cannot be deleted while Tasks are active.",
                    ));
                }
                let c = self.clusters.get_mut(&name).ok_or_else(cluster_not_found)?;
                c.status = "INACTIVE".into();
                let c = c.clone();
                Ok(json!({"cluster": self.cluster_json(&c, false)}))
            }
            _ => Err(unknown_op(op)),
        }
    }

    pub fn ensure_cluster(&mut self, ctx: &Ctx, name: &str) -> String {
        self.clusters
            .entry(name.to_string())
            .or_insert_with(|| Cluster {
                name: name.to_string(),
                arn: ctx.arn("ecs", &format!("cluster/{name}")),
                status: "ACTIVE".into(),
                tags: vec![],
                settings: json!([{"name": "containerInsights", "value": "disabled"}]),
                capacity_providers: vec![],
                created_at: ctx.now,
            })
            .arn
            .clone()
    }

    pub(super) fn cluster(&self, body: &Value) -> AwsResult<&Cluster> {
        let id = str_field(body, "cluster").unwrap_or("default");
        self.clusters
            .get(cluster_name(id))
            .filter(|c| c.status == "ACTIVE")
            .ok_or_else(cluster_not_found)
    }

    pub(super) fn cluster_json(&self, c: &Cluster, include_tags: bool) -> Value {
        let running = self
            .tasks
            .values()
            .filter(|t| t.cluster_name == c.name && t.is_running())
            .count();
        let pending = self
            .tasks
            .values()
            .filter(|t| t.cluster_name == c.name && t.is_pending())
            .count();
        let services = self
            .services
            .iter()
            .filter(|s| s.cluster_name == c.name && s.status == "ACTIVE")
            .count();
        obj(vec![
            ("clusterArn", json!(c.arn)),
            ("clusterName", json!(c.name)),
            ("status", json!(c.status)),
            ("registeredContainerInstancesCount", json!(0)),
            ("runningTasksCount", json!(running)),
            ("pendingTasksCount", json!(pending)),
            ("activeServicesCount", json!(services)),
            ("statistics", json!([])),
            (
                "tags",
                if include_tags {
                    json!(c.tags)
                } else {
                    Value::Null
                },
            ),
            ("settings", c.settings.clone()),
            ("capacityProviders", json!(c.capacity_providers)),
            ("defaultCapacityProviderStrategy", json!([])),
        ])
    }
}
