//! Fault injection settings (`/_awsim/faults`): failing pulls, subnets
//! without egress, error rate, latency, image rules and lost responses.
//! Their own module because both the world (which owns them) and the
//! services that consult them (ECS) need them, and the world depends on
//! those services.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
    /// Real milliseconds added to every API call: a fixed number (`50`) or
    /// a range (`"30-120"`), drawn uniformly per call.
    pub latency_ms: Latency,
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

/// Latency added to every API call, in real milliseconds: drawn uniformly
/// from `min..=max` for each call (`min == max`: a fixed delay). Written
/// `50` or `"30-120"` (JSON: a number or that string; CLI: either form).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    pub min_ms: u64,
    pub max_ms: u64,
}

impl Latency {
    pub fn fixed(ms: u64) -> Latency {
        Latency {
            min_ms: ms,
            max_ms: ms,
        }
    }

    /// `min..=max` (swapped if given the other way round).
    pub fn range(min_ms: u64, max_ms: u64) -> Latency {
        Latency {
            min_ms: min_ms.min(max_ms),
            max_ms: min_ms.max(max_ms),
        }
    }

    pub fn is_zero(&self) -> bool {
        self.max_ms == 0
    }

    /// One call's delay.
    pub fn sample(&self) -> Duration {
        let ms = if self.max_ms > self.min_ms {
            rand::rng().random_range(self.min_ms..=self.max_ms)
        } else {
            self.max_ms
        };
        Duration::from_millis(ms)
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min_ms == self.max_ms {
            write!(f, "{}", self.max_ms)
        } else {
            write!(f, "{}-{}", self.min_ms, self.max_ms)
        }
    }
}

impl FromStr for Latency {
    type Err = String;

    fn from_str(s: &str) -> Result<Latency, String> {
        let num = |t: &str| {
            t.trim()
                .parse::<u64>()
                .map_err(|_| format!("latency {s:?}: expected milliseconds, `N` or `MIN-MAX`"))
        };
        match s.split_once('-') {
            Some((a, b)) => Ok(Latency::range(num(a)?, num(b)?)),
            None => Ok(Latency::fixed(num(s)?)),
        }
    }
}

impl Serialize for Latency {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        if self.min_ms == self.max_ms {
            ser.serialize_u64(self.max_ms)
        } else {
            ser.collect_str(self)
        }
    }
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Latency, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Ms(u64),
            Text(String),
        }
        match Repr::deserialize(de)? {
            Repr::Ms(ms) => Ok(Latency::fixed(ms)),
            Repr::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_forms() {
        assert_eq!("50".parse::<Latency>().unwrap(), Latency::fixed(50));
        assert_eq!(
            "30-120".parse::<Latency>().unwrap(),
            Latency::range(30, 120)
        );
        assert!("x".parse::<Latency>().is_err());
        let l: Latency = serde_json::from_str("\"30-120\"").unwrap();
        assert_eq!(serde_json::to_string(&l).unwrap(), "\"30-120\"");
        let l: Latency = serde_json::from_str("40").unwrap();
        assert_eq!(serde_json::to_string(&l).unwrap(), "40");
        for _ in 0..100 {
            let d = Latency::range(30, 120).sample().as_millis();
            assert!((30..=120).contains(&d), "{d}");
        }
    }
}
