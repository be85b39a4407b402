//! A strict IMAP front for the lab Dovecot: a loopback TCP proxy that
//! advertises only the capabilities a test names and refuses with `BAD` any
//! command whose extension is not among them.
//!
//! Why: Dovecot accepts MOVE and IDLE even when `imap_capability` does not
//! list them, so a client that sends them unasked would pass against it. A
//! server without them (many are not Dovecot) answers with an error, and
//! mail stays in the inbox. Everything else is Dovecot's own answer: the
//! front rewrites only CAPABILITY lists (`* CAPABILITY …` and
//! `[CAPABILITY …]` codes), passes literals through byte for byte, and
//! records every command it saw and every one it refused.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A running front; stops accepting when dropped.
pub struct StrictImap {
    pub port: u16,
    state: Arc<Shared>,
}

struct Shared {
    caps: Vec<String>,
    /// Each command as `VERB` or `UID VERB`, in the order seen.
    commands: Mutex<Vec<String>>,
    /// Each refused command line (the extension it needed, then the line).
    refused: Mutex<Vec<String>>,
    stop: AtomicBool,
    /// Run once, before the first command of this verb goes to Dovecot.
    before: Mutex<Option<(String, Hook)>>,
    /// Whether what Dovecot reports just after `+ idling` goes before it
    /// (see [`StrictImap::report_before_idling`]).
    report_first: AtomicBool,
    /// An IDLE was passed on and its continuation not yet seen.
    idle_sent: AtomicBool,
}

type Hook = Box<dyn FnOnce() + Send>;

impl StrictImap {
    /// Listens on a free loopback port and proxies to `upstream`,
    /// advertising `IMAP4rev1` and `caps` (e.g. `["AUTH=PLAIN", "UIDPLUS"]`).
    pub fn start(upstream: SocketAddr, caps: &[&str]) -> StrictImap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the strict IMAP front");
        let port = listener.local_addr().unwrap().port();
        let mut all = vec!["IMAP4rev1".to_string()];
        all.extend(caps.iter().map(|c| c.to_ascii_uppercase()));
        let state = Arc::new(Shared {
            caps: all,
            commands: Mutex::new(Vec::new()),
            refused: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            before: Mutex::new(None),
            report_first: AtomicBool::new(false),
            idle_sent: AtomicBool::new(false),
        });
        let st = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let st = st.clone();
                std::thread::spawn(move || {
                    if let Ok(server) = TcpStream::connect(upstream) {
                        connection(client, server, st);
                    }
                });
            }
        });
        StrictImap { port, state }
    }

    /// Runs `f` once, just before the first command `verb` (as
    /// [`commands`](Self::commands) names it) is passed on: a test's way to
    /// make something happen while the client is in the middle of its work.
    pub fn before(&self, verb: &str, f: impl FnOnce() + Send + 'static) {
        *self.state.before.lock().unwrap() = Some((verb.to_string(), Box::new(f)));
    }

    /// Answers IDLE as servers do that report changes before they accept
    /// it (RFC 2177 allows untagged data before the continuation): the
    /// untagged lines Dovecot sends within 300 ms after its `+ idling` are
    /// passed on first, the `+ idling` after them. Dovecot itself sends the
    /// continuation first and then what changed.
    pub fn report_before_idling(&self) {
        self.state.report_first.store(true, Ordering::SeqCst);
    }

    /// Every command seen, as `VERB` or `UID VERB`.
    pub fn commands(&self) -> Vec<String> {
        self.state.commands.lock().unwrap().clone()
    }

    /// The commands refused because their extension was not advertised.
    pub fn refused(&self) -> Vec<String> {
        self.state.refused.lock().unwrap().clone()
    }
}

impl Drop for StrictImap {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// The byte count of a literal announced at the end of `line`
/// (`{12}\r\n` or `{12+}\r\n`).
fn literal_len(line: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(line).ok()?.trim_end();
    let inner = text.strip_suffix('}')?;
    let open = inner.rfind('{')?;
    inner[open + 1..].trim_end_matches('+').parse().ok()
}

fn connection(client: TcpStream, server: TcpStream, st: Arc<Shared>) {
    let to_client = Arc::new(Mutex::new(client.try_clone().expect("clone client socket")));
    let server_write = server.try_clone().expect("clone server socket");
    // Server → client: rewrite capability lists, pass literals through.
    let down = {
        let (to_client, st) = (to_client.clone(), st.clone());
        std::thread::spawn(move || {
            let mut r = BufReader::new(server);
            // Bytes of a line that were read when a wait timed out.
            let mut partial = Vec::new();
            loop {
                let mut line = std::mem::take(&mut partial);
                if !line.ends_with(b"\n")
                    && r.read_until(b'\n', &mut line).unwrap_or(0) == 0
                    && line.is_empty()
                {
                    break;
                }
                if line.starts_with(b"+")
                    && st.report_first.load(Ordering::SeqCst)
                    && st.idle_sent.swap(false, Ordering::SeqCst)
                {
                    let (reports, rest) = reports_after(&mut r);
                    partial = rest;
                    let mut w = to_client.lock().unwrap();
                    if w.write_all(&reports).is_err() || w.write_all(&line).is_err() {
                        break;
                    }
                    continue;
                }
                let out = rewrite_caps(&line, &st.caps);
                let mut w = to_client.lock().unwrap();
                if w.write_all(&out).is_err() {
                    break;
                }
                if let Some(n) = literal_len(&line) {
                    let mut lit = vec![0u8; n];
                    if r.read_exact(&mut lit).is_err() || w.write_all(&lit).is_err() {
                        break;
                    }
                }
            }
            let _ = to_client.lock().unwrap().shutdown(Shutdown::Both);
        })
    };
    // Client → server: refuse what was not advertised.
    let mut r = BufReader::new(client);
    let mut server_write = server_write;
    let mut continuing = false;
    loop {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
            break;
        }
        if !continuing {
            let text = String::from_utf8_lossy(&line).to_string();
            if let Some((tag, verb, needs)) = judge(&text) {
                let due = {
                    let mut slot = st.before.lock().unwrap();
                    match slot.take() {
                        Some((v, f)) if v == verb => Some(f),
                        other => {
                            *slot = other;
                            None
                        }
                    }
                };
                if let Some(f) = due {
                    f();
                }
                if verb == "IDLE" {
                    st.idle_sent.store(true, Ordering::SeqCst);
                }
                st.commands.lock().unwrap().push(verb);
                if let Some(ext) = needs.filter(|e| !st.caps.iter().any(|c| c == e)) {
                    st.refused
                        .lock()
                        .unwrap()
                        .push(format!("{ext}: {}", text.trim_end()));
                    let answer = format!("{tag} BAD [CLIENTBUG] {ext} was not advertised\r\n");
                    if to_client
                        .lock()
                        .unwrap()
                        .write_all(answer.as_bytes())
                        .is_err()
                    {
                        break;
                    }
                    continue;
                }
            }
        }
        if server_write.write_all(&line).is_err() {
            break;
        }
        continuing = false;
        if let Some(n) = literal_len(&line) {
            let mut lit = vec![0u8; n];
            if r.read_exact(&mut lit).is_err() || server_write.write_all(&lit).is_err() {
                break;
            }
            // The rest of the command follows the literal.
            continuing = true;
        }
    }
    let _ = server_write.shutdown(Shutdown::Both);
    let _ = down.join();
}

/// The untagged lines the server sends within 300 ms of each other, and
/// the bytes of a line that had begun when the wait ended.
fn reports_after(r: &mut BufReader<TcpStream>) -> (Vec<u8>, Vec<u8>) {
    let mut reports = Vec::new();
    let _ = r
        .get_ref()
        .set_read_timeout(Some(std::time::Duration::from_millis(300)));
    let rest = loop {
        let mut line = Vec::new();
        match r.read_until(b'\n', &mut line) {
            Ok(n) if n > 0 && line.starts_with(b"* ") && line.ends_with(b"\n") => {
                reports.extend_from_slice(&line)
            }
            _ => break line,
        }
    };
    let _ = r.get_ref().set_read_timeout(None);
    (reports, rest)
}

/// A command line's tag, its verb (`UID MOVE`), and the extension it needs.
fn judge(line: &str) -> Option<(String, String, Option<String>)> {
    let mut words = line.split_whitespace();
    let tag = words.next()?.to_string();
    let Some(first) = words.next() else {
        // `DONE` ending an IDLE has no tag.
        return None;
    };
    let first = first.to_ascii_uppercase();
    let (verb, uid) = if first == "UID" {
        (words.next()?.to_ascii_uppercase(), true)
    } else {
        (first, false)
    };
    let rest = line.to_ascii_uppercase();
    let needs = match verb.as_str() {
        "MOVE" => Some("MOVE".to_string()),
        "IDLE" => Some("IDLE".into()),
        "ENABLE" => Some("ENABLE".into()),
        "EXPUNGE" if uid => Some("UIDPLUS".into()),
        "NAMESPACE" => Some("NAMESPACE".into()),
        "ID" => Some("ID".into()),
        "COMPRESS" => Some("COMPRESS=DEFLATE".into()),
        "SELECT" | "EXAMINE" | "STATUS" | "FETCH" | "STORE" | "SEARCH"
            if rest.contains("CONDSTORE")
                || rest.contains("CHANGEDSINCE")
                || rest.contains("MODSEQ") =>
        {
            Some("CONDSTORE".into())
        }
        "LIST" if rest.contains("SPECIAL-USE") => Some("SPECIAL-USE".into()),
        "AUTHENTICATE" => words
            .next()
            .map(|m| format!("AUTH={}", m.to_ascii_uppercase())),
        _ => None,
    };
    let verb = if uid { format!("UID {verb}") } else { verb };
    Some((tag, verb, needs))
}

/// `line` with any capability list replaced by `caps`.
fn rewrite_caps(line: &[u8], caps: &[String]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(line) else {
        return line.to_vec();
    };
    let list = caps.join(" ");
    if text.to_ascii_uppercase().starts_with("* CAPABILITY ") {
        return format!("* CAPABILITY {list}\r\n").into_bytes();
    }
    let upper = text.to_ascii_uppercase();
    if let Some(start) = upper.find("[CAPABILITY ")
        && let Some(len) = upper[start..].find(']')
    {
        return format!(
            "{}[CAPABILITY {list}]{}",
            &text[..start],
            &text[start + len + 1..]
        )
        .into_bytes();
    }
    line.to_vec()
}
