//! What AWS holds, read (and, for "someone else's" resources, made) through
//! awsim as a user with the console or CLI would: ECS services, Cloud Map,
//! ECR pull through cache rules, RDS.

use aws_sdk_ecs::types::{Service, ServiceField};
use aws_sdk_servicediscovery::types::{DnsConfig, DnsRecord, RecordType};

use super::Env;

/// How many RDS clusters, instances and proxies there are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RdsCounts {
    pub clusters: usize,
    pub instances: usize,
    pub proxies: usize,
}

impl Env {
    /// ECS service `service` of cluster `shop` as DescribeServices returns it.
    pub async fn ecs_service(&self, service: &str) -> Service {
        self.describe_ecs_service(service, false).await
    }

    /// The same, with its tags.
    pub async fn ecs_service_with_tags(&self, service: &str) -> Service {
        self.describe_ecs_service(service, true).await
    }

    async fn describe_ecs_service(&self, service: &str, tags: bool) -> Service {
        let ecs = aws_sdk_ecs::Client::new(&self.aws().await);
        let mut request = ecs.describe_services().cluster("shop").services(service);
        if tags {
            request = request.include(ServiceField::Tags);
        }
        request.send().await.unwrap().services()[0].clone()
    }

    /// ECS task `arn` of cluster `shop` as DescribeTasks returns it.
    pub async fn ecs_task(&self, arn: impl Into<String>) -> aws_sdk_ecs::types::Task {
        aws_sdk_ecs::Client::new(&self.aws().await)
            .describe_tasks()
            .cluster("shop")
            .tasks(arn)
            .send()
            .await
            .unwrap()
            .tasks()[0]
            .clone()
    }

    /// The id of Cloud Map namespace `shop.internal` (awsim's seed).
    pub async fn shop_internal_namespace_id(&self) -> String {
        aws_sdk_servicediscovery::Client::new(&self.aws().await)
            .list_namespaces()
            .send()
            .await
            .unwrap()
            .namespaces()
            .iter()
            .find(|n| n.name() == Some("shop.internal"))
            .and_then(|n| n.id().map(str::to_string))
            .expect("Cloud Map namespace shop.internal")
    }

    /// Creates Cloud Map service `name` (one A record of `ttl` seconds) in
    /// `shop.internal` as someone other than berth would.
    pub async fn create_cloud_map_service(
        &self,
        name: &str,
        ttl: i64,
    ) -> aws_sdk_servicediscovery::types::Service {
        let ns_id = self.shop_internal_namespace_id().await;
        aws_sdk_servicediscovery::Client::new(&self.aws().await)
            .create_service()
            .name(name)
            .namespace_id(&ns_id)
            .dns_config(
                DnsConfig::builder()
                    .dns_records(
                        DnsRecord::builder()
                            .r#type(RecordType::A)
                            .ttl(ttl)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap()
            .service()
            .cloned()
            .expect("the created service")
    }

    /// ECR's pull through cache rules: (repository prefix, credential ARN).
    pub async fn pull_through_cache_rules(&self) -> Vec<(String, Option<String>)> {
        aws_sdk_ecr::Client::new(&self.aws().await)
            .describe_pull_through_cache_rules()
            .send()
            .await
            .unwrap()
            .pull_through_cache_rules()
            .iter()
            .map(|r| {
                (
                    r.ecr_repository_prefix().unwrap_or_default().to_string(),
                    r.credential_arn().map(str::to_string),
                )
            })
            .collect()
    }

    /// How many RDS clusters, instances and proxies exist.
    pub async fn rds_counts(&self) -> RdsCounts {
        let rds = aws_sdk_rds::Client::new(&self.aws().await);
        RdsCounts {
            clusters: rds
                .describe_db_clusters()
                .send()
                .await
                .unwrap()
                .db_clusters()
                .len(),
            instances: rds
                .describe_db_instances()
                .send()
                .await
                .unwrap()
                .db_instances()
                .len(),
            proxies: rds
                .describe_db_proxies()
                .send()
                .await
                .unwrap()
                .db_proxies()
                .len(),
        }
    }
}
