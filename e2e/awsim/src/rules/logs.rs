//! CloudWatch Logs request rules, from the CloudWatch Logs API reference and
//! its service model.
//!
//! Codes: Logs answers constraint violations with
//! `InvalidParameterException` and the framework's "1 validation error
//! detected: Value '...' at 'logStreamName' failed to satisfy constraint:
//! Member must satisfy regular expression pattern: [^:*]*"; too many tags on
//! a log group is `TooManyTagsException` (TagResource).

use super::{length, list_size, one_of, pattern, range, required, tags, OpRules, TagSpec};

macro_rules! page {
    ($name:literal) => {
        concat!(
            "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_",
            $name,
            ".html"
        )
    };
}

const GET_EVENTS: &str = page!("GetLogEvents");
const FILTER_EVENTS: &str = page!("FilterLogEvents");
const CREATE_GROUP: &str = page!("CreateLogGroup");
const DELETE_GROUP: &str = page!("DeleteLogGroup");
const DESCRIBE_GROUPS: &str = page!("DescribeLogGroups");
const CREATE_STREAM: &str = page!("CreateLogStream");
const DESCRIBE_STREAMS: &str = page!("DescribeLogStreams");
const PUT_EVENTS: &str = page!("PutLogEvents");
const RETENTION: &str = page!("PutRetentionPolicy");
const INPUT_EVENT: &str = page!("InputLogEvent");

const GROUP_NAME: &str = r"[\.\-_/#A-Za-z0-9]+";
const GROUP_ID: &str = r"[\w#+=/:,.@-]*";
const STREAM_NAME: &str = "[^:*]*";

/// CreateLogGroup `tags`: a map of 1..50 entries, keys
/// `^([\p{L}\p{Z}\p{N}_.:/=+\-@]+)$` of 1..128, values of up to 256; "Tag
/// keys ... can't start with aws:" (CreateLogGroup: "the aws: prefix is
/// reserved").
pub const TAGS: TagSpec = TagSpec {
    key: "key",
    value: "value",
    max: 50,
    key_max: 128,
    value_max: 256,
    reserved: &["aws:"],
    values_reserved: false,
    pattern: Some(r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*"),
    too_many_code: None,
};

/// "Valid values: 1 | 3 | 5 | 7 | 14 | 30 | 60 | 90 | 120 | 150 | 180 | 365
/// | 400 | 545 | 731 | 1096 | 1827 | 2192 | 2557 | 2922 | 3288 | 3653"
const RETENTION_DAYS: &[&str] = &[
    "1", "3", "5", "7", "14", "30", "60", "90", "120", "150", "180", "365", "400", "545", "731",
    "1096", "1827", "2192", "2557", "2922", "3288", "3653",
];

pub static TABLES: &[OpRules] = &[
    OpRules {
        op: "GetLogEvents",
        rules: &[
            length("logGroupName", 1, 512, GET_EVENTS),
            pattern("logGroupName", GROUP_NAME, GET_EVENTS),
            length("logGroupIdentifier", 1, 2048, GET_EVENTS),
            pattern("logGroupIdentifier", GROUP_ID, GET_EVENTS),
            required("logStreamName", GET_EVENTS),
            length("logStreamName", 1, 512, GET_EVENTS),
            pattern("logStreamName", STREAM_NAME, GET_EVENTS),
            range("startTime", 0, i64::MAX, GET_EVENTS),
            range("endTime", 0, i64::MAX, GET_EVENTS),
            length("nextToken", 1, usize::MAX, GET_EVENTS),
            range("limit", 1, 10_000, GET_EVENTS),
        ],
    },
    OpRules {
        op: "FilterLogEvents",
        rules: &[
            length("logGroupName", 1, 512, FILTER_EVENTS),
            pattern("logGroupName", GROUP_NAME, FILTER_EVENTS),
            length("logGroupIdentifier", 1, 2048, FILTER_EVENTS),
            pattern("logGroupIdentifier", GROUP_ID, FILTER_EVENTS),
            list_size("logStreamNames", 1, 100, FILTER_EVENTS),
            length("logStreamNames[]", 1, 512, FILTER_EVENTS),
            pattern("logStreamNames[]", STREAM_NAME, FILTER_EVENTS),
            length("logStreamNamePrefix", 1, 512, FILTER_EVENTS),
            pattern("logStreamNamePrefix", STREAM_NAME, FILTER_EVENTS),
            length("filterPattern", 0, 1024, FILTER_EVENTS),
            range("limit", 1, 10_000, FILTER_EVENTS),
        ],
    },
    OpRules {
        op: "CreateLogGroup",
        rules: &[
            required("logGroupName", CREATE_GROUP),
            length("logGroupName", 1, 512, CREATE_GROUP),
            pattern("logGroupName", GROUP_NAME, CREATE_GROUP),
            length("kmsKeyId", 0, 256, CREATE_GROUP),
            list_size("tags", 1, 50, CREATE_GROUP),
            tags("tags", TAGS, CREATE_GROUP),
            one_of(
                "logGroupClass",
                &["STANDARD", "INFREQUENT_ACCESS", "DELIVERY"],
                CREATE_GROUP,
            ),
        ],
    },
    OpRules {
        op: "DeleteLogGroup",
        rules: &[
            required("logGroupName", DELETE_GROUP),
            length("logGroupName", 1, 512, DELETE_GROUP),
            pattern("logGroupName", GROUP_NAME, DELETE_GROUP),
        ],
    },
    OpRules {
        op: "DescribeLogGroups",
        rules: &[
            length("logGroupNamePrefix", 1, 512, DESCRIBE_GROUPS),
            pattern("logGroupNamePrefix", GROUP_NAME, DESCRIBE_GROUPS),
            length("logGroupNamePattern", 0, 512, DESCRIBE_GROUPS),
            pattern(
                "logGroupNamePattern",
                r"[\.\-_/#A-Za-z0-9]*",
                DESCRIBE_GROUPS,
            ),
            range("limit", 1, 50, DESCRIBE_GROUPS),
            list_size("logGroupIdentifiers", 1, 50, DESCRIBE_GROUPS),
        ],
    },
    OpRules {
        op: "CreateLogStream",
        rules: &[
            required("logGroupName", CREATE_STREAM),
            length("logGroupName", 1, 512, CREATE_STREAM),
            pattern("logGroupName", GROUP_NAME, CREATE_STREAM),
            required("logStreamName", CREATE_STREAM),
            length("logStreamName", 1, 512, CREATE_STREAM),
            pattern("logStreamName", STREAM_NAME, CREATE_STREAM),
        ],
    },
    OpRules {
        op: "DescribeLogStreams",
        rules: &[
            length("logGroupName", 1, 512, DESCRIBE_STREAMS),
            pattern("logGroupName", GROUP_NAME, DESCRIBE_STREAMS),
            length("logStreamNamePrefix", 1, 512, DESCRIBE_STREAMS),
            pattern("logStreamNamePrefix", STREAM_NAME, DESCRIBE_STREAMS),
            one_of(
                "orderBy",
                &["LogStreamName", "LastEventTime"],
                DESCRIBE_STREAMS,
            ),
            range("limit", 1, 50, DESCRIBE_STREAMS),
        ],
    },
    OpRules {
        op: "PutLogEvents",
        rules: &[
            required("logGroupName", PUT_EVENTS),
            length("logGroupName", 1, 512, PUT_EVENTS),
            pattern("logGroupName", GROUP_NAME, PUT_EVENTS),
            required("logStreamName", PUT_EVENTS),
            length("logStreamName", 1, 512, PUT_EVENTS),
            pattern("logStreamName", STREAM_NAME, PUT_EVENTS),
            required("logEvents", PUT_EVENTS),
            list_size("logEvents", 1, 10_000, PUT_EVENTS),
            required("logEvents[].timestamp", INPUT_EVENT),
            range("logEvents[].timestamp", 0, i64::MAX, INPUT_EVENT),
            required("logEvents[].message", INPUT_EVENT),
            length("logEvents[].message", 1, usize::MAX, INPUT_EVENT),
        ],
    },
    OpRules {
        op: "PutRetentionPolicy",
        rules: &[
            required("logGroupName", RETENTION),
            length("logGroupName", 1, 512, RETENTION),
            pattern("logGroupName", GROUP_NAME, RETENTION),
            required("retentionInDays", RETENTION),
            one_of("retentionInDays", RETENTION_DAYS, RETENTION),
        ],
    },
];
