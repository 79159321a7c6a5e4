//! The PostgreSQL catalog: the same tables, writes and reads as the SQLite store, for several
//! iglive nodes sharing one database.
//!
//! Driver: tokio-postgres with deadpool-postgres. iglive is a tokio daemon whose SQL is
//! hand-written per backend already (SQLite's FTS5, upserts, keyset paging), so what it needs
//! from a PostgreSQL client is an async connection, prepared statements, transactions and
//! savepoints, and a pool for the reads — which these two give with a small dependency tree
//! (no macros, no compile-time database, no second runtime abstraction). sqlx would bring
//! its own SQLite driver beside rusqlite, offline query metadata for its checked macros (which
//! need a database at build time), and its migration engine where iglive already versions
//! its schema itself. TLS is not offered yet (`NoTls`): reach the server over loopback, a
//! private network or a tunnel.
//!
//! The password in the URL never reaches a log or an error: see [`PostgresUrl`].

mod apply;
mod browse;
mod claim;
mod lease;
pub(crate) mod migrate;
mod query;
mod schema;
mod writer;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

pub use crate::config::PostgresUrl;
pub use claim::NodeClaim;
pub use lease::{Beat, Holder, LeaseRow, Orphan};
pub use query::FactsRow;
pub use schema::PG_SCHEMA_VERSION;

use super::{StoreError, Writer, WriterThread};

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Most pooled read connections of one process.
const POOL_SIZE: usize = 8;

/// A PostgreSQL catalog: a pool of read connections (the writer has its own connection);
/// cheap to clone.
#[derive(Clone)]
pub struct PgCatalog(std::sync::Arc<Shared>);

struct Shared {
    pool: Pool,
    config: tokio_postgres::Config,
    url: PostgresUrl,
}

impl std::fmt::Debug for PgCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgCatalog({})", self.0.url)
    }
}

impl PgCatalog {
    /// Connects, checks the server answers, and applies pending migrations; a catalog written
    /// by a newer iglive is refused.
    pub async fn open(url: &PostgresUrl) -> Result<PgCatalog, StoreError> {
        let mut config: tokio_postgres::Config = url
            .expose()
            .parse()
            .map_err(|e| StoreError::Postgres(url.redact(&format!("{url}: {e}"))))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        if config.get_application_name().is_none() {
            config.application_name("iglive");
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT * 2))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Postgres(url.redact(&format!("{url}: {e}"))))?;
        let pg = PgCatalog(std::sync::Arc::new(Shared {
            pool,
            config,
            url: url.clone(),
        }));
        let mut client = pg.connect_raw().await?;
        let report = schema::migrate(&mut client).await.map_err(|e| {
            StoreError::Postgres(format!("{url}: migration failed: {}", pg.describe(&e)))
        })?;
        if report.newer_than_binary {
            return Err(StoreError::TooNew {
                path: url.redacted().into(),
                found: report.from,
                supported: PG_SCHEMA_VERSION,
            });
        }
        let filled = pg.backfill_search(&client).await?;
        if filled > 0 {
            tracing::info!(catalog = %url, "PostgreSQL catalog: {filled} comments indexed for search");
        }
        if report.from != report.to {
            tracing::info!(
                catalog = %url,
                "PostgreSQL catalog: schema migrated from version {} to {}",
                report.from,
                report.to
            );
        }
        Ok(pg)
    }

    /// The URL (it shows redacted).
    pub fn url(&self) -> &PostgresUrl {
        &self.0.url
    }

    /// Starts the batched writer on its own connection.
    pub fn spawn_writer(&self) -> Result<(Writer, WriterThread), StoreError> {
        writer::spawn(self)
    }

    /// A pooled connection for reads.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.0.pool.get().await.map_err(|e| {
            let why = match &e {
                deadpool_postgres::PoolError::Backend(b) => self.describe(b),
                other => other.to_string(),
            };
            StoreError::Postgres(self.0.url.redact(&format!("{}: {why}", self.0.url)))
        })
    }

    /// A connection of its own (migrations, the writer), bounded by the connect timeout.
    pub(crate) async fn connect_raw(&self) -> Result<tokio_postgres::Client, StoreError> {
        let attempt = tokio::time::timeout(CONNECT_TIMEOUT * 2, writer::connect(&self.0.config));
        match attempt.await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(StoreError::Postgres(format!(
                "{}: {}",
                self.0.url,
                self.describe(&e)
            ))),
            Err(_) => Err(StoreError::Postgres(format!(
                "{}: no answer within {:?}: is PostgreSQL running there and reachable?",
                self.0.url,
                CONNECT_TIMEOUT * 2
            ))),
        }
    }

    /// A driver error worded for the operator (what happened, what to do), password masked.
    pub(crate) fn describe(&self, e: &tokio_postgres::Error) -> String {
        use tokio_postgres::error::SqlState;
        let text = match e.as_db_error() {
            Some(db) if *db.code() == SqlState::INVALID_PASSWORD => format!(
                "{}: check the user and password in the URL (cluster.postgres_url or the file cluster.postgres_url_file names)",
                db.message()
            ),
            Some(db) if *db.code() == SqlState::INVALID_CATALOG_NAME => format!(
                "{}: create it (CREATE DATABASE …) or fix the URL's database name",
                db.message()
            ),
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => {
                let mut text = e.to_string();
                let mut source = std::error::Error::source(e);
                while let Some(s) = source {
                    text.push_str(&format!(": {s}"));
                    source = s.source();
                }
                if e.is_closed() || text.contains("connect") || text.contains("refused") {
                    text.push_str(": is PostgreSQL running there and reachable?");
                }
                text
            }
        };
        self.0.url.redact(&text)
    }

    /// Every recording row a query error turns into, worded with the redacted URL.
    pub(crate) fn query_error(&self, e: tokio_postgres::Error) -> StoreError {
        StoreError::Postgres(format!(
            "{}: query failed: {}",
            self.0.url,
            self.describe(&e)
        ))
    }
}
