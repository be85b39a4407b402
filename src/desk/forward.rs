//! Forwarded mail: an agent forwards a customer's mail to the desk, and the
//! ticket belongs to the customer. Pure: text in, the original out.
//!
//! Two shapes reach us:
//! - **inline**: the client writes a header block into the body, after an
//!   optional separator, with the original below it. Outlook (`-----Original
//!   Message-----` or a line of underscores, then `From:`/`Sent:`/`To:`/
//!   `Subject:`; in Chinese `发件人:`/`发送时间:`/`收件人:`/`主题:`), Gmail
//!   (`---------- Forwarded message ---------`, `---------- 转发的邮件 ---------`),
//!   Apple Mail (`Begin forwarded message:`, `以下为转发的邮件：`),
//!   Thunderbird (`-------- Forwarded Message --------`, `-------- 转发的消息 --------`)
//!   and Foxmail (`------------------ Original ------------------`,
//!   `------------------ 原始邮件 ------------------`). Keys are read with `:`
//!   or `：`, in any order, with `*bold*` marks from HTML mail dropped;
//! - **attached**: the original as a `message/rfc822` part.
//!
//! A header block counts only when it is clearly a forward: a separator
//! line above it, or a forward prefix on the subject (`Fwd:`, `FW:`,
//! `转发:`), and a `From` line naming an address. What the agent wrote above
//! it is returned apart: it becomes an internal note, never the request.

use crate::address::Mailbox;
use crate::inbound::Inbound;

/// The mail that was forwarded, and the forwarder's own words.
#[derive(Debug, Clone, PartialEq)]
pub struct Forwarded {
    /// The original sender: the ticket's requester.
    pub from: Mailbox,
    /// The original subject (empty when the block had none).
    pub subject: String,
    /// The original text.
    pub text: String,
    /// The forwarder's words above the forward, trimmed (may be empty).
    pub above: String,
    /// The original's Message-ID, when it was attached whole.
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    From,
    Subject,
    Date,
    To,
    Cc,
}

const KEYS: &[(&str, Key)] = &[
    ("from", Key::From),
    ("发件人", Key::From),
    ("寄件人", Key::From),
    ("寄件者", Key::From),
    ("subject", Key::Subject),
    ("主题", Key::Subject),
    ("主旨", Key::Subject),
    ("sent", Key::Date),
    ("date", Key::Date),
    ("发送时间", Key::Date),
    ("日期", Key::Date),
    ("时间", Key::Date),
    ("to", Key::To),
    ("收件人", Key::To),
    ("cc", Key::Cc),
    ("抄送", Key::Cc),
];

/// Words of a separator line, lowercase, as the five clients write them.
const SEPARATOR_WORDS: &[&str] = &[
    "original message",
    "forwarded message",
    "begin forwarded message",
    "original",
    "原始邮件",
    "转发的邮件",
    "转发邮件",
    "转发的消息",
    "以下为转发的邮件",
    "邮件原文",
];

/// The forwarded mail in `mail`: an attached original first (it is whole),
/// else an inline forward in the text.
pub fn forwarded(mail: &Inbound) -> Option<Forwarded> {
    attached(mail).or_else(|| inline(&mail.text, is_forward_subject(&mail.subject)))
}

/// True when a subject starts with a forward prefix: `Fwd:`, `FW:`, `Fw[2]:`,
/// `转发:`, `转发：`, German `WG:`, French `TR:`.
pub fn is_forward_subject(subject: &str) -> bool {
    let s = subject.trim_start().to_lowercase();
    let word_end = s
        .char_indices()
        .find(|(_, c)| !c.is_alphabetic())
        .map_or(s.len(), |(i, _)| i);
    let word = &s[..word_end];
    let rest = s[word_end..].trim_start();
    let rest = match rest.strip_prefix('[') {
        Some(r) => r
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start_matches(']'),
        None => rest,
    };
    matches!(word, "fwd" | "fw" | "转发" | "wg" | "tr")
        && (rest.starts_with(':') || rest.starts_with('：'))
}

/// The first `message/rfc822` attachment, read as a mail.
fn attached(mail: &Inbound) -> Option<Forwarded> {
    let part = mail
        .attachments
        .iter()
        .find(|a| matches!(a.content_type.as_str(), "message/rfc822" | "message/global"))?;
    let inner = crate::inbound::parse(&part.data).ok()?;
    let from = inner.from.clone()?;
    from.usable().ok()?;
    Some(Forwarded {
        from,
        subject: inner.subject.clone(),
        text: inner.text.trim().to_string(),
        above: crate::desk::quote::new_text(&mail.text, mail.html.as_deref())
            .trim()
            .to_string(),
        message_id: (!inner.synthetic_id).then(|| inner.message_id.clone()),
    })
}

/// An inline forward in `text`. `forward_subject`: the mail's subject says
/// it is a forward, so a header block without a separator line counts.
pub fn inline(text: &str, forward_subject: bool) -> Option<Forwarded> {
    let lines: Vec<&str> = text.lines().collect();
    let from_at = lines.iter().position(|l| {
        header_line(l).is_some_and(|(k, v)| k == Key::From && address_in(v).is_some())
    })?;
    let mut start = from_at;
    while start > 0 && header_line(lines[start - 1]).is_some() {
        start -= 1;
    }
    let mut end = from_at + 1;
    while end < lines.len() && header_line(lines[end]).is_some() {
        end += 1;
    }
    // Blank lines between the separator and the block (Gmail HTML) are skipped.
    let mut above_end = start;
    while above_end > 0 && lines[above_end - 1].trim().is_empty() {
        above_end -= 1;
    }
    let separated = above_end > 0 && is_separator(lines[above_end - 1]);
    if separated {
        above_end -= 1;
    } else if !forward_subject {
        return None;
    }
    let mut from = None;
    let mut subject = String::new();
    for line in &lines[start..end] {
        match header_line(line) {
            Some((Key::From, v)) if from.is_none() => from = address_in(v),
            Some((Key::Subject, v)) if subject.is_empty() => subject = v.to_string(),
            _ => {}
        }
    }
    Some(Forwarded {
        from: from?,
        subject,
        text: join(&lines[end..]),
        above: join(&lines[..above_end]),
        message_id: None,
    })
}

fn join(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| l.trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// `From: x` / `*发件人:* x` / `发件人：x` → (key, value).
fn header_line(line: &str) -> Option<(Key, &str)> {
    let line = line.trim().trim_start_matches('*');
    let colon = line.find([':', '：'])?;
    let key = line[..colon].trim().trim_end_matches('*').trim();
    let value = line[colon..]
        .trim_start_matches([':', '：'])
        .trim_start_matches('*')
        .trim();
    let folded = key.to_lowercase();
    KEYS.iter()
        .find(|(word, _)| *word == folded)
        .map(|&(_, k)| (k, value))
}

fn is_separator(line: &str) -> bool {
    let t = line.trim();
    if t.len() >= 10 && t.chars().all(|c| c == '_' || c == '-') {
        return true;
    }
    let words = t
        .replace("&nbsp;", " ")
        .trim_matches(|c: char| c == '-' || c == '_' || c == ':' || c == '：' || c.is_whitespace())
        .to_lowercase();
    SEPARATOR_WORDS.contains(&words.as_str())
}

/// The address in a From value as clients write it: `Li Wei <li@x.cn>`,
/// `"李伟"<li@x.cn>;`, `Li Wei [mailto:li@x.cn]`, `li@x.cn`.
fn address_in(value: &str) -> Option<Mailbox> {
    let v = value.trim().trim_end_matches([';', '；', ',']);
    let (name, addr) = if let Some(open) = v.find('<') {
        let close = v[open..].find('>')? + open;
        (&v[..open], &v[open + 1..close])
    } else if let Some(open) = v.find("[mailto:") {
        let close = v[open..].find(']')? + open;
        (&v[..open], &v[open + 8..close])
    } else {
        ("", v)
    };
    let addr = addr.trim().trim_start_matches("mailto:");
    if !addr.contains('@') || addr.chars().any(char::is_whitespace) {
        return None;
    }
    let name = name.trim().trim_matches(['"', '\'', '“', '”']).trim();
    let m = Mailbox::new(Some(name).filter(|n| !n.is_empty()), addr);
    m.usable().ok()?;
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Each fixture `NAME.eml` has `NAME.expected` beside it: `from:`,
    /// `subject:`, `above:` (all of it, `\\n` for a line break) and `text:`
    /// (the text's first line) lines.
    #[test]
    fn every_clients_forward_in_english_and_chinese() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/forwards");
        let mut n = 0;
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        for path in names {
            let raw = std::fs::read_to_string(&path).unwrap();
            let expected = std::fs::read_to_string(path.with_extension("expected")).unwrap();
            let want = |key: &str| -> String {
                expected
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{key}:")))
                    .unwrap_or("")
                    .trim()
                    .replace("\\n", "\n")
            };
            let lf = raw.replace("\r\n", "\n");
            for (ending, bytes) in [("LF", lf.clone()), ("CRLF", lf.replace('\n', "\r\n"))] {
                let what = format!("{} ({ending})", path.display());
                let mail = crate::inbound::parse(bytes.as_bytes()).unwrap();
                let f = forwarded(&mail).unwrap_or_else(|| panic!("{what}: no forward found"));
                assert_eq!(f.from.address, want("from"), "{what}");
                assert_eq!(f.subject, want("subject"), "{what}");
                // All of the forwarder's words, and no separator line.
                assert_eq!(f.above, want("above"), "{what}");
                assert_eq!(f.text.lines().next().unwrap_or(""), want("text"), "{what}");
                assert!(
                    !f.text.contains("From:") && !f.text.contains("发件人"),
                    "{what}: {}",
                    f.text
                );
            }
            n += 1;
        }
        // Five clients, two languages, and an attached original.
        assert!(n >= 11, "only {n} forward fixtures in {}", dir.display());
    }

    #[test]
    fn a_reply_quoting_headers_is_not_a_forward() {
        let text = "Thanks, done.\n\nFrom: Ann <ann@corp.test>\nSent: Monday\nSubject: printer\n\nIt is broken.";
        assert_eq!(inline(text, false), None, "no separator, no Fwd: subject");
        assert!(inline(text, true).is_some());
        // A From line without an address is no header block.
        assert_eq!(
            inline("-----Original Message-----\nFrom: Ann\nhello", true),
            None
        );
    }

    #[test]
    fn forward_subjects() {
        for s in ["Fwd: x", "FW: x", "Fw[2]: x", "转发: x", "转发：x", "WG: x"] {
            assert!(is_forward_subject(s), "{s}");
        }
        for s in ["Re: x", "Forward planning", "fwd x", "回复: x"] {
            assert!(!is_forward_subject(s), "{s}");
        }
    }

    #[test]
    fn addresses_as_clients_write_them() {
        for (v, want) in [
            ("Li Wei <Li.Wei@Example.CN>", "li.wei@example.cn"),
            ("\"李伟\"<li.wei@example.cn>;", "li.wei@example.cn"),
            ("Li Wei [mailto:li.wei@example.cn]", "li.wei@example.cn"),
            ("li.wei@example.cn", "li.wei@example.cn"),
        ] {
            assert_eq!(address_in(v).unwrap().address, want, "{v}");
        }
        assert_eq!(
            address_in("\"李伟\"<li.wei@example.cn>;")
                .unwrap()
                .name
                .as_deref(),
            Some("李伟")
        );
        assert!(address_in("Li Wei").is_none());
        assert!(address_in("<@example.cn>").is_none());
    }
}
