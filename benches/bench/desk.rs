//! A helpdesk of its own for one measurement: a fresh IMAP mailbox, a fresh
//! database in a temp dir, a config pointing at the lab servers, and the
//! release `postdesk run` as a child process.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::support::{Daemon, MailEnv};

/// Settings of the daemon under test that the report names.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeskSettings {
    pub batch_size: usize,
    pub concurrency: usize,
    /// `after` of the mailbox: `seen` (the default) or `keep`.
    pub after: String,
}

pub struct Desk {
    pub address: String,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub db: PathBuf,
    starts: u32,
}

impl Desk {
    pub fn new(env: &MailEnv, address: &str, s: &DeskSettings) -> Desk {
        let dir = tempfile::Builder::new()
            .prefix("postdesk-bench-")
            .tempdir()
            .expect("temp dir");
        std::fs::write(dir.path().join("imap-password"), &env.password).expect("password file");
        let config = dir.path().join("postdesk.toml");
        let text = format!(
            r#"[desk]
name = "IT Desk"
address = "{address}"
time-zone = "Asia/Shanghai"
first-ticket-number = 1000
first-response = "4h"

[storage]
database = "desk.db"

# A backlog is thousands of requests from a few hundred requesters within
# minutes: the loop guards would rightly hold acknowledgements back, and
# the run measures throughput, not them.
[limits]
per-recipient = 1000000
per-ticket = 1000000
duplicate-ack-window = "0s"

[[mailbox]]
name = "support"
kind = "imap"
host = "127.0.0.1"
port = {imap}
security = "plain"
username = "{address}"
password-file = "imap-password"
batch-size = {batch}
after = "{after}"

[outbox]
transport = "smtp"
host = "127.0.0.1"
port = {smtp}
security = "plain"
concurrency = {conc}
retry-initial = "1s"
retry-max = "2s"
"#,
            imap = env.imap_port,
            smtp = env.smtp_port,
            batch = s.batch_size,
            after = s.after,
            conc = s.concurrency,
        );
        std::fs::write(&config, text).expect("config file");
        let db = dir.path().join("desk.db");
        Desk {
            address: address.to_string(),
            dir,
            config,
            db,
            starts: 0,
        }
    }

    /// Starts `postdesk run` (the release binary cargo built for this bench);
    /// each start logs to its own file.
    pub fn start(&mut self) -> Daemon {
        self.starts += 1;
        let log = self
            .dir
            .path()
            .join(format!("postdesk-{}.log", self.starts));
        Daemon::start_with_log(&self.config, log)
    }

    /// A read-only connection, once the daemon has created the schema.
    pub fn reader(&self) -> Option<Connection> {
        if !self.db.exists() {
            return None;
        }
        let c = Connection::open_with_flags(
            &self.db,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        c.busy_timeout(Duration::from_secs(5)).ok()?;
        c.query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0))
            .ok()?;
        Some(c)
    }

    /// Waits for [`Desk::reader`].
    pub fn wait_reader(&self, timeout: Duration) -> Result<Connection, String> {
        let start = Instant::now();
        loop {
            if let Some(c) = self.reader() {
                return Ok(c);
            }
            if start.elapsed() > timeout {
                return Err(format!(
                    "the daemon did not create {} within {timeout:?}",
                    self.db.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Database file plus write-ahead log, in bytes.
    pub fn db_bytes(&self) -> (u64, u64) {
        let size = |p: PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
        (
            size(self.db.clone()),
            size(self.dir.path().join("desk.db-wal")),
        )
    }
}

/// Lines of a daemon log at WARN or ERROR level (the first few, and how many).
pub fn log_problems(log: &str) -> (usize, Vec<String>) {
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    (
        bad.len(),
        bad.iter().take(5).map(|l| l.to_string()).collect(),
    )
}
