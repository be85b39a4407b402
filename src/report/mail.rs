//! The scheduled review as a mail: HTML with a text alternative, from the
//! desk's address to `report.to`, through the outbox. Each period's review is
//! recorded as sent in the same commit that queues it, so it goes out once,
//! whatever restarts happen.

use crate::address::Mailbox;
use crate::compose::{Letter, compose};
use crate::pipeline::Engine;
use crate::store::{Store, StoreError};

use super::{Settings, compute, html, schedule, table};

/// Queues every review due at `now_ms` that was not queued before; returns
/// how many it queued.
pub fn send_due(store: &mut Store, engine: &Engine, now_ms: i64) -> Result<usize, StoreError> {
    let cfg = &engine.config.report;
    let policy = engine.policy();
    let due = match schedule::due(cfg, now_ms, &policy.time_zone) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "report schedule");
            return Ok(0);
        }
    };
    if due.is_empty() {
        return Ok(0);
    }
    let to: Vec<Mailbox> = cfg.to.iter().map(|a| Mailbox::new(None, a)).collect();
    let tx = store.transaction()?;
    let mut queued = 0;
    for d in due {
        let key = d.period.key.as_str();
        if tx.report_sent(d.schedule, key)? {
            continue;
        }
        let rows = tx.report_rows(d.period.from_ms, d.period.to_ms)?;
        let report = compute(&rows, &d.period, &Settings::from_policy(policy));
        let text = table::text(&report);
        let html = html::render(&report);
        let subject = format!("{}: review of {}", policy.desk_name, d.period.label);
        let letter = Letter {
            ticket: None,
            kind: "report",
            from_name: None,
            to: &to,
            subject: &subject,
            in_reply_to: None,
            references: &[],
            auto_submitted: Some("auto-generated"),
            text,
            html: Some(html),
        };
        let mail = match compose(policy, letter, now_ms) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, period = key, "could not build the review mail");
                continue;
            }
        };
        for (_, why) in &mail.dropped {
            tracing::warn!(error = %why, period = key, "a recipient of the review left out");
        }
        tx.queue_report(d.schedule, key, &mail.record())?;
        tracing::info!(schedule = d.schedule, period = key, "review queued");
        queued += 1;
    }
    tx.commit()?;
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn each_period_is_queued_once() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::from_toml(
            "[desk]\naddress = \"helpdesk@example.test\"\n[storage]\ndatabase = \"r.db\"\n[report]\nto = [\"boss@example.test\"]\nday = 1\nhour = 0\n",
            std::path::Path::new("t.toml"),
            dir.path(),
        )
        .unwrap();
        let engine = Engine::new(cfg).unwrap();
        let mut store = engine.open_store().unwrap();
        let now = 1_796_004_000_000; // Monday 2026-11-30 02:00 UTC
        assert_eq!(send_due(&mut store, &engine, now).unwrap(), 1);
        assert_eq!(send_due(&mut store, &engine, now + 60_000).unwrap(), 0);
        // A new store (a restart) still knows.
        drop(store);
        let mut store = engine.open_store().unwrap();
        assert_eq!(send_due(&mut store, &engine, now + 120_000).unwrap(), 0);
        let sent = store.reports_sent(10).unwrap();
        assert_eq!(
            (sent[0].schedule.as_str(), sent[0].period.as_str()),
            ("monthly", "2026-10")
        );
        let queued = store.due_outbox(now + 1_000_000, 10).unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].rcpt, ["boss@example.test"]);
        let mail = crate::inbound::parse(&queued[0].raw).unwrap();
        assert_eq!(mail.subject, "Service Desk: review of October 2026");
        assert!(mail.text.contains("Summary"), "{}", mail.text);
        assert!(mail.html.as_deref().unwrap_or("").contains("chart-daily"));
        // The next month is its own period.
        let dec = now + 2 * 86_400_000;
        assert_eq!(send_due(&mut store, &engine, dec).unwrap(), 1);
    }
}
