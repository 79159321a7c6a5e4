//! The native capture engine (placeholder: the live loop lands with issue 5's capture work).

use crate::recording::capture::{CaptureControl, CaptureExit, CaptureProgress, CaptureRequest};

/// Records `req` until the manifest ends, `control.drain` (finish what is listed) or
/// `control.abort` (stop now), publishing figures through `progress`.
pub async fn run(
    req: CaptureRequest,
    http: reqwest::Client,
    control: CaptureControl,
    progress: tokio::sync::watch::Sender<CaptureProgress>,
) -> CaptureExit {
    let _ = (req, http, progress);
    control.abort.cancelled().await;
    CaptureExit::Failed("the native capture engine is not built yet".into())
}
