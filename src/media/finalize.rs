//! Finalization of a capture into `video.mp4` (placeholder: lands with issue 5's capture work).

use std::path::{Path, PathBuf};

/// Metadata tags written into the video.
#[derive(Debug, Clone, Default)]
pub struct MuxTags {
    pub title: String,
    /// The broadcaster's username.
    pub artist: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// The broadcast id.
    pub comment: String,
}

/// What a verified mux produced.
#[derive(Debug, Clone, Default)]
pub struct FinalizeReport {
    /// `video.mp4`, then `video-part2.mp4`, … when the stream changed format mid-way.
    pub videos: Vec<PathBuf>,
    pub duration_s: f64,
    pub streams: u32,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum FinalizeError {
    #[error("nothing was captured in {0}")]
    NothingCaptured(PathBuf),
    #[error("{0}")]
    Other(String),
}

/// Assembles, muxes and verifies the capture in `segments_dir` into `out_dir`.
pub async fn finalize_capture(
    segments_dir: &Path,
    out_dir: &Path,
    tags: &MuxTags,
    keep_segments: bool,
) -> Result<FinalizeReport, FinalizeError> {
    let _ = (out_dir, tags, keep_segments);
    Err(FinalizeError::NothingCaptured(segments_dir.to_path_buf()))
}
