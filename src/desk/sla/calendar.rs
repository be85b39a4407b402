//! Business time: when the desk works, and how much working time lies
//! between two instants.
//!
//! Working hours are wall-clock times in the calendar's zone. An interval of
//! business time is the real time between its two ends, so a range that spans
//! a DST change is an hour shorter or longer, while 09:00-17:00 on the day of a
//! change is still 8 hours. A boundary that falls in a gap (a wall-clock time
//! that does not exist) means the moment of the change; one that falls in a
//! fold (a wall-clock time that happens twice) means its first occurrence.
//!
//! Arithmetic is exact to the millisecond. It walks day by day only near
//! holidays, extra working days and DST changes; stretches of ordinary weeks
//! are skipped a whole number of weeks at a time.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ToSpan};

use super::SlaError;
use super::config::{CalendarConfig, DEFAULT_HOURS};
use crate::desk::when;

/// How far `add` looks for the end of a target before giving up: 10 years.
pub const HORIZON_DAYS: i64 = 3653;

const MS_PER_MINUTE: i64 = 60_000;
const MINUTES_PER_DAY: u16 = 24 * 60;
/// The longest range one `holidays` or `working-days` entry may span.
const MAX_RANGE_DAYS: i64 = 366;

/// Instants are clamped to 1000-01-01..9000-01-01 UTC, well inside what jiff
/// represents, so that date steps near the ends never fail.
const MIN_MS: i64 = -30_610_224_000_000;
const MAX_MS: i64 = 221_845_392_000_000;

/// A business calendar, built from [`CalendarConfig`] by [`Calendar::from_config`].
#[derive(Debug, Clone)]
pub struct Calendar {
    tz: TimeZone,
    tz_name: String,
    /// Working ranges per weekday, Monday first, sorted, not overlapping.
    week: [Vec<Range>; 7],
    holidays: BTreeSet<Date>,
    working_days: BTreeSet<Date>,
    working_day_hours: Vec<Range>,
    /// Holidays and working days together: the dates a week skip must not cross.
    exceptions: BTreeSet<Date>,
    /// Nominal working time of an ordinary week (no exception, no DST change).
    week_ms: i64,
}

/// A working range within a local day, in minutes since midnight; `end` may be 24:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    start: u16,
    end: u16,
}

impl Calendar {
    /// Validates and builds a calendar. Errors say which key is wrong and
    /// what was expected.
    pub fn from_config(c: &CalendarConfig) -> Result<Calendar, String> {
        let tz = when::zone(&c.time_zone).map_err(|e| {
            format!("[sla.calendar] time-zone: expected an IANA name like \"Asia/Shanghai\": {e}")
        })?;
        let mut week: [Vec<Range>; 7] = Default::default();
        for (i, (key, hours)) in c.hours.days().into_iter().enumerate() {
            if let Some(h) = hours {
                week[i] = parse_ranges(&format!("[sla.calendar] hours.{key}"), h)?;
            }
        }
        let holidays = parse_dates("[sla.calendar] holidays", &c.holidays)?;
        let working_days = parse_dates("[sla.calendar] working-days", &c.working_days)?;
        if let Some(d) = holidays.intersection(&working_days).next() {
            return Err(format!(
                "[sla.calendar]: {d} is both in `holidays` and in `working-days`: expected one or the other"
            ));
        }
        let hours = if c.working_day_hours.trim().is_empty() {
            DEFAULT_HOURS
        } else {
            c.working_day_hours.as_str()
        };
        let working_day_hours = parse_ranges("[sla.calendar] working-day-hours", hours)?;
        let week_ms = week
            .iter()
            .flatten()
            .map(|r| i64::from(r.end - r.start) * MS_PER_MINUTE)
            .sum();
        let exceptions = holidays.union(&working_days).copied().collect();
        Ok(Calendar {
            tz,
            tz_name: c.time_zone.clone(),
            week,
            holidays,
            working_days,
            working_day_hours,
            exceptions,
            week_ms,
        })
    }

    /// The zone working hours are read in.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The zone's name as configured.
    pub fn time_zone_name(&self) -> &str {
        &self.tz_name
    }

    /// False when no weekday has hours and no working day lies ahead of
    /// anything: business-time targets could then never be met.
    pub fn has_working_time(&self) -> bool {
        self.week_ms > 0 || !self.working_days.is_empty()
    }

    /// Whether `ms` falls in working time.
    pub fn is_working_time(&self, ms: i64) -> bool {
        let ms = clamp(ms);
        let today = self.local_date(ms);
        [today.saturating_sub(1.day()), today].into_iter().any(|d| {
            self.ranges(d).iter().any(|&r| {
                let (s, e) = self.interval(d, r);
                s <= ms && ms < e
            })
        })
    }

    /// The instant at which `dur` of business time has elapsed after
    /// `start_ms`. Counting begins at the next opening when `start_ms` is
    /// outside working hours; a target that ends exactly at a closing time is
    /// due at that closing time, not at the next opening. `dur` is truncated
    /// to whole milliseconds; a zero `dur` gives `start_ms` back.
    ///
    /// Fails when the calendar has no working time ahead, or when the target
    /// is not reached within [`HORIZON_DAYS`].
    pub fn add(&self, start_ms: i64, dur: Duration) -> Result<i64, SlaError> {
        let mut remaining = duration_ms(dur);
        if remaining == 0 {
            return Ok(start_ms);
        }
        let start = clamp(start_ms);
        let first = self.local_date(start);
        let limit = first.saturating_add(HORIZON_DAYS.days());
        // One day back: with a fold at midnight an instant can still belong to
        // the previous local day's ranges.
        let mut d = first.saturating_sub(1.day());
        while d <= limit {
            if self.week_ms == 0 {
                // Only the listed working days have hours: go straight to the next.
                match self.working_days.range(d..).next() {
                    Some(&next) if next > d => {
                        d = next;
                        continue;
                    }
                    Some(_) => {}
                    None => return Err(SlaError::NoWorkingTime { after: first }),
                }
            } else if start <= self.day_start(d) {
                let weeks = ((remaining - 1) / self.week_ms).min(self.plain_weeks(d, limit));
                if weeks > 0 {
                    remaining -= weeks * self.week_ms;
                    d = d.saturating_add((weeks * 7).days());
                    continue;
                }
            }
            for &r in self.ranges(d) {
                let (s, e) = self.interval(d, r);
                let s = s.max(start);
                if e <= s {
                    continue;
                }
                if remaining <= e - s {
                    return Ok(s + remaining);
                }
                remaining -= e - s;
            }
            d = d.saturating_add(1.day());
        }
        Err(SlaError::BeyondHorizon {
            from: first,
            target: dur,
        })
    }

    /// Business time elapsed from `a_ms` to `b_ms`, exact to the millisecond;
    /// zero when `b_ms <= a_ms`.
    pub fn between(&self, a_ms: i64, b_ms: i64) -> Duration {
        let (a, b) = (clamp(a_ms), clamp(b_ms));
        if b <= a {
            return Duration::ZERO;
        }
        let last = self.local_date(b);
        let mut total: i64 = 0;
        let mut d = self.local_date(a).saturating_sub(1.day());
        while d <= last {
            if self.week_ms == 0 {
                match self.working_days.range(d..=last).next() {
                    Some(&next) if next > d => {
                        d = next;
                        continue;
                    }
                    Some(_) => {}
                    None => break,
                }
            } else if a <= self.day_start(d) {
                // The local day of `b` starts at or before `b`, so whole weeks
                // ending by then lie inside [a, b].
                let weeks = self.plain_weeks(d, last);
                if weeks > 0 {
                    total += weeks * self.week_ms;
                    d = d.saturating_add((weeks * 7).days());
                    continue;
                }
            }
            for &r in self.ranges(d) {
                let (s, e) = self.interval(d, r);
                let (s, e) = (s.max(a), e.min(b));
                if e > s {
                    total += e - s;
                }
            }
            d = d.saturating_add(1.day());
        }
        Duration::from_millis(u64::try_from(total).unwrap_or(0))
    }

    /// The working ranges of local date `d`.
    fn ranges(&self, d: Date) -> &[Range] {
        if self.holidays.contains(&d) {
            &[]
        } else if self.working_days.contains(&d) {
            &self.working_day_hours
        } else {
            &self.week[weekday_index(d)]
        }
    }

    /// How many whole weeks from `d` on are ordinary: no holiday or working
    /// day, no DST change (nor any other change of offset), and ending by
    /// `limit`. In such weeks business time is exactly `week_ms` per week.
    fn plain_weeks(&self, d: Date, limit: Date) -> i64 {
        let mut days = days_between(d, limit);
        if let Some(&x) = self.exceptions.range(d..).next() {
            days = days.min(days_between(d, x));
        }
        let from = Timestamp::from_millisecond(self.day_start(d) - 1).unwrap_or(Timestamp::MIN);
        if let Some(t) = self.tz.following(from).next() {
            // The day before the change's local date, to stay clear of changes at midnight.
            let changes_on = self.tz.to_datetime(t.timestamp()).date();
            days = days.min(days_between(d, changes_on) - 1);
        }
        days.max(0) / 7
    }

    /// The instants a range of local date `d` covers.
    fn interval(&self, d: Date, r: Range) -> (i64, i64) {
        (self.instant(d, r.start), self.instant(d, r.end))
    }

    fn day_start(&self, d: Date) -> i64 {
        self.instant(d, 0)
    }

    /// The first instant at which the wall clock reads `minute` on date `d`
    /// or later (24:00 is the next day's 00:00).
    fn instant(&self, d: Date, minute: u16) -> i64 {
        let dt: DateTime = if minute >= MINUTES_PER_DAY {
            d.saturating_add(1.day()).at(0, 0, 0, 0)
        } else {
            // Both fit an i8: hour < 24, minute < 60.
            d.at((minute / 60) as i8, (minute % 60) as i8, 0, 0)
        };
        let amb = self.tz.to_ambiguous_timestamp(dt);
        let ts = match amb.offset() {
            AmbiguousOffset::Gap { .. } => {
                // The wall clock jumps over `dt`: the first moment it reads
                // later than `dt` is the change itself.
                amb.earlier()
                    .ok()
                    .and_then(|before| self.tz.following(before).next())
                    .map(|t| t.timestamp())
                    .or_else(|| amb.compatible().ok())
            }
            _ => amb.earlier().ok(),
        };
        ts.map_or(MAX_MS, |t| t.as_millisecond())
    }

    fn local_date(&self, ms: i64) -> Date {
        let ts = Timestamp::from_millisecond(clamp(ms)).unwrap_or(Timestamp::UNIX_EPOCH);
        self.tz.to_datetime(ts).date()
    }
}

fn clamp(ms: i64) -> i64 {
    ms.clamp(MIN_MS, MAX_MS)
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn weekday_index(d: Date) -> usize {
    // 0..=6, Monday first.
    d.weekday().to_monday_zero_offset() as usize
}

/// Whole days from `a` to `b` (negative when `b` is earlier).
fn days_between(a: Date, b: Date) -> i64 {
    a.duration_until(b).as_secs() / 86_400
}

/// Parses `"09:00-12:00, 13:00-18:00"`: sorted, none inverted or overlapping.
/// Touching ranges are merged.
fn parse_ranges(what: &str, s: &str) -> Result<Vec<Range>, String> {
    let expected = || {
        format!(
            "{what}: expected working hours like \"09:00-18:00\" or \"09:00-12:00, 13:00-18:00\", got \"{s}\""
        )
    };
    let mut ranges = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let (a, b) = part.split_once('-').ok_or_else(expected)?;
        let start = parse_hhmm(a.trim()).filter(|&m| m < MINUTES_PER_DAY);
        let end = parse_hhmm(b.trim());
        let (Some(start), Some(end)) = (start, end) else {
            return Err(expected());
        };
        if end <= start {
            return Err(format!(
                "{what}: \"{part}\" ends before it starts: expected start < end within one day (write 24:00 for midnight at the end)"
            ));
        }
        ranges.push(Range { start, end });
    }
    ranges.sort_by_key(|r| r.start);
    for w in ranges.windows(2) {
        if w[1].start < w[0].end {
            return Err(format!(
                "{what}: {} and {} overlap: expected separate ranges",
                fmt_range(w[0]),
                fmt_range(w[1])
            ));
        }
    }
    let mut merged: Vec<Range> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if last.end == r.start => last.end = r.end,
            _ => merged.push(r),
        }
    }
    Ok(merged)
}

/// `"HH:MM"` (or `"H:MM"`) to minutes since midnight; up to 24:00.
fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if !(1..=2).contains(&h.len()) || m.len() != 2 {
        return None;
    }
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

fn fmt_range(r: Range) -> String {
    format!(
        "{:02}:{:02}-{:02}:{:02}",
        r.start / 60,
        r.start % 60,
        r.end / 60,
        r.end % 60
    )
}

/// Parses `YYYY-MM-DD` and inclusive ranges `YYYY-MM-DD..YYYY-MM-DD`.
fn parse_dates(what: &str, items: &[String]) -> Result<BTreeSet<Date>, String> {
    let mut out = BTreeSet::new();
    for item in items {
        let item = item.trim();
        let expected = || {
            format!(
                "{what}: expected a date like \"2026-10-01\" or a range \"2026-10-01..2026-10-07\", got \"{item}\""
            )
        };
        let (first, last) = match item.split_once("..") {
            Some((a, b)) => (parse_ymd(a.trim()), parse_ymd(b.trim())),
            None => (parse_ymd(item), parse_ymd(item)),
        };
        let (Some(first), Some(last)) = (first, last) else {
            return Err(expected());
        };
        let len = days_between(first, last);
        if len < 0 {
            return Err(format!("{what}: \"{item}\" ends before it starts"));
        }
        if len >= MAX_RANGE_DAYS {
            return Err(format!(
                "{what}: \"{item}\" spans more than {MAX_RANGE_DAYS} days: expected a shorter range"
            ));
        }
        for n in 0..=len {
            out.insert(first.saturating_add(n.days()));
        }
    }
    Ok(out)
}

/// Strict `YYYY-MM-DD`, a real date between the years 1000 and 8999.
fn parse_ymd(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    let y: i16 = s[0..4].parse().ok()?;
    let m: i8 = s[5..7].parse().ok()?;
    let d: i8 = s[8..10].parse().ok()?;
    if !(1000..9000).contains(&y) {
        return None;
    }
    Date::new(y, m, d).ok()
}
