//! The new text of a reply: what its writer wrote this time, without the
//! quoted history that mail clients append.
//!
//! Clients mark the history in many ways. In plain text we look, top to
//! bottom, for the earliest of: our own marker line, an "Original Message"
//! separator (`-----Original Message-----`, `----- 原始邮件 -----`), an Outlook
//! header block (`From:`/`Sent:`/`To:`, `发件人:`/`发送时间:`/`收件人:`), or a
//! dated attribution line (`On … wrote:`, `在 … 写道：`) that is followed by
//! unquoted text. Then the bottom is trimmed: runs of `>` lines, the
//! attribution above them, separator lines. `>` lines followed by new text
//! (an interleaved reply) stay.
//!
//! In HTML we cut at the containers clients put around the history (Gmail's
//! `gmail_quote`, Thunderbird's `moz-cite-prefix`, `<blockquote type="cite">`,
//! Outlook's `divRplyFwdMsg`/`appendonsend`/border-top `From:` block), render
//! the rest as text with the inbound HTML walker (its compact style, with
//! blockquotes as `>` lines), and trim as above.
//!
//! Everything is a hand-written scan over lines or bytes, linear in the input:
//! a hostile 1 MB body costs milliseconds, never a regex blow-up.

use crate::inbound::html::{self, Tag};

/// The line our notifications put above the quoted ticket history.
pub const REPLY_MARKER_EN: &str = "-- reply above this line --";
/// The Chinese form of [`REPLY_MARKER_EN`].
pub const REPLY_MARKER_ZH: &str = "-- 请在此行以上回复 --";

// We match the phrase, not the whole marker: clients re-wrap quoted lines and
// some turn `--` into dashes of other kinds.
const MARKER_PHRASE_EN: &str = "reply above this line";
const MARKER_PHRASE_ZH: &str = "请在此行以上回复";

/// What the writer of a reply wrote this time.
///
/// `text` is the text/plain body (empty if the mail had none), `html` the
/// text/html body if present. The plain text is preferred; the HTML is used
/// when the plain text is empty, or when the plain text shows no quoted
/// history but the HTML does (some clients generate a plain part that hides
/// where the quote starts).
///
/// Lines end in `\n` (CRLF input is accepted); trailing whitespace, leading and
/// trailing blank lines are removed; a signature delimiter `-- ` keeps its
/// space. Signatures are kept: agents' signatures are meant to be relayed.
pub fn new_text(text: &str, html: Option<&str>) -> String {
    let html = html.filter(|h| !h.trim().is_empty());
    if text.trim().is_empty() {
        return html.map(|h| cut_html(h).text).unwrap_or_default();
    }
    let plain = cut_text(text);
    if !plain.cut
        && let Some(rich) = html.map(cut_html).filter(|rich| rich.cut)
    {
        return rich.text;
    }
    plain.text
}

/// A body with its history removed, and whether anything was removed.
struct Cut {
    text: String,
    cut: bool,
}

fn cut_text(text: &str) -> Cut {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let head = first_cut(&lines);
    let (end, cut) = trim_tail(&lines[..head.unwrap_or(lines.len())], head.is_some());
    Cut {
        text: join_lines(&lines[..end]),
        cut,
    }
}

/// The first line where quoted history certainly starts, if any.
fn first_cut(lines: &[&str]) -> Option<usize> {
    for (i, line) in lines.iter().enumerate() {
        // Our marker counts even when quoted: it is usually `> -- reply above …`.
        if is_marker(line) {
            return Some(i);
        }
        // Quoted lines may be interleaved with answers; only the tail trim removes them.
        if is_quoted(line) || is_blank(line) {
            continue;
        }
        if is_original_separator(line) || starts_header_block(lines, i) {
            return Some(i);
        }
        // An attribution followed by `>` lines is handled by the tail trim (it
        // may head an interleaved reply). One followed by unquoted text is a
        // client that does not quote; we trust it only when it carries a date,
        // so "On Monday the vendor wrote:" in an agent's own text survives.
        if let Some(n) = attribution_at(lines, i)
            && has_date(&lines[i..i + n].join(" "))
            && !next_nonblank_is_quoted(&lines[i + n..])
        {
            return Some(i);
        }
    }
    None
}

/// Removes blank lines, `>` runs, attribution and separator lines from the
/// bottom of `lines`. Returns the new end and whether history was removed
/// (`cut_above`: a cut was already made, so an attribution line left at the
/// bottom belongs to it).
fn trim_tail(lines: &[&str], cut_above: bool) -> (usize, bool) {
    let mut removed = cut_above;
    let mut end = lines.len();
    loop {
        while end > 0 && is_blank(lines[end - 1]) {
            end -= 1;
        }
        if end == 0 {
            break;
        }
        if is_quoted(lines[end - 1]) {
            while end > 0 && (is_quoted(lines[end - 1]) || is_blank(lines[end - 1])) {
                end -= 1;
            }
            removed = true;
            continue;
        }
        if !removed {
            break;
        }
        if let Some(n) = attribution_ending_at(lines, end) {
            end -= n;
            continue;
        }
        if is_separator(lines[end - 1]) {
            end -= 1;
            continue;
        }
        break;
    }
    (end, removed)
}

fn join_lines(lines: &[&str]) -> String {
    let start = lines
        .iter()
        .position(|l| !is_blank(l))
        .unwrap_or(lines.len());
    let mut out = String::new();
    for (n, line) in lines[start..].iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        // `-- ` is the signature delimiter; its space is what makes it one.
        if *line == "-- " {
            out.push_str(line);
        } else {
            out.push_str(line.trim_end());
        }
    }
    out
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

fn is_marker(line: &str) -> bool {
    contains_ignore_ascii_case(line, MARKER_PHRASE_EN) || line.contains(MARKER_PHRASE_ZH)
}

fn contains_ignore_ascii_case(hay: &str, needle: &str) -> bool {
    let (hay, needle) = (hay.as_bytes(), needle.as_bytes());
    hay.len() >= needle.len()
        && hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

fn next_nonblank_is_quoted(lines: &[&str]) -> bool {
    lines
        .iter()
        .find(|l| !is_blank(l))
        .is_some_and(|l| is_quoted(l))
}

/// `-----Original Message-----`, `----- 原始邮件 -----`,
/// `------------------ 原始邮件 ------------------` (Foxmail, QQ Mail).
fn is_original_separator(line: &str) -> bool {
    let t = line.trim();
    if t.len() > 120 || !t.starts_with("--") || !t.ends_with("--") {
        return false;
    }
    let inner = t.trim_matches('-').trim().to_lowercase();
    matches!(
        inner.as_str(),
        "original message"
            | "原始邮件"
            | "原始郵件"
            | "ursprüngliche nachricht"
            | "message d'origine"
            | "mensaje original"
    )
}

/// A line that only separates history from what is above it.
fn is_separator(line: &str) -> bool {
    let t = line.trim();
    (t.len() >= 10 && t.bytes().all(|b| b == b'_')) || is_original_separator(line)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    From,
    Sent,
    To,
    Subject,
}

const LABELS: &[(&str, Label)] = &[
    ("from", Label::From),
    ("发件人", Label::From),
    ("寄件者", Label::From),
    ("寄件人", Label::From),
    ("von", Label::From),
    ("de", Label::From),
    ("sent", Label::Sent),
    ("date", Label::Sent),
    ("发送时间", Label::Sent),
    ("日期", Label::Sent),
    ("时间", Label::Sent),
    ("寄件日期", Label::Sent),
    ("gesendet", Label::Sent),
    ("datum", Label::Sent),
    ("envoyé", Label::Sent),
    ("to", Label::To),
    ("收件人", Label::To),
    ("an", Label::To),
    ("à", Label::To),
    ("subject", Label::Subject),
    ("主题", Label::Subject),
    ("主旨", Label::Subject),
    ("betreff", Label::Subject),
    ("objet", Label::Subject),
];

/// The header label a line starts with: `From:`, `*From:*` (Outlook's bold in
/// plain text), `De :` (French spacing), `发件人：` (full-width colon).
fn header_label(line: &str) -> Option<Label> {
    let t = line.trim_start().trim_start_matches('*');
    LABELS.iter().find_map(|&(word, label)| {
        let head = t.get(..word.len())?;
        if !head.eq_ignore_ascii_case(word) {
            return None;
        }
        let rest = t[word.len()..].trim_start_matches([' ', '\t', '*', '\u{a0}']);
        (rest.starts_with(':') || rest.starts_with('：')).then_some(label)
    })
}

/// A `From:` line followed within five lines by a date and a recipient or subject.
fn starts_header_block(lines: &[&str], i: usize) -> bool {
    if header_label(lines[i]) != Some(Label::From) {
        return false;
    }
    let (mut sent, mut to) = (false, false);
    for line in lines.iter().skip(i + 1).take(5) {
        match header_label(line) {
            Some(Label::Sent) => sent = true,
            Some(Label::To | Label::Subject) => to = true,
            _ => {}
        }
    }
    sent && to
}

/// `On … wrote:` in the languages our users write in. Only the shape is
/// checked; [`has_date`] tells a client's line from a sentence.
fn is_attribution(s: &str) -> bool {
    let t = s.trim();
    if t.is_empty() || t.len() > 600 {
        return false;
    }
    let l = t.to_lowercase();
    (l.starts_with("on ") && l.ends_with("wrote:"))
        || (l.starts_with("am ") && l.contains(" schrieb") && l.ends_with(':'))
        || (l.starts_with("le ") && (l.ends_with("a écrit :") || l.ends_with("a écrit:")))
        || (l.starts_with("el ") && l.ends_with("escribió:"))
        || (["写道：", "写道:", "寫道：", "寫道:"]
            .iter()
            .any(|end| l.ends_with(end))
            && (l.starts_with('在') || l.contains('于') || l.contains('於')))
}

/// Cheap test before joining two lines: could this line begin an attribution?
fn may_start_attribution(line: &str) -> bool {
    let t = line.trim_start();
    let head = t.get(..3).unwrap_or(t);
    ["on ", "am ", "le ", "el "]
        .iter()
        .any(|p| head.eq_ignore_ascii_case(p))
        || t.starts_with('在')
        || t.contains('于')
        || t.contains('於')
}

/// The number of lines (1, or 2 when wrapped as Gmail does) of an attribution starting at `i`.
fn attribution_at(lines: &[&str], i: usize) -> Option<usize> {
    if is_attribution(lines[i]) {
        return Some(1);
    }
    let next = lines.get(i + 1)?;
    (may_start_attribution(lines[i])
        && !is_blank(next)
        && !is_quoted(next)
        && is_attribution(&format!("{} {}", lines[i].trim_end(), next.trim_start())))
    .then_some(2)
}

/// The number of lines of an attribution ending just before `end`.
fn attribution_ending_at(lines: &[&str], end: usize) -> Option<usize> {
    if is_attribution(lines[end - 1]) {
        return Some(1);
    }
    (end >= 2 && attribution_at(lines, end - 2) == Some(2)).then_some(2)
}

/// A year (four digits, `2026年` included) or a time of day (`10:00`).
fn has_date(s: &str) -> bool {
    let b = s.as_bytes();
    let mut run = 0;
    for (i, &c) in b.iter().enumerate() {
        if c.is_ascii_digit() {
            run += 1;
            if run == 4 {
                return true;
            }
        } else {
            if c == b':'
                && run >= 1
                && b.get(i + 1).is_some_and(u8::is_ascii_digit)
                && b.get(i + 2).is_some_and(u8::is_ascii_digit)
            {
                return true;
            }
            run = 0;
        }
    }
    false
}

// ---------------------------------------------------------------------------
// HTML

fn cut_html(html: &str) -> Cut {
    let rendered = render_html(html);
    let mut at = None;
    let mut checked = None;
    for mark in &rendered.marks {
        // Nested containers can share a position; one look is enough.
        if checked.replace(mark.pos) == Some(mark.pos) {
            continue;
        }
        let tail = &rendered.text[mark.pos..];
        match mark.kind {
            MarkKind::Header => {
                at = Some(mark.pos);
                break;
            }
            MarkKind::BorderTop => {
                if first_line_is_from(tail) {
                    at = Some(mark.pos);
                    break;
                }
            }
            MarkKind::Quote => {
                // Text written between the quoted parts means an interleaved
                // reply: keep it all and let the tail trim take the last quote.
                if !is_interleaved(tail) {
                    at = Some(mark.pos);
                }
                break;
            }
        }
    }
    let mut cut = cut_text(&rendered.text[..at.unwrap_or(rendered.text.len())]);
    cut.cut |= at.is_some();
    cut
}

fn first_line_is_from(text: &str) -> bool {
    // Outlook's `From:` opens its block; looking only a few lines down keeps
    // a document made of thousands of bordered divs linear.
    text.lines()
        .take(5)
        .find(|l| !is_blank(l))
        .is_some_and(|l| header_label(l) == Some(Label::From))
}

fn is_interleaved(text: &str) -> bool {
    let mut seen_quote = false;
    for line in text.lines() {
        if is_quoted(line) {
            seen_quote = true;
        } else if seen_quote && !is_blank(line) {
            return true;
        }
    }
    false
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MarkKind {
    /// A quote container (Gmail, Thunderbird, Apple Mail): cut unless interleaved.
    Quote,
    /// Outlook's reply header container: always cut.
    Header,
    /// A div with a top border: Outlook's header block if its text starts with `From:`.
    BorderTop,
}

/// Where in the rendered text a quote container started (always at a line start).
struct Mark {
    pos: usize,
    kind: MarkKind,
}

struct Rendered {
    text: String,
    marks: Vec<Mark>,
}

/// The HTML as text in the inbound walker's compact style (blocks are line
/// breaks, blockquotes `> ` lines), with the quote containers marked.
fn render_html(html: &str) -> Rendered {
    let r = html::render(html, &html::Style::COMPACT, mark_kind);
    Rendered {
        text: r.text,
        marks: r
            .marks
            .into_iter()
            .map(|(pos, kind)| Mark { pos, kind })
            .collect(),
    }
}

fn mark_kind(tag: &Tag<'_>) -> Option<MarkKind> {
    if let Some(class) = tag.attr("class")
        && class.split_ascii_whitespace().any(|c| {
            matches!(
                c,
                "gmail_quote" | "gmail_quote_container" | "moz-cite-prefix" | "yahoo_quoted"
            )
        })
    {
        return Some(MarkKind::Quote);
    }
    if tag.name() == "blockquote"
        && tag
            .attr("type")
            .is_some_and(|t| t.eq_ignore_ascii_case("cite"))
    {
        return Some(MarkKind::Quote);
    }
    if let Some(id) = tag.attr("id")
        && [
            "divRplyFwdMsg",
            "appendonsend",
            "mail-editor-reference-message-container",
        ]
        .iter()
        .any(|known| id.eq_ignore_ascii_case(known))
    {
        return Some(MarkKind::Header);
    }
    if tag.name() == "div"
        && tag
            .attr("style")
            .is_some_and(|s| contains_ignore_ascii_case(s, "border-top"))
    {
        return Some(MarkKind::BorderTop);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/replies/",
                $name
            ))
        };
    }

    /// One golden case: the plain part, the HTML part, and the expected new text.
    struct Golden {
        name: &'static str,
        text: &'static str,
        html: Option<&'static str>,
        expected: &'static str,
    }

    const fn text(name: &'static str, text: &'static str, expected: &'static str) -> Golden {
        Golden {
            name,
            text,
            html: None,
            expected,
        }
    }

    const fn html(name: &'static str, html: &'static str, expected: &'static str) -> Golden {
        Golden {
            name,
            text: "",
            html: Some(html),
            expected,
        }
    }

    const GOLDEN: &[Golden] = &[
        text(
            "gmail.txt",
            fixture!("gmail.txt"),
            fixture!("gmail.txt.expected"),
        ),
        html(
            "gmail.html",
            fixture!("gmail.html"),
            fixture!("gmail.html.expected"),
        ),
        Golden {
            name: "gmail.txt + gmail.html",
            text: fixture!("gmail.txt"),
            html: Some(fixture!("gmail.html")),
            expected: fixture!("gmail.txt.expected"),
        },
        text(
            "gmail-interleaved.txt",
            fixture!("interleaved.txt"),
            fixture!("interleaved.txt.expected"),
        ),
        html(
            "gmail-interleaved.html",
            fixture!("gmail-interleaved.html"),
            fixture!("gmail-interleaved.html.expected"),
        ),
        text(
            "outlook-en.txt",
            fixture!("outlook-en.txt"),
            fixture!("outlook-en.txt.expected"),
        ),
        html(
            "outlook-en.html",
            fixture!("outlook-en.html"),
            fixture!("outlook-en.html.expected"),
        ),
        html(
            "outlook-desktop.html",
            fixture!("outlook-desktop.html"),
            fixture!("outlook-desktop.html.expected"),
        ),
        text(
            "outlook-zh.txt",
            fixture!("outlook-zh.txt"),
            fixture!("outlook-zh.txt.expected"),
        ),
        html(
            "outlook-zh.html",
            fixture!("outlook-zh.html"),
            fixture!("outlook-zh.html.expected"),
        ),
        text(
            "original-message.txt",
            fixture!("original-message.txt"),
            fixture!("original-message.txt.expected"),
        ),
        text(
            "foxmail-zh.txt",
            fixture!("foxmail-zh.txt"),
            fixture!("foxmail-zh.txt.expected"),
        ),
        html(
            "foxmail-zh.html",
            fixture!("foxmail-zh.html"),
            fixture!("foxmail-zh.html.expected"),
        ),
        text(
            "qq-attribution-zh.txt",
            fixture!("qq-attribution-zh.txt"),
            fixture!("qq-attribution-zh.txt.expected"),
        ),
        text(
            "apple-mail-zh.txt",
            fixture!("apple-mail-zh.txt"),
            fixture!("apple-mail-zh.txt.expected"),
        ),
        text(
            "thunderbird-zh.txt",
            fixture!("thunderbird-zh.txt"),
            fixture!("thunderbird-zh.txt.expected"),
        ),
        html(
            "thunderbird.html",
            fixture!("thunderbird.html"),
            fixture!("thunderbird.html.expected"),
        ),
        html(
            "apple-mail.html",
            fixture!("apple-mail.html"),
            fixture!("apple-mail.html.expected"),
        ),
        text(
            "quoted-gt.txt",
            fixture!("quoted-gt.txt"),
            fixture!("quoted-gt.txt.expected"),
        ),
        text(
            "marker.txt",
            fixture!("marker.txt"),
            fixture!("marker.txt.expected"),
        ),
        text(
            "marker-zh.txt",
            fixture!("marker-zh.txt"),
            fixture!("marker-zh.txt.expected"),
        ),
        text(
            "german.txt",
            fixture!("german.txt"),
            fixture!("german.txt.expected"),
        ),
        text(
            "french.txt",
            fixture!("french.txt"),
            fixture!("french.txt.expected"),
        ),
        text(
            "signature.txt",
            fixture!("signature.txt"),
            fixture!("signature.txt.expected"),
        ),
        text(
            "unquoted-attribution.txt",
            fixture!("unquoted-attribution.txt"),
            fixture!("unquoted-attribution.txt.expected"),
        ),
        text(
            "no-quote.txt",
            fixture!("no-quote.txt"),
            fixture!("no-quote.txt.expected"),
        ),
    ];

    fn crlf(s: &str) -> String {
        s.replace("\r\n", "\n").replace('\n', "\r\n")
    }

    #[test]
    fn golden_fixtures() {
        // A missing or emptied table must not pass quietly.
        assert!(
            GOLDEN.len() >= 20,
            "golden table has {} cases",
            GOLDEN.len()
        );
        let mut failures = Vec::new();
        for case in GOLDEN {
            let expected = case.expected.trim_end_matches('\n');
            assert!(
                !expected.is_empty(),
                "{}: expected text is empty",
                case.name
            );
            // Every fixture is checked with LF and with CRLF line endings.
            for (ending, text, html) in [
                ("LF", case.text.to_string(), case.html.map(str::to_string)),
                ("CRLF", crlf(case.text), case.html.map(crlf)),
            ] {
                let got = new_text(&text, html.as_deref());
                if got != expected {
                    failures.push(format!(
                        "{} ({ending}):\n--- expected\n{expected}\n--- got\n{got}\n---",
                        case.name
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn one_megabyte_of_quotes_is_fast_and_empty() {
        let line = "> the same quoted line, over and over again, as a mail loop would send it\n";
        let body = line.repeat(1_000_000 / line.len() + 1);
        assert!(body.len() >= 1_000_000);
        assert_eq!(new_text(&body, None), "");
        let html = format!(
            "<blockquote type=\"cite\">{}</blockquote>",
            body.replace('\n', "<br>")
        );
        assert_eq!(new_text("", Some(&html)), "");
    }

    #[test]
    fn hostile_html_is_linear() {
        let many_open = "<".repeat(500_000);
        assert_eq!(new_text("", Some(&many_open)), "<".repeat(500_000));
        let nested = "<blockquote>".repeat(100_000) + "deep";
        assert_eq!(new_text("", Some(&nested)), "");
        let unclosed = "<div class=\"".repeat(100_000);
        let _ = new_text("", Some(&unclosed));
        let bordered = "<div style=\"border-top:1px solid\"><br>".repeat(100_000) + "text";
        assert_eq!(new_text("", Some(&bordered)), "text");
        let nested_bordered = "<div style=\"border-top:1px solid\">".repeat(100_000) + "Hello";
        assert_eq!(new_text("", Some(&nested_bordered)), "Hello");
        let amps = "&".repeat(500_000);
        assert_eq!(new_text("", Some(&amps)).len(), 500_000);
        let long_line = format!("#{}", "a".repeat(1_000_000));
        assert_eq!(new_text(&long_line, None), long_line);
        crate::growth_tests::assert_linear("many `<`", 125_000, |n| {
            new_text("", Some(&"<".repeat(n)));
        });
        crate::growth_tests::assert_linear("nested blockquotes", 25_000, |n| {
            new_text("", Some(&("<blockquote>".repeat(n) + "deep")));
        });
        crate::growth_tests::assert_linear("nested bordered divs", 25_000, |n| {
            new_text(
                "",
                Some(&("<div style=\"border-top:1px solid\">".repeat(n) + "Hello")),
            );
        });
    }

    #[test]
    fn marker_cuts_even_unquoted_and_takes_the_attribution_above() {
        let body = format!(
            "Done.\n\nOn Sat, Nov 28, 2026 at 10:00 AM Desk <desk@example.com> wrote:\n{REPLY_MARKER_EN}\nTicket [#1042]\n"
        );
        assert_eq!(new_text(&body, None), "Done.");
        let body = format!("好的\n\n{REPLY_MARKER_ZH}\n工单 [#1042]\n");
        assert_eq!(new_text(&body, None), "好的");
        // Some clients turn our `--` into an en dash or drop it.
        assert_eq!(
            new_text("Fixed.\n> – Reply above this line –\n> old", None),
            "Fixed."
        );
    }

    #[test]
    fn interleaved_quotes_stay_only_the_tail_goes() {
        let body = "On Sat, Nov 28, 2026 at 10:00 AM Ann <ann@example.com> wrote:\n\
                    > Is the printer on?\n\
                    Yes, it is.\n\
                    > Does it print a test page?\n\
                    > Thanks, Ann\n";
        assert_eq!(
            new_text(body, None),
            "On Sat, Nov 28, 2026 at 10:00 AM Ann <ann@example.com> wrote:\n\
             > Is the printer on?\n\
             Yes, it is."
        );
    }

    #[test]
    fn attribution_without_date_followed_by_text_is_kept() {
        let body = "On Monday the vendor wrote:\nthe patch is ready.\nI will install it.";
        assert_eq!(new_text(body, None), body);
    }

    #[test]
    fn header_block_needs_date_and_recipient() {
        // A lone `From:` line in an agent's text is not Outlook's header block.
        let body = "From: the logs it looks like a DNS issue.\nTo: fix it, restart the resolver.";
        assert_eq!(new_text(body, None), body);
        let body = "ok\n\nFrom: A\nSent: today\nTo: B\n\nold";
        assert_eq!(new_text(body, None), "ok");
        let body = "ok\n*From:* A\n*Sent:* today\n*Subject:* x\nold";
        assert_eq!(new_text(body, None), "ok");
        let body = "ok\nDe : A\nEnvoyé : samedi\nÀ : B\nObjet : x\nold";
        assert_eq!(new_text(body, None), "ok");
        let body = "ok\nVon: A\nGesendet: Samstag\nAn: B\nBetreff: x\nold";
        assert_eq!(new_text(body, None), "ok");
        let body = "好\n发件人：服务台\n发送时间：2026年11月28日\n收件人：张三\n旧";
        assert_eq!(new_text(body, None), "好");
    }

    #[test]
    fn separator_line_above_header_block_goes_too() {
        let body = "Thanks\n\n________________________________\nFrom: A\nDate: x\nTo: B\nold";
        assert_eq!(new_text(body, None), "Thanks");
    }

    #[test]
    fn underscores_in_own_text_stay() {
        let body = "Sign here: ________________\nThanks";
        assert_eq!(new_text(body, None), body);
    }

    #[test]
    fn wrapped_gmail_attribution_at_the_end() {
        let body = "Great, thanks!\n\nOn Sat, Nov 28, 2026 at 10:00 AM Service Desk <\ndesk@example.com> wrote:\n\n> old\n";
        assert_eq!(new_text(body, None), "Great, thanks!");
    }

    #[test]
    fn whitespace_is_trimmed_but_signature_delimiter_kept() {
        let body = "\n\n  Hello  \t\nline\u{3000}\n-- \nBob  \n\n\n";
        assert_eq!(new_text(body, None), "  Hello\nline\n-- \nBob");
    }

    #[test]
    fn empty_inputs() {
        assert_eq!(new_text("", None), "");
        assert_eq!(new_text("  \n\n", Some("   ")), "");
        assert_eq!(new_text("> only quote", None), "");
    }

    #[test]
    fn plain_text_wins_when_it_has_a_cut() {
        let text = "From text\n\n> quoted";
        let html = "<p>From html</p><blockquote type=\"cite\">quoted</blockquote>";
        assert_eq!(new_text(text, Some(html)), "From text");
    }

    #[test]
    fn html_wins_when_only_it_shows_the_quote() {
        // The plain part flattened the quote into ordinary lines.
        let text = "New words\n\nAlice said something long ago\n";
        let html = "<div>New words</div><div class=\"gmail_quote\"><div>Alice said something long ago</div></div>";
        assert_eq!(new_text(text, Some(html)), "New words");
        // Without a cut in either, the plain part is used as it is.
        assert_eq!(new_text(text, Some("<p>other</p>")), text.trim_end());
    }

    #[test]
    fn html_rendering_basics() {
        let html = "<html><head><title>T</title><style>p{color:red}</style></head>\
                    <body><p>a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#39;&nbsp;f &#x4E2D;&#25991; &bogus; &amp</p>\
                    <p>one<br>two<br/>three</p><div>x   y\n z</div><ul><li>first</li><li>second</li></ul>\
                    <table><tr><td>c1</td><td>c2</td></tr></table><pre>  keep\n   this</pre>\
                    <!-- a comment <p>hidden</p> --><script>var x = '<p>';</script>end 1 < 2</body></html>";
        assert_eq!(
            new_text("", Some(html)),
            "a & b <c> \"d\" 'e' f 中文 &bogus; &amp\none\ntwo\nthree\nx y z\n* first\n* second\nc1 c2\n  keep\n   this\nend 1 < 2"
        );
    }

    #[test]
    fn html_blockquote_renders_as_quoted_lines() {
        let html = "<div>mine</div><blockquote><div>theirs</div><blockquote>older</blockquote></blockquote><div>more mine</div>";
        let rendered = render_html(html).text;
        assert!(rendered.contains("> theirs\n>> older\n"), "{rendered}");
        assert_eq!(
            new_text("", Some(html)),
            "mine\n> theirs\n>> older\nmore mine"
        );
    }

    #[test]
    fn dates_in_attributions() {
        assert!(has_date("On Sat, Nov 28, 2026 at 10:00 AM"));
        assert!(has_date("在 2026年11月28日"));
        assert!(has_date("at 9:05"));
        assert!(!has_date("On Monday the vendor wrote:"));
        assert!(!has_date("On 12 May"));
    }

    #[test]
    fn attribution_shapes() {
        for line in [
            "On Sat, Nov 28, 2026 at 10:00 AM Desk <desk@example.com> wrote:",
            "Am Sa., 28. Nov. 2026 um 10:00 Uhr schrieb Desk <desk@example.com>:",
            "Le sam. 28 nov. 2026 à 10:00, Desk <desk@example.com> a écrit :",
            "El sáb, 28 nov 2026 a las 10:00, Desk escribió:",
            "在 2026年11月28日 星期六 10:00，服务台 <desk@example.cn> 写道：",
            "服务台 <desk@example.cn> 于 2026年11月28日 周六 10:00 写道：",
            "在 2026/11/28 10:00, 服务台 写道:",
        ] {
            assert!(is_attribution(line), "{line}");
        }
        for line in ["On it.", "I wrote:", "他写道：", "Le chat a mangé."] {
            assert!(!is_attribution(line), "{line}");
        }
    }

    #[test]
    fn original_message_separators() {
        for line in [
            "-----Original Message-----",
            "----- Original Message -----",
            "----- 原始邮件 -----",
            "------------------ 原始邮件 ------------------",
            "-----Ursprüngliche Nachricht-----",
        ] {
            assert!(is_original_separator(line), "{line}");
        }
        assert!(!is_original_separator("-- original message --x"));
        assert!(!is_original_separator("Original Message"));
    }
}
