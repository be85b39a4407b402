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
    /// Who it goes to: the letter's recipients but those it cannot go to.
    pub to: Vec<Mailbox>,
    /// The letter's recipients it cannot go to, each with why.
    pub dropped: Vec<(Mailbox, String)>,
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
            to: &self.to,
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
///
/// A recipient no mail can go to is left out (see [`Composed::dropped`]),
/// so that one broken address, however it got in, never stops the mail to
/// the others: checked with [`crate::address::usable`], and should the
/// message builder still refuse the set, each recipient alone. It is an
/// error only when nobody is left.
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
    let build = |to: &[Mailbox]| {
        let env = Envelope {
            from: &from,
            to,
            subject: letter.subject,
            message_id: &message_id,
            in_reply_to: letter.in_reply_to,
            references: letter.references,
            auto_submitted: letter.auto_submitted,
            loop_marker: &policy.id_domain,
            date_ms: now_ms,
        };
        outbound::build(&env, &letter.text, letter.html.as_deref())
    };
    let mut to = Vec::new();
    let mut dropped = Vec::new();
    for m in letter.to {
        match m.usable() {
            Ok(()) => to.push(m.clone()),
            Err(why) => dropped.push((m.clone(), why)),
        }
    }
    if to.is_empty() {
        return Err(no_recipient(&dropped));
    }
    let raw = match build(&to) {
        Ok(raw) => raw,
        Err(e) if to.len() > 1 => {
            // Find who the builder refuses, keep the others.
            let (fine, refused): (Vec<Mailbox>, Vec<Mailbox>) = to
                .into_iter()
                .partition(|m| build(std::slice::from_ref(m)).is_ok());
            if fine.is_empty() || refused.is_empty() {
                return Err(e);
            }
            for m in refused {
                let why = format!("`{}`: the message builder refuses it", m.address);
                dropped.push((m, why));
            }
            to = fine;
            build(&to)?
        }
        Err(e) => return Err(e),
    };
    Ok(Composed {
        letter,
        to,
        dropped,
        message_id,
        from,
        envelope_from: policy.desk_address.address.clone(),
        raw,
        at: now_ms,
    })
}

fn no_recipient(dropped: &[(Mailbox, String)]) -> OutboundError {
    if dropped.is_empty() {
        return OutboundError::NoRecipient("it has none".into());
    }
    let why: Vec<&str> = dropped.iter().map(|(_, w)| w.as_str()).collect();
    OutboundError::NoRecipient(why.join("; "))
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
    let with_canned = with_canned_reply(renderer, out)?;
    let vars = with_canned.as_ref().unwrap_or(&out.vars);
    let letter = Letter {
        ticket: Some(out.ticket),
        kind: out.template,
        from_name: out.from_name.as_deref(),
        to: &out.to,
        subject: &out.subject,
        in_reply_to: out.in_reply_to.as_deref(),
        references: &out.references,
        auto_submitted: out.auto_submitted,
        text: String::new(),
        html: None,
    };
    templated(renderer, policy, letter, out.lang, vars, now_ms)
}

/// `letter` with its text and HTML rendered from the template named by its
/// kind (and the desk's signature), composed: ticket mail, and the mail
/// about no ticket that still has a template (a refusal).
pub fn templated<'a>(
    renderer: &Renderer,
    policy: &Policy,
    mut letter: Letter<'a>,
    lang: crate::lang::Lang,
    vars: &serde_json::Value,
    now_ms: i64,
) -> Result<Composed<'a>, OutboundError> {
    debug_assert!(
        Kind::find(letter.kind).is_none_or(|k| k.mismatch(vars).is_empty()),
        "{:?}",
        Kind::find(letter.kind).map(|k| k.mismatch(vars))
    );
    let (mut text, mut html) = renderer.render(letter.kind, lang, vars)?;
    if let Some(sig) = policy.signature.as_deref().filter(|s| !s.trim().is_empty()) {
        sign(&mut text, html.as_mut(), sig);
    }
    letter.text = text;
    letter.html = html;
    compose(policy, letter, now_ms)
}

/// An answer with `#reply NAME`: the canned reply rendered with the mail's
/// variables and put after the agent's own words in `text`, so every
/// template (and an admin's own) shows it where the words go. `None` when
/// the mail has no canned reply.
fn with_canned_reply(
    renderer: &Renderer,
    out: &OutMail,
) -> Result<Option<serde_json::Value>, OutboundError> {
    let Some(name) = out.vars.get("canned").and_then(|v| v.as_str()) else {
        return Ok(None);
    };
    let canned = renderer.render_canned(name, out.lang, &out.vars)?;
    let mut vars = out.vars.clone();
    let own = vars
        .get("text")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .trim();
    let text = if own.is_empty() {
        canned.trim().to_string()
    } else {
        format!("{own}\n\n{}", canned.trim())
    };
    vars["text"] = text.into();
    Ok(Some(vars))
}

/// Adds the mailbox's signature below the bodies, after the usual "-- "
/// line (RFC 3676 §4.3), so mail clients know where it starts.
fn sign(text: &mut String, html: Option<&mut String>, signature: &str) {
    let sig = signature.trim_end();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("\n-- \n");
    text.push_str(sig);
    text.push('\n');
    if let Some(h) = html {
        let escaped = sig
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('\n', "<br>\n");
        let block = format!("<p class=\"signature\">-- <br>\n{escaped}</p>\n");
        match h.rfind("</body>") {
            Some(i) => h.insert_str(i, &block),
            None => h.push_str(&block),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn policy() -> Policy {
        let cfg = Config::from_toml(
            "[desk]\naddress = \"helpdesk@example.test\"\n",
            std::path::Path::new("t.toml"),
            std::path::Path::new("."),
        )
        .unwrap();
        crate::pipeline::policy_from_config(&cfg, thread::IdKey::fixed(1)).unwrap()
    }

    fn letter(to: &[Mailbox]) -> Letter<'_> {
        Letter {
            ticket: Some(7),
            kind: "reply",
            from_name: None,
            to,
            subject: "[#7] Printer",
            in_reply_to: None,
            references: &[],
            auto_submitted: None,
            text: "Restart it.".into(),
            html: None,
        }
    }

    /// Whatever `address::usable` lets through, the message builder takes:
    /// else a watcher it passed could still stop every answer.
    #[test]
    fn the_address_check_is_no_looser_than_the_builder() {
        let p = policy();
        for a in [
            "ann@example.com",
            "li.wei+tag@example.cn",
            "o'brien@corp.test",
            "a!#$%&'*+-/=?^_`{|}~z@x.test",
            "bob@localhost",
            "李伟@例子.中国",
            "x@xn--fiqs8s.test",
            "x y@corp.test",
            "\"x y\"@corp.test",
            "\"xy\"@corp.test",
            "@corp.test",
            "john@corp.test.",
            "jo..hn@corp.test",
            "john@[10.0.0.1]",
            "jo\u{85}hn@corp.test",
            "jo\rhn@corp.test",
            "john@my_host.test",
            "john@-corp.test",
            "a@b@corp.test",
        ] {
            let to = [Mailbox::new(None, a)];
            let built = compose(&p, letter(&to), 0);
            if crate::address::usable(a).is_ok() {
                assert!(built.is_ok(), "{a} passes the check but not the builder");
            } else {
                assert!(built.is_err(), "{a}");
            }
        }
    }

    #[test]
    fn an_unusable_recipient_is_left_out_not_the_mail() {
        let to = [
            Mailbox::new(Some("Ann"), "ann@corp.test"),
            Mailbox::new(None, "\"x y\"@corp.test"),
            Mailbox::new(None, "john@corp.test."),
            Mailbox::new(None, "boss@corp.test"),
        ];
        let c = compose(&policy(), letter(&to), 0).unwrap();
        let kept: Vec<&str> = c.to.iter().map(|m| m.address.as_str()).collect();
        assert_eq!(kept, ["ann@corp.test", "boss@corp.test"]);
        let left: Vec<&str> = c.dropped.iter().map(|(m, _)| m.address.as_str()).collect();
        assert_eq!(left, ["\"x y\"@corp.test", "john@corp.test."]);
        assert_eq!(c.record().to.len(), 2, "the outbox sends to the kept ones");
        let parsed = crate::inbound::parse(&c.raw).unwrap();
        let heads: Vec<&str> = parsed.to.iter().map(|m| m.address.as_str()).collect();
        assert_eq!(heads, ["ann@corp.test", "boss@corp.test"]);

        let nobody = [Mailbox::new(None, "john@corp.test.")];
        let err = compose(&policy(), letter(&nobody), 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("john@corp.test."), "{err}");
    }
}
