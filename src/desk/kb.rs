//! The knowledge base: what was learned from resolved tickets, found again
//! for the next person with the same problem.
//!
//! Pure: the plan for a resolution and an agent's `#kb` commands, the words
//! of a request or a search, the relevance of an entry to a request (BM25,
//! normalised to 0..1), and the suggestions added to a new ticket's
//! acknowledgement. The SQL (an FTS5 index with the `trigram` tokenizer, a
//! `LIKE` fallback for one- and two-character terms) is in `store::kb`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::desk::commands::KbAction;
use crate::desk::effect::Effect;
use crate::desk::lifecycle::{self, Trigger};
use crate::desk::ticket::{Status, TicketState};

pub mod entry;

pub use entry::{EntryRef, EntryStatus, KbConfig, KbEffect, Suggestion, TicketKb};

/// What an agent's mail does to the knowledge base.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub effects: Vec<KbEffect>,
    /// `#kb` lines that worked, with what they did.
    pub applied: Vec<String>,
    /// `#kb` lines that could not, with why.
    pub refused: Vec<(String, String)>,
}

/// Plans the knowledge-base side of an agent's mail: a draft when the mail
/// resolved the ticket, and the `#kb` commands (`lines` as written).
///
/// `t` is the ticket after the mail's other commands; `resolution` is the
/// text the requester was sent (the solution of the draft).
pub fn plan(
    enabled: bool,
    t: &TicketState,
    resolved_now: bool,
    commands: &[(String, KbAction)],
    resolution: &str,
    actor: &str,
) -> Plan {
    let mut p = Plan::default();
    if !enabled {
        for (line, _) in commands {
            p.refused.push((
                line.clone(),
                "the knowledge base is turned off ([kb] enabled = false)".into(),
            ));
        }
        return p;
    }
    let article = commands.iter().rev().find_map(|(line, a)| match a {
        KbAction::Text(text) => Some((line.clone(), text.clone())),
        _ => None,
    });
    let publish_line = commands
        .iter()
        .find(|(_, a)| *a == KbAction::Publish)
        .map(|(l, _)| l.clone());
    let skip_lines: Vec<String> = commands
        .iter()
        .filter(|(_, a)| *a == KbAction::Skip)
        .map(|(l, _)| l.clone())
        .collect();
    let publishing = article.is_some() || publish_line.is_some();
    let n = t.number;
    let entry = t.kb.entry.map(|e| e.status);
    let has_solution = t.kb.entry.is_some_and(|e| e.has_solution);
    let draft = |solution: String, publish: bool| KbEffect::Draft {
        ticket: n,
        solution,
        publish,
        actor: actor.to_string(),
    };
    if publishing {
        for l in &skip_lines {
            p.refused.push((
                l.clone(),
                "contradicts the #kb publish in the same mail".into(),
            ));
        }
    }
    if let Some((line, text)) = article {
        p.effects.push(draft(text, true));
        p.applied.push(format!("{line} (article published)"));
        if let Some(l) = publish_line {
            p.applied.push(format!("{l} (article published)"));
        }
        return p;
    }
    let resolution = resolution.trim();
    if let Some(line) = publish_line {
        let has_text = !resolution.is_empty();
        match (resolved_now, entry) {
            (_, Some(EntryStatus::Published)) => {
                p.refused.push((line, "the article is already published".into()));
            }
            (true, _) if has_text => {
                p.effects.push(draft(resolution.to_string(), true));
                p.applied.push(format!("{line} (article published)"));
            }
            (true, _) => {
                p.effects.push(draft(String::new(), false));
                p.refused.push((
                    line,
                    "the resolution has no text for the article: write it between #kb and #end (a draft was kept)"
                        .into(),
                ));
            }
            (false, Some(EntryStatus::Draft | EntryStatus::Skipped)) if !has_solution => {
                p.refused.push((
                    line,
                    "the draft has no solution text: write the article between #kb and #end".into(),
                ));
            }
            (false, Some(EntryStatus::Draft | EntryStatus::Skipped)) => {
                p.effects.push(KbEffect::Publish {
                    ticket: n,
                    actor: actor.to_string(),
                });
                p.applied.push(format!("{line} (article published)"));
            }
            (false, None) => p.refused.push((
                line,
                "the ticket has no knowledge-base draft yet: one is made when it is resolved, or write the article between #kb and #end"
                    .into(),
            )),
        }
        return p;
    }
    if !skip_lines.is_empty() {
        let first = skip_lines[0].clone();
        match entry {
            Some(EntryStatus::Skipped) => {
                p.refused
                    .push((first, "the ticket has no article already".into()));
            }
            Some(_) => {
                p.effects.push(KbEffect::Skip {
                    ticket: n,
                    actor: actor.to_string(),
                });
                p.applied.push(format!("{first} (no article)"));
            }
            None if resolved_now => p.applied.push(format!("{first} (no article)")),
            None => p.refused.push((
                first,
                "the ticket has no knowledge-base draft to skip".into(),
            )),
        }
        return p;
    }
    // A plain resolution: a new draft, or fresh words for the draft there is.
    if resolved_now && matches!(entry, None | Some(EntryStatus::Draft)) {
        p.effects.push(draft(resolution.to_string(), false));
    }
    p
}

/// True when the requester's reply says a suggested article solved it: the
/// acknowledgement suggested entries, the ticket may still be resolved, and
/// the first line says "solved" (or 已解决, 解决了, …). The caller also
/// checks that it is a confirmation at all (no "not", "still", …).
pub fn solved_by_suggestion(t: &TicketState, text: &str) -> bool {
    let status = t.status();
    let resolves = lifecycle::next(status, Trigger::SolvedBySuggestion)
        .is_ok_and(|s| s == Status::Resolved && s != status);
    if t.kb.suggested.is_empty() || !resolves {
        return false;
    }
    const SOLVED: &[&str] = &[
        "solved",
        "fixed",
        "resolved",
        "it works",
        "works now",
        "that worked",
        "this worked",
        "已解决",
        "解决了",
        "问题解决",
        "已经解决",
        "好了",
        "可以了",
    ];
    let first = crate::desk::quote::first_line(text);
    SOLVED.iter().any(|w| first.contains(w))
}

// ------------------------------------------------------------- searching --

/// A word to look for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Term {
    /// A Latin-script word (lowercased, lightly stemmed), found at the start
    /// of words: `print` finds "printer" and "printing", not "blueprint".
    Word(String),
    /// Chinese (or Japanese, Korean) characters, found anywhere.
    Cjk(String),
}

impl Term {
    pub fn text(&self) -> &str {
        match self {
            Term::Word(s) | Term::Cjk(s) => s,
        }
    }

    /// True when the FTS5 trigram index can find it (3 characters or more);
    /// shorter terms are looked for with `LIKE`.
    pub fn indexable(&self) -> bool {
        self.text().chars().count() >= 3
    }

    /// Occurrences in `lower`, a lowercased text.
    fn count_in(&self, lower: &str) -> usize {
        match self {
            Term::Cjk(s) => lower.matches(s.as_str()).count(),
            Term::Word(s) => lower
                .match_indices(s.as_str())
                .filter(|(i, _)| {
                    lower[..*i]
                        .chars()
                        .next_back()
                        .is_none_or(|c| !c.is_alphanumeric() || is_cjk(c))
                })
                .count(),
        }
    }
}

/// Han, kana and hangul: scripts written without spaces between words.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // kana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xAC00..=0xD7AF    // hangul syllables
        | 0xF900..=0xFAFF    // compatibility ideographs
        | 0x20000..=0x2FFFF) // extensions B and later
}

const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at",
    "aw", "be", "been", "before", "being", "best", "but", "by", "can", "cannot", "could", "dear",
    "did", "do", "does", "doing", "don", "down", "else", "for", "from", "fw", "fwd", "get", "got",
    "had", "has", "have", "he", "hello", "help", "her", "here", "hi", "him", "his", "how", "i",
    "if", "in", "into", "is", "it", "its", "just", "kind", "me", "my", "no", "not", "now", "of",
    "off", "on", "one", "or", "our", "out", "over", "please", "re", "regards", "she", "should",
    "since", "so", "some", "still", "sv", "than", "thank", "thanks", "that", "the", "their",
    "them", "then", "there", "these", "they", "this", "those", "to", "today", "too", "up", "us",
    "very", "was", "we", "were", "what", "when", "where", "which", "who", "why", "will", "with",
    "would", "yes", "you", "your",
];

/// Two-character Chinese words that say nothing about the problem.
const STOP_BIGRAMS: &[&str] = &[
    "您好", "你好", "谢谢", "感谢", "请问", "我们", "你们", "他们", "一下", "可以", "不能", "没有",
    "问题", "现在", "今天", "已经", "这个", "那个", "什么", "怎么", "如何", "帮忙", "麻烦", "一个",
    "时候", "还是", "就是", "但是", "因为", "所以", "是否", "需要", "希望", "非常", "无法", "不了",
    "一直", "出现", "情况", "处理", "解决", "同事", "老师",
];

/// Characters that glue Chinese sentences together; a pair with one of them
/// is not a word worth searching for.
const FUNCTION_CHARS: &str = "的了是吗呢吧啊在我你他她它和与也都就又很还把被给让从对";

/// The most terms taken from one request.
const MAX_TERMS: usize = 64;

fn stem(word: &str) -> String {
    let n = word.chars().count();
    if n >= 6 && word.ends_with("ing") {
        word[..word.len() - 3].to_string()
    } else if n >= 5 && word.ends_with("ed") {
        word[..word.len() - 2].to_string()
    } else if n >= 4 && word.ends_with('s') && !word.ends_with("ss") {
        word[..word.len() - 1].to_string()
    } else {
        word.to_string()
    }
}

/// The terms of a text, in order, repeats included: Latin words (stop words
/// dropped, one-letter words and bare numbers under 3 digits too), and pairs
/// of neighbouring CJK characters (a run of one character is dropped).
pub fn analyse(text: &str) -> Vec<Term> {
    tokens(text, true)
}

/// The words of a text for showing to people: Latin words as [`analyse`]
/// finds them but not stemmed, and runs of CJK characters whole.
pub fn words(text: &str) -> Vec<String> {
    tokens(text, false)
        .into_iter()
        .map(|t| t.text().to_string())
        .collect()
}

fn tokens(text: &str, stemmed: bool) -> Vec<Term> {
    let lower = text.to_lowercase();
    let mut out = Vec::new();
    let mut word = String::new();
    let mut run: Vec<char> = Vec::new();
    let flush_word = |word: &mut String, out: &mut Vec<Term>| {
        let w = word.trim_matches('\'');
        let w = w.strip_suffix("'s").unwrap_or(w);
        let keep = w.chars().count() >= 2
            && !STOP_WORDS.contains(&w)
            && !(w.chars().all(|c| c.is_ascii_digit()) && w.len() < 3);
        if keep {
            out.push(Term::Word(if stemmed { stem(w) } else { w.to_string() }));
        }
        word.clear();
    };
    let flush_run = |run: &mut Vec<char>, out: &mut Vec<Term>| {
        if !stemmed {
            // For people: the run as written (a phrase, not its pairs).
            let s: String = run.iter().collect();
            if run.len() >= 2 && !STOP_BIGRAMS.contains(&s.as_str()) {
                out.push(Term::Cjk(s));
            }
            run.clear();
            return;
        }
        for pair in run.windows(2) {
            let s: String = pair.iter().collect();
            if !STOP_BIGRAMS.contains(&s.as_str())
                && !pair.iter().any(|c| FUNCTION_CHARS.contains(*c))
            {
                out.push(Term::Cjk(s));
            }
        }
        run.clear();
    };
    for c in lower.chars() {
        if is_cjk(c) {
            flush_word(&mut word, &mut out);
            run.push(c);
        } else if c.is_alphanumeric() || (c == '\'' && !word.is_empty()) {
            flush_run(&mut run, &mut out);
            word.push(c);
        } else {
            flush_word(&mut word, &mut out);
            flush_run(&mut run, &mut out);
        }
    }
    flush_word(&mut word, &mut out);
    flush_run(&mut run, &mut out);
    out
}

/// The distinct terms of a request with their weights: words of the subject
/// count twice. At most [`MAX_TERMS`], subject first.
pub fn request_terms(subject: &str, text: &str) -> Vec<(Term, f64)> {
    let mut out: Vec<(Term, f64)> = Vec::new();
    for (t, w) in analyse(subject)
        .into_iter()
        .map(|t| (t, 2.0))
        .chain(analyse(text).into_iter().map(|t| (t, 1.0)))
    {
        if let Some(seen) = out.iter_mut().find(|(s, _)| *s == t) {
            seen.1 = f64::max(seen.1, w);
        } else if out.len() < MAX_TERMS {
            out.push((t, w));
        }
    }
    out
}

/// The words of a search typed by a person: each whitespace-separated word
/// must be found, as typed (lowercased), anywhere in the entry.
pub fn search_terms(query: &str) -> Vec<Term> {
    let mut out: Vec<Term> = Vec::new();
    for w in query.split_whitespace() {
        let w = w.to_lowercase();
        let t = if w.chars().any(is_cjk) {
            Term::Cjk(w)
        } else {
            Term::Word(w)
        };
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// An FTS5 query that matches any of `terms` that the index can find, or
/// `None` when none can. Each term is a quoted string, so nothing in it is
/// read as query syntax.
pub fn fts_any(terms: &[&Term]) -> Option<String> {
    fts_join(terms, " OR ")
}

/// An FTS5 query that matches entries with every indexable term.
pub fn fts_all(terms: &[&Term]) -> Option<String> {
    fts_join(terms, " AND ")
}

fn fts_join(terms: &[&Term], op: &str) -> Option<String> {
    let parts: Vec<String> = terms
        .iter()
        .filter(|t| t.indexable())
        .map(|t| format!("\"{}\"", t.text().replace('"', "\"\"")))
        .collect();
    (!parts.is_empty()).then(|| parts.join(op))
}

/// A `LIKE` pattern finding `term` anywhere, with `\` as the escape.
pub fn like_pattern(term: &Term) -> String {
    let mut s = String::from("%");
    for c in term.text().chars() {
        if matches!(c, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('%');
    s
}

/// How common the terms are among published entries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Published entries.
    pub total: usize,
    /// Their average length in terms.
    pub avg_len: f64,
    /// Entries containing each term.
    pub df: BTreeMap<Term, usize>,
}

/// An entry as relevance sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc<'a> {
    pub title: &'a str,
    pub problem: &'a str,
    pub solution: &'a str,
}

/// The title counts this many times a word of the problem or solution.
const TITLE_WEIGHT: f64 = 3.0;
const K1: f64 = 1.2;
const B: f64 = 0.75;

/// Length of an entry in terms, for BM25's length normalisation.
pub fn doc_len(d: &Doc<'_>) -> usize {
    analyse(d.title).len() + analyse(d.problem).len() + analyse(d.solution).len()
}

/// How well `doc` answers a request with these weighted terms, 0 to 1.
///
/// Each term scores BM25's saturating term frequency (the title weighted
/// ×3, long entries damped), capped at 1 (one mention in an entry of
/// average length), times its inverse document frequency
/// `ln(1 + (N - n + 0.5) / (n + 0.5))`, which stays positive even when every
/// entry has the word. The sum is divided by what an entry with every term
/// the knowledge base knows would score, so 1 means "covers all of it" in a
/// knowledge base of 3 entries or 3000. Terms no entry has do not count.
pub fn relevance(terms: &[(Term, f64)], doc: &Doc<'_>, stats: &Stats) -> f64 {
    let title = doc.title.to_lowercase();
    let body = format!("{}\n{}", doc.problem, doc.solution).to_lowercase();
    let dl = doc_len(doc) as f64;
    let avg = if stats.avg_len > 0.0 {
        stats.avg_len
    } else {
        dl.max(1.0)
    };
    let norm = 1.0 - B + B * dl / avg;
    let n = stats.total as f64;
    let mut got = 0.0;
    let mut best = 0.0;
    for (t, w) in terms {
        let df = stats.df.get(t).copied().unwrap_or(0);
        if df == 0 {
            continue;
        }
        let df = df as f64;
        let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
        best += w * idf;
        let tf = TITLE_WEIGHT * t.count_in(&title) as f64 + t.count_in(&body) as f64;
        if tf > 0.0 {
            let sat = tf * (K1 + 1.0) / (tf + K1 * norm);
            got += w * idf * sat.min(1.0);
        }
    }
    if best > 0.0 { got / best } else { 0.0 }
}

/// How entries are named to people: `KB-12`.
pub fn entry_ref(id: i64) -> String {
    format!("KB-{id}")
}

/// The most of a solution an acknowledgement quotes.
const MAX_EXCERPT_CHARS: usize = 600;

fn excerpt(text: &str) -> String {
    let t = text.trim();
    if t.chars().count() <= MAX_EXCERPT_CHARS {
        return t.to_string();
    }
    let mut s: String = t.chars().take(MAX_EXCERPT_CHARS).collect();
    s.push('…');
    s
}

/// Adds `found` to the acknowledgement and the team notice of the ticket
/// that `effects` create, and records what the requester was offered.
/// Nothing changes when `found` is empty or no ticket is created.
pub fn offer(effects: &mut Vec<Effect>, found: &[Suggestion]) {
    if found.is_empty() {
        return;
    }
    let Some(number) = effects.iter().find_map(|e| match e {
        Effect::CreateTicket(t) => Some(t.number),
        _ => None,
    }) else {
        return;
    };
    let list: Vec<Value> = found
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "ref": entry_ref(s.id),
                "title": s.title,
                "solution": excerpt(&s.solution),
                "score": (s.score * 100.0).round() / 100.0,
            })
        })
        .collect();
    let mut acknowledged = false;
    for e in effects.iter_mut() {
        if let Effect::Send(m) = e
            && m.ticket == number
            && matches!(m.template, "ack" | "notify-new")
            && let Value::Object(vars) = &mut m.vars
        {
            vars.insert("suggestions".into(), Value::Array(list.clone()));
            acknowledged |= m.template == "ack";
        }
    }
    if acknowledged {
        effects.push(Effect::Kb(KbEffect::Suggested {
            ticket: number,
            entries: found.iter().map(|s| s.id).collect(),
        }));
    }
}

#[cfg(test)]
mod tests;
