//! The open-file limit: how many files (sockets included) a daemon needs,
//! and raising the process's soft limit to its hard limit at start.
//!
//! Every IMAP mailbox holds its connection open for good (IDLE), so the
//! need grows with the mailboxes: 10,000 mailboxes need 10,000 sockets,
//! while the soft limit is often 1,024 (systemd's default for services,
//! and most shells'). The hard limit is usually far higher (524,288 under
//! systemd), and a process may raise its own soft limit up to it, so the
//! daemon does at start; `postdesk check` warns when even the hard limit
//! is below what the configured mailboxes need.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// What a daemon holds open, counted from its config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// IMAP mailboxes: one connection each, always.
    pub imap: usize,
    /// Maildir mailboxes: a folder read now and then.
    pub maildir: usize,
    /// SQLite connections: the database, its write-ahead log and its index each.
    pub database_connections: usize,
    /// SMTP connections the outbox pools may hold.
    pub smtp: usize,
}

/// Files of one SQLite connection in WAL mode: the database, `-wal`, `-shm`.
pub const FILES_PER_DATABASE_CONNECTION: u64 = 3;

/// Everything else, whatever the config: stdin/out/err, the runtime's
/// epoll and wake-up descriptors, the signal handlers, the daemon lock, the
/// ops endpoint and its scrapers, an rspamd or OAuth2 request, the CA files
/// read at a TLS handshake, SQLite's temporary files. About 20 when idle;
/// 64 leaves room.
pub const BASE_FILES: u64 = 64;

impl Usage {
    /// The most files open at once, counted generously.
    pub fn needed(&self) -> u64 {
        self.imap as u64
            + self.maildir as u64
            + self.database_connections as u64 * FILES_PER_DATABASE_CONNECTION
            + self.smtp as u64
            + BASE_FILES
    }
}

/// The process's limit on open files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub soft: u64,
    pub hard: u64,
}

/// Linux's default `fs.nr_open`, the ceiling of any open-file limit: the
/// soft limit cannot be "unlimited" even when the hard one is.
const NR_OPEN: u64 = 1 << 20;

fn read() -> Limit {
    let r = getrlimit(Resource::Nofile);
    let hard = r.maximum.unwrap_or(NR_OPEN);
    Limit {
        soft: r.current.unwrap_or(hard),
        hard,
    }
}

/// The current limit.
pub fn current() -> Limit {
    read()
}

/// Raises the soft limit to the hard one; returns the limit before and
/// after (the same when it was already there, or when the system refused).
pub fn raise() -> (Limit, Limit) {
    let before = read();
    if before.soft < before.hard {
        let want = Rlimit {
            current: Some(before.hard),
            maximum: Some(before.hard),
        };
        if setrlimit(Resource::Nofile, want).is_err() {
            // A hard limit above fs.nr_open is refused: take the ceiling.
            let _ = setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(before.hard.min(NR_OPEN)),
                    maximum: Some(before.hard),
                },
            );
        }
    }
    (before, read())
}

/// How `needed` files fit in `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fit {
    /// Within the soft limit as it is.
    Fits,
    /// Above the soft limit, within the hard one: the daemon raises it.
    FitsOnceRaised,
    /// Above the hard limit: some mailboxes will fail to connect.
    TooMany { needed: u64, hard: u64 },
}

/// Whether `needed` files fit in `limit`.
pub fn fit(needed: u64, limit: Limit) -> Fit {
    if needed <= limit.soft {
        Fit::Fits
    } else if needed <= limit.hard {
        Fit::FitsOnceRaised
    } else {
        Fit::TooMany {
            needed,
            hard: limit.hard,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_imap_mailbox_is_a_file_and_a_database_connection_three() {
        let desk = Usage {
            imap: 10_000,
            maildir: 0,
            database_connections: 8,
            smtp: 4,
        };
        assert_eq!(desk.needed(), 10_000 + 24 + 4 + BASE_FILES);
        let one_more = Usage {
            imap: 10_001,
            ..desk
        };
        assert_eq!(one_more.needed(), desk.needed() + 1);
        assert_eq!(Usage::default().needed(), BASE_FILES);
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one_and_beyond_that_is_too_many() {
        let limit = Limit {
            soft: 1024,
            hard: 524_288,
        };
        assert_eq!(fit(1024, limit), Fit::Fits);
        assert_eq!(fit(1025, limit), Fit::FitsOnceRaised);
        assert_eq!(fit(524_288, limit), Fit::FitsOnceRaised);
        assert_eq!(
            fit(524_289, limit),
            Fit::TooMany {
                needed: 524_289,
                hard: 524_288
            }
        );
    }

    #[test]
    fn raising_ends_at_the_hard_limit() {
        let (before, after) = raise();
        assert!(after.soft >= before.soft, "{before:?} -> {after:?}");
        assert_eq!(after.hard, before.hard);
        assert_eq!(after.soft, after.hard.min(NR_OPEN));
    }
}
