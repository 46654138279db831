//! AWS access: one set of SDK clients per (region, role), built from the
//! default credential chain, with berth's app name (so calls are
//! attributable), bounded retries and timeouts, and an optional endpoint
//! override (awsim in tests).

pub mod call;
pub mod cloudmap;
pub mod ecr;
pub mod ecs;
pub mod error;
pub mod limiter;
pub mod logs;
pub mod rds;
pub mod secrets;
pub mod sts;
pub mod tags;
pub mod taskdef;
pub mod token;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{AppName, BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::sync::Mutex;

pub use call::{AwsMetrics, Pipeline};
pub use error::{classify, AwsFailure, FailureKind};
pub use limiter::{Limiter, Ticket};

/// Namespace annotation naming the AWS region of its resources.
pub const REGION_ANNOTATION: &str = "berth.dev/aws-region";
/// Namespace annotation naming a role to assume for its resources.
pub const ROLE_ANNOTATION: &str = "berth.dev/aws-role-arn";

/// Where a resource's AWS calls go.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub region: String,
    pub role_arn: Option<String>,
}

/// The SDK clients of one target, and the pipeline their calls go through.
#[derive(Clone)]
pub struct Clients {
    pub target: Target,
    pub pipeline: Arc<Pipeline>,
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub rds: aws_sdk_rds::Client,
    pub cloudmap: aws_sdk_servicediscovery::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub sts: sts::Sts,
    /// Batched reads (DescribeServices, DescribeTasks) shared by every
    /// reconcile of this target.
    pub batches: ecs::Batches,
}

#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub default_region: Option<String>,
    pub default_role_arn: Option<String>,
    pub endpoint_url: Option<String>,
    /// `--require-namespace-role`: a namespace without its own role gets
    /// no AWS target at all (neither `default_role_arn` nor berth's own
    /// credentials act for it).
    pub require_namespace_role: bool,
}

/// Why a namespace has no AWS target.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error(
        "no AWS region: annotate the namespace with {REGION_ANNOTATION} or start berth with --aws-region"
    )]
    NoRegion,
    #[error(
        "namespace {namespace} has no {ROLE_ANNOTATION} annotation, and berth runs with \
         --require-namespace-role so that no namespace acts with berth's own AWS identity: the \
         platform team must annotate the namespace with the IAM role berth assumes for it \
         ({ROLE_ANNOTATION}: arn:aws:iam::ACCOUNT:role/NAME); berth made no AWS call"
    )]
    NoNamespaceRole { namespace: String },
}

impl Clients {
    /// Sends a request through the pipeline (limiter, metrics,
    /// classification), retrying throttled and transient failures: for
    /// reads and for mutations that are idempotent (a client token, or
    /// the same end state when repeated).
    pub async fn call<T, E, Fut>(
        &self,
        action: &'static str,
        send: impl Fn() -> Fut,
    ) -> Result<T, AwsFailure>
    where
        Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.pipeline
            .call(&self.target, action, true, None, send)
            .await
    }

    /// Like [`Clients::call`] for a mutation without an idempotency token
    /// (RegisterTaskDefinition): a transient failure may have been executed,
    /// so it is not sent again; the next reconcile looks before it acts.
    pub async fn call_once<T, E, Fut>(
        &self,
        action: &'static str,
        send: impl Fn() -> Fut,
    ) -> Result<T, AwsFailure>
    where
        Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.call_once_prepaid(action, None, send).await
    }

    /// [`Clients::call_once`] whose first attempt spends `prepaid` (taken
    /// with [`Clients::ticket`]) instead of waiting for a token.
    pub async fn call_once_prepaid<T, E, Fut>(
        &self,
        action: &'static str,
        prepaid: Option<Ticket>,
        send: impl Fn() -> Fut,
    ) -> Result<T, AwsFailure>
    where
        Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.pipeline
            .call(&self.target, action, false, prepaid, send)
            .await
    }

    /// A token for `action`, taken now for a call made at the ticket's time
    /// (see [`limiter::Limiter::ticket`]).
    pub fn ticket(&self, action: &str) -> Ticket {
        self.pipeline.limiter.ticket(&self.target, action)
    }
}

/// The target of `namespace` from its annotations, falling back to the
/// controller's flags. Only cluster admins can annotate namespaces, so a
/// resource can never pick its own role. With `--require-namespace-role`
/// the namespace's own role is the only one: `--aws-role-arn` and berth's
/// own credentials never act for a tenant.
pub fn resolve_target(
    settings: &Settings,
    namespace: &str,
    annotations: &std::collections::BTreeMap<String, String>,
) -> Result<Target, TargetError> {
    let own_role = annotations
        .get(ROLE_ANNOTATION)
        .filter(|r| !r.trim().is_empty())
        .cloned();
    if settings.require_namespace_role && own_role.is_none() {
        return Err(TargetError::NoNamespaceRole {
            namespace: namespace.to_string(),
        });
    }
    let region = annotations
        .get(REGION_ANNOTATION)
        .cloned()
        .or_else(|| settings.default_region.clone())
        .ok_or(TargetError::NoRegion)?;
    let role_arn = own_role.or_else(|| settings.default_role_arn.clone());
    Ok(Target { region, role_arn })
}

/// Builds and caches clients per target.
pub struct Factory {
    settings: Settings,
    pipeline: Arc<Pipeline>,
    cache: Mutex<HashMap<Target, Arc<Clients>>>,
}

impl Factory {
    pub fn new(settings: Settings, pipeline: Arc<Pipeline>) -> Self {
        Self {
            settings,
            pipeline,
            cache: Mutex::default(),
        }
    }

    /// The target of `namespace` ([`resolve_target`]).
    pub fn target(
        &self,
        namespace: &str,
        annotations: &std::collections::BTreeMap<String, String>,
    ) -> Result<Target, TargetError> {
        resolve_target(&self.settings, namespace, annotations)
    }

    pub async fn clients(&self, target: &Target) -> Arc<Clients> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.get(target) {
            return c.clone();
        }
        let config = self.sdk_config(target).await;
        let clients = Arc::new(Clients {
            target: target.clone(),
            pipeline: self.pipeline.clone(),
            ecs: aws_sdk_ecs::Client::new(&config),
            ecr: aws_sdk_ecr::Client::new(&config),
            rds: aws_sdk_rds::Client::new(&config),
            cloudmap: aws_sdk_servicediscovery::Client::new(&config),
            secrets: aws_sdk_secretsmanager::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            sts: sts::Sts::new(&config),
            batches: ecs::Batches::default(),
        });
        cache.insert(target.clone(), clients.clone());
        clients
    }

    async fn sdk_config(&self, target: &Target) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(target.region.clone()))
            .app_name(AppName::new("berth").expect("a valid app name"))
            // Retries happen in the call pipeline, where each attempt takes a
            // limiter token and is counted, and where a mutation without an
            // idempotency token is never sent twice.
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(20))
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(url) = &self.settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let base = loader.load().await;
        let Some(role) = &target.role_arn else {
            return base;
        };
        let provider = aws_config::sts::AssumeRoleProvider::builder(role)
            .session_name("berth")
            .configure(&base)
            .build()
            .await;
        base.into_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            )
            .build()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const OWN: &str = "arn:aws:iam::123456789012:role/team-a";
    const FLAG: &str = "arn:aws:iam::123456789012:role/berth-default";

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn settings(require: bool) -> Settings {
        Settings {
            default_region: Some("us-east-1".into()),
            default_role_arn: Some(FLAG.into()),
            endpoint_url: None,
            require_namespace_role: require,
        }
    }

    #[test]
    fn the_namespace_role_wins_over_the_flags() {
        for require in [false, true] {
            let t = resolve_target(
                &settings(require),
                "a",
                &annotations(&[(ROLE_ANNOTATION, OWN), (REGION_ANNOTATION, "eu-west-1")]),
            )
            .unwrap();
            assert_eq!(t.role_arn.as_deref(), Some(OWN));
            assert_eq!(t.region, "eu-west-1");
        }
    }

    #[test]
    fn without_the_requirement_the_flags_are_the_fallback() {
        let t = resolve_target(&settings(false), "a", &BTreeMap::new()).unwrap();
        assert_eq!(t.role_arn.as_deref(), Some(FLAG));
        assert_eq!(t.region, "us-east-1");
        let own = Settings {
            default_role_arn: None,
            ..settings(false)
        };
        let t = resolve_target(&own, "a", &BTreeMap::new()).unwrap();
        assert_eq!(t.role_arn, None, "berth's own credentials");
        let nowhere = Settings {
            default_region: None,
            ..settings(false)
        };
        assert_eq!(
            resolve_target(&nowhere, "a", &BTreeMap::new()),
            Err(TargetError::NoRegion)
        );
    }

    #[test]
    fn with_the_requirement_a_namespace_without_its_role_has_no_target() {
        for missing in [
            annotations(&[]),
            annotations(&[(REGION_ANNOTATION, "eu-west-1")]),
            annotations(&[(ROLE_ANNOTATION, " ")]),
        ] {
            let err = resolve_target(&settings(true), "shop", &missing).unwrap_err();
            assert_eq!(
                err,
                TargetError::NoNamespaceRole {
                    namespace: "shop".into()
                }
            );
            let message = err.to_string();
            assert!(
                message.contains("namespace shop has no berth.dev/aws-role-arn annotation")
                    && message.contains("platform team must annotate the namespace"),
                "{message}"
            );
        }
    }
}
