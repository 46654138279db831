//! More berth processes for one [`Env`] (the leader election tests): each
//! with its own admin port, log, `POD_NAME` and environment, and a TCP
//! [`Proxy`] a test can put in front of its Kubernetes or AWS traffic and
//! cut, as a network partition would.

use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

use super::berth_command::BerthRun;
use super::{free_port, http_get, tail, target_dir, Env};

/// How to start one more berth.
#[derive(Clone, Debug, Default)]
pub struct Spawn {
    /// Its AWS endpoint (default: the Env's awsim), e.g. a [`Proxy`] to it.
    pub aws_endpoint: Option<String>,
    /// Extra environment, set last (e.g. `KUBECONFIG` from [`kubeconfig_via`]).
    pub env: Vec<(String, String)>,
    /// The namespace it watches and keeps its Lease in (default: the Env's).
    pub namespace: Option<String>,
    /// It watches every namespace (as [`super::Options::all_namespaces`]);
    /// `namespace` still holds its Lease.
    pub all_namespaces: bool,
}

/// One `berth run --leader-election true` process; killed when dropped.
pub struct Berth {
    pub name: String,
    child: Child,
    admin_port: u16,
    log_path: PathBuf,
}

impl Env {
    /// Starts `berth run` named `name` (its `POD_NAME`, so the start of its
    /// Lease identity) for this namespace, electing a leader through the
    /// Lease in this namespace. Its log: target/e2e-logs/NS.NAME.log.
    pub fn spawn_berth(&self, name: &str, spawn: Spawn) -> Berth {
        let log_path = target_dir()
            .join("e2e-logs")
            .join(format!("{}.{name}.log", self.ns));
        let admin_port = free_port();
        let endpoint = spawn
            .aws_endpoint
            .clone()
            .unwrap_or_else(|| self.awsim.endpoint());
        let ns = spawn.namespace.as_deref().unwrap_or(&self.ns);
        let child = BerthRun {
            log: &log_path,
            namespace: (!spawn.all_namespaces).then_some(ns),
            aws_endpoint: &endpoint,
            resync_interval: &self.options.resync_interval,
            admin_port,
            leader_election: true,
        }
        .command()
        .args(["--lease-namespace", ns])
        .env("POD_NAME", name)
        .envs(spawn.env.iter().map(|(k, v)| (k, v)))
        .spawn()
        .expect("starting berth");
        Berth {
            name: name.into(),
            child,
            admin_port,
            log_path,
        }
    }
}

impl Berth {
    /// SIGKILL: no graceful shutdown, like a crashed pod or a lost node.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as the kubelet stops a pod.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -TERM {}", self.child.id());
    }

    /// Waits for the process to end; `None` if it still runs at `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// `/readyz`: `Ok(body)` on 200, else the status line or error.
    pub async fn readyz(&self) -> anyhow::Result<String> {
        http_get(self.admin_port, "/readyz").await
    }

    /// Waits until `/readyz` answers 200 with `body`.
    pub async fn wait_ready(&self, body: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.readyz().await;
            if last.as_ref().is_ok_and(|b| b.trim() == body) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: /readyz never answered 200 {body:?} in {timeout:?}; last: {last:?}\n--- log ---\n{}",
                self.name,
                tail(&self.log(), 25)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The sum of every series of metric family `name` (e.g.
    /// `berth_aws_calls_total`) on `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let body = http_get(self.admin_port, "/metrics")
            .await
            .unwrap_or_else(|e| panic!("{}: /metrics: {e:#}", self.name));
        body.lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback TCP proxy to `upstream` that [`Proxy::cut`] severs: open
/// connections drop and new ones are refused. Optionally rewrites a byte
/// string in what the client sends (same length, so no framing changes).
pub struct Proxy {
    port: u16,
    accept: JoinHandle<()>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
}

type Rewrite = Option<(&'static [u8], &'static [u8])>;

impl Proxy {
    pub async fn start(upstream: SocketAddr, rewrite: Rewrite) -> Proxy {
        if let Some((from, to)) = rewrite {
            assert_eq!(from.len(), to.len(), "a rewrite keeps the length");
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding");
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(Mutex::new(Vec::new()));
        let conns = connections.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        let _ = pipe(client, server, rewrite).await;
                    }
                });
                conns.lock().unwrap().push(task.abort_handle());
            }
        });
        Proxy {
            port,
            accept,
            connections,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn cut(&self) {
        self.accept.abort();
        for c in self.connections.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

async fn pipe(client: TcpStream, server: TcpStream, rewrite: Rewrite) -> std::io::Result<()> {
    let Some((from, to)) = rewrite else {
        let (mut c, mut s) = (client, server);
        tokio::io::copy_bidirectional(&mut c, &mut s).await?;
        return Ok(());
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = client_read.read(&mut buf).await?;
            if n == 0 {
                return server_write.shutdown().await;
            }
            // Headers are written at once and arrive in one read on
            // loopback; a pattern split across reads would pass unchanged.
            replace_all(&mut buf[..n], from, to);
            server_write.write_all(&buf[..n]).await?;
        }
    };
    let down = tokio::io::copy(&mut server_read, &mut client_write);
    let (a, b) = tokio::join!(up, down);
    a?;
    b.map(|_| ())
}

fn replace_all(buf: &mut [u8], from: &[u8], to: &[u8]) {
    let mut i = 0;
    while i + from.len() <= buf.len() {
        if &buf[i..i + from.len()] == from {
            buf[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
}

/// The API server's address in `KUBECONFIG` (its first cluster).
pub fn kube_upstream() -> SocketAddr {
    let (_, server) = kubeconfig();
    let hostport = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    hostport
        .parse()
        .unwrap_or_else(|e| panic!("API server {server:?} is not IP:port: {e}"))
}

fn kubeconfig() -> (serde_yaml::Value, String) {
    let path = std::env::var("KUBECONFIG").expect("KUBECONFIG");
    let text = fs::read_to_string(&path).expect("reading KUBECONFIG");
    let config: serde_yaml::Value = serde_yaml::from_str(&text).expect("parsing KUBECONFIG");
    let server = config["clusters"][0]["cluster"]["server"]
        .as_str()
        .expect("a cluster server in KUBECONFIG")
        .to_string();
    (config, server)
}

/// A copy of `KUBECONFIG` whose clusters are reached through `proxy`
/// (the serving certificate names 127.0.0.1, so TLS still verifies).
pub fn kubeconfig_via(proxy: &Proxy, name: &str) -> anyhow::Result<PathBuf> {
    let (mut config, _) = kubeconfig();
    let clusters = config["clusters"]
        .as_sequence_mut()
        .context("clusters in KUBECONFIG")?;
    for c in clusters {
        c["cluster"]["server"] = format!("https://127.0.0.1:{}", proxy.port()).into();
    }
    let path = target_dir()
        .join("e2e-logs")
        .join(format!("{name}.kubeconfig"));
    fs::write(&path, serde_yaml::to_string(&config)?)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rewrites_every_occurrence_in_place() {
        let mut b = b"ua app/berth x app/berth".to_vec();
        super::replace_all(&mut b, b"app/berth", b"app/cutld");
        assert_eq!(b, b"ua app/cutld x app/cutld");
    }
}
