//! Renders the ECS task definition from the inline spec, and hashes it.
//!
//! The rendering (`document.rs`, rendered once) is the only thing berth
//! registers and the only thing it hashes: a DescribeTaskDefinition carries read-only fields and ECS defaults,
//! so comparing against one would see drift forever. A new revision is
//! registered exactly when the hash changes; the hash travels in a tag so an
//! existing revision can be recognised after a controller restart.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::types as ecs;
use serde_json::{json, Map, Value};

use super::document::{self, TaskDefinition};
use super::request;
pub use super::request::RenderedTaskDefinition;
use crate::api::task_definition::{ContainerSecret, LogDriver, NetworkMode, TaskDefinitionSpec};
use crate::hash::content_hash;

/// Part of the hashed content: bump it when the rendering changes in a way
/// that must (or may) roll out new tasks everywhere, so that it is deliberate.
pub const HASH_VERSION: &str = "1";

pub use crate::aws::tags::{TAG_OWNER, TAG_UID};
pub const TAG_HASH: &str = "berth.dev/spec-hash";

pub struct RenderInput<'a> {
    pub spec: &'a TaskDefinitionSpec,
    /// The resolved family (`spec.family`, else the service or job name); the
    /// spec's own `family` field is not consulted here.
    pub family: String,
    /// Region berth deploys to; fills `awslogs-region` when omitted.
    pub region: String,
    /// `<namespace>/<name>` of the owning object.
    pub owner: String,
    pub uid: String,
    pub user_tags: &'a BTreeMap<String, String>,
    /// Base Secrets Manager ARN (as returned by [`secret_arns`]) -> current
    /// version id. Secrets missing here simply do not contribute to the hash.
    pub secret_versions: &'a BTreeMap<String, String>,
}

impl RenderedTaskDefinition {
    /// Sets every rendered field, so that `rendered.apply(client.register_task_definition()).send()`
    /// registers exactly what was hashed.
    pub fn apply(
        &self,
        builder: RegisterTaskDefinitionFluentBuilder,
    ) -> RegisterTaskDefinitionFluentBuilder {
        builder
            .family(&self.family)
            .set_cpu(self.cpu.clone())
            .set_memory(self.memory.clone())
            .network_mode(self.network_mode.clone())
            .set_requires_compatibilities(Some(self.requires_compatibilities.clone()))
            .set_execution_role_arn(self.execution_role_arn.clone())
            .set_task_role_arn(self.task_role_arn.clone())
            .set_runtime_platform(self.runtime_platform.clone())
            .set_container_definitions(Some(self.container_definitions.clone()))
            .set_volumes(non_empty(&self.volumes))
            .set_tags(Some(self.tags.clone()))
    }

    /// Registers the rendering: `(arn, revision)`. RegisterTaskDefinition
    /// has no idempotency token, so it is sent once: a retry after a lost
    /// response would register a second revision with the same hash.
    /// A failed call is retried by the next reconcile instead, which first
    /// finds a revision already registered by its hash tag.
    pub async fn register(
        &self,
        clients: &crate::aws::Clients,
        prepaid: Option<crate::aws::Ticket>,
    ) -> Result<(String, i64), crate::aws::AwsFailure> {
        let out = clients
            .call_once_prepaid("ecs:RegisterTaskDefinition", prepaid, || {
                self.apply(clients.ecs.register_task_definition()).send()
            })
            .await?;
        let td = out.task_definition();
        let arn = td
            .and_then(|t| t.task_definition_arn())
            .unwrap_or_default()
            .to_string();
        Ok((arn, td.map(|t| t.revision()).unwrap_or(0) as i64))
    }

    /// The value of one tag, e.g. [`TAG_HASH`].
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key() == Some(key))
            .and_then(|t| t.value())
    }
}

/// Renders the task definition and its hash.
pub fn register_request(input: &RenderInput<'_>) -> RenderedTaskDefinition {
    let spec = canonical_spec(input.spec, &input.region);
    let td = document::task_definition(&spec, &input.family);
    let hash = hash_of(&td, secret_arns(&spec), input.secret_versions);

    let mut tags = input.user_tags.clone();
    // berth's tags win over user tags of the same key: ownership and the hash
    // must stay trustworthy (validation rejects `berth.dev/*` user tags anyway).
    tags.insert(TAG_OWNER.to_string(), input.owner.clone());
    tags.insert(TAG_UID.to_string(), input.uid.clone());
    tags.insert(TAG_HASH.to_string(), hash.clone());

    let tags = tags
        .into_iter()
        .map(|(k, v)| ecs::Tag::builder().key(k).value(v).build())
        .collect();
    request::rendered(td, tags, hash)
}

/// The distinct Secrets Manager secrets the task reads (container secrets and
/// log driver secret options), as base ARNs, sorted. SSM parameters have no
/// version to track and are left out.
pub fn secret_arns(spec: &TaskDefinitionSpec) -> Vec<String> {
    spec.containers
        .iter()
        .flat_map(|c| {
            c.secrets.iter().chain(
                c.log_configuration
                    .iter()
                    .flat_map(|l| l.secret_options.iter()),
            )
        })
        .filter_map(|s| secrets_manager_base_arn(&s.value_from))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME[:json-key:stage:version]`
/// cut to its first seven fields, the ARN DescribeSecret knows; `None` for
/// anything that is not a Secrets Manager secret ARN.
pub fn secrets_manager_base_arn(value_from: &str) -> Option<String> {
    let fields: Vec<&str> = value_from.split(':').collect();
    let is_secret = fields.len() >= 7
        && fields[0] == "arn"
        && fields[2] == "secretsmanager"
        && fields[5] == "secret"
        && !fields[6].is_empty();
    is_secret.then(|| fields[..7].join(":"))
}

/// The spec as ECS will hold it. Environment and secrets are sets of names
/// to ECS, so sorting them keeps a mere reordering from rolling out new tasks.
fn canonical_spec(spec: &TaskDefinitionSpec, region: &str) -> TaskDefinitionSpec {
    let mut spec = spec.clone();
    spec.requires_compatibilities.sort_by_key(|c| c.as_aws());
    spec.requires_compatibilities.dedup();
    // ECS reports hostPort = containerPort for these modes, whether or not it
    // was sent; rendering it keeps the registered definition equal to read-back.
    let host_port_is_container_port =
        matches!(spec.network_mode, NetworkMode::Awsvpc | NetworkMode::Host);
    for c in &mut spec.containers {
        c.environment.sort_by(|a, b| a.name.cmp(&b.name));
        sort_secrets(&mut c.secrets);
        if host_port_is_container_port {
            for p in &mut c.port_mappings {
                p.host_port.get_or_insert(p.container_port);
            }
        }
        if let Some(l) = &mut c.log_configuration {
            // Users should not have to repeat the region berth deploys to.
            if l.log_driver == LogDriver::Awslogs && !region.is_empty() {
                l.options
                    .entry("awslogs-region".to_string())
                    .or_insert_with(|| region.to_string());
            }
            sort_secrets(&mut l.secret_options);
        }
    }
    spec
}

fn sort_secrets(secrets: &mut [ContainerSecret]) {
    secrets.sort_by(|a, b| a.name.cmp(&b.name));
}

/// The hash of the rendering and of the versions of the secrets it reads:
/// a rotated secret rolls out new tasks.
fn hash_of(
    td: &TaskDefinition,
    secret_arns: Vec<String>,
    secret_versions: &BTreeMap<String, String>,
) -> String {
    // Only referenced secrets count, so a caller passing a wider map (or a
    // secret berth no longer uses rotating) does not roll out new tasks.
    let versions: Map<String, Value> = secret_arns
        .into_iter()
        .filter_map(|arn| {
            let version = secret_versions.get(&arn)?;
            Some((arn, Value::String(version.clone())))
        })
        .collect();
    let content = json!({
        "hashVersion": HASH_VERSION,
        "taskDefinition": td,
        "secretVersions": versions,
    });
    content_hash(&content)
}

/// ECS treats an empty list like an absent one; sending `None` keeps the
/// request minimal.
fn non_empty<T: Clone>(items: &[T]) -> Option<Vec<T>> {
    (!items.is_empty()).then(|| items.to_vec())
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "hash_tests.rs"]
mod hash_tests;
