//! The Cloud Map service behind `spec.serviceDiscovery`: berth finds its
//! own, adopts one with `spec.adopt`, or creates it in the named namespace
//! (which must exist), and deletes it on delete when it carries berth's tags.

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

/// What [`ensure_service`] found or did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ensured {
    /// Exists and carries berth's owner tag for this object.
    Owned(String),
    Created(String),
    /// Existed without berth's tags; tagged now because `spec.adopt` is true.
    Adopted(String),
    /// Exists without berth's tags and `spec.adopt` is false: not touched.
    AdoptionRequired(String),
}

/// The Cloud Map service `name` in the namespace: berth's own, adopted
/// with `adopt`, or created when missing. One that someone else created is
/// never used silently: registering ECS tasks in it would change what that
/// service answers.
pub async fn ensure_service(
    clients: &Clients,
    sd: &ServiceDiscovery,
    name: &str,
    owner: &str,
    uid: &str,
    adopt: bool,
) -> Result<Ensured, AwsFailure> {
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
    if let Some(arn) = list
        .services()
        .iter()
        .find(|s| s.name() == Some(name))
        .and_then(|s| s.arn())
    {
        let arn = arn.to_string();
        if owned_by(clients, &arn, owner).await? {
            return Ok(Ensured::Owned(arn));
        }
        if !adopt {
            return Ok(Ensured::AdoptionRequired(arn));
        }
        clients
            .call("servicediscovery:TagResource", || {
                clients
                    .cloudmap
                    .tag_resource()
                    .resource_arn(&arn)
                    .tags(tag(TAG_OWNER, owner))
                    .tags(tag(TAG_UID, uid))
                    .tags(tag(TAG_ADOPTED, "true"))
                    .send()
            })
            .await?;
        return Ok(Ensured::Adopted(arn));
    }
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
                .namespace_id(&ns)
                // Idempotent across a crash between create and the status write.
                .creator_request_id(token(
                    CLOUD_MAP_CREATOR_REQUEST_MAX,
                    &["servicediscovery:CreateService", uid, &ns, name],
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
    let arn = out
        .service()
        .and_then(|s| s.arn())
        .unwrap_or_default()
        .to_string();
    Ok(Ensured::Created(arn))
}

/// Marks a Cloud Map service berth adopted: it is berth's to use, but not
/// to delete (only what berth created goes with the EcsService).
pub const TAG_ADOPTED: &str = "berth.dev/adopted";

/// True when the Cloud Map service carries berth's owner tag for `owner`.
pub async fn owned_by(clients: &Clients, arn: &str, owner: &str) -> Result<bool, AwsFailure> {
    Ok(ownership(clients, arn, owner).await? != Ownership::NotOwned)
}

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
        Ok(out) => {
            let has = |k: &str, v: &str| out.tags().iter().any(|t| t.key() == k && t.value() == v);
            Ok(if !has(TAG_OWNER, owner) {
                Ownership::NotOwned
            } else if has(TAG_ADOPTED, "true") {
                Ownership::Adopted
            } else {
                Ownership::Created
            })
        }
        Err(f) => {
            if f.is_code("ResourceNotFoundException") || f.is_code("ServiceNotFound") {
                Ok(Ownership::NotOwned)
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
