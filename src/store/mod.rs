//! SQLite: migrations, the writes of one transaction, and the reads the CLI needs.
//!
//! All SQL lives under this module. One `Store` is one connection; the daemon
//! gives each task its own (WAL lets readers run beside the writer).

mod approval;
mod backup;
mod history;
mod kb;
mod listing;
mod merge;
mod ops;
pub mod packed;
mod read;
mod report;
mod spam;
mod timelog;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::address::Mailbox;
use crate::desk::sla::Pause;
use crate::desk::sla::schedule::Schedule;
use crate::desk::ticket::Status;
use crate::desk::ticket::{Field, NewTicket, SentMail, TicketState};
use crate::inbound::Inbound;
use crate::lang::Lang;
use crate::thread::MAX_REFERENCES;

pub use approval::NewApproval;
pub use backup::{DaemonLock, restore};
pub use history::{FirstConnectRow, ImportRow};
pub use kb::{KbEntry, KbHit, KbReview, NewEntry};
pub use ops::{Announced, DeskFigures};
pub use read::{
    EventRow, MailboxPanics, MessageRow, OutboxRow, QuarantineRow, SlaDue, TicketDetail,
    TicketFilter, TicketRow,
};
pub use report::ReportSent;
pub use spam::{Lesson, PendingLesson};
pub use timelog::{TimeByAgent, TimeEntry};

/// Numbered migrations; `PRAGMA user_version` says how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001_initial.sql"),
    include_str!("migrations/002_agents.sql"),
    include_str!("migrations/003_sla.sql"),
    include_str!("migrations/004_limits.sql"),
    include_str!("migrations/005_suppressed.sql"),
    include_str!("migrations/006_kb.sql"),
    include_str!("migrations/007_reports.sql"),
    include_str!("migrations/008_install_secrets.sql"),
    include_str!("migrations/009_mailbox_panics.sql"),
    include_str!("migrations/010_fingerprints.sql"),
    include_str!("migrations/011_spam.sql"),
    include_str!("migrations/012_first_connect.sql"),
    include_str!("migrations/014_alerts.sql"),
    include_str!("migrations/015_time.sql"),
    include_str!("migrations/016_merge_approval.sql"),
    include_str!("migrations/017_sla_schedule.sql"),
    include_str!("migrations/018_packed_raw.sql"),
    include_str!("migrations/019_refusals.sql"),
];

/// Prepared statements kept per connection. rusqlite keeps 16, and one
/// mail through `process_batch` runs about 30 distinct statements (88
/// `prepare_cached` sites in the store), so the cache turned over within
/// each mail and every statement was prepared again: 23 % of
/// `process_batch`'s time (perf, bench corpus). Statements are a few KiB
/// each; 256 holds every one the store has.
const STATEMENT_CACHE: usize = 256;

/// A database failure, with what we were doing.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct StoreError {
    context: String,
    #[source]
    source: rusqlite::Error,
}

impl StoreError {
    /// A failure beside SQLite's own, in the store's work.
    fn other(message: String) -> StoreError {
        StoreError {
            context: message.clone(),
            source: rusqlite::Error::ToSqlConversionFailure(Box::new(std::io::Error::other(
                message,
            ))),
        }
    }

    /// True when retrying later may succeed (the database was busy or locked).
    pub fn is_transient(&self) -> bool {
        matches!(
            self.source.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

/// Adds context to rusqlite results.
trait Ctx<T> {
    fn ctx(self, what: &str) -> Result<T, StoreError>;
}

impl<T> Ctx<T> for rusqlite::Result<T> {
    fn ctx(self, what: &str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError {
            context: what.to_string(),
            source,
        })
    }
}

/// What the store knows of an incoming mail's Message-ID in its mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Never recorded: a new mail.
    New,
    /// This very mail was recorded (a fetch again after a crash, a second
    /// delivery): skip it.
    Duplicate,
    /// A different mail with this Message-ID was recorded (on `ticket`, if
    /// it had one): record this one as a new message all the same.
    ReusedId { ticket: Option<i64> },
}

/// A mailbox position: where a source has got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub uidvalidity: u32,
    pub last_uid: u32,
}

/// One connection to the database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// The connection itself, for tests that look at columns no reader shows.
    #[cfg(test)]
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Opens (creating if needed) the database and runs pending migrations.
    /// A new file is made readable by this user only: it holds every mail.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        create_private(path);
        let conn = Connection::open(path).ctx(&format!("opening database {}", path.display()))?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.configure()?;
        store.migrate()?;
        store.pack_old_messages()?;
        Ok(store)
    }

    /// Rewrites messages stored plain (before migration 018) compressed, in
    /// batches of 500, each its own transaction, so a crash loses at most a
    /// batch of work and no mail. Shows its progress on a terminal: a
    /// million stored mails take minutes, once.
    pub fn pack_old_messages(&mut self) -> Result<u64, StoreError> {
        use std::io::{IsTerminal, Write};
        const BATCH: i64 = 500;
        let total: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM messages WHERE raw_codec = 0",
                [],
                |r| r.get(0),
            )
            .ctx("counting plain stored mail")?;
        let total = total as u64;
        let show = total > 0 && std::io::stderr().is_terminal();
        let mut done = 0u64;
        while done < total {
            let tx = self.transaction()?;
            let rows: Vec<(i64, Vec<u8>)> = tx
                .tx
                .prepare_cached(
                    "SELECT id, raw FROM messages WHERE raw_codec = 0 ORDER BY id LIMIT ?1",
                )
                .and_then(|mut s| {
                    s.query_map([BATCH], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect()
                })
                .ctx("reading plain stored mail")?;
            if rows.is_empty() {
                break;
            }
            for (id, raw) in &rows {
                let (packed, codec) = packed::pack(raw);
                tx.tx
                    .prepare_cached(
                        "UPDATE messages SET raw = ?2, raw_codec = ?3, html = NULL WHERE id = ?1",
                    )
                    .and_then(|mut s| s.execute(params![id, packed, codec]))
                    .ctx("compressing stored mail")?;
                tx.tx
                    .prepare_cached("UPDATE attachments SET data = NULL WHERE message = ?1")
                    .and_then(|mut s| s.execute([id]))
                    .ctx("dropping decoded attachments")?;
            }
            tx.commit()?;
            done += rows.len() as u64;
            if show {
                eprint!("\rcompressing stored mail: {done} of {total}");
                let _ = std::io::stderr().flush();
            }
        }
        if show {
            eprintln!();
        }
        Ok(done)
    }

    /// Opens an existing database for reading only, for the commands that
    /// only read (`tickets`, `ticket N`): no file is made, no journal mode
    /// switched, no migration run, so they work on a full disk, a
    /// read-only mount or a file this user may only read. Fails when the
    /// schema is older than this program's (a writing command upgrades it).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        use rusqlite::OpenFlags;
        let what = format!("opening database {} to read", path.display());
        if !path.exists() {
            return Err(StoreError::other(format!(
                "{what}: there is no such file (has postdesk processed mail with this config yet?)"
            )));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let open = |uri: &str| -> Result<Store, StoreError> {
            let conn = Connection::open_with_flags(uri, flags).ctx(&what)?;
            conn.busy_timeout(std::time::Duration::from_secs(30))
                .ctx("setting busy timeout")?;
            Ok(Store {
                conn,
                path: path.to_path_buf(),
            })
        };
        let store = open(&file_uri(path, false))?;
        let version = match store.schema_version() {
            Ok(v) => v,
            // A WAL database is read through its index (`-shm`), which even a
            // reader must create and size, and cannot on a full disk or a
            // read-only folder. Then no writer can be at work either (it
            // needs that index too), and with nothing left in the WAL the
            // main file is the whole database: read it as immutable.
            Err(e) if cannot_index_wal(&e) && wal_is_empty(path) => {
                drop(store);
                let store = open(&file_uri(path, true))?;
                let v = store.schema_version()?;
                tracing::debug!(database = %path.display(), "read as immutable: {e}");
                return store.at_version(v);
            }
            Err(e) => return Err(e),
        };
        store.at_version(version)
    }

    fn schema_version(&self) -> Result<usize, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .map(|v| v as usize)
            .ctx("reading schema version")
    }

    /// This store, if its schema is the one this program reads.
    fn at_version(self, version: usize) -> Result<Store, StoreError> {
        if version < MIGRATIONS.len() {
            return Err(StoreError::other(format!(
                "database {} has schema version {version}, this postdesk reads {}: \
                 run a command that writes (`postdesk run` or `ingest`) once to upgrade it",
                self.path.display(),
                MIGRATIONS.len()
            )));
        }
        Ok(self)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This installation's Message-ID key, made (from the operating
    /// system's random source) and kept the first time it is asked for.
    pub fn id_key(&self) -> Result<crate::thread::IdKey, StoreError> {
        if let Some(k) = self.stored_id_key()? {
            return Ok(k);
        }
        let fresh = crate::thread::IdKey::generate()
            .map_err(|e| StoreError::other(format!("making the Message-ID key: {e}")))?;
        // OR IGNORE: another process may have made one meanwhile; then theirs wins.
        self.conn
            .execute(
                "INSERT OR IGNORE INTO install_secrets (name, value) VALUES ('message-id-key', ?1)",
                params![fresh.as_bytes().as_slice()],
            )
            .ctx("keeping the Message-ID key")?;
        self.stored_id_key()?
            .ok_or_else(|| StoreError::other("the Message-ID key did not keep".into()))
    }

    /// This installation's Message-ID key, if one was made: read only.
    pub fn stored_id_key(&self) -> Result<Option<crate::thread::IdKey>, StoreError> {
        let v = self
            .conn
            .query_row(
                "SELECT value FROM install_secrets WHERE name = 'message-id-key'",
                [],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()
            .ctx("reading the Message-ID key")?;
        Ok(v.and_then(|v| crate::thread::IdKey::from_slice(&v)))
    }

    fn configure(&self) -> Result<(), StoreError> {
        const PAGE_SIZE: i64 = 8192;
        let c = &self.conn;
        c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // The query planner stability guarantee: plans do not depend on the
        // values bound. Without it, a parameter the planner compared with
        // a partial index's WHERE (`messages_inbound_once`, `tickets_spam`)
        // made the statement expire at each new binding, so the cached
        // statements of every mail were compiled again inside `step`: 17 %
        // of `process_batch` (perf, bench corpus). Our partial indexes are
        // matched by literals in the SQL, which the guarantee leaves alone.
        c.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .ctx("enabling the query planner stability guarantee")?;
        c.busy_timeout(std::time::Duration::from_secs(30))
            .ctx("setting busy timeout")?;
        // 8 KiB pages for a new database (one that exists keeps its own:
        // SQLite changes it only by VACUUM outside WAL). Most mail rows are
        // 2-4 KB, and with 4 KiB pages such a row fills a page alone: 27 %
        // of the messages table's leaf pages were empty on the bench
        // corpus, 12 % with 8 KiB; the database went from 1.09x to 1.04x
        // the raw mail, `process_batch` unchanged within the noise (16 KiB
        // saved no more).
        c.pragma_update(None, "page_size", PAGE_SIZE)
            .ctx("setting the page size")?;
        let mode: String = c
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .ctx("switching to WAL")?;
        debug_assert_eq!(mode.to_lowercase(), "wal");
        // NORMAL in WAL mode: a power cut may lose the last commits, never
        // corrupt. The IMAP checkpoint is in the same commits, so lost commits
        // mean mail is fetched again, not lost.
        c.pragma_update(None, "synchronous", "NORMAL")
            .ctx("setting synchronous")?;
        c.pragma_update(None, "foreign_keys", "ON")
            .ctx("enabling foreign keys")?;
        Ok(())
    }

    /// Makes every commit of this connection durable before it returns
    /// (`synchronous=FULL`: the write-ahead log is synced at each commit).
    /// For `ingest`, whose exit 0 tells an MTA to delete its copy: under
    /// the default (NORMAL) a commit reaches the disk only at a checkpoint,
    /// and while a daemon keeps the database open an ingest process's
    /// close does not checkpoint, so a power cut after the exit could lose
    /// the mail. One fsync of the log per call (0.3-0.5 ms on the bench VM).
    pub fn durable_commits(&self) -> Result<(), StoreError> {
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .ctx("setting synchronous")
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: usize = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .ctx("reading schema version")? as usize;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            // The write lock first, then the version again under it: four
            // `postdesk check`s on a new database at once (or the daemon and
            // `check` on a fresh install) all ran migration 2, and all but
            // one failed on "duplicate column name".
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .ctx("starting migration")?;
            let now: i64 = tx
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .ctx("reading schema version")?;
            if now as usize > i {
                tx.commit().ctx("committing migration")?;
                continue;
            }
            tx.execute_batch(sql)
                .ctx(&format!("running migration {}", i + 1))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .ctx("recording schema version")?;
            tx.commit().ctx("committing migration")?;
        }
        Ok(())
    }

    /// Starts a write transaction (taken immediately, so two writers queue
    /// up instead of failing halfway).
    pub fn transaction(&mut self) -> Result<Tx<'_>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx("starting transaction")?;
        Ok(Tx { tx })
    }

    /// A ticket as decisions see it (with its SLA clock), for the CLI.
    pub fn ticket_state(&self, number: i64) -> Result<Option<TicketState>, StoreError> {
        load_ticket(&self.conn, number)
    }

    /// Numbers of tickets whose SLA clock runs (active, with a priority).
    /// Where a mailbox source has got to.
    pub fn checkpoint(&self, mailbox: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.conn
            .query_row(
                "SELECT uidvalidity, last_uid FROM source_state WHERE mailbox = ?1",
                [mailbox],
                |r| {
                    Ok(Checkpoint {
                        uidvalidity: r.get::<_, i64>(0)? as u32,
                        last_uid: r.get::<_, i64>(1)? as u32,
                    })
                },
            )
            .optional()
            .ctx("reading mailbox checkpoint")
    }

    /// Outgoing mail due now, oldest first, at most one per ticket so mail
    /// about one ticket leaves in the order it was written.
    pub fn due_outbox(&self, now_ms: i64, limit: usize) -> Result<Vec<DueMail>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(DUE_OUTBOX_SQL)
            .ctx("preparing outbox query")?;
        let rows = stmt
            .query_map(params![now_ms, limit as i64], |r| {
                let mail = DueMail {
                    id: r.get(0)?,
                    mail_from: r.get(1)?,
                    rcpt: r
                        .get::<_, String>(2)?
                        .split_whitespace()
                        .map(str::to_string)
                        .collect(),
                    raw: r.get(3)?,
                    message_id: r.get(4)?,
                    attempts: r.get(5)?,
                };
                Ok((mail, r.get::<_, i64>(6)?))
            })
            .ctx("reading due outbox mail")?;
        let rows: Vec<(DueMail, i64)> = rows
            .collect::<Result<_, _>>()
            .ctx("reading due outbox mail")?;
        rows.into_iter()
            .map(|(mut mail, codec)| {
                mail.raw = packed::unpack(std::mem::take(&mut mail.raw), codec)?;
                Ok(mail)
            })
            .collect()
    }

    /// The earliest time a queued mail becomes due, if any is queued.
    pub fn next_outbox_due(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT min(next_attempt_at) FROM outbox WHERE state = 'queued'",
                [],
                |r| r.get(0),
            )
            .ctx("reading next outbox time")
    }

    /// Records the outcome of delivery attempts, in one commit.
    pub fn record_deliveries(&mut self, outcomes: &[Delivery]) -> Result<(), StoreError> {
        let tx = self.conn.transaction().ctx("starting outbox update")?;
        for d in outcomes {
            match d {
                Delivery::Sent { id, at } => {
                    tx.execute(
                        "UPDATE outbox SET state = 'sent', sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
                        params![id, at],
                    )
                    .ctx("marking mail sent")?;
                }
                Delivery::Retry { id, error, next_at } => {
                    tx.execute(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
                        params![id, error, next_at],
                    )
                    .ctx("scheduling a retry")?;
                }
                Delivery::Failed { id, error } => {
                    tx.execute(
                        "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                        params![id, error],
                    )
                    .ctx("marking mail failed")?;
                }
                Delivery::Partly {
                    id,
                    left,
                    error,
                    next_at,
                } => {
                    // Only those still without the mail stay on the row.
                    tx.execute(
                        "UPDATE outbox SET rcpt = ?2, attempts = attempts + 1, last_error = ?3,
                                state = CASE WHEN ?4 IS NULL THEN 'failed' ELSE state END,
                                next_attempt_at = coalesce(?4, next_attempt_at)
                         WHERE id = ?1",
                        params![id, left.join(" "), error, next_at],
                    )
                    .ctx("recording a mail sent in part")?;
                }
            }
        }
        tx.commit().ctx("committing outbox update")
    }
}

/// The sender's query, called once per few dozen mails: its cost must not
/// grow with the queue. Written plainly (for each queued mail, "no older
/// queued mail of its ticket" by a scan of the whole queue, then every row
/// with its raw bytes sorted by id) one call took 28 s with 7,000
/// acknowledgements queued, and a 10,000-message backlog needed hours to
/// leave. Instead it walks the outbox in id order from the oldest queued
/// mail and stops after `limit` (the `+` keep SQLite from taking the
/// (state, next_attempt_at) index and sorting), and looks for an older
/// queued mail of the same ticket through that ticket's messages
/// (`messages_by_ticket`; an outbox row's ticket is always its message's
/// ticket): under a millisecond with 7,000 queued. Order is kept per ticket
/// and recipient, so a requester's mailbox that keeps refusing mail does not
/// hold back the notices of the same ticket to agents.
const DUE_OUTBOX_SQL: &str =
    "SELECT o.id, o.mail_from, o.rcpt, m.raw, m.message_id, o.attempts, m.raw_codec
     FROM outbox o JOIN messages m ON m.id = o.message
     WHERE o.id >= (SELECT min(id) FROM outbox WHERE state = 'queued')
       AND +o.state = 'queued' AND +o.next_attempt_at <= ?1
       AND NOT EXISTS (SELECT 1 FROM messages pm CROSS JOIN outbox p
                       WHERE pm.ticket = o.ticket AND p.message = pm.id
                         AND +p.state = 'queued' AND p.id < o.id AND p.rcpt = o.rcpt)
     ORDER BY o.id LIMIT ?2";

/// A mail ready to hand to the transport.
#[derive(Debug, Clone)]
pub struct DueMail {
    pub id: i64,
    pub mail_from: String,
    pub rcpt: Vec<String>,
    pub raw: Vec<u8>,
    pub message_id: String,
    pub attempts: i64,
}

/// What happened to one delivery attempt.
#[derive(Debug, Clone)]
pub enum Delivery {
    Sent {
        id: i64,
        at: i64,
    },
    Retry {
        id: i64,
        error: String,
        next_at: i64,
    },
    Failed {
        id: i64,
        error: String,
    },
    /// Some recipients got it; `left` did not: retried at `next_at`, or
    /// failed for good when `None`.
    Partly {
        id: i64,
        left: Vec<String>,
        error: String,
        next_at: Option<i64>,
    },
}

impl Delivery {
    /// The `outcome` label of `postdesk_outbox_sends_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Delivery::Sent { .. } => "sent",
            Delivery::Failed { .. } => "failed",
            Delivery::Retry { .. } => "retried",
            Delivery::Partly { .. } => "partly",
        }
    }
}

/// Creates the database file with mode 0600 before SQLite does, so it is never
/// readable by others, not even for a moment.
/// `path` as an SQLite URI (`?` `#` `%` escaped), immutable if asked.
fn file_uri(path: &Path, immutable: bool) -> String {
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            '%' => uri.push_str("%25"),
            c => uri.push(c),
        }
    }
    if immutable {
        uri.push_str("?immutable=1");
    }
    uri
}

/// Whether `e` is SQLite failing to make a WAL database's index.
fn cannot_index_wal(e: &StoreError) -> bool {
    matches!(
        e.source.sqlite_error_code(),
        Some(
            rusqlite::ErrorCode::SystemIoFailure
                | rusqlite::ErrorCode::CannotOpen
                | rusqlite::ErrorCode::DiskFull
                | rusqlite::ErrorCode::ReadOnly
        )
    )
}

/// True when the database's WAL file is absent or holds nothing.
fn wal_is_empty(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(&wal).map_or(true, |m| m.len() == 0)
}

fn create_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
    }
}

/// A write transaction. Dropped without [`Tx::commit`], everything is undone.
pub struct Tx<'c> {
    tx: rusqlite::Transaction<'c>,
}

/// A message to store as received.
pub struct InboundRecord<'a> {
    pub ticket: Option<i64>,
    pub mailbox: &'a str,
    pub kind: &'a str,
    pub mail: &'a Inbound,
    pub raw: &'a [u8],
    pub at: i64,
    pub note: Option<&'a str>,
}

/// An entry of a ticket's timeline.
pub struct EventRecord<'a> {
    pub ticket: i64,
    pub at: i64,
    pub actor: &'a str,
    pub kind: &'a str,
    pub old: Option<&'a str>,
    pub new: Option<&'a str>,
    pub detail: Option<&'a str>,
}

/// An escalation level that fired.
pub struct EscalationRecord<'a> {
    pub ticket: i64,
    pub target: &'a str,
    pub percent: u32,
    pub action: &'a str,
    pub due_at: i64,
    pub at: i64,
}

/// A rendered mail to store and queue.
pub struct OutboundRecord<'a> {
    /// The ticket it is about; `None` for mail about no ticket (the review).
    pub ticket: Option<i64>,
    pub kind: &'a str,
    pub message_id: &'a str,
    pub in_reply_to: Option<&'a str>,
    pub references: &'a [String],
    pub from: &'a Mailbox,
    pub to: &'a [Mailbox],
    pub subject: &'a str,
    pub text: &'a str,
    pub html: Option<&'a str>,
    pub raw: &'a [u8],
    pub envelope_from: &'a str,
    pub at: i64,
}

fn addresses(list: &[Mailbox]) -> String {
    list.iter()
        .map(|m| m.address.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Tx<'_> {
    pub fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().ctx("committing")
    }

    /// Whether this mailbox already recorded this mail: the same Message-ID
    /// *and* the same content fingerprint (`inbound::Inbound::fingerprint`).
    /// Rows stored before fingerprints were kept (an empty one) match any.
    pub fn seen_inbound(
        &self,
        mailbox: &str,
        message_id: &str,
        fingerprint: &str,
    ) -> Result<Seen, StoreError> {
        let rows: Vec<(String, Option<i64>)> = self
            .tx
            .prepare_cached(
                "SELECT fingerprint, ticket FROM messages
                 WHERE direction = 'in' AND mailbox = ?1 AND message_id = ?2 ORDER BY id",
            )
            .and_then(|mut s| {
                s.query_map(params![mailbox, message_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .ctx("checking for a duplicate")?;
        if rows.is_empty() {
            return Ok(Seen::New);
        }
        if rows.iter().any(|(f, _)| f.is_empty() || f == fingerprint) {
            return Ok(Seen::Duplicate);
        }
        Ok(Seen::ReusedId {
            ticket: rows.iter().rev().find_map(|(_, t)| *t),
        })
    }

    /// The ticket with this number, as decide needs to see it.
    pub fn ticket(&self, number: i64) -> Result<Option<TicketState>, StoreError> {
        load_ticket(&self.tx, number)
    }

    /// The ticket of the most recent stored message among `ids`.
    pub fn ticket_by_message_ids(&self, ids: &[String]) -> Result<Option<TicketState>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT ticket FROM messages WHERE message_id = ?1 AND ticket IS NOT NULL ORDER BY id DESC LIMIT 1")
            .ctx("preparing thread lookup")?;
        // Most specific first: In-Reply-To is passed first, then References newest first.
        for id in ids {
            let found: Option<i64> = stmt
                .query_row([id], |r| r.get(0))
                .optional()
                .ctx("looking up a Message-ID")?;
            if let Some(number) = found {
                return self.ticket(number);
            }
        }
        Ok(None)
    }

    /// A mail we sent, by its Message-ID: its ticket and recipients (what a
    /// delivery report about it may speak for).
    pub fn sent_mail(&self, message_id: &str) -> Result<Option<SentMail>, StoreError> {
        self.tx
            .prepare_cached(
                "SELECT ticket, to_addrs FROM messages WHERE message_id = ?1 AND direction = 'out' ORDER BY id DESC LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row([message_id], |r| {
                    let to: String = r.get(1)?;
                    Ok(SentMail {
                        ticket: r.get(0)?,
                        recipients: to.split_whitespace().map(str::to_lowercase).collect(),
                    })
                })
                .optional()
            })
            .ctx("looking up a mail we sent")
    }

    /// The next free ticket number, at least `first`.
    pub fn next_ticket_number(&self, first: i64) -> Result<i64, StoreError> {
        let max: Option<i64> = self
            .tx
            .query_row("SELECT max(number) FROM tickets", [], |r| r.get(0))
            .ctx("allocating a ticket number")?;
        Ok(max.map_or(first, |m| (m + 1).max(first)))
    }

    pub fn create_ticket(
        &self,
        t: &NewTicket,
        mailbox: &str,
        at: i64,
        reply_by: Option<i64>,
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO tickets (number, mailbox, subject, requester, requester_name, lang, status, team, tier,
                                      linked_to, created_at, updated_at, reply_by, category, priority, sla_wake_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'new', ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?10)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    t.number,
                    mailbox,
                    t.subject,
                    t.requester.address,
                    t.requester.name,
                    t.lang.code(),
                    t.team,
                    t.tier,
                    t.linked_to,
                    at,
                    reply_by,
                    t.category,
                    t.priority.map(|p| p.as_str())
                ])
            })
            .ctx("creating a ticket")?;
        Ok(())
    }

    /// Sets one field; a status change also stamps resolved_at / closed_at.
    pub fn update_field(
        &self,
        number: i64,
        field: Field,
        value: Option<&str>,
        at: i64,
    ) -> Result<(), StoreError> {
        // Field names are the column names: a closed set of static strings.
        let column = field.as_str();
        let sql = format!("UPDATE tickets SET {column} = ?2, updated_at = ?3 WHERE number = ?1");
        self.tx
            .prepare_cached(&sql)
            .and_then(|mut s| s.execute(params![number, value, at]))
            .ctx("updating a ticket")?;
        if matches!(field, Field::Status | Field::Priority | Field::Category) {
            self.mark_sla_changed(number, at)?;
        }
        if field == Field::Status {
            let stamp = match value {
                Some("resolved") => {
                    Some("UPDATE tickets SET resolved_at = ?2, closed_at = NULL WHERE number = ?1")
                }
                Some("closed") => Some("UPDATE tickets SET closed_at = ?2 WHERE number = ?1"),
                Some("open" | "pending") => {
                    Some("UPDATE tickets SET closed_at = NULL WHERE number = ?1 AND ?2 IS NOT NULL")
                }
                _ => None,
            };
            // The SLA clock stops while the ticket waits on the requester.
            let pause = match value {
                Some("pending") => Some(
                    "INSERT INTO pauses (ticket, from_at) SELECT ?1, ?2 WHERE NOT EXISTS (SELECT 1 FROM pauses WHERE ticket = ?1 AND until_at IS NULL)",
                ),
                _ => Some("UPDATE pauses SET until_at = ?2 WHERE ticket = ?1 AND until_at IS NULL"),
            };
            if let Some(sql) = pause {
                self.tx
                    .prepare_cached(sql)
                    .and_then(|mut s| s.execute(params![number, at]))
                    .ctx("recording a pause of the SLA clock")?;
            }
            if let Some(sql) = stamp {
                self.tx
                    .prepare_cached(sql)
                    .and_then(|mut s| s.execute(params![number, at]))
                    .ctx("stamping a status change")?;
            }
        }
        Ok(())
    }

    pub fn set_watcher(&self, number: i64, address: &str, add: bool) -> Result<(), StoreError> {
        let sql = if add {
            "INSERT OR IGNORE INTO watchers (ticket, address) VALUES (?1, ?2)"
        } else {
            "DELETE FROM watchers WHERE ticket = ?1 AND address = ?2"
        };
        self.tx
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params![number, address]))
            .ctx("changing watchers")?;
        Ok(())
    }

    /// Records the first response time, once.
    pub fn first_response(&self, number: i64, at: i64) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("UPDATE tickets SET first_response_at = ?2 WHERE number = ?1 AND first_response_at IS NULL")
            .and_then(|mut s| s.execute(params![number, at]))
            .ctx("recording the first response")?;
        self.mark_sla_changed(number, at)
    }

    /// Asks the next sweep to look at the ticket again: something its SLA
    /// schedule depends on changed at `at`.
    fn mark_sla_changed(&self, number: i64, at: i64) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("UPDATE tickets SET sla_wake_at = ?2 WHERE number = ?1")
            .and_then(|mut s| s.execute(params![number, at]))
            .ctx("marking a ticket for the SLA sweep")?;
        Ok(())
    }

    /// Up to `limit` tickets the SLA sweep must look at by `now`, earliest first.
    pub fn sla_wakes(&self, now: i64, limit: usize) -> Result<Vec<i64>, StoreError> {
        self.tx
            .prepare_cached(
                "SELECT number FROM tickets WHERE sla_wake_at <= ?1 ORDER BY sla_wake_at, number LIMIT ?2",
            )
            .and_then(|mut s| s.query_map(params![now, limit as i64], |r| r.get(0))?.collect())
            .ctx("finding tickets the SLA sweep must look at")
    }

    /// Writes a ticket's place in the SLA schedule.
    pub fn set_sla_schedule(&self, number: i64, s: &Schedule) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "UPDATE tickets SET sla_wake_at = ?2, sla_due_at = ?3, sla_paused = ?4 WHERE number = ?1",
            )
            .and_then(|mut st| st.execute(params![number, s.wake_ms, s.due_ms, s.paused]))
            .ctx("scheduling a ticket's SLA")?;
        Ok(())
    }

    /// Makes the schedule follow SLA rules with this `digest`: when they
    /// differ from the ones it was computed with, every ticket not done is
    /// looked at again by the next sweep. True when it had to.
    pub fn rebase_sla_schedule(&self, digest: &str, now: i64) -> Result<bool, StoreError> {
        let old: Option<String> = self
            .tx
            .query_row(
                "SELECT digest FROM sla_schedule_basis WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .ctx("reading the SLA schedule's basis")?;
        if old.as_deref() == Some(digest) {
            return Ok(false);
        }
        self.tx
            .execute(
                "UPDATE tickets SET sla_wake_at = ?1 WHERE status NOT IN ('resolved', 'closed')",
                [now],
            )
            .ctx("marking every open ticket for the SLA sweep")?;
        self.tx
            .execute(
                "INSERT INTO sla_schedule_basis (id, digest) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET digest = excluded.digest",
                [digest],
            )
            .ctx("recording the SLA schedule's basis")?;
        Ok(true)
    }

    pub fn survey_sent(&self, number: i64, at: i64) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("UPDATE tickets SET survey_sent_at = ?2 WHERE number = ?1")
            .and_then(|mut s| s.execute(params![number, at]))
            .ctx("recording the survey")?;
        Ok(())
    }

    pub fn rate(
        &self,
        number: i64,
        score: u8,
        comment: &str,
        agent: Option<&str>,
        at: i64,
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "UPDATE tickets SET rating = ?2, rating_comment = ?3, rated_agent = ?4, rated_at = ?5 WHERE number = ?1",
            )
            .and_then(|mut s| s.execute(params![number, score, comment, agent, at]))
            .ctx("recording a rating")?;
        Ok(())
    }

    /// Records that an escalation level fired; false when it had fired before.
    pub fn record_escalation(&self, e: &EscalationRecord<'_>) -> Result<bool, StoreError> {
        let n = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO escalations (ticket, target, percent, action, due_at, fired_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut s| s.execute(params![e.ticket, e.target, e.percent, e.action, e.due_at, e.at]))
            .ctx("recording an escalation")?;
        Ok(n == 1)
    }

    /// How many automatic mails went to `recipient` since `since`.
    /// Recorded and counted by mailbox (`address::mailbox_key`), so
    /// `recipient` is such a key.
    pub fn auto_replies_to(&self, recipient: &str, since: i64) -> Result<i64, StoreError> {
        self.tx
            .prepare_cached("SELECT count(*) FROM auto_replies WHERE recipient = ?1 AND at >= ?2")
            .and_then(|mut s| s.query_row(params![recipient, since], |r| r.get(0)))
            .ctx("counting automatic replies")
    }

    /// How many automatic mails to requesters a ticket produced since `since`.
    pub fn auto_replies_on(&self, ticket: i64, since: i64) -> Result<i64, StoreError> {
        self.tx
            .prepare_cached("SELECT count(*) FROM auto_replies WHERE ticket = ?1 AND at >= ?2")
            .and_then(|mut s| s.query_row(params![ticket, since], |r| r.get(0)))
            .ctx("counting automatic replies")
    }

    /// Records an automatic mail to `recipient` (a `address::mailbox_key`).
    pub fn record_auto_reply(
        &self,
        recipient: &str,
        ticket: i64,
        at: i64,
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("INSERT INTO auto_replies (recipient, ticket, at) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![recipient, ticket, at]))
            .ctx("recording an automatic reply")?;
        Ok(())
    }

    /// Ticket `number`'s latest timeline entry of one of `kinds`: (kind, at).
    pub fn last_event_of(
        &self,
        number: i64,
        kinds: &[&str],
    ) -> Result<Option<(String, i64)>, StoreError> {
        let marks = (0..kinds.len())
            .map(|i| format!("?{}", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT kind, at FROM events WHERE ticket = ?1 AND kind IN ({marks}) ORDER BY id DESC LIMIT 1"
        );
        let mut values: Vec<&dyn rusqlite::ToSql> = vec![&number];
        values.extend(kinds.iter().map(|k| k as &dyn rusqlite::ToSql));
        self.tx
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_row(values.as_slice(), |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .ctx("reading a ticket's latest entry")
    }

    /// Every mail queued about ticket `number` since `since`: when, and to
    /// whom (the flood breaker counts them).
    pub fn mail_sent_since(
        &self,
        number: i64,
        since: i64,
    ) -> Result<Vec<(i64, Vec<String>)>, StoreError> {
        self.tx
            .prepare_cached(
                "SELECT at, to_addrs FROM messages WHERE ticket = ?1 AND direction = 'out' AND at >= ?2 ORDER BY id",
            )
            .and_then(|mut s| {
                s.query_map(params![number, since], |r| {
                    let to: String = r.get(1)?;
                    Ok((
                        r.get(0)?,
                        to.split_whitespace().map(str::to_string).collect(),
                    ))
                })?
                .collect()
            })
            .ctx("reading the mail sent about a ticket")
    }

    /// Ticket `number`'s timeline since `since`, oldest first.
    pub fn events_since(&self, number: i64, since: i64) -> Result<Vec<EventRow>, StoreError> {
        self.tx
            .prepare_cached(
                "SELECT at, actor, kind, old, new, detail FROM events WHERE ticket = ?1 AND at >= ?2 ORDER BY id",
            )
            .and_then(|mut s| {
                s.query_map(params![number, since], |r| {
                    Ok(EventRow {
                        at: r.get(0)?,
                        actor: r.get(1)?,
                        kind: r.get(2)?,
                        old: r.get(3)?,
                        new: r.get(4)?,
                        detail: r.get(5)?,
                    })
                })?
                .collect()
            })
            .ctx("reading a ticket's recent timeline")
    }

    /// Another ticket of the same requester with the same subject since `since`.
    pub fn similar_recent_ticket(
        &self,
        number: i64,
        requester: &str,
        subject: &str,
        since: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.tx
            .prepare_cached(
                "SELECT number FROM tickets WHERE requester = ?1 AND created_at >= ?2 AND number != ?3
                 AND lower(subject) = lower(?4) ORDER BY number DESC LIMIT 1",
            )
            .and_then(|mut s| s.query_row(params![requester, since, number, subject], |r| r.get(0)).optional())
            .ctx("looking for a similar recent ticket")
    }

    /// Stops mail to `address` until `until` (a permanent bounce).
    pub fn suppress(&self, address: &str, until: i64, reason: &str) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO suppressed (address, until, reason) VALUES (?1, ?2, ?3)
                 ON CONFLICT(address) DO UPDATE SET until = excluded.until, reason = excluded.reason",
            )
            .and_then(|mut s| s.execute(params![address, until, reason]))
            .ctx("suppressing an address")?;
        Ok(())
    }

    /// Why `address` must not get mail now, if it must not.
    pub fn suppressed(&self, address: &str, now: i64) -> Result<Option<(i64, String)>, StoreError> {
        self.tx
            .prepare_cached(
                "SELECT until, reason FROM suppressed WHERE address = ?1 AND until > ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![address, now], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .ctx("checking suppressed addresses")
    }

    /// Resolved tickets whose confirmation time ran out by `before`.
    pub fn resolved_before(&self, before: i64, limit: usize) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT number FROM tickets WHERE status = 'resolved' AND resolved_at <= ?1 ORDER BY number LIMIT ?2",
            )
            .ctx("preparing the sweep")?;
        let rows = stmt
            .query_map(params![before, limit as i64], |r| r.get(0))
            .ctx("finding tickets to close")?;
        rows.collect::<Result<_, _>>()
            .ctx("finding tickets to close")
    }

    pub fn touch_ticket(&self, number: i64, at: i64) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("UPDATE tickets SET updated_at = ?2 WHERE number = ?1")
            .and_then(|mut s| s.execute(params![number, at]))
            .ctx("updating a ticket")?;
        Ok(())
    }

    /// Stores an inbound mail with its attachments; returns the row id.
    pub fn insert_inbound(&self, r: &InboundRecord<'_>) -> Result<i64, StoreError> {
        let m = r.mail;
        let id = self
            .tx
            .prepare_cached(
                "INSERT INTO messages (ticket, direction, mailbox, message_id, kind, in_reply_to, refs, from_addr, from_name,
                                       to_addrs, cc_addrs, subject, body, raw, raw_codec, at, note, fingerprint)
                 VALUES (?1, 'in', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            )
            .and_then(|mut s| {
                let (raw, codec) = packed::pack(r.raw);
                s.insert(params![
                    r.ticket,
                    r.mailbox,
                    m.message_id,
                    r.kind,
                    m.in_reply_to.first(),
                    m.references.join(" "),
                    m.from.as_ref().map(|f| f.address.as_str()),
                    m.from.as_ref().and_then(|f| f.name.as_deref()),
                    addresses(&m.to),
                    addresses(&m.cc),
                    m.subject,
                    m.text,
                    raw,
                    codec,
                    r.at,
                    r.note,
                    m.fingerprint,
                ])
            })
            .ctx("storing a message")?;
        // Names and sizes only: the bytes are in the raw message.
        let mut stmt = self
            .tx
            .prepare_cached("INSERT INTO attachments (message, name, content_type, size) VALUES (?1, ?2, ?3, ?4)")
            .ctx("preparing attachment insert")?;
        for a in &m.attachments {
            stmt.execute(params![id, a.name, a.content_type, a.data.len() as i64])
                .ctx("storing an attachment")?;
        }
        Ok(id)
    }

    /// Stores an outgoing mail and queues it for delivery: every mail we
    /// send, about a ticket or not, takes this one path. Returns the message row.
    pub fn queue_outbound(&self, r: &OutboundRecord<'_>) -> Result<i64, StoreError> {
        let id = self
            .tx
            .prepare_cached(
                "INSERT INTO messages (ticket, direction, mailbox, message_id, kind, in_reply_to, refs, from_addr, from_name,
                                       to_addrs, cc_addrs, subject, body, raw, raw_codec, at)
                 VALUES (?1, 'out', '', ?2, ?3, ?4, ?5, ?6, ?7, ?8, '', ?9, ?10, ?11, ?12, ?13)",
            )
            .and_then(|mut s| {
                let (raw, codec) = packed::pack(r.raw);
                s.insert(params![
                    r.ticket,
                    r.message_id,
                    r.kind,
                    r.in_reply_to,
                    r.references.join(" "),
                    r.from.address,
                    r.from.name,
                    addresses(r.to),
                    r.subject,
                    r.text,
                    raw,
                    codec,
                    r.at,
                ])
            })
            .ctx("storing an outgoing message")?;
        self.tx
            .prepare_cached(
                "INSERT INTO outbox (message, ticket, mail_from, rcpt, state, next_attempt_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?5)",
            )
            .and_then(|mut s| s.execute(params![id, r.ticket, r.envelope_from, addresses(r.to), r.at]))
            .ctx("queueing an outgoing message")?;
        Ok(id)
    }

    pub fn insert_event(&self, e: &EventRecord<'_>) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO events (ticket, at, actor, kind, old, new, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut s| s.execute(params![e.ticket, e.at, e.actor, e.kind, e.old, e.new, e.detail]))
            .ctx("recording an event")?;
        Ok(())
    }

    /// Keeps a message we could not process, with the reason.
    pub fn quarantine(
        &self,
        mailbox: &str,
        uid: Option<u32>,
        error: &str,
        raw: &[u8],
        at: i64,
    ) -> Result<i64, StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO quarantine (mailbox, uid, error, raw, at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut s| s.insert(params![mailbox, uid, error, raw, at]))
            .ctx("quarantining a message")
    }

    /// Counts one panic while processing `mailbox`'s mail, keeping its message.
    pub fn record_panic(&self, mailbox: &str, error: &str, at: i64) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO mailbox_panics (mailbox, count, last_at, last_error) VALUES (?1, 1, ?2, ?3)
                 ON CONFLICT(mailbox) DO UPDATE SET count = count + 1,
                     last_at = excluded.last_at, last_error = excluded.last_error",
            )
            .and_then(|mut s| s.execute(params![mailbox, at, error]))
            .ctx("counting a panic")?;
        Ok(())
    }

    /// Moves the mailbox checkpoint; committed with the tickets it covers.
    pub fn set_checkpoint(&self, mailbox: &str, cp: Checkpoint, at: i64) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO source_state (mailbox, uidvalidity, last_uid, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity,
                     last_uid = excluded.last_uid, updated_at = excluded.updated_at",
            )
            .and_then(|mut s| s.execute(params![mailbox, cp.uidvalidity, cp.last_uid, at]))
            .ctx("saving the mailbox checkpoint")?;
        Ok(())
    }
}

/// Message kinds that make up the requester's side of a conversation.
const REQUESTER_THREAD_KINDS: &str =
    "'request', 'reply', 'ack', 'agent-reply', 'reply', 'resolved', 'survey', 'rating'";

fn load_ticket(c: &Connection, number: i64) -> Result<Option<TicketState>, StoreError> {
    let mut t = match c
        .prepare_cached(
            "SELECT number, status, requester, requester_name, subject, lang, priority, category, team, assignee, tier,
                    first_response_at, resolved_at, closed_at, survey_sent_at, rating, created_at
             FROM tickets WHERE number = ?1",
        )
        .and_then(|mut s| {
            s.query_row([number], |r| {
                let status: String = r.get(1)?;
                let lang: String = r.get(5)?;
                let priority: Option<String> = r.get(6)?;
                Ok(TicketState {
                    number: r.get(0)?,
                    status: Some(status.parse().unwrap_or(Status::Open)),
                    requester: r.get(2)?,
                    requester_name: r.get(3)?,
                    subject: r.get(4)?,
                    lang: Lang::parse(&lang).unwrap_or_default(),
                    priority: priority.and_then(|p| p.parse().ok()),
                    category: r.get(7)?,
                    team: r.get(8)?,
                    assignee: r.get(9)?,
                    tier: r.get(10)?,
                    first_response_at: r.get(11)?,
                    resolved_at: r.get(12)?,
                    closed_at: r.get(13)?,
                    survey_sent: r.get::<_, Option<i64>>(14)?.is_some(),
                    rated: r.get::<_, Option<i64>>(15)?.is_some(),
                    created_at: r.get(16)?,
                    ..TicketState::default()
                })
            })
            .optional()
        })
        .ctx("looking up a ticket")?
    {
        Some(t) => t,
        None => return Ok(None),
    };
    t.watchers = c
        .prepare_cached("SELECT address FROM watchers WHERE ticket = ?1 ORDER BY address")
        .and_then(|mut s| s.query_map([number], |r| r.get(0))?.collect())
        .ctx("reading watchers")?;
    t.request_addresses = c
        .prepare_cached(
            "SELECT from_addr, to_addrs, cc_addrs FROM messages
             WHERE ticket = ?1 AND direction = 'in' AND kind = 'request' ORDER BY id LIMIT 1",
        )
        .and_then(|mut s| {
            s.query_row([number], |r| {
                let from: Option<String> = r.get(0)?;
                let to: String = r.get(1)?;
                let cc: String = r.get(2)?;
                Ok(from
                    .into_iter()
                    .chain(to.split_whitespace().map(str::to_string))
                    .chain(cc.split_whitespace().map(str::to_string))
                    .collect::<Vec<_>>())
            })
            .optional()
        })
        .ctx("reading who was on the request")?
        .unwrap_or_default();
    let sql = format!(
        "SELECT message_id FROM (SELECT id, message_id FROM messages WHERE ticket = ?1 AND kind IN ({REQUESTER_THREAD_KINDS})
         ORDER BY id DESC LIMIT ?2) ORDER BY id"
    );
    t.thread = c
        .prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_map(params![number, MAX_REFERENCES as i64], |r| r.get(0))?
                .collect()
        })
        .ctx("reading the conversation")?;
    t.pauses = c
        .prepare_cached("SELECT from_at, until_at FROM pauses WHERE ticket = ?1 ORDER BY from_at")
        .and_then(|mut s| {
            s.query_map([number], |r| {
                Ok(Pause {
                    from_ms: r.get(0)?,
                    until_ms: r.get(1)?,
                })
            })?
            .collect()
        })
        .ctx("reading SLA pauses")?;
    t.escalations_fired = c
        .prepare_cached("SELECT target, percent FROM escalations WHERE ticket = ?1")
        .and_then(|mut s| {
            s.query_map([number], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u32))
            })?
            .collect()
        })
        .ctx("reading fired escalations")?;
    t.requester_last_survey_at = c
        .prepare_cached("SELECT max(survey_sent_at) FROM tickets WHERE requester = ?1")
        .and_then(|mut s| s.query_row([&t.requester], |r| r.get(0)))
        .ctx("reading survey history")?;
    t.kb = kb::ticket_kb(c, number)?;
    Ok(Some(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_opening_a_new_database_at_once_migrate_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("desk.db");
        let opens: Vec<_> = (0..6)
            .map(|_| {
                let p = path.clone();
                std::thread::spawn(move || Store::open(&p).map(|_| ()).map_err(|e| e.to_string()))
            })
            .collect();
        for o in opens {
            o.join()
                .unwrap()
                .expect("every open migrates or finds it migrated");
        }
        let s = Store::open(&path).unwrap();
        let v: i64 = s
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
    }

    fn ticket(tx: &Tx<'_>, number: i64) {
        tx.create_ticket(
            &NewTicket {
                number,
                subject: format!("ticket {number}"),
                requester: Mailbox::new(None, "ann@corp.test"),
                lang: Lang::En,
                team: None,
                tier: None,
                linked_to: None,
                category: None,
                priority: None,
                reply_by: 0,
                rule: None,
            },
            "support",
            0,
            None,
        )
        .unwrap();
    }

    #[test]
    fn the_hot_statements_are_prepared_once_not_at_every_call() {
        // The statements every mail runs, as the store writes them: bound
        // again and again, each must keep its compiled plan. With SQLite's
        // default planner a parameter compared against a partial index's
        // WHERE made the statement expire at every new binding (re-prepared
        // inside step: 17 % of `process_batch`, perf on the bench corpus).
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("t.db")).unwrap();
        {
            let tx = store.transaction().unwrap();
            for n in 1..=3 {
                ticket(&tx, n);
            }
            for n in 1..=3 {
                tx.seen_inbound("support", &format!("m{n}@corp.test"), "f")
                    .unwrap();
                tx.similar_recent_ticket(n, "ann@corp.test", "ticket 1", 0)
                    .unwrap();
                tx.ticket(n).unwrap();
            }
            tx.commit().unwrap();
        }
        for sql in [
            "SELECT fingerprint, ticket FROM messages
                 WHERE direction = 'in' AND mailbox = ?1 AND message_id = ?2 ORDER BY id",
            "SELECT number FROM tickets WHERE requester = ?1 AND created_at >= ?2 AND number != ?3
                 AND lower(subject) = lower(?4) ORDER BY number DESC LIMIT 1",
        ] {
            let stmt = store.conn.prepare_cached(sql).unwrap();
            let prepared_again = stmt.get_status(rusqlite::StatementStatus::RePrepare);
            let runs = stmt.get_status(rusqlite::StatementStatus::Run);
            assert_eq!(runs, 3, "the store's own statement, from the cache: {sql}");
            assert_eq!(prepared_again, 0, "{sql}");
        }
    }

    #[test]
    fn seen_inbound_needs_the_id_and_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("t.db")).unwrap();
        let tx = store.transaction().unwrap();
        let mut mail =
            crate::inbound::parse(b"From: a@corp.test\r\nMessage-ID: <m1@corp.test>\r\n\r\nhi\r\n")
                .unwrap();
        fn record<'a>(mail: &'a Inbound, mailbox: &'a str) -> InboundRecord<'a> {
            InboundRecord {
                ticket: None,
                mailbox,
                kind: "ignored",
                mail,
                raw: b"",
                at: 1,
                note: None,
            }
        }
        let (id, print) = (mail.message_id.clone(), mail.fingerprint.clone());
        assert_eq!(tx.seen_inbound("inbox", &id, &print).unwrap(), Seen::New);
        tx.insert_inbound(&record(&mail, "inbox")).unwrap();
        assert_eq!(
            tx.seen_inbound("inbox", &id, &print).unwrap(),
            Seen::Duplicate
        );
        assert_eq!(
            tx.seen_inbound("inbox", &id, "another").unwrap(),
            Seen::ReusedId { ticket: None }
        );
        assert_eq!(tx.seen_inbound("other", &id, &print).unwrap(), Seen::New);
        // Both are kept: the unique index is on id and fingerprint.
        mail.fingerprint = "another".into();
        tx.insert_inbound(&record(&mail, "inbox")).unwrap();
        assert!(
            tx.insert_inbound(&record(&mail, "inbox")).is_err(),
            "exactly once"
        );
        // A row from before fingerprints (empty) matches any: never a second
        // ticket for mail recorded before the upgrade.
        mail.message_id = "old@corp.test".into();
        mail.fingerprint = String::new();
        tx.insert_inbound(&record(&mail, "inbox")).unwrap();
        assert_eq!(
            tx.seen_inbound("inbox", "old@corp.test", &print).unwrap(),
            Seen::Duplicate
        );
    }

    #[test]
    fn a_new_database_has_8k_pages_and_an_old_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let page_size = |store: &Store| -> i64 {
            store
                .conn
                .query_row("PRAGMA page_size", [], |r| r.get(0))
                .unwrap()
        };
        let fresh = dir.path().join("new.db");
        assert_eq!(page_size(&Store::open(&fresh).unwrap()), 8192);
        assert_eq!(page_size(&Store::open(&fresh).unwrap()), 8192);
        // As an older postdesk made it: 4 KiB pages, in WAL mode.
        let old = dir.path().join("old.db");
        {
            let c = rusqlite::Connection::open(&old).unwrap();
            c.pragma_update(None, "page_size", 4096).unwrap();
            c.pragma_update(None, "journal_mode", "WAL").unwrap();
            c.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        }
        let store = Store::open(&old).unwrap();
        assert_eq!(page_size(&store), 4096);
        assert!(
            store.ticket_raw(1).unwrap().is_empty(),
            "migrated and readable"
        );
    }

    /// Stored compressed, read back byte for byte; a row from before
    /// migration 018 (plain, with its HTML and decoded attachments) is
    /// rewritten the same way when the database is opened.
    #[test]
    fn raw_mail_is_kept_compressed_and_old_rows_are_packed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let raw = b"From: a@corp.test\r\nMessage-ID: <m1@corp.test>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe printer on floor 3 prints nothing at all.\r\n--b\r\nContent-Type: text/plain; name=log.txt\r\nContent-Disposition: attachment; filename=log.txt\r\n\r\nerror 42\r\nerror 42\r\nerror 42\r\n--b--\r\n".to_vec();
        let mut store = Store::open(&path).unwrap();
        let mail = crate::inbound::parse(&raw).unwrap();
        assert_eq!(mail.attachments.len(), 1);
        let tx = store.transaction().unwrap();
        ticket(&tx, 1);
        let record = |mail| InboundRecord {
            ticket: Some(1),
            mailbox: "inbox",
            kind: "request",
            mail,
            raw: &raw,
            at: 1,
            note: None,
        };
        let id = tx.insert_inbound(&record(&mail)).unwrap();
        tx.commit().unwrap();
        let stored = |store: &Store| -> (Vec<u8>, i64) {
            store
                .conn
                .query_row(
                    "SELECT raw, raw_codec FROM messages WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap()
        };
        let (bytes, codec) = stored(&store);
        assert_eq!(codec, packed::ZSTD);
        assert_ne!(bytes, raw);
        assert_eq!(store.ticket_raw(1).unwrap()[0].raw, raw);
        // rspamd is taught the mail, not its compressed bytes.
        let tx = store.transaction().unwrap();
        tx.queue_spam_lesson(1, true, 1).unwrap();
        tx.commit().unwrap();
        let lessons = store.pending_spam_lessons(10, 5).unwrap();
        assert_eq!(lessons[0].raw.as_deref(), Some(&raw[..]));
        // As an older postdesk left it.
        store
            .conn
            .execute(
                "UPDATE messages SET raw = ?2, raw_codec = 0, html = '<p>x</p>' WHERE id = ?1",
                params![id, raw],
            )
            .unwrap();
        store
            .conn
            .execute(
                "UPDATE attachments SET data = X'00' WHERE message = ?1",
                [id],
            )
            .unwrap();
        assert_eq!(
            store.ticket_raw(1).unwrap()[0].raw,
            raw,
            "plain rows read as they are"
        );
        let lessons = store.pending_spam_lessons(10, 5).unwrap();
        assert_eq!(lessons[0].raw.as_deref(), Some(&raw[..]));
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(stored(&store).1, packed::ZSTD);
        assert_eq!(store.ticket_raw(1).unwrap()[0].raw, raw);
        let (html, data): (Option<String>, Option<Vec<u8>>) = store
            .conn
            .query_row(
                "SELECT m.html, a.data FROM messages m JOIN attachments a ON a.message = m.id WHERE m.id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((html, data), (None, None));
    }

    fn queue(tx: &Tx<'_>, ticket: i64, n: usize) -> i64 {
        queue_to(tx, ticket, n, "ann@corp.test")
    }

    fn queue_to(tx: &Tx<'_>, ticket: i64, n: usize, rcpt: &str) -> i64 {
        let desk = Mailbox::new(Some("Desk"), "desk@example.test");
        let to = [Mailbox::new(None, rcpt)];
        tx.queue_outbound(&OutboundRecord {
            ticket: Some(ticket),
            kind: "ack",
            message_id: &format!("m{ticket}.{n}@example.test"),
            in_reply_to: None,
            references: &[],
            from: &desk,
            to: &to,
            subject: "s",
            text: "t",
            html: None,
            raw: b"raw",
            envelope_from: "desk@example.test",
            at: 0,
        })
        .unwrap()
    }

    fn journal_mode(path: &Path) -> String {
        let c =
            Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        c.query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn read_only_open_reads_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        {
            let mut s = Store::open(&path).unwrap();
            let key = s.id_key().unwrap();
            let tx = s.transaction().unwrap();
            ticket(&tx, 7);
            tx.commit().unwrap();
            assert_eq!(
                s.stored_id_key().unwrap().unwrap().as_bytes(),
                key.as_bytes()
            );
            // As a database made by hand, or copied, may be.
            s.conn
                .pragma_update(None, "journal_mode", "DELETE")
                .unwrap();
        }
        let r = Store::open_read_only(&path).unwrap();
        assert_eq!(
            r.ticket_detail(7).unwrap().unwrap().ticket.subject,
            "ticket 7"
        );
        assert!(r.stored_id_key().unwrap().is_some());
        assert_eq!(journal_mode(&path), "delete", "no journal mode switched");
        let err = r
            .conn
            .execute("DELETE FROM tickets", [])
            .expect_err("a read-only store cannot write");
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ReadOnly),
            "{err}"
        );
        drop(r);

        let missing = dir.path().join("none.db");
        let err = Store::open_read_only(&missing).err().unwrap().to_string();
        assert!(err.contains("no such file"), "{err}");
        assert!(!missing.exists(), "nothing made");

        let old = dir.path().join("old.db");
        Connection::open(&old)
            .unwrap()
            .pragma_update(None, "user_version", 3)
            .unwrap();
        let err = Store::open_read_only(&old).err().unwrap().to_string();
        assert!(err.contains("schema version 3"), "{err}");
    }

    fn due_ids(store: &Store, now: i64, limit: usize) -> Vec<String> {
        store
            .due_outbox(now, limit)
            .unwrap()
            .into_iter()
            .map(|m| m.message_id)
            .collect()
    }

    #[test]
    fn due_outbox_is_oldest_first_and_one_per_ticket() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("t.db")).unwrap();
        let tx = store.transaction().unwrap();
        ticket(&tx, 1);
        ticket(&tx, 2);
        queue(&tx, 1, 1);
        queue(&tx, 2, 1);
        queue(&tx, 1, 2);
        tx.commit().unwrap();
        assert_eq!(
            due_ids(&store, 0, 10),
            ["m1.1@example.test", "m2.1@example.test"]
        );
        assert_eq!(due_ids(&store, 0, 1), ["m1.1@example.test"]);

        // Ticket 1's first mail waits for a retry: its second must wait too.
        let first = store.due_outbox(0, 1).unwrap()[0].id;
        store
            .record_deliveries(&[Delivery::Retry {
                id: first,
                error: "busy".into(),
                next_at: 100,
            }])
            .unwrap();
        assert_eq!(due_ids(&store, 0, 10), ["m2.1@example.test"]);
        assert_eq!(
            due_ids(&store, 100, 10),
            ["m1.1@example.test", "m2.1@example.test"]
        );

        // Once it is sent, the next one of the ticket is due.
        store
            .record_deliveries(&[Delivery::Sent { id: first, at: 100 }])
            .unwrap();
        assert_eq!(
            due_ids(&store, 100, 10),
            ["m2.1@example.test", "m1.2@example.test"]
        );
    }

    #[test]
    fn a_mail_sent_in_part_keeps_only_those_left() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("t.db")).unwrap();
        let tx = store.transaction().unwrap();
        ticket(&tx, 1);
        queue_to(&tx, 1, 1, "a@corp.test b@corp.test c@corp.test");
        queue_to(&tx, 1, 2, "d@corp.test e@corp.test");
        tx.commit().unwrap();
        let [first, second] = [0, 1].map(|i| store.due_outbox(0, 10).unwrap()[i].id);
        store
            .record_deliveries(&[
                Delivery::Partly {
                    id: first,
                    left: vec!["c@corp.test".into()],
                    error: "sent to a, b; not to c: 421 closing".into(),
                    next_at: Some(100),
                },
                Delivery::Partly {
                    id: second,
                    left: vec!["e@corp.test".into()],
                    error: "sent to d; not to e: 550 no such user".into(),
                    next_at: None,
                },
            ])
            .unwrap();
        assert!(store.due_outbox(99, 10).unwrap().is_empty());
        let due = store.due_outbox(100, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(
            (due[0].id, due[0].rcpt.clone(), due[0].attempts),
            (first, vec!["c@corp.test".to_string()], 1)
        );
        let (_, _, failed) = store.outbox_counts().unwrap();
        assert_eq!(failed, 1, "the one left of the second is given up");
    }

    #[test]
    fn a_refusing_requester_does_not_hold_back_the_team() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("t.db")).unwrap();
        let tx = store.transaction().unwrap();
        ticket(&tx, 1);
        let ack = queue_to(&tx, 1, 1, "ann@corp.test");
        queue_to(&tx, 1, 2, "team@example.test");
        queue_to(&tx, 1, 3, "ann@corp.test");
        tx.commit().unwrap();
        store
            .record_deliveries(&[Delivery::Retry {
                id: ack,
                error: "452 mailbox full".into(),
                next_at: 100,
            }])
            .unwrap();
        // The team's notice goes; ann's second mail waits behind her first.
        assert_eq!(due_ids(&store, 0, 10), ["m1.2@example.test"]);
    }

    #[test]
    fn tickets_with_sla_reads_what_ticket_state_reads() {
        use crate::desk::sla::status::SlaFacts;
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("t.db")).unwrap();
        let tx = store.transaction().unwrap();
        for n in 1..=5 {
            ticket(&tx, n);
        }
        let status = |n, s, at| tx.update_field(n, Field::Status, Some(s), at).unwrap();
        // 1: new, never paused. 2: two pauses, the second still open.
        status(2, "pending", 10);
        status(2, "open", 20);
        status(2, "pending", 30);
        // 3: answered, paused once, resolved (which ends the pause).
        tx.first_response(3, 5).unwrap();
        status(3, "pending", 40);
        status(3, "resolved", 50);
        // 4: a priority and category; closed after a pause.
        tx.update_field(4, Field::Priority, Some("P2"), 1).unwrap();
        tx.update_field(4, Field::Category, Some("network"), 1)
            .unwrap();
        status(4, "pending", 60);
        status(4, "closed", 70);
        // 5: many pauses.
        for k in 0..4 {
            status(5, "pending", 100 + 10 * k);
            status(5, "open", 105 + 10 * k);
        }
        tx.commit().unwrap();

        let expected = |numbers: &[i64]| -> Vec<(i64, SlaFacts)> {
            numbers
                .iter()
                .map(|&n| {
                    let state = store.ticket_state(n).unwrap().unwrap();
                    (n, SlaFacts::from(&state))
                })
                .collect()
        };
        let listed = |f: &TicketFilter, limit| -> Vec<(i64, SlaFacts)> {
            store
                .tickets_with_sla(f, limit)
                .unwrap()
                .into_iter()
                .map(|(row, facts)| (row.number, facts))
                .collect()
        };
        let all = listed(&TicketFilter::default(), None);
        assert_eq!(all, expected(&[5, 4, 3, 2, 1]));
        assert_eq!(all[0].1.pauses.len(), 4);
        assert_eq!(all[3].1.pauses.len(), 2);
        assert_eq!(all[3].1.pauses[1].until_ms, None);
        // The limit counts tickets, not pauses.
        assert_eq!(listed(&TicketFilter::default(), Some(2)), expected(&[5, 4]));
        let active = TicketFilter {
            active_only: true,
            ..TicketFilter::default()
        };
        assert_eq!(listed(&active, None), expected(&[5, 2, 1]));
        // The rows are those of the plain listing.
        let rows: Vec<i64> = store
            .tickets_with_sla(&active, None)
            .unwrap()
            .iter()
            .map(|(t, _)| t.number)
            .collect();
        let plain: Vec<i64> = store
            .tickets(&active, 50)
            .unwrap()
            .iter()
            .map(|t| t.number)
            .collect();
        assert_eq!(rows, plain);
    }

    #[test]
    fn due_outbox_plan_does_not_scan_the_queue() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("t.db")).unwrap();
        let tx = store.transaction().unwrap();
        for t in 1..=2000 {
            ticket(&tx, t);
            queue(&tx, t, 1);
        }
        tx.commit().unwrap();
        let plan: Vec<String> = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {DUE_OUTBOX_SQL}"))
            .unwrap()
            .query_map(params![0, 32], |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let text = plan.join("\n");
        assert!(
            !text.contains("TEMP B-TREE"),
            "no sort of the queue:\n{text}"
        );
        assert!(
            text.contains("messages_by_ticket"),
            "older mail of a ticket found by index:\n{text}"
        );
        assert_eq!(store.due_outbox(0, 32).unwrap().len(), 32);
    }
}
