//! Agents work by e-mail, end to end on real Dovecot and Postfix: the team
//! notice, an agent's reply relayed to the requester, `#pending` and the
//! answer, `#resolve` and the confirmation, the survey and its rating; a
//! forged agent mail and an out-of-office that change nothing; an address
//! no mail can go to, which silences nobody else; `check` saying when the
//! mailbox's mail cannot prove agents (no trusted Authentication-Results).

use crate::support::*;

/// A desk with one L1 team (a list address) led by its one agent, Alice.
fn desk(tag: &str) -> TestDeskBuilder {
    TestDesk::builder(tag)
        .set("workflow.sweep-interval", "1s")
        .team_led_by_alice()
}

#[test]
fn the_whole_loop_by_mail() {
    let desk = desk("loop").build();
    let ann = desk.env().unique_user("ann");
    let mut daemon = desk.start();

    // 1. The request reaches the requester (ack) and the team (notice).
    let request = build_mail(
        &ann,
        &desk.address,
        "VPN drops every hour",
        "Since Monday the VPN disconnects.\n",
    );
    desk.send(&ann, &request);
    let ack = wait_for_messages(desk.env(), &ann, 1, WAIT).remove(0);
    assert!(header(&ack, "Subject").starts_with("[#1000]"));
    let notice = wait_for_messages(desk.env(), desk.team(), 1, WAIT).remove(0);
    let n = parsed(&notice);
    assert_eq!(n.subject, "[#1000] VPN drops every hour");
    assert_eq!(header(&notice, "Auto-Submitted"), "auto-generated");
    assert!(
        n.text.contains("Since Monday the VPN disconnects."),
        "{}",
        n.text
    );
    assert!(
        n.text.contains("#resolve"),
        "the notice reminds of the commands: {}",
        n.text
    );
    assert!(
        header(&notice, "References").contains("pd.1000.root."),
        "threaded per ticket"
    );

    // 2. Alice answers the notice; the requester gets her words, not the quote.
    let answer = reply_to(
        desk.alice(),
        &desk.address,
        &notice,
        "#take\nWhich VPN client version do you use?",
    );
    desk.send(desk.alice(), &answer);
    let got = wait_for_messages(desk.env(), &ann, 2, WAIT);
    let relayed = parsed(&got[1]);
    assert!(
        relayed
            .text
            .contains("Which VPN client version do you use?"),
        "{}",
        relayed.text
    );
    assert!(
        !relayed.text.contains("#take"),
        "commands stay with the desk: {}",
        relayed.text
    );
    assert!(
        !relayed.text.contains("Since Monday"),
        "quoted history removed: {}",
        relayed.text
    );
    assert_eq!(relayed.from.as_ref().unwrap().address, desk.address);
    assert_eq!(
        relayed.from.as_ref().unwrap().name.as_deref(),
        Some("Alice Wang (IT Desk)")
    );
    assert_eq!(
        relayed.in_reply_to,
        vec![
            header(&ack, "Message-ID")
                .trim_matches(['<', '>'])
                .to_string()
        ]
    );
    desk.wait_status(1000, "open", &daemon);
    let t = desk.store().ticket_detail(1000).unwrap().unwrap();
    assert_eq!(t.ticket.assignee.as_deref(), Some("alice"));
    assert!(t.ticket.first_response_at.is_some());

    // 3. #pending with a question; the requester's answer reopens the work.
    let pending = reply_to(
        desk.alice(),
        &desk.address,
        &notice,
        "#pending\nPlease send a screenshot.",
    );
    desk.send(desk.alice(), &pending);
    desk.wait_status(1000, "pending", &daemon);
    let got = wait_for_messages(desk.env(), &ann, 3, WAIT);
    let screenshot = reply_to(&ann, &desk.address, &got[2], "Here it is: version 5.1.");
    desk.send(&ann, &screenshot);
    desk.wait_status(1000, "open", &daemon);
    let to_alice = wait_for_messages(desk.env(), desk.alice(), 1, WAIT);
    assert!(
        parsed(&to_alice[0]).text.contains("version 5.1"),
        "the assignee hears of the answer"
    );

    // 4. #resolve; the requester confirms; the ticket closes; one survey.
    let resolve = reply_to(
        desk.alice(),
        &desk.address,
        &to_alice[0],
        "#resolve\nUpdate the client to 5.2; the drop is fixed there.",
    );
    desk.send(desk.alice(), &resolve);
    desk.wait_status(1000, "resolved", &daemon);
    let got = wait_for_messages(desk.env(), &ann, 4, WAIT);
    let resolution = parsed(&got[3]);
    assert!(
        resolution.text.contains("Update the client to 5.2"),
        "{}",
        resolution.text
    );
    assert!(
        resolution.text.to_lowercase().contains("confirm"),
        "{}",
        resolution.text
    );
    desk.send(
        &ann,
        &reply_to(&ann, &desk.address, &got[3], "confirm, thank you"),
    );
    desk.wait_status(1000, "closed", &daemon);
    let got = wait_for_messages(desk.env(), &ann, 5, WAIT);
    let survey = parsed(&got[4]);
    assert!(
        survey.text.contains("1 (not at all) to 5"),
        "{}",
        survey.text
    );
    assert!(
        survey.html.as_deref().unwrap_or("").contains("mailto:"),
        "links that prefill the reply"
    );

    // 5. The survey answer is stored against the ticket and the assignee.
    desk.send(&ann, &reply_to(&ann, &desk.address, &got[4], "4 thanks"));
    let ok = wait_until(WAIT, || {
        desk.store()
            .ticket_detail(1000)
            .unwrap()
            .unwrap()
            .events
            .iter()
            .any(|e| e.kind == "rating")
    });
    assert!(ok, "rating recorded; log:\n{}", daemon.log());
    let t = desk.store().ticket_detail(1000).unwrap().unwrap();
    let rating = t.events.iter().find(|e| e.kind == "rating").unwrap();
    assert_eq!(rating.new.as_deref(), Some("4"));
    assert_eq!(rating.detail.as_deref(), Some("thanks"));
    assert_eq!(
        desk.store().rating(1000).unwrap(),
        Some((4, "thanks".into(), Some("alice".into())))
    );
    // Nothing more: exact from the database once the outbox is empty, then
    // in Ann's mailbox once Postfix has delivered all it was given.
    let store = desk.store();
    assert_eventually(WAIT, "the outbox is empty", || {
        store.outbox_counts().unwrap().0 == 0
    });
    let to_ann = store
        .ticket_detail(1000)
        .unwrap()
        .unwrap()
        .messages
        .iter()
        .filter(|m| m.direction == "out" && m.to_addrs.contains(&ann))
        .count();
    assert_eq!(
        to_ann, 5,
        "ack, reply, question, resolution, survey: nothing more"
    );
    desk.env().wait_postfix_idle(WAIT);
    assert_eq!(
        wait_for_messages(desk.env(), &ann, 5, WAIT).len(),
        5,
        "ack, reply, question, resolution, survey: nothing more"
    );
    daemon.stop();
}

#[test]
fn forged_agent_mail_and_out_of_office_change_nothing() {
    let desk = desk("forged")
        .set("workflow.agent-authentication", "dkim-or-spf")
        .set("workflow.trusted-authserv-ids", vec!["mx.example.test"])
        .build();
    let ann = desk.env().unique_user("ann");
    let mut daemon = desk.start();
    desk.send(
        &ann,
        &build_mail(
            &ann,
            &desk.address,
            "Laptop will not boot",
            "Black screen.\n",
        ),
    );
    let ack = wait_for_messages(desk.env(), &ann, 1, WAIT).remove(0);

    // Someone writes "as Alice" without the receiving server vouching for it.
    let forged = reply_to(desk.alice(), &desk.address, &ack, "#close\nClosing this.");
    desk.send(&ann, &forged);
    // An out-of-office from the requester.
    let ooo = MailBuilder::new(&ann, &desk.address)
        .subject(&format!("Automatic reply: {}", header(&ack, "Subject")))
        .header("Auto-Submitted", "auto-replied")
        .in_reply_to(&header(&ack, "Message-ID"))
        .body(b"I am out of the office until Monday.\n")
        .build();
    desk.send(&ann, &ooo);
    desk.wait_inbound(3, &daemon);
    // Both were committed with their decisions (one transaction per batch):
    // once the outbox is empty, what was decided has been handed over.
    assert_eventually(WAIT, "the outbox is empty", || {
        desk.store().outbox_counts().unwrap().0 == 0
    });

    let t = desk.store().ticket_detail(1000).unwrap().unwrap();
    assert_eq!(t.ticket.status, "new", "nothing changed the status");
    let out_to_ann = t
        .messages
        .iter()
        .filter(|m| m.direction == "out" && m.to_addrs.contains(&ann))
        .count();
    assert_eq!(
        out_to_ann, 1,
        "no mail to the requester but the acknowledgement"
    );
    let mut kinds: Vec<&str> = t
        .messages
        .iter()
        .filter(|m| m.direction == "in")
        .map(|m| m.kind.as_str())
        .collect();
    // Postfix may deliver the last two in either order.
    kinds[1..].sort();
    assert_eq!(kinds, ["request", "automatic", "unverified"]);
    assert!(
        t.events.iter().any(|e| e.kind == "unverified-agent-mail"),
        "the attempt is recorded"
    );
    desk.env().wait_postfix_idle(WAIT);
    assert_eq!(
        wait_for_messages(desk.env(), &ann, 1, WAIT).len(),
        1,
        "no mail to the requester"
    );
    daemon.stop();
}

#[test]
fn an_unusable_address_silences_nobody_else() {
    let desk = desk("unusable").build();
    let ann = desk.env().unique_user("ann");
    let bob = desk.env().unique_user("bob");
    let mut daemon = desk.start();

    // Ann copies Bob and two addresses no mail can go to.
    let request = MailBuilder::new(&ann, &desk.address)
        .header(
            "Cc",
            &format!("Bob <{bob}>, <\"x y\"@corp.test>, john@corp.test."),
        )
        .subject("Shared drive is read-only")
        .body(b"Since this morning nobody can save.\n")
        .build();
    // Put in the mailbox as it came: the lab Postfix would mend the
    // trailing dot, other servers pass it on.
    let mut imap = Imap::login(desk.env(), &desk.address);
    imap.append("INBOX", &request);
    imap.logout();
    wait_for_messages(desk.env(), &ann, 1, WAIT);
    let notice = wait_for_messages(desk.env(), desk.team(), 1, WAIT).remove(0);
    let t = desk.store().ticket_detail(1000).unwrap().unwrap();
    let watched: Vec<&str> = t
        .events
        .iter()
        .filter(|e| e.kind == "watcher-added")
        .filter_map(|e| e.new.as_deref())
        .collect();
    assert_eq!(
        watched,
        [bob.to_lowercase().as_str()],
        "only Bob watches: {:?}",
        t.events
    );
    let refused: Vec<&str> = t
        .events
        .iter()
        .filter(|e| e.kind == "watcher-refused")
        .filter_map(|e| e.new.as_deref())
        .collect();
    assert_eq!(refused, ["\"x y\"@corp.test", "john@corp.test."]);

    // A watcher kept before addresses were checked.
    let mut store = desk.store();
    let tx = store.transaction().unwrap();
    tx.set_watcher(1000, "\"x y\"@corp.test", true).unwrap();
    tx.commit().unwrap();

    // Alice answers: Ann and Bob get it, Alice learns who did not.
    let answer = reply_to(
        desk.alice(),
        &desk.address,
        &notice,
        "Fixed the share permissions; try again.",
    );
    desk.send(desk.alice(), &answer);
    let to_ann = wait_for_messages(desk.env(), &ann, 2, WAIT);
    assert!(
        parsed(&to_ann[1])
            .text
            .contains("Fixed the share permissions"),
        "the requester gets the answer; log:\n{}",
        daemon.log()
    );
    let to_bob = wait_for_messages(desk.env(), &bob, 1, WAIT);
    assert!(
        parsed(&to_bob[0])
            .text
            .contains("Fixed the share permissions")
    );
    let told = wait_for_messages(desk.env(), desk.alice(), 1, WAIT);
    let told = parsed(&told[0]);
    assert!(
        told.text.contains("\"x y\"@corp.test") && told.text.contains("It went to"),
        "{}",
        told.text
    );
    let t = desk.store().ticket_detail(1000).unwrap().unwrap();
    assert!(
        t.events
            .iter()
            .any(|e| e.kind == "recipient-dropped" && e.new.as_deref() == Some("\"x y\"@corp.test")),
        "{:?}",
        t.events
    );
    assert!(
        t.events
            .iter()
            .any(|e| e.kind == "watcher-removed" && e.new.as_deref() == Some("\"x y\"@corp.test")),
        "the unusable watcher is removed"
    );
    daemon.stop();
}

/// `postdesk check` on a desk whose agents prove mail by DKIM or SPF: it
/// reads the newest mail's Authentication-Results in the lab Dovecot.
fn check_output(desk: &TestDesk) -> String {
    postdesk_check(&desk.config).1
}

#[test]
fn check_warns_when_the_mail_carries_no_trusted_authentication_results() {
    let proven = |tag: &str| {
        desk(tag)
            .set("workflow.agent-authentication", "dkim-or-spf")
            .set("workflow.trusted-authserv-ids", vec!["mx.lab.test"])
            .build()
    };
    // The lab Postfix writes no Authentication-Results: mail as it delivers it.
    let bare = proven("authres-none");
    let ann = bare.env().unique_user("ann");
    bare.send(
        &ann,
        &build_mail(&ann, &bare.address, "Hello", "Plain mail.\n"),
    );
    // Only the sender's own header, below nothing trusted: it does not count.
    let forged = MailBuilder::new(&ann, &bare.address)
        .header(
            "Authentication-Results",
            "mx.evil.test; dkim=pass header.d=example.test",
        )
        .subject("Hello again")
        .body(b"Still plain.\n")
        .build();
    bare.send(&ann, &forged);
    assert_eventually(WAIT, "two messages in the desk's INBOX", || {
        Imap::login(bare.env(), &bare.address).message_count("INBOX") == 2
    });
    let text = check_output(&bare);
    assert!(
        text.contains("WARN mailbox support: workflow.trusted-authserv-ids is mx.lab.test, but none of the newest 2 message(s) in INBOX"),
        "{text}"
    );

    // A receiving server that writes its header at the top: no warning.
    let signed = proven("authres-top");
    let top = MailBuilder::new(&ann, &signed.address)
        .header(
            "Authentication-Results",
            "mx.lab.test; dkim=pass header.d=example.test; spf=pass smtp.mailfrom=example.test",
        )
        .subject("Signed")
        .body(b"Proven mail.\n")
        .build();
    let mut imap = Imap::login(signed.env(), &signed.address);
    imap.append("INBOX", &top);
    imap.logout();
    let text = check_output(&signed);
    assert!(!text.contains("WARN mailbox"), "{text}");
    assert!(
        text.contains("ok   mailbox support: 1 of the newest 1 message(s) in INBOX carry Authentication-Results from mx.lab.test"),
        "{text}"
    );
}
