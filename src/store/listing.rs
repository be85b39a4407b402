//! The SQL of the lists by mail (`#queue`, `#status`, the digest): open
//! tickets of a requester or of an agent, each with what its SLA standing
//! depends on, and how many lists went to an address lately.

use rusqlite::params;

use super::{Ctx, StoreError, Tx};
use crate::desk::listing::Line;
use crate::desk::sla::Pause;
use crate::desk::sla::status::SlaFacts;
use crate::desk::ticket::Status;

/// The statuses of a ticket that is still open to its requester.
const OPEN: &str = "'new', 'open', 'pending', 'awaiting-approval'";

const LINE_COLUMNS: &str = "t.number, t.subject, t.status, t.priority, t.requester, t.assignee,
     CASE WHEN t.first_response_at IS NULL THEN t.reply_by END,
     EXISTS (SELECT 1 FROM approvals a WHERE a.ticket = t.number AND a.decided_at IS NULL),
     t.category, t.created_at, t.first_response_at, t.resolved_at, t.closed_at";

/// One line, its SLA facts without pauses ([`Tx::add_pauses`] reads them).
fn line(r: &rusqlite::Row<'_>) -> rusqlite::Result<Line> {
    let status: String = r.get(2)?;
    let priority: Option<String> = r.get(3)?;
    let sla = SlaFacts {
        priority: priority.as_deref().and_then(|p| p.parse().ok()),
        category: r.get(8)?,
        // As `load_ticket` reads them.
        status: status.parse().unwrap_or(Status::Open),
        created_at: r.get(9)?,
        first_response_at: r.get(10)?,
        resolved_at: r.get(11)?,
        closed_at: r.get(12)?,
        pauses: Vec::new(),
    };
    Ok(Line {
        number: r.get(0)?,
        subject: r.get(1)?,
        status,
        priority,
        requester: r.get(4)?,
        assignee: r.get(5)?,
        due_ms: r.get(6)?,
        awaiting_approval: r.get(7)?,
        sla: Some(sla),
    })
}

impl Tx<'_> {
    /// The open tickets `address` asked for, oldest first.
    pub fn open_tickets_of_requester(&self, address: &str) -> Result<Vec<Line>, StoreError> {
        let sql = format!(
            "SELECT {LINE_COLUMNS} FROM tickets t
             WHERE t.requester = ?1 AND t.status IN ({OPEN}) ORDER BY t.number"
        );
        let lines = self
            .tx
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_map([address], line)?.collect())
            .ctx("listing a requester's open tickets")?;
        self.add_pauses(lines)
    }

    /// The open tickets assigned to agent `name`, and every open ticket of
    /// the teams in `led`, oldest first.
    pub fn open_tickets_for(&self, name: &str, led: &[String]) -> Result<Vec<Line>, StoreError> {
        let led = serde_json::to_string(led).unwrap_or_else(|_| "[]".into());
        let sql = format!(
            "SELECT {LINE_COLUMNS} FROM tickets t
             WHERE t.status IN ({OPEN})
               AND (t.assignee = ?1 COLLATE NOCASE
                    OR t.team IN (SELECT value FROM json_each(?2)))
             ORDER BY t.number"
        );
        let lines = self
            .tx
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_map(params![name, led], line)?.collect())
            .ctx("listing an agent's open tickets")?;
        self.add_pauses(lines)
    }

    /// The spans each line's ticket waited on its requester: a stopped
    /// clock is neither overdue nor due today. One indexed lookup per line:
    /// a list is one person's tickets, tens, not the desk's.
    fn add_pauses(&self, mut lines: Vec<Line>) -> Result<Vec<Line>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT from_at, until_at FROM pauses WHERE ticket = ?1 ORDER BY from_at",
            )
            .ctx("reading SLA pauses")?;
        for l in &mut lines {
            let pauses = stmt
                .query_map([l.number], |r| {
                    Ok(Pause {
                        from_ms: r.get(0)?,
                        until_ms: r.get(1)?,
                    })
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .ctx("reading SLA pauses")?;
            if let Some(f) = l.sla.as_mut() {
                f.pauses = pauses;
            }
        }
        Ok(lines)
    }

    /// How many lists (`#queue`, `#status`, digests) were queued to `address` since `since`.
    pub fn lists_sent_to(&self, address: &str, since: i64) -> Result<i64, StoreError> {
        self.tx
            .prepare_cached(
                "SELECT count(*) FROM messages WHERE direction = 'out'
                 AND kind IN ('queue', 'status', 'digest') AND to_addrs = ?1 AND at >= ?2",
            )
            .and_then(|mut s| s.query_row(params![address, since], |r| r.get(0)))
            .ctx("counting lists sent to an address")
    }
}
