//! Who the desk serves (the agreement's service recipients): `desk.serve`
//! lists addresses and `@domains`; empty serves everyone (the default).
//! A new request from outside the list is, by `desk.outside`:
//! - `"ticket"`: a ticket like any other;
//! - `"record"`: recorded without a ticket;
//! - `"refuse"`: recorded without a ticket, and answered with a polite
//!   refusal stating the scope (template `refusal`, about no ticket), at
//!   most once per sender per `desk.refusal-window` (24 h), and only when
//!   the trusted receiving server authenticated the sender (DKIM or SPF pass
//!   aligned with From): a refusal must never be aimed at a forged victim,
//!   so it goes to the From address that was authenticated, never to a
//!   Reply-To.
//!
//! Agents are always in scope, and so is anyone an agent made a watcher of
//! a ticket (`#cc`): the agent vouched for them, so their new requests are
//! tickets too. (People a requester put in Cc are watchers of that ticket,
//! where their mail is correspondence, but vouch for nobody.)

pub mod settings;

use serde_json::Value;

use crate::address::Mailbox;

use crate::desk::effect::Effect;
use crate::desk::policy::Policy;
use crate::desk::ticket::{NewTicket, Status};
use crate::inbound::{Inbound, authres};

pub use settings::{Outside, Scope};

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

/// What the caller looked up about a sender outside the scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    /// They got a refusal within `desk.refusal-window`.
    pub refused_recently: bool,
    /// An agent made them a watcher of some ticket: in scope.
    pub vouched: bool,
}

/// Screens the effects of a decision that opens a ticket for a sender
/// outside the scope.
pub(crate) fn screen_new_ticket(
    policy: &Policy,
    mail: &Inbound,
    standing: Standing,
    effects: Vec<Effect>,
) -> Vec<Effect> {
    let scope = &policy.scope;
    let spam = effects.iter().any(
        |e| matches!(e, Effect::Update { new: Some(n), .. } if n.as_str() == Status::Spam.as_str()),
    );
    if spam || standing.vouched || !wants_screening(policy, mail) {
        return effects;
    }
    let sender = mail.sender_address();
    let outside = format!("{sender} is outside the desk's scope (desk.serve)");
    if scope.outside == Outside::Record {
        return vec![Effect::Ignore {
            reason: format!("{outside}; recorded only (desk.outside)"),
        }];
    }
    let Some(t) = effects.iter().find_map(|e| match e {
        Effect::CreateTicket(t) => Some(t),
        _ => None,
    }) else {
        return effects;
    };
    let why_not = if standing.refused_recently {
        Err(format!(
            "{sender} was refused within desk.refusal-window already"
        ))
    } else {
        authenticated(policy, mail)
    };
    match why_not {
        Err(why) => vec![Effect::Ignore {
            reason: format!("{outside}; recorded, no refusal sent: {why}"),
        }],
        Ok(from) => vec![
            Effect::Ignore {
                reason: format!("{outside}; recorded, and a refusal sent"),
            },
            refusal(policy, mail, t, from),
        ],
    }
}

/// The From mailbox when the trusted receiving server shows a DKIM or SPF
/// pass aligned with its domain.
fn authenticated<'m>(policy: &Policy, mail: &'m Inbound) -> Result<&'m Mailbox, String> {
    let from = mail.from.as_ref().ok_or("the mail has no From")?;
    let domain = from.address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    let ok = authres::trusted_results(&mail.auth_results, &policy.trusted_authserv_ids)
        .iter()
        .flat_map(|r| r.results.iter())
        .any(|r| authres::passes_for(r, domain));
    if ok {
        Ok(from)
    } else {
        Err(format!(
            "no trusted Authentication-Results shows DKIM or SPF pass for {domain}, so the sender may be forged"
        ))
    }
}

/// The refusal, in the language the ticket would have had, answering the
/// mail (no ticket tag: there is no ticket).
fn refusal(policy: &Policy, mail: &Inbound, t: &NewTicket, from: &Mailbox) -> Effect {
    let subject = crate::subject::repeated(&t.subject).into_owned();
    let mut vars = serde_json::Map::new();
    vars.insert("desk_name".into(), policy.desk_name.clone().into());
    vars.insert(
        "desk_address".into(),
        policy.desk_address.address.clone().into(),
    );
    vars.insert("subject".into(), subject.clone().into());
    vars.insert("requester".into(), from.to_string().into());
    vars.insert(
        "requester_name".into(),
        from.greeting_name().to_string().into(),
    );
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
    let mut references = mail.references.clone();
    references.push(mail.message_id.clone());
    Effect::Refuse {
        sender: from.address.clone(),
        to: from.clone(),
        lang: t.lang,
        subject: format!("Re: {subject}"),
        in_reply_to: Some(mail.message_id.clone()),
        references,
        vars: Value::Object(vars),
    }
}
