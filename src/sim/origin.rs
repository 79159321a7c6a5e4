//! The live DASH origin: Instagram-shaped dynamic manifests and real fMP4 segments released on
//! the broadcast's clock (docs/instagram.md §3).
//!
//! Every published segment stays fetchable until the broadcast is gone (rewind, docs/instagram.md §3
//! "Rewind availability"); unpublished ones answer 404, and once the broadcast is gone the ones
//! that existed answer 410 (docs/instagram.md §8). At the end the manifest carries
//! `x-fb-video-broadcast-ended: 1` while still listing the final segments, and a little later
//! it loses its `<Period>`. Representation ids follow the scenario's scheme (`dash-lp-…` or
//! `live-…`); the media set names its tracks in the `live-` scheme internally.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::fmp4;
use super::media::{CutTrack, AUDIO_ID};
use super::state::SimState;
use super::world::{BroadcastWorld, Phase};

/// Meta's CDN answers every media URL with a query like this; clients must carry it along.
const MS_QUERY: &str = "ms=m_C";

pub fn manifest_path(b: &BroadcastWorld) -> String {
    format!("/live-dash/dash-abr/{}.mpd", b.spec.id)
}

/// File extension of a track, by its media-set name.
fn ext(canonical: &str) -> &'static str {
    if canonical == AUDIO_ID {
        "m4a"
    } else {
        "m4v"
    }
}

/// The id a track is served under.
pub fn public_id(b: &BroadcastWorld, track: &CutTrack) -> String {
    b.rep_ids.public(&track.id)
}

pub fn init_path(b: &BroadcastWorld, track: &CutTrack) -> String {
    format!(
        "/live-dash/{}/{}_0-init.{}",
        public_id(b, track),
        b.stream_id,
        ext(&track.id)
    )
}

/// Video tracks, then the audio track.
pub fn tracks(b: &BroadcastWorld) -> impl Iterator<Item = &CutTrack> {
    b.media.video.iter().chain(std::iter::once(&b.media.audio))
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

fn gone() -> Response {
    (StatusCode::GONE, "Gone").into_response()
}

/// Instagram writes the manifest's clock values in Pacific time with an explicit offset
/// (`-07:00` in the 2024 samples, docs/instagram.md §8), not in UTC.
const MANIFEST_OFFSET: time::UtcOffset = match time::UtcOffset::from_hms(-7, 0, 0) {
    Ok(o) => o,
    Err(_) => time::UtcOffset::UTC,
};

fn iso(unix: f64) -> String {
    // Millisecond precision, like the rest of the manifest's clock values.
    OffsetDateTime::from_unix_timestamp_nanos((unix * 1000.0).round() as i128 * 1_000_000)
        .ok()
        .map(|t| t.to_offset(MANIFEST_OFFSET))
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// `GET /live-dash/{rep}/{file}`: manifests live under `dash-abr`, segments under their
/// representation id.
pub async fn live_dash(
    State(state): State<Arc<SimState>>,
    Path((rep, file)): Path<(String, String)>,
) -> Response {
    if rep == "dash-abr" {
        let Some(id) = file.strip_suffix(".mpd") else {
            return not_found();
        };
        return manifest(&state, id);
    }
    segment(&state, &rep, &file)
}

fn manifest(state: &SimState, id: &str) -> Response {
    let now = state.clock.now();
    let Some(b) = state.broadcast(id) else {
        return not_found();
    };
    let phase = b.phase(now);
    if matches!(phase, Phase::NotStarted | Phase::Gone) {
        return not_found();
    }
    let published = b.published(now);
    // Before the first segment exists the origin has nothing to describe (ping reads an early
    // 404 as "not ready yet").
    if published == 0 && phase == Phase::Live {
        return not_found();
    }
    let ended = phase == Phase::Ended;
    let with_period = !(ended && now >= b.end() + b.spec.period_removed_after);
    let window = &b.segments[published.saturating_sub(b.spec.segments.window)..published];
    let body = render(state, b, now, with_period.then_some(window));
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/dash+xml")],
        body,
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if ended { "max-age=3600" } else { "max-age=1" }),
    );
    if ended {
        h.insert("x-fb-video-broadcast-ended", HeaderValue::from_static("1"));
    }
    resp
}

fn render(
    state: &SimState,
    b: &BroadcastWorld,
    now: f64,
    window: Option<&[super::world::Segment]>,
) -> String {
    let ast = state.clock.unix(b.spec.start);
    let server_ms = (state.clock.unix(now) * 1000.0).round() as i64;
    let first_t = b.spec.segments.first_t;
    let last_frame = b.segments[..b.published(now)]
        .last()
        .map_or(0, |s| s.t + s.d - first_t);
    let mut x = String::with_capacity(4096);
    let _ = write!(
        x,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="dynamic" availabilityStartTime="{ast}" availabilityEndTime="{aet}" publishTime="{ast}" minimumUpdatePeriod="PT1S" timeShiftBufferDepth="PT20S" suggestedPresentationDelay="PT2S" minBufferTime="PT1S" loapStreamId="{sid}" publishFrameTime="{first_t}" currentServerTimeMs="{server_ms}" firstAvTimeMs="{first_av}" lastVideoFrameTs="{last_frame}" fblsVersion="sve.live_streaming:iglive-sim" FBWasLive="true" FBIsLiveTemplated="true" loapStreamType="live" FBManifestIdentifier="{sid}-{server_ms}" validationErrors="">
"#,
        ast = iso(ast),
        aet = iso(state.clock.unix(now) + 360.0),
        sid = b.stream_id,
        first_av = (ast * 1000.0).round() as i64,
    );
    if let Some(window) = window {
        x.push_str(" <Period id=\"dash-abr-ibr-audio\" start=\"PT0S\">\n");
        let mut timeline = String::new();
        for s in window {
            let _ = writeln!(timeline, "     <S t=\"{}\" d=\"{}\"/>", s.t, s.d);
        }
        let (max_w, max_h) = b
            .media
            .video
            .iter()
            .fold((0, 0), |(w, h), v| (w.max(v.width), h.max(v.height)));
        let fps = b.media.fps;
        let _ = writeln!(
            x,
            "  <AdaptationSet id=\"0\" contentType=\"video\" segmentAlignment=\"true\" maxWidth=\"{max_w}\" maxHeight=\"{max_h}\" maxFrameRate=\"{fps}\">"
        );
        for v in &b.media.video {
            let class = v.id.trim_start_matches("live-").trim_end_matches("-v");
            let id = public_id(b, v);
            // The FB* attributes are Meta's own; a client must ignore them (docs/instagram.md §8).
            let _ = writeln!(
                x,
                "   <Representation id=\"{id}\" mimeType=\"video/mp4\" codecs=\"{c}\" width=\"{w}\" height=\"{h}\" frameRate=\"{fps}\" sar=\"1:1\" startWithSAP=\"1\" bandwidth=\"{bw}\" FBQualityClass=\"{class}\" FBQualityLabel=\"{h}p\" FBMaxBandwidth=\"{max_bw}\" FBPlaybackResolutionMos=\"0:100,360:{mos}\" FBAbrPolicyTags=\"\" FBDynamicQualityDropped=\"false\">",
                max_bw = v.bandwidth * 3 / 2,
                mos = 60 + v.height % 40,
                c = v.codecs,
                w = v.width,
                h = v.height,
                bw = v.bandwidth,
            );
            template(&mut x, b, v, &timeline);
            x.push_str("   </Representation>\n");
        }
        x.push_str("  </AdaptationSet>\n");
        let a = &b.media.audio;
        let _ = writeln!(
            x,
            "  <AdaptationSet id=\"1\" contentType=\"audio\" segmentAlignment=\"true\">\n   <Representation id=\"{id}\" mimeType=\"audio/mp4\" codecs=\"{c}\" audioSamplingRate=\"{sr}\" startWithSAP=\"1\" bandwidth=\"{bw}\">\n    <AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"2\"/>",
            id = public_id(b, a),
            c = a.codecs,
            sr = a.timescale,
            bw = a.bandwidth,
        );
        template(&mut x, b, a, &timeline);
        x.push_str("   </Representation>\n  </AdaptationSet>\n </Period>\n");
    }
    x.push_str("</MPD>\n");
    x
}

fn template(x: &mut String, b: &BroadcastWorld, track: &CutTrack, timeline: &str) {
    let (rep, sid, e) = (public_id(b, track), &b.stream_id, ext(&track.id));
    let _ = write!(
        x,
        "    <SegmentTemplate presentationTimeOffset=\"0\" timescale=\"1000\" initialization=\"../{rep}/{sid}_0-init.{e}?{MS_QUERY}\" media=\"../{rep}/{sid}_0-$Time$.{e}?{MS_QUERY}\">\n     <SegmentTimeline FBPredictedMedia=\"false\" FBPredictedMediaStartNumber=\"0\" FBPredictedMediaEndNumber=\"0\">\n{timeline}     </SegmentTimeline>\n    </SegmentTemplate>\n"
    );
}

fn segment(state: &SimState, rep: &str, file: &str) -> Response {
    let now = state.clock.now();
    let Some((stem, file_ext)) = file.rsplit_once('.') else {
        return not_found();
    };
    let Some((sid, what)) = stem.split_once("_0-") else {
        return not_found();
    };
    let Some(b) = state.broadcasts.iter().find(|b| b.stream_id == sid) else {
        return not_found();
    };
    let Some(canonical) = b.rep_ids.canonical(rep).filter(|c| ext(c) == file_ext) else {
        return not_found();
    };
    let Some(track) = tracks(b).find(|t| t.id == canonical) else {
        return not_found();
    };
    match b.phase(now) {
        Phase::NotStarted => return not_found(),
        Phase::Gone => {
            let existed = what == "init"
                || what
                    .parse::<u64>()
                    .is_ok_and(|t| b.segments.binary_search_by_key(&t, |s| s.t).is_ok());
            return if existed { gone() } else { not_found() };
        }
        Phase::Live | Phase::Ended => {}
    }
    let mime = if canonical == AUDIO_ID {
        "audio/mp4"
    } else {
        "video/mp4"
    };
    if what == "init" {
        return media_response(mime, track.init.clone());
    }
    let Ok(t) = what.parse::<u64>() else {
        return not_found();
    };
    let published = &b.segments[..b.published(now)];
    let Ok(i) = published.binary_search_by_key(&t, |s| s.t) else {
        return not_found();
    };
    let seg = &published[i];
    let Some((base_dts, samples)) = track.segments.get(seg.base) else {
        return not_found();
    };
    let video_base_ms = b.media.video.first().and_then(|v| v.segments.get(seg.base));
    let Some((video_base_ms, _)) = video_base_ms else {
        return not_found();
    };
    // Media time moved by (t - base t) ms since the base clip; video tfdt lands exactly on t,
    // audio on the nearest tick of its own timescale.
    let shift_ms = seg.t.saturating_sub(*video_base_ms);
    let ts = u64::from(track.timescale);
    let dts = base_dts + (shift_ms * ts + 500) / 1000;
    media_response(
        mime,
        fmp4::write_segment(track.track_id, seg.sequence, dts, samples),
    )
}

fn media_response(mime: &'static str, bytes: bytes::Bytes) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, mime)],
        Body::from(bytes),
    )
        .into_response()
}
