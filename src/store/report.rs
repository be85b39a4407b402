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

/// Which tickets may count in `[from, to)` (?1, ?2): created before its
/// end, and not closed for good before its start.
const COUNTS: &str = "created_at < ?2
               AND imported_at IS NULL
               AND (closed_at IS NULL OR closed_at >= ?1 OR updated_at >= ?1
                    OR rated_at >= ?1 OR survey_sent_at >= ?1)";

/// The facts of every ticket that may count in `[from, to)`.
///
/// The rows of pauses, status changes, escalations and time are read by
/// runs of ticket numbers, not one query per ticket: a month of a desk
/// with a year of history (1,000,000 tickets) has ~100,000 tickets that
/// count, nearly all of them recent and so one run, and four queries per
/// ticket made the review take 3.9 s, most of it starting statements.
/// `progress(done, total)` after the tickets and after each run of each of
/// the four kinds of rows read for them: a review over years reads millions.
fn report_rows(
    c: &Connection,
    from: i64,
    to: i64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Vec<TicketFacts>, StoreError> {
    let sql = format!(
        "SELECT number, subject, priority, category, team, assignee, created_at, first_response_at,
                resolved_at, closed_at, rating, rating_comment, rated_agent, rated_at, survey_sent_at,
                status = 'spam'
         FROM tickets WHERE {COUNTS} ORDER BY number"
    );
    let mut stmt = c.prepare(&sql).ctx("preparing the review")?;
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
    let index: std::collections::HashMap<i64, usize> = tickets
        .iter()
        .enumerate()
        .map(|(i, t)| (t.number, i))
        .collect();
    let runs = runs(tickets.iter().map(|t| t.number));
    let total = 1 + 4 * runs.len() as u64;
    let mut done = 1;
    progress(done, total);
    let mut children = |what: &str,
                        sql: &str,
                        order: &str,
                        add: &mut dyn FnMut(
        &mut TicketFacts,
        &rusqlite::Row<'_>,
    ) -> rusqlite::Result<()>| {
        let sql = format!("{sql} AND ticket BETWEEN ?1 AND ?2 ORDER BY ticket, {order}");
        let mut stmt = c.prepare(&sql).ctx(what)?;
        for &(lo, hi) in &runs {
            let mut rows = stmt.query(params![lo, hi]).ctx(what)?;
            while let Some(r) = rows.next().ctx(what)? {
                let number: i64 = r.get(0).ctx(what)?;
                if let Some(&i) = index.get(&number) {
                    add(&mut tickets[i], r).ctx(what)?;
                }
            }
            done += 1;
            progress(done, total);
        }
        Ok::<_, StoreError>(())
    };
    children(
        "reading time worked",
        "SELECT ticket, agent, minutes, at FROM time_entries WHERE 1",
        "at, id",
        &mut |t, r| {
            t.time.push(crate::report::time::TimeSpent {
                agent: r.get(1)?,
                minutes: r.get(2)?,
                at: r.get(3)?,
            });
            Ok(())
        },
    )?;
    children(
        "reading pauses",
        "SELECT ticket, from_at, until_at FROM pauses WHERE 1",
        "from_at",
        &mut |t, r| {
            t.pauses.push(Pause {
                from_ms: r.get(1)?,
                until_ms: r.get(2)?,
            });
            Ok(())
        },
    )?;
    children(
        "reading status changes",
        "SELECT ticket, at, kind, coalesce(old, ''), coalesce(new, ''), actor FROM events
         WHERE kind IN ('status', 'kb-helped', 'out-of-scope')",
        "at, id",
        &mut |t, r| {
            let at: i64 = r.get(1)?;
            match r.get_ref(2)?.as_str()? {
                "kb-helped" => {
                    t.self_solved_at.get_or_insert(at);
                }
                "out-of-scope" => {
                    t.out_of_scope_at.get_or_insert(at);
                }
                _ => t.changes.push(StatusChange {
                    at,
                    old: r.get(3)?,
                    new: r.get(4)?,
                    actor: r.get(5)?,
                }),
            }
            Ok(())
        },
    )?;
    children(
        "reading escalations",
        "SELECT ticket, fired_at, target, percent, action FROM escalations WHERE 1",
        "fired_at",
        &mut |t, r| {
            t.escalations.push(Fired {
                at: r.get(1)?,
                target: r.get(2)?,
                percent: r.get::<_, i64>(3)? as u32,
                action: r.get(4)?,
            });
            Ok(())
        },
    )?;
    Ok(tickets)
}

/// Ticket numbers (ascending) as closed ranges, two numbers less than
/// `RUN_GAP` apart in one range: a range costs one index search, and the
/// few rows of tickets inside it that do not count are skipped.
fn runs(numbers: impl Iterator<Item = i64>) -> Vec<(i64, i64)> {
    const RUN_GAP: i64 = 64;
    let mut out: Vec<(i64, i64)> = Vec::new();
    for n in numbers {
        match out.last_mut() {
            Some((_, hi)) if n - *hi < RUN_GAP => *hi = n,
            _ => out.push((n, n)),
        }
    }
    out
}

impl Store {
    /// The facts the review of `[from, to)` is computed from.
    pub fn report_rows(&self, from: i64, to: i64) -> Result<Vec<TicketFacts>, StoreError> {
        self.report_rows_showing(from, to, &mut |_, _| {})
    }

    /// [`Store::report_rows`], saying how far it got (`postdesk report`'s bar).
    pub fn report_rows_showing(
        &self,
        from: i64,
        to: i64,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Vec<TicketFacts>, StoreError> {
        // One read transaction: one snapshot for the five statements (the
        // daemon may commit between them), and one WAL lock, not one each.
        let tx = self
            .conn
            .unchecked_transaction()
            .ctx("starting the review's read")?;
        let rows = report_rows(&tx, from, to, progress)?;
        tx.finish().ctx("ending the review's read")?;
        Ok(rows)
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
        report_rows(&self.tx, from, to, &mut |_, _| {})
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Mailbox;
    use crate::desk::ticket::{Field, NewTicket};
    use crate::store::{EscalationRecord, EventRecord};

    const DAY: i64 = 86_400_000;

    #[test]
    fn runs_join_numbers_closer_than_the_gap() {
        assert_eq!(
            runs([1, 2, 5, 68, 200, 201].into_iter()),
            vec![(1, 68), (200, 201)]
        );
        assert_eq!(runs(std::iter::empty()), vec![]);
        assert_eq!(runs([7].into_iter()), vec![(7, 7)]);
    }

    fn ticket(number: i64) -> NewTicket {
        NewTicket {
            number,
            subject: format!("ticket {number}"),
            requester: Mailbox::new(None, "user@corp.test"),
            lang: crate::lang::Lang::En,
            team: None,
            tier: None,
            linked_to: None,
            category: None,
            priority: None,
            reply_by: 0,
            rule: None,
        }
    }

    /// Tickets far apart (separate runs) and a ticket inside a run that does
    /// not count: each counting ticket gets exactly its own rows, in order.
    #[test]
    fn each_ticket_gets_its_own_rows_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("r.db")).unwrap();
        let tx = store.transaction().unwrap();
        for n in [1, 2, 3, 500] {
            tx.create_ticket(&ticket(n), "inbox", DAY, None).unwrap();
            for (k, (old, new)) in [("new", "open"), ("open", "pending")].iter().enumerate() {
                let at = DAY + n * 1000 + k as i64;
                tx.update_field(n, Field::Status, Some(new), at).unwrap();
                tx.insert_event(&EventRecord {
                    ticket: n,
                    at,
                    actor: "agent",
                    kind: "status",
                    old: Some(old),
                    new: Some(new),
                    detail: None,
                })
                .unwrap();
            }
            tx.record_escalation(&EscalationRecord {
                ticket: n,
                target: "first-response",
                percent: 100,
                action: "escalate",
                due_at: DAY,
                at: DAY + n,
            })
            .unwrap();
            tx.record_time(n, "agent", n as u32, DAY + n).unwrap();
        }
        // Ticket 2 closed for good long before the period.
        tx.update_field(2, Field::Status, Some("closed"), 2 * DAY)
            .unwrap();
        tx.commit().unwrap();

        let mut said = Vec::new();
        let rows = store
            .report_rows_showing(10 * DAY, 20 * DAY, &mut |d, t| said.push((d, t)))
            .unwrap();
        let numbers: Vec<i64> = rows.iter().map(|t| t.number).collect();
        assert_eq!(numbers, vec![1, 3, 500]);
        // The tickets, then two runs ([1, 3], [500]) for each of four kinds.
        assert_eq!(said.len(), 9, "{said:?}");
        assert_eq!(said.last(), Some(&(9, 9)));
        assert!(said.windows(2).all(|w| w[0].0 < w[1].0), "{said:?}");
        for t in &rows {
            let n = t.number;
            let changes: Vec<(&str, i64)> =
                t.changes.iter().map(|c| (c.new.as_str(), c.at)).collect();
            assert_eq!(
                changes,
                vec![("open", DAY + n * 1000), ("pending", DAY + n * 1000 + 1)],
                "ticket {n}"
            );
            assert_eq!(t.pauses.len(), 1, "ticket {n}: its own pause only");
            assert_eq!(t.pauses[0].from_ms, DAY + n * 1000 + 1);
            assert_eq!(t.escalations.len(), 1);
            assert_eq!(t.escalations[0].at, DAY + n);
            assert_eq!(t.time.len(), 1);
            assert_eq!(t.time[0].minutes, n);
        }
    }
}
