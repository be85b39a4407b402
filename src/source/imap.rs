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

use super::{Backoff, SharedStore, batches, now_ms};
use crate::config::{AfterProcessing, MailboxConfig, Secret, Security};
use crate::pipeline::{Engine, Incoming};
use crate::store::Checkpoint;

/// Anything we can speak IMAP over: plain TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Io for T {}

type ImapSession = Session<Box<dyn Io>>;

/// An IMAP failure, sorted by what the caller should do.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// Network trouble or a server that went away: reconnect later.
    #[error("{0}")]
    Connection(String),
    /// Wrong password, no such folder, bad TLS: retrying will not help until someone fixes it.
    #[error("{0}")]
    Config(String),
    /// The database failed: retry later.
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
}

fn conn_err(what: &str) -> impl FnOnce(async_imap::error::Error) -> ImapError + '_ {
    move |e| ImapError::Connection(format!("{what}: {e}"))
}

/// How long one IMAP command may take before we call the connection dead.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

async fn timed<T>(
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

/// Connects, secures and logs in.
pub async fn connect(
    cfg: &MailboxConfig,
    password: Option<&Secret>,
) -> Result<ImapSession, ImapError> {
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
                password,
                &host,
            )
            .await;
        }
    };
    let mut client = async_imap::Client::new(stream);
    read_greeting(&mut client).await?;
    login(client, cfg, password, &host).await
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

async fn login(
    client: async_imap::Client<Box<dyn Io>>,
    cfg: &MailboxConfig,
    password: Option<&Secret>,
    host: &str,
) -> Result<ImapSession, ImapError> {
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
    pub cfg: MailboxConfig,
    pub password: Option<Secret>,
    pub engine: Arc<Engine>,
    pub store: SharedStore,
    pub outbox: Arc<Notify>,
    pub cancel: CancellationToken,
    /// Told of every login, good check and failure.
    pub health: Arc<crate::health::Registry>,
}

impl Watcher {
    /// Runs until cancelled: connect, drain, wait, repeat; reconnect on failure.
    pub async fn run(self) {
        let name = self.cfg.name.clone();
        let mut backoff = Backoff::new(Duration::from_secs(300));
        while !self.cancel.is_cancelled() {
            match self.session(&mut backoff).await {
                Ok(()) => break,
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

    async fn session(&self, backoff: &mut Backoff) -> Result<(), ImapError> {
        let mut session = connect(&self.cfg, self.password.as_ref()).await?;
        let caps = timed("CAPABILITY", async {
            session.capabilities().await.map_err(conn_err("CAPABILITY"))
        })
        .await?;
        let can_idle = caps.has_str("IDLE");
        if self.cfg.after == AfterProcessing::Move
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
        loop {
            let uidvalidity = self.select(&mut session).await?;
            self.drain(&mut session, uidvalidity).await?;
            self.health.checked(&self.cfg.name, now_ms());
            if self.cancel.is_cancelled() {
                let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
                return Ok(());
            }
            if can_idle && self.cfg.idle {
                session = self.idle(session).await?;
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(self.cfg.poll_interval) => {}
                    _ = self.cancel.cancelled() => {}
                }
            }
        }
    }

    async fn select(&self, session: &mut ImapSession) -> Result<u32, ImapError> {
        let folder = &self.cfg.folder;
        let mailbox = timed("SELECT", async {
            session
                .select(folder)
                .await
                .map_err(|e| ImapError::Config(format!("selecting folder {folder}: {e}")))
        })
        .await?;
        Ok(mailbox.uid_validity.unwrap_or(0))
    }

    /// Fetches and commits everything after the checkpoint.
    async fn drain(&self, session: &mut ImapSession, uidvalidity: u32) -> Result<(), ImapError> {
        let name = self.cfg.name.as_str();
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
            None => 0,
        };
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
                self.finish(session, prev).await?;
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
            self.finish(session, prev).await?;
        }
        Ok(())
    }

    /// Waits for a batch's commit, then marks its messages on the server.
    async fn finish(&self, session: &mut ImapSession, f: InFlight) -> Result<(), ImapError> {
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
            self.move_to_quarantine(session, &held).await?;
        }
        if !done.is_empty() {
            self.mark_processed(session, &done).await?;
        }
        Ok(())
    }

    /// UIDs after `last` with their sizes (`None` when the server gave
    /// none), in UID order.
    async fn new_uids(
        &self,
        session: &mut ImapSession,
        last: u32,
    ) -> Result<BTreeMap<u32, Option<u64>>, ImapError> {
        let range = format!("{}:*", last.saturating_add(1));
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
                if let Some(uid) = f.uid.filter(|&u| u > last) {
                    sizes.insert(uid, f.size.map(u64::from));
                }
            }
            Ok(sizes)
        })
        .await
    }

    async fn fetch(
        &self,
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
    ) -> Result<(), ImapError> {
        let Some(folder) = self.cfg.quarantine_folder.clone() else {
            return Ok(());
        };
        let set = uid_set(uids);
        tracing::warn!(mailbox = %self.cfg.name, uids = %set, folder, "moving unprocessable messages to quarantine");
        timed("UID MOVE quarantine", async {
            let _ = session.create(&folder).await;
            session
                .uid_mv(&set, &folder)
                .await
                .map_err(|e| ImapError::Connection(format!("moving to {folder}: {e}")))
        })
        .await
    }

    async fn mark_processed(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
    ) -> Result<(), ImapError> {
        let set = uid_set(uids);
        match self.cfg.after {
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
                timed("UID MOVE", async {
                    session
                        .uid_mv(&set, &folder)
                        .await
                        .map_err(|e| ImapError::Connection(format!("moving to {folder}: {e}")))
                })
                .await
            }
        }
    }

    /// Waits in IDLE until the server reports a change, the re-check time
    /// passes, or we are cancelled.
    async fn idle(&self, session: ImapSession) -> Result<ImapSession, ImapError> {
        let mut handle = session.idle();
        timed("IDLE", async {
            handle.init().await.map_err(conn_err("IDLE"))
        })
        .await?;
        // Renewed well under the 29 minutes servers allow.
        let wait = self.cfg.idle_recheck.min(Duration::from_secs(20 * 60));
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
        timed("DONE", async {
            handle.done().await.map_err(conn_err("IDLE DONE"))
        })
        .await
    }
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

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(uid_set(&[4]), "4");
        assert_eq!(uid_set(&[]), "");
    }
}
