//! The Cloud Map service behind `spec.serviceDiscovery`: berth finds it
//! with its tags (whose it is, the caller decides), adopts one, or creates
//! it in the named namespace (which must exist), and deletes it on delete
//! when berth created it for the object.

use std::collections::BTreeMap;

use aws_sdk_servicediscovery::types::{
    DnsConfig, DnsRecord, FilterCondition, HealthCheckCustomConfig, NamespaceFilter,
    NamespaceFilterName, RecordType, RoutingPolicy, ServiceFilter, ServiceFilterName, Tag,
};

use crate::api::ecs_service::{DnsRecordType, ServiceDiscovery};
use crate::aws::tags::{TAG_OWNER, TAG_UID};
use crate::aws::token::{token, CLOUD_MAP_CREATOR_REQUEST_MAX};
use crate::aws::{AwsFailure, Clients, FailureKind};

/// A namespace that does not exist, said the way a user can act on.
pub fn namespace_missing(name: &str) -> AwsFailure {
    AwsFailure {
        kind: FailureKind::Terminal,
        action: "servicediscovery:ListNamespaces",
        code: Some("NamespaceNotFound".into()),
        message: format!(
            "Cloud Map namespace {name:?} (spec.serviceDiscovery.namespaceName) does not exist; berth does not create namespaces"
        ),
    }
}

pub async fn namespace_id(clients: &Clients, sd: &ServiceDiscovery) -> Result<String, AwsFailure> {
    if let Some(id) = &sd.namespace_id {
        return Ok(id.clone());
    }
    let name = sd.namespace_name.clone().unwrap_or_default();
    let out = clients
        .call("servicediscovery:ListNamespaces", || {
            clients
                .cloudmap
                .list_namespaces()
                .filters(
                    NamespaceFilter::builder()
                        .name(NamespaceFilterName::Name)
                        .values(&name)
                        .condition(FilterCondition::Eq)
                        .build()
                        .expect("name and values are set"),
                )
                .send()
        })
        .await?;
    out.namespaces()
        .iter()
        .find(|n| n.name() == Some(name.as_str()))
        .and_then(|n| n.id().map(str::to_string))
        .ok_or_else(|| namespace_missing(&name))
}

/// The Cloud Map service `name` in the namespace `sd` names, with its
/// tags: whose it is is for the caller to decide (`ownership`). Returns the
/// namespace id too, to create the service in when there is none.
pub async fn find_service(
    clients: &Clients,
    sd: &ServiceDiscovery,
    name: &str,
) -> Result<(String, Option<(String, BTreeMap<String, String>)>), AwsFailure> {
    let ns = namespace_id(clients, sd).await?;
    let list = clients
        .call("servicediscovery:ListServices", || {
            clients
                .cloudmap
                .list_services()
                .filters(
                    ServiceFilter::builder()
                        .name(ServiceFilterName::NamespaceId)
                        .values(&ns)
                        .condition(FilterCondition::Eq)
                        .build()
                        .expect("name and values are set"),
                )
                .send()
        })
        .await?;
    let Some(arn) = list
        .services()
        .iter()
        .find(|s| s.name() == Some(name))
        .and_then(|s| s.arn())
        .map(str::to_string)
    else {
        return Ok((ns, None));
    };
    let tags = list_tags(clients, &arn).await?.unwrap_or_default();
    Ok((ns, Some((arn, tags))))
}

/// Puts berth's tags on a Cloud Map service berth adopts (`spec.adopt`):
/// marked adopted, so deleting the EcsService leaves it.
pub async fn adopt_service(
    clients: &Clients,
    arn: &str,
    owner: &str,
    uid: &str,
) -> Result<(), AwsFailure> {
    clients
        .call("servicediscovery:TagResource", || {
            clients
                .cloudmap
                .tag_resource()
                .resource_arn(arn)
                .tags(tag(TAG_OWNER, owner))
                .tags(tag(TAG_UID, uid))
                .tags(tag(TAG_ADOPTED, "true"))
                .send()
        })
        .await?;
    Ok(())
}

/// Creates the Cloud Map service `name` in namespace `ns` with berth's tags.
pub async fn create_service(
    clients: &Clients,
    sd: &ServiceDiscovery,
    ns: &str,
    name: &str,
    owner: &str,
    uid: &str,
) -> Result<String, AwsFailure> {
    let record_type = match sd.dns_record_type {
        DnsRecordType::A => RecordType::A,
        DnsRecordType::Srv => RecordType::Srv,
    };
    let out = clients
        .call("servicediscovery:CreateService", || {
            clients
                .cloudmap
                .create_service()
                .name(name)
                .namespace_id(ns)
                // Idempotent across a crash between create and the status write.
                .creator_request_id(token(
                    CLOUD_MAP_CREATOR_REQUEST_MAX,
                    &["servicediscovery:CreateService", uid, ns, name],
                ))
                .dns_config(
                    DnsConfig::builder()
                        .routing_policy(RoutingPolicy::Multivalue)
                        .dns_records(
                            DnsRecord::builder()
                                .r#type(record_type.clone())
                                .ttl(sd.dns_ttl)
                                .build()
                                .expect("type and ttl are set"),
                        )
                        .build()
                        .expect("records are set"),
                )
                .health_check_custom_config(HealthCheckCustomConfig::builder().build())
                .tags(tag(TAG_OWNER, owner))
                .tags(tag(TAG_UID, uid))
                .send()
        })
        .await?;
    Ok(out
        .service()
        .and_then(|s| s.arn())
        .unwrap_or_default()
        .to_string())
}

/// Marks a Cloud Map service berth adopted: it is berth's to use, but not
/// to delete (only what berth created goes with the EcsService).
pub const TAG_ADOPTED: &str = "berth.dev/adopted";

/// True when berth created the Cloud Map service for `owner`: one it
/// adopted or only found (created by someone else) is never deleted.
pub async fn created_by(clients: &Clients, arn: &str, owner: &str) -> Result<bool, AwsFailure> {
    Ok(ownership(clients, arn, owner).await? == Ownership::Created)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ownership {
    NotOwned,
    Created,
    Adopted,
}

async fn ownership(clients: &Clients, arn: &str, owner: &str) -> Result<Ownership, AwsFailure> {
    let Some(tags) = list_tags(clients, arn).await? else {
        return Ok(Ownership::NotOwned);
    };
    let has = |k: &str, v: &str| tags.get(k).map(String::as_str) == Some(v);
    Ok(if !has(TAG_OWNER, owner) {
        Ownership::NotOwned
    } else if has(TAG_ADOPTED, "true") {
        Ownership::Adopted
    } else {
        Ownership::Created
    })
}

/// The Cloud Map service's tags; `None` when it does not exist.
async fn list_tags(
    clients: &Clients,
    arn: &str,
) -> Result<Option<BTreeMap<String, String>>, AwsFailure> {
    match clients
        .call("servicediscovery:ListTagsForResource", || {
            clients
                .cloudmap
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
        })
        .await
    {
        Ok(out) => Ok(Some(
            out.tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
        )),
        Err(f) => {
            if f.is_code("ResourceNotFoundException") || f.is_code("ServiceNotFound") {
                Ok(None)
            } else {
                Err(f)
            }
        }
    }
}

/// Deletes a Cloud Map service by ARN. `Ok(false)` while ECS still has
/// instances registered (they drain after the ECS service is deleted).
pub async fn delete_service(clients: &Clients, arn: &str) -> Result<bool, AwsFailure> {
    let id = arn.rsplit('/').next().unwrap_or(arn);
    match clients
        .call("servicediscovery:DeleteService", || {
            clients.cloudmap.delete_service().id(id).send()
        })
        .await
    {
        Ok(_) => Ok(true),
        Err(f) => {
            if f.is_code("ServiceNotFound") {
                Ok(true)
            } else if f.is_code("ResourceInUse") {
                Ok(false)
            } else {
                Err(f)
            }
        }
    }
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .expect("key and value are set")
}
