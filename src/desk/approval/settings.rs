//! The `[approval]` section, apart from the decisions so that the policy
//! can hold it without importing them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// The `[approval]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ApprovalConfig {
    /// Remind the approver after this long without an answer, and again
    /// every time as long.
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub remind_after: Duration,
    /// Stop the SLA clock while the ticket waits for the approval.
    pub pause_sla: bool,
    /// Approvers by category: `server = "it-manager@corp.example.com"`.
    pub approvers: BTreeMap<String, String>,
}

impl Default for ApprovalConfig {
    fn default() -> ApprovalConfig {
        ApprovalConfig {
            // A working day: an approver who did not answer by the next
            // morning has most likely missed the mail.
            remind_after: Duration::from_secs(24 * 3600),
            pause_sla: true,
            approvers: BTreeMap::new(),
        }
    }
}

impl ApprovalConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.remind_after < Duration::from_secs(60) {
            return Err(format!(
                "remind-after = {:?}: expected at least a minute",
                self.remind_after
            ));
        }
        for (category, a) in &self.approvers {
            crate::address::usable(a).map_err(|why| format!("approvers.{category}: {why}"))?;
        }
        Ok(())
    }
}
