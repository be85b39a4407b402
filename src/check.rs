//! `postdesk check`: is this desk ready to run? Each setting and each
//! outside party is tried the way the daemon will use it, and every
//! attempt becomes a [`Finding`]: ok, a warning, or a failure that would
//! stop or break the daemon.
//!
//! In order: the config itself, the templates (each renders with sample
//! values), the classification rules (and any that can never match), the
//! SLA policies, the knowledge base and the review schedule (what they will
//! do), the open-file limit against what the mailboxes need, the database
//! (opened and migrated), every mailbox (a Maildir is
//! created if missing; with `auth = "oauth2"` a token refresh is tried first
//! and the token's expiry shown, never the token; IMAP logs in and selects the folder and, when
//! trusted authserv-ids are set, reads the newest mail's
//! Authentication-Results to see agents' mail can be proven), any mailbox
//! whose processing ever panicked (how often, the last panic), the
//! outbox transport (an SMTP server must answer), and rspamd when `[spam]`
//! names it (the worker checks a test mail; the controller takes the
//! password: a warning when it is down, since intake goes on without it, a
//! failure when it refuses the password). When the templates do not load
//! nothing after them can be tried, and the list ends there.

use std::fmt;
use std::path::Path;

use crate::config::{Config, MailboxConfig, SourceKind};
use crate::pipeline::Engine;
use crate::source::capabilities::ServerCaps;
use crate::store::Store;

/// How a check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// Works, but probably not as meant.
    Warn,
    /// Would stop or break the daemon.
    Fail,
}

/// One line of the check: how it went, what was checked, and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    /// `config`, `templates`, `rules`, `mailbox support`, `outbox` …
    pub what: String,
    pub detail: String,
}

impl Finding {
    fn new(level: Level, what: &str, detail: impl Into<String>) -> Finding {
        Finding {
            level,
            what: what.to_string(),
            detail: detail.into(),
        }
    }

    fn of(what: &str, result: Result<String, String>) -> Finding {
        match result {
            Ok(d) => Finding::new(Level::Ok, what, d),
            Err(e) => Finding::new(Level::Fail, what, e),
        }
    }

    pub fn failed(&self) -> bool {
        self.level == Level::Fail
    }
}

/// `ok   templates: 34 templates render`, `WARN rules: …`, `FAIL outbox: …`.
impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.level {
            Level::Ok => "ok  ",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        };
        write!(f, "{label} {}: {}", self.what, self.detail)
    }
}

/// Every check, in order.
pub async fn all(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    each(config, |f| out.push(f)).await;
    out
}

/// Every check, in order, each handed to `found` as soon as it is known:
/// a login to a slow server takes seconds, and a person watching should see
/// the lines before it meanwhile.
pub async fn each(config: &Config, mut found: impl FnMut(Finding)) {
    let name = config
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "built-in defaults".into());
    found(Finding::new(
        Level::Ok,
        "config",
        format!("{name} is valid"),
    ));
    let engine = match Engine::new(config.clone()) {
        Ok(e) => e,
        Err(e) => {
            found(Finding::new(Level::Fail, "templates", e.to_string()));
            return;
        }
    };
    found(Finding::of(
        "templates",
        crate::outbound::check_templates(engine.renderer())
            .map(|n| format!("{n} templates render")),
    ));
    match config.compiled_rules() {
        Ok(rules) => {
            found(Finding::new(
                Level::Ok,
                "rules",
                format!("{} classification rules", config.rules.len()),
            ));
            for u in rules.unreachable() {
                found(Finding::new(Level::Warn, "rules", u));
            }
        }
        Err(e) => found(Finding::new(Level::Fail, "rules", e)),
    }
    for f in settings(config) {
        found(f);
    }
    found(open_files(
        crate::daemon::files_needed(config),
        crate::open_files::current(),
        config.mailboxes.len(),
    ));
    let db = engine.database_path();
    let store = Store::open(&db);
    found(Finding::of(
        "database",
        store
            .as_ref()
            .map(|_| db.display().to_string())
            .map_err(|e| e.to_string()),
    ));
    let panics = match &store {
        Ok(s) => s.mailbox_panics().unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let histories: Vec<Vec<Finding>> = config
        .mailboxes
        .iter()
        .map(|m| match &store {
            Ok(s) => history(s, m),
            Err(_) => Vec::new(),
        })
        .collect();
    drop(store);
    crate::tls::init();
    for (m, history) in config.mailboxes.iter().zip(histories) {
        for f in mailbox(config, m).await {
            found(f);
        }
        for f in history {
            found(f);
        }
    }
    for p in &panics {
        found(panicked(p));
    }
    found(outbox(config).await);
    for f in rspamd(config).await {
        found(f);
    }
}

/// rspamd, when `[spam]` names it: each part tried as the daemon uses it
/// ([`crate::rspamd::Rspamd::probe`]).
async fn rspamd(config: &Config) -> Vec<Finding> {
    use crate::rspamd::{Probe, Rspamd};
    let client = match Rspamd::from_config(&config.spam) {
        Ok(Some(c)) => c,
        Ok(None) => return Vec::new(),
        Err(e) => return vec![Finding::new(Level::Fail, "rspamd", e)],
    };
    let probes = match tokio::task::spawn_blocking(move || client.probe()).await {
        Ok(p) => p,
        Err(e) => return vec![Finding::new(Level::Fail, "rspamd", e.to_string())],
    };
    probes
        .into_iter()
        .map(|(what, p)| match p {
            Probe::Works(d) => Finding::new(Level::Ok, what, d),
            Probe::Down(d) => Finding::new(Level::Warn, what, d),
            Probe::Misconfigured(d) => Finding::new(Level::Fail, what, d),
        })
        .collect()
}

/// What the SLA, the knowledge base and the review schedule will do; only
/// the sections in use.
fn settings(config: &Config) -> Vec<Finding> {
    let mut out = agents(config);
    if !config.sla.policies.is_empty() {
        let ps: Vec<String> = config
            .sla
            .policies
            .iter()
            .map(|p| p.priority.to_string())
            .collect();
        out.push(Finding::new(
            Level::Ok,
            "sla",
            format!(
                "policies for {} in {}",
                ps.join(", "),
                config.sla.calendar.time_zone
            ),
        ));
    }
    if config.kb.enabled {
        out.push(Finding::new(
            Level::Ok,
            "kb",
            format!(
                "drafts on resolution; up to {} suggestion(s) scoring {} or more",
                config.kb.suggestions, config.kb.min_score
            ),
        ));
    }
    if !config.report.to.is_empty() {
        let r = &config.report;
        let mut when = Vec::new();
        if r.monthly {
            when.push(format!("monthly on day {}", r.day));
        }
        if r.weekly {
            when.push(format!("weekly on {}", r.weekday));
        }
        out.push(Finding::new(
            Level::Ok,
            "report",
            format!(
                "{} at {:02}:00 ({}) to {}",
                if when.is_empty() {
                    "never (monthly and weekly are off)".to_string()
                } else {
                    when.join(" and ")
                },
                r.hour,
                config.desk.time_zone,
                r.to.join(", ")
            ),
        ));
    }
    out
}

/// Whether the mailboxes fit in the open-file limit (the daemon raises
/// its soft limit to the hard one at start). Read here, in this shell or
/// unit: the service's own limit is its unit's `LimitNOFILE=`.
fn open_files(needed: u64, limit: crate::open_files::Limit, mailboxes: usize) -> Finding {
    use crate::open_files::Fit;
    match crate::open_files::fit(needed, limit) {
        Fit::Fits => Finding::new(
            Level::Ok,
            "open files",
            format!(
                "{mailboxes} mailboxes need about {needed}; the limit is {}",
                limit.soft
            ),
        ),
        Fit::FitsOnceRaised => Finding::new(
            Level::Ok,
            "open files",
            format!(
                "{mailboxes} mailboxes need about {needed}, above the limit of {}; the daemon raises it to {} at start",
                limit.soft, limit.hard
            ),
        ),
        Fit::TooMany { needed, hard } => Finding::new(
            Level::Warn,
            "open files",
            format!(
                "{mailboxes} mailboxes need about {needed} open files, more than the hard limit of {hard}: \
                 some would fail to connect; raise it (LimitNOFILE= in the service unit, or ulimit -Hn)"
            ),
        ),
    }
}

/// How agents prove their mail: an agent who cannot (a secret variable
/// not set here) fails, `none` warns that anyone can forge commands.
fn agents(config: &Config) -> Vec<Finding> {
    let w = &config.workflow;
    let env = |v: &str| std::env::var(v).ok();
    let s = crate::desk::verify::setup(
        w.agent_authentication,
        &w.trusted_authserv_ids,
        &config.agents,
        Some(&env),
    );
    let mut out: Vec<Finding> = s
        .errors
        .into_iter()
        .map(|e| Finding::new(Level::Fail, "agents", e))
        .chain(
            s.warnings
                .into_iter()
                .map(|e| Finding::new(Level::Warn, "agents", e)),
        )
        .collect();
    if out.is_empty() && !config.agents.is_empty() {
        out.push(Finding::new(
            Level::Ok,
            "agents",
            format!(
                "{} agent(s) prove their mail by {}",
                config.agents.len(),
                w.agent_authentication.as_str()
            ),
        ));
    }
    out
}

/// A Maildir exists (created if it did not); an IMAP login works and the
/// folder can be selected, and its newest mail carries the trusted
/// servers' Authentication-Results at the top when some are named.
async fn mailbox(config: &Config, m: &MailboxConfig) -> Vec<Finding> {
    let what = format!("mailbox {}", m.name);
    match m.kind {
        SourceKind::Maildir => {
            let dir = config.resolve(m.path.as_deref().unwrap_or(Path::new("maildir")));
            vec![Finding::of(
                &what,
                match crate::source::maildir::ensure(&dir) {
                    Ok(()) => Ok(format!("Maildir {}", dir.display())),
                    Err(e) => Err(format!("Maildir {}: {e}", dir.display())),
                },
            )]
        }
        SourceKind::Imap => match imap_login(config, m).await {
            Ok((detail, headers, caps, auth)) => {
                let mut out: Vec<Finding> = auth.into_iter().collect();
                out.push(Finding::new(Level::Ok, &what, detail));
                out.extend(extensions(&what, m, &caps));
                let trusted = &config.workflow.trusted_authserv_ids;
                out.extend(authentication_results(&what, &m.folder, trusted, &headers));
                out
            }
            Err(e) => vec![Finding::new(Level::Fail, &what, e)],
        },
    }
}

/// What the mailbox's first connection left alone, and imports of old
/// mail: finished, or waiting to be resumed.
fn history(store: &Store, m: &MailboxConfig) -> Vec<Finding> {
    let what = format!("mailbox {}", m.name);
    let mut out = Vec::new();
    let imports = store.imports(&m.name).unwrap_or_default();
    let first = match store.first_connect(&m.name) {
        Ok(Some(f)) => f,
        Ok(None) => {
            out.push(Finding::new(
                Level::Ok,
                &what,
                format!(
                    "not connected yet: mail already in the folder then will be {}",
                    match m.on_first_connect {
                        crate::desk::history::FirstConnect::NewOnly =>
                            "left alone (on-first-connect = \"new-only\")",
                        crate::desk::history::FirstConnect::Import =>
                            "recorded as history (on-first-connect = \"import\")",
                        crate::desk::history::FirstConnect::Process =>
                            "processed as new mail (on-first-connect = \"process\")",
                    }
                ),
            ));
            return out;
        }
        Err(e) => return vec![Finding::new(Level::Warn, &what, e.to_string())],
    };
    let own_import = imports
        .iter()
        .any(|i| i.folder == first.folder && i.finished_at.is_some());
    if first.policy == "new-only" && first.existing > 0 && !own_import {
        out.push(Finding::new(
            Level::Warn,
            &what,
            format!(
                "{} messages that were in {} at the first connection ({}) were left alone; \
                 to record them as history: postdesk import --mailbox {}",
                first.existing,
                first.folder,
                crate::desk::when::iso(first.at),
                m.name
            ),
        ));
    }
    for i in imports {
        let detail = match i.finished_at {
            Some(at) => format!(
                "imported {} old mails from {} as history ({})",
                i.imported,
                i.folder,
                crate::desk::when::iso(at)
            ),
            None => format!(
                "an import of {} stopped after UID {} ({} mails so far); to go on: postdesk import --mailbox {}{}",
                i.folder,
                i.done_uid,
                i.imported,
                m.name,
                if i.folder == m.folder {
                    String::new()
                } else {
                    format!(" --folder {}", i.folder)
                }
            ),
        };
        let level = if i.finished_at.is_some() {
            Level::Ok
        } else {
            Level::Warn
        };
        out.push(Finding::new(level, &what, detail));
    }
    out
}

/// How many of a folder's newest messages `check` reads the
/// Authentication-Results of.
const NEWEST: u32 = 5;

/// Logs in and selects the folder; returns what it found and, when trusted
/// authserv-ids are set, the newest messages' Authentication-Results
/// header blocks, newest first.
async fn imap_login(
    config: &Config,
    m: &MailboxConfig,
) -> Result<(String, Vec<Vec<u8>>, ServerCaps, Option<Finding>), String> {
    let mut m = m.clone();
    m.ca_file = m.ca_file.as_deref().map(|p| config.resolve(p));
    let login = crate::source::imap::Login::of(&m, &config.base_dir)?;
    let auth = match login.token_source() {
        Some(source) => {
            let warn_within = config.alerts.token_expires_within;
            let what = format!("mailbox {} auth", m.name);
            let f = token(&what, source, m.mechanism, warn_within).await;
            if f.failed() {
                return Err(f.detail);
            }
            Some(f)
        }
        None => None,
    };
    let mut s = crate::source::imap::connect_as(&m, &login)
        .await
        .map_err(|e| e.to_string())?;
    let caps = crate::source::imap::capabilities(&mut s)
        .await
        .map_err(|e| format!("logged in, but CAPABILITY: {e}"))?;
    let mb = s
        .select(&m.folder)
        .await
        .map_err(|e| format!("logged in, but folder {}: {e}", m.folder))?;
    let headers = if config.workflow.trusted_authserv_ids.is_empty() {
        Vec::new()
    } else {
        crate::source::imap::newest_header_fields(
            &mut s,
            mb.exists,
            NEWEST,
            "AUTHENTICATION-RESULTS",
        )
        .await
        .map_err(|e| format!("logged in, but reading headers in {}: {e}", m.folder))?
    };
    let _ = s.logout().await;
    let detail = format!(
        "logged in to {}:{} as {}, folder {} has {} messages",
        m.host.as_deref().unwrap_or(""),
        m.imap_port(),
        m.username.as_deref().unwrap_or(""),
        m.folder,
        mb.exists
    );
    Ok((detail, headers, caps, auth))
}

/// The server's extensions, and what postdesk does without those missing
/// (a warning where the settings ask for something the server cannot do).
fn extensions(what: &str, m: &MailboxConfig, caps: &ServerCaps) -> Vec<Finding> {
    let mut out = vec![Finding::new(
        Level::Ok,
        what,
        format!("the server offers {}", caps.all.join(" ")),
    )];
    let quarantine = m.quarantine_folder.is_some();
    for note in crate::source::capabilities::without(caps, m.after, m.idle, quarantine) {
        let level = if note.contains("not needed") {
            Level::Ok
        } else {
            Level::Warn
        };
        out.push(Finding::new(level, what, note));
    }
    out
}

/// An OAuth2 login: the method, the token's expiry, whether a refresh
/// works (one is made: with rotation the new refresh token is stored), and
/// when the sign-in ends where the provider says (a warning within
/// `warn_within`, as the alert). Never the token itself.
async fn token(
    what: &str,
    source: &crate::oauth::TokenSource,
    mechanism: crate::oauth::Mechanism,
    warn_within: std::time::Duration,
) -> Finding {
    use crate::oauth::signin::when;
    let head = format!(
        "oauth2 {} ({})",
        source.flow.as_str(),
        mechanism.sasl_name()
    );
    let before = match source.on_disk() {
        Ok(f) => f,
        Err(e) => return Finding::new(Level::Fail, what, format!("{head}: {e}")),
    };
    match source.renew_now().await {
        Ok((_, expires)) => {
            let ends = source.sign_in_expires_at().await;
            let left_s = ends.map(|e| e - crate::oauth::now_s());
            // As the alert does (alerts.token-expires-within, 7 days by default).
            let soon = left_s.is_some_and(|l| l <= warn_within.as_secs() as i64);
            Finding::new(
                if soon { Level::Warn } else { Level::Ok },
                what,
                format!(
                    "{head}: a refresh works; the access token is valid until {}{}",
                    when(expires),
                    match (ends, left_s) {
                        (Some(e), Some(l)) => format!(
                            "; the sign-in ends {} (in {} h): then `postdesk auth login` again",
                            when(e),
                            l.max(0) / 3600
                        ),
                        _ => String::new(),
                    }
                ),
            )
        }
        Err(crate::oauth::AuthError::Unreachable(e)) => Finding::new(
            Level::Warn,
            what,
            format!(
                "{head}: the provider could not be asked ({e}); the stored token {}",
                before
                    .filter(|f| !f.access_token.is_empty())
                    .map(|f| format!("expires {}", when(f.expires_at)))
                    .unwrap_or_else(|| "is missing".into())
            ),
        ),
        Err(crate::oauth::AuthError::Refused(e)) => {
            Finding::new(Level::Fail, what, format!("{head}: FAILING: {e}"))
        }
    }
}

/// Whether mail in `folder` can prove agents: when trusted authserv-ids
/// are set, some of its newest messages (`headers`: their
/// Authentication-Results blocks, newest first) must carry a trusted
/// server's header at the top. None does: the receiving server writes none,
/// or under another id, and no agent's command will ever be proven.
fn authentication_results(
    what: &str,
    folder: &str,
    trusted: &[String],
    headers: &[Vec<u8>],
) -> Option<Finding> {
    if trusted.is_empty() || headers.is_empty() {
        return None;
    }
    let carrying = headers
        .iter()
        .filter(|block| {
            let values = crate::inbound::auth_results_of_headers(block);
            !crate::inbound::authres::trusted_results(&values, trusted).is_empty()
        })
        .count();
    let ids = trusted.join(", ");
    let n = headers.len();
    Some(if carrying == 0 {
        Finding::new(
            Level::Warn,
            what,
            format!(
                "workflow.trusted-authserv-ids is {ids}, but none of the newest {n} message(s) \
                 in {folder} carries an Authentication-Results header from it at the top: \
                 agents' mail cannot be proven by DKIM or SPF; make the receiving server \
                 write one (and name its authserv-id here)"
            ),
        )
    } else {
        Finding::new(
            Level::Ok,
            what,
            format!(
                "{carrying} of the newest {n} message(s) in {folder} carry Authentication-Results from {ids} at the top"
            ),
        )
    })
}

/// A mailbox whose processing panicked: a bug to report, and mail waiting
/// in the quarantine. Counted by the pipeline and the daemon's supervisor.
fn panicked(p: &crate::store::MailboxPanics) -> Finding {
    Finding::new(
        Level::Warn,
        &format!("mailbox {}", p.mailbox),
        format!(
            "processing panicked {} time(s), last at {}: {}; the mail at fault is held in `postdesk quarantine` and the mailbox went on (please report this as a bug)",
            p.count,
            crate::desk::when::iso(p.last_at),
            p.last_error
        ),
    )
}

/// The outbox transport can be built and, for SMTP, the server answers.
/// Must run inside the runtime: lettre's SMTP pool spawns its reaper task
/// when built.
async fn outbox(config: &Config) -> Finding {
    let o = &config.outbox;
    if o.transport == crate::config::TransportKind::Smtp
        && o.auth == crate::oauth::AuthMethod::Oauth2
        && let Some(oauth) = &o.oauth
    {
        let user = o.username.as_deref().unwrap_or("");
        match crate::oauth::TokenSource::shared("outbox", user, oauth, &config.base_dir) {
            Ok(source) => {
                let within = config.alerts.token_expires_within;
                let f = token("outbox auth", &source, o.mechanism, within).await;
                if f.failed() {
                    return f;
                }
                let t = match crate::outbox::Transport::from_config(config) {
                    Ok(t) => Finding::of("outbox", t.test().await),
                    Err(e) => Finding::new(Level::Fail, "outbox", e.to_string()),
                };
                return Finding::new(t.level, "outbox", format!("{}; {}", f.detail, t.detail));
            }
            Err(e) => return Finding::new(Level::Fail, "outbox auth", e),
        }
    }
    match crate::outbox::Transport::from_config(config) {
        Ok(t) => Finding::of("outbox", t.test().await),
        Err(e) => Finding::new(Level::Fail, "outbox", e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn built_in_defaults_pass_and_say_where_things_are() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::embedded(dir.path());
        let found = all(&config).await;
        let lines: Vec<String> = found.iter().map(|f| f.to_string()).collect();
        assert!(found.iter().all(|f| !f.failed()), "{lines:#?}");
        assert_eq!(lines[0], "ok   config: built-in defaults is valid");
        let whats: Vec<&str> = found.iter().map(|f| f.what.as_str()).collect();
        assert_eq!(whats[1], "templates");
        assert!(whats.contains(&"database"), "{whats:?}");
        assert!(
            !whats.contains(&"agents"),
            "no agents, nothing to prove: {whats:?}"
        );
        assert_eq!(whats.last(), Some(&"outbox"));
    }

    #[test]
    fn mail_without_a_trusted_header_at_the_top_warns() {
        let trusted = vec!["mx.corp.test".to_string()];
        let judge = |blocks: &[&str]| {
            let blocks: Vec<Vec<u8>> = blocks.iter().map(|b| b.as_bytes().to_vec()).collect();
            authentication_results("mailbox support", "INBOX", &trusted, &blocks)
        };
        let none = "\r\n";
        let other = "Authentication-Results: mx.evil.test; dkim=pass header.d=corp.test\r\n\r\n";
        // The sender's own header below another server's.
        let below = "Authentication-Results: mx.other.test; dkim=none\r\n\
                     Authentication-Results: mx.corp.test; dkim=pass header.d=corp.test\r\n\r\n";
        let good =
            "Authentication-Results: MX.corp.test;\r\n\tdkim=pass header.d=corp.test\r\n\r\n";
        let f = judge(&[none, other, below]).unwrap();
        assert_eq!(f.level, Level::Warn, "{f}");
        assert!(
            f.detail
                .contains("none of the newest 3 message(s) in INBOX"),
            "{f}"
        );
        let f = judge(&[none, good, other]).unwrap();
        assert_eq!(f.level, Level::Ok, "{f}");
        assert!(f.detail.starts_with("1 of the newest 3"), "{f}");
        assert_eq!(judge(&[]), None, "an empty folder tells nothing");
        let blocks = vec![none.as_bytes().to_vec()];
        assert_eq!(
            authentication_results("mailbox support", "INBOX", &[], &blocks),
            None,
            "nothing to check without trusted ids"
        );
    }

    #[test]
    fn lines_keep_their_labels() {
        assert_eq!(
            Finding::new(Level::Warn, "rules", "rule #2 never matches").to_string(),
            "WARN rules: rule #2 never matches"
        );
        assert_eq!(
            Finding::new(Level::Fail, "outbox", "refused").to_string(),
            "FAIL outbox: refused"
        );
    }

    #[test]
    fn mailboxes_beyond_the_hard_open_file_limit_warn() {
        let limit = crate::open_files::Limit {
            soft: 1024,
            hard: 4096,
        };
        let ok = open_files(1000, limit, 900);
        assert_eq!(ok.level, Level::Ok);
        let raised = open_files(3000, limit, 2900);
        assert_eq!(raised.level, Level::Ok);
        assert!(raised.detail.contains("raises it to 4096"), "{raised}");
        let too_many = open_files(5000, limit, 4900);
        assert_eq!(too_many.level, Level::Warn);
        assert!(
            too_many.detail.contains("4900 mailboxes need about 5000")
                && too_many.detail.contains("hard limit of 4096"),
            "{too_many}"
        );
    }

    #[test]
    fn the_files_counted_grow_by_one_per_imap_mailbox() {
        let mut cfg = Config::embedded(Path::new("/tmp"));
        let base = crate::daemon::files_needed(&cfg);
        let one = cfg.mailboxes[0].clone();
        for i in 0..4000 {
            let mut m = one.clone();
            m.name = format!("m{i}");
            m.kind = SourceKind::Imap;
            cfg.mailboxes.push(m);
        }
        let many = crate::daemon::files_needed(&cfg);
        // 4,000 sockets, and the shared database connections top out at 4.
        assert!(
            many >= base + 4000 && many <= base + 4000 + 3 * 4,
            "{base} -> {many}"
        );
    }

    #[test]
    fn agents_without_proof_fail_and_none_warns() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::embedded(dir.path());
        config.agents = vec![crate::desk::people::AgentConfig {
            name: "alice".into(),
            display_name: None,
            addresses: vec!["alice@corp.test".into()],
            team: "desk".into(),
            secret_env: Some("POSTDESK_TEST_UNSET_SECRET".into()),
        }];
        config.workflow.agent_authentication = crate::desk::people::AgentAuthentication::Secret;
        let f = agents(&config);
        assert_eq!(f.len(), 1);
        assert!(f[0].failed(), "{}", f[0]);
        assert!(
            f[0].to_string()
                .contains("POSTDESK_TEST_UNSET_SECRET, which is not set")
        );
        config.workflow.agent_authentication = crate::desk::people::AgentAuthentication::None;
        let f = agents(&config);
        assert!(
            f[0].to_string()
                .starts_with("WARN agents: workflow.agent-authentication = \"none\""),
            "{}",
            f[0]
        );
        config.workflow.agent_authentication = crate::desk::people::AgentAuthentication::DkimOrSpf;
        config.workflow.trusted_authserv_ids = vec!["mx.corp.test".into()];
        assert_eq!(
            agents(&config)[0].to_string(),
            "ok   agents: 1 agent(s) prove their mail by dkim-or-spf"
        );
    }

    #[tokio::test]
    async fn a_mailbox_that_panicked_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::embedded(dir.path());
        let engine = Engine::new(config.clone()).unwrap();
        let mut store = engine.open_store().unwrap();
        store
            .record_panic("inbox", "boom", 1_796_004_000_000)
            .unwrap();
        store
            .record_panic("inbox", "bang", 1_796_004_060_000)
            .unwrap();
        drop(store);
        let found = all(&config).await;
        let warned: Vec<String> = found
            .iter()
            .filter(|f| f.level == Level::Warn)
            .map(|f| f.to_string())
            .collect();
        assert_eq!(warned.len(), 1, "{warned:#?}");
        assert!(
            warned[0].starts_with(
                "WARN mailbox inbox: processing panicked 2 time(s), last at 2026-11-30 02:01:00Z: bang;"
            ),
            "{}",
            warned[0]
        );
        assert!(found.iter().all(|f| !f.failed()));
    }
}
