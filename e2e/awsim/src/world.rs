//! All simulated state behind one lock, seeding and the tick that advances
//! every service to the current virtual time.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cloudmap::CloudMapState;
use crate::core::{AwsResult, Ctx};
use crate::ecr::EcrState;
use crate::ecs::{EcsEnv, EcsState};
pub use crate::faults::Faults;
use crate::images::ImageRule;
use crate::logs::LogsState;
use crate::rds::RdsState;
use crate::secrets::SecretsState;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Seed {
    pub clusters: Vec<String>,
    pub namespaces: Vec<SeedNamespace>,
    pub secrets: Vec<SeedSecret>,
    pub repositories: Vec<String>,
    pub subnets_without_egress: Vec<String>,
    pub image_rules: Vec<ImageRule>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SeedNamespace {
    pub name: String,
    pub vpc: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SeedSecret {
    pub name: String,
    pub value: String,
    /// Full ARN to use instead of a generated one (random suffix included).
    pub arn: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct World {
    /// Virtual time of the last tick (kept in snapshots so a restart
    /// resumes where it left off).
    pub now: f64,
    pub ecs: EcsState,
    pub ecr: EcrState,
    pub secrets: SecretsState,
    pub logs: LogsState,
    pub rds: RdsState,
    pub cloudmap: CloudMapState,
    pub faults: Faults,
}

/// What `seed` created, for the caller (namespace ids are generated).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedResult {
    pub clusters: Vec<String>,
    pub namespace_ids: Vec<String>,
    pub secret_arns: Vec<String>,
    pub repositories: Vec<String>,
}

impl World {
    pub fn tick(&mut self, ctx: &Ctx) {
        if ctx.now < self.now {
            return;
        }
        self.now = ctx.now;
        let mut env = EcsEnv {
            ecr: &mut self.ecr,
            secrets: &self.secrets,
            logs: &mut self.logs,
            cloudmap: &mut self.cloudmap,
            faults: &self.faults,
        };
        self.ecs.tick(ctx, &mut env);
        self.secrets.tick(ctx);
        self.rds.tick(ctx, &mut self.secrets);
        self.cloudmap.tick(ctx);
    }

    pub fn ecs_handle(&mut self, ctx: &Ctx, op: &str, body: &Value) -> AwsResult<Value> {
        let mut env = EcsEnv {
            ecr: &mut self.ecr,
            secrets: &self.secrets,
            logs: &mut self.logs,
            cloudmap: &mut self.cloudmap,
            faults: &self.faults,
        };
        self.ecs.handle(ctx, op, body, &mut env)
    }

    pub fn seed(&mut self, ctx: &Ctx, seed: &Seed) -> SeedResult {
        let mut out = SeedResult::default();
        for c in &seed.clusters {
            out.clusters.push(self.ecs.ensure_cluster(ctx, c));
        }
        for ns in &seed.namespaces {
            out.namespace_ids.push(
                self.cloudmap
                    .seed_private_dns_namespace(ctx, &ns.name, &ns.vpc),
            );
        }
        for s in &seed.secrets {
            out.secret_arns.push(
                self.secrets
                    .put_seed(ctx, &s.name, &s.value, s.arn.as_deref()),
            );
        }
        for r in &seed.repositories {
            out.repositories.push(self.ecr.ensure_repository(ctx, r));
        }
        self.faults
            .subnets_without_egress
            .extend(seed.subnets_without_egress.iter().cloned());
        self.faults
            .image_rules
            .extend(seed.image_rules.iter().cloned());
        out
    }
}
