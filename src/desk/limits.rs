//! Limits on automatic mail: the last line of defence against mail loops.
//!
//! Loop detection in `inbound` and `decide` stops us answering robots; these
//! sliding-window counts stop a loop nobody recognised (a robot that sends no
//! automatic-mail header) from running for ever: a few mails get through,
//! then we go quiet and say so in the log and the ticket's timeline. A
//! suppressed address (after a permanent delivery failure) gets nothing.
//! Recipients are counted by the mailbox they reach
//! ([`crate::address::mailbox_key`]): `ann+1@`, `ann+2@` and `Ann@` share
//! one budget. Mail a person wrote and notices to agents are not counted
//! here; the breaker over all mail about a ticket is [`crate::desk::flood`].
//!
//! Pure, like the rest of the core: [`lookups`] names what the store must
//! count for the mails a decision would send, the pipeline looks it up, and
//! [`hold_back`] turns each mail over a limit into a `held-back` event
//! before anything is applied.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;

use crate::address::mailbox_key;
use crate::desk::effect::{Effect, OutMail};
use crate::desk::policy::Policy;

/// Limits on automatic mail, against loops with robots.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Limits {
    /// The sliding window the counts below are taken over.
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub window: Duration,
    /// At most this many automatic mails to one address outside the desk per window.
    pub per_recipient: u32,
    /// At most this many automatic mails to requesters about one ticket per window.
    pub per_ticket: u32,
    /// A new ticket from the same sender with the same subject as one they
    /// opened this recently gets no second acknowledgement.
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub duplicate_ack_window: Duration,
    /// After a permanent delivery failure, no mail goes to that address for this long.
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub bounce_suppress: Duration,
    /// `[limits.flood]`: the breaker over all mail about a ticket
    /// ([`crate::desk::flood`]).
    pub flood: crate::desk::flood::Flood,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            window: Duration::from_secs(3600),
            per_recipient: 10,
            per_ticket: 20,
            duplicate_ack_window: Duration::from_secs(600),
            bounce_suppress: Duration::from_secs(7 * 86400),
            flood: crate::desk::flood::Flood::default(),
        }
    }
}

/// What the store must look up for the mails in a decision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lookups {
    /// Every recipient: is it suppressed now?
    pub recipients: BTreeSet<String>,
    /// Outside recipients of automatic mail, by [`mailbox_key`]: how many since `since`?
    pub outside: BTreeSet<String>,
    /// Tickets of automatic mail to outside recipients: how many since `since`?
    pub tickets: BTreeSet<i64>,
    pub since: i64,
    /// (ticket, recipient, subject) of each acknowledgement: did the
    /// recipient open another ticket with this subject since `ack_since`?
    pub acks: Vec<(i64, String, String)>,
    pub ack_since: i64,
}

/// What the store answered to [`Lookups`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// Suppressed recipients: until when, and why.
    pub suppressed: BTreeMap<String, (i64, String)>,
    /// Automatic mails to each outside recipient in the window, by [`mailbox_key`].
    pub to_recipient: BTreeMap<String, i64>,
    /// Automatic mails about each ticket in the window.
    pub on_ticket: BTreeMap<i64, i64>,
    /// Per (ticket, recipient) of an acknowledgement: the other ticket the
    /// recipient opened with the same subject moments ago.
    pub similar: BTreeMap<(i64, String), i64>,
}

/// Recipients the limits count: people outside the desk. Agents and team
/// addresses get every notice; a loop with them is not possible without us.
/// Only automatic mail counts (mail a person wrote always goes).
pub fn counted<'a>(policy: &'a Policy, out: &'a OutMail) -> Vec<&'a str> {
    if out.auto_submitted.is_none() {
        return Vec::new();
    }
    out.to
        .iter()
        .map(|m| m.address.as_str())
        .filter(|a| {
            policy.directory.agent_by_address(a).is_none()
                && !policy
                    .directory
                    .teams
                    .iter()
                    .any(|t| t.address.as_deref() == Some(*a) || t.manager.as_deref() == Some(*a))
        })
        .collect()
}

/// The [`mailbox_key`]s of [`counted`]: what the store records of an
/// automatic mail that goes, one entry per mailbox.
pub fn counted_keys(policy: &Policy, out: &OutMail) -> BTreeSet<String> {
    counted(policy, out).into_iter().map(mailbox_key).collect()
}

fn ack_subject(out: &OutMail) -> &str {
    out.vars
        .get("subject")
        .and_then(|v| v.as_str())
        .unwrap_or("")
}

/// What the store must look up before [`hold_back`] can judge `effects`.
pub fn lookups(limits: &Limits, policy: &Policy, effects: &[Effect], now_ms: i64) -> Lookups {
    let mut l = Lookups {
        since: now_ms - limits.window.as_millis() as i64,
        ack_since: now_ms - limits.duplicate_ack_window.as_millis() as i64,
        ..Lookups::default()
    };
    for out in effects.iter().filter_map(|e| match e {
        Effect::Send(out) => Some(out),
        _ => None,
    }) {
        l.recipients
            .extend(out.to.iter().map(|m| m.address.clone()));
        let outside = counted(policy, out);
        if !outside.is_empty() {
            l.tickets.insert(out.ticket);
        }
        for rcpt in outside {
            l.outside.insert(mailbox_key(rcpt));
            if out.template == "ack" && !limits.duplicate_ack_window.is_zero() {
                l.acks
                    .push((out.ticket, rcpt.to_string(), ack_subject(out).to_string()));
            }
        }
    }
    l
}

/// Turns every mail in `effects` that a limit holds back into a
/// `held-back` event saying why; mails that go are counted as they go, so
/// the second of two mails to one address sees the first.
pub fn hold_back(
    limits: &Limits,
    policy: &Policy,
    effects: Vec<Effect>,
    usage: &Usage,
) -> Vec<Effect> {
    let mut usage = usage.clone();
    effects
        .into_iter()
        .map(|e| match e {
            Effect::Send(out) => match verdict(limits, policy, &out, &usage) {
                Some(why) => Effect::Event {
                    ticket: out.ticket,
                    actor: "postdesk".into(),
                    kind: "held-back",
                    old: None,
                    new: None,
                    detail: Some(why),
                },
                None => {
                    let outside = counted_keys(policy, &out);
                    if !outside.is_empty() {
                        *usage.on_ticket.entry(out.ticket).or_default() += 1;
                    }
                    for key in outside {
                        *usage.to_recipient.entry(key).or_default() += 1;
                    }
                    Effect::Send(out)
                }
            },
            other => other,
        })
        .collect()
}

/// Why `out` must not go now, if it must not.
fn verdict(limits: &Limits, policy: &Policy, out: &OutMail, usage: &Usage) -> Option<String> {
    for rcpt in &out.to {
        if let Some((until, reason)) = usage.suppressed.get(&rcpt.address) {
            return Some(format!(
                "{} to {} held back until {}: {reason}",
                out.template,
                rcpt.address,
                crate::desk::when::iso(*until)
            ));
        }
    }
    let outside = counted(policy, out);
    if outside.is_empty() {
        return None;
    }
    let window = crate::desk::sla::describe_remaining(limits.window.as_millis() as i64)
        .trim_end_matches(" left")
        .to_string();
    for rcpt in &outside {
        let n = usage
            .to_recipient
            .get(&mailbox_key(rcpt))
            .copied()
            .unwrap_or(0);
        if n >= i64::from(limits.per_recipient) {
            return Some(format!(
                "{} to {rcpt} held back: {n} automatic mails to this mailbox in the last {window} (limits.per-recipient = {})",
                out.template, limits.per_recipient
            ));
        }
    }
    let n = usage.on_ticket.get(&out.ticket).copied().unwrap_or(0);
    if n >= i64::from(limits.per_ticket) {
        return Some(format!(
            "{} held back: {n} automatic mails about this ticket in the last {window} (limits.per-ticket = {})",
            out.template, limits.per_ticket
        ));
    }
    if out.template == "ack" && !limits.duplicate_ack_window.is_zero() {
        for rcpt in &outside {
            if let Some(other) = usage.similar.get(&(out.ticket, rcpt.to_string())) {
                return Some(format!(
                    "acknowledgement held back: {rcpt} opened ticket {other} with the same subject moments ago"
                ));
            }
        }
    }
    None
}
