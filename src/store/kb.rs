//! The knowledge base's SQL: entries, the FTS5 index (trigram tokenizer)
//! with a LIKE fallback for short terms, and the suggestions for a request.

use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::{Ctx, EventRecord, Store, StoreError, Tx};
use crate::desk::kb::{
    self, Doc, EntryRef, EntryStatus, KbEffect, Stats, Suggestion, Term, TicketKb,
};

/// An entry as listed and shown.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KbEntry {
    pub id: i64,
    pub ticket: Option<i64>,
    pub status: String,
    pub title: String,
    pub problem: String,
    pub solution: String,
    pub category: Option<String>,
    pub lang: String,
    pub author: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub published_at: Option<i64>,
}

/// What [`Store::kb_review`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KbReview {
    NoEntry,
    /// The entry already had that status; nothing changed.
    Already,
    Changed,
    /// Publishing was refused: the entry has no solution text.
    NeedsSolution,
}

/// A search result: the entry and its BM25 score (higher is better; 0 when
/// only LIKE terms were searched).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KbHit {
    pub entry: KbEntry,
    pub score: f64,
}

const ENTRY_COLUMNS: &str =
    "e.id, e.ticket, e.status, e.title, e.problem, e.solution, e.category, e.lang, e.author,
     e.created_at, e.updated_at, e.published_at";

fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KbEntry> {
    Ok(KbEntry {
        id: r.get(0)?,
        ticket: r.get(1)?,
        status: r.get(2)?,
        title: r.get(3)?,
        problem: r.get(4)?,
        solution: r.get(5)?,
        category: r.get(6)?,
        lang: r.get(7)?,
        author: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
        published_at: r.get(11)?,
    })
}

/// The most of a request kept as an entry's problem.
const MAX_PROBLEM_CHARS: usize = 2000;
/// How many candidates relevance looks at, per kind of lookup.
const MAX_CANDIDATES: usize = 50;

/// A ticket's entry and the entries its acknowledgement suggested.
pub(super) fn ticket_kb(c: &Connection, number: i64) -> Result<TicketKb, StoreError> {
    let entry = c
        .prepare_cached("SELECT id, status, solution != '' FROM kb_entries WHERE ticket = ?1")
        .and_then(|mut s| {
            s.query_row([number], |r| {
                let status: String = r.get(1)?;
                Ok(EntryRef {
                    id: r.get(0)?,
                    status: EntryStatus::parse(&status).unwrap_or(EntryStatus::Draft),
                    has_solution: r.get(2)?,
                })
            })
            .optional()
        })
        .ctx("reading the ticket's knowledge-base entry")?;
    let suggested = c
        .prepare_cached("SELECT entry FROM kb_suggestions WHERE ticket = ?1 ORDER BY entry")
        .and_then(|mut s| s.query_map([number], |r| r.get(0))?.collect())
        .ctx("reading knowledge-base suggestions")?;
    Ok(TicketKb { entry, suggested })
}

fn clip(text: &str, max: usize) -> String {
    let t = text.trim();
    if t.chars().count() <= max {
        t.to_string()
    } else {
        let mut s: String = t.chars().take(max).collect();
        s.push('…');
        s
    }
}

fn entry_by_ticket(
    c: &Connection,
    ticket: i64,
) -> Result<Option<(i64, String, KbEntry)>, StoreError> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM kb_entries e WHERE e.ticket = ?1");
    c.prepare_cached(&sql)
        .and_then(|mut s| s.query_row([ticket], entry_row).optional())
        .ctx("reading a knowledge-base entry")
        .map(|o| o.map(|e| (e.id, e.status.clone(), e)))
}

fn terms_of(title: &str, problem: &str, solution: &str) -> i64 {
    kb::doc_len(&Doc {
        title,
        problem,
        solution,
    }) as i64
}

fn set_status(c: &Connection, id: i64, status: EntryStatus, at: i64) -> Result<bool, StoreError> {
    let n = c
        .prepare_cached(
            "UPDATE kb_entries SET status = ?2, updated_at = ?3,
                 published_at = CASE WHEN ?2 = 'published' THEN coalesce(published_at, ?3) ELSE published_at END
             WHERE id = ?1 AND (?2 != 'published' OR solution != '')",
        )
        .and_then(|mut s| s.execute(params![id, status.as_str(), at]))
        .ctx("changing a knowledge-base entry")?;
    Ok(n == 1)
}

/// Published entries that answer a request well enough, best first.
/// `terms` are the request's words, made only when there are published
/// entries to look for: a desk without any paid 6 % of `process_batch`
/// for tokenizing each new request (perf, bench corpus).
fn suggestions(
    c: &Connection,
    terms: impl FnOnce() -> Vec<(Term, f64)>,
    limit: usize,
    min_score: f64,
) -> Result<Vec<Suggestion>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let (total, avg_len): (i64, Option<f64>) = c
        .prepare_cached("SELECT count(*), avg(terms) FROM kb_entries WHERE status = 'published'")
        .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
        .ctx("counting published entries")?;
    if total == 0 {
        return Ok(Vec::new());
    }
    let terms = terms();
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let terms = terms.as_slice();
    let mut stats = Stats {
        total: total as usize,
        avg_len: avg_len.unwrap_or(0.0),
        ..Stats::default()
    };
    let mut by_fts = c
        .prepare_cached(
            "SELECT count(*) FROM kb_fts JOIN kb_entries e ON e.id = kb_fts.rowid
             WHERE kb_fts MATCH ?1 AND e.status = 'published'",
        )
        .ctx("preparing term counts")?;
    let mut by_like = c
        .prepare_cached(
            "SELECT count(*) FROM kb_entries WHERE status = 'published'
               AND (title LIKE ?1 ESCAPE '\\' OR problem LIKE ?1 ESCAPE '\\' OR solution LIKE ?1 ESCAPE '\\')",
        )
        .ctx("preparing term counts")?;
    for (t, _) in terms {
        let n: i64 = if t.indexable() {
            let q = kb::fts_any(&[t]).unwrap_or_default();
            by_fts.query_row([q], |r| r.get(0))
        } else {
            by_like.query_row([kb::like_pattern(t)], |r| r.get(0))
        }
        .ctx("counting entries with a term")?;
        if n > 0 {
            stats.df.insert(t.clone(), n as usize);
        }
    }
    let known: Vec<&Term> = terms
        .iter()
        .map(|(t, _)| t)
        .filter(|t| stats.df.contains_key(*t))
        .collect();
    let mut ids: Vec<i64> = Vec::new();
    if let Some(q) = kb::fts_any(&known) {
        let mut s = c
            .prepare_cached(
                "SELECT kb_fts.rowid FROM kb_fts JOIN kb_entries e ON e.id = kb_fts.rowid
                 WHERE kb_fts MATCH ?1 AND e.status = 'published'
                 ORDER BY bm25(kb_fts, 10.0, 2.0, 1.0) LIMIT ?2",
            )
            .ctx("preparing the candidate search")?;
        let found = s
            .query_map(params![q, MAX_CANDIDATES as i64], |r| r.get::<_, i64>(0))
            .ctx("searching the knowledge base")?;
        for id in found {
            ids.push(id.ctx("searching the knowledge base")?);
        }
    }
    let short: Vec<String> = known
        .iter()
        .filter(|t| !t.indexable())
        .map(|t| kb::like_pattern(t))
        .collect();
    if !short.is_empty() {
        let cond: Vec<String> = (1..=short.len())
            .map(|i| {
                format!(
                    "title LIKE ?{i} ESCAPE '\\' OR problem LIKE ?{i} ESCAPE '\\' OR solution LIKE ?{i} ESCAPE '\\'"
                )
            })
            .collect();
        let sql = format!(
            "SELECT id FROM kb_entries WHERE status = 'published' AND ({}) ORDER BY id DESC LIMIT {MAX_CANDIDATES}",
            cond.join(" OR ")
        );
        let mut s = c.prepare(&sql).ctx("preparing the candidate search")?;
        let found = s
            .query_map(params_from_iter(short.iter()), |r| r.get::<_, i64>(0))
            .ctx("searching the knowledge base")?;
        for id in found {
            let id = id.ctx("searching the knowledge base")?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    let mut load = c
        .prepare_cached("SELECT title, problem, solution FROM kb_entries WHERE id = ?1")
        .ctx("preparing entry lookup")?;
    let mut out = Vec::new();
    for id in ids {
        let (title, problem, solution): (String, String, String) = load
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .ctx("reading a candidate entry")?;
        let score = kb::relevance(
            terms,
            &Doc {
                title: &title,
                problem: &problem,
                solution: &solution,
            },
            &stats,
        );
        if score >= min_score {
            out.push(Suggestion {
                id,
                title,
                solution,
                score,
            });
        }
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    out.truncate(limit);
    Ok(out)
}

impl Tx<'_> {
    /// Applies a knowledge-base effect and records it in the ticket's timeline.
    pub fn kb_apply(&self, effect: &KbEffect, at: i64) -> Result<(), StoreError> {
        let c: &Connection = &self.tx;
        let (ticket, actor, new, detail) = match effect {
            KbEffect::Draft {
                ticket,
                solution,
                publish,
                actor,
            } => {
                let Some((subject, category, lang)) = c
                    .query_row(
                        "SELECT subject, category, lang FROM tickets WHERE number = ?1",
                        [ticket],
                        |r| {
                            Ok((
                                r.get::<_, String>(0)?,
                                r.get::<_, Option<String>>(1)?,
                                r.get::<_, String>(2)?,
                            ))
                        },
                    )
                    .optional()
                    .ctx("reading a ticket for its article")?
                else {
                    return Ok(());
                };
                let problem: String = c
                    .query_row(
                        "SELECT body FROM messages WHERE ticket = ?1 AND direction = 'in' AND kind = 'request' ORDER BY id LIMIT 1",
                        [ticket],
                        |r| r.get(0),
                    )
                    .optional()
                    .ctx("reading the request of a ticket")?
                    .unwrap_or_default();
                let problem = clip(&problem, MAX_PROBLEM_CHARS);
                let solution = solution.trim();
                let status = if *publish && !solution.is_empty() {
                    EntryStatus::Published
                } else {
                    EntryStatus::Draft
                };
                let id = match entry_by_ticket(c, *ticket)? {
                    None => c
                        .prepare_cached(
                            "INSERT INTO kb_entries (ticket, status, title, problem, solution, category, lang, terms, author,
                                                     created_at, updated_at, published_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, CASE WHEN ?2 = 'published' THEN ?10 END)",
                        )
                        .and_then(|mut s| {
                            s.insert(params![
                                ticket,
                                status.as_str(),
                                subject,
                                problem,
                                solution,
                                category,
                                lang,
                                terms_of(&subject, &problem, solution),
                                actor,
                                at
                            ])
                        })
                        .ctx("drafting a knowledge-base entry")?,
                    Some((id, _, old)) => {
                        let solution = if solution.is_empty() { old.solution.as_str() } else { solution };
                        c.prepare_cached(
                            "UPDATE kb_entries SET solution = ?2, terms = ?3, author = ?4, updated_at = ?5 WHERE id = ?1",
                        )
                        .and_then(|mut s| {
                            s.execute(params![
                                id,
                                solution,
                                terms_of(&old.title, &old.problem, solution),
                                actor,
                                at
                            ])
                        })
                        .ctx("updating a knowledge-base draft")?;
                        if *publish {
                            set_status(c, id, EntryStatus::Published, at)?;
                        }
                        id
                    }
                };
                let now: String = c
                    .query_row("SELECT status FROM kb_entries WHERE id = ?1", [id], |r| {
                        r.get(0)
                    })
                    .ctx("reading a knowledge-base entry")?;
                (*ticket, actor.as_str(), now, kb::entry_ref(id))
            }
            KbEffect::Publish { ticket, actor } | KbEffect::Skip { ticket, actor } => {
                let Some((id, _, _)) = entry_by_ticket(c, *ticket)? else {
                    return Ok(());
                };
                let status = if matches!(effect, KbEffect::Publish { .. }) {
                    EntryStatus::Published
                } else {
                    EntryStatus::Skipped
                };
                if !set_status(c, id, status, at)? {
                    return Ok(());
                }
                (
                    *ticket,
                    actor.as_str(),
                    status.as_str().to_string(),
                    kb::entry_ref(id),
                )
            }
            KbEffect::Suggested { ticket, entries } | KbEffect::Helped { ticket, entries } => {
                let helped = matches!(effect, KbEffect::Helped { .. });
                let mut s = c
                    .prepare_cached(
                        "INSERT INTO kb_suggestions (ticket, entry, at, helped) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (ticket, entry) DO UPDATE SET helped = max(helped, excluded.helped)",
                    )
                    .ctx("preparing suggestion record")?;
                for e in entries {
                    s.execute(params![ticket, e, at, helped])
                        .ctx("recording a suggestion")?;
                }
                let refs: Vec<String> = entries.iter().map(|e| kb::entry_ref(*e)).collect();
                let (actor, kind) = if helped {
                    ("requester", "kb-helped")
                } else {
                    ("postdesk", "kb-suggested")
                };
                return self.insert_event(&EventRecord {
                    ticket: *ticket,
                    at,
                    actor,
                    kind,
                    old: None,
                    new: None,
                    detail: Some(&refs.join(", ")),
                });
            }
        };
        self.insert_event(&EventRecord {
            ticket,
            at,
            actor,
            kind: "kb",
            old: None,
            new: Some(&new),
            detail: Some(&detail),
        })
    }

    /// Published entries that answer a request (its subject and text) well
    /// enough, best first.
    pub fn kb_suggestions(
        &self,
        subject: &str,
        text: &str,
        limit: usize,
        min_score: f64,
    ) -> Result<Vec<Suggestion>, StoreError> {
        suggestions(
            &self.tx,
            || kb::request_terms(subject, text),
            limit,
            min_score,
        )
    }
}

impl Store {
    /// Entries, newest first, optionally only those in `status`.
    pub fn kb_entries(
        &self,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<KbEntry>, StoreError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM kb_entries e WHERE ?1 IS NULL OR e.status = ?1 ORDER BY e.id DESC LIMIT ?2"
        );
        let mut s = self.conn.prepare(&sql).ctx("preparing entry list")?;
        let rows = s
            .query_map(params![status, limit as i64], entry_row)
            .ctx("listing knowledge-base entries")?;
        rows.collect::<Result<_, _>>()
            .ctx("listing knowledge-base entries")
    }

    pub fn kb_entry(&self, id: i64) -> Result<Option<KbEntry>, StoreError> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM kb_entries e WHERE e.id = ?1");
        self.conn
            .query_row(&sql, [id], entry_row)
            .optional()
            .ctx("reading a knowledge-base entry")
    }

    /// [`Store::kb_set_status`] for an admin who may ask for what is
    /// already so (`postdesk kb publish 3` twice): says which case it was.
    pub fn kb_review(
        &mut self,
        id: i64,
        status: EntryStatus,
        actor: &str,
        at: i64,
    ) -> Result<KbReview, StoreError> {
        let Some(e) = self.kb_entry(id)? else {
            return Ok(KbReview::NoEntry);
        };
        if e.status == status.as_str() {
            return Ok(KbReview::Already);
        }
        Ok(if self.kb_set_status(id, status, actor, at)? {
            KbReview::Changed
        } else {
            KbReview::NeedsSolution
        })
    }

    /// Publishes or skips an entry (an admin's decision), recorded in its
    /// ticket's timeline. False when nothing changed (no such entry, or
    /// publishing one without solution text).
    pub fn kb_set_status(
        &mut self,
        id: i64,
        status: EntryStatus,
        actor: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let tx = self.transaction()?;
        if !set_status(&tx.tx, id, status, at)? {
            return Ok(false);
        }
        let ticket: Option<i64> = tx
            .tx
            .query_row("SELECT ticket FROM kb_entries WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .ctx("reading a knowledge-base entry")?;
        if let Some(ticket) = ticket {
            tx.insert_event(&EventRecord {
                ticket,
                at,
                actor,
                kind: "kb",
                old: None,
                new: Some(status.as_str()),
                detail: Some(&kb::entry_ref(id)),
            })?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// Changes an entry's title, problem or solution. False when there is no such entry.
    pub fn kb_edit(
        &mut self,
        id: i64,
        title: Option<&str>,
        problem: Option<&str>,
        solution: Option<&str>,
        at: i64,
    ) -> Result<bool, StoreError> {
        let Some(old) = self.kb_entry(id)? else {
            return Ok(false);
        };
        let title = title.map(str::trim).unwrap_or(&old.title);
        let problem = problem.map(str::trim).unwrap_or(&old.problem);
        let solution = solution.map(str::trim).unwrap_or(&old.solution);
        self.conn
            .execute(
                "UPDATE kb_entries SET title = ?2, problem = ?3, solution = ?4, terms = ?5, updated_at = ?6 WHERE id = ?1",
                params![id, title, problem, solution, terms_of(title, problem, solution), at],
            )
            .ctx("editing a knowledge-base entry")?;
        // An article without a solution is not worth suggesting.
        self.conn
            .execute(
                "UPDATE kb_entries SET status = 'draft' WHERE id = ?1 AND status = 'published' AND solution = ''",
                [id],
            )
            .ctx("editing a knowledge-base entry")?;
        Ok(true)
    }

    /// Entries with every word of `query` (a word of three or more
    /// characters through the FTS5 index, a shorter one through LIKE), best
    /// first by BM25 (title ×10, problem ×2, solution ×1).
    pub fn kb_search(
        &self,
        query: &str,
        published_only: bool,
        limit: usize,
    ) -> Result<Vec<KbHit>, StoreError> {
        let terms = kb::search_terms(query);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let refs: Vec<&Term> = terms.iter().collect();
        let fts = kb::fts_all(&refs);
        let likes: Vec<String> = terms
            .iter()
            .filter(|t| !t.indexable())
            .map(kb::like_pattern)
            .collect();
        let mut args: Vec<String> = Vec::new();
        let mut wheres: Vec<String> = Vec::new();
        if published_only {
            wheres.push("e.status = 'published'".into());
        }
        let (from, rank) = match &fts {
            Some(q) => {
                args.push(q.clone());
                wheres.push("kb_fts MATCH ?1".into());
                (
                    "kb_fts JOIN kb_entries e ON e.id = kb_fts.rowid",
                    "-bm25(kb_fts, 10.0, 2.0, 1.0)",
                )
            }
            None => ("kb_entries e", "0.0"),
        };
        for p in likes {
            args.push(p);
            let i = args.len();
            wheres.push(format!(
                "(e.title LIKE ?{i} ESCAPE '\\' OR e.problem LIKE ?{i} ESCAPE '\\' OR e.solution LIKE ?{i} ESCAPE '\\')"
            ));
        }
        let sql = format!(
            "SELECT {ENTRY_COLUMNS}, {rank} AS score FROM {from} WHERE {} ORDER BY score DESC, e.id DESC LIMIT {}",
            if wheres.is_empty() {
                "1".to_string()
            } else {
                wheres.join(" AND ")
            },
            limit
        );
        let mut s = self.conn.prepare(&sql).ctx("preparing the search")?;
        let rows = s
            .query_map(params_from_iter(args.iter()), |r| {
                Ok(KbHit {
                    entry: entry_row(r)?,
                    score: r.get(12)?,
                })
            })
            .ctx("searching the knowledge base")?;
        rows.collect::<Result<_, _>>()
            .ctx("searching the knowledge base")
    }

    /// What an acknowledgement for this request would suggest.
    pub fn kb_suggest(
        &self,
        subject: &str,
        text: &str,
        limit: usize,
        min_score: f64,
    ) -> Result<Vec<Suggestion>, StoreError> {
        suggestions(
            &self.conn,
            || kb::request_terms(subject, text),
            limit,
            min_score,
        )
    }
}

/// An entry written by hand, not drafted from a ticket.
#[derive(Debug, Clone, Copy)]
pub struct NewEntry<'a> {
    pub title: &'a str,
    pub problem: &'a str,
    pub solution: &'a str,
    pub category: Option<&'a str>,
    pub lang: &'a str,
    /// Published at once (when it has a solution), else a draft.
    pub publish: bool,
    pub author: &'a str,
}

impl Store {
    /// Adds an entry written by hand (no ticket).
    pub fn kb_add(&mut self, e: &NewEntry<'_>, at: i64) -> Result<i64, StoreError> {
        let (title, problem, solution) = (e.title.trim(), e.problem.trim(), e.solution.trim());
        let status = if e.publish && !solution.is_empty() {
            EntryStatus::Published
        } else {
            EntryStatus::Draft
        };
        self.conn
            .prepare_cached(
                "INSERT INTO kb_entries (ticket, status, title, problem, solution, category, lang, terms, author,
                                         created_at, updated_at, published_at)
                 VALUES (NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, CASE WHEN ?1 = 'published' THEN ?9 END)",
            )
            .and_then(|mut s| {
                s.insert(params![
                    status.as_str(),
                    title,
                    problem,
                    solution,
                    e.category,
                    e.lang,
                    terms_of(title, problem, solution),
                    e.author,
                    at
                ])
            })
            .ctx("adding a knowledge-base entry")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("kb.db")).unwrap();
        (dir, s)
    }

    fn entry<'a>(
        title: &'a str,
        problem: &'a str,
        solution: &'a str,
        publish: bool,
    ) -> NewEntry<'a> {
        NewEntry {
            title,
            problem,
            solution,
            category: None,
            lang: "en",
            publish,
            author: "test",
        }
    }

    fn add(s: &mut Store, title: &str, problem: &str, solution: &str) -> i64 {
        s.kb_add(&entry(title, problem, solution, true), 1).unwrap()
    }

    fn ids(hits: &[KbHit]) -> Vec<i64> {
        hits.iter().map(|h| h.entry.id).collect()
    }

    #[test]
    fn english_words_found_by_the_trigram_index() {
        let (_d, mut s) = store();
        let vpn = add(
            &mut s,
            "VPN drops every hour",
            "The VPN client disconnects after an hour.",
            "Update the client to 5.2.",
        );
        let printer = add(
            &mut s,
            "Printer prints blank pages",
            "The printer on floor 3 prints nothing.",
            "Replace the toner cartridge.",
        );
        assert_eq!(ids(&s.kb_search("vpn", true, 10).unwrap()), [vpn]);
        // Case does not matter; all words must be there; parts of words count.
        assert_eq!(
            ids(&s.kb_search("TONER print", true, 10).unwrap()),
            [printer]
        );
        assert!(s.kb_search("toner vpn", true, 10).unwrap().is_empty());
        // The title weighs more than the solution.
        let client = add(&mut s, "Client certificate expired", "", "Renew it.");
        let hits = s.kb_search("client", true, 10).unwrap();
        assert_eq!(ids(&hits)[0], client, "{hits:?}");
        assert!(hits[0].score > hits[1].score);
        // Query syntax in the words is taken literally.
        assert!(s.kb_search("\"vpn OR NEAR(", true, 10).unwrap().is_empty());
    }

    #[test]
    fn chinese_words_inside_sentences() {
        let (_d, mut s) = store();
        let printer = add(
            &mut s,
            "三楼的打印机打不出字",
            "办公室的打印机不能打印，显示缺纸。",
            "打开纸盒，取出卡住的纸，再重启打印机。",
        );
        let mail = add(
            &mut s,
            "邮箱密码过期",
            "登录邮箱时提示密码已过期。",
            "在门户网站重置密码。",
        );
        // Three characters and more: the FTS5 trigram index.
        assert_eq!(ids(&s.kb_search("打印机", true, 10).unwrap()), [printer]);
        assert_eq!(ids(&s.kb_search("卡住的纸", true, 10).unwrap()), [printer]);
        // Two characters: the LIKE fallback.
        assert_eq!(ids(&s.kb_search("密码", true, 10).unwrap()), [mail]);
        // Mixed: an index term and a short one must both be there.
        assert_eq!(
            ids(&s.kb_search("打印机 纸盒", true, 10).unwrap()),
            [printer]
        );
        assert!(s.kb_search("打印机 密码", true, 10).unwrap().is_empty());
        // One character is a LIKE term too.
        assert_eq!(ids(&s.kb_search("纸", true, 10).unwrap()), [printer]);
    }

    #[test]
    fn drafts_are_not_searched_unless_asked() {
        let (_d, mut s) = store();
        let id = s
            .kb_add(&entry("VPN drops", "", "Update.", false), 1)
            .unwrap();
        assert!(s.kb_search("vpn", true, 10).unwrap().is_empty());
        assert_eq!(ids(&s.kb_search("vpn", false, 10).unwrap()), [id]);
        assert!(
            s.kb_set_status(id, EntryStatus::Published, "admin", 2)
                .unwrap()
        );
        assert_eq!(ids(&s.kb_search("vpn", true, 10).unwrap()), [id]);
    }

    #[test]
    fn an_entry_without_a_solution_is_never_published() {
        let (_d, mut s) = store();
        let id = s.kb_add(&entry("VPN drops", "", "", true), 1).unwrap();
        assert_eq!(s.kb_entry(id).unwrap().unwrap().status, "draft");
        assert!(
            !s.kb_set_status(id, EntryStatus::Published, "admin", 2)
                .unwrap()
        );
        assert!(
            s.kb_edit(id, None, None, Some("Update the client."), 3)
                .unwrap()
        );
        assert!(
            s.kb_set_status(id, EntryStatus::Published, "admin", 4)
                .unwrap()
        );
        let e = s.kb_entry(id).unwrap().unwrap();
        assert_eq!((e.status.as_str(), e.published_at), ("published", Some(4)));
        // Emptied again: back to a draft.
        s.kb_edit(id, None, None, Some(""), 5).unwrap();
        assert_eq!(s.kb_entry(id).unwrap().unwrap().status, "draft");
    }

    #[test]
    fn an_admin_review_says_what_it_did() {
        let (_d, mut s) = store();
        let id = s.kb_add(&entry("VPN drops", "", "", false), 1).unwrap();
        let review = |s: &mut Store, id, status| s.kb_review(id, status, "admin", 2).unwrap();
        assert_eq!(
            review(&mut s, id, EntryStatus::Published),
            KbReview::NeedsSolution
        );
        assert_eq!(review(&mut s, id, EntryStatus::Draft), KbReview::Already);
        s.kb_edit(id, None, None, Some("Update."), 3).unwrap();
        assert_eq!(
            review(&mut s, id, EntryStatus::Published),
            KbReview::Changed
        );
        assert_eq!(
            review(&mut s, id, EntryStatus::Published),
            KbReview::Already
        );
        assert_eq!(review(&mut s, id, EntryStatus::Skipped), KbReview::Changed);
        assert_eq!(review(&mut s, 99, EntryStatus::Skipped), KbReview::NoEntry);
    }

    #[test]
    fn edits_reach_the_index() {
        let (_d, mut s) = store();
        let id = add(&mut s, "VPN drops", "", "Update.");
        s.kb_edit(id, Some("Wi-Fi drops"), None, None, 2).unwrap();
        assert!(s.kb_search("vpn", true, 10).unwrap().is_empty());
        assert_eq!(ids(&s.kb_search("wi-fi", true, 10).unwrap()), [id]);
    }

    #[test]
    fn suggestions_for_english_and_chinese_requests() {
        let (_d, mut s) = store();
        let vpn = add(
            &mut s,
            "VPN drops every hour",
            "The VPN client disconnects every hour.",
            "Update the VPN client to version 5.2.",
        );
        let printer = add(
            &mut s,
            "Printer prints blank pages",
            "The printer on floor 3 prints empty pages.",
            "Replace the toner cartridge.",
        );
        let zh = add(
            &mut s,
            "打印机卡纸",
            "打印机提示卡纸，打印不出来。",
            "打开纸盒，取出卡住的纸。",
        );
        let found = s
            .kb_suggest(
                "VPN keeps disconnecting",
                "Hello, since this morning my VPN disconnects every few minutes. Regards, Ann",
                3,
                0.35,
            )
            .unwrap();
        assert_eq!(
            found.iter().map(|f| f.id).collect::<Vec<_>>(),
            [vpn],
            "{found:?}"
        );
        let found = s
            .kb_suggest(
                "我的打印机又卡纸了",
                "您好，三楼打印机卡纸，打印不出来。谢谢",
                3,
                0.35,
            )
            .unwrap();
        assert_eq!(
            found.iter().map(|f| f.id).collect::<Vec<_>>(),
            [zh],
            "{found:?}"
        );
        let found = s
            .kb_suggest(
                "New laptop for a new colleague",
                "We need a laptop by Monday.",
                3,
                0.35,
            )
            .unwrap();
        assert!(found.is_empty(), "{found:?}");
        let _ = printer;
    }
}
