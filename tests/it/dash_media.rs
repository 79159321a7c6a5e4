//! `dash::mp4` and `dash::rewind` over real ffmpeg-made fragments.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::support;
use bytes::Bytes;
use iglive::mp4::{self, FragmentInfo, Handler, Mp4Error};
use iglive::rewind::{self, Gap, RewindConfig, RewindEnd, RewindError, RewindPlan, RewindSource};

#[test]
fn init_segments_describe_the_track() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v = support::media::video(dir.path(), 6);
    let info = mp4::parse_init(&v.init).expect("video init parses");
    assert_eq!(info.handler, Handler::Video);
    assert_eq!(info.timescale, 1000);
    assert_eq!(info.codec.map(|c| c.as_string()).as_deref(), Some("avc1"));
    assert_eq!((info.width, info.height), (Some(216), Some(384)));
    let trex = info.trex.expect("fragmented init has trex");
    assert_eq!(trex.track_id, info.track_id);

    let a = support::media::audio(dir.path(), 6);
    let info = mp4::parse_init(&a.init).expect("audio init parses");
    assert_eq!(info.handler, Handler::Audio);
    assert_eq!(info.timescale, 44_100);
    assert_eq!(info.codec.map(|c| c.as_string()).as_deref(), Some("mp4a"));
    assert_eq!(info.width, None);

    // A media segment is not an init segment.
    assert_eq!(
        mp4::parse_init(&v.fragments[0]),
        Err(Mp4Error::Missing("moov"))
    );
}

#[test]
fn fragments_chain_by_tfdt_and_trun_durations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v = support::media::video(dir.path(), 6);
    let init = mp4::parse_init(&v.init).expect("init");
    assert_eq!(v.fragments.len(), 3, "6 s at a 2 s GOP");
    let mut expected_start = 0;
    for f in &v.fragments {
        let info = mp4::parse_fragment(f, init.trex.as_ref()).expect("fragment parses");
        assert_eq!(info.base_media_decode_time, expected_start);
        assert_eq!(info.sample_count, 60);
        assert!(info.starts_with_sync, "each fragment starts on a keyframe");
        let ms = info.duration_ms(init.timescale).expect("ms");
        assert_eq!(ms, 2000);
        expected_start += info.duration;
    }
    // No init segment in a fragment.
    assert!(matches!(
        mp4::parse_fragment(&v.init, None),
        Err(Mp4Error::Missing("moof"))
    ));

    // Audio at 44.1 kHz: ms conversion of a non-1000 timescale.
    let a = support::media::audio(dir.path(), 6);
    let ainit = mp4::parse_init(&a.init).expect("audio init");
    let mut total = 0;
    let mut next = 0;
    for f in &a.fragments {
        let info = mp4::parse_fragment(f, ainit.trex.as_ref()).expect("audio fragment");
        assert_eq!(info.base_media_decode_time, next);
        next += info.duration;
        total += info.duration;
    }
    let total_ms = mp4::ticks_to_ms(total, ainit.timescale).expect("ms");
    assert!(
        (5900..=6100).contains(&total_ms),
        "audio lasts ~6 s, got {total_ms}"
    );
}

#[test]
fn muxed_fragments_time_only_the_requested_track() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = support::media::muxed(dir.path(), 4);
    // parse_init reads the first track (video); the audio track is the next id.
    let init = mp4::parse_init(&m.init).expect("muxed init");
    assert_eq!(init.handler, Handler::Video);
    let f = &m.fragments[0];
    let video = mp4::parse_fragment(f, init.trex.as_ref()).expect("video traf");
    assert_eq!(video.sample_count, 60);
    // ~2 s of ms ticks; summing the audio traf (44.1 kHz ticks) too would be ~90 000.
    assert!(
        (1950..=2050).contains(&video.duration),
        "{}",
        video.duration
    );
    let other = mp4::TrexDefaults {
        track_id: init.track_id + 1,
        ..Default::default()
    };
    let audio = mp4::parse_fragment(f, Some(&other)).expect("audio traf");
    assert_ne!(audio.sample_count, video.sample_count);
    assert!(audio.duration > 0);
    let absent = mp4::TrexDefaults {
        track_id: 99,
        ..Default::default()
    };
    assert_eq!(
        mp4::parse_fragment(f, Some(&absent)),
        Err(Mp4Error::Missing("traf for the track"))
    );
}

/// A small deterministic generator so the fuzz-like tests are reproducible.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

#[test]
fn truncated_mutated_and_random_bytes_never_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v = support::media::video(dir.path(), 2);
    let start = Instant::now();
    let frag = &v.fragments[0];
    // Truncations at every box-relevant prefix length of the header region and then
    // at a stride through the rest.
    for cut in (0..frag.len().min(4096)).chain((4096..frag.len()).step_by(997)) {
        let _ = mp4::parse_fragment(&frag[..cut], None);
    }
    for cut in 0..v.init.len() {
        assert!(
            mp4::parse_init(&v.init[..cut]).is_err(),
            "a cut init ({cut} bytes) cannot be complete"
        );
    }
    let mut rng = Lcg(42);
    for _ in 0..2000 {
        let mut m = v.init.clone();
        for _ in 0..4 {
            let i = (rng.next() as usize) % m.len();
            m[i] = rng.next() as u8;
        }
        let _ = mp4::parse_init(&m);
        let mut f = frag[..frag.len().min(2048)].to_vec();
        for _ in 0..4 {
            let i = (rng.next() as usize) % f.len();
            f[i] = rng.next() as u8;
        }
        let _ = mp4::parse_fragment(&f, None);
        let len = (rng.next() % 512) as usize;
        let random: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        assert!(mp4::parse_init(&random).is_err() || len >= 8);
        let _ = mp4::parse_fragment(&random, None);
    }
    assert!(start.elapsed() < Duration::from_secs(30));
}

/// A fake CDN: fragments keyed by the `t` they are served at.
struct FakeCdn {
    served: HashMap<u64, Bytes>,
    requested: Vec<u64>,
    accepted: Vec<(u64, FragmentInfo)>,
    fail_at: Option<u64>,
    live_held: Vec<u64>,
}

#[derive(Debug, thiserror::Error)]
#[error("connection reset")]
struct Reset;

impl RewindSource for FakeCdn {
    type Error = Reset;

    fn live_holds(&self, t: u64) -> bool {
        self.live_held.contains(&t)
    }

    async fn fetch(&mut self, t: u64) -> Result<Option<Bytes>, Reset> {
        self.requested.push(t);
        if self.fail_at == Some(t) {
            return Err(Reset);
        }
        Ok(self.served.get(&t).cloned())
    }

    async fn accept(&mut self, t: u64, _fragment: Bytes, info: FragmentInfo) -> Result<(), Reset> {
        self.accepted.push((t, info));
        Ok(())
    }
}

struct Setup {
    cdn: FakeCdn,
    plan: RewindPlan,
    /// `t` of each fragment (its tfdt in ms).
    ts: Vec<u64>,
}

/// 12 s of video = six 2 s fragments at t = 0, 2000, …, 10000; the live window starts at
/// the fifth (t = 8000).
fn setup(dir: &std::path::Path) -> Setup {
    let v = support::media::video(dir, 12);
    let init = mp4::parse_init(&v.init).expect("init");
    let mut served = HashMap::new();
    let mut ts = Vec::new();
    for f in &v.fragments {
        let info = mp4::parse_fragment(f, init.trex.as_ref()).expect("fragment");
        let t = info.start_ms(init.timescale).expect("ms");
        ts.push(t);
        served.insert(t, Bytes::from(f.clone()));
    }
    assert_eq!(ts, vec![0, 2000, 4000, 6000, 8000, 10000]);
    Setup {
        cdn: FakeCdn {
            served,
            requested: Vec::new(),
            accepted: Vec::new(),
            fail_at: None,
            live_held: Vec::new(),
        },
        plan: RewindPlan {
            start_t: 0,
            live_first_t: 8000,
            timescale: init.timescale,
            trex: init.trex,
            config: RewindConfig::default(),
        },
        ts,
    }
}

fn accepted_ts(cdn: &FakeCdn) -> Vec<u64> {
    cdn.accepted.iter().map(|(t, _)| *t).collect()
}

#[tokio::test]
async fn rewind_walks_from_publish_frame_time_to_the_live_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = setup(dir.path());
    let report = rewind::run(&s.plan, &mut s.cdn)
        .await
        .expect("walk succeeds");
    assert_eq!(report.end, RewindEnd::ReachedLive);
    assert_eq!(accepted_ts(&s.cdn), s.ts[..4].to_vec());
    assert_eq!(report.segments, 4);
    assert_eq!(report.requests, 4, "one request per segment, no probing");
    assert!(report.gaps.is_empty());
    assert_eq!(report.tfdt_mismatches, 0);
}

#[tokio::test]
async fn rewind_retries_plus_minus_one_ms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = setup(dir.path());
    // The CDN knows the third segment one millisecond later than its PTS says.
    let b = s.cdn.served.remove(&4000).expect("t=4000 served");
    s.cdn.served.insert(4001, b);
    let report = rewind::run(&s.plan, &mut s.cdn)
        .await
        .expect("walk succeeds");
    // The chain continues from 4001 + 2000 = 6001, a miss that the ±1 retry turns back
    // into 6000.
    assert_eq!(accepted_ts(&s.cdn), vec![0, 2000, 4001, 6000]);
    assert_eq!(s.cdn.requested, vec![0, 2000, 4000, 3999, 4001, 6001, 6000]);
    assert!(report.gaps.is_empty());
    assert_eq!(report.end, RewindEnd::ReachedLive);
    assert_eq!(report.tfdt_mismatches, 0, "both within 1 ms of their tfdt");
}

#[tokio::test]
async fn rewind_scans_past_a_missing_segment_and_records_the_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = setup(dir.path());
    s.cdn.served.remove(&2000);
    let report = rewind::run(&s.plan, &mut s.cdn)
        .await
        .expect("walk succeeds");
    assert_eq!(accepted_ts(&s.cdn), vec![0, 4000, 6000]);
    assert_eq!(
        report.gaps,
        vec![Gap {
            from: 2000,
            to: 4000
        }]
    );
    assert_eq!(report.end, RewindEnd::ReachedLive);
    // t=0, then 2000 and its ±1, the scan's first slot centre (4000), then 6000.
    assert_eq!(s.cdn.requested, vec![0, 2000, 1999, 2001, 4000, 6000]);
    assert_eq!(report.requests, 6);
}

#[tokio::test]
async fn rewind_gives_up_boundedly_when_the_chain_breaks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = setup(dir.path());
    s.plan.live_first_t = 10_000;
    for t in [2000, 4000, 6000, 8000] {
        s.cdn.served.remove(&t);
    }
    let report = rewind::run(&s.plan, &mut s.cdn).await.expect("walk ends");
    assert_eq!(report.end, RewindEnd::ChainBroken { at: 2000 });
    assert_eq!(
        report.gaps,
        vec![Gap {
            from: 2000,
            to: 10_000
        }]
    );
    let cfg = RewindConfig::default();
    let bound = 1 + 3 + u64::from(cfg.scan_segments) * (2 * cfg.jitter_ms + 1);
    assert!(report.requests <= bound, "{} requests", report.requests);
}

#[tokio::test]
async fn rewind_respects_the_request_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = setup(dir.path());
    s.plan.config.max_requests = 2;
    let report = rewind::run(&s.plan, &mut s.cdn).await.expect("walk ends");
    assert_eq!(report.end, RewindEnd::RequestBudgetExhausted { at: 4000 });
    assert_eq!(s.cdn.requested.len(), 2);
    assert_eq!(
        report.gaps,
        vec![Gap {
            from: 4000,
            to: 8000
        }]
    );
}

#[tokio::test]
async fn rewind_surfaces_fetch_errors_and_bad_fragments_with_progress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = setup(dir.path());
    s.cdn.fail_at = Some(4000);
    match rewind::run(&s.plan, &mut s.cdn).await {
        Err(RewindError::Fetch { t, report, .. }) => {
            assert_eq!(t, 4000);
            assert_eq!(report.segments, 2);
        }
        other => panic!("expected a fetch error, got {other:?}"),
    }

    let mut s = setup(dir.path());
    s.cdn
        .served
        .insert(2000, Bytes::from_static(b"<html>403 Forbidden</html>"));
    match rewind::run(&s.plan, &mut s.cdn).await {
        Err(RewindError::BadFragment { t, report, .. }) => {
            assert_eq!(t, 2000);
            assert_eq!(report.segments, 1);
        }
        other => panic!("expected a bad fragment, got {other:?}"),
    }
}

#[tokio::test]
async fn rewind_stops_at_a_segment_the_live_side_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = setup(dir.path());
    s.cdn.live_held = vec![4000];
    let report = rewind::run(&s.plan, &mut s.cdn)
        .await
        .expect("walk succeeds");
    assert_eq!(report.end, RewindEnd::ReachedLive);
    assert_eq!(accepted_ts(&s.cdn), vec![0, 2000]);
    assert_eq!(s.cdn.requested, vec![0, 2000]);
}

#[test]
fn ffmpeg_dash_packaging_round_trips_through_manifest_and_boxes() {
    use iglive::LiveManifest;
    let dir = tempfile::tempdir().expect("tempdir");
    let mpd = support::media::dash_package(dir.path(), 6);
    let url = url::Url::from_file_path(&mpd).expect("file URL");
    let m = LiveManifest::parse(&std::fs::read(&mpd).expect("read MPD"), &url).expect("parses");
    assert!(!m.is_dynamic);
    let mut checked = 0;
    for track in [m.select_video(None), m.select_audio()]
        .into_iter()
        .flatten()
    {
        let init_path = track
            .init_url
            .as_ref()
            .and_then(|u| u.to_file_path().ok())
            .expect("init URL is a local file");
        let init = mp4::parse_init(&std::fs::read(&init_path).expect("init file exists"))
            .expect("init parses");
        assert_eq!(u64::from(init.timescale), track.timescale);
        assert!(!track.timeline.is_empty());
        // ffmpeg's audio timeline is presentation time: its first entry is shortened by
        // the AAC priming (one 1024-sample frame) that the fragments still carry, so audio
        // t and tfdt differ by up to 1024 ticks. Video matches exactly.
        let mut expected_tfdt = None;
        for &(t, d) in &track.timeline {
            let path = track
                .media_url(t)
                .expect("media URL")
                .to_file_path()
                .expect("local path");
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("segment {} for t={t}: {e}", path.display()));
            let info = mp4::parse_fragment(&bytes, init.trex.as_ref()).expect("fragment");
            if let Some(e) = expected_tfdt {
                assert_eq!(info.base_media_decode_time, e, "fragments chain");
            }
            expected_tfdt = Some(info.base_media_decode_time + info.duration);
            if init.handler == Handler::Video {
                assert_eq!(info.base_media_decode_time, t, "{}", path.display());
                assert_eq!(info.duration, d, "{}", path.display());
            } else {
                assert!(info.base_media_decode_time.abs_diff(t) <= 1024);
                assert!(info.duration.abs_diff(d) <= 1024);
            }
            checked += 1;
        }
    }
    assert!(checked >= 6, "video and audio segments checked: {checked}");
}
