//! What an IMAP server offers (its CAPABILITY list), and what postdesk does
//! without the extensions it lacks. postdesk never sends a command the
//! server did not advertise: many organisations' servers are not Dovecot,
//! and a server without MOVE (RFC 6851) answered our `UID MOVE` with an
//! error, leaving every processed mail in the inbox.
//!
//! Pure: the IMAP module reads the list and asks here.
//!
//! | extension | used for | without it |
//! |---|---|---|
//! | MOVE (RFC 6851) | `after = "move"`, the quarantine folder | UID COPY + UID STORE \Deleted + UID EXPUNGE (needs UIDPLUS) |
//! | UIDPLUS (RFC 4315) | `UID EXPUNGE` of exactly our messages | without MOVE too: mark seen instead of moving (a plain EXPUNGE would also remove other clients' deleted mail) |
//! | IDLE (RFC 2177) | new mail seen at once | poll every `poll-interval` |
//! | CONDSTORE, SPECIAL-USE, ENABLE | not used yet | nothing changes; listed by `check` |

use crate::config::AfterProcessing;

/// The extensions postdesk cares about, as the server advertised them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerCaps {
    /// Every capability the server listed, as it spelled them, in its order.
    pub all: Vec<String>,
    pub move_: bool,
    pub uidplus: bool,
    pub idle: bool,
    pub condstore: bool,
    pub special_use: bool,
    pub enable: bool,
}

impl ServerCaps {
    /// From the capability words of a CAPABILITY response.
    pub fn from_words<S: AsRef<str>>(words: impl IntoIterator<Item = S>) -> ServerCaps {
        let all: Vec<String> = words
            .into_iter()
            .map(|w| w.as_ref().trim().to_string())
            .filter(|w| !w.is_empty())
            .collect();
        // Capability names are case-insensitive (RFC 3501 §9).
        let has = |name: &str| all.iter().any(|w| w.eq_ignore_ascii_case(name));
        ServerCaps {
            move_: has("MOVE"),
            uidplus: has("UIDPLUS"),
            idle: has("IDLE"),
            // QRESYNC implies CONDSTORE (RFC 7162 §3.2.3).
            condstore: has("CONDSTORE") || has("QRESYNC"),
            special_use: has("SPECIAL-USE"),
            enable: has("ENABLE"),
            all,
        }
    }
}

/// How processed (or quarantined) messages leave the watched folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moving {
    /// `UID MOVE`.
    Move,
    /// `UID COPY`, `UID STORE +FLAGS.SILENT (\Deleted)`, `UID EXPUNGE` of
    /// just those UIDs.
    CopyExpunge,
    /// Cannot move without touching other people's deleted mail: leave the
    /// message and mark it seen.
    MarkSeen,
}

/// How messages are moved to a folder on this server.
pub fn moving(caps: &ServerCaps) -> Moving {
    if caps.move_ {
        Moving::Move
    } else if caps.uidplus {
        Moving::CopyExpunge
    } else {
        Moving::MarkSeen
    }
}

/// What `after` becomes on this server: `move` falls back to `seen` when
/// the server can move neither way.
pub fn after(after: AfterProcessing, caps: &ServerCaps) -> AfterProcessing {
    match after {
        AfterProcessing::Move if moving(caps) == Moving::MarkSeen => AfterProcessing::Seen,
        other => other,
    }
}

/// Sentences for the log and `check`: each missing extension that matters
/// for these settings, and what postdesk does instead.
pub fn without(
    caps: &ServerCaps,
    after: AfterProcessing,
    idle: bool,
    quarantine: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    let moves = after == AfterProcessing::Move || quarantine;
    if moves {
        match moving(caps) {
            Moving::Move => {}
            Moving::CopyExpunge => out.push(
                "no MOVE: messages are moved with UID COPY, UID STORE \\Deleted and UID EXPUNGE (UIDPLUS)".into(),
            ),
            Moving::MarkSeen => out.push(
                "no MOVE and no UIDPLUS: messages cannot be moved without expunging other clients' deleted mail, \
                 so they are marked seen and stay in the folder (after = \"move\" acts as \"seen\"; quarantined mail stays, unflagged)"
                    .into(),
            ),
        }
    }
    if idle && !caps.idle {
        out.push("no IDLE: the folder is polled every poll-interval".into());
    }
    for (has, name) in [
        (caps.condstore, "CONDSTORE"),
        (caps.special_use, "SPECIAL-USE"),
        (caps.enable, "ENABLE"),
    ] {
        if !has {
            out.push(format!("no {name}: not needed, postdesk does not use it"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(s: &str) -> ServerCaps {
        ServerCaps::from_words(s.split_whitespace())
    }

    #[test]
    fn moving_falls_back_in_order() {
        assert_eq!(moving(&caps("IMAP4rev1 MOVE UIDPLUS")), Moving::Move);
        assert_eq!(moving(&caps("imap4rev1 move")), Moving::Move);
        assert_eq!(moving(&caps("IMAP4rev1 UIDPLUS")), Moving::CopyExpunge);
        assert_eq!(moving(&caps("IMAP4rev1 IDLE")), Moving::MarkSeen);
        // A word that merely contains MOVE is not MOVE.
        assert_eq!(moving(&caps("IMAP4rev1 XMOVE UIDPLUSX")), Moving::MarkSeen);
    }

    #[test]
    fn move_becomes_seen_only_when_nothing_can_move() {
        let bare = caps("IMAP4rev1");
        assert_eq!(after(AfterProcessing::Move, &bare), AfterProcessing::Seen);
        assert_eq!(after(AfterProcessing::Keep, &bare), AfterProcessing::Keep);
        assert_eq!(
            after(AfterProcessing::Move, &caps("IMAP4rev1 UIDPLUS")),
            AfterProcessing::Move
        );
    }

    #[test]
    fn what_is_missing_is_said_with_what_happens_instead() {
        let full = caps("IMAP4rev1 MOVE UIDPLUS IDLE CONDSTORE SPECIAL-USE ENABLE");
        assert!(without(&full, AfterProcessing::Move, true, true).is_empty());
        let bare = caps("IMAP4rev1");
        let said = without(&bare, AfterProcessing::Move, true, false).join("\n");
        assert!(said.contains("marked seen"), "{said}");
        assert!(said.contains("polled"), "{said}");
        assert!(said.contains("no CONDSTORE"), "{said}");
        // Moving is not mentioned when nothing is ever moved.
        let said = without(&bare, AfterProcessing::Seen, false, false).join("\n");
        assert!(!said.contains("MOVE") && !said.contains("IDLE"), "{said}");
        assert!(caps("IMAP4rev1 QRESYNC").condstore);
    }
}
