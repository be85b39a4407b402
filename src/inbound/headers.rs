//! Header blocks mended before mail-parser reads them for display.
//!
//! mail-parser reads header bytes as UTF-8, believes every encoded word's
//! label, decodes each encoded word on its own, and keeps comments in
//! display names. Each of those goes wrong on real mail, so a header block
//! whose values need it is rewritten ([`mend_block`]) and parsed again:
//! - raw 8-bit values (Foxmail 5, scanners, old webmails) are decoded with
//!   one charset for the whole block, chosen from the block's evidence
//!   (`charset::choose`): one client wrote all of them;
//! - a run of encoded words is decoded joined, since clients split one
//!   character over two words, and by its label only when the label decodes
//!   cleanly (`charset::decode_labelled`); a run that needed either is
//!   written back as one UTF-8 encoded word;
//! - comments are removed from address headers ([`strip_address_comments`]).
//!
//! Only what is shown is read from the mended block (names, subject, date);
//! ids and automatic-mail signals are read from the raw headers.

use mail_parser::HeaderName;
use mail_parser::decoders::charsets::map::charset_decoder;

use super::charset::{self, Evidence};

/// The block rewritten so mail-parser reads it right, or `None` when it
/// would have anyway (the common case: nothing is copied).
pub(super) fn mend_block(block: &[u8], ev: &Evidence) -> Option<String> {
    let lines = logical_lines(block);
    // Raw 8-bit values: not UTF-8, or UTF-8 only by accident (see
    // `charset::is_utf8`).
    let is_raw = |line: &[u8]| !charset::is_utf8(value_of(line), ev);
    let raw_values: Vec<&[u8]> = lines
        .iter()
        .filter(|l| is_raw(l))
        .map(|l| value_of(l).trim_ascii())
        .collect();
    let chosen = (!raw_values.is_empty()).then(|| charset::choose(&raw_values, ev));
    let mut out = String::with_capacity(block.len() + block.len() / 2);
    let mut changed = false;
    for line in lines {
        let value = value_of(line);
        let name = &line[..line.len() - value.len()];
        let text = match (std::str::from_utf8(line), &chosen) {
            (Ok(s), _) if !is_raw(line) => std::borrow::Cow::Borrowed(s),
            (_, chosen) => {
                changed = true;
                // A name that is not UTF-8 is no header mail-parser reads
                // for display; it only has to stay text.
                let mut text = String::from_utf8_lossy(name).into_owned();
                let decoded = chosen
                    .as_deref()
                    .filter(|_| is_raw(line))
                    .and_then(|label| charset::decode_with(label, value))
                    .filter(|d| charset::is_clean(d));
                // The block's choice does not fit this one header: read it on its own.
                text.push_str(&decoded.unwrap_or_else(|| charset::decode_unlabelled(value, ev)));
                std::borrow::Cow::Owned(text)
            }
        };
        let (name, value) = match text.split_once(':') {
            Some((n, v)) if !n.contains(char::is_whitespace) => (n, v),
            _ => {
                out.push_str(&text);
                continue;
            }
        };
        let mut mended = mend_encoded_words(value, ev);
        if is_address_header(name)
            && let Some(stripped) = strip_address_comments(mended.as_deref().unwrap_or(value))
        {
            mended = Some(stripped);
        }
        match mended {
            Some(v) => {
                changed = true;
                out.push_str(name);
                out.push(':');
                out.push_str(v.trim_end_matches(['\r', '\n']));
                out.push_str(line_end(line));
            }
            None => out.push_str(&text),
        }
    }
    changed.then_some(out)
}

/// The first `Subject` of a parsed header block, as mail clients show it
/// (mail-parser's `subject()` returns the last).
pub(super) fn first_subject<'a>(msg: &'a mail_parser::Message<'_>) -> Option<&'a str> {
    msg.parts
        .first()?
        .headers
        .iter()
        .find(|h| h.name == HeaderName::Subject)
        .and_then(|h| h.value.as_text())
}

/// Headers with their continuation lines, each with its line break.
fn logical_lines(block: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < block.len() {
        let line_end = block[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(block.len(), |p| i + p + 1);
        if !matches!(block.get(line_end), Some(b' ' | b'\t')) {
            out.push(&block[start..line_end]);
            start = line_end;
        }
        i = line_end;
    }
    out
}

/// What follows the first colon (all of it when there is none).
fn value_of(line: &[u8]) -> &[u8] {
    line.iter()
        .position(|&b| b == b':')
        .map_or(line, |p| &line[p + 1..])
}

fn line_end(line: &[u8]) -> &'static str {
    if line.ends_with(b"\r\n") {
        "\r\n"
    } else if line.ends_with(b"\n") {
        "\n"
    } else {
        ""
    }
}

fn is_address_header(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    let n = n.strip_prefix("resent-").unwrap_or(&n);
    matches!(n, "from" | "to" | "cc" | "bcc" | "reply-to" | "sender")
}

/// Runs of encoded words decoded joined and with a label that may lie,
/// written back as UTF-8 words; `None` when mail-parser's word-by-word
/// reading by the label gives the same text.
fn mend_encoded_words(value: &str, ev: &Evidence) -> Option<String> {
    if !value.contains("=?") {
        return None;
    }
    let mut out = String::with_capacity(value.len());
    let mut changed = false;
    let mut rest = value;
    while let Some(c) = rest.chars().next() {
        let Some((words, len)) = run_at(rest) else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        };
        // Adjacent words of one charset are one string of bytes.
        let mut groups: Vec<(String, Vec<u8>, String)> = Vec::new();
        for (label, bytes) in words {
            let alone = word_as_parsed(&label, &bytes);
            match groups.last_mut() {
                Some((l, b, a)) if l.eq_ignore_ascii_case(&label) => {
                    b.extend_from_slice(&bytes);
                    a.push_str(&alone);
                }
                _ => groups.push((label, bytes, alone)),
            }
        }
        let mut texts = Vec::with_capacity(groups.len());
        let mut differs = false;
        for (label, bytes, alone) in &groups {
            let text = charset::decode_labelled(label, bytes, ev);
            differs |= &text != alone;
            texts.push(text);
        }
        if differs {
            changed = true;
            let words: Vec<String> = texts
                .iter()
                .filter(|t| !t.is_empty())
                .map(|t| utf8_word(t))
                .collect();
            out.push_str(&words.join(" "));
        } else {
            out.push_str(&rest[..len]);
        }
        rest = &rest[len..];
    }
    changed.then_some(out)
}

/// One encoded word: its charset label and its bytes.
type Word = (String, Vec<u8>);

/// Encoded words at the start of `s` separated only by whitespace: each
/// word's charset and bytes, and the length of the run (trailing
/// whitespace not included).
fn run_at(s: &str) -> Option<(Vec<Word>, usize)> {
    let (label, bytes, mut len) = charset::encoded_word(s)?;
    let mut words = vec![(label, bytes)];
    loop {
        let after = &s[len..];
        let gap = after.len() - after.trim_start().len();
        match charset::encoded_word(&after[gap..]) {
            Some((l, b, n)) if gap > 0 => {
                words.push((l, b));
                len += gap + n;
            }
            _ => return Some((words, len)),
        }
    }
}

/// How mail-parser decodes one word: by its label, else as UTF-8.
fn word_as_parsed(label: &str, bytes: &[u8]) -> String {
    match charset_decoder(label.as_bytes()) {
        Some(decode) => decode(bytes),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn utf8_word(text: &str) -> String {
    format!("=?utf-8?b?{}?=", base64(text.as_bytes()))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An address header's value with its comments removed, so they do not
/// end up in display names: `Pete(A wonderful \) chap) <pete(his
/// account)@silly.test(his host)>` is `Pete <pete@silly.test>`. A comment
/// after a bare address (`pete@silly.test (Pete Smith)`) is the old way of
/// giving a name and is kept, for mail-parser to read as one. `None` when
/// there was nothing to remove.
pub(super) fn strip_address_comments(value: &str) -> Option<String> {
    if !value.contains('(') {
        return None;
    }
    let mut out = String::with_capacity(value.len());
    let mut changed = false;
    for (item, separator) in items(value) {
        match strip_item(item) {
            Some(s) => {
                changed = true;
                out.push_str(&s);
            }
            None => out.push_str(item),
        }
        if let Some(c) = separator {
            out.push(c);
        }
    }
    changed.then_some(out)
}

/// The mailboxes of an address list, split at the commas (and the group
/// syntax's `:` and `;`) that are outside quotes, comments and brackets.
fn items(value: &str) -> Vec<(&str, Option<char>)> {
    let mut out = Vec::new();
    let (mut quoted, mut depth, mut angle, mut escaped) = (false, 0usize, false, false);
    let mut start = 0;
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted || depth > 0 => escaped = true,
            '"' if depth == 0 => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            '<' if !quoted && depth == 0 => angle = true,
            '>' if !quoted && depth == 0 => angle = false,
            ',' | ';' | ':' if !quoted && depth == 0 && !angle => {
                out.push((&value[start..i], Some(c)));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push((&value[start..], None));
    out
}

/// One mailbox with its comments removed (see [`strip_address_comments`]).
fn strip_item(item: &str) -> Option<String> {
    // Each comment: its byte range and whether it is inside `<…>`.
    let mut comments: Vec<(usize, usize, bool)> = Vec::new();
    let (mut quoted, mut depth, mut angle, mut escaped, mut has_angle) =
        (false, 0usize, false, false, false);
    let mut start = 0;
    for (i, c) in item.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted || depth > 0 => escaped = true,
            '"' if depth == 0 => quoted = !quoted,
            '(' if !quoted => {
                if depth == 0 {
                    start = i;
                }
                depth += 1;
            }
            ')' if !quoted && depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    comments.push((start, i + 1, angle));
                }
            }
            '<' if !quoted && depth == 0 => {
                angle = true;
                has_angle = true;
            }
            '>' if !quoted && depth == 0 => angle = false,
            _ => {}
        }
    }
    if depth > 0 {
        // An unclosed comment would swallow the rest, address and all:
        // better to leave the mailbox as it came than to lose the address.
        return None;
    }
    if comments.is_empty() {
        return None;
    }
    // `addr (Name)`: the trailing comment of a bare address is its name.
    if !has_angle
        && let Some(&(s, e, _)) = comments.last()
        && item[e..].trim().is_empty()
        && !item[..s].trim().is_empty()
    {
        comments.pop();
        if comments.is_empty() {
            return None;
        }
    }
    let mut out = String::with_capacity(item.len());
    let mut at = 0;
    for (s, e, inside) in comments {
        out.push_str(&item[at..s.max(at)]);
        at = e;
        // In a phrase a comment separates words (one space between them,
        // not two); inside an address (in brackets, or a bare one), it is
        // nothing.
        let rest = &item[e..];
        if out.ends_with(char::is_whitespace) || out.is_empty() {
            at += rest.len() - rest.trim_start().len();
        } else if has_angle && !inside && !rest.starts_with(char::is_whitespace) && !rest.is_empty()
        {
            out.push(' ');
        }
    }
    out.push_str(&item[at..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_from(value: &str) -> (Option<String>, Option<String>) {
        let block = format!("From: {value}\r\n\r\n");
        let fixed = mend_block(block.as_bytes(), &Evidence::default());
        let text = fixed.as_deref().unwrap_or(&block);
        let m = crate::inbound::mime_parser()
            .parse_headers(text.as_bytes())
            .unwrap();
        let a = m.from().and_then(|a| a.first()).unwrap();
        (
            a.name().map(str::to_string),
            a.address().map(str::to_string),
        )
    }

    #[test]
    fn comments_leave_display_names() {
        assert_eq!(
            parse_from(r"Pete(A wonderful \) chap) <pete(his account)@silly.test(his host)>"),
            (Some("Pete".into()), Some("pete@silly.test".into()))
        );
        assert_eq!(
            parse_from("\"Dr. Mei (IT)\" <mei@corp.test> (via relay)"),
            (Some("Dr. Mei (IT)".into()), Some("mei@corp.test".into())),
            "parentheses in quotes are no comment"
        );
        assert_eq!(
            parse_from("Jörg (Vertrieb (Nord)) Müller <j.mueller@firma.test>"),
            (
                Some("Jörg Müller".into()),
                Some("j.mueller@firma.test".into())
            )
        );
        // The old form: the comment after a bare address is the name.
        assert_eq!(
            parse_from("pete@silly.test (Pete Smith)"),
            (Some("Pete Smith".into()), Some("pete@silly.test".into()))
        );
        assert_eq!(
            parse_from("pete(his account)@silly.test(his host)"),
            (Some("his host".into()), Some("pete@silly.test".into())),
            "a bare address: the trailing comment is its name"
        );
        assert_eq!(
            parse_from("Ann <ann@corp.test>"),
            (Some("Ann".into()), Some("ann@corp.test".into()))
        );
    }

    #[test]
    fn comments_in_address_lists() {
        assert_eq!(
            strip_address_comments("A (x) <a@x.test>, b@y.test (Bee), Team: c(z)@z.test;")
                .as_deref(),
            Some("A <a@x.test>, b@y.test (Bee), Team: c@z.test;")
        );
        assert_eq!(strip_address_comments("\"(quoted)\" <q@x.test>"), None);
        assert_eq!(strip_address_comments("Ann <ann@x.test>"), None);
        assert_eq!(strip_address_comments("a@x.test (unclosed"), None);
        assert_eq!(strip_address_comments("Ann (unclosed <ann@x.test>"), None);
    }

    #[test]
    fn raw_8bit_values_decoded_once_per_block() {
        let block = b"From: \"\xc1\xf5\xd1\xde\" <liu.yan@example.cn>\r\nSubject: \xd3\xca\xcf\xe4\xce\xde\xb7\xa8\xb5\xc7\xc2\xbc\r\nTo: help@desk.test\r\n\r\n";
        assert_eq!(
            mend_block(block, &Evidence::default()).unwrap(),
            "From: \"刘艳\" <liu.yan@example.cn>\r\nSubject: 邮箱无法登录\r\nTo: help@desk.test\r\n\r\n"
        );
        let latin = b"From: H\xe5vard Nilsen <havard@firma.test>\r\nSubject: Ny adresse: Hofj\xe4gerallee 12\r\n\r\n";
        assert_eq!(
            mend_block(latin, &Evidence::default()).unwrap(),
            "From: Håvard Nilsen <havard@firma.test>\r\nSubject: Ny adresse: Hofjägerallee 12\r\n\r\n"
        );
        assert_eq!(
            mend_block(b"Subject: plain\r\n\r\n", &Evidence::default()),
            None
        );
    }

    #[test]
    fn encoded_words_joined_and_lying_labels() {
        let ev = Evidence::default();
        // 你好 in UTF-8 split after the fourth byte, as some webmails do.
        assert_eq!(
            mend_encoded_words(" =?UTF-8?B?5L2g5Q==?= =?UTF-8?B?pb0=?= world", &ev).as_deref(),
            Some(" =?utf-8?b?5L2g5aW9?= world")
        );
        // Declared ISO-2022-JP, bytes in Shift_JIS (会議室).
        assert_eq!(
            mend_encoded_words("=?ISO-2022-JP?B?ie+LY466?=", &ev).as_deref(),
            Some(&*utf8_word("会議室"))
        );
        // Well-formed words are left alone.
        assert_eq!(
            mend_encoded_words("=?gb2312?B?xOO6ww==?= =?utf-8?q?caf=C3=A9?=", &ev),
            None
        );
        assert_eq!(mend_encoded_words("plain =? not a word ?= x", &ev), None);
    }

    #[test]
    fn odd_bytes_anywhere_in_a_block() {
        // Found by the fuzzer: 8-bit bytes in a header's name (its value
        // UTF-8), in a line without a colon, in a continuation line.
        for block in [
            &b"X-\xe9t\xe9: plain value\r\nSubject: ok\r\n\r\n"[..],
            b"not a header \xff\xfe\r\nSubject: ok\r\n\r\n",
            b"Subject: ok\r\n \xc4\xe3\r\n\r\n",
            b"\xff",
            b":",
            b"",
        ] {
            let mended = mend_block(block, &Evidence::default());
            if let Some(m) = mended {
                assert!(m.contains("ok") || block.len() < 3, "{m:?}");
            }
        }
    }

    #[test]
    fn base64_encodes() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64("你好".as_bytes()), "5L2g5aW9");
    }

    #[test]
    fn first_subject_wins() {
        let m = crate::inbound::mime_parser()
            .parse_headers(b"Subject: first\r\nSubject: second\r\n\r\n")
            .unwrap();
        assert_eq!(first_subject(&m), Some("first"));
        assert_eq!(m.subject(), Some("second"), "mail-parser's own choice");
    }
}
