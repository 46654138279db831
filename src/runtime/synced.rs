//! Which watches have listed their objects once: what `/readyz` reports.
//!
//! Read off each watch stream (its first `InitDone`), not from the
//! reflector store's `wait_until_ready`: that one keeps a single waker, so a
//! second task awaiting it next to the controller's own wait is never woken
//! (and, if polled last, leaves the controller waiting instead).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use kube::runtime::watcher;

/// Each watch by name, and whether it has listed.
type Watches = Vec<(&'static str, Arc<AtomicBool>)>;

#[derive(Clone, Default)]
pub struct Synced {
    watches: Arc<std::sync::Mutex<Watches>>,
}

impl Synced {
    /// A marker for the watch `name`, to run on every event of its stream
    /// (`stream.inspect(synced.watch("EcsService"))`).
    pub fn watch<K>(
        &self,
        name: &'static str,
    ) -> impl FnMut(&Result<watcher::Event<K>, watcher::Error>) + Send + 'static {
        let flag = Arc::new(AtomicBool::new(false));
        self.watches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name, flag.clone()));
        move |event| {
            if matches!(event, Ok(watcher::Event::InitDone)) && !flag.swap(true, Ordering::Relaxed)
            {
                tracing::debug!(watch = name, "watch synced");
            }
        }
    }

    /// The watches that have not listed yet (empty: all synced).
    pub fn pending(&self) -> Vec<&'static str> {
        self.watches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, f)| !f.load(Ordering::Relaxed))
            .map(|(n, _)| *n)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Namespace;

    #[test]
    fn a_watch_is_synced_after_its_first_init_done() {
        let synced = Synced::default();
        let mut a = synced.watch::<Namespace>("a");
        let mut b = synced.watch::<Namespace>("b");
        assert_eq!(synced.pending(), vec!["a", "b"]);
        a(&Ok(watcher::Event::Init));
        assert_eq!(synced.pending(), vec!["a", "b"]);
        a(&Ok(watcher::Event::InitDone));
        b(&Ok(watcher::Event::Apply(Namespace::default())));
        assert_eq!(synced.pending(), vec!["b"]);
        b(&Ok(watcher::Event::InitDone));
        assert!(synced.pending().is_empty());
    }
}
