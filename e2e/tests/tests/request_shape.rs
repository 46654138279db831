//! Every request berth can send obeys AWS's documented request rules: the
//! same rule tables awsim enforces (`e2e/awsim/src/rules/`) check the
//! requests berth builds from the example manifests, the valid fixtures and
//! edge-case specs (longest names, most tags, most containers, every
//! optional block). The requests are captured by a local endpoint that
//! answers each operation with a minimal valid response, so every code path
//! that builds a request runs, including the follow-up calls.
//! No Kubernetes cluster is needed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use berth::api::{EcsService, MigrationJob};
use berth::aws::cloudmap;
use berth::aws::ecs::{service_tags as tags, services as act, tasks};
use berth::aws::taskdef as render;
use berth::aws::Clients;
use berth::controller::migration_job as mj;
use berth_e2e::workspace_root;

#[path = "shape/rds_ecr.rs"]
mod rds_ecr;
#[path = "shape/recorder.rs"]
mod recorder;

use recorder::{clients, start, Recorder};
use serde_json::{json, Value};

const ACCOUNT: &str = "123456789012";

fn task_arn(cluster: &str) -> String {
    format!("arn:aws:ecs:us-east-1:{ACCOUNT}:task/{cluster}/0123456789abcdef0123456789abcdef")
}

/// Responses that let each code path go on to its follow-up calls.
fn responses(
    cluster: &str,
    family: &str,
    cloud_map_service: Option<&str>,
) -> BTreeMap<String, Value> {
    let td = format!("arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{family}:3");
    let task = json!({
        "taskArn": task_arn(cluster),
        "lastStatus": "STOPPED",
        "stopCode": "EssentialContainerExited",
        "containers": [{"name": "c", "exitCode": 1}],
        "tags": [{"key": "berth.dev/attempt", "value": "1"}],
    });
    let mut r = BTreeMap::new();
    r.insert(
        "ecs:RegisterTaskDefinition".into(),
        json!({"taskDefinition": {"taskDefinitionArn": td, "revision": 3}}),
    );
    r.insert(
        "ecs:ListTaskDefinitions".into(),
        json!({"taskDefinitionArns": [td]}),
    );
    r.insert(
        "ecs:DescribeTaskDefinition".into(),
        json!({"taskDefinition": {"taskDefinitionArn": td, "revision": 3}, "tags": []}),
    );
    r.insert(
        "ecs:ListTasks".into(),
        json!({"taskArns": [task_arn(cluster)]}),
    );
    r.insert("ecs:DescribeTasks".into(), json!({"tasks": [task.clone()]}));
    r.insert(
        "ecs:DescribeServiceDeployments".into(),
        json!({"serviceDeployments": [], "failures": []}),
    );
    r.insert("ecs:StopServiceDeployment".into(), json!({}));
    r.insert("ecs:ContinueServiceDeployment".into(), json!({}));
    r.insert("ecs:RunTask".into(), json!({"tasks": [task]}));
    r.insert(
        "secretsmanager:DescribeSecret".into(),
        json!({"VersionIdsToStages": {"v1": ["AWSCURRENT"]}}),
    );
    r.insert(
        "servicediscovery:ListNamespaces".into(),
        json!({"Namespaces": [{"Id": "ns-0123456789abcdef", "Name": "shop.internal"}]}),
    );
    let services = match cloud_map_service {
        Some(name) => json!([{
            "Id": "srv-0123456789abcdef",
            "Arn": format!("arn:aws:servicediscovery:us-east-1:{ACCOUNT}:service/srv-0123456789abcdef"),
            "Name": name,
        }]),
        None => json!([]),
    };
    r.insert(
        "servicediscovery:ListServices".into(),
        json!({"Services": services}),
    );
    r.insert(
        "servicediscovery:CreateService".into(),
        json!({"Service": {
            "Id": "srv-0123456789abcdef",
            "Arn": format!("arn:aws:servicediscovery:us-east-1:{ACCOUNT}:service/srv-0123456789abcdef"),
        }}),
    );
    r.insert(
        "servicediscovery:ListTagsForResource".into(),
        json!({"Tags": []}),
    );
    r
}

fn yaml_docs(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| serde::Deserialize::deserialize(d).ok())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// Every manifest of `kind` among the examples and the valid fixtures.
fn manifests(kind: &str, fixture_dir: &str) -> Vec<(String, Value)> {
    let root = workspace_root();
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(root.join("examples"))
        .unwrap()
        .chain(
            std::fs::read_dir(root.join("tests/fixtures").join(fixture_dir).join("valid")).unwrap(),
        )
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .flat_map(|p| {
            yaml_docs(p)
                .into_iter()
                .map(move |d| (p.display().to_string(), d))
        })
        .filter(|(_, d)| d["kind"] == kind)
        .collect()
}

fn with_identity(mut v: Value, name_default: &str) -> Value {
    let meta = v["metadata"].as_object_mut().unwrap();
    meta.entry("namespace").or_insert(json!("shop"));
    meta.entry("name").or_insert(json!(name_default));
    meta.insert("uid".into(), json!("0b6a1f3e-6a4f-4d2b-9c1e-2f6f0a1b2c3d"));
    meta.insert("generation".into(), json!(1));
    v
}

/// The longest and fullest EcsService the CRD and berth's validation accept.
fn edge_service() -> Value {
    let name = |c: char, n: usize| c.to_string().repeat(n);
    let containers: Vec<Value> = (0..10)
        .map(|i| {
            json!({
                "name": format!("{}{i}", name('c', 254)),
                "image": format!("{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/shop/app:{}", name('t', 120)),
                "essential": i == 0,
                "command": ["serve", "--port", "8080"],
                "entryPoint": ["/bin/app"],
                "environment": [{"name": name('E', 255), "value": name('v', 500)}],
                "secrets": [{"name": "DB", "valueFrom": format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:shop/db-AbCdEf")}],
                "portMappings": [{"containerPort": 8080 + i, "name": format!("p{i}"), "appProtocol": "http"}],
                "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 300, "timeout": 60, "retries": 10, "startPeriod": 300},
                "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/shop/app", "awslogs-stream-prefix": "app"}},
                "readonlyRootFilesystem": true,
                "user": "1000",
                "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
            })
        })
        .collect();
    let tag_count = 47;
    let tags: serde_json::Map<String, Value> = (0..tag_count)
        .map(|i| (format!("{i:02}{}", name('k', 126)), json!(name('v', 256))))
        .collect();
    with_identity(
        json!({
            "apiVersion": "berth.dev/v1alpha1",
            "kind": "EcsService",
            "metadata": {"name": name('a', 63)},
            "spec": {
                "cluster": name('C', 255),
                "serviceName": name('s', 255),
                "desiredCount": 2,
                "launchType": "FARGATE",
                "platformVersion": "1.4.0",
                "taskDefinition": {
                    "family": name('f', 255),
                    "cpu": 16384,
                    "memory": 122880,
                    "networkMode": "awsvpc",
                    "requiresCompatibilities": ["FARGATE"],
                    "executionRoleArn": format!("arn:aws:iam::{ACCOUNT}:role/exec"),
                    "taskRoleArn": format!("arn:aws:iam::{ACCOUNT}:role/task"),
                    "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
                    "containers": containers,
                },
                "networkConfiguration": {
                    "subnets": (0..16).map(|i| format!("subnet-0a1b2c3d4e5f6{i:04}")).collect::<Vec<_>>(),
                    "securityGroups": (0..5).map(|i| format!("sg-0a1b2c3d4e5f6{i:04}")).collect::<Vec<_>>(),
                    "assignPublicIp": true,
                },
                "loadBalancers": [{
                    "targetGroupArn": format!("arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/app/0123456789abcdef"),
                    "containerName": format!("{}0", name('c', 254)),
                    "containerPort": 8080,
                }],
                "healthCheckGracePeriodSeconds": 300,
                "deployment": {"minimumHealthyPercent": 100, "maximumPercent": 200,
                               "circuitBreaker": {"enable": true, "rollback": true},
                               "progressDeadlineSeconds": 600},
                "serviceDiscovery": {"namespaceName": "shop.internal", "serviceName": name('d', 63),
                                     "dnsRecordType": "A", "dnsTtl": 60},
                "tags": tags,
                "revisionHistoryLimit": 100,
                "enableExecuteCommand": true,
            },
        }),
        "edge",
    )
}

/// Drives every EcsService code path that sends a request.
async fn service_requests(clients: &Arc<Clients>, rec: &Recorder, svc: &EcsService) {
    let spec = &svc.spec;
    let family = svc.family();
    *rec.responses.lock().unwrap() = responses(&spec.cluster, &family, None);
    let owner = format!("shop/{}", svc.metadata.name.as_deref().unwrap());
    let uid = svc.metadata.uid.clone().unwrap();

    let arns = render::secret_arns(&spec.task_definition);
    let versions = berth::aws::secrets::secret_versions(clients, &arns)
        .await
        .unwrap();
    let rendered = render::register_request(&render::RenderInput {
        spec: &spec.task_definition,
        family: family.clone(),
        region: "us-east-1".into(),
        owner: owner.clone(),
        uid: uid.clone(),
        user_tags: &spec.tags,
        secret_versions: &versions,
    });
    let (td, _) = rendered.register(clients, None).await.unwrap();
    render::latest_with_hash(clients, &family, &rendered.hash)
        .await
        .unwrap();
    render::owned_revisions(clients, &family, &owner)
        .await
        .unwrap();
    clients
        .batches
        .services
        .get(clients, &spec.cluster, &svc.service_name())
        .await
        .unwrap();
    act::stopped_tasks(clients, &spec.cluster, &svc.service_name(), 5)
        .await
        .unwrap();
    // The rollout's service deployment: described (batched), rolled back
    // (berth.dev/rollback), its PAUSE hook answered (PostTestTraffic).
    let deployment = format!(
        "arn:aws:ecs:us-east-1:{ACCOUNT}:service-deployment/{}/{}/0a1b2c3d",
        spec.cluster,
        svc.service_name()
    );
    clients
        .batches
        .service_deployments
        .get(clients, &spec.cluster, &deployment)
        .await
        .unwrap();
    berth::aws::ecs::deployments::roll_back(clients, &deployment)
        .await
        .unwrap();
    berth::aws::ecs::deployments::continue_hook(clients, &deployment, "ecs-pause-0a1b2c3d", false)
        .await
        .unwrap();
    let registry = match &spec.service_discovery {
        Some(sd) => {
            let sd_name = sd
                .service_name
                .clone()
                .unwrap_or_else(|| svc.service_name());
            let (ns, found) = cloudmap::find_service(clients, sd, &sd_name).await.unwrap();
            let arn = match found {
                Some((arn, _)) => arn,
                None => cloudmap::create_service(clients, sd, &ns, &sd_name, &owner, &uid)
                    .await
                    .unwrap(),
            };
            // The adoption path: the service exists without berth's tags.
            *rec.responses.lock().unwrap() = responses(&spec.cluster, &family, Some(&sd_name));
            let (_, found) = cloudmap::find_service(clients, sd, &sd_name).await.unwrap();
            let (adopted, _) = found.expect("the Cloud Map service exists");
            cloudmap::adopt_service(clients, &adopted, &owner, &uid)
                .await
                .unwrap();
            cloudmap::created_by(clients, &arn, &owner).await.unwrap();
            cloudmap::delete_service(clients, &arn).await.unwrap();
            Some(arn)
        }
        None => None,
    };
    let registries = act::wanted_registries(svc, registry.as_deref());
    let count = (svc.spec.desired_count)
        .unwrap_or(berth::controller::ecs_service::plan::INITIAL_DESIRED_COUNT);
    act::create_service(clients, svc, &td, count, &registries, false)
        .await
        .unwrap();
    let every_field = act::ServiceUpdate {
        task_definition: Some(td.clone()),
        rollback: false,
        desired_count: spec.desired_count.or(Some(1)),
        deployment: Some(spec.deployment.clone()),
        pause_post_test: false,
        network: spec.network_configuration.clone(),
        registries: Some(act::wanted_registries(svc, registry.as_deref())),
        load_balancers: Some(spec.load_balancers.clone()),
        health_check_grace_period_seconds: spec.health_check_grace_period_seconds,
        enable_execute_command: Some(spec.enable_execute_command),
        platform_version: spec.platform_version.clone(),
        capacity_provider_strategy: Some(spec.capacity_provider_strategy.clone())
            .filter(|c| !c.is_empty()),
        force_new_deployment: true,
    };
    act::update_service(clients, svc, &every_field)
        .await
        .unwrap();
    let rollback = act::ServiceUpdate {
        task_definition: Some(td.clone()),
        rollback: true,
        ..Default::default()
    };
    act::update_service(clients, svc, &rollback).await.unwrap();
    let service_arn = format!(
        "arn:aws:ecs:us-east-1:{ACCOUNT}:service/{}/{}",
        spec.cluster,
        svc.service_name()
    );
    let change = tags::TagChange {
        set: tags::wanted(svc),
        remove: vec!["stale".into()],
    };
    act::set_tags(clients, &service_arn, &change).await.unwrap();
    act::delete_service(clients, svc).await.unwrap();
    act::deregister(clients, &td).await.unwrap();
}

/// Drives every MigrationJob code path that sends a request.
async fn job_requests(
    clients: &Arc<Clients>,
    rec: &Recorder,
    job: &MigrationJob,
    svc: &EcsService,
) {
    let mut svc = svc.clone();
    let family = svc.family();
    let st = svc.status.get_or_insert_with(Default::default);
    st.task_definition_arn = Some(format!(
        "arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{family}:3"
    ));
    st.spec_hash = Some("0123456789abcdef".into());
    st.conditions = berth::api::conditions::merge(
        &[],
        &[berth::api::conditions::Desired::new(
            berth::api::conditions::READY,
            true,
            berth::api::conditions::Reason::RolloutComplete,
            "revision 3 is running",
        )],
        Some(1),
        k8s_openapi::jiff::Timestamp::now(),
    );
    let target = mj::plan::resolve(job, Some(&svc)).unwrap();
    *rec.responses.lock().unwrap() = responses(&target.cluster, &target.family, None);
    let owner = format!("shop/{}", job.metadata.name.as_deref().unwrap());
    let uid = job.metadata.uid.clone().unwrap();
    let run_hash = mj::plan::run_hash(job, &owner, target.service_hash.as_deref());
    // As the MigrationJob reconciler does: its own revision by its hash
    // tag, else registered.
    let td = match tasks::task_definition(clients, &target, &owner, &uid) {
        tasks::ToRun::Revision(arn) => arn,
        tasks::ToRun::Rendered(rendered) => {
            match berth::aws::taskdef::latest_with_hash(clients, &rendered.family, &rendered.hash)
                .await
                .unwrap()
            {
                Some((arn, _)) => arn,
                None => rendered.register(clients, None).await.unwrap().0,
            }
        }
    };
    let started_by = mj::plan::started_by(&run_hash);
    tasks::run_tasks(clients, &target.cluster, &started_by, &target.container)
        .await
        .unwrap();
    let environment = vec![berth::api::common::EnvVar {
        name: "DB_HOST".into(),
        value: "orders-db.proxy-abc.us-east-1.rds.amazonaws.com".into(),
    }];
    tasks::run_task(
        clients,
        &tasks::RunRequest {
            target: &target,
            task_definition: &td,
            run_hash: &run_hash,
            attempt: 3,
            owner: &owner,
            uid: &uid,
            command: &job.spec.command,
            environment: &environment,
        },
    )
    .await
    .unwrap();
    tasks::task(
        clients,
        &target.cluster,
        &task_arn(&target.cluster),
        &target.container,
    )
    .await
    .unwrap();
    tasks::stop_task(
        clients,
        &task_arn(&target.cluster),
        "berth: activeDeadlineSeconds exceeded",
    )
    .await
    .unwrap();
    berth::aws::logs::log_tail(clients, "/shop/api", "api/api/0123456789abcdef", 20).await;
}

/// `service:Op` of every SDK operation berth's source calls
/// (`clients.ecs.create_service()` and the like).
fn operations_in_source() -> BTreeSet<String> {
    let mut ops = BTreeSet::new();
    let services = [
        ("ecs", "ecs"),
        ("ecr", "ecr"),
        ("rds", "rds"),
        ("cloudmap", "servicediscovery"),
        ("secrets", "secretsmanager"),
        ("logs", "logs"),
    ];
    let mut stack = vec![workspace_root().join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text: String = std::fs::read_to_string(&path)
                .unwrap()
                .split_whitespace()
                .collect();
            for (field, service) in services {
                let needle = format!("clients.{field}.");
                let mut rest = text.as_str();
                while let Some(i) = rest.find(&needle) {
                    rest = &rest[i + needle.len()..];
                    let op: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect();
                    if rest[op.len()..].starts_with("()") && !op.is_empty() {
                        let camel: String = op
                            .split('_')
                            .map(|w| {
                                let mut c = w.chars();
                                c.next()
                                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                                    .unwrap_or_default()
                            })
                            .collect();
                        ops.insert(format!("{service}:{camel}"));
                    }
                }
            }
        }
    }
    ops
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_berth_builds_obeys_the_aws_rules() {
    let (rec, addr) = start().await;
    let clients = clients(addr);

    let mut services: Vec<(String, EcsService)> = manifests("EcsService", "ecs-service")
        .into_iter()
        .map(|(from, v)| {
            (
                from,
                serde_json::from_value(with_identity(v, "svc")).unwrap(),
            )
        })
        .collect();
    services.push((
        "edge".into(),
        serde_json::from_value(edge_service()).unwrap(),
    ));
    for (from, svc) in &services {
        svc.spec
            .validate()
            .unwrap_or_else(|e| panic!("{from}: a valid spec: {e}"));
        service_requests(&clients, &rec, svc).await;
    }

    let example: EcsService = services
        .iter()
        .find(|(from, _)| from.ends_with("examples/api.yaml"))
        .unwrap()
        .1
        .clone();
    let edge = services.last().unwrap().1.clone();
    for (from, v) in manifests("MigrationJob", "migration-job") {
        let job: MigrationJob = serde_json::from_value(with_identity(v, "job")).unwrap();
        job.spec
            .validate()
            .unwrap_or_else(|e| panic!("{from}: a valid spec: {e}"));
        for svc in [&example, &edge] {
            let mut job = job.clone();
            if let Some(r) = job.spec.service_ref.as_mut() {
                r.name = svc.metadata.name.clone().unwrap();
            }
            job_requests(&clients, &rec, &job, svc).await;
        }
    }

    *rec.responses.lock().unwrap() = BTreeMap::new();
    for (from, v) in manifests("AuroraCluster", "aurora-cluster") {
        let db: berth::api::AuroraCluster = serde_json::from_value(with_identity(v, "db")).unwrap();
        db.validate()
            .unwrap_or_else(|e| panic!("{from}: a valid spec: {e}"));
        rds_ecr::aurora_requests(&clients, &db).await;
    }
    for (from, v) in manifests("PullThroughCache", "pull-through-cache") {
        let rule: berth::api::PullThroughCache =
            serde_json::from_value(with_identity(v, "cache")).unwrap();
        rule.spec
            .validate()
            .unwrap_or_else(|e| panic!("{from}: a valid spec: {e}"));
        rds_ecr::ptc_requests(&clients, &rule).await;
    }

    let requests = rec.requests.lock().unwrap().clone();
    let mut problems = Vec::new();
    for r in &requests {
        if let Err(e) = recorder::check(r) {
            problems.push(format!("{}:{}: {} {}", r.service, r.op, e.code, e.message));
        }
    }
    problems.dedup();
    assert!(
        problems.is_empty(),
        "requests AWS would reject:\n{}",
        problems.join("\n")
    );

    let sent: BTreeSet<String> = requests
        .iter()
        .map(|r| format!("{}:{}", r.service, r.op))
        .collect();
    let called = operations_in_source();
    assert!(
        called.len() >= 20,
        "the source scan found too few calls: {called:?}"
    );
    // SDK method names lose the capitals of acronyms (create_db_cluster).
    let sent_lower: BTreeSet<String> = sent.iter().map(|o| o.to_lowercase()).collect();
    let missing: Vec<&String> = called
        .iter()
        .filter(|o| !sent_lower.contains(&o.to_lowercase()))
        .collect();
    assert!(
        missing.is_empty(),
        "operations berth calls that no request-shape test sends: {missing:?}"
    );
    for op in &sent {
        let (service, action) = op.split_once(':').unwrap();
        assert!(
            awsim::rules::covered_operations(service).contains(&action),
            "{op} has no rule table in awsim"
        );
    }
}
