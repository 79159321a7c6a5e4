//! The catalog: one interface over the two backends. SQLite (`Store`, the default: one file,
//! one node) or PostgreSQL (`PgCatalog`, `[cluster] postgres_url`: several nodes sharing a
//! database). Both take the same `Write`s through the same `Writer` handle and answer the
//! same reads with the same types; each backend keeps its own SQL (`store/query.rs` and
//! `store/postgres/query.rs`).
//!
//! The library's paged browsing and chat search have their own dispatch
//! (`library/reads.rs`): on SQLite they run `browse.rs` and `search.rs` on the library's
//! pooled connections, on PostgreSQL `postgres/browse.rs`.

use std::collections::HashSet;

use super::postgres::PgCatalog;
use super::query::{
    self, AccountActivity, CommentExport, LikeExport, ListFilter, MergeFacts, PendingMerge,
    PendingUpload, RecordingSummary, Unfinished, ViewerExport,
};
use super::{Store, StoreError, Writer, WriterThread};
use crate::config::Config;

/// Where the recorder's facts are kept.
#[derive(Debug, Clone)]
pub enum Catalog {
    Sqlite(Store),
    Postgres(PgCatalog),
}

impl From<Store> for Catalog {
    fn from(s: Store) -> Catalog {
        Catalog::Sqlite(s)
    }
}

/// Runs one SQLite read on a blocking thread with a fresh connection.
async fn on_sqlite<T: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store.connect()?))
        .await
        .map_err(|e| StoreError::Other(format!("a database read stopped: {e}")))?
}

/// One read, on whichever backend: `$sqlite` is a closure over a connection, `$pg` an
/// expression over the PostgreSQL catalog.
macro_rules! read {
    ($self:ident, |$conn:ident| $sqlite:expr, |$pgc:ident| $pg:expr) => {
        match $self {
            Catalog::Sqlite(s) => on_sqlite(s, move |$conn| $sqlite).await,
            Catalog::Postgres($pgc) => $pg.await,
        }
    };
}

impl Catalog {
    /// The catalog the config names: PostgreSQL with `[cluster]`, else the SQLite file.
    pub async fn open(cfg: &Config) -> Result<Catalog, StoreError> {
        match &cfg.cluster.postgres {
            Some(source) => {
                let url = source.read().map_err(StoreError::Other)?;
                Ok(Catalog::Postgres(PgCatalog::open(&url).await?))
            }
            None => Ok(Catalog::Sqlite(Store::open(&cfg.storage.database)?)),
        }
    }

    /// The SQLite store, for what only it offers (`doctor`'s write check, the library's pooled
    /// connections).
    pub fn sqlite(&self) -> Option<&Store> {
        match self {
            Catalog::Sqlite(s) => Some(s),
            Catalog::Postgres(_) => None,
        }
    }

    /// Where it is, for messages (a path, or the URL with its password masked).
    pub fn describe(&self) -> String {
        match self {
            Catalog::Sqlite(s) => s.path().display().to_string(),
            Catalog::Postgres(p) => p.url().redacted(),
        }
    }

    /// Starts the batched writer.
    pub fn spawn_writer(&self) -> Result<(Writer, WriterThread), StoreError> {
        match self {
            Catalog::Sqlite(s) => Writer::spawn(s),
            Catalog::Postgres(p) => p.spawn_writer(),
        }
    }

    /// The database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        read!(
            self,
            |c| c
                .query_row("SELECT 1", [], |_| Ok(()))
                .map_err(StoreError::from),
            |p| p.ping()
        )
    }

    pub async fn list_recordings(
        &self,
        filter: &ListFilter,
    ) -> Result<Vec<RecordingSummary>, StoreError> {
        let f = filter.clone();
        read!(self, |c| query::list_recordings(c, &f), |p| p
            .list_recordings(filter))
    }

    pub async fn recording(&self, id: &str) -> Result<Option<RecordingSummary>, StoreError> {
        let i = id.to_string();
        read!(self, |c| query::recording(c, &i), |p| p.recording(id))
    }

    pub async fn comments(&self, id: &str) -> Result<Vec<CommentExport>, StoreError> {
        let i = id.to_string();
        read!(self, |c| query::comments(c, &i), |p| p.comments(id))
    }

    pub async fn likes(&self, id: &str) -> Result<Vec<LikeExport>, StoreError> {
        let i = id.to_string();
        read!(self, |c| query::likes(c, &i), |p| p.likes(id))
    }

    pub async fn viewers(&self, id: &str) -> Result<Vec<ViewerExport>, StoreError> {
        let i = id.to_string();
        read!(self, |c| query::viewers(c, &i), |p| p.viewers(id))
    }

    pub async fn cursor(&self, id: &str, name: &str) -> Result<Option<String>, StoreError> {
        let (i, n) = (id.to_string(), name.to_string());
        read!(self, |c| query::cursor(c, &i, &n), |p| p.cursor(id, name))
    }

    pub async fn broadcast_known(&self, id: &str) -> Result<bool, StoreError> {
        let i = id.to_string();
        read!(self, |c| query::broadcast_known(c, &i), |p| p
            .broadcast_known(id))
    }

    /// Every broadcast id the catalog knows (detection's memory).
    pub async fn broadcast_ids(&self) -> Result<HashSet<String>, StoreError> {
        read!(
            self,
            |c| {
                let mut stmt = c.prepare("SELECT broadcast_id FROM broadcasts")?;
                let ids = stmt
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<HashSet<_>, _>>()?;
                Ok(ids)
            },
            |p| p.broadcast_ids()
        )
    }

    pub async fn unfinished(&self) -> Result<Vec<Unfinished>, StoreError> {
        read!(self, |c| query::unfinished(c), |p| p.unfinished())
    }

    pub async fn pending_merges(&self) -> Result<Vec<PendingMerge>, StoreError> {
        read!(self, |c| query::pending_merges(c), |p| p.pending_merges())
    }

    /// Finished recordings whose upload to object storage is to be resumed.
    /// Claims the node name on a PostgreSQL catalog for this daemon (see `postgres/claim.rs`);
    /// a SQLite file needs no claim.
    pub async fn claim_node(
        &self,
        node: &str,
    ) -> Result<Option<super::postgres::NodeClaim>, StoreError> {
        match self {
            Catalog::Sqlite(_) => Ok(None),
            Catalog::Postgres(p) => p.claim_node(node).await.map(Some),
        }
    }

    /// The PostgreSQL catalog, for what only it offers (coordinating nodes).
    pub fn postgres(&self) -> Option<&PgCatalog> {
        match self {
            Catalog::Sqlite(_) => None,
            Catalog::Postgres(p) => Some(p),
        }
    }

    pub async fn pending_uploads(&self) -> Result<Vec<PendingUpload>, StoreError> {
        read!(self, |c| query::pending_uploads(c), |p| p.pending_uploads())
    }

    pub async fn merge_facts(&self, id: &str) -> Result<MergeFacts, StoreError> {
        let i = id.to_string();
        read!(self, |c| query::merge_facts(c, &i), |p| p.merge_facts(id))
    }

    pub async fn account_activity(&self, user_id: &str) -> Result<AccountActivity, StoreError> {
        let u = user_id.to_string();
        read!(self, |c| query::account_activity(c, &u), |p| p
            .account_activity(user_id))
    }

    /// Recordings by state, and the sums of bytes, segments captured and segments missing.
    pub async fn recording_totals(&self) -> Result<(Vec<(String, i64)>, [i64; 3]), StoreError> {
        read!(
            self,
            |c| {
                let by_state = c
                    .prepare("SELECT state, count(*) FROM recordings GROUP BY state")?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                let sums = c.query_row(
                    "SELECT coalesce(sum(bytes_captured),0), coalesce(sum(segments_captured),0),
                            coalesce(sum(segments_missing),0) FROM recordings",
                    [],
                    |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?]),
                )?;
                Ok((by_state, sums))
            },
            |p| p.recording_totals()
        )
    }
}
