//! Real media for the simulated broadcasts: a short base clip per quality, encoded once by the
//! system ffmpeg, cached on disk, and cut into base segments the broadcast loops over.
//!
//! Video boundaries come from forced key frames at jittered times; the actual `t`/`d` values
//! are read back from the encoded samples (frames land on the 1000 Hz track timescale), so the
//! manifest never lies about the media. Audio (AAC, 44.1 kHz) is cut at the same instants,
//! rounded to whole AAC frames (docs/instagram.md §3: audio and video share `t`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::error::SimError;
use super::fmp4::{self, Sample};

/// Upper bound for one encode (a few seconds of tiny video normally takes well under one).
const FFMPEG_TIMEOUT: Duration = Duration::from_secs(120);

/// Bumped whenever the encoding recipe changes, so stale cache files are not reused.
const RECIPE: &str = "iglive-sim-media-v3";

/// One video quality, named like Instagram's (docs/instagram.md §3 table) but kept small so encoding is
/// cheap.
#[derive(Debug, Clone)]
pub struct Quality {
    pub id: &'static str,
    pub width: u32,
    pub height: u32,
    pub kbps: u32,
}

/// The video ladder every simulated broadcast offers, portrait like the app's.
pub const QUALITIES: [Quality; 3] = [
    Quality {
        id: "live-ld-v",
        width: 108,
        height: 192,
        kbps: 62,
    },
    Quality {
        id: "live-md-v",
        width: 144,
        height: 256,
        kbps: 123,
    },
    Quality {
        id: "live-hd-v",
        width: 216,
        height: 384,
        kbps: 234,
    },
];

/// The audio representation's id.
pub const AUDIO_ID: &str = "live-hd-a";

/// A track cut into base segments.
#[derive(Debug)]
pub struct CutTrack {
    pub id: String,
    pub init: Bytes,
    pub codecs: String,
    pub track_id: u32,
    pub timescale: u32,
    pub width: u32,
    pub height: u32,
    /// Average bits per second over the clip.
    pub bandwidth: u64,
    /// Per base segment: decode time of its first sample and its samples.
    pub segments: Vec<(u64, Vec<Sample>)>,
}

/// All tracks of one base clip plus the segment durations they share.
#[derive(Debug)]
pub struct MediaSet {
    pub video: Vec<CutTrack>,
    pub audio: CutTrack,
    /// Base segment durations in ms (= video track timescale).
    pub durations_ms: Vec<u64>,
    pub fps: u32,
}

impl MediaSet {
    /// Length of the whole base clip, ms.
    pub fn clip_ms(&self) -> u64 {
        self.durations_ms.iter().sum()
    }
}

/// Encodes (or loads from cache) the clip whose segment boundaries follow `wanted_ms`.
/// Blocking: call it from `spawn_blocking`.
pub fn prepare(cache_dir: &Path, wanted_ms: &[u64], fps: u32) -> Result<Arc<MediaSet>, SimError> {
    static LOADED: OnceLock<Mutex<HashMap<String, Arc<MediaSet>>>> = OnceLock::new();
    let key = cache_key(wanted_ms, fps);
    let loaded = LOADED.get_or_init(Default::default);
    // Held across the encode: parallel tests asking for the same clip wait instead of
    // encoding it twice.
    let mut map = loaded
        .lock()
        .map_err(|_| SimError::Media("media cache lock poisoned".into()))?;
    if let Some(set) = map.get(&key) {
        return Ok(set.clone());
    }
    std::fs::create_dir_all(cache_dir).map_err(|e| {
        SimError::Media(format!(
            "cannot create media cache {}: {e}",
            cache_dir.display()
        ))
    })?;
    let clip_s = wanted_ms.iter().sum::<u64>() as f64 / 1000.0;
    let mut boundaries = Vec::new();
    let mut at = 0u64;
    for d in wanted_ms {
        boundaries.push(format!("{:.3}", at as f64 / 1000.0));
        at += d;
    }
    let mut video = Vec::new();
    for q in &QUALITIES {
        let file = cache_dir.join(format!("{key}-{}.mp4", q.id));
        let args = vec![
            "-f".to_string(),
            "lavfi".into(),
            "-i".into(),
            format!("testsrc2=size={}x{}:rate={fps}", q.width, q.height),
            "-t".into(),
            format!("{clip_s:.3}"),
            "-c:v".into(),
            "libx264".into(),
            "-preset".into(),
            "superfast".into(),
            "-pix_fmt".into(),
            "yuv420p".into(),
            // Main profile, level 3.0: `avc1.4d401e` like Instagram's 2024 streams (reference
            // §3); superfast keeps CABAC, without which x264 would signal Baseline.
            "-profile:v".into(),
            "main".into(),
            "-level".into(),
            "3.0".into(),
            "-bf".into(),
            "0".into(),
            "-g".into(),
            "100000".into(),
            "-sc_threshold".into(),
            "0".into(),
            "-b:v".into(),
            format!("{}k", q.kbps),
            "-force_key_frames".into(),
            boundaries.join(","),
            "-video_track_timescale".into(),
            "1000".into(),
        ];
        let track = encode_cached(&file, &args)?;
        video.push(cut_video(q, track)?);
    }
    let durations_ms = video_durations(&video[0]);
    if video.iter().any(|v| video_durations(v) != durations_ms) {
        return Err(SimError::Media(
            "video qualities disagree on segment boundaries".into(),
        ));
    }
    let file = cache_dir.join(format!("{key}-{AUDIO_ID}.mp4"));
    let args = vec![
        "-f".to_string(),
        "lavfi".into(),
        "-i".into(),
        "sine=frequency=440:sample_rate=44100:beep_factor=4".into(),
        "-t".into(),
        format!("{:.3}", clip_s + 0.5),
        "-ac".into(),
        "2".into(),
        "-c:a".into(),
        "aac".into(),
        "-b:a".into(),
        "48k".into(),
    ];
    let audio = cut_audio(encode_cached(&file, &args)?, &durations_ms)?;
    let set = Arc::new(MediaSet {
        video,
        audio,
        durations_ms,
        fps,
    });
    map.insert(key, set.clone());
    Ok(set)
}

fn video_durations(track: &CutTrack) -> Vec<u64> {
    track
        .segments
        .iter()
        .map(|(_, s)| s.iter().map(|x| u64::from(x.duration)).sum())
        .collect()
}

/// FNV-1a over the recipe: stable across Rust versions, unlike `DefaultHasher`.
fn cache_key(wanted_ms: &[u64], fps: u32) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let text = format!(
        "{RECIPE}|{fps}|{wanted_ms:?}|{:?}",
        QUALITIES.map(|q| (q.id, q.width, q.height, q.kbps))
    );
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Runs ffmpeg unless `file` already exists, writing through a temporary name so a crashed or
/// concurrent run never leaves a half file under the final name.
fn encode_cached(file: &Path, args: &[String]) -> Result<fmp4::Track, SimError> {
    if !file.exists() {
        let tmp = PathBuf::from(format!("{}.tmp-{}", file.display(), std::process::id()));
        run_ffmpeg(args, &tmp)?;
        std::fs::rename(&tmp, file)
            .map_err(|e| SimError::Media(format!("cannot store {}: {e}", file.display())))?;
    }
    let bytes = std::fs::read(file)
        .map_err(|e| SimError::Media(format!("cannot read {}: {e}", file.display())))?;
    fmp4::parse_track(&Bytes::from(bytes)).map_err(|e| {
        // A damaged cache file must not poison later runs.
        let _ = std::fs::remove_file(file);
        SimError::Media(format!(
            "{}: {e} (cache file removed; retry)",
            file.display()
        ))
    })
}

/// Encodes into `out`; killed after `FFMPEG_TIMEOUT` so a wedged ffmpeg cannot hang start-up.
fn run_ffmpeg(args: &[String], out: &Path) -> Result<(), SimError> {
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(args)
        .args([
            "-movflags",
            "+frag_keyframe+empty_moov+default_base_moof",
            "-f",
            "mp4",
        ])
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| SimError::Media(format!("cannot run ffmpeg: {e}")))?;
    // stderr is small with `-loglevel error`; read it on a thread so the pipe never fills.
    let mut stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = std::io::Read::read_to_string(e, &mut text);
        }
        text
    });
    let deadline = Instant::now() + FFMPEG_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_file(out);
                return Err(SimError::Media(format!(
                    "ffmpeg did not finish within {FFMPEG_TIMEOUT:?}"
                )));
            }
            Err(e) => return Err(SimError::Media(format!("waiting for ffmpeg: {e}"))),
        }
    };
    let stderr = reader.join().unwrap_or_default();
    if !status.success() {
        let _ = std::fs::remove_file(out);
        return Err(SimError::Media(format!("ffmpeg failed: {}", stderr.trim())));
    }
    Ok(())
}

/// Splits a video track at its key frames (the forced boundaries).
fn cut_video(q: &Quality, track: fmp4::Track) -> Result<CutTrack, SimError> {
    if track.timescale != 1000 {
        return Err(SimError::Media(format!(
            "{}: video timescale {} instead of 1000",
            q.id, track.timescale
        )));
    }
    let mut segments: Vec<(u64, Vec<Sample>)> = Vec::new();
    for s in track.samples {
        match segments.last_mut() {
            Some((_, list)) if !s.is_sync() => list.push(s),
            _ => segments.push((s.dts, vec![s])),
        }
    }
    let codecs = fmp4::avc_codec(&track.init).unwrap_or_else(|| "avc1.42c01e".into());
    Ok(finish(
        q.id.into(),
        track.init,
        codecs,
        track.track_id,
        1000,
        (q.width, q.height),
        segments,
    ))
}

/// Groups audio samples into the segments whose video time range contains their start.
fn cut_audio(track: fmp4::Track, durations_ms: &[u64]) -> Result<CutTrack, SimError> {
    let ts = u64::from(track.timescale);
    let mut segments: Vec<(u64, Vec<Sample>)> = Vec::new();
    let mut end_ms = 0u64;
    let mut samples = track.samples.into_iter().peekable();
    for d in durations_ms {
        end_ms += d;
        let mut list = Vec::new();
        while let Some(s) = samples.next_if(|s| s.dts * 1000 < end_ms * ts) {
            list.push(s);
        }
        let first = list
            .first()
            .map(|s| s.dts)
            .ok_or_else(|| SimError::Media("audio shorter than video".into()))?;
        segments.push((first, list));
    }
    Ok(finish(
        AUDIO_ID.into(),
        track.init,
        "mp4a.40.2".into(),
        track.track_id,
        track.timescale,
        (0, 0),
        segments,
    ))
}

fn finish(
    id: String,
    init: Bytes,
    codecs: String,
    track_id: u32,
    timescale: u32,
    (width, height): (u32, u32),
    segments: Vec<(u64, Vec<Sample>)>,
) -> CutTrack {
    let bytes: usize = segments
        .iter()
        .flat_map(|(_, s)| s)
        .map(|s| s.data.len())
        .sum();
    let ticks: u64 = segments
        .iter()
        .flat_map(|(_, s)| s)
        .map(|s| u64::from(s.duration))
        .sum();
    let bandwidth = (bytes as u64 * 8 * u64::from(timescale)) / ticks.max(1);
    CutTrack {
        id,
        init,
        codecs,
        track_id,
        timescale,
        width,
        height,
        bandwidth,
        segments,
    }
}
