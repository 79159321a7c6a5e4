//! Recordings in S3-compatible object storage (`storage.object_store`): the bucket client
//! (`Bucket`, on the `object_store` crate), the upload of finished folders and of live
//! segments as they arrive (`Uploads`, one background worker with a byte-bounded spool), each
//! upload verified by size and ETag before a local copy is removed, and downloads for the
//! readers (`iglive export`, the library's media routes) once a folder lives only in the
//! bucket.
//!
//! Layer: above `store` (it writes `recordings.upload_state` through the writer), below
//! `instagram`; `recording` hands it finished folders and the capture's new segment files.

mod bucket;
mod credentials;
mod error;
mod etag;
mod spool;
mod transfer;
mod uploader;

pub use bucket::Bucket;
pub use error::ObjectsError;
pub use uploader::{UploadStats, Uploads};
