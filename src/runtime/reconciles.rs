//! How often each object has been reconciled, served at
//! `/debug/reconciles` on the loopback-only `--debug-addr`. Metrics count
//! per kind, which cannot tell a caller (the end-to-end tests, a person
//! debugging a stuck object) whether berth has looked at *this* object
//! since some moment: a `finished` count above an earlier `started` count
//! proves a whole reconcile began after that earlier read.
//!
//! An object's entry goes when the object is deleted ([`ReconcileLog::forget`]),
//! so the map holds the objects that exist, not every object this process
//! has ever seen.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use prometheus_client::metrics::gauge::Gauge;
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
    /// The number of entries, for `/metrics`.
    size: Gauge,
}

impl ReconcileLog {
    /// A log whose entry count is published in `size`.
    pub fn tracked(size: Gauge) -> Self {
        Self {
            counts: Mutex::default(),
            size,
        }
    }

    /// Counts a reconcile of the object as started; it counts as finished
    /// when the returned guard is dropped, so a reconcile that panics or is
    /// cancelled does not stay "in flight" forever.
    pub fn begin(&self, kind: &str, namespace: &str, name: &str) -> Reconciling<'_> {
        let key = (kind.to_string(), namespace.to_string(), name.to_string());
        let mut counts = self.lock();
        counts.entry(key.clone()).or_default().started += 1;
        self.size.set(counts.len() as i64);
        Reconciling { log: self, key }
    }

    /// Drops the object's entry: it was deleted. A reconcile of it still
    /// in flight does not bring the entry back when it ends.
    pub fn forget(&self, kind: &str, namespace: &str, name: &str) {
        let key = (kind.to_string(), namespace.to_string(), name.to_string());
        let mut counts = self.lock();
        counts.remove(&key);
        self.size.set(counts.len() as i64);
    }

    /// Keeps only the entries of `kind` for which `exists(namespace, name)`
    /// (after a watch listed anew: deletions it missed meanwhile).
    pub fn retain(&self, kind: &str, exists: impl Fn(&str, &str) -> bool) {
        let mut counts = self.lock();
        counts.retain(|(k, ns, name), _| k != kind || exists(ns, name));
        self.size.set(counts.len() as i64);
    }

    /// Objects with an entry.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        // Absent when the object was deleted (and forgotten) meanwhile.
        if let Some(c) = self.log.lock().get_mut(&self.key) {
            c.finished += 1;
        }
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
    fn a_deleted_object_is_forgotten_even_while_its_last_reconcile_runs() {
        let size = Gauge::default();
        let log = ReconcileLog::tracked(size.clone());
        drop(log.begin("MigrationJob", "ns", "a"));
        let releasing = log.begin("MigrationJob", "ns", "b");
        assert_eq!(size.get(), 2);
        log.forget("MigrationJob", "ns", "b");
        drop(releasing);
        assert_eq!(log.get("MigrationJob", "ns", "b"), Counts::default());
        assert_eq!(log.len(), 1);
        assert_eq!(size.get(), 1);
        log.forget("MigrationJob", "ns", "a");
        assert!(log.is_empty());
        assert_eq!(size.get(), 0);
    }

    #[test]
    fn a_new_list_drops_the_objects_it_no_longer_holds() {
        let log = ReconcileLog::default();
        drop(log.begin("MigrationJob", "ns", "gone"));
        drop(log.begin("MigrationJob", "ns", "kept"));
        drop(log.begin("EcsService", "ns", "gone"));
        log.retain("MigrationJob", |_, name| name == "kept");
        let snapshot = log.snapshot();
        assert_eq!(
            snapshot.keys().collect::<Vec<_>>(),
            ["EcsService/ns/gone", "MigrationJob/ns/kept"],
            "other kinds are left to their own watch"
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
