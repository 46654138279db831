//! What a MigrationJob runs and which run it is: resolved from the job and
//! the EcsService it borrows from, and keyed by a hash of both.

use serde_json::Value;

use crate::api::aurora_cluster::AuroraCluster;
use crate::api::common::{EnvVar, Tags};
use crate::api::conditions::{self, READY};
use crate::api::ecs_service::EcsService;
use crate::api::migration_job::{Hook, MigrationJob};
use crate::aws::ecs::tasks::RunTarget;

/// Spec fields that say how to treat a run, not what runs: changing them
/// must not run a succeeded migration again.
const POLICY_FIELDS: [&str; 6] = [
    "backoffLimit",
    "activeDeadlineSeconds",
    "ttlSecondsAfterFinished",
    "hook",
    "rollbackOnFailure",
    // What status keeps of the output, not what runs.
    "logTail",
];

/// The identity of a run: what runs (the spec without its policy fields),
/// for which object (`<namespace>/<name>`: two jobs with the same spec are
/// two runs), and with `serviceRef` the service revision hash it runs with.
pub fn run_hash(job: &MigrationJob, owner: &str, service_hash: Option<&str>) -> String {
    let mut spec = serde_json::to_value(&job.spec).unwrap_or(Value::Null);
    if let Some(map) = spec.as_object_mut() {
        for key in POLICY_FIELDS {
            map.remove(key);
        }
    }
    let content = serde_json::json!({
        "owner": owner,
        "spec": spec,
        "serviceHash": service_hash,
    });
    crate::hash::content_hash(&content)
}

/// The family of the task definitions a job registers from its service's:
/// `<service family>-<job name>`, with the characters ECS does not allow in
/// a family (a Kubernetes name may hold dots) replaced, and cut to ECS's 255
/// characters with a hash of the whole name kept, so two long names differ.
pub fn derived_family(service_family: &str, job: &str) -> String {
    const MAX: usize = 255;
    let joined = if job.is_empty() {
        service_family.to_string()
    } else {
        format!("{service_family}-{job}")
    };
    let full: String = joined
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if full.len() <= MAX {
        return full;
    }
    let hash = crate::hash::content_hash(&Value::String(full.clone()));
    format!("{}-{hash}", &full[..MAX - hash.len() - 1])
}

/// Why there is nothing to run yet, or cannot be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unresolved {
    /// The EcsService is missing or has no revision yet.
    WaitingForService(String),
    /// A PostRollout job waits until its service runs the new revision.
    WaitingForRollout(String),
    /// A mistake only a human fixes (`spec.container` names no container).
    Invalid(String),
}

/// Resolves what runs. `service` is the EcsService named in `serviceRef`
/// (None when it does not exist).
pub fn resolve(job: &MigrationJob, service: Option<&EcsService>) -> Result<RunTarget, Unresolved> {
    let spec = &job.spec;
    let name = job.metadata.name.clone().unwrap_or_default();
    let mut target = match (&spec.service_ref, &spec.task_definition) {
        (Some(r), _) => borrowed(job, &r.name, service)?,
        (None, Some(td)) => RunTarget {
            task_definition: td.clone(),
            cluster: spec.cluster.clone().unwrap_or_default(),
            network: spec.network_configuration.clone(),
            launch_type: spec.launch_type,
            capacity: spec.capacity_provider_strategy.clone(),
            platform_version: spec.platform_version.clone(),
            arn: None,
            family: td
                .family
                .clone()
                .unwrap_or_else(|| derived_family(&name, "")),
            container: String::new(),
            service_hash: None,
            service_deployment: None,
            user_tags: Tags::new(),
        },
        (None, None) => {
            return Err(Unresolved::Invalid(
                "set exactly one of serviceRef and taskDefinition".into(),
            ))
        }
    };
    let td = &mut target.task_definition;
    let container = match &spec.container {
        Some(c) => {
            if !td.containers.iter().any(|x| &x.name == c) {
                return Err(Unresolved::Invalid(format!(
                    "spec.container {c:?} is not a container of the task definition"
                )));
            }
            c.clone()
        }
        None => td
            .first_essential()
            .or(td.containers.first())
            .map(|c| c.name.clone())
            .ok_or_else(|| Unresolved::Invalid("the task definition has no container".into()))?,
    };
    if let Some(image) = &spec.image {
        // RunTask overrides cannot change an image: a derived revision is
        // registered (and reused by its hash tag) instead.
        for c in td.containers.iter_mut().filter(|c| c.name == container) {
            c.image = image.clone();
        }
        target.arn = None;
    }
    // The family is berth's choice, not the borrowed spec's.
    target.task_definition.family = None;
    target.container = container;
    Ok(target)
}

/// What runs with `serviceRef`: the EcsService `service_name`'s revision,
/// once it has one (and, for the hooks, once the rollout is where the hook
/// runs).
fn borrowed(
    job: &MigrationJob,
    service_name: &str,
    service: Option<&EcsService>,
) -> Result<RunTarget, Unresolved> {
    let spec = &job.spec;
    let Some(svc) = service else {
        return Err(Unresolved::WaitingForService(format!(
            "EcsService {service_name:?} (spec.serviceRef) does not exist"
        )));
    };
    let status = svc.status.clone().unwrap_or_default();
    let (Some(arn), Some(hash)) = (status.task_definition_arn, status.spec_hash) else {
        return Err(Unresolved::WaitingForService(format!(
            "EcsService {service_name:?} has not registered a task definition yet"
        )));
    };
    if spec.hook == Hook::PostRollout && !conditions::is_true(&status.conditions, READY) {
        return Err(Unresolved::WaitingForRollout(format!(
            "waiting for EcsService {service_name:?} to finish rolling out revision {}",
            status.revision.unwrap_or_default()
        )));
    }
    let mut service_deployment = None;
    if spec.hook == Hook::PostTestTraffic {
        let paused = status
            .rollout
            .as_ref()
            .and_then(|r| r.service_deployment.as_ref())
            .filter(|d| d.awaiting_hook.is_some() && d.arn.is_some());
        let Some(d) = paused else {
            return Err(Unresolved::WaitingForRollout(format!(
                "waiting for a deployment of EcsService {service_name:?} to pause after test traffic \
                 (strategy BLUE_GREEN, LINEAR or CANARY)"
            )));
        };
        service_deployment = d.arn.clone();
    }
    let s = &svc.spec;
    let name = job.metadata.name.clone().unwrap_or_default();
    Ok(RunTarget {
        task_definition: s.task_definition.clone(),
        cluster: s.cluster.clone(),
        network: s.network_configuration.clone(),
        launch_type: s.launch_type,
        capacity: s.capacity_provider_strategy.clone(),
        platform_version: s.platform_version.clone(),
        arn: Some(arn),
        family: derived_family(&svc.family(), &name),
        container: String::new(),
        service_hash: Some(hash),
        service_deployment,
        user_tags: s.tags.clone(),
    })
}

/// Which run: a new hash starts over from attempt 1.
pub fn which_run(job: &MigrationJob, owner: &str, target: &RunTarget) -> String {
    // A PostTestTraffic run is one per paused deployment.
    let key = match &target.service_deployment {
        Some(d) => Some(format!(
            "{}@{d}",
            target.service_hash.as_deref().unwrap_or_default()
        )),
        None => target.service_hash.clone(),
    };
    run_hash(job, owner, key.as_deref())
}

/// The variables `databaseRef` injects, from the AuroraCluster's spec and
/// status; `Err` says why there is nothing to inject yet.
pub fn database_vars(db: &AuroraCluster) -> Result<Vec<EnvVar>, String> {
    let name = db.metadata.name.clone().unwrap_or_default();
    let st = db.status.clone().unwrap_or_default();
    if !conditions::is_true(&st.conditions, READY) {
        return Err(format!(
            "AuroraCluster {name:?} (spec.databaseRef) is not Ready"
        ));
    }
    // The proxy pools connections and survives failovers: preferred.
    let Some(host) = st.proxy_endpoint.or(st.endpoint) else {
        return Err(format!("AuroraCluster {name:?} has no endpoint yet"));
    };
    let port = st.port.unwrap_or(db.spec.engine.default_port());
    let var = |name: &str, value: String| EnvVar {
        name: name.to_string(),
        value,
    };
    Ok(vec![
        var("DB_HOST", host),
        var("DB_PORT", port.to_string()),
        var("DB_NAME", db.spec.database_name.clone().unwrap_or_default()),
        var("DB_USER", db.spec.master_username.clone()),
        var("DB_USE_IAM_AUTH", db.spec.iam_authentication.to_string()),
    ])
}
