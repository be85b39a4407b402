//! Agent commands: the `#resolve`, `#priority high`, `#优先级：高` lines at
//! the top of an agent's reply, and the same keywords in a subject.
//!
//! The syntax, chosen so that agents can type it from memory on a phone:
//! - one command per line: `#keyword`, then a value on the same line if the
//!   command takes one; `＃` and `：` (full-width) work like `#` and `:`,
//!   keywords ignore case, and every keyword has a Chinese form;
//! - only the top of the reply counts: blank lines are skipped, and the first
//!   line that is not a command ends the block; from there on it is the text
//!   of the reply ([`CommandBlock::rest`]);
//! - `#1042`, a lone `#` and `# Heading` are ordinary text, not commands;
//! - a line shaped like a command that is not a valid one (`#resolv`,
//!   `#priority` without a value) is refused with a reason, and is never
//!   relayed to the requester.
//!
//! Values are checked here only as far as syntax goes. Whether `alice` is an
//! agent or `network` a category is for the caller, who has the config; so is
//! who may run which command.
//!
//! Feed [`parse_block`] the new text of the reply (see
//! [`crate::desk::quote::new_text`]), not the raw body.

use std::str::FromStr;

use crate::desk::ticket::{Priority, Status};
use crate::lang::Lang;

/// One change an agent asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `#resolve`, `#resolved`, `#solved`, `#fixed`, `#解决`, `#已解决`
    Resolve,
    /// `#pending`, `#wait`, `#待定`, `#等待`, `#挂起`
    Pending,
    /// `#close`, `#closed`, `#关闭`
    Close,
    /// `#reopen`, `#重开`, `#重新打开`
    Reopen,
    /// `#open`, `#处理中`, `#打开`
    Open,
    /// `#priority high`, `#prio p2`, `#p1`…`#p4`, `#urgent`, `#优先级 高`, `#紧急`
    Priority(Priority),
    /// `#category network`, `#分类 网络`: the name as written, to be checked against the config.
    Category(String),
    /// `#assign alice`, `#assign alice@example.com`, `#分配 王强`: a name or address, to be checked.
    Assign(String),
    /// `#take`, `#mine`, `#接单`, `#认领`, `#我来`: assign to the sender.
    Take,
    /// `#escalate L2`, `#escalate network`, `#升级 二线`: a tier or a team, to be checked.
    Escalate(String),
    /// `#note`, `#internal`, `#备注`, `#内部`: the rest of the mail is an internal note.
    Note,
    /// `#cc add x@example.com`, `#cc x@example.com`, `#cc +x@…`, `#抄送 添加 x@…`
    CcAdd(String),
    /// `#cc remove x@example.com`, `#cc -x@example.com`, `#抄送 删除 x@…`
    CcRemove(String),
    /// `#kb publish`, `#kb skip`, or a `#kb` … `#end` block.
    Kb(KbAction),
    /// `#secret TOKEN`, `#token TOKEN`, `#密钥 TOKEN`: the agent's shared
    /// secret, proving the mail is theirs. Not a change to the ticket.
    Secret(String),
    /// `#spam`, `#垃圾邮件`: the ticket is spam (and, with rspamd, teach it).
    Spam,
    /// `#notspam`, `#not-spam`, `#非垃圾邮件`, `#不是垃圾邮件`: it is not
    /// spam after all: back to new, acknowledged, taught as ham.
    NotSpam,
    /// `#time 30m`, `#工时 1h30m`: minutes worked on the ticket by the
    /// sender (forms in [`crate::desk::timelog`]).
    Time(u32),
    /// `#reply NAME`, `#回复 NAME`: answer with the canned reply `NAME`
    /// (templates/replies/), after the text written above it.
    Reply(String),
    /// `#new someone@corp.example.com`, `#新建 …`: as the first line of a
    /// new mail to the desk, open a ticket for that person with the rest
    /// of the mail as the request.
    New(String),
    /// `#quiet`, `#静默`: a ticket opened on someone's behalf sends them no
    /// acknowledgement.
    Quiet,
    /// `#merge 1042`, `#merge 1042 force`, `#合并 1042`, `#合并 1042 强制`:
    /// this ticket goes into 1042 ([`crate::desk::merge`]).
    Merge { into: i64, force: bool },
    /// `#split`, `#拆分`: the mail this reply answers, and what came after
    /// it, becomes a ticket of its own ([`crate::desk::merge`]).
    Split,
    /// `#approval boss@example.com reason`, `#审批 boss@example.com 原因`:
    /// ask that person to approve ([`crate::desk::approval`]).
    Approval { approver: String, reason: String },
    /// `#queue`, `#我的工单`, as a new mail: the agent's open tickets ([`crate::desk::listing`]).
    Queue,
    /// `#status`, `#状态`, as a new mail: the requester's open tickets ([`crate::desk::listing`]).
    Status,
}

impl Command {
    /// The English keyword of the command, for logs and audit entries.
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::Resolve => "resolve",
            Command::Pending => "pending",
            Command::Close => "close",
            Command::Reopen => "reopen",
            Command::Open => "open",
            Command::Priority(_) => "priority",
            Command::Category(_) => "category",
            Command::Assign(_) => "assign",
            Command::Take => "take",
            Command::Escalate(_) => "escalate",
            Command::Note => "note",
            Command::CcAdd(_) | Command::CcRemove(_) => "cc",
            Command::Kb(_) => "kb",
            Command::Secret(_) => "secret",
            Command::Spam => "spam",
            Command::NotSpam => "notspam",
            Command::Time(_) => "time",
            Command::Reply(_) => "reply",
            Command::New(_) => "new",
            Command::Quiet => "quiet",
            Command::Merge { .. } => "merge",
            Command::Split => "split",
            Command::Approval { .. } => "approval",
            Command::Queue => "queue",
            Command::Status => "status",
        }
    }
}

/// What to do with the knowledge base for this ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KbAction {
    /// Publish the resolution as an article.
    Publish,
    /// Do not make an article of this ticket.
    Skip,
    /// The article text, written between `#kb` and `#end`.
    Text(String),
}

/// A command and the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub command: Command,
    /// The line as the agent wrote it, trimmed (for a subject: the tokens used).
    pub line: String,
}

/// A line that looked like a command but could not be one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The line as the agent wrote it, trimmed.
    pub line: String,
    /// Why, in a sentence fit for a reply to the agent.
    pub reason: String,
}

/// The commands at the top of a reply, and the text after them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandBlock {
    /// Valid commands, in the order written.
    pub commands: Vec<Parsed>,
    /// Command-shaped lines that were refused, in the order written.
    pub refused: Vec<Refused>,
    /// The text after the command lines: what to relay (or, with
    /// `internal_note`, to keep as a note). Text written on the `#note` line
    /// itself comes first.
    pub rest: String,
    /// A `#note` was among the commands: `rest` must not reach the requester.
    pub internal_note: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Resolve,
    Pending,
    Close,
    Reopen,
    Open,
    Priority,
    Urgency(Priority),
    Category,
    Assign,
    Take,
    Escalate,
    Note,
    Cc,
    Kb,
    Secret,
    Spam,
    NotSpam,
    Time,
    Reply,
    New,
    Quiet,
    Merge,
    Split,
    Approval,
    Queue,
    StatusList,
    /// `#end`: closes a `#kb` block.
    End,
}

/// Every keyword, lowercase. Past tenses are here because agents write them
/// (`#resolved`) and refusing them as typos would only annoy.
const KEYWORDS: &[(&str, Kind)] = &[
    ("resolve", Kind::Resolve),
    ("resolved", Kind::Resolve),
    ("solved", Kind::Resolve),
    ("fixed", Kind::Resolve),
    ("解决", Kind::Resolve),
    ("已解决", Kind::Resolve),
    ("pending", Kind::Pending),
    ("wait", Kind::Pending),
    ("待定", Kind::Pending),
    ("等待", Kind::Pending),
    ("挂起", Kind::Pending),
    ("close", Kind::Close),
    ("closed", Kind::Close),
    ("关闭", Kind::Close),
    ("reopen", Kind::Reopen),
    ("重开", Kind::Reopen),
    ("重新打开", Kind::Reopen),
    ("open", Kind::Open),
    ("处理中", Kind::Open),
    ("打开", Kind::Open),
    ("priority", Kind::Priority),
    ("prio", Kind::Priority),
    ("优先级", Kind::Priority),
    ("p1", Kind::Urgency(Priority::P1)),
    ("p2", Kind::Urgency(Priority::P2)),
    ("p3", Kind::Urgency(Priority::P3)),
    ("p4", Kind::Urgency(Priority::P4)),
    ("urgent", Kind::Urgency(Priority::P1)),
    ("紧急", Kind::Urgency(Priority::P1)),
    ("category", Kind::Category),
    ("分类", Kind::Category),
    ("类别", Kind::Category),
    ("assign", Kind::Assign),
    ("分配", Kind::Assign),
    ("指派", Kind::Assign),
    ("take", Kind::Take),
    ("mine", Kind::Take),
    ("接单", Kind::Take),
    ("认领", Kind::Take),
    ("我来", Kind::Take),
    ("escalate", Kind::Escalate),
    ("升级", Kind::Escalate),
    ("note", Kind::Note),
    ("internal", Kind::Note),
    ("备注", Kind::Note),
    ("内部", Kind::Note),
    ("cc", Kind::Cc),
    ("抄送", Kind::Cc),
    ("kb", Kind::Kb),
    ("知识库", Kind::Kb),
    ("secret", Kind::Secret),
    ("token", Kind::Secret),
    ("密钥", Kind::Secret),
    ("spam", Kind::Spam),
    ("垃圾邮件", Kind::Spam),
    ("notspam", Kind::NotSpam),
    ("not-spam", Kind::NotSpam),
    ("非垃圾邮件", Kind::NotSpam),
    ("不是垃圾邮件", Kind::NotSpam),
    ("time", Kind::Time),
    ("工时", Kind::Time),
    ("reply", Kind::Reply),
    ("回复", Kind::Reply),
    ("new", Kind::New),
    ("新建", Kind::New),
    ("quiet", Kind::Quiet),
    ("静默", Kind::Quiet),
    ("merge", Kind::Merge),
    ("合并", Kind::Merge),
    ("split", Kind::Split),
    ("拆分", Kind::Split),
    ("approval", Kind::Approval),
    ("审批", Kind::Approval),
    ("queue", Kind::Queue),
    ("我的工单", Kind::Queue),
    ("status", Kind::StatusList),
    ("状态", Kind::StatusList),
    ("end", Kind::End),
    ("结束", Kind::End),
];

const COMMAND_LIST: &str = "#resolve, #pending, #close, #reopen, #open, #priority, #p1-#p4, \
     #category, #assign, #take, #escalate, #note, #cc, #kb, #secret, #spam, #notspam,
     #time, #reply, #new, #quiet, #merge, #split, #approval, #queue, #status";

const PRIORITY_VALUES: &str = "critical, high, normal, low or P1-P4";

fn lookup(keyword: &str) -> Option<Kind> {
    KEYWORDS
        .iter()
        .find(|(word, _)| *word == keyword)
        .map(|&(_, kind)| kind)
}

/// A command line taken apart.
struct Words<'a> {
    /// The keyword as written, without `#` (for messages).
    typed: &'a str,
    /// The keyword folded for lookup: ASCII, lowercase, trailing punctuation dropped.
    folded: String,
    /// The value after the keyword and its separator, trimmed.
    value: &'a str,
}

/// Takes a `#keyword value` line apart; `None` if the line is not shaped like
/// a command: no `#`, or `#` followed by a digit (`#1042`), a space
/// (`# Heading`), another `#`, or nothing.
fn split_command(line: &str) -> Option<Words<'_>> {
    let body = line.strip_prefix('#').or_else(|| line.strip_prefix('＃'))?;
    if !body.chars().next()?.is_alphabetic() {
        return None;
    }
    let end = body
        .find(|c: char| c.is_whitespace() || c == ':' || c == '：')
        .unwrap_or(body.len());
    let typed = &body[..end];
    let rest = body[end..].trim_start();
    let value = rest
        .strip_prefix(':')
        .or_else(|| rest.strip_prefix('：'))
        .unwrap_or(rest)
        .trim();
    let folded = fold(typed)
        .trim_end_matches(is_sentence_punctuation)
        .to_string();
    Some(Words {
        typed,
        folded,
        value,
    })
}

/// Full-width ASCII forms (`ｒｅｓｏｌｖｅ`, `Ｐ１`, `＠`) to ASCII, then lowercase.
fn fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .collect::<String>()
        .to_lowercase()
}

fn is_sentence_punctuation(c: char) -> bool {
    matches!(
        c,
        '.' | ',' | ';' | '!' | '?' | '。' | '，' | '；' | '！' | '？' | '、'
    )
}

/// The kind of command and its value. Chinese is written without spaces, so
/// `#优先级高` and `#分配王强` are read as keyword plus value.
fn find_kind(words: &Words<'_>) -> Option<(Kind, String)> {
    if let Some(kind) = lookup(&words.folded) {
        return Some((kind, words.value.to_string()));
    }
    let (word, kind) = KEYWORDS
        .iter()
        .filter(|(word, _)| !word.is_ascii() && words.typed.starts_with(word))
        .max_by_key(|(word, _)| word.len())?;
    let glued = &words.typed[word.len()..];
    let value = if words.value.is_empty() {
        glued.to_string()
    } else {
        format!("{glued} {}", words.value)
    };
    Some((*kind, value))
}

/// What a valid command line asks for.
enum Built {
    Commands(Vec<Command>),
    /// `#kb` alone: the lines below, up to `#end`, are the article.
    KbBlock,
}

/// Builds the command for `kind` from its value, or says why it cannot.
/// `typed` is the keyword as the agent wrote it, for messages.
fn build(kind: Kind, typed: &str, value: &str) -> Result<Built, String> {
    let value = value.trim();
    let one = |c: Command| Ok(Built::Commands(vec![c]));
    let no_value = |c: Command| {
        // A full stop after `#resolve.` is no value.
        if value.chars().all(is_sentence_punctuation) {
            one(c)
        } else {
            Err(format!(
                "`#{typed}` takes no value; write your text on the next line"
            ))
        }
    };
    let required = |example: &str| -> Result<(), String> {
        if value.is_empty() {
            Err(format!("`#{typed}` needs {example}"))
        } else {
            Ok(())
        }
    };
    match kind {
        Kind::Resolve => no_value(Command::Resolve),
        Kind::Pending => no_value(Command::Pending),
        Kind::Close => no_value(Command::Close),
        Kind::Reopen => no_value(Command::Reopen),
        Kind::Open => no_value(Command::Open),
        Kind::Take => no_value(Command::Take),
        Kind::Spam => no_value(Command::Spam),
        Kind::NotSpam => no_value(Command::NotSpam),
        Kind::Urgency(p) => no_value(Command::Priority(p)),
        Kind::Note => one(Command::Note),
        Kind::Priority => {
            if value.is_empty() {
                return Err(format!("`#{typed}` needs a value: {PRIORITY_VALUES}"));
            }
            match Priority::from_str(&fold(value)) {
                Ok(p) => one(Command::Priority(p)),
                Err(_) => Err(format!(
                    "`#{typed}`: unknown priority `{value}`; use {PRIORITY_VALUES}"
                )),
            }
        }
        Kind::Category => {
            required("a category, e.g. `#category network`")?;
            one(Command::Category(value.to_string()))
        }
        Kind::Assign => {
            required("an agent's name or e-mail address, e.g. `#assign alice`")?;
            one(Command::Assign(fold_ascii_forms(value)))
        }
        Kind::Escalate => {
            required("a tier or team, e.g. `#escalate L2`")?;
            one(Command::Escalate(value.to_string()))
        }
        Kind::Secret => {
            required("your token, e.g. `#secret 7f3a…`")?;
            one(Command::Secret(fold_ascii_forms(value)))
        }
        Kind::Cc => cc(typed, value).map(Built::Commands),
        Kind::Time => {
            required("the time worked, e.g. `#time 30m`, `#time 1h30m` or `#time 1.5h`")?;
            let minutes = crate::desk::timelog::parse_minutes(value)
                .map_err(|why| format!("`#{typed}`: {why}"))?;
            one(Command::Time(minutes))
        }
        Kind::Reply => {
            required(
                "the name of a canned reply, e.g. `#reply restart` (`postdesk replies` lists them)",
            )?;
            let name = fold(value);
            if !crate::desk::canned::is_name(&name) {
                return Err(format!(
                    "`#{typed}`: `{value}` is not a reply name (letters, digits and `-`)"
                ));
            }
            one(Command::Reply(name))
        }
        Kind::New => {
            required("the requester's address, e.g. `#new someone@corp.example.com`")?;
            let address = fold_ascii_forms(value);
            let address = address.trim_start_matches('<').trim_end_matches('>');
            if !is_address(address) {
                return Err(format!(
                    "`#{typed}`: `{value}` is not an e-mail address; write `#new someone@corp.example.com`"
                ));
            }
            one(Command::New(address.to_string()))
        }
        Kind::Quiet => no_value(Command::Quiet),
        Kind::Split => no_value(Command::Split),
        Kind::Queue => no_value(Command::Queue),
        Kind::StatusList => no_value(Command::Status),
        Kind::Merge => merge_value(typed, value).map(|c| Built::Commands(vec![c])),
        Kind::Approval => {
            approval_value(typed, &fold_ascii_forms(value)).map(|c| Built::Commands(vec![c]))
        }
        Kind::Kb => match fold(value).as_str() {
            "" => Ok(Built::KbBlock),
            "publish" | "发布" => one(Command::Kb(KbAction::Publish)),
            "skip" | "跳过" => one(Command::Kb(KbAction::Skip)),
            _ => Err(format!(
                "`#{typed}` takes `publish`, `skip`, or nothing (then the lines below, up to `#end`, are the article)"
            )),
        },
        Kind::End => Err(format!("`#{typed}` closes a `#kb` block, but none is open")),
    }
}

/// `#merge 1042`, `#merge #1042`, `#merge [#1042] force`, `#合并 1042 强制`.
fn merge_value(typed: &str, value: &str) -> Result<Command, String> {
    let usage = format!("`#{typed}` needs a ticket number, e.g. `#{typed} 1042`");
    let mut words = value.split_whitespace();
    let number = words.next().ok_or_else(|| usage.clone())?;
    let digits = number
        .trim_start_matches(['[', '#', '＃'])
        .trim_end_matches([']', '.', ',', '。']);
    let into: i64 = digits
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`#{typed}`: `{number}` is not a ticket number; {usage}"))?;
    let force = match words.next().map(str::to_lowercase).as_deref() {
        None => false,
        Some("force" | "强制") => true,
        Some(other) => {
            return Err(format!(
                "`#{typed}`: unexpected `{other}`; write `#{typed} {into}` or `#{typed} {into} force`"
            ));
        }
    };
    if words.next().is_some() {
        return Err(format!(
            "`#{typed}` takes a ticket number and optionally `force`"
        ));
    }
    Ok(Command::Merge { into, force })
}

/// `#approval boss@example.com [reason]`, or `#approval [reason]` for the
/// approver the config names for the ticket's category (an empty approver).
fn approval_value(typed: &str, value: &str) -> Result<Command, String> {
    let mut parts = value.trim().splitn(2, char::is_whitespace);
    let first = parts.next().unwrap_or("");
    if !first.contains('@') {
        return Ok(Command::Approval {
            approver: String::new(),
            reason: value.trim().to_string(),
        });
    }
    let address = first.trim_matches(['<', '>']);
    if !is_address(address) {
        return Err(format!(
            "`#{typed}`: `{first}` is not an e-mail address; write `#{typed} boss@example.com reason`"
        ));
    }
    Ok(Command::Approval {
        approver: address.to_lowercase(),
        reason: parts.next().unwrap_or("").trim().to_string(),
    })
}

/// Full-width ASCII forms to ASCII, keeping case: for names, addresses, tokens
/// typed with a Chinese input method still on.
fn fold_ascii_forms(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .collect()
}

/// `#cc add a@x b@y`, `#cc remove a@x`, `#cc a@x` (add), `#cc -a@x`, `#cc +a@x`.
fn cc(typed: &str, value: &str) -> Result<Vec<Command>, String> {
    let usage = format!(
        "`#{typed}` needs an e-mail address: `#cc add x@example.com` or `#cc remove x@example.com`"
    );
    let value = fold_ascii_forms(value);
    let mut items = value
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '、' | '，' | '；'))
        .filter(|s| !s.is_empty())
        .peekable();
    let mut remove = false;
    if let Some(first) = items.peek() {
        match first.to_lowercase().as_str() {
            "add" | "+" | "添加" | "增加" => {
                items.next();
            }
            "remove" | "del" | "delete" | "-" | "删除" | "移除" => {
                remove = true;
                items.next();
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for item in items {
        let (item_remove, address) = match (item.strip_prefix('-'), item.strip_prefix('+')) {
            (Some(a), _) => (true, a),
            (_, Some(a)) => (false, a),
            _ => (remove, item),
        };
        let address = address.trim_start_matches('<').trim_end_matches('>');
        if !is_address(address) {
            return Err(format!(
                "`#{typed}`: `{item}` is not an e-mail address; use `#cc add x@example.com` or `#cc remove x@example.com`"
            ));
        }
        out.push(if item_remove {
            Command::CcRemove(address.to_string())
        } else {
            Command::CcAdd(address.to_string())
        });
    }
    if out.is_empty() {
        return Err(usage);
    }
    Ok(out)
}

/// Shape only: something@something.with.a.dot, no spaces. The address module
/// normalises it later.
fn is_address(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// The keyword closest to `word` within two edits, if any. A suggestion must
/// be closer than the keyword is long, so `#ok` does not suggest `#kb`.
fn suggest(word: &str) -> Option<&'static str> {
    let len = word.chars().count();
    // Longer words cannot be within two edits of any keyword; this also keeps
    // a hostile megabyte-long "keyword" from costing anything.
    if len > 10 {
        return None;
    }
    KEYWORDS
        .iter()
        .filter(|(_, kind)| *kind != Kind::End)
        .map(|&(keyword, _)| (edit_distance(word, keyword), keyword))
        .filter(|&(d, keyword)| d <= 2 && d < keyword.chars().count())
        .min_by_key(|&(d, _)| d)
        .map(|(_, keyword)| keyword)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitution.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

fn unknown(words: &Words<'_>) -> String {
    let typed = shown(words.typed);
    match suggest(&words.folded) {
        Some(keyword) => format!("unknown command `#{typed}` (did you mean `#{keyword}`?)"),
        None => format!("unknown command `#{typed}`; commands are {COMMAND_LIST}"),
    }
}

/// The keyword as written, shortened for messages: a refusal must not echo a
/// megabyte back.
fn shown(typed: &str) -> &str {
    match typed.char_indices().nth(30) {
        Some((cut, _)) => &typed[..cut],
        None => typed,
    }
}

/// Changes asked for outside mail (`postdesk ticket N set --status
/// resolved`), as written; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// new, open, pending, resolved, closed.
    pub status: Option<String>,
    /// P1..P4 or critical, high, normal, low.
    pub priority: Option<String>,
    pub category: Option<String>,
    /// An agent's name or address.
    pub assignee: Option<String>,
    /// A team or a tier.
    pub team: Option<String>,
}

impl Changes {
    /// The commands an agent would write for these changes, so they go
    /// through the same rules: status, priority, category, assignee, team,
    /// each labelled with its option (`--status resolved`, `--priority P2`)
    /// for the caller's messages. Refused when a value cannot be read, when
    /// the status is `new` (no command goes back there), or when nothing is
    /// asked.
    pub fn commands(&self) -> Result<Vec<(String, Command)>, String> {
        let mut cmds = Vec::new();
        if let Some(s) = &self.status {
            let c = match s.parse::<Status>()? {
                Status::Open => Command::Open,
                Status::Pending => Command::Pending,
                Status::Resolved => Command::Resolve,
                Status::Closed => Command::Close,
                Status::Spam => Command::Spam,
                Status::New => return Err("a ticket cannot go back to new".into()),
                Status::AwaitingApproval => {
                    return Err("an approval is asked by mail, with #approval".into());
                }
            };
            cmds.push((format!("--status {s}"), c));
        }
        if let Some(p) = &self.priority {
            let p = p.parse::<Priority>()?;
            cmds.push((format!("--priority {p}"), Command::Priority(p)));
        }
        if let Some(c) = &self.category {
            cmds.push((format!("--category {c}"), Command::Category(c.clone())));
        }
        if let Some(a) = &self.assignee {
            cmds.push((format!("--assignee {a}"), Command::Assign(a.clone())));
        }
        if let Some(t) = &self.team {
            cmds.push((format!("--team {t}"), Command::Escalate(t.clone())));
        }
        if cmds.is_empty() {
            return Err(
                "nothing to change: give --status, --priority, --category, --assignee or --team"
                    .into(),
            );
        }
        Ok(cmds)
    }
}

/// Reads the commands at the top of a reply.
///
/// Blank lines are skipped; the first line that is not shaped like a command
/// ends the block, and it and everything after it become `rest`. Commands
/// further down are text. A `#kb` line alone opens a block: the lines up to a
/// `#end` line (or the end of the mail) are the article, and commands may
/// follow the `#end`.
pub fn parse_block(text: &str) -> CommandBlock {
    let lines: Vec<&str> = text.lines().collect();
    let mut block = CommandBlock::default();
    let mut note_lines: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        i += 1;
        if line.is_empty() {
            continue;
        }
        let Some(words) = split_command(line) else {
            i -= 1;
            break;
        };
        let refuse = |block: &mut CommandBlock, reason: String| {
            block.refused.push(Refused {
                line: line.to_string(),
                reason,
            });
        };
        let Some((kind, value)) = find_kind(&words) else {
            refuse(&mut block, unknown(&words));
            continue;
        };
        match build(kind, shown(words.typed), &value) {
            Err(reason) => refuse(&mut block, reason),
            Ok(Built::Commands(commands)) => {
                for command in commands {
                    if command == Command::Note {
                        block.internal_note = true;
                        if !value.is_empty() {
                            note_lines.push(value.clone());
                        }
                    }
                    block.commands.push(Parsed {
                        command,
                        line: line.to_string(),
                    });
                }
            }
            Ok(Built::KbBlock) => {
                let start = i;
                while i < lines.len() && !is_kb_end(lines[i]) {
                    i += 1;
                }
                let article = join_trimmed(&lines[start..i]);
                // Step over the `#end` line, if there was one.
                i = (i + 1).min(lines.len());
                if article.is_empty() {
                    refuse(
                        &mut block,
                        format!(
                            "`#{}` block is empty: write the article on the lines below it and finish with `#end`",
                            shown(words.typed)
                        ),
                    );
                } else {
                    block.commands.push(Parsed {
                        command: Command::Kb(KbAction::Text(article)),
                        line: line.to_string(),
                    });
                }
            }
        }
    }
    let rest = join_trimmed(&lines[i.min(lines.len())..]);
    block.rest = match (note_lines.is_empty(), rest.is_empty()) {
        (true, _) => rest,
        (false, true) => note_lines.join("\n"),
        (false, false) => format!("{}\n{rest}", note_lines.join("\n")),
    };
    block
}

fn is_kb_end(line: &str) -> bool {
    split_command(line.trim()).is_some_and(|w| lookup(&w.folded) == Some(Kind::End))
}

/// Lines joined with `\n`, without leading or trailing blank lines or trailing spaces.
fn join_trimmed(lines: &[&str]) -> String {
    let start = lines
        .iter()
        .position(|l| !l.trim().is_empty())
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(start, |e| e + 1);
    lines[start..end.max(start)]
        .iter()
        .map(|l| l.trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Commands in a subject: `Re: [#1042] VPN down #resolve`, `#priority high`,
/// `#优先级：高`.
///
/// A subject is free text, so only exact keywords count, a value is the one
/// word after the keyword (or glued with `:`), `#kb` needs `publish` or
/// `skip`, and anything invalid is silently ignored. The ticket tag
/// `[#1042]` and `#` followed by digits are never commands.
///
/// Replies keep the requester's subject: a requester who wrote
/// "please #close my account" would close their ticket through the agent's
/// reply. Callers should only honour commands not already present in the
/// subject the agent replied to.
pub fn parse_subject(subject: &str) -> Vec<Parsed> {
    let tokens: Vec<&str> = subject
        .split(char::is_whitespace)
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let start = i;
        i += 1;
        let Some(words) = split_command(tokens[start]) else {
            continue;
        };
        let Some(kind) = lookup(&words.folded) else {
            continue;
        };
        let next_is_value = |i: usize| {
            tokens
                .get(i)
                .is_some_and(|t| !t.starts_with('#') && !t.starts_with('＃'))
        };
        let mut value = words.value.to_string();
        match kind {
            Kind::Priority
            | Kind::Category
            | Kind::Assign
            | Kind::Escalate
            | Kind::Secret
            | Kind::Kb
            | Kind::Merge
                if value.is_empty() && next_is_value(i) =>
            {
                value = tokens[i].to_string();
                i += 1;
            }
            Kind::Cc if value.is_empty() && next_is_value(i) => {
                value = tokens[i].to_string();
                i += 1;
                let is_action = matches!(
                    fold(&value).as_str(),
                    "add" | "remove" | "del" | "delete" | "添加" | "增加" | "删除" | "移除"
                );
                if is_action && next_is_value(i) {
                    value = format!("{value} {}", tokens[i]);
                    i += 1;
                }
            }
            _ => {}
        }
        let value = value.trim_end_matches(|c: char| {
            is_sentence_punctuation(c) || matches!(c, ')' | ']' | '）' | '】')
        });
        if let Ok(Built::Commands(commands)) = build(kind, words.typed, value) {
            let line = tokens[start..i].join(" ");
            out.extend(commands.into_iter().map(|command| Parsed {
                command,
                line: line.clone(),
            }));
        }
    }
    out
}

/// A short cheat sheet of the commands, for the foot of notifications to agents.
pub fn help_text(lang: Lang) -> &'static str {
    match lang {
        Lang::En => HELP_EN,
        Lang::ZhCn => HELP_ZH,
    }
}

const HELP_EN: &str = "\
Commands: one per line at the top of your reply; the text below them goes to the requester.
  #resolve          resolved (also #solved, #fixed)
  #pending          waiting for the requester (also #wait)
  #close  #reopen  #open
  #priority high    critical, high, normal, low or P1-P4; short: #p1 … #p4, #urgent
  #category network
  #assign alice     a name or e-mail address; #take (#mine) to take it yourself
  #escalate L2      a tier or a team
  #note             the text below is an internal note, not sent to the requester
  #cc add x@example.com    #cc remove x@example.com
  #kb publish | #kb skip | #kb, then the article, then #end
  #secret TOKEN     your agent token, if the desk asks for one
  #time 30m         time you worked on it (also 1h30m, 1.5h)
  #reply NAME       answer with a canned reply (postdesk replies lists them)
  #merge 1042       merge this ticket into 1042 (#merge 1042 force: other requester)
  #split            the mail your reply answers, and later ones, become a new ticket
  #approval boss@example.com reason    ask for an approval
  #queue            (a new mail to the desk) your open tickets; requesters: #status
";

const HELP_ZH: &str = "\
指令：写在回复最上方，每行一条；指令下面的正文会发给提单人。
  #解决             已解决（也可写 #已解决）
  #待定             等待提单人回复（也可写 #等待、#挂起）
  #关闭  #重开  #处理中
  #优先级 高        紧急、高、普通、低 或 P1-P4；简写：#p1 … #p4、#紧急
  #分类 网络
  #分配 王强        姓名或邮箱；#接单（#认领、#我来）分配给自己
  #升级 二线        升级到某一线或某个团队
  #备注             下面的正文为内部备注，不发给提单人
  #抄送 添加 x@example.com    #抄送 删除 x@example.com
  #知识库 发布 | #知识库 跳过 | #知识库，下面写文章，最后一行 #结束
  #密钥 TOKEN       服务台要求时附上您的密钥
  #工时 30m         记录处理时间（也可写 1h30m、1.5h）
  #回复 NAME        用预设回复答复（postdesk replies 列出全部）
  #合并 1042        把本工单合并到 1042（提单人不同时：#合并 1042 强制）
  #拆分             把您回复的那封邮件及其后的邮件拆成新工单
  #审批 boss@example.com 原因    请人审批
  #我的工单         （写一封新邮件给服务台）列出您的未结工单；提单人用 #状态
全角 ＃ 和 ： 也可以。
";

#[cfg(test)]
mod tests {
    use super::*;

    fn only(text: &str) -> Command {
        let block = parse_block(text);
        assert!(block.refused.is_empty(), "{text:?}: {:?}", block.refused);
        assert_eq!(block.commands.len(), 1, "{text:?}: {:?}", block.commands);
        block.commands[0].command.clone()
    }

    fn refused(text: &str) -> String {
        let block = parse_block(text);
        assert!(block.commands.is_empty(), "{text:?}: {:?}", block.commands);
        assert_eq!(block.refused.len(), 1, "{text:?}: {:?}", block.refused);
        block.refused[0].reason.clone()
    }

    #[test]
    fn agent_tool_commands_are_refused_with_a_reason() {
        assert!(refused("#time").contains("needs the time worked"));
        assert!(refused("#工时 soon").contains("1h30m"));
        assert!(refused("#time 13h").contains("12h"));
        assert!(refused("#reply").contains("postdesk replies"));
        assert!(refused("#reply ../etc/passwd").contains("not a reply name"));
        assert!(refused("#new").contains("requester's address"));
        assert!(refused("#新建 王强").contains("not an e-mail address"));
        assert!(refused("#quiet please").contains("takes no value"));
        // Glued Chinese values, as typed without a space.
        assert_eq!(only("#工时30分钟"), Command::Time(30));
    }

    #[test]
    fn every_keyword_in_english_and_chinese() {
        use Command::*;
        let cases: &[(&str, Command)] = &[
            ("#resolve", Resolve),
            ("#resolved", Resolve),
            ("#solved", Resolve),
            ("#fixed", Resolve),
            ("#解决", Resolve),
            ("#已解决", Resolve),
            ("#pending", Pending),
            ("#wait", Pending),
            ("#待定", Pending),
            ("#等待", Pending),
            ("#挂起", Pending),
            ("#close", Close),
            ("#closed", Close),
            ("#关闭", Close),
            ("#spam", Spam),
            ("#垃圾邮件", Spam),
            ("#notspam", NotSpam),
            ("#not-spam", NotSpam),
            ("#非垃圾邮件", NotSpam),
            ("#不是垃圾邮件", NotSpam),
            ("#reopen", Reopen),
            ("#重开", Reopen),
            ("#重新打开", Reopen),
            ("#open", Open),
            ("#处理中", Open),
            ("#打开", Open),
            ("#priority high", Priority(super::Priority::P2)),
            ("#prio p2", Priority(super::Priority::P2)),
            ("#priority critical", Priority(super::Priority::P1)),
            ("#priority low", Priority(super::Priority::P4)),
            ("#priority 3", Priority(super::Priority::P3)),
            ("#优先级 高", Priority(super::Priority::P2)),
            ("#优先级：低", Priority(super::Priority::P4)),
            ("#优先级 紧急", Priority(super::Priority::P1)),
            ("#p1", Priority(super::Priority::P1)),
            ("#p2", Priority(super::Priority::P2)),
            ("#p3", Priority(super::Priority::P3)),
            ("#p4", Priority(super::Priority::P4)),
            ("#urgent", Priority(super::Priority::P1)),
            ("#紧急", Priority(super::Priority::P1)),
            ("#category network", Category("network".into())),
            ("#分类 网络", Category("网络".into())),
            ("#类别：硬件", Category("硬件".into())),
            ("#assign alice", Assign("alice".into())),
            ("#assign alice@x.test", Assign("alice@x.test".into())),
            ("#分配 王强", Assign("王强".into())),
            ("#指派 li.na@example.cn", Assign("li.na@example.cn".into())),
            ("#take", Take),
            ("#mine", Take),
            ("#接单", Take),
            ("#认领", Take),
            ("#我来", Take),
            ("#escalate L2", Escalate("L2".into())),
            ("#escalate network", Escalate("network".into())),
            ("#升级 二线", Escalate("二线".into())),
            ("#note", Note),
            ("#internal", Note),
            ("#备注", Note),
            ("#内部", Note),
            ("#cc add x@y.test", CcAdd("x@y.test".into())),
            ("#cc x@y.test", CcAdd("x@y.test".into())),
            ("#cc +x@y.test", CcAdd("x@y.test".into())),
            ("#cc remove x@y.test", CcRemove("x@y.test".into())),
            ("#cc -x@y.test", CcRemove("x@y.test".into())),
            ("#抄送 添加 x@y.test", CcAdd("x@y.test".into())),
            ("#抄送 删除 x@y.test", CcRemove("x@y.test".into())),
            ("#抄送 x@y.test", CcAdd("x@y.test".into())),
            ("#kb publish", Kb(KbAction::Publish)),
            ("#kb skip", Kb(KbAction::Skip)),
            ("#知识库 发布", Kb(KbAction::Publish)),
            ("#知识库 跳过", Kb(KbAction::Skip)),
            ("#secret s3cr3t-Token", Secret("s3cr3t-Token".into())),
            ("#token abc123", Secret("abc123".into())),
            ("#密钥 abc123", Secret("abc123".into())),
            ("#time 30m", Time(30)),
            ("#工时 1h30m", Time(90)),
            ("#reply more-info", Reply("more-info".into())),
            ("#回复 more-info", Reply("more-info".into())),
            (
                "#new li.wei@corp.example.com",
                New("li.wei@corp.example.com".into()),
            ),
            (
                "#新建 <li.wei@corp.example.com>",
                New("li.wei@corp.example.com".into()),
            ),
            ("#quiet", Quiet),
            ("#静默", Quiet),
            (
                "#merge 1042",
                Merge {
                    into: 1042,
                    force: false,
                },
            ),
            (
                "#合并 1042 强制",
                Merge {
                    into: 1042,
                    force: true,
                },
            ),
            ("#split", Split),
            ("#拆分", Split),
            (
                "#approval boss@corp.test new server",
                Approval {
                    approver: "boss@corp.test".into(),
                    reason: "new server".into(),
                },
            ),
            (
                "#审批 新服务器",
                Approval {
                    approver: String::new(),
                    reason: "新服务器".into(),
                },
            ),
            ("#queue", Queue),
            ("#我的工单", Queue),
            ("#status", Status),
            ("#状态", Status),
        ];
        for (line, expected) in cases {
            assert_eq!(&only(line), expected, "{line}");
        }
        // Every keyword in the table is exercised above.
        for (keyword, kind) in KEYWORDS {
            if *kind == Kind::End {
                continue;
            }
            assert!(
                cases
                    .iter()
                    .any(|(line, _)| { split_command(line).is_some_and(|w| w.folded == *keyword) }),
                "keyword `{keyword}` has no test case"
            );
        }
    }

    #[test]
    fn full_width_sign_colon_and_letters() {
        assert_eq!(only("＃resolve"), Command::Resolve);
        assert_eq!(only("＃解决"), Command::Resolve);
        assert_eq!(only("#优先级：高"), Command::Priority(Priority::P2));
        assert_eq!(only("＃优先级：高"), Command::Priority(Priority::P2));
        assert_eq!(only("#优先级:高"), Command::Priority(Priority::P2));
        assert_eq!(only("#priority: high"), Command::Priority(Priority::P2));
        assert_eq!(only("#优先级\u{3000}高"), Command::Priority(Priority::P2));
        assert_eq!(only("＃ｒｅｓｏｌｖｅ"), Command::Resolve);
        assert_eq!(only("#优先级 Ｐ１"), Command::Priority(Priority::P1));
        assert_eq!(
            only("#cc add ｘ＠ｙ.test"),
            Command::CcAdd("x@y.test".into())
        );
    }

    #[test]
    fn chinese_keyword_glued_to_its_value() {
        assert_eq!(only("#优先级高"), Command::Priority(Priority::P2));
        assert_eq!(only("#分配王强"), Command::Assign("王强".into()));
        assert_eq!(only("#重新打开"), Command::Reopen);
        assert!(refused("#关闭吧").contains("takes no value"));
    }

    #[test]
    fn keywords_ignore_case() {
        assert_eq!(only("#RESOLVE"), Command::Resolve);
        assert_eq!(only("#Resolve"), Command::Resolve);
        assert_eq!(only("#Priority HIGH"), Command::Priority(Priority::P2));
        assert_eq!(only("#P1"), Command::Priority(Priority::P1));
        assert_eq!(only("#KB Publish"), Command::Kb(KbAction::Publish));
        assert_eq!(
            only("#CC REMOVE x@y.test"),
            Command::CcRemove("x@y.test".into())
        );
        // Values keep their case: the config decides what `L2` means.
        assert_eq!(only("#Escalate L2"), Command::Escalate("L2".into()));
    }

    #[test]
    fn trailing_full_stop_is_not_a_value() {
        assert_eq!(only("#resolve."), Command::Resolve);
        assert_eq!(only("#解决。"), Command::Resolve);
        assert_eq!(only("#close !"), Command::Close);
    }

    #[test]
    fn block_stops_at_the_first_normal_line() {
        let block = parse_block(
            "\n\n  #resolve  \n\n#priority low\nThanks, this is fixed.\n#close\n\nBob\n\n",
        );
        let commands: Vec<_> = block.commands.iter().map(|p| p.command.clone()).collect();
        assert_eq!(
            commands,
            [Command::Resolve, Command::Priority(Priority::P4)]
        );
        assert_eq!(block.commands[0].line, "#resolve");
        assert!(block.refused.is_empty());
        // `#close` after text is text.
        assert_eq!(block.rest, "Thanks, this is fixed.\n#close\n\nBob");
        assert!(!block.internal_note);
    }

    #[test]
    fn commands_after_text_are_not_parsed() {
        let block = parse_block("Hello,\n#resolve\n#priority high\n");
        assert!(block.commands.is_empty());
        assert!(block.refused.is_empty());
        assert_eq!(block.rest, "Hello,\n#resolve\n#priority high");
    }

    #[test]
    fn ticket_numbers_and_headings_are_text() {
        for text in [
            "#1042 is the same problem",
            "#",
            "# Heading",
            "## Steps",
            "#\u{3000}标题",
            "＃１０４２",
        ] {
            let block = parse_block(text);
            assert!(block.commands.is_empty(), "{text:?}");
            assert!(block.refused.is_empty(), "{text:?}");
            assert_eq!(block.rest, text, "{text:?}");
        }
        let block = parse_block("#resolve\n#1042 was a duplicate");
        assert_eq!(block.commands.len(), 1);
        assert_eq!(block.rest, "#1042 was a duplicate");
    }

    #[test]
    fn typos_are_refused_with_a_suggestion() {
        for (line, suggestion) in [
            ("#resolv", "#resolve"),
            ("#prority high", "#priority"),
            ("#asign bob", "#assign"),
            ("#escalte L2", "#escalate"),
            ("#pendin", "#pending"),
            ("#reopne", "#reopen"),
            ("#p5", "#p1"),
            ("#解", "#解决"),
            ("#优先 高", "#优先级"),
        ] {
            let reason = refused(line);
            assert!(
                reason.contains(&format!("(did you mean `{suggestion}`?)")),
                "{line}: {reason}"
            );
        }
        assert_eq!(
            refused("#resolv"),
            "unknown command `#resolv` (did you mean `#resolve`?)"
        );
        let reason = refused("#hello world");
        assert!(
            reason.starts_with("unknown command `#hello`; commands are #resolve"),
            "{reason}"
        );
        // A refused line is not text for the requester, and does not end the block.
        let block = parse_block("#resolv\n#pending\nText");
        assert_eq!(block.refused.len(), 1);
        assert_eq!(block.commands[0].command, Command::Pending);
        assert_eq!(block.rest, "Text");
    }

    #[test]
    fn suggestions_are_not_absurd() {
        assert_eq!(suggest("ok"), None);
        assert_eq!(suggest("x"), None);
        assert_eq!(suggest(&"a".repeat(1000)), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("优先级", "优先"), 1);
    }

    #[test]
    fn missing_values_are_refused_with_the_accepted_values() {
        assert_eq!(
            refused("#priority"),
            "`#priority` needs a value: critical, high, normal, low or P1-P4"
        );
        assert!(refused("#优先级").contains("needs a value: critical, high"));
        assert!(refused("#优先级：").contains("needs a value"));
        assert!(refused("#priority extreme").contains("unknown priority `extreme`"));
        assert!(refused("#category").contains("needs a category"));
        assert!(refused("#assign").contains("needs an agent's name or e-mail address"));
        assert!(refused("#分配").contains("needs an agent"));
        assert!(refused("#escalate").contains("needs a tier or team"));
        assert!(refused("#secret").contains("needs your token"));
        assert!(refused("#cc").contains("needs an e-mail address"));
        assert!(refused("#cc add").contains("needs an e-mail address"));
        assert!(refused("#cc bob").contains("`bob` is not an e-mail address"));
        assert!(refused("#kb later").contains("takes `publish`, `skip`, or nothing"));
        assert!(refused("#resolve the printer").contains("takes no value"));
        assert!(refused("#end").contains("none is open"));
    }

    #[test]
    fn value_only_on_the_same_line() {
        // The next line is text, not the missing value.
        let block = parse_block("#priority\nhigh");
        assert_eq!(block.refused.len(), 1);
        assert_eq!(block.rest, "high");
    }

    #[test]
    fn cc_takes_several_addresses() {
        let block = parse_block("#cc add a@x.test, <b@y.test> -c@z.test");
        let commands: Vec<_> = block.commands.iter().map(|p| p.command.clone()).collect();
        assert_eq!(
            commands,
            [
                Command::CcAdd("a@x.test".into()),
                Command::CcAdd("b@y.test".into()),
                Command::CcRemove("c@z.test".into()),
            ]
        );
        assert!(
            block
                .commands
                .iter()
                .all(|p| p.line == "#cc add a@x.test, <b@y.test> -c@z.test")
        );
        assert!(is_address("a.b+tag@mail.example.cn"));
        for bad in ["a@", "@x.test", "a@x", "a@.x", "a@x.", "a@b@c.d", "bob"] {
            assert!(!is_address(bad), "{bad}");
        }
    }

    #[test]
    fn note_makes_the_rest_internal() {
        let block = parse_block("#note\n#pending\nCustomer is on holiday until Monday.");
        assert!(block.internal_note);
        assert_eq!(
            block
                .commands
                .iter()
                .map(|p| p.command.clone())
                .collect::<Vec<_>>(),
            [Command::Note, Command::Pending]
        );
        assert_eq!(block.rest, "Customer is on holiday until Monday.");

        let block = parse_block("#备注 客户是 VIP\n\n请优先处理。");
        assert!(block.internal_note);
        assert_eq!(block.rest, "客户是 VIP\n请优先处理。");

        let block = parse_block("#internal called him, no answer");
        assert_eq!(block.rest, "called him, no answer");
    }

    #[test]
    fn kb_block_captures_until_end() {
        let block = parse_block(
            "#resolve\n#kb\n\nVPN drops every 10 minutes\n\nUpdate the client to 5.2.  \n#end\n#close\nThanks!",
        );
        let commands: Vec<_> = block.commands.iter().map(|p| p.command.clone()).collect();
        assert_eq!(
            commands,
            [
                Command::Resolve,
                Command::Kb(KbAction::Text(
                    "VPN drops every 10 minutes\n\nUpdate the client to 5.2.".into()
                )),
                Command::Close,
            ]
        );
        assert_eq!(block.commands[1].line, "#kb");
        assert_eq!(block.rest, "Thanks!");
    }

    #[test]
    fn kb_block_runs_to_the_end_of_the_mail() {
        let block = parse_block("#知识库\n打印机发白：更换硒鼓即可。\n#resolve\n");
        assert_eq!(
            block.commands[0].command,
            Command::Kb(KbAction::Text(
                "打印机发白：更换硒鼓即可。\n#resolve".into()
            ))
        );
        assert_eq!(block.commands.len(), 1);
        assert_eq!(block.rest, "");
        let block = parse_block("#知识库\n文章\n＃结束\n后文");
        assert_eq!(
            block.commands[0].command,
            Command::Kb(KbAction::Text("文章".into()))
        );
        assert_eq!(block.rest, "后文");
    }

    #[test]
    fn empty_kb_block_is_refused() {
        assert!(refused("#kb\n\n#end").contains("block is empty"));
        assert!(refused("#kb").contains("block is empty"));
    }

    #[test]
    fn empty_and_command_only_replies() {
        assert_eq!(parse_block(""), CommandBlock::default());
        assert_eq!(parse_block("\n \n"), CommandBlock::default());
        let block = parse_block("#resolve\r\n#p2\r\n");
        assert_eq!(block.commands.len(), 2);
        assert_eq!(block.rest, "");
        let block = parse_block("#take\r\nOn it.\r\nBob\r\n");
        assert_eq!(block.rest, "On it.\nBob");
    }

    #[test]
    fn long_hostile_lines_are_cheap() {
        let line = format!("#{}", "a".repeat(1_000_000));
        let block = parse_block(&line);
        assert_eq!(block.refused.len(), 1);
        assert!(block.refused[0].reason.len() < 300);
        let many = "#resolv\n".repeat(5_000);
        assert_eq!(parse_block(&many).refused.len(), 5_000);
        crate::growth_tests::assert_linear("one long command line", 250_000, |n| {
            parse_block(&format!("#{}", "a".repeat(n)));
        });
        crate::growth_tests::assert_linear("many near-miss commands", 1_250, |n| {
            parse_block(&"#resolv\n".repeat(n));
        });
    }

    #[test]
    fn subject_commands_ignore_the_ticket_tag() {
        let parsed = parse_subject("Re: [#1042] VPN drops #resolve");
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].command, Command::Resolve);
        assert_eq!(parsed[0].line, "#resolve");

        assert!(parse_subject("Re: [#1042] VPN drops").is_empty());
        assert!(parse_subject("#1042 again, see #1041").is_empty());
        assert!(parse_subject("C# build fails; # not a command").is_empty());

        let parsed = parse_subject("AW: [#1042] #priority high #assign bob@x.test VPN");
        assert_eq!(
            parsed.iter().map(|p| p.command.clone()).collect::<Vec<_>>(),
            [
                Command::Priority(Priority::P2),
                Command::Assign("bob@x.test".into())
            ]
        );
        assert_eq!(parsed[0].line, "#priority high");

        let parsed = parse_subject("回复: [#1042] 邮箱无法登录 #优先级：高 ＃已解决");
        assert_eq!(
            parsed.iter().map(|p| p.command.clone()).collect::<Vec<_>>(),
            [Command::Priority(Priority::P2), Command::Resolve]
        );

        let parsed = parse_subject("[#7] #cc add x@y.test #kb publish #p3, #close.");
        assert_eq!(
            parsed.iter().map(|p| p.command.clone()).collect::<Vec<_>>(),
            [
                Command::CcAdd("x@y.test".into()),
                Command::Kb(KbAction::Publish),
                Command::Priority(Priority::P3),
                Command::Close,
            ]
        );
        assert_eq!(parsed[0].line, "#cc add x@y.test");
    }

    #[test]
    fn subject_ignores_what_is_not_a_valid_command() {
        // Typos, hashtags, missing values, a `#kb` block: nothing, and no refusal.
        assert!(parse_subject("Printer #resolv #MeToo #priority").is_empty());
        assert_eq!(
            parse_subject("#priority #resolve")
                .into_iter()
                .map(|p| p.command)
                .collect::<Vec<_>>(),
            [Command::Resolve]
        );
        assert!(parse_subject("#kb").is_empty());
        assert!(parse_subject("#priority extreme").is_empty());
        // No glued Chinese values in subjects: requesters write hashtags too.
        assert!(parse_subject("#紧急求助").is_empty());
    }

    #[test]
    fn help_mentions_every_command_in_both_languages() {
        for keyword in [
            "#resolve",
            "#pending",
            "#close",
            "#reopen",
            "#open",
            "#priority",
            "#p1",
            "#urgent",
            "#category",
            "#assign",
            "#take",
            "#escalate",
            "#note",
            "#cc",
            "#kb",
            "#end",
            "#secret",
            "#merge",
            "#split",
            "#approval",
            "#queue",
            "#status",
        ] {
            assert!(help_text(Lang::En).contains(keyword), "en: {keyword}");
        }
        for keyword in [
            "#解决",
            "#待定",
            "#关闭",
            "#重开",
            "#处理中",
            "#优先级",
            "#紧急",
            "#分类",
            "#分配",
            "#接单",
            "#升级",
            "#备注",
            "#抄送",
            "#知识库",
            "#结束",
            "#密钥",
            "#合并",
            "#拆分",
            "#审批",
            "#我的工单",
            "#状态",
        ] {
            assert!(help_text(Lang::ZhCn).contains(keyword), "zh: {keyword}");
        }
        assert_eq!(Lang::default(), Lang::En);
    }

    #[test]
    fn help_examples_parse() {
        for line in [
            "#priority high",
            "#category network",
            "#assign alice",
            "#escalate L2",
            "#cc add x@example.com",
            "#cc remove x@example.com",
            "#kb publish",
            "#kb skip",
            "#优先级 高",
            "#分类 网络",
            "#分配 王强",
            "#升级 二线",
            "#抄送 添加 x@example.com",
            "#抄送 删除 x@example.com",
            "#知识库 发布",
            "#知识库 跳过",
        ] {
            assert!(
                help_text(Lang::En).contains(line) || help_text(Lang::ZhCn).contains(line),
                "{line} not in help"
            );
            only(line);
        }
    }

    #[test]
    fn keyword_names() {
        assert_eq!(Command::CcRemove("a@b.c".into()).keyword(), "cc");
        assert_eq!(Command::Priority(Priority::P1).keyword(), "priority");
        assert_eq!(Command::Kb(KbAction::Skip).keyword(), "kb");
    }

    #[test]
    fn changes_from_the_shell_are_agent_commands() {
        let c = Changes {
            status: Some("resolved".into()),
            priority: Some("high".into()),
            team: Some("L2".into()),
            ..Changes::default()
        };
        assert_eq!(
            c.commands().unwrap(),
            [
                ("--status resolved".to_string(), Command::Resolve),
                ("--priority P2".to_string(), Command::Priority(Priority::P2)),
                ("--team L2".to_string(), Command::Escalate("L2".into())),
            ]
        );
        let back = Changes {
            status: Some("new".into()),
            ..Changes::default()
        };
        assert_eq!(
            back.commands().unwrap_err(),
            "a ticket cannot go back to new"
        );
        assert!(
            Changes::default()
                .commands()
                .unwrap_err()
                .starts_with("nothing to change")
        );
        let bad = Changes {
            priority: Some("bogus".into()),
            ..Changes::default()
        };
        assert!(bad.commands().unwrap_err().contains("unknown priority"));
    }
}
