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
        &reply_to(desk.alice(), &desk.address, notice_1000, "#merge 1001"),
    );
    desk.wait_status(1000, "closed", &daemon);
    assert_eq!(desk.status(1001), "new", "the target stays as it was");

    // Ann hears once, under the target's tag; no survey for the merged one.
    let got = wait_for_messages(desk.env(), &ann, 3, WAIT);
    let told = parsed(&got[2]);
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
    let ok = wait_until(WAIT, || {
        has_message(&desk, 1001, "Tag reply: toner replaced.")
            && has_message(&desk, 1001, "Id reply: still jams.")
    });
    assert!(ok, "both replies on #1001; log:\n{}", daemon.log());
    assert!(
        desk.store().ticket_detail(1002).unwrap().is_none(),
        "no new ticket was opened"
    );
    assert_eq!(desk.status(1000), "closed");
    // Nothing more reached Ann than her two acks and the one merge notice
    // (her replies to an open ticket get no acknowledgement).
    std::thread::sleep(std::time::Duration::from_secs(2));
    let all = wait_for_messages(desk.env(), &ann, 3, WAIT);
    assert_eq!(all.len(), 3, "no survey, no second notice");
    let events = desk.store().ticket_detail(1001).unwrap().unwrap().events;
    assert!(events.iter().any(|e| e.kind == "merged-in"), "{events:?}");
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
