//! The `berth run` command line of every test's berth: [`Env::start_berth`]
//! and [`Env::spawn_berth`] build it here, so a flag or variable every berth
//! needs is written once.
//!
//! [`Env::start_berth`]: crate::Env::start_berth
//! [`Env::spawn_berth`]: crate::Env::spawn_berth

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{target_dir, REGION};

/// The berth binary under test (`BERTH_BIN`, else `target/debug/berth`).
pub fn berth_bin() -> PathBuf {
    std::env::var_os("BERTH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("debug/berth"))
}

/// What one test's berth processes differ in.
pub(crate) struct BerthRun<'a> {
    /// Where its output is appended.
    pub log: &'a Path,
    /// `--namespace`; `None`: it watches every namespace.
    pub namespace: Option<&'a str>,
    /// `--aws-endpoint-url` (awsim, or a proxy to it).
    pub aws_endpoint: &'a str,
    pub resync_interval: &'a str,
    /// `--admin-addr` on the loopback.
    pub admin_port: u16,
    pub leader_election: bool,
}

impl BerthRun<'_> {
    /// `berth run` with what every test's berth shares (test AWS
    /// credentials, exit with the test process, the log level, output
    /// appended to the log) and these flags. Callers add the flags and
    /// environment of their own.
    pub(crate) fn command(&self) -> Command {
        let bin = berth_bin();
        assert!(
            bin.exists(),
            "{} is missing: build it first (cargo build --bin berth)",
            bin.display()
        );
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log)
            .expect("opening berth's log");
        let mut command = Command::new(bin);
        command
            .arg("run")
            .env("AWS_ACCESS_KEY_ID", "AKIDE2ETEST")
            .env("AWS_SECRET_ACCESS_KEY", "e2e-secret")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("BERTH_EXIT_WITH_PARENT", "1")
            .env(
                "RUST_LOG",
                std::env::var("BERTH_E2E_LOG").unwrap_or_else(|_| "info,berth=debug".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        if let Some(ns) = self.namespace {
            command.args(["--namespace", ns]);
        }
        command
            .args(["--aws-endpoint-url", self.aws_endpoint])
            .args(["--aws-region", REGION])
            .args(["--resync-interval", self.resync_interval])
            .args(["--admin-addr", &format!("127.0.0.1:{}", self.admin_port)])
            .args([
                "--leader-election",
                if self.leader_election {
                    "true"
                } else {
                    "false"
                },
            ]);
        command
    }
}
