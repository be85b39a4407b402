//! Where mail comes from: an IMAP folder, a Maildir, or stdin.
//!
//! Each source hands raw bytes (with a UID where it has one) to the
//! [`crate::pipeline`] and moves its checkpoint in the same commit.

pub mod capabilities;
pub mod imap;
pub mod import;
pub mod lmtp;
pub mod maildir;
pub mod pacing;

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

/// Splits a backlog into batches of at most `max_count` messages and
/// `max_bytes` bytes, in the order given. A single message larger than
/// `max_bytes` gets a batch of its own; a message of unknown size (`None`:
/// the server did not say) counts as `max_bytes`, so it is alone too.
///
/// A batch is held in memory whole while it is parsed and written (its raw
/// bytes and what parsing makes of them, attachments decoded), so the byte
/// limit is what bounds memory while a backlog of large mails drains: 20
/// mails of 45 MB in one batch took 1.66 GB.
pub fn batches<K: Copy>(
    sizes: impl IntoIterator<Item = (K, Option<u64>)>,
    max_count: usize,
    max_bytes: u64,
) -> Vec<Vec<K>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut bytes = 0u64;
    for (key, size) in sizes {
        let size = size.unwrap_or(max_bytes);
        if !cur.is_empty() && (cur.len() >= max_count || bytes.saturating_add(size) > max_bytes) {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        cur.push(key);
        bytes = bytes.saturating_add(size);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
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

    fn lens(b: &[Vec<u32>]) -> Vec<usize> {
        b.iter().map(Vec::len).collect()
    }

    #[test]
    fn batches_respect_count_and_bytes() {
        let sizes = || (1..=10).map(|u| (u, Some(100)));
        assert_eq!(lens(&batches(sizes(), 4, 10_000)), vec![4, 4, 2]);
        assert_eq!(lens(&batches(sizes(), 100, 250)), vec![2, 2, 2, 2, 2]);
        assert_eq!(lens(&batches(sizes(), 100, 200)), vec![2, 2, 2, 2, 2]);
        let big = [(1, Some(1000)), (2, Some(10))];
        assert_eq!(batches(big, 100, 100), vec![vec![1], vec![2]]);
        assert!(batches(Vec::<(u32, Option<u64>)>::new(), 10, 10).is_empty());
    }

    #[test]
    fn a_backlog_of_large_mails_is_cut_at_the_byte_limit() {
        const MB: u64 = 1 << 20;
        let backlog = || (1..=20u32).map(|u| (u, Some(45 * MB)));
        // The case: 20 mails of 45 MB, batch-size 500.
        assert_eq!(lens(&batches(backlog(), 500, 8 * MB)), vec![1; 20]);
        assert_eq!(lens(&batches(backlog(), 500, 100 * MB)), vec![2; 10]);
        for b in batches(backlog(), 500, 100 * MB) {
            assert!(b.len() as u64 * 45 * MB <= 100 * MB);
        }
    }

    #[test]
    fn a_mail_of_unknown_size_is_a_batch_of_its_own() {
        let sizes = [(1, Some(10)), (2, None), (3, Some(10)), (4, Some(10))];
        assert_eq!(
            batches(sizes, 100, 1000),
            vec![vec![1], vec![2], vec![3, 4]]
        );
    }

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

    #[test]
    fn backoff_doubles_to_the_cap_and_its_jitter_varies() {
        let max = Duration::from_secs(60);
        // Each delay is its base (1 s, 2 s, 4 s … capped at `max`) ±25 %.
        let mut b = Backoff::new(max);
        let delays: Vec<Duration> = (0..12).map(|_| b.next_delay()).collect();
        for (i, d) in delays.iter().enumerate() {
            let base = Duration::from_secs(1 << i).min(max);
            assert!(
                *d >= base.mul_f64(0.75) && *d <= base.mul_f64(1.25),
                "attempt {i}: {d:?} is not {base:?} ±25 %"
            );
        }
        // Growth: every delay before the cap is at least 1.2× the one before
        // (the worst case, 0.75·2b after 1.25·b).
        for w in delays[..7].windows(2) {
            assert!(w[1].as_secs_f64() >= 1.2 * w[0].as_secs_f64(), "{delays:?}");
        }
        assert!(
            delays[11] >= Duration::from_secs(45),
            "capped, not reset: {delays:?}"
        );
        // Jitter: 40 first delays are not all the same, and spread over
        // more than a tenth of the ±25 % window.
        let firsts: Vec<f64> = (0..40)
            .map(|_| Backoff::new(max).next_delay().as_secs_f64())
            .collect();
        let lo = firsts.iter().cloned().fold(f64::MAX, f64::min);
        let hi = firsts.iter().cloned().fold(f64::MIN, f64::max);
        assert!(hi - lo > 0.05, "jitter does not vary: {firsts:?}");
    }
}
