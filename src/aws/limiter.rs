//! Client-side token buckets, one per AWS throttling category per target
//! (region and role: the account's buckets are shared by every client, so
//! berth takes only a fraction of them by default). A call waits for its
//! token instead of being throttled by AWS: throttling then slows nothing
//! down and never shows as an error.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Target;

/// An AWS throttling category: a bucket several actions share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    EcsServiceRead,
    EcsServiceModify,
    EcsTaskDefinitionRead,
    EcsTaskDefinitionModify,
    EcsClusterResourceRead,
    EcsClusterResourceModify,
    /// "Service deployment actions": the deployment records berth follows
    /// and answers (lifecycle hooks, rollbacks).
    EcsServiceDeployment,
    /// "Cluster service resource read actions" (ListServicesByNamespace).
    EcsClusterServiceResourceRead,
    EcsTaskDefinitionDelete,
    /// RunTask on Fargate is also charged to Fargate's own RunTask bucket,
    /// the tighter of the two.
    EcsRunTask,
    EcsTagModify,
    EcsTagRead,
    Rds,
    Ecr,
    CloudMap,
    SecretsManager,
    Logs,
}

/// A bucket's size and refill rate (tokens per second).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub burst: f64,
    pub per_second: f64,
}

const fn rate(burst: f64, per_second: f64) -> Rate {
    Rate { burst, per_second }
}

impl Category {
    /// AWS's published per-account, per-region bucket.
    /// ECS: "Request throttling for the Amazon ECS API"
    /// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html>;
    /// RDS: "API request throttling" in "Quotas and constraints for Amazon RDS"
    /// <https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Limits.html>;
    /// the others: each service's documented per-API request quotas, taken
    /// at their lowest for the actions berth calls.
    pub fn aws_rate(self) -> Rate {
        match self {
            Category::EcsServiceRead => rate(100.0, 20.0),
            Category::EcsServiceModify => rate(50.0, 5.0),
            Category::EcsTaskDefinitionRead => rate(50.0, 20.0),
            Category::EcsTaskDefinitionModify => rate(20.0, 1.0),
            Category::EcsClusterResourceRead => rate(100.0, 20.0),
            Category::EcsClusterResourceModify => rate(100.0, 40.0),
            Category::EcsServiceDeployment => rate(50.0, 20.0),
            Category::EcsClusterServiceResourceRead => rate(10.0, 1.0),
            Category::EcsTaskDefinitionDelete => rate(5.0, 1.0),
            // "Amazon ECS Fargate throttling quotas": RunTask 20 burst, 20/s.
            // <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/throttling.html>
            Category::EcsRunTask => rate(20.0, 20.0),
            Category::EcsTagModify => rate(20.0, 10.0),
            Category::EcsTagRead => rate(50.0, 20.0),
            Category::Rds => rate(300.0, 12.0),
            // ECR: most control-plane APIs 10-20 TPS per account.
            Category::Ecr => rate(20.0, 10.0),
            // Cloud Map: ListServices/ListNamespaces/CreateService etc. 5-20 TPS.
            Category::CloudMap => rate(10.0, 5.0),
            // Secrets Manager: DescribeSecret 40 TPS (combined read APIs).
            Category::SecretsManager => rate(40.0, 40.0),
            // CloudWatch Logs: GetLogEvents 25 TPS.
            Category::Logs => rate(25.0, 25.0),
        }
    }

    /// The category of `service:Action`.
    pub fn of(action: &str) -> Category {
        let (service, op) = action.split_once(':').unwrap_or(("", action));
        match service {
            "ecs" => match op {
                "DescribeServices" | "ListServices" => Category::EcsServiceRead,
                "ListServicesByNamespace" => Category::EcsClusterServiceResourceRead,
                "CreateService" | "UpdateService" | "DeleteService" => Category::EcsServiceModify,
                // AWS lists only Describe and List in this bucket and publishes
                // no bucket for Stop and Continue: they act on the same
                // deployment records, so berth charges them here rather than
                // to the unrelated (and larger) cluster resource read bucket.
                "DescribeServiceDeployments"
                | "ListServiceDeployments"
                | "StopServiceDeployment"
                | "ContinueServiceDeployment" => Category::EcsServiceDeployment,
                "RegisterTaskDefinition" | "DeregisterTaskDefinition" => {
                    Category::EcsTaskDefinitionModify
                }
                "DeleteTaskDefinitions" => Category::EcsTaskDefinitionDelete,
                "DescribeTaskDefinition" | "ListTaskDefinitions" | "ListTaskDefinitionFamilies" => {
                    Category::EcsTaskDefinitionRead
                }
                "TagResource" | "UntagResource" => Category::EcsTagModify,
                "ListTagsForResource" => Category::EcsTagRead,
                "RunTask" => Category::EcsRunTask,
                "StartTask" | "StopTask" => Category::EcsClusterResourceModify,
                _ => Category::EcsClusterResourceRead,
            },
            "rds" => Category::Rds,
            "ecr" => Category::Ecr,
            "servicediscovery" => Category::CloudMap,
            "secretsmanager" => Category::SecretsManager,
            _ => Category::Logs,
        }
    }
}

struct Bucket {
    rate: Rate,
    tokens: f64,
    updated: Instant,
}

/// A token already taken from its bucket, usable from `at` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub at: Instant,
}

/// The token buckets of every target.
pub struct Limiter {
    /// The share of AWS's rates berth takes; `None` disables the limiter.
    fraction: Option<f64>,
    buckets: Mutex<HashMap<(Target, Category), Bucket>>,
}

impl Limiter {
    /// `fraction` of AWS's published rates (e.g. 0.5); `None`: no limit.
    pub fn new(fraction: Option<f64>) -> Self {
        Self {
            fraction: fraction.filter(|f| *f > 0.0),
            buckets: Mutex::default(),
        }
    }

    /// Takes a token for `action` on `target` now, to be spent at the
    /// ticket's time. Tokens are reserved in arrival order (the bucket may
    /// go negative), so callers are served first come, first served and
    /// never all retry at once; a caller facing a long wait can give up its
    /// concurrency slot and come back for the call then, keeping its place
    /// in line.
    pub fn ticket(&self, target: &Target, action: &str) -> Ticket {
        let now = Instant::now();
        Ticket {
            at: now + self.reserve(target, Category::of(action), now),
        }
    }

    fn reserve(&self, target: &Target, category: Category, now: Instant) -> Duration {
        let Some(fraction) = self.fraction else {
            return Duration::ZERO;
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets
            .entry((target.clone(), category))
            .or_insert_with(|| {
                let aws = category.aws_rate();
                let rate = Rate {
                    burst: (aws.burst * fraction).max(1.0),
                    per_second: aws.per_second * fraction,
                };
                Bucket {
                    rate,
                    tokens: rate.burst,
                    updated: now,
                }
            });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * bucket.rate.per_second).min(bucket.rate.burst);
        bucket.updated = now;
        bucket.tokens -= 1.0;
        if bucket.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-bucket.tokens / bucket.rate.per_second)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            region: "us-east-1".into(),
            role_arn: None,
        }
    }

    #[test]
    fn a_ticket_keeps_its_place_in_line() {
        // Task definition modify at 5%: 1 burst, one token every 20 s.
        let l = Limiter::new(Some(0.05));
        let t0 = Instant::now();
        let first = l.ticket(&target(), "ecs:RegisterTaskDefinition");
        let second = l.ticket(&target(), "ecs:RegisterTaskDefinition");
        assert!(first.at <= Instant::now());
        let ahead = second.at.duration_since(t0);
        assert!(ahead >= Duration::from_secs(19), "{ahead:?}");
        // A caller arriving after the ticket waits behind it.
        let after = l.reserve(&target(), Category::EcsTaskDefinitionModify, Instant::now());
        assert!(after >= Duration::from_secs(39), "{after:?}");
    }

    #[test]
    fn a_burst_passes_then_calls_are_spaced_by_the_refill_rate() {
        let l = Limiter::new(Some(0.5));
        let t0 = Instant::now();
        // Task definition modify: 20 burst, 1/s; half of it is 10 burst, 0.5/s.
        for _ in 0..10 {
            assert_eq!(
                l.reserve(&target(), Category::EcsTaskDefinitionModify, t0),
                Duration::ZERO
            );
        }
        assert_eq!(
            l.reserve(&target(), Category::EcsTaskDefinitionModify, t0),
            Duration::from_secs(2)
        );
        assert_eq!(
            l.reserve(&target(), Category::EcsTaskDefinitionModify, t0),
            Duration::from_secs(4)
        );
        // Another category and another target have buckets of their own.
        assert_eq!(
            l.reserve(&target(), Category::EcsServiceRead, t0),
            Duration::ZERO
        );
        let other = Target {
            region: "eu-west-1".into(),
            role_arn: None,
        };
        assert_eq!(
            l.reserve(&other, Category::EcsTaskDefinitionModify, t0),
            Duration::ZERO
        );
    }

    #[test]
    fn refill_restores_tokens_up_to_the_burst() {
        let l = Limiter::new(Some(1.0));
        let t0 = Instant::now();
        for _ in 0..20 {
            l.reserve(&target(), Category::EcsTaskDefinitionModify, t0);
        }
        let later = t0 + Duration::from_secs(3);
        for _ in 0..3 {
            assert_eq!(
                l.reserve(&target(), Category::EcsTaskDefinitionModify, later),
                Duration::ZERO
            );
        }
        assert!(l.reserve(&target(), Category::EcsTaskDefinitionModify, later) > Duration::ZERO);
    }

    #[test]
    fn disabled_never_waits() {
        let l = Limiter::new(None);
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert_eq!(
                l.reserve(&target(), Category::EcsTaskDefinitionModify, t0),
                Duration::ZERO
            );
        }
    }

    #[test]
    fn actions_map_to_their_category() {
        assert_eq!(
            Category::of("ecs:DescribeServices"),
            Category::EcsServiceRead
        );
        assert_eq!(
            Category::of("ecs:RegisterTaskDefinition"),
            Category::EcsTaskDefinitionModify
        );
        assert_eq!(
            Category::of("ecs:DescribeTasks"),
            Category::EcsClusterResourceRead
        );
        assert_eq!(Category::of("ecs:RunTask"), Category::EcsRunTask);
        assert_eq!(
            Category::of("ecs:StopTask"),
            Category::EcsClusterResourceModify
        );
        assert_eq!(Category::of("rds:CreateDBCluster"), Category::Rds);
        for action in [
            "ecs:DescribeServiceDeployments",
            "ecs:ListServiceDeployments",
            "ecs:StopServiceDeployment",
            "ecs:ContinueServiceDeployment",
        ] {
            assert_eq!(
                Category::of(action),
                Category::EcsServiceDeployment,
                "{action}"
            );
        }
        assert_eq!(Category::EcsServiceDeployment.aws_rate(), rate(50.0, 20.0));
        assert_eq!(
            Category::of("ecs:ListServicesByNamespace"),
            Category::EcsClusterServiceResourceRead
        );
        assert_eq!(
            Category::of("ecs:DeleteTaskDefinitions"),
            Category::EcsTaskDefinitionDelete
        );
    }
}
