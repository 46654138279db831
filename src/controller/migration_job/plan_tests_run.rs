//! Tests of a run's course (`plan::next`): every phase, next step and
//! reason it gives from run statuses and ECS task views; and of what runs
//! (`plan::resolve`).

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::plan::*;
use crate::api::aurora_cluster::AuroraCluster;
use crate::api::common::LocalObjectReference;
use crate::api::conditions::{self, Desired, Reason, DEGRADED, READY};
use crate::api::ecs_service::EcsService;
use crate::api::migration_job::MigrationJobSpec;
use crate::api::migration_job::{MigrationJob, MigrationJobStatus, Phase};
use crate::aws::ecs::tasks::TaskView;

pub(super) fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).unwrap()
}

pub(super) fn job(yaml: &str) -> MigrationJob {
    let spec: MigrationJobSpec = serde_yaml::from_str(yaml).unwrap();
    let mut j = MigrationJob::new("migrate", spec);
    j.metadata.namespace = Some("shop".into());
    j
}

pub(super) fn inline() -> MigrationJob {
    job(r#"
cluster: shop
networkConfiguration:
  subnets: [subnet-0a1b2c3d4e5f60001]
taskDefinition:
  containers:
    - name: sidecar
      image: envoy:1
      essential: false
    - name: app
      image: shop/api:1
      logConfiguration:
        logDriver: awslogs
        options:
          awslogs-group: /shop/api
          awslogs-stream-prefix: migrate
"#)
}

pub(super) fn task(
    attempt: i32,
    status: &str,
    exit: Option<i32>,
    stopped_at: Option<i64>,
) -> TaskView {
    TaskView {
        arn: format!("arn:aws:ecs:us-east-1:1:task/shop/t{attempt}"),
        attempt,
        last_status: status.into(),
        exit_code: exit,
        stopped_reason: stopped_at.map(|_| "Essential container in task exited".into()),
        stop_code: stopped_at.map(|_| "EssentialContainerExited".into()),
        container_reason: None,
        created_at: Some(at(0)),
        stopped_at: stopped_at.map(at),
    }
}

pub(super) fn status(attempts: i32) -> MigrationJobStatus {
    MigrationJobStatus {
        attempts,
        run_hash: Some("abc".into()),
        started_at: (attempts > 0).then(|| at(0).to_string()),
        ..Default::default()
    }
}

fn run(
    limit: i32,
    deadline: Option<i64>,
    s: &MigrationJobStatus,
    t: Option<&TaskView>,
    now: i64,
) -> Verdict {
    run_refreshed(limit, deadline, s, t, now, None)
}

fn run_refreshed(
    limit: i32,
    deadline: Option<i64>,
    s: &MigrationJobStatus,
    t: Option<&TaskView>,
    now: i64,
    refresh: Option<&str>,
) -> Verdict {
    next(&RunInputs {
        backoff_limit: limit,
        active_deadline_seconds: deadline,
        status: s,
        task: t,
        refresh,
        now: at(now),
    })
}

/// A task that stopped before its containers ran (an image pull failed).
fn never_started(attempt: i32, stopped_at: i64) -> TaskView {
    TaskView {
        exit_code: None,
        stop_code: Some("TaskFailedToStart".into()),
        stopped_reason: Some(
            "CannotPullContainerError: pull image manifest has been retried 7 time(s): not found"
                .into(),
        ),
        container_reason: Some(
            "CannotPullContainerError: pull image manifest has been retried 7 time(s): not found"
                .into(),
        ),
        ..task(attempt, "STOPPED", None, Some(stopped_at))
    }
}

#[test]
fn first_reconcile_starts_attempt_one() {
    let p = run(2, None, &status(0), None, 0);
    assert_eq!(p.next, Next::Run { attempt: 1 });
    assert_eq!(p.phase, Phase::Pending);
}

#[test]
fn a_running_task_is_followed() {
    let t = task(1, "RUNNING", None, None);
    let p = run(2, None, &status(1), Some(&t), 10);
    assert_eq!(p.next, Next::Wait(Some(POLL)));
    assert_eq!(p.phase, Phase::Running);
    assert_eq!(p.reason, Reason::Running);
}

#[test]
fn exit_zero_succeeds() {
    let t = task(1, "STOPPED", Some(0), Some(5));
    let p = run(2, None, &status(1), Some(&t), 10);
    assert_eq!(p.phase, Phase::Succeeded);
    assert!(p.finished);
    assert_eq!(p.next, Next::Wait(None));
    let c = conditions_for(p.phase, p.reason, &p.message);
    assert!(c.iter().any(|d| d.type_ == READY && d.status));
    assert!(c.iter().all(|d| d.type_ == READY || !d.status));
}

#[test]
fn a_failure_waits_for_the_backoff_then_retries() {
    // ECS's stoppedAt (another clock) does not count; when berth saw it does.
    let t = task(1, "STOPPED", Some(1), Some(500));
    let p = run(2, None, &status(1), Some(&t), 10);
    assert_eq!(p.next, Next::Wait(Some(Duration::from_secs(5))));
    let s = seen_stopped(status(1), 10);
    let p = run(2, None, &s, Some(&t), 12);
    assert_eq!(p.next, Next::Wait(Some(Duration::from_secs(3))));
    assert_eq!(p.reason, Reason::Retrying);
    assert_eq!(p.phase, Phase::Running);
    let p = run(2, None, &s, Some(&t), 15);
    assert_eq!(p.next, Next::Run { attempt: 2 });
    // The second failure waits twice as long.
    let t = task(2, "STOPPED", Some(1), Some(20));
    let s = seen_stopped(status(2), 20);
    let p = run(2, None, &s, Some(&t), 29);
    assert_eq!(p.next, Next::Wait(Some(Duration::from_secs(1))));
    let p = run(2, None, &s, Some(&t), 30);
    assert_eq!(p.next, Next::Run { attempt: 3 });
}

pub(super) fn seen_stopped(mut s: MigrationJobStatus, at_secs: i64) -> MigrationJobStatus {
    s.finished_at = Some(at(at_secs).to_string());
    s
}

#[test]
fn backoff_doubles_and_is_capped() {
    assert_eq!(backoff(1), Duration::from_secs(5));
    assert_eq!(backoff(2), Duration::from_secs(10));
    assert_eq!(backoff(4), Duration::from_secs(40));
    assert_eq!(backoff(5), Duration::from_secs(60));
    assert_eq!(backoff(20), Duration::from_secs(60));
}

#[test]
fn the_last_allowed_failure_fails_the_run() {
    let t = task(3, "STOPPED", Some(1), Some(40));
    let p = run(2, None, &status(3), Some(&t), 41);
    assert_eq!(p.phase, Phase::Failed);
    assert_eq!(p.reason, Reason::BackoffLimitExceeded);
    assert!(p.message.contains("exit code 1"), "{}", p.message);
    assert!(p.message.contains("Essential container"), "{}", p.message);
    assert!(p.finished);
    // backoffLimit 0: the first failure is final.
    let t = task(1, "STOPPED", Some(2), Some(4));
    let p = run(0, None, &status(1), Some(&t), 5);
    assert_eq!(p.reason, Reason::BackoffLimitExceeded);
    let c = conditions_for(p.phase, p.reason, &p.message);
    assert!(c.iter().any(|d| d.type_ == DEGRADED && d.status));
    assert!(c.iter().all(|d| d.type_ == DEGRADED || !d.status));
}

#[test]
fn past_the_deadline_a_running_task_is_stopped() {
    let t = task(1, "RUNNING", None, None);
    let p = run(2, Some(30), &status(1), Some(&t), 29);
    assert_eq!(p.next, Next::Wait(Some(Duration::from_secs(1))));
    let p = run(2, Some(30), &status(1), Some(&t), 30);
    assert_eq!(
        p.next,
        Next::Stop {
            task_arn: t.arn.clone()
        }
    );
    assert_eq!(p.phase, Phase::Failed);
    assert_eq!(p.reason, Reason::DeadlineExceeded);
    assert!(p.finished);
}

#[test]
fn past_the_deadline_no_retry_starts() {
    let t = task(1, "STOPPED", Some(1), Some(25));
    let p = run(2, Some(30), &status(1), Some(&t), 31);
    assert_eq!(p.reason, Reason::DeadlineExceeded);
    assert_eq!(p.next, Next::Wait(None));
}

#[test]
fn finished_runs_never_run_again() {
    let mut s = status(1);
    s.phase = Some(Phase::Succeeded);
    s.conditions = conditions::merge(
        &[],
        &conditions_for(
            Phase::Succeeded,
            Reason::Succeeded,
            "attempt 1 of 3 exited 0",
        ),
        None,
        at(0),
    );
    let p = run(2, None, &s, None, 1000);
    assert_eq!(p.next, Next::Wait(None));
    assert_eq!(p.phase, Phase::Succeeded);
    assert!(!p.finished);
    s.phase = Some(Phase::Failed);
    let p = run(2, None, &s, None, 1000);
    assert_eq!(p.next, Next::Wait(None));
}

#[test]
fn a_task_gone_before_berth_saw_it_stop_is_never_rerun_silently() {
    let mut s = status(1);
    s.task_arn = Some("arn:aws:ecs:us-east-1:1:task/shop/t1".into());
    let p = run(2, None, &s, None, 100);
    assert_eq!(p.next, Next::Wait(None));
    assert_eq!(p.phase, Phase::Failed);
    assert_eq!(p.reason, Reason::TaskResultUnknown);
    assert!(p.message.contains("berth.dev/refresh"), "{}", p.message);
}

#[test]
fn a_task_gone_after_berth_recorded_its_stop_goes_on_from_the_record() {
    // Attempt 1 failed with exit 1, seen at t=10; ECS forgot it since.
    let mut s = seen_stopped(status(1), 10);
    s.exit_code = Some(1);
    let p = run(2, None, &s, None, 15);
    assert_eq!(p.next, Next::Run { attempt: 2 });
    assert_eq!(p.reason, Reason::Retrying);
    // Exit 0 recorded: it succeeded, whatever ECS forgot.
    s.exit_code = Some(0);
    let p = run(2, None, &s, None, 15);
    assert_eq!(p.phase, Phase::Succeeded);
}

#[test]
fn tasks_that_never_started_do_not_use_up_the_backoff_limit() {
    // backoffLimit 0: one real failure would be final, but a task that
    // could not pull its image never ran the migration.
    let t = never_started(1, 5);
    let p = run(0, None, &seen_stopped(status(1), 5), Some(&t), 10);
    assert_eq!(p.phase, Phase::Running);
    assert_eq!(p.reason, Reason::Retrying);
    assert_eq!(p.start_failure, Some(1));
    assert_eq!(p.next, Next::Run { attempt: 2 });
    assert!(
        p.message.contains("does not count against backoffLimit"),
        "{}",
        p.message
    );
    // Recorded once: the next reconcile does not record it again.
    let mut s = seen_stopped(status(1), 5);
    s.start_failures = vec![1];
    assert_eq!(run(0, None, &s, Some(&t), 6).start_failure, None);
    // Attempt 2 ran and failed: now backoffLimit 0 is reached.
    let mut s = seen_stopped(status(2), 20);
    s.start_failures = vec![1];
    let t = task(2, "STOPPED", Some(1), Some(20));
    let p = run(0, None, &s, Some(&t), 21);
    assert_eq!(p.reason, Reason::BackoffLimitExceeded);
    assert!(p.message.contains("attempt 1 of 1"), "{}", p.message);
}

#[test]
fn start_failures_are_bounded_on_their_own() {
    let n = MAX_START_FAILURES as i32;
    let mut s = seen_stopped(status(n), 100);
    s.start_failures = (1..n).collect();
    let p = run(2, None, &s, Some(&never_started(n, 100)), 101);
    assert_eq!(p.phase, Phase::Failed);
    assert_eq!(p.reason, Reason::TaskNeverStarted);
    assert_eq!(p.start_failure, Some(n));
}

#[test]
fn a_refresh_restarts_a_failed_run_once() {
    let mut s = status(3);
    s.phase = Some(Phase::Failed);
    // No refresh, or the one already honored: nothing runs.
    assert_eq!(run(2, None, &s, None, 100).next, Next::Wait(None));
    s.refreshed_by = Some("fixed-1".into());
    let p = run_refreshed(2, None, &s, None, 100, Some("fixed-1"));
    assert_eq!(p.next, Next::Wait(None));
    // A new value: attempt 4 (never a reused attempt) with a fresh limit.
    let p = run_refreshed(2, None, &s, None, 100, Some("fixed-2"));
    assert_eq!(p.next, Next::Run { attempt: 4 });
    assert_eq!(p.refresh.as_deref(), Some("fixed-2"));
    assert_eq!(p.phase, Phase::Running);
    // In the new try, attempt 4 failing is attempt 1 of 3.
    let mut s = seen_stopped(status(4), 200);
    s.try_started_after = 3;
    s.refreshed_by = Some("fixed-2".into());
    let t = task(4, "STOPPED", Some(1), Some(200));
    let p = run(2, None, &s, Some(&t), 201);
    assert_eq!(p.reason, Reason::Retrying);
    assert!(p.message.contains("attempt 1 of 3"), "{}", p.message);
    // A Succeeded run never re-runs, refresh or not.
    let mut done = status(1);
    done.phase = Some(Phase::Succeeded);
    assert_eq!(
        run_refreshed(2, None, &done, None, 100, Some("again")).next,
        Next::Wait(None)
    );
}

#[test]
fn a_refresh_value_present_before_the_failure_never_reruns_it() {
    // The job arrives carrying berth.dev/refresh (an earlier rerun, a
    // "reconcile now", or the manifest): the new run takes it as seen.
    let mut s = status(0);
    s.refreshed_by = seen_refresh(&s, Some("before"));
    assert_eq!(s.refreshed_by.as_deref(), Some("before"));
    // Attempt 1 exits 1 with backoffLimit 0: Failed.
    let mut s = seen_stopped(MigrationJobStatus { attempts: 1, ..s }, 10);
    let p = run_refreshed(
        0,
        None,
        &s,
        Some(&task(1, "STOPPED", Some(1), Some(10))),
        11,
        Some("before"),
    );
    assert_eq!(
        (p.phase, p.reason),
        (Phase::Failed, Reason::BackoffLimitExceeded)
    );
    s.phase = Some(Phase::Failed);
    // Every later reconcile keeps what was seen, and runs nothing.
    assert_eq!(seen_refresh(&s, Some("before")).as_deref(), Some("before"));
    assert_eq!(seen_refresh(&s, None).as_deref(), Some("before"));
    let p = run_refreshed(0, None, &s, None, 100, Some("before"));
    assert_eq!(p.next, Next::Wait(None));
    // Only a new value after Failed starts one new try.
    let p = run_refreshed(0, None, &s, None, 100, Some("after"));
    assert_eq!(p.next, Next::Run { attempt: 2 });
    assert_eq!(p.refresh.as_deref(), Some("after"));
    // A value set while the run was still going is taken as seen too.
    let mut running = status(1);
    running.phase = Some(Phase::Running);
    running.refreshed_by = Some("before".into());
    assert_eq!(seen_refresh(&running, Some("mid")).as_deref(), Some("mid"));
}

#[test]
fn derived_families_are_valid_ecs_families() {
    assert_eq!(
        derived_family("shop-api", "api-migrate"),
        "shop-api-api-migrate"
    );
    assert_eq!(derived_family("db.migrate", ""), "db-migrate");
    let long = derived_family(&"f".repeat(255), "job");
    assert_eq!(long.len(), 255);
    assert_ne!(long, derived_family(&"f".repeat(255), "other"));
    assert!(long
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
}

#[test]
fn run_hash_ignores_policy_fields_and_follows_the_service() {
    let a = inline();
    let mut b = inline();
    b.spec.backoff_limit = 5;
    b.spec.ttl_seconds_after_finished = Some(60);
    // Asking for the log tail afterwards does not run the job again.
    b.spec.log_tail = Some(crate::api::migration_job::LogTail { lines: 20 });
    assert_eq!(
        run_hash(&a, "shop/migrate", None),
        run_hash(&b, "shop/migrate", None)
    );
    b.spec.command = vec!["migrate".into()];
    assert_ne!(
        run_hash(&a, "shop/migrate", None),
        run_hash(&b, "shop/migrate", None)
    );
    assert_ne!(
        run_hash(&a, "shop/migrate", Some("h1")),
        run_hash(&a, "shop/migrate", Some("h2"))
    );
    assert_ne!(
        run_hash(&a, "shop/migrate", None),
        run_hash(&a, "shop/other", None)
    );
    let h = run_hash(&a, "shop/migrate", None);
    assert_eq!(h.len(), 16);
    assert!(started_by(&h).len() <= 36);
    assert_eq!(started_by(&h), format!("berth-{h}"));
}

#[test]
fn resolve_inline_picks_the_first_essential_container() {
    let t = resolve(&inline(), None).unwrap();
    assert_eq!(t.container, "app");
    assert_eq!(t.family, "migrate");
    assert_eq!(t.cluster, "shop");
    assert_eq!(t.arn, None);
    assert_eq!(
        t.log_stream("abc"),
        Some(("/shop/api".into(), "migrate/app/abc".into()))
    );
}

pub(super) fn service(with_status: bool) -> EcsService {
    let spec = serde_yaml::from_str(
        r#"
cluster: shop
networkConfiguration:
  subnets: [subnet-0a1b2c3d4e5f60001]
launchType: FARGATE
taskDefinition:
  family: shop-api
  containers:
    - name: api
      image: shop/api:2
"#,
    )
    .unwrap();
    let mut s = EcsService::new("api", spec);
    if with_status {
        s.status = Some(crate::api::EcsServiceStatus {
            task_definition_arn: Some("arn:td/shop-api:7".into()),
            spec_hash: Some("svchash".into()),
            ..Default::default()
        });
    }
    s
}

#[test]
fn resolve_borrows_the_services_revision() {
    let mut j = job("serviceRef: {name: api}\ncommand: [migrate]");
    assert!(matches!(
        resolve(&j, None),
        Err(Unresolved::WaitingForService(_))
    ));
    assert!(matches!(
        resolve(&j, Some(&service(false))),
        Err(Unresolved::WaitingForService(_))
    ));
    let t = resolve(&j, Some(&service(true))).unwrap();
    assert_eq!(t.arn.as_deref(), Some("arn:td/shop-api:7"));
    assert_eq!(t.service_hash.as_deref(), Some("svchash"));
    assert_eq!(t.launch_type, Some(crate::api::common::LaunchType::Fargate));
    assert_eq!(t.container, "api");

    // A replaced image needs a derived revision.
    j.spec.image = Some("shop/api-smoke:2".into());
    let t = resolve(&j, Some(&service(true))).unwrap();
    assert_eq!(t.arn, None);
    assert_eq!(t.family, "shop-api-migrate");
    assert_eq!(t.task_definition.containers[0].image, "shop/api-smoke:2");

    j.spec.container = Some("nope".into());
    j.spec.service_ref = Some(LocalObjectReference { name: "api".into() });
    assert!(matches!(
        resolve(&j, Some(&service(true))),
        Err(Unresolved::Invalid(_))
    ));
}

#[test]
fn database_vars_prefer_the_proxy_and_wait_for_ready() {
    let spec = serde_yaml::from_str(
        "databaseName: orders\nmasterUsername: orders_admin\nsubnetIds: [subnet-0a1b2c3d4e5f60001]",
    )
    .unwrap();
    let mut db = AuroraCluster::new("orders-db", spec);
    assert!(database_vars(&db).is_err());
    db.status = Some(crate::api::AuroraClusterStatus {
        conditions: conditions::merge(
            &[],
            &[Desired::new(
                READY,
                true,
                Reason::RolloutComplete,
                "the cluster is available",
            )],
            None,
            at(0),
        ),
        endpoint: Some("writer.example".into()),
        proxy_endpoint: Some("proxy.example".into()),
        port: Some(5432),
        ..Default::default()
    });
    let vars = database_vars(&db).unwrap();
    let get = |n: &str| vars.iter().find(|v| v.name == n).unwrap().value.clone();
    assert_eq!(get("DB_HOST"), "proxy.example");
    assert_eq!(get("DB_PORT"), "5432");
    assert_eq!(get("DB_NAME"), "orders");
    assert_eq!(get("DB_USER"), "orders_admin");
    assert_eq!(get("DB_USE_IAM_AUTH"), "true");
}

/// Tasks that could not start, in a row or not: two in a row for one cause
/// a person must fix make the run Degraded (`TaskCannotStart`) while it
/// keeps retrying, until a task of the run starts.
mod cannot_start {
    use super::super::plan_tests::{world, World, NOW};
    use super::*;
    use crate::api::conditions::PROGRESSING;

    const PULL: &str = "CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref shop/api:2: not found";
    const SECRET: &str = "ResourceInitializationError: unable to pull secrets or registry auth: unable to retrieve secret from asm: AccessDeniedException";
    const TIMEOUT: &str =
        "ContainerRuntimeTimeoutError: Could not transition to running; timed out after waiting 1m";

    /// Attempt `attempt`'s task as ECS reports it.
    enum Seen {
        CouldNotStart(&'static str),
        Starting,
        Running,
        Exited(i32),
    }

    fn view(attempt: i32, seen: &Seen) -> TaskView {
        let stopped_at = Some(NOW - 1);
        match seen {
            Seen::CouldNotStart(reason) => TaskView {
                stopped_reason: Some(reason.to_string()),
                container_reason: None,
                ..never_started(attempt, NOW - 1)
            },
            Seen::Starting => task(attempt, "PROVISIONING", None, None),
            Seen::Running => task(attempt, "RUNNING", None, None),
            Seen::Exited(code) => task(attempt, "STOPPED", Some(*code), stopped_at),
        }
    }

    /// The plan once attempt `attempt` (started as `started` records it)
    /// shows `seen`; the world keeps the status it reports.
    fn see(w: &mut World, attempt: i32, seen: &Seen) -> (Phase, Reason, Option<String>) {
        let t = view(attempt, seen);
        let prev = &mut w.observed.prev;
        if prev.attempts < attempt {
            prev.attempts = attempt;
            prev.task_arn = Some(t.arn.clone());
            prev.exit_code = None;
            prev.stopped_reason = None;
            prev.finished_at = None;
        }
        w.observed.task = Some(Some(t));
        let p = plan(&Inputs {
            job: &w.job,
            observed: &w.observed,
            now: at(NOW),
        })
        .unwrap();
        let Report::Run {
            status,
            phase,
            reason,
            cannot_start,
            ..
        } = p.report
        else {
            panic!("{:?}", p.report);
        };
        w.observed.prev = *status;
        (phase, reason, cannot_start)
    }

    struct Case {
        name: &'static str,
        attempts: &'static [Seen],
        /// Degraded names this cause, or None: not Degraded.
        degraded: Option<&'static str>,
    }

    const CASES: &[Case] = &[
        Case {
            name: "one start failure is retried, not Degraded",
            attempts: &[Seen::CouldNotStart(PULL)],
            degraded: None,
        },
        Case {
            name: "two in a row for a failed pull are Degraded, naming it",
            attempts: &[Seen::CouldNotStart(PULL), Seen::CouldNotStart(PULL)],
            degraded: Some("CannotPullContainerError"),
        },
        Case {
            name: "two in a row for unreadable secrets are Degraded, naming it",
            attempts: &[Seen::CouldNotStart(SECRET), Seen::CouldNotStart(SECRET)],
            degraded: Some("ResourceInitializationError"),
        },
        Case {
            name: "two different causes are not",
            attempts: &[Seen::CouldNotStart(SECRET), Seen::CouldNotStart(PULL)],
            degraded: None,
        },
        Case {
            name: "a cause that passes by itself is not",
            attempts: &[Seen::CouldNotStart(TIMEOUT), Seen::CouldNotStart(TIMEOUT)],
            degraded: None,
        },
        Case {
            name: "an attempt that ran in between breaks the row",
            attempts: &[
                Seen::CouldNotStart(PULL),
                Seen::Exited(1),
                Seen::CouldNotStart(PULL),
            ],
            degraded: None,
        },
        Case {
            name: "the next attempt still starting keeps it",
            attempts: &[
                Seen::CouldNotStart(PULL),
                Seen::CouldNotStart(PULL),
                Seen::Starting,
            ],
            degraded: Some("CannotPullContainerError"),
        },
        Case {
            name: "a third in a row keeps it, counting on",
            attempts: &[
                Seen::CouldNotStart(PULL),
                Seen::CouldNotStart(PULL),
                Seen::CouldNotStart(PULL),
            ],
            degraded: Some("3 attempts in a row"),
        },
        Case {
            name: "a task that starts clears it",
            attempts: &[
                Seen::CouldNotStart(PULL),
                Seen::CouldNotStart(PULL),
                Seen::Running,
            ],
            degraded: None,
        },
        Case {
            name: "a task that exits 0 clears it with the run's success",
            attempts: &[
                Seen::CouldNotStart(PULL),
                Seen::CouldNotStart(PULL),
                Seen::Exited(0),
            ],
            degraded: None,
        },
    ];

    #[test]
    fn two_start_failures_in_a_row_for_one_cause_need_a_person() {
        for case in CASES {
            let name = case.name;
            let mut w = world();
            w.attempt(0);
            let mut said = (Phase::Pending, Reason::Starting, None);
            for (i, seen) in case.attempts.iter().enumerate() {
                said = see(&mut w, i as i32 + 1, seen);
            }
            let (phase, reason, cannot_start) = said;
            let message = "the run's own message";
            let c = conditions_with(phase, reason, message, cannot_start.as_deref());
            let of = |t: &str| c.iter().find(|d| d.type_ == t).unwrap();
            match case.degraded {
                Some(cause) => {
                    let m = cannot_start.unwrap_or_else(|| panic!("{name}: not Degraded"));
                    assert!(m.contains(cause), "{name}: {m}");
                    assert_eq!(phase, Phase::Running, "{name}");
                    let d = of(DEGRADED);
                    assert_eq!(
                        (d.status, d.reason),
                        (true, Reason::TaskCannotStart),
                        "{name}"
                    );
                    assert_eq!(d.message, m, "{name}");
                    // Retrying and needing a person are not exclusive.
                    let p = of(PROGRESSING);
                    assert_eq!((p.status, p.reason), (true, reason), "{name}");
                    assert!(!of(READY).status, "{name}");
                }
                None => {
                    assert_eq!(cannot_start, None, "{name}");
                    let d = of(DEGRADED);
                    assert_eq!((d.status, d.reason), (false, Reason::AsExpected), "{name}");
                }
            }
            // Start failures never count against backoffLimit.
            assert_ne!(phase, Phase::Failed, "{name}");
        }
    }

    #[test]
    fn the_next_attempt_starts_still_saying_it_and_a_refresh_forgets_it() {
        let mut w = world();
        w.attempt(0);
        see(&mut w, 1, &Seen::CouldNotStart(PULL));
        see(&mut w, 2, &Seen::CouldNotStart(PULL));
        // Past the backoff: attempt 3 is started, the cause still stands.
        let p = plan(&Inputs {
            job: &w.job,
            observed: &w.observed,
            now: at(NOW + 60),
        })
        .unwrap();
        assert!(
            matches!(&p.step, Step::Run(r) if r.attempt == 3),
            "{:?}",
            p.step
        );
        let Report::Run { cannot_start, .. } = &p.report else {
            panic!("{:?}", p.report);
        };
        assert!(cannot_start.as_deref().is_some_and(|m| m.contains(PULL)));
        // A new try after a Failed run starts with no record.
        let mut s = w.observed.prev.clone();
        s.phase = Some(Phase::Failed);
        let v = run_refreshed(2, None, &s, None, NOW + 60, Some("1"));
        assert_eq!(v.refresh.as_deref(), Some("1"));
        w.observed.prev = s;
        w.observed.refresh = Some("1".into());
        let p = plan(&Inputs {
            job: &w.job,
            observed: &w.observed,
            now: at(NOW + 60),
        })
        .unwrap();
        let status = p.status().unwrap();
        assert_eq!(status.cannot_start, None);
        assert!(matches!(
            &p.report,
            Report::Run {
                cannot_start: None,
                ..
            }
        ));
    }
}
