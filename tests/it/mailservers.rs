//! The lab mail servers work, and so does the harness that talks to them.
//! Needs `scripts/mailserver-start` (or run everything with `scripts/test`);
//! every test here panics when the servers are not up.

use std::time::{Duration, Instant};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn smtp_to_imap_round_trip_is_byte_exact() {
    let env = MailEnv::load();
    let to = env.unique_user("roundtrip");
    let from = env.unique_user("sender");
    // A line starting with "." (dot-stuffing), one that is just ".", a long
    // line and trailing spaces: all must come back as sent.
    let body = "Hello,\n.hidden dot line\n.\nlong: ".to_string()
        + &"x".repeat(900)
        + "\ntrailing spaces   \nbye\n";
    let raw = build_mail(&from, &to, "Round trip", &body);

    let reply = smtp_send(&env, &from, &[&to], &raw).expect("SMTP send");
    assert!(reply.starts_with("250"), "end of DATA answered {reply:?}");

    let got = wait_for_messages(&env, &to, 1, WAIT);
    assert_eq!(got.len(), 1, "{to} should have exactly one message");
    let fetched = &got[0];
    // Postfix and Dovecot only prepend trace headers (Return-Path,
    // Delivered-To, Received); everything we sent is unchanged.
    assert!(
        fetched.ends_with(&raw),
        "fetched message does not end with the bytes sent.\n--- sent:\n{}\n--- fetched:\n{}",
        String::from_utf8_lossy(&raw),
        String::from_utf8_lossy(fetched)
    );
    assert_eq!(body_of(fetched), body_of(&raw), "body changed on the way");
    assert_eq!(
        header_value(fetched, "Return-Path").as_deref(),
        Some(format!("<{from}>").as_bytes()),
        "Return-Path should be the envelope sender"
    );
}

#[test]
fn one_message_to_several_recipients_and_a_session_for_several_messages() {
    let env = MailEnv::load();
    let a = env.unique_user("multi-a");
    let b = env.unique_user("multi-b");
    let from = env.unique_user("multi-from");
    let mut s = SmtpSession::connect(&env).expect("SMTP connect");
    assert!(s.ehlo.contains("8BITMIME"), "EHLO reply: {}", s.ehlo);
    s.send(&from, &[&a, &b], &build_mail(&from, &a, "both", "one\n"))
        .expect("first message");
    s.send(&from, &[&b], &build_mail(&from, &b, "b only", "two\n"))
        .expect("second message on the same connection");
    s.quit();
    assert_eq!(wait_for_messages(&env, &a, 1, WAIT).len(), 1);
    let for_b = wait_for_messages(&env, &b, 2, WAIT);
    assert_eq!(for_b.len(), 2, "{b} should have both messages");
}

#[test]
fn smtp_errors_carry_the_server_reply() {
    let env = MailEnv::load();
    let err = smtp_send(&env, "a@example.test", &["not an address"], b"x\r\n")
        .expect_err("an address with spaces must be refused");
    assert!(err.stage.starts_with("RCPT TO"), "stage: {err}");
    assert!(
        matches!(err.code, Some(500..=599)),
        "expected a 5xx reply, got {err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("RCPT TO") && text.contains(&err.code.unwrap().to_string()),
        "{text}"
    );
}

#[test]
fn append_then_fetch_and_mailbox_housekeeping() {
    let env = MailEnv::load();
    let user = env.unique_user("append");
    let mut imap = Imap::login(&env, &user);

    let sel = imap.select("INBOX");
    assert_eq!(sel.exists, 0, "a new user's INBOX is empty");
    assert!(imap.uidvalidity() > 0, "SELECT reported UIDVALIDITY");
    assert_eq!(imap.uid_search_all(), Vec::<u32>::new());
    assert!(imap.fetch_all_raw().is_empty());

    let raw = MailBuilder::new("someone@customer.test", &user)
        .subject("Appended")
        .body(b"appended body\r\n")
        .build();
    let uid = imap.append("INBOX", &raw);
    let raw2 = build_mail("other@customer.test", &user, "Second", "second\n");
    let uid2 = imap.append_with_flags("INBOX", "\\Seen", &raw2);
    assert!(uid2 > uid, "UIDs grow: {uid} then {uid2}");

    imap.select("INBOX");
    assert_eq!(imap.uid_search_all(), vec![uid, uid2]);
    assert_eq!(imap.fetch_raw(uid), raw, "APPENDed bytes come back exactly");
    // BODY.PEEK[] leaves the message unseen.
    assert!(imap.flags(uid).is_empty(), "flags: {:?}", imap.flags(uid));
    assert_eq!(imap.flags(uid2), vec!["\\Seen".to_string()]);
    assert_eq!(imap.uid_search("UNSEEN"), vec![uid]);
    assert_eq!(imap.fetch_all_raw(), vec![(uid, raw), (uid2, raw2)]);

    imap.create("Tickets/Closed");
    let boxes = imap.list_mailboxes();
    for want in ["INBOX", "Archive", "Sent", "Tickets", "Tickets/Closed"] {
        assert!(
            boxes.iter().any(|b| b == want),
            "{want} missing from {boxes:?}"
        );
    }
    assert_eq!(imap.message_count("INBOX"), 2);
    assert_eq!(imap.message_count("Tickets/Closed"), 0);
    imap.logout();

    // wait_for_messages sees APPENDed mail too.
    assert_eq!(wait_for_messages(&env, &user, 2, WAIT).len(), 2);
}

#[test]
fn imap_errors_are_reported_not_hidden() {
    let env = MailEnv::load();
    let user = env.unique_user("imaperr");
    let err = match Imap::try_login_with(&env, &user, "wrong-password") {
        Ok(_) => panic!("a wrong password must be refused"),
        Err(e) => e,
    };
    assert!(err.to_string().contains("NO"), "{err}");

    let mut imap = Imap::login(&env, &user);
    let err = imap
        .command("SELECT \"No/Such/Box\"")
        .expect_err("selecting a missing mailbox fails");
    assert!(err.detail.contains("NO"), "{err}");
    imap.logout();
}

#[test]
fn gbk_subject_and_body_round_trip() {
    let env = MailEnv::load();
    let to = env.unique_user("gbk");
    let from = env.unique_user("gbk-sender");
    let mail = MailBuilder::new(&from, &to)
        .subject_in("gbk", GBK_PRINTER_BROKEN)
        .charset("gbk")
        .body(GBK_PLEASE_FIX);
    let id = mail.id().to_string();
    let raw = mail.build();
    smtp_send(&env, &from, &[&to], &raw).expect("SMTP send");

    let got = wait_for_messages(&env, &to, 1, WAIT);
    let fetched = &got[0];
    assert!(fetched.ends_with(&raw), "GBK message changed on the way");
    // The subject header, byte for byte, and what it decodes to.
    let subject = header_value(fetched, "Subject").expect("a Subject header");
    assert_eq!(subject, b"=?gbk?B?tPLTobv6u7XByw==?=".to_vec());
    let b64 = &subject[b"=?gbk?B?".len()..subject.len() - 2];
    assert_eq!(base64_decode(b64).as_deref(), Some(GBK_PRINTER_BROKEN));
    assert!(
        fetched
            .windows(GBK_PLEASE_FIX.len())
            .any(|w| w == GBK_PLEASE_FIX),
        "the GBK body bytes are in the fetched message"
    );
    assert_eq!(
        header_value(fetched, "Message-ID").as_deref(),
        Some(id.as_bytes())
    );

    // A real MIME parser (the one postdesk uses) reads it back as text.
    let parsed = mail_parser::MessageParser::default()
        .parse(fetched.as_slice())
        .expect("mail-parser parses the fetched message");
    assert_eq!(parsed.subject(), Some("打印机坏了"));
    assert_eq!(
        parsed.body_text(0).as_deref().map(str::trim_end),
        Some("请帮忙修理打印机，谢谢。")
    );
}

#[test]
fn sieve_vacation_reply_comes_back_through_postfix() {
    let env = MailEnv::load();
    let requester = env.unique_user("away");
    let desk = env.unique_user("desk");
    env.set_vacation(&requester, "Out of office", "I am away until Monday.");

    let mail = MailBuilder::new(&desk, &requester)
        .subject("Your ticket [#1]")
        .body(b"We got your request.\r\n");
    let id = mail.id().to_string();
    let t0 = Instant::now();
    smtp_send(&env, &desk, &[&requester], &mail.build()).expect("SMTP send");

    // The requester gets the mail; the desk gets the vacation reply.
    assert_eq!(wait_for_messages(&env, &requester, 1, WAIT).len(), 1);
    let replies = wait_for_messages(&env, &desk, 1, WAIT);
    let elapsed = t0.elapsed();
    let reply = &replies[0];
    let show = String::from_utf8_lossy(reply);
    assert_eq!(
        header_value(reply, "Subject").as_deref(),
        Some(&b"Out of office"[..]),
        "{show}"
    );
    assert_eq!(
        header_value(reply, "In-Reply-To").as_deref(),
        Some(id.as_bytes()),
        "{show}"
    );
    let auto = header_value(reply, "Auto-Submitted").unwrap_or_default();
    assert!(auto.starts_with(b"auto-replied"), "{show}");
    assert_eq!(
        header_value(reply, "Return-Path").as_deref(),
        Some(&b"<>"[..]),
        "vacation replies have a null envelope sender: {show}"
    );
    assert!(
        String::from_utf8_lossy(body_of(reply)).contains("I am away until Monday."),
        "{show}"
    );
    assert!(
        env.postfix_log_about(&desk, 20).contains("relay=127.0.0.1"),
        "the reply went through our Postfix to Dovecot"
    );
    eprintln!("vacation reply arrived {elapsed:?} after the send");
}

#[test]
fn waiting_for_mail_that_never_comes_fails_with_a_count() {
    let env = MailEnv::load();
    let user = env.unique_user("nobody-writes");
    let env2 = env.clone();
    let user2 = user.clone();
    let result = std::panic::catch_unwind(move || {
        wait_for_messages(&env2, &user2, 1, Duration::from_millis(200))
    });
    let msg = panic_text(result.expect_err("nothing was sent, so waiting must fail"));
    assert!(msg.contains("0 arrived") && msg.contains(&user), "{msg}");
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}
