//! Approvals (seed 1.3: major changes need an authorisation):
//! `#approval boss@corp.example.com reason` (`#审批`), or `#approval reason`
//! for the approver `[approval.approvers]` names for the ticket's category.
//!
//! The ticket goes to `awaiting-approval` (the SLA clock paused unless
//! `approval.pause-sla = false`); the approver gets the ticket's summary,
//! the agent's reason and two mailto links, approve and reject, whose
//! subject carries a one-time token (`pdap-` and 16 hex digits of an HMAC
//! under the installation's id key: nobody without the key can make one).
//! The approver answers "approve"/"批准" or "reject"/"拒绝", with an optional
//! reason on the same line or below; the decision is recorded, the agent who
//! asked is told, and the ticket is open again. Reminders go out every
//! `approval.remind-after` until it is decided.
//!
//! Only the named approver counts: the mail's From must be the approver's
//! address, and it must carry the right token or be authenticated as an
//! agent's is (a trusted DKIM or SPF pass for the approver's domain). A
//! wrong token is refused even when the From is right. A refused answer
//! changes nothing and is recorded on the ticket; the asker is told.

use serde_json::Value;

use crate::address::Mailbox;
use crate::desk::effect::{Effect, OutMail, event, set_status};
use crate::desk::lifecycle::Trigger;
use crate::desk::people::Agent;
use crate::desk::policy::Policy;
use crate::desk::ticket::{MessageKind, TicketState};
use crate::desk::{mails, quote, verify};
use crate::inbound::Inbound;

pub mod settings;
pub use settings::ApprovalConfig;

/// How a token starts, so that it can be found in a subject or a body.
pub const TOKEN_PREFIX: &str = "pdap-";

/// An approval asked and not yet decided, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub id: i64,
    pub ticket: i64,
    pub approver: String,
    pub reason: String,
    /// The agent's name.
    pub requested_by: String,
    pub token: String,
    pub requested_at: i64,
    pub reminded_at: Option<i64>,
    /// Decided (or withdrawn) already: its token no longer counts.
    pub decided: bool,
}

/// `#approval`: asks `approver` (or the category's) to approve.
/// What an `#approval` asks: of whom (empty: the category's approver), why,
/// and the request's text the approver reads (looked up by the caller).
pub(crate) struct Ask<'a> {
    pub approver: &'a str,
    pub reason: &'a str,
    pub request: Option<&'a str>,
}

pub(crate) fn request(
    policy: &Policy,
    t: &mut TicketState,
    agent: &Agent,
    ask: Ask<'_>,
    now_ms: i64,
    effects: &mut Vec<Effect>,
) -> Result<String, String> {
    let Ask {
        approver,
        reason,
        request: request_text,
    } = ask;
    let approver = if approver.is_empty() {
        let category = t.category.as_deref().unwrap_or("");
        policy
            .approval
            .approvers
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(category))
            .map(|(_, a)| crate::address::normalise(a))
            .ok_or_else(|| {
                format!(
                    "name the approver, e.g. `#approval boss@example.com {}` (no approver is configured for category `{category}`)",
                    if reason.is_empty() { "reason" } else { reason }
                )
            })?
    } else {
        crate::address::normalise(approver)
    };
    crate::address::usable(&approver).map_err(|why| format!("no mail can go to {why}"))?;
    if agent.addresses.contains(&approver) {
        return Err("you cannot approve your own request; name someone else".into());
    }
    set_status(t, Trigger::ApprovalAsked, &agent.name, None, effects)?;
    let token = format!(
        "{TOKEN_PREFIX}{}",
        policy
            .id_key
            .token(&format!("approval.{}.{now_ms}.{approver}", t.number))
    );
    effects.push(Effect::ApprovalAsked {
        ticket: t.number,
        approver: approver.clone(),
        reason: reason.to_string(),
        requested_by: agent.name.clone(),
        token: token.clone(),
        pause_sla: policy.approval.pause_sla,
    });
    effects.push(event(
        t.number,
        &agent.name,
        "approval-requested",
        Some(if reason.is_empty() {
            format!("asked {approver}")
        } else {
            format!("asked {approver}: {reason}")
        }),
    ));
    let pending = Pending {
        id: 0,
        ticket: t.number,
        approver: approver.clone(),
        reason: reason.to_string(),
        requested_by: agent.name.clone(),
        token,
        requested_at: now_ms,
        reminded_at: None,
        decided: false,
    };
    effects.push(Effect::Send(request_mail(
        policy,
        t,
        &pending,
        request_text,
        false,
    )));
    Ok(format!("approval asked of {approver}"))
}

/// At most this much of the request goes to the approver: enough to judge
/// what is asked (a long log pasted in is cut), with the ticket to read more.
pub const REQUEST_SHOWN: usize = 2_000;

/// The mail to the approver: the summary, what the requester asked
/// (`request`, the ticket's first mail, looked up by the caller), the
/// reason and the two links.
pub fn request_mail(
    policy: &Policy,
    t: &TicketState,
    p: &Pending,
    request: Option<&str>,
    reminder: bool,
) -> OutMail {
    let tag = policy.tag.tag(t.number);
    let link = |word: &str| {
        format!(
            "mailto:{}?subject={}&body={}",
            policy.desk_address.address,
            mails::percent_encode(&format!("{tag} {word} {}", p.token)),
            mails::percent_encode(word)
        )
    };
    let asker = policy
        .directory
        .agent(&p.requested_by)
        .map(|a| a.display_name.clone())
        .unwrap_or_else(|| p.requested_by.clone());
    let mut vars = mails::base_vars(policy, t);
    vars.insert("agent".into(), asker.into());
    vars.insert("reason".into(), p.reason.clone().into());
    vars.insert("token".into(), p.token.clone().into());
    vars.insert("approve_href".into(), link("approve").into());
    vars.insert("reject_href".into(), link("reject").into());
    vars.insert("reminder".into(), reminder.into());
    vars.insert("request".into(), shown_request(request).into());
    let subject = format!(
        "{tag} {} ({}): {}",
        match t.lang {
            crate::lang::Lang::En => "Approval needed",
            crate::lang::Lang::ZhCn => "需要审批",
        },
        p.token,
        crate::subject::repeated(&t.subject)
    );
    OutMail {
        ticket: t.number,
        template: "approval-request",
        lang: policy.lang,
        from_name: None,
        to: vec![Mailbox::new(None, &p.approver)],
        subject,
        in_reply_to: None,
        references: Vec::new(),
        auto_submitted: Some("auto-generated"),
        vars: Value::Object(vars),
    }
}

/// The request as the approver sees it: trimmed, at most
/// [`REQUEST_SHOWN`] characters, an ellipsis when cut.
fn shown_request(request: Option<&str>) -> String {
    let text = request.unwrap_or("").trim();
    match text.char_indices().nth(REQUEST_SHOWN) {
        Some((cut, _)) => format!("{} …", text[..cut].trim_end()),
        None => text.to_string(),
    }
}

/// Whether `mail` on the ticket is an answer to the pending approval: it
/// comes from the approver, or it carries a token.
pub fn is_answer(mail: &Inbound, p: &Pending) -> bool {
    let from_approver = mail
        .from
        .as_ref()
        .is_some_and(|f| f.address.eq_ignore_ascii_case(&p.approver));
    from_approver || !tokens(mail).is_empty()
}

/// Whether a mail carries something shaped like a token: the pipeline
/// then looks up the ticket's last approval even when it was decided, so a
/// second click on a link is refused rather than taken for a new request.
pub fn carries_token(mail: &Inbound) -> bool {
    !tokens(mail).is_empty()
}

/// The tokens a mail carries, in its subject and its new text.
fn tokens(mail: &Inbound) -> Vec<String> {
    let text = quote::new_text(&mail.text, mail.html.as_deref());
    let mut out = Vec::new();
    for hay in [mail.subject.as_str(), text.as_str()] {
        let lower = hay.to_ascii_lowercase();
        let mut from = 0;
        while let Some(i) = lower[from..].find(TOKEN_PREFIX) {
            let start = from + i;
            let end = lower[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .map_or(lower.len(), |e| start + e);
            out.push(lower[start..end].to_string());
            from = end;
        }
    }
    out
}

/// What the approver decided, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub approved: bool,
    pub comment: String,
}

/// Reads "approve"/"批准" or "reject"/"拒绝" from the first line of the new
/// text (the rest of it and the lines below are the reason), else from the
/// subject a mailto link wrote.
pub fn read_decision(mail: &Inbound) -> Option<Decision> {
    let text = quote::new_text(&mail.text, mail.html.as_deref());
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if let Some(first) = lines.next()
        && let Some((approved, rest)) = decision_word(first)
    {
        let mut comment: Vec<&str> = Vec::new();
        if !rest.is_empty() {
            comment.push(rest);
        }
        comment.extend(lines);
        return Some(Decision {
            approved,
            comment: comment.join("\n"),
        });
    }
    mail.subject
        .split_whitespace()
        .find_map(decision_word)
        .map(|(approved, _)| Decision {
            approved,
            comment: String::new(),
        })
}

/// The word at the start of `line`, and what follows it.
fn decision_word(line: &str) -> Option<(bool, &str)> {
    const WORDS: &[(&str, bool)] = &[
        ("approved", true),
        ("approve", true),
        ("批准", true),
        ("同意", true),
        ("rejected", false),
        ("reject", false),
        ("拒绝", false),
        ("驳回", false),
    ];
    let lower = line.to_lowercase();
    WORDS.iter().find_map(|&(w, approved)| {
        let rest = lower.strip_prefix(w)?;
        // A word, not the start of one ("approvers").
        if rest.chars().next().is_some_and(char::is_alphanumeric) && w.is_ascii() {
            return None;
        }
        let cut = line.len() - rest.len();
        let rest = line[cut..].trim_start_matches([' ', ':', '：', ',', '，', '.', '。', '-']);
        Some((approved, rest.trim()))
    })
}

/// Decides an answer to the pending approval `p` of ticket `t`.
pub fn answer(policy: &Policy, t: &TicketState, p: &Pending, mail: &Inbound) -> Vec<Effect> {
    let from = mail
        .from
        .as_ref()
        .map(|f| f.address.clone())
        .unwrap_or_default();
    let refuse = |why: String| {
        let mut fx = vec![
            Effect::Attach {
                ticket: t.number,
                kind: MessageKind::Unverified,
            },
            event(
                t.number,
                &from,
                "approval-refused",
                Some(format!("{why}; nothing was decided")),
            ),
        ];
        fx.extend(tell_asker(policy, t, p, None, &why));
        fx
    };
    if p.decided {
        // Once is enough: nobody needs to hear of a second click.
        return vec![
            Effect::Attach {
                ticket: t.number,
                kind: MessageKind::Unverified,
            },
            event(
                t.number,
                &from,
                "approval-refused",
                Some("the approval was decided already; its token works once".into()),
            ),
        ];
    }
    if !from.eq_ignore_ascii_case(&p.approver) {
        return refuse(format!(
            "an answer from {from}, but only {} can decide",
            p.approver
        ));
    }
    let tokens = tokens(mail);
    if !tokens.is_empty() && !tokens.iter().any(|x| x == &p.token) {
        return refuse("the answer carries a wrong token".into());
    }
    if tokens.is_empty() {
        let approver = Agent {
            name: p.approver.clone(),
            display_name: p.approver.clone(),
            addresses: vec![p.approver.clone()],
            team: String::new(),
            secret: None,
        };
        if let Err(why) = verify::authenticated_domain(policy, &approver, mail) {
            return refuse(format!(
                "the answer has no token and is not authenticated ({why})"
            ));
        }
    }
    let Some(d) = read_decision(mail) else {
        return refuse(
            "the answer says neither approve nor reject (批准 / 拒绝) on its first line".into(),
        );
    };
    let mut work = t.clone();
    let mut effects = vec![Effect::Attach {
        ticket: t.number,
        kind: MessageKind::Note,
    }];
    let word = if d.approved { "approved" } else { "rejected" };
    effects.push(Effect::ApprovalDecided {
        id: p.id,
        approved: d.approved,
        by: from.clone(),
        comment: d.comment.clone(),
    });
    set_status(
        &mut work,
        Trigger::ApprovalDecided,
        &from,
        Some(format!("{word} by {from}")),
        &mut effects,
    )
    .ok();
    effects.push(event(
        t.number,
        &from,
        if d.approved {
            "approval-approved"
        } else {
            "approval-rejected"
        },
        Some(if d.comment.is_empty() {
            format!("{word} by {from}")
        } else {
            format!("{word} by {from}: {}", d.comment)
        }),
    ));
    effects.extend(tell_asker(policy, &work, p, Some(&d), ""));
    effects
}

/// Tells the agent who asked: the decision, or why an answer was refused.
fn tell_asker(
    policy: &Policy,
    t: &TicketState,
    p: &Pending,
    d: Option<&Decision>,
    refused: &str,
) -> Option<Effect> {
    let to = policy
        .directory
        .agent(&p.requested_by)
        .map(Agent::mailbox)
        .into_iter()
        .collect();
    let mut vars = mails::base_vars(policy, t);
    vars.insert("approver".into(), p.approver.clone().into());
    vars.insert(
        "decision".into(),
        match d {
            Some(d) if d.approved => "approved",
            Some(_) => "rejected",
            None => "refused",
        }
        .into(),
    );
    vars.insert(
        "comment".into(),
        d.map(|d| d.comment.clone()).unwrap_or_default().into(),
    );
    vars.insert("refused".into(), refused.into());
    mails::to_agents(policy, t, "approval-decided", to, vars).map(Effect::Send)
}

/// Whether `remind-after` passed since the request or the last reminder
/// (the caller looks up the request's text only then).
pub fn reminder_due(policy: &Policy, p: &Pending, now_ms: i64) -> bool {
    let every = policy.approval.remind_after.as_millis() as i64;
    now_ms >= p.reminded_at.unwrap_or(p.requested_at) + every
}

/// The clock's part: a reminder when `remind-after` passed since the
/// request or the last reminder.
pub fn reminder(
    policy: &Policy,
    t: &TicketState,
    p: &Pending,
    request: Option<&str>,
    now_ms: i64,
) -> Vec<Effect> {
    if !reminder_due(policy, p, now_ms)
        || t.status() != crate::desk::ticket::Status::AwaitingApproval
    {
        return Vec::new();
    }
    vec![
        Effect::ApprovalReminded { id: p.id },
        event(
            t.number,
            "postdesk",
            "approval-reminded",
            Some(format!("reminded {}", p.approver)),
        ),
        Effect::Send(request_mail(policy, t, p, request, true)),
    ]
}

#[cfg(test)]
#[path = "approval_tests.rs"]
mod tests;
