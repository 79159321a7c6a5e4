//! Capture: turning a live manifest into segments on disk. One contract ([`CaptureRequest`] in,
//! [`CaptureControl`] to stop it, [`CaptureProgress`] while it runs, [`CaptureExit`] at the
//! end), two engines side by side, and one dispatcher, [`run`], that the recording supervisor,
//! crash recovery and `iglive finalize` all go through:
//!
//! * [`native`] (the default) fetches every segment itself, rewinds to the first frame and
//!   fills outage gaps;
//! * [`ffmpeg`] (the fallback, `recording.engine = "ffmpeg"`) hands the manifest to ffmpeg.

mod contract;
pub(crate) mod ffmpeg;
pub(crate) mod native;

use tokio::sync::watch;
use tracing::Instrument as _;

pub use crate::config::Engine;
pub use contract::{CaptureControl, CaptureError, CaptureExit, CaptureProgress, CaptureRequest};
pub use native::CaptureOptions;

/// Keeps a manifest beside the segments in `dir` (created if missing), for a capture that
/// starts after the live manifest lost its `<Period>` or is gone: a live that waited for a
/// recording slot saves the one it was detected with.
pub async fn keep_manifest(dir: &std::path::Path, body: &bytes::Bytes, url: &url::Url) {
    if let Err(e) = tokio::fs::create_dir_all(dir).await {
        tracing::warn!(error = %e, "cannot create {}", dir.display());
        return;
    }
    native::save_manifest(dir, body, url).await;
}

/// Runs one capture with the chosen engine until it ends, is drained or aborted, or fails.
/// A panic inside the engine comes back as [`CaptureError::Crashed`].
pub async fn run(
    engine: Engine,
    req: CaptureRequest,
    http: reqwest::Client,
    control: CaptureControl,
    progress: watch::Sender<CaptureProgress>,
) -> CaptureExit {
    let task = tokio::spawn(
        async move {
            match engine {
                Engine::Native => native::run(req, http, control, progress).await,
                Engine::Ffmpeg => ffmpeg::run(req, control, progress).await,
            }
        }
        .in_current_span(),
    );
    match task.await {
        Ok(exit) => exit,
        Err(e) => CaptureExit::Failed(CaptureError::Crashed(e.to_string())),
    }
}
