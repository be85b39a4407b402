//! `[lmtp]`: the settings of the LMTP source (see `crate::source::lmtp`),
//! apart from it so that the config imports nothing of the pipeline.

use std::path::PathBuf;

use serde::Deserialize;

/// `[lmtp]`: where the daemon takes mail over LMTP.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LmtpConfig {
    /// The Unix socket to listen on (relative to the config file's folder);
    /// none: no LMTP.
    pub socket: Option<PathBuf>,
    /// The socket file's permissions, in octal: who may deliver. The MTA's
    /// user must be able to write to it.
    #[serde(default, deserialize_with = "de_mode")]
    pub mode: Option<u32>,
    /// The `[[mailbox]]` the mail counts as received by (default: the
    /// first configured, as for `ingest`).
    pub mailbox: Option<String>,
}

/// Owner and group may deliver: run the MTA's delivery user in the
/// daemon's group (Postfix: `postfix` in group `postdesk`).
const DEFAULT_MODE: u32 = 0o660;

impl LmtpConfig {
    pub fn mode(&self) -> u32 {
        self.mode.unwrap_or(DEFAULT_MODE)
    }

    /// The mailbox name mail over LMTP is recorded under, given the name
    /// of the first configured `[[mailbox]]`.
    pub fn mailbox_name(&self, first: Option<&str>) -> String {
        self.mailbox
            .as_deref()
            .or(first)
            .unwrap_or("ingest")
            .to_string()
    }
}

fn de_mode<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let text = String::deserialize(d)?;
    match u32::from_str_radix(text.trim_start_matches("0o"), 8) {
        Ok(m) if m <= 0o777 => Ok(Some(m)),
        _ => Err(serde::de::Error::custom(format!(
            "mode = \"{text}\": expected octal permissions like \"0660\""
        ))),
    }
}
