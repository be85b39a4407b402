//! `#approval`, the approver's answer and the reminder, decided on constructed mail.

use super::*;
use crate::config::Config;
use crate::desk::decide::{Known, decide};
use crate::desk::ticket::{Field, Status};
use crate::thread::Link;
use std::path::Path;

const NOW: i64 = 1_796_004_000_000;
const HOUR: i64 = 3_600_000;

fn policy() -> Policy {
    let cfg = Config::from_toml(
        r#"
[desk]
name = "IT Desk"
address = "helpdesk@example.test"
[workflow]
agent-authentication = "none"
trusted-authserv-ids = ["mx.example.test"]
[approval]
remind-after = "4h"
[approval.approvers]
server = "cio@corp.test"
[[team]]
name = "service-desk"
address = "desk-team@corp.test"
[[agent]]
name = "alice"
display-name = "Alice Wang"
addresses = ["alice@corp.test"]
team = "service-desk"
"#,
        Path::new("t.toml"),
        Path::new("."),
    )
    .unwrap();
    crate::pipeline::policy_from_config(&cfg, crate::thread::IdKey::fixed(7)).unwrap()
}

fn ticket(status: Status) -> TicketState {
    TicketState {
        number: 7,
        status: Some(status),
        requester: "ann@corp.test".into(),
        subject: "New server".into(),
        team: Some("service-desk".into()),
        category: Some("server".into()),
        ..TicketState::default()
    }
}

fn mail(from: &str, subject: &str, extra: &str, body: &str) -> Inbound {
    crate::inbound::parse(
        format!(
            "From: {from}\r\nTo: helpdesk@example.test\r\nSubject: {subject}\r\nMessage-ID: <m{}@x>\r\n{extra}\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap()
}

fn on(t: &TicketState, m: &Inbound, p: Option<&Pending>) -> Vec<Effect> {
    let link = Link::Tag(t.clone());
    let known = Known {
        link: Some(&link),
        next_number: 20,
        approval: p,
        ..Known::default()
    };
    decide(&policy(), m, &known, NOW)
}

fn pending() -> Pending {
    Pending {
        id: 3,
        ticket: 7,
        approver: "boss@corp.test".into(),
        reason: "new server".into(),
        requested_by: "alice".into(),
        token: "pdap-00112233aabbccdd".into(),
        requested_at: NOW - HOUR,
        reminded_at: None,
        decided: false,
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

fn new_status(fx: &[Effect]) -> Option<&str> {
    fx.iter().find_map(|e| match e {
        Effect::Update {
            field: Field::Status,
            new,
            ..
        } => new.as_deref(),
        _ => None,
    })
}

#[test]
fn asking_waits_pauses_and_mails_the_approver_two_links_with_a_token() {
    let t = ticket(Status::Open);
    let m = mail(
        "alice@corp.test",
        "Re: [#7] New server",
        "",
        "#approval boss@corp.test budget line 4\n",
    );
    let fx = on(&t, &m, None);
    assert_eq!(new_status(&fx), Some("awaiting-approval"));
    let asked = fx
        .iter()
        .find_map(|e| match e {
            Effect::ApprovalAsked {
                approver,
                reason,
                token,
                pause_sla,
                ..
            } => Some((approver, reason, token, *pause_sla)),
            _ => None,
        })
        .expect("recorded");
    assert_eq!(asked.0, "boss@corp.test");
    assert_eq!(asked.1, "budget line 4");
    assert!(
        asked.2.starts_with("pdap-") && asked.2.len() == 21,
        "{}",
        asked.2
    );
    assert!(asked.3, "the SLA clock pauses by default");
    let to_boss: Vec<&OutMail> = sends(&fx)
        .into_iter()
        .filter(|m| m.template == "approval-request")
        .collect();
    assert_eq!(to_boss.len(), 1);
    assert_eq!(to_boss[0].to[0].address, "boss@corp.test");
    assert!(to_boss[0].subject.contains(asked.2.as_str()));
    let approve = to_boss[0].vars["approve_href"].as_str().unwrap();
    assert!(approve.starts_with("mailto:helpdesk@example.test?subject="));
    assert!(approve.contains(asked.2.as_str()) && approve.contains("approve"));
    assert!(
        to_boss[0].vars["reject_href"]
            .as_str()
            .unwrap()
            .contains("reject")
    );
    // Two tickets, two tokens: nobody guesses one from another.
    let mut t2 = t.clone();
    t2.number = 8;
    let fx2 = on(&t2, &m, None);
    let token2 = fx2.iter().find_map(|e| match e {
        Effect::ApprovalAsked { token, .. } => Some(token.clone()),
        _ => None,
    });
    assert_ne!(token2.as_deref(), Some(asked.2.as_str()));
}

#[test]
fn the_categorys_approver_is_asked_when_none_is_named_and_refusals_say_why() {
    let t = ticket(Status::Open);
    let m = mail("alice@corp.test", "Re: [#7] x", "", "#审批 需要新服务器\n");
    let fx = on(&t, &m, None);
    assert!(fx.iter().any(|e| matches!(e,
        Effect::ApprovalAsked { approver, .. } if approver == "cio@corp.test")));
    let mut other = t.clone();
    other.category = Some("printer".into());
    for (t, body, says) in [
        (other, "#approval\n", "name the approver"),
        (
            ticket(Status::AwaitingApproval),
            "#approval boss@corp.test\n",
            "already waits",
        ),
        (
            ticket(Status::Resolved),
            "#approval boss@corp.test\n",
            "#reopen",
        ),
        (
            ticket(Status::Open),
            "#approval alice@corp.test\n",
            "your own request",
        ),
    ] {
        let fx = on(&t, &mail("alice@corp.test", "Re: [#7] x", "", body), None);
        assert!(
            !fx.iter().any(|e| matches!(e, Effect::ApprovalAsked { .. })),
            "{body}"
        );
        let refused = fx.iter().find_map(|e| match e {
            Effect::Event {
                kind: "commands-refused",
                detail,
                ..
            } => detail.clone(),
            _ => None,
        });
        assert!(
            refused.as_deref().unwrap_or("").contains(says),
            "{body}: {refused:?}"
        );
    }
}

#[test]
fn the_approvers_answer_with_the_token_decides_and_tells_the_agent() {
    let t = ticket(Status::AwaitingApproval);
    let p = pending();
    for (body, approved, comment) in [
        ("approve\n", true, ""),
        ("Approved, go ahead\nbudget ok", true, "go ahead\nbudget ok"),
        ("批准：预算已批", true, "预算已批"),
        ("reject: too expensive", false, "too expensive"),
        ("拒绝", false, ""),
    ] {
        let m = mail(
            "Boss <boss@corp.test>",
            "Re: [#7] Approval needed (pdap-00112233aabbccdd): New server",
            "",
            body,
        );
        let fx = on(&t, &m, Some(&p));
        let decided = fx.iter().find_map(|e| match e {
            Effect::ApprovalDecided {
                id: 3,
                approved,
                comment,
                ..
            } => Some((*approved, comment.clone())),
            _ => None,
        });
        assert_eq!(
            decided,
            Some((approved, comment.to_string())),
            "{body}: {fx:?}"
        );
        assert_eq!(new_status(&fx), Some("open"), "{body}");
        let told = sends(&fx);
        assert_eq!(told.len(), 1, "{body}");
        assert_eq!(told[0].template, "approval-decided");
        assert_eq!(told[0].to[0].address, "alice@corp.test");
        assert!(
            !sends(&fx)
                .iter()
                .any(|m| m.to.iter().any(|x| x.address == "ann@corp.test")),
            "the requester hears nothing of it"
        );
    }
    // A mailto link: the decision is in the subject, the body empty.
    let m = mail(
        "boss@corp.test",
        "[#7] reject pdap-00112233aabbccdd",
        "",
        "",
    );
    let fx = on(&t, &m, Some(&p));
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::ApprovalDecided {
            approved: false,
            ..
        }
    )));
}

#[test]
fn forged_answers_are_refused_and_change_nothing() {
    let t = ticket(Status::AwaitingApproval);
    let p = pending();
    let subject = "Re: [#7] Approval needed (pdap-00112233aabbccdd): New server";
    let cases = [
        // The right token from somebody else.
        mail("mallory@evil.test", subject, "", "approve\n"),
        // The requester approving their own request.
        mail("ann@corp.test", subject, "", "approve\n"),
        // The approver's From with a wrong token.
        mail(
            "boss@corp.test",
            "Re: [#7] Approval needed (pdap-ffffffffffffffff): New server",
            "",
            "approve\n",
        ),
        // The approver's From, no token, no authentication.
        mail("boss@corp.test", "Re: [#7] New server", "", "approve\n"),
        // Authentication by a server we do not trust.
        mail(
            "boss@corp.test",
            "Re: [#7] New server",
            "Authentication-Results: mx.evil.test; dkim=pass header.d=corp.test\r\n",
            "approve\n",
        ),
        // The right person and token, but no decision.
        mail("boss@corp.test", subject, "", "let me think\n"),
    ];
    for m in &cases {
        let fx = on(&t, m, Some(&p));
        assert!(
            !fx.iter()
                .any(|e| matches!(e, Effect::ApprovalDecided { .. })),
            "{}: {fx:?}",
            m.sender_address()
        );
        assert_eq!(new_status(&fx), None);
        assert!(fx.iter().any(|e| matches!(
            e,
            Effect::Event {
                kind: "approval-refused",
                ..
            }
        )));
        assert!(
            fx.iter().any(|e| matches!(
                e,
                Effect::Attach {
                    kind: MessageKind::Unverified,
                    ..
                }
            )),
            "kept, as unverified"
        );
    }
    // A second click on a link, once decided: refused, nobody told.
    let mut done = p.clone();
    done.decided = true;
    let m = mail("boss@corp.test", subject, "", "approve\n");
    let fx = on(&ticket(Status::Open), &m, Some(&done));
    assert!(
        !fx.iter()
            .any(|e| matches!(e, Effect::ApprovalDecided { .. }))
    );
    assert!(sends(&fx).is_empty(), "{fx:?}");
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Event {
            kind: "approval-refused",
            ..
        }
    )));
    // Authenticated by our own trusted server: no token needed.
    let m = mail(
        "boss@corp.test",
        "Re: [#7] New server",
        "Authentication-Results: mx.example.test; dkim=pass header.d=corp.test\r\n",
        "approve\n",
    );
    let fx = on(&t, &m, Some(&p));
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::ApprovalDecided { approved: true, .. })),
        "{fx:?}"
    );
}

#[test]
fn reminders_go_every_remind_after_while_it_waits() {
    let p = policy();
    let t = ticket(Status::AwaitingApproval);
    let mut a = pending();
    assert!(reminder(&p, &t, &a, None, NOW).is_empty(), "1h of 4h");
    a.requested_at = NOW - 5 * HOUR;
    let fx = reminder(&p, &t, &a, None, NOW);
    assert!(fx.contains(&Effect::ApprovalReminded { id: 3 }));
    let m = sends(&fx);
    assert_eq!(m[0].to[0].address, "boss@corp.test");
    assert_eq!(m[0].vars["reminder"], true);
    a.reminded_at = Some(NOW - HOUR);
    assert!(
        reminder(&p, &t, &a, None, NOW).is_empty(),
        "reminded an hour ago"
    );
    let withdrawn = ticket(Status::Open);
    a.reminded_at = None;
    assert!(
        reminder(&p, &withdrawn, &a, None, NOW).is_empty(),
        "no longer waiting"
    );
}

#[test]
fn the_approver_reads_what_the_requester_asked_cut_when_long() {
    let t = ticket(Status::Open);
    let m = mail(
        "alice@corp.test",
        "Re: [#7] New server",
        "",
        "#approval boss@corp.test budget line 4\n",
    );
    let link = Link::Tag(t.clone());
    let related = crate::desk::merge::Related {
        request_text: Some("  We need a second file server before the audit.\n".into()),
        ..crate::desk::merge::Related::default()
    };
    let known = Known {
        link: Some(&link),
        next_number: 20,
        related: Some(&related),
        ..Known::default()
    };
    let fx = decide(&policy(), &m, &known, NOW);
    let to_boss = sends(&fx)
        .into_iter()
        .find(|m| m.template == "approval-request")
        .expect("the approver's mail");
    assert_eq!(
        to_boss.vars["request"],
        "We need a second file server before the audit."
    );
    // A long request (a log pasted in) is cut, and says so.
    let long = "日志".repeat(1_500);
    let p = pending();
    let shown = request_mail(&policy(), &t, &p, Some(&long), true);
    let text = shown.vars["request"].as_str().unwrap();
    assert_eq!(text.chars().count(), REQUEST_SHOWN + 2);
    assert!(text.ends_with(" …"), "{text}");
    // Nothing found (an imported ticket without its request): empty.
    let none = request_mail(&policy(), &t, &p, None, false);
    assert_eq!(none.vars["request"], "");
}
