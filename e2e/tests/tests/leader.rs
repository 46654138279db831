//! Leader election with two berth processes on one namespace and one
//! awsim: only the Lease holder calls AWS, both report ready, a killed
//! leader hands over within the lease duration without running a job
//! twice, a stopped leader hands over at once, and a leader cut off from
//! the API server stops its AWS mutations before the other takes over.

use std::time::{Duration, Instant};

use berth::api::migration_job::{MigrationJob, Phase};
use berth::api::EcsService;
use berth::runtime::leader::{DEFAULT_LEASE_NAME as LEASE_NAME, LEASE_SECONDS};
use berth_e2e::examples::{inline_job, ready_on, small_service};
use berth_e2e::processes::{kube_upstream, kubeconfig_via, Berth, Proxy, Spawn};
use berth_e2e::{Env, Options};
use k8s_openapi::api::coordination::v1::Lease;

const TIMEOUT: Duration = Duration::from_secs(120);

async fn env(name: &str) -> Env {
    Env::with_options(
        name,
        Options {
            start_berth: false,
            leader_election: true,
            ..Options::default()
        },
    )
    .await
}

fn holder(lease: &Lease) -> &str {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        .unwrap_or_default()
}

/// Waits until the Lease is held by the process named `name` (identities
/// start with the pod name).
async fn wait_leader(env: &Env, name: &str, timeout: Duration) -> Lease {
    let prefix = format!("{name}-");
    let deadline = Instant::now() + timeout;
    loop {
        let lease = env.api::<Lease>().get_opt(LEASE_NAME).await.unwrap();
        if let Some(l) = &lease {
            if holder(l).starts_with(&prefix) {
                return l.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not hold the lease within {timeout:?}: {:?}",
            lease.and_then(|l| l.spec)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `a` leads, `b` stands by (started in that order, so the roles are known).
async fn leader_and_standby(env: &Env, a: Spawn) -> (Berth, Berth) {
    let leader = env.spawn_berth("berth-a", a);
    wait_leader(env, "berth-a", TIMEOUT).await;
    let standby = env.spawn_berth("berth-b", Spawn::default());
    standby.wait_ready("standby", TIMEOUT).await;
    (leader, standby)
}

fn epoch_seconds(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime) -> f64 {
    t.0.as_millisecond() as f64 / 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_calls_aws_and_both_are_ready() {
    let env = env("leader-one").await;
    let (mut a, b) = leader_and_standby(&env, Spawn::default()).await;
    env.apply_yaml(&small_service(1)).await.unwrap();
    env.wait_for::<EcsService>("svc-01", "Ready", TIMEOUT, ready_on(1))
        .await;
    a.wait_ready("ok", TIMEOUT).await;
    b.wait_ready("standby", TIMEOUT).await;

    let calls = (
        a.metric("berth_aws_calls_total").await,
        b.metric("berth_aws_calls_total").await,
    );
    println!("AWS calls: leader {}, standby {}", calls.0, calls.1);
    assert!(calls.0 > 0.0, "the leader converged svc-01 through AWS");
    assert_eq!(calls.1, 0.0, "the standby made AWS calls");
    assert_eq!(a.metric("berth_leader").await, 1.0);
    assert_eq!(b.metric("berth_leader").await, 0.0);

    // SIGTERM: the leader finishes, releases the lease and exits 0; the
    // standby takes over at once instead of after the lease duration.
    let stopped = Instant::now();
    a.terminate();
    let status = a.wait_exit(Duration::from_secs(40)).await;
    let lease = wait_leader(&env, "berth-b", TIMEOUT).await;
    let handover = stopped.elapsed();
    println!("graceful hand-over took {handover:?}, exit {status:?}");
    assert!(
        status.is_some_and(|s| s.success()),
        "the stopped leader exits 0: {status:?}\n{}",
        berth_e2e::tail(&a.log(), 25)
    );
    assert!(
        handover < Duration::from_secs(LEASE_SECONDS as u64),
        "a released lease is taken before it would have expired: {handover:?}\n{:?}",
        lease.spec
    );
    b.wait_ready("ok", TIMEOUT).await;
    assert_eq!(b.metric("berth_leader").await, 1.0);
    // The new leader writes: a change converges.
    env.apply_yaml(&small_service(2)).await.unwrap();
    env.wait_for::<EcsService>("svc-02", "Ready", TIMEOUT, ready_on(1))
        .await;
    assert!(b.metric("berth_aws_calls_total").await > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_hands_over_and_a_running_job_runs_once() {
    let env = env("leader-kill").await;
    let (mut a, b) = leader_and_standby(&env, Spawn::default()).await;
    // 1200 virtual seconds: ~40 s at the default 30x, longer than the hand-over.
    env.apply_yaml(&inline_job("migrate", "shop/migrate:sleep-1200", ""))
        .await
        .unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while env.awsim.call_count("ecs", "RunTask") == 0 {
        assert!(Instant::now() < deadline, "the leader never ran the task");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let killed = Instant::now();
    a.kill();
    wait_leader(&env, "berth-b", TIMEOUT).await;
    let handover = killed.elapsed();
    println!("hand-over after SIGKILL took {handover:?}");
    // Expiry is judged at the standby's polls (every 2 s) after renewTime
    // + leaseDurationSeconds; the rest is slack for a loaded machine.
    assert!(
        handover < Duration::from_secs(LEASE_SECONDS as u64 + 10),
        "hand-over took {handover:?}"
    );
    let job: MigrationJob = env.wait_phase("migrate", Phase::Succeeded, TIMEOUT).await;
    assert_eq!(job.status.unwrap().attempts, 1);
    assert_eq!(
        env.awsim.call_count("ecs", "RunTask"),
        1,
        "the job ran twice across the hand-over\n{}",
        berth_e2e::tail(&b.log(), 25)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_the_api_server_stops_writing_before_the_takeover() {
    let env = env("leader-cut").await;
    let kube = Proxy::start(kube_upstream(), None).await;
    // awsim names callers by the SDK app name; the cut leader's is
    // rewritten on its way so awsim's log tells the two processes apart.
    let aws = Proxy::start(env.awsim.addr(), Some((b"app/berth", b"app/cutld"))).await;
    let kubeconfig = kubeconfig_via(&kube, &format!("{}.berth-a", env.ns)).unwrap();
    let spawn = Spawn {
        aws_endpoint: Some(format!("http://127.0.0.1:{}", aws.port())),
        env: vec![("KUBECONFIG".into(), kubeconfig.display().to_string())],
        ..Spawn::default()
    };
    let (mut a, b) = leader_and_standby(&env, spawn).await;

    // Work in flight at the cut: services being created.
    let manifests: String = (1..=3)
        .map(|i| format!("---\n{}", small_service(i)))
        .collect();
    env.apply_yaml(&manifests).await.unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while env.awsim.calls(Some("cutld"))["byService"]["ecs"]["CreateService"]
        .as_u64()
        .unwrap_or(0)
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "the leader never created a service"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let cut = Instant::now();
    kube.cut();
    let exited = a
        .wait_exit(Duration::from_secs(LEASE_SECONDS as u64 + 10))
        .await;
    let exit_after = cut.elapsed();
    let lease = wait_leader(&env, "berth-b", TIMEOUT).await;
    let takeover_after = cut.elapsed();
    println!("cut leader exited {exit_after:?} after the cut ({exited:?}); lease taken {takeover_after:?} after");
    assert!(
        exited.is_some_and(|s| !s.success()),
        "the cut-off leader must exit (non-zero, to restart as a standby): {exited:?}\n{}",
        berth_e2e::tail(&a.log(), 25)
    );

    let spec = lease.spec.clone().unwrap();
    let began = epoch_seconds(spec.acquire_time.as_ref().expect("acquireTime"));
    let log = env.awsim.call_log(Some("cutld"));
    let records = log.as_array().unwrap();
    let mutation = |r: &&serde_json::Value| {
        let action = r["action"].as_str().unwrap_or_default();
        !["Describe", "List", "Get"]
            .iter()
            .any(|p| action.starts_with(p))
    };
    let last = records
        .iter()
        .filter(mutation)
        .filter_map(|r| r["time"].as_f64())
        .fold(f64::NAN, f64::max);
    println!(
        "cut leader: {} AWS calls, last mutation {:.3} s before the new lease began",
        records.len(),
        began - last
    );
    let late: Vec<_> = records
        .iter()
        .filter(mutation)
        .filter(|r| r["time"].as_f64().unwrap_or(0.0) >= began)
        .collect();
    assert!(
        late.is_empty(),
        "the cut-off leader mutated AWS after the new lease began at {began}: {late:#?}"
    );

    // The new leader finishes the work.
    for i in 1..=3 {
        env.wait_for::<EcsService>(&format!("svc-{i:02}"), "Ready", TIMEOUT, ready_on(1))
            .await;
    }
    assert!(b.metric("berth_aws_calls_total").await > 0.0);
}
