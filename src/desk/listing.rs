//! Lists of tickets by mail: `#queue` (`#我的工单`) from an agent, `#status`
//! (`#状态`) from a requester, each as the first line of a new mail to the
//! desk (no ticket tag), answered at once; and the morning digest, the same
//! list as `#queue`, mailed by the clock ([`crate::digest`]).
//!
//! An agent's list: the tickets assigned to them; a team lead's: also every
//! open ticket of the teams they lead. Each list puts first what is overdue,
//! then what is due today (in the desk's time zone), then what waits on an
//! approval, then the rest. Due means either SLA target not met yet, the
//! first answer or the resolution, each with its due time, worked out here
//! from the ticket's [`SlaFacts`] as `postdesk ticket N` does; a target
//! whose clock stands (waiting on the requester, or on an approval that
//! pauses the SLA) is neither overdue nor due today, as its due time moves
//! on while it stands. A ticket without an SLA policy has only the first
//! answer its acknowledgement promised. A requester's list has only their own open
//! tickets, with state and the time we promised, and goes only to the
//! From address the question came from (never to a Reply-To): whoever forges
//! somebody's From sends that person their own list, and learns nothing.
//!
//! Pure: the pipeline asks [`asked`] what to look up and passes [`Lookups`].

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::address::Mailbox;
use crate::desk::commands::{self, Command};
use crate::desk::effect::Effect;
use crate::desk::people::Agent;
use crate::desk::policy::Policy;
use crate::desk::sla::config::Target;
use crate::desk::sla::status::{SlaFacts, status_of};
use crate::desk::{quote, requester, verify, when};
use crate::inbound::Inbound;
use crate::lang::Lang;

/// The most lists one address gets by mail in an hour: a person asks a few
/// times a day; anything more is a loop or someone using the desk to mail
/// a forged From address.
pub const MAX_LISTS_PER_HOUR: i64 = 10;

/// What a new mail asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// `#queue` from this agent (by name).
    Queue(String),
    /// `#status` from this address (a requester's, or an agent's own requests).
    Status(String),
}

/// One ticket in a list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Line {
    pub number: i64,
    pub subject: String,
    pub status: String,
    pub priority: Option<String>,
    pub requester: String,
    pub assignee: Option<String>,
    /// When the first answer is due, while none was given: what the
    /// acknowledgement promised (the requester's list says it).
    pub due_ms: Option<i64>,
    pub awaiting_approval: bool,
    /// What the ticket's SLA standing depends on: an agent's list works out
    /// from it when each target not yet met is due. `None`: only `due_ms`.
    pub sla: Option<SlaFacts>,
}

/// A target of a listed ticket not yet met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Due {
    target: Target,
    due_ms: i64,
    /// Its clock stands: `due_ms` is where it would be were it running now.
    paused: bool,
}

/// The targets of `l` not yet met, first answer first.
fn dues(policy: &Policy, l: &Line, now_ms: i64) -> Vec<Due> {
    let status = l.sla.as_ref().and_then(|f| status_of(policy, f, now_ms));
    match status {
        Some(s) => s
            .targets
            .iter()
            .filter(|t| t.met_at.is_none())
            .map(|t| Due {
                target: t.target,
                due_ms: t.due_ms,
                paused: t.paused,
            })
            .collect(),
        // No SLA policy for it: what the acknowledgement promised.
        None => l
            .due_ms
            .map(|d| Due {
                target: Target::FirstResponse,
                due_ms: d,
                paused: false,
            })
            .into_iter()
            .collect(),
    }
}

/// What the store found for an [`Ask`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookups {
    pub ask: Ask,
    pub lines: Vec<Line>,
    /// Lists mailed to the asker in the past hour.
    pub sent_last_hour: i64,
}

/// The `[digest]` section: who gets the morning list.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct DigestConfig {
    /// Agent names who get a digest; `["*"]` for every agent. Empty: none.
    pub agents: Vec<String>,
    /// The hour (0 to 23, the desk's time zone) from which it goes out, on
    /// working days of the SLA calendar.
    pub hour: u8,
}

impl Default for DigestConfig {
    fn default() -> DigestConfig {
        DigestConfig {
            agents: Vec::new(),
            hour: 8,
        }
    }
}

impl DigestConfig {
    /// Checks what serde cannot: the hour, and that every name is an agent.
    pub fn validate(&self, agent_names: &[&str]) -> Result<(), String> {
        if self.hour > 23 {
            return Err(format!("hour = {}: expected 0 to 23", self.hour));
        }
        for a in &self.agents {
            if a != "*" && !agent_names.iter().any(|n| n.eq_ignore_ascii_case(a)) {
                return Err(format!(
                    "agents: \"{a}\" is not an agent; expected one of {} or \"*\"",
                    agent_names.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Whether `agent` gets a digest.
    pub fn includes(&self, agent: &str) -> bool {
        self.agents
            .iter()
            .any(|a| a == "*" || a.eq_ignore_ascii_case(agent))
    }
}

/// The teams agent `name` leads: their lists hold every open ticket of them.
pub fn led_teams(policy: &Policy, name: &str) -> Vec<String> {
    policy
        .directory
        .teams
        .iter()
        .filter(|t| {
            t.lead
                .as_deref()
                .is_some_and(|l| l.eq_ignore_ascii_case(name))
        })
        .map(|t| t.name.clone())
        .collect()
}

/// The list a new mail (one that belongs to no ticket) asks for, if its
/// first lines are `#queue` or `#status` and nothing but commands.
pub fn asked(policy: &Policy, mail: &Inbound) -> Option<Ask> {
    if mail.auto.is_automatic() || mail.bounce.is_some() {
        return None;
    }
    let from = mail.from.as_ref()?;
    let block = commands::parse_block(&quote::new_text(&mail.text, mail.html.as_deref()));
    let mut wants = None;
    for p in &block.commands {
        match p.command {
            Command::Queue | Command::Status => wants = wants.or(Some(p.command.clone())),
            Command::Secret(_) => {}
            // Anything else makes it a request that happens to mention a list.
            _ => return None,
        }
    }
    let agent = policy.directory.agent_by_address(&from.address);
    match (wants?, agent) {
        (Command::Queue, Some(a)) => Some(Ask::Queue(a.name.clone())),
        // A requester's `#queue` is their `#status`: the only list they have.
        _ => Some(Ask::Status(from.address.clone())),
    }
}

/// Answers an [`Ask`]: the mail is recorded without a ticket, and the list
/// goes to the asker, unless the agent's mail is not proven theirs or the
/// address had its lists for the hour.
pub fn answer(policy: &Policy, mail: &Inbound, l: &Lookups, now_ms: i64) -> Vec<Effect> {
    let (to, lang, kind) = match &l.ask {
        Ask::Queue(name) => {
            let Some(agent) = policy.directory.agent(name) else {
                return ignore(format!("#queue from {name}, who is no longer an agent"));
            };
            let block = commands::parse_block(&quote::new_text(&mail.text, mail.html.as_deref()));
            if let Err(why) = verify::verify_agent(policy, agent, mail, &block) {
                return ignore(format!("#queue from {name} not answered: {why}"));
            }
            (agent.mailbox(), policy.lang, "queue")
        }
        Ask::Status(address) => {
            let name = mail.from.as_ref().and_then(|m| m.name.as_deref());
            let to = Mailbox::new(name, address);
            (to, requester::language_for(policy, mail), "status")
        }
    };
    if to.usable().is_err() {
        return ignore(format!("#{kind} from an address no mail can go to"));
    }
    if l.sent_last_hour >= MAX_LISTS_PER_HOUR {
        return ignore(format!(
            "#{kind} not answered: {} already got {MAX_LISTS_PER_HOUR} lists in the past hour",
            to.address
        ));
    }
    let text = match kind {
        "queue" => agent_list(policy, lang, &l.lines, now_ms),
        _ => requester_list(policy, lang, &l.lines, now_ms),
    };
    let subject = subject(policy, lang, kind, l.lines.len());
    let mut references = mail.references.clone();
    references.push(mail.message_id.clone());
    vec![
        Effect::Ignore {
            reason: format!("#{kind} answered with {} tickets", l.lines.len()),
        },
        Effect::Letter {
            kind: if kind == "queue" { "queue" } else { "status" },
            to,
            subject,
            text,
            in_reply_to: Some(mail.message_id.clone()),
            references,
        },
    ]
}

fn ignore(reason: String) -> Vec<Effect> {
    vec![Effect::Ignore { reason }]
}

fn subject(policy: &Policy, lang: Lang, kind: &str, n: usize) -> String {
    match (lang, kind) {
        (Lang::En, "queue") => format!("{}: your queue ({n} open)", policy.desk_name),
        (Lang::En, _) => format!("{}: your open tickets ({n})", policy.desk_name),
        (Lang::ZhCn, "queue") => format!("{}：您的工单（{n} 个未结）", policy.desk_name),
        (Lang::ZhCn, _) => format!("{}：您的未结工单（{n} 个）", policy.desk_name),
    }
}

/// The morning digest for `agent`: subject and text, the same list as
/// `#queue`.
pub fn digest(policy: &Policy, agent: &Agent, lines: &[Line], now_ms: i64) -> (String, String) {
    let lang = policy.lang;
    let subject = match lang {
        Lang::En => format!(
            "{}: your tickets this morning ({} open)",
            policy.desk_name,
            lines.len()
        ),
        Lang::ZhCn => format!("{}：今日工单（{} 个未结）", policy.desk_name, lines.len()),
    };
    let greeting = match lang {
        Lang::En => format!("Good morning {},\n\n", agent.display_name),
        Lang::ZhCn => format!("{}，早上好：\n\n", agent.display_name),
    };
    (subject, greeting + &agent_list(policy, lang, lines, now_ms))
}

/// Which section of an agent's list a ticket is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    Overdue,
    DueToday,
    Approval,
    Other,
}

fn section(dues: &[Due], awaiting_approval: bool, now_ms: i64, tz: &TimeZone) -> Section {
    let running = || dues.iter().filter(|d| !d.paused);
    if running().any(|d| d.due_ms < now_ms) {
        Section::Overdue
    } else if running().any(|d| same_day(d.due_ms, now_ms, tz)) {
        Section::DueToday
    } else if awaiting_approval {
        Section::Approval
    } else {
        Section::Other
    }
}

fn same_day(a: i64, b: i64, tz: &TimeZone) -> bool {
    let day = |ms: i64| {
        Timestamp::from_millisecond(ms)
            .ok()
            .map(|t| tz.to_datetime(t).date())
    };
    day(a).is_some() && day(a) == day(b)
}

fn agent_list(policy: &Policy, lang: Lang, lines: &[Line], now_ms: i64) -> String {
    let tz = &policy.time_zone;
    let mut out = match lang {
        Lang::En => format!(
            "Open tickets as of {}:\n",
            when::human_time(now_ms, tz, &policy.time_zone_name, lang)
        ),
        Lang::ZhCn => format!(
            "截至 {} 的未结工单：\n",
            when::human_time(now_ms, tz, &policy.time_zone_name, lang)
        ),
    };
    if lines.is_empty() {
        out.push_str(match lang {
            Lang::En => "\nNone. Nothing is waiting for you.\n",
            Lang::ZhCn => "\n没有。目前没有等您处理的工单。\n",
        });
        return out;
    }
    let titles: [(Section, &str, &str); 4] = [
        (Section::Overdue, "Overdue", "已超时"),
        (Section::DueToday, "Due today", "今天到期"),
        (Section::Approval, "Waiting for an approval", "等待审批"),
        (Section::Other, "Other open tickets", "其他未结工单"),
    ];
    let placed: Vec<(Section, &Line, Vec<Due>)> = lines
        .iter()
        .map(|l| {
            let d = dues(policy, l, now_ms);
            (section(&d, l.awaiting_approval, now_ms, tz), l, d)
        })
        .collect();
    for (s, en, zh) in titles {
        let here: Vec<_> = placed.iter().filter(|(at, ..)| *at == s).collect();
        if here.is_empty() {
            continue;
        }
        let title = if lang == Lang::En { en } else { zh };
        out.push_str(&format!("\n{title} ({}):\n", here.len()));
        for (_, l, d) in here {
            out.push_str(&agent_line(policy, lang, l, d));
        }
    }
    out
}

fn agent_line(policy: &Policy, lang: Lang, l: &Line, dues: &[Due]) -> String {
    let mut s = format!(
        "  {} {}  [{}{}]  {}",
        policy.tag.tag(l.number),
        crate::subject::repeated(&l.subject),
        l.status,
        l.priority
            .as_deref()
            .map(|p| format!(" {p}"))
            .unwrap_or_default(),
        l.requester
    );
    if let Some(a) = &l.assignee {
        s.push_str(&format!(" -> {a}"));
    }
    for d in dues {
        let at = when::human_time(d.due_ms, &policy.time_zone, &policy.time_zone_name, lang);
        s.push_str(&match (lang, d.target, d.paused) {
            (Lang::En, Target::FirstResponse, false) => format!("\n      first answer due {at}"),
            (Lang::En, Target::Resolution, false) => format!("\n      resolution due {at}"),
            (Lang::En, Target::FirstResponse, true) => {
                "\n      first answer: clock stopped".to_string()
            }
            (Lang::En, Target::Resolution, true) => "\n      resolution: clock stopped".to_string(),
            (Lang::ZhCn, Target::FirstResponse, false) => format!("\n      首次答复期限 {at}"),
            (Lang::ZhCn, Target::Resolution, false) => format!("\n      解决期限 {at}"),
            (Lang::ZhCn, Target::FirstResponse, true) => "\n      首次答复：计时暂停".to_string(),
            (Lang::ZhCn, Target::Resolution, true) => "\n      解决期限：计时暂停".to_string(),
        });
    }
    s.push('\n');
    s
}

fn requester_list(policy: &Policy, lang: Lang, lines: &[Line], _now_ms: i64) -> String {
    let mut out = String::from(match lang {
        Lang::En => "Your open tickets with us:\n\n",
        Lang::ZhCn => "您在我们这里的未结工单：\n\n",
    });
    if lines.is_empty() {
        out.push_str(match lang {
            Lang::En => "None: every request of yours is answered and closed.\n",
            Lang::ZhCn => "没有：您的请求都已处理并关闭。\n",
        });
    }
    for l in lines {
        out.push_str(&format!(
            "  {} {}\n      {}",
            policy.tag.tag(l.number),
            crate::subject::repeated(&l.subject),
            state_words(lang, l)
        ));
        if let Some(d) = l.due_ms {
            let at = when::human_time(d, &policy.time_zone, &policy.time_zone_name, lang);
            out.push_str(&match lang {
                Lang::En => format!("; we promised a first answer by {at}"),
                Lang::ZhCn => format!("；我们承诺在 {at} 之前首次答复"),
            });
        }
        out.push('\n');
    }
    out.push_str(match lang {
        Lang::En => "\nTo add to one, reply to its mail and keep its tag in the subject.\n",
        Lang::ZhCn => "\n如需补充，请回复该工单的邮件，并保留主题中的编号。\n",
    });
    out.push_str(&format!("\n{}\n", policy.desk_name));
    out
}

fn state_words(lang: Lang, l: &Line) -> &'static str {
    if l.awaiting_approval {
        return match lang {
            Lang::En => "waiting for an approval",
            Lang::ZhCn => "等待审批",
        };
    }
    match (lang, l.status.as_str()) {
        (Lang::En, "new") => "received, not yet answered",
        (Lang::En, "pending") => "waiting for your answer",
        (Lang::En, _) => "being worked on",
        (Lang::ZhCn, "new") => "已收到，尚未答复",
        (Lang::ZhCn, "pending") => "等待您的回复",
        (Lang::ZhCn, _) => "处理中",
    }
}

#[cfg(test)]
#[path = "listing_tests.rs"]
mod tests;
