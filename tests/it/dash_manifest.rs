//! `dash::manifest`: Instagram-shaped live MPDs, every fixture, and hostile input.

use std::path::Path;
use std::time::{Duration, Instant};

use iglive::{Addressing, Limits, LiveManifest, ManifestError, TrackKind};
use url::Url;

const MPD_URL: &str =
    "https://scontent.cdninstagram.com/hvideo-ash1/live-dash/dash-abr/17961?ms=m_C&oe=6a1b2c3d";

fn url() -> Url {
    Url::parse(MPD_URL).expect("test URL parses")
}

fn rep(id: &str, w: u32, h: u32, bw: u64, segments: &str) -> String {
    format!(
        r#"<Representation id="{id}" mimeType="video/mp4" codecs="avc1.4d401e" width="{w}" height="{h}" frameRate="30" startWithSAP="1" bandwidth="{bw}" FBQualityClass="sd" FBQualityLabel="{w}w">
  <SegmentTemplate presentationTimeOffset="0" timescale="1000" initialization="../{id}/17961_0-init.m4v?ms=m_C&amp;ccb=2-4" media="../{id}/17961_0-$Time$.m4v?ms=m_C&amp;ccb=2-4">
    <SegmentTimeline>{segments}</SegmentTimeline>
  </SegmentTemplate>
</Representation>"#
    )
}

/// A live MPD shaped like docs/instagram.md §3 (2020 Instagram / Facebook sample attributes).
fn instagram_live_mpd(segments: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" profiles="urn:mpeg:dash:profile:isoff-live:2011"
  availabilityStartTime="2024-03-20T10:00:00Z" publishTime="2024-03-20T10:00:00Z" availabilityEndTime="2024-03-20T10:08:00Z"
  timeShiftBufferDepth="PT20S" suggestedPresentationDelay="PT2S" minBufferTime="PT1S" minimumUpdatePeriod="PT1S"
  loapStreamId="17961" publishFrameTime="1" currentServerTimeMs="1710929000000" firstAvTimeMs="1710928990000"
  lastVideoFrameTs="10066000" FBMS="1" PTS="1" fblsVersion="sve.live_streaming:abc" FBIsLiveTemplated="1" isPredictive="0">
<Period id="dash-abr-ibr-audio" start="PT0S">
<AdaptationSet segmentAlignment="true" maxWidth="720" maxHeight="1280" maxFrameRate="30">
{}
{}
{}
</AdaptationSet>
<AdaptationSet segmentAlignment="true">
<Representation id="live-hd-a" mimeType="audio/mp4" codecs="mp4a.40.2" audioSamplingRate="44100" startWithSAP="1" bandwidth="48000">
  <SegmentTemplate presentationTimeOffset="0" timescale="1000" initialization="../live-hd-a/17961_0-init.m4a?ms=m_C" media="../live-hd-a/17961_0-$Time$.m4a?ms=m_C">
    <SegmentTimeline>{segments}</SegmentTimeline>
  </SegmentTemplate>
</Representation>
</AdaptationSet>
</Period>
</MPD>"#,
        rep("live-ld-v", 216, 384, 62_000, segments),
        rep("live-md-v", 360, 640, 123_000, segments),
        rep("live-hd2-v", 720, 1280, 912_000, segments),
    )
}

const IG_SEGMENTS: &str =
    r#"<S t="1035008" d="2002"/><S t="1037010" d="2001"/><S t="1039011" d="2002"/>"#;

#[test]
fn instagram_live_manifest_parses_into_the_capture_model() {
    let m = LiveManifest::parse(instagram_live_mpd(IG_SEGMENTS).as_bytes(), &url())
        .expect("Instagram-shaped MPD parses");
    assert!(m.is_dynamic);
    assert!(m.has_period && !m.is_ended_signal());
    assert_eq!(m.publish_frame_time, Some(1));
    assert_eq!(m.loap_stream_id.as_deref(), Some("17961"));
    assert_eq!(m.meta.current_server_time_ms, Some(1_710_929_000_000));
    assert_eq!(m.meta.last_video_frame_ts, Some(10_066_000));
    assert_eq!(m.minimum_update_period, Some(Duration::from_secs(1)));
    assert_eq!(m.video.len(), 3);
    assert_eq!(m.audio.len(), 1);

    let hd = m.select_video(None).expect("a video track");
    assert_eq!(hd.id, "live-hd2-v");
    assert_eq!((hd.width, hd.height), (Some(720), Some(1280)));
    assert_eq!(hd.kind, TrackKind::Video);
    assert_eq!(hd.codecs.as_deref(), Some("avc1.4d401e"));
    assert_eq!(hd.timescale, 1000);
    assert_eq!(
        hd.timeline,
        vec![(1_035_008, 2002), (1_037_010, 2001), (1_039_011, 2002)]
    );
    assert_eq!(
        hd.init_url.as_ref().map(Url::as_str),
        Some("https://scontent.cdninstagram.com/hvideo-ash1/live-dash/live-hd2-v/17961_0-init.m4v?ms=m_C&ccb=2-4")
    );
    // Rewind addresses t values the window never listed; $Time$ templates allow that.
    assert_eq!(
        hd.media_url(1).expect("media URL").as_str(),
        "https://scontent.cdninstagram.com/hvideo-ash1/live-dash/live-hd2-v/17961_0-1.m4v?ms=m_C&ccb=2-4"
    );

    assert_eq!(
        m.select_video(Some(640)).map(|t| t.id.as_str()),
        Some("live-md-v")
    );
    assert_eq!(
        m.select_video(Some(639)).map(|t| t.id.as_str()),
        Some("live-ld-v")
    );
    // Nothing fits: the smallest rather than nothing.
    assert_eq!(
        m.select_video(Some(100)).map(|t| t.id.as_str()),
        Some("live-ld-v")
    );
    let a = m.select_audio().expect("audio track");
    assert_eq!(a.id, "live-hd-a");
    assert_eq!(a.kind, TrackKind::Audio);
    assert_eq!(
        a.media_url(1_037_010).expect("audio URL").as_str(),
        "https://scontent.cdninstagram.com/hvideo-ash1/live-dash/live-hd-a/17961_0-1037010.m4a?ms=m_C"
    );
}

#[test]
fn manifest_without_period_is_the_end_signal_not_an_error() {
    let xml = r#"<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" minimumUpdatePeriod="PT1S" loapStreamId="17961" publishFrameTime="1"></MPD>"#;
    let m = LiveManifest::parse(xml.as_bytes(), &url()).expect("period-less MPD is a signal");
    assert!(!m.has_period);
    assert!(m.is_ended_signal());
    assert!(m.is_dynamic);
    assert!(m.video.is_empty() && m.audio.is_empty());
    assert_eq!(m.publish_frame_time, Some(1));
}

fn fixture(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {} unreadable: {e}", p.display()))
}

fn parse_fixture(rel: &str) -> LiveManifest {
    let base = Url::parse("https://example.test/live/manifest.mpd?token=abc").expect("url");
    LiveManifest::parse(&fixture(rel), &base)
        .unwrap_or_else(|e| panic!("fixture {rel} should parse: {e}"))
}

#[test]
fn every_dynamic_fixture_parses_into_a_timeline() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dash");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("fixture dir") {
        let name = entry.expect("dir entry").file_name();
        let name = name.to_string_lossy();
        let m = parse_fixture(&format!("dash/{name}"));
        assert!(m.is_dynamic, "{name} is dynamic");
        assert!(m.has_period, "{name}");
        assert!(
            !m.video.is_empty() || !m.audio.is_empty(),
            "{name} has tracks"
        );
        for t in m.video.iter().chain(&m.audio) {
            assert!(!t.timeline.is_empty(), "{name}/{} has a timeline", t.id);
            assert!(
                t.timeline.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0),
                "{name}/{} timeline ascends",
                t.id
            );
            assert!(matches!(t.addressing, Addressing::Template { .. }));
        }
        n += 1;
    }
    assert_eq!(n, 8, "all eight dash fixtures were checked");
}

#[test]
fn fixture_details_number_bandwidth_and_implicit_t() {
    // $Number$ with $Time$, startNumber 695, per-Representation templates.
    let m = parse_fixture("dash/test_1.mpd");
    let v3 = m
        .video
        .iter()
        .find(|t| t.id == "tracks-v3")
        .expect("tracks-v3");
    assert_eq!(v3.timeline.len(), 6);
    assert_eq!(
        v3.media_url(3_393_000).expect("url").as_str(),
        "https://example.test/live/tracks-v3/dvr-1526842800-696.g_m4v?t=3393000"
    );
    assert!(
        v3.media_url(1).is_err(),
        "$Number$ cannot be derived outside the window"
    );

    // $Bandwidth$ and different audio/video t values.
    let m = parse_fixture("dash/test_3.mpd");
    let v = m.select_video(None).expect("video");
    assert_eq!(v.bandwidth, 2_800_000);
    assert_eq!(v.timeline[3], (1_525_450_872_000, 4000));
    assert_eq!(
        v.media_url(1_525_450_860_000).expect("url").as_str(),
        "https://example.test/live/video-time=1525450860000-2800000-0.m4s?z32="
    );
    assert_eq!(
        m.select_audio().expect("audio").first_t(),
        Some(1_525_450_860_800)
    );

    // Implicit t chaining, jittering audio durations at 48 kHz.
    let m = parse_fixture("dash/test_9.mpd");
    let a = m.select_audio().expect("audio");
    assert_eq!(a.timescale, 48_000);
    assert_eq!(
        a.timeline,
        vec![
            (74_831_568_240, 479_232),
            (74_832_047_472, 480_240),
            (74_832_527_712, 480_288),
            (74_833_008_000, 480_240),
            (74_833_488_240, 479_232),
        ]
    );

    // AdaptationSet-level template shared by two Representations.
    let m = parse_fixture("dash/test_timeline_ids.mpd");
    let ids: Vec<_> = m.audio.iter().map(|t| t.init_url.clone()).collect();
    assert_eq!(
        ids.iter().flatten().map(Url::as_str).collect::<Vec<_>>(),
        vec![
            "https://example.test/live/audio1/init.mp4",
            "https://example.test/live/audio2/init.mp4"
        ]
    );

    // A first S with t, then an r-run without t.
    let m = parse_fixture("dash/test_dynamic_no_publish_time_timeline_with_start.mpd");
    let v = &m.video[0];
    assert_eq!(v.timeline.len(), 9);
    assert_eq!(v.last_t(), Some(155_994_767_894_430 + 8 * 540_000));

    // Two reloads: the window slid by five segments.
    let p1 = parse_fixture("dash/test_dynamic_timeline_continued_p1.mpd");
    let p2 = parse_fixture("dash/test_dynamic_timeline_continued_p2.mpd");
    let new: Vec<u64> = p2.video[0]
        .timeline
        .iter()
        .map(|&(t, _)| t)
        .filter(|t| !p1.video[0].timeline.iter().any(|&(o, _)| o == *t))
        .collect();
    assert_eq!(
        new,
        vec![1_011_000, 1_012_000, 1_013_000, 1_014_000, 1_015_000]
    );
}

#[test]
fn static_replay_manifests_parse_with_segment_base() {
    for name in [
        "instagram/postlive_dash_manifest_17846293228909500.mpd",
        "instagram/postlive_dash_manifest_17864725948631642.mpd",
        "instagram/postlive_dash_manifest_17899199278437062.mpd",
        "instagram/replay_mpd_content_from_ping_test_replay.mpd",
        "instagram/replay_mpd_content_multiperiods_from_ping_test_replay.mpd",
    ] {
        let m = parse_fixture(name);
        assert!(!m.is_dynamic, "{name} is static");
        assert!(m.has_period);
        assert!(
            !m.video.is_empty() && !m.audio.is_empty(),
            "{name} has tracks"
        );
        for t in m.video.iter().chain(&m.audio) {
            assert!(
                matches!(
                    t.addressing,
                    Addressing::SegmentBase { .. } | Addressing::Single { .. }
                ),
                "{name}/{}: {:?}",
                t.id,
                t.addressing
            );
            assert!(t.timeline.is_empty());
        }
    }
    let m = parse_fixture("instagram/postlive_dash_manifest_17846293228909500.mpd");
    let v = m.select_video(None).expect("video");
    assert_eq!(v.height, Some(896));
    match &v.addressing {
        Addressing::SegmentBase {
            url,
            init_range,
            index_range,
        } => {
            assert!(url
                .as_str()
                .starts_with("https://scontent-mxp1-1.cdninstagram.com/"));
            assert!(url.as_str().contains("&oe="), "&amp; decoded: {url}");
            assert_eq!(init_range.as_deref(), Some("0-906"));
            assert!(index_range.is_some());
        }
        other => panic!("expected SegmentBase, got {other:?}"),
    }
    let multi =
        parse_fixture("instagram/replay_mpd_content_multiperiods_from_ping_test_replay.mpd");
    assert_eq!(multi.period_count, 2);
}

fn err(xml: &[u8]) -> ManifestError {
    match LiveManifest::parse(xml, &url()) {
        Ok(m) => panic!("expected an error, parsed {} video tracks", m.video.len()),
        Err(e) => e,
    }
}

#[test]
fn hostile_manifests_are_clear_errors() {
    // Billion laughs: refused before any entity could expand.
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><MPD type="dynamic"><Period>&lol2;</Period></MPD>"#;
    assert_eq!(err(laughs.as_bytes()), ManifestError::DoctypeRefused);

    let big = vec![b' '; 2 * 1024 * 1024 + 1];
    assert!(matches!(err(&big), ManifestError::TooLarge(_)));

    let deep = format!(
        "<MPD><Period>{}{}</Period></MPD>",
        "<X>".repeat(100),
        "</X>".repeat(100)
    );
    assert!(matches!(err(deep.as_bytes()), ManifestError::TooLarge(_)));

    let many_reps = instagram_live_mpd(IG_SEGMENTS).replace(
        "</AdaptationSet>\n<AdaptationSet",
        &format!(
            "{}</AdaptationSet>\n<AdaptationSet",
            r#"<Representation id="x" bandwidth="1"/>"#.repeat(300)
        ),
    );
    assert!(matches!(
        err(many_reps.as_bytes()),
        ManifestError::TooLarge(_)
    ));

    let many_sets = format!(
        "<MPD type=\"dynamic\"><Period>{}</Period></MPD>",
        "<AdaptationSet/>".repeat(200)
    );
    assert!(matches!(
        err(many_sets.as_bytes()),
        ManifestError::TooLarge(_)
    ));
    let many_elements = format!(
        "<MPD type=\"dynamic\"><Period><AdaptationSet>{}</AdaptationSet></Period></MPD>",
        "<Role/>".repeat(60_000)
    );
    assert!(matches!(
        err(many_elements.as_bytes()),
        ManifestError::TooLarge(_)
    ));

    let huge_r = instagram_live_mpd(r#"<S t="0" d="2000" r="50000000"/>"#);
    let start = Instant::now();
    assert!(matches!(err(huge_r.as_bytes()), ManifestError::TooLarge(_)));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "refused without expanding"
    );

    let overflow = instagram_live_mpd(r#"<S t="18446744073709551000" d="2000" r="3"/>"#);
    assert!(matches!(
        err(overflow.as_bytes()),
        ManifestError::Timeline(_)
    ));
    let zero = instagram_live_mpd(r#"<S t="0" d="0"/>"#);
    assert!(matches!(err(zero.as_bytes()), ManifestError::Timeline(_)));
    let absurd = instagram_live_mpd(r#"<S t="0" d="999999999999"/>"#);
    assert!(matches!(err(absurd.as_bytes()), ManifestError::Timeline(_)));
    let bad_pft = instagram_live_mpd(IG_SEGMENTS)
        .replace("publishFrameTime=\"1\"", "publishFrameTime=\"-5\"");
    assert!(matches!(
        err(bad_pft.as_bytes()),
        ManifestError::BadAttribute { .. }
    ));

    assert_eq!(err(b"\xff\xfe<MPD/>"), ManifestError::NotUtf8);
    assert_eq!(
        err(b"<html><body>login</body></html>"),
        ManifestError::NotAnMpd
    );
    assert_eq!(err(b""), ManifestError::NotAnMpd);
    assert!(matches!(err(b"<MPD><Period></MPD>"), ManifestError::Xml(_)));
}

#[test]
fn truncated_manifests_never_panic() {
    let xml = instagram_live_mpd(IG_SEGMENTS);
    let bytes = xml.as_bytes();
    let start = Instant::now();
    let mut errors = 0;
    // Every cut point in steps (bounded: the document is a few KB).
    for cut in (0..bytes.len()).step_by(7) {
        if LiveManifest::parse(&bytes[..cut], &url()).is_err() {
            errors += 1;
        }
    }
    assert!(errors > 0);
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[test]
fn custom_limits_apply() {
    let limits = Limits {
        max_timeline_entries: 4,
        ..Limits::default()
    };
    // 4 tracks × 3 entries exceed a total budget of 4.
    let r = LiveManifest::parse_with_limits(
        instagram_live_mpd(IG_SEGMENTS).as_bytes(),
        &url(),
        &limits,
    );
    assert!(matches!(r, Err(ManifestError::TooLarge(_))));
}
