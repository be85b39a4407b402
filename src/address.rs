//! E-mail addresses as postdesk compares them: one normalised form for storage and lookups.

use std::fmt;

/// The most characters of a display name we keep. Names are the sender's
/// to choose and we repeat them (greetings, the To of every mail to them,
/// the timeline); real ones, "Li Wei (IT, Shanghai office)" included, stay
/// far below this.
pub const MAX_NAME_CHARS: usize = 128;

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
    /// A mailbox with its address normalised and its display name made one
    /// clean line (control characters and line breaks gone, at most
    /// [`MAX_NAME_CHARS`]; see [`crate::header`]); an empty name is none.
    pub fn new(name: Option<&str>, address: &str) -> Mailbox {
        let name = name
            .map(|n| crate::header::one_line(n, MAX_NAME_CHARS))
            .filter(|n| !n.is_empty())
            .map(|n| n.into_owned());
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

    #[test]
    fn display_names_lose_control_characters() {
        let cases = [
            (
                "Evil\r\nBcc: victim@corp.test",
                "Evil Bcc: victim@corp.test",
            ),
            ("Evil\nX", "Evil X"),
            ("A\rB", "A B"),
            ("Nul\0Tab\tEsc\u{1b}[31mRed", "Nul Tab Esc [31mRed"),
            (
                "Del\u{7f}Nel\u{85}Ls\u{2028}Ps\u{2029}End",
                "Del Nel Ls Ps End",
            ),
            ("  spaced \t\t out  ", "spaced out"),
            ("李伟", "李伟"),
        ];
        for (raw, want) in cases {
            let m = Mailbox::new(Some(raw), "ann@corp.test");
            assert_eq!(m.name.as_deref(), Some(want), "{raw:?}");
        }
        assert_eq!(Mailbox::new(Some("\r\n\0"), "ann@corp.test").name, None);
    }

    #[test]
    fn display_names_are_capped() {
        let m = Mailbox::new(Some(&"n".repeat(100_000)), "ann@corp.test");
        let name = m.name.unwrap();
        assert!(name.chars().count() <= MAX_NAME_CHARS, "{}", name.len());
        let m = Mailbox::new(Some(&"李".repeat(100_000)), "ann@corp.test");
        assert!(m.name.unwrap().chars().count() <= MAX_NAME_CHARS);
    }
}
