//! The `[sla]` section as an admin writes it: the business calendar and one
//! policy per priority (optionally per category), each with escalation levels.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::calendar::Calendar;
use crate::desk::ticket::Priority;
use crate::units::parse_duration;

/// The `[sla]` section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct SlaConfig {
    /// `[sla.calendar]`: when the desk works.
    pub calendar: CalendarConfig,
    /// `[[sla.policy]]`: the promises. With none, no ticket has an SLA.
    #[serde(rename = "policy")]
    pub policies: Vec<PolicyConfig>,
}

/// `[sla.calendar]`: time zone, weekly working hours, and the exceptions
/// (holidays, and extra working days such as the Saturdays that China's
/// calendar moves work to around public holidays).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct CalendarConfig {
    /// IANA name such as `Asia/Shanghai`; working hours are wall-clock times there.
    pub time_zone: String,
    /// Working hours per weekday. Leaving the whole key out means Mon-Fri
    /// 09:00-18:00; once it is written, a day not listed is not a working day.
    pub hours: WeekHours,
    /// Dates with no work, `YYYY-MM-DD`, or an inclusive range `YYYY-MM-DD..YYYY-MM-DD`.
    pub holidays: Vec<String>,
    /// Extra working days (same forms as `holidays`); they use `working-day-hours`,
    /// whatever weekday they fall on.
    pub working_days: Vec<String>,
    /// Hours of the days in `working-days`.
    pub working_day_hours: String,
}

impl Default for CalendarConfig {
    /// Monday to Friday, 09:00-18:00 UTC, no exceptions.
    fn default() -> CalendarConfig {
        CalendarConfig {
            time_zone: "UTC".into(),
            hours: WeekHours::mon_to_fri(DEFAULT_HOURS),
            holidays: Vec::new(),
            working_days: Vec::new(),
            working_day_hours: DEFAULT_HOURS.into(),
        }
    }
}

pub(super) const DEFAULT_HOURS: &str = "09:00-18:00";

/// Working hours per weekday, each like `"09:00-18:00"` or
/// `"09:00-12:00, 13:00-18:00"`; `24:00` may end a range.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeekHours {
    pub mon: Option<String>,
    pub tue: Option<String>,
    pub wed: Option<String>,
    pub thu: Option<String>,
    pub fri: Option<String>,
    pub sat: Option<String>,
    pub sun: Option<String>,
}

impl WeekHours {
    /// The same hours Monday to Friday, weekends off.
    pub fn mon_to_fri(hours: &str) -> WeekHours {
        let h = Some(hours.to_owned());
        WeekHours {
            mon: h.clone(),
            tue: h.clone(),
            wed: h.clone(),
            thu: h.clone(),
            fri: h,
            sat: None,
            sun: None,
        }
    }

    /// `(key, hours)` Monday first, as written in the config.
    pub fn days(&self) -> [(&'static str, Option<&str>); 7] {
        [
            ("mon", self.mon.as_deref()),
            ("tue", self.tue.as_deref()),
            ("wed", self.wed.as_deref()),
            ("thu", self.thu.as_deref()),
            ("fri", self.fri.as_deref()),
            ("sat", self.sat.as_deref()),
            ("sun", self.sun.as_deref()),
        ]
    }
}

/// `[[sla.policy]]`: the promise for one priority (and optionally one category).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PolicyConfig {
    /// `"P1"`…`"P4"` or any word [`Priority`]'s `FromStr` accepts.
    #[serde(deserialize_with = "de_priority")]
    pub priority: Priority,
    /// A policy with a category wins over one without, for tickets of that
    /// category (compared case-insensitively).
    #[serde(default)]
    pub category: Option<String>,
    /// Time to the first answer from an agent. Written like `"30m"` or
    /// `"4h 30m"`; a day (`"1d"`) is 24 hours also on the business clock,
    /// i.e. 24 working hours, not one working day.
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub first_response: Option<Duration>,
    /// Time to resolution.
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub resolution: Option<Duration>,
    /// Whether the targets count business time (default) or calendar time.
    #[serde(default)]
    pub clock: ClockKind,
    /// `[[sla.policy.escalate]]`: each level fires once per ticket.
    #[serde(default)]
    pub escalate: Vec<EscalationLevel>,
}

impl PolicyConfig {
    /// The target for `t`, if this policy sets one.
    pub fn target(&self, t: Target) -> Option<Duration> {
        match t {
            Target::FirstResponse => self.first_response,
            Target::Resolution => self.resolution,
        }
    }

    fn describe(&self, index: usize) -> String {
        match &self.category {
            Some(c) => format!(
                "[[sla.policy]] #{} ({}, category \"{c}\")",
                index + 1,
                self.priority
            ),
            None => format!("[[sla.policy]] #{} ({})", index + 1, self.priority),
        }
    }
}

/// `[[sla.policy.escalate]]`: at `at` percent of `target` elapsed, do `action`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EscalationLevel {
    pub target: Target,
    /// Percent of the target elapsed: `"75%"` or `75`. May exceed 100.
    #[serde(deserialize_with = "de_percent")]
    pub at: u32,
    pub action: Action,
}

/// Which promise a level or a due time is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    FirstResponse,
    Resolution,
}

impl Target {
    /// The config spelling: `first-response`, `resolution`.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::FirstResponse => "first-response",
            Target::Resolution => "resolution",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an escalation level asks the daemon to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Remind the assignee, or the team when nobody is assigned.
    Remind,
    NotifyLead,
    MoveToNextTier,
    NotifyManager,
}

impl Action {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Remind => "remind",
            Action::NotifyLead => "notify-lead",
            Action::MoveToNextTier => "move-to-next-tier",
            Action::NotifyManager => "notify-manager",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a policy's targets are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockKind {
    /// Only working time of the calendar counts.
    #[default]
    Business,
    /// Every millisecond counts (24/7).
    Calendar,
}

impl SlaConfig {
    /// The policy for a ticket: one for its category if there is one, else
    /// the priority's policy without a category.
    pub fn policy_for(&self, priority: Priority, category: Option<&str>) -> Option<&PolicyConfig> {
        let of_priority = || self.policies.iter().filter(move |p| p.priority == priority);
        if let Some(cat) = category.map(normalise_category).filter(|c| !c.is_empty()) {
            let specific = of_priority().find(|p| {
                p.category
                    .as_deref()
                    .is_some_and(|c| normalise_category(c) == cat)
            });
            if specific.is_some() {
                return specific;
            }
        }
        of_priority().find(|p| p.category.is_none())
    }

    /// Checks what serde cannot: the calendar, at most one policy per
    /// priority and category, positive targets and percentages, levels that
    /// name a target the policy sets, and no level written twice.
    pub fn validate(&self) -> Result<(), String> {
        let calendar = Calendar::from_config(&self.calendar)?;
        let mut seen: Vec<(Priority, Option<String>, usize)> = Vec::new();
        for (i, p) in self.policies.iter().enumerate() {
            let what = p.describe(i);
            let cat = match &p.category {
                Some(c) if normalise_category(c).is_empty() => {
                    return Err(format!(
                        "{what}: `category` is empty: leave it out for the priority's default policy"
                    ));
                }
                Some(c) => Some(normalise_category(c)),
                None => None,
            };
            if let Some((_, _, j)) = seen
                .iter()
                .find(|(pr, c, _)| *pr == p.priority && *c == cat)
            {
                return Err(format!(
                    "{what}: same priority and category as [[sla.policy]] #{}: expected at most one policy per priority and category",
                    j + 1
                ));
            }
            seen.push((p.priority, cat, i));
            if p.first_response.is_none() && p.resolution.is_none() {
                return Err(format!(
                    "{what}: expected `first-response`, `resolution` or both (like \"4h\")"
                ));
            }
            for t in [Target::FirstResponse, Target::Resolution] {
                if p.target(t).is_some_and(|d| d.is_zero()) {
                    return Err(format!(
                        "{what}: `{t}` is zero: expected a duration above zero"
                    ));
                }
            }
            if p.clock == ClockKind::Business && !calendar.has_working_time() {
                return Err(format!(
                    "{what}: counts business time, but [sla.calendar] has no working hours and no working days"
                ));
            }
            for (k, level) in p.escalate.iter().enumerate() {
                let lwhat = format!("{what}, escalate #{}", k + 1);
                if level.at == 0 {
                    return Err(format!(
                        "{lwhat}: `at` is 0%: expected a percentage above 0"
                    ));
                }
                if p.target(level.target).is_none() {
                    return Err(format!(
                        "{lwhat}: escalates on `{}`, but the policy sets no `{}` target",
                        level.target, level.target
                    ));
                }
                if p.escalate[..k]
                    .iter()
                    .any(|o| o.target == level.target && o.at == level.at)
                {
                    return Err(format!(
                        "{lwhat}: a second level at {}% of `{}`: expected each percentage once per target",
                        level.at, level.target
                    ));
                }
            }
        }
        Ok(())
    }
}

fn normalise_category(c: &str) -> String {
    c.trim().to_lowercase()
}

fn de_priority<'de, D: Deserializer<'de>>(d: D) -> Result<Priority, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

fn de_opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn de_percent<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum PercentValue {
        Number(i64),
        Text(String),
    }
    let expected = |got: &str| format!("expected a percentage like \"75%\", got {got}");
    match PercentValue::deserialize(d)? {
        PercentValue::Number(n) => {
            u32::try_from(n).map_err(|_| serde::de::Error::custom(expected(&n.to_string())))
        }
        PercentValue::Text(s) => {
            let digits = s.trim().strip_suffix('%').unwrap_or(s.trim()).trim_end();
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(serde::de::Error::custom(expected(&format!("\"{s}\""))));
            }
            digits
                .parse()
                .map_err(|_| serde::de::Error::custom(expected(&format!("\"{s}\""))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Root {
        sla: SlaConfig,
    }

    fn parse(text: &str) -> Result<SlaConfig, String> {
        toml::from_str::<Root>(text)
            .map(|r| r.sla)
            .map_err(|e| e.to_string())
    }

    const EXAMPLE: &str = r#"
[sla.calendar]
time-zone = "Asia/Shanghai"
hours = { mon = "09:00-18:00", tue = "09:00-18:00", wed = "09:00-18:00", thu = "09:00-18:00", fri = "09:00-12:00, 13:00-18:00" }
holidays = ["2026-10-01", "2026-10-02", "2026-12-25"]
working-days = ["2026-10-10"]
working-day-hours = "09:00-18:00"

[[sla.policy]]
priority = "P1"
category = "network"
first-response = "30m"
resolution = "4h"
clock = "calendar"
[[sla.policy.escalate]]
target = "first-response"
at = "75%"
action = "remind"
[[sla.policy.escalate]]
target = "resolution"
at = 150
action = "notify-manager"

[[sla.policy]]
priority = "P1"
first-response = "1h"
resolution = "8h"

[[sla.policy]]
priority = "normal"
resolution = "2d"
"#;

    #[test]
    fn the_documented_example_parses_and_validates() {
        let c = parse(EXAMPLE).unwrap();
        assert_eq!(c.calendar.time_zone, "Asia/Shanghai");
        assert_eq!(
            c.calendar.hours.fri.as_deref(),
            Some("09:00-12:00, 13:00-18:00")
        );
        assert_eq!(c.calendar.hours.sat, None);
        assert_eq!(c.calendar.working_days, ["2026-10-10"]);
        assert_eq!(c.policies.len(), 3);
        let p = &c.policies[0];
        assert_eq!(p.priority, Priority::P1);
        assert_eq!(p.first_response, Some(Duration::from_secs(30 * 60)));
        assert_eq!(p.resolution, Some(Duration::from_secs(4 * 3600)));
        assert_eq!(p.clock, ClockKind::Calendar);
        assert_eq!(
            p.escalate,
            [
                EscalationLevel {
                    target: Target::FirstResponse,
                    at: 75,
                    action: Action::Remind
                },
                EscalationLevel {
                    target: Target::Resolution,
                    at: 150,
                    action: Action::NotifyManager
                },
            ]
        );
        assert_eq!(c.policies[1].clock, ClockKind::Business);
        assert_eq!(c.policies[2].priority, Priority::P3);
        assert_eq!(c.policies[2].first_response, None);
        c.validate().unwrap();
    }

    #[test]
    fn missing_section_and_missing_hours_mean_the_defaults() {
        let c: SlaConfig = toml::from_str("").unwrap();
        assert_eq!(c, SlaConfig::default());
        assert!(c.policies.is_empty());
        assert_eq!(c.calendar.time_zone, "UTC");
        assert_eq!(c.calendar.hours.mon.as_deref(), Some("09:00-18:00"));
        assert_eq!(c.calendar.hours.sat, None);
        c.validate().unwrap();

        // Writing `hours` replaces the whole week: unlisted days are off.
        let c = parse("[sla.calendar]\nhours = { sat = \"10:00-14:00\" }\n").unwrap();
        assert_eq!(c.calendar.hours.mon, None);
        assert_eq!(c.calendar.hours.sat.as_deref(), Some("10:00-14:00"));
        assert_eq!(c.calendar.time_zone, "UTC");
    }

    #[test]
    fn typos_are_refused_with_the_expected_names() {
        let e = parse("[sla.calendar]\ntimezone = \"UTC\"\n").unwrap_err();
        assert!(
            e.contains("unknown field `timezone`") && e.contains("time-zone"),
            "{e}"
        );
        let e = parse("[sla.calendar]\nhours = { thur = \"09:00-18:00\" }\n").unwrap_err();
        assert!(e.contains("unknown field `thur`"), "{e}");
        let e = parse("[[sla.policy]]\npriority = \"P1\"\nclock = \"wall\"\n").unwrap_err();
        assert!(e.contains("business") && e.contains("calendar"), "{e}");
        let e = parse("[[sla.policy]]\npriority = \"P9\"\n").unwrap_err();
        assert!(e.contains("expected P1-P4"), "{e}");
        let e = parse("[[sla.policy]]\npriority = \"P1\"\nresolution = \"4 hours\"\n").unwrap_err();
        assert!(e.contains("expected a duration like"), "{e}");
        let e = parse(
            "[[sla.policy]]\npriority = \"P1\"\nresolution = \"4h\"\n[[sla.policy.escalate]]\ntarget = \"resolution\"\nat = \"75 percent\"\naction = \"remind\"\n",
        )
        .unwrap_err();
        assert!(e.contains("expected a percentage like \"75%\""), "{e}");
        let e = parse(
            "[[sla.policy]]\npriority = \"P1\"\nresolution = \"4h\"\n[[sla.policy.escalate]]\ntarget = \"resolution\"\nat = \"75%\"\naction = \"page\"\n",
        )
        .unwrap_err();
        assert!(e.contains("notify-lead"), "{e}");
    }

    fn policy(priority: Priority, category: Option<&str>) -> PolicyConfig {
        PolicyConfig {
            priority,
            category: category.map(String::from),
            first_response: Some(Duration::from_secs(3600)),
            resolution: Some(Duration::from_secs(8 * 3600)),
            clock: ClockKind::Business,
            escalate: Vec::new(),
        }
    }

    #[test]
    fn a_policy_for_the_category_wins_over_the_general_one() {
        let c = SlaConfig {
            calendar: CalendarConfig::default(),
            policies: vec![
                policy(Priority::P1, None),
                policy(Priority::P1, Some("Network")),
                policy(Priority::P2, Some("billing")),
            ],
        };
        c.validate().unwrap();
        let p = |pr, cat| c.policy_for(pr, cat).map(|p| p.category.clone());
        assert_eq!(
            p(Priority::P1, Some("network")),
            Some(Some("Network".into()))
        );
        assert_eq!(
            p(Priority::P1, Some(" NETWORK ")),
            Some(Some("Network".into()))
        );
        assert_eq!(p(Priority::P1, Some("billing")), Some(None));
        assert_eq!(p(Priority::P1, None), Some(None));
        // P2 has only a category policy: other P2 tickets have no SLA.
        assert_eq!(
            p(Priority::P2, Some("billing")),
            Some(Some("billing".into()))
        );
        assert_eq!(p(Priority::P2, None), None);
        assert_eq!(p(Priority::P4, None), None);
    }

    #[test]
    fn validate_refuses_duplicates_zeroes_and_dangling_levels() {
        let with = |policies: Vec<PolicyConfig>| SlaConfig {
            calendar: CalendarConfig::default(),
            policies,
        };
        let e = with(vec![policy(Priority::P1, None), policy(Priority::P1, None)])
            .validate()
            .unwrap_err();
        assert!(e.contains("#2 (P1)") && e.contains("#1"), "{e}");
        let e = with(vec![
            policy(Priority::P1, Some("net")),
            policy(Priority::P1, Some(" NET")),
        ])
        .validate()
        .unwrap_err();
        assert!(
            e.contains("at most one policy per priority and category"),
            "{e}"
        );

        let mut p = policy(Priority::P2, None);
        p.escalate.push(EscalationLevel {
            target: Target::Resolution,
            at: 0,
            action: Action::Remind,
        });
        let e = with(vec![p.clone()]).validate().unwrap_err();
        assert!(e.contains("escalate #1") && e.contains("above 0"), "{e}");

        p.escalate[0].at = 100;
        p.escalate.push(p.escalate[0].clone());
        let e = with(vec![p.clone()]).validate().unwrap_err();
        assert!(
            e.contains("escalate #2") && e.contains("each percentage once"),
            "{e}"
        );

        p.escalate.pop();
        p.resolution = None;
        let e = with(vec![p.clone()]).validate().unwrap_err();
        assert!(e.contains("sets no `resolution` target"), "{e}");

        p.escalate.clear();
        p.first_response = Some(Duration::ZERO);
        let e = with(vec![p.clone()]).validate().unwrap_err();
        assert!(e.contains("`first-response` is zero"), "{e}");

        p.first_response = None;
        let e = with(vec![p]).validate().unwrap_err();
        assert!(
            e.contains("expected `first-response`, `resolution` or both"),
            "{e}"
        );
    }

    #[test]
    fn validate_checks_the_calendar() {
        let mut c = SlaConfig::default();
        c.calendar.time_zone = "Mars/Olympus_Mons".into();
        let e = c.validate().unwrap_err();
        assert!(e.contains("Mars/Olympus_Mons"), "{e}");

        // A business-clock policy needs working time; a calendar-clock one does not.
        let mut c = SlaConfig::default();
        c.calendar.hours = WeekHours::default();
        c.policies.push(policy(Priority::P1, None));
        let e = c.validate().unwrap_err();
        assert!(e.contains("no working hours"), "{e}");
        c.policies[0].clock = ClockKind::Calendar;
        c.validate().unwrap();
    }
}
