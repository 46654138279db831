//! What each kind remembers about one of its objects between reconciles,
//! in this process: one typed memo per kind, so what a reconcile carries
//! over is named in one struct. A leaf of the controller: the shared
//! context holds the memos, and the kinds and `pacing` fill them.

use std::time::Instant;

use crate::aws::Ticket;

/// What each kind remembers about one of its objects in this process,
/// keyed by the object's uid: a status write may fail on a stale read, or
/// the watch may not show it yet, and the next reconcile must not act as if
/// it had never happened. One typed memo per kind, so what a reconcile
/// carries over is named in one struct; an object's memo goes when it is
/// deleted (`super::bookkeeping`).
#[derive(Default)]
pub struct Memos {
    pub services: Memo<ServiceMemo>,
    pub jobs: Memo<JobMemo>,
}

impl Memos {
    /// Memos whose entry count is published in `size`.
    pub fn tracked(size: prometheus_client::metrics::gauge::Gauge) -> Self {
        Self {
            services: Memo::tracked(size.clone()),
            jobs: Memo::tracked(size),
        }
    }

    /// Forgets what any kind remembered about `uid` (its object is gone).
    pub fn forget(&self, uid: &str) {
        self.services.forget(uid);
        self.jobs.forget(uid);
    }

    /// Keeps only the memos of objects for which `exists(uid)`.
    pub fn retain(&self, exists: impl Fn(&str) -> bool) {
        self.services.retain(&exists);
        self.jobs.retain(&exists);
    }

    /// Objects with a memo.
    pub fn len(&self) -> usize {
        self.services.len() + self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A kind's memo of one object: empty memos are not kept.
pub trait Remembered: Clone + Default + Send + 'static {
    fn is_empty(&self) -> bool;
}

/// One kind's memos by object uid.
#[derive(Default)]
pub struct Memo<T> {
    entries: std::sync::Mutex<std::collections::HashMap<String, T>>,
    /// The entries of every kind, for `/metrics`.
    size: prometheus_client::metrics::gauge::Gauge,
}

impl<T: Remembered> Memo<T> {
    fn tracked(size: prometheus_client::metrics::gauge::Gauge) -> Self {
        Self {
            entries: Default::default(),
            size,
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, T>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The object's memo (empty when it has none).
    pub fn get(&self, uid: &str) -> T {
        self.entries().get(uid).cloned().unwrap_or_default()
    }

    /// Changes the object's memo; one left empty is dropped.
    pub fn update<R>(&self, uid: &str, change: impl FnOnce(&mut T) -> R) -> R {
        let mut entries = self.entries();
        let before = entries.len();
        let memo = entries.entry(uid.to_string()).or_default();
        let out = change(memo);
        if memo.is_empty() {
            entries.remove(uid);
        }
        self.size.inc_by(entries.len() as i64 - before as i64);
        out
    }

    pub fn forget(&self, uid: &str) {
        let mut entries = self.entries();
        if entries.remove(uid).is_some() {
            self.size.dec();
        }
    }

    fn retain(&self, exists: &impl Fn(&str) -> bool) {
        let mut entries = self.entries();
        let before = entries.len();
        entries.retain(|uid, _| exists(uid));
        self.size.dec_by((before - entries.len()) as i64);
    }

    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An EcsService's memo.
#[derive(Clone, Debug, Default)]
pub struct ServiceMemo {
    /// When this process last observed AWS while the service waited for
    /// its migrations, and the refresh value it had then.
    pub waiting: Option<Waiting>,
    /// The revision registered or found for a spec hash: until the status
    /// write that records it lands (it may fail on a stale read), the next
    /// reconcile knows it without asking ECS again.
    pub registered: Option<Registered>,
    /// Its ticket for RegisterTaskDefinition (`super::pacing`).
    pub queued: Option<Queued>,
}

#[derive(Clone, Debug)]
pub struct Waiting {
    pub at: Instant,
    pub refresh: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Registered {
    pub hash: String,
    pub arn: String,
    pub revision: i64,
}

/// A MigrationJob's memo.
#[derive(Clone, Debug, Default)]
pub struct JobMemo {
    /// The run this process wrote last: a reconcile that reads an older
    /// status from the watch waits for it instead of acting on it.
    pub last_write: Option<LastWrite>,
    /// Its ticket for RegisterTaskDefinition (`super::pacing`).
    pub queued: Option<Queued>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastWrite {
    pub run_hash: String,
    pub attempts: i32,
}

/// A ticket taken for one object's call, for the work identified by `key`
/// (e.g. the spec hash a task definition is registered for).
#[derive(Clone, Debug)]
pub struct Queued {
    pub(super) key: String,
    pub(super) ticket: Ticket,
}

/// A kind's memo that holds its object's ticket.
pub trait Paced: Remembered {
    fn queued(&mut self) -> &mut Option<Queued>;
}

impl Remembered for ServiceMemo {
    fn is_empty(&self) -> bool {
        self.waiting.is_none() && self.registered.is_none() && self.queued.is_none()
    }
}

impl Paced for ServiceMemo {
    fn queued(&mut self) -> &mut Option<Queued> {
        &mut self.queued
    }
}

impl Remembered for JobMemo {
    fn is_empty(&self) -> bool {
        self.last_write.is_none() && self.queued.is_none()
    }
}

impl Paced for JobMemo {
    fn queued(&mut self) -> &mut Option<Queued> {
        &mut self.queued
    }
}
