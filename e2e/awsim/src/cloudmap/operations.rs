//! Asynchronous operations: every namespace change, instance
//! (de)registration and service update is an operation that reaches
//! `SUCCESS` (or `FAIL`) a few virtual seconds later; `ListOperations`.

use super::*;

impl CloudMapState {
    pub(super) fn start_operation(
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

    pub(super) fn apply(&mut self, effect: Effect) -> AwsResult<()> {
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

    pub(super) fn list_operations(&self, body: &Value) -> AwsResult<Value> {
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
}

pub(super) fn operation_json(ctx: &Ctx, o: &Operation) -> Value {
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
