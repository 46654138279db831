//! Namespaces: Create{Http,PrivateDns,PublicDns}Namespace, ListNamespaces,
//! DeleteNamespace.

use super::*;

impl CloudMapState {
    pub(super) fn create_namespace(
        &mut self,
        ctx: &Ctx,
        body: &Value,
        ns_type: &str,
    ) -> AwsResult<Value> {
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

    pub(super) fn service_count(&self, namespace_id: &str) -> usize {
        self.services
            .values()
            .filter(|s| s.namespace_id == namespace_id)
            .count()
    }

    pub(super) fn namespace(&self, id: &str) -> AwsResult<&Namespace> {
        self.namespaces
            .values()
            .find(|n| n.ready && (n.id == id || n.arn == id))
            .ok_or_else(|| {
                AwsError::client("NamespaceNotFound", format!("Namespace {id} not found."))
            })
    }

    pub(super) fn list_namespaces(&self, ctx: &Ctx, body: &Value) -> AwsResult<Value> {
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

    pub(super) fn delete_namespace(&mut self, ctx: &Ctx, body: &Value) -> AwsResult<Value> {
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
}

pub(super) fn new_namespace(
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

pub(super) fn namespace_json(ctx: &Ctx, n: &Namespace, service_count: usize, full: bool) -> Value {
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

/// DNS labels: letters, digits, hyphens, underscores; 1..=63 each.
pub(super) fn valid_dns_name(name: &str) -> bool {
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
