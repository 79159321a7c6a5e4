//! The native capture engine and finalization against the simulator, compared with what the
//! simulator published: clean, rewind, faults, abort + resume. Every output is checked with
//! ffprobe.

use std::path::Path;
use std::time::Duration;

use crate::support;
use crate::support::capture::*;
use iglive::probe;
use iglive::sim::BroadcastTruth;
use iglive::CaptureExit;
use iglive::{finalize_capture, MuxTags};

const SPEED: f64 = 10.0;

fn scenario(start: f64, duration: f64, faults: &str) -> String {
    format!(
        r#"
seed = 5
[[accounts]]
pk = 1001
username = "host"
[[broadcasts]]
id = 17900000000000501
owner = 1001
start = {start}
duration = {duration}
period_removed_after = 4.0
gone_after = 600.0
{faults}
"#
    )
}

fn tags() -> MuxTags {
    MuxTags {
        title: "host live 2026-11-25".into(),
        artist: "host".into(),
        date: "2026-11-25".into(),
        comment: "17900000000000501".into(),
    }
}

/// Every published `t` is on disk for both tracks, exactly once.
fn assert_complete(dir: &Path, truth: &BroadcastTruth) {
    let want: Vec<u64> = truth.segments.iter().map(|s| s.t).collect();
    assert!(!want.is_empty(), "the broadcast published segments");
    for track in ["video", "audio"] {
        let (ts, files) = held(dir, track);
        assert_eq!(files, ts.len(), "{track}: a t is stored twice");
        let missing: Vec<_> = want.iter().filter(|t| !ts.contains(t)).collect();
        assert!(missing.is_empty(), "{track}: missing t {missing:?}");
        assert_eq!(ts, want, "{track}: exactly the published segments");
    }
}

/// Finalizes and checks the file with ffprobe against the published timeline.
async fn finalize_and_probe(dir: &Path, out: &Path, truth: &BroadcastTruth) {
    let report = finalize_capture(dir, out, &tags(), false)
        .await
        .expect("finalize succeeds");
    assert_eq!(report.videos, vec![out.join("video.mp4")]);
    assert_eq!(report.streams, 2);
    let p = probe(&out.join("video.mp4"), Duration::from_secs(30))
        .await
        .expect("ffprobe reads the output");
    assert_eq!((p.video_streams, p.audio_streams), (1, 1));
    let published: f64 = truth.segments.iter().map(|s| s.d as f64 / 1000.0).sum();
    assert!(
        (p.duration_s - published).abs() < 2.5,
        "video lasts {:.2} s, the broadcast published {published:.2} s",
        p.duration_s
    );
    assert!(!dir.exists(), "segments are removed after a verified mux");
}

/// A whole broadcast captured from its start, in either representation naming scheme
/// (docs/instagram.md §8: `dash-lp-…` since 2024, `live-…` before); the choice is by
/// mimeType, height and bandwidth, never by id.
async fn clean_capture(scheme: &str, hd_video: &str) {
    let toml = format!(
        "representation_ids = \"{scheme}\"\n{}",
        scenario(0.0, 30.0, "")
    );
    let h = support::sim::start(&toml, SPEED).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join(".segments");
    let run = spawn_capture(request(mpd_url(&h), &dir, true), fast_options());
    let (exit, p) = run.join(Duration::from_secs(60)).await;
    assert_eq!(exit, CaptureExit::StreamEnded);
    let truth = broadcast(&h);
    assert!(truth.representations.iter().any(|r| r.id == hd_video));
    assert_complete(&dir, &truth);
    assert!(p.stream_ended);
    assert_eq!(p.segments_captured, truth.segments.len() as u64);
    assert_eq!(p.segments_missing, 0, "{p:?}");
    assert_eq!(p.segments_expected, p.segments_captured);
    assert_eq!(p.first_t, Some(truth.publish_frame_time));
    assert!(
        p.quality
            .as_deref()
            .is_some_and(|q| q.starts_with(hd_video)),
        "{:?}",
        p.quality
    );
    finalize_and_probe(&dir, tmp.path(), &truth).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_broadcast_is_captured_completely() {
    clean_capture("dash_lp", "dash-lp-hd-v").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_broadcast_with_the_older_representation_ids_is_captured_completely() {
    clean_capture("live", "live-hd-v").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_running_for_a_minute_is_rewound_to_its_first_segment() {
    let h = support::sim::start(&scenario(-60.0, 80.0, ""), SPEED).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join(".segments");
    let run = spawn_capture(request(mpd_url(&h), &dir, true), fast_options());
    let (exit, p) = run.join(Duration::from_secs(60)).await;
    assert_eq!(exit, CaptureExit::StreamEnded);
    let truth = broadcast(&h);
    assert!(p.rewind_used);
    assert_eq!(p.publish_frame_time, Some(truth.publish_frame_time));
    assert_eq!(p.first_t, Some(truth.publish_frame_time));
    assert_eq!(p.segments_missing, 0, "{p:?}");
    assert_complete(&dir, &truth);
    finalize_and_probe(&dir, tmp.path(), &truth).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_and_a_20s_manifest_outage_lose_nothing() {
    let faults = r#"
[[faults]]
kind = "server_error"
from = 4.0
to = 14.0
path = "segments"
probability = 0.3
[[faults]]
kind = "reset"
from = 8.0
to = 16.0
probability = 0.2
[[faults]]
kind = "manifest_outage"
from = 20.0
to = 42.0
"#;
    let h = support::sim::start(&scenario(-10.0, 60.0, faults), SPEED).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join(".segments");
    let run = spawn_capture(request(mpd_url(&h), &dir, true), fast_options());
    let (exit, p) = run.join(Duration::from_secs(90)).await;
    assert_eq!(exit, CaptureExit::StreamEnded);
    let truth = broadcast(&h);
    assert_eq!(p.segments_missing, 0, "{p:?}");
    assert!(p.missing_ranges.is_empty());
    assert_complete(&dir, &truth);
    finalize_and_probe(&dir, tmp.path(), &truth).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_then_resume_gives_one_file_without_duplicates() {
    let h = support::sim::start(&scenario(-20.0, 50.0, ""), SPEED).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join(".segments");
    let mut first = spawn_capture(request(mpd_url(&h), &dir, true), fast_options());
    first
        .wait_for(Duration::from_secs(30), |p| p.segments_captured >= 12)
        .await;
    first.control.abort.cancel();
    let (exit, before) = first.join(Duration::from_secs(5)).await;
    assert_eq!(exit, CaptureExit::Stopped, "abort returns promptly");
    assert!(before.segments_captured >= 12);

    let second = spawn_capture(request(mpd_url(&h), &dir, true), fast_options());
    let (exit, p) = second.join(Duration::from_secs(60)).await;
    assert_eq!(exit, CaptureExit::StreamEnded);
    let truth = broadcast(&h);
    assert_eq!(p.segments_missing, 0, "{p:?}");
    assert_eq!(p.segments_captured, truth.segments.len() as u64);
    assert_complete(&dir, &truth);
    finalize_and_probe(&dir, tmp.path(), &truth).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_fetches_what_is_listed_and_stops() {
    let h = support::sim::start(&scenario(-10.0, 300.0, ""), SPEED).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join(".segments");
    let mut run = spawn_capture(request(mpd_url(&h), &dir, true), fast_options());
    run.wait_for(Duration::from_secs(30), |p| p.segments_captured >= 10)
        .await;
    run.control.drain.cancel();
    let (exit, p) = run.join(Duration::from_secs(30)).await;
    assert_eq!(exit, CaptureExit::Stopped);
    assert!(!p.stream_ended);
    assert_eq!(p.segments_missing, 0, "{p:?}");
    let (ts, _) = held(&dir, "video");
    assert_eq!(ts.first().copied(), Some(broadcast(&h).publish_frame_time));
    let report = finalize_capture(&dir, tmp.path(), &tags(), true)
        .await
        .expect("finalize succeeds");
    assert_eq!(report.streams, 2);
    assert!(dir.exists(), "keep_segments keeps them");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_rewind_the_video_starts_at_the_live_window() {
    let h = support::sim::start(&scenario(-60.0, 75.0, ""), SPEED).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join(".segments");
    let run = spawn_capture(request(mpd_url(&h), &dir, false), fast_options());
    let (exit, p) = run.join(Duration::from_secs(60)).await;
    assert_eq!(exit, CaptureExit::StreamEnded);
    let truth = broadcast(&h);
    assert!(!p.rewind_used);
    let first = p.first_t.expect("something captured");
    assert!(first > 30_000, "starts in the live window, not at {first}");
    assert_eq!(p.segments_missing, 0, "{p:?}");
    let (ts, _) = held(&dir, "video");
    let want: Vec<u64> = truth
        .segments
        .iter()
        .map(|s| s.t)
        .filter(|&t| t >= first)
        .collect();
    assert_eq!(ts, want);
    let report = finalize_capture(&dir, tmp.path(), &tags(), false)
        .await
        .expect("finalize succeeds");
    let captured: f64 = truth
        .segments
        .iter()
        .filter(|s| s.t >= first)
        .map(|s| s.d as f64 / 1000.0)
        .sum();
    assert!(
        (report.duration_s - captured).abs() < 2.5,
        "video {:.2} s, captured {captured:.2} s",
        report.duration_s
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_near_the_end_is_completed_after_the_period_is_gone() {
    let h = support::sim::start(&scenario(-10.0, 30.0, ""), SPEED).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join(".segments");
    let mut first = spawn_capture(request(mpd_url(&h), &dir, true), fast_options());
    first
        .wait_for(Duration::from_secs(30), |p| p.segments_captured >= 8)
        .await;
    first.control.abort.cancel();
    let (exit, _) = first.join(Duration::from_secs(5)).await;
    assert_eq!(exit, CaptureExit::Stopped);
    wait_until_period_gone(&h).await;
    let second = spawn_capture(request(mpd_url(&h), &dir, true), fast_options());
    let (exit, p) = second.join(Duration::from_secs(60)).await;
    assert_eq!(exit, CaptureExit::StreamEnded);
    let truth = broadcast(&h);
    assert_eq!(p.segments_missing, 0, "{p:?}");
    assert_complete(&dir, &truth);
    finalize_and_probe(&dir, tmp.path(), &truth).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_style_drained_run_after_the_end_completes_the_tail() {
    let h = support::sim::start(&scenario(-10.0, 30.0, ""), SPEED).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join(".segments");
    let mut first = spawn_capture(request(mpd_url(&h), &dir, true), fast_options());
    first
        .wait_for(Duration::from_secs(30), |p| p.segments_captured >= 8)
        .await;
    first.control.abort.cancel();
    let (exit, _) = first.join(Duration::from_secs(5)).await;
    assert_eq!(exit, CaptureExit::Stopped);
    wait_until_period_gone(&h).await;
    // What a recovery of an ended broadcast can do: one run with drain already asked for.
    let second = spawn_capture(request(mpd_url(&h), &dir, true), fast_options());
    second.control.drain.cancel();
    let (exit, p) = second.join(Duration::from_secs(60)).await;
    assert_eq!(exit, CaptureExit::StreamEnded);
    let truth = broadcast(&h);
    assert_eq!(p.segments_missing, 0, "{p:?}");
    assert_complete(&dir, &truth);
}

/// Waits until the manifest has lost its `<Period>` (the end plus `period_removed_after`).
async fn wait_until_period_gone(h: &iglive::sim::SimHandle) {
    let gone = broadcast(h).end + 4.5;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while h.now() < gone {
        assert!(
            std::time::Instant::now() < deadline,
            "the simulator clock is stuck"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_answering_410_are_given_up_at_once_and_the_capture_goes_on() {
    // For 4 s the CDN says the audio segments are gone (docs/instagram.md §8): 410 means it
    // existed and expired, so asking again only burns requests.
    let faults = r#"
[[faults]]
kind = "segment_error"
from = 6.0
to = 10.0
path = "-hd-a/"
status = 410
"#;
    let h = support::sim::start(&scenario(0.0, 30.0, faults), SPEED).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join(".segments");
    let run = spawn_capture(request(mpd_url(&h), &dir, true), fast_options());
    let (exit, p) = run.join(Duration::from_secs(60)).await;
    assert_eq!(exit, CaptureExit::StreamEnded);
    let truth = broadcast(&h);
    let requests = h.requests();
    // Media segments only: an init segment is asked again after a 410 (the track cannot be
    // had without it), and whether the init falls in the window depends on the machine's load.
    let gone: std::collections::HashSet<&str> = requests
        .iter()
        .filter(|r| r.status == 410 && !r.path.contains("-init."))
        .map(|r| r.path.as_str())
        .collect();
    assert!(!gone.is_empty(), "the CDN answered 410");
    for path in &gone {
        let asked = requests.iter().filter(|r| r.path == *path).count();
        let seen: Vec<(u16, f64)> = requests
            .iter()
            .filter(|r| r.path == *path)
            .map(|r| (r.status, r.at))
            .collect();
        assert_eq!(asked, 1, "{path} was asked again after its 410: {seen:?}");
    }
    assert_eq!(p.segments_missing, gone.len() as u64, "{p:?}");
    assert_eq!(
        p.segments_captured + p.segments_missing,
        truth.segments.len() as u64
    );
    let (video, _) = held(&dir, "video");
    assert_eq!(video.len(), truth.segments.len(), "the video is whole");
}
