//! Time worked (`#time 30m`) in the review: the minutes agents recorded in
//! the period, per agent, team and category (the ticket's team and category
//! as they are now, like every breakdown), and the average time per
//! resolved ticket: of the tickets resolved in the period that have time
//! recorded, all their recorded time up to the period's end, divided by
//! their number. Tickets without any recorded time are left out of the
//! average (they would say "nobody logged", not "it took no time") and
//! counted apart.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Period, TicketFacts};

/// One `#time` entry of a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimeSpent {
    pub agent: String,
    pub minutes: i64,
    pub at: i64,
}

/// One row of a time breakdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeRow {
    pub key: String,
    pub minutes: i64,
    pub tickets: usize,
}

/// The review's time section.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct TimeWorked {
    pub total_minutes: i64,
    pub entries: usize,
    pub by_agent: Vec<TimeRow>,
    pub by_team: Vec<TimeRow>,
    pub by_category: Vec<TimeRow>,
    /// Resolved in the period, with time recorded.
    pub resolved_with_time: usize,
    /// Resolved in the period, without any time recorded.
    pub resolved_without_time: usize,
    pub average_per_resolved_min: Option<f64>,
}

/// `resolved`: the numbers of the tickets resolved in the period.
pub fn compute(tickets: &[TicketFacts], period: &Period, resolved: &BTreeSet<i64>) -> TimeWorked {
    let mut w = TimeWorked::default();
    let mut agent: BTreeMap<String, (i64, BTreeSet<i64>)> = BTreeMap::new();
    let mut team: BTreeMap<String, (i64, BTreeSet<i64>)> = BTreeMap::new();
    let mut category: BTreeMap<String, (i64, BTreeSet<i64>)> = BTreeMap::new();
    let none = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
    let mut per_resolved: Vec<i64> = Vec::new();
    for t in tickets {
        for e in t.time.iter().filter(|e| period.contains(e.at)) {
            w.total_minutes += e.minutes;
            w.entries += 1;
            for (map, key) in [
                (&mut agent, e.agent.clone()),
                (&mut team, none(&t.team)),
                (&mut category, none(&t.category)),
            ] {
                let row = map.entry(key).or_default();
                row.0 += e.minutes;
                row.1.insert(t.number);
            }
        }
        if resolved.contains(&t.number) {
            let spent: i64 = t
                .time
                .iter()
                .filter(|e| e.at < period.to_ms)
                .map(|e| e.minutes)
                .sum();
            if spent > 0 {
                per_resolved.push(spent);
            } else {
                w.resolved_without_time += 1;
            }
        }
    }
    w.resolved_with_time = per_resolved.len();
    w.average_per_resolved_min = (!per_resolved.is_empty())
        .then(|| per_resolved.iter().sum::<i64>() as f64 / per_resolved.len() as f64);
    let rows = |m: BTreeMap<String, (i64, BTreeSet<i64>)>| {
        let mut v: Vec<TimeRow> = m
            .into_iter()
            .map(|(key, (minutes, t))| TimeRow {
                key,
                minutes,
                tickets: t.len(),
            })
            .collect();
        v.sort_by(|a, b| b.minutes.cmp(&a.minutes).then(a.key.cmp(&b.key)));
        v
    };
    w.by_agent = rows(agent);
    w.by_team = rows(team);
    w.by_category = rows(category);
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spent(agent: &str, minutes: i64, at: i64) -> TimeSpent {
        TimeSpent {
            agent: agent.into(),
            minutes,
            at,
        }
    }

    #[test]
    fn time_per_agent_team_category_and_per_resolved_ticket() {
        let p = Period::month(2026, 11, &jiff::tz::TimeZone::UTC).unwrap();
        let inside = p.from_ms + 1000;
        let before = p.from_ms - 1000;
        let t = |number, team: &str, category: &str, time| TicketFacts {
            number,
            team: Some(team.into()),
            category: Some(category.into()),
            time,
            ..TicketFacts::default()
        };
        let tickets = vec![
            t(
                1,
                "desk",
                "network",
                vec![spent("alice", 30, before), spent("alice", 60, inside)],
            ),
            t(
                2,
                "desk",
                "printer",
                vec![spent("bob", 45, inside), spent("alice", 15, inside)],
            ),
            t(3, "l2", "network", vec![spent("nina", 120, p.to_ms)]),
            t(4, "l2", "network", vec![]),
        ];
        let resolved: BTreeSet<i64> = [1, 2, 4].into();
        let w = compute(&tickets, &p, &resolved);
        assert_eq!(w.total_minutes, 120, "only entries inside the period");
        assert_eq!(w.entries, 3);
        let keys = |rows: &[TimeRow]| -> Vec<(String, i64, usize)> {
            rows.iter()
                .map(|r| (r.key.clone(), r.minutes, r.tickets))
                .collect()
        };
        assert_eq!(
            keys(&w.by_agent),
            [("alice".into(), 75, 2), ("bob".into(), 45, 1)]
        );
        assert_eq!(keys(&w.by_team), [("desk".into(), 120, 2)]);
        assert_eq!(
            keys(&w.by_category),
            [("network".into(), 60, 1), ("printer".into(), 60, 1)]
        );
        // #1: 30 + 60 (time before the period counts for its resolution), #2: 60.
        assert_eq!(w.resolved_with_time, 2);
        assert_eq!(w.resolved_without_time, 1);
        assert_eq!(w.average_per_resolved_min, Some(75.0));
    }
}
