//! The simulator's live DASH origin: manifests, sliding window, rewind, real media, end signals,
//! media faults, and plain ffmpeg as a third-party DASH client.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support;
use crate::support::sim::{get_bytes, start, wait_sim};
use iglive::sim::{BroadcastTruth, SimHandle};

/// A host live since 30 s before start; ~14 segments published at once.
fn scenario(extra: &str, duration: f64) -> String {
    format!(
        r#"
seed = 11
[[accounts]]
pk = 1001
username = "host"
[[broadcasts]]
id = 17900000000000301
owner = 1001
start = -30.0
duration = {duration}
period_removed_after = 3.0
gone_after = 8.0
{extra}
"#
    )
}

fn broadcast(h: &SimHandle) -> BroadcastTruth {
    h.truth()
        .broadcasts
        .into_iter()
        .next()
        .expect("one broadcast")
}

/// `(t, d)` of every `S` of every representation, per representation id.
fn timelines(mpd: &dash_mpd_core::MPD) -> Vec<(String, Vec<(u64, u64)>)> {
    let mut out = Vec::new();
    for p in &mpd.periods {
        for a in &p.adaptations {
            for r in &a.representations {
                let tl = r
                    .SegmentTemplate
                    .as_ref()
                    .and_then(|t| t.SegmentTimeline.as_ref())
                    .expect("every representation has a SegmentTimeline");
                let s = tl
                    .segments
                    .iter()
                    .map(|s| (s.t.expect("explicit t"), s.d))
                    .collect();
                out.push((r.id.clone().expect("representation id"), s));
            }
        }
    }
    out
}

async fn fetch_mpd(h: &SimHandle, b: &BroadcastTruth) -> (u16, reqwest::header::HeaderMap, String) {
    let (status, headers, body) = get_bytes(h, &b.manifest_path).await;
    (
        status,
        headers,
        String::from_utf8(body).expect("utf-8 manifest"),
    )
}

/// The id of the representation whose id ends with `suffix` (`hd-v`, `hd-a`, …), whichever
/// naming scheme the scenario uses.
fn rep(b: &BroadcastTruth, suffix: &str) -> String {
    b.representations
        .iter()
        .map(|r| r.id.clone())
        .find(|id| id.ends_with(suffix))
        .expect("a representation with that suffix")
}

fn segment_path(b: &BroadcastTruth, rep: &str, t: u64) -> String {
    let ext = if rep.ends_with("-a") { "m4a" } else { "m4v" };
    format!("/live-dash/{rep}/{}_0-{t}.{ext}?ms=m_C", b.stream_id)
}

#[tokio::test]
async fn manifest_parses_window_slides_and_old_segments_stay_fetchable() {
    let h = start(&scenario("", 300.0), 4.0).await;
    let b = broadcast(&h);
    let (status, headers, text) = fetch_mpd(&h, &b).await;
    assert_eq!(status, 200);
    assert!(headers.get("x-fb-video-broadcast-ended").is_none());
    for attr in [
        "loapStreamId=\"",
        "publishFrameTime=\"1\"",
        "minimumUpdatePeriod=\"PT1S\"",
        "timeShiftBufferDepth=\"PT20S\"",
        "currentServerTimeMs=\"",
        "availabilityStartTime=\"",
        // Meta's extras that clients ignore (docs/instagram.md §8).
        "FBIsLiveTemplated=\"",
        "loapStreamType=\"",
        "FBManifestIdentifier=\"",
        "validationErrors=\"",
        "FBMaxBandwidth=\"",
        "FBPlaybackResolutionMos=\"",
        "FBAbrPolicyTags=\"",
        "FBDynamicQualityDropped=\"",
        "FBPredictedMedia=\"",
        "FBPredictedMediaStartNumber=\"",
        "-07:00\"",
    ] {
        assert!(text.contains(attr), "manifest lacks {attr}: {text}");
    }
    let mpd = dash_mpd_core::parse(&text).expect("manifest parses with dash-mpd-core");
    assert_eq!(mpd.mpdtype.as_deref(), Some("dynamic"));
    let tls = timelines(&mpd);
    let ids: Vec<&str> = tls.iter().map(|(id, _)| id.as_str()).collect();
    // The 2024–26 naming is the default (docs/instagram.md §8).
    assert_eq!(
        ids,
        [
            "dash-lp-ld-v",
            "dash-lp-md-v",
            "dash-lp-hd-v",
            "dash-lp-hd-a"
        ]
    );
    let first = &tls[0].1;
    assert!(
        tls.iter().all(|(_, tl)| tl == first),
        "audio and video share t"
    );
    assert_eq!(first.len(), 10, "window lists the newest 10 segments");
    let published: Vec<(u64, u64)> = broadcast(&h).segments.iter().map(|s| (s.t, s.d)).collect();
    assert!(published.len() >= 14);
    let pos = published
        .iter()
        .position(|s| *s == first[0])
        .expect("window starts at a published segment");
    assert_eq!(
        &published[pos..pos + 10],
        &first[..],
        "window is contiguous published segments"
    );
    assert!(
        first.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0),
        "t chains by d"
    );
    assert!(
        first.iter().all(|(_, d)| (1000..=3000).contains(d)),
        "~2 s segments"
    );

    // Wait for two more segments, then the window has slid.
    let n = published.len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while broadcast(&h).segments.len() < n + 2 {
        assert!(Instant::now() < deadline, "no new segment published");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_, _, text2) = fetch_mpd(&h, &b).await;
    let mpd2 = dash_mpd_core::parse(&text2).expect("second manifest parses");
    let second = timelines(&mpd2).remove(0).1;
    assert_eq!(second.len(), 10);
    assert!(
        second[0].0 > first[0].0 && second[9].0 > first[9].0,
        "window slid"
    );

    // Rewind: the first segment of the broadcast left the window but is still served.
    let oldest = published[0];
    assert!(!second.iter().any(|s| s.0 == oldest.0));
    for rep in [rep(&b, "hd-v"), rep(&b, "hd-a")] {
        let (status, _, body) = get_bytes(&h, &segment_path(&b, &rep, oldest.0)).await;
        assert_eq!(status, 200, "{rep} oldest segment");
        assert_eq!(&body[4..8], b"moof");
    }
    // Not yet published, and not a segment start: 404.
    let last = *second.last().expect("non-empty");
    let next_t = last.0 + last.1 + 40_000;
    let hd = rep(&b, "hd-v");
    let (status, _, _) = get_bytes(&h, &segment_path(&b, &hd, next_t)).await;
    assert_eq!(status, 404, "unpublished segment");
    let (status, _, _) = get_bytes(&h, &segment_path(&b, &hd, oldest.0 + 1)).await;
    assert_eq!(status, 404, "not a segment boundary");
    let (status, _, _) = get_bytes(&h, "/live-dash/dash-abr/123.mpd").await;
    assert_eq!(status, 404, "unknown broadcast");
    h.shutdown().await;
}

#[tokio::test]
async fn the_older_naming_scheme_serves_live_ids_and_refuses_the_newer_ones() {
    let toml = format!("representation_ids = \"live\"\n{}", scenario("", 300.0));
    let h = start(&toml, 4.0).await;
    let b = broadcast(&h);
    let (status, _, text) = fetch_mpd(&h, &b).await;
    assert_eq!(status, 200);
    let mpd = dash_mpd_core::parse(&text).expect("manifest parses");
    let ids: Vec<String> = timelines(&mpd).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["live-ld-v", "live-md-v", "live-hd-v", "live-hd-a"]);
    let truth_ids: Vec<&str> = b.representations.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(truth_ids, ids, "the truth names what the manifest names");
    let t = b.segments[0].t;
    assert_eq!(
        get_bytes(&h, &segment_path(&b, "live-hd-v", t)).await.0,
        200
    );
    assert_eq!(
        get_bytes(&h, &segment_path(&b, "live-hd-a", t)).await.0,
        200
    );
    // The other scheme's names, and a video id with the audio extension, are not segments.
    assert_eq!(
        get_bytes(&h, &segment_path(&b, "dash-lp-hd-v", t)).await.0,
        404
    );
    assert_eq!(
        get_bytes(
            &h,
            &format!("/live-dash/live-hd-v/{}_0-{t}.m4a", b.stream_id)
        )
        .await
        .0,
        404
    );
    h.shutdown().await;
}

/// Reads `tfdt.baseMediaDecodeTime` of the first fragment.
fn tfdt(segment: &[u8]) -> u64 {
    let at = segment
        .windows(4)
        .position(|w| w == b"tfdt")
        .expect("segment has a tfdt");
    let v = &segment[at + 4..];
    if v[0] == 1 {
        u64::from_be_bytes(v[4..12].try_into().expect("8 bytes"))
    } else {
        u64::from(u32::from_be_bytes(v[4..8].try_into().expect("4 bytes")))
    }
}

fn ffprobe_json(path: &std::path::Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-of",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe json")
}

#[tokio::test]
async fn every_published_segment_decodes_with_the_published_duration() {
    let h = start(&scenario("", 300.0), 1.0).await;
    let b = broadcast(&h);
    assert!(b.segments.len() >= 12);
    let dir = tempfile::tempdir().expect("tempdir");
    for rep in &b.representations {
        let (status, _, mut file) = get_bytes(&h, &rep.init_path).await;
        assert_eq!(status, 200, "{} init", rep.id);
        for s in &b.segments {
            let (status, _, seg) = get_bytes(&h, &segment_path(&b, &rep.id, s.t)).await;
            assert_eq!(status, 200, "{} segment {}", rep.id, s.t);
            let dts = tfdt(&seg);
            if rep.id.ends_with("-v") {
                assert_eq!(dts, s.t, "video tfdt equals t");
            } else {
                let ms = dts as f64 * 1000.0 / f64::from(rep.timescale);
                assert!(
                    (ms - s.t as f64).abs() <= 1_024_000.0 / 44_100.0,
                    "audio tfdt near t"
                );
            }
            file.extend_from_slice(&seg);
        }
        let path = dir.path().join(format!("{}.mp4", rep.id));
        std::fs::write(&path, &file).expect("write capture");
        let probe = ffprobe_json(&path);
        let stream = &probe["streams"][0];
        let expected: u64 = b.segments.iter().map(|s| s.d).sum();
        let got = probe["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse::<f64>().ok())
            .expect("duration");
        let max_d = b.segments.iter().map(|s| s.d).max().unwrap_or(0) as f64 / 1000.0;
        assert!(
            (got - expected as f64 / 1000.0).abs() <= max_d,
            "{}: ffprobe {got} s vs published {expected} ms",
            rep.id
        );
        let kind = if rep.id.ends_with("-a") {
            "audio"
        } else {
            "video"
        };
        assert_eq!(stream["codec_type"], kind);
        if kind == "video" {
            assert_eq!(stream["width"], rep.width);
            assert_eq!(stream["codec_name"], "h264");
        } else {
            assert_eq!(stream["codec_name"], "aac");
        }
    }
    h.shutdown().await;
}

#[tokio::test]
async fn end_signals_then_empty_manifest_then_gone() {
    // Ends 2 s after start; Period removed 3 s later; gone 8 s after the end.
    let h = start(&scenario("", 32.0), 4.0).await;
    let b = broadcast(&h);
    wait_sim(&h, 2.3).await;
    let (status, headers, text) = fetch_mpd(&h, &b).await;
    assert_eq!(status, 200);
    assert_eq!(
        headers
            .get("x-fb-video-broadcast-ended")
            .map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let mpd = dash_mpd_core::parse(&text).expect("ended manifest parses");
    let tl = timelines(&mpd).remove(0).1;
    let truth = broadcast(&h);
    let last = truth.segments.last().expect("segments");
    assert_eq!(
        tl.last(),
        Some(&(last.t, last.d)),
        "ended manifest lists the final segment"
    );
    assert!(truth.ended);
    assert!(last.published_at <= truth.end);
    let (status, _, info) = support::sim::get(&h, &format!("api/v1/live/{}/info/", b.id)).await;
    assert_eq!(status, 200);
    assert_eq!(info["broadcast_status"], "stopped");

    wait_sim(&h, 5.5).await;
    let (status, headers, text) = fetch_mpd(&h, &b).await;
    assert_eq!(status, 200);
    assert!(headers.get("x-fb-video-broadcast-ended").is_some());
    let mpd = dash_mpd_core::parse(&text).expect("empty manifest parses");
    assert!(mpd.periods.is_empty(), "no Period: {text}");
    // Segments stay fetchable until the broadcast is gone.
    let ld = rep(&b, "ld-v");
    let (status, _, _) = get_bytes(&h, &segment_path(&b, &ld, last.t)).await;
    assert_eq!(status, 200);

    wait_sim(&h, 10.5).await;
    let (status, _, _) = fetch_mpd(&h, &b).await;
    assert_eq!(status, 404);
    let (status, _, _) = support::sim::get(&h, &format!("api/v1/live/{}/info/", b.id)).await;
    assert_eq!(status, 404);
    // Gone from the CDN: what existed answers 410, what never existed 404 (docs/instagram.md §8).
    let first = truth.segments[0].t;
    for (path, want) in [
        (segment_path(&b, &ld, last.t), 410),
        (segment_path(&b, &rep(&b, "hd-a"), first), 410),
        (truth.representations[0].init_path.clone(), 410),
        (segment_path(&b, &ld, last.t + 1), 404),
        (segment_path(&b, &ld, last.t + last.d + 2000), 404),
    ] {
        assert_eq!(get_bytes(&h, &path).await.0, want, "{path}");
    }
    h.shutdown().await;
}

#[tokio::test]
async fn segment_errors_and_manifest_outage_follow_their_windows() {
    let faults = r#"
[[faults]]
kind = "segment_error"
from = -100.0
to = 2.0
path = "-md-v/"
[[faults]]
kind = "segment_error"
from = -100.0
to = 2.0
path = "-hd-a/"
status = 404
[[faults]]
kind = "manifest_outage"
from = -100.0
to = 2.0
status = 502
"#;
    let toml = format!("{}{faults}", scenario("", 300.0));
    let h = start(&toml, 2.0).await;
    let b = broadcast(&h);
    let t = b.segments[0].t;
    assert_eq!(get_bytes(&h, &b.manifest_path).await.0, 502);
    assert_eq!(
        get_bytes(&h, &segment_path(&b, &rep(&b, "md-v"), t))
            .await
            .0,
        503
    );
    assert_eq!(
        get_bytes(&h, &segment_path(&b, &rep(&b, "hd-a"), t))
            .await
            .0,
        404
    );
    assert_eq!(
        get_bytes(&h, &segment_path(&b, &rep(&b, "hd-v"), t))
            .await
            .0,
        200
    );
    wait_sim(&h, 2.0).await;
    assert_eq!(get_bytes(&h, &b.manifest_path).await.0, 200);
    assert_eq!(
        get_bytes(&h, &segment_path(&b, &rep(&b, "md-v"), t))
            .await
            .0,
        200
    );
    assert_eq!(
        get_bytes(&h, &segment_path(&b, &rep(&b, "hd-a"), t))
            .await
            .0,
        200
    );
    h.shutdown().await;
}

#[tokio::test]
async fn plain_ffmpeg_records_the_live_manifest() {
    let h = start(&scenario("", 300.0), 1.0).await;
    let b = broadcast(&h);
    let url = h
        .base_url()
        .join(&b.manifest_path)
        .expect("url")
        .to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.mp4");
    let mut child = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i"])
        .arg(&url)
        .args(["-map", "0:v:0", "-map", "0:a:0", "-c", "copy", "-t", "6"])
        .arg(&out)
        .kill_on_drop(true)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ffmpeg starts");
    let mut stderr = child.stderr.take().expect("stderr");
    let status = tokio::time::timeout(Duration::from_secs(90), child.wait())
        .await
        .expect("ffmpeg finishes within 90 s")
        .expect("ffmpeg status");
    let mut err = String::new();
    let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut err).await;
    assert!(status.success(), "ffmpeg failed: {err}");
    let probe = ffprobe_json(&out);
    let kinds: Vec<&str> = probe["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .filter_map(|s| s["codec_type"].as_str())
        .collect();
    assert!(
        kinds.contains(&"video") && kinds.contains(&"audio"),
        "{kinds:?}"
    );
    let duration: f64 = probe["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("duration");
    assert!(duration >= 4.0, "recorded {duration} s");
    let segs = h
        .requests()
        .iter()
        .filter(|r| r.path.ends_with(".m4v") && !r.path.contains("init"))
        .count();
    assert!(segs >= 2, "ffmpeg fetched segments");
    h.shutdown().await;
}
