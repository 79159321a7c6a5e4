//! A catch-up capture: one draining run over what the CDN still holds for a broadcast that
//! ended while iglive was not recording it (segments stay fetchable for a while after the end,
//! docs/instagram.md §3 "Rewind availability"). Crash recovery and `iglive finalize` run it
//! before the mux, through the same engine dispatcher as a live recording.

use std::path::Path;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::capture::{self, CaptureControl, CaptureProgress, CaptureRequest};
use crate::config::RecordingConfig;

/// How long the catch-up capture may take.
const LIMIT: Duration = Duration::from_secs(120);

/// Runs it (`stop` ends it early, keeping what is on disk); the figures when it learned where
/// the video starts, `None` otherwise.
pub async fn catch_up(
    rc: &RecordingConfig,
    http: &reqwest::Client,
    broadcast_id: &str,
    mpd_url: url::Url,
    folder: &Path,
    stop: &CancellationToken,
) -> Option<CaptureProgress> {
    let segments_dir = folder.join(".segments");
    if crate::media::finalize::is_finalized(&segments_dir, folder) {
        // Muxed and verified before a crash: a capture now could only add a stray tail.
        tracing::info!("already muxed before the restart; no catch-up capture");
        return None;
    }
    let control = CaptureControl {
        drain: CancellationToken::new(),
        abort: stop.child_token(),
    };
    control.drain.cancel();
    let req = CaptureRequest {
        broadcast_id: broadcast_id.to_string(),
        mpd_url,
        segments_dir,
        rewind: rc.rewind,
        max_height: rc.max_height,
        // A catch-up of a few seconds: its segments reach the bucket with the folder.
        on_segment: None,
    };
    let (tx, rx) = watch::channel(CaptureProgress::default());
    let run = capture::run(rc.engine, req, http.clone(), control.clone(), tx);
    match tokio::time::timeout(LIMIT, run).await {
        Ok(exit) => tracing::info!(?exit, "catch-up capture done"),
        Err(_) => {
            control.abort.cancel();
            tracing::warn!(limit = ?LIMIT, "catch-up capture timed out");
        }
    }
    let p = rx.borrow().clone();
    p.first_t.is_some().then_some(p)
}
