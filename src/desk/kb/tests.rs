//! The knowledge base's pure parts: plans, terms, relevance, suggestions.

use super::*;
use crate::desk::commands::KbAction;

fn ticket(status: Status, entry: Option<EntryRef>) -> TicketState {
    TicketState {
        number: 7,
        status: Some(status),
        kb: TicketKb {
            entry,
            suggested: Vec::new(),
        },
        ..TicketState::default()
    }
}

fn entry(status: EntryStatus, has_solution: bool) -> Option<EntryRef> {
    Some(EntryRef {
        id: 3,
        status,
        has_solution,
    })
}

fn draft(solution: &str, publish: bool) -> KbEffect {
    KbEffect::Draft {
        ticket: 7,
        solution: solution.into(),
        publish,
        actor: "alice".into(),
    }
}

fn cmd(line: &str, a: KbAction) -> (String, KbAction) {
    (line.into(), a)
}

#[test]
fn resolving_drafts_the_resolution() {
    let p = plan(
        true,
        &ticket(Status::Resolved, None),
        true,
        &[],
        "Update to 5.2.",
        "alice",
    );
    assert_eq!(p.effects, [draft("Update to 5.2.", false)]);
    assert!(p.applied.is_empty() && p.refused.is_empty());
    // A second resolution refreshes the draft...
    let t = ticket(Status::Resolved, entry(EntryStatus::Draft, true));
    let p = plan(true, &t, true, &[], "Reinstall.", "alice");
    assert_eq!(p.effects, [draft("Reinstall.", false)]);
    // ...but leaves a published or skipped entry alone.
    for s in [EntryStatus::Published, EntryStatus::Skipped] {
        let t = ticket(Status::Resolved, entry(s, true));
        assert!(plan(true, &t, true, &[], "x", "alice").effects.is_empty());
    }
    // Nothing without a resolution, and nothing when turned off.
    assert!(
        plan(true, &ticket(Status::Open, None), false, &[], "x", "a")
            .effects
            .is_empty()
    );
    assert!(
        plan(false, &ticket(Status::Resolved, None), true, &[], "x", "a")
            .effects
            .is_empty()
    );
}

#[test]
fn publish_with_the_resolution_or_later() {
    let publish = [cmd("#kb publish", KbAction::Publish)];
    let p = plan(
        true,
        &ticket(Status::Resolved, None),
        true,
        &publish,
        "Update.",
        "alice",
    );
    assert_eq!(p.effects, [draft("Update.", true)]);
    assert_eq!(p.applied, ["#kb publish (article published)"]);
    // Later, on the draft.
    let t = ticket(Status::Resolved, entry(EntryStatus::Draft, true));
    let p = plan(true, &t, false, &publish, "", "alice");
    assert_eq!(
        p.effects,
        [KbEffect::Publish {
            ticket: 7,
            actor: "alice".into()
        }]
    );
    // Refusals say why.
    let t = ticket(Status::Resolved, entry(EntryStatus::Published, true));
    assert!(
        plan(true, &t, false, &publish, "", "a").refused[0]
            .1
            .contains("already published")
    );
    let t = ticket(Status::Open, None);
    assert!(
        plan(true, &t, false, &publish, "", "a").refused[0]
            .1
            .contains("no knowledge-base draft")
    );
    let t = ticket(Status::Resolved, entry(EntryStatus::Draft, false));
    assert!(
        plan(true, &t, false, &publish, "", "a").refused[0]
            .1
            .contains("no solution text")
    );
    // A resolution without words keeps a draft and says the article needs text.
    let p = plan(
        true,
        &ticket(Status::Resolved, None),
        true,
        &publish,
        "",
        "alice",
    );
    assert_eq!(p.effects, [draft("", false)]);
    assert!(p.refused[0].1.contains("between #kb and #end"));
    let off = plan(
        false,
        &ticket(Status::Resolved, None),
        true,
        &publish,
        "x",
        "a",
    );
    assert!(off.refused[0].1.contains("turned off"));
}

#[test]
fn an_article_block_is_the_solution_and_publishes() {
    let cmds = [cmd(
        "#kb",
        KbAction::Text("Update the client to 5.2.".into()),
    )];
    let p = plan(
        true,
        &ticket(Status::Resolved, None),
        true,
        &cmds,
        "Thanks, fixed.",
        "alice",
    );
    assert_eq!(p.effects, [draft("Update the client to 5.2.", true)]);
    assert_eq!(p.applied, ["#kb (article published)"]);
    // Also on a published entry: the agent rewrote it.
    let t = ticket(Status::Closed, entry(EntryStatus::Published, true));
    let p = plan(true, &t, false, &cmds, "", "alice");
    assert_eq!(p.effects, [draft("Update the client to 5.2.", true)]);
    // A skip in the same mail contradicts it.
    let both = [cmd("#kb skip", KbAction::Skip), cmds[0].clone()];
    let p = plan(
        true,
        &ticket(Status::Resolved, None),
        true,
        &both,
        "",
        "alice",
    );
    assert_eq!(p.refused.len(), 1);
    assert_eq!(p.refused[0].0, "#kb skip");
}

#[test]
fn skip() {
    let skip = [cmd("#kb skip", KbAction::Skip)];
    // With the resolution: no draft at all.
    let p = plan(
        true,
        &ticket(Status::Resolved, None),
        true,
        &skip,
        "x",
        "alice",
    );
    assert!(p.effects.is_empty());
    assert_eq!(p.applied, ["#kb skip (no article)"]);
    // Later: the draft (or the published entry) is kept out.
    for s in [EntryStatus::Draft, EntryStatus::Published] {
        let p = plan(
            true,
            &ticket(Status::Closed, entry(s, true)),
            false,
            &skip,
            "",
            "a",
        );
        assert_eq!(
            p.effects,
            [KbEffect::Skip {
                ticket: 7,
                actor: "a".into()
            }]
        );
    }
    let t = ticket(Status::Closed, entry(EntryStatus::Skipped, true));
    assert!(!plan(true, &t, false, &skip, "", "a").refused.is_empty());
    assert!(
        !plan(true, &ticket(Status::Open, None), false, &skip, "", "a")
            .refused
            .is_empty()
    );
}

#[test]
fn solved_by_a_suggestion() {
    let mut t = ticket(Status::New, None);
    assert!(
        !solved_by_suggestion(&t, "Solved, thanks"),
        "nothing was suggested"
    );
    t.kb.suggested = vec![3];
    for yes in [
        "Solved, thanks!",
        "solved",
        "That worked.",
        "已解决，谢谢",
        "好了",
    ] {
        assert!(solved_by_suggestion(&t, yes), "{yes}");
    }
    for no in ["Thanks", "ok", "Also my mouse is broken", ""] {
        assert!(!solved_by_suggestion(&t, no), "{no}");
    }
    t.status = Some(Status::Resolved);
    assert!(
        !solved_by_suggestion(&t, "solved"),
        "a resolved ticket is confirmed, not self-solved"
    );
}

#[test]
fn terms_of_english_and_chinese() {
    let words: Vec<String> =
        analyse("The printer's pages: printing drops! Re: it IS 404 on 3rd PC")
            .iter()
            .map(|t| t.text().to_string())
            .collect();
    assert_eq!(
        words,
        ["printer", "page", "print", "drop", "404", "3rd", "pc"]
    );
    let zh: Vec<String> = analyse("我的电脑连不上网络，谢谢")
        .iter()
        .map(|t| t.text().to_string())
        .collect();
    // 我的 and 的电 hold a function character; 谢谢 is a stop word.
    assert_eq!(zh, ["电脑", "脑连", "连不", "不上", "上网", "网络"]);
    let mixed = request_terms("VPN 断线", "vpn 经常断线");
    assert_eq!(
        mixed,
        [
            (Term::Word("vpn".into()), 2.0),
            (Term::Cjk("断线".into()), 2.0),
            (Term::Cjk("经常".into()), 1.0),
            (Term::Cjk("常断".into()), 1.0)
        ]
    );
}

#[test]
fn queries_are_quoted_and_short_terms_use_like() {
    let a = Term::Word("vpn".into());
    let b = Term::Word("say\"hi".into());
    let c = Term::Cjk("密码".into());
    assert_eq!(fts_any(&[&a, &b, &c]).unwrap(), "\"vpn\" OR \"say\"\"hi\"");
    assert_eq!(fts_all(&[&a, &b]).unwrap(), "\"vpn\" AND \"say\"\"hi\"");
    assert_eq!(fts_any(&[&c]), None);
    assert_eq!(like_pattern(&Term::Word("5%_\\".into())), "%5\\%\\_\\\\%");
    assert_eq!(
        search_terms("打印机  VPN vpn"),
        [Term::Cjk("打印机".into()), Term::Word("vpn".into())]
    );
}

#[test]
fn words_match_at_word_starts() {
    let print = Term::Word("print".into());
    assert_eq!(print.count_in("printer printing, blueprint reprint"), 2);
    assert_eq!(Term::Cjk("打印".into()).count_in("打印机不打印"), 2);
    assert_eq!(
        print.count_in("打印print"),
        1,
        "a CJK character is a word border"
    );
}

#[test]
fn relevance_by_hand() {
    // Two entries; the request has "vpn" (subject, weight 2), "client" (1)
    // and "lunch" (no entry has it: ignored).
    let terms = vec![
        (Term::Word("vpn".into()), 2.0),
        (Term::Word("client".into()), 1.0),
        (Term::Word("lunch".into()), 1.0),
    ];
    let mut stats = Stats {
        total: 2,
        avg_len: 4.0,
        ..Stats::default()
    };
    stats.df.insert(Term::Word("vpn".into()), 1);
    stats.df.insert(Term::Word("client".into()), 2);
    // idf(vpn) = ln(1 + 1.5/1.5) = ln 2; idf(client) = ln(1 + 0.5/2.5) = ln 1.2.
    let (idf_vpn, idf_client) = (2f64.ln(), 1.2f64.ln());
    let best = 2.0 * idf_vpn + idf_client;
    // Length 4 = average: one mention in the title saturates (cap 1).
    let doc = Doc {
        title: "VPN client",
        problem: "drops hourly",
        solution: "",
    };
    assert_eq!(doc_len(&doc), 4);
    let r = relevance(&terms, &doc, &stats);
    assert!((r - 1.0).abs() < 1e-9, "{r}");
    // Only "client", once in the body: tf 1 at average length gives
    // 1 * 2.2 / (1 + 1.2) = 1, so the score is idf(client) / best.
    let doc = Doc {
        title: "Printer",
        problem: "client",
        solution: "toner cartridge",
    };
    assert_eq!(doc_len(&doc), 4);
    let r = relevance(&terms, &doc, &stats);
    assert!((r - idf_client / best).abs() < 1e-9, "{r}");
    // Twice as long as average: 1 * 2.2 / (1 + 1.2 * 1.75) = 0.7097.
    let doc = Doc {
        title: "Printer toner",
        problem: "client broken, screen flickers, fan loud",
        solution: "",
    };
    assert_eq!(doc_len(&doc), 8);
    let sat = 2.2 / (1.0 + 1.2 * 1.75);
    let r = relevance(&terms, &doc, &stats);
    assert!((r - sat * idf_client / best).abs() < 1e-9, "{r}");
    // Nothing known: 0.
    assert_eq!(relevance(&terms[2..], &doc, &stats), 0.0);
}

#[test]
fn offer_adds_suggestions_to_the_acknowledgement_and_notice() {
    use crate::desk::effect::OutMail;
    use crate::desk::ticket::NewTicket;
    let send = |template: &'static str| {
        Effect::Send(OutMail {
            ticket: 9,
            template,
            lang: crate::lang::Lang::En,
            from_name: None,
            to: Vec::new(),
            subject: String::new(),
            in_reply_to: None,
            references: Vec::new(),
            auto_submitted: None,
            vars: json!({}),
        })
    };
    let mut effects = vec![
        Effect::CreateTicket(NewTicket {
            number: 9,
            subject: "VPN".into(),
            requester: crate::address::Mailbox::new(None, "a@b.test"),
            lang: crate::lang::Lang::En,
            team: None,
            tier: None,
            linked_to: None,
            category: None,
            priority: None,
            reply_by: 0,
            rule: None,
        }),
        send("ack"),
        send("notify-new"),
    ];
    let found = [Suggestion {
        id: 4,
        title: "VPN drops".into(),
        solution: "Update.".into(),
        score: 0.8123,
    }];
    offer(&mut effects, &found);
    for e in &effects[1..3] {
        let Effect::Send(m) = e else { panic!() };
        assert_eq!(m.vars["suggestions"][0]["ref"], "KB-4");
        assert_eq!(m.vars["suggestions"][0]["score"], 0.81);
    }
    assert_eq!(
        effects[3],
        Effect::Kb(KbEffect::Suggested {
            ticket: 9,
            entries: vec![4]
        })
    );
    // Nothing found, nothing added.
    let before = effects.len();
    offer(&mut effects, &[]);
    assert_eq!(effects.len(), before);
}

/// The whole loop through the pipeline: a resolution drafts an entry, the
/// agent publishes it, a later similar request is offered it, and the
/// requester's "solved" closes their ticket.
#[test]
fn from_resolution_to_self_service() {
    use crate::config::Config;
    use crate::pipeline::{Engine, Incoming, process_batch};
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::from_toml(
        r#"
[desk]
address = "helpdesk@example.test"
[storage]
database = "kb.db"
[workflow]
agent-authentication = "none"
[[team]]
name = "service-desk"
address = "team@example.test"
[[agent]]
name = "alice"
addresses = ["alice@example.test"]
team = "service-desk"
"#,
        std::path::Path::new("t.toml"),
        dir.path(),
    )
    .unwrap();
    let engine = Engine::new(cfg).unwrap();
    let mut store = engine.open_store().unwrap();
    let mail = |s: &str| Incoming {
        raw: s.replace('\n', "\r\n").into_bytes(),
        uid: None,
    };
    let run = |store: &mut crate::store::Store, raw: &str, at: i64| {
        process_batch(store, &engine, "inbox", &[mail(raw)], None, at).unwrap()
    };
    run(
        &mut store,
        "From: ann@corp.test\nTo: helpdesk@example.test\nSubject: VPN drops every hour\nMessage-ID: <a1@corp.test>\n\nThe VPN client disconnects every hour.\n",
        1_000,
    );
    run(
        &mut store,
        "From: alice@example.test\nTo: helpdesk@example.test\nSubject: Re: [#1] VPN drops every hour\nMessage-ID: <b1@example.test>\n\n#resolve\nUpdate the VPN client to version 5.2.\n",
        2_000,
    );
    let e = store.kb_entries(None, 10).unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(
        (e[0].ticket, e[0].status.as_str(), e[0].title.as_str()),
        (Some(1), "draft", "VPN drops every hour")
    );
    assert_eq!(e[0].problem, "The VPN client disconnects every hour.");
    assert_eq!(e[0].solution, "Update the VPN client to version 5.2.");
    run(
        &mut store,
        "From: alice@example.test\nTo: helpdesk@example.test\nSubject: Re: [#1] VPN drops every hour\nMessage-ID: <b2@example.test>\n\n#kb publish\n",
        3_000,
    );
    assert_eq!(store.kb_entries(None, 10).unwrap()[0].status, "published");
    let events = store.ticket_detail(1).unwrap().unwrap().events;
    let kb: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "kb")
        .map(|e| e.new.clone().unwrap_or_default())
        .collect();
    assert_eq!(kb, ["draft", "published"]);

    // Bob has the same problem: his acknowledgement offers the entry.
    run(
        &mut store,
        "From: bob@corp.test\nTo: helpdesk@example.test\nSubject: VPN keeps disconnecting\nMessage-ID: <c1@corp.test>\n\nMy VPN disconnects all the time.\n",
        4_000,
    );
    let d = store.ticket_detail(2).unwrap().unwrap();
    let ack = d.messages.iter().find(|m| m.kind == "ack").unwrap();
    assert!(ack.body.contains("KB-1"), "{}", ack.body);
    assert!(
        ack.body.contains("Update the VPN client to version 5.2."),
        "{}",
        ack.body
    );
    assert!(ack.body.contains("reply with \"solved\""), "{}", ack.body);
    let notice = d.messages.iter().find(|m| m.kind == "notify-new").unwrap();
    assert!(
        notice.body.contains("KB-1 VPN drops every hour"),
        "{}",
        notice.body
    );
    // "Solved" resolves and closes it; the team hears of it.
    run(
        &mut store,
        "From: bob@corp.test\nTo: helpdesk@example.test\nSubject: Re: [#2] VPN keeps disconnecting\nMessage-ID: <c2@corp.test>\n\nSolved, thank you!\n",
        5_000,
    );
    let d = store.ticket_detail(2).unwrap().unwrap();
    assert_eq!(d.ticket.status, "closed");
    let changes: Vec<_> = d
        .events
        .iter()
        .filter(|e| e.kind == "status")
        .map(|e| e.new.clone().unwrap_or_default())
        .collect();
    assert_eq!(changes, ["resolved", "closed"]);
    assert!(d.events.iter().any(|e| e.kind == "kb-helped"));
    let last = d.messages.last().unwrap();
    assert!(
        last.body.contains("knowledge-base answer solved it"),
        "{}",
        last.body
    );
    assert!(!d.messages.iter().any(|m| m.kind == "survey"));
    // An unrelated request gets no suggestion.
    run(
        &mut store,
        "From: cy@corp.test\nTo: helpdesk@example.test\nSubject: New laptop\nMessage-ID: <d1@corp.test>\n\nPlease order a laptop for our new colleague.\n",
        6_000,
    );
    let d = store.ticket_detail(3).unwrap().unwrap();
    let ack = d.messages.iter().find(|m| m.kind == "ack").unwrap();
    assert!(!ack.body.contains("KB-"), "{}", ack.body);
}
