//! What a large desk's history costs (issue 16): N open tickets made by the
//! store's own write path in one transaction, then the SLA sweep and the
//! overdue listing against them. No mail servers: the clock and the listing
//! read only the database.
//!
//! The desk: P1-P3 policies with escalation levels on a 24/7 calendar;
//! tickets made over the last 2 hours, so the first-response ladders are
//! part-way up; 1 in 100 made 3 days ago and never answered (overdue). The
//! first sweep schedules every ticket (what a new install or a new calendar
//! costs once); the ones after it are the ordinary minute tick.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use postdesk::address::Mailbox;
use postdesk::config::Config;
use postdesk::desk::ticket::{NewTicket, Priority};
use postdesk::lang::Lang;
use postdesk::pipeline::{Engine, sweep};
use postdesk::source::now_ms;

/// The desk both database-only sections use: one team, a 24/7 calendar in
/// UTC (so the figures do not depend on the day the bench runs).
pub const DESK: &str = r#"
[desk]
address = "helpdesk@example.test"
[workflow]
agent-authentication = "none"
[[team]]
name = "service-desk"
tier = "L1"
address = "l1@corp.test"
[sla.calendar]
time-zone = "UTC"
hours = { mon = "00:00-24:00", tue = "00:00-24:00", wed = "00:00-24:00", thu = "00:00-24:00", fri = "00:00-24:00", sat = "00:00-24:00", sun = "00:00-24:00" }
"#;

const POLICIES: &str = r#"
[[sla.policy]]
priority = "P1"
first-response = "4h"
resolution = "1d"
[[sla.policy.escalate]]
target = "first-response"
at = "75%"
action = "remind"
[[sla.policy]]
priority = "P2"
first-response = "8h"
resolution = "3d"
[[sla.policy.escalate]]
target = "first-response"
at = "75%"
action = "remind"
[[sla.policy]]
priority = "P3"
first-response = "1d"
resolution = "5d"
"#;

const MINUTE: i64 = 60_000;

#[derive(Debug, Default, serde::Serialize)]
pub struct ScaleResult {
    pub open_tickets: usize,
    pub overdue_made: usize,
    /// Making the tickets, one transaction.
    pub create_ms: f64,
    /// The first sweep: schedules every ticket (and fires the levels the
    /// old ones reached).
    pub first_sweep_ms: f64,
    pub first_sweep_mails: usize,
    /// A minute tick with nothing due: median of several.
    pub idle_sweep_ms: f64,
    /// `postdesk tickets --overdue`, the process from start to exit: median.
    pub overdue_cli_ms: f64,
    pub overdue_listed: usize,
    pub failures: Vec<String>,
}

/// A desk in a temp dir for the database-only sections: [`DESK`], the
/// section's SLA policies and a database file beside the config.
pub struct BenchDesk {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub db_path: PathBuf,
    pub text: String,
}

pub fn bench_desk(policies: &str) -> BenchDesk {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config_path = dir.path().join("postdesk.toml");
    let db_path = dir.path().join("desk.db");
    let text = format!(
        "{DESK}{policies}\n[storage]\ndatabase = \"{}\"\n",
        db_path.display()
    );
    std::fs::write(&config_path, &text).expect("write the config");
    BenchDesk {
        dir,
        config_path,
        db_path,
        text,
    }
}

pub fn run(n: usize) -> ScaleResult {
    let BenchDesk {
        dir,
        config_path,
        text,
        ..
    } = bench_desk(POLICIES);
    let cfg = Config::from_toml(&text, &config_path, dir.path()).expect("the bench config");
    let engine = Engine::new(cfg).expect("an engine");
    let mut store = engine.open_store().expect("the database");
    let now = now_ms();
    let mut r = ScaleResult {
        open_tickets: n,
        ..ScaleResult::default()
    };

    let t = Instant::now();
    let tx = store.transaction().expect("a transaction");
    for i in 0..n {
        let overdue = i % 100 == 0;
        let made = if overdue {
            now - 3 * 24 * 60 * MINUTE
        } else {
            now - (i as i64 % 120) * MINUTE
        };
        r.overdue_made += usize::from(overdue);
        tx.create_ticket(&ticket(i as i64 + 1, overdue), "inbox", made, None)
            .expect("a ticket");
    }
    tx.commit().expect("commit the tickets");
    r.create_ms = ms(t.elapsed());

    let t = Instant::now();
    let tally = sweep(&mut store, &engine, now).expect("the first sweep");
    r.first_sweep_ms = ms(t.elapsed());
    r.first_sweep_mails = tally.queued;

    let mut idle = Vec::new();
    for k in 1..=5 {
        let t = Instant::now();
        let tally = sweep(&mut store, &engine, now + k).expect("a sweep");
        idle.push(ms(t.elapsed()));
        if tally.queued > 0 {
            r.failures
                .push(format!("an idle sweep queued {} mails", tally.queued));
        }
    }
    r.idle_sweep_ms = median(idle);
    drop(store);

    let mut listing = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let out = postdesk_cli(&config_path, &["tickets", "--overdue", "--limit", "100000"]);
        listing.push(ms(t.elapsed()));
        r.overdue_listed = out.lines().filter(|l| l.contains("overdue by")).count();
    }
    r.overdue_cli_ms = median(listing);
    if r.overdue_listed != r.overdue_made {
        r.failures.push(format!(
            "tickets --overdue listed {} tickets, {} were made overdue",
            r.overdue_listed, r.overdue_made
        ));
    }
    r
}

fn ticket(number: i64, overdue: bool) -> NewTicket {
    let priority = match number % 3 {
        0 => Priority::P1,
        1 => Priority::P2,
        _ => Priority::P3,
    };
    NewTicket {
        number,
        subject: format!("Ticket {number}{}", if overdue { " (old)" } else { "" }),
        requester: Mailbox::new(None, &format!("user{}@corp.test", number % 5000)),
        lang: Lang::En,
        team: Some("service-desk".into()),
        tier: Some("L1".into()),
        linked_to: None,
        category: None,
        priority: Some(priority),
        reply_by: 0,
        rule: None,
    }
}

/// Runs the release binary cargo built for this bench; its stdout.
pub fn postdesk_cli(config: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run postdesk");
    assert!(
        out.status.success(),
        "postdesk {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
