//! Hostile mail at the mailbox (issue 17). One mail must never stop a
//! mailbox: a sender's display name with a line break in it (raw, or
//! inside an RFC 2047 encoded word) used to make building the
//! acknowledgement panic, which killed the mailbox task for good while the
//! process looked healthy. Here such a mail arrives over IMAP (the lab
//! Dovecot) and through a Maildir, and mail sent after it is still
//! answered; the hostile mail is answered too, with its name cleaned and
//! nothing injected into the headers. And a backlog of large mails is
//! processed a few at a time (`batch-bytes`), not all at once.

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

/// A plain mail of about `size` bytes of text.
fn large_mail(from: &str, to: &str, n: usize, size: usize) -> Vec<u8> {
    let line = format!("{}\n", "0123456789".repeat(7));
    MailBuilder::new(from, to)
        .subject(&format!("Large log {n}"))
        .body(line.repeat(size / line.len()).as_bytes())
        .build()
}

/// The `created` count of every "batch committed" line in `log`.
fn batch_sizes(log: &str) -> Vec<usize> {
    log.lines()
        .filter(|l| l.contains("batch committed"))
        .filter_map(|l| {
            let at = l.find("created: ")? + "created: ".len();
            l[at..]
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// Waits until the log says batches holding `n` new tickets were committed
/// (the line comes just after the commit, so the database alone is too soon).
#[track_caller]
fn wait_for_batches(daemon: &Daemon, n: usize) {
    let ok = wait_until(WAIT, || {
        batch_sizes(&daemon.log()).iter().sum::<usize>() >= n
    });
    assert!(
        ok,
        "expected {n} tickets in committed batches; log:\n{}",
        daemon.log()
    );
}

const MB: usize = 1 << 20;

#[test]
fn an_imap_backlog_of_large_mails_is_fetched_a_few_at_a_time() {
    let desk = TestDesk::builder("batch-bytes-imap")
        .set("mailbox.batch-bytes", "3MB")
        .build();
    let env = desk.env();
    let ann = env.unique_user("ann");
    let mut imap = Imap::login(env, &desk.address);
    for n in 0..4 {
        imap.append("INBOX", &large_mail(&ann, &desk.address, n, 1200 * 1024));
    }
    imap.logout();
    let mut daemon = desk.start();
    wait_for_batches(&daemon, 4);
    let log = daemon.log();
    assert_eq!(batch_sizes(&log), [2, 2], "{log}");
    daemon.stop();
}

#[test]
fn a_maildir_backlog_of_large_mails_is_read_a_few_at_a_time() {
    let desk = TestDesk::builder("batch-bytes-maildir")
        .maildir_and_files()
        .set("mailbox.batch-bytes", "3MB")
        .build();
    let maildir = desk.path_of("mailbox.path");
    for n in 0..4 {
        let raw = large_mail("ann@corp.test", &desk.address, n, 1200 * 1024);
        assert!(raw.len() > MB && raw.len() < 3 * MB / 2);
        deliver(&maildir, &format!("{n}.large"), &raw);
    }
    let mut daemon = desk.start();
    wait_for_batches(&daemon, 4);
    let log = daemon.log();
    assert_eq!(batch_sizes(&log), [2, 2], "{log}");
    daemon.stop();
}
