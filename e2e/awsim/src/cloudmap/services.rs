//! Services: CreateService (idempotent on `CreatorRequestId`), UpdateService,
//! DeleteService, ListServices, and their DNS record templates.

use super::*;

impl CloudMapState {
    pub(super) fn create_service(&mut self, ctx: &Ctx, body: &Value) -> AwsResult<Value> {
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

    pub(super) fn service(&self, id: &str) -> AwsResult<&Service> {
        self.services
            .get(id)
            .or_else(|| self.services.values().find(|s| s.arn == id))
            .ok_or_else(|| AwsError::client("ServiceNotFound", format!("Service {id} not found.")))
    }

    pub(super) fn update_service(&mut self, ctx: &Ctx, body: &Value) -> AwsResult<Value> {
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

    pub(super) fn delete_service(&mut self, body: &Value) -> AwsResult<Value> {
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

    pub(super) fn list_services(&self, ctx: &Ctx, body: &Value) -> AwsResult<Value> {
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
}

pub(super) fn dns_records(v: Option<&Value>) -> AwsResult<Vec<(String, i64)>> {
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

pub(super) fn validate_records(records: &[(String, i64)], routing_policy: &str) -> AwsResult<()> {
    let has = |t: &str| records.iter().any(|(rt, _)| rt == t);
    if has("CNAME") && (records.len() > 1 || routing_policy != "WEIGHTED") {
        return Err(invalid(
            "A CNAME record must be the only record and requires the WEIGHTED routing policy.",
        ));
    }
    Ok(())
}

pub(super) fn service_json(ctx: &Ctx, s: &Service) -> Value {
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
