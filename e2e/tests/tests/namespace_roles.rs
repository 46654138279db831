//! Which AWS identity a namespace acts with is the platform team's
//! decision: with `--require-namespace-role` a namespace without its own
//! role (`berth.dev/aws-role-arn`) makes berth call nothing, and a
//! namespace's `berth.dev/allowed-role-arns` bounds the roles its objects
//! may hand to AWS, before any call.

use std::time::Duration;

use berth::api::conditions::{is_true, READY};
use berth::api::migration_job::{MigrationJob, Phase};
use berth::api::EcsService;
use berth_e2e::examples::{degraded, degraded_message, fargate_service, inline_job};
use berth_e2e::{condition, Env, Options};

const TIMEOUT: Duration = Duration::from_secs(90);
const ROLE: &str = "arn:aws:iam::123456789012:role/berth-namespaces/shop";

/// Every call awsim answered, from anyone.
fn all_calls(env: &Env) -> Vec<String> {
    env.awsim
        .call_log(None)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{}:{}", c["service"], c["action"]))
        .collect()
}

fn requiring_namespace_roles() -> Options {
    Options {
        berth_env: vec![("BERTH_REQUIRE_NAMESPACE_ROLE".into(), "true".into())],
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_without_its_role_makes_no_aws_call() {
    let env = Env::with_options("ns-role", requiring_namespace_roles()).await;
    env.apply_yaml(&fargate_service("api", "shop"))
        .await
        .unwrap();

    // The condition is the evidence berth looked; then nothing reached AWS.
    let svc: EcsService = env
        .wait_for(
            "api",
            "Degraded NamespaceRoleRequired",
            TIMEOUT,
            degraded("NamespaceRoleRequired"),
        )
        .await;
    let message = degraded_message(&svc);
    assert!(
        message.contains(&format!(
            "namespace {} has no berth.dev/aws-role-arn annotation",
            env.ns
        )) && message.contains("--require-namespace-role")
            && message.contains("platform team must annotate the namespace"),
        "{message}"
    );
    assert!(!is_true(&svc.status.unwrap().conditions, READY));
    assert_eq!(all_calls(&env), Vec::<String>::new());

    // A resync or a refresh looks again, and still calls nothing.
    env.refresh_and_wait::<EcsService>("api", TIMEOUT).await;
    assert_eq!(all_calls(&env), Vec::<String>::new());

    // Deleting it never waits for a role: the finalizer goes, with a
    // Warning saying what stays in AWS, and still no call.
    env.delete_and_wait::<EcsService>("api", TIMEOUT).await;
    let events = env.events_for("api").await;
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("Warning NamespaceRoleRequired:")
                && e.contains("ECS service api in cluster shop")
                && e.contains("stay in AWS")),
        "{events:?}"
    );
    assert_eq!(all_calls(&env), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_with_its_role_acts_as_that_role() {
    let env = Env::with_annotated_namespace(
        "ns-role-ok",
        requiring_namespace_roles(),
        serde_json::json!({"berth.dev/aws-role-arn": ROLE}),
    )
    .await;
    env.apply_yaml(&fargate_service("api", "shop"))
        .await
        .unwrap();
    env.wait_ready::<EcsService>("api", TIMEOUT).await;
    let assumed: Vec<String> = env.assumed_roles();
    assert!(!assumed.is_empty(), "no AssumeRole: {:?}", all_calls(&env));
    assert!(assumed.iter().all(|r| r == ROLE), "{assumed:?}");
}

/// A standalone job whose task runs as `task_role`.
fn job(name: &str, task_role: &str) -> String {
    inline_job(name, "shop/migrate:1.0", "").replace(
        "    executionRoleArn:",
        &format!("    taskRoleArn: {task_role}\n    executionRoleArn:"),
    )
}

fn job_degraded(reason: &'static str) -> impl Fn(&MigrationJob) -> bool {
    move |j: &MigrationJob| {
        j.status.as_ref().is_some_and(|s| {
            condition(&s.conditions, "Degraded").is_some_and(|c| c.0 == "True" && c.1 == reason)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_list_bounds_the_roles_a_job_may_pass() {
    // Both of the job's roles must match (the execution role is
    // shop-migrate-execution in the example).
    let env = Env::with_annotated_namespace(
        "ns-allow",
        Options::default(),
        serde_json::json!({"berth.dev/allowed-role-arns":
            "arn:aws:iam::123456789012:role/shop-migrate-*, arn:aws:iam::123456789012:role/shop-api-?ask"}),
    )
    .await;

    env.apply_yaml(&job("outside", "arn:aws:iam::123456789012:role/admin"))
        .await
        .unwrap();
    let refused: MigrationJob = env
        .wait_degraded::<MigrationJob>("outside", "InvalidSpec", TIMEOUT)
        .await;
    let status = refused.status.unwrap();
    let message = condition(&status.conditions, "Degraded").unwrap().2;
    assert!(
        message.starts_with("spec.taskDefinition.taskRoleArn: role arn:aws:iam::123456789012:role/admin is not one namespace")
            && message.contains("berth.dev/allowed-role-arns"),
        "{message}"
    );
    assert!(
        !message.contains("executionRoleArn"),
        "the allowed execution role is not named: {message}"
    );
    assert_eq!(status.task_arn, None);
    assert_eq!(all_calls(&env), Vec::<String>::new());

    let inside: MigrationJob = env
        .run_job(
            &job("inside", "arn:aws:iam::123456789012:role/shop-migrate-task"),
            "inside",
            Phase::Succeeded,
            TIMEOUT,
        )
        .await;
    // The task ran as the allowed role.
    let ecs = aws_sdk_ecs::Client::new(&env.aws().await);
    let task_arn = inside.status.unwrap().task_arn.unwrap();
    let tasks = ecs
        .describe_tasks()
        .cluster("shop")
        .tasks(&task_arn)
        .send()
        .await
        .unwrap();
    let definition = tasks.tasks()[0].task_definition_arn().unwrap().to_string();
    let td = ecs
        .describe_task_definition()
        .task_definition(&definition)
        .send()
        .await
        .unwrap();
    assert_eq!(
        td.task_definition().unwrap().task_role_arn(),
        Some("arn:aws:iam::123456789012:role/shop-migrate-task")
    );
    // The refused job is still refused, and never ran.
    let outside: MigrationJob = env.api().get("outside").await.unwrap();
    assert!(job_degraded("InvalidSpec")(&outside));
    assert_eq!(outside.status.unwrap().task_arn, None);
}
