//! Live DASH: manifests, fMP4 boxes, segment storage and the rewind walk (see issue 5).
//!
//! These are the pure building blocks of the native capture engine; HTTP and scheduling
//! live in the capture loop, which fetches segments itself because ffmpeg fed an
//! Instagram manifest stutters or crashes (reference §3, last bullet). The loop is meant
//! to: poll the MPD into a [`LiveManifest`] (a `<Period>`-less one means "ended"), pick
//! tracks with [`LiveManifest::select_video`] / [`LiveManifest::select_audio`], fetch and
//! [`SegmentStore::put_init`] each init segment, read its timescale with
//! [`mp4::parse_init`], store every new timeline `t` with [`SegmentStore::put`], run
//! [`rewind::run`] from `publishFrameTime` to the first live `t`, and finally
//! [`SegmentStore::assemble`] each track for ffmpeg to mux.
pub mod capture;
pub mod manifest;
pub mod mp4;
pub mod prescan;
pub mod rewind;
pub mod store;
pub mod template;
pub mod timeline;

pub use manifest::{Addressing, LiveManifest, ManifestError, Track, TrackKind};
pub use prescan::{Limits, MetaAttributes};
pub use store::{SegmentStore, StoreError};
