//! What operating the desk needs of the database: the figures `/metrics`
//! shows, the write `/healthz` tries, and the admin alerts' state.

use std::collections::BTreeMap;

use rusqlite::params;

use super::{Ctx, OutboundRecord, Store, StoreError, Tx};

/// What the database says when scraped ([`Store::desk_figures`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeskFigures {
    pub tickets_by_status: BTreeMap<String, i64>,
    pub outbox_queued: i64,
    /// Age of the oldest queued mail, in seconds (0 when none).
    pub outbox_oldest_seconds: f64,
    /// Escalation levels fired, all time: (target, percent) → count.
    pub escalations: BTreeMap<(String, u32), i64>,
    pub quarantined: i64,
    /// The database file with its WAL, in bytes.
    pub database_bytes: i64,
}

impl DeskFigures {
    /// SLA breaches, all time: levels at or past 100 % of a target, by target
    /// (a ticket counts once per target however many levels past 100 % fired).
    pub fn breaches(&self) -> BTreeMap<String, i64> {
        let mut out = BTreeMap::new();
        for ((target, percent), n) in &self.escalations {
            if *percent == 100 {
                *out.entry(target.clone()).or_insert(0) += n;
            }
        }
        out
    }
}

/// An alert condition announced as started and not yet as ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    pub key: String,
    /// When the condition started (as the alert mail said).
    pub since: i64,
    pub summary: String,
}

impl Store {
    /// How long a statement waits for another connection's write lock.
    pub fn set_busy_timeout(&self, wait: std::time::Duration) -> Result<(), StoreError> {
        self.conn.busy_timeout(wait).ctx("setting busy timeout")
    }

    /// The state figures of `/metrics`, each one indexed query (the outbox
    /// by `outbox_queued`, tickets by `tickets_by_status`).
    pub fn desk_figures(&self, now_ms: i64) -> Result<DeskFigures, StoreError> {
        let c = &self.conn;
        let mut f = DeskFigures::default();
        let mut stmt = c
            .prepare_cached("SELECT status, count(*) FROM tickets GROUP BY status")
            .ctx("counting tickets by status")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .ctx("counting tickets by status")?;
        for row in rows {
            let (status, n) = row.ctx("counting tickets by status")?;
            f.tickets_by_status.insert(status, n);
        }
        let (queued, oldest): (i64, Option<i64>) = c
            .query_row(
                "SELECT count(*), min(created_at) FROM outbox WHERE state = 'queued'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ctx("reading the outbox")?;
        f.outbox_queued = queued;
        f.outbox_oldest_seconds = oldest.map_or(0.0, |at| (now_ms - at).max(0) as f64 / 1000.0);
        let mut stmt = c
            .prepare_cached(
                "SELECT target, percent, count(*) FROM escalations GROUP BY target, percent",
            )
            .ctx("counting escalations")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .ctx("counting escalations")?;
        for row in rows {
            let (target, percent, n) = row.ctx("counting escalations")?;
            f.escalations
                .insert((target, u32::try_from(percent).unwrap_or(0)), n);
        }
        f.quarantined = self.quarantine_held()?;
        f.database_bytes = database_bytes(&self.path);
        Ok(f)
    }

    /// Mails in the quarantine not released.
    pub fn quarantine_held(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM quarantine WHERE released_at IS NULL",
                [],
                |r| r.get(0),
            )
            .ctx("counting the quarantine")
    }

    /// Mails quarantined at or after `since` (released or not), and when
    /// the first of them was.
    pub fn quarantined_since(&self, since: i64) -> Result<(i64, Option<i64>), StoreError> {
        self.conn
            .query_row(
                "SELECT count(*), min(at) FROM quarantine WHERE at >= ?1",
                [since],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ctx("counting recent quarantine")
    }

    /// Writes the heartbeat row: proves the database takes a write now.
    pub fn heartbeat(&mut self, now_ms: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO ops_heartbeat (id, at) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                [now_ms],
            )
            .ctx("writing the health heartbeat")?;
        Ok(())
    }

    /// The alerts announced as started, by key.
    pub fn announced_alerts(&self) -> Result<BTreeMap<String, Announced>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT key, since, summary FROM alerts ORDER BY key")
            .ctx("reading alert state")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Announced {
                    key: r.get(0)?,
                    since: r.get(1)?,
                    summary: r.get(2)?,
                })
            })
            .ctx("reading alert state")?;
        let mut out = BTreeMap::new();
        for row in rows {
            let a = row.ctx("reading alert state")?;
            out.insert(a.key.clone(), a);
        }
        Ok(out)
    }
}

impl Tx<'_> {
    /// Alert mails queued at or after `since`.
    pub fn alert_mails_since(&self, since: i64) -> Result<i64, StoreError> {
        self.tx
            .query_row(
                "SELECT count(*) FROM alert_mails WHERE at >= ?1",
                [since],
                |r| r.get(0),
            )
            .ctx("counting alert mails")
    }

    /// Queues the mail that says `a` started, and remembers it as announced.
    pub fn alert_started(
        &self,
        a: &Announced,
        mail: &OutboundRecord<'_>,
    ) -> Result<(), StoreError> {
        self.queue_outbound(mail)?;
        self.tx
            .execute(
                "INSERT INTO alerts (key, since, summary, started_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (key) DO UPDATE SET since = excluded.since, summary = excluded.summary,
                                                 started_at = excluded.started_at",
                params![a.key, a.since, a.summary, mail.at],
            )
            .ctx("recording an alert")?;
        self.alert_mail(&a.key, "started", mail.at)
    }

    /// Queues the mail that says alert `key` ended, and forgets it.
    pub fn alert_ended(&self, key: &str, mail: &OutboundRecord<'_>) -> Result<(), StoreError> {
        self.queue_outbound(mail)?;
        self.tx
            .execute("DELETE FROM alerts WHERE key = ?1", [key])
            .ctx("ending an alert")?;
        self.alert_mail(key, "ended", mail.at)
    }

    fn alert_mail(&self, key: &str, kind: &str, at: i64) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT INTO alert_mails (at, key, kind) VALUES (?1, ?2, ?3)",
                params![at, key, kind],
            )
            .ctx("counting an alert mail")?;
        Ok(())
    }
}

/// The database file and its WAL, in bytes (what the disk holds for it).
fn database_bytes(path: &std::path::Path) -> i64 {
    let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len() as i64);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    size(path) + size(std::path::Path::new(&wal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_of_an_empty_database_and_a_heartbeat() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("d.db")).unwrap();
        let f = s.desk_figures(1_000).unwrap();
        assert_eq!(f.outbox_queued, 0);
        assert_eq!(f.outbox_oldest_seconds, 0.0);
        assert!(f.tickets_by_status.is_empty());
        assert!(f.database_bytes > 0);
        s.heartbeat(5).unwrap();
        s.heartbeat(6).unwrap();
        assert!(s.announced_alerts().unwrap().is_empty());
    }

    /// The age is of the oldest mail still queued, not the newest.
    #[test]
    fn the_outbox_age_is_its_oldest_queued_mail() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("d.db")).unwrap();
        let desk = crate::address::Mailbox::new(None, "desk@example.test");
        let to = [crate::address::Mailbox::new(None, "ann@corp.test")];
        let tx = s.transaction().unwrap();
        for (n, at) in [(1, 10_000), (2, 40_000)] {
            tx.queue_outbound(&super::super::OutboundRecord {
                ticket: None,
                kind: "ack",
                message_id: &format!("m{n}@example.test"),
                in_reply_to: None,
                references: &[],
                from: &desk,
                to: &to,
                subject: "s",
                text: "t",
                html: None,
                raw: b"raw",
                envelope_from: "desk@example.test",
                at,
            })
            .unwrap();
        }
        tx.commit().unwrap();
        let f = s.desk_figures(70_000).unwrap();
        assert_eq!(f.outbox_queued, 2);
        assert_eq!(f.outbox_oldest_seconds, 60.0);
    }
}
