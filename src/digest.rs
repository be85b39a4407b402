//! The morning digest: each agent `[digest] agents` names gets, once per
//! working day of the SLA calendar, from `digest.hour` in the desk's time
//! zone, the list `#queue` would answer ([`crate::desk::listing::digest`]).
//! Recorded per agent and local day in the commit that queues it, so it
//! goes out once whatever restarts happen; a desk started after the hour
//! sends that day's digest at once.

use jiff::Timestamp;

use crate::compose::{Letter, compose};
use crate::desk::listing;
use crate::pipeline::Engine;
use crate::store::{Store, StoreError};

/// Queues the digests due at `now_ms`; returns how many.
pub fn send_due(store: &mut Store, engine: &Engine, now_ms: i64) -> Result<usize, StoreError> {
    let cfg = &engine.config.digest;
    if cfg.agents.is_empty() {
        return Ok(0);
    }
    let policy = engine.policy();
    let Ok(ts) = Timestamp::from_millisecond(now_ms) else {
        return Ok(0);
    };
    let local = policy.time_zone.to_datetime(ts);
    if local.hour() < cfg.hour as i8 || !policy.calendar.is_working_day(now_ms) {
        return Ok(0);
    }
    let day = local.date().to_string();
    let tx = store.transaction()?;
    let mut queued = 0;
    for agent in &policy.directory.agents {
        if !cfg.includes(&agent.name) || tx.digest_sent(&agent.name, &day)? {
            continue;
        }
        let led = listing::led_teams(policy, &agent.name);
        let lines = tx.open_tickets_for(&agent.name, &led)?;
        let (subject, text) = listing::digest(policy, agent, &lines, now_ms);
        let to = [agent.mailbox()];
        let letter = Letter {
            ticket: None,
            kind: "digest",
            from_name: None,
            to: &to,
            subject: &subject,
            in_reply_to: None,
            references: &[],
            auto_submitted: Some("auto-generated"),
            text,
            html: None,
        };
        match compose(policy, letter, now_ms) {
            Ok(mail) => {
                tx.queue_outbound(&mail.record())?;
                queued += 1;
            }
            Err(e) => tracing::error!(agent = %agent.name, error = %e, "could not build a digest"),
        }
        // Recorded even when it could not be built: one error a day in the
        // log, not one per sweep.
        tx.record_digest(&agent.name, &day, now_ms)?;
    }
    tx.commit()?;
    if queued > 0 {
        tracing::info!(queued, day, "digests queued");
    }
    Ok(queued)
}
