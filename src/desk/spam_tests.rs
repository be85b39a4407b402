//! Spam decisions on constructed mail: a verdict on a new request, the
//! outage, backscatter by authentication, and agents' `#spam`/`#notspam`.

use super::*;
use crate::address::Mailbox;
use crate::config::Config;
use crate::desk::decide::{Known, decide};
use crate::desk::mails::vars::Kind;
use crate::desk::scope::Standing;
use crate::desk::ticket::{Field, Status};
use crate::inbound::parse;
use crate::thread::Link;
use std::path::Path;

const NOW: i64 = 1_796_004_000_000;

fn policy(spam: &str) -> Policy {
    policy_with("", spam)
}

fn policy_with(desk: &str, spam: &str) -> Policy {
    let cfg = Config::from_toml(
        &format!(
            r#"
[desk]
address = "helpdesk@example.test"
{desk}
[workflow]
agent-authentication = "none"
trusted-authserv-ids = ["mx.example.test"]
[[team]]
name = "service-desk"
tier = "L1"
address = "desk-team@corp.test"
[[agent]]
name = "alice"
addresses = ["alice@corp.test", "alice@corp.example"]
team = "service-desk"
[spam]
{spam}
"#
        ),
        Path::new("t.toml"),
        Path::new("."),
    )
    .unwrap();
    crate::pipeline::policy_from_config(&cfg, crate::thread::IdKey::fixed(7)).unwrap()
}

fn request(extra_headers: &str) -> Inbound {
    parse(
        format!(
            "{extra_headers}From: Li Wei <li@sender.example>\r\nTo: helpdesk@example.test\r\n\
             Subject: Printer broken\r\nMessage-ID: <req-1@sender.example>\r\n\r\n\
             The printer on floor 3 prints nothing.\r\n"
        )
        .as_bytes(),
    )
    .unwrap()
}

fn decide_new(p: &Policy, m: &Inbound, screen: Option<&Screen>) -> Vec<Effect> {
    let known = Known {
        next_number: 7,
        screen,
        ..Known::default()
    };
    decide(p, m, &known, NOW)
}

fn sends(fx: &[Effect]) -> Vec<&'static str> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send(m) => Some(m.template),
            _ => None,
        })
        .collect()
}

fn status_to(fx: &[Effect]) -> Option<String> {
    fx.iter().find_map(|e| match e {
        Effect::Update {
            field: Field::Status,
            new,
            ..
        } => new.clone(),
        _ => None,
    })
}

fn events(fx: &[Effect]) -> Vec<(&'static str, String)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Event { kind, detail, .. } => Some((*kind, detail.clone().unwrap_or_default())),
            _ => None,
        })
        .collect()
}

fn verdict(o: ActionOutcome, by: &str) -> Screen {
    Screen {
        verdict: Some((o, by.into())),
        failed: None,
    }
}

#[test]
fn a_clean_request_is_acknowledged_and_the_team_told() {
    let p = policy("");
    let clean = verdict(
        ActionOutcome::NotSpam,
        "rspamd: no action (score 0.10 / 15.00)",
    );
    let fx = decide_new(&p, &request(""), Some(&clean));
    assert_eq!(sends(&fx), ["ack", "notify-new"], "{fx:?}");
    assert_eq!(status_to(&fx), None);
}

#[test]
fn spam_becomes_a_spam_ticket_nobody_hears_of() {
    let p = policy("");
    let s = verdict(ActionOutcome::Spam, "rspamd: reject (score 15.00 / 15.00)");
    let fx = decide_new(&p, &request(""), Some(&s));
    assert!(matches!(fx[0], Effect::CreateTicket(_)), "{fx:?}");
    assert!(sends(&fx).is_empty(), "no ack, no team notice: {fx:?}");
    assert_eq!(status_to(&fx).as_deref(), Some("spam"));
    let ev = events(&fx);
    assert!(
        ev.iter()
            .any(|(k, d)| *k == "no-acknowledgement" && d.contains("rspamd: reject")),
        "{ev:?}"
    );
}

#[test]
fn spam_can_be_recorded_without_a_ticket() {
    let p = policy("outcome = \"record\"");
    let s = verdict(ActionOutcome::Spam, "filter header X-Spam-Flag: YES");
    let fx = decide_new(&p, &request(""), Some(&s));
    match &fx[..] {
        [Effect::Ignore { reason }] => assert!(reason.contains("X-Spam-Flag"), "{reason}"),
        _ => panic!("{fx:?}"),
    }
}

#[test]
fn suspect_mail_is_a_ticket_without_acknowledgement() {
    let p = policy("");
    let s = verdict(
        ActionOutcome::NoAck,
        "rspamd: add header (score 6.00 / 15.00)",
    );
    let fx = decide_new(&p, &request(""), Some(&s));
    assert_eq!(sends(&fx), ["notify-new"], "{fx:?}");
    assert_eq!(status_to(&fx), None);
}

#[test]
fn an_outage_is_recorded_and_the_mail_goes_on() {
    let p = policy("");
    let s = Screen {
        verdict: None,
        failed: Some("asking rspamd at http://127.0.0.1:1/checkv2: io: Connection refused".into()),
    };
    let fx = decide_new(&p, &request(""), Some(&s));
    assert_eq!(sends(&fx), ["ack", "notify-new"], "{fx:?}");
    let ev = events(&fx);
    assert!(
        ev.iter()
            .any(|(k, d)| *k == CHECK_FAILED && d.contains("processed as not spam")),
        "{ev:?}"
    );
}

#[test]
fn a_forged_sender_gets_no_acknowledgement() {
    let p = policy("");
    let dmarc = "Authentication-Results: mx.example.test; dmarc=fail (p=reject) header.from=sender.example\r\n";
    let fx = decide_new(&p, &request(dmarc), None);
    assert_eq!(sends(&fx), ["notify-new"], "ticket made, no ack: {fx:?}");
    let ev = events(&fx);
    assert!(
        ev.iter()
            .any(|(k, d)| *k == "no-acknowledgement" && d.contains("DMARC fail")),
        "{ev:?}"
    );
    let spf = "Authentication-Results: mx.example.test; spf=fail smtp.mailfrom=li@sender.example; dkim=none\r\n";
    assert_eq!(sends(&decide_new(&p, &request(spf), None)), ["notify-new"]);
    // An aligned DKIM pass outweighs an SPF fail (a forwarder broke SPF).
    let forwarded = "Authentication-Results: mx.example.test; spf=fail smtp.mailfrom=li@sender.example; dkim=pass header.d=sender.example\r\n";
    assert_eq!(
        sends(&decide_new(&p, &request(forwarded), None)),
        ["ack", "notify-new"]
    );
    // Only the trusted server's word counts.
    let untrusted = "Authentication-Results: evil.test; dmarc=fail header.from=sender.example\r\n";
    assert_eq!(
        sends(&decide_new(&p, &request(untrusted), None)),
        ["ack", "notify-new"]
    );
    // The admin can turn it off.
    let off = policy("no-backscatter = false");
    assert_eq!(
        sends(&decide_new(&off, &request(dmarc), None)),
        ["ack", "notify-new"]
    );
}

fn spam_ticket(status: Status) -> TicketState {
    TicketState {
        number: 7,
        status: Some(status),
        requester: "li@sender.example".into(),
        subject: "Printer broken".into(),
        thread: vec!["req-1@sender.example".into()],
        created_at: NOW - 3_600_000,
        ..TicketState::default()
    }
}

fn agent_mail(body: &str) -> Inbound {
    parse(
        format!(
            "From: alice@corp.test\r\nTo: helpdesk@example.test\r\nSubject: Re: [#7] Printer broken\r\n\
             Message-ID: <a-{}@corp.test>\r\n\r\n{body}\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap()
}

fn decide_on(p: &Policy, t: &TicketState, m: &Inbound) -> Vec<Effect> {
    let link = Link::Tag(t.clone());
    let known = Known {
        link: Some(&link),
        next_number: 8,
        ..Known::default()
    };
    decide(p, m, &known, NOW)
}

#[test]
fn an_agents_spam_teaches_rspamd_and_relays_nothing() {
    let p = policy("rspamd-controller = \"http://127.0.0.1:11334\"");
    let fx = decide_on(
        &p,
        &spam_ticket(Status::New),
        &agent_mail("#spam\nBuy cheap watches, lol"),
    );
    assert_eq!(status_to(&fx).as_deref(), Some("spam"), "{fx:?}");
    assert!(
        fx.contains(&Effect::Spam(SpamEffect::Learn {
            ticket: 7,
            spam: true
        })),
        "{fx:?}"
    );
    assert!(sends(&fx).is_empty(), "nothing goes to a spammer: {fx:?}");
    // Without a controller: the status only.
    let fx = decide_on(
        &policy(""),
        &spam_ticket(Status::Open),
        &agent_mail("#垃圾邮件"),
    );
    assert_eq!(status_to(&fx).as_deref(), Some("spam"));
    assert!(!fx.iter().any(|e| matches!(e, Effect::Spam(_))), "{fx:?}");
}

#[test]
fn notspam_restores_the_ticket_and_sends_the_acknowledgement_it_never_got() {
    let p = policy("rspamd-controller = \"http://127.0.0.1:11334\"");
    let fx = decide_on(&p, &spam_ticket(Status::Spam), &agent_mail("#notspam"));
    let statuses: Vec<String> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Update {
                field: Field::Status,
                new: Some(n),
                ..
            } => Some(n.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, ["new", "open"], "{fx:?}");
    let ack = fx
        .iter()
        .find_map(|e| match e {
            Effect::Send(m) if m.template == "ack" => Some(m),
            _ => None,
        })
        .expect("the acknowledgement");
    assert_eq!(ack.to[0].address, "li@sender.example");
    assert_eq!(ack.in_reply_to.as_deref(), Some("req-1@sender.example"));
    assert!(fx.contains(&Effect::Spam(SpamEffect::Learn {
        ticket: 7,
        spam: false
    })));
    // #非垃圾邮件 on a ticket that is not spam is refused with a reason.
    let fx = decide_on(&p, &spam_ticket(Status::Open), &agent_mail("#非垃圾邮件"));
    let ev = events(&fx);
    assert!(
        ev.iter()
            .any(|(k, d)| *k == "commands-refused" && d.contains("not spam")),
        "{ev:?}"
    );
}

#[test]
fn a_spammer_writing_again_wakes_nothing() {
    let p = policy("");
    let t = spam_ticket(Status::Spam);
    let m = parse(
        b"From: li@sender.example\r\nTo: helpdesk@example.test\r\nSubject: Re: [#7] Printer broken\r\n\
          Message-ID: <again@sender.example>\r\n\r\nDid you get my offer?\r\n",
    )
    .unwrap();
    let fx = decide_on(&p, &t, &m);
    assert_eq!(status_to(&fx), None, "{fx:?}");
}

// ---- who the desk serves (crate::desk::scope), decided the same way

const SCOPED: &str = "serve = [\"@corp.test\", \"contractor@partner.example\"]";

fn outsider_request(auth: &str) -> Inbound {
    request(auth)
}

#[test]
fn outside_the_scope_a_ticket_by_default() {
    let p = policy_with(SCOPED, "");
    assert_eq!(
        sends(&decide_new(&p, &outsider_request(""), None)),
        ["ack", "notify-new"]
    );
}

#[test]
fn outside_the_scope_recorded_only() {
    let p = policy_with(&format!("{SCOPED}\noutside = \"record\""), "");
    let fx = decide_new(&p, &outsider_request(""), None);
    match &fx[..] {
        [Effect::Ignore { reason }] => {
            assert!(reason.contains("outside the desk's scope"), "{reason}")
        }
        _ => panic!("{fx:?}"),
    }
}

fn refusal_of(fx: &[Effect]) -> Option<(&str, &Mailbox, &str, &serde_json::Value)> {
    fx.iter().find_map(|e| match e {
        Effect::Refuse {
            sender,
            to,
            subject,
            vars,
            ..
        } => Some((sender.as_str(), to, subject.as_str(), vars)),
        _ => None,
    })
}

fn ignored_because(fx: &[Effect]) -> &str {
    match fx {
        [Effect::Ignore { reason }, ..] => reason,
        _ => panic!("not recorded without a ticket: {fx:?}"),
    }
}

#[test]
fn outside_the_scope_refused_without_a_ticket_once_and_only_when_authenticated() {
    let p = policy_with(&format!("{SCOPED}\noutside = \"refuse\""), "");
    let pass =
        "Authentication-Results: mx.example.test; dkim=pass header.d=sender.example; spf=none\r\n";
    let fx = decide_new(&p, &outsider_request(pass), None);
    assert_eq!(fx.len(), 2, "recorded and refused, nothing else: {fx:?}");
    assert!(ignored_because(&fx).contains("a refusal sent"), "{fx:?}");
    let (sender, to, subject, vars) = refusal_of(&fx).expect("a refusal");
    assert_eq!(
        (sender, to.address.as_str()),
        ("li@sender.example", "li@sender.example")
    );
    assert!(!subject.contains("[#"), "no ticket, no tag: {subject}");
    assert_eq!(vars["serve"][0], "@corp.test");
    assert!(
        vars.get("ticket").is_none() && vars.get("tag").is_none(),
        "{vars}"
    );
    let refusal = Kind::find("refusal").unwrap();
    assert_eq!(refusal.mismatch(vars), Vec::<String>::new());
    // A Reply-To is the sender's to write: the refusal goes to the From
    // that was authenticated.
    let with_reply_to = format!("{pass}Reply-To: victim@elsewhere.example\r\n");
    let fx = decide_new(&p, &outsider_request(&with_reply_to), None);
    assert_eq!(refusal_of(&fx).unwrap().1.address, "li@sender.example");
    // Not authenticated: no refusal (it could go to a forged victim).
    let fx = decide_new(&p, &outsider_request(""), None);
    assert_eq!(fx.len(), 1, "{fx:?}");
    assert!(ignored_because(&fx).contains("forged"), "{fx:?}");
    // Refused within the window already: recorded, not answered again.
    let known = Known {
        next_number: 7,
        standing: Standing {
            refused_recently: true,
            vouched: false,
        },
        ..Known::default()
    };
    let fx = decide(&p, &outsider_request(pass), &known, NOW);
    assert_eq!(fx.len(), 1, "{fx:?}");
    assert!(ignored_because(&fx).contains("refusal-window"), "{fx:?}");
    // Someone an agent made a watcher: a ticket like any other.
    let known = Known {
        next_number: 7,
        standing: Standing {
            refused_recently: false,
            vouched: true,
        },
        ..Known::default()
    };
    let fx = decide(&p, &outsider_request(pass), &known, NOW);
    assert_eq!(sends(&fx), ["ack", "notify-new"], "{fx:?}");
    // In scope: a normal request; an agent is always in scope.
    let inside = parse(
        b"From: ann@corp.test\r\nTo: helpdesk@example.test\r\nSubject: VPN\r\nMessage-ID: <in-1@corp.test>\r\n\r\nThe VPN drops.\r\n",
    )
    .unwrap();
    assert_eq!(sends(&decide_new(&p, &inside, None)), ["ack", "notify-new"]);
    let agent = parse(
        b"From: alice@corp.example\r\nTo: helpdesk@example.test\r\nSubject: Laptop\r\nMessage-ID: <ag-1@corp.example>\r\n\r\nMy laptop is slow.\r\n",
    )
    .unwrap();
    let p2 = policy_with("serve = [\"@nowhere.example\"]\noutside = \"record\"", "");
    let fx = decide_new(&p2, &agent, None);
    assert!(
        !matches!(fx[..], [Effect::Ignore { .. }]),
        "agents are in scope: {fx:?}"
    );
}

// ---- what the desk does not do (crate::desk::exclusion)

fn policy_excluding() -> Policy {
    let cfg = Config::from_toml(
        r#"
[desk]
address = "helpdesk@example.test"
[workflow]
agent-authentication = "none"
[[team]]
name = "service-desk"
tier = "L1"
address = "desk-team@corp.test"
[[agent]]
name = "alice"
addresses = ["alice@corp.test"]
team = "service-desk"
[[exclusion]]
name = "unauthorised-software"
keywords = ["crack", "破解"]
clause-en = "Installing unlicensed or cracked software is not covered (agreement 5.2)."
clause-zh = "不提供未经授权或破解软件的安装服务（协议第5.2条）。"
"#,
        Path::new("t.toml"),
        Path::new("."),
    )
    .unwrap();
    crate::pipeline::policy_from_config(&cfg, crate::thread::IdKey::fixed(7)).unwrap()
}

fn asking(subject: &str, body: &str) -> Inbound {
    parse(
        format!(
            "From: Li Wei <li@sender.example>\r\nTo: helpdesk@example.test\r\nSubject: {subject}\r\n\
             Message-ID: <ex-{}@sender.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap()
}

#[test]
fn an_excluded_request_gets_the_clause_and_is_resolved() {
    let p = policy_excluding();
    let fx = decide_new(
        &p,
        &asking("Photoshop", "Can you install a crack of Photoshop?"),
        None,
    );
    assert_eq!(sends(&fx), ["notify-new", "excluded"], "{fx:?}");
    assert_eq!(status_to(&fx).as_deref(), Some("resolved"));
    let reply = fx
        .iter()
        .find_map(|e| match e {
            Effect::Send(m) if m.template == "excluded" => Some(m),
            _ => None,
        })
        .unwrap();
    assert!(
        reply.vars["clause"]
            .as_str()
            .unwrap()
            .contains("agreement 5.2")
    );
    assert!(
        events(&fx)
            .iter()
            .any(|(k, d)| *k == "out-of-scope" && d.contains("crack"))
    );
    // In Chinese, the Chinese clause.
    let fx = decide_new(
        &p,
        &asking("求助", "请帮我安装破解版的办公软件，谢谢。"),
        None,
    );
    let reply = fx
        .iter()
        .find_map(|e| match e {
            Effect::Send(m) if m.template == "excluded" => Some(m),
            _ => None,
        })
        .expect("the excluded reply");
    assert!(
        reply.vars["clause"]
            .as_str()
            .unwrap()
            .contains("协议第5.2条"),
        "{reply:?}"
    );
    // Anything else is a request as always.
    assert_eq!(
        sends(&decide_new(
            &p,
            &asking("Printer", "It prints nothing."),
            None
        )),
        ["ack", "notify-new"]
    );
    // An agent's #reopen takes it on after all.
    let t = spam_ticket(Status::Resolved);
    let fx = decide_on(&p, &t, &agent_mail("#reopen\nSorry, we do have a licence."));
    assert_eq!(status_to(&fx).as_deref(), Some("open"), "{fx:?}");
}
