//! Live DASH: manifests, fMP4 boxes, segment storage and the rewind walk — the pieces the
//! native capture engine (`crate::capture`) combines.
//!
//! A polled MPD becomes a [`LiveManifest`] (a `<Period>`-less one means "ended"), whose tracks
//! are picked with [`LiveManifest::select_video`] / [`LiveManifest::select_audio`]; init and
//! media segments are fetched through bounded requests ([`fetch`]), read with [`mp4`] (the
//! init's timescale, each fragment's `tfdt`/`trun`) and kept in a crash-safe [`SegmentStore`];
//! [`rewind::run`] chains fragments from `publishFrameTime` to the first live `t`. Muxing later
//! [`SegmentStore::assemble`]s each track for ffmpeg (`crate::media`).

pub(crate) mod fetch;
mod manifest;
mod manifest_error;
pub mod mp4;
mod prescan;
pub mod rewind;
mod store;
mod template;
mod timeline;

pub use fetch::{cdn_client, cdn_client_via, FetchLimits};
pub use manifest::{Addressing, LiveManifest, Track, TrackKind};
pub use manifest_error::ManifestError;
pub use prescan::Limits;
pub use store::{SegmentHook, SegmentStore, SegmentStoreError, AUDIO, VIDEO};
