//! Command-line interface: `berth run`, `berth crds`, `berth version`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "Deliver applications to Amazon ECS from Kubernetes"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start-up: the size of `Run`'s arguments costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controller (kubeconfig or in-cluster config, AWS default credential chain).
    Run(RunArgs),
    /// Print the CustomResourceDefinitions as YAML (or write one file per kind with --out).
    Crds {
        /// Write `<plural>.<group>.yaml` files into this directory instead of printing.
        #[arg(long, conflicts_with = "install")]
        out: Option<PathBuf>,
        /// Install them into the cluster of the current kubeconfig by server-side
        /// apply (without CEL rules on API servers older than 1.25) and wait
        /// until they are served.
        #[arg(long)]
        install: bool,
    },
    /// Print the version.
    Version,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "BERTH_NAMESPACE")]
    pub namespace: Option<String>,
    /// AWS region when the namespace has no `berth.dev/aws-region` annotation.
    #[arg(long, env = "AWS_REGION")]
    pub aws_region: Option<String>,
    /// Role to assume when the namespace has no `berth.dev/aws-role-arn` annotation
    /// (never with --require-namespace-role).
    #[arg(long, env = "BERTH_AWS_ROLE_ARN")]
    pub aws_role_arn: Option<String>,
    /// Refuse objects in namespaces without a `berth.dev/aws-role-arn`
    /// annotation (Degraded, reason NamespaceRoleRequired, no AWS call):
    /// in a shared cluster no tenant acts with berth's own AWS identity or
    /// with --aws-role-arn. Deleting such an object leaves its AWS
    /// resources in place, with a Warning Event.
    #[arg(
        long,
        env = "BERTH_REQUIRE_NAMESPACE_ROLE",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new(),
        default_value_t = false,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub require_namespace_role: bool,
    /// Send every AWS call to this endpoint (awsim in tests, or a VPC endpoint proxy).
    #[arg(long, env = "BERTH_AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
    /// Share of AWS's published per-account API rates berth uses (token
    /// buckets per throttling category and region/role); the rest is left to
    /// other clients of the account. 0 turns berth's rate limiter off.
    #[arg(long, env = "BERTH_AWS_RATE_FRACTION", default_value_t = 0.8)]
    pub aws_rate_fraction: f64,
    /// Reconciles of one kind running at once (the rest queue); bounds the
    /// memory a burst of changes can take (AWS calls are paced by the rate
    /// limiter). A reconcile waiting for a shared DescribeServices or
    /// DescribeTasks batch holds its slot for the batch window, so the bound
    /// must exceed the objects of a cluster polled together for the batches
    /// to fill.
    #[arg(long, env = "BERTH_MAX_CONCURRENT_RECONCILES", default_value_t = 128)]
    pub max_concurrent_reconciles: u16,
    /// Re-observe every resource at least this often to set back drift (e.g. 5m, 30s).
    #[arg(long, env = "BERTH_RESYNC_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub resync_interval: Duration,
    /// Address of the admin server (/metrics, /livez, /readyz).
    #[arg(long, env = "BERTH_ADMIN_ADDR", default_value = "0.0.0.0:8080")]
    pub admin_addr: String,
    /// Serve the debug endpoints (/debug/reconciles: reconcile counts of
    /// every object by namespace and name, unauthenticated) on this
    /// loopback address, e.g. 127.0.0.1:9090. Unset: nothing serves them.
    #[arg(long, env = "BERTH_DEBUG_ADDR", value_parser = crate::runtime::admin::loopback_addr)]
    pub debug_addr: Option<std::net::SocketAddr>,
    /// Elect a leader through a coordination.k8s.io Lease; only the leader writes.
    #[arg(long, env = "BERTH_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Namespace of the leader election Lease (default: the pod's namespace, else `default`).
    #[arg(long, env = "BERTH_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Name of the leader election Lease: replicas of one installation share
    /// it, two installations must not.
    #[arg(long, env = "BERTH_LEASE_NAME", default_value = crate::runtime::leader::DEFAULT_LEASE_NAME)]
    pub lease_name: String,
    /// Log format.
    #[arg(long, env = "BERTH_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

impl RunArgs {
    /// berth's own namespace: the leader election Lease's and the claims'.
    pub fn lease_namespace(&self) -> String {
        self.lease_namespace
            .clone()
            .or_else(|| self.namespace.clone())
            .unwrap_or_else(|| "default".into())
    }
}

/// A boolean environment variable: `1`, `true`, `yes` (any case) turn it
/// on; unset, empty, `0`, `false` and anything else leave it off.
pub fn env_flag(value: Option<&str>) -> bool {
    value.is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// Parses `90s`, `5m`, `1h` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30s, 5m or 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "ms" => return Ok(Duration::from_millis(n)),
        _ => return Err(format!("{s:?} is not a duration like 30s, 5m or 1h")),
    };
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5 minutes").is_err());
    }

    #[test]
    fn env_flags() {
        assert!(env_flag(Some("1")) && env_flag(Some("true")) && env_flag(Some("YES")));
        assert!(!env_flag(None) && !env_flag(Some("0")) && !env_flag(Some("")));
        assert!(!env_flag(Some("false")));
    }

    #[test]
    fn require_namespace_role_is_off_unless_asked_for() {
        let parsed = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command {
            Command::Run(run) => run.require_namespace_role,
            other => panic!("{other:?}"),
        };
        assert!(!parsed(&["berth", "run"]));
        assert!(parsed(&["berth", "run", "--require-namespace-role"]));
        assert!(parsed(&["berth", "run", "--require-namespace-role=true"]));
        assert!(!parsed(&["berth", "run", "--require-namespace-role=false"]));
    }

    #[test]
    fn the_debug_address_is_refused_off_loopback() {
        let parse = |addr: &str| Cli::try_parse_from(["berth", "run", "--debug-addr", addr]);
        let err = parse("0.0.0.0:9090").unwrap_err().to_string();
        assert!(err.contains("not a loopback address"), "{err}");
        let Command::Run(args) = parse("127.0.0.1:9090").unwrap().command else {
            panic!("not run")
        };
        assert_eq!(args.debug_addr, Some("127.0.0.1:9090".parse().unwrap()));
        let Command::Run(args) = Cli::try_parse_from(["berth", "run"]).unwrap().command else {
            panic!("not run")
        };
        assert_eq!(args.debug_addr, None, "off by default");
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
