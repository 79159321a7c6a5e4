//! Finalization beyond the native happy path: the ffmpeg engine's parts, a failed mux that
//! must keep every input, and the ffmpeg engine itself against the simulator.

mod capture_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use capture_support::*;
use iglive::dash::SegmentStore;
use iglive::media::finalize::{finalize_capture, FinalizeError, MuxTags};
use iglive::media::probe::probe;
use iglive::recording::capture::{CaptureControl, CaptureExit, CaptureProgress};

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
    let h = start_sim(toml, 1.0).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let seg = tmp.path().join(".segments");
    let control = CaptureControl::default();
    let (tx, mut rx) = tokio::sync::watch::channel(CaptureProgress::default());
    let task = tokio::spawn(iglive::media::ffmpeg_engine::run(
        request(mpd_url(&h), &seg, false),
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
