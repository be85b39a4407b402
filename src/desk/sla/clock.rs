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
