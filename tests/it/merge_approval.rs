//! Issue 13 §3, §5, §6 on real Dovecot and Postfix: `#merge` (the old tag
//! and the old Message-IDs land on the target), `#split`, and the lists by
//! mail (`#queue`, `#status`).

use crate::support::*;

fn desk(tag: &str) -> TestDeskBuilder {
    TestDesk::builder(tag)
        .set("workflow.sweep-interval", "1s")
        .team_led_by_alice()
}

/// Messages of ticket `n` in the database.
fn messages(desk: &TestDesk, n: i64) -> Vec<postdesk::store::MessageRow> {
    desk.store()
        .ticket_detail(n)
        .unwrap()
        .map(|d| d.messages)
        .unwrap_or_default()
}

fn has_message(desk: &TestDesk, n: i64, body: &str) -> bool {
    messages(desk, n).iter().any(|m| m.body.contains(body))
}

#[test]
fn a_merged_tickets_old_tag_and_old_ids_land_on_the_target() {
    let desk = desk("merge").build();
    let ann = desk.env().unique_user("ann");
    let mut daemon = desk.start();

    desk.send(
        &ann,
        &build_mail(&ann, &desk.address, "Printer jams", "It jams on page 2.\n"),
    );
    let ack_1000 = wait_for_messages(desk.env(), &ann, 1, WAIT).remove(0);
    desk.send(
        &ann,
        &build_mail(
            &ann,
            &desk.address,
            "Printer still jams",
            "Still jamming.\n",
        ),
    );
    wait_for_messages(desk.env(), &ann, 2, WAIT);
    let notices = wait_for_messages(desk.env(), desk.team(), 2, WAIT);
    let notice_1000 = notices
        .iter()
        .find(|m| header(m, "Subject").starts_with("[#1000]"))
        .unwrap();

    desk.send(
        desk.alice(),
        &reply_to(
            desk.alice(),
            &desk.address,
            notice_1000,
            "#time 45m\n#merge 1001\nThis is the same jam; we go on under 1001.",
        ),
    );
    desk.wait_status(1000, "closed", &daemon);
    assert_eq!(desk.status(1001), "new", "the target stays as it was");

    // Ann gets Alice's words and hears of the merge once, under the
    // target's tag; no survey for the merged one.
    let got = wait_for_messages(desk.env(), &ann, 4, WAIT);
    let told = got
        .iter()
        .map(|m| parsed(m))
        .find(|m| m.text.contains("joined"))
        .expect("the merge notice");
    let relay = got
        .iter()
        .find(|m| parsed(m).text.contains("we go on under 1001"))
        .expect("Alice's words")
        .clone();
    assert!(told.subject.starts_with("[#1001]"), "{}", told.subject);
    assert!(
        told.text.contains("[#1000]") && told.text.contains("[#1001]"),
        "{}",
        told.text
    );
    assert!(
        has_message(&desk, 1001, "It jams on page 2."),
        "the merged ticket's messages moved"
    );
    assert!(messages(&desk, 1000).is_empty());

    // 1. A reply under the old tag lands on the target.
    desk.send(
        &ann,
        &reply_to(&ann, &desk.address, &ack_1000, "Tag reply: toner replaced."),
    );
    // 2. A reply with the old tag gone, answering only the old ack's Message-ID.
    let ack_id = header(&ack_1000, "Message-ID");
    let untagged = MailBuilder::new(&ann, &desk.address)
        .subject("Re: printer")
        .in_reply_to(&ack_id)
        .references(&[ack_id.as_str()])
        .body(b"Id reply: still jams.\n")
        .build();
    desk.send(&ann, &untagged);
    // 3. A reply to Alice's words, written after the messages moved.
    let relay_id = header(&relay, "Message-ID");
    let to_relay = MailBuilder::new(&ann, &desk.address)
        .subject("Re: jam")
        .in_reply_to(&relay_id)
        .references(&[relay_id.as_str()])
        .body(b"Relay reply: fine by me.\n")
        .build();
    desk.send(&ann, &to_relay);
    let ok = wait_until(WAIT, || {
        has_message(&desk, 1001, "Tag reply: toner replaced.")
            && has_message(&desk, 1001, "Id reply: still jams.")
            && has_message(&desk, 1001, "Relay reply: fine by me.")
    });
    assert!(ok, "both replies on #1001; log:\n{}", daemon.log());
    assert!(
        desk.store().ticket_detail(1002).unwrap().is_none(),
        "no new ticket was opened"
    );
    assert_eq!(desk.status(1000), "closed");
    // Nothing more reached Ann than her two acks, Alice's words and the one
    // merge notice (her replies to an open ticket get no acknowledgement).
    std::thread::sleep(std::time::Duration::from_secs(2));
    let all = wait_for_messages(desk.env(), &ann, 4, WAIT);
    assert_eq!(all.len(), 4, "no survey, no second notice");
    let events = desk.store().ticket_detail(1001).unwrap().unwrap().events;
    assert!(events.iter().any(|e| e.kind == "merged-in"), "{events:?}");
    // The time Alice recorded on 1000 moved with it.
    let time = |n: i64| -> i64 {
        desk.store()
            .time_worked(n)
            .unwrap()
            .iter()
            .map(|t| t.minutes)
            .sum()
    };
    assert_eq!((time(1000), time(1001)), (0, 45));
    daemon.stop();
}

#[test]
fn merging_another_requesters_ticket_needs_force_and_tells_both() {
    let desk = desk("mergeforce").build();
    let ann = desk.env().unique_user("ann");
    let bob = desk.env().unique_user("bob");
    let mut daemon = desk.start();
    desk.send(
        &ann,
        &build_mail(&ann, &desk.address, "Wifi down", "No wifi on floor 2.\n"),
    );
    wait_for_messages(desk.env(), &ann, 1, WAIT);
    desk.send(
        &bob,
        &build_mail(&bob, &desk.address, "Wifi down too", "Floor 2, no wifi.\n"),
    );
    wait_for_messages(desk.env(), &bob, 1, WAIT);
    let notices = wait_for_messages(desk.env(), desk.team(), 2, WAIT);
    let notice_1000 = notices
        .iter()
        .find(|m| header(m, "Subject").starts_with("[#1000]"))
        .unwrap();

    desk.send(
        desk.alice(),
        &reply_to(desk.alice(), &desk.address, notice_1000, "#merge 1001"),
    );
    let refusal = wait_for_messages(desk.env(), desk.alice(), 1, WAIT).remove(0);
    assert!(
        parsed(&refusal).text.contains("#merge 1001 force"),
        "{}",
        parsed(&refusal).text
    );
    assert_eq!(
        desk.status(1000),
        "open",
        "refused, but an agent touched it"
    );

    desk.send(
        desk.alice(),
        &reply_to(
            desk.alice(),
            &desk.address,
            notice_1000,
            "#merge 1001 force",
        ),
    );
    desk.wait_status(1000, "closed", &daemon);
    let to_ann = wait_for_messages(desk.env(), &ann, 2, WAIT);
    let to_bob = wait_for_messages(desk.env(), &bob, 2, WAIT);
    assert!(parsed(&to_ann[1]).subject.starts_with("[#1001]"));
    assert!(parsed(&to_bob[1]).subject.starts_with("[#1001]"));
    // Ann is now a watcher of #1001: her reply is hers, not a stranger's ticket.
    desk.send(
        &ann,
        &reply_to(&ann, &desk.address, &to_ann[1], "Ann here: still down."),
    );
    let ok = wait_until(WAIT, || has_message(&desk, 1001, "Ann here: still down."));
    assert!(ok, "log:\n{}", daemon.log());
    assert!(desk.store().ticket_detail(1002).unwrap().is_none());
    daemon.stop();
}

#[test]
fn split_makes_the_answered_mail_a_ticket_of_its_own() {
    let desk = desk("split").build();
    let ann = desk.env().unique_user("ann");
    let mut daemon = desk.start();
    desk.send(
        &ann,
        &build_mail(&ann, &desk.address, "Laptop slow", "My laptop is slow.\n"),
    );
    let ack = wait_for_messages(desk.env(), &ann, 1, WAIT).remove(0);
    desk.send(
        &ann,
        &reply_to(
            &ann,
            &desk.address,
            &ack,
            "Also: my badge does not open door 4.",
        ),
    );
    // The team's notice of Ann's second mail (the assignee is not set, so the team hears).
    let notices = wait_for_messages(desk.env(), desk.team(), 2, WAIT);
    let about_badge = notices
        .iter()
        .find(|m| parsed(m).text.contains("door 4"))
        .expect("a notice of the badge mail");
    desk.send(
        desk.alice(),
        &reply_to(desk.alice(), &desk.address, about_badge, "#split"),
    );
    let ok = wait_until(WAIT, || has_message(&desk, 1001, "door 4"));
    assert!(ok, "log:\n{}", daemon.log());
    let anns_on_1000: Vec<String> = messages(&desk, 1000)
        .into_iter()
        .filter(|m| m.from_addr.as_deref() == Some(ann.as_str()))
        .map(|m| m.body)
        .collect();
    assert_eq!(anns_on_1000.len(), 1, "moved, not copied: {anns_on_1000:?}");
    assert!(anns_on_1000[0].contains("My laptop is slow."));
    let got = wait_for_messages(desk.env(), &ann, 2, WAIT);
    let told = parsed(&got[1]);
    assert!(told.subject.starts_with("[#1001]"), "{}", told.subject);
    assert!(told.text.contains("[#1000]"), "{}", told.text);
    daemon.stop();
}

/// The token in the subject of the approval request.
fn token_of(request: &[u8]) -> String {
    let subject = parsed(request).subject;
    let at = subject.find("pdap-").expect("a token in the subject");
    subject[at..at + 21].to_string()
}

#[test]
fn an_approval_round_trip_by_mail_and_forgeries_refused() {
    let desk = desk("approval").build();
    let ann = desk.env().unique_user("ann");
    let boss = desk.env().unique_user("boss");
    let mallory = desk.env().unique_user("mallory");
    let mut daemon = desk.start();
    desk.send(
        &ann,
        &build_mail(&ann, &desk.address, "New laptop", "Mine is 7 years old.\n"),
    );
    wait_for_messages(desk.env(), &ann, 1, WAIT);
    let notice = wait_for_messages(desk.env(), desk.team(), 1, WAIT).remove(0);
    desk.send(
        desk.alice(),
        &reply_to(
            desk.alice(),
            &desk.address,
            &notice,
            &format!("#approval {boss} budget line 4, 1200 EUR"),
        ),
    );
    desk.wait_status(1000, "awaiting-approval", &daemon);
    let request = wait_for_messages(desk.env(), &boss, 1, WAIT).remove(0);
    let r = parsed(&request);
    assert!(r.subject.starts_with("[#1000]"), "{}", r.subject);
    assert!(r.text.contains("budget line 4, 1200 EUR"), "{}", r.text);
    assert!(
        r.text.contains("Mine is 7 years old."),
        "the approver reads the request: {}",
        r.text
    );
    let token = token_of(&request);
    assert!(
        r.text
            .contains(&format!("mailto:{}?subject=", desk.address)),
        "{}",
        r.text
    );
    assert!(r.text.contains(&token), "the links carry the token");
    // In HTML the two links are clickable, and the request is there too.
    let html = r.html.as_deref().expect("an HTML part");
    assert!(
        html.contains(&format!("<a href=\"mailto:{}?subject=", desk.address))
            && html.contains(&token)
            && html.contains("Mine is 7 years old."),
        "{html}"
    );

    // Forgeries: the right token from Mallory; Boss's From with a wrong token.
    desk.send(
        &mallory,
        &reply_to(&mallory, &desk.address, &request, "approve"),
    );
    let wrong = MailBuilder::new(&boss, &desk.address)
        .subject("Re: [#1000] Approval needed (pdap-ffffffffffffffff): New laptop")
        .body(b"approve\n")
        .build();
    desk.send(&boss, &wrong);
    let ok = wait_until(WAIT, || {
        let events = desk.store().ticket_detail(1000).unwrap().unwrap().events;
        events
            .iter()
            .filter(|e| e.kind == "approval-refused")
            .count()
            == 2
    });
    assert!(ok, "both refused; log:\n{}", daemon.log());
    assert_eq!(desk.status(1000), "awaiting-approval", "nothing decided");
    assert!(
        desk.store().ticket_detail(1001).unwrap().is_none(),
        "a forged answer is no new ticket either"
    );

    // The approver's own answer, with the token, decides it.
    desk.send(
        &boss,
        &reply_to(
            &boss,
            &desk.address,
            &request,
            "Approve. Go ahead, within budget.",
        ),
    );
    desk.wait_status(1000, "open", &daemon);
    let ok = wait_until(WAIT, || {
        wait_for_messages(desk.env(), desk.alice(), 1, WAIT)
            .iter()
            .any(|m| parsed(m).text.contains("approved your request"))
    });
    assert!(ok, "Alice is told; log:\n{}", daemon.log());
    let told = wait_for_messages(desk.env(), desk.alice(), 1, WAIT)
        .into_iter()
        .find(|m| parsed(m).text.contains("approved your request"))
        .unwrap();
    assert!(
        parsed(&told).text.contains("Go ahead, within budget."),
        "{}",
        parsed(&told).text
    );
    let refusals = wait_for_messages(desk.env(), desk.alice(), 3, WAIT);
    assert_eq!(
        refusals
            .iter()
            .filter(|m| parsed(m).text.contains("was refused"))
            .count(),
        2,
        "Alice heard of both forgeries"
    );
    let events = desk.store().ticket_detail(1000).unwrap().unwrap().events;
    assert!(
        events.iter().any(|e| e.kind == "approval-approved"),
        "{events:?}"
    );
    // One-time: the same answer again decides nothing, and is no new ticket.
    desk.send(&boss, &reply_to(&boss, &desk.address, &request, "approve"));
    let ok = wait_until(WAIT, || {
        let events = desk.store().ticket_detail(1000).unwrap().unwrap().events;
        events
            .iter()
            .filter(|e| e.kind == "approval-refused")
            .count()
            == 3
    });
    assert!(ok, "log:\n{}", daemon.log());
    assert!(desk.store().ticket_detail(1001).unwrap().is_none());
    assert_eq!(desk.status(1000), "open");
    assert_eq!(
        wait_for_messages(desk.env(), &ann, 1, WAIT).len(),
        1,
        "the requester hears nothing of it"
    );
    daemon.stop();
}

/// `approval.remind-after` (an hour here): the approver is reminded when it
/// has passed, once per interval, with the same token and the request's
/// text, and never once it is decided. The hour passes in the database:
/// the approval's times are moved back, as a clock an hour on would see them.
#[test]
fn an_approver_is_reminded_after_remind_after_and_not_once_decided() {
    let desk = desk("approval-remind")
        .set("approval.remind-after", "1h")
        .build();
    let ann = desk.env().unique_user("ann");
    let boss = desk.env().unique_user("boss");
    let mut daemon = desk.start();
    desk.send(
        &ann,
        &build_mail(
            &ann,
            &desk.address,
            "New monitor",
            "Mine flickers all day.\n",
        ),
    );
    let notice = wait_for_messages(desk.env(), desk.team(), 1, WAIT).remove(0);
    desk.send(
        desk.alice(),
        &reply_to(
            desk.alice(),
            &desk.address,
            &notice,
            &format!("#approval {boss} 300 EUR"),
        ),
    );
    let asked = wait_for_messages(desk.env(), &boss, 1, WAIT).remove(0);
    let token = token_of(&asked);
    assert!(!parsed(&asked).text.contains("A reminder"));
    let db = rusqlite::Connection::open(desk.db_path()).unwrap();
    let an_hour_passes = || {
        db.execute(
            "UPDATE approvals SET requested_at = requested_at - 3600000, \
             reminded_at = reminded_at - 3600000",
            [],
        )
        .unwrap()
    };
    let reminded = || -> i64 {
        db.query_row(
            "SELECT count(*) FROM events WHERE ticket = 1000 AND kind = 'approval-reminded'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    // Within the hour: several sweeps, no reminder.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(reminded(), 0, "not before remind-after");
    an_hour_passes();
    let got = wait_for_messages(desk.env(), &boss, 2, WAIT);
    let reminder = parsed(&got[1]);
    assert!(reminder.text.contains("A reminder"), "{}", reminder.text);
    assert!(
        reminder.subject.contains(&token),
        "the same token: {}",
        reminder.subject
    );
    assert!(
        reminder.text.contains("Mine flickers all day."),
        "{}",
        reminder.text
    );
    // One per interval: the sweeps of the next seconds send no second one.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(reminded(), 1, "log:\n{}", daemon.log());

    // Decided: no reminder after it, however much time passes.
    desk.send(&boss, &reply_to(&boss, &desk.address, &asked, "approve"));
    desk.wait_status(1000, "open", &daemon);
    an_hour_passes();
    an_hour_passes();
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert_eq!(reminded(), 1, "log:\n{}", daemon.log());
    assert_eq!(
        all_mail(desk.env(), &boss).len(),
        2,
        "the request and one reminder"
    );
    daemon.stop();
}

/// Everything in `user`'s INBOX now (Dovecot makes it at the first login).
fn all_mail(env: &MailEnv, user: &str) -> Vec<Vec<u8>> {
    wait_for_messages(env, user, 0, WAIT)
}

fn list_lines(text: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for part in text.split("[#").skip(1) {
        if let Some(n) = part.split(']').next().and_then(|n| n.parse().ok()) {
            out.push(n);
        }
    }
    out
}

#[test]
fn status_lists_only_the_senders_own_tickets_and_queue_the_agents() {
    let desk = desk("status").build();
    let ann = desk.env().unique_user("ann");
    let bob = desk.env().unique_user("bob");
    let mallory = desk.env().unique_user("mallory");
    let mut daemon = desk.start();
    // One after the other, so the numbers are 1000, 1001, 1002.
    for (who, subject, acks) in [
        (&ann, "Mouse broken", 1),
        (&bob, "VPN down", 1),
        (&ann, "Screen flickers", 2),
    ] {
        desk.send(
            who,
            &build_mail(who, &desk.address, subject, "Please help.\n"),
        );
        wait_for_messages(desk.env(), who, acks, WAIT);
    }
    let notices = wait_for_messages(desk.env(), desk.team(), 3, WAIT);
    let vpn = notices
        .iter()
        .find(|m| parsed(m).subject.contains("VPN down"))
        .unwrap();
    desk.send(
        desk.alice(),
        &reply_to(desk.alice(), &desk.address, vpn, "#take"),
    );
    let ok = wait_until(WAIT, || {
        desk.store()
            .ticket_detail(1001)
            .unwrap()
            .is_some_and(|d| d.ticket.assignee.as_deref() == Some("alice"))
    });
    assert!(ok);

    // Ann asks, with a Reply-To that is not hers: the list goes to her From.
    let ask = MailBuilder::new(&ann, &desk.address)
        .subject("where are my tickets")
        .header("Reply-To", &mallory)
        .body("#status\n".as_bytes())
        .build();
    desk.send(&ann, &ask);
    let got = wait_for_messages(desk.env(), &ann, 3, WAIT);
    let list = parsed(&got[2]);
    assert!(
        list.subject.contains("your open tickets (2)"),
        "{}",
        list.subject
    );
    assert_eq!(list_lines(&list.text), [1000, 1002], "{}", list.text);
    desk.send(&bob, &build_mail(&bob, &desk.address, "状态", "#状态\n"));
    let got = wait_for_messages(desk.env(), &bob, 2, WAIT);
    assert_eq!(list_lines(&parsed(&got[1]).text), [1001]);

    // Alice (the team's lead) asks for her queue: the team's three.
    desk.send(
        desk.alice(),
        &build_mail(desk.alice(), &desk.address, "queue", "#queue\n"),
    );
    let ok = wait_until(WAIT, || {
        wait_for_messages(desk.env(), desk.alice(), 1, WAIT)
            .iter()
            .any(|m| parsed(m).subject.contains("your queue"))
    });
    assert!(ok, "log:\n{}", daemon.log());
    let queue = wait_for_messages(desk.env(), desk.alice(), 1, WAIT)
        .into_iter()
        .find(|m| parsed(m).subject.contains("your queue"))
        .unwrap();
    let mut numbers = list_lines(&parsed(&queue).text);
    numbers.sort();
    assert_eq!(numbers, [1000, 1001, 1002], "{}", parsed(&queue).text);
    assert!(
        desk.store().ticket_detail(1003).unwrap().is_none(),
        "asking is no ticket"
    );
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(
        all_mail(desk.env(), &mallory).is_empty(),
        "nothing to the Reply-To"
    );
    daemon.stop();
}

/// The digest lists what is overdue by either target: here the resolution
/// (3 seconds of a 24/7 clock) is overdue by the time it goes out, while the
/// first answer is due in 30 days.
#[test]
fn the_morning_digest_lists_the_agents_tickets() {
    let mut desk = TestDesk::builder("digest")
        .set("workflow.sweep-interval", "1s")
        .set("classify.default-priority", "P3")
        .team_with_alice()
        // Every day is a working day, so the test passes on a Sunday too.
        .section(
            "[sla.calendar]\ntime-zone = \"UTC\"\nhours = { mon = \"00:00-24:00\", tue = \"00:00-24:00\", wed = \"00:00-24:00\", thu = \"00:00-24:00\", fri = \"00:00-24:00\", sat = \"00:00-24:00\", sun = \"00:00-24:00\" }\n\n[[sla.policy]]\npriority = \"P3\"\nfirst-response = \"720h\"\nresolution = \"3s\"\n",
        )
        .build();
    let ann = desk.env().unique_user("ann");
    let mut daemon = desk.start();
    for subject in ["Keyboard", "Monitor"] {
        desk.send(&ann, &build_mail(&ann, &desk.address, subject, "Broken.\n"));
    }
    let notices = wait_for_messages(desk.env(), desk.team(), 2, WAIT);
    let keyboard = notices
        .iter()
        .find(|m| parsed(m).subject.contains("Keyboard"))
        .unwrap();
    let n = parsed(keyboard).subject[2..6].parse::<i64>().unwrap();
    desk.send(
        desk.alice(),
        &reply_to(desk.alice(), &desk.address, keyboard, "#take"),
    );
    let ok = wait_until(WAIT, || {
        desk.store()
            .ticket_detail(n)
            .unwrap()
            .is_some_and(|d| d.ticket.assignee.is_some())
    });
    assert!(ok);
    daemon.stop();
    // The resolution's 3 seconds pass.
    std::thread::sleep(std::time::Duration::from_secs(4));

    desk.set("digest.agents", toml::Value::Array(vec!["alice".into()]));
    desk.set("digest.hour", 0);
    let mut daemon = desk.start();
    let ok = wait_until(WAIT, || {
        all_mail(desk.env(), desk.alice())
            .iter()
            .any(|m| parsed(m).subject.contains("your tickets this morning"))
    });
    assert!(ok, "log:\n{}", daemon.log());
    let digest = wait_for_messages(desk.env(), desk.alice(), 1, WAIT)
        .into_iter()
        .find(|m| parsed(m).subject.contains("your tickets this morning"))
        .unwrap();
    let d = parsed(&digest);
    assert!(d.subject.contains("(1 open)"), "{}", d.subject);
    assert_eq!(list_lines(&d.text), [n], "only her ticket: {}", d.text);
    assert!(
        d.text.contains("Overdue (1)") && d.text.contains("resolution due "),
        "overdue by its resolution: {}",
        d.text
    );
    assert!(d.text.contains("first answer due "), "{}", d.text);
    assert_eq!(header(&digest, "Auto-Submitted"), "auto-generated");
    // Once a day, whatever the sweeps and restarts.
    daemon.stop();
    let mut daemon = desk.start();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let digests = all_mail(desk.env(), desk.alice())
        .iter()
        .filter(|m| parsed(m).subject.contains("your tickets this morning"))
        .count();
    assert_eq!(digests, 1);
    daemon.stop();
}
