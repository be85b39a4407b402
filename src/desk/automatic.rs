//! Mail no person wrote: our own mail coming back, delivery reports about
//! mail we sent, out-of-office and other automatic replies. Never a reply
//! from us, never a status change.

use crate::desk::effect::{Effect, event};
use crate::desk::lifecycle::{self, Trigger};
use crate::desk::mails;
use crate::desk::policy::Policy;
use crate::desk::ticket::{MessageKind, TicketState};
use crate::inbound::Inbound;
use crate::thread;

/// Our own outgoing mail that came back to us (a desk address in Cc, a
/// forwarding rule): never a ticket, or we would answer ourselves forever.
pub(crate) fn our_own_mail(policy: &Policy, mail: &Inbound) -> Option<String> {
    if mail
        .loop_markers
        .iter()
        .any(|m| m.eq_ignore_ascii_case(&policy.id_domain))
    {
        return Some(format!("carries our loop header ({})", thread::LOOP_HEADER));
    }
    if thread::is_our_message_id(&mail.message_id, &policy.id_domain, &policy.id_key) {
        return Some("has a Message-ID we created".into());
    }
    None
}

/// A delivery-status report: attached to the ticket of the mail that bounced,
/// never a ticket of its own, never answered.
pub(crate) fn bounce(policy: &Policy, mail: &Inbound, ticket: Option<&TicketState>) -> Vec<Effect> {
    let Some(t) = ticket else {
        return vec![Effect::Ignore {
            reason: "delivery report about no mail of ours".into(),
        }];
    };
    let report = mail.bounce.as_ref();
    let permanent = report.is_some_and(|b| b.permanent);
    let failed: Vec<String> = report
        .map(|b| {
            b.recipients
                .iter()
                .map(|r| match &r.diagnostic {
                    Some(d) => format!("{} ({}, {}: {d})", r.address, r.action, r.status),
                    None => format!("{} ({}, {})", r.address, r.action, r.status),
                })
                .collect()
        })
        .unwrap_or_default();
    let detail = if failed.is_empty() {
        "a delivery report we could not read".to_string()
    } else {
        failed.join("; ")
    };
    let mut effects = vec![
        Effect::Attach {
            ticket: t.number,
            kind: MessageKind::Bounce,
        },
        event(
            t.number,
            "mailer-daemon",
            if permanent {
                "delivery-failed"
            } else {
                "delivery-delayed"
            },
            Some(detail.clone()),
        ),
    ];
    if permanent {
        for r in report.iter().flat_map(|b| b.recipients.iter()) {
            if r.action == "failed" || r.status.starts_with('5') {
                effects.push(Effect::Suppress {
                    ticket: t.number,
                    address: r.address.clone(),
                    reason: format!(
                        "permanent delivery failure on ticket {}: {}",
                        t.number, r.status
                    ),
                });
            }
        }
        effects.extend(mails::notify_bounce(policy, t, &detail).map(Effect::Send));
    }
    effects
}

pub(crate) fn on_ticket(ticket: &TicketState, mail: &Inbound, sender: &str) -> Vec<Effect> {
    // An out-of-office or a bounce never changes status or assignment.
    debug_assert_eq!(
        lifecycle::next(ticket.status(), Trigger::AutomaticMail),
        Ok(ticket.status())
    );
    vec![
        Effect::Attach {
            ticket: ticket.number,
            kind: MessageKind::Automatic,
        },
        event(ticket.number, sender, "automatic-mail", Some(detail(mail))),
    ]
}

pub(crate) fn detail(mail: &Inbound) -> String {
    let reasons: Vec<String> = mail.auto.reasons.iter().map(|r| r.to_string()).collect();
    format!("automatic mail: {}", reasons.join(", "))
}
