//! The one composer of outgoing mail. Ticket mail (a template rendered with
//! its variables) and the review (text and HTML made by `report`) alike get
//! here their own Message-ID, the desk's From, threading headers, the
//! automatic-mail and loop markers, and their bytes, ready for the outbox.

use crate::address::Mailbox;
use crate::desk::effect::OutMail;
use crate::desk::mails::vars::Kind;
use crate::desk::policy::Policy;
use crate::outbound::{self, Envelope, OutboundError, Renderer};
use crate::store::OutboundRecord;
use crate::thread;

/// A mail to compose: who, what, and its rendered bodies.
#[derive(Debug, Clone)]
pub struct Letter<'a> {
    /// The ticket it is about; `None` for the review.
    pub ticket: Option<i64>,
    /// What it is (`ack`, `relay`, `report`…): the outbox and the timeline show it.
    pub kind: &'a str,
    /// The From display name; the address is always the desk's.
    pub from_name: Option<&'a str>,
    pub to: &'a [Mailbox],
    pub subject: &'a str,
    pub in_reply_to: Option<&'a str>,
    pub references: &'a [String],
    pub auto_submitted: Option<&'static str>,
    pub text: String,
    pub html: Option<String>,
}

/// A composed mail: its bytes and what the outbox records of it.
#[derive(Debug, Clone)]
pub struct Composed<'a> {
    pub letter: Letter<'a>,
    pub message_id: String,
    pub from: Mailbox,
    pub envelope_from: String,
    pub raw: Vec<u8>,
    pub at: i64,
}

impl Composed<'_> {
    /// What the store queues.
    pub fn record(&self) -> OutboundRecord<'_> {
        OutboundRecord {
            ticket: self.letter.ticket,
            kind: self.letter.kind,
            message_id: &self.message_id,
            in_reply_to: self.letter.in_reply_to,
            references: self.letter.references,
            from: &self.from,
            to: self.letter.to,
            subject: self.letter.subject,
            text: &self.letter.text,
            html: self.letter.html.as_deref(),
            raw: &self.raw,
            envelope_from: &self.envelope_from,
            at: self.at,
        }
    }
}

/// Gives `letter` its Message-ID (naming its ticket), From and bytes.
pub fn compose<'a>(
    policy: &Policy,
    letter: Letter<'a>,
    now_ms: i64,
) -> Result<Composed<'a>, OutboundError> {
    let message_id =
        thread::new_message_id(letter.ticket, now_ms, &policy.id_domain, &policy.id_key);
    let from = match letter.from_name {
        Some(name) => Mailbox::new(Some(name), &policy.desk_address.address),
        None => policy.desk_address.clone(),
    };
    let env = Envelope {
        from: &from,
        to: letter.to,
        subject: letter.subject,
        message_id: &message_id,
        in_reply_to: letter.in_reply_to,
        references: letter.references,
        auto_submitted: letter.auto_submitted,
        loop_marker: &policy.id_domain,
        date_ms: now_ms,
    };
    let raw = outbound::build(&env, &letter.text, letter.html.as_deref())?;
    Ok(Composed {
        letter,
        message_id,
        from,
        envelope_from: policy.desk_address.address.clone(),
        raw,
        at: now_ms,
    })
}

/// A decided mail about a ticket: its template rendered, then composed.
/// Its variables must be those [`crate::desk::mails::vars`] describes for
/// its kind (checked in debug builds, so by every test that sends mail).
pub fn ticket_mail<'a>(
    renderer: &Renderer,
    policy: &Policy,
    out: &'a OutMail,
    now_ms: i64,
) -> Result<Composed<'a>, OutboundError> {
    debug_assert!(
        Kind::find(out.template).is_none_or(|k| k.mismatch(&out.vars).is_empty()),
        "{:?}",
        Kind::find(out.template).map(|k| k.mismatch(&out.vars))
    );
    let (text, html) = renderer.render(out.template, out.lang, &out.vars)?;
    let letter = Letter {
        ticket: Some(out.ticket),
        kind: out.template,
        from_name: out.from_name.as_deref(),
        to: &out.to,
        subject: &out.subject,
        in_reply_to: out.in_reply_to.as_deref(),
        references: &out.references,
        auto_submitted: out.auto_submitted,
        text,
        html,
    };
    compose(policy, letter, now_ms)
}
