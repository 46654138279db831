//! The task definition as berth renders it, once: plain data in ECS's field
//! names. Its JSON serialization is what the spec hash covers, and the
//! RegisterTaskDefinition request is converted from the same value
//! (`request.rs`), so what is registered is exactly what was hashed.
//!
//! Absent and empty are both `None` (left out of the JSON, not sent), so new
//! optional spec fields do not change the hash of specs that do not use them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::api::task_definition::{
    self as api, AppProtocol, ContainerSecret, ContainerSpec, CpuArchitecture, DependencyCondition,
    HealthCheck, LogConfiguration, PortMapping, Protocol, TaskDefinitionSpec,
};

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TaskDefinition {
    pub family: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    pub network_mode: &'static str,
    pub requires_compatibilities: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_platform: Option<RuntimePlatform>,
    pub container_definitions: Vec<Container>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RuntimePlatform {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_architecture: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operating_system_family: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Container {
    pub name: String,
    pub image: String,
    pub essential: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Vec<KeyValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<Secret>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_mappings: Option<Vec<Port>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<Health>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<Log>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<Dependency>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ulimits: Option<Vec<Ulimit>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readonly_root_filesystem: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount_points: Option<Vec<MountPoint>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub(super) struct KeyValue {
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Secret {
    pub name: String,
    pub value_from: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Port {
    pub container_port: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i32>,
    pub protocol: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<&'static str>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Health {
    pub command: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Log {
    pub log_driver: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_options: Option<Vec<Secret>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Dependency {
    pub container_name: String,
    pub condition: &'static str,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Ulimit {
    pub name: String,
    pub soft_limit: i32,
    pub hard_limit: i32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MountPoint {
    pub source_volume: String,
    pub container_path: String,
    pub read_only: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Volume {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efs_volume_configuration: Option<Efs>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Efs {
    pub file_system_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    pub transit_encryption: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_config: Option<EfsAuthorization>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EfsAuthorization {
    pub access_point_id: String,
}

/// Renders a canonical spec (`render::canonical_spec`) under `family`.
pub(super) fn task_definition(spec: &TaskDefinitionSpec, family: &str) -> TaskDefinition {
    TaskDefinition {
        family: family.to_string(),
        cpu: spec.cpu.map(|c| c.to_string()),
        memory: spec.memory.map(|m| m.to_string()),
        network_mode: spec.network_mode.as_aws(),
        requires_compatibilities: spec
            .requires_compatibilities
            .iter()
            .map(|c| c.as_aws())
            .collect(),
        execution_role_arn: spec.execution_role_arn.clone(),
        task_role_arn: spec.task_role_arn.clone(),
        runtime_platform: spec.runtime_platform.as_ref().map(|p| RuntimePlatform {
            cpu_architecture: p.cpu_architecture.map(cpu_architecture),
            operating_system_family: p.operating_system_family.clone(),
        }),
        container_definitions: spec.containers.iter().map(container).collect(),
        volumes: non_empty(spec.volumes.iter().map(volume)),
    }
}

fn container(c: &ContainerSpec) -> Container {
    Container {
        name: c.name.clone(),
        image: c.image.clone(),
        essential: c.essential,
        command: non_empty(c.command.iter().cloned()),
        entry_point: non_empty(c.entry_point.iter().cloned()),
        environment: non_empty(c.environment.iter().map(|e| KeyValue {
            name: e.name.clone(),
            value: e.value.clone(),
        })),
        secrets: non_empty(c.secrets.iter().map(secret)),
        port_mappings: non_empty(c.port_mappings.iter().map(port)),
        health_check: c.health_check.as_ref().map(health),
        log_configuration: c.log_configuration.as_ref().map(log),
        depends_on: non_empty(c.depends_on.iter().map(|d| Dependency {
            container_name: d.container_name.clone(),
            condition: dependency_condition(d.condition),
        })),
        ulimits: non_empty(c.ulimits.iter().map(|u| Ulimit {
            name: u.name.clone(),
            soft_limit: u.soft_limit,
            hard_limit: u.hard_limit,
        })),
        readonly_root_filesystem: c.readonly_root_filesystem,
        user: c.user.clone(),
        cpu: c.cpu,
        memory: c.memory,
        memory_reservation: c.memory_reservation,
        mount_points: non_empty(c.mount_points.iter().map(|p| MountPoint {
            source_volume: p.source_volume.clone(),
            container_path: p.container_path.clone(),
            read_only: p.read_only,
        })),
    }
}

fn secret(s: &ContainerSecret) -> Secret {
    Secret {
        name: s.name.clone(),
        value_from: s.value_from.clone(),
    }
}

fn port(p: &PortMapping) -> Port {
    Port {
        container_port: p.container_port,
        host_port: p.host_port,
        protocol: protocol(p.protocol),
        name: p.name.clone(),
        app_protocol: p.app_protocol.map(app_protocol),
    }
}

fn health(h: &HealthCheck) -> Health {
    Health {
        command: h.command.clone(),
        interval: h.interval,
        timeout: h.timeout,
        retries: h.retries,
        start_period: h.start_period,
    }
}

fn log(l: &LogConfiguration) -> Log {
    Log {
        log_driver: l.log_driver.as_aws(),
        options: (!l.options.is_empty()).then(|| l.options.clone()),
        secret_options: non_empty(l.secret_options.iter().map(secret)),
    }
}

fn volume(v: &api::Volume) -> Volume {
    Volume {
        name: v.name.clone(),
        efs_volume_configuration: v.efs.as_ref().map(|efs| Efs {
            file_system_id: efs.file_system_id.clone(),
            root_directory: efs.root_directory.clone(),
            transit_encryption: transit_encryption(efs.transit_encryption),
            authorization_config: efs.access_point_id.as_ref().map(|ap| EfsAuthorization {
                access_point_id: ap.clone(),
            }),
        }),
    }
}

/// ECS treats an empty list like an absent one; `None` keeps the request
/// minimal and the hash of specs that leave the list out unchanged.
fn non_empty<T>(items: impl Iterator<Item = T>) -> Option<Vec<T>> {
    let items: Vec<T> = items.collect();
    (!items.is_empty()).then_some(items)
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
