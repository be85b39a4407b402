//! Alerts to the admins by mail (`desk.admin`): one mail when a condition
//! starts, one when it ends, never one per retry.
//!
//! The conditions, each with a key that names it:
//! - `mailbox:NAME`: the mailbox has been failing (login refused, server
//!   unreachable, certificate refused, token refresh refused) for longer
//!   than `mailbox-failing-for`;
//! - `token:NAME`: its OAuth2 sign-in (the refresh token, where the
//!   provider says when it expires) ends within `token-expires-within`;
//! - `outbox`: a queued mail is older than `outbox-older-than`;
//! - `quarantine`: at least `quarantine-growth` mails were quarantined in
//!   the last `quarantine-window`;
//! - `disk`: the database's file system has less than `disk-free-percent`
//!   free.
//!
//! What was announced is kept in the database (`alerts`), so a restart
//! neither repeats a start nor forgets an end. Alert mail goes through the
//! outbox like all mail, marked `Auto-Submitted: auto-generated`, and at
//! most `max-mails-per-hour` are queued: a change over the limit waits for
//! a later check (the state says it is still to be told).

use std::collections::BTreeMap;
use std::path::Path;

pub mod settings;

pub use settings::AlertsConfig;

use crate::address::Mailbox;
use crate::compose::{Letter, compose};
use crate::health::MailboxHealth;
use crate::pipeline::Engine;
use crate::store::{Announced, Store, StoreError};

/// What the checks look at.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub mailboxes: BTreeMap<String, MailboxHealth>,
    pub outbox_queued: i64,
    pub outbox_oldest_seconds: f64,
    /// Quarantined within the window, and when the first of those was.
    pub quarantined_recent: i64,
    pub quarantined_first_at: Option<i64>,
    /// (bytes available, bytes in all) of the database's file system.
    pub disk: Option<(u64, u64)>,
}

/// A condition that holds now: since when, and what it is, for an admin.
/// `since` is when it began where that is known (a mailbox's first
/// failure, the oldest queued mail, the first mail quarantined in the
/// window), else when it was first seen (low disk, a token's expiry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub since: i64,
    pub summary: String,
}

/// The conditions that hold at `now_ms`, by key.
pub fn conditions(cfg: &AlertsConfig, o: &Observed, now_ms: i64) -> BTreeMap<String, Condition> {
    let mut out = BTreeMap::new();
    let failing_for = cfg.mailbox_failing_for.as_millis() as i64;
    for (name, m) in &o.mailboxes {
        if let Some(f) = &m.failing
            && now_ms - f.since_ms >= failing_for
        {
            out.insert(
                format!("mailbox:{name}"),
                Condition {
                    since: f.since_ms,
                    summary: format!("mailbox {name} is failing: {}", f.error),
                },
            );
        }
        // The sign-in's end, not the access token's: that one lasts an hour
        // and is renewed before it ends; an alert on it would never stop.
        if let Some(exp) = m.sign_in_expires_ms
            && exp - now_ms <= cfg.token_expires_within.as_millis() as i64
        {
            out.insert(
                format!("token:{name}"),
                Condition {
                    since: now_ms,
                    summary: format!(
                        "mailbox {name}: its OAuth2 sign-in ends in {} h (then `postdesk auth login {name}` again)",
                        (exp - now_ms).max(0) / 3_600_000
                    ),
                },
            );
        }
    }
    if o.outbox_queued > 0 && o.outbox_oldest_seconds >= cfg.outbox_older_than.as_secs_f64() {
        out.insert(
            "outbox".into(),
            Condition {
                since: now_ms - (o.outbox_oldest_seconds * 1000.0) as i64,
                summary: format!(
                    "the outbox holds {} mails; the oldest has waited {} min",
                    o.outbox_queued,
                    (o.outbox_oldest_seconds / 60.0) as i64
                ),
            },
        );
    }
    if o.quarantined_recent >= cfg.quarantine_growth {
        out.insert(
            "quarantine".into(),
            Condition {
                since: o.quarantined_first_at.unwrap_or(now_ms),
                summary: format!(
                    "{} mails were quarantined in the last {} min",
                    o.quarantined_recent,
                    cfg.quarantine_window.as_secs() / 60
                ),
            },
        );
    }
    if let Some((avail, total)) = o.disk
        && total > 0
        && avail.saturating_mul(100) < total.saturating_mul(u64::from(cfg.disk_free_percent))
    {
        out.insert(
            "disk".into(),
            Condition {
                since: now_ms,
                summary: format!(
                    "the database's disk has {} MB free of {} MB",
                    avail >> 20,
                    total >> 20
                ),
            },
        );
    }
    out
}

/// What to tell: conditions that started, announced ones that ended.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub started: Vec<(String, Condition)>,
    pub ended: Vec<Announced>,
}

/// The difference between what was announced and what holds now. A
/// condition that still holds is not told again, whatever its text says now.
/// A mailbox's alert ends only once the mailbox was read again (or is no
/// longer configured): after a restart the daemon knows nothing of its
/// mailboxes until it tries them, and a failure that restarted its clock
/// is not a recovery.
pub fn changes(
    announced: &BTreeMap<String, Announced>,
    now: &BTreeMap<String, Condition>,
    mailboxes: &BTreeMap<String, MailboxHealth>,
) -> Changes {
    let may_end = |key: &str| match key.strip_prefix("mailbox:") {
        Some(name) => mailboxes
            .get(name)
            .is_none_or(|m| m.failing.is_none() && m.last_ok_ms.is_some()),
        None => true,
    };
    Changes {
        started: now
            .iter()
            .filter(|(k, _)| !announced.contains_key(*k))
            .map(|(k, c)| (k.clone(), c.clone()))
            .collect(),
        ended: announced
            .values()
            .filter(|a| !now.contains_key(&a.key) && may_end(&a.key))
            .cloned()
            .collect(),
    }
}

/// Free and total bytes of the file system holding `path`.
pub fn disk_space(path: &Path) -> Option<(u64, u64)> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let s = rustix::fs::statvfs(dir).ok()?;
    Some((s.f_bavail * s.f_frsize, s.f_blocks * s.f_frsize))
}

fn when(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// Checks the conditions and queues the mails the changes need; returns
/// how many were queued.
pub fn check(
    store: &mut Store,
    engine: &Engine,
    observed: &Observed,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let cfg = &engine.config;
    if cfg.desk.admin.is_empty() {
        return Ok(0);
    }
    let now = conditions(&cfg.alerts, observed, now_ms);
    let announced = store.announced_alerts()?;
    let Changes { started, ended } = changes(&announced, &now, &observed.mailboxes);
    if started.is_empty() && ended.is_empty() {
        return Ok(0);
    }
    let to: Vec<Mailbox> = cfg
        .desk
        .admin
        .iter()
        .map(|a| Mailbox::new(None, a))
        .collect();
    let policy = engine.policy();
    let host = &cfg.desk.name;
    let tx = store.transaction()?;
    let mut room = cfg.alerts.max_mails_per_hour - tx.alert_mails_since(now_ms - 3_600_000)?;
    let mut queued = 0;
    let mut held = 0;
    for (key, c) in &started {
        if room <= 0 {
            held += 1;
            continue;
        }
        let subject = format!("[{host}] ALERT: {}", c.summary);
        let text = format!(
            "{}\n\nSince: {}\nCondition: {key}\n\nYou get one more mail when this ends.\n\
             Details: `postdesk check`, /healthz, and the daemon's log.\n",
            c.summary,
            when(c.since)
        );
        let Some(mail) = letter(policy, &to, &subject, text, now_ms) else {
            continue;
        };
        let a = Announced {
            key: key.clone(),
            since: c.since,
            summary: c.summary.clone(),
        };
        tx.alert_started(&a, &mail.record())?;
        tracing::warn!(alert = %key, "alert: {}", c.summary);
        room -= 1;
        queued += 1;
    }
    for a in &ended {
        if room <= 0 {
            held += 1;
            continue;
        }
        let subject = format!("[{host}] RESOLVED: {}", a.summary);
        let text = format!(
            "Resolved: {}\n\nStarted: {}\nEnded: {}\nCondition: {}\n",
            a.summary,
            when(a.since),
            when(now_ms),
            a.key
        );
        let Some(mail) = letter(policy, &to, &subject, text, now_ms) else {
            continue;
        };
        tx.alert_ended(&a.key, &mail.record())?;
        tracing::info!(alert = %a.key, "alert ended: {}", a.summary);
        room -= 1;
        queued += 1;
    }
    tx.commit()?;
    if held > 0 {
        tracing::warn!(
            held,
            limit = cfg.alerts.max_mails_per_hour,
            "alert mails held back by alerts.max-mails-per-hour; they go out later"
        );
    }
    Ok(queued)
}

fn letter<'a>(
    policy: &crate::desk::policy::Policy,
    to: &'a [Mailbox],
    subject: &'a str,
    text: String,
    now_ms: i64,
) -> Option<crate::compose::Composed<'a>> {
    let letter = Letter {
        ticket: None,
        kind: "alert",
        from_name: None,
        to,
        subject,
        in_reply_to: None,
        references: &[],
        auto_submitted: Some("auto-generated"),
        text,
        html: None,
    };
    match compose(policy, letter, now_ms) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::error!(error = %e, "could not build an alert mail");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Failing;
    use std::time::Duration;

    fn failing(since_ms: i64) -> MailboxHealth {
        MailboxHealth {
            failing: Some(Failing {
                since_ms,
                error: "connection refused".into(),
            }),
            ..MailboxHealth::default()
        }
    }

    #[test]
    fn a_mailbox_alerts_only_after_failing_long_enough() {
        let cfg = AlertsConfig {
            mailbox_failing_for: Duration::from_secs(60),
            ..AlertsConfig::default()
        };
        let mut o = Observed::default();
        o.mailboxes.insert("support".into(), failing(0));
        assert!(conditions(&cfg, &o, 59_999).is_empty());
        let c = conditions(&cfg, &o, 60_000);
        assert_eq!(
            c["mailbox:support"],
            Condition {
                since: 0,
                summary: "mailbox support is failing: connection refused".into()
            }
        );
    }

    #[test]
    fn outbox_quarantine_disk_and_token() {
        let cfg = AlertsConfig::default();
        let mut o = Observed {
            outbox_queued: 3,
            outbox_oldest_seconds: 3600.0,
            quarantined_recent: 10,
            disk: Some((4, 100)),
            ..Observed::default()
        };
        o.mailboxes.insert(
            "m".into(),
            MailboxHealth {
                sign_in_expires_ms: Some(1_000 + 6 * 24 * 3_600_000),
                // An access token about to be renewed is no alert.
                token_expires_ms: Some(1_000 + 60_000),
                ..MailboxHealth::default()
            },
        );
        let now = 10_000_000;
        o.quarantined_first_at = Some(now - 120_000);
        let c = conditions(&cfg, &o, now);
        let keys: Vec<&str> = c.keys().map(String::as_str).collect();
        assert_eq!(keys, ["disk", "outbox", "quarantine", "token:m"]);
        // Since when each began, where that is known.
        assert_eq!(c["outbox"].since, now - 3_600_000, "the oldest queued mail");
        assert_eq!(
            c["quarantine"].since,
            now - 120_000,
            "the first in the window"
        );
        assert_eq!(c["disk"].since, now, "first seen");
        let keys: Vec<String> = conditions(&cfg, &o, 1_000).into_keys().collect();
        assert_eq!(keys, ["disk", "outbox", "quarantine", "token:m"]);
        o.outbox_oldest_seconds = 3599.0;
        o.quarantined_recent = 9;
        o.disk = Some((5, 100));
        o.mailboxes.get_mut("m").unwrap().sign_in_expires_ms = Some(1_000 + 8 * 24 * 3_600_000);
        assert!(conditions(&cfg, &o, 1_000).is_empty());
    }

    #[test]
    fn a_condition_is_told_once_when_it_starts_and_once_when_it_ends() {
        let c = Condition {
            since: 5,
            summary: "x".into(),
        };
        let mut now = BTreeMap::new();
        now.insert("outbox".to_string(), c.clone());
        let none = BTreeMap::new();
        let ch = changes(&none, &now, &none_health());
        assert_eq!(ch.started, vec![("outbox".to_string(), c)]);
        assert!(ch.ended.is_empty());
        let mut announced = BTreeMap::new();
        let a = Announced {
            key: "outbox".into(),
            since: 5,
            summary: "x".into(),
        };
        announced.insert("outbox".to_string(), a.clone());
        assert_eq!(
            changes(&announced, &now, &none_health()),
            Changes::default(),
            "still on: nothing new"
        );
        let ch = changes(&announced, &BTreeMap::new(), &none_health());
        assert_eq!(ch.ended, vec![a]);
    }

    fn none_health() -> BTreeMap<String, MailboxHealth> {
        BTreeMap::new()
    }

    #[test]
    fn a_mailbox_alert_ends_only_when_the_mailbox_was_read_again() {
        let mut announced = BTreeMap::new();
        announced.insert(
            "mailbox:support".to_string(),
            Announced {
                key: "mailbox:support".into(),
                since: 0,
                summary: "mailbox support is failing".into(),
            },
        );
        let quiet = BTreeMap::new();
        let mut boxes = BTreeMap::new();
        // Just restarted: nothing known yet.
        boxes.insert("support".to_string(), MailboxHealth::default());
        assert!(changes(&announced, &quiet, &boxes).ended.is_empty());
        // Failing again, not yet long enough to be a condition of its own.
        boxes.insert("support".to_string(), failing(10));
        assert!(changes(&announced, &quiet, &boxes).ended.is_empty());
        let ok = MailboxHealth {
            last_ok_ms: Some(20),
            ..MailboxHealth::default()
        };
        boxes.insert("support".to_string(), ok);
        assert_eq!(changes(&announced, &quiet, &boxes).ended.len(), 1);
        // No longer configured.
        assert_eq!(changes(&announced, &quiet, &BTreeMap::new()).ended.len(), 1);
    }
}
