//! Where a ticket stands against its SLA targets: due, used, left, met,
//! breached. What `postdesk ticket N` shows and the overdue listing selects by.

use std::time::Duration;

use super::clock::Pause;
use super::config::{PolicyConfig, Target};
use super::escalation::SlaTicket;
use crate::desk::policy::Policy;
use crate::desk::sla;
use crate::desk::ticket::{Priority, Status, TicketState};
use crate::desk::when;

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

impl TargetStatus {
    /// One line for people: "met at …", "met late at … (due …)", "paused
    /// (waiting on the requester), 40m of 240m used", or "due …: 2h left,
    /// 20m of 240m used", with "  BREACHED" when it is.
    pub fn describe(&self, now_ms: i64) -> String {
        let used = format!(
            "{}m of {}m used",
            self.used.as_secs() / 60,
            self.total.as_secs() / 60
        );
        match self.met_at {
            Some(at) if self.breached => {
                format!(
                    "met late at {} (due {})",
                    when::iso(at),
                    when::iso(self.due_ms)
                )
            }
            Some(at) => format!("met at {} (due {})", when::iso(at), when::iso(self.due_ms)),
            None if self.paused => format!("paused (waiting on the requester), {used}"),
            None => format!(
                "due {}: {}, {used}{}",
                when::iso(self.due_ms),
                sla::describe_remaining(self.due_ms - now_ms),
                if self.breached { "  BREACHED" } else { "" }
            ),
        }
    }
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

/// What a ticket's standing against its SLA depends on, and nothing more:
/// the fields of [`TicketState`] that [`status_of`] reads. A list of tickets
/// loads these in one query (`Store::tickets_with_sla`) instead of a whole
/// state per ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaFacts {
    pub priority: Option<Priority>,
    pub category: Option<String>,
    pub status: Status,
    pub created_at: i64,
    pub first_response_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// Spans the ticket waited on its requester, by start.
    pub pauses: Vec<Pause>,
}

impl From<&TicketState> for SlaFacts {
    fn from(t: &TicketState) -> SlaFacts {
        SlaFacts {
            priority: t.priority,
            category: t.category.clone(),
            status: t.status(),
            created_at: t.created_at,
            first_response_at: t.first_response_at,
            resolved_at: t.resolved_at,
            closed_at: t.closed_at,
            pauses: t.pauses.clone(),
        }
    }
}

/// What the SLA arithmetic needs of a ticket.
pub(crate) fn sla_ticket(f: &SlaFacts) -> SlaTicket {
    let done = matches!(f.status, Status::Resolved | Status::Closed);
    SlaTicket {
        created_ms: f.created_at,
        first_response_ms: f.first_response_at,
        resolved_ms: if done {
            f.resolved_at.or(f.closed_at)
        } else {
            None
        },
        status: f.status,
        pauses: f.pauses.clone(),
    }
}

pub(crate) fn policy_of<'p>(policy: &'p Policy, t: &TicketState) -> Option<&'p PolicyConfig> {
    policy.sla_policy(t.priority, t.category.as_deref())
}

/// Where `t` stands against its SLA policy at `now_ms`; `None` without a policy.
pub fn status(policy: &Policy, t: &TicketState, now_ms: i64) -> Option<SlaStatus> {
    status_of(policy, &SlaFacts::from(t), now_ms)
}

/// [`status`] of a ticket known by its [`SlaFacts`].
pub fn status_of(policy: &Policy, f: &SlaFacts, now_ms: i64) -> Option<SlaStatus> {
    let p = policy.sla_policy(f.priority, f.category.as_deref())?;
    let st = sla_ticket(f);
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

/// Which tickets a listing keeps by their SLA (`postdesk tickets
/// --overdue`, `--due-within 2h`). Both set: a ticket that is either.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DueFilter {
    /// A target not met, its clock running, past its due time.
    pub overdue: bool,
    /// The next due time (of a target not met, paused or not) is at most
    /// this far away; past due times count.
    pub within: Option<Duration>,
}

impl DueFilter {
    /// True when the filter drops anything: then every candidate must be
    /// looked at before the first `limit` are known.
    pub fn is_active(&self) -> bool {
        self.overdue || self.within.is_some()
    }

    fn keeps(&self, sla: Option<&SlaStatus>, now_ms: i64) -> bool {
        if !self.is_active() {
            return true;
        }
        let late = sla.is_some_and(|s| {
            s.targets
                .iter()
                .any(|x| x.met_at.is_none() && !x.paused && x.due_ms < now_ms)
        });
        let next_due = sla.and_then(SlaStatus::next_due);
        let soon = self
            .within
            .is_some_and(|w| next_due.is_some_and(|d| d - now_ms <= w.as_millis() as i64));
        (self.overdue && late) || soon
    }
}

/// The first `limit` of `tickets` (in the order given) that `filter`
/// keeps, each with its next due time ([`SlaStatus::next_due`]; `None`
/// without a policy or with every target met). `T` is whatever the caller
/// lists, a row of the ticket table say.
pub fn select<T>(
    policy: &Policy,
    tickets: impl IntoIterator<Item = (T, SlaFacts)>,
    filter: DueFilter,
    now_ms: i64,
    limit: usize,
) -> Vec<(T, Option<i64>)> {
    let mut out = Vec::new();
    for (row, facts) in tickets {
        if out.len() >= limit {
            break;
        }
        let sla = status_of(policy, &facts, now_ms);
        if filter.keeps(sla.as_ref(), now_ms) {
            out.push((row, sla.as_ref().and_then(SlaStatus::next_due)));
        }
    }
    out
}
