//! Spam, end to end on real Dovecot, Postfix and rspamd: GTUBE becomes a
//! spam ticket nobody is told of while a clean request is acknowledged;
//! agents' `#spam` and `#notspam` teach rspamd's Bayes filter (its
//! controller's statistics say so) and `#notspam` sends the acknowledgement
//! the ticket never got; with rspamd stopped, or hanging, intake goes on
//! and the timeline says why; a DMARC failure gets a ticket but no answer.
//!
//! rspamd comes from `scripts/rspamd-start` (or `scripts/test`, which
//! starts it beside the mail servers); its env file is named by
//! `POSTDESK_RSPAMD_ENV` (default `/tmp/postdesk-rspamd/env`). Without it
//! these tests fail, saying how to start it. The stop test runs an rspamd
//! of its own on other ports, so the shared one stays up for everybody.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

const DEFAULT_RSPAMD_ENV: &str = "/tmp/postdesk-rspamd/env";

/// The GTUBE test string: rspamd's action for it is `reject`.
const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// Where an rspamd listens, from the env file `scripts/rspamd-start` writes.
#[derive(Debug, Clone)]
struct RspamdEnv {
    url: String,
    controller: String,
    dir: PathBuf,
}

impl RspamdEnv {
    #[track_caller]
    fn load() -> RspamdEnv {
        let path = std::env::var_os("POSTDESK_RSPAMD_ENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_RSPAMD_ENV));
        Self::load_from(&path)
    }

    #[track_caller]
    fn load_from(path: &Path) -> RspamdEnv {
        const HOW: &str = "Start rspamd for the tests first, as root:\n    scripts/rspamd-start\n\
             (or run the whole suite with `scripts/test`). If it uses another RSPAMD_DIR, \
             point POSTDESK_RSPAMD_ENV at its env file.";
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
            panic!(
                "rspamd for the spam tests: cannot read env file {}: {e}\n{HOW}",
                path.display()
            )
        });
        let kv: BTreeMap<&str, &str> = text
            .lines()
            .filter_map(|l| l.trim().split_once('='))
            .collect();
        let get = |k: &str| {
            kv.get(k)
                .map(|v| v.to_string())
                .unwrap_or_else(|| panic!("rspamd env file {} has no {k}\n{HOW}", path.display()))
        };
        let env = RspamdEnv {
            url: get("RSPAMD_URL"),
            controller: get("RSPAMD_CONTROLLER_URL"),
            dir: PathBuf::from(get("RSPAMD_DIR")),
        };
        for u in [&env.url, &env.controller] {
            if let Err(e) = http_get(u, "/ping") {
                panic!(
                    "rspamd at {u} (env file {}) does not answer: {e}\n{HOW}",
                    path.display()
                );
            }
        }
        env
    }

    /// Teaches rspamd a mail ourselves (`/learnham` or `/learnspam`): its
    /// status and body ("200 ...", "204 ..." when its learn conditions say
    /// no, "208 ..." when it learned this mail before).
    fn teach(&self, path: &str, raw: &[u8]) -> String {
        http_post_any(&self.controller, path, raw).unwrap_or_else(|e| panic!("rspamd {path}: {e}"))
    }

    /// How many messages the controller says it has learned.
    fn learned(&self) -> u64 {
        let body = http_get(&self.controller, "/stat").expect("rspamd /stat");
        let v: serde_json::Value = serde_json::from_str(&body).expect("rspamd /stat is JSON");
        v["learned"].as_u64().expect("/stat has learned")
    }
}

/// A plain HTTP/1.0 POST on loopback: the status code and reason, and the
/// body, whatever the status.
fn http_post_any(base: &str, path: &str, body: &[u8]) -> Result<String, String> {
    let (status, body) = http(base, "POST", path, body)?;
    Ok(format!("{status} {body}"))
}

/// A plain HTTP/1.0 GET on loopback (the test's own look at rspamd): the
/// body of a 200.
fn http_get(base: &str, path: &str) -> Result<String, String> {
    let (status, body) = http(base, "GET", path, b"")?;
    if !status.starts_with("200 ") {
        return Err(format!("answer: {status}"));
    }
    Ok(body)
}

/// One HTTP/1.0 request: the status line after the version, and the body.
fn http(base: &str, method: &str, path: &str, body: &[u8]) -> Result<(String, String), String> {
    let hostport = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(hostport).map_err(|e| format!("connect {hostport}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {hostport}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .and_then(|_| s.write_all(body))
    .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    let (head, body) = out.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
    let status = head
        .lines()
        .next()
        .filter(|l| l.starts_with("HTTP/1."))
        .and_then(|l| l.split_once(' '))
        .map(|(_, rest)| rest.to_string())
        .ok_or("no status line")?;
    Ok((status, body.to_string()))
}

fn spam_desk(tag: &str, rspamd: &RspamdEnv) -> TestDeskBuilder {
    TestDesk::builder(tag)
        .set("workflow.sweep-interval", "1s")
        .set("spam.rspamd", rspamd.url.as_str())
        .set("spam.rspamd-controller", rspamd.controller.as_str())
        .team_with_alice()
}

fn events_of(desk: &TestDesk, n: i64) -> Vec<(String, String)> {
    desk.store()
        .ticket_detail(n)
        .unwrap()
        .map(|d| {
            d.events
                .into_iter()
                .map(|e| (e.kind, e.detail.unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// A request in words enough for Bayes to learn (rspamd wants at least 11
/// tokens), different in every run so it is never "already learned", with
/// a sentence of words made up for this run: with `min_learns = 1` the lab's
/// Bayes classifies from its first lessons, and a reused lab that had been
/// taught the fixed words both ways once answered 204 (its learn conditions:
/// "already in class") instead of learning.
fn wordy(tag: &str) -> String {
    let id = unique_user(tag);
    let made_up = made_up_words(4);
    format!(
        "Hello, the colour laser printer on the third floor near the kitchen stopped \
         printing this morning. It shows a paper jam warning although the trays are empty \
         and the rollers look clean. We restarted it twice and replaced the toner. \
         Could someone from facilities or the service desk have a look today? \
         The model plate says {}. Reference {id}.\n",
        made_up.join(" ")
    )
}

/// Words of a..p made up for this run, four per round, of 8 letters and
/// "ol": 4 letters once repeated across the runs of a reused lab.
fn made_up_words(rounds: usize) -> Vec<String> {
    (0..rounds)
        .flat_map(|_| {
            let hex = random_hex();
            hex.as_bytes()
                .chunks(8)
                .map(|c| {
                    // Hex digits as letters a..p: words, not numbers.
                    c.iter()
                        .map(|b| {
                            let d = (*b as char).to_digit(16).unwrap_or(0) as u8;
                            (b'a' + d) as char
                        })
                        .chain("ol".chars())
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A request of words nobody has taught rspamd before: after one lesson its
/// Bayes can only have learned them from what postdesk sent it (the
/// printer words of `wordy` have been taught both ways in earlier runs of
/// a reused lab, and outweigh a few new ones).
fn unheard_of(tag: &str) -> String {
    format!(
        "Hello, {}.\nReference {}.\n",
        made_up_words(12).join(" "),
        unique_user(tag)
    )
}

#[test]
fn gtube_is_spam_and_a_clean_request_is_acknowledged() {
    let rspamd = RspamdEnv::load();
    let desk = spam_desk("spam-gtube", &rspamd).build();
    let env = desk.env().clone();
    let spammer = env.unique_user("spammer");
    let ann = env.unique_user("ann");
    let mut daemon = desk.start();

    let spam = build_mail(
        &spammer,
        &desk.address,
        "Cheap watches",
        &format!("{GTUBE}\n"),
    );
    desk.send(&spammer, &spam);
    desk.wait_status(1000, "spam", &daemon);
    let clean = build_mail(&ann, &desk.address, "Printer jam", &wordy("clean"));
    desk.send(&ann, &clean);

    // The clean request is acknowledged and the team told, once each.
    let ack = wait_for_messages(&env, &ann, 1, WAIT).remove(0);
    assert!(
        header(&ack, "Subject").starts_with("[#1001]"),
        "{}",
        header(&ack, "Subject")
    );
    let notices = wait_for_messages(&env, desk.team(), 1, WAIT);
    assert!(
        header(&notices[0], "Subject").contains("[#1001]"),
        "the notice is the clean one's"
    );
    assert_eq!(desk.status(1001), "new");
    // The spam: a ticket in the spam state, recorded, and nobody told: the
    // outbox holds the clean one's two mails and nothing else.
    let ok = wait_until(WAIT, || {
        desk.store().outbox_counts().ok() == Some((0, 2, 0))
    });
    assert!(ok, "the outbox drains; log:\n{}", daemon.log());
    assert_eq!(
        Imap::login(&env, &spammer).message_count("INBOX"),
        0,
        "no backscatter"
    );
    assert_eq!(
        Imap::login(&env, desk.team()).message_count("INBOX"),
        1,
        "no team notice for spam"
    );
    let ev = events_of(&desk, 1000);
    assert!(
        ev.iter()
            .any(|(k, d)| k == "status" && d.contains("rspamd: reject")),
        "the timeline says who called it spam: {ev:?}"
    );
    let t = desk.store().ticket_detail(1000).unwrap().unwrap();
    assert!(
        t.messages[0].body.contains(GTUBE),
        "the spam mail is recorded: {:?}",
        t.messages[0].body
    );
    // `postdesk tickets` leaves spam out; `--spam` lists it.
    let list = postdesk_cmd(&desk, &["tickets", "--json"]);
    assert!(
        list.contains("1001") && !list.contains("\"number\": 1000"),
        "{list}"
    );
    let spam_list = postdesk_cmd(&desk, &["tickets", "--spam", "--json"]);
    assert!(
        spam_list.contains("1000") && !spam_list.contains("1001"),
        "{spam_list}"
    );
    daemon.stop();
}

/// Runs the `postdesk` binary on the desk's config; its stdout.
fn postdesk_cmd(desk: &TestDesk, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .arg("--config")
        .arg(&desk.config)
        .args(args)
        .output()
        .expect("run postdesk");
    assert!(
        out.status.success(),
        "postdesk {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn spam_and_notspam_teach_rspamd() {
    let rspamd = RspamdEnv::load();
    let desk = spam_desk("spam-learn", &rspamd).build();
    let env = desk.env().clone();
    let bob = env.unique_user("bob");
    let mut daemon = desk.start();

    let request = build_mail(
        &bob,
        &desk.address,
        "Printer jam on floor 3",
        &unheard_of("learn"),
    );
    desk.send(&bob, &request);
    let ack = wait_for_messages(&env, &bob, 1, WAIT).remove(0);
    let notice = wait_for_messages(&env, desk.team(), 1, WAIT).remove(0);

    // #spam: the ticket is spam, and rspamd learns the request as spam.
    let before = rspamd.learned();
    let mark = reply_to(
        desk.alice(),
        &desk.address,
        &notice,
        "#spam\nThis is an ad.",
    );
    desk.send(desk.alice(), &mark);
    desk.wait_status(1000, "spam", &daemon);
    let learned = |want_spam: bool| {
        desk.store()
            .spam_lessons(1000)
            .unwrap()
            .iter()
            .any(|l| l.spam == want_spam && l.done_at.is_some())
    };
    assert!(
        wait_until(WAIT, || learned(true)),
        "the lesson is sent; lessons {:?}; log:\n{}",
        desk.store().spam_lessons(1000).unwrap(),
        daemon.log()
    );
    let lessons = desk.store().spam_lessons(1000).unwrap();
    assert_eq!(lessons[0].result.as_deref(), Some("learned"), "{lessons:?}");
    assert_eq!(rspamd.learned(), before + 1, "rspamd's statistics count it");
    // What rspamd learned is the request: taught the same mail again, it
    // says so (its learn cache). Had it been sent other bytes (the stored,
    // compressed ones, as once), rspamd would learn this as new.
    let stored = desk.store().ticket_raw(1000).unwrap().remove(0).raw;
    let again = rspamd.teach("/learnspam", &stored);
    assert!(
        again.starts_with("208 ") && again.contains("already learned as spam"),
        "rspamd: {again}"
    );
    assert_eq!(
        Imap::login(&env, &bob).message_count("INBOX"),
        1,
        "nothing of the agent's words goes to a spammer"
    );

    // #notspam: back in work, the acknowledgement again, learned as ham.
    let undo = reply_to(desk.alice(), &desk.address, &notice, "#notspam");
    desk.send(desk.alice(), &undo);
    desk.wait_status(1000, "open", &daemon);
    assert!(
        wait_until(WAIT, || learned(false)),
        "the ham lesson is sent; log:\n{}",
        daemon.log()
    );
    assert_eq!(
        rspamd.learned(),
        before + 2,
        "lessons {:?}",
        desk.store().spam_lessons(1000).unwrap()
    );
    let got = wait_for_messages(&env, &bob, 2, WAIT);
    assert!(header(&got[1], "Subject").starts_with("[#1000]"));
    assert_eq!(
        header(&got[1], "In-Reply-To"),
        header(&request, "Message-ID"),
        "the late acknowledgement answers the request"
    );
    assert_ne!(header(&got[1], "Message-ID"), header(&ack, "Message-ID"));
    let ev = events_of(&desk, 1000);
    for kind in ["spam-learned", "ham-learned"] {
        assert!(ev.iter().any(|(k, _)| k == kind), "{kind}: {ev:?}");
    }
    daemon.stop();
}

/// An rspamd of the test's own on free ports (sharing the shared one's
/// compiled-regexp cache, which takes rspamd 20 s to build), stopped at the end.
struct OwnRspamd {
    dir: PathBuf,
    env: RspamdEnv,
}

impl OwnRspamd {
    fn start(shared: &RspamdEnv) -> OwnRspamd {
        let dir = PathBuf::from(format!(
            "/tmp/postdesk-rspamd-{}",
            unique_user("own").split('@').next().unwrap()
        ));
        std::fs::create_dir_all(dir.join("db")).unwrap();
        if let Ok(entries) = std::fs::read_dir(shared.dir.join("db")) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "hs" || x == "unser") {
                    std::fs::copy(&p, dir.join("db").join(e.file_name())).ok();
                }
            }
        }
        let [port, cport, rport, _] = free_ports();
        let started = Instant::now();
        let out = Command::new(script("rspamd-start"))
            .env("RSPAMD_DIR", &dir)
            .env("RSPAMD_PORT", port.to_string())
            .env("RSPAMD_CONTROLLER_PORT", cport.to_string())
            .env("RSPAMD_REDIS_PORT", rport.to_string())
            .output()
            .expect("run scripts/rspamd-start");
        assert!(
            out.status.success(),
            "scripts/rspamd-start for the test's own rspamd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("own rspamd up in {:?}", started.elapsed());
        let env = RspamdEnv::load_from(&dir.join("env"));
        OwnRspamd { dir, env }
    }

    fn stop(&self) {
        let out = Command::new(script("rspamd-stop"))
            .env("RSPAMD_DIR", &self.dir)
            .output()
            .expect("run scripts/rspamd-stop");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for OwnRspamd {
    fn drop(&mut self) {
        Command::new(script("rspamd-stop"))
            .arg("--purge")
            .env("RSPAMD_DIR", &self.dir)
            .output()
            .ok();
    }
}

#[test]
fn intake_goes_on_with_rspamd_stopped() {
    let shared = RspamdEnv::load();
    let own = OwnRspamd::start(&shared);
    let desk = spam_desk("spam-down", &own.env).build();
    let env = desk.env().clone();
    let spammer = env.unique_user("spammer");
    let cy = env.unique_user("cy");
    let mut daemon = desk.start();

    // Up: our own rspamd answers (GTUBE is spam).
    desk.send(
        &spammer,
        &build_mail(&spammer, &desk.address, "Offer", &format!("{GTUBE}\n")),
    );
    desk.wait_status(1000, "spam", &daemon);

    // Stopped: mail goes on as not spam, acknowledged, and the timeline says why.
    own.stop();
    desk.send(
        &cy,
        &build_mail(
            &cy,
            &desk.address,
            "VPN drops",
            "The VPN drops every hour.\n",
        ),
    );
    let ack = wait_for_messages(&env, &cy, 1, WAIT).remove(0);
    assert!(header(&ack, "Subject").starts_with("[#1001]"));
    let ev = events_of(&desk, 1001);
    assert!(
        ev.iter().any(|(k, d)| k == "spam-check-failed"
            && d.contains("processed as not spam")
            && d.contains(&own.env.url)),
        "{ev:?}"
    );
    // GTUBE too goes through as a normal ticket while rspamd is down:
    // nothing is lost, nothing waits.
    desk.send(
        &spammer,
        &build_mail(&spammer, &desk.address, "Offer 2", &format!("{GTUBE}\n")),
    );
    desk.wait_status(1002, "new", &daemon);
    daemon.stop();
}

#[test]
fn a_hanging_rspamd_costs_one_timeout_and_no_mail() {
    // A server that accepts and never answers, like an rspamd stuck on a
    // lookup: the desk waits spam.rspamd-timeout (here 1 s), then goes on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            match listener.accept() {
                Ok((c, _)) => conns.push(c),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
            if conns.len() >= 4 {
                break;
            }
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    let desk = TestDesk::builder("spam-hang")
        .set("spam.rspamd", format!("http://127.0.0.1:{port}").as_str())
        .set("spam.rspamd-timeout", "1s")
        .build();
    let env = desk.env().clone();
    let dee = env.unique_user("dee");
    let mut daemon = desk.start();
    let sent = Instant::now();
    desk.send(
        &dee,
        &build_mail(
            &dee,
            &desk.address,
            "Mouse broken",
            "The mouse is broken.\n",
        ),
    );
    let ack = wait_for_messages(&env, &dee, 1, WAIT).remove(0);
    let took = sent.elapsed();
    assert!(header(&ack, "Subject").starts_with("[#1000]"));
    let ev = events_of(&desk, 1000);
    assert!(
        ev.iter()
            .any(|(k, d)| k == "spam-check-failed" && d.to_lowercase().contains("timeout")),
        "{ev:?}"
    );
    eprintln!("acknowledged {took:?} after sending, with a 1 s rspamd timeout");
    daemon.stop();
    drop(held);
}

#[test]
fn a_dmarc_failure_gets_a_ticket_and_no_answer() {
    let desk = TestDesk::builder("spam-dmarc")
        .set(
            "workflow.trusted-authserv-ids",
            toml::Value::Array(vec!["mx.corp.example".into()]),
        )
        .build();
    let env = desk.env().clone();
    let forged = env.unique_user("ceo");
    let mut daemon = desk.start();
    let mail = MailBuilder::new(&forged, &desk.address)
        .header(
            "Authentication-Results",
            "mx.corp.example; dmarc=fail (p=reject dis=none) header.from=example.test",
        )
        .subject("Urgent wire transfer")
        .body(b"Please pay the attached invoice today.\n")
        .build();
    desk.send(&forged, &mail);
    desk.wait_status(1000, "new", &daemon);
    let ev = events_of(&desk, 1000);
    assert!(
        ev.iter()
            .any(|(k, d)| k == "no-acknowledgement" && d.contains("DMARC fail")),
        "{ev:?}"
    );
    assert_eq!(Imap::login(&env, &forged).message_count("INBOX"), 0);
    daemon.stop();
}

/// The mail an outsider with an authenticated From writes (the trusted
/// receiving server's Authentication-Results say DKIM passed for it).
fn authenticated_mail(from: &str, to: &str, subject: &str) -> Vec<u8> {
    let domain = from.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    MailBuilder::new(from, to)
        .header(
            "Authentication-Results",
            &format!(
                "mx.corp.example; dkim=pass header.d={domain}; spf=pass smtp.mailfrom={domain}"
            ),
        )
        .subject(subject)
        .body(b"Could you reset the password of my account, please?\n")
        .build()
}

/// The inbound rows without a ticket: (subject, note).
fn ticketless(desk: &TestDesk) -> Vec<(String, String)> {
    let db = rusqlite::Connection::open(desk.db_path()).expect("open the desk database");
    let mut stmt = db
        .prepare(
            "SELECT subject, coalesce(note, '') FROM messages \
             WHERE direction = 'in' AND ticket IS NULL ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn outsiders_are_refused_without_a_ticket_once_and_a_watcher_an_agent_added_is_served() {
    let env = MailEnv::load();
    let ann = env.unique_user("ann");
    let desk = TestDesk::builder("scope-refuse")
        .set("desk.serve", toml::Value::Array(vec![ann.as_str().into()]))
        .set("desk.outside", "refuse")
        .set(
            "workflow.trusted-authserv-ids",
            toml::Value::Array(vec!["mx.corp.example".into()]),
        )
        .team_with_alice()
        .build();
    let carol = env.unique_user("carol");
    let mut daemon = desk.start();

    // An authenticated outsider: recorded, no ticket, one refusal.
    desk.send(
        &carol,
        &authenticated_mail(&carol, &desk.address, "Password reset"),
    );
    let refusal = wait_for_messages(&env, &carol, 1, WAIT).remove(0);
    let subject = header(&refusal, "Subject");
    assert_eq!(subject, "Re: Password reset", "no ticket, no tag");
    assert_eq!(header(&refusal, "Auto-Submitted"), "auto-replied");
    let text = String::from_utf8_lossy(&refusal).to_string();
    assert!(text.contains("no ticket was opened"), "{text}");
    assert!(
        desk.store().ticket_detail(1000).unwrap().is_none(),
        "no ticket"
    );
    let rows = ticketless(&desk);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].1.contains("a refusal sent"), "{rows:?}");

    // Again within desk.refusal-window: recorded, not answered again.
    desk.send(
        &carol,
        &authenticated_mail(&carol, &desk.address, "Password reset, again"),
    );
    desk.wait_inbound(2, &daemon);
    let rows = ticketless(&desk);
    assert!(rows[1].1.contains("refusal-window"), "{rows:?}");

    // Ann is served; Alice puts Carol on Ann's ticket with #cc.
    desk.send(
        &ann,
        &build_mail(&ann, &desk.address, "VPN drops", "The VPN drops hourly.\n"),
    );
    desk.wait_status(1000, "new", &daemon);
    let notice = wait_for_messages(&env, desk.team(), 1, WAIT).remove(0);
    let cc = reply_to(
        desk.alice(),
        &desk.address,
        &notice,
        &format!("#cc {carol}\nLooking at it."),
    );
    desk.send(desk.alice(), &cc);
    assert!(
        wait_until(WAIT, || desk
            .store()
            .ticket_detail(1000)
            .unwrap()
            .is_some_and(|d| d.events.iter().any(|e| e.kind
                == "watcher-added"
                && e.new.as_deref() == Some(carol.as_str())))),
        "Carol watches 1000; log:\n{}",
        daemon.log()
    );
    // Now Carol's own new request is a ticket, acknowledged.
    desk.send(
        &carol,
        &authenticated_mail(&carol, &desk.address, "Printer"),
    );
    desk.wait_status(1001, "new", &daemon);
    let subjects = || -> Vec<String> {
        let mut imap = Imap::login(&env, &carol);
        imap.command_ok("SELECT INBOX");
        imap.fetch_all_raw()
            .iter()
            .map(|(_, m)| header(m, "Subject"))
            .collect()
    };
    assert!(
        wait_until(WAIT, || subjects().iter().any(|s| s.starts_with("[#1001]"))),
        "the acknowledgement of 1001: {:?}",
        subjects()
    );
    assert_eq!(
        subjects()
            .iter()
            .filter(|s| s.starts_with("Re: Password"))
            .count(),
        1,
        "one refusal in all"
    );
    assert_eq!(
        ticketless(&desk).len(),
        2,
        "nothing more recorded without a ticket"
    );
    daemon.stop();
}

#[test]
fn check_tries_rspamd_as_the_daemon_uses_it_and_warns_when_it_is_down() {
    let rspamd = RspamdEnv::load();
    let desk = spam_desk("spam-check", &rspamd).build();
    let before = rspamd.learned();
    let (ok, out) = postdesk_check(&desk.config);
    assert!(ok, "{out}");
    let line = |what: &str| {
        out.lines()
            .find(|l| l.contains(&format!(" {what}: ")))
            .unwrap_or_else(|| panic!("no `{what}` line:\n{out}"))
            .to_string()
    };
    let worker = line("rspamd");
    assert!(
        worker.starts_with("ok") && worker.contains("a test mail got `no action`"),
        "{worker}"
    );
    let controller = line("rspamd controller");
    assert!(
        controller.starts_with("ok") && controller.contains("nothing learned"),
        "{controller}"
    );
    assert_eq!(rspamd.learned(), before, "check teaches rspamd nothing");

    // Nothing listens there: warnings (intake goes on without rspamd).
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let down = TestDesk::builder("spam-check-down")
        .set("spam.rspamd", url.as_str())
        .set("spam.rspamd-controller", url.as_str())
        .set("spam.rspamd-timeout", "1s")
        .build();
    let (ok, out) = postdesk_check(&down.config);
    assert!(ok, "a missing rspamd is a warning, not a failure:\n{out}");
    let warned: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("WARN rspamd") && l.contains(&url))
        .collect();
    assert_eq!(warned.len(), 2, "{out}");
    assert!(warned[0].contains("intake goes on"), "{out}");
    assert!(warned[1].contains("lessons wait"), "{out}");
}
