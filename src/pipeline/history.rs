//! Old mail recorded as history (see [`crate::desk::history`]): the same
//! steps as new mail (parse, recognise what is recorded, thread, apply in one
//! transaction), with the history decider in place of `decide` and each
//! mail's own date as its time.

use crate::desk::effect::Effect;
use crate::desk::history;
use crate::store::{Checkpoint, Seen, Store, StoreError, Tx};

use super::apply::{Context, apply};
use super::{Engine, Incoming, Tally, find_link, isolate_panics, parse_all};

/// Where an import stands after a batch: every UID of `folder` up to
/// `done_uid` is recorded.
#[derive(Debug, Clone, Copy)]
pub struct ImportPosition<'a> {
    pub folder: &'a str,
    pub done_uid: u32,
}

/// Records a batch of old mail from `mailbox` as history, in one
/// transaction with `checkpoint` and the import's `position` (if given), so
/// a crash can never leave the mail recorded but not counted. Mail already recorded is
/// skipped (by Message-ID and content), so a batch imported twice, after a
/// crash or a second `postdesk import`, records nothing twice. A mail whose
/// processing panics is quarantined, as for new mail.
pub fn import_batch(
    store: &mut Store,
    engine: &Engine,
    mailbox: &str,
    items: &[Incoming],
    checkpoint: Option<Checkpoint>,
    position: Option<ImportPosition<'_>>,
    now_ms: i64,
) -> Result<Tally, StoreError> {
    let whole = items.len();
    isolate_panics(
        store,
        mailbox,
        items,
        checkpoint,
        now_ms,
        |store, part, cp| {
            // After a panic the mails go again one by one: only the whole batch
            // moves the position (the caller moves it past a batch it split).
            let position = position.filter(|_| part.len() == whole);
            import_unguarded(store, engine, mailbox, part, cp, position, now_ms)
        },
    )
}

fn import_unguarded(
    store: &mut Store,
    engine: &Engine,
    mailbox: &str,
    items: &[Incoming],
    checkpoint: Option<Checkpoint>,
    position: Option<ImportPosition<'_>>,
    now_ms: i64,
) -> Result<Tally, StoreError> {
    let limit = engine.config.storage.max_message_size;
    let language = engine.mail_language(mailbox);
    let parsed = parse_all(items, limit, engine.config.storage.max_parse_time, language);
    let tx = store.transaction()?;
    let mut tally = Tally::default();
    for (item, mail) in items.iter().zip(parsed) {
        tally += import_one(&tx, engine, mailbox, item, mail, now_ms)?;
    }
    if let Some(cp) = checkpoint {
        tx.set_checkpoint(mailbox, cp, now_ms)?;
    }
    if let Some(p) = position {
        let recorded = (tally.created + tally.attached + tally.ignored) as i64;
        tx.import_progress(mailbox, p.folder, p.done_uid, recorded)?;
    }
    tx.commit()?;
    Ok(tally)
}

fn import_one(
    tx: &Tx<'_>,
    engine: &Engine,
    mailbox: &str,
    item: &Incoming,
    parsed: Result<crate::inbound::Inbound, String>,
    now_ms: i64,
) -> Result<Tally, StoreError> {
    let mut tally = Tally::default();
    let mail = match parsed {
        Ok(m) => m,
        Err(why) => {
            tracing::warn!(mailbox, uid = item.uid, error = %why, "quarantined an old message that cannot be read");
            tx.quarantine(mailbox, item.uid, &why, &item.raw, now_ms)?;
            tally.quarantined += 1;
            return Ok(tally);
        }
    };
    if tx.seen_inbound(mailbox, &mail.message_id, &mail.fingerprint)? != Seen::New {
        // Recorded already (a re-run), or an id reused by other content:
        // history is best kept as it was first recorded.
        tally.duplicates += 1;
        return Ok(tally);
    }
    let policy = engine.policy_for(mailbox);
    let link = find_link(tx, &policy, &mail)?;
    // The mail's own date, so the timeline reads as it happened; never in
    // the future (a sender's clock, or a forged Date, is not ours).
    let at = mail
        .date
        .map_or(now_ms, |secs| secs.saturating_mul(1000).min(now_ms));
    let number = tx.next_ticket_number(engine.config.desk.first_ticket_number)?;
    let effects = history::import(&policy, &mail, link.as_ref(), number, at);
    let cx = Context {
        engine,
        policy: &policy,
        mailbox,
        incoming: Some((&mail, item.raw.as_slice())),
        now_ms: at,
    };
    apply(tx, &cx, &effects, &mut tally)?;
    for e in &effects {
        if let Effect::CreateTicket(t) = e {
            tx.mark_imported(t.number, now_ms)?;
        }
    }
    Ok(tally)
}
