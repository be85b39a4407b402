//! postdesk: a service desk that lives in e-mail.
//!
//! Layout (mail in, decisions out; see `shared/design.md`):
//! - [`inbound`]: raw bytes → [`inbound::Inbound`] (the only user of mail-parser), automatic-mail signals, HTML to text (the one walker; quote cutting uses it too).
//! - [`subject`]: the ticket tag in subjects (`[#1042]`), reply/forward prefixes.
//! - [`address`]: e-mail addresses and display names, normalised once.
//! - [`bounce`]: delivery status notifications → the failed mail, recipients and status (pure).
//! - [`config`]: the TOML configuration, defaults, errors with file and line.
//! - [`check`]: `postdesk check`: each setting and outside party tried, as ok/warn/fail findings.
//! - [`lang`]: the languages we write in.
//! - [`limits`]: sliding-window limits on automatic mail, the last guard against loops.
//! - [`outbound`]: templates (tera) and outgoing message bytes (lettre builder).
//! - [`pipeline`]: a batch of raw mail → parse, thread, decide, apply in one transaction.
//! - [`store`]: SQLite: migrations, transactional writes, reads for the CLI.
//! - [`desk`]: the pure core: tickets, lifecycle, commands, quotes, people, rules, SLA, escalation, decisions.
//! - [`kb`]: the knowledge base: drafts from resolved tickets, search terms, relevance, suggestions.
//! - [`report`]: the monthly (or any period's) review: metrics from ticket rows, rendered as text, Markdown, CSV, JSON or HTML; its schedule by mail.
//! - [`export`]: a ticket's mail as `.eml` files or an mbox.
//! - [`outbox`]: the sender task: SMTP (our own pool, or lettre for implicit TLS), sendmail, files; retries.
//! - [`source`]: where mail comes from: IMAP (IDLE, UIDs, checkpoints), Maildir.
//! - [`daemon`]: starts the tasks (one per mailbox, the outbox, the sweeper) and stops them cleanly.
//! - [`tls`]: rustls client settings shared by IMAP and SMTP.
#![forbid(unsafe_code)]
// `outbound::sample_vars` lists every template variable in one json! literal.
#![recursion_limit = "256"]

pub mod address;
pub mod bounce;
pub mod check;
pub mod config;
pub mod daemon;
pub mod desk;
pub mod export;
pub mod inbound;
pub mod kb;
pub mod lang;
pub mod limits;
pub mod outbound;
pub mod outbox;
pub mod pipeline;
pub mod report;
pub mod source;
pub mod store;
pub mod subject;
pub mod tls;
