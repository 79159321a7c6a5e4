//! What happens once the live is over and the capture has drained, the same for a recording
//! that just ended and for one that crash recovery finds ended: the post-live merge fills in
//! the engagement the live pollers missed, the last capture figures are stored, and the
//! recording is finalized.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::capture::CaptureProgress;
use crate::pool::Demand;
use crate::states::RecordingState;
use crate::store::{RecordingRow, Write};

use super::context::Ctx;
use super::deps::Deps;
use super::finalize::{FinalizeFailure, FinalizeJob, Finalized, Finalizer};
use super::postlive;

/// How long the post-live merge may take.
const POSTLIVE_TIMEOUT: Duration = Duration::from_secs(120);

/// One ended recording, ready for the after-live phase.
#[derive(Debug, Clone)]
pub struct AfterLive {
    pub broadcast_id: String,
    pub user_id: String,
    pub published_time: f64,
    pub folder: PathBuf,
    pub progress: CaptureProgress,
    /// `progress` comes from a capture run of this process (else the stored figures stand).
    pub captured: bool,
    pub cut_by_shutdown: bool,
    /// Ask for the replay's comments and likes (not when stopping: there is no time).
    pub merge: bool,
}

impl AfterLive {
    pub async fn run(
        self,
        deps: &Deps,
        abort: &CancellationToken,
    ) -> Result<Finalized, FinalizeFailure> {
        if self.merge && !abort.is_cancelled() {
            self.merge_post_live(deps, abort).await;
        }
        if self.captured {
            let row = RecordingRow {
                cut_by_shutdown: Some(self.cut_by_shutdown),
                ..figures_row(
                    &self.broadcast_id,
                    RecordingState::Finalizing,
                    &self.progress,
                )
            };
            deps.writer.send(Write::Recording(row)).await?;
        }
        let finalizer = Finalizer {
            writer: deps.writer.clone(),
            store: deps.store.clone(),
            http: deps.http.clone(),
            keep_segments: deps.recording.keep_segments,
        };
        let job = FinalizeJob {
            broadcast_id: self.broadcast_id,
            folder: self.folder,
            progress: self.progress,
            published_time: self.published_time,
        };
        job.run(&finalizer).await
    }

    async fn merge_post_live(&self, deps: &Deps, abort: &CancellationToken) {
        let (signals, _unused) = mpsc::channel(1);
        let ctx = Ctx {
            broadcast_id: self.broadcast_id.clone(),
            user_id: self.user_id.clone(),
            published_time: self.published_time,
            lease: Arc::new(deps.pool.lease(&self.broadcast_id, Demand::default())),
            writer: deps.writer.clone(),
            signals,
            cancel: abort.child_token(),
        };
        match tokio::time::timeout(POSTLIVE_TIMEOUT, postlive::fetch(&ctx)).await {
            Ok(r) => tracing::info!(
                comments = r.comments_seen,
                like_points = r.like_points,
                "post-live merge done"
            ),
            Err(_) => tracing::warn!(timeout = ?POSTLIVE_TIMEOUT, "post-live merge timed out"),
        }
    }
}

/// The capture's figures as a recording row in `state`.
pub(super) fn figures_row(id: &str, state: RecordingState, p: &CaptureProgress) -> RecordingRow {
    RecordingRow {
        segments_expected: Some(p.segments_expected as i64),
        segments_captured: Some(p.segments_captured as i64),
        segments_missing: Some(p.segments_missing as i64),
        missing_ranges: serde_json::to_string(
            &p.missing_ranges
                .iter()
                .map(|(a, b)| serde_json::json!({"start_t": a, "end_t": b}))
                .collect::<Vec<_>>(),
        )
        .ok(),
        bytes_captured: Some(p.bytes as i64),
        first_segment_t: p.first_t.map(|t| t as i64),
        rewind_used: Some(p.rewind_used),
        quality: p.quality.clone(),
        duration_s: (p.duration_s > 0.0).then_some(p.duration_s),
        ..RecordingRow::new(id, state)
    }
}
