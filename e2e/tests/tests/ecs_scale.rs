//! 50 EcsServices in one cluster against awsim throttling at AWS's
//! published per-account rates (`aws` profile): every one reaches Ready while
//! DescribeServices stays batched (10 services a call, one batch per poll),
//! and berth's client-side limiter keeps every call under AWS's buckets, so
//! none is throttled. Prints the call counts; asserts the per-poll budget and
//! the throttled count. (tests/ecs_scale_unlimited.rs shows the same load
//! without the limiter is throttled.)

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use berth::api::EcsService;
use berth_e2e::awsim::ThrottleProfile;
use berth_e2e::examples::small_service;
use berth_e2e::Env;

const SERVICES: usize = 50;
/// berth's poll interval while something converges.
const POLL_SECONDS: f64 = 5.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_services_share_describe_calls() {
    let env = Env::new("ecs-scale50").await;
    env.awsim.set_throttle_profile(ThrottleProfile::Aws);
    let started = Instant::now();
    let all: String = (0..SERVICES)
        .map(|i| format!("---\n{}", small_service(i)))
        .collect();
    env.apply_yaml(&all).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let ready = env.count_ready::<EcsService>().await.unwrap();
        if ready == SERVICES {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {ready}/{SERVICES} Ready after 300s\n{}",
            berth_e2e::tail(&env.berth_log(), 20)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();

    // DescribeServices calls by berth, bucketed into the poll intervals
    // (berth aligns its polls to multiples of the interval since the epoch).
    let log = env.awsim.call_log(Some("berth"));
    // Successful calls only: throttled attempts are retried and counted apart.
    let calls: Vec<(f64, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == "ok")
        .map(|c| {
            (
                c["time"].as_f64().unwrap_or(0.0),
                format!(
                    "{}:{}",
                    c["service"].as_str().unwrap_or("?"),
                    c["action"].as_str().unwrap_or("?")
                ),
            )
        })
        .collect();
    let mut windows: BTreeMap<u64, u64> = BTreeMap::new();
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for (t, action) in &calls {
        *totals.entry(action.clone()).or_default() += 1;
        if action == "ecs:DescribeServices" {
            *windows.entry((t / POLL_SECONDS) as u64).or_default() += 1;
        }
    }
    let max_window = windows.values().copied().max().unwrap_or(0);
    let describes = totals.get("ecs:DescribeServices").copied().unwrap_or(0);
    println!("{SERVICES} services Ready in {elapsed:.1}s");
    println!(
        "DescribeServices: {describes} calls over {} poll windows of {POLL_SECONDS}s, at most {max_window} in one window",
        windows.len()
    );
    println!("per window: {:?}", windows.values().collect::<Vec<_>>());
    println!("all berth calls: {totals:?}");
    let throttled = env.awsim.calls(Some("berth"))["throttled"].as_u64();
    println!("throttled: {throttled:?}");

    assert_eq!(
        totals.get("ecs:CreateService").copied(),
        Some(SERVICES as u64)
    );
    assert!(
        max_window < 10,
        "DescribeServices must stay under 10 per poll interval for one cluster, saw {max_window}"
    );
    assert_eq!(
        throttled,
        Some(0),
        "berth's limiter must keep every call within AWS's published rates"
    );
}
