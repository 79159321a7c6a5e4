//! A small ISO-BMFF (fragmented MP4) reader: just enough of an init segment and of a
//! `moof`+`mdat` fragment to chain Instagram's segments by time (docs/instagram.md §4, steps 2–3).
//!
//! Instagram's `$Time$` values are the media PTS in milliseconds, and the next segment's
//! `t` is only knowable from the current fragment's duration, so the rewind walk needs
//! `tfdt` and the `trun` durations without spawning ffprobe. Everything here works on a
//! byte slice, allocates nothing proportional to the input, and turns truncated or hostile
//! input into an [`Mp4Error`].

use std::fmt;

/// Why a byte slice could not be read as the init segment or fragment we expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mp4Error {
    /// A box header or field runs past the end of its container.
    #[error("truncated MP4: {0}")]
    Truncated(&'static str),
    /// A box declares a size smaller than its header or larger than its container.
    #[error("bad size {size} for box {fourcc}")]
    BadBoxSize { fourcc: FourCc, size: u64 },
    /// A box that must be there is absent (e.g. no `moov` in an init segment).
    #[error("missing box {0}")]
    Missing(&'static str),
    /// Boxes nested deeper or more numerous than any real segment has.
    #[error("MP4 structure too complex: {0}")]
    TooComplex(&'static str),
    /// A value that makes the stream unusable (zero timescale, no sample duration anywhere).
    #[error("invalid MP4 field: {0}")]
    Invalid(&'static str),
}

/// A box type or codec code, printed as text when it is ASCII.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    /// The code as a string (non-printable bytes shown as `?`).
    pub fn as_string(&self) -> String {
        self.0
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '?'
                }
            })
            .collect()
    }
}

impl fmt::Display for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

impl fmt::Debug for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FourCc({})", self.as_string())
    }
}

/// The media kind from `hdlr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    Video,
    Audio,
    Other(FourCc),
}

/// Per-track defaults from `mvex/trex`, the last fallback for sample durations and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrexDefaults {
    pub track_id: u32,
    pub default_sample_duration: u32,
    pub default_sample_size: u32,
    pub default_sample_flags: u32,
}

/// What the capture needs from a representation's init segment (first track only; an
/// Instagram init segment carries exactly one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitInfo {
    pub track_id: u32,
    pub handler: Handler,
    /// `mdhd` timescale: the unit of `tfdt` and `trun` durations.
    pub timescale: u32,
    pub trex: Option<TrexDefaults>,
    /// Sample-entry code from `stsd` (`avc1`, `mp4a`, …).
    pub codec: Option<FourCc>,
    /// From the visual sample entry, for video tracks.
    pub width: Option<u16>,
    pub height: Option<u16>,
}

/// Timing of one media fragment, in the track timescale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentInfo {
    /// `tfdt.baseMediaDecodeTime` of the first `traf` (Instagram: the PTS, equal to `t`).
    pub base_media_decode_time: u64,
    /// Sum of all sample durations in all `trun`s of the fragment.
    pub duration: u64,
    pub sample_count: u64,
    /// Whether the first sample is a sync sample (a keyframe for video).
    pub starts_with_sync: bool,
}

impl FragmentInfo {
    /// Duration in milliseconds (see [`ticks_to_ms`] for rounding).
    pub fn duration_ms(&self, timescale: u32) -> Result<u64, Mp4Error> {
        ticks_to_ms(self.duration, timescale)
    }

    /// Start time in milliseconds; should equal the manifest `t` (±1) on Instagram.
    pub fn start_ms(&self, timescale: u32) -> Result<u64, Mp4Error> {
        ticks_to_ms(self.base_media_decode_time, timescale)
    }
}

/// Converts track ticks to milliseconds: `ticks × 1000 / timescale`, rounded **down**
/// (the formula of docs/instagram.md §4; Instagram's track timescale is 1000 so it is exact there,
/// and the rewind's ±1 ms retry absorbs the rounding for other timescales).
pub fn ticks_to_ms(ticks: u64, timescale: u32) -> Result<u64, Mp4Error> {
    rescale(ticks, timescale.into(), 1000)
}

/// Converts `ticks` from one timescale to another, rounding down, without overflow.
pub fn rescale(ticks: u64, from: u64, to: u64) -> Result<u64, Mp4Error> {
    if from == 0 {
        return Err(Mp4Error::Invalid("zero timescale"));
    }
    let v = u128::from(ticks) * u128::from(to) / u128::from(from);
    u64::try_from(v).map_err(|_| Mp4Error::Invalid("time overflows 64 bits"))
}

/// No real segment nests boxes this deep; the limit keeps recursion bounded.
const MAX_DEPTH: usize = 12;
/// More boxes than this in one container means hostile input.
const MAX_BOXES_PER_CONTAINER: usize = 10_000;

/// `sample_is_non_sync_sample` in ISO/IEC 14496-12 sample flags.
const NON_SYNC_FLAG: u32 = 0x0001_0000;

/// A cursor over big-endian fields that fails instead of panicking.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Mp4Error> {
        let end = self.pos.checked_add(n).ok_or(Mp4Error::Truncated(what))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(Mp4Error::Truncated(what))?;
        self.pos = end;
        Ok(s)
    }

    fn skip(&mut self, n: usize, what: &'static str) -> Result<(), Mp4Error> {
        self.take(n, what).map(|_| ())
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, Mp4Error> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, Mp4Error> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, Mp4Error> {
        let hi = self.u32(what)?;
        let lo = self.u32(what)?;
        Ok((u64::from(hi) << 32) | u64::from(lo))
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Reads the full-box version and 24-bit flags.
    fn version_flags(&mut self, what: &'static str) -> Result<(u8, u32), Mp4Error> {
        let v = self.u32(what)?;
        Ok(((v >> 24) as u8, v & 0x00ff_ffff))
    }
}

/// One box: its type and payload (header excluded).
struct Mp4Box<'a> {
    fourcc: FourCc,
    payload: &'a [u8],
    /// Start and end of the whole box (header included) within its container.
    start: usize,
    end: usize,
}

/// Splits a container payload into its child boxes, validating every size.
fn children(buf: &[u8]) -> Result<Vec<Mp4Box<'_>>, Mp4Error> {
    let mut out = Vec::new();
    let mut c = Cursor::new(buf);
    while c.remaining() > 0 {
        if out.len() >= MAX_BOXES_PER_CONTAINER {
            return Err(Mp4Error::TooComplex("too many boxes"));
        }
        let start = c.pos;
        let size32 = c.u32("box header")?;
        let fourcc = FourCc(
            c.take(4, "box header")?
                .try_into()
                .map_err(|_| Mp4Error::Truncated("box header"))?,
        );
        let size: u64 = match size32 {
            0 => (buf.len() - start) as u64,
            1 => c.u64("box largesize")?,
            n => u64::from(n),
        };
        let header = (c.pos - start) as u64;
        let available = (buf.len() - start) as u64;
        if size < header || size > available {
            return Err(Mp4Error::BadBoxSize { fourcc, size });
        }
        // size <= available <= buf.len(), so these conversions are lossless.
        let end = start + size as usize;
        out.push(Mp4Box {
            fourcc,
            payload: &buf[c.pos..end],
            start,
            end,
        });
        c.pos = end;
    }
    Ok(out)
}

fn find<'a, 'b>(boxes: &'b [Mp4Box<'a>], name: &[u8; 4]) -> Option<&'b Mp4Box<'a>> {
    boxes.iter().find(|b| &b.fourcc.0 == name)
}

/// Descends a fixed path of containers (`["moov", "trak", …]`), first match at each level.
fn descend<'a>(buf: &'a [u8], path: &[&[u8; 4]]) -> Result<Option<&'a [u8]>, Mp4Error> {
    if path.len() > MAX_DEPTH {
        return Err(Mp4Error::TooComplex("path too deep"));
    }
    let mut cur = buf;
    for name in path {
        let kids = children(cur)?;
        match find(&kids, name) {
            Some(b) => cur = b.payload,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}

/// Reads the first track of an init segment (`ftyp` + `moov`).
pub fn parse_init(bytes: &[u8]) -> Result<InitInfo, Mp4Error> {
    let top = children(bytes)?;
    let moov = find(&top, b"moov").ok_or(Mp4Error::Missing("moov"))?;
    let moov_kids = children(moov.payload)?;
    let trak = find(&moov_kids, b"trak").ok_or(Mp4Error::Missing("trak"))?;
    let trak_kids = children(trak.payload)?;

    let tkhd = find(&trak_kids, b"tkhd").ok_or(Mp4Error::Missing("tkhd"))?;
    let track_id = parse_tkhd_track_id(tkhd.payload)?;

    let mdia = find(&trak_kids, b"mdia").ok_or(Mp4Error::Missing("mdia"))?;
    let mdia_kids = children(mdia.payload)?;
    let mdhd = find(&mdia_kids, b"mdhd").ok_or(Mp4Error::Missing("mdhd"))?;
    let timescale = parse_mdhd_timescale(mdhd.payload)?;
    let hdlr = find(&mdia_kids, b"hdlr").ok_or(Mp4Error::Missing("hdlr"))?;
    let handler = parse_hdlr(hdlr.payload)?;

    let (codec, width, height) = match find(&mdia_kids, b"minf") {
        Some(minf) => match descend(minf.payload, &[b"stbl", b"stsd"])? {
            Some(stsd) => parse_stsd(stsd, handler)?,
            None => (None, None, None),
        },
        None => (None, None, None),
    };

    let mut trex = None;
    if let Some(mvex) = find(&moov_kids, b"mvex") {
        for b in children(mvex.payload)? {
            if &b.fourcc.0 == b"trex" {
                let t = parse_trex(b.payload)?;
                if t.track_id == track_id {
                    trex = Some(t);
                }
            }
        }
    }

    Ok(InitInfo {
        track_id,
        handler,
        timescale,
        trex,
        codec,
        width,
        height,
    })
}

fn parse_tkhd_track_id(p: &[u8]) -> Result<u32, Mp4Error> {
    let mut c = Cursor::new(p);
    let (version, _) = c.version_flags("tkhd")?;
    // creation and modification times: 32 or 64 bits each.
    c.skip(if version == 1 { 16 } else { 8 }, "tkhd")?;
    c.u32("tkhd track_id")
}

fn parse_mdhd_timescale(p: &[u8]) -> Result<u32, Mp4Error> {
    let mut c = Cursor::new(p);
    let (version, _) = c.version_flags("mdhd")?;
    c.skip(if version == 1 { 16 } else { 8 }, "mdhd")?;
    let ts = c.u32("mdhd timescale")?;
    if ts == 0 {
        return Err(Mp4Error::Invalid("zero mdhd timescale"));
    }
    Ok(ts)
}

fn parse_hdlr(p: &[u8]) -> Result<Handler, Mp4Error> {
    let mut c = Cursor::new(p);
    c.version_flags("hdlr")?;
    c.skip(4, "hdlr pre_defined")?;
    let t: [u8; 4] = c
        .take(4, "hdlr handler_type")?
        .try_into()
        .map_err(|_| Mp4Error::Truncated("hdlr"))?;
    Ok(match &t {
        b"vide" => Handler::Video,
        b"soun" => Handler::Audio,
        _ => Handler::Other(FourCc(t)),
    })
}

type SampleEntry = (Option<FourCc>, Option<u16>, Option<u16>);

fn parse_stsd(p: &[u8], handler: Handler) -> Result<SampleEntry, Mp4Error> {
    let mut c = Cursor::new(p);
    c.version_flags("stsd")?;
    let count = c.u32("stsd entry_count")?;
    if count == 0 {
        return Ok((None, None, None));
    }
    let entries = children(&p[c.pos..])?;
    let Some(first) = entries.first() else {
        return Ok((None, None, None));
    };
    if handler != Handler::Video {
        return Ok((Some(first.fourcc), None, None));
    }
    // VisualSampleEntry: 6 reserved + 2 data_reference_index + 16 pre_defined/reserved,
    // then width and height.
    let mut e = Cursor::new(first.payload);
    e.skip(24, "visual sample entry")?;
    let w = e.u16("visual sample entry width")?;
    let h = e.u16("visual sample entry height")?;
    Ok((Some(first.fourcc), Some(w), Some(h)))
}

fn parse_trex(p: &[u8]) -> Result<TrexDefaults, Mp4Error> {
    let mut c = Cursor::new(p);
    c.version_flags("trex")?;
    let track_id = c.u32("trex")?;
    c.skip(4, "trex default_sample_description_index")?;
    Ok(TrexDefaults {
        track_id,
        default_sample_duration: c.u32("trex")?,
        default_sample_size: c.u32("trex")?,
        default_sample_flags: c.u32("trex")?,
    })
}

/// Reads the timing of a media segment (`styp`? + one or more `moof`+`mdat`).
///
/// `trex` is the init segment's defaults, used when neither `trun` nor `tfhd` gives a
/// sample duration or flags; its track id also selects the `traf` to time (without it,
/// the first `traf`'s track).
pub fn parse_fragment(bytes: &[u8], trex: Option<&TrexDefaults>) -> Result<FragmentInfo, Mp4Error> {
    let top = children(bytes)?;
    let mut base: Option<u64> = None;
    let mut duration: u64 = 0;
    let mut sample_count: u64 = 0;
    let mut first_sync: Option<bool> = None;
    let mut saw_moof = false;
    let mut track: Option<u32> = trex.map(|t| t.track_id);
    let mut matched = false;

    for moof in top.iter().filter(|b| &b.fourcc.0 == b"moof") {
        saw_moof = true;
        for traf in children(moof.payload)?
            .iter()
            .filter(|b| &b.fourcc.0 == b"traf")
        {
            let kids = children(traf.payload)?;
            let tfhd = find(&kids, b"tfhd").ok_or(Mp4Error::Missing("tfhd"))?;
            let tfhd = parse_tfhd(tfhd.payload)?;
            // A muxed fragment has one traf per track; time only the wanted one.
            let wanted = *track.get_or_insert(tfhd.track_id);
            if tfhd.track_id != wanted {
                continue;
            }
            matched = true;
            if base.is_none() {
                if let Some(tfdt) = find(&kids, b"tfdt") {
                    base = Some(parse_tfdt(tfdt.payload)?);
                }
            }
            let default_duration = tfhd
                .default_sample_duration
                .or(trex.map(|t| t.default_sample_duration));
            let default_flags = tfhd
                .default_sample_flags
                .or(trex.map(|t| t.default_sample_flags))
                .unwrap_or(0);
            for trun in kids.iter().filter(|b| &b.fourcc.0 == b"trun") {
                let r = parse_trun(trun.payload, default_duration, default_flags)?;
                duration = duration
                    .checked_add(r.duration)
                    .ok_or(Mp4Error::Invalid("duration overflows"))?;
                sample_count += r.sample_count;
                if first_sync.is_none() && r.sample_count > 0 {
                    first_sync = Some(r.first_is_sync);
                }
            }
        }
    }
    if !saw_moof {
        return Err(Mp4Error::Missing("moof"));
    }
    if !matched {
        return Err(Mp4Error::Missing("traf for the track"));
    }
    Ok(FragmentInfo {
        base_media_decode_time: base.ok_or(Mp4Error::Missing("tfdt"))?,
        duration,
        sample_count,
        starts_with_sync: first_sync.unwrap_or(false),
    })
}

struct Tfhd {
    track_id: u32,
    default_sample_duration: Option<u32>,
    default_sample_flags: Option<u32>,
}

fn parse_tfhd(p: &[u8]) -> Result<Tfhd, Mp4Error> {
    let mut c = Cursor::new(p);
    let (_, flags) = c.version_flags("tfhd")?;
    let track_id = c.u32("tfhd track_id")?;
    if flags & 0x01 != 0 {
        c.u64("tfhd base_data_offset")?;
    }
    if flags & 0x02 != 0 {
        c.u32("tfhd sample_description_index")?;
    }
    let default_sample_duration = if flags & 0x08 != 0 {
        Some(c.u32("tfhd default_sample_duration")?)
    } else {
        None
    };
    if flags & 0x10 != 0 {
        c.u32("tfhd default_sample_size")?;
    }
    let default_sample_flags = if flags & 0x20 != 0 {
        Some(c.u32("tfhd default_sample_flags")?)
    } else {
        None
    };
    Ok(Tfhd {
        track_id,
        default_sample_duration,
        default_sample_flags,
    })
}

fn parse_tfdt(p: &[u8]) -> Result<u64, Mp4Error> {
    let mut c = Cursor::new(p);
    let (version, _) = c.version_flags("tfdt")?;
    if version == 1 {
        c.u64("tfdt")
    } else {
        c.u32("tfdt").map(u64::from)
    }
}

struct TrunTiming {
    duration: u64,
    sample_count: u64,
    first_is_sync: bool,
}

fn parse_trun(
    p: &[u8],
    default_duration: Option<u32>,
    default_flags: u32,
) -> Result<TrunTiming, Mp4Error> {
    let mut c = Cursor::new(p);
    let (_, flags) = c.version_flags("trun")?;
    let count = c.u32("trun sample_count")?;
    if flags & 0x001 != 0 {
        c.u32("trun data_offset")?;
    }
    let first_sample_flags = if flags & 0x004 != 0 {
        Some(c.u32("trun first_sample_flags")?)
    } else {
        None
    };
    let has_dur = flags & 0x100 != 0;
    let has_size = flags & 0x200 != 0;
    let has_flags = flags & 0x400 != 0;
    let has_cto = flags & 0x800 != 0;
    let per_sample = 4
        * (usize::from(has_dur)
            + usize::from(has_size)
            + usize::from(has_flags)
            + usize::from(has_cto));
    // A hostile sample_count cannot make us loop past the bytes that are really there.
    if per_sample > 0 && (count as usize).saturating_mul(per_sample) > c.remaining() {
        return Err(Mp4Error::Truncated("trun samples"));
    }
    if !has_dur && count > 0 && default_duration.is_none() {
        return Err(Mp4Error::Invalid(
            "no sample duration in trun, tfhd or trex",
        ));
    }
    let mut duration: u64 = 0;
    let mut first_is_sync = true;
    if per_sample == 0 {
        duration = u64::from(count) * u64::from(default_duration.unwrap_or(0));
        let f = first_sample_flags.unwrap_or(default_flags);
        first_is_sync = f & NON_SYNC_FLAG == 0;
    } else {
        for i in 0..count {
            let d = if has_dur {
                c.u32("trun sample_duration")?
            } else {
                default_duration.unwrap_or(0)
            };
            if has_size {
                c.u32("trun sample_size")?;
            }
            let f = if has_flags {
                c.u32("trun sample_flags")?
            } else {
                default_flags
            };
            if has_cto {
                c.u32("trun composition offset")?;
            }
            if i == 0 {
                let f = first_sample_flags.unwrap_or(f);
                first_is_sync = f & NON_SYNC_FLAG == 0;
            }
            duration += u64::from(d);
        }
    }
    Ok(TrunTiming {
        duration,
        sample_count: u64::from(count),
        first_is_sync,
    })
}

/// A fragmented MP4 file cut at its fragment boundaries: the init segment (everything
/// before the first `moof`) and each `moof`…`mdat` run as one media segment. This is how
/// an ffmpeg `+frag_keyframe` file becomes DASH segments (tests, the simulator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitFile<'a> {
    pub init: &'a [u8],
    pub fragments: Vec<&'a [u8]>,
}

/// Splits a fragmented MP4 file; boxes after a `moof` up to the next `moof` (its `mdat`,
/// any `sidx`-like trailers except `mfra`) belong to that fragment.
pub fn split_fragmented(bytes: &[u8]) -> Result<SplitFile<'_>, Mp4Error> {
    let offsets: Vec<(FourCc, usize, usize)> = children(bytes)?
        .iter()
        .map(|b| (b.fourcc, b.start, b.end))
        .collect();
    let first_moof = offsets
        .iter()
        .position(|(f, _, _)| &f.0 == b"moof")
        .ok_or(Mp4Error::Missing("moof"))?;
    let init = &bytes[..offsets[first_moof].1];
    let mut fragments = Vec::new();
    let mut start = offsets[first_moof].1;
    let mut end = start;
    for (fourcc, s, e) in &offsets[first_moof..] {
        if &fourcc.0 == b"moof" && *s != start {
            fragments.push(&bytes[start..end]);
            start = *s;
        }
        if &fourcc.0 != b"mfra" {
            end = *e;
        }
    }
    fragments.push(&bytes[start..end]);
    Ok(SplitFile { init, fragments })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(fourcc: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(fourcc);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn rejects_oversized_box() {
        let mut b = bx(b"moov", &[0; 4]);
        b[3] = 200;
        assert!(matches!(parse_init(&b), Err(Mp4Error::BadBoxSize { .. })));
    }

    #[test]
    fn trun_with_huge_count_is_truncated_not_a_loop() {
        // version/flags with per-sample durations, sample_count = u32::MAX, no samples.
        let mut trun = vec![0, 0, 0x01, 0x00];
        trun.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            parse_trun(&trun, None, 0),
            Err(Mp4Error::Truncated(_))
        ));
    }

    #[test]
    fn rescale_rounds_down_and_checks_zero() {
        assert_eq!(ticks_to_ms(2002, 1000), Ok(2002));
        assert_eq!(ticks_to_ms(180_180, 90_000), Ok(2002));
        assert_eq!(ticks_to_ms(89_999, 90_000), Ok(999));
        assert!(ticks_to_ms(1, 0).is_err());
        assert!(rescale(u64::MAX, 1, 1000).is_err());
    }
}
