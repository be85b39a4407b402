//! Spam and backscatter: what the desk does with a new request the filter
//! calls spam, or whose sender the receiving server could not
//! authenticate; the `[spam]` settings.
//!
//! - A spam mail is always recorded (nothing is lost). By `spam.outcome` it
//!   becomes a ticket in the `spam` state (`"ticket"`, the default) or is
//!   recorded without one (`"record"`). It gets no acknowledgement and no
//!   team notice, has no SLA clock (the sweeper reads active tickets only),
//!   and the review counts it on one line, apart from real requests.
//! - Who calls it spam: the filter in front, by the headers it wrote
//!   ([`crate::inbound::spamverdict`]), or rspamd asked directly (the
//!   pipeline does that, and passes the answer in as a [`Screen`]). An
//!   rspamd that cannot be reached never blocks intake: the mail goes on as
//!   not spam and the ticket's timeline says why.
//! - No backscatter: a new request whose sender the trusted receiving server
//!   reports as failing DMARC, or failing SPF with no aligned DKIM pass, is
//!   a ticket like any other but gets no acknowledgement (it would go to
//!   whoever was forged), unless `spam.no-backscatter = false`.
//! - Agents: `#spam` moves a ticket to spam and `#notspam` back to new with
//!   the acknowledgement it never got; with rspamd's controller configured
//!   each also teaches it ([`SpamEffect::Learn`]).
//!
//! Only mail that opens a ticket is screened: a verdict never moves mail
//! into or out of a conversation already going on.

pub mod settings;

use serde_json::Value;

use crate::desk::effect::{Effect, OutMail, event, set_status};
use crate::desk::lifecycle::Trigger;
use crate::desk::mails;
use crate::desk::policy::Policy;
use crate::desk::ticket::TicketState;
use crate::inbound::{Inbound, authres};

pub use settings::{ActionOutcome, SpamConfig, SpamOutcome};

/// What the filters said about one mail, looked up before deciding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Screen {
    /// The verdict and who gave it (`rspamd: reject, score 15.00`).
    pub verdict: Option<(ActionOutcome, String)>,
    /// rspamd could not be asked, and why (the mail went on as not spam).
    pub failed: Option<String>,
}

pub use crate::desk::effect::SpamEffect;

/// The event kinds this module writes.
pub const SPAM_EVENT: &str = "spam";
pub const CHECK_FAILED: &str = "spam-check-failed";

/// Screens the effects of a decision that opens a ticket: spam becomes
/// a spam ticket (or a record), suspect mail loses its acknowledgement,
/// and so does mail from a sender who failed authentication.
pub(crate) fn screen_new_ticket(
    policy: &Policy,
    mail: &Inbound,
    screen: Option<&Screen>,
    mut effects: Vec<Effect>,
) -> Vec<Effect> {
    let Some(number) = effects.iter().find_map(|e| match e {
        Effect::CreateTicket(t) => Some(t.number),
        _ => None,
    }) else {
        return effects;
    };
    if let Some(why) = screen.and_then(|s| s.failed.as_ref()) {
        effects.push(event(
            number,
            "postdesk",
            CHECK_FAILED,
            Some(format!("{why}; processed as not spam")),
        ));
    }
    match screen.and_then(|s| s.verdict.as_ref()) {
        Some((ActionOutcome::Spam, by)) => {
            if policy.spam.outcome == SpamOutcome::Record {
                return vec![Effect::Ignore {
                    reason: format!("spam ({by}); recorded without a ticket (spam.outcome)"),
                }];
            }
            // No acknowledgement, no team notice, no suggestions: nobody
            // is owed anything.
            effects.retain(|e| !matches!(e, Effect::Send(_) | Effect::Kb(_)));
            let mut t = TicketState {
                number,
                ..TicketState::default()
            };
            set_status(
                &mut t,
                Trigger::MarkSpam,
                "postdesk",
                Some(by.clone()),
                &mut effects,
            )
            .ok();
            effects.push(event(
                number,
                "postdesk",
                "no-acknowledgement",
                Some(format!("spam: {by}")),
            ));
            return effects;
        }
        Some((ActionOutcome::NoAck, by)) => {
            drop_ack(&mut effects, number, format!("suspect mail: {by}"));
        }
        _ => {}
    }
    if policy.spam.no_backscatter
        && let Some(why) = failed_authentication(policy, mail)
    {
        drop_ack(&mut effects, number, why);
    }
    effects
}

fn drop_ack(effects: &mut Vec<Effect>, number: i64, why: String) {
    let before = effects.len();
    effects.retain(|e| !matches!(e, Effect::Send(m) if m.template == "ack"));
    if effects.len() != before {
        effects.push(event(
            number,
            "postdesk",
            "no-acknowledgement",
            Some(format!("{why} (no backscatter)")),
        ));
    }
}

/// Why the sender must not be answered, when the trusted receiving server
/// says their mail failed authentication: DMARC `fail`, or SPF `fail` for
/// an envelope sender aligned with From and no aligned DKIM pass. `None`
/// when nothing trusted says so (no header is not a failure).
pub fn failed_authentication(policy: &Policy, mail: &Inbound) -> Option<String> {
    let from = mail.from.as_ref()?.address.as_str();
    let domain = from.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    let trusted = authres::trusted_results(&mail.auth_results, &policy.trusted_authserv_ids);
    let results: Vec<&authres::MethodResult> =
        trusted.iter().flat_map(|r| r.results.iter()).collect();
    let server = trusted
        .first()
        .map(|r| r.authserv_id.clone())
        .unwrap_or_default();
    if results
        .iter()
        .any(|r| r.method == "dmarc" && r.result == "fail")
    {
        return Some(format!("{server} reports DMARC fail for {domain}"));
    }
    let dkim_pass = results
        .iter()
        .any(|r| r.method == "dkim" && authres::passes_for(r, domain));
    let spf_fail = results
        .iter()
        .any(|r| r.method == "spf" && r.result == "fail");
    if spf_fail && !dkim_pass {
        return Some(format!(
            "{server} reports SPF fail and no aligned DKIM pass for {domain}"
        ));
    }
    None
}

/// An agent's `#spam` (`spam`) or `#notspam`: the status change, and the
/// lesson for rspamd when its controller is configured. Refused with the
/// sentence the agent gets back when the ticket already is (or is not) spam.
pub(crate) fn agent_says(
    policy: &Policy,
    t: &mut TicketState,
    spam: bool,
    actor: &str,
    effects: &mut Vec<Effect>,
) -> Result<String, String> {
    let trigger = if spam {
        Trigger::MarkSpam
    } else {
        Trigger::NotSpam
    };
    let new = set_status(t, trigger, actor, None, effects)?;
    let mut what = format!("status {new}");
    if policy.spam.rspamd_controller.is_some() {
        effects.push(Effect::Spam(SpamEffect::Learn {
            ticket: t.number,
            spam,
        }));
        what.push_str(if spam {
            ", rspamd learns it as spam"
        } else {
            ", rspamd learns it as ham"
        });
    }
    Ok(what)
}

/// The acknowledgement a ticket taken for spam never got, sent when an
/// agent says `#notspam`: the same template, without the request's summary
/// (the mail itself is not at hand here).
pub(crate) fn late_acknowledgement(policy: &Policy, t: &TicketState, reply_by: i64) -> OutMail {
    let mut vars = mails::base_vars(policy, t);
    vars.insert("summary".into(), "".into());
    vars.insert("attachments".into(), Value::Array(Vec::new()));
    vars.insert(
        "reply_by".into(),
        crate::desk::when::human_time(reply_by, &policy.time_zone, &policy.time_zone_name, t.lang)
            .into(),
    );
    vars.insert("reply_by_ms".into(), reply_by.into());
    vars.insert("linked_to".into(), "".into());
    OutMail {
        ticket: t.number,
        template: "ack",
        lang: t.lang,
        from_name: None,
        to: vec![t.requester_mailbox()],
        subject: policy.tag.tagged_subject(t.number, &t.subject),
        // The request opens the thread (oldest first): answer it.
        in_reply_to: t.thread.first().cloned(),
        references: t.thread.clone(),
        auto_submitted: Some("auto-replied"),
        vars: Value::Object(vars),
    }
}

#[cfg(test)]
#[path = "spam_tests.rs"]
mod tests;
