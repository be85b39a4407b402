//! Operating postdesk: the ops endpoint (`/metrics`, `/healthz`, `/readyz`)
//! of a running daemon against real servers, its figures checked by
//! Prometheus's own `promtool`, and the admin alerts when Dovecot stops
//! (a private `Lab`, never the shared servers).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    Daemon, Imap, Lab, TestDesk, WAIT, build_mail, free_ports, header, wait_until,
};

/// A GET over plain HTTP/1.1: (status, body).
fn get(port: u16, path: &str) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no header end in {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    Ok((status, body.to_string()))
}

#[track_caller]
fn get_ok(port: u16, path: &str) -> (u16, String) {
    get(port, path).unwrap_or_else(|e| panic!("GET {path} on port {port}: {e}"))
}

/// The value of the sample `name{labels}` (exactly as printed), if present.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let (k, v) = l.rsplit_once(' ')?;
        (k == series).then(|| v.parse().ok())?
    })
}

/// `promtool check metrics` over `text`: it must accept it.
fn promtool_accepts(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}): install Debian's `prometheus` package \
                 (scripts/test and .ci/run do when it is missing)"
            )
        });
    child
        .stdin
        .take()
        .expect("promtool stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("promtool ran");
    assert!(
        out.status.success(),
        "promtool check metrics refused the output ({}):\n{}{}\n--- the output:\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn port() -> u16 {
    free_ports::<1>()[0]
}

/// A daemon with its endpoint on a free port; waits until `/readyz` is 200.
fn desk_with_endpoint(builder: crate::support::TestDeskBuilder, port: u16) -> (TestDesk, Daemon) {
    let desk = builder
        .set("http.listen", format!("127.0.0.1:{port}"))
        .build();
    let daemon = desk.start();
    let ready = wait_until(WAIT, || matches!(get(port, "/readyz"), Ok((200, _))));
    assert!(
        ready,
        "/readyz never 200: {:?}\n{}",
        get(port, "/readyz"),
        daemon.log()
    );
    (desk, daemon)
}

#[test]
fn metrics_and_health_follow_the_mail_and_promtool_accepts_them() {
    let port = port();
    let (desk, mut daemon) = desk_with_endpoint(TestDesk::builder("ops-metrics"), port);
    let before = get_ok(port, "/metrics").1;
    promtool_accepts(&before);
    let fetched =
        |m: &str| sample(m, "postdesk_mails_fetched_total{mailbox=\"support\"}").unwrap_or(0.0);
    let requests = |m: &str| {
        sample(
            m,
            "postdesk_mails_processed_total{mailbox=\"support\",kind=\"request\"}",
        )
        .unwrap_or(0.0)
    };
    assert_eq!(fetched(&before), 0.0, "{before}");
    assert_eq!(
        sample(&before, "postdesk_imap_connected{mailbox=\"support\"}"),
        Some(1.0),
        "{before}"
    );
    assert_eq!(get_ok(port, "/healthz"), (200, "ok\n".to_string()));

    let env = desk.env().clone();
    let senders: Vec<String> = (0..3)
        .map(|i| env.unique_user(&format!("ops-req{i}")))
        .collect();
    let started = Instant::now();
    for from in &senders {
        let secret = "the printer on floor 3 leaks toner";
        desk.send(
            from,
            &build_mail(from, &desk.address, "Printer broken", secret),
        );
    }
    desk.wait_inbound(3, &daemon);
    let mut after = String::new();
    let moved = wait_until(WAIT, || {
        after = get_ok(port, "/metrics").1;
        requests(&after) == 3.0
            && sample(&after, "postdesk_outbox_sends_total{outcome=\"sent\"}") == Some(3.0)
    });
    assert!(
        moved,
        "figures after 3 requests:\n{after}\n{}",
        daemon.log()
    );
    let took = started.elapsed();
    assert_eq!(fetched(&after), 3.0, "{after}");
    assert_eq!(
        sample(&after, "postdesk_tickets{status=\"new\"}"),
        Some(3.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, "postdesk_outbox_queued"),
        Some(0.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, "postdesk_mail_processing_seconds_count"),
        Some(3.0),
        "{after}"
    );
    let db = sample(&after, "postdesk_database_size_bytes").unwrap_or(0.0);
    assert!(db > 0.0, "{after}");
    assert!(
        !after.contains("toner") && !after.contains("Printer") && !after.contains(&senders[0]),
        "no ticket content over HTTP:\n{after}"
    );
    promtool_accepts(&after);
    let (code, body) = get_ok(port, "/healthz");
    assert_eq!((code, body.as_str()), (200, "ok\n"));
    assert_eq!(get_ok(port, "/nope").0, 404);
    eprintln!(
        "3 requests: metrics moved after {:.1} s; database {:.0} KB; {} lines of metrics",
        took.as_secs_f64(),
        db / 1024.0,
        after.lines().count()
    );
    daemon.stop();
}

#[test]
fn a_remote_listen_address_is_refused_with_its_file() {
    let desk = TestDesk::builder("ops-remote")
        .maildir_and_files()
        .set("http.listen", "0.0.0.0:9187")
        .build();
    let mut daemon = Daemon::start(&desk.config);
    // A daemon that accepted the address would run on: it must end by itself.
    let ended = wait_until(WAIT, || daemon.poll_exit().is_some());
    let err = daemon.log();
    assert!(
        ended,
        "the daemon started with a remote listen address:\n{err}"
    );
    assert!(!daemon.poll_exit().expect("ended").success(), "{err}");
    assert!(
        err.contains(&desk.config.display().to_string()) && err.contains("allow-remote = true"),
        "{err}"
    );
}

/// Mails in `user`'s INBOX whose subject contains `word`.
fn subjects_with(env: &crate::support::MailEnv, user: &str, word: &str) -> Vec<String> {
    let mut imap = match Imap::try_login(env, user) {
        Ok(i) => i,
        Err(_) => return Vec::new(),
    };
    imap.select("INBOX");
    let out = imap
        .fetch_all_raw()
        .into_iter()
        .map(|(_, raw)| header(&raw, "Subject"))
        .filter(|s| s.contains(word))
        .collect();
    imap.logout();
    out
}

fn count(db: &Path, sql: &str) -> i64 {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("open {}: {e}", db.display()));
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c.query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Dovecot stops under a running daemon (a private lab): `/healthz` turns
/// 503 naming the mailbox, one alert mail goes to the admin (and not a
/// second after a restart of the daemon mid-outage), and one recovery mail
/// when Dovecot is back; `/healthz` is 200 again.
#[test]
fn dovecot_down_turns_healthz_503_and_alerts_the_admin_once_then_once_more_when_back() {
    let started = Instant::now();
    let lab = Lab::start("ops-alert");
    let env = lab.env.clone();
    let admin = env.unique_user("it-ops");
    let port = port();
    let builder = TestDesk::builder("ops-alert")
        .mail_env(env.clone())
        .set("desk.admin", toml::Value::Array(vec![admin.clone().into()]))
        .set("alerts.mailbox-failing-for", "3s")
        .set("alerts.check-interval", "1s")
        // Only the mailbox's alert is counted here: a nearly full disk on
        // the test machine (10 GB of 258 GB free once) is an alert of its own.
        .set("alerts.disk-free-percent", 0)
        .set("mailbox.idle-recheck", "5s");
    let (desk, mut daemon) = desk_with_endpoint(builder, port);
    assert_eq!(get_ok(port, "/healthz").0, 200);

    env.ctl("stop", "dovecot");
    let stopped = Instant::now();
    let mut health = (0, String::new());
    let turned = wait_until(Duration::from_secs(60), || {
        health = get_ok(port, "/healthz");
        health.0 == 503
    });
    assert!(turned, "healthz stayed {health:?}\n{}", daemon.log());
    assert!(health.1.contains("mailbox support: failing:"), "{health:?}");
    let to_503 = stopped.elapsed();
    let m = get_ok(port, "/metrics").1;
    assert_eq!(
        sample(&m, "postdesk_imap_connected{mailbox=\"support\"}"),
        Some(0.0),
        "{m}"
    );

    // The alert is queued once (Postfix holds it until Dovecot is back).
    let db = desk.db_path();
    let alerted = wait_until(Duration::from_secs(30), || {
        count(
            &db,
            "SELECT count(*) FROM alert_mails WHERE kind = 'started'",
        ) == 1
    });
    assert!(alerted, "no alert queued:\n{}", daemon.log());
    // A restart mid-outage remembers that it told already.
    daemon.stop();
    let mut daemon = Daemon::start(&desk.config);
    daemon.wait_for_log("postdesk running", WAIT);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        count(&db, "SELECT count(*) FROM alert_mails"),
        1,
        "one alert however long it lasts and across a restart:\n{}",
        daemon.log()
    );

    env.ctl("start", "dovecot");
    let back = wait_until(Duration::from_secs(60), || {
        matches!(get(port, "/healthz"), Ok((200, _)))
    });
    assert!(
        back,
        "healthz after Dovecot came back: {:?}\n{}",
        get(port, "/healthz"),
        daemon.log()
    );
    let mails = wait_until(Duration::from_secs(60), || {
        subjects_with(&env, &admin, "ALERT").len() == 1
            && subjects_with(&env, &admin, "RESOLVED").len() == 1
    });
    assert!(
        mails,
        "admin's mail: {:?} / {:?}\n{}",
        subjects_with(&env, &admin, "ALERT"),
        subjects_with(&env, &admin, "RESOLVED"),
        daemon.log()
    );
    // Nothing more comes.
    std::thread::sleep(Duration::from_secs(4));
    let alerts = subjects_with(&env, &admin, "ALERT");
    let resolved = subjects_with(&env, &admin, "RESOLVED");
    assert_eq!(
        (alerts.len(), resolved.len()),
        (1, 1),
        "{alerts:?} {resolved:?}"
    );
    assert!(
        alerts[0].contains("mailbox support is failing"),
        "{alerts:?}"
    );
    let mut imap = Imap::login(&env, &admin);
    imap.select("INBOX");
    for (_, raw) in imap.fetch_all_raw() {
        assert_eq!(header(&raw, "Auto-Submitted"), "auto-generated");
    }
    imap.logout();
    eprintln!(
        "healthz 503 {:.1} s after Dovecot stopped; alert + recovery mail, {:.1} s in all",
        to_503.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    daemon.stop();
}

fn sighup(daemon: &Daemon) {
    let ok = Command::new("kill")
        .args(["-HUP", &daemon.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(ok.success(), "kill -HUP {}", daemon.pid());
}

/// Delivers a request into the desk's Maildir (written aside, then renamed
/// in, as an MTA does).
fn deliver(desk: &TestDesk, name: &str, subject: &str) {
    let dir = desk.path_of("mailbox.path");
    let from = crate::support::unique_user("hup");
    let raw = build_mail(&from, &desk.address, subject, "please help\n");
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    std::fs::create_dir_all(dir.join("new")).unwrap();
    let tmp = dir.join("tmp").join(name);
    std::fs::write(&tmp, raw).unwrap();
    std::fs::rename(&tmp, dir.join("new").join(name)).unwrap();
}

/// The From header of the acknowledgement that answers `subject`.
fn ack_from(desk: &TestDesk, subject: &str) -> Option<String> {
    let dir = desk.path_of("outbox.dir");
    std::fs::read_dir(dir).ok()?.find_map(|e| {
        let raw = std::fs::read(e.ok()?.path()).ok()?;
        header(&raw, "Subject")
            .contains(subject)
            .then(|| header(&raw, "From"))
    })
}

/// SIGHUP while mail keeps arriving: every mail is processed once, the new
/// config is in force after the reload, and a config with a bad line is
/// refused with its file and line while the old one keeps running.
#[test]
fn sighup_reloads_without_dropping_a_mail_and_refuses_a_bad_config() {
    let mut desk = TestDesk::builder("ops-hup").maildir_and_files().build();
    let mut daemon = Daemon::start(&desk.config);
    daemon.wait_for_log("watching Maildir", WAIT);
    const MAILS: usize = 30;
    let started = Instant::now();
    let writer = {
        let dir = desk.path_of("mailbox.path");
        let address = desk.address.clone();
        std::thread::spawn(move || {
            for i in 0..MAILS {
                let from = crate::support::unique_user("hup");
                let raw = build_mail(&from, &address, &format!("Request {i}"), "help\n");
                let name = format!("{i:04}.hup");
                std::fs::create_dir_all(dir.join("tmp")).unwrap();
                std::fs::write(dir.join("tmp").join(&name), raw).unwrap();
                std::fs::rename(dir.join("tmp").join(&name), dir.join("new").join(&name)).unwrap();
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    for n in 0..3 {
        std::thread::sleep(Duration::from_millis(400));
        desk.set("desk.name", format!("Desk v{n}"));
        sighup(&daemon);
    }
    writer.join().unwrap();
    let reloads = wait_until(WAIT, || {
        daemon.log().matches("configuration reloaded").count() == 3
    });
    assert!(reloads, "three reloads:\n{}", daemon.log());
    desk.wait_inbound(MAILS as i64, &daemon);
    let all_in = started.elapsed();

    // After the last reload, acknowledgements come from the new name.
    deliver(&desk, "after.hup", "After the reloads");
    assert!(
        wait_until(WAIT, || ack_from(&desk, "After the reloads").is_some()),
        "{}",
        daemon.log()
    );
    let from = ack_from(&desk, "After the reloads").unwrap();
    assert!(from.contains("Desk v2"), "{from}");

    // A bad line: refused, with file and line; the old config runs on.
    desk.set("desk.first-ticket-number", "many");
    sighup(&daemon);
    assert!(
        wait_until(WAIT, || daemon.log().contains("reload refused")),
        "{}",
        daemon.log()
    );
    let log = daemon.log();
    let refused = log
        .lines()
        .find(|l| l.contains("reload refused"))
        .unwrap()
        .to_string();
    let at = format!("{}:", desk.config.display());
    assert!(
        refused.contains(&at) && refused.contains("`desk.first-ticket-number`"),
        "{refused}"
    );
    deliver(&desk, "still.hup", "Still running");
    desk.wait_inbound(MAILS as i64 + 2, &daemon);
    assert!(daemon.is_running(), "{}", daemon.log());
    assert!(
        wait_until(WAIT, || ack_from(&desk, "Still running")
            .is_some_and(|f| f.contains("Desk v2"))),
        "{}",
        daemon.log()
    );
    let store = desk.store();
    assert_eq!(
        store.inbound_count().unwrap(),
        MAILS as i64 + 2,
        "each mail once"
    );
    let new_left = std::fs::read_dir(desk.path_of("mailbox.path").join("new"))
        .unwrap()
        .count();
    assert_eq!(new_left, 0, "every file taken");
    eprintln!(
        "{MAILS} mails across 3 reloads, all in after {:.1} s; a bad config refused: {refused}",
        all_in.as_secs_f64()
    );
    daemon.stop();
}

/// The ops endpoint lives apart from the tasks a SIGHUP restarts: at the
/// same address it serves all through the reload (never closed, never bound
/// again); a new address is bound before the old one closes; a port that
/// cannot be had refuses the config and the endpoint serving stays.
#[test]
fn the_ops_endpoint_serves_through_a_reload_and_moves_with_its_address() {
    let [p, q, r] = free_ports::<3>();
    let mut desk = TestDesk::builder("ops-hup-http")
        .maildir_and_files()
        .set("http.listen", format!("127.0.0.1:{p}"))
        .build();
    let mut daemon = Daemon::start(&desk.config);
    assert!(
        wait_until(WAIT, || matches!(get(p, "/readyz"), Ok((200, _)))),
        "{}",
        daemon.log()
    );
    // A scraper that never stops asking while the daemon reloads.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let scraper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut asked, mut failed) = (0, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                asked += 1;
                match get(p, "/metrics") {
                    Ok((200, _)) => {}
                    other => failed.push(format!("{other:?}")),
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (asked, failed)
        })
    };
    for n in 0..3 {
        desk.set("desk.name", format!("Desk v{n}"));
        sighup(&daemon);
        let done = wait_until(WAIT, || {
            daemon.log().matches("configuration reloaded").count() == n + 1
        });
        assert!(done, "reload {n}:\n{}", daemon.log());
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (asked, failed) = scraper.join().unwrap();
    assert!(asked > 10, "the scraper asked {asked} times");
    assert!(
        failed.is_empty(),
        "{} of {asked} scrapes failed: {failed:?}",
        failed.len()
    );
    let listening = |port: u16| {
        daemon
            .log()
            .lines()
            .filter(|l| l.contains("ops endpoint listening") && l.contains(&format!(":{port}")))
            .count()
    };
    assert_eq!(listening(p), 1, "bound once:\n{}", daemon.log());

    // A new address: bound, and the old one closed.
    desk.set("http.listen", format!("127.0.0.1:{q}"));
    sighup(&daemon);
    assert!(
        wait_until(WAIT, || daemon
            .log()
            .matches("configuration reloaded")
            .count()
            == 4),
        "{}",
        daemon.log()
    );
    assert!(
        wait_until(WAIT, || matches!(get(q, "/readyz"), Ok((200, _)))),
        "{}",
        daemon.log()
    );
    assert!(get(p, "/readyz").is_err(), "the old port is closed");

    // A port somebody else holds: the reload is refused, q serves on.
    let held = std::net::TcpListener::bind(("127.0.0.1", r)).unwrap();
    desk.set("http.listen", format!("127.0.0.1:{r}"));
    sighup(&daemon);
    assert!(
        wait_until(WAIT, || daemon
            .log()
            .contains("the new configuration cannot start")),
        "{}",
        daemon.log()
    );
    assert!(
        wait_until(WAIT, || daemon.log().matches("postdesk running").count()
            >= 6),
        "the old configuration runs again:\n{}",
        daemon.log()
    );
    assert_eq!(get_ok(q, "/readyz").0, 200);
    assert_eq!(listening(q), 1, "{}", daemon.log());
    drop(held);
    daemon.stop();
}

/// `log-format = "json"`: every line the daemon logs is one JSON object.
#[test]
fn json_log_lines_are_objects() {
    let desk = TestDesk::builder("ops-json").maildir_and_files().build();
    let text = std::fs::read_to_string(&desk.config).unwrap();
    std::fs::write(&desk.config, format!("log-format = \"json\"\n{text}")).unwrap();
    let mut daemon = Daemon::start(&desk.config);
    daemon.wait_for_log("watching Maildir", WAIT);
    daemon.stop();
    let log = daemon.log();
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() >= 3, "{log}");
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["fields"]["message"].is_string(),
            "{line}"
        );
    }
}

fn postdesk(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run postdesk")
}

/// `backup` copies the database while the daemon runs; `restore` is
/// refused while it runs and puts the copy back once it is stopped.
#[test]
fn backup_while_running_and_restore_only_when_stopped() {
    let desk = TestDesk::builder("ops-backup").maildir_and_files().build();
    let mut daemon = Daemon::start(&desk.config);
    daemon.wait_for_log("watching Maildir", WAIT);
    for i in 0..5 {
        deliver(
            &desk,
            &format!("{i}.bak"),
            &format!("Before the backup {i}"),
        );
    }
    desk.wait_inbound(5, &daemon);
    let copy = desk.dir.path().join("backup.db");
    let out = postdesk(&desk.config, &["backup", copy.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "no progress bar off a terminal: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    deliver(&desk, "late.bak", "After the backup");
    desk.wait_inbound(6, &daemon);

    let out = postdesk(&desk.config, &["restore", copy.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "restore while the daemon runs: {err}"
    );
    assert!(
        err.contains(&format!("pid {}", daemon.pid())) && err.contains("stop it first"),
        "{err}"
    );
    assert_eq!(
        desk.store().inbound_count().unwrap(),
        6,
        "nothing was touched"
    );

    daemon.stop();
    let out = postdesk(&desk.config, &["restore", copy.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        desk.store().inbound_count().unwrap(),
        5,
        "the backup's mail"
    );
}
