//! The recording folder a person opens: `<recordings_dir>/<username>/<date>_<broadcast_id>/`
//! with the video, `broadcast.json`, the chat as JSONL and WebVTT, a viewer chart and a
//! self-contained replay page. Everything here is derived from the database, so a folder can
//! be rewritten at any time (`iglive finalize`) without losing anything.

pub(crate) mod chart;
pub(crate) mod chat;
pub(crate) mod facts;
pub(crate) mod folder;
pub(crate) mod page;

use std::path::Path;

pub use facts::{Point, RecordingFacts};
pub use folder::{account_folder, folder_size, recording_folder};

/// Names of the files in a recording folder (documented in the README).
pub const VIDEO: &str = "video.mp4";
pub const BROADCAST_JSON: &str = "broadcast.json";
pub const COMMENTS_JSONL: &str = "comments.jsonl";
pub const CHAT_VTT: &str = "chat.vtt";
pub const VIEWERS_SVG: &str = "viewers.svg";
pub const INDEX_HTML: &str = "index.html";
pub const COVER_JPG: &str = "cover.jpg";

/// Writes every text artifact of a recording folder (the video and cover are written by the
/// capture and finalization). Each file is written to a temporary name and renamed, so a crash
/// never leaves a half-written artifact.
pub fn write_artifacts(dir: &Path, facts: &RecordingFacts) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_vec_pretty(&facts.broadcast_json())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    write_atomic(&dir.join(BROADCAST_JSON), &json)?;
    write_atomic(
        &dir.join(COMMENTS_JSONL),
        chat::jsonl(&facts.comments).as_bytes(),
    )?;
    write_atomic(
        &dir.join(CHAT_VTT),
        chat::webvtt(&facts.comments).as_bytes(),
    )?;
    write_atomic(
        &dir.join(VIEWERS_SVG),
        chart::svg(facts, 720, 240).as_bytes(),
    )?;
    write_atomic(&dir.join(INDEX_HTML), page::html(facts).as_bytes())?;
    Ok(())
}

/// Write to `<path>.tmp`, fsync, rename over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// `H:MM:SS` for a number of seconds.
pub fn format_clock(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// `1.5 GiB` style sizes for people.
pub fn human_size(b: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}
