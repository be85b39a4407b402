//! Tickets as the core sees them: status, priority, the state `decide`
//! reads, a ticket to create, the fields that change and what an inbound
//! message is to its ticket. (The moves between statuses are `lifecycle`.)

use std::fmt;
use std::str::FromStr;

use crate::address::Mailbox;
use crate::lang::Lang;

/// Where a ticket is in its life.
///
/// `new` → `open` (an agent touched it) → `pending` (waiting on the requester)
/// → `resolved` (the agent says it is fixed) → `closed`. Beside them,
/// `spam`: recorded, never answered, no SLA clock (see [`crate::desk::spam`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    New,
    Open,
    Pending,
    Resolved,
    Closed,
    /// The filter in front (or an agent's `#spam`) says it is spam.
    Spam,
    /// Waiting for someone's approval (`#approval`, [`crate::desk::approval`]).
    AwaitingApproval,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::New,
        Status::Open,
        Status::Pending,
        Status::Resolved,
        Status::Closed,
        Status::Spam,
        Status::AwaitingApproval,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::Pending => "pending",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
            Status::Spam => "spam",
            Status::AwaitingApproval => "awaiting-approval",
        }
    }

    /// True while the desk still owes the requester something.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Status::New | Status::Open | Status::Pending | Status::AwaitingApproval
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Status, String> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown status `{s}`: expected one of new, open, pending, resolved, closed, spam, awaiting-approval"
                )
            })
    }
}

/// How urgent a ticket is: P1 is the most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::P1, Priority::P2, Priority::P3, Priority::P4];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
            Priority::P4 => "P4",
        }
    }

    /// The word for it: critical, high, normal, low.
    pub fn word(self) -> &'static str {
        match self {
            Priority::P1 => "critical",
            Priority::P2 => "high",
            Priority::P3 => "normal",
            Priority::P4 => "low",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = String;
    /// Accepts `P1`…`P4`, `1`…`4` and the words agents use, in English and Chinese.
    fn from_str(s: &str) -> Result<Priority, String> {
        let v = s.trim().to_lowercase();
        let p = match v.as_str() {
            "p1" | "1" | "critical" | "urgent" | "紧急" | "严重" | "最高" => Priority::P1,
            "p2" | "2" | "high" | "高" => Priority::P2,
            "p3" | "3" | "normal" | "medium" | "中" | "普通" | "一般" => Priority::P3,
            "p4" | "4" | "low" | "低" => Priority::P4,
            _ => {
                return Err(format!(
                    "unknown priority `{s}`: expected P1-P4 or critical, high, normal, low"
                ));
            }
        };
        Ok(p)
    }
}

/// A ticket as decide needs to see it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TicketState {
    pub number: i64,
    pub status: Option<Status>,
    pub requester: String,
    pub requester_name: Option<String>,
    pub subject: String,
    pub lang: Lang,
    pub priority: Option<Priority>,
    pub category: Option<String>,
    pub team: Option<String>,
    /// The assignee's agent name.
    pub assignee: Option<String>,
    pub tier: Option<String>,
    pub watchers: Vec<String>,
    /// Everyone on the mail that opened the ticket (From, To, Cc),
    /// normalised: watchers among them have seen each other's addresses.
    pub request_addresses: Vec<String>,
    pub first_response_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub survey_sent: bool,
    pub rated: bool,
    /// When this ticket's requester last got a survey (any ticket).
    pub requester_last_survey_at: Option<i64>,
    /// Message-IDs of the requester's side of the conversation, oldest first
    /// (bounded): the References of what we write to them.
    pub thread: Vec<String>,
    pub created_at: i64,
    /// Spans the ticket waited on its requester (the SLA clock stopped).
    pub pauses: Vec<crate::desk::sla::clock::Pause>,
    /// Escalation levels already fired: (target, percent).
    pub escalations_fired: Vec<(String, u32)>,
    /// Its knowledge-base entry and the entries its acknowledgement suggested.
    pub kb: crate::desk::kb::entry::TicketKb,
}

impl TicketState {
    pub fn status(&self) -> Status {
        self.status.unwrap_or(Status::New)
    }

    pub fn requester_mailbox(&self) -> Mailbox {
        Mailbox::new(self.requester_name.as_deref(), &self.requester)
    }
}

/// A mail we sent, as a delivery report about it is judged: its ticket
/// (none for the review) and its recipients (normalised addresses).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SentMail {
    pub ticket: Option<i64>,
    pub recipients: Vec<String>,
}

/// What an inbound message is to its ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// The mail that opened the ticket.
    Request,
    /// A later mail from the requester or a watcher.
    Reply,
    /// Automatic mail (out-of-office, bounce) attached for the record.
    Automatic,
    /// An agent's answer, relayed to the requester.
    AgentReply,
    /// An agent's internal note (or command-only mail): never shown to the requester.
    Note,
    /// Mail that claimed to be from an agent but could not prove it.
    Unverified,
    /// The requester's answer to the satisfaction survey.
    Rating,
    /// A delivery-status report about a mail we sent.
    Bounce,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Request => "request",
            MessageKind::Reply => "reply",
            MessageKind::Automatic => "automatic",
            MessageKind::AgentReply => "agent-reply",
            MessageKind::Note => "note",
            MessageKind::Unverified => "unverified",
            MessageKind::Rating => "rating",
            MessageKind::Bounce => "bounce",
        }
    }
}

/// A ticket to create. Its number was allocated by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTicket {
    pub number: i64,
    pub subject: String,
    pub requester: Mailbox,
    pub lang: Lang,
    pub team: Option<String>,
    pub tier: Option<String>,
    /// The old ticket this one continues (a reply to a long-closed ticket, or a stranger's mail).
    pub linked_to: Option<i64>,
    pub category: Option<String>,
    pub priority: Option<Priority>,
    /// When the requester was promised a first answer.
    pub reply_by: i64,
    /// The classification rule that matched, for the timeline.
    pub rule: Option<String>,
}

/// A ticket field an agent (or the desk) can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Status,
    Priority,
    Category,
    Team,
    Assignee,
    Tier,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Status => "status",
            Field::Priority => "priority",
            Field::Category => "category",
            Field::Team => "team",
            Field::Assignee => "assignee",
            Field::Tier => "tier",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
        }
        assert!("done".parse::<Status>().is_err());
    }

    #[test]
    fn priority_words() {
        assert_eq!("urgent".parse::<Priority>().unwrap(), Priority::P1);
        assert_eq!("高".parse::<Priority>().unwrap(), Priority::P2);
        assert_eq!(" p3 ".parse::<Priority>().unwrap(), Priority::P3);
        assert_eq!("low".parse::<Priority>().unwrap(), Priority::P4);
        assert!("p5".parse::<Priority>().is_err());
    }
}
