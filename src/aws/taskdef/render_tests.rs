//! Tests of the task definition rendering and the request it becomes
//! (the hash's own tests are `hash_tests.rs`).
use super::*;

/// The `taskDefinition` of examples/api.yaml.
pub(super) const EXAMPLE: &str = r#"
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
pub(super) const RICH: &str = r#"
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

pub(super) const DB_SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf";
pub(super) const SPLUNK_SECRET: &str =
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:splunk-XyZ123";
pub(super) const STRIPE_SECRET: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/stripe-api-key-AbCdEf";

pub(super) fn spec(yaml: &str) -> TaskDefinitionSpec {
    serde_yaml::from_str(yaml).expect("fixture parses")
}

pub(super) fn render_with(
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

pub(super) fn render(spec: &TaskDefinitionSpec) -> RenderedTaskDefinition {
    render_with(spec, &BTreeMap::new(), &BTreeMap::new())
}

pub(super) fn hash(spec: &TaskDefinitionSpec) -> String {
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
