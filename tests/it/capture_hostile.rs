//! Hostile input for the native capture engine: every case ends with a clear error or a
//! missing count, within a bounded time, never a hang or a panic.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support;
use crate::support::capture::*;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures::StreamExt;
use iglive::CaptureExit;

/// Media the hostile origin serves where it behaves.
struct Media {
    video_init: Vec<u8>,
    video: Vec<Vec<u8>>,
    audio_init: Vec<u8>,
    audio: Vec<Vec<u8>>,
    /// Where `/redirect.mpd` points.
    elsewhere: String,
    /// `Range` requests answered.
    ranges: AtomicUsize,
}

const LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" minimumUpdatePeriod="PT1S">&lol2;</MPD>"#;

fn mpd(timeline: &str) -> String {
    mpd_with("v", timeline)
}

fn mpd_with(video_id: &str, timeline: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" minimumUpdatePeriod="PT1S" profiles="urn:mpeg:dash:profile:isoff-live:2011">
 <Period id="p0" start="PT0S">
  <AdaptationSet contentType="video">
   <Representation id="{video_id}" mimeType="video/mp4" codecs="avc1.64000c" width="216" height="384" bandwidth="100000">
    <SegmentTemplate timescale="1000" initialization="seg/$RepresentationID$/init.mp4" media="seg/$RepresentationID$/$Time$.m4s">
     <SegmentTimeline>{timeline}</SegmentTimeline>
    </SegmentTemplate>
   </Representation>
  </AdaptationSet>
  <AdaptationSet contentType="audio">
   <Representation id="a" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="48000">
    <SegmentTemplate timescale="1000" initialization="seg/$RepresentationID$/init.mp4" media="seg/$RepresentationID$/$Time$.m4s">
     <SegmentTimeline>{timeline}</SegmentTimeline>
    </SegmentTemplate>
   </Representation>
  </AdaptationSet>
 </Period>
</MPD>"#
    )
}

fn ended(body: String) -> Response {
    (StatusCode::OK, [("x-fb-video-broadcast-ended", "1")], body).into_response()
}

async fn manifest(State(m): State<Arc<Media>>, Path(name): Path<String>) -> Response {
    match name.as_str() {
        "laughs.mpd" => LAUGHS.into_response(),
        "absurd.mpd" => mpd(r#"<S t="18446744073709551000" d="99999999999"/>"#).into_response(),
        "huge.mpd" => "<MPD>".repeat(1_000_000).into_response(),
        "redirect.mpd" => {
            (StatusCode::FOUND, [(header::LOCATION, m.elsewhere.clone())]).into_response()
        }
        // Segment 0 is good, 2000 is not MP4, 4000 never finishes, 6000 is truncated.
        "bad-segments.mpd" => ended(mpd(
            r#"<S t="0" d="2000"/><S t="2000" d="2000"/><S t="4000" d="2000"/><S t="6000" d="2000"/>"#,
        )),
        // Video segments of representation "r" stall mid-body unless asked for a range.
        "resume.mpd" => ended(mpd_with(
            "r",
            r#"<S t="0" d="2000"/><S t="2000" d="2000"/>"#,
        )),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn segment(
    State(m): State<Arc<Media>>,
    Path((rep, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (init, frags) = if rep == "v" || rep == "r" {
        (&m.video_init, &m.video)
    } else {
        (&m.audio_init, &m.audio)
    };
    if file == "init.mp4" {
        return Body::from(init.clone()).into_response();
    }
    let t: usize = file.trim_end_matches(".m4s").parse().unwrap_or(usize::MAX);
    // Only the listed grid exists: the engine's end-of-broadcast walk probes t ± 1.
    if !t.is_multiple_of(2000) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let i = t / 2000;
    let Some(frag) = frags.get(i) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if rep == "a" {
        return Body::from(frag.clone()).into_response();
    }
    if rep == "r" {
        return resumable(&m, frag, &headers);
    }
    match t {
        2000 => "<html>not a segment</html>".into_response(),
        4000 => {
            let first =
                futures::stream::once(async { Ok::<_, Infallible>(Bytes::from_static(b"\0\0")) });
            Body::from_stream(first.chain(futures::stream::pending())).into_response()
        }
        6000 => Body::from(frag[..frag.len() / 2].to_vec()).into_response(),
        _ => Body::from(frag.clone()).into_response(),
    }
}

/// Half the body then a stall; a `Range` request gets the rest (206).
fn resumable(m: &Media, frag: &[u8], headers: &HeaderMap) -> Response {
    let half = frag.len() / 2;
    let range_start = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.strip_suffix('-'))
        .and_then(|v| v.parse::<usize>().ok());
    match range_start {
        Some(start) if start <= frag.len() => {
            m.ranges.fetch_add(1, Ordering::SeqCst);
            (
                StatusCode::PARTIAL_CONTENT,
                [(
                    header::CONTENT_RANGE,
                    format!("bytes {start}-{}/{}", frag.len() - 1, frag.len()),
                )],
                frag[start..].to_vec(),
            )
                .into_response()
        }
        _ => {
            // Half the body, then silence until the client's deadline cuts it off.
            let head = Bytes::copy_from_slice(&frag[..half]);
            let body = futures::stream::once(async move { Ok::<_, Infallible>(head) })
                .chain(futures::stream::pending());
            (
                [(header::CONTENT_LENGTH, frag.len().to_string())],
                Body::from_stream(body),
            )
                .into_response()
        }
    }
}

/// Serves `router` on 127.0.0.1:0; returns its base URL.
async fn serve(router: Router) -> url::Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    url::Url::parse(&format!("http://{addr}/")).expect("url")
}

async fn origin() -> (url::Url, tempfile::TempDir, Arc<Media>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let video = support::media::video(tmp.path(), 8);
    let audio = support::media::audio(tmp.path(), 8);
    let other = serve(Router::new().route("/{*p}", get(|| async { "<MPD/>" }))).await;
    let media = Arc::new(Media {
        video_init: video.init,
        video: video.fragments,
        audio_init: audio.init,
        audio: audio.fragments,
        elsewhere: other.join("x.mpd").expect("url").to_string(),
        ranges: AtomicUsize::new(0),
    });
    let router = Router::new()
        .route("/{name}", get(manifest))
        .route("/seg/{rep}/{file}", get(segment))
        .with_state(media.clone());
    (serve(router).await, tmp, media)
}

fn opts() -> iglive::CaptureOptions {
    let mut o = fast_options();
    o.failure_budget = Duration::from_millis(800);
    o.segment.timeout = Duration::from_millis(500);
    o.segment.attempts = 2;
    o
}

async fn failed_with(base: &url::Url, name: &str) -> String {
    let tmp = tempfile::tempdir().expect("tempdir");
    let url = base.join(name).expect("url");
    let run = spawn_capture(request(url, tmp.path(), false), opts());
    let (exit, p) = run.join(Duration::from_secs(20)).await;
    assert_eq!(p.segments_captured, 0);
    match exit {
        CaptureExit::Failed(e) => e.to_string(),
        other => panic!("{name}: expected a failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_manifests_fail_with_clear_errors() {
    let (base, _tmp, _media) = origin().await;
    let e = failed_with(&base, "laughs.mpd").await;
    assert!(e.contains("DOCTYPE"), "{e}");
    let e = failed_with(&base, "absurd.mpd").await;
    assert!(e.contains("absurd") || e.contains("overflow"), "{e}");
    let e = failed_with(&base, "huge.mpd").await;
    assert!(e.contains("larger than"), "{e}");
    let e = failed_with(&base, "redirect.mpd").await;
    assert!(e.contains("another host"), "{e}");
    let e = failed_with(&base, "missing.mpd").await;
    assert!(e.contains("404"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_segments_are_counted_missing_not_hung_on() {
    let (base, _tmp, _media) = origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = base.join("bad-segments.mpd").expect("url");
    let run = spawn_capture(request(url, dir.path(), false), opts());
    let (exit, p) = run.join(Duration::from_secs(20)).await;
    assert_eq!(exit, CaptureExit::StreamEnded);
    assert_eq!(p.segments_expected, 4);
    assert_eq!(p.segments_captured, 1, "{p:?}");
    assert_eq!(p.segments_missing, 3, "{p:?}");
    assert_eq!(p.missing_ranges, vec![(2000, 8000)]);
    let (ts, _) = held(dir.path(), "video");
    assert_eq!(ts, vec![0], "only the good segment is stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_off_mid_way_is_resumed_with_range() {
    let (base, _tmp, media) = origin().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = base.join("resume.mpd").expect("url");
    let run = spawn_capture(request(url, dir.path(), false), opts());
    let (exit, p) = run.join(Duration::from_secs(20)).await;
    assert_eq!(exit, CaptureExit::StreamEnded);
    // Two listed, and the two after them found by the end-of-broadcast walk.
    assert_eq!((p.segments_captured, p.segments_missing), (4, 0), "{p:?}");
    assert!(
        media.ranges.load(Ordering::SeqCst) >= 4,
        "the rest came by Range"
    );
    let stored = std::fs::read(dir.path().join("video/part-0/0.m4s")).expect("stored");
    assert_eq!(stored, media.video[0], "resumed bytes equal the original");
}
