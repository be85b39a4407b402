//! Merge and split: `#merge 1042` (`#合并 1042`) puts this ticket into
//! 1042; `#split` (`#拆分`) makes the mail an agent's reply answers, and
//! everything after it, a ticket of its own.
//!
//! A merge moves the ticket's messages (so their Message-IDs, ours and the
//! requester's, now thread to the target), its attachments (they hang on
//! the messages) and its watchers; the old number becomes an alias, so mail
//! tagged `[#1041]` lands on 1042; the requester of the merged ticket
//! becomes a watcher of the target, or their next mail would be a
//! stranger's; both requesters are told once (one mail when they are the
//! same person); the merged ticket is closed as merged, without a survey.
//! Merging tickets of different requesters shows each one the other's
//! conversation, so it needs `#merge 1042 force`.
//!
//! Pure: the pipeline looks up what [`wanted`] names (the target, through
//! aliases; the mail to split off) and passes it in as [`Related`].

use serde_json::{Value, json};

use crate::address::Mailbox;
use crate::desk::commands::{self, Command};
use crate::desk::effect::{Effect, OutMail, event, set_status};
use crate::desk::lifecycle::Trigger;
use crate::desk::mails;
use crate::desk::people::Agent;
use crate::desk::policy::Policy;
use crate::desk::ticket::{NewTicket, TicketState};
use crate::thread::MAX_REFERENCES;

/// What the store must look up before an agent's mail is decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Tickets named by `#merge`.
    pub tickets: Vec<i64>,
    /// A `#split` is among the commands.
    pub split: bool,
    /// An `#approval` is: the request's text is wanted.
    pub request: bool,
}

/// The mail a `#split` takes off, as the store found it: the first message
/// row to move and the last one (rows after it are this very mail's).
#[derive(Debug, Clone, PartialEq)]
pub struct SplitSource {
    pub first_row: i64,
    pub last_row: i64,
    pub sender: Mailbox,
    pub subject: String,
    pub message_id: String,
}

/// What [`wanted`] asked for, looked up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Related {
    /// The tickets `#merge` names, each under the number the agent wrote
    /// (the ticket itself may be the alias's target).
    pub tickets: Vec<(i64, TicketState)>,
    pub split: Option<SplitSource>,
    /// The number a ticket split off would get.
    pub next_number: i64,
    /// For `#approval`: what the ticket's requester wrote (the approver
    /// reads it), at most [`crate::desk::approval::REQUEST_SHOWN`] characters.
    pub request_text: Option<String>,
}

impl Related {
    fn ticket(&self, written: i64) -> Option<&TicketState> {
        self.tickets
            .iter()
            .find(|(n, _)| *n == written)
            .map(|(_, t)| t)
    }
}

/// The lookups an agent's new text asks for.
pub fn wanted(new_text: &str) -> Wanted {
    let mut w = Wanted::default();
    for p in commands::parse_block(new_text).commands {
        match p.command {
            Command::Merge { into, .. } => w.tickets.push(into),
            Command::Split => w.split = true,
            Command::Approval { .. } => w.request = true,
            _ => {}
        }
    }
    w
}

/// Puts a merge after everything else the mail does, so that what is
/// written about the merged ticket in the same mail (the agent's words to
/// its requester, their notices) moves with its messages.
pub(crate) fn move_last(effects: &mut [Effect]) {
    effects.sort_by_key(|e| matches!(e, Effect::Merge { .. }));
}

/// Merges the working copy `t` into the ticket `written` names. Returns
/// what it did, or why not.
pub(crate) fn merge(
    policy: &Policy,
    t: &mut TicketState,
    agent: &Agent,
    related: &Related,
    written: i64,
    force: bool,
    effects: &mut Vec<Effect>,
) -> Result<String, String> {
    let into = related
        .ticket(written)
        .ok_or_else(|| format!("there is no ticket #{written}"))?;
    if into.number == t.number {
        return Err(if written == t.number {
            "a ticket cannot be merged into itself".into()
        } else {
            format!("#{written} was merged into this ticket already")
        });
    }
    if !into.status().is_active() {
        return Err(format!(
            "ticket #{} is {}; reopen it before merging into it",
            into.number,
            into.status()
        ));
    }
    if into.requester != t.requester && !force {
        return Err(format!(
            "ticket #{} has another requester ({}); both would see each other's mail: write `#merge {written} force` to merge anyway",
            into.number, into.requester
        ));
    }
    let actor = agent.name.as_str();
    effects.push(Effect::Merge {
        from: t.number,
        into: into.number,
        actor: actor.to_string(),
    });
    let mut watchers: Vec<String> = t.watchers.clone();
    if into.requester != t.requester {
        watchers.push(t.requester.clone());
    }
    for w in watchers {
        if w != into.requester && !into.watchers.contains(&w) {
            effects.push(Effect::Watch {
                ticket: into.number,
                address: w,
                add: true,
                actor: actor.to_string(),
            });
        }
    }
    set_status(
        t,
        Trigger::Merged,
        actor,
        Some(format!("merged into #{}", into.number)),
        effects,
    )?;
    effects.push(event(
        t.number,
        actor,
        "merged",
        Some(format!("merged into #{}", into.number)),
    ));
    effects.push(event(
        into.number,
        actor,
        "merged-in",
        Some(format!(
            "#{} ({}, from {}) merged into this ticket",
            t.number, t.subject, t.requester
        )),
    ));
    effects.extend(told(policy, t, into).into_iter().map(Effect::Send));
    Ok(format!("merged into #{}", into.number))
}

/// The "merged" mails: one to each requester, one in all when they are the same.
fn told(policy: &Policy, from: &TicketState, into: &TicketState) -> Vec<OutMail> {
    let mut vars = mails::base_vars(policy, into);
    vars.insert("merged_tag".into(), policy.tag.tag(from.number).into());
    vars.insert(
        "merged_subject".into(),
        crate::subject::repeated(&from.subject).into_owned().into(),
    );
    let subject = policy.tag.tagged_subject(into.number, &into.subject);
    let mail = |t: &TicketState| {
        let mut v = vars.clone();
        v.insert(
            "requester_name".into(),
            t.requester_mailbox().greeting_name().to_string().into(),
        );
        let skip = t.thread.len().saturating_sub(MAX_REFERENCES);
        let references = t.thread[skip..].to_vec();
        OutMail {
            ticket: into.number,
            template: "merged",
            lang: t.lang,
            from_name: None,
            to: vec![t.requester_mailbox()],
            subject: subject.clone(),
            in_reply_to: references.last().cloned(),
            references,
            auto_submitted: Some("auto-generated"),
            vars: Value::Object(v),
        }
    };
    let mut out = vec![mail(from)];
    if into.requester != from.requester {
        out.push(mail(into));
    }
    out
}

/// Splits the mail the agent's reply answers, and what followed it, off
/// `t` into a ticket of its own for that mail's sender.
pub(crate) fn split(
    policy: &Policy,
    t: &TicketState,
    agent: &Agent,
    related: &Related,
    now_ms: i64,
    effects: &mut Vec<Effect>,
) -> Result<String, String> {
    let src = related.split.as_ref().ok_or_else(|| {
        "reply to the mail to split off (it must be a mail of this ticket, or the desk's notice of it)"
            .to_string()
    })?;
    if policy
        .directory
        .agent_by_address(&src.sender.address)
        .is_some()
    {
        return Err(format!(
            "the mail your reply answers is from an agent ({}); reply to the requester's mail to split it off",
            src.sender.address
        ));
    }
    let number = related.next_number;
    let actor = agent.name.as_str();
    let bare = policy
        .tag
        .strip_tags(crate::subject::strip_reply_prefixes(&src.subject));
    let subject = if bare.trim().is_empty() {
        t.subject.clone()
    } else {
        crate::subject::repeated(bare.trim()).into_owned()
    };
    effects.push(Effect::CreateTicket(NewTicket {
        number,
        subject: subject.clone(),
        requester: src.sender.clone(),
        lang: t.lang,
        team: t.team.clone(),
        tier: t.tier.clone(),
        linked_to: Some(t.number),
        category: t.category.clone(),
        priority: t.priority,
        reply_by: policy.first_response_due(t.priority, t.category.as_deref(), now_ms),
        rule: None,
    }));
    effects.push(Effect::Split {
        from: t.number,
        into: number,
        first_row: src.first_row,
        last_row: src.last_row,
    });
    effects.push(Effect::Event {
        ticket: number,
        actor: actor.to_string(),
        kind: "created",
        old: None,
        new: Some("new".into()),
        detail: Some(format!("split off #{} by {actor}", t.number)),
    });
    effects.push(event(
        t.number,
        actor,
        "split",
        Some(format!(
            "<{}> and the mail after it became #{number}",
            src.message_id
        )),
    ));
    let new = TicketState {
        number,
        requester: src.sender.address.clone(),
        requester_name: src.sender.name.clone(),
        subject: subject.clone(),
        lang: t.lang,
        thread: vec![src.message_id.clone()],
        ..TicketState::default()
    };
    let mut vars = mails::base_vars(policy, &new);
    vars.insert("linked_to".into(), policy.tag.tag(t.number).into());
    effects.push(Effect::Send(OutMail {
        ticket: number,
        template: "split",
        lang: t.lang,
        from_name: None,
        to: vec![src.sender.clone()],
        subject: policy.tag.tagged_subject(number, &subject),
        in_reply_to: Some(src.message_id.clone()),
        references: vec![src.message_id.clone()],
        auto_submitted: Some("auto-generated"),
        vars: json!(vars),
    }));
    Ok(format!("split off as #{number}"))
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
