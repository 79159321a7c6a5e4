//! SQLite store: one file in WAL mode, versioned migrations, one batched writer thread, and
//! short-lived read connections for the CLI and the status endpoint.

mod apply;
pub(crate) mod browse;
mod catalog;
pub mod postgres;
pub mod query;
mod rows;
pub(crate) mod schema;
pub(crate) mod search;
mod stats;
mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use catalog::Catalog;
pub use postgres::{NodeClaim, PgCatalog, PostgresUrl, PG_SCHEMA_VERSION};
pub use rows::*;
pub use writer::{Write, Writer, WriterStats, WriterThread};

/// What can go wrong with the database, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: cannot open the database: {source} (is the folder writable and the disk not full?)")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{path}: database migration failed: {source}")]
    Migrate {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{path}: the database has schema version {found}, newer than this iglive ({supported}); upgrade iglive")]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("database query failed: {0}")]
    Query(#[from] rusqlite::Error),
    /// A PostgreSQL failure, worded with the URL's password masked.
    #[error("PostgreSQL catalog {0}")]
    Postgres(String),
    #[error("PostgreSQL catalog: reading a row failed: {0}")]
    PgRow(#[from] tokio_postgres::Error),
    #[error("the database writer has stopped")]
    WriterClosed,
    #[error("{0}")]
    Other(String),
}

/// The database file; cheap to clone, opens connections on demand.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    /// Opens (creating when missing) the database and applies pending migrations.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        }
        let store = Store {
            path: path.to_path_buf(),
        };
        let mut conn = store.connect()?;
        let report = schema::migrate(&mut conn).map_err(|source| StoreError::Migrate {
            path: path.to_path_buf(),
            source,
        })?;
        if report.newer_than_binary {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found: report.from,
                supported: schema::SCHEMA_VERSION,
            });
        }
        if report.from != report.to {
            tracing::info!(
                "database {}: schema migrated from version {} to {}",
                path.display(),
                report.from,
                report.to
            );
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new connection with the daemon's pragmas (WAL, foreign keys, a busy timeout so readers
    /// and the writer wait for each other instead of failing).
    pub fn connect(&self) -> Result<Connection, StoreError> {
        let open = |source| StoreError::Open {
            path: self.path.clone(),
            source,
        };
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(open)?;
        // Switching to WAL needs a moment of exclusive access, and SQLite answers "busy" at
        // once (without the busy timeout) when another connection opens at the same time.
        let mut attempts = 0;
        loop {
            let mode: Result<String, _> =
                conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0));
            match mode {
                Ok(_) => break,
                Err(e)
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                        && attempts < 100 =>
                {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(20 + 5 * attempts));
                }
                Err(e) => return Err(open(e)),
            }
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open)?;
        Ok(conn)
    }
}
