//! Text from mail, made safe to print on a terminal.
//!
//! Subjects, names, file names and bodies are whatever a sender wrote, and a
//! terminal obeys what it is sent: an escape sequence in a subject can
//! recolour or clear the screen, retitle the window, hide the lines above
//! (`ESC[2J`, `ESC[1A`), plant a hyperlink (OSC 8) or, on some terminals,
//! answer back as if typed. A carriage return or backspace overwrites what
//! was printed before it, and bidirectional overrides reorder it. Before the
//! command line prints such text, it goes through [`line`] (one line) or
//! [`text`] (line breaks kept): escape sequences are removed whole,
//! control characters and bidirectional controls dropped, tabs and stray
//! carriage returns made spaces. Everything else, Chinese included, stays.

/// `s` as one line: line breaks become spaces too.
pub fn line(s: &str) -> String {
    clean(s, true)
}

/// `s` with its line breaks kept (`\r\n` becomes `\n`).
pub fn text(s: &str) -> String {
    clean(s, false)
}

/// `s` without its escape sequences, removed whole (`ESC[31m`, OSC
/// strings, 8-bit CSI); every other character as it was. For
/// [`crate::header::one_line`], which makes the remaining controls spaces.
pub fn strip_escapes(s: &str) -> std::borrow::Cow<'_, str> {
    let starts = |c: char| {
        matches!(
            c,
            ESC | '\u{9b}' | '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}'
        )
    };
    if !s.chars().any(starts) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        let after = &rest[c.len_utf8()..];
        rest = match c {
            ESC => skip_escape(after),
            '\u{9b}' => skip_csi(after),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(after),
            c => {
                out.push(c);
                after
            }
        };
    }
    std::borrow::Cow::Owned(out)
}

const ESC: char = '\u{1b}';
const BEL: char = '\u{7}';
/// The 8-bit String Terminator.
const ST: char = '\u{9c}';

fn clean(s: &str, one_line: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        let after = &rest[c.len_utf8()..];
        rest = match c {
            ESC => skip_escape(after),
            // 8-bit CSI, and DCS, SOS, OSC, PM, APC.
            '\u{9b}' => skip_csi(after),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(after),
            '\n' if !one_line => {
                out.push('\n');
                after
            }
            '\r' if !one_line && after.starts_with('\n') => after,
            '\t' | '\n' | '\r' => {
                out.push(' ');
                after
            }
            c if c.is_control() || is_bidi_control(c) => after,
            c => {
                out.push(c);
                after
            }
        };
    }
    out
}

/// After an ESC: the rest of its sequence, skipped.
fn skip_escape(s: &str) -> &str {
    let Some(c) = s.chars().next() else {
        return s;
    };
    let after = &s[c.len_utf8()..];
    match c {
        '[' => skip_csi(after),
        ']' | 'P' | 'X' | '^' | '_' => skip_string(after),
        // nF: intermediates, then one final byte (`ESC ( B`, `ESC # 8`).
        '\u{20}'..='\u{2f}' => {
            let body = after.trim_start_matches(|c: char| ('\u{20}'..='\u{2f}').contains(&c));
            match body.chars().next() {
                Some(f) if ('\u{30}'..='\u{7e}').contains(&f) => &body[1..],
                _ => body,
            }
        }
        // Two-character sequences (`ESC c` resets the terminal, `ESC 7`).
        '\u{30}'..='\u{7e}' => after,
        _ => s,
    }
}

/// After a CSI: parameters and intermediates, then the final byte.
fn skip_csi(s: &str) -> &str {
    let body = s.trim_start_matches(|c: char| ('\u{20}'..='\u{3f}').contains(&c));
    match body.chars().next() {
        Some(f) if ('\u{40}'..='\u{7e}').contains(&f) => &body[1..],
        _ => body,
    }
}

/// After an OSC, DCS and the like: everything up to BEL or ST. Without a
/// terminator only the introducer goes, and the rest shows as text.
fn skip_string(s: &str) -> &str {
    for (i, c) in s.char_indices() {
        match c {
            BEL | ST => return &s[i + c.len_utf8()..],
            ESC if s[i + 1..].starts_with('\\') => return &s[i + 2..],
            _ => {}
        }
    }
    s
}

/// Unicode's bidirectional embeddings, overrides and isolates, and the
/// marks: they reorder what is printed around them.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_go_whole() {
        for (dirty, clean) in [
            ("\x1b[31mred\x1b[0m alert", "red alert"),
            ("\x1b[2J\x1b[1;1Hcleared", "cleared"),
            ("\x1b[?1049hscreen", "screen"),
            ("\x1b]0;owned\x07title", "title"),
            ("\x1b]8;;http://evil.test\x1b\\link\x1b]8;;\x1b\\", "link"),
            ("\x1bPq#0;2;0;0;0\x1b\\sixel", "sixel"),
            ("\x1b(Bcharset", "charset"),
            ("\x1bcreset", "reset"),
            ("\u{9b}2Jeight-bit", "eight-bit"),
            ("\u{9d}0;owned\u{9c}osc", "osc"),
            ("unterminated \x1b]0;title", "unterminated 0;title"),
            ("trailing\x1b", "trailing"),
        ] {
            assert_eq!(line(dirty), clean, "{dirty:?}");
        }
    }

    #[test]
    fn control_characters_go_and_breaks_become_spaces() {
        assert_eq!(line("pay\x08\x08\x08\x08free"), "payfree");
        assert_eq!(line("Printer\rHACKED"), "Printer HACKED");
        assert_eq!(line("a\tb\nc\r\nd\x00e\x7f"), "a b c  de");
        assert_eq!(line("x\u{85}y"), "xy");
        assert_eq!(line("invoice\u{202e}fdp.exe"), "invoicefdp.exe");
        assert_eq!(line("\u{2067}abc\u{2069}"), "abc");
    }

    #[test]
    fn text_keeps_lines_and_everything_printable() {
        assert_eq!(text("one\r\ntwo\nthree\rfour"), "one\ntwo\nthree four");
        let fine = "打印机坏了 — Ünïcödé “quotes” 😀 ‍ ok";
        assert_eq!(line(fine), fine);
        assert_eq!(text(fine), fine);
    }
}
