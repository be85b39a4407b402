//! The agents' everyday tools, end to end on real Dovecot and Postfix: a
//! "Reply all" answer that the customer gets once, a forwarded mail that
//! becomes the customer's ticket (and their reply threads to it), `#new`
//! for a caller, a forward of a ticket's own mail that joins it, `#reply`
//! with a canned reply, and `#time` in `postdesk ticket N` and the review.

use crate::support::*;

fn desk(tag: &str) -> TestDeskBuilder {
    TestDesk::builder(tag).team_led_by_alice()
}

fn postdesk(desk: &TestDesk, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .arg("--config")
        .arg(&desk.config)
        .args(args)
        .output()
        .expect("run postdesk");
    assert!(
        out.status.success(),
        "postdesk {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until Postfix has nothing left to deliver and the desk's outbox
/// nothing left to send, so a count of a mailbox is final.
fn settle(desk: &TestDesk) {
    assert_eventually(WAIT, "the outbox is empty", || {
        desk.store()
            .outbox(false, 100)
            .map(|rows| rows.is_empty())
            .unwrap_or(false)
    });
    desk.env().wait_postfix_idle(WAIT);
}

#[test]
fn a_reply_all_reaches_the_customer_once() {
    let desk = desk("replyall").build();
    let ann = desk.env().unique_user("ann");
    let mut daemon = desk.start();
    desk.send(
        &ann,
        &build_mail(
            &ann,
            &desk.address,
            "Scanner offline",
            "It shows no network.\n",
        ),
    );
    let ack = wait_for_messages(desk.env(), &ann, 1, WAIT).remove(0);

    // Alice answers from her own client: the customer in To, the desk in Cc.
    let ack_id = header(&ack, "Message-ID");
    let answer = MailBuilder::new(desk.alice(), &ann)
        .header("Cc", &desk.address)
        .subject(&format!("Re: {}", header(&ack, "Subject")))
        .in_reply_to(&ack_id)
        .references(&[ack_id.as_str()])
        .body(b"#pending\nPlease plug the scanner into port 4 and tell me.\n")
        .build();
    smtp_send(desk.env(), desk.alice(), &[&ann, &desk.address], &answer).unwrap();
    desk.wait_status(1000, "pending", &daemon);
    settle(&desk);

    let got = wait_for_messages(desk.env(), &ann, 2, WAIT);
    assert_eq!(got.len(), 2, "the ack and Alice's own mail, no relay of it");
    assert!(parsed(&got[1]).text.contains("port 4"));
    let d = desk.store().ticket_detail(1000).unwrap().unwrap();
    assert!(
        d.ticket.first_response_at.is_some(),
        "first response counted"
    );
    assert!(d.messages.iter().any(|m| m.kind == "agent-reply"));
    assert!(d.events.iter().any(|e| e.kind == "answered-directly"));
    daemon.stop();
}

#[test]
fn a_forwarded_mail_becomes_the_customers_ticket_and_their_reply_threads_to_it() {
    let desk = desk("forward").build();
    let li = desk.env().unique_user("li");
    let mut daemon = desk.start();
    let body = format!(
        "转给服务台，客户很着急。\n\n-----原始邮件-----\n发件人: 李伟 <{li}>\n发送时间: 2026年12月1日 9:12\n收件人: 王爱丽 <{}>\n主题: 三楼打印机卡纸\n\n您好，三楼的打印机每打两页就卡纸。\n",
        desk.alice()
    );
    let fwd = build_mail(desk.alice(), &desk.address, "转发: 三楼打印机卡纸", &body);
    desk.send(desk.alice(), &fwd);
    let ack = wait_for_messages(desk.env(), &li, 1, WAIT).remove(0);
    let a = parsed(&ack);
    assert!(a.subject.starts_with("[#1000]"), "{}", a.subject);
    assert!(a.subject.contains("三楼打印机卡纸"), "{}", a.subject);
    let t = desk.store().ticket_detail(1000).unwrap().unwrap();
    assert_eq!(t.ticket.requester, li);
    assert!(
        t.events
            .iter()
            .any(|e| e.kind == "note" && e.detail.as_deref() == Some("转给服务台，客户很着急。"))
    );

    desk.send(
        &li,
        &reply_to(&li, &desk.address, &ack, "打印机型号是 HP M404。"),
    );
    desk.wait_inbound(2, &daemon);
    let t = desk.store().ticket_detail(1000).unwrap().unwrap();
    assert!(
        t.messages
            .iter()
            .any(|m| m.kind == "reply" && m.from_addr.as_deref() == Some(li.as_str())),
        "{:?}",
        t.messages.iter().map(|m| &m.kind).collect::<Vec<_>>()
    );
    assert!(
        desk.store().ticket_detail(1001).unwrap().is_none(),
        "no second ticket"
    );
    daemon.stop();
}

#[test]
fn new_opens_a_ticket_for_a_caller() {
    let desk = desk("behalf").build();
    let caller = desk.env().unique_user("caller");
    let mut daemon = desk.start();
    let body = format!("#new {caller}\nOutlook crashes when she opens the shared calendar.\n");
    desk.send(
        desk.alice(),
        &build_mail(desk.alice(), &desk.address, "Phone: Outlook crashes", &body),
    );
    let ack = parsed(&wait_for_messages(desk.env(), &caller, 1, WAIT).remove(0));
    assert!(
        ack.text.contains("Outlook crashes when she opens"),
        "{}",
        ack.text
    );
    assert!(!ack.text.contains("#new"), "{}", ack.text);
    let t = desk.store().ticket_detail(1000).unwrap().unwrap();
    assert_eq!(t.ticket.requester, caller);
    daemon.stop();
}

#[test]
fn a_canned_reply_and_time_worked_show_up() {
    let desk = desk("canned").build();
    let ann = desk.env().unique_user("ann");
    let mut daemon = desk.start();
    desk.send(
        &ann,
        &build_mail(
            &ann,
            &desk.address,
            "Laptop slow",
            "It takes minutes to boot.\n",
        ),
    );
    wait_for_messages(desk.env(), &ann, 1, WAIT);
    let notice = wait_for_messages(desk.env(), desk.team(), 1, WAIT).remove(0);
    let answer = reply_to(
        desk.alice(),
        &desk.address,
        &notice,
        "#reply more-info\n#time 1h30m\n#工时 15m\nHello Ann, thanks for writing.",
    );
    desk.send(desk.alice(), &answer);
    let got = wait_for_messages(desk.env(), &ann, 2, WAIT);
    let text = parsed(&got[1]).text;
    let own = text.find("Hello Ann, thanks for writing.").expect(&text);
    let canned = text.find("we need a little more from you").expect(&text);
    assert!(own < canned, "the agent's words come first: {text}");
    assert!(!text.contains("#reply") && !text.contains("{{"), "{text}");

    let shown = postdesk(&desk, &["ticket", "1000"]);
    assert!(
        shown.contains("time       1h45m in total (alice 1h45m)"),
        "{shown}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&postdesk(&desk, &["ticket", "1000", "--json"])).unwrap();
    assert_eq!(
        json["time_worked"][0]["minutes"], 105,
        "{}",
        json["time_worked"]
    );
    assert_eq!(json["time_worked"][0]["entries"], 2);
    // The review: time per agent, team and category, and per resolved ticket.
    let resolve = reply_to(desk.alice(), &desk.address, &notice, "#resolve\nFixed.");
    desk.send(desk.alice(), &resolve);
    desk.wait_status(1000, "resolved", &daemon);
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    let (from, to) = (today.yesterday().unwrap(), today.tomorrow().unwrap());
    let review: serde_json::Value = serde_json::from_str(&postdesk(
        &desk,
        &[
            "report",
            "--from",
            &from.to_string(),
            "--to",
            &to.to_string(),
            "--format",
            "json",
        ],
    ))
    .unwrap();
    let time = &review["time_worked"];
    assert_eq!(time["total_minutes"], 105, "{time}");
    assert_eq!(time["by_agent"][0]["key"], "alice", "{time}");
    assert_eq!(time["by_team"][0]["minutes"], 105, "{time}");
    assert_eq!(time["average_per_resolved_min"], 105.0, "{time}");
    let text = postdesk(
        &desk,
        &[
            "report",
            "--from",
            &from.to_string(),
            "--to",
            &to.to_string(),
        ],
    );
    assert!(text.contains("Time worked per agent"), "{text}");

    let listed = postdesk(&desk, &["replies"]);
    assert!(
        listed.contains("more-info") && listed.contains("en, zh-CN"),
        "{listed}"
    );
    daemon.stop();
}

#[test]
fn a_forward_of_a_tickets_own_mail_attached_whole_joins_that_ticket() {
    let desk = desk("fwdjoin").build();
    let ann = desk.env().unique_user("ann");
    let mut daemon = desk.start();
    let request = build_mail(
        &ann,
        &desk.address,
        "Badge reader broken",
        "Door 3 ignores my badge.\n",
    );
    desk.send(&ann, &request);
    wait_for_messages(desk.env(), &ann, 1, WAIT);

    // Alice got the same mail (Ann wrote to her too) and forwards it whole.
    let mut body = b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSame as the ticket, I think.\r\n\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\n".to_vec();
    body.extend_from_slice(&request);
    body.extend_from_slice(b"\r\n--b1--\r\n");
    let fwd = MailBuilder::new(desk.alice(), &desk.address)
        .subject("Fwd: Badge reader broken")
        .content_type("multipart/mixed; boundary=\"b1\"")
        .body(&body)
        .build();
    desk.send(desk.alice(), &fwd);
    desk.wait_inbound(2, &daemon);
    settle(&desk);
    let t = desk.store().ticket_detail(1000).unwrap().unwrap();
    assert!(
        t.messages.iter().any(|m| m.kind == "note"),
        "{:?}",
        t.messages.iter().map(|m| &m.kind).collect::<Vec<_>>()
    );
    assert!(t.events.iter().any(|e| e.kind == "forward-joined"));
    assert!(
        desk.store().ticket_detail(1001).unwrap().is_none(),
        "no second ticket"
    );
    assert_eq!(
        wait_for_messages(desk.env(), &ann, 1, WAIT).len(),
        1,
        "Ann is not sent her own mail back"
    );
    daemon.stop();
}
