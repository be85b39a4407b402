//! Threading: which ticket a mail belongs to, and the ids that let us tell.
//!
//! The order of precedence, first hit wins:
//! 1. our tag in the subject (`[#1042]`, see [`crate::subject`]) naming a
//!    ticket that exists;
//! 2. a Message-ID the mail answers that we stored: the mail of ours a
//!    bounce reports, then In-Reply-To, then References from the newest;
//! 3. one of those ids is a ticket's notice root (agents' clients that kept
//!    only the thread root, or a notice whose own id we did not keep).
//!
//! Pure: [`plan`] says what to look up, in order; the pipeline runs the
//! lookups against the store through [`resolve`]. This module also owns our
//! Message-ID scheme and the loop header, the two ways we recognise our own
//! mail when it comes back.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use ring::hmac;

use crate::desk::ticket::TicketState;
use crate::inbound::Inbound;
use crate::subject::TagFormat;

/// This installation's secret for Message-IDs (kept in the database, see
/// `Store::id_key`): our ids carry an HMAC under it, so nobody outside can
/// predict a ticket's notice root or forge an id we would take for ours.
#[derive(Clone, PartialEq, Eq)]
pub struct IdKey([u8; 32]);

impl std::fmt::Debug for IdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdKey(***)")
    }
}

impl IdKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<IdKey, String> {
        use ring::rand::SecureRandom;
        let mut k = [0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut k)
            .map_err(|_| "the system random source failed".to_string())?;
        Ok(IdKey(k))
    }

    pub fn from_slice(b: &[u8]) -> Option<IdKey> {
        Some(IdKey(b.try_into().ok()?))
    }

    /// A fixed key for tests, where ids must not depend on a database.
    pub fn fixed(byte: u8) -> IdKey {
        IdKey([byte; 32])
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A secret only this installation can make for `data` (the tag of
    /// [`IdKey::tag`]): one-time tokens, such as an approval's.
    pub fn token(&self, data: &str) -> String {
        self.tag(data)
    }

    /// The first 64 bits of HMAC-SHA256 over `data`, in hex: 2^64 guesses
    /// for one forged id is out of reach for mail.
    fn tag(&self, data: &str) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let mac = hmac::sign(&key, data.as_bytes());
        mac.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The header we put on every mail we send, so we can recognise it if it comes back.
pub const LOOP_HEADER: &str = "X-Postdesk-Loop";

/// How many References we carry forward: enough to thread, bounded so a
/// long conversation does not grow headers without end.
pub const MAX_REFERENCES: usize = 20;

/// The stable Message-ID all notices about one ticket refer to, so agents'
/// mail clients thread them together. Its tag makes it unguessable: knowing
/// a ticket's number is not enough to write into its thread.
pub fn notice_root(ticket: i64, domain: &str, key: &IdKey) -> String {
    let local = format!("pd.{ticket}.root");
    format!("{local}.{}@{domain}", key.tag(&local))
}

/// The ticket number named by a [`notice_root`] id, if it is one of ours
/// (at our domain, with the right tag).
pub fn ticket_of_notice_root(id: &str, domain: &str, key: &IdKey) -> Option<i64> {
    let (local, d) = id.rsplit_once('@')?;
    if !d.eq_ignore_ascii_case(domain) {
        return None;
    }
    let (body, tag) = local.rsplit_once('.')?;
    if key.tag(body) != tag {
        return None;
    }
    body.strip_prefix("pd.")?
        .strip_suffix(".root")?
        .parse()
        .ok()
}

/// How a mail was linked to an existing ticket.
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    /// Its subject carries the ticket's tag.
    Tag(TicketState),
    /// Its In-Reply-To or References name a message of the ticket.
    Reference(TicketState),
}

impl Link {
    pub fn ticket(&self) -> &TicketState {
        match self {
            Link::Tag(t) | Link::Reference(t) => t,
        }
    }
}

/// One lookup, in the order [`plan`] gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The ticket with this number, named by the subject's tag.
    Tag(i64),
    /// The ticket that has a message with one of these Message-IDs, the
    /// first id that matches winning.
    MessageIds(Vec<String>),
    /// The ticket with this number, named by one of our notice roots.
    NoticeRoot(i64),
}

/// What to look up for `mail`, in order of precedence.
pub fn plan(mail: &Inbound, tag: &TagFormat, id_domain: &str, key: &IdKey) -> Vec<Lookup> {
    let mut lookups = Vec::new();
    if let Some(n) = tag.find(&mail.subject) {
        lookups.push(Lookup::Tag(n));
    }
    let ids = answered_ids(mail);
    let roots: Vec<i64> = ids
        .iter()
        .filter_map(|id| ticket_of_notice_root(id, id_domain, key))
        .collect();
    if !ids.is_empty() {
        lookups.push(Lookup::MessageIds(ids));
    }
    lookups.extend(roots.into_iter().map(Lookup::NoticeRoot));
    // A forwarded mail that is already a ticket of ours joins it: the tag
    // in the original's subject, or the attached original's Message-ID.
    // Last, so the forwarding mail's own links win.
    if let Some(f) = crate::desk::forward::forwarded(mail) {
        if let Some(n) = tag.find(&f.subject) {
            lookups.push(Lookup::Tag(n));
        }
        if let Some(id) = f.message_id {
            lookups.push(Lookup::MessageIds(vec![id]));
        }
    }
    lookups
}

/// The Message-IDs a mail answers, most specific first: the mail of ours a
/// bounce names, In-Reply-To, then References from the newest.
fn answered_ids(mail: &Inbound) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    if let Some(id) = mail
        .bounce
        .as_ref()
        .and_then(|b| b.original_message_id.clone())
    {
        ids.push(id);
    }
    ids.extend(mail.in_reply_to.iter().cloned());
    ids.extend(mail.references.iter().rev().cloned());
    ids
}

/// Runs the lookups in order with `find` (the store, in the pipeline) and
/// returns the first ticket found, with how it was found.
pub fn resolve<E>(
    lookups: &[Lookup],
    mut find: impl FnMut(&Lookup) -> Result<Option<TicketState>, E>,
) -> Result<Option<Link>, E> {
    for l in lookups {
        if let Some(t) = find(l)? {
            return Ok(Some(match l {
                Lookup::Tag(_) => Link::Tag(t),
                Lookup::MessageIds(_) | Lookup::NoticeRoot(_) => Link::Reference(t),
            }));
        }
    }
    Ok(None)
}

/// A fresh Message-ID (without brackets) at `domain`, naming the ticket so a
/// person reading headers can tell where it came from, and ending in a tag
/// under `key` so [`is_our_message_id`] can tell ours from a forgery.
pub fn new_message_id(ticket: Option<i64>, now_ms: i64, domain: &str, key: &IdKey) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // RandomState is seeded per process from the OS: two processes in the
    // same millisecond with the same counter still make different ids.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(n);
    h.write_i64(now_ms);
    let r = h.finish() as u32;
    let local = match ticket {
        Some(t) => format!("pd.{t}.{now_ms:x}.{n:x}.{r:08x}"),
        None => format!("pd.{now_ms:x}.{n:x}.{r:08x}"),
    };
    format!("{local}.{}@{domain}", key.tag(&local))
}

/// True when `message_id` was made by [`new_message_id`] (or is a
/// [`notice_root`]) for `domain` under `key`.
pub fn is_our_message_id(message_id: &str, domain: &str, key: &IdKey) -> bool {
    let Some((local, d)) = message_id.rsplit_once('@') else {
        return false;
    };
    let Some((body, tag)) = local.rsplit_once('.') else {
        return false;
    };
    body.starts_with("pd.") && d.eq_ignore_ascii_case(domain) && key.tag(body) == tag
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn mail(subject: &str, in_reply_to: &[&str], references: &[&str]) -> Inbound {
        let mut raw =
            format!("From: ann@corp.test\r\nSubject: {subject}\r\nMessage-ID: <m1@corp.test>\r\n");
        if !in_reply_to.is_empty() {
            raw.push_str(&format!("In-Reply-To: <{}>\r\n", in_reply_to.join("> <")));
        }
        if !references.is_empty() {
            raw.push_str(&format!("References: <{}>\r\n", references.join("> <")));
        }
        raw.push_str("\r\nhello\r\n");
        crate::inbound::parse(raw.as_bytes()).unwrap()
    }

    fn ticket(n: i64) -> TicketState {
        TicketState {
            number: n,
            ..TicketState::default()
        }
    }

    /// A desk with tickets 7 and 9; message `a7@x` belongs to 7, `a9@x` to 9.
    fn find(l: &Lookup) -> Result<Option<TicketState>, ()> {
        let messages: BTreeMap<&str, i64> = [("a7@x", 7), ("a9@x", 9)].into();
        Ok(match l {
            Lookup::Tag(n) | Lookup::NoticeRoot(n) => [7, 9].contains(n).then(|| ticket(*n)),
            Lookup::MessageIds(ids) => ids
                .iter()
                .find_map(|id| messages.get(id.as_str()))
                .map(|n| ticket(*n)),
        })
    }

    fn key() -> IdKey {
        IdKey::fixed(7)
    }

    fn linked(m: &Inbound) -> Option<(bool, i64)> {
        let tag = TagFormat::new("#");
        resolve(&plan(m, &tag, "desk.test", &key()), find)
            .unwrap()
            .map(|l| (matches!(l, Link::Tag(_)), l.ticket().number))
    }

    #[test]
    fn a_forward_of_a_tickets_mail_joins_that_ticket() {
        let attached = "From: alice@corp.test\r\nSubject: Fwd: VPN\r\nMessage-ID: <f1@corp.test>\r\n\
            Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee\r\n\
            --b\r\nContent-Type: message/rfc822\r\n\r\nFrom: ann@corp.test\r\nSubject: VPN\r\n\
            Message-ID: <a9@x>\r\n\r\nbroken\r\n--b--\r\n";
        let m = crate::inbound::parse(attached.as_bytes()).unwrap();
        assert_eq!(linked(&m), Some((false, 9)), "by the original's Message-ID");
        let inline = "From: alice@corp.test\r\nSubject: Fwd: VPN\r\nMessage-ID: <f2@corp.test>\r\n\r\n\
            ---------- Forwarded message ---------\r\nFrom: IT Desk <helpdesk@desk.test>\r\n\
            Subject: [#7] VPN\r\n\r\nWe are on it.\r\n";
        let m = crate::inbound::parse(inline.as_bytes()).unwrap();
        assert_eq!(
            linked(&m),
            Some((true, 7)),
            "by the tag in the original's subject"
        );
    }

    #[test]
    fn the_tag_wins_over_references() {
        assert_eq!(
            linked(&mail("Re: [#7] VPN", &["a9@x"], &[])),
            Some((true, 7))
        );
    }

    #[test]
    fn a_tag_of_no_ticket_falls_back_to_references() {
        assert_eq!(
            linked(&mail("Re: [#8] VPN", &["a9@x"], &[])),
            Some((false, 9))
        );
    }

    #[test]
    fn in_reply_to_wins_over_references_and_newest_reference_first() {
        assert_eq!(
            linked(&mail("Re: VPN", &["a7@x"], &["a9@x"])),
            Some((false, 7))
        );
        assert_eq!(
            linked(&mail("Re: VPN", &[], &["a7@x", "a9@x"])),
            Some((false, 9))
        );
        assert_eq!(
            linked(&mail("Re: VPN", &["zz@x"], &["a7@x", "yy@x"])),
            Some((false, 7))
        );
    }

    #[test]
    fn a_stored_message_wins_over_a_notice_root() {
        let root = notice_root(9, "desk.test", &key());
        assert_eq!(
            linked(&mail("Re: VPN", &[&root], &["a7@x"])),
            Some((false, 7))
        );
        assert_eq!(linked(&mail("Re: VPN", &[&root], &[])), Some((false, 9)));
        // A root at another domain is not ours.
        let foreign = notice_root(9, "other.test", &key());
        assert_eq!(linked(&mail("Re: VPN", &[&foreign], &[])), None);
    }

    #[test]
    fn the_plan_is_in_order_of_precedence() {
        let root = notice_root(9, "desk.test", &key());
        let m = mail("Re: [#7] VPN", &["a1@x"], &[&root, "a2@x"]);
        assert_eq!(
            plan(&m, &TagFormat::new("#"), "desk.test", &key()),
            vec![
                Lookup::Tag(7),
                Lookup::MessageIds(vec!["a1@x".into(), "a2@x".into(), root.clone()]),
                Lookup::NoticeRoot(9),
            ]
        );
        assert!(
            plan(
                &mail("VPN", &[], &[]),
                &TagFormat::new("#"),
                "desk.test",
                &key()
            )
            .is_empty()
        );
    }

    #[test]
    fn notice_roots_round_trip() {
        let id = notice_root(1042, "example.test", &key());
        assert_eq!(
            ticket_of_notice_root(&id, "example.test", &key()),
            Some(1042)
        );
        assert_eq!(ticket_of_notice_root(&id, "other.test", &key()), None);
        assert_eq!(
            ticket_of_notice_root("pd.x.root@example.test", "example.test", &key()),
            None
        );
    }

    #[test]
    fn our_ids_cannot_be_guessed_or_forged() {
        let root = notice_root(1042, "example.test", &key());
        // The old guessable form, and a root under another install's key.
        for forged in [
            "pd.1042.root@example.test".to_string(),
            notice_root(1042, "example.test", &IdKey::fixed(8)),
            root.replace("1042", "1043"),
        ] {
            assert_eq!(
                ticket_of_notice_root(&forged, "example.test", &key()),
                None,
                "{forged}"
            );
            assert!(
                !is_our_message_id(&forged, "example.test", &key()),
                "{forged}"
            );
        }
        assert!(is_our_message_id(&root, "example.test", &key()));
        let id = new_message_id(Some(7), 5, "example.test", &key());
        assert!(!is_our_message_id(&id, "example.test", &IdKey::fixed(8)));
        let (local, _) = id.rsplit_once('@').unwrap();
        let tampered = format!("{}@example.test", local.replacen("pd.7.", "pd.8.", 1));
        assert!(!is_our_message_id(&tampered, "example.test", &key()));
        assert_eq!(format!("{:?}", key()), "IdKey(***)");
    }

    #[test]
    fn message_ids_are_unique_and_recognised() {
        let a = new_message_id(Some(7), 5, "example.test", &key());
        let b = new_message_id(Some(7), 5, "example.test", &key());
        assert_ne!(a, b);
        assert!(is_our_message_id(&a, "example.test", &key()));
        assert!(!is_our_message_id(&a, "other.test", &key()));
        assert!(!is_our_message_id(
            "CAF123@mail.gmail.com",
            "gmail.com",
            &key()
        ));
    }
}
