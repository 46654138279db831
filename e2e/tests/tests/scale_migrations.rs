//! 200 EcsServices in 4 ECS clusters, each gated by a PreRollout
//! MigrationJob, against awsim throttling at AWS's published rates: every
//! migration runs exactly once, no job ever leaves Succeeded, the jobs'
//! polls share DescribeTasks calls, creation reads each new task definition
//! at most once, and the steady state costs the ideal DescribeServices and
//! nothing else (no AWS mutation, no status write, no Namespace GET).
//! Counts are asserted; times and memory are printed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth::api::migration_job::Phase;
use berth::api::{EcsService, MigrationJob};
use berth_e2e::awsim::{Seed, ThrottleProfile};
use berth_e2e::measure::{sum, Metrics};
use berth_e2e::{Env, Options};
use futures::StreamExt;
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;

const CLUSTERS: [&str; 4] = ["shop", "shop-b", "shop-c", "shop-d"];
const SERVICES: usize = 200;
const RESYNC_SECONDS: u64 = 20;

fn pair(i: usize) -> String {
    let cluster = CLUSTERS[i % CLUSTERS.len()];
    let service = berth_e2e::examples::fargate_service(&format!("svc-{i:03}"), cluster);
    service
        + &format!(
            r#"---
apiVersion: berth.dev/v1alpha1
kind: MigrationJob
metadata:
  name: svc-{i:03}-migrate
  annotations:
    berth.dev/paused: "true"
spec:
  serviceRef:
    name: svc-{i:03}
  hook: PreRollout
  command: ["./app", "migrate"]
  backoffLimit: 2
"#
        )
}

/// Polls `check` every half second until it returns `Ok`, or panics with
/// the last `Err` and berth's log.
async fn until<F, Fut>(env: &Env, what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(()) => return,
            Err(last) if Instant::now() > deadline => panic!(
                "{what}: not after {timeout:?}: {last}\n{}",
                berth_e2e::tail(&env.berth_log(), 30)
            ),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// berth's calls by action, whatever their outcome (a read answered with
/// an error is still a read).
fn calls_by_action(env: &Env) -> BTreeMap<String, u64> {
    let mut by = BTreeMap::new();
    for c in env.awsim.call_log(Some("berth")).as_array().unwrap() {
        if c["outcome"] == "throttled" {
            continue;
        }
        let action = format!(
            "{}:{}",
            c["service"].as_str().unwrap_or("?"),
            c["action"].as_str().unwrap_or("?")
        );
        *by.entry(action).or_default() += 1;
    }
    by
}

fn is_mutation(action: &str) -> bool {
    let name = action.split(':').nth(1).unwrap_or(action);
    !["Describe", "List", "Get", "Validate"]
        .iter()
        .any(|read| name.starts_with(read))
}

fn delta(after: &Metrics, before: &Metrics, family: &str, labels: &[(&str, &str)]) -> f64 {
    sum(after, family, labels) - sum(before, family, labels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_services_with_migrations_converge_once() {
    let env = Env::with_options(
        "scale-mj",
        Options {
            resync_interval: format!("{RESYNC_SECONDS}s"),
            ..Options::default()
        },
    )
    .await;
    env.awsim.seed(&Seed {
        clusters: CLUSTERS[1..].iter().map(|c| c.to_string()).collect(),
        ..Seed::default()
    });
    env.awsim.set_throttle_profile(ThrottleProfile::Aws);

    // Every phase every job goes through, in order: a job that leaves
    // Succeeded would show it here.
    let phases: Arc<Mutex<BTreeMap<String, Vec<Phase>>>> = Arc::default();
    let watching = {
        let phases = phases.clone();
        let api: Api<MigrationJob> = env.api();
        tokio::spawn(async move {
            let mut events = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(Ok(event)) = events.next().await {
                let jobs = match event {
                    watcher::Event::Apply(j) | watcher::Event::InitApply(j) => vec![j],
                    _ => continue,
                };
                for j in jobs {
                    let Some(phase) = j.status.as_ref().and_then(|s| s.phase) else {
                        continue;
                    };
                    let mut all = phases.lock().unwrap();
                    let seen = all.entry(j.metadata.name.clone().unwrap()).or_default();
                    if seen.last() != Some(&phase) {
                        seen.push(phase);
                    }
                }
            }
        })
    };

    let started = Instant::now();
    let all: String = (0..SERVICES).map(pair).collect();
    env.apply_yaml(&all).await.unwrap();
    let services: Api<EcsService> = env.api();
    let jobs: Api<MigrationJob> = env.api();

    // 1. Every service registers its revision and waits for its migration.
    // AWS allows one RegisterTaskDefinition a second, so most services wait
    // minutes for their turn: they wait outside berth's reconcile slots
    // (`berth_reconciles_in_flight`), which stay free for other work. The
    // fewest slots held at a moment 50 or more services were still waiting:
    let fewest_held = std::cell::Cell::new(f64::MAX);
    until(
        &env,
        "every service registered",
        Duration::from_secs(600),
        || async {
            let list = services
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?;
            let registered = list
                .items
                .iter()
                .filter(|s| {
                    s.status
                        .as_ref()
                        .is_some_and(|st| st.task_definition_arn.is_some())
                })
                .count();
            if SERVICES - registered >= 50 {
                let m = env.berth_metrics().await.map_err(|e| e.to_string())?;
                let held = sum(&m, "berth_reconciles_in_flight", &[("kind", "EcsService")]);
                fewest_held.set(fewest_held.get().min(held));
            }
            (registered == SERVICES)
                .then_some(())
                .ok_or(format!("{registered}/{SERVICES} registered"))
        },
    )
    .await;
    let registered_after = started.elapsed();
    assert!(
        fewest_held.get() <= 8.0,
        "while 50 or more services waited for their RegisterTaskDefinition turn, \
         berth always held at least {} reconcile slots for them",
        fewest_held.get()
    );
    let creation = calls_by_action(&env);
    let registrations = creation
        .get("ecs:RegisterTaskDefinition")
        .copied()
        .unwrap_or(0);
    let td_reads = creation
        .get("ecs:DescribeTaskDefinition")
        .copied()
        .unwrap_or(0)
        + creation
            .get("ecs:ListTaskDefinitions")
            .copied()
            .unwrap_or(0);

    // 2. The migrations are released together and run a while (awsim slowed
    // to 0.2x: 15 s each), so their polls overlap.
    env.awsim.set_time_scale(0.2);
    for i in 0..SERVICES {
        env.merge_patch::<MigrationJob>(
            &format!("svc-{i:03}-migrate"),
            serde_json::json!({"metadata": {"annotations": {"berth.dev/paused": "false"}}}),
        )
        .await;
    }
    until(
        &env,
        "every migration Succeeded",
        Duration::from_secs(300),
        || async {
            let list = jobs
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?;
            let done = list
                .items
                .iter()
                .filter(|j| j.status.as_ref().and_then(|s| s.phase) == Some(Phase::Succeeded))
                .count();
            (done == SERVICES)
                .then_some(())
                .ok_or(format!("{done}/{SERVICES} Succeeded"))
        },
    )
    .await;
    let migrated_after = started.elapsed();
    env.awsim.set_time_scale(30.0);

    // DescribeTasks: how many job polls each call served.
    let (mut describe_calls, mut tasks_described) = (0u64, 0u64);
    for c in env.awsim.call_log(Some("berth")).as_array().unwrap() {
        if c["action"] == "DescribeTasks" && c["outcome"] == "ok" {
            describe_calls += 1;
            tasks_described += c["params"]["tasks"]
                .as_str()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }

    // 3. Every service rolls out.
    until(
        &env,
        "every service Ready",
        Duration::from_secs(300),
        || async {
            let ready = env
                .count_ready::<EcsService>()
                .await
                .map_err(|e| e.to_string())?;
            (ready == SERVICES)
                .then_some(())
                .ok_or(format!("{ready}/{SERVICES} Ready"))
        },
    )
    .await;
    let ready_after = started.elapsed();
    let converge = calls_by_action(&env);

    // 4. Steady state: every object reconciled at least twice more (two
    // resyncs), measured from berth's metrics and awsim's log.
    let before_metrics = env.berth_metrics().await.unwrap();
    let before_reconciles = env.all_reconciles().await.unwrap();
    let before_calls = env.awsim.call_log(Some("berth")).as_array().unwrap().len();
    let steady_started = Instant::now();
    until(
        &env,
        "two resyncs of every object",
        Duration::from_secs(6 * RESYNC_SECONDS),
        || {
            let env = &env;
            let before = &before_reconciles;
            async move {
                let now = env.all_reconciles().await.map_err(|e| e.to_string())?;
                let behind = before
                    .iter()
                    .filter(|(key, (started, _))| now.get(*key).map_or(0, |c| c.1) < started + 2)
                    .count();
                (behind == 0)
                    .then_some(())
                    .ok_or(format!("{behind} objects not reconciled twice yet"))
            }
        },
    )
    .await;
    let after_metrics = env.berth_metrics().await.unwrap();
    let after_reconciles = env.all_reconciles().await.unwrap();
    let steady_calls: Vec<serde_json::Value> =
        env.awsim.call_log(Some("berth")).as_array().unwrap()[before_calls..].to_vec();
    let service_resyncs: u64 = after_reconciles
        .iter()
        .filter(|(k, _)| k.starts_with("EcsService/"))
        .map(|(k, c)| c.1 - before_reconciles.get(k).map_or(0, |b| b.1))
        .sum();
    let resyncs = service_resyncs as f64 / SERVICES as f64;
    let steady_describes = steady_calls
        .iter()
        .filter(|c| c["action"] == "DescribeServices" && c["outcome"] == "ok")
        .count() as f64;
    let ideal_per_resync: f64 = CLUSTERS
        .iter()
        .map(|_| ((SERVICES / CLUSTERS.len()) as f64 / 10.0).ceil())
        .sum();
    let steady_mutations: Vec<String> = steady_calls
        .iter()
        .map(|c| {
            format!(
                "{}:{}",
                c["service"].as_str().unwrap_or("?"),
                c["action"].as_str().unwrap_or("?")
            )
        })
        .filter(|a| is_mutation(a))
        .collect();
    let status_writes: f64 = ["ecsservices/status", "migrationjobs/status"]
        .iter()
        .map(|r| {
            delta(
                &after_metrics,
                &before_metrics,
                "berth_kube_requests_total",
                &[("verb", "patch"), ("resource", r)],
            )
        })
        .sum();
    let namespace_gets = delta(
        &after_metrics,
        &before_metrics,
        "berth_kube_requests_total",
        &[("verb", "get"), ("resource", "namespaces")],
    );
    let job_lists = delta(
        &after_metrics,
        &before_metrics,
        "berth_kube_requests_total",
        &[("verb", "list"), ("resource", "migrationjobs")],
    );
    let peak_rss_mib = env.berth_peak_rss_kib().unwrap_or(0) as f64 / 1024.0;
    watching.abort();

    println!("{SERVICES} services + {SERVICES} PreRollout MigrationJobs in {} clusters (awsim `aws` throttling profile)", CLUSTERS.len());
    println!(
        "  registered in {:.0}s, migrated by {:.0}s, all Ready by {:.0}s",
        registered_after.as_secs_f64(),
        migrated_after.as_secs_f64(),
        ready_after.as_secs_f64()
    );
    println!(
        "  creation: {registrations} RegisterTaskDefinition, {td_reads} task-definition reads"
    );
    println!(
        "  DescribeTasks: {describe_calls} calls for {tasks_described} job polls ({:.1} per call)",
        tasks_described as f64 / describe_calls.max(1) as f64
    );
    println!("  steady state over {:.0}s ({resyncs:.2} resyncs): {steady_describes} DescribeServices ({:.1} per resync, ideal {ideal_per_resync}), {} mutations, {status_writes} status writes, {namespace_gets} Namespace GETs", steady_started.elapsed().as_secs_f64(), steady_describes / resyncs, steady_mutations.len());
    println!("  berth peak RSS: {peak_rss_mib:.0} MiB");
    println!("  calls to convergence: {converge:?}");
    println!(
        "  throttled: {:?}",
        env.awsim.calls(Some("berth"))["throttled"]
    );

    // Exactly one migration per run: 200 jobs, 200 RunTasks, attempt 1 each.
    assert_eq!(
        converge.get("ecs:RunTask").copied(),
        Some(SERVICES as u64),
        "RunTask calls"
    );
    let list = jobs.list(&Default::default()).await.unwrap();
    let hashes: BTreeSet<String> = list
        .items
        .iter()
        .filter_map(|j| j.status.as_ref()?.run_hash.clone())
        .collect();
    assert_eq!(hashes.len(), SERVICES, "one run hash per job");
    for j in &list.items {
        assert_eq!(
            j.status.as_ref().unwrap().attempts,
            1,
            "{:?} ran more than once",
            j.metadata.name
        );
    }
    let regressions: Vec<String> = phases
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, seen)| {
            seen.iter()
                .position(|p| *p == Phase::Succeeded)
                .is_some_and(|i| i + 1 < seen.len())
        })
        .map(|(name, seen)| format!("{name}: {seen:?}"))
        .collect();
    assert!(
        regressions.is_empty(),
        "jobs left Succeeded: {regressions:?}"
    );
    assert_eq!(
        registrations, SERVICES as u64,
        "one registration per service"
    );
    assert!(
        td_reads <= registrations,
        "at most one task-definition read per new revision: {td_reads} reads for {registrations} registrations"
    );
    assert!(
        describe_calls * 10 < tasks_described,
        "fewer DescribeTasks than one per 10 job polls: {describe_calls} calls for {tasks_described} polls"
    );
    assert!(resyncs >= 2.0, "{resyncs} resyncs measured");
    assert!(
        steady_describes <= 1.2 * ideal_per_resync * resyncs,
        "steady state: {steady_describes} DescribeServices over {resyncs:.2} resyncs, ideal {ideal_per_resync} per resync"
    );
    assert!(
        steady_mutations.is_empty(),
        "mutations in steady state: {steady_mutations:?}"
    );
    assert_eq!(status_writes, 0.0, "status writes in steady state");
    assert_eq!(namespace_gets, 0.0, "Namespace GETs in steady state");
    assert_eq!(job_lists, 0.0, "MigrationJob LISTs in steady state");
    assert_eq!(
        env.awsim.calls(Some("berth"))["throttled"].as_u64(),
        Some(0),
        "throttled calls"
    );
}
