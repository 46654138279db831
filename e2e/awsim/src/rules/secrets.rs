//! Secrets Manager request rules, from the Secrets Manager API reference and
//! its service model.
//!
//! Codes: Secrets Manager rejects members outside the model's constraints
//! before its own checks, in the framework's words ("1 validation error
//! detected: Value ... failed to satisfy constraint: ..."), with the code
//! its "Common Errors" page lists for that case: "ValidationException: The
//! input fails to satisfy the constraints specified by an AWS service"
//! (https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html).
//! The reserved `aws:` tag prefix is the service's own check and answers
//! `InvalidParameterException` like its other invalid values.

use super::{length, list_size, one_of, pattern, range, required, tags, OpRules, TagSpec};

/// The code for members that break the model's constraints.
pub const VALIDATION_CODE: &str = "ValidationException";

macro_rules! page {
    ($name:literal) => {
        concat!(
            "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_",
            $name,
            ".html"
        )
    };
}

const DESCRIBE: &str = page!("DescribeSecret");
const GET_VALUE: &str = page!("GetSecretValue");
const CREATE: &str = page!("CreateSecret");
const PUT_VALUE: &str = page!("PutSecretValue");
const DELETE: &str = page!("DeleteSecret");
const RESTORE: &str = page!("RestoreSecret");
const LIST: &str = page!("ListSecrets");
const LIST_VERSIONS: &str = page!("ListSecretVersionIds");
const TAG: &str = page!("Tag");

/// Secrets Manager's `Tag`: key 1..128, value 0..256 (model); "Do not use
/// the aws: prefix in your tag names or values because Amazon Web Services
/// reserves it" (TagResource); at most 50 tags per secret.
pub const TAGS: TagSpec = TagSpec {
    key: "Key",
    value: "Value",
    max: 50,
    key_max: 128,
    value_max: 256,
    reserved: &["aws:"],
    values_reserved: true,
    pattern: None,
    too_many_code: None,
};

/// "The secret name can contain ASCII letters, numbers, and the following
/// characters: /_+=.@-"
const SECRET_NAME: &str = r"[a-zA-Z0-9/_+=.@-]+";

pub static TABLES: &[OpRules] = &[
    OpRules {
        op: "DescribeSecret",
        rules: &[
            required("SecretId", DESCRIBE),
            length("SecretId", 1, 2048, DESCRIBE),
        ],
    },
    OpRules {
        op: "GetSecretValue",
        rules: &[
            required("SecretId", GET_VALUE),
            length("SecretId", 1, 2048, GET_VALUE),
            length("VersionId", 32, 64, GET_VALUE),
            length("VersionStage", 1, 256, GET_VALUE),
        ],
    },
    OpRules {
        op: "CreateSecret",
        rules: &[
            required("Name", CREATE),
            length("Name", 1, 512, CREATE),
            pattern("Name", SECRET_NAME, CREATE).code("InvalidParameterException"),
            length("ClientRequestToken", 32, 64, CREATE),
            length("Description", 0, 2048, CREATE),
            length("KmsKeyId", 0, 2048, CREATE),
            length("SecretString", 1, 65536, CREATE),
            length("Tags[].Key", 1, 128, TAG),
            length("Tags[].Value", 0, 256, TAG),
            tags("Tags", TAGS, CREATE).code("InvalidParameterException"),
            list_size("AddReplicaRegions", 1, usize::MAX, CREATE),
        ],
    },
    OpRules {
        op: "PutSecretValue",
        rules: &[
            required("SecretId", PUT_VALUE),
            length("SecretId", 1, 2048, PUT_VALUE),
            length("ClientRequestToken", 32, 64, PUT_VALUE),
            length("SecretString", 1, 65536, PUT_VALUE),
            list_size("VersionStages", 1, 20, PUT_VALUE),
            length("VersionStages[]", 1, 256, PUT_VALUE),
            length("RotationToken", 36, 256, PUT_VALUE),
            pattern("RotationToken", r"^[a-zA-Z0-9\-]+$", PUT_VALUE),
        ],
    },
    OpRules {
        op: "DeleteSecret",
        rules: &[
            required("SecretId", DELETE),
            length("SecretId", 1, 2048, DELETE),
        ],
    },
    OpRules {
        op: "RestoreSecret",
        rules: &[
            required("SecretId", RESTORE),
            length("SecretId", 1, 2048, RESTORE),
        ],
    },
    OpRules {
        op: "ListSecretVersionIds",
        rules: &[
            required("SecretId", LIST_VERSIONS),
            length("SecretId", 1, 2048, LIST_VERSIONS),
            range("MaxResults", 1, 100, LIST_VERSIONS),
        ],
    },
    OpRules {
        op: "ListSecrets",
        rules: &[
            range("MaxResults", 1, 100, LIST),
            length("NextToken", 1, 4096, LIST),
            list_size("Filters", 0, 10, LIST),
            one_of(
                "Filters[].Key",
                &[
                    "description",
                    "name",
                    "tag-key",
                    "tag-value",
                    "primary-region",
                    "owning-service",
                    "all",
                ],
                LIST,
            ),
            list_size("Filters[].Values", 1, 10, LIST),
            length("Filters[].Values[]", 0, 512, LIST),
            pattern(
                "Filters[].Values[]",
                r"^\!?[a-zA-Z0-9 :_@\/\+\=\.\-\!]*$",
                LIST,
            ),
            one_of("SortOrder", &["asc", "desc"], LIST),
        ],
    },
];
