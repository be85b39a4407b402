//! When the review is mailed: the `[report]` section, and which periods are
//! due at an instant. Pure; the sweeper asks every `workflow.sweep-interval`
//! and `report::mail` records each period it mailed, so each goes out once.

use jiff::ToSpan;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Deserialize;

use super::period::{self, Period, local_date};

/// The `[report]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ReportConfig {
    /// Who receives the review. Empty: no review is mailed.
    pub to: Vec<String>,
    /// Mail the review of last month.
    pub monthly: bool,
    /// Mail the review of last week (Monday to Sunday).
    pub weekly: bool,
    /// The day of the month the monthly review goes out, 1 to 28.
    pub day: u8,
    /// The day of the week the weekly review goes out.
    pub weekday: String,
    /// The hour (0 to 23, the desk's time zone) on that day from which it goes out.
    pub hour: u8,
}

impl Default for ReportConfig {
    fn default() -> ReportConfig {
        ReportConfig {
            to: Vec::new(),
            monthly: true,
            weekly: false,
            day: 1,
            weekday: "monday".into(),
            hour: 8,
        }
    }
}

impl ReportConfig {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=28).contains(&self.day) {
            return Err(format!(
                "day = {}: expected a day of the month from 1 to 28 (every month has it)",
                self.day
            ));
        }
        if self.hour > 23 {
            return Err(format!("hour = {}: expected 0 to 23", self.hour));
        }
        period::parse_weekday(&self.weekday)?;
        for a in &self.to {
            if !a.contains('@') {
                return Err(format!("to: \"{a}\" is not an e-mail address"));
            }
        }
        Ok(())
    }
}

/// A review that should be mailed now, unless it was before.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    /// `monthly` or `weekly`: with the period's key, what is recorded as sent.
    pub schedule: &'static str,
    pub period: Period,
}

fn at_hour(d: Date, hour: u8, tz: &TimeZone) -> Result<i64, String> {
    d.at(hour as i8, 0, 0, 0)
        .to_zoned_datetime(tz.clone())
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|e| e.to_string())
}

/// The reviews due at `now_ms`: last month's from `day` at `hour` of this
/// month on, last week's from this week's `weekday` at `hour` on. Only the
/// latest period of each schedule: after a long downtime, one review each,
/// not a backlog of them.
pub fn due(cfg: &ReportConfig, now_ms: i64, tz: &TimeZone) -> Result<Vec<Due>, String> {
    let mut out = Vec::new();
    if cfg.to.is_empty() {
        return Ok(out);
    }
    let today = local_date(now_ms, tz);
    if cfg.monthly {
        let send_day = today
            .first_of_month()
            .checked_add(i64::from(cfg.day.max(1) - 1).days())
            .map_err(|e| e.to_string())?;
        if now_ms >= at_hour(send_day, cfg.hour, tz)? {
            out.push(Due {
                schedule: "monthly",
                period: Period::last_month(now_ms, tz)?,
            });
        }
    }
    if cfg.weekly {
        let monday = today
            .checked_sub(i64::from(today.weekday().to_monday_zero_offset()).days())
            .map_err(|e| e.to_string())?;
        let wd = period::parse_weekday(&cfg.weekday)?;
        let send_day = monday
            .checked_add(i64::from(wd.to_monday_zero_offset()).days())
            .map_err(|e| e.to_string())?;
        if now_ms >= at_hour(send_day, cfg.hour, tz)? {
            out.push(Due {
                schedule: "weekly",
                period: Period::last_week(now_ms, tz)?,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(y: i16, m: i8, d: i8, h: i8, min: i8, tz: &TimeZone) -> i64 {
        Date::new(y, m, d)
            .unwrap()
            .at(h, min, 0, 0)
            .to_zoned_datetime(tz.clone())
            .unwrap()
            .timestamp()
            .as_millisecond()
    }

    fn cfg() -> ReportConfig {
        ReportConfig {
            to: vec!["boss@example.test".into()],
            weekly: true,
            weekday: "tuesday".into(),
            day: 2,
            hour: 8,
            ..ReportConfig::default()
        }
    }

    fn keys(d: &[Due]) -> Vec<(&str, String)> {
        d.iter()
            .map(|d| (d.schedule, d.period.key.clone()))
            .collect()
    }

    #[test]
    fn monthly_from_its_day_and_hour_in_the_desk_zone() {
        let sh = crate::desk::when::zone("Asia/Shanghai").unwrap();
        let mut c = cfg();
        c.weekly = false;
        // Tuesday 2 December 2026, 07:59 in Shanghai: not yet; 08:00: November's.
        assert!(
            due(&c, ms(2026, 12, 2, 7, 59, &sh), &sh)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            keys(&due(&c, ms(2026, 12, 2, 8, 0, &sh), &sh).unwrap()),
            [("monthly", "2026-11".into())]
        );
        // Later in the month it stays due (the sent record stops repeats).
        assert_eq!(
            keys(&due(&c, ms(2026, 12, 31, 23, 0, &sh), &sh).unwrap()),
            [("monthly", "2026-11".into())]
        );
        // The 1st before the day: nothing; January: December's.
        assert!(due(&c, ms(2027, 1, 1, 12, 0, &sh), &sh).unwrap().is_empty());
        assert_eq!(
            keys(&due(&c, ms(2027, 1, 2, 9, 0, &sh), &sh).unwrap()),
            [("monthly", "2026-12".into())]
        );
    }

    #[test]
    fn weekly_from_its_weekday() {
        let utc = TimeZone::UTC;
        let mut c = cfg();
        c.monthly = false;
        // Monday 30 November 2026: the Tuesday of this week has not come.
        assert!(
            due(&c, ms(2026, 11, 30, 12, 0, &utc), &utc)
                .unwrap()
                .is_empty()
        );
        // Tuesday 1 December 08:00: last week, 23 to 29 November (ISO week 48).
        assert_eq!(
            keys(&due(&c, ms(2026, 12, 1, 8, 0, &utc), &utc).unwrap()),
            [("weekly", "2026-W48".into())]
        );
        assert_eq!(
            keys(&due(&c, ms(2026, 12, 6, 23, 0, &utc), &utc).unwrap()),
            [("weekly", "2026-W48".into())]
        );
    }

    #[test]
    fn nobody_to_send_to_means_nothing_due_and_bad_values_are_named() {
        let c = ReportConfig::default();
        assert!(
            due(&c, 1_800_000_000_000, &TimeZone::UTC)
                .unwrap()
                .is_empty()
        );
        let mut c = cfg();
        c.day = 31;
        assert!(c.validate().unwrap_err().contains("1 to 28"));
        let mut c = cfg();
        c.hour = 24;
        assert!(c.validate().is_err());
        let mut c = cfg();
        c.weekday = "fri-ish".into();
        assert!(c.validate().unwrap_err().contains("weekday"));
        let mut c = cfg();
        c.to = vec!["boss".into()];
        assert!(c.validate().unwrap_err().contains("not an e-mail address"));
    }
}
