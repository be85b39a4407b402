//! The spine end to end: a requester writes over SMTP (Postfix), the daemon
//! reads the helpdesk mailbox over IMAP (Dovecot), makes the ticket, and the
//! acknowledgement reaches the requester's mailbox. Needs the lab mail
//! servers (`scripts/test` starts them); panics loudly without them.

use std::time::Duration;

use crate::support::*;

/// A desk of its own for one test, promising answers in Shanghai time.
fn desk(tag: &str) -> TestDeskBuilder {
    TestDesk::builder(tag)
        .set("desk.time-zone", "Asia/Shanghai")
        .set("desk.first-response", "4h")
}

#[test]
fn request_gets_acknowledged_and_reply_joins_the_ticket() {
    let desk = desk("spine").build();
    let requester = desk.env().unique_user("ann");
    let mut daemon = desk.start();

    let request = MailBuilder::new(&format!("Ann <{requester}>"), &desk.address)
        .subject("Printer on floor 3 prints nothing")
        .body(b"Hello,\nthe printer shows a paper jam but there is no paper in it.\n")
        .build();
    let request_id = header(&request, "Message-ID");
    desk.send(&requester, &request);

    let acks = wait_for_messages(desk.env(), &requester, 1, WAIT);
    let ack = &acks[0];
    let subject = header(ack, "Subject");
    assert_eq!(subject, "[#1000] Printer on floor 3 prints nothing");
    assert_eq!(header(ack, "In-Reply-To"), request_id);
    assert!(header(ack, "References").contains(&request_id));
    assert_eq!(header(ack, "Auto-Submitted"), "auto-replied");
    assert_eq!(header(ack, "X-Auto-Response-Suppress"), "All");
    let ack_parsed = postdesk::inbound::parse(ack).unwrap();
    assert!(ack_parsed.text.contains("[#1000]"), "{}", ack_parsed.text);
    assert!(
        ack_parsed.text.contains("(Asia/Shanghai)"),
        "the acknowledgement says when: {}",
        ack_parsed.text
    );

    // The requester answers the acknowledgement the way a mail client does.
    let reply = MailBuilder::new(&requester, &desk.address)
        .subject(&format!("Re: {subject}"))
        .in_reply_to(&ack_parsed_id(ack))
        .references(&[request_id.as_str(), ack_parsed_id(ack).as_str()])
        .body(b"It is model HP 4250, if that helps.\n")
        .build();
    desk.send(&requester, &reply);
    desk.wait_inbound(2, &daemon);

    let store = desk.store();
    assert_eq!(
        store.ticket_count().unwrap(),
        1,
        "the reply joined the ticket"
    );
    let t = store.ticket_detail(1000).unwrap().expect("ticket 1000");
    let kinds: Vec<&str> = t.messages.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds, ["request", "ack", "reply"], "{kinds:?}");
    // No second acknowledgement: give the daemon time to (wrongly) send one.
    std::thread::sleep(Duration::from_secs(2));
    let mut imap = Imap::login(desk.env(), &requester);
    imap.select("INBOX");
    assert_eq!(
        imap.uid_search_all().len(),
        1,
        "exactly one acknowledgement"
    );
    daemon.stop();
}

fn ack_parsed_id(raw: &[u8]) -> String {
    header(raw, "Message-ID")
}

#[test]
fn chinese_gbk_mail_is_decoded_and_answered_in_chinese() {
    let desk = desk("gbk").build();
    let requester = desk.env().unique_user("li");
    let mut daemon = desk.start();
    // Foxmail style: GB2312 declared, GBK bytes, base64 subject.
    let raw = MailBuilder::new(&requester, &desk.address)
        .subject_in("gb2312", GBK_PRINTER_BROKEN)
        .content_type("text/plain; charset=gb2312")
        .body(&[GBK_PRINTER_BROKEN, b"\r\n", GBK_PLEASE_FIX, b"\r\n"].concat())
        .base64()
        .build();
    desk.send(&requester, &raw);
    let acks = wait_for_messages(desk.env(), &requester, 1, WAIT);
    let ack = postdesk::inbound::parse(&acks[0]).unwrap();
    assert_eq!(ack.subject, "[#1000] 打印机坏了");
    assert!(ack.text.contains("工单"), "Chinese template: {}", ack.text);
    assert!(ack.text.contains("打印机坏了"), "{}", ack.text);

    let t = desk.store().ticket_detail(1000).unwrap().expect("ticket");
    assert_eq!(t.ticket.subject, "打印机坏了");
    assert_eq!(t.ticket.lang, "zh-CN");
    assert!(
        t.messages[0].body.contains("打印机坏了"),
        "{}",
        t.messages[0].body
    );
    daemon.stop();
}

#[test]
fn restart_processes_nothing_twice() {
    let desk = desk("restart").build();
    let requester = desk.env().unique_user("bob");
    let mut daemon = desk.start();
    for i in 0..3 {
        let raw = build_mail(
            &requester,
            &desk.address,
            &format!("Request {i}"),
            "please help\n",
        );
        desk.send(&requester, &raw);
    }
    desk.wait_inbound(3, &daemon);
    wait_for_messages(desk.env(), &requester, 3, WAIT);
    daemon.stop();

    // Forget the \Seen marks too: only the checkpoint and Message-IDs protect us.
    let mut imap = Imap::login(desk.env(), &desk.address);
    imap.select("INBOX");
    imap.command_ok("UID STORE 1:* -FLAGS (\\Seen)");

    let mut again = desk.start();
    let raw = build_mail(
        &requester,
        &desk.address,
        "Request after restart",
        "one more\n",
    );
    desk.send(&requester, &raw);
    desk.wait_inbound(4, &again);
    wait_for_messages(desk.env(), &requester, 4, WAIT);
    std::thread::sleep(Duration::from_secs(2));
    let store = desk.store();
    assert_eq!(store.ticket_count().unwrap(), 4);
    assert_eq!(store.inbound_count().unwrap(), 4);
    let (queued, sent, failed) = store.outbox_counts().unwrap();
    assert_eq!((queued, sent, failed), (0, 4, 0));
    let mut imap = Imap::login(desk.env(), &requester);
    imap.select("INBOX");
    assert_eq!(
        imap.uid_search_all().len(),
        4,
        "one acknowledgement per request"
    );
    again.stop();
}

#[test]
fn uidvalidity_change_rereads_without_duplicates() {
    let desk = desk("uidvalidity").build();
    let requester = desk.env().unique_user("carol");
    let mut daemon = desk.start();
    let raw = build_mail(&requester, &desk.address, "First", "x\n");
    desk.send(&requester, &raw);
    desk.wait_inbound(1, &daemon);
    wait_for_messages(desk.env(), &requester, 1, WAIT);
    daemon.stop();

    // The server itself gives the folder a new UIDVALIDITY (as a restore or
    // a migration does): same mail, same UIDs, a new epoch.
    let doveadm = |args: &[&str]| {
        let conf = format!("{}/dovecot/dovecot.conf", desk.env().maillab_dir.display());
        let out = std::process::Command::new("doveadm")
            .arg("-c")
            .arg(&conf)
            .args(args)
            .output()
            .expect("doveadm");
        assert!(
            out.status.success(),
            "doveadm {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let status = || {
        doveadm(&[
            "mailbox",
            "status",
            "-u",
            &desk.address,
            "uidvalidity",
            "INBOX",
        ])
    };
    let before = status();
    doveadm(&[
        "mailbox",
        "update",
        "-u",
        &desk.address,
        "--uid-validity",
        "4242",
        "INBOX",
    ]);
    assert_eq!(status(), "INBOX uidvalidity=4242", "was {before}");

    let mut again = desk.start();
    let second = build_mail(&requester, &desk.address, "Second", "y\n");
    desk.send(&requester, &second);
    desk.wait_inbound(2, &again);
    assert!(
        again.log().contains("UIDVALIDITY changed"),
        "the daemon noticed: {}",
        again.log()
    );
    // The whole folder was read again: the first mail is recognised, not
    // recorded or acknowledged twice.
    let acks = wait_for_messages(desk.env(), &requester, 2, WAIT);
    let t = desk.store();
    assert_eq!(t.ticket_count().unwrap(), 2, "{}", again.log());
    let inbound: i64 = (1000..1002)
        .map(|n| {
            t.ticket_detail(n)
                .unwrap()
                .unwrap()
                .messages
                .iter()
                .filter(|m| m.direction == "in")
                .count() as i64
        })
        .sum();
    assert_eq!(inbound, 2, "each mail recorded once");
    // Wait for the outbox to be idle before asserting that nothing more came.
    assert_eventually(WAIT, "the outbox is empty", || {
        t.outbox_counts().unwrap().0 == 0
    });
    desk.env().wait_postfix_idle(WAIT);
    let mut imap = Imap::login(desk.env(), &requester);
    imap.select("INBOX");
    assert_eq!(
        imap.uid_search_all().len(),
        2,
        "two acknowledgements, not three (waited for {})",
        acks.len()
    );
    again.stop();
}

#[test]
fn poison_messages_are_quarantined_and_the_rest_goes_on() {
    let mut desk = desk("poison")
        .set("mailbox.quarantine-folder", "Quarantine")
        .set("storage.max-message-size", "20KB")
        .build();
    let requester = desk.env().unique_user("dave");
    let mut imap = Imap::login(desk.env(), &desk.address);
    // Not a mail at all, then one too large, then a good one.
    imap.append("INBOX", b"\x00\x01garbage without any header or sender\r\n");
    let big = build_mail(&requester, &desk.address, "Huge log", &"x".repeat(40_000));
    imap.append("INBOX", &big);
    imap.append(
        "INBOX",
        &build_mail(&requester, &desk.address, "Fine request", "hello\n"),
    );

    let mut daemon = desk.start();
    let ok = wait_until(WAIT, || desk.store().ticket_count().unwrap_or(0) == 1);
    assert!(ok, "the good mail became a ticket; log:\n{}", daemon.log());
    let ok = wait_until(WAIT, || {
        imap.list_mailboxes().iter().any(|m| m == "Quarantine")
            && imap.message_count("Quarantine") == 2
    });
    assert!(
        ok,
        "two messages moved to Quarantine; log:\n{}",
        daemon.log()
    );
    imap.select("INBOX");
    assert_eq!(
        imap.uid_search_all().len(),
        1,
        "only the good one stays in INBOX"
    );
    let q = desk.store().quarantined(10).unwrap();
    assert_eq!(q.len(), 2);
    assert!(
        q.iter().any(|r| r.error.contains("max-message-size")),
        "{q:?}"
    );
    assert!(q.iter().all(|r| r.uid.is_some()));

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .args(["--config", desk.config.to_str().unwrap(), "quarantine"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && listing.contains("max-message-size"),
        "{listing}"
    );

    // `quarantine --retry`: still too large, it stays; after the admin
    // raises the limit, it becomes a ticket and its acknowledgement arrives.
    let big_id = q
        .iter()
        .find(|r| r.error.contains("max-message-size"))
        .unwrap()
        .id;
    let retry = |desk: &TestDesk| {
        std::process::Command::new(env!("CARGO_BIN_EXE_postdesk"))
            .args([
                "--config",
                desk.config.to_str().unwrap(),
                "quarantine",
                "--retry",
            ])
            .arg(big_id.to_string())
            .output()
            .unwrap()
    };
    let out = retry(&desk);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(desk.store().ticket_count().unwrap(), 1);
    let q = desk.store().quarantined(10).unwrap();
    assert_eq!(q.len(), 2, "a failed retry stays one entry: {q:?}");
    assert!(q.iter().all(|r| r.uid.is_some()), "{q:?}");
    desk.set("storage.max-message-size", "1MB");
    let out = retry(&desk);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("1 new ticket"),
        "{said}"
    );
    assert_eq!(desk.store().ticket_count().unwrap(), 2);
    let acks = wait_for_messages(desk.env(), &requester, 2, WAIT);
    assert!(
        acks.iter()
            .any(|a| header(a, "Subject").contains("Huge log")),
        "the retried request was acknowledged"
    );
    // Retried once, it is no longer waiting.
    assert!(!retry(&desk).status.success());

    // `--retry-all`, twice: the garbage still fails, and stays one entry.
    for _ in 0..2 {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_postdesk"))
            .args([
                "--config",
                desk.config.to_str().unwrap(),
                "quarantine",
                "--retry-all",
            ])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{said}");
        assert!(
            said.contains("retried 1 quarantined message(s): 0 processed, 1 still failing"),
            "{said}"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("retrying ["), "no bar off a terminal: {err}");
    }
    assert_eq!(desk.store().quarantine_held().unwrap(), 1);
    assert_eq!(desk.store().quarantined(10).unwrap().len(), 2);
    daemon.stop();
}

#[test]
fn a_failing_mailbox_does_not_stop_the_others() {
    // A second mailbox whose server is not there (nothing listens on port 1).
    let broken = r#"
[[mailbox]]
name = "broken"
kind = "imap"
host = "127.0.0.1"
port = 1
security = "plain"
username = "nobody@example.test"
password-file = "imap-password"
"#;
    let desk = TestDesk::builder("two-mailboxes").section(broken).build();
    let requester = desk.env().unique_user("erin");
    let mut daemon = desk.start();
    desk.send(
        &requester,
        &build_mail(&requester, &desk.address, "Still served", "hello\n"),
    );
    let acks = wait_for_messages(desk.env(), &requester, 1, WAIT);
    assert!(header(&acks[0], "Subject").contains("Still served"));
    let ok = wait_until(WAIT, || daemon.log().contains("mailbox=broken"));
    assert!(
        ok,
        "the broken mailbox keeps retrying in its own task:\n{}",
        daemon.log()
    );
    daemon.stop();
}

#[test]
fn the_password_is_in_no_log_line_even_at_trace_level() {
    let desk = desk("pwlog").build();
    let requester = desk.env().unique_user("ann");
    let password = desk.env().password.clone();
    let log = desk.dir.path().join("trace.log");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_postdesk"));
    cmd.arg("run").arg("--config").arg(&desk.config);
    cmd.env("NO_COLOR", "1").env("POSTDESK_LOG", "trace");
    let mut daemon = Daemon::spawn(cmd, &log);
    daemon.wait_for_log("IMAP connected", WAIT);
    desk.send(
        &requester,
        &build_mail(&requester, &desk.address, "VPN", "It drops.\n"),
    );
    wait_for_messages(desk.env(), &requester, 1, WAIT);
    daemon.stop();
    let text = daemon.log();
    // The log really is below info (the IDLE wake-up for the mail is a
    // debug line), and saw the login and the mail.
    assert!(text.contains(" DEBUG "), "not a debug log:\n{text}");
    assert!(text.contains("IMAP connected"), "{text}");
    let leaks: Vec<&str> = text.lines().filter(|l| l.contains(&password)).collect();
    assert!(
        leaks.is_empty(),
        "the password {password:?} is in the log:\n{}",
        leaks.join("\n")
    );
    // Nor in `postdesk check`, which logs in too.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .args(["check", "--config"])
        .arg(&desk.config)
        .env("POSTDESK_LOG", "trace")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("logged in to"), "{all}");
    assert!(
        !all.contains(&password),
        "the password is in check's output:\n{all}"
    );
}
