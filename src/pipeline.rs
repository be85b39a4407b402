//! One batch of raw messages → tickets, messages, events and queued mail, in one transaction.
//!
//! The glue of the design: parse, thread, decide (pure), then apply the
//! effects and the source checkpoint in a single commit. A crash before the
//! commit means the batch is fetched again; after it, never.
//!
//! - `engine`: the configuration compiled once (templates, policy): [`Engine`].
//! - this file: the steps in order, and the lookups the pure steps need
//!   (which ticket, KB suggestions, limits already used), run against the
//!   store before deciding.
//! - `apply`: the effect interpreter.

mod apply;
mod engine;

use std::path::Path;
use std::time::Duration;

use crate::config::Config;
use crate::desk::decide::{self, Known};
use crate::desk::effect::Effect;
use crate::desk::limits::{self, Lookups, Usage};
use crate::desk::policy::Policy;
use crate::desk::sla::escalation;
use crate::desk::{closing, kb};
use crate::inbound::{self, Inbound};
use crate::store::{Checkpoint, Seen, Store, StoreError, Tx};
use crate::thread::{self, Link, Lookup};

use apply::{Context, apply};
pub use engine::{Engine, EngineError, policy_from_config};

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
    let language = engine.mail_language(mailbox);
    let parsed = parse_all(items, limit, engine.config.storage.max_parse_time, language);
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
    language: Option<crate::lang::Lang>,
) -> Vec<Result<Inbound, String>> {
    let one = |item: &Incoming| -> Result<Inbound, String> {
        if item.raw.len() as u64 > max_size {
            return Err(format!(
                "message of {} bytes exceeds max-message-size ({max_size} bytes)",
                item.raw.len()
            ));
        }
        let started = std::time::Instant::now();
        let mail = inbound::parse_for(&item.raw, language).map_err(|e| e.to_string())?;
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
    let reused = match tx.seen_inbound(mailbox, &mail.message_id, &mail.fingerprint)? {
        Seen::Duplicate => {
            tally.duplicates += 1;
            return Ok(tally);
        }
        Seen::New => None,
        Seen::ReusedId { ticket } => Some(ticket),
    };
    let bounced = match mail
        .bounce
        .as_ref()
        .and_then(|b| b.original_message_id.as_deref())
    {
        Some(id) => tx.sent_mail(id)?,
        None => None,
    };
    let link = match bounced.as_ref().and_then(|s| s.ticket) {
        // A report about a mail we sent belongs to that mail's ticket.
        Some(n) => tx.ticket(n)?.map(Link::Reference),
        None => find_link(tx, policy, &mail)?,
    };
    let known = Known {
        link: link.as_ref(),
        next_number: tx.next_ticket_number(engine.config.desk.first_ticket_number)?,
        suggestions: &[],
        bounced: bounced.as_ref(),
    };
    let effects = decide_with_kb(tx, policy, &mail, known, now_ms)?;
    let mut effects = hold_back(tx, engine, policy, effects, now_ms)?;
    if let Some(earlier) = reused {
        note_reused_id(&mut effects, mailbox, &mail.message_id, earlier);
    }
    let cx = Context {
        engine,
        policy,
        mailbox,
        incoming: Some((&mail, item.raw.as_slice())),
        now_ms,
    };
    apply(tx, &cx, &effects, &mut tally)?;
    Ok(tally)
}

/// A mail whose Message-ID an earlier, different mail in this mailbox had
/// is recorded as a new message all the same; the timeline of the ticket it
/// joins (or opens) says so, since threading by that id is now ambiguous.
/// Mail that joins no ticket is only logged.
fn note_reused_id(
    effects: &mut Vec<Effect>,
    mailbox: &str,
    message_id: &str,
    earlier: Option<i64>,
) {
    let joined = effects.iter().find_map(|e| match e {
        Effect::Attach { ticket, .. } => Some(*ticket),
        _ => None,
    });
    let before = earlier.map_or_else(|| "no ticket".to_string(), |n| format!("ticket #{n}"));
    tracing::info!(
        mailbox,
        message_id,
        earlier = %before,
        "a different mail with a Message-ID already recorded: kept as a new message"
    );
    if let Some(ticket) = joined {
        effects.push(Effect::Event {
            ticket,
            actor: "postdesk".into(),
            kind: "message-id-reused",
            old: None,
            new: None,
            detail: Some(format!(
                "Message-ID <{message_id}> was already recorded in mailbox {mailbox} for a \
                 different mail ({before}); this one has other content, so it was recorded \
                 as a new message"
            )),
        });
    }
}

/// Decides about a mail. A new ticket's acknowledgement and team notice
/// list the published knowledge-base entries that may answer it: when the
/// decision opens a ticket and the KB offers suggestions, they are looked
/// up with the request's words and the (pure) decision is made again with
/// them, so only new tickets pay for the search.
fn decide_with_kb(
    tx: &Tx<'_>,
    policy: &Policy,
    mail: &Inbound,
    known: Known<'_>,
    now_ms: i64,
) -> Result<Vec<Effect>, StoreError> {
    let effects = decide::decide(policy, mail, &known, now_ms);
    let opens = effects.iter().any(|e| matches!(e, Effect::CreateTicket(_)));
    if policy.kb.suggestions == 0 || !opens {
        return Ok(effects);
    }
    let terms = kb::request_terms(&mail.subject, &mail.text);
    let found = tx.kb_suggestions(&terms, policy.kb.suggestions, policy.kb.min_score)?;
    if found.is_empty() {
        return Ok(effects);
    }
    let known = Known {
        suggestions: &found,
        ..known
    };
    Ok(decide::decide(policy, mail, &known, now_ms))
}

/// Finds the ticket a mail belongs to: runs [`thread::plan`]'s lookups, in
/// its order, against the store.
fn find_link(tx: &Tx<'_>, policy: &Policy, mail: &Inbound) -> Result<Option<Link>, StoreError> {
    let plan = thread::plan(mail, &policy.tag, &policy.id_domain, &policy.id_key);
    thread::resolve(&plan, |lookup| match lookup {
        Lookup::Tag(n) | Lookup::NoticeRoot(n) => tx.ticket(*n),
        Lookup::MessageIds(ids) => tx.ticket_by_message_ids(ids),
    })
}

/// Holds back the mails a loop limit or a suppression stops: looks up what
/// [`limits::lookups`] asks, then lets [`limits::hold_back`] judge.
fn hold_back(
    tx: &Tx<'_>,
    engine: &Engine,
    policy: &Policy,
    effects: Vec<Effect>,
    now_ms: i64,
) -> Result<Vec<Effect>, StoreError> {
    let settings = &engine.config.limits;
    let wanted = limits::lookups(settings, policy, &effects, now_ms);
    if wanted.recipients.is_empty() {
        return Ok(effects);
    }
    let usage = usage(tx, &wanted, now_ms)?;
    let effects = limits::hold_back(settings, policy, effects, &usage);
    for e in &effects {
        if let Effect::Event {
            ticket,
            kind: "held-back",
            detail: Some(why),
            ..
        } = e
        {
            tracing::warn!(ticket, "{why}");
        }
    }
    Ok(effects)
}

/// The store's answers to the limits' questions.
fn usage(tx: &Tx<'_>, l: &Lookups, now_ms: i64) -> Result<Usage, StoreError> {
    let mut u = Usage::default();
    for rcpt in &l.recipients {
        if let Some(s) = tx.suppressed(rcpt, now_ms)? {
            u.suppressed.insert(rcpt.clone(), s);
        }
    }
    for rcpt in &l.outside {
        u.to_recipient
            .insert(rcpt.clone(), tx.auto_replies_to(rcpt, l.since)?);
    }
    for t in &l.tickets {
        u.on_ticket.insert(*t, tx.auto_replies_on(*t, l.since)?);
    }
    for (ticket, rcpt, subject) in &l.acks {
        if let Some(other) = tx.similar_recent_ticket(*ticket, rcpt, subject, l.ack_since)? {
            u.similar.insert((*ticket, rcpt.clone()), other);
        }
    }
    Ok(u)
}

/// Gates and applies the decisions of the clock or the shell (no mail).
fn apply_decided(
    tx: &Tx<'_>,
    engine: &Engine,
    policy: &Policy,
    effects: Vec<Effect>,
    now_ms: i64,
    tally: &mut Tally,
) -> Result<(), StoreError> {
    let effects = hold_back(tx, engine, policy, effects, now_ms)?;
    let cx = Context {
        engine,
        policy,
        mailbox: "",
        incoming: None,
        now_ms,
    };
    apply(tx, &cx, &effects, tally)
}

/// Runs the clock's decisions (closing resolved tickets nobody confirmed) in
/// one transaction, through the same apply path as mail.
pub fn sweep(store: &mut Store, engine: &Engine, now_ms: i64) -> Result<Tally, StoreError> {
    let policy = engine.policy();
    let tx = store.transaction()?;
    let mut tally = Tally::default();
    let due = now_ms - policy.auto_close_after.as_millis() as i64;
    for number in tx.resolved_before(due, 500)? {
        let Some(t) = tx.ticket(number)? else {
            continue;
        };
        let effects = closing::sweep(policy, &t, now_ms);
        apply_decided(&tx, engine, policy, effects, now_ms, &mut tally)?;
    }
    if !policy.sla.policies.is_empty() {
        for number in tx.sla_candidates()? {
            let Some(t) = tx.ticket(number)? else {
                continue;
            };
            let effects = escalation::sweep(policy, &t, now_ms);
            if !effects.is_empty() {
                apply_decided(&tx, engine, policy, effects, now_ms, &mut tally)?;
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
    let policy = engine.policy();
    let tx = store.transaction()?;
    let Some(t) = tx.ticket(number)? else {
        return Ok(AdminOutcome::default());
    };
    let (effects, applied, refused) =
        crate::desk::agent::from_admin(policy, &t, commands, actor, now_ms);
    let mut tally = Tally::default();
    apply_decided(&tx, engine, policy, effects, now_ms, &mut tally)?;
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
    fn ticket_detail_names_each_sender() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let mut store = e.open_store().unwrap();
        process_batch(&mut store, &e, "inbox", &[item(REQUEST)], None, 1000).unwrap();
        let d = store.ticket_detail(100).unwrap().unwrap();
        let names: Vec<_> = d.messages.iter().map(|m| m.from_name.as_deref()).collect();
        // The request, then our acknowledgement (from the desk's name).
        assert_eq!(names, vec![Some("Ann"), Some("Service Desk")]);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["messages"][0]["from_name"], "Ann");
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

    /// A scanner that gives every scan the same Message-ID.
    fn scan(n: u32, received: &str) -> Incoming {
        item(&format!(
            "Received: from mfp.office.test by mx.corp.test; {received}\n\
             From: Scanner <scanner@corp.test>\nSubject: Scan from MFP-3F\n\
             Date: Tue, 5 Dec 2023 10:0{n}:00 +0100\nMessage-ID: <0000@mfp-3f.corp.test>\n\n\
             Scanned document {n} attached.\n"
        ))
    }

    #[test]
    fn a_reused_message_id_is_a_new_message_not_a_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let mut store = e.open_store().unwrap();
        let t = process_batch(&mut store, &e, "inbox", &[scan(1, "10:00:01")], None, 1).unwrap();
        assert_eq!((t.created, t.duplicates), (1, 0));
        // Another scan, same id: recorded and processed (its own ticket:
        // nothing threads it), and its timeline says why.
        let t = process_batch(&mut store, &e, "inbox", &[scan(2, "10:02:01")], None, 2).unwrap();
        assert_eq!((t.created, t.duplicates), (1, 0));
        assert_eq!(store.ticket_count().unwrap(), 2);
        let second = store.ticket_detail(101).unwrap().unwrap();
        assert!(second.messages[0].body.contains("Scanned document 2"));
        let ev = second
            .events
            .iter()
            .find(|ev| ev.kind == "message-id-reused")
            .unwrap_or_else(|| panic!("{:?}", second.events));
        assert!(
            ev.detail.as_deref().unwrap().contains("ticket #100"),
            "{ev:?}"
        );
        // The same scan delivered again by another route, in the same batch
        // as a third scan: the first is a duplicate, the second is new.
        let t = process_batch(
            &mut store,
            &e,
            "inbox",
            &[scan(2, "10:09:59"), scan(3, "10:03:01")],
            None,
            3,
        )
        .unwrap();
        assert_eq!((t.created, t.duplicates), (1, 1));
        assert_eq!(store.ticket_count().unwrap(), 3);
        // The first ticket's timeline is untouched.
        let first = store.ticket_detail(100).unwrap().unwrap();
        assert!(first.events.iter().all(|ev| ev.kind != "message-id-reused"));
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
