//! The end of a recording: mux and verify the video, settle every offset on the video's real
//! start, write the folder's artifacts, and mark the recording finished — or failed with the
//! reason, leaving every input on disk. Runs at the end of a broadcast, at recovery, and from
//! `iglive finalize`.

use std::path::Path;

use crate::media::finalize::{finalize_capture, MuxTags};
use crate::output::{self, RecordingFacts};
use crate::store::{now_unix, RecordingRow, Store, Write, Writer};

use super::capture::CaptureProgress;
use super::registry::State;

/// The largest cover image fetched.
const MAX_COVER_BYTES: usize = 10 * 1024 * 1024;

/// Unix time where the video starts: the broadcast's start moved by how far the first held
/// segment lies after `publishFrameTime` (`t` counts milliseconds of the broadcast, reference §3).
pub fn video_start(published_time: f64, progress: &CaptureProgress) -> f64 {
    match (progress.first_t, progress.publish_frame_time) {
        (Some(first), Some(pft)) if first >= pft => published_time + (first - pft) as f64 / 1000.0,
        _ => published_time,
    }
}

async fn load_facts(store: &Store, id: &str) -> Option<RecordingFacts> {
    let (store, id) = (store.clone(), id.to_string());
    tokio::task::spawn_blocking(move || {
        let conn = store.connect().ok()?;
        RecordingFacts::load(&conn, &id).ok().flatten()
    })
    .await
    .ok()
    .flatten()
}

#[allow(clippy::too_many_arguments)]
pub async fn finalize(
    writer: &Writer,
    store: &Store,
    http: &reqwest::Client,
    broadcast_id: &str,
    folder: &Path,
    progress: &CaptureProgress,
    published_time: f64,
    keep_segments: bool,
) -> Result<String, String> {
    let _ = writer
        .send(Write::Offsets {
            broadcast_id: broadcast_id.to_string(),
            video_start: video_start(published_time, progress),
        })
        .await;
    writer.flush().await.map_err(|e| e.to_string())?;
    let facts = load_facts(store, broadcast_id).await.unwrap_or_default();
    // The username is untrusted: a NUL or control character in an ffmpeg argument would make
    // the mux itself fail, so the tags get a cleaned copy.
    let who: String = facts
        .username
        .clone()
        .unwrap_or_else(|| facts.user_id.clone())
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let date = facts
        .published_time
        .map(output::facts::rfc3339)
        .map(|s| s.chars().take(10).collect())
        .unwrap_or_default();
    let tags = MuxTags {
        title: format!("{who} live {date}"),
        artist: who,
        date,
        comment: broadcast_id.to_string(),
    };
    let segments_dir = folder.join(".segments");
    let result = finalize_capture(&segments_dir, folder, &tags, keep_segments).await;
    let (row, outcome) = match result {
        Ok(report) => (
            RecordingRow {
                broadcast_id: broadcast_id.to_string(),
                state: State::Finished.as_str().into(),
                video: report.videos.first().map(|v| v.display().to_string()),
                duration_s: Some(report.duration_s),
                finished_at: Some(now_unix()),
                ..Default::default()
            },
            Ok(format!(
                "finished: {:.0} s of video, {} stream(s), in {}",
                report.duration_s,
                report.streams,
                folder.display()
            )),
        ),
        Err(e) => (
            RecordingRow {
                broadcast_id: broadcast_id.to_string(),
                state: State::Failed.as_str().into(),
                error: Some(e.to_string()),
                finished_at: Some(now_unix()),
                ..Default::default()
            },
            Err(format!(
                "{e}; the raw capture is kept in {}",
                segments_dir.display()
            )),
        ),
    };
    let _ = writer.send(Write::Recording(row)).await;
    writer.flush().await.map_err(|e| e.to_string())?;
    if let Some(facts) = load_facts(store, broadcast_id).await {
        let dir = folder.to_path_buf();
        let cover = facts.cover_frame_url.clone();
        let written =
            tokio::task::spawn_blocking(move || output::write_artifacts(&dir, &facts)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(
                "broadcast {broadcast_id}: cannot write the folder's files in {}: {e}",
                folder.display()
            ),
            Err(e) => tracing::error!("broadcast {broadcast_id}: artifact writer crashed: {e}"),
        }
        if let Some(url) = cover.as_deref() {
            fetch_cover(http, url, &folder.join(output::COVER_JPG)).await;
        }
    }
    outcome
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
            let _ = output::write_atomic(path, &bytes);
        }
    }
}
