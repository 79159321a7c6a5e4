//! Finalization beyond the native happy path: the ffmpeg engine's parts, a failed mux that
//! must keep every input, and the ffmpeg engine itself against the simulator.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support;
use crate::support::capture::*;
use iglive::probe;
use iglive::SegmentStore;
use iglive::{finalize_capture, FinalizeError, MuxTags};
use iglive::{CaptureControl, CaptureExit, CaptureProgress};

fn ts_part(path: &Path, seconds: u32, freq: u32) {
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=216x384:rate=30")
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency={freq}:sample_rate=44100"))
        .args([
            "-t",
            &seconds.to_string(),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ])
        .args(["-c:a", "aac", "-f", "mpegts"])
        .arg(path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
}

#[tokio::test]
async fn ffmpeg_engine_parts_are_concatenated_into_one_video() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let seg = tmp.path().join(".segments");
    std::fs::create_dir_all(&seg).expect("mkdir");
    ts_part(&seg.join("ffmpeg-0001.ts"), 3, 440);
    ts_part(&seg.join("ffmpeg-0002.ts"), 2, 880);
    let report = finalize_capture(&seg, tmp.path(), &MuxTags::default(), false)
        .await
        .expect("finalize succeeds");
    assert_eq!(report.videos, vec![tmp.path().join("video.mp4")]);
    assert_eq!(report.streams, 2);
    assert!((report.duration_s - 5.0).abs() < 0.5, "{report:?}");
    assert!(!seg.exists());
}

#[tokio::test]
async fn a_failed_mux_keeps_every_input() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let seg = tmp.path().join(".segments");
    {
        let mut store = SegmentStore::open(&seg).expect("store");
        for track in ["video", "audio"] {
            store.put_init(track, b"not an init segment").expect("init");
            store.put(track, 0, b"not a fragment").expect("segment");
        }
    }
    let err = finalize_capture(&seg, tmp.path(), &MuxTags::default(), false)
        .await
        .expect_err("garbage cannot be muxed");
    assert!(
        matches!(
            err,
            FinalizeError::Mux { .. } | FinalizeError::Verify { .. }
        ),
        "{err}"
    );
    assert!(!tmp.path().join("video.mp4").exists());
    assert!(seg.join("video/part-0/0.m4s").is_file(), "segments kept");
    assert!(seg.join("assembled").is_dir(), "raw tracks kept");
}

#[tokio::test]
async fn nothing_captured_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let seg = tmp.path().join(".segments");
    std::fs::create_dir_all(&seg).expect("mkdir");
    let err = finalize_capture(&seg, tmp.path(), &MuxTags::default(), false)
        .await
        .expect_err("empty");
    assert!(matches!(err, FinalizeError::NothingCaptured(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_engine_records_and_drains() {
    let toml = r#"
seed = 3
[[accounts]]
pk = 1001
username = "host"
[[broadcasts]]
id = 17900000000000601
owner = 1001
start = -10.0
duration = 600.0
"#;
    let h = support::sim::start(toml, 1.0).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let seg = tmp.path().join(".segments");
    let control = CaptureControl::default();
    let (tx, mut rx) = tokio::sync::watch::channel(CaptureProgress::default());
    let task = tokio::spawn(iglive::run_capture(
        iglive::Engine::Ffmpeg,
        request(mpd_url(&h), &seg, false),
        http(),
        control.clone(),
        tx,
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while rx.borrow_and_update().duration_s < 3.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "ffmpeg wrote nothing"
        );
        let _ = tokio::time::timeout_at(deadline, rx.changed()).await;
    }
    control.drain.cancel();
    let exit = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("drain ends the engine")
        .expect("no panic");
    assert_eq!(exit, CaptureExit::Stopped);
    let report = finalize_capture(&seg, tmp.path(), &MuxTags::default(), true)
        .await
        .expect("finalize succeeds");
    let p = probe(&report.videos[0], Duration::from_secs(30))
        .await
        .expect("probe");
    assert!(p.video_streams >= 1 && p.duration_s > 1.0, "{p:?}");
}

/// A fragmented 216x384 video with 2 s fragments; `handler` changes the init's bytes only.
fn fmp4_video(path: &Path, seconds: u32, handler: &str) -> (Vec<u8>, Vec<Vec<u8>>) {
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=216x384:rate=30")
        .args([
            "-t",
            &seconds.to_string(),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ])
        .args(["-g", "60", "-keyint_min", "60", "-sc_threshold", "0"])
        .arg("-metadata:s:v:0")
        .arg(format!("handler_name={handler}"))
        .args(["-movflags", "+frag_keyframe+empty_moov+default_base_moof"])
        .args(["-video_track_timescale", "1000", "-f", "mp4"])
        .arg(path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    let bytes = std::fs::read(path).expect("read");
    let split = iglive::mp4::split_fragmented(&bytes).expect("fragmented");
    (
        split.init.to_vec(),
        split.fragments.iter().map(|f| f.to_vec()).collect(),
    )
}

fn fmp4_audio(path: &Path, seconds: u32) -> (Vec<u8>, Vec<Vec<u8>>) {
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("sine=frequency=440:sample_rate=44100")
        .args(["-t", &seconds.to_string(), "-c:a", "aac"])
        .args([
            "-movflags",
            "+empty_moov+default_base_moof",
            "-frag_duration",
            "2000000",
        ])
        .args(["-f", "mp4"])
        .arg(path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    let bytes = std::fs::read(path).expect("read");
    let split = iglive::mp4::split_fragmented(&bytes).expect("fragmented");
    (
        split.init.to_vec(),
        split.fragments.iter().map(|f| f.to_vec()).collect(),
    )
}

#[tokio::test]
async fn a_changed_init_gives_a_second_video_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (init_a, frags_a) = fmp4_video(&tmp.path().join("a.mp4"), 10, "first");
    let (init_b, frags_b) = fmp4_video(&tmp.path().join("b.mp4"), 10, "second");
    let (init_audio, frags_audio) = fmp4_audio(&tmp.path().join("s.mp4"), 10);
    assert_ne!(init_a, init_b);
    assert!(frags_a.len() >= 5 && frags_audio.len() >= 5);
    let seg = tmp.path().join(".segments");
    {
        let mut store = SegmentStore::open(&seg).expect("store");
        store.put_init("audio", &init_audio).expect("init");
        for (i, f) in frags_audio.iter().take(5).enumerate() {
            store.put("audio", i as u64 * 2000, f).expect("audio");
        }
        assert_eq!(store.put_init("video", &init_a).expect("init"), 0);
        for (i, f) in frags_a.iter().take(3).enumerate() {
            store.put("video", i as u64 * 2000, f).expect("video");
        }
        assert_eq!(store.put_init("video", &init_b).expect("new init"), 1);
        for (i, f) in frags_b.iter().enumerate().skip(3).take(2) {
            store.put("video", i as u64 * 2000, f).expect("video");
        }
    }
    let out = tmp.path().join("out");
    let report = finalize_capture(&seg, &out, &MuxTags::default(), false)
        .await
        .expect("finalize succeeds");
    assert_eq!(
        report.videos,
        vec![out.join("video.mp4"), out.join("video-part2.mp4")]
    );
    let first = probe(&report.videos[0], Duration::from_secs(30))
        .await
        .expect("probe");
    let second = probe(&report.videos[1], Duration::from_secs(30))
        .await
        .expect("probe");
    assert_eq!((first.video_streams, first.audio_streams), (1, 1));
    assert_eq!((second.video_streams, second.audio_streams), (1, 1));
    assert!((first.duration_s - 6.0).abs() < 1.0, "{first:?}");
    assert!((second.duration_s - 4.0).abs() < 1.0, "{second:?}");
}

/// A store of `seconds` of video and audio in 2 s segments.
fn av_store(dir: &Path, seg: &Path, seconds: u32) {
    let (init_v, frags_v) = fmp4_video(&dir.join("v.mp4"), seconds, "video");
    let (init_a, frags_a) = fmp4_audio(&dir.join("a.mp4"), seconds);
    let mut store = SegmentStore::open(seg).expect("store");
    store.put_init("video", &init_v).expect("init");
    store.put_init("audio", &init_a).expect("init");
    for (i, (v, a)) in frags_v.iter().zip(&frags_a).enumerate() {
        store.put("video", i as u64 * 2000, v).expect("video");
        store.put("audio", i as u64 * 2000, a).expect("audio");
    }
}

#[tokio::test]
async fn a_finalize_stopped_while_deleting_its_inputs_is_not_redone_from_the_remains() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let seg = tmp.path().join(".segments");
    av_store(tmp.path(), &seg, 8);
    let first = finalize_capture(&seg, tmp.path(), &MuxTags::default(), true)
        .await
        .expect("finalize succeeds");
    assert_eq!(first.streams, 2);
    let video = std::fs::read(tmp.path().join("video.mp4")).expect("video");
    // As a kill during the deletion leaves it: the retired store half gone (no audio left),
    // and a store that a catch-up capture started afresh with a stray video segment.
    let retired = tmp.path().join(".segments.done");
    std::fs::rename(&seg, &retired).expect("retire");
    std::fs::remove_dir_all(retired.join("audio")).expect("half deleted");
    let (init_v, frags_v) = fmp4_video(&tmp.path().join("tail.mp4"), 2, "tail");
    {
        let mut stray = SegmentStore::open(&seg).expect("store");
        stray.put_init("video", &init_v).expect("init");
        stray.put("video", 90_000, &frags_v[0]).expect("video");
    }
    assert!(iglive::is_finalized(&seg, tmp.path()));
    let again = finalize_capture(&seg, tmp.path(), &MuxTags::default(), false)
        .await
        .expect("a re-run reports the verified outputs");
    assert_eq!(again.streams, 2, "{again:?}");
    assert!(
        (again.duration_s - first.duration_s).abs() < 0.1,
        "{again:?}"
    );
    assert_eq!(
        std::fs::read(tmp.path().join("video.mp4")).expect("video"),
        video,
        "the verified video was not replaced"
    );
    assert!(
        !retired.exists() && !seg.exists(),
        "the remains are cleaned up"
    );
}
