//! The spam filters, as the pipeline asks them: the verdict headers of the
//! filter in front and rspamd (before the transaction, so the single writer
//! never waits on the network), the purge of old spam (in the sweeper's
//! transaction), and the lessons for rspamd's controller (after commits).

use crate::desk::policy::Policy;
use crate::desk::spam::{ActionOutcome, Screen};
use crate::inbound::{self, Inbound, spamverdict};
use crate::store::{Store, StoreError, Tx};

use super::{Engine, Incoming};

/// Lessons tried per call: a backlog drains over a few sweeps rather than
/// holding one batch up.
const LESSONS_PER_CALL: usize = 20;
/// A lesson rspamd keeps refusing is given up after this many tries.
const MAX_LESSON_ATTEMPTS: i64 = 8;

/// What the filters say about each parsed mail, in order.
pub(super) fn screen_all(
    engine: &Engine,
    policy: &Policy,
    items: &[Incoming],
    parsed: &[Result<Inbound, String>],
) -> Vec<Option<Screen>> {
    let rspamd = engine.rspamd().filter(|r| r.can_check());
    if !policy.spam.headers && rspamd.is_none() {
        return vec![None; items.len()];
    }
    let rules = policy.spam.verdict_rules();
    // Once rspamd has failed in a batch, the rest of the batch does not
    // wait on it again: with a 2 s timeout a hung rspamd would otherwise
    // hold a 100-mail batch for over three minutes.
    let mut down: Option<String> = None;
    items
        .iter()
        .zip(parsed)
        .map(|(item, mail)| {
            let mail = mail.as_ref().ok()?;
            let headers = inbound::header_list(&item.raw);
            let mut screen = Screen::default();
            if policy.spam.headers
                && let Some(v) = spamverdict::read(&headers, &rules)
                && v.spam
            {
                screen.verdict = Some((ActionOutcome::Spam, format!("filter header {}", v.by)));
                return Some(screen);
            }
            let r = rspamd?;
            if let Some(why) = &down {
                screen.failed = Some(format!("rspamd not asked: {why}"));
                return Some(screen);
            }
            let started = std::time::Instant::now();
            match r.check(&item.raw, &crate::rspamd::envelope_of(&headers, mail)) {
                Ok(c) => {
                    let outcome = policy.spam.action(&c.action);
                    tracing::debug!(action = %c.action, score = c.score, took = ?started.elapsed(), "rspamd");
                    screen.verdict = Some((
                        outcome,
                        format!(
                            "rspamd: {} (score {:.2} / {:.2})",
                            c.action, c.score, c.required
                        ),
                    ));
                }
                Err(why) => {
                    tracing::warn!(error = %why, "rspamd could not be asked; the mail goes on as not spam");
                    down = Some(why.clone());
                    screen.failed = Some(why);
                }
            }
            Some(screen)
        })
        .collect()
}

/// Purges spam tickets older than `spam.purge-after` (a bounded number per sweep).
pub(super) fn purge(tx: &Tx<'_>, policy: &Policy, now_ms: i64) -> Result<(), StoreError> {
    let Some(age) = policy.spam.purge_after else {
        return Ok(());
    };
    let before = now_ms - age.as_millis() as i64;
    let purged = tx.purge_spam(before, policy.spam.purge_keep_raw, 200, now_ms)?;
    if !purged.is_empty() {
        tracing::info!(tickets = purged.len(), "purged old spam");
    }
    Ok(())
}

/// Sends the lessons that are due to rspamd's controller. Never fails the
/// caller: what cannot be sent now is tried again later (backing off, at
/// most [`MAX_LESSON_ATTEMPTS`] times), and every outcome is logged.
pub(super) fn teach(store: &mut Store, engine: &Engine, now_ms: i64) {
    let Some(r) = engine.rspamd().filter(|r| r.can_learn()) else {
        return;
    };
    let due = match store.pending_spam_lessons(now_ms, LESSONS_PER_CALL) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "reading lessons for rspamd");
            return;
        }
    };
    for lesson in due {
        let (result, retry_at) = match &lesson.raw {
            None => (
                "the mail is gone (purged); nothing to learn".to_string(),
                None,
            ),
            Some(raw) => match r.learn(raw, lesson.spam) {
                Ok(answer) => (answer, None),
                Err(why) if lesson.attempts + 1 >= MAX_LESSON_ATTEMPTS => (
                    format!("gave up after {} tries: {why}", lesson.attempts + 1),
                    None,
                ),
                Err(why) => {
                    // 1, 2, 4 … minutes, at most an hour.
                    let wait = (60_000i64 << lesson.attempts.min(6)).min(3_600_000);
                    (why, Some(now_ms + wait))
                }
            },
        };
        tracing::info!(ticket = lesson.ticket, spam = lesson.spam, result = %result, retry = retry_at.is_some(), "rspamd lesson");
        if let Err(e) = store.spam_lesson_result(lesson.id, &result, retry_at, now_ms) {
            tracing::warn!(error = %e, "recording a lesson's result");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{process_batch, sweep};
    use super::*;
    use crate::config::Config;

    const DAY: i64 = 86_400_000;

    fn engine(dir: &std::path::Path, purge: bool) -> Engine {
        let mut cfg = Config::embedded(dir);
        cfg.desk.address = "helpdesk@example.test".into();
        cfg.desk.first_ticket_number = 100;
        if purge {
            cfg.spam.purge_after = Some(std::time::Duration::from_secs(30 * 86_400));
        }
        Engine::new(cfg).unwrap()
    }

    fn item(raw: &str) -> Incoming {
        Incoming {
            raw: raw.replace('\n', "\r\n").into_bytes(),
            uid: None,
        }
    }

    /// The filter's verdict above our server's Received line, and a
    /// sender's forged "clean" one below it.
    const SPAM: &str = "X-Spam-Flag: YES\nX-Spam-Status: Yes, score=12.1 required=5.0 tests=BAYES_99,URIBL_BLACK\n\
Received: from mail.sender.example ([203.0.113.9]) by mx.example.test (Postfix) with ESMTP id 4Q2b3c; Wed, 2 Dec 2026 05:01:02 +0000\n\
X-Spam-Flag: NO\nFrom: Deals <deals@sender.example>\nTo: helpdesk@example.test\nSubject: Cheap watches\n\
Message-ID: <s1@sender.example>\n\nBuy now.\n";
    /// The same words, but the verdict is the sender's own (below Received).
    const FORGED: &str = "Received: from mail.sender.example ([203.0.113.9]) by mx.example.test (Postfix) with ESMTP id 4Q2b3d; Wed, 2 Dec 2026 05:01:03 +0000\n\
X-Spam-Flag: YES\nFrom: Ann <ann@corp.test>\nTo: helpdesk@example.test\nSubject: VPN down\n\
Message-ID: <r1@corp.test>\n\nIt does not connect.\n";

    #[test]
    fn the_filters_header_makes_a_spam_ticket_and_a_senders_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path(), false);
        let mut store = e.open_store().unwrap();
        let t = process_batch(
            &mut store,
            &e,
            "inbox",
            &[item(SPAM), item(FORGED)],
            None,
            1000,
        )
        .unwrap();
        assert_eq!(t.created, 2);
        assert_eq!(t.queued, 1, "only the real request is acknowledged");
        let spam = store.ticket_detail(100).unwrap().unwrap();
        assert_eq!(spam.ticket.status, "spam");
        assert!(
            spam.events.iter().any(|ev| ev.kind == "status"
                && ev
                    .detail
                    .as_deref()
                    .is_some_and(|d| d.contains("X-Spam-Flag: YES"))),
            "{:?}",
            spam.events
        );
        assert_eq!(
            store.ticket_detail(101).unwrap().unwrap().ticket.status,
            "new"
        );
    }

    #[test]
    fn old_spam_is_purged_by_the_sweeper_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path(), true);
        let mut store = e.open_store().unwrap();
        process_batch(
            &mut store,
            &e,
            "inbox",
            &[item(SPAM), item(FORGED)],
            None,
            1000,
        )
        .unwrap();
        // 29 days on: kept.
        sweep(&mut store, &e, 1000 + 29 * DAY).unwrap();
        let spam = store.ticket_detail(100).unwrap().unwrap();
        assert!(spam.messages[0].body.contains("Buy now"));
        // 31 days on: purged, the rows kept, the clean ticket untouched.
        sweep(&mut store, &e, 1000 + 31 * DAY).unwrap();
        let spam = store.ticket_detail(100).unwrap().unwrap();
        assert_eq!(spam.messages[0].body, "");
        assert!(
            spam.events.iter().any(|ev| ev.kind == "spam-purged"),
            "{:?}",
            spam.events
        );
        let clean = store.ticket_detail(101).unwrap().unwrap();
        assert!(clean.messages[0].body.contains("It does not connect"));
        // The same spam delivered again is still known: no second ticket.
        let t = process_batch(
            &mut store,
            &e,
            "inbox",
            &[item(SPAM)],
            None,
            1000 + 32 * DAY,
        )
        .unwrap();
        assert_eq!((t.created, t.duplicates), (0, 1));
    }
}
