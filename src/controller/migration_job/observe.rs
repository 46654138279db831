//! Reading the run's tasks from ECS and the deciding container's log tail
//! from CloudWatch Logs.

use aws_sdk_ecs::types::{DesiredStatus, Task, TaskField};
use k8s_openapi::jiff::Timestamp;

use super::plan::TaskView;
use super::TAG_ATTEMPT;
use crate::aws::{AwsFailure, Clients};

/// Lines of the log stream kept in status.
pub const LOG_LINES: i32 = 20;

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
/// ARN names; old-format ARNs without one are looked up in `cluster`).
pub async fn task(
    clients: &Clients,
    cluster: &str,
    arn: &str,
    container: &str,
) -> Result<Option<TaskView>, AwsFailure> {
    let cluster = cluster_and_id(arn).map_or(cluster, |(c, _)| c);
    let found = describe(clients, cluster, &[arn.to_string()], container).await?;
    Ok(found.into_iter().next())
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

/// The last lines of a log stream, oldest first. A missing stream or
/// group is an empty tail: logs are a courtesy, never a failure.
pub async fn log_tail(clients: &Clients, group: &str, stream: &str) -> Vec<String> {
    let resp = clients
        .call("logs:GetLogEvents", || {
            clients
                .logs
                .get_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .limit(LOG_LINES)
                .start_from_head(false)
                .send()
        })
        .await;
    match resp {
        Ok(out) => out
            .events()
            .iter()
            .filter_map(|e| e.message().map(|m| m.trim_end().to_string()))
            .collect(),
        Err(f) => {
            tracing::debug!(error = %f, group, stream, "no log tail");
            Vec::new()
        }
    }
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
}
