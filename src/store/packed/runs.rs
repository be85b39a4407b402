//! Base64 bodies stored as the bytes they encode. An attachment travels as
//! base64: 78 bytes of text (76 and a line break) for every 57 it carries.
//! zstd cannot take that back, as it does not know the text is base64: on
//! random bytes (PNG, ZIP and PDF files are close to that) it gets the text
//! to 75 %, while the bytes themselves are 73 % of it. Stored decoded, a run
//! of base64 lines costs what it carries, and zstd has 300 KB less text to
//! search for matches that are not there.
//!
//! The mail must come back byte for byte, so a run is lifted only when
//! encoding its bytes again, in lines of the same length with the same line
//! ends, gives exactly the text that was there; anything else (odd line
//! lengths, stray characters, padding in the middle) stays as it was.
//!
//! The container, before zstd: segments one after another, each
//! `0, len, bytes` (as they were) or `1, line, eol, len, bytes` (base64 of
//! the bytes in lines of `line` characters, each ending in CRLF when `eol`
//! is 0 or LF when it is 1), the numbers as LEB128.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Runs that carry less than this stay text: the saving on a few lines is
/// a few hundred bytes, and a short run is more likely to be a word that
/// happens to look like base64.
const MIN_LIFTED: usize = 1024;

const LITERAL: u8 = 0;
const BASE64: u8 = 1;
const CRLF: u8 = 0;
const LF: u8 = 1;

/// The container for `raw`, or None when it has no run worth lifting (the
/// caller then stores the mail as it is).
pub fn lift(raw: &[u8]) -> Option<Vec<u8>> {
    let runs = find_runs(raw);
    if runs.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut at = 0;
    for run in runs {
        literal(&mut out, &raw[at..run.start]);
        out.push(BASE64);
        leb128(&mut out, run.line as u64);
        out.push(run.eol);
        leb128(&mut out, run.bytes.len() as u64);
        out.extend_from_slice(&run.bytes);
        at = run.end;
    }
    literal(&mut out, &raw[at..]);
    Some(out)
}

/// The mail a container holds.
pub fn lower(container: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(container.len() * 4 / 3);
    let mut r = Reader { buf: container };
    while let Some(tag) = r.byte() {
        match tag {
            LITERAL => {
                let n = r.number()?;
                out.extend_from_slice(r.take(n)?);
            }
            BASE64 => {
                let line = r.number()?;
                let eol = r.byte().ok_or("a base64 run ends early")?;
                let n = r.number()?;
                if line == 0 || line % 4 != 0 || eol > LF {
                    return Err(format!("a base64 run has lines of {line} ({eol})"));
                }
                encode_lines(&mut out, r.take(n)?, line, eol);
            }
            other => return Err(format!("unknown segment {other}")),
        }
    }
    Ok(out)
}

struct Run {
    start: usize,
    end: usize,
    line: usize,
    eol: u8,
    bytes: Vec<u8>,
}

/// Runs of base64 lines that can be stored decoded, in order.
fn find_runs(raw: &[u8]) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut at = 0;
    while let Some(line) = next_line(raw, at) {
        at = line.next;
        // A run starts with a full line: 16 or more characters, a multiple
        // of 4, no padding. Mailers write 76 (RFC 2045's most).
        let len = line.end - line.start;
        if len < 16 || len % 4 != 0 || !raw[line.start..line.end].iter().all(|&b| alphabet(b)) {
            continue;
        }
        let end = run_end(raw, &line, len);
        if let Some(run) = verified(raw, line.start, end, len, line.eol) {
            runs.push(run);
        }
        // A run that does not verify is not looked into again line by line:
        // that would read a long one once for each of its lines.
        at = end;
    }
    runs
}

/// Where the run that begins with `first` ends: after its last line end.
/// Lines of the same width are stepped over without reading them (the
/// decoder reads every character and refuses what is not base64, a line
/// end among them); the run ends after a shorter line or none.
fn run_end(raw: &[u8], first: &Line, len: usize) -> usize {
    let eol: &[u8] = if first.eol == CRLF { b"\r\n" } else { b"\n" };
    let mut end = first.next;
    loop {
        let full = end + len;
        if raw.get(full..full + eol.len()) == Some(eol) {
            end = full + eol.len();
            if raw[full - 1] == b'=' {
                return end;
            }
            continue;
        }
        // A shorter last line, when there is one.
        return match next_line(raw, end) {
            Some(l) if l.eol == first.eol && l.end > l.start && l.end - l.start < len => {
                let text = &raw[l.start..l.end];
                if text.iter().all(|&b| alphabet(b) || b == b'=') {
                    l.next
                } else {
                    end
                }
            }
            _ => end,
        };
    }
}

/// The run from `start` to `end` when its text is exactly the encoding of
/// what it decodes to: when it decodes.
fn verified(raw: &[u8], start: usize, end: usize, line: usize, eol: u8) -> Option<Run> {
    let text = &raw[start..end];
    let mut joined = Vec::with_capacity(text.len());
    for chunk in text.split(|&b| b == b'\n') {
        joined.extend_from_slice(chunk.strip_suffix(b"\r").unwrap_or(chunk));
    }
    let bytes = STANDARD.decode(&joined).ok()?;
    if bytes.len() < MIN_LIFTED {
        return None;
    }
    // The decoder takes only canonical base64 (padding where it belongs, no
    // stray bits in the last character: `STANDARD`'s decode), and every
    // line but the last is `line` long: encoding the bytes again gives this
    // text. Checked in tests and debug builds; in release it would cost as
    // much as the decoding (1.5 % of a `process_batch` profile).
    debug_assert!({
        let mut again = Vec::with_capacity(text.len());
        encode_lines(&mut again, &bytes, line, eol);
        again == text
    });
    Some(Run {
        start,
        end,
        line,
        eol,
        bytes,
    })
}

fn encode_lines(out: &mut Vec<u8>, bytes: &[u8], line: usize, eol: u8) {
    let mut text = vec![0u8; bytes.len().div_ceil(3) * 4];
    let n = STANDARD
        .encode_slice(bytes, &mut text)
        .expect("the buffer is sized for the encoding");
    for chunk in text[..n].chunks(line) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(if eol == CRLF { b"\r\n" } else { b"\n" });
    }
}

struct Line {
    start: usize,
    /// The end of its text, before the line end.
    end: usize,
    /// Where the next line starts.
    next: usize,
    eol: u8,
}

/// The line at `at` that ends with a line end (text after the last line
/// end is not a line: a run never includes it).
fn next_line(raw: &[u8], at: usize) -> Option<Line> {
    let nl = at + memchr::memchr(b'\n', raw.get(at..)?)?;
    let (end, eol) = if nl > at && raw[nl - 1] == b'\r' {
        (nl - 1, CRLF)
    } else {
        (nl, LF)
    };
    Some(Line {
        start: at,
        end,
        next: nl + 1,
        eol,
    })
}

fn alphabet(b: u8) -> bool {
    ALPHABET[b as usize]
}

/// The base64 characters, as a table: the check runs on every byte of a
/// line that may start a run.
static ALPHABET: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
        b += 1;
    }
    t
};

fn literal(out: &mut Vec<u8>, bytes: &[u8]) {
    if !bytes.is_empty() {
        out.push(LITERAL);
        leb128(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }
}

fn leb128(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.buf.split_first()?;
        self.buf = rest;
        Some(b)
    }

    fn number(&mut self) -> Result<usize, String> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte().ok_or("a number ends early")?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return usize::try_from(n).map_err(|_| "a number too large".to_string());
            }
        }
        Err("a number too long".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.buf.len() {
            return Err(format!("{n} bytes wanted, {} left", self.buf.len()));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn mail_with(attachment: &[u8], line: usize, eol: &str) -> Vec<u8> {
        let mut m = format!(
            "Subject: log{eol}Content-Type: multipart/mixed; boundary=b{eol}{eol}--b{eol}Content-Type: text/plain{eol}{eol}See the attached log.{eol}--b{eol}Content-Transfer-Encoding: base64{eol}{eol}"
        )
        .into_bytes();
        let text = STANDARD.encode(attachment);
        for chunk in text.as_bytes().chunks(line) {
            m.extend_from_slice(chunk);
            m.extend_from_slice(eol.as_bytes());
        }
        m.extend_from_slice(format!("--b--{eol}").as_bytes());
        m
    }

    #[test]
    fn an_attachment_is_stored_as_its_bytes_and_comes_back_exactly() {
        for (size, line, eol) in [
            (30_000, 76, "\r\n"),
            (30_001, 76, "\r\n"),
            (30_002, 64, "\n"),
            (4_096, 72, "\r\n"),
        ] {
            let data = noise(size, size as u64);
            let raw = mail_with(&data, line, eol);
            let c = lift(&raw).expect("the run is lifted");
            assert!(
                c.len() < data.len() + 300,
                "{size}/{line}: {} for {}",
                c.len(),
                data.len()
            );
            assert_eq!(lower(&c).unwrap(), raw, "{size}/{line}");
        }
    }

    #[test]
    fn text_that_would_not_come_back_the_same_stays_text() {
        let data = noise(6_001, 7);
        let good = mail_with(&data, 76, "\r\n");
        let text = String::from_utf8(good.clone()).unwrap();
        // Non-zero trailing bits: another text for the same bytes.
        let last = text.rfind("=\r\n--b--").map(|i| i - 1);
        let cases: Vec<Vec<u8>> = vec![
            // A short line in the middle.
            text.replacen("\r\n", "\r\n\r\n", 12).into_bytes(),
            // Mixed line ends inside the run.
            {
                let i = text
                    .find("Content-Transfer-Encoding: base64\r\n\r\n")
                    .unwrap()
                    + 200;
                let j = i + text[i..].find("\r\n").unwrap();
                format!("{}\n{}", &text[..j], &text[j + 2..]).into_bytes()
            },
            // Padding inside, a stray space, an odd width.
            text.replacen("A", "=", 1).into_bytes(),
            text.replacen("B", " ", 1).into_bytes(),
            mail_with(&data, 77, "\r\n"),
            match last {
                Some(i) => {
                    let mut b = good.clone();
                    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
                    b
                }
                None => good.clone(),
            },
        ];
        for (k, raw) in cases.iter().enumerate() {
            let back = match lift(raw) {
                Some(c) => lower(&c).unwrap(),
                None => raw.clone(),
            };
            assert_eq!(&back, raw, "case {k}");
        }
    }

    /// Release builds rely on this (they do not encode again to compare):
    /// the decoder refuses every text that is not what encoding gives.
    #[test]
    fn the_decoder_takes_only_canonical_base64() {
        assert_eq!(STANDARD.decode("QQ==").unwrap(), b"A");
        for odd in [
            "QR==", "QQ", "QQ=", "Q===", "QQ==QQ==", "QUI=QQ==", "QU I=", "QUJD\n",
        ] {
            assert!(STANDARD.decode(odd).is_err(), "{odd:?}");
        }
    }

    #[test]
    fn small_runs_and_plain_mail_are_left_alone() {
        assert!(lift(b"Subject: hi\r\n\r\nHello, the printer is down.\r\n").is_none());
        assert!(lift(&mail_with(&noise(500, 3), 76, "\r\n")).is_none());
        assert!(lift(b"").is_none());
        // A run at the very end without a final line end stays text.
        let mut raw = mail_with(&noise(3_000, 5), 76, "\r\n");
        raw.truncate(raw.len() - "--b--\r\n".len() - 2);
        let back = lift(&raw).map_or(raw.clone(), |c| lower(&c).unwrap());
        assert_eq!(back, raw);
    }

    #[test]
    fn two_attachments_and_text_between() {
        let a = noise(5_000, 11);
        let b = noise(9_000, 13);
        let mut raw = mail_with(&a, 76, "\r\n");
        raw.extend_from_slice(b"\r\nbetween\r\n");
        raw.extend_from_slice(&mail_with(&b, 76, "\r\n"));
        let c = lift(&raw).unwrap();
        assert!(c.len() < a.len() + b.len() + 600, "{}", c.len());
        assert_eq!(lower(&c).unwrap(), raw);
    }

    #[test]
    fn a_damaged_container_is_an_error_not_a_panic() {
        let raw = mail_with(&noise(4_000, 17), 76, "\r\n");
        let c = lift(&raw).unwrap();
        for cut in [1, 2, 5, c.len() / 2, c.len() - 1] {
            assert!(lower(&c[..cut]).is_err(), "cut at {cut}");
        }
        assert!(lower(&[9]).is_err());
        assert!(lower(&[BASE64, 0, 0, 0]).is_err());
        assert!(
            lower(&[
                LITERAL, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
            ])
            .is_err()
        );
    }

    proptest::proptest! {
        /// Whatever the mail, lifting and lowering gives it back: base64
        /// of any length and width, with a byte changed anywhere.
        #[test]
        fn any_mail_comes_back_byte_for_byte(
            size in 0usize..5_000,
            width in 1usize..30,
            lf in proptest::bool::ANY,
            poke in proptest::option::of((0usize..10_000, proptest::sample::select(b"A=/+\r\n -".to_vec()))),
            seed in 1u64..1_000,
        ) {
            let mut raw = mail_with(&noise(size, seed), width * 4, if lf { "\n" } else { "\r\n" });
            if let Some((at, b)) = poke {
                let at = at % raw.len();
                raw[at] = b;
            }
            let back = lift(&raw).map_or(raw.clone(), |c| lower(&c).unwrap());
            proptest::prop_assert_eq!(back, raw);
        }
    }
}
