//! The reads of `store/query.rs` (and what `output::RecordingFacts`, detection's memory and
//! the status endpoint read), in PostgreSQL's dialect, returning the same types.

use std::collections::HashSet;

use tokio_postgres::Row;

use super::PgCatalog;
use crate::states::UploadState;
use crate::store::query::{
    AccountActivity, CommentExport, LikeExport, ListFilter, MergeFacts, PendingMerge,
    PendingUpload, RecordingSummary, Unfinished, ViewerExport,
};
use crate::store::{via_from_json, BroadcastStatus, MergeState, RecordingState, StoreError};

/// The columns `summary` reads, in order (`browse.rs` appends its own after them).
pub(super) const SUMMARY_COLUMNS: &str = "
    r.broadcast_id, b.user_id, coalesce(b.username, a.username), r.state, b.status,
      coalesce(b.published_time, r.started_at), coalesce(b.ended_at, r.finished_at),
      r.duration_s, r.folder, r.video, coalesce(s.comments, 0), s.likes, s.peak_viewers,
      r.segments_captured, r.segments_missing, r.error, b.via, r.merge_state, r.upload_state";

/// The tables `SUMMARY_COLUMNS` reads, joined to `recordings r`.
pub(super) const SUMMARY_JOINS: &str = "
    JOIN broadcasts b ON b.broadcast_id = r.broadcast_id
    LEFT JOIN accounts a ON a.user_id = b.user_id
    LEFT JOIN recording_stats s ON s.broadcast_id = r.broadcast_id";

fn state(s: String) -> Result<RecordingState, StoreError> {
    RecordingState::parse(&s)
        .ok_or_else(|| StoreError::Other(format!("unknown recording state {s:?} in the database")))
}

fn merge(s: Option<String>) -> Result<Option<MergeState>, StoreError> {
    s.map(|s| {
        MergeState::parse(&s)
            .ok_or_else(|| StoreError::Other(format!("unknown merge state {s:?} in the database")))
    })
    .transpose()
}

pub(super) fn summary(r: &Row) -> Result<RecordingSummary, StoreError> {
    Ok(RecordingSummary {
        broadcast_id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        username: r.try_get(2)?,
        status: r.try_get(3)?,
        broadcast_status: r.try_get(4)?,
        started_at: r.try_get(5)?,
        ended_at: r.try_get(6)?,
        duration_s: r.try_get(7)?,
        folder: r.try_get(8)?,
        video: r.try_get(9)?,
        comments: r.try_get(10)?,
        likes: r.try_get(11)?,
        peak_viewers: r.try_get(12)?,
        segments_captured: r.try_get(13)?,
        segments_missing: r.try_get(14)?,
        error: r.try_get(15)?,
        via: via_from_json(r.try_get::<_, Option<String>>(16)?.as_deref()),
        chat_merge: merge(r.try_get(17)?)?,
        upload: r
            .try_get::<_, Option<String>>(18)?
            .map(|s| {
                UploadState::parse(&s).ok_or_else(|| {
                    StoreError::Other(format!("unknown upload state {s:?} in the database"))
                })
            })
            .transpose()?,
    })
}

pub(super) fn comment(r: &Row) -> Result<CommentExport, StoreError> {
    Ok(CommentExport {
        pk: r.try_get(0)?,
        user_id: r.try_get(1)?,
        username: r.try_get(2)?,
        text: r.try_get(3)?,
        created_at: r.try_get(4)?,
        offset_s: r.try_get(5)?,
    })
}

/// A viewer sample as facts read it: `ts, offset_s, viewer_count, total_unique_viewer_count`.
pub type ViewerRow = (f64, Option<f64>, Option<f64>, Option<i64>);
/// A like sample as facts read it: `ts, offset_s, likes`.
pub type LikeRow = (f64, Option<f64>, i64);

/// One recording's row for `RecordingFacts` (`output/facts.rs` reads the same columns from
/// SQLite), with its engagement.
#[derive(Debug, Clone, Default)]
pub struct FactsRow {
    pub user_id: String,
    pub username: Option<String>,
    pub full_name: Option<String>,
    pub is_verified: Option<bool>,
    pub label: Option<String>,
    pub published_time: Option<f64>,
    pub detected_at: Option<f64>,
    pub ended_at: Option<f64>,
    pub status: Option<String>,
    pub end_reason: Option<String>,
    pub raw_json: Option<String>,
    pub cover_frame_url: Option<String>,
    pub state: RecordingState,
    pub error: Option<String>,
    pub folder: Option<String>,
    pub video: Option<String>,
    pub duration_s: Option<f64>,
    pub segments_expected: i64,
    pub segments_captured: i64,
    pub segments_missing: i64,
    pub missing_ranges: Option<String>,
    pub bytes_captured: i64,
    pub first_segment_t: Option<i64>,
    pub rewind_used: bool,
    pub quality: Option<String>,
    pub cut_by_shutdown: bool,
    pub started_at: Option<f64>,
    pub dash_url: Option<String>,
    pub via: Option<String>,
    pub merge_state: Option<MergeState>,
    pub comments: Vec<CommentExport>,
    /// `ts, offset_s, viewer_count, total_unique_viewer_count` in time order.
    pub viewers: Vec<ViewerRow>,
    /// `ts, offset_s, likes` of the live polling, in time order.
    pub likes_live: Vec<LikeRow>,
    /// The same of the replay's series.
    pub likes_post_live: Vec<LikeRow>,
    pub status_history: Vec<(f64, String)>,
}

impl PgCatalog {
    pub(super) async fn rows(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(sql)
            .await
            .map_err(|e| self.query_error(e))?;
        c.query(&stmt, params)
            .await
            .map_err(|e| self.query_error(e))
    }

    /// The server answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.rows("SELECT 1", &[]).await.map(|_| ())
    }

    pub async fn list_recordings(
        &self,
        filter: &ListFilter,
    ) -> Result<Vec<RecordingSummary>, StoreError> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM recordings r {SUMMARY_JOINS}
             WHERE ($1::text IS NULL OR b.user_id = $1::text
                    OR coalesce(b.username, a.username) = $1::text OR a.label = $1::text)
               AND ($2::float8 IS NULL OR coalesce(b.published_time, r.started_at) >= $2::float8)
             ORDER BY coalesce(b.published_time, r.started_at), r.broadcast_id"
        );
        self.rows(&sql, &[&filter.account, &filter.since])
            .await?
            .iter()
            .map(summary)
            .collect()
    }

    pub async fn recording(&self, id: &str) -> Result<Option<RecordingSummary>, StoreError> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM recordings r {SUMMARY_JOINS} WHERE r.broadcast_id = $1::text"
        );
        self.rows(&sql, &[&id])
            .await?
            .first()
            .map(summary)
            .transpose()
    }

    pub async fn comments(&self, id: &str) -> Result<Vec<CommentExport>, StoreError> {
        self.rows(
            "SELECT pk, user_id, username, text, created_at, offset_s FROM comments
             WHERE broadcast_id = $1::text ORDER BY created_at, length(pk), pk",
            &[&id],
        )
        .await?
        .iter()
        .map(comment)
        .collect()
    }

    pub async fn likes(&self, id: &str) -> Result<Vec<LikeExport>, StoreError> {
        self.rows(
            "SELECT ts, likes, burst_likes FROM like_samples
             WHERE broadcast_id = $1::text AND source = 'live' ORDER BY ts",
            &[&id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(LikeExport {
                ts: r.try_get(0)?,
                likes: r.try_get(1)?,
                burst_likes: r.try_get(2)?,
            })
        })
        .collect()
    }

    pub async fn viewers(&self, id: &str) -> Result<Vec<ViewerExport>, StoreError> {
        self.rows(
            "SELECT ts, viewer_count FROM viewer_samples WHERE broadcast_id = $1::text ORDER BY ts",
            &[&id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(ViewerExport {
                ts: r.try_get(0)?,
                viewer_count: r.try_get(1)?,
            })
        })
        .collect()
    }

    pub async fn cursor(&self, id: &str, name: &str) -> Result<Option<String>, StoreError> {
        let rows = self
            .rows(
                "SELECT value FROM cursors WHERE broadcast_id = $1::text AND name = $2::text",
                &[&id, &name],
            )
            .await?;
        Ok(rows.first().map(|r| r.try_get(0)).transpose()?)
    }

    pub async fn broadcast_known(&self, id: &str) -> Result<bool, StoreError> {
        let rows = self
            .rows(
                "SELECT 1 FROM broadcasts WHERE broadcast_id = $1::text",
                &[&id],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    /// Every broadcast id (detection's memory).
    pub async fn broadcast_ids(&self) -> Result<HashSet<String>, StoreError> {
        self.rows("SELECT broadcast_id FROM broadcasts", &[])
            .await?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
    }

    pub async fn unfinished(&self) -> Result<Vec<Unfinished>, StoreError> {
        self.rows(
            "SELECT r.broadcast_id, r.state, b.user_id, b.username, b.published_time,
                    b.detected_at, b.dash_url, r.folder, r.first_segment_t, b.via
             FROM recordings r JOIN broadcasts b ON b.broadcast_id = r.broadcast_id
             WHERE r.state NOT IN ('finished', 'failed')
             ORDER BY coalesce(b.detected_at, b.published_time), b.published_time, r.broadcast_id",
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Unfinished {
                broadcast_id: r.try_get(0)?,
                state: state(r.try_get(1)?)?,
                user_id: r.try_get(2)?,
                username: r.try_get(3)?,
                published_time: r.try_get(4)?,
                detected_at: r.try_get(5)?,
                dash_url: r.try_get(6)?,
                folder: r.try_get(7)?,
                first_segment_t: r.try_get(8)?,
                via: via_from_json(r.try_get::<_, Option<String>>(9)?.as_deref()),
            })
        })
        .collect()
    }

    pub async fn pending_merges(&self) -> Result<Vec<PendingMerge>, StoreError> {
        self.rows(
            "SELECT r.broadcast_id, b.user_id, coalesce(b.published_time, r.started_at), r.folder,
                    r.merge_deadline
             FROM recordings r JOIN broadcasts b ON b.broadcast_id = r.broadcast_id
             WHERE r.merge_state = 'pending' AND r.state IN ('finished', 'failed')
             ORDER BY b.published_time",
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(PendingMerge {
                broadcast_id: r.try_get(0)?,
                user_id: r.try_get(1)?,
                published_time: r.try_get(2)?,
                folder: r.try_get(3)?,
                deadline: r.try_get(4)?,
            })
        })
        .collect()
    }

    pub async fn pending_uploads(&self) -> Result<Vec<PendingUpload>, StoreError> {
        self.rows(
            "SELECT broadcast_id, folder, coalesce(merge_state = 'pending', false) FROM recordings
             WHERE upload_state IN ('pending', 'failed') AND state = 'finished' AND folder IS NOT NULL
             ORDER BY finished_at",
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(PendingUpload {
                broadcast_id: r.try_get(0)?,
                folder: r.try_get(1)?,
                merge_pending: r.try_get(2)?,
            })
        })
        .collect()
    }

    pub async fn merge_facts(&self, id: &str) -> Result<MergeFacts, StoreError> {
        let rows = self
            .rows(
                "SELECT r.merge_state, r.merge_deadline, r.video_start, b.status FROM recordings r
                 JOIN broadcasts b ON b.broadcast_id = r.broadcast_id WHERE r.broadcast_id = $1::text",
                &[&id],
            )
            .await?;
        let Some(r) = rows.first() else {
            return Ok(MergeFacts::default());
        };
        Ok(MergeFacts {
            state: merge(r.try_get(0)?)?,
            deadline: r.try_get(1)?,
            video_start: r.try_get(2)?,
            status: r
                .try_get::<_, Option<String>>(3)?
                .map(|s| BroadcastStatus::parse(&s)),
        })
    }

    pub async fn account_activity(&self, user_id: &str) -> Result<AccountActivity, StoreError> {
        let username: Option<String> = self
            .rows(
                "SELECT username FROM accounts WHERE user_id = $1::text",
                &[&user_id],
            )
            .await?
            .first()
            .map(|r| r.try_get(0))
            .transpose()?
            .flatten();
        let last = self
            .rows(
                "SELECT b.broadcast_id, coalesce(b.published_time, b.detected_at), r.state, b.username
                 FROM broadcasts b LEFT JOIN recordings r ON r.broadcast_id = b.broadcast_id
                 WHERE b.user_id = $1::text
                 ORDER BY coalesce(b.published_time, b.detected_at) DESC NULLS LAST LIMIT 1",
                &[&user_id],
            )
            .await?;
        let mut out = AccountActivity {
            user_id: user_id.to_string(),
            username,
            ..Default::default()
        };
        if let Some(r) = last.first() {
            out.last_broadcast_id = Some(r.try_get(0)?);
            out.last_live = r.try_get(1)?;
            out.last_recording_state = r.try_get(2)?;
            out.username = out.username.or(r.try_get(3)?);
        }
        Ok(out)
    }

    /// Recordings by state and the capture totals (`/metrics`).
    pub async fn recording_totals(&self) -> Result<(Vec<(String, i64)>, [i64; 3]), StoreError> {
        let by_state = self
            .rows("SELECT state, count(*) FROM recordings GROUP BY state", &[])
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let sums = self
            .rows(
                "SELECT coalesce(sum(bytes_captured), 0)::bigint,
                        coalesce(sum(segments_captured), 0)::bigint,
                        coalesce(sum(segments_missing), 0)::bigint FROM recordings",
                &[],
            )
            .await?;
        let sums = match sums.first() {
            Some(r) => [r.try_get(0)?, r.try_get(1)?, r.try_get(2)?],
            None => [0; 3],
        };
        Ok((by_state, sums))
    }

    /// Everything `RecordingFacts` is built from; `None` without a recording.
    pub async fn facts(&self, id: &str) -> Result<Option<FactsRow>, StoreError> {
        let rows = self
            .rows(
                "SELECT b.user_id, coalesce(b.username, a.username), a.full_name, a.is_verified,
                   a.label, b.published_time, b.detected_at, b.ended_at, b.status, b.end_reason,
                   b.raw_json, b.cover_frame_url, r.state, r.error, r.folder, r.video,
                   r.duration_s, r.segments_expected, r.segments_captured, r.segments_missing,
                   r.missing_ranges, r.bytes_captured, r.first_segment_t, r.rewind_used,
                   r.quality, r.cut_by_shutdown, r.started_at, b.dash_url, b.via, r.merge_state
                 FROM recordings r JOIN broadcasts b ON b.broadcast_id = r.broadcast_id
                 LEFT JOIN accounts a ON a.user_id = b.user_id
                 WHERE r.broadcast_id = $1::text",
                &[&id],
            )
            .await?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let mut f = FactsRow {
            user_id: r.try_get(0)?,
            username: r.try_get(1)?,
            full_name: r.try_get(2)?,
            is_verified: r.try_get(3)?,
            label: r.try_get(4)?,
            published_time: r.try_get(5)?,
            detected_at: r.try_get(6)?,
            ended_at: r.try_get(7)?,
            status: r.try_get(8)?,
            end_reason: r.try_get(9)?,
            raw_json: r.try_get(10)?,
            cover_frame_url: r.try_get(11)?,
            state: state(r.try_get(12)?)?,
            error: r.try_get(13)?,
            folder: r.try_get(14)?,
            video: r.try_get(15)?,
            duration_s: r.try_get(16)?,
            segments_expected: r.try_get(17)?,
            segments_captured: r.try_get(18)?,
            segments_missing: r.try_get(19)?,
            missing_ranges: r.try_get(20)?,
            bytes_captured: r.try_get(21)?,
            first_segment_t: r.try_get(22)?,
            rewind_used: r.try_get(23)?,
            quality: r.try_get(24)?,
            cut_by_shutdown: r.try_get(25)?,
            started_at: r.try_get(26)?,
            dash_url: r.try_get(27)?,
            via: r.try_get(28)?,
            merge_state: merge(r.try_get(29)?)?,
            ..Default::default()
        };
        f.comments = self.comments(id).await?;
        f.viewers = self
            .rows(
                "SELECT ts, offset_s, viewer_count, total_unique_viewer_count FROM viewer_samples
                 WHERE broadcast_id = $1::text ORDER BY ts",
                &[&id],
            )
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect::<Result<_, StoreError>>()?;
        for (source, into) in [
            ("live", &mut f.likes_live),
            ("post_live", &mut f.likes_post_live),
        ] {
            *into = self
                .rows(
                    "SELECT ts, offset_s, likes FROM like_samples
                     WHERE broadcast_id = $1::text AND source = $2::text AND likes IS NOT NULL
                     ORDER BY ts",
                    &[&id, &source],
                )
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect::<Result<_, StoreError>>()?;
        }
        f.status_history = self
            .rows(
                "SELECT at, status FROM broadcast_status WHERE broadcast_id = $1::text
                 ORDER BY at, id",
                &[&id],
            )
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, StoreError>>()?;
        Ok(Some(f))
    }
}
