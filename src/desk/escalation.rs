//! Watching the SLA clock: where a ticket stands against its targets, and
//! what each escalation level does when it is reached.
//!
//! Pure, like the rest of the core: the sweeper loads tickets, passes `now`,
//! and applies the effects in one transaction. Each level fires once: the
//! levels already fired come in with the ticket and the new ones are recorded
//! in the same commit as their notices.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::address::Mailbox;
use crate::desk::decide::{Effect, Field, Policy, TicketState};
use crate::desk::mails;
use crate::desk::sla::{self, Action, Pause, PolicyConfig, SlaTicket, Target};
use crate::desk::ticket::{Priority, Status};
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
#[derive(Debug, Clone, PartialEq)]
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

fn sla_ticket(f: &SlaFacts) -> SlaTicket {
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

fn policy_of<'p>(policy: &'p Policy, t: &TicketState) -> Option<&'p PolicyConfig> {
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
    let clock = sla_ticket(&SlaFacts::from(t));
    for e in sla::due_escalations(p, &policy.calendar, &clock, &fired, now_ms) {
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
    use crate::config::Config;
    use crate::desk::ticket::Priority;
    use std::path::Path;

    const H: i64 = 3_600_000;
    const T0: i64 = 1_796_004_000_000; // Monday 2026-11-30 02:00 UTC

    fn policy() -> Policy {
        let cfg = Config::from_toml(
            r#"
[desk]
address = "helpdesk@example.test"
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
        crate::pipeline::policy_from_config(&cfg).unwrap()
    }

    fn ticket() -> TicketState {
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
