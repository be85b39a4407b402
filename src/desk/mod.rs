//! The pure core: what a mail means for a ticket, and what to do about it.
//! Nothing in here does I/O or reads the clock; callers pass `now`.

pub mod commands;
pub mod decide;
pub mod escalation;
pub mod lifecycle;
pub mod mails;
pub mod people;
pub mod quote;
pub mod rules;
pub mod sla;
pub mod ticket;
pub mod when;
