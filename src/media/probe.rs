//! What ffprobe says a media file holds: the check that an output is really a video before
//! its inputs are deleted.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::error::ToolError;
use super::tools;

/// The facts a verification needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probe {
    pub video_streams: u32,
    pub audio_streams: u32,
    pub duration_s: f64,
}

impl Probe {
    pub fn streams(&self) -> u32 {
        self.video_streams + self.audio_streams
    }
}

#[derive(Deserialize)]
struct Out {
    #[serde(default)]
    streams: Vec<Stream>,
    format: Option<Format>,
}

#[derive(Deserialize)]
struct Stream {
    codec_type: Option<String>,
}

#[derive(Deserialize)]
struct Format {
    duration: Option<String>,
}

/// `ffprobe -of json -show_format -show_streams`, bounded by `timeout`.
pub async fn probe(path: &Path, timeout: Duration) -> Result<Probe, ToolError> {
    let ffprobe = tools::ffprobe_path();
    let mut cmd = tokio::process::Command::new(&ffprobe);
    cmd.args([
        "-v",
        "error",
        "-of",
        "json",
        "-show_format",
        "-show_streams",
    ])
    .arg(path)
    .stdin(std::process::Stdio::null())
    .kill_on_drop(true);
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| ToolError::ProbeTimeout {
            path: path.to_path_buf(),
            timeout,
        })?
        .map_err(|source| ToolError::Missing {
            tool: ffprobe.clone(),
            source,
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(ToolError::ProbeRejected {
            path: path.to_path_buf(),
            stderr: err.trim().chars().take(300).collect(),
        });
    }
    let parsed: Out =
        serde_json::from_slice(&out.stdout).map_err(|source| ToolError::ProbeOutput {
            path: path.to_path_buf(),
            source,
        })?;
    let mut p = Probe::default();
    for s in &parsed.streams {
        match s.codec_type.as_deref() {
            Some("video") => p.video_streams += 1,
            Some("audio") => p.audio_streams += 1,
            _ => {}
        }
    }
    p.duration_s = parsed
        .format
        .and_then(|f| f.duration)
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite())
        .unwrap_or(0.0);
    Ok(p)
}
