//! Routing: what kind of mail this is to the desk, and who decides about
//! it. (ticket state, mail, policy, now) → effects.
//!
//! Pure: the caller looks up the ticket a mail belongs to (see
//! [`crate::thread`]), passes the clock reading, and applies the effects in
//! one transaction. The deciders live beside this file: [`automatic`] (our
//! own mail, bounces, out-of-office), [`requester`] (new requests and
//! replies), [`agent`] (answers, notes, commands), [`closing`]
//! (confirmation, auto-close, survey).
//!
//! [`automatic`]: crate::desk::automatic
//! [`requester`]: crate::desk::requester
//! [`agent`]: crate::desk::agent
//! [`closing`]: crate::desk::closing

use crate::desk::approval::{self, Pending};
use crate::desk::effect::Effect;
use crate::desk::kb::Suggestion;
use crate::desk::listing::{self, Lookups};
use crate::desk::merge::Related;
use crate::desk::policy::Policy;
use crate::desk::spam::{self, Screen};
use crate::desk::ticket::SentMail;
use crate::desk::{agent, automatic, behalf, exclusion, requester, scope};
use crate::inbound::Inbound;
use crate::thread::Link;

/// What the caller looked up in the store about a mail before deciding.
#[derive(Debug, Clone, Copy, Default)]
pub struct Known<'a> {
    /// The ticket the mail belongs to, and how it was found ([`crate::thread`]).
    pub link: Option<&'a Link>,
    /// The number a new ticket would get.
    pub next_number: i64,
    /// Knowledge-base entries that may answer a new ticket (looked up when
    /// a first decision opens one).
    pub suggestions: &'a [Suggestion],
    /// For a delivery report: the mail of ours it names, if we sent it.
    pub bounced: Option<&'a SentMail>,
    /// What the spam filters said about the mail ([`crate::desk::spam`]).
    pub screen: Option<&'a Screen>,
    /// For an agent's mail: what its `#merge` and `#split` name ([`merge::wanted`]).
    pub related: Option<&'a Related>,
    /// For a new mail that asks for a list (`#queue`, `#status`): the list
    /// ([`listing::asked`]).
    pub listing: Option<&'a Lookups>,
    /// The approval the ticket waits for, if it does ([`approval`]).
    pub approval: Option<&'a Pending>,
    /// For a sender outside the desk's scope: refused lately, vouched for
    /// ([`crate::desk::scope`]).
    pub standing: scope::Standing,
}

/// Nothing looked up for commands.
static NOTHING_RELATED: Related = Related {
    tickets: Vec::new(),
    split: None,
    next_number: 0,
    request_text: None,
};

/// Decides what one inbound mail means.
pub fn decide(policy: &Policy, mail: &Inbound, known: &Known<'_>, now_ms: i64) -> Vec<Effect> {
    let Known {
        link,
        next_number,
        suggestions,
        bounced,
        screen,
        related,
        listing,
        approval,
        standing,
    } = *known;
    if let Some(reason) = automatic::our_own_mail(policy, mail) {
        return vec![Effect::Ignore { reason }];
    }
    if (mail.bounce.is_some() || mail.auto.is_bounce()) && automatic::is_a_real_report(policy, mail)
    {
        return automatic::bounce(policy, mail, bounced, link.map(Link::ticket));
    }
    let Some(link) = link else {
        if let Some(l) = listing {
            return listing::answer(policy, mail, l, now_ms);
        }
        let agent = mail
            .from
            .as_ref()
            .and_then(|f| policy.directory.agent_by_address(&f.address));
        if let Some(fx) = agent
            .and_then(|a| behalf::new_ticket(policy, a, mail, next_number, now_ms, suggestions))
        {
            return fx;
        }
        let effects = requester::new_ticket(policy, mail, next_number, None, now_ms, suggestions);
        let effects = spam::screen_new_ticket(policy, mail, screen, effects);
        let effects = scope::screen_new_ticket(policy, mail, standing, effects);
        return exclusion::screen_new_ticket(policy, mail, effects);
    };
    let ticket = link.ticket();
    let sender = mail.sender_address();
    if mail.auto.is_automatic() {
        return automatic::on_ticket(ticket, mail, &sender);
    }
    // The approver's answer (or somebody's attempt at one) goes nowhere
    // else: an approver who is also an agent must not relay "approve" to
    // the requester.
    if let Some(p) = approval.filter(|p| approval::is_answer(mail, p)) {
        return approval::answer(policy, ticket, p, mail);
    }
    // Only a From address can make a mail an agent's: Reply-To is the
    // sender's to write and proves nothing.
    let agent = mail
        .from
        .as_ref()
        .and_then(|f| policy.directory.agent_by_address(&f.address));
    match agent {
        Some(agent) => {
            let related = related.unwrap_or(&NOTHING_RELATED);
            agent::from_agent(policy, ticket, agent, mail, related, now_ms)
        }
        None => {
            let known = ticket.requester == sender || ticket.watchers.contains(&sender);
            if !known {
                // A stranger's tag, or a reference to one of our mails,
                // must not put their mail into somebody else's ticket (to
                // confirm, rate or reopen it): it becomes a ticket of its
                // own that mentions the old one.
                let effects = requester::new_ticket(
                    policy,
                    mail,
                    next_number,
                    Some(ticket.number),
                    now_ms,
                    suggestions,
                );
                let effects = spam::screen_new_ticket(policy, mail, screen, effects);
                let effects = scope::screen_new_ticket(policy, mail, standing, effects);
                return exclusion::screen_new_ticket(policy, mail, effects);
            }
            let new = requester::NewNumber {
                number: next_number,
                suggestions,
            };
            requester::from_requester(policy, ticket, mail, &sender, new, now_ms)
        }
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
