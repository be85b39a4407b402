//! Our own small pool of SMTP connections, for plain, STARTTLS and
//! implicit-TLS (port 465) servers.
//!
//! lettre's pool writes the end of DATA as a separate small packet on a
//! socket without TCP_NODELAY, so every mail waits for the server's delayed
//! ACK (about 40 ms measured against Postfix: the outbox could not pass
//! ~80 mails/s on 4 connections) and it sends a NOOP before each reuse. Here
//! each connection has TCP_NODELAY set and is reused while it works; a mail
//! that fails on a reused connection is tried once more on a fresh one before
//! it counts as failed (servers close idle connections).
//!
//! Each transaction is spoken here too (MAIL, RCPT, DATA on lettre's
//! connection), because a server may take only so many recipients per
//! transaction: RFC 5321 §4.5.3.1.10 has it answer the next RCPT with `452
//! too many recipients` (Postfix: `smtpd_recipient_limit`, 1000 by
//! default; many providers allow 50 or 100). lettre's `send` then fails the
//! whole mail, which the outbox retried for ever. Here the mail goes to the
//! recipients the server took, and then, in the next transaction, to the
//! rest.

use std::time::{Duration, Instant};

use lettre::Address;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism as LettreMechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::SendError;
use crate::oauth::{Mechanism, TokenSource};

/// How the pool logs in.
#[derive(Clone)]
pub enum SmtpLogin {
    /// PLAIN or LOGIN with a password (lettre's).
    Password(Credentials),
    /// XOAUTH2 or OAUTHBEARER with an access token (spoken here: lettre has
    /// no OAUTHBEARER, and its XOAUTH2 cannot answer the error challenge).
    Token {
        user: String,
        source: std::sync::Arc<TokenSource>,
        mechanism: Mechanism,
    },
}

/// One line sent as it is (`AUTH … <base64>`, or the empty abort line).
/// lettre writes each command to its debug log: main.rs caps lettre at
/// info, so the encoded token never reaches a log.
struct RawLine(String);

impl std::fmt::Display for RawLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\r\n", self.0)
    }
}

/// Idle connections older than this are closed rather than reused: servers
/// drop idle clients after a while.
const MAX_IDLE: Duration = Duration::from_secs(30);

/// The connection's encryption.
#[derive(Clone)]
pub enum PoolTls {
    /// Plain TCP (loopback, or `allow-plaintext`).
    None,
    /// Upgrade with STARTTLS before anything else (587).
    Starttls(TlsParameters),
    /// TLS from the first byte (465, RFC 8314).
    Wrapper(TlsParameters),
}

pub struct SmtpPool {
    host: String,
    port: u16,
    tls: PoolTls,
    login: Option<SmtpLogin>,
    timeout: Duration,
    max_idle_connections: usize,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl SmtpPool {
    pub fn new(
        host: String,
        port: u16,
        tls: PoolTls,
        login: Option<SmtpLogin>,
        timeout: Duration,
        max_idle_connections: usize,
    ) -> SmtpPool {
        SmtpPool {
            host,
            port,
            tls,
            login,
            timeout,
            max_idle_connections,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Hands one mail over, in as many transactions as the server needs.
    /// When one was accepted and a later one fails, the error is
    /// [`SendError::Partly`]: only the recipients it names are left.
    pub async fn send(&self, envelope: &Envelope, raw: &[u8]) -> Result<(), SendError> {
        let all = envelope.to();
        // The recipients who have the mail: always the first ones of `all`.
        let mut done = 0;
        match self.send_rest(envelope.from(), all, raw, &mut done).await {
            Ok(()) => Ok(()),
            Err(e) if done == 0 => Err(e),
            Err(e) => Err(SendError::partly(
                all[..done].iter().map(|a| a.to_string()).collect(),
                all[done..].iter().map(|a| a.to_string()).collect(),
                e,
            )),
        }
    }

    async fn send_rest(
        &self,
        from: Option<&Address>,
        all: &[Address],
        raw: &[u8],
        done: &mut usize,
    ) -> Result<(), SendError> {
        if let Some(mut conn) = self.take_idle().await {
            match self.send_on(&mut conn, from, all, raw, done).await {
                Ok(()) => {
                    self.give_back(conn).await;
                    return Ok(());
                }
                // A permanent refusal is about the mail, not the connection.
                Err(SendError::Permanent(e)) => {
                    self.give_back(conn).await;
                    return Err(SendError::Permanent(e));
                }
                // The server may have closed the idle connection: try a fresh
                // one (for the recipients still without the mail).
                Err(_) => conn.abort().await,
            }
        }
        let mut conn = self.connect().await?;
        let result = self.send_on(&mut conn, from, all, raw, done).await;
        if matches!(result, Err(SendError::Transient(_))) {
            conn.abort().await;
        } else {
            self.give_back(conn).await;
        }
        result
    }

    /// Transactions on `conn` until every recipient from `done` on has the mail.
    async fn send_on(
        &self,
        conn: &mut AsyncSmtpConnection,
        from: Option<&Address>,
        all: &[Address],
        raw: &[u8],
        done: &mut usize,
    ) -> Result<(), SendError> {
        while *done < all.len() {
            let rest = &all[*done..];
            let taken = tokio::time::timeout(self.timeout, transaction(conn, from, rest, raw))
                .await
                .map_err(|_| {
                    SendError::Transient(format!(
                        "no answer from {}:{} within {:?}",
                        self.host, self.port, self.timeout
                    ))
                })??;
            *done += taken;
        }
        Ok(())
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

    /// `AUTH XOAUTH2` / `AUTH OAUTHBEARER` with the initial response. A
    /// refused token (an error challenge, answered with the abort line, then
    /// 5xx) is renewed before the next connection; the mail waits.
    async fn token_auth(
        &self,
        conn: &mut AsyncSmtpConnection,
        user: &str,
        source: &TokenSource,
        mechanism: Mechanism,
    ) -> Result<(), SendError> {
        use base64::Engine;
        let (token, _) = source
            .access_token()
            .await
            .map_err(|e| SendError::Transient(format!("signing in to SMTP: {e}")))?;
        let first = crate::oauth::sasl::initial_response(
            mechanism,
            user,
            &self.host,
            self.port,
            token.expose(),
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(first);
        let name = mechanism.sasl_name();
        let refused = |detail: String| {
            SendError::Transient(format!(
                "SMTP {}:{}: {name} login as {user} refused: {detail}; the token is renewed for the next attempt",
                self.host, self.port
            ))
        };
        match conn.command(RawLine(format!("AUTH {name} {b64}"))).await {
            Ok(r) if r.has_code(334) => {
                let status = r
                    .first_line()
                    .and_then(|l| {
                        base64::engine::general_purpose::STANDARD
                            .decode(l.trim())
                            .ok()
                    })
                    .and_then(|j| crate::oauth::sasl::error_status(&j))
                    .unwrap_or_else(|| "no status".into());
                let end = conn
                    .command(RawLine(crate::oauth::sasl::ABORT.into()))
                    .await
                    .map(|r| r.code().to_string())
                    .unwrap_or_else(|e| e.to_string());
                source.rejected(&token).await;
                Err(refused(format!("status {status}, then {end}")))
            }
            Ok(_) => Ok(()),
            Err(e) => {
                source.rejected(&token).await;
                Err(refused(e.to_string()))
            }
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let transient = |what: &str, e: &dyn std::fmt::Display| {
            SendError::Transient(format!("{what} {}:{}: {e}", self.host, self.port))
        };
        let hello = ClientId::default();
        let tcp = match &self.tls {
            // lettre wraps the socket in TLS before the greeting; it has
            // no TCP_NODELAY for it (see the module doc).
            PoolTls::Wrapper(_) => None,
            PoolTls::None | PoolTls::Starttls(_) => {
                let connect = TcpStream::connect((self.host.as_str(), self.port));
                let tcp = tokio::time::timeout(self.timeout, connect)
                    .await
                    .map_err(|_| transient("connecting to", &"timed out"))?
                    .map_err(|e| transient("connecting to", &e))?;
                // The point of this pool: the end of DATA goes out at once.
                let _ = tcp.set_nodelay(true);
                Some(tcp)
            }
        };
        let session = async {
            let mut conn = match (tcp, &self.tls) {
                (Some(tcp), _) => {
                    AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello).await?
                }
                (None, tls) => {
                    let params = match tls {
                        PoolTls::Wrapper(p) => Some(p.clone()),
                        _ => None,
                    };
                    AsyncSmtpConnection::connect_tokio1(
                        (self.host.as_str(), self.port),
                        Some(self.timeout),
                        &hello,
                        params,
                        None,
                    )
                    .await?
                }
            };
            if let PoolTls::Starttls(tls) = &self.tls {
                conn.starttls(tls.clone(), &hello).await?;
            }
            if let Some(SmtpLogin::Password(c)) = &self.login {
                conn.auth(&[LettreMechanism::Plain, LettreMechanism::Login], c)
                    .await?;
            }
            Ok::<_, lettre::transport::smtp::Error>(conn)
        };
        match tokio::time::timeout(self.timeout, session).await {
            Ok(Ok(mut conn)) => {
                if let Some(SmtpLogin::Token {
                    user,
                    source,
                    mechanism,
                }) = &self.login
                {
                    let signed_in = tokio::time::timeout(
                        self.timeout,
                        self.token_auth(&mut conn, user, source, *mechanism),
                    )
                    .await
                    .unwrap_or_else(|_| Err(transient("SMTP AUTH at", &"timed out")));
                    if let Err(e) = signed_in {
                        conn.abort().await;
                        return Err(e);
                    }
                }
                Ok(conn)
            }
            // A refused login or a TLS failure will not mend by itself, but
            // the mail must wait for an admin's fix, not be dropped.
            Ok(Err(e)) => Err(transient("SMTP session with", &e)),
            Err(_) => Err(transient("SMTP greeting from", &"timed out")),
        }
    }
}

/// One transaction for the first recipients of `to`, as many as the server
/// takes (at least one); returns how many got the mail. Any refusal other
/// than "too many recipients" fails it, and the connection is given up (as
/// lettre's `send` does), so it is never reused in a half-known state.
async fn transaction(
    conn: &mut AsyncSmtpConnection,
    from: Option<&Address>,
    to: &[Address],
    raw: &[u8],
) -> Result<usize, SendError> {
    let info = conn.server_info();
    let mut options = Vec::new();
    if from
        .into_iter()
        .chain(to)
        .any(|a| !AsRef::<str>::as_ref(a).is_ascii())
    {
        if !info.supports_feature(Extension::SmtpUtfEight) {
            return Err(SendError::Permanent(
                "the addresses are not ASCII and the server does not offer SMTPUTF8".into(),
            ));
        }
        options.push(MailParameter::SmtpUtfEight);
    }
    if !raw.is_ascii() {
        if !info.supports_feature(Extension::EightBitMime) {
            return Err(SendError::Permanent(
                "the mail is not ASCII and the server does not offer 8BITMIME".into(),
            ));
        }
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    if let Err(e) = conn.command(Mail::new(from.cloned(), options)).await {
        return Err(given_up(conn, e).await);
    }
    let mut taken = 0;
    for rcpt in to {
        match conn.command(Rcpt::new(rcpt.clone(), Vec::new())).await {
            Ok(_) => taken += 1,
            Err(e) if taken > 0 && too_many_recipients(&e) => break,
            Err(e) => return Err(given_up(conn, e).await),
        }
    }
    if let Err(e) = conn.command(Data).await {
        return Err(given_up(conn, e).await);
    }
    if let Err(e) = conn.message(raw).await {
        return Err(given_up(conn, e).await);
    }
    Ok(taken)
}

/// The server's "no more recipients in this transaction": 452, or 552 from
/// servers that follow RFC 821's mistake (RFC 5321 says to treat it alike).
fn too_many_recipients(e: &lettre::transport::smtp::Error) -> bool {
    e.status()
        .is_some_and(|c| matches!(c.to_string().as_str(), "452" | "552"))
}

async fn given_up(conn: &mut AsyncSmtpConnection, e: lettre::transport::smtp::Error) -> SendError {
    conn.abort().await;
    if e.is_permanent() {
        SendError::Permanent(e.to_string())
    } else {
        SendError::Transient(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// A scripted SMTP server: at most `limit` recipients per transaction
    /// (then 452), `unknown@` refused for good, every mail's recipients
    /// recorded. Serves connections until the test ends.
    async fn server(limit: usize) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mails = got.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let mails = mails.clone();
                tokio::spawn(async move {
                    let (r, mut w) = sock.into_split();
                    let mut lines = BufReader::new(r).lines();
                    w.write_all(b"220 fake ESMTP\r\n").await.unwrap();
                    let mut rcpts: Vec<String> = Vec::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let up = line.to_ascii_uppercase();
                        let answer: &[u8] = if up.starts_with("EHLO") {
                            b"250-fake\r\n250 8BITMIME\r\n"
                        } else if up.starts_with("MAIL") {
                            rcpts.clear();
                            b"250 ok\r\n"
                        } else if up.starts_with("RCPT") {
                            if rcpts.len() == limit {
                                b"452 4.5.3 Error: too many recipients\r\n"
                            } else if up.contains("UNKNOWN@") {
                                b"550 5.1.1 no such user\r\n"
                            } else {
                                rcpts.push(line[8..].trim_matches(['<', '>', ' ']).to_string());
                                b"250 ok\r\n"
                            }
                        } else if up == "DATA" {
                            w.write_all(b"354 go on\r\n").await.unwrap();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                            }
                            mails.lock().unwrap().push(std::mem::take(&mut rcpts));
                            b"250 queued\r\n"
                        } else if up == "QUIT" {
                            w.write_all(b"221 bye\r\n").await.unwrap();
                            break;
                        } else {
                            b"250 ok\r\n"
                        };
                        w.write_all(answer).await.unwrap();
                    }
                });
            }
        });
        (port, got)
    }

    fn envelope(to: &[&str]) -> Envelope {
        Envelope::new(
            Some("desk@example.test".parse().unwrap()),
            to.iter().map(|a| a.parse().unwrap()).collect(),
        )
        .unwrap()
    }

    fn pool(port: u16) -> SmtpPool {
        SmtpPool::new(
            "127.0.0.1".into(),
            port,
            PoolTls::None,
            None,
            Duration::from_secs(5),
            2,
        )
    }

    #[tokio::test]
    async fn a_mail_goes_in_as_many_transactions_as_the_server_needs() {
        let (port, got) = server(2).await;
        let p = pool(port);
        let to = ["a@x.test", "b@x.test", "c@x.test", "d@x.test", "e@x.test"];
        p.send(&envelope(&to), b"Subject: hi\r\n\r\nhello\r\n")
            .await
            .unwrap();
        assert_eq!(
            *got.lock().unwrap(),
            [
                vec!["a@x.test", "b@x.test"],
                vec!["c@x.test", "d@x.test"],
                vec!["e@x.test"]
            ]
        );
    }

    #[tokio::test]
    async fn a_failure_after_the_first_transaction_names_who_is_left() {
        let (port, got) = server(2).await;
        let p = pool(port);
        let to = ["a@x.test", "b@x.test", "unknown@x.test", "d@x.test"];
        match p
            .send(&envelope(&to), b"Subject: hi\r\n\r\nhello\r\n")
            .await
        {
            Err(SendError::Partly {
                sent_to,
                left,
                error,
                permanent,
            }) => {
                assert_eq!(sent_to, ["a@x.test", "b@x.test"]);
                assert_eq!(left, ["unknown@x.test", "d@x.test"]);
                assert!(permanent && error.contains("no such user"), "{error}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(*got.lock().unwrap(), [vec!["a@x.test", "b@x.test"]]);
        // Refused before anything went: an ordinary error.
        match p.send(&envelope(&["unknown@x.test"]), b"x\r\n").await {
            Err(SendError::Permanent(e)) => assert!(e.contains("no such user"), "{e}"),
            other => panic!("{other:?}"),
        }
    }
}
