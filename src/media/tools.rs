//! Finding ffmpeg/ffprobe and reading their versions (for `doctor` and `/ready`).

use std::path::PathBuf;
use std::process::Command;

use super::error::ToolError;

/// The ffmpeg binary: `$IGLIVE_FFMPEG`, else `ffmpeg` on `PATH`.
pub fn ffmpeg_path() -> PathBuf {
    std::env::var_os("IGLIVE_FFMPEG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("ffmpeg"))
}

/// The ffprobe binary: `$IGLIVE_FFPROBE`, else `ffprobe` on `PATH`.
pub fn ffprobe_path() -> PathBuf {
    std::env::var_os("IGLIVE_FFPROBE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("ffprobe"))
}

/// The first line of `<tool> -version`, e.g. `ffmpeg version 5.1.6-0+deb12u1 …`.
pub fn version(tool: &std::path::Path) -> Result<String, ToolError> {
    let out = Command::new(tool)
        .arg("-hide_banner")
        .arg("-version")
        .output()
        .map_err(|source| ToolError::Missing {
            tool: tool.to_path_buf(),
            source,
        })?;
    if !out.status.success() {
        return Err(ToolError::VersionFailed {
            tool: tool.to_path_buf(),
            status: out.status,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string())
}
