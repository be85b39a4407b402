//! MIME parameters written the RFC 2231 way: `filename*=utf-8''%E6%8A%A5.pdf`
//! and continuations, `filename*0*=iso-2022-jp''%1B%24B…; filename*1*=…`.
//!
//! mail-parser decodes each segment on its own. That breaks a character
//! whose bytes straddle two segments, and every stateful charset
//! (ISO-2022-JP switches in with `ESC $ B` in one segment and out in the
//! next). RFC 2231 §4.1 says the segments are one value: here the
//! percent-decoded bytes of all segments are joined first, in the order of
//! their numbers, and then decoded once with the charset the first one
//! declares.

use std::collections::BTreeMap;

use super::charset::{self, Evidence};

/// The value of parameter `name` in a raw `Content-Type` or
/// `Content-Disposition` value when it is written RFC 2231 style (`name*`
/// or `name*0`, `name*1`…); `None` when it is not, or is not there.
pub(super) fn extended(value: &[u8], name: &str, ev: &Evidence) -> Option<String> {
    // Segment number → (percent-encoded?, bytes as written).
    let mut segments: BTreeMap<u32, (bool, Vec<u8>)> = BTreeMap::new();
    for (attr, val) in params(value) {
        let Some(rest) = strip_prefix_ignore_case(&attr, name) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix('*') else {
            continue;
        };
        let (number, encoded) = match rest {
            "" => (0, true),
            r => {
                let (digits, star) = match r.strip_suffix('*') {
                    Some(d) => (d, true),
                    None => (r, false),
                };
                match digits.parse::<u32>() {
                    // `*00` is not a number RFC 2231 allows; nor are huge ones.
                    Ok(n) if digits == n.to_string() && n < 1000 => (n, star),
                    _ => continue,
                }
            }
        };
        segments.entry(number).or_insert((encoded, val));
    }
    let first = segments.get(&0)?;
    let (label, first_bytes) = if first.0 {
        split_charset(&first.1)
    } else {
        (String::new(), &first.1[..])
    };
    let mut bytes = Vec::new();
    // Segments in order, up to the first gap.
    for (i, (n, (encoded, raw))) in segments.iter().enumerate() {
        if *n as usize != i {
            break;
        }
        let raw = if *n == 0 { first_bytes } else { &raw[..] };
        if *encoded {
            bytes.extend(percent_decode(raw));
        } else {
            bytes.extend_from_slice(raw);
        }
    }
    Some(if label.is_empty() {
        charset::decode_unlabelled(&bytes, ev)
    } else {
        charset::decode_labelled(&label, &bytes, ev)
    })
}

/// `charset'language'text` → the charset and the text.
fn split_charset(value: &[u8]) -> (String, &[u8]) {
    let mut parts = value.splitn(3, |&b| b == b'\'');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(cs), Some(_lang), Some(text)) => {
            (String::from_utf8_lossy(cs).trim().to_string(), text)
        }
        _ => (String::new(), value),
    }
}

fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%'
            && let (Some(h), Some(l)) = (
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The `attribute=value` pairs after the first `;` of a header value,
/// attribute names trimmed, values unquoted. Line breaks of folding are
/// whitespace.
fn params(value: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let Some(start) = value.iter().position(|&b| b == b';') else {
        return out;
    };
    let mut i = start + 1;
    let n = value.len();
    while i < n {
        while i < n && (value[i].is_ascii_whitespace() || value[i] == b';') {
            i += 1;
        }
        let attr_start = i;
        while i < n && !matches!(value[i], b'=' | b';') {
            i += 1;
        }
        let attr = String::from_utf8_lossy(&value[attr_start..i])
            .trim()
            .to_string();
        if i >= n || value[i] == b';' {
            continue;
        }
        i += 1;
        while i < n && matches!(value[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        let mut val = Vec::new();
        if value.get(i) == Some(&b'"') {
            i += 1;
            while i < n && value[i] != b'"' {
                if value[i] == b'\\' && i + 1 < n {
                    i += 1;
                }
                if !matches!(value[i], b'\r' | b'\n') {
                    val.push(value[i]);
                }
                i += 1;
            }
            i += 1;
        } else {
            while i < n && !matches!(value[i], b';') && !value[i].is_ascii_whitespace() {
                val.push(value[i]);
                i += 1;
            }
        }
        if !attr.is_empty() {
            out.push((attr, val));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(value: &str, name: &str) -> Option<String> {
        extended(value.as_bytes(), name, &Evidence::default())
    }

    #[test]
    fn segments_are_joined_before_decoding() {
        // ISO-2022-JP: the escape into JIS X 0208 is in the first segment,
        // the way out in the second. こんにちは.pdf
        assert_eq!(
            ext(
                "attachment;\r\n filename*0*=iso-2022-jp''%1B%24B%24%33%24%73;\r\n filename*1*=%24%4B%24%41%24%4F%1B%28B.pdf",
                "filename"
            )
            .as_deref(),
            Some("こんにちは.pdf")
        );
        // UTF-8 報告書.pdf with a character split between segments.
        assert_eq!(
            ext(
                "attachment; filename*0*=UTF-8''%E5%A0%B1%E5; filename*1*=%91%8A%E6%9B%B8.pdf",
                "filename"
            )
            .as_deref(),
            Some("報告書.pdf")
        );
    }

    #[test]
    fn order_plain_segments_and_gaps() {
        // Out of order, a plain (quoted) segment, a gap after which nothing counts.
        assert_eq!(
            ext(
                "application/pdf; name*1=\"port 2023\"; name*0*=utf-8'en'Re%C3%A9; name*2*=.pdf; name*4=x",
                "name"
            )
            .as_deref(),
            Some("Reéport 2023.pdf")
        );
        // No charset on the first segment: guessed like any unlabelled bytes.
        assert_eq!(
            ext(
                "attachment; filename*0=\"Bestellung M\u{fc}ller\"; filename*1=\".pdf\"",
                "filename"
            )
            .as_deref(),
            Some("Bestellung Müller.pdf")
        );
        assert_eq!(
            ext("attachment; filename*=utf-8''%E6%8A%A5.txt", "filename").as_deref(),
            Some("报.txt")
        );
    }

    #[test]
    fn not_rfc_2231() {
        assert_eq!(ext("attachment; filename=\"plain.pdf\"", "filename"), None);
        assert_eq!(
            ext("attachment; filename*1*=only-a-second.pdf", "filename"),
            None
        );
        assert_eq!(
            ext("attachment; xfilename*0*=utf-8''x.pdf", "filename"),
            None
        );
        assert_eq!(
            ext("attachment; filename*00*=utf-8''x.pdf", "filename"),
            None
        );
        assert_eq!(ext("attachment", "filename"), None);
        assert_eq!(
            ext("attachment; filename*0*=", "filename").as_deref(),
            Some("")
        );
    }

    #[test]
    fn percent_decoding_is_lenient() {
        assert_eq!(percent_decode(b"a%41%zz%4"), b"aA%zz%4");
    }
}
