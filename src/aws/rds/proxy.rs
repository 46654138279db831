//! RDS Proxy: the proxy of an AuroraCluster, its default target group and
//! the registered cluster's health.

use std::collections::BTreeMap;

use aws_sdk_rds::types::{
    AuthScheme, ClientPasswordAuthType, EngineFamily, IamAuthMode, UserAuthConfig,
};

use super::{already_exists, gone_is_ok, list_tags, not_found, ours, tag_list, Created};
use crate::aws::tags::TAG_OWNER;
use crate::aws::{AwsFailure, Clients};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyView {
    pub name: String,
    pub arn: String,
    pub status: String,
    pub endpoint: Option<String>,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub require_tls: bool,
    pub idle_client_timeout: Option<i32>,
    pub role_arn: String,
    pub auth: Vec<ProxyAuth>,
    /// The proxy's tags (DescribeDBProxies has none: ListTagsForResource).
    /// `None` when not listed because `status.proxyArn` already records
    /// this very proxy (ARNs are unique per proxy) as berth's.
    pub tags: Option<BTreeMap<String, String>>,
}

/// One `Auth` entry of a proxy (UserAuthConfigInfo).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyAuth {
    pub description: Option<String>,
    pub user_name: Option<String>,
    pub secret_arn: Option<String>,
    /// DISABLED, REQUIRED or ENABLED.
    pub iam_auth: String,
    pub client_password_auth_type: Option<String>,
}

/// The health of the cluster registered as a proxy's target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetView {
    pub cluster_id: String,
    /// REGISTERING, AVAILABLE, UNAVAILABLE.
    pub state: String,
    /// Why it is not AVAILABLE (UNREACHABLE, AUTH_FAILURE, …).
    pub reason: Option<String>,
    pub description: Option<String>,
}

/// What CreateDBProxy sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyCreate {
    pub name: String,
    pub engine_family: String,
    pub require_tls: bool,
    pub iam_auth_required: bool,
    pub idle_client_timeout: i32,
    pub role_arn: String,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub secret_arn: String,
    pub tags: BTreeMap<String, String>,
}

/// What ModifyDBProxy sends: only the settings that changed. ModifyDBProxy
/// cannot change a proxy's subnets.
/// <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBProxy.html>
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyModify {
    pub require_tls: Option<bool>,
    pub idle_client_timeout: Option<i32>,
    pub role_arn: Option<String>,
    pub security_group_ids: Option<Vec<String>>,
    /// `Auth` replaces the whole list: every entry, with IAMAuth changed.
    pub auth: Option<Vec<ProxyAuth>>,
}

impl ProxyModify {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The changed settings, for an Event.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = self.require_tls {
            parts.push(format!("require TLS {t}"));
        }
        if let Some(t) = self.idle_client_timeout {
            parts.push(format!("idle client timeout {t}s"));
        }
        if let Some(r) = &self.role_arn {
            parts.push(format!("role {r}"));
        }
        if let Some(sgs) = &self.security_group_ids {
            parts.push(format!("security groups {}", sgs.join(", ")));
        }
        if let Some(a) = self.auth.as_ref().and_then(|a| a.first()) {
            parts.push(format!("IAM auth {}", a.iam_auth));
        }
        parts.join(", ")
    }
}

/// The proxy named `name`; its tags (ListTagsForResource) only when
/// `with_tags(arn)` asks for them (see [`ProxyView::tags`]).
pub async fn describe_proxy(
    clients: &Clients,
    name: &str,
    with_tags: impl FnOnce(&str) -> bool,
) -> Result<Option<ProxyView>, AwsFailure> {
    let out = match clients
        .call("rds:DescribeDBProxies", || {
            clients.rds.describe_db_proxies().db_proxy_name(name).send()
        })
        .await
    {
        Ok(out) => out,
        Err(f) if not_found(&f) => return Ok(None),
        Err(f) => return Err(f),
    };
    let Some(p) = out.db_proxies().first() else {
        return Ok(None);
    };
    let mut view = ProxyView {
        name: p.db_proxy_name().unwrap_or_default().to_string(),
        arn: p.db_proxy_arn().unwrap_or_default().to_string(),
        status: p
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        endpoint: p.endpoint().map(str::to_string),
        subnet_ids: p.vpc_subnet_ids().to_vec(),
        security_group_ids: p.vpc_security_group_ids().to_vec(),
        require_tls: p.require_tls().unwrap_or(false),
        idle_client_timeout: p.idle_client_timeout(),
        role_arn: p.role_arn().unwrap_or_default().to_string(),
        auth: p
            .auth()
            .iter()
            .map(|a| ProxyAuth {
                description: a.description().map(str::to_string),
                user_name: a.user_name().map(str::to_string),
                secret_arn: a.secret_arn().map(str::to_string),
                iam_auth: a
                    .iam_auth()
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_else(|| "DISABLED".into()),
                client_password_auth_type: a
                    .client_password_auth_type()
                    .map(|t| t.as_str().to_string()),
            })
            .collect(),
        tags: None,
    };
    if with_tags(&view.arn) {
        view.tags = Some(list_tags(clients, &view.arn).await?);
    }
    Ok(Some(view))
}

/// The registered cluster of the proxy's default target group, if any.
pub async fn describe_proxy_target(
    clients: &Clients,
    proxy: &str,
) -> Result<Option<TargetView>, AwsFailure> {
    let out = match clients
        .call("rds:DescribeDBProxyTargets", || {
            clients
                .rds
                .describe_db_proxy_targets()
                .db_proxy_name(proxy)
                .send()
        })
        .await
    {
        Ok(out) => out,
        Err(f) if not_found(&f) => return Ok(None),
        Err(f) => return Err(f),
    };
    Ok(out
        .targets()
        .iter()
        .find(|t| t.r#type().is_some_and(|t| t.as_str() == "TRACKED_CLUSTER"))
        .map(|t| TargetView {
            cluster_id: t.tracked_cluster_id().unwrap_or_default().to_string(),
            state: t
                .target_health()
                .and_then(|h| h.state())
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            reason: t
                .target_health()
                .and_then(|h| h.reason())
                .map(|r| r.as_str().to_string()),
            description: t
                .target_health()
                .and_then(|h| h.description())
                .map(str::to_string),
        }))
}

fn iam_mode(required: bool) -> IamAuthMode {
    if required {
        IamAuthMode::Required
    } else {
        IamAuthMode::Disabled
    }
}

pub async fn create_proxy(clients: &Clients, p: &ProxyCreate) -> Result<Created, AwsFailure> {
    let list = tag_list(&p.tags);
    let auth = UserAuthConfig::builder()
        .auth_scheme(AuthScheme::Secrets)
        .secret_arn(&p.secret_arn)
        .iam_auth(iam_mode(p.iam_auth_required))
        .build();
    match clients
        .call_once("rds:CreateDBProxy", || {
            clients
                .rds
                .create_db_proxy()
                .db_proxy_name(&p.name)
                .engine_family(EngineFamily::from(p.engine_family.as_str()))
                .auth(auth.clone())
                .role_arn(&p.role_arn)
                .set_vpc_subnet_ids(Some(p.subnet_ids.clone()))
                .set_vpc_security_group_ids(
                    Some(p.security_group_ids.clone()).filter(|s| !s.is_empty()),
                )
                .require_tls(p.require_tls)
                .idle_client_timeout(p.idle_client_timeout)
                .set_tags(Some(list.clone()))
                .send()
        })
        .await
    {
        Ok(_) => Ok(Created::Created),
        Err(f) if already_exists(&f) => {
            let Some(existing) = describe_proxy(clients, &p.name, |_| true).await? else {
                return Err(f);
            };
            let owner = p
                .tags
                .get(TAG_OWNER)
                .map(String::as_str)
                .unwrap_or_default();
            Ok(ours(&existing.tags.unwrap_or_default(), owner))
        }
        Err(f) => Err(f),
    }
}

/// Applies at once (ModifyDBProxy has no maintenance window). Sent again
/// after a transient failure, it asks for the same end state.
pub async fn modify_proxy(
    clients: &Clients,
    name: &str,
    m: &ProxyModify,
) -> Result<(), AwsFailure> {
    let auth: Option<Vec<UserAuthConfig>> = m.auth.as_ref().map(|entries| {
        entries
            .iter()
            .map(|a| {
                UserAuthConfig::builder()
                    .auth_scheme(AuthScheme::Secrets)
                    .set_description(a.description.clone())
                    .set_user_name(a.user_name.clone())
                    .set_secret_arn(a.secret_arn.clone())
                    .iam_auth(IamAuthMode::from(a.iam_auth.as_str()))
                    .set_client_password_auth_type(
                        a.client_password_auth_type
                            .as_deref()
                            .map(ClientPasswordAuthType::from),
                    )
                    .build()
            })
            .collect()
    });
    clients
        .call("rds:ModifyDBProxy", || {
            clients
                .rds
                .modify_db_proxy()
                .db_proxy_name(name)
                .set_require_tls(m.require_tls)
                .set_idle_client_timeout(m.idle_client_timeout)
                .set_role_arn(m.role_arn.clone())
                .set_security_groups(m.security_group_ids.clone())
                .set_auth(auth.clone())
                .send()
        })
        .await?;
    Ok(())
}

/// Registers the cluster as the proxy's target; registering it twice is
/// not an error (the state berth wanted).
pub async fn register_proxy_target(
    clients: &Clients,
    proxy: &str,
    cluster_id: &str,
) -> Result<(), AwsFailure> {
    match clients
        .call("rds:RegisterDBProxyTargets", || {
            clients
                .rds
                .register_db_proxy_targets()
                .db_proxy_name(proxy)
                .db_cluster_identifiers(cluster_id)
                .send()
        })
        .await
    {
        Ok(_) => Ok(()),
        Err(f) if f.is_code("DBProxyTargetAlreadyRegisteredFault") => Ok(()),
        Err(f) => Err(f),
    }
}

/// Deletes; `false` when it was gone already.
pub async fn delete_proxy(clients: &Clients, name: &str) -> Result<bool, AwsFailure> {
    gone_is_ok(
        clients
            .call("rds:DeleteDBProxy", || {
                clients.rds.delete_db_proxy().db_proxy_name(name).send()
            })
            .await,
    )
}
