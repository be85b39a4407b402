//! Where a ticket stands against its SLA targets: due, used, left, met,
//! breached. What `postdesk ticket N` shows and the overdue listing sorts by.

use std::time::Duration;

use super::config::{PolicyConfig, Target};
use super::escalation::SlaTicket;
use crate::desk::policy::Policy;
use crate::desk::ticket::{Status, TicketState};

/// Where a ticket stands against one target.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetStatus {
    pub target: Target,
    pub due_ms: i64,
    pub total: Duration,
    /// Clock time used so far (or until the target was met).
    pub used: Duration,
    /// The clock is stopped: the ticket waits on the requester.
    pub paused: bool,
    /// When the target was met (first answer, resolution).
    pub met_at: Option<i64>,
    /// Met late, or not met and past due.
    pub breached: bool,
}

/// A ticket's SLA: its policy and both targets.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaStatus {
    pub priority: String,
    pub targets: Vec<TargetStatus>,
}

impl SlaStatus {
    pub fn breached(&self) -> bool {
        self.targets.iter().any(|t| t.breached)
    }

    /// The earliest due time of a target not yet met, if any.
    pub fn next_due(&self) -> Option<i64> {
        self.targets
            .iter()
            .filter(|t| t.met_at.is_none())
            .map(|t| t.due_ms)
            .min()
    }
}

/// What the SLA arithmetic needs of a ticket.
pub(crate) fn sla_ticket(t: &TicketState) -> SlaTicket {
    let done = matches!(t.status(), Status::Resolved | Status::Closed);
    SlaTicket {
        created_ms: t.created_at,
        first_response_ms: t.first_response_at,
        resolved_ms: if done {
            t.resolved_at.or(t.closed_at)
        } else {
            None
        },
        status: t.status(),
        pauses: t.pauses.clone(),
    }
}

pub(crate) fn policy_of<'p>(policy: &'p Policy, t: &TicketState) -> Option<&'p PolicyConfig> {
    policy.sla_policy(t.priority, t.category.as_deref())
}

/// Where `t` stands against its SLA policy at `now_ms`; `None` without a policy.
pub fn status(policy: &Policy, t: &TicketState, now_ms: i64) -> Option<SlaStatus> {
    let p = policy_of(policy, t)?;
    let st = sla_ticket(t);
    let clock = st.clock();
    let mut targets = Vec::new();
    for (target, met_at) in [
        (Target::FirstResponse, st.first_response_ms),
        (Target::Resolution, st.resolved_ms),
    ] {
        let Some(total) = p.target(target) else {
            continue;
        };
        let until = met_at.unwrap_or(now_ms);
        let Ok(due) = clock.due(&policy.calendar, p.clock, total, until) else {
            continue;
        };
        let used = clock.elapsed(&policy.calendar, p.clock, until);
        let breached = match met_at {
            Some(at) => at > due.due_ms,
            None => now_ms > due.due_ms && !due.paused,
        };
        targets.push(TargetStatus {
            target,
            due_ms: due.due_ms,
            total,
            used,
            paused: due.paused && met_at.is_none(),
            met_at,
            breached,
        });
    }
    Some(SlaStatus {
        priority: p.priority.to_string(),
        targets,
    })
}
