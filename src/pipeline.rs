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
//! - `screening`: the spam filters asked before deciding (headers, rspamd),
//!   and the lessons for rspamd sent after the commit.
//! - `history`: old mail recorded as history (`postdesk import`, a first
//!   connection with `on-first-connect = "import"`).

mod apply;
mod engine;
mod history;
mod reminders;
mod screening;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Duration;

use crate::config::Config;
use crate::desk::decide::{self, Known};
use crate::desk::effect::Effect;
use crate::desk::limits::{self, Lookups, Usage};
use crate::desk::policy::Policy;
use crate::desk::sla::escalation;
use crate::desk::sla::schedule::schedule;
use crate::desk::{self, closing, flood, listing, merge};
use crate::inbound::{self, Inbound};
use crate::store::{Checkpoint, Seen, Store, StoreError, Tx};
use crate::thread::{self, Link, Lookup};

use apply::{Context, apply};
pub use engine::{Engine, EngineError, for_reading, policy_from_config};
pub use history::{ImportPosition, import_batch};

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
    /// Each mail of the batch by what it was (for the metrics).
    pub kinds: MailKinds,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.created += o.created;
        self.attached += o.attached;
        self.duplicates += o.duplicates;
        self.ignored += o.ignored;
        self.quarantined += o.quarantined;
        self.queued += o.queued;
        self.kinds += o.kinds;
    }
}

/// Mails by kind: each mail counts once, as the first that fits of
/// quarantined, duplicate, bounce, spam, automatic, request (it opened a
/// ticket), reply (it joined one), ignored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MailKinds {
    pub request: usize,
    pub reply: usize,
    pub automatic: usize,
    pub bounce: usize,
    /// Left for a spam filter to count; nothing sets it yet.
    pub spam: usize,
    pub quarantined: usize,
    pub duplicate: usize,
    pub ignored: usize,
}

impl MailKinds {
    /// Each kind's name (as the metrics label it) and count.
    pub fn counts(&self) -> [(&'static str, usize); 8] {
        [
            ("request", self.request),
            ("reply", self.reply),
            ("automatic", self.automatic),
            ("bounce", self.bounce),
            ("spam", self.spam),
            ("quarantined", self.quarantined),
            ("duplicate", self.duplicate),
            ("ignored", self.ignored),
        ]
    }
}

impl std::ops::AddAssign for MailKinds {
    fn add_assign(&mut self, o: MailKinds) {
        self.request += o.request;
        self.reply += o.reply;
        self.automatic += o.automatic;
        self.bounce += o.bounce;
        self.spam += o.spam;
        self.quarantined += o.quarantined;
        self.duplicate += o.duplicate;
        self.ignored += o.ignored;
    }
}

/// Processes a batch of messages from `mailbox` in one transaction, moving the
/// checkpoint (if given) in the same commit.
///
/// Never panics because of a mail: should processing panic (a bug; nothing
/// a sender writes is meant to reach one), the batch is rolled back and its
/// mails are processed one at a time, each in its own transaction. A mail
/// that panics alone is quarantined with the panic's message, the panic is
/// logged and counted for `postdesk check`
/// ([`crate::store::Store::mailbox_panics`]), and the rest go on as usual.
pub fn process_batch(
    store: &mut Store,
    engine: &Engine,
    mailbox: &str,
    items: &[Incoming],
    checkpoint: Option<Checkpoint>,
    now_ms: i64,
) -> Result<Tally, StoreError> {
    let tally = isolate_panics(
        store,
        mailbox,
        items,
        checkpoint,
        now_ms,
        |store, items, cp| process_unguarded(store, engine, mailbox, items, cp, now_ms),
    )?;
    // Lessons an agent's #spam / #notspam queued in this batch go out now
    // that they are committed; a failure leaves them for the sweeper.
    screening::teach(store, engine, now_ms);
    Ok(tally)
}

/// [`process_batch`]'s guard around `run` (which processes some of the
/// items, moving the checkpoint if given, in one transaction).
fn isolate_panics(
    store: &mut Store,
    mailbox: &str,
    items: &[Incoming],
    checkpoint: Option<Checkpoint>,
    now_ms: i64,
    mut run: impl FnMut(&mut Store, &[Incoming], Option<Checkpoint>) -> Result<Tally, StoreError>,
) -> Result<Tally, StoreError> {
    // The transaction `run` opened is rolled back as the panic unwinds
    // through it, and the store holds nothing else a panic could break.
    let batch = catch_unwind(AssertUnwindSafe(|| run(store, items, checkpoint)));
    let why = match batch {
        Ok(done) => return done,
        Err(payload) => panic_message(payload.as_ref()),
    };
    tracing::error!(
        mailbox,
        mails = items.len(),
        panic = %why,
        "processing a batch panicked; processing its mails one at a time"
    );
    store.record_panic(mailbox, &why, now_ms)?;
    let mut tally = Tally::default();
    for item in items {
        match catch_unwind(AssertUnwindSafe(|| {
            run(store, std::slice::from_ref(item), None)
        })) {
            Ok(done) => tally += done?,
            Err(payload) => {
                let why = format!("processing panicked: {}", panic_message(payload.as_ref()));
                tracing::error!(mailbox, uid = item.uid, error = %why, "quarantined the mail that made processing panic");
                let tx = store.transaction()?;
                tx.quarantine(mailbox, item.uid, &why, &item.raw, now_ms)?;
                tx.commit()?;
                tally.quarantined += 1;
                tally.kinds.quarantined += 1;
            }
        }
    }
    if let Some(cp) = checkpoint {
        let tx = store.transaction()?;
        tx.set_checkpoint(mailbox, cp, now_ms)?;
        tx.commit()?;
    }
    Ok(tally)
}

/// What a panic said, for the log and the quarantine.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a panic without a message)".into())
}

fn process_unguarded(
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
    // Before the transaction: rspamd is a network call, and the writer
    // must not wait on it.
    let screens = screening::screen_all(engine, &policy, items, &parsed);
    let tx = store.transaction()?;
    let mut tally = Tally::default();
    for (i, ((item, mail), screen)) in items.iter().zip(parsed).zip(&screens).enumerate() {
        if i == 1 {
            crate::test_pause::here("mid-batch");
        }
        tally += process_one(
            &tx,
            engine,
            &policy,
            mailbox,
            item,
            mail,
            screen.as_ref(),
            now_ms,
        )?;
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

#[allow(clippy::too_many_arguments)]
fn process_one(
    tx: &Tx<'_>,
    engine: &Engine,
    policy: &Policy,
    mailbox: &str,
    item: &Incoming,
    parsed: Result<Inbound, String>,
    screen: Option<&crate::desk::spam::Screen>,
    now_ms: i64,
) -> Result<Tally, StoreError> {
    let mut tally = Tally::default();
    let mail = match parsed {
        Ok(m) => m,
        Err(why) => {
            tracing::warn!(mailbox, uid = item.uid, error = %why, "quarantined a message that cannot be processed");
            tx.quarantine(mailbox, item.uid, &why, &item.raw, now_ms)?;
            tally.quarantined += 1;
            tally.kinds.quarantined += 1;
            return Ok(tally);
        }
    };
    let reused = match tx.seen_inbound(mailbox, &mail.message_id, &mail.fingerprint)? {
        Seen::Duplicate => {
            tally.duplicates += 1;
            tally.kinds.duplicate += 1;
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
    let next_number = tx.next_ticket_number(engine.config.desk.first_ticket_number)?;
    let related = related(tx, policy, &mail, link.as_ref(), next_number)?;
    let approval = match link.as_ref().map(Link::ticket) {
        Some(t) if t.status() == desk::ticket::Status::AwaitingApproval => {
            tx.pending_approval(t.number)?
        }
        Some(t) if desk::approval::carries_token(&mail) => tx.latest_approval(t.number)?,
        _ => None,
    };
    let listing = match link {
        None => list_asked(tx, policy, &mail, now_ms)?,
        Some(_) => None,
    };
    let standing = standing(tx, policy, &mail, now_ms)?;
    let known = Known {
        link: link.as_ref(),
        next_number,
        suggestions: &[],
        bounced: bounced.as_ref(),
        screen,
        related: related.as_ref(),
        listing: listing.as_ref(),
        approval: approval.as_ref(),
        standing,
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
    let k = &mut tally.kinds;
    if mail.auto.is_bounce() || mail.bounce.is_some() {
        k.bounce += 1;
    } else if mail.auto.is_automatic() {
        k.automatic += 1;
    } else if tally.created > 0 {
        k.request += 1;
    } else if tally.attached > 0 {
        k.reply += 1;
    } else {
        k.ignored += 1;
    }
    Ok(tally)
}

/// What an agent's `#merge` and `#split` name, looked up: the tickets
/// (through aliases) and the mail to split off. `None` for everybody
/// else's mail, which pays nothing for it.
fn related(
    tx: &Tx<'_>,
    policy: &Policy,
    mail: &Inbound,
    link: Option<&Link>,
    next_number: i64,
) -> Result<Option<merge::Related>, StoreError> {
    let (Some(link), Some(from)) = (link, mail.from.as_ref()) else {
        return Ok(None);
    };
    if policy.directory.agent_by_address(&from.address).is_none() {
        return Ok(None);
    }
    let wanted = merge::wanted(&desk::quote::new_text(&mail.text, mail.html.as_deref()));
    if wanted == merge::Wanted::default() {
        return Ok(None);
    }
    let mut related = merge::Related {
        next_number,
        ..merge::Related::default()
    };
    for n in wanted.tickets {
        if let Some(t) = tx.ticket_via_alias(n)? {
            related.tickets.push((n, t));
        }
    }
    if wanted.split {
        let mut ids: Vec<String> = mail.in_reply_to.clone();
        ids.extend(mail.references.iter().rev().cloned());
        related.split = tx.split_source(link.ticket().number, &ids)?;
    }
    if wanted.request {
        related.request_text = tx.request_text(link.ticket().number)?;
    }
    Ok(Some(related))
}

/// What decide needs to know of a sender outside the desk's scope: looked
/// up only when the scope would screen them.
fn standing(
    tx: &Tx<'_>,
    policy: &Policy,
    mail: &Inbound,
    now_ms: i64,
) -> Result<desk::scope::Standing, StoreError> {
    if !desk::scope::wants_screening(policy, mail) {
        return Ok(desk::scope::Standing::default());
    }
    let sender = mail.sender_address();
    let refused_recently = policy.scope.outside == desk::scope::Outside::Refuse && {
        let since = now_ms - policy.scope.refusal_window.as_millis() as i64;
        tx.refused_since(&sender, since)?
    };
    let vouched = tx
        .watcher_added_by(&sender)?
        .iter()
        .any(|actor| policy.directory.agent(actor).is_some());
    Ok(desk::scope::Standing {
        refused_recently,
        vouched,
    })
}

/// The list a new mail asks for (`#queue`, `#status`), looked up.
fn list_asked(
    tx: &Tx<'_>,
    policy: &Policy,
    mail: &Inbound,
    now_ms: i64,
) -> Result<Option<listing::Lookups>, StoreError> {
    let Some(ask) = listing::asked(policy, mail) else {
        return Ok(None);
    };
    let (lines, to) = match &ask {
        listing::Ask::Queue(name) => {
            let led = listing::led_teams(policy, name);
            let to = policy
                .directory
                .agent(name)
                .map(|a| a.addresses[0].clone())
                .unwrap_or_default();
            (tx.open_tickets_for(name, &led)?, to)
        }
        listing::Ask::Status(address) => (tx.open_tickets_of_requester(address)?, address.clone()),
    };
    let sent_last_hour = tx.lists_sent_to(&to, now_ms - 3_600_000)?;
    Ok(Some(listing::Lookups {
        ask,
        lines,
        sent_last_hour,
    }))
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
    let found = tx.kb_suggestions(
        &mail.subject,
        &mail.text,
        policy.kb.suggestions,
        policy.kb.min_score,
    )?;
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
        // A merged ticket's number is an alias of the ticket it went into.
        Lookup::Tag(n) | Lookup::NoticeRoot(n) => tx.ticket_via_alias(*n),
        // Mail written about a merged ticket after its messages moved (an
        // agent's words under `#merge`) still names it: follow the alias.
        Lookup::MessageIds(ids) => match tx.ticket_by_message_ids(ids)? {
            Some(t) => match tx.alias_target(t.number)? {
                Some(target) => tx.ticket(target),
                None => Ok(Some(t)),
            },
            None => Ok(None),
        },
    })
}

/// Holds back the mails a loop limit, a suppression or the flood breaker
/// stops: looks up what [`limits::lookups`] asks and lets
/// [`limits::hold_back`] judge, then the same with [`flood::lookups`] and
/// [`flood::gate`] for the mails that are left.
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
    let wanted = flood::lookups(&settings.flood, &effects, now_ms);
    let effects = if wanted.tickets.is_empty() {
        effects
    } else {
        let facts = flood_facts(tx, &wanted)?;
        flood::gate(&settings.flood, policy, effects, &facts, now_ms)
    };
    for e in &effects {
        if let Effect::Event {
            ticket,
            kind: kind @ ("held-back" | flood::PAUSED | flood::RESUMED),
            detail: Some(why),
            ..
        } = e
        {
            tracing::warn!(ticket, "{kind}: {why}");
        }
    }
    Ok(effects)
}

/// What the flood breaker must know of each ticket: the ticket, whether it
/// is paused, and the mail and timeline of the window.
fn flood_facts(tx: &Tx<'_>, l: &flood::Lookups) -> Result<flood::Facts, StoreError> {
    let mut facts = flood::Facts::default();
    for &n in &l.tickets {
        let Some(ticket) = tx.ticket(n)? else {
            continue;
        };
        let events = tx
            .events_since(n, l.since)?
            .into_iter()
            .map(|e| flood::Happened {
                at: e.at,
                kind: e.kind,
                actor: e.actor,
                new: e.new,
            })
            .collect();
        facts.tickets.insert(
            n,
            flood::TicketFacts {
                ticket,
                last_switch: tx.last_event_of(n, flood::SWITCHES)?,
                sent: tx.mail_sent_since(n, l.since)?,
                events,
            },
        );
    }
    Ok(facts)
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

/// Tickets one sweep transaction handles: the write lock is held for one
/// batch at a time, so intake waits for at most one batch, however many
/// tickets are due.
const SWEEP_BATCH: usize = 200;

/// Runs the clock's decisions: closes resolved tickets nobody confirmed and
/// fires the SLA levels reached, through the same apply path as mail. Asks
/// only for tickets due (`sla_wake_at`), in batches of [`SWEEP_BATCH`], each
/// its own transaction.
pub fn sweep(store: &mut Store, engine: &Engine, now_ms: i64) -> Result<Tally, StoreError> {
    let policy = engine.policy();
    let mut tally = Tally::default();
    let due = now_ms - policy.auto_close_after.as_millis() as i64;
    loop {
        let tx = store.transaction()?;
        let batch = tx.resolved_before(due, SWEEP_BATCH)?;
        for &number in &batch {
            let Some(t) = tx.ticket(number)? else {
                continue;
            };
            let policy = ticket_policy(&tx, engine, number)?;
            let effects = closing::sweep(&policy, &t, now_ms);
            apply_decided(&tx, engine, &policy, effects, now_ms, &mut tally)?;
        }
        tx.commit()?;
        if batch.len() < SWEEP_BATCH {
            break;
        }
    }
    if !policy.sla.policies.is_empty() {
        sweep_sla_due(store, engine, now_ms, &mut tally)?;
    }
    let tx = store.transaction()?;
    reminders::sweep(&tx, engine, policy, now_ms, &mut tally)?;
    screening::purge(&tx, policy, now_ms)?;
    tx.commit()?;
    screening::teach(store, engine, now_ms);
    Ok(tally)
}

/// Fires the SLA levels of every ticket due by `now_ms`, a batch per transaction.
fn sweep_sla_due(
    store: &mut Store,
    engine: &Engine,
    now_ms: i64,
    tally: &mut Tally,
) -> Result<(), StoreError> {
    // Rules changed since the schedule was made: every open ticket is due.
    rebase_sla_schedule(store, engine, now_ms)?;
    // Each ticket once per sweep, even if it comes due again meanwhile.
    let mut seen = std::collections::HashSet::new();
    loop {
        let tx = store.transaction()?;
        let batch = tx.sla_wakes(now_ms, SWEEP_BATCH)?;
        for &number in &batch {
            if !seen.insert(number) {
                continue;
            }
            let policy = ticket_policy(&tx, engine, number)?;
            sweep_sla(&tx, engine, &policy, number, now_ms, tally)?;
        }
        tx.commit()?;
        if batch.len() < SWEEP_BATCH {
            return Ok(());
        }
    }
}

/// Fires the levels ticket `number` reached and schedules its next look.
fn sweep_sla(
    tx: &Tx<'_>,
    engine: &Engine,
    policy: &Policy,
    number: i64,
    now_ms: i64,
    tally: &mut Tally,
) -> Result<(), StoreError> {
    let Some(mut t) = tx.ticket(number)? else {
        return Ok(());
    };
    let effects = escalation::sweep(policy, &t, now_ms);
    if !effects.is_empty() {
        apply_decided(tx, engine, policy, effects, now_ms, tally)?;
        t = tx.ticket(number)?.unwrap_or(t);
    }
    let mut s = schedule(policy, &t, now_ms);
    // Strictly later than now, so this sweep's loop cannot take it again.
    s.wake_ms = s.wake_ms.map(|w| w.max(now_ms + 1));
    tx.set_sla_schedule(number, &s)
}

/// A digest of the rules the SLA schedule is computed with: the policies
/// and the calendar, as this build prints them. Another build printing the
/// same rules differently only costs one look at every open ticket.
pub fn sla_basis(policy: &Policy) -> String {
    let text = format!("{:?}\n{:?}", policy.sla, policy.calendar);
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Points the SLA schedule at the rules this engine runs with (at start:
/// a changed calendar or policy moves every due time).
pub fn rebase_sla_schedule(
    store: &mut Store,
    engine: &Engine,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let tx = store.transaction()?;
    let changed = tx.rebase_sla_schedule(&sla_basis(engine.policy()), now_ms)?;
    tx.commit()?;
    Ok(changed)
}

/// The policy for decisions about ticket `number` that no mail led to (the
/// clock, the shell): its mailbox's, so what they send speaks as that
/// mailbox (name, language, signature).
fn ticket_policy(tx: &Tx<'_>, engine: &Engine, number: i64) -> Result<Policy, StoreError> {
    Ok(match tx.ticket_mailbox(number)? {
        Some(m) => engine.policy_for(&m),
        None => engine.policy().clone(),
    })
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
    let tx = store.transaction()?;
    let Some(t) = tx.ticket(number)? else {
        return Ok(AdminOutcome::default());
    };
    let policy = ticket_policy(&tx, engine, number)?;
    let (effects, applied, refused) =
        crate::desk::agent::from_admin(&policy, &t, commands, actor, now_ms);
    let mut tally = Tally::default();
    apply_decided(&tx, engine, &policy, effects, now_ms, &mut tally)?;
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
    /// It failed again: it stays held, with the new failure's error and
    /// time (one entry, however often it is retried).
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
        store.fold_failed_retry(id)?;
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

    /// An engine whose P1 tickets (subject with "outage") are reminded at
    /// 50 % of a 1 h first response, on a calendar that never closes.
    fn sla_engine(dir: &Path) -> Engine {
        let toml = r#"
[desk]
address = "helpdesk@example.test"
first-ticket-number = 100
[workflow]
agent-authentication = "none"
[[rule]]
name = "outages"
keywords = ["outage"]
priority = "P1"
[[team]]
name = "service-desk"
tier = "L1"
address = "l1@corp.test"
[sla.calendar]
time-zone = "UTC"
hours = { mon = "00:00-24:00", tue = "00:00-24:00", wed = "00:00-24:00", thu = "00:00-24:00", fri = "00:00-24:00", sat = "00:00-24:00", sun = "00:00-24:00" }
[[sla.policy]]
priority = "P1"
first-response = "1h"
resolution = "8h"
[[sla.policy.escalate]]
target = "first-response"
at = "50%"
action = "remind"
"#;
        let mut cfg = Config::from_toml(toml, Path::new("t.toml"), dir).unwrap();
        cfg.storage.database = dir.join("desk.db");
        Engine::new(cfg).unwrap()
    }

    fn wake_of(store: &Store, number: i64) -> (Option<i64>, Option<i64>, bool) {
        store
            .conn()
            .query_row(
                "SELECT sla_wake_at, sla_due_at, sla_paused FROM tickets WHERE number = ?1",
                [number],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
    }

    #[test]
    fn the_sweep_schedules_each_ticket_and_looks_again_only_when_due() {
        const H: i64 = 3_600_000;
        let t0 = 1_796_004_000_000; // Monday 2026-11-30 02:00 UTC
        let dir = tempfile::tempdir().unwrap();
        let e = sla_engine(dir.path());
        let mut store = e.open_store().unwrap();
        let outage = REQUEST.replace("VPN down", "Core switch outage");
        let quiet = REQUEST
            .replace("VPN down", "Printer toner")
            .replace("<r1@", "<r2@");
        let t = process_batch(
            &mut store,
            &e,
            "inbox",
            &[item(&outage), item(&quiet)],
            None,
            t0,
        )
        .unwrap();
        assert_eq!(t.created, 2);
        // Made now: both wait for the sweep.
        assert_eq!(wake_of(&store, 100).0, Some(t0));
        sweep(&mut store, &e, t0 + 1000).unwrap();
        assert_eq!(
            wake_of(&store, 100),
            (Some(t0 + H / 2), Some(t0 + H), false)
        );
        assert_eq!(
            wake_of(&store, 101),
            (None, None, false),
            "no policy without a priority"
        );
        let tx = store.transaction().unwrap();
        assert!(
            tx.sla_wakes(t0 + H / 2 - 1, 10).unwrap().is_empty(),
            "nothing due before the level"
        );
        assert_eq!(tx.sla_wakes(t0 + H / 2, 10).unwrap(), [100]);
        drop(tx);
        let t = sweep(&mut store, &e, t0 + H / 2).unwrap();
        assert_eq!(t.queued, 1, "the reminder to L1");
        // Fired: nothing left on the ladder, but the target is still due.
        assert_eq!(wake_of(&store, 100), (None, Some(t0 + H), false));
        assert_eq!(sweep(&mut store, &e, t0 + 2 * H).unwrap().queued, 0);
    }

    #[test]
    fn a_change_to_a_ticket_or_to_the_rules_marks_it_for_the_sweep() {
        let t0 = 1_796_004_000_000;
        let dir = tempfile::tempdir().unwrap();
        let e = sla_engine(dir.path());
        let mut store = e.open_store().unwrap();
        let outage = REQUEST.replace("VPN down", "Core switch outage");
        process_batch(&mut store, &e, "inbox", &[item(&outage)], None, t0).unwrap();
        sweep(&mut store, &e, t0 + 1).unwrap();
        assert_ne!(wake_of(&store, 100).0, Some(t0 + 5));
        let cmds = vec![(
            "#pending".to_string(),
            crate::desk::commands::Command::Pending,
        )];
        admin(&mut store, &e, 100, &cmds, "admin", t0 + 5).unwrap();
        assert_eq!(
            wake_of(&store, 100).0,
            Some(t0 + 5),
            "a status change marks it"
        );
        sweep(&mut store, &e, t0 + 6).unwrap();
        let (wake, _, paused) = wake_of(&store, 100);
        assert_eq!(
            (wake, paused),
            (None, true),
            "a stopped clock does not wake"
        );
        // Other rules (a new calendar, say): every open ticket is due again.
        store
            .conn()
            .execute("UPDATE sla_schedule_basis SET digest = 'older rules'", [])
            .unwrap();
        rebase_sla_schedule(&mut store, &e, t0 + 7).unwrap();
        assert_eq!(wake_of(&store, 100).0, Some(t0 + 7));
    }

    /// The indexed narrowing lists exactly what reading every ticket does.
    #[test]
    fn overdue_listing_by_the_schedule_matches_reading_every_ticket() {
        use crate::desk::sla::status::{DueFilter, select};
        use crate::store::{SlaDue, TicketFilter};
        const H: i64 = 3_600_000;
        let t0 = 1_796_004_000_000;
        let dir = tempfile::tempdir().unwrap();
        let e = sla_engine(dir.path());
        let mut store = e.open_store().unwrap();
        let mails: Vec<Incoming> = (0..6)
            .map(|i| {
                item(
                    &REQUEST
                        .replace("VPN down", &format!("Core switch outage {i}"))
                        .replace("<r1@", &format!("<o{i}@")),
                )
            })
            .collect();
        for (i, m) in mails.iter().enumerate() {
            process_batch(
                &mut store,
                &e,
                "inbox",
                std::slice::from_ref(m),
                None,
                t0 + i as i64 * H / 4,
            )
            .unwrap();
        }
        sweep(&mut store, &e, t0 + 2 * H).unwrap();
        // One waits on its requester, one was answered.
        let cmds = |c| vec![("#x".to_string(), c)];
        use crate::desk::commands::Command;
        admin(
            &mut store,
            &e,
            101,
            &cmds(Command::Pending),
            "a",
            t0 + 2 * H,
        )
        .unwrap();
        store
            .transaction()
            .and_then(|tx| {
                tx.first_response(102, t0 + H)?;
                tx.commit()
            })
            .unwrap();
        sweep(&mut store, &e, t0 + 2 * H + 1).unwrap();
        // One had no policy and got one after the last sweep: its columns
        // are stale, its mark keeps it in.
        let quiet = REQUEST
            .replace("VPN down", "Printer toner")
            .replace("<r1@", "<q@");
        process_batch(&mut store, &e, "inbox", &[item(&quiet)], None, t0).unwrap();
        sweep(&mut store, &e, t0 + 1).unwrap();
        let p1 = Command::Priority(crate::desk::ticket::Priority::P1);
        admin(&mut store, &e, 106, &cmds(p1), "a", t0 + 3 * H).unwrap();
        let policy = e.policy();
        // From the last change on (a listing never runs before a change it sees).
        for now in [
            t0 + 3 * H,
            t0 + 3 * H + 1,
            t0 + 4 * H,
            t0 + 7 * H,
            t0 + 9 * H,
        ] {
            for due in [
                DueFilter {
                    overdue: true,
                    within: None,
                },
                DueFilter {
                    overdue: false,
                    within: Some(Duration::from_secs(1800)),
                },
                DueFilter {
                    overdue: true,
                    within: Some(Duration::from_secs(7200)),
                },
            ] {
                let all = TicketFilter {
                    active_only: true,
                    ..TicketFilter::default()
                };
                let narrowed = TicketFilter {
                    sla_due: Some(SlaDue {
                        now,
                        due_by: now + due.within.map_or(0, |w| w.as_millis() as i64),
                        running_only: due.within.is_none(),
                    }),
                    ..all.clone()
                };
                let numbers = |f: &TicketFilter| -> Vec<i64> {
                    let rows = store.tickets_with_sla(f, None).unwrap();
                    select(policy, rows, due, now, 100)
                        .into_iter()
                        .map(|(t, _)| t.number)
                        .collect()
                };
                let expected = numbers(&all);
                assert_eq!(
                    numbers(&narrowed),
                    expected,
                    "at +{} min, {due:?}",
                    (now - t0) / 60_000
                );
            }
        }
        let listed = |now| {
            let f = TicketFilter {
                active_only: true,
                ..TicketFilter::default()
            };
            let rows = store.tickets_with_sla(&f, None).unwrap();
            let overdue = DueFilter {
                overdue: true,
                within: None,
            };
            select(policy, rows, overdue, now, 100).len()
        };
        assert_eq!(listed(t0 + 9 * H), 6, "all but the pending one");
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
    fn plus_addressing_does_not_multiply_acknowledgements() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let mut store = e.open_store().unwrap();
        // One mailbox behind 14 spellings: tags and case.
        let mails: Vec<Incoming> = (0..14)
            .map(|i| {
                let from = if i % 2 == 0 { "bot" } else { "BOT" };
                item(&format!(
                    "From: {from}+{i}@Corp.Test\nSubject: Alert {i}\nMessage-ID: <p{i}@corp.test>\n\nDisk full.\n"
                ))
            })
            .collect();
        let t = process_batch(&mut store, &e, "inbox", &mails, None, 1000).unwrap();
        assert_eq!(
            (t.created, t.queued),
            (14, 10),
            "limits.per-recipient = 10 per hour, for the mailbox bot@corp.test"
        );
        // The next batch sees what the first recorded.
        let more = item(
            "From: bot+new@corp.test\nSubject: Alert again\nMessage-ID: <p99@corp.test>\n\nx\n",
        );
        let t = process_batch(&mut store, &e, "inbox", &[more], None, 2000).unwrap();
        assert_eq!((t.created, t.queued), (1, 0));
    }

    /// A desk with a team and its agent Alice, who is who her From says.
    fn engine_with_alice(dir: &Path) -> Engine {
        let cfg = Config::from_toml(
            r#"
[desk]
address = "helpdesk@example.test"
first-ticket-number = 100
[storage]
database = "desk.db"
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
            &dir.join("postdesk.toml"),
            dir,
        )
        .unwrap();
        Engine::new(cfg).unwrap()
    }

    fn sent_to(store: &Store, ticket: i64, kind: &str) -> Vec<String> {
        store
            .ticket_detail(ticket)
            .unwrap()
            .unwrap()
            .messages
            .into_iter()
            .filter(|m| m.direction == "out" && m.kind == kind)
            .map(|m| m.to_addrs)
            .collect()
    }

    #[test]
    fn watchers_added_later_get_a_copy_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine_with_alice(dir.path());
        let mut store = e.open_store().unwrap();
        let request = item(
            "From: ann@corp.test\nTo: helpdesk@example.test\nCc: bob@corp.test\nSubject: VPN down\nMessage-ID: <w1@corp.test>\n\nhelp\n",
        );
        process_batch(&mut store, &e, "inbox", &[request], None, 1000).unwrap();
        let answer = item(
            "From: alice@example.test\nSubject: Re: [#100] VPN down\nMessage-ID: <w2@example.test>\n\n#cc add dave@corp.test\n\nWe are on it.\n",
        );
        process_batch(&mut store, &e, "inbox", &[answer], None, 2000).unwrap();
        assert_eq!(
            sent_to(&store, 100, "reply"),
            ["ann@corp.test bob@corp.test", "dave@corp.test"],
            "Ann and Bob were on the request together; Dave sees nobody's address"
        );
    }

    fn out_count(store: &Store, ticket: i64) -> usize {
        store
            .ticket_detail(ticket)
            .unwrap()
            .unwrap()
            .messages
            .iter()
            .filter(|m| m.direction == "out")
            .count()
    }

    #[test]
    fn two_robots_answering_each_other_are_stopped_and_the_team_told_once() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine_with_alice(dir.path());
        let mut store = e.open_store().unwrap();
        let request = item(
            "From: ann@corp.test\nTo: helpdesk@example.test\nSubject: VPN down\nMessage-ID: <f0@corp.test>\n\nhelp\n",
        );
        process_batch(&mut store, &e, "inbox", &[request], None, 1000).unwrap();
        // Alice's out-of-office answers every notice, Ann's robot every
        // relay, one second apart: 100 rounds.
        let mut at = 2000;
        for i in 0..100 {
            let alice = item(&format!(
                "From: alice@example.test\nSubject: Re: [#100] VPN down\nMessage-ID: <a{i}@example.test>\n\nI am out of the office this week.\n"
            ));
            let ann = item(&format!(
                "From: ann@corp.test\nSubject: Re: [#100] VPN down\nMessage-ID: <r{i}@corp.test>\n\nThank you, your message was received.\n"
            ));
            process_batch(&mut store, &e, "inbox", &[alice], None, at).unwrap();
            process_batch(&mut store, &e, "inbox", &[ann], None, at + 500).unwrap();
            at += 1000;
        }
        let d = store.ticket_detail(100).unwrap().unwrap();
        let out: Vec<&str> = d
            .messages
            .iter()
            .filter(|m| m.direction == "out")
            .map(|m| m.kind.as_str())
            .collect();
        // Twenty mails to Ann (the acknowledgement and 19 relays), twenty to
        // the team (the first notice and 19 of Ann's answers), then the one
        // notice of the pause.
        assert_eq!(out.len(), 20 + 20 + 1, "{out:?}");
        assert_eq!(out.iter().filter(|k| **k == "flood").count(), 1);
        assert_eq!(out.last(), Some(&"flood"));
        let paused: Vec<_> = d
            .events
            .iter()
            .filter(|e| e.kind == flood::PAUSED)
            .collect();
        assert_eq!(paused.len(), 1, "flagged once");
        assert_eq!(d.paused_since, Some(paused[0].at));
        assert!(
            d.events.iter().filter(|e| e.kind == "held-back").count() > 100,
            "every mail after it is held back, with why"
        );
        // Every mail is still recorded.
        assert_eq!(
            d.messages.iter().filter(|m| m.direction == "in").count(),
            201
        );

        // Alice, back, takes the ticket: sending resumes, counted afresh.
        let take = item(
            "From: alice@example.test\nSubject: Re: [#100] VPN down\nMessage-ID: <take@example.test>\n\n#take\n\nSorry about that, looking at it now.\n",
        );
        let before = out_count(&store, 100);
        process_batch(&mut store, &e, "inbox", &[take], None, at).unwrap();
        assert_eq!(out_count(&store, 100), before + 1, "the relay goes");
        let d = store.ticket_detail(100).unwrap().unwrap();
        assert_eq!(d.paused_since, None);
        assert_eq!(d.events.last().map(|e| e.kind.as_str()), Some("assignee"));
        assert!(d.events.iter().any(|e| e.kind == flood::RESUMED));
    }

    #[test]
    fn a_paused_ticket_resumes_after_a_quiet_window() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = engine_with_alice(dir.path()).config.as_ref().clone();
        cfg.limits.flood.mails = 3;
        let e = Engine::new(cfg).unwrap();
        let mut store = e.open_store().unwrap();
        let request = item(
            "From: ann@corp.test\nTo: helpdesk@example.test\nSubject: VPN down\nMessage-ID: <q0@corp.test>\n\nhelp\n",
        );
        process_batch(&mut store, &e, "inbox", &[request], None, 1000).unwrap();
        let ann = |i: usize| {
            item(&format!(
                "From: ann@corp.test\nSubject: Re: [#100] VPN down\nMessage-ID: <q{i}@corp.test>\n\nstill down\n"
            ))
        };
        for i in 1..=5 {
            process_batch(&mut store, &e, "inbox", &[ann(i)], None, 1000 + i as i64).unwrap();
        }
        let d = store.ticket_detail(100).unwrap().unwrap();
        assert!(d.paused_since.is_some(), "four notices to the team trip it");
        // Ten minutes and a bit with nothing held back: the next mail goes.
        let later = 1005 + 10 * 60_000 + 1;
        let before = out_count(&store, 100);
        process_batch(&mut store, &e, "inbox", &[ann(6)], None, later).unwrap();
        assert_eq!(out_count(&store, 100), before + 1);
        assert_eq!(
            store.ticket_detail(100).unwrap().unwrap().paused_since,
            None
        );
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
        // A new request from that address would be acknowledged: the
        // acknowledgement is held back and the timeline says why.
        let (queued_before, _, _) = store.outbox_counts().unwrap();
        let new = item(
            "From: old.user@customer.example\nSubject: Scanner too\nMessage-ID: <p3@customer.example>\n\nhelp\n",
        );
        let t = process_batch(&mut store, &e, "inbox", &[new], None, 3500).unwrap();
        assert_eq!(
            (t.created, t.queued),
            (1, 0),
            "no acknowledgement to a suppressed address"
        );
        assert_eq!(store.outbox_counts().unwrap().0, queued_before);
        let held = store.ticket_detail(101).unwrap().unwrap();
        assert!(
            held.events.iter().any(|ev| ev.kind == "held-back"
                && ev
                    .detail
                    .as_deref()
                    .is_some_and(|d| d.contains("old.user@customer.example"))),
            "{:?}",
            held.events
        );
        // A bounce about nothing of ours is recorded and ignored.
        let stray = Incoming {
            raw: fixture.replace("20231205100245.", "another.").into_bytes(),
            uid: None,
        };
        let t = process_batch(&mut store, &e, "inbox", &[stray], None, 4000).unwrap();
        assert_eq!((t.created, t.ignored), (0, 1));
        assert_eq!(store.ticket_count().unwrap(), 2);
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

    /// Every line within RFC 5322's 998 characters, CRLF only.
    fn assert_well_formed(raw: &[u8]) {
        for (i, line) in raw.split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            assert!(!line.contains(&b'\r'), "bare CR on line {i}");
            assert!(line.len() <= 998, "line {i} has {} bytes", line.len());
        }
    }

    #[test]
    fn a_display_name_with_line_breaks_is_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let mut store = e.open_store().unwrap();
        let hostile = item(
            "From: =?utf-8?q?Evil=0D=0ABcc=3A_victim=40corp=2Etest?= <evil@corp.test>\nReply-To: =?utf-8?b?RXZpbA0KWDogeQ==?= <evil@corp.test>\nSubject: Hi\nMessage-ID: <h1@corp.test>\n\nhello\n",
        );
        let t = process_batch(&mut store, &e, "inbox", &[hostile, item(REQUEST)], None, 1).unwrap();
        assert_eq!((t.created, t.queued, t.quarantined), (2, 2, 0), "{t:?}");
        for m in store.due_outbox(i64::MAX, 10).unwrap() {
            assert_well_formed(&m.raw);
            let head = String::from_utf8_lossy(&m.raw);
            assert!(
                !head.contains("\r\nBcc:") && !head.contains("\r\nX: y"),
                "{head}"
            );
        }
    }

    #[test]
    fn a_huge_subject_makes_small_mail() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let mut store = e.open_store().unwrap();
        for (i, subject) in ["x".repeat(5 << 20), "word ".repeat(1 << 20)]
            .iter()
            .enumerate()
        {
            let raw = format!(
                "From: Ann <ann{i}@corp.test>\r\nSubject: {subject}\r\nMessage-ID: <big{i}@corp.test>\r\n\r\nhelp\r\n"
            );
            let big = Incoming {
                raw: raw.into_bytes(),
                uid: None,
            };
            let t = process_batch(&mut store, &e, "inbox", &[big], None, 1).unwrap();
            assert_eq!((t.created, t.queued), (1, 1), "{t:?}");
        }
        let out = store.due_outbox(i64::MAX, 10).unwrap();
        assert_eq!(out.len(), 2);
        for m in out {
            assert_well_formed(&m.raw);
            assert!(m.raw.len() < 64 << 10, "{} bytes out", m.raw.len());
        }
    }

    #[test]
    fn a_mail_that_panics_is_quarantined_and_the_rest_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let mut store = e.open_store().unwrap();
        let with_uid = |raw: &str, uid| Incoming {
            uid: Some(uid),
            ..item(raw)
        };
        let items = [
            with_uid(REQUEST, 1),
            with_uid(
                "From: x@corp.test\nSubject: boom\nMessage-ID: <boom@corp.test>\n\nPANIC\n",
                2,
            ),
            with_uid(
                "From: bob@corp.test\nSubject: Disk full\nMessage-ID: <d@corp.test>\n\nhelp\n",
                3,
            ),
        ];
        let cp = Checkpoint {
            uidvalidity: 7,
            last_uid: 3,
        };
        let t = isolate_panics(
            &mut store,
            "support",
            &items,
            Some(cp),
            5,
            |s, items, cp| {
                if items
                    .iter()
                    .any(|i| i.raw.windows(5).any(|w| w == b"PANIC"))
                {
                    // Mid-transaction, after a write: the write must not survive.
                    let tx = s.transaction().unwrap();
                    let bad = Checkpoint {
                        uidvalidity: 99,
                        last_uid: 99,
                    };
                    tx.set_checkpoint("support", bad, 5).unwrap();
                    panic!("boom in a batch of {}", items.len());
                }
                process_unguarded(s, &e, "support", items, cp, 5)
            },
        )
        .unwrap();
        assert_eq!((t.created, t.quarantined, t.queued), (2, 1, 2), "{t:?}");
        assert_eq!(store.ticket_count().unwrap(), 2);
        assert_eq!(store.checkpoint("support").unwrap(), Some(cp));
        let q = store.quarantined(10).unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].uid, Some(2));
        assert_eq!(q[0].error, "processing panicked: boom in a batch of 1");
        let p = store.mailbox_panics().unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].mailbox.as_str(), p[0].count), ("support", 1));
        assert_eq!(p[0].last_error, "boom in a batch of 3");
        assert_eq!(p[0].last_at, 5);
    }

    #[test]
    fn a_batch_without_panics_counts_none() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let mut store = e.open_store().unwrap();
        process_batch(&mut store, &e, "inbox", &[item(REQUEST)], None, 1).unwrap();
        assert!(store.mailbox_panics().unwrap().is_empty());
    }
}
