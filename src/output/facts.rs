//! Everything known about one recording, gathered from the database in one place so that
//! `broadcast.json`, the page, the chart and `iglive show` all tell the same story.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::json;

use crate::store::postgres::FactsRow;
use crate::store::query::{self, CommentExport};
use crate::store::{Catalog, MergeState, RecordingState, StoreError};

/// One point of a time series, at `offset_s` seconds into the video.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Point {
    pub offset_s: f64,
    pub value: f64,
}

/// The facts of one recording (see `broadcast_json` for the documented field names).
#[derive(Debug, Clone, Default)]
pub struct RecordingFacts {
    pub broadcast_id: String,
    pub user_id: String,
    pub username: Option<String>,
    pub full_name: Option<String>,
    pub is_verified: Option<bool>,
    pub label: Option<String>,
    pub cobroadcasters: Vec<serde_json::Value>,
    /// The watched accounts it was found through (the owner, guests of it).
    pub via: Vec<crate::store::Via>,
    pub broadcast_message: Option<String>,
    pub published_time: Option<f64>,
    pub detected_at: Option<f64>,
    pub ended_at: Option<f64>,
    pub final_status: Option<String>,
    pub end_reason: Option<String>,
    pub state: RecordingState,
    pub error: Option<String>,
    pub folder: Option<String>,
    pub video: Option<String>,
    pub duration_s: Option<f64>,
    pub segments_expected: i64,
    pub segments_captured: i64,
    pub segments_missing: i64,
    pub missing_ranges: serde_json::Value,
    pub bytes_captured: i64,
    pub first_segment_t: Option<i64>,
    pub rewind_used: bool,
    pub quality: Option<String>,
    pub cut_by_shutdown: bool,
    /// The engagement merge after the end; `None` when none was wanted.
    pub chat_merge: Option<MergeState>,
    pub cover_frame_url: Option<String>,
    /// The live manifest's URL, for a catch-up capture.
    pub dash_url: Option<String>,
    /// Comments in time order, each with its offset into the video filled in.
    pub comments: Vec<CommentExport>,
    pub viewers: Vec<Point>,
    /// Cumulative like count samples.
    pub likes: Vec<Point>,
    pub unique_viewers: Option<i64>,
    pub status_history: Vec<(f64, String)>,
}

/// The columns `RecordingFacts::load` reads, in order.
const FACTS_SQL: &str = "
    SELECT b.user_id, coalesce(b.username, a.username), a.full_name, a.is_verified, a.label,
           b.published_time, b.detected_at, b.ended_at, b.status, b.end_reason, b.raw_json,
           b.cover_frame_url, r.state, r.error, r.folder, r.video, r.duration_s,
           r.segments_expected, r.segments_captured, r.segments_missing, r.missing_ranges,
           r.bytes_captured, r.first_segment_t, r.rewind_used, r.quality, r.cut_by_shutdown,
           r.started_at, b.dash_url, b.via, r.merge_state
    FROM recordings r JOIN broadcasts b ON b.broadcast_id = r.broadcast_id
    LEFT JOIN accounts a ON a.user_id = b.user_id
    WHERE r.broadcast_id = ?1";

impl RecordingFacts {
    /// Loads one recording; `None` when the database has no recording for that broadcast.
    pub fn load(
        conn: &Connection,
        broadcast_id: &str,
    ) -> Result<Option<RecordingFacts>, StoreError> {
        let row = conn
            .query_row(FACTS_SQL, params![broadcast_id], |r| {
                Ok((RecordingFacts::from_row(broadcast_id, r)?, r.get(10)?))
            })
            .optional()?;
        let Some((mut facts, raw)) = row else {
            return Ok(None);
        };
        let raw: Option<String> = raw;
        if let Some(raw) = raw.and_then(|r| serde_json::from_str::<serde_json::Value>(&r).ok()) {
            facts.apply_broadcast_object(&raw);
        }
        facts.load_engagement(conn)?;
        Ok(Some(facts))
    }

    /// Loads one recording from either catalog (SQLite on a blocking thread).
    pub async fn load_from(
        catalog: &Catalog,
        broadcast_id: &str,
    ) -> Result<Option<RecordingFacts>, StoreError> {
        match catalog {
            Catalog::Sqlite(store) => {
                let (store, id) = (store.clone(), broadcast_id.to_string());
                tokio::task::spawn_blocking(move || RecordingFacts::load(&store.connect()?, &id))
                    .await
                    .map_err(|e| StoreError::Other(format!("the facts reader stopped: {e}")))?
            }
            Catalog::Postgres(pg) => Ok(pg
                .facts(broadcast_id)
                .await?
                .map(|row| RecordingFacts::from_pg(broadcast_id, row))),
        }
    }

    /// The same facts from the PostgreSQL catalog's rows (the columns of `FACTS_SQL`).
    fn from_pg(broadcast_id: &str, r: FactsRow) -> RecordingFacts {
        let mut facts = RecordingFacts {
            broadcast_id: broadcast_id.to_string(),
            user_id: r.user_id,
            username: r.username,
            full_name: r.full_name,
            is_verified: r.is_verified,
            label: r.label,
            published_time: r.published_time.or(r.started_at),
            detected_at: r.detected_at,
            ended_at: r.ended_at,
            final_status: r.status,
            end_reason: r.end_reason,
            cover_frame_url: r.cover_frame_url,
            state: r.state,
            error: r.error,
            folder: r.folder,
            video: r.video,
            duration_s: r.duration_s,
            segments_expected: r.segments_expected,
            segments_captured: r.segments_captured,
            segments_missing: r.segments_missing,
            missing_ranges: r
                .missing_ranges
                .and_then(|m| serde_json::from_str(&m).ok())
                .unwrap_or_else(|| json!([])),
            bytes_captured: r.bytes_captured,
            first_segment_t: r.first_segment_t,
            rewind_used: r.rewind_used,
            quality: r.quality,
            cut_by_shutdown: r.cut_by_shutdown,
            dash_url: r.dash_url,
            via: crate::store::via_from_json(r.via.as_deref()),
            chat_merge: r.merge_state,
            status_history: r.status_history,
            ..Default::default()
        };
        if let Some(raw) = r
            .raw_json
            .and_then(|r| serde_json::from_str::<serde_json::Value>(&r).ok())
        {
            facts.apply_broadcast_object(&raw);
        }
        // As `load_engagement` does for SQLite.
        let start = facts.published_time.unwrap_or(0.0);
        let offset = |ts: f64, stored: Option<f64>| stored.unwrap_or(ts - start).max(0.0);
        facts.comments = r.comments;
        for c in &mut facts.comments {
            c.offset_s = Some(offset(c.created_at, c.offset_s));
        }
        for (ts, off, v, u) in r.viewers {
            if let Some(u) = u {
                facts.unique_viewers = Some(facts.unique_viewers.map_or(u, |m| m.max(u)));
            }
            if let Some(value) = v {
                facts.viewers.push(Point {
                    offset_s: offset(ts, off),
                    value,
                });
            }
        }
        let likes = if r.likes_post_live.is_empty() {
            r.likes_live
        } else {
            r.likes_post_live
        };
        facts.likes = likes
            .into_iter()
            .map(|(ts, off, v)| Point {
                offset_s: offset(ts, off),
                value: v as f64,
            })
            .collect();
        facts
    }

    fn from_row(broadcast_id: &str, r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordingFacts> {
        let missing: Option<String> = r.get(20)?;
        let published: Option<f64> = r.get(5)?;
        let started: Option<f64> = r.get(26)?;
        Ok(RecordingFacts {
            broadcast_id: broadcast_id.to_string(),
            user_id: r.get(0)?,
            username: r.get(1)?,
            full_name: r.get(2)?,
            is_verified: r.get(3)?,
            label: r.get(4)?,
            published_time: published.or(started),
            detected_at: r.get(6)?,
            ended_at: r.get(7)?,
            final_status: r.get(8)?,
            end_reason: r.get(9)?,
            cover_frame_url: r.get(11)?,
            state: r.get(12)?,
            error: r.get(13)?,
            folder: r.get(14)?,
            video: r.get(15)?,
            duration_s: r.get(16)?,
            segments_expected: r.get(17)?,
            segments_captured: r.get(18)?,
            segments_missing: r.get(19)?,
            missing_ranges: missing
                .and_then(|m| serde_json::from_str(&m).ok())
                .unwrap_or_else(|| json!([])),
            bytes_captured: r.get(21)?,
            first_segment_t: r.get(22)?,
            rewind_used: r.get(23)?,
            quality: r.get(24)?,
            cut_by_shutdown: r.get(25)?,
            dash_url: r.get(27)?,
            via: crate::store::via_from_json(r.get::<_, Option<String>>(28)?.as_deref()),
            chat_merge: r.get(29)?,
            ..Default::default()
        })
    }

    /// What only the stored broadcast object says (co-broadcasters, the title), and the
    /// owner's details when the accounts table has none.
    fn apply_broadcast_object(&mut self, raw: &serde_json::Value) {
        if let Some(c) = raw.get("cobroadcasters").and_then(|c| c.as_array()) {
            self.cobroadcasters = c.clone();
        }
        self.broadcast_message = raw
            .get("broadcast_message")
            .and_then(|m| m.as_str())
            .filter(|m| !m.is_empty())
            .map(str::to_string);
        let owner = raw.get("broadcast_owner");
        if self.full_name.is_none() {
            self.full_name = owner
                .and_then(|o| o.get("full_name"))
                .and_then(|v| v.as_str())
                .map(str::to_string);
        }
        if self.is_verified.is_none() {
            self.is_verified = owner
                .and_then(|o| o.get("is_verified"))
                .and_then(|v| v.as_bool());
        }
    }

    /// Comments, viewers, likes and the status history, each with its offset into the video.
    fn load_engagement(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let id = self.broadcast_id.clone();
        let start = self.published_time.unwrap_or(0.0);
        let offset = |ts: f64, stored: Option<f64>| stored.unwrap_or(ts - start).max(0.0);
        self.comments = query::comments(conn, &id)?;
        for c in &mut self.comments {
            c.offset_s = Some(offset(c.created_at, c.offset_s));
        }
        let (viewers, unique) = viewer_points(conn, &id, &offset)?;
        self.viewers = viewers;
        self.unique_viewers = unique;
        // The replay's per-second series is denser and on the broadcast's own clock; the live
        // samples are the fallback when there is no replay.
        self.likes = like_points(conn, &id, "post_live", &offset)?;
        if self.likes.is_empty() {
            self.likes = like_points(conn, &id, "live", &offset)?;
        }
        let mut stmt = conn.prepare(
            "SELECT at, status FROM broadcast_status WHERE broadcast_id = ?1 ORDER BY at, id",
        )?;
        self.status_history = stmt
            .query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .filter_map(|r| r.ok())
            .collect();
        Ok(())
    }

    pub fn peak_viewers(&self) -> Option<f64> {
        self.viewers.iter().map(|p| p.value).reduce(f64::max)
    }

    pub fn total_likes(&self) -> Option<i64> {
        self.likes.iter().map(|p| p.value as i64).max()
    }

    /// The document written as `broadcast.json`. Field names are stable and documented in the
    /// README ("Recording folder"); add fields, never rename them.
    pub fn broadcast_json(&self) -> serde_json::Value {
        json!({
            "format": "iglive-recording/1",
            "iglive_version": env!("CARGO_PKG_VERSION"),
            "broadcast_id": self.broadcast_id,
            "owner": {
                "pk": self.user_id,
                "username": self.username,
                "full_name": self.full_name,
                "is_verified": self.is_verified,
                "label": self.label,
            },
            "cobroadcasters": self.cobroadcasters,
            "via": self.via,
            "broadcast_message": self.broadcast_message,
            "published_time": self.published_time,
            "published_at": self.published_time.map(rfc3339),
            "detected_at": self.detected_at.map(rfc3339),
            "ended_at": self.ended_at.map(rfc3339),
            "final_status": self.final_status,
            "end_reason": self.end_reason,
            "status_history": self.status_history.iter()
                .map(|(at, s)| json!({"at": rfc3339(*at), "status": s}))
                .collect::<Vec<_>>(),
            "duration_s": self.duration_s,
            "recording": {
                "state": self.state,
                "error": self.error,
                "cut_by_shutdown": self.cut_by_shutdown,
                "chat_merge": self.chat_merge,
                "video": self.video.as_ref().map(|_| super::VIDEO),
            },
            "capture": {
                "segments_expected": self.segments_expected,
                "segments_captured": self.segments_captured,
                "segments_missing": self.segments_missing,
                "missing_ranges": self.missing_ranges,
                "first_segment_t": self.first_segment_t,
                "rewind_used": self.rewind_used,
                "quality": self.quality,
                "bytes_captured": self.bytes_captured,
            },
            "engagement": {
                "comments": self.comments.len(),
                "likes": self.total_likes(),
                "peak_viewers": self.peak_viewers(),
                "unique_viewers": self.unique_viewers,
            },
            "files": {
                "video": super::VIDEO,
                "comments": super::COMMENTS_JSONL,
                "chat_subtitles": super::CHAT_VTT,
                "viewer_chart": super::VIEWERS_SVG,
                "replay_page": super::INDEX_HTML,
                "cover": self.cover_frame_url.as_ref().map(|_| super::COVER_JPG),
            },
        })
    }
}

/// Viewer counts as points, and the highest unique-viewer count seen.
fn viewer_points(
    conn: &Connection,
    broadcast_id: &str,
    offset: &dyn Fn(f64, Option<f64>) -> f64,
) -> Result<(Vec<Point>, Option<i64>), StoreError> {
    let mut stmt = conn.prepare(
        "SELECT ts, offset_s, viewer_count, total_unique_viewer_count FROM viewer_samples
         WHERE broadcast_id = ?1 ORDER BY ts",
    )?;
    let mut unique: Option<i64> = None;
    let points = stmt
        .query_map(params![broadcast_id], |r| {
            Ok((
                r.get::<_, f64>(0)?,
                r.get::<_, Option<f64>>(1)?,
                r.get::<_, Option<f64>>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })?
        .filter_map(|r| r.ok())
        .filter_map(|(ts, off, v, u)| {
            if let Some(u) = u {
                unique = Some(unique.map_or(u, |m: i64| m.max(u)));
            }
            v.map(|value| Point {
                offset_s: offset(ts, off),
                value,
            })
        })
        .collect();
    Ok((points, unique))
}

/// Like counts from one source (`live` or `post_live`) as points.
fn like_points(
    conn: &Connection,
    broadcast_id: &str,
    source: &str,
    offset: &dyn Fn(f64, Option<f64>) -> f64,
) -> Result<Vec<Point>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT ts, offset_s, likes FROM like_samples
         WHERE broadcast_id = ?1 AND source = ?2 AND likes IS NOT NULL ORDER BY ts",
    )?;
    let points = stmt
        .query_map(params![broadcast_id, source], |r| {
            Ok(Point {
                offset_s: offset(r.get(0)?, r.get(1)?),
                value: r.get::<_, i64>(2)? as f64,
            })
        })?
        .filter_map(|r| r.ok())
        .collect();
    Ok(points)
}

/// RFC 3339 UTC time for a unix timestamp.
pub fn rfc3339(unix: f64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos((unix * 1e9) as i128)
        .ok()
        .and_then(|t| {
            t.replace_nanosecond(0)
                .ok()?
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
