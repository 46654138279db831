//! RDS Proxy: proxies, their default target group and registered targets.

use super::*;

impl RdsState {
    pub(super) fn create_proxy(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let name = p.required("DBProxyName")?.to_string();
        validate_proxy_name(&name)?;
        let key = name.to_ascii_lowercase();
        let engine_family = p.required("EngineFamily")?.to_string();
        if !matches!(engine_family.as_str(), "MYSQL" | "POSTGRESQL" | "SQLSERVER") {
            return Err(invalid(format!(
                "Invalid EngineFamily {engine_family}: must be MYSQL, POSTGRESQL or SQLSERVER."
            )));
        }
        let role_arn = p.required("RoleArn")?.to_string();
        validate_role_arn(&role_arn)?;
        let subnets = p.list("VpcSubnetIds", "member").unwrap_or_default();
        if subnets.len() < 2 {
            return Err(invalid(
                "VpcSubnetIds must contain at least two subnets in different Availability Zones.",
            ));
        }
        let default_auth_scheme = p.string("DefaultAuthScheme");
        if let Some(s) = &default_auth_scheme {
            if !matches!(s.as_str(), "IAM_AUTH" | "NONE") {
                return Err(invalid(format!(
                    "Invalid DefaultAuthScheme {s}: must be IAM_AUTH or NONE."
                )));
            }
        }
        let auth = proxy_auth(p, &engine_family)?;
        if auth.as_ref().is_none_or(|a| a.is_empty())
            && default_auth_scheme.as_deref() != Some("IAM_AUTH")
        {
            return Err(invalid(
                "Auth must contain at least one entry unless DefaultAuthScheme is IAM_AUTH.",
            ));
        }
        let idle_client_timeout = p.int("IdleClientTimeout")?.unwrap_or(1800);
        validate_idle_timeout(idle_client_timeout)?;
        let tags = p.tags()?;
        if self.proxies.contains_key(&key) {
            return Err(AwsError::client(
                "DBProxyAlreadyExistsFault",
                format!("DB proxy {name} already exists."),
            ));
        }
        let resource = format!("prx-{}", random_hex(17));
        let proxy = Proxy {
            arn: ctx.arn("rds", &format!("db-proxy:{resource}")),
            engine_family,
            default_auth_scheme,
            auth: auth.unwrap_or_default(),
            role_arn,
            subnets,
            security_groups: p
                .list("VpcSecurityGroupIds", "member")
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| vec![default_security_group(ctx)]),
            vpc_id: vpc_of(ctx),
            require_tls: p.bool("RequireTLS")?.unwrap_or(false),
            idle_client_timeout,
            debug_logging: p.bool("DebugLogging")?.unwrap_or(false),
            tags,
            target_group: TargetGroup {
                arn: ctx.arn("rds", &format!("target-group:prx-tg-{}", random_hex(17))),
                max_connections_percent: 100,
                max_idle_connections_percent: 50,
                connection_borrow_timeout: 120,
                init_query: None,
                session_pinning_filters: Vec::new(),
                cluster_id: None,
                registered_at: 0.0,
                created: ctx.now,
                updated: ctx.now,
            },
            status: "creating".to_string(),
            until: ctx.now + PROXY_CREATE_SECS,
            created: ctx.now,
            updated: ctx.now,
            name,
        };
        render_proxy(ctx, x, "DBProxy", &proxy);
        self.proxies.insert(key, proxy);
        Ok(())
    }

    pub(super) fn describe_proxies(&self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let (start, max) = p.page()?;
        if !p.filters()?.is_empty() {
            return Err(invalid("DescribeDBProxies does not support filters."));
        }
        let proxies: Vec<&Proxy> = match p.str("DBProxyName") {
            Some(name) => vec![self.proxy(name)?],
            None => self.proxies.values().collect(),
        };
        let page = page(&proxies, start, max);
        x.open("DBProxies");
        for proxy in page.items {
            render_proxy(ctx, x, "member", proxy);
        }
        x.close("DBProxies");
        x.opt("Marker", page.next.as_deref());
        Ok(())
    }

    pub(super) fn modify_proxy(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let key = self
            .proxy(p.required("DBProxyName")?)?
            .name
            .to_ascii_lowercase();
        let proxy = &self.proxies[&key];
        // "InvalidDBProxyStateFault: The requested operation can't be
        // performed while the proxy is in this state." (HTTP 400,
        // ModifyDBProxy "Errors",
        // https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBProxy.html#API_ModifyDBProxy_Errors).
        if proxy.status != "available" {
            return Err(proxy_state_error(proxy));
        }
        let auth = proxy_auth(p, &proxy.engine_family)?;
        let new_name = p.string("NewDBProxyName");
        if let Some(n) = &new_name {
            validate_proxy_name(n)?;
            let new_key = n.to_ascii_lowercase();
            if new_key != key && self.proxies.contains_key(&new_key) {
                return Err(AwsError::client(
                    "DBProxyAlreadyExistsFault",
                    format!("DB proxy {n} already exists."),
                ));
            }
        }
        let idle = p.int("IdleClientTimeout")?;
        if let Some(t) = idle {
            validate_idle_timeout(t)?;
        }
        let role_arn = p.string("RoleArn");
        if let Some(r) = &role_arn {
            validate_role_arn(r)?;
        }
        let default_auth_scheme = p.string("DefaultAuthScheme");
        let require_tls = p.bool("RequireTLS")?;
        let debug_logging = p.bool("DebugLogging")?;
        let security_groups = p.list("SecurityGroups", "member");

        let mut proxy = self.proxies.remove(&key).expect("looked up above");
        if let Some(a) = auth {
            proxy.auth = a;
        }
        if let Some(t) = idle {
            proxy.idle_client_timeout = t;
        }
        if let Some(r) = role_arn {
            proxy.role_arn = r;
        }
        if let Some(s) = default_auth_scheme {
            proxy.default_auth_scheme = Some(s);
        }
        if let Some(v) = require_tls {
            proxy.require_tls = v;
        }
        if let Some(v) = debug_logging {
            proxy.debug_logging = v;
        }
        if let Some(sgs) = security_groups.filter(|s| !s.is_empty()) {
            proxy.security_groups = sgs;
        }
        if let Some(n) = new_name {
            proxy.name = n;
        }
        proxy.status = "modifying".to_string();
        proxy.until = ctx.now + MODIFY_SECS;
        proxy.updated = ctx.now;
        render_proxy(ctx, x, "DBProxy", &proxy);
        self.proxies.insert(proxy.name.to_ascii_lowercase(), proxy);
        Ok(())
    }

    pub(super) fn delete_proxy(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let key = self
            .proxy(p.required("DBProxyName")?)?
            .name
            .to_ascii_lowercase();
        let proxy = self.proxies.get_mut(&key).expect("looked up above");
        if proxy.status == "deleting" {
            return Err(proxy_state_error(proxy));
        }
        proxy.status = "deleting".to_string();
        proxy.until = ctx.now + DELETE_SECS;
        render_proxy(ctx, x, "DBProxy", proxy);
        Ok(())
    }

    pub(super) fn proxy(&self, name: &str) -> AwsResult<&Proxy> {
        let key = name.to_ascii_lowercase();
        self.proxies
            .get(&key)
            .or_else(|| self.proxies.values().find(|p| p.arn == name))
            .ok_or_else(|| {
                AwsError::not_found("DBProxyNotFoundFault", format!("DBProxy {name} not found."))
            })
    }

    pub(super) fn proxy_and_group(&self, p: &Params) -> AwsResult<&Proxy> {
        let proxy = self.proxy(p.required("DBProxyName")?)?;
        if let Some(tg) = p.str("TargetGroupName") {
            if tg != DEFAULT_TARGET_GROUP {
                return Err(AwsError::not_found(
                    "DBProxyTargetGroupNotFoundFault",
                    format!("Target group {tg} not found for DB proxy {}.", proxy.name),
                ));
            }
        }
        Ok(proxy)
    }

    pub(super) fn register_targets(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let proxy = self.proxy_and_group(p)?;
        let key = proxy.name.to_ascii_lowercase();
        let clusters = p.list("DBClusterIdentifiers", "member").unwrap_or_default();
        let instances = p
            .list("DBInstanceIdentifiers", "member")
            .unwrap_or_default();
        if clusters.is_empty() && instances.is_empty() {
            return Err(invalid(
                "Specify DBClusterIdentifiers or DBInstanceIdentifiers to register.",
            ));
        }
        if !instances.is_empty() {
            return Err(combination(
                "Aurora DB instances can't be registered individually; register their DB cluster.",
            ));
        }
        if clusters.len() > 1 {
            return Err(invalid(
                "A DB proxy target group can contain only one DB cluster.",
            ));
        }
        if proxy.status != "available" {
            return Err(proxy_state_error(proxy));
        }
        let cluster = self.cluster(&clusters[0])?;
        let family = match cluster.engine.as_str() {
            "aurora-postgresql" => "POSTGRESQL",
            _ => "MYSQL",
        };
        if family != proxy.engine_family {
            return Err(invalid(format!(
                "The engine family of DB cluster {} ({family}) doesn't match the DB proxy's engine family {}.",
                cluster.id, proxy.engine_family
            )));
        }
        if cluster.status != "available" {
            return Err(AwsError::client(
                "InvalidDBClusterStateFault",
                format!(
                    "DB cluster {} must be available to be registered (status {}).",
                    cluster.id, cluster.status
                ),
            ));
        }
        if let Some(existing) = &proxy.target_group.cluster_id {
            return Err(AwsError::client(
                "DBProxyTargetAlreadyRegisteredFault",
                format!(
                    "DB cluster {existing} is already registered with DB proxy {}.",
                    proxy.name
                ),
            ));
        }
        let cluster_id = cluster.id.clone();
        let proxy = self.proxies.get_mut(&key).expect("looked up above");
        proxy.target_group.cluster_id = Some(cluster_id);
        proxy.target_group.registered_at = ctx.now;
        proxy.target_group.updated = ctx.now;
        let proxy = &self.proxies[&key];
        x.open("DBProxyTargets");
        self.render_targets(ctx, x, proxy);
        x.close("DBProxyTargets");
        Ok(())
    }

    pub(super) fn deregister_targets(&mut self, p: &Params) -> AwsResult<()> {
        let proxy = self.proxy_and_group(p)?;
        let key = proxy.name.to_ascii_lowercase();
        let clusters = p.list("DBClusterIdentifiers", "member").unwrap_or_default();
        let instances = p
            .list("DBInstanceIdentifiers", "member")
            .unwrap_or_default();
        if clusters.is_empty() && instances.is_empty() {
            return Err(invalid(
                "Specify DBClusterIdentifiers or DBInstanceIdentifiers to deregister.",
            ));
        }
        let registered = proxy.target_group.cluster_id.clone();
        for c in clusters.iter().chain(instances.iter()) {
            let c = last_arn_segment(c, "cluster:").to_ascii_lowercase();
            if registered.as_deref() != Some(c.as_str()) {
                return Err(AwsError::not_found(
                    "DBProxyTargetNotFoundFault",
                    format!("{c} is not registered with DB proxy {}.", proxy.name),
                ));
            }
        }
        self.proxies
            .get_mut(&key)
            .expect("looked up above")
            .target_group
            .cluster_id = None;
        Ok(())
    }

    pub(super) fn describe_targets(&self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let proxy = self.proxy_and_group(p)?;
        x.open("Targets");
        self.render_targets(ctx, x, proxy);
        x.close("Targets");
        Ok(())
    }

    /// AWS lists a `TRACKED_CLUSTER` entry for the registered cluster and one
    /// `RDS_INSTANCE` entry per member. awsim also gives the cluster entry a
    /// `TargetHealth`, so that a controller can wait on the cluster alone.
    pub(super) fn render_targets(&self, ctx: &Ctx, x: &mut Xml, proxy: &Proxy) {
        let Some(cluster) = proxy
            .target_group
            .cluster_id
            .as_ref()
            .and_then(|id| self.clusters.get(id))
        else {
            return;
        };
        let h = account_hash(ctx);
        let registering = proxy.status == "creating"
            || ctx.now < proxy.target_group.registered_at + TARGET_REGISTER_SECS;
        // A modifying database still serves connections; a new one is still
        // registering; anything else (deleting, ...) is unreachable.
        let health = |x: &mut Xml, status: &str| {
            x.open("TargetHealth");
            match status {
                "creating" => {
                    x.text("State", "REGISTERING");
                }
                _ if registering => {
                    x.text("State", "REGISTERING");
                }
                "available" | "modifying" | "upgrading" => {
                    x.text("State", "AVAILABLE");
                }
                _ => {
                    x.text("State", "UNAVAILABLE")
                        .text("Reason", "UNREACHABLE")
                        .text("Description", &format!("The target is {status}."));
                }
            }
            x.close("TargetHealth");
        };
        x.open("member")
            .text(
                "Endpoint",
                &format!(
                    "{}.cluster-{h}.{}.rds.amazonaws.com",
                    cluster.id, ctx.region
                ),
            )
            .text("TrackedClusterId", &cluster.id)
            .text("RdsResourceId", &cluster.id)
            .val("Port", cluster.port)
            .text("Type", "TRACKED_CLUSTER");
        health(x, &cluster.status);
        x.close("member");
        let writer = self.writer_of(&cluster.id);
        for i in self.members(&cluster.id) {
            x.open("member")
                .text("TargetArn", &i.arn)
                .text(
                    "Endpoint",
                    &format!("{}.{h}.{}.rds.amazonaws.com", i.id, ctx.region),
                )
                .text("TrackedClusterId", &cluster.id)
                .text("RdsResourceId", &i.id)
                .val("Port", cluster.port)
                .text("Type", "RDS_INSTANCE")
                .text(
                    "Role",
                    if writer.as_deref() == Some(i.id.as_str()) {
                        "READ_WRITE"
                    } else {
                        "READ_ONLY"
                    },
                );
            health(x, &i.status);
            x.close("member");
        }
    }

    pub(super) fn describe_target_groups(&self, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let proxy = self.proxy_and_group(p)?;
        x.open("TargetGroups");
        render_target_group(x, "member", proxy);
        x.close("TargetGroups");
        Ok(())
    }

    pub(super) fn modify_target_group(
        &mut self,
        ctx: &Ctx,
        p: &Params,
        x: &mut Xml,
    ) -> AwsResult<()> {
        p.required("TargetGroupName")?;
        let key = self.proxy_and_group(p)?.name.to_ascii_lowercase();
        if p.str("NewName").is_some() {
            return Err(invalid("The default target group can't be renamed."));
        }
        let pct = |k: &str| -> AwsResult<Option<i64>> {
            let v = p.int(&format!("ConnectionPoolConfig.{k}"))?;
            if let Some(n) = v {
                if !(0..=100).contains(&n) {
                    return Err(invalid(format!("{k} must be between 0 and 100.")));
                }
            }
            Ok(v)
        };
        let max_conn = pct("MaxConnectionsPercent")?;
        let max_idle = pct("MaxIdleConnectionsPercent")?;
        let borrow = p.int("ConnectionPoolConfig.ConnectionBorrowTimeout")?;
        let init_query = p.string("ConnectionPoolConfig.InitQuery");
        let pinning = p.list("ConnectionPoolConfig.SessionPinningFilters", "member");
        let proxy = self.proxies.get_mut(&key).expect("looked up above");
        let tg = &mut proxy.target_group;
        let max_conn = max_conn.unwrap_or(tg.max_connections_percent);
        let max_idle = max_idle.unwrap_or(tg.max_idle_connections_percent);
        if max_idle > max_conn {
            return Err(invalid(
                "MaxIdleConnectionsPercent can't be greater than MaxConnectionsPercent.",
            ));
        }
        tg.max_connections_percent = max_conn;
        tg.max_idle_connections_percent = max_idle;
        if let Some(v) = borrow {
            tg.connection_borrow_timeout = v;
        }
        if let Some(v) = init_query {
            tg.init_query = Some(v);
        }
        if let Some(v) = pinning {
            tg.session_pinning_filters = v;
        }
        tg.updated = ctx.now;
        render_target_group(x, "DBProxyTargetGroup", proxy);
        Ok(())
    }
}

pub(super) fn render_proxy(ctx: &Ctx, x: &mut Xml, tag: &str, p: &Proxy) {
    x.open(tag)
        .text("DBProxyName", &p.name)
        .text("DBProxyArn", &p.arn)
        .text("Status", &p.status)
        .text("EngineFamily", &p.engine_family)
        .text("VpcId", &p.vpc_id)
        .strings("VpcSecurityGroupIds", "member", &p.security_groups)
        .strings("VpcSubnetIds", "member", &p.subnets)
        .opt("DefaultAuthScheme", p.default_auth_scheme.as_deref());
    x.list("Auth", "member", &p.auth, |x, a| {
        x.opt("Description", a.description.as_deref())
            .opt("UserName", a.user_name.as_deref())
            .text("AuthScheme", &a.auth_scheme)
            .opt("SecretArn", a.secret_arn.as_deref())
            .text("IAMAuth", &a.iam_auth)
            .opt(
                "ClientPasswordAuthType",
                a.client_password_auth_type.as_deref(),
            );
    });
    x.text("RoleArn", &p.role_arn)
        .text(
            "Endpoint",
            &format!(
                "{}.proxy-{}.{}.rds.amazonaws.com",
                p.name.to_ascii_lowercase(),
                account_hash(ctx),
                ctx.region
            ),
        )
        .val("RequireTLS", p.require_tls)
        .val("IdleClientTimeout", p.idle_client_timeout)
        .val("DebugLogging", p.debug_logging)
        .time("CreatedDate", p.created)
        .time("UpdatedDate", p.updated)
        .text("EndpointNetworkType", "IPV4")
        .text("TargetConnectionNetworkType", "IPV4")
        .close(tag);
}

pub(super) fn render_target_group(x: &mut Xml, tag: &str, p: &Proxy) {
    let tg = &p.target_group;
    x.open(tag)
        .text("DBProxyName", &p.name)
        .text("TargetGroupName", DEFAULT_TARGET_GROUP)
        .text("TargetGroupArn", &tg.arn)
        .val("IsDefault", true)
        .text("Status", "available")
        .open("ConnectionPoolConfig")
        .val("MaxConnectionsPercent", tg.max_connections_percent)
        .val("MaxIdleConnectionsPercent", tg.max_idle_connections_percent)
        .val("ConnectionBorrowTimeout", tg.connection_borrow_timeout)
        .strings(
            "SessionPinningFilters",
            "member",
            &tg.session_pinning_filters,
        )
        .opt("InitQuery", tg.init_query.as_deref())
        .close("ConnectionPoolConfig")
        .time("CreatedDate", tg.created)
        .time("UpdatedDate", tg.updated)
        .close(tag);
}

/// The error of every proxy operation its state forbids (the "Errors" of
/// ModifyDBProxy, DeleteDBProxy and RegisterDBProxyTargets).
pub(super) fn proxy_state_error(p: &Proxy) -> AwsError {
    AwsError::client(
        "InvalidDBProxyStateFault",
        format!("DB proxy {} is in {} state.", p.name, p.status),
    )
}

pub(super) fn validate_proxy_name(name: &str) -> AwsResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "The parameter DBProxyName is not a valid identifier: {name:?}. It must begin with a letter; contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens."
        )))
    }
}

pub(super) fn validate_role_arn(arn: &str) -> AwsResult<()> {
    if arn.starts_with("arn:aws:iam::") && arn.contains(":role/") {
        Ok(())
    } else {
        Err(invalid(format!(
            "RoleArn {arn} is not a valid IAM role ARN."
        )))
    }
}

pub(super) fn validate_idle_timeout(t: i64) -> AwsResult<()> {
    if (1..=28800).contains(&t) {
        Ok(())
    } else {
        Err(invalid(format!(
            "IdleClientTimeout {t} is not valid: it must be between 1 and 28800 seconds."
        )))
    }
}

/// `Auth.member.N.*`; `None` when the list was not sent.
pub(super) fn proxy_auth(p: &Params, family: &str) -> AwsResult<Option<Vec<ProxyAuth>>> {
    let Some(entries) = p.struct_list("Auth", "member") else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for e in entries {
        let auth_scheme = e
            .get("AuthScheme")
            .cloned()
            .unwrap_or_else(|| "SECRETS".into());
        if auth_scheme != "SECRETS" {
            return Err(invalid(format!(
                "Invalid AuthScheme {auth_scheme}: must be SECRETS."
            )));
        }
        let secret_arn = e.get("SecretArn").cloned();
        match &secret_arn {
            Some(a) if a.starts_with("arn:aws:secretsmanager:") => {}
            Some(a) => {
                return Err(invalid(format!(
                    "SecretArn {a} is not a valid Secrets Manager secret ARN."
                )))
            }
            None => return Err(invalid("Each Auth entry needs a SecretArn.")),
        }
        let iam_auth = e
            .get("IAMAuth")
            .cloned()
            .unwrap_or_else(|| "DISABLED".into());
        match iam_auth.as_str() {
            "DISABLED" | "REQUIRED" => {}
            "ENABLED" if family == "SQLSERVER" => {}
            "ENABLED" => {
                return Err(combination(
                    "IAMAuth ENABLED is only supported for the SQLSERVER engine family.",
                ))
            }
            other => {
                return Err(invalid(format!(
                    "Invalid IAMAuth {other}: must be DISABLED, REQUIRED or ENABLED."
                )))
            }
        }
        let client_password_auth_type = match e.get("ClientPasswordAuthType") {
            Some(t) => {
                let fits = match family {
                    "POSTGRESQL" => t.starts_with("POSTGRES_"),
                    "MYSQL" => t.starts_with("MYSQL_"),
                    _ => t == "SQL_SERVER_AUTHENTICATION",
                };
                if !fits {
                    return Err(invalid(format!(
                        "ClientPasswordAuthType {t} is not valid for engine family {family}."
                    )));
                }
                Some(t.clone())
            }
            None => Some(
                match family {
                    "POSTGRESQL" => "POSTGRES_SCRAM_SHA_256",
                    "MYSQL" => "MYSQL_NATIVE_PASSWORD",
                    _ => "SQL_SERVER_AUTHENTICATION",
                }
                .to_string(),
            ),
        };
        out.push(ProxyAuth {
            description: e.get("Description").cloned(),
            user_name: e.get("UserName").cloned(),
            auth_scheme,
            secret_arn,
            iam_auth,
            client_password_auth_type,
        });
    }
    Ok(Some(out))
}
