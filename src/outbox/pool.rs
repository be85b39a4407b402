//! Our own small pool of SMTP connections, for plain and STARTTLS servers.
//!
//! lettre's pool writes the end of DATA as a separate small packet on a
//! socket without TCP_NODELAY, so every mail waits for the server's delayed
//! ACK (about 40 ms measured against Postfix: the outbox could not pass
//! ~80 mails/s on 4 connections) and it sends a NOOP before each reuse. Here
//! each connection has TCP_NODELAY set and is reused while it works; a mail
//! that fails on a reused connection is tried once more on a fresh one before
//! it counts as failed (servers close idle connections).

use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::SendError;

/// Idle connections older than this are closed rather than reused: servers
/// drop idle clients after a while.
const MAX_IDLE: Duration = Duration::from_secs(30);

pub struct SmtpPool {
    host: String,
    port: u16,
    /// Upgrade with STARTTLS before anything else.
    starttls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    timeout: Duration,
    max_idle_connections: usize,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl SmtpPool {
    pub fn new(
        host: String,
        port: u16,
        starttls: Option<TlsParameters>,
        credentials: Option<Credentials>,
        timeout: Duration,
        max_idle_connections: usize,
    ) -> SmtpPool {
        SmtpPool {
            host,
            port,
            starttls,
            credentials,
            timeout,
            max_idle_connections,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Hands one mail over.
    pub async fn send(&self, envelope: &Envelope, raw: &[u8]) -> Result<(), SendError> {
        if let Some(mut conn) = self.take_idle().await {
            match self.send_on(&mut conn, envelope, raw).await {
                Ok(()) => {
                    self.give_back(conn).await;
                    return Ok(());
                }
                // A permanent refusal is about the mail, not the connection.
                Err(SendError::Permanent(e)) => {
                    self.give_back(conn).await;
                    return Err(SendError::Permanent(e));
                }
                // The server may have closed the idle connection: try a fresh one.
                Err(SendError::Transient(_)) => conn.abort().await,
            }
        }
        let mut conn = self.connect().await?;
        let result = self.send_on(&mut conn, envelope, raw).await;
        if matches!(result, Err(SendError::Transient(_))) {
            conn.abort().await;
        } else {
            self.give_back(conn).await;
        }
        result
    }

    /// Connects, logs in and says goodbye (for `postdesk check`).
    pub async fn test(&self) -> Result<(), SendError> {
        let mut conn = self.connect().await?;
        let _ = conn.quit().await;
        Ok(())
    }

    async fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        let mut idle = self.idle.lock().await;
        while let Some((conn, since)) = idle.pop() {
            if since.elapsed() < MAX_IDLE && !conn.has_broken() {
                return Some(conn);
            }
        }
        None
    }

    async fn give_back(&self, conn: AsyncSmtpConnection) {
        if conn.has_broken() {
            return;
        }
        let mut idle = self.idle.lock().await;
        if idle.len() < self.max_idle_connections {
            idle.push((conn, Instant::now()));
        }
    }

    async fn send_on(
        &self,
        conn: &mut AsyncSmtpConnection,
        envelope: &Envelope,
        raw: &[u8],
    ) -> Result<(), SendError> {
        match tokio::time::timeout(self.timeout, conn.send(envelope, raw)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Ok(Err(e)) => Err(SendError::Transient(e.to_string())),
            Err(_) => Err(SendError::Transient(format!(
                "no answer from {}:{} within {:?}",
                self.host, self.port, self.timeout
            ))),
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let transient = |what: &str, e: &dyn std::fmt::Display| {
            SendError::Transient(format!("{what} {}:{}: {e}", self.host, self.port))
        };
        let connect = TcpStream::connect((self.host.as_str(), self.port));
        let tcp = tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|_| transient("connecting to", &"timed out"))?
            .map_err(|e| transient("connecting to", &e))?;
        // The point of this pool: the end of DATA goes out at once.
        let _ = tcp.set_nodelay(true);
        let hello = ClientId::default();
        let session = async {
            let mut conn =
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello).await?;
            if let Some(tls) = &self.starttls {
                conn.starttls(tls.clone(), &hello).await?;
            }
            if let Some(c) = &self.credentials {
                conn.auth(&[Mechanism::Plain, Mechanism::Login], c).await?;
            }
            Ok::<_, lettre::transport::smtp::Error>(conn)
        };
        match tokio::time::timeout(self.timeout, session).await {
            Ok(Ok(conn)) => Ok(conn),
            // A refused login or a TLS failure will not mend by itself, but
            // the mail must wait for an admin's fix, not be dropped.
            Ok(Err(e)) => Err(transient("SMTP session with", &e)),
            Err(_) => Err(transient("SMTP greeting from", &"timed out")),
        }
    }
}
