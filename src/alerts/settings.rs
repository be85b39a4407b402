//! `[alerts]`: when a condition is worth a mail to the admins.

use std::time::Duration;

use serde::Deserialize;

/// `[alerts]`: when a condition is worth a mail.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct AlertsConfig {
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub mailbox_failing_for: Duration,
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub token_expires_within: Duration,
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub outbox_older_than: Duration,
    pub quarantine_growth: i64,
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub quarantine_window: Duration,
    pub disk_free_percent: u8,
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub check_interval: Duration,
    pub max_mails_per_hour: i64,
}

impl Default for AlertsConfig {
    fn default() -> AlertsConfig {
        AlertsConfig {
            // Ten minutes: a server restart or a short network cut (the
            // IMAP source retries with backoff up to 5 min) is not worth a mail.
            mailbox_failing_for: Duration::from_secs(600),
            token_expires_within: Duration::from_secs(7 * 24 * 3600),
            outbox_older_than: Duration::from_secs(3600),
            quarantine_growth: 10,
            quarantine_window: Duration::from_secs(3600),
            disk_free_percent: 5,
            check_interval: Duration::from_secs(30),
            max_mails_per_hour: 20,
        }
    }
}

impl AlertsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.disk_free_percent > 99 {
            return Err("alerts.disk-free-percent: expected a percentage from 0 to 99".into());
        }
        if self.quarantine_growth < 1 {
            return Err("alerts.quarantine-growth: expected at least 1 mail".into());
        }
        if self.max_mails_per_hour < 1 {
            return Err("alerts.max-mails-per-hour: expected at least 1".into());
        }
        if self.check_interval.is_zero() {
            return Err("alerts.check-interval: expected a duration like \"30s\"".into());
        }
        Ok(())
    }
}
