//! Many mailboxes in one daemon (issue 16): sign-ins paced one at a time
//! (`connect.concurrency = 1`), the mailboxes sharing a few database
//! connections (more mailboxes than connections), and every mailbox still
//! connects, IDLEs and makes each request a ticket of its own.
//! `scripts/bench --only mailboxes` measures the same at 2,000 and 10,000.

use std::collections::BTreeMap;

use rusqlite::{Connection, OpenFlags};

use crate::support::*;

/// More than the 4 database connections the mailboxes share.
const MAILBOXES: usize = 9;

#[test]
fn paced_mailboxes_all_connect_and_each_request_is_a_ticket_of_its_mailbox() {
    let env = MailEnv::load();
    let users: Vec<String> = (1..MAILBOXES)
        .map(|i| env.unique_user(&format!("many{i}")))
        .collect();
    let mut extra = String::new();
    for (i, u) in users.iter().enumerate() {
        extra += &format!(
            "[[mailbox]]\nname = \"m{}\"\nkind = \"imap\"\nhost = \"127.0.0.1\"\nport = {}\n\
             security = \"plain\"\nusername = \"{u}\"\npassword-file = \"imap-password\"\n\
             idle-recheck = \"30s\"\non-first-connect = \"process\"\naddress = \"{u}\"\n\n",
            i + 1,
            env.imap_port
        );
    }
    let desk = TestDesk::builder("many")
        .set("connect.concurrency", 1)
        .set("connect.jitter", "1s")
        .section(&extra)
        .build();
    let mut daemon = desk.start();
    let all_connected = wait_until(WAIT, || {
        daemon.log().matches("IMAP connected").count() == MAILBOXES
    });
    assert!(
        all_connected,
        "every mailbox signs in, one at a time:\n{}",
        daemon.log()
    );

    let mut addresses = vec![("support".to_string(), desk.address.clone())];
    addresses.extend(
        users
            .iter()
            .enumerate()
            .map(|(i, u)| (format!("m{}", i + 1), u.clone())),
    );
    let requester = env.unique_user("many-req");
    for (name, to) in &addresses {
        let raw = MailBuilder::new(&format!("Requester <{requester}>"), to)
            .subject(&format!("Printer broken, via {name}"))
            .body(b"Hello,\nthe printer on floor 3 is jammed.\n")
            .build();
        smtp_send(&env, &requester, &[to], &raw).expect("SMTP to a mailbox");
    }
    desk.wait_inbound(MAILBOXES as i64, &daemon);

    let db = Connection::open_with_flags(desk.db_path(), OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut stmt = db
        .prepare("SELECT mailbox, subject FROM tickets ORDER BY mailbox")
        .unwrap();
    let tickets: BTreeMap<String, String> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let want: BTreeMap<String, String> = addresses
        .iter()
        .map(|(name, _)| (name.clone(), format!("Printer broken, via {name}")))
        .collect();
    assert_eq!(tickets, want, "one ticket per mailbox, on its mailbox");
    daemon.stop();
    for u in users.iter().chain([&desk.address, &requester]) {
        let _ = std::fs::remove_dir_all(env.home_of(u));
    }
}
