//! STARTTLS and certificate names on real servers, each test on a private
//! [`Lab`] (its Postfix offers STARTTLS with the lab certificate; see
//! `scripts/mailserver-start`):
//! - a desk sending with `outbox.security = "starttls"` and reading with
//!   IMAP STARTTLS really uses TLS: Postfix logs the TLS session, Dovecot's
//!   login line for the desk says `TLS`;
//! - a server that does not offer STARTTLS makes a `starttls` outbox and a
//!   `starttls` mailbox fail with a clear error; nothing goes in clear (no
//!   mail reaches Postfix, no password reaches the IMAP server);
//! - a certificate for another host name is refused on IMAPS, IMAP STARTTLS
//!   and SMTP STARTTLS, and nothing is read or sent.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(60);

/// The whole Postfix log of a lab.
fn postfix_log(env: &MailEnv) -> String {
    std::fs::read_to_string(env.maillab_dir.join("log/postfix.log")).unwrap_or_default()
}

/// Dovecot's login lines for `user`.
fn dovecot_logins(env: &MailEnv, user: &str) -> Vec<String> {
    let log = std::fs::read_to_string(env.maillab_dir.join("log/dovecot.log")).unwrap_or_default();
    let needle = format!("Login: user=<{user}>");
    log.lines()
        .filter(|l| l.contains(&needle))
        .map(str::to_string)
        .collect()
}

/// A desk on `lab` whose outbox and mailbox speak to `localhost` (the name
/// in the lab certificate) with the given security, trusting the lab CA.
fn desk_on(lab: &Lab, tag: &str, outbox: &str, mailbox: (&str, u16)) -> TestDesk {
    let ca = lab.env.imaps_ca.display().to_string();
    TestDesk::builder(tag)
        .mail_env(lab.env.clone())
        .set("outbox.host", "localhost")
        .set("outbox.security", outbox)
        .set("outbox.ca-file", ca.as_str())
        .set("outbox.timeout", "10s")
        .set("mailbox.host", "localhost")
        .set("mailbox.security", mailbox.0)
        .set("mailbox.port", i64::from(mailbox.1))
        .set("mailbox.ca-file", ca.as_str())
        .build()
}

/// `postdesk check` on a config; (succeeded, stdout + stderr).
fn check(config: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .args(["--config", config.to_str().unwrap(), "check"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Read-only counts on a desk's database.
fn count(desk: &TestDesk, sql: &str) -> i64 {
    let db = rusqlite::Connection::open_with_flags(
        desk.db_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn outbox_errors(desk: &TestDesk) -> String {
    let db = rusqlite::Connection::open_with_flags(
        desk.db_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    let mut stmt = db
        .prepare("SELECT coalesce(last_error, '') FROM outbox WHERE state = 'queued'")
        .unwrap();
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.join("\n")
}

/// A request APPENDed to the desk's INBOX (SMTP is what is under test).
fn append_request(desk: &TestDesk, requester: &str) {
    let mail = MailBuilder::new(requester, &desk.address)
        .subject("The VPN drops every hour")
        .body(b"Since Monday.\n")
        .build();
    let mut imap = Imap::login(desk.env(), &desk.address);
    imap.append("INBOX", &mail);
    imap.logout();
}

/// Waits until an outbox row was tried and failed with an error containing
/// `needle`; returns the errors.
#[track_caller]
fn wait_outbox_error(desk: &TestDesk, needle: &str, daemon: &Daemon) -> String {
    let ok = wait_until(WAIT, || {
        count(desk, "SELECT count(*) FROM outbox") > 0 && outbox_errors(desk).contains(needle)
    });
    let errors = outbox_errors(desk);
    assert!(
        ok,
        "no outbox error with {needle:?}; errors: {errors:?}\ndaemon log:\n{}",
        daemon.log()
    );
    errors
}

/// The request's acknowledgement goes out over SMTP STARTTLS and the
/// request comes in over IMAP STARTTLS, both verified against the lab CA,
/// and the servers' own logs show TLS was used: Postfix logs a TLS session
/// from us and no mail taken in clear, Dovecot's login line for the desk's
/// user says `TLS` (it says `secured` for a plain loopback login).
#[test]
fn starttls_is_really_used_for_smtp_and_imap() {
    let lab = Lab::start("starttls");
    let desk = desk_on(
        &lab,
        "starttls",
        "starttls",
        ("starttls", lab.env.imap_port),
    );
    let requester = lab.env.unique_user("req");
    append_request(&desk, &requester);
    // The test's own APPEND logged in plain; the daemon's logins come after.
    let before = dovecot_logins(&lab.env, &desk.address).len();
    let mut daemon = desk.start_within(WAIT);
    let acks = wait_for_messages(&lab.env, &requester, 1, WAIT);
    assert!(
        header(&acks[0], "Subject").contains("VPN"),
        "{}",
        header(&acks[0], "Subject")
    );
    lab.env.wait_postfix_idle(WAIT);
    // Stopped first, so its pooled SMTP connection closes and smtpd writes
    // the session's summary line.
    daemon.stop();
    wait_until(WAIT, || {
        postfix_log(&lab.env)
            .lines()
            .any(|l| l.contains("disconnect from") && l.contains("mail="))
    });

    let log = postfix_log(&lab.env);
    let tls = log.matches("TLS connection established from").count();
    assert!(tls >= 1, "Postfix logged no TLS session:\n{log}");
    // Every SMTP session that gave a MAIL command was a TLS one: smtpd's
    // disconnect line counts the commands, starttls=1 among them.
    let sessions: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("disconnect from") && l.contains("mail="))
        .collect();
    assert!(!sessions.is_empty(), "no SMTP session with MAIL in:\n{log}");
    for s in &sessions {
        assert!(
            s.contains("starttls=1"),
            "a mail session without STARTTLS: {s}"
        );
    }
    let logins = dovecot_logins(&lab.env, &desk.address).split_off(before);
    assert!(
        !logins.is_empty(),
        "Dovecot logged no login of the daemon's"
    );
    for l in &logins {
        assert!(l.contains(", TLS,"), "an IMAP login without TLS: {l}");
    }
    eprintln!(
        "{tls} TLS sessions on Postfix, {} mail sessions, {} IMAP logins, all TLS",
        sessions.len(),
        logins.len()
    );
}

/// Postfix here offers no STARTTLS (`smtpd_tls_security_level = none`): a
/// `starttls` outbox keeps the acknowledgement queued with an error that
/// says so, and Postfix never gets a MAIL command, so nothing went in
/// clear.
#[test]
fn smtp_starttls_required_but_not_offered_fails_clearly() {
    let lab = Lab::start("no-starttls");
    lab.postconf(&["smtpd_tls_security_level=none"]);
    // Reads over plain IMAP (loopback), sends with STARTTLS required.
    let desk = desk_on(
        &lab,
        "no-starttls",
        "starttls",
        ("plain", lab.env.imap_port),
    );
    let requester = lab.env.unique_user("req");
    append_request(&desk, &requester);
    let mut daemon = desk.start_within(WAIT);
    let errors = wait_outbox_error(&desk, "STARTTLS", &daemon);
    assert!(errors.contains("STARTTLS is not supported"), "{errors}");
    assert_eq!(
        count(&desk, "SELECT count(*) FROM outbox WHERE state = 'sent'"),
        0
    );
    let log = postfix_log(&lab.env);
    assert!(
        log.contains("connect from"),
        "the desk never reached Postfix, so this proves nothing:\n{log}"
    );
    assert!(
        !log.contains("from=<"),
        "Postfix took a mail although STARTTLS was required:\n{log}"
    );
    daemon.stop();
    assert_eq!(
        Imap::login(&lab.env, &requester).message_count("INBOX"),
        0,
        "nothing arrived"
    );
}

/// A small IMAP server that offers no STARTTLS (its CAPABILITY lacks it and
/// it answers the command BAD), as an old or misconfigured server does.
/// Records every command line it receives.
struct NoTlsImap {
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl NoTlsImap {
    fn start() -> NoTlsImap {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let seen = lines.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &seen);
                });
            }
        });
        NoTlsImap { port, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

fn serve(conn: std::net::TcpStream, seen: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut out = conn.try_clone()?;
    out.write_all(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] plain-only server ready\r\n")?;
    for line in BufReader::new(conn).lines() {
        let line = line?;
        seen.lock().unwrap().push(line.clone());
        let (tag, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let command = rest.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let answer = match command.as_str() {
            "CAPABILITY" => format!("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n"),
            "STARTTLS" => format!("{tag} BAD STARTTLS is not offered here\r\n"),
            "LOGOUT" => format!("* BYE\r\n{tag} OK bye\r\n"),
            _ => format!("{tag} NO not here\r\n"),
        };
        out.write_all(answer.as_bytes())?;
        if command == "LOGOUT" {
            break;
        }
    }
    Ok(())
}

/// A `starttls` mailbox on a server without STARTTLS fails with an error
/// that names STARTTLS, and the password never reaches the server.
#[test]
fn imap_starttls_required_but_not_offered_fails_clearly() {
    let server = NoTlsImap::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "secret-not-for-the-wire").unwrap();
    let cfg = dir.path().join("postdesk.toml");
    std::fs::write(
        &cfg,
        format!(
            "[desk]\naddress = \"desk@example.test\"\n[[mailbox]]\nname = \"old\"\nkind = \"imap\"\nhost = \"localhost\"\nport = {}\nsecurity = \"starttls\"\nusername = \"desk\"\npassword-file = \"pw\"\n",
            server.port
        ),
    )
    .unwrap();
    let (ok, text) = check(&cfg);
    assert!(!ok, "{text}");
    assert!(
        text.contains("FAIL mailbox old") && text.contains("STARTTLS refused"),
        "{text}"
    );
    let lines = server.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.to_ascii_uppercase().ends_with("STARTTLS")),
        "the client never asked for STARTTLS: {lines:?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("secret-not-for-the-wire")
                || l.to_ascii_uppercase().contains("LOGIN")),
        "credentials went in clear: {lines:?}"
    );
}

/// The lab's certificate names `mail.elsewhere.test` only (signed by the
/// lab CA, which the desk trusts). IMAPS, IMAP STARTTLS and SMTP STARTTLS
/// to `localhost` are all refused with an error naming the certificate;
/// the waiting request is not read, the queued acknowledgement not sent.
#[test]
fn a_certificate_for_another_host_is_refused_on_imap_and_smtp() {
    let lab = Lab::start_with(
        "wrong-name",
        &[("MAILLAB_CERT_NAMES", "DNS:mail.elsewhere.test")],
    );
    // IMAP, both ways in, through `postdesk check`.
    for (security, port) in [("tls", lab.env.imaps_port), ("starttls", lab.env.imap_port)] {
        let desk = desk_on(
            &lab,
            &format!("wrong-{security}"),
            "plain",
            (security, port),
        );
        let (ok, text) = check(&desk.config);
        assert!(!ok, "{security}: {text}");
        assert!(
            text.contains("FAIL mailbox support")
                && text.contains("certificate not valid for name"),
            "{security}: {text}"
        );
    }

    // The daemon: reads with IMAPS, sends with STARTTLS; a request waits in
    // the folder, and another comes in by `postdesk ingest`, so an
    // acknowledgement is queued.
    let desk = desk_on(&lab, "wrong-name", "starttls", ("tls", lab.env.imaps_port));
    let waiting = lab.env.unique_user("waiting");
    append_request(&desk, &waiting);
    let mut daemon = Daemon::start(&desk.config);
    daemon.wait_for_log("certificate not valid for name", WAIT);
    let requester = lab.env.unique_user("req");
    let mail = MailBuilder::new(&requester, &desk.address)
        .subject("The printer is offline")
        .body(b"Room 4.\n")
        .build();
    let file = desk.dir.path().join("request.eml");
    std::fs::write(&file, &mail).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .args(["--config", desk.config.to_str().unwrap(), "ingest"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let errors = wait_outbox_error(&desk, "certificate not valid for name", &daemon);
    assert_eq!(
        count(&desk, "SELECT count(*) FROM outbox WHERE state = 'sent'"),
        0,
        "{errors}"
    );
    assert_eq!(
        count(
            &desk,
            "SELECT count(*) FROM messages WHERE direction = 'in'"
        ),
        1,
        "only the ingested request; the one in the folder was not read"
    );
    let mut imap = Imap::login(&lab.env, &desk.address);
    imap.select("INBOX");
    assert_eq!(
        imap.uid_search("UNSEEN").len(),
        1,
        "the waiting request is untouched"
    );
    imap.logout();
    let log = postfix_log(&lab.env);
    assert!(
        log.contains("connect from"),
        "the desk never reached Postfix:\n{log}"
    );
    assert!(!log.contains("from=<"), "Postfix took a mail:\n{log}");
    daemon.stop();
}
