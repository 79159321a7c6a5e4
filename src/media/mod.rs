//! ffmpeg and ffprobe: the system binaries iglive muxes and verifies with. They are a documented
//! prerequisite (`scripts/ensure-ffmpeg`); iglive never downloads them.

mod error;
pub(crate) mod ffmpeg_run;
pub(crate) mod finalize;
pub(crate) mod probe;
pub(crate) mod tools;

pub use error::ToolError;
pub use finalize::FFMPEG_PART_PREFIX;
