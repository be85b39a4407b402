//! The backlog drain: N messages waiting in a fresh helpdesk mailbox, then
//! (1) a plain client fetching them once (the reference), (2) the daemon
//! started on them until every message is committed and every
//! acknowledgement handed to Postfix, (3) the outbox alone handing the same
//! acknowledgements over again, against (4) a plain pooled SMTP client.
//! Everything the daemon produced is checked against what the corpus
//! predicts, so a lost or duplicated message fails the run.

use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension};

use crate::corpus::{self, Category, Corpus, Names};
use crate::desk::{Desk, DeskSettings, log_problems};
use crate::probe::{self, RssSampler};
use crate::support::MailEnv;
use crate::wire::{self, RawImap};

/// How the backlog gets into the mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Load {
    /// Pipelined IMAP APPEND with LITERAL+ (fsync-bound, ~250 msg/s).
    Append,
    /// Files written into Dovecot's Maildir, indexed at the first SELECT.
    Maildir,
}

pub struct Options {
    pub n: usize,
    pub seed: u64,
    pub load: Load,
    pub settings: DeskSettings,
    /// Also measure the outbox alone and the plain SMTP client.
    pub outbox_reference: bool,
    /// Stop the daemon once every message is committed: the acknowledgements
    /// are checked as queued, not as sent (for sizes where sending them all
    /// would take long and measure nothing new).
    pub ingest_only: bool,
    pub keep_mail: bool,
    pub run_tag: String,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Mix {
    pub counts: Vec<(String, usize)>,
    pub bytes: u64,
    pub expected_tickets: u64,
    pub expected_acks: u64,
    pub requesters: usize,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Rate {
    pub count: u64,
    pub seconds: f64,
    pub per_second: f64,
}

impl Rate {
    fn new(count: u64, d: Duration) -> Rate {
        let seconds = d.as_secs_f64();
        Rate {
            count,
            seconds,
            per_second: if seconds > 0.0 {
                count as f64 / seconds
            } else {
                0.0
            },
        }
    }
}

#[derive(Debug, Default, serde::Serialize)]
pub struct DaemonRun {
    /// From process start until the checkpoint covers the last UID.
    pub ingest: Rate,
    /// From process start until the first batch was committed.
    pub first_commit_seconds: f64,
    /// From process start until every acknowledgement was handed to Postfix.
    pub all_acks_sent: Rate,
    /// Acknowledgements still queued when ingest finished.
    pub acks_queued_at_ingest_end: i64,
    pub peak_rss_kib: u64,
    pub rss_after_drain_kib: u64,
    /// VmRSS every 500 ms from the start: (seconds, KiB).
    pub rss_timeline: Vec<(f64, u64)>,
    pub cpu_seconds_ingest: f64,
    pub cpu_seconds_total: f64,
    pub cpu_ms_per_message: f64,
    pub db_bytes: u64,
    pub wal_bytes: u64,
    pub db_bytes_after_stop: u64,
    pub log_warnings: usize,
    pub log_sample: Vec<String>,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct OutboxRun {
    /// The daemon's outbox alone: every acknowledgement queued again, daemon
    /// started, until all are sent.
    pub daemon: Rate,
    pub daemon_cpu_seconds: f64,
    /// A plain client: the same mails, same envelopes, pooled connections.
    pub plain_client: Rate,
    pub connections: usize,
    pub ratio: f64,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct DrainResult {
    pub n: usize,
    pub load: Option<Load>,
    pub settings: Option<DeskSettings>,
    pub mix: Mix,
    /// Loading the backlog (APPEND, or Maildir files plus the first SELECT).
    pub load_rate: Rate,
    /// The plain client's `UID FETCH (BODY.PEEK[])` of every message.
    pub reference_fetch: Rate,
    pub reference_mib: f64,
    pub daemon: DaemonRun,
    /// daemon ingest time / reference fetch time.
    pub ingest_vs_reference: f64,
    pub outbox: Option<OutboxRun>,
    /// Time Postfix needed to deliver the acknowledgements after the drain.
    pub postfix_settle_seconds: f64,
    pub load_average_after: String,
    /// Empty when every message and acknowledgement is accounted for.
    pub failures: Vec<String>,
}

fn say(msg: &str) {
    eprintln!("[bench] {msg}");
}

pub fn run(env: &MailEnv, o: &Options) -> DrainResult {
    let mut r = DrainResult {
        n: o.n,
        load: Some(o.load),
        settings: Some(o.settings.clone()),
        ..DrainResult::default()
    };
    if let Err(e) = run_inner(env, o, &mut r) {
        r.failures.push(e);
    }
    r.load_average_after = probe::loadavg();
    r
}

fn run_inner(env: &MailEnv, o: &Options, r: &mut DrainResult) -> Result<(), String> {
    let tag = format!("{}n{}", o.run_tag, o.n);
    let names = Names {
        desk: format!("desk-{tag}@{}", env.domain),
        tag: tag.clone(),
        domain: env.domain.clone(),
        requesters: (o.n / 20).clamp(5, 500),
    };
    let t = Instant::now();
    let corpus = corpus::generate(o.n, o.seed, &names, 1000);
    say(&format!(
        "N={}: generated {} messages ({:.1} MiB) in {:.1} s",
        o.n,
        corpus.messages.len(),
        corpus.bytes as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    ));
    r.mix = Mix {
        counts: Category::ALL
            .iter()
            .map(|&c| (c.name().to_string(), corpus.count(c)))
            .collect(),
        bytes: corpus.bytes,
        expected_tickets: corpus.expect.tickets,
        expected_acks: corpus.expect.acks,
        requesters: names.requesters,
    };

    let max_uid = load(env, o, &names, &corpus, r)?;
    reference_fetch(env, o, &names, max_uid, r)?;

    let mut desk = Desk::new(env, &names.desk, &o.settings);
    drain_with_daemon(&mut desk, &corpus, max_uid, o.ingest_only, r)?;
    let db = desk
        .reader()
        .ok_or_else(|| "cannot open the database to verify it".to_string())?;
    verify_database(&db, &corpus, o.ingest_only, &mut r.failures)?;
    if o.ingest_only {
        if !o.keep_mail {
            remove_mailboxes(env, &names, &corpus);
        }
        return Ok(());
    }

    say("waiting for Postfix to deliver the acknowledgements");
    r.postfix_settle_seconds =
        wire::wait_postfix_idle(&env.maillab_dir, settle_timeout(o.n))?.as_secs_f64();
    verify_delivered(env, &corpus, &mut r.failures);

    if o.outbox_reference {
        r.outbox = Some(outbox_reference(env, &mut desk, &o.settings, o.n)?);
    }
    if !o.keep_mail {
        remove_mailboxes(env, &names, &corpus);
    }
    Ok(())
}

fn settle_timeout(n: usize) -> Duration {
    Duration::from_secs(120).max(Duration::from_millis(n as u64 * 60))
}

/// Loads the corpus into the desk's INBOX; returns the highest UID.
fn load(
    env: &MailEnv,
    o: &Options,
    names: &Names,
    corpus: &Corpus,
    r: &mut DrainResult,
) -> Result<u32, String> {
    let imap_err = |e: std::io::Error| format!("IMAP as {}: {e}", names.desk);
    let mut imap = RawImap::login(env, &names.desk).map_err(imap_err)?;
    let t = Instant::now();
    match o.load {
        Load::Append => {
            say(&format!("APPENDing {} messages (pipelined, LITERAL+)", o.n));
            imap.append_all("INBOX", &corpus.messages)
                .map_err(imap_err)?;
        }
        Load::Maildir => {
            // Dovecot makes the Maildir at the first look into the folder.
            imap.command("STATUS \"INBOX\" (MESSAGES)")
                .map_err(imap_err)?;
            say(&format!("writing {} messages into the Maildir", o.n));
            wire::seed_maildir(env, &names.desk, &corpus.messages).map_err(imap_err)?;
        }
    }
    // The first SELECT after Maildir seeding is where Dovecot indexes the files.
    let lines = imap.command("SELECT \"INBOX\"").map_err(imap_err)?;
    r.load_rate = Rate::new(o.n as u64, t.elapsed());
    let exists: usize = lines
        .iter()
        .find_map(|l| l.strip_suffix(" EXISTS")?.strip_prefix("* ")?.parse().ok())
        .unwrap_or(0);
    let uidnext: u32 = lines
        .iter()
        .find_map(|l| {
            let rest = &l[l.find("[UIDNEXT ")? + 9..];
            rest[..rest.find(']')?].parse().ok()
        })
        .unwrap_or(0);
    if exists != o.n {
        return Err(format!(
            "the mailbox holds {exists} messages after loading, expected {}",
            o.n
        ));
    }
    say(&format!(
        "loaded in {:.1} s ({:.0} msg/s)",
        r.load_rate.seconds, r.load_rate.per_second
    ));
    // Warm-up, also done by the daemon before its first batch: every size.
    imap.command("UID FETCH 1:* (UID RFC822.SIZE)")
        .map_err(imap_err)?;
    imap.logout();
    Ok(uidnext.saturating_sub(1))
}

fn reference_fetch(
    env: &MailEnv,
    o: &Options,
    names: &Names,
    max_uid: u32,
    r: &mut DrainResult,
) -> Result<(), String> {
    let imap_err = |e: std::io::Error| format!("IMAP reference fetch: {e}");
    let mut imap = RawImap::login(env, &names.desk).map_err(imap_err)?;
    imap.command("EXAMINE \"INBOX\"").map_err(imap_err)?;
    let t = Instant::now();
    let (msgs, bytes) = imap
        .fetch_all(max_uid, o.settings.batch_size as u32)
        .map_err(imap_err)?;
    r.reference_fetch = Rate::new(msgs, t.elapsed());
    r.reference_mib = bytes as f64 / 1048576.0;
    imap.logout();
    if msgs != o.n as u64 {
        return Err(format!(
            "reference fetch read {msgs} messages, expected {}",
            o.n
        ));
    }
    say(&format!(
        "reference fetch: {:.2} s ({:.0} msg/s, {:.0} MiB/s)",
        r.reference_fetch.seconds,
        r.reference_fetch.per_second,
        r.reference_mib / r.reference_fetch.seconds.max(1e-9)
    ));
    Ok(())
}

fn query_i64(c: &Connection, sql: &str) -> Result<i64, String> {
    c.query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
        .optional()
        .map(|v| v.flatten().unwrap_or(0))
        .map_err(|e| format!("{sql}: {e}"))
}

fn drain_with_daemon(
    desk: &mut Desk,
    corpus: &Corpus,
    max_uid: u32,
    ingest_only: bool,
    r: &mut DrainResult,
) -> Result<(), String> {
    let n = corpus.messages.len();
    let acks = corpus.expect.acks as i64;
    let timeout = Duration::from_secs(120).max(Duration::from_millis(n as u64 * 50));
    say("starting postdesk run");
    let start = Instant::now();
    let mut daemon = desk.start();
    let pid = daemon.pid();
    let rss = RssSampler::start(pid);
    let db = desk.wait_reader(Duration::from_secs(30))?;
    let d = &mut r.daemon;
    let mut ingest_done: Option<Duration> = None;
    let mut first_commit: Option<Duration> = None;
    let mut last_report = Instant::now();
    loop {
        let last_uid = query_i64(
            &db,
            "SELECT last_uid FROM source_state WHERE mailbox = 'support'",
        )?;
        let queued_or_failed = query_i64(&db, "SELECT count(*) FROM outbox WHERE state != 'sent'")?;
        let total = query_i64(&db, "SELECT count(*) FROM outbox")?;
        let now = start.elapsed();
        if first_commit.is_none() && last_uid > 0 {
            first_commit = Some(now);
        }
        if ingest_done.is_none() && last_uid >= i64::from(max_uid) {
            ingest_done = Some(now);
            d.cpu_seconds_ingest = probe::cpu_seconds(pid).unwrap_or(0.0);
            d.acks_queued_at_ingest_end = queued_or_failed;
            say(&format!(
                "ingest done after {:.2} s; {queued_or_failed} acknowledgement(s) still queued",
                now.as_secs_f64()
            ));
        }
        if ingest_done.is_some() && total >= acks && queued_or_failed == 0 {
            d.all_acks_sent = Rate::new(total as u64, now);
            break;
        }
        if ingest_only && ingest_done.is_some() {
            break;
        }
        if let Some(status) = daemon.poll_exit() {
            return Err(format!(
                "postdesk exited ({status}) during the drain; log:\n{}",
                tail(&daemon.log(), 30)
            ));
        }
        if now > timeout {
            return Err(format!(
                "drain not finished after {timeout:?}: last_uid {last_uid}/{max_uid}, outbox {total} (not sent {queued_or_failed}) of {acks}; log tail:\n{}",
                tail(&daemon.log(), 20)
            ));
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            say(&format!(
                "  … {:.0} s: last_uid {last_uid}/{max_uid}, acks sent {}/{acks}",
                now.as_secs_f64(),
                total - queued_or_failed
            ));
            last_report = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let ingest = ingest_done.unwrap_or_default();
    d.ingest = Rate::new(n as u64, ingest);
    d.first_commit_seconds = first_commit.unwrap_or_default().as_secs_f64();
    d.cpu_seconds_total = probe::cpu_seconds(pid).unwrap_or(0.0);
    d.cpu_ms_per_message = d.cpu_seconds_ingest * 1000.0 / n as f64;
    (d.db_bytes, d.wal_bytes) = desk.db_bytes();
    // Idle for a moment after the work: what the process keeps.
    std::thread::sleep(Duration::from_secs(2));
    d.rss_after_drain_kib = probe::status_kib(pid, "VmRSS").unwrap_or(0);
    let hwm = probe::status_kib(pid, "VmHWM").unwrap_or(0);
    let (max_rss, timeline) = rss.finish();
    d.peak_rss_kib = max_rss.max(hwm);
    d.rss_timeline = timeline;
    drop(db);
    daemon.stop();
    d.db_bytes_after_stop = desk.db_bytes().0 + desk.db_bytes().1;
    (d.log_warnings, d.log_sample) = log_problems(&daemon.log());
    r.ingest_vs_reference = d.ingest.seconds / r.reference_fetch.seconds.max(1e-9);
    say(&format!(
        "daemon: ingest {:.2} s ({:.0} msg/s, {:.1}x the reference), all acks sent after {:.2} s, peak RSS {:.1} MiB, CPU {:.2} ms/msg",
        d.ingest.seconds,
        d.ingest.per_second,
        r.ingest_vs_reference,
        d.all_acks_sent.seconds,
        d.peak_rss_kib as f64 / 1024.0,
        d.cpu_ms_per_message
    ));
    Ok(())
}

fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Everything in the database matches what the corpus predicts.
pub fn verify_database(
    db: &Connection,
    corpus: &Corpus,
    ingest_only: bool,
    failures: &mut Vec<String>,
) -> Result<(), String> {
    let e = &corpus.expect;
    let n = corpus.messages.len() as i64;
    let mut check = |what: &str, got: i64, want: i64| {
        if got != want {
            failures.push(format!("{what}: got {got}, expected {want}"));
        }
    };
    let q = |sql: &str| query_i64(db, sql);
    check(
        "inbound messages recorded",
        q("SELECT count(*) FROM messages WHERE direction = 'in'")?,
        n,
    );
    check(
        "distinct inbound Message-IDs",
        q("SELECT count(DISTINCT message_id) FROM messages WHERE direction = 'in'")?,
        n,
    );
    check("quarantined", q("SELECT count(*) FROM quarantine")?, 0);
    check(
        "tickets",
        q("SELECT count(*) FROM tickets")?,
        e.tickets as i64,
    );
    check(
        "requests",
        q("SELECT count(*) FROM messages WHERE direction = 'in' AND kind = 'request'")?,
        e.requests as i64,
    );
    check(
        "replies joined to tickets",
        q("SELECT count(*) FROM messages WHERE direction = 'in' AND kind = 'reply'")?,
        e.replies as i64,
    );
    check(
        "automatic mail",
        q("SELECT count(*) FROM messages WHERE direction = 'in' AND kind = 'automatic'")?,
        e.automatic as i64,
    );
    check(
        "mail recorded without a ticket",
        q("SELECT count(*) FROM messages WHERE direction = 'in' AND kind = 'ignored'")?,
        e.ignored as i64,
    );
    check(
        "acknowledgements queued",
        q("SELECT count(*) FROM outbox")?,
        e.acks as i64,
    );
    if !ingest_only {
        check(
            "acknowledgements sent",
            q("SELECT count(*) FROM outbox WHERE state = 'sent'")?,
            e.acks as i64,
        );
    }
    check(
        "tickets with more than one acknowledgement",
        q("SELECT count(*) FROM (SELECT ticket FROM outbox GROUP BY ticket HAVING count(*) > 1)")?,
        0,
    );
    verify_tickets(db, corpus, failures)?;
    let mut stmt = db
        .prepare("SELECT rcpt, count(*) FROM outbox GROUP BY rcpt")
        .map_err(|e| e.to_string())?;
    let per: std::collections::BTreeMap<String, u64> = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })
        .and_then(Iterator::collect)
        .map_err(|e| e.to_string())?;
    if per != e.acks_to {
        let wrong = e
            .acks_to
            .iter()
            .filter(|(k, v)| per.get(*k) != Some(v))
            .count();
        failures.push(format!(
            "acknowledgements per requester differ for {wrong} requester(s)"
        ));
    }
    Ok(())
}

/// Every mail is on the ticket the corpus predicts: a request or an alert
/// on the ticket it opened, a reply (by tag or by reference) or an
/// out-of-office on the ticket it answers. Counts alone would not see a
/// reply threaded onto the wrong ticket.
fn verify_tickets(
    db: &Connection,
    corpus: &Corpus,
    failures: &mut Vec<String>,
) -> Result<(), String> {
    let mut stmt = db
        .prepare("SELECT message_id, ticket FROM messages WHERE direction = 'in'")
        .map_err(|e| e.to_string())?;
    let got: std::collections::BTreeMap<String, Option<i64>> = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
        })
        .and_then(Iterator::collect)
        .map_err(|e| e.to_string())?;
    let on = |id: &str| got.get(id).copied().flatten();
    let wrong = |ids: &mut dyn Iterator<Item = &String>| -> (usize, Vec<String>) {
        let mut count = 0;
        let mut examples = Vec::new();
        for id in ids {
            let want = corpus.expect.ticket_of.get(id).copied();
            if on(id) != want {
                count += 1;
                if examples.len() < 3 {
                    examples.push(format!("<{id}> on {:?}, expected {want:?}", on(id)));
                }
            }
        }
        (count, examples)
    };
    let (replies, examples) = wrong(&mut corpus.expect.replies_ids.iter());
    if replies > 0 {
        failures.push(format!(
            "replies on the predicted ticket: {replies} of {} are not, e.g. {}",
            corpus.expect.replies_ids.len(),
            examples.join("; ")
        ));
    }
    let (all, examples) = wrong(&mut corpus.expect.ticket_of.keys());
    if all > replies {
        failures.push(format!(
            "mails on the predicted ticket: {all} of {} are not, e.g. {}",
            corpus.expect.ticket_of.len(),
            examples.join("; ")
        ));
    }
    Ok(())
}

/// Every acknowledgement reached its requester's mailbox, exactly once.
fn verify_delivered(env: &MailEnv, corpus: &Corpus, failures: &mut Vec<String>) {
    let mut total = 0;
    let mut wrong = Vec::new();
    for (addr, &want) in &corpus.expect.acks_to {
        let got = wire::maildir_count(env, addr) as u64;
        total += got;
        if got != want {
            wrong.push(format!("{addr}: {got} instead of {want}"));
        }
    }
    if !wrong.is_empty() {
        failures.push(format!(
            "acknowledgements delivered: {total} of {}; {} mailbox(es) differ, e.g. {}",
            corpus.expect.acks,
            wrong.len(),
            wrong[..wrong.len().min(3)].join("; ")
        ));
    }
}

/// The outbox alone against a plain client, on the same mails.
fn outbox_reference(
    env: &MailEnv,
    desk: &mut Desk,
    settings: &DeskSettings,
    n: usize,
) -> Result<OutboxRun, String> {
    let sql_err = |e: rusqlite::Error| format!("preparing the outbox replay: {e}");
    let conn = Connection::open(desk.db_path()).map_err(sql_err)?;
    let mails: Vec<wire::Outgoing> = conn
        .prepare(
            "SELECT o.mail_from, o.rcpt, m.raw, m.raw_codec FROM outbox o JOIN messages m ON m.id = o.message ORDER BY o.id",
        )
        .and_then(|mut s| {
            s.query_map([], |r| {
                let mail = wire::Outgoing {
                    from: r.get(0)?,
                    rcpt: r
                        .get::<_, String>(1)?
                        .split_whitespace()
                        .map(String::from)
                        .collect(),
                    raw: r.get(2)?,
                };
                Ok((mail, r.get::<_, i64>(3)?))
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(sql_err)?
        .into_iter()
        .map(|(mut m, codec)| {
            m.raw = postdesk::store::packed::unpack(std::mem::take(&mut m.raw), codec)
                .map_err(|e| format!("reading a queued mail: {e}"))?;
            Ok(m)
        })
        .collect::<Result<_, String>>()?;
    conn.execute(
        "UPDATE outbox SET state = 'queued', attempts = 0, sent_at = NULL, last_error = NULL, next_attempt_at = 0",
        [],
    )
    .map_err(sql_err)?;
    drop(conn);
    let acks = mails.len() as i64;
    say(&format!(
        "outbox alone: {acks} acknowledgements queued again, starting postdesk"
    ));
    let start = Instant::now();
    let mut daemon = desk.start();
    let db = desk.wait_reader(Duration::from_secs(30))?;
    let timeout = Duration::from_secs(120).max(Duration::from_millis(n as u64 * 50));
    loop {
        let left = query_i64(&db, "SELECT count(*) FROM outbox WHERE state != 'sent'")?;
        if left == 0 {
            break;
        }
        if let Some(status) = daemon.poll_exit() {
            return Err(format!("postdesk exited ({status}) during the outbox run"));
        }
        if start.elapsed() > timeout {
            return Err(format!(
                "outbox run: {left} of {acks} still not sent after {timeout:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = OutboxRun {
        daemon: Rate::new(acks as u64, start.elapsed()),
        daemon_cpu_seconds: probe::cpu_seconds(daemon.pid()).unwrap_or(0.0),
        connections: settings.concurrency,
        ..OutboxRun::default()
    };
    drop(db);
    daemon.stop();
    say(&format!(
        "outbox alone: {:.2} s ({:.0} msg/s); waiting for Postfix",
        out.daemon.seconds, out.daemon.per_second
    ));
    wire::wait_postfix_idle(&env.maillab_dir, settle_timeout(n))?;
    let plain = wire::smtp_reference(env, &mails, settings.concurrency)?;
    out.plain_client = Rate::new(acks as u64, plain);
    out.ratio = out.daemon.seconds / out.plain_client.seconds.max(1e-9);
    say(&format!(
        "plain SMTP client ({} connections): {:.2} s ({:.0} msg/s); outbox is {:.2}x; waiting for Postfix",
        settings.concurrency, out.plain_client.seconds, out.plain_client.per_second, out.ratio
    ));
    wire::wait_postfix_idle(&env.maillab_dir, settle_timeout(n))?;
    Ok(out)
}

/// Deletes this run's mailboxes (the desk's and the requesters'), so
/// repeated runs do not fill the disk. Only names carrying the run tag.
fn remove_mailboxes(env: &MailEnv, names: &Names, corpus: &Corpus) {
    let mut users: Vec<&str> = corpus.expect.acks_to.keys().map(String::as_str).collect();
    users.push(&names.desk);
    for u in users {
        if u.contains(&names.tag) {
            let _ = std::fs::remove_dir_all(env.home_of(u));
        }
    }
}
