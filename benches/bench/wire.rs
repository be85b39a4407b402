//! Plain clients on raw sockets: what the mail servers can do without postdesk.
//!
//! - [`RawImap`]: pipelined APPEND with LITERAL+ (the fast way to load a
//!   backlog) and bulk `UID FETCH ... (BODY.PEEK[])` (the reference: the
//!   physical limit of reading a mailbox once).
//! - [`seed_maildir`]: writing a backlog straight into Dovecot's Maildir,
//!   for sizes where APPEND (fsync-bound) would take many minutes.
//! - [`smtp_reference`]: a pooled plain SMTP client, the reference for the
//!   outbox hand-off.

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{MailEnv, SmtpSession};

/// A minimal IMAP client that reads responses without keeping them.
pub struct RawImap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: u32,
}

fn bad(msg: String) -> io::Error {
    io::Error::other(msg)
}

impl RawImap {
    /// Connects and logs in as `user` with the lab password.
    pub fn login(env: &MailEnv, user: &str) -> io::Result<RawImap> {
        let stream = TcpStream::connect_timeout(&env.imap_addr(), Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(300)))?;
        stream.set_nodelay(true)?;
        let mut imap = RawImap {
            reader: BufReader::with_capacity(1 << 20, stream.try_clone()?),
            writer: stream,
            tag: 0,
        };
        let mut greeting = Vec::new();
        imap.reader.read_until(b'\n', &mut greeting)?;
        if !greeting.starts_with(b"* OK") {
            return Err(bad(format!(
                "IMAP greeting {:?}",
                String::from_utf8_lossy(&greeting)
            )));
        }
        imap.command(&format!("LOGIN \"{user}\" \"{}\"", env.password))?;
        Ok(imap)
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("b{}", self.tag)
    }

    /// Sends a command; returns the untagged lines (literals dropped).
    pub fn command(&mut self, cmd: &str) -> io::Result<Vec<String>> {
        let tag = self.next_tag();
        self.writer
            .write_all(format!("{tag} {cmd}\r\n").as_bytes())?;
        let mut lines = Vec::new();
        loop {
            let line = self.read_response(&mut |_| {})?;
            let text = String::from_utf8_lossy(&line).into_owned();
            if let Some(rest) = text.strip_prefix(&format!("{tag} ")) {
                if rest.starts_with("OK") {
                    return Ok(lines);
                }
                return Err(bad(format!("`{cmd}` answered {rest:?}")));
            }
            lines.push(text);
        }
    }

    /// One response: its text (the line, with each literal's `{n}` kept),
    /// handing each literal to `literal`.
    fn read_response(&mut self, literal: &mut dyn FnMut(&[u8])) -> io::Result<Vec<u8>> {
        let mut text = Vec::new();
        let mut buf = Vec::new();
        loop {
            let mut line = Vec::new();
            if self.reader.read_until(b'\n', &mut line)? == 0 {
                return Err(bad("IMAP server closed the connection".into()));
            }
            while matches!(line.last(), Some(b'\r' | b'\n')) {
                line.pop();
            }
            let len = literal_len(&line);
            text.extend_from_slice(&line);
            match len {
                Some(n) => {
                    buf.resize(n, 0);
                    self.reader.read_exact(&mut buf)?;
                    literal(&buf);
                }
                None => return Ok(text),
            }
        }
    }

    /// APPENDs every message to `mailbox`, pipelined with LITERAL+ (no
    /// round trip per message); a writer thread keeps the socket full while
    /// this thread reads the answers.
    pub fn append_all(&mut self, mailbox: &str, messages: &[Vec<u8>]) -> io::Result<()> {
        let caps = self.command("CAPABILITY")?.join(" ");
        if !caps.contains("LITERAL+") {
            return Err(bad(format!("server lacks LITERAL+: {caps}")));
        }
        let first = self.tag + 1;
        self.tag += messages.len() as u32;
        let writer = self.writer.try_clone()?;
        std::thread::scope(|s| {
            let sender = s.spawn(move || -> io::Result<()> {
                let mut w = BufWriter::with_capacity(1 << 20, writer);
                for (i, m) in messages.iter().enumerate() {
                    write!(
                        w,
                        "b{} APPEND \"{mailbox}\" {{{}+}}\r\n",
                        first + i as u32,
                        m.len()
                    )?;
                    w.write_all(m)?;
                    w.write_all(b"\r\n")?;
                }
                w.flush()
            });
            let mut done = 0;
            let mut failure = None;
            while done < messages.len() {
                let line = self.read_response(&mut |_| {})?;
                if line.starts_with(b"b") {
                    done += 1;
                    let text = String::from_utf8_lossy(&line);
                    if text.split(' ').nth(1) != Some("OK") && failure.is_none() {
                        failure = Some(format!("APPEND answered {text:?}"));
                    }
                }
            }
            sender
                .join()
                .map_err(|_| bad("APPEND writer panicked".into()))??;
            match failure {
                Some(f) => Err(bad(f)),
                None => Ok(()),
            }
        })
    }

    /// `UID FETCH lo:hi (BODY.PEEK[])` in batches of `batch` UIDs over
    /// `1..=max_uid`; returns (messages, bytes) read.
    pub fn fetch_all(&mut self, max_uid: u32, batch: u32) -> io::Result<(u64, u64)> {
        let (mut msgs, mut bytes) = (0u64, 0u64);
        let mut lo = 1;
        while lo <= max_uid {
            let hi = (lo + batch - 1).min(max_uid);
            let tag = self.next_tag();
            self.writer
                .write_all(format!("{tag} UID FETCH {lo}:{hi} (BODY.PEEK[])\r\n").as_bytes())?;
            loop {
                let line = self.read_response(&mut |lit| {
                    msgs += 1;
                    bytes += lit.len() as u64;
                })?;
                if line.starts_with(tag.as_bytes()) && line.get(tag.len()) == Some(&b' ') {
                    if !line[tag.len() + 1..].starts_with(b"OK") {
                        return Err(bad(format!(
                            "UID FETCH answered {:?}",
                            String::from_utf8_lossy(&line)
                        )));
                    }
                    break;
                }
            }
            lo = hi + 1;
        }
        Ok((msgs, bytes))
    }

    pub fn logout(mut self) {
        let _ = self.command("LOGOUT");
    }
}

/// `{123}` or `{123+}` at the end of a line.
fn literal_len(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = inner[open + 1..]
        .strip_suffix(b"+")
        .unwrap_or(&inner[open + 1..]);
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The uid and gid Dovecot's mail processes run as (user `mail`).
fn mail_ids() -> io::Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() > 3
            && f[0] == "mail"
            && let (Ok(uid), Ok(gid)) = (f[2].parse(), f[3].parse())
        {
            return Ok((uid, gid));
        }
    }
    Err(bad("no user `mail` in /etc/passwd".into()))
}

/// Writes the messages as files into `user`'s Maildir `cur/` (LF line ends,
/// as Dovecot stores them, with `S=` and `W=` sizes in the name so Dovecot
/// need not read them to know their sizes), owned by `mail`. Dovecot gives
/// them UIDs at the next SELECT, in file-name order, which is corpus order.
/// Needs root. The mailbox must exist (log in once first).
pub fn seed_maildir(env: &MailEnv, user: &str, messages: &[Vec<u8>]) -> io::Result<()> {
    use std::os::unix::fs::chown;
    let (uid, gid) = mail_ids()?;
    let cur = env.home_of(user).join("Maildir").join("cur");
    if !cur.is_dir() {
        return Err(bad(format!(
            "{} does not exist (log in once first)",
            cur.display()
        )));
    }
    let base: u64 = 1_700_000_000;
    for (i, m) in messages.iter().enumerate() {
        let lf = crlf_to_lf(m);
        let name = format!(
            "{}.M{:06}P1.bench,S={},W={}:2,",
            base + i as u64,
            i,
            lf.len(),
            m.len()
        );
        let path = cur.join(name);
        std::fs::write(&path, &lf)?;
        chown(&path, Some(uid), Some(gid))?;
    }
    Ok(())
}

fn crlf_to_lf(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len());
    for (i, &b) in m.iter().enumerate() {
        if b == b'\r' && m.get(i + 1) == Some(&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

/// One mail for the SMTP reference.
pub struct Outgoing {
    pub from: String,
    pub rcpt: Vec<String>,
    pub raw: Vec<u8>,
}

/// Submits every mail over `connections` concurrent SMTP sessions (each
/// reused for many mails, as a pool does); returns the wall time.
pub fn smtp_reference(
    env: &MailEnv,
    mails: &[Outgoing],
    connections: usize,
) -> Result<Duration, String> {
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..connections)
            .map(|_| {
                s.spawn(|| -> Result<(), String> {
                    let mut session = None;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(m) = mails.get(i) else { break };
                        if session.is_none() {
                            session = Some(SmtpSession::connect(env).map_err(|e| e.to_string())?);
                        }
                        let sess = session.as_mut().expect("just connected");
                        sess.send(&m.from, &m.rcpt, &m.raw)
                            .map_err(|e| e.to_string())?;
                    }
                    if let Some(s) = session {
                        s.quit();
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join()
                .map_err(|_| "an SMTP worker panicked".to_string())??;
        }
        Ok(start.elapsed())
    })
}

/// Mails waiting in Postfix's queue (files under its queue directories).
pub fn postfix_queue_len(maillab_dir: &Path) -> usize {
    fn count(dir: &Path) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .flatten()
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => count(&e.path()),
                Ok(_) => 1,
                Err(_) => 0,
            })
            .sum()
    }
    let spool = maillab_dir.join("postfix").join("spool");
    ["maildrop", "incoming", "active", "deferred", "hold"]
        .iter()
        .map(|q| count(&spool.join(q)))
        .sum()
}

/// Waits until Postfix has delivered everything it accepted, so one phase's
/// deliveries do not slow the next phase down. Returns the time waited.
pub fn wait_postfix_idle(maillab_dir: &Path, timeout: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        let n = postfix_queue_len(maillab_dir);
        if n == 0 {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            return Err(format!(
                "Postfix still has {n} mail(s) queued after {timeout:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Messages in a user's INBOX on disk (new/ and cur/), without asking Dovecot.
pub fn maildir_count(env: &MailEnv, user: &str) -> usize {
    let md = env.home_of(user).join("Maildir");
    ["new", "cur"]
        .iter()
        .map(|d| {
            std::fs::read_dir(md.join(d))
                .map(|e| e.flatten().count())
                .unwrap_or(0)
        })
        .sum()
}
