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
use sha2::{Digest, Sha256};

use crate::api::task_definition::{
    AppProtocol, ContainerSecret, ContainerSpec, CpuArchitecture, DependencyCondition, HealthCheck,
    LogConfiguration, LogDriver, NetworkMode, PortMapping, Protocol, TaskDefinitionSpec, Volume,
};

/// Part of the hashed content: bump it when the rendering changes in a way
/// that must (or may) roll out new tasks everywhere, so that it is deliberate.
pub const HASH_VERSION: &str = "1";

pub const TAG_OWNER: &str = "berth.dev/owner";
pub const TAG_UID: &str = "berth.dev/uid";
pub const TAG_HASH: &str = "berth.dev/spec-hash";

/// How many hex characters of the SHA-256 digest are kept: short enough for a
/// tag and a status column, far beyond collisions among one family's revisions.
const HASH_LEN: usize = 16;

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
    ) -> Result<(String, i64), crate::aws::AwsFailure> {
        let out = clients
            .call_once("ecs:RegisterTaskDefinition", || {
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

/// The first 16 hex characters of the sha256 of `value`'s canonical JSON:
/// the identity of a task definition rendering or of a MigrationJob run.
pub fn content_hash(value: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(value, &mut canonical);
    let digest = Sha256::digest(canonical.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex[..HASH_LEN].to_string()
}

/// Sorted keys, no whitespace: independent of how serde_json orders maps
/// (its `preserve_order` feature may be switched on by another crate).
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
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
mod tests {
    use super::*;
    use crate::api::common::EnvVar;

    /// The `taskDefinition` of examples/api.yaml.
    const EXAMPLE: &str = r#"
family: shop-api
cpu: 512
memory: 1024
networkMode: awsvpc
requiresCompatibilities: [FARGATE]
executionRoleArn: arn:aws:iam::123456789012:role/shop-api-execution
taskRoleArn: arn:aws:iam::123456789012:role/shop-api-task
runtimePlatform:
  cpuArchitecture: ARM64
  operatingSystemFamily: LINUX
containers:
  - name: api
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api:1.4.2
    portMappings:
      - containerPort: 8080
        name: http
        appProtocol: http
    environment:
      - name: LOG_LEVEL
        value: info
    secrets:
      - name: STRIPE_API_KEY
        valueFrom: arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/stripe-api-key-AbCdEf
    healthCheck:
      command: ["CMD-SHELL", "wget -qO- http://localhost:8080/healthz || exit 1"]
      interval: 10
      timeout: 5
      retries: 3
      startPeriod: 20
    logConfiguration:
      logDriver: awslogs
      options:
        awslogs-group: /shop/api
        awslogs-stream-prefix: api
    readonlyRootFilesystem: true
    ulimits:
      - name: nofile
        softLimit: 65536
        hardLimit: 65536
"#;

    /// Uses every field of the spec at least once.
    const RICH: &str = r#"
cpu: 1024
memory: 2048
networkMode: awsvpc
requiresCompatibilities: [FARGATE, EC2]
executionRoleArn: arn:aws:iam::123456789012:role/exec
taskRoleArn: arn:aws:iam::123456789012:role/task
runtimePlatform:
  cpuArchitecture: X86_64
  operatingSystemFamily: LINUX
containers:
  - name: app
    image: example/app:1
    command: ["serve", "--port", "8080"]
    entryPoint: ["/bin/entry"]
    environment:
      - name: B
        value: "2"
      - name: A
        value: "1"
    secrets:
      - name: DB_PASSWORD
        valueFrom: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf:password::"
      - name: FLAG
        valueFrom: arn:aws:ssm:eu-west-1:123456789012:parameter/app/flag
    portMappings:
      - containerPort: 8080
        hostPort: 8080
        protocol: tcp
        name: http
        appProtocol: http2
      - containerPort: 5353
        protocol: udp
    healthCheck:
      command: ["CMD", "true"]
      interval: 30
      timeout: 5
      retries: 3
      startPeriod: 10
    logConfiguration:
      logDriver: splunk
      options:
        splunk-url: https://splunk.example.com
      secretOptions:
        - name: splunk-token
          valueFrom: arn:aws:secretsmanager:eu-west-1:123456789012:secret:splunk-XyZ123
    dependsOn:
      - containerName: sidecar
        condition: HEALTHY
    ulimits:
      - name: nofile
        softLimit: 1024
        hardLimit: 4096
    readonlyRootFilesystem: true
    user: "1000:1000"
    cpu: 512
    memory: 1024
    memoryReservation: 512
    mountPoints:
      - sourceVolume: data
        containerPath: /data
        readOnly: true
  - name: sidecar
    image: example/sidecar:1
    essential: false
volumes:
  - name: data
    efs:
      fileSystemId: fs-0123456789abcdef0
      rootDirectory: /
      accessPointId: fsap-0123456789abcdef0
  - name: scratch
"#;

    const DB_SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf";
    const SPLUNK_SECRET: &str =
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:splunk-XyZ123";
    const STRIPE_SECRET: &str =
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/stripe-api-key-AbCdEf";

    fn spec(yaml: &str) -> TaskDefinitionSpec {
        serde_yaml::from_str(yaml).expect("fixture parses")
    }

    fn render_with(
        spec: &TaskDefinitionSpec,
        user_tags: &BTreeMap<String, String>,
        secret_versions: &BTreeMap<String, String>,
    ) -> RenderedTaskDefinition {
        register_request(&RenderInput {
            spec,
            family: spec.family.clone().unwrap_or_else(|| "app".to_string()),
            region: "us-east-1".to_string(),
            owner: "shop/api".to_string(),
            uid: "0b9c1a4e-0000-4000-8000-000000000001".to_string(),
            user_tags,
            secret_versions,
        })
    }

    fn render(spec: &TaskDefinitionSpec) -> RenderedTaskDefinition {
        render_with(spec, &BTreeMap::new(), &BTreeMap::new())
    }

    fn hash(spec: &TaskDefinitionSpec) -> String {
        render(spec).hash
    }

    fn env_names(c: &ecs::ContainerDefinition) -> Vec<&str> {
        c.environment().iter().filter_map(|e| e.name()).collect()
    }

    #[test]
    fn example_renders_as_ecs_reads_it_back() {
        let r = render(&spec(EXAMPLE));
        assert_eq!(r.family, "shop-api");
        assert_eq!(r.cpu.as_deref(), Some("512"));
        assert_eq!(r.memory.as_deref(), Some("1024"));
        assert_eq!(r.network_mode, ecs::NetworkMode::Awsvpc);
        assert_eq!(
            r.requires_compatibilities,
            vec![ecs::Compatibility::Fargate]
        );
        assert_eq!(
            r.execution_role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/shop-api-execution")
        );
        assert_eq!(
            r.task_role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/shop-api-task")
        );
        let platform = r.runtime_platform.as_ref().expect("runtime platform");
        assert_eq!(
            platform.cpu_architecture(),
            Some(&ecs::CpuArchitecture::Arm64)
        );
        assert_eq!(
            platform.operating_system_family(),
            Some(&ecs::OsFamily::Linux)
        );
        assert!(r.volumes.is_empty());

        let [c] = r.container_definitions.as_slice() else {
            panic!("one container expected");
        };
        assert_eq!(c.name(), Some("api"));
        assert_eq!(c.essential(), Some(true));
        let port = &c.port_mappings()[0];
        assert_eq!(port.container_port(), Some(8080));
        assert_eq!(port.host_port(), Some(8080));
        assert_eq!(port.protocol(), Some(&ecs::TransportProtocol::Tcp));
        assert_eq!(port.name(), Some("http"));
        assert_eq!(port.app_protocol(), Some(&ecs::ApplicationProtocol::Http));
        assert_eq!(c.environment()[0].value(), Some("info"));
        assert_eq!(c.secrets()[0].name(), "STRIPE_API_KEY");
        assert_eq!(c.secrets()[0].value_from(), STRIPE_SECRET);
        let health = c.health_check().expect("health check");
        assert_eq!(health.command()[0], "CMD-SHELL");
        assert_eq!(
            (
                health.interval(),
                health.timeout(),
                health.retries(),
                health.start_period()
            ),
            (Some(10), Some(5), Some(3), Some(20))
        );
        let log = c.log_configuration().expect("log configuration");
        assert_eq!(log.log_driver(), &ecs::LogDriver::Awslogs);
        let options = log.options().expect("options");
        assert_eq!(options["awslogs-region"], "us-east-1");
        assert_eq!(options["awslogs-group"], "/shop/api");
        assert_eq!(options["awslogs-stream-prefix"], "api");
        assert_eq!(c.readonly_root_filesystem(), Some(true));
        let ulimit = &c.ulimits()[0];
        assert_eq!(ulimit.name(), &ecs::UlimitName::Nofile);
        assert_eq!((ulimit.soft_limit(), ulimit.hard_limit()), (65536, 65536));
        assert!(c.command().is_empty() && c.mount_points().is_empty());
    }

    #[test]
    fn example_manifest_renders() {
        let manifest: serde_yaml::Value =
            serde_yaml::from_str(include_str!("../../../examples/api.yaml")).unwrap();
        let td: TaskDefinitionSpec =
            serde_yaml::from_value(manifest["spec"]["taskDefinition"].clone()).unwrap();
        let r = render(&td);
        for c in &r.container_definitions {
            for p in c.port_mappings() {
                assert_eq!(p.host_port(), p.container_port());
            }
            if let Some(log) = c.log_configuration() {
                if log.log_driver() == &ecs::LogDriver::Awslogs {
                    assert!(log.options().unwrap().contains_key("awslogs-region"));
                }
            }
        }
        assert_eq!(r.cpu, td.cpu.map(|c| c.to_string()));
    }

    #[test]
    fn explicit_awslogs_region_is_kept() {
        let mut s = spec(EXAMPLE);
        s.containers[0]
            .log_configuration
            .as_mut()
            .unwrap()
            .options
            .insert("awslogs-region".into(), "eu-central-1".into());
        let r = render(&s);
        let options = r.container_definitions[0]
            .log_configuration()
            .unwrap()
            .options()
            .unwrap();
        assert_eq!(options["awslogs-region"], "eu-central-1");
    }

    #[test]
    fn rich_spec_renders_every_field() {
        let r = render(&spec(RICH));
        assert_eq!(
            r.requires_compatibilities,
            vec![ecs::Compatibility::Ec2, ecs::Compatibility::Fargate]
        );
        let app = &r.container_definitions[0];
        assert_eq!(app.image(), Some("example/app:1"));
        assert_eq!(app.command(), ["serve", "--port", "8080"]);
        assert_eq!(app.entry_point(), ["/bin/entry"]);
        assert_eq!(env_names(app), ["A", "B"]);
        let secrets: Vec<_> = app.secrets().iter().map(|s| s.name()).collect();
        assert_eq!(secrets, ["DB_PASSWORD", "FLAG"]);
        let udp = &app.port_mappings()[1];
        assert_eq!(udp.protocol(), Some(&ecs::TransportProtocol::Udp));
        assert_eq!(udp.host_port(), Some(5353));
        assert_eq!(
            app.port_mappings()[0].app_protocol(),
            Some(&ecs::ApplicationProtocol::Http2)
        );
        let log = app.log_configuration().unwrap();
        assert_eq!(log.log_driver(), &ecs::LogDriver::Splunk);
        assert!(!log.options().unwrap().contains_key("awslogs-region"));
        assert_eq!(log.secret_options()[0].value_from(), SPLUNK_SECRET);
        let dep = &app.depends_on()[0];
        assert_eq!(dep.container_name(), "sidecar");
        assert_eq!(dep.condition(), &ecs::ContainerCondition::Healthy);
        assert_eq!(app.user(), Some("1000:1000"));
        assert_eq!(
            (app.cpu(), app.memory(), app.memory_reservation()),
            (512, Some(1024), Some(512))
        );
        let mount = &app.mount_points()[0];
        assert_eq!(
            (
                mount.source_volume(),
                mount.container_path(),
                mount.read_only()
            ),
            (Some("data"), Some("/data"), Some(true))
        );
        assert_eq!(r.container_definitions[1].essential(), Some(false));

        let efs = r.volumes[0].efs_volume_configuration().expect("efs");
        assert_eq!(efs.file_system_id(), "fs-0123456789abcdef0");
        assert_eq!(efs.root_directory(), Some("/"));
        assert_eq!(
            efs.transit_encryption(),
            Some(&ecs::EfsTransitEncryption::Enabled)
        );
        assert_eq!(
            efs.authorization_config().and_then(|a| a.access_point_id()),
            Some("fsap-0123456789abcdef0")
        );
        assert_eq!(r.volumes[1].name(), Some("scratch"));
        assert!(r.volumes[1].efs_volume_configuration().is_none());
    }

    #[test]
    fn bridge_mode_leaves_host_port_dynamic() {
        let mut s = spec(RICH);
        s.network_mode = NetworkMode::Bridge;
        s.requires_compatibilities = vec![crate::api::task_definition::Compatibility::Ec2];
        let r = render(&s);
        assert_eq!(r.network_mode, ecs::NetworkMode::Bridge);
        assert_eq!(
            r.container_definitions[0].port_mappings()[1].host_port(),
            None
        );
    }

    #[test]
    fn same_spec_gives_same_hash() {
        let h = hash(&spec(EXAMPLE));
        assert_eq!(h, hash(&spec(EXAMPLE)));
        assert_eq!(h.len(), 16);
        assert!(h
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(h, hash(&spec(RICH)));
    }

    #[test]
    fn reordering_environment_and_secrets_keeps_the_hash() {
        let base = spec(RICH);
        let mut reordered = base.clone();
        reordered.containers[0].environment.reverse();
        reordered.containers[0].secrets.reverse();
        reordered.requires_compatibilities.reverse();
        assert_eq!(hash(&base), hash(&reordered));
        assert_eq!(render(&base), render(&reordered));

        let mut example = spec(EXAMPLE);
        let before = hash(&example);
        example.containers[0].environment.insert(
            0,
            EnvVar {
                name: "Z_LAST".into(),
                value: "z".into(),
            },
        );
        let first = hash(&example);
        assert_ne!(before, first);
        example.containers[0].environment.reverse();
        assert_eq!(first, hash(&example));
    }

    #[test]
    fn changing_the_image_changes_the_hash() {
        let base = spec(EXAMPLE);
        let mut changed = base.clone();
        changed.containers[0].image =
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api:1.4.3".into();
        assert_ne!(hash(&base), hash(&changed));
    }

    #[test]
    fn every_field_changes_the_hash() {
        type Mutation = fn(&mut TaskDefinitionSpec);
        let mutations: Vec<(&str, Mutation)> = vec![
            ("cpu", |s| s.cpu = Some(2048)),
            ("memory", |s| s.memory = Some(4096)),
            ("networkMode", |s| s.network_mode = NetworkMode::Bridge),
            ("requiresCompatibilities", |s| {
                s.requires_compatibilities.pop();
            }),
            ("executionRoleArn", |s| s.execution_role_arn = None),
            ("taskRoleArn", |s| s.task_role_arn = None),
            ("cpuArchitecture", |s| {
                s.runtime_platform.as_mut().unwrap().cpu_architecture = Some(CpuArchitecture::Arm64)
            }),
            ("operatingSystemFamily", |s| {
                s.runtime_platform.as_mut().unwrap().operating_system_family =
                    Some("WINDOWS_SERVER_2022_CORE".into())
            }),
            ("runtimePlatform", |s| s.runtime_platform = None),
            ("container order", |s| s.containers.reverse()),
            ("name", |s| s.containers[1].name = "proxy".into()),
            ("essential", |s| s.containers[1].essential = true),
            ("command", |s| s.containers[0].command.reverse()),
            ("entryPoint", |s| s.containers[0].entry_point.clear()),
            ("environment value", |s| {
                s.containers[0].environment[0].value = "3".into()
            }),
            ("secret valueFrom", |s| {
                s.containers[0].secrets[1].value_from =
                    "arn:aws:ssm:eu-west-1:123456789012:parameter/app/other".into()
            }),
            ("containerPort", |s| {
                s.containers[0].port_mappings[1].container_port = 53
            }),
            ("protocol", |s| {
                s.containers[0].port_mappings[1].protocol = Protocol::Tcp
            }),
            ("port name", |s| {
                s.containers[0].port_mappings[0].name = None
            }),
            ("appProtocol", |s| {
                s.containers[0].port_mappings[0].app_protocol = Some(AppProtocol::Grpc)
            }),
            ("healthCheck command", |s| {
                s.containers[0].health_check.as_mut().unwrap().command[1] = "false".into()
            }),
            ("healthCheck interval", |s| {
                s.containers[0].health_check.as_mut().unwrap().interval = Some(60)
            }),
            ("healthCheck timeout", |s| {
                s.containers[0].health_check.as_mut().unwrap().timeout = Some(6)
            }),
            ("healthCheck retries", |s| {
                s.containers[0].health_check.as_mut().unwrap().retries = Some(4)
            }),
            ("healthCheck startPeriod", |s| {
                s.containers[0].health_check.as_mut().unwrap().start_period = None
            }),
            ("logDriver", |s| {
                s.containers[0]
                    .log_configuration
                    .as_mut()
                    .unwrap()
                    .log_driver = LogDriver::Fluentd
            }),
            ("log options", |s| {
                s.containers[0]
                    .log_configuration
                    .as_mut()
                    .unwrap()
                    .options
                    .insert("tag".into(), "app".into());
            }),
            ("log secretOptions", |s| {
                s.containers[0]
                    .log_configuration
                    .as_mut()
                    .unwrap()
                    .secret_options
                    .clear()
            }),
            ("dependsOn", |s| {
                s.containers[0].depends_on[0].condition = DependencyCondition::Start
            }),
            ("ulimit soft", |s| {
                s.containers[0].ulimits[0].soft_limit = 2048
            }),
            ("ulimit hard", |s| {
                s.containers[0].ulimits[0].hard_limit = 8192
            }),
            ("ulimit name", |s| {
                s.containers[0].ulimits[0].name = "nproc".into()
            }),
            ("readonlyRootFilesystem", |s| {
                s.containers[0].readonly_root_filesystem = Some(false)
            }),
            ("user", |s| s.containers[0].user = Some("root".into())),
            ("container cpu", |s| s.containers[0].cpu = Some(256)),
            ("container memory", |s| s.containers[0].memory = None),
            ("memoryReservation", |s| {
                s.containers[0].memory_reservation = Some(256)
            }),
            ("mountPoint path", |s| {
                s.containers[0].mount_points[0].container_path = "/mnt".into()
            }),
            ("mountPoint readOnly", |s| {
                s.containers[0].mount_points[0].read_only = false
            }),
            ("volume name", |s| s.volumes[1].name = "tmp".into()),
            ("efs fileSystemId", |s| {
                s.volumes[0].efs.as_mut().unwrap().file_system_id = "fs-00000000".into()
            }),
            ("efs rootDirectory", |s| {
                s.volumes[0].efs.as_mut().unwrap().root_directory = None
            }),
            ("efs accessPointId", |s| {
                s.volumes[0].efs.as_mut().unwrap().access_point_id = None
            }),
            ("efs transitEncryption", |s| {
                s.volumes[0].efs.as_mut().unwrap().transit_encryption = false
            }),
            ("volumes", |s| {
                s.volumes.pop();
            }),
        ];
        let base = spec(RICH);
        let mut seen = BTreeMap::new();
        seen.insert(hash(&base), "base");
        for (what, mutate) in mutations {
            let mut s = base.clone();
            mutate(&mut s);
            assert_ne!(s, base, "{what}: the mutation must change the spec");
            if let Some(other) = seen.insert(hash(&s), what) {
                panic!("{what} gives the same hash as {other}");
            }
        }
    }

    #[test]
    fn family_and_region_are_part_of_the_hash() {
        let s = spec(EXAMPLE);
        let empty = BTreeMap::new();
        let input = |family: &str, region: &str| RenderInput {
            spec: &s,
            family: family.to_string(),
            region: region.to_string(),
            owner: "shop/api".to_string(),
            uid: "u".to_string(),
            user_tags: &empty,
            secret_versions: &empty,
        };
        let base = register_request(&input("shop-api", "us-east-1")).hash;
        assert_ne!(
            base,
            register_request(&input("shop-api-2", "us-east-1")).hash
        );
        // awslogs-region is filled from the region, so a task logging elsewhere differs.
        assert_ne!(base, register_request(&input("shop-api", "eu-west-1")).hash);
    }

    #[test]
    fn rotating_a_secret_changes_the_hash() {
        let s = spec(RICH);
        let tags = BTreeMap::new();
        let versions = |db: &str| {
            BTreeMap::from([
                (DB_SECRET.to_string(), db.to_string()),
                (SPLUNK_SECRET.to_string(), "v-splunk".to_string()),
            ])
        };
        let v1 = render_with(&s, &tags, &versions("v1")).hash;
        assert_eq!(v1, render_with(&s, &tags, &versions("v1")).hash);
        assert_ne!(v1, render_with(&s, &tags, &versions("v2")).hash);
        assert_ne!(v1, hash(&s), "known versions count");

        // A secret the task does not reference cannot roll it out.
        let mut wider = versions("v1");
        wider.insert(STRIPE_SECRET.to_string(), "v9".to_string());
        assert_eq!(v1, render_with(&s, &tags, &wider).hash);
    }

    #[test]
    fn tags_carry_berth_identity_but_not_into_the_hash() {
        let s = spec(EXAMPLE);
        let versions = BTreeMap::new();
        let team = |name: &str| BTreeMap::from([("team".to_string(), name.to_string())]);
        let r = render_with(&s, &team("orders"), &versions);
        assert_eq!(r.tag("team"), Some("orders"));
        assert_eq!(r.tag(TAG_OWNER), Some("shop/api"));
        assert_eq!(r.tag(TAG_UID), Some("0b9c1a4e-0000-4000-8000-000000000001"));
        assert_eq!(r.tag(TAG_HASH), Some(r.hash.as_str()));
        assert_eq!(r.tags.len(), 4);
        let keys: Vec<_> = r.tags.iter().filter_map(|t| t.key()).collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "tags sorted: {keys:?}"
        );

        assert_eq!(r.hash, render_with(&s, &team("payments"), &versions).hash);
        assert_eq!(r.hash, hash(&s));

        let spoofed = BTreeMap::from([(TAG_HASH.to_string(), "0000".to_string())]);
        let r = render_with(&s, &spoofed, &versions);
        assert_eq!(r.tag(TAG_HASH), Some(r.hash.as_str()));
    }

    #[test]
    fn apply_sets_every_field_on_the_request() {
        use aws_sdk_ecs::config::{BehaviorVersion, Region};

        let r = render(&spec(RICH));
        // Building a request performs no I/O; only send() would.
        let client = aws_sdk_ecs::Client::from_conf(
            aws_sdk_ecs::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .build(),
        );
        let builder = r.apply(client.register_task_definition());
        let req = builder.as_input();
        assert_eq!(req.get_family().as_deref(), Some(r.family.as_str()));
        assert_eq!(req.get_cpu(), &r.cpu);
        assert_eq!(req.get_memory(), &r.memory);
        assert_eq!(req.get_network_mode().as_ref(), Some(&r.network_mode));
        assert_eq!(
            req.get_requires_compatibilities().as_ref(),
            Some(&r.requires_compatibilities)
        );
        assert_eq!(req.get_execution_role_arn(), &r.execution_role_arn);
        assert_eq!(req.get_task_role_arn(), &r.task_role_arn);
        assert_eq!(req.get_runtime_platform(), &r.runtime_platform);
        assert_eq!(
            req.get_container_definitions().as_ref(),
            Some(&r.container_definitions)
        );
        assert_eq!(req.get_volumes().as_ref(), Some(&r.volumes));
        assert_eq!(req.get_tags().as_ref(), Some(&r.tags));
    }

    #[test]
    fn secret_arns_are_base_arns_without_ssm() {
        assert_eq!(secret_arns(&spec(RICH)), [DB_SECRET, SPLUNK_SECRET]);
        assert_eq!(secret_arns(&spec(EXAMPLE)), [STRIPE_SECRET]);

        let mut s = spec(RICH);
        s.containers[1].secrets = vec![
            ContainerSecret {
                name: "USER".into(),
                value_from: format!("{DB_SECRET}:username:AWSCURRENT:"),
            },
            ContainerSecret {
                name: "PASS".into(),
                value_from: format!("{DB_SECRET}:password::0c9d"),
            },
        ];
        assert_eq!(secret_arns(&s), [DB_SECRET, SPLUNK_SECRET], "deduplicated");

        assert_eq!(
            secrets_manager_base_arn(&format!("{DB_SECRET}:password::")).as_deref(),
            Some(DB_SECRET)
        );
        assert_eq!(
            secrets_manager_base_arn("arn:aws:ssm:eu-west-1:123456789012:parameter/app/flag"),
            None
        );
        assert_eq!(secrets_manager_base_arn("db-AbCdEf"), None);
        assert_eq!(
            secrets_manager_base_arn("arn:aws:secretsmanager:eu-west-1:123456789012:secret:"),
            None
        );
    }

    #[test]
    fn canonical_form_sorts_keys() {
        let mut a = Map::new();
        a.insert("b".into(), json!([{"y": 1, "x": "two"}]));
        a.insert("a".into(), json!(null));
        let mut out = String::new();
        write_canonical(&Value::Object(a), &mut out);
        assert_eq!(out, r#"{"a":null,"b":[{"x":"two","y":1}]}"#);
    }
}
