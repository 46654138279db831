//! PullThroughCache warnings that stay true, and a service that recovers
//! when the cache starts serving it: the incident of three per-repository
//! rules, a creation template and a hand-made repository under a prefix,
//! replayed with the team's cleanup (exactly one retry, after it); and a
//! cache deleted with `deletionPolicy: Retain` and created again, which
//! still knows the repositories its cache created.

use std::time::Duration;

use berth::api::conditions::{DEGRADED, READY};
use berth::api::migration_job::Phase;
use berth::api::{EcsService, PullThroughCache};
use berth_e2e::conditions::{message_of, true_because};
use berth_e2e::ecr_state::{assert_rule_newer_than, ecr, hand_made_rule, hand_made_template, CRED};
use berth_e2e::examples::{file, inline_job};
use berth_e2e::{condition, Env, Options};

const TIMEOUT: Duration = Duration::from_secs(90);
const API_IMAGE: &str =
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/tonys-chips/api:v1";
const PER_REPOSITORY: [&str; 3] = [
    "docker-hub/tonys-chips/api",
    "docker-hub/tonys-chips/web",
    "docker-hub/tonys-chips/worker",
];

/// `api` from the example, its image under the cached prefix.
fn api() -> String {
    file("api.yaml").replace(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api:1.4.2",
        API_IMAGE,
    )
}

/// A berth PullThroughCache named after one repository (the team's way).
fn per_repository(name: &str, prefix: &str) -> String {
    format!(
        "apiVersion: berth.dev/v1alpha1\nkind: PullThroughCache\nmetadata:\n  name: {name}\nspec:\n  ecrRepositoryPrefix: {prefix}\n  upstreamRegistry: docker-hub\n  credentialArn: {CRED}\n"
    )
}

fn any_message(s: &EcsService, needle: &str) -> bool {
    s.status
        .as_ref()
        .is_some_and(|st| st.conditions.iter().any(|c| c.message.contains(needle)))
}

/// Retries (UpdateService with forceNewDeployment) of `api`'s service.
fn api_retries(env: &Env) -> Vec<String> {
    env.rollout_retries()
        .into_iter()
        .filter(|td| td.contains("task-definition/shop-api:"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incident_replayed_api_recovers_with_one_retry_after_the_cleanup() {
    // The cache notices the cleanup on its resync: no refresh anywhere.
    let env = Env::with_options(
        "ptc-usable",
        Options {
            resync_interval: "10s".into(),
            ..Options::default()
        },
    )
    .await;
    let ecr = ecr(&env).await;
    // What the team made by hand: two per-repository rules, a creation
    // template, and api's repository itself; the third per-repository rule
    // is a PullThroughCache of its own.
    for prefix in &PER_REPOSITORY[..2] {
        hand_made_rule(&ecr, prefix).await;
    }
    hand_made_template(&ecr).await;
    ecr.create_repository()
        .repository_name(PER_REPOSITORY[0])
        .send()
        .await
        .unwrap();
    env.apply_yaml(&per_repository("worker", PER_REPOSITORY[2]))
        .await
        .unwrap();

    // api's first rollout cannot pull: the circuit breaker fails it.
    env.apply_yaml(&api()).await.unwrap();
    let failed = env
        .wait_for(
            "api",
            "RolloutFailed on a pull",
            TIMEOUT,
            |s: &EcsService| {
                berth_e2e::examples::degraded("RolloutFailed")(s)
                    && any_message(s, "CannotPullContainerError")
            },
        )
        .await;
    let generation = failed.metadata.generation;

    // The prefix rule: Ready, but its warnings name api's repository, so
    // pulls still fail and nothing is retried.
    env.apply_yaml(&file("pull-through-cache.yaml"))
        .await
        .unwrap();
    env.wait_for(
        "docker-hub",
        "Ready (PrefixOverlap)",
        TIMEOUT,
        true_because::<PullThroughCache>(READY, "PrefixOverlap"),
    )
    .await;
    let s = env
        .wait_for(
            "api",
            "the cache's warning in status",
            TIMEOUT,
            |s: &EcsService| {
                any_message(s, "warns PrefixOverlap")
                    && s.status
                        .as_ref()
                        .and_then(|st| st.rollout.as_ref())
                        .is_some_and(|r| r.pull_through_cache_warning.is_some())
            },
        )
        .await;
    assert!(
        api_retries(&env).is_empty(),
        "retried while the cache still warned about api's repository: {:?}",
        api_retries(&env)
    );
    assert!(
        message_of(&s, DEGRADED).contains(PER_REPOSITORY[0]),
        "{}",
        message_of(&s, DEGRADED)
    );
    // The per-repository PullThroughCache cannot serve the repository it
    // is named after: not Ready, and Degraded says why.
    let worker: PullThroughCache = env
        .wait_for(
            "worker",
            "not Ready, Degraded (PrefixOverlap)",
            TIMEOUT,
            true_because(DEGRADED, "PrefixOverlap"),
        )
        .await;
    let (ready, reason, message) = condition(&worker.status.unwrap().conditions, READY).unwrap();
    assert_eq!(
        (ready.as_str(), reason.as_str()),
        ("False", "PrefixOverlap")
    );
    assert!(
        message.contains(&format!("cannot serve repository {}", PER_REPOSITORY[2])),
        "{message}"
    );

    // The team's cleanup: the per-repository rules, the template, the
    // hand-made repository go; api's spec is not touched.
    for prefix in &PER_REPOSITORY[..2] {
        ecr.delete_pull_through_cache_rule()
            .ecr_repository_prefix(*prefix)
            .send()
            .await
            .unwrap();
    }
    env.delete_and_wait::<PullThroughCache>("worker", TIMEOUT)
        .await;
    ecr.delete_repository_creation_template()
        .prefix("docker-hub")
        .send()
        .await
        .unwrap();
    ecr.delete_repository()
        .repository_name(PER_REPOSITORY[0])
        .force(true)
        .send()
        .await
        .unwrap();

    let s = env.wait_ready_on("api", 1, Duration::from_secs(240)).await;
    assert_eq!(s.metadata.generation, generation);
    assert!(!s
        .metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .contains_key("berth.dev/refresh"));
    let status = s.status.clone().unwrap();
    let (_, reason, _) = condition(&status.conditions, READY).unwrap();
    assert_eq!(reason, "RolloutComplete");
    let retries = api_retries(&env);
    assert_eq!(retries.len(), 1, "{retries:?}");
    assert!(
        retries[0].ends_with("task-definition/shop-api:1"),
        "{retries:?}"
    );
    let rollout = status.rollout.unwrap();
    assert!(
        rollout
            .retried_for
            .as_deref()
            .is_some_and(|r| r.starts_with(&format!(
                "PullThroughCache docker-hub serves {}",
                PER_REPOSITORY[0]
            ))),
        "{rollout:?}"
    );
    assert_eq!(rollout.pull_through_cache_warning, None);
    // Still one after another reconcile of api and of the cache.
    env.refresh_and_wait::<EcsService>("api", TIMEOUT).await;
    env.refresh_and_wait::<PullThroughCache>("docker-hub", TIMEOUT)
        .await;
    env.refresh_and_wait::<EcsService>("api", TIMEOUT).await;
    assert_eq!(api_retries(&env).len(), 1, "{:?}", api_retries(&env));
}

fn quay(extra: &str) -> String {
    format!(
        "apiVersion: berth.dev/v1alpha1\nkind: PullThroughCache\nmetadata:\n  name: cache\nspec:\n  ecrRepositoryPrefix: quay\n  deletionPolicy: Retain\n  replaceOnImmutableChange: true\n{extra}"
    )
}

/// The value of berth's record tag on repository `name`, if any.
async fn recorded_for(ecr: &aws_sdk_ecr::Client, name: &str) -> Option<String> {
    let repos = ecr
        .describe_repositories()
        .repository_names(name)
        .send()
        .await
        .ok()?;
    let arn = repos.repositories().first()?.repository_arn()?.to_string();
    let tags = ecr
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    tags.tags()
        .iter()
        .find(|t| t.key() == "berth.dev/pull-through-cache")
        .map(|t| t.value().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_deleted_with_retain_and_created_again_knows_the_repositories_it_created() {
    let env = Env::with_options(
        "ptc-recreate",
        Options {
            resync_interval: "10s".into(),
            ..Options::default()
        },
    )
    .await;
    let ecr = ecr(&env).await;
    env.apply_yaml(&quay("  upstreamRegistry: quay\n"))
        .await
        .unwrap();
    env.wait_for(
        "cache",
        "Ready",
        TIMEOUT,
        true_because::<PullThroughCache>(READY, "RuleReady"),
    )
    .await;
    // A first pull: the cache creates the repository, and berth records it
    // as the cache's on its next reconcile.
    let image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/quay/org/app:1";
    env.run_job(
        &inline_job("pull", image, ""),
        "pull",
        Phase::Succeeded,
        TIMEOUT,
    )
    .await;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while recorded_for(&ecr, "quay/org/app").await.as_deref() != Some("quay") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "quay/org/app was not recorded as the cache's"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let events = env.events_for("cache").await;
    assert!(
        events
            .iter()
            .any(|e| e.contains("RepositoriesRecorded") && e.contains("quay/org/app")),
        "{events:?}"
    );

    // Deleted, keeping the rule; created again, taking the rule over with
    // another upstream: the rule is replaced, so it is newer than the
    // repository its first incarnation's cache created.
    env.delete_and_wait::<PullThroughCache>("cache", TIMEOUT)
        .await;
    assert_eq!(env.pull_through_cache_rules().await.len(), 1);
    env.apply_yaml(&quay("  upstreamRegistry: ecr-public\n  adopt: true\n"))
        .await
        .unwrap();
    let p = env
        .wait_for(
            "cache",
            "Ready on the replaced rule",
            TIMEOUT,
            |p: &PullThroughCache| {
                p.status
                    .as_ref()
                    .is_some_and(|s| s.valid == Some(true) && s.first_rule_created_at.is_some())
                    && p.status.as_ref().is_some_and(|s| {
                        s.conditions
                            .iter()
                            .any(|c| c.type_ == READY && c.status == "True")
                    })
            },
        )
        .await;
    assert_rule_newer_than(&ecr, "public.ecr.aws", "quay/org/app").await;
    // No UnmanagedRepositories warning for the cache's own repository.
    let status = p.status.unwrap();
    let (_, reason, message) = condition(&status.conditions, READY).unwrap();
    assert_eq!(reason, "RuleReady", "{message}");
    assert!(status.unmanaged_repositories.is_empty());
    let events = env.events_for("cache").await;
    assert!(
        !events.iter().any(|e| e.contains("UnmanagedRepositories")),
        "{events:?}"
    );
}
