//! How each [`Write`] lands in PostgreSQL: the same upserts as SQLite's (`store/apply.rs`,
//! `store/stats.rs`) in PostgreSQL's dialect, with every parameter cast so its type never
//! depends on inference. A write becomes one or more [`Op`]s (a statement and its owned
//! parameters); a batch's ops are pipelined on the connection (sent without waiting for each
//! answer; the server still runs them one after the other, in order), so a batch costs about
//! one round trip instead of one per row. Statements are prepared once per connection.

use std::collections::HashMap;

use futures::future::join_all;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Statement, Transaction};

use crate::store::rows::*;
use crate::store::search;
use crate::store::writer::Write;

/// One owned statement parameter.
type Param = Box<dyn ToSql + Sync + Send>;

/// One statement of a write, with its parameters.
pub(super) struct Op {
    sql: &'static str,
    params: Vec<Param>,
}

fn op(sql: &'static str, params: Vec<Param>) -> Op {
    Op { sql, params }
}

/// Boxes each value as a parameter.
macro_rules! params {
    ($($v:expr),* $(,)?) => { vec![$(Box::new($v) as Param),*] };
}

/// Prepared statements of one connection, by their SQL.
#[derive(Default)]
pub(super) struct Prepared(HashMap<&'static str, Statement>);

/// Runs `ops` in order, pipelined; each op's outcome, in order. Preparing a new statement is
/// the only error returned as a whole.
pub(super) async fn pipeline(
    p: &mut Prepared,
    tx: &Transaction<'_>,
    ops: &[&Op],
) -> Result<Vec<Result<u64, tokio_postgres::Error>>, tokio_postgres::Error> {
    for o in ops {
        if !p.0.contains_key(o.sql) {
            let s = tx.prepare(o.sql).await?;
            p.0.insert(o.sql, s);
        }
    }
    let runs = ops.iter().map(|o| {
        let stmt = &p.0[o.sql];
        tx.execute_raw(stmt, o.params.iter().map(|b| &**b as &(dyn ToSql + Sync)))
    });
    Ok(join_all(runs).await)
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

// A comment read again from an overlapping page is neither stored nor counted twice: the
// count moves only for the row the insert returns.
const COMMENT: &str = "
    WITH stored AS (
      INSERT INTO comments (broadcast_id, pk, user_id, username, text, created_at, offset_s,
        kind, source, raw_json, search_words, search_chars)
      VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::float8, $7::float8,
        $8::text, $9::text, $10::text, $12::text, $13::text)
      ON CONFLICT (broadcast_id, pk) DO NOTHING
      RETURNING broadcast_id)
    INSERT INTO recording_stats AS t (broadcast_id, comments, last_change)
    SELECT broadcast_id, 1, $11::float8 FROM stored
    ON CONFLICT (broadcast_id) DO UPDATE SET comments = t.comments + 1,
        last_change = excluded.last_change";

/// Many comments in one statement (a batch's comments, which the live polls and the merge
/// write by the hundred): `DO NOTHING` keeps a repeated pk once even within the statement, and
/// the counts are added per broadcast.
const COMMENTS: &str = "
    WITH stored AS (
      INSERT INTO comments (broadcast_id, pk, user_id, username, text, created_at, offset_s,
        kind, source, raw_json, search_words, search_chars)
      SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::float8[], $7::float8[], $8::text[], $9::text[], $10::text[], $12::text[],
        $13::text[])
      ON CONFLICT (broadcast_id, pk) DO NOTHING
      RETURNING broadcast_id)
    INSERT INTO recording_stats AS t (broadcast_id, comments, last_change)
    SELECT broadcast_id, count(*), $11::float8 FROM stored GROUP BY broadcast_id
    ON CONFLICT (broadcast_id) DO UPDATE SET comments = t.comments + excluded.comments,
        last_change = excluded.last_change";

const LIKE: &str = "
    WITH stored AS (
      INSERT INTO like_samples (broadcast_id, ts, likes, burst_likes, offset_s, source)
      VALUES ($1::text, $2::float8, $3::bigint, $4::bigint, $5::float8, $6::text)
      ON CONFLICT (broadcast_id, source, ts) DO NOTHING
      RETURNING broadcast_id, likes)
    INSERT INTO recording_stats AS t (broadcast_id, likes, last_change)
    SELECT broadcast_id, likes, $7::float8 FROM stored
    ON CONFLICT (broadcast_id) DO UPDATE SET
        likes = CASE WHEN excluded.likes IS NULL THEN t.likes
                     ELSE greatest(t.likes, excluded.likes) END,
        last_change = excluded.last_change";

const CURSOR: &str = "
    INSERT INTO cursors AS t (broadcast_id, name, value) VALUES ($1::text, $2::text, $3::text)
    ON CONFLICT (broadcast_id, name) DO UPDATE SET value = excluded.value";

const MERGE: &str = "UPDATE recordings SET merge_state = $2::text, updated_at = $3::float8
    WHERE broadcast_id = $1::text";

const UPLOAD: &str = "UPDATE recordings SET upload_state = $2::text, updated_at = $3::float8
    WHERE broadcast_id = $1::text";

const OFFSETS: [&str; 4] = [
    "UPDATE recordings SET video_start = $2::float8 WHERE broadcast_id = $1::text",
    "UPDATE comments SET offset_s = greatest(0.0, created_at - $2::float8) WHERE broadcast_id = $1::text",
    "UPDATE viewer_samples SET offset_s = greatest(0.0, ts - $2::float8) WHERE broadcast_id = $1::text",
    "UPDATE like_samples SET offset_s = greatest(0.0, ts - $2::float8) WHERE broadcast_id = $1::text",
];

// `recording_stats` peaks, kept as `store/stats.rs` keeps them in SQLite.
const VIEWERS_SEEN: &str = "
    INSERT INTO recording_stats AS t (broadcast_id, peak_viewers, last_change)
    VALUES ($1::text, $2::float8, $3::float8)
    ON CONFLICT (broadcast_id) DO UPDATE SET
        peak_viewers = CASE WHEN excluded.peak_viewers IS NULL THEN t.peak_viewers
                            ELSE greatest(t.peak_viewers, excluded.peak_viewers) END,
        last_change = excluded.last_change";

/// PostgreSQL's `text` cannot hold NUL (SQLite's can): a NUL in what Instagram sent (a comment,
/// a name) is stored as U+FFFD, so that the row is kept instead of refused.
pub(super) fn storable(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

fn storable_opt(s: &Option<String>) -> Option<String> {
    s.as_deref().map(storable)
}

/// The statements of one write, in the order they must run.
pub(super) fn ops(w: &Write, now: f64) -> Vec<Op> {
    match w {
        Write::Account(a) => vec![op(
            ACCOUNT,
            params![
                a.user_id.clone(),
                storable_opt(&a.username),
                storable_opt(&a.full_name),
                a.is_verified,
                storable_opt(&a.label),
                now
            ],
        )],
        Write::Broadcast(b) => vec![broadcast(b, now)],
        Write::Status {
            broadcast_id,
            status,
            at,
            source,
        } => vec![
            op(
                STATUS_HISTORY,
                params![
                    broadcast_id.clone(),
                    status.as_str().to_string(),
                    *at,
                    source.as_str()
                ],
            ),
            op(
                STATUS,
                params![broadcast_id.clone(), status.as_str().to_string(), now],
            ),
        ],
        Write::Recording(r) => vec![recording(r, now)],
        Write::Viewer(v) => vec![
            op(
                VIEWER,
                params![
                    v.broadcast_id.clone(),
                    v.ts,
                    v.viewer_count,
                    v.total_unique_viewer_count,
                    v.broadcast_status.as_ref().map(|s| s.as_str().to_string()),
                    v.offset_to_video_start,
                    v.cobroadcaster_ids.clone(),
                    v.offset_s
                ],
            ),
            op(
                VIEWERS_SEEN,
                params![v.broadcast_id.clone(), v.viewer_count, now],
            ),
        ],
        Write::Comment(c) => vec![comment(c, now)],
        Write::Like(l) => vec![op(
            LIKE,
            params![
                l.broadcast_id.clone(),
                l.ts,
                l.likes,
                l.burst_likes,
                l.offset_s,
                l.source.clone(),
                now
            ],
        )],
        Write::Cursor {
            broadcast_id,
            name,
            value,
        } => vec![op(
            CURSOR,
            params![broadcast_id.clone(), name.clone(), value.clone()],
        )],
        Write::Offsets {
            broadcast_id,
            video_start,
        } => OFFSETS
            .iter()
            .map(|sql| op(sql, params![broadcast_id.clone(), *video_start]))
            .collect(),
        Write::Merge {
            broadcast_id,
            state,
        } => vec![op(
            MERGE,
            params![broadcast_id.clone(), state.as_str(), now],
        )],
        Write::Upload {
            broadcast_id,
            state,
        } => vec![op(
            UPLOAD,
            params![broadcast_id.clone(), state.as_str(), now],
        )],
    }
}

fn recording(r: &RecordingRow, now: f64) -> Op {
    op(
        RECORDING,
        params![
            r.broadcast_id.clone(),
            r.state.as_str(),
            r.folder.clone(),
            r.video.clone(),
            r.started_at,
            r.finished_at,
            r.error.clone(),
            r.duration_s,
            r.segments_expected,
            r.segments_captured,
            r.segments_missing,
            r.missing_ranges.clone(),
            r.bytes_captured,
            r.first_segment_t,
            r.rewind_used,
            r.quality.clone(),
            r.cut_by_shutdown,
            now,
            r.merge_state.map(|m| m.as_str()),
            r.merge_deadline
        ],
    )
}

fn broadcast(b: &BroadcastRow, now: f64) -> Op {
    op(
        BROADCAST,
        params![
            b.broadcast_id.clone(),
            b.user_id.clone(),
            storable_opt(&b.username),
            b.status.as_ref().map(|s| s.as_str().to_string()),
            b.published_time,
            b.detected_at,
            b.ended_at,
            b.end_reason.clone(),
            b.dash_url.clone(),
            b.cover_frame_url.clone(),
            b.raw_json.clone(),
            now,
            b.via.clone()
        ],
    )
}

/// One statement for many comments (see [`COMMENTS`]).
pub(super) fn comments(rows: &[&CommentRow], now: f64) -> Op {
    let rows: Vec<CommentRow> = rows.iter().map(|c| storable_comment(c)).collect();
    let col = |f: fn(&CommentRow) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
    op(
        COMMENTS,
        params![
            col(|c| Some(c.broadcast_id.clone())),
            col(|c| Some(c.pk.clone())),
            col(|c| c.user_id.clone()),
            col(|c| c.username.clone()),
            col(|c| Some(c.text.clone())),
            rows.iter().map(|c| c.created_at).collect::<Vec<f64>>(),
            rows.iter()
                .map(|c| c.offset_s)
                .collect::<Vec<Option<f64>>>(),
            col(|c| Some(c.kind.clone())),
            col(|c| Some(c.source.clone())),
            col(|c| Some(c.raw_json.clone())),
            now,
            col(|c| Some(search::words_column(&c.text, c.username.as_deref()))),
            col(|c| search::chars_column(&c.text, c.username.as_deref()))
        ],
    )
}

/// The comment with its free text storable; the search columns are made from that text.
fn storable_comment(c: &CommentRow) -> CommentRow {
    CommentRow {
        user_id: storable_opt(&c.user_id),
        username: storable_opt(&c.username),
        text: storable(&c.text),
        ..c.clone()
    }
}

fn comment(c: &CommentRow, now: f64) -> Op {
    let c = &storable_comment(c);
    op(
        COMMENT,
        params![
            c.broadcast_id.clone(),
            c.pk.clone(),
            c.user_id.clone(),
            c.username.clone(),
            c.text.clone(),
            c.created_at,
            c.offset_s,
            c.kind.clone(),
            c.source.clone(),
            c.raw_json.clone(),
            now,
            search::words_column(&c.text, c.username.as_deref()),
            search::chars_column(&c.text, c.username.as_deref())
        ],
    )
}
