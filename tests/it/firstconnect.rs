//! The first connection to a folder that already holds mail (issue 11 §2),
//! on the lab Dovecot and on a Maildir: by default nothing old is answered
//! and no ticket is made until new mail arrives; `import` records the old
//! mail as closed history with its threads and sends nothing; `postdesk
//! import` does the same later and goes on after a kill; downtime is not a
//! first connection.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::*;

fn postdesk(desk: &TestDesk, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .arg("--config")
        .arg(&desk.config)
        .args(args)
        .env_remove("POSTDESK_CONFIG")
        .output()
        .expect("run postdesk")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A request from `from`, dated a year before the lab's mail.
fn old_request(from: &str, to: &str, subject: &str) -> Vec<u8> {
    MailBuilder::new(from, to)
        .subject(subject)
        .date("Mon, 01 Dec 2025 09:00:00 +0000")
        .body(b"This was written long before postdesk.\n")
        .build()
}

/// Puts old mail straight into the desk's INBOX, as years of use left it.
fn seed(desk: &TestDesk, mails: &[Vec<u8>]) {
    let mut imap = Imap::login(desk.env(), &desk.address);
    for m in mails {
        imap.append("INBOX", m);
    }
    imap.logout();
}

fn rows(desk: &TestDesk, sql: &str) -> Vec<Vec<String>> {
    let db = rusqlite::Connection::open(desk.db_path()).expect("open the desk database");
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    let mut stmt = db.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        (0..n)
            .map(|i| {
                r.get::<_, rusqlite::types::Value>(i).map(|v| match v {
                    rusqlite::types::Value::Null => "NULL".into(),
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    other => format!("{other:?}"),
                })
            })
            .collect()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn count(desk: &TestDesk, sql: &str) -> i64 {
    rows(desk, sql)[0][0].parse().unwrap()
}

fn inbox_count(env: &MailEnv, user: &str) -> usize {
    let mut imap = Imap::login(env, user);
    let n = imap.message_count("INBOX") as usize;
    imap.logout();
    n
}

#[test]
fn a_fresh_desk_leaves_old_mail_alone_and_handles_only_new_mail() {
    let desk = TestDesk::builder("first-new-only")
        .unset("mailbox.on-first-connect")
        .build();
    let old_senders: Vec<String> = (0..5)
        .map(|i| desk.env().unique_user(&format!("old{i}")))
        .collect();
    let old: Vec<Vec<u8>> = old_senders
        .iter()
        .map(|s| old_request(s, &desk.address, "Old question"))
        .collect();
    seed(&desk, &old);

    let mut daemon = desk.start();
    daemon.wait_for_log("first connection", WAIT);
    assert!(
        daemon
            .log()
            .contains("5 messages already in INBOX were left alone"),
        "the log says how many and how to import them:\n{}",
        daemon.log()
    );
    assert!(daemon.log().contains("postdesk import --mailbox support"));
    // Give the daemon time to (wrongly) take the old mail for new.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(desk.store().ticket_count().unwrap(), 0, "{}", daemon.log());
    assert_eq!(desk.store().inbound_count().unwrap(), 0);
    assert_eq!(count(&desk, "SELECT count(*) FROM outbox"), 0);

    let check = postdesk(&desk, &["check"]);
    assert!(
        text(&check).contains("5 messages that were in INBOX at the first connection")
            && text(&check).contains("postdesk import --mailbox support"),
        "{}",
        text(&check)
    );

    let ann = desk.env().unique_user("ann");
    desk.send(
        &ann,
        &build_mail(&ann, &desk.address, "New question", "Help me now.\n"),
    );
    let acks = wait_for_messages(desk.env(), &ann, 1, WAIT);
    assert!(header(&acks[0], "Subject").contains("New question"));
    assert_eq!(desk.store().ticket_count().unwrap(), 1, "only the new mail");
    daemon.stop();

    // Downtime is not a first connection: mail that came while postdesk
    // was stopped is new.
    let bob = desk.env().unique_user("bob");
    desk.send(
        &bob,
        &build_mail(&bob, &desk.address, "While you slept", "Hello?\n"),
    );
    env_wait_delivered(&desk, 7);
    let mut daemon = desk.start();
    let acks = wait_for_messages(desk.env(), &bob, 1, WAIT);
    assert!(header(&acks[0], "Subject").contains("While you slept"));
    assert_eq!(desk.store().ticket_count().unwrap(), 2);
    daemon.stop();
    for s in &old_senders {
        assert_eq!(inbox_count(desk.env(), s), 0, "{s} got mail about old mail");
    }
    // Left alone means unread, too: a restart marks only mail it recorded
    // (UIDs 1-5 are the old mail; 6 and 7 were handled).
    let mut imap = Imap::login(desk.env(), &desk.address);
    imap.select("INBOX");
    let unseen = imap.command_ok("UID SEARCH UNSEEN");
    let unseen: Vec<u32> = unseen
        .lines_of("SEARCH")
        .flat_map(|l| l.numbers_after("SEARCH"))
        .collect();
    imap.logout();
    assert_eq!(unseen, [1, 2, 3, 4, 5], "the old mail is still unread");
}

/// Waits until the desk's INBOX holds `n` messages.
fn env_wait_delivered(desk: &TestDesk, n: u32) {
    let ok = wait_until(WAIT, || {
        let mut imap = Imap::login(desk.env(), &desk.address);
        let have = imap.message_count("INBOX");
        imap.logout();
        have >= n
    });
    assert!(ok, "{n} messages never reached the desk's INBOX");
}

#[test]
fn import_mode_records_old_mail_as_closed_history_and_sends_nothing() {
    let desk = TestDesk::builder("first-import")
        .set("mailbox.on-first-connect", "import")
        .set("mailbox.after", "seen")
        .build();
    let ann = desk.env().unique_user("ann");
    let cid = desk.env().unique_user("cid");
    let a = old_request(&ann, &desk.address, "VPN drops every hour");
    let a_reply = reply_to(&ann, &desk.address, &a, "Still happening.");
    let c = old_request(&cid, &desk.address, "New laptop please");
    seed(&desk, &[a, a_reply, c]);

    let mut daemon = desk.start();
    daemon.wait_for_log("import finished", WAIT);
    let tickets = rows(
        &desk,
        "SELECT number, status, imported_at IS NOT NULL, priority, reply_by,
                (SELECT count(*) FROM messages m WHERE m.ticket = t.number),
                (SELECT count(*) FROM events e WHERE e.ticket = t.number AND e.kind = 'imported')
         FROM tickets t ORDER BY number",
    );
    let want = |n: &str, msgs: &str| {
        vec![
            n.to_string(),
            "closed".into(),
            "1".into(),
            "NULL".into(),
            "NULL".into(),
            msgs.into(),
            "1".into(),
        ]
    };
    assert_eq!(
        tickets,
        vec![want("1000", "2"), want("1001", "1")],
        "the reply joined its thread"
    );
    let created = rows(&desk, "SELECT created_at FROM tickets WHERE number = 1000");
    assert_eq!(
        created[0][0], "1764579600000",
        "the ticket is dated as its mail"
    );
    assert_eq!(
        count(&desk, "SELECT count(*) FROM outbox"),
        0,
        "nothing sent"
    );
    assert_eq!(count(&desk, "SELECT count(*) FROM escalations"), 0);
    // The review of the month the old mail is from leaves it out.
    let report = postdesk(&desk, &["report", "--month", "2025-12", "--format", "json"]);
    assert!(report.status.success(), "{}", text(&report));
    let json: serde_json::Value = serde_json::from_slice(&report.stdout).expect("report json");
    assert_eq!(json["summary"]["opened"], 0, "{json}");
    assert_eq!(json["summary"]["closed"], 0, "{json}");

    // New mail after the import is handled as usual.
    let dan = desk.env().unique_user("dan");
    desk.send(
        &dan,
        &build_mail(&dan, &desk.address, "Printer", "Jammed.\n"),
    );
    let acks = wait_for_messages(desk.env(), &dan, 1, WAIT);
    assert!(header(&acks[0], "Subject").contains("[#1002]"));
    daemon.stop();
    assert_eq!(inbox_count(desk.env(), &ann), 0);
    assert_eq!(inbox_count(desk.env(), &cid), 0);
}

#[test]
fn the_import_command_goes_on_after_a_kill() {
    const OLD: usize = 300;
    let desk = TestDesk::builder("first-import-kill")
        .unset("mailbox.on-first-connect")
        .set("mailbox.batch-size", 1)
        .build();
    let senders: Vec<String> = (0..3)
        .map(|i| desk.env().unique_user(&format!("s{i}")))
        .collect();
    let old: Vec<Vec<u8>> = (0..OLD)
        .map(|i| old_request(&senders[i % 3], &desk.address, &format!("Old request {i}")))
        .collect();
    seed(&desk, &old);

    let mut child = Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .arg("--config")
        .arg(&desk.config)
        .args(["import", "--mailbox", "support"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start postdesk import");
    let progress = || -> Option<(i64, String)> {
        let db = rusqlite::Connection::open_with_flags(
            desk.db_path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .ok()?;
        db.query_row(
            "SELECT done_uid, coalesce(finished_at, 'running') FROM imports",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, rusqlite::types::Value>(1)
                        .map(|v| format!("{v:?}"))?,
                ))
            },
        )
        .ok()
    };
    let started = wait_until(WAIT, || progress().is_some_and(|(done, _)| done >= 20));
    child.kill().expect("kill the import");
    let _ = child.wait();
    assert!(started, "the import never got going");
    let (done, state) = progress().unwrap();
    assert!(
        state.contains("running") && (done as usize) < OLD,
        "killed halfway: done_uid {done}, {state} (the import was too quick to kill)"
    );
    let halfway = desk.store().ticket_count().unwrap();
    assert!(halfway > 0 && (halfway as usize) < OLD, "{halfway}");

    let again = postdesk(&desk, &["import", "--mailbox", "support"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("resumed after UID"),
        "{}",
        text(&again)
    );
    assert_eq!(
        desk.store().ticket_count().unwrap(),
        OLD as i64,
        "each old mail once"
    );
    assert_eq!(desk.store().inbound_count().unwrap(), OLD as i64);
    assert_eq!(
        count(
            &desk,
            "SELECT count(*) FROM tickets WHERE status <> 'closed' OR imported_at IS NULL"
        ),
        0
    );
    assert_eq!(count(&desk, "SELECT count(*) FROM outbox"), 0);
    let check = postdesk(&desk, &["check"]);
    assert!(
        text(&check).contains(&format!("imported {OLD} old mails from INBOX")),
        "{}",
        text(&check)
    );

    // The daemon, started after the import, takes none of it for new.
    let mut daemon = desk.start();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        desk.store().ticket_count().unwrap(),
        OLD as i64,
        "{}",
        daemon.log()
    );
    daemon.stop();
    for s in &senders {
        assert_eq!(inbox_count(desk.env(), s), 0);
    }
}

fn deliver(maildir: &Path, name: &str, raw: &[u8]) {
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let tmp = maildir.join("tmp").join(name);
    std::fs::write(&tmp, raw).unwrap();
    std::fs::rename(&tmp, maildir.join("new").join(name)).unwrap();
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_maildir_with_files_is_left_alone_then_imported() {
    let desk = TestDesk::builder("first-maildir")
        .maildir_and_files()
        .unset("mailbox.on-first-connect")
        .build();
    let maildir = desk.path_of("mailbox.path");
    let outbox = desk.path_of("outbox.dir");
    for i in 0..3 {
        let m = old_request(
            &format!("old{i}@example.com"),
            &desk.address,
            &format!("Old {i}"),
        );
        deliver(&maildir, &format!("100{i}.old"), &m);
    }
    let mut daemon = desk.start();
    assert!(
        daemon.log().contains("3 messages already in"),
        "{}",
        daemon.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(desk.store().ticket_count().unwrap(), 0, "{}", daemon.log());
    assert!(files(&maildir.join("new")).is_empty());
    assert_eq!(
        files(&maildir.join("cur")),
        ["1000.old:2,", "1001.old:2,", "1002.old:2,"],
        "left alone: in cur/, not marked seen"
    );
    assert!(files(&outbox).is_empty());

    let new = build_mail("ann@example.com", &desk.address, "New one", "Help.\n");
    deliver(&maildir, "2000.new", &new);
    assert_eventually(WAIT, "the new mail is acknowledged", || {
        files(&outbox).len() == 1
    });
    assert_eq!(desk.store().ticket_count().unwrap(), 1);
    daemon.stop();

    let out = postdesk(&desk, &["import", "--mailbox", "support"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("3 ticket(s) recorded as history"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("1 already recorded"), "{}", text(&out));
    assert_eq!(
        rows(
            &desk,
            "SELECT number, status, imported_at IS NOT NULL FROM tickets ORDER BY number"
        ),
        [
            ["1000", "new", "0"],
            ["1001", "closed", "1"],
            ["1002", "closed", "1"],
            ["1003", "closed", "1"],
        ]
    );
    assert_eq!(files(&outbox).len(), 1, "nothing more was sent");
}

/// `postdesk import --since` takes only the mail the server received on
/// that day or later (INTERNALDATE, whatever the Date header says), and
/// `--folder` another folder of the account; each records history and
/// sends nothing, and the second run of the same import finds nothing new.
#[test]
fn import_since_and_folder_take_only_what_they_name() {
    let desk = TestDesk::builder("first-import-since").build();
    let ann = desk.env().unique_user("ann");
    let mut imap = Imap::login(desk.env(), &desk.address);
    for (i, received) in [
        "01-Jun-2025 09:00:00 +0000",
        "15-Jun-2025 09:00:00 +0000",
        "02-Nov-2026 09:00:00 +0000",
        "10-Nov-2026 09:00:00 +0000",
        "20-Nov-2026 09:00:00 +0000",
    ]
    .iter()
    .enumerate()
    {
        let m = old_request(&ann, &desk.address, &format!("Inbox request {i}"));
        imap.append_dated("INBOX", received, &m);
    }
    imap.create("Archive");
    for i in 0..2 {
        let m = old_request(&ann, &desk.address, &format!("Archived request {i}"));
        imap.append_dated("Archive", "01-Mar-2024 09:00:00 +0000", &m);
    }
    imap.logout();
    let subjects = || -> Vec<String> {
        rows(&desk, "SELECT subject FROM tickets ORDER BY number")
            .into_iter()
            .map(|r| r[0].clone())
            .collect()
    };

    let since = postdesk(
        &desk,
        &["import", "--mailbox", "support", "--since", "2026-11-01"],
    );
    assert!(since.status.success(), "{}", text(&since));
    assert_eq!(
        subjects(),
        ["Inbox request 2", "Inbox request 3", "Inbox request 4"],
        "{}",
        text(&since)
    );
    assert!(text(&since).contains("read 3 mail(s)"), "{}", text(&since));

    let archive = postdesk(
        &desk,
        &["import", "--mailbox", "support", "--folder", "Archive"],
    );
    assert!(archive.status.success(), "{}", text(&archive));
    assert_eq!(subjects().len(), 5, "{}", text(&archive));
    assert!(subjects().contains(&"Archived request 1".to_string()));
    assert_eq!(
        count(
            &desk,
            "SELECT count(*) FROM tickets WHERE status <> 'closed'"
        ),
        0,
        "history is closed"
    );
    assert_eq!(
        count(&desk, "SELECT count(*) FROM outbox"),
        0,
        "nothing sent"
    );

    let again = postdesk(
        &desk,
        &["import", "--mailbox", "support", "--folder", "Archive"],
    );
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(subjects().len(), 5, "nothing twice: {}", text(&again));
    assert_eq!(inbox_count(desk.env(), &ann), 0, "Ann was told nothing");
}
