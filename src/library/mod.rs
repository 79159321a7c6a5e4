//! The library: a web app and a REST API over every recording, live and past. The daemon
//! mounts it on its status listener (`crate::status::serve`); `iglive serve -c FILE` serves the
//! same app over an archive without recording anything.
//!
//! - `/` and the other pages (`pages`): plain HTML, CSS and JS embedded in the binary, no
//!   external assets, every data value rendered with `textContent`.
//! - `/api/v1/…` (`api`): the REST API, one envelope for every answer (`envelope`), opaque
//!   cursors (`cursor`), `fields=` (`fields`), Range-served media by id only (`media`),
//!   server-sent events for the live page (`live`); the watch list is edited with
//!   `crate::config::{add_account, remove_account}`.
//! - `/openapi.json` and `/docs` (`openapi`), `/build`, `/deps` (`system`).
//! - Access (`auth`): loopback and token-free by default, a token for anything else.
//!
//! Layer: beside `status` (which mounts it), above `recording`; it reads `store`, the
//! recording `Registry`, the watch list, the session pool's health, `config` and `output`.

mod api;
mod auth;
mod cursor;
mod envelope;
mod fields;
mod live;
mod media;
mod openapi;
mod pages;
mod params;
mod reads;
mod system;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use rusqlite::Connection;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::objects::{Bucket, ObjectsError};
use crate::pool::Pool;
use crate::recording::Registry;
use crate::store::{Catalog, Store, StoreError};
use crate::watch::Accounts;

pub use auth::{Token, TokenError};
pub use envelope::ApiError;

/// Read connections kept open between requests.
const POOL_SIZE: usize = 4;

/// Why the library cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Objects(#[from] ObjectsError),
    #[error("cannot make the object download cache in {dir}: {source} (is the recordings folder writable?)")]
    Cache {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is reachable from other machines, so the listener needs an API token: set status.token_file in the config (or listen on 127.0.0.1)")]
    NeedsToken(SocketAddr),
    #[error("cannot listen on {addr}: {source} (is another iglive running? pick another address)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What the running daemon shares with the library (absent under `iglive serve`).
#[derive(Clone)]
pub struct DaemonParts {
    pub registry: Registry,
    pub accounts: Accounts,
    /// The sessions every API request goes through.
    pub pool: Pool,
}

struct Inner {
    /// What it reads (`reads.rs` over either backend).
    catalog: Catalog,
    recordings_dir: PathBuf,
    config_path: PathBuf,
    use_reels_tray: bool,
    daemon: Option<DaemonParts>,
    token: Option<Token>,
    cors_origins: Vec<String>,
    pool: Mutex<Vec<Connection>>,
    config_lock: tokio::sync::Mutex<()>,
    live: live::Feed,
    stop: CancellationToken,
    /// Where folders removed after their upload are read from (`storage.object_store`).
    bucket: Option<Bucket>,
    /// Objects downloaded for the media routes, for the process's lifetime (removed on exit).
    object_cache: Option<tempfile::TempDir>,
}

/// The library's shared state; cheap to clone.
#[derive(Clone)]
pub struct Library(Arc<Inner>);

impl Library {
    /// The library of the running daemon: live figures from its registry, account edits
    /// applied to its watch list at once.
    pub fn daemon(
        cfg: &Config,
        catalog: Catalog,
        parts: DaemonParts,
    ) -> Result<Library, LibraryError> {
        Library::new(cfg, catalog, Some(parts))
    }

    /// The library over an archive (`iglive serve`): everything from the catalog.
    pub fn archive(cfg: &Config, catalog: impl Into<Catalog>) -> Result<Library, LibraryError> {
        Library::new(cfg, catalog.into(), None)
    }

    fn new(
        cfg: &Config,
        catalog: Catalog,
        daemon: Option<DaemonParts>,
    ) -> Result<Library, LibraryError> {
        let token = cfg
            .status
            .token_file
            .as_deref()
            .map(Token::load)
            .transpose()?;
        let bucket = cfg
            .storage
            .object_store
            .as_ref()
            .map(|o| Bucket::connect(o, &cfg.storage.recordings_dir))
            .transpose()?;
        let object_cache = match &bucket {
            Some(_) => Some(
                tempfile::Builder::new()
                    .prefix(".object-cache-")
                    .tempdir_in(&cfg.storage.recordings_dir)
                    .map_err(|source| LibraryError::Cache {
                        dir: cfg.storage.recordings_dir.clone(),
                        source,
                    })?,
            ),
            None => None,
        };
        Ok(Library(Arc::new(Inner {
            bucket,
            object_cache,
            catalog,
            recordings_dir: cfg.storage.recordings_dir.clone(),
            config_path: cfg.path.clone(),
            use_reels_tray: cfg.watch.use_reels_tray,
            daemon,
            token,
            cors_origins: cfg.status.cors_origins.clone(),
            pool: Mutex::new(Vec::new()),
            config_lock: tokio::sync::Mutex::new(()),
            live: live::Feed::default(),
            stop: CancellationToken::new(),
        })))
    }

    pub(crate) fn token(&self) -> Option<&Token> {
        self.0.token.as_ref()
    }

    pub(crate) fn cors_origins(&self) -> &[String] {
        &self.0.cors_origins
    }

    pub(crate) fn daemon_parts(&self) -> Option<&DaemonParts> {
        self.0.daemon.as_ref()
    }

    pub(crate) fn recordings_dir(&self) -> &Path {
        &self.0.recordings_dir
    }

    /// The bucket and the download cache, when recordings go to object storage.
    pub(crate) fn objects(&self) -> Option<(&Bucket, &Path)> {
        Some((
            self.0.bucket.as_ref()?,
            self.0.object_cache.as_ref()?.path(),
        ))
    }

    /// The catalog it reads.
    pub(crate) fn catalog(&self) -> &Catalog {
        &self.0.catalog
    }

    /// The SQLite store, for `read`; an error on the PostgreSQL catalog (whose reads are
    /// `reads.rs`'s).
    fn store(&self) -> Result<&Store, StoreError> {
        self.0.catalog.sqlite().ok_or_else(|| {
            StoreError::Other(
                "a SQLite read was asked of the PostgreSQL catalog: this is a bug in iglive's library".into(),
            )
        })
    }

    /// A media or download path, signed when a token is configured.
    pub(crate) fn link(&self, path: String) -> String {
        auth::link(self.token(), path)
    }

    /// Runs `f` on a pooled SQLite read connection on a blocking thread.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let lib = self.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = lib.0.pool.lock().ok().and_then(|mut p| p.pop());
            let conn = match pooled {
                Some(c) => c,
                None => lib.store()?.connect()?,
            };
            let out = f(&conn);
            if out.is_ok() {
                if let Ok(mut p) = lib.0.pool.lock() {
                    if p.len() < POOL_SIZE {
                        p.push(conn);
                    }
                }
            }
            out
        })
        .await
        .map_err(|e| ApiError::Unavailable(format!("the database task failed: {e}")))?
        .map_err(ApiError::from)
    }
}

/// Headers on every answer: a strict CSP (nothing but this origin; no inline script or style),
/// no sniffing, no referrer, no framing.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

/// CORS for the configured origins only (`status.cors_origins`); none by default.
async fn cors(
    axum::extract::State(lib): axum::extract::State<Library>,
    req: Request,
    next: Next,
) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| lib.cors_origins().iter().any(|a| a == o))
        .and_then(|o| HeaderValue::from_str(o).ok());
    let Some(origin) = origin else {
        return next.run(req).await;
    };
    let mut resp = if req.method() == Method::OPTIONS {
        axum::http::StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, x-api-key, content-type, x-request-id"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("x-request-id, content-range, accept-ranges"),
    );
    resp
}

/// Answers for paths nothing else serves: the envelope under `/api/`, a small page elsewhere.
async fn fallback(req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        ApiError::NotFound(format!(
            "no such API route: {} {} (the routes are listed at /docs)",
            req.method(),
            req.uri().path()
        ))
        .into_response()
    } else {
        pages::not_found()
    }
}

/// The library around `base` (the status routes, or `/health` and `/ready` under
/// `iglive serve`): the API, the pages, the documents, and access control over all of it.
/// Refuses a non-loopback listener without a token.
pub fn mount(
    base: Router,
    lib: Library,
    addr: SocketAddr,
    shutdown: &CancellationToken,
) -> Result<Router, LibraryError> {
    if !addr.ip().is_loopback() && lib.token().is_none() {
        return Err(LibraryError::NeedsToken(addr));
    }
    let stop = lib.0.stop.clone();
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        stop.cancel();
    });
    let (api, doc) = api::router().split_for_parts();
    let doc = Arc::new(openapi::document(doc));
    Ok(base
        .merge(api.with_state(lib.clone()))
        .merge(system::router(doc).with_state(lib.clone()))
        .merge(pages::router())
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(lib.clone(), auth::guard))
        .layer(middleware::from_fn_with_state(lib, cors))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(envelope::request_scope)))
}

/// A running `iglive serve` listener.
pub struct Served {
    pub addr: SocketAddr,
    /// Ends after the shutdown token is cancelled and open connections have closed.
    pub task: tokio::task::JoinHandle<()>,
}

/// `iglive serve`: the library over an archive on `addr`, until `shutdown` (port 0 →
/// ephemeral).
pub async fn serve(
    addr: SocketAddr,
    lib: Library,
    shutdown: CancellationToken,
) -> Result<Served, LibraryError> {
    let app = mount(
        system::archive_status_router(lib.clone()),
        lib,
        addr,
        &shutdown,
    )?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| LibraryError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| LibraryError::Bind { addr, source })?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
    });
    Ok(Served { addr: bound, task })
}
