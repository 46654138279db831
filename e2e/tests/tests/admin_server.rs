//! What berth's endpoints give away, and what berth keeps per object: the
//! admin address serves only /metrics, /livez and /readyz (the debug
//! endpoints are on a loopback address, when asked for); per-object
//! bookkeeping goes when the objects go, so MigrationJob churn does not
//! grow berth's memory.

use std::process::Command;
use std::time::{Duration, Instant};

use berth::api::migration_job::MigrationJob;
use berth_e2e::examples::inline_job;
use berth_e2e::measure::sum;
use berth_e2e::{berth_bin, condition, Env};
use futures::StreamExt;
use kube::api::{DeleteParams, ListParams, PostParams};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Waits until berth's /metrics answers (the process is up).
async fn metrics_up(env: &Env) {
    env.wait_admin_answers("/metrics", TIMEOUT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_address_lists_no_object() {
    let env = Env::new("admin").await;
    metrics_up(&env).await;
    env.apply_yaml(&inline_job(
        "migrate",
        "shop/migrate:1.0",
        "  container: missing\n",
    ))
    .await
    .unwrap();
    env.wait_reconciled_since("MigrationJob", "migrate", 0, TIMEOUT)
        .await;

    // The object is known to berth, but the admin address does not say so.
    for path in ["/debug/reconciles", "/debug/", "/debug/pprof"] {
        let answer = env.admin_get(path).await;
        let status = answer.as_ref().map_err(|e| e.to_string());
        assert!(
            status.as_ref().is_err_and(|line| line.contains(" 404 ")),
            "{path} on the admin address: {status:?}"
        );
    }
    let metrics = env.admin_get("/metrics").await.unwrap();
    assert!(
        !metrics.contains(&env.ns),
        "/metrics names no namespace of an object"
    );
    assert_eq!(env.wait_admin_answers("/readyz", TIMEOUT).await, "ok");
    assert_eq!(env.admin_get("/livez").await.unwrap(), "ok");
    // The loopback debug address the tests start berth with does.
    let listed = env.debug_get("/debug/reconciles").await.unwrap();
    assert!(
        listed.contains(&format!("MigrationJob/{}/migrate", env.ns)),
        "{listed}"
    );

    // An address reachable from outside the pod is refused at start-up.
    let refused = Command::new(berth_bin())
        .args(["run", "--debug-addr", "0.0.0.0:9090"])
        .env_remove("BERTH_DEBUG_ADDR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}

/// `berth_tracked_objects{map}` on /metrics.
async fn tracked(env: &Env, map: &str) -> f64 {
    let metrics = env.berth_metrics().await.unwrap();
    sum(&metrics, "berth_tracked_objects", &[("map", map)])
}

const JOBS: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_and_deleting_500_jobs_leaves_no_bookkeeping() {
    let env = Env::new("churn").await;
    metrics_up(&env).await;
    let (reconciles_before, memos_before) = (
        tracked(&env, "reconciles").await,
        tracked(&env, "memos").await,
    );
    let started = Instant::now();

    // Invalid specs (a deciding container the task definition lacks): each
    // is reconciled and reported, with no AWS call.
    let api = env.api::<MigrationJob>();
    let created: Vec<()> = futures::stream::iter(0..JOBS)
        .map(|i| {
            let api = api.clone();
            async move {
                let yaml = inline_job(
                    &format!("churn-{i:03}"),
                    "shop/migrate:1.0",
                    "  container: missing\n",
                );
                let job: MigrationJob = serde_yaml::from_str(&yaml).unwrap();
                api.create(&PostParams::default(), &job).await.unwrap();
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert_eq!(created.len(), JOBS);

    // Evidence that berth reconciled every one: its InvalidSpec condition.
    let mut peak = reconciles_before;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let jobs = api.list(&ListParams::default()).await.unwrap().items;
        let reported = jobs
            .iter()
            .filter(|j| {
                j.status.as_ref().is_some_and(|s| {
                    condition(&s.conditions, "Degraded").is_some_and(|c| c.1 == "InvalidSpec")
                })
            })
            .count();
        peak = peak.max(tracked(&env, "reconciles").await);
        if reported == JOBS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{reported} of {JOBS} jobs report InvalidSpec"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        peak >= reconciles_before + JOBS as f64,
        "every job reconciled has an entry: peak {peak}"
    );
    assert_eq!(env.berth_calls("ecs", "RunTask"), 0);

    api.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let left = api.list(&ListParams::default()).await.unwrap().items.len();
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} jobs still there\n{}",
            berth_e2e::tail(&env.berth_log(), 25)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Every entry goes with its object.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (reconciles, memos) = (
            tracked(&env, "reconciles").await,
            tracked(&env, "memos").await,
        );
        peak = peak.max(reconciles);
        if reconciles == reconciles_before && memos == memos_before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bookkeeping after the churn: reconciles {reconciles} (before {reconciles_before}), \
             memos {memos} (before {memos_before})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "{JOBS} MigrationJobs created and deleted in {:?}: berth_tracked_objects{{map=\"reconciles\"}} \
         {reconciles_before} -> peak {peak} -> {reconciles_before}",
        started.elapsed()
    );
    assert!(
        env.debug_get("/debug/reconciles")
            .await
            .unwrap()
            .trim()
            .eq("{}"),
        "the debug listing is empty again"
    );
}
