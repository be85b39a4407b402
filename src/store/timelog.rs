//! Time worked on tickets (`#time 30m`): the rows, a ticket's total, and the
//! sums the review reports.

use rusqlite::params;

use super::{Ctx, Store, StoreError, Tx};

/// One agent's time on one ticket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TimeByAgent {
    pub agent: String,
    pub minutes: i64,
    pub entries: i64,
}

/// Time recorded in a period, with what the ticket was when it was worked
/// on (category and team as they are now: a ticket's time belongs to where
/// it ended up).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TimeEntry {
    pub ticket: i64,
    pub agent: String,
    pub minutes: i64,
    pub category: Option<String>,
    pub team: Option<String>,
    /// When the ticket was resolved, if it was.
    pub resolved_at: Option<i64>,
}

impl Tx<'_> {
    pub fn record_time(
        &self,
        ticket: i64,
        agent: &str,
        minutes: u32,
        at: i64,
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO time_entries (ticket, agent, minutes, at) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| s.execute(params![ticket, agent, minutes, at]))
            .ctx("recording time worked")?;
        Ok(())
    }
}

impl Store {
    /// A ticket's time, per agent (most first).
    pub fn time_worked(&self, ticket: i64) -> Result<Vec<TimeByAgent>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT agent, SUM(minutes), COUNT(*) FROM time_entries WHERE ticket = ?1
                 GROUP BY agent ORDER BY SUM(minutes) DESC, agent",
            )
            .ctx("preparing time worked")?;
        let rows = stmt
            .query_map([ticket], |r| {
                Ok(TimeByAgent {
                    agent: r.get(0)?,
                    minutes: r.get(1)?,
                    entries: r.get(2)?,
                })
            })
            .ctx("reading time worked")?;
        rows.collect::<Result<_, _>>().ctx("reading time worked")
    }

    /// Time recorded in `[from, to)`, per entry, with the ticket's category and team.
    pub fn time_in_period(&self, from: i64, to: i64) -> Result<Vec<TimeEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT e.ticket, e.agent, e.minutes, t.category, t.team, t.resolved_at
                 FROM time_entries e JOIN tickets t ON t.number = e.ticket
                 WHERE e.at >= ?1 AND e.at < ?2 ORDER BY e.id",
            )
            .ctx("preparing time for the review")?;
        let rows = stmt
            .query_map(params![from, to], |r| {
                Ok(TimeEntry {
                    ticket: r.get(0)?,
                    agent: r.get(1)?,
                    minutes: r.get(2)?,
                    category: r.get(3)?,
                    team: r.get(4)?,
                    resolved_at: r.get(5)?,
                })
            })
            .ctx("reading time for the review")?;
        rows.collect::<Result<_, _>>()
            .ctx("reading time for the review")
    }
}
