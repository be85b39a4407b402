//! Importing old mail as history (see [`crate::desk::history`]): a folder's
//! mail below a boundary UID, or a Maildir's files, recorded as closed
//! tickets with their threads, nothing sent.
//!
//! Resumable: an IMAP import keeps, in the `imports` table, the boundary
//! and the highest UID done, moved after each batch. After a crash or a
//! kill the next run (`postdesk import` again, or the daemon for an import
//! its first connection started) goes on after that UID. A batch committed
//! just before the crash, whose progress was not yet written, is read
//! again and recognised mail by mail (Message-ID and content), so nothing
//! is recorded twice.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::imap::{self, ImapError, ImapSession};
use super::{SharedStore, batches, now_ms};
use crate::config::MailboxConfig;
use crate::desk::history::FirstConnect;
use crate::pipeline::{Engine, Incoming, Tally};
use crate::store::{Checkpoint, FirstConnectRow, ImportRow, StoreError};

/// Who started an import: kept so the daemon resumes only its own.
pub const BY_FIRST_CONNECT: &str = "first-connect";
pub const BY_COMMAND: &str = "command";

/// How far an import has got, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Mails read so far (this run).
    pub done: u64,
    /// Mails this run reads in all.
    pub total: u64,
}

/// What an import run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub folder: String,
    /// Mails this run read.
    pub read: u64,
    pub tally: Tally,
    /// The UID this run went on after, when it resumed an earlier one.
    pub resumed_after: Option<u32>,
    /// False when it was cancelled before the end.
    pub finished: bool,
}

/// What to import.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    pub cfg: &'a MailboxConfig,
    pub folder: &'a str,
    /// Only mail of this day or later.
    pub since: Option<jiff::civil::Date>,
    pub started_by: &'a str,
}

async fn blocking<T: Send + 'static>(
    store: &SharedStore,
    f: impl FnOnce(&mut crate::store::Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s)
    })
    .await
    .expect("a store task panicked")
}

/// The IMAP SEARCH date of `d`: `1-Dec-2026`.
fn imap_date(d: jiff::civil::Date) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}-{}-{}",
        d.day(),
        MONTHS[(d.month() as usize).clamp(1, 12) - 1],
        d.year()
    )
}

/// Imports `job.folder` over `session` (left with that folder examined:
/// the caller selects its own folder again). Where it starts: an unfinished
/// import of the folder with the same UIDVALIDITY and `since` is resumed;
/// otherwise a new one covers the mail below the mailbox's checkpoint (its
/// own folder) or all the folder holds now (another folder). Importing the
/// watched folder of a mailbox that never connected also sets its
/// checkpoint after that mail, so the daemon does not take it for new.
pub async fn imap_folder(
    session: &mut ImapSession,
    store: &SharedStore,
    engine: &Arc<Engine>,
    job: &Job<'_>,
    cancel: &CancellationToken,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Outcome, ImapError> {
    let name = job.cfg.name.clone();
    let folder = job.folder.to_string();
    let sel = imap::select(session, &folder, true).await?;
    let uid_next = match sel.uid_next {
        Some(n) => n,
        None => last_uid(session).await?.saturating_add(1),
    };
    let since = job.since.map(|d| d.to_string());
    let (row, resumed_after) = {
        let (n, f, since, started_by) = (
            name.clone(),
            folder.clone(),
            since.clone(),
            job.started_by.to_string(),
        );
        let own_folder = folder == job.cfg.folder;
        blocking(store, move |s| {
            let earlier = s.import_state(&n, &f)?;
            if let Some(row) = earlier.filter(|r| {
                r.finished_at.is_none() && r.uidvalidity == sel.uidvalidity && r.since == since
            }) {
                let after = row.done_uid;
                return Ok((row, Some(after)));
            }
            let cp = s.checkpoint(&n)?;
            let below = match cp {
                Some(cp) if own_folder && cp.uidvalidity == sel.uidvalidity => {
                    cp.last_uid.saturating_add(1)
                }
                _ => uid_next,
            };
            let at = now_ms();
            let row = ImportRow {
                mailbox: n.clone(),
                folder: f.clone(),
                uidvalidity: sel.uidvalidity,
                below_uid: below,
                since,
                done_uid: 0,
                imported: 0,
                started_by,
                started_at: at,
                finished_at: None,
            };
            let tx = s.transaction()?;
            if own_folder && cp.is_none() {
                let first = FirstConnectRow {
                    mailbox: n.clone(),
                    at,
                    policy: FirstConnect::Import.as_str().into(),
                    folder: f.clone(),
                    existing: i64::from(sel.exists),
                    uidvalidity: sel.uidvalidity,
                    below_uid: below,
                };
                let cp = Checkpoint {
                    uidvalidity: sel.uidvalidity,
                    last_uid: below.saturating_sub(1),
                };
                tx.record_first_connect(&first, Some(cp))?;
            }
            tx.start_import(&row)?;
            tx.commit()?;
            Ok((row, None))
        })
        .await?
    };
    let first = row.done_uid.saturating_add(1);
    let mut sizes = imap::uid_sizes(session, first, Some(row.below_uid)).await?;
    if let Some(d) = job.since
        && !sizes.is_empty()
    {
        let range = format!("{first}:{}", row.below_uid.saturating_sub(1));
        let wanted =
            imap::uid_search(session, &format!("UID {range} SINCE {}", imap_date(d))).await?;
        sizes.retain(|uid, _| wanted.binary_search(uid).is_ok());
    }
    let total = sizes.len() as u64;
    tracing::info!(mailbox = %name, folder, count = total, resumed_after, below_uid = row.below_uid, "importing old mail as history");
    let mut out = Outcome {
        folder: folder.clone(),
        resumed_after,
        ..Outcome::default()
    };
    progress(Progress { done: 0, total });
    let sized = sizes.iter().map(|(&uid, &size)| (uid, size));
    for batch in batches(sized, job.cfg.batch_size, job.cfg.batch_bytes) {
        if cancel.is_cancelled() {
            return Ok(out);
        }
        let items = imap::fetch_uids(session, &batch).await?;
        let done_uid = batch.iter().copied().max().unwrap_or(0);
        // The batch's commit moves the position and the count with it, so
        // a crash cannot leave mail recorded but not counted.
        let position = (folder.clone(), done_uid);
        let tally = import_items(store, engine, &name, items, Some(position)).await?;
        if tally.quarantined > 0 {
            // A mail panicked and the rest went one by one, without the
            // position: move it past the batch now (counted as recorded).
            let (n, f) = (name.clone(), folder.clone());
            blocking(store, move |s| {
                let tx = s.transaction()?;
                tx.import_progress(&n, &f, done_uid, 0)?;
                tx.commit()
            })
            .await?;
        }
        out.read += batch.len() as u64;
        out.tally += tally;
        progress(Progress {
            done: out.read,
            total,
        });
    }
    let (n, f, below) = (name.clone(), folder.clone(), row.below_uid);
    blocking(store, move |s| {
        let tx = s.transaction()?;
        tx.import_progress(&n, &f, below.saturating_sub(1), 0)?;
        tx.finish_import(&n, &f, now_ms())?;
        tx.commit()
    })
    .await?;
    out.finished = true;
    tracing::info!(mailbox = %name, folder, tally = ?out.tally, "import finished");
    Ok(out)
}

/// The highest UID in the selected folder (0 when it is empty), for a server
/// that does not say UIDNEXT.
async fn last_uid(session: &mut ImapSession) -> Result<u32, ImapError> {
    Ok(imap::uid_search(session, "ALL")
        .await?
        .last()
        .copied()
        .unwrap_or(0))
}

async fn import_items(
    store: &SharedStore,
    engine: &Arc<Engine>,
    mailbox: &str,
    items: Vec<Incoming>,
    position: Option<(String, u32)>,
) -> Result<Tally, StoreError> {
    let (engine, mailbox) = (engine.clone(), mailbox.to_string());
    blocking(store, move |s| {
        let position =
            position
                .as_ref()
                .map(|(folder, done_uid)| crate::pipeline::ImportPosition {
                    folder,
                    done_uid: *done_uid,
                });
        crate::pipeline::import_batch(s, &engine, &mailbox, &items, None, position, now_ms())
    })
    .await
}

/// The files of a Maildir's `cur`, and of `new` too `with_new` (`dir` is
/// the Maildir, or a Maildir++ subfolder of it), oldest name first. Only the
/// first start reads `new`: later, what is there is new mail, the daemon's.
pub fn maildir_files(dir: &Path, with_new: bool) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let subs: &[&str] = if with_new { &["cur", "new"] } else { &["cur"] };
    for sub in subs {
        let d = dir.join(sub);
        if !d.exists() {
            continue;
        }
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let hidden = e.file_name().to_string_lossy().starts_with('.');
            if e.file_type()?.is_file() && !hidden {
                files.push(e.path());
            }
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// A Maildir import: into which mailbox, in batches of what size, since when.
#[derive(Debug, Clone)]
pub struct MaildirJob {
    pub mailbox: String,
    /// The Maildir, as the import's record names it.
    pub folder: String,
    pub started_by: &'static str,
    pub batch_size: usize,
    pub batch_bytes: u64,
    /// Only mail dated this day or later (mail without a readable date is kept).
    pub since: Option<jiff::civil::Date>,
}

/// Imports Maildir `files` as history. Files are not moved (the caller
/// decides); a file read again is recognised by Message-ID and content, so
/// running again after a crash records nothing twice.
pub async fn maildir_files_import(
    store: &SharedStore,
    engine: &Arc<Engine>,
    job: &MaildirJob,
    files: &[PathBuf],
    cancel: &CancellationToken,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Outcome, String> {
    let since = job.since;
    let total = files.len() as u64;
    let mut out = Outcome {
        folder: job.folder.clone(),
        ..Outcome::default()
    };
    let row = ImportRow {
        mailbox: job.mailbox.clone(),
        folder: job.folder.clone(),
        uidvalidity: 0,
        below_uid: 0,
        since: since.map(|d| d.to_string()),
        done_uid: 0,
        imported: 0,
        started_by: job.started_by.into(),
        started_at: now_ms(),
        finished_at: None,
    };
    blocking(store, move |s| {
        let tx = s.transaction()?;
        tx.start_import(&row)?;
        tx.commit()
    })
    .await
    .map_err(|e| e.to_string())?;
    progress(Progress { done: 0, total });
    let since_s = since.and_then(|d| {
        d.to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_second())
    });
    let sized = files
        .iter()
        .enumerate()
        .map(|(i, f)| (i, std::fs::metadata(f).ok().map(|m| m.len())));
    for batch in batches(sized, job.batch_size.max(1), job.batch_bytes) {
        if cancel.is_cancelled() {
            return Ok(out);
        }
        let mut items = Vec::with_capacity(batch.len());
        for &i in &batch {
            match std::fs::read(&files[i]) {
                Ok(raw) => {
                    if let Some(s) = since_s
                        && crate::inbound::parse(&raw)
                            .ok()
                            .and_then(|m| m.date)
                            .is_some_and(|d| d < s)
                    {
                        continue;
                    }
                    items.push(Incoming { raw, uid: None });
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("reading {}: {e}", files[i].display())),
            }
        }
        let tally = import_items(store, engine, &job.mailbox, items, None)
            .await
            .map_err(|e| e.to_string())?;
        out.read += batch.len() as u64;
        out.tally += tally;
        progress(Progress {
            done: out.read,
            total,
        });
    }
    let (n, f, t) = (job.mailbox.clone(), job.folder.clone(), out.tally);
    let recorded = (t.created + t.attached + t.ignored) as i64;
    blocking(store, move |s| {
        let tx = s.transaction()?;
        tx.import_progress(&n, &f, 0, recorded)?;
        tx.finish_import(&n, &f, now_ms())?;
        tx.commit()
    })
    .await
    .map_err(|e| e.to_string())?;
    out.finished = true;
    Ok(out)
}
