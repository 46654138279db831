//! Status stays small whatever a task prints: a MigrationJob keeps log
//! lines only when it asks for them (`spec.logTail`), each line and the
//! whole tail cut, so the status write of a task that printed megabytes
//! succeeds and the release it gates goes on.

use std::time::Duration;

use berth::api::migration_job::{MigrationJob, Phase, LOG_LINE_BYTES, LOG_TAIL_BYTES};
use berth::controller::bounds::{MARKER, STATUS_BYTES};
use berth_e2e::awsim::images::{ImageBehavior, ImageRule};
use berth_e2e::awsim::logs::MAX_EVENT_MESSAGE_BYTES;
use berth_e2e::examples::{file, service_job};
use berth_e2e::Env;

const TIMEOUT: Duration = Duration::from_secs(150);
const LOUD: &str = "shop/migrate:loud";

/// A PreRollout migration of the example API running the loud image.
fn migration(name: &str, extra: &str) -> String {
    service_job(
        name,
        LOUD,
        &format!("  hook: PreRollout\n  command: [\"./api\", \"migrate\", \"up\"]\n{extra}"),
    )
}

fn succeeded(j: &MigrationJob) -> bool {
    j.status
        .as_ref()
        .is_some_and(|s| s.phase == Some(Phase::Succeeded))
}

/// The task id at the end of a task ARN (the end of its log stream's name).
fn task_id(job: &MigrationJob) -> String {
    let arn = job.status.as_ref().unwrap().task_arn.clone().unwrap();
    arn.rsplit('/').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_printing_megabytes_leaves_a_small_status_and_the_gate_opens() {
    let env = Env::new("bounded").await;
    // 20 lines of 256 KiB: each fills one CloudWatch event to its limit.
    let lines: Vec<String> = (0..20)
        .map(|i| {
            let head = format!("{i:02} password=hunter2 ");
            format!("{head}{}", "x".repeat(MAX_EVENT_MESSAGE_BYTES - head.len()))
        })
        .collect();
    env.awsim.add_image_rule(ImageRule {
        image: LOUD.into(),
        prefix: false,
        behavior: ImageBehavior {
            exit_code: Some(0),
            log_lines: lines,
            ..Default::default()
        },
    });
    // Two migrations gate the same rollout: one asks for 20 lines, the
    // other for none.
    env.apply_yaml(&migration("loud", "  logTail:\n    lines: 20\n"))
        .await
        .unwrap();
    env.apply_yaml(&migration("quiet", "")).await.unwrap();
    env.apply_yaml(&file("api.yaml")).await.unwrap();

    // Both status writes went through: the gate opened.
    env.wait_ready_on("api", 1, TIMEOUT).await;
    let loud: MigrationJob = env.wait_for("loud", "Succeeded", TIMEOUT, succeeded).await;
    let quiet: MigrationJob = env.wait_for("quiet", "Succeeded", TIMEOUT, succeeded).await;

    let status = loud.status.clone().unwrap();
    let size = serde_json::to_vec(&status).unwrap().len();
    assert!(size <= STATUS_BYTES, "status of {size} bytes");
    let tail = &status.log_tail;
    assert!(!tail.is_empty(), "the asked-for tail is there");
    assert!(
        tail.iter().all(|l| l.len() <= LOG_LINE_BYTES),
        "each line within {LOG_LINE_BYTES} bytes: {:?}",
        tail.iter().map(String::len).collect::<Vec<_>>()
    );
    // The task's own lines (awsim adds a short one when the container exits).
    let printed: Vec<&String> = tail.iter().filter(|l| !l.starts_with("awsim:")).collect();
    assert!(!printed.is_empty());
    for line in &printed {
        assert!(
            line.ends_with(MARKER),
            "a cut line ends with the marker: {:?}",
            &line[line.len().saturating_sub(20)..]
        );
    }
    let total: usize = tail.iter().map(String::len).sum();
    assert!(total <= LOG_TAIL_BYTES, "tail of {total} bytes");
    assert!(
        printed.last().unwrap().starts_with("19 "),
        "the newest line is kept: {:?}",
        &printed.last().unwrap()[..10]
    );
    println!(
        "status {size} bytes, {} log lines of {total} bytes from 20 events of {MAX_EVENT_MESSAGE_BYTES} bytes",
        tail.len()
    );

    // The job that did not ask keeps no line, and CloudWatch Logs was
    // never asked about its task.
    let quiet_status = quiet.status.clone().unwrap();
    assert!(
        quiet_status.log_tail.is_empty(),
        "{:?}",
        quiet_status.log_tail
    );
    assert!(!serde_json::to_string(&quiet_status)
        .unwrap()
        .contains("hunter2"));
    let log = env.awsim.call_log(Some("berth"));
    let tail_calls = |job: &MigrationJob| {
        let id = task_id(job);
        log.as_array()
            .unwrap()
            .iter()
            .filter(|c| {
                c["action"] == "GetLogEvents"
                    && c["params"]["logStreamName"]
                        .as_str()
                        .is_some_and(|s| s.ends_with(&id))
            })
            .count()
    };
    assert!(tail_calls(&loud) >= 1, "the loud job's tail was read");
    assert_eq!(tail_calls(&quiet), 0, "no GetLogEvents for the quiet job");
    assert_eq!(
        env.berth_calls("logs", "GetLogEvents"),
        tail_calls(&loud) as u64
    );
}
