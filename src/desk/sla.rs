//! SLA promises: when a ticket's first response and resolution are due, and
//! which escalation levels to fire. Pure: instants are unix milliseconds
//! (UTC) passed in by the caller; nothing here reads the clock.
//!
//! - [`config`]: the `[sla]` section (calendar, policies, escalation levels).
//! - [`calendar`]: business time (working hours in a zone, holidays, extra
//!   working days) and its arithmetic, [`Calendar::add`] and [`Calendar::between`].
//! - [`clock`]: a ticket's clock, stopped while pending: elapsed time, due time.
//! - [`escalation`]: the ladder: which levels are due now (each once) and what they do.
//! - [`status`]: where a ticket stands against its targets.
//! - [`schedule`]: when the sweeper must look at a ticket next, and when it is due.

pub mod calendar;
pub mod clock;
pub mod config;
pub mod escalation;
pub mod schedule;
pub mod status;

use std::time::Duration;

use jiff::civil::Date;

pub use calendar::{Calendar, HORIZON_DAYS};
pub use clock::{Clock, Due, Pause};
pub use config::{
    Action, CalendarConfig, ClockKind, EscalationLevel, PolicyConfig, SlaConfig, Target, WeekHours,
};
pub use escalation::{Escalation, SlaTicket, due_escalations, percent_of};
pub use status::{SlaStatus, TargetStatus};

/// Why a due time cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlaError {
    /// The calendar has no weekly hours and no working day from `after` on.
    #[error(
        "the business calendar has no working time after {after}: expected working `hours` or future `working-days` in [sla.calendar]"
    )]
    NoWorkingTime { after: Date },
    /// The target ends more than [`HORIZON_DAYS`] after its start.
    #[error("{} of business time from {from} is not reached within 10 years", fmt_duration(*target))]
    BeyondHorizon { from: Date, target: Duration },
}

/// "2h 15m left", "overdue by 40m", "due now", for `ms` = due instant − now.
/// Shows the two largest units (d, h, m), rounded down.
pub fn describe_remaining(ms: i64) -> String {
    if ms.unsigned_abs() < 60_000 {
        return if ms == 0 {
            "due now".into()
        } else if ms > 0 {
            "less than 1m left".into()
        } else {
            "overdue by less than 1m".into()
        };
    }
    let text = fmt_duration(Duration::from_millis(ms.unsigned_abs()));
    if ms > 0 {
        format!("{text} left")
    } else {
        format!("overdue by {text}")
    }
}

/// "3d 4h", "2h 15m", "40m": the two largest non-zero units, rounded down.
fn fmt_duration(d: Duration) -> String {
    let minutes = d.as_secs() / 60;
    let parts = [
        (minutes / (24 * 60), "d"),
        (minutes / 60 % 24, "h"),
        (minutes % 60, "m"),
    ];
    let first = parts.iter().position(|(n, _)| *n > 0);
    let Some(first) = first else {
        return format!("{}s", d.as_secs());
    };
    parts[first..]
        .iter()
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_time_reads_like_a_person_would_say_it() {
        let m = 60_000;
        assert_eq!(describe_remaining((2 * 60 + 15) * m), "2h 15m left");
        assert_eq!(describe_remaining(-40 * m), "overdue by 40m");
        assert_eq!(describe_remaining(3 * m + 59_999), "3m left");
        assert_eq!(describe_remaining(2 * 60 * m), "2h left");
        assert_eq!(
            describe_remaining((3 * 24 * 60 + 4 * 60 + 5) * m),
            "3d 4h left"
        );
        assert_eq!(describe_remaining(-(24 * 60 + 5) * m), "overdue by 1d");
        assert_eq!(describe_remaining(0), "due now");
        assert_eq!(describe_remaining(30_000), "less than 1m left");
        assert_eq!(describe_remaining(-1), "overdue by less than 1m");
        assert!(describe_remaining(i64::MIN).starts_with("overdue by "));
    }

    #[test]
    fn errors_read_well() {
        let e = SlaError::BeyondHorizon {
            from: Date::constant(2026, 1, 5),
            target: Duration::from_secs(100_000 * 3600),
        };
        assert_eq!(
            e.to_string(),
            "4166d 16h of business time from 2026-01-05 is not reached within 10 years"
        );
    }
}
