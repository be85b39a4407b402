//! Requesters' mail: a new request (ticket, acknowledgement, team notice,
//! watchers from Cc) and a requester's later mail on their ticket (replies,
//! confirmations, reopening, survey answers).

use crate::address::Mailbox;
use crate::desk::effect::{Effect, event, set_status};
use crate::desk::kb::{self, Suggestion};
use crate::desk::lifecycle::Trigger;
use crate::desk::policy::Policy;
use crate::desk::ticket::{MessageKind, NewTicket, Status, TicketState};
use crate::desk::{automatic, closing, commands, mails, quote, survey};
use crate::inbound::Inbound;
use crate::lang::Lang;

/// What a requester's mail needs should it open a new ticket: the number
/// and the knowledge-base entries to suggest.
pub(crate) struct NewNumber<'a> {
    pub number: i64,
    pub suggestions: &'a [Suggestion],
}

pub(crate) fn new_ticket(
    policy: &Policy,
    mail: &Inbound,
    number: i64,
    linked_to: Option<i64>,
    now_ms: i64,
    suggestions: &[Suggestion],
) -> Vec<Effect> {
    let requester = mail
        .reply_address()
        .unwrap_or_else(|| Mailbox::new(None, "unknown@invalid"));
    let actor = mail.sender_address();
    let lang = language_for(policy, mail);
    let subject = display_subject(policy, mail);
    let class = policy.rules.classify(mail);
    let team = class
        .team
        .as_deref()
        .and_then(|t| policy.directory.team(t))
        .or_else(|| policy.directory.default_team());
    let reply_by = policy.first_response_due(class.priority, class.category.as_deref(), now_ms);
    let mut effects = vec![
        Effect::CreateTicket(NewTicket {
            number,
            subject: subject.clone(),
            requester: requester.clone(),
            lang,
            team: team.map(|t| t.name.clone()),
            tier: team.map(|t| t.tier.clone()),
            linked_to,
            category: class.category.clone(),
            priority: class.priority,
            reply_by,
            rule: class.rule.clone(),
        }),
        Effect::Attach {
            ticket: number,
            kind: if mail.auto.is_automatic() {
                MessageKind::Automatic
            } else {
                MessageKind::Request
            },
        },
        Effect::Event {
            ticket: number,
            actor: actor.clone(),
            kind: "created",
            old: None,
            new: Some(Status::New.as_str().into()),
            detail: linked_to.map(|old| format!("continues ticket {old}")),
        },
    ];
    if let Some(old) = linked_to {
        effects.push(event(
            old,
            &actor,
            "continued",
            Some(format!("new mail went to ticket {number}")),
        ));
    }
    if policy.cc_watchers && !mail.auto.is_automatic() {
        let (watchers, unusable, left_out) = watchers_of(policy, mail, &requester);
        for w in watchers {
            effects.push(Effect::Watch {
                ticket: number,
                address: w,
                add: true,
                actor: actor.clone(),
            });
        }
        for (w, why) in unusable {
            effects.push(Effect::Event {
                ticket: number,
                actor: "postdesk".into(),
                kind: "watcher-refused",
                old: None,
                new: Some(w),
                detail: Some(format!("no mail can go to {why}")),
            });
        }
        if let Some(why) = left_out {
            effects.push(event(number, "postdesk", "watchers-left-out", Some(why)));
        }
    }
    let view = TicketState {
        number,
        status: Some(Status::New),
        requester: requester.address.clone(),
        requester_name: requester.name.clone(),
        subject: subject.clone(),
        lang,
        team: team.map(|t| t.name.clone()),
        tier: team.map(|t| t.tier.clone()),
        category: class.category.clone(),
        priority: class.priority,
        ..TicketState::default()
    };
    if let Some(rule) = &class.rule {
        effects.push(event(
            number,
            "postdesk",
            "classified",
            Some(format!("rule \"{rule}\"")),
        ));
    }
    match why_no_acknowledgement(mail) {
        Some(reason) => effects.push(event(
            number,
            "postdesk",
            "no-acknowledgement",
            Some(reason),
        )),
        None => effects.push(Effect::Send(mails::acknowledgement(
            policy, mail, &view, linked_to, reply_by,
        ))),
    }
    if let Some(notice) = mails::notify_team_new(policy, mail, &view, linked_to) {
        effects.push(Effect::Send(notice));
    }
    kb::offer(&mut effects, suggestions);
    effects
}

/// Cc'd people (and extra To recipients) who become watchers: not the
/// desk, not agents; at most `workflow.watchers-per-mail` (and per ticket),
/// the first ones in the mail. Apart, with why, those no mail can go to, who
/// would only be dropped from every answer; and, when some were left out
/// for the cap, the sentence for the timeline.
fn watchers_of(
    policy: &Policy,
    mail: &Inbound,
    requester: &Mailbox,
) -> (Vec<String>, Vec<(String, String)>, Option<String>) {
    let mut all: Vec<String> = Vec::new();
    let mut unusable: Vec<(String, String)> = Vec::new();
    for m in mail.cc.iter().chain(mail.to.iter()) {
        let a = &m.address;
        if a == &policy.desk_address.address
            || a == &requester.address
            || policy.directory.agent_by_address(a).is_some()
            || all.contains(a)
            || unusable.iter().any(|(u, _)| u == a)
        {
            continue;
        }
        match m.usable() {
            Ok(()) => all.push(a.clone()),
            Err(why) => unusable.push((a.clone(), why)),
        }
    }
    let (cap, setting) = if policy.watchers_per_mail <= policy.watchers_per_ticket {
        (policy.watchers_per_mail, "workflow.watchers-per-mail")
    } else {
        (policy.watchers_per_ticket, "workflow.watchers-per-ticket")
    };
    if all.len() <= cap {
        return (all, unusable, None);
    }
    let left_out = all.split_off(cap);
    const SHOWN: usize = 5;
    let mut names = left_out
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if left_out.len() > SHOWN {
        names.push_str(&format!(" and {} more", left_out.len() - SHOWN));
    }
    let why = format!(
        "{} people on the mail were not made watchers, at most {cap} can be ({setting}): {names}",
        left_out.len()
    );
    (all, unusable, Some(why))
}

/// Why we must not auto-reply, if we must not.
fn why_no_acknowledgement(mail: &Inbound) -> Option<String> {
    if mail.auto.is_automatic() {
        return Some(automatic::detail(mail));
    }
    if mail.auto.suppress_auto_reply {
        return Some("sender asked for no automatic replies (X-Auto-Response-Suppress)".into());
    }
    if mail.from.is_none() && mail.reply_to.is_none() {
        return Some("no sender address".into());
    }
    None
}

fn display_subject(policy: &Policy, mail: &Inbound) -> String {
    let s = policy
        .tag
        .strip_tags(crate::subject::strip_reply_prefixes(&mail.subject));
    if s.trim().is_empty() {
        match language_for(policy, mail) {
            Lang::En => "(no subject)".into(),
            Lang::ZhCn => "（无主题）".into(),
        }
    } else {
        crate::subject::repeated(&s).into_owned()
    }
}

/// The requester's language: the mailbox's, or Chinese when they write Chinese.
pub fn language_for(policy: &Policy, mail: &Inbound) -> Lang {
    if policy.detect_language && mail.looks_chinese() {
        Lang::ZhCn
    } else {
        policy.lang
    }
}

pub(crate) fn from_requester(
    policy: &Policy,
    t: &TicketState,
    mail: &Inbound,
    sender: &str,
    new: NewNumber<'_>,
    now_ms: i64,
) -> Vec<Effect> {
    let text = quote::new_text(&mail.text, mail.html.as_deref());
    let mut effects = Vec::new();
    let block = commands::parse_block(&text);
    if !block.commands.is_empty() || !block.refused.is_empty() {
        let lines: Vec<&str> = block
            .commands
            .iter()
            .map(|p| p.line.as_str())
            .chain(block.refused.iter().map(|r| r.line.as_str()))
            .collect();
        effects.push(event(
            t.number,
            sender,
            "commands-ignored",
            Some(format!(
                "{sender} is not an agent; not executed: {}",
                lines.join(", ")
            )),
        ));
    }
    let status = t.status();
    // Confirming, rating and reopening are the requester's alone; a
    // watcher's mail is correspondence (it may wake a pending ticket).
    let requester = t.requester == sender;
    // A survey answer.
    if requester
        && status == Status::Closed
        && t.survey_sent
        && !t.rated
        && let Some((score, comment)) = survey::parse_rating(&text)
    {
        effects.insert(
            0,
            Effect::Attach {
                ticket: t.number,
                kind: MessageKind::Rating,
            },
        );
        effects.push(Effect::Rate {
            ticket: t.number,
            score,
            comment: comment.clone(),
            agent: t.assignee.clone(),
        });
        if score <= policy.survey.low_rating {
            effects.extend(mails::low_rating(policy, t, score, &comment).map(Effect::Send));
        }
        return effects;
    }
    if status == Status::Closed
        && t.closed_at
            .is_some_and(|c| now_ms - c > policy.reopen_window.as_millis() as i64)
    {
        return new_ticket(
            policy,
            mail,
            new.number,
            Some(t.number),
            now_ms,
            new.suggestions,
        );
    }
    effects.insert(
        0,
        Effect::Attach {
            ticket: t.number,
            kind: MessageKind::Reply,
        },
    );
    let mut notice = "reply";
    if requester && status == Status::Resolved && closing::is_confirmation(policy, &text) {
        let mut closed = t.clone();
        let confirmed = Some("confirmed by the requester".to_string());
        set_status(
            &mut closed,
            Trigger::RequesterConfirms,
            sender,
            confirmed,
            &mut effects,
        )
        .ok();
        effects.extend(closing::survey(policy, &closed, now_ms));
        notice = "confirmed";
    } else if requester
        && kb::solved_by_suggestion(t, &text)
        && closing::is_confirmation(policy, &text)
    {
        // A suggested knowledge-base article solved it: resolved and
        // confirmed by the requester at once (no survey: nobody worked on it).
        let mut work = t.clone();
        let detail = Some("solved with a suggested knowledge-base article".to_string());
        set_status(
            &mut work,
            Trigger::SolvedBySuggestion,
            sender,
            detail,
            &mut effects,
        )
        .ok();
        let confirmed = Some("confirmed by the requester".to_string());
        set_status(
            &mut work,
            Trigger::RequesterConfirms,
            sender,
            confirmed,
            &mut effects,
        )
        .ok();
        effects.push(Effect::Kb(kb::KbEffect::Helped {
            ticket: t.number,
            entries: t.kb.suggested.clone(),
        }));
        notice = "self-solved";
    } else {
        let detail = match status {
            Status::Resolved => Some("the requester says it is not fixed".to_string()),
            Status::Closed => Some("the requester wrote again".to_string()),
            _ => None,
        };
        let mut work = t.clone();
        let new = if requester || status == Status::Pending {
            set_status(
                &mut work,
                Trigger::RequesterReply,
                sender,
                detail,
                &mut effects,
            )
            .unwrap_or(status)
        } else {
            status
        };
        if new != status {
            if matches!(status, Status::Resolved | Status::Closed) {
                notice = "reopened";
            }
        } else {
            effects.push(event(t.number, sender, "reply", None));
        }
    }
    effects.extend(mails::notify_reply(policy, t, mail, &text, notice).map(Effect::Send));
    effects
}
