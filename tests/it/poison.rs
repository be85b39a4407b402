//! One mail must never stop a mailbox (issue 17, part 1): a sender's display
//! name with a line break in it (raw, or inside an RFC 2047 encoded word)
//! used to make building the acknowledgement panic, which killed the
//! mailbox task for good while the process looked healthy. Here such a mail
//! arrives over IMAP (the lab Dovecot) and through a Maildir, and mail sent
//! after it is still answered; the hostile mail is answered too, with its
//! name cleaned and nothing injected into the headers.

use std::path::Path;
use std::time::Duration;

use crate::support::*;

/// A From display name that decodes to `Evil\r\nBcc: <victim>`.
fn hostile_from(victim: &str, address: &str) -> String {
    let victim_q = victim.replace('@', "=40").replace('.', "=2E");
    format!("=?utf-8?q?Evil=0D=0ABcc=3A_{victim_q}?= <{address}>")
}

/// `Evil\r\nX: y` as a base64 encoded word, for Reply-To.
fn hostile_reply_to(address: &str) -> String {
    format!("=?utf-8?b?RXZpbA0KWDogeQ==?= <{address}>")
}

/// Every line CRLF-terminated, within 998 characters; nothing injected.
#[track_caller]
fn assert_clean(raw: &[u8], victim: &str) {
    for (i, line) in raw.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        assert!(!line.contains(&b'\r'), "bare CR on line {i}");
        assert!(line.len() <= 998, "line {i} has {} bytes", line.len());
    }
    assert_eq!(header(raw, "Bcc"), "", "a Bcc header was injected");
    assert_eq!(header(raw, "X"), "", "an X header was injected");
    let to = header(raw, "To");
    assert!(!to.contains(victim) || to.contains("=?"), "{to}");
}

#[test]
fn imap_mailbox_survives_a_name_with_line_breaks() {
    let desk = TestDesk::builder("poison-imap").build();
    let env = desk.env();
    let evil = env.unique_user("evil");
    let victim = env.unique_user("victim");
    let ann = env.unique_user("ann");
    let mut daemon = desk.start();

    let hostile = MailBuilder::new(&hostile_from(&victim, &evil), &desk.address)
        .header("Reply-To", &hostile_reply_to(&evil))
        .subject("Hello")
        .body(b"Just saying hello.\n")
        .build();
    desk.send(&evil, &hostile);
    let store = desk.store();
    assert_eventually(WAIT, "the hostile mail to be recorded", || {
        store.inbound_count().unwrap_or(0) >= 1 || !store.quarantined(1).unwrap().is_empty()
    });

    let request = MailBuilder::new(&format!("Ann <{ann}>"), &desk.address)
        .subject("Printer on floor 3")
        .body(b"It prints nothing.\n")
        .build();
    desk.send(&ann, &request);
    let acks = wait_for_messages(env, &ann, 1, WAIT);
    assert_eq!(header(&acks[0], "Subject"), "[#1001] Printer on floor 3");

    let evil_acks = wait_for_messages(env, &evil, 1, WAIT);
    assert_clean(&evil_acks[0], &victim);
    let parsed = postdesk::inbound::parse(&evil_acks[0]).unwrap();
    assert_eq!(parsed.to.len(), 1, "{:?}", parsed.to);
    assert_eq!(parsed.to[0].address, evil);
    assert!(daemon.is_running(), "{}", daemon.log());
    daemon.stop();
    let mut imap = Imap::login(env, &victim);
    imap.select("INBOX");
    assert!(imap.uid_search_all().is_empty(), "the victim got mail");
}

/// Delivers `raw` as an MTA does: into `tmp/`, then renamed into `new/`.
fn deliver(maildir: &Path, name: &str, raw: &[u8]) {
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let tmp = maildir.join("tmp").join(name);
    std::fs::write(&tmp, raw).unwrap();
    std::fs::rename(&tmp, maildir.join("new").join(name)).unwrap();
}

fn eml_files(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|f| std::fs::read(f).ok()).collect()
}

#[test]
fn maildir_mailbox_survives_names_with_line_breaks() {
    let desk = TestDesk::builder("poison-maildir")
        .maildir_and_files()
        .build();
    let maildir = desk.path_of("mailbox.path");
    let outbox = desk.path_of("outbox.dir");
    let mut daemon = desk.start();

    let encoded = MailBuilder::new(
        &hostile_from("victim@corp.test", "evil1@corp.test"),
        &desk.address,
    )
    .header("Reply-To", &hostile_reply_to("evil1@corp.test"))
    .subject("Hello")
    .body(b"Hello.\n")
    .build();
    // A bare CR and a bare LF inside a quoted display name, as no MTA on
    // the way would let through, but a local delivery can.
    let raw = MailBuilder::new(
        "\"Evil\rBcc: victim@corp.test\" <evil2@corp.test>",
        &desk.address,
    )
    .raw_header("Reply-To", b"\"Evil\nX: y\" <evil2@corp.test>")
    .subject("Hello again")
    .body(b"Hello.\n")
    .build();
    deliver(&maildir, "1.hostile-encoded", &encoded);
    deliver(&maildir, "2.hostile-raw", &raw);
    let store = desk.store();
    assert_eventually(WAIT, "the hostile mails to be recorded", || {
        store.inbound_count().unwrap_or(0) + store.quarantined(10).unwrap().len() as i64 >= 2
    });

    let request = MailBuilder::new("Ann <ann@corp.test>", &desk.address)
        .subject("Printer on floor 3")
        .body(b"It prints nothing.\n")
        .build();
    deliver(&maildir, "3.request", &request);
    assert_eventually(WAIT, "three acknowledgements in the outbox", || {
        eml_files(&outbox).len() >= 3
    });
    let out = eml_files(&outbox);
    for raw in &out {
        assert_clean(raw, "victim@corp.test");
    }
    assert!(
        out.iter()
            .any(|m| header(m, "Subject") == "[#1002] Printer on floor 3"),
        "{:?}",
        out.iter().map(|m| header(m, "Subject")).collect::<Vec<_>>()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(daemon.is_running(), "{}", daemon.log());
    daemon.stop();
}
