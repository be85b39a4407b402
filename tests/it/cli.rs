//! The command line as a user meets it: the built-in defaults of the quick
//! start (Maildir in, files out), `ingest` and its exit codes for an MTA,
//! config errors with file and line. Needs no mail server.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::{Daemon, wait_until};

fn postdesk(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .args(args)
        .current_dir(cwd)
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

const REQUEST: &str = "From: Ann <ann@example.com>\r\nSubject: Printer broken\r\nMessage-ID: <1@example.com>\r\n\r\nIt prints nothing.\r\n";

#[test]
fn quick_start_on_built_in_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_postdesk"));
    cmd.arg("run")
        .current_dir(dir.path())
        .env_remove("POSTDESK_CONFIG");
    let mut daemon = Daemon::spawn(cmd, dir.path().join("run.log"));
    let inbox = dir.path().join("postdesk-data/inbox/new");
    assert!(
        wait_until(Duration::from_secs(20), || inbox.is_dir()),
        "{}",
        daemon.log()
    );
    assert!(
        daemon.log().contains("drop a message"),
        "tells where to drop mail: {}",
        daemon.log()
    );
    std::fs::write(inbox.join("first.eml"), REQUEST).unwrap();

    let outbox = dir.path().join("postdesk-data/outbox");
    // Mail files appear whole: written as a hidden `.….tmp`, then renamed
    // to `….eml`; only the finished ones count.
    let finished = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&outbox)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        !p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let answered = wait_until(Duration::from_secs(20), || finished().len() == 1);
    assert!(
        answered,
        "the acknowledgement appears in the outbox folder; log:\n{}",
        daemon.log()
    );
    let file = finished().remove(0);
    assert_eq!(file.extension().and_then(|e| e.to_str()), Some("eml"));
    let ack = postdesk::inbound::parse(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(ack.subject, "[#1] Printer broken");
    assert_eq!(ack.in_reply_to, vec!["1@example.com"]);
    assert!(
        dir.path()
            .join("postdesk-data/inbox/cur")
            .read_dir()
            .unwrap()
            .count()
            == 1,
        "the processed file moved to cur/"
    );
    daemon.stop();

    let list = postdesk(&["tickets"], dir.path());
    assert!(
        list.status.success() && text(&list).contains("Printer broken"),
        "{}",
        text(&list)
    );
    let show = postdesk(&["ticket", "1"], dir.path());
    assert!(
        text(&show).contains("ann@example.com") && text(&show).contains("ack"),
        "{}",
        text(&show)
    );
    let outbox = postdesk(&["outbox", "--all"], dir.path());
    assert!(text(&outbox).contains("1 sent"), "{}", text(&outbox));
}

#[test]
fn ingest_records_mail_and_says_when_to_retry() {
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("m.eml");
    std::fs::write(&mail, REQUEST).unwrap();
    let ok = postdesk(&["ingest", mail.to_str().unwrap()], dir.path());
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).contains("1 new ticket"), "{}", text(&ok));
    let again = postdesk(&["ingest", mail.to_str().unwrap()], dir.path());
    assert!(
        text(&again).contains("1 duplicate"),
        "the same mail twice is one ticket: {}",
        text(&again)
    );

    // A database that cannot be written: the MTA must keep the mail and retry.
    let blocked = dir.path().join("blocked");
    std::fs::write(&blocked, "a file where the data folder should be").unwrap();
    let fail = postdesk(
        &[
            "--data",
            blocked.to_str().unwrap(),
            "ingest",
            mail.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(fail.status.code(), Some(75), "{}", text(&fail));
    assert!(text(&fail).contains("temporary failure"), "{}", text(&fail));
}

#[test]
fn ingest_of_a_name_with_line_breaks_exits_0() {
    // An MTA takes exit 101 (a panic) for a permanent failure and bounces.
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("hostile.eml");
    std::fs::write(
        &mail,
        "From: =?utf-8?q?Evil=0D=0ABcc=3A_victim=40corp=2Etest?= <evil@corp.test>\r\n\
         Reply-To: =?utf-8?b?RXZpbA0KWDogeQ==?= <evil@corp.test>\r\n\
         Subject: Hello\r\nMessage-ID: <evil1@corp.test>\r\n\r\nHello.\r\n",
    )
    .unwrap();
    let out = postdesk(&["ingest", mail.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("1 new ticket"), "{}", text(&out));
}

#[test]
fn config_mistakes_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("postdesk.toml");
    std::fs::write(
        &cfg,
        "[desk]\naddress = \"help@example.com\"\nfirst-response = \"soon\"\n",
    )
    .unwrap();
    let out = postdesk(&["--config", cfg.to_str().unwrap(), "check"], dir.path());
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains("postdesk.toml:3: `desk.first-response`"),
        "{msg}"
    );
    assert!(msg.contains("expected a duration"), "{msg}");

    std::fs::write(&cfg, "[desk]\naddress = \"help@example.com\"\n[outbox]\ntransport = \"smtp\"\nhost = \"smtp.example.com\"\nsecurity = \"plain\"\n").unwrap();
    let out = postdesk(&["--config", cfg.to_str().unwrap(), "check"], dir.path());
    assert_eq!(out.status.code(), Some(78));
    assert!(text(&out).contains("unencrypted"), "{}", text(&out));
}

#[test]
fn tickets_by_sla_due_time() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("postdesk.toml");
    std::fs::write(
        &cfg,
        r#"
[desk]
address = "helpdesk@example.test"
[storage]
database = "desk.db"
[[mailbox]]
name = "inbox"
kind = "maildir"
path = "inbox"
[[rule]]
name = "vpn"
keywords = ["VPN"]
priority = "P1"
[[sla.policy]]
priority = "P1"
first-response = "30m"
resolution = "4h"
clock = "calendar"
"#,
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    for (n, subject) in [(1, "VPN down"), (2, "VPN slow"), (3, "Printer jam")] {
        let mail = dir.path().join(format!("{n}.eml"));
        std::fs::write(
            &mail,
            format!("From: ann@example.com\r\nSubject: {subject}\r\nMessage-ID: <{n}@example.com>\r\n\r\nHelp.\r\n"),
        )
        .unwrap();
        let out = postdesk(
            &["--config", cfg, "ingest", mail.to_str().unwrap()],
            dir.path(),
        );
        assert!(out.status.success(), "{}", text(&out));
    }
    // Ticket 1 came in an hour ago and waited half an hour on its requester
    // (a closed pause); ticket 2 is new, its first answer due in 30m.
    let db = rusqlite::Connection::open(dir.path().join("desk.db")).unwrap();
    db.execute_batch(
        "UPDATE tickets SET created_at = created_at - 5400000 WHERE number = 1;
         INSERT INTO pauses (ticket, from_at, until_at)
             SELECT number, created_at, created_at + 1800000 FROM tickets WHERE number = 1;",
    )
    .unwrap();
    drop(db);
    let list = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["--config", cfg, "tickets"];
        all.extend_from_slice(args);
        let out = postdesk(&all, dir.path());
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                // The "next due" column; every run takes well under a minute.
                format!("{} {}", cols[0], l[49..69].trim())
                    .trim_end()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(
        list(&[]),
        ["3", "2 29m left", "1 overdue by 30m"].map(String::from)
    );
    assert_eq!(list(&["--overdue"]), ["1 overdue by 30m"]);
    assert_eq!(list(&["--due-within", "10m"]), ["1 overdue by 30m"]);
    assert_eq!(
        list(&["--due-within", "1h"]),
        ["2 29m left", "1 overdue by 30m"]
    );
    assert_eq!(
        list(&["--due-within", "1h", "--limit", "1"]),
        ["2 29m left"]
    );
    let out = postdesk(
        &["--config", cfg, "tickets", "--overdue", "--json"],
        dir.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["number"], 1);
    assert!(v[0]["next_due"].is_i64(), "{v}");
}

/// `postdesk ticket 1 --json | head -1`: the reader goes away after one
/// line. The output is larger than a pipe's buffer, so the write after the
/// reader left fails with EPIPE whatever the timing; the command must then
/// end quietly, not with Rust's "failed printing to stdout" panic.
#[test]
fn a_closed_pipe_ends_output_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("big.eml");
    let line = "The printer on the third floor prints blank pages again.\r\n";
    let body = line.repeat(256 * 1024 / line.len());
    std::fs::write(
        &mail,
        format!("From: \"Ann Example\" <ann@example.com>\r\nSubject: Printer\r\nMessage-ID: <big@example.com>\r\n\r\n{body}"),
    )
    .unwrap();
    let ok = postdesk(&["ingest", mail.to_str().unwrap()], dir.path());
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));

    for args in [
        &["ticket", "1", "--json"][..],
        &["ticket", "1"][..],
        &["tickets", "--json"][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_postdesk"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("POSTDESK_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run postdesk");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader is dropped here: the pipe is closed.
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!first.is_empty(), "{args:?}: some output came");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }

    // The JSON of a ticket names every message's sender.
    let json = postdesk(&["ticket", "1", "--json"], dir.path());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let first = &v["messages"][0];
    assert_eq!(first["from_addr"], "ann@example.com");
    assert_eq!(first["from_name"], "Ann Example", "{first:#}");
}
