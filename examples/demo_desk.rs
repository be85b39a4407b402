//! Builds a demo desk with a month of traffic, for trying `postdesk report`
//! and `postdesk kb`:
//!
//! ```sh
//! cargo run --example demo_desk -- /tmp/demo
//! postdesk --config /tmp/demo/postdesk.toml report --month 2026-11
//! ```
//!
//! November 2026 is replayed through the real pipeline, mail by mail at its
//! own simulated time, with the sweeper every 15 minutes: requests in English
//! and Chinese, agents taking, answering and resolving them by mail,
//! confirmations, reopenings, ratings, SLA escalations, a knowledge-base
//! article and a requester it helps. The same seed gives the same desk.

use std::path::PathBuf;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use postdesk::config::Config;
use postdesk::pipeline::{self, Engine, Incoming};
use postdesk::store::Store;

const CONFIG: &str = r#"
[desk]
name = "IT Service Desk"
address = "helpdesk@corp.example"
time-zone = "Asia/Shanghai"

[storage]
database = "demo.db"

[workflow]
auto-close-after = "2d"
# The replayed agents' mail carries no Authentication-Results.
agent-authentication = "none"

[survey]
quiet-period = "1m"

[kb]
suggestions = 3
min-score = 0.35

[[team]]
name = "service-desk"
tier = "L1"
lead = "alice"
[[team]]
name = "network"
tier = "L2"
lead = "dave"

[[agent]]
name = "alice"
display-name = "Alice Wang"
addresses = ["alice@corp.example"]
team = "service-desk"
[[agent]]
name = "bob"
display-name = "Bob Li"
addresses = ["bob@corp.example"]
team = "service-desk"
[[agent]]
name = "dave"
display-name = "Dave Zhang"
addresses = ["dave@corp.example"]
team = "network"

[[rule]]
name = "network"
keywords = ["vpn", "wi-fi", "网络", "连不上"]
category = "network"
priority = "P2"
team = "network"
[[rule]]
name = "printers"
keywords = ["printer", "打印机"]
category = "hardware"
priority = "P3"
[[rule]]
name = "accounts"
keywords = ["password", "密码", "account", "账号"]
category = "account"
priority = "P2"
[classify]
default-category = "software"
default-priority = "P3"

[sla.calendar]
time-zone = "Asia/Shanghai"
hours = { mon = "09:00-12:00, 13:00-18:00", tue = "09:00-12:00, 13:00-18:00", wed = "09:00-12:00, 13:00-18:00", thu = "09:00-12:00, 13:00-18:00", fri = "09:00-12:00, 13:00-18:00" }

[[sla.policy]]
priority = "P2"
first-response = "1h"
resolution = "8h"
[[sla.policy.escalate]]
target = "first-response"
at = "100%"
action = "notify-lead"
[[sla.policy.escalate]]
target = "resolution"
at = "100%"
action = "notify-lead"

[[sla.policy]]
priority = "P3"
first-response = "4h"
resolution = "24h"
[[sla.policy.escalate]]
target = "first-response"
at = "75%"
action = "remind"
"#;

/// (subject, problem, solution): what people write about, and what fixes it.
const TOPICS: &[(&str, &str, &str)] = &[
    (
        "VPN drops every hour",
        "Since the update my VPN disconnects every hour and I have to log in again.",
        "Update the VPN client to version 5.2; the hourly drop is fixed there.",
    ),
    (
        "VPN 连接不上",
        "在家里用 VPN 连不上公司网络，提示超时。",
        "请把 VPN 客户端升级到 5.2 版，并在设置里选择“上海”节点。",
    ),
    (
        "Printer on floor 3 prints blank pages",
        "The printer on floor 3 prints only blank pages.",
        "The toner cartridge was empty; replaced it and printed a test page.",
    ),
    (
        "打印机卡纸",
        "三楼的打印机一直提示卡纸，打印不出来。",
        "打开后盖取出卡住的纸，重新放好纸盒后打印测试页。",
    ),
    (
        "Password expired",
        "I cannot log in: my password has expired.",
        "Reset the password on the self-service portal; it works at once.",
    ),
    (
        "邮箱密码过期",
        "登录邮箱时提示密码已过期。",
        "已在门户网站为您重置密码，请用新密码登录后修改。",
    ),
    (
        "Excel crashes when saving",
        "Excel closes itself whenever I save a large workbook.",
        "Disabled the old PDF add-in; Excel saves normally again.",
    ),
    (
        "Laptop screen flickers",
        "The screen of my laptop flickers when it is on battery.",
        "Updated the graphics driver and turned off panel self-refresh.",
    ),
    (
        "Wi-Fi slow in meeting room 5",
        "The Wi-Fi in meeting room 5 is very slow during calls.",
        "Moved the access point's channel away from the neighbours'; speed is back.",
    ),
    (
        "New account for a new colleague",
        "Please create an account for our new colleague starting Monday.",
        "Account created; the credentials were sent to the manager.",
    ),
];

const PEOPLE: &[&str] = &[
    "ann",
    "li.wei",
    "max",
    "zhang.min",
    "sara",
    "chen.jie",
    "tom",
    "wang.fang",
    "eva",
    "liu.yang",
    "omar",
    "zhao.lei",
];

/// A small deterministic generator (xorshift), so every run builds the same desk.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Debug)]
struct Mail {
    at: i64,
    raw: String,
}

fn local(day: i8, h: i8, m: i8) -> i64 {
    Date::new(2026, 11, day)
        .unwrap()
        .at(h, m, 0, 0)
        .to_zoned_datetime(TimeZone::get("Asia/Shanghai").unwrap())
        .unwrap()
        .timestamp()
        .as_millisecond()
}

fn mail(from: &str, subject: &str, id: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: helpdesk@corp.example\r\nSubject: {subject}\r\nMessage-ID: <{id}@demo.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
}

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "demo-desk".into()),
    );
    std::fs::create_dir_all(&dir)?;
    let config_path = dir.join("postdesk.toml");
    std::fs::write(&config_path, CONFIG)?;
    let db = dir.join("demo.db");
    let _ = std::fs::remove_file(&db);
    let config = Config::load(&config_path)?;
    let engine = Engine::new(config)?;
    let mut store: Store = engine.open_store()?;
    let mut rng = Rng(0x5eed_2026_1130);
    let mut mails: Vec<Mail> = Vec::new();
    let mut number = 0i64;
    let mut seq = 0;
    let mut id = |tag: &str| {
        seq += 1;
        format!("{tag}-{seq}")
    };
    for day in 2..=30i8 {
        let date = Date::new(2026, 11, day)?;
        if date.weekday().to_monday_zero_offset() >= 5 {
            continue;
        }
        // Numbers go in order of arrival: draw the day's times first.
        let mut times: Vec<i64> = (0..(1 + rng.below(3)))
            .map(|_| local(day, 8 + rng.below(9) as i8, rng.below(60) as i8))
            .collect();
        times.sort();
        for at in times {
            number += 1;
            let topic = if number == 1 {
                0
            } else {
                rng.below(TOPICS.len() as u64) as usize
            };
            let (subject, problem, solution) = TOPICS[topic];
            let who = PEOPLE[rng.below(PEOPLE.len() as u64) as usize];
            let requester = format!("{who}@corp.example");
            mails.push(Mail {
                at,
                raw: mail(&requester, subject, &id("req"), problem),
            });
            let tag = format!("Re: [#{number}] {subject}");
            // The last days' tickets are still being worked on at the end.
            if day >= 27 && rng.chance(60) {
                continue;
            }
            // A VPN request after the first article: the requester tries it.
            if topic == 0 && number > 1 && rng.chance(50) {
                mails.push(Mail {
                    at: at + 20 * MIN,
                    raw: mail(&requester, &tag, &id("solved"), "Solved, thank you!"),
                });
                continue;
            }
            let agent = match topic {
                0 | 1 | 8 => "dave",
                _ if rng.chance(55) => "alice",
                _ => "bob",
            };
            let slow = rng.chance(20);
            let answer = at + (5 + rng.below(if slow { 400 } else { 90 }) as i64) * MIN;
            mails.push(Mail {
                at: answer,
                raw: mail(
                    &format!("{agent}@corp.example"),
                    &tag,
                    &id("take"),
                    "#take\nHello, we are looking into it and will get back to you shortly.",
                ),
            });
            let hard = rng.chance(25);
            let fix = answer + (1 + rng.below(if hard { 30 } else { 6 }) as i64) * HOUR;
            let kb = if number == 1 { "#kb publish\n" } else { "" };
            mails.push(Mail {
                at: fix,
                raw: mail(
                    &format!("{agent}@corp.example"),
                    &tag,
                    &id("fix"),
                    &format!("#resolve\n{kb}{solution}"),
                ),
            });
            let mut closed_at = fix;
            if rng.chance(12) {
                // Not fixed after all: reopened, then resolved again.
                mails.push(Mail {
                    at: fix + 2 * HOUR,
                    raw: mail(
                        &requester,
                        &tag,
                        &id("again"),
                        "It is still not working, sorry.",
                    ),
                });
                mails.push(Mail {
                    at: fix + 5 * HOUR,
                    raw: mail(
                        &format!("{agent}@corp.example"),
                        &tag,
                        &id("fix2"),
                        &format!("#resolve\nWe had another look. {solution}"),
                    ),
                });
                closed_at = fix + 5 * HOUR;
            }
            if rng.chance(75) {
                closed_at += (1 + rng.below(5) as i64) * HOUR;
                mails.push(Mail {
                    at: closed_at,
                    raw: mail(&requester, &tag, &id("ok"), "Confirm, thanks!"),
                });
            } else {
                // Nobody confirms: the sweeper closes it after two days.
                closed_at += 2 * 24 * HOUR + 15 * MIN;
            }
            if rng.chance(65) {
                let score = [5, 5, 5, 4, 4, 4, 3, 2, 1][rng.below(9) as usize];
                let comment = match score {
                    1 => " Took far too long, and nobody told me what was happening.",
                    2 => " Slow.",
                    5 => " Great, thank you!",
                    _ => "",
                };
                mails.push(Mail {
                    at: closed_at + (1 + rng.below(20) as i64) * HOUR,
                    raw: mail(&requester, &tag, &id("rate"), &format!("{score}{comment}")),
                });
            }
        }
    }
    mails.sort_by_key(|m| m.at);
    let start = local(1, 0, 0);
    let end = local(30, 23, 59) + 2 * 24 * HOUR;
    let mut next = mails.iter().peekable();
    let mut now = start;
    while now <= end {
        while let Some(m) = next.next_if(|m| m.at <= now) {
            let item = Incoming {
                raw: m.raw.clone().into_bytes(),
                uid: None,
            };
            pipeline::process_batch(&mut store, &engine, "inbox", &[item], None, m.at)?;
        }
        pipeline::sweep(&mut store, &engine, now)?;
        now += 15 * MIN;
    }
    println!(
        "{} tickets in {}; try:\n  postdesk --config {} report --month 2026-11",
        store.ticket_count()?,
        db.display(),
        config_path.display()
    );
    Ok(())
}
