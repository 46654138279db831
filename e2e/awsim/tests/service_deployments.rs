//! Service deployments and revisions through the real aws-sdk-ecs client:
//! records of every deployment, the circuit breaker's rollback in the
//! record, BLUE_GREEN with a PAUSE hook (ContinueServiceDeployment),
//! LINEAR and CANARY steps, alarm rollbacks and StopServiceDeployment.

mod common;

use std::time::Duration;

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{
    AdvancedConfiguration, AssignPublicIp, AwsVpcConfiguration, CanaryConfiguration, Compatibility,
    ContainerDefinition, CreatedAt, DeploymentAlarms, DeploymentCircuitBreaker,
    DeploymentConfiguration, DeploymentLifecycleHook, DeploymentLifecycleHookAction,
    DeploymentLifecycleHookStage, DeploymentLifecycleHookTargetType,
    DeploymentLifecycleHookTimeoutConfiguration, DeploymentStrategy, LaunchType,
    LinearConfiguration, LoadBalancer, NetworkConfiguration, NetworkMode, PortMapping,
    ServiceDeployment, ServiceDeploymentStatus, StopServiceDeploymentStopType,
};
use aws_sdk_ecs::Client;
use common::{control, ecs, start_fast, wait_for};

const CLUSTER: &str = "prod";
const TG_BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/blue/1";
const TG_GREEN: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/green/2";

fn network() -> NetworkConfiguration {
    NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .subnets("subnet-a")
                .assign_public_ip(AssignPublicIp::Disabled)
                .build()
                .unwrap(),
        )
        .build()
}

fn load_balancer() -> LoadBalancer {
    LoadBalancer::builder()
        .target_group_arn(TG_BLUE)
        .container_name("web")
        .container_port(80)
        .advanced_configuration(
            AdvancedConfiguration::builder()
                .alternate_target_group_arn(TG_GREEN)
                .production_listener_rule("arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/web/1/2/3")
                .test_listener_rule("arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/web/1/2/4")
                .role_arn("arn:aws:iam::000000000000:role/ecsInfrastructureRole")
                .build(),
        )
        .build()
}

async fn register(ecs: &Client, image: &str) -> String {
    let c = ContainerDefinition::builder()
        .name("web")
        .image(image)
        .port_mappings(PortMapping::builder().container_port(80).build())
        .build();
    ecs.register_task_definition()
        .family("web")
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .container_definitions(c)
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap()
}

async fn setup() -> (awsim::Handle, Client) {
    let h = start_fast().await;
    let client = ecs(&h);
    client
        .create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .unwrap();
    (h, client)
}

async fn create(ecs: &Client, name: &str, td: &str, dc: DeploymentConfiguration, lb: bool) {
    ecs.create_service()
        .cluster(CLUSTER)
        .service_name(name)
        .task_definition(td)
        .desired_count(2)
        .launch_type(LaunchType::Fargate)
        .network_configuration(network())
        .set_load_balancers(lb.then(|| vec![load_balancer()]))
        .deployment_configuration(dc)
        .send()
        .await
        .unwrap();
}

async fn update(ecs: &Client, name: &str, td: &str) {
    ecs.update_service()
        .cluster(CLUSTER)
        .service(name)
        .task_definition(td)
        .send()
        .await
        .unwrap();
}

async fn current_arn(ecs: &Client, name: &str) -> String {
    let s = ecs
        .describe_services()
        .cluster(CLUSTER)
        .services(name)
        .send()
        .await
        .unwrap();
    s.services()[0]
        .current_service_deployment()
        .unwrap()
        .to_string()
}

async fn record(ecs: &Client, arn: &str) -> ServiceDeployment {
    ecs.describe_service_deployments()
        .service_deployment_arns(arn)
        .send()
        .await
        .unwrap()
        .service_deployments()[0]
        .clone()
}

async fn wait_status(
    ecs: &Client,
    arn: &str,
    status: ServiceDeploymentStatus,
) -> ServiceDeployment {
    wait_for(&format!("{status:?}"), Duration::from_secs(20), || async {
        let r = record(ecs, arn).await;
        (r.status() == Some(&status)).then_some(r)
    })
    .await
}

async fn wait_stage(ecs: &Client, arn: &str, stage: &str) -> ServiceDeployment {
    wait_for(stage, Duration::from_secs(20), || async {
        let r = record(ecs, arn).await;
        (r.lifecycle_stage().map(|s| s.as_str()) == Some(stage)).then_some(r)
    })
    .await
}

/// Running tasks of the service: (task ARN, task definition ARN).
async fn running(ecs: &Client, name: &str) -> Vec<(String, String)> {
    let arns = ecs
        .list_tasks()
        .cluster(CLUSTER)
        .service_name(name)
        .send()
        .await
        .unwrap()
        .task_arns()
        .to_vec();
    if arns.is_empty() {
        return vec![];
    }
    let tasks = ecs
        .describe_tasks()
        .cluster(CLUSTER)
        .set_tasks(Some(arns))
        .send()
        .await
        .unwrap();
    tasks
        .tasks()
        .iter()
        .filter(|t| t.last_status() == Some("RUNNING"))
        .map(|t| {
            (
                t.task_arn().unwrap().to_string(),
                t.task_definition_arn().unwrap().to_string(),
            )
        })
        .collect()
}

fn rolling(circuit_breaker: bool) -> DeploymentConfiguration {
    DeploymentConfiguration::builder()
        .minimum_healthy_percent(50)
        .maximum_percent(200)
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(circuit_breaker)
                .rollback(circuit_breaker)
                .build(),
        )
        .build()
}

fn pause_hook(stage: DeploymentLifecycleHookStage) -> DeploymentLifecycleHook {
    DeploymentLifecycleHook::builder()
        .target_type(DeploymentLifecycleHookTargetType::Pause)
        .lifecycle_stages(stage)
        .timeout_configuration(
            DeploymentLifecycleHookTimeoutConfiguration::builder()
                .timeout_in_minutes(60)
                .action(DeploymentLifecycleHookAction::Rollback)
                .build(),
        )
        .build()
}

fn blue_green(hook: Option<DeploymentLifecycleHook>) -> DeploymentConfiguration {
    DeploymentConfiguration::builder()
        .strategy(DeploymentStrategy::BlueGreen)
        .bake_time_in_minutes(1)
        .set_lifecycle_hooks(hook.map(|h| vec![h]))
        .build()
}

#[tokio::test]
async fn records_are_created_listed_and_described_in_batches() {
    let (_h, ecs) = setup().await;
    let v1 = register(&ecs, "nginx:1.27").await;
    let v2 = register(&ecs, "nginx:1.28").await;
    create(&ecs, "api", &v1, rolling(false), false).await;
    let first = current_arn(&ecs, "api").await;
    assert!(first.starts_with("arn:aws:ecs:us-east-1:000000000000:service-deployment/prod/api/"));
    wait_status(&ecs, &first, ServiceDeploymentStatus::Successful).await;
    update(&ecs, "api", &v2).await;
    let second = current_arn(&ecs, "api").await;
    assert_ne!(first, second);
    let done = wait_status(&ecs, &second, ServiceDeploymentStatus::Successful).await;
    assert!(done.finished_at().is_some() && done.started_at().is_some());

    // A scale-only update starts no deployment.
    ecs.update_service()
        .cluster(CLUSTER)
        .service("api")
        .desired_count(3)
        .send()
        .await
        .unwrap();
    assert_eq!(current_arn(&ecs, "api").await, second);

    let missing = format!("{}-nope", second);
    let out = ecs
        .describe_service_deployments()
        .service_deployment_arns(&first)
        .service_deployment_arns(&second)
        .service_deployment_arns(&missing)
        .send()
        .await
        .unwrap();
    assert_eq!(out.service_deployments().len(), 2);
    assert_eq!(out.failures().len(), 1);
    assert_eq!(out.failures()[0].arn(), Some(missing.as_str()));
    assert_eq!(out.failures()[0].reason(), Some("MISSING"));
    let (a, b) = (&out.service_deployments()[0], &out.service_deployments()[1]);
    assert!(a.source_service_revisions().is_empty());
    let a_target = a.target_service_revision().unwrap().arn().unwrap();
    assert!(a_target.contains(":service-revision/prod/api/"));
    assert_eq!(b.source_service_revisions()[0].arn(), Some(a_target));
    let b_target = b.target_service_revision().unwrap().arn().unwrap();
    let cb = b.deployment_circuit_breaker().unwrap();
    assert_eq!(cb.status().unwrap().as_str(), "DISABLED");

    let revs = ecs
        .describe_service_revisions()
        .service_revision_arns(a_target)
        .service_revision_arns(b_target)
        .send()
        .await
        .unwrap();
    let tds: Vec<&str> = revs
        .service_revisions()
        .iter()
        .map(|r| r.task_definition().unwrap())
        .collect();
    assert_eq!(tds, vec![v1.as_str(), v2.as_str()]);
    assert_eq!(
        revs.service_revisions()[1].container_images()[0].image(),
        Some("nginx:1.28")
    );

    let svc = ecs
        .describe_services()
        .cluster(CLUSTER)
        .services("api")
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone();
    assert_eq!(svc.current_service_revisions()[0].arn(), Some(b_target));

    let list = ecs
        .list_service_deployments()
        .cluster(CLUSTER)
        .service("api")
        .send()
        .await
        .unwrap();
    let arns: Vec<&str> = list
        .service_deployments()
        .iter()
        .map(|d| d.service_deployment_arn().unwrap())
        .collect();
    assert_eq!(arns, vec![second.as_str(), first.as_str()]);
    let page = ecs
        .list_service_deployments()
        .cluster(CLUSTER)
        .service("api")
        .max_results(1)
        .send()
        .await
        .unwrap();
    assert_eq!(page.service_deployments().len(), 1);
    let rest = ecs
        .list_service_deployments()
        .cluster(CLUSTER)
        .service("api")
        .next_token(page.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        rest.service_deployments()[0].service_deployment_arn(),
        Some(first.as_str())
    );
    let none = ecs
        .list_service_deployments()
        .cluster(CLUSTER)
        .service("api")
        .status(ServiceDeploymentStatus::InProgress)
        .send()
        .await
        .unwrap();
    assert!(none.service_deployments().is_empty());
    let after_first = *b.created_at().unwrap();
    let newer = ecs
        .list_service_deployments()
        .cluster(CLUSTER)
        .service("api")
        .created_at(CreatedAt::builder().after(after_first).build())
        .send()
        .await
        .unwrap();
    assert_eq!(newer.service_deployments().len(), 1);

    let err = ecs
        .describe_service_deployments()
        .set_service_deployment_arns(Some(vec![first.clone(); 21]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterException"));
    let err = ecs
        .list_service_deployments()
        .cluster(CLUSTER)
        .service("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ServiceNotFoundException"));
}

#[tokio::test]
async fn circuit_breaker_rollback_shows_in_the_record() {
    let (_h, ecs) = setup().await;
    let good = register(&ecs, "nginx:1.27").await;
    let bad = register(&ecs, "ghcr.io/acme/web:unhealthy").await;
    create(&ecs, "api", &good, rolling(true), false).await;
    let first = current_arn(&ecs, "api").await;
    wait_status(&ecs, &first, ServiceDeploymentStatus::Successful).await;
    update(&ecs, "api", &bad).await;
    let arn = current_arn(&ecs, "api").await;
    let r = wait_status(&ecs, &arn, ServiceDeploymentStatus::RollbackSuccessful).await;
    let cb = r.deployment_circuit_breaker().unwrap();
    assert_eq!(cb.status().unwrap().as_str(), "TRIGGERED");
    assert_eq!(cb.threshold(), 3);
    assert!(cb.failure_count() >= 3, "{cb:?}");
    let rollback = r.rollback().unwrap();
    assert!(rollback.reason().unwrap().contains("circuit breaker"));
    let source = r.source_service_revisions()[0].arn().unwrap();
    assert_eq!(rollback.service_revision_arn(), Some(source));
    assert!(rollback.started_at().is_some());
    assert!(r.finished_at().is_some());
}

#[tokio::test]
async fn blue_green_pauses_at_post_test_traffic_shift_then_continues() {
    let (_h, ecs) = setup().await;
    let v1 = register(&ecs, "nginx:1.27").await;
    let v2 = register(&ecs, "nginx:1.28").await;
    let hook = pause_hook(DeploymentLifecycleHookStage::PostTestTrafficShift);
    create(&ecs, "web", &v1, blue_green(Some(hook)), true).await;
    let first = current_arn(&ecs, "web").await;
    wait_status(&ecs, &first, ServiceDeploymentStatus::Successful).await;

    update(&ecs, "web", &v2).await;
    let arn = current_arn(&ecs, "web").await;
    let r = wait_stage(&ecs, &arn, "POST_TEST_TRAFFIC_SHIFT").await;
    assert_eq!(r.status(), Some(&ServiceDeploymentStatus::InProgress));
    let hook = &r.lifecycle_hook_details()[0];
    assert_eq!(hook.status().unwrap().as_str(), "AWAITING_ACTION");
    assert_eq!(hook.target_type().unwrap().as_str(), "PAUSE");
    assert_eq!(hook.timeout_action().unwrap().as_str(), "ROLLBACK");
    assert!(hook.expires_at().is_some());
    let target = r.target_service_revision().unwrap();
    assert_eq!(target.requested_test_traffic_weight(), Some(100.0));
    assert_eq!(target.requested_production_traffic_weight(), Some(0.0));
    // Blue and green both run while paused.
    let tasks = running(&ecs, "web").await;
    assert_eq!(tasks.iter().filter(|t| t.1 == v1).count(), 2);
    assert_eq!(tasks.iter().filter(|t| t.1 == v2).count(), 2);

    let hook_id = hook.hook_id().unwrap().to_string();
    ecs.continue_service_deployment()
        .service_deployment_arn(&arn)
        .hook_id(&hook_id)
        .action(DeploymentLifecycleHookAction::Continue)
        .send()
        .await
        .unwrap();
    let r = wait_status(&ecs, &arn, ServiceDeploymentStatus::Successful).await;
    assert_eq!(r.lifecycle_stage().unwrap().as_str(), "CLEAN_UP");
    assert_eq!(
        r.target_service_revision()
            .unwrap()
            .requested_production_traffic_weight(),
        Some(100.0)
    );
    let tasks = running(&ecs, "web").await;
    assert!(
        tasks.len() == 2 && tasks.iter().all(|t| t.1 == v2),
        "{tasks:?}"
    );

    // The hook no longer awaits action and the deployment is over.
    let err = ecs
        .continue_service_deployment()
        .service_deployment_arn(&arn)
        .hook_id(&hook_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterException"));
    let err = ecs
        .continue_service_deployment()
        .service_deployment_arn(format!("{arn}x"))
        .hook_id(&hook_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ServiceDeploymentNotFoundException"));
}

#[tokio::test]
async fn blue_green_rollback_from_a_paused_hook_keeps_blue_serving() {
    let (_h, ecs) = setup().await;
    let v1 = register(&ecs, "nginx:1.27").await;
    let v2 = register(&ecs, "nginx:1.28").await;
    let hook = pause_hook(DeploymentLifecycleHookStage::PostTestTrafficShift);
    create(&ecs, "web", &v1, blue_green(Some(hook)), true).await;
    let first = current_arn(&ecs, "web").await;
    wait_status(&ecs, &first, ServiceDeploymentStatus::Successful).await;
    let blue: Vec<String> = running(&ecs, "web")
        .await
        .into_iter()
        .map(|t| t.0)
        .collect();

    update(&ecs, "web", &v2).await;
    let arn = current_arn(&ecs, "web").await;
    let r = wait_stage(&ecs, &arn, "POST_TEST_TRAFFIC_SHIFT").await;
    let hook_id = r.lifecycle_hook_details()[0].hook_id().unwrap().to_string();
    ecs.continue_service_deployment()
        .service_deployment_arn(&arn)
        .hook_id(&hook_id)
        .action(DeploymentLifecycleHookAction::Rollback)
        .send()
        .await
        .unwrap();
    let r = wait_status(&ecs, &arn, ServiceDeploymentStatus::RollbackSuccessful).await;
    let source = r.source_service_revisions()[0].arn().unwrap();
    assert_eq!(r.rollback().unwrap().service_revision_arn(), Some(source));
    let svc = ecs
        .describe_services()
        .cluster(CLUSTER)
        .services("web")
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone();
    assert_eq!(svc.task_definition(), Some(v1.as_str()));
    let mut serving: Vec<String> = wait_for("green drained", Duration::from_secs(10), || async {
        let t = running(&ecs, "web").await;
        (t.len() == 2).then_some(t)
    })
    .await
    .into_iter()
    .map(|t| t.0)
    .collect();
    serving.sort();
    let mut blue = blue;
    blue.sort();
    assert_eq!(serving, blue, "the blue tasks keep serving, not replaced");
}

/// Polls the record until SUCCESSFUL, collecting every production traffic
/// weight of the target revision seen on the way.
async fn weights_until_done(ecs: &Client, arn: &str) -> Vec<f64> {
    let mut seen: Vec<f64> = vec![];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = record(ecs, arn).await;
        if let Some(w) = r
            .target_service_revision()
            .and_then(|t| t.requested_production_traffic_weight())
        {
            if seen.last() != Some(&w) {
                seen.push(w);
            }
        }
        if r.status() == Some(&ServiceDeploymentStatus::Successful) {
            return seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never SUCCESSFUL: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn linear_and_canary_shift_in_steps_with_bake_times() {
    let (_h, ecs) = setup().await;
    let v1 = register(&ecs, "nginx:1.27").await;
    let v2 = register(&ecs, "nginx:1.28").await;
    let linear = DeploymentConfiguration::builder()
        .strategy(DeploymentStrategy::Linear)
        .bake_time_in_minutes(0)
        .linear_configuration(
            LinearConfiguration::builder()
                .step_percent(25.0)
                .step_bake_time_in_minutes(1)
                .build(),
        )
        .build();
    create(&ecs, "lin", &v1, linear, true).await;
    let canary = DeploymentConfiguration::builder()
        .strategy(DeploymentStrategy::Canary)
        .bake_time_in_minutes(0)
        .canary_configuration(
            CanaryConfiguration::builder()
                .canary_percent(10.0)
                .canary_bake_time_in_minutes(1)
                .build(),
        )
        .build();
    create(&ecs, "can", &v1, canary, true).await;
    for name in ["lin", "can"] {
        let first = current_arn(&ecs, name).await;
        wait_status(&ecs, &first, ServiceDeploymentStatus::Successful).await;
        update(&ecs, name, &v2).await;
    }
    let lin = current_arn(&ecs, "lin").await;
    let can = current_arn(&ecs, "can").await;
    let (lin_w, can_w) = tokio::join!(
        weights_until_done(&ecs, &lin),
        weights_until_done(&ecs, &can)
    );
    assert_eq!(lin_w, vec![0.0, 25.0, 50.0, 75.0, 100.0]);
    assert_eq!(can_w, vec![0.0, 10.0, 100.0]);
    let r = record(&ecs, &lin).await;
    // Three step bakes of a minute each: 25 -> 50 -> 75 -> 100.
    let took = r.finished_at().unwrap().as_secs_f64() - r.started_at().unwrap().as_secs_f64();
    assert!(took >= 180.0, "took {took}");
}

#[tokio::test]
async fn alarm_in_bake_time_rolls_back_naming_the_alarm() {
    let (h, ecs) = setup().await;
    let v1 = register(&ecs, "nginx:1.27").await;
    let v2 = register(&ecs, "nginx:1.28").await;
    let dc = DeploymentConfiguration::builder()
        .strategy(DeploymentStrategy::BlueGreen)
        .bake_time_in_minutes(30)
        .alarms(
            DeploymentAlarms::builder()
                .alarm_names("HighErrors")
                .alarm_names("HighLatency")
                .enable(true)
                .rollback(true)
                .build()
                .unwrap(),
        )
        .build();
    create(&ecs, "web", &v1, dc, true).await;
    let first = current_arn(&ecs, "web").await;
    wait_status(&ecs, &first, ServiceDeploymentStatus::Successful).await;
    // An alarm outside the list does nothing.
    h.set_alarm("Unrelated", "ALARM");
    update(&ecs, "web", &v2).await;
    let arn = current_arn(&ecs, "web").await;
    let r = wait_stage(&ecs, &arn, "BAKE_TIME").await;
    assert_eq!(r.alarms().unwrap().status().unwrap().as_str(), "MONITORING");
    let state = control(
        &h,
        "POST",
        "/_awsim/alarms",
        Some(serde_json::json!({"name": "HighLatency", "state": "ALARM"})),
    )
    .await;
    assert_eq!(state["HighLatency"], "ALARM");
    let r = wait_status(&ecs, &arn, ServiceDeploymentStatus::RollbackSuccessful).await;
    let alarms = r.alarms().unwrap();
    assert_eq!(alarms.status().unwrap().as_str(), "TRIGGERED");
    assert_eq!(alarms.triggered_alarm_names(), ["HighLatency".to_string()]);
    assert!(r
        .rollback()
        .unwrap()
        .reason()
        .unwrap()
        .contains("HighLatency"));
    let tasks = running(&ecs, "web").await;
    assert!(tasks.iter().all(|t| t.1 == v1), "{tasks:?}");
}

#[tokio::test]
async fn stop_service_deployment_rolls_back_a_stuck_rolling_deployment() {
    let (_h, ecs) = setup().await;
    let good = register(&ecs, "nginx:1.27").await;
    let bad = register(&ecs, "acme/web:pullfail").await;
    create(&ecs, "api", &good, rolling(false), false).await;
    let first = current_arn(&ecs, "api").await;
    wait_status(&ecs, &first, ServiceDeploymentStatus::Successful).await;
    update(&ecs, "api", &bad).await;
    let arn = current_arn(&ecs, "api").await;
    wait_status(&ecs, &arn, ServiceDeploymentStatus::InProgress).await;

    let err = ecs
        .stop_service_deployment()
        .service_deployment_arn(&first)
        .stop_type(StopServiceDeploymentStopType::Rollback)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ConflictException"));

    ecs.stop_service_deployment()
        .service_deployment_arn(&arn)
        .stop_type(StopServiceDeploymentStopType::Rollback)
        .send()
        .await
        .unwrap();
    let r = wait_status(&ecs, &arn, ServiceDeploymentStatus::RollbackSuccessful).await;
    assert!(r
        .rollback()
        .unwrap()
        .reason()
        .unwrap()
        .contains("StopServiceDeployment"));
    let svc = ecs
        .describe_services()
        .cluster(CLUSTER)
        .services("api")
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone();
    assert_eq!(svc.task_definition(), Some(good.as_str()));
}

#[tokio::test]
async fn strategy_combinations_are_validated() {
    let (_h, ecs) = setup().await;
    let td = register(&ecs, "nginx:1.27").await;
    let cases = [
        // BLUE_GREEN with a target group but no advancedConfiguration.
        (
            DeploymentConfiguration::builder()
                .strategy(DeploymentStrategy::BlueGreen)
                .bake_time_in_minutes(5)
                .build(),
            Some(
                LoadBalancer::builder()
                    .target_group_arn(TG_BLUE)
                    .container_name("web")
                    .container_port(80)
                    .build(),
            ),
        ),
        // PAUSE hooks cannot be at TEST_TRAFFIC_SHIFT.
        (
            blue_green(Some(pause_hook(
                DeploymentLifecycleHookStage::TestTrafficShift,
            ))),
            None,
        ),
        // linearConfiguration needs LINEAR.
        (
            DeploymentConfiguration::builder()
                .strategy(DeploymentStrategy::BlueGreen)
                .bake_time_in_minutes(5)
                .linear_configuration(LinearConfiguration::builder().step_percent(10.0).build())
                .build(),
            None,
        ),
        // stepPercent is 3.0..100.0.
        (
            DeploymentConfiguration::builder()
                .strategy(DeploymentStrategy::Linear)
                .linear_configuration(LinearConfiguration::builder().step_percent(2.0).build())
                .build(),
            None,
        ),
        // BLUE_GREEN needs bakeTimeInMinutes.
        (
            DeploymentConfiguration::builder()
                .strategy(DeploymentStrategy::BlueGreen)
                .build(),
            None,
        ),
    ];
    for (i, (dc, lb)) in cases.into_iter().enumerate() {
        let err = ecs
            .create_service()
            .cluster(CLUSTER)
            .service_name(format!("bad{i}"))
            .task_definition(&td)
            .desired_count(1)
            .launch_type(LaunchType::Fargate)
            .network_configuration(network())
            .set_load_balancers(lb.map(|l| vec![l]))
            .deployment_configuration(dc)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("InvalidParameterException"), "case {i}");
    }
}

#[tokio::test]
async fn a_pause_hook_times_out_with_its_timeout_action() {
    let (h, ecs) = setup().await;
    let v1 = register(&ecs, "nginx:1.27").await;
    let v2 = register(&ecs, "nginx:1.28").await;
    let hook = pause_hook(DeploymentLifecycleHookStage::PreScaleUp);
    create(&ecs, "web", &v1, blue_green(Some(hook)), true).await;
    let first = current_arn(&ecs, "web").await;
    wait_status(&ecs, &first, ServiceDeploymentStatus::Successful).await;
    update(&ecs, "web", &v2).await;
    let arn = current_arn(&ecs, "web").await;
    let r = wait_stage(&ecs, &arn, "PRE_SCALE_UP").await;
    assert_eq!(
        r.lifecycle_hook_details()[0].status().unwrap().as_str(),
        "AWAITING_ACTION"
    );
    // Paused before SCALE_UP: no green task starts.
    assert!(running(&ecs, "web").await.iter().all(|t| t.1 == v1));
    // The hook's timeout is 60 minutes, its timeout action ROLLBACK.
    h.advance_clock(3600.0);
    let r = wait_status(&ecs, &arn, ServiceDeploymentStatus::RollbackSuccessful).await;
    assert_eq!(
        r.lifecycle_hook_details()[0].status().unwrap().as_str(),
        "TIMED_OUT"
    );
    assert!(r
        .rollback()
        .unwrap()
        .reason()
        .unwrap()
        .contains("timed out"));
}
