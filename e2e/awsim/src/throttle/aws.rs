//! The `aws` throttling profile: AWS's published request quotas as data.
//!
//! Each [`Category`] is one token bucket per account and region, shared by
//! every action it lists, with the burst (bucket capacity) and sustained
//! rate (refill per second) its `source` page gives. A call is charged to
//! every category that lists it (a Fargate RunTask draws from three). An
//! action no category lists keeps the generic per-action bucket of the
//! default profile: AWS publishes nothing for it (ECS `StartTask` aside,
//! which awsim does not serve, every ECS action awsim serves is listed; ECR
//! repository management, Cloud Map outside DiscoverInstances, Secrets
//! Manager CreateSecret/DeleteSecret/ListSecretVersionIds, most of Logs, and
//! STS are not).
//!
//! Where a page gives only "N per second" (ECR, Secrets Manager, Logs) the
//! burst is that same N: one second's worth, which is what a per-second
//! quota allows at most.
//!
//! Throttled calls answer as they always have in awsim (`ThrottlingException`,
//! `Throttling` for awsQuery), even where AWS words it differently (Cloud
//! Map's DiscoverInstances documents `RequestLimitExceeded`).

use serde::Serialize;
use serde_json::Value;

use super::Rate;

/// Which calls of the listed actions a category applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Applies {
    Always,
    /// RunTask on Fargate: `launchType: FARGATE`, or a capacity provider
    /// strategy naming `FARGATE` or `FARGATE_SPOT`. A RunTask with neither
    /// (the cluster's default strategy) is not resolved and counts as EC2.
    Fargate,
    /// RunTask on Fargate on-demand (`FARGATE` launch type or provider).
    FargateOnDemand,
    /// RunTask whose strategy names only `FARGATE_SPOT`.
    FargateSpot,
}

/// How many tokens a call takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Cost {
    /// One per request.
    Request,
    /// One per task launched (RunTask `count`, default 1): Fargate's task
    /// launch quota counts tasks, not calls.
    Tasks,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Category {
    /// awsim's service name (`ecs`, `rds`, `servicediscovery`, ...).
    pub service: &'static str,
    /// AWS's name for the category.
    pub name: &'static str,
    /// The actions sharing the bucket; empty means every action of the
    /// service.
    pub actions: &'static [&'static str],
    /// Bucket maximum capacity.
    pub burst: f64,
    /// Refill per second (the sustained rate).
    pub rate: f64,
    pub applies: Applies,
    pub cost: Cost,
    /// The AWS page that documents the numbers.
    pub source: &'static str,
}

impl Category {
    pub fn rate(&self) -> Rate {
        Rate {
            rate: self.rate,
            burst: self.burst,
        }
    }

    fn lists(&self, service: &str, action: &str) -> bool {
        self.service == service && (self.actions.is_empty() || self.actions.contains(&action))
    }
}

const fn cat(
    service: &'static str,
    name: &'static str,
    actions: &'static [&'static str],
    burst: f64,
    rate: f64,
    source: &'static str,
) -> Category {
    Category {
        service,
        name,
        actions,
        burst,
        rate,
        applies: Applies::Always,
        cost: Cost::Request,
        source,
    }
}

const fn when(mut c: Category, applies: Applies, cost: Cost) -> Category {
    c.applies = applies;
    c.cost = cost;
    c
}

const ECS: &str =
    "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html";
const FARGATE: &str = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/throttling.html";
const RDS: &str = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-api-throttling.html";
const ECR: &str = "https://docs.aws.amazon.com/AmazonECR/latest/userguide/service-quotas.html";
const CLOUD_MAP: &str = "https://docs.aws.amazon.com/cloud-map/latest/dg/throttling.html";
const SECRETS: &str =
    "https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html";
const SECRETS_LIST: &str = "https://aws.amazon.com/about-aws/whats-new/2022/11/aws-secrets-manager-increases-api-requests-per-second-limits/";
const LOGS_CREATE_STREAM: &str =
    "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogStream.html";
const LOGS_FILTER: &str = "https://repost.aws/knowledge-center/cloudwatch-logs-throttling";

/// Every published category, in the order of its source page.
#[rustfmt::skip]
pub const CATEGORIES: &[Category] = &[
    // ECS "Request token bucket sizes and refill rates", all Regions.
    cat("ecs", "Cluster modify actions", &["CreateCluster", "DeleteCluster", "PutClusterCapacityProviders", "UpdateCluster", "UpdateClusterSettings"], 20.0, 1.0, ECS),
    cat("ecs", "Cluster read actions", &["DescribeClusters", "ListClusters"], 50.0, 20.0, ECS),
    cat("ecs", "Task definition modify actions", &["DeregisterTaskDefinition", "RegisterTaskDefinition"], 20.0, 1.0, ECS),
    cat("ecs", "Task definition read actions", &["DescribeTaskDefinition", "ListTaskDefinitions", "ListTaskDefinitionFamilies"], 50.0, 20.0, ECS),
    cat("ecs", "Task definition deletion actions", &["DeleteTaskDefinitions"], 5.0, 1.0, ECS),
    cat("ecs", "Capacity provider modify actions", &["CreateCapacityProvider", "DeleteCapacityProvider", "UpdateCapacityProvider"], 10.0, 1.0, ECS),
    cat("ecs", "Capacity provider read actions", &["DescribeCapacityProviders"], 50.0, 20.0, ECS),
    cat("ecs", "Tag modify actions", &["TagResource", "UntagResource"], 20.0, 10.0, ECS),
    cat("ecs", "Tag read actions", &["ListTagsForResource"], 50.0, 20.0, ECS),
    cat("ecs", "Setting modify actions", &["DeleteAccountSetting", "PutAccountSetting", "PutAccountSettingDefault"], 10.0, 1.0, ECS),
    cat("ecs", "Setting read actions", &["ListAccountSettings"], 50.0, 20.0, ECS),
    cat("ecs", "Cluster resource modify actions", &["DeleteAttributes", "DeregisterContainerInstance", "ExecuteCommand", "PutAttributes", "RunTask", "StartTask", "StopTask", "UpdateContainerAgent", "UpdateContainerInstancesStates"], 100.0, 40.0, ECS),
    cat("ecs", "Cluster resource read actions", &["DescribeContainerInstances", "DescribeTasks", "ListAttributes", "ListContainerInstances", "ListTasks"], 100.0, 20.0, ECS),
    cat("ecs", "Agent modify actions", &["RegisterContainerInstance", "SubmitAttachmentStateChanges", "SubmitContainerStateChange", "SubmitTaskStateChange"], 200.0, 120.0, ECS),
    cat("ecs", "Service modify actions", &["CreateService", "DeleteService", "UpdateService"], 50.0, 5.0, ECS),
    cat("ecs", "Service read actions", &["DescribeServices", "ListServices"], 100.0, 20.0, ECS),
    cat("ecs", "Service deployment actions", &["DescribeServiceDeployments", "ListServiceDeployments"], 50.0, 20.0, ECS),
    cat("ecs", "Service revision actions", &["DescribeServiceRevisions"], 50.0, 20.0, ECS),
    cat("ecs", "Task protection actions", &["UpdateTaskProtection", "GetTaskProtection"], 200.0, 80.0, ECS),
    cat("ecs", "Cluster service resource read actions", &["ListServicesByNamespace"], 10.0, 1.0, ECS),
    // The ECS table's footnote on RunTask points here: "The rate quota for
    // calls to the Amazon ECS RunTask API is 20 calls per second (burst and
    // sustained)", plus the task launch buckets (tasks, not calls). AWS
    // applies the launch buckets to service tasks too; awsim's scheduler
    // does not, since AWS would delay those launches, not fail an API call.
    when(cat("ecs", "Fargate RunTask API", &["RunTask"], 20.0, 20.0, FARGATE), Applies::Fargate, Cost::Request),
    when(cat("ecs", "Fargate Resource rate quota for On Demand Amazon ECS tasks", &["RunTask"], 100.0, 20.0, FARGATE), Applies::FargateOnDemand, Cost::Tasks),
    when(cat("ecs", "Fargate Resource rate quota for Spot Amazon ECS tasks", &["RunTask"], 100.0, 20.0, FARGATE), Applies::FargateSpot, Cost::Tasks),
    // "By default, you can make up to 300 requests in a burst and a
    // sustained 12 requests per second", for the RDS API as a whole.
    cat("rds", "Amazon RDS API requests", &[], 300.0, 12.0, RDS),
    // ECR "Rate of X requests", each its own quota, per second.
    cat("ecr", "Rate of BatchCheckLayerAvailability requests", &["BatchCheckLayerAvailability"], 1000.0, 1000.0, ECR),
    cat("ecr", "Rate of BatchGetImage requests", &["BatchGetImage"], 2000.0, 2000.0, ECR),
    cat("ecr", "Rate of CompleteLayerUpload requests", &["CompleteLayerUpload"], 100.0, 100.0, ECR),
    cat("ecr", "Rate of GetAuthorizationToken requests", &["GetAuthorizationToken"], 500.0, 500.0, ECR),
    cat("ecr", "Rate of GetDownloadUrlForLayer requests", &["GetDownloadUrlForLayer"], 3000.0, 3000.0, ECR),
    cat("ecr", "Rate of InitiateLayerUpload requests", &["InitiateLayerUpload"], 100.0, 100.0, ECR),
    cat("ecr", "Rate of PutImage requests", &["PutImage"], 10.0, 10.0, ECR),
    cat("ecr", "Rate of UploadLayerPart requests", &["UploadLayerPart"], 500.0, 500.0, ECR),
    // "the bucket size for the DiscoverInstances API operation is 2,000
    // tokens", refilled at 1,000 per second. Other Cloud Map actions: none
    // published.
    cat("servicediscovery", "DiscoverInstances", &["DiscoverInstances"], 2000.0, 1000.0, CLOUD_MAP),
    // Secrets Manager quotas, "Combined rate of ... API requests".
    cat("secretsmanager", "Combined rate of DeleteResourcePolicy, GetResourcePolicy, PutResourcePolicy, and ValidateResourcePolicy API requests", &["DeleteResourcePolicy", "GetResourcePolicy", "PutResourcePolicy", "ValidateResourcePolicy"], 50.0, 50.0, SECRETS),
    cat("secretsmanager", "Combined rate of DescribeSecret and GetSecretValue API requests", &["DescribeSecret", "GetSecretValue"], 10000.0, 10000.0, SECRETS),
    cat("secretsmanager", "Combined rate of PutSecretValue, RemoveRegionsFromReplication, ReplicateSecretToRegion, StopReplicationToReplica, UpdateSecret, and UpdateSecretVersionStage API requests", &["PutSecretValue", "RemoveRegionsFromReplication", "ReplicateSecretToRegion", "StopReplicationToReplica", "UpdateSecret", "UpdateSecretVersionStage"], 50.0, 50.0, SECRETS),
    cat("secretsmanager", "Combined rate of RestoreSecret API requests", &["RestoreSecret"], 50.0, 50.0, SECRETS),
    cat("secretsmanager", "Combined rate of RotateSecret and CancelRotateSecret API requests", &["RotateSecret", "CancelRotateSecret"], 50.0, 50.0, SECRETS),
    cat("secretsmanager", "Combined rate of TagResource and UntagResource API requests", &["TagResource", "UntagResource"], 50.0, 50.0, SECRETS),
    cat("secretsmanager", "Rate of BatchGetSecretValue API requests", &["BatchGetSecretValue"], 100.0, 100.0, SECRETS),
    // "The ListSecrets API operation request rate has been increased to 100
    // requests per second."
    cat("secretsmanager", "Rate of ListSecrets API requests", &["ListSecrets"], 100.0, 100.0, SECRETS_LIST),
    // "There is a limit of 50 TPS on CreateLogStream operations, after which
    // transactions are throttled."
    cat("logs", "CreateLogStream", &["CreateLogStream"], 50.0, 50.0, LOGS_CREATE_STREAM),
    // "the FilterLogEvents API ... default quota ... 5 transactions per
    // second (TPS) per account or AWS Region"
    cat("logs", "FilterLogEvents", &["FilterLogEvents"], 5.0, 5.0, LOGS_FILTER),
];

/// The categories a call is charged to, with the tokens it takes from each.
pub fn charges(service: &str, action: &str, body: Option<&Value>) -> Vec<(&'static Category, f64)> {
    let launch = Launch::of(service, action, body);
    CATEGORIES
        .iter()
        .filter(|c| c.lists(service, action))
        .filter(|c| match c.applies {
            Applies::Always => true,
            Applies::Fargate => launch.fargate != Fargate::No,
            Applies::FargateOnDemand => launch.fargate == Fargate::OnDemand,
            Applies::FargateSpot => launch.fargate == Fargate::Spot,
        })
        .map(|c| {
            let cost = match c.cost {
                Cost::Request => 1.0,
                Cost::Tasks => launch.tasks,
            };
            (c, cost)
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fargate {
    No,
    OnDemand,
    Spot,
}

/// What a RunTask launches, as far as the Fargate quotas care.
struct Launch {
    fargate: Fargate,
    tasks: f64,
}

impl Launch {
    fn of(service: &str, action: &str, body: Option<&Value>) -> Launch {
        let none = Launch {
            fargate: Fargate::No,
            tasks: 1.0,
        };
        let Some(body) = body.filter(|_| service == "ecs" && action == "RunTask") else {
            return none;
        };
        let tasks = body["count"].as_u64().unwrap_or(1).max(1) as f64;
        let providers: Vec<&str> = body["capacityProviderStrategy"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter_map(|p| p["capacityProvider"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        let fargate =
            if body["launchType"].as_str() == Some("FARGATE") || providers.contains(&"FARGATE") {
                Fargate::OnDemand
            } else if providers.contains(&"FARGATE_SPOT") {
                Fargate::Spot
            } else {
                Fargate::No
            };
        Launch { fargate, tasks }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_category_is_sourced_and_sane() {
        for c in CATEGORIES {
            assert!(c.source.starts_with("https://"), "{}", c.name);
            assert!(c.burst >= 1.0 && c.rate > 0.0, "{}", c.name);
        }
    }

    #[test]
    fn an_action_is_in_at_most_one_unconditional_category() {
        for c in CATEGORIES.iter().filter(|c| c.applies == Applies::Always) {
            for a in c.actions {
                let n = CATEGORIES
                    .iter()
                    .filter(|o| o.applies == Applies::Always && o.lists(c.service, a))
                    .count();
                assert_eq!(n, 1, "{}:{a}", c.service);
            }
        }
    }

    #[test]
    fn run_task_charges() {
        let names = |body: Value| -> Vec<(&str, f64)> {
            charges("ecs", "RunTask", Some(&body))
                .into_iter()
                .map(|(c, n)| (c.name, n))
                .collect()
        };
        assert_eq!(
            names(json!({"launchType": "EC2", "count": 3})),
            [("Cluster resource modify actions", 1.0)]
        );
        let spot = names(
            json!({"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT"}], "count": 4}),
        );
        assert_eq!(spot.len(), 3);
        assert!(spot.contains(&("Fargate RunTask API", 1.0)));
        assert!(spot.contains(&("Fargate Resource rate quota for Spot Amazon ECS tasks", 4.0)));
        let on_demand = names(json!({"launchType": "FARGATE"}));
        assert!(on_demand.contains(&(
            "Fargate Resource rate quota for On Demand Amazon ECS tasks",
            1.0
        )));
        assert_eq!(charges("rds", "DescribeDBClusters", None)[0].0.burst, 300.0);
        assert!(charges("ecr", "CreateRepository", None).is_empty());
    }
}
