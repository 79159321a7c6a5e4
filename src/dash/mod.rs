//! Live DASH: manifests, fMP4 boxes, segment storage and the rewind walk (see issue 5).
//!
//! These are the pure building blocks of the native capture engine; HTTP and scheduling
//! live in the capture loop, which fetches segments itself because ffmpeg fed an
//! Instagram manifest stutters or crashes (reference §3, last bullet).
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
