//! The ticket lifecycle as a pure state machine.
//!
//! `new` → `open` (an agent touched it) → `pending` (waiting on the requester)
//! → `resolved` (the agent says it is fixed; the requester is asked to confirm)
//! → `closed` (confirmed, or no answer in time). A requester's answer moves
//! `pending` back to `open`; anything but a confirmation reopens `resolved`.
//! A requester whom a suggested knowledge-base entry helped moves an active
//! ticket to `resolved` (and confirms it, so it closes) themselves.
//! `spam` stands apart: an agent's `#spam` moves any ticket there, only
//! `#notspam` brings it back (to `new`, as if it had just come in), and
//! nothing a requester writes wakes it.

use crate::desk::ticket::Status;

/// What happened to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// An agent replied or ran a command.
    AgentTouch,
    /// An agent asked for a status (`#resolve`, `#pending`, `#close`, `#reopen`, `#open`).
    AgentSets(Status),
    /// The requester (or a watcher) wrote.
    RequesterReply,
    /// The requester confirmed the resolution.
    RequesterConfirms,
    /// No confirmation in time.
    ConfirmationTimeout,
    /// An out-of-office, a bounce: never changes anything.
    AutomaticMail,
    /// The requester says a knowledge-base article suggested in the
    /// acknowledgement solved it (they confirm in the same breath).
    SolvedBySuggestion,
    /// The filter's verdict on a new ticket, or an agent's `#spam`.
    MarkSpam,
    /// An agent's `#notspam`.
    NotSpam,
    /// An agent merged the ticket into another (`#merge`): closed as merged.
    Merged,
    /// An agent asked for an approval (`#approval`).
    ApprovalAsked,
    /// The approver approved or rejected: back to the agent.
    ApprovalDecided,
}

/// The status after `trigger`, or why the change is not allowed. `Ok(same)`
/// means "nothing changes" and is not an error.
pub fn next(status: Status, trigger: Trigger) -> Result<Status, String> {
    use Status::*;
    match trigger {
        Trigger::MarkSpam => match status {
            Spam => Err("the ticket is already spam".into()),
            _ => Ok(Spam),
        },
        Trigger::NotSpam => match status {
            Spam => Ok(New),
            s => Err(format!("the ticket is {s}, not spam")),
        },
        // Nothing but #notspam wakes a spam ticket; an agent's own moves
        // (a status, a merge, an approval) are answered below.
        _ if status == Spam
            && !matches!(
                trigger,
                Trigger::AgentSets(_) | Trigger::Merged | Trigger::ApprovalAsked
            ) =>
        {
            Ok(Spam)
        }
        Trigger::AutomaticMail => Ok(status),
        Trigger::AgentTouch => Ok(if status == New { Open } else { status }),
        Trigger::RequesterReply => Ok(match status {
            Pending | Resolved | Closed => Open,
            other => other,
        }),
        Trigger::RequesterConfirms | Trigger::ConfirmationTimeout => match status {
            Resolved => Ok(Closed),
            other => Ok(other),
        },
        Trigger::AgentSets(target) => agent_sets(status, target),
        Trigger::Merged => Ok(Closed),
        Trigger::ApprovalAsked => match status {
            New | Open | Pending => Ok(AwaitingApproval),
            AwaitingApproval => Err("the ticket already waits for an approval".into()),
            Spam => Err("the ticket is spam; use #notspam first".into()),
            s => Err(format!(
                "the ticket is {s}; use #reopen before asking for an approval"
            )),
        },
        Trigger::ApprovalDecided => Ok(match status {
            AwaitingApproval => Open,
            other => other,
        }),
        Trigger::SolvedBySuggestion => Ok(match status {
            New | Open | Pending => Resolved,
            other => other,
        }),
    }
}

fn agent_sets(status: Status, target: Status) -> Result<Status, String> {
    use Status::*;
    match (status, target) {
        (s, t) if s == t => Err(format!("the ticket is already {s}")),
        (Spam, _) => Err("the ticket is spam; use #notspam first".into()),
        (_, Spam) => Err("use #spam to mark a ticket as spam".into()),
        (_, AwaitingApproval) => Err("use #approval to ask for an approval".into()),
        // Withdrawing the question, or giving up on the ticket, is the agent's call.
        (AwaitingApproval, Open | Closed) => Ok(target),
        (AwaitingApproval, _) => Err(format!(
            "the ticket waits for an approval; #open it (withdrawing the question) before #{}",
            verb(target)
        )),
        (Closed, Resolved | Pending) => Err(format!(
            "the ticket is closed; use #reopen before #{}",
            verb(target)
        )),
        (Resolved, Pending) => Err("the ticket is resolved; use #reopen first".into()),
        (New | Open | Pending, Resolved | Pending | Closed | Open) => Ok(target),
        (Resolved | Closed, Open) => Ok(Open),
        (Resolved, Closed) => Ok(Closed),
        (_, New) => Err("a ticket cannot go back to new".into()),
        (s, t) => Err(format!("cannot go from {s} to {t}")),
    }
}

fn verb(s: Status) -> &'static str {
    match s {
        Status::Resolved => "resolve",
        Status::Pending => "pending",
        Status::Closed => "close",
        Status::Open => "open",
        Status::New => "new",
        Status::Spam => "spam",
        Status::AwaitingApproval => "approval",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    #[test]
    fn agent_touch_opens_a_new_ticket_only() {
        assert_eq!(next(New, Trigger::AgentTouch), Ok(Open));
        for s in [Open, Pending, Resolved, Closed] {
            assert_eq!(next(s, Trigger::AgentTouch), Ok(s));
        }
    }

    #[test]
    fn requester_reply_wakes_pending_and_reopens_resolved() {
        assert_eq!(next(Pending, Trigger::RequesterReply), Ok(Open));
        assert_eq!(next(Resolved, Trigger::RequesterReply), Ok(Open));
        assert_eq!(next(New, Trigger::RequesterReply), Ok(New));
        assert_eq!(next(Open, Trigger::RequesterReply), Ok(Open));
    }

    #[test]
    fn confirmation_closes_only_resolved() {
        assert_eq!(next(Resolved, Trigger::RequesterConfirms), Ok(Closed));
        assert_eq!(next(Resolved, Trigger::ConfirmationTimeout), Ok(Closed));
        assert_eq!(next(Open, Trigger::ConfirmationTimeout), Ok(Open));
    }

    #[test]
    fn a_suggested_article_resolves_only_an_active_ticket() {
        for s in [New, Open, Pending] {
            assert_eq!(next(s, Trigger::SolvedBySuggestion), Ok(Resolved));
        }
        for s in [Resolved, Closed] {
            assert_eq!(next(s, Trigger::SolvedBySuggestion), Ok(s));
        }
    }

    #[test]
    fn spam_is_left_only_by_notspam() {
        for s in [New, Open, Pending, Resolved, Closed] {
            assert_eq!(next(s, Trigger::MarkSpam), Ok(Spam));
            assert!(next(s, Trigger::NotSpam).is_err());
        }
        assert!(next(Spam, Trigger::MarkSpam).is_err());
        assert_eq!(next(Spam, Trigger::NotSpam), Ok(New));
        for t in [
            Trigger::AgentTouch,
            Trigger::RequesterReply,
            Trigger::RequesterConfirms,
            Trigger::ConfirmationTimeout,
            Trigger::SolvedBySuggestion,
        ] {
            assert_eq!(next(Spam, t), Ok(Spam), "{t:?}");
        }
        assert!(
            next(Spam, Trigger::AgentSets(Open))
                .unwrap_err()
                .contains("#notspam")
        );
        assert!(next(Open, Trigger::AgentSets(Spam)).is_err());
    }

    #[test]
    fn a_merged_ticket_is_closed_whatever_it_was() {
        for s in Status::ALL {
            assert_eq!(next(s, Trigger::Merged), Ok(Closed));
        }
    }

    #[test]
    fn an_approval_waits_and_its_answer_opens_the_ticket() {
        for s in [New, Open, Pending] {
            assert_eq!(next(s, Trigger::ApprovalAsked), Ok(AwaitingApproval));
        }
        assert!(next(AwaitingApproval, Trigger::ApprovalAsked).is_err());
        assert!(
            next(Resolved, Trigger::ApprovalAsked)
                .unwrap_err()
                .contains("#reopen")
        );
        assert_eq!(next(AwaitingApproval, Trigger::ApprovalDecided), Ok(Open));
        assert_eq!(next(Closed, Trigger::ApprovalDecided), Ok(Closed));
        assert!(
            next(AwaitingApproval, Trigger::AgentSets(Resolved))
                .unwrap_err()
                .contains("waits for an approval")
        );
        assert_eq!(next(AwaitingApproval, Trigger::AgentSets(Open)), Ok(Open));
    }

    #[test]
    fn automatic_mail_changes_nothing() {
        for s in Status::ALL {
            assert_eq!(next(s, Trigger::AutomaticMail), Ok(s));
        }
    }

    #[test]
    fn agent_commands() {
        assert_eq!(next(New, Trigger::AgentSets(Resolved)), Ok(Resolved));
        assert_eq!(next(Open, Trigger::AgentSets(Pending)), Ok(Pending));
        assert_eq!(next(Pending, Trigger::AgentSets(Closed)), Ok(Closed));
        assert_eq!(next(Resolved, Trigger::AgentSets(Closed)), Ok(Closed));
        assert_eq!(next(Closed, Trigger::AgentSets(Open)), Ok(Open));
        assert!(
            next(Closed, Trigger::AgentSets(Resolved))
                .unwrap_err()
                .contains("#reopen")
        );
        assert!(
            next(Resolved, Trigger::AgentSets(Resolved))
                .unwrap_err()
                .contains("already resolved")
        );
        assert!(next(Open, Trigger::AgentSets(New)).is_err());
    }

    #[test]
    fn every_pair_has_an_answer_and_never_panics() {
        let mut allowed = 0;
        for s in Status::ALL {
            for t in Status::ALL {
                match next(s, Trigger::AgentSets(t)) {
                    // An agent gets what they asked for, or a reason.
                    Ok(got) => {
                        assert_eq!(got, t, "{s} -> {t}");
                        assert_ne!(s, t, "{s} -> {t} is no change");
                        allowed += 1;
                    }
                    Err(why) => assert!(why.len() > 10, "{s} -> {t}: {why:?}"),
                }
            }
        }
        // new to the four others, open and pending to three each, resolved
        // to open or closed, closed to open, awaiting approval to open or
        // closed: 4 + 3 + 3 + 2 + 1 + 2.
        assert_eq!(allowed, 15);
    }
}
