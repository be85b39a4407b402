//! What makes two deliveries the same mail: a hash over the body and the
//! headers the sender wrote.
//!
//! A Message-ID alone does not say so: scanners, monitoring tools and broken
//! clients reuse one id for different mails. The same mail fetched twice (a
//! crash before the commit, a copy in two folders, a Maildir file and an IMAP
//! fetch of it) differs only in what the servers on the way added, so the
//! fingerprint reads only what the originator wrote: the body, and the
//! headers of [`ORIGINATOR`]. Trace and relay headers (`Received`,
//! `Return-Path`, `Delivered-To`, `Authentication-Results`, `DKIM-Signature`
//! of a relay, spam scores, `X-*`) are left out by construction.
//!
//! It works on the raw bytes, never on what the parser decoded, so a new
//! parser version (a better charset guess) does not change the fingerprint
//! of a mail stored by an older one. Line endings, header folding, header
//! order, trailing spaces and trailing blank lines are normalised away:
//! relays change those without changing the mail.

/// The headers hashed: who sent it to whom, when, about what, in reply to
/// what, and how the body is to be read.
const ORIGINATOR: &[&str] = &[
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

/// The fingerprint of a raw message: 32 hex digits (128 bits of SHA-256).
pub fn fingerprint(raw: &[u8]) -> String {
    let (header, body) = split(raw);
    let mut headers: Vec<(String, String)> = logical_lines(header)
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let name = String::from_utf8_lossy(&line[..colon])
                .trim()
                .to_ascii_lowercase();
            ORIGINATOR.contains(&name.as_str()).then(|| {
                let value = String::from_utf8_lossy(&line[colon + 1..]);
                (name, value.split_whitespace().collect::<Vec<_>>().join(" "))
            })
        })
        .collect();
    // Some servers (Exchange among them) write headers in their own order.
    headers.sort();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for (name, value) in &headers {
        ctx.update(name.as_bytes());
        ctx.update(b":");
        ctx.update(value.as_bytes());
        ctx.update(b"\n");
    }
    ctx.update(b"\n");
    let mut lines: Vec<&[u8]> = body.split(|&b| b == b'\n').map(trim_end).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    for line in lines {
        ctx.update(line);
        ctx.update(b"\n");
    }
    ctx.finish().as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The header section and the body, split at the first empty line.
fn split(raw: &[u8]) -> (&[u8], &[u8]) {
    let mut start = 0;
    while start < raw.len() {
        let end = raw[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |p| start + p + 1);
        if trim_end(&raw[start..end]).is_empty() {
            return (&raw[..start], &raw[end..]);
        }
        start = end;
    }
    (raw, &[])
}

/// Header lines with their continuation lines joined, line breaks removed.
fn logical_lines(header: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut lines = header.split(|&b| b == b'\n').peekable();
    std::iter::from_fn(move || {
        let first = lines.next()?;
        let mut line = trim_end(first).to_vec();
        while let Some(next) =
            lines.next_if(|l| l.first().is_some_and(|&b| b == b' ' || b == b'\t'))
        {
            line.push(b' ');
            line.extend_from_slice(trim_end(next));
        }
        Some(line)
    })
}

fn trim_end(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &str = "Received: from mx1.example.net by mx.desk.test; Tue, 5 Dec 2023 10:00:01 +0000\r\n\
        Return-Path: <scanner@office.example>\r\n\
        From: Scanner <scanner@office.example>\r\n\
        To: help@desk.test\r\n\
        Subject: Scan from MFP-3F\r\n\
        Date: Tue, 5 Dec 2023 10:00:00 +0100\r\n\
        Message-ID: <0000000000@mfp-3f.office.example>\r\n\
        \r\n\
        Scanned document attached.\r\n";

    #[test]
    fn a_second_delivery_has_the_same_fingerprint() {
        let other_route = MAIL
            .replace(
                "Received: from mx1.example.net by mx.desk.test; Tue, 5 Dec 2023 10:00:01 +0000\r\n",
                "Received: from mx2.example.net by mx.desk.test; Tue, 5 Dec 2023 10:07:44 +0000\r\n\
                 Delivered-To: help@desk.test\r\nX-Spam-Score: 0.1\r\n\
                 Authentication-Results: mx.desk.test; spf=pass\r\n",
            )
            .replace("Return-Path: <scanner@office.example>", "Return-Path: <>");
        assert_eq!(
            fingerprint(MAIL.as_bytes()),
            fingerprint(other_route.as_bytes())
        );
        // Line endings, folding, header order and trailing blank lines.
        let lf = MAIL.replace("\r\n", "\n") + "\n\n";
        assert_eq!(fingerprint(MAIL.as_bytes()), fingerprint(lf.as_bytes()));
        let refolded = MAIL
            .replace(
                "Subject: Scan from MFP-3F",
                "Subject: Scan\r\n from   MFP-3F",
            )
            .replace(
                "To: help@desk.test\r\nSubject: Scan from MFP-3F\r\n",
                "Subject: Scan from MFP-3F\r\nTo: help@desk.test\r\n",
            );
        assert_eq!(
            fingerprint(MAIL.as_bytes()),
            fingerprint(refolded.as_bytes())
        );
    }

    #[test]
    fn a_different_mail_with_the_same_id_differs() {
        let a = fingerprint(MAIL.as_bytes());
        let other_scan = MAIL.replace("Scanned document", "Second scanned document");
        assert_ne!(a, fingerprint(other_scan.as_bytes()));
        let other_subject = MAIL.replace("MFP-3F", "MFP-2F");
        assert_ne!(a, fingerprint(other_subject.as_bytes()));
        let other_date = MAIL.replace("10:00:00 +0100", "10:05:00 +0100");
        assert_ne!(a, fingerprint(other_date.as_bytes()));
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn odd_input() {
        assert_eq!(fingerprint(b"").len(), 32);
        assert_ne!(
            fingerprint(b"From: a@b.test"),
            fingerprint(b"From: c@d.test")
        );
        // Header-looking text in the body is body.
        assert_ne!(
            fingerprint(b"From: a@b.test\r\n\r\nSubject: x\r\n"),
            fingerprint(b"From: a@b.test\r\nSubject: x\r\n\r\n")
        );
    }
}
