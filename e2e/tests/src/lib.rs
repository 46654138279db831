//! End-to-end test framework: each test gets a fresh namespace on a real
//! kube-apiserver (`KUBECONFIG`, set by `e2e/cluster/with-control-plane.sh`),
//! its own in-process awsim, and its own `berth run` process watching only
//! that namespace. Helpers apply manifests by server-side apply, wait for
//! conditions with a failure message that dumps status, Events and berth's
//! log, read awsim's call counters, and wait for berth to have reconciled an
//! object (its `/debug/reconciles` counts, on the loopback `--debug-addr`
//! every test's berth gets), the evidence a "nothing happened" assertion
//! needs.
#![forbid(unsafe_code)]

use std::fmt::Debug;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::pinned_kind;
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use awsim;
pub use berth;

mod aws_state;
mod berth_command;
mod call_log;
pub mod conditions;
pub mod ecr_state;
mod env_variants;
pub mod examples;
pub mod measure;
pub mod processes;
mod readable;
mod releases;

pub use aws_state::RdsCounts;
pub use berth_command::berth_bin;
use berth_command::BerthRun;
use readable::event_lines;
pub use readable::{assert_conditions_readable, assert_events_readable};
pub use releases::task_definition_arn;

/// Field manager of everything the tests apply (as a user's kubectl would).
pub const MANAGER: &str = "e2e-user";
/// Account id the examples use; every test's awsim runs as this account.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// A Kubernetes client for the cluster in `KUBECONFIG`. The end-to-end
/// suite must not pass without one, so a missing config fails loudly.
pub async fn client() -> Client {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "KUBECONFIG is not set: run the end-to-end tests through \
         e2e/cluster/with-control-plane.sh (or ./e2e/test.sh)"
    );
    Client::try_default()
        .await
        .expect("connecting to the cluster in KUBECONFIG")
}

/// Installs berth's CRDs the way `berth crds --install` does. Idempotent,
/// so every test may call it.
pub async fn install_crds(client: &Client) -> anyhow::Result<()> {
    // Tests of one binary share the cluster: install once per process.
    static INSTALLED: tokio::sync::Mutex<bool> = tokio::sync::Mutex::const_new(false);
    let mut done = INSTALLED.lock().await;
    if !*done {
        berth::runtime::crds::install(client).await?;
        *done = true;
    }
    Ok(())
}

/// A namespaced Kubernetes object the helpers read, patch and wait on.
pub trait Object:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + Debug + DeserializeOwned
{
}

impl<K> Object for K where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + DeserializeOwned
{
}

/// Options for a test environment.
#[derive(Clone, Debug)]
pub struct Options {
    /// awsim virtual seconds per real second.
    pub time_scale: f64,
    /// AWS-like throttling in awsim.
    pub throttle: bool,
    /// berth's `--resync-interval`.
    pub resync_interval: String,
    /// Start `berth run` right away.
    pub start_berth: bool,
    /// berth's `--leader-election` (off: one process per test needs no Lease).
    pub leader_election: bool,
    /// Extra environment of `berth run`, set last (e.g. `KUBECONFIG` to run
    /// berth as another identity, `POD_NAME`).
    pub berth_env: Vec<(String, String)>,
    /// berth watches every namespace (no `--namespace`), as one install
    /// serving several tenants does. Only for tests in
    /// `e2e/tests/tests/tenancy_*.rs`: `./e2e/test.sh` runs them on a
    /// control plane of their own, one at a time, so no other test's
    /// objects are there; berth objects an earlier tenancy test left behind
    /// are removed before berth starts (see [`Env::purge_other_namespaces`]).
    pub all_namespaces: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            time_scale: 30.0,
            throttle: true,
            resync_interval: "5m".into(),
            start_berth: true,
            leader_election: false,
            berth_env: Vec::new(),
            all_namespaces: false,
        }
    }
}

/// One test's world: a namespace, an awsim, a berth process.
pub struct Env {
    pub client: Client,
    /// The namespace the helpers act in (see [`Env::use_namespace`]).
    pub ns: String,
    /// The namespace this test created first.
    pub home: String,
    pub awsim: awsim::Handle,
    options: Options,
    berth: Option<Child>,
    log_path: PathBuf,
    /// berth's `--admin-addr` port, the same across restarts so the
    /// reconcile counts of the new process are read from the same place.
    admin_port: u16,
    /// berth's `--debug-addr` port (loopback), likewise.
    debug_port: u16,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl Env {
    pub async fn new(name: &str) -> Env {
        Self::with_options(name, Options::default()).await
    }

    pub async fn with_options(name: &str, options: Options) -> Env {
        let client = client().await;
        install_crds(&client).await.expect("installing CRDs");
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let ns = format!(
            "e2e-{name}-{:x}{:x}",
            nanos % 0xfffff,
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let mut object = Namespace::default();
        object.metadata.name = Some(ns.clone());
        namespaces
            .create(&PostParams::default(), &object)
            .await
            .expect("creating the test namespace");

        let seed: awsim::Seed = serde_json::from_str(
            &fs::read_to_string(workspace_root().join("e2e/demo/seed.json"))
                .expect("reading e2e/demo/seed.json"),
        )
        .expect("parsing e2e/demo/seed.json");
        let awsim = awsim::start(awsim::Config {
            account_id: ACCOUNT.into(),
            region: REGION.into(),
            time_scale: options.time_scale,
            throttle: options.throttle,
            // The same world as the demo: cluster `shop`, Cloud Map namespace
            // `shop.internal`, the example's secrets and ECR repositories.
            seed: Some(seed),
            ..awsim::Config::default()
        })
        .await;

        let log_dir = target_dir().join("e2e-logs");
        fs::create_dir_all(&log_dir).expect("creating target/e2e-logs");
        let log_path = log_dir.join(format!("{ns}.berth.log"));
        let mut env = Env {
            client,
            home: ns.clone(),
            ns,
            awsim,
            options,
            berth: None,
            log_path,
            admin_port: free_port(),
            debug_port: free_port(),
        };
        if env.options.all_namespaces {
            env.purge_other_namespaces().await;
        }
        if env.options.start_berth {
            env.start_berth();
        }
        env
    }

    /// Another namespace (`<this namespace>-<suffix>`), created now, for a
    /// second tenant of a berth that watches every namespace.
    pub async fn create_namespace(&self, suffix: &str) -> String {
        let name = format!("{}-{suffix}", self.home);
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let mut object = Namespace::default();
        object.metadata.name = Some(name.clone());
        namespaces
            .create(&PostParams::default(), &object)
            .await
            .expect("creating a second namespace");
        name
    }

    /// Merges `annotations` into Namespace `ns`, as a cluster admin would
    /// (berth's region, role and allow-list annotations live there).
    pub async fn annotate_namespace(&self, ns: &str, annotations: serde_json::Value) {
        Api::<Namespace>::all(self.client.clone())
            .patch(
                ns,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"metadata": {"annotations": annotations}})),
            )
            .await
            .expect("annotating the namespace");
    }

    /// Later calls (apply, api, wait_for, events, reconciles, kubectl) act in
    /// `ns`; `use_namespace(&env.home.clone())` goes back.
    pub fn use_namespace(&mut self, ns: &str) {
        self.ns = ns.to_string();
    }

    /// Strips the finalizers of and deletes every berth object outside this
    /// test's namespaces, so that a berth watching every namespace never
    /// acts for an earlier test's objects against this test's awsim.
    async fn purge_other_namespaces(&self) {
        use berth::api::{AuroraCluster, EcsService, MigrationJob, PullThroughCache};
        use kube::api::ApiResource;
        let kinds = [
            ApiResource::erase::<EcsService>(&()),
            ApiResource::erase::<MigrationJob>(&()),
            ApiResource::erase::<AuroraCluster>(&()),
            ApiResource::erase::<PullThroughCache>(&()),
        ];
        for resource in kinds {
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource);
            let objects = api
                .list(&ListParams::default())
                .await
                .expect("listing berth objects");
            for obj in objects {
                let ns = obj.namespace().unwrap_or_default();
                if ns.starts_with(&self.home) {
                    continue;
                }
                let api: Api<DynamicObject> =
                    Api::namespaced_with(self.client.clone(), &ns, &resource);
                let name = obj.name_any();
                let strip = serde_json::json!({"metadata": {"finalizers": null}});
                let _ = api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&strip))
                    .await;
                let _ = api.delete(&name, &Default::default()).await;
            }
        }
    }

    /// Starts `berth run` for this namespace (its log: target/e2e-logs/NS.berth.log).
    pub fn start_berth(&mut self) {
        assert!(self.berth.is_none(), "berth is already running");
        let endpoint = self.awsim.endpoint();
        let child = BerthRun {
            log: &self.log_path,
            namespace: (!self.options.all_namespaces).then_some(self.home.as_str()),
            aws_endpoint: &endpoint,
            resync_interval: &self.options.resync_interval,
            admin_port: self.admin_port,
            leader_election: self.options.leader_election,
        }
        .command()
        .args(["--debug-addr", &format!("127.0.0.1:{}", self.debug_port)])
        .envs(self.options.berth_env.iter().map(|(k, v)| (k, v)))
        .spawn()
        .expect("starting berth");
        self.berth = Some(child);
    }

    /// The options the next `start_berth` uses.
    pub fn options_mut(&mut self) -> &mut Options {
        &mut self.options
    }

    /// Kills berth (SIGKILL: no graceful shutdown, like a crashed pod).
    pub fn kill_berth(&mut self) {
        if let Some(mut child) = self.berth.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// True while the berth process runs.
    pub fn berth_running(&mut self) -> bool {
        match self.berth.as_mut() {
            Some(child) => child.try_wait().map(|s| s.is_none()).unwrap_or(false),
            None => false,
        }
    }

    pub fn berth_log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Server-side applies every document of a YAML manifest into this
    /// namespace, as a user's `kubectl apply --server-side` would.
    pub async fn apply_yaml(&self, yaml: &str) -> anyhow::Result<Vec<DynamicObject>> {
        let mut applied = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(yaml) {
            let value = serde_yaml::Value::deserialize(doc)?;
            if value.is_null() {
                continue;
            }
            let mut obj: DynamicObject = serde_yaml::from_value(value)?;
            let types = obj
                .types
                .clone()
                .context("manifest without apiVersion/kind")?;
            let gvk = GroupVersionKind::try_from(&types)?;
            let (resource, caps) = pinned_kind(&self.client, &gvk).await?;
            let api: Api<DynamicObject> = if caps.scope == kube::discovery::Scope::Namespaced {
                obj.metadata.namespace = Some(self.ns.clone());
                Api::namespaced_with(self.client.clone(), &self.ns, &resource)
            } else {
                Api::all_with(self.client.clone(), &resource)
            };
            let name = obj.name_any();
            let out = api
                .patch(
                    &name,
                    &PatchParams::apply(MANAGER).force(),
                    &Patch::Apply(&obj),
                )
                .await
                .with_context(|| format!("applying {} {name}", gvk.kind))?;
            applied.push(out);
        }
        Ok(applied)
    }

    pub async fn apply_file(&self, path: impl AsRef<Path>) -> anyhow::Result<Vec<DynamicObject>> {
        let path = path.as_ref();
        let text = fs::read_to_string(path).with_context(|| path.display().to_string())?;
        self.apply_yaml(&text).await
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Polls `name` until `pred` holds; on timeout panics with the object's
    /// status, its recent Events and the tail of berth's log.
    pub async fn wait_for<K>(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&K) -> bool,
    ) -> K
    where
        K: Object + Serialize,
    {
        let api = self.api::<K>();
        let deadline = Instant::now() + timeout;
        let mut last = None;
        loop {
            match api.get_opt(name).await {
                Ok(Some(obj)) => {
                    assert_conditions_readable(&obj);
                    if pred(&obj) {
                        return obj;
                    }
                    last = Some(obj);
                }
                Ok(None) => {}
                Err(e) => eprintln!("get {name}: {e}"),
            }
            if Instant::now() > deadline {
                let dump = last
                    .map(|o| serde_yaml::to_string(&o).unwrap_or_default())
                    .unwrap_or_else(|| "(object not found)".into());
                panic!(
                    "timed out after {timeout:?} waiting for {} {name}: {what}\n\
                     --- object ---\n{dump}\n--- events ---\n{}\n--- berth log (tail) ---\n{}",
                    K::kind(&()),
                    self.events_dump(name).await.join("\n"),
                    tail(&self.berth_log(), 25)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// `type reason: note` of the events.k8s.io/v1 Events about `name`,
    /// oldest first. Every Event note in the namespace is checked as
    /// condition messages are ([`assert_events_readable`]): a test that
    /// reads Events also walks the notes real reconciles wrote.
    pub async fn events_for(&self, name: &str) -> Vec<String> {
        let events = match self.events().await {
            Ok(events) => events,
            Err(e) => return vec![format!("(listing events failed: {e})")],
        };
        assert_events_readable(&events);
        event_lines(events, name)
    }

    /// [`Env::events_for`] without the readability check, for the dump of
    /// a failure message (a second panic there would hide the first).
    async fn events_dump(&self, name: &str) -> Vec<String> {
        match self.events().await {
            Ok(events) => event_lines(events, name),
            Err(e) => vec![format!("(listing events failed: {e})")],
        }
    }

    async fn events(&self) -> kube::Result<Vec<Event>> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), &self.ns);
        Ok(api.list(&ListParams::default()).await?.items)
    }

    /// Runs kubectl against this cluster with `-n NS` appended.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
        Command::new(&kubectl)
            .args(args)
            .args(["-n", &self.ns])
            .output()
            .unwrap_or_else(|e| panic!("running {kubectl}: {e}"))
    }

    /// An aws-config for calls a test makes to awsim directly (as someone
    /// using the console or CLI would); awsim counts them under caller `e2e`.
    pub async fn aws(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(self.awsim.endpoint())
            .app_name(aws_config::AppName::new("e2e").unwrap())
            .credentials_provider(aws_sdk_ecs::config::Credentials::new(
                "AKIDE2E", "secret", None, None, "e2e",
            ))
            .load()
            .await
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.kill_berth();
        // A namespace is never deleted: without a kube-controller-manager
        // it would stay Terminating, and a fresh name per test isolates anyway.
    }
}

/// A loopback port nobody listens on right now. berth binds it a moment
/// later; the window in which another process could take it is small.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a free loopback port")
        .port()
}

/// The body of `GET path` on `127.0.0.1:port`, if the answer is 200.
async fn http_get(port: u16, path: &str) -> anyhow::Result<String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .context("no answer within 5 s")??;
    let response = String::from_utf8(response).context("a response that is not UTF-8")?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("a response without a header end")?;
    let status = head.lines().next().unwrap_or_default();
    anyhow::ensure!(status.split_whitespace().nth(1) == Some("200"), "{status}");
    // axum answers JSON with a Content-Length, never chunked, and closes
    // after the answer as asked: the rest of the stream is the body.
    Ok(body.to_string())
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The condition `type_` of a status condition list as (status, reason, message).
pub fn condition(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    type_: &str,
) -> Option<(String, String, String)> {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

impl Env {
    /// Calls berth made to `service:Action` (awsim counts per caller).
    pub fn berth_calls(&self, service: &str, action: &str) -> u64 {
        self.awsim.calls(Some("berth"))["byService"][service][action]
            .as_u64()
            .unwrap_or(0)
    }

    /// The task definitions of berth's UpdateService calls that asked for a
    /// new deployment: retries of a failed rollout.
    pub fn rollout_retries(&self) -> Vec<String> {
        let log = self.awsim.call_log(Some("berth"));
        log.as_array()
            .unwrap()
            .iter()
            .filter(|c| {
                c["action"] == "UpdateService" && c["params"]["forceNewDeployment"] == "true"
            })
            .map(|c| {
                c["params"]["taskDefinition"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    /// Sets annotation `key` of `name` to `value` (`null` removes it), as
    /// `kubectl annotate` would.
    pub async fn annotate<K>(&self, name: &str, key: &str, value: serde_json::Value) -> K
    where
        K: Object,
    {
        self.merge_patch::<K>(
            name,
            serde_json::json!({"metadata": {"annotations": {key: value}}}),
        )
        .await
    }

    /// Patches an object with a JSON merge patch, as `kubectl patch --type merge` would.
    pub async fn merge_patch<K>(&self, name: &str, patch: serde_json::Value) -> K
    where
        K: Object,
    {
        self.api::<K>()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patching {name}: {e}"))
    }
}

impl Env {
    /// Waits until `name` is gone (its finalizer released it); on timeout
    /// panics with the tail of berth's log.
    pub async fn wait_gone<K>(&self, name: &str, timeout: Duration)
    where
        K: Object,
    {
        let deadline = Instant::now() + timeout;
        while self.api::<K>().get_opt(name).await.unwrap().is_some() {
            assert!(
                Instant::now() < deadline,
                "{} {name} was never released\n--- berth log (tail) ---\n{}",
                K::kind(&()),
                tail(&self.berth_log(), 25)
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Deletes `name` as `kubectl delete` would and waits until it is gone.
    pub async fn delete_and_wait<K>(&self, name: &str, timeout: Duration)
    where
        K: Object,
    {
        self.api::<K>()
            .delete(name, &Default::default())
            .await
            .unwrap_or_else(|e| panic!("deleting {name}: {e}"));
        self.wait_gone::<K>(name, timeout).await;
    }
}

impl Env {
    /// The body of `GET path` on berth's `--admin-addr`; `Err` with the
    /// status line unless the answer is 200.
    pub async fn admin_get(&self, path: &str) -> anyhow::Result<String> {
        http_get(self.admin_port, path).await
    }

    /// The same on berth's loopback `--debug-addr`.
    pub async fn debug_get(&self, path: &str) -> anyhow::Result<String> {
        http_get(self.debug_port, path).await
    }

    /// Waits until `path` on the admin address answers 200 and returns the
    /// body (`/readyz` does once every watch has listed, which a loaded API
    /// server can take a while to finish after the first reconcile).
    pub async fn wait_admin_answers(&self, path: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            match self.admin_get(path).await {
                Ok(body) => return body,
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "berth's {path} never answered 200: {e:#}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Reconcile evidence: berth's `/debug/reconciles` counts for one object.
/// A test that asserts "nothing happened" after a trigger reads `started`,
/// triggers, and waits with [`Env::wait_reconciled_since`]: without that,
/// the assertion would also pass if berth never looked at the object.
impl Env {
    /// `(started, finished)` reconciles of `kind/name` in this namespace by
    /// the running berth process (`(0, 0)` before its first one). The counts
    /// start at 0 in a restarted berth. While berth is down or still
    /// starting, retries for up to a minute.
    pub async fn reconciles(&self, kind: &str, name: &str) -> (u64, u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.try_reconciles(kind, name).await {
                Ok(counts) => return counts,
                Err(e) if Instant::now() > deadline => panic!(
                    "berth's /debug/reconciles did not answer: {e:#}\n--- berth log (tail) ---\n{}",
                    tail(&self.berth_log(), 25)
                ),
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    async fn try_reconciles(&self, kind: &str, name: &str) -> anyhow::Result<(u64, u64)> {
        let body = http_get(self.debug_port, "/debug/reconciles").await?;
        let all: serde_json::Value = serde_json::from_str(&body).context("parsing the JSON")?;
        let counts = &all[format!("{kind}/{}/{name}", self.ns)];
        Ok((
            counts["started"].as_u64().unwrap_or(0),
            counts["finished"].as_u64().unwrap_or(0),
        ))
    }

    /// Waits until berth has finished more reconciles of `kind/name` than it
    /// had started when the caller read `started_before` (from
    /// [`Env::reconciles`]): so at least one whole reconcile began after
    /// that read. After a restart pass 0: the new process reconciles every
    /// object once at start. Returns the counts it saw; on timeout panics
    /// with the tail of berth's log.
    pub async fn wait_reconciled_since(
        &self,
        kind: &str,
        name: &str,
        started_before: u64,
        timeout: Duration,
    ) -> (u64, u64) {
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.try_reconciles(kind, name).await;
            match &last {
                Ok((started, finished)) if *finished > started_before => {
                    return (*started, *finished)
                }
                _ => {}
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {timeout:?} waiting for berth to reconcile {kind} {name} \
                     (finished > {started_before}); last read: {last:?}\n\
                     --- events ---\n{}\n--- berth log (tail) ---\n{}",
                    self.events_dump(name).await.join("\n"),
                    tail(&self.berth_log(), 25)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Changes `berth.dev/refresh` on `name` (a user's "reconcile now") and
    /// waits until berth has reconciled it since: for triggers that change
    /// nothing berth watches, such as re-applying an unchanged manifest.
    pub async fn refresh_and_wait<K>(&self, name: &str, timeout: Duration)
    where
        K: Object,
    {
        let kind = K::kind(&()).to_string();
        let (started, _) = self.reconciles(&kind, name).await;
        let value = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            .to_string();
        self.merge_patch::<K>(
            name,
            serde_json::json!({"metadata": {"annotations": {"berth.dev/refresh": value}}}),
        )
        .await;
        self.wait_reconciled_since(&kind, name, started, timeout)
            .await;
    }
}
