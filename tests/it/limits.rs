//! The per-ticket limit on automatic mail (`limits.per-ticket`,
//! `src/desk/limits.rs`) through the lab Postfix and Dovecot: the mails
//! that arrive are counted in the requester's mailbox, the one held back is
//! recorded on its ticket, and the budget is the ticket's, not the
//! requester's.

use std::time::Duration;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(60);

/// With `limits.per-ticket = 1`, a ticket's acknowledgement uses its whole
/// budget: when Alice closes it (`#close`), her words reach Ann (mail a
/// person wrote is never held back) but the survey, a second automatic
/// mail about the ticket within the hour, is held back and recorded. Ann's
/// next request is another ticket with a budget of its own: its
/// acknowledgement arrives.
#[test]
fn automatic_mail_past_the_per_ticket_limit_is_held_back_and_recorded() {
    let desk = TestDesk::builder("per-ticket")
        .team_with_alice()
        .set("limits.per-ticket", 1)
        .build();
    let ann = desk.env().unique_user("ann");
    let mut daemon = desk.start();

    desk.send(
        &ann,
        &build_mail(
            &ann,
            &desk.address,
            "The scanner is offline",
            "Since noon.\n",
        ),
    );
    let ack = wait_for_messages(desk.env(), &ann, 1, WAIT).remove(0);
    assert!(header(&ack, "Subject").starts_with("[#1000]"));
    let notice = wait_for_messages(desk.env(), desk.team(), 1, WAIT).remove(0);
    let close = reply_to(
        desk.alice(),
        &desk.address,
        &notice,
        "#close\nThe scanner's cable was loose; it works again.",
    );
    desk.send(desk.alice(), &close);
    desk.wait_status(1000, "closed", &daemon);

    desk.send(
        &ann,
        &build_mail(&ann, &desk.address, "And the printer too", "Same room.\n"),
    );
    desk.wait_status(1001, "new", &daemon);

    // Exact from the database once the outbox is empty, then in Ann's
    // mailbox once Postfix has delivered all it was given.
    let store = desk.store();
    assert_eventually(WAIT, "the outbox is empty", || {
        store.outbox_counts().unwrap().0 == 0
    });
    let first = store.ticket_detail(1000).unwrap().unwrap();
    let held: Vec<&str> = first
        .events
        .iter()
        .filter(|e| e.kind == "held-back")
        .filter_map(|e| e.detail.as_deref())
        .collect();
    assert_eq!(held.len(), 1, "{:?}", first.events);
    assert!(
        held[0].starts_with("survey held back") && held[0].contains("limits.per-ticket = 1"),
        "{}",
        held[0]
    );
    let out_kinds = |number: i64| -> Vec<String> {
        store
            .ticket_detail(number)
            .unwrap()
            .unwrap()
            .messages
            .iter()
            .filter(|m| m.direction == "out" && m.to_addrs.contains(&ann))
            .map(|m| m.kind.clone())
            .collect()
    };
    let (to_ann_first, to_ann_second) = (out_kinds(1000), out_kinds(1001));
    assert!(
        !to_ann_first.iter().any(|k| k == "survey"),
        "{to_ann_first:?}"
    );
    assert_eq!(
        to_ann_first.len(),
        2,
        "the ack and Alice's words: {to_ann_first:?}"
    );
    assert_eq!(to_ann_second, ["ack"], "the second ticket's own budget");
    let second = store.ticket_detail(1001).unwrap().unwrap();
    assert!(!second.events.iter().any(|e| e.kind == "held-back"));

    desk.env().wait_postfix_idle(WAIT);
    let got = wait_for_messages(desk.env(), &ann, 3, WAIT);
    let subjects: Vec<String> = got.iter().map(|m| header(m, "Subject")).collect();
    assert_eq!(
        got.len(),
        3,
        "ack, Alice's words, the second ack: {subjects:?}"
    );
    assert!(
        got.iter()
            .all(|m| !parsed(m).text.contains("1 (not at all) to 5")),
        "no survey arrived: {subjects:?}"
    );
    assert!(
        got.iter()
            .any(|m| parsed(m).text.contains("cable was loose")),
        "Alice's words arrived: {subjects:?}"
    );
    assert!(
        subjects[2].starts_with("[#1001]"),
        "the second ticket's acknowledgement arrived: {subjects:?}"
    );
    daemon.stop();
}
