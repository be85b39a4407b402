//! postdesk: a service desk that lives in e-mail.
//!
//! Layout, in the order mail flows (see `shared/design.md`):
//! - [`source`]: where mail comes from: IMAP (IDLE, UIDs, checkpoints; only
//!   the commands the server's CAPABILITY offers), Maildir; backlogs in
//!   batches bounded by count and bytes; the first connection to a folder
//!   that holds mail, and old mail imported as history (`postdesk import`);
//!   sign-ins paced (`[connect]`), so thousands of mailboxes do not log in at once.
//! - [`inbound`]: raw bytes → [`inbound::Inbound`] (the only user of mail-parser):
//!   broken MIME mended and unlabelled charsets guessed with evidence first,
//!   automatic-mail signals, delivery reports ([`inbound::bounce`]), HTML to
//!   text (the one walker; quote cutting uses it too), Authentication-Results,
//!   the content fingerprint that tells a re-fetch from a reused Message-ID.
//! - [`thread`]: which ticket a mail belongs to: the lookup order (pure), our
//!   Message-ID scheme and loop header.
//! - [`subject`]: the ticket tag in subjects (`[#1042]`), reply/forward prefixes.
//! - [`desk`]: the pure core: decide (routing; requesters', agents' and
//!   automatic mail; closing; limits and the flood breaker), its vocabulary
//!   (ticket, effect, policy), lifecycle, commands, quotes, people, rules,
//!   SLA and the escalation ladder, the knowledge base. Each module owns its
//!   settings.
//! - [`pipeline`]: a batch of raw mail → parse, thread, decide, apply in one
//!   transaction (a mail whose processing panics is quarantined, the rest go
//!   on); the engine (config compiled once) and the effect interpreter.
//! - [`compose`]: the one composer of outgoing mail (ticket mail and the review).
//! - [`outbound`]: templates (tera) and outgoing message bytes (lettre builder).
//! - [`store`]: SQLite: migrations, transactional writes, reads for the CLI.
//! - [`outbox`]: the sender task: SMTP (our own pool, or lettre for implicit TLS), sendmail, files; retries.
//! - [`daemon`]: starts the tasks (one per mailbox, restarted if it panics; the outbox, the sweeper) and stops them cleanly.
//! - [`rspamd`]: rspamd's HTTP protocol: a verdict before deciding, lessons from `#spam`/`#notspam`.
//! - [`digest`]: the agents' morning list of tickets, queued once per working day.
//! - [`report`]: the monthly (or any period's) review: metrics from ticket rows, rendered as text, Markdown, CSV, JSON or HTML; its schedule by mail.
//! - [`export`]: a ticket's mail as `.eml` files or an mbox.
//! - [`oauth`]: OAuth2 sign-in for IMAP and SMTP: settings and provider presets,
//!   the SASL messages, the token file, the grants, tokens renewed before expiry.
//! - [`config`]: the TOML file: the sections together, defaults, errors with file and line.
//! - [`check`]: `postdesk check`: each setting and outside party tried, as ok/warn/fail findings.
//! - operating it: [`health`] (how each mailbox is doing: the registry the
//!   sources feed), [`metrics`] (the Prometheus figures), [`http`] (the ops
//!   endpoint: `/metrics`, `/healthz`, `/readyz`), [`alerts`] (mail to
//!   `desk.admin` when a condition starts and when it ends).
//! - leaves: [`address`] (addresses and display names, normalised once;
//!   the mailbox an address reaches),
//!   [`header`] (text fit for a header we write: one line, no controls, capped),
//!   [`lang`] (the languages we write in), [`open_files`] (the open-file
//!   limit: raised at start, and what the mailboxes need), [`units`] (durations and sizes
//!   as admins write them), [`tls`] (rustls client settings for IMAP and SMTP),
//!   [`terminal`] (text from mail made safe to print: no escape sequences),
//!   [`test_pause`] (test-only: `POSTDESK_TEST_PAUSE_AT` stops the process at
//!   a named moment so a crash test can SIGKILL it exactly there).
//!   [`progress`] (progress bars on a terminal only).
#![forbid(unsafe_code)]

pub mod address;
pub mod alerts;
pub mod check;
pub mod compose;
pub mod config;
pub mod daemon;
pub mod desk;
pub mod digest;
pub mod export;
pub mod header;
pub mod health;
pub mod http;
pub mod inbound;
pub mod lang;
pub mod metrics;
pub mod oauth;
pub mod open_files;
pub mod outbound;
pub mod outbox;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod rspamd;
pub mod source;
pub mod store;
pub mod subject;
pub mod terminal;
pub mod test_pause;
pub mod thread;
pub mod tls;
pub mod units;

#[cfg(test)]
mod growth_tests;
#[cfg(test)]
mod layout_tests;
