//! The ticket tag in subjects (`[#1042]`) and the reply/forward prefixes around it.
//!
//! Mail clients add prefixes in many languages and some mangle brackets or
//! insert spaces; the tag must survive all of that, because it is the
//! strongest threading signal we have.

/// The most characters of a requester's subject we repeat in a mail we
/// send (its Subject header and its text). Subjects are the sender's to
/// choose: a 5 MB one used to come back as 32 MB of outgoing mail, and one
/// long word made a header line far past RFC 5322's 998 characters. Real
/// subjects stay well under this; the ticket keeps the whole one.
pub const MAX_REPEATED_CHARS: usize = 250;

/// A subject as we repeat it (a ticket's subject, the Subject of our mail,
/// the templates' `subject`): one clean line of at most
/// [`MAX_REPEATED_CHARS`] (see [`crate::header::one_line`]).
pub fn repeated(subject: &str) -> std::borrow::Cow<'_, str> {
    crate::header::one_line(subject, MAX_REPEATED_CHARS)
}

/// How ticket tags look in subjects: `[` + prefix + number + `]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFormat {
    /// The text between `[` and the number, e.g. `#` or `HELP #`.
    prefix: String,
}

impl Default for TagFormat {
    fn default() -> TagFormat {
        TagFormat::new("#")
    }
}

impl TagFormat {
    pub fn new(prefix: &str) -> TagFormat {
        TagFormat {
            prefix: prefix.to_string(),
        }
    }

    /// The tag for a ticket number: `[#1042]`.
    pub fn tag(&self, number: i64) -> String {
        format!("[{}{}]", self.prefix, number)
    }

    /// The subject for mail about a ticket: the tag, then the subject with
    /// reply prefixes and any old tag of ours removed, [`repeated`].
    pub fn tagged_subject(&self, number: i64, subject: &str) -> String {
        let base = self.strip_tags(strip_reply_prefixes(subject));
        let base = repeated(&base);
        if base.is_empty() {
            self.tag(number)
        } else {
            format!("{} {}", self.tag(number), base)
        }
    }

    /// The first ticket number tagged in `subject`, if any.
    ///
    /// Tolerates case (`[help #12]`), spaces (`[# 12]`, `[ #12 ]`), full-width
    /// characters (`［＃12］`, `【#12】`) and any prefixes before the tag.
    pub fn find(&self, subject: &str) -> Option<i64> {
        self.tags(subject).next().map(|(n, _)| n)
    }

    /// All tags in `subject` with their byte ranges, in order. Linear in the
    /// subject's length, so a subject of thousands of tags costs nothing.
    fn tags<'a>(
        &'a self,
        subject: &'a str,
    ) -> impl Iterator<Item = (i64, std::ops::Range<usize>)> + 'a {
        let mut pos = 0;
        std::iter::from_fn(move || {
            while pos < subject.len() {
                let rest = &subject[pos..];
                let (open_at, open_len) = find_open_bracket(rest)?;
                let start = pos + open_at;
                let after_open = start + open_len;
                pos = after_open;
                if let Some((number, end)) = self.match_tag_body(subject, after_open) {
                    pos = end;
                    return Some((number, start..end));
                }
            }
            None
        })
    }

    /// Matches `prefix number ]` at `at`; returns the number and the end of the tag.
    fn match_tag_body(&self, s: &str, at: usize) -> Option<(i64, usize)> {
        let mut i = skip_spaces(s, at);
        // The prefix, compared without spaces and case, full-width folded.
        for want in self.prefix.chars().filter(|c| !c.is_whitespace()) {
            i = skip_spaces(s, i);
            let c = s[i..].chars().next()?;
            if fold(c).to_lowercase().ne(want.to_lowercase()) {
                return None;
            }
            i += c.len_utf8();
        }
        i = skip_spaces(s, i);
        let digits_start = i;
        while let Some(c) = s[i..].chars().next() {
            if fold(c).is_ascii_digit() {
                i += c.len_utf8();
            } else {
                break;
            }
        }
        if i == digits_start || i - digits_start > 36 {
            return None;
        }
        let digits: String = s[digits_start..i].chars().map(fold).collect();
        i = skip_spaces(s, i);
        let close = s[i..].chars().next()?;
        if !matches!(close, ']' | '］' | '】') {
            return None;
        }
        let number = digits.parse::<i64>().ok()?;
        Some((number, i + close.len_utf8()))
    }

    /// `subject` with every tag of ours removed and spaces tidied.
    pub fn strip_tags(&self, subject: &str) -> String {
        let mut out = String::with_capacity(subject.len());
        let mut last = 0;
        for (_, range) in self.tags(subject) {
            out.push_str(&subject[last..range.start]);
            last = range.end;
        }
        out.push_str(&subject[last..]);
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

fn find_open_bracket(s: &str) -> Option<(usize, usize)> {
    s.char_indices()
        .find(|(_, c)| matches!(c, '[' | '［' | '【'))
        .map(|(i, c)| (i, c.len_utf8()))
}

fn skip_spaces(s: &str, mut i: usize) -> usize {
    while let Some(c) = s[i..].chars().next() {
        if c.is_whitespace() {
            i += c.len_utf8();
        } else {
            break;
        }
    }
    i
}

/// Folds full-width ASCII (as Chinese input methods type it) to ASCII.
fn fold(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// Reply and forward prefixes mail clients put before a subject, lowercase,
/// without the colon: English, German, Nordic, Dutch, French, Spanish,
/// Italian, Portuguese, Chinese.
const PREFIXES: &[&str] = &[
    "re", "fwd", "fw", "aw", "wg", "sv", "vs", "tr", "rv", "antw", "doorst", "res", "enc", "ref",
    "r", "i", "回复", "答复", "转发", "回覆", "轉寄", "转", "回",
];

/// Removes any number of leading reply/forward prefixes: `Re:`, `RE:`,
/// `Fwd:`, `AW:`, `回复:`, `答复：`, counters like `Re[2]:` or `Re(3):`.
pub fn strip_reply_prefixes(subject: &str) -> &str {
    let mut s = subject.trim_start();
    while let Some(rest) = strip_one_prefix(s) {
        s = rest.trim_start();
    }
    s
}

fn strip_one_prefix(s: &str) -> Option<&str> {
    // The word before the colon: letters only (Han characters included).
    let word_end = s
        .char_indices()
        .find(|(_, c)| !c.is_alphabetic())
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    let word = s[..word_end].to_lowercase();
    if !PREFIXES.contains(&word.as_str()) {
        return None;
    }
    let mut rest = &s[word_end..];
    // An optional counter: [2] or (2).
    if let Some(open) = rest.chars().next().filter(|c| matches!(c, '[' | '(')) {
        let close = if open == '[' { ']' } else { ')' };
        let inner_end = rest.find(close)?;
        if !rest[1..inner_end].chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        rest = &rest[inner_end + 1..];
    }
    let rest = rest.trim_start();
    rest.strip_prefix(':').or_else(|| rest.strip_prefix('：'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tag_behind_any_prefix() {
        let t = TagFormat::default();
        for s in [
            "[#1042] Printer broken",
            "Re: [#1042] Printer broken",
            "RE: RE: [#1042] Printer broken",
            "Fwd: [#1042] x",
            "FW: [#1042] x",
            "AW: WG: [#1042] x",
            "SV: VS: TR: RV: Antw: [#1042] x",
            "回复: [#1042] 打印机坏了",
            "答复：[#1042] 打印机坏了",
            "转发: 回复：[#1042] x",
            "Re[2]: [#1042] x",
            "Printer broken [#1042]",
            "Re: [ # 1042 ] x",
            "Re: ［＃１０４２］ x",
            "回复: 【#1042】 x",
        ] {
            assert_eq!(t.find(s), Some(1042), "{s}");
        }
    }

    #[test]
    fn ignores_other_brackets() {
        let t = TagFormat::default();
        assert_eq!(t.find("[External] Printer"), None);
        assert_eq!(t.find("[#] Printer"), None);
        assert_eq!(t.find("[#12a] Printer"), None);
        assert_eq!(t.find("[ext] [#7] x"), Some(7));
        assert_eq!(t.find("No tag here"), None);
        assert_eq!(t.find("["), None);
    }

    #[test]
    fn custom_prefix() {
        let t = TagFormat::new("HELP #");
        assert_eq!(t.tag(1042), "[HELP #1042]");
        assert_eq!(t.find("Re: [HELP #1042] x"), Some(1042));
        assert_eq!(t.find("Re: [help#1042] x"), Some(1042));
        assert_eq!(t.find("Re: [#1042] x"), None);
    }

    #[test]
    fn tagged_subject_does_not_stack_tags_or_prefixes() {
        let t = TagFormat::default();
        assert_eq!(t.tagged_subject(7, "Printer"), "[#7] Printer");
        assert_eq!(t.tagged_subject(7, "Re: [#7] Printer"), "[#7] Printer");
        assert_eq!(t.tagged_subject(7, "回复: 打印机坏了"), "[#7] 打印机坏了");
        assert_eq!(t.tagged_subject(7, ""), "[#7]");
    }

    #[test]
    fn strips_prefixes() {
        assert_eq!(strip_reply_prefixes("Re: Fwd: RE:  hello"), "hello");
        assert_eq!(strip_reply_prefixes("Re(3): hello"), "hello");
        assert_eq!(strip_reply_prefixes("回复：答复: 你好"), "你好");
        // A word that merely starts like a prefix stays.
        assert_eq!(
            strip_reply_prefixes("Report: disk full"),
            "Report: disk full"
        );
        assert_eq!(strip_reply_prefixes("Rewrite: x"), "Rewrite: x");
    }

    #[test]
    fn thousands_of_tags_are_fine() {
        let t = TagFormat::default();
        let s = "[#1] ".repeat(5000);
        assert_eq!(t.find(&s), Some(1));
        assert_eq!(t.strip_tags(&s), "");
    }
}
