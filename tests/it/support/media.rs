//! Real fragmented MP4 media made with ffmpeg for the `dash` tests, shaped like
//! Instagram's (docs/instagram.md §3): 216x384 30 fps H.264, 2 s keyframe interval, track
//! timescale 1000, separate video and audio files.

use std::path::{Path, PathBuf};
use std::process::Command;

use iglive::mp4::split_fragmented;

/// One track cut into DASH-style segments.
pub struct Segmented {
    pub init: Vec<u8>,
    pub fragments: Vec<Vec<u8>>,
}

fn ffmpeg(args: &[&str], out: &Path) {
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .expect("ffmpeg runs (it is a test prerequisite)");
    assert!(status.success(), "ffmpeg failed for {}", out.display());
}

fn split(file: PathBuf) -> Segmented {
    let bytes = std::fs::read(&file).expect("ffmpeg output readable");
    let s = split_fragmented(&bytes).expect("ffmpeg output is fragmented MP4");
    Segmented {
        init: s.init.to_vec(),
        fragments: s.fragments.iter().map(|f| f.to_vec()).collect(),
    }
}

const FRAG: &str = "+frag_keyframe+empty_moov+default_base_moof";

/// `seconds` of video in 2 s fragments (one per keyframe).
pub fn video(dir: &Path, seconds: u32) -> Segmented {
    let out = dir.join("video.mp4");
    let t = seconds.to_string();
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=216x384:rate=30",
            "-t",
            &t,
            "-an",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "60",
            "-keyint_min",
            "60",
            "-sc_threshold",
            "0",
            "-movflags",
            FRAG,
            "-video_track_timescale",
            "1000",
            "-f",
            "mp4",
        ],
        &out,
    );
    split(out)
}

/// `seconds` of 44.1 kHz AAC in ~2 s fragments.
pub fn audio(dir: &Path, seconds: u32) -> Segmented {
    let out = dir.join("audio.mp4");
    let t = seconds.to_string();
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            &t,
            "-vn",
            "-c:a",
            "aac",
            "-movflags",
            "+empty_moov+default_base_moof",
            "-frag_duration",
            "2000000",
            "-f",
            "mp4",
        ],
        &out,
    );
    split(out)
}

/// Test-pattern video plus a sine tone, as ffmpeg inputs.
const AV_INPUTS: &[&str] = &[
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=216x384:rate=30",
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=440:sample_rate=44100",
];

/// H.264 with a keyframe every 2 s (never elsewhere) and AAC.
const AV_CODECS: &[&str] = &[
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-g",
    "60",
    "-keyint_min",
    "60",
    "-sc_threshold",
    "0",
    "-c:a",
    "aac",
];

/// `seconds` of video and audio encoded by `AV_INPUTS`/`AV_CODECS`, then `output_args`.
fn encode_av(seconds: u32, output_args: &[&str], out: &Path) {
    let t = seconds.to_string();
    let args = [AV_INPUTS, &["-t", t.as_str()], AV_CODECS, output_args].concat();
    ffmpeg(&args, out);
}

/// Video and audio muxed in one file: each fragment has two `traf`s.
pub fn muxed(dir: &Path, seconds: u32) -> Segmented {
    let out = dir.join("muxed.mp4");
    encode_av(
        seconds,
        &[
            "-movflags",
            FRAG,
            "-video_track_timescale",
            "1000",
            "-f",
            "mp4",
        ],
        &out,
    );
    split(out)
}

/// An ffmpeg DASH packaging (`-f dash`, SegmentTimeline, `$Number%05d$` names) of
/// `seconds` of video and audio; returns the MPD path.
pub fn dash_package(dir: &Path, seconds: u32) -> PathBuf {
    let out = dir.join("out.mpd");
    encode_av(
        seconds,
        &[
            "-f",
            "dash",
            "-seg_duration",
            "2",
            "-use_timeline",
            "1",
            "-use_template",
            "1",
            "-adaptation_sets",
            "id=0,streams=v id=1,streams=a",
        ],
        &out,
    );
    out
}

/// `seconds` of video and audio as a plain MP4 with the index first (`+faststart`), the way
/// finalization leaves `video.mp4`: playable in a browser, seekable with Range requests.
pub fn playable(dir: &Path, seconds: u32) -> PathBuf {
    let out = dir.join("video.mp4");
    encode_av(
        seconds,
        &["-pix_fmt", "yuv420p", "-movflags", "+faststart"],
        &out,
    );
    out
}
