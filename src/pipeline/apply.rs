//! The effect interpreter: carries out what `decide` returned, in the
//! caller's transaction. It decides nothing: limits were applied and KB
//! suggestions looked up before `decide` answered; here each effect becomes
//! its rows, and every change its timeline entry.

use crate::compose;
use crate::desk::effect::Effect;
use crate::desk::limits;
use crate::desk::policy::Policy;
use crate::desk::ticket::MessageKind;
use crate::inbound::Inbound;
use crate::store::{EscalationRecord, EventRecord, InboundRecord, StoreError, Tx};

use super::{Engine, Tally};

/// What the effects are about.
pub(super) struct Context<'a> {
    pub engine: &'a Engine,
    pub policy: &'a Policy,
    /// The mailbox the mail came in through (empty for the clock and the shell).
    pub mailbox: &'a str,
    /// The mail and its bytes, when the effects are about a mail.
    pub incoming: Option<(&'a Inbound, &'a [u8])>,
    pub now_ms: i64,
}

/// The one way a timeline entry is written.
struct Timeline<'t, 'c> {
    tx: &'t Tx<'c>,
    at: i64,
}

impl Timeline<'_, '_> {
    fn add(
        &self,
        ticket: i64,
        actor: &str,
        kind: &str,
        old: Option<&str>,
        new: Option<&str>,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        self.tx.insert_event(&EventRecord {
            ticket,
            at: self.at,
            actor,
            kind,
            old,
            new,
            detail,
        })
    }
}

/// Applies `effects` in order.
pub(super) fn apply(
    tx: &Tx<'_>,
    cx: &Context<'_>,
    effects: &[Effect],
    tally: &mut Tally,
) -> Result<(), StoreError> {
    let now = cx.now_ms;
    let timeline = Timeline { tx, at: now };
    for effect in effects {
        match effect {
            Effect::Ignore { reason } => {
                if let Some(mut r) = record(cx, None, "ignored") {
                    tracing::info!(mailbox = cx.mailbox, message_id = %r.mail.message_id, reason, "not a ticket message");
                    r.note = Some(reason);
                    tx.insert_inbound(&r)?;
                    tally.ignored += 1;
                }
            }
            Effect::CreateTicket(t) => {
                tx.create_ticket(t, cx.mailbox, now, Some(t.reply_by))?;
                tally.created += 1;
            }
            Effect::Attach { ticket, kind } => {
                if let Some(r) = record(cx, Some(*ticket), kind.as_str()) {
                    tx.insert_inbound(&r)?;
                }
                tx.touch_ticket(*ticket, now)?;
                if *kind != MessageKind::Request {
                    tally.attached += 1;
                }
            }
            Effect::Event {
                ticket,
                actor,
                kind,
                old,
                new,
                detail,
            } => timeline.add(
                *ticket,
                actor,
                kind,
                old.as_deref(),
                new.as_deref(),
                detail.as_deref(),
            )?,
            Effect::Update {
                ticket,
                field,
                old,
                new,
                actor,
                detail,
            } => {
                tx.update_field(*ticket, *field, new.as_deref(), now)?;
                let (old, new) = (old.as_deref(), new.as_deref());
                timeline.add(*ticket, actor, field.as_str(), old, new, detail.as_deref())?;
            }
            Effect::Watch {
                ticket,
                address,
                add,
                actor,
            } => {
                tx.set_watcher(*ticket, address, *add)?;
                let kind = if *add {
                    "watcher-added"
                } else {
                    "watcher-removed"
                };
                timeline.add(*ticket, actor, kind, None, Some(address), None)?;
            }
            Effect::FirstResponse { ticket } => tx.first_response(*ticket, now)?,
            Effect::TimeWorked {
                ticket,
                agent,
                minutes,
            } => {
                tx.record_time(*ticket, agent, *minutes, now)?;
                let shown = crate::desk::timelog::format_minutes(i64::from(*minutes));
                timeline.add(*ticket, agent, "time", None, Some(&shown), None)?;
            }
            Effect::Suppress {
                ticket,
                address,
                reason,
            } => {
                let until = now + cx.engine.config.limits.bounce_suppress.as_millis() as i64;
                tx.suppress(address, until, reason)?;
                let kind = "address-suppressed";
                timeline.add(*ticket, "postdesk", kind, None, Some(address), Some(reason))?;
            }
            Effect::Kb(k) => tx.kb_apply(k, now)?,
            Effect::Spam(crate::desk::spam::SpamEffect::Learn { ticket, spam }) => {
                tx.queue_spam_lesson(*ticket, *spam, now)?
            }
            Effect::Refuse {
                sender,
                to,
                lang,
                subject,
                in_reply_to,
                references,
                vars,
            } => {
                tx.record_refusal(sender, now)?;
                let letter = compose::Letter {
                    ticket: None,
                    kind: "refusal",
                    from_name: None,
                    to: std::slice::from_ref(to),
                    subject,
                    in_reply_to: in_reply_to.as_deref(),
                    references,
                    auto_submitted: Some("auto-replied"),
                    text: String::new(),
                    html: None,
                };
                let renderer = cx.engine.renderer_for(cx.mailbox);
                match compose::templated(renderer, cx.policy, letter, *lang, vars, now) {
                    Ok(mail) => {
                        tx.queue_outbound(&mail.record())?;
                        tally.queued += 1;
                    }
                    // A broken admin template: the mail is recorded all the
                    // same (`postdesk check` renders every template).
                    Err(e) => tracing::error!(sender, error = %e, "could not build a refusal"),
                }
            }
            Effect::Letter {
                kind,
                to,
                subject,
                text,
                in_reply_to,
                references,
            } => {
                let letter = compose::Letter {
                    ticket: None,
                    kind,
                    from_name: None,
                    to: std::slice::from_ref(to),
                    subject,
                    in_reply_to: in_reply_to.as_deref(),
                    references,
                    auto_submitted: Some("auto-replied"),
                    text: text.clone(),
                    html: None,
                };
                match compose::compose(cx.policy, letter, now) {
                    Ok(mail) => {
                        tx.queue_outbound(&mail.record())?;
                        tally.queued += 1;
                    }
                    Err(e) => tracing::error!(kind, error = %e, "could not build a list mail"),
                }
            }
            Effect::ApprovalAsked {
                ticket,
                approver,
                reason,
                requested_by,
                token,
                pause_sla,
            } => tx.ask_approval(&crate::store::NewApproval {
                ticket: *ticket,
                approver,
                reason,
                requested_by,
                token,
                pause_sla: *pause_sla,
                at: now,
            })?,
            Effect::ApprovalDecided {
                id,
                approved,
                by,
                comment,
            } => {
                if !tx.decide_approval(*id, *approved, by, comment, now)? {
                    tracing::warn!(id, "an approval decided twice; the first decision stands");
                }
            }
            Effect::ApprovalReminded { id } => tx.approval_reminded(*id, now)?,
            Effect::Merge { from, into, actor } => {
                tx.merge_tickets(*from, *into, now)?;
                tracing::info!(from, into, actor, "ticket merged");
            }
            Effect::Split {
                from,
                into,
                first_row,
                last_row,
            } => {
                let moved = tx.split_messages(*from, *into, *first_row, *last_row)?;
                tracing::info!(from, into, moved, "mail split off into a new ticket");
            }
            Effect::Escalated {
                ticket,
                target,
                percent,
                action,
                due_ms,
            } => {
                let first = tx.record_escalation(&EscalationRecord {
                    ticket: *ticket,
                    target: target.as_str(),
                    percent: *percent,
                    action: action.as_str(),
                    due_at: *due_ms,
                    at: now,
                })?;
                if first {
                    let level = format!("{} {percent}%", target.as_str());
                    let action = Some(action.as_str());
                    timeline.add(
                        *ticket,
                        "postdesk",
                        "escalation",
                        None,
                        Some(&level),
                        action,
                    )?;
                }
            }
            Effect::Rate {
                ticket,
                score,
                comment,
                agent,
            } => {
                tx.rate(*ticket, *score, comment, agent.as_deref(), now)?;
                let score = score.to_string();
                let comment = Some(comment.as_str()).filter(|c| !c.is_empty());
                timeline.add(*ticket, "requester", "rating", None, Some(&score), comment)?;
            }
            Effect::Send(out) => {
                // Mail about a ticket goes out as the mailbox the ticket
                // came in on, whichever mailbox (or the clock) led to it.
                let home = tx
                    .ticket_mailbox(out.ticket)?
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| cx.mailbox.to_string());
                let theirs = (home != cx.mailbox).then(|| cx.engine.policy_for(&home));
                let identity = theirs.as_ref().unwrap_or(cx.policy);
                let renderer = cx.engine.renderer_for(&home);
                match compose::ticket_mail(renderer, identity, out, now) {
                    Ok(mail) => {
                        // Recipients the composer could not address: decide
                        // screens an agent's answer itself (and tells the
                        // agent); this records it for every other mail.
                        for (m, why) in &mail.dropped {
                            tracing::warn!(ticket = out.ticket, error = %why, "a recipient left out");
                            let why = format!("{} mail not sent to it: {why}", out.template);
                            let to = Some(m.address.as_str());
                            timeline.add(
                                out.ticket,
                                "postdesk",
                                "recipient-dropped",
                                None,
                                to,
                                Some(&why),
                            )?;
                        }
                        tx.queue_outbound(&mail.record())?;
                        for key in limits::counted_keys(cx.policy, out) {
                            tx.record_auto_reply(&key, out.ticket, now)?;
                        }
                        if out.template == "survey" {
                            tx.survey_sent(out.ticket, now)?;
                        }
                        tally.queued += 1;
                    }
                    Err(e) => {
                        // The ticket and the mail are safe; only this reply could
                        // not be made. Record why, so an admin can fix the template.
                        tracing::error!(ticket = out.ticket, error = %e, "could not render a mail");
                        let why = format!("{} mail not sent: {e}", out.template);
                        timeline.add(
                            out.ticket,
                            "postdesk",
                            "send-failed",
                            None,
                            None,
                            Some(&why),
                        )?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The inbound mail as a message row. Effects about "the mail" only come
/// from decisions about a mail.
fn record<'a>(
    cx: &'a Context<'a>,
    ticket: Option<i64>,
    kind: &'static str,
) -> Option<InboundRecord<'a>> {
    cx.incoming.map(|(mail, raw)| InboundRecord {
        ticket,
        mailbox: cx.mailbox,
        kind,
        mail,
        raw,
        at: cx.now_ms,
        note: None,
    })
}
