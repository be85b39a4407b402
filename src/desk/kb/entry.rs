//! The knowledge base's vocabulary, as the rest of the core sees it: the
//! `[kb]` settings, an entry's status, a ticket's place in the KB, the
//! changes decide asks for, and a suggestion offered to a requester.

use serde::{Deserialize, Serialize};

/// The `[kb]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct KbConfig {
    /// Draft an entry when a ticket is resolved.
    pub enabled: bool,
    /// At most this many published entries in an acknowledgement (0: none).
    pub suggestions: usize,
    /// How well an entry must match a request to be suggested, 0 to 1: the
    /// share of the request's words (weighted by rarity) that it covers.
    pub min_score: f64,
}

impl Default for KbConfig {
    fn default() -> KbConfig {
        KbConfig {
            enabled: true,
            suggestions: 3,
            min_score: 0.35,
        }
    }
}

impl KbConfig {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.min_score) {
            return Err(format!(
                "min-score = {}: expected a share from 0 to 1, like 0.35",
                self.min_score
            ));
        }
        Ok(())
    }
}

/// Where an entry is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryStatus {
    /// Made from a resolved ticket, waiting for an agent.
    Draft,
    /// Searchable and suggested to requesters.
    Published,
    /// Not worth an article.
    Skipped,
}

impl EntryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Draft => "draft",
            EntryStatus::Published => "published",
            EntryStatus::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<EntryStatus> {
        match s {
            "draft" => Some(EntryStatus::Draft),
            "published" => Some(EntryStatus::Published),
            "skipped" => Some(EntryStatus::Skipped),
            _ => None,
        }
    }
}

/// A ticket's own entry, as decide sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntryRef {
    pub id: i64,
    pub status: EntryStatus,
    /// The entry has solution text (an entry without cannot be published).
    pub has_solution: bool,
}

/// What decide knows of a ticket's place in the knowledge base.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TicketKb {
    /// The entry drafted from this ticket.
    pub entry: Option<EntryRef>,
    /// Published entries its acknowledgement suggested.
    pub suggested: Vec<i64>,
}

/// A change to the knowledge base, applied in the ticket's transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum KbEffect {
    /// Create the ticket's entry (title, problem and category come from the
    /// ticket) or give its draft this solution; publish it when asked.
    Draft {
        ticket: i64,
        solution: String,
        publish: bool,
        actor: String,
    },
    /// Publish the ticket's entry.
    Publish { ticket: i64, actor: String },
    /// Keep the ticket's entry out of the knowledge base.
    Skip { ticket: i64, actor: String },
    /// The acknowledgement suggested these published entries.
    Suggested { ticket: i64, entries: Vec<i64> },
    /// The requester said a suggested entry solved the problem.
    Helped { ticket: i64, entries: Vec<i64> },
}

/// A published entry offered to a requester.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub id: i64,
    pub title: String,
    pub solution: String,
    /// Relevance, 0 to 1.
    pub score: f64,
}
