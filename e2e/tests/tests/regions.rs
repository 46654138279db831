//! Per-namespace AWS targets: a Namespace's `berth.dev/aws-region` and
//! `berth.dev/aws-role-arn` annotations decide where its resources' calls go,
//! over berth's `--aws-region` flag. Two namespaces, two berth processes, one
//! awsim: each namespace's service is created in its own region (its ARN
//! says so), and the namespace with a role has its calls made as that role.

use std::time::Duration;

use berth::api::conditions::{is_true, READY};
use berth::api::EcsService;
use berth_e2e::examples::small_service;
use berth_e2e::processes::Spawn;
use berth_e2e::{Env, Options};
use kube::api::{Patch, PatchParams};
use kube::Api;

const TIMEOUT: Duration = Duration::from_secs(120);
const ROLE: &str = "arn:aws:iam::123456789012:role/team-b-deployer";

async fn ready_arn(api: &Api<EcsService>, name: &str) -> String {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        if let Ok(s) = api.get(name).await {
            if let Some(st) = s
                .status
                .as_ref()
                .filter(|st| is_true(&st.conditions, READY))
            {
                return st.service_arn.clone().expect("a Ready service has its ARN");
            }
        }
        assert!(std::time::Instant::now() < deadline, "{name} not Ready");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_namespace_reaches_aws_in_its_own_region_and_role() {
    // Namespace A: another region than berth's --aws-region (us-east-1).
    let env = Env::with_annotated_namespace(
        "regions",
        Options::default(),
        serde_json::json!({"berth.dev/aws-region": "eu-west-1"}),
    )
    .await;

    // Namespace B: a third region, and a role to assume.
    let b = env.create_namespace("b").await;
    env.annotate_namespace(
        &b,
        serde_json::json!({"berth.dev/aws-region": "ap-southeast-2", "berth.dev/aws-role-arn": ROLE}),
    )
    .await;
    let _berth_b = env.spawn_berth(
        "berth-b",
        Spawn {
            namespace: Some(b.clone()),
            ..Spawn::default()
        },
    );

    env.apply_yaml(&small_service(1)).await.unwrap();
    let service: EcsService = serde_yaml::from_str(&small_service(2)).unwrap();
    let api_b: Api<EcsService> = Api::namespaced(env.client.clone(), &b);
    api_b
        .patch(
            "svc-02",
            &PatchParams::apply("e2e-user").force(),
            &Patch::Apply(&service),
        )
        .await
        .unwrap();

    let arn_a = ready_arn(&env.api(), "svc-01").await;
    let arn_b = ready_arn(&api_b, "svc-02").await;
    assert!(arn_a.starts_with("arn:aws:ecs:eu-west-1:"), "{arn_a}");
    assert!(arn_b.starts_with("arn:aws:ecs:ap-southeast-2:"), "{arn_b}");

    // B's calls were made as its role; A assumed none.
    let assumed: Vec<String> = env.assumed_roles();
    assert!(
        !assumed.is_empty(),
        "no AssumeRole call: {:?}",
        env.awsim.calls(None)
    );
    assert!(assumed.iter().all(|r| r == ROLE), "{assumed:?}");
}
