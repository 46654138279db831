//! Helpers the test files share: the example manifests and the
//! predicates tests wait on.

use berth::api::conditions::{is_true, READY};
use berth::api::EcsService;

use super::{condition, workspace_root};

/// `examples/NAME` as text.
pub fn file(name: &str) -> String {
    std::fs::read_to_string(workspace_root().join("examples").join(name)).unwrap()
}

/// The example migration without its database (tests that run no
/// AuroraCluster controller).
pub fn migration() -> String {
    file("api-migrate.yaml").replace("  databaseRef:\n    name: orders-db\n", "")
}

/// Ready, running `revision`.
pub fn ready_on(revision: i64) -> impl Fn(&EcsService) -> bool {
    move |s: &EcsService| {
        s.status
            .as_ref()
            .is_some_and(|st| is_true(&st.conditions, READY) && st.revision == Some(revision))
    }
}

/// `Degraded=True` with `reason`.
pub fn degraded(reason: &'static str) -> impl Fn(&EcsService) -> bool {
    move |s: &EcsService| {
        s.status.as_ref().is_some_and(|st| {
            condition(&st.conditions, "Degraded").is_some_and(|c| c.0 == "True" && c.1 == reason)
        })
    }
}

/// The Degraded condition's message.
pub fn degraded_message(s: &EcsService) -> String {
    condition(&s.status.as_ref().unwrap().conditions, "Degraded")
        .unwrap()
        .2
}

/// A one-task Fargate EcsService `name` (its family too) on `cluster`,
/// running nginx, as a YAML document.
pub fn fargate_service(name: &str, cluster: &str) -> String {
    format!(
        r#"---
apiVersion: berth.dev/v1alpha1
kind: EcsService
metadata:
  name: {name}
spec:
  cluster: {cluster}
  desiredCount: 1
  launchType: FARGATE
  taskDefinition:
    family: {name}
    cpu: 256
    memory: 512
    containers:
      - name: app
        image: public.ecr.aws/nginx/nginx:1.27
  networkConfiguration:
    subnets: [subnet-0a1b2c3d4e5f60001]
"#
    )
}

/// MigrationJob `name` with `spec` (its lines, indented).
fn migration_job(name: &str, spec: &str) -> String {
    format!("apiVersion: berth.dev/v1alpha1\nkind: MigrationJob\nmetadata:\n  name: {name}\nspec:\n{spec}")
}

/// A MigrationJob `name` of the example API (`serviceRef: api`, so its
/// task definition is the service's) running `image`, plus `extra` spec
/// lines (a hook, a command, …).
pub fn service_job(name: &str, image: &str, extra: &str) -> String {
    migration_job(
        name,
        &format!("  serviceRef:\n    name: api\n  image: {image}\n{extra}"),
    )
}

/// A standalone MigrationJob `name` with an inline task definition running
/// `image` (logging to awslogs), plus `extra` spec lines.
pub fn inline_job(name: &str, image: &str, extra: &str) -> String {
    migration_job(
        name,
        &format!(
            r#"  cluster: shop
  launchType: FARGATE
  networkConfiguration:
    subnets: [subnet-0a1b2c3d4e5f60001]
    securityGroups: [sg-0a1b2c3d4e5f60a01]
  taskDefinition:
    cpu: 256
    memory: 512
    executionRoleArn: arn:aws:iam::123456789012:role/shop-migrate-execution
    containers:
      - name: migrate
        image: {image}
        logConfiguration:
          logDriver: awslogs
          options:
            awslogs-group: /shop/migrate
            awslogs-stream-prefix: job
  command: ["./migrate", "up"]
{extra}"#
        ),
    )
}

/// Waits until MigrationJob `name` runs a task; its ARN.
pub async fn running_task(env: &super::Env, name: &str) -> String {
    let job: berth::api::MigrationJob = env
        .wait_for(
            name,
            "Running",
            std::time::Duration::from_secs(90),
            |j: &berth::api::MigrationJob| {
                j.status.as_ref().is_some_and(|s| {
                    s.phase == Some(berth::api::migration_job::Phase::Running)
                        && s.task_arn.is_some()
                })
            },
        )
        .await;
    job.status.unwrap().task_arn.unwrap()
}

/// A small Fargate service `svc-NN` in cluster `shop`: the unit of the
/// scale tests.
pub fn small_service(i: usize) -> String {
    format!(
        r#"apiVersion: berth.dev/v1alpha1
kind: EcsService
metadata:
  name: svc-{i:02}
spec:
  cluster: shop
  desiredCount: 1
  launchType: FARGATE
  taskDefinition:
    family: svc-{i:02}
    cpu: 256
    memory: 512
    containers:
      - name: app
        image: public.ecr.aws/nginx/nginx:1.27
        portMappings: [{{containerPort: 80}}]
  networkConfiguration:
    subnets: [subnet-0a1b2c3d4e5f60001, subnet-0a1b2c3d4e5f60002]
"#
    )
}
