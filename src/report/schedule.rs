//! When the review is mailed.

use serde::Deserialize;

/// The `[report]` section.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ReportConfig {
    pub to: Vec<String>,
}
