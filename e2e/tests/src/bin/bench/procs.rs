//! The processes the benchmark drives: release builds of awsim and berth as
//! child processes, plus the little HTTP and /proc reading it needs.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_file(dir: &Path, name: &str) -> anyhow::Result<fs::File> {
    fs::create_dir_all(dir)?;
    Ok(fs::File::create(dir.join(name))?)
}

/// Extra command-line arguments from the environment, split on whitespace
/// (profiling runs, e.g. `BENCH_AWSIM_ARGS=--no-throttle`); figures from
/// such a run are not the benchmark's.
fn extra_args(var: &str) -> Vec<String> {
    std::env::var(var)
        .map(|v| v.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

/// `target/release/awsim` on a free port with AWS's token buckets and
/// `latency` per call; returns it and its endpoint.
pub fn start_awsim(
    release: &Path,
    logs: &Path,
    tag: &str,
    latency: &str,
    time_scale: f64,
) -> anyhow::Result<(Proc, String, u16)> {
    let mut child = Command::new(release.join("awsim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--account-id",
            berth_e2e::ACCOUNT,
        ])
        .args(["--region", berth_e2e::REGION, "--throttle-profile", "aws"])
        .args(["--latency-ms", latency])
        .args(["--time-scale", &time_scale.to_string()])
        .args(extra_args("BENCH_AWSIM_ARGS"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file(logs, &format!("awsim-{tag}.log"))?)
        .spawn()
        .context("starting target/release/awsim")?;
    let stdout = child.stdout.take().context("awsim's stdout")?;
    let proc = Proc { child };
    let mut line = String::new();
    let mut reader = BufReader::new(stdout);
    reader.read_line(&mut line)?;
    // Keep draining what awsim prints, so its writes never hit a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let endpoint = line
        .trim()
        .strip_prefix("awsim listening on ")
        .with_context(|| format!("awsim printed {line:?}"))?
        .to_string();
    let port = endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .context("awsim's port")?;
    Ok((proc, endpoint, port))
}

/// `target/release/berth run` for `ns`, its admin server on `admin_port`,
/// at `resync` seconds or berth's default resync.
pub fn start_berth(
    release: &Path,
    logs: &Path,
    tag: &str,
    ns: &str,
    endpoint: &str,
    resync: Option<u64>,
    admin_port: u16,
) -> anyhow::Result<Proc> {
    let log = log_file(logs, &format!("berth-{tag}.log"))?;
    let child = Command::new(release.join("berth"))
        .args(["run", "--namespace", ns, "--aws-endpoint-url", endpoint])
        .args(["--aws-region", berth_e2e::REGION])
        .args(resync.map(|s| format!("--resync-interval={s}s")))
        .args(["--admin-addr", &format!("127.0.0.1:{admin_port}")])
        .args(["--leader-election", "false"])
        .args(extra_args("BENCH_BERTH_ARGS"))
        .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
        .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("BERTH_EXIT_WITH_PARENT", "1")
        .env(
            "RUST_LOG",
            std::env::var("BENCH_BERTH_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting target/release/berth")?;
    Ok(Proc { child })
}

/// `cargo build --release -p berth -p awsim --bins`.
pub fn build_release(root: &Path) -> anyhow::Result<()> {
    eprintln!("building release binaries: cargo build --release -p berth -p awsim --bins");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-p", "berth", "-p", "awsim", "--bins"])
        .current_dir(root)
        .status()?;
    if !status.success() {
        bail!("cargo build --release failed: {status}");
    }
    Ok(())
}

pub fn release_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("release")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// One HTTP/1.1 exchange with `127.0.0.1:port`; the body of a 200.
pub async fn http(port: u16, method: &str, path: &str, body: &str) -> anyhow::Result<String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(60), exchange)
        .await
        .context("no answer within 60 s")??;
    let response = String::from_utf8(response)?;
    let (head, body) = response.split_once("\r\n\r\n").context("no header end")?;
    let status = head.lines().next().unwrap_or_default();
    anyhow::ensure!(
        status.split_whitespace().nth(1) == Some("200"),
        "{method} {path}: {status}"
    );
    Ok(body.to_string())
}

pub async fn get_json(port: u16, path: &str) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::from_str(&http(port, "GET", path, "").await?)?)
}

/// VmHWM of `pid`, in MiB.
pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// utime + stime of `pid`, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let ticks = *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    });
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // After the command: state is field 3, utime 14, stime 15.
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (field(11) + field(12)) / ticks
}

/// Cores, model and memory, from /proc.
pub fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".to_string(), |(_, m)| m.trim().to_string());
    let mem_gib = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    format!("{cores} cores ({model}), {mem_gib:.0} GiB memory")
}
