//! Token buckets for API throttling. Rates apply in real time (AWS throttles
//! by wall clock, and a controller's request rate does not speed up with the
//! virtual clock).
//!
//! Two profiles: [`ThrottleProfile::Default`] gives every `service:Action`
//! its own generic bucket; [`ThrottleProfile::Aws`] charges each call to the
//! buckets AWS documents for it, shared by every action of a category and
//! kept per region (see [`aws`]). Per-action overrides from the control API
//! win over both.

pub mod aws;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Tokens per real second.
    pub rate: f64,
    pub burst: f64,
}

/// Which buckets a call is charged to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThrottleProfile {
    /// One generic bucket per `service:Action` ([`default_rate`]).
    #[default]
    Default,
    /// AWS's published per-account, per-region category buckets
    /// ([`aws::CATEGORIES`]); actions AWS publishes nothing for keep the
    /// generic bucket.
    Aws,
}

impl ThrottleProfile {
    pub fn name(self) -> &'static str {
        match self {
            ThrottleProfile::Default => "default",
            ThrottleProfile::Aws => "aws",
        }
    }
}

impl FromStr for ThrottleProfile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "default" => Ok(ThrottleProfile::Default),
            "aws" => Ok(ThrottleProfile::Aws),
            _ => Err(format!(
                "unknown throttle profile {s:?} (expected default or aws)"
            )),
        }
    }
}

impl std::fmt::Display for ThrottleProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug)]
struct Bucket {
    rate: Rate,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn refill(&mut self, rate: Rate, now: Instant) {
        self.rate = rate;
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.rate).min(rate.burst);
        self.last = now;
    }
}

#[derive(Debug)]
pub struct Throttle {
    pub enabled: bool,
    pub scale: f64,
    profile: ThrottleProfile,
    overrides: BTreeMap<String, Rate>,
    buckets: BTreeMap<String, Bucket>,
}

/// AWS-like defaults: reads are cheap, mutations are tighter.
pub fn default_rate(action: &str) -> Rate {
    let read = ["Describe", "List", "Get", "Filter", "Validate"]
        .iter()
        .any(|p| action.starts_with(p));
    if read {
        Rate {
            rate: 20.0,
            burst: 50.0,
        }
    } else {
        Rate {
            rate: 10.0,
            burst: 20.0,
        }
    }
}

/// One bucket a call draws from, and how many tokens.
struct Charge {
    key: String,
    rate: Rate,
    cost: f64,
}

impl Throttle {
    pub fn new(enabled: bool, scale: f64) -> Self {
        Self {
            enabled,
            scale: if scale > 0.0 { scale } else { 1.0 },
            profile: ThrottleProfile::Default,
            overrides: BTreeMap::new(),
            buckets: BTreeMap::new(),
        }
    }

    pub fn with_profile(mut self, profile: ThrottleProfile) -> Self {
        self.profile = profile;
        self
    }

    pub fn profile(&self) -> ThrottleProfile {
        self.profile
    }

    /// Switches profile; every bucket starts full again, since buckets of
    /// one profile mean nothing in the other.
    pub fn set_profile(&mut self, profile: ThrottleProfile) {
        if self.profile != profile {
            self.profile = profile;
            self.buckets.clear();
        }
    }

    /// `key` is `service:Action` (e.g. `ecs:DescribeServices`). An override
    /// applies even when default throttling is off, so a test can throttle
    /// one action on an otherwise unthrottled simulator.
    pub fn set_override(&mut self, key: &str, rate: Option<Rate>) {
        match rate {
            Some(r) => {
                self.overrides.insert(key.to_string(), r);
            }
            None => {
                self.overrides.remove(key);
            }
        }
        self.buckets.remove(key);
    }

    pub fn overrides(&self) -> &BTreeMap<String, Rate> {
        &self.overrides
    }

    pub fn clear_overrides(&mut self) {
        self.overrides.clear();
        self.buckets.clear();
    }

    /// Takes a token from the generic bucket of `service:action`; false
    /// means the call is throttled. For callers without a request body or
    /// region (the AWS profile then treats the call as region-less).
    pub fn admit(&mut self, service: &str, action: &str) -> bool {
        self.admit_call(service, action, "", None)
    }

    /// Takes the tokens a call costs from every bucket it is charged to, or
    /// none at all: a throttled call must not drain a bucket it never used.
    /// `body` is the awsJson request (RunTask's launch type and task count
    /// select the Fargate buckets of the AWS profile).
    pub fn admit_call(
        &mut self,
        service: &str,
        action: &str,
        region: &str,
        body: Option<&Value>,
    ) -> bool {
        let charges = self.charges(service, action, region, body);
        let now = Instant::now();
        for c in &charges {
            let bucket = self.buckets.entry(c.key.clone()).or_insert(Bucket {
                rate: c.rate,
                tokens: c.rate.burst,
                last: now,
            });
            bucket.refill(c.rate, now);
        }
        let admitted = charges.iter().all(|c| {
            let tokens = self.buckets.get(&c.key).map_or(0.0, |b| b.tokens);
            tokens >= c.cost
        });
        if admitted {
            for c in &charges {
                if let Some(b) = self.buckets.get_mut(&c.key) {
                    b.tokens -= c.cost;
                }
            }
        }
        admitted
    }

    fn charges(
        &self,
        service: &str,
        action: &str,
        region: &str,
        body: Option<&Value>,
    ) -> Vec<Charge> {
        let key = format!("{service}:{action}");
        if let Some(r) = self.overrides.get(&key) {
            return vec![Charge {
                key,
                rate: *r,
                cost: 1.0,
            }];
        }
        if !self.enabled {
            return Vec::new();
        }
        let scaled = |r: Rate| Rate {
            rate: r.rate * self.scale,
            burst: r.burst * self.scale,
        };
        if self.profile == ThrottleProfile::Aws {
            let charges: Vec<Charge> = aws::charges(service, action, body)
                .into_iter()
                .map(|(cat, cost)| {
                    let rate = scaled(cat.rate());
                    Charge {
                        key: format!("{region}/{service}/{}", cat.name),
                        // A call bigger than the whole bucket (RunTask
                        // count 10 on a scaled-down bucket) could never
                        // pass otherwise.
                        cost: cost.min(rate.burst),
                        rate,
                    }
                })
                .collect();
            if !charges.is_empty() {
                return charges;
            }
        }
        vec![Charge {
            key,
            rate: scaled(default_rate(action)),
            cost: 1.0,
        }]
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn burst_then_throttle() {
        let mut t = Throttle::new(false, 1.0);
        assert!(t.admit("ecs", "DescribeServices"));
        t.set_override(
            "ecs:DescribeServices",
            Some(Rate {
                rate: 0.001,
                burst: 2.0,
            }),
        );
        assert!(t.admit("ecs", "DescribeServices"));
        assert!(t.admit("ecs", "DescribeServices"));
        assert!(!t.admit("ecs", "DescribeServices"));
        assert!(t.admit("ecs", "ListServices"));
    }

    #[test]
    fn aws_profile_shares_category_buckets_per_region() {
        // Scaled to burst 5 so the test does not depend on refill timing.
        let mut t = Throttle::new(true, 0.05).with_profile(ThrottleProfile::Aws);
        for _ in 0..5 {
            assert!(t.admit_call("ecs", "DescribeServices", "us-east-1", None));
        }
        assert!(!t.admit_call("ecs", "ListServices", "us-east-1", None));
        assert!(t.admit_call("ecs", "ListServices", "eu-west-1", None));
        // Another category has its own bucket (Cluster read: 50 * 0.05).
        assert!(t.admit_call("ecs", "DescribeClusters", "us-east-1", None));
    }

    #[test]
    fn fargate_run_task_draws_from_every_bucket_or_none() {
        let mut t = Throttle::new(true, 1.0).with_profile(ThrottleProfile::Aws);
        let fargate = json!({"launchType": "FARGATE", "count": 10});
        // Fargate RunTask: 20 calls, but the task launch bucket (100 tasks)
        // runs out after 10 calls of 10 tasks.
        for _ in 0..10 {
            assert!(t.admit_call("ecs", "RunTask", "r", Some(&fargate)));
        }
        assert!(!t.admit_call("ecs", "RunTask", "r", Some(&fargate)));
        // EC2 tasks use only the cluster resource bucket, which the refused
        // call did not drain (100 - 10 calls, plus what refilled meanwhile
        // at 40/s).
        let ec2 = json!({"launchType": "EC2"});
        let admitted = (0..100)
            .filter(|_| t.admit_call("ecs", "RunTask", "r", Some(&ec2)))
            .count();
        assert!((90..=92).contains(&admitted), "{admitted}");
    }

    #[test]
    fn unlisted_actions_keep_the_generic_bucket() {
        let mut t = Throttle::new(true, 0.1).with_profile(ThrottleProfile::Aws);
        // STS publishes no category: default mutation bucket, 20 * 0.1.
        assert!(t.admit_call("sts", "AssumeRole", "r", None));
        assert!(t.admit_call("sts", "AssumeRole", "r", None));
        assert!(!t.admit_call("sts", "AssumeRole", "r", None));
        assert_eq!("AWS".parse::<ThrottleProfile>(), Ok(ThrottleProfile::Aws));
        assert!("fast".parse::<ThrottleProfile>().is_err());
    }
}
