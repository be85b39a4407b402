//! Mail no person wrote: our own mail coming back, delivery reports about
//! mail we sent, out-of-office and other automatic replies. Never a reply
//! from us, never a status change.

use crate::desk::effect::{Effect, OutMail, event};
use crate::desk::lifecycle::{self, Trigger};
use crate::desk::mails;
use crate::desk::policy::Policy;
use crate::desk::ticket::{MessageKind, SentMail, TicketState};
use crate::inbound::bounce::FailedRecipient;
use crate::inbound::{Inbound, authres};
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

/// Whether a mail that looks like a delivery report may be taken for one:
/// a report is sent with an empty envelope sender, so one whose sender the
/// receiving server authenticated (an SPF pass for an address) is an
/// ordinary sender's mail dressed up; one failing DMARC for its From domain
/// is a forgery. Both are then handled as ordinary (automatic) mail.
pub(crate) fn is_a_real_report(policy: &Policy, mail: &Inbound) -> bool {
    let trusted = authres::trusted_results(&mail.auth_results, &policy.trusted_authserv_ids);
    let from_domain = mail
        .from
        .as_ref()
        .and_then(|f| f.address.rsplit_once('@').map(|(_, d)| d.to_string()))
        .unwrap_or_default();
    !trusted.iter().flat_map(|r| r.results.iter()).any(|r| {
        let ordinary_sender = r.method == "spf"
            && r.result == "pass"
            && r.prop("smtp.mailfrom").is_some_and(|m| m.contains('@'));
        let dmarc_fail = r.method == "dmarc"
            && r.result == "fail"
            && r.prop("header.from")
                .is_none_or(|d| authres::aligned(d, &from_domain));
        ordinary_sender || dmarc_fail
    })
}

/// A delivery-status report about a mail we sent (`sent`, looked up by the
/// report's original Message-ID): attached to that mail's ticket, never a
/// ticket of its own, never answered. It counts only for the recipients of
/// that mail, and never silences the desk's own people: a failed agent or
/// team address is not suppressed, the team's lead is told instead.
pub(crate) fn bounce(
    policy: &Policy,
    mail: &Inbound,
    sent: Option<&SentMail>,
    ticket: Option<&TicketState>,
) -> Vec<Effect> {
    let (Some(sent), Some(t)) = (sent, ticket) else {
        return vec![Effect::Ignore {
            reason: "delivery report about no mail of ours".into(),
        }];
    };
    if sent.ticket != Some(t.number) {
        return vec![Effect::Ignore {
            reason: "delivery report about no mail of this ticket".into(),
        }];
    }
    let ours = |address: &str| {
        sent.recipients
            .iter()
            .any(|r| r.eq_ignore_ascii_case(address))
    };
    let report = mail.bounce.as_ref();
    let recipients: Vec<&FailedRecipient> = report
        .map(|b| b.recipients.iter().filter(|r| ours(&r.address)).collect())
        .unwrap_or_default();
    let permanent = report.is_some_and(|b| b.permanent);
    let failed: Vec<String> = recipients
        .iter()
        .map(|r| match &r.diagnostic {
            Some(d) => format!("{} ({}, {}: {d})", r.address, r.action, r.status),
            None => format!("{} ({}, {})", r.address, r.action, r.status),
        })
        .collect();
    let named_others = report.is_some_and(|b| b.recipients.len() > recipients.len());
    let detail = match (failed.is_empty(), named_others) {
        (true, true) => "a delivery report naming none of the mail's recipients".to_string(),
        (true, false) => "a delivery report we could not read".to_string(),
        (false, _) => failed.join("; "),
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
    if permanent && !failed.is_empty() {
        let mut internal = false;
        for r in &recipients {
            if !(r.action == "failed" || r.status.starts_with('5')) {
                continue;
            }
            if is_the_desks(policy, &r.address) {
                internal = true;
                continue;
            }
            effects.push(Effect::Suppress {
                ticket: t.number,
                address: r.address.clone(),
                reason: format!(
                    "permanent delivery failure on ticket {}: {}",
                    t.number, r.status
                ),
            });
        }
        let mut notices: Vec<OutMail> = mails::notify_bounce(policy, t, &detail)
            .into_iter()
            .chain(
                internal
                    .then(|| mails::bounce_to_lead(policy, t, &detail))
                    .flatten(),
            )
            .collect();
        // Never to an address that just failed: a notice bouncing in turn
        // would come back here, and round again.
        for n in &mut notices {
            n.to.retain(|m| {
                !recipients
                    .iter()
                    .any(|r| r.address.eq_ignore_ascii_case(&m.address))
            });
        }
        effects.extend(
            notices
                .into_iter()
                .filter(|n| !n.to.is_empty())
                .map(Effect::Send),
        );
    }
    effects
}

/// An address of the desk's own people: an agent's, a team's, a manager's.
fn is_the_desks(policy: &Policy, address: &str) -> bool {
    let d = &policy.directory;
    d.agent_by_address(address).is_some()
        || d.teams
            .iter()
            .any(|t| t.address.as_deref() == Some(address) || t.manager.as_deref() == Some(address))
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
