//! Live DASH: manifests, fMP4 boxes, segment storage, the rewind walk, and the native
//! capture engine that combines them (see issue 5).
//!
//! The engine fetches segments itself because ffmpeg fed an Instagram manifest stutters or
//! crashes (reference §3, last bullet). [`capture::run`] polls the MPD into a
//! [`LiveManifest`] (a `<Period>`-less one means "ended"), picks tracks with
//! [`LiveManifest::select_video`] / [`LiveManifest::select_audio`], fetches and
//! [`SegmentStore::put_init`] each init segment, reads its timescale with
//! [`mp4::parse_init`], stores every new timeline `t` with [`SegmentStore::put`] through
//! bounded requests ([`fetch`]), runs [`rewind::run`] from `publishFrameTime` to the first
//! live `t` (and over any stretch an outage hid), and keeps its books in [`ledger`].
//! `media::finalize` later [`SegmentStore::assemble`]s each track for ffmpeg to mux.
pub mod capture;
pub mod fetch;
pub mod ledger;
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
