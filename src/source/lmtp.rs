//! LMTP (RFC 2033) on a Unix socket: the daemon takes mail from the MTA
//! itself. Postfix delivers to it with `lmtp:unix:/run/postdesk/lmtp` (no
//! process per mail), and `postdesk ingest` hands its mail to the running
//! daemon through it ([`client`]) instead of opening the database, reading
//! its schema and compiling templates in every process.
//!
//! A mail is answered `250` only once its commit is on disk (this source's
//! own connection commits with `synchronous=FULL`): the MTA deletes its
//! copy on that answer. Anything short of it is a `451`, and the MTA keeps
//! the mail and tries again; a mail committed just before the connection
//! broke is then recognised by its Message-ID and not recorded twice.
//!
//! One copy is recorded per DATA, however many recipients it had (they are
//! all this desk); each accepted recipient gets the same answer.

pub mod client;
pub mod settings;

pub use settings::LmtpConfig;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::UnixListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{SharedStore, commit_batch, now_ms};
use crate::pipeline::{Engine, Incoming, Tally};

/// The largest mail taken (the MTA bounces a larger one to its sender with
/// our `552`). Mail is held in memory whole while it is recorded; 64 MiB is
/// above what mail systems pass on (Microsoft 365 and Gmail stop at 150 MB
/// and 25 MB of attachments before encoding).
pub const MAX_MESSAGE: usize = 64 << 20;
/// A command line longer than this is refused (RFC 5321 allows 512).
const MAX_LINE: usize = 4096;
/// Recipients of one transaction (RFC 5321's minimum to accept is 100).
const MAX_RECIPIENTS: usize = 100;
/// A client silent this long is let go (RFC 5321 §4.5.3.2: 5 minutes).
const IDLE: Duration = Duration::from_secs(300);

/// A bound socket and what it needs to record mail.
pub struct Listener {
    pub listener: UnixListener,
    pub path: PathBuf,
    pub mailbox: String,
    pub engine: Arc<Engine>,
    pub store: SharedStore,
    pub outbox: Arc<Notify>,
    pub cancel: CancellationToken,
}

/// Binds `path` with `mode`. A socket left by a daemon that is gone is
/// replaced; one that answers belongs to a running daemon, and then this
/// is an error (two daemons on one database would each think they own it).
pub fn bind(path: &Path, mode: u32) -> Result<UnixListener, String> {
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(format!(
            "lmtp.socket {}: another process is listening there (a postdesk already running?)",
            path.display()
        ));
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()) => {
            std::fs::remove_file(path).map_err(|e| {
                format!(
                    "lmtp.socket {}: removing the old socket: {e}",
                    path.display()
                )
            })?;
        }
        Ok(_) => {
            return Err(format!(
                "lmtp.socket {}: a file that is not a socket is in the way",
                path.display()
            ));
        }
        Err(_) => {}
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| format!("lmtp.socket {}: cannot listen: {e}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("lmtp.socket {}: setting mode {mode:o}: {e}", path.display()))?;
    Ok(listener)
}

impl Listener {
    /// Serves connections until cancelled, then removes the socket.
    pub async fn run(self) {
        tracing::info!(socket = %self.path.display(), mailbox = %self.mailbox, "taking mail over LMTP");
        let recorder = Arc::new(Recorder {
            mailbox: self.mailbox.clone(),
            engine: self.engine.clone(),
            store: self.store.clone(),
            outbox: self.outbox.clone(),
        });
        let sessions = tokio_util::task::TaskTracker::new();
        loop {
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = self.cancel.cancelled() => break,
            };
            match accepted {
                Ok((stream, _)) => {
                    let recorder = recorder.clone();
                    let cancel = self.cancel.clone();
                    sessions.spawn(async move {
                        let (r, w) = stream.into_split();
                        let served = tokio::select! {
                            s = serve(BufReader::new(r), w, &*recorder) => s,
                            // Stopping: a mail not yet answered is not
                            // committed either; the MTA sends it again.
                            _ = cancel.cancelled() => Ok(()),
                        };
                        if let Err(e) = served {
                            tracing::debug!(error = %e, "LMTP session ended");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "LMTP: accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        sessions.close();
        sessions.wait().await;
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Records one mail; the answer's text after the status.
pub trait Record {
    fn record(
        &self,
        raw: Vec<u8>,
    ) -> impl std::future::Future<Output = Result<Tally, String>> + Send;
}

struct Recorder {
    mailbox: String,
    engine: Arc<Engine>,
    store: SharedStore,
    outbox: Arc<Notify>,
}

impl Record for Recorder {
    async fn record(&self, raw: Vec<u8>) -> Result<Tally, String> {
        let read_at = std::time::Instant::now();
        crate::metrics::global().fetched(&self.mailbox, 1);
        let items = vec![Incoming { raw, uid: None }];
        let tally = commit_batch(
            &self.store,
            &self.engine,
            &self.mailbox,
            items,
            None,
            now_ms(),
        )
        .await
        .map_err(|e| e.to_string())?;
        tracing::info!(mailbox = %self.mailbox, ?tally, "mail over LMTP committed");
        crate::metrics::global().committed(&self.mailbox, &tally, read_at);
        self.outbox.notify_one();
        Ok(tally)
    }
}

/// What the `250` after DATA says, read back by [`client`].
pub fn describe(t: &Tally) -> String {
    format!(
        "recorded: created={} attached={} duplicates={} quarantined={} queued={}",
        t.created, t.attached, t.duplicates, t.quarantined, t.queued
    )
}

/// One command line, as the session reads it.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Lhlo,
    Mail,
    Rcpt(String),
    Data,
    Rset,
    Noop,
    Quit,
    /// HELO and EHLO: this is LMTP (RFC 2033 §4.1 says to refuse them).
    Smtp,
    Unknown,
}

fn command(line: &str) -> Command {
    let line = line.trim_end_matches(['\r', '\n']);
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    match verb.to_ascii_uppercase().as_str() {
        "LHLO" => Command::Lhlo,
        "MAIL" if rest.len() >= 5 && rest[..5].eq_ignore_ascii_case("FROM:") => Command::Mail,
        "RCPT" if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case("TO:") => {
            let to = rest[3..].trim_start();
            let addr = to
                .strip_prefix('<')
                .and_then(|t| t.split_once('>'))
                .map_or(to, |(a, _)| a);
            Command::Rcpt(addr.to_string())
        }
        "DATA" => Command::Data,
        "RSET" => Command::Rset,
        "NOOP" => Command::Noop,
        "QUIT" => Command::Quit,
        "HELO" | "EHLO" => Command::Smtp,
        _ => Command::Unknown,
    }
}

/// The state of one transaction.
#[derive(Default)]
struct Envelope {
    greeted: bool,
    from: bool,
    recipients: Vec<String>,
}

impl Envelope {
    /// After LHLO, with no transaction begun (also after DATA and RSET).
    fn greeted() -> Envelope {
        Envelope {
            greeted: true,
            ..Envelope::default()
        }
    }
}

/// One LMTP session on `r`/`w`, until QUIT, end of input or a timeout.
pub async fn serve<R, W, T>(mut r: R, mut w: W, recorder: &T) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
    T: Record,
{
    say(&mut w, "220 postdesk LMTP ready\r\n").await?;
    let mut env = Envelope::default();
    loop {
        let Some(line) = read_command(&mut r, &mut w).await? else {
            return Ok(());
        };
        let reply: String = match command(&line) {
            Command::Lhlo => {
                env = Envelope::greeted();
                format!(
                    "250-postdesk\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SIZE {MAX_MESSAGE}\r\n"
                )
            }
            Command::Noop => "250 2.0.0 Ok\r\n".into(),
            Command::Quit => {
                say(&mut w, "221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            Command::Smtp => "500 5.5.1 This is LMTP: use LHLO\r\n".into(),
            Command::Unknown => "500 5.5.2 Unknown command\r\n".into(),
            _ if !env.greeted => "503 5.5.1 LHLO first\r\n".into(),
            Command::Mail if env.from => "503 5.5.1 MAIL already given\r\n".into(),
            Command::Mail => {
                env.from = true;
                "250 2.1.0 Ok\r\n".into()
            }
            Command::Rcpt(_) if !env.from => "503 5.5.1 MAIL first\r\n".into(),
            Command::Rcpt(_) if env.recipients.len() >= MAX_RECIPIENTS => {
                "452 4.5.3 Too many recipients\r\n".into()
            }
            Command::Rcpt(to) => {
                env.recipients.push(to);
                "250 2.1.5 Ok\r\n".into()
            }
            Command::Data if env.recipients.is_empty() => "503 5.5.1 No recipients\r\n".into(),
            Command::Data => {
                say(&mut w, "354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let answer = match read_data(&mut r).await? {
                    Some(raw) => match recorder.record(raw).await {
                        Ok(t) => format!("250 2.0.0 {}", describe(&t)),
                        Err(e) => {
                            format!("451 4.3.0 not recorded, try again later: {}", one_line(&e))
                        }
                    },
                    None => format!("552 5.3.4 Message larger than {MAX_MESSAGE} bytes"),
                };
                // RFC 2033 §4.2: one answer for each accepted recipient.
                let mut all = String::new();
                for rcpt in &env.recipients {
                    all.push_str(&format!("{} <{rcpt}>\r\n", answer));
                }
                env = Envelope::greeted();
                all
            }
            Command::Rset => {
                env = Envelope::greeted();
                "250 2.0.0 Ok\r\n".into()
            }
        };
        say(&mut w, &reply).await?;
    }
}

async fn say<W: AsyncWrite + Unpin>(w: &mut W, text: &str) -> std::io::Result<()> {
    w.write_all(text.as_bytes()).await?;
    w.flush().await
}

/// The next command line; None at the end of input or after the idle
/// timeout. A line over [`MAX_LINE`] is refused and skipped.
async fn read_command<R, W>(r: &mut R, w: &mut W) -> std::io::Result<Option<String>>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    loop {
        let mut line = Vec::new();
        let read = tokio::time::timeout(IDLE, read_line(r, &mut line, MAX_LINE)).await;
        let Ok(read) = read else {
            say(w, "421 4.4.2 Idle too long\r\n").await?;
            return Ok(None);
        };
        match read? {
            Line::End => return Ok(None),
            Line::TooLong => say(w, "500 5.5.6 Line too long\r\n").await?,
            Line::Whole => return Ok(Some(String::from_utf8_lossy(&line).into_owned())),
        }
    }
}

enum Line {
    Whole,
    TooLong,
    End,
}

/// Reads one line ending in LF into `buf` (with its line end). A longer
/// line than `limit` is read to its end but only its first `limit` bytes
/// kept.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<Line> {
    let n = (&mut *r).take(limit as u64).read_until(b'\n', buf).await?;
    if n == 0 {
        return Ok(Line::End);
    }
    if buf.ends_with(b"\n") {
        return Ok(Line::Whole);
    }
    if n < limit {
        // Input ended inside a line: the client is gone.
        return Ok(Line::End);
    }
    let mut rest = Vec::new();
    loop {
        rest.clear();
        let n = (&mut *r)
            .take(limit as u64)
            .read_until(b'\n', &mut rest)
            .await?;
        if n == 0 {
            return Ok(Line::End);
        }
        if rest.ends_with(b"\n") {
            return Ok(Line::TooLong);
        }
    }
}

/// The mail after DATA, dot-stuffing undone, up to the line with a single
/// dot; None when it was larger than [`MAX_MESSAGE`] (read to its end all
/// the same, so the session goes on). End of input inside the mail is an
/// error: nothing of it is recorded.
async fn read_data<R: AsyncBufRead + Unpin>(r: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut mail = Vec::new();
    let mut too_big = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        // Room for what is left of the limit, a leading dot and the line end.
        let limit = if too_big {
            MAX_LINE
        } else {
            MAX_MESSAGE - mail.len() + 3
        };
        let read = tokio::time::timeout(IDLE, read_line(r, &mut line, limit))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "idle inside DATA"))??;
        match read {
            Line::End => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the client left inside DATA",
                ));
            }
            Line::TooLong => {
                too_big = true;
                mail = Vec::new();
                continue;
            }
            Line::Whole => {}
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok((!too_big).then_some(mail));
        }
        let text = line.strip_prefix(b".").unwrap_or(&line);
        if too_big || mail.len() + text.len() > MAX_MESSAGE {
            too_big = true;
            mail = Vec::new();
            continue;
        }
        mail.extend_from_slice(text);
    }
}

fn one_line(e: &str) -> String {
    e.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests;
