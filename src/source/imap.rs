//! The IMAP source: the only module that knows async-imap.
//!
//! Fetches new messages by UID, commits them with the checkpoint
//! (UIDVALIDITY, last UID), then marks them as configured. Waits with IDLE
//! when the server has it, polls otherwise, and reconnects with backoff.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_imap::Session;
use async_imap::extensions::idle::IdleResponse;
use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::capabilities::{self, Moving, ServerCaps};
use super::{Backoff, SharedStore, batches, import, now_ms};
use crate::config::{AfterProcessing, MailboxConfig, Secret, Security};
use crate::desk::history::{self, FirstConnect};
use crate::oauth::{AuthError, AuthMethod, Mechanism, TokenSource};
use crate::pipeline::{Engine, Incoming};
use crate::store::Checkpoint;
use crate::store::FirstConnectRow;

/// Anything we can speak IMAP over: plain TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Io for T {}

/// A logged-in IMAP session, whatever the transport.
pub type ImapSession = Session<Box<dyn Io>>;

/// An IMAP failure, sorted by what the caller should do.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// Network trouble or a server that went away: reconnect later.
    #[error("{0}")]
    Connection(String),
    /// Wrong password, no such folder, bad TLS: retrying will not help until someone fixes it.
    #[error("{0}")]
    Config(String),
    /// The access token expires soon: log in again now, with a fresh one.
    #[error("{0}")]
    Reconnect(String),
    /// The database failed: retry later.
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
}

pub(super) fn conn_err(what: &str) -> impl FnOnce(async_imap::error::Error) -> ImapError + '_ {
    move |e| ImapError::Connection(format!("{what}: {e}"))
}

/// How long one IMAP command may take before we call the connection dead.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

pub(super) async fn timed<T>(
    what: &str,
    f: impl Future<Output = Result<T, ImapError>>,
) -> Result<T, ImapError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, f).await {
        Ok(r) => r,
        Err(_) => Err(ImapError::Connection(format!(
            "{what}: no answer in {COMMAND_TIMEOUT:?}"
        ))),
    }
}

/// How a mailbox logs in.
#[derive(Debug, Clone)]
pub enum Login {
    Password(Option<Secret>),
    /// SASL with an access token from `source`.
    Token {
        source: Arc<TokenSource>,
        mechanism: Mechanism,
    },
}

impl Login {
    /// The mailbox's login as its settings say (`base_dir` resolves
    /// relative paths): the password read, or its token source.
    pub fn of(cfg: &MailboxConfig, base_dir: &std::path::Path) -> Result<Login, String> {
        match (cfg.auth, &cfg.oauth) {
            (AuthMethod::Oauth2, Some(o)) => Ok(Login::Token {
                source: TokenSource::shared(
                    &format!("mailbox {}", cfg.name),
                    cfg.username.as_deref().unwrap_or(""),
                    o,
                    base_dir,
                )?,
                mechanism: cfg.mechanism,
            }),
            _ => Ok(Login::Password(cfg.secret().load(base_dir)?)),
        }
    }

    /// The token source, for `auth = "oauth2"`.
    pub fn token_source(&self) -> Option<&Arc<TokenSource>> {
        match self {
            Login::Token { source, .. } => Some(source),
            Login::Password(_) => None,
        }
    }
}

/// Connects, secures and logs in with a password.
pub async fn connect(
    cfg: &MailboxConfig,
    password: Option<&Secret>,
) -> Result<ImapSession, ImapError> {
    connect_as(cfg, &Login::Password(password.cloned())).await
}

/// Connects, secures and logs in as `login` says.
pub async fn connect_as(cfg: &MailboxConfig, how: &Login) -> Result<ImapSession, ImapError> {
    let host = cfg.host.clone().unwrap_or_default();
    let port = cfg.imap_port();
    let tcp = tokio::time::timeout(
        Duration::from_secs(30),
        TcpStream::connect((host.as_str(), port)),
    )
    .await
    .map_err(|_| ImapError::Connection(format!("connecting to {host}:{port}: timed out")))?
    .map_err(|e| ImapError::Connection(format!("connecting to {host}:{port}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Io> = match cfg.security {
        Security::Tls => Box::new(tls_wrap(cfg, &host, tcp).await?),
        Security::Plain => {
            if !crate::config::is_loopback(&host) {
                tracing::warn!(host, "IMAP without encryption (allow-plaintext = true)");
            }
            Box::new(tcp)
        }
        Security::Starttls => {
            let mut client = async_imap::Client::new(tcp);
            read_greeting(&mut client).await?;
            timed("STARTTLS", async {
                client
                    .run_command_and_check_ok("STARTTLS", None)
                    .await
                    .map_err(|e| ImapError::Config(format!("{host}: STARTTLS refused: {e}")))
            })
            .await?;
            let tcp = client.into_inner();
            let tls = tls_wrap(cfg, &host, tcp).await?;
            // No second greeting after STARTTLS.
            return login(
                async_imap::Client::new(Box::new(tls) as Box<dyn Io>),
                cfg,
                how,
                &host,
            )
            .await;
        }
    };
    let mut client = async_imap::Client::new(stream);
    read_greeting(&mut client).await?;
    login(client, cfg, how, &host).await
}

async fn read_greeting<T: Io>(client: &mut async_imap::Client<T>) -> Result<(), ImapError> {
    match tokio::time::timeout(Duration::from_secs(30), client.read_response()).await {
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => Err(ImapError::Connection(
            "server closed the connection before greeting".into(),
        )),
        Ok(Err(e)) => Err(ImapError::Connection(format!("reading greeting: {e}"))),
        Err(_) => Err(ImapError::Connection("no greeting within 30 s".into())),
    }
}

async fn tls_wrap(
    cfg: &MailboxConfig,
    host: &str,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ImapError> {
    let ca = cfg.ca_file.as_deref();
    let config = crate::tls::client_config(ca).map_err(|e| ImapError::Config(e.to_string()))?;
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| ImapError::Config(format!("{host}: not a valid TLS server name: {e}")))?;
    tokio::time::timeout(
        Duration::from_secs(30),
        tokio_rustls::TlsConnector::from(config).connect(name, tcp),
    )
    .await
    .map_err(|_| ImapError::Connection(format!("{host}: TLS handshake timed out")))?
    .map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            ImapError::Config(format!("{host}: TLS: {e}"))
        } else {
            ImapError::Connection(format!("{host}: TLS: {e}"))
        }
    })
}

/// The client's side of AUTHENTICATE with a token: the initial response
/// to the first challenge; to an error challenge, the abort (and the
/// server's status is kept for the message).
struct TokenAuth {
    first: Option<String>,
    status: Option<String>,
}

impl async_imap::Authenticator for &mut TokenAuth {
    type Response = String;
    fn process(&mut self, challenge: &[u8]) -> String {
        match self.first.take() {
            Some(r) => r,
            None => {
                self.status = crate::oauth::sasl::error_status(challenge);
                crate::oauth::sasl::ABORT.to_string()
            }
        }
    }
}

async fn login_with_token(
    client: async_imap::Client<Box<dyn Io>>,
    cfg: &MailboxConfig,
    source: &TokenSource,
    mechanism: Mechanism,
    host: &str,
) -> Result<ImapSession, ImapError> {
    let (token, _) = source.access_token().await.map_err(|e| match e {
        AuthError::Refused(m) => ImapError::Config(m),
        AuthError::Unreachable(m) => ImapError::Connection(m),
    })?;
    let user = cfg.username.clone().unwrap_or_default();
    let mut auth = TokenAuth {
        first: Some(crate::oauth::sasl::initial_response(
            mechanism,
            &user,
            host,
            cfg.imap_port(),
            token.expose(),
        )),
        status: None,
    };
    let name = mechanism.sasl_name();
    let r = tokio::time::timeout(
        Duration::from_secs(60),
        client.authenticate(name, &mut auth),
    )
    .await;
    match r {
        Ok(Ok(s)) => Ok(s),
        Ok(Err((e, _))) => {
            // Not expired by our clock, yet refused: renew before the next try.
            source.rejected(&token).await;
            let status = auth
                .status
                .map(|s| format!(" (status {s})"))
                .unwrap_or_default();
            // A token refused is usually a token to renew: reconnect soon.
            Err(ImapError::Connection(format!(
                "{host}: {name} login as {user} refused{status}: {e}; the token is renewed for the next attempt"
            )))
        }
        Err(_) => Err(ImapError::Connection(format!("{host}: login timed out"))),
    }
}

async fn login(
    client: async_imap::Client<Box<dyn Io>>,
    cfg: &MailboxConfig,
    password: &Login,
    host: &str,
) -> Result<ImapSession, ImapError> {
    let password = match password {
        Login::Password(p) => p.as_ref(),
        Login::Token { source, mechanism } => {
            return login_with_token(client, cfg, source, *mechanism, host).await;
        }
    };
    let user = cfg.username.clone().unwrap_or_default();
    let pass = password.map(Secret::expose).unwrap_or("");
    match tokio::time::timeout(Duration::from_secs(60), client.login(&user, pass)).await {
        Ok(Ok(s)) => Ok(s),
        // The server's words, never the password.
        Ok(Err((e, _))) => Err(ImapError::Config(format!(
            "{host}: login as {user} failed: {e}"
        ))),
        Err(_) => Err(ImapError::Connection(format!("{host}: login timed out"))),
    }
}

/// The `fields` headers (`AUTHENTICATION-RESULTS`) of the newest `n`
/// messages in the selected folder, which holds `exists` messages, newest
/// first, each as its header block in the message's order. Read with
/// BODY.PEEK, so nothing is marked seen: `check` looks at what the mail
/// carries without touching it.
pub async fn newest_header_fields(
    session: &mut ImapSession,
    exists: u32,
    n: u32,
    fields: &str,
) -> Result<Vec<Vec<u8>>, ImapError> {
    if exists == 0 || n == 0 {
        return Ok(Vec::new());
    }
    let first = exists.saturating_sub(n - 1).max(1);
    let query = format!("(BODY.PEEK[HEADER.FIELDS ({fields})])");
    timed("FETCH headers", async {
        let mut stream = session
            .fetch(format!("{first}:{exists}"), &query)
            .await
            .map_err(conn_err("FETCH headers"))?;
        let mut out = Vec::new();
        while let Some(f) = stream.try_next().await.map_err(conn_err("FETCH headers"))? {
            out.push((f.message, f.header().unwrap_or_default().to_vec()));
        }
        out.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
        Ok(out.into_iter().map(|(_, h)| h).collect())
    })
    .await
}

/// A batch whose commit is running on a blocking thread.
struct InFlight {
    batch: Vec<u32>,
    max_uid: u32,
    /// When its mails were read from the server (for the latency metric).
    read_at: std::time::Instant,
    commit: tokio::task::JoinHandle<Result<crate::pipeline::Tally, crate::store::StoreError>>,
}

/// Everything one mailbox task needs.
pub struct Watcher {
    /// Shared with the supervisor that starts the task again after a panic:
    /// one copy per mailbox, not one per start (1.2 KiB inline).
    pub cfg: Arc<MailboxConfig>,
    pub login: Login,
    pub engine: Arc<Engine>,
    pub store: SharedStore,
    pub outbox: Arc<Notify>,
    pub cancel: CancellationToken,
    /// Told of every login, good check and failure.
    pub health: Arc<crate::health::Registry>,
    /// The turns to sign in, shared with every other mailbox.
    pub pacer: Arc<super::pacing::Pacer>,
}

impl Watcher {
    /// Runs until cancelled: connect, drain, wait, repeat; reconnect on failure.
    pub async fn run(self) {
        let name = self.cfg.name.clone();
        let mut backoff = Backoff::new(Duration::from_secs(300));
        let mut failing: Option<String> = None;
        while !self.cancel.is_cancelled() {
            match self.session(&mut backoff, &mut failing).await {
                Ok(()) => break,
                Err(ImapError::Reconnect(why)) => {
                    tracing::info!(mailbox = %name, "{why}");
                    continue;
                }
                Err(ImapError::Config(e)) if self.login.token_source().is_some() => {
                    // A refused sign-in does not mend by itself: said once,
                    // loudly, then tried again every few minutes (an admin
                    // may sign in again meanwhile; the new tokens are read
                    // from the file). Other mailboxes run on.
                    let delay = backoff.next_delay();
                    if failing.as_deref() != Some(e.as_str()) {
                        tracing::error!(mailbox = %name, reason = %e, retry_in = ?delay, "mailbox failing: it cannot sign in");
                        failing = Some(e);
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.cancel.cancelled() => break,
                    }
                }
                Err(e) => {
                    self.health.failed(&name, &e.to_string(), now_ms());
                    let delay = backoff.next_delay();
                    tracing::warn!(mailbox = %name, error = %e, retry_in = ?delay, "IMAP session ended");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.cancel.cancelled() => break,
                    }
                }
            }
        }
        self.health.disconnected(&name);
        tracing::info!(mailbox = %name, "IMAP watcher stopped");
    }

    /// When this session should end for a renewed token (unix seconds;
    /// `None` with a password, or when the provider gave no expiry): the
    /// token's renewal time, or, when that has passed already (the
    /// provider could not be asked and the old token is still good), its
    /// expiry, so a session does not bounce in a loop meanwhile.
    async fn session_deadline(&self) -> Option<i64> {
        let source = self.login.token_source()?;
        let renew = source.renew_at().await?;
        if renew > crate::oauth::now_s() {
            Some(renew)
        } else {
            source.expires_at().await
        }
    }

    async fn session(
        &self,
        backoff: &mut Backoff,
        failing: &mut Option<String>,
    ) -> Result<(), ImapError> {
        // Boxed, here and for the passes below: a task's future is as large
        // as the largest state it can be in, and it stays allocated for the
        // mailbox's life, almost all of it in IDLE. Inline, the sign-in, the
        // drain and the import made each mailbox's task 11.5 KiB (heaptrack,
        // 500 mailboxes); boxed, they take memory only while they run.
        let mut session = self
            .pacer
            .paced(Box::pin(connect_as(&self.cfg, &self.login)))
            .await?;
        if failing.take().is_some() {
            tracing::info!(mailbox = %self.cfg.name, "mailbox signs in again: no longer failing");
        }
        let deadline = self.session_deadline().await;
        if let Some(source) = self.login.token_source() {
            let expires = source.expires_at().await.map(|s| s * 1000);
            self.health.set_token_expiry(&self.cfg.name, expires);
            let ends = source.sign_in_expires_at().await.map(|s| s * 1000);
            self.health.set_sign_in_expiry(&self.cfg.name, ends);
        }
        let caps = capabilities(&mut session).await?;
        let can_idle = caps.idle;
        for note in capabilities::without(
            &caps,
            self.cfg.after,
            self.cfg.idle,
            self.cfg.quarantine_folder.is_some(),
        )
        .iter()
        .filter(|n| !n.contains("not needed"))
        {
            tracing::warn!(mailbox = %self.cfg.name, "the server offers {}: {note}", caps.all.join(" "));
        }
        if capabilities::after(self.cfg.after, &caps) == AfterProcessing::Move
            && let Some(folder) = &self.cfg.move_to
        {
            // Exists already is fine; a real problem shows when moving.
            let _ = timed("CREATE", async {
                session.create(folder).await.map_err(conn_err("CREATE"))
            })
            .await;
        }
        self.health.connected(&self.cfg.name);
        tracing::info!(mailbox = %self.cfg.name, idle = can_idle && self.cfg.idle, "IMAP connected");
        backoff.reset();
        let mut first = true;
        let mut extra_passes = 0;
        loop {
            // What the server said between commands so far is read by the
            // pass that starts now.
            forget_reported(&session);
            let selected = self.select(&mut session).await?;
            if std::mem::take(&mut first) {
                Box::pin(self.mark_recorded_leftovers(&mut session, selected.uidvalidity, &caps))
                    .await?;
            }
            Box::pin(self.drain(&mut session, selected, &caps)).await?;
            self.health.checked(&self.cfg.name, now_ms());
            if self.cancel.is_cancelled() {
                let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
                return Ok(());
            }
            // Servers end a session whose token expired (Microsoft 365
            // does), so we leave first: everything up to here is drained.
            let left = deadline.map(|d| {
                Duration::from_secs(d.saturating_sub(crate::oauth::now_s()).max(0) as u64)
            });
            if left == Some(Duration::ZERO) {
                let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
                return Err(ImapError::Reconnect(
                    "the access token is about to expire: signing in again with a renewed one"
                        .into(),
                ));
            }
            // At most 3 passes in a row this way: a server that repeats
            // EXISTS in every answer would otherwise never let us IDLE.
            if can_idle && self.cfg.idle && new_mail_reported(&session) && extra_passes < 3 {
                extra_passes += 1;
                // Mail that came while we were fetching or marking: the
                // server said so in an answer to one of those commands, and
                // will not say it again in IDLE (that mail waited for the
                // 5-minute re-check, seen in a test under load).
                tracing::debug!(mailbox = %self.cfg.name, "new mail reported during the pass: another pass");
                continue;
            }
            extra_passes = 0;
            if can_idle && self.cfg.idle {
                session = self.idle(session, left).await?;
            } else {
                let wait = left.map_or(self.cfg.poll_interval, |l| l.min(self.cfg.poll_interval));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.cancel.cancelled() => {}
                }
            }
            // Stopping: no new pass (SELECT, the checkpoint, UID FETCH for
            // each mailbox), just LOGOUT. What arrived meanwhile is read at
            // the next start. With the pass, 10,000 IDLE mailboxes over TLS
            // took more than 10 s to stop.
            if self.cancel.is_cancelled() {
                let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
                return Ok(());
            }
        }
    }

    async fn select(&self, session: &mut ImapSession) -> Result<Selected, ImapError> {
        select(session, &self.cfg.folder, false).await
    }

    /// Fetches and commits everything after the checkpoint.
    async fn drain(
        &self,
        session: &mut ImapSession,
        selected: Selected,
        caps: &ServerCaps,
    ) -> Result<(), ImapError> {
        let name = self.cfg.name.as_str();
        let uidvalidity = selected.uidvalidity;
        let cp = {
            let store = self.store.clone();
            let n = name.to_string();
            tokio::task::spawn_blocking(move || {
                store
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .checkpoint(&n)
            })
            .await
            .expect("checkpoint read panicked")?
        };
        let last = match cp {
            Some(cp) if cp.uidvalidity == uidvalidity => cp.last_uid,
            Some(cp) => {
                tracing::warn!(
                    mailbox = name,
                    old = cp.uidvalidity,
                    new = uidvalidity,
                    "UIDVALIDITY changed: re-reading the folder; messages already recorded are recognised by Message-ID"
                );
                0
            }
            None => self.first_connect(session, selected).await?,
        };
        self.resume_import(session).await?;
        let sizes = self.new_uids(session, last).await?;
        if sizes.is_empty() {
            return Ok(());
        }
        tracing::info!(mailbox = name, count = sizes.len(), "new messages");
        // Fetch batch k+1 while batch k is being committed: the server and
        // the database work at the same time. Commits stay in order, and a
        // batch is marked on the server only after its own commit.
        let mut in_flight: Option<InFlight> = None;
        let sized = sizes.iter().map(|(&uid, &size)| (uid, size));
        for batch in batches(sized, self.cfg.batch_size, self.cfg.batch_bytes) {
            if self.cancel.is_cancelled() {
                break;
            }
            let items = self.fetch(session, &batch).await?;
            let read_at = std::time::Instant::now();
            crate::metrics::global().fetched(name, items.len());
            if let Some(prev) = in_flight.take() {
                self.finish(session, prev, caps).await?;
            }
            let max_uid = batch.iter().copied().max().unwrap_or(last);
            let cp = Checkpoint {
                uidvalidity,
                last_uid: max_uid,
            };
            let (store, engine, mbox) = (self.store.clone(), self.engine.clone(), name.to_string());
            let commit = tokio::task::spawn_blocking(move || {
                let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
                crate::pipeline::process_batch(&mut s, &engine, &mbox, &items, Some(cp), now_ms())
            });
            in_flight = Some(InFlight {
                batch,
                max_uid,
                read_at,
                commit,
            });
        }
        if let Some(prev) = in_flight.take() {
            self.finish(session, prev, caps).await?;
        }
        Ok(())
    }

    /// The first connection to the folder (no checkpoint yet): records what
    /// was there and returns the last UID to count as done, as
    /// `on-first-connect` says ([`crate::desk::history`]). With `import`, the
    /// old mail is recorded as history before new mail is read.
    async fn first_connect(
        &self,
        session: &mut ImapSession,
        sel: Selected,
    ) -> Result<u32, ImapError> {
        let name = self.cfg.name.clone();
        let policy = self.cfg.on_first_connect;
        let uid_next = match sel.uid_next {
            Some(n) => n,
            None => uid_search(session, "ALL")
                .await?
                .last()
                .map_or(1, |u| u.saturating_add(1)),
        };
        let plan = history::first_plan(policy, uid_next);
        let row = FirstConnectRow {
            mailbox: name.clone(),
            at: now_ms(),
            policy: policy.as_str().into(),
            folder: self.cfg.folder.clone(),
            existing: i64::from(sel.exists),
            uidvalidity: sel.uidvalidity,
            below_uid: uid_next,
        };
        // Every policy keeps its position from here (`process` at 0: all the
        // mail is new), so an empty folder is not a first connection again
        // at every IDLE recheck.
        let cp = Some(Checkpoint {
            uidvalidity: sel.uidvalidity,
            last_uid: plan.last_uid,
        });
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
            let tx = s.transaction()?;
            tx.record_first_connect(&row, cp)?;
            tx.commit()
        })
        .await
        .expect("recording the first connection panicked")?;
        let folder = self.cfg.folder.as_str();
        match policy {
            FirstConnect::NewOnly if sel.exists > 0 => tracing::warn!(
                mailbox = %name,
                folder,
                existing = sel.exists,
                "first connection: {} messages already in {folder} were left alone (on-first-connect = \"new-only\"); \
                 only mail arriving from now on is handled. To record them as history: postdesk import --mailbox {name}",
                sel.exists
            ),
            FirstConnect::NewOnly => {
                tracing::info!(mailbox = %name, folder, "first connection: the folder is empty")
            }
            FirstConnect::Process => tracing::info!(
                mailbox = %name,
                folder,
                existing = sel.exists,
                "first connection: processing the {} messages already in {folder} as new (on-first-connect = \"process\")",
                sel.exists
            ),
            FirstConnect::Import => {
                tracing::info!(mailbox = %name, folder, existing = sel.exists, "first connection: importing the messages already there as history");
                self.import_own_folder(session).await?;
            }
        }
        Ok(plan.last_uid)
    }

    /// Goes on with an import of this folder that the first connection
    /// started and a crash or a stop interrupted.
    async fn resume_import(&self, session: &mut ImapSession) -> Result<(), ImapError> {
        let (store, name, folder) = (
            self.store.clone(),
            self.cfg.name.clone(),
            self.cfg.folder.clone(),
        );
        let row = tokio::task::spawn_blocking(move || {
            store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .import_state(&name, &folder)
        })
        .await
        .expect("reading the import state panicked")?;
        if row.is_some_and(|r| r.finished_at.is_none() && r.started_by == import::BY_FIRST_CONNECT)
        {
            self.import_own_folder(session).await?;
        }
        Ok(())
    }

    async fn import_own_folder(&self, session: &mut ImapSession) -> Result<(), ImapError> {
        let job = import::Job {
            cfg: &self.cfg,
            folder: &self.cfg.folder,
            since: None,
            started_by: import::BY_FIRST_CONNECT,
        };
        let mut quiet = |_: import::Progress| {};
        let done = import::imap_folder(
            session,
            &self.store,
            &self.engine,
            &job,
            &self.cancel,
            &mut quiet,
        )
        .await;
        // The import examined the folder (read-only): select it again to mark mail.
        self.select(session).await?;
        done.map(|_| ())
    }

    /// Waits for a batch's commit, then marks its messages on the server.
    async fn finish(
        &self,
        session: &mut ImapSession,
        f: InFlight,
        caps: &ServerCaps,
    ) -> Result<(), ImapError> {
        let name = self.cfg.name.as_str();
        let tally = f
            .commit
            .await
            .expect("a batch task panicked; process_batch catches panics, so this is a bug (the supervisor restarts the task)")?;
        tracing::info!(
            mailbox = name,
            ?tally,
            last_uid = f.max_uid,
            "batch committed"
        );
        crate::test_pause::here("after-commit");
        crate::metrics::global().committed(name, &tally, f.read_at);
        self.outbox.notify_one();
        let held = if tally.quarantined > 0 {
            self.quarantined_in(&f.batch).await?
        } else {
            Vec::new()
        };
        let done: Vec<u32> = f
            .batch
            .iter()
            .copied()
            .filter(|u| !held.contains(u))
            .collect();
        if !held.is_empty() {
            self.move_to_quarantine(session, &held, caps).await?;
        }
        if !done.is_empty() {
            self.mark_processed(session, &done, caps).await?;
        }
        Ok(())
    }

    /// Marks (`\Seen`, or moves) the mails at or below the checkpoint that
    /// are still unmarked: a batch committed just before a crash or a lost
    /// connection, whose marking never happened. They are recorded, so they
    /// are not fetched again; without this they stayed unread (or in the
    /// folder, with `after = "move"`) for good. Quarantined mails keep
    /// their place. Once per connection: one UID SEARCH.
    async fn mark_recorded_leftovers(
        &self,
        session: &mut ImapSession,
        uidvalidity: u32,
        caps: &ServerCaps,
    ) -> Result<(), ImapError> {
        let criteria = match self.cfg.after {
            AfterProcessing::Keep => return Ok(()),
            AfterProcessing::Seen => "UNSEEN",
            AfterProcessing::Move => "ALL",
        };
        let store = self.store.clone();
        let name = self.cfg.name.clone();
        let (cp, first) = tokio::task::spawn_blocking(move || {
            let store = store.lock().unwrap_or_else(|p| p.into_inner());
            Ok::<_, crate::store::StoreError>((
                store.checkpoint(&name)?,
                store.first_connect(&name)?,
            ))
        })
        .await
        .expect("checkpoint read panicked")?;
        // Mail that was in the folder before the first connection was left
        // alone (new-only) or read as history (import): never mark it.
        let from = first
            .filter(|f| f.uidvalidity == uidvalidity && f.policy != "process")
            .map_or(1, |f| f.below_uid.max(1));
        let last = match cp {
            Some(cp) if cp.uidvalidity == uidvalidity && cp.last_uid > 0 => cp.last_uid,
            _ => return Ok(()),
        };
        if from > last {
            return Ok(());
        }
        let query = format!("UID {from}:{last} {criteria}");
        let found = timed("UID SEARCH", async {
            session
                .uid_search(&query)
                .await
                .map_err(conn_err("UID SEARCH"))
        })
        .await?;
        let mut uids: Vec<u32> = found
            .into_iter()
            .filter(|&u| (from..=last).contains(&u))
            .collect();
        if uids.is_empty() {
            return Ok(());
        }
        uids.sort_unstable();
        let held = self.quarantined_in(&uids).await?;
        uids.retain(|u| !held.contains(u));
        if uids.is_empty() {
            return Ok(());
        }
        tracing::info!(mailbox = %self.cfg.name, count = uids.len(), "marking mail recorded before the last stop");
        self.mark_processed(session, &uids, caps).await
    }

    /// UIDs after `last` with their sizes (`None` when the server gave
    /// none), in UID order.
    async fn new_uids(
        &self,
        session: &mut ImapSession,
        last: u32,
    ) -> Result<BTreeMap<u32, Option<u64>>, ImapError> {
        uid_sizes(session, last.saturating_add(1), None).await
    }

    async fn fetch(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
    ) -> Result<Vec<Incoming>, ImapError> {
        fetch_uids(session, uids).await
    }

    /// UIDs of this batch that went to the quarantine.
    async fn quarantined_in(&self, batch: &[u32]) -> Result<Vec<u32>, ImapError> {
        let store = self.store.clone();
        let name = self.cfg.name.clone();
        let (lo, hi) = (batch[0], batch[batch.len() - 1]);
        let uids = tokio::task::spawn_blocking(move || {
            store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .quarantined_uids(&name, lo, hi)
        })
        .await
        .expect("quarantine lookup panicked")?;
        Ok(uids
            .into_iter()
            .filter(|u| batch.binary_search(u).is_ok())
            .collect())
    }

    /// Moves messages we could not process to the quarantine folder (when one
    /// is configured; otherwise they stay where they are, unflagged).
    async fn move_to_quarantine(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
        caps: &ServerCaps,
    ) -> Result<(), ImapError> {
        let Some(folder) = self.cfg.quarantine_folder.clone() else {
            return Ok(());
        };
        let set = uid_set(uids);
        if capabilities::moving(caps) == Moving::MarkSeen {
            // Unflagged, so a person looking at the folder still sees them as unread.
            tracing::warn!(mailbox = %self.cfg.name, uids = %set, folder, "unprocessable messages stay in the folder: the server can move neither with MOVE nor with UIDPLUS");
            return Ok(());
        }
        tracing::warn!(mailbox = %self.cfg.name, uids = %set, folder, "moving unprocessable messages to quarantine");
        let _ = timed("CREATE", async {
            session.create(&folder).await.map_err(conn_err("CREATE"))
        })
        .await;
        move_uids(session, &set, &folder, caps).await
    }

    async fn mark_processed(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
        caps: &ServerCaps,
    ) -> Result<(), ImapError> {
        let set = uid_set(uids);
        match capabilities::after(self.cfg.after, caps) {
            AfterProcessing::Keep => Ok(()),
            AfterProcessing::Seen => {
                timed("UID STORE", async {
                    let stream = session
                        .uid_store(&set, "+FLAGS.SILENT (\\Seen)")
                        .await
                        .map_err(conn_err("UID STORE"))?;
                    let _: Vec<_> = stream.try_collect().await.map_err(conn_err("UID STORE"))?;
                    Ok(())
                })
                .await
            }
            AfterProcessing::Move => {
                let folder = self.cfg.move_to.clone().unwrap_or_default();
                move_uids(session, &set, &folder, caps).await
            }
        }
    }

    /// Waits in IDLE until the server reports a change, the re-check time
    /// passes, or we are cancelled.
    async fn idle(
        &self,
        session: ImapSession,
        token_left: Option<Duration>,
    ) -> Result<ImapSession, ImapError> {
        // The same queue as the session's (a receiver clone takes from it):
        // the handle owns the session while it idles.
        let reported = session.unsolicited_responses.clone();
        let mut handle = session.idle();
        timed("IDLE", async {
            handle.init().await.map_err(conn_err("IDLE"))
        })
        .await?;
        // A server may tell of new mail before its `+ idling` (RFC 2177
        // allows untagged data there; Dovecot sends it after). async-imap
        // files that with the unsolicited responses and then waits for the
        // next change, so that mail waited for the re-check (5 minutes by
        // default): it is fetched at once instead.
        if any_new_mail(std::iter::from_fn(|| reported.try_recv().ok())) {
            tracing::debug!(mailbox = %self.cfg.name, "IDLE: new mail reported before idling");
        } else {
            self.wait_in_idle(&mut handle, token_left).await?;
        }
        timed("DONE", async {
            handle.done().await.map_err(conn_err("IDLE DONE"))
        })
        .await
    }

    /// Until the server reports a change, the re-check time passes, or we
    /// are cancelled.
    async fn wait_in_idle(
        &self,
        handle: &mut async_imap::extensions::idle::Handle<Box<dyn Io>>,
        token_left: Option<Duration>,
    ) -> Result<(), ImapError> {
        // Renewed well under the 29 minutes servers allow.
        let wait = self.cfg.idle_recheck.min(Duration::from_secs(20 * 60));
        // And ended when the access token is due for renewal.
        let wait = token_left.map_or(wait, |l| l.min(wait));
        let (fut, stop) = handle.wait_with_timeout(wait);
        let cancel = self.cancel.clone();
        let interrupter = tokio::spawn(async move {
            cancel.cancelled().await;
            drop(stop);
        });
        let outcome = fut.await;
        interrupter.abort();
        match outcome {
            Ok(IdleResponse::NewData(_)) => {
                tracing::debug!(mailbox = %self.cfg.name, "IDLE: server reported a change")
            }
            Ok(IdleResponse::Timeout) => {
                tracing::debug!(mailbox = %self.cfg.name, "IDLE: periodic re-check")
            }
            Ok(IdleResponse::ManualInterrupt) => {}
            Err(e) => return Err(ImapError::Connection(format!("IDLE: {e}"))),
        }
        Ok(())
    }
}

/// Empties what the server reported on its own (async-imap keeps up to
/// 100 and drops the rest).
fn forget_reported(session: &ImapSession) {
    while session.unsolicited_responses.try_recv().is_ok() {}
}

/// Whether the server reported new mail (EXISTS or RECENT) since
/// `forget_reported`; empties the list.
fn new_mail_reported(session: &ImapSession) -> bool {
    any_new_mail(std::iter::from_fn(|| {
        session.unsolicited_responses.try_recv().ok()
    }))
}

/// Whether any of `responses` tells of new mail (EXISTS or RECENT); reads
/// them all.
fn any_new_mail(responses: impl Iterator<Item = async_imap::types::UnsolicitedResponse>) -> bool {
    responses.fold(false, |new, r| {
        new | matches!(
            r,
            async_imap::types::UnsolicitedResponse::Exists(_)
                | async_imap::types::UnsolicitedResponse::Recent(_)
        )
    })
}

/// The server's capabilities, asked for after login (they may differ from
/// those before it).
pub async fn capabilities(session: &mut ImapSession) -> Result<ServerCaps, ImapError> {
    let caps = timed("CAPABILITY", async {
        session.capabilities().await.map_err(conn_err("CAPABILITY"))
    })
    .await?;
    let mut words: Vec<String> = caps
        .iter()
        .map(|c| match c {
            async_imap::types::Capability::Imap4rev1 => "IMAP4rev1".to_string(),
            async_imap::types::Capability::Auth(a) => format!("AUTH={a}"),
            async_imap::types::Capability::Atom(a) => a.to_string(),
        })
        .collect();
    // async-imap keeps them in a hash set: sorted, `check` prints the same line each time.
    words.sort();
    Ok(ServerCaps::from_words(words))
}

/// Moves the messages `set` to `folder` the way this server can: UID MOVE,
/// or UID COPY + UID STORE \Deleted + UID EXPUNGE of just those UIDs. Never
/// a plain EXPUNGE: it would also remove mail other clients marked deleted.
async fn move_uids(
    session: &mut ImapSession,
    set: &str,
    folder: &str,
    caps: &ServerCaps,
) -> Result<(), ImapError> {
    let moved =
        |e: async_imap::error::Error| ImapError::Connection(format!("moving to {folder}: {e}"));
    match capabilities::moving(caps) {
        Moving::Move => {
            timed("UID MOVE", async {
                session.uid_mv(set, folder).await.map_err(moved)
            })
            .await
        }
        Moving::CopyExpunge => {
            timed("UID COPY", async {
                session.uid_copy(set, folder).await.map_err(moved)
            })
            .await?;
            timed("UID STORE \\Deleted", async {
                let stream = session
                    .uid_store(set, "+FLAGS.SILENT (\\Deleted)")
                    .await
                    .map_err(conn_err("UID STORE"))?;
                let _: Vec<_> = stream.try_collect().await.map_err(conn_err("UID STORE"))?;
                Ok(())
            })
            .await?;
            timed("UID EXPUNGE", async {
                let stream = session
                    .uid_expunge(set)
                    .await
                    .map_err(conn_err("UID EXPUNGE"))?;
                let _: Vec<_> = stream
                    .try_collect()
                    .await
                    .map_err(conn_err("UID EXPUNGE"))?;
                Ok(())
            })
            .await
        }
        // The caller marks them seen instead (see capabilities::after).
        Moving::MarkSeen => Ok(()),
    }
}

/// What SELECT (or EXAMINE) said about a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selected {
    pub uidvalidity: u32,
    /// The UID the next message will get; `None` when the server did not say.
    pub uid_next: Option<u32>,
    /// How many messages the folder holds.
    pub exists: u32,
}

/// Selects `folder` (read-only with `examine`: an import changes nothing in
/// the folder it reads).
pub async fn select(
    session: &mut ImapSession,
    folder: &str,
    examine: bool,
) -> Result<Selected, ImapError> {
    let what = if examine { "EXAMINE" } else { "SELECT" };
    let mailbox = timed(what, async {
        let r = if examine {
            session.examine(folder).await
        } else {
            session.select(folder).await
        };
        r.map_err(|e| ImapError::Config(format!("selecting folder {folder}: {e}")))
    })
    .await?;
    Ok(Selected {
        uidvalidity: mailbox.uid_validity.unwrap_or(0),
        uid_next: mailbox.uid_next,
        exists: mailbox.exists,
    })
}

/// UIDs from `first` on (below `below`, when given) with their sizes
/// (`None` when the server gave none), in UID order.
pub async fn uid_sizes(
    session: &mut ImapSession,
    first: u32,
    below: Option<u32>,
) -> Result<BTreeMap<u32, Option<u64>>, ImapError> {
    let first = first.max(1);
    let range = match below {
        Some(b) if b <= first => return Ok(BTreeMap::new()),
        Some(b) => format!("{first}:{}", b - 1),
        None => format!("{first}:*"),
    };
    timed("UID FETCH sizes", async {
        let mut stream = session
            .uid_fetch(&range, "(UID RFC822.SIZE)")
            .await
            .map_err(conn_err("UID FETCH sizes"))?;
        // Taken as they arrive: each response holds a buffer of its own
        // (4 KiB) until dropped, so collecting them first held 41 MB for
        // a backlog of 10,000 and grew with every waiting message.
        let mut sizes = BTreeMap::new();
        while let Some(f) = stream
            .try_next()
            .await
            .map_err(conn_err("UID FETCH sizes"))?
        {
            // "n:*" always matches the last message, even when its UID is below n.
            if let Some(uid) = f.uid.filter(|&u| u >= first && below.is_none_or(|b| u < b)) {
                sizes.insert(uid, f.size.map(u64::from));
            }
        }
        Ok(sizes)
    })
    .await
}

/// UIDs of the selected folder that match an IMAP SEARCH `criteria`, sorted.
pub async fn uid_search(session: &mut ImapSession, criteria: &str) -> Result<Vec<u32>, ImapError> {
    timed("UID SEARCH", async {
        let found = session
            .uid_search(criteria)
            .await
            .map_err(conn_err("UID SEARCH"))?;
        let mut uids: Vec<u32> = found.into_iter().collect();
        uids.sort_unstable();
        Ok(uids)
    })
    .await
}

/// The messages `uids` (sorted), read without marking them seen.
pub async fn fetch_uids(
    session: &mut ImapSession,
    uids: &[u32],
) -> Result<Vec<Incoming>, ImapError> {
    let set = uid_set(uids);
    timed("UID FETCH", async {
        let mut stream = session
            .uid_fetch(&set, "(UID BODY.PEEK[])")
            .await
            .map_err(conn_err("UID FETCH"))?;
        // Each response is copied out and dropped at once, so a batch is
        // in memory once, not twice (responses and copies).
        let mut items: Vec<Incoming> = Vec::with_capacity(uids.len());
        while let Some(f) = stream.try_next().await.map_err(conn_err("UID FETCH"))? {
            if let Some(uid) = f.uid.filter(|u| uids.binary_search(u).is_ok()) {
                items.push(Incoming {
                    raw: f.body().unwrap_or_default().to_vec(),
                    uid: Some(uid),
                });
            }
        }
        items.sort_by_key(|i| i.uid);
        items.dedup_by_key(|i| i.uid);
        Ok(items)
    })
    .await
}

/// A compact IMAP UID set: `1:5,7,9:12`. `uids` must be sorted.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What one IDLE mailbox's task holds for its whole life, and each of
    /// 10,000 mailboxes pays it: 11.5 KiB (heaptrack) with the sign-in, the
    /// drain and the import inline (see `Watcher::session`), 4.8 KiB boxed
    /// with the mailbox's settings inline, 2.4 KiB with them shared.
    #[test]
    fn a_mailbox_task_is_small() {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::config::Config::embedded(dir.path());
        let engine = Arc::new(Engine::new(config.clone()).unwrap());
        let store = Arc::new(std::sync::Mutex::new(engine.open_store().unwrap()));
        let w = Watcher {
            cfg: Arc::new(config.mailboxes[0].clone()),
            login: Login::Password(None),
            engine,
            store,
            outbox: Arc::new(Notify::new()),
            cancel: CancellationToken::new(),
            health: Arc::new(crate::health::Registry::new()),
            pacer: Arc::new(super::super::pacing::Pacer::new(&Default::default())),
        };
        let task = w.run();
        let size = std::mem::size_of_val(&task);
        eprintln!("Watcher::run future: {size} bytes");
        assert!(size <= 3 * 1024, "{size} bytes");
    }

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(uid_set(&[4]), "4");
        assert_eq!(uid_set(&[]), "");
    }
}
