//! The pre-rollout gate from the MigrationJobs naming the service.

use crate::api::migration_job::MigrationJob;
use crate::controller::ecs_service::plan::{gate, Gate};

fn job(yaml: &str) -> MigrationJob {
    serde_yaml::from_str(yaml).unwrap()
}

const MIGRATE: &str = r#"
apiVersion: berth.dev/v1alpha1
kind: MigrationJob
metadata: {name: migrate, namespace: shop}
spec: {serviceRef: {name: api}, hook: PreRollout}
"#;

fn with_status(yaml: &str, status: &str) -> MigrationJob {
    job(&format!("{yaml}status: {status}\n"))
}

#[test]
fn no_pre_rollout_jobs_means_open() {
    let smoke = job(&MIGRATE.replace("PreRollout", "PostRollout"));
    let other = job(&MIGRATE.replace("name: api", "name: web"));
    assert_eq!(gate(&[smoke, other], "api", "h1"), Gate::Open);
}

#[test]
fn waits_until_the_job_succeeded_for_this_hash() {
    assert!(matches!(
        gate(&[job(MIGRATE)], "api", "h1"),
        Gate::Waiting(_)
    ));
    let old = with_status(MIGRATE, "{phase: Succeeded, serviceHash: h0}");
    assert!(matches!(gate(&[old], "api", "h1"), Gate::Waiting(_)));
    let done = with_status(MIGRATE, "{phase: Succeeded, serviceHash: h1}");
    assert_eq!(gate(&[done], "api", "h1"), Gate::Open);
}

#[test]
fn every_job_must_succeed_and_a_failure_closes_the_gate() {
    let a = with_status(MIGRATE, "{phase: Succeeded, serviceHash: h1}");
    let b = with_status(
        &MIGRATE.replace("name: migrate", "name: tenant-b"),
        "{phase: Running, serviceHash: h1}",
    );
    match gate(&[a.clone(), b], "api", "h1") {
        Gate::Waiting(m) => assert!(m.contains("tenant-b"), "{m}"),
        other => panic!("{other:?}"),
    }
    let failed = with_status(
        &MIGRATE.replace("name: migrate", "name: tenant-b"),
        "{phase: Failed, serviceHash: h1, exitCode: 1}",
    );
    match gate(&[a, failed], "api", "h1") {
        Gate::Failed(m) => assert!(m.contains("tenant-b") && m.contains("exit code 1"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_queued_registration_says_when_its_turn_comes() {
    use crate::api::conditions::{Reason, PROGRESSING, READY};
    let now: k8s_openapi::jiff::Timestamp = "2026-12-01T06:09:30.4Z".parse().unwrap();
    let wait = std::time::Duration::from_secs(30);
    let desired = crate::controller::ecs_service::plan::registration_queued(now, wait);
    let ready = desired.iter().find(|d| d.type_ == READY).unwrap();
    let progressing = desired.iter().find(|d| d.type_ == PROGRESSING).unwrap();
    assert!(!ready.status && progressing.status);
    assert_eq!(ready.reason, Reason::RegistrationQueued);
    assert!(
        ready.message.contains("about 2026-12-01T06:10:00Z"),
        "{}",
        ready.message
    );
}

/// `migrate` running for revision hash h1, its Degraded condition as the
/// job reports it.
fn running_with(degraded: &str) -> MigrationJob {
    with_status(
        MIGRATE,
        &format!(
            "{{phase: Running, serviceHash: h1, attempts: 2, startFailures: [1, 2], conditions: [{degraded}]}}"
        ),
    )
}

fn now() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::from_second(super::NOW).unwrap()
}

const PULL: &str = "2 attempts in a row could not start their task, the last (attempt 2) with CannotPullContainerError: pull image manifest has been retried 7 time(s): not found; berth keeps retrying, but the task starts only once a person fixes the image";

fn degraded(status: &str, reason: &str, message: &str) -> String {
    format!(
        "{{type: Degraded, status: \"{status}\", reason: {reason}, message: \"{message}\", lastTransitionTime: \"2026-01-01T00:00:00Z\"}}"
    )
}

/// The service mirrors its PreRollout job: the job's TaskCannotStart is
/// the service's MigrationCannotStart (Degraded, naming the cause) while
/// both keep progressing; one start failure, or one for an older
/// revision, leaves the service merely waiting.
#[test]
fn a_job_that_cannot_start_makes_the_waiting_service_degraded() {
    use super::{example, reason_of, recorded, run, service, OLD_TD};
    use crate::api::conditions::{Reason, DEGRADED, PROGRESSING, READY};
    use crate::controller::ecs_service::plan::gate_unchanged;

    let stuck = running_with(&degraded("True", "TaskCannotStart", PULL));
    let cases = [
        ("the job cannot start its task", stuck.clone(), true),
        (
            "one start failure: the job is not Degraded",
            running_with(&degraded(
                "False",
                "AsExpected",
                "no problem needs attention",
            )),
            false,
        ),
        (
            "the job is Degraded for an older revision",
            job(&serde_yaml::to_string(&stuck).unwrap().replace("h1", "h0")),
            false,
        ),
    ];
    for (name, job, cannot_start) in cases {
        let g = gate(std::slice::from_ref(&job), "api", "h1");
        let obj = example(Some(recorded(OLD_TD)));
        let svc = service(OLD_TD, "COMPLETED", 2);
        for (what, p) in [
            ("existing", run(&obj, Some(&svc), g.clone(), &[])),
            ("new", run(&example(None), None, g.clone(), &[])),
        ] {
            assert_eq!(
                reason_of(&p, READY),
                (false, Reason::WaitingForMigrations),
                "{name}, {what}"
            );
            assert_eq!(
                reason_of(&p, PROGRESSING),
                (true, Reason::WaitingForMigrations),
                "{name}, {what}"
            );
            let d = p.conditions.iter().find(|c| c.type_ == DEGRADED).unwrap();
            if cannot_start {
                assert_eq!(d.reason, Reason::MigrationCannotStart, "{name}, {what}");
                assert!(d.status, "{name}, {what}");
                assert!(
                    d.message.contains("MigrationJob migrate")
                        && d.message.contains("CannotPullContainerError"),
                    "{name}, {what}: {}",
                    d.message
                );
            } else {
                assert_eq!(
                    (d.status, d.reason),
                    (false, Reason::AsExpected),
                    "{name}, {what}"
                );
            }
        }
        // A poll may skip AWS only while Degraded says what the gate says.
        let p = run(&obj, Some(&svc), g.clone(), &[]);
        let mut written = recorded(OLD_TD);
        written.conditions = crate::api::conditions::merge(&[], &p.conditions, Some(2), now());
        assert!(
            gate_unchanged(&obj, &written, "h1", std::slice::from_ref(&job)),
            "{name}"
        );
        let waiting = gate(
            &[with_status(MIGRATE, "{phase: Running, serviceHash: h1}")],
            "api",
            "h1",
        );
        let before = run(&obj, Some(&svc), waiting, &[]);
        written.conditions = crate::api::conditions::merge(&[], &before.conditions, Some(2), now());
        assert_eq!(
            gate_unchanged(&obj, &written, "h1", std::slice::from_ref(&job)),
            !cannot_start,
            "{name}: the job's change must reach the service's status"
        );
    }
}
