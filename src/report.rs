//! The review of a period: how many tickets came and went, how fast, how
//! well the promises were kept, how satisfied people were, which problems
//! recur.
pub mod schedule;
