//! `[connect]`: how many mailboxes sign in at once.
//!
//! At start every IMAP mailbox connects, and after a server restart every
//! one reconnects within the same second or two (the reconnect backoff
//! starts at 1 s). With 10,000 mailboxes that is 10,000 TCP connections,
//! TLS handshakes and logins arriving together: a server's login processes
//! and per-IP limits refuse or stall many of them, and they all retry in
//! step. So each sign-in (connect, TLS, login) holds one of `concurrency`
//! permits; a mailbox that finds none free first waits a random part of
//! `jitter`, so the waiting ones are spread out instead of queued in
//! lockstep, then queues for a permit. A mailbox that finds one free (the
//! usual case, a desk with a few mailboxes) goes at once: pacing costs it
//! nothing.

use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Semaphore;

/// `[connect]`: sign-ins at once, and the spread of those that wait.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ConnectConfig {
    /// The most mailboxes connecting and signing in at the same time.
    pub concurrency: usize,
    /// A mailbox that has to wait for a turn first waits a random time up
    /// to this.
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub jitter: Duration,
}

impl Default for ConnectConfig {
    fn default() -> ConnectConfig {
        ConnectConfig {
            // A sign-in to Dovecot on loopback takes ~15 ms, to a remote
            // server 100-300 ms (round trips for TCP, TLS and LOGIN). 32 at
            // once bring 2,000 mailboxes up in a few seconds here and 10,000
            // in well under a minute against a remote server, while staying
            // below the connection-rate limits servers put per client
            // address (Dovecot's login processes, provider throttles).
            concurrency: 32,
            // Twice the 1 s first reconnect delay: the mailboxes a server
            // restart dropped together are spread over 2 s before queueing.
            jitter: Duration::from_secs(2),
        }
    }
}

impl ConnectConfig {
    /// What is wrong with the settings, if anything.
    pub fn check(&self) -> Result<(), String> {
        if self.concurrency == 0 {
            return Err("connect.concurrency = 0: no mailbox could ever connect; use 1 or more (default 32)".into());
        }
        Ok(())
    }
}

/// The turns to sign in, shared by every mailbox of a running daemon.
#[derive(Debug)]
pub struct Pacer {
    turns: Semaphore,
    jitter: Duration,
}

impl Pacer {
    pub fn new(cfg: &ConnectConfig) -> Pacer {
        Pacer {
            turns: Semaphore::new(cfg.concurrency.max(1)),
            jitter: cfg.jitter,
        }
    }

    /// Runs `sign_in` in a turn: at once when one is free, else after a
    /// random wait up to `jitter` and then in order.
    pub async fn paced<T>(&self, sign_in: impl Future<Output = T>) -> T {
        let _turn = match self.turns.try_acquire() {
            Ok(turn) => turn,
            Err(_) => {
                tokio::time::sleep(self.jitter.mul_f64(super::jitter_fraction())).await;
                // The semaphore is never closed.
                self.turns
                    .acquire()
                    .await
                    .expect("the pacer is never closed")
            }
        };
        sign_in.await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    // Real time, short: tokio's paused clock needs its test-util feature,
    // which would rebuild tokio and all above it for every test build.

    /// A fake sign-in that takes 20 ms and counts how many run at once.
    async fn sign_in(now: Arc<AtomicUsize>, most: Arc<AtomicUsize>) {
        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
        most.fetch_max(n, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        now.fetch_sub(1, Ordering::SeqCst);
    }

    fn pacer(concurrency: usize, jitter_ms: u64) -> Arc<Pacer> {
        Arc::new(Pacer::new(&ConnectConfig {
            concurrency,
            jitter: Duration::from_millis(jitter_ms),
        }))
    }

    #[tokio::test]
    async fn no_more_than_the_limit_sign_in_at_once_and_all_do() {
        let p = pacer(8, 50);
        let (now, most, done) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (p, now, most, done) = (p.clone(), now.clone(), most.clone(), done.clone());
                tokio::spawn(async move {
                    p.paced(sign_in(now, most)).await;
                    done.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(done.load(Ordering::SeqCst), 64);
        // The limit, and reached: not one at a time either.
        assert_eq!(most.load(Ordering::SeqCst), 8);
    }

    #[tokio::test]
    async fn a_free_turn_is_taken_at_once() {
        let p = pacer(2, 60_000);
        let t0 = std::time::Instant::now();
        p.paced(async {}).await;
        p.paced(async {}).await;
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    }

    #[tokio::test]
    async fn those_that_wait_are_spread_over_the_jitter() {
        // One turn, held for 300 ms. The semaphore serves its queue in order,
        // so 50 mailboxes arriving together and queueing at once would sign
        // in in the order they came; each waits its own part of the jitter
        // first, and they sign in mixed.
        let p = pacer(1, 200);
        let hold = {
            let p = p.clone();
            tokio::spawn(async move {
                p.paced(tokio::time::sleep(Duration::from_millis(300)))
                    .await
            })
        };
        tokio::task::yield_now().await;
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let waiting: Vec<_> = (0..50)
            .map(|i| {
                let (p, order) = (p.clone(), order.clone());
                tokio::spawn(
                    async move { p.paced(async move { order.lock().unwrap().push(i) }).await },
                )
            })
            .collect();
        hold.await.unwrap();
        for w in waiting {
            w.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order.len(), 50);
        assert!(
            order.windows(2).any(|w| w[0] > w[1]),
            "in arrival order: {order:?}"
        );
    }

    #[test]
    fn no_turns_at_all_is_refused() {
        let zero = ConnectConfig {
            concurrency: 0,
            ..ConnectConfig::default()
        };
        assert!(zero.check().unwrap_err().contains("connect.concurrency"));
        assert!(ConnectConfig::default().check().is_ok());
    }
}
