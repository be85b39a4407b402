//! `#queue`, `#status` and the digest, decided on constructed mail.

use super::*;
use crate::config::Config;
use crate::desk::decide::{Known, decide};
use std::path::Path;

// Wednesday 2026-12-02 08:00 UTC.
const NOW: i64 = 1_796_198_400_000;
const HOUR: i64 = 3_600_000;

fn policy(auth: &str) -> Policy {
    policy_in(auth, "en")
}

/// P2 tickets have a policy (2h first answer, 8h resolution, every hour
/// counts); lines without SLA facts have only what they were promised.
fn policy_in(auth: &str, language: &str) -> Policy {
    let cfg = Config::from_toml(
        &format!(
            r#"
[desk]
name = "IT Desk"
address = "helpdesk@example.test"
language = "{language}"
[sla.calendar]
time-zone = "UTC"
hours = {{ mon = "00:00-24:00", tue = "00:00-24:00", wed = "00:00-24:00", thu = "00:00-24:00", fri = "00:00-24:00", sat = "00:00-24:00", sun = "00:00-24:00" }}
[[sla.policy]]
priority = "P2"
first-response = "2h"
resolution = "8h"
[workflow]
agent-authentication = "{auth}"
[[team]]
name = "service-desk"
address = "desk-team@corp.test"
lead = "carol"
[[agent]]
name = "alice"
display-name = "Alice Wang"
addresses = ["alice@corp.test"]
team = "service-desk"
secret-env = "POSTDESK_TEST_NO_SUCH_VARIABLE"
[[agent]]
name = "carol"
addresses = ["carol@corp.test"]
team = "service-desk"
secret-env = "POSTDESK_TEST_NO_SUCH_VARIABLE"
"#
        ),
        Path::new("t.toml"),
        Path::new("."),
    )
    .unwrap();
    crate::pipeline::policy_from_config(&cfg, crate::thread::IdKey::fixed(7)).unwrap()
}

fn mail(from: &str, body: &str) -> Inbound {
    crate::inbound::parse(
        format!(
            "From: {from}\r\nReply-To: other@evil.test\r\nTo: helpdesk@example.test\r\nSubject: list\r\nMessage-ID: <q{}@x>\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap()
}

fn line(number: i64, due_ms: Option<i64>, approval: bool) -> Line {
    Line {
        number,
        subject: format!("Ticket {number}"),
        status: "open".into(),
        priority: Some("P2".into()),
        requester: "ann@corp.test".into(),
        assignee: Some("alice".into()),
        due_ms,
        awaiting_approval: approval,
        sla: None,
    }
}

/// A P2 ticket opened at `created`, answered at `answered`, as the store
/// lists it.
fn with_sla(number: i64, created: i64, answered: Option<i64>, status: &str) -> Line {
    use crate::desk::ticket::Priority;
    Line {
        status: status.into(),
        due_ms: answered.is_none().then_some(created + 2 * HOUR),
        sla: Some(SlaFacts {
            priority: Some(Priority::P2),
            category: None,
            status: status.parse().unwrap(),
            created_at: created,
            first_response_at: answered,
            resolved_at: None,
            closed_at: None,
            pauses: Vec::new(),
        }),
        ..line(number, None, false)
    }
}

fn letter(fx: &[Effect]) -> Option<(&Mailbox, &str, &str)> {
    fx.iter().find_map(|e| match e {
        Effect::Letter {
            to, subject, text, ..
        } => Some((to, subject.as_str(), text.as_str())),
        _ => None,
    })
}

#[test]
fn what_a_new_mail_asks_for() {
    let p = policy("none");
    assert_eq!(
        asked(&p, &mail("alice@corp.test", "#queue")),
        Some(Ask::Queue("alice".into()))
    );
    assert_eq!(
        asked(&p, &mail("alice@corp.test", "#我的工单\n")),
        Some(Ask::Queue("alice".into()))
    );
    assert_eq!(
        asked(&p, &mail("Ann <ann@corp.test>", "#status")),
        Some(Ask::Status("ann@corp.test".into())),
        "From, never the Reply-To"
    );
    assert_eq!(
        asked(&p, &mail("ann@corp.test", "#状态")),
        Some(Ask::Status("ann@corp.test".into()))
    );
    assert_eq!(
        asked(&p, &mail("ann@corp.test", "#queue")),
        Some(Ask::Status("ann@corp.test".into())),
        "a requester's #queue is their #status"
    );
    assert_eq!(
        asked(&p, &mail("alice@corp.test", "#status")),
        Some(Ask::Status("alice@corp.test".into()))
    );
    for body in [
        "My printer is broken. #status?",
        "#priority high\n#status",
        "Hello\n#queue",
    ] {
        assert_eq!(asked(&p, &mail("ann@corp.test", body)), None, "{body}");
    }
}

#[test]
fn queue_lists_overdue_then_due_today_then_approvals_then_the_rest() {
    let p = policy("none");
    let l = Lookups {
        ask: Ask::Queue("alice".into()),
        lines: vec![
            line(1001, None, false),
            line(1002, Some(NOW - HOUR), false),
            line(1003, Some(NOW + 3 * HOUR), false),
            line(1004, None, true),
        ],
        sent_last_hour: 0,
    };
    let fx = decide(
        &p,
        &mail("alice@corp.test", "#queue"),
        &Known {
            listing: Some(&l),
            ..Known::default()
        },
        NOW,
    );
    assert!(
        matches!(fx[0], Effect::Ignore { .. }),
        "recorded without a ticket"
    );
    let (to, subject, text) = letter(&fx).expect("a list");
    assert_eq!(to.address, "alice@corp.test");
    assert!(subject.contains("4 open"), "{subject}");
    let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s} in {text}"));
    assert!(at("Overdue (1)") < at("[#1002]"));
    assert!(at("[#1002]") < at("Due today (1)"));
    assert!(at("Due today (1)") < at("[#1003]"));
    assert!(at("[#1003]") < at("Waiting for an approval (1)"));
    assert!(at("Waiting for an approval (1)") < at("[#1004]"));
    assert!(at("[#1004]") < at("Other open tickets (1)"));
    assert!(at("Other open tickets (1)") < at("[#1001]"));
}

#[test]
fn status_goes_only_to_the_from_address_and_is_rate_limited() {
    let p = policy("none");
    let mut l = Lookups {
        ask: Ask::Status("ann@corp.test".into()),
        lines: vec![line(1001, Some(NOW + HOUR), false)],
        sent_last_hour: 0,
    };
    let m = mail("Ann <ann@corp.test>", "#status");
    let fx = answer(&p, &m, &l, NOW);
    let (to, _, text) = letter(&fx).unwrap();
    assert_eq!(to.address, "ann@corp.test");
    assert!(text.contains("[#1001] Ticket 1001"), "{text}");
    assert!(text.contains("we promised a first answer by"), "{text}");
    l.sent_last_hour = MAX_LISTS_PER_HOUR;
    let fx = answer(&p, &m, &l, NOW);
    assert!(letter(&fx).is_none());
    assert!(matches!(&fx[..], [Effect::Ignore { reason }] if reason.contains("past hour")));
}

#[test]
fn an_unproven_agent_gets_no_queue() {
    let p = policy("secret");
    let l = Lookups {
        ask: Ask::Queue("alice".into()),
        lines: vec![line(1001, None, false)],
        sent_last_hour: 0,
    };
    let fx = answer(&p, &mail("alice@corp.test", "#queue"), &l, NOW);
    assert!(letter(&fx).is_none(), "{fx:?}");
}

#[test]
fn the_digest_greets_and_lists_and_knows_leads() {
    let p = policy("none");
    let alice = p.directory.agent("alice").unwrap();
    let (subject, text) = digest(&p, alice, &[line(1002, Some(NOW - HOUR), false)], NOW);
    assert!(subject.contains("1 open"), "{subject}");
    assert!(text.starts_with("Good morning Alice Wang"), "{text}");
    assert!(text.contains("Overdue (1)"), "{text}");
    let (_, empty) = digest(&p, alice, &[], NOW);
    assert!(empty.contains("Nothing is waiting for you"), "{empty}");
    assert_eq!(led_teams(&p, "carol"), ["service-desk"]);
    assert!(led_teams(&p, "alice").is_empty());
    let cfg = DigestConfig {
        agents: vec!["*".into()],
        hour: 8,
    };
    assert!(cfg.includes("alice"));
    assert!(cfg.validate(&["alice"]).is_ok());
    let bad = DigestConfig {
        agents: vec!["bob".into()],
        hour: 24,
    };
    assert!(bad.validate(&["alice"]).unwrap_err().contains("hour"));
    let bad = DigestConfig {
        agents: vec!["bob".into()],
        hour: 8,
    };
    assert!(
        bad.validate(&["alice"])
            .unwrap_err()
            .contains("\"bob\" is not an agent")
    );
}

/// The digest goes out on working days of the SLA calendar only.
#[test]
fn working_days_of_the_calendar() {
    let cfg = Config::from_toml(
        "[desk]\naddress = \"helpdesk@example.test\"\n[sla.calendar]\ntime-zone = \"Asia/Shanghai\"\nhours = { mon = \"09:00-18:00\", wed = \"09:00-18:00\" }\nholidays = [\"2026-12-07\"]\n",
        Path::new("t.toml"),
        Path::new("."),
    )
    .unwrap();
    let p = crate::pipeline::policy_from_config(&cfg, crate::thread::IdKey::fixed(7)).unwrap();
    const DAY: i64 = 24 * HOUR;
    // NOW is Wednesday 16:00 in Shanghai; 20:00 UTC is Thursday there.
    assert!(p.calendar.is_working_day(NOW));
    assert!(
        !p.calendar.is_working_day(NOW + 12 * HOUR),
        "Thursday has no hours"
    );
    assert!(!p.calendar.is_working_day(NOW + 4 * DAY), "Sunday");
    assert!(
        !p.calendar.is_working_day(NOW + 5 * DAY),
        "Monday 7 December is a holiday"
    );
    assert!(
        p.calendar.is_working_day(NOW + 12 * DAY),
        "Monday 14 December"
    );
}

#[test]
fn lists_in_a_reply_on_a_ticket_are_refused_with_a_reason() {
    let p = policy("none");
    let t = crate::desk::ticket::TicketState {
        number: 7,
        status: Some(crate::desk::ticket::Status::Open),
        requester: "ann@corp.test".into(),
        subject: "Printer".into(),
        ..Default::default()
    };
    let link = crate::thread::Link::Tag(t);
    for body in ["#queue", "#status"] {
        let fx = decide(
            &p,
            &mail("alice@corp.test", body),
            &Known {
                link: Some(&link),
                ..Known::default()
            },
            NOW,
        );
        assert!(letter(&fx).is_none());
        let why = fx.iter().find_map(|e| match e {
            Effect::Event {
                kind: "commands-refused",
                detail,
                ..
            } => detail.clone(),
            _ => None,
        });
        assert!(
            why.as_deref().unwrap_or("").contains("answers a new mail"),
            "{body}: {why:?}"
        );
    }
}

/// Due means either target: a ticket answered in time whose resolution is
/// late is overdue (the list showed only the first answer's due time, so
/// it sat among "other" tickets); a stopped clock is not.
#[test]
fn queue_and_digest_list_resolution_due_times_too() {
    let p = policy("none");
    let lines = [
        // Answered an hour after it came in 10h ago: resolution was due 2h ago.
        with_sla(1001, NOW - 10 * HOUR, Some(NOW - 9 * HOUR), "open"),
        // Came in an hour ago: first answer due in 1h, resolution in 7h.
        with_sla(1002, NOW - HOUR, None, "new"),
        // Answered, then waiting on the requester since: the clock stands.
        Line {
            sla: Some(SlaFacts {
                pauses: vec![crate::desk::sla::Pause {
                    from_ms: NOW - 9 * HOUR,
                    until_ms: None,
                }],
                ..with_sla(0, NOW - 10 * HOUR, Some(NOW - 9 * HOUR), "pending")
                    .sla
                    .unwrap()
            }),
            ..with_sla(1003, NOW - 10 * HOUR, Some(NOW - 9 * HOUR), "pending")
        },
        // Answered 1h ago, opened 3h ago: resolution due at 13:00 today.
        with_sla(1004, NOW - 3 * HOUR, Some(NOW - HOUR), "open"),
    ];
    let alice = p.directory.agent("alice").unwrap();
    let (_, text) = digest(&p, alice, &lines, NOW);
    let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s} in {text}"));
    assert!(at("Overdue (1)") < at("[#1001]"), "{text}");
    assert!(at("[#1001]") < at("Due today (2)"), "{text}");
    assert!(at("Due today (2)") < at("[#1002]"), "{text}");
    assert!(at("[#1004]") < at("Other open tickets (1)"), "{text}");
    assert!(at("Other open tickets (1)") < at("[#1003]"), "{text}");
    let entry = |n: i64| {
        let from = at(&format!("[#{n}]"));
        let rest = &text[from..];
        rest[..rest.find("\n  [#").unwrap_or(rest.len())].to_string()
    };
    assert!(
        entry(1001).contains("resolution due Wednesday 2 December 2026, 06:00"),
        "{}",
        entry(1001)
    );
    assert!(!entry(1001).contains("first answer"), "{}", entry(1001));
    let new = entry(1002);
    assert!(
        new.contains("first answer due Wednesday 2 December 2026, 09:00"),
        "{new}"
    );
    assert!(
        new.contains("resolution due Wednesday 2 December 2026, 15:00"),
        "{new}"
    );
    assert!(
        entry(1003).contains("resolution: clock stopped"),
        "{}",
        entry(1003)
    );
    assert!(entry(1004).contains("resolution due Wednesday 2 December 2026, 13:00"));

    // `#queue` is the same list; in Chinese too.
    let zh = policy_in("none", "zh-CN");
    let l = Lookups {
        ask: Ask::Queue("alice".into()),
        lines: lines.to_vec(),
        sent_last_hour: 0,
    };
    let fx = answer(&zh, &mail("alice@corp.test", "#queue"), &l, NOW);
    let (_, _, text) = letter(&fx).expect("a list");
    assert!(text.contains("已超时 (1)"), "{text}");
    assert!(text.contains("解决期限"), "{text}");
    assert!(text.contains("解决期限：计时暂停"), "{text}");
    assert!(text.contains("首次答复期限"), "{text}");
}
