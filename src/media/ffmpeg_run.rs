//! One supervised ffmpeg process: its events reach async code through a channel, so a
//! caller can put a deadline on silence, stop it gracefully (`q`) or kill it.
//!
//! ffmpeg-sidecar is synchronous (docs/instagram.md §7): its event iterator blocks on ffmpeg's
//! stderr, so it runs on its own thread and never on an async worker. A hung ffmpeg is a
//! known failure of peers (ihmily/DouyinLiveRecorder#1067, docs/instagram.md §5), hence the
//! watchdogs in the callers.

use std::ffi::OsString;
use std::sync::{Arc, Mutex};

use ffmpeg_sidecar::child::FfmpegChild;
use ffmpeg_sidecar::command::FfmpegCommand;
use ffmpeg_sidecar::event::{FfmpegEvent, LogLevel};
use tokio::sync::mpsc;

use super::error::ToolError;
use super::tools;

/// What the caller learns from ffmpeg while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Output written up to this media time (seconds).
    Progress(f64),
    /// Any other line of output; proof of life, not of progress.
    Log,
    /// An error or fatal log line.
    Error(String),
}

/// A running ffmpeg.
pub struct FfmpegRun {
    child: Arc<Mutex<FfmpegChild>>,
    events: mpsc::Receiver<Event>,
    /// The last error lines, for the failure message.
    pub errors: Vec<String>,
}

impl FfmpegRun {
    /// Starts `ffmpeg -hide_banner <args>`.
    pub fn spawn(args: &[OsString]) -> Result<FfmpegRun, ToolError> {
        let path = tools::ffmpeg_path();
        let mut cmd = FfmpegCommand::new_with_path(&path);
        cmd.hide_banner().args(args);
        let mut child = cmd.spawn().map_err(|source| ToolError::Missing {
            tool: path.clone(),
            source,
        })?;
        let iter = child.iter().map_err(|e| ToolError::Output(e.to_string()))?;
        let (tx, rx) = mpsc::channel(256);
        std::thread::Builder::new()
            .name("ffmpeg-events".into())
            .spawn(move || {
                for ev in iter {
                    let ev = match ev {
                        FfmpegEvent::Progress(p) => Event::Progress(parse_time(&p.time)),
                        FfmpegEvent::Log(LogLevel::Error | LogLevel::Fatal, line) => {
                            Event::Error(line)
                        }
                        FfmpegEvent::Error(e) => Event::Error(e),
                        FfmpegEvent::Done | FfmpegEvent::LogEOF => break,
                        _ => Event::Log,
                    };
                    if tx.blocking_send(ev).is_err() {
                        break;
                    }
                }
            })
            .map_err(ToolError::Thread)?;
        Ok(FfmpegRun {
            child: Arc::new(Mutex::new(child)),
            events: rx,
            errors: Vec::new(),
        })
    }

    /// The next event; `None` once ffmpeg closed its output (it exited or is exiting).
    pub async fn next(&mut self) -> Option<Event> {
        let ev = self.events.recv().await?;
        if let Event::Error(line) = &ev {
            if self.errors.len() >= 20 {
                self.errors.remove(0);
            }
            self.errors.push(line.chars().take(300).collect());
        }
        Some(ev)
    }

    /// Asks ffmpeg to finish the file and exit (`q` on stdin).
    pub fn quit(&self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.quit();
        }
    }

    pub fn kill(&self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
        }
    }

    /// Waits for the exit; true on success.
    pub async fn wait(self) -> Result<bool, ToolError> {
        let child = self.child.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = child
                .lock()
                .map_err(|_| ToolError::Wait("ffmpeg handle poisoned".into()))?;
            c.wait()
                .map(|s| s.success())
                .map_err(|e| ToolError::Wait(e.to_string()))
        })
        .await
        .map_err(|e| ToolError::Wait(format!("wait task: {e}")))?
    }

    /// The last error lines joined, or a generic message.
    pub fn error_summary(&self) -> String {
        if self.errors.is_empty() {
            "ffmpeg failed without an error message".into()
        } else {
            self.errors.join(" | ")
        }
    }
}

/// A run dropped without [`FfmpegRun::wait`] (its task was aborted) must not leave ffmpeg
/// running or a zombie behind.
impl Drop for FfmpegRun {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            if let Ok(None) = c.as_inner_mut().try_wait() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// `HH:MM:SS.cc` → seconds (0 when unparsable, e.g. `N/A`).
pub fn parse_time(s: &str) -> f64 {
    let mut total = 0.0;
    for part in s.trim().trim_start_matches('-').split(':') {
        let Ok(v) = part.parse::<f64>() else {
            return 0.0;
        };
        total = total * 60.0 + v;
    }
    total
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_ffmpeg_times() {
        assert!((super::parse_time("00:03:29.04") - 209.04).abs() < 1e-9);
        assert_eq!(super::parse_time("N/A"), 0.0);
    }
}
