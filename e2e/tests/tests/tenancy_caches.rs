//! One berth serving several namespaces: a pull-through cache prefix (an
//! account-wide ECR name) has one owning PullThroughCache. A second object
//! for the prefix in another namespace reports `Conflict` naming the owner
//! and makes no ECR change, with or without `spec.adopt`; deleting it
//! leaves the rule; the owner keeps the prefix across a berth restart and a
//! leader change; once the owner is deleted with `deletionPolicy: Retain`,
//! the other takes the rule over with `spec.adopt: true`.

use std::time::{Duration, Instant};

use berth::api::conditions::{DEGRADED, READY};
use berth::api::PullThroughCache;
use berth_e2e::examples::file;
use berth_e2e::processes::Spawn;
use berth_e2e::{condition, Env, Options, ACCOUNT};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::ListParams;
use kube::{Api, ResourceExt};

const TIMEOUT: Duration = Duration::from_secs(120);
const CRED: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/docker-hub-AbCdEf";
const MUTATIONS: [&str; 3] = [
    "CreatePullThroughCacheRule",
    "UpdatePullThroughCacheRule",
    "DeletePullThroughCacheRule",
];

/// berth's mutating ECR rule calls so far, from awsim's call log.
fn mutations(env: &Env) -> [u64; 3] {
    MUTATIONS.map(|a| env.berth_calls("ecr", a))
}

/// Another team's credential for the same upstream (a secret of its own in
/// Secrets Manager): were the second object ever to act, it would change
/// the rule's credential (the flip-flop).
async fn other_credential(env: &Env) -> String {
    aws_sdk_secretsmanager::Client::new(&env.aws().await)
        .create_secret()
        .name("ecr-pullthroughcache/team-b-hub")
        .secret_string(r#"{"username":"team-b","accessToken":"not-a-real-token"}"#)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string()
}

fn second(name: &str, credential: &str) -> String {
    file("pull-through-cache.yaml")
        .replace("name: docker-hub", &format!("name: {name}"))
        .replace(CRED, credential)
}

fn cond(p: &PullThroughCache, type_: &str) -> Option<(String, String, String)> {
    condition(&p.status.as_ref()?.conditions, type_)
}

fn generation_of_condition(p: &PullThroughCache, type_: &str) -> Option<i64> {
    p.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)?
        .observed_generation
}

/// Ready because the rule is valid, as of the object's current generation.
fn ready(p: &PullThroughCache) -> bool {
    cond(p, READY).is_some_and(|(s, r, _)| s == "True" && r == "RuleReady")
        && generation_of_condition(p, READY) == p.metadata.generation
}

/// `Conflict` naming `owner` (`namespace/name`), as of the current generation.
fn conflict_with(owner: String) -> impl Fn(&PullThroughCache) -> bool {
    move |p| {
        cond(p, DEGRADED).is_some_and(|(s, r, m)| {
            s == "True" && r == "Conflict" && m.contains(&format!("PullThroughCache {owner}"))
        }) && generation_of_condition(p, DEGRADED) == p.metadata.generation
    }
}

/// The claim Leases in berth's namespace (`home`): (holderIdentity, prefix).
async fn claims(env: &Env) -> Vec<(String, String)> {
    Api::<Lease>::namespaced(env.client.clone(), &env.home)
        .list(&ListParams::default().labels("berth.dev/claim=ptc"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|l| {
            let prefix = l.annotations()["berth.dev/claim-prefix"].clone();
            assert_eq!(l.annotations()["berth.dev/claim-account"], ACCOUNT);
            let holder = l.spec.and_then(|s| s.holder_identity).unwrap_or_default();
            (holder, prefix)
        })
        .collect()
}

fn identity(p: &PullThroughCache) -> String {
    format!(
        "PullThroughCache/{}/{}/{}",
        p.namespace().unwrap(),
        p.name_any(),
        p.uid().unwrap()
    )
}

/// Bumps `name`'s generation with a spec change that changes nothing in
/// ECR, so its conditions show a reconcile since.
async fn touch(env: &Env, name: &str) -> PullThroughCache {
    let before: PullThroughCache = env.api().get(name).await.unwrap();
    let flag = !before.spec.replace_on_immutable_change;
    env.merge_patch::<PullThroughCache>(
        name,
        serde_json::json!({"spec": {"replaceOnImmutableChange": flag}}),
    )
    .await
}

async fn wait_leader(env: &Env, pod: &str) {
    let deadline = Instant::now() + TIMEOUT;
    let api = Api::<Lease>::namespaced(env.client.clone(), &env.home);
    loop {
        let lease = api.get_opt("berth-controller").await.unwrap();
        let holder = lease
            .as_ref()
            .and_then(|l| l.spec.as_ref()?.holder_identity.clone())
            .unwrap_or_default();
        if holder.starts_with(&format!("{pod}-")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{pod} never led; holder {holder:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_prefix_has_one_owner_across_namespaces_restarts_and_leaders() {
    let mut env = Env::with_options(
        "tenancy-ptc",
        Options {
            all_namespaces: true,
            start_berth: false,
            ..Options::default()
        },
    )
    .await;
    let home = env.home.clone();
    // berth's own namespace (claims and the leader Lease): this test's
    // first, as the chart's release namespace would be.
    env.options_mut().berth_env = vec![
        ("BERTH_LEASE_NAMESPACE".into(), home.clone()),
        ("POD_NAME".into(), "berth-a".into()),
    ];
    env.start_berth();
    let team_b = env.create_namespace("b").await;
    let team_c = env.create_namespace("c").await;
    let other_cred = other_credential(&env).await;

    // The owner: the first to claim the prefix.
    env.apply_yaml(&file("pull-through-cache.yaml"))
        .await
        .unwrap();
    let owner: PullThroughCache = env
        .wait_for("docker-hub", "Ready (RuleReady)", TIMEOUT, ready)
        .await;
    assert_eq!(mutations(&env), [1, 0, 0]);
    let owner_claim = vec![(identity(&owner), "docker-hub".to_string())];
    assert_eq!(claims(&env).await, owner_claim);
    let owner_name = format!("{home}/docker-hub");

    // The second, in another namespace, with its own credential.
    env.use_namespace(&team_b);
    env.apply_yaml(&second("docker-hub", &other_cred))
        .await
        .unwrap();
    let p = env
        .wait_for(
            "docker-hub",
            "Conflict naming the owner",
            TIMEOUT,
            conflict_with(owner_name.clone()),
        )
        .await;
    let (_, _, message) = cond(&p, DEGRADED).unwrap();
    println!("second object: {message}");
    assert!(message.contains("spec.adopt"), "{message}");
    let (ready_status, _, _) = cond(&p, READY).unwrap();
    assert_eq!(ready_status, "False");
    assert_eq!(mutations(&env), [1, 0, 0], "the second made an ECR change");
    assert_eq!(
        env.pull_through_cache_rules().await,
        [("docker-hub".into(), Some(CRED.into()))]
    );
    assert!(env
        .events_for("docker-hub")
        .await
        .iter()
        .any(|e| e.contains("Conflict")));

    // adopt: true is refused while the owner exists.
    env.merge_patch::<PullThroughCache>("docker-hub", serde_json::json!({"spec": {"adopt": true}}))
        .await;
    env.wait_for(
        "docker-hub",
        "still Conflict with adopt: true",
        TIMEOUT,
        conflict_with(owner_name.clone()),
    )
    .await;
    assert_eq!(mutations(&env), [1, 0, 0], "adopt: true made an ECR change");
    assert_eq!(
        env.pull_through_cache_rules().await,
        [("docker-hub".into(), Some(CRED.into()))]
    );

    // A third claimant, deleted (deletionPolicy Delete by default): the
    // owner's rule stays.
    env.use_namespace(&team_c);
    env.apply_yaml(&second("mirror", &other_cred))
        .await
        .unwrap();
    env.wait_for(
        "mirror",
        "Conflict naming the owner",
        TIMEOUT,
        conflict_with(owner_name.clone()),
    )
    .await;
    env.delete_and_wait::<PullThroughCache>("mirror", TIMEOUT)
        .await;
    assert_eq!(
        mutations(&env),
        [1, 0, 0],
        "a non-owner's deletion touched the rule"
    );
    assert_eq!(
        env.pull_through_cache_rules().await,
        [("docker-hub".into(), Some(CRED.into()))]
    );
    assert_eq!(claims(&env).await, owner_claim);

    // A restart (SIGKILL), now with leader election for the next step:
    // both objects reconciled by the new process, the owner unchanged.
    env.kill_berth();
    env.options_mut().leader_election = true;
    env.start_berth();
    for ns in [&home, &team_b] {
        env.use_namespace(ns);
        env.wait_reconciled_since("PullThroughCache", "docker-hub", 0, TIMEOUT)
            .await;
    }
    env.use_namespace(&home);
    env.wait_for("docker-hub", "still Ready", TIMEOUT, ready)
        .await;
    env.use_namespace(&team_b);
    env.wait_for(
        "docker-hub",
        "still Conflict after the restart",
        TIMEOUT,
        conflict_with(owner_name.clone()),
    )
    .await;
    assert_eq!(mutations(&env), [1, 0, 0], "after the restart");
    assert_eq!(claims(&env).await, owner_claim);

    // A leader change: a second replica takes over from the killed one,
    // and reconciles both objects (each shows its new generation).
    wait_leader(&env, "berth-a").await;
    let standby = env.spawn_berth(
        "berth-b",
        Spawn {
            namespace: Some(home.clone()),
            all_namespaces: true,
            ..Spawn::default()
        },
    );
    standby.wait_ready("standby", TIMEOUT).await;
    env.kill_berth();
    wait_leader(&env, "berth-b").await;
    for (ns, pred) in [
        (
            &home,
            Box::new(ready) as Box<dyn Fn(&PullThroughCache) -> bool>,
        ),
        (&team_b, Box::new(conflict_with(owner_name.clone()))),
    ] {
        env.use_namespace(ns);
        touch(&env, "docker-hub").await;
        env.wait_for("docker-hub", "reconciled by the new leader", TIMEOUT, pred)
            .await;
    }
    assert_eq!(mutations(&env), [1, 0, 0], "after the leader change");
    assert_eq!(claims(&env).await, owner_claim);

    // The owner leaves, keeping the rule: the other adopts it (it has
    // spec.adopt: true already) and sets its own credential.
    env.use_namespace(&home);
    env.merge_patch::<PullThroughCache>(
        "docker-hub",
        serde_json::json!({"spec": {"deletionPolicy": "Retain"}}),
    )
    .await;
    env.delete_and_wait::<PullThroughCache>("docker-hub", TIMEOUT)
        .await;
    assert_eq!(
        env.pull_through_cache_rules().await,
        [("docker-hub".into(), Some(CRED.into()))]
    );
    assert_eq!(claims(&env).await, [], "the owner's claim was released");
    env.use_namespace(&team_b);
    env.annotate::<PullThroughCache>(
        "docker-hub",
        "berth.dev/refresh",
        serde_json::json!("after-owner-left"),
    )
    .await;
    let adopted: PullThroughCache = env
        .wait_for("docker-hub", "Ready after adopting", TIMEOUT, ready)
        .await;
    assert_eq!(
        env.pull_through_cache_rules().await,
        [("docker-hub".into(), Some(other_cred.clone()))]
    );
    assert_eq!(mutations(&env), [1, 1, 0]);
    assert_eq!(
        claims(&env).await,
        [(identity(&adopted), "docker-hub".to_string())]
    );
    drop(standby);
}
