//! Latency of one request while the daemon waits in IMAP IDLE: from the
//! SMTP submission to the ticket committed, and to the acknowledgement
//! readable in the requester's mailbox.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::desk::{Desk, DeskSettings, log_problems};
use crate::probe;
use crate::support::{MailBuilder, MailEnv, smtp_send};
use crate::wire::RawImap;

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Summary {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    /// Nearest-rank percentiles.
    pub fn of(samples: &[f64]) -> Summary {
        if samples.is_empty() {
            return Summary::default();
        }
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        let rank = |p: f64| s[((p * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
        Summary {
            p50_ms: rank(0.5),
            p90_ms: rank(0.9),
            max_ms: s[s.len() - 1],
        }
    }
}

#[derive(Debug, Default, serde::Serialize)]
pub struct LatencyResult {
    pub k: usize,
    pub spacing_ms: u64,
    pub smtp_submit: Summary,
    pub to_ticket: Summary,
    pub to_ack_readable: Summary,
    pub ticket_ms: Vec<f64>,
    pub ack_ms: Vec<f64>,
    /// VmRSS of the fresh daemon waiting in IDLE, before the probes.
    pub idle_rss_kib: u64,
    /// VmRSS after the probes.
    pub rss_after_kib: u64,
    pub peak_rss_kib: u64,
    pub log_warnings: usize,
    pub failures: Vec<String>,
}

struct Probe {
    submit_ms: f64,
    ticket_ms: f64,
    ack_ms: f64,
}

pub fn run(env: &MailEnv, k: usize, spacing: Duration, run_tag: &str) -> LatencyResult {
    let mut r = LatencyResult {
        k,
        spacing_ms: spacing.as_millis() as u64,
        ..LatencyResult::default()
    };
    let settings = DeskSettings {
        batch_size: 500,
        concurrency: 4,
        after: "seen".into(),
    };
    let address = format!("lat-desk-{run_tag}@{}", env.domain);
    let mut desk = Desk::new(env, &address, &settings);
    let mut daemon = desk.start();
    daemon.wait_for_log("IMAP connected", Duration::from_secs(30));
    // Give it the moment to SELECT, find nothing and enter IDLE.
    std::thread::sleep(Duration::from_secs(1));
    let pid = daemon.pid();
    r.idle_rss_kib = probe::status_kib(pid, "VmRSS").unwrap_or(0);
    eprintln!(
        "[bench] latency: daemon idle at {:.1} MiB RSS; {k} requests {} ms apart",
        r.idle_rss_kib as f64 / 1024.0,
        r.spacing_ms
    );
    let start = Instant::now();
    let results: Vec<Result<Probe, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..k)
            .map(|i| {
                let desk = &desk;
                s.spawn(move || {
                    let when = spacing * i as u32;
                    if let Some(wait) = when.checked_sub(start.elapsed()) {
                        std::thread::sleep(wait);
                    }
                    probe_once(env, desk, run_tag, i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("probe panicked".into())))
            .collect()
    });
    let mut submit = Vec::new();
    for res in results {
        match res {
            Ok(p) => {
                submit.push(p.submit_ms);
                r.ticket_ms.push(p.ticket_ms);
                r.ack_ms.push(p.ack_ms);
            }
            Err(e) => r.failures.push(e),
        }
    }
    r.smtp_submit = Summary::of(&submit);
    r.to_ticket = Summary::of(&r.ticket_ms);
    r.to_ack_readable = Summary::of(&r.ack_ms);
    r.rss_after_kib = probe::status_kib(pid, "VmRSS").unwrap_or(0);
    r.peak_rss_kib = probe::status_kib(pid, "VmHWM").unwrap_or(0);
    daemon.stop();
    r.log_warnings = log_problems(&daemon.log()).0;
    eprintln!(
        "[bench] latency: ticket p50 {:.0} ms p90 {:.0} ms; ack readable p50 {:.0} ms p90 {:.0} ms",
        r.to_ticket.p50_ms, r.to_ticket.p90_ms, r.to_ack_readable.p50_ms, r.to_ack_readable.p90_ms
    );
    let _ = std::fs::remove_dir_all(env.home_of(&address));
    r
}

fn probe_once(env: &MailEnv, desk: &Desk, run_tag: &str, i: usize) -> Result<Probe, String> {
    let requester = format!("lat{i}-{run_tag}@{}", env.domain);
    let subject = format!("Latency probe {i} {run_tag}");
    // Logged in before the clock starts: a mail client is already connected.
    let mut imap = RawImap::login(env, &requester).map_err(|e| e.to_string())?;
    let sent = submit_until_ticket(env, &desk.db_path(), &requester, &desk.address, &subject)
        .map_err(|e| format!("probe {i}: {e}"))?;
    let (t0, submit_ms, ticket_ms) = (sent.at, sent.submit_ms, sent.ticket_ms);
    let deadline = Duration::from_secs(30);
    let ack_ms = loop {
        let lines = imap
            .command("STATUS \"INBOX\" (MESSAGES)")
            .map_err(|e| e.to_string())?;
        let count: u32 = lines
            .iter()
            .find_map(|l| {
                let rest = &l[l.find("MESSAGES ")? + 9..];
                rest.trim_end_matches(')').trim().parse().ok()
            })
            .unwrap_or(0);
        if count >= 1 {
            break ms(t0.elapsed());
        }
        if t0.elapsed() > deadline {
            return Err(format!("probe {i}: no acknowledgement after {deadline:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    imap.logout();
    let _ = std::fs::remove_dir_all(env.home_of(&requester));
    Ok(Probe {
        submit_ms,
        ticket_ms,
        ack_ms,
    })
}

/// One request submitted and its ticket seen.
pub struct Submitted {
    /// When the submission began.
    pub at: Instant,
    /// SMTP submission accepted, ms after `at`.
    pub submit_ms: f64,
    /// The ticket committed (visible to a reader of `db`), ms after `at`.
    pub ticket_ms: f64,
}

/// Sends a request from `requester` to `to` over SMTP and polls the desk's
/// database `db` (read-only, every 10 ms, up to 30 s) until a ticket with
/// `subject` is committed.
pub fn submit_until_ticket(
    env: &MailEnv,
    db: &Path,
    requester: &str,
    to: &str,
    subject: &str,
) -> Result<Submitted, String> {
    let db = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| e.to_string())?;
    let raw = MailBuilder::new(&format!("Requester <{requester}>"), to)
        .subject(subject)
        .body(b"Hello,\nmy screen stays black after the update.\nThanks\n")
        .build();
    let t0 = Instant::now();
    smtp_send(env, requester, &[to], &raw).map_err(|e| e.to_string())?;
    let submit_ms = ms(t0.elapsed());
    let deadline = Duration::from_secs(30);
    loop {
        let found: Option<i64> = db
            .query_row(
                "SELECT number FROM tickets WHERE subject = ?1",
                [subject],
                |r| r.get(0),
            )
            .optional()
            .unwrap_or(None);
        if found.is_some() {
            return Ok(Submitted {
                at: t0,
                submit_ms,
                ticket_ms: ms(t0.elapsed()),
            });
        }
        if t0.elapsed() > deadline {
            return Err(format!("no ticket after {deadline:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
