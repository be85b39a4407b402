//! The Maildir source: mail delivered into `DIR/new` becomes tickets, then
//! moves to `DIR/cur` marked seen. Needs no server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{SharedStore, batches, commit_batch, import, now_ms};
use crate::desk::history::FirstConnect;
use crate::pipeline::{Engine, Incoming};
use crate::store::FirstConnectRow;

/// Creates `new`, `cur` and `tmp` below `dir`.
pub fn ensure(dir: &Path) -> std::io::Result<()> {
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    Ok(())
}

/// Files waiting in `new`, oldest name first (Maildir names start with the delivery time).
pub fn pending(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("new"))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.path())
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(".")
                .starts_with('.')
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The files waiting in `new`, in batches of at most `max_count` files and
/// `max_bytes` bytes (see [`super::batches`]), oldest first.
pub fn pending_batches(
    dir: &Path,
    max_count: usize,
    max_bytes: u64,
) -> std::io::Result<Vec<Vec<PathBuf>>> {
    let files = pending(dir)?;
    // A file gone meanwhile has no size: alone in its batch, then skipped.
    let sized = files
        .iter()
        .enumerate()
        .map(|(i, f)| (i, std::fs::metadata(f).ok().map(|m| m.len())));
    Ok(batches(sized, max_count.max(1), max_bytes)
        .into_iter()
        .map(|b| b.into_iter().map(|i| files[i].clone()).collect())
        .collect())
}

/// Moves a processed file to `cur` with the Seen flag.
fn mark_seen(dir: &Path, file: &Path) -> std::io::Result<()> {
    move_to_cur(dir, file, "S")
}

/// Moves a file from `new` to `cur` with these flags (`""`: none, the
/// Maildir way to say "was there, not read").
fn move_to_cur(dir: &Path, file: &Path, flags: &str) -> std::io::Result<()> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("message");
    let base = name.split(":2,").next().unwrap_or(name);
    std::fs::rename(file, dir.join("cur").join(format!("{base}:2,{flags}")))
}

/// Everything one Maildir task needs.
pub struct Watcher {
    pub name: String,
    pub dir: PathBuf,
    pub poll: Duration,
    pub batch_size: usize,
    pub batch_bytes: u64,
    /// What the first start does with files already there.
    pub on_first_connect: FirstConnect,
    pub engine: Arc<Engine>,
    pub store: SharedStore,
    pub outbox: Arc<Notify>,
    pub cancel: CancellationToken,
    /// Told of every good pass and failure.
    pub health: Arc<crate::health::Registry>,
}

impl Watcher {
    pub async fn run(self) {
        if let Err(e) = ensure(&self.dir) {
            tracing::error!(mailbox = %self.name, dir = %self.dir.display(), error = %e, "cannot create the Maildir");
            return;
        }
        // Until the first start is done, nothing in `new` may be taken for
        // new mail: try again each poll (a full disk, a file we may not move).
        while let Err(e) = self.first_connect().await {
            tracing::error!(mailbox = %self.name, error = %e, "first start on the Maildir failed; will retry");
            tokio::select! {
                _ = tokio::time::sleep(self.poll) => {}
                _ = self.cancel.cancelled() => return,
            }
        }
        tracing::info!(mailbox = %self.name, dir = %self.dir.join("new").display(), "watching Maildir");
        while !self.cancel.is_cancelled() {
            match self.drain().await {
                Ok(()) => self.health.checked(&self.name, now_ms()),
                Err(e) => {
                    self.health.failed(&self.name, &e, now_ms());
                    tracing::warn!(mailbox = %self.name, error = %e, "Maildir pass failed; will retry");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll) => {}
                _ = self.cancel.cancelled() => {}
            }
        }
    }

    /// The first start on this Maildir (no first-connection row, and no
    /// mail from it ever recorded): files already in `new` are left alone
    /// (moved to `cur` unflagged), imported as history with those in `cur`,
    /// or processed, as `on-first-connect` says. The row is written last,
    /// so a crash halfway does the rest next time.
    async fn first_connect(&self) -> Result<(), String> {
        let (store, name) = (self.store.clone(), self.name.clone());
        let (row, earlier) = tokio::task::spawn_blocking(move || {
            let s = store.lock().unwrap_or_else(|p| p.into_inner());
            Ok::<_, crate::store::StoreError>((s.first_connect(&name)?, s.has_inbound_from(&name)?))
        })
        .await
        .expect("reading the first connection panicked")
        .map_err(|e| e.to_string())?;
        if row.is_some() {
            return Ok(());
        }
        let waiting =
            pending(&self.dir).map_err(|e| format!("listing {}: {e}", self.dir.display()))?;
        let policy = if earlier {
            "earlier"
        } else {
            self.on_first_connect.as_str()
        };
        let existing = waiting.len();
        if !earlier {
            match self.on_first_connect {
                FirstConnect::NewOnly => {
                    for f in &waiting {
                        move_to_cur(&self.dir, f, "")
                            .map_err(|e| format!("moving {} to cur/: {e}", f.display()))?;
                    }
                    if existing > 0 {
                        tracing::warn!(
                            mailbox = %self.name,
                            existing,
                            "first start: {existing} messages already in {} were left alone (moved to cur/, on-first-connect = \"new-only\"); \
                             only mail arriving from now on is handled. To record them as history: postdesk import --mailbox {}",
                            self.dir.join("new").display(),
                            self.name
                        );
                    }
                }
                FirstConnect::Import => {
                    let files = import::maildir_files(&self.dir, true)
                        .map_err(|e| format!("listing {}: {e}", self.dir.display()))?;
                    let job = import::MaildirJob {
                        mailbox: self.name.clone(),
                        folder: self.dir.display().to_string(),
                        started_by: import::BY_FIRST_CONNECT,
                        batch_size: self.batch_size,
                        batch_bytes: self.batch_bytes,
                        since: None,
                    };
                    let mut quiet = |_: import::Progress| {};
                    let out = import::maildir_files_import(
                        &self.store,
                        &self.engine,
                        &job,
                        &files,
                        &self.cancel,
                        &mut quiet,
                    )
                    .await?;
                    if !out.finished {
                        return Err("stopped while importing; the next start goes on".into());
                    }
                    tracing::info!(mailbox = %self.name, tally = ?out.tally, "first start: imported the Maildir's messages as history");
                    for f in &waiting {
                        mark_seen(&self.dir, f)
                            .map_err(|e| format!("moving {} to cur/: {e}", f.display()))?;
                    }
                }
                FirstConnect::Process => {}
            }
        }
        let row = FirstConnectRow {
            mailbox: self.name.clone(),
            at: now_ms(),
            policy: policy.into(),
            folder: self.dir.display().to_string(),
            existing: existing as i64,
            uidvalidity: 0,
            below_uid: 0,
        };
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
            let tx = s.transaction()?;
            tx.record_first_connect(&row, None)?;
            tx.commit()
        })
        .await
        .expect("recording the first connection panicked")
        .map_err(|e| e.to_string())
    }

    async fn drain(&self) -> Result<(), String> {
        let files = pending_batches(&self.dir, self.batch_size, self.batch_bytes)
            .map_err(|e| format!("listing {}: {e}", self.dir.display()))?;
        for chunk in &files {
            let mut items = Vec::with_capacity(chunk.len());
            let mut read = Vec::with_capacity(chunk.len());
            for f in chunk {
                match std::fs::read(f) {
                    Ok(raw) => {
                        items.push(Incoming { raw, uid: None });
                        read.push(f.clone());
                    }
                    // Vanished meanwhile (another reader): nothing to do.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(format!("reading {}: {e}", f.display())),
                }
            }
            let read_at = std::time::Instant::now();
            crate::metrics::global().fetched(&self.name, items.len());
            let tally = commit_batch(&self.store, &self.engine, &self.name, items, None, now_ms())
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(mailbox = %self.name, ?tally, "batch committed");
            crate::metrics::global().committed(&self.name, &tally, read_at);
            self.outbox.notify_one();
            // A crash before these renames means the files are read again;
            // their Message-IDs are then recognised as already recorded.
            for f in &read {
                if let Err(e) = mark_seen(&self.dir, f) {
                    tracing::warn!(file = %f.display(), error = %e, "could not move a processed file to cur/");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_mail_is_batched_by_count_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        ensure(dir.path()).unwrap();
        for (name, size) in [
            ("1.a", 3000),
            ("2.b", 3000),
            ("3.c", 9000),
            ("4.d", 100),
            ("5.e", 100),
        ] {
            std::fs::write(dir.path().join("new").join(name), vec![b'x'; size]).unwrap();
        }
        std::fs::write(dir.path().join("new/.hidden"), "x").unwrap();
        let names = |b: Vec<Vec<PathBuf>>| -> Vec<Vec<String>> {
            b.iter()
                .map(|f| {
                    f.iter()
                        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                        .collect()
                })
                .collect()
        };
        assert_eq!(
            names(pending_batches(dir.path(), 500, 7000).unwrap()),
            [vec!["1.a", "2.b"], vec!["3.c"], vec!["4.d", "5.e"]]
        );
        assert_eq!(
            names(pending_batches(dir.path(), 2, 1 << 20).unwrap()),
            [vec!["1.a", "2.b"], vec!["3.c", "4.d"], vec!["5.e"]]
        );
    }
}
