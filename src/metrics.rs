//! The figures `/metrics` serves, in the Prometheus/OpenMetrics text format
//! (through `prometheus-client`, the only user of that crate).
//!
//! Two kinds of figure:
//! - events counted as they happen, in this process since it started
//!   (counters and the latency histogram): mails fetched and processed per
//!   mailbox and kind, sends by outcome;
//! - state read when scraped: tickets by status, the outbox, escalations
//!   and SLA breaches (all time, from the database), each mailbox's
//!   connection and last good check ([`crate::health`]), token lifetimes,
//!   the database's size.
//!
//! Every name starts `postdesk_`; labels carry mailbox names, statuses and
//! kinds, never anything from a mail.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::health::MailboxHealth;
use crate::pipeline::Tally;
pub use crate::store::DeskFigures;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MailboxLabel {
    mailbox: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    mailbox: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LevelLabels {
    target: String,
    percent: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabel {
    target: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The process's figures.
pub struct Metrics {
    registry: Registry,
    fetched: Family<MailboxLabel, Counter>,
    processed: Family<KindLabels, Counter>,
    sends: Family<OutcomeLabel, Counter>,
    latency: Histogram,
    tickets: Family<StatusLabel, Gauge>,
    outbox_queued: Gauge,
    outbox_oldest: FloatGauge,
    escalations: Family<LevelLabels, Gauge>,
    breaches: Family<TargetLabel, Gauge>,
    quarantined: Gauge,
    imap_connected: Family<MailboxLabel, Gauge>,
    since_check: Family<MailboxLabel, FloatGauge>,
    token_expiry: Family<MailboxLabel, FloatGauge>,
    database: Gauge,
    /// One scrape at a time: state gauges are cleared and set while rendering.
    render: Mutex<()>,
}

static GLOBAL: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The figures of this process: the sources, the pipeline and the outbox
/// count into it wherever they are, without a handle passed around.
pub fn global() -> &'static Metrics {
    &GLOBAL
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("postdesk");
        let m = Metrics {
            fetched: Family::default(),
            processed: Family::default(),
            sends: Family::default(),
            // 5 ms to about 80 s: one mail in a small batch takes tens of
            // milliseconds, a large backlog batch tens of seconds.
            latency: Histogram::new(exponential_buckets(0.005, 2.0, 15)),
            tickets: Family::default(),
            outbox_queued: Gauge::default(),
            outbox_oldest: FloatGauge::default(),
            escalations: Family::default(),
            breaches: Family::default(),
            quarantined: Gauge::default(),
            imap_connected: Family::default(),
            since_check: Family::default(),
            token_expiry: Family::default(),
            database: Gauge::default(),
            render: Mutex::new(()),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "mails_fetched",
            "Mails read from a mailbox (IMAP or Maildir), since start",
            m.fetched.clone(),
        );
        r.register(
            "mails_processed",
            "Mails processed and committed, by mailbox and kind (request, reply, automatic, bounce, spam, quarantined, duplicate, ignored), since start",
            m.processed.clone(),
        );
        r.register(
            "outbox_sends",
            "Hand-overs of outgoing mail by outcome (sent, failed, retried, partly), since start",
            m.sends.clone(),
        );
        r.register_with_unit(
            "mail_processing",
            "Per mail: from its batch being read to its transaction committed",
            Unit::Seconds,
            m.latency.clone(),
        );
        r.register("tickets", "Tickets by status", m.tickets.clone());
        r.register(
            "outbox_queued",
            "Mails waiting in the outbox",
            m.outbox_queued.clone(),
        );
        r.register_with_unit(
            "outbox_oldest_age",
            "Age of the oldest mail waiting in the outbox (0 when none)",
            Unit::Seconds,
            m.outbox_oldest.clone(),
        );
        r.register(
            "escalations_fired",
            "SLA escalation levels fired, all time, by target and percent of the target",
            m.escalations.clone(),
        );
        r.register(
            "sla_breaches",
            "Tickets that reached 100 % of an SLA target, all time",
            m.breaches.clone(),
        );
        r.register(
            "quarantined_mails",
            "Mails held in the quarantine",
            m.quarantined.clone(),
        );
        r.register(
            "imap_connected",
            "1 while the mailbox has a logged-in session, else 0",
            m.imap_connected.clone(),
        );
        r.register_with_unit(
            "mailbox_since_last_check",
            "Time since the mailbox was last read to its end (absent before the first check)",
            Unit::Seconds,
            m.since_check.clone(),
        );
        r.register_with_unit(
            "oauth_token_expiry",
            "Time until the mailbox's OAuth2 access token expires (absent for password mailboxes)",
            Unit::Seconds,
            m.token_expiry.clone(),
        );
        r.register_with_unit(
            "database_size",
            "The database file with its write-ahead log",
            Unit::Bytes,
            m.database.clone(),
        );
        Metrics { registry, ..m }
    }

    /// `n` mails read from `mailbox`.
    pub fn fetched(&self, mailbox: &str, n: usize) {
        self.fetched
            .get_or_create(&MailboxLabel {
                mailbox: mailbox.to_string(),
            })
            .inc_by(n as u64);
    }

    /// A batch from `mailbox` committed; its mails were read at `read_at`.
    pub fn committed(&self, mailbox: &str, tally: &Tally, read_at: Instant) {
        let took = read_at.elapsed().as_secs_f64();
        let mut mails = 0;
        for (kind, n) in tally.kinds.counts() {
            if n == 0 {
                continue;
            }
            mails += n;
            self.processed
                .get_or_create(&KindLabels {
                    mailbox: mailbox.to_string(),
                    kind: kind.to_string(),
                })
                .inc_by(n as u64);
        }
        for _ in 0..mails {
            self.latency.observe(took);
        }
    }

    /// One hand-over ended `outcome` (`sent`, `failed`, `retried`, `partly`).
    pub fn send(&self, outcome: &str) {
        self.sends
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The text a scrape gets: the counters, and the state given.
    pub fn render(
        &self,
        desk: &DeskFigures,
        mailboxes: &BTreeMap<String, MailboxHealth>,
        now_ms: i64,
    ) -> String {
        let _one = self.render.lock().unwrap_or_else(|p| p.into_inner());
        self.tickets.clear();
        for (status, n) in &desk.tickets_by_status {
            self.tickets
                .get_or_create(&StatusLabel {
                    status: status.clone(),
                })
                .set(*n);
        }
        self.outbox_queued.set(desk.outbox_queued);
        self.outbox_oldest.set(desk.outbox_oldest_seconds);
        self.escalations.clear();
        for ((target, percent), n) in &desk.escalations {
            self.escalations
                .get_or_create(&LevelLabels {
                    target: target.clone(),
                    percent: percent.to_string(),
                })
                .set(*n);
        }
        self.breaches.clear();
        for (target, n) in desk.breaches() {
            self.breaches.get_or_create(&TargetLabel { target }).set(n);
        }
        self.quarantined.set(desk.quarantined);
        self.database.set(desk.database_bytes);
        self.imap_connected.clear();
        self.since_check.clear();
        self.token_expiry.clear();
        for (name, m) in mailboxes {
            let label = MailboxLabel {
                mailbox: name.clone(),
            };
            self.imap_connected
                .get_or_create(&label)
                .set(i64::from(m.connected));
            if let Some(at) = m.last_ok_ms {
                self.since_check
                    .get_or_create(&label)
                    .set((now_ms - at).max(0) as f64 / 1000.0);
            }
            if let Some(at) = m.token_expires_ms {
                self.token_expiry
                    .get_or_create(&label)
                    .set((at - now_ms) as f64 / 1000.0);
            }
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The content type of [`to_classic`]'s text.
pub const CLASSIC_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The same figures in Prometheus's classic text format (0.0.4), for
/// scrapers that do not ask for OpenMetrics (curl, `promtool check
/// metrics`, older Prometheus): there a counter's HELP and TYPE name the
/// `_total` series itself, and there are no `# UNIT` or `# EOF` lines.
/// promtool refused the OpenMetrics text with "no help text" for every
/// counter.
pub fn to_classic(openmetrics: &str) -> String {
    let counters: std::collections::BTreeSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::MailKinds;

    #[test]
    fn figures_show_with_their_labels_and_state_is_replaced_each_scrape() {
        let m = Metrics::new();
        m.fetched("support", 3);
        let tally = Tally {
            kinds: MailKinds {
                request: 2,
                automatic: 1,
                ..MailKinds::default()
            },
            ..Tally::default()
        };
        m.committed("support", &tally, Instant::now());
        m.send("sent");
        let mut desk = DeskFigures::default();
        desk.tickets_by_status.insert("new".into(), 2);
        desk.escalations.insert(("first-response".into(), 100), 1);
        desk.escalations.insert(("first-response".into(), 75), 4);
        let mut boxes = BTreeMap::new();
        boxes.insert(
            "support".to_string(),
            MailboxHealth {
                connected: true,
                last_ok_ms: Some(1_000),
                ..MailboxHealth::default()
            },
        );
        let text = m.render(&desk, &boxes, 3_500);
        for want in [
            "postdesk_mails_fetched_total{mailbox=\"support\"} 3",
            "postdesk_mails_processed_total{mailbox=\"support\",kind=\"request\"} 2",
            "postdesk_mails_processed_total{mailbox=\"support\",kind=\"automatic\"} 1",
            "postdesk_outbox_sends_total{outcome=\"sent\"} 1",
            "postdesk_mail_processing_seconds_count 3",
            "postdesk_tickets{status=\"new\"} 2",
            "postdesk_sla_breaches{target=\"first-response\"} 1",
            "postdesk_escalations_fired{target=\"first-response\",percent=\"75\"} 4",
            "postdesk_imap_connected{mailbox=\"support\"} 1",
            "postdesk_mailbox_since_last_check_seconds{mailbox=\"support\"} 2.5",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
        assert!(!text.contains("oauth_token_expiry_seconds{"), "{text}");
        let classic = to_classic(&text);
        assert!(
            classic.contains("# TYPE postdesk_mails_fetched_total counter\n")
                && classic.contains("# HELP postdesk_outbox_sends_total Hand-overs")
                && classic.contains("# TYPE postdesk_tickets gauge\n")
                && !classic.contains("# UNIT")
                && !classic.contains("# EOF"),
            "{classic}"
        );
        desk.tickets_by_status.clear();
        desk.tickets_by_status.insert("open".into(), 1);
        let text = m.render(&desk, &BTreeMap::new(), 3_500);
        assert!(!text.contains("status=\"new\""), "{text}");
        assert!(!text.contains("imap_connected{"), "{text}");
    }
}
