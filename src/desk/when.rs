//! Times as people read them: "Monday 30 November 2026, 10:00 (Asia/Shanghai)".

use jiff::Timestamp;
use jiff::civil::Weekday;
use jiff::tz::TimeZone;

use crate::lang::Lang;

/// Formats a unix-millisecond instant in `tz` for a person reading `lang`.
pub fn human_time(ms: i64, tz: &TimeZone, tz_name: &str, lang: Lang) -> String {
    let Ok(ts) = Timestamp::from_millisecond(ms) else {
        return String::from("-");
    };
    let z = ts.to_zoned_datetime(tz.clone());
    match lang {
        Lang::En => format!("{} ({tz_name})", z.strftime("%A %-d %B %Y, %H:%M")),
        Lang::ZhCn => format!(
            "{}（{}）{}（{tz_name}）",
            z.strftime("%Y年%-m月%-d日"),
            weekday_zh(z.weekday()),
            z.strftime("%H:%M")
        ),
    }
}

/// A compact UTC timestamp for listings and logs: `2026-11-28 06:52:31Z`.
pub fn iso(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|_| "-".into())
}

fn weekday_zh(w: Weekday) -> &'static str {
    match w {
        Weekday::Monday => "星期一",
        Weekday::Tuesday => "星期二",
        Weekday::Wednesday => "星期三",
        Weekday::Thursday => "星期四",
        Weekday::Friday => "星期五",
        Weekday::Saturday => "星期六",
        Weekday::Sunday => "星期日",
    }
}

/// Loads a time zone by IANA name; "UTC" always works, even without tzdata.
///
/// A name spelled as its file is read from that one file of the system's
/// zoneinfo: jiff's own database walks the whole folder at its first
/// lookup (about 600 files), which was a quarter of the instructions of a
/// one-mail `postdesk ingest` (3.4 M of 13.5 M, callgrind) and most of its
/// system calls. Anything else (another spelling) goes to jiff, as before.
/// The reading was already here, inside jiff: this only makes it smaller.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    if name.eq_ignore_ascii_case("utc") {
        return Ok(TimeZone::UTC);
    }
    if let Some(tz) = zone_file(name) {
        return Ok(tz);
    }
    TimeZone::get(name).map_err(|e| format!("time zone `{name}`: {e}"))
}

/// `name` read from `$TZDIR`, else from the folders jiff looks in, when
/// it is a plain relative zone path (`Asia/Shanghai`) with such a file.
fn zone_file(name: &str) -> Option<TimeZone> {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'))
        && name.split('/').all(|part| !part.is_empty());
    if !plain {
        return None;
    }
    let dirs = match std::env::var_os("TZDIR") {
        Some(dir) => vec![std::path::PathBuf::from(dir)],
        None => vec!["/usr/share/zoneinfo".into(), "/etc/zoneinfo".into()],
    };
    dirs.iter().find_map(|dir| {
        let data = std::fs::read(dir.join(name)).ok()?;
        TimeZone::tzif(name, &data).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-30 02:00:00 UTC, a Monday.
    const MON_0200_UTC: i64 = 1_796_004_000_000;

    #[test]
    fn a_zone_read_from_its_file_is_the_zone_jiff_finds() {
        let at = Timestamp::from_millisecond(MON_0200_UTC).unwrap();
        for name in ["Asia/Shanghai", "America/New_York", "Europe/Berlin"] {
            let ours = zone(name).unwrap();
            let jiffs = TimeZone::get(name).unwrap();
            assert_eq!(ours.iana_name(), Some(name));
            for days in [0, 120, 240] {
                let t = at + jiff::SignedDuration::from_hours(24 * days);
                assert_eq!(ours.to_offset(t), jiffs.to_offset(t), "{name} +{days}d");
            }
        }
        // Not a plain file name: left to jiff, which refuses or finds it.
        assert!(zone("../../etc/passwd").is_err());
        assert!(zone("Nowhere/Atlantis").is_err());
        assert_eq!(
            zone("asia/shanghai").unwrap().to_offset(at),
            zone("Asia/Shanghai").unwrap().to_offset(at)
        );
    }

    #[test]
    fn english_and_chinese() {
        let sh = zone("Asia/Shanghai").unwrap();
        assert_eq!(
            human_time(MON_0200_UTC, &sh, "Asia/Shanghai", Lang::En),
            "Monday 30 November 2026, 10:00 (Asia/Shanghai)"
        );
        assert_eq!(
            human_time(MON_0200_UTC, &sh, "Asia/Shanghai", Lang::ZhCn),
            "2026年11月30日（星期一）10:00（Asia/Shanghai）"
        );
        assert_eq!(iso(MON_0200_UTC), "2026-11-30 02:00:00Z");
    }
}
