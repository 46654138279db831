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
