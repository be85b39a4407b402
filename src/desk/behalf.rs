//! Tickets on someone else's behalf (the phone and IM channel): a verified
//! agent's new mail to the desk that forwards a customer's mail (see
//! [`forward`]) or starts with `#new someone@corp.example.com` (`#新建`)
//! opens the ticket for that person. The request is the original's subject
//! and text (for `#new`: the mail's subject and the rest of the mail); the
//! agent's words above a forward become an internal note; the requester
//! gets the acknowledgement unless the agent wrote `#quiet` (`#静默`).
//!
//! An agent who cannot prove the mail is theirs gets what anybody gets: a
//! ticket of their own, and the attempt is recorded. A forward of a mail
//! that is already a ticket is threaded to it before this is asked (the
//! tag in the subject, or the attached original's Message-ID), and the
//! agent's decider keeps it as a note.
//!
//! [`forward`]: crate::desk::forward

use crate::address::Mailbox;
use crate::desk::commands::{self, Command};
use crate::desk::effect::{Effect, event};
use crate::desk::forward;
use crate::desk::kb::Suggestion;
use crate::desk::people::Agent;
use crate::desk::policy::Policy;
use crate::desk::{requester, verify};
use crate::inbound::Inbound;

/// Who the ticket is for and what they asked, as the agent gave it.
struct OnBehalf {
    requester: Mailbox,
    subject: String,
    text: String,
    /// The agent's own words (a forward's top), for the note.
    note: String,
    how: &'static str,
}

/// The effects for a verified agent's new mail that opens a ticket for
/// someone else, or `None` when the mail is not one (the caller then makes
/// an ordinary ticket).
pub(crate) fn new_ticket(
    policy: &Policy,
    agent: &Agent,
    mail: &Inbound,
    number: i64,
    now_ms: i64,
    suggestions: &[Suggestion],
) -> Option<Vec<Effect>> {
    let block = commands::parse_block(&mail.text);
    let new_for = block.commands.iter().find_map(|p| match &p.command {
        Command::New(a) => Some(a.clone()),
        _ => None,
    });
    let quiet = block.commands.iter().any(|p| p.command == Command::Quiet);
    let found = forward::forwarded(mail);
    if new_for.is_none() && found.is_none() {
        return None;
    }
    if let Err(why) = verify::verify_agent(policy, agent, mail, &block) {
        let mut fx = requester::new_ticket(policy, mail, number, None, now_ms, suggestions);
        fx.push(event(
            number,
            &agent.name,
            "unverified-agent-mail",
            Some(format!("{why}; not opened on anyone's behalf")),
        ));
        return Some(fx);
    }
    let behalf = match new_for {
        Some(address) => OnBehalf {
            requester: Mailbox::new(None, &address),
            subject: mail.subject.clone(),
            text: block.rest.clone(),
            note: String::new(),
            how: "#new",
        },
        None => {
            let f = found?;
            // The forwarder's words may carry commands (#quiet); they are
            // not part of the note.
            let note = commands::parse_block(&f.above).rest;
            OnBehalf {
                requester: f.from,
                subject: if f.subject.trim().is_empty() {
                    crate::subject::strip_reply_prefixes(&mail.subject).to_string()
                } else {
                    f.subject
                },
                text: f.text,
                note,
                how: "forward",
            }
        }
    };
    // Our own mail forwarded back (an acknowledgement, a notice) names the
    // desk as its sender: a ticket for the desk would answer itself.
    let ours = behalf.requester.address == policy.desk_address.address;
    if let Err(why) = behalf.requester.usable().and_then(|()| {
        if ours {
            Err("the desk's own address".to_string())
        } else {
            Ok(())
        }
    }) {
        let mut fx = requester::new_ticket(policy, mail, number, None, now_ms, suggestions);
        fx.push(event(
            number,
            &agent.name,
            "commands-refused",
            Some(format!("{}: no mail can go to {why}", behalf.how)),
        ));
        return Some(fx);
    }
    Some(open(
        policy,
        agent,
        mail,
        behalf,
        quiet,
        number,
        now_ms,
        suggestions,
    ))
}

#[allow(clippy::too_many_arguments)]
fn open(
    policy: &Policy,
    agent: &Agent,
    mail: &Inbound,
    b: OnBehalf,
    quiet: bool,
    number: i64,
    now_ms: i64,
    suggestions: &[Suggestion],
) -> Vec<Effect> {
    // The request as the customer would have written it: their address,
    // subject and words; nobody else on it (the agent's To and Cc are the
    // agent's colleagues, not the customer's).
    let mut request = mail.clone();
    request.from = Some(b.requester.clone());
    request.from_count = 1;
    request.reply_to = None;
    request.to = vec![policy.desk_address.clone()];
    request.cc = Vec::new();
    request.subject = b.subject;
    request.text = b.text;
    request.html = None;
    let mut fx = requester::new_ticket(policy, &request, number, None, now_ms, suggestions);
    // The timeline says who really wrote to us.
    for e in &mut fx {
        if let Effect::Event {
            kind: "created",
            actor,
            detail,
            ..
        } = e
        {
            *actor = agent.name.clone();
            *detail = Some(format!(
                "opened by {} on behalf of {} ({})",
                agent.name, b.requester.address, b.how
            ));
        }
    }
    if quiet {
        let before = fx.len();
        fx.retain(|e| !matches!(e, Effect::Send(m) if m.template == "ack"));
        if fx.len() != before {
            fx.push(event(
                number,
                &agent.name,
                "no-acknowledgement",
                Some("#quiet: the agent asked for none".into()),
            ));
        }
    }
    if !b.note.trim().is_empty() {
        fx.push(event(
            number,
            &agent.name,
            "note",
            Some(b.note.trim().to_string()),
        ));
    }
    fx
}
