//! How each [`Write`] lands in SQLite: one upsert or insert per kind, in the writer's
//! transaction. Optional fields mean "unknown": an upsert never overwrites a known value with
//! an unknown one.

use rusqlite::{params, Transaction};

use super::rows::*;
use super::writer::Write;

/// Applies one write inside the batch's transaction.
pub(super) fn apply(tx: &Transaction<'_>, w: &Write) -> rusqlite::Result<()> {
    let now = now_unix();
    match w {
        Write::Account(a) => account(tx, a, now),
        Write::Broadcast(b) => broadcast(tx, b, now),
        Write::Status {
            broadcast_id,
            status,
            at,
            source,
        } => status_change(tx, broadcast_id, status, *at, *source, now),
        Write::Recording(r) => recording(tx, r, now),
        Write::Viewer(v) => viewer(tx, v, now),
        Write::Comment(c) => comment(tx, c, now),
        Write::Like(l) => like(tx, l, now),
        Write::Cursor {
            broadcast_id,
            name,
            value,
        } => cursor(tx, broadcast_id, name, value),
        Write::Offsets {
            broadcast_id,
            video_start,
        } => offsets(tx, broadcast_id, *video_start),
        Write::Merge {
            broadcast_id,
            state,
        } => {
            tx.prepare_cached(
                "UPDATE recordings SET merge_state = ?2, updated_at = ?3 WHERE broadcast_id = ?1",
            )?
            .execute(params![broadcast_id, state, now])?;
            Ok(())
        }
        Write::Upload {
            broadcast_id,
            state,
        } => {
            tx.prepare_cached(
                "UPDATE recordings SET upload_state = ?2, updated_at = ?3 WHERE broadcast_id = ?1",
            )?
            .execute(params![broadcast_id, state, now])?;
            Ok(())
        }
    }
}

fn account(tx: &Transaction<'_>, a: &AccountRow, now: f64) -> rusqlite::Result<()> {
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
    .execute(params![
        a.user_id,
        a.username,
        a.full_name,
        a.is_verified,
        a.label,
        now
    ])?;
    Ok(())
}

fn broadcast(tx: &Transaction<'_>, b: &BroadcastRow, now: f64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO broadcasts (broadcast_id, user_id, username, status, published_time,
           detected_at, ended_at, end_reason, dash_url, cover_frame_url, raw_json, updated_at, via)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
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
           via = coalesce(excluded.via, via),
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
        now,
        b.via
    ])?;
    Ok(())
}

/// Appends to the status history only when the status differs from the last one recorded.
fn status_change(
    tx: &Transaction<'_>,
    broadcast_id: &str,
    status: &BroadcastStatus,
    at: f64,
    source: StatusSource,
    now: f64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO broadcast_status (broadcast_id, status, at, source)
         SELECT ?1, ?2, ?3, ?4
         WHERE coalesce((SELECT status FROM broadcast_status WHERE broadcast_id = ?1
                         ORDER BY at DESC, id DESC LIMIT 1), '') != ?2",
    )?
    .execute(params![broadcast_id, status, at, source.as_str()])?;
    tx.prepare_cached(
        "UPDATE broadcasts SET status = ?2, updated_at = ?3 WHERE broadcast_id = ?1",
    )?
    .execute(params![broadcast_id, status, now])?;
    Ok(())
}

fn recording(tx: &Transaction<'_>, r: &RecordingRow, now: f64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO recordings (broadcast_id, state, folder, video, started_at, finished_at,
           error, duration_s, segments_expected, segments_captured, segments_missing,
           missing_ranges, bytes_captured, first_segment_t, rewind_used, quality,
           cut_by_shutdown, updated_at, merge_state, merge_deadline)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, coalesce(?9, 0), coalesce(?10, 0),
           coalesce(?11, 0), ?12, coalesce(?13, 0), ?14, coalesce(?15, 0), ?16,
           coalesce(?17, 0), ?18, ?19, ?20)
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
           merge_state = coalesce(excluded.merge_state, merge_state),
           merge_deadline = coalesce(merge_deadline, excluded.merge_deadline),
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
        now,
        r.merge_state,
        r.merge_deadline
    ])?;
    Ok(())
}

fn viewer(tx: &Transaction<'_>, v: &ViewerSample, now: f64) -> rusqlite::Result<()> {
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
    super::stats::viewers_seen(tx, &v.broadcast_id, v.viewer_count, now)
}

/// A comment read again from an overlapping page is neither indexed nor counted twice.
fn comment(tx: &Transaction<'_>, c: &CommentRow, now: f64) -> rusqlite::Result<()> {
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
    if stored > 0 {
        super::search::index_comment(tx, c)?;
        super::stats::comment_added(tx, &c.broadcast_id, now)?;
    }
    Ok(())
}

fn like(tx: &Transaction<'_>, l: &LikeSample, now: f64) -> rusqlite::Result<()> {
    let stored = tx
        .prepare_cached(
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
    Ok(())
}

fn cursor(
    tx: &Transaction<'_>,
    broadcast_id: &str,
    name: &str,
    value: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO cursors (broadcast_id, name, value) VALUES (?1, ?2, ?3)
         ON CONFLICT(broadcast_id, name) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![broadcast_id, name, value])?;
    Ok(())
}

/// Sets every offset of a broadcast's comments and samples from where its video starts, and
/// keeps that start for what is merged later.
fn offsets(tx: &Transaction<'_>, broadcast_id: &str, video_start: f64) -> rusqlite::Result<()> {
    for sql in [
        "UPDATE recordings SET video_start = ?2 WHERE broadcast_id = ?1",
        "UPDATE comments SET offset_s = max(0.0, created_at - ?2) WHERE broadcast_id = ?1",
        "UPDATE viewer_samples SET offset_s = max(0.0, ts - ?2) WHERE broadcast_id = ?1",
        "UPDATE like_samples SET offset_s = max(0.0, ts - ?2) WHERE broadcast_id = ?1",
    ] {
        tx.prepare_cached(sql)?
            .execute(params![broadcast_id, video_start])?;
    }
    Ok(())
}
