//! What can go wrong running ffmpeg and ffprobe, worded for the operator.

use std::path::PathBuf;
use std::time::Duration;

/// Running one of the tools failed (as opposed to the media being wrong).
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{}: cannot run it: {source} (install ffmpeg, e.g. `sudo apt-get install ffmpeg` or scripts/ensure-ffmpeg)", tool.display())]
    Missing {
        tool: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: `-version` failed ({status})", tool.display())]
    VersionFailed {
        tool: PathBuf,
        status: std::process::ExitStatus,
    },
    #[error("cannot read ffmpeg's output: {0}")]
    Output(String),
    #[error("cannot start the ffmpeg reader thread: {0}")]
    Thread(std::io::Error),
    #[error("waiting for ffmpeg: {0}")]
    Wait(String),
    #[error("ffprobe on {} took over {timeout:?}", path.display())]
    ProbeTimeout { path: PathBuf, timeout: Duration },
    #[error("ffprobe rejects {}: {stderr}", path.display())]
    ProbeRejected { path: PathBuf, stderr: String },
    #[error("ffprobe output for {}: {source}", path.display())]
    ProbeOutput {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Why one mux attempt produced no file.
#[derive(Debug, thiserror::Error)]
pub enum MuxFailure {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("ffmpeg printed nothing for {0:?}; killed")]
    Silent(Duration),
    /// ffmpeg exited with an error; its last error lines.
    #[error("{0}")]
    Exited(String),
}

/// Why a muxed file was not accepted as the recording.
#[derive(Debug, thiserror::Error)]
pub enum VerifyFailure {
    #[error(transparent)]
    Probe(#[from] ToolError),
    #[error("no video stream")]
    NoVideo,
    #[error("no audio stream")]
    NoAudio,
    #[error("duration {got:.2} s, the captured timeline is {want:.2} s (±{tolerance:.1})")]
    Duration { got: f64, want: f64, tolerance: f64 },
    #[error("empty output")]
    Empty,
}
