//! Integration-test harness: real Dovecot (IMAP, LMTP, Sieve) and Postfix
//! (SMTP) on 127.0.0.1, started by `scripts/mailserver-start` (or by
//! `scripts/test`, which runs the whole suite).
//!
//! A module of the `it` test binary (`tests/it/main.rs`) and of the
//! benchmark harness (`benches/bench/main.rs` includes this file with
//! `#[path]`, so keep the two in step when moving it). Test modules do
//! `use crate::support::*;` and use:
//! - [`MailEnv::load`]: where the servers are; panics when they are not up.
//! - [`unique_user`] / [`MailEnv::unique_user`]: a fresh mailbox per test.
//! - [`smtp_send`] / [`SmtpSession`]: a small blocking SMTP client.
//! - [`Imap`]: a small blocking IMAP client (plaintext port).
//! - [`wait_for_messages`]: poll a user's INBOX until mail has arrived.
//! - [`build_mail`] / [`MailBuilder`]: raw RFC 5322 messages, any charset.
//! - [`Daemon`]: the `postdesk` binary as a child process, with its log.
//! - [`TestDesk`]: a helpdesk of its own (config, database, mailbox), the
//!   one builder every test and the benchmark make their desk with.
//! - [`wait_until`] / [`assert_eventually`]: generic pollers.
//!
//! The clients use only std.  Every network read has a timeout, and every panic says
//! what was expected and what happened instead.
#![allow(dead_code)]

mod desk;
mod lab;
mod strict_imap;
#[allow(unused_imports)] // the bench uses only its own part of the harness
pub use desk::{TestDesk, TestDeskBuilder, WAIT, header, parsed, reply_to};
#[allow(unused_imports)] // the bench uses only its own part of the harness
pub use lab::{Lab, free_ports, script};
#[allow(unused_imports)] // the bench uses only its own part of the harness
pub use strict_imap::StrictImap;
pub mod oauth_server;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::hash::BuildHasher;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where `scripts/mailserver-start` writes the env file by default.
pub const DEFAULT_ENV_FILE: &str = "/tmp/postdesk-mail/env";
/// The mail domain the lab servers are set up for.
pub const DEFAULT_DOMAIN: &str = "example.test";
/// Limit for every single network read or write.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const POLL_EVERY: Duration = Duration::from_millis(50);

const HOW_TO_START: &str = "Start the test mail servers first, as root:\n    \
     scripts/mailserver-start\n\
     (or run the whole suite with `scripts/test`, which starts and stops them). \
     If they use another MAILLAB_DIR, point POSTDESK_MAIL_ENV at its env file.";

// ------------------------------------------------------------------ MailEnv --

/// Where the lab mail servers listen, read from the env file that
/// `scripts/mailserver-start` writes (`KEY=value` lines).
#[derive(Clone, Debug)]
pub struct MailEnv {
    /// Always `127.0.0.1`.
    pub host: String,
    pub imap_port: u16,
    pub imaps_port: u16,
    pub smtp_port: u16,
    pub lmtp_port: u16,
    /// The one password every user logs in with.
    pub password: String,
    /// e.g. `example.test`.
    pub domain: String,
    /// Self-signed certificate of the IMAPS port (CN=localhost, IP:127.0.0.1).
    pub imaps_ca: PathBuf,
    /// The servers' directory: configs, mail, logs (`log/dovecot.log`, `log/postfix.log`).
    pub maillab_dir: PathBuf,
    /// The env file this was read from.
    pub env_file: PathBuf,
}

impl MailEnv {
    /// Reads the env file named by `POSTDESK_MAIL_ENV` (default
    /// `/tmp/postdesk-mail/env`) and checks that IMAP and SMTP greet.
    ///
    /// Panics, saying how to start the servers, when the file is missing or
    /// the servers do not answer: an integration test must never pass
    /// quietly without them.
    #[track_caller]
    pub fn load() -> MailEnv {
        let path = std::env::var_os("POSTDESK_MAIL_ENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ENV_FILE));
        Self::load_from(&path)
    }

    /// Like [`MailEnv::load`], from an explicit env file.
    #[track_caller]
    pub fn load_from(path: &Path) -> MailEnv {
        let env = match Self::parse_file(path) {
            Ok(env) => env,
            Err(why) => panic!(
                "mail servers for integration tests: cannot use env file {}: {why}\n{HOW_TO_START}",
                path.display()
            ),
        };
        if let Err(why) = env.check_up() {
            panic!(
                "mail servers for integration tests are not answering (env file {}): {why}\n{HOW_TO_START}",
                path.display()
            );
        }
        env
    }

    /// Parses an env file without checking the servers.
    pub fn parse_file(path: &Path) -> Result<MailEnv, String> {
        let text = fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
        let mut kv = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                kv.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        let get = |k: &str| {
            kv.get(k)
                .cloned()
                .ok_or_else(|| format!("it has no {k}= line"))
        };
        let port = |k: &str| -> Result<u16, String> {
            let v = get(k)?;
            v.parse()
                .map_err(|_| format!("{k}={v} is not a port number"))
        };
        Ok(MailEnv {
            host: kv
                .get("IMAP_HOST")
                .cloned()
                .unwrap_or_else(|| "127.0.0.1".into()),
            imap_port: port("IMAP_PORT")?,
            imaps_port: port("IMAPS_PORT")?,
            smtp_port: port("SMTP_PORT")?,
            lmtp_port: port("LMTP_PORT")?,
            password: get("MAIL_PASSWORD")?,
            domain: get("MAIL_DOMAIN")?,
            imaps_ca: PathBuf::from(get("IMAPS_CA")?),
            maillab_dir: PathBuf::from(get("MAILLAB_DIR")?),
            env_file: path.to_path_buf(),
        })
    }

    /// `Ok` when IMAP greets with `* OK` and SMTP with `220`.
    pub fn check_up(&self) -> Result<(), String> {
        greets(self.imap_addr(), "* OK", "a LOGOUT\r\n")
            .map_err(|e| format!("IMAP {}: {e}", self.imap_addr()))?;
        greets(self.smtp_addr(), "220", "QUIT\r\n")
            .map_err(|e| format!("SMTP {}: {e}", self.smtp_addr()))?;
        Ok(())
    }

    pub fn imap_addr(&self) -> SocketAddr {
        addr(&self.host, self.imap_port)
    }
    pub fn imaps_addr(&self) -> SocketAddr {
        addr(&self.host, self.imaps_port)
    }
    pub fn smtp_addr(&self) -> SocketAddr {
        addr(&self.host, self.smtp_port)
    }
    pub fn lmtp_addr(&self) -> SocketAddr {
        addr(&self.host, self.lmtp_port)
    }

    /// Waits until this env's Postfix has nothing queued (`postqueue -p`):
    /// the positive signal before asserting that some mail did not come.
    /// Panics after `timeout`.
    pub fn wait_postfix_idle(&self, timeout: Duration) {
        assert!(
            wait_until(timeout, || self.postfix_queue_empty()),
            "Postfix ({}) still has mail queued after {timeout:?}",
            self.postfix_conf().display()
        );
    }

    fn postfix_conf(&self) -> PathBuf {
        self.maillab_dir.join("postfix/etc")
    }

    /// Whether `postqueue -p` says this env's Postfix holds no mail.
    fn postfix_queue_empty(&self) -> bool {
        Command::new("postqueue")
            .arg("-c")
            .arg(self.postfix_conf())
            .arg("-p")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("Mail queue is empty"))
    }

    /// Waits until this env's Postfix has handed over everything it queued,
    /// as after a backend outage; if mail is still queued after half of
    /// `timeout`, requeues it once (`postsuper -r ALL`, what an admin does
    /// after an outage) and waits the other half. Once in CI a mail
    /// deferred while Dovecot was down stayed in Postfix's incoming queue
    /// ("skipped, still being delivered") and was never retried.
    pub fn wait_postfix_delivered(&self, timeout: Duration) {
        if wait_until(timeout / 2, || self.postfix_queue_empty()) {
            return;
        }
        let conf = self.postfix_conf();
        eprintln!(
            "Postfix ({}) still holds mail after {:?}: requeueing it",
            conf.display(),
            timeout / 2
        );
        let _ = Command::new("postsuper")
            .arg("-c")
            .arg(&conf)
            .args(["-r", "ALL"])
            .status();
        self.wait_postfix_idle(timeout / 2);
    }

    /// A fresh address in this env's domain: `<tag>-<16 hex>@<domain>`.
    pub fn unique_user(&self, tag: &str) -> String {
        format!("{}-{}@{}", clean_tag(tag), random_hex(), self.domain)
    }

    /// The user's home directory on disk (Dovecot lowercases user names).
    pub fn home_of(&self, user: &str) -> PathBuf {
        self.maillab_dir.join("mail").join(user.to_lowercase())
    }

    /// Makes `script` the user's active Sieve script (`~/.dovecot.sieve`),
    /// run by Dovecot at every later delivery to that user.  Needs write
    /// access to the mail directory (the tests run as root).
    pub fn set_sieve_script(&self, user: &str, script: &str) {
        // Dovecot makes the home directory (owned by its mail user) the first
        // time the mailbox is opened: let it, rather than making it as root.
        let mut imap = Imap::login(self, user);
        imap.select("INBOX");
        imap.logout();
        let home = self.home_of(user);
        let path = home.join(".dovecot.sieve");
        let tmp = home.join(".dovecot.sieve.tmp");
        let result = fs::write(&tmp, script).and_then(|()| {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644))?;
            fs::rename(&tmp, &path)
        });
        if let Err(e) = result {
            panic!(
                "set_sieve_script({user}): cannot write {}: {e} (the tests must run as root, like scripts/test)",
                path.display()
            );
        }
        // Dovecot recompiles when the script is newer than its binary; with
        // two scripts in one second that test could miss, so drop the binary.
        let _ = fs::remove_file(home.join(".dovecot.svbin"));
    }

    /// Puts a vacation autoresponder on `user`: every message delivered to
    /// the user (unless it is itself automatic, or the user is not in its
    /// To/Cc) is answered from the user's address with `subject` and
    /// `reason`, sent through our Postfix.  `:seconds 0` answers every
    /// message, not only the first from each sender.
    pub fn set_vacation(&self, user: &str, subject: &str, reason: &str) {
        let script = format!(
            "require [\"vacation\", \"vacation-seconds\"];\n\
             vacation :seconds 0 :subject \"{}\" \"{}\";\n",
            sieve_escape(subject),
            sieve_escape(reason)
        );
        self.set_sieve_script(user, &script);
    }

    /// Runs `scripts/mailserver-ctl ACTION SERVER` for this instance
    /// (`action`: stop, start, restart; `server`: dovecot, postfix), for
    /// fault tests.  Panics, with the script's output, when it fails.
    /// Tests that stop a server affect every test running at the same time:
    /// keep them in their own test file and run them one at a time.
    pub fn ctl(&self, action: &str, server: &str) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mailserver-ctl");
        let out = Command::new(&script)
            .args([action, server])
            .env("MAILLAB_DIR", &self.maillab_dir)
            .env("IMAP_PORT", self.imap_port.to_string())
            .env("IMAPS_PORT", self.imaps_port.to_string())
            .env("LMTP_PORT", self.lmtp_port.to_string())
            .env("SMTP_PORT", self.smtp_port.to_string())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        if !out.status.success() {
            panic!(
                "`scripts/mailserver-ctl {action} {server}` failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// The last `max` lines of the Postfix log that mention `needle`
    /// (case-insensitive), for assertion messages.
    pub fn postfix_log_about(&self, needle: &str, max: usize) -> String {
        log_lines_about(&self.maillab_dir.join("log/postfix.log"), needle, max)
    }

    /// Same for the Dovecot log.
    pub fn dovecot_log_about(&self, needle: &str, max: usize) -> String {
        log_lines_about(&self.maillab_dir.join("log/dovecot.log"), needle, max)
    }
}

fn addr(host: &str, port: u16) -> SocketAddr {
    format!("{host}:{port}")
        .parse()
        .unwrap_or_else(|e| panic!("mail env: {host}:{port} is not an IP address and port: {e}"))
}

fn log_lines_about(path: &Path, needle: &str, max: usize) -> String {
    let needle = needle.to_lowercase();
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let hits: Vec<&str> = text
                .lines()
                .filter(|l| l.to_lowercase().contains(&needle))
                .collect();
            if hits.is_empty() {
                format!("(nothing about {needle} in {})", path.display())
            } else {
                hits[hits.len().saturating_sub(max)..].join("\n")
            }
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Connects, reads one line, checks it starts with `prefix`, says goodbye.
fn greets(addr: SocketAddr, prefix: &str, goodbye: &str) -> Result<(), String> {
    let stream = connect(addr).map_err(|e| format!("cannot connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(&stream)
        .read_line(&mut line)
        .map_err(|e| format!("no greeting within 3 s: {e}"))?;
    let _ = (&stream).write_all(goodbye.as_bytes());
    if line.starts_with(prefix) {
        Ok(())
    } else {
        Err(format!(
            "greeting {:?} does not start with {prefix:?}",
            line.trim_end()
        ))
    }
}

// -------------------------------------------------------------- unique names --

/// 16 hex digits, different on every call: process id, time and a counter,
/// mixed by std's randomly keyed hasher.
pub fn random_hex() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let h = std::hash::RandomState::new().hash_one((nanos, std::process::id(), n));
    format!("{h:016x}")
}

/// A fresh address: `<tag>-<16 hex>@example.test` (tag lowercased, anything
/// but letters, digits, `-`, `_` and `.` turned into `-`).
pub fn unique_user(tag: &str) -> String {
    format!("{}-{}@{DEFAULT_DOMAIN}", clean_tag(tag), random_hex())
}

fn clean_tag(tag: &str) -> String {
    let t: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if t.is_empty() { "t".into() } else { t }
}

// --------------------------------------------------------------------- SMTP --

/// An SMTP failure: what we were doing and what the server said.
pub struct SmtpError {
    /// e.g. `RCPT TO:<x@example.test>` or `connect`.
    pub stage: String,
    /// The reply code, when the server answered.
    pub code: Option<u16>,
    /// The server's reply text (all lines), or the I/O error.
    pub reply: String,
}

impl fmt::Display for SmtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(
                f,
                "SMTP {}: server answered {code} {}",
                self.stage, self.reply
            ),
            None => write!(f, "SMTP {}: {}", self.stage, self.reply),
        }
    }
}

// Debug = Display, so that `.unwrap()` prints something readable.
impl fmt::Debug for SmtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for SmtpError {}

/// One SMTP connection to the lab Postfix; several messages may be sent on it.
pub struct SmtpSession {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// The EHLO reply (extension lines).
    pub ehlo: String,
}

impl SmtpSession {
    /// Connects, reads the greeting and says EHLO.
    pub fn connect(env: &MailEnv) -> Result<SmtpSession, SmtpError> {
        let io_err = |stage: &str, e: io::Error| SmtpError {
            stage: stage.into(),
            code: None,
            reply: format!("{e} (is Postfix up on {}?)", env.smtp_addr()),
        };
        let stream = connect(env.smtp_addr()).map_err(|e| io_err("connect", e))?;
        let writer = stream.try_clone().map_err(|e| io_err("connect", e))?;
        let mut s = SmtpSession {
            reader: BufReader::new(stream),
            writer,
            ehlo: String::new(),
        };
        s.expect("greeting", 220)?;
        let (_, ehlo) = s.command("EHLO postdesk-tests.example.test", 250)?;
        s.ehlo = ehlo;
        Ok(s)
    }

    /// Sends one message.  `raw` gets CRLF line ends (a bare LF becomes
    /// CRLF) and dot-stuffing.  Returns the server's answer to the end of
    /// DATA (it names the queue id).
    pub fn send(
        &mut self,
        from: &str,
        to: &[impl AsRef<str>],
        raw: &[u8],
    ) -> Result<String, SmtpError> {
        if to.is_empty() {
            return Err(SmtpError {
                stage: "RCPT TO".into(),
                code: None,
                reply: "no recipients given".into(),
            });
        }
        self.command(&format!("MAIL FROM:<{from}>"), 250)?;
        for rcpt in to {
            self.command(&format!("RCPT TO:<{}>", rcpt.as_ref()), 250)?;
        }
        self.command("DATA", 354)?;
        let data = smtp_data(raw);
        self.writer.write_all(&data).map_err(|e| SmtpError {
            stage: "sending the message".into(),
            code: None,
            reply: e.to_string(),
        })?;
        let (code, text) = self.expect("end of DATA", 250)?;
        Ok(format!("{code} {text}"))
    }

    /// Says QUIT (errors ignored: the message is already accepted).
    pub fn quit(mut self) {
        let _ = self.writer.write_all(b"QUIT\r\n");
        let _ = self.read_reply();
    }

    /// Sends `line` and expects a reply code in the same hundred as `want`
    /// (250 also admits 251).
    pub fn command(&mut self, line: &str, want: u16) -> Result<(u16, String), SmtpError> {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .map_err(|e| SmtpError {
                stage: line.into(),
                code: None,
                reply: e.to_string(),
            })?;
        self.expect(line, want)
    }

    fn expect(&mut self, stage: &str, want: u16) -> Result<(u16, String), SmtpError> {
        let (code, text) = self.read_reply().map_err(|e| SmtpError {
            stage: stage.into(),
            code: None,
            reply: e.to_string(),
        })?;
        if code / 10 == want / 10 || (want == 250 && code == 251) {
            Ok((code, text))
        } else {
            Err(SmtpError {
                stage: stage.into(),
                code: Some(code),
                reply: text,
            })
        }
    }

    /// Reads one (possibly multi-line) reply: `250-...` lines up to `250 ...`.
    fn read_reply(&mut self) -> io::Result<(u16, String)> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("server closed the connection (after {text:?})"),
                    ));
                }
                Ok(_) => {}
                Err(e) => return Err(timeout_msg(e)),
            }
            let line = line.trim_end_matches(['\r', '\n']);
            let code: u16 = line.get(..3).and_then(|c| c.parse().ok()).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("not an SMTP reply: {line:?}"),
                )
            })?;
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(line.get(4..).unwrap_or(""));
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, text));
            }
        }
    }
}

/// The DATA payload: CRLF line ends, dot-stuffed, ending in CRLF.CRLF.
fn smtp_data(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40 + 8);
    let mut start_of_line = true;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if start_of_line && b == b'.' {
            out.push(b'.');
        }
        if b == b'\n' {
            if out.last() != Some(&b'\r') {
                out.push(b'\r');
            }
            out.push(b'\n');
            start_of_line = true;
        } else {
            out.push(b);
            start_of_line = false;
        }
        i += 1;
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

fn timeout_msg(e: io::Error) -> io::Error {
    if matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {IO_TIMEOUT:?}"),
        )
    } else {
        e
    }
}

/// Sends one message over SMTP to the lab Postfix (EHLO, MAIL FROM, RCPT TO
/// for each recipient, DATA, QUIT).  See [`SmtpSession::send`].
pub fn smtp_send(
    env: &MailEnv,
    from: &str,
    to: &[impl AsRef<str>],
    raw: &[u8],
) -> Result<String, SmtpError> {
    let mut s = SmtpSession::connect(env)?;
    let reply = s.send(from, to, raw)?;
    s.quit();
    Ok(reply)
}

// --------------------------------------------------------------------- IMAP --

/// One server response: its text with the literals cut out (the `{n}`
/// markers stay), and the literals in order.
#[derive(Clone, Debug, Default)]
pub struct ImapResponse {
    pub text: Vec<u8>,
    pub literals: Vec<Vec<u8>>,
}

impl ImapResponse {
    pub fn text_lossy(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }

    /// The number after `word` (e.g. `UID`, `UIDVALIDITY`) in the text.
    pub fn number_after(&self, word: &str) -> Option<u32> {
        self.numbers_after(word).first().copied()
    }

    /// The numbers right after `word`, e.g. `[APPENDUID 1795849271 7]` gives
    /// `[1795849271, 7]` for `APPENDUID`; empty when `word` is absent.
    pub fn numbers_after(&self, word: &str) -> Vec<u32> {
        let text = self.text_lossy();
        let mut tokens = text
            .split([' ', '(', ')', '[', ']'])
            .filter(|t| !t.is_empty());
        while let Some(t) = tokens.next() {
            if t.eq_ignore_ascii_case(word) {
                return tokens.map_while(|n| n.parse().ok()).collect();
            }
        }
        Vec::new()
    }
}

/// What a tagged command got: the untagged responses before the tagged one,
/// and the tagged status line (after the tag).
#[derive(Clone, Debug, Default)]
pub struct ImapReply {
    pub untagged: Vec<ImapResponse>,
    /// e.g. `OK [READ-WRITE] Select completed (0.001 + 0.000 secs).`
    pub status: String,
}

impl ImapReply {
    /// `* <KIND> ...` responses, e.g. `SEARCH`, `LIST`, `STATUS`.
    pub fn lines_of<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a ImapResponse> + use<'a> {
        let bare = format!("* {kind}").into_bytes();
        self.untagged.iter().filter(move |r| {
            r.text.len() >= bare.len()
                && r.text[..bare.len()].eq_ignore_ascii_case(&bare)
                && matches!(r.text.get(bare.len()), None | Some(b' '))
        })
    }
}

/// An IMAP failure: the command and what happened.
pub struct ImapError {
    pub command: String,
    pub detail: String,
}

impl fmt::Display for ImapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IMAP `{}`: {}", self.command, self.detail)
    }
}

impl fmt::Debug for ImapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ImapError {}

/// The mailbox last opened with [`Imap::select`].
#[derive(Clone, Debug)]
pub struct Selected {
    pub mailbox: String,
    pub exists: u32,
    pub uidvalidity: u32,
    pub uidnext: u32,
}

/// A minimal blocking IMAP client for tests (plaintext port, LOGIN).
///
/// The methods without `try_` panic with the command and the server's
/// answer; [`Imap::try_login`] and [`Imap::command`] return errors instead,
/// for tests where a failure is expected.
pub struct Imap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_tag: u32,
    pub user: String,
    /// The server's greeting line.
    pub greeting: String,
    selected: Option<Selected>,
}

impl Imap {
    /// Logs `user` in with the lab password; panics when that fails.
    pub fn login(env: &MailEnv, user: &str) -> Imap {
        Self::try_login(env, user)
            .unwrap_or_else(|e| panic!("cannot log in to IMAP as {user}: {e}\n{HOW_TO_START}"))
    }

    /// Logs `user` in with the lab password.
    pub fn try_login(env: &MailEnv, user: &str) -> Result<Imap, ImapError> {
        Self::try_login_with(env, user, &env.password)
    }

    /// Logs in with an explicit password (e.g. a wrong one).
    pub fn try_login_with(env: &MailEnv, user: &str, password: &str) -> Result<Imap, ImapError> {
        let err = |detail: String| ImapError {
            command: format!("connect to {}", env.imap_addr()),
            detail,
        };
        let stream = connect(env.imap_addr()).map_err(|e| err(e.to_string()))?;
        let writer = stream.try_clone().map_err(|e| err(e.to_string()))?;
        let mut imap = Imap {
            reader: BufReader::new(stream),
            writer,
            next_tag: 1,
            user: user.to_string(),
            greeting: String::new(),
            selected: None,
        };
        let greeting = imap.read_response().map_err(|e| err(e.to_string()))?;
        imap.greeting = greeting.text_lossy();
        if !imap.greeting.starts_with("* OK") {
            return Err(err(format!("unexpected greeting {:?}", imap.greeting)));
        }
        imap.command(&format!("LOGIN {} {}", quote(user), quote(password)))
            .map_err(|e| ImapError {
                command: format!("LOGIN {user} <password>"),
                detail: e.detail,
            })?;
        Ok(imap)
    }

    /// Sends one command (without tag) and reads up to its tagged answer.
    /// `Err` unless the answer is OK.
    pub fn command(&mut self, cmd: &str) -> Result<ImapReply, ImapError> {
        let tag = self.send_tagged(cmd.as_bytes(), cmd)?;
        self.finish(&tag, cmd)
    }

    /// Like [`Imap::command`] but panics, with the server's answer, unless OK.
    pub fn command_ok(&mut self, cmd: &str) -> ImapReply {
        let user = self.user.clone();
        self.command(cmd)
            .unwrap_or_else(|e| panic!("IMAP as {user}: {e}"))
    }

    /// Opens `mailbox` read-write; panics if it does not exist.
    pub fn select(&mut self, mailbox: &str) -> Selected {
        let reply = self.command_ok(&format!("SELECT {}", quote(mailbox)));
        let mut sel = Selected {
            mailbox: mailbox.to_string(),
            exists: 0,
            uidvalidity: 0,
            uidnext: 0,
        };
        for r in &reply.untagged {
            let t = r.text_lossy();
            if t.ends_with(" EXISTS") {
                sel.exists = t[2..t.len() - 7].trim().parse().unwrap_or(0);
            } else if let Some(v) = r.number_after("UIDVALIDITY") {
                sel.uidvalidity = v;
            } else if let Some(v) = r.number_after("UIDNEXT") {
                sel.uidnext = v;
            }
        }
        self.selected = Some(sel.clone());
        sel
    }

    /// UIDVALIDITY of the mailbox last selected.
    pub fn uidvalidity(&self) -> u32 {
        match &self.selected {
            Some(s) => s.uidvalidity,
            None => panic!("IMAP as {}: uidvalidity() needs select() first", self.user),
        }
    }

    /// The mailbox last selected, if any.
    pub fn selected(&self) -> Option<&Selected> {
        self.selected.as_ref()
    }

    /// `UID SEARCH <criteria>` in the selected mailbox, UIDs ascending.
    pub fn uid_search(&mut self, criteria: &str) -> Vec<u32> {
        let reply = self.command_ok(&format!("UID SEARCH {criteria}"));
        let mut uids: Vec<u32> = reply
            .lines_of("SEARCH")
            .flat_map(|r| {
                r.text_lossy()
                    .split_whitespace()
                    .skip(2)
                    .filter_map(|n| n.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .collect();
        uids.sort_unstable();
        uids
    }

    /// All UIDs in the selected mailbox, ascending.
    pub fn uid_search_all(&mut self) -> Vec<u32> {
        self.uid_search("ALL")
    }

    /// The whole message `uid` (`BODY.PEEK[]`: does not set \Seen).
    pub fn fetch_raw(&mut self, uid: u32) -> Vec<u8> {
        let reply = self.command_ok(&format!("UID FETCH {uid} (UID BODY.PEEK[])"));
        let mut bodies = fetched_bodies(&reply);
        match bodies.remove(&uid) {
            Some(body) => body,
            None => panic!(
                "IMAP as {}: UID FETCH {uid} returned no body for UID {uid} in {:?} (responses: {:?})",
                self.user,
                self.selected.as_ref().map(|s| s.mailbox.as_str()),
                reply
                    .untagged
                    .iter()
                    .map(ImapResponse::text_lossy)
                    .collect::<Vec<_>>()
            ),
        }
    }

    /// Every message in the selected mailbox as `(uid, raw)`, UIDs ascending.
    pub fn fetch_all_raw(&mut self) -> Vec<(u32, Vec<u8>)> {
        let uids = self.uid_search_all();
        if uids.is_empty() {
            return Vec::new();
        }
        let reply = self.command_ok("UID FETCH 1:* (UID BODY.PEEK[])");
        let bodies = fetched_bodies(&reply);
        for uid in &uids {
            assert!(
                bodies.contains_key(uid),
                "IMAP as {}: UID FETCH 1:* returned no body for UID {uid} (search found {uids:?}, fetch gave {:?})",
                self.user,
                bodies.keys().collect::<Vec<_>>()
            );
        }
        bodies.into_iter().collect()
    }

    /// The flags of message `uid`, e.g. `["\\Seen"]`.
    pub fn flags(&mut self, uid: u32) -> Vec<String> {
        let reply = self.command_ok(&format!("UID FETCH {uid} (UID FLAGS)"));
        for r in &reply.untagged {
            if r.number_after("UID") != Some(uid) {
                continue;
            }
            let t = r.text_lossy();
            if let Some(start) = t.find("FLAGS (") {
                let rest = &t[start + 7..];
                let end = rest.find(')').unwrap_or(rest.len());
                return rest[..end].split_whitespace().map(String::from).collect();
            }
        }
        panic!("IMAP as {}: no FLAGS for UID {uid}", self.user);
    }

    /// APPENDs `raw` to `mailbox`; returns the new message's UID (UIDPLUS).
    pub fn append(&mut self, mailbox: &str, raw: &[u8]) -> u32 {
        self.append_with_flags(mailbox, "", raw)
    }

    /// APPEND with flags, e.g. `"\\Seen"` (empty: none).
    pub fn append_with_flags(&mut self, mailbox: &str, flags: &str, raw: &[u8]) -> u32 {
        self.append_as(mailbox, flags, None, raw)
    }

    /// APPEND with the day the server received it (INTERNALDATE), e.g.
    /// `"01-Jun-2025 09:00:00 +0000"`: mail that arrived long ago.
    pub fn append_dated(&mut self, mailbox: &str, received: &str, raw: &[u8]) -> u32 {
        self.append_as(mailbox, "", Some(received), raw)
    }

    fn append_as(&mut self, mailbox: &str, flags: &str, received: Option<&str>, raw: &[u8]) -> u32 {
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!(" ({flags})")
        };
        let date = received.map(|d| format!(" \"{d}\"")).unwrap_or_default();
        let head = format!("APPEND {}{flags}{date}", quote(mailbox));
        let what = format!("{head} {{{}}}", raw.len());
        let user = self.user.clone();
        let reply = self
            .command_with_literal(&head, raw)
            .unwrap_or_else(|e| panic!("IMAP as {user}: {e}"));
        let status = ImapResponse {
            text: reply.status.clone().into_bytes(),
            literals: Vec::new(),
        };
        match status.numbers_after("APPENDUID").as_slice() {
            [_uidvalidity, uid] => *uid,
            _ => panic!(
                "IMAP as {user}: `{what}` answered {:?}, expected [APPENDUID <uidvalidity> <uid>]",
                reply.status
            ),
        }
    }

    /// `<cmd> {n}` + the literal, waiting for the server's `+` in between.
    pub fn command_with_literal(
        &mut self,
        cmd: &str,
        literal: &[u8],
    ) -> Result<ImapReply, ImapError> {
        let what = format!("{cmd} {{{}}}", literal.len());
        let tag = self.send_tagged(what.as_bytes(), &what)?;
        // The server answers "+ ..." when ready, or refuses with the tag.
        let resp = self.read_response().map_err(|e| ImapError {
            command: what.clone(),
            detail: e.to_string(),
        })?;
        if !resp.text.starts_with(b"+") {
            let t = resp.text_lossy();
            return Err(ImapError {
                command: what,
                detail: format!("expected `+` to send the literal, got {t:?}"),
            });
        }
        let mut data = literal.to_vec();
        data.extend_from_slice(b"\r\n");
        self.writer.write_all(&data).map_err(|e| ImapError {
            command: what.clone(),
            detail: e.to_string(),
        })?;
        self.finish(&tag, &what)
    }

    /// CREATE `mailbox`.
    pub fn create(&mut self, mailbox: &str) {
        self.command_ok(&format!("CREATE {}", quote(mailbox)));
    }

    /// Names of all mailboxes (`LIST "" "*"`), as the server spells them.
    pub fn list_mailboxes(&mut self) -> Vec<String> {
        let reply = self.command_ok("LIST \"\" \"*\"");
        reply
            .lines_of("LIST")
            .map(|r| {
                parse_list_name(r).unwrap_or_else(|| {
                    panic!("IMAP: cannot read the mailbox name in {:?}", r.text_lossy())
                })
            })
            .collect()
    }

    /// `STATUS <mailbox> (MESSAGES)`.
    pub fn message_count(&mut self, mailbox: &str) -> u32 {
        let reply = self.command_ok(&format!("STATUS {} (MESSAGES)", quote(mailbox)));
        reply
            .lines_of("STATUS")
            .find_map(|r| r.number_after("MESSAGES"))
            .unwrap_or_else(|| panic!("IMAP: STATUS {mailbox} gave no MESSAGES count"))
    }

    /// NOOP (lets the server report new mail in the selected mailbox).
    pub fn noop(&mut self) -> ImapReply {
        self.command_ok("NOOP")
    }

    /// LOGOUT; errors are ignored (the server may already be gone).
    pub fn logout(mut self) {
        let _ = self.command("LOGOUT");
    }

    fn send_tagged(&mut self, cmd: &[u8], what: &str) -> Result<String, ImapError> {
        let tag = format!("t{}", self.next_tag);
        self.next_tag += 1;
        let mut line = Vec::with_capacity(cmd.len() + tag.len() + 3);
        line.extend_from_slice(tag.as_bytes());
        line.push(b' ');
        line.extend_from_slice(cmd);
        line.extend_from_slice(b"\r\n");
        self.writer.write_all(&line).map_err(|e| ImapError {
            command: what.to_string(),
            detail: format!("cannot send: {e}"),
        })?;
        Ok(tag)
    }

    /// Reads untagged responses up to the tagged one.
    fn finish(&mut self, tag: &str, what: &str) -> Result<ImapReply, ImapError> {
        let mut reply = ImapReply::default();
        let prefix = format!("{tag} ");
        loop {
            let resp = self.read_response().map_err(|e| ImapError {
                command: what.to_string(),
                detail: e.to_string(),
            })?;
            if resp.text.starts_with(prefix.as_bytes()) {
                reply.status = String::from_utf8_lossy(&resp.text[prefix.len()..]).into_owned();
                if reply.status.starts_with("OK") {
                    return Ok(reply);
                }
                return Err(ImapError {
                    command: what.to_string(),
                    detail: format!("server answered {:?}", reply.status),
                });
            }
            if resp.text.starts_with(b"+") {
                return Err(ImapError {
                    command: what.to_string(),
                    detail: format!("unexpected continuation {:?}", resp.text_lossy()),
                });
            }
            reply.untagged.push(resp);
        }
    }

    /// One response: a line, and when it ends in `{n}`, n bytes of literal
    /// and the rest of the response after them, as often as needed.
    fn read_response(&mut self) -> io::Result<ImapResponse> {
        let mut resp = ImapResponse::default();
        loop {
            let mut line = Vec::new();
            let n = self
                .reader
                .read_until(b'\n', &mut line)
                .map_err(timeout_msg)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "server closed the connection (after {:?})",
                        resp.text_lossy()
                    ),
                ));
            }
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            let literal = literal_len(&line);
            resp.text.extend_from_slice(&line);
            match literal {
                Some(len) => {
                    let mut buf = vec![0; len];
                    self.reader.read_exact(&mut buf).map_err(timeout_msg)?;
                    resp.literals.push(buf);
                }
                None => return Ok(resp),
            }
        }
    }
}

/// `{123}` (or `{123+}`) at the end of a line: the literal's length.
fn literal_len(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// UID -> body from the `* n FETCH (UID u BODY[] {len}...)` responses.
fn fetched_bodies(reply: &ImapReply) -> BTreeMap<u32, Vec<u8>> {
    let mut out = BTreeMap::new();
    for r in &reply.untagged {
        let head = r.text_lossy();
        if !head.contains(" FETCH (") || !head.contains("BODY[]") {
            continue;
        }
        let Some(uid) = r.number_after("UID") else {
            continue;
        };
        let body = if let Some(lit) = r.literals.first() {
            lit.clone()
        } else if head.contains("BODY[] \"\"") {
            Vec::new()
        } else {
            continue;
        };
        out.insert(uid, body);
    }
    out
}

/// The name in `* LIST (flags) "/" name`: quoted, a literal, or an atom.
fn parse_list_name(r: &ImapResponse) -> Option<String> {
    let t = &r.text;
    let close = t.iter().position(|&b| b == b')')?;
    let mut rest = t.get(close + 1..)?.strip_prefix(b" ")?;
    // The hierarchy delimiter: a quoted character or NIL.
    if let Some(r2) = rest.strip_prefix(b"NIL ") {
        rest = r2;
    } else {
        let (_, after) = unquote(rest)?;
        rest = after.strip_prefix(b" ")?;
    }
    if rest.starts_with(b"\"") {
        let (name, _) = unquote(rest)?;
        return Some(String::from_utf8_lossy(&name).into_owned());
    }
    if rest.ends_with(b"}") {
        return r
            .literals
            .last()
            .map(|l| String::from_utf8_lossy(l).into_owned());
    }
    Some(String::from_utf8_lossy(rest).into_owned())
}

/// A quoted string at the start of `s`: (content, rest after the quote).
fn unquote(s: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut out = Vec::new();
    let s = s.strip_prefix(b"\"")?;
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'\\' => {
                out.push(*s.get(i + 1)?);
                i += 2;
            }
            b'"' => return Some((out, &s[i + 1..])),
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    None
}

/// An IMAP quoted string.  Only printable ASCII: anything else would need a
/// literal (or modified UTF-7 for mailbox names), which tests here avoid.
pub fn quote(s: &str) -> String {
    assert!(
        s.bytes().all(|b| (0x20..0x7f).contains(&b)),
        "IMAP quote: {s:?} is not printable ASCII; this harness does not encode such names"
    );
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

// ------------------------------------------------------------------ waiting --

/// Polls `user`'s INBOX every 50 ms until it holds at least `n` messages,
/// then returns all of them (raw, in UID order).  Keeps trying through a
/// lost connection (e.g. Dovecot restarting).  Panics on timeout, saying
/// how many arrived and what Postfix logged about the user.
#[track_caller]
pub fn wait_for_messages(env: &MailEnv, user: &str, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
    wait_for_messages_in(env, user, "INBOX", n, timeout)
}

/// [`wait_for_messages`] for any mailbox.
#[track_caller]
pub fn wait_for_messages_in(
    env: &MailEnv,
    user: &str,
    mailbox: &str,
    n: usize,
    timeout: Duration,
) -> Vec<Vec<u8>> {
    let start = Instant::now();
    let mut seen = 0usize;
    let mut last_error = String::new();
    let mut conn: Option<Imap> = None;
    loop {
        if conn.is_none() {
            match Imap::try_login(env, user) {
                Ok(c) => conn = Some(c),
                Err(e) => last_error = e.to_string(),
            }
        }
        if let Some(imap) = conn.as_mut() {
            let status = imap.command(&format!("STATUS {} (MESSAGES)", quote(mailbox)));
            match status {
                Ok(reply) => {
                    seen = reply
                        .lines_of("STATUS")
                        .find_map(|r| r.number_after("MESSAGES"))
                        .unwrap_or(0) as usize;
                    if seen >= n {
                        imap.select(mailbox);
                        return imap.fetch_all_raw().into_iter().map(|(_, m)| m).collect();
                    }
                }
                Err(e) => {
                    // A missing mailbox is "no mail yet"; a broken connection
                    // is retried with a new one.
                    last_error = e.to_string();
                    if !e.detail.starts_with("server answered") {
                        conn = None;
                    }
                }
            }
        }
        if start.elapsed() >= timeout {
            panic!(
                "waited {timeout:?} for {n} message(s) in {user}'s {mailbox}, but {seen} arrived{}\n\
                 Postfix log about {user}:\n{}",
                if last_error.is_empty() {
                    String::new()
                } else {
                    format!(" (last IMAP error: {last_error})")
                },
                env.postfix_log_about(user, 8)
            );
        }
        std::thread::sleep(POLL_EVERY);
    }
}

/// Calls `cond` every 50 ms until it is true (returns true) or `timeout`
/// has passed (returns false after one last try).
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() >= timeout {
            return cond();
        }
        std::thread::sleep(POLL_EVERY);
    }
}

/// [`wait_until`], panicking on timeout with "timed out after ... waiting
/// for: `what`".
#[track_caller]
pub fn assert_eventually(timeout: Duration, what: &str, cond: impl FnMut() -> bool) {
    assert!(
        wait_until(timeout, cond),
        "timed out after {timeout:?} waiting for: {what}"
    );
}

// ----------------------------------------------------------- building mail --

/// A plain text message: From, To, Subject (RFC 2047 UTF-8 when not ASCII),
/// Date, Message-ID, MIME headers, the body with CRLF line ends.
pub fn build_mail(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    MailBuilder::new(from, to)
        .subject(subject)
        .body(body.as_bytes())
        .build()
}

/// Builds one raw message.  Every setter takes and returns the builder:
///
/// ```ignore
/// let mail = MailBuilder::new(&from, &to)
///     .subject_in("gbk", GBK_PRINTER_BROKEN)
///     .charset("gbk")
///     .body(GBK_PLEASE_FIX)
///     .in_reply_to("<abc@example.test>")
///     .build();
/// ```
#[derive(Clone, Debug)]
pub struct MailBuilder {
    from: String,
    to: String,
    subject: Option<Vec<u8>>,
    message_id: String,
    date: Option<String>,
    in_reply_to: Option<String>,
    references: Vec<String>,
    content_type: String,
    base64: bool,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl MailBuilder {
    /// A builder with a fresh Message-ID (see [`MailBuilder::id`]), the
    /// current date and `Content-Type: text/plain; charset=utf-8`.
    pub fn new(from: &str, to: &str) -> MailBuilder {
        let domain = from.rsplit_once('@').map_or(DEFAULT_DOMAIN, |(_, d)| d);
        let domain = domain.trim_end_matches('>');
        MailBuilder {
            from: from.to_string(),
            to: to.to_string(),
            subject: None,
            message_id: format!("<{}@{domain}>", random_hex()),
            date: None,
            in_reply_to: None,
            references: Vec::new(),
            content_type: "text/plain; charset=utf-8".into(),
            base64: false,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The Message-ID this message will carry, with angle brackets.
    pub fn id(&self) -> &str {
        &self.message_id
    }

    /// Subject: as is when printable ASCII, else RFC 2047 `=?utf-8?B?...?=`.
    pub fn subject(mut self, subject: &str) -> Self {
        let value = if subject.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            subject.as_bytes().to_vec()
        } else {
            encode_word("utf-8", subject.as_bytes()).into_bytes()
        };
        self.subject = Some(value);
        self
    }

    /// Subject given as bytes in `charset` (e.g. GBK), RFC 2047 B-encoded,
    /// split into several encoded words without splitting a character.
    pub fn subject_in(mut self, charset: &str, bytes: &[u8]) -> Self {
        self.subject = Some(encode_word(charset, bytes).into_bytes());
        self
    }

    /// Subject bytes written unencoded (e.g. raw 8-bit GBK, as broken
    /// mailers send it).
    pub fn raw_subject(mut self, bytes: &[u8]) -> Self {
        self.subject = Some(bytes.to_vec());
        self
    }

    /// Message-ID; angle brackets are added when missing.
    pub fn message_id(mut self, id: &str) -> Self {
        self.message_id = angle(id);
        self
    }

    pub fn in_reply_to(mut self, id: &str) -> Self {
        self.in_reply_to = Some(angle(id));
        self
    }

    pub fn references(mut self, ids: &[&str]) -> Self {
        self.references = ids.iter().map(|id| angle(id)).collect();
        self
    }

    /// Date header value, e.g. `Mon, 2 Nov 2026 10:00:00 +0800`.
    pub fn date(mut self, date: &str) -> Self {
        self.date = Some(date.to_string());
        self
    }

    /// Full Content-Type value, e.g. `text/html; charset=utf-8`.
    pub fn content_type(mut self, value: &str) -> Self {
        self.content_type = value.to_string();
        self
    }

    /// `Content-Type: text/plain; charset=<charset>`.
    pub fn charset(mut self, charset: &str) -> Self {
        self.content_type = format!("text/plain; charset={charset}");
        self
    }

    /// Body bytes, in whatever charset the Content-Type names.  Line ends
    /// become CRLF when built.
    pub fn body(mut self, bytes: &[u8]) -> Self {
        self.body = bytes.to_vec();
        self
    }

    /// Send the body base64-encoded (`Content-Transfer-Encoding: base64`)
    /// instead of 8bit.
    pub fn base64(mut self) -> Self {
        self.base64 = true;
        self
    }

    /// Any other header, value as given (printable, already encoded).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_string(), value.as_bytes().to_vec()));
        self
    }

    /// Any other header with raw (e.g. 8-bit) value bytes.
    pub fn raw_header(mut self, name: &str, value: &[u8]) -> Self {
        self.headers.push((name.to_string(), value.to_vec()));
        self
    }

    /// The message: headers, blank line, body; CRLF line ends throughout.
    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut h = |name: &str, value: &[u8]| {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        };
        h("From", self.from.as_bytes());
        h("To", self.to.as_bytes());
        if let Some(s) = &self.subject {
            h("Subject", s);
        }
        let date = self.date.clone().unwrap_or_else(rfc5322_now);
        h("Date", date.as_bytes());
        h("Message-ID", self.message_id.as_bytes());
        if let Some(id) = &self.in_reply_to {
            h("In-Reply-To", id.as_bytes());
        }
        if !self.references.is_empty() {
            h("References", self.references.join("\r\n ").as_bytes());
        }
        for (name, value) in &self.headers {
            h(name, value);
        }
        h("MIME-Version", b"1.0");
        h("Content-Type", self.content_type.as_bytes());
        let cte: &[u8] = if self.base64 { b"base64" } else { b"8bit" };
        h("Content-Transfer-Encoding", cte);
        out.extend_from_slice(b"\r\n");
        if self.base64 {
            let b64 = base64(&self.body);
            for chunk in b64.as_bytes().chunks(76) {
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
        } else {
            out.extend_from_slice(&crlf(&self.body));
            if !out.ends_with(b"\r\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
        out
    }
}

fn angle(id: &str) -> String {
    let id = id.trim();
    if id.starts_with('<') {
        id.to_string()
    } else {
        format!("<{id}>")
    }
}

/// Bare LF -> CRLF (a CRLF stays as it is).
pub fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 40);
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                out.push(ALPHABET[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (whitespace ignored); `None` on a bad character.
pub fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in text {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// RFC 2047 `=?charset?B?...?=` words, joined by CRLF + space (header
/// folding).  Each word is at most 66 characters, so that every line,
/// `Subject: ` included, stays within the 76 that RFC 2047 allows.  Characters are never split across
/// words: UTF-8 by its lead bytes; GBK, GB2312 and GB18030 by theirs (1, 2
/// or 4 bytes); other charsets are taken as one byte per character.
pub fn encode_word(charset: &str, bytes: &[u8]) -> String {
    let overhead = "=?".len() + charset.len() + "?B?".len() + "?=".len();
    let max_raw = (66usize.saturating_sub(overhead) / 4 * 3).max(6);
    let mut words = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let mut end = start;
        while end < bytes.len() {
            let len = char_len(charset, &bytes[end..]);
            if end + len - start > max_raw && end > start {
                break;
            }
            end += len;
        }
        words.push(format!("=?{charset}?B?{}?=", base64(&bytes[start..end])));
        start = end;
    }
    if words.is_empty() {
        words.push(format!("=?{charset}?B??="));
    }
    words.join("\r\n ")
}

fn char_len(charset: &str, rest: &[u8]) -> usize {
    let cs = charset.to_ascii_lowercase();
    let b = rest[0];
    let len = if cs == "utf-8" || cs == "utf8" {
        match b {
            0xf0..=0xf7 => 4,
            0xe0..=0xef => 3,
            0xc0..=0xdf => 2,
            _ => 1,
        }
    } else if matches!(cs.as_str(), "gbk" | "gb2312" | "gb18030" | "cp936") {
        match (b, rest.get(1)) {
            (0x00..=0x7f, _) => 1,
            (_, Some(0x30..=0x39)) => 4,
            _ => 2,
        }
    } else {
        1
    };
    len.min(rest.len())
}

/// `Sat, 28 Nov 2026 07:01:11 +0000` for now.
pub fn rfc5322_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc5322_date(secs)
}

/// An RFC 5322 date (UTC) for seconds since the Unix epoch.
pub fn rfc5322_date(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[(days.rem_euclid(7)) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn sieve_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The raw header block of a message (up to the first empty line).
pub fn header_block(raw: &[u8]) -> &[u8] {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 1))
        .unwrap_or(raw.len());
    &raw[..end]
}

/// The body of a message (after the first empty line).
pub fn body_of(raw: &[u8]) -> &[u8] {
    if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
        &raw[p + 4..]
    } else if let Some(p) = raw.windows(2).position(|w| w == b"\n\n") {
        &raw[p + 2..]
    } else {
        &[]
    }
}

/// The unfolded value of the first header `name` (case-insensitive), as
/// bytes, or `None`.
pub fn header_value(raw: &[u8], name: &str) -> Option<Vec<u8>> {
    let block = header_block(raw);
    let lines: Vec<&[u8]> = block
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(colon) = line.iter().position(|&b| b == b':')
            && line[..colon].eq_ignore_ascii_case(name.as_bytes())
        {
            let mut value = line[colon + 1..].trim_ascii_start().to_vec();
            while i + 1 < lines.len() && matches!(lines[i + 1].first(), Some(b' ' | b'\t')) {
                i += 1;
                value.extend_from_slice(lines[i]);
            }
            return Some(value);
        }
        i += 1;
    }
    None
}

// ------------------------------------------------------------------- Daemon --

/// The `postdesk` binary (or any program) as a child process whose stdout
/// and stderr go to a log file.  Killed (SIGKILL) on drop if still running.
pub struct Daemon {
    child: Child,
    exit: Option<ExitStatus>,
    log_path: PathBuf,
    what: String,
}

impl Daemon {
    /// `postdesk run --config <config_path>`, logging to `postdesk.log`
    /// beside the config file (the test's temp dir).
    pub fn start(config_path: impl AsRef<Path>) -> Daemon {
        let config_path = config_path.as_ref();
        let dir = config_path.parent().unwrap_or(Path::new("."));
        Self::start_with_log(config_path, dir.join("postdesk.log"))
    }

    /// Like [`Daemon::start`] with an explicit log file.
    pub fn start_with_log(config_path: impl AsRef<Path>, log_path: impl AsRef<Path>) -> Daemon {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_postdesk"));
        cmd.arg("run").arg("--config").arg(config_path.as_ref());
        // Plain text in the log file, for assertion messages.
        cmd.env("NO_COLOR", "1");
        Self::spawn(cmd, log_path)
    }

    /// Any prepared command (set its env or args first); stdin is closed,
    /// stdout and stderr are appended to `log_path`.
    pub fn spawn(mut cmd: Command, log_path: impl AsRef<Path>) -> Daemon {
        let log_path = log_path.as_ref().to_path_buf();
        let what = format!("{cmd:?}");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap_or_else(|e| panic!("Daemon: cannot open log {}: {e}", log_path.display()));
        let log2 = log
            .try_clone()
            .unwrap_or_else(|e| panic!("Daemon: cannot dup log file: {e}"));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .unwrap_or_else(|e| panic!("Daemon: cannot start {what}: {e}"));
        Daemon {
            child,
            exit: None,
            log_path,
            what,
        }
    }

    /// A shorthand for [`Daemon::spawn`] with a program and its arguments.
    pub fn spawn_program<S: AsRef<OsStr>>(
        program: impl AsRef<OsStr>,
        args: &[S],
        log_path: impl AsRef<Path>,
    ) -> Daemon {
        let mut cmd = Command::new(program);
        cmd.args(args);
        Self::spawn(cmd, log_path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the process wrote so far (lossy UTF-8).
    pub fn log(&self) -> String {
        match fs::read(&self.log_path) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => format!("(cannot read log {}: {e})", self.log_path.display()),
        }
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.poll_exit().is_none()
    }

    /// Its exit status, if it has exited.
    pub fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// Waits until the log contains `needle`; panics with the log on
    /// timeout, or as soon as the process has exited without writing it.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            if self.log().contains(needle) {
                return;
            }
            if let Some(status) = self.poll_exit() {
                if self.log().contains(needle) {
                    return;
                }
                panic!(
                    "{} exited ({status}) without logging {needle:?}; its log:\n{}",
                    self.what,
                    self.log()
                );
            }
            if start.elapsed() >= timeout {
                panic!(
                    "{} did not log {needle:?} within {timeout:?}; its log:\n{}",
                    self.what,
                    self.log()
                );
            }
            std::thread::sleep(POLL_EVERY);
        }
    }

    /// SIGTERM, then waits up to 10 s for it to exit and returns its exit
    /// status.  Panics (after SIGKILL) if it does not exit in time.  If it
    /// had already exited, returns that status.
    pub fn stop(&mut self) -> ExitStatus {
        if let Some(status) = self.poll_exit() {
            return status;
        }
        let pid = self.pid().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        if !matches!(sent, Ok(s) if s.success()) && self.poll_exit().is_none() {
            panic!("Daemon: `kill -TERM {pid}` failed: {sent:?}");
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Some(status) = self.poll_exit() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = self.kill9();
        panic!(
            "{} (pid {pid}) did not exit within 10 s of SIGTERM; killed with SIGKILL ({status}). Its log:\n{}",
            self.what,
            self.log()
        );
    }

    /// SIGKILL and reap it; returns the exit status.
    pub fn kill9(&mut self) -> ExitStatus {
        if let Some(status) = self.poll_exit() {
            return status;
        }
        let _ = self.child.kill();
        let status = self
            .child
            .wait()
            .unwrap_or_else(|e| panic!("Daemon: waiting for pid {}: {e}", self.pid()));
        self.exit = Some(status);
        status
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.poll_exit().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------- constants --

/// 打印机坏了 ("the printer is broken") in GBK.
pub const GBK_PRINTER_BROKEN: &[u8] = b"\xb4\xf2\xd3\xa1\xbb\xfa\xbb\xb5\xc1\xcb";
/// 请帮忙修理打印机，谢谢。 ("please help repair the printer, thanks.") in GBK.
pub const GBK_PLEASE_FIX: &[u8] = b"\xc7\xeb\xb0\xef\xc3\xa6\xd0\xde\xc0\xed\xb4\xf2\xd3\xa1\xbb\xfa\xa3\xac\xd0\xbb\xd0\xbb\xa1\xa3";

/// `postdesk --config CONFIG check`: (exit ok, stdout and stderr).
pub fn postdesk_check(config: &Path) -> (bool, String) {
    postdesk_check_with(config, &[])
}

/// [`postdesk_check`] with these environment variables set.
pub fn postdesk_check_with(config: &Path, vars: &[(&str, &std::ffi::OsStr)]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .arg("--config")
        .arg(config)
        .arg("check")
        .envs(vars.iter().copied())
        .output()
        .expect("run postdesk check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
