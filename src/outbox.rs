//! The sender task: drains the outbox table through SMTP, sendmail or files.
//!
//! Mail is in the outbox before anyone tries to send it, so an SMTP outage
//! delays mail and never loses it. A crash after the server accepted a mail
//! but before we recorded it sends that mail again with the same Message-ID:
//! the one duplicate we allow.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use lettre::address::Envelope;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSendmailTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, OutboxConfig, Security, TransportKind};

mod pool;
use crate::source::now_ms;
use crate::store::{Delivery, DueMail, Store};

/// After this many failed attempts a mail is marked failed for an admin to look at.
const MAX_ATTEMPTS: i64 = 50;

/// Why a transport could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("outbox: {0}")]
pub struct TransportError(String);

/// How one mail leaves.
pub enum Transport {
    /// Implicit TLS (port 465): lettre's transport.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Plain or STARTTLS: our pool with TCP_NODELAY (see `pool`).
    Pool(pool::SmtpPool),
    Sendmail(AsyncSendmailTransport<Tokio1Executor>),
    /// Each mail becomes `<Message-ID>.eml` in this folder.
    Files(PathBuf),
}

/// The result of one attempt.
#[derive(Debug)]
pub enum SendError {
    /// Try again later (4xx, network, timeout).
    Transient(String),
    /// Will never work (5xx: unknown recipient, rejected content).
    Permanent(String),
    /// The mail went in several transactions (the server took only so many
    /// recipients at a time) and one after the first failed: `sent_to`
    /// have it, only `left` must be tried again (or given up, when
    /// `permanent`).
    Partly {
        sent_to: Vec<String>,
        left: Vec<String>,
        error: String,
        permanent: bool,
    },
}

impl SendError {
    /// `error` for the recipients `left`, after `sent_to` got the mail.
    pub fn partly(sent_to: Vec<String>, left: Vec<String>, error: SendError) -> SendError {
        let (error, permanent) = match error {
            SendError::Transient(e) => (e, false),
            SendError::Permanent(e) => (e, true),
            SendError::Partly {
                error, permanent, ..
            } => (error, permanent),
        };
        SendError::Partly {
            sent_to,
            left,
            error,
            permanent,
        }
    }
}

impl Transport {
    /// Builds the configured transport; reads the SMTP password now.
    pub fn from_config(cfg: &Config) -> Result<Transport, TransportError> {
        Transport::from_settings(cfg, &cfg.outbox)
    }

    /// Builds the transport `o` describes (the desk's `[outbox]` or a
    /// mailbox's own); paths resolve against the config's folder.
    pub fn from_settings(cfg: &Config, o: &OutboxConfig) -> Result<Transport, TransportError> {
        match o.transport {
            TransportKind::Files => Ok(Transport::Files(cfg.resolve(&o.dir))),
            TransportKind::Sendmail => Ok(Transport::Sendmail(AsyncSendmailTransport::<
                Tokio1Executor,
            >::new_with_command(
                cfg.resolve(&o.sendmail_command)
            ))),
            TransportKind::Smtp => smtp(cfg, o),
        }
    }

    /// Hands one mail over.
    pub async fn send(&self, mail: &DueMail) -> Result<(), SendError> {
        let envelope = envelope(mail).map_err(SendError::Permanent)?;
        match self {
            Transport::Pool(p) => p.send(&envelope, &mail.raw).await,
            Transport::Smtp(t) => t
                .send_raw(&envelope, &mail.raw)
                .await
                .map(|_| ())
                .map_err(|e| {
                    if e.is_permanent() {
                        SendError::Permanent(e.to_string())
                    } else {
                        SendError::Transient(e.to_string())
                    }
                }),
            Transport::Sendmail(t) => t
                .send_raw(&envelope, &mail.raw)
                .await
                .map_err(|e| SendError::Transient(e.to_string())),
            Transport::Files(dir) => write_file(dir, mail).await.map_err(SendError::Transient),
        }
    }

    /// Checks that the server answers and accepts our login (for `postdesk check`).
    pub async fn test(&self) -> Result<String, String> {
        match self {
            Transport::Pool(p) => match p.test().await {
                Ok(()) => Ok("SMTP server answered and accepted the connection".into()),
                Err(
                    SendError::Transient(e)
                    | SendError::Permanent(e)
                    | SendError::Partly { error: e, .. },
                ) => Err(format!("SMTP: {e}")),
            },
            Transport::Smtp(t) => match t.test_connection().await {
                Ok(true) => Ok("SMTP server answered and accepted the connection".into()),
                Ok(false) => Err("SMTP server did not answer as expected".into()),
                Err(e) => Err(format!("SMTP: {e}")),
            },
            Transport::Sendmail(_) => {
                Ok("sendmail transport (not tested: it would send mail)".into())
            }
            Transport::Files(dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| format!("creating {}: {e}", dir.display()))?;
                Ok(format!("mail is written as files into {}", dir.display()))
            }
        }
    }
}

fn smtp(cfg: &Config, o: &OutboxConfig) -> Result<Transport, TransportError> {
    let host = o.host.clone().unwrap_or_default();
    let tls_params = || -> Result<TlsParameters, TransportError> {
        let mut b = TlsParameters::builder(host.clone());
        if let Some(ca) = &o.ca_file {
            let pem = std::fs::read(cfg.resolve(ca))
                .map_err(|e| TransportError(format!("reading ca-file {}: {e}", ca.display())))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| TransportError(format!("ca-file {}: {e}", ca.display())))?;
            b = b.add_root_certificate(cert);
        }
        b.build_rustls()
            .map_err(|e| TransportError(format!("TLS setup: {e}")))
    };
    let tls = match o.security {
        Security::Tls => Tls::Wrapper(tls_params()?),
        Security::Starttls => Tls::Required(tls_params()?),
        Security::Plain => {
            if !crate::config::is_loopback(&host) {
                tracing::warn!(host, "SMTP without encryption (allow-plaintext = true)");
            }
            Tls::None
        }
    };
    let credentials = match (&o.username, o.auth, &o.oauth) {
        (Some(user), crate::oauth::AuthMethod::Oauth2, Some(oauth)) => {
            let source = crate::oauth::TokenSource::shared("outbox", user, oauth, &cfg.base_dir)
                .map_err(TransportError)?;
            Some(pool::SmtpLogin::Token {
                user: user.clone(),
                source,
                mechanism: o.mechanism,
            })
        }
        (Some(user), _, _) => {
            let pass = o
                .secret()
                .load(&cfg.base_dir)
                .map_err(TransportError)?
                .ok_or_else(|| {
                    TransportError(
                        "outbox.username is set but no password-env or password-file".into(),
                    )
                })?;
            Some(pool::SmtpLogin::Password(Credentials::new(
                user.clone(),
                pass.expose().to_string(),
            )))
        }
        (None, _, _) => None,
    };
    let tls = match (tls, &credentials) {
        // A token login is spoken by our pool (lettre's SASL cannot read
        // the server's error challenge); on 465 too.
        (Tls::Wrapper(params), Some(pool::SmtpLogin::Token { .. })) => {
            pool::PoolTls::Wrapper(params)
        }
        (Tls::Wrapper(tls_params), _) => {
            let tls = Tls::Wrapper(tls_params);
            let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                .port(o.smtp_port())
                .tls(tls)
                .timeout(Some(o.timeout))
                .pool_config(PoolConfig::new().max_size(o.concurrency as u32));
            if let Some(pool::SmtpLogin::Password(c)) = credentials {
                b = b.credentials(c);
            }
            return Ok(Transport::Smtp(b.build()));
        }
        (Tls::Required(params), _) => pool::PoolTls::Starttls(params),
        _ => pool::PoolTls::None,
    };
    Ok(Transport::Pool(pool::SmtpPool::new(
        host,
        o.smtp_port(),
        tls,
        credentials,
        o.timeout,
        o.concurrency,
    )))
}

fn envelope(mail: &DueMail) -> Result<Envelope, String> {
    let from = mail
        .mail_from
        .parse()
        .map_err(|e| format!("sender {}: {e}", mail.mail_from))?;
    let to = mail
        .rcpt
        .iter()
        .map(|r| r.parse().map_err(|e| format!("recipient {r}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Envelope::new(Some(from), to).map_err(|e| e.to_string())
}

/// Writes a mail atomically (temp file, then rename) so a reader never sees half of one.
async fn write_file(dir: &std::path::Path, mail: &DueMail) -> Result<(), String> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let safe: String = mail
        .message_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let tmp = dir.join(format!(".{safe}.tmp"));
    let dest = dir.join(format!("{safe}.eml"));
    write_private(&tmp, &mail.raw)
        .await
        .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    tokio::fs::rename(&tmp, &dest)
        .await
        .map_err(|e| format!("renaming to {}: {e}", dest.display()))
}

/// Writes `bytes` readable by this user only (0600), like the database
/// and exports: the outbox folder holds people's mail.
async fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).await?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .await?;
    }
    file.write_all(bytes).await?;
    file.flush().await
}

/// The delay before attempt `attempts + 1`: doubling from `initial`, capped at `max`.
pub fn retry_delay(attempts: i64, initial: Duration, max: Duration) -> Duration {
    let factor = 1u32 << attempts.clamp(0, 20) as u32;
    initial.saturating_mul(factor).min(max)
}

/// The sender task.
pub struct Sender {
    pub transport: Arc<Transport>,
    /// Mailboxes' own transports, by the address they send as (lower case):
    /// a mail whose envelope sender is one of them leaves that way.
    pub routes: Vec<(String, Arc<Transport>)>,
    pub store: Arc<Mutex<Store>>,
    pub cfg: OutboxConfig,
    pub notify: Arc<Notify>,
    pub cancel: CancellationToken,
}

impl Sender {
    pub async fn run(self) {
        tracing::info!(transport = ?self.cfg.transport, "outbox sender started");
        loop {
            match self.pass().await {
                Ok(0) => {
                    if self.cancel.is_cancelled() {
                        break;
                    }
                    self.wait().await;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "outbox pass failed; retrying in 5 s");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                        _ = self.cancel.cancelled() => break,
                    }
                }
            }
            if self.cancel.is_cancelled() {
                break;
            }
        }
        tracing::info!("outbox sender stopped");
    }

    /// Sleeps until new mail is queued, a retry is due, or shutdown.
    async fn wait(&self) {
        let store = self.store.clone();
        let next = tokio::task::spawn_blocking(move || {
            store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .next_outbox_due()
        })
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
        let sleep = match next {
            Some(at) => Duration::from_millis((at - now_ms()).clamp(0, 5_000) as u64),
            // Mail queued by another process (`postdesk ingest`) is seen within seconds.
            None => Duration::from_secs(5),
        };
        tokio::select! {
            _ = self.notify.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
            _ = self.cancel.cancelled() => {}
        }
    }

    /// Sends what is due; returns how many mails were attempted.
    async fn pass(&self) -> Result<usize, crate::store::StoreError> {
        let store = self.store.clone();
        let limit = self.cfg.concurrency * 8;
        let due = tokio::task::spawn_blocking(move || {
            store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .due_outbox(now_ms(), limit)
        })
        .await
        .expect("outbox query panicked")?;
        if due.is_empty() {
            return Ok(0);
        }
        let n = due.len();
        // Each outcome is recorded as soon as it is known (those that finish
        // together in one commit), not at the end of the pass: a crash then
        // resends only the mails in flight, at most `concurrency`, instead of
        // everything the pass had handed over already.
        let mut outcomes = futures_util::stream::iter(due)
            .map(|mail| self.deliver(mail))
            .buffer_unordered(self.cfg.concurrency)
            .ready_chunks(self.cfg.concurrency.max(1));
        while let Some(done) = outcomes.next().await {
            // Counted once committed, so that `/metrics` never shows a mail
            // as sent while the outbox gauge still holds it (CI saw
            // sent=3 with queued=1 between the hand-over and the commit).
            let kinds: Vec<&'static str> = done.iter().map(Delivery::outcome).collect();
            self.record(done).await?;
            for kind in kinds {
                crate::metrics::global().send(kind);
            }
        }
        Ok(n)
    }

    async fn record(&self, outcomes: Vec<Delivery>) -> Result<(), crate::store::StoreError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .record_deliveries(&outcomes)
        })
        .await
        .expect("outbox update panicked")
    }

    /// The transport for mail sent as `mail_from`.
    fn transport_for(&self, mail_from: &str) -> &Transport {
        self.routes
            .iter()
            .find(|(addr, _)| addr.eq_ignore_ascii_case(mail_from))
            .map_or(&*self.transport, |(_, t)| &**t)
    }

    async fn deliver(&self, mail: DueMail) -> Delivery {
        match self.transport_for(&mail.mail_from).send(&mail).await {
            Ok(()) => {
                tracing::debug!(id = mail.id, message_id = %mail.message_id, "mail handed over");
                Delivery::Sent {
                    id: mail.id,
                    at: now_ms(),
                }
            }
            Err(SendError::Permanent(error)) => {
                tracing::error!(id = mail.id, to = ?mail.rcpt, %error, "mail refused for good");
                Delivery::Failed { id: mail.id, error }
            }
            Err(SendError::Transient(error)) if mail.attempts + 1 >= MAX_ATTEMPTS => {
                tracing::error!(id = mail.id, %error, "giving up after {MAX_ATTEMPTS} attempts");
                Delivery::Failed { id: mail.id, error }
            }
            Err(SendError::Transient(error)) => {
                let delay = retry_delay(mail.attempts, self.cfg.retry_initial, self.cfg.retry_max);
                tracing::warn!(id = mail.id, %error, retry_in = ?delay, "mail not sent yet");
                Delivery::Retry {
                    id: mail.id,
                    error,
                    next_at: now_ms() + delay.as_millis() as i64,
                }
            }
            Err(SendError::Partly {
                sent_to,
                left,
                error,
                permanent,
            }) => {
                let error = format!(
                    "sent to {}; not to {}: {error}",
                    sent_to.join(", "),
                    left.join(", ")
                );
                let next_at = (!permanent && mail.attempts + 1 < MAX_ATTEMPTS).then(|| {
                    let delay =
                        retry_delay(mail.attempts, self.cfg.retry_initial, self.cfg.retry_max);
                    now_ms() + delay.as_millis() as i64
                });
                tracing::warn!(id = mail.id, %error, retry = next_at.is_some(), "mail sent in part");
                Delivery::Partly {
                    id: mail.id,
                    left,
                    error,
                    next_at,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn mail_files_are_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mail = DueMail {
            id: 1,
            mail_from: "desk@example.test".into(),
            rcpt: vec!["ann@corp.test".into()],
            raw: b"Subject: hi\r\n\r\nprivate\r\n".to_vec(),
            message_id: "pd.1.x@example.test".into(),
            attempts: 0,
        };
        write_file(dir.path(), &mail).await.unwrap();
        let file = dir.path().join("pd.1.x@example.test.eml");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read(&file).unwrap(), mail.raw);
    }

    #[test]
    fn retry_delay_doubles_and_caps() {
        let i = Duration::from_secs(30);
        let m = Duration::from_secs(3600);
        assert_eq!(retry_delay(0, i, m), Duration::from_secs(30));
        assert_eq!(retry_delay(1, i, m), Duration::from_secs(60));
        assert_eq!(retry_delay(3, i, m), Duration::from_secs(240));
        assert_eq!(retry_delay(10, i, m), m);
        assert_eq!(retry_delay(1000, i, m), m);
    }
}
