//! Decisions for requesters, agents and the clock, on constructed mail.

use super::*;
use crate::config::Config;
use crate::desk::closing::sweep;
use crate::desk::effect::OutMail;
use crate::desk::people::Directory;
use crate::desk::survey::parse_rating;
use crate::desk::ticket::{Field, MessageKind, SentMail, Status, TicketState};
use crate::inbound::{AutoReason, parse};
use crate::lang::Lang;
use crate::thread::notice_root;
use std::path::Path;

/// A decision without knowledge-base suggestions (see `kb::tests` for those).
fn decide(
    policy: &Policy,
    mail: &Inbound,
    link: Option<&Link>,
    next_number: i64,
    now_ms: i64,
) -> Vec<Effect> {
    let known = Known {
        link,
        next_number,
        ..Known::default()
    };
    super::decide(policy, mail, &known, now_ms)
}

const NOW: i64 = 1_796_004_000_000; // Monday 2026-11-30 02:00 UTC
const DAY: i64 = 86_400_000;

fn policy() -> Policy {
    policy_with("")
}

fn policy_with(extra: &str) -> Policy {
    // These tests are about decisions: agents are who their From says unless
    // a test asks for a proof (`verify` has its own tests).
    let extra = if extra.contains("agent-authentication") {
        extra.to_string()
    } else {
        format!("agent-authentication = \"none\"\n{extra}")
    };
    let cfg = Config::from_toml(
        &format!(
            r#"
[desk]
name = "IT Desk"
address = "helpdesk@example.test"
first-response = "4h"
[workflow]
{extra}
[[team]]
name = "service-desk"
tier = "L1"
address = "desk-team@corp.test"
lead = "carol"
[[team]]
name = "network"
tier = "L2"
lead = "nina"
[[agent]]
name = "alice"
display-name = "Alice Wang"
addresses = ["alice@corp.test"]
team = "service-desk"
secret-env = "ALICE_SECRET"
[[agent]]
name = "carol"
addresses = ["carol@corp.test"]
team = "service-desk"
secret-env = "CAROL_SECRET"
[[agent]]
name = "nina"
addresses = ["nina@corp.test"]
team = "network"
secret-env = "NINA_SECRET"
"#
        ),
        Path::new("t.toml"),
        Path::new("."),
    )
    .unwrap();
    // The same construction the daemon uses; only the agents' secrets come
    // from a map instead of the environment.
    let mut p = crate::pipeline::policy_from_config(&cfg, crate::thread::IdKey::fixed(7)).unwrap();
    p.directory = Directory::from_config(&cfg.agents, &cfg.teams, |v| {
        (v == "ALICE_SECRET").then(|| "s3cret".into())
    });
    p
}

fn mail(headers: &str, body: &str) -> Inbound {
    parse(format!("{headers}\r\n\r\n{body}").as_bytes()).unwrap()
}

fn from(addr: &str, body: &str) -> Inbound {
    mail(
        &format!(
            "From: {addr}\r\nTo: helpdesk@example.test\r\nSubject: Re: [#7] Printer broken\r\nMessage-ID: <m{}@x>",
            body.len()
        ),
        body,
    )
}

fn ticket(status: Status) -> TicketState {
    TicketState {
        number: 7,
        status: Some(status),
        requester: "ann@corp.test".into(),
        requester_name: Some("Ann".into()),
        subject: "Printer broken".into(),
        team: Some("service-desk".into()),
        tier: Some("L1".into()),
        thread: vec!["req@corp.test".into(), "ack@example.test".into()],
        ..TicketState::default()
    }
}

fn sends(fx: &[Effect]) -> Vec<&OutMail> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn status_changes(fx: &[Effect]) -> Vec<(String, String)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Update {
                field: Field::Status,
                old,
                new,
                ..
            } => Some((
                old.clone().unwrap_or_default(),
                new.clone().unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

const REQ: &str = "From: Ann <ann@corp.test>\r\nTo: helpdesk@example.test\r\nCc: Boss <boss@corp.test>, alice@corp.test\r\nSubject: Printer broken\r\nMessage-ID: <m1@corp.test>";

#[test]
fn new_request_makes_ticket_acknowledgement_and_team_notice() {
    let fx = decide(&policy(), &mail(REQ, "It prints nothing."), None, 42, NOW);
    assert!(
        matches!(&fx[0], Effect::CreateTicket(t) if t.number == 42 && t.team.as_deref() == Some("service-desk") && t.tier.as_deref() == Some("L1"))
    );
    assert!(matches!(
        &fx[1],
        Effect::Attach {
            ticket: 42,
            kind: MessageKind::Request
        }
    ));
    let watchers: Vec<&str> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Watch {
                address, add: true, ..
            } => Some(address.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        watchers,
        ["boss@corp.test"],
        "Cc'd people watch; agents and the desk do not"
    );
    let out = sends(&fx);
    assert_eq!(out.len(), 2);
    let ack = out[0];
    assert_eq!(ack.template, "ack");
    assert_eq!(ack.subject, "[#42] Printer broken");
    assert_eq!(ack.in_reply_to.as_deref(), Some("m1@corp.test"));
    assert_eq!(ack.vars["reply_by"], "Monday 30 November 2026, 06:00 (UTC)");
    let notice = out[1];
    assert_eq!(notice.template, "notify-new");
    assert_eq!(notice.to[0].address, "desk-team@corp.test");
    assert_eq!(notice.auto_submitted, Some("auto-generated"));
    assert_eq!(
        notice.references,
        vec![notice_root(
            42,
            "example.test",
            &crate::thread::IdKey::fixed(7)
        )]
    );
    assert!(notice.vars["help"].as_str().unwrap().contains("#resolve"));
}

#[test]
fn automatic_mail_opens_ticket_without_acknowledgement() {
    let mut m = mail(REQ, "I am away.");
    m.auto
        .reasons
        .push(AutoReason::AutoSubmitted("auto-replied".into()));
    let fx = decide(&policy(), &m, None, 1, NOW);
    assert!(matches!(fx[0], Effect::CreateTicket(_)));
    assert!(!sends(&fx).iter().any(|s| s.template == "ack"));
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Event {
            kind: "no-acknowledgement",
            ..
        }
    )));
}

#[test]
fn suppressed_auto_reply_is_respected() {
    let mut m = mail(REQ, "hello");
    m.auto.suppress_auto_reply = true;
    let fx = decide(&policy(), &m, None, 1, NOW);
    assert!(!sends(&fx).iter().any(|s| s.template == "ack"));
}

#[test]
fn our_own_mail_is_ignored() {
    let mut m = mail(REQ, "x");
    m.loop_markers.push("example.test".into());
    assert!(matches!(
        decide(&policy(), &m, None, 1, NOW)[0],
        Effect::Ignore { .. }
    ));
    let p = policy();
    let mut m = mail(REQ, "x");
    m.message_id = crate::thread::new_message_id(Some(7), NOW, "example.test", &p.id_key);
    assert!(matches!(
        decide(&p, &m, None, 1, NOW)[0],
        Effect::Ignore { .. }
    ));
    // Anyone can write an id that looks like ours; only ours carry our key's tag.
    m.message_id = "pd.7.1.2.3@example.test".into();
    assert!(matches!(
        decide(&p, &m, None, 1, NOW)[0],
        Effect::CreateTicket(_)
    ));
}

#[test]
fn chinese_mail_gets_chinese_acknowledgement() {
    let m = mail(
        "From: li@corp.cn\r\nSubject: =?UTF-8?B?5omT5Y2w5py65Z2P5LqG?=\r\nMessage-ID: <z@corp.cn>\r\nContent-Type: text/plain; charset=utf-8",
        "您好，三楼的打印机无法打印。",
    );
    let fx = decide(&policy(), &m, None, 5, NOW);
    let ack = sends(&fx)[0];
    assert_eq!(ack.lang, Lang::ZhCn);
    assert_eq!(ack.subject, "[#5] 打印机坏了");
    assert_eq!(ack.vars["reply_by"], "2026年11月30日（星期一）06:00（UTC）");
}

#[test]
fn agent_reply_is_relayed_without_quotes_and_opens_the_ticket() {
    let body = "Please restart it and tell me.\n\nOn Mon, 30 Nov 2026 at 10:00, IT Desk <helpdesk@example.test> wrote:\n> It prints nothing.\n";
    let t = ticket(Status::New);
    let fx = decide(
        &policy(),
        &from("Alice <alice@corp.test>", body),
        Some(&Link::Tag(t)),
        99,
        NOW,
    );
    assert!(matches!(
        fx[0],
        Effect::Attach {
            ticket: 7,
            kind: MessageKind::AgentReply
        }
    ));
    assert_eq!(
        status_changes(&fx),
        [("new".to_string(), "open".to_string())]
    );
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::FirstResponse { ticket: 7 }))
    );
    let out = sends(&fx);
    assert_eq!(out.len(), 1);
    let r = out[0];
    assert_eq!(r.template, "reply");
    assert_eq!(r.to[0].address, "ann@corp.test");
    assert_eq!(r.from_name.as_deref(), Some("Alice Wang (IT Desk)"));
    assert_eq!(r.vars["text"], "Please restart it and tell me.");
    assert_eq!(r.in_reply_to.as_deref(), Some("ack@example.test"));
    assert_eq!(r.auto_submitted, None);
}

fn events<'a>(fx: &'a [Effect], kind: &str) -> Vec<(&'a str, &'a str)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Event {
                kind: k,
                new,
                detail,
                ..
            } if *k == kind => Some((
                new.as_deref().unwrap_or(""),
                detail.as_deref().unwrap_or(""),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn unusable_cc_addresses_are_recorded_and_do_not_watch() {
    let req = "From: Ann <ann@corp.test>\r\nTo: helpdesk@example.test\r\nCc: <\"x y\"@corp.test>, john@corp.test., Boss <boss@corp.test>\r\nSubject: Printer broken\r\nMessage-ID: <m1@corp.test>";
    let fx = decide(&policy(), &mail(req, "It prints nothing."), None, 42, NOW);
    let watchers: Vec<&str> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Watch { address, .. } => Some(address.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(watchers, ["boss@corp.test"]);
    let refused = events(&fx, "watcher-refused");
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(refused[0].0, "\"x y\"@corp.test");
    assert!(refused[0].1.contains("quoted"), "{refused:?}");
    assert_eq!(refused[1].0, "john@corp.test.");
    assert!(refused[1].1.contains("empty part"), "{refused:?}");
}

#[test]
fn cc_add_refuses_an_address_no_mail_can_go_to() {
    let t = ticket(Status::Open);
    let fx = decide(
        &policy(),
        &from("Alice <alice@corp.test>", "#cc add jo..hn@corp.test\nDone."),
        Some(&Link::Tag(t)),
        99,
        NOW,
    );
    assert!(!fx.iter().any(|e| matches!(e, Effect::Watch { .. })));
    let refused = events(&fx, "commands-refused");
    assert!(refused[0].1.contains("two in a row"), "{refused:?}");
    assert!(sends(&fx).iter().any(|m| m.template == "command-result"));
}

#[test]
fn one_unusable_watcher_does_not_stop_an_answer_and_the_agent_is_told() {
    let mut t = ticket(Status::Open);
    // Stored before addresses were checked; all three were on the request
    // together, so one answer goes to them all.
    t.watchers = vec!["\"x y\"@corp.test".into(), "boss@corp.test".into()];
    t.request_addresses = vec![
        "ann@corp.test".into(),
        "\"x y\"@corp.test".into(),
        "boss@corp.test".into(),
    ];
    let fx = decide(
        &policy(),
        &from("Alice <alice@corp.test>", "Please restart it."),
        Some(&Link::Tag(t)),
        99,
        NOW,
    );
    let out = sends(&fx);
    let reply = out.iter().find(|m| m.template == "reply").expect("a reply");
    let to: Vec<&str> = reply.to.iter().map(|m| m.address.as_str()).collect();
    assert_eq!(to, ["ann@corp.test", "boss@corp.test"]);
    let dropped = events(&fx, "recipient-dropped");
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].0, "\"x y\"@corp.test");
    assert!(fx.iter().any(|e| matches!(e,
        Effect::Watch { address, add: false, .. } if address == "\"x y\"@corp.test")));
    let notice = out
        .iter()
        .find(|m| m.template == "bounce")
        .expect("a notice");
    assert_eq!(notice.to[0].address, "alice@corp.test");
    let detail = notice.vars["detail"].as_str().unwrap();
    assert!(detail.contains("\"x y\"@corp.test"), "{detail}");
    assert!(
        detail.contains("It went to ann@corp.test, boss@corp.test"),
        "{detail}"
    );
}

#[test]
fn commands_change_the_ticket_with_events_and_refusals_are_reported() {
    let body = "#priority high\n#category network\n#assign nina\n#prority low\n#category plumbing\n\nWorking on it.";
    let fx = decide(
        &policy(),
        &from("alice@corp.test", body),
        Some(&Link::Tag(ticket(Status::Open))),
        99,
        NOW,
    );
    let updates: Vec<(Field, Option<String>, Option<String>)> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Update {
                field,
                old,
                new,
                actor,
                ..
            } => {
                assert_eq!(actor, "alice");
                Some((*field, old.clone(), new.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        updates,
        [
            (Field::Priority, None, Some("P2".into())),
            (Field::Category, None, Some("network".into())),
            (Field::Assignee, None, Some("nina".into())),
        ]
    );
    let out = sends(&fx);
    let result = out
        .iter()
        .find(|m| m.template == "command-result")
        .expect("a reply to the agent");
    assert_eq!(result.to[0].address, "alice@corp.test");
    let refused = result.vars["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(
        refused[0]["reason"].as_str().unwrap().contains("#priority"),
        "{refused:?}"
    );
    assert!(
        refused[1]["reason"].as_str().unwrap().contains("plumbing"),
        "{refused:?}"
    );
    let reply = out.iter().find(|m| m.template == "reply").unwrap();
    assert_eq!(
        reply.vars["text"], "Working on it.",
        "command lines never reach the requester"
    );
}

#[test]
fn internal_note_goes_to_the_team_only() {
    let body = "#note\nI think the fuser is broken; ordering a part.";
    let fx = decide(
        &policy(),
        &from("alice@corp.test", body),
        Some(&Link::Tag(ticket(Status::Open))),
        99,
        NOW,
    );
    assert!(matches!(
        fx[0],
        Effect::Attach {
            kind: MessageKind::Note,
            ..
        }
    ));
    let out = sends(&fx);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].template, "note");
    assert_eq!(out[0].to[0].address, "desk-team@corp.test");
    assert!(
        !out.iter()
            .any(|m| m.to.iter().any(|t| t.address == "ann@corp.test"))
    );
    assert!(!fx.iter().any(|e| matches!(e, Effect::FirstResponse { .. })));
}

#[test]
fn resolve_sends_the_resolution_and_asks_to_confirm() {
    let fx = decide(
        &policy(),
        &from(
            "alice@corp.test",
            "#resolve\nThe toner was empty; I replaced it.",
        ),
        Some(&Link::Tag(ticket(Status::Open))),
        99,
        NOW,
    );
    assert_eq!(
        status_changes(&fx),
        [("open".to_string(), "resolved".to_string())]
    );
    let out = sends(&fx);
    assert_eq!(out[0].template, "resolved");
    assert_eq!(out[0].vars["text"], "The toner was empty; I replaced it.");
}

#[test]
fn escalation_moves_team_and_tier_and_tells_the_new_team() {
    let mut t = ticket(Status::Open);
    t.assignee = Some("alice".into());
    let fx = decide(
        &policy(),
        &from("alice@corp.test", "#escalate L2\n#note\nswitch port dead"),
        Some(&Link::Tag(t)),
        99,
        NOW,
    );
    let fields: Vec<Field> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Update { field, .. } => Some(*field),
            _ => None,
        })
        .collect();
    assert_eq!(fields, [Field::Team, Field::Tier, Field::Assignee]);
    let out = sends(&fx);
    let notice = out
        .iter()
        .find(|m| m.template == "escalated")
        .expect("the new team hears of it");
    assert_eq!(notice.to[0].address, "nina@corp.test");
}

#[test]
fn forged_agent_mail_changes_nothing() {
    let p = policy_with(
        "agent-authentication = \"dkim-or-spf\"\ntrusted-authserv-ids = [\"mx.corp.test\"]",
    );
    let forged = mail(
        "From: alice@corp.test\r\nSubject: Re: [#7] Printer broken\r\nMessage-ID: <f@evil>\r\nAuthentication-Results: mx.corp.test; dkim=fail header.d=corp.test; spf=softfail smtp.mailfrom=alice@corp.test",
        "#close\nclosing",
    );
    let fx = decide(&p, &forged, Some(&Link::Tag(ticket(Status::Open))), 99, NOW);
    assert!(matches!(
        fx[0],
        Effect::Attach {
            kind: MessageKind::Unverified,
            ..
        }
    ));
    assert!(status_changes(&fx).is_empty());
    assert!(sends(&fx).is_empty());
    assert!(fx.iter().any(|e| matches!(e, Effect::Event { kind: "unverified-agent-mail", detail: Some(d), .. } if d.contains("#close"))));

    let genuine = mail(
        "From: alice@corp.test\r\nSubject: Re: [#7] Printer broken\r\nMessage-ID: <g@corp>\r\nAuthentication-Results: mx.corp.test; dkim=pass header.d=corp.test header.s=s1; spf=pass smtp.mailfrom=alice@corp.test",
        "#close\nclosing",
    );
    let fx = decide(
        &p,
        &genuine,
        Some(&Link::Tag(ticket(Status::Open))),
        99,
        NOW,
    );
    assert_eq!(
        status_changes(&fx),
        [("open".to_string(), "closed".to_string())]
    );

    // An untrusted server's header counts for nothing.
    let elsewhere = mail(
        "From: alice@corp.test\r\nSubject: Re: [#7] x\r\nMessage-ID: <h@corp>\r\nAuthentication-Results: evil.test; dkim=pass header.d=corp.test",
        "#close",
    );
    let fx = decide(
        &p,
        &elsewhere,
        Some(&Link::Tag(ticket(Status::Open))),
        99,
        NOW,
    );
    assert!(status_changes(&fx).is_empty());
}

#[test]
fn forged_authentication_results_execute_nothing() {
    let p = policy_with(
        "agent-authentication = \"dkim-or-spf\"\ntrusted-authserv-ids = [\"mx.corp.test\"]",
    );
    let genuine_ar = "Authentication-Results: mx.corp.test; dkim=pass header.d=corp.test";
    for (what, headers) in [
        (
            "a pass written below the receiving server's own fail",
            "From: alice@corp.test\r\nAuthentication-Results: mx.corp.test; dkim=fail header.d=corp.test\r\nAuthentication-Results: mx.corp.test; dkim=pass header.d=corp.test".to_string(),
        ),
        (
            "a trusted id below the header of the server really used",
            "From: alice@corp.test\r\nAuthentication-Results: mx2.corp.test; dkim=none\r\nAuthentication-Results: mx.corp.test; dkim=pass header.d=corp.test".to_string(),
        ),
        (
            "a DKIM pass for another domain naming ours in another property",
            "From: alice@corp.test\r\nAuthentication-Results: mx.corp.test; dkim=pass header.d=evil.test header.s=corp.test".to_string(),
        ),
        (
            "an SPF pass for another envelope sender, ours as HELO",
            "From: alice@corp.test\r\nAuthentication-Results: mx.corp.test; spf=pass smtp.mailfrom=evil.test smtp.helo=corp.test".to_string(),
        ),
        (
            "no From: an agent's Reply-To with a genuine pass",
            format!("Reply-To: alice@corp.test\r\n{genuine_ar}"),
        ),
    ] {
        let m = mail(
            &format!("{headers}\r\nSubject: Re: [#7] Printer broken\r\nMessage-ID: <x@evil>"),
            "#close\nclosing",
        );
        let fx = decide(&p, &m, Some(&Link::Tag(ticket(Status::Open))), 99, NOW);
        assert!(status_changes(&fx).is_empty(), "{what}: {fx:?}");
    }
}

#[test]
fn agent_secret_proves_the_mail() {
    let p = policy_with("agent-authentication = \"secret\"");
    let ok = decide(
        &p,
        &from(
            "alice@corp.test",
            "#secret s3cret\n#pending\nPlease send a photo.",
        ),
        Some(&Link::Tag(ticket(Status::Open))),
        9,
        NOW,
    );
    assert_eq!(
        status_changes(&ok),
        [("open".to_string(), "pending".to_string())]
    );
    let bad = decide(
        &p,
        &from("alice@corp.test", "#secret guess\n#pending"),
        Some(&Link::Tag(ticket(Status::Open))),
        9,
        NOW,
    );
    assert!(status_changes(&bad).is_empty());
}

#[test]
fn requester_commands_are_not_executed() {
    let fx = decide(
        &policy(),
        &from("ann@corp.test", "#close\nplease"),
        Some(&Link::Tag(ticket(Status::Open))),
        9,
        NOW,
    );
    assert!(status_changes(&fx).is_empty());
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Event {
            kind: "commands-ignored",
            ..
        }
    )));
}

#[test]
fn requester_answer_wakes_a_pending_ticket_and_notifies_the_assignee() {
    let mut t = ticket(Status::Pending);
    t.assignee = Some("alice".into());
    let fx = decide(
        &policy(),
        &from("ann@corp.test", "Here is the photo."),
        Some(&Link::Tag(t)),
        9,
        NOW,
    );
    assert_eq!(
        status_changes(&fx),
        [("pending".to_string(), "open".to_string())]
    );
    let out = sends(&fx);
    assert_eq!(out[0].template, "notify-reply");
    assert_eq!(out[0].to[0].address, "alice@corp.test");
    let fx = decide(
        &policy(),
        &from("ann@corp.test", "More."),
        Some(&Link::Tag(ticket(Status::Open))),
        9,
        NOW,
    );
    assert_eq!(
        sends(&fx)[0].to[0].address,
        "desk-team@corp.test",
        "no assignee: the team hears"
    );
}

#[test]
fn confirmation_closes_and_sends_one_survey() {
    for word in ["confirm", "OK, thanks!", "确认", "好的，谢谢"] {
        let fx = decide(
            &policy(),
            &from("ann@corp.test", word),
            Some(&Link::Tag(ticket(Status::Resolved))),
            9,
            NOW,
        );
        assert_eq!(
            status_changes(&fx),
            [("resolved".to_string(), "closed".to_string())],
            "{word}"
        );
        assert_eq!(
            sends(&fx).iter().filter(|m| m.template == "survey").count(),
            1,
            "{word}"
        );
    }
    let mut t = ticket(Status::Resolved);
    t.requester_last_survey_at = Some(NOW - DAY);
    let fx = decide(
        &policy(),
        &from("ann@corp.test", "ok"),
        Some(&Link::Tag(t)),
        9,
        NOW,
    );
    assert!(
        !sends(&fx).iter().any(|m| m.template == "survey"),
        "quiet period"
    );
}

#[test]
fn not_fixed_reopens_and_tells_the_assignee() {
    let mut t = ticket(Status::Resolved);
    t.assignee = Some("alice".into());
    for text in [
        "No, it still does not print.",
        "ok but it is still broken",
        "还是不行",
    ] {
        let fx = decide(
            &policy(),
            &from("ann@corp.test", text),
            Some(&Link::Tag(t.clone())),
            9,
            NOW,
        );
        assert_eq!(
            status_changes(&fx),
            [("resolved".to_string(), "open".to_string())],
            "{text}"
        );
        let n = sends(&fx)[0];
        assert_eq!(
            (n.template, n.vars["notice"].as_str()),
            ("notify-reply", Some("reopened"))
        );
    }
}

#[test]
fn survey_answer_is_a_rating_and_low_ratings_reach_the_lead() {
    let mut t = ticket(Status::Closed);
    t.survey_sent = true;
    t.assignee = Some("alice".into());
    t.closed_at = Some(NOW - DAY);
    let fx = decide(
        &policy(),
        &from("ann@corp.test", "4 thanks"),
        Some(&Link::Tag(t.clone())),
        9,
        NOW,
    );
    assert!(fx.iter().any(|e| matches!(e, Effect::Rate { score: 4, comment, agent: Some(a), .. } if comment == "thanks" && a == "alice")));
    assert!(sends(&fx).is_empty());
    let fx = decide(
        &policy(),
        &from("ann@corp.test", "1 - nobody called back"),
        Some(&Link::Tag(t)),
        9,
        NOW,
    );
    let lead = sends(&fx)[0];
    assert_eq!(
        (lead.template, lead.to[0].address.as_str()),
        ("low-rating", "carol@corp.test")
    );
}

#[test]
fn ratings_parse() {
    assert_eq!(parse_rating("5"), Some((5, String::new())));
    assert_eq!(parse_rating(" 4 thanks"), Some((4, "thanks".into())));
    assert_eq!(parse_rating("3/5, ok"), Some((3, "ok".into())));
    assert_eq!(parse_rating("５分 很好"), Some((5, "很好".into())));
    assert_eq!(parse_rating("42"), None);
    assert_eq!(parse_rating("6"), None);
    assert_eq!(parse_rating("thanks"), None);
}

#[test]
fn reply_to_long_closed_ticket_opens_a_linked_one() {
    let mut t = ticket(Status::Closed);
    t.closed_at = Some(NOW - 30 * DAY);
    let fx = decide(
        &policy(),
        &from("ann@corp.test", "It broke again."),
        Some(&Link::Tag(t.clone())),
        50,
        NOW,
    );
    assert!(matches!(&fx[0], Effect::CreateTicket(n) if n.number == 50 && n.linked_to == Some(7)));
    t.closed_at = Some(NOW - DAY);
    let fx = decide(
        &policy(),
        &from("ann@corp.test", "It broke again."),
        Some(&Link::Tag(t)),
        50,
        NOW,
    );
    assert_eq!(
        status_changes(&fx),
        [("closed".to_string(), "open".to_string())]
    );
}

#[test]
fn stranger_with_a_tag_gets_a_ticket_of_their_own() {
    let fx = decide(
        &policy(),
        &from("mallory@else.test", "hello"),
        Some(&Link::Tag(ticket(Status::Open))),
        50,
        NOW,
    );
    assert!(matches!(&fx[0], Effect::CreateTicket(n) if n.number == 50 && n.linked_to == Some(7)));
    let ack = sends(&fx)
        .into_iter()
        .find(|m| m.template == "ack")
        .unwrap();
    assert_eq!(ack.vars["linked_to"], "[#7]");
}

#[test]
fn a_stranger_answering_our_mail_cannot_act_on_the_ticket() {
    // Replying by reference (our ack's Message-ID) is no key to the ticket.
    let mut t = ticket(Status::Resolved);
    t.resolved_at = Some(NOW - DAY);
    let fx = decide(
        &policy(),
        &from("mallory@else.test", "ok thanks"),
        Some(&Link::Reference(t.clone())),
        50,
        NOW,
    );
    assert!(matches!(&fx[0], Effect::CreateTicket(n) if n.number == 50 && n.linked_to == Some(7)));
    assert!(status_changes(&fx).is_empty(), "{fx:?}");
    // A closed ticket's survey cannot be rated by a stranger either.
    let mut closed = ticket(Status::Closed);
    closed.survey_sent = true;
    closed.closed_at = Some(NOW - DAY);
    let fx = decide(
        &policy(),
        &from("mallory@else.test", "1"),
        Some(&Link::Reference(closed)),
        51,
        NOW,
    );
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::Rate { .. })),
        "{fx:?}"
    );
}

#[test]
fn confirming_rating_and_reopening_are_the_requesters() {
    let mut resolved = ticket(Status::Resolved);
    resolved.resolved_at = Some(NOW - DAY);
    resolved.watchers = vec!["bob@corp.test".into()];
    let watcher_ok = decide(
        &policy(),
        &from("bob@corp.test", "ok thanks"),
        Some(&Link::Tag(resolved.clone())),
        50,
        NOW,
    );
    assert!(
        status_changes(&watcher_ok).is_empty(),
        "a watcher does not confirm: {watcher_ok:?}"
    );
    assert!(matches!(
        watcher_ok[0],
        Effect::Attach {
            kind: MessageKind::Reply,
            ..
        }
    ));
    let watcher_no = decide(
        &policy(),
        &from("bob@corp.test", "it is still broken"),
        Some(&Link::Tag(resolved.clone())),
        50,
        NOW,
    );
    assert!(
        status_changes(&watcher_no).is_empty(),
        "a watcher does not reopen"
    );
    let requester_ok = decide(
        &policy(),
        &from("ann@corp.test", "ok thanks"),
        Some(&Link::Tag(resolved)),
        50,
        NOW,
    );
    assert_eq!(
        status_changes(&requester_ok),
        [("resolved".to_string(), "closed".to_string())]
    );
    // A watcher's answer does wake a ticket waiting for information.
    let mut pending = ticket(Status::Pending);
    pending.watchers = vec!["bob@corp.test".into()];
    let fx = decide(
        &policy(),
        &from("bob@corp.test", "the serial number is 1234"),
        Some(&Link::Tag(pending)),
        50,
        NOW,
    );
    assert_eq!(
        status_changes(&fx),
        [("pending".to_string(), "open".to_string())]
    );
    // Only the requester rates.
    let mut closed = ticket(Status::Closed);
    closed.survey_sent = true;
    closed.closed_at = Some(NOW - DAY);
    closed.watchers = vec!["bob@corp.test".into()];
    let fx = decide(
        &policy(),
        &from("bob@corp.test", "1"),
        Some(&Link::Tag(closed)),
        50,
        NOW,
    );
    assert!(!fx.iter().any(|e| matches!(e, Effect::Rate { .. })));
}

/// The Postfix report fixture, about `original`, listing `failed`, with
/// `extra` headers on top (as the receiving server would add them).
fn dsn(original: &str, failed: &[&str], extra: &str) -> Inbound {
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/eml/bounce-postfix.eml"
    ))
    .unwrap()
    .replace("\r\n", "\n");
    let start = fixture.find("Final-Recipient:").unwrap();
    let end = fixture.find("    unavailable\n").unwrap() + "    unavailable\n".len();
    let blocks: Vec<String> = failed
        .iter()
        .map(|a| format!("Final-Recipient: rfc822; {a}\nAction: failed\nStatus: 5.1.1\n"))
        .collect();
    let raw = format!(
        "{extra}{}{}{}",
        &fixture[..start],
        blocks.join("\n"),
        &fixture[end..]
    )
    .replace("desk.1048.1701770560@desk.example.com", original);
    parse(raw.as_bytes()).unwrap()
}

fn suppressed(fx: &[Effect]) -> Vec<&str> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Suppress { address, .. } => Some(address.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_report_counts_only_for_the_recipients_of_a_mail_we_sent() {
    let p = policy();
    let t = ticket(Status::Open);
    let ack = SentMail {
        ticket: Some(7),
        recipients: vec!["ann@corp.test".into()],
    };
    // A stranger's "report" naming the requester, an agent and the team.
    let m = dsn(
        "ack@example.test",
        &["ann@corp.test", "alice@corp.test", "desk-team@corp.test"],
        "",
    );
    let known = Known {
        link: Some(&Link::Reference(t.clone())),
        next_number: 9,
        bounced: Some(&ack),
        ..Known::default()
    };
    let fx = super::decide(&p, &m, &known, NOW);
    assert_eq!(suppressed(&fx), ["ann@corp.test"], "{fx:?}");
    // About no mail we sent: recorded, nothing else.
    let none = Known {
        bounced: None,
        ..known
    };
    let fx = super::decide(&p, &m, &none, NOW);
    assert!(matches!(fx[..], [Effect::Ignore { .. }]), "{fx:?}");
    // A notice to the team bounced for an agent: never suppressed, the lead is told.
    let notice = SentMail {
        ticket: Some(7),
        recipients: vec!["alice@corp.test".into(), "carol@corp.test".into()],
    };
    let m = dsn("n@example.test", &["alice@corp.test"], "");
    let fx = super::decide(
        &p,
        &m,
        &Known {
            bounced: Some(&notice),
            ..known
        },
        NOW,
    );
    assert!(suppressed(&fx).is_empty(), "{fx:?}");
    let to: Vec<&str> = sends(&fx)
        .iter()
        .flat_map(|s| s.to.iter().map(|m| m.address.as_str()))
        .collect();
    assert!(to.contains(&"carol@corp.test"), "the lead: {to:?}");
    assert!(
        !to.contains(&"alice@corp.test"),
        "not the failed address: {to:?}"
    );
}

#[test]
fn a_report_from_an_authenticated_sender_or_failing_dmarc_is_ordinary_mail() {
    let p = policy_with("trusted-authserv-ids = [\"mx.corp.test\"]");
    let t = ticket(Status::Open);
    let ack = SentMail {
        ticket: Some(7),
        recipients: vec!["ann@corp.test".into()],
    };
    for header in [
        "Authentication-Results: mx.corp.test; spf=pass smtp.mailfrom=mallory@evil.test\n",
        "Authentication-Results: mx.corp.test; dmarc=fail header.from=desk.example.com\n",
    ] {
        let m = dsn("ack@example.test", &["ann@corp.test"], header);
        let known = Known {
            link: Some(&Link::Reference(t.clone())),
            next_number: 9,
            bounced: Some(&ack),
            ..Known::default()
        };
        let fx = super::decide(&p, &m, &known, NOW);
        assert!(suppressed(&fx).is_empty(), "{header}: {fx:?}");
        assert!(
            !fx.iter().any(|e| matches!(
                e,
                Effect::Attach {
                    kind: MessageKind::Bounce,
                    ..
                }
            )),
            "{header}"
        );
    }
}

#[test]
fn a_sender_nobody_can_answer_gets_a_ticket_and_no_acknowledgement() {
    for (from, why) in [
        ("From: @example.com", "nothing before the @"),
        (
            "From: Ann <ann@corp.test>, Bob <bob@corp.test>",
            "names 2 addresses and there is no Reply-To",
        ),
        ("From: Just A Name", "no sender address"),
        (
            "From: ann@corp.test\r\nReply-To: @example.com",
            "nothing before the @",
        ),
    ] {
        let m = mail(
            &format!(
                "{from}\r\nTo: helpdesk@example.test\r\nSubject: Printer\r\nMessage-ID: <u1@corp.test>"
            ),
            "It prints nothing.",
        );
        let fx = decide(&policy(), &m, None, 5, NOW);
        assert!(matches!(fx[0], Effect::CreateTicket(_)), "{from}: {fx:?}");
        let out = sends(&fx);
        assert!(
            !out.iter().any(|s| s.template == "ack"),
            "{from}: no acknowledgement is tried"
        );
        let no_ack = events(&fx, "no-acknowledgement");
        assert!(
            no_ack.iter().any(|(_, d)| d.contains(why)),
            "{from}: {no_ack:?}"
        );
        if why != "no sender address" {
            let notice = out
                .iter()
                .find(|s| s.template == "notify-new")
                .expect("team notice");
            let said = notice.vars["no_answer"].as_str().unwrap_or("");
            assert!(
                said.contains(why),
                "{from}: the team's notice says so: {said:?}"
            );
        }
    }
    // Two authors but a Reply-To: that is who to answer.
    let m = mail(
        "From: Ann <ann@corp.test>, Bob <bob@corp.test>\r\nReply-To: ann@corp.test\r\nTo: helpdesk@example.test\r\nSubject: Printer\r\nMessage-ID: <u2@corp.test>",
        "x",
    );
    let fx = decide(&policy(), &m, None, 5, NOW);
    assert!(sends(&fx).iter().any(|s| s.template == "ack"));
}

#[test]
fn out_of_office_changes_nothing() {
    let mut m = from("ann@corp.test", "I am out of the office until Monday.");
    m.auto
        .reasons
        .push(AutoReason::AutoSubmitted("auto-replied".into()));
    let mut t = ticket(Status::Pending);
    t.assignee = Some("alice".into());
    let fx = decide(&policy(), &m, Some(&Link::Tag(t)), 9, NOW);
    assert!(matches!(
        fx[0],
        Effect::Attach {
            kind: MessageKind::Automatic,
            ..
        }
    ));
    assert!(status_changes(&fx).is_empty());
    assert!(sends(&fx).is_empty());
}

#[test]
fn sweep_closes_unconfirmed_resolutions() {
    let mut t = ticket(Status::Resolved);
    t.resolved_at = Some(NOW - 6 * DAY);
    let fx = sweep(&policy(), &t, NOW);
    assert_eq!(
        status_changes(&fx),
        [("resolved".to_string(), "closed".to_string())]
    );
    assert!(
        matches!(&fx[0], Effect::Update { detail: Some(d), .. } if d == "closed without confirmation")
    );
    assert_eq!(sends(&fx)[0].template, "survey");
    t.resolved_at = Some(NOW - DAY);
    assert!(sweep(&policy(), &t, NOW).is_empty());
}

fn watches(fx: &[Effect]) -> Vec<&str> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Watch {
                address, add: true, ..
            } => Some(address.as_str()),
            _ => None,
        })
        .collect()
}

fn events_of<'a>(fx: &'a [Effect], kind: &str) -> Vec<&'a str> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Event {
                kind: k, detail, ..
            } if *k == kind => Some(detail.as_deref().unwrap_or("")),
            _ => None,
        })
        .collect()
}

#[test]
fn a_long_cc_list_makes_at_most_ten_watchers() {
    let cc: Vec<String> = (0..15).map(|i| format!("p{i}@corp.test")).collect();
    let req = format!(
        "From: Ann <ann@corp.test>\r\nTo: helpdesk@example.test\r\nCc: {}\r\nSubject: Printer broken\r\nMessage-ID: <m1@corp.test>",
        cc.join(", ")
    );
    let fx = decide(&policy(), &mail(&req, "It prints nothing."), None, 42, NOW);
    assert_eq!(watches(&fx), cc[..10], "the first ten, in the mail's order");
    let why = events_of(&fx, "watchers-left-out");
    assert_eq!(why.len(), 1, "{fx:?}");
    assert!(
        why[0].starts_with("5 people") && why[0].contains("workflow.watchers-per-mail"),
        "{why:?}"
    );
    assert!(why[0].contains("p10@corp.test"), "{why:?}");

    // Both limits are settings; the smaller one counts.
    let fx = decide(
        &policy_with("watchers-per-mail = 3"),
        &mail(&req, "x"),
        None,
        42,
        NOW,
    );
    assert_eq!(watches(&fx), cc[..3]);
    let fx = decide(
        &policy_with("watchers-per-ticket = 2"),
        &mail(&req, "x"),
        None,
        42,
        NOW,
    );
    assert_eq!(watches(&fx), cc[..2]);
    assert!(events_of(&fx, "watchers-left-out")[0].contains("workflow.watchers-per-ticket"));
    // A short list is taken whole, and nothing is said.
    let fx = decide(&policy(), &mail(REQ, "x"), None, 42, NOW);
    assert!(events_of(&fx, "watchers-left-out").is_empty());
}

#[test]
fn cc_add_stops_at_the_watcher_limits() {
    // Twenty already: the most a ticket can have.
    let mut full = ticket(Status::Open);
    full.watchers = (0..20).map(|i| format!("w{i}@corp.test")).collect();
    let fx = decide(
        &policy(),
        &from("alice@corp.test", "#cc add new@corp.test\n\nAdded."),
        Some(&Link::Tag(full)),
        99,
        NOW,
    );
    assert!(watches(&fx).is_empty(), "{fx:?}");
    let refused = events_of(&fx, "commands-refused");
    assert!(
        refused[0].contains("workflow.watchers-per-ticket"),
        "{refused:?}"
    );

    // Eleven in one mail: ten are added, the eleventh is refused with why.
    let body: String = (0..11)
        .map(|i| format!("#cc add n{i}@corp.test\n"))
        .collect::<String>()
        + "\nAdded the team.";
    let fx = decide(
        &policy(),
        &from("alice@corp.test", &body),
        Some(&Link::Tag(ticket(Status::Open))),
        99,
        NOW,
    );
    assert_eq!(watches(&fx).len(), 10);
    let refused = events_of(&fx, "commands-refused");
    assert!(
        refused[0].contains("n10@corp.test") && refused[0].contains("workflow.watchers-per-mail"),
        "{refused:?}"
    );
}

#[test]
fn watchers_see_only_those_who_were_on_the_request_with_them() {
    let mut t = ticket(Status::Open);
    // Bob and Cora were in Cc of Ann's request; Dave and Erin were added later.
    t.request_addresses = [
        "ann@corp.test",
        "helpdesk@example.test",
        "bob@corp.test",
        "cora@corp.test",
    ]
    .map(String::from)
    .to_vec();
    t.watchers = [
        "bob@corp.test",
        "cora@corp.test",
        "dave@corp.test",
        "erin@corp.test",
    ]
    .map(String::from)
    .to_vec();
    let fx = decide(
        &policy(),
        &from("alice@corp.test", "It is fixed now."),
        Some(&Link::Tag(t)),
        99,
        NOW,
    );
    let to: Vec<Vec<&str>> = sends(&fx)
        .iter()
        .filter(|m| m.template == "reply")
        .map(|m| m.to.iter().map(|x| x.address.as_str()).collect())
        .collect();
    assert_eq!(
        to,
        [
            vec!["ann@corp.test", "bob@corp.test", "cora@corp.test"],
            vec!["dave@corp.test"],
            vec!["erin@corp.test"],
        ],
        "one mail to those who were together, a copy of their own for the others"
    );
    let texts: Vec<&serde_json::Value> = sends(&fx).iter().map(|m| &m.vars["text"]).collect();
    assert!(texts.iter().all(|v| *v == "It is fixed now."), "{texts:?}");
}

#[path = "agent_tools_tests.rs"]
mod agent_tools;
