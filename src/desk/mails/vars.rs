//! The templates' variables, described once: for each kind of mail, the
//! variables its template is given, what each means and a sample value.
//! `mails` fills them, and every mail it makes is checked against this
//! description (in debug builds, so in every test); `postdesk check` renders
//! every template with the samples before a real mail needs it. An admin's
//! template of a kind we do not know gets every variable's sample.

use serde_json::Value;

use crate::desk::commands;
use crate::desk::quote;
use crate::lang::Lang;

/// One variable a template may use.
#[derive(Debug, Clone, Copy)]
pub struct Var {
    pub name: &'static str,
    pub about: &'static str,
    /// Set only sometimes (test it with `{% if x is defined %}`).
    pub optional: bool,
    sample: Sample,
}

#[derive(Debug, Clone, Copy)]
enum Sample {
    Text(&'static str),
    Number(i64),
    Flag(bool),
    /// A JSON literal (lists and objects).
    Json(&'static str),
    /// The command help, in English.
    Help,
}

impl Var {
    const fn new(name: &'static str, about: &'static str, sample: Sample) -> Var {
        Var {
            name,
            about,
            optional: false,
            sample,
        }
    }

    const fn optional(self) -> Var {
        Var {
            optional: true,
            ..self
        }
    }

    /// The sample value `postdesk check` renders with.
    pub fn sample(&self) -> Value {
        match self.sample {
            Sample::Text(s) => s.into(),
            Sample::Number(n) => n.into(),
            Sample::Flag(b) => b.into(),
            Sample::Json(j) => serde_json::from_str(j).unwrap_or(Value::Null),
            Sample::Help => commands::help_text(Lang::En).into(),
        }
    }
}

use Sample::{Flag, Help, Json, Number, Text};

/// Every mail about a ticket has these.
pub const TICKET: &[Var] = &[
    Var::new("desk_name", "the desk's name", Text("IT Service Desk")),
    Var::new(
        "desk_address",
        "the desk's address",
        Text("helpdesk@example.com"),
    ),
    Var::new("ticket", "the ticket's number", Number(1042)),
    Var::new("tag", "the ticket's tag, e.g. [#1042]", Text("[#1042]")),
    Var::new(
        "subject",
        "the ticket's subject",
        Text("Printer on floor 3 prints nothing"),
    ),
    Var::new(
        "requester",
        "the requester, name and address",
        Text("Li Wei <li.wei@example.com>"),
    ),
    Var::new(
        "requester_name",
        "how to greet the requester",
        Text("Li Wei"),
    ),
    Var::new("status", "the ticket's status", Text("open")),
    Var::new("priority", "the priority, or empty", Text("P2")),
    Var::new("category", "the category, or empty", Text("hardware")),
    Var::new("team", "the team, or empty", Text("service-desk")),
    Var::new(
        "assignee",
        "the assignee's agent name, or empty",
        Text("alice"),
    ),
    Var::new(
        "reply_marker",
        "the line above which a reply is read",
        Text(quote::REPLY_MARKER_EN),
    ),
];

/// Notices to agents also have the command help.
pub const NOTICE: &[Var] = &[Var::new("help", "the #commands an agent can use", Help)];

const SUGGESTIONS: Var = Var::new(
    "suggestions",
    "published knowledge-base entries that may answer the request: id, ref, title, solution, score",
    Json(
        r#"[{"id": 12, "ref": "KB-12", "title": "Printer prints blank pages", "solution": "Replace the toner cartridge.\nThen print a test page.", "score": 0.72}]"#,
    ),
)
.optional();
const TEXT: Var = Var::new(
    "text",
    "the words of the mail",
    Text("I replaced the toner; please try again."),
);
const AGENT: Var = Var::new("agent", "the agent's display name", Text("Alice Wang"));
const LINKED_TO: Var = Var::new(
    "linked_to",
    "the tag of the ticket this one continues, or empty",
    Text(""),
);
const SLA_LEVEL: &[Var] = &[
    Var::new(
        "level",
        "the escalation level reached",
        Text("first response 100% of 4h"),
    ),
    Var::new(
        "reached",
        "when it was reached",
        Text("Monday 30 November 2026, 10:00 (UTC)"),
    ),
    Var::new(
        "remaining",
        "each open target and its time left",
        Json(r#"["resolution: 2h 15m left"]"#),
    ),
];
const ESCALATED: &[Var] = &[
    Var::new("by", "who escalated it", Text("alice")),
    TEXT,
    Var::new("reason", "why the desk escalated it, or empty", Text("")),
];

/// A kind of mail and its own variables (besides those of its [`Base`]).
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub name: &'static str,
    pub base: Base,
    pub own: &'static [Var],
}

/// The variables a kind of mail has besides its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// Mail about a ticket: [`TICKET`].
    Ticket,
    /// Mail to agents about a ticket: [`TICKET`] and [`NOTICE`].
    Notice,
    /// Mail about no ticket, to a sender: [`SENDER`].
    Sender,
}

/// A mail about no ticket (the refusal of a sender outside the scope) has
/// these: there is no number, tag or status to name.
pub const SENDER: &[Var] = &[
    Var::new("desk_name", "the desk's name", Text("IT Service Desk")),
    Var::new(
        "desk_address",
        "the desk's address",
        Text("helpdesk@example.com"),
    ),
    Var::new(
        "subject",
        "the subject of the sender's mail",
        Text("Printer on floor 3 prints nothing"),
    ),
    Var::new(
        "requester",
        "the sender, as name and address",
        Text("Ann Lee <ann@example.org>"),
    ),
    Var::new(
        "requester_name",
        "the sender's name for a greeting",
        Text("Ann Lee"),
    ),
];

/// `#reply NAME`: the canned reply composed into `text` before the
/// template renders (see [`crate::desk::canned`]); templates need not use it.
const CANNED: Var = Var::new(
    "canned",
    "the canned reply (#reply NAME) already in text, if any",
    Text("more-info"),
)
.optional();

pub const KINDS: &[Kind] = &[
    Kind {
        name: "ack",
        base: Base::Ticket,
        own: &[
            Var::new(
                "summary",
                "the first lines of the request",
                Text("The printer shows a paper jam but there is no paper in it."),
            ),
            Var::new(
                "attachments",
                "the request's attachment names",
                Json(r#"["photo.jpg"]"#),
            ),
            Var::new(
                "reply_by",
                "when the first answer is due, in words",
                Text("Monday 30 November 2026, 10:00 (UTC)"),
            ),
            Var::new(
                "reply_by_ms",
                "the same, in unix milliseconds",
                Number(1_796_032_800_000),
            ),
            LINKED_TO,
            SUGGESTIONS,
        ],
    },
    Kind {
        name: "notify-new",
        base: Base::Notice,
        own: &[
            TEXT,
            Var::new(
                "attachments",
                "the request's attachments with sizes",
                Json(r#"["photo.jpg (48213 bytes)"]"#),
            ),
            LINKED_TO,
            Var::new("automatic", "the request was automatic mail", Flag(false)),
            Var::new(
                "no_answer",
                "why the requester cannot be answered by mail (no usable sender address)",
                Text("no address to answer: `@example.com`: nothing before the @"),
            )
            .optional(),
            SUGGESTIONS,
        ],
    },
    Kind {
        name: "notify-reply",
        base: Base::Notice,
        own: &[
            Var::new(
                "notice",
                "reply, reopened, confirmed or self-solved",
                Text("reply"),
            ),
            Var::new("from", "who wrote", Text("Li Wei <li.wei@example.com>")),
            TEXT,
            Var::new(
                "attachments",
                "the mail's attachment names",
                Json(r#"["photo.jpg"]"#),
            ),
        ],
    },
    Kind {
        name: "bounce",
        base: Base::Notice,
        own: &[Var::new(
            "detail",
            "what failed, per recipient",
            Text("li.wei@example.com (failed, 5.1.1: user unknown)"),
        )],
    },
    Kind {
        name: "flood",
        base: Base::Notice,
        own: &[Var::new(
            "detail",
            "why the desk stopped mailing about the ticket, and when it resumes",
            Text(
                "21 mails to li.wei@example.com about this ticket within 10m and no change by a person",
            ),
        )],
    },
    Kind {
        name: "note",
        base: Base::Notice,
        own: &[AGENT, TEXT],
    },
    Kind {
        name: "escalated",
        base: Base::Notice,
        own: ESCALATED,
    },
    Kind {
        name: "reply",
        base: Base::Ticket,
        own: &[AGENT, TEXT, CANNED],
    },
    Kind {
        name: "resolved",
        base: Base::Ticket,
        own: &[AGENT, TEXT, CANNED],
    },
    Kind {
        name: "command-result",
        base: Base::Notice,
        own: &[
            AGENT,
            Var::new(
                "applied",
                "the commands that worked, with what they did",
                Json(r##"["#p2 (priority P2)"]"##),
            ),
            Var::new(
                "refused",
                "the commands refused: line and reason",
                Json(r##"[{"line": "#asign bob", "reason": "unknown command"}]"##),
            ),
        ],
    },
    Kind {
        name: "survey",
        base: Base::Ticket,
        own: &[Var::new(
            "links",
            "one mailto link per score, 5 first: score, href",
            Json(r#"[{"score": 5, "href": "mailto:helpdesk@example.com?subject=Re%3A&body=5"}]"#),
        )],
    },
    Kind {
        name: "low-rating",
        base: Base::Notice,
        own: &[
            Var::new("score", "the rating, 1 to 5", Number(2)),
            Var::new("comment", "the requester's comment", Text("took too long")),
        ],
    },
    Kind {
        name: "approval-request",
        base: Base::Ticket,
        own: &[
            AGENT,
            Var::new(
                "reason",
                "why the agent asks for the approval, or empty",
                Text("New server for the finance team"),
            ),
            Var::new(
                "token",
                "the one-time token the answer must carry",
                Text("pdap-0123456789abcdef"),
            ),
            Var::new(
                "approve_href",
                "a mailto link that approves",
                Text(
                    "mailto:helpdesk@example.com?subject=%5B%231042%5D%20approve%20pdap-0123456789abcdef&body=approve",
                ),
            ),
            Var::new(
                "reject_href",
                "a mailto link that rejects",
                Text(
                    "mailto:helpdesk@example.com?subject=%5B%231042%5D%20reject%20pdap-0123456789abcdef&body=reject",
                ),
            ),
            Var::new("reminder", "this is a reminder", Flag(false)),
            Var::new(
                "request",
                "what the requester wrote, its first 2,000 characters, or empty",
                Text("Our team needs a second file server before the audit."),
            ),
        ],
    },
    Kind {
        name: "approval-decided",
        base: Base::Notice,
        own: &[
            Var::new("approver", "who was asked", Text("boss@example.com")),
            Var::new(
                "decision",
                "approved, rejected, or refused (an answer that did not count)",
                Text("approved"),
            ),
            Var::new(
                "comment",
                "the approver's reason, or empty",
                Text("Go ahead."),
            ),
            Var::new("refused", "why an answer did not count, or empty", Text("")),
        ],
    },
    Kind {
        name: "merged",
        base: Base::Ticket,
        own: &[
            Var::new(
                "merged_tag",
                "the tag of the ticket merged into this one",
                Text("[#1041]"),
            ),
            Var::new(
                "merged_subject",
                "the subject of the ticket merged into this one",
                Text("Printer still broken"),
            ),
        ],
    },
    Kind {
        name: "split",
        base: Base::Ticket,
        own: &[Var::new(
            "linked_to",
            "the tag of the ticket the mail was split off",
            Text("[#1041]"),
        )],
    },
    Kind {
        name: "sla-warning",
        base: Base::Notice,
        own: SLA_LEVEL,
    },
    Kind {
        name: "sla-breach",
        base: Base::Notice,
        own: SLA_LEVEL,
    },
    Kind {
        name: "excluded",
        base: Base::Ticket,
        own: &[
            Var::new(
                "rule",
                "the exclusion's name",
                Text("unauthorised-software"),
            ),
            Var::new(
                "clause",
                "the agreement's clause, in the requester's language",
                Text("Installing unlicensed software is not covered."),
            ),
        ],
    },
    Kind {
        name: "refusal",
        base: Base::Sender,
        own: &[Var::new(
            "serve",
            "who the desk serves (desk.serve)",
            Json(r#"["@corp.example.com", "contractor@partner.com"]"#),
        )],
    },
];

impl Kind {
    pub fn find(name: &str) -> Option<&'static Kind> {
        KINDS.iter().find(|k| k.name == name)
    }

    /// Every variable of this kind.
    pub fn vars(&self) -> impl Iterator<Item = &'static Var> + use<> {
        let (base, notice): (&'static [Var], &'static [Var]) = match self.base {
            Base::Ticket => (TICKET, &[]),
            Base::Notice => (TICKET, NOTICE),
            Base::Sender => (SENDER, &[]),
        };
        base.iter().chain(notice).chain(self.own.iter())
    }

    /// How `vars` differs from the description: names it sets that the kind
    /// does not declare, and declared ones (not optional) it lacks.
    pub fn mismatch(&self, vars: &Value) -> Vec<String> {
        let Some(obj) = vars.as_object() else {
            return vec![format!("{}: variables are not a map", self.name)];
        };
        let mut out: Vec<String> = obj
            .keys()
            .filter(|k| !self.vars().any(|v| v.name == k.as_str()))
            .map(|k| format!("{}: `{k}` is not declared", self.name))
            .collect();
        out.extend(
            self.vars()
                .filter(|v| !v.optional && !obj.contains_key(v.name))
                .map(|v| format!("{}: `{}` is missing", self.name, v.name)),
        );
        out
    }
}

/// Sample values for a template of `kind` (every variable of every kind
/// when the kind is not one of ours, e.g. an admin's own template).
pub fn samples(kind: &str) -> Value {
    let mut m = serde_json::Map::new();
    let vars: Vec<&Var> = match Kind::find(kind) {
        Some(k) => k.vars().collect(),
        None => TICKET
            .iter()
            .chain(NOTICE)
            .chain(KINDS.iter().flat_map(|k| k.own.iter()))
            .collect(),
    };
    for v in vars {
        m.entry(v.name).or_insert_with(|| v.sample());
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_sample_is_valid_and_every_name_declared_once_per_kind() {
        for k in KINDS {
            let mut names: Vec<&str> = k.vars().map(|v| v.name).collect();
            for v in k.vars() {
                assert!(
                    !v.sample().is_null(),
                    "{}: {} has no sample",
                    k.name,
                    v.name
                );
            }
            let n = names.len();
            names.sort();
            names.dedup();
            assert_eq!(n, names.len(), "{}: a variable is declared twice", k.name);
        }
    }

    #[test]
    fn a_mismatch_names_what_is_wrong() {
        let k = Kind::find("low-rating").unwrap();
        let mut v = samples("low-rating");
        assert_eq!(k.mismatch(&v), Vec::<String>::new());
        v["stray"] = json!(1);
        v.as_object_mut().unwrap().remove("score");
        assert_eq!(
            k.mismatch(&v),
            vec![
                "low-rating: `stray` is not declared".to_string(),
                "low-rating: `score` is missing".to_string()
            ]
        );
    }
}
