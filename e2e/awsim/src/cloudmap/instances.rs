//! Instances: RegisterInstance, DeregisterInstance, DiscoverInstances and
//! the attribute rules they share.

use super::*;

impl CloudMapState {
    /// The attributes each record type needs, as AWS checks them.
    pub(super) fn validate_instance(
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

    pub(super) fn register_instance_op(&mut self, ctx: &Ctx, body: &Value) -> AwsResult<Value> {
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

    pub(super) fn deregister_instance_op(&mut self, ctx: &Ctx, body: &Value) -> AwsResult<Value> {
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

    pub(super) fn discover_instances(&self, body: &Value) -> AwsResult<Value> {
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
}

pub(super) fn instance_of<'s>(s: &'s Service, id: &str) -> AwsResult<&'s Instance> {
    s.instances.get(id).ok_or_else(|| {
        AwsError::client(
            "InstanceNotFound",
            format!("Instance {id} not found in service {}.", s.id),
        )
    })
}

pub(super) fn instance_json(i: &Instance, full: bool) -> Value {
    let mut out = json!({"Id": i.id, "Attributes": i.attributes});
    if full {
        if let Some(c) = &i.creator_request_id {
            out["CreatorRequestId"] = json!(c);
        }
    }
    out
}
