//! Mail that was in a folder before postdesk read it: history, not work.
//!
//! An admin who points a fresh desk at the support mailbox the team has used
//! for years must not get thousands of tickets and an acknowledgement sent
//! to everybody who ever wrote (GitLab Service Desk sent about 20,000
//! replies to old mail that way). So a mailbox's first connection (no
//! checkpoint yet) does what [`FirstConnect`] says, `new-only` by default:
//! start after the mail already there.
//!
//! Old mail can be recorded as history ([`import`]): threads are kept (a
//! reply joins the ticket of the mail it answers), every ticket is closed
//! at once, no mail is sent, no SLA clock runs (no priority, no promised
//! answer) and the review leaves the tickets out (the store marks them
//! imported). Downtime is not a first connection: mail that arrived while
//! postdesk was stopped is after the checkpoint, so it is new.

use serde::Deserialize;

use crate::desk::automatic;
use crate::desk::effect::{Effect, event};
use crate::desk::policy::Policy;
use crate::desk::requester;
use crate::desk::ticket::{Field, MessageKind, Status};
use crate::inbound::Inbound;
use crate::thread::Link;

/// `mailbox.on-first-connect`: what the first connection to a folder does
/// with the mail already in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FirstConnect {
    /// Start after it: nothing old is answered (log and `check` say how
    /// many were left alone and how to import them).
    #[default]
    NewOnly,
    /// Record it as history ([`import`]), then go on with new mail.
    Import,
    /// Process it as new mail: for a folder prepared on purpose.
    Process,
}

impl FirstConnect {
    pub fn as_str(self) -> &'static str {
        match self {
            FirstConnect::NewOnly => "new-only",
            FirstConnect::Import => "import",
            FirstConnect::Process => "process",
        }
    }
}

/// Where a first connection starts, for a folder whose next UID is
/// `uid_next`: the checkpoint's last UID (everything up to it counts as
/// done) and, for `import`, the UIDs below which mail is history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstPlan {
    pub last_uid: u32,
    pub import_below: Option<u32>,
}

pub fn first_plan(policy: FirstConnect, uid_next: u32) -> FirstPlan {
    let before = uid_next.saturating_sub(1);
    match policy {
        FirstConnect::NewOnly => FirstPlan {
            last_uid: before,
            import_below: None,
        },
        FirstConnect::Import => FirstPlan {
            last_uid: before,
            import_below: Some(uid_next),
        },
        FirstConnect::Process => FirstPlan {
            last_uid: 0,
            import_below: None,
        },
    }
}

/// The event kind an imported ticket's timeline carries.
pub const IMPORTED: &str = "imported";

/// What one old mail becomes. `number` is the number a new ticket gets;
/// `link` the ticket the mail threads to. Never sends: only records.
pub fn import(
    policy: &Policy,
    mail: &Inbound,
    link: Option<&Link>,
    number: i64,
    at: i64,
) -> Vec<Effect> {
    if let Some(reason) = automatic::our_own_mail(policy, mail) {
        return vec![Effect::Ignore { reason }];
    }
    let sender = mail.sender_address();
    if let Some(link) = link {
        let ticket = link.ticket();
        let agent = mail
            .from
            .as_ref()
            .and_then(|f| policy.directory.agent_by_address(&f.address));
        let known = ticket.requester == sender || ticket.watchers.contains(&sender);
        // The same rule as for live mail: a stranger's tag or reference does
        // not put their mail into somebody else's ticket.
        if agent.is_some() || known || mail.auto.is_automatic() {
            let kind = if mail.auto.is_automatic() {
                MessageKind::Automatic
            } else if agent.is_some() {
                MessageKind::AgentReply
            } else {
                MessageKind::Reply
            };
            return vec![Effect::Attach {
                ticket: ticket.number,
                kind,
            }];
        }
    }
    if mail.auto.is_automatic() {
        return vec![Effect::Ignore {
            reason: "automatic mail in imported history, about no ticket".into(),
        }];
    }
    let linked = link.map(|l| l.ticket().number);
    let mut effects: Vec<Effect> = requester::new_ticket(policy, mail, number, linked, at, &[])
        .into_iter()
        .filter_map(|e| match e {
            // No SLA: history has no promised answer and no priority
            // (reopened later, it would otherwise breach at once).
            Effect::CreateTicket(mut t) => {
                t.priority = None;
                t.reply_by = at;
                Some(Effect::CreateTicket(t))
            }
            e @ (Effect::Attach { .. } | Effect::Watch { .. }) => Some(e),
            e @ Effect::Event { .. } => Some(e),
            // Mail, first responses, escalations: none for history.
            _ => None,
        })
        .collect();
    effects.push(Effect::Update {
        ticket: number,
        field: Field::Status,
        old: Some(Status::New.as_str().into()),
        new: Some(Status::Closed.as_str().into()),
        actor: "postdesk".into(),
        detail: Some("imported history: the mail was in the folder before postdesk".into()),
    });
    effects.push(event(
        number,
        "postdesk",
        IMPORTED,
        Some("recorded from the mailbox's history; no mail was sent".into()),
    ));
    effects
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::desk::ticket::TicketState;
    use std::path::Path;

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
[[agent]]
name = "alice"
addresses = ["alice@corp.test"]
team = "service-desk"
"#,
            Path::new("t.toml"),
            Path::new("."),
        )
        .unwrap();
        crate::pipeline::policy_from_config(&cfg, crate::thread::IdKey::fixed(7)).unwrap()
    }

    fn mail(headers: &str) -> Inbound {
        crate::inbound::parse(format!("{headers}\r\n\r\nMy printer is broken.\r\n").as_bytes())
            .unwrap()
    }

    fn ticket(requester: &str) -> TicketState {
        TicketState {
            number: 7,
            status: Some(Status::Closed),
            requester: requester.into(),
            ..TicketState::default()
        }
    }

    #[test]
    fn the_first_connection_starts_where_the_policy_says() {
        let p = |f| first_plan(f, 41);
        assert_eq!(
            p(FirstConnect::NewOnly),
            FirstPlan {
                last_uid: 40,
                import_below: None
            }
        );
        assert_eq!(
            p(FirstConnect::Import),
            FirstPlan {
                last_uid: 40,
                import_below: Some(41)
            }
        );
        assert_eq!(
            p(FirstConnect::Process),
            FirstPlan {
                last_uid: 0,
                import_below: None
            }
        );
        // An empty new folder: UIDNEXT 1, nothing before it.
        assert_eq!(first_plan(FirstConnect::NewOnly, 1).last_uid, 0);
        assert_eq!(first_plan(FirstConnect::NewOnly, 0).last_uid, 0);
    }

    #[test]
    fn an_old_request_becomes_a_closed_ticket_and_sends_nothing() {
        let m = mail(
            "From: ann@example.com\r\nTo: helpdesk@example.test\r\nSubject: Printer\r\nMessage-ID: <1@example.com>",
        );
        let effects = import(&policy(), &m, None, 1000, 5_000);
        assert!(
            !effects
                .iter()
                .any(|e| matches!(e, Effect::Send(_) | Effect::FirstResponse { .. })),
            "{effects:?}"
        );
        let Some(Effect::CreateTicket(t)) = effects.first() else {
            panic!("{effects:?}")
        };
        assert_eq!((t.number, t.priority), (1000, None));
        assert!(effects.iter().any(|e| matches!(e, Effect::Update { field: Field::Status, new: Some(s), .. } if s == "closed")));
        assert!(
            effects
                .iter()
                .any(|e| matches!(e, Effect::Event { kind: IMPORTED, .. }))
        );
    }

    #[test]
    fn an_old_reply_joins_its_ticket_without_changing_it() {
        let m = mail(
            "From: ann@example.com\r\nSubject: Re: Printer\r\nMessage-ID: <2@example.com>\r\nIn-Reply-To: <1@example.com>",
        );
        let link = Link::Reference(ticket("ann@example.com"));
        assert_eq!(
            import(&policy(), &m, Some(&link), 1001, 5_000),
            vec![Effect::Attach {
                ticket: 7,
                kind: MessageKind::Reply
            }]
        );
        let agent =
            mail("From: alice@corp.test\r\nSubject: Re: Printer\r\nMessage-ID: <3@corp.test>");
        assert_eq!(
            import(&policy(), &agent, Some(&link), 1001, 5_000),
            vec![Effect::Attach {
                ticket: 7,
                kind: MessageKind::AgentReply
            }]
        );
    }

    #[test]
    fn a_strangers_old_mail_does_not_join_someone_elses_ticket() {
        let m =
            mail("From: eve@evil.test\r\nSubject: Re: [#7] Printer\r\nMessage-ID: <4@evil.test>");
        let link = Link::Tag(ticket("ann@example.com"));
        let effects = import(&policy(), &m, Some(&link), 1002, 5_000);
        let Some(Effect::CreateTicket(t)) = effects.first() else {
            panic!("{effects:?}")
        };
        assert_eq!((t.number, t.linked_to), (1002, Some(7)));
    }
}
