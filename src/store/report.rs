//! Reads for the review, and the record of reviews mailed.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Ctx, OutboundRecord, Store, StoreError, Tx};
use crate::desk::sla::Pause;
use crate::report::{Fired, StatusChange, TicketFacts};

/// A review already queued.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReportSent {
    pub schedule: String,
    pub period: String,
    pub at: i64,
}

/// The facts of every ticket that may count in `[from, to)`: created before
/// its end, and not closed for good before its start.
fn report_rows(c: &Connection, from: i64, to: i64) -> Result<Vec<TicketFacts>, StoreError> {
    let mut stmt = c
        .prepare(
            "SELECT number, subject, priority, category, team, assignee, created_at, first_response_at,
                    resolved_at, closed_at, rating, rating_comment, rated_agent, rated_at, survey_sent_at,
                    status = 'spam'
             FROM tickets
             WHERE created_at < ?2
               AND imported_at IS NULL
               AND (closed_at IS NULL OR closed_at >= ?1 OR updated_at >= ?1
                    OR rated_at >= ?1 OR survey_sent_at >= ?1)
             ORDER BY number",
        )
        .ctx("preparing the review")?;
    let rows = stmt
        .query_map(params![from, to], |r| {
            let priority: Option<String> = r.get(2)?;
            Ok(TicketFacts {
                number: r.get(0)?,
                subject: r.get(1)?,
                priority: priority.and_then(|p| p.parse().ok()),
                category: r.get(3)?,
                team: r.get(4)?,
                assignee: r.get(5)?,
                created_at: r.get(6)?,
                first_response_at: r.get(7)?,
                resolved_at: r.get(8)?,
                closed_at: r.get(9)?,
                rating: r.get::<_, Option<i64>>(10)?.map(|x| x.clamp(0, 255) as u8),
                rating_comment: r.get(11)?,
                rated_agent: r.get(12)?,
                rated_at: r.get(13)?,
                survey_sent_at: r.get(14)?,
                spam: r.get(15)?,
                ..TicketFacts::default()
            })
        })
        .ctx("reading tickets for the review")?;
    let mut tickets: Vec<TicketFacts> = rows
        .collect::<Result<_, _>>()
        .ctx("reading tickets for the review")?;
    let mut pauses = c
        .prepare_cached("SELECT from_at, until_at FROM pauses WHERE ticket = ?1 ORDER BY from_at")
        .ctx("preparing pauses")?;
    let mut events = c
        .prepare_cached(
            "SELECT at, kind, coalesce(old, ''), coalesce(new, ''), actor FROM events
             WHERE ticket = ?1 AND kind IN ('status', 'kb-helped', 'out-of-scope') ORDER BY at, id",
        )
        .ctx("preparing status changes")?;
    let mut fired = c
        .prepare_cached(
            "SELECT fired_at, target, percent, action FROM escalations WHERE ticket = ?1 ORDER BY fired_at",
        )
        .ctx("preparing escalations")?;
    let mut time = c
        .prepare_cached(
            "SELECT agent, minutes, at FROM time_entries WHERE ticket = ?1 ORDER BY at, id",
        )
        .ctx("preparing time worked")?;
    for t in &mut tickets {
        t.time = time
            .query_map([t.number], |r| {
                Ok(crate::report::time::TimeSpent {
                    agent: r.get(0)?,
                    minutes: r.get(1)?,
                    at: r.get(2)?,
                })
            })
            .and_then(|rows| rows.collect())
            .ctx("reading time worked")?;
        t.pauses = pauses
            .query_map([t.number], |r| {
                Ok(Pause {
                    from_ms: r.get(0)?,
                    until_ms: r.get(1)?,
                })
            })
            .and_then(|rows| rows.collect())
            .ctx("reading pauses")?;
        let evs: Vec<(i64, String, String, String, String)> = events
            .query_map([t.number], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .and_then(|rows| rows.collect())
            .ctx("reading status changes")?;
        for (at, kind, old, new, actor) in evs {
            if kind == "kb-helped" {
                t.self_solved_at.get_or_insert(at);
            } else if kind == "out-of-scope" {
                t.out_of_scope_at.get_or_insert(at);
            } else {
                t.changes.push(StatusChange {
                    at,
                    old,
                    new,
                    actor,
                });
            }
        }
        t.escalations = fired
            .query_map([t.number], |r| {
                Ok(Fired {
                    at: r.get(0)?,
                    target: r.get(1)?,
                    percent: r.get::<_, i64>(2)? as u32,
                    action: r.get(3)?,
                })
            })
            .and_then(|rows| rows.collect())
            .ctx("reading escalations")?;
    }
    Ok(tickets)
}

impl Store {
    /// The facts the review of `[from, to)` is computed from.
    pub fn report_rows(&self, from: i64, to: i64) -> Result<Vec<TicketFacts>, StoreError> {
        report_rows(&self.conn, from, to)
    }

    /// Reviews already queued, newest first.
    pub fn reports_sent(&self, limit: usize) -> Result<Vec<ReportSent>, StoreError> {
        let mut s = self
            .conn
            .prepare("SELECT schedule, period, at FROM reports_sent ORDER BY at DESC LIMIT ?1")
            .ctx("preparing the list of reviews sent")?;
        let rows = s
            .query_map([limit as i64], |r| {
                Ok(ReportSent {
                    schedule: r.get(0)?,
                    period: r.get(1)?,
                    at: r.get(2)?,
                })
            })
            .ctx("listing reviews sent")?;
        rows.collect::<Result<_, _>>().ctx("listing reviews sent")
    }
}

impl Tx<'_> {
    /// The facts the review of `[from, to)` is computed from.
    pub fn report_rows(&self, from: i64, to: i64) -> Result<Vec<TicketFacts>, StoreError> {
        report_rows(&self.tx, from, to)
    }

    /// True when the review of `period` on `schedule` was queued before.
    pub fn report_sent(&self, schedule: &str, period: &str) -> Result<bool, StoreError> {
        self.tx
            .query_row(
                "SELECT 1 FROM reports_sent WHERE schedule = ?1 AND period = ?2",
                params![schedule, period],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .ctx("checking whether a review was sent")
    }

    /// Queues a review mail (it belongs to no ticket) and records its period
    /// in the same transaction, so it goes out once.
    pub fn queue_report(
        &self,
        schedule: &str,
        period: &str,
        mail: &OutboundRecord<'_>,
    ) -> Result<(), StoreError> {
        let id = self.queue_outbound(mail)?;
        self.tx
            .prepare_cached(
                "INSERT INTO reports_sent (schedule, period, message, at) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| s.execute(params![schedule, period, id, mail.at]))
            .ctx("recording a review as sent")?;
        Ok(())
    }
}
