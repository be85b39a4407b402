//! The review as tables: plain text for a terminal or a mail, Markdown,
//! and CSV for scripts. The HTML page shows the same tables.

use super::{Breakdown, Report, Throughput, TimeStats};

/// One table of the review.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// A stable name, also the CSV section and the HTML id.
    pub id: &'static str,
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Columns aligned right (numbers).
    pub numeric: Vec<bool>,
    /// Shown when there are no rows.
    pub empty: &'static str,
}

/// Business minutes as people read them: "45m", "3h 20m".
pub fn minutes(m: Option<f64>) -> String {
    let Some(m) = m else {
        return "-".into();
    };
    let m = m.round() as i64;
    if m < 60 {
        format!("{m}m")
    } else if m % 60 == 0 {
        format!("{}h", m / 60)
    } else {
        format!("{}h {}m", m / 60, m % 60)
    }
}

/// A share as a whole percentage: "93%".
pub fn percent(r: Option<f64>) -> String {
    r.map(|r| format!("{:.0}%", r * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn one(x: Option<f64>) -> String {
    x.map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into())
}

fn s(x: impl ToString) -> String {
    x.to_string()
}

fn section(
    id: &'static str,
    title: &str,
    headers: &[&str],
    numeric_from: usize,
    rows: Vec<Vec<String>>,
    empty: &'static str,
) -> Section {
    Section {
        id,
        title: title.to_string(),
        headers: headers.iter().map(|h| h.to_string()).collect(),
        numeric: (0..headers.len()).map(|i| i >= numeric_from).collect(),
        rows,
        empty,
    }
}

fn breakdown(id: &'static str, title: &str, what: &str, b: &[Breakdown]) -> Section {
    section(
        id,
        title,
        &[what, "opened", "resolved", "closed"],
        1,
        b.iter()
            .map(|b| vec![b.key.clone(), s(b.opened), s(b.resolved), s(b.closed)])
            .collect(),
        "no tickets",
    )
}

fn time_cells(t: &TimeStats) -> Vec<String> {
    vec![
        s(t.count),
        minutes(t.median_min),
        minutes(t.p90_min),
        minutes(t.target_min),
        format!("{}/{}", t.met, t.met + t.breached),
        percent(t.compliance),
    ]
}

fn throughput(id: &'static str, title: &str, what: &str, rows: &[Throughput]) -> Section {
    section(
        id,
        title,
        &[
            what,
            "opened",
            "resolved",
            "median resolution",
            "backlog",
            "SLA met",
            "ratings",
            "avg rating",
        ],
        1,
        rows.iter()
            .map(|t| {
                vec![
                    t.key.clone(),
                    s(t.opened),
                    s(t.resolved),
                    minutes(t.median_resolution_min),
                    s(t.backlog),
                    percent(t.sla_compliance),
                    s(t.ratings),
                    one(t.average_rating),
                ]
            })
            .collect(),
        "nobody",
    )
}

/// The review's tables, in reading order.
pub fn sections(r: &Report) -> Vec<Section> {
    let m = &r.summary;
    let sat = &r.satisfaction;
    let summary = vec![
        vec![s("Opened"), s(m.opened)],
        vec![s("Resolved"), s(m.resolved)],
        vec![
            s("  of which self-service (knowledge base)"),
            s(m.self_solved),
        ],
        vec![s("Closed"), s(m.closed)],
        vec![s("Reopened"), s(m.reopened)],
        vec![s("Reopen rate"), percent(m.reopen_rate)],
        vec![s("Backlog at the start"), s(m.backlog_start)],
        vec![s("Backlog at the end"), s(m.backlog_end)],
        vec![s("SLA compliance"), percent(m.sla_compliance)],
        vec![s("Out of scope (service exclusions)"), s(m.out_of_scope)],
        vec![s("Spam (recorded, in no figure above)"), s(m.spam)],
        vec![s("  first response"), percent(m.first_response_compliance)],
        vec![s("  resolution"), percent(m.resolution_compliance)],
        vec![s("Escalations"), s(m.escalations)],
        vec![s("Average rating (1-5)"), one(m.average_rating)],
        vec![s("Survey response rate"), percent(sat.response_rate)],
    ];
    let headers_times = [
        "priority",
        "tickets",
        "median",
        "p90",
        "target",
        "met",
        "compliance",
    ];
    let mut out = vec![
        section("summary", "Summary", &["", "value"], 1, summary, ""),
        breakdown(
            "category",
            "Tickets by category",
            "category",
            &r.by_category,
        ),
        breakdown(
            "priority",
            "Tickets by priority",
            "priority",
            &r.by_priority,
        ),
        breakdown("team", "Tickets by team", "team", &r.by_team),
        section(
            "first-response",
            "First response (business time)",
            &headers_times,
            1,
            r.times
                .iter()
                .map(|t| {
                    let mut row = vec![t.key.clone()];
                    row.extend(time_cells(&t.first_response));
                    row
                })
                .collect(),
            "no first responses",
        ),
        section(
            "resolution",
            "Resolution (business time)",
            &headers_times,
            1,
            r.times
                .iter()
                .map(|t| {
                    let mut row = vec![t.key.clone()];
                    row.extend(time_cells(&t.resolution));
                    row
                })
                .collect(),
            "no resolutions",
        ),
        section(
            "escalations",
            "Escalations by level",
            &["target", "at", "action", "count"],
            3,
            r.escalations
                .iter()
                .map(|e| {
                    vec![
                        e.target.clone(),
                        format!("{}%", e.percent),
                        e.action.clone(),
                        s(e.count),
                    ]
                })
                .collect(),
            "no escalations",
        ),
        section(
            "backlog-age",
            &format!(
                "Backlog at the end: {} tickets, median age {} days",
                r.backlog.at_end,
                one(r.backlog.median_age_days)
            ),
            &["age", "tickets"],
            1,
            r.backlog
                .age
                .iter()
                .map(|c| vec![c.label.clone(), s(c.count)])
                .chain(
                    r.backlog
                        .by_status
                        .iter()
                        .map(|c| vec![format!("status {}", c.label), s(c.count)]),
                )
                .collect(),
            "no backlog",
        ),
        section(
            "backlog-oldest",
            "Oldest open tickets",
            &["ticket", "status", "age (days)", "assignee", "subject"],
            5,
            r.backlog
                .oldest
                .iter()
                .map(|t| {
                    vec![
                        format!("#{}", t.number),
                        t.status.clone(),
                        format!("{:.1}", t.age_days),
                        t.assignee.clone().unwrap_or_else(|| "-".into()),
                        t.subject.clone(),
                    ]
                })
                .collect(),
            "no open tickets",
        ),
        section(
            "satisfaction",
            &format!(
                "Satisfaction: {} ratings, average {}, {} of {} surveys answered",
                sat.ratings,
                one(sat.average),
                sat.surveys_answered,
                sat.surveys_sent
            ),
            &["rating", "count"],
            1,
            (1..=5)
                .rev()
                .map(|n| vec![format!("{n}"), s(sat.distribution[n - 1])])
                .collect(),
            "",
        ),
        section(
            "lowest-rated",
            "Lowest-rated tickets",
            &["ticket", "rating", "agent", "subject", "comment"],
            5,
            sat.lowest
                .iter()
                .map(|x| {
                    vec![
                        format!("#{}", x.number),
                        s(x.score),
                        x.agent.clone().unwrap_or_else(|| "-".into()),
                        x.subject.clone(),
                        x.comment.clone(),
                    ]
                })
                .collect(),
            "no low ratings",
        ),
        section(
            "frequent-subjects",
            "Recurring subjects",
            &["subject", "tickets", "which"],
            1,
            r.frequent_subjects
                .iter()
                .map(|f| vec![f.text.clone(), s(f.count), numbers(&f.tickets)])
                .collect(),
            "no subject came twice",
        ),
        section(
            "frequent-words",
            "Frequent words in subjects",
            &["word", "tickets", "which"],
            1,
            r.frequent_words
                .iter()
                .map(|f| vec![f.text.clone(), s(f.count), numbers(&f.tickets)])
                .collect(),
            "no word came twice",
        ),
        throughput("agents", "Per agent", "agent", &r.agents),
        throughput("teams", "Per team", "team", &r.teams),
        time_summary(&r.time_worked),
        time_rows(
            "time-agents",
            "Time worked per agent",
            "agent",
            &r.time_worked.by_agent,
        ),
        time_rows(
            "time-teams",
            "Time worked per team",
            "team",
            &r.time_worked.by_team,
        ),
        time_rows(
            "time-categories",
            "Time worked per category",
            "category",
            &r.time_worked.by_category,
        ),
    ];
    // The "which" columns are text, not numbers.
    for sec in &mut out {
        if sec.id.starts_with("frequent") {
            sec.numeric[2] = false;
        }
    }
    out
}

fn time_summary(w: &super::time::TimeWorked) -> Section {
    let rows = if w.entries == 0 {
        Vec::new()
    } else {
        vec![vec![
            minutes(Some(w.total_minutes as f64)),
            s(w.entries),
            s(w.resolved_with_time),
            minutes(w.average_per_resolved_min),
            s(w.resolved_without_time),
        ]]
    };
    section(
        "time",
        "Time worked (#time)",
        &[
            "total",
            "entries",
            "resolved with time",
            "avg per resolved",
            "resolved without time",
        ],
        0,
        rows,
        "no time recorded",
    )
}

fn time_rows(id: &'static str, title: &str, what: &str, rows: &[super::time::TimeRow]) -> Section {
    section(
        id,
        title,
        &[what, "time", "tickets"],
        1,
        rows.iter()
            .map(|r| vec![r.key.clone(), minutes(Some(r.minutes as f64)), s(r.tickets)])
            .collect(),
        "no time recorded",
    )
}

fn numbers(ts: &[i64]) -> String {
    const MAX: usize = 8;
    let mut v: Vec<String> = ts.iter().take(MAX).map(|n| format!("#{n}")).collect();
    if ts.len() > MAX {
        v.push("…".into());
    }
    v.join(" ")
}

/// Columns a string takes in a terminal: CJK characters take two.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if crate::desk::kb::is_cjk(c) || ('\u{FF00}'..='\u{FFEF}').contains(&c) {
                2
            } else {
                1
            }
        })
        .sum()
}

fn pad(s: &str, w: usize, right: bool) -> String {
    let fill = " ".repeat(w.saturating_sub(width(s)));
    if right {
        format!("{fill}{s}")
    } else {
        format!("{s}{fill}")
    }
}

/// The heading line of the review.
pub fn heading(r: &Report) -> String {
    format!(
        "{}: review of {} ({} to {}, {})",
        r.desk, r.period.label, r.period.first, r.period.last, r.time_zone
    )
}

/// Plain text, columns aligned.
pub fn text(r: &Report) -> String {
    let mut out = String::new();
    // Printed on terminals too: nothing from mail may drive one.
    let h = crate::terminal::line(&heading(r));
    out.push_str(&h);
    out.push('\n');
    out.push_str(&"=".repeat(width(&h)));
    out.push_str("\n\n");
    for mut sec in sections(r) {
        for cell in sec.rows.iter_mut().flatten() {
            *cell = crate::terminal::line(cell);
        }
        out.push_str(&crate::terminal::line(&sec.title));
        out.push('\n');
        if sec.rows.is_empty() {
            out.push_str(&format!("  ({})\n\n", sec.empty));
            continue;
        }
        let cols = sec.headers.len();
        let widths: Vec<usize> = (0..cols)
            .map(|i| {
                sec.rows
                    .iter()
                    .map(|row| width(&row[i]))
                    .chain(std::iter::once(width(&sec.headers[i])))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let mut l = String::from(" ");
            for (i, c) in cells.iter().enumerate() {
                l.push(' ');
                l.push_str(&pad(c, widths[i], sec.numeric[i]));
                l.push(' ');
            }
            l.trim_end().to_string() + "\n"
        };
        if sec.headers.iter().any(|h| !h.is_empty()) && sec.id != "summary" {
            out.push_str(&line(&sec.headers));
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&line(&rule));
        }
        for row in &sec.rows {
            out.push_str(&line(row));
        }
        out.push('\n');
    }
    out.push_str(DEFINITIONS);
    out
}

/// What the numbers mean, under every review.
pub const DEFINITIONS: &str = "\
How to read this: times are business time (the SLA calendar) without the
time a ticket waited on the requester; the median is the middle value, p90
the time 90% of tickets stayed within. Resolved counts tickets set to
resolved (or closed directly) in the period; SLA compliance is the share of
targets decided in the period that were met; the reopen rate is reopened
tickets per resolved ticket; the backlog is what was new, open or pending at
the end of the period.
";

/// Text as Markdown shows it, literally. Subjects, comments and names are
/// the senders' to write, and a wiki renders inline HTML and Markdown: the
/// three HTML specials become entities (decoded for display, never run),
/// Markdown's own punctuation is backslash-escaped (no links, images,
/// emphasis, code spans or table breaks), and line breaks and control
/// characters go as on a terminal.
fn md_cell(s: &str) -> String {
    let s = crate::terminal::line(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// GitHub-flavoured Markdown.
pub fn markdown(r: &Report) -> String {
    let mut out = format!("# {}\n\n", md_cell(&heading(r)));
    for sec in sections(r) {
        out.push_str(&format!("## {}\n\n", md_cell(&sec.title)));
        if sec.rows.is_empty() {
            out.push_str(&format!("_{}_\n\n", sec.empty));
            continue;
        }
        let headers: Vec<String> = sec
            .headers
            .iter()
            .map(|h| if h.is_empty() { " ".into() } else { md_cell(h) })
            .collect();
        out.push_str(&format!("| {} |\n", headers.join(" | ")));
        let rule: Vec<&str> = sec
            .numeric
            .iter()
            .map(|n| if *n { "---:" } else { "---" })
            .collect();
        out.push_str(&format!("| {} |\n", rule.join(" | ")));
        for row in &sec.rows {
            let cells: Vec<String> = row.iter().map(|c| md_cell(c)).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out.push('\n');
    }
    out.push_str(DEFINITIONS.replace('\n', " ").trim());
    out.push('\n');
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// CSV in long form, one value per line: `period,section,key,column,value`.
/// Times are minutes and shares are fractions, unformatted, for scripts.
pub fn csv(r: &Report) -> String {
    let mut out = String::from("period,section,key,column,value\n");
    let mut put = |section: &str, key: &str, column: &str, value: String| {
        out.push_str(&format!(
            "{},{},{},{},{}\n",
            csv_field(&r.period.key),
            csv_field(section),
            csv_field(key),
            csv_field(column),
            csv_field(&value)
        ));
    };
    let f = |x: Option<f64>| {
        x.map(|v| {
            format!("{v:.4}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        })
        .unwrap_or_default()
    };
    let m = &r.summary;
    for (k, v) in [
        ("opened", m.opened.to_string()),
        ("resolved", m.resolved.to_string()),
        ("self_solved", m.self_solved.to_string()),
        ("closed", m.closed.to_string()),
        ("reopened", m.reopened.to_string()),
        ("reopen_rate", f(m.reopen_rate)),
        ("backlog_start", m.backlog_start.to_string()),
        ("backlog_end", m.backlog_end.to_string()),
        ("sla_compliance", f(m.sla_compliance)),
        ("first_response_compliance", f(m.first_response_compliance)),
        ("resolution_compliance", f(m.resolution_compliance)),
        ("escalations", m.escalations.to_string()),
        ("average_rating", f(m.average_rating)),
    ] {
        put("summary", "", k, v);
    }
    for (section, rows) in [
        ("category", &r.by_category),
        ("priority", &r.by_priority),
        ("team", &r.by_team),
    ] {
        for b in rows {
            put(section, &b.key, "opened", b.opened.to_string());
            put(section, &b.key, "resolved", b.resolved.to_string());
            put(section, &b.key, "closed", b.closed.to_string());
        }
    }
    for t in &r.times {
        for (what, x) in [
            ("first_response", &t.first_response),
            ("resolution", &t.resolution),
        ] {
            let sec = format!("{what}_minutes");
            put(&sec, &t.key, "count", x.count.to_string());
            put(&sec, &t.key, "median", f(x.median_min));
            put(&sec, &t.key, "p90", f(x.p90_min));
            put(&sec, &t.key, "target", f(x.target_min));
            put(&sec, &t.key, "met", x.met.to_string());
            put(&sec, &t.key, "breached", x.breached.to_string());
            put(&sec, &t.key, "compliance", f(x.compliance));
        }
    }
    for e in &r.escalations {
        let key = format!("{} {}% {}", e.target, e.percent, e.action);
        put("escalations", &key, "count", e.count.to_string());
    }
    for c in &r.backlog.age {
        put("backlog_age", &c.label, "tickets", c.count.to_string());
    }
    for c in &r.backlog.by_status {
        put("backlog_status", &c.label, "tickets", c.count.to_string());
    }
    let sat = &r.satisfaction;
    put(
        "satisfaction",
        "",
        "surveys_sent",
        sat.surveys_sent.to_string(),
    );
    put(
        "satisfaction",
        "",
        "surveys_answered",
        sat.surveys_answered.to_string(),
    );
    put("satisfaction", "", "response_rate", f(sat.response_rate));
    put("satisfaction", "", "average", f(sat.average));
    for (i, n) in sat.distribution.iter().enumerate() {
        put(
            "satisfaction",
            &(i + 1).to_string(),
            "ratings",
            n.to_string(),
        );
    }
    for x in &sat.lowest {
        put(
            "lowest_rated",
            &x.number.to_string(),
            "rating",
            x.score.to_string(),
        );
    }
    for x in &r.frequent_subjects {
        put("frequent_subjects", &x.text, "tickets", x.count.to_string());
    }
    for x in &r.frequent_words {
        put("frequent_words", &x.text, "tickets", x.count.to_string());
    }
    for (section, rows) in [("agent", &r.agents), ("team_throughput", &r.teams)] {
        for t in rows {
            put(section, &t.key, "opened", t.opened.to_string());
            put(section, &t.key, "resolved", t.resolved.to_string());
            put(
                section,
                &t.key,
                "median_resolution",
                f(t.median_resolution_min),
            );
            put(section, &t.key, "backlog", t.backlog.to_string());
            put(section, &t.key, "sla_compliance", f(t.sla_compliance));
            put(section, &t.key, "average_rating", f(t.average_rating));
        }
    }
    for d in &r.daily {
        put("daily", &d.date, "opened", d.opened.to_string());
        put("daily", &d.date, "resolved", d.resolved.to_string());
    }
    let tw = &r.time_worked;
    for (k, v) in [
        ("minutes", tw.total_minutes.to_string()),
        ("entries", tw.entries.to_string()),
        ("resolved_with_time", tw.resolved_with_time.to_string()),
        (
            "resolved_without_time",
            tw.resolved_without_time.to_string(),
        ),
        ("average_per_resolved", f(tw.average_per_resolved_min)),
    ] {
        put("time_worked", "", k, v);
    }
    for (section, rows) in [
        ("time_worked_agent", &tw.by_agent),
        ("time_worked_team", &tw.by_team),
        ("time_worked_category", &tw.by_category),
    ] {
        for t in rows {
            put(section, &t.key, "minutes", t.minutes.to_string());
            put(section, &t.key, "tickets", t.tickets.to_string());
        }
    }
    out
}
