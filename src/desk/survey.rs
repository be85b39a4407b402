//! The satisfaction survey: its `[survey]` settings and how a requester's
//! answer is read. When it is sent is `closing`'s decision.

use std::time::Duration;

use serde::Deserialize;

/// The satisfaction survey sent when a ticket closes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct SurveyConfig {
    pub enabled: bool,
    /// A requester gets at most one survey in this period.
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub quiet_period: Duration,
    /// Ratings at or below this notify the team lead.
    pub low_rating: u8,
}

impl Default for SurveyConfig {
    fn default() -> SurveyConfig {
        SurveyConfig {
            enabled: true,
            quiet_period: Duration::from_secs(30 * 86400),
            low_rating: 2,
        }
    }
}

/// A survey answer: a digit 1-5 first (ASCII or full-width, "4", "4/5",
/// "4 stars", "4分"), then an optional comment.
pub fn parse_rating(text: &str) -> Option<(u8, String)> {
    let t = text.trim_start();
    let c = t.chars().next()?;
    let score = match c {
        '1'..='5' => c as u8 - b'0',
        '１'..='５' => (c as u32 - '０' as u32) as u8,
        _ => return None,
    };
    let rest = &t[c.len_utf8()..];
    // "42" is not a rating.
    if rest.chars().next().is_some_and(|n| n.is_ascii_digit()) {
        return None;
    }
    let rest = rest.trim_start();
    let rest = ["/5", "/ 5", "分", "stars", "star", "星"]
        .iter()
        .find_map(|s| rest.strip_prefix(s))
        .unwrap_or(rest);
    let comment = rest
        .trim_start_matches([' ', ',', '.', '-', ':', '，', '。', '：'])
        .trim();
    Some((score, comment.to_string()))
}
