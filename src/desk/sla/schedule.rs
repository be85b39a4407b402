//! When the clock must look at a ticket next, and when its next target is
//! due: the two instants the store keeps in indexed columns, so the sweeper
//! asks only for tickets due now and the overdue listing reads only the
//! tickets that can be overdue (issue 16: at 100,000 open tickets, loading
//! each one every minute took seconds inside the write transaction).
//!
//! Both instants stay right without being touched while nothing about the
//! ticket changes: a running clock's due times are fixed instants (business
//! time is deterministic), and a stopped clock reaches no level. Every
//! change that moves them (status, priority, category, first response, a
//! new calendar) marks the ticket to be looked at again instead.

use std::collections::BTreeSet;

use super::config::Target;
use super::escalation::percent_of;
use super::status::{SlaFacts, sla_ticket, status_of};
use crate::desk::policy::Policy;
use crate::desk::ticket::TicketState;

/// How long until a ticket whose next level lies beyond the calendar's
/// search horizon is looked at again: once a day costs nothing and recovers
/// when the calendar gains working time.
const RECHECK_MS: i64 = 24 * 3_600_000;

/// A ticket's place in the clock's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// When the next escalation level not yet fired is reached; `None` when
    /// none can be (no policy, no levels left, clock stopped, not active).
    pub wake_ms: Option<i64>,
    /// The earliest due time of a target not yet met ([`super::SlaStatus::next_due`]).
    /// For a stopped clock this is where it would stand if it ran again now:
    /// a lower bound, as the due time only moves later while it stands.
    pub due_ms: Option<i64>,
    /// The clock stands (waiting on the requester): not overdue, whatever `due_ms` says.
    pub paused: bool,
}

/// Where `t` goes in the schedule at `now_ms`, after the levels reached by
/// now have fired.
pub fn schedule(policy: &Policy, t: &TicketState, now_ms: i64) -> Schedule {
    let facts = SlaFacts::from(t);
    let status = status_of(policy, &facts, now_ms);
    let due_ms = status.as_ref().and_then(|s| s.next_due());
    let paused = status
        .as_ref()
        .is_some_and(|s| s.targets.iter().any(|x| x.paused));
    Schedule {
        wake_ms: next_level(policy, t, &facts, now_ms),
        due_ms,
        paused,
    }
}

/// The earliest instant after `now_ms` an unfired level is reached.
fn next_level(policy: &Policy, t: &TicketState, f: &SlaFacts, now_ms: i64) -> Option<i64> {
    let p = policy.sla_policy(f.priority, f.category.as_deref())?;
    let st = sla_ticket(f);
    if !st.status.is_active() || st.resolved_ms.is_some() {
        return None;
    }
    let clock = st.clock();
    if clock.is_paused(now_ms) {
        return None;
    }
    let fired: BTreeSet<(&str, u32)> = t
        .escalations_fired
        .iter()
        .map(|(target, pct)| (target.as_str(), *pct))
        .collect();
    p.escalate
        .iter()
        .filter(|l| !(l.target == Target::FirstResponse && st.first_response_ms.is_some()))
        .filter(|l| !fired.contains(&(l.target.as_str(), l.at)))
        .filter_map(|l| {
            let threshold = percent_of(p.target(l.target)?, l.at);
            Some(
                match clock.due(&policy.calendar, p.clock, threshold, now_ms) {
                    // A level reached but not fired (its sweep is still to come)
                    // is due at once.
                    Ok(due) => due.due_ms.max(now_ms),
                    Err(_) => now_ms + RECHECK_MS,
                },
            )
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::effect::Effect;
    use crate::desk::sla::clock::Pause;
    use crate::desk::sla::escalation::ladder_tests::{H, T0, policy, ticket};
    use crate::desk::sla::escalation::sweep;
    use crate::desk::ticket::Status;

    #[test]
    fn a_new_ticket_wakes_at_its_first_level_and_is_due_at_its_first_target() {
        let s = schedule(&policy(), &ticket(), T0);
        assert_eq!(
            s.wake_ms,
            Some(T0 + H * 3 / 4),
            "75% of the 1h first response"
        );
        assert_eq!(s.due_ms, Some(T0 + H));
        assert!(!s.paused);
    }

    #[test]
    fn fired_levels_and_an_answer_move_the_wake_up() {
        let p = policy();
        let mut t = ticket();
        t.escalations_fired = vec![("first-response".into(), 75)];
        assert_eq!(schedule(&p, &t, T0 + H).wake_ms, Some(T0 + H));
        // Answered: the first-response ladder stops; no resolution levels.
        t.first_response_at = Some(T0 + H / 2);
        let s = schedule(&p, &t, T0 + H);
        assert_eq!(s.wake_ms, None);
        assert_eq!(s.due_ms, Some(T0 + 4 * H), "the resolution target is next");
    }

    #[test]
    fn a_stopped_clock_never_wakes_and_is_never_overdue() {
        let p = policy();
        let mut t = ticket();
        t.status = Some(Status::Pending);
        t.pauses = vec![Pause {
            from_ms: T0 + H / 4,
            until_ms: None,
        }];
        let s = schedule(&p, &t, T0 + 2 * H);
        assert_eq!(s.wake_ms, None);
        assert!(s.paused);
        // Due where it would stand if it ran from now: 45m of the hour left.
        assert_eq!(s.due_ms, Some(T0 + 2 * H + H * 3 / 4));
        t.status = Some(Status::Resolved);
        t.resolved_at = Some(T0 + 2 * H);
        assert_eq!(schedule(&p, &t, T0 + 3 * H).wake_ms, None);
    }

    /// The sweep finds nothing before the wake and something at it, at every
    /// minute of the ladder: the schedule never sleeps through a level.
    #[test]
    fn the_sweep_fires_exactly_when_the_schedule_wakes() {
        let p = policy();
        let mut t = ticket();
        let mut wakes = 0;
        for minute in 0..=180 {
            let now = T0 + minute * 60_000;
            let wake = schedule(&p, &t, now).wake_ms;
            let fx = sweep(&p, &t, now);
            let fired: Vec<(String, u32)> = fx
                .iter()
                .filter_map(|e| match e {
                    Effect::Escalated {
                        target, percent, ..
                    } => Some((target.as_str().to_string(), *percent)),
                    _ => None,
                })
                .collect();
            assert_eq!(
                !fired.is_empty(),
                wake.is_some_and(|w| w <= now),
                "minute {minute}: wake {wake:?}, fired {fired:?}"
            );
            if !fired.is_empty() {
                wakes += 1;
            }
            t.escalations_fired.extend(fired);
        }
        assert_eq!(wakes, 3, "75%, 100% and 150% of the first response");
        assert_eq!(schedule(&p, &t, T0 + 3 * H).wake_ms, None);
    }
}
