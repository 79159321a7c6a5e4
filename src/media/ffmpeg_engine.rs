//! The fallback capture engine: `ffmpeg -i <manifest> -c copy` (placeholder: lands with
//! issue 5's capture work).

use crate::recording::capture::{CaptureControl, CaptureExit, CaptureProgress, CaptureRequest};

pub async fn run(
    req: CaptureRequest,
    control: CaptureControl,
    progress: tokio::sync::watch::Sender<CaptureProgress>,
) -> CaptureExit {
    let _ = (req, progress);
    control.abort.cancelled().await;
    CaptureExit::Failed("the ffmpeg capture engine is not built yet".into())
}
