//! How each [`Write`] lands in PostgreSQL: the same upserts as SQLite's (`store/apply.rs`,
//! `store/stats.rs`) in PostgreSQL's dialect, with every parameter cast so its type never
//! depends on inference. Statements are prepared once per connection.

use std::collections::HashMap;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Statement, Transaction};

use crate::store::rows::*;
use crate::store::writer::Write;

/// Prepared statements of one connection, by their SQL.
#[derive(Default)]
pub(super) struct Prepared(HashMap<&'static str, Statement>);

impl Prepared {
    async fn run(
        &mut self,
        tx: &Transaction<'_>,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        let stmt = match self.0.get(sql) {
            Some(s) => s.clone(),
            None => {
                let s = tx.prepare(sql).await?;
                self.0.insert(sql, s.clone());
                s
            }
        };
        tx.execute(&stmt, params).await
    }
}

const ACCOUNT: &str = "
    INSERT INTO accounts AS t (user_id, username, full_name, is_verified, label, updated_at)
    VALUES ($1::text, $2::text, $3::text, $4::boolean, $5::text, $6::float8)
    ON CONFLICT (user_id) DO UPDATE SET
      username = coalesce(excluded.username, t.username),
      full_name = coalesce(excluded.full_name, t.full_name),
      is_verified = coalesce(excluded.is_verified, t.is_verified),
      label = coalesce(excluded.label, t.label),
      updated_at = excluded.updated_at";

const BROADCAST: &str = "
    INSERT INTO broadcasts AS t (broadcast_id, user_id, username, status, published_time,
      detected_at, ended_at, end_reason, dash_url, cover_frame_url, raw_json, updated_at, via)
    VALUES ($1::text, $2::text, $3::text, $4::text, $5::float8, $6::float8, $7::float8,
      $8::text, $9::text, $10::text, $11::text, $12::float8, $13::text)
    ON CONFLICT (broadcast_id) DO UPDATE SET
      username = coalesce(excluded.username, t.username),
      status = coalesce(excluded.status, t.status),
      published_time = coalesce(excluded.published_time, t.published_time),
      detected_at = coalesce(t.detected_at, excluded.detected_at),
      ended_at = coalesce(excluded.ended_at, t.ended_at),
      end_reason = coalesce(excluded.end_reason, t.end_reason),
      dash_url = coalesce(excluded.dash_url, t.dash_url),
      cover_frame_url = coalesce(excluded.cover_frame_url, t.cover_frame_url),
      raw_json = coalesce(excluded.raw_json, t.raw_json),
      via = coalesce(excluded.via, t.via),
      updated_at = excluded.updated_at";

const STATUS_HISTORY: &str = "
    INSERT INTO broadcast_status (broadcast_id, status, at, source)
    SELECT $1::text, $2::text, $3::float8, $4::text
    WHERE coalesce((SELECT status FROM broadcast_status WHERE broadcast_id = $1::text
                    ORDER BY at DESC, id DESC LIMIT 1), '') <> $2::text";

const STATUS: &str =
    "UPDATE broadcasts SET status = $2::text, updated_at = $3::float8 WHERE broadcast_id = $1::text";

const RECORDING: &str = "
    INSERT INTO recordings AS t (broadcast_id, state, folder, video, started_at, finished_at,
      error, duration_s, segments_expected, segments_captured, segments_missing,
      missing_ranges, bytes_captured, first_segment_t, rewind_used, quality,
      cut_by_shutdown, updated_at, merge_state, merge_deadline)
    VALUES ($1::text, $2::text, $3::text, $4::text, $5::float8, $6::float8, $7::text,
      $8::float8, coalesce($9::bigint, 0), coalesce($10::bigint, 0), coalesce($11::bigint, 0),
      $12::text, coalesce($13::bigint, 0), $14::bigint, coalesce($15::boolean, false),
      $16::text, coalesce($17::boolean, false), $18::float8, $19::text, $20::float8)
    ON CONFLICT (broadcast_id) DO UPDATE SET
      state = excluded.state,
      folder = coalesce(excluded.folder, t.folder),
      video = coalesce(excluded.video, t.video),
      started_at = coalesce(t.started_at, excluded.started_at),
      finished_at = coalesce(excluded.finished_at, t.finished_at),
      error = CASE WHEN excluded.state = 'failed' THEN excluded.error
                   ELSE coalesce(excluded.error, t.error) END,
      duration_s = coalesce(excluded.duration_s, t.duration_s),
      segments_expected = coalesce($9::bigint, t.segments_expected),
      segments_captured = coalesce($10::bigint, t.segments_captured),
      segments_missing = coalesce($11::bigint, t.segments_missing),
      missing_ranges = coalesce(excluded.missing_ranges, t.missing_ranges),
      bytes_captured = coalesce($13::bigint, t.bytes_captured),
      first_segment_t = coalesce(excluded.first_segment_t, t.first_segment_t),
      rewind_used = coalesce($15::boolean, t.rewind_used),
      quality = coalesce(excluded.quality, t.quality),
      cut_by_shutdown = coalesce($17::boolean, t.cut_by_shutdown),
      merge_state = coalesce(excluded.merge_state, t.merge_state),
      merge_deadline = coalesce(t.merge_deadline, excluded.merge_deadline),
      updated_at = excluded.updated_at";

const VIEWER: &str = "
    INSERT INTO viewer_samples (broadcast_id, ts, viewer_count, total_unique_viewer_count,
      broadcast_status, offset_to_video_start, cobroadcaster_ids, offset_s)
    VALUES ($1::text, $2::float8, $3::float8, $4::bigint, $5::text, $6::bigint, $7::text,
      $8::float8)";

const COMMENT: &str = "
    INSERT INTO comments (broadcast_id, pk, user_id, username, text, created_at, offset_s,
      kind, source, raw_json)
    VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::float8, $7::float8,
      $8::text, $9::text, $10::text)
    ON CONFLICT (broadcast_id, pk) DO NOTHING";

const LIKE: &str = "
    INSERT INTO like_samples (broadcast_id, ts, likes, burst_likes, offset_s, source)
    VALUES ($1::text, $2::float8, $3::bigint, $4::bigint, $5::float8, $6::text)
    ON CONFLICT (broadcast_id, source, ts) DO NOTHING";

const CURSOR: &str = "
    INSERT INTO cursors AS t (broadcast_id, name, value) VALUES ($1::text, $2::text, $3::text)
    ON CONFLICT (broadcast_id, name) DO UPDATE SET value = excluded.value";

const MERGE: &str = "UPDATE recordings SET merge_state = $2::text, updated_at = $3::float8
    WHERE broadcast_id = $1::text";

const OFFSETS: [&str; 4] = [
    "UPDATE recordings SET video_start = $2::float8 WHERE broadcast_id = $1::text",
    "UPDATE comments SET offset_s = greatest(0.0, created_at - $2::float8) WHERE broadcast_id = $1::text",
    "UPDATE viewer_samples SET offset_s = greatest(0.0, ts - $2::float8) WHERE broadcast_id = $1::text",
    "UPDATE like_samples SET offset_s = greatest(0.0, ts - $2::float8) WHERE broadcast_id = $1::text",
];

// `recording_stats`, kept as `store/stats.rs` keeps it in SQLite.
const COMMENT_ADDED: &str = "
    INSERT INTO recording_stats AS t (broadcast_id, comments, last_change)
    VALUES ($1::text, 1, $2::float8)
    ON CONFLICT (broadcast_id) DO UPDATE SET comments = t.comments + 1,
        last_change = excluded.last_change";

const LIKES_SEEN: &str = "
    INSERT INTO recording_stats AS t (broadcast_id, likes, last_change)
    VALUES ($1::text, $2::bigint, $3::float8)
    ON CONFLICT (broadcast_id) DO UPDATE SET
        likes = CASE WHEN excluded.likes IS NULL THEN t.likes
                     ELSE greatest(t.likes, excluded.likes) END,
        last_change = excluded.last_change";

const VIEWERS_SEEN: &str = "
    INSERT INTO recording_stats AS t (broadcast_id, peak_viewers, last_change)
    VALUES ($1::text, $2::float8, $3::float8)
    ON CONFLICT (broadcast_id) DO UPDATE SET
        peak_viewers = CASE WHEN excluded.peak_viewers IS NULL THEN t.peak_viewers
                            ELSE greatest(t.peak_viewers, excluded.peak_viewers) END,
        last_change = excluded.last_change";

/// Applies one write inside the batch's transaction.
pub(super) async fn apply(
    p: &mut Prepared,
    tx: &Transaction<'_>,
    w: &Write,
) -> Result<(), tokio_postgres::Error> {
    let now = now_unix();
    match w {
        Write::Account(a) => {
            p.run(
                tx,
                ACCOUNT,
                &[
                    &a.user_id,
                    &a.username,
                    &a.full_name,
                    &a.is_verified,
                    &a.label,
                    &now,
                ],
            )
            .await?;
        }
        Write::Broadcast(b) => {
            let status = b.status.as_ref().map(|s| s.as_str());
            p.run(
                tx,
                BROADCAST,
                &[
                    &b.broadcast_id,
                    &b.user_id,
                    &b.username,
                    &status,
                    &b.published_time,
                    &b.detected_at,
                    &b.ended_at,
                    &b.end_reason,
                    &b.dash_url,
                    &b.cover_frame_url,
                    &b.raw_json,
                    &now,
                    &b.via,
                ],
            )
            .await?;
        }
        Write::Status {
            broadcast_id,
            status,
            at,
            source,
        } => {
            let status = status.as_str();
            p.run(
                tx,
                STATUS_HISTORY,
                &[broadcast_id, &status, at, &source.as_str()],
            )
            .await?;
            p.run(tx, STATUS, &[broadcast_id, &status, &now]).await?;
        }
        Write::Recording(r) => recording(p, tx, r, now).await?,
        Write::Viewer(_) | Write::Comment(_) | Write::Like(_) => {
            engagement(p, tx, w, now).await?;
        }
        Write::Cursor {
            broadcast_id,
            name,
            value,
        } => {
            p.run(tx, CURSOR, &[broadcast_id, name, value]).await?;
        }
        Write::Offsets {
            broadcast_id,
            video_start,
        } => {
            for sql in OFFSETS {
                p.run(tx, sql, &[broadcast_id, video_start]).await?;
            }
        }
        Write::Merge {
            broadcast_id,
            state,
        } => {
            p.run(tx, MERGE, &[broadcast_id, &state.as_str(), &now])
                .await?;
        }
    }
    Ok(())
}

/// The samples and comments, each keeping `recording_stats` as it lands.
async fn engagement(
    p: &mut Prepared,
    tx: &Transaction<'_>,
    w: &Write,
    now: f64,
) -> Result<(), tokio_postgres::Error> {
    match w {
        Write::Viewer(v) => {
            let status = v.broadcast_status.as_ref().map(|s| s.as_str());
            p.run(
                tx,
                VIEWER,
                &[
                    &v.broadcast_id,
                    &v.ts,
                    &v.viewer_count,
                    &v.total_unique_viewer_count,
                    &status,
                    &v.offset_to_video_start,
                    &v.cobroadcaster_ids,
                    &v.offset_s,
                ],
            )
            .await?;
            p.run(tx, VIEWERS_SEEN, &[&v.broadcast_id, &v.viewer_count, &now])
                .await?;
        }
        Write::Comment(c) => {
            let stored = p
                .run(
                    tx,
                    COMMENT,
                    &[
                        &c.broadcast_id,
                        &c.pk,
                        &c.user_id,
                        &c.username,
                        &c.text,
                        &c.created_at,
                        &c.offset_s,
                        &c.kind,
                        &c.source,
                        &c.raw_json,
                    ],
                )
                .await?;
            if stored > 0 {
                p.run(tx, COMMENT_ADDED, &[&c.broadcast_id, &now]).await?;
            }
        }
        Write::Like(l) => {
            let stored = p
                .run(
                    tx,
                    LIKE,
                    &[
                        &l.broadcast_id,
                        &l.ts,
                        &l.likes,
                        &l.burst_likes,
                        &l.offset_s,
                        &l.source,
                    ],
                )
                .await?;
            if stored > 0 {
                p.run(tx, LIKES_SEEN, &[&l.broadcast_id, &l.likes, &now])
                    .await?;
            }
        }
        _ => {}
    }
    Ok(())
}

async fn recording(
    p: &mut Prepared,
    tx: &Transaction<'_>,
    r: &RecordingRow,
    now: f64,
) -> Result<(), tokio_postgres::Error> {
    let merge = r.merge_state.map(|m| m.as_str());
    p.run(
        tx,
        RECORDING,
        &[
            &r.broadcast_id,
            &r.state.as_str(),
            &r.folder,
            &r.video,
            &r.started_at,
            &r.finished_at,
            &r.error,
            &r.duration_s,
            &r.segments_expected,
            &r.segments_captured,
            &r.segments_missing,
            &r.missing_ranges,
            &r.bytes_captured,
            &r.first_segment_t,
            &r.rewind_used,
            &r.quality,
            &r.cut_by_shutdown,
            &now,
            &merge,
            &r.merge_deadline,
        ],
    )
    .await?;
    Ok(())
}
