//! Cloud Map (servicediscovery) request rules, from the Cloud Map API
//! reference and its service model.
//!
//! Codes: the API reference's `InvalidInput` is "One or more specified values
//! aren't valid. For example, a required value might be missing, a numeric
//! value might be outside the allowed range, or a string value might exceed
//! length constraints." Too many tags on a resource is
//! `TooManyTagsException` ("The maximum number of tags that can be applied
//! to a resource is 50"), checked against the stored tags by the handler.

use super::{
    length, list_size, one_of, pattern, range, required, tags, Check, OpRules, Rule, TagSpec,
};

macro_rules! page {
    ($name:literal) => {
        concat!(
            "https://docs.aws.amazon.com/cloud-map/latest/api/API_",
            $name,
            ".html"
        )
    };
}

const CREATE_SERVICE: &str = page!("CreateService");
const UPDATE_SERVICE: &str = page!("UpdateService");
const DELETE_SERVICE: &str = page!("DeleteService");
const GET_SERVICE: &str = page!("GetService");
const LIST_SERVICES: &str = page!("ListServices");
const LIST_NAMESPACES: &str = page!("ListNamespaces");
const GET_NAMESPACE: &str = page!("GetNamespace");
const DELETE_NAMESPACE: &str = page!("DeleteNamespace");
const CREATE_PRIVATE_NS: &str = page!("CreatePrivateDnsNamespace");
const CREATE_HTTP_NS: &str = page!("CreateHttpNamespace");
const LIST_TAGS: &str = page!("ListTagsForResource");
const TAG_RESOURCE: &str = page!("TagResource");
const UNTAG_RESOURCE: &str = page!("UntagResource");
const GET_OPERATION: &str = page!("GetOperation");
const LIST_OPERATIONS: &str = page!("ListOperations");
const REGISTER_INSTANCE: &str = page!("RegisterInstance");
const DEREGISTER_INSTANCE: &str = page!("DeregisterInstance");
const GET_INSTANCE: &str = page!("GetInstance");
const LIST_INSTANCES: &str = page!("ListInstances");
const DISCOVER: &str = page!("DiscoverInstances");
const DNS_CONFIG: &str = page!("DnsConfig");
const DNS_RECORD: &str = page!("DnsRecord");
const HEALTH_CHECK: &str = page!("HealthCheckConfig");
const CUSTOM_HEALTH: &str = page!("HealthCheckCustomConfig");
const TAG: &str = page!("Tag");

/// The model's service name pattern is
/// `((?=^.{1,127}$)^(LABEL)(\.(LABEL))*$)|(^\.$)`; the lookahead is the
/// length rule next to it, the rest is this.
const SERVICE_NAME: &str = r"([a-zA-Z0-9_][a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9])(\.([a-zA-Z0-9_][a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9]))*|\.";

/// Cloud Map's `Tag`: key 1..128, value 0..256, up to 200 in a request
/// (the 50-per-resource quota is the handler's `TooManyTagsException`).
pub const TAGS: TagSpec = TagSpec {
    key: "Key",
    value: "Value",
    max: 200,
    key_max: 128,
    value_max: 256,
    reserved: &["aws:"],
    values_reserved: false,
    pattern: None,
    too_many_code: None,
};

/// `^(?!arn:)[!-~]{1,N}$`: printable ASCII, not an ARN.
const fn not_arn(path: &'static str, source: &'static str) -> Rule {
    Rule::new(path, Check::NoPrefix(&["arn:"]), source)
}

const FILTER_CONDITIONS: &[&str] = &["EQ", "IN", "BETWEEN", "BEGINS_WITH"];

pub static TABLES: &[OpRules] = &[
    OpRules {
        op: "CreateService",
        rules: &[
            required("Name", CREATE_SERVICE),
            length("Name", 1, 127, CREATE_SERVICE),
            pattern("Name", SERVICE_NAME, CREATE_SERVICE),
            length("NamespaceId", 0, 255, CREATE_SERVICE),
            length("CreatorRequestId", 0, 64, CREATE_SERVICE),
            length("Description", 0, 1024, CREATE_SERVICE),
            length("DnsConfig.NamespaceId", 0, 64, DNS_CONFIG),
            one_of(
                "DnsConfig.RoutingPolicy",
                &["MULTIVALUE", "WEIGHTED"],
                DNS_CONFIG,
            ),
            required("DnsConfig.DnsRecords", DNS_CONFIG),
            required("DnsConfig.DnsRecords[].Type", DNS_RECORD),
            one_of(
                "DnsConfig.DnsRecords[].Type",
                &["SRV", "A", "AAAA", "CNAME"],
                DNS_RECORD,
            ),
            required("DnsConfig.DnsRecords[].TTL", DNS_RECORD),
            range("DnsConfig.DnsRecords[].TTL", 0, 2_147_483_647, DNS_RECORD),
            required("HealthCheckConfig.Type", HEALTH_CHECK),
            one_of(
                "HealthCheckConfig.Type",
                &["HTTP", "HTTPS", "TCP"],
                HEALTH_CHECK,
            ),
            length("HealthCheckConfig.ResourcePath", 0, 255, HEALTH_CHECK),
            range("HealthCheckConfig.FailureThreshold", 1, 10, HEALTH_CHECK),
            range(
                "HealthCheckCustomConfig.FailureThreshold",
                1,
                10,
                CUSTOM_HEALTH,
            ),
            required("Tags[].Key", TAG),
            required("Tags[].Value", TAG),
            tags("Tags", TAGS, CREATE_SERVICE),
            one_of("Type", &["HTTP"], CREATE_SERVICE),
        ],
    },
    OpRules {
        op: "UpdateService",
        rules: &[
            required("Id", UPDATE_SERVICE),
            length("Id", 0, 255, UPDATE_SERVICE),
            required("Service", UPDATE_SERVICE),
            length("Service.Description", 0, 1024, UPDATE_SERVICE),
            required("Service.DnsConfig.DnsRecords", UPDATE_SERVICE),
            required("Service.DnsConfig.DnsRecords[].Type", DNS_RECORD),
            one_of(
                "Service.DnsConfig.DnsRecords[].Type",
                &["SRV", "A", "AAAA", "CNAME"],
                DNS_RECORD,
            ),
            required("Service.DnsConfig.DnsRecords[].TTL", DNS_RECORD),
            range(
                "Service.DnsConfig.DnsRecords[].TTL",
                0,
                2_147_483_647,
                DNS_RECORD,
            ),
            required("Service.HealthCheckConfig.Type", HEALTH_CHECK),
            one_of(
                "Service.HealthCheckConfig.Type",
                &["HTTP", "HTTPS", "TCP"],
                HEALTH_CHECK,
            ),
            length(
                "Service.HealthCheckConfig.ResourcePath",
                0,
                255,
                HEALTH_CHECK,
            ),
            range(
                "Service.HealthCheckConfig.FailureThreshold",
                1,
                10,
                HEALTH_CHECK,
            ),
        ],
    },
    OpRules {
        op: "DeleteService",
        rules: &[
            required("Id", DELETE_SERVICE),
            length("Id", 0, 255, DELETE_SERVICE),
        ],
    },
    OpRules {
        op: "GetService",
        rules: &[
            required("Id", GET_SERVICE),
            length("Id", 0, 255, GET_SERVICE),
        ],
    },
    OpRules {
        op: "ListServices",
        rules: &[
            length("NextToken", 0, 4096, LIST_SERVICES),
            range("MaxResults", 1, 100, LIST_SERVICES),
            required("Filters[].Name", LIST_SERVICES),
            one_of(
                "Filters[].Name",
                &["NAMESPACE_ID", "RESOURCE_OWNER"],
                LIST_SERVICES,
            ),
            required("Filters[].Values", LIST_SERVICES),
            length("Filters[].Values[]", 1, 255, LIST_SERVICES),
            one_of("Filters[].Condition", FILTER_CONDITIONS, LIST_SERVICES),
        ],
    },
    OpRules {
        op: "ListNamespaces",
        rules: &[
            length("NextToken", 0, 4096, LIST_NAMESPACES),
            range("MaxResults", 1, 100, LIST_NAMESPACES),
            required("Filters[].Name", LIST_NAMESPACES),
            one_of(
                "Filters[].Name",
                &["TYPE", "NAME", "HTTP_NAME", "RESOURCE_OWNER"],
                LIST_NAMESPACES,
            ),
            required("Filters[].Values", LIST_NAMESPACES),
            length("Filters[].Values[]", 1, 255, LIST_NAMESPACES),
            one_of("Filters[].Condition", FILTER_CONDITIONS, LIST_NAMESPACES),
        ],
    },
    OpRules {
        op: "GetNamespace",
        rules: &[
            required("Id", GET_NAMESPACE),
            length("Id", 0, 255, GET_NAMESPACE),
        ],
    },
    OpRules {
        op: "DeleteNamespace",
        rules: &[
            required("Id", DELETE_NAMESPACE),
            length("Id", 0, 255, DELETE_NAMESPACE),
        ],
    },
    OpRules {
        op: "CreatePrivateDnsNamespace",
        rules: &[
            required("Name", CREATE_PRIVATE_NS),
            pattern("Name", "[!-~]{1,253}", CREATE_PRIVATE_NS),
            not_arn("Name", CREATE_PRIVATE_NS),
            length("CreatorRequestId", 0, 64, CREATE_PRIVATE_NS),
            length("Description", 0, 1024, CREATE_PRIVATE_NS),
            required("Vpc", CREATE_PRIVATE_NS),
            length("Vpc", 0, 64, CREATE_PRIVATE_NS),
            required("Tags[].Key", TAG),
            required("Tags[].Value", TAG),
            tags("Tags", TAGS, CREATE_PRIVATE_NS),
        ],
    },
    OpRules {
        op: "CreateHttpNamespace",
        rules: &[
            required("Name", CREATE_HTTP_NS),
            pattern("Name", "[!-~]{1,1024}", CREATE_HTTP_NS),
            not_arn("Name", CREATE_HTTP_NS),
            length("CreatorRequestId", 0, 64, CREATE_HTTP_NS),
            length("Description", 0, 1024, CREATE_HTTP_NS),
            required("Tags[].Key", TAG),
            required("Tags[].Value", TAG),
            tags("Tags", TAGS, CREATE_HTTP_NS),
        ],
    },
    OpRules {
        op: "ListTagsForResource",
        rules: &[
            required("ResourceARN", LIST_TAGS),
            length("ResourceARN", 1, 1011, LIST_TAGS),
        ],
    },
    OpRules {
        op: "TagResource",
        rules: &[
            required("ResourceARN", TAG_RESOURCE),
            length("ResourceARN", 1, 1011, TAG_RESOURCE),
            required("Tags", TAG_RESOURCE),
            required("Tags[].Key", TAG),
            required("Tags[].Value", TAG),
            tags("Tags", TAGS, TAG_RESOURCE),
        ],
    },
    OpRules {
        op: "UntagResource",
        rules: &[
            required("ResourceARN", UNTAG_RESOURCE),
            length("ResourceARN", 1, 1011, UNTAG_RESOURCE),
            required("TagKeys", UNTAG_RESOURCE),
            list_size("TagKeys", 0, 200, UNTAG_RESOURCE),
            length("TagKeys[]", 1, 128, UNTAG_RESOURCE),
        ],
    },
    OpRules {
        op: "GetOperation",
        rules: &[
            required("OperationId", GET_OPERATION),
            length("OperationId", 0, 255, GET_OPERATION),
            length("OwnerAccount", 12, 12, GET_OPERATION),
        ],
    },
    OpRules {
        op: "ListOperations",
        rules: &[
            length("NextToken", 0, 4096, LIST_OPERATIONS),
            range("MaxResults", 1, 100, LIST_OPERATIONS),
            required("Filters[].Name", LIST_OPERATIONS),
            one_of(
                "Filters[].Name",
                &[
                    "NAMESPACE_ID",
                    "SERVICE_ID",
                    "STATUS",
                    "TYPE",
                    "UPDATE_DATE",
                ],
                LIST_OPERATIONS,
            ),
            required("Filters[].Values", LIST_OPERATIONS),
            length("Filters[].Values[]", 1, 255, LIST_OPERATIONS),
            one_of("Filters[].Condition", FILTER_CONDITIONS, LIST_OPERATIONS),
        ],
    },
    OpRules {
        op: "RegisterInstance",
        rules: &[
            required("ServiceId", REGISTER_INSTANCE),
            length("ServiceId", 0, 255, REGISTER_INSTANCE),
            required("InstanceId", REGISTER_INSTANCE),
            length("InstanceId", 0, 64, REGISTER_INSTANCE),
            pattern("InstanceId", "^[0-9a-zA-Z_/:.@-]+$", REGISTER_INSTANCE),
            length("CreatorRequestId", 0, 64, REGISTER_INSTANCE),
            required("Attributes", REGISTER_INSTANCE),
            length("Attributes{key}", 0, 255, REGISTER_INSTANCE),
            pattern("Attributes{key}", "^[a-zA-Z0-9!-~]+$", REGISTER_INSTANCE),
            length("Attributes{value}", 0, 1024, REGISTER_INSTANCE),
            pattern(
                "Attributes{value}",
                r"^([a-zA-Z0-9!-~][ \ta-zA-Z0-9!-~]*){0,1}[a-zA-Z0-9!-~]{0,1}$",
                REGISTER_INSTANCE,
            ),
        ],
    },
    OpRules {
        op: "DeregisterInstance",
        rules: &[
            required("ServiceId", DEREGISTER_INSTANCE),
            length("ServiceId", 0, 255, DEREGISTER_INSTANCE),
            required("InstanceId", DEREGISTER_INSTANCE),
            length("InstanceId", 0, 64, DEREGISTER_INSTANCE),
        ],
    },
    OpRules {
        op: "GetInstance",
        rules: &[
            required("ServiceId", GET_INSTANCE),
            length("ServiceId", 0, 255, GET_INSTANCE),
            required("InstanceId", GET_INSTANCE),
            length("InstanceId", 0, 64, GET_INSTANCE),
        ],
    },
    OpRules {
        op: "ListInstances",
        rules: &[
            required("ServiceId", LIST_INSTANCES),
            length("ServiceId", 0, 255, LIST_INSTANCES),
            length("NextToken", 0, 4096, LIST_INSTANCES),
            range("MaxResults", 1, 100, LIST_INSTANCES),
        ],
    },
    OpRules {
        op: "DiscoverInstances",
        rules: &[
            required("NamespaceName", DISCOVER),
            pattern("NamespaceName", "^[!-~]{1,1024}$", DISCOVER),
            required("ServiceName", DISCOVER),
            length("ServiceName", 1, 127, DISCOVER),
            pattern("ServiceName", SERVICE_NAME, DISCOVER),
            range("MaxResults", 1, 1000, DISCOVER),
            one_of(
                "HealthStatus",
                &["HEALTHY", "UNHEALTHY", "ALL", "HEALTHY_OR_ELSE_ALL"],
                DISCOVER,
            ),
            length("OwnerAccount", 12, 12, DISCOVER),
        ],
    },
];
