//! TEST-ONLY pause points, so a crash test can SIGKILL the daemon at an
//! exact moment instead of on a timer that may miss it (random kills in a
//! 300-mail backlog landed between a commit and the `\Seen` marks in few
//! runs, and a run where none did still passed).
//!
//! `POSTDESK_TEST_PAUSE_AT=<point>`, read once per process: the first time
//! the process reaches `<point>` it writes `postdesk test pause at <point>`
//! on stderr and sleeps until it is killed. The points:
//! - `after-commit`: an IMAP batch is committed (its mails, tickets, outbox
//!   rows and the mailbox position), its mails are not yet marked `\Seen`
//!   nor moved, and the outbox was not told about the new mail;
//! - `mid-batch`: inside a batch's transaction, after its first mail was
//!   written and before the next one (batches of two mails or more).
//!
//! Nobody sets the variable outside tests; unset, a point costs one
//! `OnceLock` read.

use std::sync::OnceLock;

const VAR: &str = "POSTDESK_TEST_PAUSE_AT";

/// The point named by the variable, if any.
fn wanted() -> Option<&'static str> {
    static WANTED: OnceLock<Option<String>> = OnceLock::new();
    WANTED
        .get_or_init(|| std::env::var(VAR).ok().filter(|v| !v.is_empty()))
        .as_deref()
}

/// Pauses for good if the test asked for `point`.
pub fn here(point: &str) {
    if wanted() != Some(point) {
        return;
    }
    // Straight to stderr, not through tracing: the marker must be there
    // whatever the log level and format.
    eprintln!("postdesk test pause at {point}");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
