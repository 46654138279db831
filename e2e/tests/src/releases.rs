//! Releases of an EcsService as scenarios step through them: apply a
//! version and wait until it serves, watch a rollout fail and roll back.

use std::collections::BTreeMap;
use std::time::Duration;

use berth::api::EcsService;

use super::examples::{degraded, file, ready_on};
use super::Env;

impl Env {
    /// Waits until EcsService `name` is Ready on task definition `revision`.
    pub async fn wait_ready_on(&self, name: &str, revision: i64, timeout: Duration) -> EcsService {
        self.wait_for(
            name,
            &format!("Ready on revision {revision}"),
            timeout,
            ready_on(revision),
        )
        .await
    }

    /// Applies `manifest` and waits until EcsService `name` is Ready on
    /// `revision`: one release of a service.
    pub async fn deploy(
        &self,
        manifest: &str,
        name: &str,
        revision: i64,
        timeout: Duration,
    ) -> EcsService {
        self.apply_yaml(manifest).await.unwrap();
        self.wait_ready_on(name, revision, timeout).await
    }

    /// Releases the example API (`examples/api.yaml`, revision 1), then an
    /// image whose tasks never pass their health checks, and waits until
    /// berth reports the rollback (`Degraded/RolledBack`). Returns revision
    /// 1's task definition ARN and the rolled-back EcsService.
    pub async fn release_an_unhealthy_image(&self, timeout: Duration) -> (String, EcsService) {
        let first = task_definition_arn(self.deploy(&file("api.yaml"), "api", 1, timeout).await);
        self.apply_yaml(&file("api.yaml").replace("shop/api:1.4.2", "shop/api:1.5.0-unhealthy"))
            .await
            .unwrap();
        let svc = self
            .wait_for(
                "api",
                "Degraded/RolledBack",
                timeout,
                degraded("RolledBack"),
            )
            .await;
        (first, svc)
    }

    /// The columns `kubectl get ecssvc NAME` prints for EcsService `name`,
    /// by header (`REVISION`, `ROLLOUT`, ...): what a user reads.
    pub fn ecs_service_columns(&self, name: &str) -> BTreeMap<String, String> {
        let out = self.kubectl(&["get", "ecssvc", name]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "kubectl get ecssvc {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines = text.lines();
        let headers = lines.next().unwrap_or_default().split_whitespace();
        let row = lines.next().unwrap_or_default().split_whitespace();
        headers
            .map(str::to_string)
            .zip(row.map(str::to_string))
            .collect()
    }

    /// Waits until `kubectl get ecssvc NAME` shows REVISION `revision` and
    /// ROLLOUT `rollout`; returns every column.
    pub async fn wait_columns(
        &self,
        name: &str,
        revision: &str,
        rollout: &str,
        timeout: Duration,
    ) -> BTreeMap<String, String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let columns = self.ecs_service_columns(name);
            let shown = |c: &str| columns.get(c).map(String::as_str);
            if shown("REVISION") == Some(revision) && shown("ROLLOUT") == Some(rollout) {
                return columns;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "kubectl get ecssvc {name} never showed REVISION {revision} and ROLLOUT {rollout}: {columns:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Waits until EcsService `name`'s ECS deployment has rolled back
    /// (`ROLLBACK_SUCCESSFUL`).
    pub async fn wait_rollback_finished(&self, name: &str, timeout: Duration) -> EcsService {
        self.wait_for(name, "the rollback finished", timeout, |s: &EcsService| {
            s.status
                .as_ref()
                .and_then(|st| st.rollout.as_ref())
                .and_then(|r| r.service_deployment.as_ref())
                .is_some_and(|d| d.status.as_deref() == Some("ROLLBACK_SUCCESSFUL"))
        })
        .await
    }
}

/// The task definition ARN an EcsService reports in its status.
pub fn task_definition_arn(service: EcsService) -> String {
    service
        .status
        .and_then(|s| s.task_definition_arn)
        .expect("a task definition ARN in status")
}
