//! Agents' mail and commands: an agent's answer (relayed to the requester)
//! or internal note, the `#commands` in it, and the same commands given by
//! an admin at the shell. Each command is checked against the ticket and
//! refused with a reason, never half-applied.

use crate::desk::commands::{self, Command, CommandBlock};
use crate::desk::effect::{Effect, OutMail, event, set_status, update};
use crate::desk::lifecycle::Trigger;
use crate::desk::merge::{self, Related};
use crate::desk::people::Agent;
use crate::desk::policy::Policy;
use crate::desk::ticket::{Field, MessageKind, Status, TicketState};
use crate::desk::{approval, closing, kb, mails, outside, quote, spam, verify};
use crate::inbound::Inbound;

pub(crate) fn from_agent(
    policy: &Policy,
    ticket: &TicketState,
    agent: &Agent,
    mail: &Inbound,
    related: &Related,
    now_ms: i64,
) -> Vec<Effect> {
    let text = quote::new_text(&mail.text, mail.html.as_deref());
    let mut block = commands::parse_block(&text);
    // Subject commands count only when the agent added them: the requester's
    // own subject ("please #close my account") must never act.
    for p in commands::parse_subject(&mail.subject) {
        if !ticket
            .subject
            .to_lowercase()
            .contains(&p.line.to_lowercase())
        {
            block.commands.push(p);
        }
    }
    let actor = agent.name.clone();
    if let Err(why) = verify::verify_agent(policy, agent, mail, &block) {
        return unverified_agent_mail(ticket, &actor, &block, why);
    }
    let mut work = ticket.clone();
    let mut effects = Vec::new();
    let mut applied: Vec<String> = Vec::new();
    let mut refused: Vec<(String, String)> = block
        .refused
        .iter()
        .map(|r| (r.line.clone(), r.reason.clone()))
        .collect();
    let mut status_cmd: Option<Status> = None;
    let mut escalated_to: Option<String> = None;
    let mut spam_said: Option<bool> = None;
    let mut canned: Option<String> = None;
    for p in &block.commands {
        if let Command::Reply(name) = &p.command {
            match canned_reply(policy, &work, &block, canned.as_deref(), name) {
                Ok(()) => {
                    canned = Some(name.clone());
                    effects.push(event(
                        ticket.number,
                        &actor,
                        "canned-reply",
                        Some(name.clone()),
                    ));
                    applied.push(format!("{} (reply {name})", p.line));
                }
                Err(why) => refused.push((p.line.clone(), why)),
            }
            continue;
        }
        let cx = Cx { related, now_ms };
        match apply_command(policy, &mut work, agent, &p.command, &cx, &mut effects) {
            Ok(Outcome::Applied(what)) => {
                if let Some(s) = command_status(&p.command) {
                    status_cmd = Some(s);
                }
                match p.command {
                    Command::Spam => spam_said = Some(true),
                    Command::NotSpam => spam_said = Some(false),
                    _ => {}
                }
                if matches!(p.command, Command::Escalate(_)) {
                    escalated_to = work.team.clone();
                }
                applied.push(format!("{} ({what})", p.line));
            }
            Ok(Outcome::Silent) => {}
            Err(why) => refused.push((p.line.clone(), why)),
        }
    }
    // Any agent mail opens a new ticket, even one that only adds a note.
    if status_cmd.is_none() {
        set_status(&mut work, Trigger::AgentTouch, &actor, None, &mut effects).ok();
    }
    let public_text = block.rest.trim().to_string();
    // An agent forwarding mail that is already this ticket's (`FW: [#7] …`)
    // adds it to the record; the requester is not sent their own mail back.
    let forwarded_in = canned.is_none()
        && crate::desk::forward::forwarded(mail).is_some_and(|f| {
            f.message_id.is_some() || crate::desk::forward::is_forward_subject(&mail.subject)
        });
    if forwarded_in {
        effects.push(event(ticket.number, &actor, "forward-joined", None));
    }
    // Words to a spammer are never relayed: after #spam the mail is a note.
    let is_note = block.internal_note
        || forwarded_in
        || (public_text.is_empty() && canned.is_none())
        || spam_said == Some(true);
    if spam_said == Some(false) {
        effects.push(late_ack(policy, &work, now_ms));
    }
    // ---- knowledge base: a draft on resolution, and the #kb commands.
    let kb_commands: Vec<(String, commands::KbAction)> = block
        .commands
        .iter()
        .filter_map(|p| match &p.command {
            Command::Kb(a) => Some((p.line.clone(), a.clone())),
            _ => None,
        })
        .collect();
    let kb = kb::plan(
        policy.kb.enabled,
        &work,
        status_cmd == Some(Status::Resolved),
        &kb_commands,
        if is_note { "" } else { &public_text },
        &actor,
    );
    effects.extend(kb.effects.into_iter().map(Effect::Kb));
    applied.extend(kb.applied);
    refused.extend(kb.refused);
    // ---- end knowledge base
    effects.insert(
        0,
        Effect::Attach {
            ticket: ticket.number,
            kind: if is_note {
                MessageKind::Note
            } else {
                MessageKind::AgentReply
            },
        },
    );
    if is_note {
        if block.internal_note && !public_text.is_empty() {
            effects
                .extend(mails::note_to_team(policy, &work, agent, &public_text).map(Effect::Send));
        }
    } else {
        if ticket.first_response_at.is_none() {
            effects.push(Effect::FirstResponse {
                ticket: ticket.number,
            });
        }
        let mail_kind = match status_cmd {
            Some(Status::Resolved) => "resolved",
            _ => "reply",
        };
        let mut relays = mails::relay_to_requester(policy, &work, agent, mail_kind, &public_text);
        if let Some(name) = &canned {
            for r in &mut relays {
                r.vars["canned"] = name.clone().into();
            }
        }
        // "Reply all" from the agent's own client: who was on it has it already.
        let had_it = outside::skip_direct_recipients(&mut relays, mail);
        if !had_it.is_empty() {
            effects.push(event(
                ticket.number,
                &actor,
                "answered-directly",
                Some(format!(
                    "already received the agent's mail: {}",
                    had_it.join(", ")
                )),
            ));
        }
        send_relay(policy, &work, relays, Some(agent), &mut effects);
    }
    if status_cmd == Some(Status::Resolved) && is_note {
        // Resolved without words for the requester: still ask them to confirm.
        let relays = mails::relay_to_requester(policy, &work, agent, "resolved", "");
        send_relay(policy, &work, relays, Some(agent), &mut effects);
    }
    if status_cmd == Some(Status::Closed) {
        effects.extend(closing::survey(policy, &work, now_ms));
    }
    if let Some(team) = escalated_to {
        effects.extend(
            mails::notify_escalated(policy, &work, &team, &actor, &public_text).map(Effect::Send),
        );
    }
    if !refused.is_empty() {
        effects.push(event(
            ticket.number,
            &actor,
            "commands-refused",
            Some(
                refused
                    .iter()
                    .map(|(l, w)| format!("{l}: {w}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        ));
        effects.push(Effect::Send(mails::command_result(
            policy, &work, agent, &applied, &refused,
        )));
    }
    merge::move_last(&mut effects);
    effects
}

/// Commands given by an admin at the shell (`postdesk ticket N set`), with
/// the same rules, events and mails as an agent's commands by mail; `actor`
/// names who, e.g. "admin (cli)". All or nothing: when one command is
/// refused, no effect is returned. Returns (effects, applied, refused).
pub fn from_admin(
    policy: &Policy,
    ticket: &TicketState,
    commands: &[(String, Command)],
    actor: &str,
    now_ms: i64,
) -> (Vec<Effect>, Vec<String>, Vec<(String, String)>) {
    let admin = Agent {
        name: actor.to_string(),
        display_name: policy.desk_name.clone(),
        addresses: vec![policy.desk_address.address.clone()],
        team: String::new(),
        secret: None,
    };
    let mut work = ticket.clone();
    let mut effects = Vec::new();
    let mut applied = Vec::new();
    let mut refused = Vec::new();
    let mut status_cmd = None;
    let mut escalated_to = None;
    let related = Related::default();
    let cx = Cx {
        related: &related,
        now_ms,
    };
    for (line, cmd) in commands {
        match apply_command(policy, &mut work, &admin, cmd, &cx, &mut effects) {
            Ok(Outcome::Applied(what)) => {
                if let Some(s) = command_status(cmd) {
                    status_cmd = Some(s);
                }
                if matches!(cmd, Command::Escalate(_)) {
                    escalated_to = work.team.clone();
                }
                applied.push(format!("{line} ({what})"));
            }
            Ok(Outcome::Silent) => {}
            Err(why) => refused.push((line.clone(), why)),
        }
    }
    if !refused.is_empty() {
        return (Vec::new(), applied, refused);
    }
    if status_cmd == Some(Status::Resolved) {
        // As with an agent's #resolve without words: ask the requester to confirm.
        let mut relays = mails::relay_to_requester(policy, &work, &admin, "resolved", "");
        for m in &mut relays {
            m.from_name = None;
        }
        send_relay(policy, &work, relays, None, &mut effects);
        let kb = kb::plan(policy.kb.enabled, &work, true, &[], "", actor);
        effects.extend(kb.effects.into_iter().map(Effect::Kb));
    }
    if status_cmd == Some(Status::Closed) {
        effects.extend(closing::survey(policy, &work, now_ms));
    }
    if commands.iter().any(|(_, c)| *c == Command::NotSpam) {
        effects.push(late_ack(policy, &work, now_ms));
    }
    if let Some(team) = escalated_to {
        effects.extend(mails::notify_escalated(policy, &work, &team, actor, "").map(Effect::Send));
    }
    (effects, applied, refused)
}

/// The acknowledgement a ticket held for spam never got, after `#notspam`:
/// its first answer is due from now, as if the mail had just come in.
fn late_ack(policy: &Policy, t: &TicketState, now_ms: i64) -> Effect {
    let reply_by = policy.first_response_due(t.priority, t.category.as_deref(), now_ms);
    Effect::Send(spam::late_acknowledgement(policy, t, reply_by))
}

/// Sends an agent's words to the requester and watchers (one mail, or
/// several when later watchers get copies of their own), but not to an
/// address no mail can go to (a watcher added before addresses were
/// checked, a requester whose From was broken): one such address must not
/// stop the answer to everybody else. Each one left out is recorded, a
/// watcher among them is removed, and `author`, the agent who wrote by
/// mail, is told once who did not get it and who did.
fn send_relay(
    policy: &Policy,
    t: &TicketState,
    relays: Vec<OutMail>,
    author: Option<&Agent>,
    effects: &mut Vec<Effect>,
) {
    let mut dropped = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    let mut went_to: Vec<String> = Vec::new();
    for mut relay in relays {
        for (m, why) in relay.drop_unusable() {
            effects.push(Effect::Event {
                ticket: t.number,
                actor: "postdesk".into(),
                kind: "recipient-dropped",
                old: None,
                new: Some(m.address.clone()),
                detail: Some(format!("{} mail not sent to it: {why}", relay.template)),
            });
            if t.watchers.contains(&m.address) && !removed.contains(&m.address) {
                effects.push(Effect::Watch {
                    ticket: t.number,
                    address: m.address.clone(),
                    add: false,
                    actor: "postdesk".into(),
                });
                removed.push(m.address.clone());
            }
            dropped.push(why);
        }
        went_to.extend(relay.to.iter().map(|m| m.address.clone()));
        if !relay.to.is_empty() {
            effects.push(Effect::Send(relay));
        }
    }
    let Some(agent) = author.filter(|_| !dropped.is_empty()) else {
        return;
    };
    let mut detail = String::from("Your answer could not go to:\n");
    for why in &dropped {
        detail.push_str(&format!("  {why}\n"));
    }
    if went_to.is_empty() {
        detail.push_str("Nobody received it.");
    } else {
        detail.push_str(&format!("It went to {}.", went_to.join(", ")));
    }
    if !removed.is_empty() {
        detail.push_str(&format!(
            "\nNo longer a watcher of the ticket: {}.",
            removed.join(", ")
        ));
    }
    let mut vars = mails::base_vars(policy, t);
    vars.insert("detail".into(), detail.into());
    effects.extend(
        mails::to_agents(policy, t, "bounce", vec![agent.mailbox()], vars).map(Effect::Send),
    );
}

/// A mail from an agent's address that failed verification: kept as
/// correspondence, nothing executed, the attempt recorded.
fn unverified_agent_mail(
    ticket: &TicketState,
    actor: &str,
    block: &CommandBlock,
    why: String,
) -> Vec<Effect> {
    let mut effects = vec![Effect::Attach {
        ticket: ticket.number,
        kind: MessageKind::Unverified,
    }];
    let lines: Vec<&str> = block.commands.iter().map(|p| p.line.as_str()).collect();
    effects.push(event(
        ticket.number,
        actor,
        "unverified-agent-mail",
        Some(if lines.is_empty() {
            why
        } else {
            format!("{why}; not executed: {}", lines.join(", "))
        }),
    ));
    effects
}

enum Outcome {
    /// Changed the ticket; the words say how.
    Applied(String),
    /// Nothing to report (`#note`, `#secret`).
    Silent,
}

fn command_status(c: &Command) -> Option<Status> {
    match c {
        Command::Resolve => Some(Status::Resolved),
        Command::Pending => Some(Status::Pending),
        Command::Close => Some(Status::Closed),
        Command::Reopen | Command::Open => Some(Status::Open),
        _ => None,
    }
}

/// What commands may need besides the ticket: what the store looked up for
/// them, and the clock.
struct Cx<'a> {
    related: &'a Related,
    now_ms: i64,
}

/// Applies one command to the working copy of the ticket, pushing its effects.
fn apply_command(
    policy: &Policy,
    t: &mut TicketState,
    agent: &Agent,
    cmd: &Command,
    cx: &Cx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<Outcome, String> {
    let actor = agent.name.as_str();
    let n = t.number;
    match cmd {
        Command::Note | Command::Secret(_) => Ok(Outcome::Silent),
        Command::Spam => spam::agent_says(policy, t, true, actor, effects).map(Outcome::Applied),
        Command::NotSpam => {
            spam::agent_says(policy, t, false, actor, effects).map(Outcome::Applied)
        }
        c if command_status(c).is_some() => {
            let target = command_status(c).unwrap_or(Status::Open);
            let new = set_status(t, Trigger::AgentSets(target), actor, None, effects)?;
            Ok(Outcome::Applied(format!("status {new}")))
        }
        Command::Priority(p) => {
            if t.priority == Some(*p) {
                return Err(format!("the priority is already {p}"));
            }
            effects.push(update(
                n,
                Field::Priority,
                t.priority.map(|x| x.to_string()),
                Some(p.to_string()),
                actor,
            ));
            t.priority = Some(*p);
            Ok(Outcome::Applied(format!("priority {p}")))
        }
        Command::Category(c) => {
            let c = c.trim().to_lowercase();
            if !policy.categories.is_empty()
                && !policy.categories.iter().any(|k| k.eq_ignore_ascii_case(&c))
            {
                return Err(format!(
                    "unknown category `{c}`; expected one of: {}",
                    policy.categories.join(", ")
                ));
            }
            effects.push(update(
                n,
                Field::Category,
                t.category.clone(),
                Some(c.clone()),
                actor,
            ));
            t.category = Some(c.clone());
            Ok(Outcome::Applied(format!("category {c}")))
        }
        Command::Assign(who) => {
            let a = policy.directory.agent(who).ok_or_else(|| {
                let names: Vec<&str> = policy
                    .directory
                    .agents
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect();
                format!("no agent `{who}`; expected one of: {}", names.join(", "))
            })?;
            assign(t, a, actor, effects)
        }
        Command::Take => assign(t, agent, actor, effects),
        Command::Escalate(arg) => {
            let team = policy.directory.escalation_target(arg)?;
            if t.team
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(&team.name))
            {
                return Err(format!("the ticket is already with {}", team.name));
            }
            effects.push(update(
                n,
                Field::Team,
                t.team.clone(),
                Some(team.name.clone()),
                actor,
            ));
            if t.tier.as_deref() != Some(team.tier.as_str()) {
                effects.push(update(
                    n,
                    Field::Tier,
                    t.tier.clone(),
                    Some(team.tier.clone()),
                    actor,
                ));
            }
            // The new team decides who takes it.
            if t.assignee.is_some() {
                effects.push(update(n, Field::Assignee, t.assignee.clone(), None, actor));
                t.assignee = None;
            }
            t.team = Some(team.name.clone());
            t.tier = Some(team.tier.clone());
            Ok(Outcome::Applied(format!(
                "now with {} ({})",
                team.name, team.tier
            )))
        }
        Command::CcAdd(addr) | Command::CcRemove(addr) => {
            let add = matches!(cmd, Command::CcAdd(_));
            let a = crate::address::normalise(addr);
            if !a.contains('@') {
                return Err(format!("`{addr}` is not an e-mail address"));
            }
            // An address nobody can send to would only be dropped from
            // every answer; one already there can still be removed.
            if add {
                crate::address::usable(&a).map_err(|why| format!("no mail can go to {why}"))?;
            }
            let present = t.watchers.contains(&a);
            if add == present {
                return Err(if add {
                    format!("{a} already receives updates")
                } else {
                    format!("{a} is not a watcher")
                });
            }
            if add {
                watcher_room(policy, t, effects)?;
            }
            effects.push(Effect::Watch {
                ticket: n,
                address: a.clone(),
                add,
                actor: actor.to_string(),
            });
            if add {
                t.watchers.push(a.clone());
            } else {
                t.watchers.retain(|w| w != &a);
            }
            Ok(Outcome::Applied(if add {
                format!("{a} added")
            } else {
                format!("{a} removed")
            }))
        }
        // Planned after all commands by `kb::plan`, which needs to
        // know whether the mail resolved the ticket.
        Command::Kb(_) => Ok(Outcome::Silent),
        Command::Time(minutes) => {
            effects.push(Effect::TimeWorked {
                ticket: n,
                agent: actor.to_string(),
                minutes: *minutes,
            });
            Ok(Outcome::Applied(format!(
                "{} recorded",
                crate::desk::timelog::format_minutes(i64::from(*minutes))
            )))
        }
        Command::New(_) => Err(format!(
            "#new opens a ticket: write it as the first line of a new mail to the desk, not in a mail about {}",
            policy.tag.tag(n)
        )),
        Command::Quiet => Err(
            "#quiet is for a mail that opens a ticket on someone's behalf (a forward or #new); this ticket exists".into(),
        ),
        Command::Merge { into, force } => {
            merge::merge(policy, t, agent, cx.related, *into, *force, effects).map(Outcome::Applied)
        }
        Command::Split => {
            merge::split(policy, t, agent, cx.related, cx.now_ms, effects).map(Outcome::Applied)
        }
        Command::Approval { approver, reason } => {
            let ask = approval::Ask {
                approver,
                reason,
                request: cx.related.request_text.as_deref(),
            };
            approval::request(policy, t, agent, ask, cx.now_ms, effects).map(Outcome::Applied)
        }
        Command::Queue | Command::Status => Err(format!(
            "`#{}` answers a new mail to the desk (no ticket tag), not a reply on a ticket",
            cmd.keyword()
        )),
        _ => Err("not supported".into()),
    }
}

/// Whether `#reply name` can answer this ticket: one canned reply per
/// mail, never in an internal note, and only one written in the ticket's
/// language (the requester reads it).
fn canned_reply(
    policy: &Policy,
    t: &TicketState,
    block: &CommandBlock,
    already: Option<&str>,
    name: &str,
) -> Result<(), String> {
    if block.internal_note {
        return Err(
            "a canned reply goes to the requester; it cannot be part of an internal note (#note)"
                .into(),
        );
    }
    if let Some(first) = already {
        return Err(format!(
            "one canned reply per mail; this one already answers with `{first}`"
        ));
    }
    policy.canned.check(name, t.lang)
}

/// Refuses one more watcher when the ticket, or this mail, has as many as
/// the settings allow: every watcher gets every public update.
fn watcher_room(policy: &Policy, t: &TicketState, effects: &[Effect]) -> Result<(), String> {
    if t.watchers.len() >= policy.watchers_per_ticket {
        return Err(format!(
            "the ticket has {} watchers, the most it can have (workflow.watchers-per-ticket); remove one with #cc remove first",
            t.watchers.len()
        ));
    }
    let added = effects
        .iter()
        .filter(|e| matches!(e, Effect::Watch { add: true, .. }))
        .count();
    if added >= policy.watchers_per_mail {
        return Err(format!(
            "one mail can add at most {} watchers (workflow.watchers-per-mail)",
            policy.watchers_per_mail
        ));
    }
    Ok(())
}

fn assign(
    t: &mut TicketState,
    a: &Agent,
    actor: &str,
    effects: &mut Vec<Effect>,
) -> Result<Outcome, String> {
    if t.assignee
        .as_deref()
        .is_some_and(|x| x.eq_ignore_ascii_case(&a.name))
    {
        return Err(format!("the ticket is already assigned to {}", a.name));
    }
    effects.push(update(
        t.number,
        Field::Assignee,
        t.assignee.clone(),
        Some(a.name.clone()),
        actor,
    ));
    t.assignee = Some(a.name.clone());
    Ok(Outcome::Applied(format!("assigned to {}", a.name)))
}
