//! The way out: a mail with hostile display names, subject, address and
//! references goes through parse, decide (a new ticket; a mail on a ticket
//! by tag and by reference), render and build, and every mail we would
//! send must come out well formed: nothing panics, every line ends in CRLF
//! and is within RFC 5322's 998 characters, and no header appears that we
//! did not write (a line break in a name or subject is a header injection).
//! The ticket it lands on carries the same hostile name and subject as
//! stored values, the way rows written before names were cleaned look, and
//! the builder is also given them directly, bypassing every earlier wall.
//!
//! ```sh
//! cd fuzz
//! cargo +nightly fuzz run way_out -- -max_len=16384 -timeout=10
//! ```
//!
//! The input is split at `0xFE` bytes into fields: a mode byte (how names
//! and the subject are written: raw, RFC 2047 Q or B words, a quoted
//! string), the From name, the Reply-To name, the subject, the address, the
//! body and the References. Inputs that once crashed are kept in
//! `tests/fixtures/fuzz/` (see `src/inbound/fuzzed.rs`).
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use postdesk::address::Mailbox;
use postdesk::config::Config;
use postdesk::desk::decide;
use postdesk::desk::effect::Effect;
use postdesk::desk::ticket::{Status, TicketState};
use postdesk::outbound::{self, Envelope};
use postdesk::pipeline::Engine;
use postdesk::thread::Link;

const NOW: i64 = 1_796_004_000_000; // Monday 2026-11-30 02:00 UTC
const DAY: i64 = 86_400_000;

/// A desk with a team and agents, so notices and relays are written too.
const CONFIG: &str = r#"
[desk]
name = "IT Desk"
address = "helpdesk@example.test"
[[team]]
name = "service-desk"
tier = "L1"
address = "desk-team@corp.test"
lead = "carol"
[workflow]
agent-authentication = "none"
[[agent]]
name = "alice"
display-name = "Alice Wang"
addresses = ["alice@corp.test"]
team = "service-desk"
[[agent]]
name = "carol"
addresses = ["carol@corp.test"]
team = "service-desk"
"#;

/// Every header a mail of ours may carry at its top level.
const OUR_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "subject",
    "message-id",
    "date",
    "in-reply-to",
    "references",
    "auto-submitted",
    "x-auto-response-suppress",
    "x-postdesk-loop",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let config = Config::from_toml(CONFIG, Path::new("fuzz.toml"), Path::new("."))
            .expect("the fuzz config is valid");
        Engine::new(config).expect("the engine builds")
    })
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

/// The input's fields, as bytes.
struct Fields<'a> {
    mode: u8,
    from_name: &'a [u8],
    reply_name: &'a [u8],
    subject: &'a [u8],
    address: &'a [u8],
    body: &'a [u8],
    references: &'a [u8],
}

impl<'a> Fields<'a> {
    fn split(data: &'a [u8]) -> Fields<'a> {
        let mut parts = data.split(|&b| b == 0xFE);
        let mut next = || parts.next().unwrap_or_default();
        Fields {
            mode: next().first().copied().unwrap_or(0),
            from_name: next(),
            reply_name: next(),
            subject: next(),
            address: next(),
            body: next(),
            references: next(),
        }
    }

    fn address(&self) -> String {
        if self.address.is_empty() {
            "ann@corp.test".into()
        } else {
            String::from_utf8_lossy(self.address).into_owned()
        }
    }

    /// A header value for `bytes` in this input's mode.
    fn word(&self, bytes: &[u8]) -> Vec<u8> {
        match self.mode % 4 {
            0 => bytes.to_vec(),
            1 => {
                let mut w = b"=?utf-8?q?".to_vec();
                for b in bytes {
                    w.extend_from_slice(format!("={b:02X}").as_bytes());
                }
                w.extend_from_slice(b"?=");
                w
            }
            2 => format!("=?utf-8?b?{}?=", base64(bytes)).into_bytes(),
            _ => {
                let mut w = b"\"".to_vec();
                w.extend_from_slice(bytes);
                w.push(b'"');
                w
            }
        }
    }

    /// The mail these fields make.
    fn mail(&self) -> Vec<u8> {
        let addr = self.address.to_vec();
        let mut m = Vec::new();
        let mut h = |name: &[u8], value: &[u8]| {
            m.extend_from_slice(name);
            m.extend_from_slice(b": ");
            m.extend_from_slice(value);
            m.extend_from_slice(b"\r\n");
        };
        let mailbox = |name: Vec<u8>| [name, b" <".to_vec(), addr.clone(), b">".to_vec()].concat();
        let from = if self.address.is_empty() {
            [self.word(self.from_name), b" <ann@corp.test>".to_vec()].concat()
        } else {
            mailbox(self.word(self.from_name))
        };
        h(b"From", &from);
        if !self.reply_name.is_empty() {
            h(b"Reply-To", &mailbox(self.word(self.reply_name)));
        }
        h(b"To", b"IT Desk <helpdesk@example.test>");
        h(b"Subject", &self.word(self.subject));
        h(b"Message-ID", b"<fuzz.1@corp.test>");
        if !self.references.is_empty() {
            h(b"References", self.references);
        }
        if self.mode & 0x10 != 0 {
            h(b"In-Reply-To", self.references);
        }
        m.extend_from_slice(b"\r\n");
        m.extend_from_slice(self.body);
        m
    }
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What every mail we send must be.
fn assert_well_formed(raw: &[u8], what: &str) {
    let mut lines = raw.split(|&b| b == b'\n').peekable();
    let mut in_head = true;
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        let line = match line.strip_suffix(b"\r") {
            Some(l) => l,
            None if last => line,
            None => panic!("{what}: a bare LF"),
        };
        assert!(!line.contains(&b'\r'), "{what}: a bare CR");
        assert!(line.len() <= 998, "{what}: a line of {} bytes", line.len());
        if in_head {
            if line.is_empty() {
                in_head = false;
            } else if !line.starts_with(b" ") && !line.starts_with(b"\t") {
                let name = line.split(|&b| b == b':').next().unwrap_or_default();
                let name = String::from_utf8_lossy(name).to_ascii_lowercase();
                assert!(
                    OUR_HEADERS.contains(&name.as_str()),
                    "{what}: a header we did not write: {:?}",
                    String::from_utf8_lossy(line)
                );
            }
        }
    }
    assert!(!in_head, "{what}: no end of the header block");
}

/// A ticket carrying the hostile values as stored ones.
fn ticket(f: &Fields<'_>, status: Status) -> TicketState {
    TicketState {
        number: 7,
        status: Some(status),
        requester: f.address(),
        requester_name: Some(String::from_utf8_lossy(f.from_name).into_owned()),
        subject: String::from_utf8_lossy(f.subject).into_owned(),
        team: Some("service-desk".into()),
        tier: Some("L1".into()),
        assignee: (status != Status::New).then(|| "alice".into()),
        watchers: vec![String::from_utf8_lossy(f.references).into_owned()],
        first_response_at: (status != Status::New).then_some(NOW - 3 * DAY),
        resolved_at: (status == Status::Resolved).then_some(NOW - 2 * DAY),
        thread: vec![String::from_utf8_lossy(f.references).into_owned()],
        ..TicketState::default()
    }
}

/// Parse, decide on every link, render and build every mail decided.
fn way_out(raw: &[u8], f: &Fields<'_>) {
    let Ok(mail) = postdesk::inbound::parse(raw) else {
        return;
    };
    let e = engine();
    let policy = e.policy();
    let t = ticket(f, Status::ALL[usize::from(f.mode >> 5) % Status::ALL.len()]);
    let links = [None, Some(Link::Tag(t.clone())), Some(Link::Reference(t))];
    for link in &links {
        let known = decide::Known {
            link: link.as_ref(),
            next_number: 1000,
            ..Default::default()
        };
        for effect in decide::decide(policy, &mail, &known, NOW) {
            if let Effect::Send(out) = effect {
                if let Ok(c) = postdesk::compose::ticket_mail(e.renderer(), policy, &out, NOW) {
                    assert_well_formed(&c.raw, out.template);
                }
            }
        }
    }
}

/// The builder given the hostile values as they are.
fn build_direct(f: &Fields<'_>) {
    let from = Mailbox::new(Some("IT Desk"), "helpdesk@example.test");
    let to = [
        Mailbox {
            name: Some(String::from_utf8_lossy(f.from_name).into_owned()),
            address: f.address(),
        },
        Mailbox {
            name: Some(String::from_utf8_lossy(f.reply_name).into_owned()),
            address: "ann@corp.test".into(),
        },
    ];
    let subject = String::from_utf8_lossy(f.subject);
    let refs: Vec<String> = String::from_utf8_lossy(f.references)
        .split(' ')
        .map(str::to_string)
        .collect();
    let env = Envelope {
        from: &from,
        to: &to,
        subject: &subject,
        message_id: "pd.7.1.0.ff@example.test",
        in_reply_to: refs.first().map(String::as_str),
        references: &refs,
        auto_submitted: Some("auto-replied"),
        loop_marker: "example.test",
        date_ms: NOW,
    };
    let body = String::from_utf8_lossy(f.body);
    if let Ok(raw) = outbound::build(&env, &body, Some(&body)) {
        assert_well_formed(&raw, "build");
    }
}

fuzz_target!(|data: &[u8]| {
    let_guarded_panics_unwind();
    let fields = Fields::split(data);
    way_out(&fields.mail(), &fields);
    build_direct(&fields);
    if fields.mode & 0x08 != 0 {
        // The input as a whole mail too, as parse_decide reads it.
        way_out(data, &fields);
    }
});
