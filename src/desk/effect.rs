//! The core's output: what to do, in order. `decide` returns these; the
//! pipeline's apply step carries them out in one transaction and never
//! decides anything itself.

use crate::address::Mailbox;
use crate::desk::lifecycle::{self, Trigger};
use crate::desk::ticket::{Field, MessageKind, NewTicket, Status, TicketState};
use crate::lang::Lang;

/// A mail to queue, not yet rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct OutMail {
    pub ticket: i64,
    /// Template kind, e.g. `ack`.
    pub template: &'static str,
    pub lang: Lang,
    /// The From display name; the address is always the desk's.
    pub from_name: Option<String>,
    pub to: Vec<Mailbox>,
    pub subject: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub auto_submitted: Option<&'static str>,
    pub vars: serde_json::Value,
}

impl OutMail {
    /// Takes out the recipients no mail can be sent to
    /// ([`crate::address::usable`]) and returns them with why, so that the
    /// mail still goes to everybody else.
    pub fn drop_unusable(&mut self) -> Vec<(Mailbox, String)> {
        let mut dropped = Vec::new();
        self.to.retain(|m| match m.usable() {
            Ok(()) => true,
            Err(why) => {
                dropped.push((m.clone(), why));
                false
            }
        });
        dropped
    }
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
    /// Change a field; recorded as an event with old and new value.
    Update {
        ticket: i64,
        field: Field,
        old: Option<String>,
        new: Option<String>,
        actor: String,
        detail: Option<String>,
    },
    /// Add or remove a watcher.
    Watch {
        ticket: i64,
        address: String,
        add: bool,
        actor: String,
    },
    /// The first answer a requester got from a person.
    FirstResponse {
        ticket: i64,
    },
    /// Stop mailing an address for a while (a permanent delivery failure).
    Suppress {
        ticket: i64,
        address: String,
        reason: String,
    },
    /// A satisfaction rating.
    Rate {
        ticket: i64,
        score: u8,
        comment: String,
        agent: Option<String>,
    },
    /// An SLA escalation level was reached; recorded so it fires once.
    Escalated {
        ticket: i64,
        target: crate::desk::sla::Target,
        percent: u32,
        action: crate::desk::sla::Action,
        due_ms: i64,
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
    /// Time an agent worked on the ticket (`#time 30m`), in minutes.
    TimeWorked {
        ticket: i64,
        agent: String,
        minutes: u32,
    },
    /// Move a ticket's messages into another and make its number an alias
    /// of it ([`crate::desk::merge`]).
    Merge {
        from: i64,
        into: i64,
        actor: String,
    },
    /// Move the message rows `first_row..=last_row` of `from` to the
    /// (just created) ticket `into` ([`crate::desk::merge`]).
    Split {
        from: i64,
        into: i64,
        first_row: i64,
        last_row: i64,
    },
    /// Refuse a sender outside the desk's scope ([`crate::desk::scope`]):
    /// record the refusal (`desk.refusal-window` counts from it) and send
    /// them the `refusal` template. About no ticket: none is made.
    Refuse {
        sender: String,
        to: Mailbox,
        lang: Lang,
        subject: String,
        in_reply_to: Option<String>,
        references: Vec<String>,
        vars: serde_json::Value,
    },
    /// A mail about no one ticket (a list of tickets, [`crate::desk::listing`]),
    /// its text written by its decider; automatic, from the desk.
    Letter {
        kind: &'static str,
        to: Mailbox,
        subject: String,
        text: String,
        in_reply_to: Option<String>,
        references: Vec<String>,
    },
    /// Record an approval asked of `approver` ([`crate::desk::approval`]),
    /// stopping the SLA clock if `pause_sla`.
    ApprovalAsked {
        ticket: i64,
        approver: String,
        reason: String,
        requested_by: String,
        token: String,
        pause_sla: bool,
    },
    /// Record the approver's decision on approval `id`.
    ApprovalDecided {
        id: i64,
        approved: bool,
        by: String,
        comment: String,
    },
    /// Record that the approver of `id` was reminded now.
    ApprovalReminded {
        id: i64,
    },
    /// A change to the knowledge base (see [`crate::desk::kb`]).
    Kb(crate::desk::kb::entry::KbEffect),
    /// Something for the spam filter (see [`crate::desk::spam`]).
    Spam(SpamEffect),
}

/// A change the core asks of the spam filter (see [`crate::desk::spam`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpamEffect {
    /// Teach rspamd this ticket's request as spam (or as ham).
    Learn { ticket: i64, spam: bool },
}

pub(crate) fn event(
    ticket: i64,
    actor: &str,
    kind: &'static str,
    detail: Option<String>,
) -> Effect {
    Effect::Event {
        ticket,
        actor: actor.to_string(),
        kind,
        old: None,
        new: None,
        detail,
    }
}

pub(crate) fn update(
    ticket: i64,
    field: Field,
    old: Option<String>,
    new: Option<String>,
    actor: &str,
) -> Effect {
    Effect::Update {
        ticket,
        field,
        old,
        new,
        actor: actor.to_string(),
        detail: None,
    }
}

/// Moves the working copy `t` as the lifecycle says `trigger` does, and
/// pushes the change (none when the status stays). Every status change of
/// the core goes through here; only `Trigger::AgentSets` can be refused,
/// with the sentence the agent gets back.
pub(crate) fn set_status(
    t: &mut TicketState,
    trigger: Trigger,
    actor: &str,
    detail: Option<String>,
    effects: &mut Vec<Effect>,
) -> Result<Status, String> {
    let old = t.status();
    let new = lifecycle::next(old, trigger)?;
    if new != old {
        effects.push(Effect::Update {
            ticket: t.number,
            field: Field::Status,
            old: Some(old.as_str().into()),
            new: Some(new.as_str().into()),
            actor: actor.to_string(),
            detail,
        });
        t.status = Some(new);
    }
    Ok(new)
}
