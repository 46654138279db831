//! PullThroughCache against awsim's ECR: the example becomes Ready, an
//! invalid spec makes no ECR call, the incident's causes (per-repository
//! rules, a creation template, a hand-made repository) are named in
//! status, deletion follows deletionPolicy, a lost create response
//! creates the rule once, and a release whose images cannot be pulled is
//! Degraded on its MigrationJob and EcsService until the rule is back.

use std::time::Duration;

use berth::api::conditions::{is_true, DEGRADED, PROGRESSING, READY};
use berth::api::PullThroughCache;
use berth_e2e::conditions::{message_of, true_because, Conditioned};
use berth_e2e::ecr_state::{assert_rule_newer_than, ecr, hand_made_rule, hand_made_template, CRED};
use berth_e2e::examples::file;
use berth_e2e::{condition, Env};

const TIMEOUT: Duration = Duration::from_secs(90);

fn ready_because(reason: &'static str) -> impl Fn(&PullThroughCache) -> bool {
    true_because(READY, reason)
}

/// Applies the example cache and waits until it is Ready because of `reason`.
async fn example_ready_because(env: &Env, reason: &'static str) -> PullThroughCache {
    env.apply_yaml(&file("pull-through-cache.yaml"))
        .await
        .unwrap();
    env.wait_for(
        "docker-hub",
        &format!("Ready ({reason})"),
        TIMEOUT,
        ready_because(reason),
    )
    .await
}

/// Removes what was made by hand: the rule for `prefix`, the creation
/// template, and repository `repository` (with its images when `force`).
async fn remove_hand_made(ecr: &aws_sdk_ecr::Client, prefix: &str, repository: &str, force: bool) {
    ecr.delete_pull_through_cache_rule()
        .ecr_repository_prefix(prefix)
        .send()
        .await
        .unwrap();
    ecr.delete_repository_creation_template()
        .prefix("docker-hub")
        .send()
        .await
        .unwrap();
    ecr.delete_repository()
        .repository_name(repository)
        .set_force(force.then_some(true))
        .send()
        .await
        .unwrap();
}

async fn rule_prefixes(env: &Env) -> Vec<String> {
    env.pull_through_cache_rules()
        .await
        .into_iter()
        .map(|(prefix, _)| prefix)
        .collect()
}

fn quay(name: &str, policy: &str) -> String {
    format!(
        "apiVersion: berth.dev/v1alpha1\nkind: PullThroughCache\nmetadata:\n  name: {name}\nspec:\n  ecrRepositoryPrefix: {name}\n  upstreamRegistry: quay\n  deletionPolicy: {policy}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_becomes_ready_with_its_columns() {
    let env = Env::new("ptc-example").await;
    let p = example_ready_because(&env, "RuleReady").await;
    let status = p.status.unwrap();
    assert_eq!(status.valid, Some(true));
    assert_eq!(status.registry_id.as_deref(), Some("123456789012"));
    assert_eq!(rule_prefixes(&env).await, ["docker-hub"]);
    assert_eq!(env.berth_calls("ecr", "CreatePullThroughCacheRule"), 1);

    let out = env.kubectl(&["get", "ptc"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let header: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header[..4],
        ["NAME", "READY", "PREFIX", "UPSTREAM"],
        "{text}"
    );
    let row: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        row[..4],
        ["docker-hub", "True", "docker-hub", "docker-hub"],
        "{text}"
    );

    // Paused: Paused on every condition (Degraded too, not AsExpected);
    // the rule exists, so Ready stays True.
    let p: PullThroughCache = env.pause("docker-hub", true, false, TIMEOUT).await;
    let message = message_of(&p, "Degraded");
    assert!(
        message.contains("rule for prefix docker-hub is left as it is"),
        "{message}"
    );
    assert_eq!(env.berth_calls("ecr", "CreatePullThroughCacheRule"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_hub_without_a_credential_is_invalid_and_calls_no_ecr() {
    let env = Env::new("ptc-invalid").await;
    env.apply_yaml(
        &file("pull-through-cache.yaml").replace(&format!("  credentialArn: {CRED}\n"), ""),
    )
    .await
    .unwrap();
    let p = env
        .wait_degraded::<PullThroughCache>("docker-hub", "InvalidSpec", TIMEOUT)
        .await;
    let (_, _, message) = condition(&p.status.unwrap().conditions, "Degraded").unwrap();
    assert!(message.contains("spec.credentialArn"), "{message}");
    let calls = env.awsim.calls(Some("berth"));
    assert!(
        calls["byService"]["ecr"]
            .as_object()
            .is_none_or(|m| m.is_empty()),
        "berth called ECR: {}",
        calls["byService"]["ecr"]
    );
    assert!(env
        .events_for("docker-hub")
        .await
        .iter()
        .any(|e| e.contains("InvalidSpec")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incident_is_named_in_status() {
    let env = Env::new("ptc-incident").await;
    let ecr = ecr(&env).await;
    // What the team had made by hand before the fix.
    ecr.create_repository()
        .repository_name("docker-hub/tonys-chips/web")
        .send()
        .await
        .unwrap();
    hand_made_rule(&ecr, "docker-hub/tonys-chips/api").await;
    hand_made_template(&ecr).await;

    let p = example_ready_because(&env, "PrefixOverlap").await;
    let status = p.status.unwrap();
    let (_, _, message) = condition(&status.conditions, READY).unwrap();
    for cause in [
        "docker-hub/tonys-chips/api",
        "repository creation templates",
        "docker-hub/tonys-chips/web",
    ] {
        assert!(message.contains(cause), "{cause} not in {message}");
    }
    assert_eq!(
        status.conflicts,
        ["rule/docker-hub/tonys-chips/api", "template/docker-hub"]
    );
    let events = env.events_for("docker-hub").await;
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("Warning PrefixOverlap")),
        "{events:?}"
    );

    // The fix: one prefix rule, no templates, no hand-made repositories.
    remove_hand_made(
        &ecr,
        "docker-hub/tonys-chips/api",
        "docker-hub/tonys-chips/web",
        false,
    )
    .await;
    env.refresh_and_wait::<PullThroughCache>("docker-hub", TIMEOUT)
        .await;
    env.wait_for(
        "docker-hub",
        "Ready (RuleReady)",
        TIMEOUT,
        ready_because("RuleReady"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_follows_the_deletion_policy() {
    let env = Env::new("ptc-delete").await;
    env.apply_yaml(&quay("quay", "Delete")).await.unwrap();
    env.apply_yaml(&quay("kept", "Retain")).await.unwrap();
    for name in ["quay", "kept"] {
        env.wait_for(name, "Ready", TIMEOUT, ready_because("RuleReady"))
            .await;
    }
    let mut prefixes = rule_prefixes(&env).await;
    prefixes.sort();
    assert_eq!(prefixes, ["kept", "quay"]);
    env.delete_and_wait::<PullThroughCache>("quay", TIMEOUT)
        .await;
    env.delete_and_wait::<PullThroughCache>("kept", TIMEOUT)
        .await;
    assert_eq!(rule_prefixes(&env).await, ["kept"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_create_response_creates_the_rule_once() {
    let env = Env::new("ptc-lost").await;
    env.awsim
        .lose_responses("ecr:CreatePullThroughCacheRule", 1);
    example_ready_because(&env, "RuleReady").await;
    assert_eq!(env.berth_calls("ecr", "CreatePullThroughCacheRule"), 1);
    assert_eq!(rule_prefixes(&env).await, ["docker-hub"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_service_pulls_through_the_cache_once_the_rule_exists() {
    use berth::api::EcsService;
    let env = Env::new("ptc-web").await;
    env.apply_yaml(&file("web.yaml")).await.unwrap();
    // Without a rule nothing serves docker-hub/...: the circuit breaker
    // fails the first rollout, and the failure says there is no rule.
    let s = env
        .wait_for(
            "web",
            "RolloutFailed naming the missing rule",
            TIMEOUT,
            |s: &EcsService| {
                berth_e2e::examples::degraded("RolloutFailed")(s)
                    && any_message(s, "CannotPullContainerError")
                    && any_message(
                        s,
                        "no PullThroughCache covers repository docker-hub/library/nginx",
                    )
            },
        )
        .await;
    let generation = s.metadata.generation;
    assert!(env.rollout_retries().is_empty());

    // ECS never retries a FAILED deployment: once a rule serves the
    // repository, berth retries the rollout once by itself, with no spec
    // edit and no refresh.
    env.apply_yaml(&file("pull-through-cache.yaml"))
        .await
        .unwrap();
    let s = env.wait_ready_on("web", 1, Duration::from_secs(150)).await;
    assert_eq!(s.metadata.generation, generation);
    assert!(!s
        .metadata
        .annotations
        .unwrap_or_default()
        .contains_key("berth.dev/refresh"));
    let retried = env.rollout_retries();
    assert_eq!(retried.len(), 1, "{retried:?}");
    assert!(
        retried[0].ends_with("task-definition/shop-web:1"),
        "{retried:?}"
    );
    let rollout = s.status.unwrap().rollout.unwrap();
    assert!(
        rollout
            .retried_for
            .as_deref()
            .is_some_and(|r| r
                .starts_with("PullThroughCache docker-hub serves docker-hub/library/nginx at ")),
        "{rollout:?}"
    );
    let events = env.events_for("web").await;
    assert!(
        events
            .iter()
            .any(|e| e.contains("RolloutRetried") && e.contains("PullThroughCache docker-hub")),
        "{events:?}"
    );
    let repos = ecr(&env)
        .await
        .describe_repositories()
        .send()
        .await
        .unwrap();
    assert!(repos
        .repositories()
        .iter()
        .any(|r| r.repository_name() == Some("docker-hub/library/nginx")));
}

/// `web` without the circuit breaker: ECS keeps replacing tasks that fail
/// to start, as it does for a service whose breaker is off.
fn web_retrying() -> String {
    file("web.yaml").replace(
        "    maximumPercent: 200\n",
        "    maximumPercent: 200\n    circuitBreaker: {enable: false, rollback: false}\n",
    )
}

fn any_message(s: &berth::api::EcsService, needle: &str) -> bool {
    s.status
        .as_ref()
        .is_some_and(|st| st.conditions.iter().any(|c| c.message.contains(needle)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incident_replayed_the_service_recovers_without_a_spec_change() {
    use berth::api::EcsService;
    let env = Env::new("ptc-replay").await;
    let ecr = ecr(&env).await;
    // What the team made by hand: a per-repository rule, a creation
    // template, and the repository itself.
    hand_made_rule(&ecr, "docker-hub/library/nginx").await;
    hand_made_template(&ecr).await;
    ecr.create_repository()
        .repository_name("docker-hub/library/nginx")
        .send()
        .await
        .unwrap();

    env.apply_yaml(&web_retrying()).await.unwrap();
    // No PullThroughCache object: the failed pull says so, on Degraded
    // (a person must act) while ECS keeps trying (Progressing).
    let s = env
        .wait_for(
            "web",
            "a failed pull naming the missing rule",
            TIMEOUT,
            |s: &EcsService| {
                true_because(DEGRADED, "TasksFailing")(s)
                    && message_of(s, DEGRADED).contains("CannotPullContainerError")
                    && any_message(
                        s,
                        "no PullThroughCache covers repository docker-hub/library/nginx",
                    )
            },
        )
        .await;
    assert!(true_because(PROGRESSING, "RollingOut")(&s), "{s:?}");
    assert_eq!(s.status.unwrap().pull_through_cache, None);
    let generation = s.metadata.generation;

    // One prefix rule: Ready, but it names the causes, and so does the service.
    example_ready_because(&env, "PrefixOverlap").await;
    let s = env
        .wait_for(
            "web",
            "the causes named in status",
            TIMEOUT,
            |s: &EcsService| {
                s.status
                    .as_ref()
                    .is_some_and(|st| st.pull_through_cache.as_deref() == Some("docker-hub"))
                    && any_message(s, "CannotPullContainerError")
                    && any_message(s, "warns PrefixOverlap")
            },
        )
        .await;
    let message = s
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.message.contains("warns PrefixOverlap"))
        .unwrap()
        .message
        .clone();
    for cause in [
        "rule docker-hub/library/nginx",
        "template docker-hub",
        "repository docker-hub/library/nginx",
    ] {
        assert!(message.contains(cause), "{cause} not in {message}");
    }

    // Remove the causes; the spec is not touched.
    remove_hand_made(
        &ecr,
        "docker-hub/library/nginx",
        "docker-hub/library/nginx",
        true,
    )
    .await;
    let s = env.wait_ready_on("web", 1, Duration::from_secs(180)).await;
    assert_eq!(s.metadata.generation, generation);
    assert_eq!(
        s.status.unwrap().pull_through_cache.as_deref(),
        Some("docker-hub")
    );
}

const WEB_MIGRATE: &str = "apiVersion: berth.dev/v1alpha1
kind: MigrationJob
metadata:
  name: web-migrate
spec:
  serviceRef:
    name: web
  hook: PreRollout
  command: [\"migrate\"]
  backoffLimit: 0
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_without_the_rule_is_degraded_and_rolls_out_once_it_is_back() {
    use berth::api::migration_job::Phase;
    use berth::api::{EcsService, MigrationJob};
    let env = Env::new("ptc-release").await;
    example_ready_because(&env, "RuleReady").await;
    env.apply_yaml(WEB_MIGRATE).await.unwrap();
    env.apply_yaml(&web_retrying()).await.unwrap();
    env.wait_ready_on("web", 1, Duration::from_secs(150)).await;
    let job = env
        .wait_for(
            "web-migrate",
            "named the cache",
            TIMEOUT,
            |j: &MigrationJob| {
                j.status
                    .as_ref()
                    .is_some_and(|s| s.pull_through_cache.as_deref() == Some("docker-hub"))
            },
        )
        .await;
    let job_generation = job.metadata.generation;

    // The rule goes; a new image is released.
    env.delete_and_wait::<PullThroughCache>("docker-hub", TIMEOUT)
        .await;
    assert!(rule_prefixes(&env).await.is_empty());
    env.apply_yaml(&web_retrying().replace("nginx:1.27", "nginx:1.28"))
        .await
        .unwrap();
    // Two failed starts in a row for one cause: the job needs a person
    // (Degraded) while it keeps retrying (Progressing), and says why.
    let job: MigrationJob = env
        .wait_for(
            "web-migrate",
            "Degraded: its task cannot start",
            TIMEOUT,
            true_because(DEGRADED, "TaskCannotStart"),
        )
        .await;
    let status = job.status.as_ref().unwrap();
    assert_ne!(status.phase, Some(Phase::Failed));
    let runs = run_tasks_of(&env, status.run_hash.as_deref().unwrap());
    assert_eq!(
        (status.start_failures.len(), runs),
        (2, 2),
        "Degraded within two failed starts"
    );
    let degraded = message_of(&job, DEGRADED);
    assert!(
        degraded.contains("CannotPullContainerError")
            && degraded.contains("no PullThroughCache covers"),
        "{degraded}"
    );
    assert!(true_because(PROGRESSING, "Retrying")(&job), "{job:?}");
    let web: EcsService = env
        .wait_for(
            "web",
            "Degraded: its migration cannot start",
            TIMEOUT,
            true_because(DEGRADED, "MigrationCannotStart"),
        )
        .await;
    let degraded = message_of(&web, DEGRADED);
    assert!(
        degraded.contains("CannotPullContainerError") && degraded.contains("web-migrate"),
        "{degraded}"
    );
    assert!(
        true_because(PROGRESSING, "WaitingForMigrations")(&web),
        "{web:?}"
    );
    let web_generation = web.metadata.generation;
    let serving = env.ecs_service("shop-web").await;
    let td = serving.task_definition().unwrap().to_string();
    assert!(td.ends_with(":1"), "the service left revision 1: {td}");

    // The rule is back: the migration retries by itself and the service rolls out.
    env.apply_yaml(&file("pull-through-cache.yaml"))
        .await
        .unwrap();
    env.wait_ready_on("web", 2, Duration::from_secs(240)).await;
    let job = env
        .wait_phase("web-migrate", Phase::Succeeded, TIMEOUT)
        .await;
    assert_eq!(job.metadata.generation, job_generation);
    assert!(!job
        .metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .contains_key("berth.dev/refresh"));
    let web: EcsService = env.api().get("web").await.unwrap();
    assert_eq!(web.metadata.generation, web_generation);
    // Nothing needs a person any more, on either object.
    assert!(true_because(READY, "RolloutComplete")(&web), "{web:?}");
    assert!(!is_true(web.conditions(), DEGRADED), "{web:?}");
    assert!(!is_true(job.conditions(), DEGRADED), "{job:?}");
}

/// berth's RunTask calls for the MigrationJob run `run_hash` (awsim's log).
fn run_tasks_of(env: &Env, run_hash: &str) -> usize {
    let started_by = berth::aws::ecs::tasks::started_by(run_hash);
    env.berth_call_log()
        .iter()
        .filter(|c| c["action"] == "RunTask" && c["params"]["startedBy"] == started_by.as_str())
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_elses_rule_is_taken_over_only_with_adopt() {
    let env = Env::new("ptc-adopt").await;
    // A rule made by hand, with another credential than the spec's.
    let other_credential = aws_sdk_secretsmanager::Client::new(&env.aws().await)
        .create_secret()
        .name("ecr-pullthroughcache/docker-hub-by-hand")
        .secret_string(r#"{"username":"u","accessToken":"t"}"#)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    ecr(&env)
        .await
        .create_pull_through_cache_rule()
        .ecr_repository_prefix("docker-hub")
        .upstream_registry_url("registry-1.docker.io")
        .upstream_registry(aws_sdk_ecr::types::UpstreamRegistry::DockerHub)
        .credential_arn(&other_credential)
        .send()
        .await
        .unwrap();
    env.apply_yaml(&file("pull-through-cache.yaml"))
        .await
        .unwrap();
    let p = env
        .wait_degraded::<PullThroughCache>("docker-hub", "AdoptionRequired", TIMEOUT)
        .await;
    let message = condition(&p.status.unwrap().conditions, "Degraded")
        .unwrap()
        .2;
    assert!(message.contains("spec.adopt"), "{message}");

    env.merge_patch::<PullThroughCache>("docker-hub", serde_json::json!({"spec": {"adopt": true}}))
        .await;
    env.wait_for("docker-hub", "Ready", TIMEOUT, ready_because("RuleReady"))
        .await;
    // Taken over and brought to the spec in place, not re-created.
    assert_eq!(env.berth_calls("ecr", "CreatePullThroughCacheRule"), 0);
    assert_eq!(env.berth_calls("ecr", "UpdatePullThroughCacheRule"), 1);
    assert_eq!(rule_prefixes(&env).await, vec!["docker-hub".to_string()]);
}

fn cache(prefix: &str, upstream: &str, extra: &str) -> String {
    format!(
        "apiVersion: berth.dev/v1alpha1\nkind: PullThroughCache\nmetadata:\n  name: cache\nspec:\n  ecrRepositoryPrefix: {prefix}\n  upstreamRegistry: {upstream}\n{extra}"
    )
}

/// Create, Update and Delete calls of pull-through cache rules by berth.
fn rule_mutations(env: &Env) -> [u64; 3] {
    ["Create", "Update", "Delete"]
        .map(|a| env.berth_calls("ecr", &format!("{a}PullThroughCacheRule")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_immutable_change_is_refused_unless_the_rule_may_be_replaced() {
    use berth::api::migration_job::Phase;
    let env = Env::new("ptc-replace").await;
    const FLAG: &str = "  replaceOnImmutableChange: true\n";
    env.apply_yaml(&cache("quay", "quay", "")).await.unwrap();
    env.wait_for("cache", "Ready", TIMEOUT, ready_because("RuleReady"))
        .await;
    // A first pull: the cache creates the repository.
    let image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/quay/org/app:1";
    env.run_job(
        &berth_e2e::examples::inline_job("pull", image, ""),
        "pull",
        Phase::Succeeded,
        TIMEOUT,
    )
    .await;

    // Another upstream without the flag: refused, and ECR is left alone.
    env.apply_yaml(&cache("quay", "ecr-public", ""))
        .await
        .unwrap();
    let p = env
        .wait_degraded::<PullThroughCache>("cache", "ImmutableFieldChanged", TIMEOUT)
        .await;
    let message = condition(&p.status.unwrap().conditions, "Degraded")
        .unwrap()
        .2;
    assert!(message.contains("replaceOnImmutableChange"), "{message}");
    assert_eq!(rule_mutations(&env), [1, 0, 0]);

    // With the flag the rule is deleted and created again. The repository
    // the first rule's cache created is still the cache's: no
    // UnmanagedRepositories warning although it is older than the rule.
    env.apply_yaml(&cache("quay", "ecr-public", FLAG))
        .await
        .unwrap();
    env.wait_for(
        "cache",
        "Ready (RuleReady) after the replace",
        TIMEOUT,
        ready_because("RuleReady"),
    )
    .await;
    assert_eq!(rule_mutations(&env), [2, 0, 1]);
    let ecr = ecr(&env).await;
    assert_rule_newer_than(&ecr, "public.ecr.aws", "quay/org/app").await;
    let events = env.events_for("cache").await;
    assert!(
        events.iter().any(|e| e.contains("RuleReplaced")),
        "{events:?}"
    );

    // A new prefix with the flag: the old rule goes, the new one exists.
    env.apply_yaml(&cache("mirror", "ecr-public", FLAG))
        .await
        .unwrap();
    env.wait_for(
        "cache",
        "Ready on the new prefix",
        TIMEOUT,
        |p: &PullThroughCache| {
            ready_because("RuleReady")(p)
                && p.status
                    .as_ref()
                    .and_then(|s| s.ecr_repository_prefix.as_deref())
                    == Some("mirror")
        },
    )
    .await;
    assert_eq!(rule_prefixes(&env).await, ["mirror"]);
    assert_eq!(rule_mutations(&env), [3, 0, 2]);
}
