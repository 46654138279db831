//! The inline ECS task definition shared by `EcsService` and `MigrationJob`.
//!
//! berth renders the AWS task definition from this spec (never from a
//! describe, which carries read-only fields) and hashes the rendering.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::EnvVar;
use super::validation::{fargate_memory_options, is_arn_of, is_ecs_name, Errors, FARGATE_CPU};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.requiresCompatibilities) || !('FARGATE' in self.requiresCompatibilities) || (has(self.cpu) && has(self.memory))",
        "message": "FARGATE task definitions need both cpu and memory",
        "fieldPath": ".cpu"
    },
    {
        "rule": "!has(self.requiresCompatibilities) || !('FARGATE' in self.requiresCompatibilities) || !has(self.cpu) || !has(self.memory) || (self.cpu == 256 && self.memory in [512, 1024, 2048]) || (self.cpu == 512 && self.memory >= 1024 && self.memory <= 4096 && self.memory % 1024 == 0) || (self.cpu == 1024 && self.memory >= 2048 && self.memory <= 8192 && self.memory % 1024 == 0) || (self.cpu == 2048 && self.memory >= 4096 && self.memory <= 16384 && self.memory % 1024 == 0) || (self.cpu == 4096 && self.memory >= 8192 && self.memory <= 30720 && self.memory % 1024 == 0) || (self.cpu == 8192 && self.memory >= 16384 && self.memory <= 61440 && self.memory % 4096 == 0) || (self.cpu == 16384 && self.memory >= 32768 && self.memory <= 122880 && self.memory % 8192 == 0)",
        "message": "memory is not a size Fargate offers for this cpu",
        "fieldPath": ".memory"
    },
    {
        "rule": "!has(self.requiresCompatibilities) || !('FARGATE' in self.requiresCompatibilities) || !has(self.networkMode) || self.networkMode == 'awsvpc'",
        "message": "FARGATE requires networkMode awsvpc",
        "fieldPath": ".networkMode"
    },
    {
        "rule": "self.containers.all(c, self.containers.exists_one(d, d.name == c.name))",
        "message": "container names must be unique",
        "fieldPath": ".containers"
    }
]))]
pub struct TaskDefinitionSpec {
    /// Task definition family. Defaults to the ECS service name (or the
    /// MigrationJob's name); it may differ from the service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,255}$"))]
    pub family: Option<String>,
    /// Task CPU units (256 = 0.25 vCPU). Fargate: 256, 512, 1024, 2048, 4096, 8192, 16384.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 128, max = 196608))]
    pub cpu: Option<i32>,
    /// Task memory in MiB; on Fargate it must be a size offered for `cpu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 6, max = 983040))]
    pub memory: Option<i32>,
    #[serde(default = "default_network_mode")]
    pub network_mode: NetworkMode,
    #[serde(default = "default_compatibilities")]
    #[schemars(length(min = 1, max = 3))]
    pub requires_compatibilities: Vec<Compatibility>,
    /// Role ECS uses to pull images, read secrets and write logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"))]
    pub execution_role_arn: Option<String>,
    /// Role the application's AWS SDK calls run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"))]
    pub task_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_platform: Option<RuntimePlatform>,
    #[schemars(length(min = 1, max = 10))]
    pub containers: Vec<ContainerSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
}

fn default_network_mode() -> NetworkMode {
    NetworkMode::Awsvpc
}

fn default_compatibilities() -> Vec<Compatibility> {
    vec![Compatibility::Fargate]
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    Awsvpc,
    Bridge,
    Host,
    None,
}

impl NetworkMode {
    pub fn as_aws(self) -> &'static str {
        match self {
            NetworkMode::Awsvpc => "awsvpc",
            NetworkMode::Bridge => "bridge",
            NetworkMode::Host => "host",
            NetworkMode::None => "none",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Compatibility {
    Fargate,
    Ec2,
    External,
}

impl Compatibility {
    pub fn as_aws(self) -> &'static str {
        match self {
            Compatibility::Fargate => "FARGATE",
            Compatibility::Ec2 => "EC2",
            Compatibility::External => "EXTERNAL",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePlatform {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_architecture: Option<CpuArchitecture>,
    /// e.g. `LINUX`, `WINDOWS_SERVER_2022_CORE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Z0-9_]+$"))]
    pub operating_system_family: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CpuArchitecture {
    X86_64,
    Arm64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSpec {
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,255}$"))]
    pub name: String,
    #[schemars(length(min = 1, max = 1024))]
    pub image: String,
    /// When an essential container stops, the task stops. Default true.
    #[serde(default = "default_true")]
    pub essential: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry_point: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<EnvVar>,
    /// Secrets injected as environment variables at task start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ContainerSecret>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<LogConfiguration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<ContainerDependency>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ulimits: Vec<Ulimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readonly_root_filesystem: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub cpu: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 6))]
    pub memory: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 6))]
    pub memory_reservation: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_points: Vec<MountPoint>,
}

fn default_true() -> bool {
    true
}

/// A secret from Secrets Manager or SSM Parameter Store, by ARN. The
/// version in use is part of berth's hash, so a rotation starts new tasks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSecret {
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// `arn:aws:secretsmanager:…:secret:NAME[:json-key:version-stage:version-id]`
    /// or `arn:aws:ssm:…:parameter/NAME`.
    #[schemars(regex(
        pattern = r"^arn:aws[a-z-]*:(secretsmanager|ssm):[a-z0-9-]+:[0-9]{12}:(secret:|parameter/).+$"
    ))]
    pub value_from: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub host_port: Option<i32>,
    #[serde(default = "default_protocol")]
    pub protocol: Protocol,
    /// Name used by Service Connect and load balancers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$"))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<AppProtocol>,
}

fn default_protocol() -> Protocol {
    Protocol::Tcp
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AppProtocol {
    Http,
    Http2,
    Grpc,
}

/// A container health check (Docker HEALTHCHECK semantics).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// e.g. `["CMD-SHELL", "curl -f http://localhost:8080/health || exit 1"]`.
    #[schemars(length(min = 1))]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 5, max = 300))]
    pub interval: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 60))]
    pub timeout: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub retries: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 300))]
    pub start_period: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogConfiguration {
    pub log_driver: LogDriver,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_options: Vec<ContainerSecret>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogDriver {
    Awslogs,
    Awsfirelens,
    Splunk,
    Fluentd,
    #[serde(rename = "json-file")]
    JsonFile,
    Syslog,
    Journald,
    Gelf,
}

impl LogDriver {
    pub fn as_aws(self) -> &'static str {
        match self {
            LogDriver::Awslogs => "awslogs",
            LogDriver::Awsfirelens => "awsfirelens",
            LogDriver::Splunk => "splunk",
            LogDriver::Fluentd => "fluentd",
            LogDriver::JsonFile => "json-file",
            LogDriver::Syslog => "syslog",
            LogDriver::Journald => "journald",
            LogDriver::Gelf => "gelf",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDependency {
    pub container_name: String,
    pub condition: DependencyCondition,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum DependencyCondition {
    Start,
    Complete,
    Success,
    Healthy,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ulimit {
    /// e.g. `nofile`.
    #[schemars(regex(pattern = r"^[a-z]+$"))]
    pub name: String,
    pub soft_limit: i32,
    pub hard_limit: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MountPoint {
    pub source_volume: String,
    pub container_path: String,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,255}$"))]
    pub name: String,
    /// An EFS file system; without it the volume is task-local (bind mount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efs: Option<EfsVolume>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EfsVolume {
    #[schemars(regex(pattern = r"^fs-[0-9a-f]{8,40}$"))]
    pub file_system_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^fsap-[0-9a-f]{8,40}$"))]
    pub access_point_id: Option<String>,
    #[serde(default = "default_true")]
    pub transit_encryption: bool,
}

impl TaskDefinitionSpec {
    pub fn is_fargate(&self) -> bool {
        self.requires_compatibilities
            .contains(&Compatibility::Fargate)
    }

    /// The first essential container (the default deciding container).
    pub fn first_essential(&self) -> Option<&ContainerSpec> {
        self.containers.iter().find(|c| c.essential)
    }

    /// Semantic checks; `at` is the path of this spec, e.g. `spec.taskDefinition`.
    pub fn validate(&self, at: &str, errors: &mut Errors) {
        if let Some(family) = &self.family {
            errors.check(
                is_ecs_name(family),
                format!("{at}.family"),
                "must be 1-255 letters, digits, hyphens or underscores",
            );
        }
        if self.is_fargate() {
            errors.check(
                self.network_mode == NetworkMode::Awsvpc,
                format!("{at}.networkMode"),
                "FARGATE requires networkMode awsvpc",
            );
            match (self.cpu, self.memory) {
                (Some(cpu), Some(memory)) => match fargate_memory_options(cpu) {
                    None => errors.push(
                        format!("{at}.cpu"),
                        format!(
                            "{cpu} is not a Fargate CPU size; allowed: {}",
                            FARGATE_CPU.map(|c| c.to_string()).join(", ")
                        ),
                    ),
                    Some(options) => errors.check(
                        options.contains(&memory),
                        format!("{at}.memory"),
                        format!(
                            "{memory} MiB is not offered by Fargate with cpu {cpu}; allowed: {}",
                            describe_sizes(&options)
                        ),
                    ),
                },
                (None, _) => errors.push(format!("{at}.cpu"), "FARGATE task definitions need cpu"),
                (_, None) => errors.push(
                    format!("{at}.memory"),
                    "FARGATE task definitions need memory",
                ),
            }
        }
        for (field, arn) in [
            ("executionRoleArn", &self.execution_role_arn),
            ("taskRoleArn", &self.task_role_arn),
        ] {
            if let Some(arn) = arn {
                errors.check(
                    is_arn_of(arn, "iam") && arn.contains(":role/"),
                    format!("{at}.{field}"),
                    "must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
                );
            }
        }
        if self.containers.is_empty() {
            errors.push(
                format!("{at}.containers"),
                "at least one container is required",
            );
        }
        if !self.containers.iter().any(|c| c.essential) && !self.containers.is_empty() {
            errors.push(
                format!("{at}.containers"),
                "at least one container must be essential",
            );
        }
        let names: Vec<&str> = self.containers.iter().map(|c| c.name.as_str()).collect();
        let volumes: Vec<&str> = self.volumes.iter().map(|v| v.name.as_str()).collect();
        let needs_execution_role = self.containers.iter().any(|c| {
            !c.secrets.is_empty()
                || c.log_configuration
                    .as_ref()
                    .is_some_and(|l| l.log_driver == LogDriver::Awslogs)
                || c.image.contains(".dkr.ecr.")
        });
        if needs_execution_role && self.execution_role_arn.is_none() {
            errors.push(
                format!("{at}.executionRoleArn"),
                "required when containers use secrets, awslogs or private ECR images",
            );
        }
        for (i, c) in self.containers.iter().enumerate() {
            let cat = format!("{at}.containers[{i}]");
            errors.check(
                is_ecs_name(&c.name),
                format!("{cat}.name"),
                "must be 1-255 letters, digits, hyphens or underscores",
            );
            if names.iter().filter(|n| **n == c.name).count() > 1 {
                errors.push(
                    format!("{cat}.name"),
                    format!("duplicate container name {:?}", c.name),
                );
            }
            errors.check(
                !c.image.trim().is_empty() && !c.image.contains(char::is_whitespace),
                format!("{cat}.image"),
                "must be an image reference without spaces",
            );
            for (j, s) in c.secrets.iter().enumerate() {
                errors.check(
                    is_arn_of(&s.value_from, "secretsmanager") || is_arn_of(&s.value_from, "ssm"),
                    format!("{cat}.secrets[{j}].valueFrom"),
                    "must be a Secrets Manager secret ARN or an SSM parameter ARN",
                );
            }
            for (j, d) in c.depends_on.iter().enumerate() {
                errors.check(
                    names.contains(&d.container_name.as_str()) && d.container_name != c.name,
                    format!("{cat}.dependsOn[{j}].containerName"),
                    format!(
                        "{:?} is not another container of this task",
                        d.container_name
                    ),
                );
            }
            for (j, m) in c.mount_points.iter().enumerate() {
                errors.check(
                    volumes.contains(&m.source_volume.as_str()),
                    format!("{cat}.mountPoints[{j}].sourceVolume"),
                    format!("{:?} is not a volume of this task", m.source_volume),
                );
            }
            for (j, u) in c.ulimits.iter().enumerate() {
                errors.check(
                    u.soft_limit <= u.hard_limit,
                    format!("{cat}.ulimits[{j}].softLimit"),
                    "must not exceed hardLimit",
                );
            }
            if self.network_mode == NetworkMode::Awsvpc {
                for (j, p) in c.port_mappings.iter().enumerate() {
                    errors.check(
                        p.host_port.is_none_or(|h| h == p.container_port),
                        format!("{cat}.portMappings[{j}].hostPort"),
                        "with networkMode awsvpc hostPort must be omitted or equal containerPort",
                    );
                }
            }
            if let Some(l) = &c.log_configuration {
                // awslogs-region may be omitted: berth fills in the region it deploys to.
                let mut required = vec!["awslogs-group"];
                if self.is_fargate() {
                    required.push("awslogs-stream-prefix");
                }
                if l.log_driver == LogDriver::Awslogs {
                    for key in required {
                        errors.check(
                            l.options.contains_key(key),
                            format!("{cat}.logConfiguration.options"),
                            format!("awslogs needs the option {key}"),
                        );
                    }
                }
            }
            if let (Some(cpu), Some(task_cpu)) = (c.cpu, self.cpu) {
                errors.check(
                    cpu <= task_cpu,
                    format!("{cat}.cpu"),
                    format!("must not exceed the task cpu {task_cpu}"),
                );
            }
            if let (Some(mem), Some(task_mem)) = (c.memory, self.memory) {
                errors.check(
                    mem <= task_mem,
                    format!("{cat}.memory"),
                    format!("must not exceed the task memory {task_mem}"),
                );
            }
        }
    }
}

fn describe_sizes(options: &[i32]) -> String {
    match options {
        [a, b, c] if options.len() == 3 => format!("{a}, {b}, {c}"),
        [first, .., last] => {
            let step = options[1] - options[0];
            format!("{first} to {last} in steps of {step}")
        }
        _ => options
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}
