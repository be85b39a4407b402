//! Who the desk serves (the agreement's service recipients): `desk.serve`
//! lists addresses and `@domains`; empty serves everyone (the default).
//! A new request from outside the list is, by `desk.outside`:
//! - `"ticket"`: a ticket like any other;
//! - `"record"`: recorded without a ticket;
//! - `"refuse"`: recorded in a ticket that is closed at once, and answered
//!   with a polite refusal stating the scope (template `refusal`), at most
//!   once per sender per `desk.refusal-window` (24 h), and only when the
//!   trusted receiving server authenticated the sender (DKIM or SPF pass
//!   aligned with From): a refusal must never be aimed at a forged victim.
//!
//! Agents are always in scope; so are watchers on the tickets they watch
//! (their mail there is correspondence, never a new request).

pub mod settings;

use serde_json::Value;

use crate::desk::effect::{Effect, OutMail, event, set_status};
use crate::desk::lifecycle::Trigger;
use crate::desk::mails;
use crate::desk::policy::Policy;
use crate::desk::ticket::{Status, TicketState};
use crate::inbound::{Inbound, authres};

pub use settings::{Outside, REFUSED, Scope};

/// Whether this new request's sender is outside the scope and the setting
/// asks for more than a ticket. Agents are always in scope.
pub fn wants_screening(policy: &Policy, mail: &Inbound) -> bool {
    policy.scope.outside != Outside::Ticket && !in_scope(policy, mail)
}

fn in_scope(policy: &Policy, mail: &Inbound) -> bool {
    policy.scope.serves(&mail.sender_address())
        || mail
            .from
            .as_ref()
            .is_some_and(|f| policy.directory.agent_by_address(&f.address).is_some())
}

/// Screens the effects of a decision that opens a ticket for a sender
/// outside the scope. `refused_recently`: the sender got a refusal within
/// the window (looked up by the caller).
pub(crate) fn screen_new_ticket(
    policy: &Policy,
    mail: &Inbound,
    refused_recently: bool,
    mut effects: Vec<Effect>,
) -> Vec<Effect> {
    let scope = &policy.scope;
    let spam = effects.iter().any(
        |e| matches!(e, Effect::Update { new: Some(n), .. } if n.as_str() == Status::Spam.as_str()),
    );
    if spam || !wants_screening(policy, mail) {
        return effects;
    }
    let sender = mail.sender_address();
    if scope.outside == Outside::Record {
        return vec![Effect::Ignore {
            reason: format!(
                "{sender} is outside the desk's scope (desk.serve); recorded only (desk.outside)"
            ),
        }];
    }
    let Some(t) = effects.iter().find_map(|e| match e {
        Effect::CreateTicket(t) => Some(t.clone()),
        _ => None,
    }) else {
        return effects;
    };
    effects.retain(|e| !matches!(e, Effect::Send(_) | Effect::Kb(_)));
    let mut work = TicketState {
        number: t.number,
        status: Some(Status::New),
        requester: t.requester.address.clone(),
        requester_name: t.requester.name.clone(),
        subject: t.subject.clone(),
        lang: t.lang,
        thread: vec![mail.message_id.clone()],
        ..TicketState::default()
    };
    set_status(
        &mut work,
        Trigger::AgentSets(Status::Closed),
        "postdesk",
        Some(format!("{sender} is outside the desk's scope (desk.serve)")),
        &mut effects,
    )
    .ok();
    let why_not = if refused_recently {
        Some(format!(
            "{sender} was refused within desk.refusal-window already"
        ))
    } else {
        authenticated(policy, mail).err()
    };
    match why_not {
        Some(why) => effects.push(event(
            t.number,
            "postdesk",
            "no-acknowledgement",
            Some(format!("outside the scope, no refusal sent: {why}")),
        )),
        None => {
            effects.push(Effect::Event {
                ticket: t.number,
                actor: "postdesk".into(),
                kind: REFUSED,
                old: None,
                new: Some(sender.clone()),
                detail: Some("outside the desk's scope: refusal sent".into()),
            });
            effects.push(Effect::Send(refusal(policy, &work)));
        }
    }
    effects
}

/// Ok when the trusted receiving server shows a DKIM or SPF pass aligned
/// with the From domain.
fn authenticated(policy: &Policy, mail: &Inbound) -> Result<(), String> {
    let from = mail
        .from
        .as_ref()
        .map(|f| f.address.as_str())
        .ok_or("the mail has no From")?;
    let domain = from.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    let ok = authres::trusted_results(&mail.auth_results, &policy.trusted_authserv_ids)
        .iter()
        .flat_map(|r| r.results.iter())
        .any(|r| authres::passes_for(r, domain));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "no trusted Authentication-Results shows DKIM or SPF pass for {domain}, so the sender may be forged"
        ))
    }
}

fn refusal(policy: &Policy, t: &TicketState) -> OutMail {
    let mut vars = mails::base_vars(policy, t);
    vars.insert(
        "serve".into(),
        Value::Array(
            policy
                .scope
                .serve
                .iter()
                .cloned()
                .map(Value::from)
                .collect(),
        ),
    );
    OutMail {
        ticket: t.number,
        template: "refusal",
        lang: t.lang,
        from_name: None,
        to: vec![t.requester_mailbox()],
        subject: policy.tag.tagged_subject(t.number, &t.subject),
        in_reply_to: t.thread.first().cloned(),
        references: t.thread.clone(),
        auto_submitted: Some("auto-replied"),
        vars: Value::Object(vars),
    }
}
