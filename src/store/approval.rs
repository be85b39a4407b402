//! The SQL of approvals: the one open per ticket, its decision, reminders;
//! and the record of digests mailed.

use rusqlite::{OptionalExtension, params};

use super::{Ctx, StoreError, Tx};
use crate::desk::approval::Pending;

const PENDING_COLUMNS: &str =
    "id, ticket, approver, reason, requested_by, token, requested_at, reminded_at,
     decided_at IS NOT NULL";

fn pending(r: &rusqlite::Row<'_>) -> rusqlite::Result<Pending> {
    Ok(Pending {
        id: r.get(0)?,
        ticket: r.get(1)?,
        approver: r.get(2)?,
        reason: r.get(3)?,
        requested_by: r.get(4)?,
        token: r.get(5)?,
        requested_at: r.get(6)?,
        reminded_at: r.get(7)?,
        decided: r.get(8)?,
    })
}

/// An approval asked, as written.
pub struct NewApproval<'a> {
    pub ticket: i64,
    pub approver: &'a str,
    pub reason: &'a str,
    pub requested_by: &'a str,
    pub token: &'a str,
    pub pause_sla: bool,
    pub at: i64,
}

impl Tx<'_> {
    /// The approval ticket `ticket` waits for, if any.
    pub fn pending_approval(&self, ticket: i64) -> Result<Option<Pending>, StoreError> {
        let sql = format!(
            "SELECT {PENDING_COLUMNS} FROM approvals WHERE ticket = ?1 AND decided_at IS NULL"
        );
        self.tx
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row([ticket], pending).optional())
            .ctx("looking up the pending approval")
    }

    /// The ticket's latest approval, decided or not.
    pub fn latest_approval(&self, ticket: i64) -> Result<Option<Pending>, StoreError> {
        let sql = format!(
            "SELECT {PENDING_COLUMNS} FROM approvals WHERE ticket = ?1 ORDER BY id DESC LIMIT 1"
        );
        self.tx
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row([ticket], pending).optional())
            .ctx("looking up the latest approval")
    }

    /// Every approval not yet decided, oldest first (for reminders).
    pub fn pending_approvals(&self) -> Result<Vec<Pending>, StoreError> {
        let sql =
            format!("SELECT {PENDING_COLUMNS} FROM approvals WHERE decided_at IS NULL ORDER BY id");
        self.tx
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_map([], pending)?.collect())
            .ctx("listing pending approvals")
    }

    /// Records an approval asked; stops the SLA clock if asked to.
    pub fn ask_approval(&self, a: &NewApproval<'_>) -> Result<(), StoreError> {
        // An earlier question the agent withdrew (`#open`) stops counting:
        // its token no longer decides anything.
        self.tx
            .prepare_cached(
                "UPDATE approvals SET decided_at = ?2, decided_by = 'withdrawn'
                 WHERE ticket = ?1 AND decided_at IS NULL",
            )
            .and_then(|mut s| s.execute(params![a.ticket, a.at]))
            .ctx("withdrawing an earlier approval")?;
        self.tx
            .prepare_cached(
                "INSERT INTO approvals (ticket, approver, reason, requested_by, token, requested_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    a.ticket,
                    a.approver,
                    a.reason,
                    a.requested_by,
                    a.token,
                    a.at
                ])
            })
            .ctx("recording an approval asked")?;
        if a.pause_sla {
            // The status change just closed any open pause; this one ends
            // when the status changes again (see `update_field`).
            self.tx
                .prepare_cached(
                    "INSERT INTO pauses (ticket, from_at) SELECT ?1, ?2
                     WHERE NOT EXISTS (SELECT 1 FROM pauses WHERE ticket = ?1 AND until_at IS NULL)",
                )
                .and_then(|mut s| s.execute(params![a.ticket, a.at]))
                .ctx("pausing the SLA clock for an approval")?;
        }
        Ok(())
    }

    /// Records the decision; false if it was decided already.
    pub fn decide_approval(
        &self,
        id: i64,
        approved: bool,
        by: &str,
        comment: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let n = self
            .tx
            .prepare_cached(
                "UPDATE approvals SET decided_at = ?2, decision = ?3, decided_by = ?4, comment = ?5
                 WHERE id = ?1 AND decided_at IS NULL",
            )
            .and_then(|mut s| {
                s.execute(params![
                    id,
                    at,
                    if approved { "approved" } else { "rejected" },
                    by,
                    comment
                ])
            })
            .ctx("recording an approval's decision")?;
        Ok(n == 1)
    }

    pub fn approval_reminded(&self, id: i64, at: i64) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("UPDATE approvals SET reminded_at = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![id, at]))
            .ctx("recording a reminder")?;
        Ok(())
    }

    /// Whether `agent`'s digest for local day `day` was queued.
    pub fn digest_sent(&self, agent: &str, day: &str) -> Result<bool, StoreError> {
        self.tx
            .prepare_cached("SELECT 1 FROM digests_sent WHERE agent = ?1 AND day = ?2")
            .and_then(|mut s| s.query_row(params![agent, day], |_| Ok(())).optional())
            .map(|r| r.is_some())
            .ctx("checking a digest")
    }

    pub fn record_digest(&self, agent: &str, day: &str, at: i64) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO digests_sent (agent, day, at) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut s| s.execute(params![agent, day, at]))
            .ctx("recording a digest")?;
        Ok(())
    }
}
