//! The facts the recorder writes, one type per table. Optional fields mean "unknown so far":
//! an upsert never overwrites a known value with an unknown one.

use serde::Serialize;

/// An Instagram account as last seen (usernames change; the pk does not).
#[derive(Debug, Clone, Default)]
pub struct AccountRow {
    pub user_id: String,
    pub username: Option<String>,
    pub full_name: Option<String>,
    pub is_verified: Option<bool>,
    pub label: Option<String>,
}

/// One broadcast. `raw_json` keeps the last broadcast object so nothing Instagram adds is lost.
#[derive(Debug, Clone, Default)]
pub struct BroadcastRow {
    pub broadcast_id: String,
    pub user_id: String,
    pub username: Option<String>,
    pub status: Option<String>,
    pub published_time: Option<f64>,
    pub detected_at: Option<f64>,
    pub ended_at: Option<f64>,
    pub end_reason: Option<String>,
    pub dash_url: Option<String>,
    pub cover_frame_url: Option<String>,
    pub raw_json: Option<String>,
}

/// The recorder's own state of a broadcast's recording (issue 7's state machine).
#[derive(Debug, Clone, Default)]
pub struct RecordingRow {
    pub broadcast_id: String,
    pub state: String,
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
}

/// One heartbeat answer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ViewerSample {
    pub broadcast_id: String,
    pub ts: f64,
    pub viewer_count: Option<f64>,
    pub total_unique_viewer_count: Option<i64>,
    pub broadcast_status: Option<String>,
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
