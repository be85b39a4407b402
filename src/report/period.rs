//! The span a review covers: whole local days in the desk's time zone, from
//! the first day's midnight up to (not including) the midnight after the last.

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// A period of whole days.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Period {
    /// A stable name: `2026-11`, `2026Q3`, `2026-W48`, or `2026-11-02..2026-11-15`.
    pub key: String,
    /// For people: "November 2026", "2026 Q3", "week 48 of 2026".
    pub label: String,
    /// The first day.
    pub first: Date,
    /// The last day (inclusive).
    pub last: Date,
    /// Midnight starting `first`, unix ms.
    pub from_ms: i64,
    /// Midnight after `last`, unix ms (exclusive).
    pub to_ms: i64,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn midnight(d: Date, tz: &TimeZone) -> Result<i64, String> {
    d.to_zoned_datetime(tz.clone())
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|e| format!("{d}: {e}"))
}

/// The local date of an instant.
pub fn local_date(ms: i64, tz: &TimeZone) -> Date {
    Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned_datetime(tz.clone()).date())
        .unwrap_or_default()
}

impl Period {
    /// The days `first..=last`.
    pub fn days(first: Date, last: Date, tz: &TimeZone) -> Result<Period, String> {
        if last < first {
            return Err(format!(
                "the period ends ({last}) before it starts ({first})"
            ));
        }
        let next = last
            .checked_add(1.day())
            .map_err(|e| format!("{last}: {e}"))?;
        Ok(Period {
            key: format!("{first}..{last}"),
            label: format!("{first} to {last}"),
            first,
            last,
            from_ms: midnight(first, tz)?,
            to_ms: midnight(next, tz)?,
        })
    }

    /// A calendar month.
    pub fn month(year: i16, month: i8, tz: &TimeZone) -> Result<Period, String> {
        let first = Date::new(year, month, 1).map_err(|e| e.to_string())?;
        let mut p = Period::days(first, first.last_of_month(), tz)?;
        p.key = format!("{year:04}-{month:02}");
        p.label = format!("{} {year}", MONTHS[(month - 1) as usize]);
        Ok(p)
    }

    /// A quarter, 1 to 4.
    pub fn quarter(year: i16, q: i8, tz: &TimeZone) -> Result<Period, String> {
        if !(1..=4).contains(&q) {
            return Err(format!("quarter {q}: expected 1 to 4"));
        }
        let first = Date::new(year, (q - 1) * 3 + 1, 1).map_err(|e| e.to_string())?;
        let last = Date::new(year, q * 3, 1)
            .map_err(|e| e.to_string())?
            .last_of_month();
        let mut p = Period::days(first, last, tz)?;
        p.key = format!("{year:04}Q{q}");
        p.label = format!("{year} Q{q}");
        Ok(p)
    }

    /// The ISO week (Monday to Sunday) that holds `day`.
    pub fn week(day: Date, tz: &TimeZone) -> Result<Period, String> {
        let back = i64::from(day.weekday().to_monday_zero_offset());
        let first = day.checked_sub(back.days()).map_err(|e| e.to_string())?;
        let last = first.checked_add(6.days()).map_err(|e| e.to_string())?;
        let iso = first.iso_week_date();
        let mut p = Period::days(first, last, tz)?;
        p.key = format!("{:04}-W{:02}", iso.year(), iso.week());
        p.label = format!("week {} of {} ({first} to {last})", iso.week(), iso.year());
        Ok(p)
    }

    /// The calendar month before the one `now_ms` falls in.
    pub fn last_month(now_ms: i64, tz: &TimeZone) -> Result<Period, String> {
        let today = local_date(now_ms, tz);
        let (y, m) = if today.month() == 1 {
            (today.year() - 1, 12)
        } else {
            (today.year(), today.month() - 1)
        };
        Period::month(y, m, tz)
    }

    /// The week (Monday to Sunday) before the one `now_ms` falls in.
    pub fn last_week(now_ms: i64, tz: &TimeZone) -> Result<Period, String> {
        let today = local_date(now_ms, tz);
        let a_week_ago = today.checked_sub(7.days()).map_err(|e| e.to_string())?;
        Period::week(a_week_ago, tz)
    }

    /// Whether `ms` lies in the period.
    pub fn contains(&self, ms: i64) -> bool {
        self.from_ms <= ms && ms < self.to_ms
    }

    /// Every day of the period.
    pub fn each_day(&self) -> Vec<Date> {
        let mut out = Vec::new();
        let mut d = self.first;
        while d <= self.last {
            out.push(d);
            match d.checked_add(1.day()) {
                Ok(n) => d = n,
                Err(_) => break,
            }
        }
        out
    }
}

/// The period a review is asked for, as `postdesk report` takes it: the
/// days `from..=to` (both `YYYY-MM-DD`), else a `quarter` (`2026Q3`), else
/// a `month` (`2026-11`), else last calendar month before `now_ms`.
pub fn choose(
    from: Option<&str>,
    to: Option<&str>,
    quarter: Option<&str>,
    month: Option<&str>,
    now_ms: i64,
    tz: &TimeZone,
) -> Result<Period, String> {
    match (from, to, quarter, month) {
        (Some(f), Some(t), _, _) => Period::days(parse_date(f)?, parse_date(t)?, tz),
        (_, _, Some(q), _) => parse_quarter(q, tz),
        (_, _, _, Some(m)) => {
            let d = parse_date(&format!("{m}-01"))
                .map_err(|_| format!("month `{m}`: expected YYYY-MM"))?;
            Period::month(d.year(), d.month(), tz)
        }
        _ => Period::last_month(now_ms, tz),
    }
}

/// `2026Q3`, `2026-Q3`, `2026q3`.
pub fn parse_quarter(s: &str, tz: &TimeZone) -> Result<Period, String> {
    let t = s.trim().to_ascii_uppercase();
    let bad = || format!("quarter `{s}`: expected a year and a quarter like 2026Q3");
    let (y, q) = t.split_once('Q').ok_or_else(bad)?;
    let y: i16 = y.trim_end_matches('-').parse().map_err(|_| bad())?;
    let q: i8 = q.parse().map_err(|_| bad())?;
    Period::quarter(y, q, tz)
}

/// `2026-11` (a month) or `2026-11-05` (a day).
pub fn parse_date(s: &str) -> Result<Date, String> {
    s.trim()
        .parse::<Date>()
        .map_err(|e| format!("date `{s}`: expected YYYY-MM-DD: {e}"))
}

/// A weekday by English name or three-letter abbreviation.
pub fn parse_weekday(s: &str) -> Result<Weekday, String> {
    let w = s.trim().to_ascii_lowercase();
    let all = [
        ("monday", Weekday::Monday),
        ("tuesday", Weekday::Tuesday),
        ("wednesday", Weekday::Wednesday),
        ("thursday", Weekday::Thursday),
        ("friday", Weekday::Friday),
        ("saturday", Weekday::Saturday),
        ("sunday", Weekday::Sunday),
    ];
    all.iter()
        .find(|(name, _)| *name == w || (w.len() == 3 && name.starts_with(&w)))
        .map(|(_, d)| *d)
        .ok_or_else(|| format!("weekday `{s}`: expected monday … sunday"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh() -> TimeZone {
        crate::desk::when::zone("Asia/Shanghai").unwrap()
    }

    #[test]
    fn the_period_asked_for() {
        let tz = sh();
        let now = 1_796_004_000_000; // 2026-11-30 10:00 in Shanghai
        let key = |f, t, q, m| choose(f, t, q, m, now, &tz).map(|p| p.key);
        assert_eq!(key(None, None, None, None).unwrap(), "2026-10");
        assert_eq!(key(None, None, None, Some("2026-11")).unwrap(), "2026-11");
        assert_eq!(key(None, None, Some("2026Q3"), None).unwrap(), "2026Q3");
        assert_eq!(
            key(Some("2026-11-02"), Some("2026-11-15"), None, None).unwrap(),
            "2026-11-02..2026-11-15"
        );
        assert_eq!(
            key(None, None, None, Some("2026-13")).unwrap_err(),
            "month `2026-13`: expected YYYY-MM"
        );
        assert!(
            key(Some("2026-11-15"), Some("2026-11-02"), None, None)
                .unwrap_err()
                .contains("before it starts")
        );
    }

    #[test]
    fn months_and_quarters_in_the_desk_zone() {
        let p = Period::month(2026, 11, &sh()).unwrap();
        assert_eq!(p.key, "2026-11");
        assert_eq!(p.label, "November 2026");
        // 2026-11-01 00:00 +08:00 = 2026-10-31 16:00 UTC.
        assert_eq!(crate::desk::when::iso(p.from_ms), "2026-10-31 16:00:00Z");
        assert_eq!(crate::desk::when::iso(p.to_ms), "2026-11-30 16:00:00Z");
        assert_eq!(p.each_day().len(), 30);
        let q = parse_quarter("2026-q3", &sh()).unwrap();
        assert_eq!(
            (q.key.as_str(), q.first.to_string(), q.last.to_string()),
            ("2026Q3", "2026-07-01".into(), "2026-09-30".into())
        );
        assert!(parse_quarter("2026Q5", &sh()).is_err());
        assert!(parse_quarter("Q3", &sh()).is_err());
    }

    #[test]
    fn last_month_and_last_week() {
        // 2026-01-01 00:30 in Shanghai is still 2025-12-31 in UTC.
        let ms = Date::constant(2026, 1, 1)
            .to_zoned_datetime(sh())
            .unwrap()
            .timestamp()
            .as_millisecond()
            + 30 * 60_000;
        assert_eq!(Period::last_month(ms, &sh()).unwrap().key, "2025-12");
        assert_eq!(
            Period::last_month(ms, &TimeZone::UTC).unwrap().key,
            "2025-11"
        );
        // Thursday 2026-01-01: last week is Monday 2025-12-22 to Sunday 12-28, ISO week 52.
        let w = Period::last_week(ms, &sh()).unwrap();
        assert_eq!(
            (w.key.as_str(), w.first.to_string(), w.last.to_string()),
            ("2025-W52", "2025-12-22".into(), "2025-12-28".into())
        );
    }

    #[test]
    fn days_and_weekdays() {
        let p = Period::days(
            Date::constant(2026, 3, 28),
            Date::constant(2026, 3, 29),
            &TimeZone::UTC,
        )
        .unwrap();
        assert_eq!(p.to_ms - p.from_ms, 2 * 86_400_000);
        assert!(p.contains(p.from_ms) && !p.contains(p.to_ms));
        assert!(
            Period::days(
                Date::constant(2026, 3, 29),
                Date::constant(2026, 3, 28),
                &TimeZone::UTC
            )
            .is_err()
        );
        assert_eq!(parse_weekday("Mon").unwrap(), Weekday::Monday);
        assert_eq!(parse_weekday("sunday").unwrap(), Weekday::Sunday);
        assert!(parse_weekday("someday").is_err());
    }
}
