//! A year of history (issue 16.6): N tickets spread over the last 365 days,
//! made by the store's own write path in bulk (the request and the agent's
//! reply stored as mail, the acknowledgement queued and marked sent, status
//! changes, pauses, escalations, ratings, time worked), and a knowledge base
//! of one entry per 50 tickets. Then what an admin or an agent reads from
//! it, each the whole process from start to exit: the monthly review of the
//! last full month, `ticket N`, and `kb search`.
//!
//! No mail servers: these read only the database.

use std::path::Path;
use std::time::Instant;

use crate::scale::{BenchDesk, bench_desk, median, postdesk_cli as cli};

use postdesk::address::Mailbox;
use postdesk::desk::ticket::{Field, NewTicket, Priority};
use postdesk::inbound::Inbound;
use postdesk::lang::Lang;
use postdesk::source::now_ms;
use postdesk::store::{
    Delivery, EscalationRecord, EventRecord, InboundRecord, NewEntry, OutboundRecord, Store,
};

const POLICIES: &str = r#"
[[sla.policy]]
priority = "P1"
first-response = "1h"
resolution = "8h"
[[sla.policy]]
priority = "P2"
first-response = "4h"
resolution = "1d"
[[sla.policy]]
priority = "P3"
first-response = "8h"
resolution = "3d"
"#;

const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;
/// Tickets per transaction while generating: big enough that commits do
/// not dominate, small enough that the WAL stays a few hundred MiB.
const CHUNK: usize = 20_000;

/// What users ask about, in both languages the desk serves; the knowledge
/// base and the subjects draw from it, so searches find something.
const TOPICS: [&str; 16] = [
    "printer on the third floor jams",
    "VPN drops every few minutes",
    "Outlook asks for the password again",
    "password reset for the ERP",
    "new laptop for a new starter",
    "shared drive is read-only",
    "Wi-Fi in the meeting room is slow",
    "Teams camera not detected",
    "打印机无法打印",
    "邮箱空间已满",
    "VPN 连接不上",
    "电脑蓝屏重启",
    "monitor flickers after docking",
    "license for the PDF editor",
    "phone extension forwarding",
    "calendar invites arrive twice",
];

#[derive(Debug, Default, serde::Serialize)]
pub struct HistoryResult {
    pub tickets: usize,
    pub kb_entries: usize,
    pub messages: usize,
    pub events: usize,
    /// Generating the history through the store.
    pub create_s: f64,
    pub db_mib: f64,
    /// The month reviewed (the last full calendar month).
    pub month: String,
    pub month_opened: usize,
    /// `postdesk report --month M`, start to exit: median of 3.
    pub review_ms: f64,
    /// `postdesk ticket N` for tickets across the year: median of 9.
    pub ticket_ms: f64,
    /// `postdesk kb search WORD`: median of 5 words.
    pub kb_search_ms: f64,
    pub failures: Vec<String>,
}

pub fn run(n: usize) -> HistoryResult {
    let BenchDesk {
        dir,
        config_path,
        db_path,
        ..
    } = bench_desk(POLICIES);
    // POSTDESK_BENCH_KEEP=1 keeps the desk to profile a command against it.
    let keep = std::env::var_os("POSTDESK_BENCH_KEEP").is_some();
    if keep {
        eprintln!(
            "[bench] history: keeping the desk in {}",
            dir.path().display()
        );
    }
    let mut r = HistoryResult {
        tickets: n,
        ..HistoryResult::default()
    };
    let now = now_ms();
    let (month, from, to) = last_full_month(now);
    r.month = month;

    let t = Instant::now();
    let mut store = Store::open(&db_path).expect("the database");
    let made = generate(&mut store, n, now, (from, to));
    r.messages = made.messages;
    r.events = made.events;
    r.month_opened = made.month_opened;
    r.kb_entries = add_kb(&mut store, n / 50, now);
    drop(store);
    r.create_s = t.elapsed().as_secs_f64();
    r.db_mib = file_mib(&db_path) + file_mib(&dir.path().join("desk.db-wal"));
    eprintln!(
        "[bench] history: {n} tickets, {} messages, {} events, {} kb entries in {:.0} s ({:.0} MiB)",
        r.messages, r.events, r.kb_entries, r.create_s, r.db_mib
    );

    let (ms, out) = timed(3, || {
        cli(
            &config_path,
            &["report", "--month", &r.month, "--format", "json"],
        )
    });
    r.review_ms = ms;
    check_review(&out, r.month_opened, &mut r.failures);

    let numbers: Vec<i64> = (1..=9).map(|k| (n as i64 * k / 10).max(1)).collect();
    let mut k = 0;
    let (ms, out) = timed(numbers.len(), || {
        let number = numbers[k % numbers.len()];
        k += 1;
        cli(&config_path, &["ticket", &number.to_string()])
    });
    r.ticket_ms = ms;
    if !out.contains(&format!("Ticket {}:", numbers[(k - 1) % numbers.len()])) {
        let head: String = out.chars().take(200).collect();
        r.failures
            .push(format!("ticket N printed no ticket: {head}"));
    }

    let words = ["printer", "VPN", "打印机", "password", "calendar"];
    let mut k = 0;
    let mut empty = Vec::new();
    let (ms, _) = timed(words.len(), || {
        let word = words[k % words.len()];
        k += 1;
        let out = cli(&config_path, &["kb", "search", word]);
        if out.trim() == "no entries" {
            empty.push(word);
        }
        out
    });
    r.kb_search_ms = ms;
    if r.kb_entries > 0 && !empty.is_empty() {
        r.failures
            .push(format!("kb search found nothing for {empty:?}"));
    }
    if keep {
        let _ = dir.keep();
    }
    r
}

struct Made {
    messages: usize,
    events: usize,
    month_opened: usize,
}

/// The tickets, oldest first, `CHUNK` to a transaction.
fn generate(store: &mut Store, n: usize, now: i64, month: (i64, i64)) -> Made {
    let request = postdesk::inbound::parse(&request_raw(0, "printer on the third floor jams"))
        .expect("the request parses");
    let reply = postdesk::inbound::parse(&reply_raw(0)).expect("the reply parses");
    let desk = Mailbox::new(Some("Service desk"), "helpdesk@example.test");
    let start = now - 365 * DAY;
    let mut made = Made {
        messages: 0,
        events: 0,
        month_opened: 0,
    };
    let mut outbox_id = 0i64;
    for chunk_start in (0..n).step_by(CHUNK) {
        let tx = store.transaction().expect("a transaction");
        let mut sent = Vec::new();
        for i in chunk_start..(chunk_start + CHUNK).min(n) {
            let number = i as i64 + 1;
            let created = start + (365 * DAY) * i as i64 / n as i64;
            if (month.0..month.1).contains(&created) {
                made.month_opened += 1;
            }
            let topic = TOPICS[i % TOPICS.len()];
            let requester = Mailbox::new(None, &format!("user{}@corp.test", i % 7919));
            let t = NewTicket {
                number,
                subject: format!("{topic} ({number})"),
                requester: requester.clone(),
                lang: if topic.is_ascii() {
                    Lang::En
                } else {
                    Lang::ZhCn
                },
                team: Some("service-desk".into()),
                tier: Some("L1".into()),
                linked_to: None,
                category: Some(["hardware", "network", "accounts", "software"][i % 4].into()),
                priority: Some([Priority::P1, Priority::P2, Priority::P3, Priority::P3][i % 4]),
                reply_by: 0,
                rule: None,
            };
            tx.create_ticket(&t, "inbox", created, None)
                .expect("a ticket");

            let raw = request_raw(number, topic);
            let mut mail: Inbound = request.clone();
            mail.message_id = format!("req-{number}@corp.test");
            mail.subject = t.subject.clone();
            mail.from = Some(requester.clone());
            tx.insert_inbound(&InboundRecord {
                ticket: Some(number),
                mailbox: "inbox",
                kind: "request",
                mail: &mail,
                raw: &raw,
                at: created,
                note: None,
            })
            .expect("the request");

            let ack_id = format!("ack-{number}@example.test");
            let ack_text = format!("We received your request; your ticket is #{number}.");
            let ack_raw = format!(
                "From: helpdesk@example.test\r\nTo: {}\r\nSubject: [#{number}] {}\r\nMessage-ID: <{ack_id}>\r\n\r\n{ack_text}\r\n",
                requester.address, t.subject
            );
            tx.queue_outbound(&OutboundRecord {
                ticket: Some(number),
                kind: "ack",
                message_id: &ack_id,
                in_reply_to: Some(&mail.message_id),
                references: &[],
                from: &desk,
                to: std::slice::from_ref(&requester),
                subject: &t.subject,
                text: &ack_text,
                html: None,
                raw: ack_raw.as_bytes(),
                envelope_from: "helpdesk@example.test",
                at: created,
            })
            .expect("the acknowledgement");
            outbox_id += 1;
            sent.push(Delivery::Sent {
                id: outbox_id,
                at: created + 2_000,
            });
            made.messages += 2;
            made.events += lifecycle(&tx, &reply, number, i, created, now, &mut made.messages);
        }
        tx.commit().expect("commit the chunk");
        store
            .record_deliveries(&sent)
            .expect("the acknowledgements sent");
    }
    made
}

/// What happened to ticket `i` after it was made: answered, sometimes
/// paused, escalated, resolved, closed and rated, as far as `now` allows.
/// Returns the events written.
fn lifecycle(
    tx: &postdesk::store::Tx<'_>,
    reply: &Inbound,
    number: i64,
    i: usize,
    created: i64,
    now: i64,
    messages: &mut usize,
) -> usize {
    let mut events = 0;
    let mut status = |from: &str, to: &str, at: i64, actor: &str| {
        tx.update_field(number, Field::Status, Some(to), at)
            .expect("a status");
        tx.insert_event(&EventRecord {
            ticket: number,
            at,
            actor,
            kind: "status",
            old: Some(from),
            new: Some(to),
            detail: None,
        })
        .expect("an event");
        events += 1;
    };
    let answered = created + (20 + (i as i64 * 37) % 300) * MINUTE;
    if answered > now {
        return events;
    }
    let agent = format!("agent{}@corp.test", i % 12);
    let mut mail = reply.clone();
    mail.message_id = format!("reply-{number}@corp.test");
    mail.subject = format!("Re: [#{number}] request");
    mail.from = Some(Mailbox::new(None, &agent));
    tx.insert_inbound(&InboundRecord {
        ticket: Some(number),
        mailbox: "inbox",
        kind: "agent-reply",
        mail: &mail,
        raw: &reply_raw(number),
        at: answered,
        note: None,
    })
    .expect("the agent's reply");
    *messages += 1;
    tx.first_response(number, answered)
        .expect("the first response");
    status("new", "open", answered, &agent);
    if i % 20 == 3 {
        tx.record_escalation(&EscalationRecord {
            ticket: number,
            target: "first-response",
            percent: 100,
            action: "escalate",
            due_at: answered - 10 * MINUTE,
            at: answered - 10 * MINUTE,
        })
        .expect("an escalation");
    }
    let mut at = answered;
    if i % 10 == 1 {
        status("open", "pending", at + 30 * MINUTE, &agent);
        at += 30 * MINUTE + DAY;
        if at > now {
            return events;
        }
        status("pending", "open", at, "requester");
    }
    if i.is_multiple_of(5) {
        tx.record_time(number, &agent, 15 + (i % 4) as u32 * 15, at)
            .expect("time worked");
    }
    let resolved = at + (2 + (i as i64 * 13) % 70) * 60 * MINUTE;
    if resolved > now {
        return events;
    }
    status("open", "resolved", resolved, &agent);
    let closed = resolved + 3 * DAY;
    if closed > now {
        return events;
    }
    status("resolved", "closed", closed, "clock");
    if i.is_multiple_of(3) {
        tx.survey_sent(number, closed).expect("a survey");
        let score = [5, 4, 5, 3, 5, 2, 4][i % 7];
        tx.rate(number, score, "", Some(&agent), closed + DAY)
            .expect("a rating");
    }
    events
}

fn add_kb(store: &mut Store, n: usize, now: i64) -> usize {
    for k in 0..n {
        let topic = TOPICS[k % TOPICS.len()];
        let title = format!("{topic} (case {k})");
        let problem = format!("Users report: {topic}. Seen on {} machines.", k % 40 + 1);
        let solution = format!(
            "Step {}: restart the service, then check the settings page; if {topic} persists, escalate to L2.",
            k % 9 + 1
        );
        store
            .kb_add(
                &NewEntry {
                    title: &title,
                    problem: &problem,
                    solution: &solution,
                    category: None,
                    lang: if topic.is_ascii() { "en" } else { "zh" },
                    publish: true,
                    author: "bench",
                },
                now - (n - k) as i64 * MINUTE,
            )
            .expect("a kb entry");
    }
    n
}

fn request_raw(number: i64, topic: &str) -> Vec<u8> {
    format!(
        "From: user{number}@corp.test\r\nTo: helpdesk@example.test\r\nSubject: {topic}\r\n\
         Message-ID: <req-{number}@corp.test>\r\nDate: Mon, 2 Nov 2026 09:00:00 +0000\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Hello,\r\n\r\nsince this morning: {topic}. I tried restarting twice (ref {number}).\r\n\
         Could someone look at it today? My desk is B-{}.\r\n\r\nThanks,\r\nuser{number}\r\n",
        number % 400
    )
    .into_bytes()
}

fn reply_raw(number: i64) -> Vec<u8> {
    format!(
        "From: agent@corp.test\r\nTo: helpdesk@example.test\r\nSubject: Re: [#{number}] request\r\n\
         Message-ID: <reply-{number}@corp.test>\r\nIn-Reply-To: <ack-{number}@example.test>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Hi, I have reset it on our side; please try again and tell us if it still happens.\r\n"
    )
    .into_bytes()
}

/// `[from, to)` of the calendar month before the one `now` is in (UTC, the
/// bench desk's time zone), and its name.
fn last_full_month(now: i64) -> (String, i64, i64) {
    use jiff::{Timestamp, tz::TimeZone};
    let today = Timestamp::from_millisecond(now)
        .expect("now")
        .to_zoned_datetime(TimeZone::UTC)
        .date();
    let this = today.first_of_month();
    let last = this.yesterday().expect("a month before").first_of_month();
    let ms = |d: jiff::civil::Date| {
        d.to_zoned_datetime(TimeZone::UTC)
            .expect("midnight")
            .timestamp()
            .as_millisecond()
    };
    (last.strftime("%Y-%m").to_string(), ms(last), ms(this))
}

/// The review's own count of tickets opened in the month must be the
/// number generated in it: a fast review that reads the wrong rows is no
/// review.
fn check_review(json: &str, expected: usize, failures: &mut Vec<String>) {
    let opened = serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v["summary"]["opened"].as_u64());
    if opened != Some(expected as u64) {
        failures.push(format!(
            "the review counted {opened:?} tickets opened in the month, {expected} were made"
        ));
    }
}

/// Median time of `k` runs of `f` in ms, and the last run's output.
fn timed(k: usize, mut f: impl FnMut() -> String) -> (f64, String) {
    let mut times = Vec::new();
    let mut out = String::new();
    for _ in 0..k {
        let t = Instant::now();
        out = f();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    (median(times), out)
}

fn file_mib(p: &Path) -> f64 {
    std::fs::metadata(p).map_or(0.0, |m| m.len() as f64 / 1_048_576.0)
}
