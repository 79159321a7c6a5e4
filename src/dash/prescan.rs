//! A streaming pass over the raw MPD before it reaches the serde parser: it enforces the
//! structural limits of hostile input and reads the Meta root attributes that
//! `dash-mpd-core` drops (docs/instagram.md §3 "Meta-specific root attributes", §7).

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::manifest_error::ManifestError;

/// The limits applied before parsing; [`Limits::default`] fits Instagram with a wide margin
/// (a live MPD is a few KB with ~6 representations and ~10 `S` entries).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_elements: usize,
    pub max_representations: usize,
    /// Periods and AdaptationSets: few in any real manifest, but each becomes a large
    /// struct in `dash-mpd-core`, so their count bounds the parser's memory.
    pub max_periods: usize,
    pub max_adaptation_sets: usize,
    /// Entries after expanding `S@r`, per track.
    pub max_timeline_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 2 * 1024 * 1024,
            max_depth: 32,
            max_elements: 50_000,
            max_representations: 256,
            max_periods: 64,
            max_adaptation_sets: 128,
            max_timeline_entries: 100_000,
        }
    }
}

/// The root `<MPD>` attributes Meta adds without a namespace. All optional: generic MPDs
/// have none, and Instagram's set has changed over the years.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetaAttributes {
    /// The first `t` of the broadcast: where the rewind starts (docs/instagram.md §4 step 1).
    pub publish_frame_time: Option<u64>,
    /// The stream id, also the segment-name prefix.
    pub loap_stream_id: Option<String>,
    pub current_server_time_ms: Option<u64>,
    pub first_av_time_ms: Option<u64>,
    pub last_video_frame_ts: Option<u64>,
}

/// What the pre-scan learned.
#[derive(Debug, Clone, Default)]
pub(crate) struct Prescan {
    pub meta: MetaAttributes,
    pub period_count: usize,
}

/// Walks the document once with bounded work and returns the root attributes.
pub(crate) fn prescan(xml: &str, limits: &Limits) -> Result<Prescan, ManifestError> {
    let mut reader = Reader::from_str(xml);
    let mut depth = 0usize;
    let mut elements = 0usize;
    let mut representations = 0usize;
    let mut adaptation_sets = 0usize;
    let mut out = Prescan::default();
    let mut saw_root = false;
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| ManifestError::Xml(e.to_string()))?;
        match ev {
            Event::DocType(_) => return Err(ManifestError::DoctypeRefused),
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(ev, Event::Empty(_));
                elements += 1;
                if elements > limits.max_elements {
                    return Err(ManifestError::TooLarge("too many XML elements"));
                }
                if depth >= limits.max_depth {
                    return Err(ManifestError::TooLarge("XML nesting too deep"));
                }
                let name = e.local_name();
                if depth == 0 {
                    if saw_root || name.as_ref() != b"MPD" {
                        return Err(ManifestError::NotAnMpd);
                    }
                    saw_root = true;
                    out.meta = read_meta(e)?;
                } else if depth == 1 && name.as_ref() == b"Period" {
                    out.period_count += 1;
                    if out.period_count > limits.max_periods {
                        return Err(ManifestError::TooLarge("too many Periods"));
                    }
                }
                match name.as_ref() {
                    b"Representation" => {
                        representations += 1;
                        if representations > limits.max_representations {
                            return Err(ManifestError::TooLarge("too many Representations"));
                        }
                    }
                    b"AdaptationSet" => {
                        adaptation_sets += 1;
                        if adaptation_sets > limits.max_adaptation_sets {
                            return Err(ManifestError::TooLarge("too many AdaptationSets"));
                        }
                    }
                    _ => {}
                }
                if !is_empty {
                    depth += 1;
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(ManifestError::NotAnMpd);
    }
    Ok(out)
}

fn read_meta(e: &BytesStart<'_>) -> Result<MetaAttributes, ManifestError> {
    let mut m = MetaAttributes::default();
    for a in e.attributes() {
        let a = a.map_err(|err| ManifestError::Xml(err.to_string()))?;
        let key = a.key.local_name();
        let value = a
            .unescape_value()
            .map_err(|err| ManifestError::Xml(err.to_string()))?;
        let number = |name: &'static str| {
            value
                .trim()
                .parse::<u64>()
                .map_err(|_| ManifestError::BadAttribute {
                    name,
                    value: value.chars().take(64).collect(),
                })
        };
        match key.as_ref() {
            b"publishFrameTime" => m.publish_frame_time = Some(number("publishFrameTime")?),
            b"loapStreamId" => m.loap_stream_id = Some(value.chars().take(256).collect()),
            b"currentServerTimeMs" => {
                m.current_server_time_ms = Some(number("currentServerTimeMs")?)
            }
            b"firstAvTimeMs" => m.first_av_time_ms = Some(number("firstAvTimeMs")?),
            b"lastVideoFrameTs" => m.last_video_frame_ts = Some(number("lastVideoFrameTs")?),
            _ => {}
        }
    }
    Ok(m)
}
