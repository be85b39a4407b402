//! The results: one table for people, the same figures as JSON, and the
//! targets from the issue, each marked as met or missed.

use std::fmt::Write as _;
use std::path::Path;

use crate::drain::DrainResult;
use crate::history::HistoryResult;
use crate::latency::LatencyResult;
use crate::mailboxes::MailboxesResult;
use crate::micro::MicroResult;
use crate::pipe::PipeResult;
use crate::probe::Machine;
use crate::scale::ScaleResult;

#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub mode: String,
    pub seed: u64,
    pub machine: Option<Machine>,
    pub drains: Vec<DrainResult>,
    pub latency: Option<LatencyResult>,
    pub mailboxes: Option<MailboxesResult>,
    pub micro: Option<MicroResult>,
    pub pipe: Option<PipeResult>,
    pub scale: Option<ScaleResult>,
    pub history: Option<HistoryResult>,
    pub load_at_end: String,
    pub rustc_at_end: usize,
    pub targets: Vec<Target>,
}

/// A target of the issue and how this run did against it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Target {
    pub what: String,
    pub measured: String,
    pub met: bool,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl Report {
    /// Every lost or duplicated message and every probe that never arrived.
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .drains
            .iter()
            .flat_map(|d| d.failures.iter().map(move |f| format!("N={}: {f}", d.n)))
            .collect();
        if let Some(l) = &self.latency {
            out.extend(l.failures.iter().map(|f| format!("latency: {f}")));
        }
        if let Some(m) = &self.mailboxes {
            out.extend(m.failures.iter().map(|f| format!("mailboxes: {f}")));
        }
        if let Some(p) = &self.pipe {
            out.extend(p.failures.iter().map(|f| format!("pipe: {f}")));
        }
        if let Some(s) = &self.scale {
            out.extend(s.failures.iter().map(|f| format!("scale: {f}")));
        }
        if let Some(h) = &self.history {
            out.extend(h.failures.iter().map(|f| format!("history: {f}")));
        }
        out
    }

    fn compute_targets(&self) -> Vec<Target> {
        let mut t = Vec::new();
        let mut add = |what: String, measured: String, met: bool| {
            t.push(Target {
                what,
                measured,
                met,
            })
        };
        for d in self.drains.iter().filter(|d| d.failures.is_empty()) {
            add(
                format!("N={}: ingest within 1.5x the reference fetch", d.n),
                format!(
                    "{:.2} s vs {:.2} s = {:.1}x",
                    d.daemon.ingest.seconds, d.reference_fetch.seconds, d.ingest_vs_reference
                ),
                d.ingest_vs_reference <= 1.5,
            );
            if let Some(o) = &d.outbox {
                add(
                    format!(
                        "N={}: outbox hand-off within 1.2x the plain SMTP client",
                        d.n
                    ),
                    format!(
                        "{:.2} s vs {:.2} s = {:.2}x",
                        o.daemon.seconds, o.plain_client.seconds, o.ratio
                    ),
                    o.ratio <= 1.2,
                );
            }
            let stored = d.daemon.db_bytes_after_stop as f64 / d.mix.bytes.max(1) as f64;
            add(
                format!("N={}: database at most 0.6x the raw mail", d.n),
                format!(
                    "{:.1} MiB for {:.1} MiB of mail = {stored:.2}x",
                    d.daemon.db_bytes_after_stop as f64 / 1048576.0,
                    d.mix.bytes as f64 / 1048576.0
                ),
                stored <= 0.6,
            );
            add(
                format!("N={}: peak RSS < 64 MiB", d.n),
                format!("{:.1} MiB", mib(d.daemon.peak_rss_kib)),
                d.daemon.peak_rss_kib < 64 * 1024,
            );
        }
        let ok: Vec<&DrainResult> = self
            .drains
            .iter()
            .filter(|d| d.failures.is_empty())
            .collect();
        if let (Some(small), Some(big)) =
            (ok.iter().min_by_key(|d| d.n), ok.iter().max_by_key(|d| d.n))
            && big.n > small.n
        {
            let per = |d: &DrainResult| d.daemon.ingest.seconds / d.n as f64;
            let ratio = per(big) / per(small);
            add(
                format!(
                    "cost per message flat: N={} at most 1.3x N={}",
                    big.n, small.n
                ),
                format!(
                    "{:.0} µs vs {:.0} µs wall per message = {:.2}x (CPU {:.2} vs {:.2} ms/msg)",
                    per(big) * 1e6,
                    per(small) * 1e6,
                    ratio,
                    big.daemon.cpu_ms_per_message,
                    small.daemon.cpu_ms_per_message
                ),
                ratio <= 1.3,
            );
        }
        if let Some(l) = self.latency.as_ref().filter(|l| l.failures.is_empty()) {
            add(
                "latency to the ticket: p50 < 1 s, p90 < 2 s".into(),
                format!(
                    "p50 {:.0} ms, p90 {:.0} ms",
                    l.to_ticket.p50_ms, l.to_ticket.p90_ms
                ),
                l.to_ticket.p50_ms < 1000.0 && l.to_ticket.p90_ms < 2000.0,
            );
            add(
                "latency to the acknowledgement: p50 < 1 s, p90 < 2 s".into(),
                format!(
                    "p50 {:.0} ms, p90 {:.0} ms",
                    l.to_ack_readable.p50_ms, l.to_ack_readable.p90_ms
                ),
                l.to_ack_readable.p50_ms < 1000.0 && l.to_ack_readable.p90_ms < 2000.0,
            );
            add(
                "idle RSS < 20 MiB".into(),
                format!("{:.1} MiB", mib(l.idle_rss_kib)),
                l.idle_rss_kib < 20 * 1024,
            );
        }
        if let Some(m) = self.mailboxes.as_ref().filter(|m| m.failures.is_empty()) {
            add(
                format!("{} IDLE mailboxes: at most 100 KiB each", m.n),
                format!(
                    "{:.0} KiB ((RSS {:.1} MiB - {:.1} MiB with 1) / {})",
                    m.per_mailbox_kib,
                    mib(m.rss_kib),
                    mib(m.rss_one_kib),
                    m.n - 1
                ),
                m.per_mailbox_kib <= 100.0,
            );
            add(
                format!("{} IDLE mailboxes: latency to the ticket p50 < 1 s", m.n),
                format!(
                    "p50 {:.0} ms, p90 {:.0} ms",
                    m.to_ticket.p50_ms, m.to_ticket.p90_ms
                ),
                m.to_ticket.p50_ms < 1000.0,
            );
        }
        if let Some(m) = self.micro.as_ref().filter(|m| m.raw_bytes > 0) {
            let ratio = m.db_bytes as f64 / m.raw_bytes as f64;
            add(
                "database at most 0.6x the raw mail (process_batch run)".into(),
                format!(
                    "{:.1} MiB for {:.1} MiB = {ratio:.2}x",
                    m.db_bytes as f64 / 1048576.0,
                    m.raw_bytes as f64 / 1048576.0
                ),
                ratio <= 0.6,
            );
        }
        if let Some(p) = self.pipe.as_ref().filter(|p| p.failures.is_empty()) {
            add(
                "ingest through an MTA pipe: <= 3 ms start to exit per mail".into(),
                format!(
                    "mean {:.1} ms, p50 {:.1} ms, p90 {:.1} ms ({} processes)",
                    p.mean_ms, p.p50_ms, p.p90_ms, p.n
                ),
                p.mean_ms <= 3.0,
            );
        }
        if let Some(s) = &self.scale {
            add(
                format!(
                    "{} open tickets: a sweep tick with nothing due < 50 ms",
                    s.open_tickets
                ),
                format!("{:.1} ms", s.idle_sweep_ms),
                s.idle_sweep_ms < 50.0,
            );
            add(
                format!("{} open tickets: tickets --overdue < 50 ms", s.open_tickets),
                format!("{:.1} ms ({} listed)", s.overdue_cli_ms, s.overdue_listed),
                s.overdue_cli_ms < 50.0,
            );
        }
        if let Some(h) = &self.history {
            let year = |what: &str| format!("a year of {} tickets: {what}", h.tickets);
            add(
                year(&format!("the review of {} < 2 s", h.month)),
                format!("{:.0} ms ({} opened)", h.review_ms, h.month_opened),
                h.review_ms < 2000.0,
            );
            add(
                year("ticket N < 50 ms"),
                format!("{:.1} ms", h.ticket_ms),
                h.ticket_ms < 50.0,
            );
            add(
                year(&format!("kb search < 50 ms ({} entries)", h.kb_entries)),
                format!("{:.1} ms", h.kb_search_ms),
                h.kb_search_ms < 50.0,
            );
        }
        t
    }

    pub fn write_json(&mut self, path: &Path) -> std::io::Result<()> {
        self.targets = self.compute_targets();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text + "\n")
    }

    pub fn table(&self) -> String {
        let mut s = String::new();
        let w = &mut s;
        let _ = writeln!(
            w,
            "\npostdesk benchmark ({}, seed {})",
            self.mode, self.seed
        );
        if let Some(m) = &self.machine {
            let _ = writeln!(
                w,
                "{}; {} x {}; Linux {}; load {} at start, {} at end; rustc processes {} at start, {} at end",
                m.date_utc,
                m.cores,
                m.cpu,
                m.kernel,
                m.load_at_start,
                self.load_at_end,
                m.rustc_at_start,
                self.rustc_at_end
            );
        }
        if !self.drains.is_empty() {
            self.drain_table(w);
        }
        if let Some(l) = &self.latency {
            let _ = writeln!(
                w,
                "\nLatency, daemon idle in IDLE ({} requests {} ms apart)",
                l.k, l.spacing_ms
            );
            let _ = writeln!(w, "  {:<36}{:>9}{:>9}{:>9}", "", "p50", "p90", "max");
            for (name, x) in [
                ("SMTP submission accepted", &l.smtp_submit),
                ("submission -> ticket committed", &l.to_ticket),
                ("submission -> ack readable (IMAP)", &l.to_ack_readable),
            ] {
                let _ = writeln!(
                    w,
                    "  {name:<36}{:>7.0}ms{:>7.0}ms{:>7.0}ms",
                    x.p50_ms, x.p90_ms, x.max_ms
                );
            }
            let _ = writeln!(
                w,
                "  daemon RSS: {:.1} MiB idle before, {:.1} MiB after, peak {:.1} MiB",
                mib(l.idle_rss_kib),
                mib(l.rss_after_kib),
                mib(l.peak_rss_kib)
            );
        }
        if let Some(m) = &self.mailboxes {
            let _ = writeln!(
                w,
                "\nIDLE mailboxes in one daemon ({} mailboxes, IMAP {})",
                m.n, m.security
            );
            let _ = writeln!(
                w,
                "  start to every mailbox read (/readyz)   {:>8.1} s",
                m.connect_s
            );
            let _ = writeln!(
                w,
                "  daemon RSS, idle                       {:>8.1} MiB ({:.1} MiB with 1 mailbox)",
                mib(m.rss_kib),
                mib(m.rss_one_kib)
            );
            let _ = writeln!(
                w,
                "  per mailbox: (RSS - RSS with 1) / (N-1) {:>7.0} KiB (RSS / N: {:.0} KiB)",
                m.per_mailbox_kib, m.rss_over_n_kib
            );
            let _ = writeln!(
                w,
                "  open files, threads                    {:>8} {:>4}",
                m.open_files, m.threads
            );
            let _ = writeln!(
                w,
                "  submission -> ticket ({} to random mailboxes)  p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms",
                m.k, m.to_ticket.p50_ms, m.to_ticket.p90_ms, m.to_ticket.max_ms
            );
            if let Some(s) = m.reconnect_s {
                let _ = writeln!(w, "  Dovecot restarted: all signed in again  {s:>8.1} s");
            }
        }
        if let Some(m) = &self.micro {
            let _ = writeln!(w, "\nCost inside the process (per call)");
            let _ = writeln!(w, "  {:<62}{:>11}{:>11}", "", "median", "fastest");
            for t in &m.timings {
                let _ = writeln!(
                    w,
                    "  {:<62}{:>9.1}µs{:>9.1}µs   {}",
                    t.name, t.median_us, t.min_us, t.input
                );
            }
            if let (Some(first), Some(last)) = (m.batch_growth.first(), m.batch_growth.last()) {
                let window = (m.batch_growth.len() / 5).max(1);
                let avg = |g: &[crate::micro::Growth]| {
                    g.iter().map(|x| x.us_per_message).sum::<f64>() / g.len() as f64
                };
                let head = avg(&m.batch_growth[..window]);
                let tail = avg(&m.batch_growth[m.batch_growth.len() - window..]);
                let _ = writeln!(
                    w,
                    "  process_batch as the database grows ({} per batch): {:.0} µs/msg over the first {} batches (from {} messages), {:.0} µs/msg over the last {} (up to {}): {:.2}x",
                    m.batch,
                    head,
                    window,
                    first.db_messages_before,
                    tail,
                    window,
                    last.db_messages_before + m.batch,
                    tail / head.max(1e-9)
                );
            }
            if !m.storage.is_empty() {
                let _ = writeln!(
                    w,
                    "  storage of that database, {:.1} MiB for {:.1} MiB of raw mail:",
                    m.db_bytes as f64 / 1048576.0,
                    m.raw_bytes as f64 / 1048576.0
                );
                for (what, bytes) in &m.storage {
                    let _ = writeln!(
                        w,
                        "    {what:<58}{:>9.2} MiB {:>5.2}x raw",
                        *bytes as f64 / 1048576.0,
                        *bytes as f64 / m.raw_bytes.max(1) as f64
                    );
                }
            }
        }
        if let Some(p) = &self.pipe {
            let _ = writeln!(
                w,
                "\nOne mail through an MTA pipe ({} mails, one `postdesk ingest` each, {:.1} MiB)",
                p.n,
                p.corpus_bytes as f64 / 1048576.0
            );
            let _ = writeln!(
                w,
                "  spawn -> exit: mean {:.2} ms, p50 {:.2} ms, p90 {:.2} ms, max {:.1} ms; CPU {:.2} ms per process",
                p.mean_ms, p.p50_ms, p.p90_ms, p.max_ms, p.cpu_ms_per_process
            );
            let _ = writeln!(
                w,
                "  lost or duplicated (checks): {}",
                if p.failures.is_empty() {
                    "none".to_string()
                } else {
                    format!("{} FAILED", p.failures.len())
                }
            );
        }
        if let Some(x) = &self.scale {
            let _ = writeln!(
                w,
                "\nA large desk ({} open tickets, {} overdue)",
                x.open_tickets, x.overdue_made
            );
            let _ = writeln!(
                w,
                "  making them (one transaction)      {:>9.0} ms",
                x.create_ms
            );
            let _ = writeln!(
                w,
                "  first sweep (schedules every one)  {:>9.0} ms, {} reminders queued",
                x.first_sweep_ms, x.first_sweep_mails
            );
            let _ = writeln!(
                w,
                "  sweep tick, nothing due (median)   {:>9.1} ms",
                x.idle_sweep_ms
            );
            let _ = writeln!(
                w,
                "  tickets --overdue, whole process   {:>9.1} ms",
                x.overdue_cli_ms
            );
        }
        if let Some(h) = &self.history {
            let _ = writeln!(
                w,
                "\nA year of history ({} tickets, {} messages, {} events, {} kb entries)",
                h.tickets, h.messages, h.events, h.kb_entries
            );
            let rows = [
                (
                    "making them (the store's write path)",
                    format!("{:.0} s, {:.0} MiB", h.create_s, h.db_mib),
                ),
                (
                    "report --month, whole process",
                    format!("{:.0} ms", h.review_ms),
                ),
                (
                    "ticket N, whole process (median)",
                    format!("{:.1} ms", h.ticket_ms),
                ),
                (
                    "kb search, whole process (median)",
                    format!("{:.1} ms", h.kb_search_ms),
                ),
            ];
            for (what, v) in rows {
                let _ = writeln!(w, "  {what:<40}{v:>16}");
            }
        }
        let targets = self.compute_targets();
        if !targets.is_empty() {
            let _ = writeln!(w, "\nTargets");
            for t in &targets {
                let _ = writeln!(
                    w,
                    "  {:<5} {:<62} {}",
                    if t.met { "met" } else { "MISS" },
                    t.what,
                    t.measured
                );
            }
        }
        s
    }

    fn drain_table(&self, w: &mut String) {
        let _ = writeln!(w, "\nBacklog drain");
        let _ = write!(w, "  {:<40}", "");
        for d in &self.drains {
            let _ = write!(w, "{:>22}", format!("N={}", d.n));
        }
        let _ = writeln!(w);
        let row = |w: &mut String, name: &str, f: &dyn Fn(&DrainResult) -> String| {
            let _ = write!(w, "  {name:<40}");
            for d in &self.drains {
                let _ = write!(w, "{:>22}", f(d));
            }
            let _ = writeln!(w);
        };
        row(w, "corpus MiB / tickets / acks expected", &|d| {
            format!(
                "{:.0} / {} / {}",
                d.mix.bytes as f64 / 1048576.0,
                d.mix.expected_tickets,
                d.mix.expected_acks
            )
        });
        row(w, "loaded by", &|d| {
            format!(
                "{} {:.0} msg/s",
                match d.load {
                    Some(crate::drain::Load::Maildir) => "maildir",
                    _ => "APPEND",
                },
                d.load_rate.per_second
            )
        });
        row(w, "reference fetch (plain client)", &|d| {
            format!(
                "{:.2}s {:.0}/s",
                d.reference_fetch.seconds, d.reference_fetch.per_second
            )
        });
        row(w, "daemon: start -> all committed", &|d| {
            format!(
                "{:.2}s {:.0}/s",
                d.daemon.ingest.seconds, d.daemon.ingest.per_second
            )
        });
        row(w, "  ingest / reference (target <= 1.5)", &|d| {
            format!("{:.1}x", d.ingest_vs_reference)
        });
        row(w, "  first batch committed after", &|d| {
            format!("{:.2}s", d.daemon.first_commit_seconds)
        });
        row(w, "daemon: start -> all acks handed over", &|d| {
            if d.daemon.all_acks_sent.count == 0 {
                "- (ingest only)".into()
            } else {
                format!("{:.2}s", d.daemon.all_acks_sent.seconds)
            }
        });
        row(w, "  acks still queued when ingest ended", &|d| {
            d.daemon.acks_queued_at_ingest_end.to_string()
        });
        row(w, "peak RSS (target < 64 MiB)", &|d| {
            format!("{:.1} MiB", mib(d.daemon.peak_rss_kib))
        });
        row(w, "RSS 2 s after the drain", &|d| {
            format!("{:.1} MiB", mib(d.daemon.rss_after_drain_kib))
        });
        row(w, "CPU during ingest, ms per message", &|d| {
            format!(
                "{:.2} ({:.1}s)",
                d.daemon.cpu_ms_per_message, d.daemon.cpu_seconds_ingest
            )
        });
        row(w, "SQLite db + wal after the drain", &|d| {
            format!(
                "{:.0}+{:.0} MiB",
                d.daemon.db_bytes as f64 / 1048576.0,
                d.daemon.wal_bytes as f64 / 1048576.0
            )
        });
        row(
            w,
            "outbox alone: all acks handed over",
            &|d| match &d.outbox {
                Some(o) => format!("{:.2}s {:.0}/s", o.daemon.seconds, o.daemon.per_second),
                None => "-".into(),
            },
        );
        row(w, "plain SMTP client, same mails", &|d| match &d.outbox {
            Some(o) => format!(
                "{:.2}s {:.0}/s",
                o.plain_client.seconds, o.plain_client.per_second
            ),
            None => "-".into(),
        });
        row(
            w,
            "  outbox / plain client (target <= 1.2)",
            &|d| match &d.outbox {
                Some(o) => format!("{:.2}x", o.ratio),
                None => "-".into(),
            },
        );
        row(w, "warnings in the daemon log", &|d| {
            d.daemon.log_warnings.to_string()
        });
        row(w, "lost or duplicated (checks)", &|d| {
            if d.failures.is_empty() {
                "none".into()
            } else {
                format!("{} FAILED", d.failures.len())
            }
        });
        row(w, "load average after", &|d| d.load_average_after.clone());
    }
}
