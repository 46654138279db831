//! The shell's own decisions, for every kind: the prelude's failures,
//! AWS failures, paused and deleting conditions.

use super::*;
use crate::api::conditions::PROGRESSING;

fn aws(kind: FailureKind) -> AwsFailure {
    AwsFailure {
        kind,
        action: "ecs:CreateService",
        code: Some("InvalidParameterException".into()),
        message: "no".into(),
    }
}

/// The prelude's failures, as every kind reports them.
#[test]
fn prelude_failures() {
    let invalid = Error::InvalidSpec(crate::api::InvalidSpec(vec![
        crate::api::validation::FieldError {
            field: "spec.taskDefinition.taskRoleArn".into(),
            message: "is not allowed in this namespace".into(),
        },
    ]));
    let cases: Vec<(Error, Option<(Reason, Then)>)> = vec![
        (invalid, Some((Reason::InvalidSpec, Then::Resync))),
        (
            Error::Target(TargetError::NoRegion),
            Some((Reason::AwsConfiguration, Then::Resync)),
        ),
        (
            Error::Target(TargetError::NoNamespaceRole {
                namespace: "team-a".into(),
            }),
            Some((Reason::NamespaceRoleRequired, Then::Resync)),
        ),
        (Error::StaleRead("behind".into()), None),
    ];
    for (err, want) in cases {
        let got = refused(&err).map(|f| {
            let _ = conditions::failed(f.reason, f.message.clone());
            (f.reason, f.then)
        });
        assert_eq!(got, want, "{err}");
    }
}

const AVAILABLE: &str = "cluster orders-db and 1 instance(s) are available";

fn available() -> Vec<Desired> {
    vec![
        Desired::new(READY, true, Reason::Available, AVAILABLE),
        Desired::new(PROGRESSING, false, Reason::Available, AVAILABLE),
        conditions::not_degraded(),
    ]
}

fn creating() -> Vec<Desired> {
    let m = "creating Aurora cluster orders-db";
    vec![
        Desired::new(READY, false, Reason::Creating, m),
        Desired::new(PROGRESSING, true, Reason::Creating, m),
        conditions::not_degraded(),
    ]
}

fn status_with<S: Conditioned + Default>(desired: &[Desired]) -> S {
    let mut s = S::default();
    let merged = conditions::merge(&[], desired, Some(1), Timestamp::UNIX_EPOCH);
    s.set_conditions(merged, Some(1));
    s
}

/// (type, status, reason) of each condition, and the one message.
fn shown(cs: &[Condition]) -> (Vec<(String, String, String)>, String) {
    let rows = cs
        .iter()
        .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
        .collect();
    (rows, cs[0].message.clone())
}

fn paused_rows(ready: bool, degraded: bool) -> Vec<(String, String, String)> {
    let word = |b: bool| if b { "True" } else { "False" };
    [
        (READY, word(ready)),
        (PROGRESSING, "False"),
        (DEGRADED, word(degraded)),
    ]
    .iter()
    .map(|(t, s)| (t.to_string(), s.to_string(), "Paused".to_string()))
    .collect()
}

/// Whatever a kind's converge returns while paused, the shell writes
/// `Paused` on all three conditions: Ready keeps the status the kind
/// found, Progressing and Degraded are False, and the message says what
/// berth would report or what it leaves as it is.
#[test]
fn paused_is_decided_by_the_shell_for_every_outcome() {
    use crate::api::aurora_cluster::AuroraClusterStatus as S;
    let t = Timestamp::UNIX_EPOCH;
    let prev: S = status_with(&available());
    let failed = Failed::new(Reason::InvalidSpec, "spec.engine: unknown", Then::Change);
    let held = "the pull-through cache rule for prefix docker-hub is left as it is";
    // (what converge returned, Ready, Degraded, what the message says)
    let cases: Vec<(&str, Outcome<S>, bool, bool, &str)> = vec![
        (
            "a ready status (it kept Ready=True/Available)",
            Outcome::status(status_with(&available()), Then::Resync),
            true,
            false,
            AVAILABLE,
        ),
        (
            "a change held back",
            Outcome::Conditions(creating(), Then::Poll),
            false,
            false,
            "would report: creating Aurora cluster orders-db",
        ),
        (
            "a failure a person must fix (a pause hides none)",
            Outcome::Failed(failed),
            false,
            true,
            "spec.engine: unknown",
        ),
        (
            "what the kind leaves as it is",
            Outcome::Held {
                ready: true,
                held: held.into(),
                then: Then::Resync,
            },
            true,
            false,
            held,
        ),
        (
            "a look that learned nothing",
            Outcome::Quiet(Then::Resync),
            true,
            false,
            AVAILABLE,
        ),
    ];
    for (name, outcome, ready, degraded, says) in cases {
        let conditions = match paused("AuroraCluster", &prev, outcome, Some(1), t) {
            Outcome::Status(next, _) => next.conditions().to_vec(),
            Outcome::Conditions(desired, _) => conditions::merge(&[], &desired, Some(1), t),
            other => panic!("{name}: {other:?}"),
        };
        let (rows, message) = shown(&conditions);
        assert_eq!(rows, paused_rows(ready, degraded), "{name}");
        assert!(
            message.starts_with(
                "berth.dev/paused is \"true\": berth makes no AWS changes for this AuroraCluster"
            ),
            "{name}: {message}"
        );
        assert!(message.contains(says), "{name}: {message}");
        assert!(conditions.iter().all(|c| c.message == message), "{name}");
    }
}

/// Once written, the paused status is what the next look computes
/// again: nothing is written, nothing nests, no transition time moves.
#[test]
fn a_paused_status_is_stable() {
    fn check<S: Conditioned + Default + std::fmt::Debug>(kind: &str) {
        let (t0, t1) = (Timestamp::UNIX_EPOCH, Timestamp::from_second(60).unwrap());
        let fresh = || Outcome::status(status_with::<S>(&available()), Then::Resync);
        let Outcome::Status(first, _) = paused(kind, &S::default(), fresh(), Some(1), t0) else {
            panic!("{kind}: not a status");
        };
        assert_eq!(
            shown(first.conditions()).0,
            paused_rows(true, false),
            "{kind}"
        );
        let Outcome::Status(again, _) = paused(kind, &*first, fresh(), Some(1), t1) else {
            panic!("{kind}: not a status");
        };
        assert_eq!(again, first, "{kind}");
        let quiet = paused(kind, &*first, Outcome::Quiet(Then::Resync), Some(1), t1);
        assert!(matches!(quiet, Outcome::Quiet(Then::Resync)), "{kind}");
    }
    check::<crate::api::EcsServiceStatus>("EcsService");
    check::<crate::api::MigrationJobStatus>("MigrationJob");
    check::<crate::api::AuroraClusterStatus>("AuroraCluster");
    check::<crate::api::PullThroughCacheStatus>("PullThroughCache");
}

/// A Degraded condition the kind would report stays True, and is what
/// the paused message carries (what a person has to fix), not Ready's.
#[test]
fn paused_keeps_degraded_and_carries_its_message() {
    let failing = "1 task(s) stopped: CannotPullContainerError";
    let rolling = "revision 2: 1/2 running";
    let desired = vec![
        Desired::new(READY, false, Reason::RollingOut, rolling),
        Desired::new(PROGRESSING, true, Reason::RollingOut, rolling),
        Desired::new(DEGRADED, true, Reason::TasksFailing, failing),
    ];
    let prev = crate::api::EcsServiceStatus::default();
    let out = paused(
        "EcsService",
        &prev,
        Outcome::Conditions(desired, Then::Poll),
        None,
        Timestamp::UNIX_EPOCH,
    );
    let Outcome::Conditions(got, Then::Poll) = out else {
        panic!("{out:?}");
    };
    let rows: Vec<_> = got.iter().map(|d| (d.status, d.reason)).collect();
    let paused = Reason::Paused;
    assert_eq!(rows, [(false, paused), (false, paused), (true, paused)]);
    assert!(got[0].message.ends_with(failing), "{}", got[0].message);
    assert!(!got[0].message.contains(rolling), "{}", got[0].message);
}

/// Deleting: Ready=False and Progressing=True say what the deletion
/// waits for; nothing needs a human.
#[test]
fn deleting_says_what_it_waits_for() {
    for (kind, what) in [
        ("AuroraCluster", "deleting DB instance(s) orders-db-1"),
        (
            "MigrationJob",
            "stopping task arn:aws:ecs:us-east-1:123456789012:task/shop/abc",
        ),
    ] {
        let got = deleting(kind, what);
        let rows: Vec<_> = got.iter().map(|d| (d.type_, d.status, d.reason)).collect();
        assert_eq!(
            rows,
            [
                (READY, false, Reason::Deleting),
                (PROGRESSING, true, Reason::Deleting),
                (DEGRADED, false, Reason::AsExpected),
            ]
        );
        assert_eq!(
            got[0].message,
            format!("the {kind} is being deleted: {what}")
        );
    }
}

#[test]
fn a_terminal_aws_failure_is_reported_in_aws_words_and_the_rest_retried() {
    let f = terminal(&aws(FailureKind::Terminal)).unwrap();
    let _ = conditions::failed(f.reason, f.message.clone());
    assert_eq!((f.reason, f.then), (Reason::AwsError, Then::Resync));
    assert!(
        f.message.contains("InvalidParameterException"),
        "{}",
        f.message
    );
    assert_eq!(terminal(&aws(FailureKind::Transient)), None);
    assert_eq!(terminal(&aws(FailureKind::Throttled)), None);
}

/// A refused status write is reported in the API server's words, which
/// name the field.
#[test]
fn a_refused_status_write_names_the_field() {
    let message = "EcsService.berth.dev \"api\" is invalid: \
                   status.rollout.serviceDeployment.arn: Required value";
    let f = refused_write(message);
    let desired = conditions::failed(f.reason, f.message.clone());
    assert_eq!(f.reason, Reason::StatusWriteRefused);
    assert!(desired
        .iter()
        .all(|d| d.message.contains("serviceDeployment.arn")));
    assert_eq!(
        status::refused_field(message),
        "status.rollout.serviceDeployment.arn"
    );
    let several = "MigrationJob.berth.dev \"m\" is invalid: [status.phase: Unsupported value: \"X\", status.attempts: Invalid value]";
    assert_eq!(status::refused_field(several), "status.phase");
}
