//! The Maildir source: mail delivered into `DIR/new` becomes tickets, then
//! moves to `DIR/cur` marked seen. Needs no server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{SharedStore, batches, commit_batch, now_ms};
use crate::pipeline::{Engine, Incoming};

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
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("message");
    let base = name.split(":2,").next().unwrap_or(name);
    std::fs::rename(file, dir.join("cur").join(format!("{base}:2,S")))
}

/// Everything one Maildir task needs.
pub struct Watcher {
    pub name: String,
    pub dir: PathBuf,
    pub poll: Duration,
    pub batch_size: usize,
    pub batch_bytes: u64,
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
