//! What happens once the live is over and the capture has drained, the same for a recording
//! that just ended and for one that crash recovery finds ended: the last capture figures are
//! stored, the recording is finalized from what is on disk — without waiting on the API — and
//! the engagement merge (final status, post-live comments and likes) is handed to the
//! background, marked `pending` so that a restart resumes it.

use std::path::PathBuf;

use crate::backoff::MAX_DELAY;
use crate::capture::CaptureProgress;
use crate::states::{MergeState, RecordingState};
use crate::store::{now_unix, RecordingRow, Write};

use super::deps::Deps;
use super::finalize::{FinalizeFailure, FinalizeJob, Finalized, Finalizer};
use super::merge::MergeJob;

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
    /// Merge the final status and the replay's comments and likes afterwards (not when
    /// stopping: the broadcast may go on).
    pub merge: bool,
}

impl AfterLive {
    pub async fn run(self, deps: &Deps) -> Result<Finalized, FinalizeFailure> {
        let mut row = if self.captured {
            RecordingRow {
                cut_by_shutdown: Some(self.cut_by_shutdown),
                ..figures_row(
                    &self.broadcast_id,
                    RecordingState::Finalizing,
                    &self.progress,
                )
            }
        } else {
            RecordingRow::new(&self.broadcast_id, RecordingState::Finalizing)
        };
        if self.merge {
            let timeout = deps.recording.merge_timeout.min(MAX_DELAY);
            row.merge_state = Some(MergeState::Pending);
            row.merge_deadline = Some(now_unix() + timeout.as_secs_f64());
        }
        deps.writer.send(Write::Recording(row)).await?;
        let finalizer = Finalizer {
            writer: deps.writer.clone(),
            store: deps.store.clone(),
            http: deps.http.clone(),
            keep_segments: deps.recording.keep_segments,
        };
        let job = FinalizeJob {
            broadcast_id: self.broadcast_id.clone(),
            folder: self.folder.clone(),
            progress: self.progress,
            published_time: self.published_time,
        };
        let outcome = job.run(&finalizer).await;
        if outcome.is_ok() {
            // With a merge to come, the folder is uploaded now and again when it lands.
            deps.uploads
                .finished(&self.broadcast_id, &self.folder, !self.merge)
                .await;
        }
        if self.merge {
            deps.merges.spawn(
                deps.clone(),
                MergeJob {
                    broadcast_id: self.broadcast_id,
                    user_id: self.user_id,
                    published_time: self.published_time,
                    folder: self.folder,
                },
            );
        }
        outcome
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
