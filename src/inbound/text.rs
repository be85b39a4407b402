//! Plain-text bodies made tidy: LF line endings, format=flowed joined, no
//! trailing whitespace, no runs of blank lines, no control characters.

/// A text/plain body as the desk shows and stores it.
pub(super) fn plain_to_text(body: &str, flowed: bool, delsp: bool) -> String {
    let body = normalise_newlines(body);
    if flowed {
        tidy(&unflow(&body, delsp))
    } else {
        tidy(&body)
    }
}

/// CRLF and lone CR become LF.
fn normalise_newlines(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n")
}

/// Joins RFC 3676 format=flowed lines: a line ending in a space continues on
/// the next line of the same quote depth. Quoted lines come out as `> text`.
fn unflow(body: &str, delsp: bool) -> String {
    let mut out = String::with_capacity(body.len());
    // The paragraph being joined: quote depth and text so far.
    let mut open: Option<(usize, String)> = None;
    for line in body.split('\n') {
        let depth = line.chars().take_while(|&c| c == '>').count();
        let mut content = &line[depth..];
        // Space-stuffing: one leading space was added by the sender.
        if let Some(unstuffed) = content.strip_prefix(' ') {
            content = unstuffed;
        }
        let is_sig = content == "-- ";
        let soft = content.ends_with(' ') && !is_sig;
        let piece = if soft && delsp {
            &content[..content.len() - 1]
        } else {
            content
        };
        match &mut open {
            Some((d, text)) if *d == depth => text.push_str(piece),
            Some(_) => {
                if let Some((d, text)) = open.take() {
                    push_line(&mut out, d, &text);
                }
                open = Some((depth, piece.to_string()));
            }
            None => open = Some((depth, piece.to_string())),
        }
        if !soft && let Some((d, text)) = open.take() {
            push_line(&mut out, d, &text);
        }
    }
    if let Some((d, text)) = open.take() {
        push_line(&mut out, d, &text);
    }
    // `split` yields one empty piece after a final newline.
    if out.ends_with('\n') {
        out.pop();
    }
    out
}

fn push_line(out: &mut String, depth: usize, text: &str) {
    if depth > 0 {
        out.extend(std::iter::repeat_n('>', depth));
        if !text.is_empty() {
            out.push(' ');
        }
    }
    out.push_str(text);
    out.push('\n');
}

/// The last step for every body: LF only; control characters (other than
/// tab) and zero-width/BOM characters removed; trailing whitespace trimmed
/// on each line except the `-- ` signature separator, which mail tools
/// recognise only with its space; at most one blank line in a row; no blank
/// lines at either end.
pub(super) fn tidy(s: &str) -> String {
    let s = normalise_newlines(s);
    let mut out = String::with_capacity(s.len());
    let mut blank_run = 0usize;
    for line in s.split('\n') {
        let cleaned: String = line
            .chars()
            .filter(|&c| c == '\t' || !(c.is_control() || is_invisible(c)))
            .collect();
        let trimmed = if cleaned == "-- " {
            cleaned.as_str()
        } else {
            cleaned.trim_end()
        };
        if trimmed.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank_run > 0 {
                out.push('\n');
            }
        }
        blank_run = 0;
        out.push_str(trimmed);
    }
    out
}

/// Zero-width characters and the byte-order mark: invisible, and they break
/// searching and trimming.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{FEFF}' | '\u{2060}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_trailing_space_and_blank_runs() {
        assert_eq!(
            plain_to_text(
                "\r\n\r\nHello  \r\n\r\n\r\n\r\nWorld\t\r\nend\r\n\r\n",
                false,
                false
            ),
            "Hello\n\nWorld\nend"
        );
        assert_eq!(plain_to_text("a\rb", false, false), "a\nb");
    }

    #[test]
    fn signature_separator_keeps_its_space() {
        assert_eq!(
            plain_to_text("Hi\r\n-- \r\nBob\r\n", false, false),
            "Hi\n-- \nBob"
        );
    }

    #[test]
    fn control_and_invisible_characters_removed() {
        assert_eq!(
            plain_to_text("\u{FEFF}a\u{0}b\u{7}\tc\u{200B}d", false, false),
            "ab\tcd"
        );
    }

    #[test]
    fn flowed_lines_are_joined() {
        let body = "This is a long \r\nparagraph that \r\nflows.\r\n\r\n> quoted \r\n> text\r\n>> deeper\r\n -- \r\nsig\r\n";
        assert_eq!(
            plain_to_text(body, true, false),
            "This is a long paragraph that flows.\n\n> quoted text\n>> deeper\n-- \nsig"
        );
    }

    #[test]
    fn flowed_delsp_removes_the_soft_space() {
        assert_eq!(
            plain_to_text("打印机 \r\n坏了\r\n", true, true),
            "打印机坏了"
        );
        assert_eq!(
            plain_to_text("打印机 \r\n坏了\r\n", true, false),
            "打印机 坏了"
        );
    }

    #[test]
    fn flowed_space_stuffing_removed() {
        assert_eq!(
            plain_to_text(" From here\r\n >x\r\n", true, false),
            "From here\n>x"
        );
    }
}
