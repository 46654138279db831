//! The virtual clock. Simulated AWS waits (image pulls, health-check grace,
//! Aurora creation) are measured in virtual seconds so that tests can run a
//! minute of AWS time in well under a real second.

use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug)]
pub struct Clock {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    real_base: Instant,
    virtual_base: f64,
    scale: f64,
}

pub fn real_epoch_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Clock {
    pub fn new(start: f64, scale: f64) -> Self {
        Self {
            inner: Mutex::new(Inner {
                real_base: Instant::now(),
                virtual_base: start,
                scale: scale.max(0.0),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Virtual seconds since the Unix epoch.
    pub fn now(&self) -> f64 {
        let inner = self.lock();
        inner.virtual_base + inner.real_base.elapsed().as_secs_f64() * inner.scale
    }

    pub fn scale(&self) -> f64 {
        self.lock().scale
    }

    /// Changes the speed without a jump in virtual time.
    pub fn set_scale(&self, scale: f64) {
        let mut inner = self.lock();
        let now = inner.virtual_base + inner.real_base.elapsed().as_secs_f64() * inner.scale;
        inner.virtual_base = now;
        inner.real_base = Instant::now();
        inner.scale = scale.max(0.0);
    }

    pub fn advance(&self, seconds: f64) {
        self.lock().virtual_base += seconds.max(0.0);
    }

    /// Never moves time backwards: a restored snapshot may be older than now.
    pub fn advance_to(&self, t: f64) {
        let now = self.now();
        if t > now {
            self.advance(t - now);
        }
    }
}
