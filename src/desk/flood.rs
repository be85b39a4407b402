//! The flood breaker: the last guard against a loop through the desk.
//!
//! [`crate::desk::limits`] counts automatic mail to people outside the
//! desk. Mail that looks written by a person (an agent's answer relayed to
//! the requester) and notices to agents are not counted there, and must not
//! be: a person is never held back by a per-hour budget. But two robots that
//! answer every mail without `Auto-Submitted` (a requester's robot and an
//! agent's cheap out-of-office) then talk through the desk for ever: every
//! relay is answered by the requester's robot, every notice of that answer by
//! the agent's, each answer relayed again. Measured on the lab servers
//! before this breaker: 470 mails from the desk about one ticket in 150 s,
//! still going (with it: 41, and quiet after about 15 s).
//!
//! The breaker counts every mail the desk sends about a ticket, for each
//! mailbox it goes to ([`mailbox_key`]). When one mailbox would get more
//! than `limits.flood.mails` of them within `limits.flood.window`, and no
//! person changed the ticket meanwhile (a command, a rating, an admin's
//! action: what a robot's answer cannot do), the ticket is flagged
//! (`flood-paused` in its timeline; `postdesk ticket N` shows it), nothing
//! more is sent about it (each mail held back is a `held-back` entry), and
//! its team is told, once. Sending resumes when a person changes the ticket,
//! or by itself once a whole window passed with nothing held back (the
//! robots went quiet): the next mail about it goes, counted afresh.
//!
//! Counting per mailbox rather than per ticket keeps a busy ticket with many
//! watchers (each watcher added later gets a copy of their own) from looking
//! like a flood; a loop always has one mailbox at each end.
//!
//! Pure, like [`crate::desk::limits`]: [`lookups`] names the tickets whose
//! history the pipeline must read, it answers with [`Facts`], and [`gate`]
//! turns the mails the breaker stops into timeline entries before anything
//! is applied.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;

use crate::address::mailbox_key;
use crate::desk::effect::{Effect, OutMail, event};
use crate::desk::mails;
use crate::desk::policy::Policy;
use crate::desk::ticket::TicketState;

/// `[limits.flood]`: when the desk stops mailing about a ticket.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Flood {
    /// More than this many mails about one ticket to one mailbox within
    /// `window`, with no change by a person, pauses the ticket. 0 turns the
    /// breaker off.
    pub mails: u32,
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub window: Duration,
}

impl Default for Flood {
    fn default() -> Flood {
        Flood {
            mails: 20,
            window: Duration::from_secs(600),
        }
    }
}

/// The timeline entry that flags a ticket: nothing is sent about it.
pub const PAUSED: &str = "flood-paused";
/// The timeline entry that ends a pause.
pub const RESUMED: &str = "flood-resumed";
/// The entries that switch a ticket's sending off and on.
pub const SWITCHES: &[&str] = &[PAUSED, RESUMED];

/// Timeline entries (by kind) that only a person's deliberate act makes: an
/// agent's or an admin's command, a requester's rating. A status change
/// counts only to pending, resolved or closed: the moves to open are what
/// any mail does, a robot's too.
const BY_A_PERSON: &[&str] = &[
    "priority",
    "category",
    "team",
    "assignee",
    "tier",
    "watcher-added",
    "watcher-removed",
    "rating",
];

/// What the pipeline must read before [`gate`] can judge.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lookups {
    /// Tickets (already stored) that mails in the decision are about.
    pub tickets: BTreeSet<i64>,
    /// The start of the window: history before it does not count.
    pub since: i64,
}

/// One timeline entry, as the breaker reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Happened {
    pub at: i64,
    pub kind: String,
    pub actor: String,
    pub new: Option<String>,
}

/// What the store holds about one ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketFacts {
    /// The ticket, for the notice to its team.
    pub ticket: TicketState,
    /// Its latest [`SWITCHES`] entry, of any age: (kind, at).
    pub last_switch: Option<(String, i64)>,
    /// Each mail queued about it since [`Lookups::since`]: when, and to whom.
    pub sent: Vec<(i64, Vec<String>)>,
    /// Its timeline since [`Lookups::since`].
    pub events: Vec<Happened>,
}

/// The store's answers to [`Lookups`], per ticket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub tickets: BTreeMap<i64, TicketFacts>,
}

/// Since when sending about a ticket is paused, if it is, given its
/// [`SWITCHES`] entries in time order (any other entries are skipped).
pub fn paused_since<'a>(entries: impl IntoIterator<Item = (&'a str, i64)>) -> Option<i64> {
    entries
        .into_iter()
        .filter(|(kind, _)| SWITCHES.contains(kind))
        .last()
        .and_then(|(kind, at)| (kind == PAUSED).then_some(at))
}

fn by_a_person(kind: &str, actor: &str, new: Option<&str>) -> bool {
    actor != "postdesk"
        && (BY_A_PERSON.contains(&kind)
            || (kind == "status" && matches!(new, Some("pending" | "resolved" | "closed"))))
}

/// Who changed ticket `n` in `effects` as only a person does, if anyone.
fn person_in(effects: &[Effect], n: i64) -> Option<&str> {
    effects.iter().find_map(|e| {
        let (ticket, kind, actor, new) = match e {
            Effect::Update {
                ticket,
                field,
                actor,
                new,
                ..
            } => (*ticket, field.as_str(), actor.as_str(), new.as_deref()),
            Effect::Watch {
                ticket, add, actor, ..
            } => {
                let kind = if *add {
                    "watcher-added"
                } else {
                    "watcher-removed"
                };
                (*ticket, kind, actor.as_str(), None)
            }
            Effect::Rate { ticket, .. } => (*ticket, "rating", "requester", None),
            _ => return None,
        };
        (ticket == n && by_a_person(kind, actor, new)).then_some(actor)
    })
}

/// What the store must read before [`gate`] can judge `effects`.
pub fn lookups(settings: &Flood, effects: &[Effect], now_ms: i64) -> Lookups {
    let mut l = Lookups {
        since: now_ms - settings.window.as_millis() as i64,
        ..Lookups::default()
    };
    if settings.mails == 0 {
        return l;
    }
    // A ticket this decision opens has sent nothing yet.
    let created: BTreeSet<i64> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::CreateTicket(t) => Some(t.number),
            _ => None,
        })
        .collect();
    l.tickets = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(out) if !created.contains(&out.ticket) => Some(out.ticket),
            _ => None,
        })
        .collect();
    l
}

/// The breaker's state for one ticket while a decision is judged.
struct Run {
    paused_since: Option<i64>,
    /// Mails to each mailbox since the count started.
    counts: BTreeMap<String, u32>,
}

/// Turns the mails the breaker stops into `held-back` entries; when a
/// ticket trips, adds its `flood-paused` entry and the one notice to its
/// team; when a pause ends, its `flood-resumed` entry.
pub fn gate(
    settings: &Flood,
    policy: &Policy,
    effects: Vec<Effect>,
    facts: &Facts,
    now_ms: i64,
) -> Vec<Effect> {
    if settings.mails == 0 {
        return effects;
    }
    let window_ms = settings.window.as_millis() as i64;
    let window = in_words(window_ms);
    let window_start = now_ms - window_ms;
    let mut out = Vec::with_capacity(effects.len() + 2);
    let mut runs: BTreeMap<i64, Run> = BTreeMap::new();
    for (&n, f) in &facts.tickets {
        let person = person_in(&effects, n);
        let mut paused = paused_since(f.last_switch.iter().map(|(k, at)| (k.as_str(), *at)));
        // The count starts at the window, or later at the last change by a
        // person or the end of the last pause.
        let mut start = f
            .events
            .iter()
            .filter(|e| by_a_person(&e.kind, &e.actor, e.new.as_deref()) || e.kind == RESUMED)
            .map(|e| e.at)
            .fold(window_start, i64::max);
        if let Some(since) = paused {
            let quiet = !f
                .events
                .iter()
                .any(|e| e.at >= window_start && (e.kind == "held-back" || e.kind == PAUSED));
            let why = match person {
                Some(who) => Some(format!("{who} changed the ticket")),
                None if quiet => Some(format!("nothing was held back for {window}")),
                None => None,
            };
            if let Some(why) = why {
                out.push(event(
                    n,
                    "postdesk",
                    RESUMED,
                    Some(format!(
                        "sending resumes ({why}; paused since {})",
                        crate::desk::when::iso(since)
                    )),
                ));
                paused = None;
                start = now_ms;
            }
        }
        if person.is_some() {
            start = now_ms;
        }
        let mut counts: BTreeMap<String, u32> = BTreeMap::new();
        for (_, to) in f.sent.iter().filter(|(at, _)| *at >= start) {
            let keys: BTreeSet<String> = to.iter().map(|a| mailbox_key(a)).collect();
            for k in keys {
                *counts.entry(k).or_default() += 1;
            }
        }
        runs.insert(
            n,
            Run {
                paused_since: paused,
                counts,
            },
        );
    }
    for e in effects {
        let Effect::Send(mail) = e else {
            out.push(e);
            continue;
        };
        let Some(run) = runs.get_mut(&mail.ticket) else {
            out.push(Effect::Send(mail));
            continue;
        };
        if let Some(since) = run.paused_since {
            out.push(held_back(&mail, since, &window));
            continue;
        }
        let keys: BTreeSet<String> = mail.to.iter().map(|m| mailbox_key(&m.address)).collect();
        let over = keys.iter().find_map(|k| {
            let n = run.counts.get(k).copied().unwrap_or(0);
            (n >= settings.mails).then(|| (k.clone(), n))
        });
        let Some((mailbox, n)) = over else {
            for k in keys {
                *run.counts.entry(k).or_default() += 1;
            }
            out.push(Effect::Send(mail));
            continue;
        };
        // Tripped: flag the ticket, tell its team once, hold this mail and
        // every later one.
        run.paused_since = Some(now_ms);
        let why = format!(
            "{n} mails to {mailbox} about this ticket within {window} and no change by a person \
             (limits.flood.mails = {}): a mail loop is likely, so nothing more is sent about it \
             until an agent changes the ticket (any command that changes something, e.g. #take) \
             or {window} pass with nothing to hold back",
            settings.mails
        );
        out.push(event(mail.ticket, "postdesk", PAUSED, Some(why.clone())));
        if let Some(ticket) = facts.tickets.get(&mail.ticket).map(|f| &f.ticket)
            && let Some(notice) = mails::notify_flood(policy, ticket, &why)
        {
            out.push(Effect::Send(notice));
        }
        out.push(held_back(&mail, now_ms, &window));
    }
    out
}

fn held_back(mail: &OutMail, since: i64, window: &str) -> Effect {
    let to: Vec<&str> = mail.to.iter().map(|m| m.address.as_str()).collect();
    event(
        mail.ticket,
        "postdesk",
        "held-back",
        Some(format!(
            "{} to {} held back: sending about this ticket is paused since {} (limits.flood; \
             it resumes when an agent changes the ticket, or after {window} with nothing to hold back)",
            mail.template,
            to.join(", "),
            crate::desk::when::iso(since)
        )),
    )
}

/// A duration as the timeline says it ("10m").
fn in_words(ms: i64) -> String {
    crate::desk::sla::describe_remaining(ms)
        .trim_end_matches(" left")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Mailbox;
    use crate::config::Config;
    use crate::desk::ticket::{Field, Status};
    use crate::lang::Lang;
    use std::path::Path;

    const NOW: i64 = 1_796_004_000_000;
    const MIN: i64 = 60_000;

    fn policy() -> Policy {
        let cfg = Config::from_toml(
            r#"
[desk]
address = "helpdesk@example.test"
[workflow]
agent-authentication = "none"
[[team]]
name = "service-desk"
tier = "L1"
address = "team@example.test"
[[agent]]
name = "alice"
addresses = ["alice@example.test"]
team = "service-desk"
"#,
            Path::new("t.toml"),
            Path::new("."),
        )
        .unwrap();
        crate::pipeline::policy_from_config(&cfg, crate::thread::IdKey::fixed(7)).unwrap()
    }

    fn ticket() -> TicketState {
        TicketState {
            number: 7,
            status: Some(Status::Open),
            requester: "ann@corp.test".into(),
            subject: "Printer broken".into(),
            team: Some("service-desk".into()),
            ..TicketState::default()
        }
    }

    fn mail_to(to: &[&str]) -> Effect {
        Effect::Send(OutMail {
            ticket: 7,
            template: "reply",
            lang: Lang::En,
            from_name: None,
            to: to.iter().map(|a| Mailbox::new(None, a)).collect(),
            subject: "[#7] Printer broken".into(),
            in_reply_to: None,
            references: Vec::new(),
            auto_submitted: None,
            vars: serde_json::json!({}),
        })
    }

    /// Ticket 7 with `sent` mails to ann, a minute apart up to now, and these entries.
    fn facts(sent: usize, events: Vec<Happened>, last_switch: Option<(&str, i64)>) -> Facts {
        let f = TicketFacts {
            ticket: ticket(),
            last_switch: last_switch.map(|(k, at)| (k.to_string(), at)),
            sent: (0..sent)
                .map(|i| {
                    (
                        NOW - (i as i64 % 9) * MIN,
                        vec!["ann@corp.test".to_string()],
                    )
                })
                .collect(),
            events,
        };
        Facts {
            tickets: [(7, f)].into(),
        }
    }

    fn happened(at: i64, kind: &str, actor: &str, new: Option<&str>) -> Happened {
        Happened {
            at,
            kind: kind.into(),
            actor: actor.into(),
            new: new.map(String::from),
        }
    }

    fn gate_default(effects: Vec<Effect>, f: &Facts) -> Vec<Effect> {
        gate(&Flood::default(), &policy(), effects, f, NOW)
    }

    fn kinds(fx: &[Effect]) -> Vec<String> {
        fx.iter()
            .map(|e| match e {
                Effect::Send(m) => format!("send {} to {}", m.template, m.to[0].address),
                Effect::Event { kind, .. } => kind.to_string(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn the_twenty_first_mail_to_one_mailbox_trips_the_breaker_once() {
        // Nineteen sent: the twentieth goes, the twenty-first trips.
        let fx = gate_default(
            vec![mail_to(&["ann@corp.test"]), mail_to(&["Ann+x@corp.test"])],
            &facts(19, Vec::new(), None),
        );
        assert_eq!(
            kinds(&fx),
            [
                "send reply to ann@corp.test",
                PAUSED,
                "send flood to team@example.test",
                "held-back"
            ]
        );
        let Effect::Event { detail, .. } = &fx[1] else {
            unreachable!()
        };
        let why = detail.as_deref().unwrap();
        assert!(
            why.starts_with("20 mails to ann@corp.test about this ticket within 10m")
                && why.contains("limits.flood.mails = 20"),
            "{why}"
        );
        let Effect::Send(notice) = &fx[2] else {
            unreachable!()
        };
        assert_eq!(notice.vars["detail"], why, "the team is told why");
        assert_eq!(notice.auto_submitted, Some("auto-generated"));
    }

    #[test]
    fn a_paused_ticket_gets_nothing_sent_and_no_second_notice() {
        let paused_at = NOW - MIN;
        let f = facts(
            21,
            vec![happened(paused_at, PAUSED, "postdesk", None)],
            Some((PAUSED, paused_at)),
        );
        let fx = gate_default(
            vec![
                mail_to(&["team@example.test"]),
                mail_to(&["someone.else@corp.test"]),
            ],
            &f,
        );
        assert_eq!(kinds(&fx), ["held-back", "held-back"]);
    }

    #[test]
    fn a_change_by_a_person_resumes_and_restarts_the_count() {
        let paused_at = NOW - MIN;
        let f = facts(
            25,
            vec![happened(paused_at, PAUSED, "postdesk", None)],
            Some((PAUSED, paused_at)),
        );
        let take = Effect::Update {
            ticket: 7,
            field: Field::Assignee,
            old: None,
            new: Some("alice".into()),
            actor: "alice".into(),
            detail: None,
        };
        let fx = gate_default(vec![take.clone(), mail_to(&["ann@corp.test"])], &f);
        assert_eq!(fx.len(), 3, "{fx:?}");
        assert_eq!(kinds(&fx)[0], RESUMED);
        assert_eq!(fx[1], take);
        assert_eq!(kinds(&fx)[2], "send reply to ann@corp.test");
        // A move to open is what any mail does: it resumes nothing.
        let touch = Effect::Update {
            ticket: 7,
            field: Field::Status,
            old: Some("new".into()),
            new: Some("open".into()),
            actor: "alice".into(),
            detail: None,
        };
        let fx = gate_default(vec![touch, mail_to(&["ann@corp.test"])], &f);
        assert_eq!(kinds(&fx)[1..], ["held-back"]);
        // An earlier change by a person: only the mails after it count.
        let mut f = facts(
            0,
            vec![happened(NOW - 5 * MIN, "priority", "alice", Some("P2"))],
            None,
        );
        let ann = || vec!["ann@corp.test".to_string()];
        f.tickets.get_mut(&7).unwrap().sent = (0..30)
            .map(|_| (NOW - 8 * MIN, ann()))
            .chain((0..5).map(|_| (NOW - MIN, ann())))
            .collect();
        let fx = gate_default(vec![mail_to(&["ann@corp.test"])], &f);
        assert_eq!(kinds(&fx), ["send reply to ann@corp.test"]);
    }

    #[test]
    fn a_whole_quiet_window_resumes_by_itself() {
        let paused_at = NOW - 30 * MIN;
        let mut f = facts(0, Vec::new(), Some((PAUSED, paused_at)));
        let fx = gate_default(vec![mail_to(&["ann@corp.test"])], &f);
        assert_eq!(kinds(&fx), [RESUMED, "send reply to ann@corp.test"]);
        // Something held back five minutes ago: still paused.
        f.tickets.get_mut(&7).unwrap().events =
            vec![happened(NOW - 5 * MIN, "held-back", "postdesk", None)];
        let fx = gate_default(vec![mail_to(&["ann@corp.test"])], &f);
        assert_eq!(kinds(&fx), ["held-back"]);
    }

    #[test]
    fn many_mailboxes_are_not_a_flood_and_zero_turns_it_off() {
        // Thirty watchers with a copy each: one mail per mailbox.
        let mut f = facts(0, Vec::new(), None);
        f.tickets.get_mut(&7).unwrap().sent = (0..30)
            .map(|i| (NOW - MIN, vec![format!("w{i}@corp.test")]))
            .collect();
        let fx = gate_default(vec![mail_to(&["w0@corp.test"])], &f);
        assert_eq!(kinds(&fx), ["send reply to w0@corp.test"]);
        // Mail older than the window does not count.
        let mut f = facts(0, Vec::new(), None);
        f.tickets.get_mut(&7).unwrap().sent = (0..30)
            .map(|_| (NOW - 11 * MIN, vec!["ann@corp.test".to_string()]))
            .collect();
        let fx = gate_default(vec![mail_to(&["ann@corp.test"])], &f);
        assert_eq!(kinds(&fx), ["send reply to ann@corp.test"]);
        // Off.
        let off = Flood {
            mails: 0,
            ..Flood::default()
        };
        let f = facts(100, Vec::new(), None);
        let fx = gate(&off, &policy(), vec![mail_to(&["ann@corp.test"])], &f, NOW);
        assert_eq!(kinds(&fx), ["send reply to ann@corp.test"]);
        assert!(lookups(&off, &fx, NOW).tickets.is_empty());
    }

    #[test]
    fn lookups_skip_tickets_the_decision_opens() {
        let new = Effect::CreateTicket(crate::desk::ticket::NewTicket {
            number: 8,
            subject: "x".into(),
            requester: Mailbox::new(None, "bob@corp.test"),
            lang: Lang::En,
            team: None,
            tier: None,
            linked_to: None,
            category: None,
            priority: None,
            reply_by: 0,
            rule: None,
        });
        let mut ack = mail_to(&["bob@corp.test"]);
        if let Effect::Send(m) = &mut ack {
            m.ticket = 8;
        }
        let l = lookups(
            &Flood::default(),
            &[new, ack, mail_to(&["ann@corp.test"])],
            NOW,
        );
        assert_eq!(l.tickets, [7].into());
        assert_eq!(l.since, NOW - 10 * MIN);
    }

    #[test]
    fn paused_is_the_last_switch() {
        assert_eq!(paused_since([]), None);
        assert_eq!(paused_since([(PAUSED, 5), ("reply", 6)]), Some(5));
        assert_eq!(paused_since([(PAUSED, 5), (RESUMED, 6)]), None);
        assert_eq!(
            paused_since([(PAUSED, 5), (RESUMED, 6), (PAUSED, 9)]),
            Some(9)
        );
    }
}
