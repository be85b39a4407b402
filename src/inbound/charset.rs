//! Decoding bytes whose charset is missing, wrong or unknown.
//!
//! The rule for unlabelled 8-bit text: UTF-8 when valid; else GB18030 when it
//! decodes cleanly (Chinese clients often send GBK without saying so); else
//! Latin-1, read as windows-1252 as browsers do, so `0x92` is a quote mark and
//! not an invisible control character.

use mail_parser::decoders::charsets::map::charset_decoder;

/// True for labels mail-parser (or Rust itself, for UTF-8) can decode.
pub(super) fn is_known(label: &str) -> bool {
    is_utf8_label(label) || charset_decoder(label.as_bytes()).is_some()
}

fn is_utf8_label(label: &str) -> bool {
    let l = label.trim().trim_matches('"');
    l.eq_ignore_ascii_case("utf-8") || l.eq_ignore_ascii_case("utf8")
}

/// True for `us-ascii` and its aliases: a label that 8-bit bytes contradict.
pub(super) fn is_ascii_label(label: &str) -> bool {
    let l = label.trim().trim_matches('"');
    [
        "us-ascii",
        "ascii",
        "us_ascii",
        "ansi_x3.4-1968",
        "iso646-us",
    ]
    .iter()
    .any(|a| l.eq_ignore_ascii_case(a))
}

/// Decodes with a named charset; `None` when the label is unknown.
fn decode_with(label: &str, bytes: &[u8]) -> Option<String> {
    if is_utf8_label(label) {
        return Some(String::from_utf8_lossy(bytes).into_owned());
    }
    charset_decoder(label.trim().as_bytes()).map(|decode| decode(bytes))
}

/// GB18030 (a superset of GBK and GB2312), only when every byte sequence is
/// valid and nothing lands in the private use area (where unassigned GBK
/// codes go, and where Latin-1 text read as GBK often ends up).
fn gb18030_clean(bytes: &[u8]) -> Option<String> {
    if !gb18030_structure(bytes) {
        return None;
    }
    let text = decode_with("gb18030", bytes)?;
    let suspicious = |c: char| c == '\u{FFFD}' || ('\u{E000}'..='\u{F8FF}').contains(&c);
    (!text.chars().any(suspicious)).then_some(text)
}

/// A cheap check of GB18030 byte structure (ASCII; lead 0x81–0xFE with a
/// trail 0x40–0x7E or 0x80–0xFE; or the four-byte form), so text that is
/// plainly something else is not decoded in full just to be thrown away.
fn gb18030_structure(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            i += 1;
            continue;
        }
        if !(0x81..=0xFE).contains(&b) {
            return false;
        }
        match bytes.get(i + 1) {
            Some(0x40..=0x7E | 0x80..=0xFE) => i += 2,
            Some(0x30..=0x39) => match (bytes.get(i + 2), bytes.get(i + 3)) {
                (Some(0x81..=0xFE), Some(0x30..=0x39)) => i += 4,
                _ => return false,
            },
            _ => return false,
        }
    }
    true
}

/// Text without a (usable) charset label: UTF-8, else GB18030, else windows-1252.
pub(super) fn decode_unlabelled(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => gb18030_clean(bytes)
            .or_else(|| decode_with("windows-1252", bytes))
            .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned()),
    }
}

/// A body part whose MIME label was missing, unknown or wrong. HTML may
/// still say its charset in a `<meta>` tag, which wins over guessing.
pub(super) fn decode_guessing(bytes: &[u8], is_html: bool) -> String {
    if std::str::from_utf8(bytes).is_err()
        && is_html
        && let Some(label) = html_meta_charset(bytes)
        && let Some(text) = decode_with(&label, bytes)
    {
        return text;
    }
    decode_unlabelled(bytes)
}

/// The charset named by `<meta charset=…>` or `<meta http-equiv … content="…;
/// charset=…">` in the first few kilobytes of an HTML document.
fn html_meta_charset(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(4096)];
    let lower: Vec<u8> = head.iter().map(u8::to_ascii_lowercase).collect();
    let mut from = 0;
    while let Some(pos) = find(&lower[from..], b"<meta") {
        let start = from + pos;
        let end = lower[start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(lower.len(), |e| start + e);
        let tag = &lower[start..end];
        if let Some(c) = find(tag, b"charset=") {
            let value: String = tag[c + 8..]
                .iter()
                .skip_while(|&&b| b == b'"' || b == b'\'' || b == b' ')
                .take_while(|&&b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
                .map(|&b| char::from(b))
                .collect();
            if !value.is_empty() {
                return Some(value);
            }
        }
        from = end;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A header block where some headers are raw 8-bit: each logical header
/// (with its continuation lines) that is not UTF-8 is decoded on its own.
pub(super) fn decode_header_block(block: &[u8]) -> String {
    let mut out = String::with_capacity(block.len() + block.len() / 2);
    let mut start = 0;
    let mut i = 0;
    while i < block.len() {
        let line_end = block[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(block.len(), |p| i + p + 1);
        let next_is_continuation = matches!(block.get(line_end), Some(b' ' | b'\t'));
        if !next_is_continuation {
            out.push_str(&decode_unlabelled(&block[start..line_end]));
            start = line_end;
        }
        i = line_end;
    }
    out
}

/// RFC 2047 decoding that first joins adjacent encoded words of the same
/// charset, for clients that split one multi-byte character across words
/// (not allowed, but common). Used only when the normal decoding lost text.
pub(super) fn decode_encoded_words(value: &str) -> String {
    let mut out = String::new();
    // Pending bytes of adjacent words with one charset.
    let mut pending: Option<(String, Vec<u8>)> = None;
    let mut gap = String::new();
    let mut rest = value;
    let flush = |out: &mut String, pending: &mut Option<(String, Vec<u8>)>| {
        if let Some((cs, bytes)) = pending.take() {
            out.push_str(&decode_with(&cs, &bytes).unwrap_or_else(|| decode_unlabelled(&bytes)));
        }
    };
    while !rest.is_empty() {
        match encoded_word(rest) {
            Some((charset, bytes, len)) => {
                match &mut pending {
                    Some((cs, buf)) if cs.eq_ignore_ascii_case(&charset) => {
                        buf.extend_from_slice(&bytes)
                    }
                    _ => {
                        flush(&mut out, &mut pending);
                        pending = Some((charset, bytes));
                    }
                }
                // Whitespace between two encoded words is not text.
                gap.clear();
                rest = &rest[len..];
            }
            None => {
                let c = rest.chars().next().unwrap_or(' ');
                if c.is_whitespace() && pending.is_some() {
                    gap.push(c);
                } else {
                    flush(&mut out, &mut pending);
                    out.push_str(&gap);
                    gap.clear();
                    out.push(c);
                }
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    flush(&mut out, &mut pending);
    out.push_str(&gap);
    out
}

/// One `=?charset?B|Q?text?=` at the start of `s`: charset, bytes, length.
fn encoded_word(s: &str) -> Option<(String, Vec<u8>, usize)> {
    // Real words are under 100 bytes; the cap keeps a hostile run of `=?`
    // without `?=` from making this quadratic.
    let mut cap = s.len().min(1024);
    while !s.is_char_boundary(cap) {
        cap -= 1;
    }
    let body = s[..cap].strip_prefix("=?")?;
    let (raw_charset, body) = body.split_once('?')?;
    let (enc, body) = body.split_once('?')?;
    let end = body.find("?=")?;
    let text = &body[..end];
    if raw_charset.is_empty() || text.contains(char::is_whitespace) {
        return None;
    }
    // RFC 2231 allows a language after the charset: `utf-8*fr`.
    let charset = raw_charset
        .split('*')
        .next()
        .unwrap_or(raw_charset)
        .to_string();
    let bytes = if enc.eq_ignore_ascii_case("b") {
        mail_parser::decoders::base64::base64_decode(text.as_bytes())?
    } else if enc.eq_ignore_ascii_case("q") {
        q_decode(text.as_bytes())
    } else {
        return None;
    };
    let len = 2 + raw_charset.len() + 1 + enc.len() + 1 + end + 2;
    Some((charset, bytes, len))
}

fn q_decode(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'='),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlabelled_utf8_gbk_latin1() {
        assert_eq!(decode_unlabelled("你好".as_bytes()), "你好");
        assert_eq!(decode_unlabelled(b"\xc4\xe3\xba\xc3"), "你好");
        assert_eq!(decode_unlabelled(b"caf\xe9"), "café");
        assert_eq!(
            decode_unlabelled(b"\x93quoted\x94"),
            "\u{201C}quoted\u{201D}"
        );
        // Valid as GBK, but the result is in the private use area: Latin-1.
        assert_eq!(decode_unlabelled(b"\xaa\xa1"), "ª¡");
    }

    #[test]
    fn gb18030_structure_check() {
        assert!(gb18030_structure(b"abc\xc4\xe3\x94\x39\xfc\x36"));
        assert!(!gb18030_structure(b"\xff"));
        assert!(!gb18030_structure(b"caf\xe9"));
        assert!(!gb18030_structure(b"\xc4"));
        assert!(!gb18030_structure(b"\x94\x39\xfc"));
    }

    #[test]
    fn gb18030_four_byte_sequences() {
        // Characters outside the BMP take four bytes in GB18030.
        assert_eq!(decode_unlabelled(b"\x94\x39\xfc\x36"), "😀");
    }

    #[test]
    fn labels() {
        assert!(is_known("gb2312"));
        assert!(is_known("UTF-8"));
        assert!(is_known("Big5"));
        assert!(!is_known("x-unknown"));
        assert!(is_ascii_label("US-ASCII"));
        assert!(!is_ascii_label("utf-8"));
    }

    #[test]
    fn meta_charset() {
        assert_eq!(
            html_meta_charset(b"<html><head><META http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\">"),
            Some("gb2312".into())
        );
        assert_eq!(
            html_meta_charset(b"<meta charset='big5'>"),
            Some("big5".into())
        );
        assert_eq!(html_meta_charset(b"<meta name=x><p>charset=no</p>"), None);
        assert_eq!(
            decode_guessing(b"<meta charset=\"big5\">\xa7\x41\xa6\x6e", true),
            "<meta charset=\"big5\">你好"
        );
    }

    #[test]
    fn header_block_per_header() {
        let block =
            b"Subject: \xc4\xe3\xba\xc3\r\n \xc4\xe3\r\nX-Latin: caf\xe9\r\nTo: a@b\r\n\r\n";
        assert_eq!(
            decode_header_block(block),
            "Subject: 你好\r\n 你\r\nX-Latin: café\r\nTo: a@b\r\n\r\n"
        );
    }

    #[test]
    fn encoded_words_joined() {
        assert_eq!(
            decode_encoded_words("=?UTF-8?B?5L2g5Q==?= =?UTF-8?B?pb0=?="),
            "你好"
        );
        assert_eq!(
            decode_encoded_words("Re: =?gb2312?Q?=C4=E3?=\r\n =?gb2312?Q?=BA=C3?= there"),
            "Re: 你好 there"
        );
        assert_eq!(
            decode_encoded_words("=?iso-8859-1*fr?Q?caf=E9_au_lait?= =?utf-8?B?5L2g?="),
            "café au lait你"
        );
        assert_eq!(
            decode_encoded_words("plain =? not a word ?= x"),
            "plain =? not a word ?= x"
        );
    }
}
