//! Spam's SQL: the queue of lessons for rspamd (`#spam`/`#notspam`), the
//! purge of old spam tickets; and the refusals of senders outside the
//! desk's scope.

use rusqlite::{OptionalExtension, params};

use super::{Ctx, EventRecord, Store, StoreError, Tx};

/// A lesson waiting for rspamd's controller: the ticket's request, raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLesson {
    pub id: i64,
    pub ticket: i64,
    pub spam: bool,
    pub attempts: i64,
    /// The raw mail that opened the ticket; `None` when it is gone (purged).
    pub raw: Option<Vec<u8>>,
}

/// A lesson as listed (`postdesk tickets --spam` shows the last one).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lesson {
    pub ticket: i64,
    pub spam: bool,
    pub attempts: i64,
    pub done_at: Option<i64>,
    pub result: Option<String>,
}

impl Tx<'_> {
    /// Queues a lesson for rspamd (sent after this transaction commits).
    pub fn queue_spam_lesson(&self, ticket: i64, spam: bool, now: i64) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT INTO spam_learning (ticket, spam, queued_at, next_at) VALUES (?1, ?2, ?3, ?3)",
                params![ticket, spam as i64, now],
            )
            .ctx("queueing a lesson for rspamd")?;
        Ok(())
    }

    /// Whether `sender` got a refusal for being outside the desk's scope
    /// since `since` (see [`crate::desk::scope`]).
    pub fn refused_since(&self, sender: &str, since: i64) -> Result<bool, StoreError> {
        self.tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM refusals WHERE sender = ?1 AND at >= ?2)")
            .and_then(|mut s| s.query_row(params![sender, since], |r| r.get(0)))
            .ctx("looking up refusals")
    }

    /// Records that `sender` was refused at `at`.
    pub fn record_refusal(&self, sender: &str, at: i64) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("INSERT INTO refusals (sender, at) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![sender, at]))
            .ctx("recording a refusal")?;
        Ok(())
    }

    /// Who made `address` a watcher of the tickets it still watches (the
    /// actors of their `watcher-added` events, at most 20): an agent's
    /// name, or the requester whose Cc it was.
    pub fn watcher_added_by(&self, address: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT DISTINCT e.actor FROM watchers w JOIN events e ON e.ticket = w.ticket \
                 WHERE w.address = ?1 AND e.kind = 'watcher-added' AND e.new = ?1 LIMIT 20",
            )
            .ctx("looking up who added a watcher")?;
        let rows = stmt
            .query_map(params![address], |r| r.get(0))
            .ctx("looking up who added a watcher")?;
        rows.collect::<Result<Vec<String>, _>>()
            .ctx("looking up who added a watcher")
    }

    /// Purges spam tickets created before `before` (at most `limit`): their
    /// messages lose text, HTML and attachments, and their raw bytes unless
    /// `keep_raw`; the rows stay (threading and the exactly-once rule still
    /// know their Message-IDs). Returns the tickets purged.
    pub fn purge_spam(
        &self,
        before: i64,
        keep_raw: bool,
        limit: usize,
        now: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let numbers: Vec<i64> = {
            let mut stmt = self
                .tx
                .prepare_cached(
                    "SELECT number FROM tickets WHERE status = 'spam' AND created_at < ?1
                     AND spam_purged_at IS NULL ORDER BY created_at LIMIT ?2",
                )
                .ctx("finding spam to purge")?;
            let rows = stmt
                .query_map(params![before, limit as i64], |r| r.get(0))
                .ctx("finding spam to purge")?;
            rows.collect::<Result<_, _>>()
                .ctx("finding spam to purge")?
        };
        for &n in &numbers {
            self.tx
                .execute(
                    "DELETE FROM attachments WHERE message IN (SELECT id FROM messages WHERE ticket = ?1)",
                    params![n],
                )
                .ctx("purging spam attachments")?;
            let raw = if keep_raw { "raw" } else { "x''" };
            self.tx
                .execute(
                    &format!(
                        "UPDATE messages SET body = '', html = NULL, raw = {raw} WHERE ticket = ?1 AND direction = 'in'"
                    ),
                    params![n],
                )
                .ctx("purging spam messages")?;
            self.tx
                .execute(
                    "UPDATE tickets SET spam_purged_at = ?2 WHERE number = ?1",
                    params![n, now],
                )
                .ctx("marking spam purged")?;
            let detail = if keep_raw {
                "old spam purged: text and attachments removed, raw mail kept (spam.purge-keep-raw)"
            } else {
                "old spam purged: text, attachments and raw mail removed (spam.purge-after)"
            };
            self.insert_event(&EventRecord {
                ticket: n,
                at: now,
                actor: "postdesk",
                kind: "spam-purged",
                old: None,
                new: None,
                detail: Some(detail),
            })?;
        }
        Ok(numbers)
    }
}

impl Store {
    /// Lessons due at `now`, oldest first, with the raw request of each.
    pub fn pending_spam_lessons(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<PendingLesson>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT l.id, l.ticket, l.spam, l.attempts,
                        m.raw, m.raw_codec
                 FROM spam_learning l
                 LEFT JOIN messages m ON m.id = (SELECT f.id FROM messages f
                     WHERE f.ticket = l.ticket AND f.direction = 'in' ORDER BY f.id LIMIT 1)
                 WHERE l.done_at IS NULL AND l.next_at <= ?1
                 ORDER BY l.id LIMIT ?2",
            )
            .ctx("reading lessons for rspamd")?;
        let rows = stmt
            .query_map(params![now, limit as i64], |r| {
                let raw: Option<Vec<u8>> = r.get(4)?;
                let codec: Option<i64> = r.get(5)?;
                Ok((
                    PendingLesson {
                        id: r.get(0)?,
                        ticket: r.get(1)?,
                        spam: r.get::<_, i64>(2)? == 1,
                        attempts: r.get(3)?,
                        raw: None,
                    },
                    raw.zip(codec),
                ))
            })
            .ctx("reading lessons for rspamd")?;
        // rspamd is taught the request as it came, not as it is stored
        // (zstd since migration 018: it once learned the compressed bytes).
        let mut out = Vec::new();
        for row in rows {
            let (mut lesson, stored) = row.ctx("reading lessons for rspamd")?;
            if let Some((raw, codec)) = stored {
                lesson.raw = Some(super::packed::unpack(raw, codec)?).filter(|b| !b.is_empty());
            }
            out.push(lesson);
        }
        Ok(out)
    }

    /// Records how a lesson went: done (with rspamd's answer), or to be
    /// tried again at `retry_at`.
    pub fn spam_lesson_result(
        &mut self,
        id: i64,
        result: &str,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        let tx = self.transaction()?;
        let ticket: Option<(i64, i64)> = tx
            .tx
            .query_row(
                "SELECT ticket, spam FROM spam_learning WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .ctx("reading a lesson")?;
        match retry_at {
            Some(at) => tx.tx.execute(
                "UPDATE spam_learning SET attempts = attempts + 1, next_at = ?2, result = ?3 WHERE id = ?1",
                params![id, at, result],
            ),
            None => tx.tx.execute(
                "UPDATE spam_learning SET attempts = attempts + 1, done_at = ?2, result = ?3 WHERE id = ?1",
                params![id, now, result],
            ),
        }
        .ctx("recording a lesson's result")?;
        if let (Some((ticket, spam)), None) = (ticket, retry_at) {
            let kind = if spam == 1 {
                "spam-learned"
            } else {
                "ham-learned"
            };
            tx.insert_event(&EventRecord {
                ticket,
                at: now,
                actor: "postdesk",
                kind,
                old: None,
                new: None,
                detail: Some(result),
            })?;
        }
        tx.commit()
    }

    /// Every lesson of a ticket, oldest first.
    pub fn spam_lessons(&self, ticket: i64) -> Result<Vec<Lesson>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT ticket, spam, attempts, done_at, result FROM spam_learning
                 WHERE ticket = ?1 ORDER BY id",
            )
            .ctx("reading a ticket's lessons")?;
        let rows = stmt
            .query_map(params![ticket], |r| {
                Ok(Lesson {
                    ticket: r.get(0)?,
                    spam: r.get::<_, i64>(1)? == 1,
                    attempts: r.get(2)?,
                    done_at: r.get(3)?,
                    result: r.get(4)?,
                })
            })
            .ctx("reading a ticket's lessons")?;
        rows.collect::<Result<_, _>>()
            .ctx("reading a ticket's lessons")
    }
}
