//! Every metric of the review on nine constructed tickets, with the right
//! answers worked out by hand in the comments.
//!
//! The period is November 2026 in UTC (1 November is a Sunday). The SLA
//! calendar is the default: Monday to Friday, 09:00-18:00 UTC. Policies:
//! P1 first response 1h, resolution 4h; P3 first response 4h, resolution 16h;
//! P4 has none.

use super::*;
use crate::desk::sla::{CalendarConfig, PolicyConfig};
use jiff::civil::Date;
use jiff::tz::TimeZone;

fn at(month: i8, day: i8, h: i8, m: i8) -> i64 {
    Date::new(2026, month, day)
        .unwrap()
        .at(h, m, 0, 0)
        .to_zoned_datetime(TimeZone::UTC)
        .unwrap()
        .timestamp()
        .as_millisecond()
}

fn nov(day: i8, h: i8, m: i8) -> i64 {
    at(11, day, h, m)
}

fn oct(day: i8, h: i8, m: i8) -> i64 {
    at(10, day, h, m)
}

fn ch(at: i64, old: &str, new: &str, actor: &str) -> StatusChange {
    StatusChange {
        at,
        old: old.into(),
        new: new.into(),
        actor: actor.into(),
    }
}

fn fired(at: i64, target: &str, percent: u32, action: &str) -> Fired {
    Fired {
        at,
        target: target.into(),
        percent,
        action: action.into(),
    }
}

fn t(
    number: i64,
    subject: &str,
    priority: Option<Priority>,
    category: Option<&str>,
) -> TicketFacts {
    TicketFacts {
        number,
        subject: subject.into(),
        priority,
        category: category.map(String::from),
        team: Some("desk".into()),
        ..TicketFacts::default()
    }
}

fn dataset() -> Vec<TicketFacts> {
    use Priority::*;
    // T1: P1, answered after 30m, resolved after 2h, closed, rated 5.
    let mut t1 = t(1, "VPN drops every hour", Some(P1), Some("network"));
    t1.assignee = Some("alice".into());
    t1.created_at = nov(2, 10, 0);
    t1.first_response_at = Some(nov(2, 10, 30));
    t1.changes = vec![
        ch(nov(2, 10, 30), "new", "open", "alice"),
        ch(nov(2, 12, 0), "open", "resolved", "alice"),
        ch(nov(3, 9, 0), "resolved", "closed", "ann@corp.test"),
    ];
    t1.resolved_at = Some(nov(2, 12, 0));
    t1.closed_at = Some(nov(3, 9, 0));
    t1.survey_sent_at = Some(nov(3, 9, 0));
    (t1.rating, t1.rated_at, t1.rated_agent) = (Some(5), Some(nov(3, 10, 0)), Some("alice".into()));
    // T2: P1 from Friday 17:00. First answer Monday 09:45 = 60 + 45 = 105m
    // (due Friday 18:00: breached). Resolved Monday 13:00, reopened Tuesday
    // 10:00, resolved again Tuesday 11:00: the last resolution counts,
    // 60 + 540 + 120 = 720m (due Monday 12:00: breached).
    let mut t2 = t(2, "VPN drops every hour!", Some(P1), Some("network"));
    t2.assignee = Some("bob".into());
    t2.created_at = nov(6, 17, 0);
    t2.first_response_at = Some(nov(9, 9, 45));
    t2.changes = vec![
        ch(nov(9, 9, 45), "new", "open", "bob"),
        ch(nov(9, 13, 0), "open", "resolved", "bob"),
        ch(nov(10, 10, 0), "resolved", "open", "ann@corp.test"),
        ch(nov(10, 11, 0), "open", "resolved", "bob"),
    ];
    t2.resolved_at = Some(nov(10, 11, 0));
    t2.escalations = vec![fired(nov(9, 9, 0), "first-response", 100, "notify-lead")];
    // T3: P3, Wednesday 09:00; answered 10:00 (60m) and pending until
    // Thursday 09:00; resolved Thursday 11:00: 60 + 120 = 180m. Rated 2.
    let mut t3 = t(3, "Laptop screen flickers", Some(P3), Some("hardware"));
    t3.assignee = Some("alice".into());
    t3.created_at = nov(11, 9, 0);
    t3.first_response_at = Some(nov(11, 10, 0));
    t3.pauses = vec![Pause {
        from_ms: nov(11, 10, 0),
        until_ms: Some(nov(12, 9, 0)),
    }];
    t3.changes = vec![
        ch(nov(11, 10, 0), "new", "open", "alice"),
        ch(nov(11, 10, 0), "open", "pending", "alice"),
        ch(nov(12, 9, 0), "pending", "open", "li@corp.test"),
        ch(nov(12, 11, 0), "open", "resolved", "alice"),
        ch(nov(12, 12, 0), "resolved", "closed", "li@corp.test"),
    ];
    t3.resolved_at = Some(nov(12, 11, 0));
    t3.closed_at = Some(nov(12, 12, 0));
    t3.survey_sent_at = Some(nov(12, 12, 0));
    (t3.rating, t3.rated_at, t3.rated_agent) = (Some(2), Some(nov(13, 9, 0)), Some("alice".into()));
    t3.rating_comment = Some("took too long".into());
    // T4: P3, Monday 30 November 10:00, never answered: the first response
    // was due 14:00 (breached); resolution due Tuesday 1 December 17:00
    // (after the period: undecided). Backlog, 14h old = 0.6 days.
    let mut t4 = t(4, "Mouse broken", Some(P3), Some("hardware"));
    t4.created_at = nov(30, 10, 0);
    t4.escalations = vec![fired(nov(30, 13, 0), "first-response", 75, "remind")];
    // T5: no priority, another team, open since October: backlog at both
    // ends, 41 days 14 hours = 41.6 days at the end. Its October escalation
    // is not this period's.
    let mut t5 = t(5, "Shared drive slow", None, None);
    t5.team = Some("network-team".into());
    t5.assignee = Some("carol".into());
    t5.created_at = oct(20, 10, 0);
    t5.first_response_at = Some(oct(20, 11, 0));
    t5.changes = vec![ch(oct(20, 11, 0), "new", "open", "carol")];
    t5.escalations = vec![fired(oct(25, 9, 0), "resolution", 100, "remind")];
    // T6: resolved in October, closed by the sweeper on 3 November (closed,
    // not resolved, this period). Its survey went unanswered.
    let mut t6 = t(6, "Excel crashes", Some(P3), Some("software"));
    t6.assignee = Some("bob".into());
    t6.created_at = oct(28, 9, 0);
    t6.first_response_at = Some(oct(28, 9, 30));
    t6.changes = vec![
        ch(oct(28, 9, 30), "new", "open", "bob"),
        ch(oct(29, 9, 0), "open", "resolved", "bob"),
        ch(nov(3, 9, 0), "resolved", "closed", "postdesk"),
    ];
    t6.resolved_at = Some(oct(29, 9, 0));
    t6.closed_at = Some(nov(3, 9, 0));
    t6.survey_sent_at = Some(nov(3, 9, 0));
    // T7: solved by a suggested knowledge-base entry after 60m, no answer
    // from anyone: its first-response target is moot.
    let mut t7 = t(
        7,
        "Printer on floor 3 prints nothing",
        Some(P3),
        Some("software"),
    );
    t7.created_at = nov(16, 9, 0);
    t7.changes = vec![
        ch(nov(16, 10, 0), "new", "resolved", "max@corp.test"),
        ch(nov(16, 10, 0), "resolved", "closed", "max@corp.test"),
    ];
    t7.resolved_at = Some(nov(16, 10, 0));
    t7.closed_at = Some(nov(16, 10, 0));
    t7.self_solved_at = Some(nov(16, 10, 0));
    // T8: P4 (no policy), answered after 10m, still open: 13.6 days old.
    let mut t8 = t(8, "Re: Printer on floor 4 prints nothing", Some(P4), None);
    t8.assignee = Some("alice".into());
    t8.created_at = nov(17, 9, 0);
    t8.first_response_at = Some(nov(17, 9, 10));
    t8.changes = vec![ch(nov(17, 9, 10), "new", "open", "alice")];
    // T9: all October, but rated 4 on 2 November.
    let mut t9 = t(9, "Password reset", Some(P3), Some("account"));
    t9.assignee = Some("bob".into());
    t9.created_at = oct(26, 9, 0);
    t9.first_response_at = Some(oct(26, 9, 5));
    t9.changes = vec![
        ch(oct(26, 9, 5), "new", "resolved", "bob"),
        ch(oct(30, 9, 0), "resolved", "closed", "postdesk"),
    ];
    t9.survey_sent_at = Some(oct(30, 9, 0));
    (t9.rating, t9.rated_at, t9.rated_agent) = (Some(4), Some(nov(2, 8, 0)), Some("bob".into()));
    vec![t1, t2, t3, t4, t5, t6, t7, t8, t9]
}

fn sla() -> SlaConfig {
    let policy = |p: Priority, fr: u64, res: u64| PolicyConfig {
        priority: p,
        category: None,
        first_response: Some(std::time::Duration::from_secs(fr * 3600)),
        resolution: Some(std::time::Duration::from_secs(res * 3600)),
        clock: ClockKind::Business,
        escalate: Vec::new(),
    };
    SlaConfig {
        calendar: CalendarConfig::default(),
        policies: vec![policy(Priority::P1, 1, 4), policy(Priority::P3, 4, 16)],
    }
}

fn report() -> Report {
    let sla = sla();
    let calendar = Calendar::from_config(&sla.calendar).unwrap();
    let period = Period::month(2026, 11, &TimeZone::UTC).unwrap();
    let settings = Settings {
        desk_name: "IT Desk",
        time_zone: &TimeZone::UTC,
        time_zone_name: "UTC",
        sla: &sla,
        calendar: &calendar,
        low_rating: 2,
        top: 5,
    };
    compute(&dataset(), &period, &settings)
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn median_and_nearest_rank_percentile() {
    assert_eq!(median(&[]), None);
    assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    // p90 of 10 values: rank 9; of 4 values: rank ⌈3.6⌉ = 4; of 1: the value.
    let ten: Vec<f64> = (1..=10).map(f64::from).collect();
    assert_eq!(percentile(&ten, 0.9), Some(9.0));
    assert_eq!(percentile(&[10.0, 30.0, 60.0, 105.0], 0.9), Some(105.0));
    assert_eq!(percentile(&[7.0], 0.9), Some(7.0));
    assert_eq!(percentile(&[], 0.9), None);
}

#[test]
fn volumes_reopens_and_self_service() {
    let r = report();
    let s = &r.summary;
    // Opened: T1 T2 T3 T4 T7 T8. Resolved: T1 T2 T3 T7 (T6 was resolved in
    // October; its closing is not a resolution). Closed: T1 T3 T6 T7.
    assert_eq!((s.opened, s.resolved, s.closed), (6, 4, 4));
    // Reopened: T2; 1 of 4 resolved.
    assert_eq!(s.reopened, 1);
    assert!(close(s.reopen_rate, 0.25));
    assert_eq!(s.self_solved, 1);
}

#[test]
fn breakdowns_by_category_priority_and_team() {
    let r = report();
    let rows = |b: &[Breakdown]| -> Vec<(String, usize, usize, usize)> {
        b.iter()
            .map(|b| (b.key.clone(), b.opened, b.resolved, b.closed))
            .collect()
    };
    // Most opened first: network (T1 T2), hardware (T3 T4), software (T7,
    // and T6 closed), none (T8). T5 and T9 did nothing this period.
    assert_eq!(
        rows(&r.by_category),
        [
            ("network".into(), 2, 2, 1),
            ("hardware".into(), 2, 1, 1),
            ("software".into(), 1, 1, 2),
            ("(none)".into(), 1, 0, 0)
        ]
    );
    assert_eq!(
        rows(&r.by_priority),
        [
            ("P1".into(), 2, 2, 1),
            ("P3".into(), 3, 2, 3),
            ("P4".into(), 1, 0, 0)
        ]
    );
    assert_eq!(rows(&r.by_team), [("desk".into(), 6, 4, 4)]);
}

#[test]
fn first_response_and_resolution_times_in_business_minutes() {
    let r = report();
    let row = |k: &str| r.times.iter().find(|t| t.key == k).unwrap().clone();
    let keys: Vec<&str> = r.times.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(
        keys,
        ["P1", "P3", "P4", "all"],
        "no P2 tickets, T5 had nothing to measure"
    );
    // First responses of tickets opened this period: T1 30, T2 105, T3 60, T8 10.
    let all = row("all");
    assert_eq!(all.first_response.count, 4);
    assert!(close(all.first_response.median_min, 45.0));
    assert!(close(all.first_response.p90_min, 105.0));
    // Resolutions: T1 120, T2 720, T3 180, T7 60.
    assert_eq!(all.resolution.count, 4);
    assert!(close(all.resolution.median_min, 150.0));
    assert!(close(all.resolution.p90_min, 720.0));
    let p1 = row("P1");
    assert!(close(p1.first_response.median_min, 67.5));
    assert!(close(p1.first_response.p90_min, 105.0));
    assert!(close(p1.first_response.target_min, 60.0));
    assert!(close(p1.resolution.median_min, 420.0));
    assert!(close(p1.resolution.target_min, 240.0));
    let p3 = row("P3");
    assert!(close(p3.first_response.median_min, 60.0));
    assert!(close(p3.resolution.median_min, 120.0));
    assert!(close(p3.resolution.p90_min, 180.0));
    let p4 = row("P4");
    assert!(close(p4.first_response.median_min, 10.0));
    assert_eq!(p4.first_response.target_min, None);
    assert_eq!(
        p4.first_response.compliance, None,
        "no policy, no compliance"
    );
}

#[test]
fn sla_compliance() {
    let r = report();
    let row = |k: &str| r.times.iter().find(|t| t.key == k).unwrap().clone();
    // First response: T1 met, T2 breached, T3 met, T4 breached unanswered;
    // T7 (solved by itself) and T8 (no policy) are not counted.
    let all = row("all");
    assert_eq!(
        (all.first_response.met, all.first_response.breached),
        (2, 2)
    );
    assert!(close(r.summary.first_response_compliance, 0.5));
    // Resolution: T1 met, T2 breached, T3 met, T7 met; T4 is due after the period.
    assert_eq!((all.resolution.met, all.resolution.breached), (3, 1));
    assert!(close(r.summary.resolution_compliance, 0.75));
    // Both: 5 of 8.
    assert!(close(r.summary.sla_compliance, 0.625));
    assert!(close(row("P1").resolution.compliance, 0.5));
    assert!(close(row("P3").resolution.compliance, 1.0));
    assert!(close(row("P3").first_response.compliance, 0.5));
}

#[test]
fn escalations_by_level() {
    let r = report();
    let levels: Vec<(String, u32, String, usize)> = r
        .escalations
        .iter()
        .map(|e| (e.target.clone(), e.percent, e.action.clone(), e.count))
        .collect();
    // T5's October escalation is not this period's.
    assert_eq!(
        levels,
        [
            ("first-response".into(), 75, "remind".into(), 1),
            ("first-response".into(), 100, "notify-lead".into(), 1)
        ]
    );
    assert_eq!(r.summary.escalations, 2);
}

#[test]
fn backlog_and_its_age() {
    let r = report();
    let b = &r.backlog;
    // At the start: T5 (open); T6 and T9 were resolved or closed.
    // At the end: T4 (new), T5 and T8 (open); T2 is resolved.
    assert_eq!((b.at_start, b.at_end), (1, 3));
    let by_status: Vec<(String, usize)> = b
        .by_status
        .iter()
        .map(|c| (c.label.clone(), c.count))
        .collect();
    assert_eq!(by_status, [("new".into(), 1), ("open".into(), 2)]);
    // Ages 0.6 (T4), 13.6 (T8), 41.6 (T5) days.
    let age: Vec<usize> = b.age.iter().map(|c| c.count).collect();
    assert_eq!(age, [1, 0, 0, 1, 1]);
    assert!(close(b.median_age_days, 13.6));
    let oldest: Vec<(i64, f64)> = b.oldest.iter().map(|t| (t.number, t.age_days)).collect();
    assert_eq!(oldest, [(5, 41.6), (8, 13.6), (4, 0.6)]);
}

#[test]
fn satisfaction() {
    let r = report();
    let s = &r.satisfaction;
    // Surveys sent this period: T1, T3, T6; answered: T1, T3.
    assert_eq!((s.surveys_sent, s.surveys_answered), (3, 2));
    assert!(close(s.response_rate, 2.0 / 3.0));
    // Ratings given this period: T1 5, T3 2, T9 4 (its survey was October's).
    assert_eq!(s.ratings, 3);
    assert!(close(s.average, 11.0 / 3.0));
    assert_eq!(s.distribution, [0, 1, 0, 1, 1]);
    assert_eq!(s.lowest.len(), 1);
    assert_eq!(
        (
            s.lowest[0].number,
            s.lowest[0].score,
            s.lowest[0].comment.as_str()
        ),
        (3, 2, "took too long")
    );
}

#[test]
fn recurring_subjects_and_words() {
    let r = report();
    let subjects: Vec<(String, usize, Vec<i64>)> = r
        .frequent_subjects
        .iter()
        .map(|f| (f.text.clone(), f.count, f.tickets.clone()))
        .collect();
    // "Re:", digits and "!" do not make a subject different.
    assert_eq!(
        subjects,
        [
            ("printer on floor prints nothing".into(), 2, vec![7, 8]),
            ("vpn drops every hour".into(), 2, vec![1, 2])
        ]
    );
    // Eight words come twice; the first five alphabetically (top = 5).
    let words: Vec<&str> = r.frequent_words.iter().map(|f| f.text.as_str()).collect();
    assert_eq!(words, ["drops", "every", "floor", "hour", "nothing"]);
}

#[test]
fn per_agent_and_per_team() {
    let r = report();
    let row = |rows: &[Throughput], k: &str| rows.iter().find(|t| t.key == k).unwrap().clone();
    let keys: Vec<&str> = r.agents.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(keys, ["alice", "(unassigned)", "bob", "carol"]);
    // alice: T1, T3 resolved (120, 180), T8 open; all four targets met;
    // rated 5 and 2.
    let a = row(&r.agents, "alice");
    assert_eq!((a.opened, a.resolved, a.backlog), (3, 2, 1));
    assert!(close(a.median_resolution_min, 150.0));
    assert!(close(a.sla_compliance, 1.0));
    assert_eq!(a.ratings, 2);
    assert!(close(a.average_rating, 3.5));
    // bob: T2 (both targets breached), and T9's rating of 4.
    let b = row(&r.agents, "bob");
    assert_eq!((b.opened, b.resolved, b.backlog), (1, 1, 0));
    assert!(close(b.sla_compliance, 0.0));
    assert!(close(b.average_rating, 4.0));
    // Nobody's: T4 (breached), T7 (met).
    let u = row(&r.agents, "(unassigned)");
    assert_eq!((u.opened, u.resolved, u.backlog), (2, 1, 1));
    assert!(close(u.sla_compliance, 0.5));
    let c = row(&r.agents, "carol");
    assert_eq!(
        (c.opened, c.resolved, c.backlog, c.sla_compliance),
        (0, 0, 1, None)
    );
    let d = row(&r.teams, "desk");
    assert_eq!((d.opened, d.resolved, d.backlog, d.ratings), (6, 4, 2, 3));
    assert!(close(d.sla_compliance, 0.625));
    assert_eq!(row(&r.teams, "network-team").backlog, 1);
}

#[test]
fn daily_volume() {
    let r = report();
    assert_eq!(r.daily.len(), 30);
    let day = |d: &str| r.daily.iter().find(|x| x.date == d).unwrap();
    assert_eq!(
        (day("2026-11-02").opened, day("2026-11-02").resolved),
        (1, 1)
    );
    assert_eq!(
        (day("2026-11-10").opened, day("2026-11-10").resolved),
        (0, 1)
    );
    assert_eq!(
        (day("2026-11-16").opened, day("2026-11-16").resolved),
        (1, 1)
    );
    assert_eq!(r.daily.iter().map(|d| d.opened).sum::<usize>(), 6);
    assert_eq!(r.daily.iter().map(|d| d.resolved).sum::<usize>(), 4);
}

#[test]
fn text_markdown_csv_and_json() {
    let r = report();
    let text = table::text(&r);
    assert!(
        text.starts_with("IT Desk: review of November 2026 (2026-11-01 to 2026-11-30, UTC)\n"),
        "{text}"
    );
    assert!(text.contains("SLA compliance"), "{text}");
    assert!(
        text.contains("\n  P1              2   1h 8m  1h 45m      1h  1/2         50%\n"),
        "{text}"
    );
    assert!(
        text.contains("\n  SLA compliance                              62%\n"),
        "{text}"
    );
    assert!(text.contains("printer on floor prints nothing"), "{text}");
    let md = table::markdown(&r);
    assert!(
        md.contains("## First response (business time)\n\n| priority | tickets |"),
        "{md}"
    );
    assert!(md.contains("| ---: |"), "{md}");
    let csv = table::csv(&r);
    assert!(csv.starts_with("period,section,key,column,value\n"));
    assert!(
        csv.contains("2026-11,summary,,sla_compliance,0.625\n"),
        "{csv}"
    );
    assert!(
        csv.contains("2026-11,first_response_minutes,all,median,45\n"),
        "{csv}"
    );
    assert!(csv.contains("2026-11,category,network,opened,2\n"), "{csv}");
    let json: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(json["summary"]["opened"], 6);
    assert_eq!(json["period"]["key"], "2026-11");
}

#[test]
fn markdown_and_text_show_what_senders_wrote_literally() {
    let mut r = report();
    r.backlog.oldest[0].subject =
        "<img src=x onerror=alert(1)> [click](javascript:alert(2)) **big** `code` a|b &lt;\x1b[2J"
            .into();
    r.satisfaction.lowest[0].comment = "<script>alert(3)</script>\nnext line".into();
    r.desk = "IT_Desk".into();
    let md = table::markdown(&r);
    for raw in [
        "<img", "<script>", "[click](", "**big**", "`code`", "\x1b", "\nnext",
    ] {
        assert!(!md.contains(raw), "{raw} in {md}");
    }
    assert!(md.starts_with("# IT\\_Desk: review"), "{md}");
    assert!(
        md.contains(
            "&lt;img src=x onerror=alert(1)&gt; \\[click\\](javascript:alert(2)) \\*\\*big\\*\\* \\`code\\` a\\|b &amp;lt;"
        ),
        "{md}"
    );
    assert!(
        md.contains("&lt;script&gt;alert(3)&lt;/script&gt; next line"),
        "{md}"
    );
    let text = table::text(&r);
    assert!(!text.contains('\x1b'), "{text}");
    assert!(text.contains("a|b &lt;"), "plain text stays plain: {text}");
}

#[test]
fn html_page_is_well_formed_with_every_chart() {
    let mut r = report();
    // Text that must be escaped, in a subject and a desk name.
    r.desk = "IT <Desk> & \"Co\"".into();
    r.backlog.oldest[0].subject = "<script>alert(1)</script> 打印机".into();
    let page = html::render(&r);
    assert!(
        page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"),
        "{page}"
    );
    let doc = roxmltree::Document::parse_with_options(
        &page,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("not well-formed: {e}\n{page}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "html");
    let by_tag = |name: &'static str| {
        doc.descendants()
            .filter(move |n| n.tag_name().name() == name)
    };
    assert_eq!(by_tag("head").count(), 1);
    assert_eq!(
        by_tag("title").next().unwrap().text(),
        Some("IT <Desk> & \"Co\": review of November 2026 (2026-11-01 to 2026-11-30, UTC)")
    );
    assert!(by_tag("meta").any(|m| m.attribute("charset") == Some("utf-8")));
    // Every chart is there, as an inline SVG with a title and bars.
    for id in html::CHARTS {
        let fig = doc
            .descendants()
            .find(|n| n.attribute("id") == Some(id))
            .unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(fig.tag_name().name(), "figure");
        let svg = fig
            .children()
            .find(|n| n.tag_name().name() == "svg")
            .unwrap();
        assert_eq!(
            svg.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        assert!(
            svg.descendants().any(|n| n.tag_name().name() == "title"),
            "{id}"
        );
        assert!(
            svg.descendants().any(|n| n.tag_name().name() == "rect"),
            "{id} has bars"
        );
    }
    // The first-response chart shows the P1 target as a line.
    let fr = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("chart-first-response"))
        .unwrap();
    assert!(fr.descendants().any(|n| n.tag_name().name() == "line"));
    // Ids are unique; no script, no external asset.
    let mut ids: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.attribute("id"))
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate ids");
    assert_eq!(by_tag("script").count(), 0);
    for n in doc.descendants() {
        for a in ["src", "href"] {
            assert!(
                n.attribute(a).is_none(),
                "external reference in <{}>",
                n.tag_name().name()
            );
        }
    }
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; 打印机"));
    // Every table of the text review is a table or a note here.
    for sec in table::sections(&r) {
        let id = format!("table-{}", sec.id);
        assert!(
            doc.descendants()
                .any(|n| n.attribute("id") == Some(id.as_str())),
            "{id}"
        );
    }
}

#[test]
fn the_csv_carries_time_worked() {
    let mut r = report();
    let row = |key: &str, minutes, tickets| time::TimeRow {
        key: key.into(),
        minutes,
        tickets,
    };
    r.time_worked = time::TimeWorked {
        total_minutes: 150,
        entries: 3,
        by_agent: vec![row("alice", 90, 2), row("bob", 60, 1)],
        by_team: vec![row("desk", 150, 2)],
        by_category: vec![row("network", 150, 2)],
        resolved_with_time: 2,
        resolved_without_time: 1,
        average_per_resolved_min: Some(75.0),
    };
    let csv = table::csv(&r);
    for line in [
        "2026-11,time_worked,,minutes,150\n",
        "2026-11,time_worked,,entries,3\n",
        "2026-11,time_worked,,resolved_without_time,1\n",
        "2026-11,time_worked,,average_per_resolved,75\n",
        "2026-11,time_worked_agent,alice,minutes,90\n",
        "2026-11,time_worked_agent,bob,tickets,1\n",
        "2026-11,time_worked_team,desk,minutes,150\n",
        "2026-11,time_worked_category,network,tickets,2\n",
    ] {
        assert!(csv.contains(line), "{line:?} in:\n{csv}");
    }
}
