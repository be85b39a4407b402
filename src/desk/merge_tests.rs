//! `#merge` and `#split`, parsed and decided on constructed mail.

use super::*;
use crate::config::Config;
use crate::desk::commands::parse_block;
use crate::desk::decide::{Known, decide};
use crate::desk::ticket::{Field, Status};
use crate::inbound::{Inbound, parse};
use crate::thread::Link;
use std::path::Path;

const NOW: i64 = 1_796_004_000_000;

fn policy(auth: &str) -> Policy {
    let cfg = Config::from_toml(
        &format!(
            r#"
[desk]
name = "IT Desk"
address = "helpdesk@example.test"
[workflow]
agent-authentication = "{auth}"
[[team]]
name = "service-desk"
tier = "L1"
address = "desk-team@corp.test"
[[agent]]
name = "alice"
display-name = "Alice Wang"
addresses = ["alice@corp.test"]
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

fn ticket(number: i64, requester: &str) -> TicketState {
    TicketState {
        number,
        status: Some(Status::Open),
        requester: requester.into(),
        subject: format!("Printer broken {number}"),
        team: Some("service-desk".into()),
        thread: vec![format!("req{number}@corp.test")],
        ..TicketState::default()
    }
}

fn agent_mail(body: &str) -> Inbound {
    parse(
        format!(
            "From: alice@corp.test\r\nTo: helpdesk@example.test\r\nSubject: Re: [#7] Printer\r\nMessage-ID: <a{}@corp.test>\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap()
}

fn run(p: &Policy, t: &TicketState, body: &str, related: &Related) -> Vec<Effect> {
    let link = Link::Tag(t.clone());
    let known = Known {
        link: Some(&link),
        next_number: related.next_number,
        related: Some(related),
        ..Known::default()
    };
    decide(p, &agent_mail(body), &known, NOW)
}

fn with(tickets: &[&TicketState]) -> Related {
    Related {
        tickets: tickets.iter().map(|t| (t.number, (*t).clone())).collect(),
        split: None,
        next_number: 20,
        request_text: None,
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

fn refused(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Event {
                kind: "commands-refused",
                detail,
                ..
            } => detail.clone(),
            _ => None,
        })
        .collect()
}

fn merges(fx: &[Effect]) -> Vec<(i64, i64)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Merge { from, into, .. } => Some((*from, *into)),
            _ => None,
        })
        .collect()
}

#[test]
fn merge_and_split_parse_in_english_and_chinese() {
    let one = |text: &str| {
        let b = parse_block(text);
        assert!(b.refused.is_empty(), "{text}: {:?}", b.refused);
        b.commands[0].command.clone()
    };
    let m = |into, force| Command::Merge { into, force };
    assert_eq!(one("#merge 1042"), m(1042, false));
    assert_eq!(one("#merge #1042"), m(1042, false));
    assert_eq!(one("#merge [#1042] force"), m(1042, true));
    assert_eq!(one("#Merge 1042 FORCE"), m(1042, true));
    assert_eq!(one("#合并 1042"), m(1042, false));
    assert_eq!(one("#合并：1042 强制"), m(1042, true));
    assert_eq!(one("#合并1042"), m(1042, false));
    assert_eq!(one("#split"), Command::Split);
    assert_eq!(one("#拆分"), Command::Split);
    for (bad, says) in [
        ("#merge", "needs a ticket number"),
        ("#merge ticket", "not a ticket number"),
        ("#merge 0", "not a ticket number"),
        ("#merge 1042 now", "unexpected `now`"),
        ("#merge 1042 force please", "optionally `force`"),
        ("#split 1042", "takes no value"),
    ] {
        let b = parse_block(bad);
        assert!(b.commands.is_empty(), "{bad}");
        assert!(b.refused[0].reason.contains(says), "{bad}: {:?}", b.refused);
    }
    assert_eq!(
        wanted("#merge 9\n#split\nthanks"),
        Wanted {
            tickets: vec![9],
            split: true,
            request: false,
        }
    );
    assert!(wanted("#approval boss@corp.test new server\nthanks").request);
    assert_eq!(wanted("hello\n#merge 9"), Wanted::default());
}

#[test]
fn merging_closes_the_ticket_moves_it_and_tells_the_requester_once() {
    let p = policy("none");
    let (t, into) = (ticket(7, "ann@corp.test"), ticket(9, "ann@corp.test"));
    let fx = run(&p, &t, "#merge 9", &with(&[&into]));
    assert!(refused(&fx).is_empty(), "{fx:?}");
    assert_eq!(merges(&fx), [(7, 9)]);
    assert!(
        matches!(fx.last(), Some(Effect::Merge { .. })),
        "last, so what the mail writes about #7 moves too"
    );
    assert!(fx.iter().any(|e| matches!(e,
        Effect::Update { ticket: 7, field: Field::Status, new: Some(s), .. } if s == "closed")));
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Event {
            ticket: 9,
            kind: "merged-in",
            ..
        }
    )));
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Event {
            ticket: 7,
            kind: "merged",
            ..
        }
    )));
    let mails = sends(&fx);
    assert_eq!(mails.len(), 1, "one requester, one mail: {mails:?}");
    assert_eq!(mails[0].template, "merged");
    assert_eq!(mails[0].to[0].address, "ann@corp.test");
    assert!(mails[0].subject.starts_with("[#9]"), "{}", mails[0].subject);
    assert_eq!(mails[0].vars["merged_tag"], "[#7]");
    assert!(
        !mails.iter().any(|m| m.template == "survey"),
        "merged, not finished: no survey"
    );
}

#[test]
fn other_requesters_need_force_and_then_both_are_told_and_the_first_watches() {
    let p = policy("none");
    let (t, into) = (ticket(7, "ann@corp.test"), ticket(9, "bob@corp.test"));
    let fx = run(&p, &t, "#merge 9", &with(&[&into]));
    assert!(merges(&fx).is_empty());
    assert!(refused(&fx)[0].contains("#merge 9 force"), "{fx:?}");
    assert!(sends(&fx).iter().any(|m| m.template == "command-result"));

    let fx = run(&p, &t, "#merge 9 force", &with(&[&into]));
    assert_eq!(merges(&fx), [(7, 9)]);
    let mut told: Vec<&str> = sends(&fx)
        .iter()
        .filter(|m| m.template == "merged")
        .map(|m| m.to[0].address.as_str())
        .collect();
    told.sort();
    assert_eq!(told, ["ann@corp.test", "bob@corp.test"]);
    assert!(
        fx.iter().any(|e| matches!(e,
            Effect::Watch { ticket: 9, address, add: true, .. } if address == "ann@corp.test")),
        "ann's next mail to #9 must be hers, not a stranger's: {fx:?}"
    );
}

#[test]
fn merges_that_cannot_be_are_refused_with_a_reason() {
    let p = policy("none");
    let t = ticket(7, "ann@corp.test");
    let mut closed = ticket(9, "ann@corp.test");
    closed.status = Some(Status::Closed);
    for (body, related, says) in [
        ("#merge 7", with(&[&t]), "into itself"),
        ("#merge 8", with(&[]), "no ticket #8"),
        ("#merge 9", with(&[&closed]), "reopen it"),
    ] {
        let fx = run(&p, &t, body, &related);
        assert!(merges(&fx).is_empty(), "{body}");
        let why = refused(&fx);
        assert!(why[0].contains(says), "{body}: {why:?}");
    }
    // The old number of a ticket merged into this one.
    let mut through_alias = with(&[]);
    through_alias.tickets.push((5, t.clone()));
    let fx = run(&p, &t, "#merge 5", &through_alias);
    assert!(refused(&fx)[0].contains("#5 was merged into this ticket"));
}

#[test]
fn an_unproven_agent_cannot_merge() {
    let p = policy("secret");
    let (t, into) = (ticket(7, "ann@corp.test"), ticket(9, "ann@corp.test"));
    let fx = run(&p, &t, "#merge 9", &with(&[&into]));
    assert!(merges(&fx).is_empty(), "{fx:?}");
    assert!(sends(&fx).is_empty());
}

#[test]
fn split_makes_the_answered_mail_a_linked_ticket_of_its_sender() {
    let p = policy("none");
    let t = ticket(7, "ann@corp.test");
    let mut related = with(&[]);
    related.split = Some(SplitSource {
        first_row: 31,
        last_row: 40,
        sender: Mailbox::new(Some("Bob"), "bob@corp.test"),
        subject: "Re: [#7] Also the scanner".into(),
        message_id: "bob1@corp.test".into(),
    });
    let fx = run(&p, &t, "#split", &related);
    assert!(refused(&fx).is_empty(), "{fx:?}");
    let created = fx
        .iter()
        .find_map(|e| match e {
            Effect::CreateTicket(n) => Some(n),
            _ => None,
        })
        .expect("a new ticket");
    assert_eq!(created.number, 20);
    assert_eq!(created.requester.address, "bob@corp.test");
    assert_eq!(created.linked_to, Some(7));
    assert_eq!(created.subject, "Also the scanner");
    assert!(fx.contains(&Effect::Split {
        from: 7,
        into: 20,
        first_row: 31,
        last_row: 40
    }));
    let told = sends(&fx);
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].template, "split");
    assert_eq!(told[0].to[0].address, "bob@corp.test");
    assert_eq!(told[0].in_reply_to.as_deref(), Some("bob1@corp.test"));
    assert!(told[0].subject.starts_with("[#20]"));

    // Nothing to split off: refused.
    let fx = run(&p, &t, "#split", &with(&[]));
    assert!(!fx.iter().any(|e| matches!(e, Effect::Split { .. })));
    assert!(refused(&fx)[0].contains("reply to the mail to split off"));
    // An agent's own mail is not a request.
    related.split.as_mut().unwrap().sender = Mailbox::new(None, "alice@corp.test");
    let fx = run(&p, &t, "#split", &related);
    assert!(refused(&fx)[0].contains("from an agent"));
}
