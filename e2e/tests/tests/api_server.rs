//! The API on a real kube-apiserver: the CRDs install, every example
//! applies, the schema rejects a bad manifest, and `kubectl get berth`
//! shows every kind with its columns.

use std::time::Duration;

use berth_e2e::{workspace_root, Env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crds_install_and_examples_apply() {
    let mut env = Env::new("examples").await;

    let mut files: Vec<_> = std::fs::read_dir(workspace_root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut applied = 0;
    for f in &files {
        let objects = env
            .apply_file(f)
            .await
            .unwrap_or_else(|e| panic!("{}: {e:#}", f.display()));
        applied += objects.len();
    }
    assert_eq!(applied, files.len(), "one object per example file");

    // The API server, not only berth, enforces the schema.
    let bad = r#"
apiVersion: berth.dev/v1alpha1
kind: EcsService
metadata:
  name: bad-launch-type
spec:
  cluster: shop
  launchType: FARGATEX
  taskDefinition:
    cpu: 256
    memory: 512
    containers: [{name: app, image: "nginx:1.27"}]
  networkConfiguration:
    subnets: [subnet-0123456789abcdef0]
"#;
    let err = env
        .apply_yaml(bad)
        .await
        .expect_err("the API server must reject launchType FARGATEX");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("spec.launchType") && msg.contains("FARGATEX"),
        "rejection should name the field: {msg}"
    );

    // `kubectl get berth` lists every kind with its printer columns.
    let out = env.kubectl(&["get", "berth"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl get berth failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{stdout}");
    for header in [
        "READY   DESIRED   RUNNING   REVISION   ROLLOUT   AGE",
        "PHASE   EXIT   ATTEMPTS   SERVICE   AGE",
        "READY   STATUS   ENDPOINT   PROXY   AGE",
        "READY   PREFIX   UPSTREAM   AGE",
    ] {
        let words: Vec<&str> = header.split_whitespace().collect();
        assert!(
            stdout
                .lines()
                .any(|l| l.split_whitespace().skip(1).collect::<Vec<_>>() == words),
            "no table with columns {words:?} in:\n{stdout}"
        );
    }
    for name in [
        "ecsservice.berth.dev/api",
        "ecsservice.berth.dev/web",
        "migrationjob.berth.dev/api-migrate",
        "migrationjob.berth.dev/api-smoke-test",
        "auroracluster.berth.dev/orders-db",
        "pullthroughcache.berth.dev/docker-hub",
    ] {
        assert!(stdout.contains(name), "{name} missing from:\n{stdout}");
    }
    let out = env.kubectl(&["get", "ptc", "docker-hub", "--no-headers"]);
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        line.contains("docker-hub") && line.split_whitespace().count() >= 3,
        "the PREFIX and UPSTREAM columns are filled from the spec: {line}"
    );

    // berth reconciled all of it without falling over (AuroraCluster and
    // PullThroughCache have no reconciler yet).
    for (kind, name) in [
        ("EcsService", "api"),
        ("EcsService", "web"),
        ("MigrationJob", "api-migrate"),
        ("MigrationJob", "api-smoke-test"),
    ] {
        env.wait_reconciled_since(kind, name, 0, Duration::from_secs(60))
            .await;
    }
    assert!(env.berth_running(), "berth exited:\n{}", env.berth_log());
}
