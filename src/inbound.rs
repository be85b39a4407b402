//! Raw bytes → [`Inbound`]: the one place that knows mail-parser.
//!
//! Everything after this module sees our own types, so a move to mail-parser
//! 1.x touches this module only. The submodules do not use mail-parser types
//! either, except `charset` (its decoder table), `html` (its entity table),
//! and `headers` and `repair`, which mend what mail-parser is given and read
//! header blocks with its own header parser, so both see the same headers:
//!
//! - `auto`: automatic-mail signals (auto-replies, bounces, lists, robots).
//! - `attachment`: attachment names made safe to show and to write to disk.
//! - `charset`: decoding bytes whose charset is missing, wrong or unknown:
//!   guessed with evidence (the mail's own labels, the mailbox's language,
//!   plausibility).
//! - `fingerprint`: what makes two deliveries the same mail (body and the
//!   sender's headers, hashed), for telling a re-fetch from a reused Message-ID.
//! - `headers`: header blocks mended before mail-parser reads them (raw
//!   8-bit values, encoded words that lie or split a character, comments in
//!   addresses, the first `Subject`).
//! - [`html`]: HTML bodies turned into text: the crate's one HTML walker
//!   (public: `desk::quote` renders replies with it).
//! - `ids`: Message-ID lists as real mail writes them.
//! - `params`: MIME parameters written the RFC 2231 way (continuations
//!   joined before decoding).
//! - `repair`: broken MIME structure mended before parsing (multiparts that
//!   do not close, two `Content-Type` headers).
//! - [`spamverdict`]: the spam filter's verdict headers, read where the
//!   receiving side wrote them.
//! - `text`: plain-text bodies tidied (line endings, format=flowed, blank runs).

mod attachment;
pub mod authres;
mod auto;
pub mod bounce;
mod charset;
mod fingerprint;
#[cfg(test)]
mod fuzzed;
#[cfg(test)]
mod golden;
mod headers;
pub mod html;
mod ids;
mod params;
mod repair;
pub mod spamverdict;
mod text;

use std::borrow::Cow;
use std::collections::HashSet;

use mail_parser::{Encoding, HeaderName, MessagePart, MimeHeaders, PartType};

use crate::address::Mailbox;
use crate::lang::Lang;
use charset::Evidence;

/// mail-parser as configured for every parse here: each header read as its
/// default does, except `Received`, kept raw. Nothing reads its parsed form
/// (the spam verdict's trusted block and the fingerprint read the header
/// lines themselves), and its tokenizer was 3.3 % of the CPU of
/// `scripts/bench --only micro --quick` (perf, 2026-12-03): every relayed
/// mail carries several.
fn mime_parser() -> &'static mail_parser::MessageParser {
    static PARSER: std::sync::LazyLock<mail_parser::MessageParser> =
        std::sync::LazyLock::new(|| {
            // A parser with any header configured reads only the configured
            // ones by type: this is mail-parser 0.11's built-in table
            // (parsers/header.rs) with Received raw instead.
            let mut p = mail_parser::MessageParser::new()
                .with_mime_headers()
                .with_date_headers()
                .with_address_headers()
                .with_message_ids()
                .header_raw(HeaderName::Received)
                .header_raw(HeaderName::MimeVersion)
                .header_id(HeaderName::ReturnPath)
                .header_comma_separated(HeaderName::Keywords)
                .header_comma_separated(HeaderName::ContentLanguage);
            for name in [HeaderName::Subject, HeaderName::Comments] {
                p = p.header_text(name);
            }
            for name in [
                HeaderName::ListArchive,
                HeaderName::ListHelp,
                HeaderName::ListId,
                HeaderName::ListOwner,
                HeaderName::ListPost,
                HeaderName::ListSubscribe,
                HeaderName::ListUnsubscribe,
            ] {
                p = p.header_address(name);
            }
            p.default_header_raw()
        });
    &PARSER
}

/// One incoming message, decoded and ready for threading and decisions.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// Message-ID without angle brackets. When the mail has none, a stable
    /// synthetic id derived from the raw bytes (see `synthetic_id`), so the
    /// same bytes fetched twice are recognised as the same message.
    pub message_id: String,
    /// True when `message_id` was made up by us.
    pub synthetic_id: bool,
    /// A hash of the body and the sender's headers (trace headers left out):
    /// the same for two deliveries of one mail, different for two mails that
    /// share a Message-ID. See `fingerprint`.
    pub fingerprint: String,
    /// In-Reply-To ids, without angle brackets.
    pub in_reply_to: Vec<String>,
    /// References ids, without angle brackets, oldest first.
    pub references: Vec<String>,
    pub from: Option<Mailbox>,
    /// How many addresses the From header names (RFC 5322 allows several
    /// authors); more than one leaves nobody to answer unless Reply-To says.
    pub from_count: usize,
    pub reply_to: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// Decoded subject (RFC 2047, any charset), whitespace collapsed. Empty when absent.
    pub subject: String,
    /// Date header as unix seconds, when present and readable.
    pub date: Option<i64>,
    /// A readable text body: the text/plain part, or the HTML part converted to text.
    pub text: String,
    /// The HTML body when the mail has one.
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Signals that this mail was sent by a machine, not a person.
    pub auto: AutoSignals,
    /// The raw `X-Postdesk-Loop` headers (our own loop marker), trimmed.
    pub loop_markers: Vec<String>,
    /// The raw `Authentication-Results` headers, trimmed, newest (topmost) first.
    pub auth_results: Vec<String>,
    /// What a delivery-status report (bounce) says, when this is one.
    pub bounce: Option<crate::inbound::bounce::Bounce>,
    /// `Importance` / `X-Priority` as the sender set them, normalised to 1 (highest) … 5 (lowest).
    pub sender_priority: Option<u8>,
    /// The size of the raw message in bytes.
    pub raw_size: usize,
}

impl Inbound {
    /// True when the subject and the person's own text (quoted lines left
    /// out) are meaningfully Chinese: Han characters make up at least a fifth
    /// of the letters, or there are at least four of them and they make up a
    /// tenth. The second rule catches short mixed mails ("Hi, 打印机坏了")
    /// without letting a Chinese company name in the signature of a long
    /// English mail pick the Chinese template. Japanese is written with Han
    /// characters too, but always with kana beside them: a fifth of kana
    /// among the CJK characters means "not Chinese".
    pub fn looks_chinese(&self) -> bool {
        let own_lines = self
            .text
            .lines()
            .filter(|l| !l.trim_start().starts_with('>'));
        let (mut han, mut kana, mut letters) = (0usize, 0usize, 0usize);
        for c in self.subject.chars().chain(own_lines.flat_map(str::chars)) {
            if is_han(c) {
                han += 1;
            } else if is_kana(c) {
                kana += 1;
            }
            if c.is_alphabetic() {
                letters += 1;
            }
        }
        let japanese = kana > 0 && kana * 5 >= han + kana;
        han > 0 && !japanese && (han * 5 >= letters || (han >= 4 && han * 10 >= letters))
    }

    /// The sender's address: From, or Reply-To when there is no From.
    pub fn sender_address(&self) -> String {
        self.from
            .as_ref()
            .or(self.reply_to.as_ref())
            .map(|m| m.address.clone())
            .unwrap_or_else(|| "unknown".into())
    }

    /// Who a reply to a new requester should go to: Reply-To when given, else From.
    pub fn reply_address(&self) -> Option<crate::address::Mailbox> {
        self.reply_to.clone().or_else(|| self.from.clone())
    }
}

/// CJK unified ideographs (with extensions A to H) and compatibility ideographs.
fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x323AF)
}

/// Hiragana and katakana (with the half-width forms).
fn is_kana(c: char) -> bool {
    matches!(c as u32, 0x3041..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F)
}

/// An attachment with a name that is safe to show and to write to disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    /// No path separators, no control characters, never empty, at most 200 bytes.
    pub name: String,
    /// `type/subtype`, lowercase, without parameters.
    pub content_type: String,
    /// The bytes as sent, transfer encoding removed (text is not re-encoded).
    /// An attached mail (`message/rfc822`) is its raw RFC 5322 bytes.
    pub data: Vec<u8>,
}

/// Why a mail looks automatic, and whether its sender asked for no auto-reply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AutoSignals {
    /// Every signal found that says "a machine sent this"; empty for mail from a person.
    pub reasons: Vec<AutoReason>,
    /// `X-Auto-Response-Suppress` asked us not to auto-reply (the mail itself may be from a person).
    pub suppress_auto_reply: bool,
}

impl AutoSignals {
    /// True when any signal says the mail is automatic.
    pub fn is_automatic(&self) -> bool {
        !self.reasons.is_empty()
    }

    /// True for delivery-status reports (bounces).
    pub fn is_bounce(&self) -> bool {
        self.reasons
            .iter()
            .any(|r| matches!(r, AutoReason::DeliveryStatus))
    }
}

/// One signal of automatic mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoReason {
    /// `Auto-Submitted` with a value other than `no` (the value).
    AutoSubmitted(String),
    /// `Precedence` (or `X-Precedence`): `bulk | junk | list | auto_reply` (the value).
    Precedence(String),
    /// `List-Id` or `List-Unsubscribe` present.
    MailingList,
    /// `X-Autoreply`, `X-Autorespond`, `X-Autogenerated`, `X-AutoReply-From` and kin (the header name).
    AutoReplyHeader(String),
    /// An `X-Loop` header.
    XLoop,
    /// `Return-Path: <>`.
    EmptyReturnPath,
    /// mailer-daemon, postmaster, no-reply and similar senders (the address).
    RobotSender(String),
    /// `multipart/report; report-type=delivery-status` (a bounce).
    DeliveryStatus,
    /// `multipart/report; report-type=disposition-notification` (a read receipt).
    DispositionNotification,
}

impl std::fmt::Display for AutoReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AutoReason::AutoSubmitted(v) => write!(f, "Auto-Submitted: {v}"),
            AutoReason::Precedence(v) => write!(f, "Precedence: {v}"),
            AutoReason::MailingList => f.write_str("mailing-list headers"),
            AutoReason::AutoReplyHeader(h) => write!(f, "{h} header"),
            AutoReason::XLoop => f.write_str("X-Loop header"),
            AutoReason::EmptyReturnPath => f.write_str("empty Return-Path"),
            AutoReason::RobotSender(a) => write!(f, "robot sender {a}"),
            AutoReason::DeliveryStatus => f.write_str("delivery-status report"),
            AutoReason::DispositionNotification => f.write_str("read receipt"),
        }
    }
}

/// Why a message could not be turned into an [`Inbound`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("not an e-mail message: {0}")]
    NotAMessage(String),
}

/// Parses one raw RFC 5322 message.
///
/// Lenient like the parser underneath: odd mail still comes out as something
/// readable. It fails only when the bytes cannot be a message at all (no
/// headers we can read, or neither a sender nor any text). It never panics:
/// a panic inside mail-parser becomes [`ParseError::NotAMessage`], so one
/// hostile message is quarantined instead of stopping the poller.
pub fn parse(raw: &[u8]) -> Result<Inbound, ParseError> {
    parse_for(raw, None)
}

/// [`parse`] for a mailbox whose language an admin set: raw 8-bit text the
/// mail does not label is then read in that language's charsets when they
/// fit it (see `charset`).
pub fn parse_for(raw: &[u8], language: Option<Lang>) -> Result<Inbound, ParseError> {
    guarded(|| parse_unguarded(raw, language))
}

/// Runs `f`, turning a panic into [`ParseError::NotAMessage`]. mail-parser
/// also has `debug_assert!(false, …)` on some recovery paths, which panic in
/// debug builds.
fn guarded<T>(f: impl FnOnce() -> Result<T, ParseError>) -> Result<T, ParseError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(ParseError::NotAMessage(
            "the MIME parser panicked on these bytes".into(),
        ))
    })
}

/// A header as written, value unfolded and trimmed, decoded to text.
#[derive(Debug, Clone)]
struct RawHeader {
    name: String,
    value: String,
}

impl RawHeader {
    fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// What the MIME structure says about reports, for the automatic-mail rules.
#[derive(Debug, Default)]
struct MimeFacts {
    /// `type/subtype` of the top-level part, lowercase.
    root_type: String,
    /// The `report-type` parameter of the top-level part, lowercase.
    report_type: Option<String>,
    /// Some part is `message/delivery-status` (bounces wrapped in multipart/mixed).
    delivery_status_part: bool,
    /// Some part is `message/disposition-notification`.
    disposition_part: bool,
}

fn parse_unguarded(raw: &[u8], language: Option<Lang>) -> Result<Inbound, ParseError> {
    let repaired = repair::repair(raw);
    let msg = mime_parser()
        .parse(repaired.bytes.as_ref())
        .ok_or_else(|| ParseError::NotAMessage("no header section".into()))?;
    let Some(root) = msg.parts.first() else {
        return Err(ParseError::NotAMessage("no header section".into()));
    };
    let raw_all: &[u8] = msg.raw_message.as_ref();
    let ev = message_evidence(&msg, language);
    let root_ev = block_evidence(&ev, root, raw_all);
    let headers = raw_headers(raw_all, root, &root_ev);

    // What is shown (names, subject) is read from the header block as
    // `headers` mends it, when it needed mending.
    let mended = mended_root_block(&msg, &ev);
    let fixed_msg = mended
        .as_deref()
        .and_then(|b| mime_parser().parse_headers(b.as_bytes()));
    let hmsg = fixed_msg.as_ref().unwrap_or(&msg);

    let authors = all_mailboxes(hmsg.from());
    let from_count = authors.len();
    let from = authors.into_iter().next();
    let (text, html) = bodies(&msg, raw_all, &root_ev);
    if from.is_none() && text.trim().is_empty() {
        return Err(ParseError::NotAMessage("no sender and no text".into()));
    }

    let subject = collapse_ws(headers::first_subject(hmsg).unwrap_or(""));
    let (message_id, synthetic_id) = match header_values(&headers, "Message-ID")
        .find_map(|v| ids::parse_ids(v, true).into_iter().next())
    {
        Some(id) => (id, false),
        None => (synthetic_message_id(raw), true),
    };
    let mime = mime_facts(&msg);
    let auto = auto::detect(&headers, from.as_ref(), &subject, &mime);
    let bounce = if auto.is_bounce() {
        crate::inbound::bounce::parse_dsn(raw)
    } else {
        None
    };

    Ok(Inbound {
        message_id,
        synthetic_id,
        fingerprint: fingerprint::fingerprint(raw),
        in_reply_to: id_header(&headers, "In-Reply-To"),
        references: id_header(&headers, "References"),
        from,
        from_count,
        reply_to: first_mailbox(hmsg.reply_to()),
        to: all_mailboxes(hmsg.to()),
        cc: all_mailboxes(hmsg.cc()),
        subject,
        date: hmsg
            .date()
            .filter(|d| d.is_valid())
            .map(|d| d.to_timestamp()),
        text,
        html,
        attachments: attachments(&msg, &repaired, raw, &ev),
        auto,
        bounce,
        auth_results: auth_results(&headers),
        loop_markers: header_values(&headers, "X-Postdesk-Loop")
            .map(str::to_string)
            .collect(),
        sender_priority: sender_priority(&headers),
        raw_size: raw.len(),
    })
}

/// One leaf MIME part of a message, for readers of machine reports such as
/// bounces ([`bounce`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// `type/subtype`, lowercase; `text/plain` when the part does not say.
    pub content_type: String,
    /// The bytes with the transfer encoding removed and no charset applied.
    /// An attached mail (`message/rfc822`) is its raw bytes, not descended into.
    pub data: Vec<u8>,
}

/// The leaf parts of a message in order: multipart containers left out,
/// attached mails whole. Empty when the bytes are not a message; never panics.
pub fn parts(raw: &[u8]) -> Vec<Part> {
    std::panic::catch_unwind(|| {
        let repaired = repair::repair(raw);
        let Some(msg) = mime_parser().parse(repaired.bytes.as_ref()) else {
            return Vec::new();
        };
        let raw_all: &[u8] = msg.raw_message.as_ref();
        msg.parts
            .iter()
            .filter_map(|part| {
                let data = match &part.body {
                    PartType::Multipart(_) => return None,
                    PartType::Message(_) => part.contents().to_vec(),
                    PartType::Binary(b) | PartType::InlineBinary(b) => b.to_vec(),
                    PartType::Text(_) | PartType::Html(_) => transfer_decoded(part, raw_all),
                };
                Some(Part {
                    content_type: content_type_of(part).unwrap_or_else(|| "text/plain".into()),
                    data,
                })
            })
            .collect()
    })
    .unwrap_or_default()
}

/// A Message-ID for mail that has none: a hash of the bytes, so the same
/// message fetched again gets the same id.
pub fn synthetic_message_id(raw: &[u8]) -> String {
    // FNV-1a, 64 bit, twice with different seeds: stable across builds and
    // platforms (std's hasher is not), and plenty for "same bytes".
    let mut a: u64 = 0xcbf29ce484222325;
    let mut b: u64 = 0x84222325cbf29ce4;
    for &byte in raw {
        a = (a ^ u64::from(byte)).wrapping_mul(0x100000001b3);
        b = (b ^ u64::from(byte))
            .wrapping_mul(0x100000001b3)
            .rotate_left(5);
    }
    format!("synthetic.{a:016x}{b:016x}@postdesk.invalid")
}

fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What the mail declares about its charsets: the charset of each text
/// part, in order (see `charset`).
fn message_evidence(msg: &mail_parser::Message<'_>, language: Option<Lang>) -> Evidence {
    let mut ev = Evidence::new(language);
    for part in &msg.parts {
        if matches!(part.body, PartType::Text(_) | PartType::Html(_))
            && let Some(label) = part.content_type().and_then(|ct| ct.attribute("charset"))
        {
            ev.declare(label);
        }
    }
    ev
}

/// The evidence for the header block of `part`: its own charset, its
/// encoded words, then the mail's.
fn block_evidence(ev: &Evidence, part: &MessagePart<'_>, raw: &[u8]) -> Evidence {
    let block = raw
        .get(part.offset_header as usize..part.offset_body as usize)
        .unwrap_or_default();
    let own = part.content_type().and_then(|ct| ct.attribute("charset"));
    ev.for_block(own, block)
}

/// The root header block of `msg` mended for display (`headers`), or
/// `None` when mail-parser reads it right as it is. The top-level mail and
/// attached mails go through this one path.
fn mended_root_block(msg: &mail_parser::Message<'_>, ev: &Evidence) -> Option<String> {
    let root = msg.parts.first()?;
    let raw: &[u8] = msg.raw_message.as_ref();
    let block = raw.get(root.offset_header as usize..root.offset_body as usize)?;
    headers::mend_block(block, &block_evidence(ev, root, raw))
}

/// The subject of a mail, decoded as the top-level subject is (an attached
/// mail's name).
fn mail_subject(msg: &mail_parser::Message<'_>, language: Option<Lang>) -> Option<String> {
    let mended = mended_root_block(msg, &message_evidence(msg, language));
    let fixed = mended
        .as_deref()
        .and_then(|b| mime_parser().parse_headers(b.as_bytes()));
    headers::first_subject(fixed.as_ref().unwrap_or(msg)).map(collapse_ws)
}

/// The headers of one part in order, values unfolded, trimmed and decoded
/// (UTF-8, else guessed with the block's evidence).
fn raw_headers(raw: &[u8], part: &MessagePart<'_>, ev: &Evidence) -> Vec<RawHeader> {
    part.headers
        .iter()
        .map(|h| {
            let bytes = raw
                .get(h.offset_start as usize..h.offset_end as usize)
                .unwrap_or_default();
            let unfolded: Vec<u8> = bytes
                .iter()
                .copied()
                .filter(|&b| b != b'\r' && b != b'\n')
                .collect();
            RawHeader {
                name: h.name.as_str().to_string(),
                value: charset::decode_unlabelled(unfolded.trim_ascii(), ev)
                    .trim()
                    .to_string(),
            }
        })
        .collect()
}

/// The `Authentication-Results` values, topmost first, spaces collapsed.
fn auth_results(headers: &[RawHeader]) -> Vec<String> {
    header_values(headers, "Authentication-Results")
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// The `Authentication-Results` of a bare header block (what IMAP returns
/// for `BODY.PEEK[HEADER.FIELDS (AUTHENTICATION-RESULTS)]`), as
/// [`Inbound::auth_results`] holds them: topmost first.
pub fn auth_results_of_headers(block: &[u8]) -> Vec<String> {
    let Some(msg) = mime_parser().parse_headers(block) else {
        return Vec::new();
    };
    let Some(root) = msg.parts.first() else {
        return Vec::new();
    };
    // Authentication-Results are ASCII; no evidence is needed to read them.
    auth_results(&raw_headers(
        msg.raw_message.as_ref(),
        root,
        &Evidence::default(),
    ))
}

/// The top-level headers of a raw mail, (name, value) in order, topmost
/// first, values unfolded: what [`spamverdict::read`] reads.
pub fn header_list(raw: &[u8]) -> Vec<(String, String)> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| i + 2))
        .unwrap_or(raw.len());
    let Some(msg) = mime_parser().parse_headers(&raw[..end]) else {
        return Vec::new();
    };
    let Some(root) = msg.parts.first() else {
        return Vec::new();
    };
    raw_headers(msg.raw_message.as_ref(), root, &Evidence::default())
        .into_iter()
        .map(|h| (h.name, h.value))
        .collect()
}

fn header_values<'h>(headers: &'h [RawHeader], name: &'h str) -> impl Iterator<Item = &'h str> {
    headers
        .iter()
        .filter(move |h| h.is(name))
        .map(|h| h.value.as_str())
}

/// All ids of every header with this name, in order, each once.
fn id_header(headers: &[RawHeader], name: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    header_values(headers, name)
        .flat_map(|v| ids::parse_ids(v, false))
        .filter(|id| seen.insert(id.clone()))
        .collect()
}

/// The sender's priority, 1 (highest) … 5 (lowest). `X-Priority` is the most
/// precise and wins; then `Importance`, `Priority`, `X-MSMail-Priority`.
fn sender_priority(headers: &[RawHeader]) -> Option<u8> {
    let word = |name: &str, table: &[(&str, u8)]| {
        header_values(headers, name).find_map(|v| {
            let v = v.split([';', ' ', '(']).next().unwrap_or("").trim();
            table
                .iter()
                .find(|(w, _)| v.eq_ignore_ascii_case(w))
                .map(|&(_, p)| p)
        })
    };
    header_values(headers, "X-Priority")
        .find_map(|v| {
            v.trim()
                .chars()
                .next()
                .and_then(|c| c.to_digit(10))
                .filter(|d| (1..=5).contains(d))
                .map(|d| d as u8)
        })
        .or_else(|| word("Importance", &[("high", 1), ("normal", 3), ("low", 5)]))
        .or_else(|| {
            word(
                "Priority",
                &[("urgent", 1), ("normal", 3), ("non-urgent", 5)],
            )
        })
        .or_else(|| {
            word(
                "X-MSMail-Priority",
                &[("high", 1), ("normal", 3), ("low", 5)],
            )
        })
}

fn content_type_of(part: &MessagePart<'_>) -> Option<String> {
    part.content_type().map(|ct| {
        let mut t = ct.ctype().to_ascii_lowercase();
        t.push('/');
        t.push_str(&ct.subtype().unwrap_or("").to_ascii_lowercase());
        t
    })
}

fn mime_facts(msg: &mail_parser::Message<'_>) -> MimeFacts {
    let root = msg.parts.first();
    let mut facts = MimeFacts {
        root_type: root.and_then(content_type_of).unwrap_or_default(),
        report_type: root
            .and_then(|p| p.content_type())
            .and_then(|ct| ct.attribute("report-type"))
            .map(|v| v.trim().to_ascii_lowercase()),
        ..MimeFacts::default()
    };
    for part in &msg.parts {
        match content_type_of(part).as_deref() {
            Some("message/delivery-status" | "message/global-delivery-status") => {
                facts.delivery_status_part = true
            }
            Some("message/disposition-notification") => facts.disposition_part = true,
            _ => {}
        }
    }
    facts
}

/// The ids of the parts that make up the body (text and HTML alternatives).
/// Inline images, which mail-parser also lists there, are not body parts.
fn body_part_ids(msg: &mail_parser::Message<'_>) -> (Vec<usize>, Vec<usize>) {
    let single_part = msg.parts.len() == 1;
    let is_body = |id: &u32, html_only: bool| {
        msg.parts.get(*id as usize).is_some_and(|p| {
            let textual = match &p.body {
                PartType::Html(_) => true,
                PartType::Text(_) => !html_only,
                _ => false,
            };
            // A named text part is a file the sender attached (log.txt), even
            // when their client marked it inline.
            textual && (single_part || p.attachment_name().is_none())
        })
    };
    let text = msg
        .text_body
        .iter()
        .filter(|id| is_body(id, false))
        .map(|&id| id as usize)
        .collect();
    let html = msg
        .html_body
        .iter()
        .filter(|id| is_body(id, true))
        .map(|&id| id as usize)
        .collect();
    (text, html)
}

/// `text` and `html` of the mail: text/plain preferred, HTML converted when
/// there is no usable plain part.
fn bodies(msg: &mail_parser::Message<'_>, raw: &[u8], ev: &Evidence) -> (String, Option<String>) {
    let (text_ids, html_ids) = body_part_ids(msg);
    let html_parts: Vec<String> = html_ids
        .iter()
        .filter_map(|&i| msg.parts.get(i))
        .map(|p| part_text(p, raw, ev).into_owned())
        .collect();
    let html = (!html_parts.is_empty()).then(|| html_parts.join("\n"));

    let mut pieces = Vec::new();
    for part in text_ids.iter().filter_map(|&i| msg.parts.get(i)) {
        let body = part_text(part, raw, ev);
        let piece = match part.body {
            PartType::Html(_) => html::html_to_text(&body),
            _ => {
                let ct = part.content_type();
                let flowed = ct
                    .and_then(|c| c.attribute("format"))
                    .is_some_and(|f| f.eq_ignore_ascii_case("flowed"));
                let delsp = ct
                    .and_then(|c| c.attribute("delsp"))
                    .is_some_and(|d| d.eq_ignore_ascii_case("yes"));
                text::plain_to_text(&body, flowed, delsp)
            }
        };
        if !piece.is_empty() {
            pieces.push(piece);
        }
    }
    let mut text = pieces.join("\n\n");
    // Some clients send an empty text/plain alternative beside the real HTML.
    if text.trim().is_empty()
        && let Some(h) = &html
    {
        text = html::html_to_text(h);
    }
    (text, html)
}

/// The text of a text or HTML part, with the charset guessed again when the
/// mail did not say (or lied) and mail-parser's UTF-8 reading lost characters.
fn part_text<'a>(part: &'a MessagePart<'a>, raw: &[u8], ev: &Evidence) -> Cow<'a, str> {
    let decoded: &str = match &part.body {
        PartType::Text(t) | PartType::Html(t) => t.as_ref(),
        _ => return String::from_utf8_lossy(part.contents()),
    };
    let label = part
        .content_type()
        .and_then(|ct| ct.attribute("charset"))
        .map(str::trim);
    let lost = decoded.contains('\u{FFFD}');
    let needs_guess = match label {
        None => lost,
        // "us-ascii" with 8-bit bytes: the label is wrong, the bytes are
        // usually UTF-8 or GBK. mail-parser read them as windows-1252.
        Some(l) if charset::is_ascii_label(l) => !decoded.is_ascii(),
        // ISO-2022-JP written in Shift_JIS and kin: read again, the
        // label's usual impostors first.
        Some(l) if lost && charset::is_cjk_label(l) => {
            let bytes = transfer_decoded(part, raw);
            return Cow::Owned(charset::decode_labelled(l, &bytes, ev));
        }
        Some(l) => !charset::is_known(l) && lost,
    };
    if !needs_guess {
        return Cow::Borrowed(decoded);
    }
    let bytes = transfer_decoded(part, raw);
    let is_html = matches!(part.body, PartType::Html(_));
    Cow::Owned(charset::decode_guessing(&bytes, is_html, ev))
}

/// The bytes of a part with only the transfer encoding removed (no charset
/// conversion), for charset guessing and for text attachments.
fn transfer_decoded(part: &MessagePart<'_>, raw: &[u8]) -> Vec<u8> {
    let body = raw
        .get(part.offset_body as usize..part.offset_end as usize)
        .unwrap_or_default();
    let cte = match part.encoding {
        Encoding::None => return body.to_vec(),
        Encoding::Base64 => "base64",
        Encoding::QuotedPrintable => "quoted-printable",
    };
    // Let mail-parser's lenient MIME decoders do the work on a one-part
    // message declared as binary, so no charset is applied.
    let mut one_part = format!(
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    )
    .into_bytes();
    one_part.extend_from_slice(body);
    mime_parser()
        .parse(&one_part)
        .and_then(|m| m.parts.first().map(|p| p.contents().to_vec()))
        .unwrap_or_else(|| body.to_vec())
}

/// Every non-body part that is a file: named parts, `attachment` parts,
/// images, attached mails (one `.eml` each, not descended into) and other
/// binary content. Report parts of bounces and receipts
/// (`message/delivery-status` …) are machine data and left out.
/// `raw` is what was parsed; `original` the message as it came, where the
/// bytes of attached mails are taken from.
fn attachments(
    msg: &mail_parser::Message<'_>,
    repaired: &repair::Repaired<'_>,
    original: &[u8],
    ev: &Evidence,
) -> Vec<Attachment> {
    let raw: &[u8] = repaired.bytes.as_ref();
    let (text_ids, html_ids) = body_part_ids(msg);
    let body: HashSet<usize> = text_ids.into_iter().chain(html_ids).collect();
    let mut out = Vec::new();
    for (i, part) in msg.parts.iter().enumerate() {
        if body.contains(&i) {
            continue;
        }
        let ctype = content_type_of(part);
        let named = part.attachment_name().is_some_and(|n| !n.trim().is_empty());
        let disposition_attachment = part
            .content_disposition()
            .is_some_and(|d| d.is_attachment());
        let (wanted, data) = match &part.body {
            PartType::Multipart(_) => (false, Vec::new()),
            PartType::Message(m) => (true, attached_mail_bytes(m, raw, repaired, original)),
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                let report = matches!(
                    ctype.as_deref(),
                    Some(
                        "message/delivery-status"
                            | "message/global-delivery-status"
                            | "message/disposition-notification"
                            | "message/feedback-report"
                    )
                );
                (named || disposition_attachment || !report, b.to_vec())
            }
            PartType::Text(_) | PartType::Html(_) => {
                let original_headers = ctype.as_deref() == Some("text/rfc822-headers");
                (
                    named || disposition_attachment || original_headers,
                    transfer_decoded(part, raw),
                )
            }
        };
        if !wanted {
            continue;
        }
        let is_mail = matches!(part.body, PartType::Message(_));
        let content_type = match (&ctype, is_mail) {
            (Some(t), _) => t.clone(),
            (None, true) => "message/rfc822".to_string(),
            (None, false) => "application/octet-stream".to_string(),
        };
        let index = out.len() + 1;
        let name = if is_mail {
            let given = attachment_name(part, raw, ev)
                .map(Cow::into_owned)
                .or_else(|| part.message().and_then(|m| mail_subject(m, ev.language())));
            attachment::mail_name(given.as_deref(), index)
        } else {
            attachment::sanitise_name(
                attachment_name(part, raw, ev).as_deref(),
                &content_type,
                index,
            )
        };
        out.push(Attachment {
            name,
            content_type,
            data,
        });
    }
    out
}

/// The bytes of an attached mail as it came: when it was parsed in place
/// (not transfer-encoded), its range of the original message, so what the
/// repair inserted or renamed is not in it.
fn attached_mail_bytes(
    m: &mail_parser::Message<'_>,
    parsed: &[u8],
    repaired: &repair::Repaired<'_>,
    original: &[u8],
) -> Vec<u8> {
    let in_place = std::ptr::eq(m.raw_message.as_ref().as_ptr(), parsed.as_ptr());
    if in_place && let Some(root) = m.parts.first() {
        let (start, end) =
            repaired.original_range(root.offset_header as usize, root.offset_end as usize);
        if let Some(bytes) = original.get(start..end) {
            return bytes.to_vec();
        }
    }
    m.raw_message().to_vec()
}

/// The file name of a part. When mail-parser's reading lost characters
/// (raw 8-bit bytes, an encoded word whose label lies), the part's header
/// block is mended (`headers`) and read again.
fn attachment_name<'a>(
    part: &'a MessagePart<'a>,
    raw: &[u8],
    ev: &Evidence,
) -> Option<Cow<'a, str>> {
    if let Some(name) = rfc2231_name(part, raw, ev) {
        return Some(Cow::Owned(name));
    }
    let name = part.attachment_name()?;
    if !name.contains('\u{FFFD}') {
        return Some(Cow::Borrowed(name));
    }
    let block = raw
        .get(part.offset_header as usize..part.offset_body as usize)
        .unwrap_or_default();
    let Some(fixed) = headers::mend_block(block, &block_evidence(ev, part, raw)) else {
        return Some(Cow::Borrowed(name));
    };
    let reparsed = mime_parser().parse_headers(fixed.as_bytes());
    match reparsed.as_ref().and_then(|m| m.attachment_name()) {
        Some(n) => Some(Cow::Owned(n.to_string())),
        None => Some(Cow::Borrowed(name)),
    }
}

/// The file name when the part writes it RFC 2231 style (`filename*0*=…`):
/// the segments joined, then decoded once (`params`). Where mail-parser
/// looks: `Content-Disposition`'s `filename`, else `Content-Type`'s `name`.
fn rfc2231_name(part: &MessagePart<'_>, raw: &[u8], ev: &Evidence) -> Option<String> {
    for (header, param) in [
        (HeaderName::ContentDisposition, "filename"),
        (HeaderName::ContentType, "name"),
    ] {
        let Some(h) = part.headers.iter().find(|h| h.name == header) else {
            continue;
        };
        let value = raw
            .get(h.offset_start as usize..h.offset_end as usize)
            .unwrap_or_default();
        if value.contains(&b'*')
            && let Some(name) = params::extended(value, param, &block_evidence(ev, part, raw))
        {
            return Some(name);
        }
    }
    None
}

fn all_mailboxes(a: Option<&mail_parser::Address<'_>>) -> Vec<Mailbox> {
    let Some(a) = a else { return Vec::new() };
    a.iter()
        .filter_map(|addr| {
            let email = addr.address()?;
            email
                .contains('@')
                .then(|| Mailbox::new(addr.name(), email))
        })
        .collect()
}

fn first_mailbox(a: Option<&mail_parser::Address<'_>>) -> Option<Mailbox> {
    all_mailboxes(a).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_parser_reads_every_header_as_mail_parsers_default_but_received() {
        let mail = "Return-Path: <a@x.test>\r\n\
            Received: from a.x.test by b.y.test with ESMTP id 1; Wed, 2 Dec 2026 05:01:02 +0000\r\n\
            From: =?utf-8?b?5p2O5Lyf?= <a@x.test>\r\nSender: s@x.test\r\nReply-To: r@x.test\r\n\
            To: b@y.test\r\nCc: c@y.test\r\nBcc: d@y.test\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\
            Comments: =?utf-8?q?note?=\r\nKeywords: a, b\r\nDate: Wed, 2 Dec 2026 05:01:00 +0000\r\n\
            Message-ID: <m@x.test>\r\nIn-Reply-To: <p@x.test>\r\nReferences: <o@x.test> <p@x.test>\r\n\
            Resent-From: e@x.test\r\nResent-Sender: f@x.test\r\nResent-To: g@y.test\r\n\
            Resent-Cc: h@y.test\r\nResent-Bcc: i@y.test\r\nResent-Date: Wed, 2 Dec 2026 06:00:00 +0000\r\n\
            Resent-Message-ID: <r@x.test>\r\nList-Id: Help <help.y.test>\r\n\
            List-Unsubscribe: <mailto:u@y.test>\r\nList-Post: <mailto:p@y.test>\r\n\
            List-Help: <mailto:h@y.test>\r\nList-Owner: <mailto:o@y.test>\r\n\
            List-Subscribe: <mailto:s@y.test>\r\nList-Archive: <https://y.test/a>\r\n\
            MIME-Version: 1.0\r\nContent-Language: en, zh\r\nContent-ID: <c@x.test>\r\n\
            Content-Description: =?utf-8?q?d?=\r\nContent-Location: l\r\n\
            Content-Type: text/plain; charset=utf-8\r\nContent-Disposition: inline\r\n\
            Content-Transfer-Encoding: 8bit\r\nX-Other: =?utf-8?q?raw?=\r\n\r\nbody\r\n";
        let ours = mime_parser().parse(mail.as_bytes()).unwrap();
        let theirs = mail_parser::MessageParser::default()
            .parse(mail.as_bytes())
            .unwrap();
        let (ours, theirs) = (&ours.parts[0].headers, &theirs.parts[0].headers);
        assert_eq!(ours.len(), 38);
        assert_eq!(ours.len(), theirs.len());
        for (o, t) in ours.iter().zip(theirs) {
            if o.name == HeaderName::Received {
                assert!(
                    matches!(o.value, mail_parser::HeaderValue::Text(_)),
                    "{o:?}"
                );
                assert!(
                    matches!(t.value, mail_parser::HeaderValue::Received(_)),
                    "{t:?}"
                );
            } else {
                assert_eq!(o, t);
            }
        }
    }

    fn parse_str(s: &str) -> Inbound {
        parse(s.as_bytes()).expect("parses")
    }

    #[test]
    fn simple_message() {
        let m = parse_str(
            "From: Li Wei <Li.Wei@Example.CN>\r\nTo: help@desk.test\r\nSubject:  Printer\r\n   broken \r\n\
             Message-ID: <abc@example.cn>\r\nDate: Tue, 28 Nov 2023 10:15:00 +0800\r\n\r\nHello  \r\nthere\r\n",
        );
        assert_eq!(m.subject, "Printer broken");
        assert_eq!(m.message_id, "abc@example.cn");
        assert!(!m.synthetic_id);
        assert_eq!(m.from.unwrap().address, "li.wei@example.cn");
        assert_eq!(m.to[0].address, "help@desk.test");
        assert_eq!(m.date, Some(1701137700));
        assert_eq!(m.text, "Hello\nthere");
        assert_eq!(m.html, None);
        assert!(!m.auto.is_automatic());
    }

    #[test]
    fn synthetic_id_is_stable() {
        let raw = b"From: a@b.test\r\nSubject: x\r\n\r\nbody\r\n";
        let a = parse(raw).unwrap();
        let b = parse(raw).unwrap();
        assert!(a.synthetic_id);
        assert_eq!(a.message_id, b.message_id);
        assert!(a.message_id.ends_with("@postdesk.invalid"));
        assert_ne!(
            a.message_id,
            parse(b"From: a@b.test\r\nSubject: y\r\n\r\nbody\r\n")
                .unwrap()
                .message_id
        );
    }

    #[test]
    fn ids_tolerate_missing_brackets_comments_and_duplicates() {
        let m = parse_str(
            "From: a@b.test\r\nMessage-ID: abc.123@host.test (added by relay)\r\n\
             In-Reply-To: <p1@x.test> (from Bob on Monday)\r\n\
             References: <r1@x.test>\r\n <r2@x.test> r3@x.test <r1@x.test>\r\n\tp1@x.test\r\n\r\nhi\r\n",
        );
        assert_eq!(m.message_id, "abc.123@host.test");
        assert_eq!(m.in_reply_to, vec!["p1@x.test"]);
        assert_eq!(
            m.references,
            vec!["r1@x.test", "r2@x.test", "r3@x.test", "p1@x.test"]
        );
    }

    #[test]
    fn empty_message_id_gets_synthetic() {
        let m = parse_str("From: a@b.test\r\nMessage-ID: <>\r\n\r\nhi\r\n");
        assert!(m.synthetic_id);
    }

    #[test]
    fn loop_markers_are_collected_trimmed() {
        let m = parse_str(
            "From: a@b.test\r\nX-Postdesk-Loop:  desk-1 \r\nx-postdesk-loop: desk-2\r\n\r\nhi\r\n",
        );
        assert_eq!(m.loop_markers, vec!["desk-1", "desk-2"]);
    }

    #[test]
    fn sender_priority_from_each_header() {
        let p =
            |h: &str| parse_str(&format!("From: a@b.test\r\n{h}\r\n\r\nhi\r\n")).sender_priority;
        assert_eq!(p("X-Priority: 1 (Highest)"), Some(1));
        assert_eq!(p("X-Priority: 2 (High)"), Some(2));
        assert_eq!(p("X-Priority: 5"), Some(5));
        assert_eq!(p("X-Priority: 9"), None);
        assert_eq!(p("Importance: High"), Some(1));
        assert_eq!(p("Importance: normal"), Some(3));
        assert_eq!(p("Importance: low"), Some(5));
        assert_eq!(p("Priority: urgent"), Some(1));
        assert_eq!(p("Priority: non-urgent"), Some(5));
        assert_eq!(p("X-MSMail-Priority: Low"), Some(5));
        assert_eq!(p("X-Foo: 1"), None);
        assert_eq!(p("Importance: low\r\nX-Priority: 1"), Some(1));
    }

    #[test]
    fn subject_from_raw_gbk_header() {
        // Foxmail 5 style: raw GBK bytes in Subject and From, no RFC 2047.
        let mut raw = b"From: \xc0\xee\xce\xb0 <liwei@example.cn>\r\nSubject: \xbb\xd8\xb8\xb4: \xb4\xf2\xd3\xa1\xbb\xfa\xbb\xb5\xc1\xcb\r\n".to_vec();
        raw.extend_from_slice(b"\r\nhi\r\n");
        let m = parse(&raw).unwrap();
        assert_eq!(m.subject, "回复: 打印机坏了");
        assert_eq!(m.from.unwrap().name.as_deref(), Some("李伟"));
    }

    #[test]
    fn raw_latin1_headers_are_not_read_as_gbk() {
        // Every one of these is also valid GBK, which is how Håvard got a
        // Chinese character in the acknowledgement's greeting.
        let mut raw = b"From: H\xe5vard Nilsen <havard.nilsen@firma.test>\r\n".to_vec();
        raw.extend_from_slice(b"To: Kundeservice <help@desk.test>\r\n");
        raw.extend_from_slice(b"Subject: Ny adresse: Hofj\xe4gerallee 12 / Forma\xe7\xe3o\r\n");
        raw.extend_from_slice(b"Content-Type: text/plain\r\n\r\nHei!\r\n");
        let m = parse(&raw).unwrap();
        assert_eq!(m.from.unwrap().name.as_deref(), Some("Håvard Nilsen"));
        assert_eq!(m.subject, "Ny adresse: Hofjägerallee 12 / Formação");
    }

    #[test]
    fn raw_header_charset_from_the_mails_own_labels() {
        // Raw Big5 in From and Subject; the text part says big5. Read as
        // GBK (the old rule) 楊雅婷 is 法懂碄.
        let mut raw = b"From: \"\xb7\xa8\xb6\xae\xb4@\" <yating@example.com.tw>\r\n".to_vec();
        raw.extend_from_slice(b"Subject: \xb9q\xb8\xa3\xb7\xed\xbe\xf7\r\n");
        raw.extend_from_slice(
            b"Content-Type: text/plain; charset=big5\r\n\r\n\xbd\xd0\xa8\xf3\xa7U\r\n",
        );
        let m = parse(&raw).unwrap();
        assert_eq!(m.from.unwrap().name.as_deref(), Some("楊雅婷"));
        assert_eq!(m.subject, "電腦當機");
        assert_eq!(m.text, "請協助");
        // Raw Shift_JIS, no label anywhere: read by plausibility.
        let mut raw = b"From: \x8d\xb2\x93\xa1 \x8c\x92 <sato@example.co.jp>\r\n".to_vec();
        raw.extend_from_slice(
            b"Subject: \x89\xef\x8b\x63\x8e\xba\x82\xcc\x97\x5c\x96\xf1\r\n\r\nhi\r\n",
        );
        let m = parse(&raw).unwrap();
        assert_eq!(m.from.unwrap().name.as_deref(), Some("佐藤 健"));
        assert_eq!(m.subject, "会議室の予約");
    }

    #[test]
    fn mailbox_language_is_evidence() {
        // Bytes that read plausibly both as Big5 (馬票陝) and as GBK
        // (皑布阿), Big5 a little better: alone they are Big5; in a zh-CN
        // mailbox, whose unlabelled mail is GBK, they are GBK.
        let raw = b"From: a@b.test\r\nSubject: \xb0\xa8\xb2\xbc\xb0\xa2\r\n\r\nhi\r\n";
        assert_eq!(parse(raw).unwrap().subject, "馬票陝");
        assert_eq!(parse_for(raw, Some(Lang::ZhCn)).unwrap().subject, "皑布阿");
        // … but no language makes mojibake of a plain Latin-1 name.
        let raw = b"From: H\xe5vard <h@firma.test>\r\n\r\nhi\r\n";
        let m = parse_for(raw, Some(Lang::ZhCn)).unwrap();
        assert_eq!(m.from.unwrap().name.as_deref(), Some("Håvard"));
    }

    #[test]
    fn encoded_words_whose_label_lies() {
        // Declared ISO-2022-JP, written in Shift_JIS (old Japanese webmail).
        let m = parse_str(
            "From: =?ISO-2022-JP?B?jbKToSCMkg==?= <sato@example.co.jp>\r\n\
             Subject: =?ISO-2022-JP?B?ie+LY466gsyXXJbx?=\r\n\r\nhi\r\n",
        );
        assert_eq!(m.from.unwrap().name.as_deref(), Some("佐藤 健"));
        assert_eq!(m.subject, "会議室の予約");
        // Declared GB2312, with GBK-only characters (朱镕基, 王堃).
        let m = parse_str(
            "From: =?gb2312?B?1uzpRrv5?= <zhu@example.cn>\r\nSubject: =?GB2312?B?zfWI0g==?=\r\n\r\nhi\r\n",
        );
        assert_eq!(m.from.unwrap().name.as_deref(), Some("朱镕基"));
        assert_eq!(m.subject, "王堃");
        // Declared UTF-8, written in Latin-1.
        let m = parse(b"From: a@b.test\r\nSubject: =?utf-8?Q?Gr=FC=DFe_aus_K=F6ln?=\r\n\r\nhi\r\n")
            .unwrap();
        assert_eq!(m.subject, "Grüße aus Köln");
    }

    #[test]
    fn duplicate_subjects_first_wins() {
        let m = parse_str(
            "From: a@b.test\r\nSubject: Printer broken\r\nSubject: [SPAM?] Printer broken\r\n\r\nhi\r\n",
        );
        assert_eq!(m.subject, "Printer broken");
    }

    #[test]
    fn comments_are_not_display_names() {
        let m = parse_str(
            "From: Pete(A wonderful \\) chap) <pete(his account)@silly.test(his host)>\r\n\
             To: Help Desk (IT) <help@desk.test>, (nobody) kim@desk.test (Kim Lee)\r\n\r\nhi\r\n",
        );
        let from = m.from.unwrap();
        assert_eq!(
            (from.name.as_deref(), from.address.as_str()),
            (Some("Pete"), "pete@silly.test")
        );
        let to: Vec<String> = m.to.iter().map(|t| t.to_string()).collect();
        assert_eq!(
            to,
            vec!["Help Desk <help@desk.test>", "Kim Lee <kim@desk.test>"]
        );
    }

    #[test]
    fn attached_mail_names_decode_like_subjects() {
        // The inner mails: raw GBK (Foxmail 5), a character split over two
        // encoded words, a label that lies. Named as their subjects read.
        let mut raw =
            b"From: a@b.test\r\nSubject: fwd\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n\
            --m\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
            --m\r\nContent-Type: message/rfc822\r\n\r\nFrom: b@c.test\r\nSubject: "
                .to_vec();
        raw.extend_from_slice(b"\xd3\xca\xcf\xe4\xce\xde\xb7\xa8\xb5\xc7\xc2\xbc\r\n\r\ninner\r\n");
        raw.extend_from_slice(
            b"--m\r\nContent-Type: message/rfc822\r\n\r\nFrom: b@c.test\r\n\
              Subject: =?UTF-8?B?5L2g5Q==?= =?UTF-8?B?pb0=?=\r\n\r\ninner\r\n\
              --m\r\nContent-Type: message/rfc822\r\n\r\nFrom: b@c.test\r\n\
              Subject: =?ISO-2022-JP?B?ie+LY466gsyXXJbx?=\r\nSubject: second\r\n\r\ninner\r\n--m--\r\n",
        );
        let m = parse(&raw).unwrap();
        let names: Vec<&str> = m.attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["邮箱无法登录.eml", "你好.eml", "会議室の予約.eml"]
        );
    }

    #[test]
    fn inner_multipart_that_does_not_close_ends_at_the_outer_delimiter() {
        // A fax-to-mail gateway: the alternative never closes, the fax
        // follows as the next part of the mixed.
        let m = parse_str(
            "From: fax@office.test\r\nSubject: Fax from +49 30 1234567\r\n\
             Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n\
             Content-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\nYou received a fax (2 pages).\r\n--inner\r\n\
             Content-Type: text/html; charset=utf-8\r\n\r\n<p>You received a fax (2 pages).</p>\r\n--outer\r\n\
             Content-Type: application/pdf; name=fax.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n\
             JVBERi0xLjQK\r\n--outer\r\nContent-Type: text/plain; name=cover.txt\r\n\r\nCover page\r\n--outer--\r\n",
        );
        assert_eq!(m.text, "You received a fax (2 pages).");
        assert!(m.html.as_deref().unwrap().contains("<p>You received a fax"));
        assert!(
            !m.html.unwrap().contains("--outer"),
            "the html part ends at the delimiter"
        );
        let names: Vec<&str> = m.attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, vec!["fax.pdf", "cover.txt"]);
        assert_eq!(m.attachments[0].data, b"%PDF-1.4\n");
        assert_eq!(m.attachments[1].data, b"Cover page");
    }

    #[test]
    fn parts_open_at_the_end_end_with_the_message() {
        // The last part, base64, and both multiparts: no closing delimiters.
        let m = parse_str(
            "From: scanner@office.test\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n\
             --outer\r\nContent-Type: multipart/related; boundary=inner\r\n\r\n--inner\r\n\
             Content-Type: text/html\r\n\r\n<p>Scan attached</p>\r\n--inner\r\n\
             Content-Type: image/png; name=logo.png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n\
             --outer\r\nContent-Type: application/pdf; name=scan.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n\
             JVBERi0xLjQK",
        );
        assert_eq!(m.text, "Scan attached");
        let files: Vec<(&str, &[u8])> = m
            .attachments
            .iter()
            .map(|a| (a.name.as_str(), a.data.as_slice()))
            .collect();
        assert_eq!(
            files,
            vec![
                ("logo.png", &b"\x89PNG\r\n\x1a\n"[..]),
                ("scan.pdf", b"%PDF-1.4\n")
            ]
        );
    }

    #[test]
    fn attached_mail_with_an_open_multipart_stays_as_sent() {
        let inner = "From: x@y.test\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=n\r\n\r\n\
                     --n\r\nContent-Type: text/plain\r\n\r\ninner text\r\n";
        let raw = format!(
            "From: a@b.test\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\n\
             Content-Type: text/plain\r\n\r\nsee attached\r\n--m\r\nContent-Type: message/rfc822\r\n\r\n{inner}\
             --m\r\nContent-Type: application/pdf; name=after.pdf\r\n\r\n%PDF\r\n--m--\r\n"
        );
        let m = parse_str(&raw);
        assert_eq!(m.text, "see attached");
        let names: Vec<&str> = m.attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, vec!["inner.eml", "after.pdf"]);
        assert_eq!(
            m.attachments[0].data,
            inner.trim_end().as_bytes(),
            "no inserted delimiter"
        );
    }

    #[test]
    fn duplicate_content_type_first_wins_body_never_raw_mime() {
        let mime = "\r\n--b\r\nContent-Type: text/plain\r\n\r\nreal text\r\n--b\r\n\
                    Content-Type: application/pdf; name=a.pdf\r\n\r\n%PDF\r\n--b--\r\n";
        for headers in [
            "Content-Type: multipart/mixed; boundary=b\r\nContent-Type: text/plain\r\n",
            // The first is text, but the body is made of the later one's parts.
            "Content-Type: text/plain; charset=us-ascii\r\nContent-Type: multipart/mixed; boundary=b\r\n",
        ] {
            let m = parse_str(&format!("From: a@b.test\r\nSubject: x\r\n{headers}{mime}"));
            assert_eq!(m.text, "real text", "{headers:?}");
            assert_eq!(m.attachments.len(), 1, "{headers:?}");
        }
        // In a part: the first says text, mail-parser would take the PDF.
        let m = parse_str(
            "From: a@b.test\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
             Content-Type: text/plain\r\nContent-Type: application/octet-stream\r\n\r\nthe text\r\n--b--\r\n",
        );
        assert_eq!(m.text, "the text");
        assert!(m.attachments.is_empty());
    }

    #[test]
    fn subject_with_character_split_over_encoded_words() {
        // 你好 in UTF-8 split after the fourth byte, as some webmails do.
        let m = parse_str(
            "From: a@b.test\r\nSubject: =?UTF-8?B?5L2g5Q==?= =?UTF-8?B?pb0=?= world\r\n\r\nhi\r\n",
        );
        assert_eq!(m.subject, "你好 world");
    }

    #[test]
    fn body_without_charset_in_gbk_is_guessed() {
        let mut raw = b"From: a@b.test\r\nContent-Type: text/plain\r\n\r\n".to_vec();
        raw.extend_from_slice(
            b"\xc4\xe3\xba\xc3\xa3\xac\xb4\xf2\xd3\xa1\xbb\xfa\xbb\xb5\xc1\xcb\r\n",
        );
        assert_eq!(parse(&raw).unwrap().text, "你好，打印机坏了");
    }

    #[test]
    fn body_without_charset_in_latin1_falls_back() {
        let mut raw = b"From: a@b.test\r\nContent-Type: text/plain\r\n\r\n".to_vec();
        raw.extend_from_slice(b"Caf\xe9 cr\xe8me br\xfbl\xe9e\r\n");
        assert_eq!(parse(&raw).unwrap().text, "Café crème brûlée");
    }

    #[test]
    fn body_labelled_us_ascii_with_utf8_bytes() {
        let raw = "From: a@b.test\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n你好\r\n";
        assert_eq!(parse_str(raw).text, "你好");
    }

    #[test]
    fn body_with_unknown_charset_and_gbk_bytes() {
        let mut raw =
            b"From: a@b.test\r\nContent-Type: text/plain; charset=x-unknown-cn\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                .to_vec();
        raw.extend_from_slice(b"xOO6ww==\r\n"); // 你好 in GBK
        assert_eq!(parse(&raw).unwrap().text, "你好");
    }

    #[test]
    fn gb2312_label_with_gbk_only_characters() {
        // 镕 and 堃 are not in GB2312; Foxmail still labels the part gb2312.
        let mut raw =
            b"From: a@b.test\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n".to_vec();
        raw.extend_from_slice(b"\xe9\x46 \x88\xd2\r\n");
        assert_eq!(parse(&raw).unwrap().text, "镕 堃");
    }

    #[test]
    fn html_meta_charset_used_when_mime_has_none() {
        let mut raw = b"From: a@b.test\r\nContent-Type: text/html\r\n\r\n".to_vec();
        raw.extend_from_slice(
            b"<html><head><meta charset=\"big5\"></head><body>\xa7\x41\xa6\x6e</body></html>",
        );
        assert_eq!(parse(&raw).unwrap().text, "你好");
    }

    #[test]
    fn html_only_mail_is_converted() {
        let m = parse_str(
            "From: a@b.test\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
             <p>Hello&nbsp;&amp; welcome</p><script>alert(1)</script><p>Second</p>",
        );
        assert_eq!(m.text, "Hello & welcome\n\nSecond");
        assert!(m.html.unwrap().contains("<script>"));
    }

    #[test]
    fn looks_chinese_rules() {
        let mk = |subject: &str, text: &str| Inbound {
            message_id: String::new(),
            synthetic_id: false,
            fingerprint: String::new(),
            in_reply_to: vec![],
            references: vec![],
            from: None,
            from_count: 0,
            reply_to: None,
            to: vec![],
            cc: vec![],
            subject: subject.into(),
            date: None,
            text: text.into(),
            html: None,
            attachments: vec![],
            auto: AutoSignals::default(),
            loop_markers: vec![],
            auth_results: vec![],
            bounce: None,
            sender_priority: None,
            raw_size: 0,
        };
        assert!(mk("打印机坏了", "").looks_chinese());
        assert!(mk("Printer", "Hi, 打印机坏了").looks_chinese());
        assert!(mk("回复: 打印机", "还是不能用，谢谢").looks_chinese());
        assert!(!mk("Printer broken", "It does not print.").looks_chinese());
        let long = "The printer on the third floor has stopped printing since this morning. \
                    We restarted it twice and checked the paper tray. Best regards, Li Wei, \
                    北京示例科技有限公司";
        assert!(!mk("Printer broken", long).looks_chinese());
        assert!(!mk("Re: Printer", "Thanks!\n> 打印机坏了，请帮忙看看，谢谢").looks_chinese());
        assert!(
            !mk(
                "会議室のプロジェクター",
                "本日１５時から会議があるため、至急ご確認ください。"
            )
            .looks_chinese()
        );
        assert!(
            mk(
                "索尼投影仪",
                "会议室的ソニー投影仪坏了，请尽快派人来看一下，谢谢。"
            )
            .looks_chinese()
        );
    }

    #[test]
    fn named_text_part_is_an_attachment_not_body() {
        let m = parse_str(
            "From: a@b.test\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
             Content-Type: text/plain\r\n\r\nSee log.\r\n--b\r\n\
             Content-Type: text/plain\r\nContent-Disposition: inline; filename=\"log.txt\"\r\n\r\nline 1\r\n--b--\r\n",
        );
        assert_eq!(m.text, "See log.");
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].name, "log.txt");
        assert_eq!(m.attachments[0].data, b"line 1");
    }

    #[test]
    fn text_attachment_keeps_its_original_bytes() {
        let mut raw = b"From: a@b.test\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
             Content-Type: text/plain\r\n\r\nSee file.\r\n--b\r\n\
             Content-Type: text/csv; charset=gbk; name=\"a.csv\"\r\nContent-Transfer-Encoding: base64\r\n\
             Content-Disposition: attachment; filename=\"a.csv\"\r\n\r\n"
            .to_vec();
        raw.extend_from_slice(b"xOO6ww==\r\n--b--\r\n");
        let m = parse(&raw).unwrap();
        assert_eq!(m.attachments[0].data, b"\xc4\xe3\xba\xc3");
        assert_eq!(m.attachments[0].content_type, "text/csv");
    }

    #[test]
    fn encoded_word_attachment_names() {
        // Outlook in China: RFC 2047 words inside quoted parameters.
        let m = parse_str(
            "From: a@b.test\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
             Content-Type: text/plain\r\n\r\nquote attached\r\n--b\r\n\
             Content-Type: application/vnd.ms-excel; name=\"=?gb2312?B?sai827WlLnhscw==?=\"\r\n\
             Content-Disposition: attachment; filename=\"=?gb2312?B?sai827WlLnhscw==?=\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n",
        );
        assert_eq!(m.attachments[0].name, "报价单.xls");
    }

    #[test]
    fn raw_gbk_attachment_name() {
        // Foxmail 5: the file name as raw GBK bytes in the part header.
        let mut raw = b"From: a@b.test\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
             Content-Type: text/plain\r\n\r\nquote attached\r\n--b\r\n\
             Content-Type: application/vnd.ms-excel; name=\""
            .to_vec();
        raw.extend_from_slice(
            b"\xb1\xa8\xbc\xdb\xb5\xa5.xls\"\r\nContent-Disposition: attachment; filename=\"",
        );
        raw.extend_from_slice(b"\xb1\xa8\xbc\xdb\xb5\xa5.xls\"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n");
        let m = parse(&raw).unwrap();
        assert_eq!(m.attachments[0].name, "报价单.xls");
        assert_eq!(m.text, "quote attached");
    }

    #[test]
    fn rfc2231_continuations_are_joined_before_decoding() {
        // ISO-2022-JP is stateful: the escape in is in the first segment,
        // the escape out in the second (見積書.pdf). And a UTF-8 character
        // split between two segments (報告書.xlsx).
        let m = parse_str(
            "From: a@b.test\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
             Content-Type: text/plain\r\n\r\nsee files\r\n--b\r\n\
             Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\
             Content-Disposition: attachment;\r\n filename*0*=iso-2022-jp''%1B%24B8%2B%40Q%3Dq;\r\n filename*1*=%1B%28B.pdf\r\n\
             \r\nJVBERi0xLjQK\r\n--b\r\n\
             Content-Type: application/vnd.ms-excel;\r\n name*0*=UTF-8''%E5%A0%B1%E5;\r\n name*1*=%91%8A%E6%9B%B8.xlsx\r\n\
             Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n",
        );
        let names: Vec<&str> = m.attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, vec!["見積書.pdf", "報告書.xlsx"]);
    }

    #[test]
    fn inline_images_are_attachments() {
        let m = parse_str(
            "From: a@b.test\r\nContent-Type: multipart/related; boundary=r; type=\"text/html\"\r\n\r\n--r\r\n\
             Content-Type: text/html; charset=utf-8\r\n\r\n<p>See <img src=\"cid:img1@x\"></p>\r\n--r\r\n\
             Content-Type: image/png\r\nContent-ID: <img1@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n\
             iVBORw0KGgo=\r\n--r\r\n\
             Content-Type: image/jpeg; name=\"photo.jpg\"\r\nContent-Disposition: inline; filename=\"photo.jpg\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n/9j/4AAQ\r\n--r--\r\n",
        );
        assert_eq!(m.text, "See");
        let names: Vec<_> = m.attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, vec!["attachment-1.png", "photo.jpg"]);
        assert_eq!(m.attachments[0].data, b"\x89PNG\r\n\x1a\n");
        assert_eq!(m.attachments[0].content_type, "image/png");
    }

    #[test]
    fn attached_mail_is_one_eml_and_not_body() {
        let m = parse_str(
            "From: a@b.test\r\nSubject: fwd\r\nX-Postdesk-Loop: outer\r\n\
             Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\n\
             Content-Type: text/plain\r\n\r\nsee attached\r\n--m\r\n\
             Content-Type: message/rfc822\r\n\r\n\
             From: b@c.test\r\nSubject: inner: secrets\r\nX-Postdesk-Loop: inner\r\nAuto-Submitted: auto-replied\r\n\
             Content-Type: multipart/mixed; boundary=n\r\n\r\n--n\r\nContent-Type: text/plain\r\n\r\ninner text\r\n\
             --n\r\nContent-Type: application/pdf; name=inner.pdf\r\n\r\n%PDF\r\n--n--\r\n--m--\r\n",
        );
        assert_eq!(m.text, "see attached");
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].name, "inner secrets.eml");
        assert_eq!(m.attachments[0].content_type, "message/rfc822");
        assert!(m.attachments[0].data.starts_with(b"From: b@c.test"));
        assert_eq!(m.loop_markers, vec!["outer"]);
        assert!(!m.auto.is_automatic());
    }

    #[test]
    fn display_names_with_line_breaks_are_cleaned_at_parse_time() {
        for from in [
            "=?utf-8?q?Evil=0D=0ABcc=3A_victim=40corp=2Etest?= <evil@corp.test>",
            "=?utf-8?b?RXZpbA0KQmNjOiB2aWN0aW1AY29ycC50ZXN0?= <evil@corp.test>",
            "\"Evil\r\n Bcc: victim@corp.test\" <evil@corp.test>",
        ] {
            let raw = format!(
                "From: {from}\r\nReply-To: {from}\r\nSubject: x\r\nMessage-ID: <n@corp.test>\r\n\r\nhi\r\n"
            );
            let m = parse(raw.as_bytes()).unwrap();
            for mb in [m.from.unwrap(), m.reply_to.unwrap()] {
                let name = mb.name.unwrap_or_default();
                assert!(!name.chars().any(char::is_control), "{from}: {name:?}");
                assert!(name.starts_with("Evil"), "{from}: {name:?}");
                assert_eq!(mb.address, "evil@corp.test");
            }
        }
    }

    #[test]
    fn parser_panic_becomes_an_error() {
        let r: Result<(), ParseError> = guarded(|| panic!("boom"));
        assert!(matches!(r, Err(ParseError::NotAMessage(_))));
    }

    // ---- never panics, never slow -------------------------------------

    /// Parses hostile input. No wall-clock assertion (a busy machine would
    /// make it flaky): the inputs are sized so that a quadratic step would
    /// take minutes, which shows as a hanging test, and the figures live in
    /// the benchmarks.
    fn assert_quick(what: &str, raw: &[u8]) {
        let r = std::panic::catch_unwind(|| parse(raw));
        assert!(r.is_ok(), "{what}: parse panicked");
    }

    #[test]
    fn empty_input() {
        assert!(parse(b"").is_err());
        assert_quick("empty", b"");
    }

    #[test]
    fn a_megabyte_of_ff() {
        assert_quick("0xFF", &vec![0xFFu8; 1 << 20]);
    }

    #[test]
    fn huge_header() {
        let mut raw = b"From: a@b.test\r\nX-Big: ".to_vec();
        for i in 0..(200 * 1024 / 10) {
            raw.extend_from_slice(format!("v{i:07} \r\n ").as_bytes());
        }
        raw.extend_from_slice(b"end\r\nSubject: ok\r\n\r\nbody\r\n");
        assert_quick("200 KB header", &raw);
        let m = parse(&raw).unwrap();
        assert_eq!(m.subject, "ok");
        let mut one_line = b"From: a@b.test\r\nSubject: ".to_vec();
        one_line.extend(std::iter::repeat_n(b'x', 200 * 1024));
        one_line.extend_from_slice(b"\r\n\r\nbody\r\n");
        assert_quick("200 KB subject", &one_line);
    }

    #[test]
    fn thousand_nested_multiparts() {
        let mut raw = b"From: a@b.test\r\nSubject: deep\r\n".to_vec();
        for i in 0..1000 {
            raw.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n")
                    .as_bytes(),
            );
        }
        raw.extend_from_slice(b"Content-Type: text/plain\r\n\r\ndeep text\r\n");
        for i in (0..1000).rev() {
            raw.extend_from_slice(format!("--b{i}--\r\n").as_bytes());
        }
        assert_quick("1000 nested multiparts", &raw);
        let m = parse(&raw).unwrap();
        assert_eq!(m.subject, "deep");
    }

    #[test]
    fn thousand_nested_attached_mails() {
        let mut raw = Vec::new();
        for _ in 0..1000 {
            raw.extend_from_slice(b"From: a@b.test\r\nContent-Type: message/rfc822\r\n\r\n");
        }
        raw.extend_from_slice(b"From: a@b.test\r\n\r\ninnermost\r\n");
        assert_quick("1000 nested message/rfc822", &raw);
    }

    #[test]
    fn long_runs_of_unlabelled_8bit_text() {
        // One word of 100,000 accented letters, a megabyte of unlabelled
        // EUC-KR-looking pairs: the charset guess must stay linear.
        let mut raw = b"From: a@b.test\r\nSubject: ".to_vec();
        raw.extend(std::iter::repeat_n(0xE9u8, 100_000));
        raw.extend_from_slice(b"\r\nX-Hangul: ");
        raw.extend(std::iter::repeat_n([0xB0u8, 0xA1], 50_000).flatten());
        raw.extend_from_slice(b"\r\nContent-Type: text/plain\r\n\r\n");
        raw.extend(std::iter::repeat_n([0xB0u8, 0xA1], 500_000).flatten());
        assert_quick("long 8-bit runs", &raw);
    }

    #[test]
    fn subject_with_5000_tags() {
        let subject = "[#1] ".repeat(5000);
        let raw = format!("From: a@b.test\r\nSubject: Re: {subject}help\r\n\r\nbody\r\n");
        assert_quick("5000 tags", raw.as_bytes());
        let m = parse_str(&raw);
        assert!(m.subject.starts_with("Re: [#1] [#1]"));
        assert!(m.subject.ends_with("[#1] help"));
    }

    #[test]
    fn huge_html_and_many_parts() {
        let mut html = String::from("From: a@b.test\r\nContent-Type: text/html\r\n\r\n");
        for _ in 0..50_000 {
            html.push_str("<div><table><tr><td>x&amp;y</td><td><blockquote>q");
        }
        assert_quick("deep HTML", html.as_bytes());
        let mut parts =
            b"From: a@b.test\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
        for i in 0..20_000 {
            parts.extend_from_slice(
                format!(
                    "--b\r\nContent-Type: application/octet-stream; name=\"{i}.bin\"\r\n\r\nx\r\n"
                )
                .as_bytes(),
            );
        }
        parts.extend_from_slice(b"--b--\r\n");
        assert_quick("20000 parts", &parts);
    }

    #[test]
    fn garbage_does_not_panic() {
        let samples: &[&[u8]] = &[
            b"\r\n\r\n",
            b":",
            b"From:\r\n\r\n",
            b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n--\r\n",
            b"Content-Type: multipart/mixed\r\n\r\n--b\r\n",
            b"Subject: =?utf-8?B?====?= =?gb2312?Q?=ZZ?= =??B??=\r\n\r\nx",
            b"Content-Type: text/plain; charset=\xff\xfe\r\n\r\n\xff\xfe",
            b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!\r\n",
            b"Content-Disposition: attachment; filename*=utf-8''%ZZ%\r\n\r\nx",
        ];
        for s in samples {
            assert_quick("garbage", s);
        }
        // A pseudo-random walk over mail-ish bytes.
        let alphabet = b"\r\n:;=?<>\"-/ \tabBQ%\xff\xe4=?utf-8?B?--b\r\nContent-Type: multipart/mixed; boundary=b\r\n";
        let mut state: u64 = 0x2545F4914F6CDD1D;
        for len in (0..4000).step_by(37) {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    alphabet[(state % alphabet.len() as u64) as usize]
                })
                .collect();
            let _ = parse(&bytes);
        }
    }
}
