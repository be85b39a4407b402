//! The review of a period: how many tickets came and went, how fast, how
//! well the promises were kept, how satisfied people were, which problems
//! recur.
//!
//! Pure: [`compute`] takes the rows `store::report` loads and returns a
//! [`Report`]; the submodules render it. Only what was known at the end of
//! the period counts, so a review of last month reads the same today and in
//! a year.
//!
//! - [`period`]: months, quarters, weeks and day ranges in the desk's zone.
//! - [`table`]: plain text, Markdown and CSV.
//! - [`html`]: one HTML page with inline SVG charts, for mail or offline use.
//! - [`schedule`]: the `[report]` section and which periods are due to be mailed.
//! - [`mail`]: the scheduled review as a mail in the outbox, once per period.
//!
//! Definitions (also printed under the review):
//! - *Opened*: created in the period. *Resolved*: set to resolved (or
//!   closed without being resolved first) in the period. *Closed*: set to
//!   closed in the period. Breakdowns use the ticket's category, priority and
//!   team as they are now.
//! - *First response* and *resolution time*: business time (the SLA
//!   calendar, or the policy's clock) from creation to the first answer of an
//!   agent (tickets opened in the period) or to the last resolution in the
//!   period (tickets resolved in the period), without the time the ticket was
//!   pending on the requester. *Median*: the middle value (the mean of the
//!   two middle values for an even count). *p90*: the nearest-rank 90th
//!   percentile, the smallest value with at least 90 % of values at or below it.
//! - *SLA compliance*: of the targets decided in the period, the share met
//!   in time. A first-response target is decided by the first answer, or by
//!   its due time passing unanswered; a resolution target by the resolution,
//!   or by its due time passing unresolved within the period.
//! - *Reopened*: went from resolved or closed back to an active status in
//!   the period; the rate is reopened ÷ resolved.
//! - *Backlog*: new, open or pending at the end of the period; its age is
//!   calendar time since creation.
//! - *Satisfaction*: ratings given in the period; the response rate is the
//!   share of surveys sent in the period that were answered.
//! - *Time worked*: the minutes agents recorded with `#time` in the period,
//!   per agent, team and category; the average per resolved ticket is over
//!   the tickets resolved in the period that have time recorded (see [`time`]).
//! - *Frequent subjects*: subjects of tickets opened in the period that
//!   recur once digits and punctuation are ignored; *frequent words*: the
//!   words (Chinese: two-character words) most tickets' subjects share.

pub mod html;
pub mod mail;
pub mod period;
pub mod schedule;
pub mod table;
pub mod time;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::desk::sla::Clock;
use crate::desk::sla::{Calendar, ClockKind, Pause, SlaConfig, Target};
use crate::desk::ticket::Priority;
pub use period::Period;

/// A status change, from the ticket's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub at: i64,
    pub old: String,
    pub new: String,
    pub actor: String,
}

/// An escalation level that fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub at: i64,
    pub target: String,
    pub percent: u32,
    pub action: String,
}

/// Everything the review needs to know about one ticket.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TicketFacts {
    pub number: i64,
    pub subject: String,
    pub priority: Option<Priority>,
    pub category: Option<String>,
    pub team: Option<String>,
    pub assignee: Option<String>,
    pub created_at: i64,
    pub first_response_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub rating: Option<u8>,
    pub rating_comment: Option<String>,
    pub rated_agent: Option<String>,
    pub rated_at: Option<i64>,
    pub survey_sent_at: Option<i64>,
    pub pauses: Vec<Pause>,
    /// Oldest first.
    pub changes: Vec<StatusChange>,
    pub escalations: Vec<Fired>,
    /// When the requester said a suggested knowledge-base entry solved it.
    pub self_solved_at: Option<i64>,
    /// A spam ticket: counted on its own line, in no other figure.
    pub spam: bool,
    /// Time agents recorded on it (`#time`), oldest first.
    pub time: Vec<time::TimeSpent>,
    /// When an `[[exclusion]]` resolved it as out of scope.
    pub out_of_scope_at: Option<i64>,
}

/// What the review is computed with.
#[derive(Debug, Clone)]
pub struct Settings<'a> {
    pub desk_name: &'a str,
    pub time_zone: &'a jiff::tz::TimeZone,
    pub time_zone_name: &'a str,
    pub sla: &'a SlaConfig,
    pub calendar: &'a Calendar,
    /// Ratings at or below this are listed as the lowest.
    pub low_rating: u8,
    /// How many rows the "top" lists keep.
    pub top: usize,
}

impl<'a> Settings<'a> {
    /// The settings of a desk's policy; lists keep the top 10.
    pub fn from_policy(p: &'a crate::desk::policy::Policy) -> Settings<'a> {
        Settings {
            desk_name: &p.desk_name,
            time_zone: &p.time_zone,
            time_zone_name: &p.time_zone_name,
            sla: &p.sla,
            calendar: &p.calendar,
            low_rating: p.survey.low_rating,
            top: 10,
        }
    }
}

/// Counts for one value of a breakdown (a category, priority or team).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breakdown {
    pub key: String,
    pub opened: usize,
    pub resolved: usize,
    pub closed: usize,
}

/// Times in business minutes against a target.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct TimeStats {
    /// How many tickets the times are of.
    pub count: usize,
    pub median_min: Option<f64>,
    pub p90_min: Option<f64>,
    /// The SLA target for the priority (its policy without a category).
    pub target_min: Option<f64>,
    pub met: usize,
    pub breached: usize,
    /// met ÷ (met + breached), 0 to 1.
    pub compliance: Option<f64>,
}

/// First response and resolution for one priority (or all: `key` "all").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriorityTimes {
    pub key: String,
    pub first_response: TimeStats,
    pub resolution: TimeStats,
}

/// How often an escalation level fired.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EscalationCount {
    pub target: String,
    pub percent: u32,
    pub action: String,
    pub count: usize,
}

/// A ticket named in a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketLine {
    pub number: i64,
    pub subject: String,
    pub status: String,
    pub age_days: f64,
    pub assignee: Option<String>,
}

/// A count for a label (age bucket, status, subject, word, score).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Count {
    pub label: String,
    pub count: usize,
}

/// The backlog at the end of the period.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Backlog {
    pub at_start: usize,
    pub at_end: usize,
    pub by_status: Vec<Count>,
    pub age: Vec<Count>,
    pub median_age_days: Option<f64>,
    pub oldest: Vec<TicketLine>,
}

/// A rated ticket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rated {
    pub number: i64,
    pub subject: String,
    pub score: u8,
    pub comment: String,
    pub agent: Option<String>,
}

/// Satisfaction in the period.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Satisfaction {
    pub surveys_sent: usize,
    pub surveys_answered: usize,
    pub response_rate: Option<f64>,
    pub ratings: usize,
    pub average: Option<f64>,
    /// How many ratings of 1, 2, 3, 4 and 5.
    pub distribution: [usize; 5],
    pub lowest: Vec<Rated>,
}

/// A recurring subject or word, with the tickets it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Frequent {
    pub text: String,
    pub count: usize,
    pub tickets: Vec<i64>,
}

/// One agent's (or team's) throughput.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Throughput {
    pub key: String,
    pub opened: usize,
    pub resolved: usize,
    pub median_resolution_min: Option<f64>,
    pub backlog: usize,
    pub sla_compliance: Option<f64>,
    pub ratings: usize,
    pub average_rating: Option<f64>,
}

/// Tickets opened and resolved on one day, for the volume chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    pub date: String,
    pub opened: usize,
    pub resolved: usize,
}

/// The headline numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Summary {
    pub opened: usize,
    pub resolved: usize,
    pub closed: usize,
    pub reopened: usize,
    pub reopen_rate: Option<f64>,
    /// Resolved by the requester with a suggested knowledge-base entry.
    pub self_solved: usize,
    pub backlog_start: usize,
    pub backlog_end: usize,
    pub first_response_compliance: Option<f64>,
    pub resolution_compliance: Option<f64>,
    pub sla_compliance: Option<f64>,
    pub escalations: usize,
    pub average_rating: Option<f64>,
    /// Spam tickets created in the period, left out of every other figure.
    pub spam: usize,
    /// Requests resolved as out of scope by an `[[exclusion]]` in the period
    /// (also counted as opened and resolved).
    pub out_of_scope: usize,
}

/// The review of one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub desk: String,
    pub period: Period,
    pub time_zone: String,
    pub summary: Summary,
    pub by_category: Vec<Breakdown>,
    pub by_priority: Vec<Breakdown>,
    pub by_team: Vec<Breakdown>,
    pub times: Vec<PriorityTimes>,
    pub escalations: Vec<EscalationCount>,
    pub backlog: Backlog,
    pub satisfaction: Satisfaction,
    pub frequent_subjects: Vec<Frequent>,
    pub frequent_words: Vec<Frequent>,
    pub agents: Vec<Throughput>,
    pub teams: Vec<Throughput>,
    pub daily: Vec<Day>,
    /// Time agents recorded with `#time` ([`time`]).
    pub time_worked: time::TimeWorked,
}

const ACTIVE: [&str; 3] = ["new", "open", "pending"];

/// The middle value; the mean of the two middle values for an even count.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The nearest-rank percentile: the value at rank ⌈p·n⌉ of the sorted values.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return None;
    }
    let rank = (p * v.len() as f64).ceil().max(1.0) as usize;
    Some(v[rank.min(v.len()) - 1])
}

fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn minutes(d: std::time::Duration) -> f64 {
    d.as_secs_f64() / 60.0
}

/// What the review knows about one ticket in one period.
struct View<'a> {
    t: &'a TicketFacts,
    opened: bool,
    /// The last resolution in the period.
    resolved_at: Option<i64>,
    closed: bool,
    reopened: bool,
    status_at_start: String,
    status_at_end: String,
    /// Business minutes to the first answer (answered before the period's end).
    first_response_min: Option<f64>,
    resolution_min: Option<f64>,
    /// (met, breached) per target, when decided in the period.
    first_response_sla: Option<bool>,
    resolution_sla: Option<bool>,
}

impl TicketFacts {
    /// The status at instant `at` (just before it).
    fn status_at(&self, at: i64) -> Option<String> {
        if self.created_at >= at {
            return None;
        }
        if let Some(c) = self.changes.iter().rev().find(|c| c.at < at) {
            return Some(c.new.clone());
        }
        if !self.changes.is_empty() {
            return Some("new".into());
        }
        // No timeline (imported rows): the stamps are all there is.
        Some(match (self.closed_at, self.resolved_at) {
            (Some(c), _) if c < at => "closed".into(),
            (_, Some(r)) if r < at => "resolved".into(),
            _ => "new".into(),
        })
    }

    fn resolutions(&self) -> Vec<i64> {
        if self.changes.is_empty() {
            return self.resolved_at.or(self.closed_at).into_iter().collect();
        }
        self.changes
            .iter()
            .filter(|c| c.new == "resolved" || (c.new == "closed" && c.old != "resolved"))
            .map(|c| c.at)
            .collect()
    }

    fn closings(&self) -> Vec<i64> {
        if self.changes.is_empty() {
            return self.closed_at.into_iter().collect();
        }
        self.changes
            .iter()
            .filter(|c| c.new == "closed")
            .map(|c| c.at)
            .collect()
    }
}

fn view<'a>(t: &'a TicketFacts, p: &Period, s: &Settings<'_>) -> View<'a> {
    let opened = p.contains(t.created_at);
    let resolved_at = t
        .resolutions()
        .into_iter()
        .filter(|&at| p.contains(at))
        .max();
    let closed = t.closings().into_iter().any(|at| p.contains(at));
    let reopened = t.changes.iter().any(|c| {
        p.contains(c.at)
            && matches!(c.old.as_str(), "resolved" | "closed")
            && ACTIVE.contains(&c.new.as_str())
    });
    let policy = t
        .priority
        .and_then(|pr| s.sla.policy_for(pr, t.category.as_deref()));
    let kind = policy.map_or(ClockKind::Business, |p| p.clock);
    let clock = Clock {
        started_ms: t.created_at,
        pauses: t.pauses.clone(),
    };
    let elapsed = |until: i64| minutes(clock.elapsed(s.calendar, kind, until));
    // Only what was known at the period's end.
    let first_response = t.first_response_at.filter(|&f| f < p.to_ms);
    let first_response_min = if opened {
        first_response.map(elapsed)
    } else {
        None
    };
    let resolution_min = resolved_at.map(elapsed);
    let decide = |target: Target, met_at: Option<i64>, counts: bool| -> Option<bool> {
        let total = policy?.target(target)?;
        let until = met_at.unwrap_or(p.to_ms);
        let due = clock.due(s.calendar, kind, total, until).ok()?.due_ms;
        match met_at {
            Some(at) if counts => Some(at <= due),
            Some(_) => None,
            None if counts && due < p.to_ms => Some(false),
            None => None,
        }
    };
    // Resolved before anyone answered (solved with the knowledge base): the
    // first answer was no longer owed.
    let resolved_unanswered =
        first_response.is_none() && t.resolutions().into_iter().any(|at| at < p.to_ms);
    let first_response_sla = if opened && !resolved_unanswered {
        decide(Target::FirstResponse, first_response, true)
    } else {
        None
    };
    let status_at_end = t.status_at(p.to_ms).unwrap_or_default();
    let resolution_sla = match resolved_at {
        Some(at) => decide(Target::Resolution, Some(at), true),
        None if ACTIVE.contains(&status_at_end.as_str()) => {
            // Unresolved at the end: a breach of this period if it fell due in it.
            policy
                .and_then(|pol| pol.target(Target::Resolution))
                .and_then(|total| clock.due(s.calendar, kind, total, p.to_ms).ok())
                .filter(|d| p.contains(d.due_ms) && !d.paused)
                .map(|_| false)
        }
        None => None,
    };
    View {
        t,
        opened,
        resolved_at,
        closed,
        reopened,
        status_at_start: t.status_at(p.from_ms).unwrap_or_default(),
        status_at_end,
        first_response_min,
        resolution_min,
        first_response_sla,
        resolution_sla,
    }
}

fn in_backlog(status: &str) -> bool {
    ACTIVE.contains(&status)
}

fn breakdown(views: &[View<'_>], key: impl Fn(&View<'_>) -> String) -> Vec<Breakdown> {
    let mut m: BTreeMap<String, Breakdown> = BTreeMap::new();
    for v in views {
        if !(v.opened || v.resolved_at.is_some() || v.closed) {
            continue;
        }
        let k = key(v);
        let b = m.entry(k.clone()).or_insert(Breakdown {
            key: k,
            opened: 0,
            resolved: 0,
            closed: 0,
        });
        b.opened += usize::from(v.opened);
        b.resolved += usize::from(v.resolved_at.is_some());
        b.closed += usize::from(v.closed);
    }
    let mut out: Vec<Breakdown> = m.into_values().collect();
    out.sort_by(|a, b| {
        b.opened
            .cmp(&a.opened)
            .then(b.resolved.cmp(&a.resolved))
            .then(a.key.cmp(&b.key))
    });
    out
}

fn or_none(v: &Option<String>) -> String {
    v.clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "(none)".into())
}

fn time_stats(
    values: &[f64],
    decided: impl Iterator<Item = bool>,
    target: Option<std::time::Duration>,
) -> TimeStats {
    let (mut met, mut breached) = (0, 0);
    for ok in decided {
        if ok {
            met += 1;
        } else {
            breached += 1;
        }
    }
    TimeStats {
        count: values.len(),
        median_min: median(values),
        p90_min: percentile(values, 0.9),
        target_min: target.map(minutes),
        met,
        breached,
        compliance: ratio(met, met + breached),
    }
}

fn times(views: &[View<'_>], s: &Settings<'_>) -> Vec<PriorityTimes> {
    let mut keys: Vec<Option<Priority>> = Priority::ALL.iter().copied().map(Some).collect();
    keys.push(None);
    let mut out = Vec::new();
    for key in keys.into_iter().map(Some).chain(std::iter::once(None)) {
        // Some(Some(p)): priority p; Some(None): no priority; None: all.
        let of: Vec<&View<'_>> = views
            .iter()
            .filter(|v| key.is_none_or(|k| v.t.priority == k))
            .collect();
        let fr: Vec<f64> = of.iter().filter_map(|v| v.first_response_min).collect();
        let res: Vec<f64> = of.iter().filter_map(|v| v.resolution_min).collect();
        let decided_fr = of.iter().filter_map(|v| v.first_response_sla);
        let decided_res = of.iter().filter_map(|v| v.resolution_sla);
        let policy = key.flatten().and_then(|p| s.sla.policy_for(p, None));
        let first_response = time_stats(&fr, decided_fr, policy.and_then(|p| p.first_response));
        let resolution = time_stats(&res, decided_res, policy.and_then(|p| p.resolution));
        let empty = first_response.count == 0
            && resolution.count == 0
            && first_response.met + first_response.breached + resolution.met + resolution.breached
                == 0;
        if empty && key.is_some() {
            continue;
        }
        out.push(PriorityTimes {
            key: match key {
                Some(Some(p)) => p.to_string(),
                Some(None) => "(none)".into(),
                None => "all".into(),
            },
            first_response,
            resolution,
        });
    }
    out
}

fn age_days(now: i64, since: i64) -> f64 {
    ((now - since) as f64 / 86_400_000.0 * 10.0).round() / 10.0
}

fn backlog(views: &[View<'_>], p: &Period, top: usize) -> Backlog {
    let open: Vec<&View<'_>> = views
        .iter()
        .filter(|v| in_backlog(&v.status_at_end))
        .collect();
    let mut by_status = Vec::new();
    for st in ACTIVE {
        let n = open.iter().filter(|v| v.status_at_end == st).count();
        if n > 0 {
            by_status.push(Count {
                label: st.into(),
                count: n,
            });
        }
    }
    let ages: Vec<f64> = open
        .iter()
        .map(|v| age_days(p.to_ms, v.t.created_at))
        .collect();
    let buckets: [(&str, f64); 5] = [
        ("under 1 day", 1.0),
        ("1 to 3 days", 3.0),
        ("3 to 7 days", 7.0),
        ("7 to 30 days", 30.0),
        ("30 days or more", f64::INFINITY),
    ];
    let mut age = Vec::new();
    let mut lower = 0.0;
    for (label, upper) in buckets {
        age.push(Count {
            label: label.into(),
            count: ages.iter().filter(|&&a| a >= lower && a < upper).count(),
        });
        lower = upper;
    }
    let mut oldest: Vec<TicketLine> = open
        .iter()
        .map(|v| TicketLine {
            number: v.t.number,
            subject: v.t.subject.clone(),
            status: v.status_at_end.clone(),
            age_days: age_days(p.to_ms, v.t.created_at),
            assignee: v.t.assignee.clone(),
        })
        .collect();
    oldest.sort_by(|a, b| {
        b.age_days
            .total_cmp(&a.age_days)
            .then(a.number.cmp(&b.number))
    });
    oldest.truncate(top);
    Backlog {
        at_start: views
            .iter()
            .filter(|v| in_backlog(&v.status_at_start))
            .count(),
        at_end: open.len(),
        by_status,
        age,
        median_age_days: median(&ages),
        oldest,
    }
}

fn satisfaction(tickets: &[TicketFacts], p: &Period, s: &Settings<'_>) -> Satisfaction {
    let sent: Vec<&TicketFacts> = tickets
        .iter()
        .filter(|t| t.survey_sent_at.is_some_and(|at| p.contains(at)))
        .collect();
    let answered = sent.iter().filter(|t| t.rating.is_some()).count();
    let rated: Vec<&TicketFacts> = tickets
        .iter()
        .filter(|t| t.rating.is_some() && t.rated_at.is_some_and(|at| p.contains(at)))
        .collect();
    let mut distribution = [0usize; 5];
    let mut sum = 0.0;
    for t in &rated {
        let r = t.rating.unwrap_or(0).clamp(1, 5);
        distribution[usize::from(r) - 1] += 1;
        sum += f64::from(r);
    }
    let mut lowest: Vec<Rated> = rated
        .iter()
        .filter(|t| t.rating.is_some_and(|r| r <= s.low_rating))
        .map(|t| Rated {
            number: t.number,
            subject: t.subject.clone(),
            score: t.rating.unwrap_or(0),
            comment: t.rating_comment.clone().unwrap_or_default(),
            agent: t.rated_agent.clone(),
        })
        .collect();
    lowest.sort_by(|a, b| a.score.cmp(&b.score).then(a.number.cmp(&b.number)));
    lowest.truncate(s.top);
    Satisfaction {
        surveys_sent: sent.len(),
        surveys_answered: answered,
        response_rate: ratio(answered, sent.len()),
        ratings: rated.len(),
        average: (!rated.is_empty()).then(|| sum / rated.len() as f64),
        distribution,
        lowest,
    }
}

/// A subject with digits, punctuation, reply prefixes and case taken out.
pub fn subject_key(subject: &str) -> String {
    let base = crate::subject::strip_reply_prefixes(subject);
    let mut out = String::new();
    for c in base.to_lowercase().chars() {
        if c.is_alphabetic() {
            out.push(c);
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    out.trim().to_string()
}

fn frequent(entries: Vec<(String, i64)>, top: usize) -> Vec<Frequent> {
    let mut m: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for (k, n) in entries {
        if !k.is_empty() {
            m.entry(k).or_default().insert(n);
        }
    }
    let mut out: Vec<Frequent> = m
        .into_iter()
        .filter(|(_, t)| t.len() >= 2)
        .map(|(text, t)| Frequent {
            text,
            count: t.len(),
            tickets: t.into_iter().collect(),
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.text.cmp(&b.text)));
    out.truncate(top);
    out
}

fn throughput(
    views: &[View<'_>],
    tickets_rated: &[&TicketFacts],
    key: impl Fn(&TicketFacts) -> String,
    rated_key: impl Fn(&TicketFacts) -> String,
) -> Vec<Throughput> {
    let mut keys: BTreeSet<String> = BTreeSet::new();
    for v in views {
        if v.opened || v.resolved_at.is_some() || in_backlog(&v.status_at_end) {
            keys.insert(key(v.t));
        }
    }
    for t in tickets_rated {
        keys.insert(rated_key(t));
    }
    let mut out: Vec<Throughput> = keys
        .into_iter()
        .map(|k| {
            let mine: Vec<&View<'_>> = views.iter().filter(|v| key(v.t) == k).collect();
            let res: Vec<f64> = mine.iter().filter_map(|v| v.resolution_min).collect();
            let decided: Vec<bool> = mine
                .iter()
                .flat_map(|v| [v.first_response_sla, v.resolution_sla])
                .flatten()
                .collect();
            let ratings: Vec<f64> = tickets_rated
                .iter()
                .filter(|t| rated_key(t) == k)
                .filter_map(|t| t.rating.map(f64::from))
                .collect();
            Throughput {
                opened: mine.iter().filter(|v| v.opened).count(),
                resolved: mine.iter().filter(|v| v.resolved_at.is_some()).count(),
                median_resolution_min: median(&res),
                backlog: mine.iter().filter(|v| in_backlog(&v.status_at_end)).count(),
                sla_compliance: ratio(decided.iter().filter(|d| **d).count(), decided.len()),
                ratings: ratings.len(),
                average_rating: (!ratings.is_empty())
                    .then(|| ratings.iter().sum::<f64>() / ratings.len() as f64),
                key: k,
            }
        })
        .collect();
    out.sort_by(|a, b| b.resolved.cmp(&a.resolved).then(a.key.cmp(&b.key)));
    out
}

/// The forms a review can be rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain text tables ([`table::text`]).
    Text,
    Markdown,
    Csv,
    /// The whole [`Report`], pretty-printed, with a final newline.
    Json,
    /// One page with inline charts ([`html::render`]).
    Html,
}

/// The review as text in `format`.
pub fn render(r: &Report, format: Format) -> Result<String, serde_json::Error> {
    Ok(match format {
        Format::Text => table::text(r),
        Format::Markdown => table::markdown(r),
        Format::Csv => table::csv(r),
        Format::Json => serde_json::to_string_pretty(r)? + "\n",
        Format::Html => html::render(r),
    })
}

/// Computes the review of `period` from the tickets' facts.
pub fn compute(tickets: &[TicketFacts], period: &Period, s: &Settings<'_>) -> Report {
    let spam = tickets
        .iter()
        .filter(|t| t.spam && period.contains(t.created_at))
        .count();
    let real: Vec<TicketFacts> = tickets.iter().filter(|t| !t.spam).cloned().collect();
    let tickets = real.as_slice();
    let views: Vec<View<'_>> = tickets.iter().map(|t| view(t, period, s)).collect();
    let decided_fr: Vec<bool> = views.iter().filter_map(|v| v.first_response_sla).collect();
    let decided_res: Vec<bool> = views.iter().filter_map(|v| v.resolution_sla).collect();
    let met = |d: &[bool]| d.iter().filter(|x| **x).count();
    let fired: Vec<&Fired> = tickets
        .iter()
        .flat_map(|t| t.escalations.iter())
        .filter(|e| period.contains(e.at))
        .collect();
    let mut levels: BTreeMap<(String, u32, String), usize> = BTreeMap::new();
    for e in &fired {
        *levels
            .entry((e.target.clone(), e.percent, e.action.clone()))
            .or_default() += 1;
    }
    let satisfaction = satisfaction(tickets, period, s);
    let resolved = views.iter().filter(|v| v.resolved_at.is_some()).count();
    let reopened = views.iter().filter(|v| v.reopened).count();
    let backlog = backlog(&views, period, s.top);
    let summary = Summary {
        opened: views.iter().filter(|v| v.opened).count(),
        resolved,
        closed: views.iter().filter(|v| v.closed).count(),
        reopened,
        reopen_rate: ratio(reopened, resolved),
        self_solved: tickets
            .iter()
            .filter(|t| t.self_solved_at.is_some_and(|at| period.contains(at)))
            .count(),
        backlog_start: backlog.at_start,
        backlog_end: backlog.at_end,
        first_response_compliance: ratio(met(&decided_fr), decided_fr.len()),
        resolution_compliance: ratio(met(&decided_res), decided_res.len()),
        sla_compliance: ratio(
            met(&decided_fr) + met(&decided_res),
            decided_fr.len() + decided_res.len(),
        ),
        escalations: fired.len(),
        spam,
        out_of_scope: tickets
            .iter()
            .filter(|t| t.out_of_scope_at.is_some_and(|at| period.contains(at)))
            .count(),
        average_rating: satisfaction.average,
    };
    let opened_subjects: Vec<&View<'_>> = views.iter().filter(|v| v.opened).collect();
    let frequent_subjects = frequent(
        opened_subjects
            .iter()
            .map(|v| (subject_key(&v.t.subject), v.t.number))
            .collect(),
        s.top,
    );
    let frequent_words = frequent(
        opened_subjects
            .iter()
            .flat_map(|v| {
                crate::desk::kb::words(&v.t.subject)
                    .into_iter()
                    .map(|w| (w, v.t.number))
            })
            .collect(),
        s.top,
    );
    let rated: Vec<&TicketFacts> = tickets
        .iter()
        .filter(|t| t.rating.is_some() && t.rated_at.is_some_and(|at| period.contains(at)))
        .collect();
    let agents = throughput(
        &views,
        &rated,
        |t| or_none(&t.assignee).replace("(none)", "(unassigned)"),
        |t| {
            or_none(&t.rated_agent.clone().or(t.assignee.clone())).replace("(none)", "(unassigned)")
        },
    );
    let teams = throughput(&views, &rated, |t| or_none(&t.team), |t| or_none(&t.team));
    let daily = period
        .each_day()
        .into_iter()
        .map(|d| {
            let on = |ms: i64| period::local_date(ms, s.time_zone) == d;
            Day {
                date: d.to_string(),
                opened: views
                    .iter()
                    .filter(|v| v.opened && on(v.t.created_at))
                    .count(),
                resolved: views
                    .iter()
                    .filter(|v| v.resolved_at.is_some_and(on))
                    .count(),
            }
        })
        .collect();
    let resolved_here: BTreeSet<i64> = views
        .iter()
        .filter(|v| v.resolved_at.is_some())
        .map(|v| v.t.number)
        .collect();
    let time_worked = time::compute(tickets, period, &resolved_here);
    Report {
        desk: s.desk_name.to_string(),
        period: period.clone(),
        time_zone: s.time_zone_name.to_string(),
        summary,
        by_category: breakdown(&views, |v| or_none(&v.t.category)),
        by_priority: {
            let mut b = breakdown(&views, |v| {
                v.t.priority
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "(none)".into())
            });
            b.sort_by(|a, b| a.key.cmp(&b.key));
            b
        },
        by_team: breakdown(&views, |v| or_none(&v.t.team)),
        times: times(&views, s),
        escalations: levels
            .into_iter()
            .map(|((target, percent, action), count)| EscalationCount {
                target,
                percent,
                action,
                count,
            })
            .collect(),
        backlog,
        satisfaction,
        frequent_subjects,
        frequent_words,
        agents,
        teams,
        daily,
        time_worked,
    }
}

#[cfg(test)]
mod tests;
