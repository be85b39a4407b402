//! The SQL of merge and split: aliases, moving messages and watchers, and
//! finding the mail a `#split` takes off.

use rusqlite::{OptionalExtension, params};

use super::{Ctx, StoreError, Tx};
use crate::address::Mailbox;
use crate::desk::merge::SplitSource;
use crate::desk::ticket::TicketState;

/// Message kinds a `#split` can start from: mail that came in from a person.
const SPLITTABLE: &str = "'request', 'reply'";
/// Our notices about an incoming mail: replying to one means that mail.
const NOTICES: &str = "'notify-new', 'notify-reply'";

impl Tx<'_> {
    /// The ticket `number` was merged into, if it was.
    pub fn alias_target(&self, number: i64) -> Result<Option<i64>, StoreError> {
        self.tx
            .prepare_cached("SELECT target FROM ticket_aliases WHERE number = ?1")
            .and_then(|mut s| s.query_row([number], |r| r.get(0)).optional())
            .ctx("looking up a ticket alias")
    }

    /// The ticket with this number, or the one it was merged into.
    pub fn ticket_via_alias(&self, number: i64) -> Result<Option<TicketState>, StoreError> {
        match self.alias_target(number)? {
            Some(target) => self.ticket(target),
            None => self.ticket(number),
        }
    }

    /// The text of the mail that opened ticket `number` (its first inbound
    /// request), at most [`crate::desk::approval::REQUEST_SHOWN`] characters
    /// and one more (so a cut shows), read for the approver.
    pub fn request_text(&self, number: i64) -> Result<Option<String>, StoreError> {
        self.tx
            .prepare_cached(
                "SELECT substr(body, 1, ?2) FROM messages \
                 WHERE ticket = ?1 AND direction = 'in' AND kind = 'request' ORDER BY id LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(
                    params![number, crate::desk::approval::REQUEST_SHOWN as i64 + 1],
                    |r| r.get(0),
                )
                .optional()
            })
            .ctx("reading the request's text")
    }

    /// Moves `from`'s messages (with their attachments), time worked and
    /// watchers into `into`, and makes `from` an alias of `into` (and every alias of
    /// `from` one too, so aliases stay one hop).
    pub fn merge_tickets(&self, from: i64, into: i64, at: i64) -> Result<(), StoreError> {
        let run = |sql: &str, args: &[&dyn rusqlite::ToSql], what: &str| {
            self.tx
                .prepare_cached(sql)
                .and_then(|mut s| s.execute(args))
                .ctx(what)
        };
        run(
            "UPDATE messages SET ticket = ?2 WHERE ticket = ?1",
            params![from, into],
            "moving messages",
        )?;
        run(
            "UPDATE time_entries SET ticket = ?2 WHERE ticket = ?1",
            params![from, into],
            "moving time worked",
        )?;
        run(
            "INSERT OR IGNORE INTO watchers (ticket, address) SELECT ?2, address FROM watchers WHERE ticket = ?1",
            params![from, into],
            "moving watchers",
        )?;
        run(
            "DELETE FROM watchers WHERE ticket = ?1",
            params![from],
            "moving watchers",
        )?;
        run(
            "UPDATE ticket_aliases SET target = ?2 WHERE target = ?1",
            params![from, into],
            "moving aliases",
        )?;
        run(
            "INSERT OR REPLACE INTO ticket_aliases (number, target, at) VALUES (?1, ?2, ?3)",
            params![from, into, at],
            "recording the alias",
        )?;
        self.touch_ticket(into, at)
    }

    /// Moves the messages `first_row..=last_row` of `from` to `into`.
    pub fn split_messages(
        &self,
        from: i64,
        into: i64,
        first_row: i64,
        last_row: i64,
    ) -> Result<usize, StoreError> {
        self.tx
            .prepare_cached(
                "UPDATE messages SET ticket = ?2 WHERE ticket = ?1 AND id BETWEEN ?3 AND ?4",
            )
            .and_then(|mut s| s.execute(params![from, into, first_row, last_row]))
            .ctx("moving messages to the split-off ticket")
    }

    /// The mail of ticket `ticket` that a reply answering `ids` (its
    /// In-Reply-To first) means: a person's mail it answers directly, or
    /// the one our notice it answers was about (the latest person's mail
    /// stored before the notice).
    pub fn split_source(
        &self,
        ticket: i64,
        ids: &[String],
    ) -> Result<Option<SplitSource>, StoreError> {
        let find = format!(
            "SELECT id, direction, kind IN ({SPLITTABLE}), kind IN ({NOTICES}) FROM messages
             WHERE ticket = ?1 AND message_id = ?2 ORDER BY id DESC LIMIT 1"
        );
        let before = format!(
            "SELECT id FROM messages WHERE ticket = ?1 AND id < ?2 AND direction = 'in'
             AND kind IN ({SPLITTABLE}) ORDER BY id DESC LIMIT 1"
        );
        let mut first = None;
        for id in ids {
            let row: Option<(i64, String, bool, bool)> = self
                .tx
                .prepare_cached(&find)
                .and_then(|mut s| {
                    s.query_row(params![ticket, id], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .optional()
                })
                .ctx("finding the mail to split off")?;
            match row {
                Some((row, dir, true, _)) if dir == "in" => first = Some(row),
                Some((row, _, _, true)) => {
                    first = self
                        .tx
                        .prepare_cached(&before)
                        .and_then(|mut s| {
                            s.query_row(params![ticket, row], |r| r.get(0)).optional()
                        })
                        .ctx("finding the mail a notice was about")?;
                }
                _ => continue,
            }
            break;
        }
        let Some(first_row) = first else {
            return Ok(None);
        };
        let last_row: i64 = self
            .tx
            .query_row(
                "SELECT max(id) FROM messages WHERE ticket = ?1",
                [ticket],
                |r| r.get(0),
            )
            .ctx("finding the ticket's last mail")?;
        self.tx
            .query_row(
                "SELECT from_addr, from_name, subject, message_id FROM messages WHERE id = ?1",
                [first_row],
                |r| {
                    let addr: Option<String> = r.get(0)?;
                    let name: Option<String> = r.get(1)?;
                    Ok(addr.map(|a| SplitSource {
                        first_row,
                        last_row,
                        sender: Mailbox::new(name.as_deref(), &a),
                        subject: r.get(2).unwrap_or_default(),
                        message_id: r.get(3).unwrap_or_default(),
                    }))
                },
            )
            .ctx("reading the mail to split off")
    }
}
