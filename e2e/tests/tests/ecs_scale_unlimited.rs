//! The load of tests/ecs_scale.rs (50 services created at once) with
//! berth's client-side limiter turned off (`--aws-rate-fraction 0`), against
//! awsim throttling at AWS's published rates: AWS throttles berth. Together
//! with ecs_scale.rs this shows the limiter is what keeps berth unthrottled.
//! Its own test binary: the flag is passed through the environment berth
//! inherits, which must not leak into other tests.

use std::time::{Duration, Instant};

use berth_e2e::awsim::ThrottleProfile;
use berth_e2e::examples::small_service;
use berth_e2e::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_limiter_aws_throttles_berth() {
    // SAFETY of the environment change: this binary runs this one test, and
    // berth reads the variable when Env starts it.
    std::env::set_var("BERTH_AWS_RATE_FRACTION", "0");
    let env = Env::new("ecs-unlimited").await;
    env.awsim.set_throttle_profile(ThrottleProfile::Aws);
    let all: String = (0..50)
        .map(|i| format!("---\n{}", small_service(i)))
        .collect();
    env.apply_yaml(&all).await.unwrap();
    // Evidence, not a timing: wait until AWS has throttled berth.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let throttled = env.awsim.calls(Some("berth"))["throttled"]
            .as_u64()
            .unwrap_or(0);
        if throttled > 0 {
            println!("throttled without the limiter: {throttled}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no call was throttled: {}",
            env.awsim.calls(Some("berth"))
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
