//! Two tenants of one berth (every namespace watched) naming the same ECS
//! service in a shared cluster: the service belongs to the object berth's
//! tags name while that object exists. A second namespace is refused
//! (`Conflict`, naming the owner), even with `spec.adopt: true`, and berth
//! neither registers, updates, retags nor deletes anything for it; once the
//! owner is deleted with `deletionPolicy: Retain`, `adopt: true` moves the
//! service to the second namespace.

use std::time::Duration;

use berth::api::EcsService;
use berth_e2e::examples::{degraded, degraded_message, fargate_service, ready_on};
use berth_e2e::{Env, Options};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(120);
const OWNER_TAG: &str = "berth.dev/owner";

/// EcsService `name` for the ECS service `web` of cluster `shop`, with its
/// own family `name`, running nginx `version`.
fn web(name: &str, version: &str, extra: &str) -> String {
    fargate_service(name, "shop")
        .replace(
            "  cluster: shop\n",
            &format!("  cluster: shop\n  serviceName: web\n{extra}"),
        )
        .replace("nginx:1.27", &format!("nginx:{version}"))
}

/// berth's calls of `action` whose request field `key` is `value`.
fn calls(env: &Env, action: &str, key: &str, value: &str) -> usize {
    env.berth_call_log()
        .iter()
        .filter(|c| c["action"] == action && c["params"][key] == value)
        .count()
}

/// berth's calls that change or delete anything, by action.
fn mutations(env: &Env) -> Vec<(String, usize)> {
    [
        ("UpdateService", "service", "web"),
        ("DeleteService", "service", "web"),
        ("CreateService", "serviceName", "web"),
        ("RegisterTaskDefinition", "family", "web-b"),
        ("RegisterTaskDefinition", "family", "web"),
        ("DeregisterTaskDefinition", "", ""),
    ]
    .iter()
    .map(|(action, key, value)| {
        let n = if key.is_empty() {
            env.berth_calls("ecs", action) as usize
        } else {
            calls(env, action, key, value)
        };
        (format!("{action} {value}"), n)
    })
    .chain(std::iter::once((
        "TagResource".to_string(),
        env.berth_calls("ecs", "TagResource") as usize,
    )))
    .collect()
}

fn tag(svc: &aws_sdk_ecs::types::Service, key: &str) -> Option<String> {
    svc.tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value().map(str::to_string))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_namespaces_service_is_never_changed_until_its_owner_is_gone() {
    let mut env = Env::with_options(
        "tenancy-svc",
        Options {
            all_namespaces: true,
            ..Options::default()
        },
    )
    .await;
    let team_a = env.home.clone();
    let owner_a = format!("{team_a}/web");

    // Team A's service, Ready.
    let a = env.deploy(&web("web", "1.27", ""), "web", 1, TIMEOUT).await;
    let a_revision = a.status.unwrap().task_definition_arn.unwrap();
    let before = env.ecs_service_with_tags("web").await;
    assert_eq!(before.task_definition(), Some(a_revision.as_str()));
    assert_eq!(tag(&before, OWNER_TAG).as_deref(), Some(owner_a.as_str()));
    let quiet = mutations(&env);

    // Team B names the same service: refused, naming A's object.
    let team_b = env.create_namespace("b").await;
    env.use_namespace(&team_b);
    env.apply_yaml(&web("web-b", "1.28", "")).await.unwrap();
    let b = env
        .wait_degraded::<EcsService>("web-b", "Conflict", TIMEOUT)
        .await;
    let message = degraded_message(&b);
    assert!(
        message.contains(&format!("belongs to EcsService {owner_a}")),
        "{message}"
    );
    // Team B also cannot register into A's task definition family.
    env.apply_yaml(&fargate_service("web-c", "shop").replace("family: web-c", "family: web"))
        .await
        .unwrap();
    let c = env
        .wait_degraded::<EcsService>("web-c", "Conflict", TIMEOUT)
        .await;
    let message = degraded_message(&c);
    assert!(
        message.contains("task definition family web")
            && message.contains(&format!("belongs to EcsService {owner_a}")),
        "{message}"
    );
    assert_eq!(mutations(&env), quiet, "nothing changed for team B");

    // adopt: true does not take another existing object's service.
    let (started, _) = env.reconciles("EcsService", "web-b").await;
    env.merge_patch::<EcsService>("web-b", json!({"spec": {"adopt": true}}))
        .await;
    env.wait_reconciled_since("EcsService", "web-b", started, TIMEOUT)
        .await;
    let b = env
        .wait_for(
            "web-b",
            "still Degraded/Conflict",
            TIMEOUT,
            degraded("Conflict"),
        )
        .await;
    assert!(degraded_message(&b).contains(&owner_a));
    assert_eq!(mutations(&env), quiet, "adopt changed nothing either");
    let after = env.ecs_service_with_tags("web").await;
    assert_eq!(after.task_definition(), Some(a_revision.as_str()));
    assert_eq!(tag(&after, OWNER_TAG).as_deref(), Some(owner_a.as_str()));

    // Deleting team B's objects leaves A's service as it was.
    env.delete_and_wait::<EcsService>("web-b", TIMEOUT).await;
    env.delete_and_wait::<EcsService>("web-c", TIMEOUT).await;
    assert_eq!(mutations(&env), quiet, "deleting B deleted nothing of A's");
    let after = env.ecs_service_with_tags("web").await;
    assert_eq!(after.status(), Some("ACTIVE"));
    assert_eq!(after.task_definition(), Some(a_revision.as_str()));
    let events = env.events_for("web-b").await;
    assert!(
        events
            .iter()
            .any(|e| e.contains("NotOwned") && e.contains(&owner_a)),
        "{events:#?}"
    );

    // Team B asks again, with adopt: true from the start: still refused.
    env.apply_yaml(&web("web-b", "1.28", "  adopt: true\n"))
        .await
        .unwrap();
    env.wait_degraded::<EcsService>("web-b", "Conflict", TIMEOUT)
        .await;
    assert_eq!(
        mutations(&env),
        quiet,
        "adopt from the start changed nothing"
    );

    // Team A lets go of the service (Retain); team B's next reconcile (a
    // refresh here, else the resync) adopts it.
    env.use_namespace(&team_a);
    env.merge_patch::<EcsService>("web", json!({"spec": {"deletionPolicy": "Retain"}}))
        .await;
    env.delete_and_wait::<EcsService>("web", TIMEOUT).await;
    assert_eq!(
        env.ecs_service_with_tags("web").await.status(),
        Some("ACTIVE")
    );
    env.use_namespace(&team_b);
    env.annotate::<EcsService>(
        "web-b",
        "berth.dev/refresh",
        serde_json::json!("owner-gone"),
    )
    .await;
    let b = env
        .wait_for("web-b", "Ready on B's revision 1", TIMEOUT, ready_on(1))
        .await;
    let b_revision = b.status.unwrap().task_definition_arn.unwrap();
    assert!(
        b_revision.contains("task-definition/web-b:"),
        "{b_revision}"
    );
    let adopted = env.ecs_service_with_tags("web").await;
    assert_eq!(adopted.task_definition(), Some(b_revision.as_str()));
    assert_eq!(
        tag(&adopted, OWNER_TAG).as_deref(),
        Some(format!("{team_b}/web-b").as_str())
    );
    let ecs = aws_sdk_ecs::Client::new(&env.aws().await);
    let td = ecs
        .describe_task_definition()
        .task_definition(&b_revision)
        .send()
        .await
        .unwrap();
    let image = td.task_definition().unwrap().container_definitions()[0]
        .image()
        .unwrap_or_default()
        .to_string();
    assert!(image.ends_with("nginx:1.28"), "{image}");
}
