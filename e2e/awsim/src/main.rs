//! `awsim --listen 127.0.0.1:4566`: the simulator as a process, for the
//! end-to-end environment and demos.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser};

#[derive(Parser, Debug)]
#[command(
    name = "awsim",
    version,
    about = "AWS simulator for berth's tests: ECS, ECR, Cloud Map, RDS, Secrets Manager, CloudWatch Logs and STS on one endpoint"
)]
struct Args {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, env = "AWSIM_LISTEN", default_value = "127.0.0.1:4566")]
    listen: SocketAddr,
    /// AWS account id used in ARNs and STS answers.
    #[arg(long, env = "AWSIM_ACCOUNT_ID", default_value = "000000000000")]
    account_id: String,
    /// Region for requests without a SigV4 credential scope and for background work.
    #[arg(long, env = "AWSIM_REGION", default_value = "us-east-1")]
    region: String,
    /// Virtual seconds per real second (e.g. 60: a one-minute AWS wait takes one second).
    #[arg(long, env = "AWSIM_TIME_SCALE", default_value_t = 1.0)]
    time_scale: f64,
    /// Multiply every default throttling rate and burst by this factor.
    #[arg(long, env = "AWSIM_THROTTLE_SCALE", default_value_t = 1.0)]
    throttle_scale: f64,
    /// Throttling buckets: `default` (one generic bucket per action) or `aws`
    /// (AWS's published per-account, per-region category quotas; see README).
    #[arg(long, env = "AWSIM_THROTTLE_PROFILE", default_value = "default")]
    throttle_profile: awsim::ThrottleProfile,
    /// Disable default throttling (overrides set through the control API still apply).
    #[arg(long, env = "AWSIM_NO_THROTTLE")]
    no_throttle: bool,
    /// Real latency added to every AWS API call, in milliseconds: `N`, or
    /// `MIN-MAX` drawn uniformly per call (e.g. `30-120`, AWS-like). Also
    /// settable at run time: `POST /_awsim/faults {"latencyMs": "30-120"}`.
    #[arg(long, env = "AWSIM_LATENCY_MS", default_value = "0")]
    latency_ms: awsim::faults::Latency,
    /// Real milliseconds between simulation ticks.
    #[arg(long, default_value_t = 50)]
    tick_ms: u64,
    /// JSON seed applied at start: {clusters, namespaces:[{name,vpc}], secrets:[{name,value}], repositories, subnetsWithoutEgress, imageRules}.
    #[arg(long, env = "AWSIM_SEED")]
    seed: Option<PathBuf>,
    /// JSON snapshot of the state: loaded at start when it exists, saved every 5 s and on shutdown.
    #[arg(long, env = "AWSIM_STATE_FILE")]
    state_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let help = format!(
        "Point an AWS SDK or CLI at it with endpoint_url=http://LISTEN; any credentials work, \
         the region comes from the request signature.\n\nControl API (JSON):\n{}\n\n\
         Image conventions: see e2e/awsim/README.md (exit-N, sleep-N, unhealthy, crashloop, pullfail).",
        awsim::control::ENDPOINTS
    );
    let matches = Args::command().after_help(help).get_matches();
    let args = Args::from_arg_matches(&matches)?;
    let seed = match &args.seed {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Some(
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("parsing {}", path.display()))?,
            )
        }
        None => None,
    };
    let config = awsim::Config {
        listen: args.listen,
        account_id: args.account_id,
        region: args.region,
        time_scale: args.time_scale,
        throttle: !args.no_throttle,
        throttle_scale: args.throttle_scale,
        throttle_profile: args.throttle_profile,
        tick_interval: Duration::from_millis(args.tick_ms.max(1)),
        seed,
        state_file: args.state_file,
    };
    let handle = awsim::try_start(config).await?;
    if !args.latency_ms.is_zero() {
        handle.shared().world().faults.latency_ms = args.latency_ms;
    }
    println!("awsim listening on {}", handle.endpoint());
    shutdown_signal().await;
    handle.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
