//! Servers that are not Dovecot (issue 11 §4): postdesk reads CAPABILITY and
//! never sends a command the server did not offer. The lab Dovecot sits
//! behind [`StrictImap`], a front that advertises only what a test names and
//! refuses anything else with `BAD` (Dovecot itself accepts MOVE and IDLE
//! unadvertised). The core cases run against it: a new ticket, a reply that
//! joins it, after = "move" by COPY + EXPUNGE (UIDPLUS) or, with neither
//! MOVE nor UIDPLUS, as "seen"; no IDLE means polling.

use std::time::Duration;

use crate::support::*;

fn desk_behind(front: &StrictImap, tag: &str, after: &str) -> TestDesk {
    TestDesk::builder(tag)
        .set("mailbox.port", i64::from(front.port))
        .set("mailbox.after", after)
        .set("mailbox.move-to", "Processed")
        .set("mailbox.poll-interval", "1s")
        .build()
}

fn check(desk: &TestDesk) -> String {
    postdesk_check(&desk.config).1
}

/// Request, acknowledgement, and the requester's reply joining the ticket.
fn request_and_reply(desk: &TestDesk, daemon: &Daemon) {
    let ann = desk.env().unique_user("ann");
    let request = build_mail(&ann, &desk.address, "Monitor flickers", "Since Monday.\n");
    desk.send(&ann, &request);
    let acks = wait_for_messages(desk.env(), &ann, 1, WAIT);
    let subject = header(&acks[0], "Subject");
    assert!(subject.contains("[#1000]"), "{subject}");
    let reply = reply_to(&ann, &desk.address, &acks[0], "It is a Dell U2412.");
    desk.send(&ann, &reply);
    desk.wait_inbound(2, daemon);
    let t = desk
        .store()
        .ticket_detail(1000)
        .unwrap()
        .expect("ticket 1000");
    let kinds: Vec<&str> = t.messages.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds, ["request", "ack", "reply"]);
    assert_eq!(desk.store().ticket_count().unwrap(), 1);
}

#[test]
fn the_front_advertises_only_what_it_is_told_and_refuses_the_rest() {
    let env = MailEnv::load();
    let front = StrictImap::start(env.imap_addr(), &["AUTH=PLAIN"]);
    let mut behind = env.clone();
    behind.imap_port = front.port;
    let user = env.unique_user("front");
    let mut imap = Imap::login(&behind, &user);
    let reply = imap.command_ok("CAPABILITY");
    let caps: Vec<String> = reply
        .lines_of("CAPABILITY")
        .map(|r| r.text_lossy())
        .collect();
    assert_eq!(caps, ["* CAPABILITY IMAP4rev1 AUTH=PLAIN"], "{reply:?}");
    imap.select("INBOX");
    let refused = format!("{:?}", imap.command("UID MOVE 1 Trash"));
    assert!(refused.contains("MOVE was not advertised"), "{refused}");
    imap.logout();
    assert_eq!(front.refused().len(), 1, "{:?}", front.refused());
}

#[test]
fn without_move_uidplus_or_idle_mail_is_marked_seen_and_the_folder_polled() {
    let env = MailEnv::load();
    let front = StrictImap::start(env.imap_addr(), &["AUTH=PLAIN", "LITERAL+"]);
    let desk = desk_behind(&front, "strict-bare", "move");
    let daemon = desk.start();
    request_and_reply(&desk, &daemon);
    assert!(
        daemon.log().contains("no MOVE and no UIDPLUS") && daemon.log().contains("no IDLE"),
        "{}",
        daemon.log()
    );
    let mut imap = Imap::login(desk.env(), &desk.address);
    imap.select("INBOX");
    let uids = imap.uid_search_all();
    assert_eq!(uids.len(), 2, "both mails stay in the inbox");
    assert_eventually(WAIT, "both marked seen", || {
        uids.iter()
            .all(|&u| imap.flags(u).iter().any(|f| f == "\\Seen"))
    });
    let report = check(&desk);
    assert!(
        report.contains("the server offers AUTH=PLAIN IMAP4rev1 LITERAL+")
            && report.contains("WARN mailbox support: no MOVE and no UIDPLUS")
            && report.contains("WARN mailbox support: no IDLE"),
        "{report}"
    );
    assert_eq!(
        front.refused(),
        Vec::<String>::new(),
        "postdesk sent a command not offered"
    );
    assert!(
        !front
            .commands()
            .iter()
            .any(|c| c == "IDLE" || c == "UID MOVE")
    );
}

#[test]
fn without_move_but_with_uidplus_mail_is_moved_by_copy_and_expunge() {
    let env = MailEnv::load();
    let front = StrictImap::start(env.imap_addr(), &["AUTH=PLAIN", "UIDPLUS", "IDLE"]);
    let desk = desk_behind(&front, "strict-uidplus", "move");
    let daemon = desk.start();
    request_and_reply(&desk, &daemon);
    assert_eventually(WAIT, "the inbox is emptied", || {
        let mut imap = Imap::login(desk.env(), &desk.address);
        imap.message_count("INBOX") == 0 && imap.message_count("Processed") == 2
    });
    assert_eq!(
        front.refused(),
        Vec::<String>::new(),
        "postdesk sent a command not offered"
    );
    // The daemon may make another pass (the server told of the reply while
    // the request was moved) before it idles, so IDLE is waited for.
    assert_eventually(WAIT, "the daemon idles", || {
        front.commands().iter().any(|c| c == "IDLE")
    });
    let commands = front.commands();
    for want in ["UID COPY", "UID STORE", "UID EXPUNGE", "IDLE"] {
        assert!(commands.iter().any(|c| c == want), "{want} in {commands:?}");
    }
    assert!(
        !commands.iter().any(|c| c == "UID MOVE" || c == "EXPUNGE"),
        "{commands:?}"
    );
}

/// Mail that arrives while postdesk is between fetching and IDLE: Dovecot
/// says so (`* 2 EXISTS`) in its answer to the MOVE that files the first
/// mail, and not again once IDLE starts. postdesk reads that and fetches
/// again at once, instead of at the IDLE re-check (10 minutes here; the
/// mail once waited the default 5 in a test under load).
#[test]
fn mail_reported_during_the_pass_is_fetched_without_waiting_for_idle() {
    let env = MailEnv::load();
    let front = StrictImap::start(
        env.imap_addr(),
        &["AUTH=PLAIN", "IDLE", "MOVE", "UIDPLUS", "LITERAL+"],
    );
    let desk = TestDesk::builder("mid-pass")
        .set("mailbox.port", i64::from(front.port))
        .set("mailbox.after", "move")
        .set("mailbox.move-to", "Processed")
        .set("mailbox.idle-recheck", "10m")
        .build();
    let mut daemon = desk.start();
    let ann = env.unique_user("ann");
    let second = build_mail(&ann, &desk.address, "Second request", "Keyboard too.\n");
    let (inbox_env, desk_user) = (env.clone(), desk.address.clone());
    front.before("UID MOVE", move || {
        Imap::login(&inbox_env, &desk_user).append("INBOX", &second);
    });
    let first = build_mail(&ann, &desk.address, "First request", "Mouse broken.\n");
    Imap::login(&env, &desk.address).append("INBOX", &first);
    let ok = wait_until(Duration::from_secs(15), || {
        desk.store().inbound_count().unwrap_or(0) >= 2
    });
    assert!(
        ok,
        "both requests recorded within 15 s; commands {:?}; log:\n{}",
        front.commands(),
        daemon.log()
    );
    daemon.stop();
}

/// Mail that arrives just before IDLE, from a server that tells of it
/// before its `+ idling` (the front reorders Dovecot's answer that way):
/// postdesk reads the report it was given while starting IDLE and fetches
/// at once, instead of idling until the re-check (10 minutes here).
#[test]
fn mail_reported_before_the_idle_continuation_is_fetched_at_once() {
    let env = MailEnv::load();
    let front = StrictImap::start(
        env.imap_addr(),
        &["AUTH=PLAIN", "IDLE", "MOVE", "UIDPLUS", "LITERAL+"],
    );
    front.report_before_idling();
    let desk = TestDesk::builder("pre-idle")
        .set("mailbox.port", i64::from(front.port))
        .set("mailbox.after", "move")
        .set("mailbox.move-to", "Processed")
        .set("mailbox.idle-recheck", "10m")
        .build();
    let ann = env.unique_user("ann");
    let request = build_mail(&ann, &desk.address, "Docking station", "No video.\n");
    let (inbox_env, desk_user) = (env.clone(), desk.address.clone());
    front.before("IDLE", move || {
        Imap::login(&inbox_env, &desk_user).append("INBOX", &request);
    });
    let mut daemon = desk.start();
    let ok = wait_until(Duration::from_secs(15), || {
        desk.store().inbound_count().unwrap_or(0) >= 1
    });
    assert!(
        ok,
        "the request recorded within 15 s; commands {:?}; log:\n{}",
        front.commands(),
        daemon.log()
    );
    assert_eventually(WAIT, "IDLE begun again after the fetch", || {
        front.commands().iter().filter(|c| *c == "IDLE").count() >= 2
    });
    daemon.stop();
}
