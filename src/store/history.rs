//! What a mailbox's first connection found, and imports of old mail as
//! history (see [`crate::desk::history`]).

use rusqlite::{OptionalExtension, params};

use super::{Checkpoint, Ctx, Store, StoreError, Tx};

/// A mailbox's first connection, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstConnectRow {
    pub mailbox: String,
    pub at: i64,
    /// The `on-first-connect` setting then (or `earlier`).
    pub policy: String,
    pub folder: String,
    /// How many messages were in the folder.
    pub existing: i64,
    pub uidvalidity: u32,
    /// UIDs below this were there already.
    pub below_uid: u32,
}

/// An import of old mail, finished or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub mailbox: String,
    pub folder: String,
    pub uidvalidity: u32,
    /// The import covers UIDs below this.
    pub below_uid: u32,
    /// `--since`, as given (YYYY-MM-DD).
    pub since: Option<String>,
    /// Every UID up to this one is recorded.
    pub done_uid: u32,
    /// Mails recorded so far (duplicates not counted).
    pub imported: i64,
    /// `first-connect` or `command`.
    pub started_by: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

impl Store {
    pub fn first_connect(&self, mailbox: &str) -> Result<Option<FirstConnectRow>, StoreError> {
        self.conn
            .query_row(
                "SELECT mailbox, at, policy, folder, existing, uidvalidity, below_uid
                 FROM first_connect WHERE mailbox = ?1",
                [mailbox],
                |r| {
                    Ok(FirstConnectRow {
                        mailbox: r.get(0)?,
                        at: r.get(1)?,
                        policy: r.get(2)?,
                        folder: r.get(3)?,
                        existing: r.get(4)?,
                        uidvalidity: r.get::<_, i64>(5)? as u32,
                        below_uid: r.get::<_, i64>(6)? as u32,
                    })
                },
            )
            .optional()
            .ctx("reading the mailbox's first connection")
    }

    /// The import of `folder` into `mailbox`, if one was ever started.
    pub fn import_state(
        &self,
        mailbox: &str,
        folder: &str,
    ) -> Result<Option<ImportRow>, StoreError> {
        Ok(self
            .imports_where("mailbox = ?1 AND folder = ?2", params![mailbox, folder])?
            .pop())
    }

    /// Every import into `mailbox`.
    pub fn imports(&self, mailbox: &str) -> Result<Vec<ImportRow>, StoreError> {
        self.imports_where("mailbox = ?1", params![mailbox])
    }

    fn imports_where(
        &self,
        filter: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<ImportRow>, StoreError> {
        let sql = format!(
            "SELECT mailbox, folder, uidvalidity, below_uid, since, done_uid, imported, started_by,
                    started_at, finished_at
             FROM imports WHERE {filter} ORDER BY folder"
        );
        let mut stmt = self.conn.prepare(&sql).ctx("reading imports")?;
        let rows = stmt
            .query_map(args, |r| {
                Ok(ImportRow {
                    mailbox: r.get(0)?,
                    folder: r.get(1)?,
                    uidvalidity: r.get::<_, i64>(2)? as u32,
                    below_uid: r.get::<_, i64>(3)? as u32,
                    since: r.get(4)?,
                    done_uid: r.get::<_, i64>(5)? as u32,
                    imported: r.get(6)?,
                    started_by: r.get(7)?,
                    started_at: r.get(8)?,
                    finished_at: r.get(9)?,
                })
            })
            .ctx("reading imports")?;
        rows.collect::<Result<_, _>>().ctx("reading imports")
    }

    /// True when any mail from `mailbox` was ever recorded: a source that
    /// has no first-connection row then is not new (a Maildir read before
    /// the row existed).
    pub fn has_inbound_from(&self, mailbox: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM messages WHERE mailbox = ?1 AND direction = 'in')",
                [mailbox],
                |r| r.get(0),
            )
            .ctx("looking for mail from the mailbox")
    }
}

impl Tx<'_> {
    /// Records the first connection and, for an IMAP folder, the checkpoint
    /// after the mail that was there (`None` for `process` and a Maildir):
    /// one commit, so a crash leaves either both or neither.
    pub fn record_first_connect(
        &self,
        row: &FirstConnectRow,
        checkpoint: Option<Checkpoint>,
    ) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT OR IGNORE INTO first_connect
                     (mailbox, at, policy, folder, existing, uidvalidity, below_uid)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    row.mailbox,
                    row.at,
                    row.policy,
                    row.folder,
                    row.existing,
                    row.uidvalidity,
                    row.below_uid
                ],
            )
            .ctx("recording the first connection")?;
        if let Some(cp) = checkpoint {
            self.set_checkpoint(&row.mailbox, cp, row.at)?;
        }
        Ok(())
    }

    /// Starts (or starts again, from the beginning) the import described
    /// by `row`.
    pub fn start_import(&self, row: &ImportRow) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT OR REPLACE INTO imports (mailbox, folder, uidvalidity, below_uid, since, done_uid,
                                                 imported, started_by, started_at, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL)",
                params![
                    row.mailbox,
                    row.folder,
                    row.uidvalidity,
                    row.below_uid,
                    row.since,
                    row.done_uid,
                    row.imported,
                    row.started_by,
                    row.started_at
                ],
            )
            .ctx("starting an import")?;
        Ok(())
    }

    /// Moves an import on: every UID up to `done_uid` is recorded, and
    /// `imported` more mails were.
    pub fn import_progress(
        &self,
        mailbox: &str,
        folder: &str,
        done_uid: u32,
        imported: i64,
    ) -> Result<(), StoreError> {
        self.tx
            .execute(
                "UPDATE imports SET done_uid = max(done_uid, ?3), imported = imported + ?4
                 WHERE mailbox = ?1 AND folder = ?2",
                params![mailbox, folder, done_uid, imported],
            )
            .ctx("recording an import's progress")?;
        Ok(())
    }

    pub fn finish_import(&self, mailbox: &str, folder: &str, at: i64) -> Result<(), StoreError> {
        self.tx
            .execute(
                "UPDATE imports SET finished_at = ?3 WHERE mailbox = ?1 AND folder = ?2",
                params![mailbox, folder, at],
            )
            .ctx("finishing an import")?;
        Ok(())
    }

    /// The mailbox a ticket came in on.
    pub fn ticket_mailbox(&self, number: i64) -> Result<Option<String>, StoreError> {
        self.tx
            .query_row(
                "SELECT mailbox FROM tickets WHERE number = ?1",
                [number],
                |r| r.get(0),
            )
            .optional()
            .ctx("reading a ticket's mailbox")
    }

    /// Marks a ticket as made from imported history (left out of reviews).
    pub fn mark_imported(&self, number: i64, at: i64) -> Result<(), StoreError> {
        self.tx
            .execute(
                "UPDATE tickets SET imported_at = ?2, reply_by = NULL WHERE number = ?1",
                params![number, at],
            )
            .ctx("marking a ticket imported")?;
        Ok(())
    }
}
