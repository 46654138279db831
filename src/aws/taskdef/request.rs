//! The SDK's types of the rendered task definition (`document.rs`), for
//! RegisterTaskDefinition. Every conversion destructures its input
//! completely: a field added to the rendering (and so to the hash) does not
//! compile until it is sent too.

use aws_sdk_ecs::types as ecs;

use super::document as doc;

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

/// The rendering as RegisterTaskDefinition sends it, with the request's
/// tags and the hash they carry.
pub(super) fn rendered(
    td: doc::TaskDefinition,
    tags: Vec<ecs::Tag>,
    hash: String,
) -> RenderedTaskDefinition {
    let doc::TaskDefinition {
        family,
        cpu,
        memory,
        network_mode,
        requires_compatibilities,
        execution_role_arn,
        task_role_arn,
        runtime_platform,
        container_definitions,
        volumes,
    } = td;
    RenderedTaskDefinition {
        family,
        cpu,
        memory,
        network_mode: ecs::NetworkMode::from(network_mode),
        requires_compatibilities: requires_compatibilities
            .into_iter()
            .map(ecs::Compatibility::from)
            .collect(),
        execution_role_arn,
        task_role_arn,
        runtime_platform: runtime_platform.map(runtime_platform_of),
        container_definitions: container_definitions.into_iter().map(container).collect(),
        volumes: volumes.into_iter().flatten().map(volume).collect(),
        tags,
        hash,
    }
}

fn runtime_platform_of(p: doc::RuntimePlatform) -> ecs::RuntimePlatform {
    let doc::RuntimePlatform {
        cpu_architecture,
        operating_system_family,
    } = p;
    ecs::RuntimePlatform::builder()
        .set_cpu_architecture(cpu_architecture.map(ecs::CpuArchitecture::from))
        .set_operating_system_family(operating_system_family.as_deref().map(ecs::OsFamily::from))
        .build()
}

fn container(c: doc::Container) -> ecs::ContainerDefinition {
    let doc::Container {
        name,
        image,
        essential,
        command,
        entry_point,
        environment,
        secrets,
        port_mappings,
        health_check,
        log_configuration,
        depends_on,
        ulimits,
        readonly_root_filesystem,
        user,
        cpu,
        memory,
        memory_reservation,
        mount_points,
    } = c;
    ecs::ContainerDefinition::builder()
        .name(name)
        .image(image)
        .essential(essential)
        .set_command(command)
        .set_entry_point(entry_point)
        .set_environment(each(environment, key_value))
        .set_secrets(each(secrets, secret))
        .set_port_mappings(each(port_mappings, port))
        .set_health_check(health_check.map(health))
        .set_log_configuration(log_configuration.map(log))
        .set_depends_on(each(depends_on, dependency))
        .set_ulimits(each(ulimits, ulimit))
        .set_readonly_root_filesystem(readonly_root_filesystem)
        .set_user(user)
        .set_cpu(cpu)
        .set_memory(memory)
        .set_memory_reservation(memory_reservation)
        .set_mount_points(each(mount_points, mount_point))
        .build()
}

/// `None` stays `None`: the rendering already left empty lists out.
fn each<T, U>(items: Option<Vec<T>>, f: fn(T) -> U) -> Option<Vec<U>> {
    items.map(|items| items.into_iter().map(f).collect())
}

fn key_value(kv: doc::KeyValue) -> ecs::KeyValuePair {
    let doc::KeyValue { name, value } = kv;
    ecs::KeyValuePair::builder().name(name).value(value).build()
}

fn secret(s: doc::Secret) -> ecs::Secret {
    let doc::Secret { name, value_from } = s;
    ecs::Secret::builder()
        .name(name)
        .value_from(value_from)
        .build()
        .expect("name and valueFrom are always set")
}

fn port(p: doc::Port) -> ecs::PortMapping {
    let doc::Port {
        container_port,
        host_port,
        protocol,
        name,
        app_protocol,
    } = p;
    ecs::PortMapping::builder()
        .container_port(container_port)
        .set_host_port(host_port)
        .protocol(ecs::TransportProtocol::from(protocol))
        .set_name(name)
        .set_app_protocol(app_protocol.map(ecs::ApplicationProtocol::from))
        .build()
}

fn health(h: doc::Health) -> ecs::HealthCheck {
    let doc::Health {
        command,
        interval,
        timeout,
        retries,
        start_period,
    } = h;
    ecs::HealthCheck::builder()
        .set_command(Some(command))
        .set_interval(interval)
        .set_timeout(timeout)
        .set_retries(retries)
        .set_start_period(start_period)
        .build()
        .expect("command is always set")
}

fn log(l: doc::Log) -> ecs::LogConfiguration {
    let doc::Log {
        log_driver,
        options,
        secret_options,
    } = l;
    ecs::LogConfiguration::builder()
        .log_driver(ecs::LogDriver::from(log_driver))
        .set_options(options.map(|o| o.into_iter().collect()))
        .set_secret_options(each(secret_options, secret))
        .build()
        .expect("logDriver is always set")
}

fn dependency(d: doc::Dependency) -> ecs::ContainerDependency {
    let doc::Dependency {
        container_name,
        condition,
    } = d;
    ecs::ContainerDependency::builder()
        .container_name(container_name)
        .condition(ecs::ContainerCondition::from(condition))
        .build()
        .expect("containerName and condition are always set")
}

fn ulimit(u: doc::Ulimit) -> ecs::Ulimit {
    let doc::Ulimit {
        name,
        soft_limit,
        hard_limit,
    } = u;
    ecs::Ulimit::builder()
        .name(ecs::UlimitName::from(name.as_str()))
        .soft_limit(soft_limit)
        .hard_limit(hard_limit)
        .build()
        .expect("name is always set")
}

fn mount_point(p: doc::MountPoint) -> ecs::MountPoint {
    let doc::MountPoint {
        source_volume,
        container_path,
        read_only,
    } = p;
    ecs::MountPoint::builder()
        .source_volume(source_volume)
        .container_path(container_path)
        .read_only(read_only)
        .build()
}

fn volume(v: doc::Volume) -> ecs::Volume {
    let doc::Volume {
        name,
        efs_volume_configuration,
    } = v;
    ecs::Volume::builder()
        .name(name)
        .set_efs_volume_configuration(efs_volume_configuration.map(efs))
        .build()
}

fn efs(e: doc::Efs) -> ecs::EfsVolumeConfiguration {
    let doc::Efs {
        file_system_id,
        root_directory,
        transit_encryption,
        authorization_config,
    } = e;
    ecs::EfsVolumeConfiguration::builder()
        .file_system_id(file_system_id)
        .set_root_directory(root_directory)
        .transit_encryption(ecs::EfsTransitEncryption::from(transit_encryption))
        .set_authorization_config(authorization_config.map(|a| {
            let doc::EfsAuthorization { access_point_id } = a;
            ecs::EfsAuthorizationConfig::builder()
                .access_point_id(access_point_id)
                .build()
        }))
        .build()
        .expect("fileSystemId is always set")
}
