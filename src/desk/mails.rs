//! The mails decide asks for: who gets them, how they thread, what the
//! templates are given (described in [`vars`]). Rendering happens later,
//! in `compose` and `outbound`.

use serde_json::{Value, json};

use crate::address::Mailbox;
use crate::desk::commands;
use crate::desk::effect::OutMail;
use crate::desk::people::Agent;
use crate::desk::policy::Policy;
use crate::desk::quote;
use crate::desk::ticket::TicketState;
use crate::desk::when;
use crate::inbound::Inbound;
use crate::lang::Lang;
use crate::thread::{MAX_REFERENCES, notice_root};

pub mod vars;

/// The most of a mail's text we copy into a notice.
const MAX_QUOTED_CHARS: usize = 4000;

pub(crate) fn base_vars(policy: &Policy, t: &TicketState) -> serde_json::Map<String, Value> {
    let requester = t.requester_mailbox();
    let mut m = serde_json::Map::new();
    m.insert("desk_name".into(), policy.desk_name.clone().into());
    m.insert(
        "desk_address".into(),
        policy.desk_address.address.clone().into(),
    );
    m.insert("ticket".into(), t.number.into());
    m.insert("tag".into(), policy.tag.tag(t.number).into());
    m.insert(
        "subject".into(),
        crate::subject::repeated(&t.subject).into_owned().into(),
    );
    m.insert("requester".into(), requester.to_string().into());
    m.insert(
        "requester_name".into(),
        requester.greeting_name().to_string().into(),
    );
    m.insert("status".into(), t.status().as_str().into());
    m.insert(
        "priority".into(),
        t.priority.map(|p| p.to_string()).unwrap_or_default().into(),
    );
    m.insert(
        "category".into(),
        t.category.clone().unwrap_or_default().into(),
    );
    m.insert("team".into(), t.team.clone().unwrap_or_default().into());
    m.insert(
        "assignee".into(),
        t.assignee.clone().unwrap_or_default().into(),
    );
    m.insert("reply_marker".into(), marker(t.lang).into());
    m
}

fn marker(lang: Lang) -> &'static str {
    match lang {
        Lang::En => quote::REPLY_MARKER_EN,
        Lang::ZhCn => quote::REPLY_MARKER_ZH,
    }
}

fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTED_CHARS {
        text.trim().to_string()
    } else {
        let mut s: String = text.chars().take(MAX_QUOTED_CHARS).collect();
        s.push_str("\n[…]");
        s
    }
}

/// References for mail to the requester: their side of the conversation.
fn requester_thread(t: &TicketState) -> (Option<String>, Vec<String>) {
    let skip = t.thread.len().saturating_sub(MAX_REFERENCES);
    let refs: Vec<String> = t.thread[skip..].to_vec();
    (refs.last().cloned(), refs)
}

/// Notices to agents all hang under one stable root per ticket.
fn notice_thread(policy: &Policy, t: &TicketState) -> (Option<String>, Vec<String>) {
    let root = notice_root(t.number, &policy.id_domain, &policy.id_key);
    (Some(root.clone()), vec![root])
}

pub(crate) fn to_agents(
    policy: &Policy,
    t: &TicketState,
    template: &'static str,
    to: Vec<Mailbox>,
    vars: serde_json::Map<String, Value>,
) -> Option<OutMail> {
    if to.is_empty() {
        return None;
    }
    let (in_reply_to, references) = notice_thread(policy, t);
    let mut vars = vars;
    vars.insert("help".into(), commands::help_text(policy.lang).into());
    Some(OutMail {
        ticket: t.number,
        template,
        lang: policy.lang,
        from_name: None,
        to,
        subject: policy.tag.tagged_subject(t.number, &t.subject),
        in_reply_to,
        references,
        auto_submitted: Some("auto-generated"),
        vars: Value::Object(vars),
    })
}

/// Whoever is responsible now: the assignee, else the team.
pub(crate) fn responsible(policy: &Policy, t: &TicketState) -> Vec<Mailbox> {
    if let Some(a) = t
        .assignee
        .as_deref()
        .and_then(|a| policy.directory.agent(a))
    {
        return vec![a.mailbox()];
    }
    t.team
        .as_deref()
        .map(|team| policy.directory.team_recipients(team))
        .unwrap_or_default()
}

/// The acknowledgement of a new ticket.
pub fn acknowledgement(
    policy: &Policy,
    mail: &Inbound,
    t: &TicketState,
    linked_to: Option<i64>,
    reply_by_ms: i64,
) -> OutMail {
    let mut references: Vec<String> = mail.references.clone();
    references.push(mail.message_id.clone());
    let skip = references.len().saturating_sub(MAX_REFERENCES);
    references.drain(..skip);
    let attachments: Vec<&str> = mail.attachments.iter().map(|a| a.name.as_str()).collect();
    let mut vars = base_vars(policy, t);
    vars.insert("summary".into(), summary(&mail.text).into());
    vars.insert("attachments".into(), json!(attachments));
    vars.insert(
        "reply_by".into(),
        when::human_time(
            reply_by_ms,
            &policy.time_zone,
            &policy.time_zone_name,
            t.lang,
        )
        .into(),
    );
    vars.insert("reply_by_ms".into(), reply_by_ms.into());
    vars.insert(
        "linked_to".into(),
        linked_to
            .map(|n| policy.tag.tag(n))
            .unwrap_or_default()
            .into(),
    );
    OutMail {
        ticket: t.number,
        template: "ack",
        lang: t.lang,
        from_name: None,
        to: vec![t.requester_mailbox()],
        subject: policy.tag.tagged_subject(t.number, &t.subject),
        in_reply_to: Some(mail.message_id.clone()),
        references,
        auto_submitted: Some("auto-replied"),
        vars: Value::Object(vars),
    }
}

/// A short summary of the request for the acknowledgement: the first lines.
fn summary(text: &str) -> String {
    const MAX_LINES: usize = 12;
    const MAX_CHARS: usize = 800;
    let mut out = String::new();
    for line in text.lines().map(str::trim_end).take(MAX_LINES) {
        if out.chars().count() + line.chars().count() > MAX_CHARS {
            out.push_str("…\n");
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_string()
}

/// Tells the team a new ticket arrived.
pub fn notify_team_new(
    policy: &Policy,
    mail: &Inbound,
    t: &TicketState,
    linked_to: Option<i64>,
) -> Option<OutMail> {
    let to = t
        .team
        .as_deref()
        .map(|team| policy.directory.team_recipients(team))
        .unwrap_or_default();
    let mut vars = base_vars(policy, t);
    vars.insert("text".into(), clip(&mail.text).into());
    let attachments: Vec<String> = mail
        .attachments
        .iter()
        .map(|a| format!("{} ({} bytes)", a.name, a.data.len()))
        .collect();
    vars.insert("attachments".into(), json!(attachments));
    vars.insert(
        "linked_to".into(),
        linked_to
            .map(|n| policy.tag.tag(n))
            .unwrap_or_default()
            .into(),
    );
    vars.insert("automatic".into(), mail.auto.is_automatic().into());
    to_agents(policy, t, "notify-new", to, vars)
}

/// Tells the assignee (or the team) that the requester wrote. `notice` is
/// `reply`, `reopened` or `confirmed`.
pub fn notify_reply(
    policy: &Policy,
    t: &TicketState,
    mail: &Inbound,
    text: &str,
    notice: &str,
) -> Option<OutMail> {
    let mut vars = base_vars(policy, t);
    vars.insert("notice".into(), notice.into());
    vars.insert(
        "from".into(),
        mail.from
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default()
            .into(),
    );
    vars.insert("text".into(), clip(text).into());
    let attachments: Vec<&str> = mail.attachments.iter().map(|a| a.name.as_str()).collect();
    vars.insert("attachments".into(), json!(attachments));
    to_agents(policy, t, "notify-reply", responsible(policy, t), vars)
}

/// Tells the assignee (or the team) that our mail could not be delivered.
pub fn notify_bounce(policy: &Policy, t: &TicketState, detail: &str) -> Option<OutMail> {
    let mut vars = base_vars(policy, t);
    vars.insert("detail".into(), detail.into());
    to_agents(policy, t, "bounce", responsible(policy, t), vars)
}

/// Tells the team's lead that mail to one of the desk's own addresses
/// failed: such an address is never suppressed, someone must fix it.
pub fn bounce_to_lead(policy: &Policy, t: &TicketState, detail: &str) -> Option<OutMail> {
    let lead = policy.directory.lead_of(t.team.as_deref()?)?;
    if responsible(policy, t)
        .iter()
        .any(|m| m.address == lead.address)
    {
        return None;
    }
    let mut vars = base_vars(policy, t);
    vars.insert("detail".into(), detail.into());
    to_agents(policy, t, "bounce", vec![lead], vars)
}

/// Tells the ticket's team (and its assignee) that the desk stopped
/// mailing about it: a loop is likely ([`crate::desk::flood`]).
pub fn notify_flood(policy: &Policy, t: &TicketState, detail: &str) -> Option<OutMail> {
    let team = t
        .team
        .as_deref()
        .or_else(|| policy.directory.default_team().map(|x| x.name.as_str()));
    let mut to = team
        .map(|x| policy.directory.team_recipients(x))
        .unwrap_or_default();
    for m in responsible(policy, t) {
        if !to.iter().any(|x| x.address == m.address) {
            to.push(m);
        }
    }
    let mut vars = base_vars(policy, t);
    vars.insert("detail".into(), detail.into());
    to_agents(policy, t, "flood", to, vars)
}

/// An internal note, for the team only (not back to its author).
pub fn note_to_team(
    policy: &Policy,
    t: &TicketState,
    author: &Agent,
    text: &str,
) -> Option<OutMail> {
    let mut to = t
        .team
        .as_deref()
        .map(|team| policy.directory.team_recipients(team))
        .unwrap_or_default();
    to.retain(|m| !author.addresses.contains(&m.address));
    let mut vars = base_vars(policy, t);
    vars.insert("agent".into(), author.display_name.clone().into());
    vars.insert("text".into(), clip(text).into());
    to_agents(policy, t, "note", to, vars)
}

/// Tells a team that a ticket was escalated to it.
pub fn notify_escalated(
    policy: &Policy,
    t: &TicketState,
    team: &str,
    by: &str,
    text: &str,
) -> Option<OutMail> {
    let mut vars = base_vars(policy, t);
    vars.insert("by".into(), by.into());
    vars.insert("text".into(), clip(text).into());
    vars.insert("reason".into(), "".into());
    to_agents(
        policy,
        t,
        "escalated",
        policy.directory.team_recipients(team),
        vars,
    )
}

/// An agent's words to the requester (and watchers), from the desk address
/// under the agent's name. `kind` is `reply` or `resolved`.
///
/// People see each other's addresses only when they did already: one mail
/// goes to the requester and the watchers who were on the mail that opened
/// the ticket with them ([`TicketState::request_addresses`]); every other
/// watcher (added later by `#cc add`) gets a copy of their own.
pub fn relay_to_requester(
    policy: &Policy,
    t: &TicketState,
    agent: &Agent,
    kind: &'static str,
    text: &str,
) -> Vec<OutMail> {
    let mut together = vec![t.requester_mailbox()];
    let mut apart: Vec<Mailbox> = Vec::new();
    for w in &t.watchers {
        if together.iter().chain(&apart).any(|m| &m.address == w)
            || policy.directory.agent_by_address(w).is_some()
        {
            continue;
        }
        if t.request_addresses.contains(w) {
            together.push(Mailbox::new(None, w));
        } else {
            apart.push(Mailbox::new(None, w));
        }
    }
    let (in_reply_to, references) = requester_thread(t);
    let mut vars = base_vars(policy, t);
    vars.insert("agent".into(), agent.display_name.clone().into());
    vars.insert("text".into(), text.trim().into());
    let first = OutMail {
        ticket: t.number,
        template: kind,
        lang: t.lang,
        from_name: Some(format!("{} ({})", agent.display_name, policy.desk_name)),
        to: together,
        subject: policy.tag.tagged_subject(t.number, &t.subject),
        in_reply_to,
        references,
        // A person wrote it: not marked automatic, so the requester's client treats it as mail.
        auto_submitted: None,
        vars: Value::Object(vars),
    };
    let copies: Vec<OutMail> = apart
        .into_iter()
        .map(|m| OutMail {
            to: vec![m],
            ..first.clone()
        })
        .collect();
    std::iter::once(first).chain(copies).collect()
}

/// What happened to an agent's commands, when some were refused.
pub fn command_result(
    policy: &Policy,
    t: &TicketState,
    agent: &Agent,
    applied: &[String],
    refused: &[(String, String)],
) -> OutMail {
    let mut vars = base_vars(policy, t);
    vars.insert("agent".into(), agent.display_name.clone().into());
    vars.insert("applied".into(), json!(applied));
    let refused: Vec<Value> = refused
        .iter()
        .map(|(l, w)| json!({"line": l, "reason": w}))
        .collect();
    vars.insert("refused".into(), json!(refused));
    let mut m = to_agents(policy, t, "command-result", vec![agent.mailbox()], vars)
        .expect("an agent always has an address");
    m.subject = format!(
        "{} {}",
        policy.tag.tag(t.number),
        crate::subject::repeated(&t.subject)
    );
    m
}

/// The satisfaction survey: reply with a number, or click a link that prefills one.
pub fn survey(policy: &Policy, t: &TicketState) -> OutMail {
    let (in_reply_to, references) = requester_thread(t);
    let subject = policy.tag.tagged_subject(t.number, &t.subject);
    let reply_subject = format!("Re: {subject}");
    let links: Vec<Value> = (1..=5)
        .rev()
        .map(|n| {
            json!({
                "score": n,
                "href": format!(
                    "mailto:{}?subject={}&body={}",
                    policy.desk_address.address,
                    percent_encode(&reply_subject),
                    n
                ),
            })
        })
        .collect();
    let mut vars = base_vars(policy, t);
    vars.insert("links".into(), json!(links));
    OutMail {
        ticket: t.number,
        template: "survey",
        lang: t.lang,
        from_name: None,
        to: vec![t.requester_mailbox()],
        subject,
        in_reply_to,
        references,
        auto_submitted: Some("auto-generated"),
        vars: Value::Object(vars),
    }
}

/// A low rating, for the team lead.
pub fn low_rating(policy: &Policy, t: &TicketState, score: u8, comment: &str) -> Option<OutMail> {
    let team = t.team.as_deref()?;
    let lead = policy.directory.lead_of(team)?;
    let mut vars = base_vars(policy, t);
    vars.insert("score".into(), score.into());
    vars.insert("comment".into(), comment.into());
    to_agents(policy, t, "low-rating", vec![lead], vars)
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for mailto links.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_for_mailto() {
        assert_eq!(
            percent_encode("Re: [#7] 打印"),
            "Re%3A%20%5B%237%5D%20%E6%89%93%E5%8D%B0"
        );
    }
}
