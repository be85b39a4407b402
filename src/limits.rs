//! Limits on automatic mail: the last line of defence against mail loops.
//!
//! Loop detection in `inbound` and `decide` stops us answering robots; these
//! sliding-window counts stop a loop nobody recognised (a robot that sends no
//! automatic-mail header) from running for ever: a few mails get through,
//! then we go quiet and say so in the log and the ticket's timeline.

use crate::config::Limits;
use crate::desk::decide::{OutMail, Policy};
use crate::store::{StoreError, Tx};

/// Whether an automatic mail may go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// Held back, with the reason for the log and the timeline.
    Hold(String),
}

/// Recipients the limits watch: people outside the desk. Agents and team
/// addresses get every notice; a loop with them is not possible without us.
fn outside<'a>(policy: &'a Policy, out: &'a OutMail) -> impl Iterator<Item = &'a str> + 'a {
    out.to.iter().map(|m| m.address.as_str()).filter(move |a| {
        policy.directory.agent_by_address(a).is_none()
            && !policy
                .directory
                .teams
                .iter()
                .any(|t| t.address.as_deref() == Some(*a) || t.manager.as_deref() == Some(*a))
    })
}

/// Checks the windows for an automatic mail (mail a person wrote always goes).
pub fn check(
    tx: &Tx<'_>,
    limits: &Limits,
    policy: &Policy,
    out: &OutMail,
    now_ms: i64,
) -> Result<Verdict, StoreError> {
    for rcpt in &out.to {
        if let Some((until, reason)) = tx.suppressed(&rcpt.address, now_ms)? {
            return Ok(Verdict::Hold(format!(
                "{} to {} held back until {}: {reason}",
                out.template,
                rcpt.address,
                crate::desk::when::iso(until)
            )));
        }
    }
    if out.auto_submitted.is_none() {
        return Ok(Verdict::Send);
    }
    let since = now_ms - limits.window.as_millis() as i64;
    let window = crate::desk::sla::describe_remaining(limits.window.as_millis() as i64)
        .trim_end_matches(" left")
        .to_string();
    let mut outside_any = false;
    for rcpt in outside(policy, out) {
        outside_any = true;
        let n = tx.auto_replies_to(rcpt, since)?;
        if n >= i64::from(limits.per_recipient) {
            return Ok(Verdict::Hold(format!(
                "{} to {rcpt} held back: {n} automatic mails to this address in the last {window} (limits.per-recipient = {})",
                out.template, limits.per_recipient
            )));
        }
    }
    if outside_any {
        let n = tx.auto_replies_on(out.ticket, since)?;
        if n >= i64::from(limits.per_ticket) {
            return Ok(Verdict::Hold(format!(
                "{} held back: {n} automatic mails about this ticket in the last {window} (limits.per-ticket = {})",
                out.template, limits.per_ticket
            )));
        }
    }
    if out.template == "ack" && !limits.duplicate_ack_window.is_zero() {
        let since = now_ms - limits.duplicate_ack_window.as_millis() as i64;
        for rcpt in outside(policy, out) {
            let subject = out
                .vars
                .get("subject")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            if let Some(other) = tx.similar_recent_ticket(out.ticket, rcpt, subject, since)? {
                return Ok(Verdict::Hold(format!(
                    "acknowledgement held back: {rcpt} opened ticket {other} with the same subject moments ago"
                )));
            }
        }
    }
    Ok(Verdict::Send)
}

/// Counts a mail that went out against the windows.
pub fn record(tx: &Tx<'_>, policy: &Policy, out: &OutMail, now_ms: i64) -> Result<(), StoreError> {
    if out.auto_submitted.is_none() {
        return Ok(());
    }
    for rcpt in outside(policy, out) {
        tx.record_auto_reply(rcpt, out.ticket, now_ms)?;
    }
    Ok(())
}
