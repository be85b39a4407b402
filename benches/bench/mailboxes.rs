//! Many IDLE mailboxes in one daemon (issue 16): N mailboxes of one desk,
//! each its own Dovecot user, waiting in IMAP IDLE.
//!
//! Measured:
//! - connect time: from `postdesk run` to `/readyz` answering 200, which it
//!   does once every mailbox was read to its end once (it then enters IDLE);
//! - memory: VmRSS of the daemon so idle, a few seconds after ready (the
//!   last sessions entering IDLE), and per mailbox as
//!   (RSS with N mailboxes - RSS of the same desk with 1) / (N - 1), so the
//!   runtime, the templates and the database pages the desk has whatever
//!   its size are not spread over the mailboxes; RSS / N is printed too;
//! - open files of the daemon (`/proc/PID/fd`);
//! - latency: K requests, each to a mailbox chosen at random (fixed seed),
//!   one at a time, from the SMTP submission to the ticket committed, the
//!   same measurement as [`crate::latency`];
//! - reconnecting (not with `--quick`): Dovecot restarted under the daemon,
//!   which drops every session at once; the time from Dovecot answering
//!   again to every mailbox signed in again (`postdesk_imap_connected` on
//!   `/metrics`), paced as at start.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::desk::{Desk, DeskSettings, log_problems};
use crate::latency::{Summary, ms, submit_until_ticket};
use crate::probe;
use crate::support::{Daemon, MailEnv, free_ports};

pub struct Options {
    pub n: usize,
    pub k: usize,
    /// IMAP over TLS (the IMAPS port), as production mailboxes are, instead of plain.
    pub tls: bool,
    pub seed: u64,
    pub run_tag: String,
    /// Restart Dovecot under the daemon and time the reconnection.
    pub restart: bool,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct MailboxesResult {
    pub n: usize,
    pub security: String,
    /// `postdesk run` to `/readyz` 200 with N mailboxes.
    pub connect_s: f64,
    /// VmRSS with 1 mailbox, idle.
    pub rss_one_kib: u64,
    /// VmRSS with N mailboxes, idle.
    pub rss_kib: u64,
    /// (rss_kib - rss_one_kib) / (N - 1).
    pub per_mailbox_kib: f64,
    /// rss_kib / N.
    pub rss_over_n_kib: f64,
    pub open_files: usize,
    pub threads: u64,
    pub k: usize,
    pub to_ticket: Summary,
    pub ticket_ms: Vec<f64>,
    /// Dovecot answering again after a restart to all N signed in again;
    /// `None` when not measured.
    pub reconnect_s: Option<f64>,
    pub log_warnings: usize,
    pub failures: Vec<String>,
}

/// The mailboxes of the run: the desk's own is number 0.
fn user(env: &MailEnv, tag: &str, i: usize) -> String {
    format!("mbx{i}-{tag}@{}", env.domain)
}

fn desk_with(env: &MailEnv, o: &Options, n: usize) -> Desk {
    let settings = DeskSettings {
        batch_size: 500,
        concurrency: 4,
        after: "seen".into(),
    };
    let [http] = free_ports::<1>();
    let (port, security) = if o.tls {
        (env.imaps_port, "tls")
    } else {
        (env.imap_port, "plain")
    };
    let mut extra = String::new();
    for i in 1..n {
        let u = user(env, &o.run_tag, i);
        extra += &format!(
            "[[mailbox]]\nname = \"m{i}\"\nkind = \"imap\"\nhost = \"127.0.0.1\"\nport = {port}\n\
             security = \"{security}\"\nusername = \"{u}\"\npassword-file = \"imap-password\"\n\
             address = \"{u}\"\non-first-connect = \"process\"\n"
        );
        if o.tls {
            extra += &format!("ca-file = {:?}\n", env.imaps_ca.display().to_string());
        }
        extra += "\n";
    }
    let mut desk = Desk::with(env, &user(env, &o.run_tag, 0), &settings, |b| {
        let b = b
            .set("http.listen", format!("127.0.0.1:{http}"))
            .set("mailbox.port", i64::from(port))
            .set("mailbox.security", security)
            .section(&extra);
        if o.tls {
            b.set("mailbox.ca-file", env.imaps_ca.display().to_string())
        } else {
            b
        }
    });
    desk.http_port = Some(http);
    desk
}

/// `GET path` on the ops endpoint: the status code, or `None` when nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// `GET path` on the ops endpoint: the body of a 200, or `None`.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// How many mailboxes `/metrics` shows signed in.
fn connected(port: u16) -> Option<usize> {
    let m = http_get(port, "/metrics")?;
    Some(
        m.lines()
            .filter(|l| l.starts_with("postdesk_imap_connected{") && l.ends_with(" 1"))
            .count(),
    )
}

/// Restarts Dovecot under the running daemon and waits until every one of
/// the `n` mailboxes has signed in again: the seconds from Dovecot
/// answering again.
fn reconnect_after_restart(env: &MailEnv, port: u16, n: usize) -> Result<f64, String> {
    env.ctl("restart", "dovecot");
    let t0 = Instant::now();
    // Generous: the same as for the start.
    let timeout = Duration::from_secs(60 + n as u64 / 20);
    let mut dropped = false;
    loop {
        let now = connected(port).unwrap_or(0);
        dropped |= now < n;
        if dropped && now == n {
            return Ok(t0.elapsed().as_secs_f64());
        }
        if t0.elapsed() > timeout {
            return Err(format!(
                "{now} of {n} mailboxes signed in again {timeout:?} after Dovecot restarted"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts the desk and waits until `/readyz` says every mailbox was read:
/// the daemon and the seconds it took.
fn start_ready(desk: &mut Desk, timeout: Duration) -> Result<(Daemon, f64), (Daemon, String)> {
    let port = desk.http_port.expect("desk_with sets the ops port");
    let t0 = Instant::now();
    let mut daemon = desk.start();
    loop {
        if http_status(port, "/readyz") == Some(200) {
            return Ok((daemon, t0.elapsed().as_secs_f64()));
        }
        if let Some(status) = daemon.poll_exit() {
            return Err((
                daemon,
                format!("the daemon exited ({status}) before it was ready"),
            ));
        }
        if t0.elapsed() > timeout {
            return Err((daemon, format!("not ready within {timeout:?}")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// RSS once the last sessions are in IDLE: ready means every mailbox was
/// read, and IDLE follows at once; 1 s plus 1 ms a mailbox is ample for
/// the last ones (3 s at 2,000), and keeps `--quick` (50) quick.
fn idle_rss(pid: u32, n: usize) -> u64 {
    std::thread::sleep(Duration::from_millis(1000 + n as u64));
    probe::status_kib(pid, "VmRSS").unwrap_or(0)
}

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn threads(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

pub fn run(env: &MailEnv, o: &Options) -> MailboxesResult {
    let mut r = MailboxesResult {
        n: o.n,
        security: if o.tls { "tls" } else { "plain" }.into(),
        k: o.k,
        ..MailboxesResult::default()
    };
    // Generous: 10,000 first logins make 10,000 Maildirs on a 2-core machine.
    let timeout = Duration::from_secs(60 + o.n as u64 / 20);

    eprintln!("[bench] mailboxes: the same desk with 1 mailbox first");
    let mut one = desk_with(env, o, 1);
    match start_ready(&mut one, timeout) {
        Ok((mut d, _)) => {
            r.rss_one_kib = idle_rss(d.pid(), 1);
            d.stop();
        }
        Err((mut d, e)) => {
            d.stop();
            r.failures.push(format!("1 mailbox: {e}"));
            return r;
        }
    }

    eprintln!("[bench] mailboxes: {} {} mailboxes", o.n, r.security);
    let mut desk = desk_with(env, o, o.n);
    let mut daemon = match start_ready(&mut desk, timeout) {
        Ok((d, s)) => {
            r.connect_s = s;
            d
        }
        Err((mut d, e)) => {
            d.stop();
            r.failures.push(format!("{} mailboxes: {e}", o.n));
            return r;
        }
    };
    let pid = daemon.pid();
    r.rss_kib = idle_rss(pid, o.n);
    r.open_files = open_files(pid);
    r.threads = threads(pid);
    r.per_mailbox_kib =
        r.rss_kib.saturating_sub(r.rss_one_kib) as f64 / o.n.saturating_sub(1).max(1) as f64;
    r.rss_over_n_kib = r.rss_kib as f64 / o.n as f64;
    eprintln!(
        "[bench] mailboxes: ready in {:.1} s; {:.1} MiB RSS ({:.1} MiB with 1), {:.0} KiB per mailbox; {} open files",
        r.connect_s,
        r.rss_kib as f64 / 1024.0,
        r.rss_one_kib as f64 / 1024.0,
        r.per_mailbox_kib,
        r.open_files
    );

    // A fixed sequence of mailboxes (xorshift from the seed), so runs compare.
    let mut x = o.seed | 1;
    for i in 0..o.k {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let to = user(env, &o.run_tag, (x % o.n as u64) as usize);
        let requester = format!("mreq{i}-{}@{}", o.run_tag, env.domain);
        let subject = format!("Mailbox probe {i} {}", o.run_tag);
        match submit_until_ticket(env, &desk.db_path(), &requester, &to, &subject) {
            Ok(s) => r.ticket_ms.push(s.ticket_ms),
            Err(e) => r.failures.push(format!("probe {i} to {to}: {e}")),
        }
        let _ = std::fs::remove_dir_all(env.home_of(&requester));
        if i + 1 == o.k {
            break;
        }
        // Spaced like the latency section, so the acknowledgement of one
        // is not measured in the next one's time.
        let wait = Duration::from_millis(1500).saturating_sub(Duration::from_millis(
            r.ticket_ms.last().copied().unwrap_or(0.0) as u64,
        ));
        std::thread::sleep(wait);
    }
    r.to_ticket = Summary::of(&r.ticket_ms);
    if o.restart {
        let port = desk.http_port.expect("desk_with sets the ops port");
        match reconnect_after_restart(env, port, o.n) {
            Ok(s) => {
                eprintln!(
                    "[bench] mailboxes: Dovecot restarted; all {} signed in again in {s:.1} s",
                    o.n
                );
                r.reconnect_s = Some(s);
            }
            Err(e) => r.failures.push(e),
        }
    }
    let t = Instant::now();
    daemon.stop();
    eprintln!(
        "[bench] mailboxes: ticket p50 {:.0} ms p90 {:.0} ms; stopped in {:.1} s",
        r.to_ticket.p50_ms,
        r.to_ticket.p90_ms,
        ms(t.elapsed()) / 1000.0
    );
    r.log_warnings = log_problems(&daemon.log()).0;
    for i in 0..o.n {
        let _ = std::fs::remove_dir_all(env.home_of(&user(env, &o.run_tag, i)));
    }
    r
}
