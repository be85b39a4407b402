//! HTML bodies turned into text: the one HTML walker of the crate, used for
//! ticket bodies (here) and for cutting quoted history from replies
//! (`desk::quote`).
//!
//! Not a renderer: block elements and `<br>` become line breaks, table cells
//! are separated, list items get a bullet or `1. `, blockquotes get `> `
//! (so quoted replies look like plain-text quotes), scripts, styles and the
//! head are dropped, entities decoded (the whole HTML5 table, numeric
//! references as browsers read them). Whitespace collapses as in HTML: ASCII
//! whitespace only, so `&nbsp;` and `&ensp;` stay. A signature delimiter
//! `-- ` keeps its space. Linear in the input; deep nesting is capped where
//! it would show in every line.
//!
//! The two readers differ in a few ways their tests pin; [`Style`] names
//! them, and [`Style::READABLE`] and [`Style::COMPACT`] are the two presets.

use super::text::tidy;

/// Deepest quote or list level shown; deeper levels look the same.
const MAX_SHOWN_DEPTH: usize = 10;
/// Longest tag we look through for quoted `>` before giving up on quotes.
const MAX_TAG_SCAN: usize = 16 * 1024;

/// The layout choices on which readers of HTML differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// A blank line after paragraphs and headings (Outlook's one-line
    /// `Mso…` paragraphs excepted); otherwise every block is one line break.
    pub paragraph_gap: bool,
    /// Between two cells of a table row.
    pub cell_separator: &'static str,
    /// Before an item of an unordered list (ordered lists count `1. `).
    pub bullet: &'static str,
    /// Named and numeric entities are decoded only when they end in `;`
    /// (otherwise `&amp` and `&nbsp` without it are read as old HTML did).
    pub strict_entities: bool,
}

impl Style {
    /// A ticket body as the desk shows and stores it: paragraphs apart,
    /// `Item | Qty` rows, `- ` items, old semicolon-less entities decoded.
    pub const READABLE: Style = Style {
        paragraph_gap: true,
        cell_separator: " | ",
        bullet: "- ",
        strict_entities: false,
    };
    /// The new text of a reply, relayed as it was written: one line break
    /// per block, cells apart by a space, `* ` items, entities only with `;`.
    pub const COMPACT: Style = Style {
        paragraph_gap: false,
        cell_separator: " ",
        bullet: "* ",
        strict_entities: true,
    };
}

/// The text of an HTML body with the positions a caller asked to mark.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered<M> {
    pub text: String,
    /// For each opening tag the `mark` function of [`render`] picked: the
    /// byte offset in `text` of the line where its content starts, and
    /// what the function returned. In document order; positions never
    /// decrease, and several marks may share one.
    pub marks: Vec<(usize, M)>,
}

/// A ticket body's text: [`Style::READABLE`], tidied (no trailing
/// whitespace, at most one blank line in a row, none at either end).
pub(super) fn html_to_text(html: &str) -> String {
    tidy(&render(html, &Style::READABLE, |_| None::<()>).text)
}

/// Walks `html` once and writes its text in `style`. `mark` sees every
/// opening tag outside skipped content (scripts, styles, the head); when
/// it returns a value, the element starts on a new line and its position
/// is recorded. The text is not tidied: lines keep their trailing spaces
/// and blank runs.
pub fn render<M>(
    html: &str,
    style: &Style,
    mut mark: impl FnMut(&Tag<'_>) -> Option<M>,
) -> Rendered<M> {
    let b = html.as_bytes();
    let mut w = Writer::new(*style);
    let mut kinds = Vec::new();
    let mut finder = Finder::default();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'<' if html[i..].starts_with("<!--") => {
                i = find_bytes(b, b"-->", i + 4).map_or(b.len(), |p| p + 3);
            }
            b'<' if matches!(b.get(i + 1), Some(b'!' | b'?')) => {
                i = b[i..]
                    .iter()
                    .position(|&c| c == b'>')
                    .map_or(b.len(), |p| i + p + 1);
            }
            b'<' => match Tag::parse(html, i) {
                Some(tag) => {
                    i = tag.end;
                    if let Some(skip_to) = skipped_content(&tag, b, i, &mut finder) {
                        i = skip_to;
                    } else {
                        w.tag(&tag);
                        if !tag.closing
                            && let Some(kind) = mark(&tag)
                        {
                            w.mark();
                            kinds.push(kind);
                        }
                    }
                }
                None => {
                    w.text("<");
                    i += 1;
                }
            },
            b'&' => {
                let (decoded, len) = entity(&html[i..], style.strict_entities);
                w.text(&decoded);
                i += len;
            }
            _ => {
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'<' || c == b'&')
                    .map_or(b.len(), |p| i + p);
                w.text(&html[i..end]);
                i = end;
            }
        }
    }
    let (text, positions) = w.finish();
    Rendered {
        text,
        marks: positions.into_iter().zip(kinds).collect(),
    }
}

/// For elements whose content is not text (script, style, head …): where
/// to continue reading, at their closing tag.
fn skipped_content(tag: &Tag<'_>, b: &[u8], from: usize, finder: &mut Finder) -> Option<usize> {
    if tag.closing || tag.self_closing {
        return None;
    }
    let close: &[u8] = match tag.name.as_str() {
        "script" => b"</script",
        "style" => b"</style",
        "title" => b"</title",
        "template" => b"</template",
        "xml" => b"</xml",
        "head" => {
            // A head that is never closed must not swallow the body.
            return finder
                .find(b, b"</head", from)
                .or_else(|| finder.find(b, b"<body", from));
        }
        _ => return None,
    };
    Some(finder.find(b, close, from).unwrap_or(b.len()))
}

/// An HTML tag as the walker read it, for [`render`]'s `mark` function.
#[derive(Debug)]
pub struct Tag<'a> {
    /// Lowercase.
    name: String,
    closing: bool,
    self_closing: bool,
    attrs: &'a str,
    /// Byte offset just after the tag.
    end: usize,
}

impl<'a> Tag<'a> {
    /// The element's name, lowercase.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tag starting at `html[start] == '<'`, or `None` when that `<` is
    /// just a character ("a < b").
    fn parse(html: &'a str, start: usize) -> Option<Tag<'a>> {
        let b = html.as_bytes();
        let mut i = start + 1;
        let closing = b.get(i) == Some(&b'/');
        if closing {
            i += 1;
        }
        let name_start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b':' || b[i] == b'-') {
            i += 1;
        }
        if i == name_start || !b[name_start].is_ascii_alphabetic() {
            return None;
        }
        let name = html[name_start..i].to_ascii_lowercase();
        let attrs_start = i;
        let gt = quoted_aware_gt(b, attrs_start).or_else(|| {
            b[attrs_start..]
                .iter()
                .position(|&c| c == b'>')
                .map(|p| attrs_start + p)
        });
        let (attrs_end, end) = match gt {
            Some(p) => (p, p + 1),
            None => (b.len(), b.len()),
        };
        let attrs = &html[attrs_start..attrs_end];
        Some(Tag {
            name,
            closing,
            self_closing: attrs.trim_end().ends_with('/'),
            attrs,
            end,
        })
    }

    /// The value of an attribute (name compared without ASCII case),
    /// quotes removed; `Some("")` for an attribute without a value.
    pub fn attr(&self, name: &str) -> Option<&'a str> {
        let mut rest = self.attrs;
        loop {
            rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
            if rest.is_empty() {
                return None;
            }
            let name_end = rest
                .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
                .unwrap_or(rest.len());
            let this = &rest[..name_end];
            rest = rest[name_end..].trim_start();
            let value = if let Some(after) = rest.strip_prefix('=') {
                let after = after.trim_start();
                let (value, next) = match after.chars().next() {
                    Some(q @ ('"' | '\'')) => match after[1..].find(q) {
                        Some(e) => (&after[1..1 + e], &after[2 + e..]),
                        None => (&after[1..], ""),
                    },
                    _ => {
                        let e = after.find(char::is_whitespace).unwrap_or(after.len());
                        (&after[..e], &after[e..])
                    }
                };
                rest = next;
                value
            } else {
                ""
            };
            if this.eq_ignore_ascii_case(name) {
                return Some(value);
            }
            if name_end == 0 {
                // Stray `=` or quote: skip one character to make progress.
                let skip = rest.chars().next().map_or(0, char::len_utf8);
                rest = &rest[skip..];
            }
        }
    }
}

/// The `>` that ends a tag, skipping `>` inside quoted attribute values.
/// `None` when quotes do not close within `MAX_TAG_SCAN` bytes.
fn quoted_aware_gt(b: &[u8], from: usize) -> Option<usize> {
    let limit = b.len().min(from.saturating_add(MAX_TAG_SCAN));
    let mut quote: Option<u8> = None;
    let mut prev = b' ';
    for (i, &c) in b.iter().enumerate().take(limit).skip(from) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            // Quotes only open an attribute value (after `=`).
            None if (c == b'"' || c == b'\'') && prev == b'=' => quote = Some(c),
            None if c == b'>' => return Some(i),
            None => {}
        }
        if !c.is_ascii_whitespace() {
            prev = c;
        }
    }
    None
}

/// Builds the text: collapses whitespace, owes line breaks until the next
/// visible character, adds quote and list prefixes at line starts.
struct Writer {
    style: Style,
    out: String,
    /// Line breaks owed before the next visible character.
    newlines: usize,
    /// The shallowest quote depth while those line breaks were owed: blank
    /// lines are quoted only when the quote stayed open around them.
    gap_depth: usize,
    /// A collapsed space owed before the next visible character.
    space: bool,
    /// A cell separator owed before the next visible character (a new table cell).
    cell_sep: bool,
    /// Something is written on the current line.
    mid_line: bool,
    quote: usize,
    pre: usize,
    /// Open lists: `None` for `<ul>`, `Some(next number)` for `<ol>`.
    lists: Vec<Option<u32>>,
    /// A list marker owed at the start of the next line.
    marker: Option<String>,
    /// Cells seen in the current row of each open table.
    tables: Vec<usize>,
    /// The open `<p>` is an Outlook `Mso…` paragraph (one line, no gap).
    p_is_line: bool,
    /// Positions of the marks made so far.
    marks: Vec<usize>,
    /// Marks waiting for the start of the next line with text.
    pending_marks: usize,
}

impl Writer {
    fn new(style: Style) -> Writer {
        Writer {
            style,
            out: String::new(),
            newlines: 0,
            gap_depth: 0,
            space: false,
            cell_sep: false,
            mid_line: false,
            quote: 0,
            pre: 0,
            lists: Vec::new(),
            marker: None,
            tables: Vec::new(),
            p_is_line: false,
            marks: Vec::new(),
            pending_marks: 0,
        }
    }

    fn finish(mut self) -> (String, Vec<usize>) {
        self.resolve_marks();
        (self.out, self.marks)
    }

    /// The element just opened starts on a line of its own, which is where
    /// the caller's mark points.
    fn mark(&mut self) {
        self.block(1);
        self.pending_marks += 1;
    }

    fn resolve_marks(&mut self) {
        let at = self.out.len();
        self.marks
            .extend(std::iter::repeat_n(at, self.pending_marks));
        self.pending_marks = 0;
    }

    /// The current line ends here. A signature delimiter `-- ` keeps the
    /// space that collapsing would otherwise drop.
    fn end_line(&mut self) {
        if self.space
            && self.mid_line
            && self.newlines == 0
            && self.out.rsplit('\n').next() == Some("--")
        {
            self.out.push(' ');
        }
        self.space = false;
        self.cell_sep = false;
    }

    fn block(&mut self, n: usize) {
        self.end_line();
        self.owe_newlines(self.newlines.max(n));
    }

    fn owe_newlines(&mut self, n: usize) {
        if self.newlines == 0 {
            self.gap_depth = self.quote;
        }
        self.newlines = n;
    }

    fn text(&mut self, s: &str) {
        for c in s.chars() {
            if self.pre > 0 {
                match c {
                    '\n' => self.owe_newlines(self.newlines + 1),
                    '\r' => {}
                    _ => self.visible(c),
                }
            } else if c.is_ascii_whitespace() {
                self.space = true;
            } else {
                self.visible(c);
            }
        }
    }

    fn visible(&mut self, c: char) {
        let depth = self.quote.min(MAX_SHOWN_DEPTH);
        if self.newlines > 0 {
            if !self.out.is_empty() {
                // Blank lines inside a quote stay part of the quote.
                let blank_depth = self.gap_depth.min(depth);
                for n in 0..self.newlines {
                    if n > 0 && blank_depth > 0 {
                        self.out.extend(std::iter::repeat_n('>', blank_depth));
                    }
                    self.out.push('\n');
                }
            }
            self.newlines = 0;
            self.mid_line = false;
        }
        if !self.mid_line {
            self.resolve_marks();
            if depth > 0 {
                self.out.extend(std::iter::repeat_n('>', depth));
                self.out.push(' ');
            }
            if let Some(m) = self.marker.take() {
                self.out.push_str(&m);
            }
            self.mid_line = true;
        } else if self.cell_sep {
            self.out.push_str(self.style.cell_separator);
        } else if self.space {
            self.out.push(' ');
        }
        self.space = false;
        self.cell_sep = false;
        // A no-break space only keeps words apart; readers want a plain one.
        self.out.push(if c == '\u{A0}' { ' ' } else { c });
    }

    fn tag(&mut self, tag: &Tag<'_>) {
        let open = !tag.closing;
        let gap = if self.style.paragraph_gap { 2 } else { 1 };
        match tag.name.as_str() {
            "br" => {
                self.end_line();
                self.owe_newlines(self.newlines + 1);
            }
            "p" => {
                if open {
                    // Word/Outlook writes every line as a margin-less
                    // `<p class=MsoNormal>` (or MsoListParagraph, MsoPlainText …).
                    self.p_is_line = tag
                        .attr("class")
                        .is_some_and(|c| c.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("mso")));
                }
                self.block(if self.p_is_line { 1 } else { gap });
            }
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => self.block(gap),
            "blockquote" => {
                self.block(1);
                if open {
                    self.quote += 1;
                } else {
                    self.quote = self.quote.saturating_sub(1);
                }
                self.gap_depth = self.gap_depth.min(self.quote);
            }
            "pre" => {
                self.block(1);
                if open {
                    self.pre += 1;
                } else {
                    self.pre = self.pre.saturating_sub(1);
                }
            }
            "ul" | "ol" => {
                self.block(1);
                if open {
                    let start = tag.attr("start").and_then(|s| s.trim().parse().ok());
                    self.lists
                        .push((tag.name == "ol").then_some(start.unwrap_or(1)));
                } else {
                    self.lists.pop();
                }
            }
            "li" => {
                self.block(1);
                if open {
                    let indent =
                        "  ".repeat(self.lists.len().saturating_sub(1).min(MAX_SHOWN_DEPTH));
                    let marker = match self.lists.last_mut() {
                        Some(Some(n)) => {
                            *n += 1;
                            format!("{indent}{}. ", *n - 1)
                        }
                        _ => format!("{indent}{}", self.style.bullet),
                    };
                    self.marker = Some(marker);
                }
            }
            "table" => {
                self.block(1);
                if open {
                    self.tables.push(0);
                } else {
                    self.tables.pop();
                }
            }
            "tr" => {
                self.block(1);
                if let Some(cells) = self.tables.last_mut() {
                    *cells = 0;
                }
            }
            "td" | "th" if open => {
                let cells = self.tables.last_mut().map(|c| {
                    *c += 1;
                    *c
                });
                if cells.unwrap_or(1) > 1 && self.mid_line && self.newlines == 0 {
                    self.cell_sep = true;
                }
            }
            "div" | "dl" | "dt" | "dd" | "section" | "article" | "header" | "footer" | "nav"
            | "aside" | "form" | "fieldset" | "address" | "center" | "figure" | "figcaption"
            | "main" | "hr" | "caption" | "tbody" | "thead" | "tfoot" => self.block(1),
            _ => {}
        }
    }
}

/// Finds needles case-insensitively, remembering results so repeated
/// searches (many `<head>` tags, say) stay linear.
#[derive(Default)]
struct Finder {
    /// (needle, searched from, result)
    cache: Vec<(&'static [u8], usize, Option<usize>)>,
}

impl Finder {
    fn find(&mut self, b: &[u8], needle: &'static [u8], from: usize) -> Option<usize> {
        if let Some(&(_, searched_from, result)) = self.cache.iter().find(|(n, _, _)| *n == needle)
            && searched_from <= from
        {
            match result {
                None => return None,
                Some(p) if p >= from => return Some(p),
                Some(_) => {}
            }
        }
        let result = find_ci(b, needle, from);
        self.cache.retain(|(n, _, _)| *n != needle);
        self.cache.push((needle, from, result));
        result
    }
}

fn find_ci(b: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from >= b.len() || needle.is_empty() {
        return None;
    }
    b[from..]
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|p| from + p)
}

fn find_bytes(b: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from >= b.len() {
        return None;
    }
    b[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// The entity at the start of `s` (which begins with `&`): decoded text and
/// bytes consumed. An unknown entity is a literal `&`; so is one without
/// its `;` when `strict`.
fn entity(s: &str, strict: bool) -> (String, usize) {
    let literal = ("&".to_string(), 1);
    let b = s.as_bytes();
    if b.get(1) == Some(&b'#') {
        let (digits_start, radix) = match b.get(2) {
            Some(b'x' | b'X') => (3, 16),
            _ => (2, 10),
        };
        let digits_end = b[digits_start..]
            .iter()
            .position(|c| !c.is_ascii_hexdigit() || (radix == 10 && !c.is_ascii_digit()))
            .map_or(b.len(), |p| digits_start + p);
        if digits_end == digits_start || digits_end - digits_start > 8 {
            return literal;
        }
        let semicolon = b.get(digits_end) == Some(&b';');
        if strict && !semicolon {
            return literal;
        }
        let code = u32::from_str_radix(&s[digits_start..digits_end], radix).unwrap_or(0xFFFD);
        let len = digits_end + usize::from(semicolon);
        return (numeric_char(code).to_string(), len);
    }
    let name_end = b[1..]
        .iter()
        .take(32)
        .position(|c| !c.is_ascii_alphanumeric())
        .map_or(b.len().min(33), |p| 1 + p);
    let name = &s[1..name_end];
    if name.is_empty() {
        return literal;
    }
    if b.get(name_end) == Some(&b';') {
        let token = &s[..=name_end];
        let mut decoded = String::new();
        mail_parser::decoders::html::add_html_token(&mut decoded, token.as_bytes(), false);
        if decoded != token {
            return (decoded, name_end + 1);
        }
        return literal;
    }
    if strict {
        return literal;
    }
    // Old HTML allowed a few entities without the semicolon.
    for (legacy, c) in [
        ("nbsp", '\u{A0}'),
        ("amp", '&'),
        ("lt", '<'),
        ("gt", '>'),
        ("quot", '"'),
        ("copy", '©'),
        ("reg", '®'),
    ] {
        if name.starts_with(legacy) {
            return (c.to_string(), 1 + legacy.len());
        }
    }
    literal
}

/// A numeric character reference as browsers read it: 0x80–0x9F are
/// windows-1252 (`&#150;` is an en dash), invalid code points are U+FFFD.
fn numeric_char(code: u32) -> char {
    const CP1252: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž',
        '\u{8F}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}',
        'ž', 'Ÿ',
    ];
    match code {
        0 => '\u{FFFD}',
        0x80..=0x9F => CP1252[(code - 0x80) as usize],
        _ => char::from_u32(code).unwrap_or('\u{FFFD}'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_breaks_and_divs() {
        assert_eq!(
            html_to_text("<p>One</p><p>Two<br>three</p><div>Four</div><div>Five</div>"),
            "One\n\nTwo\nthree\n\nFour\nFive"
        );
        assert_eq!(html_to_text("a<br><br><br><br>b"), "a\n\nb");
    }

    #[test]
    fn whitespace_collapses() {
        assert_eq!(html_to_text("  Hello \n\t  world  "), "Hello world");
        assert_eq!(html_to_text("<b>bold</b> <i>it</i>al"), "bold ital");
    }

    #[test]
    fn scripts_styles_head_comments_dropped() {
        let html = "<html><head><title>T</title><style>p{color:red}</style></head>\
                    <body><!-- hidden --><script type=\"text/javascript\">var a = '<p>x</p>';</script>\
                    <p>Visible</p><!--[if mso]><p>mso only</p><![endif]--></body></html>";
        assert_eq!(html_to_text(html), "Visible");
    }

    #[test]
    fn unclosed_head_does_not_eat_body() {
        assert_eq!(
            html_to_text("<head><meta charset=utf-8><body>Hi</body>"),
            "Hi"
        );
        assert_eq!(html_to_text("<head>Hi"), "Hi");
    }

    #[test]
    fn entities() {
        assert_eq!(
            html_to_text(
                "a&amp;b &lt;c&gt; &quot;q&quot; &#20320;&#x597D; &eacute; &#150; &nbsp;x &amp &bogus; &"
            ),
            "a&b <c> \"q\" 你好 é – \u{20}x & &bogus; &"
        );
    }

    #[test]
    fn nbsp_lines_keep_outlook_blank_lines() {
        let html = "<p class=MsoNormal>Hi,<o:p></o:p></p>\
                    <p class=MsoNormal><o:p>&nbsp;</o:p></p>\
                    <p class=MsoNormal>The printer is broken.<o:p></o:p></p>\
                    <p class=MsoNormal>Thanks<o:p></o:p></p>";
        assert_eq!(html_to_text(html), "Hi,\n\nThe printer is broken.\nThanks");
        let list = "<p class=MsoListParagraphCxSpFirst><![if !supportLists]>1.<![endif]>One</p>\
                    <p class=MsoListParagraphCxSpLast><![if !supportLists]>2.<![endif]>Two</p>";
        assert_eq!(html_to_text(list), "1.One\n2.Two");
    }

    #[test]
    fn tables() {
        let html = "<table><tr><th>Item</th><th>Qty</th></tr>\
                    <tr><td>Toner</td><td>2</td></tr><tr><td></td><td>3</td></tr></table>after";
        assert_eq!(html_to_text(html), "Item | Qty\nToner | 2\n3\nafter");
    }

    #[test]
    fn lists() {
        assert_eq!(
            html_to_text(
                "<ul><li>a</li><li>b<ul><li>c</li></ul></li></ul><ol start=3><li>x</li><li>y</li></ol>"
            ),
            "- a\n- b\n  - c\n3. x\n4. y"
        );
    }

    #[test]
    fn blockquotes_become_quote_marks() {
        let html = "<div>Thanks!</div><div class=\"gmail_quote\">On Mon, Bob wrote:<br>\
                    <blockquote>Is it fixed?<br><br>Please check.<blockquote>old</blockquote></blockquote></div>";
        assert_eq!(
            html_to_text(html),
            "Thanks!\nOn Mon, Bob wrote:\n> Is it fixed?\n>\n> Please check.\n>> old"
        );
    }

    #[test]
    fn pre_keeps_spacing() {
        assert_eq!(html_to_text("<pre>a  b\n  c</pre>d"), "a  b\n  c\nd");
    }

    #[test]
    fn odd_markup() {
        assert_eq!(html_to_text("1 < 2 and 3 > 2"), "1 < 2 and 3 > 2");
        assert_eq!(html_to_text("<a href=\"x>y\">link</a>"), "link");
        assert_eq!(html_to_text("<a title=\"never closed>text"), "text");
        assert_eq!(html_to_text("<img src=x alt='pic'>after"), "after");
        assert_eq!(html_to_text("<p"), "");
        assert_eq!(html_to_text("<script>never closed"), "");
        assert_eq!(html_to_text("x<!-- never closed"), "x");
    }

    #[test]
    fn attributes() {
        let tag = Tag::parse("<p class = \"MsoNormal\" id=x data-a='1' checked>", 0).unwrap();
        assert_eq!(tag.attr("class"), Some("MsoNormal"));
        assert_eq!(tag.attr("ID"), Some("x"));
        assert_eq!(tag.attr("data-a"), Some("1"));
        assert_eq!(tag.attr("checked"), Some(""));
        assert_eq!(tag.attr("missing"), None);
        let odd = Tag::parse("<p = ' \"x>", 0).unwrap();
        assert_eq!(odd.attr("class"), None);
    }

    #[test]
    fn attributes_as_quote_cutting_reads_them() {
        // The cases of the walker `desk::quote` had before it used this one.
        fn attr(attrs: &str, name: &str) -> Option<String> {
            let html = format!("<div{attrs}>");
            Tag::parse(&html, 0)?.attr(name).map(str::to_string)
        }
        assert_eq!(attr(r#" class="a b" id=x"#, "id").as_deref(), Some("x"));
        assert_eq!(
            attr(r#" CLASS='gmail_quote'"#, "class").as_deref(),
            Some("gmail_quote")
        );
        assert_eq!(attr(r#" hidden class="q""#, "class").as_deref(), Some("q"));
        assert_eq!(
            attr(r#" = "odd" type=cite"#, "type").as_deref(),
            Some("cite")
        );
        assert_eq!(
            attr(r#" class="unterminated"#, "class").as_deref(),
            Some("unterminated")
        );
        assert_eq!(attr("", "class"), None);
    }

    fn compact(html: &str) -> String {
        render(html, &Style::COMPACT, |_| None::<()>).text
    }

    #[test]
    fn compact_style_is_one_break_per_block() {
        assert_eq!(
            compact("<p>One</p><p>Two</p><h1>Three</h1><ul><li>a</li></ul><ol><li>b</li></ol>"),
            "One\nTwo\nThree\n* a\n1. b"
        );
        assert_eq!(
            compact("<table><tr><td>c1</td><td>c2</td></tr></table>"),
            "c1 c2"
        );
        // Entities count only with their `;`.
        assert_eq!(
            compact("&amp &amp; &#39 &#39; &nbsp"),
            "&amp & &#39 ' &nbsp"
        );
    }

    #[test]
    fn whitespace_collapses_as_html_says() {
        // Only ASCII whitespace collapses; other spaces are characters.
        assert_eq!(html_to_text("a \u{2003} b&ensp;c"), "a \u{2003} b\u{2002}c");
        assert_eq!(html_to_text("a\r\n\x0c b"), "a b");
    }

    #[test]
    fn signature_delimiter_keeps_its_space() {
        assert_eq!(html_to_text("Hi<br>-- <br>Bob"), "Hi\n-- \nBob");
        assert_eq!(
            compact("<div>Hi</div><div>-- </div><div>Bob</div>"),
            "Hi\n-- \nBob"
        );
        assert_eq!(html_to_text("a -- <br>b"), "a --\nb");
    }

    #[test]
    fn blank_lines_are_quoted_only_inside_the_quote() {
        assert_eq!(
            compact("<blockquote>a<br><br>b</blockquote>"),
            "> a\n>\n> b"
        );
        // A gap written before a quote opens is not part of it.
        assert_eq!(
            compact("x<div><br></div><blockquote>q</blockquote><div><br></div>y"),
            "x\n\n> q\n\ny"
        );
    }

    #[test]
    fn marks_point_at_the_line_where_the_element_starts() {
        let html = "<div>mine <span class=q>inline</span></div><blockquote class=q><p>theirs</p></blockquote><div class=q></div>";
        let r = render(html, &Style::COMPACT, |t| {
            t.attr("class").map(str::to_string)
        });
        assert_eq!(r.text, "mine\ninline\n> theirs");
        let at: Vec<(&str, &str)> = r
            .marks
            .iter()
            .map(|(pos, m)| (&r.text[*pos..], m.as_str()))
            .collect();
        assert_eq!(
            at,
            [("inline\n> theirs", "q"), ("> theirs", "q"), ("", "q")]
        );
        // Marks are not asked about skipped content or closing tags.
        let r = render(
            "<style><p class=q></style></p><p>x</p>",
            &Style::READABLE,
            |t| t.attr("class").map(str::to_string),
        );
        assert!(r.marks.is_empty());
    }

    #[test]
    fn deep_nesting_is_capped_and_linear() {
        let html = "<blockquote><ul><li>x".repeat(20_000);
        let text = html_to_text(&html);
        let longest = text.lines().map(str::len).max().unwrap();
        assert!(longest < 64, "{longest}");
        crate::growth_tests::assert_linear("nested blockquotes", 5_000, |n| {
            html_to_text(&"<blockquote><ul><li>x".repeat(n));
        });
    }

    #[test]
    fn many_unclosed_heads_stay_linear() {
        let html = "<head>x".repeat(50_000);
        let _ = html_to_text(&html);
        let quotes = "<a b='>".repeat(50_000);
        let _ = html_to_text(&quotes);
        crate::growth_tests::assert_linear("unclosed heads", 12_500, |n| {
            html_to_text(&"<head>x".repeat(n));
        });
        crate::growth_tests::assert_linear("unclosed quotes", 12_500, |n| {
            html_to_text(&"<a b='>".repeat(n));
        });
    }
}
