//! awsim: an AWS simulator for berth's tests. One HTTP endpoint speaks the
//! real wire protocols of ECS, ECR, Secrets Manager, CloudWatch Logs, Cloud
//! Map (awsJson1_1), RDS and STS (awsQuery), so the real aws-sdk clients work
//! against it with `endpoint_url`. See README.md.
#![forbid(unsafe_code)]

pub mod calls;
pub mod clock;
pub mod cloudmap;
pub mod control;
pub mod core;
pub mod ecr;
pub mod ecs;
pub mod faults;
pub mod images;
pub mod logs;
pub mod protocol;
pub mod rds;
pub mod rules;
pub mod secrets;
pub mod server;
pub mod sts;
pub mod throttle;
pub mod util;
pub mod world;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use crate::faults::Faults;
pub use crate::images::{ImageBehavior, ImageRule};
pub use crate::throttle::{Rate, ThrottleProfile};
pub use crate::world::{Seed, World};

use crate::calls::CallLog;
use crate::clock::Clock;
use crate::core::Ctx;
use crate::throttle::Throttle;

#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    pub account_id: String,
    /// Region used when a request carries no SigV4 credential scope, and for
    /// background work.
    pub region: String,
    /// Virtual seconds per real second.
    pub time_scale: f64,
    /// AWS-like per-action throttling (overrides from the control API apply
    /// even when this is off).
    pub throttle: bool,
    /// Multiplies every default rate and burst (of either profile).
    pub throttle_scale: f64,
    /// Which buckets calls are charged to: one generic bucket per action
    /// (`Default`), or AWS's published per-category quotas (`Aws`).
    pub throttle_profile: ThrottleProfile,
    /// Real time between background ticks.
    pub tick_interval: Duration,
    /// Applied at start, like `POST /_awsim/seed`.
    pub seed: Option<Seed>,
    /// JSON snapshot loaded at start and saved periodically and on shutdown.
    pub state_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            account_id: "000000000000".into(),
            region: "us-east-1".into(),
            time_scale: 1.0,
            throttle: true,
            throttle_scale: 1.0,
            throttle_profile: ThrottleProfile::Default,
            tick_interval: Duration::from_millis(50),
            seed: None,
            state_file: None,
        }
    }
}

/// State shared by the HTTP handlers, the tick loop and [`Handle`].
pub struct Shared {
    pub config: Config,
    pub clock: Clock,
    pub world: Mutex<World>,
    pub throttle: Mutex<Throttle>,
    pub calls: Mutex<CallLog>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in one handler must not take the whole simulator down.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn ctx(&self, region: Option<&str>) -> Ctx {
        Ctx {
            account_id: self.config.account_id.clone(),
            region: region.unwrap_or(&self.config.region).to_string(),
            now: self.clock.now(),
        }
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    pub fn throttle(&self) -> MutexGuard<'_, Throttle> {
        lock(&self.throttle)
    }

    pub fn calls(&self) -> MutexGuard<'_, CallLog> {
        lock(&self.calls)
    }

    /// Locks the world and brings it up to the current virtual time, so every
    /// request sees a state consistent with its own timestamp.
    pub fn world_now(&self, region: Option<&str>) -> (MutexGuard<'_, World>, Ctx) {
        let mut world = self.world();
        let ctx = self.ctx(region);
        let tick_ctx = self.ctx(None);
        world.tick(&Ctx {
            now: ctx.now,
            ..tick_ctx
        });
        (world, ctx)
    }

    pub fn save_state(&self) -> anyhow::Result<()> {
        let Some(path) = &self.config.state_file else {
            return Ok(());
        };
        let json = serde_json::to_vec_pretty(&*self.world())?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

/// A running simulator. Dropping it stops the server and the tick loop.
pub struct Handle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

/// Starts awsim on `config.listen` and returns once it accepts connections.
pub async fn try_start(config: Config) -> anyhow::Result<Handle> {
    let mut world = World::default();
    if let Some(path) = &config.state_file {
        if path.exists() {
            let bytes = std::fs::read(path)?;
            world = serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("state file {}: {e}", path.display()))?;
        }
    }
    let start = clock::real_epoch_seconds().max(world.now);
    let shared = Arc::new(Shared {
        clock: Clock::new(start, config.time_scale),
        throttle: Mutex::new(
            Throttle::new(config.throttle, config.throttle_scale)
                .with_profile(config.throttle_profile),
        ),
        calls: Mutex::new(CallLog::default()),
        world: Mutex::new(world),
        config,
    });
    if let Some(seed) = &shared.config.seed {
        let (mut world, ctx) = shared.world_now(None);
        world.seed(&ctx, seed);
    }
    let listener = tokio::net::TcpListener::bind(shared.config.listen).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let app = server::router(shared.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    let ticker = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(shared.config.tick_interval);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut last_save = std::time::Instant::now();
            loop {
                interval.tick().await;
                drop(shared.world_now(None));
                if shared.config.state_file.is_some()
                    && last_save.elapsed() > Duration::from_secs(5)
                {
                    last_save = std::time::Instant::now();
                    if let Err(e) = shared.save_state() {
                        tracing::warn!("saving state: {e}");
                    }
                }
            }
        })
    };
    Ok(Handle {
        shared,
        addr,
        shutdown: Some(tx),
        tasks: vec![server, ticker],
    })
}

/// Like [`try_start`], for tests: panics when the port cannot be bound.
pub async fn start(config: Config) -> Handle {
    try_start(config).await.expect("awsim failed to start")
}

impl Handle {
    /// `http://127.0.0.1:PORT`, for the SDK's `endpoint_url`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn account_id(&self) -> &str {
        &self.shared.config.account_id
    }

    /// Current virtual time (epoch seconds).
    pub fn now(&self) -> f64 {
        self.shared.clock.now()
    }

    /// Moves the virtual clock forward and runs a tick at the new time.
    pub fn advance_clock(&self, seconds: f64) {
        self.shared.clock.advance(seconds);
        drop(self.shared.world_now(None));
    }

    pub fn set_time_scale(&self, scale: f64) {
        self.shared.clock.set_scale(scale);
    }

    pub fn seed(&self, seed: &Seed) -> Value {
        let (mut world, ctx) = self.shared.world_now(None);
        serde_json::to_value(world.seed(&ctx, seed)).unwrap_or(Value::Null)
    }

    pub fn add_image_rule(&self, rule: ImageRule) {
        self.shared.world().faults.image_rules.push(rule);
    }

    /// Makes every image whose reference starts with `prefix` fail to pull.
    pub fn fail_pulls(&self, prefix: &str) {
        self.shared
            .world()
            .faults
            .pull_failures
            .push(prefix.to_string());
    }

    pub fn set_subnet_without_egress(&self, subnet: &str) {
        self.shared
            .world()
            .faults
            .subnets_without_egress
            .insert(subnet.to_string());
    }

    /// Lets the next `count` successful calls of `action` (`ecs:CreateService`)
    /// take effect but answer with the service's 5xx, as if the response were
    /// lost; the call log records them as `lost`. 0 cancels.
    pub fn lose_responses(&self, action: &str, count: u32) {
        let mut w = self.shared.world();
        if count == 0 {
            w.faults.lose_responses.remove(action);
        } else {
            w.faults.lose_responses.insert(action.to_string(), count);
        }
    }

    /// Sets a CloudWatch alarm's state (`"ALARM"`, `"OK"`), as
    /// `POST /_awsim/alarms` does: a deployment whose
    /// `deploymentConfiguration.alarms` names it fails while it is in ALARM
    /// (and rolls back with `rollback: true`).
    pub fn set_alarm(&self, name: &str, state: &str) {
        set_alarm(&self.shared, name, state);
    }

    /// Replaces the text of the service event the deployment circuit
    /// breaker writes when it rolls back (`None`: ECS's usual text). The
    /// deployment records are unchanged.
    pub fn set_rollback_event_text(&self, text: Option<&str>) {
        self.shared.world().ecs.rollback_event_text = text.map(str::to_string);
    }

    pub fn set_faults(&self, faults: Faults) {
        self.shared.world().faults = faults;
    }

    /// Throttles `service:Action` (e.g. `ecs:DescribeClusters`) at `rate`
    /// real requests per second with `burst`; `None` restores the default.
    pub fn throttle(&self, key: &str, rate: Option<Rate>) {
        self.shared.throttle().set_override(key, rate);
    }

    /// Switches the throttling profile at runtime (`POST /_awsim/throttle`);
    /// every bucket starts full again. Overrides stay.
    pub fn set_throttle_profile(&self, profile: ThrottleProfile) {
        self.shared.throttle().set_profile(profile);
    }

    pub fn throttle_profile(&self) -> ThrottleProfile {
        self.shared.throttle().profile()
    }

    /// Call counts (see `GET /_awsim/calls`).
    pub fn calls(&self, caller: Option<&str>) -> Value {
        self.shared.calls().counts(caller)
    }

    /// How many calls of `service:Action` were made (all callers).
    pub fn call_count(&self, service: &str, action: &str) -> u64 {
        self.calls(None)["byService"][service][action]
            .as_u64()
            .unwrap_or(0)
    }

    pub fn call_log(&self, caller: Option<&str>) -> Value {
        serde_json::to_value(self.shared.calls().log(caller, 0)).unwrap_or(Value::Null)
    }

    pub fn reset_calls(&self) {
        self.shared.calls().reset();
    }

    /// The whole simulated state as JSON (`GET /_awsim/state`).
    pub fn state(&self) -> Value {
        let (world, _) = self.shared.world_now(None);
        serde_json::to_value(&*world).unwrap_or(Value::Null)
    }

    /// Stops the server and the tick loop and saves the state file.
    pub async fn shutdown(mut self) {
        self.stop();
        for t in self.tasks.drain(..) {
            let abort = t.abort_handle();
            // Idle keep-alive connections could hold a graceful shutdown open.
            if tokio::time::timeout(Duration::from_secs(2), t)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
            if let Err(e) = self.shared.save_state() {
                tracing::warn!("saving state: {e}");
            }
        }
        // The server task ends by itself on the shutdown signal; the ticker
        // loops forever.
        if let Some(ticker) = self.tasks.get(1) {
            ticker.abort();
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop();
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Sets an alarm's state; deployments see it on the next tick.
pub(crate) fn set_alarm(shared: &Shared, name: &str, state: &str) {
    let (mut world, _ctx) = shared.world_now(None);
    world
        .ecs
        .alarm_states
        .insert(name.to_string(), state.to_string());
}
