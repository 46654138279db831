//! Fault injection settings (`/_awsim/faults`): failing pulls, subnets
//! without egress, error rate, latency, image rules and lost responses.
//! Their own module because both the world (which owns them) and the
//! services that consult them (ECS) need them, and the world depends on
//! those services.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::images::ImageRule;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    /// Image references (prefix match, e.g. `docker.io/library/redis` or an
    /// ECR repository URI) that fail to pull.
    pub pull_failures: Vec<String>,
    /// Subnets with no route to AWS APIs (no NAT, no VPC endpoints).
    pub subnets_without_egress: BTreeSet<String>,
    /// Fraction (0..1) of API calls answered with a 5xx.
    pub error_rate: f64,
    /// Real milliseconds added to every API call.
    pub latency_ms: u64,
    pub image_rules: Vec<ImageRule>,
    /// `service:Action` (e.g. `ecs:CreateService`) -> how many upcoming
    /// successful calls are committed but answered with the service's 5xx,
    /// as if the response were lost on the way back.
    pub lose_responses: BTreeMap<String, u32>,
}

impl Faults {
    /// Consumes one lost response for `service:action`, if any is pending.
    pub fn take_lost(&mut self, service: &str, action: &str) -> bool {
        let key = format!("{service}:{action}");
        match self.lose_responses.get_mut(&key) {
            Some(n) if *n > 0 => {
                *n -= 1;
                if *n == 0 {
                    self.lose_responses.remove(&key);
                }
                true
            }
            _ => false,
        }
    }
}
