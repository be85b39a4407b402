//! A helpdesk of its own for one measurement: a [`TestDesk`] (the builder
//! the integration tests use: a fresh IMAP mailbox, a fresh database in a
//! temp dir, a config pointing at the bench's servers) with the settings
//! under measurement, and the release `postdesk run` as a child process.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::support::{Daemon, MailEnv, TestDesk, TestDeskBuilder};

/// Settings of the daemon under test that the report names.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeskSettings {
    pub batch_size: usize,
    pub concurrency: usize,
    /// `after` of the mailbox: `seen` (the default) or `keep`.
    pub after: String,
}

/// A [`TestDesk`] on the bench's own servers, with the settings under
/// measurement, started once or more (each start logs to its own file).
pub struct Desk {
    desk: TestDesk,
    starts: u32,
    /// The ops endpoint's port, when the config has `[http] listen`.
    pub http_port: Option<u16>,
}

impl std::ops::Deref for Desk {
    type Target = TestDesk;
    fn deref(&self) -> &TestDesk {
        &self.desk
    }
}

impl Desk {
    pub fn new(env: &MailEnv, address: &str, s: &DeskSettings) -> Desk {
        Desk::with(env, address, s, |b| b)
    }

    /// [`Desk::new`], with `more` changing the builder last (more settings,
    /// more mailboxes).
    pub fn with(
        env: &MailEnv,
        address: &str,
        s: &DeskSettings,
        more: impl FnOnce(TestDeskBuilder) -> TestDeskBuilder,
    ) -> Desk {
        let count = |n: usize| i64::try_from(n).expect("a setting that fits in i64");
        let desk = measured(TestDesk::builder("bench").mail_env(env.clone()), address)
            // Measured as shipped: the daemon's own IDLE re-check.
            .unset("mailbox.idle-recheck")
            .set("mailbox.batch-size", count(s.batch_size))
            .set("mailbox.after", s.after.as_str())
            .set("outbox.concurrency", count(s.concurrency));
        let desk = more(desk).build();
        Desk {
            desk,
            starts: 0,
            http_port: None,
        }
    }

    /// Starts `postdesk run` (the release binary cargo built for this bench);
    /// each start logs to its own file.
    pub fn start(&mut self) -> Daemon {
        self.starts += 1;
        let log = self
            .desk
            .dir
            .path()
            .join(format!("postdesk-{}.log", self.starts));
        Daemon::start_with_log(&self.desk.config, log)
    }

    /// A read-only connection, once the daemon has created the schema.
    pub fn reader(&self) -> Option<Connection> {
        let db = self.db_path();
        if !db.exists() {
            return None;
        }
        let c = Connection::open_with_flags(
            &db,
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
                    self.db_path().display()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Database file plus write-ahead log, in bytes.
    pub fn db_bytes(&self) -> (u64, u64) {
        let size = |p: PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
        let db = self.db_path();
        let mut wal = db.clone().into_os_string();
        wal.push("-wal");
        (size(db), size(PathBuf::from(wal)))
    }
}

/// The desk settings every measurement shares, on `b`'s servers.
pub fn measured(b: TestDeskBuilder, address: &str) -> TestDeskBuilder {
    b.address(address)
        .dir_prefix("postdesk-bench-")
        .set("desk.time-zone", "Asia/Shanghai")
        .set("desk.first-response", "4h")
        // A backlog is thousands of requests from a few hundred requesters
        // within minutes: the loop guards would rightly hold
        // acknowledgements back, and the run measures throughput, not them.
        .set("limits.per-recipient", 1_000_000)
        .set("limits.per-ticket", 1_000_000)
        .set("limits.duplicate-ack-window", "0s")
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
