//! The closed set of condition reasons. Every `Ready`, `Progressing` and
//! `Degraded` condition berth writes carries one of these; an AWS error code
//! goes into the message, never into the reason, so alerts and Argo CD
//! health checks can match on a reason without knowing AWS's vocabulary.
//! The README's reason table is generated from this list (a test checks it).

macro_rules! reasons {
    ($($name:ident [$kinds:literal] $meaning:literal => $todo:literal;)*) => {
        /// A condition reason (CamelCase, stable).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Reason {
            $($name),*
        }

        impl Reason {
            /// Every reason, in the README's order.
            pub const ALL: &'static [Reason] = &[$(Reason::$name),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$name => stringify!($name)),*
                }
            }

            /// Which kinds report it.
            pub fn kinds(self) -> &'static str {
                match self {
                    $(Reason::$name => $kinds),*
                }
            }

            /// What it means, for the README.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Reason::$name => $meaning),*
                }
            }

            /// What to do about it, for the README.
            pub fn what_to_do(self) -> &'static str {
                match self {
                    $(Reason::$name => $todo),*
                }
            }
        }
    };
}

reasons! {
    AsExpected ["all"] "Degraded is False: nothing needs a human." => "Nothing.";
    InvalidSpec ["all"] "The spec breaks a rule the CRD schema could not express (or the cluster ignores CEL rules); the message names the field. No AWS call was made." => "Fix the named field.";
    AwsConfiguration ["all"] "berth cannot tell where to call AWS: no region for the namespace." => "Annotate the namespace with berth.dev/aws-region, or start berth with --aws-region.";
    AwsError ["all"] "AWS refused a request for a reason berth cannot fix by retrying; the message carries the action, AWS's error code and message." => "Read the message; fix the spec, IAM permissions or the AWS account, then edit the spec or set berth.dev/refresh.";
    AdoptionRequired ["EcsService, AuroraCluster, PullThroughCache"] "An AWS resource with the wanted name (ECS or Cloud Map service, Aurora cluster, pull-through cache rule) exists and carries no berth tags. berth changed nothing." => "Set spec.adopt: true to take it over, or choose another name, or delete the resource.";
    Paused ["all"] "The berth.dev/paused annotation is \"true\": berth makes no AWS changes for this object." => "Remove the annotation (or set it to \"false\") to resume.";
    Creating ["EcsService"] "The ECS service is being created." => "Wait.";
    RollingOut ["EcsService"] "A new revision is rolling out (or settings are being applied)." => "Wait; the message shows running/desired tasks.";
    RolloutComplete ["EcsService"] "The desired revision runs with a COMPLETED rollout." => "Nothing.";
    TasksFailing ["EcsService"] "Tasks of the desired revision stop while the rollout goes on; the message has the stopped reason and exit code." => "Fix the image, configuration, secrets or network named in the message; the rollout goes on by itself.";
    RolloutFailed ["EcsService"] "ECS marked the rollout FAILED (circuit breaker without rollback)." => "Fix the cause in the message and change the spec to roll out again.";
    RolledBack ["EcsService"] "The deployment circuit breaker rolled the new revision back; ECS serves the previous revision and reports itself stable." => "Fix the cause in the message and change the spec to roll out again.";
    ProgressDeadlineExceeded ["EcsService"] "The rollout did not complete within spec.deployment.progressDeadlineSeconds." => "Read why tasks are not becoming healthy (status.lastStoppedTasks, Events); fix, or raise the deadline.";
    ImmutableFieldChanged ["EcsService, PullThroughCache"] "The spec changes a field AWS cannot update in place (an ECS service's launch type; a cache rule's prefix or upstream)." => "Set the field back, or delete the object and create it again.";
    ClusterNotFound ["EcsService"] "spec.cluster names no ECS cluster (names are case-sensitive; berth never creates clusters)." => "Fix spec.cluster or create the cluster.";
    NamespaceNotFound ["EcsService"] "spec.serviceDiscovery names a Cloud Map namespace that does not exist." => "Fix the namespace name or id, or create the namespace.";
    SecretNotFound ["EcsService"] "A secret referenced by the task definition does not exist in Secrets Manager." => "Create the secret or fix the ARN.";
    WaitingForMigrations ["EcsService"] "The new revision waits for its PreRollout MigrationJobs to succeed; the old revision keeps serving." => "Wait; watch the MigrationJobs named in the message.";
    MigrationFailed ["EcsService"] "A PreRollout MigrationJob failed for this revision; the old revision keeps serving." => "Fix the migration, then set berth.dev/refresh on the MigrationJob or change the spec.";
    PostTestTrafficCheckFailed ["EcsService"] "A PostTestTraffic MigrationJob failed while the deployment paused after test traffic shifted; berth asked ECS to roll the deployment back and the previous revision keeps serving." => "Fix the revision (the message names the job and its exit code) and roll out again.";
    PostRolloutCheckFailed ["EcsService"] "A PostRollout MigrationJob (smoke test) failed after the rollout; with rollbackOnFailure the previous revision serves again." => "Fix the revision and roll out again.";
    Starting ["MigrationJob"] "The first task of this run is being started." => "Wait.";
    Running ["MigrationJob"] "A task of this run is running." => "Wait; the message names the task and attempt.";
    Retrying ["MigrationJob"] "An attempt failed; the next starts after a backoff." => "Wait, or fix the cause named in the message.";
    Succeeded ["MigrationJob"] "The deciding container exited 0." => "Nothing.";
    BackoffLimitExceeded ["MigrationJob"] "Every attempt allowed by spec.backoffLimit failed." => "Fix the cause in the message, then set berth.dev/refresh to a new value or change the spec.";
    DeadlineExceeded ["MigrationJob"] "The run did not finish within spec.activeDeadlineSeconds; its task was stopped." => "Find out why it is slow, raise the deadline, then set berth.dev/refresh or change the spec.";
    WaitingForService ["MigrationJob"] "spec.serviceRef names an EcsService that does not exist or has no revision yet." => "Create the EcsService, or wait for its first reconcile.";
    WaitingForRollout ["MigrationJob"] "A PostRollout job waits for its service's rollout to complete." => "Wait.";
    WaitingForDatabase ["MigrationJob"] "spec.databaseRef names an AuroraCluster that does not exist or is not Ready." => "Create the AuroraCluster, or wait for it.";
    TaskResultUnknown ["MigrationJob"] "The run's task vanished from ECS (ECS forgets stopped tasks after about an hour) before berth saw it stop: whether it ran is unknown, so berth does not run it again by itself." => "Check the database and the task's logs; set berth.dev/refresh to a new value to run it again.";
    TaskNeverStarted ["MigrationJob"] "Too many attempts in a row could not start their task (image pull, secrets, network, capacity); they never ran the command and did not count against backoffLimit." => "Fix the cause in the message (pull-through cache rule, NAT route, secret), then set berth.dev/refresh to a new value.";
    RuleReady ["PullThroughCache"] "The pull-through cache rule exists as the spec says and ValidatePullThroughCacheRule finds it valid." => "Nothing.";
    RuleInvalid ["PullThroughCache"] "ValidatePullThroughCacheRule finds the rule not valid (upstream unreachable, credential secret missing or wrong); the message carries ECR's failure." => "Fix the credential secret, role or upstream named in the message.";
    PrefixOverlap ["PullThroughCache"] "The rule is valid, but another pull-through cache rule's prefix overlaps it (a per-repository rule): pulls may fail with CannotPullContainerError not found." => "Delete the overlapping rules named in the message; one prefix rule serves every repository under it.";
    TemplateOverlap ["PullThroughCache"] "The rule is valid, but a repository creation template applies to repositories under its prefix: pulls may fail with CannotPullContainerError not found." => "Delete the templates named in the message.";
    UnmanagedRepositories ["PullThroughCache"] "The rule is valid, but repositories under its prefix were not created by the cache; ECR never fetches into them, so tags they lack fail to pull." => "Delete the repositories named in the message; the cache creates them again on the next pull.";
    Available ["AuroraCluster"] "The cluster, every instance and (with spec.proxy) the RDS Proxy with a healthy target are available." => "Nothing.";
    Modifying ["AuroraCluster"] "RDS is applying a change to the cluster (berth's ModifyDBCluster or one of AWS's own); berth sends the next change only once the cluster is available again." => "Wait.";
    DeletionProtected ["AuroraCluster"] "deletionPolicy Snapshot or Delete cannot delete the cluster while deletionProtection is true; on deletion berth keeps the finalizer and deletes nothing." => "Set spec.deletionProtection: false (berth lifts it in RDS), or set deletionPolicy: Retain.";
}

impl Reason {
    /// The reason of a condition read back from the API server.
    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.iter().copied().find(|r| r.as_str() == s)
    }

    /// The README's table (reason, kinds, meaning, what to do).
    pub fn markdown_table() -> String {
        let mut out =
            String::from("| reason | kinds | meaning | what to do |\n|---|---|---|---|\n");
        for r in Reason::ALL {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                r.as_str(),
                r.kinds(),
                r.meaning(),
                r.what_to_do()
            ));
        }
        out
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a condition message is not fit for a person to read, if it is not:
/// empty, the reason echoed, Rust debug formatting, or a part repeated.
pub fn message_problem(reason: Reason, message: &str) -> Option<String> {
    if message.trim().is_empty() {
        return Some("empty message".into());
    }
    if message == reason.as_str() {
        return Some("the reason echoed as the message".into());
    }
    for debug in ["Some(", "None", "\\\"", "{ ", "[\""] {
        if message.contains(debug) {
            return Some(format!("Rust debug formatting ({debug:?})"));
        }
    }
    // A clause (text between separators) of some length that appears twice.
    let clauses: Vec<&str> = message
        .split(['(', ')', ';', ':', ','])
        .map(str::trim)
        .filter(|c| c.len() >= 24)
        .collect();
    for (i, c) in clauses.iter().enumerate() {
        if clauses[i + 1..].contains(c) {
            return Some(format!("repeated text {c:?}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_camel_case_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for r in Reason::ALL {
            let s = r.as_str();
            assert!(s.chars().next().unwrap().is_ascii_uppercase(), "{s}");
            assert!(s.chars().all(|c| c.is_ascii_alphanumeric()), "{s}");
            assert!(seen.insert(s), "{s} twice");
            assert_eq!(Reason::parse(s), Some(*r));
        }
        assert_eq!(Reason::parse("ThrottlingException"), None);
    }

    #[test]
    fn message_rules() {
        let r = Reason::TasksFailing;
        assert!(message_problem(r, "").is_some());
        assert!(message_problem(Reason::AsExpected, "AsExpected").is_some());
        assert!(message_problem(r, "for image Some(\"x\")").is_some());
        let pull = "CannotPullContainerError: pull image manifest has been retried 7 time(s)";
        assert!(message_problem(r, &format!("exit code 1 ({pull}; {pull})")).is_some());
        assert!(
            message_problem(r, "1 task(s) stopped: Essential container in task exited").is_none()
        );
    }
}
