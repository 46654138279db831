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

    /// The target of a namespace from its annotations, falling back to the
    /// controller's flags. Only cluster admins can annotate namespaces, so a
    /// resource can never pick its own role.
    pub fn target(
        &self,
        annotations: &std::collections::BTreeMap<String, String>,
    ) -> Result<Target, String> {
        let region = annotations
            .get(REGION_ANNOTATION)
            .cloned()
            .or_else(|| self.settings.default_region.clone())
            .ok_or_else(|| {
                format!(
                    "no AWS region: annotate the namespace with {REGION_ANNOTATION} or start berth with --aws-region"
                )
            })?;
        let role_arn = annotations
            .get(ROLE_ANNOTATION)
            .cloned()
            .or_else(|| self.settings.default_role_arn.clone());
        Ok(Target { region, role_arn })
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
