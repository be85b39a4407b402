//! One batch of raw messages → tickets, messages, events and queued mail, in one transaction.
//!
//! The glue of the design: parse, thread, decide (pure), then apply the
//! effects and the source checkpoint in a single commit. A crash before the
//! commit means the batch is fetched again; after it, never.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::address::Mailbox;
use crate::config::{Config, MailboxConfig};
use crate::desk::decide::{self, Effect, Link, OutMail, Policy};
use crate::desk::escalation;
use crate::desk::people::Directory;
use crate::desk::sla::Calendar;
use crate::desk::when;
use crate::inbound::{self, Inbound};
use crate::limits;
use crate::outbound::{self, Envelope, OutboundError, Renderer};
use crate::store::{
    Checkpoint, EscalationRecord, EventRecord, InboundRecord, OutboundRecord, Store, StoreError, Tx,
};
use crate::subject::TagFormat;

/// Why the engine could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Templates(#[from] OutboundError),
    #[error("desk.time-zone: {0}")]
    TimeZone(String),
    #[error("{0}")]
    Config(String),
}

/// Config turned into what the pipeline needs, built once.
pub struct Engine {
    pub config: Arc<Config>,
    renderer: Renderer,
    policy: Policy,
}

/// The decision policy a config describes.
pub fn policy_from_config(config: &Config) -> Result<Policy, EngineError> {
    let desk = &config.desk;
    Ok(Policy {
        desk_name: desk.name.clone(),
        desk_address: Mailbox::new(Some(&desk.name), &desk.address),
        id_domain: desk.id_domain().to_string(),
        tag: TagFormat::new(&desk.tag_prefix),
        lang: desk.language,
        detect_language: desk.detect_language,
        first_response: desk.first_response,
        time_zone: when::zone(&desk.time_zone).map_err(EngineError::TimeZone)?,
        time_zone_name: desk.time_zone.clone(),
        directory: Directory::from_config(config, |var| std::env::var(var).ok()),
        cc_watchers: config.workflow.cc_watchers,
        agent_authentication: config.workflow.agent_authentication,
        trusted_authserv_ids: config.workflow.trusted_authserv_ids.clone(),
        confirm_words: config.workflow.confirm_words.clone(),
        not_fixed_words: config.workflow.not_fixed_words.clone(),
        auto_close_after: config.workflow.auto_close_after,
        reopen_window: config.workflow.reopen_window,
        survey: config.survey.clone(),
        categories: config.workflow.categories.clone(),
        rules: config.compiled_rules().map_err(EngineError::Config)?,
        sla: config.sla.clone(),
        calendar: Calendar::from_config(&config.sla.calendar).map_err(EngineError::Config)?,
        kb: config.kb.clone(),
    })
}

/// One raw message from a source, with its UID when the source has them.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub raw: Vec<u8>,
    pub uid: Option<u32>,
}

/// What a batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub created: usize,
    pub attached: usize,
    pub duplicates: usize,
    pub ignored: usize,
    pub quarantined: usize,
    pub queued: usize,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.created += o.created;
        self.attached += o.attached;
        self.duplicates += o.duplicates;
        self.ignored += o.ignored;
        self.quarantined += o.quarantined;
        self.queued += o.queued;
    }
}

impl Engine {
    pub fn new(config: Config) -> Result<Engine, EngineError> {
        let renderer = Renderer::new(config.templates_dir().as_deref())?;
        let policy = policy_from_config(&config)?;
        Ok(Engine {
            config: Arc::new(config),
            renderer,
            policy,
        })
    }

    pub fn renderer(&self) -> &Renderer {
        &self.renderer
    }

    /// The desk's decision policy (before per-mailbox adjustments).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The policy for mail that came in through `mailbox`.
    pub fn policy_for(&self, mailbox: &str) -> Policy {
        let mut p = self.policy.clone();
        if let Some(m) = self.mailbox(mailbox) {
            if let Some(lang) = m.language {
                p.lang = lang;
            }
            if let Some(addr) = &m.address {
                p.desk_address = Mailbox::new(Some(&self.config.desk.name), addr);
            }
        }
        p
    }

    fn mailbox(&self, name: &str) -> Option<&MailboxConfig> {
        self.config.mailboxes.iter().find(|m| m.name == name)
    }

    /// Opens the configured database.
    pub fn open_store(&self) -> Result<Store, StoreError> {
        Store::open(&self.config.resolve(&self.config.storage.database))
    }

    /// Where the database is.
    pub fn database_path(&self) -> std::path::PathBuf {
        self.config.resolve(&self.config.storage.database)
    }
}

/// Processes a batch of messages from `mailbox` in one transaction, moving the
/// checkpoint (if given) in the same commit.
pub fn process_batch(
    store: &mut Store,
    engine: &Engine,
    mailbox: &str,
    items: &[Incoming],
    checkpoint: Option<Checkpoint>,
    now_ms: i64,
) -> Result<Tally, StoreError> {
    let policy = engine.policy_for(mailbox);
    // Parsing needs no database: do it for the whole batch first, on every
    // core, so the single writer only threads, decides and writes.
    let limit = engine.config.storage.max_message_size;
    let parsed = parse_all(items, limit, engine.config.storage.max_parse_time);
    let tx = store.transaction()?;
    let mut tally = Tally::default();
    for (item, mail) in items.iter().zip(parsed) {
        tally += process_one(&tx, engine, &policy, mailbox, item, mail, now_ms)?;
    }
    if let Some(cp) = checkpoint {
        tx.set_checkpoint(mailbox, cp, now_ms)?;
    }
    tx.commit()?;
    Ok(tally)
}

/// Parses every message (or says why it cannot be processed), in parallel
/// for batches worth the threads. Order is kept.
fn parse_all(
    items: &[Incoming],
    max_size: u64,
    max_time: Duration,
) -> Vec<Result<Inbound, String>> {
    let one = |item: &Incoming| -> Result<Inbound, String> {
        if item.raw.len() as u64 > max_size {
            return Err(format!(
                "message of {} bytes exceeds max-message-size ({max_size} bytes)",
                item.raw.len()
            ));
        }
        let started = std::time::Instant::now();
        let mail = inbound::parse(&item.raw).map_err(|e| e.to_string())?;
        let took = started.elapsed();
        if took > max_time {
            return Err(format!(
                "parsing took {took:?}, more than max-parse-time ({max_time:?})"
            ));
        }
        Ok(mail)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if items.len() < 32 || threads < 2 {
        return items.iter().map(one).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(one).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("parse panics are caught inside parse"))
            .collect()
    })
}

fn process_one(
    tx: &Tx<'_>,
    engine: &Engine,
    policy: &Policy,
    mailbox: &str,
    item: &Incoming,
    parsed: Result<Inbound, String>,
    now_ms: i64,
) -> Result<Tally, StoreError> {
    let mut tally = Tally::default();
    let mail = match parsed {
        Ok(m) => m,
        Err(why) => {
            tracing::warn!(mailbox, uid = item.uid, error = %why, "quarantined a message that cannot be processed");
            tx.quarantine(mailbox, item.uid, &why, &item.raw, now_ms)?;
            tally.quarantined += 1;
            return Ok(tally);
        }
    };
    if tx.seen_inbound(mailbox, &mail.message_id)? {
        tally.duplicates += 1;
        return Ok(tally);
    }
    let link = find_link(tx, policy, &mail)?;
    let next = tx.next_ticket_number(engine.config.desk.first_ticket_number)?;
    let mut effects = decide::decide(policy, &mail, link.as_ref(), next, now_ms);
    suggest(tx, engine, &mail, &mut effects)?;
    let incoming = Some((&mail, item.raw.as_slice()));
    apply(
        tx, engine, policy, mailbox, incoming, &effects, now_ms, &mut tally,
    )?;
    Ok(tally)
}

/// A new ticket's acknowledgement and team notice list the published
/// knowledge-base entries that may answer it.
fn suggest(
    tx: &Tx<'_>,
    engine: &Engine,
    mail: &Inbound,
    effects: &mut Vec<Effect>,
) -> Result<(), StoreError> {
    let kb = &engine.config.kb;
    if kb.suggestions == 0 || !effects.iter().any(|e| matches!(e, Effect::CreateTicket(_))) {
        return Ok(());
    }
    let terms = crate::kb::request_terms(&mail.subject, &mail.text);
    let found = tx.kb_suggestions(&terms, kb.suggestions, kb.min_score)?;
    crate::kb::offer(effects, &found);
    Ok(())
}

/// Finds the ticket a mail belongs to: our tag in the subject first, then any
/// Message-ID it answers that we stored.
fn find_link(tx: &Tx<'_>, policy: &Policy, mail: &Inbound) -> Result<Option<Link>, StoreError> {
    if let Some(n) = policy.tag.find(&mail.subject)
        && let Some(t) = tx.ticket(n)?
    {
        return Ok(Some(Link::Tag(t)));
    }
    let mut ids: Vec<String> = Vec::new();
    // A bounce names the mail of ours that bounced.
    if let Some(id) = mail
        .bounce
        .as_ref()
        .and_then(|b| b.original_message_id.clone())
    {
        ids.push(id);
    }
    ids.extend(mail.in_reply_to.iter().cloned());
    ids.extend(mail.references.iter().rev().cloned());
    if let Some(t) = tx.ticket_by_message_ids(&ids)? {
        return Ok(Some(Link::Reference(t)));
    }
    // A reply to an agent notice whose own Message-ID was not kept (or a
    // client that only kept the thread root).
    for id in &ids {
        if let Some(n) = decide::ticket_of_notice_root(id, &policy.id_domain)
            && let Some(t) = tx.ticket(n)?
        {
            return Ok(Some(Link::Reference(t)));
        }
    }
    Ok(None)
}

#[allow(clippy::too_many_arguments)]
fn apply(
    tx: &Tx<'_>,
    engine: &Engine,
    policy: &Policy,
    mailbox: &str,
    incoming: Option<(&Inbound, &[u8])>,
    effects: &[Effect],
    now_ms: i64,
    tally: &mut Tally,
) -> Result<(), StoreError> {
    let max_attachment_size = engine.config.storage.max_attachment_size;
    // Effects about "the mail" only come from decisions about a mail.
    let record = |ticket: Option<i64>, kind: &'static str, note: Option<&'static str>| {
        incoming.map(|(mail, raw)| InboundRecord {
            ticket,
            mailbox,
            kind,
            mail,
            raw,
            at: now_ms,
            note,
            max_attachment_size,
        })
    };
    for effect in effects {
        match effect {
            Effect::Ignore { reason } => {
                if let Some(mut r) = record(None, "ignored", None) {
                    tracing::info!(mailbox, message_id = %r.mail.message_id, reason, "not a ticket message");
                    r.note = Some(reason);
                    tx.insert_inbound(&r)?;
                    tally.ignored += 1;
                }
            }
            Effect::CreateTicket(t) => {
                tx.create_ticket(t, mailbox, now_ms, Some(t.reply_by))?;
                tally.created += 1;
            }
            Effect::Attach { ticket, kind } => {
                if let Some(r) = record(Some(*ticket), kind.as_str(), None) {
                    tx.insert_inbound(&r)?;
                }
                tx.touch_ticket(*ticket, now_ms)?;
                if *kind != decide::MessageKind::Request {
                    tally.attached += 1;
                }
            }
            Effect::Event {
                ticket,
                actor,
                kind,
                old,
                new,
                detail,
            } => {
                tx.insert_event(&EventRecord {
                    ticket: *ticket,
                    at: now_ms,
                    actor,
                    kind,
                    old: old.as_deref(),
                    new: new.as_deref(),
                    detail: detail.as_deref(),
                })?;
            }
            Effect::Update {
                ticket,
                field,
                old,
                new,
                actor,
                detail,
            } => {
                tx.update_field(*ticket, *field, new.as_deref(), now_ms)?;
                tx.insert_event(&EventRecord {
                    ticket: *ticket,
                    at: now_ms,
                    actor,
                    kind: field.as_str(),
                    old: old.as_deref(),
                    new: new.as_deref(),
                    detail: detail.as_deref(),
                })?;
            }
            Effect::Watch {
                ticket,
                address,
                add,
                actor,
            } => {
                tx.set_watcher(*ticket, address, *add)?;
                tx.insert_event(&EventRecord {
                    ticket: *ticket,
                    at: now_ms,
                    actor,
                    kind: if *add {
                        "watcher-added"
                    } else {
                        "watcher-removed"
                    },
                    old: None,
                    new: Some(address),
                    detail: None,
                })?;
            }
            Effect::FirstResponse { ticket } => tx.first_response(*ticket, now_ms)?,
            Effect::Suppress {
                ticket,
                address,
                reason,
            } => {
                let until = now_ms + engine.config.limits.bounce_suppress.as_millis() as i64;
                tx.suppress(address, until, reason)?;
                tx.insert_event(&EventRecord {
                    ticket: *ticket,
                    at: now_ms,
                    actor: "postdesk",
                    kind: "address-suppressed",
                    old: None,
                    new: Some(address),
                    detail: Some(reason),
                })?;
            }
            Effect::Kb(k) => tx.kb_apply(k, now_ms)?,
            Effect::Escalated {
                ticket,
                target,
                percent,
                action,
                due_ms,
            } => {
                let first = tx.record_escalation(&EscalationRecord {
                    ticket: *ticket,
                    target: target.as_str(),
                    percent: *percent,
                    action: action.as_str(),
                    due_at: *due_ms,
                    at: now_ms,
                })?;
                if first {
                    let level = format!("{} {percent}%", target.as_str());
                    tx.insert_event(&EventRecord {
                        ticket: *ticket,
                        at: now_ms,
                        actor: "postdesk",
                        kind: "escalation",
                        old: None,
                        new: Some(&level),
                        detail: Some(action.as_str()),
                    })?;
                }
            }
            Effect::Rate {
                ticket,
                score,
                comment,
                agent,
            } => {
                tx.rate(*ticket, *score, comment, agent.as_deref(), now_ms)?;
                let score = score.to_string();
                tx.insert_event(&EventRecord {
                    ticket: *ticket,
                    at: now_ms,
                    actor: "requester",
                    kind: "rating",
                    old: None,
                    new: Some(&score),
                    detail: Some(comment).filter(|c| !c.is_empty()).map(String::as_str),
                })?;
            }
            Effect::Send(out) => match guarded_queue(tx, engine, policy, out, now_ms) {
                Ok(true) => tally.queued += 1,
                Ok(false) => {}
                Err(QueueError::Store(e)) => return Err(e),
                Err(QueueError::Outbound(e)) => {
                    // The ticket and the mail are safe; only this reply could
                    // not be made. Record why, so an admin can fix the template.
                    tracing::error!(ticket = out.ticket, error = %e, "could not render a mail");
                    tx.insert_event(&EventRecord {
                        ticket: out.ticket,
                        at: now_ms,
                        actor: "postdesk",
                        kind: "send-failed",
                        old: None,
                        new: None,
                        detail: Some(&format!("{} mail not sent: {e}", out.template)),
                    })?;
                }
            },
        }
    }
    Ok(())
}

enum QueueError {
    Store(StoreError),
    Outbound(OutboundError),
}

impl From<StoreError> for QueueError {
    fn from(e: StoreError) -> QueueError {
        QueueError::Store(e)
    }
}

impl From<OutboundError> for QueueError {
    fn from(e: OutboundError) -> QueueError {
        QueueError::Outbound(e)
    }
}

/// Queues a mail unless a loop limit holds it back (then the timeline says why).
fn guarded_queue(
    tx: &Tx<'_>,
    engine: &Engine,
    policy: &Policy,
    out: &OutMail,
    now_ms: i64,
) -> Result<bool, QueueError> {
    match limits::check(tx, &engine.config.limits, policy, out, now_ms)? {
        limits::Verdict::Send => {
            queue(tx, engine, policy, out, now_ms)?;
            limits::record(tx, policy, out, now_ms)?;
            Ok(true)
        }
        limits::Verdict::Hold(why) => {
            tracing::warn!(ticket = out.ticket, "{why}");
            tx.insert_event(&EventRecord {
                ticket: out.ticket,
                at: now_ms,
                actor: "postdesk",
                kind: "held-back",
                old: None,
                new: None,
                detail: Some(&why),
            })?;
            Ok(false)
        }
    }
}

/// Renders a mail and puts it into the outbox.
fn queue(
    tx: &Tx<'_>,
    engine: &Engine,
    policy: &Policy,
    out: &OutMail,
    now_ms: i64,
) -> Result<(), QueueError> {
    let (text, html) = engine.renderer.render(out.template, out.lang, &out.vars)?;
    let message_id = outbound::new_message_id(Some(out.ticket), now_ms, &policy.id_domain);
    let from = match &out.from_name {
        Some(name) => Mailbox::new(Some(name), &policy.desk_address.address),
        None => policy.desk_address.clone(),
    };
    let env = Envelope {
        from: &from,
        to: &out.to,
        subject: &out.subject,
        message_id: &message_id,
        in_reply_to: out.in_reply_to.as_deref(),
        references: &out.references,
        auto_submitted: out.auto_submitted,
        loop_marker: &policy.id_domain,
        date_ms: now_ms,
    };
    let raw = outbound::build(&env, &text, html.as_deref())?;
    tx.queue_outbound(&OutboundRecord {
        ticket: out.ticket,
        kind: out.template,
        message_id: &message_id,
        in_reply_to: out.in_reply_to.as_deref(),
        references: &out.references,
        from: &from,
        to: &out.to,
        subject: &out.subject,
        text: &text,
        html: html.as_deref(),
        raw: &raw,
        envelope_from: &policy.desk_address.address,
        at: now_ms,
    })?;
    if out.template == "survey" {
        tx.survey_sent(out.ticket, now_ms)?;
    }
    Ok(())
}

/// Runs the clock's decisions (closing resolved tickets nobody confirmed) in
/// one transaction, through the same apply path as mail.
pub fn sweep(store: &mut Store, engine: &Engine, now_ms: i64) -> Result<Tally, StoreError> {
    let policy = &engine.policy;
    let tx = store.transaction()?;
    let mut tally = Tally::default();
    let due = now_ms - policy.auto_close_after.as_millis() as i64;
    for number in tx.resolved_before(due, 500)? {
        let Some(t) = tx.ticket(number)? else {
            continue;
        };
        let effects = decide::sweep(policy, &t, now_ms);
        apply(&tx, engine, policy, "", None, &effects, now_ms, &mut tally)?;
    }
    if !policy.sla.policies.is_empty() {
        for number in tx.sla_candidates()? {
            let Some(t) = tx.ticket(number)? else {
                continue;
            };
            let effects = escalation::sweep(policy, &t, now_ms);
            if !effects.is_empty() {
                apply(&tx, engine, policy, "", None, &effects, now_ms, &mut tally)?;
            }
        }
    }
    tx.commit()?;
    Ok(tally)
}

/// What an admin's commands did to a ticket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdminOutcome {
    /// The ticket exists.
    pub found: bool,
    pub applied: Vec<String>,
    /// Commands refused, with why; when any is, nothing changed.
    pub refused: Vec<(String, String)>,
    pub tally: Tally,
}

/// Applies an admin's commands to ticket `number` (`postdesk ticket N set`)
/// through the same decisions, effects and single transaction as mail.
pub fn admin(
    store: &mut Store,
    engine: &Engine,
    number: i64,
    commands: &[(String, crate::desk::commands::Command)],
    actor: &str,
    now_ms: i64,
) -> Result<AdminOutcome, StoreError> {
    let policy = &engine.policy;
    let tx = store.transaction()?;
    let Some(t) = tx.ticket(number)? else {
        return Ok(AdminOutcome::default());
    };
    let (effects, applied, refused) = decide::from_admin(policy, &t, commands, actor, now_ms);
    let mut tally = Tally::default();
    apply(&tx, engine, policy, "", None, &effects, now_ms, &mut tally)?;
    tx.commit()?;
    Ok(AdminOutcome {
        found: true,
        applied,
        refused,
        tally,
    })
}

/// What processing a quarantined message again did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retried {
    /// No message `id` waits in quarantine (never there, or released).
    NotWaiting,
    /// It failed again; the new failure is quarantined beside the old one,
    /// which stays held.
    StillFailing,
    /// It went through; the quarantined copy is released.
    Processed(Tally),
}

/// Processes quarantined message `id` again (`postdesk quarantine --retry`),
/// as received by its mailbox, after whatever made it fail was fixed.
pub fn retry_quarantined(
    store: &mut Store,
    engine: &Engine,
    id: i64,
    now_ms: i64,
) -> Result<Retried, StoreError> {
    let Some((mailbox, raw)) = store.quarantined_raw(id)? else {
        return Ok(Retried::NotWaiting);
    };
    let item = Incoming { raw, uid: None };
    let t = process_batch(store, engine, &mailbox, &[item], None, now_ms)?;
    if t.quarantined > 0 {
        return Ok(Retried::StillFailing);
    }
    store.release_quarantined(id, now_ms)?;
    Ok(Retried::Processed(t))
}

/// Reads a config file, or the built-in defaults rooted at `data_dir`.
pub fn load_config(
    path: Option<&Path>,
    data_dir: &Path,
) -> Result<Config, crate::config::ConfigError> {
    match path {
        Some(p) => Config::load(p),
        None => Ok(Config::embedded(data_dir)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(dir: &Path) -> Engine {
        let mut cfg = Config::embedded(dir);
        cfg.desk.address = "helpdesk@example.test".into();
        cfg.desk.first_ticket_number = 100;
        Engine::new(cfg).unwrap()
    }

    fn item(raw: &str) -> Incoming {
        Incoming {
            raw: raw.replace('\n', "\r\n").into_bytes(),
            uid: None,
        }
    }

    const REQUEST: &str = "From: Ann <ann@corp.test>\nTo: helpdesk@example.test\nSubject: VPN down\nMessage-ID: <r1@corp.test>\n\nIt does not connect.\n";

    #[test]
    fn request_then_reply_by_tag_and_by_reference() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let mut store = e.open_store().unwrap();
        let t = process_batch(&mut store, &e, "inbox", &[item(REQUEST)], None, 1000).unwrap();
        assert_eq!((t.created, t.queued), (1, 1));
        let detail = store.ticket_detail(100).unwrap().unwrap();
        assert_eq!(detail.ticket.subject, "VPN down");
        let ack = detail
            .messages
            .iter()
            .find(|m| m.direction == "out")
            .unwrap();
        assert_eq!(ack.subject, "[#100] VPN down");

        let by_tag = "From: ann@corp.test\nSubject: Re: [#100] VPN down\nMessage-ID: <r2@corp.test>\n\nStill down.\n";
        let by_ref = format!(
            "From: ann@corp.test\nSubject: Re: VPN\nMessage-ID: <r3@corp.test>\nIn-Reply-To: <{}>\n\nAnd now?\n",
            ack.message_id
        );
        let t = process_batch(
            &mut store,
            &e,
            "inbox",
            &[item(by_tag), item(&by_ref)],
            None,
            2000,
        )
        .unwrap();
        assert_eq!((t.created, t.attached, t.queued), (0, 2, 0));
        assert_eq!(store.ticket_count().unwrap(), 1);
        assert_eq!(store.ticket_detail(100).unwrap().unwrap().messages.len(), 4);
    }

    #[test]
    fn same_message_twice_is_one_ticket() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let mut store = e.open_store().unwrap();
        process_batch(
            &mut store,
            &e,
            "inbox",
            &[item(REQUEST), item(REQUEST)],
            None,
            1,
        )
        .unwrap();
        let t = process_batch(&mut store, &e, "inbox", &[item(REQUEST)], None, 2).unwrap();
        assert_eq!(t.duplicates, 1);
        assert_eq!(store.ticket_count().unwrap(), 1);
        let (queued, _, _) = store.outbox_counts().unwrap();
        assert_eq!(queued, 1, "one acknowledgement only");
    }

    #[test]
    fn checkpoint_moves_with_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let mut store = e.open_store().unwrap();
        let cp = Checkpoint {
            uidvalidity: 7,
            last_uid: 42,
        };
        process_batch(&mut store, &e, "support", &[item(REQUEST)], Some(cp), 1).unwrap();
        assert_eq!(store.checkpoint("support").unwrap(), Some(cp));
    }

    #[test]
    fn unparseable_and_oversized_mail_is_quarantined_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::embedded(dir.path());
        cfg.storage.max_message_size = 10_000;
        let e = Engine::new(cfg).unwrap();
        let mut store = e.open_store().unwrap();
        let big = Incoming {
            raw: vec![b'a'; 20_000],
            uid: Some(9),
        };
        let empty = Incoming {
            raw: Vec::new(),
            uid: Some(10),
        };
        let t = process_batch(
            &mut store,
            &e,
            "inbox",
            &[big, empty, item(REQUEST)],
            None,
            1,
        )
        .unwrap();
        assert_eq!((t.quarantined, t.created), (2, 1));
        let q = store.quarantined(10).unwrap();
        assert_eq!(q.len(), 2);
        assert!(
            q.iter()
                .any(|r| r.error.contains("max-message-size") && r.size == 20_000)
        );
    }

    #[test]
    fn a_quarantined_message_is_retried_after_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::embedded(dir.path());
        cfg.storage.max_message_size = 100;
        let strict = Engine::new(cfg.clone()).unwrap();
        let mut store = strict.open_store().unwrap();
        let t = process_batch(&mut store, &strict, "inbox", &[item(REQUEST)], None, 1).unwrap();
        assert_eq!(t.quarantined, 1);
        let id = store.quarantined(10).unwrap()[0].id;

        let again = retry_quarantined(&mut store, &strict, id, 2).unwrap();
        assert_eq!(again, Retried::StillFailing);
        cfg.storage.max_message_size = 1_000_000;
        let fixed = Engine::new(cfg).unwrap();
        match retry_quarantined(&mut store, &fixed, id, 3).unwrap() {
            Retried::Processed(t) => assert_eq!(t.created, 1),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            retry_quarantined(&mut store, &fixed, id, 4).unwrap(),
            Retried::NotWaiting
        );
        assert_eq!(
            retry_quarantined(&mut store, &fixed, 999, 4).unwrap(),
            Retried::NotWaiting
        );
    }

    #[test]
    fn automatic_mail_to_one_address_is_limited() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let mut store = e.open_store().unwrap();
        let mails: Vec<Incoming> = (0..14)
            .map(|i| item(&format!("From: bot@corp.test\nSubject: Alert {i}\nMessage-ID: <a{i}@corp.test>\n\nDisk full.\n")))
            .collect();
        let t = process_batch(&mut store, &e, "inbox", &mails, None, 1000).unwrap();
        assert_eq!(
            (t.created, t.queued),
            (14, 10),
            "limits.per-recipient = 10 per hour"
        );
        let held = store.ticket_detail(113).unwrap().unwrap();
        assert!(
            held.events.iter().any(|ev| ev.kind == "held-back"),
            "{:?}",
            held.events
        );
        // An hour later the window has moved on.
        let later =
            item("From: bot@corp.test\nSubject: Alert again\nMessage-ID: <b1@corp.test>\n\nx\n");
        let t = process_batch(&mut store, &e, "inbox", &[later], None, 1000 + 3_600_001).unwrap();
        assert_eq!(t.queued, 1);
    }

    #[test]
    fn same_request_twice_is_acknowledged_once() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let mut store = e.open_store().unwrap();
        let a =
            item("From: ann@corp.test\nSubject: VPN down\nMessage-ID: <v1@corp.test>\n\nhelp\n");
        let b =
            item("From: ann@corp.test\nSubject: VPN down\nMessage-ID: <v2@corp.test>\n\nhelp!!\n");
        let t = process_batch(&mut store, &e, "inbox", &[a, b], None, 1000).unwrap();
        assert_eq!((t.created, t.queued), (2, 1));
    }

    #[test]
    fn bounce_joins_its_ticket_and_stops_mail_to_the_address() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let mut store = e.open_store().unwrap();
        let req = item(
            "From: old.user@customer.example\nSubject: Printer\nMessage-ID: <p1@customer.example>\n\nhelp\n",
        );
        process_batch(&mut store, &e, "inbox", &[req], None, 1000).unwrap();
        let ack_id = store.ticket_detail(100).unwrap().unwrap().messages[1]
            .message_id
            .clone();
        // The fixture's returned message, re-addressed to our acknowledgement.
        let fixture = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/eml/bounce-postfix.eml"
        ))
        .unwrap();
        let original = crate::inbound::parse(fixture.as_bytes())
            .unwrap()
            .bounce
            .unwrap()
            .original_message_id
            .unwrap();
        let dsn = Incoming {
            raw: fixture.replace(&original, &ack_id).into_bytes(),
            uid: None,
        };
        let t = process_batch(&mut store, &e, "inbox", &[dsn], None, 2000).unwrap();
        assert_eq!(
            (t.created, t.attached, t.queued),
            (0, 1, 0),
            "no ticket, no answer"
        );
        let d = store.ticket_detail(100).unwrap().unwrap();
        assert_eq!(d.messages.last().unwrap().kind, "bounce");
        assert!(
            d.events.iter().any(|ev| ev.kind == "delivery-failed"),
            "{:?}",
            d.events
        );
        assert!(d.events.iter().any(|ev| ev.kind == "address-suppressed"));
        // The requester writes again: no mail to the failed address.
        let again = item(
            "From: old.user@customer.example\nSubject: Re: [#100] Printer\nMessage-ID: <p2@customer.example>\n\nstill\n",
        );
        process_batch(&mut store, &e, "inbox", &[again], None, 3000).unwrap();
        // A bounce about nothing of ours is recorded and ignored.
        let stray = Incoming {
            raw: fixture.replace("20231205100245.", "another.").into_bytes(),
            uid: None,
        };
        let t = process_batch(&mut store, &e, "inbox", &[stray], None, 4000).unwrap();
        assert_eq!((t.created, t.ignored), (0, 1));
        assert_eq!(store.ticket_count().unwrap(), 1);
    }

    #[test]
    fn slow_messages_are_quarantined() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::embedded(dir.path());
        cfg.storage.max_parse_time = Duration::ZERO;
        let e = Engine::new(cfg).unwrap();
        let mut store = e.open_store().unwrap();
        let t = process_batch(&mut store, &e, "inbox", &[item(REQUEST)], None, 1).unwrap();
        assert_eq!((t.quarantined, t.created), (1, 0));
        assert!(
            store.quarantined(1).unwrap()[0]
                .error
                .contains("max-parse-time")
        );
    }

    #[test]
    fn database_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let store = e.open_store().unwrap();
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
