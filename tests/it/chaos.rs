//! Faults, end to end ("never lose a mail, never loop, never stall"): the
//! daemon SIGKILLed again and again through a backlog, Postfix down while
//! mail is queued, Dovecot restarted under a running daemon, a vacation
//! autoresponder on a requester's mailbox, and two robots answering each
//! other through the desk.
//!
//! Every test here runs its own Dovecot and Postfix ([`Lab`]):
//! `scripts/mailserver-start` with a private `MAILLAB_DIR` under /tmp and
//! free loopback ports, stopped again when the test ends. Stopping and
//! restarting those servers disturbs nobody: the other test modules keep the
//! shared instance, and these tests run in parallel with them and with each
//! other. Starting a pair costs about a second. It needs root, as
//! `scripts/test` and CI have; a test fails loudly when its servers cannot
//! be started, it never skips.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(60);

// --------------------------------------------------------------------- Desk --

/// A helpdesk on a lab of its own: a [`TestDesk`] on the lab's servers,
/// sending with a 10 s timeout over up to 4 connections.
struct Desk {
    desk: TestDesk,
    // Last: the servers stop after everything else is gone.
    lab: Lab,
}

impl std::ops::Deref for Desk {
    type Target = TestDesk;
    fn deref(&self) -> &TestDesk {
        &self.desk
    }
}

impl Desk {
    /// Starts the lab, then builds the desk on it; `configure` adds to the
    /// base desk (a team, mailbox settings).
    fn new(tag: &str, configure: impl FnOnce(TestDeskBuilder) -> TestDeskBuilder) -> Desk {
        let lab = Lab::start(tag);
        let builder = TestDesk::builder(tag)
            .mail_env(lab.env.clone())
            .set("outbox.timeout", "10s")
            .set("outbox.concurrency", 4);
        Desk {
            desk: configure(builder).build(),
            lab,
        }
    }

    /// Starts the daemon, giving it this file's [`WAIT`] to log in.
    fn start(&self) -> Daemon {
        self.desk.start_within(WAIT)
    }

    fn db(&self) -> Db {
        Db::open(&self.db_path())
    }

    /// Waits until `cond` holds for the database; panics with `what` and the log.
    #[track_caller]
    fn wait_db(&self, timeout: Duration, what: &str, daemon: &Daemon, cond: impl Fn(&Db) -> bool) {
        let ok = wait_until(timeout, || cond(&self.db()));
        assert!(
            ok,
            "timed out after {timeout:?} waiting for: {what}\n{}\ndaemon log (tail):\n{}",
            self.db().summary(),
            tail(&daemon.log(), 40)
        );
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let dir = std::mem::replace(&mut self.desk.dir, tempfile::tempdir().expect("temp dir"));
            eprintln!(
                "kept the desk (config, database, postdesk.log) in {}",
                dir.keep().display()
            );
        }
    }
}

/// Read-only SQL on the desk database, for counts the CLI does not give.
struct Db(rusqlite::Connection);

impl Db {
    fn open(path: &Path) -> Db {
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .unwrap_or_else(|e| panic!("open {} read-only: {e}", path.display()));
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        Db(conn)
    }

    fn count(&self, sql: &str) -> i64 {
        self.0
            .query_row(sql, [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    fn strings(&self, sql: &str) -> Vec<String> {
        let mut stmt = self.0.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        stmt.query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    fn tickets(&self) -> i64 {
        self.count("SELECT count(*) FROM tickets")
    }

    fn inbound(&self) -> i64 {
        self.count("SELECT count(*) FROM messages WHERE direction = 'in'")
    }

    fn outbox(&self, state: &str) -> i64 {
        self.count(&format!(
            "SELECT count(*) FROM outbox WHERE state = '{state}'"
        ))
    }

    fn summary(&self) -> String {
        format!(
            "database: {} tickets, {} inbound messages, outbox {} queued / {} sent / {} failed",
            self.tickets(),
            self.inbound(),
            self.outbox("queued"),
            self.outbox("sent"),
            self.outbox("failed")
        )
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A small xorshift generator, seeded per run and printed, so a failing
/// schedule of kills can be read back from the test output.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = u64::from_str_radix(&random_hex(), 16).unwrap_or(0x9e37_79b9) | 1;
        eprintln!("kill schedule seed {seed:#x}");
        Rng(seed)
    }

    /// A number in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        lo + x % (hi - lo + 1)
    }
}

// -------------------------------------------------------------------- tests --

/// 300 distinct requests wait in the helpdesk mailbox; the daemon is
/// SIGKILLed 5 to 8 times at random moments while it works through them.
/// Afterwards every mail is exactly one ticket, and every requester has
/// exactly one acknowledgement (a resend after a kill carries the same
/// Message-ID, so the requester's client shows it once).
#[test]
fn sigkill_during_a_backlog_loses_nothing_and_doubles_nothing() {
    const N: usize = 300;
    let started = Instant::now();
    // Small batches: more commits, so more kills land between a commit and
    // the \Seen marks, or between queueing and sending.
    let desk = Desk::new("kill", |d| d.set("mailbox.batch-size", 10));
    let env = desk.env().clone();

    let mut requests: BTreeMap<String, String> = BTreeMap::new(); // requester -> Message-ID
    let mut imap = Imap::login(&env, &desk.address);
    for i in 0..N {
        let requester = env.unique_user(&format!("req{i}"));
        let mail = MailBuilder::new(&format!("Requester {i} <{requester}>"), &desk.address)
            .subject(&format!("Request {i}: cannot reach the file server"))
            .body(format!("Hello, this is request number {i}.\n").as_bytes());
        let id = mail.id().trim_matches(['<', '>']).to_string();
        imap.append("INBOX", &mail.build());
        requests.insert(requester, id);
    }
    imap.logout();
    eprintln!(
        "appended {N} requests in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut rng = Rng::new();
    let kills = rng.between(5, 8);
    let mut daemon = Daemon::start(&desk.config);
    let mut timeline = Vec::new();
    let mut mid_work = 0;
    let mut sent_at_last_kill = 0;
    for k in 1..=kills {
        // Timed from the moment this incarnation is logged in to IMAP (on a
        // busy machine the start alone can take longer than a kill
        // interval: timed from "postdesk running", all 8 kills of a run
        // beside a release build came before the first commit).
        assert_eventually(WAIT, "the daemon logged in to IMAP", || {
            daemon.log().matches("IMAP connected").count() >= k as usize
        });
        let after = rng.between(150, 400);
        std::thread::sleep(Duration::from_millis(after));
        daemon.kill9();
        let db = desk.db();
        let (tickets, sent) = (db.tickets(), db.outbox("sent"));
        if tickets > 0 && (tickets < N as i64 || sent < tickets) {
            mid_work += 1;
        }
        sent_at_last_kill = sent;
        timeline.push(format!(
            "kill {k} after {after} ms: {tickets} tickets, {sent} sent"
        ));
        daemon = Daemon::start(&desk.config);
    }
    let timeline = timeline.join("\n");
    eprintln!("{timeline}");

    desk.wait_db(
        Duration::from_secs(180),
        "every request a ticket and every acknowledgement handed to Postfix",
        &daemon,
        |db| db.tickets() == N as i64 && db.outbox("queued") == 0,
    );
    let db = desk.db();
    assert_eq!(db.tickets(), N as i64, "{timeline}");
    assert_eq!(db.inbound(), N as i64, "one inbound message per request");
    // (The unique index on (mailbox, Message-ID) makes "recorded twice
    // under one id" impossible to see here; what could still go wrong is a
    // mail attached to its ticket twice, or a ticket with no mail.)
    let not_one = db.count(
        "SELECT count(*) FROM tickets t WHERE (SELECT count(*) FROM messages m WHERE m.ticket = t.number AND m.direction = 'in') != 1",
    );
    assert_eq!(not_one, 0, "every ticket holds exactly its one request");
    let recorded: BTreeSet<String> = db
        .strings("SELECT message_id FROM messages WHERE direction = 'in'")
        .into_iter()
        .collect();
    let sent_ids: BTreeSet<String> = requests.values().cloned().collect();
    assert_eq!(
        recorded, sent_ids,
        "the recorded mail is exactly the mail sent"
    );
    let per_requester =
        db.count("SELECT count(*) FROM (SELECT requester FROM tickets GROUP BY requester HAVING count(*) = 1)");
    assert_eq!(per_requester, N as i64, "one ticket per requester");
    assert_eq!(
        (db.outbox("sent"), db.outbox("failed")),
        (N as i64, 0),
        "one acknowledgement each, all handed over"
    );
    assert!(
        mid_work >= 1,
        "no kill landed while work was left, so this run tested nothing:\n{timeline}"
    );

    // Every requester got the acknowledgement; any resend has the same Message-ID.
    let mut resent = 0;
    for (requester, request_id) in &requests {
        let acks = wait_for_messages(&env, requester, 1, WAIT);
        let ids: BTreeSet<String> = acks.iter().map(|m| header(m, "Message-ID")).collect();
        assert_eq!(
            ids.len(),
            1,
            "{requester} got {} mails with {} different Message-IDs: {ids:?}",
            acks.len(),
            ids.len()
        );
        for ack in &acks {
            assert_eq!(header(ack, "In-Reply-To"), format!("<{request_id}>"));
        }
        resent += acks.len() - 1;
    }
    // The sender records each mail as soon as the server took it, so it
    // makes progress between kills, and a kill resends only what was in
    // flight: up to `concurrency` (4) being sent and as many being recorded.
    assert!(
        sent_at_last_kill > 0,
        "no acknowledgement was recorded as sent while the daemon was being killed:\n{timeline}"
    );
    let at_risk = 2 * 4;
    assert!(
        resent as u64 <= kills * at_risk,
        "{resent} acknowledgements resent after {kills} kills: more than the {at_risk} a kill can catch\n{timeline}"
    );
    eprintln!(
        "{N} tickets, {N} acknowledgements; {resent} resent after a kill (same Message-ID); {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
    daemon.stop();
}

/// Postfix is down: requests (APPENDed, since SMTP is down) and agents'
/// answers are recorded and their mail waits in the outbox with the reason;
/// once Postfix is back everything arrives, in order per ticket.
#[test]
fn postfix_down_mail_waits_in_the_outbox_then_arrives_in_order() {
    const TICKETS: usize = 4;
    let started = Instant::now();
    let desk = Desk::new("smtp-down", |d| d.team_with_alice());
    let env = desk.env().clone();
    let mut daemon = desk.start();
    env.ctl("stop", "postfix");

    let requesters: Vec<String> = (0..TICKETS)
        .map(|i| env.unique_user(&format!("req{i}")))
        .collect();
    let mut imap = Imap::login(&env, &desk.address);
    for (i, r) in requesters.iter().enumerate() {
        let mail = MailBuilder::new(r, &desk.address)
            .subject(&format!("Laptop {i} will not boot"))
            .body(b"It shows a black screen.\n")
            .build();
        imap.append("INBOX", &mail);
    }
    desk.wait_db(WAIT, "a ticket per request", &daemon, |db| {
        db.tickets() == TICKETS as i64
    });
    // Two answers from the agent on every ticket, while SMTP is still down.
    let db = desk.db();
    for r in &requesters {
        let number = db.count(&format!(
            "SELECT number FROM tickets WHERE requester = '{}'",
            r.to_lowercase()
        ));
        for (n, word) in [(1, "first"), (2, "second")] {
            let answer = MailBuilder::new(desk.alice(), &desk.address)
                .subject(&format!("Re: [#{number}] Laptop will not boot"))
                .body(format!("This is the {word} answer (number {n}).\n").as_bytes())
                .build();
            imap.append("INBOX", &answer);
        }
    }
    imap.logout();
    desk.wait_db(WAIT, "the agents' answers recorded", &daemon, |db| {
        db.inbound() == 3 * TICKETS as i64
    });
    // Acknowledgement + two answers per requester, and the team's notices.
    // Mail about one ticket leaves in order, so only the first of each
    // ticket is tried; the others wait behind it.
    const HEADS: &str = "FROM outbox o WHERE o.state = 'queued' AND NOT EXISTS \
         (SELECT 1 FROM outbox p WHERE p.state = 'queued' AND p.ticket = o.ticket AND p.id < o.id)";
    desk.wait_db(
        WAIT,
        "the first queued mail of every ticket tried, with the reason it failed",
        &daemon,
        |db| {
            db.outbox("queued") >= 3 * TICKETS as i64
                && db.count(&format!("SELECT count(*) {HEADS}")) == TICKETS as i64
                && db.count(&format!(
                    "SELECT count(*) {HEADS} AND (o.attempts = 0 OR o.last_error IS NULL)"
                )) == 0
        },
    );
    let queued_total = desk.db().outbox("queued");
    assert_eq!(desk.db().outbox("sent"), 0, "nothing can have been sent");
    // Mail waiting behind a failing one to the same people was never tried:
    // trying it could deliver a later answer before an earlier one.
    const BEHIND: &str = "FROM outbox o WHERE o.state = 'queued' AND EXISTS \
         (SELECT 1 FROM outbox p WHERE p.state = 'queued' AND p.ticket = o.ticket \
          AND p.rcpt = o.rcpt AND p.id < o.id)";
    let db = desk.db();
    let behind = db.count(&format!("SELECT count(*) {BEHIND}"));
    assert!(
        behind >= 2 * TICKETS as i64,
        "two answers wait behind each acknowledgement, found {behind}"
    );
    assert_eq!(
        db.count(&format!("SELECT count(*) {BEHIND} AND o.attempts > 0")),
        0,
        "a mail queued behind a failing one was attempted"
    );

    // What an admin sees.
    let out = Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .args(["--config"])
        .arg(&desk.config)
        .args(["outbox", "--json"])
        .output()
        .expect("run postdesk outbox");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("postdesk outbox --json");
    assert_eq!(rows.len() as i64, queued_total);
    assert!(rows.iter().all(|r| r["state"] == "queued"), "{rows:?}");
    let reasons: Vec<&str> = rows
        .iter()
        .filter_map(|r| r["last_error"].as_str())
        .collect();
    assert!(reasons.len() >= TICKETS, "{rows:?}");
    for why in &reasons {
        assert!(
            why.to_lowercase().contains("connection refused"),
            "the reason names the refused connection: {why}"
        );
    }
    let text = Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .args(["--config"])
        .arg(&desk.config)
        .arg("outbox")
        .output()
        .expect("run postdesk outbox");
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.contains(&format!("{queued_total} waiting")) && text.contains("why: "),
        "{text}"
    );

    let down_for = started.elapsed();
    env.ctl("start", "postfix");
    desk.wait_db(
        WAIT,
        "the outbox empty once Postfix is back",
        &daemon,
        |db| db.outbox("queued") == 0,
    );
    assert_eq!(desk.db().outbox("sent"), queued_total);

    // In order per ticket, for each recipient: each mail was handed to
    // Postfix only after the one before it to the same people was accepted.
    // (Postfix then delivers over parallel LMTP connections, so two mails
    // handed over 0.1 s apart may land in the mailbox the other way round:
    // the arrival order is not ours to keep.)
    let db = desk.db();
    let mut stmt =
        db.0.prepare("SELECT ticket, rcpt, id, sent_at FROM outbox ORDER BY ticket, rcpt, id")
            .unwrap();
    let sent: Vec<(i64, String, i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .and_then(|rows| rows.collect())
        .unwrap();
    for pair in sent.windows(2) {
        let ((t1, r1, id1, at1), (t2, r2, id2, at2)) = (&pair[0], &pair[1]);
        assert!(
            t1 != t2 || r1 != r2 || at1 < at2,
            "ticket {t1} to {r1}: mail {id2} (sent at {at2}) left before mail {id1} (sent at {at1})"
        );
    }
    for r in &requesters {
        let mails = wait_for_messages(&env, r, 3, WAIT);
        assert_eq!(mails.len(), 3, "{r}: acknowledgement and two answers");
        let texts: Vec<String> = mails
            .iter()
            .map(|m| postdesk::inbound::parse(m).expect("parse").text)
            .collect();
        let acks = mails
            .iter()
            .filter(|m| header(m, "Auto-Submitted") == "auto-replied")
            .count();
        assert_eq!(acks, 1, "{texts:?}");
        for word in ["first", "second"] {
            let n = texts
                .iter()
                .filter(|t| t.contains(&format!("{word} answer")))
                .count();
            assert_eq!(n, 1, "{r}: the {word} answer once: {texts:?}");
        }
    }
    let team = wait_for_messages(&env, desk.team(), TICKETS, WAIT);
    assert!(team.len() >= TICKETS);
    eprintln!(
        "{queued_total} mails waited {:.1} s for Postfix and all arrived; {:.1} s in all",
        down_for.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    daemon.stop();
}

/// Dovecot goes away under a running daemon, twice: stopped for a few
/// seconds while mail arrives (Postfix holds it), then restarted in the
/// middle of a backlog. The daemon reconnects by itself and every mail
/// becomes a ticket, once.
#[test]
fn dovecot_restart_mid_run_misses_nothing() {
    let started = Instant::now();
    let desk = Desk::new("imap-restart", |d| d.set("mailbox.batch-size", 5));
    let env = desk.env().clone();
    let mut daemon = desk.start();
    let mut expected = 0i64;
    let send = |tag: &str| {
        let from = env.unique_user(tag);
        let mail = build_mail(&from, &desk.address, &format!("Help from {tag}"), "x\n");
        desk.send(&from, &mail);
        from
    };
    send("before");
    expected += 1;
    desk.wait_db(WAIT, "the first ticket", &daemon, |db| db.tickets() == 1);

    // 1. Down for a while; Postfix accepts mail meanwhile and keeps it.
    env.ctl("stop", "dovecot");
    for i in 0..3 {
        send(&format!("while-down{i}"));
        expected += 1;
    }
    // Dovecot's imap process lingers up to ~10 s after its master stopped.
    let noticed = wait_until(Duration::from_secs(30), || {
        daemon.log().contains("IMAP session ended")
    });
    assert!(
        noticed,
        "the daemon noticed the server was gone: {}",
        tail(&daemon.log(), 20)
    );
    // Stay down a little longer: the daemon retries with backoff meanwhile.
    std::thread::sleep(Duration::from_secs(4));
    let failures = daemon.log().matches("IMAP session ended").count();
    assert!(
        failures >= 2,
        "reconnect attempts while Dovecot was down: {}",
        tail(&daemon.log(), 20)
    );
    env.ctl("start", "dovecot");
    let mut imap = Imap::login(&env, &desk.address);
    for i in 0..2 {
        let from = env.unique_user(&format!("after{i}"));
        imap.append(
            "INBOX",
            &build_mail(&from, &desk.address, "Appended after", "y\n"),
        );
        expected += 1;
    }
    env.wait_postfix_delivered(Duration::from_secs(40));
    desk.wait_db(
        Duration::from_secs(90),
        "mail from while Dovecot was down and after it came back",
        &daemon,
        |db| db.tickets() == expected,
    );
    let back_after = started.elapsed();

    // 2. A restart while the daemon works through a backlog: wait until it
    // has started on the backlog, restart, and check it had not finished.
    // The backlog is put in place while the daemon is stopped, so it is a
    // backlog when it starts, not mail taken as it arrives.
    let before_backlog = expected;
    const BACKLOG: i64 = 100;
    daemon.stop();
    for i in 0..BACKLOG {
        let from = env.unique_user(&format!("backlog{i}"));
        imap.append("INBOX", &build_mail(&from, &desk.address, "Backlog", "z\n"));
        expected += 1;
    }
    imap.logout();
    let mut daemon = desk.start();
    desk.wait_db(
        Duration::from_secs(60),
        "the daemon started on the backlog",
        &daemon,
        |db| db.tickets() > before_backlog,
    );
    // Dovecot's old imap processes would go on serving for up to ~10 s after
    // a restart, long enough to finish the backlog: the desk's sessions are
    // cut first (as a server that does not linger would), then it restarts.
    let sessions = dovecot_session_pids(&env, &desk.address);
    assert!(
        !sessions.is_empty(),
        "the daemon has an IMAP session to cut"
    );
    let cut_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // SIGTERM, as a restart sends: a session killed with SIGKILL while it
    // held the folder's dovecot-uidlist.lock left that lock behind, and
    // Dovecot then made every other session wait for it to go stale
    // (seen in CI: an APPEND 119.3 s in locks).
    for pid in &sessions {
        let _ = Command::new("kill").args(["-TERM", pid]).status();
    }
    let gone = wait_until(Duration::from_secs(10), || {
        sessions
            .iter()
            .all(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
    });
    assert!(
        gone,
        "Dovecot's imap processes {sessions:?} outlived SIGTERM by 10 s"
    );
    env.ctl("restart", "dovecot");
    // Wait until the daemon was really cut off and came back.
    desk.wait_db(
        Duration::from_secs(60),
        "a reconnect after the restart",
        &daemon,
        |_| daemon.log().matches("IMAP connected").count() >= 2,
    );
    let mut imap = Imap::login(&env, &desk.address);
    for i in 0..3 {
        let from = env.unique_user(&format!("after-restart{i}"));
        imap.append(
            "INBOX",
            &build_mail(&from, &desk.address, "After restart", "w\n"),
        );
        expected += 1;
    }
    imap.logout();
    desk.wait_db(
        Duration::from_secs(90),
        "every mail a ticket after the restart",
        &daemon,
        |db| db.tickets() == expected && db.outbox("queued") == 0,
    );
    std::thread::sleep(Duration::from_secs(1));
    let db = desk.db();
    // The cut really came mid-backlog: some of it was done before, some after.
    let backlog_before_cut = db.count(&format!(
        "SELECT count(*) FROM tickets WHERE subject = 'Backlog' AND created_at <= {cut_at}"
    ));
    assert!(
        backlog_before_cut > 0 && backlog_before_cut < BACKLOG,
        "{backlog_before_cut} of {BACKLOG} backlog tickets were made before the cut: it tested nothing"
    );
    assert_eq!(db.tickets(), expected);
    assert_eq!(db.inbound(), expected, "nothing recorded twice");
    assert_eq!(db.outbox("sent"), expected, "one acknowledgement each");
    let connects = daemon.log().matches("IMAP connected").count();
    assert!(
        connects >= 2,
        "reconnected after the restart ({connects} connects since the backlog)"
    );
    eprintln!(
        "{expected} tickets; first outage over after {:.1} s; cut at {backlog_before_cut} of {BACKLOG} backlog tickets; {connects} connects, {:.1} s in all",
        back_after.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    daemon.stop();
}

/// A requester has a vacation autoresponder that answers every message
/// (`:seconds 0`), and then one that ignores the rules.
///
/// Sieve's vacation keeps RFC 3834: it does not answer the acknowledgement
/// (`Auto-Submitted`) nor the agent's answer (`X-Auto-Response-Suppress`),
/// which its log must show. A rude autoresponder, played by the test, then
/// answers every mail the requester has, again and again; the desk records
/// those answers on the ticket and sends nothing back, so nothing loops.
#[test]
fn vacation_autoresponder_and_desk_do_not_loop() {
    let started = Instant::now();
    let desk = Desk::new("vacation", |d| d.team_with_alice());
    let env = desk.env().clone();
    let requester = env.unique_user("vera");
    env.set_vacation(
        &requester,
        "Out of office",
        "I am away until Monday and will answer then.",
    );
    let mut daemon = desk.start();

    let request = MailBuilder::new(&format!("Vera <{requester}>"), &desk.address)
        .subject("Monitor flickers")
        .body(b"The monitor on my desk flickers all the time.\n")
        .build();
    desk.send(&requester, &request);
    let acks = wait_for_messages(&env, &requester, 1, WAIT);
    assert_eq!(header(&acks[0], "Subject"), "[#1000] Monitor flickers");
    let answer = MailBuilder::new(desk.alice(), &desk.address)
        .subject("Re: [#1000] Monitor flickers")
        .body(b"Please try another cable; I left one on your desk.\n")
        .build();
    desk.send(desk.alice(), &answer);
    wait_for_messages(&env, &requester, 2, WAIT);
    let sieve_ran = wait_until(WAIT, || {
        env.dovecot_log_about(&requester, 50)
            .matches("vacation action: discarding vacation response")
            .count()
            >= 2
    });
    assert!(
        sieve_ran,
        "the vacation script saw both mails and kept quiet:\n{}",
        env.dovecot_log_about(&requester, 10)
    );

    // The rude autoresponder: every mail in the requester's INBOX gets an
    // automatic answer, every second, for a while.
    let outbox_before = desk.db().count("SELECT count(*) FROM outbox");
    let mut rude_replies = 0;
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        let mut imap = Imap::login(&env, &requester);
        imap.select("INBOX");
        for (_, mail) in imap.fetch_all_raw() {
            let reply = MailBuilder::new(&format!("Vera <{requester}>"), &desk.address)
                .subject(&format!("Automatic reply: {}", header(&mail, "Subject")))
                .in_reply_to(&header(&mail, "Message-ID"))
                .header("Auto-Submitted", "auto-replied")
                .body(b"I am away until Monday and will answer then.\n")
                .build();
            desk.send(&requester, &reply);
            rude_replies += 1;
        }
        imap.logout();
        std::thread::sleep(Duration::from_secs(1));
    }
    desk.wait_db(WAIT, "every automatic reply recorded", &daemon, |db| {
        db.count("SELECT count(*) FROM messages WHERE direction = 'in' AND kind = 'automatic'")
            == rude_replies
    });
    std::thread::sleep(Duration::from_secs(3));

    let mut imap = Imap::login(&env, &requester);
    imap.select("INBOX");
    let got: Vec<Vec<u8>> = imap.fetch_all_raw().into_iter().map(|(_, m)| m).collect();
    let subjects: Vec<String> = got.iter().map(|m| header(m, "Subject")).collect();
    let acks = got
        .iter()
        .filter(|m| header(m, "Auto-Submitted") == "auto-replied")
        .count();
    assert_eq!(acks, 1, "exactly one acknowledgement: {subjects:?}");
    assert_eq!(
        got.len(),
        2,
        "the acknowledgement and the agent's answer, nothing after: {subjects:?}"
    );
    let mut imap = Imap::login(&env, &desk.address);
    imap.select("INBOX");
    let vacation = imap
        .fetch_all_raw()
        .into_iter()
        .filter(|(_, m)| header(m, "Subject") == "Out of office")
        .count();
    assert!(
        vacation <= 1,
        "{vacation} vacation replies reached the desk"
    );
    let db = desk.db();
    assert_eq!(
        db.count("SELECT count(*) FROM outbox"),
        outbox_before,
        "the desk sent nothing in answer to {rude_replies} automatic replies"
    );
    assert_eq!(db.tickets(), 1, "automatic replies open no ticket");
    assert_eq!(db.strings("SELECT status FROM tickets"), ["open"]);
    eprintln!(
        "1 acknowledgement, {vacation} vacation replies, {rude_replies} rude automatic replies \
         answered with nothing; {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
    daemon.stop();
}

/// The pids of `user`'s IMAP sessions on the lab Dovecot (`doveadm who -1`).
fn dovecot_session_pids(env: &MailEnv, user: &str) -> Vec<String> {
    let conf = env.maillab_dir.join("dovecot/dovecot.conf");
    let out = Command::new("doveadm")
        .arg("-c")
        .arg(&conf)
        .args(["who", "-1"])
        .output()
        .expect("doveadm who");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(user))
        .filter_map(|l| l.split_whitespace().nth(2).map(String::from))
        .collect()
}

/// A robot that answers every new mail in some mailboxes, from one
/// address, without `Auto-Submitted` or any other automatic-mail sign:
/// what a cheap out-of-office or a ticket robot does.
struct Robot {
    /// The mailboxes it reads, with the highest UID it answered in each.
    inboxes: Vec<(Imap, u32)>,
    from: String,
    words: &'static str,
    answered: usize,
}

impl Robot {
    fn new(env: &MailEnv, reads: &[&str], from: &str, words: &'static str) -> Robot {
        let inboxes = reads
            .iter()
            .map(|user| {
                let mut imap = Imap::login(env, user);
                imap.select("INBOX");
                (imap, 0)
            })
            .collect();
        Robot {
            inboxes,
            from: from.to_string(),
            words,
            answered: 0,
        }
    }

    /// Answers what arrived since the last call; returns how many.
    fn answer_new(&mut self, desk: &Desk) -> usize {
        let mut n = 0;
        for (imap, last) in &mut self.inboxes {
            imap.select("INBOX");
            let uids: Vec<u32> = imap
                .uid_search(&format!("UID {}:*", *last + 1))
                .into_iter()
                .filter(|u| u > last)
                .collect();
            for uid in uids {
                let mail = imap.fetch_raw(uid);
                *last = uid;
                let reply = MailBuilder::new(&self.from, &desk.address)
                    .subject(&format!("Re: {}", header(&mail, "Subject")))
                    .in_reply_to(&header(&mail, "Message-ID"))
                    .body(self.words.as_bytes())
                    .build();
                desk.send(&self.from, &reply);
                n += 1;
            }
        }
        self.answered += n;
        n
    }
}

/// The ping-pong of issue 17: a requester's robot and an agent's cheap
/// out-of-office, both answering every mail without `Auto-Submitted`. The
/// desk relays each of the agent's "answers" to the requester and tells the
/// team of each of the requester's; nothing in them looks automatic, so the
/// per-recipient limits never apply. The flood breaker stops it: after
/// twenty mails to one mailbox about the ticket within ten minutes (the
/// defaults) the ticket is flagged, nothing more is sent about it, and the
/// team is told once.
#[test]
fn two_robots_answering_each_other_through_the_desk_are_stopped() {
    // Without the breaker this ran on for as long as it was let (470 mails
    // from the desk in 150 s): the cap is what a failure looks like.
    const CAP: Duration = Duration::from_secs(150);
    const QUIET: Duration = Duration::from_secs(15);
    let started = Instant::now();
    let desk = Desk::new("pingpong", |d| d.team_with_alice());
    let env = desk.env().clone();
    let requester = env.unique_user("robot");
    let mut daemon = desk.start();
    let mut robot = Robot::new(
        &env,
        &[requester.as_str()],
        &requester,
        "Thank you for your message. It has been received and will be processed.\n",
    );
    // Alice reads the team's list and her own mail; her out-of-office answers both.
    let mut away = Robot::new(
        &env,
        &[desk.team(), desk.alice()],
        desk.alice(),
        "I am out of the office this week with limited access to e-mail.\n",
    );
    let request = MailBuilder::new(&format!("Order robot <{requester}>"), &desk.address)
        .subject("Order 4711 failed")
        .body(b"Order 4711 could not be processed.\n")
        .build();
    desk.send(&requester, &request);

    let mut last_answer = Instant::now();
    while last_answer.elapsed() < QUIET && started.elapsed() < CAP {
        if robot.answer_new(&desk) + away.answer_new(&desk) > 0 {
            last_answer = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let took = started.elapsed();
    // Quiet for a reason, not for slowness: nothing waits in the desk's
    // outbox or in Postfix, and the robots have nothing new to answer.
    desk.wait_db(WAIT, "the outbox empty", &daemon, |db| {
        db.outbox("queued") == 0
    });
    env.wait_postfix_idle(WAIT);
    let late = robot.answer_new(&desk) + away.answer_new(&desk);
    let exchanged = robot.answered + away.answered;
    let db = desk.db();
    let sent_about = |kind: &str| {
        db.count(&format!(
            "SELECT count(*) FROM messages WHERE ticket = 1000 AND direction = 'out'{kind}"
        ))
    };
    let from_desk = sent_about("");
    assert!(
        last_answer.elapsed() >= QUIET && late == 0,
        "still ping-ponging after {:.0} s: {exchanged} robot answers, {from_desk} mails from the desk\n{}",
        took.as_secs_f64(),
        tail(&daemon.log(), 20)
    );
    // Twenty mails to the requester's mailbox (acknowledgement and relays),
    // up to twenty to the team's, and the one notice of the pause.
    assert!(
        from_desk <= 20 + 20 + 1,
        "{from_desk} mails from the desk about the ticket"
    );
    assert_eq!(
        sent_about(" AND kind = 'flood'"),
        1,
        "the team is told once"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM events WHERE ticket = 1000 AND kind = 'flood-paused'"),
        1
    );
    // Every robot's mail is still recorded on the ticket.
    desk.wait_db(WAIT, "every robot answer recorded", &daemon, |db| {
        db.inbound() == exchanged as i64 + 1
    });
    assert_eq!(desk.db().tickets(), 1);
    let notices: Vec<Vec<u8>> = wait_for_messages(&env, desk.team(), 1, WAIT)
        .into_iter()
        .filter(|m| {
            String::from_utf8_lossy(m)
                .contains("The desk stopped sending mail about ticket [#1000]")
        })
        .collect();
    assert_eq!(
        notices.len(),
        1,
        "one notice of the pause in the team's mailbox"
    );
    let shown = Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .arg("--config")
        .arg(&desk.config)
        .args(["ticket", "1000"])
        .output()
        .expect("run postdesk ticket 1000");
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("paused     no mail is sent about it since"),
        "{shown}"
    );
    eprintln!(
        "ping-pong stopped: {from_desk} mails from the desk about the ticket, {exchanged} robot answers \
         ({} from the requester's robot, {} from the out-of-office), quiet after {:.1} s",
        robot.answered,
        away.answered,
        (took - QUIET).as_secs_f64()
    );
    daemon.stop();
}

/// Postfix takes at most three recipients per transaction
/// (`smtpd_recipient_limit = 3`; it answers the fourth RCPT with `452 4.5.3
/// Error: too many recipients`). An agent's answer to a requester and six
/// people in Cc goes in three transactions, to 3, 3 and 1 of them, in one
/// attempt; before, the outbox tried the whole mail again and again and
/// nobody got it.
#[test]
fn an_answer_to_more_recipients_than_the_server_takes_goes_in_several_transactions() {
    let desk = Desk::new("rcpt-limit", |d| d.team_with_alice());
    desk.lab.postconf(&["smtpd_recipient_limit=3"]);
    let env = desk.env().clone();
    let requester = env.unique_user("ann");
    let cc: Vec<String> = (0..6).map(|i| env.unique_user(&format!("cc{i}"))).collect();
    let mut daemon = desk.start();
    let request = MailBuilder::new(&requester, &desk.address)
        .header("Cc", &cc.join(", "))
        .subject("Shared drive is read-only")
        .body(b"None of us can save to the shared drive.\n")
        .build();
    desk.send(&requester, &request);
    desk.wait_db(WAIT, "the ticket with six watchers", &daemon, |db| {
        db.count("SELECT count(*) FROM watchers WHERE ticket = 1000") == 6
    });
    let answer = MailBuilder::new(desk.alice(), &desk.address)
        .subject("Re: [#1000] Shared drive is read-only")
        .body(b"The drive is writable again; please try now.\n")
        .build();
    desk.send(desk.alice(), &answer);
    desk.wait_db(WAIT, "the answer handed to Postfix", &daemon, |db| {
        db.count("SELECT count(*) FROM outbox o JOIN messages m ON m.id = o.message WHERE m.kind = 'reply' AND o.state = 'sent'") == 1
    });
    for who in std::iter::once(&requester).chain(&cc) {
        // The requester has the acknowledgement too.
        let n = if *who == requester { 2 } else { 1 };
        let got = wait_for_messages(&env, who, n, WAIT);
        let answers = got
            .iter()
            .filter(|m| String::from_utf8_lossy(m).contains("The drive is writable again"))
            .count();
        assert_eq!(answers, 1, "{who} got the answer once");
    }
    let db = desk.db();
    let (attempts, rcpt, error): (i64, String, Option<String>) = db
        .0
        .query_row(
            "SELECT o.attempts, o.rcpt, o.last_error FROM outbox o JOIN messages m ON m.id = o.message WHERE m.kind = 'reply'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (attempts, error),
        (1, None),
        "one attempt, nothing failed (to {rcpt})"
    );
    assert_eq!(rcpt.split_whitespace().count(), 7);
    let message_id: String =
        db.0.query_row(
            "SELECT message_id FROM messages WHERE kind = 'reply'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // Postfix logs each transaction it queued with the mail's Message-ID.
    let queued = env.postfix_log_about(&format!("message-id=<{message_id}>"), 100);
    assert_eq!(
        queued.lines().filter(|l| l.contains("cleanup")).count(),
        3,
        "three transactions (3 + 3 + 1 recipients):\n{queued}"
    );
    daemon.stop();
}

// ------------------------------------------------------ kills at a moment --

/// A daemon on `desk` that stops for good at the test-only pause `point`
/// (`POSTDESK_TEST_PAUSE_AT`, see `src/test_pause.rs`), once it got there.
fn start_paused_at(desk: &Desk, point: &str) -> Daemon {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_postdesk"));
    cmd.arg("run")
        .arg("--config")
        .arg(&desk.config)
        .env("NO_COLOR", "1")
        .env("POSTDESK_TEST_PAUSE_AT", point);
    let mut daemon = Daemon::spawn(cmd, desk.dir.path().join("postdesk.log"));
    daemon.wait_for_log(&format!("postdesk test pause at {point}"), WAIT);
    daemon
}

/// `n` distinct requests APPENDed to the desk's INBOX; requester -> Message-ID.
fn append_requests(desk: &Desk, n: usize) -> BTreeMap<String, String> {
    let env = desk.env();
    let mut requests = BTreeMap::new();
    let mut imap = Imap::login(env, &desk.address);
    for i in 0..n {
        let requester = env.unique_user(&format!("req{i}"));
        let mail = MailBuilder::new(&format!("Requester {i} <{requester}>"), &desk.address)
            .subject(&format!("Request {i}: the printer on floor 2 jams"))
            .body(format!("Hello, this is request number {i}.\n").as_bytes());
        requests.insert(requester, mail.id().trim_matches(['<', '>']).to_string());
        imap.append("INBOX", &mail.build());
    }
    imap.logout();
    requests
}

/// After the restart: every request exactly one ticket, one acknowledgement
/// queued for each (a mail processed twice would queue a second, with a
/// Message-ID of its own), and each requester's mailbox holds
/// acknowledgements with one Message-ID only.
///
/// `in_flight` is how many copies more may arrive: a mail the sender had
/// handed to Postfix when a kill came, and had not yet recorded, is sent
/// again (with its Message-ID); at most the outbox's 4 connections.
fn assert_each_request_once(
    desk: &Desk,
    requests: &BTreeMap<String, String>,
    daemon: &Daemon,
    in_flight: usize,
) {
    let n = requests.len() as i64;
    desk.wait_db(
        WAIT,
        "every request a ticket and every acknowledgement handed to Postfix",
        daemon,
        |db| db.tickets() == n && db.outbox("queued") == 0,
    );
    let db = desk.db();
    assert_eq!((db.tickets(), db.inbound()), (n, n), "{}", db.summary());
    let recorded: BTreeSet<String> = db
        .strings("SELECT message_id FROM messages WHERE direction = 'in'")
        .into_iter()
        .collect();
    let appended: BTreeSet<String> = requests.values().cloned().collect();
    assert_eq!(
        recorded, appended,
        "the recorded mail is exactly the mail appended"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM outbox"),
        n,
        "one acknowledgement queued per request, never a second"
    );
    let env = desk.env();
    env.wait_postfix_idle(WAIT);
    let mut copies = 0;
    for (requester, request_id) in requests {
        let acks = wait_for_messages(env, requester, 1, WAIT);
        let ids: BTreeSet<String> = acks.iter().map(|m| header(m, "Message-ID")).collect();
        assert_eq!(
            ids.len(),
            1,
            "{requester} got different acknowledgements: {ids:?}"
        );
        for ack in &acks {
            assert_eq!(header(ack, "In-Reply-To"), format!("<{request_id}>"));
        }
        copies += acks.len();
    }
    assert!(
        copies <= requests.len() + in_flight,
        "{copies} acknowledgements arrived for {n} requests"
    );
    eprintln!("{n} tickets, {copies} acknowledgements arrived ({n} distinct)");
}

/// Twelve requests in batches of five; the daemon is SIGKILLed right after
/// the first batch's commit (tickets, acknowledgements and the mailbox
/// position written), before its mails are marked `\Seen` or moved.
/// The restarted daemon fetches none of them again (the position says
/// so), marks them as it should have, and processes the rest once.
fn kill_between_commit_and_marking(tag: &str, after: &str) {
    const N: usize = 12;
    let desk = Desk::new(tag, |d| {
        let d = d.set("mailbox.batch-size", 5).set("mailbox.after", after);
        if after == "move" {
            d.set("mailbox.move-to", "Processed")
        } else {
            d
        }
    });
    let requests = append_requests(&desk, N);
    let mut daemon = start_paused_at(&desk, "after-commit");
    daemon.kill9();

    // The kill came where it was meant to: one batch recorded with its
    // position, nothing of it marked on the server yet.
    let db = desk.db();
    let mut imap = Imap::login(desk.env(), &desk.address);
    imap.select("INBOX");
    let uids = imap.uid_search_all();
    assert_eq!(uids.len(), N, "nothing moved yet");
    assert_eq!(db.tickets(), 5, "{}", db.summary());
    assert_eq!(
        db.count("SELECT last_uid FROM source_state"),
        i64::from(uids[4]),
        "the position is the first batch's last mail"
    );
    assert!(
        imap.uid_search("SEEN").is_empty(),
        "nothing marked \\Seen yet"
    );
    imap.logout();

    let mut daemon = desk.start();
    assert_each_request_once(&desk, &requests, &daemon, 4);
    let mut imap = Imap::login(desk.env(), &desk.address);
    let marked = wait_until(WAIT, || match after {
        "move" => imap.message_count("INBOX") == 0 && imap.message_count("Processed") == N as u32,
        _ => {
            imap.select("INBOX");
            imap.uid_search("UNSEEN").is_empty()
        }
    });
    assert!(
        marked,
        "after the restart every mail is marked ({after}), the first batch too:\n{}",
        tail(&daemon.log(), 30)
    );
    imap.logout();
    daemon.stop();
}

#[test]
fn sigkill_between_the_commit_and_the_seen_flag_loses_and_doubles_nothing() {
    kill_between_commit_and_marking("kill-seen", "seen");
}

/// The order commit → move matters most here: a mail moved before its
/// commit would be gone from the folder the restarted daemon reads.
#[test]
fn sigkill_between_the_commit_and_the_move_loses_and_doubles_nothing() {
    kill_between_commit_and_marking("kill-move", "move");
}

/// Killed inside a batch's transaction, after its first mail was written:
/// nothing of the batch is in the database, nothing is marked, and the
/// restarted daemon processes every mail once.
#[test]
fn sigkill_in_the_middle_of_a_batch_loses_and_doubles_nothing() {
    const N: usize = 12;
    let desk = Desk::new("kill-mid", |d| d.set("mailbox.batch-size", 5));
    let requests = append_requests(&desk, N);
    let mut daemon = start_paused_at(&desk, "mid-batch");
    daemon.kill9();

    let db = desk.db();
    assert_eq!(
        (
            db.tickets(),
            db.inbound(),
            // The first connection records its position (UID 0 under the
            // default `process` policy) before the first batch; the batch
            // itself must not have moved it.
            db.count("SELECT coalesce(max(last_uid), 0) FROM source_state")
        ),
        (0, 0, 0),
        "the half-done batch left nothing: {}",
        db.summary()
    );
    assert_eq!(db.count("SELECT count(*) FROM outbox"), 0);
    let mut imap = Imap::login(desk.env(), &desk.address);
    imap.select("INBOX");
    assert!(imap.uid_search("SEEN").is_empty(), "nothing marked \\Seen");
    imap.logout();

    let mut daemon = desk.start();
    // Nothing had been committed, so nothing could have been sent.
    assert_each_request_once(&desk, &requests, &daemon, 0);
    daemon.stop();
}

/// A batch whose commit fails (here a trigger the test puts on the
/// mailbox-position table, as a full disk or a broken database would)
/// leaves nothing behind: neither its mails, tickets and acknowledgements
/// nor the mailbox position, and its mails stay unread on the server. The
/// daemon tries again; once the database takes writes again every mail is
/// processed once.
#[test]
fn a_failed_batch_rolls_back_its_mail_and_the_mailbox_position() {
    let desk = Desk::new("rollback", |d| d.set("mailbox.batch-size", 5));
    let mut daemon = desk.start();
    let mut requests = append_requests(&desk, 2);
    desk.wait_db(WAIT, "the first two requests recorded", &daemon, |db| {
        db.tickets() == 2 && db.outbox("queued") == 0
    });
    let position = desk.db().count("SELECT last_uid FROM source_state");
    let rw = rusqlite::Connection::open(desk.db_path()).unwrap();
    rw.busy_timeout(Duration::from_secs(10)).unwrap();
    rw.execute_batch(
        "CREATE TRIGGER test_refuse_position_update BEFORE UPDATE ON source_state
             BEGIN SELECT RAISE(ABORT, 'refused by the rollback test'); END;
         CREATE TRIGGER test_refuse_position_insert BEFORE INSERT ON source_state
             BEGIN SELECT RAISE(ABORT, 'refused by the rollback test'); END;",
    )
    .unwrap();

    let later = append_requests(&desk, 3);
    assert_eventually(WAIT, "two failed commits of the new batch", || {
        daemon.log().matches("refused by the rollback test").count() >= 2
    });
    let db = desk.db();
    assert_eq!(
        (
            db.tickets(),
            db.inbound(),
            db.count("SELECT count(*) FROM outbox")
        ),
        (2, 2, 2),
        "the failed batch left no mail, ticket or acknowledgement: {}",
        db.summary()
    );
    assert_eq!(
        db.count("SELECT last_uid FROM source_state"),
        position,
        "the mailbox position did not move"
    );
    let mut imap = Imap::login(desk.env(), &desk.address);
    imap.select("INBOX");
    assert_eq!(
        imap.uid_search("UNSEEN").len(),
        3,
        "the batch's mails are still unread"
    );
    imap.logout();

    rw.execute_batch(
        "DROP TRIGGER test_refuse_position_update; DROP TRIGGER test_refuse_position_insert;",
    )
    .unwrap();
    drop(rw);
    requests.extend(later);
    // No kill: nothing was in flight, so no copy may arrive twice.
    assert_each_request_once(&desk, &requests, &daemon, 0);
    let mut imap = Imap::login(desk.env(), &desk.address);
    imap.select("INBOX");
    assert!(
        imap.uid_search("UNSEEN").is_empty(),
        "all five marked \\Seen"
    );
    imap.logout();
    daemon.stop();
}

/// A requester's mailbox that keeps refusing mail (Postfix answers `450
/// 4.2.1` to her address, as a full or busy mailbox does) holds back only
/// her own mail: the team's notice of her request and the assignee's
/// notice of her follow-up arrive while her acknowledgement waits and is
/// retried; once her mailbox takes mail again she gets hers, in order.
#[test]
fn a_refusing_requester_does_not_hold_back_the_agents_notices() {
    let desk = Desk::new("refuser", |d| d.team_with_alice());
    let env = desk.env().clone();
    let ann = env.unique_user("ann");
    let refuse = env.maillab_dir.join("postfix/etc/refuse");
    std::fs::write(
        &refuse,
        format!("{ann} 450 4.2.1 Mailbox busy, try later\n"),
    )
    .unwrap();
    desk.lab.postconf(&[&format!(
        "smtpd_recipient_restrictions=check_recipient_access texthash:{}",
        refuse.display()
    )]);
    let mut daemon = desk.start();

    desk.send(
        &ann,
        &build_mail(&ann, &desk.address, "Docking station dead", "No power.\n"),
    );
    let notice = wait_for_messages(&env, desk.team(), 1, WAIT).remove(0);
    // Alice takes it; Ann writes again (to the ticket, by its tag); Alice,
    // the assignee now, hears of it.
    let take = reply_to(desk.alice(), &desk.address, &notice, "#take\nWhich model?");
    desk.send(desk.alice(), &take);
    desk.wait_status(1000, "open", &daemon);
    let more = build_mail(
        &ann,
        &desk.address,
        "Re: [#1000] Docking station dead",
        "It is the USB-C model.\n",
    );
    desk.send(&ann, &more);
    let to_alice = wait_for_messages(&env, desk.alice(), 1, WAIT);
    assert!(
        parsed(&to_alice[0]).text.contains("USB-C model"),
        "{}",
        parsed(&to_alice[0]).text
    );

    // Meanwhile everything to Ann waits: her acknowledgement was tried and
    // refused, Alice's answer waits behind it (in order, per recipient).
    desk.wait_db(WAIT, "Ann's acknowledgement refused and retried", &daemon, |db| {
        db.count(&format!(
            "SELECT count(*) FROM outbox WHERE rcpt = '{ann}' AND state = 'queued' AND attempts > 0 AND last_error LIKE '%450%'"
        )) == 1
    });
    let db = desk.db();
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM outbox WHERE rcpt = '{ann}' AND state = 'queued'"
        )),
        2,
        "the acknowledgement and Alice's answer wait: {}",
        db.summary()
    );
    assert_eq!(Imap::login(&env, &ann).message_count("INBOX"), 0);

    desk.lab.postconf(&["smtpd_recipient_restrictions="]);
    let got = wait_for_messages(&env, &ann, 2, Duration::from_secs(90));
    let texts: Vec<String> = got.iter().map(|m| parsed(m).text).collect();
    assert_eq!(got.len(), 2, "{texts:?}");
    assert!(
        got.iter()
            .any(|m| header(m, "Auto-Submitted") == "auto-replied")
            && texts.iter().any(|t| t.contains("Which model?")),
        "the acknowledgement and Alice's answer: {texts:?}"
    );
    // Handed to Postfix in order: the answer only after the acknowledgement
    // (the arrival order in the mailbox is Postfix's, not ours).
    let order = desk.db().strings(&format!(
        "SELECT m.kind FROM outbox o JOIN messages m ON m.id = o.message WHERE o.rcpt = '{ann}' ORDER BY o.sent_at, o.id"
    ));
    assert_eq!(order.first().map(String::as_str), Some("ack"), "{order:?}");
    daemon.stop();
}
