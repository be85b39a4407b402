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
use crate::outbox::{Sender, Transport};
use crate::pipeline::Engine;
use crate::source::{imap, maildir, now_ms};
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
    crate::tls::init();
    let engine = Arc::new(Engine::new(config)?);
    let cfg = engine.config.clone();
    warn_about_agent_authentication(&cfg);
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let notify = Arc::new(Notify::new());

    // Open everything first, so a bad setting stops the start, not a task later.
    let sender = Sender {
        transport: Arc::new(Transport::from_config(&cfg)?),
        store: Arc::new(Mutex::new(engine.open_store()?)),
        cfg: cfg.outbox.clone(),
        notify: notify.clone(),
        cancel: cancel.clone(),
    };
    let mut watchers: Vec<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>> = Vec::new();
    for m in &cfg.mailboxes {
        let store = Arc::new(Mutex::new(engine.open_store()?));
        match m.kind {
            SourceKind::Imap => {
                let password =
                    m.secret()
                        .load(&cfg.base_dir)
                        .map_err(|message| StartError::Mailbox {
                            mailbox: m.name.clone(),
                            message,
                        })?;
                let mut m = m.clone();
                m.ca_file = m.ca_file.as_deref().map(|p| cfg.resolve(p));
                watchers.push(Box::pin(
                    imap::Watcher {
                        cfg: m,
                        password,
                        engine: engine.clone(),
                        store,
                        outbox: notify.clone(),
                        cancel: cancel.clone(),
                    }
                    .run(),
                ));
            }
            SourceKind::Maildir => {
                let dir = cfg.resolve(m.path.as_deref().unwrap_or(std::path::Path::new("maildir")));
                watchers.push(Box::pin(
                    maildir::Watcher {
                        name: m.name.clone(),
                        dir,
                        poll: m.poll_interval,
                        batch_size: m.batch_size,
                        engine: engine.clone(),
                        store,
                        outbox: notify.clone(),
                        cancel: cancel.clone(),
                    }
                    .run(),
                ));
            }
        }
    }
    if watchers.is_empty() {
        tracing::warn!("no [[mailbox]] configured: only the outbox runs");
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
    tracker.close();
    tracing::info!(
        database = %engine.database_path().display(),
        mailboxes = cfg.mailboxes.len(),
        "postdesk running"
    );

    shutdown.await;
    tracing::info!("shutting down: finishing the work in hand");
    cancel.cancel();
    if tokio::time::timeout(STOP_DEADLINE, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "some tasks did not finish within {STOP_DEADLINE:?}; stopping anyway (their work is redone on restart)"
        );
    }
    tracing::info!("stopped");
    Ok(())
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
