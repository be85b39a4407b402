//! (ticket state, mail, policy, now) → effects. All policy lives here.
//!
//! Pure: the caller looks up the ticket a mail belongs to, passes the clock
//! reading, and applies the effects in one transaction.

use std::time::Duration;

use jiff::tz::TimeZone;

use crate::address::Mailbox;
use crate::config::{AgentAuthentication, SurveyConfig};
use crate::desk::commands::{self, Command, CommandBlock};
use crate::desk::lifecycle::{self, Trigger};
use crate::desk::mails;
use crate::desk::people::{Agent, Directory};
use crate::desk::quote;
use crate::desk::rules::Rules;
use crate::desk::sla::{Calendar, PolicyConfig, SlaConfig};
use crate::desk::ticket::{Priority, Status};
use crate::inbound::Inbound;
use crate::lang::Lang;
use crate::outbound;
use crate::subject::TagFormat;

/// What decide needs to know about the desk and the mailbox the mail came in.
#[derive(Debug, Clone)]
pub struct Policy {
    pub desk_name: String,
    /// Our address: From of everything we send.
    pub desk_address: Mailbox,
    /// Domain of our Message-IDs and loop marker.
    pub id_domain: String,
    pub tag: TagFormat,
    /// The mailbox's language (also the language of notices to agents).
    pub lang: Lang,
    /// Answer in Chinese when the requester clearly writes Chinese.
    pub detect_language: bool,
    pub first_response: Duration,
    pub time_zone: TimeZone,
    pub time_zone_name: String,
    pub directory: Directory,
    pub cc_watchers: bool,
    pub agent_authentication: AgentAuthentication,
    pub trusted_authserv_ids: Vec<String>,
    pub confirm_words: Vec<String>,
    pub not_fixed_words: Vec<String>,
    pub auto_close_after: Duration,
    pub reopen_window: Duration,
    pub survey: SurveyConfig,
    /// Categories agents may set; empty = any word.
    pub categories: Vec<String>,
    /// Classification of new tickets.
    pub rules: Rules,
    /// SLA policies and the business calendar they count in.
    pub sla: SlaConfig,
    pub calendar: Calendar,
    /// The knowledge base: drafts on resolution, `#kb` commands.
    pub kb: crate::kb::KbConfig,
}

impl Policy {
    /// The SLA policy for a ticket, if one applies.
    pub fn sla_policy(
        &self,
        priority: Option<Priority>,
        category: Option<&str>,
    ) -> Option<&PolicyConfig> {
        self.sla.policy_for(priority?, category)
    }

    /// When a first answer is due for a ticket created at `from_ms`: the SLA
    /// policy's target in its clock, else `desk.first-response` of calendar time.
    pub fn first_response_due(
        &self,
        priority: Option<Priority>,
        category: Option<&str>,
        from_ms: i64,
    ) -> i64 {
        if let Some(p) = self.sla_policy(priority, category)
            && let Some(target) = p.first_response
            && let Ok(due) = p.clock.add(&self.calendar, from_ms, target)
        {
            return due;
        }
        from_ms.saturating_add(self.first_response.as_millis() as i64)
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
    pub pauses: Vec<crate::desk::sla::Pause>,
    /// Escalation levels already fired: (target, percent).
    pub escalations_fired: Vec<(String, u32)>,
    /// Its knowledge-base entry and the entries its acknowledgement suggested.
    pub kb: crate::kb::TicketKb,
}

impl TicketState {
    pub fn status(&self) -> Status {
        self.status.unwrap_or(Status::New)
    }

    pub fn requester_mailbox(&self) -> Mailbox {
        Mailbox::new(self.requester_name.as_deref(), &self.requester)
    }
}

/// How a mail was linked to an existing ticket.
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    /// Its subject carries the ticket's tag.
    Tag(TicketState),
    /// Its In-Reply-To or References name a message of the ticket.
    Reference(TicketState),
}

impl Link {
    pub fn ticket(&self) -> &TicketState {
        match self {
            Link::Tag(t) | Link::Reference(t) => t,
        }
    }
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

/// A mail to queue, not yet rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct OutMail {
    pub ticket: i64,
    /// Template kind, e.g. `ack`.
    pub template: &'static str,
    pub lang: Lang,
    /// The From display name; the address is always the desk's.
    pub from_name: Option<String>,
    pub to: Vec<Mailbox>,
    pub subject: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub auto_submitted: Option<&'static str>,
    pub vars: serde_json::Value,
}

/// One thing to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Record the mail without a ticket, with the reason (our own mail coming back).
    Ignore {
        reason: String,
    },
    CreateTicket(NewTicket),
    /// Store the inbound mail as a message of this ticket.
    Attach {
        ticket: i64,
        kind: MessageKind,
    },
    /// Change a field; recorded as an event with old and new value.
    Update {
        ticket: i64,
        field: Field,
        old: Option<String>,
        new: Option<String>,
        actor: String,
        detail: Option<String>,
    },
    /// Add or remove a watcher.
    Watch {
        ticket: i64,
        address: String,
        add: bool,
        actor: String,
    },
    /// The first answer a requester got from a person.
    FirstResponse {
        ticket: i64,
    },
    /// Stop mailing an address for a while (a permanent delivery failure).
    Suppress {
        ticket: i64,
        address: String,
        reason: String,
    },
    /// A satisfaction rating.
    Rate {
        ticket: i64,
        score: u8,
        comment: String,
        agent: Option<String>,
    },
    /// An SLA escalation level was reached; recorded so it fires once.
    Escalated {
        ticket: i64,
        target: crate::desk::sla::Target,
        percent: u32,
        action: crate::desk::sla::Action,
        due_ms: i64,
    },
    /// An entry in the ticket's timeline.
    Event {
        ticket: i64,
        actor: String,
        kind: &'static str,
        old: Option<String>,
        new: Option<String>,
        detail: Option<String>,
    },
    Send(OutMail),
    /// A change to the knowledge base (see [`crate::kb`]).
    Kb(crate::kb::KbEffect),
}

/// How many References we carry forward: enough to thread, bounded so a
/// long conversation does not grow headers without end.
pub const MAX_REFERENCES: usize = 20;

/// The stable Message-ID all notices about one ticket refer to, so agents'
/// mail clients thread them together.
pub fn notice_root(ticket: i64, domain: &str) -> String {
    format!("pd.{ticket}.root@{domain}")
}

/// The ticket number named by a [`notice_root`] id, if it is one of ours.
pub fn ticket_of_notice_root(id: &str, domain: &str) -> Option<i64> {
    let (local, d) = id.rsplit_once('@')?;
    if !d.eq_ignore_ascii_case(domain) {
        return None;
    }
    local
        .strip_prefix("pd.")?
        .strip_suffix(".root")?
        .parse()
        .ok()
}

/// Decides what one inbound mail means.
pub fn decide(
    policy: &Policy,
    mail: &Inbound,
    link: Option<&Link>,
    next_number: i64,
    now_ms: i64,
) -> Vec<Effect> {
    if let Some(reason) = our_own_mail(policy, mail) {
        return vec![Effect::Ignore { reason }];
    }
    if mail.bounce.is_some() || mail.auto.is_bounce() {
        return bounce(policy, mail, link.map(Link::ticket));
    }
    let Some(link) = link else {
        return new_ticket(policy, mail, next_number, None, now_ms);
    };
    let ticket = link.ticket();
    let sender = sender_address(mail);
    if mail.auto.is_automatic() {
        return automatic_on_ticket(ticket, mail, &sender);
    }
    match policy.directory.agent_by_address(&sender) {
        Some(agent) => from_agent(policy, ticket, agent, mail, now_ms),
        None => {
            let known = ticket.requester == sender || ticket.watchers.contains(&sender);
            if !known && matches!(link, Link::Tag(_)) {
                // A stranger's tag must not put their mail into somebody
                // else's ticket: it becomes a ticket of its own.
                return new_ticket(policy, mail, next_number, Some(ticket.number), now_ms);
            }
            from_requester(policy, ticket, mail, &sender, next_number, now_ms)
        }
    }
}

/// Our own outgoing mail that came back to us (a desk address in Cc, a
/// forwarding rule): never a ticket, or we would answer ourselves forever.
fn our_own_mail(policy: &Policy, mail: &Inbound) -> Option<String> {
    if mail
        .loop_markers
        .iter()
        .any(|m| m.eq_ignore_ascii_case(&policy.id_domain))
    {
        return Some(format!(
            "carries our loop header ({})",
            outbound::LOOP_HEADER
        ));
    }
    if outbound::is_our_message_id(&mail.message_id, &policy.id_domain) {
        return Some("has a Message-ID we created".into());
    }
    None
}

/// The sender's address: From, or Reply-To when there is no From.
fn sender_address(mail: &Inbound) -> String {
    mail.from
        .as_ref()
        .or(mail.reply_to.as_ref())
        .map(|m| m.address.clone())
        .unwrap_or_else(|| "unknown".into())
}

/// Who a reply to a new requester should go to: Reply-To when given, else From.
fn reply_address(mail: &Inbound) -> Option<Mailbox> {
    mail.reply_to.clone().or_else(|| mail.from.clone())
}

/// A delivery-status report: attached to the ticket of the mail that bounced,
/// never a ticket of its own, never answered.
fn bounce(policy: &Policy, mail: &Inbound, ticket: Option<&TicketState>) -> Vec<Effect> {
    let Some(t) = ticket else {
        return vec![Effect::Ignore {
            reason: "delivery report about no mail of ours".into(),
        }];
    };
    let report = mail.bounce.as_ref();
    let permanent = report.is_some_and(|b| b.permanent);
    let failed: Vec<String> = report
        .map(|b| {
            b.recipients
                .iter()
                .map(|r| match &r.diagnostic {
                    Some(d) => format!("{} ({}, {}: {d})", r.address, r.action, r.status),
                    None => format!("{} ({}, {})", r.address, r.action, r.status),
                })
                .collect()
        })
        .unwrap_or_default();
    let detail = if failed.is_empty() {
        "a delivery report we could not read".to_string()
    } else {
        failed.join("; ")
    };
    let mut effects = vec![
        Effect::Attach {
            ticket: t.number,
            kind: MessageKind::Bounce,
        },
        event(
            t.number,
            "mailer-daemon",
            if permanent {
                "delivery-failed"
            } else {
                "delivery-delayed"
            },
            Some(detail.clone()),
        ),
    ];
    if permanent {
        for r in report.iter().flat_map(|b| b.recipients.iter()) {
            if r.action == "failed" || r.status.starts_with('5') {
                effects.push(Effect::Suppress {
                    ticket: t.number,
                    address: r.address.clone(),
                    reason: format!(
                        "permanent delivery failure on ticket {}: {}",
                        t.number, r.status
                    ),
                });
            }
        }
        effects.extend(mails::notify_bounce(policy, t, &detail).map(Effect::Send));
    }
    effects
}

fn automatic_on_ticket(ticket: &TicketState, mail: &Inbound, sender: &str) -> Vec<Effect> {
    // An out-of-office or a bounce never changes status or assignment.
    debug_assert_eq!(
        lifecycle::next(ticket.status(), Trigger::AutomaticMail),
        Ok(ticket.status())
    );
    vec![
        Effect::Attach {
            ticket: ticket.number,
            kind: MessageKind::Automatic,
        },
        event(
            ticket.number,
            sender,
            "automatic-mail",
            Some(auto_detail(mail)),
        ),
    ]
}

fn event(ticket: i64, actor: &str, kind: &'static str, detail: Option<String>) -> Effect {
    Effect::Event {
        ticket,
        actor: actor.to_string(),
        kind,
        old: None,
        new: None,
        detail,
    }
}

fn update(
    ticket: i64,
    field: Field,
    old: Option<String>,
    new: Option<String>,
    actor: &str,
) -> Effect {
    Effect::Update {
        ticket,
        field,
        old,
        new,
        actor: actor.to_string(),
        detail: None,
    }
}

fn status_update(t: &TicketState, new: Status, actor: &str, detail: Option<String>) -> Effect {
    Effect::Update {
        ticket: t.number,
        field: Field::Status,
        old: Some(t.status().as_str().into()),
        new: Some(new.as_str().into()),
        actor: actor.to_string(),
        detail,
    }
}

fn new_ticket(
    policy: &Policy,
    mail: &Inbound,
    number: i64,
    linked_to: Option<i64>,
    now_ms: i64,
) -> Vec<Effect> {
    let requester = reply_address(mail).unwrap_or_else(|| Mailbox::new(None, "unknown@invalid"));
    let actor = sender_address(mail);
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
        for w in watchers_of(policy, mail, &requester) {
            effects.push(Effect::Watch {
                ticket: number,
                address: w,
                add: true,
                actor: actor.clone(),
            });
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
    effects
}

/// Cc'd people (and extra To recipients) who become watchers: not the desk, not agents.
fn watchers_of(policy: &Policy, mail: &Inbound, requester: &Mailbox) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in mail.cc.iter().chain(mail.to.iter()) {
        let a = &m.address;
        if a == &policy.desk_address.address
            || a == &requester.address
            || policy.directory.agent_by_address(a).is_some()
            || out.contains(a)
        {
            continue;
        }
        out.push(a.clone());
    }
    out
}

/// Why we must not auto-reply, if we must not.
fn why_no_acknowledgement(mail: &Inbound) -> Option<String> {
    if mail.auto.is_automatic() {
        return Some(auto_detail(mail));
    }
    if mail.auto.suppress_auto_reply {
        return Some("sender asked for no automatic replies (X-Auto-Response-Suppress)".into());
    }
    if mail.from.is_none() && mail.reply_to.is_none() {
        return Some("no sender address".into());
    }
    None
}

fn auto_detail(mail: &Inbound) -> String {
    let reasons: Vec<String> = mail.auto.reasons.iter().map(|r| r.to_string()).collect();
    format!("automatic mail: {}", reasons.join(", "))
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
        s
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

// ---------------------------------------------------------------- agents --

/// Whether an agent's mail proves it is theirs, per the configured rule.
fn verify_agent(
    policy: &Policy,
    agent: &Agent,
    mail: &Inbound,
    block: &CommandBlock,
) -> Result<(), String> {
    let secret_ok = || {
        let given = block.commands.iter().find_map(|p| match &p.command {
            Command::Secret(s) => Some(s.as_str()),
            _ => None,
        });
        match (&agent.secret, given) {
            (Some(want), Some(got)) if want == got => Ok(()),
            (None, _) => Err(format!("no secret is configured for agent {}", agent.name)),
            (_, None) => Err("no #secret line".to_string()),
            _ => Err("the #secret does not match".to_string()),
        }
    };
    let dkim_ok = || authenticated_domain(policy, agent, mail);
    match policy.agent_authentication {
        AgentAuthentication::None => Ok(()),
        AgentAuthentication::Secret => secret_ok(),
        AgentAuthentication::DkimOrSpf => dkim_ok(),
        AgentAuthentication::DkimOrSpfOrSecret => {
            dkim_ok().or_else(|e1| secret_ok().map_err(|e2| format!("{e1}; {e2}")))
        }
    }
}

/// True when a trusted `Authentication-Results` header shows DKIM or SPF pass
/// for the domain of the agent's address.
fn authenticated_domain(policy: &Policy, agent: &Agent, mail: &Inbound) -> Result<(), String> {
    let from = sender_address(mail);
    if !agent.addresses.contains(&from) {
        return Err("sender is not the agent's address".into());
    }
    let domain = from
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("")
        .to_string();
    for header in &mail.auth_results {
        let authserv = header.split(';').next().unwrap_or("").trim();
        let authserv = authserv.split_whitespace().next().unwrap_or("");
        if !policy
            .trusted_authserv_ids
            .iter()
            .any(|t| t.eq_ignore_ascii_case(authserv))
        {
            continue;
        }
        for clause in header.split(';').skip(1) {
            let c = clause.trim().to_ascii_lowercase();
            let passes = c.starts_with("dkim=pass") || c.starts_with("spf=pass");
            let about_domain = c.split_whitespace().any(|kv| {
                let v = kv.split_once('=').map(|(_, v)| v).unwrap_or("");
                let v = v.trim_matches(|ch| ch == '"' || ch == '@');
                v == domain || v.ends_with(&format!("@{domain}"))
            });
            if passes && about_domain {
                return Ok(());
            }
        }
    }
    Err(format!(
        "no trusted Authentication-Results shows DKIM or SPF pass for {domain}"
    ))
}

fn from_agent(
    policy: &Policy,
    ticket: &TicketState,
    agent: &Agent,
    mail: &Inbound,
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
    if let Err(why) = verify_agent(policy, agent, mail, &block) {
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
    for p in &block.commands {
        match apply_command(policy, &mut work, agent, &p.command, &mut effects) {
            Ok(Outcome::Applied(what)) => {
                if let Some(s) = command_status(&p.command) {
                    status_cmd = Some(s);
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
    if status_cmd.is_none()
        && let Ok(Status::Open) = lifecycle::next(work.status(), Trigger::AgentTouch)
        && work.status() == Status::New
    {
        effects.push(status_update(&work, Status::Open, &actor, None));
        work.status = Some(Status::Open);
    }
    let public_text = block.rest.trim().to_string();
    let is_note = block.internal_note || public_text.is_empty();
    // ---- knowledge base: a draft on resolution, and the #kb commands.
    let kb_commands: Vec<(String, commands::KbAction)> = block
        .commands
        .iter()
        .filter_map(|p| match &p.command {
            Command::Kb(a) => Some((p.line.clone(), a.clone())),
            _ => None,
        })
        .collect();
    let kb = crate::kb::plan(
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
        effects.push(Effect::Send(mails::relay_to_requester(
            policy,
            &work,
            agent,
            mail_kind,
            &public_text,
        )));
    }
    if status_cmd == Some(Status::Resolved) && is_note {
        // Resolved without words for the requester: still ask them to confirm.
        effects.push(Effect::Send(mails::relay_to_requester(
            policy, &work, agent, "resolved", "",
        )));
    }
    if status_cmd == Some(Status::Closed) {
        effects.extend(survey(policy, &work, now_ms));
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
    for (line, cmd) in commands {
        match apply_command(policy, &mut work, &admin, cmd, &mut effects) {
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
        let mut m = mails::relay_to_requester(policy, &work, &admin, "resolved", "");
        m.from_name = None;
        effects.push(Effect::Send(m));
        let kb = crate::kb::plan(policy.kb.enabled, &work, true, &[], "", actor);
        effects.extend(kb.effects.into_iter().map(Effect::Kb));
    }
    if status_cmd == Some(Status::Closed) {
        effects.extend(survey(policy, &work, now_ms));
    }
    if let Some(team) = escalated_to {
        effects.extend(mails::notify_escalated(policy, &work, &team, actor, "").map(Effect::Send));
    }
    (effects, applied, refused)
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

/// Applies one command to the working copy of the ticket, pushing its effects.
fn apply_command(
    policy: &Policy,
    t: &mut TicketState,
    agent: &Agent,
    cmd: &Command,
    effects: &mut Vec<Effect>,
) -> Result<Outcome, String> {
    let actor = agent.name.as_str();
    let n = t.number;
    match cmd {
        Command::Note | Command::Secret(_) => Ok(Outcome::Silent),
        c if command_status(c).is_some() => {
            let target = command_status(c).unwrap_or(Status::Open);
            let new = lifecycle::next(t.status(), Trigger::AgentSets(target))?;
            effects.push(status_update(t, new, actor, None));
            t.status = Some(new);
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
            let present = t.watchers.contains(&a);
            if add == present {
                return Err(if add {
                    format!("{a} already receives updates")
                } else {
                    format!("{a} is not a watcher")
                });
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
        // Planned after all commands by `crate::kb::plan`, which needs to
        // know whether the mail resolved the ticket.
        Command::Kb(_) => Ok(Outcome::Silent),
        _ => Err("not supported".into()),
    }
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

// ------------------------------------------------------------ requesters --

fn from_requester(
    policy: &Policy,
    t: &TicketState,
    mail: &Inbound,
    sender: &str,
    next_number: i64,
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
    // A survey answer.
    if status == Status::Closed
        && t.survey_sent
        && !t.rated
        && let Some((score, comment)) = parse_rating(&text)
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
        return new_ticket(policy, mail, next_number, Some(t.number), now_ms);
    }
    effects.insert(
        0,
        Effect::Attach {
            ticket: t.number,
            kind: MessageKind::Reply,
        },
    );
    let mut notice = "reply";
    if status == Status::Resolved && is_confirmation(policy, &text) {
        effects.push(status_update(
            t,
            Status::Closed,
            sender,
            Some("confirmed by the requester".into()),
        ));
        let mut closed = t.clone();
        closed.status = Some(Status::Closed);
        effects.extend(survey(policy, &closed, now_ms));
        notice = "confirmed";
    } else if crate::kb::solved_by_suggestion(t, &text) && is_confirmation(policy, &text) {
        // A suggested knowledge-base article solved it: resolved and
        // confirmed by the requester at once (no survey: nobody worked on it).
        let detail = "solved with a suggested knowledge-base article";
        effects.push(status_update(
            t,
            Status::Resolved,
            sender,
            Some(detail.into()),
        ));
        let mut resolved = t.clone();
        resolved.status = Some(Status::Resolved);
        effects.push(status_update(
            &resolved,
            Status::Closed,
            sender,
            Some("confirmed by the requester".into()),
        ));
        effects.push(Effect::Kb(crate::kb::KbEffect::Helped {
            ticket: t.number,
            entries: t.kb.suggested.clone(),
        }));
        notice = "self-solved";
    } else {
        let new = lifecycle::next(status, Trigger::RequesterReply).unwrap_or(status);
        if new != status {
            let detail = match status {
                Status::Resolved => Some("the requester says it is not fixed".to_string()),
                Status::Closed => Some("the requester wrote again".to_string()),
                _ => None,
            };
            notice = if matches!(status, Status::Resolved | Status::Closed) {
                "reopened"
            } else {
                "reply"
            };
            effects.push(status_update(t, new, sender, detail));
        } else {
            effects.push(event(t.number, sender, "reply", None));
        }
    }
    effects.extend(mails::notify_reply(policy, t, mail, &text, notice).map(Effect::Send));
    effects
}

/// "ok", "confirm", "确认"… at the start of the answer, and no "not fixed" words.
fn is_confirmation(policy: &Policy, text: &str) -> bool {
    const CONFIRM: &[&str] = &[
        "confirm",
        "confirmed",
        "ok",
        "okay",
        "yes",
        "solved",
        "fixed",
        "resolved",
        "works",
        "it works",
        "thanks",
        "thank you",
        "确认",
        "好的",
        "好",
        "已解决",
        "解决了",
        "可以了",
        "没问题",
        "谢谢",
        "是的",
    ];
    const NOT_FIXED: &[&str] = &[
        "not fixed",
        "not solved",
        "not resolved",
        "still",
        "doesn't",
        "does not",
        "didn't",
        "not working",
        "no ",
        "没有解决",
        "未解决",
        "没解决",
        "还是",
        "仍然",
        "不行",
        "没好",
    ];
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_lowercase();
    let not_fixed = NOT_FIXED
        .iter()
        .map(|w| w.to_string())
        .chain(policy.not_fixed_words.iter().map(|w| w.to_lowercase()))
        .any(|w| first.contains(w.as_str()));
    if not_fixed {
        return false;
    }
    CONFIRM
        .iter()
        .map(|w| w.to_string())
        .chain(policy.confirm_words.iter().map(|w| w.to_lowercase()))
        .any(|w| {
            first == w
                || first.strip_prefix(w.as_str()).is_some_and(|rest| {
                    rest.chars().next().is_some_and(|c| !c.is_alphanumeric())
                        || w.chars().all(|c| !c.is_ascii())
                })
        })
}

/// A survey answer: a digit 1-5 first (ASCII or full-width, "4", "4/5",
/// "4 stars", "4分"), then an optional comment.
pub fn parse_rating(text: &str) -> Option<(u8, String)> {
    let t = text.trim_start();
    let c = t.chars().next()?;
    let score = match c {
        '1'..='5' => c as u8 - b'0',
        '１'..='５' => (c as u32 - '０' as u32) as u8,
        _ => return None,
    };
    let rest = &t[c.len_utf8()..];
    // "42" is not a rating.
    if rest.chars().next().is_some_and(|n| n.is_ascii_digit()) {
        return None;
    }
    let rest = rest.trim_start();
    let rest = ["/5", "/ 5", "分", "stars", "star", "星"]
        .iter()
        .find_map(|s| rest.strip_prefix(s))
        .unwrap_or(rest);
    let comment = rest
        .trim_start_matches([' ', ',', '.', '-', ':', '，', '。', '：'])
        .trim();
    Some((score, comment.to_string()))
}

/// The survey mail, when enabled and not sent before, respecting the quiet period.
fn survey(policy: &Policy, t: &TicketState, now_ms: i64) -> Option<Effect> {
    if !policy.survey.enabled || t.survey_sent {
        return None;
    }
    let quiet = policy.survey.quiet_period.as_millis() as i64;
    if t.requester_last_survey_at
        .is_some_and(|at| now_ms - at < quiet)
    {
        return Some(event(
            t.number,
            "postdesk",
            "no-survey",
            Some("the requester had a survey recently".into()),
        ));
    }
    Some(Effect::Send(mails::survey(policy, t)))
}

/// The clock's decisions for a ticket: close a resolved ticket nobody
/// confirmed in time (and send its survey).
pub fn sweep(policy: &Policy, t: &TicketState, now_ms: i64) -> Vec<Effect> {
    let mut effects = Vec::new();
    if t.status() == Status::Resolved
        && let Some(at) = t.resolved_at
        && now_ms - at >= policy.auto_close_after.as_millis() as i64
    {
        effects.push(status_update(
            t,
            Status::Closed,
            "postdesk",
            Some("closed without confirmation".into()),
        ));
        let mut closed = t.clone();
        closed.status = Some(Status::Closed);
        effects.extend(survey(policy, &closed, now_ms));
    }
    effects
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
