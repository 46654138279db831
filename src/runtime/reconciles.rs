//! How often each object has been reconciled, served at
//! `/debug/reconciles`. Metrics count per kind, which cannot tell a caller
//! (the end-to-end tests, a person debugging a stuck object) whether berth
//! has looked at *this* object since some moment: a `finished` count above
//! an earlier `started` count proves a whole reconcile began after that
//! earlier read.
//!
//! Entries of deleted objects stay: a reader may still ask about the
//! reconcile that released the object, and the map is bounded by the
//! objects this process has seen (a few hundred bytes each).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub started: u64,
    /// Ended in any way: ok, error, or dropped mid-way (shutdown).
    pub finished: u64,
}

/// (kind, namespace, name)
type Key = (String, String, String);

#[derive(Debug, Default)]
pub struct ReconcileLog {
    counts: Mutex<BTreeMap<Key, Counts>>,
}

impl ReconcileLog {
    /// Counts a reconcile of the object as started; it counts as finished
    /// when the returned guard is dropped, so a reconcile that panics or is
    /// cancelled does not stay "in flight" forever.
    pub fn begin(&self, kind: &str, namespace: &str, name: &str) -> Reconciling<'_> {
        let key = (kind.to_string(), namespace.to_string(), name.to_string());
        self.lock().entry(key.clone()).or_default().started += 1;
        Reconciling { log: self, key }
    }

    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Counts {
        let key = (kind.to_string(), namespace.to_string(), name.to_string());
        self.lock().get(&key).copied().unwrap_or_default()
    }

    /// Every object as `KIND/NAMESPACE/NAME` (the wire form of `/debug/reconciles`).
    pub fn snapshot(&self) -> BTreeMap<String, Counts> {
        self.lock()
            .iter()
            .map(|((kind, ns, name), c)| (format!("{kind}/{ns}/{name}"), *c))
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Key, Counts>> {
        // The counters stay consistent even if a holder panicked: every
        // critical section is a single increment or a copy.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One reconcile in flight; see [`ReconcileLog::begin`].
pub struct Reconciling<'a> {
    log: &'a ReconcileLog,
    key: Key,
}

impl Drop for Reconciling<'_> {
    fn drop(&mut self) {
        self.log
            .lock()
            .entry(std::mem::take(&mut self.key))
            .or_default()
            .finished += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_objects_read_as_never_reconciled() {
        let log = ReconcileLog::default();
        assert_eq!(log.get("EcsService", "ns", "api"), Counts::default());
        assert!(log.snapshot().is_empty());
    }

    #[test]
    fn started_counts_at_begin_and_finished_when_the_reconcile_ends() {
        let log = ReconcileLog::default();
        let running = log.begin("EcsService", "ns", "api");
        assert_eq!(
            log.get("EcsService", "ns", "api"),
            Counts {
                started: 1,
                finished: 0
            }
        );
        drop(running);
        drop(log.begin("EcsService", "ns", "api"));
        assert_eq!(
            log.get("EcsService", "ns", "api"),
            Counts {
                started: 2,
                finished: 2
            }
        );
    }

    #[test]
    fn objects_are_counted_apart_by_kind_namespace_and_name() {
        let log = ReconcileLog::default();
        drop(log.begin("EcsService", "a", "api"));
        drop(log.begin("MigrationJob", "a", "api"));
        drop(log.begin("EcsService", "b", "api"));
        drop(log.begin("EcsService", "a", "web"));
        drop(log.begin("EcsService", "a", "web"));
        let snapshot = log.snapshot();
        assert_eq!(snapshot.len(), 4);
        assert_eq!(snapshot["EcsService/a/web"].finished, 2);
        assert_eq!(snapshot["MigrationJob/a/api"].started, 1);
        assert_eq!(snapshot["EcsService/b/api"].started, 1);
    }

    #[test]
    fn a_panicking_reconcile_still_finishes() {
        let log = ReconcileLog::default();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _running = log.begin("MigrationJob", "ns", "migrate");
            panic!("reconcile bug");
        }));
        assert!(caught.is_err());
        assert_eq!(
            log.get("MigrationJob", "ns", "migrate"),
            Counts {
                started: 1,
                finished: 1
            }
        );
    }

    #[test]
    fn the_wire_form_is_a_map_of_started_and_finished() {
        let log = ReconcileLog::default();
        let _running = log.begin("EcsService", "ns", "api");
        assert_eq!(
            serde_json::to_value(log.snapshot()).unwrap(),
            serde_json::json!({"EcsService/ns/api": {"started": 1, "finished": 0}})
        );
    }
}
