//! The `desk.serve`, `desk.outside` and `desk.refusal-window` settings,
//! compiled (see [`crate::desk::scope`] for what they do).

use std::time::Duration;

use serde::Deserialize;

/// What mail from outside the scope gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Outside {
    #[default]
    Ticket,
    Refuse,
    Record,
}

/// The desk's scope, compiled from `desk.serve` and `desk.outside`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scope {
    /// Lower case: `@domain` or a whole address.
    pub serve: Vec<String>,
    pub outside: Outside,
    pub refusal_window: Duration,
}

impl Scope {
    pub fn new(serve: &[String], outside: Outside, refusal_window: Duration) -> Scope {
        Scope {
            serve: serve.iter().map(|s| s.trim().to_lowercase()).collect(),
            outside,
            refusal_window,
        }
    }

    /// Checks `desk.serve`'s entries.
    pub fn validate(serve: &[String]) -> Result<(), String> {
        for s in serve {
            let s = s.trim();
            let ok = match s.strip_prefix('@') {
                Some(d) => d.contains('.') && !d.contains('@'),
                None => s
                    .split_once('@')
                    .is_some_and(|(l, d)| !l.is_empty() && d.contains('.')),
            };
            if !ok {
                return Err(format!(
                    "desk.serve: \"{s}\": expected \"@example.com\" (a whole domain) or \"name@example.com\""
                ));
            }
        }
        Ok(())
    }

    /// True when the desk serves `address` (normalised, lower case).
    pub fn serves(&self, address: &str) -> bool {
        if self.serve.is_empty() {
            return true;
        }
        let a = address.to_lowercase();
        let domain = a.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        self.serve.iter().any(|s| match s.strip_prefix('@') {
            Some(d) => domain == d,
            None => *s == a,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_matches_domains_and_addresses() {
        let s = Scope::new(
            &[
                "@corp.example.com".into(),
                "@Branch.Example.CN".into(),
                "contractor@partner.com".into(),
            ],
            Outside::Refuse,
            Duration::from_secs(86400),
        );
        assert!(s.serves("li@corp.example.com"));
        assert!(s.serves("wang@branch.example.cn"));
        assert!(s.serves("Contractor@Partner.com"));
        assert!(!s.serves("other@partner.com"));
        assert!(!s.serves("x@evil-corp.example.com"));
        assert!(
            !s.serves("x@sub.corp.example.com"),
            "a domain means that domain"
        );
        assert!(!s.serves("corp.example.com@evil.test"));
        assert!(
            Scope::default().serves("anyone@anywhere.test"),
            "empty serves everyone"
        );
    }

    #[test]
    fn serve_entries_are_checked() {
        assert!(Scope::validate(&["@corp.example.com".into(), "a@b.example".into()]).is_ok());
        for bad in ["corp.example.com", "@", "@localhost", "a@", "@a@b.c"] {
            assert!(Scope::validate(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
