//! Tests of the task definition rendering and its hash.
use super::*;
use crate::api::common::EnvVar;

/// The `taskDefinition` of examples/api.yaml.
const EXAMPLE: &str = r#"
family: shop-api
cpu: 512
memory: 1024
networkMode: awsvpc
requiresCompatibilities: [FARGATE]
executionRoleArn: arn:aws:iam::123456789012:role/shop-api-execution
taskRoleArn: arn:aws:iam::123456789012:role/shop-api-task
runtimePlatform:
  cpuArchitecture: ARM64
  operatingSystemFamily: LINUX
containers:
  - name: api
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api:1.4.2
    portMappings:
      - containerPort: 8080
        name: http
        appProtocol: http
    environment:
      - name: LOG_LEVEL
        value: info
    secrets:
      - name: STRIPE_API_KEY
        valueFrom: arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/stripe-api-key-AbCdEf
    healthCheck:
      command: ["CMD-SHELL", "wget -qO- http://localhost:8080/healthz || exit 1"]
      interval: 10
      timeout: 5
      retries: 3
      startPeriod: 20
    logConfiguration:
      logDriver: awslogs
      options:
        awslogs-group: /shop/api
        awslogs-stream-prefix: api
    readonlyRootFilesystem: true
    ulimits:
      - name: nofile
        softLimit: 65536
        hardLimit: 65536
"#;

/// Uses every field of the spec at least once.
const RICH: &str = r#"
cpu: 1024
memory: 2048
networkMode: awsvpc
requiresCompatibilities: [FARGATE, EC2]
executionRoleArn: arn:aws:iam::123456789012:role/exec
taskRoleArn: arn:aws:iam::123456789012:role/task
runtimePlatform:
  cpuArchitecture: X86_64
  operatingSystemFamily: LINUX
containers:
  - name: app
    image: example/app:1
    command: ["serve", "--port", "8080"]
    entryPoint: ["/bin/entry"]
    environment:
      - name: B
        value: "2"
      - name: A
        value: "1"
    secrets:
      - name: DB_PASSWORD
        valueFrom: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf:password::"
      - name: FLAG
        valueFrom: arn:aws:ssm:eu-west-1:123456789012:parameter/app/flag
    portMappings:
      - containerPort: 8080
        hostPort: 8080
        protocol: tcp
        name: http
        appProtocol: http2
      - containerPort: 5353
        protocol: udp
    healthCheck:
      command: ["CMD", "true"]
      interval: 30
      timeout: 5
      retries: 3
      startPeriod: 10
    logConfiguration:
      logDriver: splunk
      options:
        splunk-url: https://splunk.example.com
      secretOptions:
        - name: splunk-token
          valueFrom: arn:aws:secretsmanager:eu-west-1:123456789012:secret:splunk-XyZ123
    dependsOn:
      - containerName: sidecar
        condition: HEALTHY
    ulimits:
      - name: nofile
        softLimit: 1024
        hardLimit: 4096
    readonlyRootFilesystem: true
    user: "1000:1000"
    cpu: 512
    memory: 1024
    memoryReservation: 512
    mountPoints:
      - sourceVolume: data
        containerPath: /data
        readOnly: true
  - name: sidecar
    image: example/sidecar:1
    essential: false
volumes:
  - name: data
    efs:
      fileSystemId: fs-0123456789abcdef0
      rootDirectory: /
      accessPointId: fsap-0123456789abcdef0
  - name: scratch
"#;

const DB_SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf";
const SPLUNK_SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:splunk-XyZ123";
const STRIPE_SECRET: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/stripe-api-key-AbCdEf";

fn spec(yaml: &str) -> TaskDefinitionSpec {
    serde_yaml::from_str(yaml).expect("fixture parses")
}

fn render_with(
    spec: &TaskDefinitionSpec,
    user_tags: &BTreeMap<String, String>,
    secret_versions: &BTreeMap<String, String>,
) -> RenderedTaskDefinition {
    register_request(&RenderInput {
        spec,
        family: spec.family.clone().unwrap_or_else(|| "app".to_string()),
        region: "us-east-1".to_string(),
        owner: "shop/api".to_string(),
        uid: "0b9c1a4e-0000-4000-8000-000000000001".to_string(),
        user_tags,
        secret_versions,
    })
}

fn render(spec: &TaskDefinitionSpec) -> RenderedTaskDefinition {
    render_with(spec, &BTreeMap::new(), &BTreeMap::new())
}

fn hash(spec: &TaskDefinitionSpec) -> String {
    render(spec).hash
}

fn env_names(c: &ecs::ContainerDefinition) -> Vec<&str> {
    c.environment().iter().filter_map(|e| e.name()).collect()
}

#[test]
fn example_renders_as_ecs_reads_it_back() {
    let r = render(&spec(EXAMPLE));
    assert_eq!(r.family, "shop-api");
    assert_eq!(r.cpu.as_deref(), Some("512"));
    assert_eq!(r.memory.as_deref(), Some("1024"));
    assert_eq!(r.network_mode, ecs::NetworkMode::Awsvpc);
    assert_eq!(
        r.requires_compatibilities,
        vec![ecs::Compatibility::Fargate]
    );
    assert_eq!(
        r.execution_role_arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/shop-api-execution")
    );
    assert_eq!(
        r.task_role_arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/shop-api-task")
    );
    let platform = r.runtime_platform.as_ref().expect("runtime platform");
    assert_eq!(
        platform.cpu_architecture(),
        Some(&ecs::CpuArchitecture::Arm64)
    );
    assert_eq!(
        platform.operating_system_family(),
        Some(&ecs::OsFamily::Linux)
    );
    assert!(r.volumes.is_empty());

    let [c] = r.container_definitions.as_slice() else {
        panic!("one container expected");
    };
    assert_eq!(c.name(), Some("api"));
    assert_eq!(c.essential(), Some(true));
    let port = &c.port_mappings()[0];
    assert_eq!(port.container_port(), Some(8080));
    assert_eq!(port.host_port(), Some(8080));
    assert_eq!(port.protocol(), Some(&ecs::TransportProtocol::Tcp));
    assert_eq!(port.name(), Some("http"));
    assert_eq!(port.app_protocol(), Some(&ecs::ApplicationProtocol::Http));
    assert_eq!(c.environment()[0].value(), Some("info"));
    assert_eq!(c.secrets()[0].name(), "STRIPE_API_KEY");
    assert_eq!(c.secrets()[0].value_from(), STRIPE_SECRET);
    let health = c.health_check().expect("health check");
    assert_eq!(health.command()[0], "CMD-SHELL");
    assert_eq!(
        (
            health.interval(),
            health.timeout(),
            health.retries(),
            health.start_period()
        ),
        (Some(10), Some(5), Some(3), Some(20))
    );
    let log = c.log_configuration().expect("log configuration");
    assert_eq!(log.log_driver(), &ecs::LogDriver::Awslogs);
    let options = log.options().expect("options");
    assert_eq!(options["awslogs-region"], "us-east-1");
    assert_eq!(options["awslogs-group"], "/shop/api");
    assert_eq!(options["awslogs-stream-prefix"], "api");
    assert_eq!(c.readonly_root_filesystem(), Some(true));
    let ulimit = &c.ulimits()[0];
    assert_eq!(ulimit.name(), &ecs::UlimitName::Nofile);
    assert_eq!((ulimit.soft_limit(), ulimit.hard_limit()), (65536, 65536));
    assert!(c.command().is_empty() && c.mount_points().is_empty());
}

#[test]
fn example_manifest_renders() {
    let manifest: serde_yaml::Value =
        serde_yaml::from_str(include_str!("../../../examples/api.yaml")).unwrap();
    let td: TaskDefinitionSpec =
        serde_yaml::from_value(manifest["spec"]["taskDefinition"].clone()).unwrap();
    let r = render(&td);
    for c in &r.container_definitions {
        for p in c.port_mappings() {
            assert_eq!(p.host_port(), p.container_port());
        }
        if let Some(log) = c.log_configuration() {
            if log.log_driver() == &ecs::LogDriver::Awslogs {
                assert!(log.options().unwrap().contains_key("awslogs-region"));
            }
        }
    }
    assert_eq!(r.cpu, td.cpu.map(|c| c.to_string()));
}

#[test]
fn explicit_awslogs_region_is_kept() {
    let mut s = spec(EXAMPLE);
    s.containers[0]
        .log_configuration
        .as_mut()
        .unwrap()
        .options
        .insert("awslogs-region".into(), "eu-central-1".into());
    let r = render(&s);
    let options = r.container_definitions[0]
        .log_configuration()
        .unwrap()
        .options()
        .unwrap();
    assert_eq!(options["awslogs-region"], "eu-central-1");
}

#[test]
fn rich_spec_renders_every_field() {
    let r = render(&spec(RICH));
    assert_eq!(
        r.requires_compatibilities,
        vec![ecs::Compatibility::Ec2, ecs::Compatibility::Fargate]
    );
    let app = &r.container_definitions[0];
    assert_eq!(app.image(), Some("example/app:1"));
    assert_eq!(app.command(), ["serve", "--port", "8080"]);
    assert_eq!(app.entry_point(), ["/bin/entry"]);
    assert_eq!(env_names(app), ["A", "B"]);
    let secrets: Vec<_> = app.secrets().iter().map(|s| s.name()).collect();
    assert_eq!(secrets, ["DB_PASSWORD", "FLAG"]);
    let udp = &app.port_mappings()[1];
    assert_eq!(udp.protocol(), Some(&ecs::TransportProtocol::Udp));
    assert_eq!(udp.host_port(), Some(5353));
    assert_eq!(
        app.port_mappings()[0].app_protocol(),
        Some(&ecs::ApplicationProtocol::Http2)
    );
    let log = app.log_configuration().unwrap();
    assert_eq!(log.log_driver(), &ecs::LogDriver::Splunk);
    assert!(!log.options().unwrap().contains_key("awslogs-region"));
    assert_eq!(log.secret_options()[0].value_from(), SPLUNK_SECRET);
    let dep = &app.depends_on()[0];
    assert_eq!(dep.container_name(), "sidecar");
    assert_eq!(dep.condition(), &ecs::ContainerCondition::Healthy);
    assert_eq!(app.user(), Some("1000:1000"));
    assert_eq!(
        (app.cpu(), app.memory(), app.memory_reservation()),
        (512, Some(1024), Some(512))
    );
    let mount = &app.mount_points()[0];
    assert_eq!(
        (
            mount.source_volume(),
            mount.container_path(),
            mount.read_only()
        ),
        (Some("data"), Some("/data"), Some(true))
    );
    assert_eq!(r.container_definitions[1].essential(), Some(false));

    let efs = r.volumes[0].efs_volume_configuration().expect("efs");
    assert_eq!(efs.file_system_id(), "fs-0123456789abcdef0");
    assert_eq!(efs.root_directory(), Some("/"));
    assert_eq!(
        efs.transit_encryption(),
        Some(&ecs::EfsTransitEncryption::Enabled)
    );
    assert_eq!(
        efs.authorization_config().and_then(|a| a.access_point_id()),
        Some("fsap-0123456789abcdef0")
    );
    assert_eq!(r.volumes[1].name(), Some("scratch"));
    assert!(r.volumes[1].efs_volume_configuration().is_none());
}

#[test]
fn bridge_mode_leaves_host_port_dynamic() {
    let mut s = spec(RICH);
    s.network_mode = NetworkMode::Bridge;
    s.requires_compatibilities = vec![crate::api::task_definition::Compatibility::Ec2];
    let r = render(&s);
    assert_eq!(r.network_mode, ecs::NetworkMode::Bridge);
    assert_eq!(
        r.container_definitions[0].port_mappings()[1].host_port(),
        None
    );
}

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

#[test]
fn tags_carry_berth_identity_but_not_into_the_hash() {
    let s = spec(EXAMPLE);
    let versions = BTreeMap::new();
    let team = |name: &str| BTreeMap::from([("team".to_string(), name.to_string())]);
    let r = render_with(&s, &team("orders"), &versions);
    assert_eq!(r.tag("team"), Some("orders"));
    assert_eq!(r.tag(TAG_OWNER), Some("shop/api"));
    assert_eq!(r.tag(TAG_UID), Some("0b9c1a4e-0000-4000-8000-000000000001"));
    assert_eq!(r.tag(TAG_HASH), Some(r.hash.as_str()));
    assert_eq!(r.tags.len(), 4);
    let keys: Vec<_> = r.tags.iter().filter_map(|t| t.key()).collect();
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "tags sorted: {keys:?}"
    );

    assert_eq!(r.hash, render_with(&s, &team("payments"), &versions).hash);
    assert_eq!(r.hash, hash(&s));

    let spoofed = BTreeMap::from([(TAG_HASH.to_string(), "0000".to_string())]);
    let r = render_with(&s, &spoofed, &versions);
    assert_eq!(r.tag(TAG_HASH), Some(r.hash.as_str()));
}

#[test]
fn apply_sets_every_field_on_the_request() {
    use aws_sdk_ecs::config::{BehaviorVersion, Region};

    let r = render(&spec(RICH));
    // Building a request performs no I/O; only send() would.
    let client = aws_sdk_ecs::Client::from_conf(
        aws_sdk_ecs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build(),
    );
    let builder = r.apply(client.register_task_definition());
    let req = builder.as_input();
    assert_eq!(req.get_family().as_deref(), Some(r.family.as_str()));
    assert_eq!(req.get_cpu(), &r.cpu);
    assert_eq!(req.get_memory(), &r.memory);
    assert_eq!(req.get_network_mode().as_ref(), Some(&r.network_mode));
    assert_eq!(
        req.get_requires_compatibilities().as_ref(),
        Some(&r.requires_compatibilities)
    );
    assert_eq!(req.get_execution_role_arn(), &r.execution_role_arn);
    assert_eq!(req.get_task_role_arn(), &r.task_role_arn);
    assert_eq!(req.get_runtime_platform(), &r.runtime_platform);
    assert_eq!(
        req.get_container_definitions().as_ref(),
        Some(&r.container_definitions)
    );
    assert_eq!(req.get_volumes().as_ref(), Some(&r.volumes));
    assert_eq!(req.get_tags().as_ref(), Some(&r.tags));
}

#[test]
fn secret_arns_are_base_arns_without_ssm() {
    assert_eq!(secret_arns(&spec(RICH)), [DB_SECRET, SPLUNK_SECRET]);
    assert_eq!(secret_arns(&spec(EXAMPLE)), [STRIPE_SECRET]);

    let mut s = spec(RICH);
    s.containers[1].secrets = vec![
        ContainerSecret {
            name: "USER".into(),
            value_from: format!("{DB_SECRET}:username:AWSCURRENT:"),
        },
        ContainerSecret {
            name: "PASS".into(),
            value_from: format!("{DB_SECRET}:password::0c9d"),
        },
    ];
    assert_eq!(secret_arns(&s), [DB_SECRET, SPLUNK_SECRET], "deduplicated");

    assert_eq!(
        secrets_manager_base_arn(&format!("{DB_SECRET}:password::")).as_deref(),
        Some(DB_SECRET)
    );
    assert_eq!(
        secrets_manager_base_arn("arn:aws:ssm:eu-west-1:123456789012:parameter/app/flag"),
        None
    );
    assert_eq!(secrets_manager_base_arn("db-AbCdEf"), None);
    assert_eq!(
        secrets_manager_base_arn("arn:aws:secretsmanager:eu-west-1:123456789012:secret:"),
        None
    );
}
