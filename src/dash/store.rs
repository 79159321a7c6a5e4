//! On-disk segment storage for one capture, crash-safe and self-describing.
//!
//! Layout: `<dir>/<track>/part-<n>/init.mp4` and `<dir>/<track>/part-<n>/<t>.m4s`. Every
//! file is written to a temporary name, fsynced, renamed into place and the directory
//! fsynced, so after a crash a file either exists complete or not at all, and a restarted
//! daemon learns exactly which `t` values it holds by listing directories. A changed init
//! segment (new codec parameters mid-broadcast) starts a new part, because segments of
//! different inits cannot be concatenated into one track file.
//!
//! The API is synchronous `std::fs`; async callers run it on `spawn_blocking`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SegmentStoreError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid track name {0:?} (allowed: 1-64 of [A-Za-z0-9._-], not . or ..)")]
    BadTrackName(String),
    #[error("track {0} has no init segment yet")]
    NoInit(String),
    #[error("track {track} has no part {part}")]
    NoSuchPart { track: String, part: u32 },
    #[error("refusing an empty segment or init for track {0}")]
    Empty(String),
    #[error("init segment of {size} bytes exceeds the {max}-byte cap")]
    InitTooLarge { size: usize, max: usize },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SegmentStoreError + '_ {
    move |source| SegmentStoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Init segments are a few KB; anything this large is not one (they are kept in memory
/// to detect changes).
/// The capture's track names: fixed, so a quality change mid-broadcast becomes a new part of
/// the same track (a changed init) rather than a second video track.
pub const VIDEO: &str = "video";
pub const AUDIO: &str = "audio";

const MAX_INIT_BYTES: usize = 1024 * 1024;
const TMP_SUFFIX: &str = ".tmp";

/// One init segment and the segments recorded under it.
#[derive(Debug, Default)]
struct Part {
    init: Vec<u8>,
    segments: BTreeSet<u64>,
}

/// Told of each file the store has made durable (its path and size): how a live upload to
/// object storage learns of new segments. It must not block (it runs under the store's lock).
#[derive(Clone)]
pub struct SegmentHook(Arc<HookFn>);

type HookFn = dyn Fn(&Path, u64) + Send + Sync;

impl SegmentHook {
    pub fn new(f: impl Fn(&Path, u64) + Send + Sync + 'static) -> SegmentHook {
        SegmentHook(Arc::new(f))
    }
}

impl std::fmt::Debug for SegmentHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SegmentHook")
    }
}

/// The segments of one capture on disk, indexed in memory.
#[derive(Debug)]
pub struct SegmentStore {
    dir: PathBuf,
    tracks: HashMap<String, BTreeMap<u32, Part>>,
    hook: Option<SegmentHook>,
}

impl SegmentStore {
    /// Opens (creating if needed) a capture directory and indexes what it holds. Leftover
    /// temporary files of an interrupted write are removed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<SegmentStore, SegmentStoreError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let mut tracks = HashMap::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !entry.path().is_dir() || validate_track(&name).is_err() {
                continue;
            }
            let parts = scan_track(&entry.path())?;
            tracks.insert(name, parts);
        }
        Ok(SegmentStore {
            dir,
            tracks,
            hook: None,
        })
    }

    /// Calls `hook` for every init and segment file written from now on.
    pub fn set_hook(&mut self, hook: Option<SegmentHook>) {
        self.hook = hook;
    }

    fn stored(&self, path: &Path, len: usize) {
        if let Some(h) = &self.hook {
            (h.0)(path, len as u64);
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records the track's init segment. Identical bytes to the current part's init keep
    /// that part; different bytes start a new one. Returns the current part index.
    pub fn put_init(&mut self, track: &str, bytes: &[u8]) -> Result<u32, SegmentStoreError> {
        validate_track(track)?;
        if bytes.is_empty() {
            return Err(SegmentStoreError::Empty(track.to_string()));
        }
        if bytes.len() > MAX_INIT_BYTES {
            return Err(SegmentStoreError::InitTooLarge {
                size: bytes.len(),
                max: MAX_INIT_BYTES,
            });
        }
        let parts = self.tracks.entry(track.to_string()).or_default();
        if let Some((&n, p)) = parts.iter().next_back() {
            if p.init == bytes {
                return Ok(n);
            }
        }
        let n = parts.keys().next_back().map_or(0, |n| n + 1);
        let part_dir = self.dir.join(track).join(part_dir_name(n));
        fs::create_dir_all(&part_dir).map_err(io_err(&part_dir))?;
        // Make the new directories themselves durable before files appear in them.
        sync_dir(&self.dir)?;
        if let Some(parent) = part_dir.parent() {
            sync_dir(parent)?;
        }
        let init_path = part_dir.join("init.mp4");
        write_atomic(&init_path, bytes)?;
        parts.insert(
            n,
            Part {
                init: bytes.to_vec(),
                segments: BTreeSet::new(),
            },
        );
        self.stored(&init_path, bytes.len());
        Ok(n)
    }

    /// The current (latest) part of a track, if it has an init.
    pub fn current_part(&self, track: &str) -> Option<u32> {
        self.tracks.get(track)?.keys().next_back().copied()
    }

    /// Parts of a track in order.
    pub fn parts(&self, track: &str) -> Vec<u32> {
        self.tracks
            .get(track)
            .map(|p| p.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Whether any part of the track holds the segment starting at `t`.
    pub fn has(&self, track: &str, t: u64) -> bool {
        self.tracks
            .get(track)
            .is_some_and(|parts| parts.values().any(|p| p.segments.contains(&t)))
    }

    /// Stores a segment in the current part. Returns false (and writes nothing) if the
    /// segment is already held, so re-fetches after a restart are harmless.
    pub fn put(&mut self, track: &str, t: u64, bytes: &[u8]) -> Result<bool, SegmentStoreError> {
        let part = self
            .current_part(track)
            .ok_or_else(|| SegmentStoreError::NoInit(track.to_string()))?;
        self.put_in_part(track, part, t, bytes)
    }

    /// Stores a segment in a given part (e.g. a rewound segment of an earlier init).
    pub fn put_in_part(
        &mut self,
        track: &str,
        part: u32,
        t: u64,
        bytes: &[u8],
    ) -> Result<bool, SegmentStoreError> {
        validate_track(track)?;
        if bytes.is_empty() {
            return Err(SegmentStoreError::Empty(track.to_string()));
        }
        if self.has(track, t) {
            return Ok(false);
        }
        let p = self
            .tracks
            .get_mut(track)
            .and_then(|parts| parts.get_mut(&part))
            .ok_or_else(|| SegmentStoreError::NoSuchPart {
                track: track.to_string(),
                part,
            })?;
        let path = self
            .dir
            .join(track)
            .join(part_dir_name(part))
            .join(format!("{t}.m4s"));
        write_atomic(&path, bytes)?;
        p.segments.insert(t);
        self.stored(&path, bytes.len());
        Ok(true)
    }

    /// Path of the held segment starting at `t` (any part), for re-reading it.
    pub fn segment_path(&self, track: &str, t: u64) -> Option<PathBuf> {
        let parts = self.tracks.get(track)?;
        let (n, _) = parts.iter().find(|(_, p)| p.segments.contains(&t))?;
        Some(
            self.dir
                .join(track)
                .join(part_dir_name(*n))
                .join(format!("{t}.m4s")),
        )
    }

    /// Bytes of every held segment and init (one `stat` each), for a resumed capture's
    /// figures.
    pub fn held_bytes(&self) -> u64 {
        let mut total = 0u64;
        for (track, parts) in &self.tracks {
            for (n, p) in parts {
                let dir = self.dir.join(track).join(part_dir_name(*n));
                total += p.init.len() as u64;
                for t in &p.segments {
                    total += fs::metadata(dir.join(format!("{t}.m4s"))).map_or(0, |m| m.len());
                }
            }
        }
        total
    }

    /// Track names held, sorted.
    pub fn track_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.tracks.keys().cloned().collect();
        v.sort();
        v
    }

    /// All held `t` of a track (every part), ascending.
    pub fn list(&self, track: &str) -> Vec<u64> {
        let mut all: Vec<u64> = self
            .tracks
            .get(track)
            .map(|parts| {
                parts
                    .values()
                    .flat_map(|p| p.segments.iter().copied())
                    .collect()
            })
            .unwrap_or_default();
        all.sort_unstable();
        all
    }

    /// Held `t` of one part, ascending.
    pub fn list_part(&self, track: &str, part: u32) -> Vec<u64> {
        self.tracks
            .get(track)
            .and_then(|parts| parts.get(&part))
            .map(|p| p.segments.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Writes init + segments of one part in `t` order into `out_path` (atomically), a
    /// fragmented MP4 ffmpeg can read. Streams file by file; returns bytes written.
    pub fn assemble(
        &self,
        track: &str,
        part: u32,
        out_path: &Path,
    ) -> Result<u64, SegmentStoreError> {
        self.assemble_range(track, part, 0..=u64::MAX, out_path)
    }

    /// [`SegmentStore::assemble`] limited to segments with `t` in `range` (the audio that
    /// goes with one video part when only the video's init changed).
    pub fn assemble_range(
        &self,
        track: &str,
        part: u32,
        range: std::ops::RangeInclusive<u64>,
        out_path: &Path,
    ) -> Result<u64, SegmentStoreError> {
        let p = self
            .tracks
            .get(track)
            .and_then(|parts| parts.get(&part))
            .ok_or_else(|| SegmentStoreError::NoSuchPart {
                track: track.to_string(),
                part,
            })?;
        let part_dir = self.dir.join(track).join(part_dir_name(part));
        let tmp = tmp_path(out_path);
        let result = (|| {
            let file = File::create(&tmp).map_err(io_err(&tmp))?;
            let mut w = BufWriter::new(file);
            let mut total = 0u64;
            let init = part_dir.join("init.mp4");
            total += copy_into(&init, &mut w)?;
            for t in p.segments.range(range) {
                total += copy_into(&part_dir.join(format!("{t}.m4s")), &mut w)?;
            }
            let file = w.into_inner().map_err(|e| SegmentStoreError::Io {
                path: tmp.clone(),
                source: e.into_error(),
            })?;
            file.sync_all().map_err(io_err(&tmp))?;
            Ok(total)
        })();
        match result {
            Ok(total) => {
                fs::rename(&tmp, out_path).map_err(io_err(out_path))?;
                if let Some(parent) = out_path.parent() {
                    sync_dir(parent)?;
                }
                Ok(total)
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }
}

fn part_dir_name(n: u32) -> String {
    format!("part-{n}")
}

/// Track names become directory names; representation ids like `live-hd-v` or
/// `17997637042303599vd` pass, anything that could escape the directory does not.
fn validate_track(name: &str) -> Result<(), SegmentStoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(SegmentStoreError::BadTrackName(
            name.chars().take(80).collect(),
        ))
    }
}

fn scan_track(track_dir: &Path) -> Result<BTreeMap<u32, Part>, SegmentStoreError> {
    let mut parts = BTreeMap::new();
    for entry in fs::read_dir(track_dir).map_err(io_err(track_dir))? {
        let entry = entry.map_err(io_err(track_dir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(TMP_SUFFIX) {
            let _ = fs::remove_file(&path);
            continue;
        }
        let Some(n) = name
            .strip_prefix("part-")
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if !path.is_dir() {
            continue;
        }
        let init_path = path.join("init.mp4");
        let init = match fs::read(&init_path) {
            Ok(b) if !b.is_empty() && b.len() <= MAX_INIT_BYTES => b,
            // A crash between creating the part directory and renaming its init into
            // place leaves a part without init, which can hold no segments: skip it.
            _ => continue,
        };
        let mut segments = BTreeSet::new();
        for seg in fs::read_dir(&path).map_err(io_err(&path))? {
            let seg = seg.map_err(io_err(&path))?;
            let seg_name = seg.file_name().to_string_lossy().into_owned();
            if seg_name.ends_with(TMP_SUFFIX) {
                let _ = fs::remove_file(seg.path());
                continue;
            }
            if let Some(t) = seg_name
                .strip_suffix(".m4s")
                .and_then(|s| s.parse::<u64>().ok())
            {
                segments.insert(t);
            }
        }
        parts.insert(n, Part { init, segments });
    }
    Ok(parts)
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{}{TMP_SUFFIX}", std::process::id()));
    PathBuf::from(s)
}

/// Write to a temporary sibling, fsync, rename, fsync the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SegmentStoreError> {
    let tmp = tmp_path(path);
    let result = (|| {
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(bytes).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        fs::rename(&tmp, path).map_err(io_err(path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), SegmentStoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

fn copy_into(path: &Path, w: &mut impl Write) -> Result<u64, SegmentStoreError> {
    let mut f = File::open(path).map_err(io_err(path))?;
    io::copy(&mut f, w).map_err(io_err(path))
}
