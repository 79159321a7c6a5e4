//! The end of a recording: mux and verify the video, settle every offset on the video's real
//! start, write the folder's artifacts, and mark the recording finished — or failed with the
//! reason, leaving every input on disk. One [`FinalizeJob`] runs at the end of a broadcast, at
//! recovery, and from `iglive finalize`.

use std::path::{Path, PathBuf};

use crate::capture::CaptureProgress;
use crate::media::finalize::{finalize_capture, FinalizeError, FinalizeReport, MuxTags};
use crate::output::{self, RecordingFacts};
use crate::states::RecordingState;
use crate::store::{now_unix, Catalog, RecordingRow, StoreError, Write, Writer};

/// The largest cover image fetched.
const MAX_COVER_BYTES: usize = 10 * 1024 * 1024;

/// What finalizing needs besides the recording itself: the database and the CDN client.
#[derive(Clone)]
pub struct Finalizer {
    pub writer: Writer,
    pub store: Catalog,
    pub http: reqwest::Client,
    pub keep_segments: bool,
}

/// One recording to finalize.
#[derive(Debug, Clone)]
pub struct FinalizeJob {
    pub broadcast_id: String,
    pub folder: PathBuf,
    /// What the capture knows (where the video starts); empty when it never ran.
    pub progress: CaptureProgress,
    /// Unix seconds of the broadcast's `published_time`.
    pub published_time: f64,
}

/// A finalized recording.
#[derive(Debug, Clone)]
pub struct Finalized {
    pub duration_s: f64,
    pub streams: u32,
    pub folder: PathBuf,
}

impl std::fmt::Display for Finalized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "finished: {:.0} s of video, {} stream(s), in {}",
            self.duration_s,
            self.streams,
            self.folder.display()
        )
    }
}

/// Why a recording could not be finalized; the raw capture stays where it was.
#[derive(Debug, thiserror::Error)]
pub enum FinalizeFailure {
    #[error("{source}; the raw capture is kept in {}", segments.display())]
    Media {
        source: FinalizeError,
        segments: PathBuf,
    },
    #[error("the database: {0}")]
    Database(#[from] StoreError),
}

/// Unix time where the video starts: the broadcast's start moved by how far the first held
/// segment lies after `publishFrameTime` (`t` counts milliseconds of the broadcast,
/// docs/instagram.md §3).
pub fn video_start(published_time: f64, progress: &CaptureProgress) -> f64 {
    match (progress.first_t, progress.publish_frame_time) {
        (Some(first), Some(pft)) if first >= pft => published_time + (first - pft) as f64 / 1000.0,
        _ => published_time,
    }
}

impl FinalizeJob {
    fn segments_dir(&self) -> PathBuf {
        self.folder.join(".segments")
    }

    /// Muxes, verifies, records the outcome and writes the folder's files.
    pub async fn run(&self, f: &Finalizer) -> Result<Finalized, FinalizeFailure> {
        let id = &self.broadcast_id;
        f.writer
            .send(Write::Offsets {
                broadcast_id: id.clone(),
                video_start: video_start(self.published_time, &self.progress),
            })
            .await?;
        f.writer.flush().await?;
        let facts = load_facts(&f.store, id).await.unwrap_or_default();
        let result = finalize_capture(
            &self.segments_dir(),
            &self.folder,
            &mux_tags(id, &facts),
            f.keep_segments,
        )
        .await;
        let (row, outcome) = self.outcome(result);
        // The folder's files first, telling the outcome the database is about to hold: a
        // recording listed `finished` already has its broadcast.json, chat and page.
        let cover = render_folder_as(&f.store, id, &self.folder, Some(&row)).await;
        f.writer.send(Write::Recording(row)).await?;
        f.writer.flush().await?;
        if let Some(cover) = cover {
            fetch_cover(&f.http, &cover, &self.folder.join(output::COVER_JPG)).await;
        }
        outcome
    }

    fn outcome(
        &self,
        result: Result<FinalizeReport, FinalizeError>,
    ) -> (RecordingRow, Result<Finalized, FinalizeFailure>) {
        let id = self.broadcast_id.clone();
        match result {
            Ok(report) => (
                RecordingRow {
                    video: report.videos.first().map(|v| v.display().to_string()),
                    duration_s: Some(report.duration_s),
                    finished_at: Some(now_unix()),
                    ..RecordingRow::new(id, RecordingState::Finished)
                },
                Ok(Finalized {
                    duration_s: report.duration_s,
                    streams: report.streams,
                    folder: self.folder.clone(),
                }),
            ),
            Err(source) => (
                RecordingRow {
                    error: Some(source.to_string()),
                    finished_at: Some(now_unix()),
                    ..RecordingRow::new(id, RecordingState::Failed)
                },
                Err(FinalizeFailure::Media {
                    source,
                    segments: self.segments_dir(),
                }),
            ),
        }
    }
}

/// Writes the folder's files (broadcast.json, chat, page, chart) from what the database holds
/// now, each atomically; returns the cover's URL when there is one. Failures are logged, never a
/// reason to fail the recording. The end of the broadcast and the engagement merge both use it.
pub(super) async fn render_folder(store: &Catalog, id: &str, folder: &Path) -> Option<String> {
    render_folder_as(store, id, folder, None).await
}

/// `render_folder` with `outcome` (a recording row not stored yet) applied over what the
/// database holds.
async fn render_folder_as(
    store: &Catalog,
    id: &str,
    folder: &Path,
    outcome: Option<&RecordingRow>,
) -> Option<String> {
    let mut facts = load_facts(store, id).await?;
    if let Some(row) = outcome {
        // As the catalog's upsert merges it (store/apply.rs).
        facts.state = row.state;
        facts.error = match row.state {
            RecordingState::Failed => row.error.clone(),
            _ => row.error.clone().or(facts.error),
        };
        facts.video = row.video.clone().or(facts.video);
        facts.duration_s = row.duration_s.or(facts.duration_s);
    }
    let dir = folder.to_path_buf();
    let cover = facts.cover_frame_url.clone();
    let written = tokio::task::spawn_blocking(move || output::write_artifacts(&dir, &facts)).await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(
            error = %e,
            "cannot write the folder's files in {}",
            folder.display()
        ),
        Err(e) => tracing::error!(error = %e, "the artifact writer crashed"),
    }
    cover
}

/// Tags for the video. The username is untrusted: a NUL or control character in an ffmpeg
/// argument would make the mux itself fail, so the tags get a cleaned copy.
fn mux_tags(broadcast_id: &str, facts: &RecordingFacts) -> MuxTags {
    let who: String = facts
        .username
        .clone()
        .unwrap_or_else(|| facts.user_id.clone())
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let date: String = facts
        .published_time
        .map(output::facts::rfc3339)
        .map(|s| s.chars().take(10).collect())
        .unwrap_or_default();
    MuxTags {
        title: format!("{who} live {date}"),
        artist: who,
        date,
        comment: broadcast_id.to_string(),
    }
}

async fn load_facts(store: &Catalog, id: &str) -> Option<RecordingFacts> {
    match RecordingFacts::load_from(store, id).await {
        Ok(facts) => facts,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the recording's facts");
            None
        }
    }
}

/// Best effort: the cover frame is nice to have, never a reason to fail.
async fn fetch_cover(http: &reqwest::Client, url: &str, path: &Path) {
    if path.exists() {
        return;
    }
    let Ok(resp) = http.get(url).send().await else {
        return;
    };
    if !resp.status().is_success() {
        return;
    }
    if resp
        .content_length()
        .is_some_and(|l| l > MAX_COVER_BYTES as u64)
    {
        return;
    }
    if let Ok(bytes) = resp.bytes().await {
        if bytes.len() <= MAX_COVER_BYTES && bytes.starts_with(&[0xFF, 0xD8]) {
            if let Err(e) = output::write_atomic(path, &bytes) {
                tracing::debug!(error = %e, "cannot save the cover");
            }
        }
    }
}
