//! Mail from the MTA over the daemon's LMTP socket (`[lmtp] socket`):
//! the lab Postfix delivering to it (its `transport_maps` send `lmtp.test`
//! to `$MAILLAB_DIR/lmtp/postdesk`), and `postdesk ingest` handing its mail
//! to the running daemon, or recording it itself when none runs.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::*;

/// `postdesk ingest` with `mail` on stdin: (exit 0, stderr).
fn ingest(desk: &TestDesk, mail: &[u8]) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .args(["--config", desk.config.to_str().unwrap(), "ingest"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting postdesk ingest");
    child.stdin.take().unwrap().write_all(mail).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ingest_hands_its_mail_to_the_running_daemon_and_records_it_itself_without_one() {
    let env = MailEnv::load();
    let desk = TestDesk::builder("lmtp-ingest")
        .set("lmtp.socket", "lmtp.sock")
        .build();
    let socket = desk.dir.path().join("lmtp.sock");
    let mut daemon = desk.start();
    assert_eventually(WAIT, "the daemon listens on its LMTP socket", || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    });
    let ann = env.unique_user("ann");
    let request = build_mail(&ann, &desk.address, "Projector in room 2", "No signal.\n");

    let (ok, said) = ingest(&desk, &request);
    assert!(ok, "{said}");
    assert!(
        said.contains("1 new ticket(s)") && said.contains("(recorded by the running daemon)"),
        "{said}"
    );
    // The daemon recorded it: its acknowledgement goes out through Postfix.
    let acks = wait_for_messages(&env, &ann, 1, WAIT);
    assert!(header(&acks[0], "Subject").contains("[#1000]"));
    // The same mail again (an MTA that did not see the answer): a duplicate.
    let (ok, said) = ingest(&desk, &request);
    assert!(ok && said.contains("1 duplicate(s)"), "{said}");
    assert!(
        daemon.log().contains("mail over LMTP committed"),
        "{}",
        daemon.log()
    );

    daemon.stop();
    assert!(
        !socket.exists(),
        "the daemon removes its socket when it stops"
    );
    let bob = env.unique_user("bob");
    let second = build_mail(&bob, &desk.address, "Badge reader", "Door 3.\n");
    let (ok, said) = ingest(&desk, &second);
    assert!(ok, "{said}");
    assert!(
        said.contains("1 new ticket(s)") && !said.contains("running daemon"),
        "no daemon: recorded by ingest itself: {said}"
    );
    assert_eq!(desk.store().ticket_count().unwrap(), 2);
    assert_eq!(desk.store().inbound_count().unwrap(), 2);
}

#[test]
fn postfix_delivers_to_the_daemon_over_lmtp() {
    let env = MailEnv::load();
    let socket = env.maillab_dir.join("lmtp/postdesk");
    // Postfix's delivery agent runs as `postfix`: the socket must let it in.
    let desk = TestDesk::builder("lmtp-postfix")
        .set("lmtp.socket", socket.to_str().unwrap())
        .set("lmtp.mode", "0666")
        .build();
    let mut daemon = desk.start();
    assert_eventually(WAIT, "the daemon listens on the lab's LMTP path", || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    });
    let ann = env.unique_user("ann");
    let to = "help@lmtp.test";
    let request = build_mail(&ann, to, "Laptop will not charge", "Since the update.\n");
    smtp_send(&env, &ann, &[to], &request).expect("SMTP to Postfix");
    desk.wait_inbound(1, &daemon);
    let acks = wait_for_messages(&env, &ann, 1, WAIT);
    assert!(
        header(&acks[0], "Subject").contains("Laptop will not charge"),
        "{}",
        header(&acks[0], "Subject")
    );
    let log = std::fs::read_to_string(env.maillab_dir.join("log/postfix.log")).unwrap();
    let delivered = log.lines().any(|l| {
        l.contains("to=<help@lmtp.test>")
            && l.contains("lmtp/postdesk")
            && l.contains("status=sent")
            && l.contains("recorded: created=1")
    });
    assert!(
        delivered,
        "Postfix logged the delivery over the socket with our answer; its log:\n{}",
        log.lines()
            .filter(|l| l.contains("lmtp.test"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    daemon.stop();
}
