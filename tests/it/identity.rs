//! One identity per mailbox (issue 11 §3): two `[[mailbox]]`s of one desk on
//! the lab Dovecot, the second with its own address, display name,
//! signature, language and templates. Mail about a ticket goes out as the
//! mailbox it came in on: the acknowledgement, and the mail a change from
//! the shell sends (no incoming mail to take the identity from).

use std::process::Command;

use crate::support::*;

/// The From of a mail: display name and address.
fn from(raw: &[u8]) -> (String, String) {
    let f = parsed(raw).from.expect("a From");
    (f.name.unwrap_or_default(), f.address)
}

#[test]
fn each_mailbox_answers_as_itself() {
    let env = MailEnv::load();
    let hr = env.unique_user("hr");
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("hr-templates").join("zh-CN");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(
        templates.join("ack.txt"),
        "您好，人事部已收到您的来信，编号 {{ tag }}。\n\n{{ desk_name }}\n",
    )
    .unwrap();
    let hr_mailbox = format!(
        r#"[[mailbox]]
name = "hr"
kind = "imap"
host = "127.0.0.1"
port = {port}
security = "plain"
username = "{hr}"
password-file = "imap-password"
idle-recheck = "30s"
on-first-connect = "process"
address = "{hr}"
from-name = "HR Desk"
signature = "HR team, room 12\nExt. 4711"
language = "zh-CN"
templates = "{templates}"
"#,
        port = env.imap_port,
        templates = dir.path().join("hr-templates").display(),
    );
    let desk = TestDesk::builder("identity").section(&hr_mailbox).build();
    let mut daemon = desk.start();
    daemon.wait_for_log("mailbox=hr", WAIT);

    let ann = env.unique_user("ann");
    let request = build_mail(&ann, &hr, "Payslip missing", "Where is my payslip?\n");
    smtp_send(&env, &ann, &[&hr], &request).expect("SMTP to HR");
    let ack = &wait_for_messages(&env, &ann, 1, WAIT)[0];
    assert_eq!(from(ack), ("HR Desk".to_string(), hr.clone()));
    let text = parsed(ack).text;
    assert!(
        text.contains("人事部已收到您的来信，编号 [#1000]"),
        "{text}"
    );
    assert!(
        text.contains("HR Desk\n\n-- \nHR team, room 12\nExt. 4711"),
        "{text}"
    );

    let bob = env.unique_user("bob");
    smtp_send(
        &env,
        &bob,
        &[&desk.address],
        &build_mail(&bob, &desk.address, "VPN", "Down.\n"),
    )
    .expect("SMTP to the desk");
    let ack = &wait_for_messages(&env, &bob, 1, WAIT)[0];
    assert_eq!(from(ack), ("IT Desk".to_string(), desk.address.clone()));
    let text = parsed(ack).text;
    assert!(text.contains("thank you for writing to IT Desk"), "{text}");
    assert!(!text.contains("HR team"), "{text}");

    // A change from the shell: no mail came in, the ticket's mailbox speaks.
    let out = Command::new(env!("CARGO_BIN_EXE_postdesk"))
        .arg("--config")
        .arg(&desk.config)
        .args(["ticket", "1000", "set", "--status", "resolved"])
        .output()
        .expect("run postdesk ticket set");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mails = wait_for_messages(&env, &ann, 2, WAIT);
    let first_id = header(&mails[0], "Message-ID");
    let resolved = mails
        .iter()
        .find(|m| header(m, "Message-ID") != first_id)
        .expect("a second mail");
    let text = parsed(resolved).text;
    assert!(
        text.contains("[#1000]") && text.ends_with("-- \nHR team, room 12\nExt. 4711"),
        "{text}"
    );
    assert_eq!(from(resolved), ("HR Desk".to_string(), hr.clone()));
    assert!(
        text.contains("HR Desk\n\n-- "),
        "signed with the mailbox's name, not the desk's: {text}"
    );
    daemon.stop();
}

#[test]
fn a_mailbox_with_its_own_outbox_sends_through_it() {
    let env = MailEnv::load();
    let brand = env.unique_user("brand");
    let section = format!(
        r#"[[mailbox]]
name = "brand"
kind = "imap"
host = "127.0.0.1"
port = {port}
security = "plain"
username = "{brand}"
password-file = "imap-password"
idle-recheck = "30s"
on-first-connect = "process"
address = "{brand}"
from-name = "Brand Care"

[mailbox.outbox]
transport = "file"
dir = "brand-outbox"
"#,
        port = env.imap_port,
    );
    let desk = TestDesk::builder("own-outbox").section(&section).build();
    let mut daemon = desk.start();
    daemon.wait_for_log("mailbox=brand", WAIT);
    let outbox = desk.dir.path().join("brand-outbox");

    let ann = env.unique_user("ann");
    let request = build_mail(&ann, &brand, "Order 123", "Where is it?\n");
    smtp_send(&env, &ann, &[&brand], &request).expect("SMTP to the brand");
    assert_eventually(WAIT, "the brand's ack in its own outbox", || {
        std::fs::read_dir(&outbox).is_ok_and(|d| d.count() == 1)
    });
    let file = std::fs::read_dir(&outbox)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let ack = std::fs::read(file).unwrap();
    assert_eq!(from(&ack), ("Brand Care".to_string(), brand.clone()));

    // The desk's own mailbox still sends through the shared SMTP outbox.
    let bob = env.unique_user("bob");
    desk.send(&bob, &build_mail(&bob, &desk.address, "VPN", "Down.\n"));
    let acks = wait_for_messages(&env, &bob, 1, WAIT);
    assert_eq!(from(&acks[0]).1, desk.address);
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 1);
    daemon.stop();
    let mut imap = Imap::login(&env, &ann);
    assert_eq!(
        imap.message_count("INBOX"),
        0,
        "the brand's mail did not go by SMTP"
    );
}
