//! Tests of the spec hash: what changes it, what does not, and its pinned
//! values (services in AWS are tagged with them).
use super::tests::{
    hash, render, render_with, spec, DB_SECRET, EXAMPLE, RICH, SPLUNK_SECRET, STRIPE_SECRET,
};
use super::*;
use crate::api::common::EnvVar;
use crate::api::task_definition::{AppProtocol, CpuArchitecture, DependencyCondition, Protocol};

#[test]
fn same_spec_gives_same_hash() {
    let h = hash(&spec(EXAMPLE));
    assert_eq!(h, hash(&spec(EXAMPLE)));
    assert_eq!(h.len(), 16);
    assert!(h
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_ne!(h, hash(&spec(RICH)));
}

#[test]
fn reordering_environment_and_secrets_keeps_the_hash() {
    let base = spec(RICH);
    let mut reordered = base.clone();
    reordered.containers[0].environment.reverse();
    reordered.containers[0].secrets.reverse();
    reordered.requires_compatibilities.reverse();
    assert_eq!(hash(&base), hash(&reordered));
    assert_eq!(render(&base), render(&reordered));

    let mut example = spec(EXAMPLE);
    let before = hash(&example);
    example.containers[0].environment.insert(
        0,
        EnvVar {
            name: "Z_LAST".into(),
            value: "z".into(),
        },
    );
    let first = hash(&example);
    assert_ne!(before, first);
    example.containers[0].environment.reverse();
    assert_eq!(first, hash(&example));
}

#[test]
fn changing_the_image_changes_the_hash() {
    let base = spec(EXAMPLE);
    let mut changed = base.clone();
    changed.containers[0].image =
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api:1.4.3".into();
    assert_ne!(hash(&base), hash(&changed));
}

#[test]
fn every_field_changes_the_hash() {
    type Mutation = fn(&mut TaskDefinitionSpec);
    let mutations: Vec<(&str, Mutation)> = vec![
        ("cpu", |s| s.cpu = Some(2048)),
        ("memory", |s| s.memory = Some(4096)),
        ("networkMode", |s| s.network_mode = NetworkMode::Bridge),
        ("requiresCompatibilities", |s| {
            s.requires_compatibilities.pop();
        }),
        ("executionRoleArn", |s| s.execution_role_arn = None),
        ("taskRoleArn", |s| s.task_role_arn = None),
        ("cpuArchitecture", |s| {
            s.runtime_platform.as_mut().unwrap().cpu_architecture = Some(CpuArchitecture::Arm64)
        }),
        ("operatingSystemFamily", |s| {
            s.runtime_platform.as_mut().unwrap().operating_system_family =
                Some("WINDOWS_SERVER_2022_CORE".into())
        }),
        ("runtimePlatform", |s| s.runtime_platform = None),
        ("container order", |s| s.containers.reverse()),
        ("name", |s| s.containers[1].name = "proxy".into()),
        ("essential", |s| s.containers[1].essential = true),
        ("command", |s| s.containers[0].command.reverse()),
        ("entryPoint", |s| s.containers[0].entry_point.clear()),
        ("environment value", |s| {
            s.containers[0].environment[0].value = "3".into()
        }),
        ("secret valueFrom", |s| {
            s.containers[0].secrets[1].value_from =
                "arn:aws:ssm:eu-west-1:123456789012:parameter/app/other".into()
        }),
        ("containerPort", |s| {
            s.containers[0].port_mappings[1].container_port = 53
        }),
        ("protocol", |s| {
            s.containers[0].port_mappings[1].protocol = Protocol::Tcp
        }),
        ("port name", |s| {
            s.containers[0].port_mappings[0].name = None
        }),
        ("appProtocol", |s| {
            s.containers[0].port_mappings[0].app_protocol = Some(AppProtocol::Grpc)
        }),
        ("healthCheck command", |s| {
            s.containers[0].health_check.as_mut().unwrap().command[1] = "false".into()
        }),
        ("healthCheck interval", |s| {
            s.containers[0].health_check.as_mut().unwrap().interval = Some(60)
        }),
        ("healthCheck timeout", |s| {
            s.containers[0].health_check.as_mut().unwrap().timeout = Some(6)
        }),
        ("healthCheck retries", |s| {
            s.containers[0].health_check.as_mut().unwrap().retries = Some(4)
        }),
        ("healthCheck startPeriod", |s| {
            s.containers[0].health_check.as_mut().unwrap().start_period = None
        }),
        ("logDriver", |s| {
            s.containers[0]
                .log_configuration
                .as_mut()
                .unwrap()
                .log_driver = LogDriver::Fluentd
        }),
        ("log options", |s| {
            s.containers[0]
                .log_configuration
                .as_mut()
                .unwrap()
                .options
                .insert("tag".into(), "app".into());
        }),
        ("log secretOptions", |s| {
            s.containers[0]
                .log_configuration
                .as_mut()
                .unwrap()
                .secret_options
                .clear()
        }),
        ("dependsOn", |s| {
            s.containers[0].depends_on[0].condition = DependencyCondition::Start
        }),
        ("ulimit soft", |s| {
            s.containers[0].ulimits[0].soft_limit = 2048
        }),
        ("ulimit hard", |s| {
            s.containers[0].ulimits[0].hard_limit = 8192
        }),
        ("ulimit name", |s| {
            s.containers[0].ulimits[0].name = "nproc".into()
        }),
        ("readonlyRootFilesystem", |s| {
            s.containers[0].readonly_root_filesystem = Some(false)
        }),
        ("user", |s| s.containers[0].user = Some("root".into())),
        ("container cpu", |s| s.containers[0].cpu = Some(256)),
        ("container memory", |s| s.containers[0].memory = None),
        ("memoryReservation", |s| {
            s.containers[0].memory_reservation = Some(256)
        }),
        ("mountPoint path", |s| {
            s.containers[0].mount_points[0].container_path = "/mnt".into()
        }),
        ("mountPoint readOnly", |s| {
            s.containers[0].mount_points[0].read_only = false
        }),
        ("volume name", |s| s.volumes[1].name = "tmp".into()),
        ("efs fileSystemId", |s| {
            s.volumes[0].efs.as_mut().unwrap().file_system_id = "fs-00000000".into()
        }),
        ("efs rootDirectory", |s| {
            s.volumes[0].efs.as_mut().unwrap().root_directory = None
        }),
        ("efs accessPointId", |s| {
            s.volumes[0].efs.as_mut().unwrap().access_point_id = None
        }),
        ("efs transitEncryption", |s| {
            s.volumes[0].efs.as_mut().unwrap().transit_encryption = false
        }),
        ("volumes", |s| {
            s.volumes.pop();
        }),
    ];
    let base = spec(RICH);
    let mut seen = BTreeMap::new();
    seen.insert(hash(&base), "base");
    for (what, mutate) in mutations {
        let mut s = base.clone();
        mutate(&mut s);
        assert_ne!(s, base, "{what}: the mutation must change the spec");
        if let Some(other) = seen.insert(hash(&s), what) {
            panic!("{what} gives the same hash as {other}");
        }
    }
}

#[test]
fn family_and_region_are_part_of_the_hash() {
    let s = spec(EXAMPLE);
    let empty = BTreeMap::new();
    let input = |family: &str, region: &str| RenderInput {
        spec: &s,
        family: family.to_string(),
        region: region.to_string(),
        owner: "shop/api".to_string(),
        uid: "u".to_string(),
        user_tags: &empty,
        secret_versions: &empty,
    };
    let base = register_request(&input("shop-api", "us-east-1")).hash;
    assert_ne!(
        base,
        register_request(&input("shop-api-2", "us-east-1")).hash
    );
    // awslogs-region is filled from the region, so a task logging elsewhere differs.
    assert_ne!(base, register_request(&input("shop-api", "eu-west-1")).hash);
}

#[test]
fn rotating_a_secret_changes_the_hash() {
    let s = spec(RICH);
    let tags = BTreeMap::new();
    let versions = |db: &str| {
        BTreeMap::from([
            (DB_SECRET.to_string(), db.to_string()),
            (SPLUNK_SECRET.to_string(), "v-splunk".to_string()),
        ])
    };
    let v1 = render_with(&s, &tags, &versions("v1")).hash;
    assert_eq!(v1, render_with(&s, &tags, &versions("v1")).hash);
    assert_ne!(v1, render_with(&s, &tags, &versions("v2")).hash);
    assert_ne!(v1, hash(&s), "known versions count");

    // A secret the task does not reference cannot roll it out.
    let mut wider = versions("v1");
    wider.insert(STRIPE_SECRET.to_string(), "v9".to_string());
    assert_eq!(v1, render_with(&s, &tags, &wider).hash);
}

/// Services in AWS carry these hashes in their tags: a rendering change that
/// moves one would register a new revision of every task definition.
#[test]
fn hashes_are_pinned() {
    let rich = spec(RICH);
    let versions = BTreeMap::from([
        (DB_SECRET.to_string(), "v1".to_string()),
        (SPLUNK_SECRET.to_string(), "v-splunk".to_string()),
    ]);
    let mut bridge = spec(RICH);
    bridge.network_mode = NetworkMode::Bridge;
    bridge.runtime_platform = None;
    bridge.volumes.clear();
    let minimal = spec("containers: [{name: app, image: example/app:1}]");
    let got = [
        hash(&spec(EXAMPLE)),
        hash(&rich),
        render_with(&rich, &BTreeMap::new(), &versions).hash,
        hash(&bridge),
        hash(&minimal),
    ];
    assert_eq!(
        got,
        [
            "ac0939c7aa864fc8",
            "3a32c699fc2c8be7",
            "127e567824275a9d",
            "b3c9288a4dba024c",
            "8ea6e880cb9632e0",
        ]
    );
}
