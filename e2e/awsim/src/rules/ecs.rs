//! ECS request rules. Constraints from the ECS API reference (member
//! descriptions: "Up to 255 letters ...", "Up to 36 ASCII characters in the
//! range of 33-126") and the ECS service model (`min`/`max`/`pattern`/`enum`).
//!
//! Codes: ECS answers parameter violations with `InvalidParameterException`
//! ("startedBy longer than 36.") except for task definition contents, which
//! it rejects with `ClientException` ("Family contains invalid
//! characters.", "Container.name contains invalid characters."). Both are
//! the errors the API reference lists for these operations.

use super::{
    length, list_size, one_of, pattern, range, required, tags, Check, OpRules, Rule, TagSpec,
};

macro_rules! page {
    ($name:literal) => {
        concat!(
            "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_",
            $name,
            ".html"
        )
    };
}

const CREATE_SERVICE: &str = page!("CreateService");
const UPDATE_SERVICE: &str = page!("UpdateService");
const DELETE_SERVICE: &str = page!("DeleteService");
const DESCRIBE_SERVICES: &str = page!("DescribeServices");
const LIST_SERVICES: &str = page!("ListServices");
const REGISTER_TD: &str = page!("RegisterTaskDefinition");
const CONTAINER_DEF: &str = page!("ContainerDefinition");
const PORT_MAPPING: &str = page!("PortMapping");
const VOLUME: &str = page!("Volume");
const EPHEMERAL: &str = page!("EphemeralStorage");
const DEREGISTER_TD: &str = page!("DeregisterTaskDefinition");
const LIST_TDS: &str = page!("ListTaskDefinitions");
const DESCRIBE_TD: &str = page!("DescribeTaskDefinition");
const RUN_TASK: &str = page!("RunTask");
const STOP_TASK: &str = page!("StopTask");
const DESCRIBE_TASKS: &str = page!("DescribeTasks");
const LIST_TASKS: &str = page!("ListTasks");
const TAG_RESOURCE: &str = page!("TagResource");
const UNTAG_RESOURCE: &str = page!("UntagResource");
const LIST_TAGS: &str = page!("ListTagsForResource");
const DESCRIBE_CLUSTERS: &str = page!("DescribeClusters");
const CREATE_CLUSTER: &str = page!("CreateCluster");
const LIST_CLUSTERS: &str = page!("ListClusters");
const AWSVPC: &str = page!("AwsVpcConfiguration");
const CAPACITY_ITEM: &str = page!("CapacityProviderStrategyItem");
const PLACEMENT_CONSTRAINT: &str = page!("PlacementConstraint");
const PLACEMENT_STRATEGY: &str = page!("PlacementStrategy");
const CIRCUIT_BREAKER: &str = page!("DeploymentCircuitBreaker");
const ALARMS: &str = page!("DeploymentAlarms");
const DEPLOYMENT_CONFIG: &str = page!("DeploymentConfiguration");
const DEPLOYMENT_CONTROLLER: &str = page!("DeploymentController");
const SECRET: &str = page!("Secret");
const DEPENDENCY: &str = page!("ContainerDependency");
const HEALTH_CHECK: &str = page!("HealthCheck");
const RUNTIME_PLATFORM: &str = page!("RuntimePlatform");
const HOOK: &str = page!("DeploymentLifecycleHook");
const HOOK_TIMEOUT: &str = page!("DeploymentLifecycleHookTimeoutConfiguration");
const LINEAR: &str = page!("LinearConfiguration");
const CANARY: &str = page!("CanaryConfiguration");
const DESCRIBE_SERVICE_DEPLOYMENTS: &str = page!("DescribeServiceDeployments");
const LIST_SERVICE_DEPLOYMENTS: &str = page!("ListServiceDeployments");
const DESCRIBE_SERVICE_REVISIONS: &str = page!("DescribeServiceRevisions");
const CONTINUE_SERVICE_DEPLOYMENT: &str = page!("ContinueServiceDeployment");
const STOP_SERVICE_DEPLOYMENT: &str = page!("StopServiceDeployment");

/// `DeploymentLifecycleHookStage` (the hook's `lifecycleStages` values).
const HOOK_STAGES: &[&str] = &[
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
];

/// `ServiceDeploymentStatus`.
const SERVICE_DEPLOYMENT_STATUSES: &[&str] = &[
    "PENDING",
    "SUCCESSFUL",
    "STOPPED",
    "STOP_REQUESTED",
    "IN_PROGRESS",
    "ROLLBACK_REQUESTED",
    "ROLLBACK_IN_PROGRESS",
    "ROLLBACK_SUCCESSFUL",
    "ROLLBACK_FAILED",
];

/// "Up to 255 letters (uppercase and lowercase), numbers, underscores, and
/// hyphens are allowed." (service, family, cluster, container and volume
/// names).
const NAME: &str = "[a-zA-Z0-9_-]+";

/// ECS's `Tag` data type: key 1..128, value 0..256, the model's character
/// pattern, at most 50 per resource, and "Do not use aws:, AWS:, or any upper
/// or lowercase combination of such as a prefix for either keys or values".
pub const TAGS: TagSpec = TagSpec {
    key: "key",
    value: "value",
    max: 50,
    key_max: 128,
    value_max: 256,
    reserved: &["aws:"],
    values_reserved: true,
    pattern: Some(r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*"),
    too_many_code: None,
};

const LAUNCH_TYPES: &[&str] = &["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"];
const PROPAGATE: &[&str] = &["TASK_DEFINITION", "SERVICE", "NONE"];
const ENABLED_DISABLED: &[&str] = &["ENABLED", "DISABLED"];

const fn client_token_chars(path: &'static str, source: &'static str) -> Rule {
    Rule::new(path, Check::CharRange { lo: 33, hi: 126 }, source)
}

/// Rules shared by CreateService, UpdateService and RunTask for members of
/// the same data types; each is written out per operation so every table
/// reads on its own.
macro_rules! network_rules {
    ($src:expr) => {
        [
            required("networkConfiguration.awsvpcConfiguration.subnets", AWSVPC),
            // "There's a limit of 16 subnets that can be specified."
            list_size(
                "networkConfiguration.awsvpcConfiguration.subnets",
                0,
                16,
                AWSVPC,
            ),
            // "There's a limit of 5 security groups that can be specified."
            list_size(
                "networkConfiguration.awsvpcConfiguration.securityGroups",
                0,
                5,
                AWSVPC,
            ),
            one_of(
                "networkConfiguration.awsvpcConfiguration.assignPublicIp",
                ENABLED_DISABLED,
                AWSVPC,
            ),
            // "A capacity provider strategy can contain a maximum of 20
            // capacity providers."
            list_size("capacityProviderStrategy", 0, 20, $src),
            required("capacityProviderStrategy[].capacityProvider", CAPACITY_ITEM),
            range("capacityProviderStrategy[].weight", 0, 1000, CAPACITY_ITEM),
            range("capacityProviderStrategy[].base", 0, 100_000, CAPACITY_ITEM),
            // "You can specify a maximum of 10 constraints for each task."
            list_size("placementConstraints", 0, 10, $src),
            one_of(
                "placementConstraints[].type",
                &["distinctInstance", "memberOf"],
                PLACEMENT_CONSTRAINT,
            ),
            length(
                "placementConstraints[].expression",
                0,
                2000,
                PLACEMENT_CONSTRAINT,
            ),
            // "You can specify a maximum of 5 strategy rules for each service."
            list_size("placementStrategy", 0, 5, $src),
            one_of(
                "placementStrategy[].type",
                &["random", "spread", "binpack"],
                PLACEMENT_STRATEGY,
            ),
            one_of("propagateTags", PROPAGATE, $src),
        ]
    };
}

macro_rules! deployment_rules {
    ($src:expr) => {
        [
            required(
                "deploymentConfiguration.deploymentCircuitBreaker.enable",
                CIRCUIT_BREAKER,
            ),
            required(
                "deploymentConfiguration.deploymentCircuitBreaker.rollback",
                CIRCUIT_BREAKER,
            ),
            required("deploymentConfiguration.alarms.alarmNames", ALARMS),
            required("deploymentConfiguration.alarms.enable", ALARMS),
            required("deploymentConfiguration.alarms.rollback", ALARMS),
            one_of(
                "deploymentConfiguration.strategy",
                &["ROLLING", "BLUE_GREEN", "LINEAR", "CANARY"],
                DEPLOYMENT_CONFIG,
            ),
            required("deploymentController.type", DEPLOYMENT_CONTROLLER),
            one_of(
                "deploymentController.type",
                &["ECS", "CODE_DEPLOY", "EXTERNAL"],
                DEPLOYMENT_CONTROLLER,
            ),
            one_of("availabilityZoneRebalancing", ENABLED_DISABLED, $src),
            // "Valid values are: AWS_LAMBDA ... PAUSE".
            one_of(
                "deploymentConfiguration.lifecycleHooks[].targetType",
                &["AWS_LAMBDA", "PAUSE"],
                HOOK,
            ),
            one_of(
                "deploymentConfiguration.lifecycleHooks[].lifecycleStages[]",
                HOOK_STAGES,
                HOOK,
            ),
            // "Valid Range: Minimum value of 1. Maximum value of 20160."
            range(
                "deploymentConfiguration.lifecycleHooks[].timeoutConfiguration.timeoutInMinutes",
                1,
                20160,
                HOOK_TIMEOUT,
            ),
            one_of(
                "deploymentConfiguration.lifecycleHooks[].timeoutConfiguration.action",
                &["CONTINUE", "ROLLBACK"],
                HOOK_TIMEOUT,
            ),
            // "Valid values are multiples of 0.1 from 3.0 to 100.0" (the
            // multiple-of-0.1 part is in `ecs::strategies`).
            range(
                "deploymentConfiguration.linearConfiguration.stepPercent",
                3,
                100,
                LINEAR,
            ),
            // "Valid values are 0 to 1440 minutes (24 hours)."
            range(
                "deploymentConfiguration.linearConfiguration.stepBakeTimeInMinutes",
                0,
                1440,
                LINEAR,
            ),
            range(
                "deploymentConfiguration.canaryConfiguration.canaryBakeTimeInMinutes",
                0,
                1440,
                CANARY,
            ),
        ]
    };
}

const NET_CREATE: [Rule; 14] = network_rules!(CREATE_SERVICE);
const DEP_CREATE: [Rule; 16] = deployment_rules!(CREATE_SERVICE);
const CREATE_SERVICE_OWN: [Rule; 9] = [
    required("serviceName", CREATE_SERVICE),
    length("serviceName", 1, 255, CREATE_SERVICE),
    pattern("serviceName", NAME, CREATE_SERVICE),
    // "Up to 36 ASCII characters in the range of 33-126 (inclusive) are
    // allowed." (also on the "Ensuring idempotency" page).
    length("clientToken", 0, 36, CREATE_SERVICE),
    client_token_chars("clientToken", CREATE_SERVICE),
    one_of("launchType", LAUNCH_TYPES, CREATE_SERVICE),
    one_of("schedulingStrategy", &["REPLICA", "DAEMON"], CREATE_SERVICE),
    // "Each service may be associated with one service registry."
    list_size("serviceRegistries", 0, 1, CREATE_SERVICE),
    tags("tags", TAGS, CREATE_SERVICE),
];

const NET_UPDATE: [Rule; 14] = network_rules!(UPDATE_SERVICE);
const DEP_UPDATE: [Rule; 16] = deployment_rules!(UPDATE_SERVICE);
const NET_RUN: [Rule; 14] = network_rules!(RUN_TASK);

const fn concat<const A: usize, const B: usize, const C: usize, const N: usize>(
    a: [Rule; A],
    b: [Rule; B],
    c: [Rule; C],
) -> [Rule; N] {
    let mut out = [a[0]; N];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < A + B {
        out[i] = b[i - A];
        i += 1;
    }
    while i < A + B + C {
        out[i] = c[i - A - B];
        i += 1;
    }
    out
}

static CREATE_SERVICE_TABLE: [Rule; 39] = concat(CREATE_SERVICE_OWN, NET_CREATE, DEP_CREATE);

static UPDATE_SERVICE_TABLE: [Rule; 31] = concat(
    [required("service", UPDATE_SERVICE)],
    NET_UPDATE,
    DEP_UPDATE,
);

static RUN_TASK_TABLE: [Rule; 23] = concat(
    [
        required("taskDefinition", RUN_TASK),
        // "Up to 64 characters are allowed. The valid characters are
        // characters in the range of 33-126, inclusive."
        length("clientToken", 0, 64, RUN_TASK),
        client_token_chars("clientToken", RUN_TASK),
        // "Up to 128 letters (uppercase and lowercase), numbers, hyphens (-),
        // forward slash (/), and underscores (_) are allowed."
        length("startedBy", 0, 128, RUN_TASK),
        pattern("startedBy", "[a-zA-Z0-9/_-]*", RUN_TASK),
        // "You can specify up to 10 tasks for each call."
        range("count", 1, 10, RUN_TASK),
        one_of("launchType", LAUNCH_TYPES, RUN_TASK),
        tags("tags", TAGS, RUN_TASK),
    ],
    NET_RUN,
    [required("overrides.ephemeralStorage.sizeInGiB", EPHEMERAL)],
);

static REGISTER_TD_TABLE: &[Rule] = &[
    required("family", REGISTER_TD)
        .code("ClientException")
        .message("Family can not be blank."),
    length("family", 1, 255, REGISTER_TD)
        .code("ClientException")
        .message("Family must be at most 255 characters."),
    pattern("family", NAME, REGISTER_TD)
        .code("ClientException")
        .message("Family contains invalid characters."),
    required("containerDefinitions", REGISTER_TD).code("ClientException"),
    required("containerDefinitions[].name", CONTAINER_DEF).code("ClientException"),
    length("containerDefinitions[].name", 1, 255, CONTAINER_DEF)
        .code("ClientException")
        .message("Container.name must be at most 255 characters."),
    pattern("containerDefinitions[].name", NAME, CONTAINER_DEF)
        .code("ClientException")
        .message("Container.name contains invalid characters."),
    one_of(
        "containerDefinitions[].portMappings[].protocol",
        &["tcp", "udp"],
        PORT_MAPPING,
    )
    .code("ClientException"),
    one_of(
        "containerDefinitions[].portMappings[].appProtocol",
        &["http", "http2", "grpc"],
        PORT_MAPPING,
    )
    .code("ClientException"),
    // "The name can include up to 64 characters. The characters can include
    // lowercase letters, numbers, underscores (_), and hyphens (-)."
    length(
        "containerDefinitions[].portMappings[].name",
        1,
        64,
        PORT_MAPPING,
    )
    .code("ClientException"),
    pattern(
        "containerDefinitions[].portMappings[].name",
        "[a-z0-9_-]+",
        PORT_MAPPING,
    )
    .code("ClientException"),
    required("containerDefinitions[].secrets[].name", SECRET).code("ClientException"),
    required("containerDefinitions[].secrets[].valueFrom", SECRET).code("ClientException"),
    required(
        "containerDefinitions[].dependsOn[].containerName",
        DEPENDENCY,
    )
    .code("ClientException"),
    required("containerDefinitions[].dependsOn[].condition", DEPENDENCY).code("ClientException"),
    one_of(
        "containerDefinitions[].dependsOn[].condition",
        &["START", "COMPLETE", "SUCCESS", "HEALTHY"],
        DEPENDENCY,
    )
    .code("ClientException"),
    required("containerDefinitions[].healthCheck.command", HEALTH_CHECK).code("ClientException"),
    length("volumes[].name", 1, 255, VOLUME).code("ClientException"),
    pattern("volumes[].name", NAME, VOLUME).code("ClientException"),
    one_of(
        "networkMode",
        &["bridge", "host", "awsvpc", "none"],
        REGISTER_TD,
    ),
    one_of("requiresCompatibilities[]", LAUNCH_TYPES, REGISTER_TD),
    one_of("pidMode", &["host", "task"], REGISTER_TD),
    one_of("ipcMode", &["host", "task", "none"], REGISTER_TD),
    required("ephemeralStorage.sizeInGiB", EPHEMERAL),
    // "The minimum supported value is 21 GiB and the maximum supported value
    // is 200 GiB."
    range("ephemeralStorage.sizeInGiB", 21, 200, EPHEMERAL).code("ClientException"),
    one_of(
        "runtimePlatform.cpuArchitecture",
        &["X86_64", "ARM64"],
        RUNTIME_PLATFORM,
    ),
    tags("tags", TAGS, REGISTER_TD),
];

pub static TABLES: &[OpRules] = &[
    OpRules {
        op: "DescribeServiceDeployments",
        rules: &[
            required("serviceDeploymentArns", DESCRIBE_SERVICE_DEPLOYMENTS),
            // "You can specify a maximum of 20 ARNs."
            list_size("serviceDeploymentArns", 0, 20, DESCRIBE_SERVICE_DEPLOYMENTS),
        ],
    },
    OpRules {
        op: "DescribeServiceRevisions",
        rules: &[
            required("serviceRevisionArns", DESCRIBE_SERVICE_REVISIONS),
            // "You can specify a maximum of 20 ARNs."
            list_size("serviceRevisionArns", 0, 20, DESCRIBE_SERVICE_REVISIONS),
        ],
    },
    OpRules {
        op: "ListServiceDeployments",
        rules: &[
            required("service", LIST_SERVICE_DEPLOYMENTS),
            one_of(
                "status[]",
                SERVICE_DEPLOYMENT_STATUSES,
                LIST_SERVICE_DEPLOYMENTS,
            ),
            // "This value can be between 1 and 100."
            range("maxResults", 1, 100, LIST_SERVICE_DEPLOYMENTS),
        ],
    },
    OpRules {
        op: "ContinueServiceDeployment",
        rules: &[
            required("serviceDeploymentArn", CONTINUE_SERVICE_DEPLOYMENT),
            required("hookId", CONTINUE_SERVICE_DEPLOYMENT),
            one_of(
                "action",
                &["CONTINUE", "ROLLBACK"],
                CONTINUE_SERVICE_DEPLOYMENT,
            ),
        ],
    },
    OpRules {
        op: "StopServiceDeployment",
        rules: &[
            required("serviceDeploymentArn", STOP_SERVICE_DEPLOYMENT),
            one_of("stopType", &["ABORT", "ROLLBACK"], STOP_SERVICE_DEPLOYMENT),
        ],
    },
    OpRules {
        op: "CreateService",
        rules: &CREATE_SERVICE_TABLE,
    },
    OpRules {
        op: "UpdateService",
        rules: &UPDATE_SERVICE_TABLE,
    },
    OpRules {
        op: "DeleteService",
        rules: &[required("service", DELETE_SERVICE)],
    },
    OpRules {
        op: "DescribeServices",
        rules: &[
            required("services", DESCRIBE_SERVICES),
            // "You may specify up to 10 services to describe in a single
            // operation."
            list_size("services", 0, 10, DESCRIBE_SERVICES),
            one_of("include[]", &["TAGS"], DESCRIBE_SERVICES),
        ],
    },
    OpRules {
        op: "ListServices",
        rules: &[
            // "This value can be between 1 and 100."
            range("maxResults", 1, 100, LIST_SERVICES),
            one_of("launchType", LAUNCH_TYPES, LIST_SERVICES),
            one_of("schedulingStrategy", &["REPLICA", "DAEMON"], LIST_SERVICES),
        ],
    },
    OpRules {
        op: "RegisterTaskDefinition",
        rules: REGISTER_TD_TABLE,
    },
    OpRules {
        op: "DeregisterTaskDefinition",
        rules: &[required("taskDefinition", DEREGISTER_TD)],
    },
    OpRules {
        op: "ListTaskDefinitions",
        rules: &[
            one_of(
                "status",
                &["ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"],
                LIST_TDS,
            ),
            one_of("sort", &["ASC", "DESC"], LIST_TDS),
            range("maxResults", 1, 100, LIST_TDS),
        ],
    },
    OpRules {
        op: "DescribeTaskDefinition",
        rules: &[
            required("taskDefinition", DESCRIBE_TD),
            one_of("include[]", &["TAGS"], DESCRIBE_TD),
        ],
    },
    OpRules {
        op: "RunTask",
        rules: &RUN_TASK_TABLE,
    },
    OpRules {
        op: "StopTask",
        rules: &[required("task", STOP_TASK)],
    },
    OpRules {
        op: "DescribeTasks",
        rules: &[
            required("tasks", DESCRIBE_TASKS),
            // "A list of up to 100 task IDs or full ARN entries."
            list_size("tasks", 0, 100, DESCRIBE_TASKS),
            one_of("include[]", &["TAGS"], DESCRIBE_TASKS),
        ],
    },
    OpRules {
        op: "ListTasks",
        rules: &[
            one_of(
                "desiredStatus",
                &["RUNNING", "PENDING", "STOPPED"],
                LIST_TASKS,
            ),
            one_of("launchType", LAUNCH_TYPES, LIST_TASKS),
            range("maxResults", 1, 100, LIST_TASKS),
        ],
    },
    OpRules {
        op: "TagResource",
        rules: &[
            required("resourceArn", TAG_RESOURCE),
            required("tags", TAG_RESOURCE),
            tags("tags", TAGS, TAG_RESOURCE),
        ],
    },
    OpRules {
        op: "UntagResource",
        rules: &[
            required("resourceArn", UNTAG_RESOURCE),
            required("tagKeys", UNTAG_RESOURCE),
            length("tagKeys[]", 1, 128, UNTAG_RESOURCE),
            pattern("tagKeys[]", r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*", UNTAG_RESOURCE),
        ],
    },
    OpRules {
        op: "ListTagsForResource",
        rules: &[required("resourceArn", LIST_TAGS)],
    },
    OpRules {
        op: "DescribeClusters",
        rules: &[
            // "A list of up to 100 cluster names or full cluster Amazon
            // Resource Name (ARN) entries."
            list_size("clusters", 0, 100, DESCRIBE_CLUSTERS),
            one_of(
                "include[]",
                &[
                    "ATTACHMENTS",
                    "CONFIGURATIONS",
                    "SETTINGS",
                    "STATISTICS",
                    "TAGS",
                ],
                DESCRIBE_CLUSTERS,
            ),
        ],
    },
    OpRules {
        op: "ListClusters",
        rules: &[range("maxResults", 1, 100, LIST_CLUSTERS)],
    },
    OpRules {
        op: "CreateCluster",
        rules: &[
            length("clusterName", 1, 255, CREATE_CLUSTER),
            pattern("clusterName", NAME, CREATE_CLUSTER),
            tags("tags", TAGS, CREATE_CLUSTER),
        ],
    },
];
