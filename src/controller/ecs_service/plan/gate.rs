//! The migration gates of a revision: the PreRollout jobs it waits for,
//! and the PostRollout checks that judge it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::api::conditions::{self, Reason, DEGRADED, PROGRESSING};
use crate::api::ecs_service::{EcsService, EcsServiceStatus};
use crate::api::migration_job::{Hook, MigrationJob, Phase};

/// State of the pre-rollout gate (MigrationJobs with hook PreRollout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    Open,
    Waiting(String),
    /// Waiting (the message), and a job's task cannot start until a
    /// person fixes the cause (what its `TaskCannotStart` says).
    CannotStart {
        waiting: String,
        cause: String,
    },
    Failed(String),
}

/// The gate for revision `hash` of service `service` from the MigrationJobs
/// of its namespace: every PreRollout job naming it must have succeeded
/// for exactly this hash. A failure for this hash closes the gate.
pub fn gate(jobs: &[MigrationJob], service: &str, hash: &str) -> Gate {
    let pre: Vec<&MigrationJob> = jobs
        .iter()
        .filter(|j| {
            j.is_hook_of(Hook::PreRollout, service) && j.metadata.deletion_timestamp.is_none()
        })
        .collect();
    let (mut waiting, mut causes) = (Vec::new(), Vec::new());
    for job in &pre {
        let name = job.metadata.name.clone().unwrap_or_default();
        let status = job.status.clone().unwrap_or_default();
        let for_this = status.service_hash.as_deref() == Some(hash);
        // The job's run goes on but needs a person: the service says so
        // on its own Degraded, with the job's words.
        let cause = cannot_start(&status.conditions).filter(|_| for_this);
        match (status.phase, for_this) {
            (Some(Phase::Succeeded), true) => {}
            (Some(Phase::Failed), true) => {
                return Gate::Failed(format!(
                    "MigrationJob {name} failed{}{}; the previous revision keeps serving",
                    status
                        .exit_code
                        .map(|c| format!(" with exit code {c}"))
                        .unwrap_or_default(),
                    status
                        .stopped_reason
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ));
            }
            _ if cause.is_some() => {
                causes.push(format!(
                    "MigrationJob {name}: {}",
                    cause.unwrap_or_default()
                ));
                waiting.push(name);
            }
            // An attempt that could not start (a failed pull, say) is
            // retried by the job; the service says why it still waits.
            (_, true)
                if status.attempts > 0 && status.start_failures.contains(&status.attempts) =>
            {
                waiting.push(match status.stopped_reason.as_deref() {
                    Some(r) => format!("{name} (attempt {} could not start: {r})", status.attempts),
                    None => name,
                })
            }
            _ => waiting.push(name),
        }
    }
    if waiting.is_empty() {
        return Gate::Open;
    }
    waiting.sort();
    let waiting = format!(
        "waiting for PreRollout MigrationJob(s) {} to succeed for revision hash {hash}",
        waiting.join(", ")
    );
    if causes.is_empty() {
        return Gate::Waiting(waiting);
    }
    causes.sort();
    Gate::CannotStart {
        waiting,
        cause: causes.join("; "),
    }
}

/// The message of a job's `Degraded=True/TaskCannotStart`: its run goes
/// on, but its task cannot start until a person fixes the cause.
fn cannot_start(conditions: &[Condition]) -> Option<&str> {
    conditions::find(conditions, DEGRADED)
        .filter(|c| c.status == "True" && c.reason == Reason::TaskCannotStart.as_str())
        .map(|c| c.message.as_str())
}

/// A failed PostRollout MigrationJob for revision `hash` of `service`:
/// (message, whether it asks for a rollback).
pub fn post_check(jobs: &[MigrationJob], service: &str, hash: &str) -> Option<(String, bool)> {
    jobs.iter()
        .filter(|j| j.is_hook_of(Hook::PostRollout, service))
        .find_map(|j| {
            let st = j.status.as_ref()?;
            (st.phase == Some(Phase::Failed) && st.service_hash.as_deref() == Some(hash)).then(
                || {
                    (
                        format!(
                            "PostRollout MigrationJob {} failed{}",
                            j.metadata.name.as_deref().unwrap_or_default(),
                            st.exit_code
                                .map(|c| format!(" with exit code {c}"))
                                .unwrap_or_default()
                        ),
                        j.spec.rollback_on_failure,
                    )
                },
            )
        })
}

/// Progressing, when the status says the service waits for its migrations.
pub fn waiting_for_migrations(status: &EcsServiceStatus) -> Option<&Condition> {
    conditions::find(&status.conditions, PROGRESSING)
        .filter(|c| c.status == "True" && c.reason == Reason::WaitingForMigrations.as_str())
}

/// The status says the service waits for the very migrations `jobs` still
/// hold it for (same spec, same hash, same message): nothing in AWS can
/// open the gate, so a poll may skip AWS.
pub fn gate_unchanged(
    obj: &EcsService,
    prev: &EcsServiceStatus,
    hash: &str,
    jobs: &[MigrationJob],
) -> bool {
    let Some(progressing) = waiting_for_migrations(prev) else {
        return false;
    };
    let name = obj.metadata.name.as_deref().unwrap_or_default();
    // Degraded must still say what the gate says about starting tasks.
    let said = conditions::find(&prev.conditions, DEGRADED)
        .filter(|c| c.status == "True" && c.reason == Reason::MigrationCannotStart.as_str())
        .map(|c| c.message.as_str());
    let unchanged = match gate(jobs, name, hash) {
        Gate::Waiting(m) => m == progressing.message && said.is_none(),
        Gate::CannotStart { waiting, cause } => {
            waiting == progressing.message && said.is_some_and(|s| s.starts_with(&cause))
        }
        _ => false,
    };
    prev.observed_generation == obj.metadata.generation
        && prev.spec_hash.as_deref() == Some(hash)
        && unchanged
}
