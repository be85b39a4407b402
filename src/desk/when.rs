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
pub fn zone(name: &str) -> Result<TimeZone, String> {
    if name.eq_ignore_ascii_case("utc") {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(name).map_err(|e| format!("time zone `{name}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-30 02:00:00 UTC, a Monday.
    const MON_0200_UTC: i64 = 1_796_004_000_000;

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
