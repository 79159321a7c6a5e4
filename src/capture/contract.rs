//! The contract between a recording's supervisor and a capture engine: what to record, how to
//! stop it, the figures it keeps up to date while it runs, and how it ended.

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// What to capture.
#[derive(Debug, Clone)]
pub struct CaptureRequest {
    pub broadcast_id: String,
    /// The live MPD (`Broadcast::mpd_url`).
    pub mpd_url: url::Url,
    /// Where segments (and the engine's own journal) live; survives restarts so a resumed
    /// capture knows what it already holds.
    pub segments_dir: PathBuf,
    pub rewind: bool,
    pub max_height: Option<u32>,
    /// Told of each segment file the native engine stores (the live upload to object
    /// storage); the ffmpeg engine ignores it.
    pub on_segment: Option<crate::dash::SegmentHook>,
}

/// How the supervisor stops a capture.
#[derive(Debug, Clone, Default)]
pub struct CaptureControl {
    /// The broadcast has ended (status, 404): fetch what the last manifest still lists, finish
    /// rewinding what remains fetchable, then return `CaptureExit::Stopped`.
    pub drain: CancellationToken,
    /// Stop now (shutdown, second signal): return as soon as possible, keeping what is on disk.
    pub abort: CancellationToken,
}

/// Live figures of a capture, published through a `tokio::sync::watch` channel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaptureProgress {
    /// Segments the timeline says exist between the first and last `t` known.
    pub segments_expected: u64,
    pub segments_captured: u64,
    /// Segments given up on after retries.
    pub segments_missing: u64,
    /// `[start_t, end_t)` in manifest milliseconds of each missing stretch.
    pub missing_ranges: Vec<(u64, u64)>,
    pub bytes: u64,
    /// The earliest `t` held (where the video starts) and the broadcast's `publishFrameTime`.
    pub first_t: Option<u64>,
    pub publish_frame_time: Option<u64>,
    pub last_t: Option<u64>,
    /// Captured media duration in seconds (sum of segment durations held).
    pub duration_s: f64,
    pub rewind_used: bool,
    /// Chosen video representation, e.g. `live-hd-v 432x768`.
    pub quality: Option<String>,
    /// The manifest said the broadcast ended (`x-fb-video-broadcast-ended`, no `<Period>`).
    pub stream_ended: bool,
}

/// How a capture run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CaptureExit {
    /// The manifest signalled the end and every listed segment was processed.
    StreamEnded,
    /// Stopped by `drain` or `abort`.
    Stopped,
    /// Could not go on; the supervisor decides from the kind whether and when to restart it.
    Failed(CaptureError),
}

/// Why a capture run could not go on. The kinds differ in what helps: an outage passes by
/// itself, a full disk does not.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CaptureError {
    /// Writing the capture failed (disk full, permissions, a read-only folder).
    #[error("cannot write the capture in {}: {message}", dir.display())]
    Storage { dir: PathBuf, message: String },
    /// The manifest could not be had (or used) for the whole failure budget.
    #[error("the manifest has failed for {:.0} s: {last}", failing_for.as_secs_f64())]
    ManifestUnavailable { failing_for: Duration, last: String },
    /// The fallback engine's ffmpeg could not record.
    #[error("ffmpeg: {0}")]
    Ffmpeg(String),
    /// The engine's task panicked.
    #[error("the capture task crashed: {0}")]
    Crashed(String),
}

impl CaptureError {
    /// A storage failure: retrying on the outage schedule only fills the log.
    pub fn is_storage(&self) -> bool {
        matches!(self, CaptureError::Storage { .. })
    }
}
