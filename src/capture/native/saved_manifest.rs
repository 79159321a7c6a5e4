//! The last manifest that described the tracks, kept beside the segments as `<url>\n<body>`,
//! so that a run starting after the `<Period>` is gone (a restart after the end) still knows
//! the segment URLs and can walk on past the last held segment.

use std::path::Path;

use bytes::Bytes;

use crate::dash::LiveManifest;

const SAVED_MANIFEST: &str = "manifest.mpd";

/// Saves it atomically; a failure is logged and otherwise harmless (only a later recovery
/// loses the tail walk).
pub(crate) async fn save(dir: &Path, body: &Bytes, url: &url::Url) {
    let dir = dir.to_path_buf();
    let (body, url) = (body.clone(), url.to_string());
    let saved = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let tmp = dir.join(format!("{SAVED_MANIFEST}.tmp"));
        std::fs::write(&tmp, format!("{url}\n"))?;
        let mut f = std::fs::OpenOptions::new().append(true).open(&tmp)?;
        std::io::Write::write_all(&mut f, &body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(SAVED_MANIFEST))
    })
    .await;
    match saved {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot save the manifest beside the segments"),
        Err(e) => tracing::warn!(error = %e, "the manifest-saving task failed"),
    }
}

/// The saved manifest, when there is one with tracks.
pub(super) async fn load(dir: &Path) -> Option<LiveManifest> {
    let path = dir.join(SAVED_MANIFEST);
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .ok()?
        .ok()?;
    let nl = bytes.iter().position(|&b| b == b'\n')?;
    let url = url::Url::parse(std::str::from_utf8(&bytes[..nl]).ok()?).ok()?;
    let m = LiveManifest::parse(&bytes[nl + 1..], &url).ok()?;
    m.has_period.then_some(m)
}
