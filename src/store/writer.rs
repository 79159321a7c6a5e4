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

use rusqlite::{params, Connection, ErrorCode};
use tokio::sync::{mpsc, oneshot};

use super::rows::*;
use super::{Store, StoreError};

/// One write the recorder wants persisted.
#[derive(Debug, Clone)]
pub enum Write {
    Account(AccountRow),
    Broadcast(BroadcastRow),
    /// Appended to the status history only when it differs from the last recorded status.
    Status {
        broadcast_id: String,
        status: String,
        at: f64,
        source: String,
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
}

// Almost every message is a write; boxing them would add an allocation per row.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Write(Write),
    Flush(oneshot::Sender<()>),
}

/// Most rows in one transaction; bounded so one commit never holds the lock for long.
const MAX_BATCH: usize = 20_000;
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

impl Writer {
    /// Starts the writer thread on its own connection.
    pub fn spawn(store: &Store) -> Result<(Writer, WriterThread), StoreError> {
        let conn = store.connect()?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let stats = Arc::new(WriterStats {
            healthy: AtomicBool::new(true),
            ..Default::default()
        });
        let thread_stats = stats.clone();
        let handle = std::thread::Builder::new()
            .name("iglive-db-writer".into())
            .spawn(move || run(conn, rx, thread_stats))
            .map_err(|e| StoreError::Other(format!("cannot start the database writer: {e}")))?;
        Ok((Writer { tx, stats }, WriterThread { handle }))
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
        let waited = started.elapsed().as_micros() as u64;
        stats.wait_us_total.fetch_add(waited, Ordering::Relaxed);
        if stats.record_waits.load(Ordering::Relaxed) {
            if let Ok(mut w) = stats.waits.lock() {
                w.push(waited);
            }
        }
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
    let mut delay = Duration::from_millis(100);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match commit(conn, batch, stats) {
            Ok(()) => {
                stats.batches.fetch_add(1, Ordering::Relaxed);
                if !stats.healthy.swap(true, Ordering::Relaxed) {
                    tracing::info!("database writes recovered");
                }
                return;
            }
            Err(e) => {
                stats.healthy.store(false, Ordering::Relaxed);
                stats.batch_retries.fetch_add(1, Ordering::Relaxed);
                let msg = format!("database write of {} rows failed: {e}", batch.len());
                if let Ok(mut last) = stats.last_error.lock() {
                    *last = Some(msg.clone());
                }
                // While the daemon runs the batch is kept and retried (free some disk space and
                // it goes through); at shutdown, give up after a few attempts rather than hang.
                if closing && attempt >= 5 {
                    tracing::error!("{msg}; giving up at shutdown, these rows are lost");
                    return;
                }
                tracing::error!("{msg}; retrying in {delay:?} (is the disk full?)");
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(5));
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

fn commit(conn: &mut Connection, batch: &[Write], stats: &WriterStats) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let mut written = 0u64;
    let mut rejected = 0u64;
    for w in batch {
        match apply(&tx, w) {
            Ok(()) => written += 1,
            Err(e) if is_database_failure(&e) => return Err(e),
            Err(e) => {
                rejected += 1;
                tracing::warn!("a row was rejected by the database and skipped: {e}: {w:?}");
            }
        }
    }
    tx.commit()?;
    stats.rows_written.fetch_add(written, Ordering::Relaxed);
    stats.rows_rejected.fetch_add(rejected, Ordering::Relaxed);
    Ok(())
}

fn apply(tx: &rusqlite::Transaction<'_>, w: &Write) -> rusqlite::Result<()> {
    let now = now_unix();
    match w {
        Write::Account(a) => {
            tx.prepare_cached(
                "INSERT INTO accounts (user_id, username, full_name, is_verified, label, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(user_id) DO UPDATE SET
                   username = coalesce(excluded.username, username),
                   full_name = coalesce(excluded.full_name, full_name),
                   is_verified = coalesce(excluded.is_verified, is_verified),
                   label = coalesce(excluded.label, label),
                   updated_at = excluded.updated_at",
            )?
            .execute(params![a.user_id, a.username, a.full_name, a.is_verified, a.label, now])?;
        }
        Write::Broadcast(b) => {
            tx.prepare_cached(
                "INSERT INTO broadcasts (broadcast_id, user_id, username, status, published_time,
                   detected_at, ended_at, end_reason, dash_url, cover_frame_url, raw_json, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT(broadcast_id) DO UPDATE SET
                   username = coalesce(excluded.username, username),
                   status = coalesce(excluded.status, status),
                   published_time = coalesce(excluded.published_time, published_time),
                   detected_at = coalesce(detected_at, excluded.detected_at),
                   ended_at = coalesce(excluded.ended_at, ended_at),
                   end_reason = coalesce(excluded.end_reason, end_reason),
                   dash_url = coalesce(excluded.dash_url, dash_url),
                   cover_frame_url = coalesce(excluded.cover_frame_url, cover_frame_url),
                   raw_json = coalesce(excluded.raw_json, raw_json),
                   updated_at = excluded.updated_at",
            )?
            .execute(params![
                b.broadcast_id,
                b.user_id,
                b.username,
                b.status,
                b.published_time,
                b.detected_at,
                b.ended_at,
                b.end_reason,
                b.dash_url,
                b.cover_frame_url,
                b.raw_json,
                now
            ])?;
        }
        Write::Status {
            broadcast_id,
            status,
            at,
            source,
        } => {
            tx.prepare_cached(
                "INSERT INTO broadcast_status (broadcast_id, status, at, source)
                 SELECT ?1, ?2, ?3, ?4
                 WHERE coalesce((SELECT status FROM broadcast_status WHERE broadcast_id = ?1
                                 ORDER BY at DESC, id DESC LIMIT 1), '') != ?2",
            )?
            .execute(params![broadcast_id, status, at, source])?;
            tx.prepare_cached(
                "UPDATE broadcasts SET status = ?2, updated_at = ?3 WHERE broadcast_id = ?1",
            )?
            .execute(params![broadcast_id, status, now])?;
        }
        Write::Recording(r) => {
            tx.prepare_cached(
                "INSERT INTO recordings (broadcast_id, state, folder, video, started_at, finished_at,
                   error, duration_s, segments_expected, segments_captured, segments_missing,
                   missing_ranges, bytes_captured, first_segment_t, rewind_used, quality,
                   cut_by_shutdown, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, coalesce(?9, 0), coalesce(?10, 0),
                   coalesce(?11, 0), ?12, coalesce(?13, 0), ?14, coalesce(?15, 0), ?16,
                   coalesce(?17, 0), ?18)
                 ON CONFLICT(broadcast_id) DO UPDATE SET
                   state = excluded.state,
                   folder = coalesce(excluded.folder, folder),
                   video = coalesce(excluded.video, video),
                   started_at = coalesce(started_at, excluded.started_at),
                   finished_at = coalesce(excluded.finished_at, finished_at),
                   error = CASE WHEN excluded.state IN ('failed') THEN excluded.error
                                ELSE coalesce(excluded.error, error) END,
                   duration_s = coalesce(excluded.duration_s, duration_s),
                   segments_expected = coalesce(?9, segments_expected),
                   segments_captured = coalesce(?10, segments_captured),
                   segments_missing = coalesce(?11, segments_missing),
                   missing_ranges = coalesce(excluded.missing_ranges, missing_ranges),
                   bytes_captured = coalesce(?13, bytes_captured),
                   first_segment_t = coalesce(excluded.first_segment_t, first_segment_t),
                   rewind_used = coalesce(?15, rewind_used),
                   quality = coalesce(excluded.quality, quality),
                   cut_by_shutdown = coalesce(?17, cut_by_shutdown),
                   updated_at = excluded.updated_at",
            )?
            .execute(params![
                r.broadcast_id,
                r.state,
                r.folder,
                r.video,
                r.started_at,
                r.finished_at,
                r.error,
                r.duration_s,
                r.segments_expected,
                r.segments_captured,
                r.segments_missing,
                r.missing_ranges,
                r.bytes_captured,
                r.first_segment_t,
                r.rewind_used,
                r.quality,
                r.cut_by_shutdown,
                now
            ])?;
        }
        Write::Viewer(v) => {
            tx.prepare_cached(
                "INSERT INTO viewer_samples (broadcast_id, ts, viewer_count, total_unique_viewer_count,
                   broadcast_status, offset_to_video_start, cobroadcaster_ids, offset_s)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                v.broadcast_id,
                v.ts,
                v.viewer_count,
                v.total_unique_viewer_count,
                v.broadcast_status,
                v.offset_to_video_start,
                v.cobroadcaster_ids,
                v.offset_s
            ])?;
            super::stats::viewers_seen(tx, &v.broadcast_id, v.viewer_count, now)?;
        }
        Write::Comment(c) => {
            let stored = tx
                .prepare_cached(
                    "INSERT INTO comments (broadcast_id, pk, user_id, username, text, created_at,
                   offset_s, kind, source, raw_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT(broadcast_id, pk) DO NOTHING",
                )?
                .execute(params![
                    c.broadcast_id,
                    c.pk,
                    c.user_id,
                    c.username,
                    c.text,
                    c.created_at,
                    c.offset_s,
                    c.kind,
                    c.source,
                    c.raw_json
                ])?;
            // A comment read again from an overlapping page is neither indexed nor counted twice.
            if stored > 0 {
                super::search::index_comment(tx, c)?;
                super::stats::comment_added(tx, &c.broadcast_id, now)?;
            }
        }
        Write::Like(l) => {
            let stored = tx.prepare_cached(
                "INSERT INTO like_samples (broadcast_id, ts, likes, burst_likes, offset_s, source)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(broadcast_id, source, ts) DO NOTHING",
            )?
            .execute(params![
                l.broadcast_id,
                l.ts,
                l.likes,
                l.burst_likes,
                l.offset_s,
                l.source
            ])?;
            if stored > 0 {
                super::stats::likes_seen(tx, &l.broadcast_id, l.likes, now)?;
            }
        }
        Write::Cursor {
            broadcast_id,
            name,
            value,
        } => {
            tx.prepare_cached(
                "INSERT INTO cursors (broadcast_id, name, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT(broadcast_id, name) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![broadcast_id, name, value])?;
        }
        Write::Offsets {
            broadcast_id,
            video_start,
        } => {
            for sql in [
                "UPDATE comments SET offset_s = max(0.0, created_at - ?2) WHERE broadcast_id = ?1",
                "UPDATE viewer_samples SET offset_s = max(0.0, ts - ?2) WHERE broadcast_id = ?1",
                "UPDATE like_samples SET offset_s = max(0.0, ts - ?2) WHERE broadcast_id = ?1",
            ] {
                tx.prepare_cached(sql)?
                    .execute(params![broadcast_id, video_start])?;
            }
        }
    }
    Ok(())
}
