//! Reads for the review, and the record of reviews mailed.

/// A review already queued.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReportSent {
    pub schedule: String,
    pub period: String,
    pub at: i64,
}
