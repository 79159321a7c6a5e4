//! The single writer: every producer (pollers, capture, supervisor) sends rows here, and one
//! thread commits them in batched transactions. SQLite allows one writer at a time and rusqlite
//! is blocking, so this keeps writes off the async workers and amortises each commit's fsync
//! over thousands of rows.
//!
//! Failure policy: a row SQLite rejects (a constraint) is skipped with a warning and the rest of
//! the batch commits; a failure of the database itself (disk full, I/O error, locked) rolls the
//! batch back and retries it with backoff, so no batch is lost while the daemon runs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode};
use tokio::sync::{mpsc, oneshot};

use super::apply;
use super::rows::*;
use super::{Store, StoreError};
use crate::backoff::Backoff;

/// One write the recorder wants persisted.
#[derive(Debug, Clone)]
pub enum Write {
    Account(AccountRow),
    Broadcast(BroadcastRow),
    /// Appended to the status history only when it differs from the last recorded status.
    Status {
        broadcast_id: String,
        status: BroadcastStatus,
        at: f64,
        source: StatusSource,
    },
    Recording(RecordingRow),
    Viewer(ViewerSample),
    Comment(CommentRow),
    Like(LikeSample),
    Cursor {
        broadcast_id: String,
        name: String,
        value: String,
    },
    /// Sets every offset of a broadcast's comments and samples from the unix time where its
    /// video starts, once the capture knows it.
    Offsets {
        broadcast_id: String,
        video_start: f64,
    },
    /// Where the engagement merge after the end stands, whatever the recording's state.
    Merge {
        broadcast_id: String,
        state: MergeState,
    },
    /// Where the upload of the finished folder to object storage stands.
    Upload {
        broadcast_id: String,
        state: UploadState,
    },
}

// Almost every message is a write; boxing them would add an allocation per row.
#[allow(clippy::large_enum_variant)]
pub(super) enum Msg {
    Write(Write),
    Flush(oneshot::Sender<()>),
}

/// Most rows in one transaction; bounded so one commit never holds the lock for long.
pub(super) const MAX_BATCH: usize = 20_000;
/// Queue depth before producers wait (backpressure instead of unbounded memory).
const QUEUE: usize = 50_000;

/// Counters and health of the writer, for the status endpoint and benchmarks.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub rows_written: AtomicU64,
    pub rows_rejected: AtomicU64,
    pub batches: AtomicU64,
    pub batch_retries: AtomicU64,
    /// Total and max microseconds a batch's first row waited before its commit finished.
    pub wait_us_total: AtomicU64,
    pub healthy: AtomicBool,
    pub last_error: Mutex<Option<String>>,
    /// Per-batch wait times (µs) when `record_waits` is on (benchmarks only).
    pub waits: Mutex<Vec<u64>>,
    pub record_waits: AtomicBool,
}

impl WriterStats {
    /// A batch committed (or given up) `started` after its first row arrived.
    pub(super) fn batch_waited(&self, started: Instant) {
        let waited = started.elapsed().as_micros() as u64;
        self.wait_us_total.fetch_add(waited, Ordering::Relaxed);
        if self.record_waits.load(Ordering::Relaxed) {
            if let Ok(mut w) = self.waits.lock() {
                w.push(waited);
            }
        }
    }

    /// A commit went through.
    pub(super) fn committed(&self, written: u64, rejected: u64) {
        self.rows_written.fetch_add(written, Ordering::Relaxed);
        self.rows_rejected.fetch_add(rejected, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        if !self.healthy.swap(true, Ordering::Relaxed) {
            tracing::info!("database writes recovered");
        }
    }

    /// A commit failed and the batch waits for its retry; returns the message logged.
    pub(super) fn failed(&self, rows: usize, error: &str) -> String {
        self.healthy.store(false, Ordering::Relaxed);
        self.batch_retries.fetch_add(1, Ordering::Relaxed);
        let msg = format!("database write of {rows} rows failed: {error}");
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(msg.clone());
        }
        msg
    }
}

/// A cloneable handle for sending rows to the writer thread.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
    stats: Arc<WriterStats>,
}

/// The writer thread; `join` waits for it to commit everything after the last `Writer` is dropped.
pub struct WriterThread {
    handle: std::thread::JoinHandle<()>,
}

impl WriterThread {
    pub fn join(self) {
        if self.handle.join().is_err() {
            tracing::error!("the database writer thread panicked");
        }
    }
}

impl WriterThread {
    /// Starts the thread that consumes the writer's queue.
    pub(super) fn start(run: impl FnOnce() + Send + 'static) -> Result<WriterThread, StoreError> {
        let handle = std::thread::Builder::new()
            .name("iglive-db-writer".into())
            .spawn(run)
            .map_err(|e| StoreError::Other(format!("cannot start the database writer: {e}")))?;
        Ok(WriterThread { handle })
    }
}

impl Writer {
    /// Starts the writer thread on its own connection.
    pub fn spawn(store: &Store) -> Result<(Writer, WriterThread), StoreError> {
        let conn = store.connect()?;
        let (writer, rx) = Writer::channel();
        let thread_stats = writer.stats.clone();
        let thread = WriterThread::start(move || run(conn, rx, thread_stats))?;
        Ok((writer, thread))
    }

    /// A handle and the queue it feeds (bounded: producers wait when it is full).
    pub(super) fn channel() -> (Writer, mpsc::Receiver<Msg>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let stats = Arc::new(WriterStats {
            healthy: AtomicBool::new(true),
            ..Default::default()
        });
        (Writer { tx, stats }, rx)
    }

    pub async fn send(&self, w: Write) -> Result<(), StoreError> {
        self.tx
            .send(Msg::Write(w))
            .await
            .map_err(|_| StoreError::WriterClosed)
    }

    /// For producers on blocking threads.
    pub fn blocking_send(&self, w: Write) -> Result<(), StoreError> {
        self.tx
            .blocking_send(Msg::Write(w))
            .map_err(|_| StoreError::WriterClosed)
    }

    /// Waits until everything sent before this call is committed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Msg::Flush(ack))
            .await
            .map_err(|_| StoreError::WriterClosed)?;
        done.await.map_err(|_| StoreError::WriterClosed)
    }

    pub fn stats(&self) -> &Arc<WriterStats> {
        &self.stats
    }
}

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Msg>, stats: Arc<WriterStats>) {
    let mut batch: Vec<Write> = Vec::new();
    let mut acks: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
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
        commit_with_retry(&mut conn, &batch, &stats, rx.is_closed());
        stats.batch_waited(started);
        batch.clear();
        for a in acks.drain(..) {
            let _ = a.send(());
        }
    }
}

fn commit_with_retry(conn: &mut Connection, batch: &[Write], stats: &WriterStats, closing: bool) {
    if batch.is_empty() {
        return;
    }
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match commit(conn, batch) {
            Ok((written, rejected)) => {
                stats.committed(written, rejected);
                return;
            }
            Err(e) => {
                let msg = stats.failed(batch.len(), &e.to_string());
                // While the daemon runs the batch is kept and retried (free some disk space and
                // it goes through); at shutdown, give up after a few attempts rather than hang.
                if closing && attempt >= 5 {
                    tracing::error!("{msg}; giving up at shutdown, these rows are lost");
                    return;
                }
                let delay = backoff.next_delay();
                tracing::error!("{msg}; retrying in {delay:?} (is the disk full?)");
                std::thread::sleep(delay);
            }
        }
    }
}

/// Errors that mean the database itself cannot take writes now (as opposed to one bad row).
fn is_database_failure(e: &rusqlite::Error) -> bool {
    match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation)
        | Some(ErrorCode::TypeMismatch)
        | Some(ErrorCode::TooBig)
        | Some(ErrorCode::ParameterOutOfRange) => false,
        Some(_) => true,
        None => false,
    }
}

/// Commits the batch; the rows written and rejected.
fn commit(conn: &mut Connection, batch: &[Write]) -> rusqlite::Result<(u64, u64)> {
    let tx = conn.transaction()?;
    let mut written = 0u64;
    let mut rejected = 0u64;
    for w in batch {
        match apply::apply(&tx, w) {
            Ok(()) => written += 1,
            Err(e) if is_database_failure(&e) => return Err(e),
            Err(e) => {
                rejected += 1;
                tracing::warn!("a row was rejected by the database and skipped: {e}: {w:?}");
            }
        }
    }
    tx.commit()?;
    Ok((written, rejected))
}
