//! Durations and sizes as admins write them in the config: `90s`, `4h 30m`,
//! `2d`; `10MB`, `512KB`. A leaf: every settings type (in `desk/`,
//! `report`, `config`) parses its keys with these.

use std::time::Duration;

use serde::Deserialize;

/// Parses durations the way admins write them: `90s`, `15m`, `4h`, `4h 30m`, `2d`, `1w`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let expected =
        || format!("expected a duration like \"30s\", \"15m\", \"4h\" or \"2d\", got \"{s}\"");
    let mut total = 0u64;
    let mut num = String::new();
    let mut any = false;
    for c in s.trim().chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        if c.is_whitespace() && num.is_empty() {
            continue;
        }
        let n: u64 = num.parse().map_err(|_| expected())?;
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 7 * 86400,
            _ => return Err(expected()),
        };
        total = total
            .checked_add(n.checked_mul(unit).ok_or_else(expected)?)
            .ok_or_else(expected)?;
        num.clear();
        any = true;
    }
    if !any {
        return Err(expected());
    }
    Ok(Duration::from_secs(total))
}

/// Parses sizes: `10MB`, `512KB`, `1GB`, or a number of bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_uppercase();
    let (num, mult) = if let Some(n) = t.strip_suffix("GB").or_else(|| t.strip_suffix("G")) {
        (n, 1u64 << 30)
    } else if let Some(n) = t.strip_suffix("MB").or_else(|| t.strip_suffix("M")) {
        (n, 1 << 20)
    } else if let Some(n) = t.strip_suffix("KB").or_else(|| t.strip_suffix("K")) {
        (n, 1 << 10)
    } else {
        (t.strip_suffix('B').unwrap_or(&t), 1)
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| {
            format!("expected a size like \"10MB\", \"512KB\" or a number of bytes, got \"{s}\"")
        })
}

pub fn de_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

pub fn de_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum SizeValue {
        Bytes(u64),
        Text(String),
    }
    match SizeValue::deserialize(d)? {
        SizeValue::Bytes(n) => Ok(n),
        SizeValue::Text(s) => parse_size(&s).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_duration("4h 30m").unwrap(),
            Duration::from_secs(16200)
        );
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172800));
        assert!(parse_duration("4 hours").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("h").is_err());
        assert_eq!(parse_size("10MB").unwrap(), 10 << 20);
        assert_eq!(parse_size("512kb").unwrap(), 512 << 10);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("lots").is_err());
    }
}
