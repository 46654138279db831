//! ECS (awsJson1_1, `AmazonEC2ContainerServiceV20141113`): clusters, task
//! definitions, tasks, services and tags. The lifecycles live in `tasks`
//! and `scheduler`; the requests of each operation group are handled in
//! its own file (`clusters`, `taskdef`, `task_api`, `services`, `tags`), to
//! which [`EcsState::handle`] dispatches.

pub mod clusters;
pub mod deployments;
pub mod idempotency;
pub mod rollout;
pub mod scheduler;
pub mod services;
pub mod strategies;
pub mod tags;
pub mod task_api;
pub mod taskdef;
pub mod tasks;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cloudmap::CloudMapState;
use crate::core::{AwsError, AwsResult, Ctx};
use crate::ecr::EcrState;
use crate::faults::Faults;
use crate::logs::LogsState;
use crate::secrets::SecretsState;
use crate::util::str_list;

pub use clusters::Cluster;
use services::Service;
use taskdef::TaskDef;
use tasks::Task;

/// The other services an ECS simulation step touches.
pub struct EcsEnv<'a> {
    pub ecr: &'a mut EcrState,
    pub secrets: &'a SecretsState,
    pub logs: &'a mut LogsState,
    pub cloudmap: &'a mut CloudMapState,
    pub faults: &'a Faults,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EcsState {
    pub clusters: BTreeMap<String, Cluster>,
    /// family -> revisions in order (revision N at index N-1).
    pub task_definitions: BTreeMap<String, Vec<TaskDef>>,
    pub services: Vec<Service>,
    pub tasks: BTreeMap<String, Task>,
    /// Feeds ENI addresses.
    pub launches: u64,
    /// CreateService client tokens (cluster ARN + token).
    pub service_tokens: BTreeMap<String, idempotency::TokenRecord>,
    /// RunTask client tokens (cluster ARN + token).
    pub run_task_tokens: BTreeMap<String, idempotency::TokenRecord>,
    /// CloudWatch alarm states ("ALARM", "OK") for deployment alarms, set
    /// through the control API (`POST /_awsim/alarms`).
    pub alarm_states: BTreeMap<String, String>,
    /// Replaces the text of the service event the circuit breaker writes
    /// when it rolls back (`Handle::set_rollback_event_text`), so tests can
    /// tell a client that reads the deployment record from one that reads
    /// the event text.
    pub rollback_event_text: Option<String>,
}

fn client(msg: impl Into<String>) -> AwsError {
    AwsError::client("ClientException", msg)
}

fn invalid(msg: impl Into<String>) -> AwsError {
    AwsError::client("InvalidParameterException", msg)
}

fn cluster_not_found() -> AwsError {
    AwsError::client("ClusterNotFoundException", "Cluster not found.")
}

fn service_not_found() -> AwsError {
    AwsError::client("ServiceNotFoundException", "Service not found.")
}

fn include_tags(body: &Value) -> bool {
    str_list(body, "include").iter().any(|i| i == "TAGS")
}

fn unknown_op(op: &str) -> AwsError {
    AwsError::client(
        "UnknownOperationException",
        format!("awsim does not implement ECS {op}"),
    )
}

impl EcsState {
    pub fn tick(&mut self, ctx: &Ctx, env: &mut EcsEnv) {
        scheduler::tick(self, ctx, env);
    }

    /// Dispatches one operation to its group's file.
    pub fn handle(
        &mut self,
        ctx: &Ctx,
        op: &str,
        body: &Value,
        env: &mut EcsEnv,
    ) -> AwsResult<Value> {
        match op {
            "CreateCluster" | "DescribeClusters" | "ListClusters" | "DeleteCluster" => {
                self.cluster_op(ctx, op, body)
            }
            "RegisterTaskDefinition"
            | "DescribeTaskDefinition"
            | "ListTaskDefinitions"
            | "ListTaskDefinitionFamilies"
            | "DeregisterTaskDefinition"
            | "DeleteTaskDefinitions" => self.taskdef_op(ctx, op, body),
            "RunTask" | "StartTask" | "DescribeTasks" | "ListTasks" | "StopTask" => {
                self.task_op(ctx, op, body, env)
            }
            "CreateService" | "UpdateService" | "DescribeServices" | "ListServices"
            | "DeleteService" => self.service_op(ctx, op, body, env),
            "TagResource" | "UntagResource" | "ListTagsForResource" => self.tag_op(ctx, op, body),
            "DescribeServiceDeployments"
            | "ListServiceDeployments"
            | "DescribeServiceRevisions"
            | "ContinueServiceDeployment"
            | "StopServiceDeployment" => self.deployment_op(ctx, op, body),
            _ => Err(unknown_op(op)),
        }
    }

    /// Shared by RunTask, CreateService and UpdateService.
    pub(super) fn check_launch(
        td: &TaskDef,
        launch_type: Option<&str>,
        capacity: Option<&Value>,
        network: Option<&Value>,
    ) -> AwsResult<()> {
        if launch_type.is_some()
            && capacity.is_some_and(|c| c.as_array().is_some_and(|a| !a.is_empty()))
        {
            return Err(invalid(
                "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
            ));
        }
        let fargate = launch_type == Some("FARGATE")
            || capacity.and_then(Value::as_array).is_some_and(|a| {
                a.iter().any(|c| {
                    c.get("capacityProvider")
                        .and_then(Value::as_str)
                        .is_some_and(|p| p.starts_with("FARGATE"))
                })
            });
        if fargate && !td.supports_fargate() {
            return Err(client(
                "Task definition does not support launch_type FARGATE.",
            ));
        }
        if td.network_mode() == "awsvpc" {
            let cfg = network
                .and_then(|n| n.get("awsvpcConfiguration"))
                .ok_or_else(|| invalid("Network Configuration must be provided when networkMode 'awsvpc' is specified."))?;
            let subnets = cfg.get("subnets").and_then(Value::as_array);
            if subnets.is_none_or(|s| s.is_empty()) {
                return Err(invalid("subnets can not be empty."));
            }
            if subnets.is_some_and(|s| s.len() > 16) {
                return Err(invalid("subnets can have at most 16 items."));
            }
            if cfg
                .get("securityGroups")
                .and_then(Value::as_array)
                .is_some_and(|s| s.len() > 5)
            {
                return Err(invalid("securityGroups can have at most 5 items."));
            }
        } else if network.is_some() {
            return Err(invalid(
                "Network Configuration is not valid for the given networkMode of this task definition.",
            ));
        }
        Ok(())
    }
}
