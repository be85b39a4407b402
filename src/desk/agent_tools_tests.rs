//! Decisions for the agents' everyday tools: answers the customer got
//! directly, `#time`, `#reply`, tickets on someone's behalf (forwards and
//! `#new`).

use super::*;

fn events_of_kind<'a>(fx: &'a [Effect], kind: &str) -> Vec<&'a str> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Event {
                kind: k, detail, ..
            } if *k == kind => Some(detail.as_deref().unwrap_or("")),
            _ => None,
        })
        .collect()
}

fn reply_all(to: &str, cc: &str, body: &str) -> Inbound {
    mail(
        &format!(
            "From: Alice <alice@corp.test>\r\nTo: {to}\r\nCc: {cc}\r\nSubject: Re: [#7] Printer broken\r\nMessage-ID: <ra{}@corp.test>",
            body.len()
        ),
        body,
    )
}

#[test]
fn a_reply_all_is_the_agents_answer_but_not_sent_to_the_customer_again() {
    let mut t = ticket(Status::New);
    t.watchers = vec!["boss@corp.test".into(), "later@corp.test".into()];
    t.request_addresses = vec!["ann@corp.test".into(), "boss@corp.test".into()];
    let m = reply_all(
        "Ann <ann@corp.test>",
        "helpdesk@example.test, boss@corp.test",
        "#pending\nPlease restart it.",
    );
    let fx = decide(&policy(), &m, Some(&Link::Tag(t)), 99, NOW);
    assert!(matches!(
        fx[0],
        Effect::Attach {
            kind: MessageKind::AgentReply,
            ..
        }
    ));
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::FirstResponse { ticket: 7 }))
    );
    assert_eq!(status_changes(&fx), [("new".into(), "pending".into())]);
    let out = sends(&fx);
    assert_eq!(out.len(), 1, "{out:?}");
    let to: Vec<&str> = out[0].to.iter().map(|m| m.address.as_str()).collect();
    assert_eq!(
        to,
        ["later@corp.test"],
        "only the watcher who was not on it"
    );
    assert_eq!(out[0].vars["text"], "Please restart it.");
    assert_eq!(
        events_of_kind(&fx, "answered-directly"),
        ["already received the agent's mail: ann@corp.test, boss@corp.test"]
    );
}

#[test]
fn a_reply_all_to_everyone_sends_nothing_and_a_mail_to_the_desk_relays_as_before() {
    let t = ticket(Status::Open);
    let m = reply_all("ann@corp.test", "helpdesk@example.test", "It is fixed now.");
    let fx = decide(&policy(), &m, Some(&Link::Tag(t.clone())), 99, NOW);
    assert!(sends(&fx).is_empty(), "{:?}", sends(&fx));
    assert_eq!(events_of_kind(&fx, "answered-directly").len(), 1);

    let m = reply_all("helpdesk@example.test", "", "It is fixed now.");
    let fx = decide(&policy(), &m, Some(&Link::Tag(t)), 99, NOW);
    assert_eq!(sends(&fx).len(), 1);
    assert!(events_of_kind(&fx, "answered-directly").is_empty());
}

#[test]
fn a_forged_reply_all_changes_nothing() {
    let p = policy_with("agent-authentication = \"secret\"");
    let m = reply_all("ann@corp.test", "helpdesk@example.test", "#resolve\nDone.");
    let fx = decide(&p, &m, Some(&Link::Tag(ticket(Status::Open))), 99, NOW);
    assert!(sends(&fx).is_empty());
    assert!(status_changes(&fx).is_empty());
    assert_eq!(events_of_kind(&fx, "unverified-agent-mail").len(), 1);
}

fn time_entries(fx: &[Effect]) -> Vec<(&str, u32)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::TimeWorked { agent, minutes, .. } => Some((agent.as_str(), *minutes)),
            _ => None,
        })
        .collect()
}

#[test]
fn time_is_recorded_for_the_verified_agent_only() {
    let m = from("alice@corp.test", "#time 1h30m\n#工时 15m\n");
    let fx = decide(
        &policy(),
        &m,
        Some(&Link::Tag(ticket(Status::Open))),
        99,
        NOW,
    );
    assert_eq!(time_entries(&fx), [("alice", 90), ("alice", 15)]);
    assert!(sends(&fx).is_empty(), "a command-only mail is a note");

    let p = policy_with("agent-authentication = \"secret\"");
    let fx = decide(&p, &m, Some(&Link::Tag(ticket(Status::Open))), 99, NOW);
    assert!(time_entries(&fx).is_empty());

    // A requester's #time is text, and recorded as ignored.
    let m = from("ann@corp.test", "#time 8h\nplease hurry");
    let fx = decide(
        &policy(),
        &m,
        Some(&Link::Tag(ticket(Status::Open))),
        99,
        NOW,
    );
    assert!(time_entries(&fx).is_empty());
    assert_eq!(events_of_kind(&fx, "commands-ignored").len(), 1);
}

fn with_replies() -> Policy {
    let mut p = policy();
    p.canned.add("more-info", Lang::En);
    p.canned.add("more-info", Lang::ZhCn);
    p.canned.add("vpn-reset", Lang::En);
    p
}

#[test]
fn a_canned_reply_goes_out_after_the_agents_words() {
    let m = from("alice@corp.test", "#reply more-info\nHello Ann,");
    let fx = decide(
        &with_replies(),
        &m,
        Some(&Link::Tag(ticket(Status::Open))),
        99,
        NOW,
    );
    let out = sends(&fx);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].vars["canned"], "more-info");
    assert_eq!(out[0].vars["text"], "Hello Ann,");
    assert_eq!(events_of_kind(&fx, "canned-reply"), ["more-info"]);
    // Without words of the agent's own it is still an answer, not a note.
    let m = from("alice@corp.test", "#回复 more-info\n");
    let fx = decide(
        &with_replies(),
        &m,
        Some(&Link::Tag(ticket(Status::New))),
        99,
        NOW,
    );
    assert!(matches!(
        fx[0],
        Effect::Attach {
            kind: MessageKind::AgentReply,
            ..
        }
    ));
    assert_eq!(sends(&fx).len(), 1);
    assert!(fx.iter().any(|e| matches!(e, Effect::FirstResponse { .. })));
}

fn refusals(fx: &[Effect]) -> Vec<&str> {
    events_of_kind(fx, "commands-refused")
}

#[test]
fn a_canned_reply_is_refused_when_unknown_in_a_note_or_in_the_wrong_language() {
    let p = with_replies();
    let open = || Some(Link::Tag(ticket(Status::Open)));
    let fx = decide(
        &p,
        &from("alice@corp.test", "#reply nope\n"),
        open().as_ref(),
        99,
        NOW,
    );
    assert!(refusals(&fx)[0].contains("no reply `nope`; there are: more-info, vpn-reset"));
    assert!(sends(&fx).iter().all(|m| m.template == "command-result"));

    let fx = decide(
        &p,
        &from("alice@corp.test", "#note\n#reply more-info\n"),
        open().as_ref(),
        99,
        NOW,
    );
    assert!(
        refusals(&fx)[0].contains("internal note"),
        "{:?}",
        refusals(&fx)
    );

    let mut zh = ticket(Status::Open);
    zh.lang = Lang::ZhCn;
    let fx = decide(
        &p,
        &from("alice@corp.test", "#reply vpn-reset\n"),
        Some(&Link::Tag(zh)),
        99,
        NOW,
    );
    assert!(refusals(&fx)[0].contains("not written in zh-CN"));

    let fx = decide(
        &p,
        &from("alice@corp.test", "#reply more-info\n#reply vpn-reset\n"),
        open().as_ref(),
        99,
        NOW,
    );
    assert!(refusals(&fx)[0].contains("one canned reply per mail"));
}

#[test]
fn new_and_quiet_on_an_existing_ticket_are_refused() {
    let fx = decide(
        &policy(),
        &from("alice@corp.test", "#new bob@corp.test\n#quiet\n"),
        Some(&Link::Tag(ticket(Status::Open))),
        99,
        NOW,
    );
    let r = refusals(&fx);
    assert!(r[0].contains("first line of a new mail"), "{r:?}");
    assert!(
        r[0].contains("#quiet is for a mail that opens a ticket"),
        "{r:?}"
    );
}

fn fixture(name: &str) -> Inbound {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/forwards")
        .join(format!("{name}.eml"));
    parse(&std::fs::read(path).unwrap()).unwrap()
}

fn created(fx: &[Effect]) -> &crate::desk::ticket::NewTicket {
    fx.iter()
        .find_map(|e| match e {
            Effect::CreateTicket(t) => Some(t),
            _ => None,
        })
        .expect("a ticket")
}

#[test]
fn a_forward_is_the_original_senders_ticket_with_the_agents_words_as_a_note() {
    for (name, requester, subject) in [
        (
            "outlook-en",
            "li.wei@customer.example.cn",
            "Printer on the 3rd floor jams",
        ),
        ("foxmail-zh", "zhao.lei@client.example.cn", "邮箱空间已满"),
        (
            "rfc822-attached",
            "sam.okafor@client.example.org",
            "Monitor flickers",
        ),
    ] {
        let fx = decide(&policy(), &fixture(name), None, 1000, NOW);
        let t = created(&fx);
        assert_eq!(t.requester.address, requester, "{name}");
        assert_eq!(t.subject, subject, "{name}");
        let ack: Vec<_> = sends(&fx)
            .into_iter()
            .filter(|m| m.template == "ack")
            .collect();
        assert_eq!(ack.len(), 1, "{name}");
        assert_eq!(ack[0].to[0].address, requester, "{name}");
        assert!(
            !ack[0].vars["summary"].as_str().unwrap().contains("From:"),
            "{name}: the summary is the original's text"
        );
        assert_eq!(
            events_of_kind(&fx, "note").len(),
            1,
            "{name}: the agent's words"
        );
        assert!(
            events_of_kind(&fx, "created")[0].contains("on behalf of"),
            "{name}"
        );
    }
    // A Chinese original gets the Chinese acknowledgement.
    let fx = decide(&policy(), &fixture("foxmail-zh"), None, 1000, NOW);
    assert_eq!(created(&fx).lang, Lang::ZhCn);
}

#[test]
fn quiet_forward_sends_no_acknowledgement() {
    let mut m = fixture("gmail-en");
    m.text = format!("#quiet\n{}", m.text);
    let fx = decide(&policy(), &m, None, 1000, NOW);
    assert_eq!(
        created(&fx).requester.address,
        "maria.rossi@client.example.org"
    );
    assert!(sends(&fx).iter().all(|m| m.template != "ack"));
    assert_eq!(
        events_of_kind(&fx, "no-acknowledgement"),
        ["#quiet: the agent asked for none"]
    );
    assert!(
        events_of_kind(&fx, "note")
            .iter()
            .all(|n| !n.contains("#quiet"))
    );
}

#[test]
fn new_opens_a_ticket_for_the_caller_and_a_forged_agent_gets_nothing_of_it() {
    let m = mail(
        "From: alice@corp.test\r\nTo: helpdesk@example.test\r\nSubject: Phone: Outlook crashes\r\nMessage-ID: <new1@corp.test>",
        "#新建 Caller@Corp.Example.com\n#静默\nOutlook crashes when she opens the calendar.\n",
    );
    let fx = decide(&policy(), &m, None, 1000, NOW);
    let t = created(&fx);
    assert_eq!(t.requester.address, "caller@corp.example.com");
    assert_eq!(t.subject, "Phone: Outlook crashes");
    assert!(sends(&fx).iter().all(|m| m.template != "ack"), "#静默");
    let notice = sends(&fx)
        .into_iter()
        .find(|m| m.template == "notify-new")
        .unwrap();
    assert!(
        notice.vars["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Outlook crashes when")
            || notice.vars.to_string().contains("Outlook crashes when"),
        "{:?}",
        notice.vars
    );
    assert!(!notice.vars.to_string().contains("#新建"));

    // Anyone can write alice's From: without the proof the ticket is the sender's own.
    let p = policy_with("agent-authentication = \"secret\"");
    let fx = decide(&p, &m, None, 1000, NOW);
    assert_eq!(created(&fx).requester.address, "alice@corp.test");
    assert_eq!(events_of_kind(&fx, "unverified-agent-mail").len(), 1);
    // A requester's #new is no command at all.
    let m = mail(
        "From: ann@corp.test\r\nTo: helpdesk@example.test\r\nSubject: x\r\nMessage-ID: <new2@corp.test>",
        "#new boss@corp.test\nhello",
    );
    assert_eq!(
        created(&decide(&policy(), &m, None, 1000, NOW))
            .requester
            .address,
        "ann@corp.test"
    );
}

#[test]
fn forwarding_a_tickets_mail_joins_it_as_a_note() {
    let mut m = fixture("outlook-en");
    m.subject = "FW: [#7] Printer broken".into();
    let fx = decide(
        &policy(),
        &m,
        Some(&Link::Tag(ticket(Status::Open))),
        99,
        NOW,
    );
    assert!(matches!(
        fx[0],
        Effect::Attach {
            ticket: 7,
            kind: MessageKind::Note
        }
    ));
    assert!(sends(&fx).iter().all(|m| m.template != "reply"));
    assert_eq!(events_of_kind(&fx, "forward-joined").len(), 1);
}

#[test]
fn a_forward_of_the_desks_own_mail_is_not_a_ticket_for_the_desk() {
    let m = mail(
        "From: alice@corp.test\r\nTo: helpdesk@example.test\r\nSubject: Fwd: Your request\r\nMessage-ID: <fo1@corp.test>",
        "why did I get this?\n\n---------- Forwarded message ---------\nFrom: IT Desk <helpdesk@example.test>\nSubject: Your request\n\nWe received it.\n",
    );
    let fx = decide(&policy(), &m, None, 1000, NOW);
    assert_eq!(created(&fx).requester.address, "alice@corp.test");
    assert!(
        refusals(&fx)[0].contains("the desk's own address"),
        "{:?}",
        refusals(&fx)
    );
}
