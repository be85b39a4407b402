//! The one way to make a helpdesk for a test or a benchmark run: a fresh
//! IMAP mailbox on the lab Dovecot, a config that reads it and sends through
//! the lab Postfix, and a database in a temporary folder. Or, with
//! [`TestDeskBuilder::maildir_and_files`], a Maildir in and mail written to
//! files out, and no mail server at all.
//!
//! Every integration test that needs a desk and the benchmark harness build
//! it here, so the base config is written down once:
//!
//! ```text
//! let desk = TestDesk::builder("spine")
//!     .set("desk.time-zone", "Asia/Shanghai")   // any key, by table
//!     .unset("mailbox.idle-recheck")            // back to the daemon's default
//!     .team_with_alice()                        // [[team]] and [[agent]]
//!     .section("[[rule]]\nname = ...")          // whole tables, as TOML text
//!     .build();
//! let mut daemon = desk.start();
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Daemon, MailEnv, smtp_send, unique_user, wait_until};

/// How long integration tests wait for mail and for the daemon.
pub const WAIT: Duration = Duration::from_secs(30);

/// A desk of its own: its config file and database in `dir`.
pub struct TestDesk {
    /// The temporary folder with the config, the database, the password file
    /// and the daemon's log (`postdesk.log`).
    pub dir: tempfile::TempDir,
    /// The helpdesk address (and, on the lab servers, the IMAP login).
    pub address: String,
    /// `dir/postdesk.toml`.
    pub config: PathBuf,
    env: Option<MailEnv>,
    team: Option<Team>,
    toml: DeskToml,
}

/// The desk's L1 team and its one agent.
struct Team {
    address: String,
    alice: String,
}

/// What the desk reads mail from and sends it through.
enum Servers {
    /// The shared lab instance (`MailEnv::load`), or another one.
    Lab(Option<MailEnv>),
    /// A Maildir and an outbox folder.
    None,
}

enum Edit {
    Set(String, toml::Value),
    Unset(String),
}

/// How a test wants its desk; [`TestDeskBuilder::build`] makes it.
pub struct TestDeskBuilder {
    tag: String,
    servers: Servers,
    address: Option<String>,
    dir_prefix: Option<String>,
    /// Applied in order to the base config at `build`, which knows the
    /// servers and the address the base depends on.
    edits: Vec<Edit>,
    /// `Some(lead)`: add the team, with Alice as its lead when `lead`.
    team: Option<bool>,
    sections: Vec<String>,
}

impl TestDesk {
    /// A desk named after `tag` (it shows in the addresses), on the shared
    /// lab servers unless the builder says otherwise.
    pub fn builder(tag: &str) -> TestDeskBuilder {
        TestDeskBuilder {
            tag: tag.to_string(),
            servers: Servers::Lab(None),
            address: None,
            dir_prefix: None,
            edits: Vec::new(),
            team: None,
            sections: Vec::new(),
        }
    }

    /// The mail servers this desk uses; panics for a desk without any.
    #[track_caller]
    pub fn env(&self) -> &MailEnv {
        self.env
            .as_ref()
            .expect("this desk has no mail servers (built with maildir_and_files)")
    }

    /// The team's list address; panics unless built with a team.
    #[track_caller]
    pub fn team(&self) -> &str {
        &self.team_or_panic().address
    }

    /// Alice's address; panics unless built with a team.
    #[track_caller]
    pub fn alice(&self) -> &str {
        &self.team_or_panic().alice
    }

    #[track_caller]
    fn team_or_panic(&self) -> &Team {
        self.team
            .as_ref()
            .expect("this desk has no team: build it with team_with_alice()")
    }

    /// Changes one setting and rewrites the config file (the next start
    /// reads it); `key` as for [`TestDeskBuilder::set`].
    pub fn set(&mut self, key: &str, value: impl Into<toml::Value>) {
        self.toml.set(key, value.into());
        self.write_config();
    }

    fn write_config(&self) {
        std::fs::write(&self.config, self.toml.render()).unwrap_or_else(|e| {
            panic!(
                "writing the test desk config {}: {e}",
                self.config.display()
            )
        });
    }

    /// A path of the config (`storage.database`, `mailbox.path`, ...), resolved
    /// as the daemon resolves it: relative to the config's folder.
    #[track_caller]
    pub fn path_of(&self, key: &str) -> PathBuf {
        let value = self
            .toml
            .get(key)
            .unwrap_or_else(|| panic!("the test desk config has no {key}"));
        let p = Path::new(
            value
                .as_str()
                .unwrap_or_else(|| panic!("{key} is not a path: {value}")),
        );
        self.dir.path().join(p)
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.path_of("storage.database")
    }

    /// Starts `postdesk run` and waits until it reads its mailbox.
    pub fn start(&self) -> Daemon {
        self.start_within(WAIT)
    }

    /// [`TestDesk::start`], waiting up to `timeout`.
    pub fn start_within(&self, timeout: Duration) -> Daemon {
        let mut d = Daemon::start(&self.config);
        let ready = match self.env {
            Some(_) => "IMAP connected",
            None => "watching Maildir",
        };
        d.wait_for_log(ready, timeout);
        d
    }

    pub fn store(&self) -> postdesk::store::Store {
        postdesk::store::Store::open(&self.db_path()).expect("open the desk database")
    }

    /// Sends `raw` over SMTP to the helpdesk.
    pub fn send(&self, from: &str, raw: &[u8]) {
        smtp_send(self.env(), from, &[&self.address], raw).expect("SMTP to the helpdesk");
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

    /// Ticket `n`'s status; panics when there is no such ticket.
    #[track_caller]
    pub fn status(&self, n: i64) -> String {
        self.find_status(n)
            .unwrap_or_else(|| panic!("no ticket {n} in the database"))
    }

    fn find_status(&self, n: i64) -> Option<String> {
        self.store()
            .ticket_detail(n)
            .unwrap()
            .map(|d| d.ticket.status)
    }

    /// Waits until ticket `n` exists and has status `want`.
    pub fn wait_status(&self, n: i64, want: &str, daemon: &Daemon) {
        let ok = wait_until(WAIT, || self.find_status(n).as_deref() == Some(want));
        assert!(
            ok,
            "ticket {n} should be {want}, is {}; log:\n{}",
            self.find_status(n)
                .unwrap_or_else(|| "not in the database".into()),
            daemon.log()
        );
    }
}

impl TestDeskBuilder {
    /// Uses these mail servers instead of the shared lab instance (the chaos
    /// tests' private pair, the benchmark's own).
    pub fn mail_env(mut self, env: MailEnv) -> Self {
        self.servers = Servers::Lab(Some(env));
        self
    }

    /// No mail servers: mail is read from the Maildir `inbox/` (polled every
    /// second) and written as files into `outbox/`, both in the desk's folder.
    pub fn maildir_and_files(mut self) -> Self {
        self.servers = Servers::None;
        self
    }

    /// The helpdesk address (default: a fresh `desk-<tag>-<hex>@` address).
    pub fn address(mut self, address: &str) -> Self {
        self.address = Some(address.to_string());
        self
    }

    /// The name prefix of the desk's temporary folder.
    pub fn dir_prefix(mut self, prefix: &str) -> Self {
        self.dir_prefix = Some(prefix.to_string());
        self
    }

    /// Sets `table.key` (`"desk.time-zone"`, `"mailbox.batch-size"`,
    /// `"workflow.sweep-interval"`): the part before the first dot names the
    /// table, `mailbox` being the desk's one `[[mailbox]]`. Replaces the base
    /// config's value, if it has one, in place.
    pub fn set(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        self.edits.push(Edit::Set(key.to_string(), value.into()));
        self
    }

    /// Removes a key of the base config, so the daemon's default applies.
    /// Panics at [`TestDeskBuilder::build`] when there is no such key.
    pub fn unset(mut self, key: &str) -> Self {
        self.edits.push(Edit::Unset(key.to_string()));
        self
    }

    /// Adds the L1 team `service-desk` (its list address is
    /// [`TestDesk::team`]) and its agent Alice Wang ([`TestDesk::alice`]).
    pub fn team_with_alice(mut self) -> Self {
        self.team = Some(false);
        self
    }

    /// [`TestDeskBuilder::team_with_alice`], with Alice as the team's lead.
    pub fn team_led_by_alice(mut self) -> Self {
        self.team = Some(true);
        self
    }

    /// Whole tables as TOML text (`[[rule]]`, `[sla.calendar]`, a second
    /// `[[mailbox]]`, ...), written after the base tables and the team and
    /// before the desk's own `[[mailbox]]`.
    pub fn section(mut self, toml: &str) -> Self {
        self.sections.push(toml.to_string());
        self
    }

    /// Makes the folder and writes the config (and the IMAP password file).
    pub fn build(self) -> TestDesk {
        let env = match self.servers {
            Servers::Lab(Some(env)) => Some(env),
            Servers::Lab(None) => Some(MailEnv::load()),
            Servers::None => None,
        };
        let fresh = |tag: String| match &env {
            Some(env) => env.unique_user(&tag),
            None => unique_user(&tag),
        };
        let address = self
            .address
            .unwrap_or_else(|| fresh(format!("desk-{}", self.tag)));
        let team = self.team.map(|lead| {
            (
                Team {
                    address: fresh(format!("team-{}", self.tag)),
                    alice: fresh(format!("alice-{}", self.tag)),
                },
                lead,
            )
        });
        let dir = match &self.dir_prefix {
            Some(prefix) => tempfile::Builder::new().prefix(prefix).tempdir(),
            None => tempfile::tempdir(),
        }
        .expect("temp dir");

        let mut toml = DeskToml::default();
        toml.set("desk.name", "IT Desk".into());
        toml.set("desk.address", address.as_str().into());
        toml.set("desk.first-ticket-number", 1000.into());
        toml.set("storage.database", "desk.db".into());
        match &env {
            Some(env) => {
                std::fs::write(dir.path().join("imap-password"), &env.password)
                    .expect("write the IMAP password file");
                toml.set("outbox.transport", "smtp".into());
                toml.set("outbox.host", "127.0.0.1".into());
                toml.set("outbox.port", i64::from(env.smtp_port).into());
                toml.set("outbox.security", "plain".into());
                toml.set("outbox.retry-initial", "1s".into());
                toml.set("outbox.retry-max", "2s".into());
                toml.set("mailbox.name", "support".into());
                toml.set("mailbox.kind", "imap".into());
                toml.set("mailbox.host", "127.0.0.1".into());
                toml.set("mailbox.port", i64::from(env.imap_port).into());
                toml.set("mailbox.security", "plain".into());
                toml.set("mailbox.username", address.as_str().into());
                toml.set("mailbox.password-file", "imap-password".into());
                toml.set("mailbox.idle-recheck", "30s".into());
            }
            None => {
                toml.set("outbox.transport", "file".into());
                toml.set("outbox.dir", "outbox".into());
                toml.set("mailbox.name", "support".into());
                toml.set("mailbox.kind", "maildir".into());
                toml.set("mailbox.path", "inbox".into());
                toml.set("mailbox.poll-interval", "1s".into());
            }
        }
        // Test folders are prepared on purpose: what a test put there before
        // the start is meant as new mail (tests/it/firstconnect.rs is about
        // the default, `new-only`).
        toml.set("mailbox.on-first-connect", "process".into());
        if team.is_some() {
            // The lab Postfix writes no Authentication-Results: Alice is who
            // her From says unless a test asks for a proof (a later `set`).
            toml.set("workflow.agent-authentication", "none".into());
        }
        for edit in self.edits {
            match edit {
                Edit::Set(key, value) => toml.set(&key, value),
                Edit::Unset(key) => toml.unset(&key),
            }
        }
        if let Some((team, lead)) = &team {
            let lead = if *lead { "lead = \"alice\"\n" } else { "" };
            toml.sections.push(format!(
                r#"[[team]]
name = "service-desk"
tier = "L1"
address = "{}"
{lead}
[[agent]]
name = "alice"
display-name = "Alice Wang"
addresses = ["{}"]
team = "service-desk"
"#,
                team.address, team.alice
            ));
        }
        toml.sections.extend(self.sections);

        let desk = TestDesk {
            config: dir.path().join("postdesk.toml"),
            dir,
            address,
            env,
            team: team.map(|(t, _)| t),
            toml,
        };
        desk.write_config();
        desk
    }
}

/// A test desk's config: simple tables of keys, in order, then whole
/// sections as text, then the desk's `[[mailbox]]`.
#[derive(Default)]
struct DeskToml {
    tables: Vec<(String, Vec<(String, toml::Value)>)>,
    sections: Vec<String>,
}

impl DeskToml {
    #[track_caller]
    fn split(key: &str) -> (&str, &str) {
        match key.split_once('.') {
            Some((table, k)) if !table.is_empty() && !k.is_empty() => (table, k),
            _ => panic!("test desk setting {key:?}: expected \"table.key\""),
        }
    }

    fn get(&self, key: &str) -> Option<&toml::Value> {
        let (table, k) = Self::split(key);
        self.tables
            .iter()
            .find(|(t, _)| t == table)
            .and_then(|(_, keys)| keys.iter().find(|(name, _)| name == k))
            .map(|(_, v)| v)
    }

    fn set(&mut self, key: &str, value: toml::Value) {
        let (table, k) = Self::split(key);
        let keys = match self.tables.iter().position(|(t, _)| t == table) {
            Some(i) => &mut self.tables[i].1,
            None => {
                self.tables.push((table.to_string(), Vec::new()));
                &mut self.tables.last_mut().expect("just pushed").1
            }
        };
        match keys.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = value,
            None => keys.push((k.to_string(), value)),
        }
    }

    #[track_caller]
    fn unset(&mut self, key: &str) {
        let (table, k) = Self::split(key);
        let removed = self
            .tables
            .iter_mut()
            .find(|(t, _)| t == table)
            .and_then(|(_, keys)| {
                let i = keys.iter().position(|(name, _)| name == k)?;
                Some(keys.remove(i))
            });
        assert!(
            removed.is_some(),
            "unset({key:?}): the test desk config has no such key"
        );
    }

    fn render(&self) -> String {
        let table = |name: &str, keys: &[(String, toml::Value)]| {
            let mut text = format!("\n{name}\n");
            for (k, v) in keys {
                text += &format!("{k} = {v}\n");
            }
            text
        };
        let mut text = String::new();
        for (name, keys) in self.tables.iter().filter(|(n, _)| n != "mailbox") {
            text += &table(&format!("[{name}]"), keys);
        }
        for section in &self.sections {
            text += "\n";
            text += section;
            text += "\n";
        }
        for (_, keys) in self.tables.iter().filter(|(n, _)| n == "mailbox") {
            text += &table("[[mailbox]]", keys);
        }
        text
    }
}

/// A header's value as text, trimmed ("" when absent).
pub fn header(raw: &[u8], name: &str) -> String {
    super::header_value(raw, name)
        .map(|v| String::from_utf8_lossy(&v).trim().to_string())
        .unwrap_or_default()
}

/// `raw` parsed by postdesk itself; panics when it cannot be.
pub fn parsed(raw: &[u8]) -> postdesk::inbound::Inbound {
    postdesk::inbound::parse(raw).expect("a mail we can parse")
}

/// A reply the way a mail client writes one: `Re:` subject, threading
/// headers, the original quoted below `text`.
pub fn reply_to(from: &str, to: &str, original: &[u8], text: &str) -> Vec<u8> {
    let o = parsed(original);
    let quoted: String = o.text.lines().map(|l| format!("> {l}\n")).collect();
    let body = format!("{text}\n\nOn Mon, 30 Nov 2026 at 10:00, someone wrote:\n{quoted}");
    let id = header(original, "Message-ID");
    super::MailBuilder::new(from, to)
        .subject(&format!("Re: {}", o.subject))
        .in_reply_to(&id)
        .references(&[id.as_str()])
        .body(body.as_bytes())
        .build()
}
