//! A ticket's SLA clock: it runs from creation and stops while the ticket
//! waits on the requester.

use std::time::Duration;

use super::SlaError;
use super::calendar::Calendar;
use super::config::ClockKind;

impl ClockKind {
    /// The instant at which `dur` of counted time has elapsed after `start_ms`.
    pub fn add(self, cal: &Calendar, start_ms: i64, dur: Duration) -> Result<i64, SlaError> {
        match self {
            ClockKind::Business => cal.add(start_ms, dur),
            ClockKind::Calendar => {
                let ms = i64::try_from(dur.as_millis()).unwrap_or(i64::MAX);
                Ok(start_ms.saturating_add(ms))
            }
        }
    }

    /// Counted time from `a_ms` to `b_ms`; zero when `b_ms <= a_ms`.
    pub fn between(self, cal: &Calendar, a_ms: i64, b_ms: i64) -> Duration {
        match self {
            ClockKind::Business => cal.between(a_ms, b_ms),
            ClockKind::Calendar => {
                Duration::from_millis(u64::try_from(b_ms.saturating_sub(a_ms)).unwrap_or(0))
            }
        }
    }
}

/// A span during which the clock stood still (the ticket was pending on the
/// requester). `until_ms: None` means it still stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    pub from_ms: i64,
    pub until_ms: Option<i64>,
}

/// A ticket's SLA clock: started at `started_ms`, stopped during `pauses`.
///
/// Pauses may come in any order, overlap, or begin before the start; they are
/// clipped and merged before use. At most one should be open.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Clock {
    pub started_ms: i64,
    pub pauses: Vec<Pause>,
}

/// When a target falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// The due instant. While paused this assumes the clock resumes at `now`,
    /// so it moves later for as long as the pause lasts.
    pub due_ms: i64,
    /// The clock is stopped at `now` (the ticket waits on the requester).
    pub paused: bool,
}

impl Clock {
    /// A running clock without pauses.
    pub fn new(started_ms: i64) -> Clock {
        Clock {
            started_ms,
            pauses: Vec::new(),
        }
    }

    /// Whether the clock stands at `now_ms`.
    pub fn is_paused(&self, now_ms: i64) -> bool {
        self.pauses.iter().any(|p| {
            p.from_ms <= now_ms
                && p.until_ms.is_none_or(|u| now_ms < u)
                && now_ms >= self.started_ms
        })
    }

    /// Counted time from the start to `now_ms`, without the pauses.
    pub fn elapsed(&self, cal: &Calendar, kind: ClockKind, now_ms: i64) -> Duration {
        let mut total = Duration::ZERO;
        let mut cursor = self.started_ms;
        for (from, until) in self.stops(now_ms) {
            if from >= now_ms {
                break;
            }
            total += kind.between(cal, cursor, from);
            cursor = until;
        }
        total + kind.between(cal, cursor, now_ms)
    }

    /// When `target` of counted time will have elapsed, given the pauses so
    /// far. An open pause is taken to end at `now_ms`.
    pub fn due(
        &self,
        cal: &Calendar,
        kind: ClockKind,
        target: Duration,
        now_ms: i64,
    ) -> Result<Due, SlaError> {
        let paused = self.is_paused(now_ms);
        let mut remaining = target;
        let mut cursor = self.started_ms;
        for (from, until) in self.stops(now_ms) {
            let at = kind.add(cal, cursor, remaining)?;
            if at <= from {
                return Ok(Due { due_ms: at, paused });
            }
            remaining = remaining.saturating_sub(kind.between(cal, cursor, from));
            cursor = until;
        }
        Ok(Due {
            due_ms: kind.add(cal, cursor, remaining)?,
            paused,
        })
    }

    /// Elapsed time as a fraction of `target`: 0.75 at 75 %, above 1.0 once
    /// overdue. A zero target counts as used up (1.0).
    pub fn fraction_used(
        &self,
        cal: &Calendar,
        kind: ClockKind,
        target: Duration,
        now_ms: i64,
    ) -> f64 {
        if target.is_zero() {
            return 1.0;
        }
        self.elapsed(cal, kind, now_ms).as_secs_f64() / target.as_secs_f64()
    }

    /// The pauses as sorted, disjoint spans that start at or after the start,
    /// an open pause ending at `now_ms` (or where it began, if that is later).
    fn stops(&self, now_ms: i64) -> Vec<(i64, i64)> {
        let mut spans: Vec<(i64, i64)> = self
            .pauses
            .iter()
            .map(|p| {
                let from = p.from_ms.max(self.started_ms);
                let until = p.until_ms.unwrap_or(now_ms).max(from);
                (from, until)
            })
            .filter(|(from, until)| until > from)
            .collect();
        spans.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
        for (from, until) in spans {
            match merged.last_mut() {
                Some(last) if from <= last.1 => last.1 = last.1.max(until),
                _ => merged.push((from, until)),
            }
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::sla::CalendarConfig;

    const HOUR: i64 = 3_600_000;
    /// Monday 2026-11-30 00:00 UTC.
    const MON: i64 = 1_795_996_800_000;
    const DAY: i64 = 24 * HOUR;

    fn hours(h: u64) -> Duration {
        Duration::from_secs(h * 3600)
    }

    /// Mon-Fri 09:00-18:00 UTC.
    fn cal() -> Calendar {
        Calendar::from_config(&CalendarConfig::default()).unwrap()
    }

    fn closed(from_ms: i64, until_ms: i64) -> Pause {
        Pause {
            from_ms,
            until_ms: Some(until_ms),
        }
    }

    const B: ClockKind = ClockKind::Business;

    #[test]
    fn pending_for_three_business_hours_moves_the_due_time_by_three_business_hours() {
        let cal = cal();
        let mut clock = Clock::new(MON + 9 * HOUR);
        let before = clock.due(&cal, B, hours(8), MON + 9 * HOUR).unwrap();
        assert_eq!(before.due_ms, MON + 17 * HOUR);
        // Pending Monday 10:00-13:00.
        clock.pauses.push(closed(MON + 10 * HOUR, MON + 13 * HOUR));
        let after = clock.due(&cal, B, hours(8), MON + 14 * HOUR).unwrap();
        assert_eq!(after.due_ms, cal.add(before.due_ms, hours(3)).unwrap());
        assert_eq!(after.due_ms, DAY + MON + 11 * HOUR); // Tuesday 11:00
        assert!(!after.paused);
        assert_eq!(clock.elapsed(&cal, B, MON + 14 * HOUR), hours(2));
    }

    #[test]
    fn a_pause_overnight_costs_only_its_business_hours() {
        let cal = cal();
        let mut clock = Clock::new(MON + 9 * HOUR);
        // Pending Monday 17:00 to Tuesday 10:00: 17-18 and 09-10, 2 business hours.
        clock
            .pauses
            .push(closed(MON + 17 * HOUR, DAY + MON + 10 * HOUR));
        let due = clock
            .due(&cal, B, hours(16), DAY + MON + 12 * HOUR)
            .unwrap();
        // 8 h Monday, then 8 h from Tuesday 10:00 → Tuesday 18:00.
        assert_eq!(due.due_ms, DAY + MON + 18 * HOUR);
        assert_eq!(clock.elapsed(&cal, B, DAY + MON + 12 * HOUR), hours(10));
    }

    #[test]
    fn while_paused_the_due_time_assumes_the_clock_resumes_now() {
        let cal = cal();
        let mut clock = Clock::new(MON + 9 * HOUR);
        clock.pauses.push(Pause {
            from_ms: MON + 11 * HOUR,
            until_ms: None,
        });
        // 2 h used; 6 h left counted from 15:00: 3 h Monday, 3 h Tuesday.
        let due = clock.due(&cal, B, hours(8), MON + 15 * HOUR).unwrap();
        assert_eq!(
            due,
            Due {
                due_ms: DAY + MON + 12 * HOUR,
                paused: true
            }
        );
        // An hour later it has moved an hour.
        let due = clock.due(&cal, B, hours(8), MON + 16 * HOUR).unwrap();
        assert_eq!(due.due_ms, DAY + MON + 13 * HOUR);
        // Elapsed time stands still meanwhile.
        assert_eq!(clock.elapsed(&cal, B, MON + 15 * HOUR), hours(2));
        assert_eq!(clock.elapsed(&cal, B, DAY + MON + 15 * HOUR), hours(2));
        assert!(clock.is_paused(MON + 15 * HOUR));
        assert!(!clock.is_paused(MON + 10 * HOUR));
        // Resumed Tuesday 09:00: due Tuesday 15:00.
        clock.pauses[0].until_ms = Some(DAY + MON + 9 * HOUR);
        let due = clock.due(&cal, B, hours(8), DAY + MON + 10 * HOUR).unwrap();
        assert_eq!(
            due,
            Due {
                due_ms: DAY + MON + 15 * HOUR,
                paused: false
            }
        );
    }

    #[test]
    fn a_target_reached_before_a_pause_is_not_moved_by_it() {
        let cal = cal();
        let mut clock = Clock::new(MON + 9 * HOUR);
        clock.pauses.push(closed(MON + 11 * HOUR, MON + 15 * HOUR));
        let due = clock.due(&cal, B, hours(2), MON + 16 * HOUR).unwrap();
        // Reached exactly as the pause began.
        assert_eq!(due.due_ms, MON + 11 * HOUR);
        assert!(clock.fraction_used(&cal, B, hours(2), MON + 16 * HOUR) > 1.0);
    }

    #[test]
    fn overlapping_unsorted_and_early_pauses_count_once() {
        let cal = cal();
        let mut clock = Clock::new(MON + 9 * HOUR);
        clock.pauses = vec![
            closed(MON + 12 * HOUR, MON + 14 * HOUR),
            closed(MON + 11 * HOUR, MON + 13 * HOUR),
            closed(MON + 5 * HOUR, MON + 10 * HOUR), // began before the ticket
            closed(MON + 16 * HOUR, MON + 15 * HOUR), // inverted: ignored
        ];
        // Running 10-11 and 14-18 on Monday.
        assert_eq!(clock.elapsed(&cal, B, DAY + MON), hours(5));
        let due = clock.due(&cal, B, hours(5), MON + 16 * HOUR).unwrap();
        assert_eq!(due.due_ms, MON + 18 * HOUR);
    }

    #[test]
    fn the_calendar_clock_counts_every_millisecond() {
        let cal = cal();
        let k = ClockKind::Calendar;
        // Friday 17:30 with a 4 h target: Friday 21:30, weekends or not.
        let fri = MON - 3 * DAY + 17 * HOUR + 30 * 60_000;
        let mut clock = Clock::new(fri);
        assert_eq!(
            clock.due(&cal, k, hours(4), fri).unwrap().due_ms,
            fri + 4 * HOUR
        );
        clock.pauses.push(closed(fri + HOUR, fri + 3 * HOUR));
        assert_eq!(
            clock.due(&cal, k, hours(4), fri + 5 * HOUR).unwrap().due_ms,
            fri + 6 * HOUR
        );
        assert_eq!(clock.elapsed(&cal, k, fri + 5 * HOUR), hours(3));
        assert_eq!(clock.fraction_used(&cal, k, hours(4), fri + 5 * HOUR), 0.75);
    }

    #[test]
    fn fraction_used_counts_business_time() {
        let cal = cal();
        let clock = Clock::new(MON + 9 * HOUR);
        assert_eq!(clock.fraction_used(&cal, B, hours(4), MON + 9 * HOUR), 0.0);
        assert_eq!(
            clock.fraction_used(&cal, B, hours(4), MON + 12 * HOUR),
            0.75
        );
        // The night does not count.
        assert_eq!(
            clock.fraction_used(&cal, B, hours(12), DAY + MON + 8 * HOUR),
            0.75
        );
        assert_eq!(clock.fraction_used(&cal, B, Duration::ZERO, MON), 1.0);
        // Before the start nothing has elapsed.
        assert_eq!(clock.elapsed(&cal, B, MON), Duration::ZERO);
    }
}
