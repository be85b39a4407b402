//! What the desk does not do (the agreement's service exclusions,
//! 服务排除项): `[[exclusion]]` rules of keywords and regular expressions,
//! each with the clause of the agreement in English and Chinese. A new
//! request that matches gets a reply quoting the clause (template
//! `excluded`) instead of the acknowledgement, and its ticket is resolved
//! as out of scope at once (an agent's `#reopen` takes it on after all);
//! the review counts these on a line of their own. The team is told as for
//! any request, so a wrong match is seen.

pub mod rules;

use serde_json::Value;

use crate::desk::effect::{Effect, OutMail, set_status};
use crate::desk::lifecycle::Trigger;
use crate::desk::mails;
use crate::desk::policy::Policy;
use crate::desk::ticket::{Status, TicketState};
use crate::inbound::Inbound;
use crate::lang::Lang;

pub use rules::{ExclusionConfig, Exclusions};

/// The event that marks a ticket resolved as out of scope.
pub const OUT_OF_SCOPE: &str = "out-of-scope";

/// Screens the effects of a decision that opens a ticket: a request an
/// exclusion matches is answered with its clause and resolved.
pub(crate) fn screen_new_ticket(
    policy: &Policy,
    mail: &Inbound,
    mut effects: Vec<Effect>,
) -> Vec<Effect> {
    if policy.exclusions.is_empty() {
        return effects;
    }
    let Some(t) = effects.iter().find_map(|e| match e {
        Effect::CreateTicket(t) => Some(t.clone()),
        _ => None,
    }) else {
        return effects;
    };
    // Only a request that is still to be acknowledged (not spam, not refused).
    let pos = effects
        .iter()
        .position(|e| matches!(e, Effect::Send(m) if m.template == "ack"));
    let Some(pos) = pos else {
        return effects;
    };
    let Some((rule, by)) = policy.exclusions.matching(&mail.subject, &mail.text) else {
        return effects;
    };
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
    let clause = match t.lang {
        Lang::ZhCn => rule
            .clause_zh
            .clone()
            .unwrap_or_else(|| rule.clause_en.clone()),
        Lang::En => rule.clause_en.clone(),
    };
    effects.remove(pos);
    effects.push(Effect::Event {
        ticket: t.number,
        actor: "postdesk".into(),
        kind: OUT_OF_SCOPE,
        old: None,
        new: Some(rule.name.clone()),
        detail: Some(format!("exclusion \"{}\" matched \"{by}\"", rule.name)),
    });
    set_status(
        &mut work,
        Trigger::AgentSets(Status::Resolved),
        "postdesk",
        Some(format!("out of scope: exclusion \"{}\"", rule.name)),
        &mut effects,
    )
    .ok();
    effects.push(Effect::Send(excluded(policy, &work, &rule.name, &clause)));
    effects
}

fn excluded(policy: &Policy, t: &TicketState, rule: &str, clause: &str) -> OutMail {
    let mut vars = mails::base_vars(policy, t);
    vars.insert("rule".into(), rule.into());
    vars.insert("clause".into(), clause.into());
    OutMail {
        ticket: t.number,
        template: "excluded",
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
