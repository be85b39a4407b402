//! Message-ID lists as real mail writes them: `<id>` tokens, but also bare
//! ids, comments (`<id> (added by relay)`), and old In-Reply-To phrases
//! (`Your message of "Mon, 2 Jan" <id>`).

/// The ids in one Message-ID, In-Reply-To or References value, in order,
/// without angle brackets.
///
/// Bracketed ids and bare tokens that contain `@` are ids; other words are
/// phrase and ignored. With `bare_fallback` (Message-ID), a value with
/// neither still yields its first word, because some generators write ids
/// without `@`.
pub(super) fn parse_ids(value: &str, bare_fallback: bool) -> Vec<String> {
    let value = strip_comments(value);
    let mut ids = Vec::new();
    let mut first_word: Option<String> = None;
    let mut rest = value.as_str();
    while !rest.is_empty() {
        let c = rest.chars().next().unwrap_or(' ');
        if c == '<' {
            let (inner, after) = match rest[1..].find('>') {
                Some(end) => (&rest[1..1 + end], &rest[2 + end..]),
                None => (&rest[1..], ""),
            };
            let id: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
            if !id.is_empty() {
                ids.push(id);
            }
            rest = after;
        } else if c == '"' {
            // A quoted phrase: skip it whole, it may contain '@'.
            rest = match rest[1..].find('"') {
                Some(end) => &rest[2 + end..],
                None => "",
            };
        } else if c.is_whitespace() || c == ',' {
            rest = &rest[c.len_utf8()..];
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == ',' || c == '<' || c == '"')
                .unwrap_or(rest.len());
            let word = rest[..end].trim_matches(|c| c == '>' || c == ';');
            if word.contains('@') {
                ids.push(word.to_string());
            } else if first_word.is_none() && !word.is_empty() {
                first_word = Some(word.to_string());
            }
            rest = &rest[end..];
        }
    }
    if ids.is_empty() && bare_fallback {
        ids.extend(first_word);
    }
    ids
}

/// Removes RFC 5322 comments, `(…)` with nesting and `\` escapes, outside
/// angle brackets and quoted strings.
fn strip_comments(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut depth = 0usize;
    let mut in_angle = false;
    let mut in_quote = false;
    let mut escaped = false;
    for c in value.chars() {
        if depth > 0 {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                out.push(' ');
            }
            continue;
        }
        match c {
            '(' if !in_angle && !in_quote => {
                depth = 1;
                continue;
            }
            '<' if !in_quote => in_angle = true,
            '>' if !in_quote => in_angle = false,
            '"' if !in_angle => in_quote = !in_quote,
            _ => {}
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracketed_ids() {
        assert_eq!(
            parse_ids("<a@x.test> <b@x.test>\t<c@x.test>", false),
            vec!["a@x.test", "b@x.test", "c@x.test"]
        );
    }

    #[test]
    fn missing_brackets_and_commas() {
        assert_eq!(
            parse_ids("a@x.test, b@x.test <c@x.test>", false),
            vec!["a@x.test", "b@x.test", "c@x.test"]
        );
    }

    #[test]
    fn comments_and_phrases() {
        assert_eq!(
            parse_ids("<a@x.test> (from bob@x.test on Monday)", false),
            vec!["a@x.test"]
        );
        assert_eq!(
            parse_ids(
                "Your message of \"Mon, 2 Jan 2023 me@x.test\" <a@x.test>",
                false
            ),
            vec!["a@x.test"]
        );
        assert_eq!(
            parse_ids("(nested (comment) here) <a@x.test>", false),
            vec!["a@x.test"]
        );
    }

    #[test]
    fn whitespace_inside_brackets_is_removed() {
        assert_eq!(parse_ids("< a@x.test >", false), vec!["a@x.test"]);
    }

    #[test]
    fn bare_word_only_for_message_id() {
        assert_eq!(parse_ids("1234567890", true), vec!["1234567890"]);
        assert!(parse_ids("1234567890", false).is_empty());
        assert!(parse_ids("<>", true).is_empty());
        assert!(parse_ids("", true).is_empty());
    }

    #[test]
    fn unterminated_bracket_and_unicode() {
        assert_eq!(parse_ids("<a@x.test", false), vec!["a@x.test"]);
        assert_eq!(parse_ids("<回复@例子.test>", false), vec!["回复@例子.test"]);
        assert!(parse_ids("(unterminated <a@x.test>", false).is_empty());
    }
}
