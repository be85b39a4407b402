//! The ops endpoint: `[http] listen = "127.0.0.1:9187"` serves
//!
//! - `GET /metrics`: [`crate::metrics`] in the OpenMetrics text format;
//! - `GET /healthz`: `200 ok` when every mailbox was checked within its
//!   expected interval and is not failing, the outbox holds no mail older
//!   than `outbox-max-age`, and the database takes a write; otherwise `503`
//!   with what is wrong, one problem a line, in plain text;
//! - `GET /readyz`: `200` once the daemon has started and every mailbox was
//!   read once, `503` before.
//!
//! Nothing of a ticket or a mail is served: figures, mailbox names, errors.
//! It listens on loopback unless `allow-remote = true` (there is no TLS
//! and no login; put a proxy in front to expose it). The only module that
//! knows hyper.

use std::convert::Infallible;
use std::net::SocketAddr;

pub mod settings;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::health::Registry;
use crate::store::Store;
pub use settings::HttpConfig;

/// What the endpoint reads.
pub struct Ops {
    pub health: Arc<Registry>,
    /// A connection of its own (figures, the heartbeat write).
    store: Mutex<Store>,
    outbox_max_age: Mutex<Duration>,
    /// Set once the daemon has started every task.
    pub started: AtomicBool,
}

/// How long `/healthz` waits for the write lock before it calls the
/// database not writable: a batch commit takes well under a second.
const WRITE_WAIT: Duration = Duration::from_secs(5);

impl Ops {
    pub fn new(health: Arc<Registry>, store: Store, outbox_max_age: Duration) -> Ops {
        if let Err(e) = store.set_busy_timeout(WRITE_WAIT) {
            tracing::warn!(error = %e, "ops endpoint: busy timeout");
        }
        Ops {
            health,
            store: Mutex::new(store),
            outbox_max_age: Mutex::new(outbox_max_age),
            started: AtomicBool::new(false),
        }
    }

    /// A reloaded config's database and `outbox-max-age`, for an endpoint
    /// that went on serving through the reload.
    pub fn reconfigure(&self, store: Store, outbox_max_age: Duration) {
        if let Err(e) = store.set_busy_timeout(WRITE_WAIT) {
            tracing::warn!(error = %e, "ops endpoint: busy timeout");
        }
        *self.store.lock().unwrap_or_else(|p| p.into_inner()) = store;
        *self
            .outbox_max_age
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = outbox_max_age;
    }

    fn metrics(&self, now_ms: i64) -> Result<String, String> {
        let store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        let desk = store.desk_figures(now_ms).map_err(|e| e.to_string())?;
        Ok(crate::metrics::global().render(&desk, &self.health.snapshot(), now_ms))
    }

    /// Everything wrong now; empty when healthy.
    pub fn problems(&self, now_ms: i64) -> Vec<String> {
        let mut out = crate::health::problems(&self.health.snapshot(), now_ms);
        let max_age = *self
            .outbox_max_age
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        match store.desk_figures(now_ms) {
            Ok(f) if f.outbox_oldest_seconds > max_age.as_secs_f64() => {
                out.push(format!(
                    "outbox: the oldest of {} queued mails has waited {:.0} s (more than outbox-max-age, {} s)",
                    f.outbox_queued,
                    f.outbox_oldest_seconds,
                    max_age.as_secs()
                ))
            }
            Ok(_) => {}
            Err(e) => out.push(format!("database: cannot be read: {e}")),
        }
        if let Err(e) = store.heartbeat(now_ms) {
            out.push(format!("database: does not take a write: {e}"));
        }
        out
    }

    fn not_ready(&self) -> Vec<String> {
        if !self.started.load(Ordering::SeqCst) {
            return vec!["starting".into()];
        }
        self.health
            .snapshot()
            .iter()
            .filter(|(_, m)| m.last_ok_ms.is_none())
            .map(|(name, m)| match &m.failing {
                Some(f) => format!("mailbox {name}: not read yet: {}", f.error),
                None => format!("mailbox {name}: not read yet"),
            })
            .collect()
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn verdict(problems: Vec<String>, ok: &str) -> Response<Full<Bytes>> {
    if problems.is_empty() {
        text(StatusCode::OK, format!("{ok}\n"))
    } else {
        let mut body = problems.join("\n");
        body.push('\n');
        text(StatusCode::SERVICE_UNAVAILABLE, body)
    }
}

async fn handle(
    ops: Arc<Ops>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET is served here\n".into(),
        ));
    }
    let path = req.uri().path().to_string();
    // Prometheus asks for OpenMetrics; curl and promtool get the classic format.
    let openmetrics = req
        .headers()
        .get_all(hyper::header::ACCEPT)
        .iter()
        .any(|v| {
            v.to_str()
                .is_ok_and(|v| v.contains("application/openmetrics-text"))
        });
    let now = crate::source::now_ms();
    let ops2 = ops.clone();
    let answer = tokio::task::spawn_blocking(move || match path.as_str() {
        "/metrics" => match ops2.metrics(now) {
            Ok(body) => {
                let (body, kind) = if openmetrics {
                    (body, crate::metrics::CONTENT_TYPE)
                } else {
                    (
                        crate::metrics::to_classic(&body),
                        crate::metrics::CLASSIC_CONTENT_TYPE,
                    )
                };
                let mut r = text(StatusCode::OK, body);
                r.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static(kind),
                );
                r
            }
            Err(e) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("database: {e}\n"),
            ),
        },
        "/healthz" => verdict(ops2.problems(now), "ok"),
        "/readyz" => verdict(ops2.not_ready(), "ready"),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /metrics, /healthz or /readyz\n".into(),
        ),
    })
    .await;
    Ok(answer.unwrap_or_else(|e| {
        tracing::error!(error = %e, "ops endpoint: a request panicked");
        text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n".into())
    }))
}

/// Binds `addr`; a start that cannot bind fails (the admin asked for it).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("http.listen {addr}: {e}"))
}

/// The endpoint serving, apart from the daemon's tasks: a reload stops and
/// restarts those (up to half a minute while batches in hand commit), and a
/// scraper or health check must not see the daemon gone meanwhile.
pub struct Endpoint {
    /// Where it listens, as the config says it.
    pub addr: SocketAddr,
    pub ops: Arc<Ops>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Endpoint {
    /// Binds `addr` and serves `ops` from now on (`/readyz` says
    /// "starting" until `ops.started`).
    pub async fn open(addr: SocketAddr, ops: Ops) -> Result<Endpoint, String> {
        let listener = bind(addr).await?;
        let ops = Arc::new(ops);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(serve(listener, ops.clone(), cancel.clone()));
        Ok(Endpoint {
            addr,
            ops,
            cancel,
            task,
        })
    }

    /// Stops accepting, lets requests in hand finish, and closes the port.
    pub async fn stop(self) {
        self.cancel.cancel();
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "ops endpoint: its task ended badly");
        }
    }
}

/// How long one connection may stay idle in a request: a scraper sends
/// its request at once.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves until `cancel`.
pub async fn serve(listener: TcpListener, ops: Arc<Ops>, cancel: CancellationToken) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "ops endpoint listening (/metrics, /healthz, /readyz)");
    }
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "ops endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => break,
        };
        let ops = ops.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(ops.clone(), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(REQUEST_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "ops endpoint: connection ended");
                    }
                }
                _ = cancel.cancelled() => conn.as_mut().graceful_shutdown(),
            }
        });
    }
    tracing::info!("ops endpoint stopped");
}
