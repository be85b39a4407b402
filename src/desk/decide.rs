//! (ticket state, mail, policy, now) → effects. All policy lives here.
//!
//! Pure: the caller looks up the ticket a mail belongs to, passes the clock
//! reading, and applies the effects in one transaction.

use std::time::Duration;

use jiff::tz::TimeZone;
use serde_json::json;

use crate::address::Mailbox;
use crate::desk::ticket::Status;
use crate::desk::when;
use crate::inbound::Inbound;
use crate::lang::Lang;
use crate::outbound;
use crate::subject::TagFormat;

/// What decide needs to know about the desk and the mailbox the mail came in.
#[derive(Debug, Clone)]
pub struct Policy {
    pub desk_name: String,
    /// Our address: From of everything we send.
    pub desk_address: Mailbox,
    /// Domain of our Message-IDs and loop marker.
    pub id_domain: String,
    pub tag: TagFormat,
    /// The mailbox's language.
    pub lang: Lang,
    /// Answer in Chinese when the requester clearly writes Chinese.
    pub detect_language: bool,
    pub first_response: Duration,
    pub time_zone: TimeZone,
    pub time_zone_name: String,
}

/// The ticket a mail was linked to, as decide needs to see it.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketState {
    pub number: i64,
    pub status: Status,
    pub requester: String,
    pub subject: String,
    pub lang: Lang,
}

/// How a mail was linked to an existing ticket.
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    /// Its subject carries the ticket's tag.
    Tag(TicketState),
    /// Its In-Reply-To or References name a message of the ticket.
    Reference(TicketState),
}

impl Link {
    pub fn ticket(&self) -> &TicketState {
        match self {
            Link::Tag(t) | Link::Reference(t) => t,
        }
    }
}

/// What an inbound message is to its ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// The mail that opened the ticket.
    Request,
    /// A later mail from the requester or someone else on the thread.
    Reply,
    /// Automatic mail (out-of-office, bounce) attached for the record.
    Automatic,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Request => "request",
            MessageKind::Reply => "reply",
            MessageKind::Automatic => "automatic",
        }
    }
}

/// A ticket to create. Its number was allocated by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTicket {
    pub number: i64,
    pub subject: String,
    pub requester: Mailbox,
    pub lang: Lang,
}

/// A mail to queue, not yet rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct OutMail {
    pub ticket: i64,
    /// Template kind, e.g. `ack`.
    pub template: &'static str,
    pub lang: Lang,
    pub to: Vec<Mailbox>,
    pub subject: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub auto_submitted: Option<&'static str>,
    pub vars: serde_json::Value,
}

/// One thing to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Record the mail without a ticket, with the reason (our own mail coming back).
    Ignore {
        reason: String,
    },
    CreateTicket(NewTicket),
    /// Store the inbound mail as a message of this ticket.
    Attach {
        ticket: i64,
        kind: MessageKind,
    },
    /// An entry in the ticket's timeline.
    Event {
        ticket: i64,
        actor: String,
        kind: &'static str,
        old: Option<String>,
        new: Option<String>,
        detail: Option<String>,
    },
    Send(OutMail),
}

/// How many References we carry forward: enough to thread, bounded so a
/// long conversation does not grow headers without end.
const MAX_REFERENCES: usize = 20;

/// Decides what one inbound mail means.
pub fn decide(
    policy: &Policy,
    mail: &Inbound,
    link: Option<&Link>,
    next_number: i64,
    now_ms: i64,
) -> Vec<Effect> {
    if let Some(reason) = our_own_mail(policy, mail) {
        return vec![Effect::Ignore { reason }];
    }
    let sender = sender_of(mail);
    let actor = sender
        .as_ref()
        .map(|m| m.address.clone())
        .unwrap_or_else(|| "unknown".into());
    match link {
        Some(link) => reply_to_ticket(link.ticket(), mail, actor),
        None => new_ticket(policy, mail, sender, actor, next_number, now_ms),
    }
}

/// Our own outgoing mail that came back to us (a desk address in Cc, a
/// forwarding rule): never a ticket, or we would answer ourselves forever.
fn our_own_mail(policy: &Policy, mail: &Inbound) -> Option<String> {
    if mail
        .loop_markers
        .iter()
        .any(|m| m.eq_ignore_ascii_case(&policy.id_domain))
    {
        return Some(format!(
            "carries our loop header ({})",
            outbound::LOOP_HEADER
        ));
    }
    if outbound::is_our_message_id(&mail.message_id, &policy.id_domain) {
        return Some("has a Message-ID we created".into());
    }
    None
}

/// Who a reply should go to: Reply-To when given, else From.
fn sender_of(mail: &Inbound) -> Option<Mailbox> {
    mail.reply_to.clone().or_else(|| mail.from.clone())
}

fn reply_to_ticket(ticket: &TicketState, mail: &Inbound, actor: String) -> Vec<Effect> {
    let kind = if mail.auto.is_automatic() {
        MessageKind::Automatic
    } else {
        MessageKind::Reply
    };
    let mut effects = vec![Effect::Attach {
        ticket: ticket.number,
        kind,
    }];
    let detail = match kind {
        MessageKind::Automatic => Some(auto_detail(mail)),
        _ => None,
    };
    effects.push(Effect::Event {
        ticket: ticket.number,
        actor,
        kind: if kind == MessageKind::Automatic {
            "automatic-mail"
        } else {
            "reply"
        },
        old: None,
        new: None,
        detail,
    });
    effects
}

fn new_ticket(
    policy: &Policy,
    mail: &Inbound,
    sender: Option<Mailbox>,
    actor: String,
    number: i64,
    now_ms: i64,
) -> Vec<Effect> {
    let requester = sender.unwrap_or_else(|| Mailbox::new(None, "unknown@invalid"));
    let lang = language_for(policy, mail);
    let subject = display_subject(policy, mail);
    let mut effects = vec![
        Effect::CreateTicket(NewTicket {
            number,
            subject: subject.clone(),
            requester: requester.clone(),
            lang,
        }),
        Effect::Attach {
            ticket: number,
            kind: if mail.auto.is_automatic() {
                MessageKind::Automatic
            } else {
                MessageKind::Request
            },
        },
        Effect::Event {
            ticket: number,
            actor,
            kind: "created",
            old: None,
            new: Some(Status::New.as_str().into()),
            detail: None,
        },
    ];
    match why_no_acknowledgement(mail) {
        Some(reason) => effects.push(Effect::Event {
            ticket: number,
            actor: "postdesk".into(),
            kind: "no-acknowledgement",
            old: None,
            new: None,
            detail: Some(reason),
        }),
        None => effects.push(Effect::Send(acknowledgement(
            policy, mail, &requester, &subject, number, lang, now_ms,
        ))),
    }
    effects
}

/// Why we must not auto-reply, if we must not.
fn why_no_acknowledgement(mail: &Inbound) -> Option<String> {
    if mail.auto.is_automatic() {
        return Some(auto_detail(mail));
    }
    if mail.auto.suppress_auto_reply {
        return Some("sender asked for no automatic replies (X-Auto-Response-Suppress)".into());
    }
    if mail.from.is_none() && mail.reply_to.is_none() {
        return Some("no sender address".into());
    }
    None
}

fn auto_detail(mail: &Inbound) -> String {
    let reasons: Vec<String> = mail.auto.reasons.iter().map(|r| r.to_string()).collect();
    format!("automatic mail: {}", reasons.join(", "))
}

fn display_subject(policy: &Policy, mail: &Inbound) -> String {
    let s = policy
        .tag
        .strip_tags(crate::subject::strip_reply_prefixes(&mail.subject));
    if s.trim().is_empty() {
        match language_for(policy, mail) {
            Lang::En => "(no subject)".into(),
            Lang::ZhCn => "（无主题）".into(),
        }
    } else {
        s
    }
}

/// The requester's language: the mailbox's, or Chinese when they write Chinese.
pub fn language_for(policy: &Policy, mail: &Inbound) -> Lang {
    if policy.detect_language && mail.looks_chinese() {
        Lang::ZhCn
    } else {
        policy.lang
    }
}

/// A short summary of the request for the acknowledgement: the first lines.
fn summary(text: &str) -> String {
    const MAX_LINES: usize = 12;
    const MAX_CHARS: usize = 800;
    let mut out = String::new();
    for line in text.lines().map(str::trim_end).take(MAX_LINES) {
        if out.chars().count() + line.chars().count() > MAX_CHARS {
            out.push_str("…\n");
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_string()
}

fn acknowledgement(
    policy: &Policy,
    mail: &Inbound,
    requester: &Mailbox,
    subject: &str,
    number: i64,
    lang: Lang,
    now_ms: i64,
) -> OutMail {
    let reply_by_ms = now_ms.saturating_add(policy.first_response.as_millis() as i64);
    let mut references: Vec<String> = mail.references.clone();
    references.push(mail.message_id.clone());
    let skip = references.len().saturating_sub(MAX_REFERENCES);
    references.drain(..skip);
    let attachments: Vec<&str> = mail.attachments.iter().map(|a| a.name.as_str()).collect();
    OutMail {
        ticket: number,
        template: "ack",
        lang,
        to: vec![requester.clone()],
        subject: policy.tag.tagged_subject(number, subject),
        in_reply_to: Some(mail.message_id.clone()),
        references,
        auto_submitted: Some("auto-replied"),
        vars: json!({
            "desk_name": policy.desk_name,
            "requester_name": requester.greeting_name(),
            "ticket": number,
            "tag": policy.tag.tag(number),
            "subject": subject,
            "summary": summary(&mail.text),
            "attachments": attachments,
            "reply_by": when::human_time(reply_by_ms, &policy.time_zone, &policy.time_zone_name, lang),
            "reply_by_ms": reply_by_ms,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::{AutoReason, parse};

    fn policy() -> Policy {
        Policy {
            desk_name: "IT Desk".into(),
            desk_address: Mailbox::new(Some("IT Desk"), "helpdesk@example.test"),
            id_domain: "example.test".into(),
            tag: TagFormat::default(),
            lang: Lang::En,
            detect_language: true,
            first_response: Duration::from_secs(4 * 3600),
            time_zone: TimeZone::UTC,
            time_zone_name: "UTC".into(),
        }
    }

    fn mail(headers: &str, body: &str) -> Inbound {
        parse(format!("{headers}\r\n\r\n{body}").as_bytes()).unwrap()
    }

    const REQ: &str = "From: Ann <ann@corp.test>\r\nTo: helpdesk@example.test\r\nSubject: Printer broken\r\nMessage-ID: <m1@corp.test>";
    const NOW: i64 = 1_796_004_000_000;

    #[test]
    fn new_request_makes_ticket_and_acknowledgement() {
        let fx = decide(&policy(), &mail(REQ, "It prints nothing."), None, 42, NOW);
        assert!(
            matches!(&fx[0], Effect::CreateTicket(t) if t.number == 42 && t.requester.address == "ann@corp.test" && t.subject == "Printer broken")
        );
        assert!(matches!(
            &fx[1],
            Effect::Attach {
                ticket: 42,
                kind: MessageKind::Request
            }
        ));
        let Some(Effect::Send(ack)) = fx.last() else {
            panic!("expected an acknowledgement: {fx:?}")
        };
        assert_eq!(ack.subject, "[#42] Printer broken");
        assert_eq!(ack.in_reply_to.as_deref(), Some("m1@corp.test"));
        assert_eq!(ack.references, vec!["m1@corp.test"]);
        assert_eq!(ack.to[0].address, "ann@corp.test");
        assert_eq!(ack.auto_submitted, Some("auto-replied"));
        assert_eq!(ack.vars["reply_by"], "Monday 30 November 2026, 06:00 (UTC)");
        assert_eq!(ack.lang, Lang::En);
    }

    #[test]
    fn reply_to_ticket_is_attached_without_acknowledgement() {
        let t = TicketState {
            number: 7,
            status: Status::New,
            requester: "ann@corp.test".into(),
            subject: "Printer".into(),
            lang: Lang::En,
        };
        let fx = decide(&policy(), &mail(REQ, "more"), Some(&Link::Tag(t)), 99, NOW);
        assert!(matches!(
            fx[0],
            Effect::Attach {
                ticket: 7,
                kind: MessageKind::Reply
            }
        ));
        assert!(
            !fx.iter()
                .any(|e| matches!(e, Effect::Send(_) | Effect::CreateTicket(_)))
        );
    }

    #[test]
    fn automatic_mail_opens_ticket_without_acknowledgement() {
        let mut m = mail(REQ, "I am away.");
        m.auto
            .reasons
            .push(AutoReason::AutoSubmitted("auto-replied".into()));
        let fx = decide(&policy(), &m, None, 1, NOW);
        assert!(matches!(fx[0], Effect::CreateTicket(_)));
        assert!(!fx.iter().any(|e| matches!(e, Effect::Send(_))));
        assert!(fx.iter().any(|e| matches!(
            e,
            Effect::Event {
                kind: "no-acknowledgement",
                ..
            }
        )));
    }

    #[test]
    fn suppressed_auto_reply_is_respected() {
        let mut m = mail(REQ, "hello");
        m.auto.suppress_auto_reply = true;
        let fx = decide(&policy(), &m, None, 1, NOW);
        assert!(!fx.iter().any(|e| matches!(e, Effect::Send(_))));
    }

    #[test]
    fn our_own_mail_is_ignored() {
        let mut m = mail(REQ, "x");
        m.loop_markers.push("example.test".into());
        assert!(matches!(
            decide(&policy(), &m, None, 1, NOW)[0],
            Effect::Ignore { .. }
        ));
        let mut m = mail(REQ, "x");
        m.message_id = "pd.7.1.2.3@example.test".into();
        assert!(matches!(
            decide(&policy(), &m, None, 1, NOW)[0],
            Effect::Ignore { .. }
        ));
    }

    #[test]
    fn chinese_mail_gets_chinese_acknowledgement() {
        let m = mail(
            "From: li@corp.cn\r\nSubject: =?UTF-8?B?5omT5Y2w5py65Z2P5LqG?=\r\nMessage-ID: <z@corp.cn>\r\nContent-Type: text/plain; charset=utf-8",
            "您好，三楼的打印机无法打印。",
        );
        let fx = decide(&policy(), &m, None, 5, NOW);
        let Some(Effect::Send(ack)) = fx.last() else {
            panic!("{fx:?}")
        };
        assert_eq!(ack.lang, Lang::ZhCn);
        assert_eq!(ack.subject, "[#5] 打印机坏了");
        assert_eq!(ack.vars["reply_by"], "2026年11月30日（星期一）06:00（UTC）");
    }

    #[test]
    fn reply_prefixes_do_not_end_up_in_ticket_subject() {
        let m = mail(
            "From: a@b.test\r\nSubject: Re: Fwd: VPN down\r\nMessage-ID: <q@b>",
            "x",
        );
        let fx = decide(&policy(), &m, None, 5, NOW);
        assert!(matches!(&fx[0], Effect::CreateTicket(t) if t.subject == "VPN down"));
    }

    #[test]
    fn references_are_bounded() {
        let refs: String = (0..50).map(|i| format!("<r{i}@x> ")).collect();
        let m = mail(&format!("{REQ}\r\nReferences: {refs}"), "x");
        let fx = decide(&policy(), &m, None, 5, NOW);
        let Some(Effect::Send(ack)) = fx.last() else {
            panic!()
        };
        assert_eq!(ack.references.len(), MAX_REFERENCES);
        assert_eq!(ack.references.last().unwrap(), "m1@corp.test");
    }
}
