//! Cost per message inside the process: parse, threading, decide, render and
//! build, and whole batches into SQLite (also as the database grows).
//!
//! A plain timing loop: calibrate the iterations so one sample takes a few
//! milliseconds, warm up, take several samples, report the median and the
//! fastest per call. No servers are needed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use postdesk::compose;
use postdesk::config::Config;
use postdesk::desk::decide;
use postdesk::desk::effect::Effect;
use postdesk::desk::ticket::Status;
use postdesk::desk::ticket::TicketState;
use postdesk::lang::Lang;
use postdesk::pipeline::{Engine, Incoming, process_batch};
use postdesk::store::{Checkpoint, Store};
use postdesk::subject::TagFormat;
use postdesk::thread::Link;

use crate::corpus::{self, Category, Names};

/// How hard to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Under `cargo test`: each benchmark once, to prove it still runs.
    Smoke,
    /// `--quick`: few samples.
    Quick,
    Full,
}

#[derive(Debug, serde::Serialize)]
pub struct Timing {
    pub name: String,
    /// Median time per call.
    pub median_us: f64,
    pub min_us: f64,
    pub samples: usize,
    pub calls_per_sample: u64,
    /// What one call handles, e.g. "4.1 KB message".
    pub input: String,
}

#[derive(Debug, serde::Serialize)]
pub struct Growth {
    /// Inbound messages in the database before the batch.
    pub db_messages_before: usize,
    pub us_per_message: f64,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct MicroResult {
    pub timings: Vec<Timing>,
    /// `process_batch` of `batch` messages, one batch after another into
    /// one database: does the cost per message grow with the database?
    pub batch_growth: Vec<Growth>,
    pub batch: usize,
    /// The growth run's database file after close, and the raw mail in it.
    pub db_bytes: u64,
    pub raw_bytes: u64,
    /// Where the database's bytes are: each table and index by its pages
    /// (SQLite's dbstat), largest first, then the messages' columns.
    pub storage: Vec<(String, u64)>,
}

fn time<T>(name: &str, input: String, budget: Budget, mut f: impl FnMut() -> T) -> Timing {
    let (sample_target, samples, warmup) = match budget {
        Budget::Smoke => (Duration::ZERO, 1, Duration::ZERO),
        Budget::Quick => (Duration::from_millis(5), 7, Duration::from_millis(20)),
        Budget::Full => (Duration::from_millis(20), 21, Duration::from_millis(200)),
    };
    let t = Instant::now();
    black_box(f());
    let once = t.elapsed().max(Duration::from_nanos(20));
    let calls = (sample_target.as_nanos() / once.as_nanos()).clamp(1, 1_000_000) as u64;
    let t = Instant::now();
    while t.elapsed() < warmup {
        black_box(f());
    }
    let mut per_call: Vec<f64> = (0..samples)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..calls {
                black_box(f());
            }
            t.elapsed().as_secs_f64() * 1e6 / calls as f64
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    Timing {
        name: name.to_string(),
        median_us: per_call[per_call.len() / 2],
        min_us: per_call[0],
        samples,
        calls_per_sample: calls,
        input,
    }
}

fn engine(dir: &std::path::Path, desk: &str) -> Engine {
    let mut cfg = Config::embedded(dir);
    cfg.desk.address = desk.to_string();
    cfg.desk.name = "IT Desk".into();
    cfg.desk.first_ticket_number = 1000;
    cfg.desk.time_zone = "Asia/Shanghai".into();
    Engine::new(cfg).expect("engine from the built-in config")
}

fn kb(bytes: usize) -> String {
    format!("{:.1} KB message", bytes as f64 / 1000.0)
}

pub fn run(budget: Budget, seed: u64) -> MicroResult {
    let names = Names {
        desk: "helpdesk@example.test".into(),
        tag: "micro".into(),
        domain: "example.test".into(),
        requesters: 200,
    };
    let (growth_total, batch) = match budget {
        Budget::Smoke => (40, 20),
        Budget::Quick => (2_000, 500),
        Budget::Full => (20_000, 500),
    };
    let corpus = corpus::generate(growth_total.max(2_000), seed, &names, 1000);
    let tmp = tempfile::tempdir().expect("temp dir");
    let eng = engine(tmp.path(), &names.desk);
    let policy = eng.policy_for("inbox");
    let mut out = MicroResult {
        batch,
        ..MicroResult::default()
    };

    for cat in [
        Category::Request,
        Category::HtmlOnly,
        Category::Gbk,
        Category::ReplyByTag,
        Category::Bounce,
        Category::Attachment,
    ] {
        let Some(raw) = corpus.first_of(cat) else {
            continue;
        };
        out.timings.push(time(
            &format!("inbound::parse ({})", cat.name()),
            kb(raw.len()),
            budget,
            || postdesk::inbound::parse(raw),
        ));
        // Storing the raw mail: a request, and one with a large attachment
        // (its base64 body stored as the bytes it carries), and reading it back.
        if !matches!(cat, Category::Request | Category::Attachment) {
            continue;
        }
        out.timings.push(time(
            &format!("store::packed::pack ({})", cat.name()),
            kb(raw.len()),
            budget,
            || postdesk::store::packed::pack(raw),
        ));
        let (stored, codec) = postdesk::store::packed::pack(raw);
        out.timings.push(time(
            &format!("store::packed::unpack ({})", cat.name()),
            format!("{:.1} KB stored", stored.len() as f64 / 1000.0),
            budget,
            || postdesk::store::packed::unpack(stored.clone(), codec),
        ));
    }

    let tag = TagFormat::default();
    for subject in [
        "Re: [#10421] Printer on floor 3 prints nothing",
        "回复：【#10421】打印机坏了",
        "Cannot connect to VPN from home after the update last Friday, please help",
    ] {
        out.timings.push(time(
            "TagFormat::find",
            format!("{:?}", subject),
            budget,
            || tag.find(subject),
        ));
    }

    let request = postdesk::inbound::parse(corpus.first_of(Category::Request).expect("requests"))
        .expect("a generated request parses");
    let gbk = postdesk::inbound::parse(corpus.first_of(Category::Gbk).expect("gbk mail"))
        .expect("a generated GBK request parses");
    let now = 1_796_004_000_000;
    out.timings.push(time(
        "decide::decide (new request)",
        "parsed request".into(),
        budget,
        || {
            decide::decide(
                &policy,
                &request,
                &decide::Known {
                    link: None,
                    next_number: 1042,
                    ..Default::default()
                },
                now,
            )
        },
    ));
    let link = Link::Tag(TicketState {
        number: 1042,
        status: Some(Status::Open),
        requester: "ann@corp.test".into(),
        subject: "Printer".into(),
        lang: Lang::En,
        ..TicketState::default()
    });
    out.timings.push(time(
        "decide::decide (reply)",
        "parsed request, linked".into(),
        budget,
        || {
            decide::decide(
                &policy,
                &request,
                &decide::Known {
                    link: Some(&link),
                    next_number: 1042,
                    ..Default::default()
                },
                now,
            )
        },
    ));

    for (label, mail) in [("en", &request), ("zh-CN", &gbk)] {
        let effects = decide::decide(
            &policy,
            mail,
            &decide::Known {
                link: None,
                next_number: 1042,
                ..Default::default()
            },
            now,
        );
        let Some(Effect::Send(ack)) = effects.iter().find(|e| matches!(e, Effect::Send(_))) else {
            panic!("a request from a person gets an acknowledgement: {effects:?}");
        };
        out.timings.push(time(
            &format!("compose::ticket_mail (ack {label})"),
            "one acknowledgement".into(),
            budget,
            || compose::ticket_mail(eng.renderer(), &policy, ack, now).expect("compose"),
        ));
    }

    // Spam screening: the extra time per mail with headers only, and with
    // rspamd asked over HTTP (when one runs: scripts/bench starts it).
    let raw = corpus.first_of(Category::Request).expect("requests");
    let rules = postdesk::desk::spam::SpamConfig::default().verdict_rules();
    out.timings.push(time(
        "spam: verdict headers (header_list + spamverdict::read)",
        kb(raw.len()),
        budget,
        || postdesk::inbound::spamverdict::read(&postdesk::inbound::header_list(raw), &rules),
    ));
    match rspamd_url() {
        Some(url) => {
            let r = postdesk::rspamd::Rspamd::new(Some(&url), None, None, Duration::from_secs(2));
            let env = postdesk::rspamd::envelope_of(&postdesk::inbound::header_list(raw), &request);
            r.check(raw, &env).expect("rspamd answers the bench");
            out.timings.push(time(
                "spam: rspamd /checkv2 (clean request, loopback)",
                kb(raw.len()),
                budget,
                || r.check(raw, &env).expect("rspamd"),
            ));
        }
        None => eprintln!(
            "micro: no rspamd (POSTDESK_RSPAMD_ENV or /tmp/postdesk-rspamd/env): the rspamd line is left out"
        ),
    }

    // Whole batches into a fresh database, as the daemon commits them.
    let items: Vec<Incoming> = corpus.messages[..batch]
        .iter()
        .enumerate()
        .map(|(i, m)| Incoming {
            raw: m.clone(),
            uid: Some(i as u32 + 1),
        })
        .collect();
    let bytes: usize = items.iter().map(|i| i.raw.len()).sum();
    let samples = match budget {
        Budget::Smoke => 1,
        Budget::Quick => 2,
        Budget::Full => 5,
    };
    let mut per_msg: Vec<f64> = (0..samples)
        .map(|_| {
            let dir = tempfile::tempdir().expect("temp dir");
            let e = engine(dir.path(), &names.desk);
            let mut store = Store::open(&dir.path().join("b.db")).expect("store");
            let t = Instant::now();
            let cp = Checkpoint {
                uidvalidity: 1,
                last_uid: batch as u32,
            };
            process_batch(&mut store, &e, "support", &items, Some(cp), now).expect("batch");
            t.elapsed().as_secs_f64() * 1e6 / batch as f64
        })
        .collect();
    per_msg.sort_by(f64::total_cmp);
    out.timings.push(Timing {
        name: format!("pipeline::process_batch ({batch} into a fresh db), per message"),
        median_us: per_msg[per_msg.len() / 2],
        min_us: per_msg[0],
        samples,
        calls_per_sample: 1,
        input: format!("{batch} corpus messages, {:.1} MB", bytes as f64 / 1e6),
    });

    // One database, batch after batch: the cost per message as it grows.
    let dir = tempfile::tempdir().expect("temp dir");
    let e = engine(dir.path(), &names.desk);
    let mut store = Store::open(&dir.path().join("g.db")).expect("store");
    for (b, chunk) in corpus.messages[..growth_total].chunks(batch).enumerate() {
        let items: Vec<Incoming> = chunk
            .iter()
            .enumerate()
            .map(|(i, m)| Incoming {
                raw: m.clone(),
                uid: Some((b * batch + i) as u32 + 1),
            })
            .collect();
        let cp = Checkpoint {
            uidvalidity: 1,
            last_uid: ((b + 1) * batch) as u32,
        };
        let t = Instant::now();
        process_batch(&mut store, &e, "support", &items, Some(cp), now).expect("batch");
        out.batch_growth.push(Growth {
            db_messages_before: b * batch,
            us_per_message: t.elapsed().as_secs_f64() * 1e6 / chunk.len() as f64,
        });
        out.raw_bytes += chunk.iter().map(|m| m.len() as u64).sum::<u64>();
    }
    // Closing the last connection checkpoints the write-ahead log into the file.
    drop(store);
    out.db_bytes = std::fs::metadata(dir.path().join("g.db")).map_or(0, |m| m.len());
    out.storage = storage_breakdown(&dir.path().join("g.db")).expect("dbstat of the growth db");
    out
}

/// The database's pages by table and index, and the bytes of the larger
/// columns of `messages` by direction: what a storage target has to cut.
fn storage_breakdown(db: &std::path::Path) -> rusqlite::Result<Vec<(String, u64)>> {
    let conn = rusqlite::Connection::open(db)?;
    let mut st = conn
        .prepare("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 12")?;
    let mut out: Vec<(String, u64)> = st
        .query_map([], |r| {
            let bytes: i64 = r.get(1)?;
            Ok((format!("pages of {}", r.get::<_, String>(0)?), bytes as u64))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut st = conn.prepare(
        "SELECT pagetype, SUM(pgsize), SUM(unused) FROM dbstat WHERE name = 'messages' GROUP BY pagetype",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (kind, pages, unused) = row?;
        out.push((format!("messages: {kind} pages"), pages as u64));
        out.push((format!("messages: unused in {kind} pages"), unused as u64));
    }
    let mut st = conn.prepare(
        "SELECT direction, COUNT(*), SUM(length(raw)), SUM(length(body)), \
                SUM(length(to_addrs) + length(cc_addrs) + length(subject) + length(message_id) \
                    + coalesce(length(refs), 0) + coalesce(length(in_reply_to), 0)) \
         FROM messages GROUP BY direction",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    for row in rows {
        let (dir, n, raw, body, heads) = row?;
        out.push((format!("messages {dir} ({n}): raw as stored"), raw as u64));
        out.push((format!("messages {dir} ({n}): body text"), body as u64));
        out.push((
            format!("messages {dir} ({n}): addresses, subject, ids"),
            heads as u64,
        ));
    }
    Ok(out)
}

/// The rspamd worker's URL from its env file, when it answers.
fn rspamd_url() -> Option<String> {
    let path = std::env::var("POSTDESK_RSPAMD_ENV")
        .unwrap_or_else(|_| "/tmp/postdesk-rspamd/env".to_string());
    let text = std::fs::read_to_string(path).ok()?;
    let url = text
        .lines()
        .find_map(|l| l.strip_prefix("RSPAMD_URL="))?
        .trim()
        .to_string();
    let hostport = url.trim_start_matches("http://").to_string();
    let addr: std::net::SocketAddr = hostport.parse().ok()?;
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    Some(url)
}
