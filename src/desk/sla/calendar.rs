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

    /// Whether the local day of `ms` is a working day: it has working
    /// hours (not a holiday, not a day of the week without hours).
    pub fn is_working_day(&self, ms: i64) -> bool {
        !self.ranges(self.local_date(clamp(ms))).is_empty()
    }

    /// Whether `ms` falls in working time.
    pub fn is_working_time(&self, ms: i64) -> bool {
        let ms = clamp(ms);
        let today = self.local_date(ms);
        let days = [
            today.saturating_sub(1.day()),
            today,
            today.saturating_add(1.day()),
        ];
        days.into_iter().any(|d| {
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
        // One day either side: with a fold at midnight an instant can belong
        // to the previous or the next local day's ranges. Intervals are
        // clipped to [a, b], so the extra days cost only the look.
        let end = last.saturating_add(1.day());
        let mut total: i64 = 0;
        let mut d = self.local_date(a).saturating_sub(1.day());
        while d <= end {
            if self.week_ms == 0 {
                match self.working_days.range(d..=end).next() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::sla::WeekHours;
    use proptest::prelude::*;

    fn hours(h: u64) -> Duration {
        Duration::from_secs(h * 3600)
    }

    fn minutes(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// A calendar from the default config (Mon-Fri 09:00-18:00) changed by `f`.
    fn calendar(tz: &str, f: impl FnOnce(&mut CalendarConfig)) -> Calendar {
        let mut c = CalendarConfig {
            time_zone: tz.into(),
            ..CalendarConfig::default()
        };
        f(&mut c);
        Calendar::from_config(&c).unwrap()
    }

    /// Mon-Thu 09:00-18:00, Friday with a lunch break, Golden Week 2026 off
    /// and the make-up working Saturday after it, in Asia/Shanghai.
    fn shanghai() -> Calendar {
        calendar("Asia/Shanghai", |c| {
            c.hours.fri = Some("09:00-12:00, 13:00-18:00".into());
            c.holidays = strings(&["2026-10-01..2026-10-07", "2026-12-25"]);
            c.working_days = strings(&["2026-10-10"]);
        })
    }

    /// Every day 09:00-17:00 in Europe/Berlin, Sundays included, so that the
    /// Sundays of the DST changes are working days.
    fn berlin_every_day() -> Calendar {
        calendar("Europe/Berlin", |c| {
            let h = Some("09:00-17:00".to_string());
            c.hours = WeekHours {
                sat: h.clone(),
                sun: h.clone(),
                ..WeekHours::mon_to_fri("09:00-17:00")
            };
        })
    }

    /// Local wall-clock time `"2026-10-09 17:30"` in the calendar's zone.
    fn at(cal: &Calendar, local: &str) -> i64 {
        let dt: DateTime = local.replace(' ', "T").parse().unwrap();
        cal.tz.to_timestamp(dt).unwrap().as_millisecond()
    }

    /// `"Mon 2026-10-12 10:30"` in the calendar's zone.
    fn show(cal: &Calendar, ms: i64) -> String {
        let ts = Timestamp::from_millisecond(ms).unwrap();
        cal.tz
            .to_datetime(ts)
            .strftime("%a %Y-%m-%d %H:%M")
            .to_string()
    }

    fn add(cal: &Calendar, local: &str, d: Duration) -> String {
        show(cal, cal.add(at(cal, local), d).unwrap())
    }

    fn between(cal: &Calendar, a: &str, b: &str) -> Duration {
        cal.between(at(cal, a), at(cal, b))
    }

    #[test]
    fn weekends_are_skipped() {
        let cal = calendar("UTC", |_| {});
        assert_eq!(
            add(&cal, "2026-11-27 16:00", hours(4)),
            "Mon 2026-11-30 11:00"
        );
        assert_eq!(
            between(&cal, "2026-11-27 16:00", "2026-11-30 11:00"),
            hours(4)
        );
        // A whole weekend is worth nothing.
        assert_eq!(
            between(&cal, "2026-11-27 18:00", "2026-11-30 09:00"),
            Duration::ZERO
        );
    }

    #[test]
    fn friday_1730_with_two_hours_is_due_monday_1030() {
        let cal = calendar("UTC", |_| {});
        assert_eq!(
            add(&cal, "2026-11-27 17:30", hours(2)),
            "Mon 2026-11-30 10:30"
        );
        // The same in Shanghai, and the instant really is in +08:00.
        let sh = shanghai();
        let due = sh.add(at(&sh, "2026-11-27 17:30"), hours(2)).unwrap();
        assert_eq!(show(&sh, due), "Mon 2026-11-30 10:30");
        assert_eq!(due, 1_795_996_800_000 + (2 * 60 + 30) * 60_000); // 02:30Z
    }

    #[test]
    fn a_holiday_on_a_wednesday() {
        let cal = calendar("UTC", |c| c.holidays = strings(&["2026-11-25"]));
        assert_eq!(
            add(&cal, "2026-11-24 17:00", hours(2)),
            "Thu 2026-11-26 10:00"
        );
        // between skips it too: Tue and Thu count, Wed does not.
        assert_eq!(
            between(&cal, "2026-11-24 09:00", "2026-11-26 18:00"),
            hours(18)
        );
        assert_eq!(
            between(&cal, "2026-11-25 09:00", "2026-11-25 18:00"),
            Duration::ZERO
        );
        assert!(!cal.is_working_time(at(&cal, "2026-11-25 10:00")));
        assert!(cal.is_working_time(at(&cal, "2026-11-26 10:00")));
    }

    #[test]
    fn golden_week_and_the_make_up_saturday_in_shanghai() {
        let cal = shanghai();
        // Wed 30 Sep 17:00, 4 h: one hour that day, then the holiday week, then Thu 8 Oct.
        assert_eq!(
            add(&cal, "2026-09-30 17:00", hours(4)),
            "Thu 2026-10-08 12:00"
        );
        // Fri 9 Oct 17:00, 2 h: the Saturday after is a working day.
        assert_eq!(
            add(&cal, "2026-10-09 17:00", hours(2)),
            "Sat 2026-10-10 10:00"
        );
        assert_eq!(
            between(&cal, "2026-10-10 00:00", "2026-10-11 00:00"),
            hours(9)
        );
        // Other Saturdays stay off.
        assert_eq!(
            between(&cal, "2026-10-17 00:00", "2026-10-18 00:00"),
            Duration::ZERO
        );
        // Without the extra day the same ticket is due on Monday.
        let plain = calendar("Asia/Shanghai", |c| {
            c.hours.fri = Some("09:00-12:00, 13:00-18:00".into());
        });
        assert_eq!(
            add(&plain, "2026-10-09 17:00", hours(2)),
            "Mon 2026-10-12 10:00"
        );
    }

    #[test]
    fn working_day_hours_apply_to_extra_days() {
        let cal = calendar("Asia/Shanghai", |c| {
            c.working_days = strings(&["2026-10-10"]);
            c.working_day_hours = "10:00-12:00".into();
        });
        assert_eq!(
            between(&cal, "2026-10-10 00:00", "2026-10-11 00:00"),
            hours(2)
        );
        assert_eq!(
            add(&cal, "2026-10-09 17:00", hours(2)),
            "Sat 2026-10-10 11:00"
        );
    }

    #[test]
    fn a_thirty_hour_target_spans_four_days() {
        let cal = calendar("UTC", |_| {});
        assert_eq!(
            add(&cal, "2026-11-30 09:00", hours(30)),
            "Thu 2026-12-03 12:00"
        );
        // With Shanghai's short Friday, from Wed 14:00: 4 + 9 + 8 + 9 = 30 h,
        // ending exactly at Monday's closing time, not at Tuesday's opening.
        let sh = shanghai();
        assert_eq!(
            add(&sh, "2026-11-25 14:00", hours(30)),
            "Mon 2026-11-30 18:00"
        );
        assert_eq!(
            between(&sh, "2026-11-25 14:00", "2026-11-30 18:00"),
            hours(30)
        );
    }

    #[test]
    fn counting_starts_at_the_next_opening() {
        let cal = shanghai();
        // Sunday night.
        assert_eq!(
            add(&cal, "2026-11-29 23:00", hours(1)),
            "Mon 2026-11-30 10:00"
        );
        // Early morning before opening.
        assert_eq!(
            add(&cal, "2026-12-01 06:00", hours(1)),
            "Tue 2026-12-01 10:00"
        );
        // In Friday's lunch break, and across it.
        assert_eq!(
            add(&cal, "2026-11-27 12:30", hours(1)),
            "Fri 2026-11-27 14:00"
        );
        assert_eq!(
            add(&cal, "2026-11-27 11:30", hours(1)),
            "Fri 2026-11-27 13:30"
        );
        assert_eq!(
            between(&cal, "2026-11-27 11:00", "2026-11-27 14:00"),
            hours(2)
        );
        assert!(!cal.is_working_time(at(&cal, "2026-11-27 12:30")));
        // After closing: the next day.
        assert_eq!(
            add(&cal, "2026-11-26 18:00", minutes(1)),
            "Fri 2026-11-27 09:01"
        );
        // A target that ends at noon on Friday is due at noon, not at 13:00.
        assert_eq!(
            add(&cal, "2026-11-27 11:00", hours(1)),
            "Fri 2026-11-27 12:00"
        );
    }

    #[test]
    fn zero_adds_nothing() {
        let cal = calendar("UTC", |_| {});
        let sunday = at(&cal, "2026-11-29 12:00");
        assert_eq!(cal.add(sunday, Duration::ZERO).unwrap(), sunday);
    }

    #[test]
    fn berlin_working_sundays_across_both_dst_changes_have_8_hours() {
        let cal = berlin_every_day();
        for day in ["2026-03-29", "2026-10-25"] {
            let start = format!("{day} 00:00");
            let end = format!("{day} 23:59");
            assert_eq!(between(&cal, &start, &end), hours(8), "{day}");
        }
        // 8 h from Saturday noon: 5 h on Saturday, 3 h on Sunday, in CEST.
        let due = cal.add(at(&cal, "2026-03-28 12:00"), hours(8)).unwrap();
        assert_eq!(show(&cal, due), "Sun 2026-03-29 12:00");
        assert_eq!(due, 1_774_742_400_000 + 10 * 3_600_000); // 10:00Z
        let due = cal.add(at(&cal, "2026-10-24 12:00"), hours(8)).unwrap();
        assert_eq!(show(&cal, due), "Sun 2026-10-25 12:00");
        assert_eq!(due, 1_792_886_400_000 + 11 * 3_600_000); // 11:00Z, CET
    }

    #[test]
    fn berlin_weekday_calendar_over_the_dst_weekends() {
        let cal = calendar("Europe/Berlin", |c| {
            c.hours = WeekHours::mon_to_fri("09:00-17:00");
        });
        // Fri 16:00 CET + 2 h → Mon 10:00 CEST (08:00Z).
        let due = cal.add(at(&cal, "2026-03-27 16:00"), hours(2)).unwrap();
        assert_eq!(show(&cal, due), "Mon 2026-03-30 10:00");
        assert_eq!(due, 1_774_742_400_000 + 86_400_000 + 8 * 3_600_000);
        // Fri 16:00 CEST + 2 h → Mon 10:00 CET (09:00Z).
        let due = cal.add(at(&cal, "2026-10-23 16:00"), hours(2)).unwrap();
        assert_eq!(show(&cal, due), "Mon 2026-10-26 10:00");
        assert_eq!(due, 1_792_886_400_000 + 86_400_000 + 9 * 3_600_000);
        // Whole weeks are skipped, and still land right across the change:
        // 25 days of 8 h from Mon 2 March is Friday 3 April at closing time.
        assert_eq!(
            add(&cal, "2026-03-02 09:00", hours(200)),
            "Fri 2026-04-03 17:00"
        );
        assert_eq!(
            between(&cal, "2026-03-02 09:00", "2026-04-03 17:00"),
            hours(200)
        );
        assert_eq!(
            add(&cal, "2026-10-05 09:00", hours(200)),
            "Fri 2026-11-06 17:00"
        );
    }

    #[test]
    fn hours_are_real_time_between_wall_clock_boundaries() {
        // Round the clock: the spring-forward day has 23 h, the fall-back day 25 h.
        let cal = calendar("Europe/Berlin", |c| {
            c.hours = WeekHours {
                sun: Some("00:00-24:00".into()),
                ..WeekHours::default()
            };
        });
        assert_eq!(
            between(&cal, "2026-03-29 00:00", "2026-03-30 00:00"),
            hours(23)
        );
        assert_eq!(
            between(&cal, "2026-10-25 00:00", "2026-10-26 00:00"),
            hours(25)
        );
        assert_eq!(
            between(&cal, "2026-10-18 00:00", "2026-10-19 00:00"),
            hours(24)
        );
        // A range over the change itself: 01:00-04:00 is 2 h in spring, 4 h in autumn.
        let night = calendar("Europe/Berlin", |c| {
            c.hours = WeekHours {
                sun: Some("01:00-04:00".into()),
                ..WeekHours::default()
            };
        });
        assert_eq!(
            between(&night, "2026-03-29 00:00", "2026-03-30 00:00"),
            hours(2)
        );
        assert_eq!(
            between(&night, "2026-10-25 00:00", "2026-10-26 00:00"),
            hours(4)
        );
        // A boundary in the gap means the moment of the change (03:00 CEST).
        let gap = calendar("Europe/Berlin", |c| {
            c.hours = WeekHours {
                sun: Some("02:30-04:00".into()),
                ..WeekHours::default()
            };
        });
        assert_eq!(
            between(&gap, "2026-03-29 00:00", "2026-03-30 00:00"),
            hours(1)
        );
        assert_eq!(
            add(&gap, "2026-03-28 12:00", minutes(1)),
            "Sun 2026-03-29 03:01"
        );
    }

    #[test]
    fn shanghai_has_no_dst_and_whole_years_add_up() {
        let cal = calendar("Asia/Shanghai", |c| {
            c.hours.fri = Some("09:00-12:00, 13:00-18:00".into());
        });
        // 52 weeks of 4 × 9 h + 8 h.
        assert_eq!(
            between(&cal, "2026-01-05 09:00", "2027-01-04 09:00"),
            hours(52 * 44)
        );
        assert_eq!(
            add(&cal, "2026-01-05 09:00", hours(52 * 44)),
            "Fri 2027-01-01 18:00"
        );
        // And with Golden Week and Christmas taken out, the Saturday put in.
        let sh = shanghai();
        assert_eq!(
            between(&sh, "2026-01-05 09:00", "2027-01-04 09:00"),
            hours(52 * 44 - (9 + 8 + 9 + 9 + 9) - 8 + 9)
        );
    }

    #[test]
    fn no_working_time_is_a_clear_error() {
        let cal = calendar("UTC", |c| c.hours = WeekHours::default());
        assert!(!cal.has_working_time());
        let err = cal.add(at(&cal, "2026-11-30 09:00"), hours(1)).unwrap_err();
        assert_eq!(
            err,
            SlaError::NoWorkingTime {
                after: Date::constant(2026, 11, 30)
            }
        );
        let text = err.to_string();
        assert!(text.contains("no working time after 2026-11-30"), "{text}");
        assert_eq!(
            between(&cal, "2026-11-30 00:00", "2026-12-30 00:00"),
            Duration::ZERO
        );

        // Only listed days: they are found, and after the last one it fails.
        let cal = calendar("UTC", |c| {
            c.hours = WeekHours::default();
            c.working_days = strings(&["2027-06-01"]);
        });
        assert_eq!(
            add(&cal, "2026-11-30 09:00", hours(2)),
            "Tue 2027-06-01 11:00"
        );
        assert_eq!(
            between(&cal, "2026-11-30 00:00", "2027-12-31 00:00"),
            hours(9)
        );
        assert!(matches!(
            cal.add(at(&cal, "2027-06-01 17:00"), hours(2)),
            Err(SlaError::NoWorkingTime { .. })
        ));
    }

    #[test]
    fn long_targets_are_fast_and_bounded() {
        let cal = shanghai();
        let start = at(&cal, "2026-01-05 09:00");
        // About four years of business time: exact, and quick (weeks are skipped).
        let due = cal.add(start, hours(9000)).unwrap();
        assert_eq!(cal.between(start, due), hours(9000));

        // Beyond ten years: an error, not a hang.
        let err = cal.add(start, hours(100_000)).unwrap_err();
        assert!(matches!(err, SlaError::BeyondHorizon { .. }), "{err}");
        assert!(err.to_string().contains("within 10 years"), "{err}");
        // A year-long holiday list does not stop it either.
        let busy = calendar("UTC", |c| c.holidays = strings(&["2026-01-01..2026-12-31"]));
        assert_eq!(
            add(&busy, "2025-12-31 17:00", hours(2)),
            "Fri 2027-01-01 10:00"
        );
    }

    #[test]
    fn touching_ranges_are_one() {
        let cal = calendar("UTC", |c| {
            c.hours.mon = Some("09:00-12:00,12:00-18:00".into())
        });
        assert_eq!(
            cal.week[0],
            [Range {
                start: 540,
                end: 1080
            }]
        );
    }

    #[test]
    fn config_errors_say_what_was_expected() {
        let err = |f: &dyn Fn(&mut CalendarConfig)| {
            let mut c = CalendarConfig::default();
            f(&mut c);
            Calendar::from_config(&c).unwrap_err()
        };
        let e = err(&|c| c.time_zone = "Asia/Shanghi".into());
        assert!(e.contains("time-zone") && e.contains("Asia/Shanghi"), "{e}");
        let e = err(&|c| c.hours.mon = Some("9-18".into()));
        assert!(
            e.contains("hours.mon") && e.contains("expected working hours like"),
            "{e}"
        );
        let e = err(&|c| c.hours.tue = Some("18:00-09:00".into()));
        assert!(
            e.contains("hours.tue") && e.contains("ends before it starts"),
            "{e}"
        );
        let e = err(&|c| c.hours.wed = Some("09:00-12:00, 11:30-18:00".into()));
        assert!(e.contains("09:00-12:00 and 11:30-18:00 overlap"), "{e}");
        for bad in [
            "09:60-10:00",
            "24:00-24:00",
            "09:00-24:30",
            "09:00",
            "",
            "09:00-18:00,",
        ] {
            let e = err(&|c| c.hours.thu = Some(bad.into()));
            assert!(e.contains("hours.thu"), "{bad}: {e}");
        }
        let e = err(&|c| c.working_day_hours = "nine to six".into());
        assert!(e.contains("working-day-hours"), "{e}");
        for bad in [
            "2026/10/01",
            "2026-13-01",
            "2026-02-30",
            "26-10-01",
            "2026-10-1",
            "1st of May",
        ] {
            let e = err(&|c| c.holidays = strings(&[bad]));
            assert!(
                e.contains("holidays: expected a date like \"2026-10-01\""),
                "{bad}: {e}"
            );
        }
        let e = err(&|c| c.working_days = strings(&["2026-10-07..2026-10-01"]));
        assert!(
            e.contains("working-days") && e.contains("ends before it starts"),
            "{e}"
        );
        let e = err(&|c| c.holidays = strings(&["2026-01-01..2027-06-01"]));
        assert!(e.contains("spans more than 366 days"), "{e}");
        let e = err(&|c| {
            c.holidays = strings(&["2026-10-01..2026-10-07"]);
            c.working_days = strings(&["2026-10-03"]);
        });
        assert!(e.contains("2026-10-03 is both"), "{e}");
        // 24:00 ends a day.
        let mut c = CalendarConfig::default();
        c.hours.sat = Some("18:00-24:00".into());
        Calendar::from_config(&c).unwrap();
    }

    // --- properties -------------------------------------------------------

    /// Calendars that stress the week skipping: holidays and extra days in
    /// 2026, DST changes at 01:00Z (Berlin) and at local midnight (Santiago),
    /// ranges over the changes, split days.
    fn property_calendars() -> Vec<Calendar> {
        vec![
            shanghai(),
            calendar("Europe/Berlin", |c| {
                c.hours = WeekHours {
                    fri: Some("08:00-12:00, 12:30-15:00".into()),
                    sun: Some("00:00-02:30, 02:45-24:00".into()),
                    ..WeekHours::mon_to_fri("09:00-17:00")
                };
                c.holidays = strings(&["2026-04-03..2026-04-06", "2026-12-24..2026-12-26"]);
                c.working_days = strings(&["2026-05-02"]);
            }),
            calendar("America/Santiago", |c| {
                c.hours.sat = Some("20:00-24:00".into());
                c.hours.sun = Some("00:00-03:00".into());
            }),
            calendar("UTC", |c| {
                c.hours = WeekHours::default();
                c.working_days = strings(&["2026-03-01..2026-03-10", "2026-11-11"]);
            }),
        ]
    }

    /// Reference `between`: every day, no skipping.
    fn between_day_by_day(cal: &Calendar, a: i64, b: i64) -> Duration {
        let mut total = 0;
        let mut d = cal.local_date(a).saturating_sub(1.day());
        while d <= cal.local_date(b).saturating_add(1.day()) {
            for &r in cal.ranges(d) {
                let (s, e) = cal.interval(d, r);
                total += (e.min(b) - s.max(a)).max(0);
            }
            d = d.tomorrow().unwrap();
        }
        Duration::from_millis(total as u64)
    }

    // 2025-12-01 .. 2027-02-01 UTC: both 2026 DST changes and all exceptions.
    const FROM: i64 = 1_764_547_200_000;
    const UNTIL: i64 = 1_801_440_000_000;

    proptest! {
        // No regression files: failures print the minimal input to pin as a unit test.
        #![proptest_config(ProptestConfig {
            cases: 300,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn prop_add_then_between_gives_the_duration_back(
            which in 0..4usize, s in FROM..UNTIL, d in 0..3_000u64 * 3_600_000,
        ) {
            let cal = &property_calendars()[which];
            let d = Duration::from_millis(d);
            match cal.add(s, d) {
                Ok(due) => {
                    prop_assert!(due >= s);
                    prop_assert_eq!(cal.between(s, due), d);
                }
                // Only the calendar of a few listed days runs out of working time.
                Err(SlaError::NoWorkingTime { .. }) => {
                    prop_assert!(cal.between(s, i64::MAX) < d);
                }
                Err(e) => prop_assert!(false, "{e}"),
            }
        }

        #[test]
        fn prop_between_matches_day_by_day_and_adds_up(
            which in 0..4usize, a in FROM..UNTIL, len1 in 0..200i64 * 86_400_000, len2 in 0..20i64 * 86_400_000,
        ) {
            let cal = &property_calendars()[which];
            let (b, c) = (a + len1, a + len1 + len2);
            let ab = cal.between(a, b);
            prop_assert_eq!(ab, between_day_by_day(cal, a, b));
            // Monotone in b, and additive.
            let ac = cal.between(a, c);
            prop_assert!(ab <= ac);
            prop_assert_eq!(ab + cal.between(b, c), ac);
            prop_assert_eq!(cal.between(c, a), Duration::ZERO);
        }

        #[test]
        fn prop_add_is_monotone_in_the_duration(
            which in 0..4usize, s in FROM..UNTIL, d1 in 0..2_000u64 * 3_600_000, step in 0..100u64 * 3_600_000,
        ) {
            let cal = &property_calendars()[which];
            let a = cal.add(s, Duration::from_millis(d1));
            let b = cal.add(s, Duration::from_millis(d1 + step));
            match (a, b) {
                (Ok(a), Ok(b)) => prop_assert!(a < b || (a == b && step == 0)),
                // Running out of working time can only happen to the longer target.
                (Ok(_), Err(_)) | (Err(_), Err(_)) => prop_assert_eq!(which, 3),
                (Err(e), Ok(_)) => prop_assert!(false, "shorter target failed: {e}"),
            }
        }
    }
}
