//! Delivery status notifications (bounces, RFC 3464) → which of our mails
//! failed, for whom, why, and whether for good.
//!
//! Pure: bytes in, a [`Bounce`] out. The MIME walk is [`crate::inbound::parts`];
//! this module reads the `message/delivery-status` fields and the original
//! message's headers. It knows the shapes Postfix, Exchange/Outlook.com and
//! Gmail send, failures and delay warnings alike.

use crate::address;
use crate::inbound::{self, Part};

/// What a delivery status notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    /// The Message-ID of the mail that could not be delivered (without angle
    /// brackets): from the returned message or its headers, else the report's
    /// `X-Original-Message-ID`, else the first id of ours (`pd.…@domain`)
    /// found anywhere in the report.
    pub original_message_id: Option<String>,
    /// Recipients whose delivery failed or is delayed; never empty.
    pub recipients: Vec<FailedRecipient>,
    /// True when some recipient will never get the mail (`Action: failed` or
    /// a 5.x.x status). False for delay warnings, which are worth noting but
    /// not acting on.
    pub permanent: bool,
}

/// One recipient of a delivery status notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRecipient {
    /// Normalised (lowercase, no angle brackets), from `Final-Recipient`, else
    /// `Original-Recipient`.
    pub address: String,
    /// The enhanced status code, e.g. `5.1.1`; taken from `Diagnostic-Code`
    /// when `Status` is missing, `5.0.0` / `4.0.0` when neither has one.
    pub status: String,
    /// `failed` or `delayed` (lowercase).
    pub action: String,
    /// The remote server's words, unfolded, without the `smtp;` type.
    pub diagnostic: Option<String>,
}

/// Reads a delivery status notification. `None` when the mail has no
/// `message/delivery-status` part, or when that part reports no failed or
/// delayed recipient (a "delivered" or "relayed" notice is no bounce).
pub fn parse_dsn(raw: &[u8]) -> Option<Bounce> {
    let parts = inbound::parts(raw);
    let report = parts.iter().find(|p| {
        matches!(
            p.content_type.as_str(),
            "message/delivery-status" | "message/global-delivery-status"
        )
    })?;
    let groups = field_groups(&String::from_utf8_lossy(&report.data));
    let recipients: Vec<FailedRecipient> = groups.iter().filter_map(recipient).collect();
    if recipients.is_empty() {
        return None;
    }
    let permanent = recipients
        .iter()
        .any(|r| r.action == "failed" || r.status.starts_with('5'));
    let original_message_id = parts
        .iter()
        .filter(|p| is_original(p))
        .find_map(|p| {
            let text = String::from_utf8_lossy(&p.data);
            let headers = field_groups(&text).into_iter().next()?;
            message_id(field(&headers, "message-id")?)
        })
        .or_else(|| {
            groups
                .iter()
                .find_map(|g| message_id(field(g, "x-original-message-id")?))
        })
        .or_else(|| {
            parts
                .iter()
                .filter(|p| p.content_type.starts_with("text/") || is_original(p))
                .find_map(|p| find_our_id(&String::from_utf8_lossy(&p.data)))
        })
        .or_else(|| find_our_id(&String::from_utf8_lossy(header_block(raw))));
    Some(Bounce {
        original_message_id,
        recipients,
        permanent,
    })
}

/// The returned message or its headers.
fn is_original(p: &Part) -> bool {
    matches!(
        p.content_type.as_str(),
        "message/rfc822" | "message/global" | "text/rfc822-headers" | "message/global-headers"
    )
}

/// A block of `Name: value` fields, names lowercased, values unfolded.
type Fields = Vec<(String, String)>;

/// Splits header-style text into blocks of fields at blank lines (RFC 3464:
/// the per-message block, then one block per recipient). A second
/// `Final-Recipient` in one block starts a new block too, for reports that
/// leave out the blank line.
fn field_groups(text: &str) -> Vec<Fields> {
    let mut groups: Vec<Fields> = Vec::new();
    let mut cur: Fields = Vec::new();
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            if !cur.is_empty() {
                groups.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = cur.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        if name == "final-recipient" && field(&cur, "final-recipient").is_some() {
            groups.push(std::mem::take(&mut cur));
        }
        cur.push((name, value.trim().to_string()));
    }
    if !cur.is_empty() {
        groups.push(cur);
    }
    groups
}

fn field<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// One recipient block, if it reports a failure or a delay.
fn recipient(fields: &Fields) -> Option<FailedRecipient> {
    let address = ["final-recipient", "original-recipient"]
        .iter()
        .filter_map(|n| field(fields, n))
        .map(|v| address::normalise(typed_value(v)))
        .find(|a| a.contains('@'))?;
    let diagnostic = field(fields, "diagnostic-code")
        .map(|v| collapse(typed_value(v)))
        .filter(|d| !d.is_empty());
    let status = field(fields, "status")
        .and_then(status_code)
        .or_else(|| diagnostic.as_deref().and_then(status_code));
    let action = match field(fields, "action").map(|a| first_word(a).to_ascii_lowercase()) {
        Some(a) if !a.is_empty() => a,
        // No Action: the status class says what happened.
        _ => match status.as_deref().and_then(|s| s.chars().next()) {
            Some('5') => "failed".to_string(),
            Some('4') => "delayed".to_string(),
            _ => return None,
        },
    };
    let status = match (status, action.as_str()) {
        (Some(s), _) => s,
        (None, "failed") => "5.0.0".to_string(),
        (None, "delayed") => "4.0.0".to_string(),
        (None, _) => return None,
    };
    if action != "failed" && action != "delayed" {
        return None;
    }
    Some(FailedRecipient {
        address,
        status,
        action,
        diagnostic,
    })
}

/// The value after an RFC 3464 type: `rfc822; a@b` → `a@b`, `smtp; 550 …` → `550 …`.
fn typed_value(v: &str) -> &str {
    match v.split_once(';') {
        Some((kind, rest)) if !kind.trim().is_empty() && !kind.contains(' ') => rest.trim(),
        _ => v.trim(),
    }
}

fn first_word(s: &str) -> &str {
    s.split(|c: char| c.is_whitespace() || c == '(' || c == ';')
        .next()
        .unwrap_or("")
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first enhanced status code (`class.subject.detail`, class 2, 4 or 5)
/// in the text.
fn status_code(text: &str) -> Option<String> {
    let b = text.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if !matches!(c, b'2' | b'4' | b'5') || b.get(i + 1) != Some(&b'.') {
            continue;
        }
        if i > 0 && (b[i - 1].is_ascii_digit() || b[i - 1] == b'.') {
            continue;
        }
        let digits = |from: usize| b[from..].iter().take_while(|d| d.is_ascii_digit()).count();
        let s = digits(i + 2);
        if !(1..=3).contains(&s) || b.get(i + 2 + s) != Some(&b'.') {
            continue;
        }
        let d = digits(i + 3 + s);
        let end = i + 3 + s + d;
        // Not part of a longer number (an IP address, a version); a full stop
        // ending the sentence is fine.
        let longer = match b.get(end) {
            Some(c) if c.is_ascii_digit() => true,
            Some(b'.') => b.get(end + 1).is_some_and(u8::is_ascii_digit),
            _ => false,
        };
        if !(1..=3).contains(&d) || longer {
            continue;
        }
        return Some(text[i..end].to_string());
    }
    None
}

/// A Message-ID header value → the id without angle brackets.
fn message_id(value: &str) -> Option<String> {
    let v = value.trim();
    let id = match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v.split_whitespace().next().unwrap_or(""),
    };
    let id = id.trim();
    (!id.is_empty() && id.contains('@')).then(|| id.to_string())
}

/// The first Message-ID of ours in `text`: `pd.` and dot-separated letters
/// and digits, `@`, a domain (see `thread::new_message_id` and
/// `thread::notice_root`).
fn find_our_id(text: &str) -> Option<String> {
    let is_id_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '@' | '_');
    let mut from = 0;
    while let Some(pos) = text[from..].find("pd.") {
        let start = from + pos;
        from = start + 3;
        if text[..start].chars().next_back().is_some_and(is_id_char) {
            continue;
        }
        let candidate: String = text[start..]
            .chars()
            .take_while(|&c| is_id_char(c))
            .collect();
        let candidate = candidate.trim_end_matches('.');
        let Some((local, domain)) = candidate.split_once('@') else {
            continue;
        };
        let segments: Vec<&str> = local["pd.".len()..].split('.').collect();
        let local_ok = segments.len() >= 2
            && segments
                .iter()
                .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()));
        let domain_ok = !domain.is_empty()
            && !domain.contains('@')
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if local_ok && domain_ok {
            return Some(candidate.to_string());
        }
    }
    None
}

/// The header section of a message (up to the first blank line).
fn header_block(raw: &[u8]) -> &[u8] {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(raw.len());
    &raw[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/eml")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    /// Parses a fixture as on disk (CRLF) and with LF line ends; both must agree.
    fn dsn(name: &str) -> Bounce {
        let crlf = fixture(name);
        let lf: Vec<u8> = String::from_utf8_lossy(&crlf)
            .replace("\r\n", "\n")
            .into_bytes();
        let a = parse_dsn(&crlf).unwrap_or_else(|| panic!("{name}: no bounce found"));
        let b = parse_dsn(&lf).unwrap_or_else(|| panic!("{name} (LF): no bounce found"));
        assert_eq!(a, b, "{name}: CRLF and LF differ");
        a
    }

    #[test]
    fn every_bounce_fixture_is_read() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eml");
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("bounce-") && n.ends_with(".eml"))
            .collect();
        assert!(names.len() >= 4, "bounce fixtures missing: {names:?}");
        for n in names {
            let b = dsn(&n);
            assert!(b.original_message_id.is_some(), "{n}: {b:?}");
        }
    }

    #[test]
    fn postfix_bounce() {
        let b = dsn("bounce-postfix.eml");
        assert_eq!(
            b.original_message_id.as_deref(),
            Some("desk.1048.1701770560@desk.example.com")
        );
        assert!(b.permanent);
        assert_eq!(
            b.recipients,
            vec![FailedRecipient {
                address: "old.user@customer.example".into(),
                status: "5.1.1".into(),
                action: "failed".into(),
                diagnostic: Some(
                    "550 5.1.1 <old.user@customer.example>: mailbox unavailable".into()
                ),
            }]
        );
    }

    #[test]
    fn exchange_ndr_with_headers_only() {
        let b = dsn("bounce-exchange.eml");
        assert_eq!(
            b.original_message_id.as_deref(),
            Some("desk.1049.1701873000@desk.example.com")
        );
        assert!(b.permanent);
        let r = &b.recipients[0];
        assert_eq!(r.address, "j.doe@northwind-traders.example");
        assert_eq!(r.status, "5.1.10");
        assert_eq!(r.action, "failed");
        assert!(
            r.diagnostic
                .as_deref()
                .unwrap()
                .starts_with("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found"),
            "{r:?}"
        );
    }

    #[test]
    fn gmail_bounce_with_two_recipients() {
        let b = dsn("bounce-gmail.eml");
        assert_eq!(
            b.original_message_id.as_deref(),
            Some("pd.1052.18c3f2a9b10.3.5e0c7a1b9d2f4e68@desk.example.com")
        );
        assert!(b.permanent);
        let addrs: Vec<&str> = b.recipients.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(
            addrs,
            ["m.lindqvist@gmail.example", "no.such.team@gmail.example"]
        );
        assert_eq!(b.recipients[0].status, "5.1.1");
        assert_eq!(b.recipients[1].status, "5.2.1");
        assert!(
            b.recipients[0]
                .diagnostic
                .as_deref()
                .unwrap()
                .contains("The email account that you tried to reach does not exist")
        );
    }

    #[test]
    fn delay_warning_is_not_permanent() {
        let b = dsn("bounce-delayed.eml");
        assert!(!b.permanent, "{b:?}");
        assert_eq!(
            b.original_message_id.as_deref(),
            Some("pd.1053.18c40a1c2f0.0.91ab3c5d7e9f0123@desk.example.com")
        );
        let r = &b.recipients[0];
        assert_eq!(r.action, "delayed");
        assert_eq!(r.status, "4.4.1");
        assert_eq!(r.address, "wang.fang@factory.example.cn");
        assert!(
            r.diagnostic
                .as_deref()
                .unwrap()
                .contains("Connection timed out")
        );
    }

    const REPORT_ONLY: &str = "From: MAILER-DAEMON@mx.example.org\r\n\
        To: helpdesk@desk.example.com\r\n\
        Subject: failure notice\r\n\
        MIME-Version: 1.0\r\n\
        Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\
        \r\n\
        --B\r\n\
        Content-Type: text/plain\r\n\
        \r\n\
        Your message <pd.77.18c40a1c2f0.2.00ff00ff00ff00ff@desk.example.com> to\r\n\
        x@example.org could not be delivered (pd.not-an-id).\r\n\
        --B\r\n\
        Content-Type: message/delivery-status\r\n\
        \r\n\
        Reporting-MTA: dns; mx.example.org\r\n\
        Final-Recipient: rfc822; X@Example.org\r\n\
        Action: failed\r\n\
        Status: 5.7.1\r\n\
        Final-Recipient: rfc822; <y@example.org>\r\n\
        Diagnostic-Code: smtp; 452 4.2.2 mailbox full\r\n\
        --B--\r\n";

    #[test]
    fn without_the_original_our_id_is_found_in_the_text() {
        let b = parse_dsn(REPORT_ONLY.as_bytes()).unwrap();
        assert_eq!(
            b.original_message_id.as_deref(),
            Some("pd.77.18c40a1c2f0.2.00ff00ff00ff00ff@desk.example.com")
        );
        // No blank line between the blocks, and the second has no Action.
        assert_eq!(b.recipients.len(), 2, "{b:?}");
        assert_eq!(b.recipients[0].address, "x@example.org");
        assert_eq!(b.recipients[0].status, "5.7.1");
        assert_eq!(b.recipients[1].address, "y@example.org");
        assert_eq!(b.recipients[1].action, "delayed");
        assert_eq!(b.recipients[1].status, "4.2.2");
        assert!(b.permanent);
    }

    #[test]
    fn ordinary_mail_and_success_notices_are_no_bounce() {
        assert_eq!(parse_dsn(&fixture("outlook-en.eml")), None);
        assert_eq!(parse_dsn(&fixture("out-of-office.eml")), None);
        assert_eq!(parse_dsn(b""), None);
        let delivered = REPORT_ONLY
            .replace(
                "Action: failed\r\nStatus: 5.7.1",
                "Action: delivered\r\nStatus: 2.0.0",
            )
            .replace("452 4.2.2 mailbox full", "250 2.0.0 OK");
        assert_eq!(parse_dsn(delivered.as_bytes()), None);
    }

    #[test]
    fn status_codes() {
        assert_eq!(status_code("5.1.1").as_deref(), Some("5.1.1"));
        assert_eq!(status_code("550-5.1.1 The email").as_deref(), Some("5.1.1"));
        assert_eq!(
            status_code("4.4.7 (delivery time expired)").as_deref(),
            Some("4.4.7")
        );
        assert_eq!(status_code("5.1.10").as_deref(), Some("5.1.10"));
        assert_eq!(status_code("status 5.1.1.").as_deref(), Some("5.1.1"));
        assert_eq!(status_code("192.0.2.10"), None);
        assert_eq!(status_code("version 15.20.7025.1"), None);
        assert_eq!(status_code("no code"), None);
    }

    #[test]
    fn our_ids_have_their_shape() {
        assert_eq!(
            find_our_id("see <pd.12.root@desk.test>.").as_deref(),
            Some("pd.12.root@desk.test")
        );
        assert_eq!(find_our_id("upd.12.3@x.test"), None);
        assert_eq!(find_our_id("pd.@x.test pd.12@x.test"), None);
        assert_eq!(
            find_our_id("pd.18c.1.abc@d.test").as_deref(),
            Some("pd.18c.1.abc@d.test")
        );
    }
}
