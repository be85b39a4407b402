//! One mail through an MTA pipe (issue 16.5): N corpus mails, each handed
//! to its own `postdesk ingest` process on stdin, as Postfix's `pipe` or a
//! `.forward` would, into one desk (same config, same database, warm page
//! cache). The time of each process from spawn to exit, and the CPU time
//! the processes used. No mail servers: the desk reads a Maildir nobody
//! writes to and sends through files, and ingest only queues.
//!
//! Then the database is checked against what the corpus predicts, as after
//! a drain: every mail recorded once, on its ticket, every acknowledgement
//! queued once.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use postdesk::config::Config;
use postdesk::pipeline::Engine;
use rusqlite::{Connection, OpenFlags};

use crate::corpus::{self, Names};
use crate::support::TestDesk;

#[derive(Debug, Default, serde::Serialize)]
pub struct PipeResult {
    pub n: usize,
    pub corpus_bytes: u64,
    /// Spawn to exit of one `postdesk ingest`, in ms.
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub max_ms: f64,
    /// User + system CPU time of one process, averaged over the run.
    pub cpu_ms_per_process: f64,
    pub failures: Vec<String>,
}

pub fn run(n: usize, seed: u64) -> PipeResult {
    let mut r = PipeResult {
        n,
        ..PipeResult::default()
    };
    if let Err(e) = run_inner(n, seed, &mut r) {
        r.failures.push(e);
    }
    r
}

fn run_inner(n: usize, seed: u64, r: &mut PipeResult) -> Result<(), String> {
    let names = Names {
        desk: "helpdesk@pipe.test".into(),
        tag: "pipe".into(),
        domain: "pipe.test".into(),
        requesters: (n / 20).clamp(5, 500),
    };
    let corpus = corpus::generate(n, seed, &names, 1000);
    r.corpus_bytes = corpus.bytes;
    let desk =
        crate::desk::measured(TestDesk::builder("pipe").maildir_and_files(), &names.desk).build();
    // The database exists before the first mail, as it does for an MTA
    // pipe in use: made here, in-process, with its schema and key.
    let cfg = Config::load(&desk.config).map_err(|e| format!("the pipe desk's config: {e}"))?;
    drop(Engine::new(cfg).map_err(|e| format!("the pipe desk's database: {e}"))?);
    // Warm the page cache with the binary and the database: a read-only command.
    postdesk(&desk, &["tickets", "--limit", "1"], None)?;

    // The first call reads the clock tick rate (a child of its own).
    probe_children_cpu()?;
    let cpu_before = probe_children_cpu()?;
    let mut times = Vec::with_capacity(n);
    for (i, raw) in corpus.messages.iter().enumerate() {
        let t = Instant::now();
        postdesk(&desk, &["ingest"], Some(raw)).map_err(|e| format!("mail {}: {e}", i + 1))?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let cpu = probe_children_cpu()? - cpu_before;
    r.cpu_ms_per_process = cpu * 1000.0 / n as f64;
    r.mean_ms = times.iter().sum::<f64>() / n as f64;
    times.sort_by(f64::total_cmp);
    let rank = |p: f64| times[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
    r.p50_ms = rank(0.5);
    r.p90_ms = rank(0.9);
    r.max_ms = times[n - 1];

    let db = Connection::open_with_flags(desk.db_path(), OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("opening the pipe desk's database: {e}"))?;
    crate::drain::verify_database(&db, &corpus, true, &mut r.failures)
}

fn probe_children_cpu() -> Result<f64, String> {
    crate::probe::children_cpu_seconds().ok_or_else(|| "cannot read /proc/self/stat".into())
}

/// Runs the release binary on the desk's config, with `stdin` on its stdin;
/// an error unless it exits 0.
fn postdesk(desk: &TestDesk, args: &[&str], stdin: Option<&[u8]>) -> Result<(), String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .arg("--config")
        .arg(&desk.config)
        .args(args)
        .env("POSTDESK_LOG", "warn")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting postdesk: {e}"))?;
    if let (Some(raw), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(raw)
            .map_err(|e| format!("writing the mail to postdesk: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for postdesk: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "postdesk {args:?} exited {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}
