//! Broken MIME structure mended before mail-parser parses a message.
//!
//! Two faults lose content in mail-parser 0.11 and are common in real mail:
//! - **Multiparts that do not close.** RFC 2046 §5.1.1: an encapsulated
//!   part can never contain a delimiter of an enclosing multipart, so an
//!   inner multipart whose closing delimiter is missing ends at the next
//!   delimiter of an enclosing one, and one still open at the end of the
//!   message ends there. mail-parser instead lets the last part of the inner
//!   multipart run to the end of the message: every part of the enclosing
//!   multipart after it becomes raw text of that part (a fax-to-mail PDF
//!   shown as base64 in the ticket, no attachment); and a base64 part open
//!   at the end is kept undecoded. The missing closing delimiters are
//!   inserted where the RFC says the parts end.
//! - **Two `Content-Type` headers.** mail-parser takes the last; mail
//!   clients show the first. The first wins, unless only a later one is a
//!   multipart whose boundary the body actually uses: then that one, so the
//!   body is never shown as raw MIME source. The others are renamed in place
//!   (same length, so no offset moves) to a header no one reads.
//!
//! Why here and not a patch to mail-parser: its parser finds a part's end
//! by searching for one boundary in several places (the part scanner, both
//! transfer decoders, the recovery path, the state unwinding), so teaching
//! it the stack of enclosing boundaries is a wide change to vendor and
//! carry, and the fuzz crate (its own workspace) would need the patch too.
//! This pass reads only what mail-parser itself parses (each part's header
//! block, through `parse_headers`), writes standard MIME, and can be
//! dropped when mail-parser learns the rule: its tests then still pass.
//!
//! The bytes of attached mails are taken from the original message through
//! [`Repaired::original_range`], so they stay as sent.

use std::borrow::Cow;

use mail_parser::{HeaderName, HeaderValue};

/// A message's bytes as mended for parsing.
#[derive(Debug)]
pub(super) struct Repaired<'a> {
    pub bytes: Cow<'a, [u8]>,
    /// Inserted runs: position in `bytes` and length.
    inserted: Vec<(usize, usize)>,
}

impl Repaired<'_> {
    /// The range of the original message that `start..end` of the repaired
    /// bytes came from (inserted delimiters left out).
    pub fn original_range(&self, start: usize, end: usize) -> (usize, usize) {
        // Inserted bytes before `x` (an `x` inside an insertion maps to
        // where it was inserted).
        let before = |x: usize| -> usize {
            self.inserted
                .iter()
                .map(|&(at, len)| x.saturating_sub(at).min(len))
                .sum()
        };
        (start - before(start), end - before(end))
    }

    /// True when nothing needed mending.
    #[cfg(test)]
    pub fn is_unchanged(&self) -> bool {
        matches!(self.bytes, Cow::Borrowed(_))
    }
}

/// What renames a duplicate `Content-Type` to: 12 bytes, as the name it replaces.
const RENAMED: &[u8; 12] = b"X-Ignored-CT";

/// How far up the stack of open multiparts a delimiter is looked for: far
/// beyond real mail, and it keeps hostile nesting linear.
const MAX_ANCESTORS: usize = 32;

/// Mends `raw` (see the module doc); borrowed when nothing needed it.
pub(super) fn repair(raw: &[u8]) -> Repaired<'_> {
    let plan = plan(raw);
    if plan.renames.is_empty() && plan.inserts.is_empty() {
        return Repaired {
            bytes: Cow::Borrowed(raw),
            inserted: Vec::new(),
        };
    }
    let mut renamed = raw.to_vec();
    for at in plan.renames {
        renamed[at..at + RENAMED.len()].copy_from_slice(RENAMED);
    }
    let extra: usize = plan.inserts.iter().map(|(_, b)| b.len()).sum();
    let mut bytes = Vec::with_capacity(raw.len() + extra);
    let mut inserted = Vec::with_capacity(plan.inserts.len());
    let mut from = 0;
    for (at, insert) in plan.inserts {
        bytes.extend_from_slice(&renamed[from..at]);
        inserted.push((bytes.len(), insert.len()));
        bytes.extend_from_slice(&insert);
        from = at;
    }
    bytes.extend_from_slice(&renamed[from..]);
    Repaired {
        bytes: Cow::Owned(bytes),
        inserted,
    }
}

#[derive(Debug, Default)]
struct Plan {
    /// Offsets of `Content-Type` names to rename.
    renames: Vec<usize>,
    /// Bytes to insert before an offset of the original, in order.
    inserts: Vec<(usize, Vec<u8>)>,
}

/// An open multipart.
#[derive(Debug)]
struct Frame {
    boundary: Vec<u8>,
    /// A delimiter of it was seen: only then is it a multipart to close
    /// (mail-parser reads one whose boundary never comes as text).
    opened: bool,
    /// `multipart/digest`: parts without a type are mails.
    digest: bool,
}

fn plan(raw: &[u8]) -> Plan {
    let mut plan = Plan::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut pos = entity(raw, 0, false, &mut stack, &mut plan);
    while pos < raw.len() {
        let end = raw[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |p| pos + p + 1);
        let line = &raw[pos..end];
        if stack.is_empty() || !line.starts_with(b"--") {
            pos = end;
            continue;
        }
        let Some(depth) = which_boundary(line, &stack) else {
            pos = end;
            continue;
        };
        // A delimiter of an enclosing multipart: the ones inside it end here.
        let mut ended = Vec::new();
        while stack.len() > depth + 1 {
            let inner = stack.pop().expect("deeper than depth");
            if inner.opened {
                ended.push(inner.boundary);
            }
        }
        if !ended.is_empty() {
            plan.inserts
                .push(closing(raw, pos, &ended, line_break(line)));
        }
        let top = stack.last_mut().expect("depth is in the stack");
        let rest = &line[2 + top.boundary.len()..];
        if rest.starts_with(b"--") {
            stack.pop();
            pos = end;
        } else {
            top.opened = true;
            let digest = top.digest;
            pos = entity(raw, end, digest, &mut stack, &mut plan);
        }
    }
    // Still open at the end: they end with the message.
    let eol = if raw.windows(2).any(|w| w == b"\r\n") {
        &b"\r\n"[..]
    } else {
        &b"\n"[..]
    };
    let ended: Vec<Vec<u8>> = stack
        .into_iter()
        .rev()
        .filter(|f| f.opened)
        .map(|f| f.boundary)
        .collect();
    if !ended.is_empty() {
        plan.inserts.push(closing(raw, raw.len(), &ended, eol));
    }
    plan
}

/// The closing delimiters of `ended` (innermost first), to insert before
/// the line at `pos`. The line break before a delimiter belongs to it
/// (RFC 2046), so they go before that line break: the part before them
/// ends where it would have, had its sender closed it.
fn closing(raw: &[u8], pos: usize, ended: &[Vec<u8>], eol: &[u8]) -> (usize, Vec<u8>) {
    let before = &raw[..pos];
    let own = if before.ends_with(b"\r\n") {
        2
    } else {
        usize::from(before.ends_with(b"\n"))
    };
    let line_break = if own > 0 { &before[pos - own..] } else { eol };
    let mut bytes = Vec::new();
    for boundary in ended {
        bytes.extend_from_slice(line_break);
        bytes.extend_from_slice(b"--");
        bytes.extend_from_slice(boundary);
        bytes.extend_from_slice(b"--");
    }
    if own == 0 {
        bytes.extend_from_slice(eol);
    }
    (pos - own, bytes)
}

/// The line break this message uses at `line`.
fn line_break(line: &[u8]) -> &'static [u8] {
    if line.ends_with(b"\r\n") || !line.ends_with(b"\n") {
        b"\r\n"
    } else {
        b"\n"
    }
}

/// Which open multipart `line` is a delimiter of: the innermost first, as
/// mail-parser matches it (the boundary as a prefix after `--`), then the
/// enclosing ones.
fn which_boundary(line: &[u8], stack: &[Frame]) -> Option<usize> {
    let after = &line[2..];
    (stack.len().saturating_sub(MAX_ANCESTORS + 1)..stack.len())
        .rev()
        .find(|&i| after.starts_with(&stack[i].boundary))
}

/// Reads the header block of the entity (a part, or a whole mail) at
/// `start`: records renames of duplicate `Content-Type`s, opens a frame for
/// a multipart, goes into an attached mail. Returns where to scan on.
fn entity(
    raw: &[u8],
    start: usize,
    in_digest: bool,
    stack: &mut Vec<Frame>,
    plan: &mut Plan,
) -> usize {
    let mut start = start;
    let mut in_digest = in_digest;
    // An attached mail is an entity inside an entity: a loop, not recursion.
    loop {
        let rest = &raw[start..];
        if rest.starts_with(b"\r\n") || rest.starts_with(b"\n") {
            // No headers: text/plain (a mail in a digest), nothing to open.
            return start;
        }
        let Some(headers) = crate::inbound::mime_parser().parse_headers(rest) else {
            return start;
        };
        let Some(root) = headers.parts.first() else {
            return start;
        };
        // `parse_headers` does not say where the headers end (its
        // offset_body is the end of the input): after the last header's line
        // break, past the empty line.
        let last = root
            .headers
            .iter()
            .map(|h| h.offset_end as usize)
            .max()
            .unwrap_or(0);
        let after = &rest[last.min(rest.len())..];
        let blank = if after.starts_with(b"\r\n") {
            2
        } else {
            usize::from(after.starts_with(b"\n"))
        };
        let body = start + last + blank;
        let types: Vec<(usize, &mail_parser::ContentType<'_>)> = root
            .headers
            .iter()
            .filter(|h| h.name == HeaderName::ContentType)
            .filter_map(|h| match &h.value {
                HeaderValue::ContentType(ct) => Some((start + h.offset_field as usize, ct)),
                _ => None,
            })
            .collect();
        let winner = winning_type(&types, &raw[body..]);
        for (i, (at, _)) in types.iter().enumerate() {
            if Some(i) != winner
                && raw
                    .get(*at..*at + RENAMED.len())
                    .is_some_and(|n| n.eq_ignore_ascii_case(b"content-type"))
            {
                plan.renames.push(*at);
            }
        }
        let ct = winner.map(|i| types[i].1);
        let ctype = ct.map(|c| c.ctype().to_ascii_lowercase());
        let subtype = ct.and_then(|c| c.subtype()).map(str::to_ascii_lowercase);
        if ctype.as_deref() == Some("multipart") {
            if let Some(b) = ct
                .and_then(|c| c.attribute("boundary"))
                .filter(|b| !b.is_empty())
            {
                stack.push(Frame {
                    boundary: b.as_bytes().to_vec(),
                    opened: false,
                    digest: subtype.as_deref() == Some("digest"),
                });
            }
            return body;
        }
        let is_mail = match (ctype.as_deref(), subtype.as_deref()) {
            (Some("message"), Some("rfc822" | "global")) => true,
            (None, _) => in_digest,
            _ => false,
        };
        // mail-parser goes into an attached mail only when it is not
        // transfer-encoded (a base64 one is parsed on its own).
        let encoded = root.headers.iter().any(|h| {
            h.name == HeaderName::ContentTransferEncoding
                && h.value.as_text().is_some_and(|v| {
                    v.eq_ignore_ascii_case("base64") || v.eq_ignore_ascii_case("quoted-printable")
                })
        });
        if !is_mail || encoded || body >= raw.len() || body == start {
            return body;
        }
        start = body;
        in_digest = false;
    }
}

/// Which of a part's `Content-Type`s counts: the first, unless it is not a
/// multipart whose boundary `body` uses and a later one is.
fn winning_type(types: &[(usize, &mail_parser::ContentType<'_>)], body: &[u8]) -> Option<usize> {
    if types.len() < 2 {
        return (!types.is_empty()).then_some(0);
    }
    let used = |ct: &mail_parser::ContentType<'_>| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .attribute("boundary")
                .filter(|b| !b.is_empty())
                .is_some_and(|b| has_delimiter(body, b.as_bytes()))
    };
    if used(types[0].1) {
        return Some(0);
    }
    Some((1..types.len()).find(|&i| used(types[i].1)).unwrap_or(0))
}

/// True when some line of `body` starts with `--boundary`.
fn has_delimiter(body: &[u8], boundary: &[u8]) -> bool {
    body.split(|&b| b == b'\n').any(|line| {
        line.strip_prefix(b"--")
            .is_some_and(|l| l.starts_with(boundary))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repaired(raw: &str) -> String {
        String::from_utf8(repair(raw.as_bytes()).bytes.into_owned()).unwrap()
    }

    #[test]
    fn well_formed_mail_is_not_copied() {
        for raw in [
            "From: a@b.test\r\n\r\nhi\r\n",
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
            "Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n--\r\n",
            "Content-Type: multipart/mixed; boundary=never\r\n\r\nno parts at all\r\n",
        ] {
            assert!(repair(raw.as_bytes()).is_unchanged(), "{raw:?}");
        }
    }

    #[test]
    fn inner_multipart_ends_at_the_outer_delimiter() {
        let raw = "Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n\
                   Content-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\n\
                   Content-Type: text/plain\r\n\r\ninner text\r\n--outer\r\n\
                   Content-Type: application/pdf\r\n\r\n%PDF\r\n--outer--\r\n";
        assert_eq!(
            repaired(raw),
            raw.replace(
                "inner text\r\n--outer\r\n",
                "inner text\r\n--inner--\r\n--outer\r\n"
            )
        );
        // LF mail gets LF delimiters.
        let lf = raw.replace("\r\n", "\n");
        assert_eq!(
            repaired(&lf),
            lf.replace("inner text\n--outer\n", "inner text\n--inner--\n--outer\n")
        );
    }

    #[test]
    fn open_multiparts_end_with_the_message() {
        let raw = "Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n\
                   Content-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\n\
                   Content-Type: text/plain\r\n\r\nplain\r\n--inner\r\nContent-Type: text/html\r\n\r\n<p>html</p>";
        assert_eq!(
            repaired(raw),
            format!("{raw}\r\n--inner--\r\n--outer--\r\n")
        );
    }

    #[test]
    fn nested_mail_inside_a_multipart() {
        // The attached mail's own multipart is not closed; the outer one is.
        let raw = "Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nsee\r\n\
                   --m\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@y.test\r\n\
                   Content-Type: multipart/mixed; boundary=n\r\n\r\n--n\r\nContent-Type: text/plain\r\n\r\ninner\r\n\
                   --m\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n--m--\r\n";
        let r = repair(raw.as_bytes());
        let text = String::from_utf8(r.bytes.to_vec()).unwrap();
        assert_eq!(
            text,
            raw.replace("inner\r\n--m\r\n", "inner\r\n--n--\r\n--m\r\n")
        );
        // Offsets after the insertion map back to the original.
        let at = text.find("Content-Type: application/pdf").unwrap();
        let (s, e) = r.original_range(at, text.len());
        assert_eq!(&raw[s..e], &text[at..]);
        let from = text.find("From: x@y").unwrap();
        let (s, e) = r.original_range(from, at);
        assert_eq!(
            &raw[s..e],
            "From: x@y.test\r\nContent-Type: multipart/mixed; boundary=n\r\n\r\n--n\r\nContent-Type: text/plain\r\n\r\ninner\r\n--m\r\n"
        );
    }

    #[test]
    fn duplicate_content_types() {
        // The first wins …
        let raw = "Content-Type: text/plain\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n";
        assert_eq!(
            repaired(raw),
            raw.replacen("Content-Type: text/html", "X-Ignored-CT: text/html", 1)
        );
        // … unless only a later one is the multipart the body is made of.
        let raw = "Content-Type: text/plain\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
                   --b\r\nContent-Type: text/plain\r\n\r\nreal text\r\n--b--\r\n";
        assert_eq!(
            repaired(raw),
            raw.replacen(
                "Content-Type: text/plain\r\n",
                "X-Ignored-CT: text/plain\r\n",
                1
            )
        );
        let raw = "Content-Type: multipart/mixed; boundary=b\r\ncontent-type: text/plain\r\n\r\n\
                   --b\r\nContent-Type: text/plain\r\n\r\nreal text\r\n--b--\r\n";
        assert_eq!(
            repaired(raw),
            raw.replacen("content-type: text/plain", "X-Ignored-CT: text/plain", 1)
        );
    }

    #[test]
    fn multipart_with_an_unknown_boundary_is_left_to_the_parser() {
        let raw = "Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n\
                   Content-Type: multipart/related; boundary=missing\r\n\r\njust text\r\n--outer--\r\n";
        assert!(repair(raw.as_bytes()).is_unchanged());
    }

    #[test]
    fn hostile_nesting_stays_linear() {
        let mut raw = String::new();
        for i in 0..5000 {
            raw.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
            ));
        }
        raw.push_str("Content-Type: text/plain\r\n\r\ndeep\r\n");
        for _ in 0..20_000 {
            raw.push_str("--x\r\n");
        }
        let r = repair(raw.as_bytes());
        assert!(r.bytes.ends_with(b"--b0--\r\n"));
    }
}
