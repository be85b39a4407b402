//! `postdesk ingest`'s way to a running daemon: the mail goes over the
//! daemon's LMTP socket, and the daemon records it on its open database.
//! An MTA pipe then pays for starting a small client (no SQLite, no
//! templates, no tokio) instead of a whole desk per mail.
//!
//! Blocking and single-threaded: one process, one mail or a few.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::pipeline::Tally;

/// How long one answer may take: the daemon may wait for the database
/// (its busy timeout is 30 s) and then parse, decide and commit.
const ANSWER: Duration = Duration::from_secs(120);

/// What the daemon did with the mails handed over.
#[derive(Debug, Default)]
pub struct Outcome {
    pub tally: Tally,
    /// How many of the mails, from the first, were recorded.
    pub recorded: usize,
    /// Why the rest were not; None when all were.
    pub failure: Option<String>,
}

/// Hands `mails` to the daemon listening on `socket`, one transaction
/// each. None when nothing listens there (no daemon running): the caller
/// records them itself.
///
/// A mail is sent as it is, dot-stuffed; one that does not end in a line
/// end gets one (LMTP carries lines).
pub fn hand_over(socket: &Path, mails: &[&[u8]]) -> Option<Outcome> {
    let stream = UnixStream::connect(socket).ok()?;
    let mut out = Outcome::default();
    if let Err(e) = session(stream, mails, &mut out) {
        out.failure = Some(e);
    }
    Some(out)
}

fn session(stream: UnixStream, mails: &[&[u8]], out: &mut Outcome) -> Result<(), String> {
    let io = |e: std::io::Error| format!("the daemon's LMTP socket: {e}");
    stream.set_read_timeout(Some(ANSWER)).map_err(io)?;
    stream.set_write_timeout(Some(ANSWER)).map_err(io)?;
    let mut w = stream.try_clone().map_err(io)?;
    let mut r = BufReader::new(stream);
    expect(&mut r, 220, "the greeting")?;
    w.write_all(b"LHLO postdesk-ingest\r\n").map_err(io)?;
    expect(&mut r, 250, "LHLO")?;
    for mail in mails {
        // The three commands at once (the daemon offers PIPELINING).
        w.write_all(b"MAIL FROM:<>\r\nRCPT TO:<postdesk>\r\nDATA\r\n")
            .map_err(io)?;
        expect(&mut r, 250, "MAIL FROM")?;
        expect(&mut r, 250, "RCPT TO")?;
        expect(&mut r, 354, "DATA")?;
        w.write_all(&dot_stuffed(mail)).map_err(io)?;
        let said = expect(&mut r, 250, "the mail")?;
        out.tally += read_tally(&said)
            .ok_or_else(|| format!("the daemon's answer does not say what it did: {said}"))?;
        out.recorded += 1;
    }
    let _ = w.write_all(b"QUIT\r\n");
    Ok(())
}

/// The mail as DATA: a dot before each line that begins with one, a line
/// end at the end, and the line with a single dot.
fn dot_stuffed(mail: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(mail.len() + mail.len() / 64 + 8);
    let mut at_line_start = true;
    for &b in mail {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Reads a whole reply (continuation lines included); its last line when
/// its code is `code`, else an error that quotes it.
fn expect(r: &mut impl BufRead, code: u16, after: &str) -> Result<String, String> {
    loop {
        let mut line = String::new();
        let n = r
            .read_line(&mut line)
            .map_err(|e| format!("the daemon's LMTP socket, after {after}: {e}"))?;
        if n == 0 {
            return Err(format!("the daemon closed the connection after {after}"));
        }
        let line = line.trim_end().to_string();
        if line.as_bytes().get(3) == Some(&b'-') {
            continue;
        }
        return match line.get(..3).and_then(|c| c.parse::<u16>().ok()) {
            Some(c) if c == code => Ok(line),
            _ => Err(format!("the daemon answered {after} with: {line}")),
        };
    }
}

/// The counts in a `250 2.0.0 recorded: created=1 …` answer.
fn read_tally(line: &str) -> Option<Tally> {
    let (_, counts) = line.split_once("recorded:")?;
    let mut t = Tally::default();
    let mut seen = 0;
    for word in counts.split_whitespace() {
        let Some((key, value)) = word.split_once('=') else {
            continue;
        };
        let Ok(n) = value.parse::<usize>() else {
            continue;
        };
        let slot = match key {
            "created" => &mut t.created,
            "attached" => &mut t.attached,
            "duplicates" => &mut t.duplicates,
            "quarantined" => &mut t.quarantined,
            "queued" => &mut t.queued,
            _ => continue,
        };
        *slot = n;
        seen += 1;
    }
    (seen == 5).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing_doubles_leading_dots_and_ends_the_data() {
        assert_eq!(
            dot_stuffed(b"a\r\n.b\r\n..\r\nc.\r\n"),
            b"a\r\n..b\r\n...\r\nc.\r\n.\r\n"
        );
        assert_eq!(dot_stuffed(b".x"), b"..x\r\n.\r\n");
        assert_eq!(dot_stuffed(b"x\n.\n"), b"x\n..\n.\r\n");
    }

    #[test]
    fn the_answer_after_data_gives_the_counts() {
        let t = read_tally(
            "250 2.0.0 recorded: created=1 attached=0 duplicates=2 quarantined=0 queued=3 <postdesk>",
        )
        .unwrap();
        assert_eq!(
            (t.created, t.attached, t.duplicates, t.quarantined, t.queued),
            (1, 0, 2, 0, 3)
        );
        assert!(read_tally("250 2.0.0 Ok").is_none());
        assert!(read_tally("250 2.0.0 recorded: created=1 attached=0").is_none());
    }
}
