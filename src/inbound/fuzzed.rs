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
    let policy = Engine::new(Config::embedded(data.path()))
        .unwrap()
        .policy_for("inbox");
    let ticket = TicketState {
        number: 7,
        requester: "ann@corp.test".into(),
        subject: "Printer broken".into(),
        ..TicketState::default()
    };
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
        let _ = decide::decide(
            &policy,
            &mail,
            &decide::Known {
                link: Some(&Link::Tag(ticket.clone())),
                next_number: 1000,
                ..Default::default()
            },
            0,
        );
        let _ = quote::new_text(&mail.text, mail.html.as_deref());
        let _ = commands::parse_block(&mail.text);
    }
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
