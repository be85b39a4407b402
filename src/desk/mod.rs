//! The pure core: what a mail means for a ticket, and what to do about it.
//! Nothing in here does I/O or reads the clock; callers pass `now`. Each
//! module owns the settings type of its config section (`config.rs` only
//! aggregates them); a test in `layout_tests.rs` keeps I/O modules out.
//!
//! - vocabulary: [`ticket`] (the state decide reads), [`effect`] (what it
//!   returns), [`policy`] (the desk's settings, compiled);
//! - deciders: [`decide`] routes a mail to [`automatic`], [`requester`] or
//!   [`agent`] (with [`verify`] for an agent's proof, [`outside`] for
//!   answers the customer got directly, [`forward`] and [`behalf`] for tickets on behalf,
//!   [`canned`] and [`timelog`] for canned replies and time); [`closing`]
//!   (confirmation, auto-close, survey); [`limits`] (the budget of
//!   automatic mail) and [`flood`] (the breaker over all mail about a
//!   ticket), the last guards against loops; [`sla`] (business time, due times, the escalation ladder);
//! - the grammar of what people write: [`commands`], [`quote`]; who they
//!   are: [`people`]; how tickets are sorted: [`rules`]; the knowledge base:
//!   [`kb`]; the mails we write: [`mails`]; the status machine: [`lifecycle`];
//!   times in words: [`when`]; spam and backscatter: [`spam`]; who the
//!   desk serves: [`scope`]; what it does not do: [`exclusion`]; mail that
//!   was there before postdesk: [`history`]; agents' everyday tools:
//!   [`merge`] (merge and split), [`approval`] (asking someone to approve,
//!   and their answer), [`listing`] (`#queue`, `#status` and the morning digest).

pub mod agent;
pub mod approval;
pub mod automatic;
pub mod behalf;
pub mod canned;
pub mod closing;
pub mod commands;
pub mod decide;
pub mod effect;
pub mod exclusion;
pub mod flood;
pub mod forward;
pub mod history;
pub mod kb;
pub mod lifecycle;
pub mod limits;
pub mod listing;
pub mod mails;
pub mod merge;
pub mod outside;
pub mod people;
pub mod policy;
pub mod quote;
pub mod requester;
pub mod rules;
pub mod scope;
pub mod sla;
pub mod spam;
pub mod survey;
pub mod ticket;
pub mod timelog;
pub mod verify;
pub mod when;
