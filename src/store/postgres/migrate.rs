//! `iglive migrate --from SQLITE-FILE --to POSTGRES-URL`: copies a SQLite catalog into an
//! empty PostgreSQL one.
//!
//! Decisions: the target must be empty (every catalog table without rows), and there is no
//! `--force`: a non-empty catalog is another node's or an earlier copy's, and merging into it
//! could silently keep stale rows; to copy again, drop and recreate the database. The copy is
//! one transaction, so a failure (or Ctrl-C) leaves the target empty and the command can just
//! be run again. Rows go in batches of multi-row INSERTs; the id sequences are moved past the
//! copied ids; after the commit every table's count is compared with the source's. The search
//! indexes of SQLite (FTS5) are not copied: comments are copied in their order, and the
//! PostgreSQL catalog fills its own search columns when a node next opens it.

use rusqlite::types::ValueRef;
use tokio_postgres::types::ToSql;

use super::apply::storable;
use super::PgCatalog;
use crate::store::{Store, StoreError};

/// A column's type in both catalogs.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Real,
    Int,
    Bool,
}

use Kind::{Bool as B, Int as I, Real as R, Text as T};

/// Every table copied, parents first, with its columns.
const TABLES: &[(&str, &[(&str, Kind)])] = &[
    (
        "accounts",
        &[
            ("user_id", T),
            ("username", T),
            ("full_name", T),
            ("is_verified", B),
            ("label", T),
            ("updated_at", R),
        ],
    ),
    (
        "broadcasts",
        &[
            ("broadcast_id", T),
            ("user_id", T),
            ("username", T),
            ("status", T),
            ("published_time", R),
            ("detected_at", R),
            ("ended_at", R),
            ("end_reason", T),
            ("dash_url", T),
            ("cover_frame_url", T),
            ("raw_json", T),
            ("updated_at", R),
            ("via", T),
        ],
    ),
    (
        "broadcast_status",
        &[
            ("id", I),
            ("broadcast_id", T),
            ("status", T),
            ("at", R),
            ("source", T),
        ],
    ),
    (
        "recordings",
        &[
            ("broadcast_id", T),
            ("state", T),
            ("folder", T),
            ("video", T),
            ("started_at", R),
            ("finished_at", R),
            ("error", T),
            ("duration_s", R),
            ("segments_expected", I),
            ("segments_captured", I),
            ("segments_missing", I),
            ("missing_ranges", T),
            ("bytes_captured", I),
            ("first_segment_t", I),
            ("rewind_used", B),
            ("quality", T),
            ("cut_by_shutdown", B),
            ("updated_at", R),
            ("merge_state", T),
            ("merge_deadline", R),
            ("video_start", R),
            ("upload_state", T),
        ],
    ),
    (
        "viewer_samples",
        &[
            ("id", I),
            ("broadcast_id", T),
            ("ts", R),
            ("viewer_count", R),
            ("total_unique_viewer_count", I),
            ("broadcast_status", T),
            ("offset_to_video_start", I),
            ("cobroadcaster_ids", T),
            ("offset_s", R),
        ],
    ),
    (
        "comments",
        &[
            ("broadcast_id", T),
            ("pk", T),
            ("user_id", T),
            ("username", T),
            ("text", T),
            ("created_at", R),
            ("offset_s", R),
            ("kind", T),
            ("source", T),
            ("raw_json", T),
        ],
    ),
    (
        "like_samples",
        &[
            ("id", I),
            ("broadcast_id", T),
            ("ts", R),
            ("likes", I),
            ("burst_likes", I),
            ("offset_s", R),
            ("source", T),
        ],
    ),
    ("cursors", &[("broadcast_id", T), ("name", T), ("value", T)]),
    (
        "recording_stats",
        &[
            ("broadcast_id", T),
            ("comments", I),
            ("likes", I),
            ("peak_viewers", R),
            ("last_change", R),
        ],
    ),
];

/// Tables with an identity `id` whose sequence must move past the copied ids.
const WITH_IDS: &[&str] = &["broadcast_status", "viewer_samples", "like_samples"];

/// Most rows in one INSERT.
const ROWS_PER_INSERT: usize = 1000;

/// One table's rows in the source and, after the copy, in the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    pub table: &'static str,
    pub source: i64,
    pub target: i64,
}

/// One value read from SQLite, typed for PostgreSQL.
#[derive(Debug)]
enum Cell {
    Text(Option<String>),
    Real(Option<f64>),
    Int(Option<i64>),
    Bool(Option<bool>),
}

impl Cell {
    fn read(v: ValueRef<'_>, kind: Kind) -> Cell {
        let int = match v {
            ValueRef::Integer(i) => Some(i),
            ValueRef::Real(f) => Some(f as i64),
            ValueRef::Text(t) => String::from_utf8_lossy(t).parse().ok(),
            _ => None,
        };
        match kind {
            Kind::Text => Cell::Text(match v {
                ValueRef::Null => None,
                ValueRef::Integer(i) => Some(i.to_string()),
                ValueRef::Real(f) => Some(f.to_string()),
                ValueRef::Text(t) | ValueRef::Blob(t) => {
                    Some(storable(&String::from_utf8_lossy(t)))
                }
            }),
            Kind::Real => Cell::Real(match v {
                ValueRef::Real(f) => Some(f),
                ValueRef::Integer(i) => Some(i as f64),
                ValueRef::Text(t) => String::from_utf8_lossy(t).parse().ok(),
                _ => None,
            }),
            Kind::Int => Cell::Int(int),
            Kind::Bool => Cell::Bool(int.map(|i| i != 0)),
        }
    }

    fn param(&self) -> &(dyn ToSql + Sync) {
        match self {
            Cell::Text(v) => v,
            Cell::Real(v) => v,
            Cell::Int(v) => v,
            Cell::Bool(v) => v,
        }
    }
}

fn sqlite_err(e: rusqlite::Error) -> StoreError {
    StoreError::Query(e)
}

/// The query reading `table`'s rows from SQLite. Comments come in the order of the search
/// index (`comments_fts`, the order they were stored), so that the PostgreSQL catalog's `seq`
/// numbers them alike and search pages newest stored first as before; a comment missing from
/// the index (none should be) comes first.
fn select(table: &str, names: &[&str]) -> String {
    if table == "comments" {
        let cols: Vec<String> = names.iter().map(|n| format!("c.{n}")).collect();
        format!(
            "WITH f AS MATERIALIZED (SELECT rowid AS pos, broadcast_id, pk FROM comments_fts)
             SELECT {} FROM comments c
             LEFT JOIN f ON f.broadcast_id = c.broadcast_id AND f.pk = c.pk
             ORDER BY f.pos, c.created_at",
            cols.join(", ")
        )
    } else {
        format!("SELECT {} FROM {table}", names.join(", "))
    }
}

/// Copies every table of `source` into the empty catalog `target`; the counts, verified.
pub async fn copy(
    source: &Store,
    target: &PgCatalog,
    mut progress: impl FnMut(&str, i64),
) -> Result<Vec<TableCount>, StoreError> {
    let conn = source.connect()?;
    let mut client = target.connect_raw().await?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| target.query_error(e))?;
    for (table, _) in TABLES {
        let n: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .map_err(|e| target.query_error(e))?
            .get(0);
        if n > 0 {
            return Err(StoreError::Other(format!(
                "{}: table {table} already holds {n} rows: iglive migrate copies into an empty catalog only; drop and recreate the database (DROP DATABASE …; CREATE DATABASE …) to copy again",
                target.url()
            )));
        }
    }
    let mut counts = Vec::new();
    for (table, cols) in TABLES {
        let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
        let mut stmt = conn.prepare(&select(table, &names)).map_err(sqlite_err)?;
        let mut rows = stmt.query([]).map_err(sqlite_err)?;
        let mut pending: Vec<Cell> = Vec::new();
        let mut copied = 0i64;
        loop {
            let row = rows.next().map_err(sqlite_err)?;
            if let Some(r) = row {
                for (i, (_, kind)) in cols.iter().enumerate() {
                    pending.push(Cell::read(r.get_ref(i).map_err(sqlite_err)?, *kind));
                }
            }
            let full = pending.len() >= ROWS_PER_INSERT * cols.len();
            if (full || row.is_none()) && !pending.is_empty() {
                let n = pending.len() / cols.len();
                let values: Vec<String> = (0..n)
                    .map(|r| {
                        let ps: Vec<String> = (0..cols.len())
                            .map(|c| format!("${}", r * cols.len() + c + 1))
                            .collect();
                        format!("({})", ps.join(", "))
                    })
                    .collect();
                let sql = format!(
                    "INSERT INTO {table} ({}) VALUES {}",
                    names.join(", "),
                    values.join(", ")
                );
                let params: Vec<&(dyn ToSql + Sync)> = pending.iter().map(Cell::param).collect();
                tx.execute(&sql, &params)
                    .await
                    .map_err(|e| target.query_error(e))?;
                copied += n as i64;
                pending.clear();
            }
            if row.is_none() {
                break;
            }
        }
        progress(table, copied);
        counts.push(TableCount {
            table,
            source: copied,
            target: 0,
        });
    }
    for table in WITH_IDS {
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                               coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
            ),
            &[],
        )
        .await
        .map_err(|e| target.query_error(e))?;
    }
    tx.commit().await.map_err(|e| target.query_error(e))?;
    for c in &mut counts {
        let source_n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {}", c.table), [], |r| {
                r.get(0)
            })
            .map_err(sqlite_err)?;
        c.source = source_n;
        c.target = client
            .query_one(&format!("SELECT count(*) FROM {}", c.table), &[])
            .await
            .map_err(|e| target.query_error(e))?
            .get(0);
    }
    Ok(counts)
}
