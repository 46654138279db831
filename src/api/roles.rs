//! The IAM roles an object hands to AWS, and the allow-list of them a
//! platform team may put on a Namespace (`berth.dev/allowed-role-arns`).
//!
//! A role ARN in a spec is passed to AWS with berth's (or the namespace
//! role's) `iam:PassRole`: without a limit, whoever may create a
//! MigrationJob could run a task as any role of the account that trusts ECS
//! tasks. The allow-list is checked before any AWS call; a role outside it
//! is `InvalidSpec` naming the field.

use std::collections::BTreeMap;

use super::aurora_cluster::AuroraCluster;
use super::ecs_service::EcsService;
use super::migration_job::MigrationJob;
use super::pull_through_cache::PullThroughCache;
use super::task_definition::TaskDefinitionSpec;
use super::validation::{Errors, InvalidSpec};

/// Namespace annotation: the role ARN patterns objects of the namespace
/// may pass to AWS, separated by commas and/or whitespace.
pub const ALLOWED_ROLES_ANNOTATION: &str = "berth.dev/allowed-role-arns";

/// One role ARN an object would pass to AWS, and where in the object it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassedRole {
    /// Path from the object root, e.g. `spec.taskDefinition.taskRoleArn`.
    pub field: String,
    pub arn: String,
}

impl PassedRole {
    fn new(field: impl Into<String>, arn: &str) -> Self {
        Self {
            field: field.into(),
            arn: arn.to_string(),
        }
    }
}

/// The roles a kind passes to AWS.
pub trait PassesRoles {
    fn passed_roles(&self) -> Vec<PassedRole>;
}

/// The task and execution roles of a task definition at `at`.
pub fn task_definition_roles(at: &str, td: &TaskDefinitionSpec) -> Vec<PassedRole> {
    [
        ("taskRoleArn", &td.task_role_arn),
        ("executionRoleArn", &td.execution_role_arn),
    ]
    .into_iter()
    .filter_map(|(field, arn)| {
        arn.as_deref()
            .map(|arn| PassedRole::new(format!("{at}.{field}"), arn))
    })
    .collect()
}

impl PassesRoles for EcsService {
    /// Task and execution roles, and the infrastructure role ECS uses to
    /// shift load balancer traffic (BLUE_GREEN, LINEAR, CANARY).
    fn passed_roles(&self) -> Vec<PassedRole> {
        let mut roles = task_definition_roles("spec.taskDefinition", &self.spec.task_definition);
        for (i, lb) in self.spec.load_balancers.iter().enumerate() {
            if let Some(a) = &lb.advanced_configuration {
                roles.push(PassedRole::new(
                    format!("spec.loadBalancers[{i}].advancedConfiguration.roleArn"),
                    &a.role_arn,
                ));
            }
        }
        roles
    }
}

impl PassesRoles for MigrationJob {
    /// The inline task definition's roles. A job with `serviceRef` runs
    /// with its EcsService's roles: see [`job_roles`].
    fn passed_roles(&self) -> Vec<PassedRole> {
        self.spec
            .task_definition
            .as_ref()
            .map(|td| task_definition_roles("spec.taskDefinition", td))
            .unwrap_or_default()
    }
}

/// The roles a MigrationJob's task runs with, `td` being the task
/// definition it runs: its own (inline) or its EcsService's (`serviceRef`,
/// named in the field so the message says where the role comes from).
pub fn job_roles(job: &MigrationJob, td: &TaskDefinitionSpec) -> Vec<PassedRole> {
    match &job.spec.service_ref {
        Some(r) => task_definition_roles(
            &format!(
                "spec.serviceRef (EcsService {:?}: spec.taskDefinition",
                r.name
            ),
            td,
        )
        .into_iter()
        .map(|mut p| {
            p.field.push(')');
            p
        })
        .collect(),
        None => task_definition_roles("spec.taskDefinition", td),
    }
}

impl PassesRoles for AuroraCluster {
    /// The RDS Proxy's role, when berth runs a proxy.
    fn passed_roles(&self) -> Vec<PassedRole> {
        self.spec
            .proxy
            .iter()
            .filter(|p| p.enabled)
            .map(|p| PassedRole::new("spec.proxy.roleArn", &p.role_arn))
            .collect()
    }
}

impl PassesRoles for PullThroughCache {
    /// The role ECR assumes to pull from an upstream ECR registry.
    fn passed_roles(&self) -> Vec<PassedRole> {
        self.spec
            .custom_role_arn
            .iter()
            .map(|arn| PassedRole::new("spec.customRoleArn", arn))
            .collect()
    }
}

/// A namespace's allow-list of role ARN patterns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedRoles {
    patterns: Vec<String>,
}

impl AllowedRoles {
    /// The allow-list of a Namespace with these annotations; `None` when it
    /// has none (every role may be passed). An annotation without a
    /// pattern allows no role at all: a list the platform team emptied
    /// must not open everything.
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Option<Self> {
        annotations
            .get(ALLOWED_ROLES_ANNOTATION)
            .map(|v| Self::parse(v))
    }

    /// Patterns separated by commas and/or whitespace.
    pub fn parse(value: &str) -> Self {
        Self {
            patterns: value
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }

    pub fn allows(&self, arn: &str) -> bool {
        self.patterns.iter().any(|p| arn_like(p, arn))
    }

    /// Every role in `roles` the list does not allow, as `InvalidSpec`
    /// naming its field.
    pub fn check(&self, namespace: &str, roles: &[PassedRole]) -> Result<(), InvalidSpec> {
        let mut e = Errors::default();
        for role in roles.iter().filter(|r| !self.allows(&r.arn)) {
            let allowed = if self.patterns.is_empty() {
                "none".to_string()
            } else {
                self.patterns.join(", ")
            };
            e.push(
                role.field.clone(),
                format!(
                    "role {} is not one namespace {namespace} may pass to AWS \
                     ({ALLOWED_ROLES_ANNOTATION}: {allowed}); use an allowed role, or ask the \
                     platform team to add it to the namespace's annotation",
                    role.arn
                ),
            );
        }
        e.finish()
    }
}

/// IAM's `ArnLike`: the six colon-separated parts of the ARN (partition,
/// service, region, account, resource; the resource may hold colons) are
/// matched part by part, each with `*` (any run of characters, none
/// included) and `?` (one character), case-sensitively, so a wildcard
/// never spans a colon between parts. A lone `*` matches every ARN.
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN>
pub fn arn_like(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let pattern: Vec<&str> = pattern.splitn(6, ':').collect();
    let arn: Vec<&str> = arn.splitn(6, ':').collect();
    pattern.len() == 6 && arn.len() == 6 && pattern.iter().zip(&arn).all(|(p, a)| wildcard(p, a))
}

/// `*` and `?` wildcards over the whole of `text` (linear backtracking on
/// the last `*`, so no pattern is exponential).
fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const TASK: &str = "arn:aws:iam::123456789012:role/berth-tasks/shop-api";

    #[test]
    fn arn_like_matches_part_by_part_as_iam_does() {
        for (pattern, arn, expected) in [
            (TASK, TASK, true),
            ("arn:aws:iam::123456789012:role/berth-tasks/*", TASK, true),
            ("arn:aws:iam::*:role/berth-tasks/shop-*", TASK, true),
            (
                "arn:aws:iam::123456789012:role/berth-tasks/shop-ap?",
                TASK,
                true,
            ),
            ("arn:aws:iam::123456789012:role/*", TASK, true),
            ("*", TASK, true),
            // Case-sensitive, like ArnLike.
            ("arn:aws:iam::123456789012:role/Berth-tasks/*", TASK, false),
            // A wildcard never spans the colon between account and resource.
            ("arn:aws:iam::123*", TASK, false),
            ("arn:aws:iam::*", TASK, false),
            // Another account, another path, a prefix without its wildcard.
            ("arn:aws:iam::210987654321:role/berth-tasks/*", TASK, false),
            ("arn:aws:iam::123456789012:role/other/*", TASK, false),
            (
                "arn:aws:iam::123456789012:role/berth-tasks/shop",
                TASK,
                false,
            ),
            // `?` is exactly one character.
            (
                "arn:aws:iam::123456789012:role/berth-tasks/shop-api?",
                TASK,
                false,
            ),
            // Not an ARN at all.
            ("arn:aws:iam::123456789012:role/*", "shop-api", false),
            // `*` matches nothing too.
            (
                "arn:aws:iam::123456789012:role/berth-tasks/shop-api*",
                TASK,
                true,
            ),
            ("arn:aws:iam:*:123456789012:role/*", TASK, true),
        ] {
            assert_eq!(arn_like(pattern, arn), expected, "{pattern} ~ {arn}");
        }
    }

    #[test]
    fn wildcards_backtrack() {
        assert!(wildcard("a*b*c", "aXbYbZc"));
        assert!(!wildcard("a*b*c", "aXbYbZ"));
        assert!(wildcard("**", ""));
        assert!(!wildcard("?", ""));
        assert!(wildcard("role/*-task", "role/a-task-b-task"));
        // No exponential blow-up on many stars.
        let long = "a".repeat(200);
        assert!(!wildcard(&format!("{}b", "*a".repeat(50)), &long));
    }

    #[test]
    fn the_annotation_is_split_on_commas_and_whitespace() {
        let list = AllowedRoles::parse(
            " arn:aws:iam::123456789012:role/a,arn:aws:iam::123456789012:role/b\n\
             arn:aws:iam::123456789012:role/c ,, arn:aws:iam::123456789012:role/d ",
        );
        for r in ["a", "b", "c", "d"] {
            assert!(list.allows(&format!("arn:aws:iam::123456789012:role/{r}")));
        }
        assert!(!list.allows("arn:aws:iam::123456789012:role/e"));
        let annotations = BTreeMap::from([(
            ALLOWED_ROLES_ANNOTATION.to_string(),
            "arn:aws:iam::123456789012:role/a".to_string(),
        )]);
        assert!(AllowedRoles::from_annotations(&annotations).is_some());
        assert_eq!(AllowedRoles::from_annotations(&BTreeMap::new()), None);
    }

    #[test]
    fn an_empty_allow_list_allows_no_role() {
        let list = AllowedRoles::parse(" , ");
        assert!(!list.allows(TASK));
        let err = list
            .check("shop", &[PassedRole::new("spec.customRoleArn", TASK)])
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("berth.dev/allowed-role-arns: none"),
            "{err}"
        );
    }

    #[test]
    fn a_refused_role_names_its_field_and_the_list() {
        let list = AllowedRoles::parse("arn:aws:iam::123456789012:role/berth-tasks/*");
        let roles = [
            PassedRole::new(
                "spec.taskDefinition.taskRoleArn",
                "arn:aws:iam::123456789012:role/admin",
            ),
            PassedRole::new("spec.taskDefinition.executionRoleArn", TASK),
        ];
        let err = list.check("shop", &roles).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!(err.0[0].field, "spec.taskDefinition.taskRoleArn");
        assert_eq!(
            err.to_string(),
            "spec.taskDefinition.taskRoleArn: role arn:aws:iam::123456789012:role/admin is not one \
             namespace shop may pass to AWS (berth.dev/allowed-role-arns: \
             arn:aws:iam::123456789012:role/berth-tasks/*); use an allowed role, or ask the \
             platform team to add it to the namespace's annotation"
        );
        assert_eq!(list.check("shop", &roles[1..]), Ok(()));
        assert_eq!(list.check("shop", &[]), Ok(()));
    }

    fn service(yaml: &str) -> EcsService {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn every_role_field_of_every_kind_is_seen() {
        let svc = service(
            r#"
apiVersion: berth.dev/v1alpha1
kind: EcsService
metadata: {name: api}
spec:
  cluster: shop
  taskDefinition:
    family: api
    taskRoleArn: arn:aws:iam::123456789012:role/task
    executionRoleArn: arn:aws:iam::123456789012:role/exec
    containers: [{name: app, image: nginx}]
  loadBalancers:
    - targetGroupArn: arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/a/1
      containerName: app
      containerPort: 80
      advancedConfiguration:
        alternateTargetGroupArn: arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/b/2
        productionListenerRule: arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/x/1/2/3
        roleArn: arn:aws:iam::123456789012:role/ecs-infra
"#,
        );
        let fields: Vec<String> = svc.passed_roles().into_iter().map(|r| r.field).collect();
        assert_eq!(
            fields,
            [
                "spec.taskDefinition.taskRoleArn",
                "spec.taskDefinition.executionRoleArn",
                "spec.loadBalancers[0].advancedConfiguration.roleArn"
            ]
        );

        let job: MigrationJob = serde_yaml::from_str(
            r#"
apiVersion: berth.dev/v1alpha1
kind: MigrationJob
metadata: {name: migrate}
spec:
  cluster: shop
  taskDefinition:
    taskRoleArn: arn:aws:iam::123456789012:role/task
    containers: [{name: migrate, image: shop/migrate:1}]
"#,
        )
        .unwrap();
        let inline = job.passed_roles();
        assert_eq!(inline[0].field, "spec.taskDefinition.taskRoleArn");
        assert_eq!(
            job_roles(&job, job.spec.task_definition.as_ref().unwrap()),
            inline
        );
        let borrowed: MigrationJob = serde_yaml::from_str(
            "apiVersion: berth.dev/v1alpha1\nkind: MigrationJob\nmetadata: {name: m}\n\
             spec: {serviceRef: {name: api}}\n",
        )
        .unwrap();
        assert!(borrowed.passed_roles().is_empty());
        let via_service = job_roles(&borrowed, &svc.spec.task_definition);
        assert_eq!(
            via_service[0].field,
            "spec.serviceRef (EcsService \"api\": spec.taskDefinition.taskRoleArn)"
        );

        let aurora: AuroraCluster = serde_yaml::from_str(
            r#"
apiVersion: berth.dev/v1alpha1
kind: AuroraCluster
metadata: {name: db}
spec:
  proxy: {enabled: true, roleArn: "arn:aws:iam::123456789012:role/proxy"}
"#,
        )
        .unwrap();
        assert_eq!(aurora.passed_roles()[0].field, "spec.proxy.roleArn");
        let mut off = aurora.clone();
        off.spec.proxy.as_mut().unwrap().enabled = false;
        assert!(
            off.passed_roles().is_empty(),
            "a disabled proxy passes no role"
        );

        let cache: PullThroughCache = serde_yaml::from_str(
            r#"
apiVersion: berth.dev/v1alpha1
kind: PullThroughCache
metadata: {name: ecr}
spec:
  ecrRepositoryPrefix: upstream
  upstreamRegistry: ecr
  upstreamRegistryUrl: 210987654321.dkr.ecr.eu-west-1.amazonaws.com
  customRoleArn: arn:aws:iam::123456789012:role/pull
"#,
        )
        .unwrap();
        assert_eq!(cache.passed_roles()[0].field, "spec.customRoleArn");
    }
}
