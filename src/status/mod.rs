//! The local status endpoint: `/health` (liveness), `/ready` (database, recordings folder,
//! ffmpeg, session), `/metrics` (Prometheus text) and `/recordings` (JSON of recordings in
//! progress). Loopback by default; `iglive status` reads it for a person.

mod cluster;
mod control;
pub(crate) mod metrics;
mod sessions;

pub use cluster::{ClusterBoard, ClusterView};
pub use control::{ReloadOutcome, ReloadRequest, ReloadSender, WatchedAccountState, RELOAD_HEADER};
pub use sessions::{BoardEntry, SessionBoard};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::pool::SessionState;
use crate::recording::Registry;
use crate::store::Catalog;
use crate::store::WriterStats;
use crate::watch::Accounts;

/// What the endpoint reads; all of it shared with the running daemon.
#[derive(Clone)]
pub struct StatusState {
    pub registry: Registry,
    /// The sessions every API request goes through.
    pub pool: crate::pool::Pool,
    pub store: Catalog,
    pub writer_stats: Arc<WriterStats>,
    pub recordings_dir: PathBuf,
    pub min_free_space: u64,
    pub accounts: Accounts,
    pub started_at: f64,
    /// Where `POST /api/v1/reload` hands reload requests to the daemon (`None`: refused).
    pub reload: Option<ReloadSender>,
    /// Per session: its detection's accounts and its push connection.
    pub sessions: SessionBoard,
    /// This node among the others on a PostgreSQL catalog.
    pub cluster: ClusterBoard,
}

/// One readiness check's result.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// Every readiness check; `/ready` is 200 only when all pass.
pub async fn readiness(state: &StatusState) -> Vec<Check> {
    let mut checks = Vec::new();
    let writer_ok = state.writer_stats.healthy.load(Ordering::Relaxed);
    let db = state.store.ping().await.map_err(|e| e.to_string());
    let last_error = state
        .writer_stats
        .last_error
        .lock()
        .ok()
        .and_then(|e| e.clone());
    checks.push(Check {
        name: "database",
        ok: db.is_ok() && writer_ok,
        detail: match (db, writer_ok) {
            (Ok(()), true) => state.store.describe(),
            (Err(e), _) => e,
            (Ok(()), false) => last_error.unwrap_or_else(|| "writes are failing".into()),
        },
    });
    let dir = state.recordings_dir.clone();
    let min = state.min_free_space;
    checks.push(match crate::disk::free_space(&dir) {
        Ok(free) if free >= min => Check {
            name: "recordings_dir",
            ok: true,
            detail: format!("{} free", crate::output::human_size(free)),
        },
        Ok(free) => Check {
            name: "recordings_dir",
            ok: false,
            detail: format!(
                "only {} free, below storage.min_free_space ({})",
                crate::output::human_size(free),
                crate::output::human_size(min)
            ),
        },
        Err(e) => Check {
            name: "recordings_dir",
            ok: false,
            detail: format!("{}: {e}", dir.display()),
        },
    });
    let ffmpeg = tokio::task::spawn_blocking(|| {
        crate::media::tools::version(&crate::media::tools::ffmpeg_path())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r.map_err(|e| e.to_string()));
    checks.push(Check {
        name: "ffmpeg",
        ok: ffmpeg.is_ok(),
        detail: ffmpeg.unwrap_or_else(|e| e),
    });
    checks.push(sessions_check(&state.pool));
    checks
}

/// Ready while at least one session of the pool is usable; the detail names each one's state.
fn sessions_check(pool: &crate::pool::Pool) -> Check {
    let members = pool.members();
    let describe = |m: &crate::pool::Member| match m.state() {
        SessionState::Ok => format!(
            "{}: ok, slowdown x{:.1}",
            m.name,
            m.client.health().slowdown
        ),
        SessionState::Throttled { for_s, .. } => format!("{}: throttled for {for_s:.0} s", m.name),
        SessionState::Challenged {
            evidence,
            challenge_url,
        } => format!(
            "{}: {evidence}{}",
            m.name,
            challenge_url
                .as_deref()
                .map(|u| format!(" (open {u})"))
                .unwrap_or_default()
        ),
        SessionState::Expired { evidence } => format!("{}: {evidence}", m.name),
        SessionState::Unreachable { evidence } => format!("{}: unreachable: {evidence}", m.name),
    };
    Check {
        name: "session",
        ok: members.iter().any(|m| m.state().is_usable()),
        detail: members.iter().map(describe).collect::<Vec<_>>().join("; "),
    }
}

async fn health() -> &'static str {
    "ok\n"
}

async fn ready(State(state): State<StatusState>) -> Response {
    let checks = readiness(&state).await;
    let ok = checks.iter().all(|c| c.ok);
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(serde_json::json!({"ready": ok, "checks": checks})),
    )
        .into_response()
}

async fn recordings(State(state): State<StatusState>) -> Response {
    Json(state.registry.snapshot()).into_response()
}

async fn metrics_handler(State(state): State<StatusState>) -> Response {
    let body = metrics::render(&state).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

pub fn router(state: StatusState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics_handler))
        .route("/recordings", get(recordings))
        .route("/sessions", get(sessions::sessions))
        .route("/cluster", get(cluster::cluster))
        .route("/api/v1/reload", post(control::reload))
        .with_state(state)
}

/// How the listener came up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listening {
    /// Serving on this address (port 0 → the ephemeral one chosen).
    Bound(SocketAddr),
    /// The address could not be bound; a background task retries it (recording goes on).
    Retrying,
}

/// The first and the longest pause between two attempts to bind a taken address.
const BIND_RETRY_FIRST: Duration = Duration::from_secs(1);
const BIND_RETRY_CAP: Duration = Duration::from_secs(60);

/// Binds `addr` and serves the status routes and the library (web app and API) until
/// `shutdown`. An address that cannot be bound (taken by another program) never stops the
/// daemon: it is logged loudly with the fix, and retried on a bounded backoff (1 s doubling to
/// 60 s) until it binds, logged once, or the daemon stops. Only what the configuration got
/// wrong (the library's token) is an error.
pub async fn serve(
    addr: SocketAddr,
    state: StatusState,
    library: crate::library::Library,
    shutdown: CancellationToken,
) -> anyhow::Result<Listening> {
    let app = crate::library::mount(router(state), library, addr, &shutdown)?;
    match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => {
            let bound = listener.local_addr()?;
            tokio::spawn(serve_on(listener, app, shutdown));
            Ok(Listening::Bound(bound))
        }
        Err(e) => {
            tracing::error!(
                listen = %addr,
                error = %e,
                "cannot listen on {addr} for the status endpoint and the library; recording goes on without them and the address is retried in the background: set status.listen to a free port, or \"off\", and reload"
            );
            tokio::spawn(retry_bind(addr, app, shutdown));
            Ok(Listening::Retrying)
        }
    }
}

/// Binds `addr` again and again, each pause longer, until it works or the daemon stops.
async fn retry_bind(addr: SocketAddr, app: Router, shutdown: CancellationToken) {
    let mut backoff = crate::backoff::Backoff::new(BIND_RETRY_FIRST, BIND_RETRY_CAP);
    let mut attempts = 0u32;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff.next_delay()) => {}
        }
        attempts = attempts.saturating_add(1);
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                tracing::info!(
                    listen = %addr,
                    attempts,
                    "status endpoint and library on http://{addr}/ at last (the address was free again)"
                );
                serve_on(listener, app, shutdown).await;
                return;
            }
            Err(e) => {
                tracing::debug!(listen = %addr, error = %e, attempts, "status address still taken")
            }
        }
    }
}

async fn serve_on(listener: tokio::net::TcpListener, app: Router, shutdown: CancellationToken) {
    // Peer addresses: the reload is only served to loopback peers.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
    {
        tracing::error!(error = %e, "the status endpoint stopped serving");
    }
}
