//! Canned replies: `#reply NAME` (`#回复 NAME`) answers with the reply
//! template `NAME`, one file per language under `templates/replies/`
//! (`replies/en/restart.txt`, `replies/zh-CN/restart.txt`), rendered with
//! the ticket's variables; text the agent wrote above the command comes
//! first. This module is the catalogue decide checks against (which names
//! exist in which language); the files are read and rendered by
//! [`crate::outbound`] when the mail is composed.

use std::collections::BTreeMap;

use crate::lang::Lang;

/// A reply name: lowercase ASCII letters, digits and `-`, at most 64, so it
/// is a file name on every system and cannot climb out of the folder.
pub fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The canned replies there are, by name, with the languages each is written in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    names: BTreeMap<String, Vec<Lang>>,
}

impl Catalog {
    pub fn add(&mut self, name: &str, lang: Lang) {
        let langs = self.names.entry(name.to_string()).or_default();
        if !langs.contains(&lang) {
            langs.push(lang);
            // Templates load in no set order; the listing must not change.
            langs.sort_by_key(|l| l.code());
        }
    }

    /// Names and languages, sorted by name.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &[Lang])> {
        self.names.iter().map(|(n, l)| (n.as_str(), l.as_slice()))
    }

    /// Whether `name` can answer a ticket written in `lang`, or why not (a
    /// sentence for the agent: the reply is unknown, or not in that language).
    pub fn check(&self, name: &str, lang: Lang) -> Result<(), String> {
        match self.names.get(name) {
            Some(langs) if langs.contains(&lang) => Ok(()),
            Some(langs) => Err(format!(
                "the reply `{name}` is not written in {} (the ticket's language), only in {}; add templates/replies/{}/{name}.txt",
                lang.code(),
                langs
                    .iter()
                    .map(|l| l.code())
                    .collect::<Vec<_>>()
                    .join(", "),
                lang.code()
            )),
            None if self.names.is_empty() => Err(format!(
                "no reply `{name}`: there are no canned replies (templates/replies/)"
            )),
            None => Err(format!(
                "no reply `{name}`; there are: {}",
                self.names.keys().cloned().collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_file_names_that_stay_in_their_folder() {
        for ok in ["restart", "vpn-reset", "p2-ack"] {
            assert!(is_name(ok), "{ok}");
        }
        for bad in ["", "../secret", "a/b", "Restart", "-x", "a b", "重启"] {
            assert!(!is_name(bad), "{bad}");
        }
    }

    #[test]
    fn unknown_names_and_missing_languages_are_refused_with_what_there_is() {
        let mut c = Catalog::default();
        assert!(
            c.check("x", Lang::En)
                .unwrap_err()
                .contains("no canned replies")
        );
        c.add("restart", Lang::En);
        c.add("restart", Lang::ZhCn);
        c.add("vpn", Lang::En);
        assert_eq!(c.check("restart", Lang::ZhCn), Ok(()));
        let e = c.check("vpn", Lang::ZhCn).unwrap_err();
        assert!(e.contains("zh-CN") && e.contains("only in en"), "{e}");
        let e = c.check("nope", Lang::En).unwrap_err();
        assert!(e.contains("restart, vpn"), "{e}");
    }
}
