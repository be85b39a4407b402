//! The `[spam]` settings (see [`crate::desk::spam`] for what they do).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::inbound::spamverdict::VerdictRules;

/// What a spam mail becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SpamOutcome {
    /// A ticket in the `spam` state.
    #[default]
    Ticket,
    /// Recorded without a ticket.
    Record,
}

/// What one rspamd action means to the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionOutcome {
    /// Spam: handled as `spam.outcome` says.
    Spam,
    /// A normal ticket, but no acknowledgement (suspect: do not answer).
    NoAck,
    /// A normal request.
    NotSpam,
}

/// `[spam]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct SpamConfig {
    /// Honour the verdict headers of the filter in front.
    pub headers: bool,
    /// Verdict headers count above the Nth Received header (0: anywhere).
    pub trusted_received: usize,
    /// Exchange's SCL at or above which mail is spam.
    pub scl_threshold: i32,
    /// Another filter's header, and the value in it that means spam.
    pub header: Option<String>,
    pub header_value: Option<String>,
    /// What a spam mail becomes.
    pub outcome: SpamOutcome,
    /// No acknowledgement to a sender failing DMARC (or SPF without aligned DKIM).
    pub no_backscatter: bool,
    /// rspamd's normal worker, e.g. `http://127.0.0.1:11333`; none: not asked.
    pub rspamd: Option<String>,
    /// rspamd's controller, for `#spam`/`#notspam` learning; none: no learning.
    pub rspamd_controller: Option<String>,
    /// The controller's password, from this environment variable.
    pub rspamd_password_env: Option<String>,
    /// How long one rspamd call may take before the mail goes on without it.
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub rspamd_timeout: Duration,
    /// rspamd's action (`reject`, `add header`, `rewrite subject`,
    /// `greylist`, `soft reject`, `no action`) → what it means here.
    pub actions: BTreeMap<String, ActionOutcome>,
    /// Spam tickets older than this are purged by the sweeper; none: kept.
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub purge_after: Option<Duration>,
    /// Keep the raw mail of a purged spam ticket (in the quarantine's place: no).
    pub purge_keep_raw: bool,
}

impl Default for SpamConfig {
    fn default() -> SpamConfig {
        SpamConfig {
            headers: true,
            trusted_received: 1,
            scl_threshold: 5,
            header: None,
            header_value: None,
            outcome: SpamOutcome::Ticket,
            no_backscatter: true,
            rspamd: None,
            rspamd_controller: None,
            rspamd_password_env: None,
            // rspamd answers a clean mail in 2-10 ms here and GTUBE in under
            // 1 ms; a second is a filter in trouble, and intake must not wait on it.
            rspamd_timeout: Duration::from_secs(2),
            actions: BTreeMap::new(),
            purge_after: None,
            purge_keep_raw: false,
        }
    }
}

fn de_opt_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d)?;
    crate::units::parse_duration(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// rspamd's actions, as it names them.
const ACTIONS: [&str; 6] = [
    "reject",
    "add header",
    "rewrite subject",
    "greylist",
    "soft reject",
    "no action",
];

impl SpamConfig {
    /// Checks what the types alone cannot.
    pub fn validate(&self) -> Result<(), String> {
        for a in self.actions.keys() {
            if !ACTIONS.contains(&a.as_str()) {
                return Err(format!(
                    "actions: unknown rspamd action \"{a}\": expected one of {}",
                    ACTIONS.map(|a| format!("\"{a}\"")).join(", ")
                ));
            }
        }
        for (key, url) in [
            ("rspamd", &self.rspamd),
            ("rspamd-controller", &self.rspamd_controller),
        ] {
            if let Some(u) = url
                && !u.starts_with("http://")
            {
                return Err(format!(
                    "{key}: expected a URL like \"http://127.0.0.1:11333\", got \"{u}\""
                ));
            }
        }
        if self.header.is_some() != self.header_value.is_some() {
            return Err(
                "header and header-value go together: the header's name and the value in it that means spam"
                    .into(),
            );
        }
        if self.rspamd_timeout.is_zero() {
            return Err("rspamd-timeout must be more than 0s (e.g. \"2s\")".into());
        }
        Ok(())
    }

    /// What an rspamd action means here: the configured mapping, else
    /// spam for `reject`, `add header` and `rewrite subject`.
    pub fn action(&self, action: &str) -> ActionOutcome {
        let a = action.trim().to_ascii_lowercase();
        if let Some(o) = self.actions.get(&a) {
            return *o;
        }
        if crate::inbound::spamverdict::rspamd_action_is_spam(&a) {
            ActionOutcome::Spam
        } else {
            ActionOutcome::NotSpam
        }
    }

    /// The header rules for [`crate::inbound::spamverdict::read`].
    pub fn verdict_rules(&self) -> VerdictRules {
        VerdictRules {
            trusted_received: self.trusted_received,
            scl_threshold: self.scl_threshold,
            custom: self.header.clone().zip(self.header_value.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_map_with_defaults() {
        let mut c = SpamConfig::default();
        assert_eq!(c.action("reject"), ActionOutcome::Spam);
        assert_eq!(c.action("add header"), ActionOutcome::Spam);
        assert_eq!(c.action("no action"), ActionOutcome::NotSpam);
        assert_eq!(c.action("greylist"), ActionOutcome::NotSpam);
        c.actions.insert("add header".into(), ActionOutcome::NoAck);
        assert_eq!(c.action("add header"), ActionOutcome::NoAck);
        assert_eq!(
            c.action(" Add Header "),
            ActionOutcome::NoAck,
            "as rspamd writes it"
        );
        c.validate().unwrap();
        c.actions.insert("rejekt".into(), ActionOutcome::Spam);
        assert!(c.validate().unwrap_err().contains("rejekt"));
    }

    #[test]
    fn settings_are_checked() {
        let c = SpamConfig {
            rspamd: Some("127.0.0.1:11333".into()),
            ..SpamConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("http://"));
        let c = SpamConfig {
            header: Some("X-Junk".into()),
            ..SpamConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("header-value"));
    }
}
