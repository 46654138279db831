//! Renders the ECS task definition from the inline spec, and hashes it.
//!
//! The rendering is the only thing berth registers and the only thing it
//! hashes: a DescribeTaskDefinition carries read-only fields and ECS defaults,
//! so comparing against one would see drift forever. A new revision is
//! registered exactly when the hash changes; the hash travels in a tag so an
//! existing revision can be recognised after a controller restart.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::types as ecs;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::api::task_definition::{
    AppProtocol, ContainerSecret, ContainerSpec, CpuArchitecture, DependencyCondition, HealthCheck,
    LogConfiguration, LogDriver, NetworkMode, PortMapping, Protocol, TaskDefinitionSpec, Volume,
};
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

/// Everything RegisterTaskDefinition needs, already canonical: environment
/// variables and secrets sorted by name, `hostPort` and `awslogs-region`
/// filled in the way ECS would report them back.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedTaskDefinition {
    pub family: String,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub network_mode: ecs::NetworkMode,
    pub requires_compatibilities: Vec<ecs::Compatibility>,
    pub execution_role_arn: Option<String>,
    pub task_role_arn: Option<String>,
    pub runtime_platform: Option<ecs::RuntimePlatform>,
    pub container_definitions: Vec<ecs::ContainerDefinition>,
    pub volumes: Vec<ecs::Volume>,
    /// User tags plus berth's owner, uid and hash tags, sorted by key.
    pub tags: Vec<ecs::Tag>,
    pub hash: String,
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
    let hash = hash_of(&spec, &input.family, input.secret_versions);

    let mut tags = input.user_tags.clone();
    // berth's tags win over user tags of the same key: ownership and the hash
    // must stay trustworthy (validation rejects `berth.dev/*` user tags anyway).
    tags.insert(TAG_OWNER.to_string(), input.owner.clone());
    tags.insert(TAG_UID.to_string(), input.uid.clone());
    tags.insert(TAG_HASH.to_string(), hash.clone());

    RenderedTaskDefinition {
        family: input.family.clone(),
        cpu: spec.cpu.map(|c| c.to_string()),
        memory: spec.memory.map(|m| m.to_string()),
        network_mode: ecs::NetworkMode::from(spec.network_mode.as_aws()),
        requires_compatibilities: spec
            .requires_compatibilities
            .iter()
            .map(|c| ecs::Compatibility::from(c.as_aws()))
            .collect(),
        execution_role_arn: spec.execution_role_arn.clone(),
        task_role_arn: spec.task_role_arn.clone(),
        runtime_platform: spec.runtime_platform.as_ref().map(|p| {
            ecs::RuntimePlatform::builder()
                .set_cpu_architecture(
                    p.cpu_architecture
                        .map(|a| ecs::CpuArchitecture::from(cpu_architecture(a))),
                )
                .set_operating_system_family(
                    p.operating_system_family
                        .as_deref()
                        .map(ecs::OsFamily::from),
                )
                .build()
        }),
        container_definitions: spec.containers.iter().map(container_definition).collect(),
        volumes: spec.volumes.iter().map(volume).collect(),
        tags: tags
            .into_iter()
            .map(|(k, v)| ecs::Tag::builder().key(k).value(v).build())
            .collect(),
        hash,
    }
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

fn hash_of(
    spec: &TaskDefinitionSpec,
    family: &str,
    secret_versions: &BTreeMap<String, String>,
) -> String {
    // Only referenced secrets count, so a caller passing a wider map (or a
    // secret berth no longer uses rotating) does not roll out new tasks.
    let versions: Map<String, Value> = secret_arns(spec)
        .into_iter()
        .filter_map(|arn| {
            let version = secret_versions.get(&arn)?;
            Some((arn, Value::String(version.clone())))
        })
        .collect();
    let content = json!({
        "hashVersion": HASH_VERSION,
        "taskDefinition": task_definition_json(spec, family),
        "secretVersions": versions,
    });
    content_hash(&content)
}

/// The hashed form, in ECS's field names. Absent and empty are both left out
/// (the request does the same), so new optional spec fields do not change the
/// hash of specs that do not use them.
fn task_definition_json(spec: &TaskDefinitionSpec, family: &str) -> Value {
    let mut td = Map::new();
    put(&mut td, "family", Some(family));
    put(&mut td, "cpu", spec.cpu.map(|c| c.to_string()));
    put(&mut td, "memory", spec.memory.map(|m| m.to_string()));
    put(&mut td, "networkMode", Some(spec.network_mode.as_aws()));
    let compatibilities: Vec<_> = spec
        .requires_compatibilities
        .iter()
        .map(|c| c.as_aws())
        .collect();
    put(&mut td, "requiresCompatibilities", Some(compatibilities));
    put(
        &mut td,
        "executionRoleArn",
        spec.execution_role_arn.as_ref(),
    );
    put(&mut td, "taskRoleArn", spec.task_role_arn.as_ref());
    if let Some(p) = &spec.runtime_platform {
        let mut rp = Map::new();
        put(
            &mut rp,
            "cpuArchitecture",
            p.cpu_architecture.map(cpu_architecture),
        );
        put(
            &mut rp,
            "operatingSystemFamily",
            p.operating_system_family.as_ref(),
        );
        td.insert("runtimePlatform".into(), Value::Object(rp));
    }
    let containers: Vec<_> = spec.containers.iter().map(container_json).collect();
    put(&mut td, "containerDefinitions", Some(containers));
    put_list(
        &mut td,
        "volumes",
        spec.volumes.iter().map(volume_json).collect(),
    );
    Value::Object(td)
}

fn container_json(c: &ContainerSpec) -> Value {
    let mut m = Map::new();
    put(&mut m, "name", Some(&c.name));
    put(&mut m, "image", Some(&c.image));
    put(&mut m, "essential", Some(c.essential));
    put_list(
        &mut m,
        "command",
        c.command.iter().map(|s| json!(s)).collect(),
    );
    put_list(
        &mut m,
        "entryPoint",
        c.entry_point.iter().map(|s| json!(s)).collect(),
    );
    let environment = c
        .environment
        .iter()
        .map(|e| json!({"name": e.name, "value": e.value}));
    put_list(&mut m, "environment", environment.collect());
    put_list(
        &mut m,
        "secrets",
        c.secrets.iter().map(secret_json).collect(),
    );
    put_list(
        &mut m,
        "portMappings",
        c.port_mappings.iter().map(port_json).collect(),
    );
    put(
        &mut m,
        "healthCheck",
        c.health_check.as_ref().map(health_check_json),
    );
    put(
        &mut m,
        "logConfiguration",
        c.log_configuration.as_ref().map(log_json),
    );
    let depends_on = c.depends_on.iter().map(|d| {
        json!({"containerName": d.container_name, "condition": dependency_condition(d.condition)})
    });
    put_list(&mut m, "dependsOn", depends_on.collect());
    let ulimits = c
        .ulimits
        .iter()
        .map(|u| json!({"name": u.name, "softLimit": u.soft_limit, "hardLimit": u.hard_limit}));
    put_list(&mut m, "ulimits", ulimits.collect());
    put(&mut m, "readonlyRootFilesystem", c.readonly_root_filesystem);
    put(&mut m, "user", c.user.as_ref());
    put(&mut m, "cpu", c.cpu);
    put(&mut m, "memory", c.memory);
    put(&mut m, "memoryReservation", c.memory_reservation);
    let mount_points = c.mount_points.iter().map(|p| {
        json!({"sourceVolume": p.source_volume, "containerPath": p.container_path, "readOnly": p.read_only})
    });
    put_list(&mut m, "mountPoints", mount_points.collect());
    Value::Object(m)
}

fn secret_json(s: &ContainerSecret) -> Value {
    json!({"name": s.name, "valueFrom": s.value_from})
}

fn port_json(p: &PortMapping) -> Value {
    let mut m = Map::new();
    put(&mut m, "containerPort", Some(p.container_port));
    put(&mut m, "hostPort", p.host_port);
    put(&mut m, "protocol", Some(protocol(p.protocol)));
    put(&mut m, "name", p.name.as_ref());
    put(&mut m, "appProtocol", p.app_protocol.map(app_protocol));
    Value::Object(m)
}

fn health_check_json(h: &HealthCheck) -> Value {
    let mut m = Map::new();
    put(&mut m, "command", Some(&h.command));
    put(&mut m, "interval", h.interval);
    put(&mut m, "timeout", h.timeout);
    put(&mut m, "retries", h.retries);
    put(&mut m, "startPeriod", h.start_period);
    Value::Object(m)
}

fn log_json(l: &LogConfiguration) -> Value {
    let mut m = Map::new();
    put(&mut m, "logDriver", Some(l.log_driver.as_aws()));
    put(
        &mut m,
        "options",
        (!l.options.is_empty()).then_some(&l.options),
    );
    put_list(
        &mut m,
        "secretOptions",
        l.secret_options.iter().map(secret_json).collect(),
    );
    Value::Object(m)
}

fn volume_json(v: &Volume) -> Value {
    let mut m = Map::new();
    put(&mut m, "name", Some(&v.name));
    if let Some(efs) = &v.efs {
        let mut e = Map::new();
        put(&mut e, "fileSystemId", Some(&efs.file_system_id));
        put(&mut e, "rootDirectory", efs.root_directory.as_ref());
        put(
            &mut e,
            "transitEncryption",
            Some(transit_encryption(efs.transit_encryption)),
        );
        let authorization = efs
            .access_point_id
            .as_ref()
            .map(|ap| json!({"accessPointId": ap}));
        put(&mut e, "authorizationConfig", authorization);
        m.insert("efsVolumeConfiguration".into(), Value::Object(e));
    }
    Value::Object(m)
}

fn put<T: Serialize>(map: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(v) = value {
        map.insert(key.into(), json!(v));
    }
}

fn put_list(map: &mut Map<String, Value>, key: &str, items: Vec<Value>) {
    if !items.is_empty() {
        map.insert(key.into(), Value::Array(items));
    }
}

/// ECS treats an empty list like an absent one; sending `None` keeps the
/// request minimal.
fn non_empty<T: Clone>(items: &[T]) -> Option<Vec<T>> {
    (!items.is_empty()).then(|| items.to_vec())
}

fn container_definition(c: &ContainerSpec) -> ecs::ContainerDefinition {
    ecs::ContainerDefinition::builder()
        .name(&c.name)
        .image(&c.image)
        .essential(c.essential)
        .set_command(non_empty(&c.command))
        .set_entry_point(non_empty(&c.entry_point))
        .set_environment(non_empty(
            &c.environment
                .iter()
                .map(|e| {
                    ecs::KeyValuePair::builder()
                        .name(&e.name)
                        .value(&e.value)
                        .build()
                })
                .collect::<Vec<_>>(),
        ))
        .set_secrets(non_empty(&c.secrets.iter().map(secret).collect::<Vec<_>>()))
        .set_port_mappings(non_empty(
            &c.port_mappings.iter().map(port_mapping).collect::<Vec<_>>(),
        ))
        .set_health_check(c.health_check.as_ref().map(health_check))
        .set_log_configuration(c.log_configuration.as_ref().map(log_configuration))
        .set_depends_on(non_empty(
            &c.depends_on
                .iter()
                .map(|d| {
                    ecs::ContainerDependency::builder()
                        .container_name(&d.container_name)
                        .condition(ecs::ContainerCondition::from(dependency_condition(
                            d.condition,
                        )))
                        .build()
                        .expect("containerName and condition are always set")
                })
                .collect::<Vec<_>>(),
        ))
        .set_ulimits(non_empty(
            &c.ulimits
                .iter()
                .map(|u| {
                    ecs::Ulimit::builder()
                        .name(ecs::UlimitName::from(u.name.as_str()))
                        .soft_limit(u.soft_limit)
                        .hard_limit(u.hard_limit)
                        .build()
                        .expect("name is always set")
                })
                .collect::<Vec<_>>(),
        ))
        .set_readonly_root_filesystem(c.readonly_root_filesystem)
        .set_user(c.user.clone())
        .set_cpu(c.cpu)
        .set_memory(c.memory)
        .set_memory_reservation(c.memory_reservation)
        .set_mount_points(non_empty(
            &c.mount_points
                .iter()
                .map(|p| {
                    ecs::MountPoint::builder()
                        .source_volume(&p.source_volume)
                        .container_path(&p.container_path)
                        .read_only(p.read_only)
                        .build()
                })
                .collect::<Vec<_>>(),
        ))
        .build()
}

fn secret(s: &ContainerSecret) -> ecs::Secret {
    ecs::Secret::builder()
        .name(&s.name)
        .value_from(&s.value_from)
        .build()
        .expect("name and valueFrom are always set")
}

fn port_mapping(p: &PortMapping) -> ecs::PortMapping {
    ecs::PortMapping::builder()
        .container_port(p.container_port)
        .set_host_port(p.host_port)
        .protocol(ecs::TransportProtocol::from(protocol(p.protocol)))
        .set_name(p.name.clone())
        .set_app_protocol(
            p.app_protocol
                .map(|a| ecs::ApplicationProtocol::from(app_protocol(a))),
        )
        .build()
}

fn health_check(h: &HealthCheck) -> ecs::HealthCheck {
    ecs::HealthCheck::builder()
        .set_command(Some(h.command.clone()))
        .set_interval(h.interval)
        .set_timeout(h.timeout)
        .set_retries(h.retries)
        .set_start_period(h.start_period)
        .build()
        .expect("command is always set")
}

fn log_configuration(l: &LogConfiguration) -> ecs::LogConfiguration {
    ecs::LogConfiguration::builder()
        .log_driver(ecs::LogDriver::from(l.log_driver.as_aws()))
        .set_options((!l.options.is_empty()).then(|| {
            l.options
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }))
        .set_secret_options(non_empty(
            &l.secret_options.iter().map(secret).collect::<Vec<_>>(),
        ))
        .build()
        .expect("logDriver is always set")
}

fn volume(v: &Volume) -> ecs::Volume {
    ecs::Volume::builder()
        .name(&v.name)
        .set_efs_volume_configuration(v.efs.as_ref().map(|efs| {
            ecs::EfsVolumeConfiguration::builder()
                .file_system_id(&efs.file_system_id)
                .set_root_directory(efs.root_directory.clone())
                .transit_encryption(ecs::EfsTransitEncryption::from(transit_encryption(
                    efs.transit_encryption,
                )))
                .set_authorization_config(efs.access_point_id.as_ref().map(|ap| {
                    ecs::EfsAuthorizationConfig::builder()
                        .access_point_id(ap)
                        .build()
                }))
                .build()
                .expect("fileSystemId is always set")
        }))
        .build()
}

fn cpu_architecture(a: CpuArchitecture) -> &'static str {
    match a {
        CpuArchitecture::X86_64 => "X86_64",
        CpuArchitecture::Arm64 => "ARM64",
    }
}

fn protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

fn app_protocol(a: AppProtocol) -> &'static str {
    match a {
        AppProtocol::Http => "http",
        AppProtocol::Http2 => "http2",
        AppProtocol::Grpc => "grpc",
    }
}

fn dependency_condition(c: DependencyCondition) -> &'static str {
    match c {
        DependencyCondition::Start => "START",
        DependencyCondition::Complete => "COMPLETE",
        DependencyCondition::Success => "SUCCESS",
        DependencyCondition::Healthy => "HEALTHY",
    }
}

fn transit_encryption(enabled: bool) -> &'static str {
    if enabled {
        "ENABLED"
    } else {
        "DISABLED"
    }
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
