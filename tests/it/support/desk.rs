//! A helpdesk of its own for one integration test: a fresh IMAP mailbox on
//! the lab Dovecot, a config that reads it and sends through the lab
//! Postfix, and a database in a temporary folder.

use std::path::PathBuf;
use std::time::Duration;

use super::{Daemon, MailEnv, smtp_send, wait_until};

/// How long integration tests wait for mail and for the daemon.
pub const WAIT: Duration = Duration::from_secs(30);

pub struct TestDesk {
    pub env: MailEnv,
    pub dir: tempfile::TempDir,
    /// The helpdesk address (and IMAP login).
    pub address: String,
    pub config: PathBuf,
}

impl TestDesk {
    /// `desk_keys` go into `[desk]`; `sections` (whole TOML tables) follow the
    /// base config; `mailbox_keys` go into the `[[mailbox]]` table.
    pub fn new(tag: &str, desk_keys: &str, sections: &str, mailbox_keys: &str) -> TestDesk {
        let env = MailEnv::load();
        let dir = tempfile::tempdir().expect("temp dir");
        let address = env.unique_user(&format!("desk-{tag}"));
        std::fs::write(dir.path().join("imap-password"), &env.password).unwrap();
        let config = dir.path().join("postdesk.toml");
        let text = format!(
            r#"
[desk]
name = "IT Desk"
address = "{address}"
first-ticket-number = 1000
{desk_keys}

[storage]
database = "desk.db"

[outbox]
transport = "smtp"
host = "127.0.0.1"
port = {smtp}
security = "plain"
retry-initial = "1s"
retry-max = "2s"

{sections}

[[mailbox]]
name = "support"
kind = "imap"
host = "127.0.0.1"
port = {imap}
security = "plain"
username = "{address}"
password-file = "imap-password"
idle-recheck = "30s"
{mailbox_keys}
"#,
            imap = env.imap_port,
            smtp = env.smtp_port,
        );
        std::fs::write(&config, text).unwrap();
        TestDesk {
            env,
            dir,
            address,
            config,
        }
    }

    /// Starts `postdesk run` and waits until it is logged in.
    pub fn start(&self) -> Daemon {
        let mut d = Daemon::start(&self.config);
        d.wait_for_log("IMAP connected", WAIT);
        d
    }

    pub fn store(&self) -> postdesk::store::Store {
        postdesk::store::Store::open(&self.dir.path().join("desk.db"))
            .expect("open the desk database")
    }

    /// Sends `raw` over SMTP to the helpdesk.
    pub fn send(&self, from: &str, raw: &[u8]) {
        smtp_send(&self.env, from, &[&self.address], raw).expect("SMTP to the helpdesk");
    }

    /// Waits until the database holds `n` inbound messages.
    pub fn wait_inbound(&self, n: i64, daemon: &Daemon) {
        let ok = wait_until(WAIT, || self.store().inbound_count().unwrap_or(0) >= n);
        assert!(
            ok,
            "expected {n} inbound messages recorded; log:\n{}",
            daemon.log()
        );
    }

    pub fn status(&self, n: i64) -> String {
        self.store()
            .ticket_detail(n)
            .unwrap()
            .expect("ticket")
            .ticket
            .status
    }

    /// Waits until ticket `n` has status `want`.
    pub fn wait_status(&self, n: i64, want: &str, daemon: &Daemon) {
        let ok = wait_until(WAIT, || self.status(n) == want);
        assert!(
            ok,
            "ticket {n} should be {want}, is {}; log:\n{}",
            self.status(n),
            daemon.log()
        );
    }
}

/// A header's value as text, trimmed ("" when absent).
pub fn header(raw: &[u8], name: &str) -> String {
    super::header_value(raw, name)
        .map(|v| String::from_utf8_lossy(&v).trim().to_string())
        .unwrap_or_default()
}
