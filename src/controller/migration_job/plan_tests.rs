//! Table tests of the MigrationJob plan: one case per thing a reconcile
//! can find (a world changed from a new job with everything observed),
//! with the step, phase, reason and requeue the plan must give, or the AWS
//! read it must ask for before it decides. Together with `plan_tests_run`
//! (a run's course) they produce every reason a MigrationJob reports.

use crate::controller::memo::LastWrite;
use std::time::Duration;

use super::plan::*;
use super::plan_tests_run::{at, inline, job, service, status, task};
use crate::api::aurora_cluster::AuroraCluster;
use crate::api::common::LocalObjectReference;
use crate::api::conditions::{self, Desired, Reason, READY};
use crate::api::migration_job::{Hook, LogTail, MigrationJob, MigrationJobStatus, Phase};
use crate::aws::ecs::tasks::ToRun;
use crate::aws::taskdef::{register_request, RenderInput};
use crate::controller::pacing::Found;

pub(super) const TD: &str = "arn:aws:ecs:us-east-1:1:task-definition/migrate:1";
pub(super) const NOW: i64 = 100;

pub(super) struct World {
    pub(super) job: MigrationJob,
    pub(super) observed: Observed,
}

impl World {
    pub(super) fn run_hash(&self) -> String {
        let target = self.observed.target.as_ref().unwrap();
        which_run(&self.job, "shop/migrate", target)
    }

    /// The status of attempt `attempts` of the current run.
    pub(super) fn attempt(&mut self, attempts: i32) -> &mut MigrationJobStatus {
        self.observed.prev = MigrationJobStatus {
            run_hash: Some(self.run_hash()),
            task_arn: Some(task(attempts, "RUNNING", None, None).arn),
            ..status(attempts)
        };
        &mut self.observed.prev
    }

    /// The job resolved again after a change to its spec.
    fn edit(&mut self, f: impl FnOnce(&mut MigrationJob)) {
        f(&mut self.job);
        self.observed.target = resolve(&self.job, None);
    }

    pub(super) fn rendered(&mut self, held: bool) {
        let target = self.observed.target.as_ref().unwrap();
        let rendered = register_request(&RenderInput {
            spec: &target.task_definition,
            family: target.family.clone(),
            region: "us-east-1".into(),
            owner: "shop/migrate".into(),
            uid: "u1".into(),
            user_tags: &target.user_tags,
            secret_versions: &Default::default(),
        });
        self.observed.to_run = Some((ToRun::Rendered(Box::new(rendered)), held));
    }
}

/// A new inline job, nothing run yet, and every read the plan may ask for
/// made: ECS has no task for the run.
pub(super) fn world() -> World {
    let job = inline();
    let mut observed = Observed::new(resolve(&job, None), MigrationJobStatus::default());
    observed.aws = true;
    observed.to_run = Some((ToRun::Revision(TD.into()), false));
    observed.run_tasks = Some(Vec::new());
    World { job, observed }
}

pub(super) fn ready_db() -> AuroraCluster {
    let spec = serde_yaml::from_str(
        "databaseName: orders\nmasterUsername: orders_admin\nsubnetIds: [subnet-0a1b2c3d4e5f60001]",
    )
    .unwrap();
    let mut db = AuroraCluster::new("orders-db", spec);
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
        port: Some(5432),
        ..Default::default()
    });
    db
}

pub(super) fn with_database(w: &mut World) {
    w.job.spec.database_ref = Some(LocalObjectReference {
        name: "orders-db".into(),
    });
}

fn service_job(hook: Hook) -> MigrationJob {
    let mut j = job("serviceRef: {name: api}\ncommand: [migrate]");
    j.spec.hook = hook;
    j
}

pub(super) fn finished(w: &mut World, phase: Phase, reason: Reason, message: &str) {
    let s = w.attempt(1);
    s.phase = Some(phase);
    s.conditions = conditions::merge(&[], &conditions_for(phase, reason, message), None, at(0));
}

/// What a step must be.
#[derive(Debug)]
enum StepIs {
    Wait,
    Stop,
    /// RunTask of this attempt with the task definition as is.
    Run(i32),
    /// RunTask of this attempt after registering at its turn.
    Register(i32),
}

enum Want {
    /// The plan asks for this read before it decides.
    Reads(fn(&World) -> Need),
    /// The run's status with this phase and reason.
    Reports {
        phase: Phase,
        reason: Reason,
        step: StepIs,
        then: Then,
        events: &'static [&'static str],
    },
    /// A failure a human must fix.
    Fails(Reason, Then),
    /// No status write.
    Quiet(Then),
}

struct Case {
    name: &'static str,
    change: fn(&mut World),
    want: Want,
}

const fn reports(phase: Phase, reason: Reason, step: StepIs, then: Then) -> Want {
    Want::Reports {
        phase,
        reason,
        step,
        then,
        events: &[],
    }
}

const WAIT: Then = Then::After(WAIT_REQUEUE);

const CASES: &[Case] = &[
    Case {
        name: "a new job starts attempt 1 with the task definition at hand",
        change: |_| {},
        want: reports(Phase::Pending, Reason::Starting, StepIs::Run(1), Then::Poll),
    },
    // resolve
    Case {
        name: "a serviceRef naming no EcsService waits for it",
        change: |w| w.edit(|j| *j = service_job(Hook::PreRollout)),
        want: reports(
            Phase::Pending,
            Reason::WaitingForService,
            StepIs::Wait,
            WAIT,
        ),
    },
    Case {
        name: "a PostRollout job waits for its service's rollout",
        change: |w| {
            w.job = service_job(Hook::PostRollout);
            let mut svc = service(true);
            svc.metadata.namespace = Some("shop".into());
            w.observed.target = resolve(&w.job, Some(&svc));
        },
        want: reports(
            Phase::Pending,
            Reason::WaitingForRollout,
            StepIs::Wait,
            WAIT,
        ),
    },
    Case {
        name: "a run waiting for its service after attempts is Running",
        change: |w| {
            w.observed.prev = status(2);
            w.edit(|j| *j = service_job(Hook::PreRollout));
        },
        want: reports(
            Phase::Running,
            Reason::WaitingForService,
            StepIs::Wait,
            WAIT,
        ),
    },
    Case {
        name: "a finished run stays reported while its service is missing",
        change: |w| {
            w.observed.prev.phase = Some(Phase::Succeeded);
            w.edit(|j| *j = service_job(Hook::PreRollout));
        },
        want: Want::Quiet(Then::Resync),
    },
    Case {
        name: "spec.container naming no container is an invalid spec",
        change: |w| w.edit(|j| j.spec.container = Some("nope".into())),
        want: Want::Fails(Reason::InvalidSpec, Then::AwaitChange),
    },
    // the watch and the memos
    Case {
        name: "behind this process's own write: nothing until the watch catches up",
        change: |w| {
            let run_hash = w.run_hash();
            w.observed.last_write = Some(LastWrite {
                run_hash,
                attempts: 1,
            });
        },
        want: Want::Quiet(Then::After(Duration::from_millis(300))),
    },
    Case {
        name: "a finished run reads nothing from AWS; only its TTL is left",
        change: |w| {
            finished(
                w,
                Phase::Succeeded,
                Reason::Succeeded,
                "attempt 1 of 3 exited 0",
            );
            w.observed.aws = false;
        },
        want: reports(
            Phase::Succeeded,
            Reason::Succeeded,
            StepIs::Wait,
            Then::Expire,
        ),
    },
    // AWS reads, each only when the plan needs it
    Case {
        name: "the namespace's clients come before any AWS read",
        change: |w| w.observed.aws = false,
        want: Want::Reads(|_| Need::Aws),
    },
    Case {
        name: "the run's task is read by its ARN",
        change: |w| {
            w.attempt(1);
        },
        want: Want::Reads(|w| Need::Task(w.observed.prev.task_arn.clone().unwrap())),
    },
    Case {
        name: "a new run first reads the previous run's task",
        change: |w| {
            w.attempt(1).run_hash = Some("older".into());
        },
        want: Want::Reads(|w| Need::PreviousTask(w.observed.prev.task_arn.clone().unwrap())),
    },
    Case {
        name: "a new run waits while the previous run's task runs",
        change: |w| {
            w.attempt(1).run_hash = Some("older".into());
            w.observed.previous_task = Some(Some(task(1, "RUNNING", None, None)));
        },
        want: reports(Phase::Running, Reason::Running, StepIs::Wait, Then::Poll),
    },
    Case {
        name: "a new run starts once the previous run's task stopped",
        change: |w| {
            w.attempt(1).run_hash = Some("older".into());
            w.observed.previous_task = Some(Some(task(1, "STOPPED", Some(0), Some(5))));
        },
        want: reports(Phase::Pending, Reason::Starting, StepIs::Run(1), Then::Poll),
    },
    Case {
        name: "what runs is read before RunTask",
        change: |w| w.observed.to_run = None,
        want: Want::Reads(|_| Need::ToRun),
    },
    Case {
        name: "ECS is asked for the run's tasks right before RunTask",
        change: |w| w.observed.run_tasks = None,
        want: Want::Reads(|w| Need::RunTasks {
            started_by: started_by(&w.run_hash()),
        }),
    },
    Case {
        name: "a task ECS has for the attempt is adopted, never started twice",
        change: |w| w.observed.run_tasks = Some(vec![task(1, "RUNNING", None, None)]),
        want: Want::Reports {
            phase: Phase::Running,
            reason: Reason::Running,
            step: StepIs::Wait,
            then: Then::After(Duration::from_millis(500)),
            events: &["TaskAdopted"],
        },
    },
    // the job's own task definition
    Case {
        name: "the job's own task definition is looked up by its hash tag",
        change: |w| w.rendered(false),
        want: Want::Reads(|_| Need::Found),
    },
    Case {
        name: "a revision with the hash tag runs as is",
        change: |w| {
            w.rendered(false);
            w.observed.found = Some(Found::Revision {
                arn: TD.into(),
                revision: 1,
            });
        },
        want: reports(Phase::Pending, Reason::Starting, StepIs::Run(1), Then::Poll),
    },
    Case {
        name: "none with the hash tag: registered at its turn",
        change: |w| {
            w.rendered(false);
            w.observed.found = Some(Found::Missing);
        },
        want: reports(
            Phase::Pending,
            Reason::Starting,
            StepIs::Register(1),
            Then::Poll,
        ),
    },
    Case {
        name: "holding a ticket: no ListTasks, no look-up, registered at its turn",
        change: |w| {
            w.rendered(true);
            w.observed.run_tasks = None;
        },
        want: reports(
            Phase::Pending,
            Reason::Starting,
            StepIs::Register(1),
            Then::Poll,
        ),
    },
    // what holds an attempt back
    Case {
        name: "paused: the attempt is not started",
        change: |w| {
            w.observed.paused = true;
            w.observed.to_run = None;
        },
        // The shell says Paused (`shell::tests`).
        want: reports(Phase::Pending, Reason::Starting, StepIs::Wait, Then::Resync),
    },
    Case {
        name: "a databaseRef naming no AuroraCluster waits for it",
        change: with_database,
        want: reports(
            Phase::Pending,
            Reason::WaitingForDatabase,
            StepIs::Wait,
            WAIT,
        ),
    },
    Case {
        name: "a database that is not Ready is waited for",
        change: |w| {
            with_database(w);
            let mut db = ready_db();
            db.status = None;
            w.observed.database = Some(db);
        },
        want: reports(
            Phase::Pending,
            Reason::WaitingForDatabase,
            StepIs::Wait,
            WAIT,
        ),
    },
    Case {
        name: "a Ready database lets the attempt start",
        change: |w| {
            with_database(w);
            w.observed.database = Some(ready_db());
        },
        want: reports(Phase::Pending, Reason::Starting, StepIs::Run(1), Then::Poll),
    },
    // the run's task
    Case {
        name: "a running task is polled on the grid",
        change: |w| {
            w.attempt(1);
            w.observed.task = Some(Some(task(1, "RUNNING", None, None)));
        },
        want: reports(Phase::Running, Reason::Running, StepIs::Wait, Then::Poll),
    },
    Case {
        name: "past the deadline the task is stopped",
        change: |w| {
            w.job.spec.active_deadline_seconds = Some(30);
            w.attempt(1);
            w.observed.task = Some(Some(task(1, "RUNNING", None, None)));
        },
        want: Want::Reports {
            phase: Phase::Failed,
            reason: Reason::DeadlineExceeded,
            step: StepIs::Stop,
            then: Then::Poll,
            events: &["DeadlineExceeded"],
        },
    },
    Case {
        name: "paused past the deadline: reported, the task left running",
        change: |w| {
            w.job.spec.active_deadline_seconds = Some(30);
            w.observed.paused = true;
            w.attempt(1);
            w.observed.task = Some(Some(task(1, "RUNNING", None, None)));
        },
        want: Want::Reports {
            phase: Phase::Failed,
            reason: Reason::DeadlineExceeded,
            step: StepIs::Wait,
            then: Then::Poll,
            events: &["DeadlineExceeded"],
        },
    },
    Case {
        name: "a finished task's log is read when spec.logTail asks for it",
        change: |w| {
            w.job.spec.log_tail = Some(LogTail { lines: 5 });
            w.attempt(1);
            w.observed.task = Some(Some(task(1, "STOPPED", Some(0), Some(5))));
        },
        want: Want::Reads(|_| Need::LogTail {
            group: "/shop/api".into(),
            stream: "migrate/app/t1".into(),
            lines: 5,
        }),
    },
    Case {
        name: "exit 0 succeeds with an Event",
        change: |w| {
            w.attempt(1);
            w.observed.task = Some(Some(task(1, "STOPPED", Some(0), Some(5))));
        },
        want: Want::Reports {
            phase: Phase::Succeeded,
            reason: Reason::Succeeded,
            step: StepIs::Wait,
            then: Then::Poll,
            events: &["Succeeded"],
        },
    },
    Case {
        name: "a refresh after a failure starts a new try",
        change: |w| {
            finished(
                w,
                Phase::Failed,
                Reason::BackoffLimitExceeded,
                "attempt 1 of 1 failed",
            );
            w.observed.refresh = Some("fixed".into());
            w.observed.task = Some(None);
        },
        want: Want::Reports {
            phase: Phase::Running,
            reason: Reason::Retrying,
            step: StepIs::Run(2),
            then: Then::Poll,
            events: &["RunRefreshed"],
        },
    },
];

fn step_is(step: &Step, want: &StepIs) -> bool {
    match (step, want) {
        (Step::Wait, StepIs::Wait) | (Step::Stop { .. }, StepIs::Stop) => true,
        (Step::Run(r), StepIs::Run(a)) => {
            r.attempt == *a && matches!(r.task_definition, TaskDefinition::Arn(_))
        }
        (Step::Run(r), StepIs::Register(a)) => {
            r.attempt == *a && matches!(r.task_definition, TaskDefinition::Register { .. })
        }
        _ => false,
    }
}

#[test]
fn every_case_plans_what_it_must() {
    for c in CASES {
        let mut w = world();
        (c.change)(&mut w);
        let got = plan(&Inputs {
            job: &w.job,
            observed: &w.observed,
            now: at(NOW),
        });
        let name = c.name;
        match (&c.want, got) {
            (Want::Reads(need), Err(got)) => assert_eq!(got, need(&w), "{name}"),
            (
                Want::Reports {
                    phase,
                    reason,
                    step,
                    then,
                    events,
                },
                Ok(p),
            ) => {
                let Report::Run {
                    status,
                    phase: got_phase,
                    reason: got_reason,
                    message,
                    cannot_start,
                } = &p.report
                else {
                    panic!("{name}: {:?}", p.report);
                };
                assert_eq!((got_phase, got_reason), (phase, reason), "{name}");
                // The status the reconcile writes is one the API server
                // accepts.
                let next = super::plan::status(
                    &w.job,
                    &w.observed.prev,
                    *status.clone(),
                    *phase,
                    *reason,
                    message,
                    cannot_start.as_deref(),
                    None,
                    at(NOW),
                );
                crate::api::status_schema::assert_valid::<MigrationJob>(&next, name);
                assert!(step_is(&p.step, step), "{name}: {:?}", p.step);
                assert_eq!(&p.then, then, "{name}");
                let got: Vec<&str> = p.events.iter().map(|e| e.reason).collect();
                assert_eq!(&got, events, "{name}");
            }
            (Want::Fails(reason, then), Ok(p)) => {
                assert!(
                    matches!(&p.report, Report::Failed { reason: r, .. } if r == reason),
                    "{name}: {:?}",
                    p.report
                );
                assert_eq!(&p.then, then, "{name}");
            }
            (Want::Quiet(then), Ok(p)) => {
                assert_eq!(p.report, Report::Nothing, "{name}");
                assert_eq!(&p.then, then, "{name}");
            }
            (_, got) => panic!("{name}: {got:?}"),
        }
    }
}
