//! Time worked on a ticket: `#time 30m` (`#工时 30m`) by an agent.
//!
//! An agent types what their hands are used to: `30m`, `30 min`, `1h30m`,
//! `1h 30m`, `1.5h`, `2h`, `90` (minutes), and in Chinese `30分钟`,
//! `1小时30分`, `1.5小时`. One entry is at most [`MAX_MINUTES`]: more than a
//! working day on one line is a typo (`#time 300` meant `#time 30`), so it
//! is refused with the reason instead of skewing the review.

/// The most one `#time` line may record: 12 hours.
pub const MAX_MINUTES: u32 = 12 * 60;

/// Minutes in `text`, or why it cannot be read.
pub fn parse_minutes(text: &str) -> Result<u32, String> {
    let expected = "expected a duration like 30m, 1h30m or 1.5h";
    let folded: String = text
        .chars()
        .map(|c| match c {
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            _ => c,
        })
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    if folded.is_empty() {
        return Err(format!("no time given; {expected}"));
    }
    let mut total = 0.0f64;
    let mut rest = folded.as_str();
    let mut seen_unit = false;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("`{}`: {expected}", text.trim()));
        }
        let number: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("`{}`: {expected}", text.trim()))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let factor = match unit {
            // A bare number is minutes, but only alone: `1h30` is `1h30m`.
            "" if !seen_unit || rest.is_empty() => 1.0,
            "m" | "min" | "mins" | "minute" | "minutes" | "分" | "分钟" => 1.0,
            "h" | "hr" | "hrs" | "hour" | "hours" | "小时" | "时" | "个小时" => 60.0,
            _ => {
                return Err(format!(
                    "`{}`: unknown unit `{unit}`; {expected}",
                    text.trim()
                ));
            }
        };
        seen_unit |= !unit.is_empty();
        total += number * factor;
    }
    let minutes = total.round();
    if minutes < 1.0 {
        return Err(format!("`{}` is less than a minute", text.trim()));
    }
    if minutes > f64::from(MAX_MINUTES) {
        return Err(format!(
            "`{}` is more than {} in one entry; record it in parts if it is right",
            text.trim(),
            format_minutes(MAX_MINUTES as i64)
        ));
    }
    Ok(minutes as u32)
}

/// Minutes as people read them: `45m`, `2h`, `1h30m`.
pub fn format_minutes(minutes: i64) -> String {
    let (h, m) = (minutes / 60, minutes % 60);
    match (h, m) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_agents_write() {
        for (text, want) in [
            ("30m", 30),
            ("30 min", 30),
            ("1h30m", 90),
            ("1h 30m", 90),
            ("1h30", 90),
            ("1.5h", 90),
            ("2h", 120),
            ("90", 90),
            ("30分钟", 30),
            ("1小时30分", 90),
            ("1.5小时", 90),
            ("４５ｍ", 45),
            ("0.25h", 15),
        ] {
            assert_eq!(parse_minutes(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn nonsense_and_typos_are_refused_with_a_reason() {
        for text in ["", "soon", "h", "30x", "1..5h", "0m", "13h", "-5m"] {
            let err = parse_minutes(text).unwrap_err();
            assert!(!err.is_empty(), "{text}");
        }
        assert!(parse_minutes("13h").unwrap_err().contains("12h"));
    }

    #[test]
    fn minutes_read_back() {
        assert_eq!(format_minutes(45), "45m");
        assert_eq!(format_minutes(120), "2h");
        assert_eq!(format_minutes(90), "1h30m");
    }
}
