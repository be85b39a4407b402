//! The SQL of the lists by mail (`#queue`, `#status`, the digest): open
//! tickets of a requester or of an agent, and how many lists went to an
//! address lately.

use rusqlite::params;

use super::{Ctx, StoreError, Tx};
use crate::desk::listing::Line;

/// The statuses of a ticket that is still open to its requester.
const OPEN: &str = "'new', 'open', 'pending', 'awaiting-approval'";

const LINE_COLUMNS: &str = "t.number, t.subject, t.status, t.priority, t.requester, t.assignee,
     CASE WHEN t.first_response_at IS NULL THEN t.reply_by END,
     EXISTS (SELECT 1 FROM approvals a WHERE a.ticket = t.number AND a.decided_at IS NULL)";

fn line(r: &rusqlite::Row<'_>) -> rusqlite::Result<Line> {
    Ok(Line {
        number: r.get(0)?,
        subject: r.get(1)?,
        status: r.get(2)?,
        priority: r.get(3)?,
        requester: r.get(4)?,
        assignee: r.get(5)?,
        due_ms: r.get(6)?,
        awaiting_approval: r.get(7)?,
    })
}

impl Tx<'_> {
    /// The open tickets `address` asked for, oldest first.
    pub fn open_tickets_of_requester(&self, address: &str) -> Result<Vec<Line>, StoreError> {
        let sql = format!(
            "SELECT {LINE_COLUMNS} FROM tickets t
             WHERE t.requester = ?1 AND t.status IN ({OPEN}) ORDER BY t.number"
        );
        self.tx
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_map([address], line)?.collect())
            .ctx("listing a requester's open tickets")
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
        self.tx
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_map(params![name, led], line)?.collect())
            .ctx("listing an agent's open tickets")
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
