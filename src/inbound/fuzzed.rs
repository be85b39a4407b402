//! Regression tests from fuzzing (`fuzz/`, target `parse_decide`): every
//! input in `tests/fixtures/fuzz/` goes through what the fuzz target runs,
//! and nothing may panic out of it.
//!
//! mail-parser panics on some inputs ("Invalid part ID, could not find
//! multipart."); `parse` and `parts` catch that, so the mail is quarantined
//! instead of stopping the poller. These inputs keep it that way.

use std::path::Path;

use crate::config::Config;
use crate::desk::decide;
use crate::desk::ticket::TicketState;
use crate::desk::{commands, quote};
use crate::pipeline::Engine;
use crate::thread::Link;

#[test]
fn fuzzed_inputs_do_not_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no inputs in {}", dir.display());
    let data = tempfile::tempdir().unwrap();
    // A desk with an agent, so that agents' commands are applied too.
    let config = Config::from_toml(
        "[workflow]\nagent-authentication = \"none\"\n[[team]]\nname = \"desk\"\n[[agent]]\nname = \"alice\"\naddresses = [\"alice@corp.test\"]\nteam = \"desk\"\n[storage]\ndatabase = \"fuzz.db\"\n",
        &data.path().join("postdesk.toml"),
        data.path(),
    )
    .unwrap();
    let policy = Engine::new(config).unwrap().policy_for("inbox");
    let ticket = TicketState {
        number: 7,
        requester: "ann@corp.test".into(),
        subject: "Printer broken".into(),
        ..TicketState::default()
    };
    let mut reached_decide = 0;
    for path in inputs {
        let raw = std::fs::read(&path).unwrap();
        let _ = crate::inbound::bounce::parse_dsn(&raw);
        let _ = super::parts(&raw);
        let Ok(mail) = super::parse(&raw) else {
            continue;
        };
        let _ = decide::decide(
            &policy,
            &mail,
            &decide::Known {
                link: None,
                next_number: 1000,
                ..Default::default()
            },
            0,
        );
        let on_ticket = decide::decide(
            &policy,
            &mail,
            &decide::Known {
                link: Some(&Link::Tag(ticket.clone())),
                next_number: 1000,
                ..Default::default()
            },
            0,
        );
        assert!(!on_ticket.is_empty(), "{}: decided nothing", path.display());
        let _ = quote::new_text(&mail.text, mail.html.as_deref());
        let _ = commands::parse_block(&mail.text);
        reached_decide += 1;
    }
    // Inputs that do not parse test only the parser: some must get through
    // to decide, quotes and commands.
    assert!(
        reached_decide >= 3,
        "only {reached_decide} inputs reached decide"
    );
}

#[test]
fn a_mail_parser_panic_is_a_parse_error() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz/mail-parser-invalid-part-id.eml");
    let raw = std::fs::read(&path).unwrap();
    assert!(super::parse(&raw).is_err());
    assert!(super::parts(&raw).is_empty());
    assert_eq!(crate::inbound::bounce::parse_dsn(&raw), None);
}
