//! The pure core: what a mail means for a ticket, and what to do about it.
//! Nothing in here does I/O or reads the clock; callers pass `now`.

pub mod decide;
pub mod sla;
pub mod ticket;
pub mod when;
