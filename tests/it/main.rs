//! postdesk's integration tests: one test binary, a module per area.
//!
//! One binary rather than a file per area because each integration-test
//! binary links the whole crate: ten of them took ten links (about 110 MB
//! each) on a 2-core CI machine, and cargo ran them one after the other.
//! Filter by module: `cargo test --test it spine::`.
//!
//! Layout:
//! - `support`: the harness: lab mail servers, SMTP and IMAP clients, mail
//!   builders, the `postdesk` process, and [`support::TestDesk`], the one
//!   builder of a test desk (the benchmark harness uses it too).
//! - `harness`: checks of the harness itself (no mail server).
//! - `html_escaping`: every HTML mail a requester gets shows what users wrote as text.
//! - `mailservers`: the lab Dovecot and Postfix work, and so do our clients.
//! - `cli`: the command line on the built-in defaults, `ingest`, config errors (no mail server).
//! - `cli_admin`: ticket management, export, report and knowledge base from the shell (no mail server).
//! - `daemon`: `postdesk::daemon::run` in process on a Maildir and files, stopped by a oneshot (no mail server).
//! - `firstconnect`: a fresh desk on a folder that already holds mail (IMAP and Maildir): old mail left alone or imported as history, `postdesk import` resumed after a kill.
//! - `identity`: two mailboxes of one desk, each answering with its own From, name, signature, language and templates.
//! - `spine`: request, acknowledgement, reply, restarts, UIDVALIDITY, quarantine.
//! - `strict_server`: a server that offers less than Dovecot (a strict front that refuses unadvertised commands): no MOVE, UIDPLUS or IDLE.
//! - `agents`: agents working by e-mail: notices, relays, commands, survey.
//! - `agent_tools`: reply-all answers, forwards and `#new`, canned replies, time worked.
//! - `sla`: escalation to L2 once, across restarts.
//! - `kb_report`: knowledge-base suggestions and the scheduled review.
//! - `limits`: the per-ticket limit on automatic mail, counted in real mailboxes.
//! - `lmtp`: the daemon's LMTP socket: the lab Postfix delivering to it, `ingest` handing mail to the running daemon.
//! - `tls`: IMAP over implicit TLS and STARTTLS, certificates verified.
//! - `starttls`: STARTTLS on SMTP and IMAP proven in the servers' logs, a server without it refused, a certificate for another host refused (private labs).
//! - `merge_approval`: issue 13 by mail: `#merge` (old tags and ids land on the target), `#split`, `#queue`, `#status`.
//! - `poison`: one hostile mail (a display name with line breaks) does not stop a mailbox, over IMAP and Maildir.
//! - `spam`: real rspamd: GTUBE is spam (no ack, no notice), `#spam`/`#notspam` teach it, rspamd stopped or hanging never stops intake; DMARC fail gets no ack.
//! - `oauth`: OAuth2 sign-in on the lab servers (Dovecot introspects tokens at our own authorization server): device code, XOAUTH2/OAUTHBEARER on IMAP and submission, expiry during IDLE, rotation, a refused refresh, app-only flows.
//! - `ops`: the ops endpoint of a running daemon (metrics moving with mail, promtool), healthz and admin alerts when Dovecot stops (a private lab).
//! - `chaos`: faults on private mail servers: SIGKILL, Postfix down, Dovecot restarts, vacation replies, robot ping-pong.
//!
//! The tests that talk to mail servers need the lab instance
//! (`scripts/mailserver-start`, or run everything with `scripts/test`) and
//! fail loudly without it.

mod support;

mod agent_tools;
mod agents;
mod chaos;
mod cli;
mod cli_admin;
mod daemon;
mod firstconnect;
mod harness;
mod html_escaping;
mod identity;
mod kb_report;
mod limits;
mod lmtp;
mod mailboxes;
mod mailservers;
mod merge_approval;
mod oauth;
mod ops;
mod poison;
mod sla;
mod spam;
mod spine;
mod starttls;
mod strict_server;
mod tls;
