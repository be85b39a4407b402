//! Any bytes through everything a mail meets before the database: parse,
//! decide (as a new ticket, and as a mail on an existing ticket in each
//! status, linked by tag and by reference), the quote cutter, the command
//! parser, and the bounce reader. Nothing may panic, whatever arrives.
//!
//! ```sh
//! cd fuzz
//! mkdir -p corpus/parse_decide && cp ../tests/fixtures/eml/*.eml corpus/parse_decide/
//! cargo +nightly fuzz run parse_decide -- -max_len=65536 -timeout=10
//! ```
//!
//! A panic inside mail-parser is let through to the `catch_unwind` guards of
//! `inbound::parse` and `inbound::parts`, which turn it into an error (the
//! daemon quarantines such mail); any other panic aborts, as a crash. Inputs
//! that once crashed are kept in `tests/fixtures/fuzz/` (see
//! `src/inbound/fuzzed.rs`).
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use postdesk::config::Config;
use postdesk::desk::decide;
use postdesk::desk::policy::Policy;
use postdesk::desk::ticket::Status;
use postdesk::desk::ticket::TicketState;
use postdesk::desk::{closing, survey};
use postdesk::desk::{commands, quote};
use postdesk::pipeline::Engine;
use postdesk::thread::Link;

const NOW: i64 = 1_796_004_000_000; // Monday 2026-11-30 02:00 UTC
const DAY: i64 = 86_400_000;

/// A desk with two teams and agents, so agents' commands are reached too.
const CONFIG: &str = r#"
[desk]
name = "IT Desk"
address = "helpdesk@example.test"
[[team]]
name = "service-desk"
tier = "L1"
address = "desk-team@corp.test"
lead = "carol"
[[team]]
name = "network"
tier = "L2"
lead = "nina"
[workflow]
agent-authentication = "dkim-or-spf-or-secret"
trusted-authserv-ids = ["mx.corp.test"]
[[agent]]
name = "alice"
display-name = "Alice Wang"
addresses = ["alice@corp.test"]
team = "service-desk"
[[agent]]
name = "carol"
addresses = ["carol@corp.test"]
team = "service-desk"
[[agent]]
name = "nina"
addresses = ["nina@corp.test"]
team = "network"
"#;

fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let config = Config::from_toml(CONFIG, Path::new("fuzz.toml"), Path::new("."))
            .expect("the fuzz config is valid");
        Engine::new(config)
            .expect("the engine builds")
            .policy_for("support")
    })
}

/// Ticket 7 of ann@corp.test in `status`, with the history that status implies.
fn ticket(status: Status) -> TicketState {
    let resolved = matches!(status, Status::Resolved | Status::Closed);
    TicketState {
        number: 7,
        status: Some(status),
        requester: "ann@corp.test".into(),
        requester_name: Some("Ann".into()),
        subject: "Printer broken".into(),
        team: Some("service-desk".into()),
        tier: Some("L1".into()),
        assignee: (status != Status::New).then(|| "alice".into()),
        watchers: vec!["boss@corp.test".into()],
        first_response_at: (status != Status::New).then_some(NOW - 3 * DAY),
        resolved_at: resolved.then_some(NOW - 2 * DAY),
        closed_at: (status == Status::Closed).then_some(NOW - DAY),
        survey_sent: status == Status::Closed,
        thread: vec!["req@corp.test".into(), "pd.7.root@example.test".into()],
        ..TicketState::default()
    }
}

/// libFuzzer's hook aborts on every panic, before any `catch_unwind` can
/// see it. Panics in mail-parser are caught by our guards: unwind those.
fn let_guarded_panics_unwind() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_mail_parser = info
                .location()
                .is_some_and(|l| l.file().contains("/mail-parser-"));
            if !in_mail_parser {
                fuzzer_hook(info);
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    let_guarded_panics_unwind();
    let _ = postdesk::inbound::bounce::parse_dsn(data);
    let Ok(mail) = postdesk::inbound::parse(data) else {
        return;
    };
    let policy = policy();
    let _ = decide::decide(
        policy,
        &mail,
        &decide::Known {
            link: None,
            next_number: 1000,
            ..Default::default()
        },
        NOW,
    );
    // One status per input (cheaper than all five), chosen by the bytes.
    let status = Status::ALL[data.len() % Status::ALL.len()];
    let t = ticket(status);
    let _ = decide::decide(
        policy,
        &mail,
        &decide::Known {
            link: Some(&Link::Tag(t.clone())),
            next_number: 1000,
            ..Default::default()
        },
        NOW,
    );
    let _ = decide::decide(
        policy,
        &mail,
        &decide::Known {
            link: Some(&Link::Reference(t.clone())),
            next_number: 1000,
            ..Default::default()
        },
        NOW,
    );
    let _ = closing::sweep(policy, &t, NOW);
    let _ = survey::parse_rating(&mail.text);
    let _ = quote::new_text(&mail.text, mail.html.as_deref());
    let _ = commands::parse_block(&mail.text);
    let _ = commands::parse_subject(&mail.subject);
});
