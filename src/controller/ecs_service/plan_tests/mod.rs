//! Table tests of the EcsService plan: every action and every condition
//! reason it can produce, from the example service and ECS views built the
//! way DescribeServices reports them. `Desired::new` checks each message
//! it is given (readable, no debug formatting, nothing repeated), so these
//! tests also walk the messages of every reason. `update` changes each
//! UpdateService field, `prune` the revision history, `gate` the
//! pre-rollout gate, `retry` the retry of a rollout ECS failed.

mod columns;
mod gate;
mod next;
mod prune;
mod retry;
pub(super) mod states;
mod update;

use k8s_openapi::jiff::Timestamp;

use super::plan::{plan, Gate, Inputs, Plan, ServiceAction};
use crate::api::conditions::{self, Desired, Reason, DEGRADED, PROGRESSING, READY};
use crate::api::ecs_service::StoppedTask;
use crate::api::ecs_service::{EcsService, EcsServiceStatus, RolloutStatus};
use crate::aws::ecs::service_tags;
use crate::aws::ecs::services::ServiceUpdate;
use crate::aws::ecs::views::{
    DeploymentConfigView, DeploymentView, NetworkView, RegistryView, ServiceView,
};
use crate::aws::ecs::ServiceDeploymentView;
use crate::aws::tags::{TAG_OWNER, TAG_UID};
use crate::controller::ownership::{Owners, Presence};
use crate::controller::pull_through::Serving;

const OLD_TD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/shop-api:1";
const NEW_TD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/shop-api:2";
const UID: &str = "0b6a1f3e-6a4f-4d2b-9c1e-2f6f0a1b2c3d";
const NOW: i64 = 1_800_000_000;

fn example(status: Option<EcsServiceStatus>) -> EcsService {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/api.yaml")).unwrap();
    let mut obj: EcsService = serde_yaml::from_str(&text).unwrap();
    obj.metadata.namespace = Some("shop".into());
    obj.metadata.uid = Some(UID.into());
    obj.metadata.generation = Some(2);
    obj.status = status;
    obj
}

/// What berth recorded after serving `td` with hash `h1` at generation 2.
fn recorded(td: &str) -> EcsServiceStatus {
    EcsServiceStatus {
        observed_generation: Some(2),
        task_definition_arn: Some(td.into()),
        spec_hash: Some("h1".into()),
        rollout: Some(RolloutStatus {
            deployment_id: Some("ecs-svc/1".into()),
            started_at: Some(Timestamp::from_second(NOW - 60).unwrap().to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The service as DescribeServices reports it: owned by berth, matching the
/// example's settings, running `td` with its PRIMARY deployment in `state`.
fn service(td: &str, state: &str, running: i32) -> ServiceView {
    let obj = example(None);
    let net = obj.spec.network_configuration.clone().unwrap();
    ServiceView {
        name: "shop-api".into(),
        arn: "arn:aws:ecs:us-east-1:123456789012:service/shop/shop-api".into(),
        status: "ACTIVE".into(),
        task_definition: Some(td.into()),
        desired_count: 2,
        running_count: running,
        pending_count: 2 - running,
        launch_type: Some("FARGATE".into()),
        enable_execute_command: true,
        deployment: Some(DeploymentConfigView {
            minimum_healthy_percent: Some(50),
            maximum_percent: Some(200),
            circuit_breaker: Some((true, true)),
            ..Default::default()
        }),
        network: Some(NetworkView {
            subnets: net.subnets,
            security_groups: net.security_groups,
            assign_public_ip: net.assign_public_ip,
        }),
        deployments: vec![DeploymentView {
            id: Some("ecs-svc/1".into()),
            status: Some("PRIMARY".into()),
            task_definition: Some(td.into()),
            rollout_state: Some(state.into()),
            ..Default::default()
        }],
        registries: vec![RegistryView {
            registry_arn: Some(REGISTRY.into()),
            ..Default::default()
        }],
        tags: service_tags::wanted(&obj),
        ..Default::default()
    }
}

const REGISTRY: &str = "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-1";

/// The status the reconcile writes after `p` (the service answering as
/// `svc`), checked against the CRD schema: every plan case is a status the
/// API server accepts.
fn schema_checked(p: Plan, obj: &EcsService, svc: Option<&ServiceView>, hash: &str) -> Plan {
    let next = next_status(&p, obj, svc, hash);
    let case = format!("{:?}", p.conditions);
    crate::api::status_schema::assert_valid::<EcsService>(&next, &case);
    p
}

/// The status the reconcile writes after `p`, the service answering as `svc`.
fn next_status(
    p: &Plan,
    obj: &EcsService,
    svc: Option<&ServiceView>,
    hash: &str,
) -> EcsServiceStatus {
    let prev = obj.status.clone().unwrap_or_default();
    super::plan::status(&super::plan::Answered {
        obj,
        prev: &prev,
        plan: p,
        current: svc,
        desired_arn: NEW_TD,
        revision: 2,
        hash,
        registry: Some(REGISTRY.into()),
        pull_through_cache: None,
        rollback_requested: None,
        now: Timestamp::from_second(NOW).unwrap(),
    })
}

fn run(obj: &EcsService, svc: Option<&ServiceView>, gate: Gate, stopped: &[StoppedTask]) -> Plan {
    let p = plan(&Inputs {
        obj,
        hash: "h1",
        desired_arn: NEW_TD,
        desired_revision: 2,
        service: svc,
        owners: &Owners::default(),
        record: None,
        registry_arn: Some(REGISTRY),
        stopped,
        gate,
        post_check: None,
        paused: false,
        pause_post_test: false,
        post_test_failed: None,
        refresh: None,
        cache: None,
        now: Timestamp::from_second(NOW).unwrap(),
    });
    schema_checked(p, obj, svc, "h1")
}

fn reason_of(p: &Plan, type_: &str) -> (bool, Reason) {
    let c: &Desired = p.conditions.iter().find(|c| c.type_ == type_).unwrap();
    (c.status, c.reason)
}

/// Every input of the plan, from the example serving `td` as recorded at
/// generation 2 with hash h1; tests change what they are about.
struct World {
    obj: EcsService,
    svc: Option<ServiceView>,
    hash: &'static str,
    registry: Option<&'static str>,
    record: Option<ServiceDeploymentView>,
    gate: Gate,
    post_check: Option<(String, bool)>,
    paused: bool,
    pause_post_test: bool,
    post_test_failed: Option<String>,
    refresh: Option<&'static str>,
    cache: Option<Serving>,
    /// The service's recently stopped tasks.
    stopped: Vec<StoppedTask>,
    /// Which objects named by the service's tags exist.
    owners: Owners,
}

impl World {
    fn serving(td: &str) -> World {
        World {
            obj: example(Some(recorded(td))),
            svc: Some(service(td, "COMPLETED", 2)),
            hash: "h1",
            registry: Some(REGISTRY),
            record: None,
            gate: Gate::Open,
            post_check: None,
            paused: false,
            pause_post_test: false,
            post_test_failed: None,
            refresh: None,
            cache: None,
            stopped: Vec::new(),
            owners: Owners::default(),
        }
    }

    /// The status the reconcile writes after this world's plan.
    fn next_status(&self) -> EcsServiceStatus {
        next_status(&self.plan(), &self.obj, self.svc.as_ref(), self.hash)
    }

    fn svc(&mut self) -> &mut ServiceView {
        self.svc.as_mut().unwrap()
    }

    fn plan(&self) -> Plan {
        let p = plan(&Inputs {
            obj: &self.obj,
            hash: self.hash,
            desired_arn: NEW_TD,
            desired_revision: 2,
            service: self.svc.as_ref(),
            owners: &self.owners,
            record: self.record.as_ref(),
            registry_arn: self.registry,
            stopped: &self.stopped,
            gate: self.gate.clone(),
            post_check: self.post_check.clone(),
            paused: self.paused,
            pause_post_test: self.pause_post_test,
            post_test_failed: self.post_test_failed.clone(),
            refresh: self.refresh,
            cache: self.cache.clone(),
            now: Timestamp::from_second(NOW).unwrap(),
        });
        schema_checked(p, &self.obj, self.svc.as_ref(), self.hash)
    }
}

#[test]
fn a_missing_service_is_created_once_the_gate_opens() {
    let obj = example(None);
    let p = run(&obj, None, Gate::Open, &[]);
    assert_eq!(
        p.action,
        ServiceAction::Create {
            task_definition: NEW_TD.into(),
            desired_count: 2,
            registries: vec![RegistryView {
                registry_arn: Some(REGISTRY.into()),
                ..Default::default()
            }],
            pause_post_test: false,
        }
    );
    assert_eq!(reason_of(&p, READY), (false, Reason::Creating));
    assert_eq!(p.rollout.and_then(|r| r.revision), Some(2));

    let p = run(&obj, None, Gate::Waiting("waiting for migrate".into()), &[]);
    assert_eq!(p.action, ServiceAction::Nothing);
    assert_eq!(reason_of(&p, READY), (false, Reason::WaitingForMigrations));

    let p = run(
        &obj,
        None,
        Gate::Failed("MigrationJob migrate failed with exit code 1".into()),
        &[],
    );
    assert_eq!(p.action, ServiceAction::Nothing);
    assert_eq!(reason_of(&p, DEGRADED), (true, Reason::MigrationFailed));
}

#[test]
fn a_service_serving_the_desired_revision_is_ready_and_untouched() {
    let obj = example(Some(recorded(NEW_TD)));
    let svc = service(NEW_TD, "COMPLETED", 2);
    let p = run(&obj, Some(&svc), Gate::Open, &[]);
    assert_eq!(p.action, ServiceAction::Nothing);
    assert_eq!(p.tags, None);
    assert_eq!(reason_of(&p, READY), (true, Reason::RolloutComplete));
    assert_eq!(reason_of(&p, DEGRADED), (false, Reason::AsExpected));
}

#[test]
fn a_new_revision_rolls_out_only_through_an_open_gate() {
    let obj = example(Some(recorded(OLD_TD)));
    let svc = service(OLD_TD, "COMPLETED", 2);
    let p = run(&obj, Some(&svc), Gate::Open, &[]);
    match &p.action {
        ServiceAction::Update { update, drift } => {
            assert_eq!(update.task_definition.as_deref(), Some(NEW_TD));
            assert!(update.pushes_revision());
            assert_eq!(drift, &vec!["taskDefinition".to_string()]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(reason_of(&p, READY), (false, Reason::RollingOut));
    assert_eq!(p.previous_arn.as_deref(), Some(OLD_TD));

    let p = run(
        &obj,
        Some(&svc),
        Gate::Waiting("waiting for migrate".into()),
        &[],
    );
    assert_eq!(p.action, ServiceAction::Nothing);
    assert_eq!(reason_of(&p, READY), (false, Reason::WaitingForMigrations));
}

#[test]
fn settings_changed_outside_berth_are_set_back_and_named() {
    let obj = example(Some(recorded(NEW_TD)));
    let mut svc = service(NEW_TD, "COMPLETED", 2);
    svc.desired_count = 5;
    svc.enable_execute_command = false;
    svc.tags.insert("team".into(), "hijacked".into());
    svc.tags.insert("rogue".into(), "1".into());
    let p = run(&obj, Some(&svc), Gate::Open, &[]);
    match &p.action {
        ServiceAction::Update { update, drift } => {
            // The values to set, from the spec: never a hard-coded count.
            assert_eq!(
                **update,
                ServiceUpdate {
                    desired_count: Some(2),
                    enable_execute_command: Some(true),
                    ..Default::default()
                }
            );
            assert_eq!(
                drift,
                &vec!["desiredCount".to_string(), "enableExecuteCommand".into()]
            );
        }
        other => panic!("{other:?}"),
    }
    let tags = p.tags.expect("tags set back");
    assert!(p.tags_drifted);
    assert_eq!(tags.set.get("team").map(String::as_str), Some("orders"));
    assert_eq!(tags.set.len(), 1, "owner tags are already right");
    assert_eq!(tags.remove, vec!["rogue".to_string()]);
    assert!(!tags.set.contains_key(TAG_OWNER) && !tags.set.contains_key(TAG_UID));
}

#[test]
fn someone_elses_service_needs_adopt() {
    let obj = example(None);
    let mut svc = service(OLD_TD, "COMPLETED", 2);
    svc.tags.clear();
    let p = run(&obj, Some(&svc), Gate::Open, &[]);
    assert!(p.adoption_required);
    assert_eq!(p.action, ServiceAction::Nothing);
    assert_eq!(reason_of(&p, DEGRADED), (true, Reason::AdoptionRequired));

    let mut adopting = example(None);
    adopting.spec.adopt = true;
    let p = run(&adopting, Some(&svc), Gate::Open, &[]);
    assert!(!p.adoption_required);
    assert!(p.tags.unwrap().set.contains_key(TAG_OWNER));
}

/// A service whose berth tags name another EcsService: refused while that
/// object exists (also with adopt, and when berth cannot see its
/// namespace); adoptable once it is gone; ours when only the uid changed.
#[test]
fn another_objects_service_is_never_taken() {
    const A: &str = "team-a/shop-api";
    let tagged_for = |owner: &str, uid: &str| {
        let mut w = World::serving(OLD_TD);
        w.obj.status = None;
        let tags = &mut w.svc().tags;
        tags.insert(TAG_OWNER.into(), owner.into());
        tags.insert(TAG_UID.into(), uid.into());
        w
    };
    let owners = |p: Presence| Owners::new([(A.to_string(), p)]);
    // (case, owner tag, uid tag, adopt, A's presence, reason or None when ours/adopted)
    type Case<'a> = (&'a str, &'a str, &'a str, bool, Presence, Option<Reason>);
    let cases: &[Case] = &[
        (
            "A exists",
            A,
            "uid-a",
            false,
            Presence::Exists,
            Some(Reason::Conflict),
        ),
        (
            "A exists, adopt",
            A,
            "uid-a",
            true,
            Presence::Exists,
            Some(Reason::Conflict),
        ),
        (
            "A not watched, adopt",
            A,
            "uid-a",
            true,
            Presence::Unseen,
            Some(Reason::Conflict),
        ),
        (
            "A gone",
            A,
            "uid-a",
            false,
            Presence::Gone,
            Some(Reason::AdoptionRequired),
        ),
        ("A gone, adopt", A, "uid-a", true, Presence::Gone, None),
        (
            "re-created shop/api",
            "shop/api",
            "uid-old",
            false,
            Presence::Exists,
            None,
        ),
    ];
    for (case, owner, uid, adopt, presence, want) in cases {
        let mut w = tagged_for(owner, uid);
        w.obj.spec.adopt = *adopt;
        w.owners = owners(*presence);
        let p = w.plan();
        match want {
            Some(reason) => {
                assert_eq!(p.action, ServiceAction::Nothing, "{case}");
                assert!(p.tags.is_none(), "{case}: no TagResource");
                assert!(p.adoption_required, "{case}");
                assert_eq!(reason_of(&p, DEGRADED), (true, *reason), "{case}");
                let message = &p.conditions[0].message;
                if *reason == Reason::Conflict {
                    assert!(
                        message.contains("belongs to EcsService team-a/shop-api"),
                        "{case}: {message}"
                    );
                    assert!(message.contains("spec.serviceName"), "{case}: {message}");
                }
                if *presence == Presence::Unseen {
                    assert!(message.contains("does not watch"), "{case}: {message}");
                }
            }
            None => {
                assert!(!p.adoption_required, "{case}");
                assert!(
                    matches!(p.action, ServiceAction::Update { .. }),
                    "{case}: {:?}",
                    p.action
                );
                let tags = p.tags.expect("berth's tags put on the service");
                if *owner != "shop/api" {
                    assert_eq!(
                        tags.set.get(TAG_OWNER).map(String::as_str),
                        Some("shop/api"),
                        "{case}"
                    );
                }
                assert_eq!(
                    tags.set.get(TAG_UID).map(String::as_str),
                    Some(UID),
                    "{case}"
                );
            }
        }
    }
}

#[test]
fn a_launch_type_change_is_immutable() {
    let obj = example(Some(recorded(NEW_TD)));
    let mut svc = service(NEW_TD, "COMPLETED", 2);
    svc.launch_type = Some("EC2".into());
    let p = run(&obj, Some(&svc), Gate::Open, &[]);
    assert_eq!(p.action, ServiceAction::Nothing);
    assert_eq!(
        reason_of(&p, DEGRADED),
        (true, Reason::ImmutableFieldChanged)
    );
}

#[test]
fn rollout_outcomes() {
    let obj = example(Some(recorded(NEW_TD)));

    let failed = service(NEW_TD, "FAILED", 0);
    let p = run(&obj, Some(&failed), Gate::Open, &[]);
    assert_eq!(reason_of(&p, DEGRADED), (true, Reason::RolloutFailed));

    let going = service(NEW_TD, "IN_PROGRESS", 1);
    let p = run(&obj, Some(&going), Gate::Open, &[]);
    assert_eq!(reason_of(&p, READY), (false, Reason::RollingOut));
    assert_eq!(reason_of(&p, DEGRADED), (false, Reason::AsExpected));

    let pull = StoppedTask {
        task_arn: "arn:aws:ecs:us-east-1:123456789012:task/shop/t1".into(),
        task_definition_arn: Some(NEW_TD.into()),
        stop_code: Some("TaskFailedToStart".into()),
        stopped_reason: Some(
            "CannotPullContainerError: pull image manifest has been retried 7 time(s): not found"
                .into(),
        ),
        ..Default::default()
    };
    // Tasks that cannot pull: Degraded names the cause at once, while ECS
    // keeps trying (Progressing) and berth pushes nothing new.
    let p = run(&obj, Some(&going), Gate::Open, std::slice::from_ref(&pull));
    assert_eq!(reason_of(&p, DEGRADED), (true, Reason::TasksFailing));
    assert_eq!(reason_of(&p, PROGRESSING), (true, Reason::RollingOut));
    assert_eq!(p.action, ServiceAction::Nothing);
    let degraded = p.conditions.iter().find(|c| c.type_ == DEGRADED).unwrap();
    assert!(
        degraded.message.contains("CannotPullContainerError"),
        "{}",
        degraded.message
    );

    let mut late = obj.clone();
    late.spec.deployment.progress_deadline_seconds = 30;
    let p = run(&late, Some(&going), Gate::Open, &[pull]);
    assert_eq!(
        reason_of(&p, DEGRADED),
        (true, Reason::ProgressDeadlineExceeded)
    );
    let message = &p.conditions[0].message;
    assert!(
        message.contains("progressDeadlineSeconds (30s)") && message.contains("health checks"),
        "{message}"
    );
}

#[test]
fn a_circuit_breaker_rollback_stays_reported() {
    let mut st = recorded(NEW_TD);
    st.conditions = conditions::merge(
        &[],
        &conditions::failed(
            Reason::RolledBack,
            "the deployment circuit breaker rolled revision 2 back",
        ),
        Some(2),
        Timestamp::from_second(NOW - 10).unwrap(),
    );
    let obj = example(Some(st));
    // ECS is stable again, on the old revision.
    let svc = service(OLD_TD, "COMPLETED", 2);
    let p = run(&obj, Some(&svc), Gate::Open, &[]);
    assert_eq!(
        p.action,
        ServiceAction::Nothing,
        "no second push of a rolled-back revision"
    );
    assert_eq!(reason_of(&p, DEGRADED), (true, Reason::RolledBack));
}

#[test]
fn a_failed_smoke_test_rolls_back_to_the_previous_revision() {
    let mut w = World::serving(NEW_TD);
    w.obj.status.as_mut().unwrap().previous_task_definition_arn = Some(OLD_TD.into());
    w.post_check = Some((
        "PostRollout MigrationJob smoke failed with exit code 1".into(),
        true,
    ));
    let p = w.plan();
    assert_eq!(
        p.action,
        ServiceAction::Update {
            update: Box::new(ServiceUpdate {
                task_definition: Some(OLD_TD.into()),
                rollback: true,
                ..Default::default()
            }),
            drift: vec![],
        }
    );
    assert_eq!(
        reason_of(&p, DEGRADED),
        (true, Reason::PostRolloutCheckFailed)
    );

    // rollbackOnFailure off: the revision keeps serving, the check reports.
    w.post_check = Some((
        "PostRollout MigrationJob smoke failed with exit code 1".into(),
        false,
    ));
    let p = w.plan();
    assert_eq!(p.action, ServiceAction::Nothing);
    assert_eq!(
        reason_of(&p, DEGRADED),
        (true, Reason::PostRolloutCheckFailed)
    );
    assert!(
        p.conditions[0].message.contains("rollbackOnFailure is off"),
        "{}",
        p.conditions[0].message
    );
}

#[test]
fn a_failed_post_test_traffic_check_is_reported() {
    let mut w = World::serving(NEW_TD);
    w.post_test_failed =
        Some("PostTestTraffic MigrationJob smoke failed with exit code 1; ECS rolls back".into());
    let p = w.plan();
    // berth answers the hook (act_deployment), not UpdateService.
    assert_eq!(p.action, ServiceAction::Nothing);
    assert_eq!(
        reason_of(&p, DEGRADED),
        (true, Reason::PostTestTrafficCheckFailed)
    );
}

#[test]
fn a_rollback_ecs_could_not_finish_is_a_failed_rollout() {
    let mut w = World::serving(NEW_TD);
    w.svc().deployments[0].rollout_state = Some("IN_PROGRESS".into());
    w.record = Some(ServiceDeploymentView {
        arn: "arn:aws:ecs:us-east-1:123456789012:service-deployment/shop/shop-api/1".into(),
        status: "ROLLBACK_FAILED".into(),
        status_reason: Some("the previous revision failed to start".into()),
        ..Default::default()
    });
    let p = w.plan();
    assert_eq!(p.action, ServiceAction::Nothing);
    assert_eq!(reason_of(&p, DEGRADED), (true, Reason::RolloutFailed));
}

#[test]
fn the_first_deployment_pauses_for_post_test_traffic_jobs() {
    let mut w = World::serving(NEW_TD);
    w.obj = example(None);
    w.svc = None;
    w.pause_post_test = true;
    w.obj.spec.service_discovery = None;
    w.registry = None;
    assert_eq!(
        w.plan().action,
        ServiceAction::Create {
            task_definition: NEW_TD.into(),
            desired_count: 2,
            registries: vec![],
            pause_post_test: true,
        }
    );
}

/// Without spec.desiredCount (autoscaling owns the count) the service
/// starts with one task: ECS needs a number at creation.
#[test]
fn a_service_without_a_desired_count_is_created_with_one_task() {
    let mut obj = example(None);
    obj.spec.desired_count = None;
    let p = run(&obj, None, Gate::Open, &[]);
    let ServiceAction::Create { desired_count, .. } = p.action else {
        panic!("expected a create, got {:?}", p.action);
    };
    assert_eq!(desired_count, 1);
}

/// The plan's conditions while paused, as the shell writes them.
fn paused_shown(p: &Plan) -> Vec<(bool, Reason)> {
    use crate::controller::shell::{paused, Outcome, Then};
    let outcome = Outcome::Conditions(p.conditions.clone(), Then::Resync);
    let prev = crate::api::EcsServiceStatus::default();
    let t = k8s_openapi::jiff::Timestamp::UNIX_EPOCH;
    let Outcome::Conditions(shown, _) = paused("EcsService", &prev, outcome, Some(1), t) else {
        panic!("paused conditions");
    };
    shown.iter().map(|d| (d.status, d.reason)).collect()
}

#[test]
fn paused_changes_nothing() {
    let mut w = World::serving(OLD_TD);
    w.svc().desired_count = 7;
    w.paused = true;
    let p = w.plan();
    assert_eq!(p.action, ServiceAction::Nothing);
    assert_eq!(p.tags, None);
    // The old revision serves, the new one is held back: not Ready.
    let held = vec![(false, Reason::Paused); 3];
    assert_eq!(paused_shown(&p), held);

    // Serving the desired revision, complete: Ready stays True.
    let mut w = World::serving(NEW_TD);
    w.paused = true;
    let p = w.plan();
    assert_eq!(p.action, ServiceAction::Nothing);
    let ready = vec![
        (true, Reason::Paused),
        (false, Reason::Paused),
        (false, Reason::Paused),
    ];
    assert_eq!(paused_shown(&p), ready);

    // Not created while paused either.
    w.obj = example(None);
    w.svc = None;
    let p = w.plan();
    assert_eq!(p.action, ServiceAction::Nothing);
    assert_eq!(paused_shown(&p), held);
}
