//! Read queries behind `iglive list`, `show` and `export`. Field names here are the JSON
//! contract scripts rely on: add fields, never rename them.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::StoreError;

/// One recording as `iglive list --json` prints it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecordingSummary {
    pub broadcast_id: String,
    pub user_id: String,
    pub username: Option<String>,
    /// The recording's state: detected, waiting, recording, interrupted, finalizing,
    /// finished, failed.
    pub status: String,
    /// Instagram's last known `broadcast_status`.
    pub broadcast_status: Option<String>,
    pub started_at: Option<f64>,
    pub ended_at: Option<f64>,
    pub duration_s: Option<f64>,
    pub folder: Option<String>,
    pub video: Option<String>,
    pub comments: i64,
    pub likes: Option<i64>,
    pub peak_viewers: Option<f64>,
    pub segments_captured: i64,
    pub segments_missing: i64,
    pub error: Option<String>,
    /// The watched accounts it was found through (`user_id` is the broadcast's owner).
    pub via: Vec<super::Via>,
    /// The engagement merge after the end: `pending`, `done`, `gave_up`, or `null` when none
    /// was wanted.
    pub chat_merge: Option<crate::states::MergeState>,
    /// The upload of the finished folder to object storage: `pending`, `done`, `failed`, or
    /// `null` when no object store is configured.
    pub upload: Option<crate::states::UploadState>,
}

/// Filters for `iglive list`.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Matches a user id, username or configured label.
    pub account: Option<String>,
    /// Only recordings that started at or after this unix time.
    pub since: Option<f64>,
}

/// The columns `summary` reads, in order (shared with the library's paged list). The figures
/// come from `recording_stats`, which triggers keep equal to counting the rows.
pub(crate) const SUMMARY_COLUMNS: &str = "
    r.broadcast_id, b.user_id, coalesce(b.username, a.username), r.state, b.status,
    coalesce(b.published_time, r.started_at), coalesce(b.ended_at, r.finished_at),
    r.duration_s, r.folder, r.video, coalesce(s.comments, 0), s.likes, s.peak_viewers,
    r.segments_captured, r.segments_missing, r.error, b.via, r.merge_state, r.upload_state";

/// The tables `SUMMARY_COLUMNS` reads, joined to `recordings r`.
pub(crate) const SUMMARY_JOINS: &str = "
    JOIN broadcasts b ON b.broadcast_id = r.broadcast_id
    LEFT JOIN accounts a ON a.user_id = b.user_id
    LEFT JOIN recording_stats s ON s.broadcast_id = r.broadcast_id";

pub(crate) fn summary(row: &rusqlite::Row<'_>) -> rusqlite::Result<RecordingSummary> {
    Ok(RecordingSummary {
        broadcast_id: row.get(0)?,
        user_id: row.get(1)?,
        username: row.get(2)?,
        status: row.get(3)?,
        broadcast_status: row.get(4)?,
        started_at: row.get(5)?,
        ended_at: row.get(6)?,
        duration_s: row.get(7)?,
        folder: row.get(8)?,
        video: row.get(9)?,
        comments: row.get(10)?,
        likes: row.get(11)?,
        peak_viewers: row.get(12)?,
        segments_captured: row.get(13)?,
        segments_missing: row.get(14)?,
        error: row.get(15)?,
        via: super::via_from_json(row.get::<_, Option<String>>(16)?.as_deref()),
        chat_merge: row.get(17)?,
        upload: row.get(18)?,
    })
}

pub fn list_recordings(
    conn: &Connection,
    filter: &ListFilter,
) -> Result<Vec<RecordingSummary>, StoreError> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM recordings r {SUMMARY_JOINS}
         WHERE (?1 IS NULL OR b.user_id = ?1 OR coalesce(b.username, a.username) = ?1 OR a.label = ?1)
           AND (?2 IS NULL OR coalesce(b.published_time, r.started_at) >= ?2)
         ORDER BY coalesce(b.published_time, r.started_at), r.broadcast_id"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params![filter.account, filter.since], summary)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn recording(
    conn: &Connection,
    broadcast_id: &str,
) -> Result<Option<RecordingSummary>, StoreError> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM recordings r {SUMMARY_JOINS} WHERE r.broadcast_id = ?1"
    );
    Ok(conn
        .query_row(&sql, params![broadcast_id], summary)
        .optional()?)
}

/// A comment as exported (`iglive export --what comments`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CommentExport {
    pub pk: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub text: String,
    pub created_at: f64,
    pub offset_s: Option<f64>,
}

/// A `CommentExport` from the columns `pk, user_id, username, text, created_at, offset_s`.
pub(crate) fn comment_export(r: &rusqlite::Row<'_>) -> rusqlite::Result<CommentExport> {
    Ok(CommentExport {
        pk: r.get(0)?,
        user_id: r.get(1)?,
        username: r.get(2)?,
        text: r.get(3)?,
        created_at: r.get(4)?,
        offset_s: r.get(5)?,
    })
}

pub fn comments(conn: &Connection, broadcast_id: &str) -> Result<Vec<CommentExport>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT pk, user_id, username, text, created_at, offset_s FROM comments
         WHERE broadcast_id = ?1 ORDER BY created_at, length(pk), pk",
    )?;
    let rows = stmt
        .query_map(params![broadcast_id], comment_export)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// A like sample as exported (`iglive export --what likes`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LikeExport {
    pub ts: f64,
    pub likes: Option<i64>,
    pub burst_likes: Option<i64>,
}

pub fn likes(conn: &Connection, broadcast_id: &str) -> Result<Vec<LikeExport>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT ts, likes, burst_likes FROM like_samples WHERE broadcast_id = ?1 AND source = 'live'
         ORDER BY ts",
    )?;
    let rows = stmt
        .query_map(params![broadcast_id], |r| {
            Ok(LikeExport {
                ts: r.get(0)?,
                likes: r.get(1)?,
                burst_likes: r.get(2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// A viewer sample as exported (`iglive export --what viewers`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ViewerExport {
    pub ts: f64,
    pub viewer_count: Option<f64>,
}

pub fn viewers(conn: &Connection, broadcast_id: &str) -> Result<Vec<ViewerExport>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT ts, viewer_count FROM viewer_samples WHERE broadcast_id = ?1 ORDER BY ts",
    )?;
    let rows = stmt
        .query_map(params![broadcast_id], |r| {
            Ok(ViewerExport {
                ts: r.get(0)?,
                viewer_count: r.get(1)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// A persisted cursor (e.g. `last_comment_ts`), so a restart continues where it stopped.
pub fn cursor(
    conn: &Connection,
    broadcast_id: &str,
    name: &str,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT value FROM cursors WHERE broadcast_id = ?1 AND name = ?2",
            params![broadcast_id, name],
            |r| r.get(0),
        )
        .optional()?)
}

/// Whether a broadcast id has been seen before (detection emits one event per broadcast, even
/// across restarts).
pub fn broadcast_known(conn: &Connection, broadcast_id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM broadcasts WHERE broadcast_id = ?1",
            params![broadcast_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// A recording not finished or failed, as crash recovery reads it at start.
#[derive(Debug, Clone)]
pub struct Unfinished {
    pub broadcast_id: String,
    pub state: super::RecordingState,
    pub user_id: String,
    pub username: Option<String>,
    pub published_time: Option<f64>,
    pub detected_at: Option<f64>,
    pub dash_url: Option<String>,
    pub folder: Option<String>,
    pub first_segment_t: Option<i64>,
    pub via: Vec<super::Via>,
}

/// Every unfinished recording, in detection order (oldest broadcast first without one).
pub fn unfinished(conn: &Connection) -> Result<Vec<Unfinished>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT r.broadcast_id, r.state, b.user_id, b.username, b.published_time,
                b.detected_at, b.dash_url, r.folder, r.first_segment_t, b.via
         FROM recordings r JOIN broadcasts b ON b.broadcast_id = r.broadcast_id
         WHERE r.state NOT IN ('finished', 'failed')
         ORDER BY coalesce(b.detected_at, b.published_time), b.published_time, r.broadcast_id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Unfinished {
                broadcast_id: r.get(0)?,
                state: r.get(1)?,
                user_id: r.get(2)?,
                username: r.get(3)?,
                published_time: r.get(4)?,
                detected_at: r.get(5)?,
                dash_url: r.get(6)?,
                folder: r.get(7)?,
                first_segment_t: r.get(8)?,
                via: super::via_from_json(r.get::<_, Option<String>>(9)?.as_deref()),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// A finished recording whose engagement merge has not landed yet, as recovery resumes it.
#[derive(Debug, Clone)]
pub struct PendingMerge {
    pub broadcast_id: String,
    pub user_id: String,
    pub published_time: Option<f64>,
    pub folder: Option<String>,
    /// Unix time it gives up.
    pub deadline: Option<f64>,
}

/// Every recording whose merge is pending, oldest broadcast first.
pub fn pending_merges(conn: &Connection) -> Result<Vec<PendingMerge>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT r.broadcast_id, b.user_id, coalesce(b.published_time, r.started_at), r.folder,
                r.merge_deadline
         FROM recordings r JOIN broadcasts b ON b.broadcast_id = r.broadcast_id
         WHERE r.merge_state = 'pending' AND r.state IN ('finished', 'failed')
         ORDER BY b.published_time",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(PendingMerge {
                broadcast_id: r.get(0)?,
                user_id: r.get(1)?,
                published_time: r.get(2)?,
                folder: r.get(3)?,
                deadline: r.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// A finished recording whose upload to object storage is to be resumed.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingUpload {
    pub broadcast_id: String,
    pub folder: String,
    /// Its engagement merge is pending too (and will rewrite the folder).
    pub merge_pending: bool,
}

/// Every finished recording whose upload is `pending` or `failed`, oldest first.
pub fn pending_uploads(conn: &Connection) -> Result<Vec<PendingUpload>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT broadcast_id, folder, coalesce(merge_state = 'pending', 0) FROM recordings
         WHERE upload_state IN ('pending', 'failed') AND state = 'finished' AND folder IS NOT NULL
         ORDER BY finished_at",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(PendingUpload {
                broadcast_id: r.get(0)?,
                folder: r.get(1)?,
                merge_pending: r.get(2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// What the engagement merge of one recording reads before it starts and when it lands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MergeFacts {
    pub state: Option<crate::states::MergeState>,
    /// Unix time it gives up.
    pub deadline: Option<f64>,
    /// Where the video starts (unix time), once the recording was finalized.
    pub video_start: Option<f64>,
    /// The last `broadcast_status` known.
    pub status: Option<crate::states::BroadcastStatus>,
}

/// The merge's facts of one recording (all unknown when there is no such recording).
pub fn merge_facts(conn: &Connection, broadcast_id: &str) -> Result<MergeFacts, StoreError> {
    Ok(conn
        .query_row(
            "SELECT r.merge_state, r.merge_deadline, r.video_start, b.status FROM recordings r
             JOIN broadcasts b ON b.broadcast_id = r.broadcast_id WHERE r.broadcast_id = ?1",
            params![broadcast_id],
            |r| {
                Ok(MergeFacts {
                    state: r.get(0)?,
                    deadline: r.get(1)?,
                    video_start: r.get(2)?,
                    status: r.get(3)?,
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

/// What the database knows about one account, for `iglive accounts list`.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct AccountActivity {
    pub user_id: String,
    pub username: Option<String>,
    /// Unix time of the newest broadcast seen (published, else detected).
    pub last_live: Option<f64>,
    pub last_broadcast_id: Option<String>,
    /// That broadcast's recording state.
    pub last_recording_state: Option<String>,
}

/// The account's username and newest broadcast; an unknown account gives an empty record.
pub fn account_activity(conn: &Connection, user_id: &str) -> Result<AccountActivity, StoreError> {
    let username: Option<String> = conn
        .query_row(
            "SELECT username FROM accounts WHERE user_id = ?1",
            params![user_id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    let last = conn
        .query_row(
            "SELECT b.broadcast_id, coalesce(b.published_time, b.detected_at), r.state, b.username
             FROM broadcasts b LEFT JOIN recordings r ON r.broadcast_id = b.broadcast_id
             WHERE b.user_id = ?1
             ORDER BY coalesce(b.published_time, b.detected_at) DESC LIMIT 1",
            params![user_id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<f64>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            },
        )
        .optional()?;
    let (last_broadcast_id, last_live, last_recording_state, b_username) = match last {
        Some((id, at, state, name)) => (Some(id), at, state, name),
        None => (None, None, None, None),
    };
    Ok(AccountActivity {
        user_id: user_id.to_string(),
        username: username.or(b_username),
        last_live,
        last_broadcast_id,
        last_recording_state,
    })
}
