//! Just enough ISO-BMFF to re-cut ffmpeg's fragmented MP4 into Instagram-style segments.
//!
//! ffmpeg fragments at its own boundaries (video: each key frame, audio: one big fragment).
//! The simulator instead reads every sample (decode time, duration, flags, bytes), regroups the
//! samples at the segment boundaries it wants, and writes one `moof`+`mdat` per segment with
//! the broadcast's own `tfdt` and sequence number. That way a short base clip can be looped
//! into an arbitrarily long broadcast (docs/instagram.md §3 and §4: `tfdt` must equal `t`).

use bytes::{BufMut, Bytes, BytesMut};

/// One sample of a track, with its bytes.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Decode time in the track timescale.
    pub dts: u64,
    pub duration: u32,
    /// ISO sample flags (bit 16 = non-sync).
    pub flags: u32,
    pub cto: i32,
    pub data: Bytes,
}

impl Sample {
    pub fn is_sync(&self) -> bool {
        self.flags & 0x0001_0000 == 0
    }
}

/// A parsed fragmented MP4 track: its init segment and all its samples in decode order.
#[derive(Debug, Clone)]
pub struct Track {
    /// `ftyp` + `moov`, served verbatim as the init segment.
    pub init: Bytes,
    pub track_id: u32,
    pub timescale: u32,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Defaults {
    duration: u32,
    size: u32,
    flags: u32,
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| format!("truncated box data at byte {at}"))
}

fn byte_at(b: &[u8], at: usize) -> Result<u8, String> {
    b.get(at)
        .copied()
        .ok_or_else(|| format!("truncated box data at byte {at}"))
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, String> {
    Ok((u64::from(u32_at(b, at)?) << 32) | u64::from(u32_at(b, at + 4)?))
}

/// Iterates the child boxes of `b[start..end]` as (type, payload start, box end).
fn children(b: &[u8], start: usize, end: usize) -> Result<Vec<([u8; 4], usize, usize)>, String> {
    let mut out = Vec::new();
    let mut at = start;
    while at + 8 <= end {
        let size = u32_at(b, at)? as usize;
        let mut kind = [0u8; 4];
        kind.copy_from_slice(b.get(at + 4..at + 8).ok_or("truncated box header")?);
        let (header, size) = match size {
            1 => (16, u64_at(b, at + 8)? as usize),
            0 => (8, end - at),
            s => (8, s),
        };
        if size < header || size > end - at {
            return Err(format!(
                "box {} at byte {at} overruns its parent",
                String::from_utf8_lossy(&kind)
            ));
        }
        out.push((kind, at + header, at + size));
        at += size;
    }
    Ok(out)
}

fn find(list: &[([u8; 4], usize, usize)], kind: &[u8; 4]) -> Option<([u8; 4], usize, usize)> {
    list.iter().find(|(k, _, _)| k == kind).copied()
}

/// Parses a single-track fragmented MP4 as written by ffmpeg with `empty_moov`.
pub fn parse_track(file: &Bytes) -> Result<Track, String> {
    let b = &file[..];
    let top = children(b, 0, b.len())?;
    let moov = find(&top, b"moov").ok_or("no moov box")?;
    let init_end = moov.2;
    let moov_kids = children(b, moov.1, moov.2)?;
    let (track_id, timescale) = track_header(b, &moov_kids)?;
    let trex = trex_defaults(b, &moov_kids)?;
    let mut reader = SampleReader {
        file,
        samples: Vec::new(),
        next_dts: 0,
    };
    for (kind, start, end) in &top {
        if kind == b"moof" {
            reader.moof(*start, *end, trex)?;
        }
    }
    if reader.samples.is_empty() {
        return Err("no samples".into());
    }
    Ok(Track {
        init: file.slice(0..init_end),
        track_id,
        timescale,
        samples: reader.samples,
    })
}

/// The track id (`trak/tkhd`) and timescale (`trak/mdia/mdhd`).
fn track_header(b: &[u8], moov_kids: &[([u8; 4], usize, usize)]) -> Result<(u32, u32), String> {
    let trak = find(moov_kids, b"trak").ok_or("no trak box")?;
    let trak_kids = children(b, trak.1, trak.2)?;
    let tkhd = find(&trak_kids, b"tkhd").ok_or("no tkhd box")?;
    let tkhd_version = byte_at(b, tkhd.1)?;
    let track_id = u32_at(b, tkhd.1 + if tkhd_version == 1 { 20 } else { 12 })?;
    let mdia = find(&trak_kids, b"mdia").ok_or("no mdia box")?;
    let mdhd = find(&children(b, mdia.1, mdia.2)?, b"mdhd").ok_or("no mdhd box")?;
    let timescale = u32_at(b, mdhd.1 + if byte_at(b, mdhd.1)? == 1 { 20 } else { 12 })?;
    Ok((track_id, timescale))
}

/// The movie-wide sample defaults (`mvex/trex`), zero when absent.
fn trex_defaults(b: &[u8], moov_kids: &[([u8; 4], usize, usize)]) -> Result<Defaults, String> {
    let mut trex = Defaults::default();
    if let Some(mvex) = find(moov_kids, b"mvex") {
        if let Some(t) = find(&children(b, mvex.1, mvex.2)?, b"trex") {
            trex = Defaults {
                duration: u32_at(b, t.1 + 12)?,
                size: u32_at(b, t.1 + 16)?,
                flags: u32_at(b, t.1 + 20)?,
            };
        }
    }
    Ok(trex)
}

/// Collects samples fragment by fragment; decode times run on across fragments without a `tfdt`.
struct SampleReader<'a> {
    file: &'a Bytes,
    samples: Vec<Sample>,
    next_dts: u64,
}

impl SampleReader<'_> {
    /// One `moof` box, payload `start..end`.
    fn moof(&mut self, start: usize, end: usize, trex: Defaults) -> Result<(), String> {
        let moof_start = start - 8;
        for (k, ts, te) in children(self.file, start, end)? {
            if &k == b"traf" {
                self.traf(moof_start, ts, te, trex)?;
            }
        }
        Ok(())
    }

    /// One `traf`: its header's defaults, its decode time, then its runs.
    fn traf(
        &mut self,
        moof_start: usize,
        start: usize,
        end: usize,
        trex: Defaults,
    ) -> Result<(), String> {
        let b = &self.file[..];
        let traf = children(b, start, end)?;
        let tfhd = find(&traf, b"tfhd").ok_or("no tfhd box")?;
        let (base, d) = tfhd_fields(b, tfhd.1, moof_start, trex)?;
        if let Some(tfdt) = find(&traf, b"tfdt") {
            self.next_dts = if byte_at(b, tfdt.1)? == 1 {
                u64_at(b, tfdt.1 + 4)?
            } else {
                u64::from(u32_at(b, tfdt.1 + 4)?)
            };
        }
        let mut data_at = base as usize;
        for (_, rs, _) in traf.iter().filter(|(k, _, _)| k == b"trun") {
            data_at = self.trun(*rs, base, d, data_at)?;
        }
        Ok(())
    }

    /// One `trun` with payload at `rs`, its data from `data_at` unless it gives an offset from
    /// `base`; returns where the next run's data starts.
    fn trun(
        &mut self,
        rs: usize,
        base: u64,
        d: Defaults,
        mut data_at: usize,
    ) -> Result<usize, String> {
        let file = self.file;
        let b = &file[..];
        // Version 1 makes the composition offset signed; the bits are the same.
        let tf = u32_at(b, rs)? & 0x00ff_ffff;
        let count = u32_at(b, rs + 4)? as usize;
        let mut at = rs + 8;
        if tf & 0x1 != 0 {
            let offset = i64::from(u32_at(b, at)? as i32);
            data_at = usize::try_from(base as i64 + offset)
                .map_err(|_| "trun data offset before the file start")?;
            at += 4;
        }
        let mut first_flags = None;
        if tf & 0x4 != 0 {
            first_flags = Some(u32_at(b, at)?);
            at += 4;
        }
        for i in 0..count {
            let mut s = d;
            let mut cto = 0i32;
            if tf & 0x100 != 0 {
                s.duration = u32_at(b, at)?;
                at += 4;
            }
            if tf & 0x200 != 0 {
                s.size = u32_at(b, at)?;
                at += 4;
            }
            if tf & 0x400 != 0 {
                s.flags = u32_at(b, at)?;
                at += 4;
            } else if let (0, Some(f)) = (i, first_flags) {
                s.flags = f;
            }
            if tf & 0x800 != 0 {
                cto = u32_at(b, at)? as i32;
                at += 4;
            }
            let end = data_at.saturating_add(s.size as usize);
            if end > b.len() {
                return Err("sample data beyond the end of the file".into());
            }
            self.samples.push(Sample {
                dts: self.next_dts,
                duration: s.duration,
                flags: s.flags,
                cto,
                data: file.slice(data_at..end),
            });
            data_at = end;
            self.next_dts = self.next_dts.saturating_add(u64::from(s.duration));
        }
        Ok(data_at)
    }
}

/// A `tfhd` at payload `at`: the fragment's data base (default: the `moof` start) and its
/// sample defaults over the movie's.
fn tfhd_fields(
    b: &[u8],
    at: usize,
    moof_start: usize,
    trex: Defaults,
) -> Result<(u64, Defaults), String> {
    let flags = u32_at(b, at)? & 0x00ff_ffff;
    let mut at = at + 8;
    let mut base = moof_start as u64;
    if flags & 0x1 != 0 {
        base = u64_at(b, at)?;
        at += 8;
    }
    if flags & 0x2 != 0 {
        at += 4;
    }
    let mut d = trex;
    if flags & 0x8 != 0 {
        d.duration = u32_at(b, at)?;
        at += 4;
    }
    if flags & 0x10 != 0 {
        d.size = u32_at(b, at)?;
        at += 4;
    }
    if flags & 0x20 != 0 {
        d.flags = u32_at(b, at)?;
    }
    Ok((base, d))
}

fn put_box(out: &mut BytesMut, kind: &[u8; 4], body: &[u8]) {
    out.put_u32((body.len() + 8) as u32);
    out.put_slice(kind);
    out.put_slice(body);
}

/// Writes one media segment (`moof`+`mdat`) holding `samples`, decoding from `base_dts`.
pub fn write_segment(track_id: u32, sequence: u32, base_dts: u64, samples: &[Sample]) -> Bytes {
    let with_cto = samples.iter().any(|s| s.cto != 0);
    let mut mfhd = BytesMut::new();
    mfhd.put_u32(0);
    mfhd.put_u32(sequence);
    let mut tfhd = BytesMut::new();
    tfhd.put_u32(0x0002_0000); // default-base-is-moof
    tfhd.put_u32(track_id);
    let mut tfdt = BytesMut::new();
    tfdt.put_u32(0x0100_0000);
    tfdt.put_u64(base_dts);
    let trun_flags = 0x1 | 0x100 | 0x200 | 0x400 | if with_cto { 0x800 } else { 0 };
    let per_sample = if with_cto { 16 } else { 12 };
    let trun_len = 8 + 12 + per_sample * samples.len();
    let traf_len = 8 + (8 + 8) + (8 + 12) + trun_len;
    let moof_len = 8 + (8 + 8) + traf_len;
    let mut trun = BytesMut::with_capacity(trun_len);
    trun.put_u32(0x0100_0000 | trun_flags);
    trun.put_u32(samples.len() as u32);
    trun.put_i32((moof_len + 8) as i32);
    for s in samples {
        trun.put_u32(s.duration);
        trun.put_u32(s.data.len() as u32);
        trun.put_u32(s.flags);
        if with_cto {
            trun.put_i32(s.cto);
        }
    }
    let mut traf = BytesMut::with_capacity(traf_len);
    put_box(&mut traf, b"tfhd", &tfhd);
    put_box(&mut traf, b"tfdt", &tfdt);
    put_box(&mut traf, b"trun", &trun);
    let mut moof = BytesMut::with_capacity(moof_len);
    put_box(&mut moof, b"mfhd", &mfhd);
    put_box(&mut moof, b"traf", &traf);
    let data_len: usize = samples.iter().map(|s| s.data.len()).sum();
    let mut out = BytesMut::with_capacity(moof_len + 8 + data_len);
    put_box(&mut out, b"moof", &moof);
    out.put_u32((data_len + 8) as u32);
    out.put_slice(b"mdat");
    for s in samples {
        out.put_slice(&s.data);
    }
    out.freeze()
}

/// The RFC 6381 codec string of an H.264 init segment (`avc1.PPCCLL` from `avcC`).
pub fn avc_codec(init: &[u8]) -> Option<String> {
    let at = init.windows(4).position(|w| w == b"avcC")?;
    let p = init.get(at + 5..at + 8)?;
    Some(format!("avc1.{:02x}{:02x}{:02x}", p[0], p[1], p[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_segment_parses_back() {
        let mut init = BytesMut::new();
        put_box(&mut init, b"ftyp", b"iso5\0\0\0\0");
        // Minimal moov: trak{tkhd v0, mdia{mdhd v0}}.
        let mut tkhd = vec![0u8; 84];
        tkhd[12..16].copy_from_slice(&7u32.to_be_bytes());
        let mut mdhd = vec![0u8; 24];
        mdhd[12..16].copy_from_slice(&1000u32.to_be_bytes());
        let mut mdia = BytesMut::new();
        put_box(&mut mdia, b"mdhd", &mdhd);
        let mut trak = BytesMut::new();
        put_box(&mut trak, b"tkhd", &tkhd);
        put_box(&mut trak, b"mdia", &mdia);
        let mut moov = BytesMut::new();
        put_box(&mut moov, b"trak", &trak);
        put_box(&mut init, b"moov", &moov);
        let samples: Vec<Sample> = (0..3)
            .map(|i| Sample {
                dts: 0,
                duration: 33 + i,
                flags: if i == 0 { 0x0200_0000 } else { 0x0101_0000 },
                cto: 0,
                data: Bytes::from(vec![i as u8; 10 + i as usize]),
            })
            .collect();
        let seg = write_segment(7, 5, 123_456, &samples);
        let mut file = BytesMut::from(&init[..]);
        file.put_slice(&seg);
        let track = parse_track(&file.freeze()).expect("parses");
        assert_eq!(track.track_id, 7);
        assert_eq!(track.timescale, 1000);
        let dts: Vec<u64> = track.samples.iter().map(|s| s.dts).collect();
        assert_eq!(dts, vec![123_456, 123_489, 123_523]);
        assert!(track.samples[0].is_sync() && !track.samples[1].is_sync());
        assert_eq!(&track.samples[2].data[..], &[2u8; 12][..]);
    }
}
