//! The daemon in process, the way mini-redis tests its server:
//! `postdesk::daemon::run` on a tokio runtime of the test's own, with a
//! oneshot receiver as the shutdown future, on a desk that reads a Maildir
//! and writes its mail as files, so no mail server is needed. A request
//! dropped into the Maildir becomes a ticket and an acknowledgement file, a
//! reply by tag joins that ticket, and firing the oneshot makes `run` return.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use postdesk::config::Config;

use crate::support::*;

/// How long the test waits for the daemon to act (it polls the Maildir every second).
const WAIT: Duration = Duration::from_secs(20);
/// How soon `run` must return once shutdown is asked for.
const STOP: Duration = Duration::from_secs(5);

/// Delivers `raw` the way an MTA does: written under `tmp/`, then renamed
/// into `new/`, so the daemon never reads half a file.
fn deliver(maildir: &Path, name: &str, raw: &[u8]) {
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(maildir.join(sub)).expect("create the Maildir");
    }
    let tmp = maildir.join("tmp").join(name);
    std::fs::write(&tmp, raw).expect("write into the Maildir's tmp/");
    std::fs::rename(&tmp, maildir.join("new").join(name)).expect("move into the Maildir's new/");
}

/// The files in `dir`, by name (none while it does not exist).
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// Polls `probe` until it gives a value; panics with `what` after [`WAIT`].
#[track_caller]
fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn run_answers_a_maildir_request_and_stops_on_shutdown() {
    // The daemon's log goes to the test's output, shown when it fails.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .try_init();
    let desk = TestDesk::builder("in-process").maildir_and_files().build();
    let config = Config::load(&desk.config).expect("the test desk's config");
    let maildir = desk.path_of("mailbox.path");
    let outbox = desk.path_of("outbox.dir");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    // Dropping `stop` (a panic below) shuts the daemon down as well.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = runtime.spawn(postdesk::daemon::run(config, async {
        let _ = stopped.await;
    }));

    let requester = unique_user("ann");
    let request = MailBuilder::new(&format!("Ann <{requester}>"), &desk.address)
        .subject("VPN drops every hour")
        .body(b"Since Monday the VPN drops every hour on the hour.\n")
        .build();
    let request_id = header(&request, "Message-ID");
    deliver(&maildir, "0001.request", &request);

    let (ack_file, ticket) = wait_for(
        "the acknowledgement in the outbox folder and the ticket in the database",
        || {
            assert!(
                !daemon.is_finished(),
                "postdesk::daemon::run ended before the shutdown; its log is above"
            );
            let ack = files_in(&outbox)
                .into_iter()
                .find(|f| f.extension().is_some_and(|x| x == "eml"))?;
            let ticket = desk.store().ticket_detail(1000).ok().flatten()?;
            Some((ack, ticket))
        },
    );
    let ack = postdesk::inbound::parse(&std::fs::read(&ack_file).expect("read the ack"))
        .expect("parse the acknowledgement");
    assert_eq!(ack.subject, "[#1000] VPN drops every hour");
    assert_eq!(
        ack.in_reply_to,
        [request_id.trim_matches(['<', '>'])],
        "the acknowledgement answers the request"
    );
    let to: Vec<&str> = ack.to.iter().map(|m| m.address.as_str()).collect();
    assert_eq!(to, [requester.as_str()]);
    assert_eq!(ticket.ticket.requester, requester);
    assert_eq!(ticket.ticket.subject, "VPN drops every hour");

    // The requester writes again, with only the tag to go by.
    let reply = MailBuilder::new(&requester, &desk.address)
        .subject("Re: [#1000] VPN drops every hour")
        .body(b"It dropped again at ten.\n")
        .build();
    deliver(&maildir, "0002.reply", &reply);
    wait_for("the reply recorded", || {
        (desk.store().inbound_count().ok()? == 2).then_some(())
    });
    let store = desk.store();
    assert_eq!(
        store.ticket_count().unwrap(),
        1,
        "the reply opened no ticket"
    );
    let inbound: Vec<String> = store
        .ticket_detail(1000)
        .unwrap()
        .expect("ticket 1000")
        .messages
        .into_iter()
        .filter(|m| m.direction == "in")
        .map(|m| m.kind)
        .collect();
    assert_eq!(inbound, ["request", "reply"], "both mails on ticket 1000");
    assert!(
        files_in(&maildir.join("new")).is_empty(),
        "both mails were taken from new/"
    );

    // An error here means `run` ended by itself: the match below says how.
    let _ = stop.send(());
    let stopped = runtime.block_on(async { tokio::time::timeout(STOP, daemon).await });
    match stopped {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => panic!("run failed: {e}"),
        Ok(Err(e)) => panic!("run panicked: {e}"),
        Err(_) => panic!("run did not return within {STOP:?} of the shutdown"),
    }
}
