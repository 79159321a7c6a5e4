//! iglive: records Instagram Live broadcasts.
//!
//! The modules follow the pipeline: `instagram` (private-API client and session), `watch`
//! (detection), `recording` (one broadcast's supervisor and pollers), `dash` (manifests,
//! segments, rewind, fMP4 boxes), `media` (ffmpeg), `store` (SQLite), `output` (recording
//! folder artifacts), `daemon` (signals, systemd, recovery), `status`, `library` (the web app
//! and REST API over every recording), and `sim` (the
//! Instagram stand-in used by tests, benchmarks and `iglive demo`). `cli` holds the subcommands.
pub mod cli;
pub mod config;
pub mod daemon;
pub mod dash;
pub mod instagram;
pub mod library;
pub mod media;
pub mod notify;
pub mod output;
pub mod recording;
pub mod sim;
pub mod status;
pub mod store;
pub mod watch;
