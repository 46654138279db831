//! The closed set of condition reasons. Every `Ready`, `Progressing` and
//! `Degraded` condition berth writes carries one of these; an AWS error code
//! goes into the message, never into the reason, so alerts and Argo CD
//! health checks can match on a reason without knowing AWS's vocabulary.
//! The reason tables in the README and docs/conditions.md are generated
//! from this list (`tests/docs.rs` checks both copies).

macro_rules! reasons {
    ($($name:ident [$kinds:literal] $meaning:literal => $todo:literal;)*) => {
        /// A condition reason (CamelCase, stable).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Reason {
            $($name),*
        }

        impl Reason {
            /// Every reason, in the order of the generated tables.
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

            /// What it means, for the generated tables.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Reason::$name => $meaning),*
                }
            }

            /// What to do about it, for the generated tables.
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
    InvalidSpec ["all"] "The spec breaks a rule the CRD schema could not express (or the cluster ignores CEL rules), or names a role the namespace's berth.dev/allowed-role-arns does not allow; the message names the field. No AWS call was made." => "Fix the named field (a role: use an allowed one, or ask the platform team to allow it).";
    AwsConfiguration ["all"] "berth cannot tell where to call AWS: no region for the namespace." => "Annotate the namespace with berth.dev/aws-region, or start berth with --aws-region.";
    AwsError ["all"] "AWS refused a request for a reason berth cannot fix by retrying; the message carries the action, AWS's error code and message." => "Read the message; fix the spec, IAM permissions or the AWS account, then edit the spec or set berth.dev/refresh.";
    StatusWriteRefused ["all"] "The API server refused berth's status write (422): the status berth computed breaks the CRD schema, so the conditions berth wanted to write could not be written; the message names the field. berth retries with backoff and reports it (Warning Event, berth_status_writes_refused_total)." => "Report it as a berth bug with the message; check that the installed CRDs are the ones of the running berth version.";
    AdoptionRequired ["EcsService, AuroraCluster, PullThroughCache"] "An AWS resource with the wanted name (ECS or Cloud Map service, Aurora cluster, instance or proxy, pull-through cache rule) exists and carries no berth tags, or berth's tags for an object that no longer exists (deleted with deletionPolicy: Retain). berth changed nothing." => "Set spec.adopt: true to take it over, or choose another name, or delete the resource.";
    Conflict ["EcsService, AuroraCluster, PullThroughCache"] "An account-wide AWS name this object wants (a pull-through cache prefix, an ECS service in a shared cluster, a Cloud Map service, an Aurora identifier) belongs to another berth object that still exists; the message names it. berth made no change, and spec.adopt cannot take it over while that object exists." => "Choose another name, or delete the owning object (with deletionPolicy: Retain to keep the resource), then set spec.adopt: true here.";
    NamespaceRoleRequired ["all"] "berth runs with --require-namespace-role and the namespace has no berth.dev/aws-role-arn annotation: no tenant acts with berth's own AWS identity. No AWS call was made." => "Ask the platform team to annotate the namespace with its AWS role (berth.dev/aws-role-arn).";
    SecretConflict ["AuroraCluster"] "spec.connectionSecret.name names a Secret berth did not create for this object; berth left it exactly as it was." => "Choose another spec.connectionSecret.name, or delete that Secret so berth can create its own.";
    Paused ["all"] "The berth.dev/paused annotation is \"true\": berth makes no AWS changes for this object." => "Remove the annotation (or set it to \"false\") to resume.";
    Deleting ["all"] "The object is being deleted: berth deletes what it made in AWS, one step at a time in the order AWS allows, and keeps the finalizer until AWS reports it gone; the message names the step it waits for." => "Wait; or set spec.deletionPolicy: Retain (EcsService, AuroraCluster, PullThroughCache) to leave what is still in AWS there and let the object go.";
    Creating ["EcsService"] "The ECS service is being created." => "Wait.";
    RollingOut ["EcsService"] "A new revision is rolling out (or settings are being applied)." => "Wait; the message shows running/desired tasks.";
    RolloutComplete ["EcsService"] "The desired revision runs with a COMPLETED rollout." => "Nothing.";
    TasksFailing ["EcsService"] "Tasks of the desired revision stop while the rollout goes on; the message has the stopped reason and exit code." => "Fix the image, configuration, secrets or network named in the message; the rollout goes on by itself.";
    RolloutFailed ["EcsService"] "ECS marked the rollout FAILED (circuit breaker without rollback)." => "Fix the cause in the message, then set berth.dev/refresh to a new value (one retry in a new deployment) or change the spec.";
    RolledBack ["EcsService"] "The deployment circuit breaker rolled the new revision back; ECS serves the previous revision and reports itself stable." => "Fix the cause in the message, then set berth.dev/refresh to a new value (one retry in a new deployment) or change the spec.";
    ProgressDeadlineExceeded ["EcsService"] "The rollout did not complete within spec.deployment.progressDeadlineSeconds." => "Read why tasks are not becoming healthy (status.lastStoppedTasks, Events); fix, or raise the deadline.";
    ImmutableFieldChanged ["EcsService, PullThroughCache"] "The spec changes a field AWS cannot update in place (an ECS service's launch type; a cache rule's prefix or upstream)." => "Set the field back, or delete the object and create it again; a PullThroughCache replaces its rule itself with spec.replaceOnImmutableChange: true.";
    ClusterNotFound ["EcsService"] "spec.cluster names no ECS cluster (names are case-sensitive; berth never creates clusters)." => "Fix spec.cluster or create the cluster.";
    NamespaceNotFound ["EcsService"] "spec.serviceDiscovery names a Cloud Map namespace that does not exist." => "Fix the namespace name or id, or create the namespace.";
    SecretNotFound ["EcsService"] "A secret referenced by the task definition does not exist in Secrets Manager." => "Create the secret or fix the ARN.";
    RegistrationQueued ["EcsService, MigrationJob"] "A new task definition (a service's new revision, or a job's own for spec.image) waits for its turn to be registered: AWS allows one RegisterTaskDefinition per second per account, and berth registers in arrival order within its share of that rate." => "Wait; the message says when its turn comes.";
    WaitingForMigrations ["EcsService"] "The new revision waits for its PreRollout MigrationJobs to succeed; the old revision keeps serving." => "Wait; watch the MigrationJobs named in the message.";
    MigrationFailed ["EcsService"] "A PreRollout MigrationJob failed for this revision; the old revision keeps serving." => "Fix the migration, then set berth.dev/refresh on the MigrationJob or change the spec.";
    MigrationCannotStart ["EcsService"] "A PreRollout MigrationJob for this revision is TaskCannotStart: its task cannot start (an image that cannot be pulled, secrets that cannot be read, no route to them), so the revision waits; the job keeps retrying and the old revision keeps serving. Shown on Degraded while Progressing stays WaitingForMigrations." => "Fix the cause the message names (image, pull-through cache rule, secret, network route); the migration then runs and the rollout goes on by itself, with no spec edit.";
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
    TaskCannotStart ["MigrationJob"] "Two attempts in a row could not start their task for the same cause a retry does not fix (CannotPullContainerError: the image cannot be pulled; ResourceInitializationError: secrets or registry auth cannot be read or reached). Shown on Degraded while Ready and Progressing stay Retrying: berth keeps retrying, without using backoffLimit; gone once a task starts." => "Fix the cause in the message (image, pull-through cache rule, secret, NAT route or VPC endpoint); the next attempt then starts by itself.";
    TaskNeverStarted ["MigrationJob"] "Too many attempts in a row could not start their task (image pull, secrets, network, capacity); they never ran the command and did not count against backoffLimit." => "Fix the cause in the message (pull-through cache rule, NAT route, secret), then set berth.dev/refresh to a new value.";
    RuleReady ["PullThroughCache"] "The pull-through cache rule exists as the spec says and ValidatePullThroughCacheRule finds it valid." => "Nothing.";
    RuleInvalid ["PullThroughCache"] "ValidatePullThroughCacheRule finds the rule not valid (upstream unreachable, credential secret missing or wrong); the message carries ECR's failure." => "Fix the credential secret, role or upstream named in the message.";
    PrefixOverlap ["PullThroughCache"] "The rule is valid, but another pull-through cache rule's prefix overlaps it (a per-repository rule): pulls may fail with CannotPullContainerError not found. Ready=False when a wider rule covers this rule's own prefix (it cannot serve the repository it is named after)." => "Delete the overlapping rules named in the message; one prefix rule serves every repository under it.";
    TemplateOverlap ["PullThroughCache"] "The rule is valid, but a repository creation template applies to repositories under its prefix: pulls may fail with CannotPullContainerError not found. Ready=False when the template covers this rule's own prefix (it cannot serve the repository it is named after)." => "Delete the templates named in the message.";
    UnmanagedRepositories ["PullThroughCache"] "The rule is valid, but repositories under its prefix were created before the first cache rule berth knows for it and carry no `berth.dev/pull-through-cache` tag for this prefix; ECR does not fetch into repositories it did not create, so tags they lack fail to pull. berth tags every repository created since that first rule with `berth.dev/pull-through-cache: PREFIX` (ECR records no creator), so the repositories a cache created stay known after the PullThroughCache is deleted and created again." => "Delete the repositories named in the message if they were made by hand; the cache creates them again on the next pull.";
    Available ["AuroraCluster"] "The cluster, every instance and (with spec.proxy) the RDS Proxy with a healthy target are available." => "Nothing.";
    Modifying ["AuroraCluster"] "RDS is applying a change to the cluster, an instance or the proxy (berth's ModifyDBCluster, ModifyDBInstance or ModifyDBProxy, or one of AWS's own); berth sends the next change only once that resource is available again." => "Wait.";
    DeletionProtected ["AuroraCluster"] "deletionPolicy Snapshot or Delete cannot delete the cluster while deletionProtection is true; on deletion berth keeps the finalizer and deletes nothing." => "Set spec.deletionProtection: false (berth lifts it in RDS), or set deletionPolicy: Retain.";
}

impl Reason {
    /// The reason of a condition read back from the API server.
    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.iter().copied().find(|r| r.as_str() == s)
    }

    /// The reason table of the README and docs/conditions.md (reason,
    /// kinds, meaning, what to do).
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
    text_problem(reason.as_str(), message)
}

/// [`message_problem`] for text whose reason is not a condition reason:
/// the note of an Event (`DriftCorrected`, `CloudMapServiceCreated`, …) is
/// read by the same people in `kubectl describe`, so it follows the same
/// rules.
pub fn text_problem(reason: &str, message: &str) -> Option<String> {
    if message.trim().is_empty() {
        return Some("empty message".into());
    }
    if message == reason {
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

/// Which reasons the unit tests' conditions carry, for the coverage test
/// below: [`Desired::new`](super::conditions::Desired::new) records every
/// reason it is given when `BERTH_REASONS_LOG` names a file.
#[cfg(test)]
pub(crate) mod coverage {
    use std::io::Write;

    use super::Reason;

    pub const LOG_ENV: &str = "BERTH_REASONS_LOG";

    /// What `Desired::new` does under test, for a plan that carries its
    /// reason and message before they become conditions (a MigrationJob's
    /// plan): the message must be fit to read, and the reason is recorded.
    pub fn check(reason: Reason, message: &str) {
        if let Some(problem) = super::message_problem(reason, message) {
            panic!("{reason}: {problem}: {message:?}");
        }
        record(reason);
    }

    pub fn record(reason: Reason) {
        let Some(path) = std::env::var_os(LOG_ENV) else {
            return;
        };
        // One write per line to a file opened for appending: the lines of
        // tests running in parallel do not interleave.
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = log.write_all(format!("{reason}\n").as_bytes());
        }
    }
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

    #[test]
    fn event_notes_follow_the_same_rules() {
        assert!(text_problem("DriftCorrected", "DriftCorrected").is_some());
        assert!(text_problem("Created", "image Some(\"x\")").is_some());
        assert!(
            text_problem("DriftCorrected", "set back tags (set team; removed rogue)").is_none()
        );
    }

    /// Every reason is produced by at least one controller unit test (where
    /// `Desired::new` checks its message): berth decides every condition in
    /// a plan (or the shell's prelude), so a new reason without a plan
    /// scenario fails here. The controller tests run
    /// again in a child process of this test binary, which logs every reason
    /// it builds, so the answer does not depend on the order tests run in.
    #[test]
    fn every_reason_has_a_plan_scenario() {
        if std::env::var_os(coverage::LOG_ENV).is_some() {
            return; // the child run: only the controller tests matter
        }
        let log = std::env::temp_dir().join(format!(
            "berth-reasons-{}-{}.log",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["controller::", "--quiet"])
            .env(coverage::LOG_ENV, &log)
            .output()
            .expect("running the controller tests in a child process");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        assert!(
            out.status.success(),
            "the controller tests failed in the child run:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let seen: std::collections::BTreeSet<Reason> =
            text.lines().filter_map(Reason::parse).collect();
        let mut problems = Vec::new();
        for r in Reason::ALL {
            if !seen.contains(r) {
                problems.push(format!(
                    "{r}: no controller unit test produces it; add a plan test scenario that does"
                ));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
