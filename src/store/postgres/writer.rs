//! The PostgreSQL writer: the same queue, `Write` messages and `Writer` handle as SQLite's
//! (`store/writer.rs`), consumed by an async task on the writer's own thread and runtime (so
//! `WriterThread::join` works the same, and a slow database never takes a worker of the
//! daemon's runtime). Writes are batched into one transaction per batch over one connection.
//!
//! Failure policy, as SQLite's: a row PostgreSQL rejects (a constraint or data error, e.g. a
//! text holding a NUL character, which SQLite stores but PostgreSQL cannot) is skipped with a
//! warning and the rest of the batch commits (the batch is then replayed with a
//! savepoint per row, since an error aborts a PostgreSQL transaction); a failure of the
//! database itself (server restarted, connection lost, disk full) rolls the batch back,
//! reconnects and retries it with backoff (capped at 5 s, each connect bounded by the
//! connect timeout), so no batch is lost while the daemon runs; at shutdown it gives up after
//! five attempts. A batch whose COMMIT was cut off is replayed: upserts and the unique
//! comments and likes make that harmless; a viewer sample or status change may then be stored
//! twice.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use super::apply::{comments, ops, pipeline, Op, Prepared};
use super::PgCatalog;
use crate::backoff::Backoff;
use crate::store::writer::{Msg, MAX_BATCH};
use crate::store::{now_unix, CommentRow, StoreError, Write, Writer, WriterStats, WriterThread};

/// One connection of the writer and its prepared statements.
struct Conn {
    client: Client,
    prepared: Prepared,
}

/// Starts the writer thread; it connects on its first batch.
pub(super) fn spawn(pg: &PgCatalog) -> Result<(Writer, WriterThread), StoreError> {
    let (writer, rx) = Writer::channel();
    let stats = writer.stats().clone();
    let pg = pg.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError::Other(format!("cannot start the database writer: {e}")))?;
    let thread = WriterThread::start(move || rt.block_on(run(pg, rx, stats)))?;
    Ok((writer, thread))
}

async fn run(pg: PgCatalog, mut rx: mpsc::Receiver<Msg>, stats: std::sync::Arc<WriterStats>) {
    let mut conn: Option<Conn> = None;
    let mut batch: Vec<Write> = Vec::new();
    let mut acks: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.recv().await {
        let started = Instant::now();
        let push = |m: Msg, batch: &mut Vec<Write>, acks: &mut Vec<oneshot::Sender<()>>| match m {
            Msg::Write(w) => batch.push(w),
            Msg::Flush(a) => acks.push(a),
        };
        push(first, &mut batch, &mut acks);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => push(m, &mut batch, &mut acks),
                Err(_) => break,
            }
        }
        commit_with_retry(&pg, &mut conn, &batch, &stats, rx.is_closed()).await;
        stats.batch_waited(started);
        batch.clear();
        for a in acks.drain(..) {
            let _ = a.send(());
        }
    }
}

async fn commit_with_retry(
    pg: &PgCatalog,
    conn: &mut Option<Conn>,
    batch: &[Write],
    stats: &WriterStats,
    closing: bool,
) {
    if batch.is_empty() {
        return;
    }
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let outcome = match conn.as_mut().filter(|c| !c.client.is_closed()) {
            Some(c) => commit(c, batch).await.map_err(|e| pg.describe(&e)),
            None => match pg.connect_raw().await {
                Ok(client) => {
                    let c = conn.insert(Conn {
                        client,
                        prepared: Prepared::default(),
                    });
                    commit(c, batch).await.map_err(|e| pg.describe(&e))
                }
                Err(e) => Err(e.to_string()),
            },
        };
        match outcome {
            Ok((written, rejected)) => {
                stats.committed(written, rejected);
                return;
            }
            Err(e) => {
                if conn.as_ref().is_some_and(|c| c.client.is_closed()) {
                    *conn = None;
                }
                let msg = stats.failed(batch.len(), &e);
                if closing && attempt >= 5 {
                    tracing::error!("{msg}; giving up at shutdown, these rows are lost");
                    return;
                }
                let delay = backoff.next_delay();
                tracing::error!("{msg}; retrying in {delay:?} (is PostgreSQL up and reachable?)");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// A row's own fault (it is skipped), as opposed to the database's (the batch is retried).
fn is_row_error(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        let class = &c.code()[..2];
        (class == "22" || class == "23") && *c != SqlState::DISK_FULL
    })
}

/// Commits the batch (pipelined); the rows written and rejected.
async fn commit(c: &mut Conn, batch: &[Write]) -> Result<(u64, u64), tokio_postgres::Error> {
    let now = now_unix();
    let fast = with_comment_runs(batch, now);
    let flat: Vec<&Op> = fast.iter().collect();
    let tx = c.client.transaction().await?;
    let outcomes = pipeline(&mut c.prepared, &tx, &flat).await?;
    // The first failure in order is the cause; the ones after it only say the transaction
    // was aborted.
    if let Some(e) = outcomes.into_iter().find_map(Result::err) {
        if is_row_error(&e) {
            drop(tx);
            return commit_row_by_row(c, batch, now).await;
        }
        return Err(e);
    }
    tx.commit().await?;
    Ok((batch.len() as u64, 0))
}

/// The batch's ops in order, each run of consecutive comments as one statement (the comment
/// pollers write them by the page). Runs keep the order against every other write: an offset
/// rebase between two comments still applies to the first and not to the second.
fn with_comment_runs(batch: &[Write], now: f64) -> Vec<Op> {
    let mut out = Vec::new();
    let mut run: Vec<&CommentRow> = Vec::new();
    let flush = |run: &mut Vec<&CommentRow>, out: &mut Vec<Op>| {
        match run.as_slice() {
            [] => {}
            [one] => out.extend(ops(&Write::Comment((*one).clone()), now)),
            many => out.push(comments(many, now)),
        }
        run.clear();
    };
    for w in batch {
        match w {
            Write::Comment(c) => run.push(c),
            other => {
                flush(&mut run, &mut out);
                out.extend(ops(other, now));
            }
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The slow path of a batch holding a rejected row: one savepoint per row.
async fn commit_row_by_row(
    c: &mut Conn,
    batch: &[Write],
    now: f64,
) -> Result<(u64, u64), tokio_postgres::Error> {
    let mut tx = c.client.transaction().await?;
    let (mut written, mut rejected) = (0u64, 0u64);
    for w in batch {
        let sp = tx.savepoint("row").await?;
        let own = ops(w, now);
        let row: Vec<&Op> = own.iter().collect();
        let failed = pipeline(&mut c.prepared, &sp, &row)
            .await?
            .into_iter()
            .find_map(Result::err);
        match failed {
            None => {
                sp.commit().await?;
                written += 1;
            }
            Some(e) if is_row_error(&e) => {
                sp.rollback().await?;
                rejected += 1;
                tracing::warn!("a row was rejected by the database and skipped: {e}: {w:?}");
            }
            Some(e) => return Err(e),
        }
    }
    tx.commit().await?;
    Ok((written, rejected))
}

/// Connects without a pool (the writer keeps its own connection on its own runtime).
pub(super) async fn connect(
    config: &tokio_postgres::Config,
) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("the database writer's connection ended: {e}");
        }
    });
    Ok(client)
}
