//! Which escalation levels are due for a ticket now.

use std::collections::BTreeSet;
use std::time::Duration;

use super::calendar::Calendar;
use super::clock::{Clock, Pause};
use super::config::{Action, PolicyConfig, Target};
use crate::desk::ticket::Status;

/// What the escalation rules need to know about a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaTicket {
    pub created_ms: i64,
    /// When an agent first answered.
    pub first_response_ms: Option<i64>,
    /// When the ticket was resolved; a reopened ticket should have this cleared.
    pub resolved_ms: Option<i64>,
    pub status: Status,
    /// Spans spent pending on the requester.
    pub pauses: Vec<Pause>,
}

impl SlaTicket {
    /// The ticket's SLA clock: from creation, without the pauses.
    pub fn clock(&self) -> Clock {
        Clock {
            started_ms: self.created_ms,
            pauses: self.pauses.clone(),
        }
    }
}

/// A level to act on now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escalation {
    pub target: Target,
    pub percent: u32,
    pub action: Action,
    /// When the level was reached (at or before `now`).
    pub due_ms: i64,
}

impl Escalation {
    /// The key to record once acted on, and to pass back in `already_fired`.
    pub fn key(&self) -> (Target, u32) {
        (self.target, self.percent)
    }
}

/// The levels of `policy` that `ticket` has reached by `now_ms` and that are
/// not in `already_fired`, earliest first (so in order of percent within a
/// target).
///
/// Each level is returned at most once however long the daemon was away: a
/// caller records [`Escalation::key`] after acting and passes the set back.
/// First-response levels stop once an agent has answered; nothing fires for
/// a resolved or closed ticket.
pub fn due_escalations(
    policy: &PolicyConfig,
    cal: &Calendar,
    ticket: &SlaTicket,
    already_fired: &BTreeSet<(Target, u32)>,
    now_ms: i64,
) -> Vec<Escalation> {
    if !ticket.status.is_active() || ticket.resolved_ms.is_some() {
        return Vec::new();
    }
    let clock = ticket.clock();
    let elapsed = clock.elapsed(cal, policy.clock, now_ms);
    let mut out: Vec<Escalation> = policy
        .escalate
        .iter()
        .filter(|l| !(l.target == Target::FirstResponse && ticket.first_response_ms.is_some()))
        .filter(|l| !already_fired.contains(&(l.target, l.at)))
        .filter_map(|l| {
            let threshold = percent_of(policy.target(l.target)?, l.at);
            if elapsed < threshold {
                return None;
            }
            // The level was reached in the past, so its instant exists; `now`
            // is a fallback only if the past lies beyond the search horizon.
            let due_ms = clock
                .due(cal, policy.clock, threshold, now_ms)
                .map_or(now_ms, |d| d.due_ms.min(now_ms));
            Some(Escalation {
                target: l.target,
                percent: l.at,
                action: l.action,
                due_ms,
            })
        })
        .collect();
    out.sort_by_key(|e| (e.due_ms, e.target, e.percent));
    out
}

/// `percent` % of `target`, to the millisecond (as business time is counted).
pub fn percent_of(target: Duration, percent: u32) -> Duration {
    let ms = target.as_millis() * u128::from(percent) / 100;
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}
