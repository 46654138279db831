//! What this process keeps per object (the reconcile log, the kinds'
//! memos) is dropped when the object is deleted, so memory follows the
//! objects that exist, not every object ever created (a namespace that
//! creates and deletes MigrationJobs all day). Two triggers: the watch's
//! Delete event, once the object is gone from the API server (after the
//! finalizer's cleanup); and every fresh list of a watch (after a
//! disconnection), which drops what belongs to objects it no longer holds,
//! since a deletion while the watch was away never arrives as an event.

use std::collections::HashSet;
use std::sync::Arc;

use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::Resource;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::memo::Memos;
use crate::api::{AuroraCluster, EcsService, MigrationJob, PullThroughCache};
use crate::runtime::reconciles::ReconcileLog;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MapLabel {
    /// `reconciles` (one entry per object reconciled) or `memos` (a few
    /// per object at most).
    pub map: String,
}

/// `berth_tracked_objects{map}`: entries of the per-object maps.
pub struct Tracked {
    pub reconciles: Gauge,
    pub memos: Gauge,
}

impl Tracked {
    pub fn register(registry: &mut Registry) -> Self {
        let family = Family::<MapLabel, Gauge>::default();
        registry.register(
            "berth_tracked_objects",
            "Entries of berth's per-object bookkeeping, by map (reconciles, memos); back to its earlier value once the objects are deleted",
            family.clone(),
        );
        let gauge = |map: &str| family.get_or_create(&MapLabel { map: map.into() }).clone();
        Self {
            reconciles: gauge("reconciles"),
            memos: gauge("memos"),
        }
    }
}

/// The objects that exist, as the kinds' watch stores hold them.
pub struct Live {
    pub services: Store<EcsService>,
    pub jobs: Store<MigrationJob>,
    pub caches: Store<PullThroughCache>,
    pub databases: Store<AuroraCluster>,
}

impl Live {
    fn uids(&self) -> HashSet<String> {
        fn of<K: Resource<DynamicType = ()> + Clone>(store: &Store<K>) -> Vec<String> {
            store
                .state()
                .iter()
                .filter_map(|o| o.meta().uid.clone())
                .collect()
        }
        of(&self.services)
            .into_iter()
            .chain(of(&self.jobs))
            .chain(of(&self.caches))
            .chain(of(&self.databases))
            .collect()
    }
}

/// The per-object maps and where their objects live.
#[derive(Clone)]
pub struct Bookkeeping {
    pub reconciles: Arc<ReconcileLog>,
    pub memos: Arc<Memos>,
    pub live: Arc<Live>,
}

impl Bookkeeping {
    /// Runs on every event of kind `K`'s watch, after its store took the
    /// event in (`stream.reflect(writer).inspect(...)`).
    pub fn watch<K>(
        &self,
        store: Store<K>,
    ) -> impl FnMut(&Result<watcher::Event<K>, watcher::Error>) + Send + 'static
    where
        K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        let this = self.clone();
        move |event| match event {
            Ok(watcher::Event::Delete(obj)) => this.deleted(obj),
            Ok(watcher::Event::InitDone) => this.listed(&store),
            _ => {}
        }
    }

    fn deleted<K: Resource<DynamicType = ()>>(&self, obj: &K) {
        let meta = obj.meta();
        self.reconciles.forget(
            &K::kind(&()),
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default(),
        );
        if let Some(uid) = &meta.uid {
            self.memos.forget(uid);
        }
    }

    fn listed<K>(&self, store: &Store<K>)
    where
        K: Resource<DynamicType = ()> + Clone,
    {
        self.reconciles.retain(&K::kind(&()), |ns, name| {
            store.get(&ObjectRef::new(name).within(ns)).is_some()
        });
        let uids = self.live.uids();
        self.memos.retain(|uid| uids.contains(uid));
    }
}

#[cfg(test)]
mod tests {
    use kube::runtime::reflector;

    use super::*;
    use crate::controller::memo::{JobMemo, LastWrite, Remembered};

    fn job(name: &str, uid: &str) -> MigrationJob {
        let mut j: MigrationJob = serde_json::from_value(serde_json::json!({
            "apiVersion": "berth.dev/v1alpha1",
            "kind": "MigrationJob",
            "metadata": {"name": name, "namespace": "ns", "uid": uid},
            "spec": {"serviceRef": {"name": "api"}},
        }))
        .unwrap();
        j.metadata.resource_version = Some("1".into());
        j
    }

    struct World {
        book: Bookkeeping,
        jobs: reflector::store::Writer<MigrationJob>,
        tracked: Tracked,
    }

    fn world() -> World {
        let tracked = Tracked::register(&mut Registry::default());
        let (jobs_store, jobs) = reflector::store();
        let live = Live {
            services: reflector::store().0,
            jobs: jobs_store,
            caches: reflector::store().0,
            databases: reflector::store().0,
        };
        World {
            book: Bookkeeping {
                reconciles: Arc::new(ReconcileLog::tracked(tracked.reconciles.clone())),
                memos: Arc::new(Memos::tracked(tracked.memos.clone())),
                live: Arc::new(live),
            },
            jobs,
            tracked,
        }
    }

    /// Feeds `event` to the store, then to the bookkeeping, as the watch does.
    fn feed(w: &mut World, event: watcher::Event<MigrationJob>) {
        w.jobs.apply_watcher_event(&event);
        let store = w.book.live.jobs.clone();
        (w.book.watch(store))(&Ok(event));
    }

    fn remember(memos: &Memos, uid: &str) {
        let last_write = Some(LastWrite {
            run_hash: "run-1".into(),
            attempts: 1,
        });
        memos
            .jobs
            .update(uid, |m: &mut JobMemo| m.last_write = last_write);
    }

    fn remembers(memos: &Memos, uid: &str) -> bool {
        !memos.jobs.get(uid).is_empty()
    }

    #[test]
    fn a_deleted_object_leaves_nothing_behind() {
        let mut w = world();
        for (name, uid) in [("a", "u-a"), ("b", "u-b")] {
            feed(&mut w, watcher::Event::Apply(job(name, uid)));
            drop(w.book.reconciles.begin("MigrationJob", "ns", name));
            remember(&w.book.memos, uid);
        }
        assert_eq!((w.tracked.reconciles.get(), w.tracked.memos.get()), (2, 2));

        feed(&mut w, watcher::Event::Delete(job("a", "u-a")));
        assert_eq!((w.tracked.reconciles.get(), w.tracked.memos.get()), (1, 1));
        assert!(!remembers(&w.book.memos, "u-a"));
        assert!(remembers(&w.book.memos, "u-b"));
        assert_eq!(
            w.book.reconciles.snapshot().keys().collect::<Vec<_>>(),
            ["MigrationJob/ns/b"]
        );
    }

    #[test]
    fn a_fresh_list_drops_what_a_missed_deletion_left() {
        let mut w = world();
        for (name, uid) in [("a", "u-a"), ("b", "u-b")] {
            feed(&mut w, watcher::Event::Apply(job(name, uid)));
            drop(w.book.reconciles.begin("MigrationJob", "ns", name));
            remember(&w.book.memos, uid);
        }
        // The watch was away while `a` was deleted: it lists again and
        // finds only `b`.
        feed(&mut w, watcher::Event::Init);
        feed(&mut w, watcher::Event::InitApply(job("b", "u-b")));
        assert_eq!(w.tracked.reconciles.get(), 2, "not before the list is done");
        feed(&mut w, watcher::Event::InitDone);
        assert_eq!((w.tracked.reconciles.get(), w.tracked.memos.get()), (1, 1));
        assert!(remembers(&w.book.memos, "u-b"));
    }

    #[test]
    fn memos_count_their_entries() {
        let size = Gauge::default();
        let memos = Memos::tracked(size.clone());
        remember(&memos, "u1");
        remember(&memos, "u2");
        assert_eq!(size.get(), 2);
        // Emptied, a memo is not kept.
        memos.jobs.update("u2", |m| *m = Default::default());
        assert_eq!((size.get(), memos.len()), (1, 1));
        remember(&memos, "u2");
        memos.forget("u1");
        assert_eq!((size.get(), memos.len()), (1, 1));
        memos.retain(|_| false);
        assert!(memos.is_empty());
        assert_eq!(size.get(), 0);
    }
}
