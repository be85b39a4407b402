//! A consistent copy of the database while the daemon runs (SQLite's online
//! backup API), a restore of one, and the lock that tells a restore a
//! daemon is using the database.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{Ctx, Store, StoreError};

/// Pages copied per step: 1024 pages of 4 KiB, 4 MiB, then the daemon's
/// writer gets the database again for a moment, so a backup of a large
/// file does not hold up mail.
const PAGES_PER_STEP: i32 = 1024;

/// Copies `from` into `to` step by step; `progress(done, total)` in pages.
fn copy(
    from: &Connection,
    to: &mut Connection,
    mut progress: impl FnMut(u64, u64),
) -> Result<(), StoreError> {
    let b = Backup::new(from, to).ctx("starting the backup")?;
    loop {
        let step = b.step(PAGES_PER_STEP).ctx("copying pages")?;
        let p = b.progress();
        let total = p.pagecount.max(0) as u64;
        progress(total.saturating_sub(p.remaining.max(0) as u64), total);
        match step {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            StepResult::Busy | StepResult::Locked => std::thread::sleep(Duration::from_millis(50)),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn quick_check(c: &Connection, what: &Path) -> Result<(), StoreError> {
    let verdict: String = c
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .ctx(&format!("checking {}", what.display()))?;
    if verdict != "ok" {
        return Err(StoreError::other(format!(
            "{} is damaged: {verdict}",
            what.display()
        )));
    }
    Ok(())
}

/// A sibling path for the file being written, renamed into place when whole.
fn partial(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".partial");
    PathBuf::from(p)
}

impl Store {
    /// Writes a consistent copy of the database to `dest` (written aside and
    /// renamed when complete and checked, so a failed backup leaves no half
    /// file), readable by this user only.
    pub fn backup_to(&self, dest: &Path, progress: impl FnMut(u64, u64)) -> Result<(), StoreError> {
        let tmp = partial(dest);
        let _ = std::fs::remove_file(&tmp);
        super::create_private(&tmp);
        let mut out = Connection::open(&tmp).ctx(&format!("creating {}", tmp.display()))?;
        let result = copy(&self.conn, &mut out, progress).and_then(|()| quick_check(&out, &tmp));
        drop(out);
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, dest)
            .map_err(|e| StoreError::other(format!("moving the backup to {}: {e}", dest.display())))
    }
}

/// Replaces the database at `db` with the backup `from` (checked first).
/// The caller makes sure no daemon uses `db` ([`DaemonLock::held`]).
pub fn restore(from: &Path, db: &Path, progress: impl FnMut(u64, u64)) -> Result<(), StoreError> {
    if !from.exists() {
        return Err(StoreError::other(format!(
            "{}: no such file",
            from.display()
        )));
    }
    let src = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .ctx(&format!("opening backup {}", from.display()))?;
    quick_check(&src, from)?;
    let tables: i64 = src
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('tickets', 'outbox')",
            [],
            |r| r.get(0),
        )
        .ctx("reading the backup's schema")?;
    if tables != 2 {
        return Err(StoreError::other(format!(
            "{} is not a postdesk database (it has no tickets and outbox tables)",
            from.display()
        )));
    }
    super::create_private(db);
    let mut dst = Connection::open(db).ctx(&format!("opening {}", db.display()))?;
    copy(&src, &mut dst, progress)
}

/// The daemon's claim on its database: an exclusive lock on `DB.lock`,
/// held while it runs and let go by the kernel when it ends, however it
/// ends (a stale file locks nothing).
pub struct DaemonLock {
    _file: std::fs::File,
}

fn lock_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

impl DaemonLock {
    /// Takes the lock, or says which process holds it.
    pub fn take(db: &Path) -> Result<DaemonLock, String> {
        use std::io::Write;
        let path = lock_path(db);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| format!("opening {}: {e}", path.display()))?;
        if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(format!(
                "a postdesk daemon (pid {}) is using {}",
                pid.trim(),
                db.display()
            ));
        }
        let _ = file.set_len(0);
        let _ = write!(file, "{}", std::process::id());
        Ok(DaemonLock { _file: file })
    }

    /// The pid of the daemon holding `db`'s lock, if one does.
    pub fn held(db: &Path) -> Option<String> {
        match DaemonLock::take(db) {
            Ok(_free) => None,
            Err(_) => Some(
                std::fs::read_to_string(lock_path(db))
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_restores_and_a_daemon_lock_refuses_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("desk.db");
        let mut s = Store::open(&db).unwrap();
        s.heartbeat(42).unwrap();
        let copy_path = dir.path().join("copy.db");
        let mut seen = Vec::new();
        s.backup_to(&copy_path, |d, t| seen.push((d, t))).unwrap();
        assert!(
            seen.last().is_some_and(|(d, t)| d == t && *t > 0),
            "{seen:?}"
        );
        assert!(!partial(&copy_path).exists());
        s.heartbeat(43).unwrap();
        drop(s);
        let other = dir.path().join("other.db");
        std::fs::write(&other, b"not a database at all, just text").unwrap();
        assert!(restore(&other, &db, |_, _| {}).is_err());
        restore(&copy_path, &db, |_, _| {}).unwrap();
        let c = Connection::open(&db).unwrap();
        let at: i64 = c
            .query_row("SELECT at FROM ops_heartbeat", [], |r| r.get(0))
            .unwrap();
        assert_eq!(at, 42, "the database is the backup's again");

        let lock = DaemonLock::take(&db).unwrap();
        let err = DaemonLock::take(&db).err().unwrap();
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        assert_eq!(DaemonLock::held(&db), Some(std::process::id().to_string()));
        drop(lock);
        assert_eq!(DaemonLock::held(&db), None);
    }
}
