//! The figures of one run, the lower bound from the token buckets, the
//! goals and the README table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use berth_e2e::measure::Metrics;
use serde_json::Value;

use super::{Args, CLUSTERS};

/// awsim call counts by `service:Action`.
#[derive(Default, Clone, Debug)]
pub struct Counts {
    pub by: BTreeMap<String, u64>,
    pub throttled: u64,
    pub errors: u64,
}

impl Counts {
    pub fn minus(&self, before: &Counts) -> Counts {
        let by = self
            .by
            .iter()
            .map(|(k, v)| (k.clone(), v - before.by.get(k).copied().unwrap_or(0)))
            .filter(|(_, v)| *v > 0)
            .collect();
        Counts {
            by,
            throttled: self.throttled - before.throttled,
            errors: self.errors - before.errors,
        }
    }

    pub fn total(&self) -> u64 {
        self.by.values().sum()
    }

    pub fn get(&self, action: &str) -> u64 {
        self.by.get(action).copied().unwrap_or(0)
    }

    pub fn mutations(&self) -> BTreeMap<String, u64> {
        self.by
            .iter()
            .filter(|(a, _)| is_mutation(a))
            .map(|(a, n)| (a.clone(), *n))
            .collect()
    }
}

fn is_mutation(action: &str) -> bool {
    let name = action.split(':').nth(1).unwrap_or(action);
    !["Describe", "List", "Get", "Validate"]
        .iter()
        .any(|read| name.starts_with(read))
}

/// Everything one N measured.
pub struct Run {
    pub n: usize,
    pub resync: u64,
    pub latency: String,
    pub time_scale: f64,
    /// Lower bound (seconds) and the bucket that sets it.
    pub bound_cold: (f64, String),
    pub bound_release: (f64, String),
    pub apply_secs: f64,
    pub cold_secs: f64,
    pub cold_calls: Counts,
    pub cold_kube: BTreeMap<String, f64>,
    pub cold_cpu: f64,
    pub cold_rss: f64,
    /// Peak RSS of the berth that ran cold start and release.
    pub cold_release_rss: f64,
    pub release_secs: f64,
    pub release_calls: Counts,
    pub release_kube: BTreeMap<String, f64>,
    pub release_cpu: f64,
    pub steady_secs: f64,
    pub steady_calls: Counts,
    pub steady_kube: BTreeMap<String, f64>,
    pub steady_cpu: f64,
    pub steady_resyncs: f64,
    pub limiter_wait: f64,
    pub berth_one: Vec<f64>,
    pub script_one: Vec<f64>,
    pub script_calls: Counts,
    pub peak_rss: f64,
    pub total_throttled: u64,
}

impl Run {
    pub fn new(n: usize, args: &Args, bounds: ((f64, String), (f64, String))) -> Run {
        Run {
            n,
            resync: args.resync,
            latency: args.latency.clone(),
            time_scale: args.time_scale,
            bound_cold: bounds.0,
            bound_release: bounds.1,
            apply_secs: 0.0,
            cold_secs: 0.0,
            cold_calls: Counts::default(),
            cold_kube: BTreeMap::new(),
            cold_cpu: 0.0,
            cold_rss: 0.0,
            cold_release_rss: 0.0,
            release_secs: 0.0,
            release_calls: Counts::default(),
            release_kube: BTreeMap::new(),
            release_cpu: 0.0,
            steady_secs: 0.0,
            steady_calls: Counts::default(),
            steady_kube: BTreeMap::new(),
            steady_cpu: 0.0,
            steady_resyncs: 0.0,
            limiter_wait: 0.0,
            berth_one: Vec::new(),
            script_one: Vec::new(),
            script_calls: Counts::default(),
            peak_rss: 0.0,
            total_throttled: 0,
        }
    }

    /// Sum over clusters of ceil(services in the cluster / 10).
    pub fn ideal_describes(&self) -> f64 {
        (0..CLUSTERS.len())
            .map(|c| {
                let in_cluster = (0..self.n).filter(|i| i % CLUSTERS.len() == c).count();
                in_cluster.div_ceil(10) as f64
            })
            .sum()
    }

    pub fn describes_per_resync(&self) -> f64 {
        self.steady_calls.get("ecs:DescribeServices") as f64 / self.steady_resyncs.max(1e-9)
    }

    pub fn steady_cpu_pct(&self) -> f64 {
        100.0 * self.steady_cpu / self.steady_secs.max(1e-9)
    }

    pub fn per_minute(&self) -> BTreeMap<String, f64> {
        self.steady_calls
            .by
            .iter()
            .map(|(a, n)| (a.clone(), *n as f64 * 60.0 / self.steady_secs))
            .collect()
    }

    /// AWS calls per service for cold start and release together.
    pub fn calls_per_service(&self) -> f64 {
        (self.cold_calls.total() + self.release_calls.total()) as f64 / self.n as f64
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The lower bound from the `aws` profile's buckets (`/_awsim/throttle`'s
/// `categories`): for the calls the work needs, the max over categories of
/// (calls - burst) / refill. Cold start needs N RegisterTaskDefinition,
/// CreateService and RunTask (Fargate, one task each); a release N
/// RegisterTaskDefinition, UpdateService and RunTask.
pub fn bounds(throttle: &Value, n: usize) -> ((f64, String), (f64, String)) {
    let n = n as f64;
    let bound = |work: &[(&str, f64)]| {
        let mut best = (0.0, "none".to_string());
        for c in throttle["categories"].as_array().into_iter().flatten() {
            if c["service"] != "ecs" {
                continue;
            }
            let actions: Vec<&str> = c["actions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            // RunTask on Fargate on-demand: the call and the task launch
            // buckets apply; the Spot one does not.
            if c["applies"] == "fargateSpot" {
                continue;
            }
            let calls: f64 = work
                .iter()
                .filter(|(a, _)| actions.contains(a))
                .map(|(_, k)| k)
                .sum();
            let (burst, rate) = (
                c["burst"].as_f64().unwrap_or(0.0),
                c["rate"].as_f64().unwrap_or(1.0),
            );
            let secs = ((calls - burst) / rate).max(0.0);
            if secs > best.0 {
                best = (secs, c["name"].as_str().unwrap_or("?").to_string());
            }
        }
        best
    };
    (
        bound(&[
            ("RegisterTaskDefinition", n),
            ("CreateService", n),
            ("RunTask", n),
        ]),
        bound(&[
            ("RegisterTaskDefinition", n),
            ("UpdateService", n),
            ("RunTask", n),
        ]),
    )
}

/// `berth_kube_requests_total` between two samples, by verb.
pub fn kube_by_verb(after: &Metrics, before: &Metrics) -> BTreeMap<String, f64> {
    let mut by = BTreeMap::new();
    for (k, v) in after {
        if k.split('{').next() != Some("berth_kube_requests_total") {
            continue;
        }
        let verb = k
            .split("verb=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("?")
            .to_string();
        *by.entry(verb).or_default() += v - before.get(k).copied().unwrap_or(0.0);
    }
    by.retain(|_, v| *v > 0.0);
    by
}

pub fn family_sum(m: &Metrics, family: &str) -> f64 {
    m.iter()
        .filter(|(k, _)| k.split('{').next() == Some(family))
        .map(|(_, v)| v)
        .sum()
}

fn fmt_counts(c: &BTreeMap<String, u64>) -> String {
    c.iter()
        .map(|(a, n)| format!("{a}={n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn fmt_f(c: &BTreeMap<String, f64>, prec: usize) -> String {
    c.iter()
        .map(|(a, n)| format!("{a}={n:.prec$}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn print_run(r: &Run) {
    println!("\n== N={} services + {} PreRollout MigrationJobs in {} clusters (awsim --throttle-profile aws --latency-ms {} --time-scale {}; berth at its default resync, steady state at {}s)",
        r.n, r.n, CLUSTERS.len(), r.latency, r.time_scale, r.resync);
    println!(
        "a. cold start: {:.0}s (applied in {:.1}s); lower bound {:.0}s ({}): {:.2}x",
        r.cold_secs,
        r.apply_secs,
        r.bound_cold.0,
        r.bound_cold.1,
        r.cold_secs / r.bound_cold.0
    );
    println!(
        "   AWS calls ({} total, {} throttled, {} errors): {}",
        r.cold_calls.total(),
        r.cold_calls.throttled,
        r.cold_calls.errors,
        fmt_counts(&r.cold_calls.by)
    );
    println!("   API-server requests by verb: {}", fmt_f(&r.cold_kube, 0));
    println!(
        "   berth CPU {:.1}s, peak RSS {:.0} MiB",
        r.cold_cpu, r.cold_rss
    );
    println!(
        "b. release: {:.0}s; lower bound {:.0}s ({}): {:.2}x",
        r.release_secs,
        r.bound_release.0,
        r.bound_release.1,
        r.release_secs / r.bound_release.0
    );
    println!(
        "   AWS calls ({} total, {} throttled, {} errors): {}",
        r.release_calls.total(),
        r.release_calls.throttled,
        r.release_calls.errors,
        fmt_counts(&r.release_calls.by)
    );
    println!(
        "   API-server requests by verb: {}; berth CPU {:.1}s",
        fmt_f(&r.release_kube, 0),
        r.release_cpu
    );
    println!(
        "c. steady state over {:.0}s ({:.2} resyncs): AWS calls per minute: {}",
        r.steady_secs,
        r.steady_resyncs,
        fmt_f(&r.per_minute(), 1)
    );
    println!(
        "   DescribeServices per resync {:.1} (ideal {}), mutations {:?}, API-server requests {}, berth CPU {:.2}% of one core",
        r.describes_per_resync(),
        r.ideal_describes(),
        r.steady_calls.mutations(),
        fmt_f(&r.steady_kube, 0),
        r.steady_cpu_pct()
    );
    println!(
        "   berth_aws_limiter_wait_seconds_sum so far: {:.1}s",
        r.limiter_wait
    );
    println!(
        "e. one service's release: berth {} (median {:.1}s) vs script {} (median {:.1}s); script calls: {}",
        secs_list(&r.berth_one),
        median(&r.berth_one),
        secs_list(&r.script_one),
        median(&r.script_one),
        fmt_counts(&r.script_calls.by)
    );
    println!(
        "   berth peak RSS over the run {:.0} MiB, throttled berth calls {}",
        r.peak_rss, r.total_throttled
    );
}

fn secs_list(v: &[f64]) -> String {
    let s: Vec<String> = v.iter().map(|x| format!("{x:.1}")).collect();
    format!("[{}]s", s.join(", "))
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "FAIL"
    }
}

/// The figures and the goals, as Markdown.
pub fn table(args: &Args, runs: &[Run]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Machine: {}. awsim `--throttle-profile aws --latency-ms {} --time-scale {}`, {} ECS clusters; berth at its default resync (5 min) for cold start and release, restarted with `--resync-interval {}s` for the steady state.\n",
        super::procs::machine(),
        args.latency,
        args.time_scale,
        CLUSTERS.len(),
        args.resync
    );
    let _ = writeln!(
        t,
        "| Figure | {} |",
        runs.iter()
            .map(|r| format!("N={}", r.n))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(t, "|---|{}", "---|".repeat(runs.len()));
    let mut row = |name: &str, f: &dyn Fn(&Run) -> String| {
        let _ = writeln!(
            t,
            "| {name} | {} |",
            runs.iter().map(f).collect::<Vec<_>>().join(" | ")
        );
    };
    row("cold start: time / lower bound", &|r| {
        format!(
            "{:.0}s / {:.0}s = {:.2}x",
            r.cold_secs,
            r.bound_cold.0,
            r.cold_secs / r.bound_cold.0
        )
    });
    row("release: time / lower bound", &|r| {
        format!(
            "{:.0}s / {:.0}s = {:.2}x",
            r.release_secs,
            r.bound_release.0,
            r.release_secs / r.bound_release.0
        )
    });
    row("AWS calls per service (cold + release)", &|r| {
        format!("{:.1}", r.calls_per_service())
    });
    row("throttled berth calls", &|r| r.total_throttled.to_string());
    row("API-server requests (cold + release)", &|r| {
        format!(
            "{:.0}",
            r.cold_kube.values().sum::<f64>() + r.release_kube.values().sum::<f64>()
        )
    });
    row("steady: AWS calls per minute", &|r| {
        format!("{:.1}", r.per_minute().values().sum::<f64>())
    });
    row("steady: DescribeServices per resync (ideal)", &|r| {
        format!("{:.1} ({})", r.describes_per_resync(), r.ideal_describes())
    });
    row("steady: AWS mutations", &|r| {
        r.steady_calls.mutations().values().sum::<u64>().to_string()
    });
    row("steady: berth CPU, % of one core", &|r| {
        format!("{:.2}%", r.steady_cpu_pct())
    });
    row("berth CPU seconds (cold + release) per service", &|r| {
        format!("{:.3}", (r.cold_cpu + r.release_cpu) / r.n as f64)
    });
    row("berth peak RSS", &|r| format!("{:.0} MiB", r.peak_rss));
    row("one release, berth / script (median)", &|r| {
        format!(
            "{:.1}s / {:.1}s = {:.2}x",
            median(&r.berth_one),
            median(&r.script_one),
            median(&r.berth_one) / median(&r.script_one)
        )
    });
    let _ = writeln!(t);
    let _ = writeln!(t, "| Goal | Result |");
    let _ = writeln!(t, "|---|---|");
    let big = runs.iter().max_by_key(|r| r.n);
    let small = runs.iter().min_by_key(|r| r.n);
    if let Some(r) = big {
        let worst = (r.cold_secs / r.bound_cold.0).max(r.release_secs / r.bound_release.0);
        let at = if r.n >= 1000 {
            String::new()
        } else {
            format!(" (run at N={} only, not 1000)", r.n)
        };
        let _ = writeln!(t, "| N=1000 converges within 1.5x the lower bound, zero throttled calls{at} | {} ({worst:.2}x, {} throttled) |", verdict(worst <= 1.5 && r.total_throttled == 0), r.total_throttled);
        let _ = writeln!(
            t,
            "| peak RSS < 150 MiB at N=1000{at} | {} ({:.0} MiB) |",
            verdict(r.peak_rss < 150.0),
            r.peak_rss
        );
    }
    for r in runs {
        let muts: u64 = r.steady_calls.mutations().values().sum();
        // 10% for the edges of the measuring window.
        let describes_ok = r.describes_per_resync() <= 1.1 * r.ideal_describes();
        let _ = writeln!(t, "| N={}: steady state ≤ 1 DescribeServices per 10 services per cluster per resync, zero mutations | {} ({:.1} per resync, ideal {}, {muts} mutations) |", r.n, verdict(describes_ok && muts == 0), r.describes_per_resync(), r.ideal_describes());
        let _ = writeln!(
            t,
            "| N={}: steady-state CPU < 5% of one core | {} ({:.2}%) |",
            r.n,
            verdict(r.steady_cpu_pct() < 5.0),
            r.steady_cpu_pct()
        );
        let (b, s) = (median(&r.berth_one), median(&r.script_one));
        let _ = writeln!(
            t,
            "| N={}: one service's release faster than the script | {} ({b:.1}s vs {s:.1}s) |",
            r.n,
            verdict(b < s)
        );
    }
    match (small, big) {
        (Some(s), Some(b)) if b.n > s.n => {
            let calls = b.calls_per_service() / s.calls_per_service();
            let steady = (b.per_minute().values().sum::<f64>() / b.n as f64)
                / (s.per_minute().values().sum::<f64>() / s.n as f64);
            let _ = writeln!(t, "| cost linear in N: per-service AWS calls N={} / N={} within 1.2x | {} (calls per service {:.2}x, steady calls per service {:.2}x, peak RSS {:.2}x for {}x services) |",
                b.n, s.n, verdict(calls <= 1.2 && steady <= 1.2), calls, steady, b.peak_rss / s.peak_rss, b.n / s.n);
        }
        _ => {
            let _ = writeln!(
                t,
                "| cost linear in N | not measured (needs two sizes, e.g. --services 100,1000) |"
            );
        }
    }
    t
}

pub fn write_readme(path: &Path, table: &str) -> anyhow::Result<()> {
    const BEGIN: &str = "<!-- bench:begin -->";
    const END: &str = "<!-- bench:end -->";
    let text = std::fs::read_to_string(path)?;
    let start = text
        .find(BEGIN)
        .context("README.md has no <!-- bench:begin --> marker")?;
    let end = text
        .find(END)
        .context("README.md has no <!-- bench:end --> marker")?;
    anyhow::ensure!(start < end, "bench markers out of order");
    let out = format!("{}{BEGIN}\n{table}{}", &text[..start], &text[end..]);
    std::fs::write(path, out)?;
    Ok(())
}
