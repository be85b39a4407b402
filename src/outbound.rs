//! Outgoing mail: templates rendered with tera, messages built with lettre.
//!
//! The only module that knows tera and lettre's message builder. Built-in
//! templates are compiled into the binary; a file of the same name in the
//! configured templates folder overrides one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox as LettreMailbox, MultiPart, SinglePart};

use crate::address::Mailbox;
use crate::lang::Lang;

use crate::thread::LOOP_HEADER;

mod template_syntax;

/// Built-in templates: (name, source). Names are `LANG/KIND.txt|html`.
const BUILTIN: &[(&str, &str)] = &[
    ("en/ack.html", include_str!("../templates/en/ack.html")),
    ("en/ack.txt", include_str!("../templates/en/ack.txt")),
    ("en/bounce.txt", include_str!("../templates/en/bounce.txt")),
    ("en/flood.txt", include_str!("../templates/en/flood.txt")),
    (
        "en/command-result.txt",
        include_str!("../templates/en/command-result.txt"),
    ),
    (
        "en/escalated.txt",
        include_str!("../templates/en/escalated.txt"),
    ),
    (
        "en/low-rating.txt",
        include_str!("../templates/en/low-rating.txt"),
    ),
    (
        "en/approval-request.txt",
        include_str!("../templates/en/approval-request.txt"),
    ),
    (
        "en/approval-request.html",
        include_str!("../templates/en/approval-request.html"),
    ),
    (
        "en/approval-decided.txt",
        include_str!("../templates/en/approval-decided.txt"),
    ),
    ("en/merged.txt", include_str!("../templates/en/merged.txt")),
    ("en/split.txt", include_str!("../templates/en/split.txt")),
    ("en/note.txt", include_str!("../templates/en/note.txt")),
    (
        "en/notify-new.txt",
        include_str!("../templates/en/notify-new.txt"),
    ),
    (
        "en/notify-reply.txt",
        include_str!("../templates/en/notify-reply.txt"),
    ),
    ("en/reply.html", include_str!("../templates/en/reply.html")),
    ("en/reply.txt", include_str!("../templates/en/reply.txt")),
    (
        "en/resolved.html",
        include_str!("../templates/en/resolved.html"),
    ),
    (
        "en/resolved.txt",
        include_str!("../templates/en/resolved.txt"),
    ),
    (
        "en/sla-breach.txt",
        include_str!("../templates/en/sla-breach.txt"),
    ),
    (
        "en/sla-warning.txt",
        include_str!("../templates/en/sla-warning.txt"),
    ),
    (
        "en/survey.html",
        include_str!("../templates/en/survey.html"),
    ),
    ("en/survey.txt", include_str!("../templates/en/survey.txt")),
    (
        "en/refusal.txt",
        include_str!("../templates/en/refusal.txt"),
    ),
    (
        "en/excluded.txt",
        include_str!("../templates/en/excluded.txt"),
    ),
    (
        "zh-CN/ack.html",
        include_str!("../templates/zh-CN/ack.html"),
    ),
    ("zh-CN/ack.txt", include_str!("../templates/zh-CN/ack.txt")),
    (
        "zh-CN/bounce.txt",
        include_str!("../templates/zh-CN/bounce.txt"),
    ),
    (
        "zh-CN/flood.txt",
        include_str!("../templates/zh-CN/flood.txt"),
    ),
    (
        "zh-CN/command-result.txt",
        include_str!("../templates/zh-CN/command-result.txt"),
    ),
    (
        "zh-CN/escalated.txt",
        include_str!("../templates/zh-CN/escalated.txt"),
    ),
    (
        "zh-CN/low-rating.txt",
        include_str!("../templates/zh-CN/low-rating.txt"),
    ),
    (
        "zh-CN/approval-request.txt",
        include_str!("../templates/zh-CN/approval-request.txt"),
    ),
    (
        "zh-CN/approval-request.html",
        include_str!("../templates/zh-CN/approval-request.html"),
    ),
    (
        "zh-CN/approval-decided.txt",
        include_str!("../templates/zh-CN/approval-decided.txt"),
    ),
    (
        "zh-CN/merged.txt",
        include_str!("../templates/zh-CN/merged.txt"),
    ),
    (
        "zh-CN/split.txt",
        include_str!("../templates/zh-CN/split.txt"),
    ),
    (
        "zh-CN/note.txt",
        include_str!("../templates/zh-CN/note.txt"),
    ),
    (
        "zh-CN/notify-new.txt",
        include_str!("../templates/zh-CN/notify-new.txt"),
    ),
    (
        "zh-CN/notify-reply.txt",
        include_str!("../templates/zh-CN/notify-reply.txt"),
    ),
    (
        "zh-CN/reply.html",
        include_str!("../templates/zh-CN/reply.html"),
    ),
    (
        "zh-CN/reply.txt",
        include_str!("../templates/zh-CN/reply.txt"),
    ),
    (
        "zh-CN/resolved.html",
        include_str!("../templates/zh-CN/resolved.html"),
    ),
    (
        "zh-CN/resolved.txt",
        include_str!("../templates/zh-CN/resolved.txt"),
    ),
    (
        "zh-CN/sla-breach.txt",
        include_str!("../templates/zh-CN/sla-breach.txt"),
    ),
    (
        "zh-CN/sla-warning.txt",
        include_str!("../templates/zh-CN/sla-warning.txt"),
    ),
    (
        "zh-CN/survey.html",
        include_str!("../templates/zh-CN/survey.html"),
    ),
    (
        "zh-CN/survey.txt",
        include_str!("../templates/zh-CN/survey.txt"),
    ),
    (
        "zh-CN/refusal.txt",
        include_str!("../templates/zh-CN/refusal.txt"),
    ),
    (
        "zh-CN/excluded.txt",
        include_str!("../templates/zh-CN/excluded.txt"),
    ),
];

/// Built-in canned replies (`#reply NAME`): (name, source), names
/// `replies/LANG/NAME.txt`.
const BUILTIN_REPLIES: &[(&str, &str)] = &[
    (
        "replies/en/more-info.txt",
        include_str!("../templates/replies/en/more-info.txt"),
    ),
    (
        "replies/zh-CN/more-info.txt",
        include_str!("../templates/replies/zh-CN/more-info.txt"),
    ),
];

/// Why a mail could not be rendered or built.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("template {name}: {message}")]
    Template { name: String, message: String },
    #[error("reading template {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("address `{0}` cannot be used in a mail header")]
    Address(String),
    #[error("no recipient can receive it: {0}")]
    NoRecipient(String),
    #[error("building the message: {0}")]
    Build(String),
}

/// The templates: built-ins and overrides, each compiled the first time it
/// is rendered.
///
/// Compiling all 50 at every start was 89 % of the instructions of a
/// one-mail `postdesk ingest` (55 M of 62 M, callgrind; ~5 ms of the
/// ~9 ms an MTA pipe pays per mail), and a mail needs one or two of them.
/// A template's source is read when the renderer is made, so a change on
/// disk is seen by the next renderer (a restart or a reload), never halfway
/// through one. The daemon compiles all of them at its start
/// ([`Renderer::compile_all`]), so a broken template still stops it there.
pub struct Renderer {
    templates: BTreeMap<String, Template>,
}

/// One template's source and, once rendered, its compiled form.
struct Template {
    source: std::borrow::Cow<'static, str>,
    /// The template alone in a tera instance of its own: none of ours
    /// extends or includes another, and one instance per template lets each
    /// compile on its own, on first use, from any thread, without a lock
    /// held while rendering. The error is kept as text: tera's is not `Clone`.
    compiled: std::sync::OnceLock<Result<tera::Tera, String>>,
}

impl Template {
    fn new(source: std::borrow::Cow<'static, str>) -> Template {
        Template {
            source,
            compiled: std::sync::OnceLock::new(),
        }
    }

    fn compiled(&self, name: &str) -> Result<&tera::Tera, OutboundError> {
        self.compiled
            .get_or_init(|| {
                let mut tera = tera::Tera::default();
                // The name keeps its suffix: tera escapes `.html` by it.
                match template_syntax::parse(&self.source) {
                    Some(ast) => {
                        // What `Template::new` makes of a template without
                        // blocks, macros or `extends`, which the subset has none of.
                        let parsed = tera::Template {
                            name: name.to_string(),
                            path: None,
                            ast,
                            from_extend: false,
                            macros: Default::default(),
                            imported_macro_files: Vec::new(),
                            parent: None,
                            blocks: Default::default(),
                            parents: Vec::new(),
                            blocks_definitions: Default::default(),
                        };
                        tera.templates.insert(name.to_string(), parsed);
                        tera.build_inheritance_chains().map(|()| tera)
                    }
                    None => tera.add_raw_template(name, &self.source).map(|()| tera),
                }
                .map_err(|e| error_chain(&e))
            })
            .as_ref()
            .map_err(|message| OutboundError::Template {
                name: name.into(),
                message: message.clone(),
            })
    }
}

impl Renderer {
    /// The built-in templates, then every `*.txt`/`*.html` file below
    /// `dir` (if given and present), which override built-ins of the same name.
    pub fn new(dir: Option<&Path>) -> Result<Renderer, OutboundError> {
        Renderer::layered(dir)
    }

    /// The built-in templates, then each folder of `dirs` in order (a
    /// mailbox's after the desk's), each overriding what came before; a
    /// missing folder is skipped. Reads the files; compiles nothing.
    pub fn layered<'p>(
        dirs: impl IntoIterator<Item = &'p Path>,
    ) -> Result<Renderer, OutboundError> {
        let mut sources: BTreeMap<String, std::borrow::Cow<'static, str>> = BUILTIN
            .iter()
            .chain(BUILTIN_REPLIES)
            .map(|(n, s)| (n.to_string(), std::borrow::Cow::Borrowed(*s)))
            .collect();
        for dir in dirs.into_iter().filter(|d| d.is_dir()) {
            load_replies(dir, &mut sources)?;
            for lang in Lang::ALL {
                let sub = dir.join(lang.code());
                let Ok(entries) = std::fs::read_dir(&sub) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
                    if !matches!(ext, "txt" | "html") {
                        continue;
                    }
                    let source =
                        std::fs::read_to_string(&path).map_err(|source| OutboundError::Read {
                            path: path.clone(),
                            source,
                        })?;
                    let file = path
                        .file_name()
                        .and_then(|f| f.to_str())
                        .unwrap_or_default();
                    sources.insert(format!("{}/{file}", lang.code()), source.into());
                }
            }
        }
        let templates = sources
            .into_iter()
            .map(|(name, source)| (name, Template::new(source)))
            .collect();
        Ok(Renderer { templates })
    }

    /// Compiles every template now; the first that does not compile is
    /// the error, with its name. Returns how many there are.
    pub fn compile_all(&self) -> Result<usize, OutboundError> {
        for (name, t) in &self.templates {
            t.compiled(name)?;
        }
        Ok(self.templates.len())
    }

    /// Renders the text and (when the template exists) HTML body of a mail kind.
    pub fn render(
        &self,
        kind: &str,
        lang: Lang,
        vars: &serde_json::Value,
    ) -> Result<(String, Option<String>), OutboundError> {
        let ctx = tera::Context::from_value(vars.clone()).map_err(|e| OutboundError::Template {
            name: kind.into(),
            message: error_chain(&e),
        })?;
        let text_name = format!("{}/{kind}.txt", lang.code());
        let html_name = format!("{}/{kind}.html", lang.code());
        let text = self.render_one(&text_name, &ctx)?;
        let html = if self.has(&html_name) {
            Some(self.render_one(&html_name, &ctx)?)
        } else {
            None
        };
        Ok((text, html))
    }

    /// The canned replies there are (built in and in the templates folder).
    pub fn canned_catalog(&self) -> crate::desk::canned::Catalog {
        let mut c = crate::desk::canned::Catalog::default();
        for name in self.templates.keys() {
            if let Some((lang, reply)) = reply_name(name) {
                c.add(reply, lang);
            }
        }
        c
    }

    /// The canned reply `name` in `lang`, rendered with a mail's variables.
    pub fn render_canned(
        &self,
        name: &str,
        lang: Lang,
        vars: &serde_json::Value,
    ) -> Result<String, OutboundError> {
        let ctx = tera::Context::from_value(vars.clone()).map_err(|e| OutboundError::Template {
            name: name.into(),
            message: error_chain(&e),
        })?;
        self.render_one(&format!("replies/{}/{name}.txt", lang.code()), &ctx)
    }

    fn has(&self, name: &str) -> bool {
        self.templates.contains_key(name)
    }

    fn render_one(&self, name: &str, ctx: &tera::Context) -> Result<String, OutboundError> {
        let Some(t) = self.templates.get(name) else {
            return Err(OutboundError::Template {
                name: name.into(),
                message: "there is no such template".into(),
            });
        };
        t.compiled(name)?
            .render(name, ctx)
            .map_err(|e| OutboundError::Template {
                name: name.into(),
                message: error_chain(&e),
            })
    }

    /// Every template name, sorted.
    pub fn names(&self) -> Vec<String> {
        self.templates.keys().cloned().collect()
    }
}

/// Renders every template with the sample values of its kind
/// ([`crate::desk::mails::vars`]); returns how many rendered.
pub fn check_templates(r: &Renderer) -> Result<usize, String> {
    let mut n = 0;
    for name in r.names() {
        if name.starts_with("replies/") {
            // Canned replies render with what an agent's answer has.
            let ctx = tera::Context::from_value(crate::desk::mails::vars::samples("reply"))
                .map_err(|e| e.to_string())?;
            r.render_one(&name, &ctx).map_err(|e| e.to_string())?;
            n += 1;
            continue;
        }
        let Some((lang, file)) = name.split_once('/') else {
            continue;
        };
        let Some(kind) = file
            .strip_suffix(".txt")
            .or_else(|| file.strip_suffix(".html"))
        else {
            continue;
        };
        Lang::parse(lang).ok_or_else(|| format!("{name}: unknown language folder `{lang}`"))?;
        let ctx = tera::Context::from_value(crate::desk::mails::vars::samples(kind))
            .map_err(|e| e.to_string())?;
        r.render_one(&name, &ctx).map_err(|e| e.to_string())?;
        n += 1;
    }
    Ok(n)
}

/// `replies/LANG/NAME.txt` → (LANG, NAME).
fn reply_name(template: &str) -> Option<(Lang, &str)> {
    let rest = template.strip_prefix("replies/")?;
    let (lang, file) = rest.split_once('/')?;
    Some((Lang::parse(lang)?, file.strip_suffix(".txt")?))
}

/// Reads `dir/replies/LANG/*.txt`; a file whose name cannot be typed after
/// `#reply` is an error that names it, not a reply nobody can use.
fn load_replies(
    dir: &Path,
    sources: &mut BTreeMap<String, std::borrow::Cow<'static, str>>,
) -> Result<(), OutboundError> {
    for lang in Lang::ALL {
        let sub = dir.join("replies").join(lang.code());
        let Ok(entries) = std::fs::read_dir(&sub) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("txt") {
                continue;
            }
            let name = path
                .file_stem()
                .and_then(|f| f.to_str())
                .unwrap_or_default();
            if !crate::desk::canned::is_name(name) {
                return Err(OutboundError::Template {
                    name: path.display().to_string(),
                    message: "a canned reply's file name must be lowercase letters, digits and `-` (it is typed after #reply)".into(),
                });
            }
            let source = std::fs::read_to_string(&path).map_err(|source| OutboundError::Read {
                path: path.clone(),
                source,
            })?;
            sources.insert(format!("replies/{}/{name}.txt", lang.code()), source.into());
        }
    }
    Ok(())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// What a mail is, before it has bytes.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    pub from: &'a Mailbox,
    pub to: &'a [Mailbox],
    pub subject: &'a str,
    pub message_id: &'a str,
    pub in_reply_to: Option<&'a str>,
    pub references: &'a [String],
    /// `auto-replied` or `auto-generated`; `None` for mail a person wrote (relayed agent replies).
    pub auto_submitted: Option<&'a str>,
    /// Our Message-ID domain, written into the loop header.
    pub loop_marker: &'a str,
    pub date_ms: i64,
}

/// The longest line RFC 5322 allows in a message, without its CRLF.
const MAX_LINE: usize = 998;
/// The most characters of a Subject we write: the repeated subject's own
/// cap ([`crate::subject::MAX_REPEATED_CHARS`]) with room for the tag and a
/// reply prefix. Even one word this long fits a header line.
const MAX_SUBJECT_CHARS: usize = crate::subject::MAX_REPEATED_CHARS + 50;
/// The longest Message-ID we repeat in In-Reply-To or References. Real ones
/// are under 100 characters; a longer one is the sender's invention, and one
/// too long for a line would break RFC 5322's line limit, so it is left out.
const MAX_ID_LEN: usize = 250;
/// The longest address we write (RFC 5321's path limit, less the brackets).
const MAX_ADDRESS_LEN: usize = 254;

/// Builds the wire bytes of a mail.
///
/// Every value from outside is made fit for its header here, whatever the
/// caller did before: display names and the subject become one line
/// ([`crate::header::one_line`], capped), ids that are not plain printable
/// ASCII (or are absurdly long) are left out of In-Reply-To and References.
/// Nothing a sender wrote can make this panic or write a line over 998
/// characters; a message that would still break the line limit is an error.
pub fn build(env: &Envelope<'_>, text: &str, html: Option<&str>) -> Result<Vec<u8>, OutboundError> {
    let subject = crate::header::one_line(env.subject, MAX_SUBJECT_CHARS);
    let mut b = lettre::Message::builder()
        .from(lettre_mailbox(env.from)?)
        .subject(subject)
        .message_id(Some(format!("<{}>", env.message_id)))
        .date(std::time::UNIX_EPOCH + std::time::Duration::from_millis(env.date_ms.max(0) as u64));
    for to in env.to {
        b = b.to(lettre_mailbox(to)?);
    }
    if let Some(irt) = env.in_reply_to.filter(|id| usable_id(id)) {
        b = b.in_reply_to(format!("<{irt}>"));
    }
    let refs: Vec<String> = env
        .references
        .iter()
        .filter(|id| usable_id(id))
        .map(|r| format!("<{r}>"))
        .collect();
    if !refs.is_empty() {
        b = b.references(refs.join(" "));
    }
    if let Some(auto) = env.auto_submitted {
        b = b.raw_header(raw_header("Auto-Submitted", auto));
    }
    b = b
        .raw_header(raw_header("X-Auto-Response-Suppress", "All"))
        .raw_header(raw_header(LOOP_HEADER, env.loop_marker));
    let text_part = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(text.to_string());
    let msg = match html {
        Some(h) => b.multipart(
            MultiPart::alternative().singlepart(text_part).singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(h.to_string()),
            ),
        ),
        None => b.singlepart(text_part),
    }
    .map_err(|e| OutboundError::Build(e.to_string()))?;
    let raw = msg.formatted();
    check_lines(&raw)?;
    Ok(raw)
}

/// A Message-ID we can repeat: printable ASCII without spaces or angle
/// brackets, of a sane length.
fn usable_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
}

/// Every line ends in CRLF and is at most [`MAX_LINE`] characters: the
/// promise of [`build`], checked on its bytes so no mistake here (or in
/// lettre) can put a malformed mail into the outbox.
fn check_lines(raw: &[u8]) -> Result<(), OutboundError> {
    let mut lines = raw.split(|&b| b == b'\n').enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let last = lines.peek().is_none();
        let line = match line.strip_suffix(b"\r") {
            Some(l) => l,
            None if last => line,
            None => {
                return Err(OutboundError::Build(format!(
                    "line {} ends in a bare LF",
                    i + 1
                )));
            }
        };
        if line.contains(&b'\r') {
            return Err(OutboundError::Build(format!(
                "line {} holds a bare CR",
                i + 1
            )));
        }
        if line.len() > MAX_LINE {
            return Err(OutboundError::Build(format!(
                "line {} is {} characters long (RFC 5322 allows {MAX_LINE})",
                i + 1,
                line.len()
            )));
        }
    }
    Ok(())
}

fn raw_header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(
        HeaderName::new_from_ascii_str(name),
        crate::header::one_line(value, MAX_SUBJECT_CHARS).into_owned(),
    )
}

/// Our mailbox as lettre's, its name made one line again: a name stored
/// before names were cleaned at parse time, or built without
/// [`Mailbox::new`], reaches here as it is.
fn lettre_mailbox(m: &Mailbox) -> Result<LettreMailbox, OutboundError> {
    if m.address.len() > MAX_ADDRESS_LEN {
        return Err(OutboundError::Address(m.address.chars().take(80).collect()));
    }
    let addr = m
        .address
        .parse()
        .map_err(|_| OutboundError::Address(m.address.clone()))?;
    let name = m
        .name
        .as_deref()
        .map(|n| crate::header::one_line(n, crate::address::MAX_NAME_CHARS))
        .filter(|n| !n.is_empty())
        .map(|n| n.into_owned());
    Ok(LettreMailbox::new(name, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> serde_json::Value {
        serde_json::json!({
            "desk_name": "IT Desk",
            "requester_name": "Li <Wei>",
            "tag": "[#7]",
            "subject": "Printer <broken> & more",
            "summary": "It prints nothing.",
            "attachments": ["photo.jpg"],
            "reply_by": "Monday 30 Nov 10:00 (UTC)",
        })
    }

    #[test]
    fn builtins_render_in_both_languages_and_escape_html() {
        let r = Renderer::new(None).unwrap();
        for lang in Lang::ALL {
            let (text, html) = r.render("ack", lang, &vars()).unwrap();
            assert!(text.contains("[#7]"), "{text}");
            assert!(
                text.contains("Printer <broken> & more"),
                "text is not escaped: {text}"
            );
            let html = html.unwrap();
            assert!(
                html.contains("Printer &lt;broken&gt; &amp; more"),
                "html is escaped: {html}"
            );
            assert!(!html.contains("<broken>"));
        }
        let (zh, _) = r.render("ack", Lang::ZhCn, &vars()).unwrap();
        assert!(zh.contains("工单"), "{zh}");
    }

    /// The approver's mail in HTML: the two links clickable (their `&`
    /// escaped as an attribute needs), the request's text kept as written.
    #[test]
    fn the_approvers_html_has_clickable_links_and_the_request() {
        let r = Renderer::new(None).unwrap();
        let mut vars = crate::desk::mails::vars::samples("approval-request");
        vars["request"] = "Two <servers> & a switch,\nbefore the audit.".into();
        for (lang, approve) in [(Lang::En, ">Approve<"), (Lang::ZhCn, ">批准<")] {
            let (text, html) = r.render("approval-request", lang, &vars).unwrap();
            let html = html.expect("an HTML part");
            assert!(
                html.contains(
                    "<a href=\"mailto:helpdesk@example.com?subject=%5B%231042%5D%20approve%20pdap-0123456789abcdef&amp;body=approve\">"
                ),
                "{html}"
            );
            assert!(html.contains("reject%20pdap-0123456789abcdef&amp;body=reject"));
            assert!(html.contains(approve), "{html}");
            assert!(
                html.contains("Two &lt;servers&gt; &amp; a switch,\nbefore the audit."),
                "{html}"
            );
            assert!(text.contains("Two <servers> & a switch,"), "{text}");
        }
    }

    /// Every string a template is given, made hostile: the same markup in
    /// each, numbered so a template that shows a value shows which.
    fn hostile(v: &serde_json::Value, n: &mut usize) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::String(_) => {
                *n += 1;
                Value::String(format!("<script>x{n}</script><b onclick=\"y\">&'"))
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| hostile(x, n)).collect()),
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, x)| (k.clone(), hostile(x, n))).collect())
            }
            other => other.clone(),
        }
    }

    #[test]
    fn every_html_template_escapes_what_users_wrote() {
        let r = Renderer::new(None).unwrap();
        let mut html_templates = 0;
        for kind in crate::desk::mails::vars::KINDS {
            for lang in Lang::ALL {
                let vars = hostile(&crate::desk::mails::vars::samples(kind.name), &mut 0);
                let (_, html) = r.render(kind.name, lang, &vars).unwrap();
                let Some(html) = html else { continue };
                html_templates += 1;
                let what = format!("{}/{}.html", lang.code(), kind.name);
                assert!(
                    !html.contains("<script>"),
                    "{what} lets markup through:\n{html}"
                );
                assert!(
                    !html.contains("onclick=\""),
                    "{what} lets an attribute through"
                );
                assert!(
                    html.contains("&lt;script&gt;x"),
                    "{what} shows no user text at all?\n{html}"
                );
            }
        }
        // ack, reply, resolved and survey, in both languages.
        assert!(html_templates >= 8, "only {html_templates} HTML templates");
    }

    #[test]
    fn every_builtin_template_renders_with_sample_values() {
        let r = Renderer::new(None).unwrap();
        assert_eq!(
            check_templates(&r).unwrap(),
            BUILTIN.len() + BUILTIN_REPLIES.len()
        );
    }

    #[test]
    fn canned_replies_load_from_the_folder_render_and_bad_names_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let en = dir.path().join("replies").join("en");
        std::fs::create_dir_all(&en).unwrap();
        std::fs::write(
            en.join("vpn-reset.txt"),
            "Reset {{ tag }} for {{ requester_name }}.",
        )
        .unwrap();
        let r = Renderer::new(Some(dir.path())).unwrap();
        let c = r.canned_catalog();
        let names: Vec<&str> = c.entries().map(|(n, _)| n).collect();
        assert_eq!(names, ["more-info", "vpn-reset"]);
        assert_eq!(c.check("more-info", Lang::ZhCn), Ok(()));
        assert!(
            c.check("vpn-reset", Lang::ZhCn).is_err(),
            "written in English only"
        );
        let vars = crate::desk::mails::vars::samples("reply");
        let text = r.render_canned("vpn-reset", Lang::En, &vars).unwrap();
        assert!(text.starts_with("Reset [#"), "{text}");
        assert_eq!(
            check_templates(&r).unwrap(),
            BUILTIN.len() + BUILTIN_REPLIES.len() + 1
        );

        std::fs::write(en.join("VPN Reset.txt"), "x").unwrap();
        let err = Renderer::new(Some(dir.path())).err().unwrap().to_string();
        assert!(
            err.contains("VPN Reset.txt") && err.contains("lowercase"),
            "{err}"
        );
    }

    #[test]
    fn folder_overrides_one_template() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("en")).unwrap();
        std::fs::write(dir.path().join("en/ack.txt"), "Custom {{ tag }}").unwrap();
        let r = Renderer::new(Some(dir.path())).unwrap();
        let (text, html) = r.render("ack", Lang::En, &vars()).unwrap();
        assert_eq!(text, "Custom [#7]");
        assert!(
            html.unwrap().contains("IT Desk"),
            "the html built-in is still there"
        );
    }

    #[test]
    fn broken_override_is_a_named_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("en")).unwrap();
        std::fs::write(dir.path().join("en/ack.txt"), "{% if %}").unwrap();
        let r = Renderer::new(Some(dir.path())).unwrap();
        let err = r.compile_all().err().unwrap().to_string();
        assert!(err.contains("en/ack.txt"), "{err}");
        // Compiled on first use: the other templates render, and the broken
        // one is the same named error each time it is asked for.
        let reply = crate::desk::mails::vars::samples("reply");
        r.render("reply", Lang::En, &reply).unwrap();
        for _ in 0..2 {
            let err = r
                .render("ack", Lang::En, &vars())
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains("en/ack.txt"), "{err}");
        }
    }

    #[test]
    fn a_template_changed_on_disk_is_seen_by_the_next_renderer_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("en")).unwrap();
        let file = dir.path().join("en/ack.txt");
        std::fs::write(&file, "First {{ tag }}").unwrap();
        let before = Renderer::new(Some(dir.path())).unwrap();
        std::fs::write(&file, "Second {{ tag }}").unwrap();
        // `before` compiles now, after the change: from what it read when made.
        assert_eq!(
            before.render("ack", Lang::En, &vars()).unwrap().0,
            "First [#7]"
        );
        let after = Renderer::new(Some(dir.path())).unwrap();
        assert_eq!(
            after.render("ack", Lang::En, &vars()).unwrap().0,
            "Second [#7]"
        );
        assert_eq!(
            before.render("ack", Lang::En, &vars()).unwrap().0,
            "First [#7]"
        );
    }

    #[test]
    fn a_template_compiled_on_first_use_renders_as_one_compiled_up_front() {
        let lazy = Renderer::new(None).unwrap();
        let eager = Renderer::new(None).unwrap();
        assert_eq!(eager.compile_all().unwrap(), eager.names().len());
        for lang in [Lang::En, Lang::ZhCn] {
            let (a, b) = (
                lazy.render("ack", lang, &vars()).unwrap(),
                eager.render("ack", lang, &vars()).unwrap(),
            );
            assert_eq!(a, b);
            assert!(a.1.is_some(), "ack has an HTML part");
        }
        let err = lazy
            .render("no-such-kind", Lang::En, &vars())
            .err()
            .unwrap();
        assert!(err.to_string().contains("en/no-such-kind.txt"), "{err}");
    }

    #[test]
    fn built_mail_has_threading_and_loop_headers() {
        let from = Mailbox::new(Some("IT Desk"), "helpdesk@example.test");
        let to = [Mailbox::new(Some("李伟"), "li@example.cn")];
        let refs = vec!["a@x".to_string(), "b@x".to_string()];
        let env = Envelope {
            from: &from,
            to: &to,
            subject: "[#7] 打印机坏了",
            message_id: "pd.7.1.0.ff@example.test",
            in_reply_to: Some("b@x"),
            references: &refs,
            auto_submitted: Some("auto-replied"),
            loop_marker: "example.test",
            date_ms: 1_800_000_000_000,
        };
        let raw = build(&env, "正文", Some("<p>正文</p>")).unwrap();
        let parsed = crate::inbound::parse(&raw).unwrap();
        assert_eq!(parsed.subject, "[#7] 打印机坏了");
        assert_eq!(parsed.message_id, "pd.7.1.0.ff@example.test");
        assert_eq!(parsed.in_reply_to, vec!["b@x"]);
        assert_eq!(parsed.references, vec!["a@x", "b@x"]);
        assert_eq!(parsed.text.trim(), "正文");
        let head = String::from_utf8_lossy(&raw);
        assert!(head.contains("Auto-Submitted: auto-replied"), "{head}");
        assert!(head.contains("X-Auto-Response-Suppress: All"));
        assert!(head.contains("X-Postdesk-Loop: example.test"));
    }
}

#[cfg(test)]
mod hostile_tests {
    use super::*;

    /// Every line of `raw` ends in CRLF, has no bare CR or LF, and is within
    /// RFC 5322's 998 characters.
    fn assert_well_formed(raw: &[u8]) {
        for (i, line) in raw.split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            assert!(!line.contains(&b'\r'), "bare CR on line {i}");
            assert!(line.len() <= 998, "line {i} has {} bytes", line.len());
        }
    }

    fn envelope<'a>(to: &'a [Mailbox], subject: &'a str, refs: &'a [String]) -> Envelope<'a> {
        static FROM: std::sync::LazyLock<Mailbox> =
            std::sync::LazyLock::new(|| Mailbox::new(Some("IT Desk"), "helpdesk@example.test"));
        Envelope {
            from: &FROM,
            to,
            subject,
            message_id: "pd.7.1.0.ff@example.test",
            in_reply_to: refs.last().map(String::as_str),
            references: refs,
            auto_submitted: Some("auto-replied"),
            loop_marker: "example.test",
            date_ms: 1_800_000_000_000,
        }
    }

    #[test]
    fn control_characters_in_a_display_name_cannot_break_the_header() {
        // Built as a struct, not with `Mailbox::new`: a name stored before
        // names were cleaned at parse time reaches the builder like this.
        for name in [
            "Evil\r\nBcc: victim@corp.test",
            "Evil\nBcc: victim@corp.test",
            "Evil\rX",
            "Nul\0Tab\tEsc\u{1b}[31mDel\u{7f}Nel\u{85}Ls\u{2028}",
            "\r\n",
        ] {
            let to = [Mailbox {
                name: Some(name.to_string()),
                address: "ann@corp.test".into(),
            }];
            let raw = build(&envelope(&to, "Hello", &[]), "text", None)
                .unwrap_or_else(|e| panic!("{name:?}: {e}"));
            assert_well_formed(&raw);
            let head = String::from_utf8_lossy(&raw);
            assert!(
                !head.contains("\r\nBcc:"),
                "{name:?} injected a header: {head}"
            );
            let parsed = crate::inbound::parse(&raw).unwrap();
            assert_eq!(parsed.to.len(), 1, "{name:?}: {head}");
            assert_eq!(parsed.to[0].address, "ann@corp.test");
        }
    }

    #[test]
    fn hostile_subjects_and_ids_stay_in_their_headers() {
        let to = [Mailbox::new(Some("Ann"), "ann@corp.test")];
        let refs = vec![
            "a@x".to_string(),
            "b@x>\r\nBcc: victim@corp.test".to_string(),
            "c d@x".to_string(),
            "x".repeat(5000) + "@x",
        ];
        let raw = build(
            &envelope(&to, "Hi\r\nBcc: victim@corp.test\0\u{1b}]0;x\u{7}", &refs),
            "text",
            None,
        )
        .unwrap();
        assert_well_formed(&raw);
        let head = String::from_utf8_lossy(&raw);
        assert!(!head.contains("\r\nBcc:"), "{head}");
        let parsed = crate::inbound::parse(&raw).unwrap();
        assert!(
            parsed.subject.starts_with("Hi Bcc: victim@corp.test"),
            "{}",
            parsed.subject
        );
        assert!(
            parsed.references.contains(&"a@x".to_string()),
            "{:?}",
            parsed.references
        );
    }

    #[test]
    fn a_huge_subject_is_capped_and_folded() {
        let to = [Mailbox::new(Some("Ann"), "ann@corp.test")];
        for subject in [
            "x".repeat(5 << 20),
            "word ".repeat(1 << 20),
            "打印机".repeat(1 << 20),
        ] {
            let raw = build(&envelope(&to, &subject, &[]), "text", None).unwrap();
            assert_well_formed(&raw);
            assert!(raw.len() < 8 << 10, "{} bytes out", raw.len());
            let parsed = crate::inbound::parse(&raw).unwrap();
            assert!(
                parsed.subject.chars().count() <= MAX_SUBJECT_CHARS,
                "{}",
                parsed.subject.chars().count()
            );
        }
    }

    #[test]
    fn lines_are_checked_on_the_built_bytes() {
        assert!(check_lines(b"A: b\r\n\r\nbody\r\n").is_ok());
        assert!(check_lines(b"A: b\r\n\r\nno end").is_ok());
        assert!(check_lines(b"A: b\nB: c\r\n").is_err());
        assert!(check_lines(b"A: b\rB: c\r\n").is_err());
        let long = format!("A: {}\r\n", "x".repeat(996));
        assert!(check_lines(long.as_bytes()).is_err());
        assert!(check_lines(&long.as_bytes()[1..]).is_ok());
    }

    #[test]
    fn a_huge_display_name_is_capped() {
        let to = [Mailbox {
            name: Some("n".repeat(1 << 20)),
            address: "ann@corp.test".into(),
        }];
        let raw = build(&envelope(&to, "Hello", &[]), "text", None).unwrap();
        assert_well_formed(&raw);
        assert!(raw.len() < 8 << 10, "{} bytes out", raw.len());
    }
}
