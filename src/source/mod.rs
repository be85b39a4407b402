//! Where mail comes from: an IMAP folder, a Maildir, or stdin.
//!
//! Each source hands raw bytes (with a UID where it has one) to the
//! [`crate::pipeline`] and moves its checkpoint in the same commit.

pub mod imap;
pub mod maildir;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::pipeline::{self, Engine, Incoming, Tally};
use crate::store::{Checkpoint, Store, StoreError};

/// The database connection a source task owns, shareable with blocking threads.
pub type SharedStore = Arc<Mutex<Store>>;

/// Runs one batch on a blocking thread (SQLite is synchronous).
pub async fn commit_batch(
    store: &SharedStore,
    engine: &Arc<Engine>,
    mailbox: &str,
    items: Vec<Incoming>,
    checkpoint: Option<Checkpoint>,
    now_ms: i64,
) -> Result<Tally, StoreError> {
    let store = store.clone();
    let engine = engine.clone();
    let mailbox = mailbox.to_string();
    tokio::task::spawn_blocking(move || {
        let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
        pipeline::process_batch(&mut s, &engine, &mailbox, &items, checkpoint, now_ms)
    })
    .await
    .expect("a batch task panicked; process_batch catches panics, so this is a bug (the supervisor restarts the task)")
}

/// Exponential backoff with jitter for reconnects: 1 s, 2 s, 4 s … up to `max`,
/// each spread by ±25 % so many daemons do not retry in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    attempt: u32,
    max: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Backoff {
        Backoff { attempt: 0, max }
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let base = Duration::from_secs(1u64 << self.attempt.min(16)).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let jitter = jitter_fraction();
        base.mul_f64(0.75 + jitter * 0.5)
    }
}

/// A number in [0, 1) from the OS-seeded hasher: enough randomness for jitter.
fn jitter_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// The wall clock in unix milliseconds: the daemon's one source of "now".
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_secs(60));
        let first = b.next_delay();
        assert!(
            first >= Duration::from_millis(750) && first <= Duration::from_millis(1250),
            "{first:?}"
        );
        for _ in 0..20 {
            let d = b.next_delay();
            assert!(d <= Duration::from_secs(75), "{d:?}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(1250));
    }
}
