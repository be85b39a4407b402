//! E-mail addresses as postdesk compares them: one normalised form for storage and lookups.

use std::fmt;

/// A mailbox: an address with an optional display name.
///
/// The address is stored trimmed and lowercased, because mail servers treat the
/// local part case-insensitively in practice and a requester who writes once as
/// `Li.Wei@` and once as `li.wei@` is one person to the desk.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: String,
}

impl Mailbox {
    pub fn new(name: Option<&str>, address: &str) -> Mailbox {
        let name = name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        Mailbox {
            name,
            address: normalise(address),
        }
    }

    /// The domain part, empty when the address has none.
    pub fn domain(&self) -> &str {
        self.address.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }

    /// The local part (before `@`).
    pub fn local_part(&self) -> &str {
        self.address
            .rsplit_once('@')
            .map(|(l, _)| l)
            .unwrap_or(&self.address)
    }

    /// A name to greet the person with: the display name, else the local part.
    pub fn greeting_name(&self) -> &str {
        self.name.as_deref().unwrap_or_else(|| self.local_part())
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{n} <{}>", self.address),
            None => f.write_str(&self.address),
        }
    }
}

/// Normalises an address: trims spaces and angle brackets, lowercases.
pub fn normalise(address: &str) -> String {
    address
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_lowercase()
}

/// The mailbox an address reaches, for counting mail per mailbox (the
/// desk's limits and flood breaker): lowercase and without a `+tag` after
/// the local part. Nearly every provider delivers `ann+x@corp.test` to `ann@corp.test` (the lab Dovecot
/// does), so without this one mailbox gets a fresh budget of
/// acknowledgements for every tag a sender makes up. Only `+` is taken as
/// the separator: `-` (qmail) is too common inside real names. A quoted
/// local part is left as it is.
pub fn mailbox_key(address: &str) -> String {
    let address = address.trim().to_lowercase();
    let Some((local, domain)) = address.rsplit_once('@') else {
        return address;
    };
    if local.starts_with('"') {
        return address;
    }
    match local.split_once('+') {
        Some((base, _)) if !base.is_empty() => format!("{base}@{domain}"),
        _ => address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_key_is_the_mailbox() {
        assert_eq!(mailbox_key("Ann+Shop@Corp.Test"), "ann@corp.test");
        assert_eq!(mailbox_key("ann+a+b@corp.test"), "ann@corp.test");
        assert_eq!(mailbox_key(" ann@corp.test "), "ann@corp.test");
        // Nothing to strip, or nothing left if stripped.
        assert_eq!(mailbox_key("+ann@corp.test"), "+ann@corp.test");
        assert_eq!(mailbox_key("ann-x@corp.test"), "ann-x@corp.test");
        assert_eq!(mailbox_key("\"a+b\"@corp.test"), "\"a+b\"@corp.test");
        assert_eq!(mailbox_key("no-at-sign"), "no-at-sign");
    }

    #[test]
    fn normalises_case_and_brackets() {
        let m = Mailbox::new(Some("  Li Wei "), " <Li.Wei@Example.CN> ");
        assert_eq!(m.address, "li.wei@example.cn");
        assert_eq!(m.name.as_deref(), Some("Li Wei"));
        assert_eq!(m.domain(), "example.cn");
        assert_eq!(m.local_part(), "li.wei");
        assert_eq!(m.to_string(), "Li Wei <li.wei@example.cn>");
    }

    #[test]
    fn greeting_falls_back_to_local_part() {
        assert_eq!(Mailbox::new(None, "bob@x.test").greeting_name(), "bob");
        assert_eq!(Mailbox::new(Some(""), "bob@x.test").greeting_name(), "bob");
    }
}
