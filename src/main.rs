#![forbid(unsafe_code)]

use std::fs;
use std::io::Write;

use anyhow::Context;
use berth::api;
use berth::cli::{Cli, Command};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => {
            berth::telemetry::init(&args.log_format);
            if berth::cli::env_flag(std::env::var("BERTH_EXIT_WITH_PARENT").ok().as_deref()) {
                exit_with_parent();
            }
            berth::runtime::run(args).await
        }
        Command::Crds { install: true, .. } => {
            berth::telemetry::init("text");
            let client = kube::Client::try_default()
                .await
                .context("no Kubernetes configuration (KUBECONFIG or ~/.kube/config)")?;
            berth::runtime::crds::install(&client).await
        }
        Command::Crds { out: None, .. } => {
            let all: String = api::crds().iter().map(api::crd_yaml).collect();
            match std::io::stdout().write_all(all.as_bytes()) {
                // `berth crds | head` is fine.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other.context("writing to stdout"),
            }
        }
        Command::Crds { out: Some(dir), .. } => {
            fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for crd in api::crds() {
                let path = dir.join(api::crd_file_name(&crd));
                fs::write(&path, api::crd_yaml(&crd))
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(())
        }
        Command::Version => {
            println!("berth {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    }
}

/// Test harnesses set BERTH_EXIT_WITH_PARENT so that a killed test run
/// leaves no berth behind: when the parent dies the process is reparented.
fn exit_with_parent() {
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_millis(500));
        if std::os::unix::process::parent_id() != parent {
            std::process::exit(0);
        }
    });
}
