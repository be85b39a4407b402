//! Ticket management and the knowledge base from the shell, on a desk with
//! a Maildir and mail written to files (no mail server needed): `ticket N
//! set` applies the agents' rules and records events, a refused change
//! changes nothing, `ticket N export` writes .eml files and an mbox,
//! `report` prints the review, `kb` lists and searches; what mail wrote
//! cannot drive the terminal, exports are the owner's only, and the
//! reading commands work on a full disk.

use std::path::Path;
use std::process::Command;

use crate::support::TestDesk;

fn postdesk(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("POSTDESK_LOG", "warn")
        .output()
        .expect("run postdesk");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn set_export_report_and_kb_from_the_shell() {
    let desk = TestDesk::builder("admin")
        .maildir_and_files()
        .address("helpdesk@example.test")
        .unset("desk.first-ticket-number")
        .set("mailbox.name", "inbox")
        .set("workflow.agent-authentication", "none")
        .section(
            r#"
[[team]]
name = "service-desk"
tier = "L1"
[[team]]
name = "network"
tier = "L2"
[[agent]]
name = "alice"
addresses = ["alice@example.test"]
team = "service-desk"
"#,
        )
        .build();
    let (dir, config) = (&desk.dir, desk.config.clone());
    let request = dir.path().join("request.eml");
    // With a log attached as base64: stored as the bytes it carries
    // (codec 2), it must come back out of the export byte for byte.
    let log: Vec<u8> = (0..6_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut mail = b"From: Ann <ann@corp.test>\r\nTo: helpdesk@example.test\r\nSubject: VPN drops\r\nMessage-ID: <r1@corp.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nFrom now on the VPN drops every hour.\r\n--b1\r\nContent-Type: application/octet-stream; name=\"vpn.log\"\r\nContent-Disposition: attachment; filename=\"vpn.log\"\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(&log);
    for line in text.as_bytes().chunks(76) {
        mail.extend_from_slice(line);
        mail.extend_from_slice(b"\r\n");
    }
    mail.extend_from_slice(b"--b1--\r\n");
    std::fs::write(&request, &mail).unwrap();
    let (ok, _, err) = postdesk(&config, &["ingest", request.to_str().unwrap()]);
    assert!(ok, "{err}");

    // A refused change (no such agent) changes nothing, the rest neither.
    let (ok, _, err) = postdesk(
        &config,
        &[
            "ticket",
            "1",
            "set",
            "--priority",
            "P2",
            "--assignee",
            "zed",
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("refused --assignee zed: no agent `zed`"),
        "{err}"
    );
    assert!(err.contains("nothing changed"), "{err}");
    let (_, show, _) = postdesk(&config, &["ticket", "1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(v["ticket"]["priority"], serde_json::Value::Null);

    // Valid changes, recorded as the admin's events.
    let (ok, out, err) = postdesk(
        &config,
        &[
            "ticket",
            "1",
            "set",
            "--priority",
            "high",
            "--assignee",
            "alice",
            "--status",
            "open",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("ticket 1: --priority P2 (priority P2)"),
        "{out}"
    );
    let (ok, out, err) = postdesk(
        &config,
        &["ticket", "1", "set", "--team", "L2", "--status", "resolved"],
    );
    assert!(ok, "{err}");
    assert!(out.contains("mail(s) queued"), "{out}");
    let (_, show, _) = postdesk(&config, &["ticket", "1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(v["ticket"]["status"], "resolved");
    assert_eq!(v["ticket"]["team"], "network");
    assert_eq!(
        v["ticket"]["assignee"],
        serde_json::Value::Null,
        "a new team clears the assignee"
    );
    let events: Vec<(String, String)> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "admin (cli)")
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["new"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("status".into(), "open".into()),
            ("priority".into(), "P2".into()),
            ("assignee".into(), "alice".into()),
            ("status".into(), "resolved".into()),
            ("team".into(), "network".into()),
            ("tier".into(), "L2".into()),
            ("assignee".into(), "".into()),
            ("kb".into(), "draft".into()),
        ]
    );
    let kinds: Vec<&str> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["request", "ack", "notify-new", "resolved"]);
    assert!(
        postdesk(&config, &["ticket", "9", "set", "--status", "open"])
            .2
            .contains("no ticket 9")
    );

    // Export.
    let eml = dir.path().join("eml");
    let (ok, out, err) = postdesk(
        &config,
        &["ticket", "1", "export", "--eml", eml.to_str().unwrap()],
    );
    assert!(ok, "{err}");
    assert!(out.contains("4 message(s)"), "{out}");
    let mut names: Vec<String> = std::fs::read_dir(&eml)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "1-001-in-request.eml",
            "1-002-out-ack.eml",
            "1-003-out-notify-new.eml",
            "1-004-out-resolved.eml"
        ]
    );
    assert_eq!(
        std::fs::read(eml.join("1-001-in-request.eml")).unwrap(),
        std::fs::read(&request).unwrap(),
        "the bytes as received"
    );
    let codec: i64 = rusqlite::Connection::open(desk.db_path())
        .unwrap()
        .query_row(
            "SELECT raw_codec FROM messages WHERE direction = 'in'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(codec, 2, "the attachment was stored decoded");
    let mbox = dir.path().join("t.mbox");
    assert!(
        postdesk(
            &config,
            &["ticket", "1", "export", "--mbox", mbox.to_str().unwrap()]
        )
        .0
    );
    let text = std::fs::read_to_string(&mbox).unwrap();
    assert_eq!(
        text.matches("\nFrom ").count() + usize::from(text.starts_with("From ")),
        4,
        "{text}"
    );
    assert!(text.contains("\n>From now on the VPN drops"), "{text}");

    // The knowledge base has the draft; edit, publish, search.
    let (_, list, _) = postdesk(&config, &["kb", "list"]);
    assert!(
        list.contains("KB-1") && list.contains("draft") && list.contains("VPN drops"),
        "{list}"
    );
    let (ok, _, err) = postdesk(&config, &["kb", "publish", "1"]);
    assert!(!ok && err.contains("no solution text"), "{err}");
    assert!(
        postdesk(
            &config,
            &["kb", "edit", "1", "--solution", "Update the client to 5.2."]
        )
        .0
    );
    assert!(postdesk(&config, &["kb", "publish", "1"]).0);
    let (_, found, _) = postdesk(&config, &["kb", "search", "vpn"]);
    assert!(found.contains("KB-1"), "{found}");

    // The review of this month.
    let month = jiff::Timestamp::now().strftime("%Y-%m").to_string();
    let (ok, out, err) = postdesk(&config, &["report", "--month", &month]);
    assert!(ok, "{err}");
    assert!(out.contains("IT Desk: review of"), "{out}");
    assert!(
        out.contains("  Opened                                        1"),
        "{out}"
    );
    for format in ["markdown", "csv", "json", "html"] {
        let (ok, out, err) = postdesk(&config, &["report", "--month", &month, "--format", format]);
        assert!(ok && !out.is_empty(), "{format}: {err}");
    }
    let (ok, _, err) = postdesk(&config, &["report", "--quarter", "2026Q5"]);
    assert!(!ok && err.contains("quarter 5"), "{err}");
}

/// A request whose subject and sender's name carry terminal escape
/// sequences and control characters, raw and in encoded words.
const HOSTILE: &str = "From: =?utf-8?q?=1B]0;owned=07Ann=1B[2J?= <ann@corp.test>\r\nTo: helpdesk@example.test\r\nSubject: Printer \x1b[31mbroken\x1b[0m =?utf-8?q?now=0D=1B[1Aok=08?=\r\nMessage-ID: <h1@corp.test>\r\n\r\nIt prints \x1b]8;;http://evil.test\x1b\\nothing\x1b]8;;\x1b\\.\r\n";

fn plain_desk(tag: &str) -> TestDesk {
    TestDesk::builder(tag)
        .maildir_and_files()
        .address("helpdesk@example.test")
        .unset("desk.first-ticket-number")
        .build()
}

#[test]
fn what_mail_wrote_cannot_drive_the_terminal() {
    let desk = plain_desk("escapes");
    let request = desk.dir.path().join("hostile.eml");
    std::fs::write(&request, HOSTILE).unwrap();
    let (ok, _, err) = postdesk(&desk.config, &["ingest", request.to_str().unwrap()]);
    assert!(ok, "{err}");
    for args in [&["tickets"][..], &["ticket", "1"]] {
        let (ok, out, err) = postdesk(&desk.config, args);
        assert!(ok, "{args:?}: {err}");
        let bad: Vec<char> = out
            .chars()
            .filter(|c| c.is_control() && *c != '\n')
            .collect();
        assert!(bad.is_empty(), "{args:?} printed {bad:?}:\n{out:?}");
        assert!(out.contains("Printer broken now ok"), "{args:?}: {out}");
    }
    let (_, out, _) = postdesk(&desk.config, &["ticket", "1"]);
    assert!(out.contains("requester  Ann <ann@corp.test>"), "{out}");
    assert!(out.contains("| It prints "), "{out}");
}

#[cfg(unix)]
#[test]
fn exports_are_the_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let desk = plain_desk("private");
    let request = desk.dir.path().join("request.eml");
    std::fs::write(&request, REQUEST_FOR_READING).unwrap();
    assert!(postdesk(&desk.config, &["ingest", request.to_str().unwrap()]).0);
    let eml = desk.dir.path().join("eml");
    let mbox = desk.dir.path().join("t.mbox");
    assert!(
        postdesk(
            &desk.config,
            &["ticket", "1", "export", "--eml", eml.to_str().unwrap()]
        )
        .0
    );
    assert!(
        postdesk(
            &desk.config,
            &["ticket", "1", "export", "--mbox", mbox.to_str().unwrap()]
        )
        .0
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for entry in std::fs::read_dir(&eml).unwrap() {
        let p = entry.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    assert_eq!(mode(&mbox), 0o600);
    assert_eq!(mode(&eml), 0o700);
}

const REQUEST_FOR_READING: &str = "From: Ann <ann@corp.test>\r\nTo: helpdesk@example.test\r\nSubject: VPN drops\r\nMessage-ID: <r1@corp.test>\r\n\r\nFrom now on the VPN drops every hour.\r\n";

/// A small tmpfs mounted over a folder, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// `None` when this user may not mount (not root).
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }

    /// Writes into a file until the file system is full.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).and_then(|_| f.flush()).is_ok() {}
        let _ = f.sync_all();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// `tickets` and `ticket N` only read: they work on a database whose disk
/// is full (a small tmpfs filled up, as root) or, for another user, in a
/// folder and a file they may only read.
#[cfg(unix)]
#[test]
fn reading_commands_work_on_a_full_disk() {
    use std::os::unix::fs::PermissionsExt;
    let mut desk = plain_desk("full");
    let db_dir = desk.dir.path().join("db");
    let tmpfs = Tmpfs::mount(&db_dir, "4m");
    desk.set("storage.database", "db/desk.db");
    let request = desk.dir.path().join("request.eml");
    std::fs::write(&request, REQUEST_FOR_READING).unwrap();
    let (ok, _, err) = postdesk(&desk.config, &["ingest", request.to_str().unwrap()]);
    assert!(ok, "{err}");
    let db = desk.db_path();
    let shown = |p: &Path| {
        let mode = std::fs::metadata(p).unwrap().permissions().mode();
        format!("{} {mode:o}", p.display())
    };
    let how = match &tmpfs {
        Some(fs) => {
            fs.fill();
            "on a full tmpfs".to_string()
        }
        None => {
            let ro = std::fs::Permissions::from_mode(0o444);
            std::fs::set_permissions(&db, ro).unwrap();
            let ro_dir = std::fs::Permissions::from_mode(0o555);
            std::fs::set_permissions(&db_dir, ro_dir).unwrap();
            format!("read-only: {}", shown(&db))
        }
    };
    let (ok, out, err) = postdesk(&desk.config, &["tickets"]);
    assert!(ok, "tickets {how}: {err}");
    assert!(out.contains("VPN drops"), "{out}");
    let (ok, out, err) = postdesk(&desk.config, &["ticket", "1"]);
    assert!(ok, "ticket 1 {how}: {err}");
    assert!(out.starts_with("Ticket 1: VPN drops"), "{out}");
    assert!(
        out.contains("| From now on the VPN drops every hour."),
        "{out}"
    );
    if tmpfs.is_none() {
        std::fs::set_permissions(&db_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    drop(tmpfs);
}
