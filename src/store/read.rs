//! Reads for people: ticket lists, a ticket's timeline, the outbox, the quarantine.

use rusqlite::{OptionalExtension, params};

use super::{Ctx, Store, StoreError};
use crate::desk::sla::Pause;
use crate::desk::sla::status::SlaFacts;
use crate::desk::ticket::Status;

/// Which tickets to list; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub status: Option<String>,
    pub priority: Option<String>,
    pub category: Option<String>,
    pub team: Option<String>,
    pub assignee: Option<String>,
    /// Words in the subject, the requester's address or any message.
    pub text: Option<String>,
    /// Only new, open and pending tickets.
    pub active_only: bool,
    /// Only tickets the SLA schedule says can be due by then.
    pub sla_due: Option<SlaDue>,
}

/// Narrows a listing to tickets that can be overdue or due soon, by the
/// indexed schedule columns (migration 017): a superset, which the caller
/// filters exactly. Only sound while the schedule was computed with the
/// caller's rules (`Store::sla_schedule_basis`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaDue {
    /// Tickets marked for the sweep by then are unscheduled: always kept.
    pub now: i64,
    /// Keep tickets with a target due by then.
    pub due_by: i64,
    /// Drop tickets whose clock stands (for "overdue" only).
    pub running_only: bool,
}

/// A ticket as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TicketRow {
    pub number: i64,
    pub status: String,
    pub priority: Option<String>,
    pub subject: String,
    pub requester: String,
    pub requester_name: Option<String>,
    pub mailbox: String,
    pub lang: String,
    pub assignee: Option<String>,
    pub team: Option<String>,
    pub category: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub reply_by: Option<i64>,
    pub first_response_at: Option<i64>,
}

/// One stored mail of a ticket.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MessageRow {
    pub id: i64,
    pub direction: String,
    pub kind: String,
    pub message_id: String,
    pub from_addr: Option<String>,
    /// The sender's display name as the mail gave it.
    pub from_name: Option<String>,
    pub to_addrs: String,
    pub subject: String,
    pub body: String,
    pub at: i64,
    pub attachments: Vec<(String, i64)>,
    /// Delivery state for outgoing mail: queued, sent or failed.
    pub delivery: Option<String>,
}

/// One entry of a ticket's audit trail.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EventRow {
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub detail: Option<String>,
}

/// A ticket with its whole timeline.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TicketDetail {
    pub ticket: TicketRow,
    pub messages: Vec<MessageRow>,
    pub events: Vec<EventRow>,
    /// Since when the desk sends nothing about it (a mail loop is likely,
    /// see `desk::flood`), if it is paused.
    pub paused_since: Option<i64>,
}

/// An outbox entry as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub ticket: Option<i64>,
    pub rcpt: String,
    pub subject: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// A quarantined message as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuarantineRow {
    pub id: i64,
    pub mailbox: String,
    pub uid: Option<i64>,
    pub error: String,
    pub size: i64,
    pub at: i64,
    pub released_at: Option<i64>,
}

/// How often processing one mailbox's mail panicked ([`Store::mailbox_panics`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MailboxPanics {
    pub mailbox: String,
    pub count: i64,
    pub last_at: i64,
    pub last_error: String,
}

const TICKET_COLUMNS: &str =
    "number, status, priority, subject, requester, requester_name, mailbox, lang, assignee, team,
     created_at, updated_at, reply_by, first_response_at, category";

/// The conditions of a [`TicketFilter`], bound as ?1 to ?7 in its field
/// order (the text as [`search_pattern`]). Spam is listed only when asked
/// for by status (`postdesk tickets --spam`).
const TICKET_FILTER: &str = "(?1 IS NULL OR status = ?1) AND (?2 IS NULL OR priority = ?2)
    AND (?3 IS NULL OR category = ?3) AND (?4 IS NULL OR team = ?4)
    AND (?5 IS NULL OR assignee = ?5)
    AND (?6 IS NULL OR subject LIKE ?6 OR requester LIKE ?6
         OR number IN (SELECT ticket FROM messages WHERE body LIKE ?6))
    AND (?7 = 0 OR status IN ('new', 'open', 'pending'))
    AND (?1 IS NOT NULL OR status != 'spam')";

/// The filter's words as a LIKE pattern (their own `%` and `_` dropped).
fn search_pattern(f: &TicketFilter) -> Option<String> {
    f.text
        .as_ref()
        .map(|t| format!("%{}%", t.replace(['%', '_'], "")))
}

fn ticket_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TicketRow> {
    Ok(TicketRow {
        number: r.get(0)?,
        status: r.get(1)?,
        priority: r.get(2)?,
        subject: r.get(3)?,
        requester: r.get(4)?,
        requester_name: r.get(5)?,
        mailbox: r.get(6)?,
        lang: r.get(7)?,
        assignee: r.get(8)?,
        team: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
        reply_by: r.get(12)?,
        first_response_at: r.get(13)?,
        category: r.get(14)?,
    })
}

impl Store {
    /// Tickets, newest first, optionally only those in `status`.
    pub fn tickets(&self, f: &TicketFilter, limit: usize) -> Result<Vec<TicketRow>, StoreError> {
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE {TICKET_FILTER}
             ORDER BY number DESC LIMIT ?8"
        );
        let search = search_pattern(f);
        let mut stmt = self.conn.prepare(&sql).ctx("preparing ticket list")?;
        let rows = stmt
            .query_map(
                params![
                    f.status,
                    f.priority,
                    f.category,
                    f.team,
                    f.assignee,
                    search,
                    f.active_only,
                    limit as i64
                ],
                ticket_row,
            )
            .ctx("listing tickets")?;
        rows.collect::<Result<_, _>>().ctx("listing tickets")
    }

    /// [`Store::tickets`] with what each ticket's SLA standing needs, in
    /// one query (pauses joined, not read per ticket). `limit: None` lists
    /// every match, for a caller that filters by SLA before it counts.
    pub fn tickets_with_sla(
        &self,
        f: &TicketFilter,
        limit: Option<usize>,
    ) -> Result<Vec<(TicketRow, SlaFacts)>, StoreError> {
        // The filter and limit pick tickets first; the join then adds their
        // pauses, so a ticket with many pauses still counts once. `t.*` is
        // the subquery's list: TICKET_COLUMNS (0-14), resolved_at, closed_at;
        // then the pause (17, 18), NULL for a ticket without one.
        // Two indexed ranges, as a subquery: written as an OR in the WHERE,
        // SQLite's plan (EXPLAIN QUERY PLAN) scans every ticket by number.
        let narrow = match f.sla_due {
            Some(_) => {
                "AND number IN (SELECT number FROM tickets WHERE sla_wake_at <= ?9
                     UNION ALL SELECT number FROM tickets
                     WHERE sla_due_at <= ?10 AND (?11 = 0 OR sla_paused = 0))"
            }
            None => "",
        };
        let sql = format!(
            "SELECT t.*, p.from_at, p.until_at FROM (
                 SELECT {TICKET_COLUMNS}, resolved_at, closed_at FROM tickets
                 WHERE {TICKET_FILTER} {narrow}
                 ORDER BY number DESC LIMIT ?8) t
             LEFT JOIN pauses p ON p.ticket = t.number
             ORDER BY t.number DESC, p.from_at, p.rowid"
        );
        let mut stmt = self.conn.prepare(&sql).ctx("preparing ticket list")?;
        let limit = limit.map_or(-1, |l| l as i64);
        let search = search_pattern(f);
        let mut values: Vec<&dyn rusqlite::ToSql> = vec![
            &f.status,
            &f.priority,
            &f.category,
            &f.team,
            &f.assignee,
            &search,
            &f.active_only,
            &limit,
        ];
        if let Some(d) = &f.sla_due {
            values.extend([&d.now as &dyn rusqlite::ToSql, &d.due_by, &d.running_only]);
        }
        let mut rows = stmt.query(&values[..]).ctx("listing tickets")?;
        let mut out: Vec<(TicketRow, SlaFacts)> = Vec::new();
        while let Some(r) = rows.next().ctx("listing tickets")? {
            let number: i64 = r.get(0).ctx("listing tickets")?;
            let pause = match r.get::<_, Option<i64>>(17).ctx("listing tickets")? {
                Some(from_ms) => Some(Pause {
                    from_ms,
                    until_ms: r.get(18).ctx("listing tickets")?,
                }),
                None => None,
            };
            match out.last_mut() {
                Some((t, facts)) if t.number == number => facts.pauses.extend(pause),
                _ => {
                    let t = ticket_row(r).ctx("listing tickets")?;
                    let facts = SlaFacts {
                        priority: t.priority.as_deref().and_then(|p| p.parse().ok()),
                        category: t.category.clone(),
                        // As `ticket_state` reads them.
                        status: t.status.parse().unwrap_or(Status::Open),
                        created_at: t.created_at,
                        first_response_at: t.first_response_at,
                        resolved_at: r.get(15).ctx("listing tickets")?,
                        closed_at: r.get(16).ctx("listing tickets")?,
                        pauses: pause.into_iter().collect(),
                    };
                    out.push((t, facts));
                }
            }
        }
        Ok(out)
    }

    /// The digest of the SLA rules the schedule columns were computed with
    /// (`pipeline::sla_basis`); `None` before the first sweep.
    pub fn sla_schedule_basis(&self) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT digest FROM sla_schedule_basis WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .ctx("reading the SLA schedule's basis")
    }

    /// How many tickets there are.
    pub fn ticket_count(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM tickets", [], |r| r.get(0))
            .ctx("counting tickets")
    }

    /// How many inbound messages are recorded (with or without a ticket).
    pub fn inbound_count(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM messages WHERE direction = 'in'",
                [],
                |r| r.get(0),
            )
            .ctx("counting messages")
    }

    /// One ticket with its messages and events, oldest first.
    pub fn ticket_detail(&self, number: i64) -> Result<Option<TicketDetail>, StoreError> {
        let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE number = ?1");
        let Some(ticket) = self
            .conn
            .query_row(&sql, [number], ticket_row)
            .optional()
            .ctx("reading a ticket")?
        else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare(
                "SELECT m.id, m.direction, m.kind, m.message_id, m.from_addr, m.to_addrs, m.subject, m.body, m.at, o.state,
                        m.from_name
                 FROM messages m LEFT JOIN outbox o ON o.message = m.id
                 WHERE m.ticket = ?1 ORDER BY m.at, m.id",
            )
            .ctx("preparing message list")?;
        let mut messages: Vec<MessageRow> = stmt
            .query_map([number], |r| {
                Ok(MessageRow {
                    id: r.get(0)?,
                    direction: r.get(1)?,
                    kind: r.get(2)?,
                    message_id: r.get(3)?,
                    from_addr: r.get(4)?,
                    to_addrs: r.get(5)?,
                    subject: r.get(6)?,
                    body: r.get(7)?,
                    at: r.get(8)?,
                    attachments: Vec::new(),
                    delivery: r.get(9)?,
                    from_name: r.get(10)?,
                })
            })
            .ctx("reading messages")?
            .collect::<Result<_, _>>()
            .ctx("reading messages")?;
        let mut att = self
            .conn
            .prepare("SELECT name, size FROM attachments WHERE message = ?1 ORDER BY id")
            .ctx("preparing attachment list")?;
        for m in &mut messages {
            m.attachments = att
                .query_map([m.id], |r| Ok((r.get(0)?, r.get(1)?)))
                .ctx("reading attachments")?
                .collect::<Result<_, _>>()
                .ctx("reading attachments")?;
        }
        let mut ev = self
            .conn
            .prepare("SELECT at, actor, kind, old, new, detail FROM events WHERE ticket = ?1 ORDER BY at, id")
            .ctx("preparing event list")?;
        let events: Vec<EventRow> = ev
            .query_map([number], |r| {
                Ok(EventRow {
                    at: r.get(0)?,
                    actor: r.get(1)?,
                    kind: r.get(2)?,
                    old: r.get(3)?,
                    new: r.get(4)?,
                    detail: r.get(5)?,
                })
            })
            .ctx("reading events")?
            .collect::<Result<_, _>>()
            .ctx("reading events")?;
        let paused_since = crate::desk::flood::paused_since(
            events.iter().map(|e: &EventRow| (e.kind.as_str(), e.at)),
        );
        Ok(Some(TicketDetail {
            ticket,
            messages,
            events,
            paused_since,
        }))
    }

    /// A ticket's satisfaction rating: score, comment, rated agent.
    pub fn rating(&self, number: i64) -> Result<Option<(u8, String, Option<String>)>, StoreError> {
        self.conn
            .query_row(
                "SELECT rating, coalesce(rating_comment, ''), rated_agent FROM tickets WHERE number = ?1 AND rating IS NOT NULL",
                [number],
                |r| Ok((r.get::<_, i64>(0)? as u8, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .ctx("reading a rating")
    }

    /// The outbox: queued and failed mail first, then the most recent sent.
    pub fn outbox(&self, include_sent: bool, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT o.id, o.ticket, o.rcpt, m.subject, o.state, o.attempts, o.next_attempt_at, o.last_error, o.created_at, o.sent_at
                 FROM outbox o JOIN messages m ON m.id = o.message
                 WHERE ?1 OR o.state != 'sent'
                 ORDER BY CASE o.state WHEN 'queued' THEN 0 WHEN 'failed' THEN 1 ELSE 2 END, o.id DESC LIMIT ?2",
            )
            .ctx("preparing outbox list")?;
        let rows = stmt
            .query_map(params![include_sent, limit as i64], |r| {
                Ok(OutboxRow {
                    id: r.get(0)?,
                    ticket: r.get(1)?,
                    rcpt: r.get(2)?,
                    subject: r.get(3)?,
                    state: r.get(4)?,
                    attempts: r.get(5)?,
                    next_attempt_at: r.get(6)?,
                    last_error: r.get(7)?,
                    created_at: r.get(8)?,
                    sent_at: r.get(9)?,
                })
            })
            .ctx("listing the outbox")?;
        rows.collect::<Result<_, _>>().ctx("listing the outbox")
    }

    /// Counts of outbox entries by state: (queued, sent, failed).
    pub fn outbox_counts(&self) -> Result<(i64, i64, i64), StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FILTER (WHERE state = 'queued'), count(*) FILTER (WHERE state = 'sent'),
                        count(*) FILTER (WHERE state = 'failed') FROM outbox",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .ctx("counting the outbox")
    }

    /// Quarantined messages, newest first.
    pub fn quarantined(&self, limit: usize) -> Result<Vec<QuarantineRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, mailbox, uid, error, length(raw), at, released_at FROM quarantine ORDER BY id DESC LIMIT ?1",
            )
            .ctx("preparing quarantine list")?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(QuarantineRow {
                    id: r.get(0)?,
                    mailbox: r.get(1)?,
                    uid: r.get(2)?,
                    error: r.get(3)?,
                    size: r.get(4)?,
                    at: r.get(5)?,
                    released_at: r.get(6)?,
                })
            })
            .ctx("listing the quarantine")?;
        rows.collect::<Result<_, _>>().ctx("listing the quarantine")
    }

    /// The raw bytes of a quarantined message and its mailbox, for a retry.
    pub fn quarantined_raw(&self, id: i64) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        self.conn
            .query_row(
                "SELECT mailbox, raw FROM quarantine WHERE id = ?1 AND released_at IS NULL",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .ctx("reading a quarantined message")
    }

    /// UIDs in `lo..=hi` of `mailbox` that are held in the quarantine.
    pub fn quarantined_uids(
        &self,
        mailbox: &str,
        lo: u32,
        hi: u32,
    ) -> Result<Vec<u32>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT uid FROM quarantine WHERE mailbox = ?1 AND uid BETWEEN ?2 AND ?3 AND released_at IS NULL",
            )
            .ctx("preparing quarantine lookup")?;
        let rows = stmt
            .query_map(params![mailbox, lo, hi], |r| r.get::<_, i64>(0))
            .ctx("reading quarantined UIDs")?;
        rows.map(|r| r.map(|u| u as u32))
            .collect::<Result<_, _>>()
            .ctx("reading quarantined UIDs")
    }

    /// Every mailbox whose processing ever panicked, by name.
    pub fn mailbox_panics(&self) -> Result<Vec<MailboxPanics>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT mailbox, count, last_at, last_error FROM mailbox_panics ORDER BY mailbox",
            )
            .ctx("preparing the panic counts")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(MailboxPanics {
                    mailbox: r.get(0)?,
                    count: r.get(1)?,
                    last_at: r.get(2)?,
                    last_error: r.get(3)?,
                })
            })
            .ctx("reading the panic counts")?;
        rows.collect::<Result<_, _>>()
            .ctx("reading the panic counts")
    }

    /// Counts one panic of `mailbox`'s task in a transaction of its own
    /// (the daemon's supervisor, which holds no transaction).
    pub fn record_panic(&mut self, mailbox: &str, error: &str, at: i64) -> Result<(), StoreError> {
        let tx = self.transaction()?;
        tx.record_panic(mailbox, error, at)?;
        tx.commit()
    }

    /// Marks a quarantined message as handled.
    /// The held quarantine entries, oldest first.
    pub fn held_quarantine_ids(&self) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM quarantine WHERE released_at IS NULL ORDER BY id")
            .ctx("listing the quarantine")?;
        let ids = stmt
            .query_map([], |r| r.get(0))
            .ctx("listing the quarantine")?;
        ids.collect::<Result<_, _>>().ctx("listing the quarantine")
    }

    /// After a retry of entry `id` failed again: the entry that failure
    /// made (later, held, same mailbox and bytes, no UID: a retry has
    /// none) is folded into `id`, which takes its error and time. Retrying
    /// all twice must not leave each mail in the quarantine twice, then
    /// four times. An entry the daemon made (it has a UID, which the IMAP
    /// source skips by) is never touched.
    pub fn fold_failed_retry(&mut self, id: i64) -> Result<(), StoreError> {
        const LATER: &str = "FROM quarantine n, quarantine o WHERE o.id = ?1 AND n.id > o.id \
             AND n.released_at IS NULL AND n.uid IS NULL AND n.mailbox = o.mailbox AND n.raw = o.raw";
        let tx = self.conn.transaction().ctx("folding a failed retry")?;
        tx.execute(
            &format!(
                "UPDATE quarantine SET (error, at) = \
                 (SELECT n.error, n.at {LATER} ORDER BY n.id DESC LIMIT 1) \
                 WHERE id = ?1 AND EXISTS (SELECT 1 {LATER})"
            ),
            [id],
        )
        .ctx("folding a failed retry")?;
        tx.execute(
            &format!("DELETE FROM quarantine WHERE id IN (SELECT n.id {LATER})"),
            [id],
        )
        .ctx("folding a failed retry")?;
        tx.commit().ctx("folding a failed retry")
    }

    pub fn release_quarantined(&self, id: i64, at: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE quarantine SET released_at = ?2 WHERE id = ?1",
                params![id, at],
            )
            .ctx("releasing a quarantined message")?;
        Ok(())
    }
}

impl Store {
    /// A ticket's stored messages with their raw bytes, in conversation order.
    pub fn ticket_raw(&self, number: i64) -> Result<Vec<crate::export::RawMessage>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT at, direction, kind, from_addr, raw, raw_codec FROM messages WHERE ticket = ?1 ORDER BY at, id")
            .ctx("preparing the export")?;
        let rows = stmt
            .query_map([number], |r| {
                let m = crate::export::RawMessage {
                    at: r.get(0)?,
                    direction: r.get(1)?,
                    kind: r.get(2)?,
                    from_addr: r.get(3)?,
                    raw: r.get(4)?,
                };
                Ok((m, r.get::<_, i64>(5)?))
            })
            .ctx("reading messages to export")?;
        let rows: Vec<_> = rows
            .collect::<Result<_, _>>()
            .ctx("reading messages to export")?;
        rows.into_iter()
            .map(|(mut m, codec)| {
                m.raw = super::packed::unpack(std::mem::take(&mut m.raw), codec)?;
                Ok(m)
            })
            .collect()
    }
}
