//! The review as one HTML page: the tables of [`super::table`] and charts
//! drawn as inline SVG. No script, no external asset: it can be mailed or
//! opened offline. The markup is also well-formed XML (every element closed,
//! every attribute quoted), which the tests check by parsing it.

use std::fmt::Write;

use super::Report;
use super::table::{self, Section};

/// The charts every page has, by id.
pub const CHARTS: &[&str] = &[
    "chart-daily",
    "chart-category",
    "chart-first-response",
    "chart-resolution",
    "chart-sla",
    "chart-backlog-age",
    "chart-satisfaction",
    "chart-agents",
];

const OPENED: &str = "#4e79a7";
const RESOLVED: &str = "#59a14f";
const TARGET: &str = "#e15759";
const BAR: &str = "#76b7b2";

/// Escapes text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

fn num(x: f64) -> String {
    let s = format!("{x:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// One row of a horizontal bar chart.
struct HBar {
    label: String,
    value: f64,
    shown: String,
    /// A target drawn as a red tick on the same scale.
    marker: Option<f64>,
}

fn figure(id: &str, title: &str, svg: String, note: &str) -> String {
    format!(
        "<figure id=\"{id}\">\n{svg}\n<figcaption>{}{}</figcaption>\n</figure>\n",
        esc(title),
        if note.is_empty() {
            String::new()
        } else {
            format!(" <small>{}</small>", esc(note))
        }
    )
}

fn hbars(id: &str, title: &str, rows: &[HBar], fixed_max: Option<f64>, note: &str) -> String {
    const W: f64 = 560.0;
    const LABEL: f64 = 170.0;
    const ROW: f64 = 22.0;
    let plot = W - LABEL - 80.0;
    let max = fixed_max.unwrap_or_else(|| {
        rows.iter()
            .flat_map(|r| [r.value, r.marker.unwrap_or(0.0)])
            .fold(0.0, f64::max)
    });
    let scale = if max > 0.0 { plot / max } else { 0.0 };
    let h = (rows.len().max(1) as f64) * ROW + 10.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{h}\" viewBox=\"0 0 {W} {h}\" role=\"img\" aria-labelledby=\"{id}-title\">\n<title id=\"{id}-title\">{}</title>\n",
        esc(title)
    );
    if rows.is_empty() {
        let _ = writeln!(
            s,
            "<text x=\"0\" y=\"16\" class=\"none\">nothing this period</text>"
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let y = i as f64 * ROW + 4.0;
        let w = (r.value * scale).max(0.0);
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><rect x=\"{LABEL}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"{BAR}\"><title>{}: {}</title></rect><text x=\"{}\" y=\"{}\">{}</text>",
            LABEL - 6.0,
            y + 13.0,
            esc(&r.label),
            num(w),
            ROW - 6.0,
            esc(&r.label),
            esc(&r.shown),
            num(LABEL + w + 4.0),
            y + 13.0,
            esc(&r.shown)
        );
        if let Some(m) = r.marker {
            let x = LABEL + m * scale;
            let _ = writeln!(
                s,
                "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"{TARGET}\" stroke-width=\"2\"><title>target</title></line>",
                num(y - 2.0),
                num(y + ROW - 4.0),
                x = num(x)
            );
        }
    }
    s.push_str("</svg>");
    figure(id, title, s, note)
}

/// Vertical bars, one group per label, one bar per series.
fn vbars(id: &str, title: &str, labels: &[String], series: &[(&str, &str, Vec<f64>)]) -> String {
    const H: f64 = 180.0;
    const BOTTOM: f64 = 36.0;
    const LEFT: f64 = 30.0;
    let groups = labels.len().max(1) as f64;
    let group_w = (600.0 / groups).clamp(8.0, 90.0);
    // Room on the right for the last label.
    let w = LEFT + groups * group_w + 40.0;
    let max = series
        .iter()
        .flat_map(|(_, _, v)| v.iter().copied())
        .fold(0.0, f64::max)
        .max(1.0);
    let plot = H - BOTTOM - 20.0;
    let bar_w = (group_w - 2.0) / series.len().max(1) as f64;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{H}\" viewBox=\"0 0 {} {H}\" role=\"img\" aria-labelledby=\"{id}-title\">\n<title id=\"{id}-title\">{}</title>\n",
        num(w),
        num(w),
        esc(title)
    );
    let base = H - BOTTOM;
    let _ = writeln!(
        s,
        "<line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#999\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
        num(w - 40.0),
        LEFT - 4.0,
        num(base - plot + 4.0),
        num(max)
    );
    // Label every group when they fit, else about ten of them.
    let every = (labels.len() / 10).max(1);
    for (i, label) in labels.iter().enumerate() {
        let gx = LEFT + i as f64 * group_w + 1.0;
        for (k, (name, color, values)) in series.iter().enumerate() {
            let v = values.get(i).copied().unwrap_or(0.0);
            let bh = v / max * plot;
            let _ = writeln!(
                s,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{color}\"><title>{} {}: {}</title></rect>",
                num(gx + k as f64 * bar_w),
                num(base - bh),
                num(bar_w.max(1.0)),
                num(bh),
                esc(label),
                esc(name),
                num(v)
            );
        }
        if i % every == 0 {
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" font-size=\"9\">{}</text>",
                num(gx),
                num(base + 12.0),
                esc(label)
            );
        }
    }
    // The legend.
    for (k, (name, color, _)) in series.iter().enumerate() {
        let x = LEFT + k as f64 * 110.0;
        let _ = writeln!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\">{}</text>",
            num(x),
            H - 14.0,
            num(x + 14.0),
            H - 5.0,
            esc(name)
        );
    }
    s.push_str("</svg>");
    figure(id, title, s, "")
}

fn table_html(sec: &Section) -> String {
    let mut s = format!(
        "<section id=\"table-{}\">\n<h2>{}</h2>\n",
        sec.id,
        esc(&sec.title)
    );
    if sec.rows.is_empty() {
        let _ = writeln!(s, "<p class=\"none\">{}</p>", esc(sec.empty));
    } else {
        s.push_str("<table>\n");
        if sec.id != "summary" {
            s.push_str("<thead><tr>");
            for (h, n) in sec.headers.iter().zip(&sec.numeric) {
                let _ = write!(
                    s,
                    "<th{}>{}</th>",
                    if *n { " class=\"n\"" } else { "" },
                    esc(h)
                );
            }
            s.push_str("</tr></thead>\n");
        }
        s.push_str("<tbody>\n");
        for row in &sec.rows {
            s.push_str("<tr>");
            for (c, n) in row.iter().zip(&sec.numeric) {
                let _ = write!(
                    s,
                    "<td{}>{}</td>",
                    if *n { " class=\"n\"" } else { "" },
                    esc(c)
                );
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</tbody>\n</table>\n");
    }
    s.push_str("</section>\n");
    s
}

fn kpi(label: &str, value: String) -> String {
    format!(
        "<div class=\"kpi\"><span class=\"v\">{}</span><span class=\"l\">{}</span></div>",
        esc(&value),
        esc(label)
    )
}

fn charts(r: &Report) -> String {
    let mut s = String::new();
    let days: Vec<String> = r.daily.iter().map(|d| d.date[5..].to_string()).collect();
    s.push_str(&vbars(
        "chart-daily",
        "Tickets opened and resolved per day",
        &days,
        &[
            (
                "opened",
                OPENED,
                r.daily.iter().map(|d| d.opened as f64).collect(),
            ),
            (
                "resolved",
                RESOLVED,
                r.daily.iter().map(|d| d.resolved as f64).collect(),
            ),
        ],
    ));
    let cat: Vec<HBar> = r
        .by_category
        .iter()
        .map(|b| HBar {
            label: b.key.clone(),
            value: b.opened as f64,
            shown: b.opened.to_string(),
            marker: None,
        })
        .collect();
    s.push_str(&hbars(
        "chart-category",
        "Tickets opened by category",
        &cat,
        None,
        "",
    ));
    for (id, title, first) in [
        (
            "chart-first-response",
            "Median first response by priority",
            true,
        ),
        (
            "chart-resolution",
            "Median resolution time by priority",
            false,
        ),
    ] {
        let rows: Vec<HBar> = r
            .times
            .iter()
            .filter(|t| t.key != "all")
            .map(|t| {
                let x = if first {
                    &t.first_response
                } else {
                    &t.resolution
                };
                HBar {
                    label: t.key.clone(),
                    value: x.median_min.unwrap_or(0.0) / 60.0,
                    shown: table::minutes(x.median_min),
                    marker: x.target_min.map(|m| m / 60.0),
                }
            })
            .collect();
        s.push_str(&hbars(
            id,
            title,
            &rows,
            None,
            "business hours; the red line is the target",
        ));
    }
    let mut sla = Vec::new();
    for t in &r.times {
        for (what, x) in [
            ("first response", &t.first_response),
            ("resolution", &t.resolution),
        ] {
            if let Some(c) = x.compliance {
                sla.push(HBar {
                    label: format!("{} {what}", t.key),
                    value: c * 100.0,
                    shown: table::percent(Some(c)),
                    marker: None,
                });
            }
        }
    }
    s.push_str(&hbars(
        "chart-sla",
        "SLA targets met",
        &sla,
        Some(100.0),
        "",
    ));
    let ages: Vec<String> = r.backlog.age.iter().map(|c| c.label.clone()).collect();
    s.push_str(&vbars(
        "chart-backlog-age",
        "Backlog at the end of the period, by age",
        &ages,
        &[(
            "tickets",
            OPENED,
            r.backlog.age.iter().map(|c| c.count as f64).collect(),
        )],
    ));
    let sat: Vec<HBar> = (1..=5)
        .rev()
        .map(|n| HBar {
            label: format!("{n} of 5"),
            value: r.satisfaction.distribution[n - 1] as f64,
            shown: r.satisfaction.distribution[n - 1].to_string(),
            marker: None,
        })
        .collect();
    s.push_str(&hbars("chart-satisfaction", "Ratings", &sat, None, ""));
    let agents: Vec<HBar> = r
        .agents
        .iter()
        .map(|a| HBar {
            label: a.key.clone(),
            value: a.resolved as f64,
            shown: a.resolved.to_string(),
            marker: None,
        })
        .collect();
    s.push_str(&hbars(
        "chart-agents",
        "Tickets resolved per agent",
        &agents,
        None,
        "",
    ));
    s
}

const STYLE: &str = "body{font-family:-apple-system,'Segoe UI',Roboto,'Noto Sans CJK SC','Microsoft YaHei',sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222;line-height:1.4}\
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.1rem;margin-top:1.6rem;border-bottom:1px solid #ddd}\
.kpis{display:flex;flex-wrap:wrap;gap:.6rem;margin:1rem 0}.kpi{border:1px solid #ddd;border-radius:6px;padding:.5rem .8rem;min-width:7rem}\
.kpi .v{display:block;font-size:1.4rem;font-weight:600}.kpi .l{font-size:.8rem;color:#555}\
table{border-collapse:collapse;font-size:.9rem}th,td{padding:.2rem .6rem;border-bottom:1px solid #eee;text-align:left}\
.n{text-align:right;font-variant-numeric:tabular-nums}figure{margin:1rem 0}figcaption{font-size:.9rem;color:#444}\
svg text{font-size:11px;fill:#333}.none{color:#777}footer{margin-top:2rem;font-size:.8rem;color:#555}";

/// The whole page.
pub fn render(r: &Report) -> String {
    let m = &r.summary;
    let title = table::heading(r);
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n<p>Review of {} ({} to {}, times in {}).</p>\n",
        esc(&title),
        esc(&r.desk),
        esc(&r.period.label),
        r.period.first,
        r.period.last,
        esc(&r.time_zone)
    );
    s.push_str("<div class=\"kpis\" id=\"kpis\">");
    for (label, value) in [
        ("opened", m.opened.to_string()),
        ("resolved", m.resolved.to_string()),
        ("closed", m.closed.to_string()),
        ("SLA met", table::percent(m.sla_compliance)),
        ("reopen rate", table::percent(m.reopen_rate)),
        ("backlog at the end", m.backlog_end.to_string()),
        (
            "average rating",
            m.average_rating
                .map(|a| format!("{a:.1}"))
                .unwrap_or_else(|| "-".into()),
        ),
        ("self-service", m.self_solved.to_string()),
    ] {
        s.push_str(&kpi(label, value));
    }
    s.push_str("</div>\n<section id=\"charts\">\n<h2>Charts</h2>\n");
    s.push_str(&charts(r));
    s.push_str("</section>\n");
    for sec in table::sections(r) {
        s.push_str(&table_html(&sec));
    }
    let _ = write!(
        s,
        "<footer><p>{}</p><p>Made by postdesk.</p></footer>\n</body>\n</html>\n",
        esc(&table::DEFINITIONS.replace('\n', " "))
    );
    s
}
