//! Starts the tasks (one per mailbox, one outbox sender) and stops them cleanly.
//!
//! Shutdown is two-phase: cancel, then wait for every task to finish what it
//! holds (a batch being committed, mails being handed over) up to a deadline.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, SourceKind};
use crate::http::{Endpoint, Ops};
use crate::outbox::{Sender, Transport};
use crate::pipeline::Engine;
use crate::source::{Backoff, SharedStore, imap, maildir, now_ms};
use crate::store::Store;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Engine(#[from] crate::pipeline::EngineError),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Transport(#[from] crate::outbox::TransportError),
    #[error("mailbox {mailbox}: {message}")]
    Mailbox { mailbox: String, message: String },
    /// The ops endpoint cannot listen where `[http] listen` says.
    #[error("{0}")]
    Http(String),
    /// Another daemon uses the database.
    #[error("{0}")]
    Locked(String),
    /// The LMTP socket cannot be had where `[lmtp] socket` says.
    #[error("{0}")]
    Lmtp(String),
}

/// Says loudly at start what `postdesk check` says about how agents prove
/// their mail: anyone can forge commands (`none`), or an agent's secret
/// variable is not set in the daemon's environment.
fn warn_about_agent_authentication(cfg: &Config) {
    let w = &cfg.workflow;
    let env = |v: &str| std::env::var(v).ok();
    let s = crate::desk::verify::setup(
        w.agent_authentication,
        &w.trusted_authserv_ids,
        &cfg.agents,
        Some(&env),
    );
    for e in s.errors {
        tracing::error!("{e}");
    }
    for warning in s.warnings {
        tracing::warn!("{warning}");
    }
}

/// How long tasks get to finish after a shutdown request.
const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// Runs until `shutdown` completes, then stops every task.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), StartError> {
    let (_keep, reloads) = tokio::sync::mpsc::channel(1);
    run_reloading(config, shutdown, reloads).await
}

/// [`run`], and each config that comes in on `reloads` (read by
/// [`reload_on_sighup`]) replaces the running one: the tasks stop as they
/// do for a shutdown (each batch in hand committed, with its checkpoint, so
/// no mail is lost or read twice), then start again on the new config,
/// templates read afresh. A new config that cannot start (its templates do
/// not parse, the endpoint cannot bind) is refused and the old one starts
/// again. What the mailboxes' health was is kept across.
pub async fn run_reloading(
    config: Config,
    shutdown: impl Future<Output = ()>,
    mut reloads: tokio::sync::mpsc::Receiver<Config>,
) -> Result<(), StartError> {
    crate::tls::init();
    raise_open_files(&config);
    // Held until the daemon ends: `postdesk restore` refuses meanwhile.
    let _lock = crate::store::DaemonLock::take(&config.resolve(&config.storage.database))
        .map_err(StartError::Locked)?;
    let health = Arc::new(crate::health::Registry::new());
    let mut current = config;
    let mut endpoint: Option<Endpoint> = None;
    let mut running = start_serving(&current, &health, &mut endpoint).await?;
    let watchdog = tokio::spawn(systemd_watchdog());
    // Under systemd (Type=notify): started. Elsewhere NOTIFY_SOCKET is unset
    // and this does nothing.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            next = reloads.recv() => {
                let Some(next) = next else {
                    // Nobody can send a reload any more: wait for the shutdown.
                    shutdown.as_mut().await;
                    break;
                };
                tracing::info!("reloading the configuration: finishing the work in hand");
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Reloading]);
                running.stop().await;
                running = match start_serving(&next, &health, &mut endpoint).await {
                    Ok(r) => {
                        current = next;
                        tracing::info!("configuration reloaded");
                        r
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "the new configuration cannot start; going on with the old one");
                        start_serving(&current, &health, &mut endpoint).await?
                    }
                };
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
            }
        }
    }
    tracing::info!("shutting down: finishing the work in hand");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    running.stop().await;
    if let Some(e) = endpoint {
        e.stop().await;
    }
    watchdog.abort();
    tracing::info!("stopped");
    Ok(())
}

/// Starts `config`'s tasks, with the ops endpoint it asks for in
/// `endpoint`. One already serving at the same address is kept through a
/// reload (its database and `outbox-max-age` follow the new config), so
/// scrapes and health checks go on while the tasks restart; a new address
/// is bound before the tasks start and before the old one closes, so a
/// port that cannot be had refuses the config and the old endpoint stays.
async fn start_serving(
    config: &Config,
    health: &Arc<crate::health::Registry>,
    endpoint: &mut Option<Endpoint>,
) -> Result<Running, StartError> {
    let wanted = config.http.address().map_err(StartError::Http)?;
    let keep = endpoint.as_ref().map(|e| e.addr) == wanted;
    let database = config.resolve(&config.storage.database);
    let fresh = match wanted.filter(|_| !keep) {
        Some(addr) => {
            let ops = Ops::new(
                health.clone(),
                Store::open(&database)?,
                config.http.outbox_max_age,
            );
            Some(Endpoint::open(addr, ops).await.map_err(StartError::Http)?)
        }
        None => None,
    };
    let running = match start(config.clone(), health).await {
        Ok(r) => r,
        Err(e) => {
            if let Some(f) = fresh {
                f.stop().await;
            }
            return Err(e);
        }
    };
    if keep {
        if let Some(e) = endpoint.as_ref() {
            match Store::open(&database) {
                Ok(store) => e.ops.reconfigure(store, config.http.outbox_max_age),
                Err(err) => {
                    tracing::error!(error = %err, "ops endpoint: keeps reading the database it had")
                }
            }
        }
    } else {
        if let Some(old) = endpoint.take() {
            old.stop().await;
        }
        *endpoint = fresh;
    }
    if let Some(e) = endpoint.as_ref() {
        e.ops
            .started
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
    Ok(running)
}

/// Raises the open-file limit to its hard limit (an IDLE mailbox holds a
/// connection for good) and says so; warns when the mailboxes need more.
fn raise_open_files(cfg: &Config) {
    let (before, after) = crate::open_files::raise();
    let needed = files_needed(cfg);
    if after.soft > before.soft {
        tracing::info!(
            from = before.soft,
            to = after.soft,
            needed,
            "open-file limit raised"
        );
    } else {
        tracing::debug!(limit = after.soft, needed, "open-file limit");
    }
    if needed > after.soft {
        tracing::warn!(
            limit = after.soft,
            needed,
            "the mailboxes need more open files than this process may have: some will fail to connect \
             (raise the hard limit: LimitNOFILE= in the service unit, or ulimit -Hn)"
        );
    }
}

/// The most files (sockets included) a daemon with `cfg` holds open: one
/// per IMAP mailbox, the database connections (shared by the mailboxes,
/// see [`MAILBOX_STORES`], plus the outbox's, the sweeper's, the alerts'
/// and the ops endpoint's), the SMTP pools.
pub fn files_needed(cfg: &Config) -> u64 {
    let count = |kind: SourceKind| cfg.mailboxes.iter().filter(|m| m.kind == kind).count();
    let own_outboxes = cfg.mailboxes.iter().filter(|m| m.outbox.is_some()).count();
    crate::open_files::Usage {
        imap: count(SourceKind::Imap),
        maildir: count(SourceKind::Maildir),
        database_connections: cfg.mailboxes.len().min(MAILBOX_STORES) + 4,
        smtp: cfg.outbox.concurrency * (1 + own_outboxes),
    }
    .needed()
}

/// Pings systemd's watchdog (`WatchdogSec=`) at half its interval while the
/// runtime runs; does nothing when the unit has no watchdog.
async fn systemd_watchdog() {
    let Some(every) = sd_notify::watchdog_enabled() else {
        return;
    };
    loop {
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
        tokio::time::sleep(every / 2).await;
    }
}

/// Reads the config file again on each SIGHUP and sends it to
/// [`run_reloading`]; a file that does not load is refused with its
/// file:line error, and the running config stays.
pub async fn reload_on_sighup(path: std::path::PathBuf, to: tokio::sync::mpsc::Sender<Config>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP; reload by restarting");
            return;
        }
    };
    while hup.recv().await.is_some() {
        match Config::load(&path) {
            Ok(c) => {
                tracing::info!(config = %path.display(), "SIGHUP: configuration read");
                if to.send(c).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::error!("SIGHUP: reload refused, the running configuration stays: {e}")
            }
        }
    }
}

/// The tasks of one configuration.
struct Running {
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Running {
    /// Two-phase stop: cancel, then wait for the work in hand, up to a deadline.
    async fn stop(self) {
        self.cancel.cancel();
        if tokio::time::timeout(STOP_DEADLINE, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "some tasks did not finish within {STOP_DEADLINE:?}; stopping anyway (their work is redone on restart)"
            );
        }
    }
}

/// Database connections the mailbox tasks share, mailbox i taking
/// connection i mod 4. SQLite lets one writer in at a time, so more
/// connections than this only let reads (a checkpoint, a quarantine lookup)
/// run beside a commit, and on a 2-core machine 4 already do. One each cost
/// 3 open files (database, WAL, its index) and ~200 KiB (its parsed schema
/// and page cache): 2,000 IDLE mailboxes took 472 MiB and 6,020 open files
/// (77 MiB and 2,028 shared), and 10,000 would have needed 30,000 files.
const MAILBOX_STORES: usize = 4;

/// Opens everything of `config` and starts its tasks.
async fn start(
    config: Config,
    health: &Arc<crate::health::Registry>,
) -> Result<Running, StartError> {
    let engine = Arc::new(Engine::new(config)?);
    engine.compile_templates()?;
    let cfg = engine.config.clone();
    warn_about_agent_authentication(&cfg);
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let notify = Arc::new(Notify::new());
    let names: Vec<&str> = cfg.mailboxes.iter().map(|m| m.name.as_str()).collect();
    health.retain(&names);

    // Open everything first, so a bad setting stops the start, not a task later.
    let sender = Sender {
        transport: Arc::new(Transport::from_config(&cfg)?),
        routes: mailbox_transports(&cfg)?,
        store: Arc::new(Mutex::new(engine.open_store()?)),
        cfg: cfg.outbox.clone(),
        notify: notify.clone(),
        cancel: cancel.clone(),
    };
    let mut watchers: Vec<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>> = Vec::new();
    let stores = (0..cfg.mailboxes.len().min(MAILBOX_STORES))
        .map(|_| Ok(Arc::new(Mutex::new(engine.open_store()?))))
        .collect::<Result<Vec<SharedStore>, StartError>>()?;
    let pacer = Arc::new(crate::source::pacing::Pacer::new(&cfg.connect));
    for (i, m) in cfg.mailboxes.iter().enumerate() {
        health.register(&m.name, expected_check_interval(m));
        let store = stores[i % stores.len()].clone();
        let (engine, notify, cancel_task) = (engine.clone(), notify.clone(), cancel.clone());
        let health = health.clone();
        let supervised = match m.kind {
            SourceKind::Imap => {
                let login =
                    imap::Login::of(m, &cfg.base_dir).map_err(|message| StartError::Mailbox {
                        mailbox: m.name.clone(),
                        message,
                    })?;
                let mut m = m.clone();
                m.ca_file = m.ca_file.as_deref().map(|p| cfg.resolve(p));
                let m = Arc::new(m);
                let store_task = store.clone();
                let pacer = pacer.clone();
                Box::pin(supervise(
                    m.name.clone(),
                    store,
                    cancel.clone(),
                    move || {
                        imap::Watcher {
                            cfg: m.clone(),
                            login: login.clone(),
                            engine: engine.clone(),
                            store: store_task.clone(),
                            outbox: notify.clone(),
                            cancel: cancel_task.clone(),
                            health: health.clone(),
                            pacer: pacer.clone(),
                        }
                        .run()
                    },
                )) as std::pin::Pin<Box<dyn Future<Output = ()> + Send>>
            }
            SourceKind::Maildir => {
                let dir = cfg.resolve(m.path.as_deref().unwrap_or(std::path::Path::new("maildir")));
                let m = m.clone();
                let store_task = store.clone();
                Box::pin(supervise(
                    m.name.clone(),
                    store,
                    cancel.clone(),
                    move || {
                        maildir::Watcher {
                            name: m.name.clone(),
                            dir: dir.clone(),
                            poll: m.poll_interval,
                            batch_size: m.batch_size,
                            batch_bytes: m.batch_bytes,
                            on_first_connect: m.on_first_connect,
                            engine: engine.clone(),
                            store: store_task.clone(),
                            outbox: notify.clone(),
                            cancel: cancel_task.clone(),
                            health: health.clone(),
                        }
                        .run()
                    },
                ))
            }
        };
        watchers.push(supervised);
    }
    let lmtp = lmtp_listener(&engine, &notify, &cancel)?;
    if watchers.is_empty() && lmtp.is_none() {
        tracing::warn!("no [[mailbox]] configured: only the outbox runs");
    }
    if let Some(l) = lmtp {
        tracker.spawn(l.run());
    }
    tracker.spawn(sender.run());
    tracker.spawn(sweeper(
        engine.clone(),
        Arc::new(Mutex::new(engine.open_store()?)),
        notify.clone(),
        cancel.clone(),
    ));
    for w in watchers {
        tracker.spawn(w);
    }
    if !cfg.desk.admin.is_empty() {
        tracker.spawn(alerter(
            engine.clone(),
            engine.open_store()?,
            health.clone(),
            notify.clone(),
            cancel.clone(),
        ));
    }
    tracker.close();
    tracing::info!(
        database = %engine.database_path().display(),
        mailboxes = cfg.mailboxes.len(),
        "postdesk running"
    );
    Ok(Running { cancel, tracker })
}

/// The LMTP source, bound, when `[lmtp] socket` is set. Its own database
/// connection, whose commits are synced: a `250` lets the MTA delete its
/// copy.
fn lmtp_listener(
    engine: &Arc<Engine>,
    notify: &Arc<Notify>,
    cancel: &CancellationToken,
) -> Result<Option<crate::source::lmtp::Listener>, StartError> {
    let cfg = &engine.config;
    let Some(socket) = &cfg.lmtp.socket else {
        return Ok(None);
    };
    let path = cfg.resolve(socket);
    let listener = crate::source::lmtp::bind(&path, cfg.lmtp.mode()).map_err(StartError::Lmtp)?;
    let store = engine.open_store()?;
    store.durable_commits()?;
    Ok(Some(crate::source::lmtp::Listener {
        listener,
        path,
        mailbox: cfg
            .lmtp
            .mailbox_name(cfg.mailboxes.first().map(|m| m.name.as_str())),
        engine: engine.clone(),
        store: Arc::new(Mutex::new(store)),
        outbox: notify.clone(),
        cancel: cancel.clone(),
    }))
}

/// The mailboxes' own transports (`[mailbox.outbox]`), by the address each
/// sends as; built now, so a bad one stops the start.
fn mailbox_transports(cfg: &Config) -> Result<Vec<(String, Arc<Transport>)>, StartError> {
    let mut routes = Vec::new();
    for m in &cfg.mailboxes {
        if let Some(o) = &m.outbox {
            let address = m
                .address
                .as_deref()
                .unwrap_or(&cfg.desk.address)
                .to_lowercase();
            routes.push((address, Arc::new(Transport::from_settings(cfg, o)?)));
        }
    }
    Ok(routes)
}

/// A task that ran this long before panicking was healthy: its next restart
/// waits the shortest delay again.
const HEALTHY_RUN: Duration = Duration::from_secs(300);

/// Runs a mailbox task made by `start`, and starts a new one whenever it
/// panics: the second wall behind "one mail must never stop a mailbox".
/// The pipeline quarantines a mail whose processing panics
/// ([`crate::pipeline::process_batch`]); this catches a panic anywhere else
/// in the task (the IMAP or Maildir code itself), which used to end the
/// mailbox's work for good while the process looked healthy. Each panic is
/// logged and counted in the database for `postdesk check`; restarts back
/// off (1 s, 2 s, … up to a minute) so a task that panics at once does not
/// spin. Returns when the task ends without panicking, or on `cancel`.
pub async fn supervise<F, Fut>(
    mailbox: String,
    store: SharedStore,
    cancel: CancellationToken,
    mut start: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut backoff = Backoff::new(Duration::from_secs(60));
    loop {
        let started = tokio::time::Instant::now();
        let payload = match tokio::spawn(start()).await {
            Ok(()) => return,
            Err(e) if e.is_panic() => e.into_panic(),
            // Aborted: the runtime is shutting down.
            Err(_) => return,
        };
        if started.elapsed() >= HEALTHY_RUN {
            backoff.reset();
        }
        let why = crate::pipeline::panic_message(payload.as_ref());
        let delay = backoff.next_delay();
        tracing::error!(mailbox, panic = %why, restart_in = ?delay, "the mailbox task panicked; restarting it");
        let (s, m, w) = (store.clone(), mailbox.clone(), why);
        let counted = tokio::task::spawn_blocking(move || {
            s.lock()
                .unwrap_or_else(|p| p.into_inner())
                .record_panic(&m, &w, now_ms())
        })
        .await;
        match counted {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(mailbox, error = %e, "could not count the panic"),
            Err(e) => tracing::warn!(mailbox, error = %e, "could not count the panic"),
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

/// How often a healthy mailbox is read to its end: its IDLE re-check (IDLE
/// is renewed at least every 20 minutes) or its poll interval.
fn expected_check_interval(m: &crate::config::MailboxConfig) -> Duration {
    match m.kind {
        SourceKind::Imap if m.idle => m.idle_recheck.min(Duration::from_secs(20 * 60)),
        _ => m.poll_interval,
    }
}

/// Checks the alert conditions every `alerts.check-interval`.
async fn alerter(
    engine: Arc<Engine>,
    store: Store,
    health: Arc<crate::health::Registry>,
    outbox: Arc<Notify>,
    cancel: CancellationToken,
) {
    let store = Arc::new(Mutex::new(store));
    let every = engine.config.alerts.check_interval;
    loop {
        let (e, s, h) = (engine.clone(), store.clone(), health.clone());
        let result = tokio::task::spawn_blocking(move || {
            let mut store = s.lock().unwrap_or_else(|p| p.into_inner());
            let now = now_ms();
            let figures = store.desk_figures(now)?;
            let window = e.config.alerts.quarantine_window.as_millis() as i64;
            let (quarantined_recent, quarantined_first_at) =
                store.quarantined_since(now - window)?;
            let observed = crate::alerts::Observed {
                mailboxes: h.snapshot(),
                outbox_queued: figures.outbox_queued,
                outbox_oldest_seconds: figures.outbox_oldest_seconds,
                quarantined_recent,
                quarantined_first_at,
                disk: crate::alerts::disk_space(store.path()),
            };
            crate::alerts::check(&mut store, &e, &observed, now)
        })
        .await;
        match result {
            Ok(Ok(n)) if n > 0 => outbox.notify_one(),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "alert check failed; will retry"),
            Err(e) => tracing::error!(error = %e, "alert check panicked"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = cancel.cancelled() => break,
        }
    }
}

/// Runs the clock's decisions every `workflow.sweep-interval`.
async fn sweeper(
    engine: Arc<Engine>,
    store: Arc<Mutex<Store>>,
    outbox: Arc<Notify>,
    cancel: CancellationToken,
) {
    let every = engine.config.workflow.sweep_interval;
    loop {
        let (e, s) = (engine.clone(), store.clone());
        let result = tokio::task::spawn_blocking(move || {
            let mut store = s.lock().unwrap_or_else(|p| p.into_inner());
            let mut tally = crate::pipeline::sweep(&mut store, &e, now_ms())?;
            // The scheduled review, queued once per period.
            tally.queued += crate::report::mail::send_due(&mut store, &e, now_ms())?;
            // The agents' morning digests, queued once per working day.
            tally.queued += crate::digest::send_due(&mut store, &e, now_ms())?;
            Ok::<_, crate::store::StoreError>(tally)
        })
        .await;
        match result {
            Ok(Ok(t)) if t.queued > 0 => {
                tracing::info!(tally = ?t, "sweep");
                outbox.notify_one();
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "sweep failed; will retry"),
            Err(e) => tracing::error!(error = %e, "sweep panicked"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = cancel.cancelled() => break,
        }
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; only Ctrl-C will stop the daemon");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_task_that_panics_is_counted_and_started_again() {
        let dir = tempfile::tempdir().unwrap();
        let store: SharedStore = Arc::new(Mutex::new(
            Store::open(&dir.path().join("desk.db")).unwrap(),
        ));
        let starts = Arc::new(AtomicUsize::new(0));
        let counter = starts.clone();
        let run = supervise(
            "support".into(),
            store.clone(),
            CancellationToken::new(),
            move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        panic!("the watcher fell over");
                    }
                }
            },
        );
        tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("the second start ends normally");
        assert_eq!(starts.load(Ordering::SeqCst), 2);
        let p = store.lock().unwrap().mailbox_panics().unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].count, p[0].last_error.as_str()),
            (1, "the watcher fell over")
        );
    }

    #[tokio::test]
    async fn a_broken_template_stops_the_start() {
        // Templates compile on first use; the daemon compiles them all at
        // its start, so a broken one is found there and not by a mail.
        let dir = tempfile::tempdir().unwrap();
        let templates = dir.path().join("templates");
        std::fs::create_dir_all(templates.join("en")).unwrap();
        std::fs::write(templates.join("en/resolved.txt"), "{% if %}").unwrap();
        let mut config = Config::embedded(dir.path());
        config.desk.templates = Some(templates);
        let health = Arc::new(crate::health::Registry::new());
        let err = match start(config, &health).await {
            Ok(_) => panic!("the daemon started with a broken template"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("en/resolved.txt"), "{err}");
    }

    #[tokio::test]
    async fn cancel_stops_the_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let store: SharedStore = Arc::new(Mutex::new(
            Store::open(&dir.path().join("desk.db")).unwrap(),
        ));
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let run = supervise("support".into(), store, cancel, move || {
            stop.cancel();
            async { panic!("again and again") }
        });
        tokio::time::timeout(Duration::from_secs(5), run)
            .await
            .expect("returns once cancelled");
    }
}
