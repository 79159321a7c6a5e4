//! The facts the recorder writes, one type per table. Optional fields mean "unknown so far":
//! an upsert never overwrites a known value with an unknown one.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

pub use crate::states::{BroadcastStatus, MergeState, RecordingState, UploadState};

/// An Instagram account as last seen (usernames change; the pk does not).
#[derive(Debug, Clone, Default)]
pub struct AccountRow {
    pub user_id: String,
    pub username: Option<String>,
    pub full_name: Option<String>,
    pub is_verified: Option<bool>,
    pub label: Option<String>,
}

/// A watched account a broadcast was found through: its owner, or a guest of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Via {
    pub user_id: String,
    pub username: Option<String>,
}

/// `broadcasts.via` as stored (a JSON list); an unreadable value reads as none.
pub fn via_from_json(raw: Option<&str>) -> Vec<Via> {
    raw.and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default()
}

/// The accounts of a `via` list for a person: `name (pk), …`.
pub fn via_names(via: &[Via]) -> String {
    via.iter()
        .map(|v| match &v.username {
            Some(u) => format!("{u} ({})", v.user_id),
            None => v.user_id.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One broadcast (`user_id` is its owner's). `raw_json` keeps the last broadcast object so nothing Instagram adds is lost.
#[derive(Debug, Clone, Default)]
pub struct BroadcastRow {
    pub broadcast_id: String,
    pub user_id: String,
    pub username: Option<String>,
    pub status: Option<BroadcastStatus>,
    pub published_time: Option<f64>,
    pub detected_at: Option<f64>,
    pub ended_at: Option<f64>,
    pub end_reason: Option<String>,
    pub dash_url: Option<String>,
    pub cover_frame_url: Option<String>,
    pub raw_json: Option<String>,
    /// The watched accounts it was found through, as JSON (`via_from_json` reads it).
    pub via: Option<String>,
}

/// The recorder's own state of a broadcast's recording. Built with [`RecordingRow::new`]: every
/// write states the state, so none can reset it by accident.
#[derive(Debug, Clone)]
pub struct RecordingRow {
    pub broadcast_id: String,
    pub state: RecordingState,
    pub folder: Option<String>,
    pub video: Option<String>,
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    pub error: Option<String>,
    pub duration_s: Option<f64>,
    pub segments_expected: Option<i64>,
    pub segments_captured: Option<i64>,
    pub segments_missing: Option<i64>,
    pub missing_ranges: Option<String>,
    pub bytes_captured: Option<i64>,
    pub first_segment_t: Option<i64>,
    pub rewind_used: Option<bool>,
    pub quality: Option<String>,
    pub cut_by_shutdown: Option<bool>,
    /// The engagement merge after the end (`None`: keep what is stored).
    pub merge_state: Option<MergeState>,
    /// Unix time the merge gives up; the first one written stays.
    pub merge_deadline: Option<f64>,
}

impl RecordingRow {
    /// A row that sets only the state; every other field is "unknown, keep what is stored".
    pub fn new(broadcast_id: impl Into<String>, state: RecordingState) -> RecordingRow {
        RecordingRow {
            broadcast_id: broadcast_id.into(),
            state,
            folder: None,
            video: None,
            started_at: None,
            finished_at: None,
            error: None,
            duration_s: None,
            segments_expected: None,
            segments_captured: None,
            segments_missing: None,
            missing_ranges: None,
            bytes_captured: None,
            first_segment_t: None,
            rewind_used: None,
            quality: None,
            cut_by_shutdown: None,
            merge_state: None,
            merge_deadline: None,
        }
    }
}

/// Where a broadcast status in the history came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusSource {
    Heartbeat,
    Info,
}

impl StatusSource {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusSource::Heartbeat => "heartbeat",
            StatusSource::Info => "info",
        }
    }
}

/// One heartbeat answer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ViewerSample {
    pub broadcast_id: String,
    pub ts: f64,
    pub viewer_count: Option<f64>,
    pub total_unique_viewer_count: Option<i64>,
    pub broadcast_status: Option<BroadcastStatus>,
    pub offset_to_video_start: Option<i64>,
    pub cobroadcaster_ids: Option<String>,
    pub offset_s: Option<f64>,
}

/// One comment; unique per (broadcast, pk), so re-reading a page never duplicates it.
#[derive(Debug, Clone, Default)]
pub struct CommentRow {
    pub broadcast_id: String,
    pub pk: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub text: String,
    pub created_at: f64,
    pub offset_s: Option<f64>,
    /// `comment`, `pinned` or `system`.
    pub kind: String,
    /// `live` or `post_live`.
    pub source: String,
    pub raw_json: String,
}

/// One like-count answer (live) or one point of the post-live time series.
#[derive(Debug, Clone, Default)]
pub struct LikeSample {
    pub broadcast_id: String,
    pub ts: f64,
    pub likes: Option<i64>,
    pub burst_likes: Option<i64>,
    pub offset_s: Option<f64>,
    pub source: String,
}

/// Seconds since the Unix epoch, as the store keeps every time.
pub fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl ToSql for RecordingState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for RecordingState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = value.as_str()?;
        RecordingState::parse(s).ok_or_else(|| {
            FromSqlError::Other(format!("unknown recording state {s:?} in the database").into())
        })
    }
}

impl ToSql for MergeState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for MergeState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = value.as_str()?;
        MergeState::parse(s).ok_or_else(|| {
            FromSqlError::Other(format!("unknown merge state {s:?} in the database").into())
        })
    }
}

impl ToSql for UploadState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for UploadState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = value.as_str()?;
        UploadState::parse(s).ok_or_else(|| {
            FromSqlError::Other(format!("unknown upload state {s:?} in the database").into())
        })
    }
}

impl ToSql for BroadcastStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for BroadcastStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(BroadcastStatus::parse(value.as_str()?))
    }
}
