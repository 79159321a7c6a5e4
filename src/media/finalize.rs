//! Finalization of a capture into `video.mp4`: assemble each track in `t` order, mux with
//! ffmpeg (stream copy, faststart, tags), verify with ffprobe, and only then delete inputs.
//!
//! Two inputs are understood: the native engine's [`SegmentStore`] (one output per video
//! part, since a changed init cannot be concatenated) and the ffmpeg engine's numbered
//! MPEG-TS parts, which are concatenated into one file.
//!
//! The rule that matters: nothing is deleted that has not been verified in an output. A
//! failed or hung mux leaves the segments and the assembled raw tracks on disk and reports
//! why; `iglive finalize` can try again later.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::dash::{SegmentStore, AUDIO, VIDEO};

use super::error::{MuxFailure, VerifyFailure};
use super::ffmpeg_run::{Event, FfmpegRun};
use super::probe::{probe, Probe};

/// Part files of the ffmpeg capture engine: `ffmpeg-0001.ts`, `ffmpeg-0002.ts`, … (MPEG-TS,
/// which a killed ffmpeg leaves playable); they are concatenated in name order.
pub const FFMPEG_PART_PREFIX: &str = "ffmpeg-";

/// Metadata tags written into the video.
#[derive(Debug, Clone, Default)]
pub struct MuxTags {
    pub title: String,
    /// The broadcaster's username.
    pub artist: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// The broadcast id.
    pub comment: String,
}

/// What a verified mux produced.
#[derive(Debug, Clone, Default)]
pub struct FinalizeReport {
    /// `video.mp4`, then `video-part2.mp4`, … when the stream changed format mid-way.
    pub videos: Vec<PathBuf>,
    pub duration_s: f64,
    pub streams: u32,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum FinalizeError {
    #[error("nothing was captured in {0}")]
    NothingCaptured(PathBuf),
    #[error("segment store: {0}")]
    Store(String),
    #[error("muxing {} failed twice: {reason}", output.display())]
    Mux { output: PathBuf, reason: MuxFailure },
    #[error("{} failed verification: {reason}", output.display())]
    Verify {
        output: PathBuf,
        reason: VerifyFailure,
    },
    #[error("{0}")]
    Other(String),
}

/// ffmpeg printing nothing for this long is hung, not slow (stream copy of hours of video
/// reports progress every second).
const SILENCE_TIMEOUT: Duration = Duration::from_secs(120);
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// Where assembled raw tracks go, inside the segments directory.
const ASSEMBLED: &str = "assembled";

/// One output to produce.
#[derive(Debug)]
struct Job {
    inputs: Vec<PathBuf>,
    /// The inputs are an ffmpeg concat list, not media files.
    concat: bool,
    has_audio: bool,
    output: PathBuf,
    /// Expected duration and how far off the output may be; `None`: only "not empty".
    expect: Option<(f64, f64)>,
}

/// Where verified inputs are moved before they are deleted: one atomic rename marks the
/// outputs as complete, so a crash during the deletion cannot leave a half-deleted store that
/// a later run would mux into a worse video.
fn retired(segments_dir: &Path) -> PathBuf {
    let mut name = segments_dir.as_os_str().to_os_string();
    name.push(".done");
    PathBuf::from(name)
}

/// Whether a folder's capture was already muxed and verified (its segments retired or gone
/// beside the video): nothing more should be captured into it, and a re-run only reports.
pub fn is_finalized(segments_dir: &Path, out_dir: &Path) -> bool {
    retired(segments_dir).exists()
        || (!segments_dir.exists() && out_dir.join(output_name(1)).is_file())
}

/// Finalizations running at once: one per core, at least two.
fn mux_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores.max(2))
    })
}

/// Assembles, muxes and verifies the capture in `segments_dir` into `out_dir`.
pub async fn finalize_capture(
    segments_dir: &Path,
    out_dir: &Path,
    tags: &MuxTags,
    keep_segments: bool,
) -> Result<FinalizeReport, FinalizeError> {
    if retired(segments_dir).exists() {
        // An earlier run verified its outputs and was stopped while deleting the inputs;
        // whatever was captured since (a catch-up) is not part of them.
        remove_quietly(&retired(segments_dir));
        remove_quietly(segments_dir);
        return already_done(segments_dir, out_dir).await;
    }
    if !segments_dir.is_dir() {
        // A re-run after a finalize that verified and removed the segments.
        return already_done(segments_dir, out_dir).await;
    }
    // Assembling and muxing read and write the whole capture: when many broadcasts end at
    // once, running all of them together only makes every one (and the live captures beside
    // them) slower.
    let _slot = mux_slots().acquire().await;
    let jobs = {
        let (seg, out) = (segments_dir.to_path_buf(), out_dir.to_path_buf());
        tokio::task::spawn_blocking(move || plan(&seg, &out))
            .await
            .map_err(|e| FinalizeError::Other(format!("finalize task: {e}")))??
    };
    if jobs.is_empty() {
        // An empty store beside a verified video: an earlier run finished the mux and removed
        // the segments, then a catch-up capture found nothing more to fetch.
        if out_dir.join(output_name(1)).is_file() {
            return already_done(segments_dir, out_dir).await;
        }
        return Err(FinalizeError::NothingCaptured(segments_dir.to_path_buf()));
    }
    std::fs::create_dir_all(out_dir)
        .map_err(|e| FinalizeError::Other(format!("creating {}: {e}", out_dir.display())))?;
    let mut report = FinalizeReport::default();
    for job in &jobs {
        let probe = mux_verified(job, tags).await?;
        report.videos.push(job.output.clone());
        report.duration_s += probe.duration_s;
        report.streams = report.streams.max(probe.streams());
        report.bytes += std::fs::metadata(&job.output).map_or(0, |m| m.len());
    }
    // Every output is verified: the inputs may go (thousands of files: off the runtime).
    let dir = segments_dir.to_path_buf();
    let cleaned = tokio::task::spawn_blocking(move || {
        remove_quietly(&dir.join(ASSEMBLED));
        remove_quietly(&dir.join("concat.txt"));
        if !keep_segments {
            match std::fs::rename(&dir, retired(&dir)) {
                Ok(()) => remove_quietly(&retired(&dir)),
                Err(e) => tracing::warn!(error = %e, "cannot retire {}", dir.display()),
            }
        }
    })
    .await;
    if let Err(e) = cleaned {
        tracing::warn!(error = %e, "the clean-up task failed");
    }
    Ok(report)
}

/// Removes a file or a folder tree; what cannot be removed is only worth a warning.
fn remove_quietly(path: &Path) {
    let removed = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    if let Err(e) = removed {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(error = %e, "cannot remove {}", path.display());
        }
    }
}

/// The report of outputs that already exist (segments gone after an earlier success).
async fn already_done(
    segments_dir: &Path,
    out_dir: &Path,
) -> Result<FinalizeReport, FinalizeError> {
    let mut report = FinalizeReport::default();
    for n in 1..=64u32 {
        let path = out_dir.join(output_name(n));
        if !path.is_file() {
            break;
        }
        let p = probe(&path, PROBE_TIMEOUT)
            .await
            .map_err(|e| FinalizeError::Verify {
                output: path.clone(),
                reason: e.into(),
            })?;
        report.duration_s += p.duration_s;
        report.streams = report.streams.max(p.streams());
        report.bytes += std::fs::metadata(&path).map_or(0, |m| m.len());
        report.videos.push(path);
    }
    if report.videos.is_empty() {
        return Err(FinalizeError::NothingCaptured(segments_dir.to_path_buf()));
    }
    Ok(report)
}

fn output_name(n: u32) -> String {
    if n <= 1 {
        "video.mp4".into()
    } else {
        format!("video-part{n}.mp4")
    }
}

/// Decides the outputs and assembles the raw tracks (blocking). A directory both engines
/// wrote to (the engine setting changed between runs) gives outputs for both, since the
/// directory is removed only when everything in it is verified.
fn plan(segments_dir: &Path, out_dir: &Path) -> Result<Vec<Job>, FinalizeError> {
    let mut jobs = Vec::new();
    if segments_dir.join(VIDEO).is_dir() {
        jobs = plan_native(segments_dir, out_dir)?;
    }
    if let Some(job) = plan_ffmpeg(segments_dir, out_dir, jobs.len() as u32 + 1)? {
        jobs.push(job);
    }
    Ok(jobs)
}

fn plan_native(segments_dir: &Path, out_dir: &Path) -> Result<Vec<Job>, FinalizeError> {
    let store =
        SegmentStore::open(segments_dir).map_err(|e| FinalizeError::Store(e.to_string()))?;
    let assembled = segments_dir.join(ASSEMBLED);
    std::fs::create_dir_all(&assembled)
        .map_err(|e| FinalizeError::Other(format!("creating {}: {e}", assembled.display())))?;
    let mut jobs = Vec::new();
    for part in store.parts(VIDEO) {
        let ts = store.list_part(VIDEO, part);
        let (Some(&first), Some(&last)) = (ts.first(), ts.last()) else {
            continue;
        };
        // The audio part holding most of this video part's `t` values (audio and video
        // share `t`, docs/instagram.md §3).
        let audio_part = store
            .parts(AUDIO)
            .into_iter()
            .map(|ap| {
                let held = store.list_part(AUDIO, ap);
                let n = held.iter().filter(|t| (first..=last).contains(*t)).count();
                (n, ap)
            })
            .filter(|&(n, _)| n > 0)
            .max()
            .map(|(_, ap)| ap);
        let n = jobs.len() as u32 + 1;
        let v_path = assembled.join(format!("video-{part}.mp4"));
        store
            .assemble(VIDEO, part, &v_path)
            .map_err(|e| FinalizeError::Store(e.to_string()))?;
        let mut inputs = vec![v_path];
        if let Some(ap) = audio_part {
            let a_path = assembled.join(format!("audio-{part}-{ap}.mp4"));
            // Only the audio of this video part's stretch, so a part's output is not
            // padded with the audio of the others.
            store
                .assemble_range(AUDIO, ap, first..=last, &a_path)
                .map_err(|e| FinalizeError::Store(e.to_string()))?;
            inputs.push(a_path);
        }
        // The timeline spans first..last plus one segment; a typical segment is the
        // median step between held `t`s (Instagram: ~2 s).
        let mut steps: Vec<u64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
        steps.sort_unstable();
        let step = steps
            .get(steps.len() / 2)
            .copied()
            .unwrap_or(2000)
            .min(10_000);
        let span_s = (last - first + step) as f64 / 1000.0;
        let tolerance = (step as f64 / 1000.0).max(1.0) + 0.5;
        jobs.push(Job {
            has_audio: inputs.len() == 2,
            inputs,
            concat: false,
            output: out_dir.join(output_name(n)),
            expect: Some((span_s, tolerance)),
        });
    }
    Ok(jobs)
}

/// The ffmpeg engine's parts, concatenated in order into output number `n`.
fn plan_ffmpeg(segments_dir: &Path, out_dir: &Path, n: u32) -> Result<Option<Job>, FinalizeError> {
    let mut parts: Vec<PathBuf> = std::fs::read_dir(segments_dir)
        .map_err(|e| FinalizeError::Other(format!("reading {}: {e}", segments_dir.display())))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(FFMPEG_PART_PREFIX) && n.ends_with(".ts"))
                && std::fs::metadata(p).is_ok_and(|m| m.len() > 0)
        })
        .collect();
    parts.sort();
    if parts.is_empty() {
        return Ok(None);
    }
    let list = segments_dir.join("concat.txt");
    let mut text = String::new();
    for p in &parts {
        let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        // The concat demuxer's quoting: a quote becomes '\''.
        let s = abs.to_string_lossy().replace('\'', r"'\''");
        text.push_str(&format!("file '{s}'\n"));
    }
    std::fs::write(&list, text)
        .map_err(|e| FinalizeError::Other(format!("writing {}: {e}", list.display())))?;
    Ok(Some(Job {
        inputs: vec![list],
        concat: true,
        has_audio: false,
        output: out_dir.join(output_name(n)),
        expect: None,
    }))
}

/// Muxes `job` (one retry), verifies the result and moves it into place.
async fn mux_verified(job: &Job, tags: &MuxTags) -> Result<Probe, FinalizeError> {
    let tmp = job.output.with_extension("mp4.partial");
    let mut reason = None;
    for attempt in 0..2 {
        if let Some(r) = reason.as_ref().filter(|_| attempt > 0) {
            tracing::warn!(reason = %r, "muxing {} failed; retrying once", job.output.display());
        }
        if let Err(e) = mux(job, tags, &tmp).await {
            reason = Some(e);
            remove_partial(&tmp);
            continue;
        }
        let p = probe(&tmp, PROBE_TIMEOUT)
            .await
            .map_err(VerifyFailure::from);
        match p.and_then(|p| check(job, &p).map(|()| p)) {
            Ok(p) => {
                std::fs::rename(&tmp, &job.output).map_err(|e| {
                    FinalizeError::Other(format!("moving {} into place: {e}", job.output.display()))
                })?;
                return Ok(p);
            }
            Err(e) => {
                remove_partial(&tmp);
                return Err(FinalizeError::Verify {
                    output: job.output.clone(),
                    reason: e,
                });
            }
        }
    }
    Err(FinalizeError::Mux {
        output: job.output.clone(),
        reason: reason.unwrap_or(MuxFailure::Exited("no attempt was made".into())),
    })
}

/// A failed attempt's output is not worth keeping; it may not even exist.
fn remove_partial(tmp: &Path) {
    if let Err(e) = std::fs::remove_file(tmp) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(error = %e, "cannot remove {}", tmp.display());
        }
    }
}

/// Both streams present and the duration matches the captured timeline.
fn check(job: &Job, p: &Probe) -> Result<(), VerifyFailure> {
    if p.video_streams == 0 {
        return Err(VerifyFailure::NoVideo);
    }
    if job.has_audio && p.audio_streams == 0 {
        return Err(VerifyFailure::NoAudio);
    }
    match job.expect {
        Some((want, tolerance)) if (p.duration_s - want).abs() > tolerance => {
            Err(VerifyFailure::Duration {
                got: p.duration_s,
                want,
                tolerance,
            })
        }
        None if p.duration_s <= 0.0 => Err(VerifyFailure::Empty),
        _ => Ok(()),
    }
}

/// One ffmpeg run with a watchdog on silence.
async fn mux(job: &Job, tags: &MuxTags, tmp: &Path) -> Result<(), MuxFailure> {
    let mut args: Vec<OsString> = vec!["-y".into()];
    if job.concat {
        args.extend(["-f", "concat", "-safe", "0"].map(OsString::from));
    }
    for input in &job.inputs {
        args.push("-i".into());
        args.push(input.into());
    }
    args.extend(["-map", "0:v:0"].map(OsString::from));
    if job.has_audio {
        args.extend(["-map", "1:a:0"].map(OsString::from));
    } else if job.concat {
        args.extend(["-map", "0:a?"].map(OsString::from));
    }
    args.extend(["-c", "copy", "-movflags", "+faststart"].map(OsString::from));
    for (k, v) in [
        ("title", &tags.title),
        ("artist", &tags.artist),
        ("date", &tags.date),
        ("comment", &tags.comment),
    ] {
        if !v.is_empty() {
            args.push("-metadata".into());
            args.push(format!("{k}={v}").into());
        }
    }
    args.extend(["-f", "mp4"].map(OsString::from));
    args.push(tmp.into());

    let mut run = FfmpegRun::spawn(&args)?;
    loop {
        match tokio::time::timeout(SILENCE_TIMEOUT, run.next()).await {
            Ok(Some(Event::Progress(_) | Event::Log | Event::Error(_))) => {}
            Ok(None) => break,
            Err(_) => {
                run.kill();
                if let Err(e) = run.wait().await {
                    tracing::warn!(error = %e, "the killed ffmpeg could not be reaped");
                }
                return Err(MuxFailure::Silent(SILENCE_TIMEOUT));
            }
        }
    }
    let summary = run.error_summary();
    match run.wait().await? {
        true => Ok(()),
        false => Err(MuxFailure::Exited(summary)),
    }
}
