//! Finding ffmpeg/ffprobe and reading their versions (for `doctor` and `/ready`).

use std::path::PathBuf;
use std::process::Command;

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
pub fn version(tool: &std::path::Path) -> Result<String, String> {
    let out = Command::new(tool)
        .arg("-hide_banner")
        .arg("-version")
        .output()
        .map_err(|e| {
            format!(
                "{}: cannot run it: {e} (install ffmpeg, e.g. `sudo apt-get install ffmpeg` or scripts/ensure-ffmpeg)",
                tool.display()
            )
        })?;
    if !out.status.success() {
        return Err(format!(
            "{}: `-version` failed ({})",
            tool.display(),
            out.status
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string())
}
