//! The typed view of a (live) MPD that the capture loop works from.
//!
//! `dash-mpd-core` does the XML-to-struct parsing; this module adds what it lacks for a
//! recorder: limits on hostile input (checked by [`super::prescan`] before serde sees the
//! document), Meta's root attributes, template inheritance, base-URL resolution and the
//! expanded timeline per representation. See docs/instagram.md §3 for the manifest's shape.

use std::time::Duration;

use dash_mpd_core::{AdaptationSet, Period, Representation, SegmentTemplate, MPD};
use url::Url;

use super::manifest_error::ManifestError;
use super::prescan::{prescan, Limits, MetaAttributes};
use super::template::{TemplateVars, UrlTemplate};
use super::timeline;

/// Video or audio; other adaptation sets (subtitles, thumbnails) are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    Video,
    Audio,
}

/// How a representation's segments are addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addressing {
    /// `SegmentTemplate` (every live MPD): build URLs with [`Track::media_url`].
    Template {
        media: UrlTemplate,
        start_number: u64,
    },
    /// One file with byte ranges (`SegmentBase`, Instagram's static replay manifests).
    SegmentBase {
        url: Url,
        init_range: Option<String>,
        index_range: Option<String>,
    },
    /// A single `BaseURL` and nothing else.
    Single { url: Url },
    /// `SegmentList` or nothing usable; kept so the track is visible but not capturable.
    Unsupported,
}

/// One representation, flattened with everything it inherits from its AdaptationSet and
/// Period, and with URLs already resolved against the manifest URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub id: String,
    pub kind: TrackKind,
    pub bandwidth: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub codecs: Option<String>,
    pub mime_type: Option<String>,
    /// Timescale of `t`/`d` (Instagram: 1000, i.e. milliseconds).
    pub timescale: u64,
    pub presentation_time_offset: u64,
    pub init_url: Option<Url>,
    pub addressing: Addressing,
    /// The expanded `SegmentTimeline` as `(t, d)`; empty for non-timeline addressing.
    pub timeline: Vec<(u64, u64)>,
}

impl Track {
    /// URL of the segment starting at `t`. `$Number$` is derived from `t`'s position in
    /// the timeline, so a template using it cannot address a `t` outside the window
    /// (Instagram's templates use `$Time$` only, so rewind works with any `t`).
    pub fn media_url(&self, t: u64) -> Result<Url, ManifestError> {
        let number = match &self.addressing {
            Addressing::Template {
                media,
                start_number,
            } if media.uses_number() => self
                .timeline
                .iter()
                .position(|&(st, _)| st == t)
                .map(|i| start_number.saturating_add(i as u64)),
            _ => None,
        };
        self.media_url_with(Some(t), number)
    }

    /// URL for explicit `$Time$` / `$Number$` values (for templates without a timeline).
    pub fn media_url_with(
        &self,
        time: Option<u64>,
        number: Option<u64>,
    ) -> Result<Url, ManifestError> {
        match &self.addressing {
            Addressing::Template { media, .. } => media.resolve(&TemplateVars {
                representation_id: Some(&self.id),
                bandwidth: Some(self.bandwidth),
                time,
                number,
            }),
            _ => Err(ManifestError::NotTemplated(self.id.clone())),
        }
    }

    /// First and last `t` of the timeline.
    pub fn first_t(&self) -> Option<u64> {
        self.timeline.first().map(|&(t, _)| t)
    }

    pub fn last_t(&self) -> Option<u64> {
        self.timeline.last().map(|&(t, _)| t)
    }
}

/// What one fetch of the MPD tells the capture loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveManifest {
    pub is_dynamic: bool,
    /// False for the `<Period>`-less manifest Instagram serves when a broadcast has ended
    /// (docs/instagram.md §3 "End-of-broadcast signals"); the track lists are then empty.
    pub has_period: bool,
    pub publish_frame_time: Option<u64>,
    pub loap_stream_id: Option<String>,
    pub minimum_update_period: Option<Duration>,
    /// All of Meta's root attributes (server clock, first A/V time, …).
    pub meta: MetaAttributes,
    /// How many Periods the document has; tracks come from the last one (the live edge).
    pub period_count: usize,
    pub video: Vec<Track>,
    pub audio: Vec<Track>,
}

impl LiveManifest {
    /// Parses with [`Limits::default`]. `manifest_url` is where the MPD was fetched from
    /// (after redirects): relative template URLs resolve against it. `MPD@Location` is
    /// ignored; Instagram does not use it and the capture keeps polling its own URL.
    pub fn parse(bytes: &[u8], manifest_url: &Url) -> Result<LiveManifest, ManifestError> {
        Self::parse_with_limits(bytes, manifest_url, &Limits::default())
    }

    pub fn parse_with_limits(
        bytes: &[u8],
        manifest_url: &Url,
        limits: &Limits,
    ) -> Result<LiveManifest, ManifestError> {
        if bytes.len() > limits.max_bytes {
            return Err(ManifestError::TooLarge("manifest exceeds the size cap"));
        }
        let xml = std::str::from_utf8(bytes).map_err(|_| ManifestError::NotUtf8)?;
        let pre = prescan(xml, limits)?;
        let parsed = dash_mpd_core::parse(xml);
        if pre.period_count == 0 {
            // The end-of-broadcast signal. dash-mpd-core may or may not like the rest of
            // such a stub; only its type and update period are of interest.
            let mpd = parsed.ok();
            return Ok(LiveManifest {
                is_dynamic: mpd.as_ref().is_some_and(is_dynamic),
                has_period: false,
                publish_frame_time: pre.meta.publish_frame_time,
                loap_stream_id: pre.meta.loap_stream_id.clone(),
                minimum_update_period: mpd.as_ref().and_then(|m| m.minimumUpdatePeriod),
                meta: pre.meta,
                period_count: 0,
                video: Vec::new(),
                audio: Vec::new(),
            });
        }
        let mpd = parsed.map_err(|e| ManifestError::Parse(e.to_string()))?;

        let mut base = manifest_url.clone();
        if let Some(b) = mpd.base_url.first() {
            base = join(&base, &b.base)?;
        }
        let mut video = Vec::new();
        let mut audio = Vec::new();
        let mut budget = limits.max_timeline_entries;
        if let Some(period) = mpd.periods.last() {
            let mut pbase = base.clone();
            if let Some(b) = period.BaseURL.first() {
                pbase = join(&pbase, &b.base)?;
            }
            for set in &period.adaptations {
                let Some(kind) = classify(set) else { continue };
                let mut abase = pbase.clone();
                if let Some(b) = set.BaseURL.first() {
                    abase = join(&abase, &b.base)?;
                }
                for rep in &set.representations {
                    let track = build_track(period, set, rep, kind, &abase, &mut budget)?;
                    match kind {
                        TrackKind::Video => video.push(track),
                        TrackKind::Audio => audio.push(track),
                    }
                }
            }
        }
        Ok(LiveManifest {
            is_dynamic: is_dynamic(&mpd),
            has_period: true,
            publish_frame_time: pre.meta.publish_frame_time,
            loap_stream_id: pre.meta.loap_stream_id.clone(),
            minimum_update_period: mpd.minimumUpdatePeriod,
            meta: pre.meta,
            period_count: pre.period_count,
            video,
            audio,
        })
    }

    /// True for the `<Period>`-less "broadcast ended" manifest.
    pub fn is_ended_signal(&self) -> bool {
        !self.has_period
    }

    /// The highest-bandwidth video track whose height is within `max_height` (tracks of
    /// unknown height count as within). If every track is taller than the cap, the
    /// smallest one: recording something beats recording nothing.
    pub fn select_video(&self, max_height: Option<u32>) -> Option<&Track> {
        let fits = |t: &&Track| match (max_height, t.height) {
            (Some(cap), Some(h)) => h <= cap,
            _ => true,
        };
        self.video
            .iter()
            .filter(fits)
            .max_by_key(|t| t.bandwidth)
            .or_else(|| {
                self.video
                    .iter()
                    .min_by_key(|t| (t.height.unwrap_or(0), t.bandwidth))
            })
    }

    /// The highest-bandwidth audio track.
    pub fn select_audio(&self) -> Option<&Track> {
        self.audio.iter().max_by_key(|t| t.bandwidth)
    }
}

fn is_dynamic(mpd: &MPD) -> bool {
    mpd.mpdtype.as_deref() == Some("dynamic")
}

fn join(base: &Url, rel: &str) -> Result<Url, ManifestError> {
    base.join(rel.trim()).map_err(|e| {
        ManifestError::BadUrl(format!(
            "{}: {e}",
            rel.chars().take(200).collect::<String>()
        ))
    })
}

/// Decides video/audio from the attributes Instagram and generic packagers use; Meta puts
/// `mimeType` on the Representation, others on the AdaptationSet.
fn classify(set: &AdaptationSet) -> Option<TrackKind> {
    let from_strings = |content: Option<&str>, mime: Option<&str>, codecs: Option<&str>| {
        if content == Some("video") || mime.is_some_and(|m| m.starts_with("video/")) {
            return Some(TrackKind::Video);
        }
        if content == Some("audio") || mime.is_some_and(|m| m.starts_with("audio/")) {
            return Some(TrackKind::Audio);
        }
        let c = codecs?;
        if c.starts_with("mp4a")
            || c.starts_with("opus")
            || c.starts_with("ec-3")
            || c.starts_with("ac-3")
        {
            Some(TrackKind::Audio)
        } else if ["avc", "hvc", "hev", "vp0", "vp9", "av01"]
            .iter()
            .any(|p| c.starts_with(p))
        {
            Some(TrackKind::Video)
        } else {
            None
        }
    };
    from_strings(
        set.contentType.as_deref(),
        set.mimeType.as_deref(),
        set.codecs.as_deref(),
    )
    .or_else(|| {
        set.representations.iter().find_map(|r| {
            from_strings(
                r.contentType.as_deref(),
                r.mimeType.as_deref(),
                r.codecs.as_deref(),
            )
        })
    })
    .or_else(|| {
        (set.width.is_some() || set.representations.iter().any(|r| r.width.is_some()))
            .then_some(TrackKind::Video)
    })
}

/// Field-wise inheritance Period → AdaptationSet → Representation (ISO/IEC 23009-1
/// §5.3.9.1: the lower level overrides).
fn merged_template(
    period: &Period,
    set: &AdaptationSet,
    rep: &Representation,
) -> Option<SegmentTemplate> {
    let levels = [
        period.SegmentTemplate.as_ref(),
        set.SegmentTemplate.as_ref(),
        rep.SegmentTemplate.as_ref(),
    ];
    let mut out: Option<SegmentTemplate> = None;
    for t in levels.into_iter().flatten() {
        let m = out.get_or_insert_with(SegmentTemplate::default);
        if t.media.is_some() {
            m.media.clone_from(&t.media);
        }
        if t.initialization.is_some() {
            m.initialization.clone_from(&t.initialization);
        }
        if t.Initialization.is_some() {
            m.Initialization.clone_from(&t.Initialization);
        }
        if t.timescale.is_some() {
            m.timescale = t.timescale;
        }
        if t.startNumber.is_some() {
            m.startNumber = t.startNumber;
        }
        if t.presentationTimeOffset.is_some() {
            m.presentationTimeOffset = t.presentationTimeOffset;
        }
        if t.duration.is_some() {
            m.duration = t.duration;
        }
        if t.SegmentTimeline.is_some() {
            m.SegmentTimeline.clone_from(&t.SegmentTimeline);
        }
    }
    out
}

fn build_track(
    period: &Period,
    set: &AdaptationSet,
    rep: &Representation,
    kind: TrackKind,
    set_base: &Url,
    budget: &mut usize,
) -> Result<Track, ManifestError> {
    let id = rep.id.clone().unwrap_or_default();
    let bandwidth = rep.bandwidth.unwrap_or(0);
    let mut base = set_base.clone();
    if let Some(b) = rep.BaseURL.first() {
        base = join(&base, &b.base)?;
    }
    let vars = TemplateVars {
        representation_id: Some(&id),
        bandwidth: Some(bandwidth),
        time: None,
        number: None,
    };
    let dim = |v: Option<u64>| v.and_then(|x| u32::try_from(x).ok());

    let mut track = Track {
        id: id.clone(),
        kind,
        bandwidth,
        width: dim(rep.width.or(set.width)),
        height: dim(rep.height.or(set.height)),
        codecs: rep.codecs.clone().or_else(|| set.codecs.clone()),
        mime_type: rep.mimeType.clone().or_else(|| set.mimeType.clone()),
        timescale: 1,
        presentation_time_offset: 0,
        init_url: None,
        addressing: Addressing::Unsupported,
        timeline: Vec::new(),
    };

    if let Some(tpl) = merged_template(period, set, rep) {
        let timescale = tpl.timescale.unwrap_or(1);
        if timescale == 0 {
            return Err(ManifestError::Timeline(format!("{id}: zero timescale")));
        }
        track.timescale = timescale;
        track.presentation_time_offset = tpl.presentationTimeOffset.unwrap_or(0);
        let init = tpl.initialization.clone().or_else(|| {
            tpl.Initialization
                .as_ref()
                .and_then(|i| i.sourceURL.clone())
        });
        if let Some(init) = init {
            let t = UrlTemplate {
                template: init,
                base: base.clone(),
            };
            track.init_url = Some(t.resolve(&vars)?);
        }
        if let Some(media) = tpl.media {
            track.addressing = Addressing::Template {
                media: UrlTemplate {
                    template: media,
                    base: base.clone(),
                },
                start_number: tpl.startNumber.unwrap_or(1),
            };
        }
        if let Some(tl) = &tpl.SegmentTimeline {
            let expanded = timeline::expand(&tl.segments, timescale, *budget)?;
            *budget -= expanded.len();
            track.timeline = expanded;
        }
        return Ok(track);
    }

    let segment_base = rep
        .SegmentBase
        .as_ref()
        .or(set.SegmentBase.as_ref())
        .or(period.SegmentBase.as_ref());
    if let Some(sb) = segment_base {
        track.timescale = sb.timescale.filter(|&t| t > 0).unwrap_or(1);
        track.init_url = Some(base.clone());
        track.addressing = Addressing::SegmentBase {
            url: base,
            init_range: sb.Initialization.as_ref().and_then(|i| i.range.clone()),
            index_range: sb.indexRange.clone(),
        };
    } else if !rep.BaseURL.is_empty() {
        track.addressing = Addressing::Single { url: base };
    }
    Ok(track)
}
