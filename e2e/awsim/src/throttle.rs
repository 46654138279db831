//! Per-action token buckets. Rates apply in real time (AWS throttles by wall
//! clock, and a controller's request rate does not speed up with the virtual
//! clock).

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Tokens per real second.
    pub rate: f64,
    pub burst: f64,
}

#[derive(Debug)]
struct Bucket {
    rate: Rate,
    tokens: f64,
    last: Instant,
}

#[derive(Debug)]
pub struct Throttle {
    pub enabled: bool,
    pub scale: f64,
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

impl Throttle {
    pub fn new(enabled: bool, scale: f64) -> Self {
        Self {
            enabled,
            scale: if scale > 0.0 { scale } else { 1.0 },
            overrides: BTreeMap::new(),
            buckets: BTreeMap::new(),
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

    /// Takes a token; false means the call is throttled.
    pub fn admit(&mut self, service: &str, action: &str) -> bool {
        let key = format!("{service}:{action}");
        let rate = match self.overrides.get(&key) {
            Some(r) => *r,
            None if self.enabled => {
                let r = default_rate(action);
                Rate {
                    rate: r.rate * self.scale,
                    burst: r.burst * self.scale,
                }
            }
            None => return true,
        };
        let now = Instant::now();
        let bucket = self.buckets.entry(key).or_insert(Bucket {
            rate,
            tokens: rate.burst,
            last: now,
        });
        bucket.rate = rate;
        let elapsed = now.duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate.rate).min(rate.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
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
}
