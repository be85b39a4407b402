//! The escalation ladder: which levels are due for a ticket now (each
//! once), and what each does when reached: remind the assignee, tell the
//! lead, move the ticket to the next tier, tell the manager.
//!
//! Pure, like the rest of the core: the sweeper loads tickets, passes `now`,
//! and applies the effects in one transaction. Each level fires once: the
//! levels already fired come in with the ticket and the new ones are recorded
//! in the same commit as their notices.

use std::collections::BTreeSet;
use std::time::Duration;

use super::calendar::Calendar;
use super::clock::{Clock, Pause};
use super::config::{Action, PolicyConfig, Target};
use super::status::{SlaFacts, policy_of, sla_ticket, status};
use crate::address::Mailbox;
use crate::desk::effect::Effect;
use crate::desk::mails;
use crate::desk::policy::Policy;
use crate::desk::sla;
use crate::desk::ticket::{Field, Status, TicketState};
use crate::desk::when;

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

/// The escalation levels `t` reached by `now_ms` and has not fired yet, with
/// what each does: remind, tell the lead, move to the next tier, tell the manager.
pub fn sweep(policy: &Policy, t: &TicketState, now_ms: i64) -> Vec<Effect> {
    let Some(p) = policy_of(policy, t) else {
        return Vec::new();
    };
    let fired: BTreeSet<(Target, u32)> = t
        .escalations_fired
        .iter()
        .filter_map(|(target, pct)| Some((parse_target(target)?, *pct)))
        .collect();
    let mut work = t.clone();
    let mut effects = Vec::new();
    for e in sla::due_escalations(
        p,
        &policy.calendar,
        &sla_ticket(&SlaFacts::from(t)),
        &fired,
        now_ms,
    ) {
        effects.push(Effect::Escalated {
            ticket: t.number,
            target: e.target,
            percent: e.percent,
            action: e.action,
            due_ms: e.due_ms,
        });
        let total = p.target(e.target).unwrap_or_default();
        let what = describe(e.target, e.percent, total);
        match e.action {
            Action::Remind => {
                let to = mails::responsible(policy, &work);
                effects.extend(notice(
                    policy,
                    &work,
                    "sla-warning",
                    to,
                    &what,
                    e.due_ms,
                    now_ms,
                ));
            }
            Action::NotifyLead => {
                let to = work
                    .team
                    .as_deref()
                    .and_then(|team| policy.directory.lead_of(team))
                    .into_iter()
                    .collect();
                effects.extend(notice(
                    policy,
                    &work,
                    "sla-breach",
                    to,
                    &what,
                    e.due_ms,
                    now_ms,
                ));
            }
            Action::NotifyManager => {
                // The manager of the team that has the ticket now, else of
                // the team that had it before this sweep moved it up.
                let manager_of = |team: &Option<String>| {
                    team.as_deref()
                        .and_then(|name| policy.directory.team(name))
                        .and_then(|team| team.manager.clone())
                };
                let to = manager_of(&work.team)
                    .or_else(|| manager_of(&t.team))
                    .map(|m| vec![Mailbox::new(None, &m)])
                    .unwrap_or_default();
                effects.extend(notice(
                    policy,
                    &work,
                    "sla-breach",
                    to,
                    &what,
                    e.due_ms,
                    now_ms,
                ));
            }
            Action::MoveToNextTier => effects.extend(move_up(policy, &mut work, &what)),
        }
    }
    effects
}

/// Moves the ticket to the first team of the next tier and tells that team.
fn move_up(policy: &Policy, t: &mut TicketState, why: &str) -> Vec<Effect> {
    let tier = t.tier.clone().unwrap_or_else(|| "L1".into());
    let Some(next) = policy.directory.next_tier_team(&tier) else {
        return vec![Effect::Event {
            ticket: t.number,
            actor: "postdesk".into(),
            kind: "escalation-skipped",
            old: None,
            new: None,
            detail: Some(format!("{why}: no team above tier {tier}")),
        }];
    };
    let mut effects = vec![Effect::Update {
        ticket: t.number,
        field: Field::Team,
        old: t.team.clone(),
        new: Some(next.name.clone()),
        actor: "postdesk".into(),
        detail: Some(why.to_string()),
    }];
    if t.tier.as_deref() != Some(next.tier.as_str()) {
        effects.push(Effect::Update {
            ticket: t.number,
            field: Field::Tier,
            old: t.tier.clone(),
            new: Some(next.tier.clone()),
            actor: "postdesk".into(),
            detail: Some(why.to_string()),
        });
    }
    if t.assignee.is_some() {
        effects.push(Effect::Update {
            ticket: t.number,
            field: Field::Assignee,
            old: t.assignee.take(),
            new: None,
            actor: "postdesk".into(),
            detail: Some(why.to_string()),
        });
    }
    t.team = Some(next.name.clone());
    t.tier = Some(next.tier.clone());
    let to = policy.directory.team_recipients(&next.name);
    let mut vars = mails::base_vars(policy, t);
    vars.insert("by".into(), "postdesk".into());
    vars.insert("reason".into(), why.into());
    vars.insert("text".into(), "".into());
    vars.insert(
        "help".into(),
        crate::desk::commands::help_text(policy.lang).into(),
    );
    if !to.is_empty() {
        effects.extend(mails::to_agents(policy, t, "escalated", to, vars).map(Effect::Send));
    }
    effects
}

fn parse_target(s: &str) -> Option<Target> {
    [Target::FirstResponse, Target::Resolution]
        .into_iter()
        .find(|t| t.as_str() == s)
}

/// "first response 100% (4h)".
fn describe(target: Target, percent: u32, total: Duration) -> String {
    let mins = total.as_secs() / 60;
    let span = if mins.is_multiple_of(60) {
        format!("{}h", mins / 60)
    } else {
        format!("{}h {}m", mins / 60, mins % 60)
    };
    format!("{} {percent}% of {span}", target.as_str().replace('-', " "))
}

fn notice(
    policy: &Policy,
    t: &TicketState,
    template: &'static str,
    to: Vec<Mailbox>,
    what: &str,
    due_ms: i64,
    now_ms: i64,
) -> Option<Effect> {
    if to.is_empty() {
        return None;
    }
    let mut vars = mails::base_vars(policy, t);
    vars.insert("level".into(), what.into());
    vars.insert(
        "reached".into(),
        when::human_time(
            due_ms,
            &policy.time_zone,
            &policy.time_zone_name,
            policy.lang,
        )
        .into(),
    );
    let status = status(policy, t, now_ms);
    let remaining: Vec<String> = status
        .iter()
        .flat_map(|s| s.targets.iter())
        .filter(|x| x.met_at.is_none())
        .map(|x| {
            format!(
                "{}: {}",
                x.target.as_str(),
                sla::describe_remaining(x.due_ms - now_ms)
            )
        })
        .collect();
    vars.insert("remaining".into(), remaining.into());
    mails::to_agents(policy, t, template, to, vars).map(Effect::Send)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::sla::{CalendarConfig, ClockKind, EscalationLevel};

    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;
    /// Monday 2026-11-30 00:00 UTC.
    const MON: i64 = 1_795_996_800_000;
    const DAY: i64 = 24 * HOUR;

    /// Mon-Fri 09:00-18:00 UTC.
    fn cal() -> Calendar {
        Calendar::from_config(&CalendarConfig::default()).unwrap()
    }

    /// First response 1 h, resolution 4 h (business), levels at 75/100/150 % of each.
    fn policy() -> PolicyConfig {
        let level = |target, at, action| EscalationLevel { target, at, action };
        PolicyConfig {
            priority: crate::desk::ticket::Priority::P2,
            category: None,
            first_response: Some(Duration::from_secs(3600)),
            resolution: Some(Duration::from_secs(4 * 3600)),
            clock: ClockKind::Business,
            escalate: vec![
                // Written out of order on purpose.
                level(Target::Resolution, 150, Action::NotifyManager),
                level(Target::FirstResponse, 100, Action::NotifyLead),
                level(Target::FirstResponse, 75, Action::Remind),
                level(Target::Resolution, 75, Action::Remind),
                level(Target::Resolution, 100, Action::NotifyLead),
                level(Target::FirstResponse, 150, Action::MoveToNextTier),
            ],
        }
    }

    /// Opened Monday 09:00.
    fn ticket() -> SlaTicket {
        SlaTicket {
            created_ms: MON + 9 * HOUR,
            first_response_ms: None,
            resolved_ms: None,
            status: Status::Open,
            pauses: Vec::new(),
        }
    }

    fn keys(v: &[Escalation]) -> Vec<(Target, u32)> {
        v.iter().map(Escalation::key).collect()
    }

    use Target::{FirstResponse as FR, Resolution as RES};

    #[test]
    fn levels_fire_in_order_each_once_when_polled() {
        let (cal, policy, t) = (cal(), policy(), ticket());
        let mut fired = BTreeSet::new();
        let mut log = Vec::new();
        // A daemon ticking every minute through Monday and Tuesday.
        let mut now = MON;
        while now < MON + 2 * DAY {
            for e in due_escalations(&policy, &cal, &t, &fired, now) {
                assert!(fired.insert(e.key()), "{e:?} fired twice");
                assert!(
                    e.due_ms <= now && now - e.due_ms < MINUTE,
                    "{e:?} late at {now}"
                );
                log.push(e);
            }
            now += MINUTE;
        }
        assert_eq!(
            keys(&log),
            [
                (FR, 75),
                (FR, 100),
                (FR, 150),
                (RES, 75),
                (RES, 100),
                (RES, 150)
            ]
        );
        let at = |h: i64, m: i64| MON + h * HOUR + m * MINUTE;
        let due: Vec<i64> = log.iter().map(|e| e.due_ms).collect();
        // 45 m, 1 h, 1 h 30 m; 3 h, 4 h, 6 h of business time from 09:00.
        assert_eq!(
            due,
            [
                at(9, 45),
                at(10, 0),
                at(10, 30),
                at(12, 0),
                at(13, 0),
                at(15, 0)
            ]
        );
        assert_eq!(log[2].action, Action::MoveToNextTier);
        assert_eq!(log[5].action, Action::NotifyManager);
    }

    #[test]
    fn after_a_long_downtime_each_passed_level_comes_back_once() {
        let (cal, policy, t) = (cal(), policy(), ticket());
        // The daemon was down from Monday 08:00 to Wednesday.
        let now = MON + 2 * DAY + 12 * HOUR;
        let due = due_escalations(&policy, &cal, &t, &BTreeSet::new(), now);
        assert_eq!(
            keys(&due),
            [
                (FR, 75),
                (FR, 100),
                (FR, 150),
                (RES, 75),
                (RES, 100),
                (RES, 150)
            ]
        );
        // Each with the instant it was really reached, not "now".
        assert_eq!(due[0].due_ms, MON + 9 * HOUR + 45 * MINUTE);
        assert_eq!(due[5].due_ms, MON + 15 * HOUR);
        // Recorded: never again, however often asked.
        let fired: BTreeSet<_> = due.iter().map(Escalation::key).collect();
        for later in [now, now + HOUR, now + 30 * DAY] {
            assert!(due_escalations(&policy, &cal, &t, &fired, later).is_empty());
        }
        // Partly recorded: only the rest.
        let some: BTreeSet<_> = [(FR, 75), (FR, 100), (RES, 75)].into_iter().collect();
        let rest = due_escalations(&policy, &cal, &t, &some, now);
        assert_eq!(keys(&rest), [(FR, 150), (RES, 100), (RES, 150)]);
    }

    #[test]
    fn levels_wait_for_business_time() {
        let (cal, policy) = (cal(), policy());
        // Opened Friday 17:30: 45 m of business time is Monday 09:15.
        let mut t = ticket();
        t.created_ms = MON - 3 * DAY + 17 * HOUR + 30 * MINUTE;
        let none = BTreeSet::new();
        assert!(due_escalations(&policy, &cal, &t, &none, MON + 9 * HOUR).is_empty());
        let due = due_escalations(&policy, &cal, &t, &none, MON + 9 * HOUR + 15 * MINUTE);
        assert_eq!(keys(&due), [(FR, 75)]);
        assert_eq!(due[0].due_ms, MON + 9 * HOUR + 15 * MINUTE);
    }

    #[test]
    fn a_resolved_or_closed_ticket_never_escalates() {
        let (cal, policy) = (cal(), policy());
        let now = MON + 3 * DAY;
        let none = BTreeSet::new();
        for status in [Status::Resolved, Status::Closed] {
            let t = SlaTicket {
                status,
                resolved_ms: Some(MON + 10 * HOUR),
                ..ticket()
            };
            assert!(
                due_escalations(&policy, &cal, &t, &none, now).is_empty(),
                "{status}"
            );
        }
        // Closed without ever being marked resolved: still nothing.
        let t = SlaTicket {
            status: Status::Closed,
            ..ticket()
        };
        assert!(due_escalations(&policy, &cal, &t, &none, now).is_empty());
    }

    #[test]
    fn after_the_first_response_only_resolution_levels_remain() {
        let (cal, policy) = (cal(), policy());
        let t = SlaTicket {
            first_response_ms: Some(MON + 9 * HOUR + 50 * MINUTE),
            ..ticket()
        };
        let due = due_escalations(&policy, &cal, &t, &BTreeSet::new(), MON + 2 * DAY);
        assert_eq!(keys(&due), [(RES, 75), (RES, 100), (RES, 150)]);
    }

    #[test]
    fn a_pending_ticket_does_not_escalate_while_it_waits() {
        let (cal, policy) = (cal(), policy());
        // Answered at 09:30, pending from 10:00 (1 h used) until Wednesday.
        let t = SlaTicket {
            first_response_ms: Some(MON + 9 * HOUR + 30 * MINUTE),
            status: Status::Pending,
            pauses: vec![Pause {
                from_ms: MON + 10 * HOUR,
                until_ms: None,
            }],
            ..ticket()
        };
        let none = BTreeSet::new();
        assert!(due_escalations(&policy, &cal, &t, &none, MON + 2 * DAY).is_empty());
        // Back to open on Wednesday 09:00: 75 % (3 h) comes at 11:00.
        let t = SlaTicket {
            status: Status::Open,
            pauses: vec![Pause {
                from_ms: MON + 10 * HOUR,
                until_ms: Some(MON + 2 * DAY + 9 * HOUR),
            }],
            ..t
        };
        let wed = MON + 2 * DAY;
        assert!(due_escalations(&policy, &cal, &t, &none, wed + 11 * HOUR - 1).is_empty());
        let due = due_escalations(&policy, &cal, &t, &none, wed + 11 * HOUR);
        assert_eq!(keys(&due), [(RES, 75)]);
        assert_eq!(due[0].due_ms, wed + 11 * HOUR);
    }

    #[test]
    fn percent_of_is_exact_to_the_millisecond() {
        let d = Duration::from_secs(3600);
        assert_eq!(percent_of(d, 75), Duration::from_secs(45 * 60));
        assert_eq!(percent_of(d, 150), Duration::from_secs(90 * 60));
        assert_eq!(
            percent_of(Duration::from_secs(1), 33),
            Duration::from_millis(330)
        );
    }
}

#[cfg(test)]
pub(super) mod ladder_tests {
    use super::*;
    use crate::config::Config;
    use crate::desk::sla::status::{DueFilter, SlaFacts, select};
    use crate::desk::ticket::Priority;
    use std::path::Path;

    pub(crate) const H: i64 = 3_600_000;
    pub(crate) const T0: i64 = 1_796_004_000_000; // Monday 2026-11-30 02:00 UTC

    pub(crate) fn policy() -> Policy {
        let cfg = Config::from_toml(
            r#"
[desk]
address = "helpdesk@example.test"
[workflow]
agent-authentication = "none"
[[team]]
name = "service-desk"
tier = "L1"
address = "l1@corp.test"
lead = "carol"
manager = "boss@corp.test"
[[team]]
name = "network"
tier = "L2"
address = "l2@corp.test"
[[agent]]
name = "carol"
addresses = ["carol@corp.test"]
team = "service-desk"
[sla.calendar]
time-zone = "UTC"
hours = { mon = "00:00-24:00", tue = "00:00-24:00", wed = "00:00-24:00", thu = "00:00-24:00", fri = "00:00-24:00", sat = "00:00-24:00", sun = "00:00-24:00" }
[[sla.policy]]
priority = "P1"
first-response = "1h"
resolution = "4h"
[[sla.policy.escalate]]
target = "first-response"
at = "75%"
action = "remind"
[[sla.policy.escalate]]
target = "first-response"
at = "100%"
action = "move-to-next-tier"
[[sla.policy.escalate]]
target = "first-response"
at = "150%"
action = "notify-manager"
"#,
            Path::new("t.toml"),
            Path::new("."),
        )
        .unwrap();
        crate::pipeline::policy_from_config(&cfg, crate::thread::IdKey::fixed(7)).unwrap()
    }

    pub(crate) fn ticket() -> TicketState {
        TicketState {
            number: 9,
            status: Some(Status::New),
            requester: "ann@corp.test".into(),
            subject: "Core switch down".into(),
            priority: Some(Priority::P1),
            team: Some("service-desk".into()),
            tier: Some("L1".into()),
            created_at: T0,
            ..TicketState::default()
        }
    }

    fn templates(fx: &[Effect]) -> Vec<(&'static str, String)> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Send(m) => Some((m.template, m.to[0].address.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn levels_fire_in_order_with_their_actions() {
        let p = policy();
        let t = ticket();
        assert!(sweep(&p, &t, T0 + H / 2).is_empty());
        let fx = sweep(&p, &t, T0 + H * 3 / 4);
        assert_eq!(
            templates(&fx),
            [("sla-warning", "l1@corp.test".to_string())]
        );
        // After downtime: the two remaining levels, once each.
        let mut t2 = t.clone();
        t2.escalations_fired = vec![("first-response".into(), 75)];
        let fx = sweep(&p, &t2, T0 + 2 * H);
        let fired: Vec<u32> = fx
            .iter()
            .filter_map(|e| match e {
                Effect::Escalated { percent, .. } => Some(*percent),
                _ => None,
            })
            .collect();
        assert_eq!(fired, [100, 150]);
        assert!(fx.iter().any(|e| matches!(e, Effect::Update { field: Field::Team, new: Some(n), .. } if n == "network")));
        assert!(fx.iter().any(
            |e| matches!(e, Effect::Update { field: Field::Tier, new: Some(n), .. } if n == "L2")
        ));
        assert_eq!(
            templates(&fx),
            [
                ("escalated", "l2@corp.test".to_string()),
                ("sla-breach", "boss@corp.test".to_string())
            ]
        );
        t2.escalations_fired = vec![
            ("first-response".into(), 75),
            ("first-response".into(), 100),
            ("first-response".into(), 150),
        ];
        assert!(sweep(&p, &t2, T0 + 10 * H).is_empty(), "never twice");
    }

    #[test]
    fn answered_or_resolved_tickets_do_not_escalate() {
        let p = policy();
        let mut t = ticket();
        t.first_response_at = Some(T0 + H / 4);
        assert!(
            sweep(&p, &t, T0 + 3 * H).is_empty(),
            "first response met; no resolution levels configured"
        );
        let mut t = ticket();
        t.status = Some(Status::Resolved);
        t.resolved_at = Some(T0 + H / 4);
        assert!(sweep(&p, &t, T0 + 3 * H).is_empty());
    }

    #[test]
    fn status_shows_due_used_and_breach() {
        let p = policy();
        let mut t = ticket();
        let s = status(&p, &t, T0 + 2 * H).unwrap();
        assert_eq!(s.targets[0].due_ms, T0 + H);
        assert!(s.targets[0].breached);
        assert_eq!(s.targets[1].due_ms, T0 + 4 * H);
        assert!(!s.targets[1].breached);
        t.status = Some(Status::Pending);
        t.pauses = vec![crate::desk::sla::Pause {
            from_ms: T0 + H / 2,
            until_ms: None,
        }];
        let s = status(&p, &t, T0 + 2 * H).unwrap();
        assert!(
            s.targets[0].paused && !s.targets[0].breached,
            "paused clocks do not breach"
        );
        assert_eq!(s.targets[0].used, Duration::from_secs(1800));
    }

    #[test]
    fn select_keeps_overdue_or_soon_tickets_in_order() {
        let p = policy();
        let facts = |created_at, priority, status, pauses: Vec<crate::desk::sla::Pause>| SlaFacts {
            priority,
            category: None,
            status,
            created_at,
            first_response_at: None,
            resolved_at: None,
            closed_at: None,
            pauses,
        };
        let now = T0 + 10 * H;
        let tickets = vec![
            // First response due at T0 + 10h + 30m: soon, not late.
            (
                "soon",
                facts(T0 + 9 * H + H / 2, Some(Priority::P1), Status::New, vec![]),
            ),
            // Past due and running: late.
            ("late", facts(T0, Some(Priority::P1), Status::Open, vec![])),
            // Paused after 30m of its hour: not overdue, though past the
            // hour; its due time is as if the clock ran again now.
            (
                "paused",
                facts(
                    T0,
                    Some(Priority::P1),
                    Status::Pending,
                    vec![crate::desk::sla::Pause {
                        from_ms: T0 + H / 2,
                        until_ms: None,
                    }],
                ),
            ),
            // No policy for P3: never selected, listed without a due time.
            (
                "no-policy",
                facts(T0, Some(Priority::P3), Status::New, vec![]),
            ),
            (
                "later",
                facts(T0 + 10 * H, Some(Priority::P1), Status::New, vec![]),
            ),
        ];
        let names = |f: DueFilter, limit| -> Vec<&str> {
            select(&p, tickets.clone(), f, now, limit)
                .into_iter()
                .map(|(n, _)| n)
                .collect()
        };
        let overdue = DueFilter {
            overdue: true,
            within: None,
        };
        let within = DueFilter {
            overdue: false,
            within: Some(Duration::from_secs(45 * 60)),
        };
        assert_eq!(names(overdue, 10), ["late"]);
        assert_eq!(names(within, 10), ["soon", "late", "paused"]);
        assert_eq!(names(within, 2), ["soon", "late"]);
        assert_eq!(
            names(DueFilter::default(), 10),
            ["soon", "late", "paused", "no-policy", "later"]
        );
        let all = select(&p, tickets.clone(), DueFilter::default(), now, 10);
        assert_eq!(all[0].1, Some(T0 + 10 * H + H / 2));
        assert_eq!(all[2].1, Some(now + H / 2));
        assert_eq!(all[3].1, None);
        assert_eq!(all[4].1, Some(T0 + 11 * H));
    }

    #[test]
    fn target_lines_for_people() {
        let p = policy();
        let mut t = ticket();
        let s = status(&p, &t, T0 + 2 * H).unwrap();
        assert_eq!(
            s.targets[0].describe(T0 + 2 * H),
            "due 2026-11-30 03:00:00Z: overdue by 1h, 120m of 60m used  BREACHED"
        );
        assert_eq!(
            s.targets[1].describe(T0 + 2 * H),
            "due 2026-11-30 06:00:00Z: 2h left, 120m of 240m used"
        );
        t.first_response_at = Some(T0 + H / 2);
        t.status = Some(Status::Resolved);
        t.resolved_at = Some(T0 + 5 * H);
        let s = status(&p, &t, T0 + 6 * H).unwrap();
        assert_eq!(
            s.targets[0].describe(T0 + 6 * H),
            "met at 2026-11-30 02:30:00Z (due 2026-11-30 03:00:00Z)"
        );
        assert_eq!(
            s.targets[1].describe(T0 + 6 * H),
            "met late at 2026-11-30 07:00:00Z (due 2026-11-30 06:00:00Z)"
        );
        let mut t = ticket();
        t.status = Some(Status::Pending);
        t.pauses = vec![crate::desk::sla::Pause {
            from_ms: T0 + H / 2,
            until_ms: None,
        }];
        let s = status(&p, &t, T0 + 2 * H).unwrap();
        assert_eq!(
            s.targets[0].describe(T0 + 2 * H),
            "paused (waiting on the requester), 30m of 60m used"
        );
    }
}
