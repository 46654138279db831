//! Cloud Map (awsJson1_1, `Route53AutoNaming_v20170314`): namespaces,
//! services, async operations, instances. Owned by the RDS/Cloud Map work
//! stream; the server calls only the public functions below.
//!
//! Like AWS, namespace creation/deletion, instance (de)registration and
//! service updates are asynchronous: the call returns an `OperationId` and
//! the change becomes visible when the operation reaches `SUCCESS` (after a
//! few virtual seconds, see [`CloudMapState::tick`]). ECS's own registration
//! of tasks ([`CloudMapState::register_instance`]) is immediate, because ECS
//! hides that operation from its callers.
//!
//! One file per operation group (`namespaces`, `services`, `instances`,
//! `operations`) adds methods to [`CloudMapState`]; their shared helpers are
//! glob-imported here so each file reaches them through `use super::*`.

mod common;
mod instances;
mod namespaces;
mod operations;
mod services;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::core::{AwsError, AwsResult, Ctx};
use common::*;
use instances::*;
use namespaces::*;
use operations::*;
use services::*;

/// Virtual seconds from SUBMITTED to PENDING, and from PENDING to the end.
/// Namespaces take longer (AWS creates a Route 53 hosted zone).
const OP_PENDING_AFTER: f64 = 1.0;
const NAMESPACE_OP_SECS: f64 = 5.0;
const OTHER_OP_SECS: f64 = 2.0;
const MAX_TAGS: usize = 50;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct CloudMapState {
    namespaces: BTreeMap<String, Namespace>,
    services: BTreeMap<String, Service>,
    operations: BTreeMap<String, Operation>,
    /// Orders operations that complete in the same tick.
    next_seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Namespace {
    id: String,
    arn: String,
    name: String,
    ns_type: String,
    description: Option<String>,
    vpc: Option<String>,
    hosted_zone_id: Option<String>,
    soa_ttl: Option<i64>,
    create_date: f64,
    creator_request_id: Option<String>,
    create_operation_id: Option<String>,
    tags: Vec<(String, String)>,
    /// False until its CREATE_NAMESPACE operation succeeds: AWS shows no
    /// namespace before that.
    ready: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct DnsConfig {
    routing_policy: String,
    records: Vec<(String, i64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Instance {
    id: String,
    creator_request_id: Option<String>,
    attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Service {
    id: String,
    arn: String,
    name: String,
    namespace_id: String,
    description: Option<String>,
    dns_config: Option<DnsConfig>,
    service_type: String,
    health_check_config: Option<Value>,
    health_check_custom_config: Option<Value>,
    create_date: f64,
    creator_request_id: Option<String>,
    tags: Vec<(String, String)>,
    instances: BTreeMap<String, Instance>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Effect {
    CreateNamespace {
        namespace_id: String,
    },
    DeleteNamespace {
        namespace_id: String,
    },
    RegisterInstance {
        service_id: String,
        instance: Instance,
    },
    DeregisterInstance {
        service_id: String,
        instance_id: String,
    },
    UpdateService {
        service_id: String,
        description: Option<String>,
        dns_records: Option<Vec<(String, i64)>>,
        health_check_config: Option<Value>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Operation {
    id: String,
    op_type: String,
    status: String,
    error_code: Option<String>,
    error_message: Option<String>,
    create_date: f64,
    update_date: f64,
    targets: BTreeMap<String, String>,
    creator_request_id: Option<String>,
    effect: Effect,
    pending_at: f64,
    done_at: f64,
    seq: u64,
}

impl CloudMapState {
    /// Handles one operation (the part of `X-Amz-Target` after the dot).
    pub fn handle(&mut self, ctx: &Ctx, op: &str, body: &Value) -> AwsResult<Value> {
        // Settle due operations first, so a GetOperation right after the clock
        // moved never reports a stale status, whatever the tick rate.
        self.tick(ctx);
        match op {
            "CreatePrivateDnsNamespace" => self.create_namespace(ctx, body, "DNS_PRIVATE"),
            "CreatePublicDnsNamespace" => self.create_namespace(ctx, body, "DNS_PUBLIC"),
            "CreateHttpNamespace" => self.create_namespace(ctx, body, "HTTP"),
            "GetNamespace" => {
                let ns = self.namespace(required(body, "Id")?)?;
                let count = self.service_count(&ns.id);
                Ok(json!({"Namespace": namespace_json(ctx, ns, count, true)}))
            }
            "ListNamespaces" => self.list_namespaces(ctx, body),
            "DeleteNamespace" => self.delete_namespace(ctx, body),
            "CreateService" => self.create_service(ctx, body),
            "GetService" => {
                let s = self.service(required(body, "Id")?)?;
                Ok(json!({"Service": service_json(ctx, s)}))
            }
            "UpdateService" => self.update_service(ctx, body),
            "DeleteService" => self.delete_service(body),
            "ListServices" => self.list_services(ctx, body),
            "RegisterInstance" => self.register_instance_op(ctx, body),
            "DeregisterInstance" => self.deregister_instance_op(ctx, body),
            "GetInstance" => {
                let s = self.service(required(body, "ServiceId")?)?;
                let i = instance_of(s, required(body, "InstanceId")?)?;
                Ok(json!({"Instance": instance_json(i, true), "ResourceOwner": ctx.account_id}))
            }
            "ListInstances" => {
                let s = self.service(required(body, "ServiceId")?)?;
                let (start, max) = page_of(body)?;
                let items = s
                    .instances
                    .values()
                    .map(|i| instance_json(i, false))
                    .collect();
                let (items, next) = paginate(items, start, max);
                let mut out = Map::new();
                out.insert("Instances".into(), Value::Array(items));
                out.insert("ResourceOwner".into(), json!(ctx.account_id));
                Ok(with_next(out, next))
            }
            "GetInstancesHealthStatus" => {
                let s = self.service(required(body, "ServiceId")?)?;
                let status: Map<String, Value> = s
                    .instances
                    .keys()
                    .map(|id| (id.clone(), json!("HEALTHY")))
                    .collect();
                Ok(json!({"Status": status}))
            }
            "UpdateInstanceCustomHealthStatus" => {
                let s = self.service(required(body, "ServiceId")?)?;
                instance_of(s, required(body, "InstanceId")?)?;
                Ok(json!({}))
            }
            "DiscoverInstances" => self.discover_instances(body),
            "GetOperation" => {
                let id = required(body, "OperationId")?;
                let op = self.operations.get(id).ok_or_else(|| {
                    AwsError::client("OperationNotFound", format!("Operation {id} not found."))
                })?;
                Ok(json!({"Operation": operation_json(ctx, op)}))
            }
            "ListOperations" => self.list_operations(body),
            "ListTagsForResource" => {
                let tags = self.tags_mut(required(body, "ResourceARN")?)?;
                Ok(json!({"Tags": tags_json(tags)}))
            }
            "TagResource" => {
                let new = tags_of(body, "Tags")?;
                let tags = self.tags_mut(required(body, "ResourceARN")?)?;
                let mut merged = tags.clone();
                for (k, v) in new {
                    match merged.iter_mut().find(|(ek, _)| *ek == k) {
                        Some(slot) => slot.1 = v,
                        None => merged.push((k, v)),
                    }
                }
                if merged.len() > MAX_TAGS {
                    return Err(AwsError::client(
                        "TooManyTagsException",
                        format!("A resource can have at most {MAX_TAGS} tags."),
                    ));
                }
                *tags = merged;
                Ok(json!({}))
            }
            "UntagResource" => {
                let keys: Vec<String> = body
                    .get("TagKeys")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect();
                let tags = self.tags_mut(required(body, "ResourceARN")?)?;
                tags.retain(|(k, _)| !keys.contains(k));
                Ok(json!({}))
            }
            _ => Err(AwsError::client(
                "UnknownOperationException",
                format!("awsim does not implement Cloud Map {op}"),
            )),
        }
    }

    /// Advances async operations (SUBMITTED -> PENDING -> SUCCESS) to `ctx.now`.
    pub fn tick(&mut self, ctx: &Ctx) {
        let mut due: Vec<(u64, String)> = Vec::new();
        for op in self.operations.values_mut() {
            if op.status == "SUBMITTED" && ctx.now >= op.pending_at {
                op.status = "PENDING".into();
                op.update_date = op.pending_at;
            }
            if op.status == "PENDING" && ctx.now >= op.done_at {
                due.push((op.seq, op.id.clone()));
            }
        }
        due.sort();
        for (_, id) in due {
            let effect = self.operations[&id].effect.clone();
            let result = self.apply(effect);
            let op = self.operations.get_mut(&id).expect("collected above");
            op.update_date = op.done_at;
            match result {
                Ok(()) => op.status = "SUCCESS".into(),
                Err(e) => {
                    op.status = "FAIL".into();
                    op.error_code = Some(e.code);
                    op.error_message = Some(e.message);
                }
            }
        }
    }

    /// True when `registry_arn` names an existing Cloud Map service (ECS
    /// CreateService/UpdateService validate `serviceRegistries` with this).
    pub fn service_exists(&self, registry_arn: &str) -> bool {
        self.services.values().any(|s| s.arn == registry_arn)
    }

    /// ECS registers a RUNNING task of a service with registries.
    pub fn register_instance(
        &mut self,
        _ctx: &Ctx,
        registry_arn: &str,
        instance_id: &str,
        attributes: BTreeMap<String, String>,
    ) -> AwsResult<()> {
        let service_id = self.service(registry_arn)?.id.clone();
        // ECS builds the attributes itself (an SRV port comes from the
        // service's registry config, which it may not model), so only the
        // API-level limits are checked here, not the per-record attributes.
        if instance_id.is_empty() || instance_id.len() > 64 || attributes.len() > 30 {
            return Err(invalid(format!(
                "Instance {instance_id} has an invalid ID or too many attributes."
            )));
        }
        let service = self.services.get_mut(&service_id).expect("looked up above");
        service.instances.insert(
            instance_id.to_string(),
            Instance {
                id: instance_id.to_string(),
                creator_request_id: None,
                attributes,
            },
        );
        Ok(())
    }

    /// ECS deregisters a task that stops (no error when already gone).
    pub fn deregister_instance(&mut self, registry_arn: &str, instance_id: &str) {
        if let Some(s) = self.services.values_mut().find(|s| s.arn == registry_arn) {
            s.instances.remove(instance_id);
        }
    }

    /// Creates a namespace synchronously (for `--seed`); returns its id.
    /// Seeding the same name twice returns the existing namespace.
    pub fn seed_private_dns_namespace(&mut self, ctx: &Ctx, name: &str, vpc: &str) -> String {
        if let Some(ns) = self
            .namespaces
            .values()
            .find(|n| n.name == name && n.ns_type == "DNS_PRIVATE")
        {
            return ns.id.clone();
        }
        let ns = new_namespace(ctx, name, "DNS_PRIVATE", Some(vpc.to_string()), None, None);
        let id = ns.id.clone();
        self.namespaces
            .insert(id.clone(), Namespace { ready: true, ..ns });
        id
    }

    fn tags_mut(&mut self, arn: &str) -> AwsResult<&mut Vec<(String, String)>> {
        if let Some(ns) = self
            .namespaces
            .values_mut()
            .find(|n| n.ready && n.arn == arn)
        {
            return Ok(&mut ns.tags);
        }
        if let Some(s) = self.services.values_mut().find(|s| s.arn == arn) {
            return Ok(&mut s.tags);
        }
        Err(AwsError::client(
            "ResourceNotFoundException",
            format!("Resource {arn} not found."),
        ))
    }
}
