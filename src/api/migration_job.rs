//! `MigrationJob`: a one-off ECS task that must succeed (database
//! migrations before a rollout, smoke tests after it, or a task on its own).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    CapacityProviderStrategyItem, EnvVar, LaunchType, LocalObjectReference, NetworkConfiguration,
};
use super::task_definition::{NetworkMode, TaskDefinitionSpec};
use super::validation::{is_ecs_name, Errors, InvalidSpec};

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "berth.dev",
    version = "v1alpha1",
    kind = "MigrationJob",
    namespaced,
    status = "MigrationJobStatus",
    shortname = "mj",
    category = "berth",
    doc = "A one-off ECS task that must succeed: a migration before a rollout, a smoke test after it, or a task on its own",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Exit", type_ = "integer", json_path = ".status.exitCode"),
    printcolumn(name = "Attempts", type_ = "integer", json_path = ".status.attempts"),
    printcolumn(
        name = "Service",
        type_ = "string",
        json_path = ".spec.serviceRef.name"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "has(self.serviceRef) != has(self.taskDefinition)",
        "message": "set exactly one of serviceRef and taskDefinition",
        "fieldPath": ".serviceRef"
    },
    {
        "rule": "!has(self.taskDefinition) || has(self.cluster)",
        "message": "cluster is required with an inline taskDefinition",
        "fieldPath": ".cluster"
    },
    {
        "rule": "!has(self.serviceRef) || (!has(self.cluster) && !has(self.networkConfiguration))",
        "message": "with serviceRef the cluster and network come from the EcsService",
        "fieldPath": ".serviceRef"
    },
    {
        "rule": "!has(self.hook) || self.hook == 'None' || has(self.serviceRef)",
        "message": "PreRollout and PostRollout hooks need serviceRef",
        "fieldPath": ".hook"
    },
    {
        "rule": "!has(self.rollbackOnFailure) || !self.rollbackOnFailure || (has(self.hook) && self.hook == 'PostRollout')",
        "message": "rollbackOnFailure only applies to PostRollout hooks",
        "fieldPath": ".rollbackOnFailure"
    }
]))]
pub struct MigrationJobSpec {
    /// Borrow the task definition, cluster, network, roles, environment and
    /// secrets of this EcsService (the revision it wants to roll out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_ref: Option<LocalObjectReference>,
    /// A full task definition instead of `serviceRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<TaskDefinitionSpec>,
    /// ECS cluster, with an inline task definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,255}$"))]
    pub cluster: Option<String>,
    /// Network, with an inline task definition in awsvpc mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<LaunchType>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(LATEST|[0-9]+\.[0-9]+\.[0-9]+)$"))]
    pub platform_version: Option<String>,
    /// Replace the deciding container's image (e.g. a smoke-test image run
    /// with the service's network and roles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub image: Option<String>,
    /// The container whose exit code decides; default the first essential one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Command override for the deciding container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Extra environment for the deciding container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<EnvVar>,
    /// An AuroraCluster: DB_HOST, DB_PORT, DB_NAME, DB_USER and
    /// DB_USE_IAM_AUTH are injected from its status (proxy endpoint preferred).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_ref: Option<LocalObjectReference>,
    #[serde(default)]
    pub hook: Hook,
    /// PostRollout only: roll the service back to its previous revision on failure.
    #[serde(default)]
    pub rollback_on_failure: bool,
    /// Failed attempts retried before the run fails.
    #[serde(default = "default_backoff_limit")]
    #[schemars(range(min = 0, max = 20))]
    pub backoff_limit: i32,
    /// A run still going after this long is stopped and fails (`DeadlineExceeded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub active_deadline_seconds: Option<i64>,
    /// Delete a finished standalone MigrationJob after this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i64>,
    /// Copy the last lines of the deciding container's CloudWatch log stream
    /// (awslogs) into `status.logTail` when the run finishes. Off by default:
    /// whatever the task prints (connection strings, tokens) becomes
    /// readable by everyone who can read the MigrationJob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_tail: Option<LogTail>,
}

/// At most this many lines in `status.logTail` (`spec.logTail.lines`).
pub const LOG_TAIL_MAX_LINES: i32 = 50;
/// Each line of `status.logTail` is cut to this many bytes (marker included).
pub const LOG_LINE_BYTES: usize = 512;
/// All lines of `status.logTail` together: the oldest lines are dropped
/// past this many bytes.
pub const LOG_TAIL_BYTES: usize = 8 * 1024;

/// Which log lines a finished run keeps in status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogTail {
    /// How many of the stream's last lines to keep, 0 to 50 (0: none, and
    /// CloudWatch Logs is not asked). Each line is cut to 512 bytes and
    /// the lines together to 8 KiB (oldest dropped first), cuts marked
    /// `… [cut]`.
    #[serde(default)]
    #[schemars(range(min = 0, max = 50))]
    pub lines: i32,
}

impl MigrationJobSpec {
    /// The log lines a finished run keeps (0: none).
    pub fn log_tail_lines(&self) -> i32 {
        self.log_tail.as_ref().map_or(0, |t| t.lines)
    }
}

/// The variables `databaseRef` injects into the deciding container.
pub const DATABASE_ENV: [&str; 5] = [
    "DB_HOST",
    "DB_PORT",
    "DB_NAME",
    "DB_USER",
    "DB_USE_IAM_AUTH",
];

fn default_backoff_limit() -> i32 {
    2
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Hook {
    /// Must succeed for a new service revision before it rolls out.
    PreRollout,
    /// Runs after a rollout completes (smoke tests).
    PostRollout,
    /// Runs while a BLUE_GREEN, LINEAR or CANARY deployment of the service
    /// pauses after test traffic shifted to the new revision (berth adds a
    /// PAUSE lifecycle hook at POST_TEST_TRAFFIC_SHIFT), once per
    /// deployment: exit 0 continues the deployment, a failure rolls it back.
    PostTestTraffic,
    /// Runs on its own.
    #[default]
    None,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MigrationJobStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Identity of the run: hash of this spec plus, with serviceRef, the
    /// service revision hash. The same hash never runs twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_hash: Option<String>,
    /// The service revision hash this run was for (serviceRef only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_hash: Option<String>,
    /// PostTestTraffic: the ECS service deployment this run checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_deployment: Option<String>,
    /// Attempts started for this run hash (each with its own task and
    /// idempotency token; never reset, so no attempt is ever sent twice).
    #[serde(default)]
    pub attempts: i32,
    /// The attempt count when the current try began: 0, or the value of
    /// `attempts` when `berth.dev/refresh` restarted a Failed run.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub try_started_after: i32,
    /// Attempts of the current try whose task never started (stopCode
    /// TaskFailedToStart: image pull, secrets, network, capacity): they never
    /// ran the command, so they do not count against `backoffLimit`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub start_failures: Vec<i32>,
    /// The cause the latest attempts of the current try could not start
    /// their task with, while they fail in a row for it: two in a row for
    /// a cause a person must fix (an image that cannot be pulled, secrets
    /// that cannot be read) make the job `Degraded` (`TaskCannotStart`)
    /// while berth keeps retrying. Gone once a task of the run starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cannot_start: Option<CannotStart>,
    /// The `berth.dev/refresh` value the run has seen: the object's value
    /// while the run was not Failed, or the one that restarted it. Only a
    /// different value starts a new try of a Failed run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Last lines of the deciding container's CloudWatch log stream
    /// (awslogs), only when `spec.logTail.lines` asks for them: each cut to
    /// 512 bytes, 8 KiB together, cuts marked `… [cut]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// The PullThroughCache serving the image the job runs, when it lives
    /// in this account's ECR under its prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_through_cache: Option<String>,
}

/// Attempts in a row whose task could not start for one cause (berth
/// always writes every field).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CannotStart {
    /// ECS's error code, the prefix of its stoppedReason (e.g.
    /// `CannotPullContainerError`, `ResourceInitializationError`).
    pub code: String,
    /// The latest attempt that could not start.
    pub attempt: i32,
    /// How many attempts in a row, through `attempt`, could not start with `code`.
    pub in_a_row: i32,
    /// ECS's stoppedReason for `attempt`.
    pub stopped_reason: String,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

impl MigrationJob {
    /// Whether this job's `serviceRef` names EcsService `name` of namespace
    /// `namespace`: the one test of which jobs borrow from a service.
    pub fn names_service(&self, namespace: &str, name: &str) -> bool {
        self.metadata.namespace.as_deref() == Some(namespace) && self.refers_to(name)
    }

    /// A `hook` job of service `name` (of the job's own namespace).
    pub fn is_hook_of(&self, hook: Hook, name: &str) -> bool {
        self.spec.hook == hook && self.refers_to(name)
    }

    fn refers_to(&self, name: &str) -> bool {
        self.spec
            .service_ref
            .as_ref()
            .is_some_and(|r| r.name == name)
    }
}

impl MigrationJobSpec {
    pub fn validate(&self) -> Result<(), InvalidSpec> {
        let mut e = Errors::default();
        match (&self.service_ref, &self.task_definition) {
            (Some(_), Some(_)) => e.push(
                "spec.serviceRef",
                "set exactly one of serviceRef and taskDefinition, not both",
            ),
            (None, None) => e.push(
                "spec.serviceRef",
                "set exactly one of serviceRef and taskDefinition",
            ),
            _ => {}
        }
        if self.service_ref.is_some() {
            for (field, set) in [
                ("spec.cluster", self.cluster.is_some()),
                (
                    "spec.networkConfiguration",
                    self.network_configuration.is_some(),
                ),
                ("spec.launchType", self.launch_type.is_some()),
                (
                    "spec.capacityProviderStrategy",
                    !self.capacity_provider_strategy.is_empty(),
                ),
            ] {
                e.check(
                    !set,
                    field,
                    "comes from the EcsService named in serviceRef; remove it",
                );
            }
        }
        if let Some(td) = &self.task_definition {
            td.validate("spec.taskDefinition", &mut e);
            match &self.cluster {
                None => e.push("spec.cluster", "required with an inline taskDefinition"),
                Some(c) => e.check(
                    is_ecs_name(c),
                    "spec.cluster",
                    "must be 1-255 letters, digits, hyphens or underscores (case-sensitive)",
                ),
            }
            if td.network_mode == NetworkMode::Awsvpc {
                e.check(
                    self.network_configuration.is_some(),
                    "spec.networkConfiguration",
                    "required with networkMode awsvpc: migrations run in the VPC's subnets",
                );
            }
            if let Some(container) = &self.container {
                e.check(
                    td.containers.iter().any(|c| &c.name == container),
                    "spec.container",
                    format!("{container:?} is not a container of spec.taskDefinition"),
                );
            }
            if self.launch_type.is_some() && !self.capacity_provider_strategy.is_empty() {
                e.push(
                    "spec.capacityProviderStrategy",
                    "set launchType or capacityProviderStrategy, not both",
                );
            }
        }
        if self.hook != Hook::None {
            e.check(
                self.service_ref.is_some(),
                "spec.hook",
                "PreRollout and PostRollout hooks need serviceRef",
            );
        }
        e.check(
            !self.rollback_on_failure || self.hook == Hook::PostRollout,
            "spec.rollbackOnFailure",
            "only applies to hook PostRollout",
        );
        e.check(
            (0..=20).contains(&self.backoff_limit),
            "spec.backoffLimit",
            "must be between 0 and 20",
        );
        if let Some(d) = self.active_deadline_seconds {
            e.check(d >= 1, "spec.activeDeadlineSeconds", "must be at least 1");
        }
        if let Some(t) = self.ttl_seconds_after_finished {
            e.check(
                t >= 0,
                "spec.ttlSecondsAfterFinished",
                "must not be negative",
            );
            e.check(
                self.hook == Hook::None,
                "spec.ttlSecondsAfterFinished",
                "only for standalone jobs (hook None): a hook job records its service's release",
            );
        }
        e.check(
            (0..=LOG_TAIL_MAX_LINES).contains(&self.log_tail_lines()),
            "spec.logTail.lines",
            format!("must be between 0 and {LOG_TAIL_MAX_LINES}"),
        );
        for (i, env) in self.environment.iter().enumerate() {
            e.check(
                self.database_ref.is_none() || !DATABASE_ENV.contains(&env.name.as_str()),
                format!("spec.environment[{i}].name"),
                format!("{} is injected from databaseRef", env.name),
            );
        }
        e.finish()
    }
}
