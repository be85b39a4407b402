//! Text we put into a header of a mail we write: one line of printable
//! characters, of bounded length.
//!
//! Display names and subjects are the sender's to choose, and arrive with
//! whatever they like in them: CR and LF (raw, or inside an RFC 2047 encoded
//! word, which decodes to the raw bytes), NUL, terminal escapes, Unicode line
//! separators, megabytes of one word. A line break in a header value is a
//! header injection, and lettre's builder panics on one in a display name;
//! other control characters are not RFC 5322 text; a word longer than a line
//! cannot be folded to RFC 5322's 998 characters. So every such value is
//! cleaned with [`one_line`] where it enters (names in [`crate::address`],
//! at parse time) and again where it leaves (the builder in
//! `crate::outbound`, the last wall).

use std::borrow::Cow;

/// `text` as one header-safe line of at most `max_chars` characters: every
/// control character (C0, DEL, C1) and Unicode line or paragraph separator
/// becomes a space, runs of white space become one space, the ends are
/// trimmed, and a longer text is cut at a character boundary with `…` as
/// its last character. Borrowed when nothing needed changing.
pub fn one_line(text: &str, max_chars: usize) -> Cow<'_, str> {
    let clean = text
        .chars()
        .all(|c| !breaks_a_line(c) && (c == ' ' || !c.is_whitespace()))
        && !text.contains("  ")
        && text.trim() == text;
    let text: Cow<'_, str> = if clean {
        Cow::Borrowed(text)
    } else {
        // Terminal escapes go whole (`ESC[31m` leaves no `[31m` behind),
        // then what is left of controls and breaks becomes spaces.
        let bounded: String = text
            .chars()
            .take(max_chars.saturating_mul(4) + 64)
            .collect();
        let unescaped = crate::terminal::strip_escapes(&bounded);
        let mut out = String::with_capacity(unescaped.len().min(max_chars.saturating_mul(4)));
        let mut space = false;
        for c in unescaped.chars() {
            if breaks_a_line(c) || c.is_whitespace() {
                space = !out.is_empty();
            } else {
                if space {
                    out.push(' ');
                    space = false;
                }
                out.push(c);
            }
            // Enough to cut from: a megabyte of name costs no more than this.
            if out.len() > max_chars.saturating_mul(4) + 4 {
                break;
            }
        }
        Cow::Owned(out)
    };
    cap(text, max_chars)
}

/// Cuts `text` to `max_chars` characters, the last one `…`, when longer.
fn cap(text: Cow<'_, str>, max_chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        None => text,
        Some(_) if max_chars == 0 => Cow::Borrowed(""),
        Some(_) => {
            let keep = text
                .char_indices()
                .nth(max_chars - 1)
                .map_or(text.len(), |(i, _)| i);
            let mut out = text[..keep].trim_end().to_string();
            out.push('…');
            Cow::Owned(out)
        }
    }
}

/// Characters that must never reach a header: controls (which include CR,
/// LF, NUL, ESC, DEL and NEL) and the Unicode line and paragraph separators.
fn breaks_a_line(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_single_spaces() {
        let cases = [
            (
                "Evil\r\nBcc: victim@corp.test",
                "Evil Bcc: victim@corp.test",
            ),
            ("A\rB\nC", "A B C"),
            // An escape sequence goes whole, not leaving `[31m` behind.
            ("Nul\0Esc\u{1b}[31mRed\u{7}", "Nul EscRed"),
            ("Del\u{7f}Nel\u{85}Ls\u{2028}Ps\u{2029}", "Del Nel Ls Ps"),
            ("  \t spaced \r\n\t out \u{0} ", "spaced out"),
            ("\r\n\0", ""),
            ("李伟 (IT)", "李伟 (IT)"),
        ];
        for (raw, want) in cases {
            assert_eq!(one_line(raw, 100), want, "{raw:?}");
        }
    }

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(one_line("Printer broken", 100), Cow::Borrowed(_)));
        assert!(matches!(one_line("a  b", 100), Cow::Owned(_)));
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        assert_eq!(one_line("abcdef", 6), "abcdef");
        assert_eq!(one_line("abcdefg", 6), "abcde…");
        assert_eq!(one_line("打印机坏了啊", 4), "打印机…");
        assert_eq!(one_line("ab cd", 4), "ab…");
        assert_eq!(one_line("abc", 0), "");
        let huge = "x".repeat(5 << 20);
        assert_eq!(one_line(&huge, 250).chars().count(), 250);
        let huge = "\u{0}x".repeat(1 << 20);
        assert_eq!(one_line(&huge, 250).chars().count(), 250);
    }
}
