//! ffmpeg and ffprobe: the system binaries iglive muxes and verifies with. They are a documented
//! prerequisite (`scripts/ensure-ffmpeg`); iglive never downloads them.

pub mod ffmpeg_engine;
pub mod ffmpeg_run;
pub mod finalize;
pub mod probe;
pub mod tools;
