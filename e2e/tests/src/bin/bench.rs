//! How many services can one berth run, how close to AWS's own limits does
//! it converge, and what does it cost while nothing changes?
//!
//! `e2e/cluster/with-control-plane.sh cargo run --release -p berth-e2e --bin bench -- --services 100`
//!
//! For each N (default 100, then 1000): release builds of awsim (AWS's
//! published token buckets, `--throttle-profile aws`, and AWS-like latency
//! per call) and berth as child processes, N EcsServices in 4 ECS clusters,
//! each gated by a PreRollout MigrationJob, then:
//!   a. cold start: everything applied at once, until every service is Ready
//!      and every migration Succeeded;
//!   b. release: every image bumped, until every migration ran again and
//!      every service is Ready on the new revision;
//!   c. steady state over 3 resync intervals (berth restarted with the
//!      short resync; a and b run at its default): AWS calls per minute,
//!      DescribeServices per resync against the ideal, berth's CPU;
//!   d. the lower bound any client could reach from the profile's buckets;
//!   e. one service's release by berth against the same release scripted
//!      with the SDK and the CLI waiters' polling.
//! Then a table and the goals, PASS or FAIL. `--write-readme` puts the table
//! between `<!-- bench:begin -->` and `<!-- bench:end -->` in README.md.
#![forbid(unsafe_code)]

#[path = "bench/procs.rs"]
mod procs;
#[path = "bench/report.rs"]
mod report;
#[path = "bench/script.rs"]
mod script;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use berth::api::conditions::{is_true, READY};
use berth::api::migration_job::Phase;
use berth::api::{EcsService, MigrationJob};
use berth_e2e::measure::{parse_metrics, Metrics};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::{json, Value};

use procs::{get_json, http};
use report::{Counts, Run};

pub const CLUSTERS: [&str; 4] = ["bench-a", "bench-b", "bench-c", "bench-d"];
const MANAGER: &str = "bench";

pub struct Args {
    services: Vec<usize>,
    write_readme: bool,
    latency: String,
    resync: u64,
    time_scale: f64,
    sample: usize,
    build: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        services: vec![100, 1000],
        write_readme: false,
        latency: "30-120".into(),
        resync: 20,
        time_scale: 30.0,
        sample: 5,
        build: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--services" => {
                args.services = value()?
                    .split(',')
                    .map(|n| n.trim().parse())
                    .collect::<Result<_, _>>()?
            }
            "--write-readme" => args.write_readme = true,
            "--latency-ms" => args.latency = value()?,
            "--resync-seconds" => args.resync = value()?.parse()?,
            "--time-scale" => args.time_scale = value()?.parse()?,
            "--sample" => args.sample = value()?.parse()?,
            "--no-build" => args.build = false,
            "-h" | "--help" => {
                println!(
                    "bench [--services N[,M...]] (default 100,1000) [--latency-ms 30-120] \
                     [--resync-seconds 20] [--time-scale 30] [--sample 5] [--no-build] [--write-readme]"
                );
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other} (see --help)"),
        }
    }
    Ok(args)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let root = berth_e2e::workspace_root();
    if args.build {
        procs::build_release(&root)?;
    }
    let client = berth_e2e::client().await;
    berth_e2e::install_crds(&client).await?;
    let mut runs = Vec::new();
    for &n in &args.services {
        let run = bench(&args, &client, n).await?;
        report::print_run(&run);
        runs.push(run);
    }
    let table = report::table(&args, &runs);
    println!("\n{table}");
    if args.write_readme {
        report::write_readme(&root.join("README.md"), &table)?;
        println!("README.md: table written between the bench markers");
    }
    Ok(())
}

fn service(i: usize, image: &str) -> Value {
    json!({
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "EcsService",
        "metadata": {"name": format!("svc-{i:04}")},
        "spec": {
            "cluster": CLUSTERS[i % CLUSTERS.len()],
            "desiredCount": 1,
            "launchType": "FARGATE",
            "taskDefinition": {
                "family": format!("svc-{i:04}"),
                "cpu": 256,
                "memory": 512,
                "containers": [{"name": "app", "image": image}],
            },
            "networkConfiguration": {"subnets": [script::SUBNET]},
        }
    })
}

fn job(i: usize) -> Value {
    json!({
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "MigrationJob",
        "metadata": {"name": format!("svc-{i:04}-migrate")},
        "spec": {
            "serviceRef": {"name": format!("svc-{i:04}")},
            "hook": "PreRollout",
            "command": ["./app", "migrate"],
            "backoffLimit": 2,
        }
    })
}

fn image(tag: &str) -> String {
    format!("public.ecr.aws/nginx/nginx:{tag}")
}

/// Server-side applies every object, 32 at a time.
async fn apply_all(client: &Client, ns: &str, objects: Vec<Value>) -> anyhow::Result<()> {
    let params = PatchParams::apply(MANAGER).force();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(objects)
        .map(|obj| {
            let params = params.clone();
            async move {
                let name = obj["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if obj["kind"] == "EcsService" {
                    let api: Api<EcsService> = Api::namespaced(client.clone(), ns);
                    api.patch(&name, &params, &Patch::Apply(&obj)).await?;
                } else {
                    let api: Api<MigrationJob> = Api::namespaced(client.clone(), ns);
                    api.patch(&name, &params, &Patch::Apply(&obj)).await?;
                }
                anyhow::Ok(())
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    results.into_iter().collect()
}

/// What the bench polls: the services and jobs as berth reports them.
struct World {
    services: BTreeMap<String, EcsService>,
    jobs: BTreeMap<String, MigrationJob>,
}

async fn world(client: &Client, ns: &str, only: Option<usize>) -> anyhow::Result<World> {
    let s: Api<EcsService> = Api::namespaced(client.clone(), ns);
    let j: Api<MigrationJob> = Api::namespaced(client.clone(), ns);
    if let Some(i) = only {
        let (name, job) = (format!("svc-{i:04}"), format!("svc-{i:04}-migrate"));
        return Ok(World {
            services: BTreeMap::from([(name.clone(), s.get(&name).await?)]),
            jobs: BTreeMap::from([(job.clone(), j.get(&job).await?)]),
        });
    }
    let key = |m: &kube::api::ObjectMeta| m.name.clone().unwrap_or_default();
    Ok(World {
        services: s
            .list(&Default::default())
            .await?
            .items
            .into_iter()
            .map(|o| (key(&o.metadata), o))
            .collect(),
        jobs: j
            .list(&Default::default())
            .await?
            .items
            .into_iter()
            .map(|o| (key(&o.metadata), o))
            .collect(),
    })
}

fn revision(s: &EcsService) -> i64 {
    s.status.as_ref().and_then(|st| st.revision).unwrap_or(0)
}

fn ready_on(s: &EcsService, rev: i64) -> bool {
    s.status
        .as_ref()
        .is_some_and(|st| is_true(&st.conditions, READY) && st.revision == Some(rev))
}

fn run_hash(j: &MigrationJob) -> Option<String> {
    j.status.as_ref().and_then(|s| s.run_hash.clone())
}

fn succeeded_since(j: &MigrationJob, old: Option<&String>) -> bool {
    j.status.as_ref().is_some_and(|s| {
        s.phase == Some(Phase::Succeeded) && s.run_hash.is_some() && s.run_hash.as_ref() != old
    })
}

/// Polls once a second until every service `i` is Ready on `revs[i]` and
/// every job Succeeded on a run other than `old_runs[i]`.
async fn converge(
    client: &Client,
    ns: &str,
    names: &[usize],
    revs: &BTreeMap<usize, i64>,
    old_runs: &BTreeMap<usize, Option<String>>,
    timeout: Duration,
    what: &str,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut last_print = Instant::now();
    loop {
        let only = (names.len() == 1).then(|| names[0]);
        let w = world(client, ns, only).await?;
        let ready = names
            .iter()
            .filter(|i| {
                w.services
                    .get(&format!("svc-{i:04}"))
                    .is_some_and(|s| ready_on(s, revs[i]))
            })
            .count();
        let migrated = names
            .iter()
            .filter(|i| {
                w.jobs
                    .get(&format!("svc-{i:04}-migrate"))
                    .is_some_and(|j| succeeded_since(j, old_runs[i].as_ref()))
            })
            .count();
        if ready == names.len() && migrated == names.len() {
            return Ok(started.elapsed());
        }
        if names.len() > 1 && last_print.elapsed() > Duration::from_secs(30) {
            eprintln!(
                "  {what}: {:.0}s: {ready}/{n} Ready, {migrated}/{n} migrated",
                started.elapsed().as_secs_f64(),
                n = names.len()
            );
            last_print = Instant::now();
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "{what}: after {timeout:?}: {ready}/{} Ready, {migrated} migrated",
            names.len()
        );
        let every = if names.len() == 1 { 100 } else { 1000 };
        tokio::time::sleep(Duration::from_millis(every)).await;
    }
}

/// awsim's call counts for `caller`: `service:Action` -> calls, and the
/// throttled total.
async fn counts(awsim: u16, caller: &str) -> anyhow::Result<Counts> {
    let v = get_json(awsim, &format!("/_awsim/calls?caller={caller}")).await?;
    let mut by = BTreeMap::new();
    if let Some(services) = v["byService"].as_object() {
        for (svc, actions) in services {
            for (action, n) in actions.as_object().into_iter().flatten() {
                by.insert(format!("{svc}:{action}"), n.as_u64().unwrap_or(0));
            }
        }
    }
    Ok(Counts {
        by,
        throttled: v["throttled"].as_u64().unwrap_or(0),
        errors: v["errors"].as_u64().unwrap_or(0),
    })
}

async fn metrics(admin: u16) -> anyhow::Result<Metrics> {
    Ok(parse_metrics(&http(admin, "GET", "/metrics", "").await?))
}

/// EcsService reconciles berth finished so far, summed.
async fn service_reconciles(admin: u16) -> anyhow::Result<u64> {
    let v = get_json(admin, "/debug/reconciles").await?;
    Ok(v.as_object()
        .context("an object")?
        .iter()
        .filter(|(k, _)| k.starts_with("EcsService/"))
        .map(|(_, c)| c["finished"].as_u64().unwrap_or(0))
        .sum())
}

/// berth's admin server is up: its metrics answer.
async fn serving(admin: u16) -> anyhow::Result<()> {
    let up = Instant::now();
    while metrics(admin).await.is_err() {
        anyhow::ensure!(
            up.elapsed() < Duration::from_secs(30),
            "berth never served /metrics"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn bench(args: &Args, client: &Client, n: usize) -> anyhow::Result<Run> {
    let root = berth_e2e::workspace_root();
    let release = procs::release_dir(&root);
    let logs = release.join("../bench-logs");
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.subsec_nanos();
    let ns = format!("bench-{n}-{:x}", nanos % 0xfffff);
    eprintln!("\n== N={n}: namespace {ns}, logs in {}", logs.display());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let mut object = Namespace::default();
    object.metadata.name = Some(ns.clone());
    namespaces.create(&PostParams::default(), &object).await?;

    let (awsim_proc, endpoint, awsim) =
        procs::start_awsim(&release, &logs, &ns, &args.latency, args.time_scale)?;
    http(
        awsim,
        "POST",
        "/_awsim/seed",
        &json!({"clusters": CLUSTERS}).to_string(),
    )
    .await?;
    let throttle = get_json(awsim, "/_awsim/throttle").await?;
    // Cold start and release at berth's default resync, as installed: the
    // benchmark's short resync would add the polls of every service already
    // Ready for the whole run, a steady-state cost measured in c.
    let admin = procs::free_port();
    let tag = format!("{ns}-converge");
    let berth = procs::start_berth(&release, &logs, &tag, &ns, &endpoint, None, admin)?;
    let pid = berth.pid();
    serving(admin).await?;
    let mut run = Run::new(n, args, report::bounds(&throttle, n));
    let all: Vec<usize> = (0..n).collect();
    let timeout = |bound: f64| Duration::from_secs_f64((bound * 4.0).max(600.0));

    // a. Cold start.
    let m0 = metrics(admin).await?;
    let c0 = counts(awsim, "berth").await?;
    let cpu0 = procs::cpu_seconds(pid);
    let started = Instant::now();
    let mut objects = Vec::new();
    for i in 0..n {
        objects.push(job(i));
        objects.push(service(i, &image("1.27")));
    }
    apply_all(client, &ns, objects).await?;
    let applied = started.elapsed();
    let revs: BTreeMap<usize, i64> = all.iter().map(|&i| (i, 1)).collect();
    let none: BTreeMap<usize, Option<String>> = all.iter().map(|&i| (i, None)).collect();
    converge(
        client,
        &ns,
        &all,
        &revs,
        &none,
        timeout(run.bound_cold.0),
        "cold start",
    )
    .await?;
    run.cold_secs = started.elapsed().as_secs_f64();
    run.apply_secs = applied.as_secs_f64();
    let m1 = metrics(admin).await?;
    let c1 = counts(awsim, "berth").await?;
    run.cold_calls = c1.minus(&c0);
    run.cold_kube = report::kube_by_verb(&m1, &m0);
    run.cold_cpu = procs::cpu_seconds(pid) - cpu0;
    run.cold_rss = procs::peak_rss_mib(pid);
    eprintln!("  cold start: {:.0}s", run.cold_secs);

    // b. Release every service.
    let w = world(client, &ns, None).await?;
    let revs: BTreeMap<usize, i64> = all
        .iter()
        .map(|&i| {
            (
                i,
                w.services.get(&format!("svc-{i:04}")).map_or(0, revision) + 1,
            )
        })
        .collect();
    let old: BTreeMap<usize, Option<String>> = all
        .iter()
        .map(|&i| {
            (
                i,
                w.jobs
                    .get(&format!("svc-{i:04}-migrate"))
                    .and_then(run_hash),
            )
        })
        .collect();
    let cpu1 = procs::cpu_seconds(pid);
    let started = Instant::now();
    apply_all(
        client,
        &ns,
        all.iter().map(|&i| service(i, &image("1.28"))).collect(),
    )
    .await?;
    converge(
        client,
        &ns,
        &all,
        &revs,
        &old,
        timeout(run.bound_release.0),
        "release",
    )
    .await?;
    run.release_secs = started.elapsed().as_secs_f64();
    let m2 = metrics(admin).await?;
    let c2 = counts(awsim, "berth").await?;
    run.release_calls = c2.minus(&c1);
    run.release_kube = report::kube_by_verb(&m2, &m1);
    run.release_cpu = procs::cpu_seconds(pid) - cpu1;
    eprintln!("  release: {:.0}s", run.release_secs);

    // c. Steady state: berth restarted at the short resync, so that three
    // polling intervals fit in a minute (the figures are per interval);
    // measured from its second interval, once every service has been
    // reconciled since the restart.
    run.cold_release_rss = procs::peak_rss_mib(pid);
    drop(berth);
    let admin = procs::free_port();
    let tag = format!("{ns}-steady");
    let berth = procs::start_berth(
        &release,
        &logs,
        &tag,
        &ns,
        &endpoint,
        Some(args.resync),
        admin,
    )?;
    let pid = berth.pid();
    serving(admin).await?;
    let restarted = Instant::now();
    while service_reconciles(admin).await? < n as u64 {
        anyhow::ensure!(
            restarted.elapsed() < Duration::from_secs(600),
            "the restarted berth did not reconcile every service in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(args.resync)).await;
    let m3 = metrics(admin).await?;
    let c3 = counts(awsim, "berth").await?;
    let r3 = service_reconciles(admin).await?;
    let cpu3 = procs::cpu_seconds(pid);
    let started = Instant::now();
    eprintln!("  steady state: {}s", 3 * args.resync);
    tokio::time::sleep(Duration::from_secs(3 * args.resync)).await;
    run.steady_secs = started.elapsed().as_secs_f64();
    let m4 = metrics(admin).await?;
    let c4 = counts(awsim, "berth").await?;
    run.steady_calls = c4.minus(&c3);
    run.steady_kube = report::kube_by_verb(&m4, &m3);
    run.steady_cpu = procs::cpu_seconds(pid) - cpu3;
    run.steady_resyncs = (service_reconciles(admin).await? - r3) as f64 / n as f64;
    run.limiter_wait = report::family_sum(&m4, "berth_aws_limiter_wait_seconds_sum");

    // e. One service's release, berth vs the script, in the same awsim.
    let sample: Vec<usize> = (0..args.sample.min(n)).collect();
    for &i in &sample {
        let w = world(client, &ns, Some(i)).await?;
        let svc = &w.services[&format!("svc-{i:04}")];
        let rev = BTreeMap::from([(i, revision(svc) + 1)]);
        let old = BTreeMap::from([(i, run_hash(&w.jobs[&format!("svc-{i:04}-migrate")]))]);
        let started = Instant::now();
        apply_all(client, &ns, vec![service(i, &image(&format!("1.29-{i}")))]).await?;
        converge(
            client,
            &ns,
            &[i],
            &rev,
            &old,
            Duration::from_secs(600),
            "one release",
        )
        .await?;
        run.berth_one.push(started.elapsed().as_secs_f64());
    }
    let ecs = script::client(&endpoint);
    script::set_up(&ecs, CLUSTERS[0], sample.len()).await?;
    for &i in &sample {
        let took = script::release(&ecs, CLUSTERS[0], i, &image("1.28")).await?;
        run.script_one.push(took.as_secs_f64());
    }
    run.peak_rss = procs::peak_rss_mib(pid).max(run.cold_release_rss);
    run.total_throttled = counts(awsim, "berth").await?.throttled;
    run.script_calls = counts(awsim, "script").await?;
    drop(berth);
    drop(awsim_proc);
    Ok(run)
}
