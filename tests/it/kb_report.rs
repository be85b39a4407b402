//! The knowledge base and the scheduled review, end to end on real Dovecot
//! and Postfix: a resolution published as an article is suggested in the
//! acknowledgement of a later, similar request (read over IMAP) and "solved"
//! closes that ticket; the monthly review arrives by mail once, restart or not.

use std::time::Duration;

use crate::support::*;

/// A desk with an L1 team and its agent Alice, sweeping every second. Its
/// tickets count from 1, and IDLE re-checks and retries keep the daemon's
/// defaults.
fn desk(tag: &str) -> TestDeskBuilder {
    TestDesk::builder(tag)
        .unset("desk.first-ticket-number")
        .unset("mailbox.idle-recheck")
        .unset("outbox.retry-max")
        .set("workflow.sweep-interval", "1s")
        .team_with_alice()
}

#[test]
fn a_published_resolution_is_suggested_to_the_next_requester() {
    let desk = desk("kb").build();
    let ann = desk.env().unique_user("ann");
    let bob = desk.env().unique_user("bob");
    let mut daemon = desk.start();

    // Ann's problem is resolved, and Alice publishes the resolution.
    desk.send(
        &ann,
        &build_mail(
            &ann,
            &desk.address,
            "打印机打不出字",
            "三楼的打印机打印出来是空白页。\n",
        ),
    );
    let notice = wait_for_messages(desk.env(), desk.team(), 1, WAIT).remove(0);
    let resolve = reply_to(
        desk.alice(),
        &desk.address,
        &notice,
        "#resolve\n#kb publish\n硒鼓没有墨了：请更换打印机的硒鼓，然后打印测试页。",
    );
    desk.send(desk.alice(), &resolve);
    desk.wait_status(1, "resolved", &daemon);
    let published = wait_until(WAIT, || {
        desk.store()
            .kb_entries(Some("published"), 10)
            .map(|e| e.len() == 1)
            .unwrap_or(false)
    });
    assert!(published, "the entry is published; log:\n{}", daemon.log());
    let entry = desk.store().kb_entries(None, 10).unwrap().remove(0);
    assert_eq!(entry.title, "打印机打不出字");
    assert_eq!(entry.problem, "三楼的打印机打印出来是空白页。");
    assert!(
        entry.solution.contains("请更换打印机的硒鼓"),
        "{}",
        entry.solution
    );
    assert_eq!(entry.ticket, Some(1));

    // Bob writes about the same problem in other words.
    desk.send(
        &bob,
        &build_mail(
            &bob,
            &desk.address,
            "打印机只出白纸",
            "您好，我们办公室的打印机打印出来全是空白页，怎么办？\n",
        ),
    );
    let ack = wait_for_messages(desk.env(), &bob, 1, WAIT).remove(0);
    let a = parsed(&ack);
    assert!(a.subject.starts_with("[#2]"), "{}", a.subject);
    assert!(
        a.text.contains("KB-1"),
        "the acknowledgement suggests the entry:\n{}",
        a.text
    );
    assert!(a.text.contains("打印机打不出字"), "{}", a.text);
    assert!(a.text.contains("请更换打印机的硒鼓"), "{}", a.text);
    assert!(
        a.text.contains("已解决"),
        "it says how to close the ticket:\n{}",
        a.text
    );
    let html = a.html.clone().unwrap_or_default();
    assert!(html.contains("KB-1") && html.contains("<ol>"), "{html}");
    // The team notice shows the same suggestion.
    let notices = wait_for_messages(desk.env(), desk.team(), 2, WAIT);
    let n = parsed(notices.last().unwrap());
    assert!(n.subject.starts_with("[#2]"), "{}", n.subject);
    assert!(n.text.contains("KB-1 打印机打不出字"), "{}", n.text);

    // Bob says it is solved: the ticket closes and the team hears of it.
    desk.send(&bob, &reply_to(&bob, &desk.address, &ack, "已解决，谢谢！"));
    desk.wait_status(2, "closed", &daemon);
    let notices = wait_for_messages(desk.env(), desk.team(), 3, WAIT);
    let n = parsed(notices.last().unwrap());
    assert!(
        n.text.contains("knowledge-base answer solved it"),
        "{}",
        n.text
    );
    let d = desk.store().ticket_detail(2).unwrap().unwrap();
    assert!(d.events.iter().any(|e| e.kind == "kb-helped"));
    daemon.stop();
}

#[test]
fn the_monthly_review_arrives_once() {
    let env = MailEnv::load();
    let boss = env.unique_user("boss");
    // Day 1 at 00:00: last month's review is due from the start.
    let desk = desk("review")
        .set("report.to", vec![boss.as_str()])
        .set("report.monthly", true)
        .set("report.day", 1)
        .set("report.hour", 0)
        .build();
    let mut daemon = desk.start();
    let got = wait_for_messages(desk.env(), &boss, 1, WAIT);
    let raw = &got[0];
    let m = parsed(raw);
    assert!(
        m.subject.starts_with("IT Desk: review of "),
        "{}",
        m.subject
    );
    assert!(
        m.text.contains("Summary") && m.text.contains("SLA compliance"),
        "{}",
        m.text
    );
    let html = m.html.clone().expect("an HTML part");
    assert!(
        html.contains("<svg") && html.contains("chart-daily"),
        "{html}"
    );
    let ct = header(raw, "Content-Type").to_lowercase();
    assert!(ct.starts_with("multipart/alternative"), "{ct}");
    assert_eq!(header(raw, "Auto-Submitted"), "auto-generated");
    // Sweeps go on and the daemon restarts: still one review.
    std::thread::sleep(Duration::from_secs(3));
    daemon.stop();
    let mut daemon = desk.start();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        wait_for_messages(desk.env(), &boss, 1, WAIT).len(),
        1,
        "exactly once"
    );
    assert_eq!(desk.store().reports_sent(10).unwrap().len(), 1);
    daemon.stop();
}
