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

#[cfg(test)]
mod tests {
    use super::*;

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
