//! Checks of the test harness itself that need no mail server: encoders,
//! the missing-server panics, and the Daemon process helper.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use crate::support::*;

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn missing_env_file_panics_with_how_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-env");
    let msg = panic_text(std::panic::catch_unwind(|| MailEnv::load_from(&path)).unwrap_err());
    assert!(
        msg.contains("scripts/mailserver-start") && msg.contains("no-such-env"),
        "{msg}"
    );
}

#[test]
fn servers_not_answering_panics_with_how_to_start() {
    // A port that was free a moment ago: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env");
    std::fs::write(
        &path,
        format!(
            "MAILLAB_DIR=/nonexistent\nIMAP_PORT={port}\nIMAPS_PORT={port}\nLMTP_PORT={port}\n\
             SMTP_PORT={port}\nMAIL_DOMAIN=example.test\nMAIL_PASSWORD=secret\nIMAPS_CA=/nonexistent\n"
        ),
    )
    .unwrap();
    let env = MailEnv::parse_file(&path).expect("a well-formed env file");
    assert_eq!(env.imap_port, port);
    let msg = panic_text(std::panic::catch_unwind(|| MailEnv::load_from(&path)).unwrap_err());
    assert!(
        msg.contains("not answering") && msg.contains("scripts/mailserver-start"),
        "{msg}"
    );
}

#[test]
fn unique_users_differ() {
    let a = unique_user("Some Tag!");
    let b = unique_user("Some Tag!");
    assert_ne!(a, b);
    assert!(
        a.starts_with("some-tag--") && a.ends_with("@example.test"),
        "{a}"
    );
}

#[test]
fn base64_and_encoded_words() {
    for (plain, enc) in [
        (&b""[..], ""),
        (b"f", "Zg=="),
        (b"fo", "Zm8="),
        (b"foo", "Zm9v"),
        (b"foob", "Zm9vYg=="),
    ] {
        assert_eq!(base64(plain), enc);
        assert_eq!(base64_decode(enc.as_bytes()).unwrap(), plain);
    }
    assert_eq!(
        encode_word("gbk", GBK_PRINTER_BROKEN),
        "=?gbk?B?tPLTobv6u7XByw==?="
    );
    assert_eq!(
        encode_word("utf-8", "打印机坏了".as_bytes()),
        "=?utf-8?B?5omT5Y2w5py65Z2P5LqG?="
    );
    // Checked with Python: '打印机坏了'.encode('gbk').
    assert_eq!(
        GBK_PRINTER_BROKEN,
        [0xB4, 0xF2, 0xD3, 0xA1, 0xBB, 0xFA, 0xBB, 0xB5, 0xC1, 0xCB]
    );
}

#[test]
fn long_utf8_and_gbk_subjects_are_split_into_valid_encoded_words() {
    // Long enough to need several encoded words; none may split a character.
    let long = "打印机坏了，".repeat(8) + "please help";
    let mut gbk = Vec::new();
    for _ in 0..8 {
        gbk.extend_from_slice(GBK_PRINTER_BROKEN);
    }
    let raw_utf8 = MailBuilder::new("a@example.test", "b@example.test")
        .subject(&long)
        .body(b"x")
        .build();
    let raw_gbk = MailBuilder::new("a@example.test", "b@example.test")
        .subject_in("gbk", &gbk)
        .body(b"x")
        .build();
    for raw in [&raw_utf8, &raw_gbk] {
        for line in header_block(raw).split(|&b| b == b'\n') {
            assert!(
                line.len() <= 77,
                "header line longer than 76 characters: {:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
    let parser = mail_parser::MessageParser::default();
    let p = parser.parse(raw_utf8.as_slice()).unwrap();
    assert_eq!(p.subject(), Some(long.as_str()));
    let p = parser.parse(raw_gbk.as_slice()).unwrap();
    assert_eq!(p.subject(), Some("打印机坏了".repeat(8).as_str()));
}

#[test]
fn dates_and_headers() {
    assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
    assert_eq!(
        rfc5322_date(1_795_849_271),
        "Sat, 28 Nov 2026 07:01:11 +0000"
    );
    assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    let raw = MailBuilder::new("a@example.test", "b@example.test")
        .message_id("x1@example.test")
        .in_reply_to("p@example.test")
        .references(&["<r1@example.test>", "r2@example.test"])
        .header("X-Test", "yes")
        .body(b"line one\nline two")
        .build();
    assert_eq!(
        header_value(&raw, "message-id").unwrap(),
        b"<x1@example.test>"
    );
    assert_eq!(
        header_value(&raw, "In-Reply-To").unwrap(),
        b"<p@example.test>"
    );
    assert_eq!(
        header_value(&raw, "References").unwrap(),
        b"<r1@example.test> <r2@example.test>"
    );
    assert_eq!(header_value(&raw, "X-Test").unwrap(), b"yes");
    assert_eq!(body_of(&raw), b"line one\r\nline two\r\n");
    assert!(!raw.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
}

#[test]
fn base64_body_decodes_to_the_given_bytes() {
    let raw = MailBuilder::new("a@example.test", "b@example.test")
        .charset("gbk")
        .body(GBK_PLEASE_FIX)
        .base64()
        .build();
    let p = mail_parser::MessageParser::default()
        .parse(raw.as_slice())
        .unwrap();
    assert_eq!(p.body_text(0).as_deref(), Some("请帮忙修理打印机，谢谢。"));
}

#[test]
fn daemon_stop_sends_sigterm_and_collects_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Daemon::spawn_program(
        "sh",
        &["-c", "echo ready; echo oops >&2; exec sleep 30"],
        dir.path().join("d.log"),
    );
    d.wait_for_log("oops", Duration::from_secs(5));
    assert!(d.is_running());
    let t0 = Instant::now();
    let status = d.stop();
    assert_eq!(status.signal(), Some(15), "{status}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(!d.is_running());
    assert_eq!(d.log(), "ready\noops\n");
}

#[test]
fn daemon_kill9_and_drop() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Daemon::spawn_program("sleep", &["30"], dir.path().join("k.log"));
    assert_eq!(d.kill9().signal(), Some(9));
    // Drop kills a process that is still running.
    let d2 = Daemon::spawn_program("sleep", &["30"], dir.path().join("k2.log"));
    let pid = d2.pid();
    drop(d2);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} still exists after drop"
    );
}

#[test]
fn daemon_start_runs_the_postdesk_binary() {
    // The helper finds and starts `postdesk run` (here on an empty config:
    // no mailbox, only the outbox), the daemon really runs, and stop() ends
    // it cleanly with SIGTERM.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("postdesk.toml");
    std::fs::write(&config, "").unwrap();
    let mut d = Daemon::start(&config);
    d.wait_for_log("postdesk running", Duration::from_secs(30));
    assert!(
        std::path::Path::new(&format!("/proc/{}", d.pid())).exists(),
        "the daemon is running"
    );
    let status = d.stop();
    assert!(
        status.success(),
        "SIGTERM ends it cleanly: {status}\n{}",
        d.log()
    );
    assert!(d.log().contains("stopped"), "{}", d.log());
}

/// Cargo builds only `tests/it/main.rs` (`autotests = false` in Cargo.toml),
/// so a test file beside it that `main.rs` does not name, or one directly in
/// `tests/`, would never be compiled and its tests would never run.
#[test]
fn every_test_file_is_a_module_of_this_binary() {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let rust_files = |dir: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.extension().is_some_and(|x| x == "rs")
                    || p.join("mod.rs").is_file()
                    || p.join("main.rs").is_file()
            })
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    let outside: Vec<String> = rust_files(&tests)
        .into_iter()
        .filter(|f| f != "it")
        .collect();
    assert!(
        outside.is_empty(),
        "tests/ holds Rust code outside tests/it/, which cargo does not build: {outside:?}; \
         make it a module of tests/it/main.rs"
    );
    let main = std::fs::read_to_string(tests.join("it/main.rs")).unwrap();
    let modules: Vec<String> = rust_files(&tests.join("it"))
        .into_iter()
        .filter(|f| f != "main")
        .collect();
    assert!(modules.len() >= 10, "only {modules:?} in tests/it/");
    for m in &modules {
        assert!(
            main.lines().any(|l| l.trim() == format!("mod {m};")),
            "tests/it/{m} is not declared in tests/it/main.rs, so its tests never run"
        );
    }
}

/// The test-desk builder writes configs the daemon accepts, in both modes,
/// and its edits mean what they say. Needs no mail server: the lab desk gets
/// an env that is only read, never dialled.
#[test]
fn test_desk_builder_writes_the_config_asked_for() {
    use postdesk::config::{Config, SourceKind, TransportKind};
    let lab = MailEnv {
        host: "127.0.0.1".into(),
        imap_port: 1,
        imaps_port: 2,
        smtp_port: 3,
        lmtp_port: 4,
        password: "pw".into(),
        domain: "lab.test".into(),
        imaps_ca: "/nonexistent/ca.pem".into(),
        maillab_dir: "/nonexistent".into(),
        env_file: "/nonexistent/env".into(),
    };
    let mut desk = TestDesk::builder("Builder Check")
        .mail_env(lab)
        .set("desk.time-zone", "Asia/Shanghai")
        .set("desk.first-ticket-number", 7)
        .unset("mailbox.idle-recheck")
        .set("workflow.trusted-authserv-ids", vec!["mx.lab.test"])
        .team_led_by_alice()
        .section("[[mailbox]]\nname = \"second\"\nkind = \"maildir\"\npath = \"m\"\n")
        .build();
    assert!(
        desk.address.starts_with("desk-builder-check-") && desk.address.ends_with("@lab.test"),
        "{}",
        desk.address
    );
    assert!(desk.alice().starts_with("alice-builder-check-"));
    assert!(desk.team().starts_with("team-builder-check-"));
    assert_eq!(
        std::fs::read_to_string(desk.dir.path().join("imap-password")).unwrap(),
        "pw"
    );
    let text = std::fs::read_to_string(&desk.config).unwrap();
    let cfg = Config::load(&desk.config).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(cfg.desk.address, desk.address);
    assert_eq!(cfg.desk.time_zone, "Asia/Shanghai");
    assert_eq!(cfg.desk.first_ticket_number, 7, "set replaces: {text}");
    assert!(text.contains("lead = \"alice\""), "{text}");
    let names: Vec<&str> = cfg.mailboxes.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["second", "support"], "sections come first: {text}");
    let support = &cfg.mailboxes[1];
    assert_eq!(support.kind, SourceKind::Imap);
    assert_eq!(
        (support.port, support.username.as_deref()),
        (Some(1), Some(desk.address.as_str()))
    );
    assert_eq!(
        support.idle_recheck,
        Duration::from_secs(300),
        "unset: the default"
    );
    assert_eq!(cfg.outbox.transport, TransportKind::Smtp);
    assert_eq!(cfg.outbox.port, Some(3));
    assert_eq!(desk.db_path(), desk.dir.path().join("desk.db"));

    desk.set("mailbox.folder", "Rebuilt");
    let cfg = Config::load(&desk.config).unwrap();
    assert_eq!(
        cfg.mailboxes[1].folder, "Rebuilt",
        "set after build rewrites the file"
    );

    let offline = TestDesk::builder("offline").maildir_and_files().build();
    let cfg = Config::load(&offline.config).unwrap();
    assert_eq!(cfg.mailboxes.len(), 1);
    assert_eq!(cfg.mailboxes[0].kind, SourceKind::Maildir);
    assert_eq!(
        offline.path_of("mailbox.path"),
        offline.dir.path().join("inbox")
    );
    assert_eq!(cfg.outbox.transport, TransportKind::Files);
    assert_eq!(
        offline.path_of("outbox.dir"),
        offline.dir.path().join("outbox")
    );
    assert!(!offline.dir.path().join("imap-password").exists());
    let missing = std::panic::catch_unwind(|| {
        TestDesk::builder("typo")
            .maildir_and_files()
            .unset("mailbox.idle-recheck")
            .build()
    });
    assert!(
        panic_text(missing.err().expect("unset of a missing key panics")).contains("no such key")
    );
}
