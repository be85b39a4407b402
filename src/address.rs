//! E-mail addresses as postdesk compares them: one normalised form for
//! storage and lookups, and the one check of whether we can send to one
//! ([`usable`]).

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

    /// Whether mail can be sent to this address; see [`usable`].
    pub fn usable(&self) -> Result<(), String> {
        usable(&self.address)
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

/// Whether we can send mail to `address` (normalised), and if not, why,
/// in words for an agent.
///
/// Checked where an address comes in (watchers from a request's Cc, `#cc
/// add`) and again before a mail is composed, so that one address nobody
/// can send to never stops the mail to everybody else. The rule is RFC
/// 5321's mailbox, a little stricter than our message builder (a test in
/// `outbound` holds them together): a dot-atom before the `@` (UTF-8 letters
/// allowed, no quoted local parts, no control or space characters), and a
/// host name after it (letters, digits and inner hyphens per label, no
/// empty label, so no trailing dot; no address literals).
pub fn usable(address: &str) -> Result<(), String> {
    check(address).map_err(|why| format!("`{}`: {why}", printable(address)))
}

fn check(address: &str) -> Result<(), String> {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err("there is no @".into());
    };
    let fail = |why: &str| Err(why.to_string());
    if local.is_empty() {
        return fail("nothing before the @");
    }
    if domain.is_empty() {
        return fail("nothing after the @");
    }
    // Lengths in octets, as servers count them (RFC 5321 4.5.3.1).
    if local.len() > 64 {
        return fail("the part before the @ is longer than 64 characters");
    }
    if domain.len() > 254 {
        return fail("the domain is longer than 254 characters");
    }
    if local.starts_with('"') {
        return fail("quoted names before the @ are not supported");
    }
    if let Some(c) = local.chars().find(|&c| c != '.' && !is_atext(c)) {
        return Err(format!("{} is not allowed before the @", shown(c)));
    }
    if local.split('.').any(str::is_empty) {
        return fail("a dot at the start or end of the part before the @, or two in a row");
    }
    if domain.starts_with('[') {
        return fail("an address literal is not supported; use a host name");
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return fail(
                "the domain has an empty part (a dot at its start or end, or two in a row)",
            );
        }
        if label.len() > 63 {
            return fail("a part of the domain is longer than 63 characters");
        }
        if let Some(c) = label.chars().find(|&c| c != '-' && !is_letter_or_digit(c)) {
            return Err(format!("{} is not allowed in a domain", shown(c)));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return fail("a part of the domain starts or ends with a hyphen");
        }
    }
    Ok(())
}

/// RFC 5322 `atext`, with UTF-8 letters and digits (RFC 6532) but no other
/// non-ASCII character: no spaces, controls or format characters.
fn is_atext(c: char) -> bool {
    is_letter_or_digit(c) || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

fn is_letter_or_digit(c: char) -> bool {
    c.is_ascii_alphanumeric() || (!c.is_ascii() && c.is_alphanumeric())
}

/// A character as an agent can read it in a sentence, even an invisible one.
fn shown(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        c if invisible(c) => format!("the character U+{:04X}", c as u32),
        c => format!("`{c}`"),
    }
}

/// Characters that are not what they look like on a screen: controls,
/// spaces other than the plain one, format characters (zero-width, bidi).
fn invisible(c: char) -> bool {
    c.is_control() || (c != ' ' && c.is_whitespace()) || (!c.is_ascii() && !c.is_alphanumeric())
}

/// `address` with its invisible characters written as `\u{…}`, to quote in
/// a sentence.
fn printable(address: &str) -> String {
    let mut out = String::with_capacity(address.len());
    for c in address.chars() {
        if invisible(c) {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
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
    fn usable_addresses() {
        for a in [
            "ann@example.com",
            "li.wei+tag@example.cn",
            "o'brien@corp.test",
            "a!#$%&'*+-/=?^_`{|}~z@x.test",
            "bob@localhost",
            "李伟@例子.中国",
            "x@xn--fiqs8s.test",
            "a-b@mail-1.corp.test",
        ] {
            assert_eq!(usable(a), Ok(()), "{a}");
        }
    }

    #[test]
    fn unusable_addresses_say_why() {
        for (a, why) in [
            ("x y@corp.test", "a space is not allowed before the @"),
            ("\"x y\"@corp.test", "quoted names"),
            ("@corp.test", "nothing before the @"),
            ("john@corp.test.", "empty part"),
            ("john@.corp.test", "empty part"),
            ("john@corp..test", "empty part"),
            ("john@", "nothing after the @"),
            ("john", "there is no @"),
            (".john@corp.test", "a dot at the start"),
            ("jo..hn@corp.test", "two in a row"),
            ("john.@corp.test", "a dot at the start or end"),
            ("jo\u{85}hn@corp.test", "U+0085"),
            ("jo\u{a0}hn@corp.test", "U+00A0"),
            ("jo\u{200b}hn@corp.test", "U+200B"),
            ("jo\rhn@corp.test", "U+000D"),
            ("jo(hn)@corp.test", "`(` is not allowed before the @"),
            ("john@my_host.test", "`_` is not allowed in a domain"),
            ("john@-corp.test", "hyphen"),
            ("john@corp-.test", "hyphen"),
            ("john@[10.0.0.1]", "address literal"),
            ("a@b@corp.test", "`@` is not allowed"),
        ] {
            let err = usable(a).expect_err(a);
            assert!(err.contains(why), "{a}: {err}");
        }
        // The address is quoted with its invisible characters spelt out.
        assert_eq!(
            usable("jo\u{202e}hn@corp.test").unwrap_err(),
            "`jo\\u{202e}hn@corp.test`: the character U+202E is not allowed before the @"
        );
        let long = format!("{}@x.test", "a".repeat(65));
        assert!(usable(&long).unwrap_err().contains("64"));
        let label = format!("a@{}.test", "b".repeat(64));
        assert!(usable(&label).unwrap_err().contains("63"));
    }

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

    #[test]
    fn display_names_lose_control_characters() {
        let cases = [
            (
                "Evil\r\nBcc: victim@corp.test",
                "Evil Bcc: victim@corp.test",
            ),
            ("Evil\nX", "Evil X"),
            ("A\rB", "A B"),
            ("Nul\0Tab\tEsc\u{1b}[31mRed", "Nul Tab EscRed"),
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
