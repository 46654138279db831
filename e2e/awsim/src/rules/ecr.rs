//! ECR request rules, from the ECR API reference and its service model.
//!
//! Codes: ECR reports constraint violations as `InvalidParameterException`
//! ("Invalid parameter at 'repositoryName' failed to satisfy constraint:
//! 'must satisfy regular expression ...'"), and tags with
//! `InvalidTagParameterException` / `TooManyTagsException` (both documented
//! on CreateRepository and TagResource).

use super::{length, list_size, one_of, pattern, range, required, tags, OpRules, TagSpec};

macro_rules! page {
    ($name:literal) => {
        concat!(
            "https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_",
            $name,
            ".html"
        )
    };
}

const CREATE_PTC: &str = page!("CreatePullThroughCacheRule");
const UPDATE_PTC: &str = page!("UpdatePullThroughCacheRule");
const DELETE_PTC: &str = page!("DeletePullThroughCacheRule");
const DESCRIBE_PTC: &str = page!("DescribePullThroughCacheRules");
const VALIDATE_PTC: &str = page!("ValidatePullThroughCacheRule");
const CREATE_REPO: &str = page!("CreateRepository");
const DESCRIBE_REPOS: &str = page!("DescribeRepositories");
const DELETE_REPO: &str = page!("DeleteRepository");
const CREATE_TEMPLATE: &str = page!("CreateRepositoryCreationTemplate");
const DESCRIBE_TEMPLATES: &str = page!("DescribeRepositoryCreationTemplates");
const DELETE_TEMPLATE: &str = page!("DeleteRepositoryCreationTemplate");
const ENCRYPTION: &str = page!("EncryptionConfiguration");
const TAG_RESOURCE: &str = page!("TagResource");
const LIST_TAGS: &str = page!("ListTagsForResource");

/// `ecrRepositoryPrefix` / `upstreamRepositoryPrefix` / template `prefix`.
const PREFIX: &str =
    r"^([a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*\/?|ROOT)$";
const REPOSITORY_NAME: &str =
    r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*";
const REGISTRY_ID: &str = "[0-9]{12}";
const CREDENTIAL_ARN: &str = r"^arn:aws(-\w+)*:secretsmanager:[a-zA-Z0-9-:]+:secret:ecr\-pullthroughcache\/[a-zA-Z0-9\/_+=.@-]+$";
const UPSTREAM_REGISTRIES: &[&str] = &[
    "ecr",
    "ecr-public",
    "quay",
    "k8s",
    "docker-hub",
    "github-container-registry",
    "azure-container-registry",
    "gitlab-container-registry",
    "chainguard",
];
const MUTABILITY: &[&str] = &[
    "MUTABLE",
    "IMMUTABLE",
    "IMMUTABLE_WITH_EXCLUSION",
    "MUTABLE_WITH_EXCLUSION",
];

/// ECR's `Tag`: "Tag keys can have a maximum character length of 128
/// characters, and tag values can have a maximum length of 256 characters"
/// (InvalidTagParameterException); "The maximum number of tags that can be
/// applied to a repository is 50" (TooManyTagsException). The reserved
/// `aws:` prefix is the general AWS tagging rule ECR's tagging guide repeats.
pub const TAGS: TagSpec = TagSpec {
    key: "Key",
    value: "Value",
    max: 50,
    key_max: 128,
    value_max: 256,
    reserved: &["aws:"],
    values_reserved: false,
    pattern: None,
    too_many_code: Some("TooManyTagsException"),
};

pub static TABLES: &[OpRules] = &[
    OpRules {
        op: "CreatePullThroughCacheRule",
        rules: &[
            required("ecrRepositoryPrefix", CREATE_PTC),
            length("ecrRepositoryPrefix", 2, 30, CREATE_PTC),
            pattern("ecrRepositoryPrefix", PREFIX, CREATE_PTC),
            required("upstreamRegistryUrl", CREATE_PTC),
            pattern("registryId", REGISTRY_ID, CREATE_PTC),
            one_of("upstreamRegistry", UPSTREAM_REGISTRIES, CREATE_PTC),
            length("credentialArn", 50, 612, CREATE_PTC),
            pattern("credentialArn", CREDENTIAL_ARN, CREATE_PTC),
            length("customRoleArn", 0, 2048, CREATE_PTC),
            length("upstreamRepositoryPrefix", 2, 30, CREATE_PTC),
            pattern("upstreamRepositoryPrefix", PREFIX, CREATE_PTC),
        ],
    },
    OpRules {
        op: "UpdatePullThroughCacheRule",
        rules: &[
            required("ecrRepositoryPrefix", UPDATE_PTC),
            length("ecrRepositoryPrefix", 2, 30, UPDATE_PTC),
            pattern("ecrRepositoryPrefix", PREFIX, UPDATE_PTC),
            pattern("registryId", REGISTRY_ID, UPDATE_PTC),
            length("credentialArn", 50, 612, UPDATE_PTC),
            pattern("credentialArn", CREDENTIAL_ARN, UPDATE_PTC),
            length("customRoleArn", 0, 2048, UPDATE_PTC),
        ],
    },
    OpRules {
        op: "DeletePullThroughCacheRule",
        rules: &[
            required("ecrRepositoryPrefix", DELETE_PTC),
            length("ecrRepositoryPrefix", 2, 30, DELETE_PTC),
            pattern("ecrRepositoryPrefix", PREFIX, DELETE_PTC),
            pattern("registryId", REGISTRY_ID, DELETE_PTC),
        ],
    },
    OpRules {
        op: "DescribePullThroughCacheRules",
        rules: &[
            pattern("registryId", REGISTRY_ID, DESCRIBE_PTC),
            list_size("ecrRepositoryPrefixes", 1, 100, DESCRIBE_PTC),
            length("ecrRepositoryPrefixes[]", 2, 30, DESCRIBE_PTC),
            pattern("ecrRepositoryPrefixes[]", PREFIX, DESCRIBE_PTC),
            range("maxResults", 1, 1000, DESCRIBE_PTC),
        ],
    },
    OpRules {
        op: "ValidatePullThroughCacheRule",
        rules: &[
            required("ecrRepositoryPrefix", VALIDATE_PTC),
            length("ecrRepositoryPrefix", 2, 30, VALIDATE_PTC),
            pattern("ecrRepositoryPrefix", PREFIX, VALIDATE_PTC),
            pattern("registryId", REGISTRY_ID, VALIDATE_PTC),
        ],
    },
    OpRules {
        op: "CreateRepository",
        rules: &[
            pattern("registryId", REGISTRY_ID, CREATE_REPO),
            required("repositoryName", CREATE_REPO),
            length("repositoryName", 2, 256, CREATE_REPO),
            pattern("repositoryName", REPOSITORY_NAME, CREATE_REPO),
            required("tags[].Key", CREATE_REPO).code("InvalidTagParameterException"),
            required("tags[].Value", CREATE_REPO).code("InvalidTagParameterException"),
            tags("tags", TAGS, CREATE_REPO).code("InvalidTagParameterException"),
            one_of("imageTagMutability", MUTABILITY, CREATE_REPO),
            required("encryptionConfiguration.encryptionType", ENCRYPTION),
            one_of(
                "encryptionConfiguration.encryptionType",
                &["AES256", "KMS", "KMS_DSSE"],
                ENCRYPTION,
            ),
            length("encryptionConfiguration.kmsKey", 1, 2048, ENCRYPTION),
        ],
    },
    OpRules {
        op: "DescribeRepositories",
        rules: &[
            pattern("registryId", REGISTRY_ID, DESCRIBE_REPOS),
            list_size("repositoryNames", 1, 100, DESCRIBE_REPOS),
            length("repositoryNames[]", 2, 256, DESCRIBE_REPOS),
            pattern("repositoryNames[]", REPOSITORY_NAME, DESCRIBE_REPOS),
            range("maxResults", 1, 1000, DESCRIBE_REPOS),
        ],
    },
    OpRules {
        op: "DeleteRepository",
        rules: &[
            pattern("registryId", REGISTRY_ID, DELETE_REPO),
            required("repositoryName", DELETE_REPO),
            length("repositoryName", 2, 256, DELETE_REPO),
            pattern("repositoryName", REPOSITORY_NAME, DELETE_REPO),
        ],
    },
    OpRules {
        op: "CreateRepositoryCreationTemplate",
        rules: &[
            required("prefix", CREATE_TEMPLATE),
            length("prefix", 1, 256, CREATE_TEMPLATE),
            pattern("prefix", PREFIX, CREATE_TEMPLATE),
            length("description", 0, 256, CREATE_TEMPLATE),
            required("appliedFor", CREATE_TEMPLATE),
            one_of(
                "appliedFor[]",
                &["REPLICATION", "PULL_THROUGH_CACHE", "CREATE_ON_PUSH"],
                CREATE_TEMPLATE,
            ),
            one_of("imageTagMutability", MUTABILITY, CREATE_TEMPLATE),
            length("repositoryPolicy", 0, 10240, CREATE_TEMPLATE),
            length("lifecyclePolicy", 0, 30720, CREATE_TEMPLATE),
            length("customRoleArn", 0, 2048, CREATE_TEMPLATE),
            required("resourceTags[].Key", CREATE_TEMPLATE),
            required("resourceTags[].Value", CREATE_TEMPLATE),
            tags("resourceTags", TAGS, CREATE_TEMPLATE).code("InvalidTagParameterException"),
        ],
    },
    OpRules {
        op: "DescribeRepositoryCreationTemplates",
        rules: &[
            length("prefixes[]", 1, 256, DESCRIBE_TEMPLATES),
            pattern("prefixes[]", PREFIX, DESCRIBE_TEMPLATES),
            range("maxResults", 1, 1000, DESCRIBE_TEMPLATES),
        ],
    },
    OpRules {
        op: "TagResource",
        rules: &[
            required("resourceArn", TAG_RESOURCE),
            required("tags", TAG_RESOURCE),
            required("tags[].Key", TAG_RESOURCE).code("InvalidTagParameterException"),
            required("tags[].Value", TAG_RESOURCE).code("InvalidTagParameterException"),
            tags("tags", TAGS, TAG_RESOURCE).code("InvalidTagParameterException"),
        ],
    },
    OpRules {
        op: "ListTagsForResource",
        rules: &[required("resourceArn", LIST_TAGS)],
    },
    OpRules {
        op: "DeleteRepositoryCreationTemplate",
        rules: &[
            required("prefix", DELETE_TEMPLATE),
            length("prefix", 1, 256, DELETE_TEMPLATE),
            pattern("prefix", PREFIX, DELETE_TEMPLATE),
        ],
    },
];
