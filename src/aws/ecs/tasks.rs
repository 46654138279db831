//! One-off ECS tasks (a MigrationJob's runs): what runs where
//! ([`RunTarget`]), register (or reuse) its task definition, RunTask with an
//! idempotency token per attempt, StopTask, and reading the run's tasks
//! back as [`TaskView`]s (by ARN, or by `startedBy` after a crash).

use aws_sdk_ecs::types::{ContainerOverride, KeyValuePair, LaunchType, Tag, TaskOverride};

use aws_sdk_ecs::types::{DesiredStatus, Task, TaskField};
use k8s_openapi::jiff::Timestamp;

use crate::api::common::{
    CapacityProviderStrategyItem as CapacityItem, EnvVar, LaunchType as Launch,
    NetworkConfiguration as Network, Tags,
};
use crate::api::task_definition::{LogDriver, TaskDefinitionSpec};
use crate::aws::tags::{TAG_ATTEMPT, TAG_RUN_HASH};
use crate::aws::tags::{TAG_OWNER, TAG_UID};
use crate::aws::taskdef as render;
use crate::aws::token::{token, ECS_RUN_TASK_MAX};
use crate::aws::{AwsFailure, Clients};

/// Where and what the job runs, resolved from the job and (with
/// `serviceRef`) the EcsService.
#[derive(Clone, Debug, PartialEq)]
pub struct RunTarget {
    pub cluster: String,
    pub network: Option<Network>,
    pub launch_type: Option<Launch>,
    pub capacity: Vec<CapacityItem>,
    pub platform_version: Option<String>,
    /// The task definition as it runs (image replaced when `image` is set).
    pub task_definition: TaskDefinitionSpec,
    /// Run this registered revision as is (serviceRef without `image`);
    /// otherwise `task_definition` is registered (or reused) under `family`.
    pub arn: Option<String>,
    pub family: String,
    /// The container whose exit code decides.
    pub container: String,
    /// The EcsService's `status.specHash` (serviceRef only).
    pub service_hash: Option<String>,
    /// PostTestTraffic: the paused service deployment the run checks.
    pub service_deployment: Option<String>,
    pub user_tags: Tags,
}

impl RunTarget {
    /// (`awslogs-group`, stream) of the deciding container for `task_id`,
    /// when it logs with awslogs and a stream prefix.
    pub fn log_stream(&self, task_id: &str) -> Option<(String, String)> {
        let c = self
            .task_definition
            .containers
            .iter()
            .find(|c| c.name == self.container)?;
        let l = c.log_configuration.as_ref()?;
        if l.log_driver != LogDriver::Awslogs {
            return None;
        }
        let group = l.options.get("awslogs-group")?;
        let prefix = l.options.get("awslogs-stream-prefix")?;
        Some((group.clone(), format!("{prefix}/{}/{task_id}", c.name)))
    }
}

/// What ECS reports about one task of the run.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskView {
    pub arn: String,
    /// From the task's `berth.dev/attempt` tag.
    pub attempt: i32,
    pub last_status: String,
    /// The deciding container's exit code.
    pub exit_code: Option<i32>,
    pub stopped_reason: Option<String>,
    /// ECS's stopCode: `TaskFailedToStart` means the command never ran.
    pub stop_code: Option<String>,
    /// The deciding container's reason (e.g. CannotPullContainerError).
    pub container_reason: Option<String>,
    pub created_at: Option<Timestamp>,
    pub stopped_at: Option<Timestamp>,
}

impl TaskView {
    pub fn stopped(&self) -> bool {
        self.last_status == "STOPPED"
    }

    /// The task got as far as running its containers: RUNNING now, or
    /// stopped after it ran (an exit code, or a stop that was no failure
    /// to start).
    pub fn ran(&self) -> bool {
        self.last_status == "RUNNING"
            || self.exit_code.is_some()
            || (self.stopped() && !self.failed_to_start())
    }

    /// The task stopped before its containers ran the command.
    pub fn failed_to_start(&self) -> bool {
        self.stopped()
            && self.exit_code.is_none()
            && self.stop_code.as_deref() == Some("TaskFailedToStart")
    }

    /// ECS's error code for why the task could not start: the prefix of
    /// its stoppedReason (or the container's reason), e.g.
    /// `CannotPullContainerError` or `ResourceInitializationError` (the
    /// codes of "Stopped tasks error codes",
    /// https://docs.aws.amazon.com/AmazonECS/latest/userguide/stopped-task-error-codes.html).
    /// None for a task that started, or a reason without a code.
    pub fn start_failure_code(&self) -> Option<&str> {
        if !self.failed_to_start() {
            return None;
        }
        [
            self.stopped_reason.as_deref(),
            self.container_reason.as_deref(),
        ]
        .into_iter()
        .flatten()
        .find_map(|r| {
            let (code, _) = r.split_once(':')?;
            let code = code.trim();
            (code.starts_with(|c: char| c.is_ascii_uppercase())
                && code.chars().all(|c| c.is_ascii_alphanumeric()))
            .then_some(code)
        })
    }

    /// `exit code 1 (Essential container in task exited)`.
    pub fn failure(&self) -> String {
        let code = match self.exit_code {
            Some(c) => format!("exit code {c}"),
            None => "no exit code".to_string(),
        };
        // ECS often repeats the container's reason in the task's stoppedReason
        // (CannotPullContainerError ...): say it once.
        let mut reasons: Vec<&str> = Vec::new();
        for r in [
            self.stopped_reason.as_deref(),
            self.container_reason.as_deref(),
        ]
        .into_iter()
        .flatten()
        {
            if !reasons
                .iter()
                .any(|have| have.contains(r) || r.contains(have))
            {
                reasons.push(r);
            }
        }
        if reasons.is_empty() {
            code
        } else {
            format!("{code} ({})", reasons.join("; "))
        }
    }
}

/// Start failure codes a retry does not fix, only a person: the image
/// cannot be pulled (not found, no access, no route to the registry:
/// `CannotPullContainerError`), or the task's resources cannot be set up
/// (secrets or registry auth unreadable or unreachable, the log driver:
/// `ResourceInitializationError`). Others (`ContainerRuntimeTimeoutError`,
/// `InternalError`, placement and capacity) pass by themselves.
pub const START_FAILURES_NEEDING_A_PERSON: [&str; 2] =
    ["CannotPullContainerError", "ResourceInitializationError"];

/// Hex characters of the run hash kept in `startedBy`: 36 characters in
/// all, as ECS used to document (128 today), so older accounts' tooling
/// that reads it keeps working; `berth-` takes 6.
const STARTED_BY_HASH_CHARS: usize = 28;

/// `startedBy` of the run's tasks: how ListTasks finds them after a restart.
pub fn started_by(run_hash: &str) -> String {
    let n = run_hash.len().min(STARTED_BY_HASH_CHARS);
    format!("berth-{}", &run_hash[..n])
}

/// What a job runs.
#[derive(Clone, Debug, PartialEq)]
pub enum ToRun {
    /// The service's revision, as is.
    Revision(String),
    /// The job's own task definition, found by its hash tag or registered.
    Rendered(Box<render::RenderedTaskDefinition>),
}

pub fn task_definition(clients: &Clients, target: &RunTarget, owner: &str, uid: &str) -> ToRun {
    if let Some(arn) = &target.arn {
        return ToRun::Revision(arn.clone());
    }
    ToRun::Rendered(Box::new(render::register_request(&render::RenderInput {
        spec: &target.task_definition,
        family: target.family.clone(),
        region: clients.target.region.clone(),
        owner: owner.to_string(),
        uid: uid.to_string(),
        user_tags: &target.user_tags,
        // Secret versions only matter for service rollouts; a task reads
        // its secrets when it starts anyway.
        secret_versions: &Default::default(),
    })))
}

pub struct RunRequest<'a> {
    pub target: &'a RunTarget,
    pub task_definition: &'a str,
    pub run_hash: &'a str,
    pub attempt: i32,
    pub owner: &'a str,
    pub uid: &'a str,
    pub command: &'a [String],
    pub environment: &'a [EnvVar],
}

pub async fn run_task(clients: &Clients, r: &RunRequest<'_>) -> Result<TaskView, AwsFailure> {
    let t = r.target;
    let mut container = ContainerOverride::builder().name(&t.container);
    if !r.command.is_empty() {
        container = container.set_command(Some(r.command.to_vec()));
    }
    for e in r.environment {
        container = container.environment(
            KeyValuePair::builder()
                .name(&e.name)
                .value(&e.value)
                .build(),
        );
    }
    let tags = vec![
        Tag::builder().key(TAG_OWNER).value(r.owner).build(),
        Tag::builder().key(TAG_UID).value(r.uid).build(),
        Tag::builder().key(TAG_RUN_HASH).value(r.run_hash).build(),
        Tag::builder()
            .key(TAG_ATTEMPT)
            .value(r.attempt.to_string())
            .build(),
    ];
    let mut req = clients
        .ecs
        .run_task()
        .cluster(&t.cluster)
        .task_definition(r.task_definition)
        .count(1)
        .started_by(started_by(r.run_hash))
        .overrides(
            TaskOverride::builder()
                .container_overrides(container.build())
                .build(),
        )
        .set_tags(Some(tags))
        .enable_ecs_managed_tags(true)
        .set_network_configuration(t.network.as_ref().map(super::convert::network))
        .set_platform_version(t.platform_version.clone())
        // Idempotent when a crash hits between RunTask and the status write.
        .client_token(token(
            ECS_RUN_TASK_MAX,
            &["ecs:RunTask", r.run_hash, &r.attempt.to_string()],
        ));
    if let Some(lt) = t.launch_type {
        req = req.launch_type(LaunchType::from(lt.as_aws()));
    }
    if !t.capacity.is_empty() {
        req = req.set_capacity_provider_strategy(Some(super::convert::capacity(&t.capacity)));
    }
    // Retried with the same client token: ECS returns the task it started.
    let out = clients.call("ecs:RunTask", || req.clone().send()).await?;
    if let Some(task) = out.tasks().first() {
        let mut v = view(task, &t.container);
        // The response may omit tags; the attempt is the one just started.
        v.attempt = r.attempt;
        return Ok(v);
    }
    let why: Vec<String> = out
        .failures()
        .iter()
        .map(|f| {
            format!(
                "{}: {}",
                f.reason().unwrap_or("failure"),
                f.detail().unwrap_or_default()
            )
        })
        .collect();
    Err(AwsFailure {
        kind: crate::aws::FailureKind::Terminal,
        action: "ecs:RunTask",
        code: Some("RunTaskFailure".into()),
        message: if why.is_empty() {
            "RunTask started no task".into()
        } else {
            why.join("; ")
        },
    })
}

/// Stops a task; one already gone is fine.
pub async fn stop_task(clients: &Clients, arn: &str, reason: &str) -> Result<(), AwsFailure> {
    let Some((cluster, _)) = cluster_and_id(arn) else {
        return Ok(());
    };
    let out = clients
        .call("ecs:StopTask", || {
            clients
                .ecs
                .stop_task()
                .cluster(cluster)
                .task(arn)
                .reason(reason)
                .send()
        })
        .await;
    match out {
        Ok(_) => Ok(()),
        Err(f) => {
            if f.is_code("InvalidParameterException") || f.is_code("ClusterNotFoundException") {
                Ok(())
            } else {
                Err(f)
            }
        }
    }
}

/// `arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID` -> (`CLUSTER`, `ID`).
pub fn cluster_and_id(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.split_once(":task/")?.1;
    rest.split_once('/')
}

fn timestamp(t: Option<&aws_smithy_types::DateTime>) -> Option<Timestamp> {
    t.and_then(|d| Timestamp::new(d.secs(), d.subsec_nanos() as i32).ok())
}

/// The parts of a task the plan reads; the attempt comes from berth's tag.
pub fn view(task: &Task, container: &str) -> TaskView {
    let c = task
        .containers()
        .iter()
        .find(|c| c.name() == Some(container));
    let attempt = task
        .tags()
        .iter()
        .find(|t| t.key() == Some(TAG_ATTEMPT))
        .and_then(|t| t.value())
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    TaskView {
        arn: task.task_arn().unwrap_or_default().to_string(),
        attempt,
        last_status: task.last_status().unwrap_or_default().to_string(),
        exit_code: c.and_then(|c| c.exit_code()),
        stopped_reason: task.stopped_reason().map(str::to_string),
        stop_code: task.stop_code().map(|c| c.as_str().to_string()),
        container_reason: c.and_then(|c| c.reason()).map(str::to_string),
        created_at: timestamp(task.created_at()),
        stopped_at: timestamp(task.stopped_at()),
    }
}

/// Describes tasks by ARN (with tags); missing ones are left out.
pub async fn describe(
    clients: &Clients,
    cluster: &str,
    arns: &[String],
    container: &str,
) -> Result<Vec<TaskView>, AwsFailure> {
    let mut out = Vec::new();
    for chunk in arns.chunks(100) {
        let resp = clients
            .call("ecs:DescribeTasks", || {
                clients
                    .ecs
                    .describe_tasks()
                    .cluster(cluster)
                    .set_tasks(Some(chunk.to_vec()))
                    .include(TaskField::Tags)
                    .send()
            })
            .await?;
        out.extend(resp.tasks().iter().map(|t| view(t, container)));
    }
    Ok(out)
}

/// The task recorded in status, read back by its ARN (in the cluster the
/// ARN names; old-format ARNs without one are looked up in `cluster`),
/// described together with the other jobs' tasks of that cluster.
pub async fn task(
    clients: &Clients,
    cluster: &str,
    arn: &str,
    container: &str,
) -> Result<Option<TaskView>, AwsFailure> {
    let cluster = cluster_and_id(arn).map_or(cluster, |(c, _)| c);
    let found = clients.batches.tasks.get(clients, cluster, arn).await?;
    Ok(found.map(|t| view(&t, container)))
}

/// Every task ECS knows with this `startedBy` (running ones, then stopped
/// ones), newest attempt first: what makes a run survive a restart between
/// RunTask and the status write.
pub async fn run_tasks(
    clients: &Clients,
    cluster: &str,
    started_by: &str,
    container: &str,
) -> Result<Vec<TaskView>, AwsFailure> {
    let mut arns = Vec::new();
    for desired in [DesiredStatus::Running, DesiredStatus::Stopped] {
        let mut token = None;
        loop {
            let resp = clients
                .call("ecs:ListTasks", || {
                    clients
                        .ecs
                        .list_tasks()
                        .cluster(cluster)
                        .started_by(started_by)
                        .desired_status(desired.clone())
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            arns.extend(resp.task_arns().iter().cloned());
            token = resp.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    arns.dedup();
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    let mut tasks = describe(clients, cluster, &arns, container).await?;
    tasks.sort_by_key(|t| std::cmp::Reverse(t.attempt));
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{Container, Tag};

    #[test]
    fn cluster_and_id_from_arn() {
        assert_eq!(
            cluster_and_id("arn:aws:ecs:us-east-1:123456789012:task/shop/0a1b"),
            Some(("shop", "0a1b"))
        );
        assert_eq!(cluster_and_id("nonsense"), None);
    }

    #[test]
    fn view_reads_the_deciding_container_and_attempt_tag() {
        let task = Task::builder()
            .task_arn("arn:aws:ecs:us-east-1:1:task/shop/x")
            .last_status("STOPPED")
            .stopped_reason("Essential container in task exited")
            .containers(Container::builder().name("sidecar").exit_code(0).build())
            .containers(Container::builder().name("app").exit_code(3).build())
            .tags(Tag::builder().key(TAG_ATTEMPT).value("2").build())
            .build();
        let v = view(&task, "app");
        assert_eq!(v.exit_code, Some(3));
        assert_eq!(v.attempt, 2);
        assert!(v.stopped());
    }

    #[test]
    fn the_start_failure_code_is_the_reasons_prefix() {
        let failed = |reason: &str| TaskView {
            arn: "arn:aws:ecs:us-east-1:1:task/shop/x".into(),
            attempt: 1,
            last_status: "STOPPED".into(),
            exit_code: None,
            stopped_reason: Some(reason.into()),
            stop_code: Some("TaskFailedToStart".into()),
            container_reason: None,
            created_at: None,
            stopped_at: None,
        };
        let pull = failed(
            "CannotPullContainerError: pull image manifest has been retried 7 time(s): not found",
        );
        assert_eq!(pull.start_failure_code(), Some("CannotPullContainerError"));
        let eni = failed("Timeout waiting for network interface provisioning to complete.");
        assert_eq!(eni.start_failure_code(), None);
        let exited = TaskView {
            exit_code: Some(1),
            stop_code: Some("EssentialContainerExited".into()),
            ..failed("Essential container in task exited: code 1")
        };
        assert_eq!(exited.start_failure_code(), None);
    }
}
