//! The fallback capture engine (`recording.engine = "ffmpeg"`): `ffmpeg -i <manifest> -c copy`
//! into numbered MPEG-TS parts, which [`super::finalize`] concatenates.
//!
//! It exists for when the native engine meets a manifest it cannot handle; it is not the
//! default because ffmpeg fed an Instagram MPD stutters or crashes and cannot rewind
//! (docs/instagram.md §3 "Do not hand an IG MPD to ffmpeg"). MPEG-TS is used because a killed ffmpeg leaves a playable
//! file (an MP4 would lack its index). Each restart starts a new part at the live edge, so
//! parts may overlap or leave gaps; the figures say only how much was written.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::contract::{CaptureControl, CaptureError, CaptureExit, CaptureProgress, CaptureRequest};
use crate::backoff::Backoff;
use crate::media::ffmpeg_run::{Event, FfmpegRun};
use crate::media::ToolError;
use crate::media::FFMPEG_PART_PREFIX as PART_PREFIX;

/// No output growth for this long means ffmpeg is stuck (the fix peers converged on,
/// ihmily/DouyinLiveRecorder#1067).
const STALL: Duration = Duration::from_secs(30);
/// Runs in a row that wrote nothing before the engine gives up.
const MAX_EMPTY_RUNS: u32 = 6;
/// How long a `q` may take before the process is killed.
const QUIT_GRACE: Duration = Duration::from_secs(10);

/// How one ffmpeg run ended.
enum RunEnd {
    Exited { wrote: bool },
    Stalled,
    Stopped,
}

pub async fn run(
    req: CaptureRequest,
    control: CaptureControl,
    progress: watch::Sender<CaptureProgress>,
) -> CaptureExit {
    if let Err(e) = std::fs::create_dir_all(&req.segments_dir) {
        return CaptureExit::Failed(CaptureError::Storage {
            dir: req.segments_dir.clone(),
            message: e.to_string(),
        });
    }
    let mut empty_runs = 0u32;
    let mut restarts = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    let mut done_s = 0.0;
    loop {
        if control.abort.is_cancelled() || control.drain.is_cancelled() {
            return CaptureExit::Stopped;
        }
        let part = next_part(&req.segments_dir);
        let (end, secs) = run_once(&req, &control, &progress, &part, done_s).await;
        done_s += secs;
        match end {
            Err(e) => return CaptureExit::Failed(CaptureError::Ffmpeg(e.to_string())),
            Ok(RunEnd::Stopped) => return CaptureExit::Stopped,
            Ok(RunEnd::Stalled) => {
                tracing::warn!(stall = ?STALL, "ffmpeg output stopped growing; restarting")
            }
            Ok(RunEnd::Exited { wrote }) => {
                if wrote {
                    empty_runs = 0;
                    restarts.reset();
                } else {
                    empty_runs += 1;
                    if empty_runs >= MAX_EMPTY_RUNS {
                        return CaptureExit::Failed(CaptureError::Ffmpeg(format!(
                            "ffmpeg exited {empty_runs} times without writing anything"
                        )));
                    }
                }
            }
        }
        let delay = restarts.next_delay();
        tokio::select! {
            _ = control.abort.cancelled() => return CaptureExit::Stopped,
            _ = control.drain.cancelled() => return CaptureExit::Stopped,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

fn next_part(dir: &Path) -> PathBuf {
    let n = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_prefix(PART_PREFIX)?
                        .strip_suffix(".ts")?
                        .parse::<u32>()
                        .ok()
                })
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    dir.join(format!("{PART_PREFIX}{:04}.ts", n + 1))
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// One ffmpeg process; returns how it ended and the media seconds it wrote.
async fn run_once(
    req: &CaptureRequest,
    control: &CaptureControl,
    progress: &watch::Sender<CaptureProgress>,
    part: &Path,
    done_s: f64,
) -> (Result<RunEnd, ToolError>, f64) {
    let args: Vec<OsString> = vec![
        "-y".into(),
        "-i".into(),
        req.mpd_url.as_str().into(),
        "-c".into(),
        "copy".into(),
        "-f".into(),
        "mpegts".into(),
        part.into(),
    ];
    let mut run = match FfmpegRun::spawn(&args) {
        Ok(r) => r,
        Err(e) => return (Err(e), 0.0),
    };
    let before: u64 = std::fs::read_dir(&req.segments_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(PART_PREFIX))
                .map(|e| size(&e.path()))
                .sum()
        })
        .unwrap_or(0);
    let mut secs = 0.0;
    let mut last_size = 0u64;
    let mut grew_at = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let end = loop {
        tokio::select! {
            _ = control.abort.cancelled() => {
                run.kill();
                break RunEnd::Stopped;
            }
            _ = control.drain.cancelled() => {
                run.quit();
                let drained = async { while run.next().await.is_some() {} };
                if tokio::time::timeout(QUIT_GRACE, drained).await.is_err() {
                    run.kill();
                }
                break RunEnd::Stopped;
            }
            ev = run.next() => match ev {
                Some(Event::Progress(t)) => {
                    secs = t;
                    progress.send_modify(|p| p.duration_s = done_s + secs);
                }
                Some(_) => {}
                None => break RunEnd::Exited { wrote: size(part) > 0 },
            },
            _ = tick.tick() => {
                let s = size(part);
                if s > last_size {
                    last_size = s;
                    grew_at = Instant::now();
                    progress.send_modify(|p| p.bytes = before + s);
                } else if grew_at.elapsed() >= STALL {
                    run.kill();
                    break RunEnd::Stalled;
                }
            }
        }
    };
    let _ = run.wait().await;
    (Ok(end), secs)
}
