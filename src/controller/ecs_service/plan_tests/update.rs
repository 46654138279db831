//! Each UpdateService field, changed on each side: in the spec (a new
//! generation, or a new rendering: no drift) and in ECS (the spec did not
//! change: the field is named as drift). The plan must send exactly that
//! field, with the value from the spec.

use super::*;
use crate::api::common::{CapacityProviderStrategyItem, NetworkConfiguration};
use crate::api::ecs_deployment::DeploymentStrategy;
use crate::api::ecs_service::LoadBalancer;
use crate::aws::ecs::views::LoadBalancerView;
use crate::controller::ecs_service::plan::fields_of;

const TARGET_GROUP: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-api/0123456789abcdef";

struct Case {
    name: &'static str,
    /// Changes the world from the example serving NEW_TD, settled.
    change: fn(&mut World),
    /// The UpdateService the plan must send.
    want: fn(&EcsService) -> ServiceUpdate,
    drift: &'static [&'static str],
}

/// A spec edit: the object's generation moves past the observed one.
fn edit(w: &mut World, f: impl FnOnce(&mut EcsService)) {
    f(&mut w.obj);
    w.obj.metadata.generation = Some(3);
}

fn lb() -> LoadBalancer {
    LoadBalancer {
        target_group_arn: TARGET_GROUP.into(),
        container_name: "api".into(),
        container_port: 8080,
        advanced_configuration: None,
    }
}

fn fargate(weight: i32) -> CapacityProviderStrategyItem {
    CapacityProviderStrategyItem {
        capacity_provider: "FARGATE".into(),
        weight: Some(weight),
        base: None,
    }
}

fn network(obj: &EcsService) -> Option<NetworkConfiguration> {
    obj.spec.network_configuration.clone()
}

fn registered() -> Vec<RegistryView> {
    vec![RegistryView {
        registry_arn: Some(REGISTRY.into()),
        ..Default::default()
    }]
}

const CASES: &[Case] = &[
    // taskDefinition
    Case {
        name: "a new rendering (a rotated secret) rolls out without drift",
        change: |w| {
            w.obj = example(Some(recorded(OLD_TD)));
            *w.svc() = service(OLD_TD, "COMPLETED", 2);
            w.hash = "h2";
        },
        want: |_| ServiceUpdate {
            task_definition: Some(NEW_TD.into()),
            ..Default::default()
        },
        drift: &[],
    },
    Case {
        name: "a revision set outside berth is set back",
        change: |w| *w.svc() = service(OLD_TD, "COMPLETED", 2),
        want: |_| ServiceUpdate {
            task_definition: Some(NEW_TD.into()),
            ..Default::default()
        },
        drift: &["taskDefinition"],
    },
    // rollback
    Case {
        name: "a failed PostRollout check rolls back",
        change: |w| {
            w.obj.status.as_mut().unwrap().previous_task_definition_arn = Some(OLD_TD.into());
            w.post_check = Some(("PostRollout MigrationJob smoke failed".into(), true));
        },
        want: |_| ServiceUpdate {
            task_definition: Some(OLD_TD.into()),
            rollback: true,
            ..Default::default()
        },
        drift: &[],
    },
    // desiredCount
    Case {
        name: "spec desiredCount",
        change: |w| edit(w, |o| o.spec.desired_count = Some(3)),
        want: |_| ServiceUpdate {
            desired_count: Some(3),
            ..Default::default()
        },
        drift: &[],
    },
    Case {
        name: "desiredCount scaled outside berth",
        change: |w| w.svc().desired_count = 5,
        want: |_| ServiceUpdate {
            desired_count: Some(2),
            ..Default::default()
        },
        drift: &["desiredCount"],
    },
    // deploymentConfiguration
    Case {
        name: "spec deployment bounds",
        change: |w| edit(w, |o| o.spec.deployment.minimum_healthy_percent = 100),
        want: |o| {
            assert_eq!(o.spec.deployment.minimum_healthy_percent, 100);
            ServiceUpdate {
                deployment: Some(o.spec.deployment.clone()),
                ..Default::default()
            }
        },
        drift: &[],
    },
    Case {
        name: "a PostTestTraffic job adds the pause hook to a BLUE_GREEN service",
        change: |w| {
            edit(w, |o| {
                o.spec.deployment.strategy = DeploymentStrategy::BlueGreen
            });
            w.svc().deployment.as_mut().unwrap().strategy = Some("BLUE_GREEN".into());
            w.pause_post_test = true;
        },
        want: |o| ServiceUpdate {
            deployment: Some(o.spec.deployment.clone()),
            pause_post_test: true,
            ..Default::default()
        },
        drift: &[],
    },
    Case {
        name: "deployment bounds changed outside berth",
        change: |w| w.svc().deployment.as_mut().unwrap().minimum_healthy_percent = Some(0),
        want: |o| ServiceUpdate {
            deployment: Some(o.spec.deployment.clone()),
            ..Default::default()
        },
        drift: &["deploymentConfiguration"],
    },
    // networkConfiguration
    Case {
        name: "spec subnets",
        change: |w| {
            edit(w, |o| {
                let net = o.spec.network_configuration.as_mut().unwrap();
                net.subnets.push("subnet-0a1b2c3d4e5f60003".into());
            })
        },
        want: |o| {
            assert_eq!(network(o).unwrap().subnets.len(), 3);
            ServiceUpdate {
                network: network(o),
                ..Default::default()
            }
        },
        drift: &[],
    },
    Case {
        name: "public IP turned on outside berth",
        change: |w| w.svc().network.as_mut().unwrap().assign_public_ip = true,
        want: |o| ServiceUpdate {
            network: network(o),
            ..Default::default()
        },
        drift: &["networkConfiguration"],
    },
    // serviceRegistries
    Case {
        name: "serviceDiscovery removed from the spec",
        change: |w| {
            edit(w, |o| o.spec.service_discovery = None);
            w.registry = None;
        },
        want: |_| ServiceUpdate {
            registries: Some(vec![]),
            ..Default::default()
        },
        drift: &[],
    },
    Case {
        name: "registries removed outside berth",
        change: |w| w.svc().registries.clear(),
        want: |_| ServiceUpdate {
            registries: Some(registered()),
            ..Default::default()
        },
        drift: &["serviceRegistries"],
    },
    // loadBalancers
    Case {
        name: "spec load balancer",
        change: |w| edit(w, |o| o.spec.load_balancers = vec![lb()]),
        want: |_| ServiceUpdate {
            load_balancers: Some(vec![lb()]),
            ..Default::default()
        },
        drift: &[],
    },
    Case {
        name: "a load balancer attached outside berth",
        change: |w| {
            w.svc().load_balancers = vec![LoadBalancerView {
                target_group_arn: TARGET_GROUP.into(),
                container_name: "api".into(),
                container_port: 8080,
                advanced: None,
            }]
        },
        want: |_| ServiceUpdate {
            load_balancers: Some(vec![]),
            ..Default::default()
        },
        drift: &["loadBalancers"],
    },
    // healthCheckGracePeriodSeconds
    Case {
        name: "spec health check grace period",
        change: |w| edit(w, |o| o.spec.health_check_grace_period_seconds = Some(60)),
        want: |_| ServiceUpdate {
            health_check_grace_period_seconds: Some(60),
            ..Default::default()
        },
        drift: &[],
    },
    Case {
        name: "grace period changed outside berth",
        change: |w| {
            w.obj.spec.health_check_grace_period_seconds = Some(60);
            w.svc().health_check_grace_period_seconds = Some(30);
        },
        want: |_| ServiceUpdate {
            health_check_grace_period_seconds: Some(60),
            ..Default::default()
        },
        drift: &["healthCheckGracePeriodSeconds"],
    },
    // enableExecuteCommand
    Case {
        name: "spec turns ECS Exec off",
        change: |w| edit(w, |o| o.spec.enable_execute_command = false),
        want: |_| ServiceUpdate {
            enable_execute_command: Some(false),
            ..Default::default()
        },
        drift: &[],
    },
    Case {
        name: "ECS Exec turned off outside berth",
        change: |w| w.svc().enable_execute_command = false,
        want: |_| ServiceUpdate {
            enable_execute_command: Some(true),
            ..Default::default()
        },
        drift: &["enableExecuteCommand"],
    },
    // platformVersion
    Case {
        name: "spec platform version",
        change: |w| edit(w, |o| o.spec.platform_version = Some("1.4.0".into())),
        want: |_| ServiceUpdate {
            platform_version: Some("1.4.0".into()),
            ..Default::default()
        },
        drift: &[],
    },
    Case {
        name: "platform version changed outside berth",
        change: |w| {
            w.obj.spec.platform_version = Some("1.4.0".into());
            w.svc().platform_version = Some("LATEST".into());
        },
        want: |_| ServiceUpdate {
            platform_version: Some("1.4.0".into()),
            ..Default::default()
        },
        drift: &["platformVersion"],
    },
    // capacityProviderStrategy (a service with a strategy has no launch type)
    Case {
        name: "spec capacity provider weight",
        change: |w| {
            w.obj.spec.launch_type = None;
            w.obj.spec.capacity_provider_strategy = vec![fargate(1)];
            w.svc().launch_type = None;
            w.svc().capacity_provider_strategy = vec![("FARGATE".into(), 1, 0)];
            edit(w, |o| o.spec.capacity_provider_strategy = vec![fargate(2)]);
        },
        want: |_| ServiceUpdate {
            capacity_provider_strategy: Some(vec![fargate(2)]),
            ..Default::default()
        },
        drift: &[],
    },
    Case {
        name: "capacity provider changed outside berth",
        change: |w| {
            w.obj.spec.launch_type = None;
            w.obj.spec.capacity_provider_strategy = vec![fargate(1)];
            w.svc().launch_type = None;
            w.svc().capacity_provider_strategy = vec![("FARGATE_SPOT".into(), 1, 0)];
        },
        want: |_| ServiceUpdate {
            capacity_provider_strategy: Some(vec![fargate(1)]),
            ..Default::default()
        },
        drift: &["capacityProviderStrategy"],
    },
];

#[test]
fn each_field_is_sent_with_the_spec_value_and_drift_is_named() {
    for case in CASES {
        let mut w = World::serving(NEW_TD);
        // The settled world needs no update: whatever the case sends, its
        // change caused.
        assert_eq!(w.plan().action, ServiceAction::Nothing, "{}", case.name);
        (case.change)(&mut w);
        let p = w.plan();
        let ServiceAction::Update { update, drift } = &p.action else {
            panic!("{}: {:?}", case.name, p.action);
        };
        assert_eq!(**update, (case.want)(&w.obj), "{}", case.name);
        assert_eq!(drift, case.drift, "{}", case.name);
        // The Event for the update names fields by the same names.
        let fields = fields_of(update);
        assert!(
            drift.iter().all(|d| fields.contains(&d.as_str())),
            "{}: {drift:?} not in {fields:?}",
            case.name
        );
    }
}

#[test]
fn every_update_field_has_a_case() {
    // Each field of ServiceUpdate (as `fields_of` names them, plus the
    // flags) is sent by some case above; `everything` names every field, so
    // a new one does not compile until it is here.
    let sent: Vec<ServiceUpdate> = CASES
        .iter()
        .map(|c| {
            let mut w = World::serving(NEW_TD);
            (c.change)(&mut w);
            (c.want)(&w.obj)
        })
        .collect();
    let everything = ServiceUpdate {
        task_definition: Some(NEW_TD.into()),
        desired_count: Some(1),
        deployment: Some(example(None).spec.deployment),
        network: network(&example(None)),
        registries: Some(vec![]),
        load_balancers: Some(vec![]),
        health_check_grace_period_seconds: Some(1),
        enable_execute_command: Some(true),
        platform_version: Some("1.4.0".into()),
        capacity_provider_strategy: Some(vec![]),
        rollback: true,
        pause_post_test: true,
        // Sent by a retry (plan_tests/retry.rs).
        force_new_deployment: true,
    };
    for field in fields_of(&everything) {
        assert!(
            sent.iter().any(|u| fields_of(u) == [field]),
            "no case sends only {field}"
        );
    }
    assert_eq!(fields_of(&everything).len(), 10);
    assert!(sent.iter().any(|u| u.rollback));
    assert!(sent.iter().any(|u| u.pause_post_test));
}
