//! The TOML configuration: the sections together, defaults, and errors that
//! name file, line and key.
//!
//! Each section's type lives with the code that uses it (`desk::policy` has
//! `[desk]` and `[workflow]`, `desk::people` `[[agent]]` and `[[team]]`,
//! `desk::rules`, `desk::sla`, `desk::kb`, `desk::limits`, `desk::closing`
//! `[survey]`, `report::schedule` `[report]`); this module only aggregates
//! them, locates errors and resolves paths, and owns the sections of the
//! I/O edge (`[[mailbox]]`, `[outbox]`, `[storage]`) and secrets.
//! Every key is documented in `config.example.toml`. Relative paths are
//! resolved against the directory of the config file, so a config can be
//! moved together with its data.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::alerts::settings::AlertsConfig;
use crate::desk::approval::ApprovalConfig;
use crate::desk::history::FirstConnect;
use crate::desk::kb::KbConfig;
use crate::desk::limits::Limits;
use crate::desk::listing::DigestConfig;
use crate::desk::people::{AgentConfig, TeamConfig};
use crate::desk::policy::{Desk, Workflow};
use crate::desk::rules::{Classify, RuleConfig, Rules};
use crate::desk::sla::SlaConfig;
use crate::desk::survey::SurveyConfig;
use crate::http::settings::HttpConfig;
use crate::lang::Lang;
use crate::oauth::{AuthMethod, Mechanism, OAuthConfig};
use crate::report::schedule::ReportConfig;

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A syntax or type error at a known place in the file.
    #[error("{path}:{line}: {key}{message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        /// `section.key: ` when known, else empty.
        key: String,
        message: String,
    },
    /// A value that parses but does not make sense (checked after parsing).
    #[error("{path}: {message}")]
    Semantic { path: PathBuf, message: String },
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// How the daemon logs: `text` (the default) or `json` (one object a
    /// line, for log collectors). A top-level key: before any table.
    #[serde(default)]
    pub log_format: LogFormat,
    #[serde(default)]
    pub desk: Desk,
    #[serde(default, rename = "mailbox")]
    pub mailboxes: Vec<MailboxConfig>,
    #[serde(default)]
    pub outbox: OutboxConfig,
    #[serde(default)]
    pub storage: Storage,
    #[serde(default, rename = "agent")]
    pub agents: Vec<AgentConfig>,
    #[serde(default, rename = "team")]
    pub teams: Vec<TeamConfig>,
    #[serde(default)]
    pub workflow: Workflow,
    #[serde(default)]
    pub survey: SurveyConfig,
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleConfig>,
    #[serde(default)]
    pub classify: Classify,
    #[serde(default)]
    pub sla: SlaConfig,
    #[serde(default)]
    pub limits: Limits,
    /// `[kb]`: the knowledge base (see `crate::desk::kb`).
    #[serde(default)]
    pub kb: KbConfig,
    /// `[report]`: the scheduled review by mail (see `crate::report::schedule`).
    #[serde(default)]
    pub report: ReportConfig,
    /// `[spam]`: filter verdicts, rspamd, backscatter (see `crate::desk::spam`).
    #[serde(default)]
    pub spam: crate::desk::spam::settings::SpamConfig,
    /// `[http]`: the ops endpoint (see `crate::http`).
    #[serde(default)]
    pub http: HttpConfig,
    /// `[lmtp]`: mail from the MTA over a Unix socket (see `crate::source::lmtp`).
    #[serde(default)]
    pub lmtp: crate::source::lmtp::settings::LmtpConfig,
    /// `[connect]`: how many mailboxes sign in at once (see `crate::source::pacing`).
    #[serde(default)]
    pub connect: crate::source::pacing::ConnectConfig,
    /// `[alerts]`: operational alerts to `desk.admin` (see `crate::alerts`).
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// `[digest]`: the morning list of tickets per agent (see `crate::desk::listing`).
    #[serde(default)]
    pub digest: DigestConfig,
    /// `[approval]`: `#approval` reminders, the SLA clock, approvers by category (see `crate::desk::approval`).
    #[serde(default)]
    pub approval: ApprovalConfig,
    /// `[[exclusion]]`: what the desk does not do (see `crate::desk::exclusion`).
    #[serde(default, rename = "exclusion")]
    pub exclusions: Vec<crate::desk::exclusion::rules::ExclusionConfig>,
    /// Where relative paths are resolved from: the config file's directory.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file this came from, for messages; `None` for built-in defaults.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// The shape of log lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Where the database and attachments live.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Storage {
    pub database: PathBuf,
    /// No longer used: attachments are kept only inside the raw message,
    /// which is stored whole and compressed (migration 018). Still read, so
    /// a config that sets it keeps loading.
    #[serde(deserialize_with = "crate::units::de_size")]
    pub max_attachment_size: u64,
    #[serde(deserialize_with = "crate::units::de_size")]
    pub max_message_size: u64,
    /// A message whose parsing takes longer than this is quarantined
    /// instead of processed (hostile input must not stall the mailbox).
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub max_parse_time: Duration,
}

impl Default for Storage {
    fn default() -> Storage {
        Storage {
            database: PathBuf::from("postdesk.db"),
            max_attachment_size: 10 << 20,
            max_message_size: 50 << 20,
            max_parse_time: Duration::from_secs(10),
        }
    }
}

/// How a connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Security {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
    /// Plain connect, then STARTTLS before login (IMAP 143, submission 587).
    Starttls,
    /// No encryption: only to loopback, or with `allow-plaintext = true`.
    Plain,
}

/// What to do with a message in the IMAP folder once it is safely recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AfterProcessing {
    Seen,
    Move,
    Keep,
}

/// The kind of mailbox source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    Imap,
    Maildir,
}

/// Where a password comes from. Never the TOML itself.
#[derive(Clone, Default)]
pub struct SecretRef {
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    /// A file of `$CREDENTIALS_DIRECTORY` (systemd's `LoadCredential=`).
    pub password_credential: Option<String>,
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: the secret itself is never formatted.
        f.debug_struct("SecretRef")
            .field("password_env", &self.password_env)
            .field("password_file", &self.password_file)
            .field("password_credential", &self.password_credential)
            .finish()
    }
}

/// A password in memory; prints as `***`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl SecretRef {
    /// Reads the password from the environment variable or the file named in the config.
    pub fn load(&self, base_dir: &Path) -> Result<Option<Secret>, String> {
        if let Some(name) = &self.password_credential {
            let dir = std::env::var_os("CREDENTIALS_DIRECTORY");
            return credential(dir.as_deref().map(Path::new), name).map(Some);
        }
        if let Some(var) = &self.password_env {
            return match std::env::var(var) {
                Ok(v) => Ok(Some(Secret(v))),
                Err(_) => Err(format!(
                    "environment variable {var} (password-env) is not set"
                )),
            };
        }
        if let Some(file) = &self.password_file {
            let path = base_dir.join(file);
            return match std::fs::read_to_string(&path) {
                Ok(v) => Ok(Some(Secret(v.trim_end_matches(['\r', '\n']).to_string()))),
                Err(e) => Err(format!("reading password-file {}: {e}", path.display())),
            };
        }
        Ok(None)
    }
}

/// One watched mailbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MailboxConfig {
    pub name: String,
    pub kind: SourceKind,
    // IMAP
    pub host: Option<String>,
    pub port: Option<u16>,
    #[serde(default = "default_security")]
    pub security: Security,
    #[serde(default)]
    pub allow_plaintext: bool,
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    /// `password` (default) or `oauth2` (then `oauth` says how).
    #[serde(default)]
    pub auth: AuthMethod,
    /// The SASL mechanism for `auth = "oauth2"`.
    #[serde(default)]
    pub mechanism: Mechanism,
    pub oauth: Option<OAuthConfig>,
    /// The password is the credential of this name that systemd passes in
    /// `$CREDENTIALS_DIRECTORY` (`LoadCredential=NAME:/etc/...`).
    pub password_credential: Option<String>,
    #[serde(default = "default_folder")]
    pub folder: String,
    #[serde(default = "default_after")]
    pub after: AfterProcessing,
    pub move_to: Option<String>,
    /// Messages that cannot be processed are moved here (created when
    /// missing) besides being kept in the database's quarantine.
    pub quarantine_folder: Option<String>,
    #[serde(default = "yes")]
    pub idle: bool,
    #[serde(
        default = "default_poll",
        deserialize_with = "crate::units::de_duration"
    )]
    pub poll_interval: Duration,
    #[serde(
        default = "default_recheck",
        deserialize_with = "crate::units::de_duration"
    )]
    pub idle_recheck: Duration,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// The most bytes of mail in one batch, besides `batch_size`: a batch is
    /// in memory whole while it is processed (see [`crate::source::batches`]).
    #[serde(
        default = "default_batch_bytes",
        deserialize_with = "crate::units::de_size"
    )]
    pub batch_bytes: u64,
    // Maildir
    pub path: Option<PathBuf>,
    // Both
    pub language: Option<Lang>,
    /// The address requesters write to, when it differs from `desk.address`.
    pub address: Option<String>,
    /// What the first connection does with mail already in the folder.
    #[serde(default)]
    pub on_first_connect: FirstConnect,
    /// The From display name (and the `desk_name` templates sign with) of
    /// mail about tickets that came in here; default `desk.name`.
    pub from_name: Option<String>,
    /// Text added below every mail about tickets that came in here.
    pub signature: Option<String>,
    /// Templates for mail about tickets that came in here, over the desk's
    /// (`desk.templates`) and the built-ins, file by file.
    pub templates: Option<PathBuf>,
    /// `[mailbox.outbox]`: this mailbox's own way out (a provider that lets
    /// a mailbox send only as itself), for mail sent as its `address`;
    /// without it the desk's `[outbox]` carries it. The same keys as
    /// `[outbox]`; its queue settings (concurrency, retries) are the desk's.
    pub outbox: Option<OutboxConfig>,
}

impl MailboxConfig {
    /// Where this mailbox's password comes from.
    pub fn secret(&self) -> SecretRef {
        SecretRef {
            password_env: self.password_env.clone(),
            password_file: self.password_file.clone(),
            password_credential: self.password_credential.clone(),
        }
    }

    pub fn imap_port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            Security::Tls => 993,
            Security::Starttls | Security::Plain => 143,
        })
    }
}

/// How outgoing mail leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransportKind {
    /// Write each mail as a file into `dir` (the embedded default).
    #[serde(rename = "file")]
    Files,
    Smtp,
    Sendmail,
}

/// The outbox and its transport.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct OutboxConfig {
    pub transport: TransportKind,
    pub dir: PathBuf,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub security: Security,
    pub allow_plaintext: bool,
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub auth: AuthMethod,
    pub mechanism: Mechanism,
    pub oauth: Option<OAuthConfig>,
    /// As for a mailbox: a credential of `$CREDENTIALS_DIRECTORY`.
    pub password_credential: Option<String>,
    pub sendmail_command: PathBuf,
    /// How many mails are handed over at once (SMTP connections in the pool).
    pub concurrency: usize,
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub retry_initial: Duration,
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub retry_max: Duration,
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub timeout: Duration,
}

impl Default for OutboxConfig {
    fn default() -> OutboxConfig {
        OutboxConfig {
            transport: TransportKind::Files,
            dir: PathBuf::from("outbox"),
            host: None,
            port: None,
            security: Security::Starttls,
            allow_plaintext: false,
            ca_file: None,
            username: None,
            password_env: None,
            password_file: None,
            auth: AuthMethod::Password,
            mechanism: Mechanism::Xoauth2,
            oauth: None,
            password_credential: None,
            sendmail_command: PathBuf::from("/usr/sbin/sendmail"),
            concurrency: 4,
            retry_initial: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            timeout: Duration::from_secs(30),
        }
    }
}

impl OutboxConfig {
    /// Where the SMTP password comes from.
    pub fn secret(&self) -> SecretRef {
        SecretRef {
            password_env: self.password_env.clone(),
            password_file: self.password_file.clone(),
            password_credential: self.password_credential.clone(),
        }
    }

    pub fn smtp_port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            Security::Tls => 465,
            Security::Starttls => 587,
            Security::Plain => 25,
        })
    }
}

fn default_security() -> Security {
    Security::Tls
}
fn default_folder() -> String {
    "INBOX".into()
}
fn default_after() -> AfterProcessing {
    AfterProcessing::Seen
}
fn yes() -> bool {
    true
}
fn default_poll() -> Duration {
    Duration::from_secs(60)
}
fn default_recheck() -> Duration {
    Duration::from_secs(300)
}
fn default_batch() -> usize {
    500
}
/// 8 MB: a backlog of ordinary mail (tens of KB each) still drains 500 at a
/// time, while one of large attachments stays at a few mails per batch. The
/// IMAP source fetches the next batch while one is written, so two are in
/// memory at once.
fn default_batch_bytes() -> u64 {
    8 << 20
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        };
        Config::from_toml(&text, path, &base)
    }

    /// Parses config text; `path` is used in messages, `base_dir` for relative paths.
    pub fn from_toml(text: &str, path: &Path, base_dir: &Path) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| locate(text, path, &e))?;
        cfg.base_dir = base_dir.to_path_buf();
        cfg.source = Some(path.to_path_buf());
        cfg.validate()?;
        Ok(cfg)
    }

    /// The built-in defaults: a Maildir in `data_dir/inbox`, mail out as files in
    /// `data_dir/outbox`, the database in `data_dir/postdesk.db`.
    pub fn embedded(data_dir: &Path) -> Config {
        Config {
            log_format: LogFormat::Text,
            desk: Desk::default(),
            mailboxes: vec![MailboxConfig {
                name: "inbox".into(),
                kind: SourceKind::Maildir,
                host: None,
                port: None,
                security: Security::Tls,
                allow_plaintext: false,
                ca_file: None,
                username: None,
                password_env: None,
                password_file: None,
                auth: AuthMethod::Password,
                mechanism: Mechanism::Xoauth2,
                oauth: None,
                password_credential: None,
                folder: default_folder(),
                after: AfterProcessing::Seen,
                move_to: None,
                quarantine_folder: None,
                idle: true,
                poll_interval: Duration::from_secs(2),
                idle_recheck: default_recheck(),
                batch_size: default_batch(),
                batch_bytes: default_batch_bytes(),
                path: Some(PathBuf::from("inbox")),
                language: None,
                address: None,
                // The built-in desk's Maildir is its own drop box, made by
                // postdesk (`run` says where to drop mail): what is in it
                // was put there for the desk, not an organisation's old mail.
                on_first_connect: FirstConnect::Process,
                from_name: None,
                signature: None,
                templates: None,
                outbox: None,
            }],
            outbox: OutboxConfig::default(),
            storage: Storage::default(),
            agents: Vec::new(),
            teams: Vec::new(),
            workflow: Workflow::default(),
            survey: SurveyConfig::default(),
            rules: Vec::new(),
            classify: Classify::default(),
            sla: SlaConfig::default(),
            limits: Limits::default(),
            kb: KbConfig::default(),
            report: ReportConfig::default(),
            spam: Default::default(),
            http: HttpConfig::default(),
            lmtp: Default::default(),
            connect: Default::default(),
            alerts: AlertsConfig::default(),
            digest: DigestConfig::default(),
            approval: ApprovalConfig::default(),
            exclusions: Vec::new(),
            base_dir: data_dir.to_path_buf(),
            source: None,
        }
    }

    /// A path from the config, resolved against the config's directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// Where the templates folder is, if one is configured.
    pub fn templates_dir(&self) -> Option<PathBuf> {
        self.desk.templates.as_deref().map(|p| self.resolve(p))
    }

    fn semantic(&self, message: String) -> ConfigError {
        ConfigError::Semantic {
            path: self
                .source
                .clone()
                .unwrap_or_else(|| "(built-in defaults)".into()),
            message,
        }
    }

    /// Checks what the types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.desk.validate().map_err(|m| self.semantic(m))?;
        let mut names = std::collections::BTreeSet::new();
        for (i, m) in self.mailboxes.iter().enumerate() {
            let at = format!("mailbox #{} (\"{}\")", i + 1, m.name);
            if !names.insert(m.name.as_str()) {
                return Err(self.semantic(format!(
                    "{at}: name is used twice; each mailbox needs its own name"
                )));
            }
            match m.kind {
                SourceKind::Imap => {
                    let host = m.host.as_deref().unwrap_or("");
                    if host.is_empty() {
                        return Err(self.semantic(format!(
                            "{at}: kind = \"imap\" needs host = \"imap.example.com\""
                        )));
                    }
                    if m.username.is_none() {
                        return Err(self.semantic(format!("{at}: kind = \"imap\" needs username")));
                    }
                    if m.security == Security::Plain && !m.allow_plaintext && !is_loopback(host) {
                        return Err(self.semantic(format!(
                            "{at}: security = \"plain\" to {host} would send the password unencrypted; use \"tls\" or \"starttls\", or set allow-plaintext = true"
                        )));
                    }
                    auth_settings(m.auth, m.oauth.as_ref())
                        .map_err(|e| self.semantic(format!("{at}: {e}")))?;
                    if m.after == AfterProcessing::Move && m.move_to.is_none() {
                        return Err(self.semantic(format!(
                            "{at}: after = \"move\" needs move-to = \"FOLDER\""
                        )));
                    }
                }
                SourceKind::Maildir => {
                    if m.path.is_none() {
                        return Err(
                            self.semantic(format!("{at}: kind = \"maildir\" needs path = \"DIR\""))
                        );
                    }
                }
            }
            if m.batch_size == 0 {
                return Err(self.semantic(format!("{at}: batch-size must be at least 1")));
            }
            if m.batch_bytes == 0 {
                return Err(self.semantic(format!(
                    "{at}: batch-bytes must be at least 1 byte (e.g. \"8MB\")"
                )));
            }
        }
        let o = &self.outbox;
        if o.transport == TransportKind::Smtp {
            let host = o.host.as_deref().unwrap_or("");
            if host.is_empty() {
                return Err(self.semantic("outbox: transport = \"smtp\" needs host".into()));
            }
            if o.security == Security::Plain && !o.allow_plaintext && !is_loopback(host) {
                return Err(self.semantic(format!(
                    "outbox: security = \"plain\" to {host} is unencrypted; use \"tls\" or \"starttls\", or set allow-plaintext = true"
                )));
            }
        }
        if o.transport == TransportKind::Smtp {
            auth_settings(o.auth, o.oauth.as_ref())
                .map_err(|e| self.semantic(format!("outbox: {e}")))?;
            if o.auth == AuthMethod::Oauth2 && o.username.is_none() {
                return Err(self.semantic(
                    "outbox: auth = \"oauth2\" needs username (the mailbox the token is for)"
                        .into(),
                ));
            }
        }
        if o.concurrency == 0 {
            return Err(self.semantic("outbox.concurrency must be at least 1".into()));
        }
        if let Some(want) = &self.lmtp.mailbox
            && !self.mailboxes.iter().any(|m| &m.name == want)
        {
            return Err(self.semantic(format!(
                "lmtp.mailbox = \"{want}\": no [[mailbox]] has that name (configured: {})",
                self.mailboxes
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        self.validate_people()
    }

    fn validate_people(&self) -> Result<(), ConfigError> {
        crate::desk::people::validate(&self.agents, &self.teams).map_err(|m| self.semantic(m))?;
        let w = &self.workflow;
        let auth = crate::desk::verify::setup(
            w.agent_authentication,
            &w.trusted_authserv_ids,
            &self.agents,
            None,
        );
        if let Some(e) = auth.errors.into_iter().next() {
            return Err(self.semantic(e));
        }
        let teams: std::collections::BTreeSet<String> =
            self.teams.iter().map(|t| t.name.to_lowercase()).collect();
        let rules = self.compiled_rules().map_err(|m| self.semantic(m))?;
        for (rule, team) in rules.teams() {
            if !teams.contains(&team.to_lowercase()) {
                return Err(
                    self.semantic(format!("rule \"{rule}\": team \"{team}\" is not defined"))
                );
            }
        }
        self.sla
            .validate()
            .map_err(|m| self.semantic(format!("sla: {m}")))?;
        self.kb
            .validate()
            .map_err(|m| self.semantic(format!("kb: {m}")))?;
        self.report
            .validate()
            .map_err(|m| self.semantic(format!("report: {m}")))?;
        self.spam
            .validate()
            .map_err(|m| self.semantic(format!("spam: {m}")))?;
        self.http.address().map_err(|m| self.semantic(m))?;
        self.connect.check().map_err(|m| self.semantic(m))?;
        self.alerts.validate().map_err(|m| self.semantic(m))?;
        let agent_names: Vec<&str> = self.agents.iter().map(|a| a.name.as_str()).collect();
        self.digest
            .validate(&agent_names)
            .map_err(|m| self.semantic(format!("digest: {m}")))?;
        self.approval
            .validate()
            .map_err(|m| self.semantic(format!("approval: {m}")))?;
        crate::desk::exclusion::rules::Exclusions::new(&self.exclusions)
            .map_err(|m| self.semantic(m))?;
        Ok(())
    }

    /// The classification rules, compiled.
    pub fn compiled_rules(&self) -> Result<Rules, String> {
        Rules::new(
            &self.rules,
            self.classify.default_category.clone(),
            self.classify.default_priority,
        )
    }
}

/// `auth` and the `oauth` table agree, and the table is complete.
fn auth_settings(auth: AuthMethod, oauth: Option<&OAuthConfig>) -> Result<(), String> {
    match (auth, oauth) {
        (AuthMethod::Oauth2, None) => Err(
            "auth = \"oauth2\" needs an oauth table (provider, flow, client-id, token-file; see config.example.toml)"
                .into(),
        ),
        (AuthMethod::Password, Some(_)) => {
            Err("an oauth table is set but auth = \"password\"; set auth = \"oauth2\"".into())
        }
        (AuthMethod::Oauth2, Some(o)) => o.validate().map_err(|e| format!("oauth: {e}")),
        (AuthMethod::Password, None) => Ok(()),
    }
}

/// Reads the credential `name` from systemd's credentials folder `dir`.
fn credential(dir: Option<&Path>, name: &str) -> Result<Secret, String> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(format!(
            "password-credential = \"{name}\": expected a credential name like \"imap-password\" (no slashes)"
        ));
    }
    let Some(dir) = dir else {
        return Err(format!(
            "password-credential = \"{name}\": $CREDENTIALS_DIRECTORY is not set; systemd sets it for a unit with LoadCredential={name}:FILE"
        ));
    };
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(v) => Ok(Secret(v.trim_end_matches(['\r', '\n']).to_string())),
        Err(e) => Err(format!("reading credential {}: {e}", path.display())),
    }
}

/// True for hosts that never leave this machine.
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// Turns a toml error into `file:line: section.key: message`.
fn locate(text: &str, path: &Path, e: &toml::de::Error) -> ConfigError {
    let (line, key) = match e.span() {
        Some(span) => {
            let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
            (line_no, key_at_line(text, line_no))
        }
        None => (0, String::new()),
    };
    ConfigError::Invalid {
        path: path.to_path_buf(),
        line,
        key: if key.is_empty() {
            key
        } else {
            format!("`{key}`: ")
        },
        message: e.message().trim().to_string(),
    }
}

/// The dotted key defined on a line (`section.key`), from the line itself and
/// the nearest table header above it.
fn key_at_line(text: &str, line_no: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(line) = lines.get(line_no.saturating_sub(1)) else {
        return String::new();
    };
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .unwrap_or_default();
    let header = lines[..line_no.saturating_sub(1)]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
        .unwrap_or_default();
    match (header.is_empty(), key.is_empty()) {
        (_, true) => header,
        (true, false) => key,
        (false, false) => format!("{header}.{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("/etc/postdesk.toml"), Path::new("/etc"))
    }

    #[test]
    fn empty_config_is_all_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.desk.tag_prefix, "#");
        assert_eq!(c.outbox.transport, TransportKind::Files);
        assert!(c.mailboxes.is_empty());
    }

    #[test]
    fn example_config_parses() {
        let text = include_str!("../config.example.toml");
        let c = parse(text).unwrap_or_else(|e| panic!("config.example.toml: {e}"));
        assert!(!c.mailboxes.is_empty());
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = parse("[desk]\nname = \"x\"\nadress = \"a@b\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/etc/postdesk.toml:3: `desk.adress`: "),
            "{err}"
        );
        assert!(err.contains("unknown field `adress`"), "{err}");
        assert!(
            err.contains("address"),
            "the message lists the expected keys: {err}"
        );
    }

    #[test]
    fn wrong_type_names_key_and_expectation() {
        let err = parse("[desk]\nfirst-response = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/etc/postdesk.toml:2: `desk.first-response`: "),
            "{err}"
        );
        assert!(err.contains("expected a duration like"), "{err}");
        let err = parse("[outbox]\nconcurrency = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains(":2: `outbox.concurrency`"), "{err}");
    }

    #[test]
    fn lmtp_settings_are_checked_with_their_line() {
        let base = "[[mailbox]]\nname = \"support\"\nkind = \"maildir\"\npath = \"m\"\n";
        let err = parse(&format!("{base}[lmtp]\nsocket = \"l\"\nmode = \"660x\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(":7: `lmtp.mode`"), "{err}");
        assert!(err.contains("expected octal permissions"), "{err}");
        let err = parse(&format!(
            "{base}[lmtp]\nsocket = \"l\"\nmailbox = \"helpdesk\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(
                "lmtp.mailbox = \"helpdesk\": no [[mailbox]] has that name (configured: support)"
            ),
            "{err}"
        );
        let c = parse(&format!("{base}[lmtp]\nsocket = \"l\"\n")).unwrap();
        assert_eq!(
            c.lmtp
                .mailbox_name(c.mailboxes.first().map(|m| m.name.as_str())),
            "support"
        );
        assert_eq!(c.lmtp.mode(), 0o660);
    }

    #[test]
    fn unknown_key_in_array_of_tables() {
        let err = parse(
            "[[mailbox]]\nname = \"s\"\nkind = \"maildir\"\npath = \"m\"\npasword-env = \"X\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(":5: `mailbox.pasword-env`"), "{err}");
        let err = parse("[outbox]\nhots = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains(":2: `outbox.hots`"), "{err}");
    }

    #[test]
    fn plaintext_to_remote_host_is_refused() {
        let text = "[[mailbox]]\nname = \"s\"\nkind = \"imap\"\nhost = \"imap.example.com\"\nusername = \"u\"\nsecurity = \"plain\"\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains("unencrypted"), "{err}");
        let ok = text.replace("imap.example.com", "127.0.0.1");
        parse(&ok).unwrap();
        let forced = format!("{text}allow-plaintext = true\n");
        parse(&forced).unwrap();
    }

    #[test]
    fn agents_that_cannot_prove_their_mail_are_a_config_error() {
        let agents = "[[team]]\nname = \"desk\"\n[[agent]]\nname = \"alice\"\naddresses = [\"alice@corp.test\"]\nteam = \"desk\"\n";
        let err = parse(agents).unwrap_err().to_string();
        assert!(
            err.contains("agent \"alice\" cannot prove a mail is theirs"),
            "{err}"
        );
        parse(&format!(
            "[workflow]\ntrusted-authserv-ids = [\"mx.corp.test\"]\n{agents}"
        ))
        .unwrap();
        parse(&format!(
            "[workflow]\nagent-authentication = \"none\"\n{agents}"
        ))
        .unwrap();
    }

    #[test]
    fn batch_bytes_is_a_size_with_a_default() {
        let m = "[[mailbox]]\nname = \"s\"\nkind = \"maildir\"\npath = \"m\"\n";
        assert_eq!(parse(m).unwrap().mailboxes[0].batch_bytes, 8 << 20);
        let c = parse(&format!("{m}batch-bytes = \"64MB\"\n")).unwrap();
        assert_eq!(c.mailboxes[0].batch_bytes, 64 << 20);
        let err = parse(&format!("{m}batch-bytes = 0\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("batch-bytes must be at least 1 byte"), "{err}");
        let err = parse(&format!("{m}batch-bytes = \"lots\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(":5: `mailbox.batch-bytes`"), "{err}");
        assert_eq!(
            Config::embedded(Path::new("/d")).mailboxes[0].batch_bytes,
            8 << 20
        );
    }

    #[test]
    fn a_password_comes_from_the_credentials_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("imap"), "s3cret\n").unwrap();
        assert_eq!(
            credential(Some(dir.path()), "imap").unwrap().expose(),
            "s3cret"
        );
        let err = credential(None, "imap").err().unwrap();
        assert!(err.contains("$CREDENTIALS_DIRECTORY is not set"), "{err}");
        let err = credential(Some(dir.path()), "../etc/shadow").err().unwrap();
        assert!(err.contains("no slashes"), "{err}");
        let err = credential(Some(dir.path()), "smtp").err().unwrap();
        assert!(err.contains("reading credential"), "{err}");
        let c = parse("[[mailbox]]\nname = \"s\"\nkind = \"imap\"\nhost = \"127.0.0.1\"\nusername = \"u\"\npassword-credential = \"imap\"\n").unwrap();
        assert_eq!(
            c.mailboxes[0].secret().password_credential.as_deref(),
            Some("imap")
        );
    }

    #[test]
    fn log_format_is_text_or_json() {
        assert_eq!(parse("").unwrap().log_format, LogFormat::Text);
        assert_eq!(
            parse("log-format = \"json\"\n").unwrap().log_format,
            LogFormat::Json
        );
        let err = parse("log-format = \"xml\"\n").unwrap_err().to_string();
        assert!(err.contains(":1: `log-format`"), "{err}");
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret("hunter2".into());
        assert_eq!(format!("{s:?}"), "***");
    }
}
