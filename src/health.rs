//! How each mailbox is doing: the one registry the sources feed and the ops
//! endpoint ([`crate::http`]), the metrics and the admin alerts read.
//!
//! A source reports at the points it already has: [`Registry::connected`]
//! after login, [`Registry::checked`] after each pass that read the folder to
//! its end (so a mailbox in IDLE counts as checked when IDLE is renewed),
//! [`Registry::failed`] when a session ends in an error. Whoever else learns
//! that a mailbox cannot work (an OAuth2 token refresh refused) calls
//! [`Registry::failed`] too, and [`Registry::set_token_expiry`] for the
//! token's lifetime. Times are unix milliseconds from the caller, so the
//! judgement ([`problems`]) is pure and tested without a clock.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// What is known of one mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxHealth {
    /// How often a healthy mailbox is checked (its poll interval, or the
    /// IDLE re-check): `problems` allows twice this, plus a minute.
    pub expected_every: Duration,
    /// True while a session is logged in.
    pub connected: bool,
    /// The last pass that read the folder to its end.
    pub last_ok_ms: Option<i64>,
    /// Since when it has been failing without a success in between, and why
    /// (the latest error); `None` while it works.
    pub failing: Option<Failing>,
    /// When the mailbox's OAuth2 access token expires (unix ms); `None` for
    /// password mailboxes. Renewed well before: the metric shows it.
    pub token_expires_ms: Option<i64>,
    /// When the sign-in itself ends (unix ms): the refresh token's expiry,
    /// where the provider tells it. After it somebody must sign in again:
    /// the alert warns ahead of it.
    pub sign_in_expires_ms: Option<i64>,
}

/// A mailbox's current run of failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failing {
    pub since_ms: i64,
    pub error: String,
}

/// The mailboxes of this process, shared by every task (behind an `Arc`).
#[derive(Debug, Default)]
pub struct Registry {
    mailboxes: Mutex<BTreeMap<String, MailboxHealth>>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    fn with(&self, mailbox: &str, f: impl FnOnce(&mut MailboxHealth)) {
        let mut all = self.mailboxes.lock().unwrap_or_else(|p| p.into_inner());
        f(all.entry(mailbox.to_string()).or_default());
    }

    /// A mailbox the daemon watches, checked about every `expected_every`.
    /// Registering again (a reload) keeps what is known of it.
    pub fn register(&self, mailbox: &str, expected_every: Duration) {
        self.with(mailbox, |m| m.expected_every = expected_every);
    }

    /// Forgets mailboxes no longer configured (after a reload).
    pub fn retain(&self, keep: &[&str]) {
        let mut all = self.mailboxes.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|name, _| keep.contains(&name.as_str()));
    }

    /// Logged in.
    pub fn connected(&self, mailbox: &str) {
        self.with(mailbox, |m| m.connected = true);
    }

    /// The folder was read to its end at `now_ms`: the mailbox works.
    pub fn checked(&self, mailbox: &str, now_ms: i64) {
        self.with(mailbox, |m| {
            m.connected = true;
            m.last_ok_ms = Some(now_ms);
            m.failing = None;
        });
    }

    /// A session ended in `error` (or a login could not even start). The
    /// run of failures starts at its first one.
    pub fn failed(&self, mailbox: &str, error: &str, now_ms: i64) {
        self.with(mailbox, |m| {
            m.connected = false;
            let since_ms = m.failing.as_ref().map_or(now_ms, |f| f.since_ms);
            m.failing = Some(Failing {
                since_ms,
                error: error.to_string(),
            });
        });
    }

    /// The session ended without an error (shutdown).
    pub fn disconnected(&self, mailbox: &str) {
        self.with(mailbox, |m| m.connected = false);
    }

    /// When the mailbox's OAuth2 access token expires (`None`: no token).
    pub fn set_token_expiry(&self, mailbox: &str, expires_ms: Option<i64>) {
        self.with(mailbox, |m| m.token_expires_ms = expires_ms);
    }

    /// When the mailbox's sign-in ends (`None`: not known, or never).
    pub fn set_sign_in_expiry(&self, mailbox: &str, expires_ms: Option<i64>) {
        self.with(mailbox, |m| m.sign_in_expires_ms = expires_ms);
    }

    /// Every mailbox, by name.
    pub fn snapshot(&self) -> BTreeMap<String, MailboxHealth> {
        self.mailboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Slack on top of twice the expected interval: a check that is running
/// (a large backlog) must not read as a dead mailbox.
const CHECK_SLACK: Duration = Duration::from_secs(60);

/// What is wrong with one mailbox at `now_ms`, in words for an admin;
/// `started` is when a problem started, for how long it has lasted.
pub fn mailbox_problem(name: &str, m: &MailboxHealth, now_ms: i64) -> Option<(String, i64)> {
    if let Some(f) = &m.failing {
        return Some((format!("mailbox {name}: failing: {}", f.error), f.since_ms));
    }
    let allowed = (m.expected_every * 2 + CHECK_SLACK).as_millis() as i64;
    match m.last_ok_ms {
        Some(at) if now_ms - at > allowed => Some((
            format!(
                "mailbox {name}: last checked {} s ago (expected every {} s)",
                (now_ms - at) / 1000,
                m.expected_every.as_secs()
            ),
            at + allowed,
        )),
        Some(_) => None,
        // Not yet checked since the start: a problem only once it is late.
        None => None,
    }
}

/// Every problem of the mailboxes, in name order.
pub fn problems(mailboxes: &BTreeMap<String, MailboxHealth>, now_ms: i64) -> Vec<String> {
    mailboxes
        .iter()
        .filter_map(|(name, m)| mailbox_problem(name, m, now_ms).map(|(p, _)| p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_run_keeps_its_start_and_a_check_ends_it() {
        let r = Registry::new();
        r.register("support", Duration::from_secs(30));
        r.failed("support", "connection refused", 1_000);
        r.failed("support", "login failed", 5_000);
        let m = &r.snapshot()["support"];
        assert_eq!(
            m.failing,
            Some(Failing {
                since_ms: 1_000,
                error: "login failed".into()
            })
        );
        assert!(!m.connected);
        assert_eq!(
            problems(&r.snapshot(), 6_000),
            vec!["mailbox support: failing: login failed".to_string()]
        );
        r.checked("support", 7_000);
        assert!(problems(&r.snapshot(), 7_000).is_empty());
    }

    #[test]
    fn a_mailbox_not_checked_for_too_long_is_a_problem() {
        let r = Registry::new();
        r.register("support", Duration::from_secs(30));
        assert!(
            problems(&r.snapshot(), 10_000_000).is_empty(),
            "never checked yet"
        );
        r.checked("support", 0);
        // 2 × 30 s + 60 s allowed.
        assert!(problems(&r.snapshot(), 120_000).is_empty());
        let p = problems(&r.snapshot(), 121_000);
        assert_eq!(
            p,
            vec!["mailbox support: last checked 121 s ago (expected every 30 s)".to_string()]
        );
    }

    #[test]
    fn reload_keeps_state_and_drops_removed_mailboxes() {
        let r = Registry::new();
        r.register("a", Duration::from_secs(30));
        r.register("b", Duration::from_secs(30));
        r.checked("a", 5);
        r.register("a", Duration::from_secs(60));
        r.retain(&["a"]);
        let s = r.snapshot();
        assert_eq!(s.len(), 1);
        assert_eq!(s["a"].last_ok_ms, Some(5));
        assert_eq!(s["a"].expected_every, Duration::from_secs(60));
    }
}
