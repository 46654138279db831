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

use std::collections::BTreeMap;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::core::{AwsError, AwsResult, Ctx};

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

fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::client("InvalidInput", message)
}

fn str_of<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str)
}

fn required<'a>(body: &'a Value, key: &str) -> AwsResult<&'a str> {
    match str_of(body, key) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(invalid(format!("{key} is required."))),
    }
}

fn tags_of(body: &Value, key: &str) -> AwsResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for t in body
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let k = str_of(t, "Key").unwrap_or_default();
        let v = str_of(t, "Value").unwrap_or_default();
        if k.is_empty() || k.len() > 128 || v.len() > 256 {
            return Err(invalid(
                "Tag keys must be 1 to 128 characters and values at most 256.",
            ));
        }
        match out
            .iter_mut()
            .find(|(ek, _): &&mut (String, String)| ek == k)
        {
            Some(slot) => slot.1 = v.to_string(),
            None => out.push((k.to_string(), v.to_string())),
        }
    }
    if out.len() > MAX_TAGS {
        return Err(AwsError::client(
            "TooManyTagsException",
            format!("A resource can have at most {MAX_TAGS} tags."),
        ));
    }
    Ok(out)
}

fn tags_json(tags: &[(String, String)]) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    )
}

fn random_id(len: usize) -> String {
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// `MaxResults` (1..=100, default 100) and `NextToken` (an offset here).
fn page_of(body: &Value) -> AwsResult<(usize, usize)> {
    let max = match body.get("MaxResults").and_then(Value::as_i64) {
        None => 100,
        Some(n) if (1..=100).contains(&n) => n as usize,
        Some(n) => {
            return Err(invalid(format!(
                "MaxResults {n} must be between 1 and 100."
            )))
        }
    };
    let start = match str_of(body, "NextToken") {
        None | Some("") => 0,
        Some(t) => t
            .parse()
            .map_err(|_| invalid(format!("Invalid NextToken {t}")))?,
    };
    Ok((start, max))
}

fn paginate(items: Vec<Value>, start: usize, max: usize) -> (Vec<Value>, Option<String>) {
    let len = items.len();
    let start = start.min(len);
    let end = (start + max).min(len);
    let next = (end < len).then(|| end.to_string());
    (
        items.into_iter().skip(start).take(end - start).collect(),
        next,
    )
}

fn with_next(mut out: Map<String, Value>, next: Option<String>) -> Value {
    if let Some(n) = next {
        out.insert("NextToken".into(), Value::String(n));
    }
    Value::Object(out)
}

/// A filter `{Name, Values, Condition}` over a string attribute.
fn filter_matches(filter: &Value, actual: &str) -> bool {
    let values: Vec<&str> = filter
        .get("Values")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match str_of(filter, "Condition").unwrap_or("EQ") {
        "BEGINS_WITH" => values.iter().any(|v| actual.starts_with(v)),
        _ => values.contains(&actual),
    }
}

/// DNS labels: letters, digits, hyphens, underscores; 1..=63 each.
fn valid_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
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

    // ---- Operations ---------------------------------------------------------

    fn start_operation(
        &mut self,
        ctx: &Ctx,
        op_type: &str,
        targets: &[(&str, &str)],
        creator_request_id: Option<String>,
        effect: Effect,
        secs: f64,
    ) -> String {
        let id = format!("{}-{}", random_id(32), random_id(8));
        self.next_seq += 1;
        self.operations.insert(
            id.clone(),
            Operation {
                id: id.clone(),
                op_type: op_type.to_string(),
                status: "SUBMITTED".into(),
                error_code: None,
                error_message: None,
                create_date: ctx.now,
                update_date: ctx.now,
                targets: targets
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                creator_request_id,
                effect,
                pending_at: ctx.now + OP_PENDING_AFTER,
                done_at: ctx.now + OP_PENDING_AFTER + secs,
                seq: self.next_seq,
            },
        );
        id
    }

    fn apply(&mut self, effect: Effect) -> AwsResult<()> {
        match effect {
            Effect::CreateNamespace { namespace_id } => {
                let ns = self.namespaces.get_mut(&namespace_id).ok_or_else(|| {
                    AwsError::client("NamespaceNotFound", "The namespace was deleted.")
                })?;
                ns.ready = true;
            }
            Effect::DeleteNamespace { namespace_id } => {
                if self
                    .services
                    .values()
                    .any(|s| s.namespace_id == namespace_id)
                {
                    return Err(AwsError::client(
                        "ResourceInUse",
                        "The namespace contains services.",
                    ));
                }
                self.namespaces.remove(&namespace_id);
            }
            Effect::RegisterInstance {
                service_id,
                instance,
            } => {
                let s = self.services.get_mut(&service_id).ok_or_else(|| {
                    AwsError::client("ServiceNotFound", "The service was deleted.")
                })?;
                s.instances.insert(instance.id.clone(), instance);
            }
            Effect::DeregisterInstance {
                service_id,
                instance_id,
            } => {
                if let Some(s) = self.services.get_mut(&service_id) {
                    s.instances.remove(&instance_id);
                }
            }
            Effect::UpdateService {
                service_id,
                description,
                dns_records,
                health_check_config,
            } => {
                let s = self.services.get_mut(&service_id).ok_or_else(|| {
                    AwsError::client("ServiceNotFound", "The service was deleted.")
                })?;
                if description.is_some() {
                    s.description = description;
                }
                if let (Some(records), Some(dns)) = (dns_records, s.dns_config.as_mut()) {
                    dns.records = records;
                }
                // AWS removes a health check that an update leaves out.
                s.health_check_config = health_check_config;
            }
        }
        Ok(())
    }

    fn list_operations(&self, body: &Value) -> AwsResult<Value> {
        let (start, max) = page_of(body)?;
        let filters: Vec<&Value> = body
            .get("Filters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .collect();
        let mut ops: Vec<&Operation> = self.operations.values().collect();
        ops.sort_by_key(|o| o.seq);
        for f in &filters {
            let name = str_of(f, "Name").unwrap_or_default();
            ops.retain(|o| match name {
                "NAMESPACE_ID" => filter_matches(f, o.targets.get("NAMESPACE").map_or("", |s| s)),
                "SERVICE_ID" => filter_matches(f, o.targets.get("SERVICE").map_or("", |s| s)),
                "STATUS" => filter_matches(f, &o.status),
                "TYPE" => filter_matches(f, &o.op_type),
                _ => true,
            });
        }
        let items = ops
            .iter()
            .map(|o| json!({"Id": o.id, "Status": o.status}))
            .collect();
        let (items, next) = paginate(items, start, max);
        let mut out = Map::new();
        out.insert("Operations".into(), Value::Array(items));
        Ok(with_next(out, next))
    }

    // ---- Namespaces ---------------------------------------------------------

    fn create_namespace(&mut self, ctx: &Ctx, body: &Value, ns_type: &str) -> AwsResult<Value> {
        let name = required(body, "Name")?;
        let creator_request_id = str_of(body, "CreatorRequestId").map(str::to_string);
        if let Some(crid) = &creator_request_id {
            if let Some(ns) = self
                .namespaces
                .values()
                .find(|n| n.creator_request_id.as_ref() == Some(crid))
            {
                if let Some(op) = &ns.create_operation_id {
                    return Ok(json!({"OperationId": op}));
                }
            }
        }
        let valid = match ns_type {
            "HTTP" => {
                !name.is_empty()
                    && name.len() <= 1024
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            }
            _ => valid_dns_name(name),
        };
        if !valid {
            return Err(invalid(format!("Namespace name {name:?} is not valid.")));
        }
        let name = name.strip_suffix('.').unwrap_or(name).to_string();
        let vpc = match ns_type {
            "DNS_PRIVATE" => {
                let vpc = required(body, "Vpc")?;
                if !vpc.starts_with("vpc-") {
                    return Err(invalid(format!("Vpc {vpc} is not a valid VPC ID.")));
                }
                Some(vpc.to_string())
            }
            _ => None,
        };
        let tags = tags_of(body, "Tags")?;
        let clash = self.namespaces.values().find(|n| {
            n.name.eq_ignore_ascii_case(&name)
                && (ns_type != "DNS_PRIVATE" || n.ns_type != "DNS_PRIVATE" || n.vpc == vpc)
        });
        if let Some(n) = clash {
            return Err(AwsError::client(
                "NamespaceAlreadyExists",
                format!("Namespace {name} already exists (namespace ID {}).", n.id),
            ));
        }
        let soa_ttl = body
            .pointer("/Properties/DnsProperties/SOA/TTL")
            .and_then(Value::as_i64);
        let mut ns = new_namespace(
            ctx,
            &name,
            ns_type,
            vpc,
            str_of(body, "Description").map(str::to_string),
            soa_ttl,
        );
        ns.creator_request_id = creator_request_id.clone();
        ns.tags = tags;
        let id = ns.id.clone();
        let op = self.start_operation(
            ctx,
            "CREATE_NAMESPACE",
            &[("NAMESPACE", &id)],
            creator_request_id,
            Effect::CreateNamespace {
                namespace_id: id.clone(),
            },
            NAMESPACE_OP_SECS,
        );
        ns.create_operation_id = Some(op.clone());
        self.namespaces.insert(id, ns);
        Ok(json!({"OperationId": op}))
    }

    fn service_count(&self, namespace_id: &str) -> usize {
        self.services
            .values()
            .filter(|s| s.namespace_id == namespace_id)
            .count()
    }

    fn namespace(&self, id: &str) -> AwsResult<&Namespace> {
        self.namespaces
            .values()
            .find(|n| n.ready && (n.id == id || n.arn == id))
            .ok_or_else(|| {
                AwsError::client("NamespaceNotFound", format!("Namespace {id} not found."))
            })
    }

    fn list_namespaces(&self, ctx: &Ctx, body: &Value) -> AwsResult<Value> {
        let (start, max) = page_of(body)?;
        let mut namespaces: Vec<&Namespace> =
            self.namespaces.values().filter(|n| n.ready).collect();
        namespaces.sort_by(|a, b| {
            a.create_date
                .total_cmp(&b.create_date)
                .then(a.id.cmp(&b.id))
        });
        for f in body
            .get("Filters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = str_of(f, "Name").unwrap_or_default();
            match name {
                "TYPE" => namespaces.retain(|n| filter_matches(f, &n.ns_type)),
                "NAME" | "HTTP_NAME" => namespaces.retain(|n| filter_matches(f, &n.name)),
                "RESOURCE_OWNER" => {}
                other => return Err(invalid(format!("Unsupported namespace filter {other}."))),
            }
        }
        let items = namespaces
            .iter()
            .map(|n| namespace_json(ctx, n, self.service_count(&n.id), false))
            .collect();
        let (items, next) = paginate(items, start, max);
        let mut out = Map::new();
        out.insert("Namespaces".into(), Value::Array(items));
        Ok(with_next(out, next))
    }

    fn delete_namespace(&mut self, ctx: &Ctx, body: &Value) -> AwsResult<Value> {
        let id = self.namespace(required(body, "Id")?)?.id.clone();
        if self.services.values().any(|s| s.namespace_id == id) {
            return Err(AwsError::client(
                "ResourceInUse",
                format!("Namespace {id} can't be deleted because it contains services."),
            ));
        }
        let op = self.start_operation(
            ctx,
            "DELETE_NAMESPACE",
            &[("NAMESPACE", &id)],
            None,
            Effect::DeleteNamespace {
                namespace_id: id.clone(),
            },
            NAMESPACE_OP_SECS,
        );
        Ok(json!({"OperationId": op}))
    }

    // ---- Services -----------------------------------------------------------

    fn create_service(&mut self, ctx: &Ctx, body: &Value) -> AwsResult<Value> {
        let name = required(body, "Name")?;
        let namespace_id = str_of(body, "NamespaceId")
            .or_else(|| {
                body.pointer("/DnsConfig/NamespaceId")
                    .and_then(Value::as_str)
            })
            .ok_or_else(|| invalid("NamespaceId is required."))?;
        let ns = self.namespace(namespace_id)?;
        let creator_request_id = str_of(body, "CreatorRequestId").map(str::to_string);
        if let Some(existing) = self
            .services
            .values()
            .find(|s| s.namespace_id == ns.id && s.name.eq_ignore_ascii_case(name))
        {
            if creator_request_id.is_some() && existing.creator_request_id == creator_request_id {
                // A retry of the same request: AWS answers with the service.
                return Ok(json!({"Service": service_json(ctx, existing)}));
            }
            return Err(AwsError::client(
                "ServiceAlreadyExists",
                format!(
                    "Service {name} already exists in namespace {} (service ID {}).",
                    ns.id, existing.id
                ),
            ));
        }
        let label_ok = !name.is_empty()
            && name.len() <= 127
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !name.starts_with('-')
            && !name.ends_with('-');
        if !label_ok {
            return Err(invalid(format!("Service name {name:?} is not valid.")));
        }
        let dns_config = match body.get("DnsConfig") {
            None | Some(Value::Null) => None,
            Some(d) => {
                if ns.ns_type == "HTTP" {
                    return Err(invalid(
                        "DnsConfig can't be specified for a service in an HTTP namespace.",
                    ));
                }
                let routing_policy = str_of(d, "RoutingPolicy")
                    .unwrap_or("MULTIVALUE")
                    .to_string();
                if !matches!(routing_policy.as_str(), "MULTIVALUE" | "WEIGHTED") {
                    return Err(invalid(format!(
                        "RoutingPolicy {routing_policy} must be MULTIVALUE or WEIGHTED."
                    )));
                }
                let records = dns_records(d.get("DnsRecords"))?;
                validate_records(&records, &routing_policy)?;
                Some(DnsConfig {
                    routing_policy,
                    records,
                })
            }
        };
        let service_type = match (str_of(body, "Type"), &dns_config) {
            (Some("HTTP"), Some(_)) => {
                return Err(invalid("Type HTTP can't be combined with DnsConfig."))
            }
            (Some(t), _) if t != "HTTP" => {
                return Err(invalid(format!(
                    "Type {t} is not valid; only HTTP may be set."
                )))
            }
            (_, Some(_)) => "DNS_HTTP",
            (_, None) => "HTTP",
        };
        let health_check_config = body
            .get("HealthCheckConfig")
            .filter(|v| !v.is_null())
            .cloned();
        let health_check_custom_config = body
            .get("HealthCheckCustomConfig")
            .filter(|v| !v.is_null())
            .cloned();
        if health_check_config.is_some() && health_check_custom_config.is_some() {
            return Err(invalid(
                "HealthCheckConfig and HealthCheckCustomConfig can't both be specified.",
            ));
        }
        if health_check_config.is_some() && ns.ns_type == "DNS_PRIVATE" {
            return Err(invalid(
                "Route 53 health checks (HealthCheckConfig) are not supported in private DNS namespaces; use HealthCheckCustomConfig.",
            ));
        }
        let tags = tags_of(body, "Tags")?;
        let id = format!("srv-{}", random_id(16));
        let service = Service {
            arn: ctx.arn("servicediscovery", &format!("service/{id}")),
            id: id.clone(),
            name: name.to_string(),
            namespace_id: ns.id.clone(),
            description: str_of(body, "Description").map(str::to_string),
            dns_config,
            service_type: service_type.to_string(),
            health_check_config,
            health_check_custom_config: health_check_custom_config
                .map(|_| json!({"FailureThreshold": 1})),
            create_date: ctx.now,
            creator_request_id,
            tags,
            instances: BTreeMap::new(),
        };
        let out = json!({"Service": service_json(ctx, &service)});
        self.services.insert(id, service);
        Ok(out)
    }

    fn service(&self, id: &str) -> AwsResult<&Service> {
        self.services
            .get(id)
            .or_else(|| self.services.values().find(|s| s.arn == id))
            .ok_or_else(|| AwsError::client("ServiceNotFound", format!("Service {id} not found.")))
    }

    fn update_service(&mut self, ctx: &Ctx, body: &Value) -> AwsResult<Value> {
        let s = self.service(required(body, "Id")?)?;
        let change = body
            .get("Service")
            .ok_or_else(|| invalid("Service is required."))?;
        let dns_records = match change.get("DnsConfig") {
            None | Some(Value::Null) => None,
            Some(d) => {
                let Some(dns) = &s.dns_config else {
                    return Err(invalid(
                        "DnsConfig can't be added to a service that was created without one.",
                    ));
                };
                let records = dns_records(d.get("DnsRecords"))?;
                let old: Vec<&String> = dns.records.iter().map(|(t, _)| t).collect();
                let new: Vec<&String> = records.iter().map(|(t, _)| t).collect();
                if old != new {
                    return Err(invalid(
                        "UpdateService can change the TTL of DNS records but not their types.",
                    ));
                }
                Some(records)
            }
        };
        let id = s.id.clone();
        let effect = Effect::UpdateService {
            service_id: id.clone(),
            description: str_of(change, "Description").map(str::to_string),
            dns_records,
            health_check_config: change
                .get("HealthCheckConfig")
                .filter(|v| !v.is_null())
                .cloned(),
        };
        let op = self.start_operation(
            ctx,
            "UPDATE_SERVICE",
            &[("SERVICE", &id)],
            None,
            effect,
            OTHER_OP_SECS,
        );
        Ok(json!({"OperationId": op}))
    }

    fn delete_service(&mut self, body: &Value) -> AwsResult<Value> {
        let s = self.service(required(body, "Id")?)?;
        if !s.instances.is_empty() {
            return Err(AwsError::client(
                "ResourceInUse",
                format!(
                    "Service {} can't be deleted because it has {} registered instance(s).",
                    s.id,
                    s.instances.len()
                ),
            ));
        }
        let id = s.id.clone();
        self.services.remove(&id);
        Ok(json!({}))
    }

    fn list_services(&self, ctx: &Ctx, body: &Value) -> AwsResult<Value> {
        let (start, max) = page_of(body)?;
        let mut services: Vec<&Service> = self.services.values().collect();
        services.sort_by(|a, b| {
            a.create_date
                .total_cmp(&b.create_date)
                .then(a.id.cmp(&b.id))
        });
        for f in body
            .get("Filters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match str_of(f, "Name").unwrap_or_default() {
                "NAMESPACE_ID" => services.retain(|s| filter_matches(f, &s.namespace_id)),
                "RESOURCE_OWNER" => {}
                other => return Err(invalid(format!("Unsupported service filter {other}."))),
            }
        }
        let items = services.iter().map(|s| service_json(ctx, s)).collect();
        let (items, next) = paginate(items, start, max);
        let mut out = Map::new();
        out.insert("Services".into(), Value::Array(items));
        Ok(with_next(out, next))
    }

    // ---- Instances ----------------------------------------------------------

    /// The attributes each record type needs, as AWS checks them.
    fn validate_instance(
        &self,
        service_id: &str,
        instance_id: &str,
        attributes: &BTreeMap<String, String>,
    ) -> AwsResult<()> {
        if instance_id.is_empty() || instance_id.len() > 64 {
            return Err(invalid("InstanceId must be 1 to 64 characters."));
        }
        if attributes.len() > 30 {
            return Err(invalid("An instance can have at most 30 attributes."));
        }
        for (k, v) in attributes {
            if k.len() > 255 || v.len() > 1024 {
                return Err(invalid(format!(
                    "Attribute {k} is too long (keys up to 255, values up to 1024 characters)."
                )));
            }
        }
        let s = &self.services[service_id];
        if let Some(dns) = &s.dns_config {
            let alias = attributes.contains_key("AWS_ALIAS_DNS_NAME");
            for (t, _) in &dns.records {
                let needed = match t.as_str() {
                    "A" if !alias => Some("AWS_INSTANCE_IPV4"),
                    "AAAA" if !alias => Some("AWS_INSTANCE_IPV6"),
                    "SRV" => Some("AWS_INSTANCE_PORT"),
                    "CNAME" => Some("AWS_INSTANCE_CNAME"),
                    _ => None,
                };
                if let Some(attr) = needed {
                    if !attributes.contains_key(attr) {
                        return Err(invalid(format!(
                            "Attribute {attr} is required because service {} has a {t} record.",
                            s.id
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    fn register_instance_op(&mut self, ctx: &Ctx, body: &Value) -> AwsResult<Value> {
        let service_id = self.service(required(body, "ServiceId")?)?.id.clone();
        let instance_id = required(body, "InstanceId")?.to_string();
        let creator_request_id = str_of(body, "CreatorRequestId").map(str::to_string);
        if let Some(crid) = &creator_request_id {
            if let Some(op) = self.operations.values().find(|o| {
                o.op_type == "REGISTER_INSTANCE" && o.creator_request_id.as_ref() == Some(crid)
            }) {
                return Ok(json!({"OperationId": op.id}));
            }
        }
        let mut attributes = BTreeMap::new();
        for (k, v) in body
            .get("Attributes")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let v = v
                .as_str()
                .ok_or_else(|| invalid(format!("Attribute {k} must be a string.")))?;
            attributes.insert(k.clone(), v.to_string());
        }
        self.validate_instance(&service_id, &instance_id, &attributes)?;
        let effect = Effect::RegisterInstance {
            service_id: service_id.clone(),
            instance: Instance {
                id: instance_id.clone(),
                creator_request_id: creator_request_id.clone(),
                attributes,
            },
        };
        let op = self.start_operation(
            ctx,
            "REGISTER_INSTANCE",
            &[("INSTANCE", &instance_id), ("SERVICE", &service_id)],
            creator_request_id,
            effect,
            OTHER_OP_SECS,
        );
        Ok(json!({"OperationId": op}))
    }

    fn deregister_instance_op(&mut self, ctx: &Ctx, body: &Value) -> AwsResult<Value> {
        let s = self.service(required(body, "ServiceId")?)?;
        let instance_id = instance_of(s, required(body, "InstanceId")?)?.id.clone();
        let service_id = s.id.clone();
        let op = self.start_operation(
            ctx,
            "DEREGISTER_INSTANCE",
            &[("INSTANCE", &instance_id), ("SERVICE", &service_id)],
            None,
            Effect::DeregisterInstance {
                service_id: service_id.clone(),
                instance_id: instance_id.clone(),
            },
            OTHER_OP_SECS,
        );
        Ok(json!({"OperationId": op}))
    }

    fn discover_instances(&self, body: &Value) -> AwsResult<Value> {
        let ns_name = required(body, "NamespaceName")?;
        let service_name = required(body, "ServiceName")?;
        let ns = self
            .namespaces
            .values()
            .find(|n| n.ready && n.name.eq_ignore_ascii_case(ns_name))
            .ok_or_else(|| {
                AwsError::client(
                    "NamespaceNotFound",
                    format!("Namespace {ns_name} not found."),
                )
            })?;
        let s = self
            .services
            .values()
            .find(|s| s.namespace_id == ns.id && s.name.eq_ignore_ascii_case(service_name))
            .ok_or_else(|| {
                AwsError::client(
                    "ServiceNotFound",
                    format!("Service {service_name} not found in namespace {ns_name}."),
                )
            })?;
        let max = body
            .get("MaxResults")
            .and_then(Value::as_u64)
            .unwrap_or(100) as usize;
        let query: Vec<(String, String)> = body
            .get("QueryParameters")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect();
        let want_unhealthy = str_of(body, "HealthStatus") == Some("UNHEALTHY");
        let instances: Vec<Value> = s
            .instances
            .values()
            .filter(|_| !want_unhealthy)
            .filter(|i| query.iter().all(|(k, v)| i.attributes.get(k) == Some(v)))
            .take(max)
            .map(|i| {
                json!({
                    "InstanceId": i.id,
                    "NamespaceName": ns.name,
                    "ServiceName": s.name,
                    "HealthStatus": "HEALTHY",
                    "Attributes": i.attributes,
                })
            })
            .collect();
        Ok(json!({"Instances": instances, "InstancesRevision": s.instances.len() as i64}))
    }

    // ---- Tags ---------------------------------------------------------------

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

fn instance_of<'s>(s: &'s Service, id: &str) -> AwsResult<&'s Instance> {
    s.instances.get(id).ok_or_else(|| {
        AwsError::client(
            "InstanceNotFound",
            format!("Instance {id} not found in service {}.", s.id),
        )
    })
}

fn dns_records(v: Option<&Value>) -> AwsResult<Vec<(String, i64)>> {
    let list = v
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| invalid("DnsRecords must contain at least one record."))?;
    let mut out = Vec::new();
    for r in list {
        let t = str_of(r, "Type").unwrap_or_default().to_string();
        if !matches!(t.as_str(), "A" | "AAAA" | "SRV" | "CNAME") {
            return Err(invalid(format!(
                "DNS record type {t:?} is not valid: use A, AAAA, SRV or CNAME."
            )));
        }
        let ttl = r
            .get("TTL")
            .and_then(Value::as_i64)
            .ok_or_else(|| invalid("Each DNS record needs a TTL."))?;
        if !(0..=2_147_483_647).contains(&ttl) {
            return Err(invalid(format!("TTL {ttl} is out of range.")));
        }
        if out.iter().any(|(et, _)| *et == t) {
            return Err(invalid(format!("Duplicate DNS record type {t}.")));
        }
        out.push((t, ttl));
    }
    Ok(out)
}

fn validate_records(records: &[(String, i64)], routing_policy: &str) -> AwsResult<()> {
    let has = |t: &str| records.iter().any(|(rt, _)| rt == t);
    if has("CNAME") && (records.len() > 1 || routing_policy != "WEIGHTED") {
        return Err(invalid(
            "A CNAME record must be the only record and requires the WEIGHTED routing policy.",
        ));
    }
    Ok(())
}

fn new_namespace(
    ctx: &Ctx,
    name: &str,
    ns_type: &str,
    vpc: Option<String>,
    description: Option<String>,
    soa_ttl: Option<i64>,
) -> Namespace {
    let id = format!("ns-{}", random_id(16));
    let dns = ns_type != "HTTP";
    Namespace {
        arn: ctx.arn("servicediscovery", &format!("namespace/{id}")),
        id,
        name: name.to_string(),
        ns_type: ns_type.to_string(),
        description,
        vpc,
        hosted_zone_id: dns.then(|| format!("Z{}", random_id(13).to_ascii_uppercase())),
        soa_ttl: dns.then_some(soa_ttl.unwrap_or(15)),
        create_date: ctx.now,
        creator_request_id: None,
        create_operation_id: None,
        tags: Vec::new(),
        ready: false,
    }
}

fn namespace_json(ctx: &Ctx, n: &Namespace, service_count: usize, full: bool) -> Value {
    let mut dns = Map::new();
    if let Some(z) = &n.hosted_zone_id {
        dns.insert("HostedZoneId".into(), json!(z));
    }
    if let Some(ttl) = n.soa_ttl {
        dns.insert("SOA".into(), json!({"TTL": ttl}));
    }
    let mut out = json!({
        "Id": n.id,
        "Arn": n.arn,
        "ResourceOwner": ctx.account_id,
        "Name": n.name,
        "Type": n.ns_type,
        "ServiceCount": service_count,
        "Properties": {
            "DnsProperties": dns,
            "HttpProperties": {"HttpName": n.name},
        },
        "CreateDate": n.create_date,
    });
    if let Some(d) = &n.description {
        out["Description"] = json!(d);
    }
    if full {
        if let Some(c) = &n.creator_request_id {
            out["CreatorRequestId"] = json!(c);
        }
    }
    out
}

fn service_json(ctx: &Ctx, s: &Service) -> Value {
    let mut out = json!({
        "Id": s.id,
        "Arn": s.arn,
        "ResourceOwner": ctx.account_id,
        "Name": s.name,
        "NamespaceId": s.namespace_id,
        "InstanceCount": s.instances.len(),
        "Type": s.service_type,
        "CreateDate": s.create_date,
        "CreatedByAccount": ctx.account_id,
    });
    if let Some(d) = &s.description {
        out["Description"] = json!(d);
    }
    if let Some(dns) = &s.dns_config {
        out["DnsConfig"] = json!({
            "NamespaceId": s.namespace_id,
            "RoutingPolicy": dns.routing_policy,
            "DnsRecords": dns.records.iter().map(|(t, ttl)| json!({"Type": t, "TTL": ttl})).collect::<Vec<_>>(),
        });
    }
    if let Some(h) = &s.health_check_config {
        out["HealthCheckConfig"] = h.clone();
    }
    if let Some(h) = &s.health_check_custom_config {
        out["HealthCheckCustomConfig"] = h.clone();
    }
    if let Some(c) = &s.creator_request_id {
        out["CreatorRequestId"] = json!(c);
    }
    out
}

fn instance_json(i: &Instance, full: bool) -> Value {
    let mut out = json!({"Id": i.id, "Attributes": i.attributes});
    if full {
        if let Some(c) = &i.creator_request_id {
            out["CreatorRequestId"] = json!(c);
        }
    }
    out
}

fn operation_json(ctx: &Ctx, o: &Operation) -> Value {
    let mut out = json!({
        "Id": o.id,
        "OwnerAccount": ctx.account_id,
        "Type": o.op_type,
        "Status": o.status,
        "CreateDate": o.create_date,
        "UpdateDate": o.update_date,
        "Targets": o.targets,
    });
    if let Some(c) = &o.error_code {
        out["ErrorCode"] = json!(c);
    }
    if let Some(m) = &o.error_message {
        out["ErrorMessage"] = json!(m);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(now: f64) -> Ctx {
        Ctx {
            account_id: "123456789012".into(),
            region: "eu-west-1".into(),
            now,
        }
    }

    #[test]
    fn operation_fails_when_its_service_disappears_first() {
        let mut cm = CloudMapState::default();
        let ns = cm.seed_private_dns_namespace(&ctx(0.0), "a.local", "vpc-1");
        let svc = cm
            .handle(
                &ctx(0.0),
                "CreateService",
                &json!({"Name": "web", "NamespaceId": ns}),
            )
            .unwrap()["Service"]["Id"]
            .as_str()
            .unwrap()
            .to_string();
        let op = cm
            .handle(
                &ctx(1.0),
                "RegisterInstance",
                &json!({"ServiceId": svc, "InstanceId": "i-1", "CreatorRequestId": "r1"}),
            )
            .unwrap()["OperationId"]
            .as_str()
            .unwrap()
            .to_string();
        // The same CreatorRequestId is the same operation.
        let again = cm
            .handle(
                &ctx(1.0),
                "RegisterInstance",
                &json!({"ServiceId": svc, "InstanceId": "i-1", "CreatorRequestId": "r1"}),
            )
            .unwrap();
        assert_eq!(again["OperationId"], json!(op));
        // Not registered yet, so the service can still be deleted.
        cm.handle(&ctx(1.5), "DeleteService", &json!({"Id": svc}))
            .unwrap();
        let got = cm
            .handle(&ctx(10.0), "GetOperation", &json!({"OperationId": op}))
            .unwrap();
        assert_eq!(got["Operation"]["Status"], "FAIL");
        assert_eq!(got["Operation"]["ErrorCode"], "ServiceNotFound");
        assert_eq!(got["Operation"]["Targets"]["INSTANCE"], "i-1");
    }

    #[test]
    fn http_namespace_refuses_dns_config() {
        let mut cm = CloudMapState::default();
        let op = cm
            .handle(&ctx(0.0), "CreateHttpNamespace", &json!({"Name": "h"}))
            .unwrap();
        let got = cm
            .handle(
                &ctx(60.0),
                "GetOperation",
                &json!({"OperationId": op["OperationId"]}),
            )
            .unwrap();
        let ns = got["Operation"]["Targets"]["NAMESPACE"].clone();
        let err = cm
            .handle(
                &ctx(60.0),
                "CreateService",
                &json!({"Name": "s", "NamespaceId": ns,
                        "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 10}]}}),
            )
            .unwrap_err();
        assert_eq!(err.code, "InvalidInput");
        let ok = cm
            .handle(
                &ctx(60.0),
                "CreateService",
                &json!({"Name": "s", "NamespaceId": ns}),
            )
            .unwrap();
        assert_eq!(ok["Service"]["Type"], "HTTP");
    }
}
